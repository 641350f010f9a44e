"""Rootless id maps: which host ranges a user may map (ocirt/namespaces.py)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ocirt import namespaces
from ocirt.errors import OcirtError

ME = os.getuid()


@pytest.fixture
def subuid(tmp_path, monkeypatch):
    monkeypatch.setattr(namespaces, "_subids_from_files", lambda: True)
    path = tmp_path / "subuid"
    # listed by uid number (newuidmap takes either the name or the number)
    path.write_text(f"someone-else:100000:65536\n{ME}:200000:1000\n{ME}:201000:1000\n# comment\n")
    return str(path)


def maps(*triples):
    return [{"containerID": c, "hostID": h, "size": n} for c, h, n in triples]


def test_ranges_of_the_user_only(subuid):
    assert namespaces.subordinate_ranges(subuid, ME) == [(200000, 1000), (201000, 1000)]


def test_own_id_and_granted_ranges_pass(subuid):
    namespaces._check_allowed("uid", maps((0, 2345, 1), (1, 200000, 1000)), 2345, subuid)


def test_a_range_may_span_adjacent_grants(subuid):
    namespaces._check_allowed("uid", maps((0, 2345, 1), (1, 200500, 1000)), 2345, subuid)


@pytest.mark.parametrize("triples, bad", [
    (((0, 2345, 1), (1, 0, 1)), "0-0"),                 # host root
    (((0, 2345, 1), (1, 100000, 10)), "100000-100009"),  # another user's grant
    (((0, 2345, 1), (1, 201500, 1000)), "202000-202499"),  # runs past the end
    (((0, 2345, 2),), "2346-2346"),                      # own id plus the next one
])
def test_what_is_not_granted_is_named(subuid, triples, bad):
    with pytest.raises(OcirtError) as e:
        namespaces._check_allowed("uid", maps(*triples), 2345, subuid)
    msg = str(e.value)
    assert msg.startswith("linux.uidMappings: host uids ") and bad in msg and "only root" in msg
    assert "200000-200999, 201000-201999" in msg


def test_other_subid_sources_are_left_to_newuidmap(subuid, monkeypatch):
    monkeypatch.setattr(namespaces, "_subids_from_files", lambda: False)
    namespaces._check_allowed("uid", maps((0, 0, 1)), 2345, subuid)


def test_failed_map_ends_the_child():
    """A child whose maps cannot be written is killed, so whoever waits for
    it is not left waiting (here: an invalid map written as whoever we are)."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with pytest.raises(OcirtError):
            # two maps of the same container id overlap: the kernel refuses them
            # (and an unprivileged caller is refused sooner)
            namespaces.write_id_maps(child.pid, maps((0, 0, 1), (0, 1, 1)), maps((0, 0, 1)))
        assert child.wait(timeout=5) == -9
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
