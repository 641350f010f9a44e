"""containerd (runc shim v2 + ctr) running containers on ocirt.

The test starts its own containerd: root, state, sockets and config in a
temp dir, CRI disabled, and a PATH whose first entry holds ocirt under the
name `runc` (so whatever the shim runs as "runc" is ocirt, including
`ctr run --no-pivot`, which drops --runc-binary).  Containers are run with
`ctr run --runc-binary <ocirt>`, the per-container form of the runtime
option `BinaryName` (docs/engines.md has the CRI/Kubernetes config).
The image is an OCI archive written by the test and `ctr image import`ed.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest
from enginelib import (
    Shim,
    assert_no_fd_or_env_leak,
    assert_no_leftovers,
    build_oci_archive,
    kill_pidfile,
    kill_shims,
    run,
    run_pty,
    start_daemon,
    tail,
    wait_for,
)

IMAGE = "localhost/ocirt-busybox:latest"

pytestmark = pytest.mark.skipif(
    not all(shutil.which(b) for b in ("containerd", "ctr", "containerd-shim-runc-v2")),
    reason="containerd/ctr/containerd-shim-runc-v2 not installed (tests/engines/install.sh)")


class Containerd:
    def __init__(self, base, shim: Shim) -> None:
        self.base, self.shim = base, shim
        self.dir = base / "containerd"
        self.dir.mkdir()
        self.sock = self.dir / "containerd.sock"
        self.ns = f"ocirt-test-{os.getpid()}"
        self.config = self.dir / "config.toml"
        self.pidfile = self.dir / "containerd.pid"
        self.logfile = self.dir / "containerd.log"
        self.proc: subprocess.Popen | None = None
        self.env = dict(os.environ)
        self.env["PATH"] = f"{shim.as_runc}:{os.environ.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}"

    def write_config(self, snapshotter: str) -> None:
        d = self.dir
        self.snapshotter = snapshotter
        self.config.write_text(f"""\
version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs",
                    "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
                    "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "{self.sock}"
[ttrpc]
  address = "{self.sock}.ttrpc"
[debug]
  address = ""
  level = "info"
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"
""")

    def start(self) -> bool:
        self.write_config("overlayfs")
        self.proc = start_daemon(["containerd", "--config", str(self.config)], self.logfile, self.env)
        self.pidfile.write_text(str(self.proc.pid))
        return bool(wait_for(lambda: self.ctr("version").returncode == 0, timeout=30, interval=0.3))

    def stop(self) -> None:
        for task in self.ctr("task", "ls", "-q").stdout.split():
            self.ctr("task", "kill", "-a", "-s", "SIGKILL", task)
            wait_for(lambda t=task: self.ctr("task", "delete", t).returncode == 0, timeout=10, interval=0.5)
        for c in self.ctr("container", "ls", "-q").stdout.split():
            self.ctr("container", "delete", c)
        if self.proc is not None:
            kill_pidfile(self.pidfile)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        # shims outlive containerd; end the ones that served this daemon
        kill_shims(str(self.sock))
        shutil.rmtree(f"/run/containerd/runc/{self.ns}", ignore_errors=True)

    def ctr(self, *args: str, check: bool = False, **kw):
        return run(["ctr", "-a", str(self.sock), "-n", self.ns, *args], env=self.env, check=check, **kw)

    def ctr_pty(self, *args: str, **kw):
        return run_pty(["ctr", "-a", str(self.sock), "-n", self.ns, *args], env=self.env, **kw)

    def run_(self, *args: str, **kw):
        """`ctr run --runc-binary <ocirt> ARGS`."""
        return self.ctr("run", "--runc-binary", str(self.shim.path), *args, **kw)

    def log_tail(self) -> str:
        return tail(self.logfile)


@pytest.fixture(scope="module")
def containerd(engine_base, shim, rootfs_tar):
    c = Containerd(engine_base, shim)
    try:
        if not c.start():
            pytest.skip(f"containerd did not start: {c.log_tail()}")
        archive = build_oci_archive(rootfs_tar, engine_base / "busybox-oci.tar", IMAGE)
        r = c.ctr("image", "import", str(archive))
        if r.returncode != 0:
            r = c.ctr("image", "import", "--snapshotter", "native", str(archive))
            if r.returncode != 0:
                pytest.skip(f"ctr cannot import an image here: {r}")
            c.snapshotter = "native"
        yield c
    finally:
        c.stop()


@pytest.fixture
def cd(containerd, shim):
    """containerd for one test: afterwards its tasks and containers are
    removed and nothing ocirt made for them may remain."""
    mark = shim.mark()
    yield containerd
    for task in containerd.ctr("task", "ls", "-q").stdout.split():
        containerd.ctr("task", "kill", "-a", "-s", "SIGKILL", task)
        wait_for(lambda t=task: containerd.ctr("task", "delete", t).returncode == 0, timeout=10, interval=0.3)
    for c in containerd.ctr("container", "ls", "-q").stdout.split():
        containerd.ctr("container", "delete", c)
    assert_no_leftovers(shim, mark)


def _snap(cd) -> tuple[str, ...]:
    return ("--snapshotter", cd.snapshotter)


def test_run_rm_exit_code_and_streams(cd, shim):
    mark = shim.mark()
    r = cd.run_("--rm", *_snap(cd), IMAGE, "rm1", "sh", "-c", "echo out; echo err >&2; exit 7")
    assert r.returncode == 7, r
    assert r.stdout == "out\n" and "err" in r.stderr and "err" not in r.stdout, r
    calls = [Shim.subcommand(a)[0] for a in shim.calls(mark)]
    assert calls[:2] == ["create", "start"], shim.report(mark)
    # the shim always sends a second `delete --force`, for an id that is
    # gone by then: replayed now, it must still succeed quietly
    again = [a for a in shim.calls(mark) if Shim.subcommand(a) == ("delete", ["--force", "rm1"])]
    assert again, shim.report(mark)
    r = run([shim.real, *again[-1]])
    assert (r.returncode, r.stderr) == (0, ""), r
    # (ctr does not close the container's stdin at EOF: read one line)
    r = cd.run_("--rm", *_snap(cd), IMAGE, "rm2", "sh", "-c", "read x; echo $x", input="from-stdin\n")
    assert (r.returncode, r.stdout) == (0, "from-stdin\n"), r


def test_missing_executable(cd):
    r = cd.run_("--rm", *_snap(cd), IMAGE, "nx", "/no/such/binary")
    assert r.returncode != 0, r
    assert "no such file or directory" in r.stderr.lower(), r
    assert cd.ctr("container", "ls", "-q").stdout.split() == [], "ctr run --rm left the container"


def test_detached_exec_ps_metrics(cd, shim):
    r = cd.run_("-d", *_snap(cd), IMAGE, "d1", "sh", "-c", "sleep 301 & exec sleep 300")
    assert r.returncode == 0, r
    r = cd.ctr("task", "exec", "--exec-id", "e1", "d1", "sh", "-c", "echo x; echo y >&2; exit 3")
    assert (r.returncode, r.stdout) == (3, "x\n") and "y" in r.stderr, r
    r = cd.ctr("task", "exec", "--exec-id", "e2", "--user", "65534", "--cwd", "/tmp", "d1",
               "sh", "-c", 'echo "$(id -u) $(pwd)"')
    assert (r.returncode, r.stdout) == (0, "65534 /tmp\n"), r
    r = cd.ctr("task", "exec", "--exec-id", "e3", "d1", "nosuchcommand")
    assert r.returncode != 0 and "not found" in r.stderr, r
    r = cd.ctr("task", "ps", "d1")
    pids = [l.split()[0] for l in r.stdout.splitlines()[1:] if l.strip()]
    assert r.returncode == 0 and len(pids) == 2, r
    init = cd.ctr("task", "ls").stdout
    assert any(p in init for p in pids), (init, r)
    r = cd.ctr("task", "metrics", "d1")
    assert r.returncode == 0 and "pids.current" in r.stdout, r


def test_exec_tty_and_run_tty(cd):
    assert cd.run_("-d", *_snap(cd), IMAGE, "t1", "sleep", "300").returncode == 0
    # ctr sends no consoleSize: it resizes the pty through the shim once the
    # process has started, so the size shows only after that (runc wins this
    # race more often since it returns ~50 ms sooner after the exec).
    rc, out = cd.ctr_pty("task", "exec", "-t", "--exec-id", "et", "t1", "sh", "-c", "tty; sleep 1; stty size; exit 4",
                         size=(30, 100))
    assert b"/dev/pts/" in out and b"30 100" in out, out
    assert rc == 4, out
    rc, out = cd.ctr_pty("run", "--runc-binary", str(cd.shim.path), "-t", "--rm", *_snap(cd), IMAGE, "t2", "sh",
                         script=[(b"#", b"tty; echo v-$((40+2))\r"), (b"v-42", b"exit 6\r")])
    assert b"v-42" in out and b"/dev/pts/0" in out, out
    assert rc == 6, out


def test_pause_resume(cd):
    assert cd.run_("-d", *_snap(cd), IMAGE, "p1", "sleep", "300").returncode == 0
    assert cd.ctr("task", "pause", "p1").returncode == 0
    assert "PAUSED" in cd.ctr("task", "ls").stdout
    r = cd.ctr("task", "exec", "--exec-id", "ep", "p1", "true", timeout=30)
    assert r.returncode != 0, r
    assert cd.ctr("task", "resume", "p1").returncode == 0
    assert "RUNNING" in cd.ctr("task", "ls").stdout
    assert cd.ctr("task", "exec", "--exec-id", "ep2", "p1", "true").returncode == 0


def test_kill_all_and_delete(cd, shim):
    assert cd.run_("-d", *_snap(cd), IMAGE, "k1", "sh", "-c", "sleep 301 & sleep 302 & exec sleep 300").returncode == 0
    mark = shim.mark()
    r = cd.ctr("task", "kill", "-a", "-s", "SIGKILL", "k1")
    assert r.returncode == 0, r
    assert wait_for(lambda: "STOPPED" in cd.ctr("task", "ls").stdout, timeout=15), cd.ctr("task", "ls")
    kills = [Shim.subcommand(a)[1] for a in shim.calls(mark) if Shim.subcommand(a)[0] == "kill"]
    assert ["--all", "k1", "9"] in kills, shim.report(mark)
    r = cd.ctr("task", "delete", "k1")
    assert r.returncode == 0, r
    assert cd.ctr("container", "delete", "k1").returncode == 0
    # a kill that races the exit: containerd takes these phrasings as "already gone"
    r = run([shim.real, *[a for a in shim.calls(mark) if Shim.subcommand(a)[0] == "kill"][-1]])
    gone = ("container not running", "no such process", "does not exist")
    assert r.returncode == 0 or any(g in r.stderr.lower() for g in gone), r


def test_kill_signal_exit_status(cd):
    assert cd.run_("-d", *_snap(cd), IMAGE, "k2", "sh", "-c",
                   "trap 'exit 11' TERM; while :; do sleep 0.1; done").returncode == 0
    time.sleep(0.5)
    assert cd.ctr("task", "kill", "k2").returncode == 0
    assert wait_for(lambda: "STOPPED" in cd.ctr("task", "ls").stdout, timeout=15)
    r = cd.ctr("task", "delete", "k2")
    assert r.returncode == 0 and "exit code 11" in r.stdout + r.stderr, r


def test_no_pivot_uses_runtime_on_path(cd, shim):
    """`ctr run --no-pivot` drops --runc-binary: the shim runs `runc` from
    PATH, which here is ocirt (as_runc first in containerd's PATH)."""
    mark = shim.mark()
    r = cd.ctr("run", "--rm", "--no-pivot", *_snap(cd), IMAGE, "np1", "sh", "-c", "echo nopivot")
    assert (r.returncode, r.stdout) == (0, "nopivot\n"), r
    create = [a for a in shim.calls(mark) if Shim.subcommand(a)[0] == "create"]
    assert create and "--no-pivot" in create[0], shim.report(mark)


def test_no_fd_or_env_leaks(cd):
    r = cd.run_("--rm", *_snap(cd), IMAGE, "lk", "sh", "-c", "ls /proc/self/fd; env")
    assert_no_fd_or_env_leak(r)


def test_docker_length_state_dir(cd, shim):
    """The state dir Docker makes ocirt use: --root <exec-root>/runtime-runc/moby,
    a 64-hex id.  Docker's default exec-root /var/run/docker gives
    /var/run/docker/runtime-runc/moby/<64 hex>/ (98 bytes) before any file:
    ocirt's unix sockets there are past the 108-byte AF_UNIX limit."""
    root = f"/run/ocirt-test-{os.getpid()}/docker/runtime-runc/moby"
    cid = "e" * 64
    try:
        r = cd.run_("--rm", "--runc-root", root, *_snap(cd), IMAGE, cid, "echo", "long-root")
        assert (r.returncode, r.stdout) == (0, "long-root\n"), r
    finally:
        shutil.rmtree(f"/run/ocirt-test-{os.getpid()}", ignore_errors=True)


def test_oom_killed(cd):
    r = cd.run_("--rm", "--memory-limit", str(16 << 20), *_snap(cd), IMAGE, "oom1",
                "sh", "-c", "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo ${#x}", timeout=120)
    assert r.returncode == 137, r
