"""A seccomp profile shaped like a container engine's default one.

Shape: defaultAction SCMP_ACT_ERRNO, one large allow-list of ~300 syscall
names (every syscall of this architecture minus the privileged ones), a few
argument-filtered rules (personality, clone) and clone3 -> ENOSYS.  The names
come from the kernel UAPI header on this machine, so nothing is hard-coded
that could drift from the kernel.
"""
from __future__ import annotations

import platform
import re
from pathlib import Path

_HEADERS = {
    "x86_64": ["/usr/include/x86_64-linux-gnu/asm/unistd_64.h",
               "/usr/include/asm/unistd_64.h"],
    "aarch64": ["/usr/include/asm-generic/unistd.h"],
}
_ARCHES = {
    "x86_64": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    "aarch64": ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
}

# Syscalls a default container profile keeps out of reach of an
# unprivileged workload: module loading, clock setting, mount API,
# namespace juggling, tracing, keyrings, reboot and friends.
DENIED = frozenset("""
acct add_key bpf clock_adjtime clock_settime create_module delete_module
finit_module get_kernel_syms get_mempolicy init_module ioperm iopl kcmp
kexec_file_load kexec_load keyctl lookup_dcookie mbind mount move_pages
name_to_handle_at nfsservctl open_by_handle_at perf_event_open pivot_root
process_vm_readv process_vm_writev ptrace putpmsg getpmsg query_module
quotactl quotactl_fd reboot request_key set_mempolicy set_mempolicy_home_node
setns settimeofday swapon swapoff sysfs _sysctl umount2 unshare uselib
userfaultfd ustat vm86 vm86old vhangup afs_syscall tuxcall security
open_tree move_mount fsopen fsconfig fsmount fspick mount_setattr
memfd_secret personality clone clone3 syslog io_pgetevents
""".split())

# personality() values a normal libc issues (linux, linux32, UNAME26...).
_PERSONALITY_OK = [0, 8, 0x20000, 0x20008, 0xFFFFFFFF]
# Namespace-creating clone flags; a plain fork/thread clone has none of them.
_CLONE_NS_MASK = 0x7E020000
_ENOSYS = 38


def syscall_names() -> list[str]:
    """All syscall names of this machine's architecture, from the UAPI header."""
    for header in _HEADERS.get(platform.machine(), []):
        path = Path(header)
        if path.exists():
            text = path.read_text()
            names = re.findall(r"^#define __NR_(\w+)\s+\d+", text, re.M)
            return sorted(set(names))
    raise FileNotFoundError("no kernel syscall header (install linux-libc-dev)")


def _arg_rules() -> list[dict]:
    rules: list[dict[str, object]] = [{"names": ["personality"], "action": "SCMP_ACT_ALLOW",
              "args": [{"index": 0, "value": v, "op": "SCMP_CMP_EQ"}]}
             for v in _PERSONALITY_OK]
    rules.append({"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                  "args": [{"index": 0, "value": _CLONE_NS_MASK, "valueTwo": 0,
                            "op": "SCMP_CMP_MASKED_EQ"}]})
    # Let libc fall back from clone3 to the filtered clone.
    rules.append({"names": ["clone3"], "action": "SCMP_ACT_ERRNO",
                  "errnoRet": _ENOSYS})
    return rules


def default_like_profile() -> dict:
    """OCI `linux.seccomp` object: ~300 allowed names plus argument rules."""
    allowed = [n for n in syscall_names() if n not in DENIED]
    return {
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": _ARCHES.get(platform.machine(), []),
        "syscalls": [{"names": allowed, "action": "SCMP_ACT_ALLOW"},
                     *_arg_rules()],
    }


def rule_count(profile: dict) -> int:
    """Number of (syscall, condition) rules the runtime has to compile."""
    return sum(len(rule["names"]) for rule in profile["syscalls"])
