"""Resources seen from inside a real container and read back on the host:
OOM kill at the memory limit, fork refused at pids.max, cpuset, a live
update, pause/resume, ps, events --stats, nothing left after delete."""
from __future__ import annotations

import json
import os
import time

import pytest

from testlib import run_ocirt


def cgroup_dir(ocirt, cid: str, controller: str) -> str:
    with open(f"/proc/{ocirt.state(cid)['pid']}/cgroup") as f:
        for line in f:
            _, names, path = line.rstrip("\n").split(":", 2)
            if controller in names.split(",") or (controller == "" and names == ""):
                base = "/sys/fs/cgroup/" + (controller or "unified")
                if not os.path.isdir(base):
                    base = "/sys/fs/cgroup"
                return base + path
    raise AssertionError(f"no {controller} cgroup")


def v1() -> bool:
    return os.path.isdir("/sys/fs/cgroup/memory")


@pytest.fixture
def sleeper(ocirt, bundle):
    def start(resources: dict) -> str:
        bundle.config["linux"]["resources"].update(resources)
        bundle.args("sleep", "120")
        cid = ocirt.new_id()
        r = ocirt("run", "-d", "-b", str(bundle.path), cid)
        assert r.returncode == 0, r
        return cid
    return start


def test_memory_limit_oom_kills(ocirt, bundle):
    bundle.config["linux"]["resources"]["memory"] = {"limit": 32 << 20, "swap": 32 << 20}
    r = ocirt.run(bundle.sh("x=$(head -c 200000000 /dev/zero | tr '\\000' a); echo survived ${#x}"))
    assert "survived" not in r.stdout
    assert r.returncode != 0


def test_pids_limit_refuses_fork(ocirt, bundle):
    bundle.config["linux"]["resources"]["pids"] = {"limit": 5}
    r = ocirt.run(bundle.sh("i=0; while [ $i -lt 10 ]; do sleep 3 & i=$((i+1)); done; echo looped"))
    assert "fork" in r.stderr.lower() or "resource temporarily unavailable" in r.stderr.lower(), r


def test_cpuset_visible_inside(ocirt, bundle):
    bundle.config["linux"]["resources"]["cpu"] = {"cpus": "0"}
    r = ocirt.run(bundle.sh("grep Cpus_allowed_list /proc/self/status"))
    assert r.stdout.split()[-1] == "0", r


def test_limits_read_back_and_live_update(ocirt, sleeper):
    cid = sleeper({"memory": {"limit": 64 << 20}, "pids": {"limit": 40}, "cpu": {"shares": 512}})
    if v1():
        mem = cgroup_dir(ocirt, cid, "memory")
        assert int(open(mem + "/memory.limit_in_bytes").read()) == 64 << 20
        assert open(cgroup_dir(ocirt, cid, "pids") + "/pids.max").read().strip() == "40"
        assert open(cgroup_dir(ocirt, cid, "cpu") + "/cpu.shares").read().strip() == "512"
    r = ocirt("update", "--memory", "128m", "--pids-limit", "60", cid)
    assert r.returncode == 0, r
    if v1():
        assert int(open(mem + "/memory.limit_in_bytes").read()) == 128 << 20
        assert open(cgroup_dir(ocirt, cid, "pids") + "/pids.max").read().strip() == "60"
    stats = json.loads(ocirt("events", "--stats", cid).stdout)
    assert stats["type"] == "stats" and stats["id"] == cid
    data = stats["data"]
    assert data["pids"]["current"] >= 1 and data["pids"]["limit"] == 60
    assert data["memory"]["usage"]["limit"] == 128 << 20
    assert data["cpu"]["usage"]["total"] > 0
    assert "blkio" in data
    assert ocirt("delete", "-f", cid).returncode == 0


def test_pause_resume_and_ps(ocirt, sleeper):
    cid = sleeper({})
    pid = ocirt.state(cid)["pid"]
    assert json.loads(ocirt("ps", "--format", "json", cid).stdout) == [pid]
    assert ocirt("pause", cid).returncode == 0
    assert ocirt.state(cid)["status"] == "paused"
    if v1():
        assert open(cgroup_dir(ocirt, cid, "freezer") + "/freezer.state").read().strip() == "FROZEN"
    assert ocirt("resume", cid).returncode == 0
    assert ocirt.state(cid)["status"] == "running"
    with open(f"/proc/{pid}/stat") as f:
        assert f.read().rsplit(")", 1)[1].split()[0] in ("S", "R")
    assert ocirt("delete", "-f", cid).returncode == 0


def test_nothing_left_after_init_killed(ocirt, sleeper):
    cid = sleeper({"memory": {"limit": 64 << 20}})
    dirs = [cgroup_dir(ocirt, cid, c) for c in (("memory", "pids", "freezer") if v1() else ("",))]
    os.kill(ocirt.state(cid)["pid"], 9)
    time.sleep(0.3)
    assert ocirt.state(cid)["status"] == "stopped"
    assert ocirt("delete", cid).returncode == 0
    for d in dirs:
        assert not os.path.exists(d), d
    assert run_ocirt("state", cid).returncode != 0
