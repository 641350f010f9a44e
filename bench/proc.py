"""Spawning and timing of runtime CLI calls.

Every measured command goes through `run()`.  When the small C helper
(rusage_exec.c) could be built, the command runs under it and the helper
reports fork-to-reap wall time and ru_maxrss (peak RSS of the command and of
the children it reaped itself).  Without it the harness times posix_spawn to
wait4 itself and reports no RSS: a child of the Python process would report
the harness's own ~20 MiB (see rusage_exec.c).
"""
from __future__ import annotations

import ctypes
import os
import select
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

DEFAULT_TIMEOUT_S = 60.0
_PR_SET_CHILD_SUBREAPER = 36
_REPORT_FD = 3
_helper: str | None = None


class CmdError(Exception):
    """A command exited non-zero, was killed or timed out."""


@dataclass
class Result:
    argv: list[str]
    rc: int  # exit status, or -signal number
    wall_ms: float
    maxrss_kib: int | None  # None when measured without the helper
    stdout: str
    stderr: str
    cpu_ms: float | None = None  # user+sys of the call and what it reaped

    @property
    def ok(self) -> bool:
        return self.rc == 0

    def check(self) -> Result:
        if not self.ok:
            raise CmdError(describe_failure(self))
        return self


def describe_failure(res: Result) -> str:
    why = f"exit {res.rc}" if res.rc >= 0 else f"signal {-res.rc}"
    tail = (res.stderr.strip() or res.stdout.strip()).splitlines()[-3:]
    # The runtime's wrapper and temp --root say nothing useful: drop them.
    args = res.argv[res.argv.index("--root") + 2:] if "--root" in res.argv else res.argv[-4:]
    cmd = " ".join(args)
    return f"`{cmd}`: {why}: " + " / ".join(tail)[:300]


def build_helper(dest_dir: Path) -> str | None:
    """Compile rusage_exec.c (static if libc.a is there); None without a compiler."""
    src = Path(__file__).with_name("rusage_exec.c")
    out = dest_dir / "rusage-exec"
    for extra in (["-static"], []):
        try:
            done = subprocess.run(["cc", "-O2", *extra, "-o", str(out), str(src)],
                                  capture_output=True)
        except OSError:
            return None
        if done.returncode == 0:
            return str(out)
    return None


def use_helper(path: str | None) -> None:
    global _helper
    _helper = path


def helper_in_use() -> bool:
    return _helper is not None


def become_subreaper() -> None:
    """Adopt orphaned container processes, as containerd-shim does.

    Detached containers are re-parented when the runtime CLI exits; on this
    kind of host pid 1 never reaps, so without this every benchmark
    iteration would leave a zombie behind.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def reap_orphans() -> int:
    """Reap every exited child. Call only when no measured command is live."""
    reaped = 0
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return reaped
        if pid == 0:
            return reaped
        reaped += 1


def _file_actions(out_fd: int, err_fd: int, report_fd: int | None) -> list[tuple]:
    # stdout/stderr go to memfds, not pipes: a detached container inherits
    # them, and a pipe held open by `sleep 1000` would block the reader.
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
        (os.POSIX_SPAWN_DUP2, out_fd, 1),
        (os.POSIX_SPAWN_DUP2, err_fd, 2),
    ]
    if report_fd is not None:
        actions.append((os.POSIX_SPAWN_DUP2, report_fd, _REPORT_FD))
    return actions


def _read_all(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks).decode(errors="replace")


@dataclass
class Spawned:
    argv: list[str]
    pid: int
    pidfd: int
    out_fd: int
    err_fd: int
    report_fd: int | None
    t0_ns: int


def spawn(argv: list[str], env: dict[str, str] | None = None,
          measured: bool = True) -> Spawned:
    """Start argv (under the helper when measured and available)."""
    out_fd = os.memfd_create("bench-out")
    err_fd = os.memfd_create("bench-err")
    report_fd = os.memfd_create("bench-report") if measured and _helper else None
    full = [_helper, *argv] if _helper is not None and report_fd is not None else argv
    t0 = time.perf_counter_ns()
    try:
        pid = os.posix_spawnp(full[0], full, env if env is not None else os.environ,
                              file_actions=_file_actions(out_fd, err_fd, report_fd),
                              setpgroup=0)
    except OSError:
        for fd in (out_fd, err_fd, report_fd):
            if fd is not None:
                os.close(fd)
        raise
    return Spawned(argv, pid, os.pidfd_open(pid), out_fd, err_fd, report_fd, t0)


def _status_to_rc(status: int) -> int:
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    return os.waitstatus_to_exitcode(status)


def wait(sp: Spawned, timeout_s: float = DEFAULT_TIMEOUT_S) -> Result:
    poller = select.poll()
    poller.register(sp.pidfd, select.POLLIN)
    if not poller.poll(timeout_s * 1000):
        _kill_group(sp.pid)
    _, status, _ = os.wait4(sp.pid, 0)
    t1 = time.perf_counter_ns()
    os.close(sp.pidfd)
    res = Result(sp.argv, _status_to_rc(status), (t1 - sp.t0_ns) / 1e6, None,
                 _read_all(sp.out_fd), _read_all(sp.err_fd))
    if sp.report_fd is not None:
        _apply_report(res, _read_all(sp.report_fd))
    return res


def _apply_report(res: Result, report: str) -> None:
    """Take wall time, peak RSS and real status from the helper's line."""
    fields = report.split()
    if len(fields) != 5:
        return  # helper killed (timeout): keep the harness's view
    wall_ns, maxrss, status, user_us, sys_us = (int(f) for f in fields)
    res.wall_ms, res.maxrss_kib, res.rc = wall_ns / 1e6, maxrss, _status_to_rc(status)
    res.cpu_ms = (user_us + sys_us) / 1e3


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def run(argv: list[str], env: dict[str, str] | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S) -> Result:
    """Run one command to completion; wall time covers spawn to reap."""
    try:
        sp = spawn(argv, env)
    except OSError as exc:
        return Result(argv, 127, 0.0, 0, "", f"cannot spawn: {exc}")
    return wait(sp, timeout_s)
