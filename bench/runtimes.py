"""How each runtime under test is invoked.

Every runtime gets its own --root in the harness's temp dir, so state
directories never mix and `list` only sees the harness's containers.
"""
from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import sysconfig
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

    def with_root(self, root: Path) -> Runtime:
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
    return env


def _installed_launcher() -> str | None:
    """The launcher pip put next to this interpreter (what tests/conftest.py uses)."""
    script = os.path.join(sysconfig.get_paths()["scripts"], "ocirt")
    return script if os.access(script, os.X_OK) else None


def build_private_install(dest: Path) -> Path:
    """pip-install this checkout into dest, as tests/install-deps.sh installs it.

    Measures the code of this tree as shipped (C extensions, the prebuilt
    config validator setup.py generates) without touching site-packages,
    whose copy may be older than the tree.
    """
    done = subprocess.run(
        [real_python(), "-m", "pip", "install", "-q", "--disable-pip-version-check",
         "--no-deps", "--no-build-isolation", "--target", str(dest), str(REPO)],
        capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError("pip install of the checkout failed: " + done.stderr[-300:])
    return dest


def launcher_code(first: Path = REPO) -> str:
    """What setup.py's launcher runs, with `first` ahead of site-packages."""
    paths = [str(first), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    return (f"import sys; sys.path[:0] = {paths!r}; "
            "from ocirt.cli.main import main; sys.exit(main())")


def checkout_launcher_code() -> str:
    return launcher_code(REPO)


def ocirt_command(source: str = "checkout", install_dir: Path | None = None
                  ) -> list[str] | None:
    """$OCIRT_BIN, else this tree (built or as is), else the installed launcher.

    The tree is started like the installed launcher: `python3 -I -S` and an
    explicit sys.path, so interpreter start-up is the same as for users.
    """
    if os.environ.get("OCIRT_BIN"):
        return shlex.split(os.environ["OCIRT_BIN"])
    if source == "build" and install_dir is not None:
        return [real_python(), "-I", "-S", "-c", launcher_code(install_dir)]
    if source == "checkout" and (REPO / "ocirt" / "cli" / "main.py").exists():
        return [real_python(), "-I", "-S", "-c", checkout_launcher_code()]
    installed = _installed_launcher() or shutil.which("ocirt")
    return [installed] if installed else None


def describe_command(rt: Runtime) -> str:
    """Short human form of how a runtime is started, for the report."""
    if "-c" in rt.cmd and "ocirt.cli.main" in rt.cmd[-1]:
        where = ("a private pip install of this checkout" if str(REPO) not in rt.cmd[-1]
                 else "this checkout, not built")
        return f"python3 -I -S -c 'from ocirt.cli.main import main' ({where})"
    return " ".join(rt.cmd)


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


def resolve(name: str, holder: MountNamespaceHolder | None = None,
            ocirt_source: str = "checkout", install_dir: Path | None = None
            ) -> Runtime | None:
    """A Runtime for a known name, or None when it is not installed.

    With a holder, crun joins its namespace; without one on a hybrid host,
    it goes through the per-call unshare wrapper.
    """
    if name == "ocirt":
        cmd = ocirt_command(ocirt_source, install_dir)
        return Runtime("ocirt", tuple(cmd)) if cmd else None
    if not shutil.which(name):
        return None
    if name == "crun" and holder is not None:
        return Runtime("crun", holder.nsenter("crun"),
                       note="run via `nsenter` into a held mount namespace "
                            "without the cgroup2 mount")
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
