"""v1 cpuacct controller: CPU usage statistics only."""

from __future__ import annotations

import os

from ocirt.cgroups.common import Context, read_int, read_keyed, read_opt

# cpuacct.stat counts USER_HZ ticks; runc reports nanoseconds.
NS_PER_TICK = 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def apply(path: str, res: dict, ctx: Context) -> None:
    """Nothing to set: cpuacct only accounts."""


def stats(path: str, st: dict) -> None:
    usage = st["cpu"]["usage"]
    total = read_int(path, "cpuacct.usage")
    if total:
        usage["total"] = total
    ticks = read_keyed(path, "cpuacct.stat")
    usage["kernel"] = ticks.get("system", 0) * NS_PER_TICK
    usage["user"] = ticks.get("user", 0) * NS_PER_TICK
    for key, fname in (("percpu", "cpuacct.usage_percpu"),
                       ("percpu_kernel", "cpuacct.usage_percpu_sys"),
                       ("percpu_user", "cpuacct.usage_percpu_user")):
        values = (read_opt(path, fname) or "").split()
        if values:
            usage[key] = [int(v) for v in values]
