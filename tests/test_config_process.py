"""config.md "Process": consoleSize without a terminal, duplicate rlimits,
capability names that cannot be mapped, oom_score_adj left alone when
unset, the SELinux label on a host without SELinux, and the scheduler's
real-time and deadline parameters."""
from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import termios

import pytest

from testlib import OCIRT, STATE_ROOT, one_line_error, read_all




def create(ocirt, bundle):
    cid = ocirt.new_id()
    r = ocirt("create", "-b", str(bundle.path), cid)
    assert r.returncode == 0 or not os.path.exists(os.path.join(STATE_ROOT, cid))
    return r


def status_field(out: str, name: str) -> str:
    for line in out.splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"{name} not in {out}")


def winsize(fd: int) -> tuple[int, int]:
    rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))
    return rows, cols


def test_console_size_ignored_without_terminal(ocirt, bundle):
    """terminal false: the container inherits ocirt's stdio (here a pty of
    40x100) and consoleSize must not resize it."""
    master, slave = pty.openpty()
    try:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 100, 0, 0))
        bundle.config["process"]["consoleSize"] = {"height": 11, "width": 22}
        bundle.sh("stty size").write()
        cid = ocirt.new_id()
        r = subprocess.run([OCIRT, "--root", STATE_ROOT, "run", "-b", str(bundle.path), cid],
                           stdin=slave, stdout=slave, stderr=subprocess.PIPE, timeout=30, check=False)
        os.close(slave)
        slave = -1
        out = read_all(master)
        assert r.returncode == 0, (r, out)
        assert out.split() == ["40", "100"]
        assert winsize(master) == (40, 100)
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)


def test_duplicate_rlimits_rejected(ocirt, bundle):
    bundle.config["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 10},
                                           {"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
                                           {"type": "RLIMIT_NOFILE", "soft": 20, "hard": 20}]
    bundle.write()
    one_line_error(create(ocirt, bundle), "process.rlimits[2].type", "duplicate", "RLIMIT_NOFILE")


def test_unknown_capability_warns_and_is_ignored(ocirt, bundle):
    """Spec: logged as a warning, preferably not a failure (runc: "ignoring
    unknown or unavailable capabilities").  The known ones still apply, and
    a later exec (which reads the stored config) is not tripped by it."""
    caps = bundle.config["process"]["capabilities"]
    caps["bounding"] = ["CAP_KILL", "CAP_BOGUS", "CAP_CHOWN"]
    caps["effective"] = caps["permitted"] = ["CAP_KILL", "CAP_BOGUS"]
    bundle.args("sleep", "30")
    cid = ocirt.new_id()
    r = ocirt("create", "-b", str(bundle.path), cid)
    assert r.returncode == 0, r
    assert "warning" in r.stderr and "CAP_BOGUS" in r.stderr
    assert ocirt("start", cid).returncode == 0
    e = ocirt("exec", cid, "cat", "/proc/self/status")
    assert e.returncode == 0, e
    assert int(status_field(e.stdout, "CapBnd"), 16) == (1 << 5) | (1 << 0)  # CAP_KILL, CAP_CHOWN
    assert int(status_field(e.stdout, "CapEff"), 16) == 1 << 5
    assert ocirt("delete", "-f", cid).returncode == 0


def test_oom_score_adj_untouched_when_unset(ocirt, bundle):
    """No oomScoreAdj: the container keeps the value it inherits from the
    runtime's caller (set here to 321), as runc leaves it."""
    bundle.config["process"].pop("oomScoreAdj", None)
    bundle.sh("cat /proc/self/oom_score_adj").write()

    def set_score() -> None:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("321")

    cid = ocirt.new_id()
    r = subprocess.run([OCIRT, "--root", STATE_ROOT, "run", "-b", str(bundle.path), cid],
                       capture_output=True, text=True, timeout=30, preexec_fn=set_score, check=False)
    assert r.returncode == 0, r
    assert r.stdout.strip() == "321"
    with open("/proc/self/oom_score_adj") as f:
        assert f.read().strip() != "321"


def test_selinux_label_without_selinux_refused(ocirt, bundle):
    """As runc: a label that cannot be applied is an error, not silently
    dropped."""
    if os.path.exists("/sys/fs/selinux/enforce"):
        pytest.skip("SELinux is enabled here")
    bundle.config["process"]["selinuxLabel"] = "system_u:system_r:svirt_lxc_net_t:s0:c124,c675"
    bundle.write()
    one_line_error(create(ocirt, bundle), "process.selinuxLabel", "SELinux")


def stat_fields(line: str) -> list[str]:
    """/proc/<pid>/stat split after the command name (field 3 is index 0)."""
    return line.rsplit(")", 1)[1].split()


def test_scheduler_realtime_reset_on_fork(ocirt, bundle):
    """SCHED_RR with a priority applies to the process; with
    SCHED_FLAG_RESET_ON_FORK its children start as SCHED_OTHER."""
    bundle.config["process"]["scheduler"] = {"policy": "SCHED_RR", "priority": 7,
                                             "flags": ["SCHED_FLAG_RESET_ON_FORK"]}
    if os.path.exists("/sys/fs/cgroup/cpu/cpu.rt_runtime_us"):
        # RT group scheduling: a cgroup without realtime runtime refuses RT tasks
        bundle.config["linux"]["resources"]["cpu"] = {"realtimeRuntime": 10000, "realtimePeriod": 1000000}
    r = ocirt.run(bundle.sh("cat /proc/1/stat; cat /proc/self/stat; true"))  # true: sh forks cat
    assert r.returncode == 0, r
    init, child = (stat_fields(line) for line in r.stdout.splitlines())
    assert (init[37], init[38]) == ("7", "2")  # rt_priority, policy SCHED_RR
    assert (child[37], child[38]) == ("0", "0")


def sched_getattr(pid: int) -> dict[str, int]:
    """sched_getattr(2) of another process (glibc has no wrapper)."""
    import ctypes
    import platform

    if platform.machine() != "x86_64":
        pytest.skip("sched_getattr syscall number known for x86_64 only")
    buf = ctypes.create_string_buffer(56)
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.syscall(315, pid, buf, 56, 0) == 0, os.strerror(ctypes.get_errno())
    _size, policy, flags, nice, prio, runtime, deadline, period = struct.unpack_from("IIQiIQQQ", buf.raw)
    return {"policy": policy, "flags": flags, "nice": nice, "priority": prio,
            "runtime": runtime, "deadline": deadline, "period": period}


def test_scheduler_deadline(ocirt, bundle):
    """SCHED_DEADLINE takes runtime, deadline and period (ns); unset nice and
    priority count as 0 (read from the host with sched_getattr)."""
    bundle.config["process"]["scheduler"] = {"policy": "SCHED_DEADLINE", "runtime": 2000000,
                                             "deadline": 8000000, "period": 10000000}
    bundle.args("sleep", "30")
    cid = ocirt.new_id()
    assert ocirt("create", "-b", str(bundle.path), cid).returncode == 0
    try:
        r = ocirt("start", cid)
        assert r.returncode == 0, r
        got = sched_getattr(ocirt.state(cid)["pid"])
        assert got == {"policy": 6, "flags": 0, "nice": 0, "priority": 0,
                       "runtime": 2000000, "deadline": 8000000, "period": 10000000}
    finally:
        ocirt("delete", "-f", cid)
