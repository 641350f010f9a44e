"""Signal names as runc accepts them: "KILL", "SIGKILL", "9", "SIGRTMIN+3"."""
from __future__ import annotations

import _signal as signal  # not signal: its enums import enum (~5 ms)

from .errors import ConfigError


def parse(text: str) -> int:
    if text.isdigit():
        n = int(text)
        if 0 < n < signal.NSIG:
            return n
        raise ConfigError(f"invalid signal number {text}")
    name = text.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    if name.startswith("SIGRTMIN+") or name.startswith("SIGRTMAX-"):
        base = signal.SIGRTMIN if "MIN" in name else signal.SIGRTMAX
        off = name.split("+" if "MIN" in name else "-")[1]
        if off.isdigit():
            n = base + int(off) if "MIN" in name else base - int(off)
            if signal.SIGRTMIN <= n <= signal.SIGRTMAX:
                return n
    sig = getattr(signal, name, None)
    # SIG_DFL/SIG_IGN/SIG_BLOCK... are constants of _signal too, but not signals
    if isinstance(sig, int) and not name.startswith("SIG_"):
        return sig
    raise ConfigError(f"unknown signal {text!r}")
