"""Container-escape classes 1-4 of issue 8, each reproduced against ocirt.

Every test performs the attack a naive runtime falls for and checks that it
fails against ocirt: the CVE or technique is named in each docstring.  See
SECURITY.md for the threat model and which defence answers which class.

  1. the runtime's own executable (CVE-2019-5736)
  2. leaked descriptors and working directory (CVE-2024-21626, CVE-2016-9962)
  3. symlinks in the image (CVE-2021-30465, CVE-2019-19921 and older)
  4. fake /proc and /dev/null (CVE-2019-16884, CVE-2019-19921, CVE-2022-29162's shape)
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from testlib import IS_ROOT, OCIRT, Result, STATE_ROOT, one_line_error

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "hardening"
SECRET = "TOPSECRET-host-only"


# --- helpers ----------------------------------------------------------------
def build_static(tmp_path_factory, name: str) -> Path:
    """Compile tests/fixtures/hardening/<name>.c into a static binary."""
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        pytest.skip("needs gcc (tests/install-deps.sh installs it)")
    out = tmp_path_factory.mktemp(name) / name
    r = subprocess.run([cc, "-static", "-O2", "-o", str(out), str(FIXTURES / f"{name}.c")],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot build a static binary: {r.stderr.strip()[:200]}")
    return out


@pytest.fixture(scope="session")
def procscan(tmp_path_factory) -> Path:
    """A static C program that hunts the runtime's processes from inside the
    container (busybox sh is far too slow to catch exec's short window)."""
    return build_static(tmp_path_factory, "procscan")


@pytest.fixture(scope="session")
def flipper(tmp_path_factory) -> Path:
    """A C loop re-pointing a symlink (a Python thread flips too slowly to
    hit the runtime's windows reliably)."""
    return build_static(tmp_path_factory, "flipper")


def host_files_digest() -> dict[str, str]:
    """What CVE-2019-5736 would overwrite: the interpreter, libpython, ocirt's
    native modules and the launcher under test."""
    import ocirt
    import sysconfig

    files = [os.path.realpath(sys.executable), os.path.realpath(OCIRT)]
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    ldlib = sysconfig.get_config_var("LDLIBRARY") or ""
    if ldlib and os.path.exists(os.path.join(libdir, ldlib)):
        files.append(os.path.realpath(os.path.join(libdir, ldlib)))
    # the mapped native modules (of the tree and of a pip install, whichever
    # OCIRT_BIN runs); .py sources are read and closed at import, and in a
    # shared working tree they change under the test anyway
    interp, launcher_pkgs = _launcher_target(OCIRT)
    files += interp
    for pkg in {Path(ocirt.__file__).parent, _installed_package(), *launcher_pkgs} - {None}:
        files += [str(p) for p in sorted(pkg.rglob("*.so"))]
    out = {}
    for f in files:
        with open(f, "rb") as fh:
            out[f] = hashlib.sha256(fh.read()).hexdigest()
    return out


def _launcher_target(launcher: str) -> tuple[list[str], list[Path]]:
    """The interpreter a setup.py launcher names (#!) and the ocirt packages
    on the sys.path it sets: what runs when OCIRT_BIN is, e.g., the launcher
    of the Debian-python install (tests/install-distro.sh)."""
    import ast

    try:
        head = Path(launcher).read_text(errors="replace").splitlines()[:6]
    except OSError:
        return [], []
    interp = [os.path.realpath(head[0][2:].split()[0])] if head and head[0].startswith("#!/") else []
    pkgs: list[Path] = []
    for line in head:
        if line.startswith("sys.path[:0] = "):
            pkgs += [Path(d, "ocirt") for d in ast.literal_eval(line.split("=", 1)[1].strip())
                     if Path(d, "ocirt").is_dir()]
    return [i for i in interp if os.path.isfile(i)], pkgs


def _installed_package() -> Path | None:
    """ocirt's package directory as an isolated interpreter imports it."""
    r = subprocess.run([sys.executable, "-I", "-c", "import ocirt; print(ocirt.__file__)"],
                       capture_output=True, text=True, cwd="/")
    return Path(r.stdout.strip()).parent if r.returncode == 0 and r.stdout.strip() else None


def host_secret_dir(tmp_path: Path) -> Path:
    d = tmp_path / "host-secret"
    d.mkdir(exist_ok=True)
    (d / "secret").write_text(SECRET + "\n")
    return d


def run_with_leaked_fds(args: list[str], leaked_dir: Path, fds=range(5, 21), timeout: float = 60) -> Result:
    """Run ocirt the way a careless caller does: a host directory open on
    fds 5..20, inheritable (CVE-2024-21626's leaked-descriptor premise)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        actions = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
                   (os.POSIX_SPAWN_DUP2, out.fileno(), 1), (os.POSIX_SPAWN_DUP2, err.fileno(), 2)]
        actions += [(os.POSIX_SPAWN_OPEN, n, str(leaked_dir), os.O_RDONLY | os.O_DIRECTORY, 0) for n in fds]
        pid = os.posix_spawn(OCIRT, [OCIRT, "--root", STATE_ROOT, *args], dict(os.environ),
                             file_actions=actions)
        rc = _wait_pid(pid, timeout)
        out.seek(0)
        err.seek(0)
        return Result(rc, out.read().decode(errors="replace"), err.read().decode(errors="replace"))


def _wait_pid(pid: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while True:
        got, status = os.waitpid(pid, os.WNOHANG)
        if got:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            raise TimeoutError(f"ocirt (pid {pid}) still running after {timeout} s")
        time.sleep(0.01)




# --- 1. the runtime's own executable (CVE-2019-5736) -------------------------
def _reached(bundle) -> list[str]:
    p = bundle.rootfs / "tmp" / "reached"
    lines = p.read_text().splitlines() if p.exists() else []
    return [line for line in lines if not line.startswith("ROUNDS")]


def _all_caps_in_userns(bundle) -> None:
    """Root of a user namespace with every capability: it passes the kernel's
    capability check against the runtime's processes (CAP_SYS_PTRACE in their
    user namespace), so only their non-dumpability stands between it and
    /proc/<pid>/exe (ptrace_may_access wants CAP_SYS_PTRACE in the *mm's*
    user namespace, the host's, for a non-dumpable process)."""
    from ocirt.capabilities import NAMES, last_cap

    caps = [f"CAP_{n.upper()}" if not n.startswith("CAP_") else n for n in NAMES[: last_cap() + 1]]
    bundle.config["process"]["capabilities"] = {k: caps for k in ("bounding", "effective", "permitted")}
    linux = bundle.config["linux"]
    linux["namespaces"].append({"type": "user"})
    linux["uidMappings"] = linux["gidMappings"] = [{"containerID": 0, "hostID": 0, "size": 65536}]


def _attack_runtime(ocirt, bundle, procscan, userns: bool, init_args: list[str], create: list[str],
                    attack) -> None:
    """Create a container with procscan in it, run attack(cid), then check
    procscan reached no runtime process and the host's files are intact."""
    shutil.copy2(procscan, bundle.rootfs / "procscan")
    if userns:
        _all_caps_in_userns(bundle)
    before = host_files_digest()
    bundle.args(*init_args)
    cid = ocirt.new_id()
    r = ocirt(*create, "--bundle", str(bundle.path), cid)
    assert r.returncode == 0, r
    try:
        attack(cid)
    finally:
        assert ocirt("delete", "--force", cid).returncode == 0
    reached = _reached(bundle)
    assert not reached, f"container reached a runtime process: {reached[:10]}"
    assert host_files_digest() == before


USERNS = pytest.mark.parametrize("userns", [False, True], ids=["host-userns", "userns-all-caps"])


@USERNS
def test_cve_2019_5736_waiting_init_is_not_reachable(ocirt, bundle, procscan, userns):
    """CVE-2019-5736, deterministic half: between create and start the
    container's pid 1 is still ocirt (the Python interpreter).  A process
    exec'd into the created container opens /proc/1/exe to overwrite the
    host's interpreter, or walks /proc/1/fd for host descriptors.  The init
    is non-dumpable, so neither exe nor fd of it can be opened, even by a
    user-namespaced root holding every capability.  (Without a user
    namespace the init's full capability set already denies it.)"""
    def attack(cid: str) -> None:
        r = ocirt("exec", cid, "/procscan", "0.3")
        assert r.returncode == 0, r

    _attack_runtime(ocirt, bundle, procscan, userns, ["sleep", "60"], ["create"], attack)


@USERNS
def test_cve_2019_5736_exec_is_not_reachable(ocirt, bundle, procscan, userns):
    """CVE-2019-5736, racing half: the container's init hunts /proc in a
    tight loop while ocirt execs into the container 25 times; each joining
    ocirt process (Python, in the container's pid namespace until it
    execve()s) is a target for /proc/<pid>/exe and /proc/<pid>/fd.  None may
    be opened, and the host's interpreter, libpython and ocirt's files stay
    byte-identical.  (Checked: with PR_SET_DUMPABLE removed the scanner
    catches the window after capabilities are dropped, before execve.)"""
    def attack(cid: str) -> None:
        for _ in range(25):
            r = ocirt("exec", cid, "true")
            assert r.returncode == 0, r

    _attack_runtime(ocirt, bundle, procscan, userns, ["/procscan", "60"], ["run", "--detach"], attack)


# --- 2. leaked descriptors and cwd (CVE-2024-21626) --------------------------
# ocirt's own descriptors (3, 4) must fail the same way; 7 is one the caller leaked.
CWD_FDS = [3, 4, 7]
LIST_FDS = ("for f in /proc/self/fd/*; do echo \"$f -> $(readlink $f)\"; done; "
            "for n in $(seq 3 40); do cat /proc/self/fd/$n/secret 2>/dev/null; done; true")


def test_cve_2024_21626_leaked_fds_do_not_reach_container(ocirt, bundle, tmp_path):
    """CVE-2024-21626 premise (and CVE-2016-9962): the caller leaked a host
    directory into ocirt on fds 5..20.  Neither the container's init nor an
    exec'd process may hold any of them: through one, `cat
    /proc/self/fd/N/secret` or openat(N, "..") walks the host."""
    host = host_secret_dir(tmp_path)
    bundle.sh(LIST_FDS)
    r = run_with_leaked_fds(["run", "--bundle", str(bundle.path), ocirt.new_id()], host)
    assert r.returncode == 0, r
    assert SECRET not in r.stdout and str(host) not in r.stdout, r.stdout
    bundle.args("sleep", "60")
    cid = ocirt.new_id()
    assert ocirt("run", "--detach", "--bundle", str(bundle.path), cid).returncode == 0
    try:
        r = run_with_leaked_fds(["exec", cid, "sh", "-c", LIST_FDS], host)
        assert r.returncode == 0, r
        assert SECRET not in r.stdout and str(host) not in r.stdout, r.stdout
    finally:
        ocirt("delete", "--force", cid)


@pytest.mark.parametrize("fd", CWD_FDS)
def test_cve_2024_21626_process_cwd_proc_self_fd(ocirt, bundle, tmp_path, fd):
    """CVE-2024-21626: config.json sets process.cwd to /proc/self/fd/N, N a
    descriptor open in the runtime while it chdirs (leaked by the caller, or
    its own).  A naive runtime chdirs into a host directory and the
    container's process starts outside its rootfs (`cat ../../etc/shadow`).
    A cwd that leaves the rootfs is refused."""
    host = host_secret_dir(tmp_path)
    bundle.config["process"]["cwd"] = f"/proc/self/fd/{fd}"
    bundle.sh("cat secret; ls -d $(pwd)/../..; pwd")
    r = run_with_leaked_fds(["run", "--bundle", str(bundle.path), ocirt.new_id()], host)
    assert SECRET not in r.stdout, f"container started in a host directory: {r}"
    one_line_error(r)
    assert "cwd" in r.stderr


@pytest.mark.parametrize("fd", CWD_FDS)
def test_cve_2024_21626_exec_cwd_proc_self_fd(ocirt, bundle, tmp_path, fd):
    """CVE-2024-21626 through exec: `exec --cwd /proc/self/fd/N` while the
    caller leaked a host directory (or ocirt holds one of its own)."""
    host = host_secret_dir(tmp_path)
    bundle.args("sleep", "60")
    cid = ocirt.new_id()
    assert ocirt("run", "--detach", "--bundle", str(bundle.path), cid).returncode == 0
    try:
        r = run_with_leaked_fds(["exec", "--cwd", f"/proc/self/fd/{fd}", cid, "sh", "-c", "cat secret; pwd"], host)
    finally:
        ocirt("delete", "--force", cid)
    assert SECRET not in r.stdout, f"exec'd process started in a host directory: {r}"
    one_line_error(r)
    assert "cwd" in r.stderr


@pytest.mark.parametrize("how", ["run", "exec"])
def test_cve_2024_21626_exec_path_through_leaked_fd(ocirt, bundle, tmp_path, how, base_rootfs):
    """CVE-2024-21626 attack 3: process.args[0] = /proc/self/fd/N/<binary>
    with N a leaked host directory.  execve resolves the path while N is
    still open (close-on-exec closes it only after), so a host binary runs
    as the container's process, and its /proc/self/exe is a host file the
    container can later reopen for writing."""
    host = host_secret_dir(tmp_path)
    shutil.copy2(base_rootfs / "bin" / "busybox", host / "sh")  # busybox runs the applet named by argv[0]
    argv = ["/proc/self/fd/7/sh", "-c", "echo RAN-HOST-BINARY"]
    if how == "run":
        bundle.args(*argv)
        r = run_with_leaked_fds(["run", "--bundle", str(bundle.path), ocirt.new_id()], host)
    else:
        bundle.args("sleep", "60")
        cid = ocirt.new_id()
        assert ocirt("run", "--detach", "--bundle", str(bundle.path), cid).returncode == 0
        try:
            r = run_with_leaked_fds(["exec", cid, *argv], host)
        finally:
            ocirt("delete", "--force", cid)
    assert "RAN-HOST-BINARY" not in r.stdout, f"a host binary ran as the container's process: {r}"
    one_line_error(r)


# --- 3. symlinks in the image ---------------------------------------------------
# The image author controls every component of every path below the rootfs.
# A runtime that resolves a path on the host follows "/x", "../../x" or a
# chain of links out of the rootfs and mounts, creates or masks on the
# host's side (CVE-2021-30465, CVE-2019-19921; runc's mount-destination and
# /dev symlink bugs before it).  ocirt resolves everything with openat2
# RESOLVE_IN_ROOT, so each link lands on its "twin" inside the rootfs.
LINK_KINDS = ("absolute", "relative", "chain")


def plant(rootfs: Path, where: str, host_target: Path, kind: str) -> Path:
    """Make rootfs/where a symlink of the given kind to host_target; return
    the twin: where the link leads when resolved inside the rootfs."""
    link = rootfs / where.lstrip("/")
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.is_file():
        link.unlink()
    elif link.is_dir():
        shutil.rmtree(link)
    up = "../" * 40 + str(host_target).lstrip("/")
    if kind == "absolute":
        os.symlink(str(host_target), link)
    elif kind == "relative":
        os.symlink(up, link)
    else:
        os.symlink(link.name + ".c1", link)
        os.symlink(link.name + ".c2", link.parent / (link.name + ".c1"))
        os.symlink(up, link.parent / (link.name + ".c2"))
    return rootfs / str(host_target).lstrip("/")


class HostCanary:
    """A host directory the image's links point at; nothing may change in it."""

    def __init__(self, tmp_path: Path) -> None:
        self.dir = tmp_path / "hostcanary"
        self.dir.mkdir()
        (self.dir / "secret").write_text(SECRET + "\n")
        self.before = self.snapshot()

    def snapshot(self) -> list:
        return sorted((p.name, p.stat().st_mode, p.read_bytes() if p.is_file() else b"")
                      for p in self.dir.iterdir())

    def assert_untouched(self) -> None:
        assert self.snapshot() == self.before, f"runtime wrote to the host through a link: {self.snapshot()}"
        with open("/proc/self/mountinfo") as f:
            assert str(self.dir) not in f.read(), "a mount landed on the host's side"


def _no_dev_tmpfs(bundle) -> None:
    """Without a tmpfs on /dev the image's own /dev entries are what the
    runtime walks (as with a bind-mounted or image-provided /dev)."""
    bundle.config["mounts"] = [m for m in bundle.config["mounts"] if m["destination"] != "/dev"]


def _case_mount_dest(bundle, canary, kind):
    twin = plant(bundle.rootfs, "/mnt/vol", canary.dir, kind)
    twin.mkdir(parents=True, exist_ok=True)
    bundle.config["mounts"].append({"destination": "/mnt/vol/data", "type": "tmpfs", "source": "tmpfs"})
    return "stat -f -c %T /mnt/vol/data", "tmpfs"


def _case_masked(bundle, canary, kind):
    twin = plant(bundle.rootfs, "/etc/masked", canary.dir / "secret", kind)
    twin.parent.mkdir(parents=True, exist_ok=True)
    twin.write_text("INROOT\n")
    bundle.config["linux"]["maskedPaths"] = ["/etc/masked"]
    return "cat /etc/masked; echo END", "END"


def _case_readonly(bundle, canary, kind):
    twin = plant(bundle.rootfs, "/etc/ro", canary.dir, kind)
    twin.mkdir(parents=True, exist_ok=True)
    bundle.config["linux"]["readonlyPaths"] = ["/etc/ro"]
    return "touch /etc/ro/x 2>/dev/null || echo RO", "RO"


def _case_device(bundle, canary, kind):
    twin = plant(bundle.rootfs, "/mnt/devs", canary.dir, kind)
    twin.mkdir(parents=True, exist_ok=True)
    bundle.config["linux"]["devices"] = [{"path": "/mnt/devs/mydev", "type": "c", "major": 1, "minor": 3}]
    return "test -c /mnt/devs/mydev && echo CHAR", "CHAR"


def _case_dev(bundle, canary, kind):
    twin = plant(bundle.rootfs, "/dev", canary.dir, kind)
    twin.mkdir(parents=True, exist_ok=True)
    return "test -c /dev/null && echo > /dev/null && echo NULL", "NULL"


def _case_dev_pts(bundle, canary, kind):
    _no_dev_tmpfs(bundle)
    twin = plant(bundle.rootfs, "/dev/pts", canary.dir, kind)
    twin.mkdir(parents=True, exist_ok=True)
    return "stat -f -c %T /dev/pts/", "devpts"


def _case_proc(bundle, canary, kind):
    twin = plant(bundle.rootfs, "/proc", canary.dir, kind)
    twin.mkdir(parents=True, exist_ok=True)
    return "stat -f -c %T /proc/", "proc"


SYMLINK_CASES = {
    "mount-destination": _case_mount_dest, "maskedPaths": _case_masked,
    "readonlyPaths": _case_readonly, "device-path": _case_device, "dev": _case_dev,
    "dev-pts": _case_dev_pts, "proc": _case_proc,
}


@pytest.mark.parametrize("kind", LINK_KINDS)
@pytest.mark.parametrize("case", list(SYMLINK_CASES))
def test_image_symlink_resolves_inside_rootfs(ocirt, bundle, tmp_path, case, kind):
    """The image plants a symlink to a host directory (absolute, relative
    with ../.., or a chain of three links) where the config names a mount
    destination, a maskedPaths/readonlyPaths entry, a device path, /dev,
    /dev/pts or /proc.  The host directory stays untouched and the
    container sees the effect on the link's in-rootfs twin."""
    canary = HostCanary(tmp_path)
    script, want = SYMLINK_CASES[case](bundle, canary, kind)
    r = ocirt.run(bundle.sh(script))
    canary.assert_untouched()
    assert r.returncode == 0, r
    assert want in r.stdout and "INROOT" not in r.stdout and SECRET not in r.stdout, r


@pytest.mark.parametrize("kind", LINK_KINDS)
def test_image_symlink_dev_console(ocirt, bundle, tmp_path, kind):
    """/dev/console as a link to a host file: the pty is bound on the
    link's twin inside the rootfs, never on the host file."""
    canary = HostCanary(tmp_path)
    _no_dev_tmpfs(bundle)
    twin = plant(bundle.rootfs, "/dev/console", canary.dir / "secret", kind)
    twin.parent.mkdir(parents=True, exist_ok=True)
    twin.write_text("INROOT\n")
    bundle.config["process"]["terminal"] = True
    r = ocirt.run(bundle.sh("test -c /dev/console && echo CONSOLE"))
    canary.assert_untouched()
    assert r.returncode == 0, r
    assert "CONSOLE" in r.stdout, r


def test_symlink_swapped_during_create(ocirt, bundle, tmp_path, flipper):
    """A racing process in a shared rootfs flips /mnt/vol between a real
    directory and a link to the host while ocirt creates containers that
    mount on /mnt/vol/data, create /mnt/vol/dev0 and make /mnt/vol read-only
    (runc CVE-2021-30465's swap).  Whatever each create sees, every lookup
    stays in the rootfs: the host directory is never written."""
    canary = HostCanary(tmp_path)
    mnt = bundle.rootfs / "mnt"
    (mnt / "vol.real").mkdir()
    os.symlink("vol.real", mnt / "vol")
    bundle.config["mounts"].append({"destination": "/mnt/vol/data", "type": "tmpfs", "source": "tmpfs"})
    bundle.config["linux"]["devices"] = [{"path": "/mnt/vol/dev0", "type": "c", "major": 1, "minor": 3}]
    bundle.config["linux"]["readonlyPaths"] = ["/mnt/vol"]
    bundle.sh("true")
    with flipping(flipper, mnt / "vol", ["vol.real", str(canary.dir), "../" * 40 + str(canary.dir).lstrip("/")]):
        results = [ocirt.run(bundle) for _ in range(12)]
    canary.assert_untouched()
    for r in results:
        if r.returncode != 0:
            one_line_error(r)
    assert any(r.returncode == 0 for r in results), results


@contextlib.contextmanager
def flipping(flipper: Path, link: Path, targets: list[str]):
    """While in the block, link is re-pointed among targets non-stop."""
    proc = subprocess.Popen([str(flipper), str(link), *targets])
    try:
        yield
    finally:
        proc.terminate()
        proc.wait()


def test_readonly_bind_not_redirected_by_swap(ocirt, bundle, flipper):
    """Between binding a readonlyPaths entry on itself and remounting that
    bind read-only, a racing process re-points the path at another mount
    point (a tmpfs).  A runtime that re-resolves the path then makes the
    *other* mount read-only and leaves the bind writable.  (Before the
    fix, 30 runs against a C flipper caught it in about 2 test runs of 3.)
    Whatever each run resolves, no bind of /mnt/vol.real may be left
    writable; a run that notices the swap refuses with one line."""
    mnt = bundle.rootfs / "mnt"
    (mnt / "vol.real").mkdir()
    (mnt / "vol.other").mkdir()
    os.symlink("vol.real", mnt / "vol")
    bundle.config["mounts"].append({"destination": "/mnt/vol.other", "type": "tmpfs", "source": "tmpfs"})
    bundle.config["linux"]["readonlyPaths"] = ["/mnt/vol"]
    bundle.sh("cat /proc/self/mountinfo")
    with flipping(flipper, mnt / "vol", ["vol.real", "vol.other"]):
        results = [ocirt.run(bundle) for _ in range(30)]
    for r in results:
        if r.returncode != 0:
            one_line_error(r)
            continue
        rw = [line for line in r.stdout.splitlines()
              if line.split()[4] == "/mnt/vol.real" and line.split()[5].startswith("rw")]
        assert not rw, f"a readonlyPaths bind was left writable: {rw}"
    assert any(r.returncode == 0 for r in results), results


def resolved(rootfs: Path, make, dest: str) -> str:
    """Host path of what make(rootfd, dest) (a paths.* helper) returned."""
    from ocirt import paths

    rootfd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY)
    try:
        fd = make(rootfd, dest)
        try:
            return os.readlink(paths.fd_path(fd))
        finally:
            os.close(fd)
    finally:
        os.close(rootfd)


@pytest.mark.parametrize("link,dest,lands", [
    ("/run", "var/run/app/sock", "run/app/sock"),            # Debian's /var/run -> /run
    ("../../run", "var/run/app", "run/app"),
    ("../../../../../../run", "var/run/app", "run/app"),      # clamped at the root
    ("gone/deeper", "var/run/x", "var/gone/deeper/x"),        # dangling: target created
])
def test_mkdir_all_follows_links_as_the_container_would(tmp_path, link, dest, lands):
    """paths.mkdir_all resolves each prefix from the rootfs, so an absolute
    or ../.. link means what it means inside the container; a walk that
    re-roots every component (openat2's dirfd is its "/") would put
    /var/run/* under /var itself, or fail on the link."""
    if not IS_ROOT:
        pytest.skip("needs root for nothing but a consistent tmp tree")
    from ocirt import paths

    rootfs = tmp_path / "rootfs"
    (rootfs / "var").mkdir(parents=True)
    (rootfs / "run").mkdir()
    os.symlink(link, rootfs / "var" / "run")
    assert resolved(rootfs, paths.mkdir_all, dest) == str(rootfs / lands)


def test_make_target_creates_through_dangling_file_link(tmp_path):
    """Engines bind-mount over /etc/resolv.conf; in systemd-based images it
    is a dangling link (../run/systemd/resolve/stub-resolv.conf).  The file
    is created where the link leads inside the rootfs, never refused, and a
    link to the host's side lands on its in-rootfs twin."""
    if not IS_ROOT:
        pytest.skip("needs root for nothing but a consistent tmp tree")
    from ocirt import paths

    rootfs = tmp_path / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    os.symlink("../run/systemd/resolve/stub-resolv.conf", rootfs / "etc" / "resolv.conf")
    os.symlink(str(tmp_path / "host-hosts"), rootfs / "etc" / "hosts")
    def make_file(rootfd: int, path: str) -> int:
        return paths.make_target(rootfd, path, False)

    assert resolved(rootfs, make_file, "/etc/resolv.conf") == str(rootfs / "run/systemd/resolve/stub-resolv.conf")
    assert resolved(rootfs, make_file, "/etc/hosts") == str(rootfs / str(tmp_path / "host-hosts").lstrip("/"))
    assert not (tmp_path / "host-hosts").exists()


# --- 4. fake /proc and /dev/null -------------------------------------------------
def _uts_sysctl(bundle) -> None:
    bundle.config["linux"]["sysctl"] = {"kernel.domainname": "evil.example"}


def test_sysctl_refuses_host_dir_bound_on_proc_sys(ocirt, bundle, tmp_path):
    """A bundle mount binds a host directory over /proc/sys after procfs is
    mounted (the shape of CVE-2019-16884 / CVE-2019-19921: whatever ends up
    on /proc is not procfs).  A runtime that just opens
    /proc/sys/kernel/domainname would overwrite the host file; ocirt checks
    the file is on procfs first and refuses."""
    fake = tmp_path / "fakesys"
    (fake / "kernel").mkdir(parents=True)
    (fake / "kernel" / "domainname").write_text("host-original\n")
    bundle.config["mounts"].append({"destination": "/proc/sys", "type": "bind", "source": str(fake),
                                    "options": ["rbind", "rw"]})
    _uts_sysctl(bundle)
    r = ocirt.run(bundle.sh("cat /proc/sys/kernel/domainname"))
    assert (fake / "kernel" / "domainname").read_text() == "host-original\n", "sysctl wrote a host file"
    one_line_error(r)
    assert "sysctl" in r.stderr and "procfs" in r.stderr, r


def test_sysctl_refuses_tmpfs_on_proc(ocirt, bundle):
    """A tmpfs mounted over /proc swallows the sysctl write: the container
    would run without the setting it asked for, silently."""
    bundle.config["mounts"].append({"destination": "/proc/sys", "type": "tmpfs", "source": "tmpfs"})
    (bundle.rootfs / "proc").mkdir(exist_ok=True)
    _uts_sysctl(bundle)
    bundle.config["mounts"].append({"destination": "/proc/sys/kernel", "type": "tmpfs", "source": "tmpfs"})
    r = ocirt.run(bundle.sh("cat /proc/sys/kernel/domainname"))
    assert "evil.example" not in r.stdout
    assert r.returncode != 0, r
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r


def test_sysctl_through_image_proc_symlink_reaches_real_procfs(ocirt, bundle):
    """The image makes /proc a link to a directory holding a fake
    sys/kernel/domainname: procfs is mounted on the link's in-root target,
    so the sysctl goes to the kernel, not to the image's file."""
    fake = bundle.rootfs / "fakeproc"
    (fake / "sys" / "kernel").mkdir(parents=True)
    (fake / "sys" / "kernel" / "domainname").write_text("image-file\n")
    shutil.rmtree(bundle.rootfs / "proc")
    os.symlink("/fakeproc", bundle.rootfs / "proc")
    _uts_sysctl(bundle)
    r = ocirt.run(bundle.sh("cat /proc/sys/kernel/domainname; stat -f -c %T /proc/"))
    assert r.returncode == 0, r
    assert r.stdout.split() == ["evil.example", "proc"], r
    assert (fake / "sys" / "kernel" / "domainname").read_text() == "image-file\n"


def test_masking_survives_fake_dev_null(ocirt, bundle, tmp_path):
    """A bundle mount replaces /dev/null with a bind of an ordinary host file
    before masking; a runtime that masks with "the container's /dev/null"
    would expose that file (and let the container write it) at every masked
    path.  ocirt masks with the host's /dev/null, opened before any mount,
    and refuses a mount that sits where it must create a device node."""
    fake = tmp_path / "not-null"
    fake.write_text("FAKE-NULL\n")
    (bundle.rootfs / "etc" / "secret").write_text("INROOT\n")
    bundle.config["mounts"].append({"destination": "/dev/null", "type": "bind", "source": str(fake),
                                    "options": ["bind", "rw"]})
    bundle.config["linux"]["maskedPaths"] = ["/etc/secret"]
    r = ocirt.run(bundle.sh("cat /etc/secret; stat -c %F:%t:%T /etc/secret; echo x > /etc/secret; echo END"))
    assert fake.read_text() == "FAKE-NULL\n"
    assert "FAKE-NULL" not in r.stdout and "INROOT" not in r.stdout, r
    if r.returncode != 0:  # refused: /dev/null is a device ocirt must create
        one_line_error(r)
        assert "/dev/null" in r.stderr, r
    else:
        assert "character special file:1:3" in r.stdout, r


def test_masking_survives_image_dev_null_file(ocirt, bundle):
    """The image ships /dev/null as a regular file (or a link to a secret)
    and the config bind-mounts the image's own /dev: masks still bind the
    real null device."""
    _no_dev_tmpfs(bundle)
    dev = bundle.rootfs / "dev"
    (dev / "null").write_text("IMAGE-NULL\n")
    (bundle.rootfs / "etc" / "secret").write_text("INROOT\n")
    bundle.config["linux"]["maskedPaths"] = ["/etc/secret"]
    r = ocirt.run(bundle.sh("cat /etc/secret; stat -c %F:%t:%T /etc/secret; echo END"))
    assert r.returncode == 0, r
    assert "IMAGE-NULL" not in r.stdout and "INROOT" not in r.stdout, r
    assert "character special file:1:3" in r.stdout, r

