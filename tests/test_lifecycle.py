"""The spec's lifecycle through the CLI: create, start, state, kill, delete, run."""
from __future__ import annotations

import json
import os
import time

from testlib import STATE_ROOT, run_ocirt, wait_status




def test_run_returns_exit_status_and_output(ocirt, bundle):
    r = ocirt.run(bundle.sh("echo hello; exit 3"))
    assert r.returncode == 3, r
    assert r.stdout == "hello\n"


def test_create_start_state_kill_delete(ocirt, bundle, tmp_path):
    bundle.args("sleep", "60")
    cid = ocirt.new_id()
    pid_file = tmp_path / "pid"
    r = ocirt("create", "--bundle", str(bundle.path), "--pid-file", str(pid_file), cid)
    assert r.returncode == 0, r
    st = ocirt.state(cid)
    assert st["status"] == "created"
    assert st["id"] == cid and st["bundle"] == str(bundle.path)
    assert int(pid_file.read_text()) == st["pid"]
    # the init waits: the user process has not run yet
    with open(f"/proc/{st['pid']}/cmdline", "rb") as f:
        assert b"sleep" not in f.read()
    assert ocirt("start", cid).returncode == 0
    st = ocirt.state(cid)
    assert st["status"] == "running"
    with open(f"/proc/{st['pid']}/cmdline", "rb") as f:
        assert f.read().split(b"\0")[0] == b"sleep"
    r = ocirt("start", cid)
    assert r.returncode != 0 and "running" in r.stderr
    r = ocirt("delete", cid)
    assert r.returncode != 0 and "not stopped" in r.stderr
    assert ocirt("kill", cid, "KILL").returncode == 0
    assert wait_status(ocirt, cid, "stopped")["status"] == "stopped"
    assert ocirt("delete", cid).returncode == 0
    assert not os.path.exists(os.path.join(STATE_ROOT, cid))
    r = ocirt("state", cid)
    assert r.returncode != 0 and "does not exist" in r.stderr


def test_kill_created_container_with_sigterm(ocirt, bundle):
    """A waiting init is pid 1 of its namespace; it must still die of SIGTERM."""
    cid = ocirt.new_id()
    assert ocirt("create", "--bundle", str(bundle.path), cid).returncode == 0
    assert ocirt("kill", cid, "TERM").returncode == 0
    assert wait_status(ocirt, cid, "stopped")["status"] == "stopped"
    assert ocirt("delete", cid).returncode == 0


def test_delete_created_container(ocirt, bundle):
    cid = ocirt.new_id()
    assert ocirt("create", "--bundle", str(bundle.path), cid).returncode == 0
    pid = ocirt.state(cid)["pid"]
    assert ocirt("delete", cid).returncode == 0
    time.sleep(0.1)
    assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"


def test_run_detach_then_force_delete(ocirt, bundle):
    bundle.args("sleep", "60")
    cid = ocirt.new_id()
    assert ocirt("run", "-d", "--bundle", str(bundle.path), cid).returncode == 0
    pid = ocirt.state(cid)["pid"]
    assert ocirt.state(cid)["status"] == "running"
    assert ocirt("delete", "--force", cid).returncode == 0
    assert not os.path.exists(os.path.join(STATE_ROOT, cid))
    time.sleep(0.1)
    assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"


def test_duplicate_id_is_refused(ocirt, bundle):
    bundle.args("sleep", "60")
    cid = ocirt.new_id()
    assert ocirt("create", "--bundle", str(bundle.path), cid).returncode == 0
    r = ocirt("create", "--bundle", str(bundle.path), cid)
    assert r.returncode != 0 and "already exists" in r.stderr
    assert ocirt.state(cid)["status"] == "created"
    assert ocirt("delete", "-f", cid).returncode == 0


def test_list_table_json_quiet(ocirt, bundle):
    bundle.args("sleep", "60")
    cid = ocirt.new_id()
    assert ocirt("run", "-d", "--bundle", str(bundle.path), cid).returncode == 0
    listed = json.loads(ocirt("list", "--format", "json").stdout)
    assert [s["status"] for s in listed if s["id"] == cid] == ["running"]
    assert cid in ocirt("list", "-q").stdout.split()
    table = ocirt("list").stdout.splitlines()
    assert table[0].split()[:3] == ["ID", "PID", "STATUS"]
    assert any(line.startswith(cid) and "running" in line for line in table)
    assert ocirt("delete", "-f", cid).returncode == 0


def test_kill_stopped_container_says_not_running(ocirt, bundle):
    cid = ocirt.new_id()
    assert ocirt("run", "--keep", "--bundle", str(bundle.path), cid).returncode == 0
    assert ocirt.state(cid)["status"] == "stopped"
    r = ocirt("kill", cid)
    assert r.returncode != 0 and "container not running" in r.stderr
    assert ocirt("delete", cid).returncode == 0


def test_unknown_container(ocirt):
    for cmd in ("state", "start", "kill", "delete"):
        r = ocirt(cmd, "nope-does-not-exist")
        assert r.returncode != 0
        assert "container nope-does-not-exist does not exist" in r.stderr
        assert "Traceback" not in r.stderr
    assert ocirt("delete", "--force", "nope-does-not-exist").returncode == 0


def test_signal_forwarded_by_run(ocirt, bundle):
    import subprocess
    import signal

    bundle.sh("trap 'echo got-term; exit 42' TERM; while true; do sleep 0.1; done").write()
    cid = ocirt.new_id()
    from testlib import OCIRT

    proc = subprocess.Popen([OCIRT, "--root", STATE_ROOT, "run", "-b", str(bundle.path), cid],
                            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 30  # generous: the v2 lane runs under emulation
    while time.monotonic() < deadline:
        r = run_ocirt("state", cid)
        if r.returncode == 0 and json.loads(r.stdout)["status"] == "running":
            break
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 42
    assert b"got-term" in out


def test_version_and_help():
    r = run_ocirt("--version")
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    assert lines[0].startswith("ocirt version ")
    assert any(line.startswith("spec: 1.") for line in lines)
    assert any(line.startswith("commit: ") for line in lines)
    assert run_ocirt("--help").returncode == 0


def test_features_document():
    r = run_ocirt("features")
    assert r.returncode == 0
    doc = json.loads(r.stdout)
    assert doc["ociVersionMax"].startswith("1.")
    assert "mount" in doc["linux"]["namespaces"]
    assert "CAP_SYS_ADMIN" in doc["linux"]["capabilities"]
    assert doc["linux"]["seccomp"]["enabled"] is True
    assert "createRuntime" in doc["hooks"]


def test_spec_writes_a_runnable_default(ocirt, bundle, tmp_path):
    d = tmp_path / "specdir"
    d.mkdir()
    assert ocirt("spec", "--bundle", str(d)).returncode == 0
    cfg = json.loads((d / "config.json").read_text())
    assert cfg["process"]["args"] == ["sh"] and cfg["root"]["path"] == "rootfs"
    r = ocirt("spec", "--bundle", str(d))
    assert r.returncode != 0 and "exists" in r.stderr
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = ["sh", "-c", "hostname"]
    bundle.config = cfg
    r = ocirt.run(bundle)
    assert r.returncode == 0, r
    assert r.stdout.strip() == "ocirt"


def test_long_state_root(ocirt, bundle, tmp_path):
    """Docker's --root plus a 64-hex id passes AF_UNIX's 108-byte limit."""
    root = f"{STATE_ROOT}/{'r' * 40}/runtime-runc/moby"
    cid = "e" * 64
    try:
        bundle.sh("echo long-root").write()
        r = run_ocirt("run", "-b", str(bundle.path), cid, root=root)
        assert r.returncode == 0, r
        assert r.stdout == "long-root\n"
    finally:
        run_ocirt("delete", "-f", cid, root=root)


def test_phase_log_times_create_from_the_cli_process_only(ocirt, bundle, tmp_path):
    """OCIRT_PHASE_LOG (bench/hotspots.py's breakdown) lists create's
    checkpoints in order, all from the CLI process: the init, which may
    already see the container's files at that path, never opens it."""
    log = tmp_path / "phases.log"
    r = ocirt.run(bundle, extra_env={"OCIRT_PHASE_LOG": str(log)})
    assert r.returncode == 0, r
    rows = [line.split() for line in log.read_text().splitlines()]
    names = [n for n, _, _ in rows if n.startswith("create:")]
    assert names[0] == "create:begin" and names[-1] == "create:saved", names
    assert {"create:config-loaded", "create:cgroup", "create:forked", "create:init-pid"} <= set(names)
    assert len({pid for _, pid, _ in rows}) == 1
    stamps = [int(ns) for _, _, ns in rows]
    assert stamps == sorted(stamps)
    assert not (bundle.rootfs / str(log).lstrip("/")).exists()
