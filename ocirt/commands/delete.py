from __future__ import annotations

from ..container import delete
from ..errors import NotFound
from . import load


def main(ctx, parsed) -> int:
    try:
        ct = load(ctx, parsed)
    except NotFound:
        if parsed.flags["force"]:
            return 0  # runc: delete --force of a missing container succeeds
        raise
    ct.lock()
    delete(ct, parsed.flags["force"])
    return 0
