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
    python: str = ""  # the interpreter, for a runtime started as a Python launcher

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


def launcher_code(first: Path = REPO, site: list[str] | None = None) -> str:
    """What setup.py's launcher runs, with `first` ahead of site-packages.

    `site` is the interpreter's site-packages (default: this interpreter's).
    """
    if site is None:
        site = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    paths = list(dict.fromkeys([str(first), *site]))
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


# ocirt-distro: the same checkout, installed the same way, but started by
# Debian's /usr/bin/python3 (PGO+LTO, libpython linked in: it starts about
# twice as fast as an `--enable-shared` build such as pyenv's).  Which
# interpreter the launcher names is a deployment choice, not a code change;
# this variant measures what that choice is worth.
DISTRO = "ocirt-distro"
DISTRO_PYTHON = "/usr/bin/python3"
# ocirt's run-time dependencies, plus wheel: setuptools < 70 needs it to build.
DISTRO_VENV_PACKAGES = ("cffi", "jsonschema", "wheel")
# What pip needs of the checkout to build it.
BUILD_INPUTS = ("setup.py", "pyproject.toml", "README.md", "ocirt", "native", "schema")
PIP_QUIET = ("-q", "--disable-pip-version-check")


class Unavailable(Exception):
    """A variant that cannot be set up on this machine: a note, not an error."""


@dataclass(frozen=True)
class DistroInstall:
    python: str  # <venv>/bin/python3
    site: list[str]  # the venv's site-packages (cffi, jsonschema)
    install_dir: Path  # this checkout, built by that interpreter


def _stderr_tail(text: str) -> str:
    # pip's warnings about unreachable extra indexes say nothing about the failure
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and "WARNING" not in ln]
    return " / ".join(lines[-3:])[-300:] or "no output"


def _run_or_unavailable(argv: list[str], what: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=600, env=env)
    if done.returncode != 0:
        raise Unavailable(f"{what} failed: {_stderr_tail(done.stderr)}")
    return done.stdout


def _check_distro_python() -> None:
    if not os.access(DISTRO_PYTHON, os.X_OK):
        raise Unavailable(f"no {DISTRO_PYTHON}")
    if os.path.realpath(DISTRO_PYTHON) == real_python():
        raise Unavailable(f"{DISTRO_PYTHON} is the interpreter ocirt already runs under")
    # Debian splits ensurepip (python3-venv) and Python.h (python3-dev, for
    # the cffi modules) out of python3.
    probe = ("import importlib.util, os, sysconfig; "
             "h = os.path.join(sysconfig.get_paths()['include'], 'Python.h'); "
             "print(*[pkg for pkg, ok in (('python3-venv', importlib.util.find_spec('ensurepip')), "
             "('python3-dev', os.path.exists(h))) if not ok])")
    missing = _run_or_unavailable([DISTRO_PYTHON, "-I", "-c", probe], "probe").split()
    if missing:
        raise Unavailable(f"{DISTRO_PYTHON} lacks {' and '.join(missing)} "
                          f"(apt-get install {' '.join(missing)})")


def _copy_build_inputs(dest: Path) -> Path:
    """A copy of what setup.py builds from.

    Not the tree itself: pip builds in its build/, where the pyenv install's
    cffi modules (same cpython-311 tag) could pass for up to date.
    """
    dest.mkdir(parents=True)
    skip = shutil.ignore_patterns("__pycache__", "*.so", "*.new")
    for name in BUILD_INPUTS:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=skip)
        elif src.exists():
            shutil.copy2(src, dest / name)
    return dest


def _git_env() -> dict[str, str]:
    """setup.py records `git describe` of its directory: point it at this checkout."""
    env = dict(os.environ)
    if (REPO / ".git").exists():
        env.update(GIT_DIR=str(REPO / ".git"), GIT_WORK_TREE=str(REPO))
    return env


def build_distro_install(workdir: Path) -> DistroInstall:
    """A venv of DISTRO_PYTHON in workdir, and this checkout built by it.

    Raises Unavailable when the machine lacks a piece (or PyPI is out of reach).
    """
    _check_distro_python()
    venv = workdir / "distro-venv"
    _run_or_unavailable([DISTRO_PYTHON, "-m", "venv", str(venv)], "venv creation")
    python = str(venv / "bin" / "python3")
    _run_or_unavailable([python, "-m", "pip", "install", *PIP_QUIET, *DISTRO_VENV_PACKAGES],
                        "pip install of " + ", ".join(DISTRO_VENV_PACKAGES))
    src = _copy_build_inputs(workdir / "distro-src")
    dest = workdir / "ocirt-distro-install"
    _run_or_unavailable([python, "-m", "pip", "install", *PIP_QUIET, "--no-deps",
                         "--no-build-isolation", "--target", str(dest), str(src)],
                        "pip install of the checkout", env=_git_env())
    # Asked with site processing on: only site.py makes the venv the prefix.
    paths = "import sysconfig; p = sysconfig.get_paths(); print(p['purelib'], p['platlib'])"
    site = _run_or_unavailable([python, "-c", paths], "site-packages query").split()
    return DistroInstall(python, site, dest)


def distro_command(inst: DistroInstall) -> list[str]:
    """Started like the installed launcher, by the venv's interpreter."""
    return [inst.python, "-I", "-S", "-c", launcher_code(inst.install_dir, inst.site)]


def describe_command(rt: Runtime) -> str:
    """Short human form of how a runtime is started, for the report."""
    if "-c" in rt.cmd and "ocirt.cli.main" in rt.cmd[-1]:
        where = ("a private pip install of this checkout" if str(REPO) not in rt.cmd[-1]
                 else "this checkout, not built")
        return f"python3 -I -S -c 'from ocirt.cli.main import main' ({where})"
    return " ".join(rt.cmd)


def interpreter_info(python: str) -> str:
    """Version, binary and how libpython is linked, asked of the interpreter itself.

    A libpython.so loaded at start-up costs relocations on every call;
    Debian links it statically (and builds it with PGO and LTO).
    """
    code = ("import platform, sys; maps = open('/proc/self/maps').read(); "
            "print(platform.python_version(), sys.executable, "
            "'shared' if 'libpython' in maps else 'static')")
    try:
        out = subprocess.run([python, "-I", "-S", "-c", code], check=False, capture_output=True,
                             text=True, timeout=20).stdout.split()
    except (OSError, subprocess.SubprocessError):
        out = []
    if len(out) != 3:
        return f"unknown ({python})"
    ver, exe, link = out
    venv = Path(exe).parent.parent / "pyvenv.cfg"
    via = " in a venv" if venv.exists() else ""
    return f"Python {ver} ({os.path.realpath(exe)}{via}; {link} libpython)"


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
            ocirt_source: str = "checkout", install_dir: Path | None = None,
            distro: DistroInstall | None = None) -> Runtime | None:
    """A Runtime for a known name, or None when it is not installed.

    With a holder, crun joins its namespace; without one on a hybrid host,
    it goes through the per-call unshare wrapper.  ocirt-distro needs its
    install (build_distro_install).
    """
    if name == "ocirt":
        cmd = ocirt_command(ocirt_source, install_dir)
        if not cmd:
            return None
        return Runtime("ocirt", tuple(cmd), python=cmd[0] if cmd[0] == real_python() else "")
    if name == DISTRO:
        return Runtime(DISTRO, tuple(distro_command(distro)), python=distro.python
                       ) if distro else None
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
