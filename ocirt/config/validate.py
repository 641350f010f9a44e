"""Check config.json against the runtime-spec JSON Schema (schema/config-schema.json).

jsonschema costs ~110 ms to import, more than the rest of `create`.  A
config whose exact bytes already passed is remembered by digest under the
runtime root, so repeated creates of the same bundle skip the import.
"""
from __future__ import annotations

import hashlib
import json
import os

from ..errors import ConfigError

SCHEMA_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "schema")
_cache_dir: str | None = None


def set_cache_dir(path: str | None) -> None:
    global _cache_dir
    _cache_dir = path


def _schema_path(name: str) -> str:
    for d in (SCHEMA_DIR, os.path.join(os.path.dirname(SCHEMA_DIR), "..", "schema")):
        p = os.path.join(d, name)
        if os.path.exists(p):
            return p
    raise ConfigError(f"ocirt installation is broken: schema {name} not found in {SCHEMA_DIR}")


def _digest(config: dict) -> str:
    blob = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()


def _cached(digest: str) -> bool:
    return _cache_dir is not None and os.path.exists(os.path.join(_cache_dir, digest))


def _remember(digest: str) -> None:
    if _cache_dir is None:
        return
    try:
        os.makedirs(_cache_dir, mode=0o700, exist_ok=True)
        os.close(os.open(os.path.join(_cache_dir, digest), os.O_CREAT | os.O_WRONLY, 0o600))
    except OSError:
        pass  # the cache is an optimisation only


def json_path(parts) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(root)"


def schema_errors(doc: dict, schema_name: str) -> list:
    import jsonschema.validators  # heavy: only on a cache miss

    with open(_schema_path(schema_name)) as f:
        schema = json.load(f)
    cls = jsonschema.validators.validator_for(schema)
    return list(cls(schema).iter_errors(doc))


def _best(errors: list):
    from jsonschema.exceptions import best_match

    return best_match(errors)


def check_schema(config: dict, path: str) -> None:
    digest = _digest(config)
    if _cached(digest):
        return
    errors = schema_errors(config, "config-schema.json")
    if errors:
        err = _best(errors)
        where = json_path(err.absolute_path)
        raise ConfigError(f"{path}: {where}: {err.message} (does not match the runtime-spec schema; fix config.json)")
    _remember(digest)
