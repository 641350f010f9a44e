"""Helpers shared by the v1 and v2 cgroup managers: file I/O with errors that
name the file and value, mountinfo / /proc/self/cgroup parsing, path cleaning,
process listing and killing.

Only os, errno and time are imported here so that `import ocirt.cgroups` stays
cheap.
"""

from __future__ import annotations

import errno
import os
import time

from ocirt.errors import ConfigError, OcirtError

# Overridable by tests (fake cgroup trees in tmp dirs).
PROC_SELF = "/proc/self"


class Context:
    """What controller code needs besides the path: where to put warnings and
    whether this is `update` (some checks only apply then)."""

    def __init__(self, warnings: list[str], update: bool = False) -> None:
        self.warnings = warnings
        self.update = update

    def warn(self, msg: str) -> None:
        if msg not in self.warnings:
            self.warnings.append(msg)


def clean_path(path: str) -> str:
    """Normalise linux.cgroupsPath like runc: '..' can never climb above the
    root of the hierarchy (absolute) or of the runtime's own cgroup (relative)."""
    if not path:
        return ""
    is_abs = path.startswith("/")
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    joined = "/".join(parts)
    return "/" + joined if is_abs else joined


def join(root: str, *parts: str) -> str:
    """os.path.join that treats every part as relative to root."""
    rest = "/".join(p.strip("/") for p in parts if p.strip("/"))
    return root.rstrip("/") + "/" + rest if rest else root


def spec_error(spec: str, value: object, what: str, hint: str) -> ConfigError:
    return ConfigError(f"cgroup: cannot apply {spec}={value}: {what}; {hint}")


def write(path: str, name: str, value: object, spec: str | None = None) -> None:
    """Write one value to a cgroup file.  With `spec` (the JSON path of the
    resource) a kernel refusal is the user's input problem -> ConfigError."""
    fpath = path + "/" + name
    data = str(value)
    try:
        fd = os.open(fpath, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
    except OSError as e:
        raise _write_error(fpath, data, e, spec) from None
    try:
        os.write(fd, data.encode())
    except OSError as e:
        raise _write_error(fpath, data, e, spec) from None
    finally:
        os.close(fd)


def _write_error(fpath: str, data: str, e: OSError, spec: str | None) -> OcirtError:
    what = f"writing {data!r} to {fpath}: {e.strerror}"
    if spec is None:
        return OcirtError(f"cgroup: {what}")
    if e.errno == errno.ENOENT:
        hint = "the host kernel does not support it; remove it from config.json"
    elif e.errno == errno.EBUSY:
        hint = "the container's current usage or sub-cgroups conflict with it; choose another value"
    else:
        hint = "check the value against the host's limits and the parent cgroup"
    return ConfigError(f"cgroup: cannot apply {spec}: {what}; {hint}")


def read(path: str, name: str) -> str:
    fpath = path + "/" + name
    try:
        with open(fpath) as f:
            return f.read().strip()
    except OSError as e:
        raise OcirtError(f"cgroup: reading {fpath}: {e.strerror}") from None


def read_opt(path: str, name: str) -> str | None:
    """The file's content, or None when the kernel does not provide it."""
    try:
        with open(path + "/" + name) as f:
            return f.read().strip()
    except OSError:
        return None


def parse_uint(text: str | None) -> int:
    """A counter or limit as runc reports it: 'max' and absent read as 0, and
    v1's 'unlimited' sentinel values are kept as they are."""
    if not text or text == "max":
        return 0
    return int(text.split()[0])


def read_int(path: str, name: str) -> int:
    return parse_uint(read_opt(path, name))


def read_keyed(path: str, name: str) -> dict[str, int]:
    """A flat-keyed file ('key value' per line, e.g. memory.stat)."""
    out: dict[str, int] = {}
    for line in (read_opt(path, name) or "").splitlines():
        key, _, val = line.partition(" ")
        if val.strip().lstrip("-").isdigit():
            out[key] = int(val)
    return out


def read_psi(path: str, name: str) -> dict:
    """A pressure file as runc's PSIStats ({"some": {...}, "full": {...}},
    all-zero halves left out)."""
    out = {}
    for line in (read_opt(path, name) or "").splitlines():
        kind, *fields = line.split()
        data = {}
        for field in fields:
            key, _, value = field.partition("=")
            data[key] = int(value) if key == "total" else float(value)
        if any(data.values()):
            out[kind] = data
    return out


def exists(path: str, name: str) -> bool:
    return os.path.exists(path + "/" + name)


def mountinfo() -> list[tuple[str, str, str, str]]:
    """(root, mountpoint, fstype, super options) of every cgroup mount."""
    out = []
    with open(PROC_SELF + "/mountinfo") as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            fstype = fields[sep + 1]
            if fstype in ("cgroup", "cgroup2"):
                root, mnt = _unescape(fields[3]), _unescape(fields[4])
                out.append((root, mnt, fstype, fields[sep + 3]))
    return out


def _unescape(field: str) -> str:
    return field.replace("\\040", " ").replace("\\011", "\t").replace("\\134", "\\")


def own_cgroups() -> dict[str, str]:
    """/proc/self/cgroup as {controller list ('' for v2): path}."""
    out: dict[str, str] = {}
    with open(PROC_SELF + "/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            out[ctrls] = path
    return out


def relative_to_mount(own: str, mount_root: str) -> str:
    """The runtime's cgroup path as seen below a mount whose root may not be '/'
    (inside a cgroup namespace or a bind-mounted sub-tree)."""
    if mount_root != "/" and (own == mount_root or own.startswith(mount_root + "/")):
        return own[len(mount_root):]
    return own


def place(inner: str, mnt: str, root: str, own: str) -> str:
    """The container's dir in one hierarchy: an absolute inner path starts at
    the hierarchy's root, a relative one at the runtime's own cgroup."""
    if inner.startswith("/"):
        return join(mnt, inner)
    return join(mnt, relative_to_mount(own, root), inner)


def procs(path: str) -> list[int]:
    """The pids in a cgroup and all its descendants."""
    pids: list[int] = []
    for dirpath, _, _ in os.walk(path):
        text = read_opt(dirpath, "cgroup.procs")
        if text:
            pids.extend(int(p) for p in text.split())
    return pids


def kill_all(dirs: list[str], timeout: float = 10.0) -> None:
    """SIGKILL every process below `dirs` until none is left."""
    import _signal as signal  # not signal: its enums import enum (~5 ms)
    deadline = time.monotonic() + timeout
    while True:
        pids = set()
        for d in dirs:
            pids.update(procs(d))
        if not pids:
            return
        if time.monotonic() > deadline:
            raise OcirtError(f"cgroup: processes {sorted(pids)} survived SIGKILL in {dirs[0]}")
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.01)


def remove_tree(path: str, timeout: float = 5.0, keep_top: bool = False) -> None:
    """rmdir a cgroup (unless keep_top) and every sub-cgroup below it, leaves
    first.  A dir that is already gone is fine; one that stays busy is an
    error naming it."""
    if not os.path.isdir(path):
        return
    subdirs = [dirpath for dirpath, _, _ in os.walk(path)]
    for d in reversed(subdirs[1:] if keep_top else subdirs):
        _rmdir_retry(d, timeout)


def _rmdir_retry(path: str, timeout: float) -> None:
    # rmdir races with the exit of the last killed task: EBUSY for a moment.
    deadline = time.monotonic() + timeout
    while True:
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError as e:
            if e.errno != errno.EBUSY or time.monotonic() > deadline:
                raise OcirtError(f"cgroup: removing {path}: {e.strerror}") from None
            time.sleep(0.01)


class DirError(OcirtError):
    """mkdir of a cgroup failed; rootless mode may skip the hierarchy."""

    def __init__(self, path: str, err: OSError) -> None:
        super().__init__(f"cgroup: creating {path}: {err.strerror}")
        self.errno = err.errno
        self.strerror = err.strerror


def make_dirs(path: str, created: list[str]) -> None:
    """mkdir -p that records every directory it made (outermost first), so a
    failed create can remove exactly those."""
    for _ in range(3):
        try:
            _make_missing(path, created)
            return
        except FileNotFoundError:
            # a parent vanished under us: another container's destroy
            # removed the shared parent it had created; walk again
            continue
    _make_missing(path, created)


def _make_missing(path: str, created: list[str]) -> None:
    missing = []
    p = path
    while not os.path.isdir(p):
        missing.append(p)
        p = os.path.dirname(p)
    for d in reversed(missing):
        try:
            os.mkdir(d, 0o755)
        except FileExistsError:
            continue
        except FileNotFoundError:
            raise
        except OSError as e:
            raise DirError(d, e) from None
        created.append(d)


def remove_created(created: list[str]) -> None:
    """Undo make_dirs; parents other containers share may be busy: leave them."""
    for d in reversed(created):
        try:
            os.rmdir(d)
        except OSError:
            pass


def wait_for(check, what: str, timeout: float = 10.0) -> None:
    """Poll `check()` until it is true (freezing is asynchronous)."""
    deadline = time.monotonic() + timeout
    delay = 0.001
    while not check():
        if time.monotonic() > deadline:
            raise OcirtError(f"cgroup: timed out waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def parse_size(page: str, spec: str) -> str:
    """hugepageLimits pageSize ('2MB', '1GB', '64KB') as the kernel's file name
    part ('2MB'); validated so it can never form a path."""
    num = page[:-2]
    if not (num.isdigit() and page[-2:] in ("KB", "MB", "GB")):
        raise ConfigError(f"cgroup: invalid {spec}={page!r}; use a size like '2MB' or '1GB'")
    return page


def device_key(dev: dict, spec: str) -> str:
    """'major:minor' of a blockIO weightDevice / throttle entry."""
    try:
        return f"{int(dev['major'])}:{int(dev['minor'])}"
    except (KeyError, TypeError, ValueError):
        raise ConfigError(f"cgroup: {spec} needs integer 'major' and 'minor'") from None


def get_int(section: dict, key: str, spec: str, minimum: int | None = None) -> int | None:
    """An optional integer field of a resources object, type-checked."""
    value = section.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"cgroup: {spec}.{key} must be an integer, not {value!r}")
    if minimum is not None and value < minimum:
        raise ConfigError(f"cgroup: invalid {spec}.{key}={value}; the smallest allowed value is {minimum}")
    return value


def set_optional(path: str, sect: dict, key: str, fname: str, spec: str) -> None:
    """A field whose 0 is the kernel's default: a kernel without the file
    (e.g. cpu.idle before 5.15) is fine unless a non-zero value is asked."""
    value = get_int(sect, key, spec, 0)
    if value is None or value == 0 and not exists(path, fname):
        return
    write(path, fname, value, f"{spec}.{key}")


def require_one(entry: dict, keys: tuple[str, str], spec: str) -> None:
    """The spec's "MUST specify at least one of" rule on weightDevice and rdma entries."""
    if all(entry.get(k) is None for k in keys):
        raise ConfigError(f"cgroup: invalid {spec}: give {keys[0]} or {keys[1]} (or both)")


def check_burst(cpu: dict, spec: str, current_quota: int) -> int | None:
    """The burst to write, refused when above a positive quota (the spec's
    rule; the kernel only says EINVAL).  A missing or 0 quota is the current one."""
    burst = get_int(cpu, "burst", spec, 0)
    quota = get_int(cpu, "quota", spec, -1) or current_quota
    if burst and quota > 0 and burst > quota:
        raise ConfigError(f"cgroup: invalid {spec}.burst={burst}: larger than the quota {quota}; "
                          "burst must not exceed a positive quota")
    return burst


def write_burst_first(path: str, fname: str, burst: int | None, spec: str, write_quota) -> None:
    """Burst and quota bound each other in the kernel: burst first fits a
    lower quota, and when it does not fit the old quota, quota goes first
    (runc's order)."""
    if burst is None or burst == 0 and not exists(path, fname):
        write_quota()
        return
    try:
        write(path, fname, burst, spec + ".burst")
    except ConfigError:
        write_quota()
        write(path, fname, burst, spec + ".burst")
        return
    write_quota()


def section(res: dict, key: str) -> dict:
    """linux.resources.<key> as a dict ({} when absent)."""
    value = res.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"cgroup: linux.resources.{key} must be an object")
    return value


def requested(res: dict) -> list[tuple[str, str]]:
    """(controller, JSON path) for every resource the config sets."""
    need = []
    for key, ctrl in (("memory", "memory"), ("pids", "pids"), ("blockIO", "blkio"),
                      ("hugepageLimits", "hugetlb"), ("rdma", "rdma")):
        if res.get(key):
            need.append((ctrl, f"linux.resources.{key}"))
    cpu = res.get("cpu") or {}
    for key, value in cpu.items():
        if value not in (None, "", 0) or key == "idle" and value is not None:
            ctrl = "cpuset" if key in ("cpus", "mems") else "cpu"
            need.append((ctrl, f"linux.resources.cpu.{key}"))
    net = res.get("network") or {}
    if net.get("classID") is not None:
        need.append(("net_cls", "linux.resources.network.classID"))
    if net.get("priorities"):
        need.append(("net_prio", "linux.resources.network.priorities"))
    return need
