"""Check config.json against the runtime-spec JSON Schema (schema/config-schema.json).

Every create checks the whole schema, but ``import jsonschema`` costs ~110 ms,
more than the rest of ``create``.  So the verdict comes from a validator
generated from the schema ahead of time (`fastschema`: ``ocirt/_config_validator.py``
in an installed tree, compiled once per process -- and cached under the runtime
root -- in a source checkout); jsonschema is imported only for a config that
validator rejects, to name the best error.  See docs/schema-validation.md.
"""
from __future__ import annotations

import os

from ..errors import ConfigError

SCHEMA_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "schema")
_cache_dir: str | None = None
_validators: dict = {}


def set_cache_dir(path: str | None) -> None:
    """Where a source checkout keeps the validator compiled from the schema."""
    global _cache_dir
    _cache_dir = path


def _schema_path(name: str) -> str:
    for d in (SCHEMA_DIR, os.path.join(os.path.dirname(SCHEMA_DIR), "..", "schema")):
        p = os.path.join(d, name)
        if os.path.exists(p):
            return p
    raise ConfigError(f"ocirt installation is broken: schema {name} not found in {SCHEMA_DIR}")


def fast_validator(schema_name: str = "config-schema.json"):
    """``validate(doc) -> bool`` for the named schema, built once per process."""
    fn = _validators.get(schema_name)
    if fn is None and schema_name == "config-schema.json":
        fn = _prebuilt(_schema_path(schema_name))
    if fn is None:
        from . import fastschema

        prebuilt = "ocirt._config_validator" if schema_name == "config-schema.json" else None
        try:
            fn = fastschema.load(_schema_path(schema_name), cache_dir=_cache_dir, prebuilt=prebuilt)
        except fastschema.SchemaCompileError:
            # A schema edited beyond what the compiler translates (the build and
            # tests/unit/test_fastschema.py fail on it): slow but still correct.
            fn = _undecided
        _validators[schema_name] = fn
    return fn


def _prebuilt(schema_path: str):
    """The module setup.py generated, when it matches the schema installed
    beside it; checked here so an installed create never imports fastschema
    (and the json/re/math it needs to compile)."""
    try:
        from .. import _config_validator as module
        from _sha256 import sha256
    except ImportError:
        return None
    with open(schema_path, "rb") as f:
        if sha256(f.read()).hexdigest() != getattr(module, "SCHEMA_SHA256", None):
            return None
    _validators["config-schema.json"] = module.validate
    return module.validate


def _undecided(doc) -> bool:
    return False  # let jsonschema decide


def json_path(parts) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(root)"


def schema_errors(doc: dict, schema_name: str) -> list:
    """Every jsonschema error for doc (imports jsonschema: slow, for explaining)."""
    import json

    import jsonschema.validators

    with open(_schema_path(schema_name)) as f:
        schema = json.load(f)
    cls = jsonschema.validators.validator_for(schema)
    return list(cls(schema).iter_errors(doc))


def check_schema(config: dict, path: str) -> None:
    try:
        if fast_validator()(config):
            return
    except (ValueError, TypeError, ArithmeticError, RecursionError):
        pass  # jsonschema decides (and explains) what the fast path cannot
    try:
        errors = schema_errors(config, "config-schema.json")
    except (ValueError, TypeError, ArithmeticError, RecursionError) as e:
        raise ConfigError(f"{path}: cannot be checked against the runtime-spec schema: {e}") from None
    if not errors:
        # The generated validator is stricter than jsonschema: a bug in
        # fastschema; jsonschema is the reference, so the config stands.
        return
    from jsonschema.exceptions import best_match

    err = best_match(errors)
    where = json_path(err.absolute_path)
    raise ConfigError(f"{path}: {where}: {err.message} (does not match the runtime-spec schema; fix config.json)")
