"""Busybox bundles built by the harness itself.

Each runtime gets its own rootfs (so no runtime benefits from another's
page-cache or dentry warm-up of the same files) and one bundle directory per
variant; the variants share that runtime's rootfs through an absolute
root.path.  The config mirrors the default that `runc spec` prints, with
terminal false and a non-interactive process.
"""
from __future__ import annotations

import copy
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.seccomp_profile import default_like_profile

BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")
EXTRA_BINDS = 10
EXTRA_TMPFS = 10
_ROOTFS_DIRS = ("bin", "dev", "proc", "sys", "tmp", "etc", "root", "mnt", "run")


def find_busybox() -> Path:
    for cand in BUSYBOX_CANDIDATES:
        path = Path(cand)
        if path.is_file() and _is_static(path):
            return path
    raise FileNotFoundError("a static busybox is needed (apt-get install busybox-static)")


def _is_static(path: Path) -> bool:
    # A dynamic ELF names its loader in PT_INTERP, which sits near the start.
    head = path.read_bytes()[:4096]
    return head.startswith(b"\x7fELF") and b"/ld-linux" not in head and b"ld-musl" not in head


def build_rootfs(dest: Path) -> Path:
    """rootfs with /bin/busybox and its `--install -s` symlinks."""
    busybox = find_busybox()
    for name in _ROOTFS_DIRS:
        (dest / name).mkdir(parents=True, exist_ok=True)
    for i in range(EXTRA_BINDS):
        (dest / "mnt" / f"b{i}").mkdir(exist_ok=True)
    for i in range(EXTRA_TMPFS):
        (dest / "mnt" / f"t{i}").mkdir(exist_ok=True)
    shutil.copy2(busybox, dest / "bin" / "busybox")
    # Inside a chroot the links point at /bin/busybox, as in a real image.
    subprocess.run(["chroot", str(dest), "/bin/busybox", "--install", "-s", "/bin"],
                   check=True, capture_output=True)
    return dest


def _default_mounts() -> list[dict]:
    nosuid_noexec_nodev = ["nosuid", "noexec", "nodev"]
    return [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666",
                     "mode=0620", "gid=5"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": [*nosuid_noexec_nodev, "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": nosuid_noexec_nodev},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": [*nosuid_noexec_nodev, "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": [*nosuid_noexec_nodev, "relatime", "ro"]},
    ]


def default_config(rootfs: Path, args: list[str]) -> dict:
    """The `runc spec` default: caps, rlimits, namespaces, masked paths."""
    caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "TERM=xterm"],
            "cwd": "/",
            "capabilities": {k: list(caps) for k in
                             ("bounding", "effective", "permitted", "ambient")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": str(rootfs), "readonly": True},
        "hostname": "bench",
        "mounts": _default_mounts(),
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                            "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                            "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                              "/proc/sysrq-trigger"],
        },
    }


def _extra_mounts(bundle: Path) -> list[dict]:
    mounts = []
    for i in range(EXTRA_BINDS):
        src = bundle / "binds" / f"b{i}"
        src.mkdir(parents=True, exist_ok=True)
        mounts.append({"destination": f"/mnt/b{i}", "type": "bind",
                       "source": str(src), "options": ["rbind", "ro"]})
    for i in range(EXTRA_TMPFS):
        mounts.append({"destination": f"/mnt/t{i}", "type": "tmpfs", "source": "tmpfs",
                       "options": ["nosuid", "nodev", "mode=755", "size=1m"]})
    return mounts


@dataclass(frozen=True)
class Bundles:
    """Bundle directories of one runtime, one per config variant."""
    rootfs: Path
    true: Path      # args /bin/true
    sleep: Path     # args sleep 1000, a long-running target for exec/kill/state
    seccomp: Path   # /bin/true under a ~300-rule profile
    mounts: Path    # /bin/true with 10 extra binds and 10 extra tmpfs


def _write_bundle(path: Path, config: dict) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps(config, indent=1))
    return path


def build_bundles(base: Path) -> Bundles:
    """Create rootfs plus all variants under `base` (one runtime's dir)."""
    rootfs = build_rootfs(base / "rootfs")
    plain = default_config(rootfs, ["/bin/true"])
    sleeper = copy.deepcopy(plain)
    sleeper["process"]["args"] = ["/bin/sleep", "1000"]
    seccomp = copy.deepcopy(plain)
    seccomp["linux"]["seccomp"] = default_like_profile()
    mounts = copy.deepcopy(plain)
    mounts["mounts"] += _extra_mounts(base / "mounts")
    return Bundles(rootfs=rootfs,
                   true=_write_bundle(base / "true", plain),
                   sleep=_write_bundle(base / "sleep", sleeper),
                   seccomp=_write_bundle(base / "seccomp", seccomp),
                   mounts=_write_bundle(base / "mounts", mounts))
