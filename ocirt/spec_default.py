"""The default config.json `ocirt spec` writes (the same container runc's spec gives)."""
from __future__ import annotations

from . import SPEC_VERSION

DEFAULT_CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
MASKED = ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
          "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
          "/proc/scsi"]
READONLY = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]


def default_spec(rootless: bool = False, uid: int = 0, gid: int = 0) -> dict:
    spec = {
        "ociVersion": SPEC_VERSION,
        "process": {
            "terminal": True,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {k: list(DEFAULT_CAPS) for k in ("bounding", "effective", "permitted")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "ocirt",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
        ],
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount", "cgroup")],
            "maskedPaths": list(MASKED),
            "readonlyPaths": list(READONLY),
        },
    }
    if rootless:
        _make_rootless(spec, uid, gid)
    return spec


def _make_rootless(spec: dict, uid: int, gid: int) -> None:
    """As runc's spec --rootless: own ids mapped to root, no network ns,
    /sys bind-mounted, no cgroup mount, no resources."""
    linux = spec["linux"]
    linux["namespaces"] = [ns for ns in linux["namespaces"] if ns["type"] not in ("network", "cgroup")]
    linux["namespaces"].append({"type": "user"})
    linux["uidMappings"] = [{"containerID": 0, "hostID": uid, "size": 1}]
    linux["gidMappings"] = [{"containerID": 0, "hostID": gid, "size": 1}]
    linux.pop("resources")
    mounts = []
    for m in spec["mounts"]:
        if m["type"] == "cgroup":
            continue
        if m["type"] == "sysfs":
            m = {"destination": "/sys", "type": "none", "source": "/sys",
                 "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]}
        elif "options" in m:
            # ids in mount options name host ids the user namespace may not map
            m = dict(m, options=[o for o in m["options"] if not o.startswith(("uid=", "gid="))])
        mounts.append(m)
    spec["mounts"] = mounts
