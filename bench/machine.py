"""Description of the machine and of the fixed costs around the runtimes."""
from __future__ import annotations

import os
import platform
import statistics
import subprocess
import time
from pathlib import Path

from bench import proc
from bench.harness import percentile
from bench.runtimes import (
    MountNamespaceHolder,
    is_hybrid_cgroup,
    real_python,
    unshare_wrapper,
)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cgroup_mode() -> str:
    if Path("/sys/fs/cgroup/cgroup.controllers").exists():
        return "unified (cgroup v2)"
    if is_hybrid_cgroup():
        return "hybrid (v1 controllers + cgroup2 at /sys/fs/cgroup/unified)"
    return "legacy (cgroup v1)"


def mem_total_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / (1024 * 1024)
    return 0.0


def busybox_version(path: str) -> str:
    out = subprocess.run([path], capture_output=True, text=True).stdout
    return out.splitlines()[0] if out else "unknown"


def _load(avg: tuple[float, float, float]) -> str:
    return " ".join(f"{x:.2f}" for x in avg)


def describe(versions: dict[str, str], busybox: str,
             load_at_start: tuple[float, float, float]) -> list[tuple[str, str]]:
    rows = [
        ("date (UTC)", time.strftime("%Y-%m-%d %H:%M", time.gmtime())),
        ("kernel", platform.release()),
        ("CPU", f"{cpu_model()}, {os.cpu_count()} CPUs online"),
        ("memory", f"{mem_total_gib():.0f} GiB"),
        ("harness niceness", str(os.getpriority(os.PRIO_PROCESS, 0))),
        # Other work on the machine shows up here and in wide p90s.
        ("load average (1/5/15 min) at start / end",
         f"{_load(load_at_start)} / {_load(os.getloadavg())}"),
        ("cgroups", cgroup_mode()),
        ("python", f"{platform.python_version()} ({real_python()})"),
        ("busybox", busybox_version(busybox)),
    ]
    rows += [(name, ver) for name, ver in versions.items()]
    return rows


def reference_commands(holder: MountNamespaceHolder | None) -> list[tuple[str, list[str]]]:
    """Fixed costs that help read the runtime numbers."""
    true = "/bin/true"
    refs = [("spawn+reap of /bin/true (harness floor)", [true]),
            ("`python3 -I -S -c pass` (interpreter floor)",
             [real_python(), "-I", "-S", "-c", "pass"]),
            ("`python3 -c pass`", [real_python(), "-c", "pass"])]
    if is_hybrid_cgroup():
        refs += [("`unshare -m true`", ["unshare", "-m", true]),
                 ("`unshare -m sh -c 'umount cgroup2; exec true'`",
                  [*unshare_wrapper(""), true])]
    if holder is not None:
        refs.append(("`nsenter --mount=<held ns> true` (crun's wrapper here)",
                     list(holder.nsenter(true))))
    return refs


def measure_references(iterations: int, holder: MountNamespaceHolder | None
                       ) -> list[tuple[str, float, float]]:
    """(label, median ms, p90 ms) per reference command, alternated like the cases."""
    if iterations <= 0:
        return []
    refs = reference_commands(holder)
    samples: dict[str, list[float]] = {label: [] for label, _ in refs}
    for i in range(iterations + 1):
        for label, argv in refs[i % len(refs):] + refs[:i % len(refs)]:
            res = proc.run(argv, timeout_s=10)
            if res.ok and i > 0:  # first round is warm-up
                samples[label].append(res.wall_ms)
    return [(label, statistics.median(v), percentile(v, 90))
            for label, v in samples.items() if v]

