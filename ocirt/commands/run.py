"""run = create + start; in the foreground also wait, forward signals,
relay the terminal and delete, returning the container's exit status."""
from __future__ import annotations

import os
import _signal as signal  # not signal: its enums import enum (~5 ms)

from ..container import create, delete, start
from ..linux import constants as c
from ..linux import sys, unixsock
from . import need_id
from .create import options

# Signals run forwards to the container instead of dying of them itself.
FORWARDED = [s for s in signal.valid_signals() if s < signal.SIGRTMIN and s not in (
    signal.SIGKILL, signal.SIGSTOP, signal.SIGCHLD, signal.SIGWINCH, signal.SIGTTIN,
    signal.SIGTTOU, signal.SIGTSTP, signal.SIGCONT)]


def main(ctx, parsed) -> int:
    opts = options(ctx, parsed)
    detach = parsed.flags["detach"]
    cid = need_id(parsed)
    relay_sock = None
    if not detach:
        sys.prctl(c.PR_SET_CHILD_SUBREAPER, 1)
        if opts.console_socket is None and _wants_terminal(opts.bundle):
            relay_sock, theirs = unixsock.pair()
            opts.console_fd = theirs.detach()
    try:
        ct = create(ctx.root, cid, opts)
    finally:
        if opts.console_fd is not None:
            os.close(opts.console_fd)
    master = None
    if relay_sock is not None:
        from ..console import receive_master

        master = receive_master(relay_sock)
        relay_sock.close()
    try:
        start(ct)
    except BaseException:
        delete(ct, force=True)
        raise
    if detach:
        return 0
    return _wait(ct, master, parsed.flags["keep"])


def _wants_terminal(bundle: str) -> bool:
    from ..config.load import read_json

    try:
        return bool((read_json(os.path.join(bundle, "config.json")).get("process") or {}).get("terminal"))
    except Exception:  # noqa: BLE001 - create reports a broken config properly
        return False


def forward_signals(pid: int) -> None:
    """Pass every signal we may catch on to pid (run and exec in the foreground)."""
    def forward(signum, _frame):
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    for s in FORWARDED:
        signal.signal(s, forward)


def _wait(ct, master: int | None, keep: bool) -> int:
    pid = ct.pid
    forward_signals(pid)
    if master is not None:
        from ..console import relay

        relay(master, pid)
    status = _reap(pid)
    if not keep:
        delete(ct, force=True)
    return status


def _reap(pid: int) -> int:
    """Wait for the container's init; reap any other orphan handed to us."""
    while True:
        try:
            got, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return 0
        if got == pid:
            code = os.waitstatus_to_exitcode(status)
            return 128 - code if code < 0 else code
