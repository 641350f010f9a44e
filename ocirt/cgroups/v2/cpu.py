"""v2 cpu controller: weight (from shares), cpu.max, burst, idle."""

from __future__ import annotations

from ocirt.cgroups.common import (
    Context,
    check_burst,
    get_int,
    read_keyed,
    read_opt,
    section,
    set_optional,
    write,
    write_burst_first,
)
from ocirt.errors import ConfigError

SPEC = "linux.resources.cpu"


def shares_to_weight(shares: int) -> int:
    """runc's mapping of v1 shares [2, 262144] onto v2 weight [1, 10000]."""
    if shares == 0:
        return 0
    return 1 + ((shares - 2) * 9999) // 262142


def apply(path: str, res: dict, ctx: Context) -> None:
    cpu = section(res, "cpu")
    if not cpu:
        return
    if get_int(cpu, "realtimeRuntime", SPEC) or get_int(cpu, "realtimePeriod", SPEC):
        raise ConfigError(f"cgroup: cannot apply {SPEC}.realtimeRuntime/realtimePeriod: cgroup v2 "
                          "has no realtime scheduling limits; remove them from config.json")
    shares = get_int(cpu, "shares", SPEC, 0)
    if shares:
        if not 2 <= shares <= 262144:
            raise ConfigError(f"cgroup: invalid {SPEC}.shares={shares}; use 2 to 262144")
        write(path, "cpu.weight", shares_to_weight(shares), SPEC + ".shares")
    current = (read_opt(path, "cpu.max") or "max").split()[0]
    burst = check_burst(cpu, SPEC, -1 if current == "max" else int(current))
    write_burst_first(path, "cpu.max.burst", burst, SPEC, lambda: _set_max(path, cpu))
    set_optional(path, cpu, "idle", "cpu.idle", SPEC)


def _set_max(path: str, cpu: dict) -> None:
    quota = get_int(cpu, "quota", SPEC, -1) or 0
    period = get_int(cpu, "period", SPEC, 0) or 0
    if not quota and not period:
        return
    # cpu.max holds both: an `update` of one keeps the other as it is
    cur_quota, cur_period = (read_opt(path, "cpu.max") or "max 100000").split()
    new_quota = str(quota) if quota > 0 else "max" if quota == -1 else cur_quota
    write(path, "cpu.max", f"{new_quota} {period or cur_period}", SPEC + ".quota/period")


def stats(path: str, st: dict) -> None:
    stat = read_keyed(path, "cpu.stat")
    usage = st["cpu"]["usage"]
    if stat.get("usage_usec"):
        usage["total"] = stat["usage_usec"] * 1000
    usage["kernel"] = stat.get("system_usec", 0) * 1000
    usage["user"] = stat.get("user_usec", 0) * 1000
    throttling = st["cpu"]["throttling"]
    for key, src, scale in (("periods", "nr_periods", 1), ("throttledPeriods", "nr_throttled", 1),
                            ("throttledTime", "throttled_usec", 1000)):
        if stat.get(src):
            throttling[key] = stat[src] * scale
