"""Logging the way runc does it, because engines parse it.

--log FILE receives lines in runc's formats: text
`time="…" level=error msg="…"` or, with --log-format json,
`{"level":"error","msg":"…","time":"…"}`; engines show the last error line.
A user error is also printed as one plain line on stderr.
"""
from __future__ import annotations

from . import jsonio as json
import os
import sys

_file: str | None = None
_json = False
_debug = False


def configure(path: str | None, fmt: str, debug: bool) -> None:
    global _file, _json, _debug
    _file, _json, _debug = path, fmt == "json", debug


def _time() -> str:
    from .state import now_rfc3339

    return now_rfc3339()


def _line(level: str, msg: str) -> str:
    if _json:
        return json.dumps({"level": level, "msg": msg, "time": _time()}) + "\n"
    return f'time="{_time()}" level={level} msg={json.dumps(msg)}\n'


def _write(level: str, msg: str) -> None:
    if _file is None:
        return
    try:
        fd = os.open(_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            os.write(fd, _line(level, msg).encode())
        finally:
            os.close(fd)
    except OSError:
        pass  # logging must never turn success into failure


def error(msg: str) -> None:
    _write("error", msg)
    sys.stderr.write(f"ocirt: {msg}\n")
    sys.stderr.flush()


def warn(msg: str) -> None:
    if _file is not None:
        _write("warning", msg)
    else:
        sys.stderr.write(f"ocirt: warning: {msg}\n")


def debug(msg: str) -> None:
    if _debug:
        _write("debug", msg)
        if _file is None:
            sys.stderr.write(f"ocirt: debug: {msg}\n")
