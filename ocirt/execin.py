"""exec: start another process inside a running container.

runtime ──fork──▶ joiner: setns(pidfd, every namespace that differs)
                  ──fork──▶ process: member of the container's pid ns
The joiner reports the process's pid (EXEC_PID) and exits; the runtime puts
the process in the container's cgroup, then sends START; the process
sets itself up like init does and execs.  EOF on the socket = exec'd.
"""
from __future__ import annotations

import os

from . import console, process, sync
from .config.model import NS_FLAGS, NS_PROC_NAMES, Process
from .linux import constants as c
from .linux import sys, unixsock
from .container import await_exec, seccomp_cache
from .state import Container


def _namespace_flags(pid: int) -> int:
    """clone flags of the container's namespaces that differ from ours."""
    flags = 0
    for kind, name in NS_PROC_NAMES.items():
        try:
            theirs = os.stat(f"/proc/{pid}/ns/{name}").st_ino
            ours = os.stat(f"/proc/self/ns/{name}").st_ino
        except OSError:
            continue
        if theirs != ours:
            flags |= NS_FLAGS[kind]
    return flags


def _joiner(sock: unixsock.Socket, pidfd: int, flags: int, proc: Process, seccomp_filter,
            console_fd: int | None, preserve_fds: int, personality: dict | None) -> None:
    """Runs in the forked joiner. Never returns."""
    try:
        sys.prctl(c.PR_SET_DUMPABLE, 0)  # see init.intermediate
        keep = {sock.fileno(), pidfd} | ({console_fd} if console_fd is not None else set())
        process.close_inherited(keep, preserve_fds)
        sys.setns(pidfd, flags)
        os.close(pidfd)
        pid = os.fork()
        if pid == 0:
            _process(sock, proc, seccomp_filter, console_fd, preserve_fds, personality)
        sync.send(sock, sync.EXEC_PID, pid=pid)
        os._exit(0)
    except BaseException as e:  # noqa: BLE001
        sync.give_up(sock, e)


def _process(sock: unixsock.Socket, proc: Process, seccomp_filter, console_fd: int | None,
             preserve_fds: int, personality: dict | None) -> None:
    try:
        sync.expect(sock, sync.START, "runtime")
        process.set_rlimits(proc)
        process.enter_cwd(proc)
        exe = process.resolve_executable(proc)
        if proc.terminal:
            master, slave, _pts = console.open_pty(proc.console_size)
            console.make_controlling(slave)
            console.send_master(console_fd, master)
            os.close(master)
            os.close(console_fd)
        sys.close_range(3 + preserve_fds, 0xFFFFFFFF, c.CLOSE_RANGE_CLOEXEC)
        process.become(proc, seccomp_filter, process.setgroups_allowed(), exe,
                       lambda fd: unixsock.send_fds(sock, b'{"type": "SECCOMP_LISTENER"}', [fd]), personality)
    except BaseException as e:  # noqa: BLE001
        sync.give_up(sock, e)


def run(ct: Container, proc: Process, seccomp_spec: dict | None, console_fd: int | None,
        preserve_fds: int, detach: bool) -> int:
    """Start proc in the container; return its host pid once it has exec'd."""
    seccomp_filter = None
    if seccomp_spec is not None:
        from . import seccomp

        seccomp_filter = seccomp.compile_filter(seccomp_spec, cache_dir=seccomp_cache(ct.root))
    # Per-process attributes of the container, which runc gives exec'd
    # processes too: from the config.json saved at create.
    linux = (ct.record.get("config") or {}).get("linux") or {}
    proc.memory_policy = linux.get("memoryPolicy")
    personality = linux.get("personality")
    pidfd = sys.pidfd_open(ct.pid)
    flags = _namespace_flags(ct.pid)
    if not detach:
        sys.prctl(c.PR_SET_CHILD_SUBREAPER, 1)
    parent, child = unixsock.pair()
    joiner = os.fork()
    if joiner == 0:
        parent.close()
        _joiner(child, pidfd, flags, proc, seccomp_filter, console_fd, preserve_fds, personality)
    child.close()
    os.close(pidfd)
    try:
        try:
            pid = sync.expect(parent, sync.EXEC_PID, "exec")["pid"]
        finally:
            os.waitpid(joiner, 0)
        try:
            if ct.record.get("cgroup"):
                ct.cgroup().add_pid(pid)
            sync.send(parent, sync.START)
            await_exec(ct, parent)
        except BaseException:
            _kill(pid)
            raise
        return pid
    finally:
        parent.close()


def _kill(pid: int) -> None:
    try:
        os.kill(pid, 9)
    except ProcessLookupError:
        pass
