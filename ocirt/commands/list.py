from __future__ import annotations

from .. import jsonio as json
import sys

from ..errors import ConfigError, OcirtError
from ..state import Container, list_ids


def main(ctx, parsed) -> int:
    fmt = parsed.flags["format"]
    if fmt not in ("table", "json"):
        raise ConfigError(f"list: invalid --format {fmt!r}: use table or json")
    states = []
    for cid in list_ids(ctx.root):
        try:
            states.append(Container.load(ctx.root, cid).oci_state())
        except OcirtError:
            continue  # deleted while we listed
    if parsed.flags["quiet"]:
        sys.stdout.write("".join(s["id"] + "\n" for s in states))
    elif fmt == "json":
        sys.stdout.write(json.dumps(states) + "\n")
    else:
        rows = [("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")]
        rows += [(s["id"], str(s["pid"]), s["status"], s["bundle"], s["created"], s["owner"] or "root")
                 for s in states]
        widths = [max(len(r[i]) for r in rows) for i in range(6)]
        for r in rows:
            sys.stdout.write("   ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() + "\n")
    return 0
