"""v2 freezer: cgroup.freeze, completion reported in cgroup.events."""

from __future__ import annotations

from ocirt.cgroups.common import read_keyed, wait_for, write


def set_state(path: str, frozen: bool) -> None:
    write(path, "cgroup.freeze", int(frozen))
    wait_for(lambda: is_frozen(path) == frozen,
             f"{path}/cgroup.events to show frozen {int(frozen)}")


def is_frozen(path: str) -> bool:
    return read_keyed(path, "cgroup.events").get("frozen") == 1
