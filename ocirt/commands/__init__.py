"""One module per CLI command; each defines main(ctx, parsed) -> exit code."""
from __future__ import annotations

from ..errors import ConfigError
from ..state import Container


def need_id(parsed, extra: bool = False) -> str:
    if not parsed.args:
        raise ConfigError(f"{parsed.command}: missing container id: usage: ocirt {parsed.command} <container-id>")
    if len(parsed.args) > 1 and not extra:
        raise ConfigError(f"{parsed.command}: expected one container id, got {len(parsed.args)} arguments")
    return parsed.args[0]


def load(ctx, parsed, extra: bool = False) -> Container:
    return Container.load(ctx.root, need_id(parsed, extra))
