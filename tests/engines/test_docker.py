"""Docker (dockerd 20.10 + its own managed containerd) running containers
on ocirt.

The test starts dockerd with private data-root, exec-root, pidfile and
socket, no bridge/iptables (no network here), the cgroupfs driver, and a
daemon.json that registers ocirt in `runtimes` and makes it the default.
Debian's client /usr/bin/docker is used (a newer /usr/local/bin/docker may
be on PATH).  The image is `docker import`ed from a busybox rootfs tar.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import time

import pytest
from enginelib import (
    Shim,
    assert_no_fd_or_env_leak,
    assert_no_leftovers,
    kill_pidfile,
    kill_shims,
    memory_limit,
    run,
    run_pty,
    start_daemon,
    tail,
    wait_for,
)

IMAGE = "localhost/ocirt-busybox:latest"
DOCKER = "/usr/bin/docker" if os.access("/usr/bin/docker", os.X_OK) else (shutil.which("docker") or "docker")

pytestmark = pytest.mark.skipif(shutil.which("dockerd") is None or not os.access(DOCKER, os.X_OK),
                                reason="dockerd/docker not installed (tests/engines/install.sh)")


class Dockerd:
    def __init__(self, base, shim: Shim) -> None:
        self.base, self.shim = base, shim
        self.dir = base / "docker"
        self.dir.mkdir()
        self.sock = self.dir / "docker.sock"
        self.pidfile = self.dir / "dockerd.pid"
        self.logfile = self.dir / "dockerd.log"
        # ocirt's --root becomes <exec-root>/runtime-runc/moby: with 64-hex
        # ids its state files lie past the 108-byte AF_UNIX limit (longer
        # than under Docker's default /var/run/docker), as they should.
        self.exec_root = self.dir / "exec"
        self.proc: subprocess.Popen | None = None
        (self.dir / "client").mkdir()
        (self.dir / "client" / "config.json").write_text("{}")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        self.env["DOCKER_CONFIG"] = str(self.dir / "client")

    def start(self, driver: str | None = None) -> bool:
        conf = {"runtimes": {"ocirt": {"path": str(self.shim.path)}}, "default-runtime": "ocirt"}
        if driver:
            conf["storage-driver"] = driver
        (self.dir / "daemon.json").write_text(json.dumps(conf))
        argv = ["dockerd", "--config-file", str(self.dir / "daemon.json"),
                "--data-root", str(self.dir / "data"), "--exec-root", str(self.exec_root),
                "--pidfile", str(self.pidfile), "-H", f"unix://{self.sock}",
                "--iptables=false", "--ip6tables=false", "--bridge=none", "--ip-forward=false",
                "--ip-masq=false", "--userland-proxy=false", "--exec-opt", "native.cgroupdriver=cgroupfs"]
        self.proc = start_daemon(argv, self.logfile, self.env)
        return bool(wait_for(lambda: self.proc.poll() is None and self("version").returncode == 0,
                             timeout=60, interval=0.5))

    def stop(self) -> None:
        ids = self("ps", "-aq").stdout.split()
        if ids:
            self("rm", "-f", *ids, timeout=120)
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, 15)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # dockerd's managed containerd and its shims, should they linger
        kill_pidfile(self.exec_root / "containerd" / "containerd.pid", timeout=10)
        kill_shims(str(self.exec_root))

    def __call__(self, *args: str, check: bool = False, **kw):
        return run([DOCKER, "-H", f"unix://{self.sock}", *args], env=self.env, check=check, **kw)

    def pty(self, *args: str, **kw):
        return run_pty([DOCKER, "-H", f"unix://{self.sock}", *args], env=self.env, **kw)

    def inspect(self, name: str, fmt: str) -> str:
        return self("inspect", "-f", fmt, name, check=True).stdout.strip()

    def log_tail(self) -> str:
        return tail(self.logfile)


@pytest.fixture(scope="module")
def docker(engine_base, shim, rootfs_tar):
    d = Dockerd(engine_base, shim)
    try:
        if not d.start():
            pytest.skip(f"dockerd did not start: {d.log_tail()}")
        r = d("import", str(rootfs_tar), IMAGE)
        if r.returncode != 0:
            d.stop()
            if not d.start("vfs") or d("import", str(rootfs_tar), IMAGE).returncode != 0:
                pytest.skip(f"docker cannot import an image here: {r} {d.log_tail()}")
        yield d
    finally:
        d.stop()


@pytest.fixture
def dk(docker, shim):
    """docker for one test: afterwards its containers are removed and
    nothing ocirt made for them may remain."""
    mark = shim.mark()
    yield docker
    ids = docker("ps", "-aq").stdout.split()
    if ids:
        docker("rm", "-f", *ids, timeout=120)
    assert_no_leftovers(shim, mark)


def test_runtime_is_ocirt_with_version(dk, shim):
    mark = shim.mark()
    r = dk("run", "--rm", "--network", "none", IMAGE, "echo", "hello")
    assert (r.returncode, r.stdout) == (0, "hello\n"), r
    assert "create" in [Shim.subcommand(a)[0] for a in shim.calls(mark)], shim.report(mark)
    # `docker info` parses `<runtime> --version` (runc's shape: a "commit:" line)
    info = json.loads(dk("info", "--format", "{{json .}}", check=True).stdout)
    assert info["DefaultRuntime"] == "ocirt"
    assert info["RuncCommit"]["ID"] not in ("", "N/A"), info["RuncCommit"]


def test_run_exit_code_and_streams(dk):
    r = dk("run", "--rm", "-i", "--network", "none", IMAGE, "sh", "-c", "cat; echo to-err >&2; exit 7",
           input="from-stdin\n")
    assert r.returncode == 7, r
    assert r.stdout == "from-stdin\n" and "to-err" in r.stderr and "to-err" not in r.stdout, r


def test_run_network_host(dk, shim):
    """With --network host Docker adds no libnetwork-setkey hook."""
    mark = shim.mark()
    r = dk("run", "--rm", "--network", "host", IMAGE, "sh", "-c", "echo host-net")
    assert (r.returncode, r.stdout) == (0, "host-net\n"), r
    cid = shim.created_ids(mark)[-1]
    assert not shim.config(cid).get("hooks", {}).get("prestart"), shim.config(cid).get("hooks")


def test_prestart_hook_libnetwork(dk, shim):
    """Docker's own prestart hook (`/proc/<dockerd>/exe libnetwork-setkey`)
    runs with the state on stdin; a failing hook would fail the run."""
    mark = shim.mark()
    r = dk("run", "--rm", "--network", "none", IMAGE, "true")
    assert r.returncode == 0, r
    cid = shim.created_ids(mark)[-1]
    hooks = shim.config(cid).get("hooks", {})
    prestart = hooks.get("prestart") or hooks.get("createRuntime") or []
    assert any("libnetwork-setkey" in " ".join(h.get("args", [])) for h in prestart), hooks


def test_missing_executable_is_127(dk):
    r = dk("run", "--rm", "--network", "none", IMAGE, "/no/such/binary")
    assert r.returncode == 127, r
    assert "no such file or directory" in r.stderr.lower(), r
    r = dk("run", "--rm", "--network", "none", IMAGE, "nosuchcommand")
    assert r.returncode == 127, r


def test_not_executable_is_126(dk):
    r = dk("run", "--rm", "--network", "none", IMAGE, "/etc/notexec")
    assert r.returncode == 126, r
    assert "permission denied" in r.stderr.lower(), r


def test_detached_exec_logs_top(dk):
    cid = dk("run", "-d", "--name", "dx", "--network", "none", IMAGE, "sh", "-c",
             "echo started; sleep 301 & exec sleep 300", check=True).stdout.strip()
    assert len(cid) == 64
    assert wait_for(lambda: "started" in dk("logs", "dx").stdout), dk("logs", "dx")
    r = dk("exec", "dx", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (r.returncode, r.stdout) == (3, "out\n") and "err" in r.stderr, r
    r = dk("exec", "-i", "dx", "cat", input="piped\n")
    assert (r.returncode, r.stdout) == (0, "piped\n"), r
    r = dk("exec", "-u", "65534:65534", "-e", "FOO=bar", "-w", "/tmp", "dx",
           "sh", "-c", 'echo "$(id -u):$(id -g) $FOO $(pwd)"')
    assert (r.returncode, r.stdout) == (0, "65534:65534 bar /tmp\n"), r
    r = dk("exec", "dx", "nosuchcommand")  # Docker 20.10 gives 126 for any failed exec (so with runc)
    assert r.returncode == 126 and "executable file not found" in r.stdout + r.stderr, r
    r = dk("exec", "-d", "dx", "sh", "-c", "echo bg > /tmp/bg")
    assert r.returncode == 0, r
    assert wait_for(lambda: dk("exec", "dx", "cat", "/tmp/bg").stdout == "bg\n")
    r = dk("top", "dx")
    assert r.returncode == 0 and "sleep 300" in r.stdout and "sleep 301" in r.stdout, r


def test_exec_tty_and_run_tty(dk):
    dk("run", "-d", "--name", "dt", "--network", "none", IMAGE, "sleep", "300", check=True)
    rc, out = dk.pty("exec", "-it", "dt", "sh", script=[(b"#", b"tty; echo s-$((6*7))\r"), (b"s-42", b"exit 5\r")])
    assert b"s-42" in out and b"/dev/pts/" in out, out
    assert rc == 5, out
    rc, out = dk.pty("run", "-it", "--rm", "--network", "none", IMAGE, "sh", "-c", "tty; sleep 0.5; stty size; exit 4",
                     size=(31, 101))
    assert b"/dev/pts/0" in out and b"31 101" in out, out
    assert rc == 4, out


def test_pause_unpause(dk):
    dk("run", "-d", "--name", "dp", "--network", "none", IMAGE, "sleep", "300", check=True)
    assert dk("pause", "dp").returncode == 0
    assert dk.inspect("dp", "{{.State.Status}}") == "paused"
    assert dk("exec", "dp", "true").returncode != 0
    assert dk("unpause", "dp").returncode == 0
    assert dk.inspect("dp", "{{.State.Status}}") == "running"
    assert dk("exec", "dp", "true").returncode == 0


def test_update(dk, shim):
    dk("run", "-d", "--name", "du", "--network", "none", "--memory", "64m", IMAGE, "sleep", "300", check=True)
    pid = dk.inspect("du", "{{.State.Pid}}")
    assert memory_limit(pid) == str(64 << 20)
    mark = shim.mark()
    r = dk("update", "--memory", "96m", "--memory-swap", "-1", "du")
    assert r.returncode == 0, r
    assert any(Shim.subcommand(a)[0] == "update" for a in shim.calls(mark)), shim.report(mark)
    assert memory_limit(pid) == str(96 << 20)
    r = dk("update", "--cpu-shares", "512", "du")  # Docker sends the rest as zeros: unchanged
    assert r.returncode == 0, r
    assert memory_limit(pid) == str(96 << 20)


def test_stop_kill_rm(dk, shim):
    dk("run", "-d", "--name", "ds", "--network", "none", IMAGE, "sh", "-c",
       "trap 'exit 0' TERM; while :; do sleep 0.1; done", check=True)
    t = time.monotonic()
    assert dk("stop", "-t", "10", "ds").returncode == 0
    assert time.monotonic() - t < 8, "SIGTERM did not reach the container's init"
    assert dk.inspect("ds", "{{.State.ExitCode}}") == "0"
    dk("run", "-d", "--name", "dk", "--network", "none", IMAGE, "sh", "-c",
       "trap 'exit 12' USR1; while :; do sleep 0.1; done", check=True)
    time.sleep(0.5)
    assert dk("kill", "-s", "USR1", "dk").returncode == 0
    assert dk("wait", "dk", timeout=30).stdout.strip() == "12"
    dk("run", "-d", "--name", "drm", "--network", "none", IMAGE, "sleep", "300", check=True)
    r = dk("rm", "-f", "drm")
    assert r.returncode == 0, r
    assert dk("inspect", "drm").returncode != 0


def test_restart(dk):
    dk("run", "-d", "--name", "drs", "--network", "none", IMAGE, "sleep", "300", check=True)
    pid1 = dk.inspect("drs", "{{.State.Pid}}")
    assert dk("restart", "-t", "0", "drs").returncode == 0
    assert dk.inspect("drs", "{{.State.Running}}") == "true"
    assert dk.inspect("drs", "{{.State.Pid}}") != pid1


def test_no_fd_or_env_leaks(dk):
    r = dk("run", "--rm", "--network", "none", IMAGE, "sh", "-c", "ls /proc/self/fd; env")
    assert_no_fd_or_env_leak(r)


@pytest.mark.parametrize("args,script,expect", [
    (["--read-only", "--tmpfs", "/scratch"], "touch /scratch/a && ! touch /b 2>/dev/null && echo ok", "ok"),
    (["--user", "65534:65534", "--cap-drop", "all", "--security-opt", "no-new-privileges"],
     "echo $(id -u) $(grep CapEff /proc/self/status | cut -f2) $(grep NoNewPrivs /proc/self/status | cut -f2)",
     "65534 0000000000000000 1"),
    (["--init"], "cat /proc/1/cmdline | tr '\\0' ' '", "/sbin/docker-init -- sh -c cat /proc/1/cmdline | tr '\\0' ' '"),
    (["--memory", "32m", "--pids-limit", "20", "--cpus", "0.5", "--shm-size", "1m", "--ulimit", "nofile=100:200"],
     "echo $(cat /sys/fs/cgroup/pids/pids.max) $(ulimit -n) $(df -k /dev/shm | tail -1 | tr -s ' ' | cut -d' ' -f2)",
     "20 100 1024"),
    (["--device", "/dev/null:/dev/mynull", "--sysctl", "kernel.msgmax=9000"],
     "echo $(ls -l /dev/mynull | cut -c1-10) $(cat /proc/sys/kernel/msgmax)", "crw-rw-rw- 9000"),
    (["--mount", "type=tmpfs,dst=/t,tmpfs-size=1048576", "--pid", "host", "--ipc", "host"],
     "echo $(df -k /t | tail -1 | tr -s ' ' | cut -d' ' -f2) $(test -d /proc/1/ && echo hostpid)", "1024 hostpid"),
], ids=["readonly-tmpfs", "user-caps-nnp", "init", "limits", "device-sysctl", "tmpfs-mount-host-ns"])
def test_config_variants(dk, args, script, expect):
    r = dk("run", "--rm", "--network", "none", *args, IMAGE, "sh", "-c", script)
    assert (r.returncode, r.stdout.strip()) == (0, expect), r


def test_volume(dk, tmp_path):
    (tmp_path / "f").write_text("from-host\n")
    r = dk("run", "--rm", "--network", "none", "-v", f"{tmp_path}:/data", IMAGE, "sh", "-c", "cat /data/f; echo back > /data/g")
    assert (r.returncode, r.stdout) == (0, "from-host\n"), r
    assert (tmp_path / "g").read_text() == "back\n"


def test_healthcheck_stats_oom(dk):
    """Health checks are periodic execs; `docker stats` and OOM detection
    read the cgroups ocirt made (the shim watches memory.oom_control)."""
    dk("run", "-d", "--name", "dh", "--network", "none", "--health-cmd", "test -e /tmp/ok",
       "--health-interval", "1s", "--health-retries", "1", IMAGE, "sh", "-c", "touch /tmp/ok; exec sleep 300", check=True)
    assert wait_for(lambda: dk.inspect("dh", "{{.State.Health.Status}}") == "healthy", timeout=30), \
        dk("inspect", "-f", "{{json .State.Health}}", "dh")
    r = dk("stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", "dh")
    assert (r.returncode, r.stdout.strip()) == (0, "dh 1"), r
    r = dk("run", "--name", "doom", "--network", "none", "--memory", "16m", "--memory-swap", "16m", IMAGE,
           "sh", "-c", "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo ${#x}", timeout=120)
    assert r.returncode == 137, r
    assert dk.inspect("doom", "{{.State.OOMKilled}}") == "true"


def test_restart_policy(dk):
    dk("run", "-d", "--name", "drp", "--network", "none", "--restart", "on-failure:2", IMAGE, "sh", "-c", "exit 3",
       check=True)
    assert wait_for(lambda: dk.inspect("drp", "{{.RestartCount}} {{.State.Status}}") == "2 exited", timeout=60), \
        dk("inspect", "-f", "{{.RestartCount}} {{.State.Status}}", "drp")
    assert dk.inspect("drp", "{{.State.ExitCode}}") == "3"
