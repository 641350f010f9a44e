"""config-linux.md rules outside cgroups and netDevices: namespace paths,
device conflicts, Intel RDT without resctrl, memoryPolicy, personality,
rootfsPropagation, and the seccomp agent's container process state.
Each is checked from inside the container and from the host."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
from pathlib import Path

import pytest

from testlib import one_line_error, run_ocirt




def replace_namespace(bundle, kind: str, path: str) -> None:
    bundle.config["linux"]["namespaces"] = [
        n for n in bundle.config["linux"]["namespaces"] if n["type"] != kind] + [{"type": kind, "path": path}]


def start_detached(ocirt, bundle) -> tuple[str, int]:
    """create + start a container; returns (id, host pid of its process)."""
    bundle.write()
    cid = ocirt.new_id()
    r = run_ocirt("create", "--bundle", str(bundle.path), cid)
    assert r.returncode == 0, r
    pid = ocirt.state(cid)["pid"]
    assert run_ocirt("start", cid).returncode == 0
    return cid, pid


# --- namespaces ---------------------------------------------------------------
@pytest.fixture
def holder():
    """A process in new ipc and net namespaces, to point paths at."""
    proc = subprocess.Popen(["unshare", "--ipc", "--net", "sleep", "60"])
    yield proc
    proc.kill()
    proc.wait()


def test_relative_namespace_path_is_refused(ocirt, bundle):
    replace_namespace(bundle, "network", "proc/1/ns/net")
    err = one_line_error(ocirt.run(bundle))
    assert "linux.namespaces[" in err and ".path" in err and "absolute" in err


def test_namespace_of_another_type_is_refused(ocirt, bundle, holder):
    replace_namespace(bundle, "network", f"/proc/{holder.pid}/ns/ipc")
    err = one_line_error(ocirt.run(bundle))
    assert "is an ipc namespace, not a network namespace" in err


def test_non_namespace_file_is_refused(ocirt, bundle):
    replace_namespace(bundle, "network", "/etc/hostname")
    err = one_line_error(ocirt.run(bundle))
    assert "/etc/hostname is not a namespace file" in err


def test_namespace_of_the_right_type_is_joined(ocirt, bundle, holder):
    replace_namespace(bundle, "network", f"/proc/{holder.pid}/ns/net")
    r = ocirt.run(bundle.sh("readlink /proc/self/ns/net"))
    assert r.returncode == 0, r
    assert r.stdout.strip() == os.readlink(f"/proc/{holder.pid}/ns/net")


# --- devices ------------------------------------------------------------------
def test_matching_device_already_in_rootfs_is_accepted(ocirt, bundle):
    os.mknod(bundle.rootfs / "dev" / "zero", 0o20666, os.makedev(1, 5))
    bundle.config["linux"]["devices"] = [{"path": "/dev/zero", "type": "c", "major": 1, "minor": 5}]
    r = ocirt.run(bundle.sh("stat -c '%t:%T' /dev/zero"))
    assert r.returncode == 0 and r.stdout.strip() == "1:5", r


def test_other_file_at_device_path_is_refused(ocirt, bundle):
    victim = bundle.rootfs / "etc" / "data"
    victim.write_text("keep me")
    bundle.config["linux"]["devices"] = [{"path": "/etc/data", "type": "c", "major": 1, "minor": 3}]
    r = ocirt.run(bundle)
    assert victim.read_text() == "keep me"
    err = one_line_error(r)
    assert "linux.devices" in err and "/etc/data" in err


# --- Intel RDT ----------------------------------------------------------------
def resctrl_mounted() -> bool:
    with open("/proc/self/mountinfo") as f:
        return any(line.split(" - ", 1)[-1].startswith("resctrl ") for line in f)


@pytest.mark.parametrize("rdt", [{}, {"closID": "guaranteed_group", "schemata": ["L3:0=7f0"]}])
def test_intel_rdt_without_resctrl_is_an_error(ocirt, bundle, rdt):
    if resctrl_mounted():
        pytest.skip("this host has resctrl mounted")
    bundle.config["linux"]["intelRdt"] = rdt
    err = one_line_error(ocirt.run(bundle))
    assert "linux.intelRdt" in err and "no resctrl filesystem is mounted" in err
    assert not os.path.exists("/sys/fs/resctrl/guaranteed_group")


# --- memory policy ------------------------------------------------------------
@pytest.mark.parametrize("policy,shown", [
    ({"mode": "MPOL_BIND", "nodes": "0"}, "bind:0"),
    ({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]}, "bind=static:0"),
    ({"mode": "MPOL_INTERLEAVE", "nodes": "0"}, "interleave:0"),
    ({"mode": "MPOL_PREFERRED", "nodes": "0"}, "prefer:0"),
    ({"mode": "MPOL_LOCAL"}, "local"),
    ({"mode": "MPOL_DEFAULT"}, "default"),
])
def test_memory_policy_inside(ocirt, bundle, policy, shown):
    """numa_maps shows the task policy for mappings without one of their own."""
    bundle.config["linux"]["memoryPolicy"] = policy
    r = ocirt.run(bundle.sh("head -n 1 /proc/self/numa_maps"))
    assert r.returncode == 0, r
    assert r.stdout.split()[1] == shown, r


def test_memory_policy_seen_from_host(ocirt, bundle):
    bundle.config["linux"]["memoryPolicy"] = {"mode": "MPOL_INTERLEAVE", "nodes": "0"}
    cid, pid = start_detached(ocirt, bundle.args("sleep", "30"))
    with open(f"/proc/{pid}/numa_maps") as f:
        assert f.readline().split()[1] == "interleave:0"
    with open("/proc/self/numa_maps") as f:  # the runtime's own policy is untouched
        assert f.readline().split()[1] == "default"
    assert run_ocirt("delete", "--force", cid).returncode == 0


@pytest.mark.parametrize("policy,where", [
    ({"nodes": "0"}, "linux.memoryPolicy.mode"),
    ({"mode": "MPOL_BIND"}, "linux.memoryPolicy.nodes"),
    ({"mode": "MPOL_LOCAL", "nodes": "0"}, "linux.memoryPolicy.nodes"),
    ({"mode": "MPOL_BIND", "nodes": "3-1"}, "linux.memoryPolicy.nodes"),
    ({"mode": "MPOL_BIND", "nodes": "x"}, "linux.memoryPolicy.nodes"),
])
def test_invalid_memory_policy_is_a_config_error(ocirt, bundle, policy, where):
    bundle.config["linux"]["memoryPolicy"] = policy
    err = one_line_error(ocirt.run(bundle))
    assert where in err and "config.json" in err


def test_memory_policy_on_an_absent_node_fails(ocirt, bundle):
    nodes = os.listdir("/sys/devices/system/node")
    missing = max(int(n[4:]) for n in nodes if n.startswith("node") and n[4:].isdigit()) + 1
    bundle.config["linux"]["memoryPolicy"] = {"mode": "MPOL_BIND", "nodes": str(missing)}
    err = one_line_error(ocirt.run(bundle))
    assert "linux.memoryPolicy" in err and "set_mempolicy" in err


# --- personality --------------------------------------------------------------
def test_personality_linux_keeps_the_machine(ocirt, bundle):
    bundle.config["linux"]["personality"] = {"domain": "LINUX"}
    r = ocirt.run(bundle.sh("uname -m"))
    assert r.returncode == 0 and r.stdout.strip() == os.uname().machine, r


def test_personality_unknown_domain_is_refused(ocirt, bundle):
    bundle.config["linux"]["personality"] = {"domain": "LINUX64"}
    err = one_line_error(ocirt.run(bundle))
    assert "linux.personality.domain" in err


def test_personality_flags_are_ignored_with_a_warning(ocirt, bundle):
    bundle.config["linux"]["personality"] = {"domain": "LINUX32", "flags": ["ADDR_NO_RANDOMIZE"]}
    r = ocirt.run(bundle.sh("uname -m; cat /proc/sys/kernel/randomize_va_space"))
    assert r.returncode == 0, r
    assert r.stdout.split()[0] in ("i686", "i386")
    assert "linux.personality.flags" in r.stderr and "ADDR_NO_RANDOMIZE" in r.stderr


# --- rootfsPropagation --------------------------------------------------------
def root_line(mountinfo: str) -> str:
    return next(line for line in mountinfo.splitlines() if line.split()[4] == "/")


@pytest.mark.parametrize("propagation,tag", [("shared", "shared:"), ("unbindable", "unbindable")])
def test_rootfs_propagation_tag(ocirt, bundle, propagation, tag):
    bundle.config["linux"]["rootfsPropagation"] = propagation
    r = ocirt.run(bundle.sh("cat /proc/self/mountinfo"))
    assert r.returncode == 0, r
    assert tag in root_line(r.stdout).split(" - ")[0]


@pytest.fixture
def shared_rootfs(bundle):
    """The bundle's rootfs as a shared mount on the host (its / is private here)."""
    root = str(bundle.rootfs)
    subprocess.run(["mount", "--bind", root, root], check=True)
    subprocess.run(["mount", "--make-shared", root], check=True)
    yield Path(root)
    for target in (root + "/mnt", root):
        subprocess.run(["umount", "-l", target], capture_output=True)


@pytest.mark.parametrize("propagation,host_to_ct", [("slave", True), ("private", False)])
def test_rootfs_propagation_events(ocirt, bundle, shared_rootfs, propagation, host_to_ct):
    """slave: a host mount below the rootfs shows up inside, never the reverse;
    private: nothing crosses."""
    bundle.config["linux"]["rootfsPropagation"] = propagation
    cid, pid = start_detached(ocirt, bundle.args("sleep", "30"))
    inside = Path(f"/proc/{pid}/mountinfo")
    assert ("master:" in root_line(inside.read_text())) == host_to_ct
    subprocess.run(["mount", "-t", "tmpfs", "ocirt-prop", str(shared_rootfs / "mnt")], check=True)
    assert (" /mnt " in inside.read_text()) == host_to_ct
    subprocess.run(["nsenter", "-t", str(pid), "-m", "/bin/mount", "-t", "tmpfs", "ocirt-in", "/tmp"],
                   check=True)
    assert f" {shared_rootfs}/tmp " not in Path("/proc/self/mountinfo").read_text()
    assert run_ocirt("delete", "--force", cid).returncode == 0


# --- seccomp: the container process state sent to the agent -------------------
def test_seccomp_agent_gets_state_json_and_fd_in_first_message(ocirt, bundle, tmp_path):
    import jsonschema

    sock_path = str(tmp_path / "agent.sock")
    bundle.config["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW", "listenerPath": sock_path, "listenerMetadata": "md",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]}
    seen: dict = {"messages": []}

    def agent(server: socket.socket) -> None:
        conn, _ = server.accept()
        with conn:
            while True:
                data, fds, _flags, _addr = socket.recv_fds(conn, 65536, 4)
                if not data and not fds:
                    break
                seen["messages"].append((data, fds))
        for _data, fds in seen["messages"]:
            for fd in fds:
                seen.setdefault("targets", []).append(os.readlink(f"/proc/self/fd/{fd}"))
                os.close(fd)  # unanswered: the notified mkdir fails with ENOSYS

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(sock_path)
        server.listen(1)
        server.settimeout(30)
        thread = threading.Thread(target=agent, args=(server,), daemon=True)
        thread.start()
        r = ocirt.run(bundle.sh("mkdir /tmp/x; true"))
        thread.join(30)
    assert r.returncode == 0, r
    messages = seen["messages"]
    assert messages and len(messages[0][1]) == 1 and all(not fds for _d, fds in messages[1:])
    assert seen["targets"] == ["anon_inode:seccomp notify"]
    doc = json.loads(b"".join(d for d, _fds in messages))
    assert doc["fds"] == ["seccompFd"] and doc["metadata"] == "md" and doc["ociVersion"]
    assert isinstance(doc["pid"], int) and doc["pid"] == doc["state"]["pid"]
    schema = json.loads((Path(__file__).parent.parent / "schema" / "state-schema.json").read_text())
    jsonschema.validate(doc["state"], schema)
    assert doc["state"]["bundle"] == str(bundle.path)
