"""Shared test library: the ocirt CLI, busybox bundles, and a leftovers check.

Test modules import helpers from here (`from testlib import ...`), never
from conftest: tests/engines has a conftest of its own, and two modules
named "conftest" shadow each other on sys.path.  tests/conftest.py
re-exports the fixtures.

Tests drive the real `ocirt` executable (OCIRT_BIN, default: the one on
PATH) with a private --root, and after each test assert that nothing was
left behind: no state dir, no cgroup, no mount, no process.
"""
from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

ROOT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT_DIR))

from ocirt.spec_default import default_spec  # noqa: E402

def _installed_ocirt() -> str:
    """The launcher pip installed next to this interpreter (not a pyenv shim,
    which would add ~80 ms of bash to every call)."""
    import sysconfig

    script = os.path.join(sysconfig.get_paths()["scripts"], "ocirt")
    return script if os.access(script, os.X_OK) else (shutil.which("ocirt") or "ocirt")


OCIRT = os.environ.get("OCIRT_BIN") or _installed_ocirt()
STATE_ROOT = f"/run/ocirt-test-{os.getpid()}"
IS_ROOT = os.geteuid() == 0


def busybox() -> str | None:
    for cand in ("/bin/busybox", "/usr/bin/busybox"):
        if os.path.isfile(cand) and b"/ld-linux" not in Path(cand).read_bytes()[:4096]:
            return cand
    return None


@pytest.fixture(scope="session")
def base_rootfs(tmp_path_factory) -> Path:
    """A busybox rootfs built once; bundles get a copy."""
    bb = busybox()
    if bb is None:
        pytest.skip("needs busybox-static")
    root = tmp_path_factory.mktemp("rootfs-base") / "rootfs"
    for d in ("bin", "dev", "proc", "sys", "tmp", "etc", "root", "mnt", "run", "var"):
        (root / d).mkdir(parents=True)
    os.chmod(root / "tmp", 0o1777)
    shutil.copy2(bb, root / "bin" / "busybox")
    subprocess.run(["chroot", str(root), "/bin/busybox", "--install", "-s", "/bin"], check=True)
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n")
    (root / "etc" / "group").write_text("root:x:0:\nnogroup:x:65534:\n")
    return root


class Result:
    def __init__(self, rc: int, out: str, err: str) -> None:
        self.returncode, self.stdout, self.stderr = rc, out, err

    def __repr__(self) -> str:
        return f"Result(rc={self.returncode}, out={self.stdout!r}, err={self.stderr!r})"


def run_ocirt(*args: str, root: str = STATE_ROOT, input: str | None = None, timeout: float = 60,
              extra_env: dict | None = None, cwd: str | None = None, global_args: tuple = ()) -> Result:
    """Run the CLI with stdout/stderr in files: a detached container may keep
    inherited pipes open forever, files never block."""
    env = dict(os.environ, **(extra_env or {}))
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.run([OCIRT, "--root", root, *global_args, *args], stdout=out, stderr=err,
                              input=input.encode() if input is not None else None,
                              stdin=None if input is not None else subprocess.DEVNULL,
                              timeout=timeout, env=env, cwd=cwd)
        out.seek(0)
        err.seek(0)
        return Result(proc.returncode, out.read().decode(errors="replace"), err.read().decode(errors="replace"))


class Bundle:
    def __init__(self, path: Path, rootfs: Path) -> None:
        self.path = path
        self.rootfs = rootfs
        cfg = default_spec()
        cfg["process"]["terminal"] = False
        cfg["process"]["args"] = ["true"]
        cfg["root"] = {"path": "rootfs", "readonly": False}
        self.config = cfg

    def write(self) -> "Bundle":
        (self.path / "config.json").write_text(json.dumps(self.config, indent=1))
        return self

    def args(self, *argv: str) -> "Bundle":
        self.config["process"]["args"] = list(argv)
        return self.write()

    def sh(self, script: str) -> "Bundle":
        return self.args("sh", "-c", script)


class Ocirt:
    """Calls the CLI for one test and remembers ids to clean up."""

    def __init__(self) -> None:
        self.ids: list[str] = []

    def new_id(self) -> str:
        cid = "t-" + uuid.uuid4().hex[:10]
        self.ids.append(cid)
        return cid

    def __call__(self, *args: str, **kw) -> Result:
        return run_ocirt(*args, **kw)

    def run(self, bundle: Bundle, *extra: str, **kw) -> Result:
        bundle.write()
        return run_ocirt("run", "--bundle", str(bundle.path), *extra, self.new_id(), **kw)

    def state(self, cid: str) -> dict:
        r = run_ocirt("state", cid)
        assert r.returncode == 0, r
        return json.loads(r.stdout)


@pytest.fixture
def bundle(tmp_path, base_rootfs) -> Bundle:
    if not IS_ROOT:
        pytest.skip("needs root")
    rootfs = tmp_path / "bundle" / "rootfs"
    shutil.copytree(base_rootfs, rootfs, symlinks=True)
    return Bundle(tmp_path / "bundle", rootfs).write()


def read_all(fd: int, timeout: float = 10) -> str:
    """Everything a pty master yields until the slave side closes (EIO) or
    the timeout passes."""
    import select
    import time

    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the slave side closed
            break
        if not chunk:
            break
        out += chunk
    return out.decode(errors="replace")


def _cgroup_dirs(cid: str) -> list[str]:
    found = []
    for base, dirs, _files in os.walk("/sys/fs/cgroup"):
        if cid in dirs:
            found.append(os.path.join(base, cid))
        if base.count("/") > 7:
            dirs[:] = []
    return found


@pytest.fixture
def ocirt(request) -> Ocirt:
    o = Ocirt()
    yield o
    leftovers = []
    for cid in o.ids:
        if os.path.exists(os.path.join(STATE_ROOT, cid)):
            st = run_ocirt("state", cid)
            r = run_ocirt("delete", "--force", cid)
            leftovers.append(f"state dir of {cid} ({st.stdout.strip() or st.stderr.strip()}; "
                             f"delete --force: rc={r.returncode} {r.stderr.strip()})")
        leftovers += [f"cgroup {d}" for d in _cgroup_dirs(cid)]
    assert not leftovers, f"left behind: {leftovers}"


@pytest.fixture(scope="session", autouse=True)
def state_root_cleanup():
    yield
    if os.path.isdir(STATE_ROOT):
        for cid in os.listdir(STATE_ROOT):
            if not cid.startswith("#"):
                run_ocirt("delete", "--force", cid)
        shutil.rmtree(STATE_ROOT, ignore_errors=True)


def with_config(bundle: Bundle, **changes) -> Bundle:
    cfg = copy.deepcopy(bundle.config)
    cfg.update(changes)
    bundle.config = cfg
    return bundle.write()


def one_line_error(r: Result, *words: str) -> str:
    """A refusal is one clear line on stderr (no traceback, no 'internal
    error') holding each of words; returns that line."""
    assert r.returncode != 0, r
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


def wait_status(ocirt: "Ocirt", cid: str, want: str, timeout: float = 10) -> dict:
    """The container's state once its status is want (or at the timeout)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        st = ocirt.state(cid)
        if st["status"] == want or time.monotonic() > deadline:
            return st
        time.sleep(0.05)
