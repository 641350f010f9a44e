"""cgroup v1 resources on the fake file system: file contents after
create/update, ordering rules, warnings and errors."""

from __future__ import annotations

import errno
import os

import pytest
import test_cgroups_fakefs as fakefs

from ocirt.cgroups import new_manager
from ocirt.errors import ConfigError

fake_v1 = fakefs.fake_v1
fake_hybrid = fakefs.fake_hybrid
read = fakefs.read

GB = 1 << 30


def make(res: dict, devices: list | None = None):
    m = new_manager("/c1", "c1")
    m.create(res, devices)
    return m


def test_memory(fake_v1):
    m = make({"memory": {"limit": GB, "swap": 2 * GB, "reservation": GB // 2,
                         "swappiness": 10, "disableOOMKiller": True}})
    p = m.paths["memory"]
    assert read(p, "memory.limit_in_bytes") == str(GB)
    assert read(p, "memory.memsw.limit_in_bytes") == str(2 * GB)
    assert read(p, "memory.soft_limit_in_bytes") == str(GB // 2)
    assert read(p, "memory.swappiness") == "10"
    assert read(p, "memory.oom_control") == "1"


def test_unlimited_memory_means_unlimited_swap(fake_v1):
    m = make({"memory": {"limit": -1}})
    assert read(m.paths["memory"], "memory.memsw.limit_in_bytes") == "-1"


def without_file(ctrl: str, fname: str):
    """A manager whose cgroup lacks one file (a kernel without the feature)."""
    m = new_manager("/c1", "c1")
    os.makedirs(m.paths[ctrl])
    os.unlink(f"{m.paths[ctrl]}/{fname}")
    return m


def test_swap_without_accounting(fake_v1):
    m = without_file("memory", "memory.memsw.limit_in_bytes")
    with pytest.raises(ConfigError, match="swap accounting"):
        m.create({"memory": {"limit": GB, "swap": 2 * GB}})


def test_update_leaves_devices_alone(fake_v1):
    m = make({})
    m.update({"devices": [{"allow": True, "access": "rwm"}], "pids": {"limit": 3}})
    assert read(m.paths["devices"], "devices.allow") != "a"
    assert read(m.paths["pids"], "pids.max") == "3"
    assert any("devices ignored" in w for w in m.warnings)


def test_check_before_update(fake_v1):
    m = make({})
    with pytest.raises(ConfigError, match="uses 8192 bytes"):
        m.update({"memory": {"limit": 4096, "checkBeforeUpdate": True}})
    m.update({"memory": {"limit": 4096}})
    assert read(m.paths["memory"], "memory.limit_in_bytes") == "4096"


def test_bad_type_names_json_path(fake_v1):
    with pytest.raises(ConfigError, match=r"linux\.resources\.memory\.limit must be an integer"):
        make({"memory": {"limit": "1G"}})


def test_cpu(fake_v1):
    m = make({"cpu": {"shares": 512, "quota": 50000, "period": 200000, "burst": 1000,
                      "cpus": "0-1", "mems": "0", "idle": 1}})
    p = m.paths["cpu"]
    assert read(p, "cpu.shares") == "512"
    assert read(p, "cpu.cfs_quota_us") == "50000"
    assert read(p, "cpu.cfs_period_us") == "200000"
    assert read(p, "cpu.cfs_burst_us") == "1000"
    assert read(p, "cpu.idle") == "1"
    assert read(m.paths["cpuset"], "cpuset.cpus") == "0-1"


def test_cpuset_inherits_parent(fake_v1):
    m = make({})
    assert read(m.paths["cpuset"], "cpuset.cpus") == "0-1"
    assert read(m.paths["cpuset"], "cpuset.mems") == "0"


def test_realtime_needs_kernel_support(fake_v1):
    m = without_file("cpu", "cpu.rt_runtime_us")
    with pytest.raises(ConfigError, match="RT_GROUP_SCHED"):
        m.create({"cpu": {"realtimeRuntime": 1000}})


def test_pids_blkio_hugetlb_network(fake_v1):
    m = make({"pids": {"limit": 100},
              "blockIO": {"weight": 300, "leafWeight": 20,
                          "weightDevice": [{"major": 8, "minor": 0, "weight": 500}],
                          "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1000}]},
              "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}],
              "network": {"classID": 0x100001, "priorities": [{"name": "eth0", "priority": 5}]}})
    assert read(m.paths["pids"], "pids.max") == "100"
    b = m.paths["blkio"]
    assert read(b, "blkio.bfq.weight") == "300"
    assert read(b, "blkio.bfq.weight_device") == "8:0 500"
    assert read(b, "blkio.throttle.read_bps_device") == "8:0 1000"
    assert any("leafWeight ignored" in w for w in m.warnings)
    assert read(m.paths["hugetlb"], "hugetlb.2MB.limit_in_bytes") == "4194304"
    assert read(m.paths["hugetlb"], "hugetlb.2MB.rsvd.limit_in_bytes") == "4194304"
    assert read(m.paths["net_cls"], "net_cls.classid") == str(0x100001)
    assert read(m.paths["net_prio"], "net_prio.ifpriomap") == "eth0 5"


def test_pids_unlimited(fake_v1):
    m = make({"pids": {"limit": -1}})
    assert read(m.paths["pids"], "pids.max") == "max"


@pytest.mark.parametrize("page", ["2M", "../x", "2MBB", ""])
def test_hugetlb_page_size_validated(fake_v1, page):
    with pytest.raises(ConfigError, match="pageSize"):
        make({"hugepageLimits": [{"pageSize": page, "limit": 1}]})


def test_unknown_huge_page_size(fake_v1):
    with pytest.raises(ConfigError, match="no 1GB huge pages"):
        make({"hugepageLimits": [{"pageSize": "1GB", "limit": 1}]})


def test_unified_on_v1_is_refused(fake_v1):
    with pytest.raises(ConfigError, match="no cgroup v2 hierarchy"):
        make({"unified": {"memory.high": "1000"}})


def test_freeze_and_thaw(fake_v1):
    m = make({})
    m.freeze()
    assert m.is_frozen()
    m.thaw()
    assert not m.is_frozen()


def test_hybrid_without_v1_freezer_uses_cgroup_freeze(fake_hybrid):
    m = new_manager("/c1", "c1")
    del m.paths["freezer"]
    m.create({})
    with open(m.paths[""] + "/cgroup.events", "w") as f:
        f.write("populated 1\nfrozen 1\n")  # what the kernel reports once frozen
    m.freeze()
    assert read(m.paths[""], "cgroup.freeze") == "1" and m.is_frozen()


def test_stats_shape(fake_v1):
    st = make({}).stats()
    assert st["cpu"]["usage"] == {"total": 5000, "kernel": 2 * 10**7, "user": 3 * 10**7,
                                  "percpu": [3000, 2000]}
    assert st["cpu"]["throttling"] == {"periods": 7, "throttledPeriods": 2, "throttledTime": 900}
    assert st["memory"]["usage"]["usage"] == 8192 and st["memory"]["usage"]["max"] == 16384
    assert st["memory"]["cache"] == 4096 and st["memory"]["raw"]["rss"] == 4096
    assert st["pids"] == {"current": 3}
    assert st["blkio"]["ioServiceBytesRecursive"] == [{"major": 8, "op": "Read", "value": 4096}]
    assert st["hugetlb"] == {"2MB": {"failcnt": 0}}
    assert st["cpuset"]["cpus"] == [0, 1]


def test_rootless_skips_unwritable(fake_v1, monkeypatch):
    real_mkdir = os.mkdir

    def deny_memory(path, mode=0o777, **kw):
        if "/memory/" in str(path):
            raise PermissionError(errno.EACCES, "Permission denied")
        real_mkdir(path, mode)
    monkeypatch.setattr(os, "mkdir", deny_memory)
    m = new_manager("/c1", "c1", rootless=True)
    m.create({})
    assert "memory" not in m.paths and any("rootless" in w for w in m.warnings)
    m2 = new_manager("/c2", "c2", rootless=True)
    with pytest.raises(ConfigError, match="need root or a delegated"):
        m2.create({"memory": {"limit": GB}})
