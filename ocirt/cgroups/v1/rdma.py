"""rdma controller (same file in v1 and v2): per device HCA limits."""

from __future__ import annotations

from ocirt.cgroups.common import Context, get_int, require_one, write
from ocirt.errors import ConfigError

SPEC = "linux.resources.rdma"


def apply(path: str, res: dict, ctx: Context) -> None:
    rdma = res.get("rdma") or {}
    for device, limits in rdma.items():
        spec = f"{SPEC}[{device!r}]"
        if not device or any(c.isspace() for c in device) or not isinstance(limits, dict):
            raise ConfigError(f"cgroup: invalid {spec}; use a device name and an object of limits")
        require_one(limits, ("hcaHandles", "hcaObjects"), spec)
        parts = [device]
        for key, name in (("hcaHandles", "hca_handle"), ("hcaObjects", "hca_object")):
            value = get_int(limits, key, spec, 0)
            if value is not None:
                parts.append(f"{name}={value}")
        if len(parts) > 1:
            write(path, "rdma.max", " ".join(parts), spec)
