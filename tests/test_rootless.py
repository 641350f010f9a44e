"""Rootless: an unprivileged user runs containers with ocirt (issue 6).

Every test drives ocirt as a real unprivileged user the session creates
(useradd; subordinate ids in /etc/subuid and /etc/subgid), through
`setpriv --reuid --regid --init-groups`, with its own XDG_RUNTIME_DIR and a
busybox bundle it owns, the config written by its own `ocirt spec --rootless`.

The user cannot run the launcher pip installed for root (its interpreter
lives under /root, mode 0700), so the session gives it a copy: the installed
ocirt package and the packages it imports, in a world-readable directory,
with a launcher for a world-readable interpreter of the same Python version
(Debian's /usr/bin/python3: same ABI, so our cffi modules load).  Nothing on
the machine changes mode; everything the session adds (users, subid lines,
the copy) is removed at the end.

After each test nothing may be left: no state dir in the user's root, no
process of the user or of its subordinate ids, no cgroup named after the
container.
"""
from __future__ import annotations

import array
import grp
import json
import os
import pwd
import re
import shutil
import socket
import stat
import subprocess
import sys
import sysconfig
import tempfile
import time
import uuid
from importlib import metadata
from pathlib import Path

import pytest
from testlib import IS_ROOT, Result, _cgroup_dirs, read_all, run_ocirt

RL_UID, RL_UID2 = 2345, 2346
SUB_START, SUB_COUNT = 300000, 65536
NAMES = {RL_UID: "ocirt-rl", RL_UID2: "ocirt-rl2"}
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

pytestmark = pytest.mark.skipif(not IS_ROOT, reason="needs root to create the unprivileged users")


# --- the session: users, subordinate ids, a copy of ocirt the user can run --
class User:
    def __init__(self, uid: int, base: Path) -> None:
        self.uid = self.gid = uid
        self.name = NAMES[uid]
        self.xdg = base / f"xdg-{uid}"        # its XDG_RUNTIME_DIR, 0700
        self.root = self.xdg / "ocirt"        # ocirt's default root for it
        self.home = base / f"home-{uid}"      # bundles and bind sources, 0755


class Env:
    def __init__(self, base: Path, launcher: Path, users: dict[int, User]) -> None:
        self.base = base
        self.launcher = launcher
        self.users = users
        self.user = users[RL_UID]
        self.other = users[RL_UID2]

    # running things as a user
    def as_user(self, argv: list[str], user: User | None = None, *, input: str | None = None,
                timeout: float = 60, cwd: str | Path | None = None, env: dict | None = None,
                cgroup: str | None = None) -> Result:
        """argv as the user; cgroup: a (v2) cgroup dir to start it in."""
        u = user or self.user
        e = {"PATH": PATH, "HOME": str(u.home), "LANG": "C.UTF-8", "XDG_RUNTIME_DIR": str(u.xdg)}
        for k, v in (env or {}).items():
            if v is None:
                e.pop(k, None)
            else:
                e[k] = v
        cmd = [shutil.which("setpriv") or "setpriv", f"--reuid={u.uid}", f"--regid={u.gid}", "--init-groups", "--", *argv]
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            enter = None
            if cgroup:
                def enter() -> None:  # still root here: setpriv drops the ids after
                    with open(os.path.join(cgroup, "cgroup.procs"), "w") as f:
                        f.write("0")
            proc = subprocess.run(cmd, stdout=out, stderr=err, env=e, cwd=str(cwd or u.home), preexec_fn=enter,
                                  check=False, input=input.encode() if input is not None else None,
                                  stdin=None if input is not None else subprocess.DEVNULL, timeout=timeout)
            out.seek(0)
            err.seek(0)
            return Result(proc.returncode, out.read().decode(errors="replace"), err.read().decode(errors="replace"))

    def ocirt(self, *args: str, user: User | None = None, **kw) -> Result:
        return self.as_user([str(self.launcher), *args], user, **kw)


def _run(*argv: str) -> None:
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _add_user(uid: int) -> bool:
    """Create the user (and its group) unless it exists; True if created."""
    name = NAMES[uid]
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        pw = None
    if pw is not None:
        if pw.pw_uid != uid:
            pytest.skip(f"user {name} exists with uid {pw.pw_uid}, not {uid}")
        return False
    try:
        pwd.getpwuid(uid)
        pytest.skip(f"uid {uid} is taken by another user")
    except KeyError:
        pass
    try:
        gr = grp.getgrnam(name)
    except KeyError:
        _run("groupadd", "-g", str(uid), name)
    else:
        if gr.gr_gid != uid:
            pytest.skip(f"group {name} exists with gid {gr.gr_gid}, not {uid}")
    _run("useradd", "-u", str(uid), "-g", str(uid), "-M", "-d", "/nonexistent", "-s", "/bin/sh", name)
    return True


def _del_user(uid: int) -> None:
    name = NAMES[uid]
    subprocess.run(["userdel", name], stderr=subprocess.DEVNULL, check=False)
    subprocess.run(["groupdel", name], stderr=subprocess.DEVNULL, check=False)


def _subid_line(name: str) -> str:
    return f"{name}:{SUB_START}:{SUB_COUNT}\n"


def _edit_subids(add: bool, names: list[str], ours_only: bool) -> None:
    """Add our range for names; or remove lines of names (all of them for
    users we created, which useradd may have given ranges of its own)."""
    for path in ("/etc/subuid", "/etc/subgid"):
        try:
            lines = Path(path).read_text().splitlines(keepends=True)
        except FileNotFoundError:
            lines = []
        if add:
            lines += [_subid_line(n) for n in names if _subid_line(n) not in lines]
        else:
            lines = [ln for ln in lines if not (ln.split(":")[0] in names
                                                and (not ours_only or ln == _subid_line(ln.split(":")[0])))]
        Path(path).write_text("".join(lines))
        os.chmod(path, 0o644)


def _requires(dist) -> list[str]:
    out = []
    for r in dist.requires or []:
        if "extra ==" not in r:
            out.append(re.match(r"[A-Za-z0-9_.-]+", r).group(0))
    return out


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _copy_ocirt(lib: Path) -> None:
    """The installed ocirt package and what it imports, from the site dir pip
    installed it into (not the checkout conftest puts on sys.path)."""
    site = sysconfig.get_paths()["purelib"]
    src = Path(os.environ.get("OCIRT_RL_PACKAGE") or os.path.join(site, "ocirt"))
    if not (src / "__init__.py").exists():
        pytest.skip(f"ocirt is not installed in {site} (pip install . first)")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(src, lib / "ocirt", ignore=ignore)
    dists = {_norm(d.metadata["Name"]): d for d in metadata.distributions(path=[site])}
    todo, seen = ["jsonschema", "cffi"], set()
    while todo:
        name = _norm(todo.pop())
        if name in seen or name not in dists:
            continue
        seen.add(name)
        d = dists[name]
        todo += _requires(d)
        for f in d.files or []:
            rel = str(f)
            if rel.startswith("..") or "__pycache__" in rel or rel.split("/")[0].endswith(".dist-info"):
                continue
            dst = lib / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(d.locate_file(f), dst)


def _interpreter_for(user: User, env_probe) -> str:
    """An interpreter the user can run, of this Python's version."""
    want = "{}.{}".format(*sys.version_info[:2])
    for cand in (sys.executable, "/usr/bin/python3", "/usr/local/bin/python3", f"/usr/bin/python{want}"):
        if not os.path.exists(cand):
            continue
        r = env_probe([cand, "-IS", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], user)
        if r.returncode == 0 and r.stdout.strip() == want:
            return cand
    pytest.skip(f"no Python {want} interpreter the unprivileged user may run")


@pytest.fixture(scope="session")
def rl(base_rootfs) -> Env:
    for tool in ("useradd", "userdel", "groupadd", "setpriv", "newuidmap", "newgidmap"):
        if shutil.which(tool) is None:
            pytest.skip(f"needs {tool} (tests/install-deps.sh installs uidmap)")
    base = Path(tempfile.mkdtemp(prefix="ocirt-rootless-", dir="/tmp"))
    os.chmod(base, 0o755)
    created = []
    try:
        for uid in NAMES:
            if _add_user(uid):
                created.append(uid)
        _edit_subids(True, list(NAMES.values()), ours_only=True)
        users = {uid: User(uid, base) for uid in NAMES}
        for u in users.values():
            for d, mode in ((u.xdg, 0o700), (u.home, 0o755)):
                d.mkdir()
                os.chown(d, u.uid, u.gid)
                os.chmod(d, mode)
        lib = base / "lib"
        _copy_ocirt(lib)
        env = Env(base, base / "ocirt", users)
        python = _interpreter_for(env.user, env.as_user)
        env.launcher.write_text(f"#!{python} -IS\n# ocirt for the rootless tests: a copy the test user may read\n"
                                f"import sys\nsys.path[:0] = [{str(lib)!r}]\n"
                                "from ocirt.cli.main import main\nsys.exit(main())\n")
        os.chmod(env.launcher, 0o755)
        subprocess.run(["chmod", "-R", "a+rX", str(lib)], check=True)
        r = env.ocirt("--version")
        assert r.returncode == 0, f"the user cannot run its copy of ocirt: {r}"
        yield env
        for u in users.values():
            _force_delete_all(env, u)
    finally:
        _kill_user_processes()
        shutil.rmtree(base, ignore_errors=True)
        for uid in NAMES:
            shutil.rmtree(f"/tmp/ocirt-{uid}", ignore_errors=True)
        _edit_subids(False, list(NAMES.values()), ours_only=True)
        _edit_subids(False, [NAMES[uid] for uid in created], ours_only=False)
        for uid in created:
            _del_user(uid)


def _force_delete_all(env: Env, u: User) -> None:
    r = env.ocirt("list", "-q", user=u)
    for cid in r.stdout.split():
        env.ocirt("delete", "--force", cid, user=u)


def _our_uids() -> set[int]:
    return set(NAMES) | set(range(SUB_START, SUB_START + SUB_COUNT))


def _user_processes() -> list[str]:
    """Live processes of our users or their subordinate ids (not zombies)."""
    found = []
    ours = _our_uids()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        uid = int(re.search(r"^Uid:\s+(\d+)", status, re.MULTILINE).group(1))
        state = re.search(r"^State:\s+(\S)", status, re.MULTILINE).group(1)
        if uid in ours and state not in ("Z", "X"):
            found.append(f"{pid}({uid}): {Path(f'/proc/{pid}/cmdline').read_bytes()[:80]!r}")
    return found


def _kill_user_processes() -> None:
    for entry in _user_processes():
        try:
            os.kill(int(entry.split("(")[0]), 9)
        except ProcessLookupError:
            pass


# --- per test: bundles and the leftovers check ------------------------------
class RLBundle:
    def __init__(self, env: Env, path: Path, user: User) -> None:
        self.env, self.path, self.user = env, path, user
        self.config = json.loads((path / "config.json").read_text())

    def write(self) -> RLBundle:
        (self.path / "config.json").write_text(json.dumps(self.config, indent=1))
        return self

    def sh(self, script: str) -> RLBundle:
        self.config["process"]["args"] = ["sh", "-c", script]
        return self.write()

    def bind(self, source: str | Path, dest: str, *options: str) -> RLBundle:
        self.config["mounts"].append({"destination": dest, "type": "none", "source": str(source),
                                      "options": ["rbind", *options]})
        return self.write()

    def add_caps(self, *caps: str) -> RLBundle:
        for v in self.config["process"]["capabilities"].values():
            v += [c for c in caps if c not in v]
        return self.write()

    def map_subordinate(self) -> RLBundle:
        """uid/gid 0 → the user, 1..65536 → its /etc/subuid (subgid) range."""
        for key in ("uidMappings", "gidMappings"):
            self.config["linux"][key] = [{"containerID": 0, "hostID": self.user.uid, "size": 1},
                                         {"containerID": 1, "hostID": SUB_START, "size": SUB_COUNT}]
        return self.write()

    def user_dir(self, name: str) -> Path:
        """A directory of the user's, outside the bundle."""
        d = self.user.home / f"{name}-{uuid.uuid4().hex[:6]}"
        d.mkdir()
        os.chown(d, self.user.uid, self.user.gid)
        return d


class Tester:
    __test__ = False

    def __init__(self, env: Env, base_rootfs: Path) -> None:
        self.env = env
        self.base_rootfs = base_rootfs
        self.ids: list[tuple[User, str]] = []

    def new_id(self, user: User | None = None) -> str:
        cid = "rl-" + uuid.uuid4().hex[:10]
        self.ids.append((user or self.env.user, cid))
        return cid

    def bundle(self, user: User | None = None) -> RLBundle:
        """A busybox bundle the user owns, configured by its own `spec --rootless`."""
        u = user or self.env.user
        path = u.home / f"bundle-{uuid.uuid4().hex[:8]}"
        shutil.copytree(self.base_rootfs, path / "rootfs", symlinks=True)
        subprocess.run(["chown", "-R", f"{u.uid}:{u.gid}", str(path)], check=True)
        r = self.env.ocirt("spec", "--rootless", user=u, cwd=path)
        assert r.returncode == 0, r
        b = RLBundle(self.env, path, u)
        b.config["process"]["terminal"] = False
        b.config["process"]["args"] = ["true"]
        b.config["root"]["readonly"] = False
        return b.write()

    def __call__(self, *args: str, **kw) -> Result:
        return self.env.ocirt(*args, **kw)

    def run(self, b: RLBundle, *extra: str, **kw) -> Result:
        return self.env.ocirt("run", "--bundle", str(b.path), *extra, self.new_id(b.user), user=b.user, **kw)

    def state(self, cid: str, user: User | None = None) -> dict:
        r = self.env.ocirt("state", cid, user=user)
        assert r.returncode == 0, r
        return json.loads(r.stdout)

    def wait_status(self, cid: str, want: str, user: User | None = None, timeout: float = 10) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            st = self.state(cid, user)
            if st["status"] == want or time.monotonic() > deadline:
                return st
            time.sleep(0.05)


@pytest.fixture
def rlt(rl, base_rootfs) -> Tester:
    t = Tester(rl, base_rootfs)
    yield t
    leftovers = []
    for u, cid in t.ids:
        if (u.root / cid).exists():
            leftovers.append(f"state dir of {cid}")
            rl.ocirt("delete", "--force", cid, user=u)
        leftovers += [f"cgroup {d}" for d in _cgroup_dirs(cid)]
    deadline = time.monotonic() + 5
    while _user_processes() and time.monotonic() < deadline:
        time.sleep(0.05)
    procs = _user_processes()
    if procs:
        leftovers += [f"process {p}" for p in procs]
        _kill_user_processes()
    assert not leftovers, f"left behind: {leftovers}"


def _errors(stderr: str) -> list[str]:
    """stderr without the rootless cgroup warnings."""
    return [ln for ln in stderr.splitlines() if ln.strip() and "warning:" not in ln]


# --- spec and run -----------------------------------------------------------
def test_spec_rootless_maps_own_ids(rl, rlt):
    b = rlt.bundle()
    linux = b.config["linux"]
    assert {"type": "user"} in linux["namespaces"]
    assert not any(ns["type"] in ("network", "cgroup") for ns in linux["namespaces"])
    assert linux["uidMappings"] == [{"containerID": 0, "hostID": RL_UID, "size": 1}]
    assert linux["gidMappings"] == [{"containerID": 0, "hostID": RL_UID, "size": 1}]
    assert "resources" not in linux
    sysfs = next(m for m in b.config["mounts"] if m["destination"] == "/sys")
    assert sysfs["type"] == "none" and "rbind" in sysfs["options"]
    assert not any(o.startswith(("uid=", "gid=")) for m in b.config["mounts"] for o in m.get("options", []))


def test_run_id_is_root_inside(rl, rlt):
    b = rlt.bundle().sh("id -u; id -g; cat /proc/self/uid_map")
    r = rlt.run(b)
    assert r.returncode == 0, r
    lines = r.stdout.split("\n")
    assert lines[:2] == ["0", "0"], r
    assert lines[2].split() == ["0", str(RL_UID), "1"], r
    assert _errors(r.stderr) == [], r


def test_own_id_map_without_uidmap_helpers(rl, rlt):
    """The kernel lets the user write a single map of its own ids: no setuid
    helper may be needed for the default rootless config."""
    b = rlt.bundle().sh("id -u")
    r = rlt.run(b, env={"PATH": "/nonexistent"}, timeout=30)
    assert r.returncode == 0 and r.stdout == "0\n", r


def test_run_exit_code_and_default_root(rl, rlt):
    b = rlt.bundle().sh("exit 7")
    r = rlt.run(b)
    assert r.returncode == 7, r
    assert [p.name for p in rl.user.root.iterdir() if not p.name.startswith("#")] == []


def test_file_created_inside_is_the_users(rl, rlt):
    b = rlt.bundle()
    data = b.user_dir("data")
    b.bind(data, "/data", "rw")
    b.sh("echo hi > /data/f && mkdir /data/d && touch /tmp/in-rootfs")
    r = rlt.run(b)
    assert r.returncode == 0, r
    for p in (data / "f", data / "d", b.path / "rootfs" / "tmp" / "in-rootfs"):
        st = p.lstat()
        assert (st.st_uid, st.st_gid) == (RL_UID, RL_UID), p
    assert (data / "f").read_text() == "hi\n"


# --- the lifecycle ------------------------------------------------------------
def test_create_start_state_kill_delete(rl, rlt):
    b = rlt.bundle().sh("echo started > /tmp/started; exec sleep 300")
    cid = rlt.new_id()
    r = rlt("create", "--bundle", str(b.path), cid)
    assert r.returncode == 0, r
    st = rlt.state(cid)
    assert st["status"] == "created" and st["pid"] > 0, st
    assert st["owner"] in ("", str(RL_UID)), st
    host_status = Path(f"/proc/{st['pid']}/status").read_text()
    assert re.search(rf"^Uid:\s+{RL_UID}\s", host_status, re.MULTILINE), "init must run as the user on the host"
    listed = json.loads(rlt("list", "--format", "json").stdout)
    assert [c["id"] for c in listed] == [cid]
    assert not (b.path / "rootfs" / "tmp" / "started").exists()
    r = rlt("start", cid)
    assert r.returncode == 0, r
    st = rlt.wait_status(cid, "running")
    assert st["status"] == "running", st
    deadline = time.monotonic() + 5
    while not (b.path / "rootfs" / "tmp" / "started").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (b.path / "rootfs" / "tmp" / "started").exists()
    r = rlt("kill", cid, "KILL")
    assert r.returncode == 0, r
    assert rlt.wait_status(cid, "stopped")["status"] == "stopped"
    r = rlt("delete", cid)
    assert r.returncode == 0, r
    assert not (rl.user.root / cid).exists()
    r = rlt("state", cid)
    assert r.returncode != 0 and "does not exist" in r.stderr, r


def test_exec_in_running_container(rl, rlt):
    b = rlt.bundle().sh("exec sleep 300")
    cid = rlt.new_id()
    assert rlt("run", "-d", "--bundle", str(b.path), cid).returncode == 0
    try:
        r = rlt("exec", cid, "sh", "-c", "id -u; echo $(tr '\\0' ' ' </proc/1/cmdline); hostname")
        assert r.returncode == 0, r
        assert r.stdout.split("\n")[:3] == ["0", "sleep 300", "ocirt"], r
        r = rlt("exec", cid, "sh", "-c", "exit 3")
        assert r.returncode == 3, r
    finally:
        rlt("delete", "--force", cid)


def test_delete_force_running(rl, rlt):
    b = rlt.bundle().sh("exec sleep 300")
    cid = rlt.new_id()
    assert rlt("run", "-d", "--bundle", str(b.path), cid).returncode == 0
    pid = rlt.state(cid)["pid"]
    r = rlt("delete", "--force", cid)
    assert r.returncode == 0, r
    assert not (rl.user.root / cid).exists()
    deadline = time.monotonic() + 5
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        if Path(f"/proc/{pid}/status").read_text().find("State:\tZ") >= 0:
            break
        time.sleep(0.05)


# --- terminals ----------------------------------------------------------------
class ConsoleSocket:
    """A --console-socket listener: receives the pty master over SCM_RIGHTS."""

    def __init__(self, base: Path) -> None:
        self.path = base / f"console-{uuid.uuid4().hex[:8]}.sock"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(self.path))
        os.chmod(self.path, 0o777)  # the unprivileged ocirt connects to it
        self.sock.listen(1)
        self.sock.settimeout(30)

    def receive(self) -> int:
        conn, _ = self.sock.accept()
        with conn:
            fds = array.array("i")
            _msg, anc, _flags, _addr = conn.recvmsg(4096, socket.CMSG_LEN(fds.itemsize))
            for level, kind, data in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds.frombytes(data[:fds.itemsize])
        assert fds, "no pty master received"
        return fds[0]

    def close(self) -> None:
        self.sock.close()
        self.path.unlink(missing_ok=True)


def test_terminal_through_console_socket(rl, rlt):
    b = rlt.bundle()
    b.config["process"]["terminal"] = True
    b.sh("tty; id -u; test -t 0 && echo stdin-is-tty")
    cid = rlt.new_id()
    cs = ConsoleSocket(rl.base)
    try:
        env = dict(os.environ)
        create = subprocess.Popen(
            [shutil.which("setpriv") or "setpriv", f"--reuid={RL_UID}", f"--regid={RL_UID}", "--init-groups", "--", str(rl.launcher),
             "create", "--bundle", str(b.path), "--console-socket", str(cs.path), cid],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=str(rl.user.home),
            env={"PATH": PATH, "XDG_RUNTIME_DIR": str(rl.user.xdg), "HOME": str(rl.user.home),
                 "LANG": env.get("LANG", "C.UTF-8")})
        master = cs.receive()
        _out, err = create.communicate(timeout=30)
        assert create.returncode == 0, err
        try:
            r = rlt("start", cid)
            assert r.returncode == 0, r
            text = read_all(master)
        finally:
            os.close(master)
        lines = text.replace("\r", "").split("\n")
        assert lines[0].startswith("/dev/pts/"), text
        assert lines[1:3] == ["0", "stdin-is-tty"], text
        assert rlt.wait_status(cid, "stopped")["status"] == "stopped"
        assert rlt("delete", cid).returncode == 0
    finally:
        cs.close()


def test_run_relays_the_terminal(rl, rlt):
    """`run` of the default (terminal) config without --console-socket:
    ocirt itself holds the pty master and copies it to its stdout."""
    b = rlt.bundle()
    b.config["process"]["terminal"] = True
    b.sh("tty; id -u")
    r = rlt.run(b)
    assert r.returncode == 0, r
    lines = r.stdout.replace("\r", "").split("\n")
    assert lines[0].startswith("/dev/pts/") and lines[1] == "0", r


def test_exec_with_tty(rl, rlt):
    b = rlt.bundle().sh("exec sleep 300")
    cid = rlt.new_id()
    assert rlt("run", "-d", "--bundle", str(b.path), cid).returncode == 0
    try:
        r = rlt("exec", "-t", cid, "sh", "-c", "tty; id -u")
        assert r.returncode == 0, r
        lines = r.stdout.replace("\r", "").split("\n")
        assert lines[0].startswith("/dev/pts/") and lines[1] == "0", r
    finally:
        rlt("delete", "--force", cid)


# --- more than one id: newuidmap / newgidmap ---------------------------------
def test_second_id_range_through_newuidmap(rl, rlt):
    b = rlt.bundle()
    b.map_subordinate()
    b.config["root"]["readonly"] = False
    b.add_caps("CAP_CHOWN", "CAP_FOWNER", "CAP_SETUID", "CAP_SETGID")
    b.sh("cat /proc/self/uid_map /proc/self/gid_map; touch /tmp/owned && chown 1000:1000 /tmp/owned"
         " && ls -ln /tmp/owned && su -s /bin/sh nobody -c 'id -u' 2>/dev/null || true")
    r = rlt.run(b)
    assert r.returncode == 0, r
    maps = [ln.split() for ln in r.stdout.splitlines()[:4]]
    assert maps == [["0", str(RL_UID), "1"], ["1", str(SUB_START), str(SUB_COUNT)]] * 2, r
    st = (b.path / "rootfs" / "tmp" / "owned").stat()
    assert (st.st_uid, st.st_gid) == (SUB_START + 999, SUB_START + 999)
    assert " 1000 " in r.stdout.splitlines()[4], r


def test_exec_as_other_ids_in_a_multi_range_container(rl, rlt):
    """With subordinate ranges, processes may run as other ids (setgroups is
    allowed: newgidmap mapped more than the user's own gid)."""
    b = rlt.bundle().sh("exec sleep 300")
    b.map_subordinate()
    b.write()
    cid = rlt.new_id()
    assert rlt("run", "-d", "--bundle", str(b.path), cid).returncode == 0
    try:
        r = rlt("exec", "--user", "1000:1000", "--additional-gids", "27", cid, "sh", "-c", "id -u; id -G")
        assert r.returncode == 0, r
        assert r.stdout.split("\n")[:2] == ["1000", "1000 27"], r
    finally:
        rlt("delete", "--force", cid)


def test_additional_gids_with_a_single_map_fail_clearly(rl, rlt):
    b = rlt.bundle().sh("id")
    b.config["process"]["user"]["additionalGids"] = [27]
    r = rlt.run(b.write())
    errs = _errors(r.stderr)
    assert r.returncode != 0 and len(errs) == 1 and "additionalGids" in errs[0], r


def test_id_range_not_granted_is_refused(rl, rlt):
    b = rlt.bundle()
    b.config["linux"]["uidMappings"] = [{"containerID": 0, "hostID": RL_UID, "size": 1},
                                        {"containerID": 1, "hostID": 0, "size": 1}]
    r = rlt.run(b.write(), timeout=30)
    assert r.returncode != 0, r
    errs = _errors(r.stderr)
    assert len(errs) == 1 and "uidMappings" in errs[0] and "only root" in errs[0], r
    assert not any(p for p in rl.user.root.iterdir() if not p.name.startswith("#"))


# --- mounts the kernel locks ----------------------------------------------------
@pytest.fixture
def locked_mount(rl):
    """A host mount with nosuid,nodev,noexec: flags a user namespace may not clear."""
    d = rl.base / f"locked-{uuid.uuid4().hex[:6]}"
    d.mkdir()
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "nosuid,nodev,noexec,mode=0777,size=1m", "tmpfs", str(d)],
                       check=True, stderr=subprocess.PIPE)
    except subprocess.CalledProcessError as e:
        d.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {e.stderr.decode().strip()}")
    (d / "file").write_text("host\n")
    yield d
    subprocess.run(["umount", "-l", str(d)], check=False)
    d.rmdir()


def test_readonly_bind_keeps_locked_flags(rl, rlt, locked_mount):
    """A read-only bind of a nosuid,nodev,noexec mount: the remount keeps
    the locked flags instead of failing (as runc)."""
    b = rlt.bundle()
    b.bind(locked_mount, "/mnt/locked", "ro")
    b.bind(locked_mount, "/mnt/plain", "rw", "nosuid")
    b.sh("cat /mnt/locked/file; touch /mnt/locked/x 2>/dev/null && echo WROTE-RO;"
         " grep -E ' /mnt/(locked|plain) ' /proc/self/mounts | cut -d' ' -f2,4; touch /mnt/plain/y && echo rw-ok")
    r = rlt.run(b)
    assert r.returncode == 0, r
    out = r.stdout.splitlines()
    assert out[0] == "host" and "WROTE-RO" not in r.stdout and out[-1] == "rw-ok", r
    opts = dict(line.split(" ", 1) for line in out[1:-1])
    for flag in ("ro", "nosuid", "nodev", "noexec"):
        assert flag in opts["/mnt/locked"].split(","), opts
    assert {"rw", "nosuid", "nodev", "noexec"} <= set(opts["/mnt/plain"].split(",")), opts
    assert (locked_mount / "y").exists() and not (locked_mount / "x").exists()


# --- what the user must not reach -------------------------------------------
def test_host_secrets_and_files_stay_out_of_reach(rl, rlt):
    b = rlt.bundle()
    # even with every capability (of the user namespace) and the host's / bound rw
    b.config["process"]["noNewPrivileges"] = True
    b.config["root"]["readonly"] = True
    b.add_caps("CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_CHOWN",
               "CAP_SYS_ADMIN", "CAP_SETUID", "CAP_SETGID")
    b.bind("/", "/host", "rw")
    b.bind("/etc/shadow", "/shadow", "ro")
    marker = f"ocirt-rl-probe-{uuid.uuid4().hex[:6]}"
    b.sh(f"""
cat /shadow >/dev/null 2>&1 && echo READ-SHADOW
cat /host/etc/shadow >/dev/null 2>&1 && echo READ-HOST-SHADOW
ls /host/root >/dev/null 2>&1 && echo LIST-HOST-ROOT
touch /host/etc/{marker} 2>/dev/null && echo WROTE-ETC
touch /host/usr/{marker} 2>/dev/null && echo WROTE-USR
echo x >> /host/etc/passwd 2>/dev/null && echo APPENDED-PASSWD
chmod 777 /host/etc 2>/dev/null && echo CHMOD-ETC
mount -o remount,rw /sys 2>/dev/null && echo REMOUNTED-SYS
touch /rootfs-is-readonly 2>/dev/null && echo WROTE-RO-ROOT
echo done
""")
    passwd_before = Path("/etc/passwd").read_bytes()
    r = rlt.run(b)
    assert r.returncode == 0, r
    assert r.stdout.split() == ["done"], r
    assert not Path(f"/etc/{marker}").exists() and not Path(f"/usr/{marker}").exists()
    assert Path("/etc/passwd").read_bytes() == passwd_before
    assert stat.S_IMODE(os.stat("/etc").st_mode) == 0o755


# --- what only real root may do: a clear error, nothing left behind ----------
@pytest.mark.parametrize("what", ["memory-limit", "pids-limit", "oom-score-adj"])
def test_root_only_requests_fail_clearly(rl, rlt, what):
    b = rlt.bundle().sh("exec sleep 300")
    if what == "memory-limit":
        b.config["linux"]["resources"] = {"memory": {"limit": 64 << 20}}
        word = "cgroup"
    elif what == "pids-limit":
        b.config["linux"]["resources"] = {"pids": {"limit": 10}}
        word = "cgroup"
    else:
        b.config["process"]["oomScoreAdj"] = -1000
        word = "oomScoreAdj"
    r = rlt.run(b.write(), timeout=30)
    assert r.returncode != 0, r
    errs = _errors(r.stderr)
    assert len(errs) == 1 and word in errs[0], r
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r
    assert not any(p for p in rl.user.root.iterdir() if not p.name.startswith("#"))


def test_net_device_fails_clearly(rl, rlt):
    b = rlt.bundle()
    b.config["linux"]["namespaces"].append({"type": "network"})
    b.config["linux"]["netDevices"] = {"lo": {"name": "eth7"}}
    b.sh("ip link show eth7")
    r = rlt.run(b.write(), timeout=30)
    errs = _errors(r.stderr)
    assert r.returncode != 0 and len(errs) == 1 and "netDevices" in errs[0], r
    assert not any(p for p in rl.user.root.iterdir() if not p.name.startswith("#"))


def test_own_network_namespace(rl, rlt):
    """A network namespace owned by the user namespace needs no privilege:
    the container gets its own loopback, up, and nothing else."""
    b = rlt.bundle()
    b.config["linux"]["namespaces"].append({"type": "network"})
    b.sh("ip -o link show | cut -d: -f2 | tr -d ' '; ip link show lo | grep -q ',UP' && echo lo-up")
    r = rlt.run(b.write())
    assert r.returncode == 0, r
    assert r.stdout.split() == ["lo", "lo-up"], r


# --- a cgroup delegated to the user ----------------------------------------------
class Delegation:
    def __init__(self, kind: str, name: str) -> None:
        self.kind, self.name = kind, name
        self.runtime_cgroup: str | None = None  # v2: where the user's ocirt must run

    def dir(self, ctrl: str, cid: str) -> Path:
        return Path("/sys/fs/cgroup" + ("" if self.kind == "v2" else f"/{ctrl}") + f"/{self.name}/{cid}")

    def memory_limit(self, cid: str) -> int:
        f = "memory.max" if self.kind == "v2" else "memory.limit_in_bytes"
        return int((self.dir("memory", cid) / f).read_text())


def _chown_tree_top(d: str) -> None:
    for entry in [d] + [os.path.join(d, f) for f in os.listdir(d)]:
        os.chown(entry, RL_UID, RL_UID)


@pytest.fixture
def delegated(rl):
    """A cgroup handed to the user as an admin (or systemd's Delegate=) does:
    v1, memory and pids directories chowned to it; v2, a sub-tree whose
    directory, cgroup.procs, cgroup.subtree_control and cgroup.threads are
    the user's, with the user's ocirt started inside it (moving a process
    needs write access to the common ancestor's cgroup.procs)."""
    name = f"ocirt-rl-deleg-{uuid.uuid4().hex[:6]}"
    made: list[str] = []
    v2 = os.path.exists("/sys/fs/cgroup/cgroup.subtree_control")
    try:
        if v2:
            enabled = Path("/sys/fs/cgroup/cgroup.subtree_control").read_text().split()
            if not {"memory", "pids"} <= set(enabled):
                pytest.skip("cgroup v2 root does not enable memory and pids for its children")
            d = f"/sys/fs/cgroup/{name}"
            os.mkdir(d)
            made.append(d)
            Path(d, "cgroup.subtree_control").write_text("+memory +pids")
            runtime = f"{d}/runtime"
            os.mkdir(runtime)
            made.insert(0, runtime)
            for c in (d, runtime):
                for f in ("", "cgroup.procs", "cgroup.subtree_control", "cgroup.threads"):
                    os.chown(os.path.join(c, f) if f else c, RL_UID, RL_UID)
            deleg = Delegation("v2", name)
            deleg.runtime_cgroup = runtime
        else:
            for ctrl in ("memory", "pids"):
                mnt = f"/sys/fs/cgroup/{ctrl}"
                if not os.path.exists(f"{mnt}/cgroup.procs"):
                    pytest.skip(f"no cgroup v1 {ctrl} hierarchy at {mnt}")
                d = f"{mnt}/{name}"
                os.mkdir(d)
                made.append(d)
                _chown_tree_top(d)
            deleg = Delegation("v1", name)
    except OSError as e:
        for d in made:
            os.rmdir(d)
        pytest.skip(f"cannot delegate a cgroup here: {e}")
    yield deleg
    for d in made:
        for sub in os.listdir(d):
            if os.path.isdir(os.path.join(d, sub)) and sub != "runtime":
                os.rmdir(os.path.join(d, sub))
        os.rmdir(d)


def test_delegated_cgroup_is_used(rl, rlt, delegated):
    """With memory and pids cgroups the user may write to, their limits apply;
    the hierarchies it may not write to are skipped."""
    b = rlt.bundle().sh("exec sleep 300")
    b.config["linux"]["resources"] = {"memory": {"limit": 64 << 20}, "pids": {"limit": 20}}
    cid = rlt.new_id()
    b.config["linux"]["cgroupsPath"] = f"/{delegated.name}/{cid}"
    b.write()
    kw = {"cgroup": delegated.runtime_cgroup}
    r = rlt("run", "-d", "--bundle", str(b.path), cid, **kw)
    assert r.returncode == 0, r
    try:
        pid = rlt.state(cid)["pid"]
        assert delegated.memory_limit(cid) == 64 << 20
        assert (delegated.dir("pids", cid) / "pids.max").read_text().strip() == "20"
        assert str(pid) in (delegated.dir("memory", cid) / "cgroup.procs").read_text().split()
        r = rlt("update", "--pids-limit", "30", cid, **kw)
        assert r.returncode == 0, r
        assert (delegated.dir("pids", cid) / "pids.max").read_text().strip() == "30"
        r = rlt("pause", cid, **kw)
        if delegated.kind == "v2":  # the v2 freezer is part of every cgroup
            assert r.returncode == 0, r
            assert rlt.state(cid)["status"] == "paused"
            assert rlt("resume", cid, **kw).returncode == 0
    finally:
        r = rlt("delete", "--force", cid, **kw)
    assert r.returncode == 0, r
    assert not delegated.dir("memory", cid).exists() and not delegated.dir("pids", cid).exists()


def test_delegated_cgroup_entered_from_outside_fails_clearly(rl, rlt, delegated):
    """cgroup v2 lets a process be moved only by who may write the common
    ancestor's cgroup.procs: from outside its sub-tree the user may not
    place the container there.  That must be an error, not a hang."""
    if delegated.kind != "v2":
        pytest.skip("the common-ancestor rule is cgroup v2's")
    b = rlt.bundle().sh("exec sleep 300")
    b.config["linux"]["resources"] = {"pids": {"limit": 20}}
    cid = rlt.new_id()
    b.config["linux"]["cgroupsPath"] = f"/{delegated.name}/{cid}"
    b.write()
    try:
        r = rlt("run", "-d", "--bundle", str(b.path), cid, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("ocirt hung when it could not move the container into its cgroup")
    finally:
        if (rl.user.root / cid).exists():
            rlt("delete", "--force", cid, cgroup=delegated.runtime_cgroup)
    errs = _errors(r.stderr)
    assert r.returncode != 0 and len(errs) == 1 and "cgroup" in errs[0], r


# --- other users' containers -------------------------------------------------
def test_other_user_cannot_see_or_touch(rl, rlt):
    b = rlt.bundle().sh("exec sleep 300")
    cid = rlt.new_id()
    assert rlt("create", "--bundle", str(b.path), cid).returncode == 0
    try:
        other = rl.other
        assert rlt("list", "-q", user=other).stdout.split() == []
        for args in (("state", cid), ("kill", cid, "KILL"), ("delete", "--force", cid), ("start", cid),
                     ("exec", cid, "true")):
            r = rlt("--root", str(rl.user.root), *args, user=other)
            assert r.returncode != 0, (args, r)
        r = rlt("--root", str(rl.user.root), "list", "-q", user=other)
        assert cid not in r.stdout, r
        assert rlt.state(cid)["status"] == "created"
    finally:
        rlt("delete", "--force", cid)


def test_another_users_root_gives_plain_errors(rl, rlt):
    cid = _running(rlt)
    bad = []
    try:
        for args in (("list",), ("state", cid), ("kill", cid), ("delete", cid), ("ps", cid), ("exec", cid, "true"),
                     ("pause", cid), ("events", "--stats", cid), ("update", "--pids-limit", "5", cid)):
            r = rlt("--root", str(rl.user.root), *args, user=rl.other, timeout=30)
            errs = _errors(r.stderr)
            if r.returncode == 0 or len(errs) != 1 or "internal error" in r.stderr or "Traceback" in r.stderr:
                bad.append((args, r))
        assert not bad, bad
    finally:
        rlt("delete", "--force", cid)


def test_user_cannot_touch_roots_containers(rl, rlt, tmp_path, base_rootfs):
    from testlib import Bundle

    root_dir = f"/run/ocirt-rltest-{os.getpid()}"
    rootfs = tmp_path / "bundle" / "rootfs"
    shutil.copytree(base_rootfs, rootfs, symlinks=True)
    bundle = Bundle(tmp_path / "bundle", rootfs)
    bundle.args("sleep", "300")
    cid = "rl-root-" + uuid.uuid4().hex[:6]
    r = run_ocirt("create", "--bundle", str(bundle.path), cid, root=root_dir)
    assert r.returncode == 0, r
    try:
        assert stat.S_IMODE(os.stat(os.path.join(root_dir, cid)).st_mode) == 0o700
        r = rlt("--root", root_dir, "list", "-q")
        assert cid not in r.stdout, r
        for args in (("state", cid), ("kill", cid, "KILL"), ("delete", "--force", cid), ("start", cid),
                     ("exec", cid, "true")):
            r = rlt("--root", root_dir, *args)
            assert r.returncode != 0, (args, r)
        st = json.loads(run_ocirt("state", cid, root=root_dir).stdout)
        assert st["status"] == "created", st
    finally:
        run_ocirt("delete", "--force", cid, root=root_dir)
        shutil.rmtree(root_dir, ignore_errors=True)


def test_roots_state_root_is_private(tmp_path, base_rootfs):
    """Root's state root lists no container ids to other users (runc: 0700)."""
    from testlib import Bundle

    root_dir = f"/run/ocirt-rltest-{os.getpid()}-mode"
    rootfs = tmp_path / "bundle" / "rootfs"
    shutil.copytree(base_rootfs, rootfs, symlinks=True)
    bundle = Bundle(tmp_path / "bundle", rootfs)
    bundle.args("true")
    try:
        r = run_ocirt("run", "--bundle", str(bundle.path), "rl-mode", root=root_dir)
        assert r.returncode == 0, r
        assert stat.S_IMODE(os.stat(root_dir).st_mode) & 0o066 == 0, oct(os.stat(root_dir).st_mode)
    finally:
        shutil.rmtree(root_dir, ignore_errors=True)


def test_fallback_root_is_private(rl, rlt):
    """Without XDG_RUNTIME_DIR the root is /tmp/ocirt-<uid>, which no other
    user may list (0711 or 0700, as root's own)."""
    b = rlt.bundle()
    fallback = Path(f"/tmp/ocirt-{RL_UID}")
    shutil.rmtree(fallback, ignore_errors=True)
    try:
        r = rl.ocirt("run", "--bundle", str(b.path), rlt.new_id(), env={"XDG_RUNTIME_DIR": None})
        assert r.returncode == 0, r
        st = fallback.stat()
        assert st.st_uid == RL_UID
        assert stat.S_IMODE(st.st_mode) & 0o066 == 0, oct(st.st_mode)
        r = rl.ocirt("--root", str(fallback), "list", "-q", user=rl.other)
        assert r.stdout == "", r
    finally:
        shutil.rmtree(fallback, ignore_errors=True)


def test_fallback_root_of_another_user_is_refused(rl, rlt):
    fallback = Path(f"/tmp/ocirt-{RL_UID2}")
    if fallback.exists():
        pytest.skip(f"{fallback} exists")
    fallback.mkdir(mode=0o700)  # root's, as if someone planted it
    try:
        r = rl.ocirt("list", user=rl.other, env={"XDG_RUNTIME_DIR": None})
        assert r.returncode != 0, r
        errs = _errors(r.stderr)
        assert len(errs) == 1 and "--root" in errs[0], r
    finally:
        fallback.rmdir()


# --- commands that need a cgroup the user does not have ----------------------
def _running(rlt, script: str = "exec sleep 300") -> str:
    b = rlt.bundle().sh(script)
    cid = rlt.new_id()
    r = rlt("run", "-d", "--bundle", str(b.path), cid)
    assert r.returncode == 0, r
    return cid


def test_cgroup_skip_is_one_warning(rl, rlt):
    r = rlt.run(rlt.bundle())
    assert r.returncode == 0, r
    warnings = [ln for ln in r.stderr.splitlines() if "warning" in ln]
    assert len(warnings) <= 1, r.stderr


def test_pause_and_update_fail_clearly(rl, rlt):
    cid = _running(rlt)
    try:
        for args in (("pause", cid), ("update", "--memory", "100000000", cid), ("update", "--pids-limit", "10", cid)):
            r = rlt(*args)
            errs = _errors(r.stderr)
            assert r.returncode != 0 and len(errs) == 1 and "cgroup" in errs[0], (args, r)
            assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r
        assert rlt.state(cid)["status"] == "running"
    finally:
        rlt("delete", "--force", cid)


def test_other_commands_work_for_the_user(rl, rlt):
    cid = _running(rlt)
    try:
        r = rlt("features")
        assert r.returncode == 0 and json.loads(r.stdout)["ociVersionMax"], r
        r = rlt("events", "--stats", cid, timeout=30)
        if r.returncode == 0:  # v1: empty stats; v2: there is no cgroup to read
            assert json.loads(r.stdout.splitlines()[0])["type"] == "stats", r
        else:
            assert len(_errors(r.stderr)) == 1 and "cgroup" in r.stderr, r
        r = rlt("list")
        assert r.returncode == 0 and cid in r.stdout and "running" in r.stdout, r
        r = rlt("kill", cid, "KILL")
        assert r.returncode == 0, r
        assert rlt.wait_status(cid, "stopped")["status"] == "stopped"
        r = rlt("kill", cid, "KILL")
        assert r.returncode != 0 and "not running" in r.stderr, r
        r = rlt("delete", cid)
        assert r.returncode == 0, r
    finally:
        rlt("delete", "--force", cid)


def test_kill_all_without_cgroup(rl, rlt):
    cid = _running(rlt)
    try:
        r = rlt("kill", "--all", cid, "KILL")
        assert r.returncode == 0, r
        assert rlt.wait_status(cid, "stopped", timeout=5)["status"] == "stopped"
    finally:
        rlt("delete", "--force", cid)


def test_ps_without_cgroup(rl, rlt):
    cid = _running(rlt, "sleep 300 & exec sleep 301")
    try:
        init = rlt.state(cid)["pid"]
        r = rlt("ps", "--format", "json", cid)
        assert r.returncode == 0, r
        pids = json.loads(r.stdout)
        assert init in pids and len(pids) == 2, r
    finally:
        rlt("delete", "--force", cid)
