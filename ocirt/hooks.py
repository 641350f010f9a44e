"""OCI hooks: run a hook with the container state on stdin, honour its timeout.

Hooks are spawned with posix_spawn (no Python runs in the child), their
output is captured so a failure can say what the hook printed.
"""
from __future__ import annotations

from . import jsonio as json
import os
import select
import _signal as signal  # not signal: its enums import enum (~5 ms)
import time

from .errors import OcirtError
from .linux import sys

HOOK_STAGES = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")
# Failure in these stages aborts the operation; poststart/poststop only warn.
FATAL_STAGES = ("prestart", "createRuntime", "createContainer", "startContainer")


class Hook:
    __slots__ = ("path", "args", "env", "timeout")

    def __init__(self, h: dict) -> None:
        self.path: str = h["path"]
        self.args: list[str] = list(h.get("args") or [h["path"]])
        self.env: list[str] = list(h.get("env") or [])
        self.timeout: int | None = h.get("timeout")


def convert_hooks(hooks: dict | None) -> dict[str, list[Hook]]:
    """The spec's six stages (unknown keys, which the schema allows, ignored).

    Here rather than in config.model so that start and delete, which read
    the hooks back from state.json, load no config machinery."""
    hooks = hooks or {}
    return {stage: [Hook(h) for h in hooks.get(stage) or []] for stage in HOOK_STAGES}


def run_hook(stage: str, index: int, hook: Hook, state: dict) -> None:
    where = f"hooks.{stage}[{index}] ({hook.path})"
    stdin_r, stdin_w = os.pipe()
    out_fd = os.memfd_create("ocirt-hook", os.MFD_CLOEXEC)
    try:
        actions = [(os.POSIX_SPAWN_DUP2, stdin_r, 0), (os.POSIX_SPAWN_DUP2, out_fd, 1),
                   (os.POSIX_SPAWN_DUP2, out_fd, 2)]
        env = dict(item.partition("=")[::2] for item in hook.env)
        try:
            pid = os.posix_spawn(hook.path, hook.args, env, file_actions=actions,
                                 setsigdef=(signal.SIGPIPE, signal.SIGXFSZ))
        except OSError as e:
            raise OcirtError(f"{where}: cannot run hook: {e.strerror}") from None
        os.close(stdin_r)
        stdin_r = -1
        try:
            os.write(stdin_w, json.dumps(state).encode())
        except BrokenPipeError:
            pass  # a hook may ignore its stdin
        os.close(stdin_w)
        stdin_w = -1
        status = _wait(pid, hook.timeout, where)
        if status != 0:
            os.lseek(out_fd, 0, 0)
            output = os.read(out_fd, 4096).decode(errors="replace").strip().replace("\n", " ")
            raise OcirtError(f"{where}: hook failed with exit status {status}" + (f": {output}" if output else ""))
    finally:
        for fd in (stdin_r, stdin_w, out_fd):
            if fd >= 0:
                os.close(fd)


def _wait(pid: int, timeout: int | None, where: str) -> int:
    if timeout:
        pidfd = sys.pidfd_open(pid)
        try:
            deadline = time.monotonic() + timeout
            poller = select.poll()
            poller.register(pidfd, select.POLLIN)
            while not poller.poll(max(0, deadline - time.monotonic()) * 1000):
                if time.monotonic() >= deadline:
                    sys.pidfd_send_signal(pidfd, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    raise OcirtError(f"{where}: hook timed out after {timeout}s and was killed")
        finally:
            os.close(pidfd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def run_stage(stage: str, hooks: dict[str, list[Hook]], state, warn=None) -> None:
    """Run every hook of a stage in order; fatal stages raise on failure.

    state is the state document, or a function returning it: deriving the
    status can read the cgroup, which a stage without hooks need not pay for."""
    stage_hooks = hooks.get(stage) or []
    if stage_hooks and callable(state):
        state = state()
    for i, hook in enumerate(stage_hooks):
        try:
            run_hook(stage, i, hook, state)
        except OcirtError as e:
            if stage in FATAL_STAGES or warn is None:
                raise
            warn(str(e))
