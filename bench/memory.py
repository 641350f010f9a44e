"""Memory held by a created-but-not-started container.

The container's init (the pid `state` reports) is waiting for `start`; some
runtimes also leave a process of their own parked next to it (a monitor or
shim).  Those are found as processes that appeared during `create` and are
either ancestors of the init or name the container id / state root on their
command line.
"""
from __future__ import annotations

import os

KIB_PER_MIB = 1024.0


def status_fields(pid: int) -> dict[str, str]:
    try:
        with open(f"/proc/{pid}/status") as fh:
            return dict(line.rstrip("\n").split(":\t", 1) for line in fh if ":\t" in line)
    except OSError:
        return {}


def _kib(fields: dict[str, str], name: str) -> float:
    return float(fields.get(name, "0 kB").split()[0])


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _ancestors(pid: int) -> set[int]:
    """Parents of pid up to (not including) the harness or pid 1."""
    found, me = set(), os.getpid()
    cur = int(status_fields(pid).get("PPid", "0"))
    while cur > 1 and cur != me and cur not in found:
        found.add(cur)
        cur = int(status_fields(cur).get("PPid", "0"))
    return found


def parked_processes(init_pid: int, before: set[str], cid: str, root: str) -> list[int]:
    """New live processes that belong to the runtime, other than the init."""
    new = [int(p) for p in os.listdir("/proc") if p.isdigit() and p not in before]
    ancestors = _ancestors(init_pid)
    parked = []
    for pid in new:
        if pid == init_pid or pid == os.getpid():
            continue
        if pid in ancestors or cid in _cmdline(pid) or (root and root in _cmdline(pid)):
            if _kib(status_fields(pid), "VmRSS") > 0:  # zombies have none
                parked.append(pid)
    return parked


def parked_memory(init_pid: int, before: set[str], cid: str, root: str) -> dict[str, float]:
    init = status_fields(init_pid)
    others = parked_processes(init_pid, before, cid, root)
    other_rss = sum(_kib(status_fields(pid), "VmRSS") for pid in others)
    return {"mem.init": _kib(init, "VmRSS") / KIB_PER_MIB,
            "mem.init_anon": _kib(init, "RssAnon") / KIB_PER_MIB,
            "mem.other": other_rss / KIB_PER_MIB,
            "mem.other_count": float(len(others))}
