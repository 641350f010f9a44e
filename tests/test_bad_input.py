"""Bad input: one clear line on stderr naming what and where, a non-zero
exit, no traceback, and nothing left behind (the ocirt fixture checks state
dirs and cgroups of every id it handed out)."""
from __future__ import annotations

import os

import pytest

from testlib import STATE_ROOT, one_line_error




def create(ocirt, bundle):
    cid = ocirt.new_id()
    r = ocirt("create", "-b", str(bundle.path), cid)
    assert not os.path.exists(os.path.join(STATE_ROOT, cid)) or r.returncode == 0
    return r


def test_malformed_json(ocirt, bundle):
    (bundle.path / "config.json").write_text('{"ociVersion": "1.0.0", "process": ')
    one_line_error(create(ocirt, bundle), "config.json", "invalid JSON")


def test_config_missing(ocirt, bundle):
    (bundle.path / "config.json").unlink()
    one_line_error(create(ocirt, bundle), "config.json", "no such file")


CASES = {
    "wrong type": (lambda c: c["process"].__setitem__("args", "sh"), ["process.args"]),
    "missing ociVersion": (lambda c: c.pop("ociVersion"), ["ociVersion"]),
    "unknown namespace": (lambda c: c["linux"]["namespaces"].append({"type": "bogus"}), ["linux.namespaces"]),
    "unknown rlimit": (lambda c: c["process"]["rlimits"].append({"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}), ["RLIMIT_BOGUS"]),
    "missing rootfs": (lambda c: c["root"].__setitem__("path", "nowhere"), ["root.path"]),
    "negative uid": (lambda c: c["process"]["user"].__setitem__("uid", -1), ["process.user.uid"]),
    "ociVersion 2": (lambda c: c.__setitem__("ociVersion", "2.0.0"), ["ociVersion"]),
    "hostname without uts": (lambda c: c["linux"].__setitem__("namespaces", [n for n in c["linux"]["namespaces"] if n["type"] != "uts"]), ["hostname", "UTS"]),
    "empty args": (lambda c: c["process"].__setitem__("args", []), ["process.args"]),
    "relative cwd": (lambda c: c["process"].__setitem__("cwd", "tmp"), ["process.cwd"]),
    "bad seccomp action": (lambda c: c["linux"].__setitem__("seccomp", {"defaultAction": "SCMP_ACT_BOGUS"}), ["seccomp"]),
    "duplicate namespace": (lambda c: c["linux"]["namespaces"].append({"type": "pid"}), ["namespaces"]),
    "user ns without mappings": (lambda c: c["linux"]["namespaces"].append({"type": "user"}), ["uid mappings"]),
    "sysctl outside namespace": (lambda c: c["linux"].__setitem__("sysctl", {"vm.swappiness": "1"}), ["vm.swappiness"]),
    "terminal without console socket": (lambda c: c["process"].__setitem__("terminal", True), ["console socket"]),
    "apparmor on a host without it": (lambda c: c["process"].__setitem__("apparmorProfile", "x"), ["apparmor"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_config(ocirt, bundle, case):
    mutate, words = CASES[case]
    mutate(bundle.config)
    bundle.write()
    one_line_error(create(ocirt, bundle), *words)


@pytest.mark.parametrize("cid", ["a/b", "..", ".", "", "x" * 1025, "semi;colon", "sp ace"])
def test_bad_container_id(ocirt, bundle, cid):
    r = ocirt("create", "-b", str(bundle.path), cid)
    one_line_error(r, "container id")


@pytest.mark.parametrize("sig", ["SIGBOGUS", "99", "0", "-1"])
def test_bad_signal(ocirt, bundle, sig):
    bundle.args("sleep", "30")
    cid = ocirt.new_id()
    assert ocirt("create", "-b", str(bundle.path), cid).returncode == 0
    r = ocirt("kill", cid, sig)
    one_line_error(r, "signal")
    assert ocirt("delete", "-f", cid).returncode == 0


def test_unknown_flag_and_command(ocirt):
    one_line_error(ocirt("create", "--bogus", "x"), "--bogus")
    one_line_error(ocirt("frobnicate"), "unknown command")
    one_line_error(ocirt("--log-format", "xml", "list"), "--log-format")
    one_line_error(ocirt("--systemd-cgroup", "list"), "systemd")


def test_log_file_gets_json_error_line(ocirt, bundle, tmp_path):
    import json

    bundle.config["process"]["args"] = ["no-such-binary"]
    bundle.write()
    log = tmp_path / "log.json"
    cid = ocirt.new_id()
    r = ocirt("create", "-b", str(bundle.path), cid, global_args=("--log", str(log), "--log-format=json"))
    assert r.returncode != 0
    last = json.loads(log.read_text().splitlines()[-1])
    assert last["level"] == "error" and "executable file not found" in last["msg"] and last["time"]
