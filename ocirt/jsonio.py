"""JSON through the C accelerator module directly.

`import json` pulls in re (for the pure-Python fallback scanner), and re
pulls in enum, functools and collections: ~8 ms on every CLI call, more
than `ocirt state` needs for its real work.  The C scanner and encoder in
_json do the same job without them.  Output matches json.dumps/json.loads.
"""
from __future__ import annotations

import _json


class _Context:
    """The attributes _json.make_scanner reads (those of json.JSONDecoder)."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    memo: dict = {}

    @staticmethod
    def parse_constant(name: str) -> float:
        return {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}[name]


_scan = _json.make_scanner(_Context())
_WHITESPACE = " \t\n\r"


def loads(data: str | bytes):
    """Parse one JSON document; ValueError (like json.JSONDecodeError) on bad input."""
    if isinstance(data, (bytes, bytearray)):
        data = data.decode("utf-8-sig") if data[:3] == b"\xef\xbb\xbf" else data.decode("utf-8")
    i = len(data) - len(data.lstrip(_WHITESPACE))
    try:
        value, end = _scan(data, i)
    except StopIteration as e:
        raise ValueError(f"Expecting value: char {e.value}") from None
    finally:
        _Context.memo.clear()
    end += len(data[end:]) - len(data[end:].lstrip(_WHITESPACE))
    if end != len(data):
        raise ValueError(f"Extra data: char {end}")
    return value


def _no_default(obj):
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def _compact(separators: tuple[str, str], sort_keys: bool):
    return _json.make_encoder({}, _no_default, _json.encode_basestring_ascii, None,
                              separators[1], separators[0], sort_keys, False, True)


def _pretty(obj, indent: str, level: int, sort_keys: bool, scalar) -> str:
    """json.dumps(indent=...) layout; the C encoder has no indentation."""
    if isinstance(obj, dict) and obj:
        pad = "\n" + indent * (level + 1)
        items = sorted(obj.items()) if sort_keys else obj.items()
        body = ",".join(pad + _json.encode_basestring_ascii(str(k)) + ": " +
                        _pretty(v, indent, level + 1, sort_keys, scalar) for k, v in items)
        return "{" + body + "\n" + indent * level + "}"
    if isinstance(obj, (list, tuple)) and obj:
        pad = "\n" + indent * (level + 1)
        body = ",".join(pad + _pretty(v, indent, level + 1, sort_keys, scalar) for v in obj)
        return "[" + body + "\n" + indent * level + "]"
    return "".join(scalar(obj, 0))


def dumps(obj, indent: int | str | None = None, sort_keys: bool = False,
          separators: tuple[str, str] | None = None) -> str:
    if indent is not None:
        indent = " " * indent if isinstance(indent, int) else indent
        return _pretty(obj, indent, 0, sort_keys, _compact((",", ": "), sort_keys))
    return "".join(_compact(separators or (", ", ": "), sort_keys)(obj, 0))


def dump(obj, f, indent: int | str | None = None) -> None:
    f.write(dumps(obj, indent=indent))
