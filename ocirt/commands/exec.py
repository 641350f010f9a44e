"""exec: the process comes from --process FILE or from the command line on
top of the container's own config.process, as runc builds it."""
from __future__ import annotations

import os

from .. import execin
from ..config.load import read_json
from ..config.model import Process
from ..errors import ConfigError, OcirtError
from ..linux import unixsock
from . import load


def _user(spec: str) -> dict:
    uid, _, gid = spec.partition(":")
    try:
        return {"uid": int(uid), "gid": int(gid or 0)}
    except ValueError:
        raise ConfigError(f"exec: --user {spec!r}: expected uid[:gid] as numbers") from None


def process_spec(parsed, base: dict) -> dict:
    f = parsed.flags
    if f["process"]:
        return read_json(f["process"], "process", regular_only=False)
    args = parsed.args[1:]
    if not args:
        raise ConfigError("exec: no command given: usage: ocirt exec <container-id> <command> [args...]")
    p = dict(base)
    p["args"] = args
    p["terminal"] = f["tty"]
    env = list(p.get("env") or [])
    for item in f["env"]:
        key = item.partition("=")[0]
        env = [e for e in env if e.partition("=")[0] != key] + [item]
    p["env"] = env
    if f["cwd"]:
        p["cwd"] = f["cwd"]
    user = dict(p.get("user") or {})
    if f["user"]:
        user.update(_user(f["user"]))
    if f["additional_gids"]:
        user["additionalGids"] = [int(g) for g in f["additional_gids"]]
    p["user"] = user
    if f["cap"]:
        caps = {k: list(v) for k, v in (p.get("capabilities") or {}).items()}
        for k in ("bounding", "effective", "permitted", "ambient", "inheritable"):
            caps[k] = sorted(set(caps.get(k, [])) | set(f["cap"]))
        p["capabilities"] = caps
    if f["no_new_privs"]:
        p["noNewPrivileges"] = True
    if f["apparmor"]:
        p["apparmorProfile"] = f["apparmor"]
    if f["process_label"]:
        p["selinuxLabel"] = f["process_label"]
    p.pop("consoleSize", None)
    return p


def main(ctx, parsed) -> int:
    ct = load(ctx, parsed, extra=True)
    f = parsed.flags
    status = ct.status()
    if status == "paused" and not f["ignore_paused"]:
        raise OcirtError("cannot exec in a paused container (use --ignore-paused to override)")
    if status not in ("running", "created", "paused"):
        raise OcirtError("cannot exec in a stopped container")
    config = ct.record.get("config") or {}
    spec = process_spec(parsed, config.get("process") or {})
    if not spec.get("args"):
        raise ConfigError("exec: process.args must not be empty")
    proc = Process(spec)
    from ..capabilities import CapSets

    CapSets(proc.capabilities)  # unknown --cap names fail here, not in the container
    from ..lsm import check_host

    check_host(proc.apparmor)
    if proc.terminal and not f["console_socket"] and f["detach"]:
        raise OcirtError("cannot allocate tty if ocirt will detach without setting console socket")
    console_fd, relay_sock = _console(proc, f["console_socket"])
    try:
        pid = execin.run(ct, proc, (config.get("linux") or {}).get("seccomp"), console_fd,
                         f["preserve_fds"], f["detach"])
    finally:
        if console_fd is not None:
            os.close(console_fd)
    if f["pid_file"]:
        from ..container import _write_pid_file

        _write_pid_file(f["pid_file"], pid)
    if f["detach"]:
        return 0
    return _wait(pid, relay_sock)


def _console(proc: Process, path: str | None):
    if not proc.terminal:
        return None, None
    if path:
        from ..console import connect_console_socket

        return connect_console_socket(path), None
    mine, theirs = unixsock.pair()
    return theirs.detach(), mine


def _wait(pid: int, relay_sock) -> int:
    from .run import _reap, forward_signals

    forward_signals(pid)
    if relay_sock is not None:
        from ..console import receive_master, relay

        master = receive_master(relay_sock)
        relay_sock.close()
        relay(master, pid)
    return _reap(pid)
