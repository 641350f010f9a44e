"""OCI hooks: each stage runs at its moment, in its namespaces, with the
state on stdin; env, args and timeout honoured; failures before start abort
and clean up, poststart/poststop failures only warn."""
from __future__ import annotations

import json
import os
import time

import pytest

from testlib import STATE_ROOT


@pytest.fixture
def hook_script(tmp_path):
    """A host script recording (stage, argv, env FOO, state, mount ns) per call."""
    log = tmp_path / "hooks.log"
    script = tmp_path / "hook.sh"
    script.write_text(f"""#!/bin/sh
state=$(cat)
printf '%s|%s|%s|%s|%s\\n' "$1" "$*" "$FOO" "$state" "$(readlink /proc/self/ns/mnt)" >> {log}
""")
    os.chmod(script, 0o755)
    return script, log


def stages(log) -> list[list[str]]:
    return [line.split("|") for line in log.read_text().splitlines()]


def test_hook_order_state_and_namespaces(ocirt, bundle, hook_script):
    script, log = hook_script
    # startContainer runs inside the container: its path resolves there
    (bundle.rootfs / "hook.sh").write_text(
        "#!/bin/sh\nstate=$(cat)\necho \"startContainer|$*|$FOO|$state|$(readlink /proc/self/ns/mnt)\" > /tmp/start-hook\n")
    os.chmod(bundle.rootfs / "hook.sh", 0o755)
    hooks = {}
    for stage in ("prestart", "createRuntime", "createContainer", "poststart", "poststop"):
        hooks[stage] = [{"path": str(script), "args": ["hook.sh", stage, "extra"], "env": ["FOO=bar"]}]
    hooks["startContainer"] = [{"path": "/hook.sh", "args": ["hook.sh", "startContainer"], "env": ["FOO=in"]}]
    bundle.config["hooks"] = hooks
    bundle.args("sleep", "30")
    cid = ocirt.new_id()
    assert ocirt("create", "-b", str(bundle.path), cid).returncode == 0
    assert [s[0] for s in stages(log)] == ["prestart", "createRuntime", "createContainer"]
    assert ocirt("start", cid).returncode == 0
    assert [s[0] for s in stages(log)][-1] == "poststart"
    pid = ocirt.state(cid)["pid"]
    assert ocirt("kill", cid, "KILL").returncode == 0
    time.sleep(0.3)
    assert ocirt("delete", cid).returncode == 0
    rows = {s[0]: s for s in stages(log)}
    assert list(rows) == ["prestart", "createRuntime", "createContainer", "poststart", "poststop"]
    host_mnt = os.readlink("/proc/self/ns/mnt")
    container_mnt = rows["createContainer"][4]
    assert rows["createRuntime"][4] == host_mnt          # runtime namespace
    assert container_mnt != host_mnt                      # container namespace
    for stage, row in rows.items():
        assert row[1] == f"{stage} extra" and row[2] == "bar"
        state = json.loads(row[3])
        assert state["id"] == cid and state["bundle"] == str(bundle.path)
    assert json.loads(rows["poststart"][3])["pid"] == pid
    assert json.loads(rows["poststop"][3])["status"] == "stopped"
    start_row = (bundle.rootfs / "tmp" / "start-hook").read_text().strip().split("|")
    assert start_row[1] == "startContainer" and start_row[2] == "in"
    assert start_row[4] == container_mnt


@pytest.mark.parametrize("stage", ["prestart", "createRuntime", "createContainer"])
def test_failing_hook_aborts_create_and_cleans_up(ocirt, bundle, stage, tmp_path):
    bundle.config["hooks"] = {stage: [{"path": "/bin/sh", "args": ["sh", "-c", "echo hook-said-no >&2; exit 3"]}]}
    bundle.write()
    cid = ocirt.new_id()
    r = ocirt("create", "-b", str(bundle.path), cid)
    assert r.returncode != 0
    assert f"hooks.{stage}[0]" in r.stderr and "hook-said-no" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not os.path.exists(os.path.join(STATE_ROOT, cid))


def test_hook_timeout(ocirt, bundle):
    bundle.config["hooks"] = {"createRuntime": [{"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1}]}
    bundle.write()
    cid = ocirt.new_id()
    t0 = time.monotonic()
    r = ocirt("create", "-b", str(bundle.path), cid)
    assert r.returncode != 0 and "timed out" in r.stderr
    assert time.monotonic() - t0 < 10
    assert not os.path.exists(os.path.join(STATE_ROOT, cid))


def test_failing_poststop_only_warns(ocirt, bundle):
    bundle.config["hooks"] = {"poststop": [{"path": "/bin/false"}]}
    r = ocirt.run(bundle.sh("echo ran"))
    assert r.returncode == 0, r
    assert r.stdout.strip() == "ran"
    assert "warning" in r.stderr
