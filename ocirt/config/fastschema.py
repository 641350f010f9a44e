"""Compile a JSON Schema into the Python source of a fast ``validate(doc) -> bool``.

``import jsonschema`` costs ~110 ms, more than the rest of ``create``.  The
schema is fixed at build time, so it is compiled ahead of time into plain
Python (``setup.py`` calls `write_module`); jsonschema is then imported only
to explain a config the fast validator rejected (see ``validate.py``).

The generated ``validate`` returns the same verdict as
``jsonschema.validators.validator_for(schema)(schema).is_valid(doc)`` for
every JSON document (dict/list/str/int/float/bool/None, as ``json.load``
gives them), following the schema's draft (4, 6, 7, 2019-09, 2020-12):
booleans are not integers, 1.0 is an integer from draft 6 on, ``pattern`` is
``re.search``, ``enum``/``const``/``uniqueItems`` use jsonschema's equality
(``1 != True``), ``format`` is an annotation (jsonschema does not check it by
default), draft <= 7 ignores the siblings of ``$ref``.  A keyword the compiler
does not implement, a ``$ref`` it cannot resolve inside the document, or a
malformed keyword value makes `compile_schema` raise `SchemaCompileError`:
never a validator that silently accepts.

This module needs only the standard library and imports nothing from ocirt, so
``setup.py`` can load it by file path before the package is built.
"""
from __future__ import annotations

import json
import math
import os
import re
import sys

try:  # the bare module: hashlib would load OpenSSL (~3 ms) on every create
    from _sha256 import sha256 as _sha256
except ImportError:  # pragma: no cover -- interpreters built without it
    from hashlib import sha256 as _sha256

# Bump when the generated code changes for the same schema (part of cache keys).
COMPILER_VERSION = 2


class SchemaCompileError(ValueError):
    """The schema uses something the compiler cannot translate faithfully."""


_META = {
    "http://json-schema.org/draft-04/schema": 4,
    "http://json-schema.org/draft-06/schema": 6,
    "http://json-schema.org/draft-07/schema": 7,
    "https://json-schema.org/draft/2019-09/schema": 2019,
    "https://json-schema.org/draft/2020-12/schema": 2020,
}

# Keys that never change a verdict (annotations, containers of definitions).
_IGNORED = {"$schema", "$comment", "title", "description", "default", "examples", "deprecated",
            "readOnly", "writeOnly", "$defs", "definitions", "format",
            "contentMediaType", "contentEncoding", "contentSchema"}

_COMMON = {"$ref", "type", "enum", "properties", "required", "additionalProperties",
           "patternProperties", "items", "minItems", "maxItems", "uniqueItems", "minLength",
           "maxLength", "pattern", "minimum", "maximum", "multipleOf", "minProperties",
           "maxProperties", "allOf", "anyOf", "oneOf", "not"}
_KEYWORDS = {
    4: _COMMON | {"additionalItems", "dependencies", "exclusiveMinimum", "exclusiveMaximum"},
    6: _COMMON | {"additionalItems", "dependencies", "exclusiveMinimum", "exclusiveMaximum",
                  "const", "contains", "propertyNames"},
}
_KEYWORDS[7] = _KEYWORDS[6] | {"if", "then", "else"}
_KEYWORDS[2019] = (_KEYWORDS[7] - {"dependencies"}) | {"dependentRequired", "dependentSchemas",
                                                       "minContains", "maxContains"}
_KEYWORDS[2020] = (_KEYWORDS[2019] - {"additionalItems"}) | {"prefixItems"}

_TYPES = {"object", "array", "string", "integer", "number", "boolean", "null"}
_NUMERIC = {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"}
_STRING = {"minLength", "maxLength", "pattern"}
_ARRAY = {"minItems", "maxItems", "uniqueItems", "items", "prefixItems", "additionalItems",
          "contains"}
_OBJECT = {"required", "properties", "patternProperties", "additionalProperties",
           "propertyNames", "minProperties", "maxProperties", "dependencies",
           "dependentRequired", "dependentSchemas"}
# Keywords whose value holds subschemas: a schema without them is a "leaf".
_APPLICATORS = {"$ref", "properties", "patternProperties", "additionalProperties", "items",
                "prefixItems", "additionalItems", "contains", "propertyNames", "dependencies",
                "dependentSchemas", "allOf", "anyOf", "oneOf", "not", "if", "then", "else"}

# Runtime helpers copied into the generated module when used; each mirrors
# the jsonschema code named in its comment (jsonschema 4.x).
_HELPERS = {
    "_equal": '''
def _equal(one, two):  # jsonschema._utils.equal
    if one is two:
        return True
    if isinstance(one, str) or isinstance(two, str):
        return one == two
    if isinstance(one, _Sequence) and isinstance(two, _Sequence):
        return len(one) == len(two) and all(_equal(i, j) for i, j in zip(one, two))
    if isinstance(one, _Mapping) and isinstance(two, _Mapping):
        return len(one) == len(two) and all(
            key in two and _equal(value, two[key]) for key, value in one.items())
    return _unbool(one) == _unbool(two)


def _unbool(element, true=object(), false=object()):  # jsonschema._utils.unbool
    if element is True:
        return true
    if element is False:
        return false
    return element
''',
    "_uniq": '''
def _uniq(container):  # jsonschema._utils.uniq
    try:
        sort = sorted(_unbool(i) for i in container)
        for i, j in zip(sort, sort[1:]):
            if _equal(i, j):
                return False
    except (NotImplementedError, TypeError):
        seen = []
        for e in container:
            e = _unbool(e)
            for i in seen:
                if _equal(i, e):
                    return False
            seen.append(e)
    return True
''',
    "_is_number": '''
def _is_number(v):  # jsonschema._types.is_number
    if isinstance(v, bool):
        return False
    if isinstance(v, (int, float)):
        return True
    import numbers
    return isinstance(v, numbers.Number)
''',
    "_multiple_of": '''
def _multiple_of(instance, dB):  # jsonschema._keywords.multipleOf (True: a multiple)
    if isinstance(dB, float):
        quotient = instance / dB
        try:
            failed = int(quotient) != quotient
        except OverflowError:
            from fractions import Fraction
            failed = (Fraction(instance) / Fraction(dB)).denominator != 1
    else:
        failed = instance % dB
    return not failed
''',
}
_HELPERS["_smatch"] = '''
def _smatch(t, s):  # re.search(pattern, s) for a _simple_pattern (Python's $, as jsonschema)
    anchored, atoms, at_end = t
    for start in ((0,) if anchored else range(len(s) + 1)):
        if _smatch_at(atoms, 0, s, start, at_end):
            return True
    return False


def _smatch_at(atoms, i, s, pos, at_end):
    if i == len(atoms):
        return not at_end or pos == len(s) or (pos == len(s) - 1 and s[-1] == "\\n")
    chars, negated, lo, hi = atoms[i]
    room = len(s) - pos if hi is None else min(hi, len(s) - pos)
    n = 0
    while n < room and (s[n + pos] in chars) != negated:
        n += 1
    return any(_smatch_at(atoms, i + 1, s, pos + k, at_end) for k in range(n, lo - 1, -1))
'''
_HELPER_DEPS = {"_uniq": ["_equal"], "_smatch": []}
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", ".": ".", "-": "-", "[": "[", "]": "]",
            "/": "/", "^": "^", "$": "$", "+": "+", "*": "*", "?": "?", "(": "(", ")": ")", "{": "{",
            "}": "}", "|": "|"}
_SPECIAL = set(".^$*+?()[]{}|\\")
_QUANTIFIERS = {"*": (0, None), "+": (1, None), "?": (0, 1)}


def _simple_pattern(pattern: str):
    """(anchored, atoms, at_end) for a pattern of literals, escapes and
    [classes] with * + ? and outer ^ $ only -- the shapes the runtime-spec
    schema uses -- so `_smatch` can match it without `re`; None otherwise.
    An atom is (frozenset of chars, negated, min, max)."""
    anchored = pattern.startswith("^")
    at_end = pattern.endswith("$") and not pattern.endswith("\\$")
    body = pattern[int(anchored):len(pattern) - int(at_end)]
    atoms, i = [], 0
    while i < len(body):
        c = body[i]
        if c == "[":
            parsed = _simple_class(body, i + 1)
            if parsed is None:
                return None
            chars, negated, i = parsed
        elif c == "\\":
            if body[i + 1:i + 2] not in _ESCAPES:
                return None
            chars, negated, i = frozenset(_ESCAPES[body[i + 1]]), False, i + 2
        elif c in _SPECIAL:
            return None
        else:
            chars, negated, i = frozenset(c), False, i + 1
        lo, hi = _QUANTIFIERS.get(body[i:i + 1], (1, 1))
        i += body[i:i + 1] in _QUANTIFIERS
        if body[i:i + 1] in _QUANTIFIERS:
            return None  # lazy/possessive quantifier
        atoms.append((chars, negated, lo, hi))
    return anchored, tuple(atoms), at_end


def _simple_class(body: str, i: int):
    """(chars, negated, index after ']') for a [class] starting at body[i]."""
    negated = body[i:i + 1] == "^"
    i += negated
    chars: set[str] = set()
    first = True
    while i < len(body) and (body[i] != "]" or first):
        first = False
        c = body[i]
        if c == "\\":
            if body[i + 1:i + 2] not in _ESCAPES:
                return None
            c, i = _ESCAPES[body[i + 1]], i + 2
        elif c == "[":
            return None  # POSIX classes and nesting: leave them to re
        else:
            i += 1
        if body[i:i + 1] == "-" and body[i + 1:i + 2] not in ("]", "") and body[i + 1] != "\\":
            end = body[i + 1]
            if ord(end) < ord(c):
                return None
            chars.update(chr(o) for o in range(ord(c), ord(end) + 1))
            i += 2
        else:
            chars.add(c)
    if i >= len(body):
        return None
    return frozenset(chars), negated, i + 1


def _is_num(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _is_int(x) -> bool:
    return _is_num(x) and (isinstance(x, int) or x.is_integer())


def _lit(value) -> str:
    """A Python expression for a JSON value (repr, but with non-finite floats)."""
    if isinstance(value, float) and not math.isfinite(value):
        return f'float("{value!r}")'
    if isinstance(value, list):
        return "[" + ", ".join(_lit(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_lit(k)}: {_lit(v)}" for k, v in value.items()) + "}"
    if value is None or isinstance(value, (bool, int, float, str)):
        return repr(value)
    raise SchemaCompileError(f"not a JSON value: {value!r}")


class _Function:
    def __init__(self, name: str):
        self.name = name
        self.lines: list[str] = []
        self.nvars = 0

    def var(self) -> str:
        self.nvars += 1
        return f"v{self.nvars}"


class _Compiler:
    def __init__(self, schema):
        self.root = schema
        self.draft = self._draft(schema)
        self.keywords = _KEYWORDS[self.draft]
        self.functions: list[_Function] = []
        self.fn_of: dict[int, str] = {}       # id(subschema) -> function name
        self.consts: dict[str, str] = {}      # expression -> module-level name
        self.const_lines: list[str] = []
        self.pattern_lines: list[str] = []
        self.helpers: set[str] = set()
        self.uses_re = False
        self.root_id = schema.get("$id", "") if isinstance(schema, dict) else ""

    # -- schema inspection ---------------------------------------------------
    @staticmethod
    def _draft(schema) -> int:
        if not isinstance(schema, dict) or "$schema" not in schema:
            return 2020  # jsonschema's default (latest) validator
        uri = schema["$schema"]
        if not isinstance(uri, str):
            raise SchemaCompileError(f"$schema must be a string, not {uri!r}")
        draft = _META.get(uri[:-1] if uri.endswith("#") else uri)
        if draft is None:
            raise SchemaCompileError(f"unsupported $schema {uri!r} (drafts 4, 6, 7, 2019-09, 2020-12)")
        return draft

    def _resolve(self, ref, where: str):
        if not isinstance(ref, str):
            raise SchemaCompileError(f"{where}: $ref must be a string")
        from urllib.parse import unquote

        base, _, fragment = ref.partition("#")
        if base and base != self.root_id:
            raise SchemaCompileError(f"{where}: $ref {ref!r} is not a reference into this document")
        if fragment and not fragment.startswith("/"):
            raise SchemaCompileError(f"{where}: $ref {ref!r}: anchors are not supported")
        node = self.root
        for token in fragment.split("/")[1:]:
            token = unquote(token).replace("~1", "/").replace("~0", "~")
            try:
                node = node[int(token)] if isinstance(node, list) else node[token]
            except (KeyError, IndexError, ValueError, TypeError):
                raise SchemaCompileError(f"{where}: $ref {ref!r} does not resolve") from None
        return node

    def _check(self, schema, where: str) -> None:
        if isinstance(schema, bool):
            return
        if not isinstance(schema, dict):
            raise SchemaCompileError(f"{where}: a schema must be an object or a boolean")
        for key in schema:
            if key in _IGNORED or key in self.keywords:
                continue
            if key == "$id" and schema is self.root:
                continue
            raise SchemaCompileError(f"{where}: keyword {key!r} is not supported for draft {self.draft}")

    def _legacy_ref(self, schema) -> bool:
        return self.draft <= 7 and "$ref" in schema

    def _is_leaf(self, schema) -> bool:
        return isinstance(schema, bool) or not (set(schema) & _APPLICATORS)

    # -- code generation -----------------------------------------------------
    def const(self, expr: str, hint: str = "C") -> str:
        name = self.consts.get(expr)
        if name is None:
            name = self.consts[expr] = f"_{hint}{len(self.consts) + 1}"
            self.const_lines.append(f"{name} = {expr}")
        return name

    def regex(self, pattern, where: str) -> str:
        if not isinstance(pattern, str):
            raise SchemaCompileError(f"{where}: a pattern must be a string")
        try:
            re.compile(pattern)
        except re.error as e:
            raise SchemaCompileError(f"{where}: pattern {pattern!r} is not a Python regex: {e}") from None
        key = ("re", pattern)
        name = self.consts.get(key)
        simple = _simple_pattern(pattern)
        if name is None and simple is not None:
            # matched by _smatch: keeps `re` (and the enum it imports, ~6 ms)
            # out of create for the schema's few plain patterns
            self.helper("_smatch")
            name = self.consts[key] = f"_P{len(self.consts) + 1}"
            self.pattern_lines += ["", "", f"def {name}(s, _t={simple!r}):",
                                   f"    return _smatch(_t, s)"]
        if name is None:
            self.uses_re = True
            # compiled on first use: the function rebinds its own global name
            # to the compiled pattern's search, so later calls cost nothing extra
            name = self.consts[key] = f"_P{len(self.consts) + 1}"
            self.pattern_lines += ["", "", f"def {name}(s):", f"    global {name}",
                                 f"    {name} = _re.compile({pattern!r}).search", f"    return {name}(s)"]
        return name

    def helper(self, name: str) -> str:
        for dep in _HELPER_DEPS.get(name, []):
            self.helpers.add(dep)
        self.helpers.add(name)
        return name

    def function(self, schema, where: str) -> str:
        """Name of a function returning whether an instance is valid under schema."""
        name = self.fn_of.get(id(schema))
        if name is not None:
            return name
        slug = re.sub(r"[^0-9A-Za-z]+", "_", where.replace("$defs", "").replace("definitions", ""))
        name = f"_v{len(self.functions)}_{slug.strip('_')}"[:60].rstrip("_")
        self.fn_of[id(schema)] = name
        fn = _Function(name)
        self.functions.append(fn)
        self.emit(schema, "x", fn, 1, where)
        fn.lines.append("    return True")
        return name

    def _guarded(self, fn: _Function, headers: list, body) -> None:
        """Emit headers (an if/for opening) then body(); drop the headers if body emitted nothing."""
        n = len(fn.lines)
        fn.lines.extend(headers)
        m = len(fn.lines)
        body()
        if len(fn.lines) == m:
            del fn.lines[n:]

    def emit(self, schema, var: str, fn: _Function, ind: int, where: str) -> None:
        """Append statements to fn that `return False` unless var is valid under schema."""
        self._check(schema, where)
        out = fn.lines
        pad = "    " * ind
        if schema is True:
            return
        if schema is False:
            out.append(f"{pad}return False")
            return
        if self._legacy_ref(schema):
            self._emit_ref(schema["$ref"], var, fn, ind, where)
            return

        types = self._emit_type(schema, var, out, pad, where)
        if "$ref" in schema:
            self._emit_ref(schema["$ref"], var, fn, ind, where)
        if "enum" in schema:
            self._emit_enum(schema["enum"], var, out, pad, where)
        if "const" in schema:
            out.append(f"{pad}if not {self._equal_expr(var, schema['const'])}:")
            out.append(f"{pad}    return False")

        groups = (
            (_NUMERIC, {"integer", "number"}, self._numeric),
            (_STRING, {"string"}, self._string),
            (_ARRAY, {"array"}, self._array),
            (_OBJECT, {"object"}, self._object),
        )
        for keys, kinds, emitter in groups:
            if not (set(schema) & keys):
                continue
            if types is not None and not (types & kinds):
                continue  # the type check already failed every instance these apply to
            if types is not None and types <= kinds:
                emitter(schema, var, fn, ind, where)
                continue
            kind = min(kinds)
            guard = (self._number_expr(var) if kind == "integer" else
                     f"isinstance({var}, {dict(string='str', array='list', object='dict')[kind]})")
            self._guarded(fn, [f"{pad}if {guard}:"],
                          lambda: emitter(schema, var, fn, ind + 1, where))
        self._applicators(schema, var, fn, ind, where)

    def _emit_type(self, schema, var, out, pad, where):
        if "type" not in schema:
            return None
        t = schema["type"]
        names = [t] if isinstance(t, str) else t
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise SchemaCompileError(f"{where}: type must be a string or a list of strings")
        for n in names:
            if n not in _TYPES:
                raise SchemaCompileError(f"{where}: unknown type {n!r}")
        exprs = [self._type_expr(n, var) for n in names]
        out.append(f"{pad}if not ({' or '.join(exprs) if exprs else 'False'}):")
        out.append(f"{pad}    return False")
        return set(names)

    def _number_expr(self, var):
        return f"(type({var}) is int or type({var}) is float or {self.helper('_is_number')}({var}))"

    def _type_expr(self, name, var):
        if name == "object":
            return f"isinstance({var}, dict)"
        if name == "array":
            return f"isinstance({var}, list)"
        if name == "string":
            return f"isinstance({var}, str)"
        if name == "boolean":
            return f"({var} is True or {var} is False)"
        if name == "null":
            return f"{var} is None"
        if name == "number":
            return self._number_expr(var)
        # integer: bool excluded; from draft 6 on an integral float counts
        expr = f"type({var}) is int or (isinstance({var}, int) and not isinstance({var}, bool))"
        if self.draft >= 6:
            expr += f" or (isinstance({var}, float) and {var}.is_integer())"
        return f"({expr})"

    def _emit_ref(self, ref, var, fn, ind, where):
        target = self._resolve(ref, where)
        pad = "    " * ind
        if (self._is_leaf(target) and not isinstance(target, bool)
                and not (isinstance(target, dict) and "$ref" in target)):
            self.emit(target, var, fn, ind, ref)
            return
        name = self.function(target, ref)
        fn.lines.append(f"{pad}if not {name}({var}):")
        fn.lines.append(f"{pad}    return False")

    def _equal_expr(self, var, value):
        if isinstance(value, str):
            return f"(isinstance({var}, str) and {var} == {value!r})"
        if value is None:
            return f"({var} is None)"
        return f"{self.helper('_equal')}({var}, {self.const(_lit(value))})"

    def _emit_enum(self, values, var, out, pad, where):
        if not isinstance(values, list):
            raise SchemaCompileError(f"{where}: enum must be an array")
        _lit(values)
        if all(isinstance(v, str) for v in values):
            name = self.const("frozenset(" + _lit(sorted(set(values))) + ")", "E")
            out.append(f"{pad}if not (isinstance({var}, str) and {var} in {name}):")
        else:
            name = self.const(_lit(values), "E")
            out.append(f"{pad}if not any({self.helper('_equal')}(e, {var}) for e in {name}):")
        out.append(f"{pad}    return False")

    def _numeric(self, schema, var, fn, ind, where):
        conds = []
        for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"):
            if key not in schema:
                continue
            value = schema[key]
            if key.startswith("exclusive") and self.draft == 4:
                if not isinstance(value, bool):
                    raise SchemaCompileError(f"{where}: {key} must be a boolean in draft 4")
                continue  # a modifier of minimum/maximum
            if not _is_num(value):
                raise SchemaCompileError(f"{where}: {key} must be a number")
            if key == "multipleOf":
                if value <= 0:
                    raise SchemaCompileError(f"{where}: multipleOf must be > 0")
                conds.append(f"not {self.helper('_multiple_of')}({var}, {_lit(value)})")
                continue
            op = {"minimum": "<", "maximum": ">", "exclusiveMinimum": "<=", "exclusiveMaximum": ">="}[key]
            if self.draft == 4 and key in ("minimum", "maximum"):
                if schema.get("exclusive" + key[0].upper() + key[1:], False):
                    op += "="
            conds.append(f"{var} {op} {_lit(value)}")
        self._fail_if(fn, ind, conds)

    def _count(self, schema, key, where):
        value = schema[key]
        if not _is_int(value) or value < 0:
            raise SchemaCompileError(f"{where}: {key} must be a non-negative integer")
        return int(value)

    def _length_conds(self, schema, var, keys, where) -> list:
        """Conditions failing var (a str, list or dict) for the (min, max) length keywords."""
        conds = []
        for key, op in zip(keys, ("<", ">")):
            if key in schema:
                conds.append(f"len({var}) {op} {self._count(schema, key, where)}")
        return conds

    @staticmethod
    def _fail_if(fn, ind, conds) -> None:
        if conds:
            pad = "    " * ind
            fn.lines.append(f"{pad}if {' or '.join(conds)}:")
            fn.lines.append(f"{pad}    return False")

    def _string(self, schema, var, fn, ind, where):
        conds = self._length_conds(schema, var, ("minLength", "maxLength"), where)
        if "pattern" in schema:
            conds.append(f"not {self.regex(schema['pattern'], where)}({var})")
        self._fail_if(fn, ind, conds)

    def _subschema_list(self, schema, key, where, allow_empty=False):
        value = schema[key]
        if not isinstance(value, list) or (not value and not allow_empty):
            raise SchemaCompileError(f"{where}: {key} must be a non-empty array of schemas")
        return value

    def _array(self, schema, var, fn, ind, where):
        out, pad = fn.lines, "    " * ind
        conds = self._length_conds(schema, var, ("minItems", "maxItems"), where)
        if "uniqueItems" in schema:
            if not isinstance(schema["uniqueItems"], bool):
                raise SchemaCompileError(f"{where}: uniqueItems must be a boolean")
            if schema["uniqueItems"]:
                conds.append(f"not {self.helper('_uniq')}({var})")
        self._fail_if(fn, ind, conds)

        prefix: list = []
        rest = None          # schema for the items after the prefix
        if self.draft == 2020:
            if "prefixItems" in schema:
                prefix = self._subschema_list(schema, "prefixItems", where)
            rest = schema.get("items")
        else:
            items = schema.get("items")
            if isinstance(items, bool) and self.draft == 4:
                # not draft 4; jsonschema's draft-4 items iterates it and raises
                raise SchemaCompileError(f"{where}: boolean items needs draft 6 or later")
            if isinstance(items, list):
                prefix = items
                if "additionalItems" in schema:
                    rest = schema["additionalItems"]
            elif items is not None:
                if isinstance(items, bool) and "additionalItems" in schema:
                    # jsonschema takes len(True) here and raises
                    raise SchemaCompileError(f"{where}: boolean items with additionalItems")
                rest = items
            elif "additionalItems" in schema:
                rest = schema["additionalItems"]
        for i, sub in enumerate(prefix):
            if sub is True:
                continue
            item = fn.var()
            out.append(f"{pad}if len({var}) > {i}:")
            out.append(f"{pad}    {item} = {var}[{i}]")
            self.emit(sub, item, fn, ind + 1, f"{where}/prefix/{i}")
        if rest is not None and rest is not True:
            self._check(rest, f"{where}/items")
            if rest is False:
                out.append(f"{pad}if len({var}) > {len(prefix)}:")
                out.append(f"{pad}    return False")
            else:
                item = fn.var()
                src = f"{var}[{len(prefix)}:]" if prefix else var
                self._guarded(fn, [f"{pad}for {item} in {src}:"],
                              lambda: self.emit(rest, item, fn, ind + 1, f"{where}/items"))

        if "contains" in schema:
            name = self.function(schema["contains"], f"{where}/contains")
            if self.draft <= 7:
                out.append(f"{pad}if not any({name}(e) for e in {var}):")
                out.append(f"{pad}    return False")
            else:
                lo = self._count(schema, "minContains", where) if "minContains" in schema else 1
                hi = self._count(schema, "maxContains", where) if "maxContains" in schema else None
                matches = fn.var()
                out.append(f"{pad}{matches} = sum(1 for e in {var} if {name}(e))")
                cond = f"{matches} < {lo}" + (f" or {matches} > {hi}" if hi is not None else "")
                out.append(f"{pad}if {cond}:")
                out.append(f"{pad}    return False")

    def _object(self, schema, var, fn, ind, where):
        out, pad = fn.lines, "    " * ind
        conds = self._length_conds(schema, var, ("minProperties", "maxProperties"), where)
        if "required" in schema:
            req = schema["required"]
            if not isinstance(req, list) or not all(isinstance(r, str) for r in req):
                raise SchemaCompileError(f"{where}: required must be an array of strings")
            conds += [f"{r!r} not in {var}" for r in dict.fromkeys(req)]
        self._fail_if(fn, ind, conds)

        props = schema.get("properties", {})
        if not isinstance(props, dict):
            raise SchemaCompileError(f"{where}: properties must be an object")
        for key, sub in props.items():
            if sub is True:
                continue
            self._check(sub, f"{where}/properties/{key}")
            if sub is False:
                out.append(f"{pad}if {key!r} in {var}:")
                out.append(f"{pad}    return False")
                continue
            value = fn.var()
            self._guarded(fn, [f"{pad}{value} = {var}.get({key!r}, _MISSING)",
                               f"{pad}if {value} is not _MISSING:"],
                          lambda: self.emit(sub, value, fn, ind + 1, f"{where}/properties/{key}"))

        patterns = schema.get("patternProperties", {})
        if not isinstance(patterns, dict):
            raise SchemaCompileError(f"{where}: patternProperties must be an object")
        for pattern, sub in patterns.items():
            search = self.regex(pattern, where)
            k, v = fn.var(), fn.var()
            self._guarded(fn, [f"{pad}for {k}, {v} in {var}.items():", f"{pad}    if {search}({k}):"],
                          lambda: self.emit(sub, v, fn, ind + 2, f"{where}/patternProperties/{pattern}"))

        if "additionalProperties" in schema and schema["additionalProperties"] is not True:
            ap = schema["additionalProperties"]
            self._check(ap, f"{where}/additionalProperties")
            k, v = fn.var(), fn.var()
            skips = []
            if props:
                skips.append(f"{k} in {self.const('frozenset(' + _lit(sorted(props)) + ')', 'K')}")
            if patterns:
                # jsonschema joins the patterns with "|" (find_additional_properties)
                skips.append(f"{self.regex('|'.join(patterns), where)}({k})")
            headers = [f"{pad}for {k}, {v} in {var}.items():"]
            if skips:
                headers += [f"{pad}    if {' or '.join(skips)}:", f"{pad}        continue"]
            self._guarded(fn, headers,
                          lambda: self.emit(ap, v, fn, ind + 1, f"{where}/additionalProperties"))

        if "propertyNames" in schema:
            k = fn.var()
            self._guarded(fn, [f"{pad}for {k} in {var}:"],
                          lambda: self.emit(schema["propertyNames"], k, fn, ind + 1, f"{where}/propertyNames"))

        dependent = []  # (property, list of names | schema)
        if "dependencies" in schema:
            if not isinstance(schema["dependencies"], dict):
                raise SchemaCompileError(f"{where}: dependencies must be an object")
            dependent += schema["dependencies"].items()
        for key in ("dependentRequired", "dependentSchemas"):
            if key in schema:
                if not isinstance(schema[key], dict):
                    raise SchemaCompileError(f"{where}: {key} must be an object")
                for prop, dep in schema[key].items():
                    if key == "dependentRequired" and not isinstance(dep, list):
                        raise SchemaCompileError(f"{where}: dependentRequired values must be arrays")
                    if key == "dependentSchemas" and isinstance(dep, list):
                        raise SchemaCompileError(f"{where}: dependentSchemas values must be schemas")
                    dependent.append((prop, dep))
        for prop, dep in dependent:
            if isinstance(dep, list):
                if not all(isinstance(d, str) for d in dep):
                    raise SchemaCompileError(f"{where}: dependencies of {prop!r} must be strings")
                if dep:
                    out.append(f"{pad}if {prop!r} in {var} and ({' or '.join(f'{d!r} not in {var}' for d in dep)}):")
                    out.append(f"{pad}    return False")
            else:
                self._guarded(fn, [f"{pad}if {prop!r} in {var}:"],
                              lambda: self.emit(dep, var, fn, ind + 1, f"{where}/dependencies/{prop}"))

    def _applicators(self, schema, var, fn, ind, where):
        out, pad = fn.lines, "    " * ind
        if "allOf" in schema:
            for i, sub in enumerate(self._subschema_list(schema, "allOf", where)):
                self.emit(sub, var, fn, ind, f"{where}/allOf/{i}")
        if "anyOf" in schema:
            names = [self.function(sub, f"{where}/anyOf/{i}")
                     for i, sub in enumerate(self._subschema_list(schema, "anyOf", where))]
            out.append(f"{pad}if not ({' or '.join(f'{n}({var})' for n in names)}):")
            out.append(f"{pad}    return False")
        if "oneOf" in schema:
            names = [self.function(sub, f"{where}/oneOf/{i}")
                     for i, sub in enumerate(self._subschema_list(schema, "oneOf", where))]
            out.append(f"{pad}if {' + '.join(f'{n}({var})' for n in names)} != 1:")
            out.append(f"{pad}    return False")
        if "not" in schema:
            name = self.function(schema["not"], f"{where}/not")
            out.append(f"{pad}if {name}({var}):")
            out.append(f"{pad}    return False")
        if "if" in schema and ("then" in schema or "else" in schema):
            name = self.function(schema["if"], f"{where}/if")
            for key in ("then", "else"):
                if key in schema:
                    self._check(schema[key], f"{where}/{key}")
            out.append(f"{pad}if {name}({var}):")
            out.append(f"{pad}    pass")
            if "then" in schema:
                self.emit(schema["then"], var, fn, ind + 1, f"{where}/then")
            if "else" in schema:
                self._guarded(fn, [f"{pad}else:"],
                              lambda: self.emit(schema["else"], var, fn, ind + 1, f"{where}/else"))
        elif "if" in schema:
            self._check(schema["if"], f"{where}/if")

    # -- module --------------------------------------------------------------
    def source(self, sha256: str) -> str:
        root = self.function(self.root, "root")
        head = [
            f'"""Generated by ocirt.config.fastschema (compiler v{COMPILER_VERSION}) from a JSON Schema',
            f"(draft {self.draft}, sha256 {sha256}).  Do not edit: regenerate with",
            'fastschema.write_module(schema_path, out_path)."""',
            "",
        ]
        if self.uses_re:
            head.append("import re as _re")
        if "_equal" in self.helpers:
            # _collections_abc is what collections.abc re-exports, and it is
            # loaded at interpreter start-up; collections is not
            head.append("from _collections_abc import Mapping as _Mapping, Sequence as _Sequence")
        head += [
            "",
            f"SCHEMA_SHA256 = {sha256!r}",
            f"COMPILER_VERSION = {COMPILER_VERSION}",
            f"DRAFT = {self.draft!r}",
            "_MISSING = object()",
        ]
        head += self.const_lines + self.pattern_lines
        body = [_HELPERS[h] for h in sorted(self.helpers)]
        for fn in self.functions:
            body.append(f"\n\ndef {fn.name}(x):\n" + "\n".join(fn.lines) + "\n")
        tail = [
            "\n\ndef validate(doc):",
            '    """True when doc is valid under the schema (same verdict as jsonschema)."""',
            f"    return {root}(doc)",
            "",
        ]
        return "\n".join(head) + "\n" + "".join(body) + "\n".join(tail)


def compile_schema(schema, sha256: str = "") -> str:
    """Return the Python source of a module whose ``validate(doc)`` checks schema."""
    if not sha256:
        sha256 = _sha256(json.dumps(schema, sort_keys=True).encode()).hexdigest()
    return _Compiler(schema).source(sha256)


def compile_file(schema_path: str) -> tuple[str, str]:
    """(source, sha256 of the file's bytes) for the schema at schema_path."""
    with open(schema_path, "rb") as f:
        raw = f.read()
    sha256 = _sha256(raw).hexdigest()
    return compile_schema(json.loads(raw), sha256), sha256


def _write_atomic(path: str, data: bytes, mode: int = 0o644) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def write_module(schema_path: str, out_path: str) -> str:
    """Generate the validator module for schema_path at out_path (build time); return its sha256."""
    source, sha256 = compile_file(schema_path)
    compile(source, out_path, "exec")  # fail the build, not the first create
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    _write_atomic(out_path, source.encode())
    return sha256


def _module_from_source(source: str, filename: str, code=None):
    namespace = {"__name__": "ocirt._config_validator_generated", "__file__": filename}
    exec(code if code is not None else compile(source, filename, "exec"), namespace)
    return namespace["validate"]


def _trusted(path: str) -> bool:
    """A cache entry we would execute: ours, and writable by nobody else."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    return st.st_uid == os.geteuid() and not st.st_mode & 0o022


def load(schema_path: str, cache_dir: str | None = None, prebuilt: str | None = "ocirt._config_validator"):
    """Return the ``validate(doc) -> bool`` function for the schema at schema_path.

    Uses, in order: the module generated at build time (``prebuilt``) when it
    was generated from these exact schema bytes; a compiled entry in cache_dir
    keyed by the schema's sha256 and the compiler; else compiles in memory and
    stores the source (and its marshalled code) in cache_dir.
    """
    with open(schema_path, "rb") as f:
        raw = f.read()
    sha256 = _sha256(raw).hexdigest()
    if prebuilt:
        try:
            module = __import__(prebuilt, fromlist=["validate"])
        except ImportError:
            module = None
        if module is not None and getattr(module, "SCHEMA_SHA256", None) == sha256 \
                and getattr(module, "COMPILER_VERSION", None) == COMPILER_VERSION:
            return module.validate
    key = f"{sha256[:32]}-c{COMPILER_VERSION}-{_compiler_fingerprint()}"
    src_path = code_path = None
    if cache_dir:
        src_path = os.path.join(cache_dir, f"validator-{key}.py")
        code_path = os.path.join(cache_dir, f"validator-{key}.{sys.implementation.cache_tag}.code")
        if _trusted(cache_dir) and _trusted(code_path):
            import marshal
            try:
                with open(code_path, "rb") as f:
                    return _module_from_source("", src_path, marshal.load(f))
            except (OSError, EOFError, ValueError, TypeError, KeyError):
                pass  # a broken entry: rebuild it
    source = compile_schema(json.loads(raw), sha256)
    code = compile(source, src_path or f"<validator for {schema_path}>", "exec")
    if cache_dir:
        import marshal
        try:
            # the state root first, with its own mode: makedirs gives parents 0755,
            # and the root must not list container ids to other users
            os.makedirs(os.path.dirname(cache_dir), mode=0o711, exist_ok=True)
            os.makedirs(cache_dir, mode=0o700, exist_ok=True)
            if _trusted(cache_dir):
                for name in os.listdir(cache_dir):
                    # entries of older schemas/compilers, and the config digests
                    # an earlier ocirt remembered here (64 hex digits)
                    if (name.startswith("validator-") and key not in name
                            or len(name) == 64 and name.isalnum() and name == name.lower()):
                        os.unlink(os.path.join(cache_dir, name))
                _write_atomic(src_path, source.encode(), 0o600)
                _write_atomic(code_path, marshal.dumps(code), 0o600)
        except OSError:
            pass  # the cache is an optimisation only
    return _module_from_source(source, src_path or schema_path, code)


def _compiler_fingerprint() -> str:
    """Changes whenever this file changes (a checkout being edited)."""
    try:
        st = os.stat(__file__)
    except (OSError, NameError):
        return "0"
    return f"{st.st_size:x}{st.st_mtime_ns:x}"[-16:]


def _time(argv: list[str]) -> int:
    """Print how long validating each config takes, fast validator vs jsonschema."""
    import timeit

    schema_path, configs = argv[0], argv[1:]
    t = timeit.default_timer()
    validate = load(schema_path, prebuilt=None)
    print(f"compile in memory: {(timeit.default_timer() - t) * 1e3:.1f} ms")
    t = timeit.default_timer()
    import jsonschema.validators
    print(f"import jsonschema: {(timeit.default_timer() - t) * 1e3:.1f} ms")
    with open(schema_path) as f:
        schema = json.load(f)
    reference = jsonschema.validators.validator_for(schema)(schema)
    for path in configs:
        with open(path) as f:
            doc = json.load(f)
        fast = min(timeit.repeat(lambda: validate(doc), number=200, repeat=15)) / 200
        slow = min(timeit.repeat(lambda: reference.is_valid(doc), number=5, repeat=5)) / 5
        print(f"{path}: valid={validate(doc)} fastschema {fast * 1e6:.1f} us, "
              f"jsonschema is_valid {slow * 1e6:.0f} us ({slow / fast:.0f}x)")
    return 0


def main(argv: list[str] | None = None) -> int:
    """python -m ocirt.config.fastschema SCHEMA [OUT.py] | --time SCHEMA CONFIG..."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--time"] and len(argv) >= 2:
        return _time(argv[1:])
    if len(argv) == 2:
        write_module(argv[0], argv[1])
        return 0
    if len(argv) == 1:
        sys.stdout.write(compile_file(argv[0])[0])
        return 0
    sys.stderr.write(main.__doc__ + "\n")
    return 2


if __name__ == "__main__":
    sys.exit(main())
