"""Hybrid hosts: v1 controllers plus a cgroup2 mount (usually
/sys/fs/cgroup/unified) without controllers.

The container joins the unified hierarchy too (systemd and tools like
`systemd-cgls` look there), and crun's refusal to run on such hosts is not
copied: the cgroup2 mount is only ever an extra directory to join.  Raw
`unified` keys work only for the few files that hierarchy has.
"""

from __future__ import annotations

from ocirt.cgroups.common import Context, exists
from ocirt.cgroups.v2 import unified
from ocirt.errors import ConfigError


def apply_unified(path: str, res: dict, ctx: Context) -> None:
    for key in res["unified"]:
        unified.check_key(key)
        if not exists(path, key):
            raise ConfigError(f"cgroup: cannot apply linux.resources.unified[{key!r}]: this host "
                              "runs its controllers on cgroup v1, so the unified hierarchy has no "
                              f"{key}; use the v1 fields of linux.resources instead")
    unified.apply(path, res, ctx)
