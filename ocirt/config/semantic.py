"""Checks the JSON Schema cannot express: cross-field rules runc enforces.

Each failure names the JSON path and says what to do, as one line.
"""
from __future__ import annotations

import os

from ..errors import ConfigError

RLIMITS = {
    "RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3,
    "RLIMIT_CORE": 4, "RLIMIT_RSS": 5, "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7,
    "RLIMIT_MEMLOCK": 8, "RLIMIT_AS": 9, "RLIMIT_LOCKS": 10, "RLIMIT_SIGPENDING": 11,
    "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13, "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
}
HOOK_STAGES = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")
NAMESPACE_TYPES = ("pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time")
PROPAGATIONS = ("", "private", "rprivate", "slave", "rslave", "shared", "rshared", "unbindable", "runbindable")
# sysctls that belong to the IPC namespace (runc's validator list)
IPC_SYSCTLS = ("kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
               "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced")


def _bad_string(s: str) -> str | None:
    if "\0" in s:
        return "contains a NUL byte"
    if not s.isascii():
        try:
            s.encode()
        except UnicodeEncodeError:
            return "is not valid UTF-8 (lone surrogate)"
    return None


def _strings(doc, path: str = ""):
    """Every string (keys too) in the document with its JSON path."""
    if isinstance(doc, str):
        yield path, doc
    elif isinstance(doc, dict):
        for k, v in doc.items():
            sub = f"{path}.{k}" if path else k
            yield sub, k
            yield from _strings(v, sub)
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _strings(v, f"{path}[{i}]")


class _Checker:
    def __init__(self, config: dict, path: str) -> None:
        self.c = config
        self.path = path
        linux = config.get("linux") or {}
        self.linux = linux
        self.ns = {}
        for i, ns in enumerate(linux.get("namespaces") or []):
            kind = ns.get("type")
            if kind in self.ns:
                self.fail(f"linux.namespaces[{i}]", f"duplicate namespace type {kind!r}; list each type once")
            self.ns[kind] = ns

    def fail(self, where: str, msg: str) -> None:
        raise ConfigError(f"{self.path}: {where}: {msg}")

    def private(self, kind: str) -> bool:
        """True when the container gets its own namespace of this kind."""
        ns = self.ns.get(kind)
        return ns is not None

    def run(self) -> None:
        self.strings()
        self.version()
        self.root()
        self.process()
        self.user_ns()
        self.uts()
        self.sysctl()
        self.mounts()
        self.paths()
        self.devices()
        self.hooks()
        self.cgroups_path()
        if self.linux.get("netDevices"):
            self.fail("linux.netDevices", "moving network devices into the container is not supported by ocirt; remove it and configure the network from a hook")
        if self.linux.get("rootfsPropagation", "") not in PROPAGATIONS:
            self.fail("linux.rootfsPropagation", f"unknown propagation {self.linux['rootfsPropagation']!r}")

    def strings(self) -> None:
        """No string may carry a NUL (the kernel would see a shorter path or
        name than the one checked) or a lone surrogate (not encodable)."""
        for where, value in _strings(self.c):
            problem = _bad_string(value)
            if problem:
                self.fail(where, f"string {problem}; remove it")

    def version(self) -> None:
        major = str(self.c.get("ociVersion", "")).split(".")[0]
        if major != "1":
            self.fail("ociVersion", f"unsupported version {self.c.get('ociVersion')!r}: ocirt implements runtime-spec 1.x")

    def cgroups_path(self) -> None:
        """Never the root of a hierarchy, never above it: delete kills every
        process in the container's cgroup and removes it with its children."""
        path = self.linux.get("cgroupsPath")
        if path is None:
            return
        parts = [p for p in path.replace(":", "/").split("/") if p]
        if ".." in parts or (path and not parts and path.strip()):
            self.fail("linux.cgroupsPath", f"{path!r} must name a cgroup below the hierarchy root, without '..'")

    def root(self) -> None:
        root = self.c.get("root")
        if not root or not root.get("path"):
            self.fail("root.path", "missing: set the path of the container's root filesystem")

    def process(self) -> None:
        proc = self.c.get("process")
        if proc is None:
            return
        if not proc.get("args"):
            self.fail("process.args", "args must not be empty: name the program to run")
        cwd = proc.get("cwd", "")
        if not cwd.startswith("/"):
            self.fail("process.cwd", f"cwd {cwd!r} must be an absolute path")
        seen = set()
        for i, rl in enumerate(proc.get("rlimits") or []):
            kind = rl.get("type")
            if kind not in RLIMITS:
                self.fail(f"process.rlimits[{i}].type", f"unknown rlimit {kind!r}")
            if kind in seen:
                self.fail(f"process.rlimits[{i}].type", f"duplicate rlimit {kind!r}")
            if rl.get("soft", 0) > rl.get("hard", 0):
                self.fail(f"process.rlimits[{i}]", f"soft limit of {kind} is above its hard limit")
            seen.add(kind)
        self.capabilities(proc.get("capabilities") or {})
        for i, env in enumerate(proc.get("env") or []):
            if "=" not in env:
                self.fail(f"process.env[{i}]", f"{env!r} is not of the form KEY=value")

    def capabilities(self, caps: dict) -> None:
        from ..capabilities import NUMBERS

        for kind in ("bounding", "effective", "permitted", "inheritable", "ambient"):
            for i, name in enumerate(caps.get(kind) or []):
                if name not in NUMBERS:
                    self.fail(f"process.capabilities.{kind}[{i}]", f"unknown capability {name!r}")

    def user_ns(self) -> None:
        userns = self.ns.get("user")
        maps = self.linux.get("uidMappings"), self.linux.get("gidMappings")
        if userns is not None and not userns.get("path"):
            if not maps[0]:
                self.fail("linux.uidMappings", "user namespaces enabled, but no uid mappings found")
            if not maps[1]:
                self.fail("linux.gidMappings", "user namespaces enabled, but no gid mappings found")
        elif userns is None and (maps[0] or maps[1]):
            self.fail("linux.uidMappings", "uid/gid mappings need a user namespace: add {\"type\": \"user\"} to linux.namespaces")

    def uts(self) -> None:
        for key in ("hostname", "domainname"):
            if self.c.get(key) and not self.private("uts"):
                self.fail(key, f"unable to set {key} without a private UTS namespace: add {{\"type\": \"uts\"}} to linux.namespaces")

    def sysctl(self) -> None:
        for key in self.linux.get("sysctl") or {}:
            where = f"linux.sysctl[{key!r}]"
            if key in IPC_SYSCTLS or key.startswith("fs.mqueue."):
                if not self.private("ipc"):
                    self.fail(where, "sysctl needs a private IPC namespace")
            elif key.startswith("net."):
                if not self.private("network"):
                    self.fail(where, "sysctl is not allowed in the host's network namespace")
            elif key in ("kernel.hostname", "kernel.domainname"):
                if not self.private("uts"):
                    self.fail(where, "sysctl needs a private UTS namespace")
            else:
                self.fail(where, "sysctl is not in a separate kernel namespace and would change the host; remove it")

    def mounts(self) -> None:
        for i, m in enumerate(self.c.get("mounts") or []):
            dest = m.get("destination") or ""
            if not dest.startswith("/"):
                self.fail(f"mounts[{i}].destination", f"mount destination {dest!r} must be an absolute path inside the container")
            if (m.get("uidMappings") or m.get("gidMappings")) and "idmap" not in (m.get("options") or []) \
                    and "ridmap" not in (m.get("options") or []):
                if m.get("type") not in (None, "bind", "none"):
                    self.fail(f"mounts[{i}]", "uidMappings/gidMappings are only supported on bind mounts")

    def paths(self) -> None:
        for key in ("maskedPaths", "readonlyPaths"):
            for i, p in enumerate(self.linux.get(key) or []):
                if not p.startswith("/"):
                    self.fail(f"linux.{key}[{i}]", f"{p!r} must be an absolute path")

    def devices(self) -> None:
        for i, d in enumerate(self.linux.get("devices") or []):
            if not d.get("path", "").startswith("/"):
                self.fail(f"linux.devices[{i}].path", "device path must be absolute")
            if d.get("type") != "p" and ("major" not in d or "minor" not in d):
                self.fail(f"linux.devices[{i}]", f"device {d.get('path')} of type {d.get('type')!r} needs major and minor")

    def hooks(self) -> None:
        hooks = self.c.get("hooks") or {}
        for stage in HOOK_STAGES:
            for i, h in enumerate(hooks.get(stage) or []):
                if not os.path.isabs(h.get("path", "")):
                    self.fail(f"hooks.{stage}[{i}].path", "hook path must be absolute")


def check(config: dict, path: str) -> None:
    _Checker(config, path).run()
