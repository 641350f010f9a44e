"""Seccomp: compile an OCI `linux.seccomp` profile to BPF, load it, hand out the listener.

The runtime (parent) compiles the profile with libseccomp before it forks;
the container's init then only calls seccomp(2) on the ready BPF right before
execve, so the child never initialises libseccomp.  We export the BPF and load
it ourselves (rather than seccomp_load) to choose the seccomp(2) flags and to
prepend the -ENOSYS stub described in docs/seccomp.md.

Importing this module is cheap: the cffi extension is loaded on first use.
"""

from __future__ import annotations

import os
import sys

from .errors import ConfigError, OcirtError

# typing costs milliseconds to import and this module is on the create path.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable

SPEC_PATH = "linux.seccomp"

ACTIONS = (
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_LOG",
    "SCMP_ACT_NOTIFY",
)
# Actions whose 16-bit data field carries errnoRet.
ERRNO_ACTIONS = ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE")
# Actions that let a syscall run (or leave it to a tracer): no -ENOSYS stub
# is needed when one of them is the default.
PERMISSIVE_ACTIONS = ("SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_TRACE")

OPERATORS = (
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ",
)

ARCHS = (
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64",
    "SCMP_ARCH_RISCV64",
    "SCMP_ARCH_LOONGARCH64",
    "SCMP_ARCH_M68K",
    "SCMP_ARCH_SH",
    "SCMP_ARCH_SHEB",
)

FLAGS = (
    "SECCOMP_FILTER_FLAG_TSYNC",
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
)

EPERM = 1
ENOSYS = 38
MAX_ARGS = 6  # a Linux syscall has at most six arguments
BPF_MAXINSNS = 4096  # the kernel refuses longer classic BPF programs
SOCK_FILTER_SIZE = 8  # sizeof(struct sock_filter)
RET_ACTION_FULL = 0xFFFF0000  # SECCOMP_RET_ACTION_FULL: the action without its data
# libseccomp <= 2.5.4 builds a broken binary tree for a filter without rules;
# like runc, ask for the tree (faster lookups) only for longer profiles.
BINARY_TREE_MIN_RULES = 32

_ffi: Any = None
_lib: Any = None
_supported_flags: dict[str, bool] = {}
_available_actions: dict[str, bool] = {}


def _load_native() -> Any:
    """Import the cffi extension once; it links libseccomp."""
    global _ffi, _lib
    if _lib is None:
        try:
            from ._seccomp import ffi, lib  # type: ignore[import-not-found]
        except ImportError as exc:
            raise OcirtError(
                f"seccomp support is not available: {exc}; "
                "build it with `python3 native/build_seccomp.py` (needs libseccomp-dev)"
            ) from exc
        _ffi, _lib = ffi, lib
    return _lib


class CompiledFilter:
    """A profile compiled to BPF, ready for seccomp(2) in the container's init."""

    __slots__ = ("bpf", "flags", "uses_notify", "listener_path", "listener_metadata", "warnings")

    def __init__(
        self,
        bpf: bytes,
        flags: int,
        uses_notify: bool,
        listener_path: str | None = None,
        listener_metadata: str | None = None,
        warnings: list[str] | None = None,
    ) -> None:
        self.bpf = bpf
        self.flags = flags
        self.uses_notify = uses_notify
        self.listener_path = listener_path
        self.listener_metadata = listener_metadata
        self.warnings = warnings if warnings is not None else []

    @property
    def instructions(self) -> int:
        return len(self.bpf) // SOCK_FILTER_SIZE

    def __repr__(self) -> str:
        return (
            f"CompiledFilter(instructions={self.instructions}, flags={self.flags:#x}, "
            f"uses_notify={self.uses_notify}, warnings={len(self.warnings)})"
        )


class _Rule:
    """One libseccomp rule: a syscall, an action value, its argument conditions."""

    __slots__ = ("name", "action", "conds", "path")

    def __init__(self, name: str, action: int, conds: list[tuple[int, int, int, int]], path: str):
        self.name = name
        self.action = action
        self.conds = conds  # (index, operator value, datum_a, datum_b)
        self.path = path


# ---------------------------------------------------------------- validation


def _expect(cond: bool, path: str, problem: str, fix: str) -> None:
    if not cond:
        raise ConfigError(f"{path}: {problem}; {fix}")


def _uint(value: Any, path: str, limit: int) -> int:
    if not (isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= limit):
        raise ConfigError(f"{path}: {value!r} is not an integer from 0 to {limit}; fix the value")
    return value


def _choice(value: Any, allowed: tuple[str, ...], path: str, what: str) -> str:
    if not (isinstance(value, str) and value in allowed):
        raise ConfigError(f"{path}: unknown {what} {value!r}; use one of {', '.join(allowed)}")
    return value


def _action_value(name: str, errno_ret: Any, path: str, errno_path: str) -> int:
    """The libseccomp action value for an action name and its optional errnoRet."""
    lib = _load_native()
    _choice(name, ACTIONS, path, "action")
    if name not in ERRNO_ACTIONS:
        _expect(
            errno_ret is None,
            errno_path,
            f"{name} does not take an errno",
            "remove it or use SCMP_ACT_ERRNO / SCMP_ACT_TRACE",
        )
    code = EPERM if errno_ret is None else _uint(errno_ret, errno_path, 0xFFFF)
    if name == "SCMP_ACT_ERRNO":
        value = lib.ocirt_act_errno(code)
    elif name == "SCMP_ACT_TRACE":
        value = lib.ocirt_act_trace(code)
    elif name == "SCMP_ACT_KILL":
        value = lib.SCMP_ACT_KILL_THREAD
    else:
        value = getattr(lib, name)
    _expect(_action_available(name, value), path, f"{name} is not supported by this kernel", "use another action")
    return value


def _action_available(name: str, value: int) -> bool:
    """Ask the kernel once per action (LOG, KILL_PROCESS: 4.14; NOTIFY: 5.0)."""
    if name not in _available_actions:
        # The kernel wants the bare action, without errno/trace data.
        bare = value & RET_ACTION_FULL
        _available_actions[name] = bool(_load_native().ocirt_seccomp_action_available(bare))
    return _available_actions[name]


def _conditions(args: Any, path: str) -> list[tuple[int, int, int, int]]:
    lib = _load_native()
    _expect(isinstance(args, list), path, "must be an array", "give a list of {index, value, op}")
    conds = []
    for i, arg in enumerate(args):
        apath = f"{path}[{i}]"
        _expect(isinstance(arg, dict), apath, "must be an object", "give {index, value, op}")
        index = _uint(arg.get("index"), f"{apath}.index", MAX_ARGS - 1)
        value = _uint(arg.get("value"), f"{apath}.value", 2**64 - 1)
        value_two = _uint(arg.get("valueTwo", 0), f"{apath}.valueTwo", 2**64 - 1)
        op = _choice(arg.get("op"), OPERATORS, f"{apath}.op", "operator")
        conds.append((index, getattr(lib, op), value, value_two))
    return conds


def _syscall_rules(entry: Any, path: str, uses_notify: list[bool]) -> list[_Rule]:
    """The rules of one `syscalls[]` entry, one per name."""
    _expect(isinstance(entry, dict), path, "must be an object", "give {names, action}")
    names = entry.get("names")
    _expect(
        isinstance(names, list) and names and all(isinstance(n, str) and n for n in names),
        f"{path}.names",
        "must be a non-empty array of syscall names",
        "list at least one syscall",
    )
    action = entry.get("action")
    value = _action_value(action, entry.get("errnoRet"), f"{path}.action", f"{path}.errnoRet")
    if action == "SCMP_ACT_NOTIFY":
        # The init writes to its parent after loading the filter; a notified
        # write would wait for an agent that never gets the listener fd.
        _expect(
            "write" not in names,
            f"{path}.names",
            "SCMP_ACT_NOTIFY cannot be used for the write syscall",
            "handle write with another action",
        )
        uses_notify[0] = True
    conds = _conditions(entry.get("args", []), f"{path}.args") if entry.get("args") else []
    return [_Rule(name, value, conds, f"{path}.names[{j}]") for j, name in enumerate(names)]


def _flag_supported(name: str) -> bool:
    """Probe the kernel once per flag; WAIT_KILLABLE_RECV needs NEW_LISTENER beside it."""
    if name not in _supported_flags:
        lib = _load_native()
        bits = getattr(lib, name)
        if name == "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV":
            bits |= lib.SECCOMP_FILTER_FLAG_NEW_LISTENER
        _supported_flags[name] = bool(lib.ocirt_seccomp_flag_supported(bits))
    return _supported_flags[name]


def _filter_flags(spec: dict, uses_notify: bool, warnings: list[str]) -> int:
    """seccomp(2) flags from `flags`; absent means SPEC_ALLOW when supported, as runc does."""
    lib = _load_native()
    names = spec.get("flags")
    if names is None:
        names = ["SECCOMP_FILTER_FLAG_SPEC_ALLOW"]
        explicit = False
    else:
        _expect(isinstance(names, list), f"{SPEC_PATH}.flags", "must be an array", "list flag names")
        explicit = True
    flags = 0
    for i, name in enumerate(names):
        _choice(name, FLAGS, f"{SPEC_PATH}.flags[{i}]", "flag")
        if not _flag_supported(name):
            if explicit:
                warnings.append(f"seccomp flag {name} is not supported by this kernel; ignored")
            continue
        if name == "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" and not uses_notify:
            # The kernel accepts it only together with a listener.
            warnings.append(f"seccomp flag {name} has no effect without SCMP_ACT_NOTIFY; ignored")
            continue
        flags |= getattr(lib, name)
    if uses_notify:
        flags |= lib.SECCOMP_FILTER_FLAG_NEW_LISTENER
        if flags & lib.SECCOMP_FILTER_FLAG_TSYNC:
            # TSYNC and NEW_LISTENER together are only valid with TSYNC_ESRCH;
            # without it drop TSYNC: the init is single-threaded at execve.
            if lib.ocirt_seccomp_flag_supported(
                lib.SECCOMP_FILTER_FLAG_TSYNC | lib.SECCOMP_FILTER_FLAG_TSYNC_ESRCH
            ):
                flags |= lib.SECCOMP_FILTER_FLAG_TSYNC_ESRCH
            else:
                flags &= ~lib.SECCOMP_FILTER_FLAG_TSYNC
    return flags


def _arch_tokens(spec: dict) -> list[tuple[int, str]]:
    """Native arch first, then the listed ones: (libseccomp token, JSON path)."""
    lib = _load_native()
    tokens = [(lib.seccomp_arch_native(), SPEC_PATH)]
    archs = spec.get("architectures") or []
    _expect(isinstance(archs, list), f"{SPEC_PATH}.architectures", "must be an array", "list arch names")
    for i, name in enumerate(archs):
        path = f"{SPEC_PATH}.architectures[{i}]"
        _choice(name, ARCHS, path, "architecture")
        token = _arch_token(name)
        _expect(token != 0, path, f"{name} is not known to the installed libseccomp", "remove it")
        if all(token != known for known, _ in tokens):
            tokens.append((token, path))
    return tokens


def _arch_token(name: str) -> int:
    return _load_native().seccomp_arch_resolve_name(name[len("SCMP_ARCH_"):].lower().encode())


# ----------------------------------------------------------------- compiling


def compile_filter(spec: dict, *, cache_dir: str | None = None) -> CompiledFilter:
    """Compile `config["linux"]["seccomp"]` to BPF; raises ConfigError on a bad profile.

    With cache_dir, the BPF is kept there keyed by a hash of the profile, so
    later containers with the same profile skip libseccomp (docs/seccomp.md).
    The profile is validated either way.
    """
    _expect(isinstance(spec, dict), SPEC_PATH, "must be an object", "give {defaultAction, ...}")
    default, rules, uses_notify = _parse_rules(spec)
    listener_path, metadata = _listener(spec, uses_notify)
    archs = _arch_tokens(spec)
    warnings: list[str] = []
    flags = _filter_flags(spec, uses_notify, warnings)
    if cache_dir:
        program, rule_warnings = _cached_program(spec, cache_dir, lambda: _program(spec, default, archs, rules))
    else:
        program, rule_warnings = _program(spec, default, archs, rules)
    return CompiledFilter(program, flags, uses_notify, listener_path, metadata, rule_warnings + warnings)


def _parse_rules(spec: dict) -> tuple[int, list[_Rule], bool]:
    """The default action value, the rules, and whether any rule notifies."""
    default_name = spec.get("defaultAction")
    default = _action_value(
        default_name,
        spec.get("defaultErrnoRet"),
        f"{SPEC_PATH}.defaultAction",
        f"{SPEC_PATH}.defaultErrnoRet",
    )
    _expect(
        default_name != "SCMP_ACT_NOTIFY",
        f"{SPEC_PATH}.defaultAction",
        "SCMP_ACT_NOTIFY cannot be the default action (it would notify write too)",
        "use it in syscalls[] only",
    )
    entries = spec.get("syscalls") or []
    _expect(isinstance(entries, list), f"{SPEC_PATH}.syscalls", "must be an array", "list rules")
    uses_notify = [False]
    rules = []
    for i, entry in enumerate(entries):
        rules.extend(_syscall_rules(entry, f"{SPEC_PATH}.syscalls[{i}]", uses_notify))
    return default, rules, uses_notify[0]


def _program(spec: dict, default: int, archs: list[tuple[int, str]], rules: list[_Rule]) -> tuple[bytes, list[str]]:
    """The full BPF program and the warnings compiling it raised."""
    warnings: list[str] = []
    program = _build_program(default, archs, rules, warnings)
    if _needs_enosys_stub(spec):
        program = _enosys_stub(archs, rules) + program
    _check_length(program)
    return program, warnings


def _listener(spec: dict, uses_notify: bool) -> tuple[str | None, str | None]:
    path = spec.get("listenerPath")
    metadata = spec.get("listenerMetadata")
    if path is not None:
        _expect(
            isinstance(path, str) and path != "",
            f"{SPEC_PATH}.listenerPath",
            "must be a non-empty path",
            "give the seccomp agent's unix socket path",
        )
    if metadata is not None:
        _expect(isinstance(metadata, str), f"{SPEC_PATH}.listenerMetadata", "must be a string", "fix it")
        _expect(
            path is not None,
            f"{SPEC_PATH}.listenerMetadata",
            "is set but listenerPath is not",
            "set listenerPath or remove listenerMetadata",
        )
    _expect(
        path is not None or not uses_notify,
        f"{SPEC_PATH}.listenerPath",
        "is required when a rule uses SCMP_ACT_NOTIFY",
        "give the seccomp agent's unix socket path",
    )
    return path, metadata


def _needs_enosys_stub(spec: dict) -> bool:
    if spec.get("defaultAction") in PERMISSIVE_ACTIONS:
        return False
    return spec.get("defaultErrnoRet") != ENOSYS


def _check_length(program: bytes) -> None:
    count = len(program) // SOCK_FILTER_SIZE
    _expect(
        count <= BPF_MAXINSNS,
        SPEC_PATH,
        f"the profile compiles to {count} BPF instructions, over the kernel limit of {BPF_MAXINSNS}",
        "merge rules or drop argument conditions",
    )


def _build_program(default: int, archs: list[tuple[int, str]], rules: list[_Rule], warnings: list[str]) -> bytes:
    lib = _load_native()
    ctx = lib.seccomp_init(default)
    if ctx == _ffi.NULL:
        raise OcirtError("seccomp_init failed: cannot compile the seccomp profile")
    try:
        # The runtime sets no_new_privs itself, only when the config asks.
        _check_rc(lib.seccomp_attr_set(ctx, lib.SCMP_FLTATR_CTL_NNP, 0), "setting NNP attribute")
        if len(rules) > BINARY_TREE_MIN_RULES:
            # A failure only means an older libseccomp: keep the linear layout.
            lib.seccomp_attr_set(ctx, lib.SCMP_FLTATR_CTL_OPTIMIZE, 2)
        for token, path in archs[1:]:
            rc = lib.seccomp_arch_add(ctx, token)
            # EDOM: libseccomp cannot mix byte orders (or word sizes) in one filter.
            _expect(rc >= 0, path, f"libseccomp cannot add it: {os.strerror(-rc)}", "remove it")
        for rule in rules:
            _add_rule(ctx, default, rule, warnings)
        return _export(ctx)
    finally:
        lib.seccomp_release(ctx)


def _check_rc(rc: int, what: str) -> None:
    if rc < 0:
        raise OcirtError(f"libseccomp failed {what}: {os.strerror(-rc)}")


def _add_rule(ctx: Any, default: int, rule: _Rule, warnings: list[str]) -> None:
    lib = _load_native()
    if rule.action == default:
        return  # libseccomp refuses rules that repeat the default action
    nr = lib.seccomp_syscall_resolve_name(rule.name.encode())
    if nr == -1:  # __NR_SCMP_ERROR: libseccomp does not know the name
        warnings.append(f"{rule.path}: unknown syscall {rule.name!r} skipped")
        return
    for group in _condition_groups(rule.conds):
        arr = _ffi.new("struct scmp_arg_cmp[]", group) if group else _ffi.NULL
        rc = lib.seccomp_rule_add_array(ctx, rule.action, nr, len(group), arr)
        _expect(
            rc >= 0,
            rule.path,
            f"libseccomp rejected the rule for {rule.name!r}: {os.strerror(-rc)}",
            "check its action and args",
        )


def _condition_groups(conds: list[tuple[int, int, int, int]]) -> list[list[tuple[int, int, int, int]]]:
    """Conditions ANDed in one rule, or one rule each when an arg index repeats (runc's rule)."""
    indexes = [c[0] for c in conds]
    if len(set(indexes)) < len(indexes):
        return [[c] for c in conds]
    return [conds]


def _export(ctx: Any) -> bytes:
    """seccomp_export_bpf writes to an fd: a memfd avoids pipe-size deadlocks and temp files."""
    fd = os.memfd_create("ocirt-seccomp", os.MFD_CLOEXEC)
    try:
        _check_rc(_lib.seccomp_export_bpf(ctx, fd), "exporting BPF")
        size = os.lseek(fd, 0, os.SEEK_END)
        return os.pread(fd, size, 0)
    finally:
        os.close(fd)


# --------------------------------------------------------------- the cache
#
# libseccomp needs ~20 ms for a Docker-sized profile on three architectures;
# reading a cached program takes well under 1 ms.  A poisoned cache would
# disable the sandbox, so only a directory and files owned by us and not
# writable by anyone else are trusted; anything odd means "compile again".

# Bump when the generated program changes for the same profile and libseccomp.
CACHE_FORMAT = 1
CACHE_MAX_ENTRIES = 64


def _cache_key(spec: dict) -> str | None:
    import hashlib
    import json

    from . import __version__

    lib = _load_native()
    version = lib.seccomp_version()
    ident = [CACHE_FORMAT, __version__, version.major, version.minor, version.micro, spec]
    try:
        text = json.dumps(ident, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):
        return None  # not plain JSON: do not cache
    return hashlib.sha256(text.encode()).hexdigest()


def _cached_program(
    spec: dict, cache_dir: str, build: Callable[[], tuple[bytes, list[str]]]
) -> tuple[bytes, list[str]]:
    key = _cache_key(spec)
    cached = _cache_read(cache_dir, key) if key else None
    if cached is not None:
        return cached
    program, warnings = build()
    if key:
        _cache_write(cache_dir, key, program, warnings)
    return program, warnings


def _private(st: os.stat_result) -> bool:
    return st.st_uid == os.geteuid() and not st.st_mode & 0o022


def _cache_read(cache_dir: str, key: str) -> tuple[bytes, list[str]] | None:
    import json
    import stat

    try:
        if not _private(os.stat(cache_dir)):
            return None
        fd = os.open(os.path.join(cache_dir, key), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not (stat.S_ISREG(st.st_mode) and _private(st)):
            return None
        data = os.pread(fd, st.st_size, 0)
    finally:
        os.close(fd)
    header, _, program = data.partition(b"\n")
    try:
        meta = json.loads(header)
    except ValueError:
        return None
    if meta.get("size") != len(program) or len(program) % SOCK_FILTER_SIZE:
        return None
    return program, list(meta.get("warnings", []))


def _cache_write(cache_dir: str, key: str, program: bytes, warnings: list[str]) -> None:
    """Best effort: a cache that cannot be written only costs time."""
    import json

    header = json.dumps({"size": len(program), "warnings": warnings}).encode()
    tmp = os.path.join(cache_dir, f".{key}.{os.getpid()}.tmp")
    try:
        # the state root first, with its own mode: makedirs gives parents 0755,
        # and the root must not list container ids to other users
        os.makedirs(os.path.dirname(cache_dir), mode=0o711, exist_ok=True)
        os.makedirs(cache_dir, mode=0o700, exist_ok=True)
        if not _private(os.stat(cache_dir)):
            return
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, header + b"\n" + program)
        finally:
            os.close(fd)
        os.replace(tmp, os.path.join(cache_dir, key))
        _cache_prune(cache_dir)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def _cache_prune(cache_dir: str) -> None:
    """Keep the newest CACHE_MAX_ENTRIES programs; /run is memory."""
    entries = [e for e in os.scandir(cache_dir) if not e.name.startswith(".")]
    if len(entries) <= CACHE_MAX_ENTRIES:
        return
    entries.sort(key=lambda e: e.stat().st_mtime)
    for entry in entries[: len(entries) - CACHE_MAX_ENTRIES]:
        os.unlink(entry.path)


# ------------------------------------------------------- the -ENOSYS stub
#
# A default action like ERRNO(EPERM) also hits syscalls newer than the
# profile, and libc only falls back (clone3 -> clone, ...) on ENOSYS.  Like
# runc, we prepend a check per architecture: a syscall number above the
# highest one the profile names gets -ENOSYS.

BPF_LD_W_ABS = 0x20
BPF_JA = 0x05
BPF_JEQ_K = 0x15
BPF_JGT_K = 0x25
BPF_JSET_K = 0x45
BPF_RET_K = 0x06
BPF_MAX_JUMP = 255  # jt/jf are 8 bits
DATA_NR = 0  # offsetof(struct seccomp_data, nr)
DATA_ARCH = 4  # offsetof(struct seccomp_data, arch)
X32_SYSCALL_BIT = 0x40000000
AUDIT_ARCH_X86_64 = 0xC000003E
# On s390(x) an unknown syscall number arrives as 0, the multiplexer setup(2).
S390_AUDIT_ARCHS = (0x00000016, 0x80000016)



def _max_syscalls(archs: list[tuple[int, str]], rules: list[_Rule]) -> dict[int, int]:
    """libseccomp arch token -> the highest syscall number the profile names for it."""
    lib = _load_native()
    names = {rule.name.encode() for rule in rules}
    highest = {}
    for token, _ in archs:
        numbers = [lib.seccomp_syscall_resolve_name_arch(token, name) for name in names]
        top = max((nr for nr in numbers if nr >= 0), default=-1)
        if top >= 0:  # an arch with no known syscall is left to the filter
            highest[token] = top
    return highest


def _enosys_stub(archs: list[tuple[int, str]], rules: list[_Rule]) -> bytes:
    """BPF to prepend: -ENOSYS above the profile's highest syscall, else on to the filter."""
    highest = _max_syscalls(archs, rules)
    if not highest:
        return b""
    x32 = _arch_token("SCMP_ARCH_X32")
    by_audit: dict[int, dict[str, int]] = {}
    for token, top in highest.items():
        audit = AUDIT_ARCH_X86_64 if token == x32 else token  # x32 is a mode of x86_64
        by_audit.setdefault(audit, {})["x32" if token == x32 else "plain"] = top
    # (code, jt, jf, k); a str in jt/jf (or k of a ja) is a label for _assemble.
    insns: list[tuple] = [(BPF_LD_W_ABS, 0, 0, DATA_ARCH)]
    labels: dict[str, int] = {}
    for i, (audit, tops) in enumerate(by_audit.items()):
        insns.append((BPF_JEQ_K, 0, f"next{i}", audit))
        insns.append((BPF_LD_W_ABS, 0, 0, DATA_NR))
        if audit in S390_AUDIT_ARCHS:
            insns.append((BPF_JEQ_K, "enosys", 0, 0))
        if audit == AUDIT_ARCH_X86_64:
            insns.append((BPF_JSET_K, f"x32_{i}", 0, X32_SYSCALL_BIT))
            insns.append(_above(tops.get("plain")))
            labels[f"x32_{i}"] = len(insns)
            insns.append(_above(tops.get("x32")))
        else:
            insns.append(_above(tops["plain"]))
        labels[f"next{i}"] = len(insns)
    insns.append((BPF_JA, 0, 0, "filter"))
    labels["enosys"] = len(insns)
    insns.append((BPF_RET_K, 0, 0, _load_native().ocirt_act_errno(ENOSYS)))
    labels["filter"] = len(insns)
    return _assemble(insns, labels)


def _above(top: int | None) -> tuple:
    """Numbers above top get -ENOSYS; without a top (mode absent) the filter decides."""
    if top is None:
        return (BPF_JA, 0, 0, "filter")
    return (BPF_JGT_K, "enosys", "filter", top)


def _assemble(insns: list[tuple], labels: dict[str, int]) -> bytes:
    """struct sock_filter array; labels become forward offsets from the next instruction."""
    out = bytearray()
    for pos, (code, jt, jf, k) in enumerate(insns):
        if code == BPF_JA:
            k = labels[k] - pos - 1 if isinstance(k, str) else k
        jt = labels[jt] - pos - 1 if isinstance(jt, str) else jt
        jf = labels[jf] - pos - 1 if isinstance(jf, str) else jf
        if not (0 <= jt <= BPF_MAX_JUMP and 0 <= jf <= BPF_MAX_JUMP):
            raise OcirtError("seccomp -ENOSYS stub: jump too long (too many architectures)")
        out += code.to_bytes(2, sys.byteorder) + bytes((jt, jf)) + k.to_bytes(4, sys.byteorder)
    return bytes(out)


# ------------------------------------------------------------------- loading


def set_no_new_privs() -> None:
    """prctl(PR_SET_NO_NEW_PRIVS); exposed for tests and for callers without their own."""
    rc = _load_native().ocirt_set_no_new_privs()
    if rc < 0:
        raise OSError(-rc, f"prctl(PR_SET_NO_NEW_PRIVS): {os.strerror(-rc)}")


def load(compiled: CompiledFilter) -> int | None:
    """Install the filter in this process; returns the listener fd when it uses NOTIFY.

    Call in the container's init right before execve, after no_new_privs or
    while still holding CAP_SYS_ADMIN.  Only one raw syscall runs here.
    """
    lib = _load_native()
    rc = lib.ocirt_seccomp_load(compiled.flags, _ffi.from_buffer(compiled.bpf), len(compiled.bpf))
    if rc < 0:
        raise OSError(-rc, f"seccomp(SECCOMP_SET_MODE_FILTER): {os.strerror(-rc)}")
    return rc if compiled.flags & lib.SECCOMP_FILTER_FLAG_NEW_LISTENER else None


def send_listener(fd: int, listener_path: str, state: dict, metadata: str | None) -> None:
    """Send the listener fd and the container process state to the seccomp agent.

    One connection, one JSON document; the fd travels with SCM_RIGHTS in the
    first sendmsg and is named "seccompFd" in `fds`.  `state` is the
    container's state (runtime.md); its pid is the container process.
    """
    import array
    import json
    import socket

    from . import SPEC_VERSION

    message: dict[str, Any] = {
        "ociVersion": SPEC_VERSION,
        "fds": ["seccompFd"],
        "pid": state.get("pid"),
        "state": state,
    }
    if metadata is not None:
        message["metadata"] = metadata
    payload = json.dumps(message).encode()
    rights = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(listener_path)
            sent = sock.sendmsg([payload], rights)
            sock.sendall(payload[sent:])
    except OSError as exc:
        raise OcirtError(
            f"cannot send the seccomp listener fd to the agent at {listener_path}: {exc.strerror or exc}"
        ) from exc


# ------------------------------------------------------------------ features


def features() -> dict:
    """The `linux.seccomp` object of the runtime-spec features document."""
    try:
        _load_native()
    except OcirtError:
        return {"enabled": False}
    return {
        "enabled": True,
        "actions": sorted(ACTIONS),
        "operators": sorted(OPERATORS),
        "archs": sorted(a for a in ARCHS if _arch_token(a) != 0),
        "knownFlags": list(FLAGS),
        "supportedFlags": [f for f in FLAGS if _flag_supported(f)],
    }
