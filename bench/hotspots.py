"""`python3 -m bench.hotspots`: where ocirt's milliseconds go.

Three views of the same lifecycle (create, state, start, delete, run) on a
harness-built busybox bundle:
- wall medians of each call next to the bare interpreter start-up,
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


class Lab:
    """A root and bundles for profiling runs, plus a fresh id per call.

    ocirt runs from this checkout through a launcher file equivalent to the
    installed one (`python3 -I -S`, explicit sys.path), so that cProfile and
    importtime can wrap it.
    """

    def __init__(self, workdir: Path) -> None:
        self.launcher = workdir / "ocirt-launcher.py"
        self.launcher.write_text(checkout_launcher_code() + "\n")
        self.bundles = build_bundles(workdir / "b")
        self.root = workdir / "root"
        self.root.mkdir()
        self.env = bench_env()
        self.count = 0

    def new_id(self) -> str:
        self.count += 1
        return f"hs{os.getpid() % 10000}-{self.count}"

    def argv(self, *args: str, py_flags: tuple[str, ...] = ()) -> list[str]:
        return [real_python(), "-I", "-S", *py_flags, str(self.launcher), *args]

    def call(self, *args: str, py_flags: tuple[str, ...] = ()) -> proc.Result:
        return proc.run(self.argv("--root", str(self.root), *args, py_flags=py_flags),
                        env=self.env)

    def lifecycle(self, py_flags: tuple[str, ...] = ()) -> dict[str, proc.Result]:
        cid, bundle = self.new_id(), str(self.bundles.true)
        steps = {"create": ("create", "--bundle", bundle, cid), "state": ("state", cid),
                 "start": ("start", cid), "delete": ("delete", "--force", cid),
                 "run": ("run", "--bundle", bundle, self.new_id())}
        out = {name: self.call(*args, py_flags=py_flags) for name, args in steps.items()}
        proc.reap_orphans()
        return out


def wall_table(lab: Lab, rounds: int) -> list[str]:
    samples: dict[str, list[float]] = {}
    floors = {"python3 -c pass": [real_python(), "-c", "pass"],
              "python3 -I -S -c pass": [real_python(), "-I", "-S", "-c", "pass"],
              "ocirt --version": lab.argv("--version")}
    for _ in range(rounds):
        for name, res in lab.lifecycle().items():
            samples.setdefault(name, []).append(res.wall_ms if res.ok else float("nan"))
        for name, argv in floors.items():
            samples.setdefault(name, []).append(proc.run(argv, env=lab.env).wall_ms)
    lines = ["| call | median ms |", "|---|---|"]
    lines += [f"| {name} | {statistics.median(v):.1f} |" for name, v in samples.items()]
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
    entries = stats.stats  # func -> (cc, nc, tottime, cumtime, callers)
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
        out = ["### Wall time per call (ocirt from this checkout, `python3 -I -S`)", "", *wall_table(lab, args.rounds), ""]
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
