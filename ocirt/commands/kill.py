from __future__ import annotations

from .. import signals
from ..container import kill
from ..errors import ConfigError
from . import load


def main(ctx, parsed) -> int:
    if len(parsed.args) > 2:
        raise ConfigError("kill: usage: ocirt kill [--all] <container-id> [signal]")
    sig = signals.parse(parsed.args[1]) if len(parsed.args) > 1 else 15
    kill(load(ctx, parsed, extra=True), sig, parsed.flags["all"])
    return 0
