"""v2 io controller: blockIO weights and throttles in io.weight / io.max."""

from __future__ import annotations

from ocirt.cgroups.common import (
    Context,
    device_key,
    exists,
    get_int,
    read_opt,
    require_one,
    section,
    write,
)
from ocirt.errors import ConfigError

SPEC = "linux.resources.blockIO"
THROTTLES = (("throttleReadBpsDevice", "rbps"), ("throttleWriteBpsDevice", "wbps"),
             ("throttleReadIOPSDevice", "riops"), ("throttleWriteIOPSDevice", "wiops"))
STATS = (("ioServiceBytesRecursive", {"rbytes": "Read", "wbytes": "Write"}),
         ("ioServicedRecursive", {"rios": "Read", "wios": "Write"}))


def blkio_to_io_weight(weight: int) -> int:
    """runc's mapping of blkio weight [10, 1000] onto io.weight [1, 10000]."""
    if weight == 0:
        return 0
    return 1 + (weight - 10) * 9999 // 990


def apply(path: str, res: dict, ctx: Context) -> None:
    bio = section(res, "blockIO")
    if not bio:
        return
    weight = get_int(bio, "weight", SPEC, 0)
    if weight:
        _set_weight(path, "", weight, SPEC + ".weight")
    if bio.get("leafWeight"):
        ctx.warn(f"{SPEC}.leafWeight ignored: cgroup v2 has no leaf weights")
    for i, dev in enumerate(bio.get("weightDevice") or []):
        spec = f"{SPEC}.weightDevice[{i}]"
        key = device_key(dev, spec)
        require_one(dev, ("weight", "leafWeight"), spec)
        if get_int(dev, "weight", spec, 0):
            _set_weight(path, key + " ", dev["weight"], spec + ".weight")
        if dev.get("leafWeight"):
            ctx.warn(f"{spec}.leafWeight ignored: cgroup v2 has no leaf weights")
    for key, name in THROTTLES:
        for i, dev in enumerate(bio.get(key) or []):
            spec = f"{SPEC}.{key}[{i}]"
            rate = get_int(dev, "rate", spec, 0) or 0
            write(path, "io.max", f"{device_key(dev, spec)} {name}={rate or 'max'}", spec + ".rate")


def _set_weight(path: str, device: str, weight: int, spec: str) -> None:
    if not 10 <= weight <= 1000:
        raise ConfigError(f"cgroup: invalid {spec}={weight}; use 10 to 1000")
    # BFQ takes blkio-style weights as they are; io.weight wants the mapping.
    if exists(path, "io.bfq.weight"):
        write(path, "io.bfq.weight", f"{device}{weight}", spec)
    else:
        prefix = device or "default "
        write(path, "io.weight", f"{prefix}{blkio_to_io_weight(weight)}", spec)


def stats(path: str, st: dict) -> None:
    blkio = st["blkio"]
    for line in (read_opt(path, "io.stat") or "").splitlines():
        dev, *fields = line.split()
        major, minor = (int(x) for x in dev.split(":"))
        values = dict(f.split("=", 1) for f in fields if "=" in f)
        for key, ops in STATS:
            for field, op in ops.items():
                entry = {"major": major, "minor": minor, "op": op, "value": int(values.get(field, 0))}
                blkio.setdefault(key, []).append({k: v for k, v in entry.items() if v})
