"""How each runtime under test is invoked.

Every runtime gets its own --root in the harness's temp dir, so state
directories never mix and `list` only sees the harness's containers.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

from bench import proc

REPO = Path(__file__).resolve().parent.parent

# crun refuses a hybrid cgroup layout (v1 controllers plus a cgroup2 mount
# at /sys/fs/cgroup/unified).  Measure it inside a private mount namespace
# where that cgroup2 mount is gone.  Two ways, both reported with their own
# cost: "nsenter" (default) joins one such namespace held open for the whole
# run (~1 ms per call); "unshare" builds a fresh one per call with
# `unshare -m sh -c 'umount ...; exec crun "$@"'` (a shell and umount per
# call, a few ms more).
HYBRID_CGROUP2 = Path("/sys/fs/cgroup/unified")


def unshare_wrapper(prog: str) -> tuple[str, ...]:
    """argv prefix running prog (or, when empty, its first argument) that way."""
    script = f'umount {HYBRID_CGROUP2} 2>/dev/null; exec {prog} "$@"'
    return ("unshare", "-m", "sh", "-c", script, "sh")


CRUN_WRAPPER = unshare_wrapper("crun")


@dataclass(frozen=True)
class Runtime:
    name: str
    cmd: tuple[str, ...]  # argv prefix, global flags follow
    root: str = ""
    note: str = ""

    def argv(self, *args: str) -> list[str]:
        """A command with this runtime's --root (for every state-touching call)."""
        return [*self.cmd, "--root", self.root, *args]

    def bare(self, *args: str) -> list[str]:
        return [*self.cmd, *args]

    def with_root(self, root: Path) -> "Runtime":
        return replace(self, root=str(root))


def is_hybrid_cgroup() -> bool:
    return os.path.ismount(HYBRID_CGROUP2) and os.path.ismount("/sys/fs/cgroup/memory")


def real_python() -> str:
    """The interpreter binary itself, not a pyenv shim script."""
    return os.path.realpath(sys.executable)


def bench_env() -> dict[str, str]:
    """Environment for runtime calls: real interpreter first on PATH.

    A `#!/usr/bin/env python3` launcher would otherwise resolve to the pyenv
    shim, a shell script that costs tens of milliseconds per call.
    """
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(real_python()) + os.pathsep + env.get("PATH", "")
    # Lets the `python3 -m ocirt` fallback import the checkout.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    return env


def _ocirt_from_conftest() -> list[str] | None:
    """The dev launcher that tests/conftest.py uses as OCIRT_BIN default."""
    conftest = REPO / "tests" / "conftest.py"
    if not conftest.exists():
        return None
    text = conftest.read_text()
    for match in re.finditer(r"[\"']([\w./-]*ocirt[\w.-]*)[\"']", text):
        cand = REPO / match.group(1)
        if cand.is_file() and os.access(cand, os.X_OK):
            return [str(cand)]
    return None


def ocirt_command() -> list[str] | None:
    if os.environ.get("OCIRT_BIN"):
        return shlex.split(os.environ["OCIRT_BIN"])
    for finder in (_ocirt_from_conftest, _ocirt_in_repo):
        cmd = finder()
        if cmd:
            return cmd
    found = shutil.which("ocirt")
    return [found] if found else None


def _ocirt_in_repo() -> list[str] | None:
    for rel in ("bin/ocirt", "ocirt.sh", "scripts/ocirt"):
        cand = REPO / rel
        if cand.is_file() and os.access(cand, os.X_OK):
            return [str(cand)]
    if (REPO / "ocirt" / "__main__.py").exists():
        return [real_python(), "-m", "ocirt"]
    return None


class MountNamespaceHolder:
    """A sleeping process whose mount namespace lacks the cgroup2 mount."""

    def __init__(self) -> None:
        script = f"umount {HYBRID_CGROUP2} && exec sleep 100000"
        self.pid = proc.spawn(["unshare", "-m", "sh", "-c", script], measured=False).pid
        self.path = f"/proc/{self.pid}/ns/mnt"
        self._wait_ready()

    def _wait_ready(self) -> None:
        # Ready once the holder has exec'd sleep, i.e. after the umount.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if _comm(self.pid) == "sleep":
                return
            time.sleep(0.01)
        raise RuntimeError("mount namespace holder did not come up")

    def nsenter(self, *prog: str) -> tuple[str, ...]:
        return ("nsenter", f"--mount={self.path}", *prog)

    def stop(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def resolve(name: str, holder: MountNamespaceHolder | None = None) -> Runtime | None:
    """A Runtime for a known name, or None when it is not installed.

    With a holder, crun joins its namespace; without one on a hybrid host,
    it goes through the per-call unshare wrapper.
    """
    if name == "ocirt":
        cmd = ocirt_command()
        return Runtime("ocirt", tuple(cmd)) if cmd else None
    if not shutil.which(name):
        return None
    if name == "crun" and holder is not None:
        return Runtime("crun", holder.nsenter("crun"),
                       note="run via `nsenter` into a held mount namespace without the cgroup2 mount")
    if name == "crun" and is_hybrid_cgroup():
        return Runtime("crun", CRUN_WRAPPER,
                       note="run via `unshare -m sh -c 'umount cgroup2; exec crun'` per call")
    return Runtime(name, (name,))


def version(rt: Runtime, env: dict[str, str]) -> str:
    res = proc.run(rt.bare("--version"), env=env, timeout_s=20)
    lines = [ln.strip() for ln in res.stdout.splitlines() if ln.strip()]
    if not res.ok or not lines:
        return f"unknown ({proc.describe_failure(res)})"
    # runc prints its version then commit/spec lines; crun its version then flags.
    return "; ".join(lines[:2])[:120]
