"""Device rules: building them from the spec, v1 file writes, and the v2
eBPF program, run here by a tiny interpreter of the instructions it uses."""

from __future__ import annotations

import struct

import pytest
import test_cgroups_fakefs as fakefs

from ocirt.cgroups import new_manager
from ocirt.cgroups.devices import ANY, DEFAULT_RULES, Rule, build_rules
from ocirt.cgroups.v2.devices import program
from ocirt.errors import ConfigError

fake_v1 = fakefs.fake_v1

DENY_ALL = {"allow": False, "access": "rwm"}
CHAR, BLOCK = 2, 1
MKNOD, READ, WRITE = 1, 2, 4


def run(prog: bytes, dev_type: int, access: int, major: int, minor: int) -> int:
    """Execute the device program for one access (only the opcodes we emit)."""
    ctx = struct.pack("<III", (access << 16) | dev_type, major, minor)
    regs = [0] * 11
    pc = 0
    insns = [struct.unpack_from("<BBhi", prog, i) for i in range(0, len(prog), 8)]
    while True:
        code, regbyte, off, imm = insns[pc]
        dst, src = regbyte & 0xF, regbyte >> 4
        pc += 1
        if code == 0x61:
            regs[dst] = struct.unpack_from("<I", ctx, off)[0]
        elif code == 0x54:
            regs[dst] &= imm
        elif code == 0x74:
            regs[dst] >>= imm
        elif code == 0xBC:
            regs[dst] = regs[src]
        elif code == 0xB7:
            regs[dst] = imm
        elif code == 0x55:
            pc += off if regs[dst] != imm else 0
        elif code == 0x5D:
            pc += off if regs[dst] != regs[src] else 0
        elif code == 0x95:
            return regs[0]
        else:
            raise AssertionError(f"unexpected opcode {code:#x}")


def test_default_rules_follow_spec_entries_and_devices():
    rules = build_rules([DENY_ALL], [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229},
                                     {"path": "/dev/fifo", "type": "p"}])
    assert rules[0] == Rule(False, "a", ANY, ANY, "rwm")
    assert rules[1:-1] == list(DEFAULT_RULES)
    assert rules[-1] == Rule(True, "c", 10, 229, "rwm")


@pytest.mark.parametrize("entry, msg", [({"access": "rwm"}, "allow must be"),
                                        ({"allow": True, "type": "x"}, "type"),
                                        ({"allow": True, "access": "rwx"}, "access"),
                                        ({"allow": True, "major": "8"}, "major")])
def test_invalid_rules(entry, msg):
    with pytest.raises(ConfigError, match=msg):
        build_rules([entry], None)


def test_v1_rule_lines():
    assert Rule(True, "c", 136, ANY, "rwm").v1() == "c 136:* rwm"
    assert Rule(False, "a", ANY, ANY, "rwm").v1() == "a"


def test_v1_writes_in_order(fake_v1, monkeypatch):
    import ocirt.cgroups.v1.devices as v1dev
    written = []
    monkeypatch.setattr(v1dev, "write", lambda path, name, value, spec=None: written.append((name, value)))
    m = new_manager("/c1", "c1")
    m.create({"devices": [DENY_ALL, {"allow": False, "type": "c", "major": 1, "minor": 3}]}, [])
    assert written[0] == ("devices.deny", "a")
    assert written[1] == ("devices.deny", "a")
    assert written[2] == ("devices.deny", "c 1:3 rwm")
    assert ("devices.allow", "c 136:* rwm") in written


def test_ebpf_default_policy():
    prog = program(build_rules([DENY_ALL], None))
    assert run(prog, CHAR, READ | WRITE, 1, 3) == 1  # /dev/null
    assert run(prog, CHAR, READ, 136, 7) == 1  # a pts
    assert run(prog, CHAR, READ, 1, 1) == 0  # /dev/mem
    assert run(prog, BLOCK, READ, 8, 0) == 0  # a disk
    assert run(prog, BLOCK, MKNOD, 8, 0) == 1  # mknod is allowed for all
    assert run(prog, BLOCK, MKNOD | READ, 8, 0) == 0


def test_ebpf_later_rule_wins():
    rules = build_rules([DENY_ALL, {"allow": True, "type": "b", "major": 8, "access": "r"},
                         {"allow": False, "type": "b", "major": 8, "minor": 1}], None)
    prog = program(rules)
    assert run(prog, BLOCK, READ, 8, 0) == 1
    assert run(prog, BLOCK, WRITE, 8, 0) == 0
    assert run(prog, BLOCK, READ, 8, 1) == 0


def test_ebpf_allow_all_then_deny():
    rules = [Rule(True, "a", ANY, ANY, "rwm"), Rule(False, "c", 1, 1, "rwm")]
    prog = program(rules)
    assert run(prog, CHAR, READ, 1, 1) == 0
    assert run(prog, BLOCK, WRITE, 259, 0) == 1


def test_ebpf_no_unreachable_code():
    # rules before an unconditional one are dropped (the verifier refuses dead code)
    short = program([Rule(True, "c", 1, 3, "rwm"), Rule(False, "a", ANY, ANY, "rwm")])
    assert len(short) // 8 == 6 + 2
