"""cgroup v2 resources on the fake file system: runc's v1 -> v2 conversions,
controller enabling, unified keys, warnings and errors."""

from __future__ import annotations

import os

import pytest
import test_cgroups_fakefs as fakefs

from ocirt.cgroups import new_manager
from ocirt.cgroups.v2.cpu import shares_to_weight
from ocirt.cgroups.v2.io import blkio_to_io_weight
from ocirt.cgroups.v2.memory import swap_to_v2
from ocirt.errors import ConfigError

fake_v2 = fakefs.fake_v2
read = fakefs.read

GB = 1 << 30


def make(res: dict, path: str = "/c1"):
    m = new_manager(path, "c1")
    m.create(res)
    return m


@pytest.mark.parametrize("shares, weight", [(2, 1), (1024, 39), (262144, 10000), (0, 0)])
def test_shares_to_weight(shares, weight):
    assert shares_to_weight(shares) == weight


@pytest.mark.parametrize("blkio, io", [(10, 1), (500, 4950), (1000, 10000)])
def test_blkio_weight_to_io_weight(blkio, io):
    assert blkio_to_io_weight(blkio) == io


@pytest.mark.parametrize("swap, limit, v2", [(0, 0, 0), (-1, GB, -1), (0, -1, -1),
                                             (2 * GB, GB, GB), (GB, GB, 0)])
def test_swap_conversion(swap, limit, v2):
    assert swap_to_v2(swap, limit) == v2


@pytest.mark.parametrize("swap, limit, msg", [(GB, 0, "without a memory.limit"),
                                              (GB, 2 * GB, "at least memory.limit")])
def test_swap_conversion_errors(swap, limit, msg):
    with pytest.raises(ConfigError, match=msg):
        swap_to_v2(swap, limit)


def test_enables_controllers_in_ancestors(fake_v2):
    m = make({}, "/a/b/c1")
    for d in (fake_v2.root, f"{fake_v2.root}/a", f"{fake_v2.root}/a/b"):
        # the fake keeps only the last "+ctrl" written
        assert read(d, "cgroup.subtree_control").startswith("+")
    assert m.created == [f"{fake_v2.root}/a", f"{fake_v2.root}/a/b", f"{fake_v2.root}/a/b/c1"]
    m.destroy()
    assert not os.path.exists(f"{fake_v2.root}/a")


def test_memory(fake_v2):
    m = make({"memory": {"limit": GB, "swap": 3 * GB, "reservation": GB // 2,
                         "kernel": GB, "swappiness": 10}})
    assert read(m.path, "memory.max") == str(GB)
    assert read(m.path, "memory.swap.max") == str(2 * GB)
    assert read(m.path, "memory.low") == str(GB // 2)
    assert any("kernel ignored" in w for w in m.warnings)
    assert any("swappiness ignored" in w for w in m.warnings)


def test_swap_equal_to_limit_disables_swap(fake_v2):
    m = make({"memory": {"limit": GB, "swap": GB}})
    assert read(m.path, "memory.swap.max") == "0"


def test_idle_zero_on_old_kernel(fake_v2):
    m = new_manager("/c1", "c1")
    os.makedirs(m.path)
    os.unlink(f"{m.path}/cpu.idle")
    m.create({"cpu": {"idle": 0}})
    with pytest.raises(ConfigError, match=r"cpu\.idle"):
        m.update({"cpu": {"idle": 1}})


def test_memory_unlimited(fake_v2):
    m = make({"memory": {"limit": -1}})
    assert read(m.path, "memory.max") == "max"
    assert read(m.path, "memory.swap.max") == "max"


def test_cpu(fake_v2):
    m = make({"cpu": {"shares": 1024, "quota": 50000, "period": 100000, "burst": 10,
                      "idle": 0, "cpus": "1", "mems": "0"}})
    assert read(m.path, "cpu.weight") == "39"
    assert read(m.path, "cpu.max") == "50000 100000"
    assert read(m.path, "cpu.max.burst") == "10"
    assert read(m.path, "cpuset.cpus") == "1"


def test_cpu_max_update_keeps_the_other_half(fake_v2):
    m = make({"cpu": {"quota": 20000}})
    assert read(m.path, "cpu.max") == "20000 100000"
    m.update({"cpu": {"period": 50000}})
    assert read(m.path, "cpu.max") == "20000 50000"
    m.update({"cpu": {"quota": -1}})
    assert read(m.path, "cpu.max") == "max 50000"


def test_realtime_is_refused(fake_v2):
    with pytest.raises(ConfigError, match="no realtime"):
        make({"cpu": {"realtimeRuntime": 100}})


def test_io_pids_hugetlb_rdma(fake_v2):
    m = make({"blockIO": {"weight": 500, "weightDevice": [{"major": 8, "minor": 16, "weight": 10}],
                          "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 50}]},
              "pids": {"limit": 32},
              "hugepageLimits": [{"pageSize": "2MB", "limit": 2097152}],
              "rdma": {"mlx5_1": {"hcaHandles": 3, "hcaObjects": 10}}})
    assert read(m.path, "io.weight") == "8:16 1"  # the fake keeps the last line
    assert read(m.path, "io.max") == "8:0 wiops=50"
    assert read(m.path, "pids.max") == "32"
    assert read(m.path, "hugetlb.2MB.max") == "2097152"
    assert read(m.path, "hugetlb.2MB.rsvd.max") == "2097152"
    assert read(m.path, "rdma.max") == "mlx5_1 hca_handle=3 hca_object=10"


def test_network_is_ignored_with_warning(fake_v2):
    m = make({"network": {"classID": 1}})
    assert any("network" in w for w in m.warnings)


def test_unified(fake_v2):
    m = make({"memory": {"limit": GB}, "unified": {"memory.max": "12345", "cpu.weight": "7"}})
    assert read(m.path, "memory.max") == "12345"  # raw keys win
    assert read(m.path, "cpu.weight") == "7"


@pytest.mark.parametrize("key", ["../memory.max", "a/b", "cgroup.procs", "", ".."])
def test_unified_rejects_paths(fake_v2, key):
    with pytest.raises(ConfigError, match="invalid linux.resources.unified key"):
        make({"unified": {key: "1"}})


def test_unified_missing_file_names_controller(fake_v2):
    with pytest.raises(ConfigError, match="misc controller is not available"):
        make({"unified": {"misc.max": "x 1"}})
    assert not os.path.exists(f"{fake_v2.root}/c1")


def test_unavailable_controller(fake_v2):
    with open(f"{fake_v2.root}/cgroup.controllers", "w") as f:
        f.write("cpu memory")
    with pytest.raises(ConfigError, match=r"linux\.resources\.pids: the pids controller is not available"):
        make({"pids": {"limit": 5}})


def test_devices_rules_passed_to_ebpf(fake_v2):
    make({"devices": [{"allow": False, "access": "rwm"}]}, "/c1")
    rules = fake_v2.device_rules[0]
    assert rules[0].allow is False and rules[0].type == "a"
    assert any(r.major == 136 for r in rules)


def test_freeze(fake_v2):
    m = make({})
    with open(f"{m.path}/cgroup.events", "w") as f:
        f.write("populated 1\nfrozen 1\n")  # what the kernel reports once frozen
    m.freeze()
    assert read(m.path, "cgroup.freeze") == "1"
    assert m.is_frozen()


def test_stats(fake_v2):
    st = make({}).stats()
    assert st["cpu"]["usage"] == {"total": 7000, "user": 4000, "kernel": 3000}
    assert st["cpu"]["throttling"] == {"periods": 5, "throttledPeriods": 1, "throttledTime": 2000}
    mem = st["memory"]
    assert mem["usage"] == {"usage": 8192, "max": 16384, "limit": 2**64 - 1, "failcnt": 2}
    assert mem["swap"]["usage"] == 8192 + 4096 and mem["swap"]["limit"] == 2**64 - 1
    assert mem["cache"] == 4096 and mem["raw"]["anon"] == 4096
    assert st["pids"] == {"current": 2}
    assert st["blkio"]["ioServiceBytesRecursive"] == [
        {"major": 8, "op": "Read", "value": 10}, {"major": 8, "op": "Write", "value": 20}]
    assert st["hugetlb"] == {"2MB": {"failcnt": 0}}
    assert st["cpuset"]["cpus"] == [0, 1] and st["cpuset"]["mems"] == [0]
    assert st["cpuset"]["sched_load_balance"] == 0  # Go prints the zero
    assert st["cpu"]["psi"] == {"some": {"avg10": 1.5, "avg60": 0.0, "avg300": 0.0, "total": 42}}
    assert "psi" not in st["memory"]
    assert "kernelTCP" not in st["memory"]  # all zero: omitted like runc's omitzero
