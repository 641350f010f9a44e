"""Resolve paths inside the container's rootfs without ever leaving it.

The rootfs belongs to the image author: any component may be a symlink
pointing at the host ("../../etc", "/proc/self/root/...").  Every lookup goes
through openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS), which makes the
kernel treat the rootfs as "/" while walking, and mounts target the resulting
descriptor through /proc/self/fd/N, so the path cannot be swapped between
check and use.
"""
from __future__ import annotations

import errno
import os

from .linux import sys
from .linux.constants import RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS

RESOLVE = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS


def fd_path(fd: int) -> str:
    return f"/proc/self/fd/{fd}"


def open_in_root(rootfd: int, path: str, flags: int = os.O_PATH) -> int:
    return sys.openat2(rootfd, path.lstrip("/") or ".", flags, RESOLVE)


def mount_id(fd: int) -> str:
    """The id of the mount an fd is on (as in /proc/self/mountinfo)."""
    with open(f"/proc/self/fdinfo/{fd}") as f:
        return next(line.split()[1] for line in f if line.startswith("mnt_id:"))


def fs_type(fd: int) -> str:
    """The filesystem type of the mount an fd is on, from mountinfo.

    Used before writing to what should be procfs: an image or a bundle mount
    can put a tmpfs or a bind of a host directory where /proc was, and a
    write meant for the kernel would then land in an ordinary file."""
    mnt_id = mount_id(fd)
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[0] == mnt_id:
                return fields[fields.index("-") + 1]
    raise FileNotFoundError(f"mount {mnt_id} of fd {fd} is not in /proc/self/mountinfo")


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


# mkdir_all's bound on components created plus links followed (ELOOP past it)
MAX_STEPS = 256


def mkdir_all(rootfd: int, path: str, mode: int = 0o755) -> int:
    """Create path (and parents) inside the root; return an O_PATH fd of it.

    Every prefix is resolved from the root, never from the previous
    component: an image's "/run" or "../x" link then means what it means
    inside the container (openat2 treats its dirfd as "/", so walking
    component by component would re-root each link at that component).  A
    dangling link is followed and its target created, as runc does."""
    for _ in range(MAX_STEPS):
        try:
            return open_in_root(rootfd, path, os.O_PATH | os.O_DIRECTORY)
        except FileNotFoundError:
            pass
        path = _create_first_missing(rootfd, path, mode)
    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)


def _create_first_missing(rootfd: int, path: str, mode: int) -> str:
    """mkdir the first missing component of path; return the path to try
    next (rewritten through the link when that component is a dangling one)."""
    parts = [p for p in path.split("/") if p]
    for i in range(len(parts)):
        try:
            os.close(open_in_root(rootfd, "/".join(parts[: i + 1]), os.O_PATH | os.O_DIRECTORY))
        except FileNotFoundError:
            break
    parent, name, rest = "/".join(parts[:i]), parts[i], "/".join(parts[i + 1:])
    pfd = open_in_root(rootfd, parent, os.O_PATH | os.O_DIRECTORY)
    try:
        os.mkdir(name, mode, dir_fd=pfd)
        return path
    except FileExistsError:
        try:
            target = os.readlink(name, dir_fd=pfd)
        except OSError:
            return path  # created by someone else meanwhile: resolve again
    finally:
        os.close(pfd)
    base = target if target.startswith("/") else f"{parent}/{target}"
    return f"{base}/{rest}"


def make_target(rootfd: int, path: str, is_dir: bool) -> int:
    """An O_PATH fd for a mount target, creating a dir or an empty file.

    A file target that is a dangling link (Ubuntu's /etc/resolv.conf ->
    ../run/systemd/resolve/stub-resolv.conf, which engines bind over) is
    created where the link leads inside the root, as runc does."""
    for _ in range(MAX_STEPS):
        try:
            return open_in_root(rootfd, path)
        except FileNotFoundError:
            pass
        if is_dir:
            return mkdir_all(rootfd, path)
        path = _create_file(rootfd, path)
    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)


def _create_file(rootfd: int, path: str) -> str:
    """Create path as an empty file; return the path to open next (the
    link's target when path is a dangling link)."""
    parent, name = os.path.split("/" + path.strip("/"))
    pfd = mkdir_all(rootfd, parent)
    try:
        os.close(os.open(name, os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=pfd))
        return path
    except FileExistsError:
        return path
    except OSError as e:
        if e.errno != errno.ELOOP:
            raise
        target = os.readlink(name, dir_fd=pfd)
    finally:
        os.close(pfd)
    return target if target.startswith("/") else f"{parent}/{target}"
