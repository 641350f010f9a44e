"""Read a bundle's config.json and turn it into the runtime's model.

Order: parse JSON → schema check → semantic checks → convert.  Every error
names the file and the JSON path, so the user can find it.
"""
from __future__ import annotations

from .. import jsonio as json
import os

from ..errors import ConfigError
from . import semantic, validate
from .model import Config, convert


def read_json(path: str, what: str = "config") -> dict:
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file or directory: the bundle must contain config.json") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read {what}: {e.strerror}") from None
    try:
        doc = json.loads(raw)
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
