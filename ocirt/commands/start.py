from __future__ import annotations

from ..container import start
from . import load


def main(ctx, parsed) -> int:
    ct = load(ctx, parsed)
    ct.lock()
    start(ct)
    return 0
