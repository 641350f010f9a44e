"""What the v1 and v2 managers share: state, pids, destroy, stats skeleton."""

from __future__ import annotations

import errno
import os

from ocirt.cgroups import common
from ocirt.errors import ConfigError, OcirtError


class Manager:
    """One container's cgroup(s).  Subclasses fill `paths` and implement the
    controller-specific operations."""

    version = 0

    def __init__(self, paths: dict[str, str], mounts: dict[str, str], rootless: bool = False,
                 created: list[str] | None = None) -> None:
        self.paths = paths  # hierarchy key ('' = unified) -> cgroup dir
        self.mounts = mounts  # hierarchy key -> where that hierarchy is mounted
        self.rootless = rootless
        self.created = created or []  # dirs we made, outermost first
        self.warnings: list[str] = []
        self._skipped: list[str] = []  # rootless: hierarchies left out, one warning for all

    def dirs(self) -> list[str]:
        """The distinct cgroup dirs (co-mounted controllers share one)."""
        return list(dict.fromkeys(self.paths.values()))

    def hierarchies(self) -> dict[str, str]:
        """{mount point name: container dir}, e.g. 'cpu,cpuacct' or 'unified':
        what a container's /sys/fs/cgroup shows (co-mounted controllers once)."""
        out: dict[str, str] = {}
        for key, path in self.paths.items():
            name = os.path.basename(self.mounts.get(key, "")) or key or "unified"
            out.setdefault(name, path)
        return out

    def to_state(self, planned: bool = False) -> dict:
        """What state.json keeps.  planned: before create, name as created
        every dir that does not exist yet, so that a runtime killed half-way
        through create leaves delete --force knowing what is its to remove
        (and what existed before, which delete keeps)."""
        created = self._missing_dirs() if planned else self.created
        return {"version": self.version, "paths": dict(self.paths), "mounts": dict(self.mounts),
                "rootless": self.rootless, "created": list(created)}

    def _missing_dirs(self) -> list[str]:
        """Dirs create would make: each path and its missing parents, outermost first."""
        missing: list[str] = []
        for path in self.dirs():
            chain = []
            while path not in ("", "/") and not os.path.isdir(path):
                chain.append(path)
                path = os.path.dirname(path)
            missing += [d for d in reversed(chain) if d not in missing]
        return missing

    def update(self, resources: dict) -> None:
        """`ocirt update`.  Device rules stay as created (runc's update has no
        devices either; rewriting them would briefly cut access)."""
        if resources.get("devices"):
            self.warnings.append("linux.resources.devices ignored: device rules cannot be updated")
        self._apply(resources, common.Context(self.warnings, update=True))

    def add_pid(self, pid: int) -> None:
        for d in self.dirs():
            common.write(d, "cgroup.procs", pid)

    def pids(self) -> list[int]:
        found: set[int] = set()
        for d in self.dirs():
            if os.path.isdir(d):
                found.update(common.procs(d))
        return sorted(found)

    def destroy(self) -> None:
        existing = [d for d in self.dirs() if os.path.isdir(d)]
        if not existing:
            common.remove_created(self.created)
            return
        if self.is_frozen():
            self.thaw()  # frozen (v1) tasks cannot act on SIGKILL
        common.kill_all(existing)
        for d in existing:
            # runtime.md: delete MUST NOT remove what create did not make: a
            # cgroup that already existed stays (its sub-cgroups, made from
            # inside the container, go)
            common.remove_tree(d, keep_top=d not in self.created)
        common.remove_created(self.created)

    def _undo_create(self) -> None:
        """A failed create leaves nothing behind (its own pids are none yet)."""
        for d in self.dirs():
            if d in self.created:
                try:
                    common.remove_tree(d, timeout=1.0)
                except OcirtError:
                    pass
        common.remove_created(self.created)

    def _make_dir(self, key: str, needed: bool) -> bool:
        """mkdir -p one hierarchy's dir; False when rootless mode skipped it."""
        path = self.paths[key]
        try:
            common.make_dirs(path, self.created)
        except common.DirError as err:
            if not (self.rootless and err.errno in (errno.EACCES, errno.EPERM, errno.EROFS)):
                raise
            self._rootless_skip(key, err.strerror or str(err), needed)
            return False
        if self.rootless and not os.access(path + "/cgroup.procs", os.W_OK):
            # an existing cgroup that is not delegated to us
            self._rootless_skip(key, "cgroup.procs is not writable", needed)
            return False
        if path not in self.created:
            # destroy kills everything below the container's cgroup: never
            # adopt one that other processes live in (runc refuses too)
            busy = common.procs(path)
            if busy:
                raise ConfigError(f"cgroup: linux.cgroupsPath names {path}, which already holds "
                                  f"{len(busy)} process(es) (e.g. pid {busy[0]}); use a new cgroup path")
        return True

    def _rootless_skip(self, key: str, why: str, needed: bool) -> None:
        """A hierarchy we may not write to: fine for rootless without limits."""
        if needed:
            raise ConfigError(f"cgroup: cannot create {self.paths[key]}: {why}; "
                              "cgroup resources need root or a delegated cgroup v2 "
                              "sub-tree; remove linux.resources or run as root")
        if not self._skipped:
            self.warnings.append("")
            self._skip_at = len(self.warnings) - 1
        self._skipped.append(key or "unified")
        self.warnings[self._skip_at] = (f"rootless: running without the cgroups it may not "
                                        f"write to ({why}): {', '.join(self._skipped)}")
        del self.paths[key]

    # Overridden by the v1 / v2 managers.
    def _apply(self, res: dict, ctx: common.Context) -> None:
        raise NotImplementedError

    def is_frozen(self) -> bool:
        raise NotImplementedError

    def thaw(self) -> None:
        raise NotImplementedError


# runc's CPUSet stats integers: printed even when zero.
CPUSET_FLAGS = ("cpu_exclusive", "mem_hardwall", "mem_exclusive", "memory_migrate",
                "memory_spread_page", "memory_spread_slab", "memory_pressure",
                "sched_load_balance", "sched_relax_domain_level")


def empty_stats() -> dict:
    """The skeleton of runc's events 'data' object (types.Stats): Go prints
    the fields without omitempty even when they are zero."""
    entry = {"limit": 0, "failcnt": 0}
    return {
        "cpu": {"usage": {"kernel": 0, "user": 0}, "throttling": {}},
        "cpuset": dict.fromkeys(CPUSET_FLAGS, 0),
        "memory": {"usage": dict(entry), "swap": dict(entry), "kernel": dict(entry),
                   "kernelTCP": dict(entry)},
        "pids": {},
        "blkio": {},
        "hugetlb": {},
    }


def omit_zero(st: dict) -> dict:
    """runc marks these structs `omitzero`: an all-zero one is left out."""
    for group, keys in (("cpu", ("usage", "throttling")),
                        ("memory", ("usage", "swap", "kernel", "kernelTCP"))):
        for key in keys:
            if not any(st[group].get(key, {}).values()):
                st[group].pop(key, None)
    return st
