"""v1 devices controller: the rules as devices.allow / devices.deny lines."""

from __future__ import annotations

from ocirt.cgroups.common import Context, read_opt, write
from ocirt.cgroups.devices import Rule

SPEC = "linux.resources.devices"


def apply_rules(path: str, rules: list[Rule], ctx: Context) -> None:
    # Writing "a" to devices.deny empties the list and makes the default deny;
    # each rule then adds or removes an exception, in order.
    if _current(path) == _expected(rules):
        return  # `update` without device changes must not cut access briefly
    write(path, "devices.deny", "a")
    for rule in rules:
        write(path, "devices.allow" if rule.allow else "devices.deny", rule.v1(), SPEC)


def _current(path: str) -> list[str]:
    return sorted((read_opt(path, "devices.list") or "").splitlines())


def _expected(rules: list[Rule]) -> list[str] | None:
    """What devices.list will show after the rules, when it is easy to tell
    (only allow rules after one deny-all); None means 'do write them'."""
    if not rules or rules[0] != Rule(False, "a", -1, -1, "rwm") or not all(r.allow for r in rules[1:]):
        return None
    return sorted({r.v1() if r.type != "a" else "a *:* rwm" for r in rules[1:]})
