"""Fixtures of the engine tests (helpers live in enginelib.py): a private
state dir per engine module, the ocirt logging shim, the busybox image tar,
and failure reports that carry the exact ocirt command lines."""
from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from enginelib import ACTIVE_SHIMS, Shim, build_rootfs_tar, remove_tree, require_root


@pytest.fixture(autouse=True)
def _shim_marks(request):
    request.node._shim_marks = [(s, s.mark()) for s in ACTIVE_SHIMS]
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when in ("call", "teardown") and (rep.failed or hasattr(rep, "wasxfail")):
        for shim, mark in getattr(item, "_shim_marks", []):
            rep.sections.append(("ocirt argv (engine tests)", shim.report(mark)))


@pytest.fixture(scope="module")
def engine_base():
    """A private dir for one engine module's state (removed, mounts and all)."""
    require_root()
    base = Path(tempfile.mkdtemp(prefix="ocirt-engine-", dir="/var/tmp"))
    base.chmod(0o755)
    yield base
    remove_tree(str(base))


@pytest.fixture(scope="module")
def shim(engine_base):
    s = Shim(engine_base)
    ACTIVE_SHIMS.append(s)
    yield s
    ACTIVE_SHIMS.remove(s)


@pytest.fixture(scope="session")
def rootfs_tar(tmp_path_factory) -> Path:
    return build_rootfs_tar(tmp_path_factory.mktemp("engine-image") / "busybox-rootfs.tar")


