"""Namespaces: new ones (seen from inside and compared with the host), joined
ones by path, uid/gid mappings, hostname/domainname, time offsets, lo up."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest


def ns_inode(pid: int | str, name: str) -> str:
    return os.readlink(f"/proc/{pid}/ns/{name}")


@pytest.mark.parametrize("kind,proc_name", [("pid", "pid"), ("network", "net"), ("ipc", "ipc"),
                                             ("uts", "uts"), ("mount", "mnt"), ("cgroup", "cgroup")])
def test_new_namespace_differs_from_host(ocirt, bundle, kind, proc_name):
    bundle.sh(f"readlink /proc/self/ns/{proc_name}")
    r = ocirt.run(bundle)
    assert r.returncode == 0, r
    assert r.stdout.strip() != ns_inode("self", proc_name)


def test_without_pid_namespace_shares_host_pids(ocirt, bundle):
    bundle.config["linux"]["namespaces"] = [n for n in bundle.config["linux"]["namespaces"] if n["type"] != "pid"]
    bundle.sh("echo $$; readlink /proc/self/ns/pid")
    r = ocirt.run(bundle)
    assert r.returncode == 0, r
    pid, ns = r.stdout.split()
    assert int(pid) > 1
    assert ns == ns_inode("self", "pid")


def test_pid_one_inside(ocirt, bundle):
    r = ocirt.run(bundle.sh("echo $$; ps -o pid,comm | tail -n +2 | wc -l"))
    assert r.stdout.split()[0] == "1"


def test_join_namespace_by_path(ocirt, bundle):
    holder = subprocess.Popen(["unshare", "--uts", "sh", "-c", "hostname joined-uts; sleep 60"])
    try:
        for _ in range(50):
            if ns_inode(holder.pid, "uts") != ns_inode("self", "uts"):
                break
            import time
            time.sleep(0.02)
        # the shell forks sleep; its uts ns is the new one
        target = f"/proc/{holder.pid}/ns/uts"
        bundle.config["linux"]["namespaces"] = [
            n for n in bundle.config["linux"]["namespaces"] if n["type"] != "uts"] + [{"type": "uts", "path": target}]
        bundle.config.pop("hostname", None)
        r = ocirt.run(bundle.sh("hostname; readlink /proc/self/ns/uts"))
        assert r.returncode == 0, r
        name, ns = r.stdout.split()
        assert name == "joined-uts"
        assert ns == ns_inode(holder.pid, "uts")
    finally:
        holder.kill()
        holder.wait()


def test_hostname_and_domainname(ocirt, bundle):
    bundle.config["hostname"] = "box-1"
    bundle.config["domainname"] = "example.test"
    r = ocirt.run(bundle.sh("hostname; cat /proc/sys/kernel/domainname"))
    assert r.stdout.split() == ["box-1", "example.test"]
    assert os.uname().nodename != "box-1"


def test_loopback_is_up_in_new_network_namespace(ocirt, bundle):
    r = ocirt.run(bundle.sh("cat /sys/class/net/lo/operstate /sys/class/net/lo/flags; ls /sys/class/net"))
    assert r.returncode == 0, r
    lines = r.stdout.split()
    assert int(lines[1], 16) & 1  # IFF_UP
    assert lines[2:] == ["lo"]


@pytest.fixture
def userns_bundle(bundle, tmp_path_factory):
    """The bundle moved where host uid 100000 (root in the container) can
    reach it: pytest's tmp dirs are 0700 root."""
    import shutil
    import tempfile

    from testlib import Bundle

    top = tempfile.mkdtemp(prefix="ocirt-userns-", dir="/tmp")
    os.chmod(top, 0o755)
    rootfs = os.path.join(top, "rootfs")
    shutil.copytree(bundle.rootfs, rootfs, symlinks=True)
    subprocess.run(["chown", "-R", "-h", "100000:100000", rootfs], check=True)
    b = Bundle(Path(top), Path(rootfs))
    b.config = bundle.config
    yield b.write()
    shutil.rmtree(top, ignore_errors=True)


def test_user_namespace_mappings(ocirt, userns_bundle):
    bundle = userns_bundle
    bundle.config["linux"]["namespaces"].append({"type": "user"})
    bundle.config["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    bundle.config["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    bundle.config["mounts"] = [m for m in bundle.config["mounts"] if m["type"] not in ("cgroup", "sysfs")]
    bundle.config["linux"]["namespaces"] = [n for n in bundle.config["linux"]["namespaces"] if n["type"] != "cgroup"]
    bundle.sh("id -u; cat /proc/self/uid_map /proc/self/gid_map; touch /tmp/made-inside; stat -c %u /tmp/made-inside")
    bundle.config["root"]["readonly"] = False
    bundle.config["mounts"] = [m for m in bundle.config["mounts"]]
    r = ocirt.run(bundle)
    assert r.returncode == 0, r
    out = r.stdout.split()
    assert out[0] == "0"
    assert out[1:4] == ["0", "100000", "65536"]
    assert out[4:7] == ["0", "100000", "65536"]
    assert os.stat(bundle.rootfs / "tmp" / "made-inside").st_uid == 100000


def test_time_namespace_offsets(ocirt, bundle):
    if not os.path.exists("/proc/self/ns/time"):
        pytest.skip("kernel without time namespaces")
    bundle.config["linux"]["namespaces"].append({"type": "time"})
    bundle.config["linux"]["timeOffsets"] = {"boottime": {"secs": 86400 * 365, "nanosecs": 0}}
    r = ocirt.run(bundle.sh("cut -d. -f1 /proc/uptime"))
    assert r.returncode == 0, r
    with open("/proc/uptime") as f:
        host = int(f.read().split(".")[0])
    assert int(r.stdout) >= host + 86400 * 365 - 5


def test_without_mount_namespace_chroots_and_mounts_nothing(ocirt, bundle):
    bundle.config["linux"]["namespaces"] = [n for n in bundle.config["linux"]["namespaces"]
                                            if n["type"] not in ("mount", "cgroup")]
    (bundle.rootfs / "marker").write_text("in-rootfs")
    r = ocirt.run(bundle.sh("cat /marker"))
    assert r.returncode == 0, r
    assert r.stdout.startswith("in-rootfs")
    with open("/proc/self/mountinfo") as f:
        assert str(bundle.path) not in f.read()  # nothing was mounted into the bundle
