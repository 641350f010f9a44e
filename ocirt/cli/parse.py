"""Parse argv against cli.surface, the way runc's urfave/cli does.

Global flags precede the command; a command's flags precede its positional
arguments (parsing stops at the first positional or at "--"), so
`exec id sh -c x` passes "-c" to the container.  Both `--flag value` and
`--flag=value` work, as do Go-style single-dash long flags (`-bundle`).
"""
from __future__ import annotations

from ..errors import ConfigError
from .surface import COMMANDS, GLOBAL, Flag

TRUE = ("true", "1", "yes", "t")
FALSE = ("false", "0", "no", "f")


class Parsed:
    def __init__(self) -> None:
        self.globals: dict[str, object] = {}
        self.command: str | None = None
        self.flags: dict[str, object] = {}
        self.args: list[str] = []


def _key(flag: Flag) -> str:
    return flag[0][0].lstrip("-").replace("-", "_")


def _index(flags: list[Flag]) -> dict[str, Flag]:
    out = {}
    for f in flags:
        for name in f[0]:
            out[name] = f
    return out


def _defaults(flags: list[Flag]) -> dict[str, object]:
    return {_key(f): (list(f[2]) if isinstance(f[2], list) else f[2]) for f in flags}


def _convert(flag: Flag, value: str, where: str):
    kind = flag[1]
    if kind == "int":
        try:
            return int(value)
        except ValueError:
            raise ConfigError(f"{where}: invalid value {value!r} for {flag[0][0]}: expected an integer") from None
    if kind == "bool":
        if value.lower() in TRUE:
            return True
        if value.lower() in FALSE:
            return False
        raise ConfigError(f"{where}: invalid value {value!r} for {flag[0][0]}: expected true or false")
    return value


def _parse_flags(argv: list[str], i: int, flags: list[Flag], out: dict, where: str) -> int:
    """Consume flags from argv[i:] into out; return the index of the first non-flag."""
    table = _index(flags)
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            return i + 1
        if not arg.startswith("-") or arg == "-":
            return i
        name, eq, value = arg.partition("=")
        flag = table.get(name) or (table.get("-" + name) if not name.startswith("--") else None)
        if flag is None:
            raise ConfigError(f"{where}: flag provided but not defined: {name} (see ocirt {where if where != 'ocirt' else ''} --help)".replace("  ", " "))
        key = _key(flag)
        if flag[1] == "bool" and not eq:
            out[key] = True
            i += 1
            continue
        if not eq:
            if i + 1 >= len(argv):
                raise ConfigError(f"{where}: flag needs an argument: {name}")
            value = argv[i + 1]
            i += 1
        if flag[1] == "list":
            out[key].append(value)
        else:
            out[key] = _convert(flag, value, where)
        i += 1
    return i


def parse(argv: list[str]) -> Parsed:
    p = Parsed()
    p.globals = _defaults(GLOBAL)
    i = _parse_flags(argv, 0, GLOBAL, p.globals, "ocirt")
    if i >= len(argv):
        return p
    cmd = argv[i]
    if cmd not in COMMANDS:
        raise ConfigError(f"unknown command {cmd!r}: run 'ocirt --help' for the list")
    p.command = cmd
    flags = COMMANDS[cmd][2] + [(("--help", "-h"), "bool", False, "show help")]
    p.flags = _defaults(flags)
    j = _parse_flags(argv, i + 1, flags, p.flags, cmd)
    p.args = argv[j:]
    return p


def usage(cmd: str | None = None) -> str:
    if cmd is None:
        lines = ["usage: ocirt [global options] command [command options] [arguments...]", "", "commands:"]
        lines += [f"  {name:<10} {spec[1]}" for name, spec in COMMANDS.items()]
        lines += ["", "global options:"] + [f"  {', '.join(f[0]):<22} {f[3]}" for f in GLOBAL]
        return "\n".join(lines)
    pos, help_text, flags = COMMANDS[cmd]
    lines = [f"usage: ocirt {cmd} [options] {pos}", "", help_text, ""]
    lines += [f"  {', '.join(f[0]):<22} {f[3]}" for f in flags]
    return "\n".join(lines)
