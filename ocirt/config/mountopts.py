"""mounts[].options → mount(2) flags, propagation, mount_setattr(2)
attributes and data (config.md "Linux mount options"; the tables runc uses)."""
from __future__ import annotations

from ..linux import constants as c

MS_I_VERSION = 1 << 23
# mount_setattr(2) attributes (linux/mount.h)
MOUNT_ATTR_RDONLY, MOUNT_ATTR_NOSUID, MOUNT_ATTR_NODEV, MOUNT_ATTR_NOEXEC = 0x1, 0x2, 0x4, 0x8
MOUNT_ATTR__ATIME, MOUNT_ATTR_RELATIME, MOUNT_ATTR_NOATIME, MOUNT_ATTR_STRICTATIME = 0x70, 0x0, 0x10, 0x20
MOUNT_ATTR_NODIRATIME, MOUNT_ATTR_IDMAP, MOUNT_ATTR_NOSYMFOLLOW = 0x80, 0x100000, 0x200000

# option: (clear, flag).  clear=True means the option removes the flag.
FLAGS: dict[str, tuple[bool, int]] = {
    "async": (True, c.MS_SYNCHRONOUS), "atime": (True, c.MS_NOATIME),
    "bind": (False, c.MS_BIND), "defaults": (False, 0), "dev": (True, c.MS_NODEV),
    "diratime": (True, c.MS_NODIRATIME), "dirsync": (False, c.MS_DIRSYNC),
    "exec": (True, c.MS_NOEXEC), "mand": (False, c.MS_MANDLOCK),
    "noatime": (False, c.MS_NOATIME), "nodev": (False, c.MS_NODEV),
    "nodiratime": (False, c.MS_NODIRATIME), "noexec": (False, c.MS_NOEXEC),
    "nomand": (True, c.MS_MANDLOCK), "norelatime": (True, c.MS_RELATIME),
    "nostrictatime": (True, c.MS_STRICTATIME), "nosuid": (False, c.MS_NOSUID),
    "nosymfollow": (False, c.MS_NOSYMFOLLOW), "symfollow": (True, c.MS_NOSYMFOLLOW),
    "rbind": (False, c.MS_BIND | c.MS_REC), "relatime": (False, c.MS_RELATIME),
    "remount": (False, c.MS_REMOUNT), "ro": (False, c.MS_RDONLY), "rw": (True, c.MS_RDONLY),
    "strictatime": (False, c.MS_STRICTATIME), "suid": (True, c.MS_NOSUID),
    "sync": (False, c.MS_SYNCHRONOUS), "lazytime": (False, c.MS_LAZYTIME),
    "nolazytime": (True, c.MS_LAZYTIME), "silent": (False, c.MS_SILENT),
    "loud": (True, c.MS_SILENT), "iversion": (False, MS_I_VERSION),
    "noiversion": (True, MS_I_VERSION),
}
PROPAGATION = {
    "private": c.MS_PRIVATE, "rprivate": c.MS_PRIVATE | c.MS_REC,
    "shared": c.MS_SHARED, "rshared": c.MS_SHARED | c.MS_REC,
    "slave": c.MS_SLAVE, "rslave": c.MS_SLAVE | c.MS_REC,
    "unbindable": c.MS_UNBINDABLE, "runbindable": c.MS_UNBINDABLE | c.MS_REC,
}
# Recursive options, applied with mount_setattr(AT_RECURSIVE): option → (set, clear)
RECURSIVE: dict[str, tuple[int, int]] = {
    "rro": (MOUNT_ATTR_RDONLY, 0), "rrw": (0, MOUNT_ATTR_RDONLY),
    "rnosuid": (MOUNT_ATTR_NOSUID, 0), "rsuid": (0, MOUNT_ATTR_NOSUID),
    "rnodev": (MOUNT_ATTR_NODEV, 0), "rdev": (0, MOUNT_ATTR_NODEV),
    "rnoexec": (MOUNT_ATTR_NOEXEC, 0), "rexec": (0, MOUNT_ATTR_NOEXEC),
    "rnodiratime": (MOUNT_ATTR_NODIRATIME, 0), "rdiratime": (0, MOUNT_ATTR_NODIRATIME),
    "rnosymfollow": (MOUNT_ATTR_NOSYMFOLLOW, 0), "rsymfollow": (0, MOUNT_ATTR_NOSYMFOLLOW),
}
# The atime modes are an enum, not bits: each option picks one (as mount(8)
# reads them: "atime"/"nostrictatime" give the kernel default, relatime).
RECURSIVE_ATIME = {
    "ratime": MOUNT_ATTR_RELATIME, "rnoatime": MOUNT_ATTR_NOATIME,
    "rrelatime": MOUNT_ATTR_RELATIME, "rnorelatime": MOUNT_ATTR_STRICTATIME,
    "rstrictatime": MOUNT_ATTR_STRICTATIME, "rnostrictatime": MOUNT_ATTR_RELATIME,
}
# Options the runtime handles itself rather than passing to mount(2).
IDMAP = ("idmap", "ridmap")
# runc's: a tmpfs starts with a copy of the directory it covers (rootfs.py)
TMPCOPYUP = "tmpcopyup"


def parse(options: list[str]) -> tuple[int, list[int], list[str], set[str]]:
    """Return (flags, propagation flags, data options, runtime extensions)."""
    flags = 0
    propagation: list[int] = []
    data: list[str] = []
    extensions: set[str] = set()
    for opt in options:
        if opt in FLAGS:
            clear, bit = FLAGS[opt]
            flags = flags & ~bit if clear else flags | bit
        elif opt in PROPAGATION:
            propagation.append(PROPAGATION[opt])
        elif opt in RECURSIVE or opt in RECURSIVE_ATIME:
            continue  # see recursive_attrs
        elif opt in IDMAP or opt == TMPCOPYUP:
            extensions.add(opt)
        else:
            data.append(opt)
    return flags, propagation, data, extensions


def recursive_attrs(options: list[str]) -> tuple[int, int]:
    """(attr_set, attr_clr) for mount_setattr from the r* options; the last
    option about an attribute wins."""
    attr_set = attr_clr = 0
    for opt in options:
        if opt in RECURSIVE:
            on, off = RECURSIVE[opt]
            attr_set = attr_set & ~off | on
            attr_clr = attr_clr & ~on | off
        elif opt in RECURSIVE_ATIME:
            # the kernel wants the whole atime field cleared to set a mode
            attr_set = attr_set & ~MOUNT_ATTR__ATIME | RECURSIVE_ATIME[opt]
            attr_clr |= MOUNT_ATTR__ATIME
    return attr_set, attr_clr
