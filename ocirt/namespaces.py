"""Linux namespaces: join by path, create new ones, write user-namespace id maps."""
from __future__ import annotations

import os
import shutil

from .config.model import NS_FLAGS
from .errors import OcirtError
from .linux import sys


def join(kind: str, path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise OcirtError(f"linux.namespaces: cannot open {kind} namespace {path}: {e.strerror}") from None
    try:
        sys.setns(fd, NS_FLAGS[kind])
    except OSError as e:
        raise OcirtError(f"linux.namespaces: cannot join {kind} namespace {path}: {e.strerror}") from None
    finally:
        os.close(fd)


def _map_text(maps: list[dict]) -> str:
    return "".join(f"{m['containerID']} {m['hostID']} {m['size']}\n" for m in maps)


def _is_self_map(maps: list[dict], own: int) -> bool:
    """A single mapping of the caller's own id: the kernel lets anyone write it."""
    return len(maps) == 1 and maps[0]["hostID"] == own and maps[0]["size"] == 1


def _newidmap(tool: str, pid: int, maps: list[dict]) -> None:
    import subprocess  # only the multi-range rootless path needs it

    exe = shutil.which(tool)
    if exe is None:
        raise OcirtError(f"linux.uidMappings: more than one id range needs {tool} (Debian package uidmap); install it or map only your own id")
    argv = [exe, str(pid)]
    for m in maps:
        argv += [str(m["containerID"]), str(m["hostID"]), str(m["size"])]
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise OcirtError(f"{tool} failed: {proc.stderr.strip()} (check /etc/sub{'u' if 'uid' in tool else 'g'}id)")


def _write(path: str, text: str) -> None:
    try:
        with open(path, "w") as f:
            f.write(text)
    except OSError as e:
        raise OcirtError(f"writing {path}: {e.strerror}") from None


def write_id_maps(pid: int, uid_maps: list[dict], gid_maps: list[dict]) -> None:
    """Give the new user namespace of pid its uid/gid maps.

    Root writes them directly.  An unprivileged user may write only a single
    mapping of its own id (after denying setgroups); anything more goes
    through the setuid newuidmap/newgidmap helpers, which check /etc/subuid.
    """
    euid = os.geteuid()
    if euid == 0:
        _write(f"/proc/{pid}/uid_map", _map_text(uid_maps))
        _write(f"/proc/{pid}/gid_map", _map_text(gid_maps))
        return
    if _is_self_map(uid_maps, euid):
        _write(f"/proc/{pid}/uid_map", _map_text(uid_maps))
    else:
        _newidmap("newuidmap", pid, uid_maps)
    if _is_self_map(gid_maps, os.getegid()):
        _write(f"/proc/{pid}/setgroups", "deny")
        _write(f"/proc/{pid}/gid_map", _map_text(gid_maps))
    else:
        _newidmap("newgidmap", pid, gid_maps)


def write_time_offsets(offsets: dict) -> None:
    """Set the new time namespace's clock offsets (before its first process)."""
    lines = []
    for clock in ("monotonic", "boottime"):
        off = offsets.get(clock)
        if off:
            lines.append(f"{clock} {off.get('secs', 0)} {off.get('nanosecs', 0)}\n")
    if lines:
        _write("/proc/self/timens_offsets", "".join(lines))
