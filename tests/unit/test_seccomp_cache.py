"""The compiled-BPF cache: hits skip libseccomp, anything untrusted or broken is recompiled."""

import os

import pytest

from ocirt import seccomp

SPEC = {
    "defaultAction": "SCMP_ACT_ERRNO",
    "syscalls": [{"names": ["read", "write", "no_such_syscall"], "action": "SCMP_ACT_ALLOW"}],
}


def entries(cache_dir) -> list[str]:
    return sorted(name for name in os.listdir(cache_dir) if not name.startswith("."))


@pytest.fixture
def no_libseccomp(monkeypatch):
    """Fail the test if the program is built instead of read from the cache."""

    def refuse(*args, **kwargs):
        raise AssertionError("compiled although cached")

    monkeypatch.setattr(seccomp, "_build_program", refuse)


def test_second_compile_is_a_cache_hit(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    first = seccomp.compile_filter(SPEC, cache_dir=str(cache))
    assert len(entries(cache)) == 1
    assert oct(cache.stat().st_mode & 0o777) == "0o700"
    monkeypatch.setattr(seccomp, "_build_program", lambda *a: pytest.fail("compiled although cached"))
    second = seccomp.compile_filter(SPEC, cache_dir=str(cache))
    assert second.bpf == first.bpf
    assert second.warnings == first.warnings and len(second.warnings) == 1
    assert second.flags == first.flags


def test_different_profiles_get_different_entries(tmp_path):
    seccomp.compile_filter(SPEC, cache_dir=str(tmp_path))
    seccomp.compile_filter({**SPEC, "defaultErrnoRet": 38}, cache_dir=str(tmp_path))
    assert len(entries(tmp_path)) == 2


def test_invalid_profile_is_rejected_even_when_cached(tmp_path):
    seccomp.compile_filter(SPEC, cache_dir=str(tmp_path))
    with pytest.raises(seccomp.ConfigError):
        seccomp.compile_filter({**SPEC, "defaultAction": "SCMP_ACT_BOGUS"}, cache_dir=str(tmp_path))


@pytest.mark.parametrize("damage", [b"", b"not json\n12345678", b'{"size": 3}\nabc', b'{"size": 8}\n1234567'])
def test_damaged_entry_is_recompiled(tmp_path, damage):
    good = seccomp.compile_filter(SPEC, cache_dir=str(tmp_path))
    (path,) = entries(tmp_path)
    (tmp_path / path).write_bytes(damage)
    assert seccomp.compile_filter(SPEC, cache_dir=str(tmp_path)).bpf == good.bpf
    assert seccomp.compile_filter(SPEC, cache_dir=str(tmp_path)).bpf == good.bpf  # rewritten


def test_group_writable_entry_is_ignored(tmp_path):
    good = seccomp.compile_filter(SPEC, cache_dir=str(tmp_path))
    (path,) = entries(tmp_path)
    entry = tmp_path / path
    entry.write_bytes(b'{"size": 8, "warnings": []}\n\x06\x00\x00\x00\x00\x00\xff\x7f')  # ret ALLOW
    entry.chmod(0o666)
    assert seccomp.compile_filter(SPEC, cache_dir=str(tmp_path)).bpf == good.bpf


def test_world_writable_cache_dir_is_not_used(tmp_path, no_libseccomp):
    tmp_path.chmod(0o777)
    with pytest.raises(AssertionError, match="compiled although cached"):
        seccomp.compile_filter(SPEC, cache_dir=str(tmp_path))


def test_unwritable_cache_only_costs_time(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    compiled = seccomp.compile_filter(SPEC, cache_dir=str(blocker / "cache"))
    assert compiled.instructions > 0


def test_cache_is_pruned(tmp_path, monkeypatch):
    monkeypatch.setattr(seccomp, "CACHE_MAX_ENTRIES", 3)
    for errno_ret in range(1, 6):
        seccomp.compile_filter({**SPEC, "defaultErrnoRet": errno_ret}, cache_dir=str(tmp_path))
    assert len(entries(tmp_path)) == 3
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".")]
