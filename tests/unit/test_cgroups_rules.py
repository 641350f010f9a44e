"""config-linux.md cgroup rules on the fake file system: CPU burst against
quota (v1 and v2 writers, with the kernel's ordering constraint simulated),
weightDevice and rdma entries that must carry a limit, and unified keys
ocirt knows nothing about."""

from __future__ import annotations

import pytest
import test_cgroups_fakefs as fakefs

import ocirt.cgroups.v2.cpu as v2_cpu
from ocirt.cgroups import common, new_manager
from ocirt.errors import ConfigError

fake_v1 = fakefs.fake_v1
fake_v2 = fakefs.fake_v2
read = fakefs.read


def make(res: dict):
    m = new_manager("/c1", "c1")
    m.create(res)
    return m


@pytest.fixture
def strict_v2_kernel(fake_v2, monkeypatch):
    """Refuse what the kernel refuses: a cpu.max.burst above the quota in
    cpu.max, or a cpu.max quota below the current burst."""
    real = common.write

    def write(path, name, value, spec=None):
        quota = read(path, "cpu.max").split()[0] if name.startswith("cpu.max") else "max"
        burst = int(read(path, "cpu.max.burst")) if name == "cpu.max" else 0
        new_quota = str(value).split()[0] if name == "cpu.max" else quota
        if (name == "cpu.max.burst" and quota != "max" and int(value) > int(quota)) or \
                (name == "cpu.max" and new_quota != "max" and burst > int(new_quota)):
            raise ConfigError(f"EINVAL writing {value} to {name}")
        real(path, name, value, spec)

    monkeypatch.setattr(common, "write", write)
    monkeypatch.setattr(v2_cpu, "write", write)
    return fake_v2


def test_v2_quota_and_burst(strict_v2_kernel):
    m = make({"cpu": {"quota": 50000, "period": 100000, "burst": 20000}})
    assert read(m.path, "cpu.max") == "50000 100000"
    assert read(m.path, "cpu.max.burst") == "20000"


@pytest.mark.parametrize("res", [{"cpu": {"quota": 50000, "burst": 60000}},
                                 {"cpu": {"quota": 1, "period": 100000, "burst": 2}}])
def test_v2_burst_above_quota_is_refused(strict_v2_kernel, res):
    with pytest.raises(ConfigError, match=r"cpu\.burst=\d+: larger than the quota"):
        make(res)


def test_v2_update_orders_burst_and_quota(strict_v2_kernel):
    m = make({"cpu": {"quota": 50000, "burst": 40000}})
    m.update({"cpu": {"quota": 20000, "burst": 10000}})  # burst must go first
    assert (read(m.path, "cpu.max"), read(m.path, "cpu.max.burst")) == ("20000 100000", "10000")
    m.update({"cpu": {"quota": 80000, "burst": 60000}})  # quota must go first
    assert (read(m.path, "cpu.max"), read(m.path, "cpu.max.burst")) == ("80000 100000", "60000")


def test_v2_burst_alone_is_checked_against_the_current_quota(strict_v2_kernel):
    m = make({"cpu": {"quota": 30000}})
    with pytest.raises(ConfigError, match="larger than the quota 30000"):
        m.update({"cpu": {"burst": 40000}})
    m.update({"cpu": {"quota": -1}})
    m.update({"cpu": {"burst": 40000}})  # no quota: nothing to exceed
    assert read(m.path, "cpu.max.burst") == "40000"


def test_v1_burst_above_quota_is_refused(fake_v1):
    with pytest.raises(ConfigError, match="larger than the quota 50000"):
        make({"cpu": {"quota": 50000, "burst": 50001}})


def test_v1_burst_equal_to_quota_is_fine(fake_v1):
    m = make({"cpu": {"quota": 50000, "burst": 50000}})
    assert read(m.paths["cpu"], "cpu.cfs_burst_us") == "50000"


@pytest.mark.parametrize("fixture", ["fake_v1", "fake_v2"])
def test_weight_device_without_a_weight_is_refused(request, fixture):
    request.getfixturevalue(fixture)
    with pytest.raises(ConfigError, match=r"weightDevice\[0\]: give weight or leafWeight"):
        make({"blockIO": {"weightDevice": [{"major": 8, "minor": 0}]}})


def test_rdma_entry_without_a_limit_is_refused(fake_v2):
    with pytest.raises(ConfigError, match=r"rdma\['mlx5_1'\]: give hcaHandles or hcaObjects"):
        make({"rdma": {"mlx5_1": {}}})


def test_rdma_limits_written(fake_v2):
    m = make({"rdma": {"mlx4_0": {"hcaObjects": 1000}}})
    assert read(m.path, "rdma.max") == "mlx4_0 hca_object=1000"


def test_unified_key_unknown_to_ocirt_is_written(monkeypatch, request):
    """A file a newer kernel has and ocirt has never heard of."""
    monkeypatch.setitem(fakefs.V2_FILES, "memory.zswap.writeback", "1")
    request.getfixturevalue("fake_v2")
    m = make({"unified": {"memory.zswap.writeback": "0"}})
    assert read(m.path, "memory.zswap.writeback") == "0"
