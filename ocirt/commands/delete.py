from __future__ import annotations

import os

from ..container import delete
from ..errors import NotFound
from ..state import remove_tree
from . import load


def main(ctx, parsed) -> int:
    try:
        ct = load(ctx, parsed)
    except NotFound:
        if parsed.flags["force"]:
            # runc: succeeds; also sweep a state dir whose create died before
            # writing state.json (nothing else of it exists yet)
            remove_tree(os.path.join(ctx.root, parsed.args[0]))
            return 0
        raise
    ct.lock()
    delete(ct, parsed.flags["force"])
    return 0
