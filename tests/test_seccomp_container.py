"""Seccomp seen from inside a container started by the ocirt CLI (busybox rootfs).

Each test runs `ocirt run` with one profile and reads what a busybox shell
saw: an error message, an exit status (128 + SIGSYS when killed), or output.
"""

import errno
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest

from bench.bundle import build_rootfs, default_config, find_busybox
from test_seccomp import answer_one_notification, receive_state

UNISTD_64 = "/usr/include/x86_64-linux-gnu/asm/unistd_64.h"
KILLED_BY_SIGSYS = 128 + 31
# Signals the shell ignores (trap ''), so `kill -SIG 1` only tests the filter.
SIGNALS = {"USR1": 10, "USR2": 12, "ALRM": 14}


def _usable() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    if os.uname().machine != "x86_64":
        return "syscall numbers are x86_64"
    try:
        find_busybox()
    except FileNotFoundError as exc:
        return str(exc)
    return None


pytestmark = pytest.mark.skipif(_usable() is not None, reason=str(_usable()))


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory) -> Path:
    return build_rootfs(tmp_path_factory.mktemp("seccomp-rootfs"))


@pytest.fixture
def run_container(rootfs, tmp_path):
    """run_container(seccomp, script) -> (exit code, stdout + stderr) of `sh -c script`."""
    state_root = tmp_path / "state"

    def run(seccomp: dict, script: str) -> tuple[int, str]:
        bundle = tmp_path / f"bundle-{uuid.uuid4().hex[:8]}"
        bundle.mkdir()
        config = default_config(rootfs, ["/bin/sh", "-c", script])
        config["root"]["readonly"] = False
        # Masked and read-only /proc paths are not what these tests are about.
        config["linux"].pop("maskedPaths")
        config["linux"].pop("readonlyPaths")
        config["linux"]["seccomp"] = seccomp
        (bundle / "config.json").write_text(json.dumps(config))
        cid = f"sc-{uuid.uuid4().hex[:12]}"
        cmd = [sys.executable, "-m", "ocirt", "--root", str(state_root), "run", "--bundle", str(bundle), cid]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=Path(__file__).parent.parent)
        return proc.returncode, proc.stdout + proc.stderr

    yield run
    shutil.rmtree(state_root, ignore_errors=True)


def allow_all_but(*syscalls: dict, **extra) -> dict:
    return {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": list(syscalls), **extra}


def mkdir_rule(action: str, **extra) -> dict:
    return {"names": ["mkdir", "mkdirat"], "action": action, **extra}


MKDIR = "mkdir /tmp/d; echo rc=$?"


def test_errno_defaults_to_eperm(run_container):
    code, out = run_container(allow_all_but(mkdir_rule("SCMP_ACT_ERRNO")), MKDIR)
    assert code == 0 and "Operation not permitted" in out and "rc=1" in out


def test_errno_ret(run_container):
    code, out = run_container(allow_all_but(mkdir_rule("SCMP_ACT_ERRNO", errnoRet=errno.EXDEV)), MKDIR)
    assert os.strerror(errno.EXDEV) in out and "rc=1" in out


@pytest.mark.parametrize("action", ["SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_TRAP"])
def test_killing_actions_end_the_process_with_sigsys(run_container, action):
    code, out = run_container(allow_all_but(mkdir_rule(action)), MKDIR + "; test -d /tmp/d || echo absent")
    assert f"rc={KILLED_BY_SIGSYS}" in out and "absent" in out, out


def test_log_lets_the_syscall_run(run_container):
    code, out = run_container(allow_all_but(mkdir_rule("SCMP_ACT_LOG")), MKDIR + "; test -d /tmp/d && echo made")
    assert "rc=0" in out and "made" in out


def test_trace_without_tracer_is_enosys(run_container):
    code, out = run_container(allow_all_but(mkdir_rule("SCMP_ACT_TRACE")), MKDIR)
    assert os.strerror(errno.ENOSYS) in out and "rc=1" in out


def engine_like_profile(**extra) -> dict:
    """Default ERRNO, every syscall but mkdir allowed: the shape of Docker's default."""
    with open(UNISTD_64) as header:
        names = re.findall(r"#define __NR_(\w+)\s+\d+", header.read())
    allowed = [n for n in names if n not in ("mkdir", "mkdirat")]
    return {
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": allowed, "action": "SCMP_ACT_ALLOW"}],
        **extra,
    }


@pytest.mark.skipif(not os.path.exists(UNISTD_64), reason="needs kernel headers for syscall names")
def test_allow_list_profile(run_container):
    code, out = run_container(engine_like_profile(), "echo hello; " + MKDIR)
    assert "hello" in out and "Operation not permitted" in out and "rc=1" in out


@pytest.mark.skipif(not os.path.exists(UNISTD_64), reason="needs kernel headers for syscall names")
def test_default_errno_ret(run_container):
    code, out = run_container(engine_like_profile(defaultErrnoRet=errno.EXDEV), MKDIR)
    assert os.strerror(errno.EXDEV) in out and "rc=1" in out


def kill_script() -> str:
    """The shell (pid 1) signals itself with each of SIGNALS and reports kill's status."""
    names = " ".join(SIGNALS)
    return f"trap '' {names}; for s in {names}; do kill -$s 1 2>/dev/null; echo $s=$?; done"


def kill_results(out: str) -> set[str]:
    """The signals whose kill(2) the filter refused."""
    return {name for name in SIGNALS if f"{name}=1" in out}


def kill_rule(*args: dict) -> dict:
    return {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "args": list(args)}


@pytest.mark.parametrize(
    "op, blocked",
    [
        ("SCMP_CMP_NE", {"USR1", "ALRM"}),
        ("SCMP_CMP_LT", {"USR1"}),
        ("SCMP_CMP_LE", {"USR1", "USR2"}),
        ("SCMP_CMP_EQ", {"USR2"}),
        ("SCMP_CMP_GE", {"USR2", "ALRM"}),
        ("SCMP_CMP_GT", {"ALRM"}),
    ],
)
def test_operator(run_container, op, blocked):
    spec = allow_all_but(kill_rule({"index": 1, "value": SIGNALS["USR2"], "op": op}))
    _, out = run_container(spec, kill_script())
    assert kill_results(out) == blocked, out


def test_masked_eq(run_container):
    # 10 = 0b1010, 12 = 0b1100, 14 = 0b1110: bit 2 is set in 12 and 14.
    spec = allow_all_but(kill_rule({"index": 1, "value": 0b100, "valueTwo": 0b100, "op": "SCMP_CMP_MASKED_EQ"}))
    _, out = run_container(spec, kill_script())
    assert kill_results(out) == {"USR2", "ALRM"}, out


def test_conditions_on_two_args(run_container):
    spec = allow_all_but(
        kill_rule({"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": 10, "op": "SCMP_CMP_EQ"})
    )
    _, out = run_container(spec, kill_script())
    assert kill_results(out) == {"USR1"}, out


def test_conditions_on_one_arg_are_alternatives(run_container):
    spec = allow_all_but(
        kill_rule({"index": 1, "value": 10, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": 14, "op": "SCMP_CMP_EQ"})
    )
    _, out = run_container(spec, kill_script())
    assert kill_results(out) == {"USR1", "ALRM"}, out


# ------------------------------------------------------------------- notify

def agent(server: socket.socket, report: dict) -> None:
    """A seccomp agent: take the listener, fail the first notified syscall with EXDEV."""
    report["state"], listener = receive_state(server)
    try:
        report["nr"], _ = answer_one_notification(listener, errno.EXDEV)
    finally:
        os.close(listener)


def test_notify_reaches_the_agent(run_container, tmp_path):
    sock_path = str(tmp_path / "agent.sock")
    spec = allow_all_but(mkdir_rule("SCMP_ACT_NOTIFY"), listenerPath=sock_path, listenerMetadata="from-test")
    report: dict = {}
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(sock_path)
        server.listen(1)
        server.settimeout(30)
        thread = threading.Thread(target=agent, args=(server, report), daemon=True)
        thread.start()
        code, out = run_container(spec, MKDIR)
        thread.join(30)
    assert os.strerror(errno.EXDEV) in out and "rc=1" in out, out
    assert report["nr"] in (83, 258)  # mkdir or mkdirat
    assert report["state"]["fds"] == ["seccompFd"]
    assert report["state"]["metadata"] == "from-test"
    assert report["state"]["state"]["id"].startswith("sc-")


def test_invalid_profile_fails_create_with_the_json_path(run_container):
    code, out = run_container(allow_all_but(mkdir_rule("SCMP_ACT_BOGUS")), "true")
    assert code != 0 and "linux.seccomp.syscalls[0].action" in out
