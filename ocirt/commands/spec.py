from __future__ import annotations

from .. import jsonio as json
import os

from ..errors import OcirtError
from ..spec_default import default_spec


def main(ctx, parsed) -> int:
    path = os.path.join(parsed.flags["bundle"], "config.json")
    if os.path.exists(path):
        raise OcirtError(f"File {path} exists. Remove it first")
    spec = default_spec(parsed.flags["rootless"], os.geteuid(), os.getegid())
    try:
        with open(path, "x") as f:
            json.dump(spec, f, indent="\t")
    except OSError as e:
        raise OcirtError(f"{path}: cannot write: {e.strerror}") from None
    return 0
