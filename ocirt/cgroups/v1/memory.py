"""v1 memory controller: limits, swap (memsw), kernel memory, OOM killer."""

from __future__ import annotations

from ocirt.cgroups.common import (
    Context,
    exists,
    get_int,
    read_int,
    read_keyed,
    read_opt,
    section,
    write,
)
from ocirt.errors import ConfigError, OcirtError

SPEC = "linux.resources.memory"
LIMIT = "memory.limit_in_bytes"
MEMSW = "memory.memsw.limit_in_bytes"


def apply(path: str, res: dict, ctx: Context) -> None:
    mem = section(res, "memory")
    if not mem:
        return
    limit = get_int(mem, "limit", SPEC, -1) or 0
    swap = get_int(mem, "swap", SPEC, -1) or 0
    if ctx.update and mem.get("checkBeforeUpdate") and limit > 0:
        check_usage(limit, read_int(path, "memory.usage_in_bytes"), SPEC + ".limit")
    _set_limit_and_swap(path, limit, swap, ctx)
    reservation = get_int(mem, "reservation", SPEC, -1)
    if reservation:
        write(path, "memory.soft_limit_in_bytes", reservation, SPEC + ".reservation")
    _set_kernel(path, mem, ctx)
    _set_flags(path, mem, ctx)


def check_usage(limit: int, usage: int, spec: str) -> None:
    if limit < usage:
        raise ConfigError(f"cgroup: cannot apply {spec}={limit}: the container uses {usage} bytes "
                          "now (checkBeforeUpdate is set); choose a larger limit")


def _set_limit_and_swap(path: str, limit: int, swap: int, ctx: Context) -> None:
    has_memsw = exists(path, MEMSW)
    if limit == -1 and swap == 0 and has_memsw:
        swap = -1  # unlimited memory means unlimited memory+swap too
    if swap and not has_memsw:
        if swap != -1:
            raise ConfigError(f"cgroup: cannot apply {SPEC}.swap={swap}: the kernel has no swap "
                              "accounting (boot with swapaccount=1) or remove memory.swap")
        ctx.warn(f"{SPEC}.swap ignored: the kernel has no swap accounting")
        swap = 0
    if limit and swap:
        # The kernel requires limit <= memsw at every moment: order the writes.
        current = read_int(path, LIMIT)
        if swap == -1 or current < swap:
            _write_swap(path, swap)
            _write_limit(path, limit)
        else:
            _write_limit(path, limit)
            _write_swap(path, swap)
    elif limit:
        _write_limit(path, limit)
    elif swap:
        _write_swap(path, swap)


def _write_limit(path: str, limit: int) -> None:
    write(path, LIMIT, limit, SPEC + ".limit")


def _write_swap(path: str, swap: int) -> None:
    write(path, MEMSW, swap, SPEC + ".swap")


def _set_kernel(path: str, mem: dict, ctx: Context) -> None:
    # The runtime spec deprecates kernel limits; newer kernels refuse them.
    for key, fname in (("kernel", "memory.kmem.limit_in_bytes"),
                       ("kernelTCP", "memory.kmem.tcp.limit_in_bytes")):
        value = get_int(mem, key, SPEC, -1)
        if not value:
            continue
        try:
            write(path, fname, value, f"{SPEC}.{key}")
        except OcirtError as e:
            reason = str(e).rsplit(": ", 1)[-1].split(";")[0]
            ctx.warn(f"{SPEC}.{key} ignored: the kernel does not support it ({reason})")
            continue
        # Linux >= 6.1 accepts memory.kmem.limit_in_bytes but ignores it.
        if value != -1 and read_int(path, fname) != value:
            ctx.warn(f"{SPEC}.{key} ignored: the kernel accepts but does not enforce {fname}")


def _set_flags(path: str, mem: dict, ctx: Context) -> None:
    swappiness = get_int(mem, "swappiness", SPEC, 0)
    if swappiness is not None:
        if swappiness > 100:
            raise ConfigError(f"cgroup: invalid {SPEC}.swappiness={swappiness}; use 0 to 100")
        write(path, "memory.swappiness", swappiness, SPEC + ".swappiness")
    oom = mem.get("disableOOMKiller")
    if oom is not None:
        write(path, "memory.oom_control", int(bool(oom)), SPEC + ".disableOOMKiller")
    hierarchy = mem.get("useHierarchy")
    if hierarchy is not None:
        _set_hierarchy(path, bool(hierarchy), ctx)


def _set_hierarchy(path: str, value: bool, ctx: Context) -> None:
    current = read_opt(path, "memory.use_hierarchy")
    if current == str(int(value)):
        return
    try:
        write(path, "memory.use_hierarchy", int(value), SPEC + ".useHierarchy")
    except ConfigError:
        if value:
            raise
        # Kernels >= 5.10 are always hierarchical and refuse 0.
        ctx.warn(f"{SPEC}.useHierarchy=false ignored: the kernel is always hierarchical")


def stats(path: str, st: dict) -> None:
    mem = st["memory"]
    for key, prefix in (("usage", "memory"), ("swap", "memory.memsw"),
                        ("kernel", "memory.kmem"), ("kernelTCP", "memory.kmem.tcp")):
        mem[key] = _entry(path, prefix)
    raw = read_keyed(path, "memory.stat")
    mem["raw"] = raw
    if raw.get("cache"):
        mem["cache"] = raw["cache"]


def _entry(path: str, prefix: str) -> dict:
    entry = {"limit": read_int(path, prefix + ".limit_in_bytes"),
             "failcnt": read_int(path, prefix + ".failcnt")}
    usage = read_int(path, prefix + ".usage_in_bytes")
    peak = read_int(path, prefix + ".max_usage_in_bytes")
    if usage:
        entry["usage"] = usage
    if peak:
        entry["max"] = peak
    return entry


def oom_kills(path: str) -> int:
    """The oom_kill counter of memory.oom_control (kernel >= 4.13)."""
    for line in (read_opt(path, "memory.oom_control") or "").splitlines():
        key, _, val = line.partition(" ")
        if key == "oom_kill":
            return int(val)
    return 0

