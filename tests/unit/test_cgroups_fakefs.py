"""A fake cgroup file system in a tmp dir (shared by the test_cgroups_* unit
tests), and the tests of host discovery: mode, paths, cgroupsPath rules.

The fake "kernel" is a mkdir hook that fills every new dir under the fake
mount points with the files the real kernel would show, so the managers run
unchanged; tests then read the files back.
"""

from __future__ import annotations

import os

import pytest

from ocirt.cgroups import common, inner_path, load_manager, new_manager
from ocirt.errors import ConfigError

V1_FILES = {
    "cpu": {"cpu.shares": "1024", "cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "-1",
            "cpu.cfs_burst_us": "0", "cpu.idle": "0", "cpu.rt_period_us": "1000000",
            "cpu.rt_runtime_us": "0",
            "cpu.stat": "nr_periods 7\nnr_throttled 2\nthrottled_time 900"},
    "cpuacct": {"cpuacct.usage": "5000", "cpuacct.stat": "user 3\nsystem 2",
                "cpuacct.usage_percpu": "3000 2000"},
    "cpuset": {"cpuset.cpus": "", "cpuset.mems": ""},
    "memory": {"memory.limit_in_bytes": "9223372036854771712",
               "memory.memsw.limit_in_bytes": "9223372036854771712",
               "memory.soft_limit_in_bytes": "9223372036854771712",
               "memory.kmem.limit_in_bytes": "9223372036854771712",
               "memory.kmem.tcp.limit_in_bytes": "9223372036854771712",
               "memory.swappiness": "60", "memory.use_hierarchy": "1",
               "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 0",
               "memory.usage_in_bytes": "8192", "memory.max_usage_in_bytes": "16384",
               "memory.failcnt": "1", "memory.memsw.usage_in_bytes": "8192",
               "memory.stat": "cache 4096\nrss 4096", "cgroup.event_control": ""},
    "pids": {"pids.max": "max", "pids.current": "3"},
    "blkio": {"blkio.bfq.weight": "100", "blkio.bfq.weight_device": "",
              "blkio.throttle.read_bps_device": "", "blkio.throttle.write_bps_device": "",
              "blkio.throttle.read_iops_device": "", "blkio.throttle.write_iops_device": "",
              "blkio.throttle.io_serviced_recursive": "8:0 Read 2\n8:0 Write 0\nTotal 2",
              "blkio.throttle.io_service_bytes_recursive": "8:0 Read 4096\nTotal 4096"},
    "hugetlb": {"hugetlb.2MB.limit_in_bytes": "0", "hugetlb.2MB.rsvd.limit_in_bytes": "0",
                "hugetlb.2MB.usage_in_bytes": "0", "hugetlb.2MB.failcnt": "0",
                "hugetlb.2MB.max_usage_in_bytes": "0"},
    "devices": {"devices.allow": "", "devices.deny": "", "devices.list": "a *:* rwm"},
    "freezer": {"freezer.state": "THAWED"},
    "net_cls": {"net_cls.classid": "0"},
    "net_prio": {"net_prio.ifpriomap": ""},
    "name=systemd": {},
}
V2_CONTROLLERS = "cpuset cpu io memory hugetlb pids rdma"
V2_FILES = {
    "cgroup.controllers": V2_CONTROLLERS, "cgroup.subtree_control": "", "cgroup.freeze": "0",
    "cgroup.events": "populated 0\nfrozen 0", "cgroup.kill": "",
    "memory.max": "max", "memory.low": "0", "memory.swap.max": "max", "memory.current": "8192",
    "memory.swap.current": "4096", "memory.events": "low 0\nhigh 0\nmax 2\noom 1\noom_kill 1",
    "memory.stat": "anon 4096\nfile 4096\nkernel 512", "memory.peak": "16384",
    "cpu.weight": "100", "cpu.max": "max 100000", "cpu.max.burst": "0", "cpu.idle": "0",
    "cpu.stat": "usage_usec 7\nuser_usec 4\nsystem_usec 3\nnr_periods 5\nnr_throttled 1\nthrottled_usec 2",
    "cpuset.cpus": "", "cpuset.mems": "", "cpuset.cpus.effective": "0-1",
    "cpuset.mems.effective": "0", "pids.max": "max", "pids.current": "2",
    "io.weight": "default 100", "io.max": "", "io.stat": "8:0 rbytes=10 wbytes=20 rios=1 wios=2",
    "hugetlb.2MB.max": "max", "hugetlb.2MB.rsvd.max": "max", "hugetlb.2MB.current": "0",
    "hugetlb.2MB.events": "max 0", "rdma.max": "",
    "cpu.pressure": "some avg10=1.50 avg60=0.00 avg300=0.00 total=42\n"
                    "full avg10=0.00 avg60=0.00 avg300=0.00 total=0",
    "memory.pressure": "some avg10=0.00 avg60=0.00 avg300=0.00 total=0",
}


class FakeCgroupFS:
    def __init__(self, tmp: str, mode: str, monkeypatch) -> None:
        self.root = os.path.join(tmp, "cg")
        self.mode = mode
        proc = os.path.join(tmp, "proc")
        os.makedirs(proc)
        mounts, own = [], []
        if mode in ("v1", "hybrid"):
            for i, ctrl in enumerate(V1_FILES):
                mnt = f"{self.root}/{ctrl}"
                mounts.append(f"{30 + i} 1 0:{30 + i} / {mnt} rw - cgroup cgroup rw,{ctrl}")
                own.append(f"{i + 1}:{ctrl}:/")
        if mode in ("v2", "hybrid"):
            mnt = self.root if mode == "v2" else f"{self.root}/unified"
            mounts.append(f"29 1 0:29 / {mnt} rw - cgroup2 cgroup2 rw")
            own.append("0::/")
        with open(f"{proc}/mountinfo", "w") as f:
            f.write("1 0 8:1 / / rw - ext4 /dev/sda1 rw\n" + "\n".join(mounts) + "\n")
        with open(f"{proc}/cgroup", "w") as f:
            f.write("\n".join(own) + "\n")
        monkeypatch.setattr(common, "PROC_SELF", proc)
        real_mkdir = os.mkdir

        def mkdir(path, mode=0o777, *, dir_fd=None):
            real_mkdir(path, mode)
            self.populate(str(path))
        monkeypatch.setattr(os, "mkdir", mkdir)
        real_rmdir = os.rmdir

        def rmdir(path, *, dir_fd=None):
            # cgroupfs dirs hold only kernel files: rmdir works if no sub-dirs
            if str(path).startswith(self.root) and os.path.isdir(path):
                for name in os.listdir(path):
                    if not os.path.isdir(f"{path}/{name}"):
                        os.unlink(f"{path}/{name}")
            real_rmdir(path)
        monkeypatch.setattr(os, "rmdir", rmdir)
        os.makedirs(self.root)
        for mnt in self.mount_dirs():
            os.mkdir(mnt)

    def mount_dirs(self) -> list[str]:
        if self.mode == "v2":
            return []  # the root itself
        dirs = [f"{self.root}/{c}" for c in V1_FILES]
        return dirs + ([f"{self.root}/unified"] if self.mode == "hybrid" else [])

    def populate(self, path: str) -> None:
        rel = os.path.relpath(path, self.root)
        if rel.startswith(".."):
            return
        if self.mode == "v2" or rel.split("/")[0] == "unified":
            files = dict(V2_FILES)
            parent = os.path.dirname(path)
            if rel != "." and os.path.exists(f"{parent}/cgroup.controllers"):
                # (the kernel derives it from the parent's subtree_control)
                files["cgroup.controllers"] = read(parent, "cgroup.controllers")
        else:
            files = dict(V1_FILES.get(rel.split("/")[0], {}))
            if rel.split("/")[0] == "cpuset" and "/" not in rel:
                files.update({"cpuset.cpus": "0-1", "cpuset.mems": "0"})
        files.update({"cgroup.procs": "", "cgroup.threads": ""})
        for name, content in files.items():
            with open(f"{path}/{name}", "w") as f:
                f.write(content)


def read(path: str, name: str) -> str:
    with open(f"{path}/{name}") as f:
        return f.read()


@pytest.fixture
def fake_v1(tmp_path, monkeypatch):
    return FakeCgroupFS(str(tmp_path), "v1", monkeypatch)


@pytest.fixture
def fake_hybrid(tmp_path, monkeypatch):
    return FakeCgroupFS(str(tmp_path), "hybrid", monkeypatch)


@pytest.fixture
def fake_v2(tmp_path, monkeypatch):
    import ocirt.cgroups.v2.devices as v2_devices
    fs = FakeCgroupFS(str(tmp_path), "v2", monkeypatch)
    fs.populate(fs.root)
    # no eBPF on a fake dir: record what would be loaded
    fs.device_rules = []
    monkeypatch.setattr(v2_devices, "apply_rules", lambda path, rules: fs.device_rules.append(rules))
    return fs


# --- discovery and paths -------------------------------------------------------


@pytest.mark.parametrize("given, expected", [
    (None, "c1"), ("", "c1"), ("/", "c1"), ("/a/b", "/a/b"), ("a/b", "a/b"),
    ("/a/../../b", "/b"), ("../../x", "x"), ("/a//./b/", "/a/b"),
])
def test_inner_path_follows_runc(given, expected):
    assert inner_path(given, "c1") == expected


def test_nul_in_cgroups_path_is_config_error():
    with pytest.raises(ConfigError, match="NUL"):
        inner_path("/a\0b", "c1")


def test_v1_paths_absolute_and_relative(fake_v1):
    m = new_manager("/grp/c1", "c1")
    assert m.version == 1
    assert m.paths["memory"] == f"{fake_v1.root}/memory/grp/c1"
    assert m.paths["name=systemd"] == f"{fake_v1.root}/name=systemd/grp/c1"
    assert "" not in m.paths


def test_relative_path_is_below_own_cgroup(fake_v1):
    with open(f"{common.PROC_SELF}/cgroup", "w") as f:
        f.write("4:memory:/runtime/slice\n1:cpu:/\n")
    m = new_manager(None, "c1")
    assert m.paths["memory"] == f"{fake_v1.root}/memory/runtime/slice/c1"
    assert m.paths["cpu"] == f"{fake_v1.root}/cpu/c1"


def test_hybrid_joins_unified(fake_hybrid):
    m = new_manager("/c1", "c1")
    assert m.version == 1
    assert m.paths[""] == f"{fake_hybrid.root}/unified/c1"
    m.create({})
    m.add_pid(4242)
    assert read(m.paths[""], "cgroup.procs") == "4242"
    assert read(m.paths["memory"], "cgroup.procs") == "4242"


def test_hierarchies_name_mount_points(fake_hybrid):
    m = new_manager("/c1", "c1")
    h = m.hierarchies()
    assert h["unified"] == f"{fake_hybrid.root}/unified/c1"
    assert h["name=systemd"] == f"{fake_hybrid.root}/name=systemd/c1"
    assert h["cpu"] == f"{fake_hybrid.root}/cpu/c1"


def test_comounted_controllers_share_a_dir(fake_v1):
    with open(f"{common.PROC_SELF}/mountinfo", "a") as f:
        f.write(f"90 1 0:90 / {fake_v1.root}/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n")
    with open(f"{common.PROC_SELF}/mountinfo") as f:
        lines = [ln for ln in f if not ln.split()[4].endswith(("/cpu", "/cpuacct"))]
    with open(f"{common.PROC_SELF}/mountinfo", "w") as f:
        f.writelines(lines)
    m = new_manager("/c1", "c1")
    assert m.paths["cpu"] == m.paths["cpuacct"] == f"{fake_v1.root}/cpu,cpuacct/c1"
    assert m.hierarchies()["cpu,cpuacct"] == m.paths["cpu"]
    assert m.dirs().count(m.paths["cpu"]) == 1


def test_v2_path(fake_v2):
    m = new_manager("/a/c1", "c1")
    assert m.version == 2 and m.paths == {"": f"{fake_v2.root}/a/c1"}


def test_state_round_trip(fake_v1):
    m = new_manager("/grp/c1", "c1")
    m.create({})
    again = load_manager(m.to_state())
    assert again.paths == m.paths and again.created == m.created
    again.destroy()
    assert not os.path.exists(f"{fake_v1.root}/memory/grp")


def test_create_failure_cleans_up(fake_v1):
    m = new_manager("/grp/c1", "c1")
    with pytest.raises(ConfigError, match=r"linux\.resources\.memory\.swappiness"):
        m.create({"memory": {"swappiness": 101}})
    for d in fake_v1.mount_dirs():
        assert os.listdir(d) == [n for n in os.listdir(d) if not n.startswith("grp")]


def test_busy_existing_cgroup_is_refused(fake_v2):
    os.mkdir(f"{fake_v2.root}/busy")
    with open(f"{fake_v2.root}/busy/cgroup.procs", "w") as f:
        f.write("1\n")
    with pytest.raises(ConfigError, match="already holds 1 process"):
        new_manager("/busy", "c1").create({})
    assert os.path.isdir(f"{fake_v2.root}/busy")  # not ours: left alone


def test_destroy_is_idempotent(fake_v2):
    m = new_manager("/c1", "c1")
    m.create({})
    m.destroy()
    m.destroy()
    assert not os.path.exists(f"{fake_v2.root}/c1")


def test_missing_controller_is_config_error(fake_v1, monkeypatch):
    m = new_manager("/c1", "c1")
    del m.paths["hugetlb"]
    with pytest.raises(ConfigError, match="hugepageLimits.*no hugetlb"):
        m.create({"hugepageLimits": [{"pageSize": "2MB", "limit": 1}]})
