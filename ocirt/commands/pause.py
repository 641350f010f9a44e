from __future__ import annotations

from ..errors import OcirtError
from . import load


def main(ctx, parsed) -> int:
    ct = load(ctx, parsed)
    ct.lock()
    status = ct.status()
    if status != "running":
        raise OcirtError("container not running" if status in ("stopped", "created")
                         else f"cannot pause a container that is {status}")
    ct.cgroup().freeze()
    return 0
