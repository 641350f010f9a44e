"""Linux namespaces: join by path, create new ones, write user-namespace id maps."""
from __future__ import annotations

import fcntl
import os

from .config.model import NS_FLAGS, NS_PROC_NAMES
from .errors import OcirtError
from .linux import sys


def join(kind: str, path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise OcirtError(f"linux.namespaces: cannot open {kind} namespace {path}: {e.strerror}") from None
    try:
        _check_type(fd, kind, path)
        sys.setns(fd, NS_FLAGS[kind])
    except OSError as e:
        raise OcirtError(f"linux.namespaces: cannot join {kind} namespace {path}: {e.strerror}") from None
    finally:
        os.close(fd)


NS_GET_NSTYPE = 0xB703  # linux/nsfs.h: _IO(0xb7, 0x3)


def _check_type(fd: int, kind: str, path: str) -> None:
    """The spec wants an error when path is not a namespace of that type;
    setns would only say EINVAL."""
    try:
        actual = fcntl.ioctl(fd, NS_GET_NSTYPE)
    except OSError:
        raise OcirtError(f"linux.namespaces: {path} is not a namespace file; for type {kind!r} "
                         f"give e.g. /proc/<pid>/ns/{NS_PROC_NAMES[kind]}") from None
    if actual != NS_FLAGS[kind]:
        other = next((k for k, flag in NS_FLAGS.items() if flag == actual), "another")
        raise OcirtError(f"linux.namespaces: {path} is a{'n' if other[0] in 'aeiou' else ''} {other} "
                         f"namespace, not a {kind} namespace; give a /proc/<pid>/ns/{NS_PROC_NAMES[kind]} path")


def _map_text(maps: list[dict]) -> str:
    return "".join(f"{m['containerID']} {m['hostID']} {m['size']}\n" for m in maps)


def _is_self_map(maps: list[dict], own: int) -> bool:
    """A single mapping of the caller's own id: the kernel lets anyone write it."""
    return len(maps) == 1 and maps[0]["hostID"] == own and maps[0]["size"] == 1


def _user_names(uid: int) -> tuple[str, ...]:
    """The keys /etc/subuid may list this user under: its name and its uid."""
    import pwd

    try:
        return (pwd.getpwuid(uid).pw_name, str(uid))
    except KeyError:
        return (str(uid),)


def subordinate_ranges(path: str, uid: int) -> list[tuple[int, int]]:
    """(first, count) ranges /etc/subuid or /etc/subgid grants the user uid."""
    names = _user_names(uid)
    ranges = []
    try:
        with open(path) as f:
            for line in f:
                parts = line.strip().split(":")
                if len(parts) == 3 and parts[0] in names and parts[1].isdigit() and parts[2].isdigit():
                    ranges.append((int(parts[1]), int(parts[2])))
    except OSError:
        pass
    return ranges


def _subids_from_files() -> bool:
    try:
        with open("/etc/nsswitch.conf") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "subid":
                    return value.split("#")[0].split()[:1] in ([], ["files"])
    except OSError:
        pass
    return True


def _fmt_ranges(ranges: list[tuple[int, int]]) -> str:
    return ", ".join(f"{a}-{a + n - 1}" for a, n in ranges) or "none"


def _check_allowed(kind: str, maps: list[dict], own: int, sub_file: str) -> None:
    """Fail before calling newuidmap/newgidmap when a host range is not the
    user's own id nor inside its /etc/subuid (subgid) grants, naming both."""
    if not _subids_from_files():
        return  # another source (nsswitch subid:): newuidmap alone can tell
    granted = [(own, 1)] + subordinate_ranges(sub_file, os.getuid())
    for m in maps:
        first, size = m["hostID"], m["size"]
        left = [(first, size)]
        # a range may span several adjacent grants: cut away what each covers
        for a, n in granted:
            rest = []
            for lo, cnt in left:
                hi = lo + cnt
                if hi <= a or lo >= a + n:
                    rest.append((lo, cnt))
                    continue
                if lo < a:
                    rest.append((lo, a - lo))
                if hi > a + n:
                    rest.append((a + n, hi - a - n))
            left = rest
        if left:
            field = "linux.uidMappings" if kind == "uid" else "linux.gidMappings"
            raise OcirtError(
                f"{field}: host {kind}s {_fmt_ranges(left)} are not yours to map: only root may map "
                f"them; {sub_file} grants this user {_fmt_ranges(granted[1:])} besides its own {kind} {own}")


def _newidmap(tool: str, pid: int, maps: list[dict]) -> None:
    import shutil  # only the rootless paths need it (~4 ms: zlib, bz2, lzma)
    import subprocess

    exe = shutil.which(tool)
    if exe is None:
        raise OcirtError(f"linux.{'uid' if 'uid' in tool else 'gid'}Mappings: more than one id range needs "
                         f"{tool} (Debian package uidmap); install it or map only your own id")
    argv = [exe, str(pid)]
    for m in maps:
        argv += [str(m["containerID"]), str(m["hostID"]), str(m["size"])]
    proc = subprocess.run(argv, check=False, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        why = " ".join(proc.stderr.split()) or f"exit status {proc.returncode}"
        raise OcirtError(f"{tool} failed: {why} (check /etc/sub{'u' if 'uid' in tool else 'g'}id)")


def _write(path: str, text: str) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    except OSError as e:
        raise OcirtError(f"writing {path}: {e.strerror}{_proc_owner_hint(path)}") from None
    try:
        os.write(fd, text.encode())  # one write: the kernel takes a map in one go
    except OSError as e:
        raise OcirtError(f"writing {path}: {e.strerror}") from None
    finally:
        os.close(fd)


def _proc_owner_hint(path: str) -> str:
    """Why an unprivileged runtime cannot open /proc/<pid>/uid_map: the files
    of a non-dumpable process belong to root."""
    if os.geteuid() == 0:
        return ""
    try:
        owner = os.stat(path).st_uid
    except OSError:
        return ""
    if owner == os.geteuid():
        return ""
    return (f" ({path} belongs to uid {owner}, not to us: the child must stay"
            f" dumpable (PR_SET_DUMPABLE 1) until its id maps are written)")


def write_id_maps(pid: int, uid_maps: list[dict], gid_maps: list[dict]) -> None:
    """Give the new user namespace of pid its uid/gid maps.

    Root writes them directly.  An unprivileged user may write only a single
    mapping of its own id (after denying setgroups); anything more goes
    through the setuid newuidmap/newgidmap helpers, which check /etc/subuid.

    pid waits for its maps and cannot go on without them: when they cannot
    be written it is killed before the error is raised, so a caller waiting
    for it is not left waiting forever.
    """
    try:
        _write_id_maps(pid, uid_maps, gid_maps)
    except BaseException:
        import _signal as signal  # not signal: its enums import enum (~5 ms)

        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        raise


def _write_id_maps(pid: int, uid_maps: list[dict], gid_maps: list[dict]) -> None:
    euid = os.geteuid()
    if euid == 0:
        _write(f"/proc/{pid}/uid_map", _map_text(uid_maps))
        _write(f"/proc/{pid}/gid_map", _map_text(gid_maps))
        return
    egid = os.getegid()
    self_uid, self_gid = _is_self_map(uid_maps, euid), _is_self_map(gid_maps, egid)
    if not self_uid:
        _check_allowed("uid", uid_maps, euid, "/etc/subuid")
    if not self_gid:
        _check_allowed("gid", gid_maps, egid, "/etc/subgid")
    if self_uid and _can_write_own(pid, "uid_map", "newuidmap"):
        _write(f"/proc/{pid}/uid_map", _map_text(uid_maps))
    else:
        _newidmap("newuidmap", pid, uid_maps)
    if self_gid and _can_write_own(pid, "gid_map", "newgidmap"):
        _write(f"/proc/{pid}/setgroups", "deny")
        _write(f"/proc/{pid}/gid_map", _map_text(gid_maps))
    else:
        _newidmap("newgidmap", pid, gid_maps)  # denies setgroups itself for an own-id map


def _can_write_own(pid: int, name: str, tool: str) -> bool:
    """Whether to write a single own-id map ourselves.  The map files of a
    non-dumpable child belong to root; the setuid helper, when installed,
    may still write them (it checks only who owns /proc/<pid>), so use it
    then rather than fail.  Without the helper, the write names the cause."""
    import shutil  # only the rootless paths need it (~4 ms: zlib, bz2, lzma)

    return os.access(f"/proc/{pid}/{name}", os.W_OK) or shutil.which(tool) is None


def write_time_offsets(offsets: dict) -> None:
    """Set the new time namespace's clock offsets (before its first process)."""
    lines = []
    for clock in ("monotonic", "boottime"):
        off = offsets.get(clock)
        if off:
            lines.append(f"{clock} {off.get('secs', 0)} {off.get('nanosecs', 0)}\n")
    if lines:
        _write("/proc/self/timens_offsets", "".join(lines))
