"""linux.resources.unified: raw cgroup v2 files, written last so that they
override the translated fields (as in runc)."""

from __future__ import annotations

from ocirt.cgroups.common import Context, exists, read_opt, write
from ocirt.errors import ConfigError

SPEC = "linux.resources.unified"
# Files that move or kill processes are the runtime's business, not config's.
FORBIDDEN = ("cgroup.procs", "cgroup.threads", "cgroup.kill")


def check_key(key: object) -> None:
    if (not isinstance(key, str) or not key or "/" in key or "\0" in key
            or key.startswith(".") or key in FORBIDDEN):
        raise ConfigError(f"cgroup: invalid {SPEC} key {key!r}; use a cgroup v2 file name "
                          "like 'memory.high' (not a path, not cgroup.procs/threads/kill)")


def apply(path: str, res: dict, ctx: Context) -> None:
    raw = res.get("unified") or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"cgroup: {SPEC} must be an object of file name to value")
    for key, value in raw.items():
        check_key(key)
        spec = f"{SPEC}[{key!r}]"
        if not isinstance(value, str):
            raise ConfigError(f"cgroup: {spec} must be a string, not {value!r}")
        if not exists(path, key):
            raise ConfigError(f"cgroup: cannot apply {spec}: {path}/{key} does not exist; "
                              f"{_why_missing(path, key)}")
        write(path, key, value, spec)


def _why_missing(path: str, key: str) -> str:
    ctrl = key.split(".", 1)[0]
    enabled = (read_opt(path, "cgroup.controllers") or "").split()
    if ctrl != "cgroup" and ctrl not in enabled:
        return f"the {ctrl} controller is not available to this cgroup (enabled: {' '.join(enabled) or 'none'})"
    return "check the file name against the kernel's cgroup v2 documentation"
