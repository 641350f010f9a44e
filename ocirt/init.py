"""The forked side of create: the intermediate process and the container's init.

runtime ──fork──▶ intermediate: user ns, joins, unshare ──fork──▶ init (pid 1)
The intermediate exists because a new pid namespace applies only to
children of the process that created it.  It reports the init's pid and
exits, so init is reparented to the caller's subreaper (conmon, the shim, or
`ocirt run` itself).  Messages are those of sync.py.
"""
from __future__ import annotations

import os
import _signal as signal  # not signal: its enums import enum (~5 ms)

# Everything the forked side needs is imported here, before the fork: once
# inside a user namespace the runtime's own files may be unreadable.
from . import console, faults, hooks, namespaces, network, process, rootfs, sync
from .config.model import Config
from .linux import constants as c
from .linux import sys, unixsock

# Signals a waiting init dies of: as pid 1 of its namespace it would ignore
# any signal it has no handler for, so `ocirt kill` of a created container
# would do nothing.
FATAL_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT,
                 signal.SIGUSR1, signal.SIGUSR2)


class Launch:
    """What the runtime hands to the forked child (it inherits memory, not JSON)."""

    def __init__(self, cfg: Config, state_dir: str, sock: unixsock.Socket) -> None:
        self.cfg = cfg
        self.state_dir = state_dir
        self.sock = sock
        self.console_fd: int | None = None
        self.preserve_fds = 0
        self.no_pivot = False
        self.no_new_keyring = False
        self.cgroup_paths: dict[str, str] = {}
        self.seccomp = None
        self.hook_state: dict = {}
        # start.sock, bound by the runtime: the init may run as a uid that
        # cannot enter the state dir (user namespace)
        self.listener: unixsock.Socket | None = None


def intermediate(launch: Launch) -> None:
    """Enter/create namespaces, fork the init, report its pid. Never returns."""
    cfg = launch.cfg
    try:
        # Non-dumpable from here to execve: no process of the container may
        # open /proc/<pid>/exe or mem of the runtime (CVE-2019-5736).
        sys.prctl(c.PR_SET_DUMPABLE, 0)
        keep = {launch.sock.fileno(), launch.listener.fileno()}
        if launch.console_fd is not None:
            keep.add(launch.console_fd)
        process.close_inherited(keep, launch.preserve_fds)
        userns = cfg.namespaces.get("user")
        if userns:
            namespaces.join("user", userns)
        elif userns == "":
            sys.unshare(c.CLONE_NEWUSER)
            # Dumpable only while the runtime writes our id maps: a
            # non-dumpable process's /proc files belong to root, and an
            # unprivileged runtime could not write uid_map (runc does the same).
            sys.prctl(c.PR_SET_DUMPABLE, 1)
        sync.send(launch.sock, sync.NS_READY)
        sync.expect(launch.sock, sync.NS_MAPPED, "runtime")
        sys.prctl(c.PR_SET_DUMPABLE, 0)
        if userns is not None:
            os.setresgid(0, 0, 0)
            os.setresuid(0, 0, 0)
        for kind, path in cfg.joined_namespaces():
            if kind != "user":
                namespaces.join(kind, path)
        sys.unshare(cfg.new_namespaces() & ~c.CLONE_NEWUSER)
        if cfg.namespaces.get("time") == "":
            namespaces.write_time_offsets(cfg.time_offsets)
        # The init shares our socket: it must not speak before INIT_PID is
        # out, or the runtime could read its CREATED first.
        hold_r, hold_w = os.pipe2(os.O_CLOEXEC)
        pid = os.fork()
        if pid == 0:
            os.close(hold_w)
            os.read(hold_r, 1)
            os.close(hold_r)
            init(launch)
        sync.send(launch.sock, sync.INIT_PID, pid=pid)
        os._exit(0)  # closing hold_w releases the init
    except BaseException as e:  # noqa: BLE001 - the child must never unwind into the CLI
        sync.give_up(launch.sock, e)


def _die(signum, _frame) -> None:
    os._exit(128 + signum)


def init(launch: Launch) -> None:
    """Build the container around this process, wait for start, exec. Never returns."""
    cfg = launch.cfg
    sock = launch.sock
    try:
        for s in FATAL_SIGNALS:
            signal.signal(s, _die)
        if cfg.net_devices:
            # the runtime moves them in after INIT_PID; sysctls may name them
            sync.expect(sock, sync.NET_READY, "runtime")
        _setup(launch)
        listener = launch.listener
        _rootfs(launch)
        faults.point("init:rootfs")
        proc = cfg.process
        exe = process.resolve_executable(proc)
        _stdio(launch)
        sys.close_range(3 + launch.preserve_fds, 0xFFFFFFFF, c.CLOSE_RANGE_CLOEXEC)
        sync.send(sock, sync.CREATED)
        sock.close()
    except BaseException as e:  # noqa: BLE001
        sync.give_up(sock, e)
    conn = unixsock.accept(listener)
    listener.close()
    try:
        msg = sync.recv(conn)
        if msg is None or msg["type"] != sync.START:
            os._exit(1)
        state = msg.get("state") or {}
        hooks.run_stage("startContainer", cfg.hooks, state)
        process.become(proc, launch.seccomp, process.setgroups_allowed(), exe,
                       lambda fd: unixsock.send_fds(conn, b'{"type": "SECCOMP_LISTENER"}', [fd]),
                       cfg.personality)
    except BaseException as e:  # noqa: BLE001
        sync.give_up(conn, e)


def _setup(launch: Launch) -> None:
    cfg = launch.cfg
    if cfg.namespaces.get("network") == "":
        network.loopback_up()
    if cfg.hostname is not None and "uts" in cfg.namespaces:
        sys.sethostname(cfg.hostname)
    if cfg.domainname is not None and "uts" in cfg.namespaces:
        sys.setdomainname(cfg.domainname)
    if not launch.no_new_keyring:
        try:
            sys.join_session_keyring(None)
        except OSError:
            pass  # keyrings may be unavailable (e.g. in a user ns); runc ignores that too
    process.set_rlimits(cfg.process)
    process.set_oom_score_adj(cfg.process.oom_score_adj)


def _rootfs(launch: Launch) -> None:
    """Mounts, hooks, pivot_root — in the order the spec lays out."""
    cfg = launch.cfg
    if "mount" not in cfg.namespaces:
        # Sharing the host's mount namespace: mounting would change the host,
        # so only chroot into root.path (as crun does); mounts are not made.
        _hooks_barrier(launch)
        hooks.run_stage("createContainer", cfg.hooks, launch.hook_state)
        os.chroot(cfg.rootfs)
        os.chdir("/")
    else:
        fs = rootfs.Rootfs(cfg, launch.cgroup_paths, "user" in cfg.namespaces)
        fs.prepare()
        _hooks_barrier(launch)
        hooks.run_stage("createContainer", cfg.hooks, launch.hook_state)
        fs.pivot(launch.no_pivot)
        fs.finish()
    process.enter_cwd(cfg.process)


def _hooks_barrier(launch: Launch) -> None:
    """Let the runtime run prestart/createRuntime hooks in its namespaces."""
    if launch.cfg.hooks.get("prestart") or launch.cfg.hooks.get("createRuntime") \
            or launch.cfg.hooks.get("createContainer"):
        sync.send(launch.sock, sync.RUN_HOOKS)
        msg = sync.expect(launch.sock, sync.HOOKS_DONE, "runtime")
        launch.hook_state = msg.get("state") or {}


def _stdio(launch: Launch) -> None:
    if not launch.cfg.process.terminal:
        return
    master, slave, pts = console.open_pty(launch.cfg.process.console_size)
    if "mount" in launch.cfg.namespaces:
        console.bind_console(pts)
    console.make_controlling(slave)
    console.send_master(launch.console_fd, master)
    os.close(master)
    os.close(launch.console_fd)
