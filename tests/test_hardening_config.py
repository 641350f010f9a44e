"""Class 5 of issue 8: hostile config values.

config.json comes from whoever built the bundle; a runtime that trusts its
shape dies with a traceback (or worse, half-applies it and leaks state),
hangs on a FIFO, or eats all memory on /dev/zero.  Every case here must end
in one clear error line on stderr, within a time bound, with nothing left
behind: no state dir, no cgroup (the `ocirt` fixture checks both), no
process (checked through a marker in the environment).
"""
from __future__ import annotations

import glob
import json
import os
import resource
import subprocess
import tempfile
import time
import uuid

import pytest

from testlib import OCIRT, Result, STATE_ROOT, one_line_error


@pytest.fixture
def ids():
    """Container ids a test creates; afterwards none may have a state dir or
    a cgroup.  (The shared `ocirt` fixture walks all of /sys/fs/cgroup,
    ~1.7 s a test here; the default cgroup paths are known, so look there.)"""
    made: list[str] = []
    yield made
    leftovers = []
    for cid in made:
        if os.path.exists(os.path.join(STATE_ROOT, cid)):
            leftovers.append(f"state dir of {cid}")
            subprocess.run([OCIRT, "--root", STATE_ROOT, "delete", "--force", cid], capture_output=True)
        name = glob.escape(cid)
        leftovers += glob.glob(f"/sys/fs/cgroup/{name}") + glob.glob(f"/sys/fs/cgroup/*/{name}")
    assert not leftovers, f"left behind: {leftovers}"


def new_id(ids: list[str]) -> str:
    cid = "h-" + uuid.uuid4().hex[:10]
    ids.append(cid)
    return cid


def leftover_processes(mark: str) -> list[int]:
    """Processes whose environment carries mark: ocirt, its init, anything
    forked from them (the environment survives fork and our execs)."""
    found = []
    needle = f"OCIRT_HARDENING_MARK={mark}".encode()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if needle in f.read():
                    found.append(int(pid))
        except OSError:
            pass
    return found


def create(cid: str, bundle_dir, timeout: float = 30, mem_limit: int = 2 << 30) -> Result:
    """ocirt create with an address-space cap (so /dev/zero cannot eat the
    host) and a marker to find leaked processes."""
    mark = uuid.uuid4().hex
    env = dict(os.environ, OCIRT_HARDENING_MARK=mark)

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (mem_limit, mem_limit))

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.run([OCIRT, "--root", STATE_ROOT, "create", "--bundle", str(bundle_dir), cid],
                                  stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env,
                                  timeout=timeout, preexec_fn=limit)
            rc = proc.returncode
        except subprocess.TimeoutExpired:
            rc = None
        out.seek(0)
        err.seek(0)
        r = Result(rc, out.read().decode(errors="replace"), err.read().decode(errors="replace"))
    if rc == 0:  # accepted (a defect the caller asserts on): do not leak it
        subprocess.run([OCIRT, "--root", STATE_ROOT, "delete", "--force", cid], capture_output=True)
    time.sleep(0.05)
    leaked = leftover_processes(mark)
    for pid in leaked:
        os.kill(pid, 9)
    assert rc is not None, f"ocirt create hung for {timeout} s: {r}"
    assert not leaked, f"processes left behind: {leaked}"
    return r


def _set(path: str, value):
    """A config edit: set the dotted path (list indexes as ints) to value."""
    def edit(cfg: dict) -> None:
        keys = path.split(".")
        node = cfg
        for k in keys[:-1]:
            node = node[int(k)] if isinstance(node, list) else node.setdefault(k, {})
        node[keys[-1]] = value
    return edit


def _append(path: str, item):
    def edit(cfg: dict) -> None:
        node = cfg
        for k in path.split("."):
            node = node.setdefault(k, [] if k == path.split(".")[-1] else {})
        node.append(item)
    return edit




TMPFS = {"type": "tmpfs", "source": "tmpfs"}

HOSTILE = {
    # absurd numbers
    "rlimit-above-u64": _set("process.rlimits", [{"type": "RLIMIT_NOFILE", "soft": 2**64 + 5, "hard": 2**64 + 5}]),
    "rlimit-negative": _set("process.rlimits", [{"type": "RLIMIT_NOFILE", "soft": -1, "hard": -1}]),
    "rlimit-soft-above-hard": _set("process.rlimits", [{"type": "RLIMIT_NOFILE", "soft": 9, "hard": 1}]),
    "uid-negative": _set("process.user.uid", -1),
    "uid-2^40": _set("process.user.uid", 2**40),
    "memory-2^80": _set("linux.resources", {"memory": {"limit": 2**80}}),
    "memory-negative": _set("linux.resources", {"memory": {"limit": -5}}),
    "pids-2^62": _set("linux.resources", {"pids": {"limit": 2**62}}),
    "cpu-shares-huge": _set("linux.resources", {"cpu": {"shares": 2**63}}),
    "oom-score-adj-1e6": _set("process.oomScoreAdj", 10**6),
    "uidmap-size-2^40": _set("linux.uidMappings", [{"containerID": 0, "hostID": 0, "size": 2**40}]),
    "float-for-int": _set("process.user.uid", 1.5),
    # strings that are not paths or not text
    "env-without-equals": _set("process.env", ["PATH=/bin", "NOEQUALS"]),
    "args-empty": _set("process.args", []),
    "cwd-relative": _set("process.cwd", "tmp"),
    "NUL-in-args": _set("process.args", ["sh\0", "-c", "true"]),
    "NUL-in-env": _set("process.env", ["A=b\0c"]),
    "NUL-in-cwd": _set("process.cwd", "/tmp\0x"),
    "NUL-in-mount-destination": _append("mounts", {"destination": "/mnt\0x", **TMPFS}),
    "NUL-in-mount-source": _append("mounts", {"destination": "/mnt", "type": "bind", "source": "/tmp\0x",
                                              "options": ["bind"]}),
    "NUL-in-maskedPaths": _set("linux.maskedPaths", ["/etc\0x"]),
    "NUL-in-device-path": _set("linux.devices", [{"path": "/dev/x\0y", "type": "c", "major": 1, "minor": 3}]),
    "NUL-in-hostname": _set("hostname", "a\0b"),
    "NUL-in-root-path": _set("root.path", "rootfs\0x"),
    "NUL-in-hook-path": _set("hooks", {"prestart": [{"path": "/bin/true\0x"}]}),
    "NUL-in-cgroupsPath": _set("linux.cgroupsPath", "/a\0b"),
    "surrogate-in-mount-destination": _append("mounts", {"destination": "/mnt\udc80", **TMPFS}),
    "hook-path-relative": _set("hooks", {"prestart": [{"path": "true"}]}),
    "hook-missing": _set("hooks", {"createRuntime": [{"path": "/nonexistent/hook"}]}),
    # huge arrays and odd shapes
    "100k-mounts": _set("mounts", [{"destination": f"/m/{i}", **TMPFS} for i in range(100_000)]),
    "mounts-not-a-list": _set("mounts", {"destination": "/x"}),
    "10k-sysctls-host": _set("linux.sysctl", {f"vm.x{i}": "1" for i in range(10_000)}),
    "namespaces-duplicate": _append("linux.namespaces", {"type": "pid"}),
    "namespace-path-missing": _set("linux.namespaces", [{"type": "network", "path": "/nonexistent/ns"}]),
    "root-missing": _set("root.path", "no-such-rootfs"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_config_value(ids, bundle, case):
    """One hostile value in an otherwise valid config.json: a clear one-line
    error, in bounded time, nothing left behind."""
    HOSTILE[case](bundle.config)
    bundle.write()
    start = time.monotonic()
    r = create(new_id(ids), bundle.path)
    one_line_error(r)
    if case == "100k-mounts":
        assert time.monotonic() - start < 15, "100k mounts must be refused up front, not after minutes"


def _raw(data: bytes):
    def write(path) -> None:
        path.write_bytes(data)
    return write


def _fifo(path) -> None:
    os.mkfifo(path)


def _dev_zero(path) -> None:
    os.symlink("/dev/zero", path)


def _directory(path) -> None:
    path.mkdir()


def _dangling(path) -> None:
    os.symlink("/nonexistent/config.json", path)


HOSTILE_FILES = {
    "not-utf8": _raw(b'{"ociVersion": "1.2.0", "root": {"path": "\xff\xfe"}}'),
    "truncated": _raw(b'{"ociVersion": "1.2.0", "root": {"path": '),
    "not-an-object": _raw(b'[1, 2, 3]'),
    "empty": _raw(b""),
    "nan": _raw(b'{"ociVersion": "1.2.0", "root": {"path": "rootfs"}, "process": {"oomScoreAdj": NaN}}'),
    "deep-nesting": _raw(b'{"a":' * 100_000 + b"1" + b"}" * 100_000),
    "fifo": _fifo,
    "dev-zero": _dev_zero,
    "directory": _directory,
    "dangling-symlink": _dangling,
}


@pytest.mark.parametrize("case", list(HOSTILE_FILES))
def test_hostile_config_file(ids, bundle, case):
    """config.json that is not a JSON object in a regular file: invalid
    bytes, a FIFO nobody writes (a naive read blocks forever), /dev/zero (a
    naive read never ends), a directory, deep nesting."""
    cfg = bundle.path / "config.json"
    cfg.unlink()
    HOSTILE_FILES[case](cfg)
    r = create(new_id(ids), bundle.path, timeout=5, mem_limit=1 << 30)
    one_line_error(r)
    assert "config" in r.stderr, r


@pytest.mark.parametrize("cid", [
    "x" * 5000, "../escape", "a/b", ".", "..", "-flag", "", "c1\n", "c1\t", "\u00e9t\u00e9",
])
def test_hostile_container_id(bundle, cid):
    """Container ids name a directory under the state root and a cgroup: a
    traversal, a newline or a huge id must be refused before either exists."""
    r = create(cid, bundle.path)
    one_line_error(r)
    assert not os.path.exists(os.path.join(os.path.dirname(STATE_ROOT), "escape"))
    assert not os.path.exists(os.path.join(STATE_ROOT, "a"))
    if cid.strip() and "/" not in cid and cid not in (".", ".."):
        assert not os.path.exists(os.path.join(STATE_ROOT, cid)), "refused id left a state dir"


def test_bundle_path_through_symlinks(ocirt, bundle, tmp_path):
    """--bundle given through a chain of symlinks (as engines do with
    /run/.../bundle -> /var/lib/...): the container runs from the real
    bundle, and state records an absolute bundle path."""
    link1, link2 = tmp_path / "link1", tmp_path / "link2"
    os.symlink(bundle.path, link2)
    os.symlink(link2, link1)
    bundle.sh("echo ran")
    cid = ocirt.new_id()
    r = ocirt("create", "--bundle", str(link1), cid)
    assert r.returncode == 0, r
    try:
        st = ocirt.state(cid)
        assert os.path.isabs(st["bundle"]) and os.path.samefile(st["bundle"], bundle.path)
        assert os.path.samefile(st["rootfs"], bundle.rootfs)
    finally:
        assert ocirt("delete", "--force", cid).returncode == 0


def test_config_json_symlink_out_of_bundle(ocirt, bundle, tmp_path):
    """config.json may be a link (image tools make them); what it points at
    is read once, and the config recorded in state is that content."""
    real = tmp_path / "elsewhere.json"
    real.write_text(json.dumps(bundle.sh("true").config))
    (bundle.path / "config.json").unlink()
    os.symlink(real, bundle.path / "config.json")
    r = ocirt("run", "--bundle", str(bundle.path), ocirt.new_id())
    assert r.returncode == 0, r
