"""The lifecycle operations of the spec: create, start, kill, delete.

Each function is one runtime-side half of sync.py's protocol; the other
half is in init.py.  A create that fails at any step undoes every earlier
step (process, cgroup, state dir) before the error reaches the user.
"""
from __future__ import annotations

import os
import _signal as signal  # not signal: its enums import enum (~5 ms)

from . import faults, hooks, log, sync
from .errors import OcirtError
from .linux import sys, unixsock
from .state import START_SOCK, Container, check_id, now_rfc3339

TYPE_CHECKING = False  # typing itself costs ~5 ms to import
if TYPE_CHECKING:
    from .config.model import Config
    from .init import Launch

# start, kill and delete are called more often than create and need none of
# its machinery (config loading, the init, rootfs, namespaces): create
# imports those itself, which keeps the other commands' start-up short.


class CreateOptions:
    def __init__(self) -> None:
        self.bundle = "."
        self.pid_file: str | None = None
        self.console_socket: str | None = None
        self.console_fd: int | None = None  # run: ocirt's own console socket
        self.no_pivot = False
        self.no_new_keyring = False
        self.preserve_fds = 0
        self.rootless = False


def create(root: str, cid: str, opts: CreateOptions) -> Container:
    faults.point("create:begin")
    from . import capabilities, lsm
    from .config.load import load_bundle

    check_id(cid)
    bundle = os.path.abspath(opts.bundle)
    raw, cfg = load_bundle(bundle)
    faults.point("create:config-loaded")
    if cfg.process is None:
        raise OcirtError(f"{bundle}/config.json: process: missing; a container needs a process to start")
    if cfg.process.terminal and opts.console_socket is None and opts.console_fd is None:
        raise OcirtError("cannot allocate tty if ocirt will detach without setting console socket: pass --console-socket")
    if not cfg.process.terminal and opts.console_socket:
        raise OcirtError("cannot use console socket if ocirt will not detach or allocate tty: remove --console-socket or set process.terminal")
    lsm.check_host(cfg.process.apparmor)
    if cfg.net_devices and os.geteuid() != 0:
        raise OcirtError("linux.netDevices: moving a host network device needs root (CAP_NET_ADMIN in the "
                         "host's network namespace): remove linux.netDevices or run as root")
    if cfg.namespaces.get("user") is None:  # a new user ns starts with a full bounding set
        capabilities.check_grantable(cfg.process.capabilities)
    ct = Container(root, cid, {"bundle": bundle, "rootfs": cfg.rootfs, "created": now_rfc3339(),
                               "owner": _owner(), "annotations": cfg.annotations, "config": raw})
    ct.make_dir()
    faults.point("create:state-dir")
    undo: list = [ct.remove_dir]
    try:
        _create_in(ct, cfg, opts, undo)
    except BaseException:
        for step in reversed(undo):
            try:
                step()
            except Exception as e:  # noqa: BLE001 - report the original error
                log.debug(f"cleanup after failed create: {e}")
        raise
    return ct


def _owner() -> str:
    return "" if os.geteuid() == 0 else str(os.geteuid())


def _create_in(ct: Container, cfg: Config, opts: CreateOptions, undo: list) -> None:
    from .cgroups import new_manager

    mgr = new_manager(cfg.cgroups_path, ct.id, rootless=opts.rootless)
    # Saved before anything is made, so `delete --force` can undo a create
    # whose runtime was killed half-way (status "creating").
    ct.record["cgroup"] = mgr.to_state(planned=True)
    ct.save()
    undo.append(mgr.destroy)
    mgr.create(cfg.resources, cfg.devices)
    faults.point("create:cgroup")
    for w in mgr.warnings:
        log.warn(w)
    ct.record["cgroup"] = mgr.to_state()  # create may have dropped hierarchies (rootless)
    ct.save()
    launch = _launch(ct, cfg, opts, mgr)
    faults.point("create:launch-ready")
    parent, child = unixsock.pair()
    launch.sock = child
    from .init import intermediate

    pid = os.fork()
    if pid == 0:
        parent.close()
        intermediate(launch)
    child.close()
    launch.listener.close()
    if launch.console_fd is not None and opts.console_fd is None:
        os.close(launch.console_fd)
    try:
        _handshake(ct, cfg, parent, pid, mgr, undo)
    finally:
        parent.close()
    if opts.pid_file:
        _write_pid_file(opts.pid_file, ct.pid)


def _launch(ct: Container, cfg: Config, opts: CreateOptions, mgr) -> Launch:
    from .init import Launch

    launch = Launch(cfg, ct.dir, None)  # type: ignore[arg-type]
    launch.preserve_fds = opts.preserve_fds
    launch.no_pivot = opts.no_pivot
    launch.no_new_keyring = opts.no_new_keyring
    launch.cgroup_paths = getattr(mgr, "paths", {}) or {}
    launch.listener = unixsock.listen(ct.path(START_SOCK), unixsock.SOCK_SEQPACKET)
    if cfg.process.terminal:
        launch.console_fd = opts.console_fd if opts.console_fd is not None \
            else _console(opts.console_socket)
    if cfg.seccomp is not None:
        from . import seccomp

        launch.seccomp = seccomp.compile_filter(cfg.seccomp, cache_dir=seccomp_cache(ct.root))
        for w in launch.seccomp.warnings:
            log.warn(w)
    return launch


def seccomp_cache(root: str) -> str:
    """Compiled profiles, keyed by content ('#' never occurs in an id)."""
    return os.path.join(root, "#seccomp-cache")


def _console(path: str) -> int:
    from .console import connect_console_socket

    return connect_console_socket(path)


def _handshake(ct: Container, cfg: Config, sock, pid: int, mgr, undo: list) -> None:
    from . import namespaces, network

    try:
        sync.expect(sock, sync.NS_READY)
        faults.point("create:forked")
        mgr.add_pid(pid)
        if cfg.namespaces.get("user") == "":
            namespaces.write_id_maps(pid, cfg.uid_mappings, cfg.gid_mappings)
        sync.send(sock, sync.NS_MAPPED)
        init_pid = sync.expect(sock, sync.INIT_PID)["pid"]
    except BaseException:
        _kill_pid(pid)  # it may be waiting for NS_MAPPED: never wait on it blindly
        raise
    finally:
        _reap_quietly(pid)
    undo.append(lambda: _kill_pid(init_pid))
    from .state import proc_start_time

    ct.record["pid"] = init_pid
    ct.record["pid_start"] = proc_start_time(init_pid)
    ct.save()
    if cfg.net_devices:
        network.move_devices(init_pid, cfg.net_devices)  # the init's netns exists: fill it
        sync.send(sock, sync.NET_READY)
    faults.point("create:init-pid")
    msg = sync.expect(sock, sync.CREATED, "container init") if not _wants_hooks(cfg) else None
    if msg is None:
        sync.expect(sock, sync.RUN_HOOKS)
        # "created" as runtime-tools and crun expect: the environment exists
        # (runc says "creating" here)
        state = ct.hook_state("created")
        hooks.run_stage("prestart", cfg.hooks, state)
        hooks.run_stage("createRuntime", cfg.hooks, state)
        sync.send(sock, sync.HOOKS_DONE, state=state)
        sync.expect(sock, sync.CREATED)
    faults.point("create:before-save")
    ct.record["ready"] = True
    ct.save()
    faults.point("create:saved")


def _wants_hooks(cfg: Config) -> bool:
    return any(cfg.hooks.get(s) for s in ("prestart", "createRuntime", "createContainer"))


def _kill_pid(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    _reap_quietly(pid)


def _reap_quietly(pid: int) -> None:
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass  # already reaped, or not our child (reparented): it dies anyway


def _write_pid_file(path: str, pid: int) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write(str(pid))
    os.rename(tmp, path)


# --- start ------------------------------------------------------------------
def start(ct: Container) -> None:
    status = ct.status()
    if status != "created":
        raise OcirtError("cannot start a container that has stopped" if status == "stopped"
                         else "cannot start an already running container" if status in ("running", "paused")
                         else f"cannot start a container in the {status} state")
    cfg_hooks = _hooks_of(ct)
    path = ct.path(START_SOCK)
    try:
        conn = unixsock.connect(path, unixsock.SOCK_SEQPACKET)
    except OSError as e:
        raise OcirtError(f"container {ct.id}: cannot reach its init: {e.strerror}") from None
    os.unlink(path)
    faults.point("start:connected")
    try:
        try:
            sync.send(conn, sync.START, state=ct.hook_state("created"))
            await_exec(ct, conn)
        finally:
            conn.close()
        hooks.run_stage("poststart", cfg_hooks, lambda: ct.hook_state("running"))
    except OcirtError:
        _destroy_after_failed_start(ct, cfg_hooks)
        raise


def _destroy_after_failed_start(ct: Container, cfg_hooks: dict) -> None:
    """runtime.md lifecycle steps 7-9: when startContainer, the program's
    execve or a poststart hook fails, the runtime stops the container and
    goes on at step 12: destroy it, then the poststop hooks.  The state dir
    stays (status stopped), so the caller's delete still succeeds, as with
    runc, and has nothing left to undo."""
    try:
        _kill_and_wait(ct)
        if ct.record.get("cgroup"):
            ct.cgroup().destroy()
        hooks.run_stage("poststop", cfg_hooks, lambda: ct.hook_state("stopped"), warn=log.warn)
        ct.record["destroyed"] = True
        ct.save()
    except OcirtError as e:
        log.warn(f"cleanup after the failed start: {e}; run delete --force")


def await_exec(ct: Container, conn) -> None:
    """The socket closes when init's execve succeeds (CLOEXEC); a message
    before that is an error or a seccomp listener to forward."""
    while True:
        data, fds = unixsock.recv_fds(conn, 65536, 1)
        if not data:
            return
        from . import jsonio as json

        msg = json.loads(data)
        if msg["type"] == sync.ERROR:
            raise OcirtError(msg.get("msg", "container init failed"))
        if msg["type"] == "SECCOMP_LISTENER" and fds:
            _forward_listener(ct, fds[0])


def _forward_listener(ct: Container, fd: int) -> None:
    from . import seccomp

    spec = (ct.record.get("config") or {}).get("linux", {}).get("seccomp") or {}
    try:
        seccomp.send_listener(fd, spec.get("listenerPath"), ct.hook_state("running"),
                              spec.get("listenerMetadata"))
    finally:
        os.close(fd)


def _hooks_of(ct: Container) -> dict:
    return hooks.convert_hooks((ct.record.get("config") or {}).get("hooks"))


# --- kill / delete ----------------------------------------------------------
def kill(ct: Container, sig: int, all_procs: bool = False) -> None:
    status = ct.status()
    if status == "stopped":
        if all_procs:
            return  # runc: --all on a stopped container has nothing left to signal
        raise OcirtError("container not running")
    if all_procs:
        for pid in container_pids(ct):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        return
    _signal_init(ct, sig)


def container_pids(ct: Container) -> list[int]:
    """The container's processes: its cgroup's, or — without a cgroup of its
    own (rootless) — the members of its pid namespace."""
    pids = ct.cgroup().pids() if ct.record.get("cgroup") else []
    return pids or _pidns_members(ct.pid)


def _pidns_members(init_pid: int) -> list[int]:
    try:
        target = os.readlink(f"/proc/{init_pid}/ns/pid")
    except OSError:
        return []
    if target == os.readlink("/proc/self/ns/pid"):
        return [init_pid]  # sharing the host's pid namespace: only the init is surely ours
    members = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.readlink(f"/proc/{name}/ns/pid") == target:
                    members.append(int(name))
            except OSError:
                continue  # gone, or not ours to look at
    return sorted(members)


def _signal_init(ct: Container, sig: int) -> None:
    """Signal through a pidfd checked against the recorded start time, so a
    recycled pid is never signalled."""
    try:
        pidfd = sys.pidfd_open(ct.pid)
    except ProcessLookupError:
        raise OcirtError("container not running") from None
    try:
        if not ct.init_alive():
            raise OcirtError("container not running")
        sys.pidfd_send_signal(pidfd, sig)
    except ProcessLookupError:
        raise OcirtError("container not running") from None
    finally:
        os.close(pidfd)


def delete(ct: Container, force: bool = False) -> None:
    status = ct.status()
    if status not in ("stopped", "creating") and not force:
        if status == "created":
            pass  # runc deletes a created container: it never ran
        else:
            raise OcirtError(f"cannot delete container {ct.id} that is not stopped: {status}")
    if status != "stopped" and ct.pid:
        if status == "paused":
            ct.cgroup().thaw()
        _kill_and_wait(ct)
    if ct.record.get("destroyed"):
        ct.remove_dir()  # a failed start already undid the rest
        return
    if ct.record.get("cgroup"):
        ct.cgroup().destroy()
    if status != "creating":
        hooks.run_stage("poststop", _hooks_of(ct), lambda: ct.hook_state("stopped"), warn=log.warn)
    ct.remove_dir()


def _kill_and_wait(ct: Container) -> None:
    try:
        pidfd = sys.pidfd_open(ct.pid)
    except ProcessLookupError:
        return
    try:
        if ct.init_alive():
            sys.pidfd_send_signal(pidfd, signal.SIGKILL)
            import select

            select.select([pidfd], [], [], 10)
    except ProcessLookupError:
        pass
    finally:
        os.close(pidfd)
