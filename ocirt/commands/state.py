from __future__ import annotations

from .. import jsonio as json
import sys

from . import load


def main(ctx, parsed) -> int:
    sys.stdout.write(json.dumps(load(ctx, parsed).oci_state(), indent=2) + "\n")
    return 0
