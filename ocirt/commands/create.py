from __future__ import annotations

from ..container import CreateOptions, create


def options(ctx, parsed) -> CreateOptions:
    f = parsed.flags
    o = CreateOptions()
    o.bundle = f["bundle"]
    o.pid_file = f["pid_file"]
    o.console_socket = f["console_socket"]
    o.no_pivot = f["no_pivot"]
    o.no_new_keyring = f["no_new_keyring"]
    o.preserve_fds = f["preserve_fds"]
    o.rootless = ctx.rootless
    return o


def main(ctx, parsed) -> int:
    from . import need_id

    create(ctx.root, need_id(parsed), options(ctx, parsed))
    return 0
