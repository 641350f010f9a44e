"""Read a bundle's config.json and turn it into the runtime's model.

Order: parse JSON → schema check → semantic checks → convert.  Every error
names the file and the JSON path, so the user can find it.
"""
from __future__ import annotations

from .. import jsonio as json
import os
import stat

from ..errors import ConfigError
from . import semantic, validate
from .model import Config, convert


MAX_JSON = 64 << 20  # far above any real config; a bound for /dev/zero and friends


def _read_bounded(path: str, what: str, regular_only: bool) -> bytes:
    """Read a JSON file without hanging on a FIFO or reading /dev/zero forever."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | (os.O_NONBLOCK if regular_only else 0))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file or directory: the bundle must contain config.json") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read {what}: {e.strerror}") from None
    try:
        if regular_only and not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ConfigError(f"{path}: {what} must be a regular file")
        chunks, size = [], 0
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > MAX_JSON:
                raise ConfigError(f"{path}: {what} is larger than {MAX_JSON >> 20} MiB")
            chunks.append(chunk)
    except OSError as e:
        raise ConfigError(f"{path}: cannot read {what}: {e.strerror}") from None
    finally:
        os.close(fd)


def read_json(path: str, what: str = "config", regular_only: bool = True) -> dict:
    """Parse a JSON object file; regular_only=False admits pipes (exec --process <(...))."""
    raw = _read_bounded(path, what, regular_only)
    try:
        doc = json.loads(raw)
    except RecursionError:
        raise ConfigError(f"{path}: invalid JSON: nested too deeply") from None
    except ValueError as e:
        raise ConfigError(f"{path}: invalid JSON: {e}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: {what} must be a JSON object")
    return doc


def load_bundle(bundle: str) -> tuple[dict, Config]:
    """Return the raw config dict and its converted model for a bundle dir."""
    path = os.path.join(bundle, "config.json")
    raw = read_json(path)
    validate.check_schema(raw, path)
    semantic.check(raw, path)
    cfg = convert(raw, bundle)
    if not os.path.isdir(cfg.rootfs):
        raise ConfigError(f"{path}: root.path: {cfg.rootfs} is not a directory: create the rootfs or fix the path")
    return raw, cfg
