"""exec: the new process joins every namespace and the cgroup of the
container, takes the CLI's or --process's settings, and reports its exit
status (or detaches and writes --pid-file)."""
from __future__ import annotations

import json
import os
import time

import pytest


@pytest.fixture
def running(ocirt, bundle):
    bundle.args("sleep", "120")
    cid = ocirt.new_id()
    assert ocirt("run", "-d", "-b", str(bundle.path), cid).returncode == 0
    yield cid
    ocirt("delete", "-f", cid)


def test_exec_joins_namespaces_and_cgroup(ocirt, running):
    pid = ocirt.state(running)["pid"]
    r = ocirt("exec", running, "sh", "-c", "for n in pid net mnt uts ipc cgroup; do readlink /proc/self/ns/$n; done; cat /proc/self/cgroup")
    assert r.returncode == 0, r
    lines = r.stdout.splitlines()
    for i, name in enumerate(("pid", "net", "mnt", "uts", "ipc", "cgroup")):
        assert lines[i] == os.readlink(f"/proc/{pid}/ns/{name}")
    # same cgroup as the init (seen through the cgroup namespace as "/")
    assert any(line.endswith(":/") for line in lines[6:]), lines


def test_exec_exit_status_env_cwd_user(ocirt, running):
    r = ocirt("exec", "--env", "X=1", "--cwd", "/tmp", "--user", "1000:1001", running,
              "sh", "-c", 'echo "$X $(pwd) $(id -u) $(id -g)"; exit 9')
    assert r.returncode == 9
    assert r.stdout.strip() == "1 /tmp 1000 1001"


def test_exec_process_file(ocirt, running, tmp_path):
    proc = {"args": ["sh", "-c", "echo from-file $Y"], "env": ["Y=2", "PATH=/bin"], "cwd": "/",
            "user": {"uid": 0, "gid": 0}}
    (tmp_path / "p.json").write_text(json.dumps(proc))
    r = ocirt("exec", "--process", str(tmp_path / "p.json"), running)
    assert r.returncode == 0, r
    assert r.stdout.strip() == "from-file 2"


def test_exec_detach_pid_file(ocirt, running, tmp_path):
    pid_file = tmp_path / "exec.pid"
    r = ocirt("exec", "-d", "--pid-file", str(pid_file), running, "sleep", "30")
    assert r.returncode == 0, r
    pid = int(pid_file.read_text())
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        assert f.read().split(b"\0")[0] == b"sleep"
    assert pid in json.loads(ocirt("ps", "--format", "json", running).stdout)


def test_exec_cap_and_no_new_privs(ocirt, running):
    r = ocirt("exec", "--cap", "CAP_SYS_ADMIN", "--no-new-privs", running, "grep", "-E", "CapEff|NoNewPrivs", "/proc/self/status")
    assert r.returncode == 0, r
    fields = dict(line.split(":") for line in r.stdout.splitlines())
    assert int(fields["CapEff"].strip(), 16) & (1 << 21)
    assert fields["NoNewPrivs"].strip() == "1"
    r = ocirt("exec", "--cap", "CAP_BOGUS", running, "true")
    assert r.returncode != 0 and "CAP_BOGUS" in r.stderr


def test_exec_missing_binary(ocirt, running):
    r = ocirt("exec", running, "nope")
    assert r.returncode != 0 and "executable file not found" in r.stderr


def test_exec_into_paused_and_stopped(ocirt, running):
    assert ocirt("pause", running).returncode == 0
    r = ocirt("exec", running, "true")
    assert r.returncode != 0 and "paused" in r.stderr
    assert ocirt("resume", running).returncode == 0
    assert ocirt("kill", running, "KILL").returncode == 0
    time.sleep(0.3)
    r = ocirt("exec", running, "true")
    assert r.returncode != 0 and "stopped" in r.stderr
