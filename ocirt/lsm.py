"""Linux security modules: AppArmor profile and SELinux label of the process.

Both are applied by writing to the process's own attr files in procfs,
which take effect at the next execve.  The write goes through a descriptor
whose filesystem is checked to be procfs: a container's /proc could be a
tmpfs or bind planted by the bundle, and writing to that would silently
leave the process unconfined.

Host without the LSM (as runc): an AppArmor profile is an error, an
SELinux label is ignored.
"""
from __future__ import annotations

import os

from .errors import OcirtError
from .linux import sys

PROC_SUPER_MAGIC = 0x9FA0


def apparmor_enabled() -> bool:
    try:
        with open("/sys/module/apparmor/parameters/enabled") as f:
            return f.read().startswith("Y") and os.path.isdir("/sys/kernel/security/apparmor")
    except OSError:
        return False


def selinux_enabled() -> bool:
    return os.path.exists("/sys/fs/selinux/enforce")


def check_host(apparmor_profile: str) -> None:
    if apparmor_profile and not apparmor_enabled():
        raise OcirtError(f"process.apparmorProfile {apparmor_profile!r}: apparmor is not enabled on this host; remove the profile")


def _write_attr(path: str, value: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    try:
        if sys.fstatfs_type(fd) != PROC_SUPER_MAGIC:
            raise OcirtError(f"{path} is not on procfs: refusing to apply the security label (is /proc a real procfs?)")
        os.write(fd, value.encode())
    except OSError as e:
        raise OcirtError(f"{path}: cannot set security label {value!r}: {e.strerror}") from None
    finally:
        os.close(fd)


def apply_exec_labels(apparmor_profile: str, selinux_label: str) -> None:
    """Called just before execve, in the container."""
    if apparmor_profile:
        path = "/proc/thread-self/attr/apparmor/exec"
        if not os.path.exists(path):
            path = "/proc/thread-self/attr/exec"
        _write_attr(path, f"exec {apparmor_profile}")
    if selinux_label and selinux_enabled():
        _write_attr("/proc/thread-self/attr/exec", selinux_label)
