"""Real cgroups on this host (v1, hybrid or v2; the v2 VM lane runs these
too).  Needs root and a writable cgroup tree; every test removes what it made.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

from ocirt.cgroups import load_manager, new_manager
from ocirt.errors import ConfigError

MB = 1 << 20

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="cgroups need root")


def reap_stale_test_cgroups() -> None:
    """rmdir the (empty) cgroups of earlier runs that were killed before
    their teardown: /ocirt-test-<pid> of a pid that is gone."""
    import glob
    tops = glob.glob("/sys/fs/cgroup/ocirt-test-[0-9]*") + glob.glob("/sys/fs/cgroup/*/ocirt-test-[0-9]*")
    for top in tops:
        if os.path.exists(f"/proc/{top.rsplit('-', 1)[1]}"):
            continue
        for dirpath, _, _ in sorted(os.walk(top), key=lambda w: -len(w[0])):
            try:
                os.rmdir(dirpath)
            except OSError:
                pass


@pytest.fixture
def make_manager():
    reap_stale_test_cgroups()
    made = []

    def make(resources: dict | None = None, devices: list | None = None):
        m = new_manager(f"/ocirt-test-{os.getpid()}/{uuid.uuid4().hex[:8]}", "t")
        try:
            m.create(resources, devices)
        except PermissionError as e:
            pytest.skip(f"cgroup tree not writable: {e}")
        made.append(m)
        return m

    yield make
    try:
        for m in made:
            m.destroy()
    finally:
        for d in {os.path.dirname(d) for m in made for d in m.dirs()}:
            try:
                os.rmdir(d)
            except OSError:
                pass


@pytest.fixture
def children():
    procs: list[subprocess.Popen] = []

    def spawn(*argv: str, **kw) -> subprocess.Popen:
        p = subprocess.Popen(argv, **kw)
        procs.append(p)
        return p

    yield spawn
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()


def gated(spawn, script: str) -> subprocess.Popen:
    """A shell that runs `script` only after a line on stdin, so it can be
    put into the cgroup first."""
    return spawn("sh", "-c", "read go; " + script, stdin=subprocess.PIPE,
                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def release(p: subprocess.Popen, timeout: float = 60) -> str:
    out, _ = p.communicate("go\n", timeout=timeout)
    return out


def cat(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def test_child_joins_every_hierarchy(make_manager, children):
    m = make_manager()
    p = children("sleep", "60")
    m.add_pid(p.pid)
    with open(f"/proc/{p.pid}/cgroup") as f:
        lines = f.read().splitlines()
    for key, path in m.paths.items():
        suffix = path.split("/ocirt-test-", 1)[1]
        assert any(line.endswith("/ocirt-test-" + suffix) for line in lines), (key, lines)
    if m.version == 1 and "" in m.paths:
        assert any(line.startswith("0::/") and "ocirt-test" in line for line in lines)
    assert m.pids() == [p.pid]


def test_default_path_is_below_own_cgroup(children):
    cid = f"ocirt-test-{uuid.uuid4().hex[:8]}"
    m = new_manager(None, cid)
    m.create({})
    try:
        p = children("sleep", "60")
        m.add_pid(p.pid)
        with open("/proc/self/cgroup") as f:
            own = {line.split(":", 2)[1]: line.rstrip("\n").split(":", 2)[2] for line in f}
        with open(f"/proc/{p.pid}/cgroup") as f:
            for line in f:
                _, ctrls, path = line.rstrip("\n").split(":", 2)
                assert path == (own[ctrls].rstrip("/") + "/" + cid), line
    finally:
        m.destroy()


def test_busy_cgroup_is_not_adopted(make_manager, children):
    m = make_manager()
    p = children("sleep", "60")
    m.add_pid(p.pid)
    inner = "/ocirt-test-" + next(iter(m.paths.values())).split("/ocirt-test-", 1)[1]
    with pytest.raises(ConfigError, match="already holds 1 process"):
        new_manager(inner, "t2").create({})
    assert m.pids() == [p.pid]  # the failed create removed nothing of m's


def test_memory_limit_file(make_manager):
    m = make_manager({"memory": {"limit": 64 * MB}})
    if m.version == 1:
        assert cat(m.paths["memory"] + "/memory.limit_in_bytes") == str(64 * MB)
    else:
        assert cat(m.paths[""] + "/memory.max") == str(64 * MB)


def test_update_pids_limit(make_manager):
    m = make_manager({"pids": {"limit": 10}})
    m.update({"pids": {"limit": 20}})
    path = m.paths["pids"] if m.version == 1 else m.paths[""]
    assert cat(path + "/pids.max") == "20"


def test_freeze_thaw(make_manager, children):
    m = make_manager()
    p = children("sleep", "60")
    m.add_pid(p.pid)
    m.freeze()
    assert m.is_frozen()
    if m.version == 1:
        assert cat(m.paths["freezer"] + "/freezer.state") == "FROZEN"
    m.thaw()
    assert not m.is_frozen()
    assert p.poll() is None


def test_pids_are_recursive(make_manager, children):
    m = make_manager()
    p = gated(children, "sleep 60 & sleep 60 & echo started; wait")
    m.add_pid(p.pid)
    p.stdin.write("go\n")
    p.stdin.flush()
    assert p.stdout.readline().strip() == "started"
    deadline = time.monotonic() + 10
    while len(m.pids()) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert p.pid in m.pids() and len(m.pids()) == 3


def test_stats_shape(make_manager, children):
    m = make_manager({"pids": {"limit": 50}})
    p = children(sys.executable, "-c", "import time; sum(range(3000000)); time.sleep(60)")
    m.add_pid(p.pid)
    time.sleep(0.5)
    st = m.stats()
    assert set(st) >= {"cpu", "memory", "pids", "blkio", "hugetlb", "cpuset"}
    assert {"kernel", "user"} <= set(st["cpu"]["usage"])
    assert set(st["memory"]) >= {"usage", "raw"}  # all-zero entries are omitted, like runc
    assert st["memory"]["usage"]["usage"] > 0
    assert st["pids"] == {"current": 1, "limit": 50}


def test_oom_kill_is_reported(make_manager, children):
    # no swap for the container, so the allocation cannot escape the limit
    m = make_manager({"memory": {"limit": 32 * MB, "swap": 32 * MB}})
    events = m.oom_events()
    try:
        assert events.wait(0.1) == 0
        p = gated(children, f"exec {sys.executable} -c 'b = b\"x\" * ({256 * MB})'")
        m.add_pid(p.pid)
        release(p)
        assert p.returncode == -signal.SIGKILL
        assert events.wait(10) >= 1
    finally:
        events.close()


def test_devices_are_filtered(make_manager, children, tmp_path):
    m = make_manager({"devices": [{"allow": False, "access": "rwm"}]},
                     [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}])
    node = tmp_path / "mem"
    p = gated(children, f"mknod {node} c 1 1 && echo mknod-ok; head -c1 {node} >/dev/null "
                        "2>&1 || echo mem-denied; head -c1 /dev/null && echo null-ok")
    m.add_pid(p.pid)
    out = release(p)
    assert "mknod-ok" in out and "mem-denied" in out and "null-ok" in out


def test_destroy_kills_and_removes(make_manager, children):
    m = make_manager({"memory": {"limit": 64 * MB}})
    p = gated(children, "sleep 60 & sleep 60")
    m.add_pid(p.pid)
    m.freeze()  # destroy must cope with a frozen container
    again = load_manager(m.to_state())
    again.destroy()
    assert p.wait(10) == -signal.SIGKILL
    assert not any(os.path.exists(d) for d in m.dirs())
    again.destroy()  # idempotent


def test_v2_device_program_is_replaced(make_manager):
    m = make_manager({"devices": [{"allow": False, "access": "rwm"}]})
    if m.version != 2:
        pytest.skip("eBPF device programs are the v2 path")
    from ocirt.cgroups.devices import build_rules
    from ocirt.cgroups.v2 import bpf, devices
    devices.apply_rules(m.paths[""], build_rules([{"allow": False, "access": "rwm"}], None))
    fd = os.open(m.paths[""], os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert len(bpf.attached_programs(fd)) == 1
    finally:
        os.close(fd)


def as_nobody(fn) -> str:
    """Run fn() in a forked child that dropped to uid/gid 65534; its result
    (or the error) comes back as text."""
    # lazy imports would need file access as nobody: import them now
    import importlib
    for mod in ("ocirt.cgroups.v1", "ocirt.cgroups.v2", "ocirt.cgroups.v1.pids"):
        importlib.import_module(mod)
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(rfd)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            out = str(fn())
        except Exception as e:  # noqa: BLE001  (the parent asserts on the text)
            out = f"{type(e).__name__}: {e}"
        os.write(wfd, out.encode())
        os._exit(0)
    os.close(wfd)
    with os.fdopen(rfd) as f:
        out = f.read()
    os.waitpid(pid, 0)
    return out


def test_rootless_without_delegation():
    def plain():
        m = new_manager(f"/ocirt-test-rootless-{uuid.uuid4().hex[:8]}", "r", rootless=True)
        m.create({})
        m.destroy()
        return f"paths={m.paths} warnings={len(m.warnings)}"

    def with_limits():
        new_manager(f"/ocirt-test-rootless-{uuid.uuid4().hex[:8]}", "r",
                    rootless=True).create({"pids": {"limit": 5}})

    out = as_nobody(plain)
    assert out.startswith("paths={}") and "warnings=0" not in out, out
    out = as_nobody(with_limits)
    assert out.startswith("ConfigError") and "need root or a delegated" in out, out
