from __future__ import annotations

from ..errors import OcirtError
from . import load


def main(ctx, parsed) -> int:
    ct = load(ctx, parsed)
    ct.lock()
    if ct.status() != "paused":
        raise OcirtError("container not paused")
    ct.cgroup().thaw()
    return 0
