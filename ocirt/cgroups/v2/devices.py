"""v2 devices: cgroup v2 has no devices files; access is decided by an eBPF
program of type BPF_PROG_TYPE_CGROUP_DEVICE attached to the cgroup.

The program is assembled here from the rules.  It sees a
struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; } where
access_type = (access << 16) | type.  Rules are checked last to first, the
first match decides (so a later rule overrides an earlier one), and when no
rule matches access is denied.
"""

from __future__ import annotations

import struct

from ocirt.cgroups.devices import ANY, Rule

# Kernel ABI constants (include/uapi/linux/bpf.h).
DEV_TYPE = {"b": 1, "c": 2}  # BPF_DEVCG_DEV_BLOCK / _CHAR
ACC = {"m": 1, "r": 2, "w": 4}  # BPF_DEVCG_ACC_MKNOD / _READ / _WRITE

LDX_W = 0x61  # BPF_LDX | BPF_MEM | BPF_W
AND32_K = 0x54  # BPF_ALU | BPF_AND | BPF_K
RSH32_K = 0x74  # BPF_ALU | BPF_RSH | BPF_K
MOV32_X = 0xBC  # BPF_ALU | BPF_MOV | BPF_X
MOV64_K = 0xB7  # BPF_ALU64 | BPF_MOV | BPF_K
JNE_K = 0x55  # BPF_JMP | BPF_JNE | BPF_K
JNE_X = 0x5D  # BPF_JMP | BPF_JNE | BPF_X
EXIT = 0x95  # BPF_JMP | BPF_EXIT


def insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, dst | (src << 4), off, imm)


# r2 = type, r3 = access, r4 = major, r5 = minor (r1 is the context).
PROLOGUE = (
    insn(LDX_W, 2, 1, 0),
    insn(AND32_K, 2, imm=0xFFFF),
    insn(LDX_W, 3, 1, 0),
    insn(RSH32_K, 3, imm=16),
    insn(LDX_W, 4, 1, 4),
    insn(LDX_W, 5, 1, 8),
)


def rule_block(rule: Rule) -> list[bytes]:
    """The instructions for one rule; every 'no match' jumps past the block."""
    checks: list[tuple[int, int, int]] = []  # (code, reg/src, imm): jump when not equal
    if rule.type != "a":
        checks.append((JNE_K, 2, DEV_TYPE[rule.type]))
    if set(rule.access) != set("rwm"):
        checks.append((-1, 0, sum(ACC[c] for c in rule.access)))
    if rule.major != ANY:
        checks.append((JNE_K, 4, rule.major))
    if rule.minor != ANY:
        checks.append((JNE_K, 5, rule.minor))
    body: list[tuple] = []
    for code, reg, imm in checks:
        if code == -1:
            # the requested access must be a subset of the rule's: (r3 & A) == r3
            body += [(MOV32_X, 1, 3, None, 0), (AND32_K, 1, 0, None, imm), (JNE_X, 1, 3, "next", 0)]
        else:
            body.append((code, reg, 0, "next", imm))
    body += [(MOV64_K, 0, 0, None, int(rule.allow)), (EXIT, 0, 0, None, 0)]
    out = []
    for pc, (code, dst, src, jump, imm) in enumerate(body):
        off = len(body) - pc - 1 if jump else 0
        out.append(insn(code, dst, src, off, imm))
    return out


def matches_all(rule: Rule) -> bool:
    return rule.type == "a" and set(rule.access) == set("rwm")


def program(rules: list[Rule]) -> bytes:
    insns = list(PROLOGUE)
    for rule in reversed(rules):
        insns.extend(rule_block(rule))
        if matches_all(rule):
            # the verifier rejects unreachable code: earlier rules never run
            return b"".join(insns)
    insns += [insn(MOV64_K, 0, imm=0), insn(EXIT)]
    return b"".join(insns)


def apply_rules(path: str, rules: list[Rule]) -> None:
    """Load the program, attach it to the cgroup, drop the one it replaces."""
    from ocirt.cgroups.v2 import bpf
    bpf.replace_device_program(path, program(rules))
