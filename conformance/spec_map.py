"""Load, check and summarise the spec-coverage map in conformance/spec-map/.

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
MAP_DIR = Path(__file__).with_name("spec-map")
# host: this machine cannot exercise it; n/a: not for a Linux runtime (both need a note).
STATUSES = ("covered", "partial", "missing", "host", "n/a")
MUST_LEVELS = ("MUST", "MUST NOT", "REQUIRED", "MUST (implied)")
LEVELS = ("MUST", "MUST NOT", "SHOULD", "SHOULD NOT", "REQUIRED", "MUST (implied)")
REQUIRED_FIELDS = ("id", "level", "file", "section", "text", "status", "tests")
SPEC_FILES = ("runtime.md", "runtime-linux.md", "config.md", "config-linux.md", "features.md", "features-linux.md")
# runtime-tools validation executables (`runtime_tools --list`) of both suite
# generations: spec-1.1 (v0.9.0-135-ge5b4542) and spec-1.3 (v0.9.0-141-g5e63903)
# build the same 58 names.  Kept here so CI, which has no runtime-tools, can
# still check the map's names; a name needs to exist in one generation only.
RUNTIME_TOOLS = frozenset("""
config_updates_without_affect create default delete delete_only_create_resources delete_resources
hooks hooks_stdin hostname kill kill_no_effect killsig linux_cgroups_blkio linux_cgroups_cpus
linux_cgroups_devices linux_cgroups_hugetlb linux_cgroups_memory linux_cgroups_network
linux_cgroups_pids linux_cgroups_relative_blkio linux_cgroups_relative_cpus
linux_cgroups_relative_devices linux_cgroups_relative_hugetlb linux_cgroups_relative_memory
linux_cgroups_relative_network linux_cgroups_relative_pids linux_devices linux_masked_paths
linux_mount_label linux_ns_itype linux_ns_nopath linux_ns_path linux_ns_path_type
linux_process_apparmor_profile linux_readonly_paths linux_rootfs_propagation linux_seccomp
linux_sysctl linux_uid_mappings misc_props mounts pidfile poststart poststart_fail poststop
poststop_fail prestart prestart_fail process process_capabilities process_capabilities_fail
process_oom_score_adj process_rlimits process_rlimits_fail process_user root_readonly_true
start state
""".split())


def load(directory: Path = MAP_DIR) -> dict[str, Any]:
    """meta.toml's [meta] plus the [[req]] entries of every other file, in SPEC_FILES order."""
    with open(directory / "meta.toml", "rb") as f:
        doc: dict[str, Any] = tomllib.load(f)
    doc["req"] = []
    for name in SPEC_FILES:
        path = directory / name.replace(".md", ".toml")
        if path.exists():
            with open(path, "rb") as f:
                doc["req"] += tomllib.load(f).get("req", [])
    return doc


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
    if req["status"] in ("missing", "n/a") and req["tests"]:
        problems.append(f"{rid}: status {req['status']} but tests are listed")
    if req["status"] in ("host", "n/a") and not req.get("note", "").strip():
        problems.append(f"{rid}: status {req['status']} needs a note saying why")
    if req["status"] in ("covered", "partial") and not req["tests"]:
        problems.append(f"{rid}: status {req['status']} needs at least one test")
    for ref in req["tests"]:
        why = check_test_ref(ref, repo, cache)
        if why:
            problems.append(f"{rid}: {why}")
    problems += [f"{rid}: unknown runtime-tools executable {n}"
                 for n in req.get("runtime_tools", []) if n not in RUNTIME_TOOLS]
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


def coverage(doc: dict[str, Any], levels: tuple[str, ...] | None = None) -> dict[str, Counter]:
    """status counts per spec file, plus 'all'; only the given levels when levels is set."""
    out: dict[str, Counter] = {"all": Counter()}
    for req in doc["req"]:
        if levels is not None and req["level"] not in levels:
            continue
        out.setdefault(req["file"], Counter())[req["status"]] += 1
        out["all"][req["status"]] += 1
    return out


def format_coverage(cov: dict[str, Counter]) -> str:
    rows = [f"{'file':<18}" + "".join(f"{s:>9}" for s in STATUSES) + f"{'total':>7}"]
    for name in [f for f in SPEC_FILES if f in cov] + ["all"]:
        c = cov[name]
        rows.append(f"{name:<18}" + "".join(f"{c[s]:>9}" for s in STATUSES) + f"{sum(c.values()):>7}")
    return "\n".join(rows)


def uncovered(doc: dict[str, Any], levels: tuple[str, ...] = MUST_LEVELS) -> list[str]:
    """Requirements at these levels that are neither covered nor explained (host, n/a)."""
    return [f"{r['id']:<48} {r['status']:<8} {r['file']}" for r in doc["req"]
            if r["level"] in levels and r["status"] in ("partial", "missing")]


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


def suite_evidence(doc: dict[str, Any], results: Path) -> list[str]:
    """Requirements next to how their runtime-tools executables did in a results JSON.

    Flags the interesting cases: no ocirt test but the suite passes
    (external evidence only), and a failing executable (known or not).
    """
    import json

    status = {t["name"]: t["status"] for t in json.loads(results.read_text())["tests"]}
    lines = []
    for req in doc["req"]:
        names = req.get("runtime_tools", [])
        seen = {n: status.get(n, "-") for n in names}
        bad = {n: s for n, s in seen.items() if s not in ("pass", "skip", "-")}
        if bad or (names and req["status"] == "missing"):
            cells = " ".join(f"{n}={s}" for n, s in seen.items())
            lines.append(f"{req['id']:<44} [{req['status']}] {cells}")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m conformance.spec_map", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--map", type=Path, default=MAP_DIR, help="map directory")
    p.add_argument("--must", action="store_true",
                   help="also the MUST/REQUIRED table and the MUSTs not yet covered")
    p.add_argument("--unmapped", action="store_true", help="list tests no requirement references")
    p.add_argument("--results", type=Path,
                   help="runtime_tools JSON: show requirements whose suite executables fail "
                        "or that only the suite covers")
    args = p.parse_args(argv)
    doc = load(args.map)
    print(format_coverage(coverage(doc)))
    if args.must:
        print("\nMUST / MUST NOT / REQUIRED only:")
        print(format_coverage(coverage(doc, MUST_LEVELS)))
        print("\n".join(uncovered(doc)))
    problems = validate(doc)
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    if args.unmapped:
        print("\n".join(unmapped_tests(doc)))
    if args.results:
        print("\n".join(suite_evidence(doc, args.results)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
