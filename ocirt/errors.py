"""Error classes: every failure the CLI reports as one line on stderr.

A ConfigError means the user's input (config.json, flags, files) is wrong; an
OcirtError is any other failure the runtime can explain.  Anything else is a
bug and is reported with a traceback only under --debug.
"""


class OcirtError(Exception):
    """A failure with a message fit for the user: what, where, what to do."""

    exit_code = 1


class ConfigError(OcirtError):
    """The bundle's config.json or a command-line input is invalid."""


class NotFound(OcirtError):
    """The named container does not exist (runc wording: 'container does not exist')."""


def describe(err: BaseException) -> str:
    """One line for any exception raised in the container's setup."""
    if isinstance(err, OcirtError):
        return str(err)
    if isinstance(err, OSError):
        where = f" ({err.filename})" if err.filename else ""
        return f"container setup failed: {err.strerror or err}{where}"
    return f"internal error in container setup: {err!r}"
