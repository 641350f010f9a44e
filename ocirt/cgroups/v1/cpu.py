"""v1 cpu controller: shares, CFS quota/period/burst, realtime, idle."""

from __future__ import annotations

from ocirt.cgroups.common import (
    Context,
    check_burst,
    exists,
    get_int,
    read_int,
    read_keyed,
    read_opt,
    section,
    set_optional,
    spec_error,
    write,
    write_burst_first,
)
from ocirt.errors import ConfigError

SPEC = "linux.resources.cpu"


def apply(path: str, res: dict, ctx: Context) -> None:
    cpu = section(res, "cpu")
    if not cpu:
        return
    shares = get_int(cpu, "shares", SPEC, 0)
    if shares:
        _set_shares(path, shares)
    current = int(read_opt(path, "cpu.cfs_quota_us") or -1)
    burst = check_burst(cpu, SPEC, current)
    write_burst_first(path, "cpu.cfs_burst_us", burst, SPEC, lambda: _set_cfs(path, cpu))
    _set_rt(path, cpu)
    set_optional(path, cpu, "idle", "cpu.idle", SPEC)


def _set_shares(path: str, shares: int) -> None:
    write(path, "cpu.shares", shares, SPEC + ".shares")
    # The kernel clamps silently to [2, 262144]: report it like runc does.
    actual = read_int(path, "cpu.shares")
    if actual != shares:
        raise spec_error(SPEC + ".shares", shares, f"the kernel set cpu.shares to {actual}",
                         "use a value between 2 and 262144")


def _set_cfs(path: str, cpu: dict) -> None:
    period = get_int(cpu, "period", SPEC, 0)
    quota = get_int(cpu, "quota", SPEC, -1)
    if period:
        try:
            write(path, "cpu.cfs_period_us", period, SPEC + ".period")
        except ConfigError:
            # A smaller period can conflict with the current quota: quota first.
            if not quota:
                raise
            write(path, "cpu.cfs_quota_us", quota, SPEC + ".quota")
    if quota:
        write(path, "cpu.cfs_quota_us", quota, SPEC + ".quota")


def _set_rt(path: str, cpu: dict) -> None:
    period = get_int(cpu, "realtimePeriod", SPEC, 0)
    runtime = get_int(cpu, "realtimeRuntime", SPEC, -1)
    if (period or runtime) and not exists(path, "cpu.rt_runtime_us"):
        raise ConfigError(f"cgroup: cannot apply {SPEC}.realtimeRuntime/realtimePeriod: the "
                          "kernel has no CONFIG_RT_GROUP_SCHED; remove them from config.json")
    if period:
        write(path, "cpu.rt_period_us", period, SPEC + ".realtimePeriod")
    if runtime:
        write(path, "cpu.rt_runtime_us", runtime, SPEC + ".realtimeRuntime")


def stats(path: str, st: dict) -> None:
    cpu_stat = read_keyed(path, "cpu.stat")
    throttling = st["cpu"]["throttling"]
    for key, src in (("periods", "nr_periods"), ("throttledPeriods", "nr_throttled"),
                     ("throttledTime", "throttled_time")):
        if cpu_stat.get(src):
            throttling[key] = cpu_stat[src]
