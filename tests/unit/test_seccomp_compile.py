"""Compiling seccomp profiles: validation, warnings, flags and features (no filter is loaded)."""

import pytest

from ocirt import seccomp
from ocirt.errors import ConfigError

BPF_RET_K = 0x06


def profile(*syscalls: dict, **extra) -> dict:
    return {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": list(syscalls), **extra}


def rule(action: str = "SCMP_ACT_ERRNO", names=("mkdir",), **extra) -> dict:
    return {"names": list(names), "action": action, **extra}


def return_values(compiled: seccomp.CompiledFilter) -> set[int]:
    """The k of every `ret` instruction: the actions the program can take."""
    values = set()
    for off in range(0, len(compiled.bpf), 8):
        insn = compiled.bpf[off : off + 8]
        if int.from_bytes(insn[0:2], "little") == BPF_RET_K:
            values.add(int.from_bytes(insn[4:8], "little"))
    return values


def config_error(spec: dict) -> str:
    with pytest.raises(ConfigError) as info:
        seccomp.compile_filter(spec)
    return str(info.value)


@pytest.mark.parametrize(
    "action, ret",
    [
        ("SCMP_ACT_KILL", 0x00000000),
        ("SCMP_ACT_KILL_THREAD", 0x00000000),
        ("SCMP_ACT_KILL_PROCESS", 0x80000000),
        ("SCMP_ACT_TRAP", 0x00030000),
        ("SCMP_ACT_ERRNO", 0x00050001),
        ("SCMP_ACT_TRACE", 0x7FF00001),
        ("SCMP_ACT_LOG", 0x7FFC0000),
    ],
)
def test_each_action_compiles_to_its_return_value(action, ret):
    compiled = seccomp.compile_filter(profile(rule(action)))
    assert ret in return_values(compiled)
    assert len(compiled.bpf) % 8 == 0
    assert compiled.warnings == []
    assert not compiled.uses_notify


def test_errno_ret_is_the_data_of_errno_and_trace():
    compiled = seccomp.compile_filter(
        profile(rule("SCMP_ACT_ERRNO", errnoRet=22), rule("SCMP_ACT_TRACE", ["rmdir"], errnoRet=7))
    )
    assert {0x00050016, 0x7FF00007} <= return_values(compiled)


def test_default_errno_ret():
    compiled = seccomp.compile_filter(
        {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38, "syscalls": [rule("SCMP_ACT_ALLOW")]}
    )
    assert 0x00050026 in return_values(compiled)


def test_rule_with_the_default_action_is_skipped():
    plain = seccomp.compile_filter(profile())
    same = seccomp.compile_filter(profile(rule("SCMP_ACT_ALLOW")))
    assert same.bpf == plain.bpf


def test_unknown_syscall_is_skipped_with_a_warning():
    compiled = seccomp.compile_filter(profile(rule(names=["mkdir", "no_such_syscall"])))
    assert len(compiled.warnings) == 1
    assert "no_such_syscall" in compiled.warnings[0]
    assert "linux.seccomp.syscalls[0].names[1]" in compiled.warnings[0]


@pytest.mark.parametrize("op", seccomp.OPERATORS)
def test_every_operator_compiles(op):
    args = [{"index": 1, "value": 5, "valueTwo": 1, "op": op}]
    compiled = seccomp.compile_filter(profile(rule(names=["lseek"], args=args)))
    assert 0x00050001 in return_values(compiled)


def test_repeated_arg_index_splits_into_separate_rules():
    eq = {"index": 1, "op": "SCMP_CMP_EQ"}
    both = seccomp.compile_filter(profile(rule(names=["lseek"], args=[{**eq, "value": 5}, {**eq, "value": 7}])))
    one = seccomp.compile_filter(profile(rule(names=["lseek"], args=[{**eq, "value": 5}])))
    assert len(both.bpf) > len(one.bpf)


def test_architectures_add_sections():
    native = seccomp.compile_filter(profile(rule()))
    multi = seccomp.compile_filter(profile(rule(), architectures=["SCMP_ARCH_X86", "SCMP_ARCH_X32"]))
    assert len(multi.bpf) > len(native.bpf)


def test_notify_sets_new_listener_and_listener_fields():
    compiled = seccomp.compile_filter(
        profile(
            rule("SCMP_ACT_NOTIFY", ["getppid"]),
            listenerPath="/run/agent.sock",
            listenerMetadata="meta",
        )
    )
    assert compiled.uses_notify
    assert compiled.flags & 0x8  # SECCOMP_FILTER_FLAG_NEW_LISTENER
    assert compiled.listener_path == "/run/agent.sock"
    assert compiled.listener_metadata == "meta"


def test_flags_default_to_spec_allow_and_explicit_empty_means_none():
    assert seccomp.compile_filter(profile()).flags == 0x4
    assert seccomp.compile_filter(profile(flags=[])).flags == 0


def test_explicit_flags():
    compiled = seccomp.compile_filter(profile(flags=["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_TSYNC"]))
    assert compiled.flags == 0x2 | 0x1


def test_tsync_with_notify_adds_tsync_esrch():
    compiled = seccomp.compile_filter(
        profile(rule("SCMP_ACT_NOTIFY", ["getppid"]), listenerPath="/x", flags=["SECCOMP_FILTER_FLAG_TSYNC"])
    )
    assert compiled.flags == 0x1 | 0x8 | 0x10


def test_wait_killable_recv_needs_notify():
    alone = seccomp.compile_filter(profile(flags=["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]))
    assert alone.flags == 0
    assert alone.warnings
    with_notify = seccomp.compile_filter(
        profile(
            rule("SCMP_ACT_NOTIFY", ["getppid"]),
            listenerPath="/x",
            flags=["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
        )
    )
    assert with_notify.flags == 0x20 | 0x8


@pytest.mark.parametrize(
    "spec, path",
    [
        ({"defaultAction": "SCMP_ACT_NOPE"}, "linux.seccomp.defaultAction"),
        ({}, "linux.seccomp.defaultAction"),
        ({"defaultAction": "SCMP_ACT_NOTIFY"}, "linux.seccomp.defaultAction"),
        ({"defaultAction": "SCMP_ACT_KILL", "defaultErrnoRet": 1}, "linux.seccomp.defaultErrnoRet"),
        (profile(rule(), rule("SCMP_ACT_BOGUS")), "linux.seccomp.syscalls[1].action"),
        (profile(rule("SCMP_ACT_ALLOW", errnoRet=3)), "linux.seccomp.syscalls[0].errnoRet"),
        (profile(rule(errnoRet=-1)), "linux.seccomp.syscalls[0].errnoRet"),
        (profile(rule(errnoRet=70000)), "linux.seccomp.syscalls[0].errnoRet"),
        (profile(rule(names=[])), "linux.seccomp.syscalls[0].names"),
        (profile({"names": "mkdir", "action": "SCMP_ACT_ERRNO"}), "linux.seccomp.syscalls[0].names"),
        (profile("mkdir"), "linux.seccomp.syscalls[0]"),
        (profile(rule(args=[{"index": 0, "value": 1, "op": "SCMP_CMP_XX"}])), "linux.seccomp.syscalls[0].args[0].op"),
        (profile(rule(args=[{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}])), "linux.seccomp.syscalls[0].args[0].index"),
        (profile(rule(args=[{"index": 0, "value": -1, "op": "SCMP_CMP_EQ"}])), "linux.seccomp.syscalls[0].args[0].value"),
        (profile(rule(args=[{"index": 0, "value": 2**64, "op": "SCMP_CMP_EQ"}])), "linux.seccomp.syscalls[0].args[0].value"),
        (profile(architectures=["SCMP_ARCH_VAX"]), "linux.seccomp.architectures[0]"),
        (profile(architectures=["SCMP_ARCH_X86", "SCMP_ARCH_S390X"]), "linux.seccomp.architectures[1]"),
        (profile(flags=["SECCOMP_FILTER_FLAG_BOGUS"]), "linux.seccomp.flags[0]"),
        (profile(rule("SCMP_ACT_NOTIFY", ["getppid"])), "linux.seccomp.listenerPath"),
        (profile(rule("SCMP_ACT_NOTIFY", ["read", "write"]), listenerPath="/x"), "linux.seccomp.syscalls[0].names"),
        (profile(listenerMetadata="m"), "linux.seccomp.listenerMetadata"),
    ],
)
def test_invalid_profiles_name_the_json_path(spec, path):
    message = config_error(spec)
    assert message.startswith(path + ":"), message


def test_features():
    feats = seccomp.features()
    assert feats["enabled"] is True
    assert set(feats["actions"]) == set(seccomp.ACTIONS)
    assert set(feats["operators"]) == set(seccomp.OPERATORS)
    assert "SCMP_ARCH_X86_64" in feats["archs"]
    assert feats["knownFlags"] == list(seccomp.FLAGS)
    assert set(feats["supportedFlags"]) <= set(feats["knownFlags"])
    assert "SECCOMP_FILTER_FLAG_LOG" in feats["supportedFlags"]


@pytest.mark.parametrize("arch", seccomp.features()["archs"])
def test_every_feature_arch_is_recognised(arch):
    try:
        seccomp.compile_filter(profile(rule(), architectures=[arch]))
    except ConfigError as exc:  # a byte order or word size libseccomp cannot mix with ours
        assert "cannot add it" in str(exc)


ENOSYS_RET = 0x00050026


def test_enosys_stub_only_for_restrictive_defaults():
    allow = [rule("SCMP_ACT_ALLOW", ["read", "write"])]
    eperm = seccomp.compile_filter({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": allow})
    enosys = seccomp.compile_filter({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38, "syscalls": allow})
    kill = seccomp.compile_filter({"defaultAction": "SCMP_ACT_KILL", "syscalls": allow})
    assert ENOSYS_RET in return_values(eperm) and ENOSYS_RET in return_values(kill)
    assert eperm.instructions > enosys.instructions
    for permissive in ("SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_TRACE"):
        compiled = seccomp.compile_filter({"defaultAction": permissive, "syscalls": [rule()]})
        assert ENOSYS_RET not in return_values(compiled)


def test_no_enosys_stub_without_known_syscalls():
    compiled = seccomp.compile_filter({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [rule(names=["nope"])]})
    assert ENOSYS_RET not in return_values(compiled)


def test_enosys_stub_for_many_architectures():
    archs = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    compiled = seccomp.compile_filter(
        {"defaultAction": "SCMP_ACT_ERRNO", "architectures": archs, "syscalls": [rule("SCMP_ACT_ALLOW")]}
    )
    assert ENOSYS_RET in return_values(compiled)


def test_action_the_kernel_lacks_is_a_config_error(monkeypatch):
    monkeypatch.setitem(seccomp._available_actions, "SCMP_ACT_LOG", False)
    assert config_error(profile(rule("SCMP_ACT_LOG"))).startswith("linux.seccomp.syscalls[0].action:")


def test_flag_the_kernel_lacks_is_dropped_with_a_warning(monkeypatch):
    monkeypatch.setitem(seccomp._supported_flags, "SECCOMP_FILTER_FLAG_LOG", False)
    compiled = seccomp.compile_filter(profile(flags=["SECCOMP_FILTER_FLAG_LOG"]))
    assert compiled.flags == 0
    assert "SECCOMP_FILTER_FLAG_LOG" in compiled.warnings[0]


def test_import_stays_cheap():
    """ocirt.seccomp is on the create path: no libseccomp, typing or json until used."""
    import subprocess
    import sys
    from pathlib import Path

    script = (
        "import sys, ocirt; before = set(sys.modules); import ocirt.seccomp; "
        "print(' '.join(sorted(set(sys.modules) - before - {'ocirt.seccomp'})))"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-S", "-c", script], capture_output=True, text=True, cwd=root, check=True)
    heavy = {"typing", "json", "hashlib", "socket", "array", "_cffi_backend", "ocirt._seccomp"}
    assert not heavy & set(out.stdout.split()), out.stdout
