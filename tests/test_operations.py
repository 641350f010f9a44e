"""The operations of runtime.md (and the /dev links of runtime-linux.md)
through the CLI: every operation needs an id, create needs a bundle, the
state document follows the spec's schema, start/kill/delete refuse the wrong
state and then change nothing, config.json is read once, a failing hook
stops the container, delete undoes create but keeps what the container did
not create.  Each test looks inside the container and at the host."""
from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import jsonschema
import pytest

from testlib import ROOT_DIR, STATE_ROOT, one_line_error, run_ocirt, wait_status

NAMESPACES = ("mnt", "net", "ipc", "uts", "pid", "cgroup")
SEMVER = re.compile(r"^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")


# --- helpers -----------------------------------------------------------------

def create(ocirt, bundle, **kw) -> str:
    cid = ocirt.new_id()
    bundle.write()
    r = ocirt("create", "-b", str(bundle.path), cid, **kw)
    assert r.returncode == 0, r
    return cid




def alive(pid: int) -> bool:
    """True while pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_dead(pid: int, timeout: float = 5) -> bool:
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not alive(pid)


def start_time(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[19]


def host_mounts(*needles: str) -> list[str]:
    """Host mountinfo lines naming any of the needles (other tests may mount
    things at the same time, so only the lines that concern us count)."""
    with open("/proc/self/mountinfo") as f:
        return sorted(line for line in f if any(n in line for n in needles))


def cgroup_dirs(pid: int) -> list[str]:
    """The host directories of every cgroup the process is in."""
    dirs = []
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, names, path = line.rstrip("\n").split(":", 2)
            hierarchy = names.split(",")[0].removeprefix("name=") if names else "unified"
            base = f"/sys/fs/cgroup/{hierarchy}"
            dirs.append((base if os.path.isdir(base) else "/sys/fs/cgroup") + path)
    return dirs


def ns_inodes(pid: int) -> dict[str, str]:
    return {ns: os.readlink(f"/proc/{pid}/ns/{ns}") for ns in NAMESPACES}


def processes_in(inodes: set[str]) -> list[str]:
    """Host processes that live in any of these namespaces.  The caller holds
    the namespaces open: a freed namespace's inode number is soon reused."""
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        for ns in NAMESPACES:
            try:
                if os.readlink(f"/proc/{entry}/ns/{ns}") in inodes and alive(int(entry)):
                    cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                    found.append(f"{entry} ({ns}): {cmd}")
                    break
            except OSError:
                break
    return found


def snapshot(ocirt, cid: str, bundle) -> dict:
    """What a failed operation must leave exactly as it was."""
    st = ocirt.state(cid)
    pid = st["pid"]
    return {"state": st, "alive": alive(pid), "started": start_time(pid), "ns": ns_inodes(pid),
            "cgroups": cgroup_dirs(pid), "mounts": host_mounts(str(bundle.path)),
            "inside": sorted(os.listdir(bundle.rootfs / "tmp"))}




def state_root_entries() -> set[str]:
    return set(os.listdir(STATE_ROOT)) if os.path.isdir(STATE_ROOT) else set()


# --- every operation needs its arguments -------------------------------------

@pytest.mark.parametrize("op", ["state", "start", "kill", "delete", "create"])
def test_operation_without_a_container_id_is_an_error(ocirt, bundle, op):
    before = state_root_entries()
    extra = ("-b", str(bundle.path)) if op == "create" else ()
    r = ocirt(op, *extra)
    one_line_error(r, "missing container id")
    assert state_root_entries() == before


def test_create_without_a_bundle_is_an_error(ocirt, tmp_path):
    """No bundle at the given path, or none in the working directory (the CLI's
    default bundle, as in runc): an error, and no container."""
    empty = tmp_path / "empty"
    empty.mkdir()
    cid = ocirt.new_id()
    one_line_error(ocirt("create", "-b", str(empty), cid), "config.json", "no such file")
    one_line_error(ocirt("create", cid, cwd=str(empty)), "config.json", "no such file")
    assert not os.path.exists(os.path.join(STATE_ROOT, cid))
    one_line_error(ocirt("state", cid), "does not exist")


def test_create_takes_the_bundle_from_the_working_directory(ocirt, bundle):
    cid = ocirt.new_id()
    assert ocirt("create", cid, cwd=str(bundle.path)).returncode == 0
    assert ocirt.state(cid)["bundle"] == str(bundle.path)
    assert ocirt("delete", cid).returncode == 0


def test_container_without_process_is_refused(ocirt, bundle):
    """start MUST fail when process was not set: ocirt (like runc and crun)
    refuses such a config already at create, so there is nothing to start."""
    del bundle.config["process"]
    bundle.write()
    cid = ocirt.new_id()
    one_line_error(ocirt("create", "-b", str(bundle.path), cid), "process", "missing")
    assert not os.path.exists(os.path.join(STATE_ROOT, cid))
    one_line_error(ocirt("start", cid), "does not exist")


# --- the state document ------------------------------------------------------

def spec_state_validators() -> list[jsonschema.protocols.Validator]:
    """ocirt's state schema (kept equal to the spec's by
    tests/unit/test_schema.py), plus the spec's own when OCI_SPEC_DIR is set."""
    ours = json.loads((ROOT_DIR / "schema" / "state-schema.json").read_text())
    validators = [jsonschema.validators.validator_for(ours)(ours)]
    spec_dir = os.environ.get("OCI_SPEC_DIR")
    if spec_dir and (Path(spec_dir) / "schema" / "state-schema.json").is_file():
        import referencing
        from referencing.jsonschema import DRAFT4

        base = "file:///runtime-spec/schema/"
        resources = []
        for name in ("state-schema.json", "defs.json"):
            doc = json.loads((Path(spec_dir) / "schema" / name).read_text())
            doc.pop("$schema", None)
            resources.append((base + name, referencing.Resource.from_contents(doc, default_specification=DRAFT4)))
        registry = referencing.Registry().with_resources(resources)
        validators.append(jsonschema.Draft4Validator({"$ref": base + "state-schema.json"}, registry=registry))
    return validators


def check_state(st: dict, cid: str, bundle, status: str) -> None:
    """One state document against runtime.md's State section."""
    for validator in spec_state_validators():
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(st)]
        assert errors == [], st
    assert SEMVER.match(st["ociVersion"]) and st["ociVersion"].startswith("1."), st
    assert st["id"] == cid and st["status"] == status
    assert os.path.isabs(st["bundle"]) and st["bundle"] == str(bundle.path)
    assert st["annotations"] == bundle.config["annotations"]
    if status in ("created", "running"):  # REQUIRED on Linux: the host pid of the container process
        assert isinstance(st["pid"], int) and alive(st["pid"])
        assert os.path.samefile(f"/proc/{st['pid']}/root/bin/busybox", bundle.rootfs / "bin" / "busybox")


def test_state_document_follows_the_state_schema(ocirt, bundle):
    bundle.config["annotations"] = {"com.example.owner": "tests", "com.example.empty": ""}
    bundle.args("sleep", "60")
    cid = create(ocirt, bundle)
    check_state(ocirt.state(cid), cid, bundle, "created")
    assert ocirt("start", cid).returncode == 0
    check_state(ocirt.state(cid), cid, bundle, "running")
    assert ocirt("kill", cid, "KILL").returncode == 0
    check_state(wait_status(ocirt, cid, "stopped"), cid, bundle, "stopped")
    assert ocirt("delete", cid).returncode == 0


def test_state_oci_version_is_a_recognised_spec_version(ocirt, bundle):
    features = json.loads(run_ocirt("features").stdout)
    cid = create(ocirt, bundle)
    version = ocirt.state(cid)["ociVersion"]
    assert SEMVER.match(version)
    as_tuple = [tuple(int(x) for x in v.split("-")[0].split(".")) for v in
                (features["ociVersionMin"], version, features["ociVersionMax"])]
    assert as_tuple == sorted(as_tuple), (features, version)
    assert ocirt("delete", cid).returncode == 0


def test_state_bundle_is_absolute_for_a_relative_bundle(ocirt, bundle):
    cid = ocirt.new_id()
    r = ocirt("create", "-b", bundle.path.name, cid, cwd=str(bundle.path.parent))
    assert r.returncode == 0, r
    st = ocirt.state(cid)
    assert os.path.isabs(st["bundle"]) and st["bundle"] == str(bundle.path)
    assert ocirt("delete", cid).returncode == 0


# --- scope: the creator can run every operation on its container -------------

def test_every_operation_reaches_the_container_it_created(ocirt, bundle, tmp_path):
    """Created from one directory with a relative bundle, then driven by id
    alone from another, by separate processes: each operation acts on it."""
    bundle.sh("echo up > /tmp/up; exec sleep 60")
    cid = ocirt.new_id()
    assert ocirt("create", "-b", bundle.path.name, cid, cwd=str(bundle.path.parent)).returncode == 0
    elsewhere = {"cwd": str(tmp_path / "elsewhere")}
    os.mkdir(elsewhere["cwd"])
    st = json.loads(ocirt("state", cid, **elsewhere).stdout)
    assert st["status"] == "created" and not (bundle.rootfs / "tmp" / "up").exists()
    assert ocirt("start", cid, **elsewhere).returncode == 0
    assert json.loads(ocirt("state", cid, **elsewhere).stdout)["status"] == "running"
    assert (bundle.rootfs / "tmp" / "up").read_text() == "up\n"
    assert ocirt("kill", cid, "KILL", **elsewhere).returncode == 0
    assert wait_dead(st["pid"])
    assert wait_status(ocirt, cid, "stopped")["status"] == "stopped"
    assert ocirt("delete", cid, **elsewhere).returncode == 0
    assert not os.path.exists(os.path.join(STATE_ROOT, cid))


# --- config.json is read once, at create -------------------------------------

def test_config_changes_after_create_have_no_effect(ocirt, bundle, tmp_path):
    bundle.config["hostname"] = "before"
    bundle.config["process"]["env"].append("WHEN=before")
    bundle.sh('echo "$WHEN $(hostname)" > /tmp/out')
    cid = create(ocirt, bundle)
    marker = tmp_path / "hook-ran"
    changed = bundle.config
    changed["hostname"] = "after"
    changed["process"]["env"][-1] = "WHEN=after"
    changed["process"]["args"] = ["sh", "-c", "echo changed > /tmp/out"]
    changed["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"})
    touch = {"path": "/bin/sh", "args": ["sh", "-c", f"echo $0 >> {marker}"]}
    changed["hooks"] = {stage: [touch] for stage in ("startContainer", "poststart", "poststop")}
    bundle.write()
    assert ocirt("start", cid).returncode == 0
    assert wait_status(ocirt, cid, "stopped")["status"] == "stopped"
    assert (bundle.rootfs / "tmp" / "out").read_text() == "before before\n"
    assert ocirt("delete", cid).returncode == 0
    assert not marker.exists()


def test_removing_config_json_after_create_changes_nothing(ocirt, bundle):
    bundle.sh("echo ran > /tmp/out")
    cid = create(ocirt, bundle)
    (bundle.path / "config.json").unlink()
    assert ocirt("start", cid).returncode == 0
    assert wait_status(ocirt, cid, "stopped")["status"] == "stopped"
    assert (bundle.rootfs / "tmp" / "out").read_text() == "ran\n"
    assert ocirt("delete", cid).returncode == 0


# --- create applies the config (all but process) before start ---------------

def nsenter(pid: int, flag: str, *argv: str) -> str:
    return subprocess.run(["nsenter", "-t", str(pid), flag, *argv], capture_output=True, text=True,
                          check=True).stdout.strip()


def test_create_applies_the_config_before_start(ocirt, bundle):
    """Seen from the host while the container is only created: namespaces,
    hostname, sysctl, mounts, masked and read-only paths, cgroup limits and
    annotations are in place; the program has not run."""
    bundle.config["hostname"] = "applied"
    bundle.config["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
    bundle.config["linux"]["resources"]["pids"] = {"limit": 42}
    bundle.config["mounts"].append({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
                                    "options": ["nosuid", "size=1m"]})
    bundle.config["linux"]["maskedPaths"] = ["/proc/keys"]
    bundle.config["linux"]["readonlyPaths"] = ["/proc/sys"]
    bundle.config["annotations"] = {"com.example.applied": "yes"}
    bundle.sh("echo ran > /tmp/out")
    cid = create(ocirt, bundle)
    st = ocirt.state(cid)
    pid = st["pid"]
    host = ns_inodes(os.getpid())
    inside = ns_inodes(pid)
    assert all(inside[ns] != host[ns] for ns in NAMESPACES), (inside, host)
    assert nsenter(pid, "-u", "hostname") == "applied"
    assert nsenter(pid, "-n", "cat", "/proc/sys/net/ipv4/ip_forward") == "1"
    mounts = {line.split()[4]: line for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines()}
    assert "size=1024k" in mounts["/scratch"] and "nosuid" in mounts["/scratch"].split()[5]
    assert "/proc/keys" in mounts
    assert mounts["/proc/sys"].split()[5].startswith("ro")
    pids_max = next(Path(d, "pids.max") for d in cgroup_dirs(pid) if Path(d, "pids.max").exists())
    assert pids_max.read_text().strip() == "42"
    assert st["annotations"] == {"com.example.applied": "yes"}
    assert not (bundle.rootfs / "tmp" / "out").exists()
    assert ocirt("delete", cid).returncode == 0


# --- start: only a created container -----------------------------------------

def test_start_refuses_a_running_container_and_changes_nothing(ocirt, bundle):
    bundle.sh("echo started >> /tmp/runs; exec sleep 60")
    cid = create(ocirt, bundle)
    assert ocirt("start", cid).returncode == 0
    before = snapshot(ocirt, cid, bundle)
    one_line_error(ocirt("start", cid), "running")
    assert snapshot(ocirt, cid, bundle) == before
    assert (bundle.rootfs / "tmp" / "runs").read_text() == "started\n"
    assert ocirt("delete", "-f", cid).returncode == 0


def test_start_refuses_a_stopped_container(ocirt, bundle):
    bundle.sh("echo started >> /tmp/runs")
    cid = ocirt.new_id()
    assert ocirt("run", "--keep", "-b", str(bundle.path), cid).returncode == 0
    before = ocirt.state(cid)
    one_line_error(ocirt("start", cid), "stopped")
    assert ocirt.state(cid) == before and before["status"] == "stopped"
    assert (bundle.rootfs / "tmp" / "runs").read_text() == "started\n"
    assert ocirt("delete", cid).returncode == 0


# --- errors leave everything as it was ----------------------------------------

FAILING = {
    "start a running container": (("start", "{cid}"), "running"),
    "delete a running container": (("delete", "{cid}"), "not stopped"),
    "kill with an unknown signal": (("kill", "{cid}", "SIGBOGUS"), "signal"),
    "create an id in use": (("create", "-b", "{bundle}", "{cid}"), "already exists"),
}


@pytest.mark.parametrize("case", list(FAILING))
def test_failed_operation_leaves_the_container_as_it_was(ocirt, bundle, case):
    argv, words = FAILING[case]
    bundle.sh("exec sleep 60")
    cid = create(ocirt, bundle)
    assert ocirt("start", cid).returncode == 0
    before = snapshot(ocirt, cid, bundle)
    r = ocirt(*(a.format(cid=cid, bundle=bundle.path) for a in argv))
    one_line_error(r, words)
    assert snapshot(ocirt, cid, bundle) == before
    assert ocirt("delete", "-f", cid).returncode == 0


# --- delete -----------------------------------------------------------------

def test_delete_of_a_created_container_is_kill_then_delete(ocirt, bundle, tmp_path):
    """runc's delete of a created container: the waiting init is killed (the
    program never runs), then the stopped container is deleted and its
    poststop hooks run."""
    marker = tmp_path / "poststop"
    bundle.config["hooks"] = {"poststop": [{"path": "/bin/sh", "args": ["sh", "-c", f"cat > {marker}"]}]}
    bundle.sh("echo ran > /tmp/out")
    cid = create(ocirt, bundle)
    pid = ocirt.state(cid)["pid"]
    assert ocirt("delete", cid).returncode == 0
    assert wait_dead(pid)
    assert not (bundle.rootfs / "tmp" / "out").exists()
    assert json.loads(marker.read_text())["status"] == "stopped"
    assert not os.path.exists(os.path.join(STATE_ROOT, cid))


@pytest.mark.parametrize("stage", ["created", "stopped"])
def test_delete_undoes_everything_create_set_up(ocirt, bundle, tmp_path, stage):
    """No process, namespace, cgroup, mount or state is left on the host."""
    src = tmp_path / "shared"
    src.mkdir()
    bundle.config["mounts"] += [
        {"destination": "/scratch", "type": "tmpfs", "source": "tmpfs"},
        {"destination": "/shared", "type": "bind", "source": str(src), "options": ["rbind"]}]
    bundle.config["linux"]["resources"]["pids"] = {"limit": 50}
    bundle.sh("sleep 60 & exec sleep 60")
    mounts_before = host_mounts(str(bundle.path), str(src))
    cid = create(ocirt, bundle)
    pid = ocirt.state(cid)["pid"]
    inodes = set(ns_inodes(pid).values())
    held = [os.open(f"/proc/{pid}/ns/{ns}", os.O_RDONLY) for ns in NAMESPACES]
    try:
        cgroups = cgroup_dirs(pid)
        assert all(os.path.isdir(d) for d in cgroups)
        if stage == "stopped":
            assert ocirt("start", cid).returncode == 0
            assert ocirt("kill", cid, "KILL").returncode == 0
            wait_status(ocirt, cid, "stopped")
        assert ocirt("delete", cid).returncode == 0
        assert wait_dead(pid)
        assert processes_in(inodes) == []
        numbers = [i[i.index("[") + 1:-1] for i in inodes]
        assert [line for line in host_mounts("nsfs") if any(n in line for n in numbers)] == []
    finally:
        for fd in held:
            os.close(fd)
    assert [d for d in cgroups if os.path.exists(d)] == []
    assert host_mounts(str(bundle.path), str(src)) == mounts_before
    assert not os.path.exists(os.path.join(STATE_ROOT, cid))


@pytest.fixture
def premade_cgroup():
    """make(path) creates the cgroup path in every mounted hierarchy (cpu and
    cpuacct share one) as a cgroup manager would before create; whatever is
    left is removed afterwards."""
    made: list[str] = []

    def make(path: str) -> list[str]:
        roots = [os.path.join("/sys/fs/cgroup", e) for e in sorted(os.listdir("/sys/fs/cgroup"))]
        roots = [r for r in roots if not os.path.islink(r) and os.path.ismount(r)] or ["/sys/fs/cgroup"]
        dirs = [os.path.join(root, path) for root in roots]
        for d in dirs:
            os.makedirs(d)
            made.append(d)
            for knob in ("cpuset.cpus", "cpuset.mems"):  # a v1 cpuset takes no tasks until these are set
                parent = Path(os.path.dirname(d), knob)
                if parent.exists() and Path(d, knob).exists() and not Path(d, knob).read_text().strip():
                    Path(d, knob).write_text(parent.read_text())
        return dirs

    yield make
    for d in sorted(made, key=len, reverse=True):
        if os.path.isdir(d):
            os.rmdir(d)


def holding_netns() -> subprocess.Popen:
    """A host process in a network namespace of its own."""
    holder = subprocess.Popen(["unshare", "--net", "sleep", "60"])
    deadline = time.monotonic() + 5
    while os.readlink(f"/proc/{holder.pid}/ns/net") == os.readlink("/proc/self/ns/net"):
        assert time.monotonic() < deadline, "unshare did not make a network namespace"
        time.sleep(0.02)
    return holder


def test_delete_keeps_what_the_container_did_not_create(ocirt, bundle, tmp_path, premade_cgroup):
    """A joined namespace, a bind-mount source, the bundle and a parent cgroup
    that existed before create all survive delete."""
    cid = ocirt.new_id()
    parents = premade_cgroup(f"ocirt-test-keep-{cid}")
    holder = holding_netns()
    try:
        netns = os.readlink(f"/proc/{holder.pid}/ns/net")
        src = tmp_path / "keep"
        src.mkdir()
        (src / "file").write_text("kept\n")
        bundle.config["linux"]["namespaces"] = [n for n in bundle.config["linux"]["namespaces"]
                                                if n["type"] != "network"]
        bundle.config["linux"]["namespaces"].append({"type": "network", "path": f"/proc/{holder.pid}/ns/net"})
        bundle.config["mounts"].append({"destination": "/keep", "type": "bind", "source": str(src),
                                        "options": ["rbind"]})
        bundle.config["linux"]["cgroupsPath"] = f"/ocirt-test-keep-{cid}/{cid}"
        bundle.sh("readlink /proc/self/ns/net > /tmp/net; cat /keep/file > /tmp/seen")
        assert ocirt("run", "-b", str(bundle.path), cid).returncode == 0
        assert (bundle.rootfs / "tmp" / "net").read_text().strip() == netns
        assert (bundle.rootfs / "tmp" / "seen").read_text() == "kept\n"
        assert alive(holder.pid) and os.readlink(f"/proc/{holder.pid}/ns/net") == netns
        assert (src / "file").read_text() == "kept\n"
        assert (bundle.path / "config.json").is_file() and (bundle.rootfs / "bin" / "busybox").is_file()
        assert [d for d in parents if not os.path.isdir(d)] == []
        assert [d for d in parents if os.path.exists(os.path.join(d, cid))] == []
    finally:
        holder.kill()
        holder.wait()


def test_delete_keeps_the_existing_cgroup_it_was_given(ocirt, bundle, premade_cgroup):
    """runtime.md: delete MUST NOT delete what create did not make.  A cgroup
    linux.cgroupsPath names that already existed (empty: create refuses a
    busy one) is used and left in place, emptied (runc 1.1.5 removes it)."""
    cid = ocirt.new_id()
    leaves = premade_cgroup(f"ocirt-test-leaf-{cid}")
    bundle.config["linux"]["cgroupsPath"] = f"/ocirt-test-leaf-{cid}"
    bundle.write()
    assert ocirt("create", "-b", str(bundle.path), cid).returncode == 0
    pid = ocirt.state(cid)["pid"]
    assert set(cgroup_dirs(pid)) & set(leaves)
    assert ocirt("delete", cid).returncode == 0
    assert wait_dead(pid)
    assert [d for d in leaves if not os.path.isdir(d)] == []
    assert [d for d in leaves if Path(d, "cgroup.procs").read_text().strip()] == []


# --- hooks that fail after create ---------------------------------------------

def test_failing_start_container_hook_stops_the_container(ocirt, bundle, tmp_path):
    """start fails and names the hook, the program never runs, the container
    is stopped; delete then destroys it and runs poststop (runc keeps the
    stopped container for delete too)."""
    marker = tmp_path / "poststop"
    bundle.config["hooks"] = {
        "startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "echo hook-said-no >&2; exit 3"]}],
        "poststop": [{"path": "/bin/sh", "args": ["sh", "-c", f"cat > {marker}"]}]}
    bundle.sh("echo ran > /tmp/out")
    cid = create(ocirt, bundle)
    pid = ocirt.state(cid)["pid"]
    cgroups = cgroup_dirs(pid)
    one_line_error(ocirt("start", cid), "hooks.startContainer[0]")
    assert wait_dead(pid)
    # step 12 at once: destroyed (cgroup gone, poststop run), state kept as stopped
    assert [d for d in cgroups if os.path.isdir(d)] == []
    assert json.loads(marker.read_text())["id"] == cid
    assert wait_status(ocirt, cid, "stopped")["status"] == "stopped"
    assert not (bundle.rootfs / "tmp" / "out").exists()
    marker.unlink()
    assert ocirt("delete", cid).returncode == 0
    assert not marker.exists(), "poststop ran twice"
    assert not os.path.exists(os.path.join(STATE_ROOT, cid))


def test_failing_poststart_hook_fails_start_and_stops_the_container(ocirt, bundle, tmp_path):
    marker = tmp_path / "poststop"
    bundle.config["hooks"] = {
        "poststart": [{"path": "/bin/sh", "args": ["sh", "-c", "echo hook-said-no >&2; exit 3"]}],
        "poststop": [{"path": "/bin/sh", "args": ["sh", "-c", f"cat > {marker}"]}]}
    bundle.args("sleep", "60")
    cid = create(ocirt, bundle)
    pid = ocirt.state(cid)["pid"]
    r = ocirt("start", cid)
    try:
        one_line_error(r, "hooks.poststart[0]", "hook-said-no")
        assert wait_dead(pid)
        assert marker.exists(), "poststop did not run after the failed start"
        assert wait_status(ocirt, cid, "stopped")["status"] == "stopped"
    finally:
        assert ocirt("delete", cid).returncode == 0


# --- runtime-linux.md: /dev symbolic links --------------------------------------

def test_dev_symlinks_point_into_proc_self_fd(ocirt, bundle):
    """Made after the mounts (/dev is a fresh tmpfs) and usable."""
    # opening /dev/stdout reopens the output file: append, and as the last write
    bundle.sh("for l in fd stdin stdout stderr; do echo $l=$(readlink /dev/$l); done; "
              "grep -c ' /dev ' /proc/self/mountinfo; ls /dev/fd/ | tr '\\n' ' '; echo; "
              "echo via-stdout >> /dev/stdout; echo via-stderr >> /dev/stderr")
    r = ocirt.run(bundle)
    assert r.returncode == 0, r
    lines = r.stdout.splitlines()
    assert lines[:4] == ["fd=/proc/self/fd", "stdin=/proc/self/fd/0", "stdout=/proc/self/fd/1",
                         "stderr=/proc/self/fd/2"]
    assert lines[4] == "1"  # /dev is a mount of its own: the links were made on it
    assert {"0", "1", "2"} <= set(lines[5].split())
    assert lines[6] == "via-stdout" and r.stderr.strip() == "via-stderr"
