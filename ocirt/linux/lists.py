"""The kernel's list format for CPUs and memory nodes ('0-3,7')."""
from __future__ import annotations


def parse_list(text: str, what: str = "number") -> list[int]:
    """'0-3,7' -> [0, 1, 2, 3, 7], as cpuset.cpus/cpuset.mems print them and
    set_mempolicy's node lists are written; ValueError names a bad part."""
    out: list[int] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        lo, sep, hi = part.partition("-")
        if not lo.isdigit() or (sep and not hi.isdigit()) or (sep and int(hi) < int(lo)):
            raise ValueError(f"{part!r} is not a {what} or an ascending range like 0-3")
        out += range(int(lo), int(hi if sep else lo) + 1)
    return out
