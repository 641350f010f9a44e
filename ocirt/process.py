"""The container process: executable lookup, rlimits, user, capabilities, exec.

Runs in the container's init (or exec's joiner) after pivot_root.  Ordering
follows runc: bounding set dropped while privileged, capabilities kept
across setuid, then the final sets; no_new_privs before seccomp; seccomp is
the very last thing before execve.
"""
from __future__ import annotations

import os
import resource
import _signal as signal  # not signal: its enums import enum (~5 ms)

from . import capabilities, lsm, paths
from .config.model import Process
from .errors import OcirtError
from .linux import constants as c
from .linux import sys
from .linux.lists import parse_list

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class ExecError(OcirtError):
    """Wording engines map to exit codes: 127 not found, 126 permission."""


def close_inherited(keep: set[int], preserve_fds: int) -> None:
    """Really close every descriptor the runtime inherited from its caller
    (beyond stdio and --preserve-fds): close-on-exec is not enough, since
    before the exec a container path such as a cwd or args[0] of
    /proc/self/fd/N would still reach the host through it (CVE-2024-21626)."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd >= 3 + preserve_fds and fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass  # the listdir's own descriptor, already gone


def resolve_executable(proc: Process) -> str:
    """Find args[0] as execve would after PATH lookup, with runc's messages."""
    name = proc.args[0]
    if "/" in name:
        candidates = [name if name.startswith("/") else os.path.join(proc.cwd, name)]
    else:
        search = proc.env_value("PATH") or DEFAULT_PATH
        candidates = [os.path.join(d or ".", name) for d in search.split(":")]
    denied = None
    for path in candidates:
        try:
            st = os.stat(path)
        except OSError:
            continue
        if not (st.st_mode & 0o170000 == 0o100000):
            denied = path
            continue
        if not os.access(path, os.X_OK) and st.st_mode & 0o111 == 0:
            denied = path
            continue
        return path
    if denied:
        raise ExecError(f"exec: {name!r}: permission denied")
    if "/" in name:
        raise ExecError(f"exec: {name!r}: stat {name}: no such file or directory")
    raise ExecError(f"exec: {name!r}: executable file not found in $PATH")


def set_rlimits(proc: Process) -> None:
    for kind, soft, hard in proc.rlimits:
        try:
            resource.setrlimit(kind, (soft, hard))
        except (OSError, ValueError) as e:
            raise OcirtError(f"process.rlimits: cannot set rlimit {kind} to {soft}/{hard}: {e}") from None


def set_oom_score_adj(value: int | None) -> None:
    if value is None:
        return
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(str(value))
    except OSError as e:
        raise OcirtError(f"process.oomScoreAdj: cannot set {value}: {e.strerror}") from None


def enter_cwd(proc: Process) -> None:
    try:
        paths.chdir_in_root(proc.cwd)
    except OSError as e:
        raise OcirtError(f"process.cwd: chdir to cwd ({proc.cwd!r}) set in config.json failed: {e.strerror}") from None


def switch_user(proc: Process, setgroups_allowed: bool) -> None:
    u = proc.user
    if setgroups_allowed:
        os.setgroups(u.additional_gids)
    elif u.additional_gids:
        raise OcirtError("process.user.additionalGids: cannot set supplementary groups in a user namespace with setgroups denied")
    os.setresgid(u.gid, u.gid, u.gid)
    os.setresuid(u.uid, u.uid, u.uid)
    if u.umask is not None:
        os.umask(u.umask)
    else:
        os.umask(0o022)


def setgroups_allowed() -> bool:
    """False in a user namespace whose setgroups was denied (rootless single map)."""
    try:
        with open("/proc/self/setgroups") as f:
            return f.read().strip() != "deny"
    except OSError:
        return True


def set_home(proc: Process, env: list[str]) -> list[str]:
    """runc sets HOME from /etc/passwd when the config does not."""
    if proc.env_value("HOME") is not None:
        return env
    home = "/"
    try:
        with open("/etc/passwd") as f:
            for line in f:
                parts = line.split(":")
                if len(parts) > 5 and parts[2] == str(proc.user.uid):
                    home = parts[5]
                    break
    except OSError:
        pass
    return env + ["HOME=" + home]


SCHED_POLICIES = {"SCHED_OTHER": 0, "SCHED_FIFO": 1, "SCHED_RR": 2, "SCHED_BATCH": 3,
                  "SCHED_ISO": 4, "SCHED_IDLE": 5, "SCHED_DEADLINE": 6}
SCHED_FLAGS = {"SCHED_FLAG_RESET_ON_FORK": 0x01, "SCHED_FLAG_RECLAIM": 0x02,
               "SCHED_FLAG_DL_OVERRUN": 0x04, "SCHED_FLAG_KEEP_POLICY": 0x08,
               "SCHED_FLAG_KEEP_PARAMS": 0x10, "SCHED_FLAG_UTIL_CLAMP_MIN": 0x20,
               "SCHED_FLAG_UTIL_CLAMP_MAX": 0x40}
IOPRIO_CLASSES = {"IOPRIO_CLASS_RT": 1, "IOPRIO_CLASS_BE": 2, "IOPRIO_CLASS_IDLE": 3}
PERSONALITY_DOMAINS = {"LINUX": 0x0000, "LINUX32": 0x0008}
# linux/mempolicy.h
MPOL_MODES = {"MPOL_DEFAULT": 0, "MPOL_PREFERRED": 1, "MPOL_BIND": 2, "MPOL_INTERLEAVE": 3,
              "MPOL_LOCAL": 4, "MPOL_PREFERRED_MANY": 5, "MPOL_WEIGHTED_INTERLEAVE": 6}
MPOL_FLAGS = {"MPOL_F_STATIC_NODES": 1 << 15, "MPOL_F_RELATIVE_NODES": 1 << 14,
              "MPOL_F_NUMA_BALANCING": 1 << 13}
MPOL_NO_NODES = ("MPOL_DEFAULT", "MPOL_LOCAL")
MPOL_SOME_NODES = ("MPOL_BIND", "MPOL_INTERLEAVE", "MPOL_PREFERRED_MANY", "MPOL_WEIGHTED_INTERLEAVE")


def memory_policy_args(policy: dict) -> tuple[int, list[int]]:
    """(mode | flags, nodes) for set_mempolicy(2), with runc's rules on how many
    nodes each mode takes; ValueError(field, why) says what is wrong."""
    mode = policy.get("mode")
    if mode not in MPOL_MODES:
        raise ValueError("mode", f"{'required' if mode is None else f'unknown mode {mode!r}'}; "
                         f"use one of {', '.join(MPOL_MODES)}")
    try:
        nodes = parse_list(policy.get("nodes") or "", "node number")
    except ValueError as e:
        raise ValueError("nodes", str(e)) from None
    if mode in MPOL_NO_NODES and nodes:
        raise ValueError("nodes", f"{mode} takes no nodes; remove nodes")
    if mode in MPOL_SOME_NODES and not nodes:
        raise ValueError("nodes", f"{mode} needs at least one node, e.g. \"0\"")
    flags = 0
    for name in policy.get("flags") or []:
        if name not in MPOL_FLAGS:
            raise ValueError("flags", f"unknown flag {name!r}; use {', '.join(MPOL_FLAGS)}")
        flags |= MPOL_FLAGS[name]
    return MPOL_MODES[mode] | flags, nodes


def set_memory_policy(policy: dict | None) -> None:
    """linux.memoryPolicy: inherited by the process execve starts."""
    if policy is None:
        return
    try:
        mode, nodes = memory_policy_args(policy)
        sys.set_mempolicy(mode, nodes)
    except ValueError as e:
        raise OcirtError(f"linux.memoryPolicy.{e.args[0]}: {e.args[1]}") from None
    except OSError as e:
        raise OcirtError(f"linux.memoryPolicy: set_mempolicy({policy.get('mode')}, nodes "
                         f"{policy.get('nodes') or 'none'!r}) failed: {e.strerror}; the nodes must be "
                         "online and allowed by the container's cpuset.mems") from None


def set_attributes(proc: Process, personality: dict | None) -> None:
    """Scheduler, I/O priority and personality: while still privileged,
    since real-time policies need CAP_SYS_NICE."""
    sch = proc.scheduler
    try:
        if sch:
            flags = 0
            for name in sch.get("flags") or []:
                flags |= SCHED_FLAGS[name]
            sys.sched_setattr(SCHED_POLICIES[sch["policy"]], flags, sch.get("nice", 0),
                              sch.get("priority", 0), sch.get("runtime", 0),
                              sch.get("deadline", 0), sch.get("period", 0))
        if proc.io_priority:
            io = proc.io_priority
            sys.ioprio_set(1, 0, IOPRIO_CLASSES[io["class"]] << 13 | io.get("priority", 0))
        if personality:
            sys.personality(PERSONALITY_DOMAINS[personality["domain"]])
    except KeyError as e:
        raise OcirtError(f"process: unknown value {e.args[0]!r} in scheduler/ioPriority/personality") from None
    except OSError as e:
        raise OcirtError(f"process: cannot apply scheduler/ioPriority/personality: {e.strerror}") from None


def become(proc: Process, seccomp_filter, setgroups_allowed: bool, exe: str,
           on_listener=None, personality: dict | None = None) -> None:
    """Turn this process into the container process and execve. Never returns.

    on_listener(fd) hands a seccomp notify listener to the runtime, which
    forwards it to linux.seccomp.listenerPath (the container cannot reach it)."""
    set_attributes(proc, personality)
    set_memory_policy(proc.memory_policy)
    lsm.apply_exec_labels(proc.apparmor, proc.selinux)
    caps = capabilities.CapSets(proc.capabilities)
    capabilities.drop_bounding(caps)
    if proc.no_new_privileges:
        sys.prctl(c.PR_SET_NO_NEW_PRIVS, 1)
    if seccomp_filter is not None and not proc.no_new_privileges:
        # Without no_new_privs loading needs CAP_SYS_ADMIN: do it before dropping caps.
        _load_seccomp(seccomp_filter, on_listener)
    capabilities.keep_across_setuid(True)
    switch_user(proc, setgroups_allowed)
    capabilities.keep_across_setuid(False)
    capabilities.apply(caps)
    env = set_home(proc, proc.env)
    # Python ignores SIGPIPE and SIGXFSZ; ignored signals survive execve.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
    if seccomp_filter is not None and proc.no_new_privileges:
        _load_seccomp(seccomp_filter, on_listener)
    os.execve(exe, proc.args, _env_dict(env))


def _load_seccomp(f, on_listener) -> None:
    from . import seccomp

    fd = seccomp.load(f)
    if fd is not None:
        if on_listener is not None:
            on_listener(fd)
        os.close(fd)


def _env_dict(env: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in env:
        key, _, value = item.partition("=")
        out[key] = value
    return out
