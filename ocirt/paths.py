"""Resolve paths inside the container's rootfs without ever leaving it.

The rootfs belongs to the image author: any component may be a symlink
pointing at the host ("../../etc", "/proc/self/root/...").  Every lookup goes
through openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS), which makes the
kernel treat the rootfs as "/" while walking, and mounts target the resulting
descriptor through /proc/self/fd/N, so the path cannot be swapped between
check and use.
"""
from __future__ import annotations

import os
import stat

from .linux import sys
from .linux.constants import RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS

RESOLVE = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS


def fd_path(fd: int) -> str:
    return f"/proc/self/fd/{fd}"


def open_in_root(rootfd: int, path: str, flags: int = os.O_PATH) -> int:
    return sys.openat2(rootfd, path.lstrip("/") or ".", flags, RESOLVE)


def chdir_in_root(path: str) -> None:
    """chdir to path resolved inside the current root (CVE-2024-21626).

    A plain chdir follows /proc/self/fd/N, a magic link that can name a
    directory outside the root (a descriptor leaked into the runtime), and
    the process would start in the host's filesystem.  Called after
    pivot_root, or after setns into the container's mount namespace."""
    root = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fd = open_in_root(root, path, os.O_PATH | os.O_DIRECTORY)
    finally:
        os.close(root)
    try:
        os.fchdir(fd)
    finally:
        os.close(fd)


def _mkdir_at(dirfd: int, name: str, mode: int) -> None:
    try:
        os.mkdir(name, mode, dir_fd=dirfd)
    except FileExistsError:
        pass


def mkdir_all(rootfd: int, path: str, mode: int = 0o755) -> int:
    """Create path (and parents) inside the root; return an O_PATH fd of it."""
    fd = os.dup(rootfd)
    try:
        for part in [p for p in path.split("/") if p]:
            _mkdir_at(fd, part, mode) if part not in (".", "..") else None
            nxt = sys.openat2(fd, part, os.O_PATH | os.O_DIRECTORY, RESOLVE)
            os.close(fd)
            fd = nxt
        return fd
    except BaseException:
        os.close(fd)
        raise


def make_target(rootfd: int, path: str, is_dir: bool) -> int:
    """An O_PATH fd for a mount target, creating a dir or an empty file."""
    try:
        fd = open_in_root(rootfd, path)
    except FileNotFoundError:
        pass
    else:
        if is_dir or not stat.S_ISDIR(os.fstat(fd).st_mode):
            return fd
        os.close(fd)
        return open_in_root(rootfd, path)
    if is_dir:
        return mkdir_all(rootfd, path)
    parent, name = os.path.split("/" + path.strip("/"))
    pfd = mkdir_all(rootfd, parent)
    try:
        dfd = sys.openat2(pfd, ".", os.O_RDONLY | os.O_DIRECTORY, RESOLVE)
        try:
            os.close(os.open(name, os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=dfd))
        except FileExistsError:
            pass
        finally:
            os.close(dfd)
    finally:
        os.close(pfd)
    return open_in_root(rootfd, path)
