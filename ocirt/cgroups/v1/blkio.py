"""v1 blkio controller: weights (CFQ or BFQ files) and throttling."""

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

SPEC = "linux.resources.blockIO"
THROTTLES = (("throttleReadBpsDevice", "blkio.throttle.read_bps_device"),
             ("throttleWriteBpsDevice", "blkio.throttle.write_bps_device"),
             ("throttleReadIOPSDevice", "blkio.throttle.read_iops_device"),
             ("throttleWriteIOPSDevice", "blkio.throttle.write_iops_device"))
# runc's stats names -> file suffix; CFQ has them all, BFQ and throttle only two.
STAT_FILES = (("ioServiceBytesRecursive", "io_service_bytes_recursive"),
              ("ioServicedRecursive", "io_serviced_recursive"),
              ("ioQueueRecursive", "io_queued_recursive"),
              ("ioServiceTimeRecursive", "io_service_time_recursive"),
              ("ioWaitTimeRecursive", "io_wait_time_recursive"),
              ("ioMergedRecursive", "io_merged_recursive"),
              ("ioTimeRecursive", "time_recursive"),
              ("sectorsRecursive", "sectors_recursive"))


def apply(path: str, res: dict, ctx: Context) -> None:
    bio = section(res, "blockIO")
    if not bio:
        return
    # Without CFQ (kernels >= 5.0) weights live in BFQ's files.
    prefix = "blkio." if exists(path, "blkio.weight") else "blkio.bfq."
    weight = get_int(bio, "weight", SPEC, 0)
    if weight:
        write(path, prefix + "weight", weight, SPEC + ".weight")
    leaf = get_int(bio, "leafWeight", SPEC, 0)
    if leaf:
        _write_leaf(path, "blkio.leaf_weight", leaf, SPEC + ".leafWeight", ctx)
    for i, dev in enumerate(bio.get("weightDevice") or []):
        spec = f"{SPEC}.weightDevice[{i}]"
        key = device_key(dev, spec)
        require_one(dev, ("weight", "leafWeight"), spec)
        if get_int(dev, "weight", spec, 0):
            write(path, prefix + "weight_device", f"{key} {dev['weight']}", spec + ".weight")
        if get_int(dev, "leafWeight", spec, 0):
            _write_leaf(path, "blkio.leaf_weight_device", f"{key} {dev['leafWeight']}",
                        spec + ".leafWeight", ctx)
    for key, fname in THROTTLES:
        for i, dev in enumerate(bio.get(key) or []):
            spec = f"{SPEC}.{key}[{i}]"
            rate = get_int(dev, "rate", spec, 0)
            write(path, fname, f"{device_key(dev, spec)} {rate or 0}", spec + ".rate")


def _write_leaf(path: str, fname: str, value: object, spec: str, ctx: Context) -> None:
    # Leaf weights died with CFQ; the spec lets us ignore them.
    if exists(path, fname):
        write(path, fname, value, spec)
    else:
        ctx.warn(f"{spec} ignored: the kernel's I/O scheduler has no leaf weights")


def stats(path: str, st: dict) -> None:
    blkio = st["blkio"]
    for prefix in ("blkio.", "blkio.bfq.", "blkio.throttle."):
        if exists(path, prefix + "io_serviced_recursive"):
            break
    for key, suffix in STAT_FILES:
        entries = parse_entries(read_opt(path, prefix + suffix) or "")
        if entries:
            blkio[key] = entries


def parse_entries(text: str) -> list[dict]:
    """'8:0 Read 4096' lines -> runc BlkioEntry objects (zero fields omitted)."""
    out = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 2 or ":" not in fields[0]:
            continue  # the 'Total N' line
        major, minor = fields[0].split(":")
        op, value = (fields[1], fields[2]) if len(fields) == 3 else ("", fields[1])
        entry = {"major": int(major), "minor": int(minor), "op": op, "value": int(value)}
        out.append({k: v for k, v in entry.items() if v})
    return out
