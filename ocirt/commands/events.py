"""events: runc's JSON events — stats once (--stats) or a stream with OOMs.

Each line is {"type": "stats"|"oom", "id": ..., "data": {...}}, the shape
containerd's runc shim decodes.
"""
from __future__ import annotations

from .. import jsonio as json
import sys
import time

from ..errors import ConfigError, OcirtError
from . import load


def _interval(text: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    for suffix in ("ms", "s", "m", "h"):
        if text.endswith(suffix) and text[: -len(suffix)].replace(".", "", 1).isdigit():
            value = float(text[: -len(suffix)]) * units[suffix]
            if value > 0:
                return value
    raise ConfigError(f"events: invalid --interval {text!r}: use a duration such as 5s or 500ms")


def _emit(kind: str, cid: str, data: dict | None = None) -> None:
    event = {"type": kind, "id": cid}
    if data is not None:
        event["data"] = data
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def main(ctx, parsed) -> int:
    ct = load(ctx, parsed)
    interval = _interval(parsed.flags["interval"])
    if ct.status() == "stopped":
        raise OcirtError("container not running")
    mgr = ct.cgroup()
    if parsed.flags["stats"]:
        _emit("stats", ct.id, mgr.stats())
        return 0
    watch = mgr.oom_events()
    try:
        next_stats = time.monotonic()
        while ct.status() != "stopped":
            now = time.monotonic()
            if now >= next_stats:
                _emit("stats", ct.id, mgr.stats())
                next_stats = now + interval
            for _ in range(watch.wait(min(1.0, max(0.0, next_stats - time.monotonic())))):
                _emit("oom", ct.id)
    finally:
        watch.close()
    return 0
