"""Facade over the cffi module: Python-friendly calls that raise OSError.

Every other module reaches the kernel through here (or through os), so a
test can replace this module's functions to simulate failures.
"""
from __future__ import annotations

import os

from .._native import ffi, lib


def _check(ret: int, *paths: str) -> int:
    if ret < 0:
        err = -ret
        raise OSError(err, os.strerror(err), *paths[:1]) if paths else OSError(err, os.strerror(err))
    return ret


def _b(s: str | None):
    return ffi.NULL if s is None else s.encode()


def mount(source: str | None, target: str, fstype: str | None, flags: int = 0,
          data: str | None = None) -> None:
    _check(lib.oc_mount(_b(source), target.encode(), _b(fstype), flags, _b(data)), target)


def umount2(target: str, flags: int = 0) -> None:
    _check(lib.oc_umount2(target.encode(), flags), target)


def pivot_root(new_root: str, put_old: str) -> None:
    _check(lib.oc_pivot_root(new_root.encode(), put_old.encode()), new_root)


def unshare(flags: int) -> None:
    _check(lib.oc_unshare(flags))


def setns(fd: int, nstype: int = 0) -> None:
    _check(lib.oc_setns(fd, nstype))


def sethostname(name: str) -> None:
    raw = name.encode()
    _check(lib.oc_sethostname(raw, len(raw)))


def setdomainname(name: str) -> None:
    raw = name.encode()
    _check(lib.oc_setdomainname(raw, len(raw)))


def prctl(option: int, a2: int = 0, a3: int = 0, a4: int = 0, a5: int = 0) -> int:
    return _check(lib.oc_prctl(option, a2, a3, a4, a5))


def capget(pid: int = 0) -> tuple[int, int, int]:
    """Return (effective, permitted, inheritable) as 64-bit masks."""
    out = ffi.new("uint32_t[6]")
    _check(lib.oc_capget(pid, out))
    return tuple(out[i] | (out[i + 1] << 32) for i in (0, 2, 4))  # type: ignore[return-value]


def capset(effective: int, permitted: int, inheritable: int) -> None:
    words = []
    for mask in (effective, permitted, inheritable):
        words += [mask & 0xFFFFFFFF, mask >> 32]
    _check(lib.oc_capset(ffi.new("uint32_t[6]", words)))


def openat2(dirfd: int, path: str, flags: int, resolve: int, mode: int = 0) -> int:
    return _check(lib.oc_openat2(dirfd, path.encode(), flags | os.O_CLOEXEC, mode, resolve), path)


def pidfd_open(pid: int) -> int:
    return _check(lib.oc_pidfd_open(pid, 0))


def pidfd_send_signal(pidfd: int, sig: int) -> None:
    _check(lib.oc_pidfd_send_signal(pidfd, sig))


def close_range(first: int, last: int = 0xFFFFFFFF, flags: int = 0) -> None:
    _check(lib.oc_close_range(first, last, flags))


def join_session_keyring(name: str | None) -> None:
    _check(lib.oc_join_session_keyring(_b(name)))


def mount_setattr(dirfd: int, path: str, at_flags: int, attr_set: int = 0, attr_clr: int = 0,
                  propagation: int = 0, userns_fd: int = 0) -> None:
    _check(lib.oc_mount_setattr(dirfd, path.encode(), at_flags, attr_set, attr_clr, propagation,
                                userns_fd), path)


def open_tree(dirfd: int, path: str, flags: int) -> int:
    return _check(lib.oc_open_tree(dirfd, path.encode(), flags), path)


def move_mount(from_fd: int, from_path: str, to_fd: int, to_path: str, flags: int) -> None:
    _check(lib.oc_move_mount(from_fd, from_path.encode(), to_fd, to_path.encode(), flags), to_path)


def ioprio_set(which: int, who: int, ioprio: int) -> None:
    _check(lib.oc_ioprio_set(which, who, ioprio))


def sched_setattr(policy: int, flags: int = 0, nice: int = 0, priority: int = 0,
                  runtime: int = 0, deadline: int = 0, period: int = 0) -> None:
    _check(lib.oc_sched_setattr(0, policy, flags, nice, priority, runtime, deadline, period))


def personality(persona: int) -> int:
    return _check(lib.oc_personality(persona))


def fstatfs_type(fd: int) -> int:
    out = ffi.new("long *")
    _check(lib.oc_fstatfs_type(fd, out))
    return out[0]


def set_mempolicy(mode: int, nodes: list[int]) -> None:
    """set_mempolicy(2) with a nodemask built from node numbers (none: NULL)."""
    if not nodes:
        _check(lib.oc_set_mempolicy(mode, ffi.NULL, 0))
        return
    words = [0] * (max(nodes) // 64 + 1)
    for n in nodes:
        words[n // 64] |= 1 << (n % 64)
    _check(lib.oc_set_mempolicy(mode, ffi.new("unsigned long[]", words), len(words) * 64 + 1))
