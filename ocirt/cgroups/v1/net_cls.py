"""v1 net_cls controller: the class id stamped on the container's packets."""

from __future__ import annotations

from ocirt.cgroups.common import Context, get_int, section, write

SPEC = "linux.resources.network"


def apply(path: str, res: dict, ctx: Context) -> None:
    class_id = get_int(section(res, "network"), "classID", SPEC, 0)
    if class_id is not None:
        write(path, "net_cls.classid", class_id, SPEC + ".classID")
