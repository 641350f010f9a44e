"""Side-by-side view of several runtime_tools JSON results.

    python3 -m conformance.compare runc.json crun.json ocirt.json [--markdown]
    python3 -m conformance.compare conformance/results/spec-1.1/*.json

One row per validation executable: each runtime's status and pass/fail
counts; then totals.  Rows where the runtimes disagree are marked with '*'
so regressions against the reference runtimes stand out.  Columns are named
by runtime; when the files come from different suite generations (spec-1.1,
spec-1.3) the generation is added, so one runtime can be compared across them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

Run = tuple[str, dict[str, dict[str, Any]], dict[str, int]]


def load(path: Path) -> tuple[Run, str]:
    """((label, tests by name, totals), suite generation) of one results file."""
    doc = json.loads(path.read_text())
    env = doc["environment"]
    # runtime_name/generation are absent from JSON written before the harness knew generations.
    label = env.get("runtime_name") or Path(env["runtime"]).name
    return (label, {t["name"]: t for t in doc["tests"]}, doc["totals"]), env.get("generation", "unknown")


def label_runs(loaded: list[tuple[Run, str]]) -> list[Run]:
    """Add the generation to each label when the files mix generations."""
    if len({gen for _, gen in loaded}) <= 1:
        return [run for run, _ in loaded]
    return [(f"{label} ({gen})", tests, tot) for (label, tests, tot), gen in loaded]


def _cell(test: dict[str, Any] | None) -> str:
    if test is None:
        return "-"
    return f"{test['status']} {test['passed']}/{test['passed'] + test['failed']}"


def rows(runs: list[Run]) -> list[list[str]]:
    names = sorted({n for _, tests, _ in runs for n in tests})
    out = []
    for name in names:
        cells = [_cell(tests.get(name)) for _, tests, _ in runs]
        statuses = {c.split()[0] for c in cells}
        out.append([name + (" *" if len(statuses) > 1 else "")] + cells)
    totals = [f"{t['executables_pass']} exe pass, {t['passed']}/{t['passed'] + t['failed']}" for _, _, t in runs]
    out.append(["TOTAL"] + totals)
    return out


def render(header: list[str], body: list[list[str]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in body])
    widths = [max(len(r[i]) for r in [header] + body) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join(fmt.format(*r) for r in [header] + body)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m conformance.compare", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results", nargs="+", type=Path, help="JSON files from conformance.runtime_tools --json")
    p.add_argument("--markdown", action="store_true", help="emit a Markdown table")
    args = p.parse_args(argv)
    runs = label_runs([load(path) for path in args.results])
    header = ["test"] + [label for label, _, _ in runs]
    print(render(header, rows(runs), args.markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
