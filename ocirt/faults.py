"""Named checkpoints on the create/start path, for two kinds of tests.

- Crash tests: OCIRT_FAULT=<name> makes the process that reaches that point
  SIGKILL itself there, so tests can check that `delete --force` cleans up
  after a runtime killed at any step of create.
- Timing: OCIRT_PHASE_LOG=<file> appends "<name> <pid> <CLOCK_MONOTONIC ns>"
  at every point the CLI process itself reaches, which bench/hotspots.py
  turns into the per-phase breakdown of one create.  Forked children (the
  init) never write it: they may already be inside the container, where
  that path names a file of the container's choosing.
"""
from __future__ import annotations

import os
import _signal as signal  # not signal: its enums import enum (~5 ms)

_armed = os.environ.get("OCIRT_FAULT")
_phase_log = os.environ.get("OCIRT_PHASE_LOG")
_cli_pid = os.getpid()


def point(name: str) -> None:
    if _phase_log and os.getpid() == _cli_pid:
        _log_phase(name)
    if _armed == name:
        os.kill(os.getpid(), signal.SIGKILL)
        os._exit(137)  # pid 1 of a pid namespace ignores its own SIGKILL


def _log_phase(name: str) -> None:
    import time

    try:
        fd = os.open(_phase_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        return  # timing is best effort: never a reason for create to fail
    try:
        os.write(fd, f"{name} {os.getpid()} {time.monotonic_ns()}\n".encode())
    finally:
        os.close(fd)
