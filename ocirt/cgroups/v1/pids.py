"""pids controller (same files in v1 and v2)."""

from __future__ import annotations

from ocirt.cgroups.common import Context, get_int, read_int, section, write

SPEC = "linux.resources.pids"


def apply(path: str, res: dict, ctx: Context) -> None:
    limit = get_int(section(res, "pids"), "limit", SPEC)
    if limit:  # 0 means "not set", as in runc
        write(path, "pids.max", limit if limit > 0 else "max", SPEC + ".limit")


def stats(path: str, st: dict) -> None:
    pids = st["pids"]
    for key, fname in (("current", "pids.current"), ("limit", "pids.max")):
        value = read_int(path, fname)
        if value:
            pids[key] = value
