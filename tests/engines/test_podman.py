"""podman (with conmon) running containers on ocirt.

podman is pointed at ocirt through a private containers.conf: ocirt is
registered in [engine.runtimes] and in runtime_supports_json (so podman
passes `--log-format=json --log FILE` as it does to runc), cgroupfs and a
file events log (no systemd), no network, and default_ulimits low enough to
be settable without CAP_SYS_RESOURCE.  Storage lives in a temp dir.
"""
from __future__ import annotations

import os
import shutil
import time

import pytest
from enginelib import Shim, assert_no_fd_or_env_leak, assert_no_leftovers, memory_limit, run, run_pty, wait_for

IMAGE = "localhost/ocirt-busybox:latest"

pytestmark = pytest.mark.skipif(shutil.which("podman") is None or shutil.which("conmon") is None,
                                reason="podman/conmon not installed (tests/engines/install.sh)")


class Podman:
    def __init__(self, base, shim: Shim) -> None:
        self.base, self.shim = base, shim
        conf = base / "containers.conf"
        conf.write_text(f"""\
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
netns = "none"
log_driver = "k8s-file"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{base}/events.log"
tmp_dir = "{base}/libpod-tmp"
static_dir = "{base}/storage/libpod"
volume_path = "{base}/storage/volumes"
runtime = "ocirt"
runtime_supports_json = ["ocirt", "crun", "runc"]

[engine.runtimes]
ocirt = ["{shim.path}"]
""")
        self.env = {k: v for k, v in os.environ.items() if k not in ("DOCKER_CONFIG", "CONTAINER_HOST", "CONTAINERS_CONF")}
        self.env["CONTAINERS_CONF"] = str(conf)
        self.env["CONTAINERS_STORAGE_CONF"] = str(base / "storage.conf")
        self.env["CONTAINERS_REGISTRIES_CONF"] = str(base / "registries.conf")
        (base / "registries.conf").write_text("unqualified-search-registries = []\n")
        self.storage("overlay")

    def storage(self, driver: str) -> None:
        (self.base / "storage.conf").write_text(
            f'[storage]\ndriver = "{driver}"\ngraphroot = "{self.base}/storage"\nrunroot = "{self.base}/runroot"\n')

    def __call__(self, *args: str, check: bool = False, **kw):
        return run(["podman", *args], env=self.env, check=check, **kw)

    def pty(self, *args: str, **kw):
        return run_pty(["podman", *args], env=self.env, **kw)

    def inspect(self, name: str, fmt: str) -> str:
        return self("inspect", "-f", fmt, name, check=True).stdout.strip()


@pytest.fixture(scope="module")
def podman(engine_base, shim, rootfs_tar):
    pm = Podman(engine_base, shim)
    r = pm("import", str(rootfs_tar), IMAGE)
    if r.returncode != 0:
        pm.storage("vfs")
        r = pm("import", str(rootfs_tar), IMAGE)
    if r.returncode != 0:
        pytest.skip(f"podman cannot import an image here: {r}")
    r = pm("run", "--rm", IMAGE, "true")
    if r.returncode != 0 and "ocirt" not in (r.stderr + shim.report()):
        pytest.skip(f"podman cannot run containers here (not an ocirt failure): {r}")
    yield pm
    pm("rm", "-af", "-t", "0")
    pm("rmi", "-af")


@pytest.fixture
def pm(podman, shim):
    """podman for one test; afterwards every container it made is removed
    and nothing ocirt made for them may remain."""
    mark = shim.mark()
    yield podman
    podman("rm", "-af", "-t", "0", timeout=120)
    assert_no_leftovers(shim, mark)


def test_runtime_is_ocirt(pm, shim):
    mark = shim.mark()
    r = pm("run", "--rm", IMAGE, "echo", "hello")
    assert (r.returncode, r.stdout) == (0, "hello\n"), r
    subs = [Shim.subcommand(a)[0] for a in shim.calls(mark)]
    assert "create" in subs and "start" in subs, shim.report(mark)
    # podman treats ocirt like runc: JSON log, given before the subcommand
    create = next(a for a in shim.calls(mark) if Shim.subcommand(a)[0] == "create")
    assert "--log-format=json" in create and "--log" in create, create


def test_exit_code_and_streams(pm):
    r = pm("run", "--rm", "-i", IMAGE, "sh", "-c", "cat; echo to-err >&2; exit 7", input="from-stdin\n")
    assert r.returncode == 7, r
    assert r.stdout == "from-stdin\n", r
    assert "to-err" in r.stderr and "to-err" not in r.stdout, r


def test_missing_executable_is_127(pm):
    r = pm("run", "--rm", IMAGE, "/no/such/binary")
    assert r.returncode == 127, r
    assert "no such file or directory" in r.stderr.lower() or "not found" in r.stderr.lower(), r


def test_missing_command_on_path_is_127(pm):
    r = pm("run", "--rm", IMAGE, "nosuchcommand")
    assert r.returncode == 127, r


def test_not_executable_is_126(pm):
    r = pm("run", "--rm", IMAGE, "/etc/notexec")
    assert r.returncode == 126, r
    assert "permission denied" in r.stderr.lower(), r


def test_detached_exec_logs(pm):
    cid = pm("run", "-d", "--name", "ex", IMAGE, "sh", "-c", "echo started; exec sleep 300", check=True).stdout.strip()
    assert len(cid) == 64
    assert wait_for(lambda: "started" in pm("logs", "ex").stdout), pm("logs", "ex")
    r = pm("exec", "ex", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (r.returncode, r.stdout) == (3, "out\n"), r
    assert "err" in r.stderr, r
    # the exec'd process is in the container's pid namespace
    r = pm("exec", "ex", "sh", "-c", "echo $$; cat /proc/1/cmdline | tr '\\0' ' '")
    assert r.returncode == 0 and "sleep 300" in r.stdout, r
    r = pm("exec", "-i", "ex", "cat", input="piped\n")
    assert (r.returncode, r.stdout) == (0, "piped\n"), r
    r = pm("exec", "--user", "65534:65534", "--env", "FOO=bar", "--workdir", "/tmp", "ex",
           "sh", "-c", 'echo "$(id -u):$(id -g) $FOO $(pwd)"')
    assert (r.returncode, r.stdout) == (0, "65534:65534 bar /tmp\n"), r
    r = pm("exec", "ex", "nosuchcommand")
    assert r.returncode == 127, r
    r = pm("exec", "ex", "/etc/notexec")
    assert r.returncode == 126, r
    r = pm("exec", "-d", "ex", "sh", "-c", "echo bg > /tmp/bg")
    assert r.returncode == 0, r
    assert wait_for(lambda: pm("exec", "ex", "cat", "/tmp/bg").stdout == "bg\n"), pm("exec", "ex", "cat", "/tmp/bg")


def test_exec_tty(pm):
    pm("run", "-d", "--name", "ext", IMAGE, "sleep", "300", check=True)
    r = pm("exec", "-t", "ext", "tty")
    assert r.returncode == 0 and r.stdout.strip().startswith("/dev/pts/"), r
    rc, out = pm.pty("exec", "-it", "ext", "sh", script=[(b"#", b"tty; echo sum-$((6*7))\r"), (b"sum-42", b"exit 5\r")])
    assert b"sum-42" in out and b"/dev/pts/" in out, out
    assert rc == 5, out


def test_run_interactive_tty(pm):
    rc, out = pm.pty("run", "-it", "--rm", IMAGE, "sh", "-c", "tty; stty size; exit 4", size=(33, 111))
    assert b"/dev/pts/0" in out, out
    assert b"33 111" in out, out
    assert rc == 4, out
    rc, out = pm.pty("run", "-it", "--rm", IMAGE, "sh",
                     script=[(b"#", b"echo x-$((2+3))\r"), (b"x-5", b"exit 9\r")])
    assert b"x-5" in out and rc == 9, out


def test_stop_graceful_and_forced(pm):
    pm("run", "-d", "--name", "st", IMAGE, "sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done", check=True)
    t = time.monotonic()
    r = pm("stop", "-t", "10", "st")
    assert r.returncode == 0, r
    assert time.monotonic() - t < 8, "SIGTERM did not reach the container's init"
    assert pm.inspect("st", "{{.State.ExitCode}}") == "0"
    pm("run", "-d", "--name", "st2", IMAGE, "sleep", "300", check=True)  # pid 1 ignores TERM
    r = pm("stop", "-t", "1", "st2")
    assert r.returncode == 0, r
    assert pm.inspect("st2", "{{.State.Status}}") in ("exited", "stopped")


def test_kill_signal(pm, shim):
    pm("run", "-d", "--name", "ks", IMAGE, "sh", "-c",
       "trap 'echo got-usr1; exit 0' USR1; echo ready; while :; do sleep 0.1; done", check=True)
    assert wait_for(lambda: "ready" in pm("logs", "ks").stdout)
    mark = shim.mark()
    r = pm("kill", "-s", "USR1", "ks")
    assert r.returncode == 0, r
    assert pm("wait", "ks", timeout=30).stdout.strip() == "0"
    assert "got-usr1" in pm("logs", "ks").stdout
    kills = [Shim.subcommand(a) for a in shim.calls(mark) if Shim.subcommand(a)[0] == "kill"]
    assert kills and kills[0][1][-1] == "10", kills


def test_rm_force_running(pm):
    pm("run", "-d", "--name", "rmf", IMAGE, "sleep", "300", check=True)
    r = pm("rm", "-f", "-t", "0", "rmf")
    assert r.returncode == 0, r
    assert pm("container", "exists", "rmf").returncode == 1


def test_pause_unpause(pm):
    pm("run", "-d", "--name", "pz", IMAGE, "sh", "-c", "while :; do date +%s%N > /tmp/t; sleep 0.05; done", check=True)
    assert pm("pause", "pz").returncode == 0
    assert pm.inspect("pz", "{{.State.Status}}") == "paused"
    r = pm("exec", "pz", "true")
    assert r.returncode != 0, r
    assert pm("unpause", "pz").returncode == 0
    assert pm.inspect("pz", "{{.State.Status}}") == "running"
    assert pm("exec", "pz", "true").returncode == 0


def test_top_and_stats(pm):
    pm("run", "-d", "--name", "tp", IMAGE, "sh", "-c", "sleep 301 & exec sleep 300", check=True)
    r = pm("top", "tp")
    assert r.returncode == 0 and "sleep 300" in r.stdout and "sleep 301" in r.stdout, r
    r = pm("top", "tp", "pid", "args")
    assert r.returncode == 0, r
    r = pm("stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}", "tp")
    assert r.returncode == 0 and r.stdout.startswith("tp "), r


def test_update_memory(pm, shim):
    if pm("update", "--help").returncode != 0:
        pytest.skip("this podman has no `update`")
    pm("run", "-d", "--name", "up", "--memory", "64m", IMAGE, "sleep", "300", check=True)
    pid = pm.inspect("up", "{{.State.Pid}}")
    assert memory_limit(pid) == str(64 << 20)
    mark = shim.mark()
    r = pm("update", "--memory", "96m", "up")
    assert r.returncode == 0, r
    assert any(Shim.subcommand(a)[0] == "update" for a in shim.calls(mark)), shim.report(mark)
    assert memory_limit(pid) == str(96 << 20)


def test_restart(pm):
    pm("run", "-d", "--name", "rs", IMAGE, "sleep", "300", check=True)
    pid1 = pm.inspect("rs", "{{.State.Pid}}")
    r = pm("restart", "-t", "0", "rs")
    assert r.returncode == 0, r
    assert pm.inspect("rs", "{{.State.Status}}") == "running"
    assert pm.inspect("rs", "{{.State.Pid}}") != pid1
    assert pm("exec", "rs", "true").returncode == 0


def test_preserve_fds(pm, tmp_path):
    target = tmp_path / "fd3.txt"
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        r = pm("run", "--rm", "--preserve-fds", "1", IMAGE, "sh", "-c", "echo via-fd3 >&3; ls /proc/self/fd", pass_fd3=fd)
    finally:
        os.close(fd)
    assert r.returncode == 0, r
    assert target.read_text() == "via-fd3\n", r


def test_no_engine_fd_or_env_leaks(pm):
    r = pm("run", "--rm", IMAGE, "sh", "-c", "ls /proc/self/fd; env")
    assert_no_fd_or_env_leak(r)


def test_device(pm):
    r = pm("run", "--rm", "--device", "/dev/null:/dev/mynull", IMAGE, "sh", "-c", "ls -l /dev/mynull; echo x > /dev/mynull")
    assert r.returncode == 0 and r.stdout.startswith("crw-rw-rw-"), r


def test_privileged(pm):
    r = pm("run", "--rm", "--privileged", IMAGE, "sh", "-c", "test -c /dev/null && grep CapEff /proc/self/status")
    assert r.returncode == 0, r


@pytest.mark.parametrize("args,script,expect", [
    (["--read-only", "--tmpfs", "/scratch:size=1m"], "touch /scratch/a && ! touch /b 2>/dev/null && echo ok", "ok"),
    (["--user", "65534:65534", "--cap-drop", "all", "--security-opt", "no-new-privileges"],
     "echo $(id -u) $(grep CapEff /proc/self/status | cut -f2) $(grep NoNewPrivs /proc/self/status | cut -f2)",
     "65534 0000000000000000 1"),
    (["--hostname", "h1", "--env", "A=1", "--workdir", "/tmp", "--sysctl", "kernel.msgmax=9000"],
     'echo $(hostname) $A $(pwd) $(cat /proc/sys/kernel/msgmax)', "h1 1 /tmp 9000"),
    (["--pids-limit", "50", "--memory", "32m", "--shm-size", "1m", "--oom-score-adj", "100"],
     "echo $(cat /sys/fs/cgroup/pids/pids.max) $(cat /proc/self/oom_score_adj) $(df -k /dev/shm | tail -1 | tr -s ' ' | cut -d' ' -f2)",
     "50 100 1024"),
    (["--uidmap", "0:100000:65536", "--gidmap", "0:100000:65536"], "echo $(id -u) $(cat /proc/self/uid_map)", "0 0 100000 65536"),
    (["--pid", "host", "--ipc", "host"], "test -d /proc/1/ && echo ok", "ok"),
], ids=["readonly-tmpfs", "user-caps-nnp", "uts-env-sysctl", "limits", "userns", "host-pid-ipc"])
def test_config_variants(pm, args, script, expect):
    r = pm("run", "--rm", *args, IMAGE, "sh", "-c", script)
    assert (r.returncode, r.stdout.strip()) == (0, expect), r


def test_volume(pm, tmp_path):
    (tmp_path / "f").write_text("from-host\n")
    r = pm("run", "--rm", "-v", f"{tmp_path}:/data", IMAGE, "sh", "-c", "cat /data/f; echo back > /data/g")
    assert (r.returncode, r.stdout) == (0, "from-host\n"), r
    assert (tmp_path / "g").read_text() == "back\n"


def test_oom_killed(pm):
    """The memory limit ocirt set kills the container (conmon 2.1 on this
    hybrid host reports OOMKilled=false with runc too, so that is not checked)."""
    r = pm("run", "--name", "oom", "--memory", "16m", "--memory-swap", "16m", IMAGE,
           "sh", "-c", "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo ${#x}", timeout=120)
    assert r.returncode == 137, r


def test_restart_policy(pm):
    """Restarts come from conmon's exit command (`podman container
    cleanup`): delete, create and start again from that process."""
    pm("run", "-d", "--name", "rp", "--restart", "on-failure:2", IMAGE, "sh", "-c", "exit 3", check=True)
    assert wait_for(lambda: pm.inspect("rp", "{{.RestartCount}} {{.State.Status}}") == "2 exited", timeout=60), \
        pm("inspect", "-f", "{{.RestartCount}} {{.State.Status}}", "rp")
    assert pm.inspect("rp", "{{.State.ExitCode}}") == "3"


def test_concurrent_runs_and_execs(pm):
    """Engines call the runtime in parallel: 6 runs and 8 execs at once."""
    from concurrent.futures import ThreadPoolExecutor

    pm("run", "-d", "--name", "cc", IMAGE, "sleep", "300", check=True)
    with ThreadPoolExecutor(max_workers=14) as pool:
        runs = [pool.submit(pm, "run", "--rm", IMAGE, "echo", f"run{i}") for i in range(6)]
        execs = [pool.submit(pm, "exec", "cc", "echo", f"exec{i}") for i in range(8)]
        results = [f.result() for f in runs + execs]
    expected = [f"run{i}\n" for i in range(6)] + [f"exec{i}\n" for i in range(8)]
    assert [(r.returncode, r.stdout) for r in results] == [(0, e) for e in expected], results
