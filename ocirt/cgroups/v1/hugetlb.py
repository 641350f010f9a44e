"""v1 hugetlb controller: per page size limits (and reservations)."""

from __future__ import annotations

import os

from ocirt.cgroups.common import Context, exists, get_int, parse_size, read_int, write
from ocirt.errors import ConfigError

SPEC = "linux.resources.hugepageLimits"


def apply(path: str, res: dict, ctx: Context) -> None:
    apply_limits(path, res, "hugetlb.{}.limit_in_bytes", "hugetlb.{}.rsvd.limit_in_bytes")


def apply_limits(path: str, res: dict, limit_file: str, rsvd_file: str) -> None:
    """Shared by v1 and v2, which only differ in the file names."""
    for i, entry in enumerate(res.get("hugepageLimits") or []):
        spec = f"{SPEC}[{i}]"
        size = parse_size(str(entry.get("pageSize", "")), spec + ".pageSize")
        fname = limit_file.format(size)
        if not exists(path, fname):
            raise ConfigError(f"cgroup: cannot apply {spec}: the host has no {size} huge pages "
                              f"or no hugetlb controller ({path}/{fname} is missing); remove the entry")
        limit = get_int(entry, "limit", spec, 0) or 0
        write(path, fname, limit, spec + ".limit")
        # Limit reservations too, so that mmap fails instead of a later SIGBUS.
        if exists(path, rsvd_file.format(size)):
            write(path, rsvd_file.format(size), limit, spec + ".limit")


def stats(path: str, st: dict) -> None:
    for name in _sizes(path):
        entry = {"failcnt": read_int(path, f"hugetlb.{name}.failcnt")}
        for key, suffix in (("usage", "usage_in_bytes"), ("max", "max_usage_in_bytes")):
            value = read_int(path, f"hugetlb.{name}.{suffix}")
            if value:
                entry[key] = value
        st["hugetlb"][name] = entry


def _sizes(path: str) -> list[str]:
    return sorted({f.split(".")[1] for f in os.listdir(path)
                   if f.startswith("hugetlb.") and f.endswith(".limit_in_bytes") and ".rsvd." not in f})
