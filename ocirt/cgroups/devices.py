"""Device access rules, shared by v1 (devices.allow/deny) and v2 (eBPF).

Semantics (as runc's): start from "deny everything", then apply the rules in
order, a later rule overriding an earlier one.  The rules are
linux.resources.devices, then the default set every container gets, then an
allow rule for every linux.devices entry.
"""

from __future__ import annotations

from ocirt.errors import ConfigError

ANY = -1


class Rule(tuple):
    """(allow, type, major, minor, access): a tuple, so rules compare and
    hash by value; not a typing.NamedTuple, whose import costs create ~3 ms."""
    __slots__ = ()

    def __new__(cls, allow: bool, type: str, major: int, minor: int, access: str) -> "Rule":
        # type: 'a', 'c' or 'b'; major/minor: ANY for '*'; access: subset of 'rwm'
        return tuple.__new__(cls, (allow, type, major, minor, access))

    allow = property(lambda self: self[0])
    type = property(lambda self: self[1])
    major = property(lambda self: self[2])
    minor = property(lambda self: self[3])
    access = property(lambda self: self[4])

    def __repr__(self) -> str:
        return f"Rule{tuple.__repr__(self)}"

    def v1(self) -> str:
        """The line devices.allow / devices.deny take."""
        if self.type == "a":
            return "a"
        major = "*" if self.major == ANY else str(self.major)
        minor = "*" if self.minor == ANY else str(self.minor)
        return f"{self.type} {major}:{minor} {self.access}"


# The devices every container may use (runc's list): mknod of any node, and
# null, zero, full, random, urandom, tty, console, ptmx, pts/*, net/tun.
DEFAULT_RULES = (
    Rule(True, "c", ANY, ANY, "m"),
    Rule(True, "b", ANY, ANY, "m"),
    Rule(True, "c", 1, 3, "rwm"),
    Rule(True, "c", 1, 5, "rwm"),
    Rule(True, "c", 1, 7, "rwm"),
    Rule(True, "c", 1, 8, "rwm"),
    Rule(True, "c", 1, 9, "rwm"),
    Rule(True, "c", 5, 0, "rwm"),
    Rule(True, "c", 5, 1, "rwm"),
    Rule(True, "c", 5, 2, "rwm"),
    Rule(True, "c", 136, ANY, "rwm"),
    Rule(True, "c", 10, 200, "rwm"),
)


def _number(value: object, spec: str) -> int:
    if value is None:
        return ANY
    if isinstance(value, bool) or not isinstance(value, int) or value < -1:
        raise ConfigError(f"cgroup: invalid {spec}={value!r}; use a device number or omit it for '*'")
    return value


def rule_from_spec(entry: dict, idx: int) -> Rule:
    spec = f"linux.resources.devices[{idx}]"
    if not isinstance(entry, dict) or not isinstance(entry.get("allow"), bool):
        raise ConfigError(f"cgroup: {spec}.allow must be true or false")
    dtype = entry.get("type") or "a"
    if dtype not in ("a", "c", "b"):
        raise ConfigError(f"cgroup: invalid {spec}.type={dtype!r}; use 'a', 'c' or 'b'")
    access = entry.get("access") or "rwm"
    if not isinstance(access, str) or not set(access) <= set("rwm"):
        raise ConfigError(f"cgroup: invalid {spec}.access={access!r}; use letters from 'rwm'")
    access = "".join(c for c in "rwm" if c in access)
    return Rule(entry["allow"], dtype, _number(entry.get("major"), spec + ".major"),
                _number(entry.get("minor"), spec + ".minor"), access)


def rule_from_device(dev: dict, idx: int) -> Rule | None:
    """The allow rule for a linux.devices entry (a fifo needs none)."""
    dtype = dev.get("type")
    if dtype == "p":
        return None
    if dtype not in ("c", "u", "b"):
        raise ConfigError(f"cgroup: invalid linux.devices[{idx}].type={dtype!r}; use c, u, b or p")
    spec = f"linux.devices[{idx}]"
    return Rule(True, "b" if dtype == "b" else "c", _number(dev.get("major"), spec + ".major"),
                _number(dev.get("minor"), spec + ".minor"), "rwm")


def build_rules(resource_devices: list | None, linux_devices: list | None) -> list[Rule]:
    rules = [rule_from_spec(e, i) for i, e in enumerate(resource_devices or [])]
    rules.extend(DEFAULT_RULES)
    for i, dev in enumerate(linux_devices or []):
        rule = rule_from_device(dev, i)
        if rule is not None:
            rules.append(rule)
    return rules
