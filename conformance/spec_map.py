"""Load, check and summarise conformance/spec-map.toml.

``python3 -m conformance.spec_map`` prints coverage counts by spec file and
status, and lists problems (unknown tests, bad statuses, duplicate ids).
``--unmapped`` lists test functions in tests/ that no requirement references,
which helps when re-scanning the suite for new tests.
"""

from __future__ import annotations

import argparse
import ast
import sys
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
MAP_PATH = Path(__file__).with_name("spec-map.toml")
STATUSES = ("covered", "partial", "missing")
LEVELS = ("MUST", "MUST NOT", "SHOULD", "SHOULD NOT", "REQUIRED", "MUST (implied)")
REQUIRED_FIELDS = ("id", "level", "file", "section", "text", "status", "tests")
SPEC_FILES = ("runtime.md", "runtime-linux.md", "config.md", "config-linux.md", "features.md")


def load(path: Path = MAP_PATH) -> dict[str, Any]:
    with open(path, "rb") as f:
        return tomllib.load(f)


def test_functions(test_file: Path) -> set[str]:
    """Names of test functions, and Class::method for test methods, in a file."""
    tree = ast.parse(test_file.read_text(), filename=str(test_file))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name.startswith("test"):
                    names.add(f"{node.name}::{item.name}")
    return names


def check_test_ref(ref: str, repo: Path = REPO, cache: dict[Path, set[str]] | None = None) -> str | None:
    """None if ref ('tests/test_x.py::name') names an existing test, else why not."""
    if "::" not in ref:
        return f"{ref}: expected 'path::function'"
    rel, func = ref.split("::", 1)
    path = repo / rel
    if not path.is_file():
        return f"{ref}: no file {rel}"
    cache = {} if cache is None else cache
    if path not in cache:
        cache[path] = test_functions(path)
    if func not in cache[path]:
        return f"{ref}: no test function {func} in {rel}"
    return None


def _check_entry(req: dict[str, Any], cache: dict[Path, set[str]], repo: Path) -> list[str]:
    rid = req.get("id", "<no id>")
    problems = [f"{rid}: missing field {k}" for k in REQUIRED_FIELDS if k not in req]
    if problems:
        return problems
    if req["status"] not in STATUSES:
        problems.append(f"{rid}: status {req['status']!r} not in {STATUSES}")
    if req["level"] not in LEVELS:
        problems.append(f"{rid}: level {req['level']!r} not in {LEVELS}")
    if req["file"] not in SPEC_FILES:
        problems.append(f"{rid}: file {req['file']!r} not in {SPEC_FILES}")
    if req["status"] == "missing" and req["tests"]:
        problems.append(f"{rid}: status missing but tests are listed")
    if req["status"] != "missing" and not req["tests"]:
        problems.append(f"{rid}: status {req['status']} needs at least one test")
    for ref in req["tests"]:
        why = check_test_ref(ref, repo, cache)
        if why:
            problems.append(f"{rid}: {why}")
    return problems


def validate(doc: dict[str, Any], repo: Path = REPO) -> list[str]:
    """Every problem in the map; empty when it is consistent with the repo."""
    reqs = doc.get("req", [])
    if not reqs:
        return ["no [[req]] entries"]
    problems: list[str] = []
    dupes = [i for i, n in Counter(r.get("id") for r in reqs).items() if n > 1]
    problems += [f"duplicate id {i}" for i in dupes]
    cache: dict[Path, set[str]] = {}
    for req in reqs:
        problems += _check_entry(req, cache, repo)
    return problems


def coverage(doc: dict[str, Any]) -> dict[str, Counter]:
    """status counts per spec file, plus 'all'."""
    out: dict[str, Counter] = {"all": Counter()}
    for req in doc["req"]:
        out.setdefault(req["file"], Counter())[req["status"]] += 1
        out["all"][req["status"]] += 1
    return out


def format_coverage(cov: dict[str, Counter]) -> str:
    rows = [f"{'file':<18} {'covered':>8} {'partial':>8} {'missing':>8} {'total':>6}"]
    for name in [f for f in SPEC_FILES if f in cov] + ["all"]:
        c = cov[name]
        rows.append(f"{name:<18} {c['covered']:>8} {c['partial']:>8} {c['missing']:>8} {sum(c.values()):>6}")
    return "\n".join(rows)


def unmapped_tests(doc: dict[str, Any], repo: Path = REPO) -> list[str]:
    """Test functions under tests/ that no requirement references."""
    used = {ref for req in doc["req"] for ref in req["tests"]}
    found = []
    for path in sorted((repo / "tests").rglob("test_*.py")):
        rel = path.relative_to(repo).as_posix()
        try:
            names = test_functions(path)
        except SyntaxError:
            continue  # someone else's file mid-edit; not ours to judge
        found += [f"{rel}::{n}" for n in sorted(names) if f"{rel}::{n}" not in used]
    return found


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m conformance.spec_map", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--map", type=Path, default=MAP_PATH)
    p.add_argument("--unmapped", action="store_true", help="list tests no requirement references")
    args = p.parse_args(argv)
    doc = load(args.map)
    print(format_coverage(coverage(doc)))
    problems = validate(doc)
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    if args.unmapped:
        print("\n".join(unmapped_tests(doc)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
