"""Helpers of the engine tests: podman, containerd and Docker driving
ocirt as their OCI runtime.

- `Shim`: a copy of ocirt-argv.sh in a temp dir that logs every command line
  an engine runs ocirt with, then execs the real ocirt.  When a test fails the
  lines logged during it (and the tail of each `--log FILE` they name) are
  added to the report.
- busybox images are built offline from busybox-static (no registry).
- `run` / `run_pty`: subprocess helpers (files instead of pipes, since a
  detached container may hold inherited pipes; a real pty for -t tests).
- `leftovers`: what ocirt may leave behind for one container id (state dir,
  cgroup, mount, process) once its engine has removed it.
"""
from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import re
import select
import shutil
import signal
import struct
import subprocess
import sysconfig
import tarfile
import tempfile
import termios
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def real_ocirt() -> str:
    """OCIRT_BIN, else the launcher pip installed next to this interpreter
    (an engine must not be pointed at the pyenv shim)."""
    env = os.environ.get("OCIRT_BIN")
    if env:
        return os.path.abspath(env)
    script = os.path.join(sysconfig.get_paths()["scripts"], "ocirt")
    if os.access(script, os.X_OK):
        return script
    return shutil.which("ocirt") or "ocirt"


def require_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("engine tests need root")


def busybox_static() -> str | None:
    for cand in ("/bin/busybox", "/usr/bin/busybox"):
        if os.path.isfile(cand) and b"/ld-linux" not in Path(cand).read_bytes()[:4096]:
            return cand
    return None


# ---------------------------------------------------------------- processes

class Result:
    def __init__(self, argv: list[str], rc: int, out: str, err: str) -> None:
        self.argv, self.returncode, self.stdout, self.stderr = argv, rc, out, err

    def __repr__(self) -> str:
        return f"Result({' '.join(self.argv)!r} -> rc={self.returncode}, out={self.stdout[-2000:]!r}, err={self.stderr[-2000:]!r})"


def run(argv: list[str], *, env: dict | None = None, input: str | bytes | None = None,
        timeout: float = 90, check: bool = False, pass_fd3: int | None = None) -> Result:
    """Run a command with stdout/stderr in files.  `pass_fd3`: a descriptor
    the child gets as fd 3 (for --preserve-fds)."""
    def pre() -> None:
        if pass_fd3 is not None:
            os.dup2(pass_fd3, 3)  # inheritable; close_fds=False keeps it

    data = input.encode() if isinstance(input, str) else input
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            p = subprocess.run(argv, check=False, stdout=out, stderr=err, env=env, timeout=timeout,
                               input=data, stdin=None if data is not None else subprocess.DEVNULL,
                               preexec_fn=pre if pass_fd3 is not None else None,
                               close_fds=pass_fd3 is None)
            rc = p.returncode
        except subprocess.TimeoutExpired:
            rc = -999
        out.seek(0)
        err.seek(0)
        r = Result(list(argv), rc, out.read().decode(errors="replace"), err.read().decode(errors="replace"))
    if rc == -999:
        raise AssertionError(f"timed out after {timeout}s: {r}")
    if check and rc != 0:
        raise AssertionError(f"command failed: {r}")
    return r


def run_pty(argv: list[str], *, env: dict | None = None, script: list[tuple[bytes, bytes]] = (),
            timeout: float = 60, size: tuple[int, int] = (24, 80)) -> tuple[int, bytes]:
    """Run `argv` on a new pty as its controlling terminal (what a user's
    shell gives `podman run -it`).  `script`: (expect, send) pairs; each
    `send` is written once `expect` has appeared in the output.  Returns the
    exit status and everything the terminal showed."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[0], size[1], 0, 0))

    def pre() -> None:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    p = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                         start_new_session=True, preexec_fn=pre)
    os.close(slave)
    buf, pos, steps = b"", 0, list(script)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if steps:
                expect, send = steps[0]
                i = buf.find(expect, pos)
                if i >= 0:
                    pos = i + len(expect)
                    os.write(master, send)
                    steps.pop(0)
                    continue
            r, _, _ = select.select([master], [], [], 0.2)
            if r:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: every slave descriptor closed
                    break
                if not chunk:
                    break
                buf += chunk
            elif p.poll() is not None and not r:
                # the process is gone; drain what is left
                try:
                    while select.select([master], [], [], 0.2)[0]:
                        chunk = os.read(master, 65536)
                        if not chunk:
                            break
                        buf += chunk
                except OSError:
                    pass
                break
        else:
            p.kill()
            raise AssertionError(f"pty run timed out after {timeout}s: {argv}; output so far: {buf!r}")
        try:
            rc = p.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            raise AssertionError(f"pty run did not exit: {argv}; output: {buf!r}")
    finally:
        os.close(master)
    return rc, buf


def wait_for(pred, timeout: float = 10, interval: float = 0.1):
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() > end:
            return v
        time.sleep(interval)


# ---------------------------------------------------------------- the shim

ID_RE = re.compile(r"^[0-9a-zA-Z][\w.+-]*$")


class Shim:
    """ocirt behind ocirt-argv.sh: every engine call lands in `log`."""

    def __init__(self, base: Path) -> None:
        self.bindir = base / "bin"
        self.bindir.mkdir(parents=True, exist_ok=True)
        self.log = base / "ocirt-argv.log"
        self.log.touch()
        self.real = real_ocirt()
        text = (HERE / "ocirt-argv.sh").read_text().replace("@ARGV_LOG@", str(self.log)).replace("@OCIRT@", self.real)
        self.path = self.bindir / "ocirt"
        self.path.write_text(text)
        self.path.chmod(0o755)
        # containerd's shim finds "runc" on PATH when no binary is configured
        # (e.g. ctr run --no-pivot); a dir with ocirt named runc goes first.
        self.as_runc = base / "runc-bin"
        self.as_runc.mkdir(exist_ok=True)
        (self.as_runc / "runc").write_text(text)
        (self.as_runc / "runc").chmod(0o755)

    def lines(self, since: int = 0) -> list[str]:
        try:
            return self.log.read_text(errors="replace").splitlines()[since:]
        except FileNotFoundError:
            return []

    def mark(self) -> int:
        return len(self.lines())

    def calls(self, since: int = 0) -> list[list[str]]:
        """argv lists (without time/pid prefix) logged since `since`."""
        out = []
        for line in self.lines(since):
            parts = line.split(" ")
            out.append([p for p in parts[3:]])
        return out

    @staticmethod
    def subcommand(argv: list[str]) -> tuple[str, list[str]]:
        """Split an ocirt argv into (subcommand, its args) past the global flags."""
        takes_value = {"--root", "--log", "--log-format", "--criu", "--rootless"}
        i = 0
        while i < len(argv):
            a = argv[i]
            if a in takes_value:
                i += 2
                continue
            if a.startswith("-"):
                i += 1
                continue
            return a, argv[i + 1:]
        return "", []

    def created_ids(self, since: int = 0) -> list[str]:
        ids = []
        for argv in self.calls(since):
            sub, rest = self.subcommand(argv)
            if sub in ("create", "run") and rest and ID_RE.match(rest[-1]):
                ids.append(rest[-1])
        return ids

    def roots(self, since: int = 0) -> set[str]:
        roots = set()
        for argv in self.calls(since):
            for i, a in enumerate(argv):
                if a == "--root" and i + 1 < len(argv):
                    roots.add(argv[i + 1])
                elif a.startswith("--root="):
                    roots.add(a.split("=", 1)[1])
        return roots or {"/run/ocirt"}

    def config(self, cid: str) -> dict:
        """The bundle config.json the engine gave `create` for `cid`."""
        try:
            return json.loads(Path(f"{self.log}.configs/{cid}.json").read_text())
        except (OSError, ValueError):
            return {}

    def report(self, since: int = 0) -> str:
        """The calls since `since` and the error lines of the --log files they named."""
        lines = self.lines(since)
        out = ["ocirt calls:"] + [f"  {l}" for l in lines[-60:]]
        logs = []
        for argv in self.calls(since):
            for i, a in enumerate(argv):
                f = argv[i + 1] if a == "--log" and i + 1 < len(argv) else (a[6:] if a.startswith("--log=") else None)
                if f and f not in logs:
                    logs.append(f)
        for f in logs[-15:]:
            try:
                tail = [l for l in Path(f).read_text(errors="replace").splitlines() if l.strip()][-5:]
            except OSError:
                continue
            if tail:
                out.append(f"--log {f}:")
                out += [f"  {l}" for l in tail]
        return "\n".join(out)


ACTIVE_SHIMS: list[Shim] = []  # the shims of running engine modules (conftest reports them)


# ---------------------------------------------------------------- temp dirs

def mounts_under(path: str) -> list[str]:
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].replace("\\040", " ")
            if mp == path or mp.startswith(path.rstrip("/") + "/"):
                found.append(mp)
    return found


def umount_all_under(path: str) -> None:
    for _ in range(3):
        mps = mounts_under(path)
        if not mps:
            return
        for mp in sorted(mps, key=len, reverse=True):
            subprocess.run(["umount", "-l", mp], stderr=subprocess.DEVNULL, check=False)


def remove_tree(path: str) -> None:
    umount_all_under(path)
    shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------- images

def build_rootfs_tar(dest: Path) -> Path:
    """A busybox rootfs as a tar file (what `podman import`/`docker import` take)."""
    bb = busybox_static()
    if bb is None:
        pytest.skip("needs busybox-static (tests/engines/install.sh)")
    data = Path(bb).read_bytes()
    applets = subprocess.run([bb, "--list-full"], capture_output=True, text=True, check=True).stdout.split()
    with tarfile.open(dest, "w") as tar:
        def add(name: str, *, kind=tarfile.DIRTYPE, mode=0o755, body: bytes | None = None, link: str = "") -> None:
            ti = tarfile.TarInfo(name)
            ti.type, ti.mode, ti.mtime = kind, mode, 0
            if link:
                ti.linkname = link
            if body is not None:
                ti.size = len(body)
                tar.addfile(ti, io.BytesIO(body))
            else:
                tar.addfile(ti)
        for d in ("bin", "dev", "etc", "proc", "sys", "root", "run", "usr", "usr/bin", "usr/sbin", "sbin", "var"):
            add(d)
        add("tmp", mode=0o1777)
        add("bin/busybox", kind=tarfile.REGTYPE, body=data)
        for app in applets:
            if app != "bin/busybox" and app.count("/") >= 1:
                add(app, kind=tarfile.SYMTYPE, link="/bin/busybox")
        add("etc/passwd", kind=tarfile.REGTYPE, mode=0o644,
            body=b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n")
        add("etc/group", kind=tarfile.REGTYPE, mode=0o644, body=b"root:x:0:\nnogroup:x:65534:\n")
        add("etc/notexec", kind=tarfile.REGTYPE, mode=0o644, body=b"#!/bin/sh\necho never\n")
    return dest


# ---------------------------------------------------------------- leftovers

def _cgroup_dirs_of(cgroups_path: str) -> list[str]:
    """Where `cgroupsPath` of a config (cgroupfs form) exists in any hierarchy."""
    if not cgroups_path or ":" in cgroups_path:
        return []
    rel = cgroups_path.lstrip("/")
    found = []
    for ctrl in os.listdir("/sys/fs/cgroup"):
        d = os.path.join("/sys/fs/cgroup", ctrl, rel)
        if os.path.isdir(d):
            found.append(d)
    if os.path.isfile("/sys/fs/cgroup/cgroup.controllers") and os.path.isdir(f"/sys/fs/cgroup/{rel}"):
        found.append(f"/sys/fs/cgroup/{rel}")
    return found


def _procs_with(cid: str) -> list[str]:
    me = os.getpid()
    word = re.compile(r"(?<![\w.-])" + re.escape(cid) + r"(?![\w.-])")
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == me:
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if word.search(cmd) and "ocirt" in cmd:
            found.append(f"{pid}: {cmd[:200]}")
    return found


def leftovers(cid: str, roots: set[str], cgroups_path: str = "") -> list[str]:
    """What remains of container `cid` that ocirt made: its state dir under
    any --root the engine used, a cgroup named after it, a mount naming it,
    an ocirt process still working on it."""
    out = [f"state dir {r}/{cid}" for r in roots if os.path.exists(os.path.join(r, cid))]
    out += [f"cgroup {d}" for d in _cgroup_dirs_of(cgroups_path)]
    word = re.compile(r"(?<![\w.-])" + re.escape(cid) + r"(?![\w.-])")
    with open("/proc/self/mountinfo") as f:
        out += [f"mount {l.split()[4]}" for l in f if word.search(l)]
    out += [f"process {p}" for p in _procs_with(cid)]
    return out


def assert_no_leftovers(shim: Shim, since: int, timeout: float = 10) -> None:
    """Nothing of ocirt's remains for the containers created since `since`."""
    ids, roots = shim.created_ids(since), shim.roots(since)
    cg = {cid: shim.config(cid).get("linux", {}).get("cgroupsPath", "") for cid in ids}
    left: list[str] = []

    def check() -> bool:
        left[:] = [x for cid in ids for x in leftovers(cid, roots, cg[cid])]
        return not left

    wait_for(check, timeout=timeout, interval=0.25)
    assert not left, f"left behind after the engine removed its containers: {left}"


def kill_pidfile(pidfile: Path, timeout: float = 20) -> None:
    """SIGTERM the daemon in pidfile, SIGKILL if it lingers."""
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        if wait_for(lambda: not os.path.exists(f"/proc/{pid}") or _zombie(pid), timeout=wait):
            return


def kill_shims(marker: str) -> None:
    """SIGKILL the containerd shims whose command line names `marker` (the
    socket or exec-root of a daemon a test started): shims outlive their
    daemon."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"containerd-shim" in cmd and marker.encode() in cmd:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass


def start_daemon(argv: list[str], logfile: Path, env: dict) -> subprocess.Popen:
    """A daemon in its own session, output appended to `logfile`."""
    with open(logfile, "ab") as log:
        return subprocess.Popen(argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=env,
                                start_new_session=True)


def tail(path: Path, n: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


def assert_no_fd_or_env_leak(r: Result) -> None:
    """`r`: a container's `ls /proc/self/fd; env`.  Only stdio (and the dir
    ls reads, fd 3) may be open; no runtime/engine variable may be set."""
    assert r.returncode == 0, r
    fds = sorted(int(x) for x in r.stdout.split() if x.isdigit())
    assert fds == [0, 1, 2, 3], r.stdout
    assert "_OCI_" not in r.stdout and "OCIRT" not in r.stdout, r.stdout


def memory_limit(pid: str) -> str | None:
    """memory.limit_in_bytes (v1) or memory.max (v2) of the cgroup `pid` is in, read on the host."""
    with open(f"/proc/{pid}/cgroup") as f:
        lines = f.read().splitlines()
    for line in lines:
        _, ctrls, path = line.split(":", 2)
        if "memory" in ctrls.split(","):
            return _read(f"/sys/fs/cgroup/memory{path}/memory.limit_in_bytes")
    for line in lines:
        _, ctrls, path = line.split(":", 2)
        if ctrls == "" and os.path.isfile("/sys/fs/cgroup/cgroup.controllers"):
            return _read(f"/sys/fs/cgroup{path}/memory.max")
    return None


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


def state_json(shim: Shim, cid: str, root: str) -> dict:
    r = run([shim.real, "--root", root, "state", cid])
    return json.loads(r.stdout) if r.returncode == 0 else {}


def build_oci_archive(rootfs_tar: Path, dest: Path, name: str) -> Path:
    """An OCI image layout (one uncompressed layer: `rootfs_tar`) in a tar,
    named `name`: what `ctr image import` takes, written without any tool."""
    layer = rootfs_tar.read_bytes()
    blobs: dict[str, bytes] = {}

    def blob(data: bytes, media: str) -> dict:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        blobs[digest] = data
        return {"mediaType": media, "digest": digest, "size": len(data)}

    layer_desc = blob(layer, "application/vnd.oci.image.layer.v1.tar")
    config = {"architecture": "amd64", "os": "linux",
              "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["sh"]},
              "rootfs": {"type": "layers", "diff_ids": [layer_desc["digest"]]}, "history": [{"created_by": "ocirt engine tests"}]}
    config_desc = blob(json.dumps(config).encode(), "application/vnd.oci.image.config.v1+json")
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": config_desc, "layers": [layer_desc]}
    manifest_desc = blob(json.dumps(manifest).encode(), "application/vnd.oci.image.manifest.v1+json")
    manifest_desc["annotations"] = {"io.containerd.image.name": name,
                                    "org.opencontainers.image.ref.name": name.rsplit(":", 1)[-1]}
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [manifest_desc]}
    with tarfile.open(dest, "w") as tar:
        def put(path: str, data: bytes) -> None:
            ti = tarfile.TarInfo(path)
            ti.size, ti.mode, ti.mtime = len(data), 0o644, 0
            tar.addfile(ti, io.BytesIO(data))
        put("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        put("index.json", json.dumps(index).encode())
        for digest, data in blobs.items():
            put("blobs/sha256/" + digest.split(":", 1)[1], data)
    return dest
