"""Container state on disk: /run/ocirt/<id>/state.json, and the derived status.

The status is never stored; it is derived each time from facts that cannot
go stale: whether the init pid still runs with the start time we recorded
(so a recycled pid is not mistaken for the container), whether init still
waits for `start` (start.sock exists), and whether the cgroup is frozen.
"""
from __future__ import annotations

import fcntl
from . import jsonio as json
import os
import time

from . import SPEC_VERSION
from .errors import ConfigError, NotFound, OcirtError

STATE_FILE = "state.json"
START_SOCK = "start.sock"
# runc's rule (^[\w+-\.]+$) without importing re on every call
ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-.")


MAX_ID = 1024


def check_id(cid: str) -> None:
    if not cid or cid in (".", "..") or len(cid) > MAX_ID or not ID_CHARS.issuperset(cid):
        shown = cid if len(cid) <= 64 else cid[:64] + "..."
        raise ConfigError(f"invalid container id {shown!r}: use 1 to {MAX_ID} letters, digits, '_', '+', '-' and '.'")


def now_rfc3339() -> str:
    ns = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) + f".{ns % 10**9:09d}Z"


def proc_start_time(pid: int) -> int | None:
    """Start time of pid in clock ticks (field 22 of /proc/pid/stat); None if gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rindex(b")") + 2:].split()
    if fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])


class Container:
    """One container's state directory and the record saved in it."""

    def __init__(self, root: str, cid: str, record: dict | None = None) -> None:
        self.root = root
        self.id = cid
        self.dir = os.path.join(root, cid)
        self.record: dict = record or {}
        self._lock_fd: int | None = None

    # --- loading and saving -------------------------------------------------
    @classmethod
    def load(cls, root: str, cid: str) -> "Container":
        check_id(cid)
        c = cls(root, cid)
        try:
            with open(os.path.join(c.dir, STATE_FILE), "rb") as f:
                c.record = json.loads(f.read())
        except FileNotFoundError:
            raise NotFound(f"container {cid} does not exist") from None
        except (OSError, ValueError) as e:
            raise OcirtError(f"container {cid}: cannot read its state: {e}") from None
        return c

    def save(self) -> None:
        tmp = os.path.join(self.dir, STATE_FILE + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(self.record, f)
        os.rename(tmp, os.path.join(self.dir, STATE_FILE))

    def make_dir(self) -> None:
        try:
            os.makedirs(self.root, mode=0o711, exist_ok=True)
            os.mkdir(self.dir, 0o700)
        except FileExistsError:
            raise OcirtError(f"container with id {self.id} already exists") from None
        except OSError as e:
            raise OcirtError(f"cannot create the state dir {self.dir}: {e.strerror} (check --root)") from None

    def remove_dir(self) -> None:
        remove_tree(self.dir)

    def lock(self) -> None:
        """Serialise commands that change this container (flock on the state dir)."""
        fd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        fcntl.flock(fd, fcntl.LOCK_EX)
        self._lock_fd = fd

    def path(self, name: str) -> str:
        return os.path.join(self.dir, name)

    # --- derived status -----------------------------------------------------
    @property
    def pid(self) -> int:
        return self.record.get("pid", 0)

    def init_alive(self) -> bool:
        pid = self.pid
        return pid > 0 and proc_start_time(pid) == self.record.get("pid_start")

    def status(self) -> str:
        if not self.record.get("pid"):
            return "creating"
        if not self.init_alive():
            return "stopped"
        if not self.record.get("ready"):
            return "creating"
        if os.path.exists(self.path(START_SOCK)):
            return "created"
        if self.record.get("cgroup") and self._frozen():
            return "paused"
        return "running"

    def _frozen(self) -> bool:
        try:
            return self.cgroup().is_frozen()
        except OcirtError:
            # A freezer cgroup removed behind our back must not make the
            # container undeletable; without it nothing can be frozen.
            return False

    def cgroup(self):
        from .cgroups import load_manager

        return load_manager(self.record["cgroup"])

    def oci_state(self, status: str | None = None) -> dict:
        """The state document the spec defines (plus runc's extra fields);
        status derived unless the caller knows it."""
        status = status or self.status()
        r = self.record
        return {
            "ociVersion": SPEC_VERSION,
            "id": self.id,
            "pid": r.get("pid", 0) if status != "stopped" else 0,
            "status": status,
            "bundle": r.get("bundle", ""),
            "rootfs": r.get("rootfs", ""),
            "created": r.get("created", ""),
            "owner": r.get("owner", ""),
            "annotations": r.get("annotations") or {},
        }

    def hook_state(self, status: str | None = None) -> dict:
        """State passed to hooks on stdin: the spec's fields only."""
        st = self.oci_state(status)
        return {k: st[k] for k in ("ociVersion", "id", "status", "pid", "bundle", "annotations")}


def list_ids(root: str) -> list[str]:
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return []
    except PermissionError:
        raise OcirtError(f"cannot read the state root {root}: permission denied (it belongs to another user; pass --root)") from None
    return sorted(n for n in names if ID_CHARS.issuperset(n) and os.path.exists(os.path.join(root, n, STATE_FILE)))


def remove_tree(path: str) -> None:
    """rm -rf of a state dir, never following a symlink; errors ignored.

    Not shutil.rmtree: importing shutil loads zlib, bz2 and lzma (~4 ms)."""
    try:
        entries = list(os.scandir(path))
    except NotADirectoryError:
        _unlink_quietly(path)
        return
    except OSError:
        return
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            remove_tree(entry.path)
        else:
            _unlink_quietly(entry.path)
    try:
        os.rmdir(path)
    except OSError:
        pass


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
