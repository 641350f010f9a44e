"""Entry point: parse, set up logging and the state root, dispatch.

Commands live in ocirt/commands/<name>.py and are imported only when
called, so `ocirt state` does not pay for what `ocirt create` needs.
"""
from __future__ import annotations

import os
import sys

from .. import SPEC_VERSION, __version__, log
from ..errors import ConfigError, OcirtError
from . import parse as parser


class Context:
    """What every command gets: the state root and the rootless decision."""

    def __init__(self, parsed: parser.Parsed) -> None:
        g = parsed.globals
        self.rootless = _rootless(str(g["rootless"]))
        self.root: str = g["root"] or _default_root(self.rootless)  # type: ignore[assignment]
        self.parsed = parsed


def _rootless(value: str) -> bool:
    if value == "auto":
        return os.geteuid() != 0
    if value in ("true", "false"):
        return value == "true"
    raise ConfigError(f"--rootless: invalid value {value!r}: use true, false or auto")


def _default_root(rootless: bool) -> str:
    if not rootless or os.geteuid() == 0:
        return "/run/ocirt"
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and os.access(xdg, os.W_OK):
        return os.path.join(xdg, "ocirt")
    fallback = f"/tmp/ocirt-{os.geteuid()}"
    if os.path.exists(fallback) and os.stat(fallback).st_uid != os.geteuid():
        raise ConfigError(f"{fallback} belongs to another user and XDG_RUNTIME_DIR is not set: pass --root DIR")
    return fallback


def version_text() -> str:
    try:
        from .._build import COMMIT
    except ImportError:
        COMMIT = "unknown"
    return (f"ocirt version {__version__}\ncommit: {COMMIT}\nspec: {SPEC_VERSION}\n"
            f"python: {sys.version.split()[0]}\n")


def _run(argv: list[str]) -> int:
    parsed = parser.parse(argv)
    g = parsed.globals
    log.configure(g["log"], str(g["log_format"]), bool(g["debug"]))  # type: ignore[arg-type]
    if g["log_format"] not in ("text", "json"):
        raise ConfigError(f"--log-format: unknown format {g['log_format']!r}: use text or json")
    if g["version"]:
        sys.stdout.write(version_text())
        return 0
    if parsed.command is None or g["help"] or parsed.flags.get("help"):
        sys.stdout.write(parser.usage(parsed.command) + "\n")
        return 0 if (g["help"] or parsed.flags.get("help")) else 1
    if g["systemd_cgroup"]:
        raise ConfigError("--systemd-cgroup: the systemd cgroup driver is not available in ocirt (no systemd on this host); drop the flag to use the cgroupfs driver")
    from importlib import import_module

    from ..config import validate

    ctx = Context(parsed)
    # '#' cannot occur in a container id, so the cache never collides with one
    validate.set_cache_dir(os.path.join(ctx.root, "#schema-cache"))
    module = import_module(f"ocirt.commands.{parsed.command}")
    return module.main(ctx, parsed) or 0


def main(argv: list[str] | None = None) -> int:
    """The CLI.  Called without argv (the launcher, a real process) it never
    returns: it exits at once, skipping interpreter finalization (~5-9 ms
    of module teardown per call that nothing here needs: logs are written
    unbuffered, descriptors and locks go with the process)."""
    if argv is None:
        _exit_now(_main(sys.argv[1:]))
    return _main(argv)


def _exit_now(code: int) -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass  # a closed pipe or stream: nothing more can be said there
    os._exit(code)


def _main(argv: list[str]) -> int:
    try:
        return _run(argv)
    except OcirtError as e:
        log.error(str(e))
        return e.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # noqa: BLE001 - a bug: one line, traceback under --debug
        if "--debug" in argv:
            import traceback

            traceback.print_exc()
        log.error(f"internal error: {type(e).__name__}: {e} (please report; rerun with --debug for details)")
        return 1
