"""The container process: args/env/cwd, user and groups, umask, capabilities
(all five sets), rlimits, no_new_privs, oomScoreAdj, scheduler, ioPriority,
personality, descriptors (only stdio + --preserve-fds), and exec errors
worded as engines expect."""
from __future__ import annotations

import os
import subprocess

import pytest

from testlib import OCIRT, STATE_ROOT


def status_field(out: str, name: str) -> str:
    for line in out.splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"{name} not in {out}")


def test_env_cwd_args(ocirt, bundle):
    bundle.config["process"]["env"] += ["FOO=bar baz"]
    bundle.config["process"]["cwd"] = "/tmp"
    r = ocirt.run(bundle.args("sh", "-c", 'echo "$FOO|$(pwd)|$0|$1"', "zero", "one"))
    assert r.stdout.strip() == "bar baz|/tmp|zero|one"


def test_home_from_passwd(ocirt, bundle):
    r = ocirt.run(bundle.sh("echo $HOME"))
    assert r.stdout.strip() == "/root"


def test_user_groups_umask(ocirt, bundle):
    bundle.config["process"]["user"] = {"uid": 1234, "gid": 4321, "additionalGids": [5, 6], "umask": 0o077}
    r = ocirt.run(bundle.sh("id -u; id -g; id -G; umask; touch /tmp/f; stat -c %a /tmp/f"))
    assert r.returncode == 0, r
    uid, gid, groups, umask, mode = r.stdout.splitlines()
    assert (uid, gid) == ("1234", "4321")
    assert set(groups.split()) == {"4321", "5", "6"}
    assert umask == "0077" and mode == "600"


def test_capabilities_all_sets(ocirt, bundle):
    bundle.config["process"]["capabilities"] = {
        "bounding": ["CAP_CHOWN", "CAP_NET_RAW", "CAP_KILL"],
        "effective": ["CAP_CHOWN", "CAP_KILL"],
        "permitted": ["CAP_CHOWN", "CAP_KILL"],
        "inheritable": ["CAP_KILL"],
        "ambient": ["CAP_KILL"],
    }
    bundle.config["process"]["noNewPrivileges"] = False
    r = ocirt.run(bundle.sh("grep ^Cap /proc/self/status"))
    chown, kill, net_raw = 1 << 0, 1 << 5, 1 << 13
    assert int(status_field(r.stdout, "CapBnd"), 16) == chown | net_raw | kill
    # the shell was exec'd by busybox: effective/permitted of a non-root-file
    # exec are recomputed, but root (uid 0) keeps permitted ∩ bounding
    assert int(status_field(r.stdout, "CapInh"), 16) == kill
    assert int(status_field(r.stdout, "CapAmb"), 16) == kill
    assert int(status_field(r.stdout, "CapEff"), 16) & chown


def test_ambient_caps_survive_for_non_root(ocirt, bundle):
    caps = ["CAP_NET_BIND_SERVICE"]
    bundle.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    bundle.config["process"]["capabilities"] = {k: caps for k in ("bounding", "effective", "permitted", "inheritable", "ambient")}
    r = ocirt.run(bundle.sh("grep CapEff /proc/self/status"))
    assert int(status_field(r.stdout, "CapEff"), 16) == 1 << 10


def test_no_new_privileges(ocirt, bundle):
    bundle.config["process"]["noNewPrivileges"] = True
    r = ocirt.run(bundle.sh("grep NoNewPrivs /proc/self/status"))
    assert status_field(r.stdout, "NoNewPrivs") == "1"
    bundle.config["process"]["noNewPrivileges"] = False
    r = ocirt.run(bundle.sh("grep NoNewPrivs /proc/self/status"))
    assert status_field(r.stdout, "NoNewPrivs") == "0"


def test_rlimits(ocirt, bundle):
    bundle.config["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 77, "hard": 88},
                                           {"type": "RLIMIT_CORE", "soft": 0, "hard": 0}]
    r = ocirt.run(bundle.sh("ulimit -n; ulimit -Hn; ulimit -c"))
    assert r.stdout.split() == ["77", "88", "0"]


def test_oom_score_adj(ocirt, bundle):
    bundle.config["process"]["oomScoreAdj"] = 500
    r = ocirt.run(bundle.sh("cat /proc/self/oom_score_adj"))
    assert r.stdout.strip() == "500"


def test_scheduler_and_io_priority(ocirt, bundle):
    bundle.config["process"]["scheduler"] = {"policy": "SCHED_BATCH", "nice": 5}
    bundle.config["process"]["ioPriority"] = {"class": "IOPRIO_CLASS_IDLE", "priority": 0}
    r = ocirt.run(bundle.sh("cut -d' ' -f19,41 /proc/self/stat"))
    assert r.returncode == 0, r
    nice, policy = r.stdout.split()
    assert (nice, policy) == ("5", "3")  # SCHED_BATCH = 3


def test_personality_linux32(ocirt, bundle):
    bundle.config["linux"]["personality"] = {"domain": "LINUX32"}
    r = ocirt.run(bundle.sh("uname -m"))
    assert r.returncode == 0, r
    assert r.stdout.strip() in ("i686", "i386")


def test_only_stdio_reaches_container(ocirt, bundle, tmp_path):
    """Descriptors the caller leaked into ocirt never reach the container."""
    bundle.sh("ls /proc/self/fd").write()
    cid = ocirt.new_id()
    leak = os.open(str(tmp_path), os.O_RDONLY)
    try:
        os.set_inheritable(leak, True)
        out = subprocess.run([OCIRT, "--root", STATE_ROOT, "run", "-b", str(bundle.path), cid],
                             capture_output=True, text=True, close_fds=False, timeout=30)
    finally:
        os.close(leak)
    assert out.returncode == 0, out
    assert sorted(int(x) for x in out.stdout.split()) == [0, 1, 2, 3]  # 3 is ls's own dir fd


def test_preserve_fds(ocirt, bundle, tmp_path):
    extra = tmp_path / "extra"
    extra.write_text("passed-through")
    bundle.sh("cat <&3; echo; ls /proc/self/fd | wc -l").write()
    cid = ocirt.new_id()
    fd = os.open(str(extra), os.O_RDONLY)
    try:
        out = subprocess.run([OCIRT, "--root", STATE_ROOT, "run", "--preserve-fds", "1", "-b", str(bundle.path), cid],
                             capture_output=True, text=True, pass_fds=(3,), timeout=30,
                             preexec_fn=lambda: os.dup2(fd, 3))
    finally:
        os.close(fd)
    assert out.returncode == 0, out
    lines = out.stdout.splitlines()
    assert lines[0] == "passed-through"
    assert lines[1] == "5"  # 0-2, the preserved 3, and ls's own directory fd


def test_missing_executable_wording(ocirt, bundle):
    r = ocirt.run(bundle.args("no-such-binary"))
    assert r.returncode != 0
    assert "executable file not found in $PATH" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_missing_absolute_executable_wording(ocirt, bundle):
    r = ocirt.run(bundle.args("/bin/nope"))
    assert r.returncode != 0 and "no such file or directory" in r.stderr


def test_not_executable_wording(ocirt, bundle):
    (bundle.rootfs / "noexec.sh").write_text("#!/bin/sh\n")
    os.chmod(bundle.rootfs / "noexec.sh", 0o644)
    r = ocirt.run(bundle.args("/noexec.sh"))
    assert r.returncode != 0 and "permission denied" in r.stderr


def test_bad_cwd(ocirt, bundle):
    bundle.config["process"]["cwd"] = "/does/not/exist"
    r = ocirt.run(bundle)
    assert r.returncode != 0 and "cwd" in r.stderr


def test_exit_by_signal(ocirt, bundle):
    # as pid 1 of its namespace the shell could not kill itself: share the host's
    bundle.config["linux"]["namespaces"] = [n for n in bundle.config["linux"]["namespaces"] if n["type"] != "pid"]
    r = ocirt.run(bundle.sh("kill -9 $$"))
    assert r.returncode == 137


def test_capability_outside_bounding_set_fails_at_create(ocirt, bundle):
    """runc refuses at create; failing only at start would not name the cap."""
    from ocirt.capabilities import NAMES, last_cap

    with open("/proc/self/status") as f:
        bnd = int(next(line for line in f if line.startswith("CapBnd")).split()[1], 16)
    missing = [NAMES[n] for n in range(last_cap() + 1) if not bnd >> n & 1]
    if not missing:
        pytest.skip("this host's bounding set is full")
    bundle.config["process"]["capabilities"]["effective"].append(missing[0])
    bundle.write()
    cid = ocirt.new_id()
    r = ocirt("create", "-b", str(bundle.path), cid)
    assert r.returncode != 0 and missing[0] in r.stderr
