"""v2 memory controller: memory.max/low/swap.max, with runc's conversions."""

from __future__ import annotations

from ocirt.cgroups.common import (
    Context,
    exists,
    get_int,
    parse_uint,
    read_int,
    read_keyed,
    read_opt,
    section,
    write,
)
from ocirt.cgroups.v1.memory import check_usage
from ocirt.errors import ConfigError

SPEC = "linux.resources.memory"
MAX_UINT64 = 2**64 - 1


def v2_value(value: int) -> str:
    return "max" if value == -1 else str(value)


def swap_to_v2(swap: int, limit: int) -> int:
    """v1's memory+swap limit -> v2's swap-only limit (0 = unset, -1 = max)."""
    if limit == -1 and swap == 0:
        return -1  # unlimited memory without a swap value: unlimited swap too
    if swap in (-1, 0):
        return swap
    if limit in (0, -1):
        raise ConfigError(f"cgroup: cannot apply {SPEC}.swap={swap} without a memory.limit; "
                          "set linux.resources.memory.limit too")
    if swap < limit:
        raise ConfigError(f"cgroup: invalid {SPEC}.swap={swap}: it counts memory plus swap and "
                          f"must be at least memory.limit={limit}")
    return swap - limit


def apply(path: str, res: dict, ctx: Context) -> None:
    mem = section(res, "memory")
    if not mem:
        return
    limit = get_int(mem, "limit", SPEC, -1) or 0
    v1_swap = get_int(mem, "swap", SPEC, -1) or 0
    swap = swap_to_v2(v1_swap, limit)
    if ctx.update and mem.get("checkBeforeUpdate") and limit > 0:
        check_usage(limit, read_int(path, "memory.current"), SPEC + ".limit")
    if swap or v1_swap > 0:  # swap == limit: no swap at all, swap.max 0
        _set_swap(path, swap, ctx)
    if limit:
        write(path, "memory.max", v2_value(limit), SPEC + ".limit")
    reservation = get_int(mem, "reservation", SPEC, -1)
    if reservation:
        write(path, "memory.low", v2_value(reservation), SPEC + ".reservation")
    _warn_v1_only(mem, ctx)


def _set_swap(path: str, swap: int, ctx: Context) -> None:
    if exists(path, "memory.swap.max"):
        write(path, "memory.swap.max", v2_value(swap), SPEC + ".swap")
    elif swap == -1:
        ctx.warn(f"{SPEC}.swap ignored: the kernel has no swap accounting")
    else:
        raise ConfigError(f"cgroup: cannot apply {SPEC}.swap: the kernel has no swap "
                          "accounting (memory.swap.max is missing); remove memory.swap")


def _warn_v1_only(mem: dict, ctx: Context) -> None:
    """Fields cgroup v2 has no file for; the spec allows ignoring them."""
    for key in ("kernel", "kernelTCP", "swappiness"):
        if mem.get(key) not in (None, 0) or key == "swappiness" and mem.get(key) is not None:
            ctx.warn(f"{SPEC}.{key} ignored: cgroup v2 has no such setting")
    if mem.get("disableOOMKiller"):
        ctx.warn(f"{SPEC}.disableOOMKiller ignored: cgroup v2 cannot disable the OOM killer")


def stats(path: str, st: dict) -> None:
    mem = st["memory"]
    raw = read_keyed(path, "memory.stat")
    mem["raw"] = raw
    if raw.get("file"):
        mem["cache"] = raw["file"]
    events = read_keyed(path, "memory.events")
    mem["usage"] = _entry(read_opt(path, "memory.current"), read_opt(path, "memory.max"),
                          read_opt(path, "memory.peak"), events.get("max", 0))
    usage = parse_uint(read_opt(path, "memory.current"))
    swap = read_opt(path, "memory.swap.current")
    if swap is not None:
        # runc reports v1-style memory+swap figures; a combined peak is unknown
        entry = _entry(swap, read_opt(path, "memory.swap.max"), None, 0)
        entry["usage"] = entry.get("usage", 0) + usage
        if entry["limit"] != MAX_UINT64:
            entry["limit"] = min(entry["limit"] + mem["usage"]["limit"], MAX_UINT64)
        mem["swap"] = entry


def _entry(current: str | None, limit: str | None, peak: str | None, failcnt: int) -> dict:
    entry = {"limit": MAX_UINT64 if limit == "max" else parse_uint(limit), "failcnt": failcnt}
    if parse_uint(current):
        entry["usage"] = parse_uint(current)
    if parse_uint(peak):
        entry["max"] = parse_uint(peak)
    return entry


def oom_kills(path: str) -> int:
    return read_keyed(path, "memory.events").get("oom_kill", 0)
