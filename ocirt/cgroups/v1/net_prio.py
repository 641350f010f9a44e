"""v1 net_prio controller: per interface priorities."""

from __future__ import annotations

from ocirt.cgroups.common import Context, get_int, section, write
from ocirt.errors import ConfigError

SPEC = "linux.resources.network.priorities"


def apply(path: str, res: dict, ctx: Context) -> None:
    for i, entry in enumerate(section(res, "network").get("priorities") or []):
        spec = f"{SPEC}[{i}]"
        name = entry.get("name")
        if not isinstance(name, str) or not name or any(c.isspace() for c in name):
            raise ConfigError(f"cgroup: {spec}.name must be an interface name")
        prio = get_int(entry, "priority", spec, 0) or 0
        write(path, "net_prio.ifpriomap", f"{name} {prio}", spec)
