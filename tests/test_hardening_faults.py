"""Class 6 of issue 8: fault injection and races in the lifecycle.

A runtime killed half-way through create (OOM killer, a shim's timeout, a
reboot of the caller) must not leave what only it knew how to undo: after
`ocirt delete --force` there is no state dir, no cgroup, no mount and no
process.  OCIRT_FAULT=<point> makes the process that reaches that named
point SIGKILL itself (ocirt/faults.py); the points are the steps of create
in ocirt/container.py and ocirt/init.py.
"""
from __future__ import annotations

import concurrent.futures
import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid

import pytest

from testlib import OCIRT, Result, STATE_ROOT, one_line_error
from test_hardening_config import ids, leftover_processes, new_id  # noqa: F401 - ids is a fixture


def call(*args: str, mark: str, fault: str | None = None, timeout: float = 30,
         wait: bool = True) -> Result | subprocess.Popen:
    """ocirt with a leak marker in its environment (and a fault armed)."""
    env = dict(os.environ, OCIRT_HARDENING_MARK=mark)
    env.pop("OCIRT_FAULT", None)
    if fault:
        env["OCIRT_FAULT"] = fault
    out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    proc = subprocess.Popen([OCIRT, "--root", STATE_ROOT, *args], stdin=subprocess.DEVNULL,
                            stdout=out, stderr=err, env=env, start_new_session=True)
    if not wait:
        return proc
    rc = proc.wait(timeout=timeout)
    out.seek(0)
    err.seek(0)
    return Result(rc, out.read().decode(errors="replace"), err.read().decode(errors="replace"))


def leaks(cid: str, mark: str, rootfs) -> list[str]:
    """Everything a container may leave behind, by kind."""
    found = []
    if os.path.lexists(os.path.join(STATE_ROOT, cid)):
        found.append(f"state dir {cid}")
    name = glob.escape(cid)
    found += [f"cgroup {d}" for d in glob.glob(f"/sys/fs/cgroup/{name}") + glob.glob(f"/sys/fs/cgroup/*/{name}")]
    with open("/proc/self/mountinfo") as f:
        found += [f"mount {line.split()[4]}" for line in f if str(rootfs) in line]
    found += [f"process {pid}" for pid in leftover_processes(mark)]
    return found


def assert_no_leaks(cid: str, mark: str, rootfs, settle: float = 2.0) -> None:
    """Processes die asynchronously after SIGKILL: allow them a moment."""
    deadline = time.monotonic() + settle
    while (found := leaks(cid, mark, rootfs)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not found, f"left behind: {found}"


def scrub(cid: str, mark: str) -> None:
    """Remove by hand what a failing (xfail) case leaked, so the host and
    later tests do not inherit it."""
    for pid in leftover_processes(mark):
        os.kill(pid, signal.SIGKILL)
    time.sleep(0.1)
    shutil.rmtree(os.path.join(STATE_ROOT, cid), ignore_errors=True)
    name = glob.escape(cid)
    for d in glob.glob(f"/sys/fs/cgroup/{name}") + glob.glob(f"/sys/fs/cgroup/*/{name}"):
        try:
            os.rmdir(d)
        except OSError:
            pass


# create:* points are in the runtime (container.py); init:rootfs is in the
# container's init; start:connected in `ocirt start`.
CREATE_POINTS = ["create:state-dir", "create:cgroup", "create:forked", "create:init-pid",
                 "create:before-save", "init:rootfs"]


@pytest.mark.parametrize("point", CREATE_POINTS)
def test_kill_during_create_then_delete_force(ids, bundle, point):
    """SIGKILL of ocirt (or of its init) at each step of create, then
    `ocirt delete --force`: nothing may remain.  A naive runtime leaks the
    cgroup, the waiting init or the state dir it never wrote state.json to."""
    bundle.args("sleep", "60")
    cid, mark = new_id(ids), uuid.uuid4().hex
    try:
        r = call("create", "--bundle", str(bundle.path), cid, mark=mark, fault=point)
        if point.startswith("init:"):
            one_line_error(r)  # the runtime survives its init's death and says so
        else:
            assert r.returncode == -signal.SIGKILL, r
        d = call("delete", "--force", cid, mark=mark)
        assert "Traceback" not in d.stderr and "internal error" not in d.stderr, d
        assert_no_leaks(cid, mark, bundle.rootfs)
    finally:
        scrub(cid, mark)


def test_kill_start_after_connecting(ids, bundle):
    """`ocirt start` killed after it reached the init (start.sock unlinked):
    the init must not wait forever, and delete --force cleans up."""
    bundle.args("sleep", "60")
    cid, mark = new_id(ids), uuid.uuid4().hex
    assert call("create", "--bundle", str(bundle.path), cid, mark=mark).returncode == 0
    r = call("start", cid, mark=mark, fault="start:connected")
    assert r.returncode == -signal.SIGKILL, r
    st = call("state", cid, mark=mark)
    assert st.returncode == 0 and '"running"' not in st.stdout, st
    assert call("delete", "--force", cid, mark=mark).returncode == 0
    assert_no_leaks(cid, mark, bundle.rootfs)


def test_init_killed_between_create_and_start(ids, bundle):
    """The container's init dies of SIGKILL while it waits for start:
    start fails with one clear line, the state says stopped, and a plain
    delete (no --force) removes everything."""
    bundle.args("sleep", "60")
    cid, mark = new_id(ids), uuid.uuid4().hex
    assert call("create", "--bundle", str(bundle.path), cid, mark=mark).returncode == 0
    import json

    pid = json.loads(call("state", cid, mark=mark).stdout)["pid"]
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while '"stopped"' not in call("state", cid, mark=mark).stdout and time.monotonic() < deadline:
        time.sleep(0.05)
    r = call("start", cid, mark=mark)
    one_line_error(r)
    assert call("delete", cid, mark=mark).returncode == 0
    assert_no_leaks(cid, mark, bundle.rootfs)


def test_caller_dies_while_init_waits(ids, bundle):
    """The caller of `ocirt create` (a shim) is SIGKILLed right after create
    while the init waits for start: the init survives its reparenting,
    another caller can still start it, and delete leaves nothing."""
    bundle.sh("echo started > /tmp/started; sleep 60")
    cid, mark = new_id(ids), uuid.uuid4().hex
    shim = subprocess.Popen(["sh", "-c", '"$0" --root "$1" create --bundle "$2" "$3" && exec sleep 60',
                             OCIRT, STATE_ROOT, str(bundle.path), cid],
                            env=dict(os.environ, OCIRT_HARDENING_MARK=mark), start_new_session=True,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while '"created"' not in call("state", cid, mark=mark).stdout:
        assert time.monotonic() < deadline and shim.poll() is None, "create did not finish"
        time.sleep(0.05)
    shim.kill()  # the shim only: the init is in its process group, as with runc
    shim.wait()
    assert call("start", cid, mark=mark).returncode == 0
    deadline = time.monotonic() + 5
    while not (bundle.rootfs / "tmp" / "started").exists():
        assert time.monotonic() < deadline, "started container never ran"
        time.sleep(0.05)
    assert call("delete", "--force", cid, mark=mark).returncode == 0
    assert_no_leaks(cid, mark, bundle.rootfs)


def test_run_killed_while_container_runs(ids, bundle):
    """`ocirt run` in the foreground (the container's subreaper) is SIGKILLed:
    the container outlives it, and delete --force cleans up."""
    bundle.args("sleep", "60")
    cid, mark = new_id(ids), uuid.uuid4().hex
    proc = call("run", "--bundle", str(bundle.path), cid, mark=mark, wait=False)
    deadline = time.monotonic() + 20
    while '"running"' not in call("state", cid, mark=mark).stdout:
        assert time.monotonic() < deadline and proc.poll() is None, "run did not start the container"
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    assert call("delete", "--force", cid, mark=mark).returncode == 0
    assert_no_leaks(cid, mark, bundle.rootfs)


def test_two_creates_of_one_id_race(ids, bundle):
    """Two `create`s of the same id at once, five times over: exactly one
    wins, the other fails with one clear line, and the loser's cleanup
    must not remove the winner's state or cgroup."""
    bundle.args("sleep", "60")
    for _ in range(5):
        cid, mark = new_id(ids), uuid.uuid4().hex
        procs = [call("create", "--bundle", str(bundle.path), cid, mark=mark, wait=False) for _ in range(2)]
        rcs = [p.wait(timeout=30) for p in procs]
        assert sorted(rcs) == [0, 1], rcs
        st = call("state", cid, mark=mark)
        assert st.returncode == 0 and '"created"' in st.stdout, st
        assert glob.glob(f"/sys/fs/cgroup/*/{cid}") or glob.glob(f"/sys/fs/cgroup/{cid}")
        assert call("delete", "--force", cid, mark=mark).returncode == 0
        assert_no_leaks(cid, mark, bundle.rootfs)


# 200 containers at concurrency 8 take ~20 s here (one run ~0.8 s).
PARALLEL_TOTAL, PARALLEL_WORKERS = 200, 8


def test_parallel_lifecycles_leak_nothing(ids, bundle):
    """200 create/start/wait/delete cycles (`ocirt run`) of different ids,
    8 at a time, sharing one bundle: all succeed and nothing remains."""
    bundle.args("true")
    mark = uuid.uuid4().hex
    cids = [new_id(ids) for _ in range(PARALLEL_TOTAL)]
    start = time.monotonic()

    def one(cid: str) -> Result:
        return call("run", "--bundle", str(bundle.path), cid, mark=mark, timeout=60)

    with concurrent.futures.ThreadPoolExecutor(PARALLEL_WORKERS) as pool:
        results = list(pool.map(one, cids))
    elapsed = time.monotonic() - start
    failed = [r for r in results if r.returncode != 0]
    assert not failed, f"{len(failed)} of {PARALLEL_TOTAL} failed, first: {failed[0]}"
    for cid in cids:
        assert_no_leaks(cid, mark, bundle.rootfs, settle=0.5)
    print(f"{PARALLEL_TOTAL} lifecycles at concurrency {PARALLEL_WORKERS}: {elapsed:.1f} s")
