"""cgroup v1 manager: one directory per mounted controller hierarchy, plus
the unified (cgroup2) directory on a hybrid host."""

from __future__ import annotations

import importlib

from ocirt.cgroups import common
from ocirt.cgroups.base import Manager, empty_stats, omit_zero
from ocirt.errors import ConfigError, OcirtError

# Controllers runc's fs manager joins; the value is the module that applies
# resources and reads stats (None: join only).
SUBSYSTEMS = {
    "cpuset": "cpuset", "cpu": "cpu", "cpuacct": "cpuacct", "memory": "memory",
    "pids": "pids", "blkio": "blkio", "hugetlb": "hugetlb", "net_cls": "net_cls",
    "net_prio": "net_prio", "rdma": "rdma", "devices": None, "freezer": None,
    "perf_event": None, "misc": None, "name=systemd": None,
}


def _module(name: str):
    return importlib.import_module("ocirt.cgroups.v1." + name)


def resolve(inner: str, mounts: list, own: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """The container's dir in every v1 hierarchy and in the unified one (key
    ''), and where each of those hierarchies is mounted."""
    own_by_ctrl = {c: path for ctrls, path in own.items() for c in ctrls.split(",")}
    own_by_ctrl[""] = own.get("", "/")
    paths: dict[str, str] = {}
    mountpoints: dict[str, str] = {}
    for root, mnt, fstype, opts in mounts:
        keys = [""] if fstype == "cgroup2" else [c for c in opts.split(",") if c in SUBSYSTEMS]
        for key in keys:
            if key not in paths:  # a hierarchy bind-mounted twice: the first wins
                paths[key] = common.place(inner, mnt, root, own_by_ctrl.get(key, "/"))
                mountpoints[key] = mnt
    return paths, mountpoints


class V1Manager(Manager):
    version = 1

    def create(self, resources: dict | None, linux_devices: list | None = None) -> None:
        res = resources or {}
        try:
            self._check_mounted(res)  # before any mkdir: nothing to undo
            self._make_dirs(res)
            self._apply(res, common.Context(self.warnings))
            if not self.rootless:
                self._apply_devices(res, linux_devices)
        except BaseException:
            self._undo_create()
            raise

    def _check_mounted(self, res: dict) -> None:
        for ctrl, spec in common.requested(res):
            if ctrl in self.paths:
                continue
            if self.rootless:
                raise ConfigError(f"cgroup: cannot apply {spec}: this rootless container has no "
                                  f"{ctrl} cgroup it may write to; cgroup resources need root "
                                  "or a delegated cgroup v2 sub-tree")
            raise ConfigError(f"cgroup: cannot apply {spec}: the host has no {ctrl} cgroup "
                              "controller mounted; remove it from config.json")
        if res.get("unified") and "" not in self.paths:
            raise ConfigError("cgroup: cannot apply linux.resources.unified: the host has no "
                              "cgroup v2 hierarchy; remove it or use a cgroup v2 host")

    def _make_dirs(self, res: dict) -> None:
        needed = {ctrl for ctrl, _ in common.requested(res)}
        for key in list(self.paths):
            start = len(self.created)
            if not self._make_dir(key, key in needed or bool(key == "" and res.get("unified"))):
                continue
            if key == "cpuset":
                for d in self.created[start:]:
                    _module("cpuset").inherit(d)

    def _apply(self, res: dict, ctx: common.Context) -> None:
        if ctx.update:
            self._check_mounted(res)
        for ctrl, mod in SUBSYSTEMS.items():
            if mod and ctrl in self.paths:
                _module(mod).apply(self.paths[ctrl], res, ctx)
        if res.get("unified"):
            from ocirt.cgroups import hybrid
            hybrid.apply_unified(self.paths[""], res, ctx)

    def _apply_devices(self, res: dict, linux_devices: list | None) -> None:
        if "devices" not in self.paths:
            return
        from ocirt.cgroups.devices import build_rules
        rules = build_rules(res.get("devices"), linux_devices)
        _module("devices").apply_rules(self.paths["devices"], rules, common.Context(self.warnings))

    def _freezer(self):
        """(freezer module, dir): the v1 freezer or, on a hybrid host without
        it, the unified dir's cgroup.freeze (core cgroup2, no controller)."""
        if "freezer" in self.paths:
            return _module("freezer"), self.paths["freezer"]
        if "" in self.paths and common.exists(self.paths[""], "cgroup.freeze"):
            return importlib.import_module("ocirt.cgroups.v2.freezer"), self.paths[""]
        raise OcirtError("cgroup: the host has no freezer cgroup controller mounted; "
                         "pause/resume are not possible")

    def freeze(self) -> None:
        mod, path = self._freezer()
        mod.set_state(path, True)

    def thaw(self) -> None:
        mod, path = self._freezer()
        mod.set_state(path, False)

    def is_frozen(self) -> bool:
        try:
            mod, path = self._freezer()
        except OcirtError:
            return False
        return mod.is_frozen(path)

    def stats(self) -> dict:
        st = empty_stats()
        for ctrl, mod in SUBSYSTEMS.items():
            if mod and ctrl in self.paths and hasattr(_module(mod), "stats"):
                _module(mod).stats(self.paths[ctrl], st)
        return omit_zero(st)

    def oom_events(self):
        if "memory" not in self.paths:
            raise OcirtError("cgroup: the host has no memory cgroup controller mounted; "
                             "OOM events are not available")
        from ocirt.cgroups.oom import V1OomEvents
        return V1OomEvents(self.paths["memory"])
