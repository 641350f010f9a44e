"""mounts[].options → mount(2) flags, propagation and data (the table runc uses)."""
from __future__ import annotations

from ..linux import constants as c

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
    "loud": (True, c.MS_SILENT),
}
PROPAGATION = {
    "private": c.MS_PRIVATE, "rprivate": c.MS_PRIVATE | c.MS_REC,
    "shared": c.MS_SHARED, "rshared": c.MS_SHARED | c.MS_REC,
    "slave": c.MS_SLAVE, "rslave": c.MS_SLAVE | c.MS_REC,
    "unbindable": c.MS_UNBINDABLE, "runbindable": c.MS_UNBINDABLE | c.MS_REC,
}
# Options the runtime handles itself rather than passing to mount(2).
RECURSIVE_RO = "rro"
IDMAP = ("idmap", "ridmap")


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
        elif opt == RECURSIVE_RO or opt in IDMAP or opt in ("rrw", "tmpcopyup"):
            extensions.add(opt)
        else:
            data.append(opt)
    return flags, propagation, data, extensions
