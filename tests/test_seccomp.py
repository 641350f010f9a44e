"""Seccomp filters loaded for real: a forked child loads the filter and reports what its syscalls did.

These need only ocirt.seccomp and a kernel with seccomp filters; no container.
"""

import ctypes
import errno
import fcntl
import json
import os
import re
import signal
import socket
import struct
import time
from typing import Any, Callable

import pytest

from ocirt import seccomp

LIBC = ctypes.CDLL(None, use_errno=True)
NR_LSEEK = 8  # x86_64
NR_UNASSIGNED = 1000  # no syscall has this number (yet): the kernel says ENOSYS
UNISTD_64 = "/usr/include/x86_64-linux-gnu/asm/unistd_64.h"

pytestmark = pytest.mark.skipif(os.uname().machine != "x86_64", reason="syscall numbers are x86_64")


def run_filtered(spec: dict, action: Callable[[], Any]) -> tuple[Any, int]:
    """Fork; the child sets no_new_privs, loads the compiled spec and runs action.

    Returns the action's JSON result (None if the child died) and the wait status.
    """
    return run_compiled(seccomp.compile_filter(spec), action)


def run_compiled(compiled: seccomp.CompiledFilter, action: Callable[[], Any]) -> tuple[Any, int]:
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 0
        try:
            os.close(rfd)
            seccomp.set_no_new_privs()
            seccomp.load(compiled)
            result = action()
        except BaseException as exc:  # report anything, never return into pytest
            result, code = {"exception": repr(exc)}, 1
        try:
            os.write(wfd, json.dumps(result).encode())
        finally:
            os._exit(code)
    os.close(wfd)
    with os.fdopen(rfd, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    return (json.loads(data) if data else None), status


def outcome(call: Callable[[], Any]) -> Any:
    """The call's result, or the errno name it failed with."""
    try:
        return call()
    except OSError as exc:
        return errno.errorcode.get(exc.errno, exc.errno)


def raw_syscall(nr: int) -> Any:
    if LIBC.syscall(nr) == -1:
        return errno.errorcode[ctypes.get_errno()]
    return 0


def lseek_to(offset: int, whence: int = os.SEEK_SET) -> Any:
    fd = os.memfd_create("t")
    try:
        return outcome(lambda: os.lseek(fd, offset, whence))
    finally:
        os.close(fd)


def allow_by_default(*syscalls: dict, **extra) -> dict:
    return {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": list(syscalls), **extra}


def lseek_rule(*args: dict, errno_ret: int = errno.EDOM) -> dict:
    return {"names": ["lseek"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno_ret, "args": list(args)}


def arg(index: int, op: str, value: int, value_two: int = 0) -> dict:
    return {"index": index, "op": op, "value": value, "valueTwo": value_two}


# ------------------------------------------------------------------ actions


def test_errno_defaults_to_eperm(tmp_path):
    spec = allow_by_default({"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"})
    result, status = run_filtered(spec, lambda: outcome(lambda: os.mkdir(tmp_path / "d")))
    assert (result, os.waitstatus_to_exitcode(status)) == ("EPERM", 0)
    assert not (tmp_path / "d").exists()


def test_errno_ret(tmp_path):
    spec = allow_by_default({"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EXDEV})
    result, _ = run_filtered(spec, lambda: outcome(lambda: os.mkdir(tmp_path / "d")))
    assert result == "EXDEV"


@pytest.mark.parametrize("action", ["SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_KILL_PROCESS"])
def test_kill_actions_kill_with_sigsys(action):
    spec = allow_by_default({"names": ["lseek"], "action": action})
    result, status = run_filtered(spec, lambda: lseek_to(1))
    assert result is None
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGSYS


def test_trap_delivers_sigsys():
    def body() -> Any:
        seen = []
        signal.signal(signal.SIGSYS, lambda signum, frame: seen.append(signum))
        result = lseek_to(1)
        return {"result": result, "signals": seen}

    spec = allow_by_default({"names": ["lseek"], "action": "SCMP_ACT_TRAP"})
    result, status = run_filtered(spec, body)
    # The syscall did not run: lseek would have returned 1.
    assert result["signals"] == [signal.SIGSYS] and result["result"] != 1
    assert os.waitstatus_to_exitcode(status) == 0


def test_log_lets_the_syscall_run():
    result, _ = run_filtered(allow_by_default({"names": ["lseek"], "action": "SCMP_ACT_LOG"}), lambda: lseek_to(5))
    assert result == 5


def test_trace_without_tracer_fails_with_enosys():
    spec = allow_by_default({"names": ["lseek"], "action": "SCMP_ACT_TRACE"})
    result, _ = run_filtered(spec, lambda: lseek_to(3))
    assert result == "ENOSYS"


def minimal_allow_list() -> list[str]:
    """What a Python child needs between load() and _exit()."""
    return [
        "write", "exit", "exit_group", "brk", "mmap", "munmap", "mremap", "madvise",
        "rt_sigreturn", "rt_sigprocmask", "rt_sigaction", "futex", "lseek", "memfd_create", "close",
        "getpid", "gettid", "fstat", "newfstatat",
    ]  # fmt: skip


def test_default_errno_ret_and_allow_list(tmp_path):
    spec = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": errno.ENOTTY,
        "syscalls": [{"names": minimal_allow_list(), "action": "SCMP_ACT_ALLOW"}],
    }
    result, _ = run_filtered(spec, lambda: [lseek_to(4), outcome(lambda: os.mkdir(tmp_path / "d"))])
    assert result == [4, "ENOTTY"]


# ---------------------------------------------------------------- operators


@pytest.mark.parametrize(
    "op, blocked",
    [
        ("SCMP_CMP_NE", {9, 11}),
        ("SCMP_CMP_LT", {9}),
        ("SCMP_CMP_LE", {9, 10}),
        ("SCMP_CMP_EQ", {10}),
        ("SCMP_CMP_GE", {10, 11}),
        ("SCMP_CMP_GT", {11}),
    ],
)
def test_operator(op, blocked):
    result, _ = run_filtered(allow_by_default(lseek_rule(arg(1, op, 10))), lambda: [lseek_to(n) for n in (9, 10, 11)])
    assert result == ["EDOM" if n in blocked else n for n in (9, 10, 11)]


def test_masked_eq():
    spec = allow_by_default(lseek_rule(arg(1, "SCMP_CMP_MASKED_EQ", 0xF0, 0x10)))
    offsets = (0x0F, 0x10, 0x1F, 0x20, 0x110)
    result, _ = run_filtered(spec, lambda: [lseek_to(n) for n in offsets])
    assert result == [0x0F, "EDOM", "EDOM", 0x20, "EDOM"]


def test_conditions_on_different_args_are_anded():
    spec = allow_by_default(lseek_rule(arg(1, "SCMP_CMP_EQ", 10), arg(2, "SCMP_CMP_EQ", os.SEEK_SET)))
    result, _ = run_filtered(spec, lambda: [lseek_to(10), lseek_to(10, os.SEEK_CUR), lseek_to(11)])
    assert result == ["EDOM", 10, 11]


def test_conditions_on_the_same_arg_are_ored():
    spec = allow_by_default(lseek_rule(arg(1, "SCMP_CMP_EQ", 5), arg(1, "SCMP_CMP_EQ", 7)))
    result, _ = run_filtered(spec, lambda: [lseek_to(n) for n in (5, 6, 7)])
    assert result == ["EDOM", 6, "EDOM"]


def test_64bit_argument_values():
    spec = allow_by_default(lseek_rule(arg(1, "SCMP_CMP_GT", 2**32)))
    result, _ = run_filtered(spec, lambda: [lseek_to(2**32), lseek_to(2**32 + 1)])
    assert result == [2**32, "EDOM"]


# ------------------------------------------------------------------- notify


SECCOMP_NOTIF = struct.Struct("=QII iIQ6Q")  # id, pid, flags, seccomp_data{nr, arch, ip, args[6]}
SECCOMP_NOTIF_RESP = struct.Struct("=QqiI")  # id, val, error, flags


def ioc_readwrite(nr: int, size: int) -> int:
    return (3 << 30) | (size << 16) | (ord("!") << 8) | nr


NOTIF_RECV = ioc_readwrite(0, SECCOMP_NOTIF.size)
NOTIF_SEND = ioc_readwrite(1, SECCOMP_NOTIF_RESP.size)


def receive_state(server: socket.socket) -> tuple[dict, int]:
    """Accept one agent connection: the JSON state and the one fd sent with it."""
    conn, _ = server.accept()
    with conn:
        data, fds, _, _ = socket.recv_fds(conn, 65536, 4)
        while chunk := conn.recv(65536):
            data += chunk
    assert len(fds) == 1
    return json.loads(data), fds[0]


def answer_one_notification(listener: int, error: int) -> list[int]:
    """Receive one notification, fail that syscall with error; returns [nr, arg1]."""
    buf = bytearray(SECCOMP_NOTIF.size)
    fcntl.ioctl(listener, NOTIF_RECV, buf)
    notif_id, _pid, _flags, nr, _arch, _ip, *args = SECCOMP_NOTIF.unpack(buf)
    resp = bytearray(SECCOMP_NOTIF_RESP.pack(notif_id, 0, -error, 0))
    fcntl.ioctl(listener, NOTIF_SEND, resp)
    return [nr, args[1]]


def test_notify_sends_listener_and_state_to_agent(tmp_path):
    sock_path = str(tmp_path / "agent.sock")
    spec = allow_by_default(
        {"names": ["lseek"], "action": "SCMP_ACT_NOTIFY"}, listenerPath=sock_path, listenerMetadata="hello"
    )
    compiled = seccomp.compile_filter(spec)
    state = {"ociVersion": "1.2.0", "id": "c1", "status": "creating", "pid": 0, "bundle": "/b", "annotations": {}}

    def body() -> Any:
        fd = seccomp.load(compiled)
        seccomp.send_listener(fd, compiled.listener_path, {**state, "pid": os.getpid()}, compiled.listener_metadata)
        os.close(fd)
        return lseek_to(42)

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(sock_path)
        server.listen(1)
        rfd, wfd = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            os.close(rfd)
            os.dup2(wfd, 200)
            os._exit(0 if run_in_child(body, 200) else 1)
        os.close(wfd)
        message, listener = receive_state(server)
        try:
            seen = answer_one_notification(listener, errno.EDOM)
        finally:
            os.close(listener)
    with os.fdopen(rfd, "rb") as pipe:
        result = json.loads(pipe.read())
    os.waitpid(pid, 0)
    assert seen == [NR_LSEEK, 42]
    assert result == "EDOM"
    assert message["fds"] == ["seccompFd"]
    assert message["pid"] == pid
    assert message["metadata"] == "hello"
    assert message["state"]["id"] == "c1" and message["state"]["pid"] == pid
    assert message["ociVersion"]


def run_in_child(body: Callable[[], Any], out_fd: int) -> bool:  # pragma: no cover - child
    try:
        seccomp.set_no_new_privs()
        result = body()
    except BaseException as exc:
        result = {"exception": repr(exc)}
    os.write(out_fd, json.dumps(result).encode())
    return True


def test_send_listener_fails_clearly_without_agent(tmp_path):
    with pytest.raises(seccomp.OcirtError) as info:
        seccomp.send_listener(0, str(tmp_path / "missing.sock"), {"pid": 1}, None)
    assert "missing.sock" in str(info.value)


# ------------------------------------------------------------- big profiles


def all_syscall_names() -> list[str]:
    with open(UNISTD_64) as header:
        return re.findall(r"#define __NR_(\w+)\s+\d+", header.read())


@pytest.mark.skipif(not os.path.exists(UNISTD_64), reason="needs kernel headers for syscall names")
def test_large_profile_compiles_fast_and_loads(tmp_path):
    names = [n for n in all_syscall_names() if n not in ("mkdir", "mkdirat", "personality")]
    assert len(names) > 300
    spec = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [
            {"names": names, "action": "SCMP_ACT_ALLOW"},
            *[
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [arg(0, "SCMP_CMP_EQ", v)]}
                for v in (0, 8, 0x20000, 0x20008, 0xFFFFFFFF)
            ],
        ],
    }
    start = time.perf_counter()
    compiled = seccomp.compile_filter(spec)
    elapsed = time.perf_counter() - start
    assert elapsed < 0.5, f"compiling took {elapsed * 1000:.0f} ms"
    result, _ = run_compiled(compiled, lambda: [lseek_to(7), outcome(lambda: os.mkdir(tmp_path / "d"))])
    assert result == [7, "EPERM"]


# ------------------------------------------------------------ -ENOSYS stub

NR_MKDIR = 83
X32_BIT = 0x40000000


def enosys_profile(**extra) -> dict:
    return {
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [{"names": minimal_allow_list(), "action": "SCMP_ACT_ALLOW"}],
        **extra,
    }


def test_syscalls_newer_than_the_profile_get_enosys():
    result, _ = run_filtered(enosys_profile(), lambda: [raw_syscall(NR_UNASSIGNED), raw_syscall(NR_MKDIR)])
    assert result == ["ENOSYS", "EPERM"]


def test_enosys_stub_covers_x32_mode():
    spec = enosys_profile(architectures=["SCMP_ARCH_X86_64", "SCMP_ARCH_X32"])
    calls = lambda: [raw_syscall(X32_BIT | NR_UNASSIGNED), raw_syscall(X32_BIT | NR_MKDIR), raw_syscall(NR_UNASSIGNED)]
    result, _ = run_filtered(spec, calls)
    assert result == ["ENOSYS", "EPERM", "ENOSYS"]


def test_x32_calls_without_x32_arch_are_left_to_the_filter():
    result, status = run_filtered(enosys_profile(), lambda: raw_syscall(X32_BIT | NR_UNASSIGNED))
    assert result is None and os.WTERMSIG(status) == signal.SIGSYS  # libseccomp's bad-arch action


def test_enosys_stub_keeps_a_custom_default_errno():
    spec = enosys_profile(defaultErrnoRet=errno.EXDEV)
    result, _ = run_filtered(spec, lambda: [raw_syscall(NR_UNASSIGNED), raw_syscall(NR_MKDIR)])
    assert result == ["ENOSYS", "EXDEV"]
