"""The generated schema validator (ocirt/config/fastschema.py) must give
jsonschema's verdict on every document.

* each keyword the compiler supports, on tiny schemas, against jsonschema;
* what it refuses to compile (so it never silently accepts);
* every fixture config, then thousands of documents built from the real
  config schema and mutated (deleted keys, wrong types, integer bounds, enum
  neighbours, random JSON at random paths) -- verdicts equal jsonschema's;
* hypothesis (when installed): random JSON grafted into configs;
* load(): prebuilt module, cache dir, staleness; validate.check_schema.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from ocirt.config import fastschema, validate
from ocirt.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
SCHEMA_PATH = REPO / "schema" / "config-schema.json"
FIXTURES = REPO / "tests" / "fixtures" / "configs"
VALID = sorted((FIXTURES / "valid").glob("*.json"))
INVALID = sorted((FIXTURES / "invalid").glob("*.json"))
CONFIG_SCHEMA = json.loads(SCHEMA_PATH.read_text())
REFERENCE = jsonschema.validators.validator_for(CONFIG_SCHEMA)(CONFIG_SCHEMA)


def _build(schema):
    namespace: dict = {}
    exec(compile(fastschema.compile_schema(schema), "<generated>", "exec"), namespace)
    return namespace["validate"]


FAST = _build(CONFIG_SCHEMA)


def _reference(schema):
    return jsonschema.validators.validator_for(schema)(schema)


def _outcome(fn, doc):
    """fn's verdict, or the exception it raises (both sides must raise alike)."""
    try:
        return fn(doc)
    except Exception as e:  # noqa: BLE001 -- e.g. multipleOf on NaN in both
        return type(e).__name__


# --------------------------------------------------------------------------
# Keywords, one by one, on tiny schemas
# --------------------------------------------------------------------------

D4 = "http://json-schema.org/draft-04/schema#"
D6 = "http://json-schema.org/draft-06/schema#"
D7 = "http://json-schema.org/draft-07/schema#"
D2019 = "https://json-schema.org/draft/2019-09/schema"
D2020 = "https://json-schema.org/draft/2020-12/schema"

ANY = [None, True, False, 0, 1, -1, 1.0, 1.5, -0.0, 2**64, "", "a", "ab", [], [1], {}, {"a": 1},
       float("nan"), float("inf"), 1e308, 2.5, 10**400]

# (id, schema, {instance-as-json: expected verdict}) -- every case is also
# checked against jsonschema, so the expectation and the reference must agree.
KEYWORD_CASES = [
    ("type-string", {"type": "string"}, {'"x"': True, "1": False, "null": False}),
    ("type-integer", {"type": "integer"}, {"1": True, "1.0": True, "1.5": False, "true": False,
                                           '"1"': False, "-0.0": True}),
    ("type-integer-draft4", {"$schema": D4, "type": "integer"}, {"1": True, "1.0": False, "false": False}),
    ("type-number", {"type": "number"}, {"1": True, "1.5": True, "true": False, '"1"': False}),
    ("type-boolean", {"type": "boolean"}, {"true": True, "0": False, "null": False}),
    ("type-null", {"type": "null"}, {"null": True, "0": False, "false": False}),
    ("type-array", {"type": "array"}, {"[]": True, "{}": False}),
    ("type-object", {"type": "object"}, {"{}": True, "[]": False}),
    ("type-list", {"type": ["string", "null"]}, {"null": True, '"a"': True, "1": False}),
    ("type-empty-list", {"type": []}, {"null": False, "1": False}),
    ("enum-bool-vs-int", {"enum": [1, "a", None]}, {"1": True, "1.0": True, "true": False,
                                                    '"a"': True, "null": True, "0": False}),
    ("enum-false-vs-0", {"enum": [False]}, {"false": True, "0": False, "0.0": False}),
    ("enum-nested", {"enum": [[1], {"a": [True]}]}, {"[1]": True, "[true]": False,
                                                     '{"a": [true]}': True, '{"a": [1]}': False}),
    ("enum-strings", {"enum": ["x", "y"]}, {'"x"': True, '"z"': False, '["x"]': False}),
    ("const", {"const": {"a": [1, 2]}}, {'{"a": [1, 2]}': True, '{"a": [1, 2.0]}': True,
                                         '{"a": [true, 2]}': False, '{"a": [1]}': False}),
    ("const-string", {"const": "x"}, {'"x"': True, '"y"': False, "1": False}),
    ("const-null", {"const": None}, {"null": True, "false": False, "0": False}),
    ("const-zero", {"const": 0}, {"0": True, "0.0": True, "false": False}),
    ("pattern-is-search", {"pattern": "b+"}, {'"abbc"': True, '"ac"': False, "5": True}),
    ("pattern-anchored", {"pattern": "^a$"}, {'"a"': True, '"a\\n"': True, '"ba"': False}),
    ("minimum", {"minimum": 2}, {"2": True, "1.9": False, '"0"': True}),
    ("maximum", {"maximum": 2.5}, {"2.5": True, "3": False, "null": True}),
    ("exclusiveMinimum", {"exclusiveMinimum": 2}, {"2": False, "2.1": True}),
    ("exclusiveMaximum", {"exclusiveMaximum": 2}, {"2": False, "1": True}),
    ("draft4-exclusive", {"$schema": D4, "minimum": 2, "exclusiveMinimum": True,
                          "maximum": 5, "exclusiveMaximum": False}, {"2": False, "3": True, "5": True}),
    ("range-nan", {"type": "number", "minimum": 0, "maximum": 1}, {"0.5": True, "2": False}),
    ("int-range", {"type": "integer", "minimum": 0, "maximum": 18446744073709551615},
     {"18446744073709551615": True, "18446744073709551616": False, "1.8446744073709552e19": False,
      "-1": False, "0.0": True}),
    ("multipleOf-int", {"multipleOf": 3}, {"9": True, "10": False, "9.0": True, '"x"': True}),
    ("multipleOf-float", {"multipleOf": 0.1}, {"0.5": True, "0.3": False, "0.35": False, "7": True}),
    ("minLength", {"minLength": 2}, {'"ab"': True, '"a"': False, '"\\ud83d\\ude00"': False, "1": True}),
    ("maxLength", {"maxLength": 1}, {'"\\ud83d\\ude00"': True, '"ab"': False}),
    ("minItems", {"minItems": 1}, {"[]": False, "[0]": True, '"x"': True}),
    ("maxItems", {"maxItems": 1}, {"[1, 2]": False, "[0]": True}),
    ("uniqueItems", {"uniqueItems": True}, {"[1, true]": True, "[1, 1.0]": False, "[0, false]": True,
                                            '[{"a": 1}, {"a": 1}]': False, "[[1], [true]]": True,
                                            '[{"a": 1}, {"a": true}]': True, "[[1], [1]]": False,
                                            '["a", 1, "a"]': False, "[]": True}),
    ("uniqueItems-false", {"uniqueItems": False}, {"[1, 1]": True}),
    ("required", {"required": ["a", "b"]}, {'{"a": 1, "b": 2}': True, '{"a": 1}': False, "[]": True}),
    ("properties", {"properties": {"a": {"type": "string"}, "b": False, "c": True, "d": {}}},
     {'{"a": "x"}': True, '{"a": 1}': False, '{"b": null}': False, '{"c": 1, "d": 2}': True,
      '"a"': True}),
    ("additionalProperties-false", {"properties": {"a": {}}, "patternProperties": {"^x": {}},
                                    "additionalProperties": False},
     {'{"a": 1, "xy": 2}': True, '{"b": 1}': False, "{}": True}),
    ("additionalProperties-schema", {"properties": {"a": {}}, "additionalProperties": {"type": "integer"}},
     {'{"a": "s", "b": 1}': True, '{"b": "s"}': False}),
    ("additionalProperties-joined", {"patternProperties": {"^a": {}, "b$": {}},
                                     "additionalProperties": False},
     {'{"ax": 1, "xb": 2}': True, '{"xa": 1}': False}),
    ("patternProperties", {"patternProperties": {"^[a-z]+$": {"type": "string"}, "[^\n]": {"minLength": 1}}},
     {'{"ab": "x"}': True, '{"ab": 1}': False, '{"1": ""}': False, '{"": 1}': True}),
    ("propertyNames", {"propertyNames": {"maxLength": 2}}, {'{"ab": 1}': True, '{"abc": 1}': False}),
    ("min-maxProperties", {"minProperties": 1, "maxProperties": 2},
     {"{}": False, '{"a": 1}': True, '{"a": 1, "b": 2, "c": 3}': False, "[]": True}),
    ("prefixItems-items", {"prefixItems": [{"type": "integer"}, {"type": "string"}], "items": False},
     {"[1]": True, '[1, "a"]': True, '[1, "a", 2]': False, '["a"]': False}),
    ("items-2020", {"items": {"type": "integer"}}, {"[1, 2]": True, '[1, "a"]': False, '"x"': True}),
    ("items-tuple-draft7", {"$schema": D7, "items": [{"type": "integer"}], "additionalItems": {"type": "string"}},
     {'[1, "a"]': True, "[1, 2]": False, '["a"]': False}),
    ("additionalItems-false-draft7", {"$schema": D7, "items": [{}], "additionalItems": False},
     {"[1]": True, "[1, 2]": False}),
    ("additionalItems-ignored-draft7", {"$schema": D7, "items": {"type": "integer"}, "additionalItems": False},
     {"[1, 2]": True}),
    ("contains-draft7", {"$schema": D7, "contains": {"const": 1}}, {"[0, 1]": True, "[0]": False, "[]": False}),
    ("contains-2020", {"contains": {"const": 1}, "minContains": 2, "maxContains": 3},
     {"[1, 1]": True, "[1]": False, "[1, 1, 1, 1]": False, '"x"': True}),
    ("contains-min0", {"contains": {"const": 1}, "minContains": 0}, {"[]": True, "[2]": True}),
    ("ref-defs", {"$defs": {"u": {"type": "integer", "minimum": 0}}, "items": {"$ref": "#/$defs/u"}},
     {"[0, 1]": True, "[-1]": False}),
    ("ref-definitions-draft7", {"$schema": D7, "definitions": {"s": {"type": "string"}},
                                "properties": {"a": {"$ref": "#/definitions/s", "type": "integer"}}},
     {'{"a": "x"}': True, '{"a": 1}': False}),
    ("ref-siblings-2020", {"$defs": {"s": {"type": "string"}},
                           "properties": {"a": {"$ref": "#/$defs/s", "minLength": 2}}},
     {'{"a": "xy"}': True, '{"a": "x"}': False, '{"a": 1}': False}),
    ("ref-recursive", {"$defs": {"tree": {"type": "object", "properties": {
        "kids": {"type": "array", "items": {"$ref": "#/$defs/tree"}}, "v": {"type": "integer"}}}},
        "$ref": "#/$defs/tree"},
     {'{"kids": [{"kids": [{"v": 1}]}]}': True, '{"kids": [{"kids": [{"v": "x"}]}]}': False}),
    ("ref-root-id", {"$id": "urn:test", "$defs": {"a~b/c%": {"type": "null"}},
                     "items": {"$ref": "urn:test#/$defs/a~0b~1c%25"}}, {"[null]": True, "[1]": False}),
    ("ref-whole-document", {"properties": {"n": {"$ref": "#"}}, "required": ["x"]},
     {'{"x": 1, "n": {"x": 2}}': True, '{"x": 1, "n": {}}': False}),
    ("allOf", {"allOf": [{"minimum": 1}, {"maximum": 2}]}, {"1.5": True, "3": False, "0": False}),
    ("anyOf", {"anyOf": [{"type": "string"}, {"minimum": 3}]}, {'"a"': True, "4": True, "2": False}),
    ("oneOf", {"oneOf": [{"type": "integer"}, {"minimum": 2}]}, {"1": True, "2.5": True, "3": False,
                                                                "1.5": False}),
    ("not", {"not": {"type": "string"}}, {"1": True, '"a"': False}),
    ("if-then-else", {"if": {"type": "string"}, "then": {"minLength": 2}, "else": {"type": "integer"}},
     {'"ab"': True, '"a"': False, "1": True, "1.5": False}),
    ("if-then", {"if": {"minimum": 0}, "then": {"maximum": 9}}, {"5": True, "10": False, "-100": True}),
    ("if-else", {"if": {"minimum": 0}, "else": {"multipleOf": 2}}, {"5": True, "-3": False, "-4": True}),
    ("then-without-if", {"then": False}, {"1": True}),
    ("dependencies-draft7", {"$schema": D7, "dependencies": {"a": ["b"], "c": {"required": ["d"]}}},
     {'{"a": 1, "b": 1}': True, '{"a": 1}': False, '{"c": 1}': False, '{"b": 1}': True}),
    ("dependentRequired", {"dependentRequired": {"a": ["b"]}}, {'{"a": 1}': False, '{"a": 1, "b": 2}': True}),
    ("dependentSchemas", {"dependentSchemas": {"a": {"maxProperties": 1}}},
     {'{"a": 1}': True, '{"a": 1, "b": 2}': False}),
    ("boolean-true", True, {"1": True, "null": True}),
    ("boolean-false", False, {"1": False, "null": False}),
    ("boolean-subschemas", {"properties": {"a": False}, "items": True}, {'{"a": 1}': False, "[1]": True}),
    ("format-ignored", {"format": "email", "type": "string"}, {'"not an email"': True}),
    ("annotations-ignored", {"title": "t", "description": "d", "default": 1, "examples": [2],
                             "$comment": "c", "deprecated": True}, {"1": True}),
    ("empty", {}, {"1": True, "{}": True}),
    ("draft6-integer-float", {"$schema": D6, "type": "integer"}, {"1.0": True}),
    ("draft2019-items-array", {"$schema": D2019, "items": [{"type": "string"}]}, {'["a", 1]': True, "[1]": False}),
]


@pytest.mark.parametrize("name,schema,cases", KEYWORD_CASES, ids=[c[0] for c in KEYWORD_CASES])
def test_keyword(name, schema, cases):
    fast, ref = _build(schema), _reference(schema)
    for text, expected in cases.items():
        doc = json.loads(text)
        assert ref.is_valid(doc) == expected, f"bad expectation: {text}"
        assert fast(doc) == expected, f"{name}: {text}"
    for doc in ANY:
        assert _outcome(fast, doc) == _outcome(ref.is_valid, doc), f"{name}: {doc!r}"


def _random_schema(rng, draft, depth=0, defs=()):
    """A random schema over the keywords the compiler supports."""
    if depth > 3 or rng.random() < 0.15:
        return rng.choice([True, False, {}, {"type": "integer"}, {"type": "string"}] +
                          [{"$ref": f"#/$defs/{d}"} for d in defs])
    kw = {}
    keywords = ["type", "enum", "properties", "required", "additionalProperties", "patternProperties",
                "items", "minItems", "maxItems", "uniqueItems", "minLength", "maxLength", "pattern",
                "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "allOf",
                "anyOf", "oneOf", "not", "minProperties", "maxProperties", "$ref", "prefixItems",
                "dependentRequired"]
    if draft != D4:
        keywords += ["const", "contains", "propertyNames"]
    if draft not in (D4, D6):
        keywords += ["if"]
    for _ in range(rng.randrange(1, 4)):
        k = rng.choice(keywords)
        sub = lambda: _random_schema(rng, draft, depth + 1, defs)  # noqa: E731
        if k == "type":
            kw[k] = rng.choice([rng.choice(sorted(fastschema._TYPES)),
                                rng.sample(sorted(fastschema._TYPES), rng.randrange(1, 3))])
        elif k in ("enum", "const"):
            values = [None, True, False, 0, 1, 1.0, "a", "", [1], {"a": 1}, [True]]
            kw[k] = rng.sample(values, rng.randrange(1, 4)) if k == "enum" else rng.choice(values)
        elif k == "properties":
            kw[k] = {rng.choice("abc"): sub() for _ in range(rng.randrange(1, 3))}
        elif k == "required":
            kw[k] = rng.sample(["a", "b", "c"], rng.randrange(1, 3))
        elif k in ("additionalProperties", "items", "not", "contains", "propertyNames"):
            kw[k] = sub()
        elif k == "patternProperties":
            kw[k] = {rng.choice(["^a", "b$", "[0-9]", "^$"]): sub()}
        elif k in ("minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties"):
            kw[k] = rng.randrange(3)
        elif k == "uniqueItems":
            kw[k] = rng.random() < 0.8
        elif k == "pattern":
            kw[k] = rng.choice(["^a", "b$", "[0-9]", "^$", "^a+$"])
        elif k in ("exclusiveMinimum", "exclusiveMaximum") and draft == D4:
            kw[k] = rng.random() < 0.5
            kw[k.replace("exclusiveM", "m")] = rng.choice([0, 1, -1, 0.5, 2**63])
        elif k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            kw[k] = rng.choice([0, 1, -1, 0.5, 2**63])
        elif k == "multipleOf":
            kw[k] = rng.choice([2, 3, 0.5])
        elif k in ("allOf", "anyOf", "oneOf"):
            kw[k] = [sub() for _ in range(rng.randrange(1, 4))]
        elif k == "if":
            kw["if"] = sub()
            for branch in ("then", "else"):
                if rng.random() < 0.7:
                    kw[branch] = sub()
        elif k == "$ref" and defs:
            kw[k] = f"#/$defs/{rng.choice(defs)}"
        elif k == "prefixItems":
            if draft == D2020:
                kw[k] = [sub() for _ in range(rng.randrange(1, 3))]
            elif draft in (D2019, D4) and rng.random() < 0.5:
                kw["items"] = [sub() for _ in range(rng.randrange(1, 3))]
            else:
                kw["items"] = [sub() for _ in range(rng.randrange(1, 3))]
                kw["additionalItems"] = sub()
        elif k == "dependentRequired":
            if draft in (D2020, D2019):
                kw[k] = {"a": rng.sample(["b", "c"], rng.randrange(3))}
            else:
                kw["dependencies"] = {"a": rng.choice([["b"], sub()])}
    return kw


FUZZ_VALUES = [None, True, False, 0, 1, -1, 1.0, 0.5, 2, 3, 6, 2**63, "", "a", "ab", "b", "1", "aa",
               [], [1], [1, 1], [1, True], ["a", "b"], [[1], [True]], {}, {"a": 1}, {"b": "x"},
               {"a": 1, "b": 2, "c": 3}, {"1": None}, {"ab": [1]}]


@pytest.mark.parametrize("draft", [D2020, D2019, D7, D6, D4])
def test_random_schemas_agree_with_jsonschema(draft):
    """Compiler combinations beyond the config schema: random schemas x random values."""
    rng = random.Random(f"fastschema {draft}")
    checked = 0
    for _ in range(300):
        # no self-reference: a $ref cycle that consumes no input recurses forever
        # in both validators, and which one raises first depends on keyword order
        defs = {"d0": _random_schema(rng, draft, 2), "d1": _random_schema(rng, draft, 2, ("d0",))}
        body = _random_schema(rng, draft, 0, ("d0", "d1"))
        schema = {"$schema": draft, "$defs": defs, **(body if isinstance(body, dict) else {"allOf": [body]})}
        try:
            fast = _build(schema)
        except fastschema.SchemaCompileError as e:
            assert draft == D4 and "boolean items" in str(e), e
            continue
        ref = _reference(schema)
        for doc in FUZZ_VALUES + [_random_json(rng) for _ in range(5)]:
            if isinstance(doc, float) and doc != doc:
                continue
            assert _outcome(fast, doc) == _outcome(ref.is_valid, doc), (schema, doc)
            checked += 1
    print(f"\n{draft}: {checked} (schema, document) pairs agree")
    assert checked > 5000


@pytest.mark.parametrize("schema,message", [
    ({"unevaluatedProperties": False}, "unevaluatedProperties"),
    ({"$dynamicRef": "#x"}, "$dynamicRef"),
    ({"properties": {"a": {"frobnicate": 1}}}, "frobnicate"),
    ({"$schema": D7, "prefixItems": [{}]}, "prefixItems"),           # not a draft-7 keyword
    ({"$schema": "http://json-schema.org/draft-03/schema#"}, "$schema"),
    ({"$schema": "https://example.com/my-meta"}, "$schema"),
    ({"$ref": "#/$defs/missing"}, "does not resolve"),
    ({"$ref": "other.json#/a"}, "not a reference into this document"),
    ({"$defs": {"a": {"$anchor": "x"}}, "$ref": "#x"}, "anchors"),
    ({"type": "int"}, "unknown type"),
    ({"pattern": "(?<=a+)b"}, "not a Python regex"),
    ({"minimum": "1"}, "must be a number"),
    ({"minItems": -1}, "non-negative"),
    ({"required": "a"}, "required"),
    ({"enum": "a"}, "enum"),
    ({"items": [{}]}, "must be an object or a boolean"),             # 2020-12 has no tuple items
    ({"$schema": D4, "items": True}, "boolean items"),              # jsonschema raises on it
    ({"anyOf": []}, "anyOf"),
    ({"properties": {"a": 1}}, "must be an object or a boolean"),
    ({"allOf": [{"$id": "urn:nested"}]}, "$id"),
])
def test_refuses_what_it_cannot_translate(schema, message):
    with pytest.raises(fastschema.SchemaCompileError, match=re.escape(message)):
        fastschema.compile_schema(schema)


def test_uses_re_only_when_the_schema_has_patterns():
    assert "import re" not in fastschema.compile_schema({"type": "object", "required": ["a"]})
    assert "import re" in fastschema.compile_schema({"pattern": "a|b"})
    # plain patterns (literals, [classes], * + ?, outer ^ $) need no re
    assert "import re" not in fastschema.compile_schema({"pattern": "^RLIMIT_[A-Z]+$"})
    source = fastschema.compile_schema({"items": {"enum": ["a", "b"]}, "minimum": 1})
    assert not [line for line in source.splitlines() if line.startswith(("import", "from"))]


# --------------------------------------------------------------------------
# The real schema: fixtures, generated documents and their mutations
# --------------------------------------------------------------------------

@pytest.mark.parametrize("path", VALID + INVALID, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_fixture_verdict(path):
    doc = json.loads(path.read_text())
    expected = path.parent.name == "valid"
    assert REFERENCE.is_valid(doc) == expected
    assert FAST(doc) == expected


def _resolve(node):
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        rest = {k: v for k, v in node.items() if k != "$ref"}
        target = CONFIG_SCHEMA
        for token in ref.split("#", 1)[1].split("/")[1:]:
            target = target[token]
        node = {**target, **rest}
    return node


def _schema_values(schema, key):
    """Every value of key anywhere in the schema."""
    out = []
    stack = [schema]
    while stack:
        n = stack.pop()
        if isinstance(n, dict):
            if key in n:
                out.append(n[key])
            stack.extend(n.values())
        elif isinstance(n, list):
            stack.extend(n)
    return out


BOUNDS = sorted({b + d for b in _schema_values(CONFIG_SCHEMA, "minimum") + _schema_values(CONFIG_SCHEMA, "maximum")
                 if isinstance(b, int) for d in (-1, 0, 1)})
ENUM_WORDS = sorted({w for e in _schema_values(CONFIG_SCHEMA, "enum") for w in e})
PATTERNS = _schema_values(CONFIG_SCHEMA, "pattern")
STRING_POOL = ["", "a", "x\n", "RLIMIT_NOFILE", "RLIMIT_", "rlimit_core", "0-3,7", "0-3;7", "1,2", "2MB",
               "1GB", "0MB", "2mb", "MB:0=20", "MB:0=20\n1", "L3:0=f", "c", "b", "u", "p", "cb", "/", "/x",
               # '$' matches before a final newline in Python: patterns alone accept these
               "RLIMIT_NOFILE\n", "2MB\n", "0-3\n", "MB:1\n", "c\n"]
SCALARS = [None, True, False, 0, 1, -1, 0.0, 1.0, 2.5, -0.5, 1e300, "", "s", [], {}, ["s"], [1], {"k": "v"},
           {"k": 1}, float("inf"), float("nan"), 2**63, -(2**63) - 1, 2**64]


def _pattern_string(rng, pattern):
    fits = [s for s in STRING_POOL if re.search(pattern, s)]
    return rng.choice(fits) if fits and rng.random() < 0.9 else rng.choice(STRING_POOL)


def _instance(rng, schema, depth=0):
    """A random, mostly valid instance of a (resolved) subschema of the config schema."""
    schema = _resolve(schema)
    if schema is True or not isinstance(schema, dict):
        return rng.choice(SCALARS)
    if "enum" in schema:
        return rng.choice(schema["enum"])
    t = schema.get("type")
    if t == "object" or "properties" in schema or "patternProperties" in schema:
        out = {}
        props = schema.get("properties", {})
        keys = list(schema.get("required", []))
        keys += [k for k in props if k not in keys and depth < 6 and rng.random() < 0.5]
        for k in keys:
            out[k] = _instance(rng, props.get(k, True), depth + 1)
        if "patternProperties" in schema and rng.random() < 0.7:
            for _ in range(rng.randrange(3)):
                out[rng.choice(["k", "net.ipv4.ip_forward", "memory.max", "io.weight"])] = \
                    _instance(rng, next(iter(schema["patternProperties"].values())), depth + 1)
        ap = schema.get("additionalProperties")
        if isinstance(ap, dict) and rng.random() < 0.7:
            for name in rng.sample(["eth0", "mlx4_0", "dev"], rng.randrange(1, 3)):
                out[name] = _instance(rng, ap, depth + 1)
        return out
    if t == "array":
        n = max(schema.get("minItems", 0), rng.randrange(4) if depth < 6 else 0)
        return [_instance(rng, schema.get("items", True), depth + 1) for _ in range(n)]
    if t == "string":
        if "pattern" in schema:
            return _pattern_string(rng, schema["pattern"])
        return rng.choice(["", "x", "/bin/sh", "PATH=/bin", "CAP_KILL", "ünïcode"])
    if t == "integer":
        lo, hi = schema.get("minimum", -(2**63)), schema.get("maximum", 2**63 - 1)
        return rng.choice([lo, hi, rng.randint(lo, hi), rng.randint(max(lo, -5), min(hi, 5))])
    if t == "boolean":
        return rng.random() < 0.5
    return rng.choice(SCALARS)


def _paths(doc, prefix=()):
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, prefix + (i,))


def _replace(doc, path, value):
    if not path:
        return value
    doc = copy.deepcopy(doc)
    node = doc
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value
    return doc


def _delete(doc, path):
    doc = copy.deepcopy(doc)
    node = doc
    for p in path[:-1]:
        node = node[p]
    del node[path[-1]]
    return doc


def _get(doc, path):
    for p in path:
        doc = doc[p]
    return doc


def _random_json(rng, depth=0):
    r = rng.random()
    if depth > 2 or r < 0.6:
        return rng.choice(SCALARS + ENUM_WORDS[:5] + STRING_POOL[:6] + BOUNDS[:6])
    if r < 0.8:
        return [_random_json(rng, depth + 1) for _ in range(rng.randrange(3))]
    return {rng.choice(["type", "path", "limit", "x", "names", "allow"]): _random_json(rng, depth + 1)
            for _ in range(rng.randrange(3))}


def _mutate(rng, doc):
    """One random edit of doc."""
    paths = list(_paths(doc))
    path = rng.choice(paths)
    here = _get(doc, path)
    kind = rng.randrange(8)
    if kind == 0 and path:
        return _delete(doc, path)
    if kind == 1:
        return _replace(doc, path, rng.choice(SCALARS))
    if kind == 2 and (isinstance(here, (int, float)) and not isinstance(here, bool)):
        value = rng.choice(BOUNDS)
        return _replace(doc, path, float(value) if rng.random() < 0.3 else value)
    if kind == 3 and isinstance(here, str):
        return _replace(doc, path, rng.choice([here + "X", here.lower(), here[:-1], rng.choice(ENUM_WORDS),
                                               rng.choice(STRING_POOL), here + "\n"]))
    if kind == 4 and isinstance(here, dict):
        return _replace(doc, path, {**here, rng.choice(["extra", "type", "limit", "path"]): _random_json(rng)})
    if kind == 5 and isinstance(here, list):
        return _replace(doc, path, here + [_random_json(rng)])
    if kind == 6 and isinstance(here, list) and here:
        return _replace(doc, path, here[:-1])
    return _replace(doc, path, _random_json(rng))


def _corpus(seed, generated, mutations_each):
    rng = random.Random(seed)
    bases = [json.loads(p.read_text()) for p in VALID]
    for _ in range(generated):
        bases.append(_instance(rng, CONFIG_SCHEMA))
    for base in bases:
        yield base
        for _ in range(mutations_each):
            doc = _mutate(rng, base)
            for _ in range(rng.randrange(3)):
                doc = _mutate(rng, doc)
            yield doc


def test_generated_and_mutated_configs_agree_with_jsonschema():
    stats = {"documents": 0, "valid": 0, "invalid": 0}
    disagree = []
    for doc in _corpus(seed=20261202, generated=150, mutations_each=20):
        fast, ref = FAST(doc), REFERENCE.is_valid(doc)
        stats["documents"] += 1
        stats["valid" if ref else "invalid"] += 1
        if fast != ref:
            disagree.append((fast, ref, json.dumps(doc)[:300]))
    print(f"\nfastschema agreement: {stats}, disagreements: {len(disagree)}")
    assert not disagree, disagree[:5]
    assert stats["documents"] >= 3000
    # the corpus must exercise both verdicts in earnest
    assert stats["valid"] > 400 and stats["invalid"] > 1000, stats


def test_every_definition_is_reached_by_generated_configs():
    """The generator above walks the whole schema (so the corpus covers every $def)."""
    rng = random.Random(7)
    refs = set()

    def walk(schema, doc):
        if isinstance(schema, dict) and "$ref" in schema:
            refs.add(schema["$ref"])
        schema = _resolve(schema)
        if isinstance(doc, dict) and isinstance(schema, dict):
            for k, v in doc.items():
                if k in schema.get("properties", {}):
                    walk(schema["properties"][k], v)
                elif isinstance(schema.get("additionalProperties"), dict):
                    walk(schema["additionalProperties"], v)
                elif "patternProperties" in schema:
                    walk(next(iter(schema["patternProperties"].values())), v)
        elif isinstance(doc, list) and isinstance(schema, dict) and "items" in schema:
            for v in doc:
                walk(schema["items"], v)

    for _ in range(200):
        walk(CONFIG_SCHEMA, _instance(rng, CONFIG_SCHEMA))
    seen = {r.rsplit("/", 1)[-1] for r in refs}
    assert seen >= set(CONFIG_SCHEMA["$defs"]), \
        set(CONFIG_SCHEMA["$defs"]) - seen


try:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
except ImportError:  # an optional test dependency
    given = None

if given is not None:
    _json = st.recursive(
        st.none() | st.booleans() | st.integers(min_value=-(2**65), max_value=2**65)
        | st.floats(allow_nan=True) | st.text(max_size=8) | st.sampled_from(ENUM_WORDS + STRING_POOL),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
        max_leaves=8)
    _BASES = [json.loads(p.read_text()) for p in VALID]

    @settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
    @given(base=st.sampled_from(_BASES), where=st.integers(min_value=0), value=_json)
    def test_hypothesis_random_json_at_random_paths(base, where, value):
        paths = list(_paths(base))
        doc = _replace(base, paths[where % len(paths)], value)
        assert FAST(doc) == REFERENCE.is_valid(doc)

    @settings(max_examples=200, deadline=None)
    @given(value=_json)
    def test_hypothesis_random_documents(value):
        assert FAST(value) == REFERENCE.is_valid(value)


def test_state_schema_compiles_and_agrees():
    schema = json.loads((REPO / "schema" / "state-schema.json").read_text())
    fast, ref = _build(schema), _reference(schema)
    good = {"ociVersion": "1.2.0", "id": "c1", "status": "running", "pid": 42, "bundle": "/b"}
    rng = random.Random(3)
    docs = [good] + [_mutate(rng, good) for _ in range(300)]
    assert all(fast(d) == ref.is_valid(d) for d in docs)


# --------------------------------------------------------------------------
# load(), write_module(), the prebuilt module and the cache
# --------------------------------------------------------------------------

def test_write_module_makes_an_importable_validator(tmp_path):
    out = tmp_path / "gen" / "_config_validator.py"
    sha = fastschema.write_module(str(SCHEMA_PATH), str(out))
    namespace: dict = {}
    exec(compile(out.read_text(), str(out), "exec"), namespace)
    assert namespace["SCHEMA_SHA256"] == sha
    assert namespace["COMPILER_VERSION"] == fastschema.COMPILER_VERSION
    for p in VALID:
        assert namespace["validate"](json.loads(p.read_text()))


def test_load_uses_a_matching_prebuilt_module_only(tmp_path, monkeypatch):
    pkg = tmp_path / "fakepkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    fastschema.write_module(str(SCHEMA_PATH), str(pkg / "good.py"))
    (pkg / "stale.py").write_text("SCHEMA_SHA256 = 'old'\nCOMPILER_VERSION = %d\n"
                                  "def validate(doc):\n    return True\n" % fastschema.COMPILER_VERSION)
    monkeypatch.syspath_prepend(str(tmp_path))
    fn = fastschema.load(str(SCHEMA_PATH), prebuilt="fakepkg.good")
    assert fn.__module__ == "fakepkg.good"
    fn = fastschema.load(str(SCHEMA_PATH), prebuilt="fakepkg.stale")
    assert fn({"ociVersion": 1}) is False            # the stale module would say True
    fn = fastschema.load(str(SCHEMA_PATH), prebuilt="fakepkg.absent")
    assert fn({"ociVersion": "1"}) is True


def test_load_caches_under_the_cache_dir(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    fn = fastschema.load(str(SCHEMA_PATH), cache_dir=str(cache), prebuilt=None)
    files = sorted(p.name for p in cache.iterdir())
    assert len(files) == 2 and files[0].endswith(".code") and files[1].endswith(".py"), files
    sha = hashlib.sha256(SCHEMA_PATH.read_bytes()).hexdigest()
    assert sha[:32] in files[0]
    assert oct(cache.stat().st_mode & 0o777) == "0o700"

    def no_compiling(*a, **k):
        raise AssertionError("compiled again despite the cache")

    monkeypatch.setattr(fastschema, "compile_schema", no_compiling)
    again = fastschema.load(str(SCHEMA_PATH), cache_dir=str(cache), prebuilt=None)
    assert again({"ociVersion": "1"}) and not again({}) and fn({"ociVersion": "1"})


def test_load_ignores_a_cache_others_can_write(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    fastschema.load(str(SCHEMA_PATH), cache_dir=str(cache), prebuilt=None)
    code = next(cache.glob("*.code"))
    code.write_bytes(b"garbage")
    os.chmod(code, 0o666)
    calls = []
    real = fastschema.compile_schema
    monkeypatch.setattr(fastschema, "compile_schema", lambda *a: calls.append(1) or real(*a))
    fn = fastschema.load(str(SCHEMA_PATH), cache_dir=str(cache), prebuilt=None)
    assert calls and fn({"ociVersion": "1"})


def test_load_rebuilds_a_corrupt_cache_entry(tmp_path):
    cache = tmp_path / "cache"
    fastschema.load(str(SCHEMA_PATH), cache_dir=str(cache), prebuilt=None)
    next(cache.glob("*.code")).write_bytes(b"\0garbage")
    fn = fastschema.load(str(SCHEMA_PATH), cache_dir=str(cache), prebuilt=None)
    assert fn({"ociVersion": "1"}) and not fn({"ociVersion": 1})


def test_a_schema_change_is_a_new_cache_key(tmp_path):
    schema = tmp_path / "s.json"
    cache = tmp_path / "cache"
    schema.write_text(json.dumps({"type": "string"}))
    assert fastschema.load(str(schema), cache_dir=str(cache), prebuilt=None)("x")
    (cache / ("ab12" * 16)).touch()  # a config digest cached by an earlier ocirt
    old = set(cache.iterdir())
    schema.write_text(json.dumps({"type": "integer"}))
    assert not fastschema.load(str(schema), cache_dir=str(cache), prebuilt=None)("x")
    new = set(cache.iterdir())
    assert len(new) == 2 and not old & new  # the old entry is gone


# --------------------------------------------------------------------------
# validate.check_schema
# --------------------------------------------------------------------------

def test_check_schema_accepts_and_explains():
    validate.check_schema(json.loads(VALID[0].read_text()), "/b/config.json")
    with pytest.raises(ConfigError) as e:
        validate.check_schema({"ociVersion": "1.2.0", "process": {"cwd": 5}}, "/b/config.json")
    msg = str(e.value)
    assert msg.startswith("/b/config.json: process.cwd: 5 is not of type 'string'"), msg
    assert "\n" not in msg


def test_check_schema_trusts_jsonschema_over_a_stricter_fast_validator(monkeypatch):
    monkeypatch.setitem(validate._validators, "config-schema.json", lambda doc: False)
    validate.check_schema({"ociVersion": "1.2.0"}, "/b/config.json")   # jsonschema: valid


def test_check_schema_when_the_fast_validator_raises(monkeypatch):
    def boom(doc):
        raise ValueError("cannot convert float NaN to integer")

    monkeypatch.setitem(validate._validators, "config-schema.json", boom)
    validate.check_schema({"ociVersion": "1.2.0"}, "/b/config.json")
    with pytest.raises(ConfigError, match="/b/config.json: ociVersion: 1 is not of type 'string'"):
        validate.check_schema({"ociVersion": 1}, "/b/config.json")


def test_check_schema_falls_back_to_jsonschema_for_a_schema_it_cannot_compile(monkeypatch):
    def refuse(*args, **kwargs):
        raise fastschema.SchemaCompileError("keyword 'unevaluatedProperties' is not supported")

    monkeypatch.setattr(validate, "_validators", {})
    monkeypatch.setattr(fastschema, "load", refuse)
    validate.check_schema({"ociVersion": "1.2.0"}, "/b/config.json")
    with pytest.raises(ConfigError, match="ociVersion: 1 is not of type 'string'"):
        validate.check_schema({"ociVersion": 1}, "/b/config.json")


def test_valid_config_does_not_import_jsonschema(tmp_path):
    config = tmp_path / "config.json"
    config.write_text(VALID[0].read_text())
    code = (
        "import json, sys\n"
        "from ocirt.config import validate\n"
        f"validate.set_cache_dir({str(tmp_path / 'cache')!r})\n"
        f"validate.check_schema(json.load(open({str(config)!r})), 'config.json')\n"
        "assert 'jsonschema' not in sys.modules, 'jsonschema imported'\n"
        "print('ok')\n"
    )
    for _ in range(2):  # compile + cache, then from the cache
        out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
        assert out.stdout.strip() == "ok", out.stderr


@pytest.mark.parametrize("pattern", ["\n", "^RLIMIT_[A-Z]+$", "^[0-9, -]*$", "[^\\n]", "^[1-9][0-9]*[KMG]B$",
                                     "^MB:[^\\n]*$", "^a\\.b?c*$", "x[]a]y", "[a-]", "^$", "a*a"])
def test_simple_patterns_match_like_re(pattern):
    """The re-free matcher agrees with re.search (what jsonschema uses) on random strings."""
    import random
    import re

    simple = fastschema._simple_pattern(pattern)
    assert simple is not None
    helpers: dict = {}
    exec(fastschema._HELPERS["_smatch"], helpers)
    rng = random.Random(pattern)
    for _ in range(2000):
        s = "".join(rng.choice("RLIMIT_AZaz09 ,-\nMB:KGx]y.bc1") for _ in range(rng.randint(0, 10)))
        assert helpers["_smatch"](simple, s) == (re.search(pattern, s) is not None), (pattern, s)


@pytest.mark.parametrize("pattern", ["a|b", "(a)", "a{2}", "[[:alpha:]]", "\\d", "a+?", ".", "\\w+"])
def test_other_patterns_are_left_to_re(pattern):
    assert fastschema._simple_pattern(pattern) is None
