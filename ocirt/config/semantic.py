"""Checks the JSON Schema cannot express: cross-field rules runc enforces.

Each failure names the JSON path and says what to do, as one line.
What the spec says to ignore with a warning (a relative mount destination,
an unknown capability name) is logged here, once, at create.
"""
from __future__ import annotations

import os

from .. import log
from ..errors import ConfigError
from ..hooks import HOOK_STAGES

RLIMITS = {
    "RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3,
    "RLIMIT_CORE": 4, "RLIMIT_RSS": 5, "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7,
    "RLIMIT_MEMLOCK": 8, "RLIMIT_AS": 9, "RLIMIT_LOCKS": 10, "RLIMIT_SIGPENDING": 11,
    "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13, "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
}
NAMESPACE_TYPES = ("pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time")
PROPAGATIONS = ("", "private", "rprivate", "slave", "rslave", "shared", "rshared", "unbindable", "runbindable")
_ALNUM_HYPHEN = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-")
IDMAP_OPTIONS = ("idmap", "ridmap")
# sysctls that belong to the IPC namespace (runc's validator list)
IPC_SYSCTLS = ("kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
               "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced")


def _numeric(part: str) -> bool:
    """A SemVer numeric identifier: ASCII digits, no leading zero."""
    return part.isascii() and part.isdigit() and (part == "0" or part[0] != "0")


def _identifiers(text: str, numeric_rule: bool) -> bool:
    """Dot-separated non-empty [0-9A-Za-z-] identifiers; with numeric_rule
    (pre-release) an all-digit one must not have a leading zero."""
    for ident in text.split("."):
        if not ident or not _ALNUM_HYPHEN.issuperset(ident):
            return False
        if numeric_rule and ident.isdigit() and not _numeric(ident):
            return False
    return True


def semver_major(version: str) -> str | None:
    """MAJOR of a SemVer 2.0.0 version (semver.org's grammar), None if it is
    not one; written out by hand because `re` costs create ~6 ms to import."""
    version, plus, build = version.partition("+")
    if plus and not _identifiers(build, False):
        return None
    core, dash, pre = version.partition("-")
    if dash and not _identifiers(pre, True):
        return None
    parts = core.split(".")
    if len(parts) != 3 or not all(_numeric(p) for p in parts):
        return None
    return parts[0]


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
        self.annotations()
        self.namespace_paths()
        self.net_devices()
        self.intel_rdt()
        self.memory_policy()
        self.personality()
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
        version = self.c.get("ociVersion", "")
        major = semver_major(version)
        if major is None:
            self.fail("ociVersion", f"{version!r} is not a SemVer 2.0.0 version: write MAJOR.MINOR.PATCH, e.g. \"1.2.0\"")
        if major != "1":
            self.fail("ociVersion", f"unsupported version {version!r}: ocirt implements runtime-spec 1.x")

    def annotations(self) -> None:
        """Values are strings (the schema checks that); keys must not be empty."""
        if "" in (self.c.get("annotations") or {}):
            self.fail('annotations[""]', "an annotation key is empty: name it, e.g. com.example.key")

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
                self.fail(f"process.rlimits[{i}].type", f"duplicate rlimit {kind!r}: list each type once")
            if rl.get("soft", 0) > rl.get("hard", 0):
                self.fail(f"process.rlimits[{i}]", f"soft limit of {kind} is above its hard limit")
            seen.add(kind)
        self.capabilities(proc.get("capabilities") or {})
        from ..lsm import selinux_enabled

        if proc.get("selinuxLabel") and not selinux_enabled():
            # runc refuses it too rather than run the process unlabelled
            self.fail("process.selinuxLabel", "SELinux is not enabled on this host; remove the label")
        for i, env in enumerate(proc.get("env") or []):
            if "=" not in env:
                self.fail(f"process.env[{i}]", f"{env!r} is not of the form KEY=value")

    def capabilities(self, caps: dict) -> None:
        """The spec wants a name that cannot be mapped or granted logged as a
        warning, not an error (runc: "ignoring unknown or unavailable
        capabilities").  Unknown names are dropped from the config here, so
        nothing after (the init, a later exec) sees them; names this kernel
        lacks are left out by capabilities.mask."""
        from ..capabilities import NUMBERS, SETS, last_cap

        ignored: list[str] = []
        for kind in SETS:
            names = caps.get(kind) or []
            ignored += [n for n in names if n not in NUMBERS or NUMBERS[n] > last_cap()]
            if any(n not in NUMBERS for n in names):
                caps[kind] = [n for n in names if n in NUMBERS]
        if ignored:
            log.warn(f"{self.path}: process.capabilities: ignoring unknown or unavailable capabilities: "
                     f"{', '.join(sorted(set(ignored)))}")

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
            if not dest:
                self.fail(f"mounts[{i}].destination", "empty: name the path inside the container")
            if not dest.startswith("/"):
                # the spec (Linux) takes it relative to "/", as runc does
                log.warn(f"{self.path}: mounts[{i}].destination: {dest!r} is relative, mounted at "
                         f"{'/' + dest!r}; relative destinations are deprecated, make it absolute")
            self.idmapped_mount(i, m)

    def idmapped_mount(self, i: int, m: dict) -> None:
        """uidMappings/gidMappings and the idmap/ridmap options (config.md,
        "POSIX-platform Mounts" and "Linux mount options")."""
        where = f"mounts[{i}]"
        uid, gid = m.get("uidMappings"), m.get("gidMappings")
        if bool(uid) != bool(gid):
            missing = "gidMappings" if uid else "uidMappings"
            self.fail(f"{where}.{missing}", "uidMappings and gidMappings of a mount go together: give both or neither")
        options = m.get("options") or []
        if not uid and not any(o in IDMAP_OPTIONS for o in options):
            return
        if not uid:
            self.fail(f"{where}.options", "idmap/ridmap need the mount's own uidMappings and gidMappings "
                      "(ocirt does not take the container's user namespace mapping); add them")
        if m.get("type") != "bind" and "bind" not in options and "rbind" not in options:
            self.fail(where, "id-mapped mounts are only supported on bind mounts: add \"bind\" or \"rbind\" to options")
        userns = self.ns.get("user")
        if userns is not None:
            self.fail(where, "id-mapped mounts in a container with a user namespace are not supported by ocirt; "
                      "drop the mount's uidMappings/gidMappings or the user namespace")

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

    # --- config-linux.md: namespaces paths, netDevices, intelRdt, memoryPolicy
    def namespace_paths(self) -> None:
        for i, ns in enumerate(self.linux.get("namespaces") or []):
            path = ns.get("path")
            if path and not path.startswith("/"):
                self.fail(f"linux.namespaces[{i}].path", f"{path!r} must be an absolute path in the runtime's "
                          "mount namespace, e.g. /proc/<pid>/ns/net")

    def net_devices(self) -> None:
        """runc's rules: a network namespace to move into, names the kernel takes."""
        devices = self.linux.get("netDevices") or {}
        if devices and "network" not in self.ns:
            self.fail("linux.netDevices", "moving network devices needs a network namespace: add "
                      "{\"type\": \"network\"} to linux.namespaces")
        for name, dev in devices.items():
            where = f"linux.netDevices[{name!r}]"
            for at, value in ((where, name), (where + ".name", (dev or {}).get("name") or name)):
                if not _valid_ifname(value):
                    self.fail(at, f"{value!r} is not a valid interface name: 1 to 15 bytes, no '/', ':' "
                              "or whitespace, not '.' or '..'")

    def intel_rdt(self) -> None:
        """The spec wants an error without a resctrl mount; with one, ocirt
        still cannot assign the container, so it refuses rather than ignore it."""
        if self.linux.get("intelRdt") is None:
            return
        if not _resctrl_mounted():
            self.fail("linux.intelRdt", "Intel RDT is requested but no resctrl filesystem is mounted "
                      "(mount -t resctrl resctrl /sys/fs/resctrl on a CPU with RDT); remove linux.intelRdt")
        self.fail("linux.intelRdt", "Intel RDT is not supported by ocirt; remove linux.intelRdt")

    def memory_policy(self) -> None:
        policy = self.linux.get("memoryPolicy")
        if policy is None:
            return
        from ..process import memory_policy_args

        try:
            memory_policy_args(policy)
        except ValueError as e:
            self.fail(f"linux.memoryPolicy.{e.args[0]}", e.args[1])

    def personality(self) -> None:
        """The spec defines no flags yet; runc ignores them with a warning too."""
        flags = (self.linux.get("personality") or {}).get("flags")
        if flags:
            log.warn(f"{self.path}: linux.personality.flags: ignoring {', '.join(map(str, flags))}: "
                     "no personality flags are supported")


def _valid_ifname(name: str) -> bool:
    """The kernel's dev_valid_name()."""
    return 0 < len(name.encode()) < 16 and name not in (".", "..") \
        and not any(ch == "/" or ch == ":" or ch.isspace() for ch in name)


def _resctrl_mounted() -> bool:
    try:
        with open("/proc/self/mountinfo") as f:
            return any(line.split(" - ", 1)[-1].startswith("resctrl ") for line in f)
    except OSError:
        return False


def check(config: dict, path: str) -> None:
    _Checker(config, path).run()
