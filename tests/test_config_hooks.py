"""config.md "POSIX-platform Hooks": prestart, poststart and poststop paths
resolve, and the hooks run, in the runtime's namespaces — every namespace,
not only the mount namespace, even though the container has its own."""
from __future__ import annotations

import os
import time

NAMESPACES = ("mnt", "pid", "net", "uts", "ipc", "cgroup", "user")


def test_runtime_namespace_hooks(ocirt, bundle, tmp_path):
    log = tmp_path / "hooks.log"
    script = tmp_path / "hook.sh"
    ns_list = " ".join(NAMESPACES)
    script.write_text(f"""#!/bin/sh
cat >/dev/null
out="$1 host"
for ns in {ns_list}; do out="$out $(readlink /proc/self/ns/$ns)"; done
echo "$out" >> {log}
""")
    os.chmod(script, 0o755)
    # the same path inside the rootfs: a hook resolved there would say so
    decoy = bundle.rootfs / str(script).lstrip("/")
    decoy.parent.mkdir(parents=True)
    decoy.write_text(f"#!/bin/sh\necho \"$1 container\" >> {log}\n")
    os.chmod(decoy, 0o755)
    bundle.config["hooks"] = {stage: [{"path": str(script), "args": ["hook.sh", stage]}]
                              for stage in ("prestart", "poststart", "poststop")}
    kinds = {ns["type"] for ns in bundle.config["linux"]["namespaces"]}
    bundle.config["linux"]["namespaces"] += [{"type": t} for t in ("cgroup", "network") if t not in kinds]
    bundle.args("sleep", "30")
    cid = ocirt.new_id()
    assert ocirt("create", "-b", str(bundle.path), cid).returncode == 0
    assert ocirt("start", cid).returncode == 0
    pid = ocirt.state(cid)["pid"]
    container = [os.readlink(f"/proc/{pid}/ns/{ns}") for ns in NAMESPACES]
    assert ocirt("kill", cid, "KILL").returncode == 0
    time.sleep(0.3)
    assert ocirt("delete", cid).returncode == 0
    host = [os.readlink(f"/proc/self/ns/{ns}") for ns in NAMESPACES]
    rows = [line.split() for line in log.read_text().splitlines()]
    assert [row[:2] for row in rows] == [["prestart", "host"], ["poststart", "host"], ["poststop", "host"]]
    for row in rows:
        assert row[2:] == host, row
    # the container really had namespaces of its own for these to differ from
    assert all(c != h for c, h in zip(container[:6], host[:6]))
