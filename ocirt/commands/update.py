"""update: change a running container's resources (runc's flags or --resources)."""
from __future__ import annotations

from .. import jsonio as json
import sys

from ..errors import ConfigError, OcirtError
from . import load

# flag: (section, key, parse)  — zero means "unchanged", as Docker sends it
FLAGS = {
    "memory": ("memory", "limit"), "memory_reservation": ("memory", "reservation"),
    "memory_swap": ("memory", "swap"), "kernel_memory": ("memory", "kernel"),
    "kernel_memory_tcp": ("memory", "kernelTCP"), "cpu_shares": ("cpu", "shares"),
    "cpu_quota": ("cpu", "quota"), "cpu_period": ("cpu", "period"), "cpu_burst": ("cpu", "burst"),
    "cpu_rt_runtime": ("cpu", "realtimeRuntime"), "cpu_rt_period": ("cpu", "realtimePeriod"),
    "cpuset_cpus": ("cpu", "cpus"), "cpuset_mems": ("cpu", "mems"),
    "pids_limit": ("pids", "limit"), "blkio_weight": ("blockIO", "weight"),
}
STRINGS = ("cpuset_cpus", "cpuset_mems")
SIZE_UNITS = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def _number(flag: str, text: str) -> int:
    t = text.strip().lower().rstrip("b")
    mult = 1
    if t and t[-1] in SIZE_UNITS and flag.startswith(("memory", "kernel")):
        mult, t = SIZE_UNITS[t[-1]], t[:-1]
    try:
        return int(t) * mult
    except ValueError:
        raise ConfigError(f"update: invalid value {text!r} for --{flag.replace('_', '-')}") from None


def from_flags(flags: dict) -> dict:
    res: dict = {}
    for flag, (section, key) in FLAGS.items():
        text = flags.get(flag)
        if text is None:
            continue
        value = text if flag in STRINGS else _number(flag, text)
        if value in (0, ""):
            continue
        res.setdefault(section, {})[key] = value
    return res


def _read_resources(path: str) -> dict:
    try:
        raw = sys.stdin.read() if path == "-" else open(path).read()
        res = json.loads(raw)
    except (OSError, ValueError) as e:
        raise ConfigError(f"update: --resources {path}: {e}") from None
    if not isinstance(res, dict):
        raise ConfigError(f"update: --resources {path}: expected a JSON object (linux.resources)")
    return res


def main(ctx, parsed) -> int:
    ct = load(ctx, parsed)
    ct.lock()
    if ct.status() == "stopped":
        raise OcirtError("container not running")
    f = parsed.flags
    if f["l3_cache_schema"] or f["mem_bw_schema"]:
        raise ConfigError("update: Intel RDT is not supported by ocirt")
    res = _read_resources(f["resources"]) if f["resources"] else from_flags(f)
    ct.cgroup().update(res)
    linux = ct.record.setdefault("config", {}).setdefault("linux", {})
    merged = linux.setdefault("resources", {})
    for section, values in res.items():
        if isinstance(values, dict) and isinstance(merged.get(section), dict):
            merged[section].update(values)
        else:
            merged[section] = values
    ct.save()
    return 0
