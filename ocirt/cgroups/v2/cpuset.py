"""v2 cpuset controller: cpus and mems (empty means 'inherit')."""

from __future__ import annotations

from ocirt.cgroups.common import read_opt
from ocirt.cgroups.v1.cpuset import apply
from ocirt.linux.lists import parse_list

__all__ = ["apply", "stats"]


def stats(path: str, st: dict) -> None:
    cpuset = st["cpuset"]
    for key, fname in (("cpus", "cpuset.cpus.effective"), ("mems", "cpuset.mems.effective")):
        values = parse_list(read_opt(path, fname) or "")
        if values:
            cpuset[key] = values
