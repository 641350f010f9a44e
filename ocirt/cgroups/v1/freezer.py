"""v1 freezer controller: freezer.state FROZEN / THAWED."""

from __future__ import annotations

from ocirt.cgroups.common import read, wait_for, write


def set_state(path: str, frozen: bool) -> None:
    state = "FROZEN" if frozen else "THAWED"
    # FREEZING can stall on tasks in uninterruptible sleep: re-write until done.
    def done() -> bool:
        if read(path, "freezer.state") == state:
            return True
        write(path, "freezer.state", state)
        return False
    write(path, "freezer.state", state)
    wait_for(done, f"{path}/freezer.state to become {state}")


def is_frozen(path: str) -> bool:
    return read(path, "freezer.state") == "FROZEN"
