"""exec gives the new process the container's per-process attributes, as
runc does (libcontainer/setns_init_linux.go): linux.personality and
linux.memoryPolicy from the config saved at create — not the runtime's own,
which stay untouched."""
from __future__ import annotations

import os
from pathlib import Path

import pytest


def start(ocirt, bundle, linux: dict) -> str:
    bundle.config["linux"].update(linux)
    bundle.args("sleep", "120")
    cid = ocirt.new_id()
    r = ocirt("run", "-d", "-b", str(bundle.path), cid)
    assert r.returncode == 0, r
    return cid


def exec_in(ocirt, cid: str, script: str) -> str:
    r = ocirt("exec", cid, "sh", "-c", script)
    assert r.returncode == 0, r
    return r.stdout


def exec_detached(ocirt, bundle, cid: str) -> int:
    """The host pid of a sleeping process exec'd into cid."""
    pid_file = bundle.path / "exec.pid"
    r = ocirt("exec", "-d", "--pid-file", str(pid_file), cid, "sleep", "60")
    assert r.returncode == 0, r
    return int(pid_file.read_text())


def test_exec_takes_the_personality(ocirt, bundle):
    if os.uname().machine != "x86_64":
        pytest.skip("LINUX32 shows as i686 on x86_64")
    cid = start(ocirt, bundle, {"personality": {"domain": "LINUX32"}})
    try:
        assert exec_in(ocirt, cid, "uname -m").strip() == "i686"
        # from the host: PER_LINUX32 is 0x8 (linux/personality.h)
        assert int(Path(f"/proc/{exec_detached(ocirt, bundle, cid)}/personality").read_text(), 16) == 8
    finally:
        assert ocirt("delete", "-f", cid).returncode == 0
    assert int(Path("/proc/self/personality").read_text(), 16) == 0  # ours is untouched


def test_exec_keeps_linux_personality(ocirt, bundle):
    cid = start(ocirt, bundle, {"personality": {"domain": "LINUX"}})
    try:
        assert exec_in(ocirt, cid, "uname -m").strip() == os.uname().machine
    finally:
        assert ocirt("delete", "-f", cid).returncode == 0


@pytest.mark.parametrize("policy,shown", [
    ({"mode": "MPOL_INTERLEAVE", "nodes": "0"}, "interleave:0"),
    ({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]}, "bind=static:0"),
])
def test_exec_takes_the_memory_policy(ocirt, bundle, policy, shown):
    """numa_maps shows the task policy for mappings without one of their own,
    inside the exec'd process and, from the host, on a detached one."""
    cid = start(ocirt, bundle, {"memoryPolicy": policy})
    try:
        assert exec_in(ocirt, cid, "head -n 1 /proc/self/numa_maps").split()[1] == shown
        with open(f"/proc/{exec_detached(ocirt, bundle, cid)}/numa_maps") as f:
            assert f.readline().split()[1] == shown
    finally:
        assert ocirt("delete", "-f", cid).returncode == 0
    with open("/proc/self/numa_maps") as f:
        assert f.readline().split()[1] == "default"


def test_exec_without_attributes_keeps_the_defaults(ocirt, bundle):
    """The other side: a container without them gives exec the defaults."""
    cid = start(ocirt, bundle, {})
    try:
        out = exec_in(ocirt, cid, "uname -m; head -n 1 /proc/self/numa_maps").split()
        assert out[0] == os.uname().machine and out[2] == "default", out
    finally:
        assert ocirt("delete", "-f", cid).returncode == 0
