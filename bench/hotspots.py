"""`python3 -m bench.hotspots`: where ocirt's milliseconds go.

Four views of the same lifecycle (create, state, start, delete, run) on a
harness-built busybox bundle:
- wall and CPU medians of each call next to the bare interpreter start-up,
- which modules each call loads (deterministic, unlike timings on a busy box),
- `-X importtime`: import cost per module (self and cumulative),
- cProfile of the parent CLI process: import share, top functions.
cProfile sees only the CLI process; time the CLI spends blocked on the
container's init shows up as waiting in a recv/read.
"""
from __future__ import annotations

import argparse
import os
import pstats
import re
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from bench import proc
from bench.bundle import build_bundles
from bench.runtimes import REPO, bench_env, checkout_launcher_code, real_python

IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")
BOOTSTRAP = "<frozen importlib._bootstrap>"
MODULES_TAG = "#bench-modules"
# Stdlib modules that cost whole milliseconds to import; a short-lived CLI
# call that loads them pays that on every invocation.
HEAVY_STDLIB = ("typing", "json", "re", "enum", "dataclasses", "hashlib", "urllib.parse",
                "zipfile", "pathlib", "tempfile", "shutil", "subprocess", "logging",
                "argparse", "ipaddress", "inspect", "ctypes", "cffi", "jsonschema",
                "socket", "selectors", "threading", "datetime", "uuid", "signal")
_DUMP_MODULES = (f"import atexit, sys; atexit.register(lambda: sys.stderr.write("
                 f"'\\n{MODULES_TAG} ' + ' '.join(sorted(sys.modules)) + '\\n'))")


class Lab:
    """A root and bundles for profiling runs, plus a fresh id per call.

    ocirt runs from this checkout through a launcher file equivalent to the
    installed one (`python3 -I -S`, explicit sys.path), so that cProfile and
    importtime can wrap it.
    """

    def __init__(self, workdir: Path) -> None:
        self.launcher = workdir / "ocirt-launcher.py"
        self.launcher.write_text(checkout_launcher_code() + "\n")
        self.counting = workdir / "ocirt-modules.py"
        self.counting.write_text(_DUMP_MODULES + "\n" + checkout_launcher_code() + "\n")
        self.bundles = build_bundles(workdir / "b")
        self.root = workdir / "root"
        self.root.mkdir()
        self.env = bench_env()
        self.count = 0

    def new_id(self) -> str:
        self.count += 1
        return f"hs{os.getpid() % 10000}-{self.count}"

    def argv(self, *args: str, py_flags: tuple[str, ...] = (),
             launcher: Path | None = None) -> list[str]:
        return [real_python(), "-I", "-S", *py_flags, str(launcher or self.launcher), *args]

    def call(self, *args: str, py_flags: tuple[str, ...] = (),
             launcher: Path | None = None) -> proc.Result:
        argv = self.argv("--root", str(self.root), *args, py_flags=py_flags, launcher=launcher)
        return proc.run(argv, env=self.env)

    def lifecycle(self, launcher: Path | None = None) -> dict[str, proc.Result]:
        cid, bundle = self.new_id(), str(self.bundles.true)
        steps = {"--version": ("--version",),
                 "create": ("create", "--bundle", bundle, cid), "state": ("state", cid),
                 "start": ("start", cid), "delete": ("delete", "--force", cid),
                 "run": ("run", "--bundle", bundle, self.new_id())}
        out = {name: self.call(*args, launcher=launcher) for name, args in steps.items()}
        proc.reap_orphans()
        return out


def _modules(res: proc.Result) -> list[str]:
    for line in res.stderr.splitlines():
        if line.startswith(MODULES_TAG):
            return line.split()[1:]
    return []


def module_table(lab: Lab) -> list[str]:
    """Modules loaded per call: ocirt's own and the heavy stdlib ones."""
    base = set(_modules(proc.run([real_python(), "-I", "-S", "-c", _DUMP_MODULES])))
    lines = [f"A bare `python3 -I -S` has {len(base)} modules loaded.", "",
             "| call | modules | ocirt modules | heavy stdlib / third-party loaded |",
             "|---|---|---|---|"]
    for name, res in lab.lifecycle(launcher=lab.counting).items():
        mods = _modules(res)
        own = [m for m in mods if m.startswith("ocirt")]
        heavy = [m for m in HEAVY_STDLIB if m in mods]
        lines.append(f"| {name} | {len(mods)} | {len(own)} | {', '.join(heavy)} |")
    return lines


def wall_table(lab: Lab, rounds: int) -> list[str]:
    wall: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    floors = {"python3 -c pass": [real_python(), "-c", "pass"],
              "python3 -I -S -c pass": [real_python(), "-I", "-S", "-c", "pass"]}
    for _ in range(rounds):
        results = lab.lifecycle()
        results.update({name: proc.run(argv, env=lab.env) for name, argv in floors.items()})
        for name, res in results.items():
            wall.setdefault(name, []).append(res.wall_ms if res.ok else float("nan"))
            cpu.setdefault(name, []).append(res.cpu_ms if res.cpu_ms is not None
                                            else float("nan"))
    lines = ["| call | wall median ms | CPU (user+sys) median ms |", "|---|---|---|"]
    lines += [f"| {name} | {statistics.median(wall[name]):.1f} | "
              f"{statistics.median(cpu[name]):.1f} |" for name in wall]
    return lines


def importtime(lab: Lab, args: tuple[str, ...], top: int) -> list[str]:
    """Top-level imports (they partition the total) and the heaviest modules."""
    res = lab.call(*args, py_flags=("-X", "importtime"))
    rows = [(int(s), int(c), len(ind) // 2, name)
            for s, c, ind, name in IMPORT_LINE.findall(res.stderr)]
    total = sum(r[0] for r in rows) / 1000
    lines = [f"`{args[0]}`: {len(rows)} modules, {total:.1f} ms of imports "
             "(importtime's own overhead included)", "",
             "| top-level import | cumulative ms | | heaviest module (own time) | self ms |",
             "|---|---|---|---|---|"]
    tops = sorted((r for r in rows if r[2] == 0), key=lambda r: -r[1])[:top]
    heavy = sorted(rows, key=lambda r: -r[0])[:top]
    for i in range(max(len(tops), len(heavy))):
        left = f"{tops[i][3]} | {tops[i][1] / 1000:.1f}" if i < len(tops) else " | "
        right = f"{heavy[i][3]} | {heavy[i][0] / 1000:.1f}" if i < len(heavy) else " | "
        lines.append(f"| {left} | | {right} |")
    return lines


def cprofile(lab: Lab, step: str, workdir: Path, top: int) -> list[str]:
    out = workdir / f"{step}.prof"
    cid = lab.new_id()
    bundle = str(lab.bundles.true)
    if step in ("start", "delete", "state"):
        lab.call("create", "--bundle", bundle, cid).check()
    args = {"create": ("create", "--bundle", bundle, cid), "start": ("start", cid),
            "state": ("state", cid), "delete": ("delete", "--force", cid),
            "run": ("run", "--bundle", bundle, cid)}[step]
    res = lab.call(*args, py_flags=("-m", "cProfile", "-o", str(out)))
    lab.call("delete", "--force", cid)
    proc.reap_orphans()
    if not res.ok or not out.exists():
        return [f"`{step}`: failed: {proc.describe_failure(res)}"]
    return summarize(pstats.Stats(str(out)), step, top)


def _label(func: tuple[str, int, str]) -> str:
    path, line, name = func
    path = path.replace(str(REPO) + "/", "").replace(sys.prefix + "/lib/", "")
    return f"{name} ({path}:{line})"


def summarize(stats: pstats.Stats, step: str, top: int) -> list[str]:
    entries = stats.stats  # type: ignore[attr-defined]  # func -> (cc, nc, tt, ct, callers)
    total = max(v[3] for v in entries.values())
    imports = max((v[3] for f, v in entries.items()
                   if f[0] == BOOTSTRAP and f[2] == "_find_and_load"), default=0.0)
    lines = [f"`{step}`: {total * 1000:.1f} ms under cProfile, of which imports "
             f"{imports * 1000:.1f} ms", "",
             "| function (by own time) | calls | own ms | cumulative ms |", "|---|---|---|---|"]
    own = sorted(entries.items(), key=lambda kv: -kv[1][2])
    for func, (_, ncalls, tt, ct, _) in own[:top]:
        lines.append(f"| {_label(func)} | {ncalls} | {tt * 1000:.1f} | {ct * 1000:.1f} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m bench.hotspots", description=__doc__)
    ap.add_argument("--rounds", type=int, default=7, help="lifecycles for the wall table")
    ap.add_argument("--top", type=int, default=12)
    args = ap.parse_args(argv)
    proc.become_subreaper()
    workdir = Path(tempfile.mkdtemp(prefix="ocirt-hotspots-"))
    try:
        proc.use_helper(proc.build_helper(workdir))
        lab = Lab(workdir)
        lab.lifecycle()  # warm the page cache and bytecode caches
        out = ["### Time per call (ocirt from this checkout, `python3 -I -S`)", "",
               *wall_table(lab, args.rounds), "",
               "### Modules loaded per call", "", *module_table(lab), ""]
        out += ["### Imports (`-X importtime`)", ""]
        cid = lab.new_id()
        for cmd in (("--version",), ("create", "--bundle", str(lab.bundles.true), cid)):
            out += [*importtime(lab, cmd, args.top), ""]
        lab.call("delete", "--force", cid)
        out += ["### cProfile of the CLI process", ""]
        for step in ("create", "start", "state", "delete", "run"):
            out += [*cprofile(lab, step, workdir, args.top), ""]
        print("\n".join(out))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
