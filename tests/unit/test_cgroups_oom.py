"""OOM event counting on the fake file system: the waiter reports increases
of the oom_kill counter (the kernel's wake-ups are exercised by the host
tests)."""

from __future__ import annotations

import threading

import pytest
import test_cgroups_fakefs as fakefs

from ocirt.cgroups import new_manager

fake_v1 = fakefs.fake_v1
fake_v2 = fakefs.fake_v2


def bump_later(path: str, name: str, text: str) -> threading.Timer:
    def write() -> None:
        with open(f"{path}/{name}", "w") as f:
            f.write(text)
    timer = threading.Timer(0.2, write)
    timer.start()
    return timer


@pytest.mark.parametrize("mode", ["v1", "v2"])
def test_counts_new_oom_kills(mode, request):
    request.getfixturevalue(f"fake_{mode}")
    m = new_manager("/c1", "c1")
    m.create({})
    path, name, text = (
        (m.paths["memory"], "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2")
        if mode == "v1" else (m.paths[""], "memory.events", "max 3\noom 3\noom_kill 3"))
    with m.oom_events() as events:
        assert events.wait(0) == 0
        timer = bump_later(path, name, text)
        assert events.wait(5) == 2  # v1: 0 -> 2; v2: the fake starts at oom_kill 1
        timer.join()
        assert events.wait(0.1) == 0


def test_wait_ends_when_cgroup_is_gone(fake_v2):
    m = new_manager("/c1", "c1")
    m.create({})
    events = m.oom_events()
    m.destroy()
    assert events.wait(5) == 0
    events.close()
    events.close()  # idempotent
