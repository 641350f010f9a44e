"""The container's filesystem: mounts and their options, propagation,
readonly root, pivot_root and --no-pivot, devices, masked/readonly paths,
sysctl — checked from inside (mountinfo, ls -l) and outside (host mounts)."""
from __future__ import annotations

import os

import pytest


def mountinfo_line(output: str, target: str) -> str:
    for line in output.splitlines():
        fields = line.split()
        if len(fields) > 4 and fields[4] == target:
            return line
    raise AssertionError(f"{target} not mounted:\n{output}")


def test_bind_mount_options(ocirt, bundle, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "file").write_text("from-host")
    bundle.config["mounts"].append({"destination": "/data", "type": "bind", "source": str(src),
                                    "options": ["rbind", "ro", "nosuid", "nodev", "noexec"]})
    r = ocirt.run(bundle.sh("cat /data/file; cat /proc/self/mountinfo; touch /data/x 2>&1 || echo ro-ok"))
    assert r.returncode == 0, r
    assert r.stdout.startswith("from-host")
    opts = mountinfo_line(r.stdout, "/data").split()[5].split(",")
    assert {"ro", "nosuid", "nodev", "noexec"} <= set(opts)
    assert "ro-ok" in r.stdout
    assert not (src / "x").exists()


def test_tmpfs_with_data_and_relative_bind_source(ocirt, bundle):
    (bundle.path / "rel").mkdir()
    (bundle.path / "rel" / "f").write_text("rel-ok")
    bundle.config["mounts"] += [
        {"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m", "mode=700"]},
        {"destination": "/rel", "type": "bind", "source": "rel", "options": ["bind"]},
    ]
    r = ocirt.run(bundle.sh("stat -c %a /scratch; df -k /scratch | tail -1; cat /rel/f"))
    assert r.returncode == 0, r
    lines = r.stdout.splitlines()
    assert lines[0] == "700"
    assert lines[1].split()[1] == "1024"
    assert lines[2] == "rel-ok"


def test_mount_destination_created_in_rootfs(ocirt, bundle):
    bundle.config["mounts"].append({"destination": "/new/deep/dir", "type": "tmpfs", "source": "tmpfs"})
    r = ocirt.run(bundle.sh("grep ' /new/deep/dir ' /proc/self/mountinfo | wc -l"))
    assert r.stdout.strip() == "1"
    assert (bundle.rootfs / "new" / "deep" / "dir").is_dir()


def test_readonly_root(ocirt, bundle):
    bundle.config["root"]["readonly"] = True
    r = ocirt.run(bundle.sh("touch /x 2>/dev/null && echo wrote || echo refused; cat /proc/self/mountinfo"))
    assert r.stdout.splitlines()[0] == "refused"
    assert "ro" in mountinfo_line(r.stdout, "/").split()[5].split(",")


def test_pivot_root_hides_host(ocirt, bundle):
    r = ocirt.run(bundle.sh("cat /proc/self/mountinfo | wc -l; ls /"))
    assert r.returncode == 0
    assert "bin" in r.stdout.split()
    assert "work" not in r.stdout.split() and "root" in r.stdout.split()
    # no mount of the host's root filesystem is visible inside
    assert int(r.stdout.split()[0]) < 40


def test_no_pivot(ocirt, bundle):
    r = ocirt.run(bundle.sh("ls /; echo done"), "--no-pivot")
    assert r.returncode == 0, r
    assert "bin" in r.stdout.split() and r.stdout.strip().endswith("done")


def test_default_devices_and_symlinks(ocirt, bundle):
    r = ocirt.run(bundle.sh("ls -l /dev; echo x > /dev/null && echo null-ok; head -c 4 /dev/zero | wc -c"))
    assert r.returncode == 0, r
    out = r.stdout
    for name, major_minor in (("null", "1,   3"), ("zero", "1,   5"), ("full", "1,   7"),
                              ("random", "1,   8"), ("urandom", "1,   9"), ("tty", "5,   0")):
        line = next(line for line in out.splitlines() if line.endswith(" " + name))
        assert line.startswith("c") and major_minor in line, line
    for link, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("ptmx", "pts/ptmx")):
        assert f"{link} -> {target}" in out
    assert "null-ok" in out and out.strip().endswith("4")


def test_linux_devices(ocirt, bundle):
    bundle.config["linux"]["devices"] = [
        {"path": "/dev/custom-null", "type": "c", "major": 1, "minor": 3, "fileMode": 0o600, "uid": 7, "gid": 8},
        {"path": "/dev/sub/fifo", "type": "p"},
    ]
    bundle.config["linux"]["resources"]["devices"].append({"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"})
    r = ocirt.run(bundle.sh("stat -c '%F %a %u %g %t %T' /dev/custom-null /dev/sub/fifo"))
    assert r.returncode == 0, r
    lines = r.stdout.splitlines()
    assert lines[0] == "character special file 600 7 8 1 3"
    assert lines[1].startswith("fifo")


def test_device_cgroup_denies_unlisted_device(ocirt, bundle):
    bundle.config["linux"]["devices"] = [{"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11}]
    r = ocirt.run(bundle.sh("head -c1 /dev/kmsg >/dev/null 2>&1 && echo opened || echo denied"))
    assert r.stdout.strip() == "denied"


def test_masked_and_readonly_paths(ocirt, bundle):
    r = ocirt.run(bundle.sh(
        "cat /proc/keys 2>&1 | wc -c; ls /proc/acpi 2>/dev/null | wc -l; "
        "echo 1 > /proc/sys/kernel/ns_last_pid 2>/dev/null && echo wrote || echo ro; "
        "grep ' /proc/sys ' /proc/self/mountinfo"))
    assert r.returncode == 0, r
    lines = r.stdout.splitlines()
    assert lines[0] == "0"  # /dev/null bound over it
    assert lines[1] == "0"
    assert lines[2] == "ro"
    assert "ro" in lines[3].split()[5].split(",")


def test_sysctl(ocirt, bundle):
    bundle.config["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1", "kernel.shmmax": "123456789"}
    r = ocirt.run(bundle.sh("cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmax"))
    assert r.stdout.split() == ["1", "123456789"]
    with open("/proc/sys/kernel/shmmax") as f:
        assert f.read().strip() != "123456789"


def test_rootfs_propagation_private(ocirt, bundle):
    bundle.config["linux"]["rootfsPropagation"] = "private"
    r = ocirt.run(bundle.sh("cat /proc/self/mountinfo"))
    assert r.returncode == 0, r
    root = mountinfo_line(r.stdout, "/")
    assert "shared:" not in root and "master:" not in root


def test_mount_propagation_option(ocirt, bundle, tmp_path):
    src = tmp_path / "shared-src"
    src.mkdir()
    bundle.config["mounts"].append({"destination": "/sh", "type": "bind", "source": str(src),
                                    "options": ["rbind", "rprivate"]})
    r = ocirt.run(bundle.sh("grep ' /sh ' /proc/self/mountinfo"))
    assert "shared:" not in r.stdout


def test_cgroup_mount(ocirt, bundle):
    r = ocirt.run(bundle.sh("ls /sys/fs/cgroup; grep ' /sys/fs/cgroup' /proc/self/mountinfo | head -1"))
    assert r.returncode == 0, r
    names = r.stdout.split()
    assert "memory" in names or "cgroup.procs" in names


def test_nothing_mounted_on_host_after_delete(ocirt, bundle):
    bundle.config["mounts"].append({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs"})
    assert ocirt.run(bundle.sh("true")).returncode == 0
    with open("/proc/self/mountinfo") as f:
        assert str(bundle.rootfs) not in f.read()


def test_mount_label_ignored_without_selinux(ocirt, bundle):
    """runc ignores linux.mountLabel on a host without SELinux (context= would fail)."""
    if os.path.exists("/sys/fs/selinux/enforce"):
        pytest.skip("SELinux is enabled here")
    bundle.config["linux"]["mountLabel"] = "system_u:object_r:container_file_t:s0:c1,c2"
    r = ocirt.run(bundle.sh("grep ' /dev/shm ' /proc/self/mountinfo"))
    assert r.returncode == 0, r
    assert "context=" not in r.stdout
