"""ps: the host's ps output filtered to the container's processes (as runc)."""
from __future__ import annotations

from .. import jsonio as json
import subprocess
import sys

from ..errors import ConfigError, OcirtError
from . import load


def main(ctx, parsed) -> int:
    ct = load(ctx, parsed, extra=True)
    if ct.status() == "stopped":
        raise OcirtError("container not running")
    from ..container import container_pids

    pids = container_pids(ct)
    fmt = parsed.flags["format"]
    if fmt == "json":
        sys.stdout.write(json.dumps(sorted(pids)) + "\n")
        return 0
    if fmt != "table":
        raise ConfigError(f"ps: invalid --format {fmt!r}: use table or json")
    args = parsed.args[1:] or ["-ef"]
    try:
        out = subprocess.run(["ps", *args], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        raise OcirtError(f"ps {' '.join(args)}: {e}") from None
    lines = out.splitlines()
    if not lines:
        return 0
    header = lines[0].split()
    if "PID" not in header:
        raise OcirtError("ps: couldn't find PID field in ps output")
    col = header.index("PID")
    wanted = {str(p) for p in pids}
    sys.stdout.write(lines[0] + "\n")
    for line in lines[1:]:
        fields = line.split()
        if len(fields) > col and fields[col] in wanted:
            sys.stdout.write(line + "\n")
    return 0
