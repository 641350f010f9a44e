"""config-linux.md cgroup rules on this host: CPU burst against quota (at
create and through update), block IO throttling, the weightDevice rule,
controllers the host lacks, and cgroupsPath (same value, same place;
invalid values refused).  The v2 side is in tests/unit/test_cgroups_rules.py."""
from __future__ import annotations

import json
import os
import uuid

import pytest

from testlib import one_line_error

CG = "/sys/fs/cgroup"


def cgroups_of(pid: int) -> dict[str, str]:
    """controller list (as in /proc/<pid>/cgroup) -> path in that hierarchy."""
    out = {}
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, names, path = line.rstrip("\n").split(":", 2)
            out[names] = path
    return out


def host_dir(pid: int, controller: str) -> str:
    for names, path in cgroups_of(pid).items():
        if controller in names.split(","):
            return f"{CG}/{controller}{path}"
    pytest.skip(f"no v1 {controller} hierarchy on this host")


def read(d: str, name: str) -> str:
    with open(f"{d}/{name}") as f:
        return f.read().strip()




@pytest.fixture
def detached(ocirt, bundle):
    def run(resources: dict, cgroups_path: str | None = None) -> tuple[str, int]:
        bundle.config["linux"]["resources"] = resources
        if cgroups_path is not None:
            bundle.config["linux"]["cgroupsPath"] = cgroups_path
        bundle.args("sleep", "60")
        cid = ocirt.new_id()
        r = ocirt("run", "-d", "-b", str(bundle.path), cid)
        assert r.returncode == 0, r
        return cid, ocirt.state(cid)["pid"]
    return run


def needs_burst() -> None:
    if not os.path.exists(f"{CG}/cpu/cpu.cfs_burst_us"):
        pytest.skip("needs the v1 cpu controller with cpu.cfs_burst_us")


# --- CPU burst ----------------------------------------------------------------
def test_quota_and_burst_inside_and_outside(ocirt, bundle, detached):
    needs_burst()
    cpu = {"quota": 50000, "period": 100000, "burst": 20000}
    bundle.config["linux"]["resources"] = {"cpu": cpu}
    r = ocirt.run(bundle.sh(f"cat {CG}/cpu/cpu.cfs_quota_us {CG}/cpu/cpu.cfs_burst_us"))
    assert r.returncode == 0 and r.stdout.split() == ["50000", "20000"], r
    cid, pid = detached({"cpu": cpu})
    d = host_dir(pid, "cpu")
    assert (read(d, "cpu.cfs_quota_us"), read(d, "cpu.cfs_burst_us")) == ("50000", "20000")
    assert ocirt("delete", "-f", cid).returncode == 0


def test_burst_above_quota_is_refused(ocirt, bundle):
    needs_burst()
    bundle.config["linux"]["resources"] = {"cpu": {"quota": 50000, "period": 100000, "burst": 100000}}
    err = one_line_error(ocirt.run(bundle))
    assert "linux.resources.cpu.burst=100000" in err and "quota 50000" in err


def test_update_moves_quota_and_burst_in_either_direction(ocirt, detached, tmp_path):
    """Lowering both needs burst first, raising both needs quota first: the
    kernel refuses a burst above the quota at every single write."""
    needs_burst()
    cid, pid = detached({"cpu": {"quota": 50000, "period": 100000, "burst": 40000}})
    d = host_dir(pid, "cpu")
    for quota, burst in ((20000, 10000), (80000, 60000)):
        res = tmp_path / f"r{quota}.json"
        res.write_text(json.dumps({"cpu": {"quota": quota, "burst": burst}}))
        r = ocirt("update", "--resources", str(res), cid)
        assert r.returncode == 0, r
        assert (read(d, "cpu.cfs_quota_us"), read(d, "cpu.cfs_burst_us")) == (str(quota), str(burst))
    res.write_text(json.dumps({"cpu": {"burst": 90000}}))
    err = one_line_error(ocirt("update", "--resources", str(res), cid))
    assert "quota 80000" in err
    assert read(d, "cpu.cfs_burst_us") == "60000"
    assert ocirt("delete", "-f", cid).returncode == 0


def test_update_cpu_burst_flag(ocirt, detached):
    """runc >= 1.2's `update --cpu-burst`, next to --cpu-quota."""
    needs_burst()
    cid, pid = detached({"cpu": {"quota": 50000, "period": 100000}})
    d = host_dir(pid, "cpu")
    r = ocirt("update", "--cpu-quota", "60000", "--cpu-burst", "30000", cid)
    assert r.returncode == 0, r
    assert (read(d, "cpu.cfs_quota_us"), read(d, "cpu.cfs_burst_us")) == ("60000", "30000")
    assert ocirt("delete", "-f", cid).returncode == 0


# --- block IO -----------------------------------------------------------------
def a_disk() -> tuple[int, int]:
    for name in sorted(os.listdir("/sys/block")):
        if not name.startswith(("loop", "ram")):
            major, minor = open(f"/sys/block/{name}/dev").read().split(":")
            return int(major), int(minor)
    pytest.skip("no block device to throttle")


def test_blkio_throttles_inside_and_outside(ocirt, bundle, detached):
    if not os.path.isdir(f"{CG}/blkio"):
        pytest.skip("needs the v1 blkio controller")
    major, minor = a_disk()
    dev = {"major": major, "minor": minor}
    bio = {"throttleReadBpsDevice": [{**dev, "rate": 1 << 20}],
           "throttleWriteBpsDevice": [{**dev, "rate": 2 << 20}],
           "throttleReadIOPSDevice": [{**dev, "rate": 100}],
           "throttleWriteIOPSDevice": [{**dev, "rate": 200}]}
    bundle.config["linux"]["resources"] = {"blockIO": bio}
    r = ocirt.run(bundle.sh(f"cat {CG}/blkio/blkio.throttle.read_bps_device"))
    assert r.returncode == 0 and r.stdout.strip() == f"{major}:{minor} {1 << 20}", r
    cid, pid = detached({"blockIO": bio})
    d = host_dir(pid, "blkio")
    key = f"{major}:{minor}"
    assert read(d, "blkio.throttle.write_bps_device") == f"{key} {2 << 20}"
    assert read(d, "blkio.throttle.read_iops_device") == f"{key} 100"
    assert read(d, "blkio.throttle.write_iops_device") == f"{key} 200"
    assert ocirt("delete", "-f", cid).returncode == 0


def test_weight_device_needs_weight_or_leaf_weight(ocirt, bundle):
    if not os.path.isdir(f"{CG}/blkio"):
        pytest.skip("needs the v1 blkio controller")
    major, minor = a_disk()
    bundle.config["linux"]["resources"] = {"blockIO": {"weightDevice": [{"major": major, "minor": minor}]}}
    err = one_line_error(ocirt.run(bundle))
    assert "linux.resources.blockIO.weightDevice[0]" in err and "weight or leafWeight" in err


# --- controllers this host lacks ----------------------------------------------
def mounted_controllers() -> set[str]:
    found = set()
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre, post = line.split(" - ", 1)
            if post.startswith("cgroup "):
                found |= set(post.split()[2].split(","))
    return found


@pytest.mark.parametrize("controller,resources,where", [
    ("net_cls", {"network": {"classID": 0x100001}}, "linux.resources.network.classID"),
    ("net_prio", {"network": {"priorities": [{"name": "eth0", "priority": 5}]}}, "linux.resources.network"),
    ("rdma", {"rdma": {"mlx5_1": {"hcaHandles": 3}}}, "linux.resources.rdma"),
])
def test_absent_controller_is_a_clear_error(ocirt, bundle, controller, resources, where):
    if controller in mounted_controllers() or os.path.isfile(f"{CG}/cgroup.controllers"):
        pytest.skip(f"this host has {controller} (or is cgroup v2)")
    bundle.config["linux"]["resources"] = resources
    err = one_line_error(ocirt.run(bundle))
    assert where in err and f"no {controller} cgroup controller" in err


# --- cgroupsPath --------------------------------------------------------------
def test_same_cgroups_path_same_place(ocirt, bundle, detached):
    """Two containers in turn and an exec'd process all land in the one cgroup."""
    path = f"/ocirt-spec-{uuid.uuid4().hex[:8]}/ct"
    seen = []
    for _ in range(2):
        cid, pid = detached({}, path)
        mine = cgroups_of(pid)
        assert all(p == path for names, p in mine.items() if names and names != "name=systemd"), mine
        r = ocirt("exec", cid, "cat", "/proc/self/cgroup")
        assert r.returncode == 0, r
        joined = {names: p for _, names, p in (ln.split(":", 2) for ln in r.stdout.splitlines())}
        seen.append(host_dir(pid, "memory"))
        assert ocirt("delete", "-f", cid).returncode == 0
        # in the container's cgroup namespace the same cgroup reads as "/"
        assert set(joined.values()) <= {"/", path}, joined
    assert seen[0] == seen[1] == f"{CG}/memory{path}"
    assert not os.path.exists(f"{CG}/memory{path.rsplit('/', 1)[0]}")  # parents it made go too


@pytest.mark.parametrize("path", ["/", "/a/../../etc", "../x"])
def test_invalid_cgroups_path_is_refused(ocirt, bundle, path):
    bundle.config["linux"]["cgroupsPath"] = path
    err = one_line_error(ocirt.run(bundle))
    assert "linux.cgroupsPath" in err
