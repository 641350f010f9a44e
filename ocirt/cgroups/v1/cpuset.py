"""v1 cpuset controller: cpus and mems (a new cpuset starts empty)."""

from __future__ import annotations

from ocirt.cgroups.base import CPUSET_FLAGS
from ocirt.cgroups.common import Context, read_opt, section, write
from ocirt.linux.lists import parse_list

SPEC = "linux.resources.cpu"


def apply(path: str, res: dict, ctx: Context) -> None:
    cpu = section(res, "cpu")
    for key, fname in (("cpus", "cpuset.cpus"), ("mems", "cpuset.mems")):
        if cpu.get(key):
            write(path, fname, cpu[key], f"{SPEC}.{key}")


def inherit(path: str) -> None:
    """Copy cpus/mems from the parent into a cpuset we just created: an empty
    cpuset cannot take tasks."""
    parent = path.rsplit("/", 1)[0]
    for fname in ("cpuset.cpus", "cpuset.mems"):
        if not read_opt(path, fname):
            write(path, fname, read_opt(parent, fname) or "")


def stats(path: str, st: dict) -> None:
    cpuset = st["cpuset"]
    for flag in CPUSET_FLAGS:
        cpuset[flag] = int(read_opt(path, "cpuset." + flag) or 0)
    for key, fname in (("cpus", "cpuset.cpus"), ("mems", "cpuset.mems")):
        values = parse_list(read_opt(path, fname) or "")
        if values:
            cpuset[key] = values
