"""cgroup v2 manager: one directory in the unified hierarchy."""

from __future__ import annotations

import importlib
import os

from ocirt.cgroups import common
from ocirt.cgroups.base import Manager, empty_stats, omit_zero
from ocirt.errors import ConfigError, OcirtError

# Applied in this order; unified comes last so raw keys override.
CONTROLLERS = ("cpuset", "cpu", "memory", "pids", "io", "hugetlb", "rdma", "unified")
STATS = ("cpu", "cpuset", "memory", "pids", "io", "hugetlb")
# v1 names (common.requested) -> v2 names
V2_NAME = {"blkio": "io"}


def _module(name: str):
    return importlib.import_module("ocirt.cgroups.v2." + name)


class V2Manager(Manager):
    version = 2

    def __init__(self, paths: dict[str, str], mounts: dict[str, str], rootless: bool = False,
                 created: list[str] | None = None) -> None:
        super().__init__(paths, mounts, rootless, created)
        self.mountpoint = mounts.get("", "/sys/fs/cgroup")
        self._enable_errors: dict[str, str] = {}

    @property
    def path(self) -> str:
        if "" not in self.paths:
            raise OcirtError("cgroup: this rootless container has no cgroup of its own")
        return self.paths[""]

    def create(self, resources: dict | None, linux_devices: list | None = None) -> None:
        res = resources or {}
        needed = bool(common.requested(res) or res.get("unified"))
        try:
            if not self._make_dir("", needed):
                return
            self._enable_controllers()
            self._apply(res, common.Context(self.warnings))
            self._apply_devices(res, linux_devices)
        except BaseException:
            self._undo_create()
            raise

    def _enable_controllers(self) -> None:
        """Make every available controller usable in the new cgroup: each
        ancestor from the root down enables them for its children."""
        rel = os.path.relpath(self.path, self.mountpoint).split("/")
        for depth in range(len(rel)):
            parent = common.join(self.mountpoint, *rel[:depth])
            wanted = set((common.read_opt(parent, "cgroup.controllers") or "").split())
            enabled = set((common.read_opt(parent, "cgroup.subtree_control") or "").split())
            for ctrl in sorted(wanted - enabled):
                try:
                    common.write(parent, "cgroup.subtree_control", "+" + ctrl)
                except OcirtError as e:
                    # e.g. the parent has processes of its own; reported only
                    # when a resource needs this controller.
                    self._enable_errors.setdefault(ctrl, str(e))

    def _check_available(self, res: dict, ctx: common.Context) -> None:
        available = set((common.read_opt(self.path, "cgroup.controllers") or "").split())
        for ctrl, spec in common.requested(res):
            ctrl = V2_NAME.get(ctrl, ctrl)
            if ctrl in ("net_cls", "net_prio"):
                ctx.warn(f"{spec} ignored: cgroup v2 has no network controllers")
            elif ctrl not in available:
                why = self._enable_errors.get(ctrl, "the kernel or the parent cgroup does not offer it")
                raise ConfigError(f"cgroup: cannot apply {spec}: the {ctrl} controller is not "
                                  f"available in {self.path} ({why}); remove it or enable "
                                  "the controller in the parent's cgroup.subtree_control")

    def _apply(self, res: dict, ctx: common.Context) -> None:
        self._check_available(res, ctx)
        for name in CONTROLLERS:
            _module(name).apply(self.path, res, ctx)

    def _apply_devices(self, res: dict, linux_devices: list | None) -> None:
        from ocirt.cgroups.devices import build_rules
        rules = build_rules(res.get("devices"), linux_devices)
        try:
            _module("devices").apply_rules(self.path, rules)
        except OcirtError as e:
            if not self.rootless:
                raise
            self.warnings.append(f"rootless: device rules not enforced by the cgroup ({e})")

    def freeze(self) -> None:
        _module("freezer").set_state(self.path, True)

    def thaw(self) -> None:
        _module("freezer").set_state(self.path, False)

    def is_frozen(self) -> bool:
        path = self.paths.get("", "")
        return os.path.isdir(path) and _module("freezer").is_frozen(path)

    def destroy(self) -> None:
        # cgroup.kill (5.14+) kills the whole sub-tree at once, frozen or not.
        path = self.paths.get("", "")
        if path and common.exists(path, "cgroup.kill"):
            try:
                common.write(path, "cgroup.kill", 1)
            except OcirtError:
                pass
        super().destroy()

    def stats(self) -> dict:
        st = empty_stats()
        for name in STATS:
            _module(name).stats(self.path, st)
        for group, fname in (("cpu", "cpu.pressure"), ("memory", "memory.pressure"),
                             ("blkio", "io.pressure")):
            psi = common.read_psi(self.path, fname)
            if psi:
                st[group]["psi"] = psi
        return omit_zero(st)

    def oom_events(self):
        from ocirt.cgroups.oom import V2OomEvents
        return V2OomEvents(self.path)

