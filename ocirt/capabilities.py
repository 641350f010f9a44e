"""Capability names ↔ numbers and applying a process's capability sets.

Order matters (as in runc's finalizeNamespace): drop the bounding set while
still privileged, keep capabilities across the uid switch (PR_SET_KEEPCAPS),
then set effective/permitted/inheritable, then raise the ambient set.
"""
from __future__ import annotations

from .linux import constants as c
from .linux import sys

NAMES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)
NUMBERS = {name: i for i, name in enumerate(NAMES)}
SETS = ("bounding", "effective", "permitted", "inheritable", "ambient")


_last_cap: int | None = None


def last_cap() -> int:
    """The kernel's highest capability number, read once per process (the
    config checks and the cap set-up ask for it per capability name)."""
    global _last_cap
    if _last_cap is None:
        try:
            with open("/proc/sys/kernel/cap_last_cap", "rb") as f:
                _last_cap = int(f.read())
        except OSError:
            _last_cap = len(NAMES) - 1
    return _last_cap


def mask(names: list[str]) -> int:
    """Bit mask of the named capabilities (names were checked by the config
    checker; exec --cap names are checked here).  A capability this kernel
    does not have is left out, so a config written for a newer kernel runs."""
    bits = 0
    top = last_cap()
    for name in names:
        n = NUMBERS.get(name)
        if n is None:
            from .errors import ConfigError

            raise ConfigError(f"unknown capability {name!r}")
        if n <= top:
            bits |= 1 << n
    return bits


class CapSets:
    __slots__ = SETS

    def __init__(self, caps: dict | None) -> None:
        caps = caps or {}
        for s in SETS:
            setattr(self, s, mask(caps.get(s) or []))


def drop_bounding(sets: CapSets) -> None:
    for n in range(last_cap() + 1):
        if not sets.bounding >> n & 1:
            sys.prctl(c.PR_CAPBSET_DROP, n)


def keep_across_setuid(on: bool) -> None:
    sys.prctl(c.PR_SET_KEEPCAPS, 1 if on else 0)


def apply(sets: CapSets) -> None:
    sys.capset(sets.effective, sets.permitted, sets.inheritable)
    sys.prctl(c.PR_CAP_AMBIENT, c.PR_CAP_AMBIENT_CLEAR_ALL)
    for n in range(last_cap() + 1):
        if sets.ambient >> n & 1:
            try:
                sys.prctl(c.PR_CAP_AMBIENT, c.PR_CAP_AMBIENT_RAISE, n)
            except OSError:
                # The kernel refuses an ambient cap missing from permitted or
                # inheritable; runc ignores that too rather than fail the start.
                pass


def check_grantable(caps: dict | None) -> None:
    """Fail at create, as runc does, when the config asks for a capability
    the runtime itself cannot have (not in its bounding set): otherwise the
    failure would only surface at start, without naming the capability."""
    from .errors import ConfigError

    for kind in ("effective", "permitted", "inheritable", "ambient"):
        for name in (caps or {}).get(kind) or []:
            n = NUMBERS[name]
            if n <= last_cap() and not sys.prctl(c.PR_CAPBSET_READ, n):
                raise ConfigError(f"process.capabilities.{kind}: {name} is not in the runtime's bounding set "
                                  f"on this host, so no process can be given it; remove it")
