"""Typed records the executor works from, converted once from config.json.

The executor never reads the raw dict: every default and unit conversion
happens here, so the rest of the runtime sees one shape (runc's specconv).
"""
from __future__ import annotations

import os

from ..linux import constants as c
from . import mountopts
from ..hooks import convert_hooks
from .semantic import RLIMITS

NS_FLAGS = {
    "pid": c.CLONE_NEWPID, "network": c.CLONE_NEWNET, "mount": c.CLONE_NEWNS,
    "ipc": c.CLONE_NEWIPC, "uts": c.CLONE_NEWUTS, "user": c.CLONE_NEWUSER,
    "cgroup": c.CLONE_NEWCGROUP, "time": c.CLONE_NEWTIME,
}
# /proc/<pid>/ns/<name> for each spec namespace type
NS_PROC_NAMES = {
    "pid": "pid", "network": "net", "mount": "mnt", "ipc": "ipc", "uts": "uts",
    "user": "user", "cgroup": "cgroup", "time": "time",
}


class Mount:
    __slots__ = ("destination", "type", "source", "options", "flags", "propagation",
                 "data", "extensions", "rec_set", "rec_clr", "uid_mappings", "gid_mappings")

    def __init__(self, m: dict) -> None:
        # a relative destination (deprecated) is relative to the container's /
        dest = m["destination"]
        self.destination: str = dest if dest.startswith("/") else "/" + dest
        self.type: str = m.get("type") or ""
        self.source: str = m.get("source") or ""
        self.options: list[str] = list(m.get("options") or [])
        self.flags, self.propagation, data, self.extensions = mountopts.parse(self.options)
        self.data = ",".join(data)
        # recursive attributes (rro, rnosuid, ...) for mount_setattr(AT_RECURSIVE)
        self.rec_set, self.rec_clr = mountopts.recursive_attrs(self.options)
        self.uid_mappings: list = m.get("uidMappings") or []
        self.gid_mappings: list = m.get("gidMappings") or []
        if self.type == "bind":
            self.flags |= c.MS_BIND

    @property
    def is_bind(self) -> bool:
        return bool(self.flags & c.MS_BIND)


class User:
    __slots__ = ("uid", "gid", "umask", "additional_gids")

    def __init__(self, u: dict) -> None:
        self.uid: int = u.get("uid", 0)
        self.gid: int = u.get("gid", 0)
        self.umask: int | None = u.get("umask")
        self.additional_gids: list[int] = list(u.get("additionalGids") or [])


class Process:
    __slots__ = ("args", "env", "cwd", "user", "terminal", "console_size", "capabilities",
                 "rlimits", "no_new_privileges", "apparmor", "selinux", "oom_score_adj",
                 "io_priority", "scheduler", "memory_policy")

    def __init__(self, p: dict) -> None:
        self.args: list[str] = list(p.get("args") or [])
        self.env: list[str] = list(p.get("env") or [])
        self.cwd: str = p.get("cwd") or "/"
        self.user = User(p.get("user") or {})
        self.terminal: bool = bool(p.get("terminal"))
        size = p.get("consoleSize") or {}
        self.console_size: tuple[int, int] | None = (size["height"], size["width"]) if size else None
        self.capabilities: dict | None = p.get("capabilities")
        self.rlimits: list[tuple[int, int, int]] = [
            (RLIMITS[r["type"]], r["soft"], r["hard"]) for r in p.get("rlimits") or []]
        self.no_new_privileges: bool = bool(p.get("noNewPrivileges"))
        self.apparmor: str = p.get("apparmorProfile") or ""
        self.selinux: str = p.get("selinuxLabel") or ""
        self.oom_score_adj: int | None = p.get("oomScoreAdj")
        self.io_priority: dict | None = p.get("ioPriority")
        self.scheduler: dict | None = p.get("scheduler")
        # linux.memoryPolicy, filled in by Config: set_mempolicy(2) is per process
        self.memory_policy: dict | None = None

    def env_value(self, key: str) -> str | None:
        prefix = key + "="
        for item in self.env:
            if item.startswith(prefix):
                return item[len(prefix):]
        return None


class Config:
    """Everything create needs, resolved against the bundle directory."""

    __slots__ = ("bundle", "rootfs", "readonly_root", "process", "hostname", "domainname",
                 "mounts", "namespaces", "uid_mappings", "gid_mappings", "devices",
                 "masked_paths", "readonly_paths", "sysctl", "rootfs_propagation", "hooks",
                 "seccomp", "resources", "cgroups_path", "mount_label", "annotations",
                 "personality", "time_offsets", "oci_version", "net_devices")

    def __init__(self, raw: dict, bundle: str) -> None:
        linux = raw.get("linux") or {}
        root = raw["root"]
        self.oci_version: str = raw.get("ociVersion", "")
        self.bundle = bundle
        self.rootfs = os.path.realpath(os.path.join(bundle, root["path"]))
        self.readonly_root = bool(root.get("readonly"))
        proc = raw.get("process")
        self.process: Process | None = Process(proc) if proc is not None else None
        self.hostname: str | None = raw.get("hostname")
        self.domainname: str | None = raw.get("domainname")
        self.mounts = [Mount(m) for m in raw.get("mounts") or []]
        # type -> path ("" for a new namespace)
        self.namespaces: dict[str, str] = {
            ns["type"]: ns.get("path") or "" for ns in linux.get("namespaces") or []}
        self.uid_mappings: list[dict] = linux.get("uidMappings") or []
        self.gid_mappings: list[dict] = linux.get("gidMappings") or []
        self.devices: list[dict] = linux.get("devices") or []
        self.masked_paths: list[str] = linux.get("maskedPaths") or []
        self.readonly_paths: list[str] = linux.get("readonlyPaths") or []
        self.sysctl: dict[str, str] = linux.get("sysctl") or {}
        self.rootfs_propagation: str = linux.get("rootfsPropagation") or ""
        self.hooks = convert_hooks(raw.get("hooks"))
        self.seccomp: dict | None = linux.get("seccomp")
        self.resources: dict | None = linux.get("resources")
        self.cgroups_path: str | None = linux.get("cgroupsPath")
        self.mount_label: str = linux.get("mountLabel") or ""
        self.annotations: dict = raw.get("annotations") or {}
        self.personality: dict | None = linux.get("personality")
        self.time_offsets: dict = linux.get("timeOffsets") or {}
        self.net_devices: dict[str, dict] = linux.get("netDevices") or {}
        if self.process is not None:
            self.process.memory_policy = linux.get("memoryPolicy")

    def new_namespaces(self) -> int:
        """clone flags for the namespaces the container creates (no path given)."""
        flags = 0
        for kind, path in self.namespaces.items():
            if not path:
                flags |= NS_FLAGS[kind]
        return flags

    def joined_namespaces(self) -> list[tuple[str, str]]:
        return [(kind, path) for kind, path in self.namespaces.items() if path]


def convert(raw: dict, bundle: str) -> Config:
    return Config(raw, os.path.abspath(bundle))
