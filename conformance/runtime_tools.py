"""Run the OCI runtime-tools validation suite against a runtime.

Usage::

    python3 -m conformance.runtime_tools --suite /work/ext/runtime-tools \\
        --runtime /path/to/ocirt [--filter REGEX] [--timeout 300] [--retries N] \\
        [--json out.json | --results-dir conformance/results] [--tap-dir DIR]

The suite is an already-built runtime-tools checkout (``runtimetest`` and
``validation/*/*.t`` present; see conformance/README.md).  Each validation
executable is run on its own, from the checkout root (it loads
``rootfs-<arch>.tar.gz`` and ``runtimetest`` by relative path), with the
``RUNTIME`` environment variable naming the runtime, as runtime-tools expects.

Two suite generations are measured: checkouts vendoring runtime-spec v1.1.0
("spec-1.1") and v1.3.0 ("spec-1.3").  The generation is read from the
suite's go.mod, recorded in the JSON, and selects the known failures that
apply (an entry's ``generations`` list; all generations when absent).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from conformance.tap import TapResult, TestPoint, parse_tap

DEFAULT_TIMEOUT = 300.0  # linux_cgroups_cpus makes ~40 containers; slow under load
KNOWN_PATH = Path(__file__).with_name("known-failures.toml")
STATUSES = ("pass", "fail", "skip", "xfail", "flaky", "error", "timeout")
OK_STATUSES = ("pass", "skip", "xfail", "flaky")
STDERR_TAIL = 4000  # characters of stderr kept per executable in the JSON
SPEC_MODULE = "github.com/opencontainers/runtime-spec"
GENERATION_RE = re.compile(r"spec-\d+\.\d+")
# The suite's fixed cgroupsPath values (runtime-tools cgroups.AbsCgroupPath and
# RelCgroupPath), deepest first.  A runtime removes only the container's own
# cgroup, so the parents of the relative one stay behind in every hierarchy.
SUITE_CGROUPS = ("testdir/cgrouptest/container", "testdir/cgrouptest", "testdir", "cgrouptest")


@dataclass
class Failure:
    """One failed TAP point, or a crash, with the best reason we could find."""

    number: int
    description: str
    reason: str
    reference: str = ""
    known: str = ""  # kind from known-failures.toml, when it matched


@dataclass
class ExecResult:
    """Outcome of one validation executable."""

    name: str
    status: str  # pass | fail | skip | xfail (only known failures) | flaky (passed on retry) | error | timeout
    exit_code: int | None
    duration: float
    planned: int | None
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    todo: int = 0
    failures: list[Failure] = field(default_factory=list)
    stderr_tail: str = ""
    leftover_tmp: list[str] = field(default_factory=list)  # bundles/mounts in its TMPDIR, suite cgroups
    attempts: list[str] = field(default_factory=list)  # statuses, with --retries


# ---------------------------------------------------------------- discovery


def discover(suite: Path, pattern: str | None) -> list[Path]:
    """All built validation executables, sorted, optionally filtered by name."""
    exes = sorted(p for p in (suite / "validation").glob("*/*.t") if p.parent.name != "util")
    if pattern:
        rx = re.compile(pattern)
        exes = [p for p in exes if rx.search(p.stem)]
    return exes


def check_suite(suite: Path) -> list[str]:
    """Problems that would make every executable fail for the wrong reason."""
    problems = []
    if not (suite / "runtimetest").is_file():
        problems.append(f"{suite}/runtimetest missing: build it (see conformance/README.md)")
    arch = {"x86_64": "amd64", "i686": "386"}.get(platform.machine(), platform.machine())
    if not (suite / f"rootfs-{arch}.tar.gz").is_file():
        problems.append(f"{suite}/rootfs-{arch}.tar.gz missing: is this a runtime-tools checkout?")
    if not discover(suite, None):
        problems.append(f"no {suite}/validation/*/*.t: run the validation-executables build")
    if not vendored_spec(suite):
        problems.append(f"{suite}/go.mod names no {SPEC_MODULE} version: cannot tell the suite generation")
    return problems


def vendored_spec(suite: Path) -> str:
    """runtime-spec version the suite is built against (its go.mod require), e.g. 'v1.3.0'."""
    gomod = suite / "go.mod"
    text = gomod.read_text() if gomod.is_file() else ""
    found = re.search(rf"^\s*(?:require\s+)?{re.escape(SPEC_MODULE)}\s+(v[0-9][^\s]*)", text, re.MULTILINE)
    return found.group(1) if found else ""


def generation(spec_version: str) -> str:
    """'v1.3.0' -> 'spec-1.3': the known-failures and results/ key of a suite."""
    found = re.match(r"v(\d+)\.(\d+)", spec_version)
    return f"spec-{found.group(1)}.{found.group(2)}" if found else "unknown"


def resolve_runtime(runtime: str) -> str:
    """Absolute path of the runtime; runtime-tools would otherwise search PATH itself."""
    found = shutil.which(runtime)
    if found is None:
        raise SystemExit(f"runtime {runtime!r} not found or not executable")
    return os.path.abspath(found)


# ---------------------------------------------------------------- reasons


def _diag_reason(diag: Any) -> tuple[str, str]:
    """(reason, spec reference) from a tap-go diagnostic block."""
    if not isinstance(diag, dict):
        return (str(diag).strip() if diag else "", "")
    ref = str(diag.get("reference", ""))
    if "stdout" in diag:  # RuntimeInsideValidate: the container's own TAP
        inner = _inner_failures(str(diag.get("stdout", "")))
        extra = str(diag.get("error") or diag.get("stderr") or "").strip()
        return ("; ".join(x for x in (inner, extra) if x), ref)
    if "error" in diag or "stderr" in diag:
        parts = [str(diag.get(k, "")).strip() for k in ("error", "stderr")]
        return (" | ".join(p for p in parts if p), ref)
    if "expected" in diag or "actual" in diag:
        return (f"expected {diag.get('expected')!r}, got {diag.get('actual')!r}", ref)
    keys = {k: v for k, v in diag.items() if k != "reference"}
    return (json.dumps(keys, sort_keys=True)[:500] if keys else "", ref)


def _inner_failures(stdout: str) -> str:
    """Failing points of the runtimetest TAP a container printed."""
    inner = parse_tap(stdout)
    msgs = [f"inside: {p.description}" for p in inner.points if p.outcome == "fail"]
    if not inner.points and stdout.strip():
        msgs.append(f"inside output: {stdout.strip()[:300]}")
    return "; ".join(msgs)


def _point_failure(point: TestPoint) -> Failure:
    reason, ref = _diag_reason(point.diagnostic)
    if point.comments:  # e.g. "expect: 1024, actual: 512"
        reason = "; ".join([reason] * bool(reason) + point.comments)
    return Failure(point.number, point.description, reason, ref)


def _first_line(diag: Any) -> str:
    text = str(diag.get("error", "")) if isinstance(diag, dict) else str(diag)
    return (text.strip().splitlines() or ["error reported without a test point"])[0]


def normalize_lifecycle(tap: TapResult, exit_code: int | None) -> None:
    """Give point-less runtime-tools executables real points.

    Lifecycle tests (hooks, prestart, poststop, ...) print ``t.Header(0)``,
    one YAML ``error`` block if the lifecycle failed, then ``1..0``.  An
    unclaimed block is a failure; a clean ``1..0`` with exit 0 is a pass.
    Negative tests (process_rlimits_fail, ...) print no TAP at all and exit 0
    when the runtime rejected the bad config, as it should.
    """
    synthetic = [TestPoint(number=len(tap.points) + i + 1, ok=False, description=_first_line(d), diagnostic=d)
                 for i, d in enumerate(tap.orphans)]
    tap.orphans = []
    if not tap.points and not synthetic and tap.planned in (0, None) and exit_code == 0:
        what = "lifecycle completed without error" if tap.planned == 0 else "expected error produced"
        synthetic.append(TestPoint(number=1, ok=True, description=what))
    tap.points += synthetic
    if synthetic and tap.planned in (0, None):
        tap.planned = len(tap.points)


def _stderr_reason(stderr: str) -> str:
    """runtime-tools prints 'failed to create the container' + runtime stderr on fatal errors."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    useful = [ln for ln in lines if not ln.startswith("Clean:")] or lines
    return " | ".join(useful[-6:])[:1500]


_VAGUE = ("", "expected '', got ''")


def _add_stderr(f: Failure, stderr: str) -> None:
    """'not ok 7 - exit status 1' says nothing: the runtime's message is on stderr."""
    vague = f.reason.strip() in _VAGUE or "exit status" in f.description
    extra = _stderr_reason(stderr) if vague else ""
    if extra and extra not in f.reason:
        f.reason = f"{f.reason} | stderr: {extra}" if f.reason.strip() not in _VAGUE else extra
    f.reason = " ".join(f.reason.split())


def collect_failures(tap: TapResult, stderr: str, exit_code: int | None) -> list[Failure]:
    failures = [_point_failure(p) for p in tap.points if p.outcome == "fail"]
    for f in failures:
        _add_stderr(f, stderr)
    crashed = exit_code not in (0, None) or tap.bail_out or not tap.plan_ok
    if crashed and not failures:
        why = tap.bail_out or _stderr_reason(stderr) or f"exit code {exit_code}"
        if not tap.plan_ok and tap.planned is not None:
            why = f"plan {tap.planned} but {len(tap.points)} points; {why}"
        failures.append(Failure(0, "executable did not finish cleanly", why))
    return failures


# ---------------------------------------------------------------- running


def _mounts_under(path: Path) -> list[str]:
    """Mount points below path (never delete through a mount a runtime left behind)."""
    prefix = str(path).rstrip("/") + "/"
    found = []
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            mnt = line.split()[4].replace("\\040", " ")
            if mnt.startswith(prefix):
                found.append(mnt)
    return found


def _top_mounts(mounts: list[str]) -> list[str]:
    return [m for m in mounts if not any(m.startswith(o + "/") for o in mounts if o != m)]


def _clean_tmp(tmp: Path) -> list[str]:
    """Remove the per-executable TMPDIR and say what the runtime left behind.

    Mounts a runtime leaked into the host namespace under this private
    directory are detached first (they would pile up over runs); if any
    survive, the directory is kept, since rmtree would descend into them.
    """
    leftovers = sorted(str(p) for p in tmp.iterdir()) if tmp.exists() else []
    mounts = _mounts_under(tmp)
    for top in _top_mounts(mounts):
        subprocess.run(["umount", "-R", "-l", top], capture_output=True, check=False)
    if _mounts_under(tmp):
        return [f"still mounted: {m}" for m in _mounts_under(tmp)]
    shutil.rmtree(tmp, ignore_errors=True)
    return [f"leaked mount (detached by harness): {m}" for m in _top_mounts(mounts)] + leftovers


def _cgroup_roots() -> list[Path]:
    """Mount points of every cgroup (v1) and cgroup2 hierarchy."""
    roots = []
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            fields = line.split()
            fstype = fields[fields.index("-") + 1]
            if fstype in ("cgroup", "cgroup2"):
                roots.append(Path(fields[4].replace("\\040", " ")))
    return roots


def clean_suite_cgroups() -> list[str]:
    """rmdir the suite's fixed cgroups where they are empty; say which were there.

    rmdir only: a cgroup that still has processes or other children stays
    (and is reported), so nothing of a live container is touched.  One line
    per cgroup path, naming the hierarchies it was found in.
    """
    removed: dict[str, list[str]] = {}
    kept = []
    for root in _cgroup_roots():
        for rel in SUITE_CGROUPS:
            path = root / rel
            if not path.is_dir():
                continue
            try:
                path.rmdir()
                removed.setdefault(rel, []).append(root.name)
            except OSError as exc:
                kept.append(f"cgroup still there: {path} ({exc.strerror})")
    return [f"cgroup {rel} removed by harness from {', '.join(where)}" for rel, where in removed.items()] + kept


def _run_process(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float) -> tuple[int | None, str, str, bool]:
    """Run in its own process group so a timeout kills runtime children too."""
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
        return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace"), False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return None, out.decode(errors="replace"), err.decode(errors="replace"), True


def _status(tap: TapResult, exit_code: int | None, timed_out: bool) -> str:
    if timed_out:
        return "timeout"
    if not tap.points:
        return "error"
    if tap.count("fail") or exit_code != 0 or tap.bail_out or not tap.plan_ok:
        return "fail"
    if tap.count("pass") == 0 and tap.count("skip"):
        return "skip"
    return "pass"


def run_one(exe: Path, suite: Path, runtime: str, timeout: float, tmp_root: Path, tap_dir: Path | None) -> ExecResult:
    """Run one validation executable and turn its TAP into an ExecResult."""
    name = exe.stem
    tmp = tmp_root / name
    tmp.mkdir(parents=True, exist_ok=True)
    tmp.chmod(0o755)  # user-namespace tests need mapped ids to traverse to the bundle
    # A private TMPDIR: bundles (os.MkdirTemp) land there, so leftovers are attributable.
    env = dict(os.environ, RUNTIME=runtime, TMPDIR=str(tmp))
    start = time.monotonic()
    code, out, err, timed_out = _run_process([str(exe.resolve())], suite, env, timeout)
    duration = time.monotonic() - start
    if tap_dir is not None:
        (tap_dir / f"{name}.tap").write_text(out)
        (tap_dir / f"{name}.stderr").write_text(err)
    tap = parse_tap(out)
    normalize_lifecycle(tap, code)
    failures = collect_failures(tap, err, code)
    if timed_out:
        failures.insert(0, Failure(0, "timeout", f"killed after {timeout:.0f}s"))
    return ExecResult(
        name=name, status=_status(tap, code, timed_out), exit_code=code,
        duration=round(duration, 2), planned=tap.planned,
        # failures also holds crash/timeout entries, so a Fatal exit counts too.
        passed=tap.count("pass"), failed=len(failures),
        skipped=tap.count("skip"), todo=tap.count("todo"),
        failures=failures, stderr_tail=err[-STDERR_TAIL:],
        leftover_tmp=_clean_tmp(tmp) + clean_suite_cgroups(),
    )


# ---------------------------------------------------------------- known failures


def load_known(path: Path | None, gen: str | None = None) -> list[dict[str, Any]]:
    """Entries of a known-failures file; only those that apply to suite generation gen, if given."""
    if path is None or not path.is_file():
        return []
    with open(path, "rb") as f:
        entries: list[dict[str, Any]] = tomllib.load(f).get("known", [])
    return [e for e in entries if gen is None or gen in e.get("generations", [gen])]


def known_problems(entries: list[dict[str, Any]]) -> list[str]:
    """Malformed entries: a misspelt generation would silently never match."""
    problems = []
    for i, e in enumerate(entries):
        missing = {"test", "kind", "reason"} - set(e)
        if missing:
            problems.append(f"entry {i} ({e.get('test', '?')}): missing {', '.join(sorted(missing))}")
        gens = e.get("generations", [])
        if not isinstance(gens, list) or not all(isinstance(g, str) and GENERATION_RE.fullmatch(g) for g in gens):
            problems.append(f"entry {i} ({e.get('test', '?')}): generations must be a list like [\"spec-1.1\"]")
    return problems


def _matches(entry: dict[str, Any], name: str, failure: Failure) -> bool:
    if entry["test"] != name:
        return False
    pattern = entry.get("match")
    return pattern is None or re.search(pattern, f"{failure.description} {failure.reason}") is not None


def apply_known(results: list[ExecResult], known: list[dict[str, Any]]) -> None:
    """Tag failures listed as known; an executable with only known ones becomes xfail."""
    for r in results:
        for f in r.failures:
            hit = next((k for k in known if _matches(k, r.name, f)), None)
            f.known = hit["kind"] if hit else ""
        if r.status in ("fail", "error") and r.failures and all(f.known for f in r.failures):
            r.status = "xfail"


# ---------------------------------------------------------------- reporting


def totals(results: list[ExecResult]) -> dict[str, int]:
    t = {k: sum(getattr(r, k) for r in results) for k in ("passed", "failed", "skipped", "todo")}
    t["unexpected_failures"] = sum(1 for r in results for f in r.failures if not f.known)
    for status in STATUSES:
        t[f"executables_{status}"] = sum(1 for r in results if r.status == status)
    t["executables"] = len(results)
    return t


def format_table(results: list[ExecResult]) -> str:
    """Fixed-width summary: one row per executable, then totals."""
    width = max([len(r.name) for r in results] + [len("TOTAL")])
    head = f"{'test':<{width}}  {'status':<7} {'pass':>5} {'fail':>5} {'skip':>5} {'time':>7}"
    rows = [head, "-" * len(head)]
    for r in results:
        rows.append(f"{r.name:<{width}}  {r.status:<7} {r.passed:>5} {r.failed:>5} {r.skipped:>5} {r.duration:>6.1f}s")
    t = totals(results)
    rows.append("-" * len(head))
    rows.append(f"{'TOTAL':<{width}}  {'':<7} {t['passed']:>5} {t['failed']:>5} {t['skipped']:>5}")
    summary = ", ".join(f"{t['executables_' + s]} {s}" for s in STATUSES)
    rows.append(f"executables: {t['executables']} ({summary})")
    return "\n".join(rows)


def format_failures(results: list[ExecResult], limit: int = 8) -> str:
    """Why each executable failed, a few reasons each; known failures left out."""
    lines = []
    for r in results:
        unknown = [f for f in r.failures if not f.known]
        if r.status in OK_STATUSES or not unknown:
            continue
        lines.append(f"{r.name} [{r.status}]")
        for f in unknown[:limit]:
            ref = f" <{f.reference}>" if f.reference else ""
            lines.append(f"  #{f.number} {f.description}: {f.reason[:300]}{ref}")
        if len(unknown) > limit:
            lines.append(f"  ... {len(unknown) - limit} more")
    return "\n".join(lines)


def format_flaky(results: list[ExecResult]) -> str:
    """Executables that failed and then passed on a retry, with the first reason."""
    lines = []
    for r in results:
        if r.status == "flaky":
            why = next((f"{f.description}: {f.reason[:200]}" for f in r.failures if not f.known), "")
            lines.append(f"{r.name} ({' -> '.join(r.attempts)}): {why}")
    return "\n".join(lines)


def format_known(results: list[ExecResult]) -> str:
    """One line per executable with known failures: which kinds."""
    lines = []
    for r in results:
        kinds = sorted({f.known for f in r.failures if f.known})
        if kinds:
            n = sum(1 for f in r.failures if f.known)
            lines.append(f"{r.name}: {n} known ({', '.join(kinds)})")
    return "\n".join(lines)


def _command_output(cmd: list[str], cwd: Path | None = None) -> str:
    try:
        res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=20, check=False)
        return (res.stdout or res.stderr).strip()
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unavailable: {exc}"


def cgroup_layout() -> str:
    """unified, hybrid or legacy, as seen by this process."""
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        return "unified"
    if os.path.ismount("/sys/fs/cgroup/unified"):
        return "hybrid"
    return "legacy"


def runtime_name(version_output: str, runtime: str) -> str:
    """'runc' from 'runc version 1.1.5 ...': wrappers (ocirt-dev, crun-hybrid) report the real name."""
    words = version_output.split()
    if len(words) >= 2 and words[1] == "version" and re.fullmatch(r"[\w.-]+", words[0]):
        return words[0]
    return Path(runtime).name


def environment(suite: Path, runtime: str) -> dict[str, str]:
    version = _command_output([runtime, "--version"])
    spec = vendored_spec(suite)
    return {
        "runtime": runtime,
        "runtime_name": runtime_name(version, runtime),
        "runtime_version": version,
        "suite": str(suite),
        "suite_commit": _command_output(["git", "describe", "--long", "--always", "--tags"], cwd=suite),
        "suite_spec": spec,
        "generation": generation(spec),
        "kernel": platform.release(),
        "cgroups": cgroup_layout(),
        "started": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }


def write_json(path: Path, env: dict[str, str], results: list[ExecResult]) -> None:
    doc = {"environment": env, "totals": totals(results), "tests": [asdict(r) for r in results]}
    path.write_text(json.dumps(doc, indent=2) + "\n")


# ---------------------------------------------------------------- CLI


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python3 -m conformance.runtime_tools", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--suite", type=Path, required=True, help="built runtime-tools checkout")
    p.add_argument("--runtime", required=True, help="runtime executable (path or name on PATH)")
    p.add_argument("--filter", help="regex on executable names (e.g. '^linux_cgroups')")
    p.add_argument("--exclude", help="regex of executable names to leave out")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per executable")
    p.add_argument("--json", type=Path, help="write machine-readable results here")
    p.add_argument("--results-dir", type=Path,
                   help="write the JSON to DIR/<generation>/<runtime>.json (e.g. conformance/results)")
    p.add_argument("--tap-dir", type=Path, help="save each executable's raw TAP and stderr here")
    p.add_argument("--known", type=Path, default=KNOWN_PATH,
                   help="known-failures TOML (default: conformance/known-failures.toml)")
    p.add_argument("--no-known", action="store_true", help="treat every failure as unexpected")
    p.add_argument("--retries", type=int, default=0,
                   help="rerun an unexpectedly failing executable up to N times; pass on retry = flaky")
    p.add_argument("--list", action="store_true", help="list executables and exit")
    p.add_argument("-q", "--quiet", action="store_true", help="no per-executable progress lines")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    suite = args.suite.resolve()
    exes = discover(suite, args.filter)
    if args.exclude:
        exes = [e for e in exes if not re.search(args.exclude, e.stem)]
    if args.list:
        print("\n".join(e.stem for e in exes))
        return 0
    problems = check_suite(suite) + ([] if args.no_known else known_problems(load_known(args.known)))
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 2
    runtime = resolve_runtime(args.runtime)
    if args.tap_dir:
        args.tap_dir.mkdir(parents=True, exist_ok=True)
    env = environment(suite, runtime)
    print(f"suite {env['suite_commit']} ({env['generation']}: runtime-spec {env['suite_spec']}), "
          f"runtime {env['runtime_name']}", file=sys.stderr)
    known = [] if args.no_known else load_known(args.known, env["generation"])
    results = _run_all(exes, suite, runtime, args, known)
    print(format_table(results))
    known_lines = format_known(results)
    if known_lines:
        print("\nKnown failures (see conformance/known-failures.toml):\n" + known_lines)
    flaky = format_flaky(results)
    if flaky:
        print("\nFlaky (failed, then passed on retry):\n" + flaky)
    fails = format_failures(results)
    if fails:
        print("\nFailures:\n" + fails)
    left = [f"{r.name}: {x}" for r in results for x in r.leftover_tmp]
    if left:  # a runtime (or a test) that leaks bundles or mounts on the host
        print("\nLeft behind:\n" + "\n".join(left))
    for out in json_paths(args, env):
        out.parent.mkdir(parents=True, exist_ok=True)
        write_json(out, env, results)
    return 0 if all(r.status in OK_STATUSES for r in results) else 1


def json_paths(args: argparse.Namespace, env: dict[str, str]) -> list[Path]:
    """--json as given; --results-dir sorted by suite generation and runtime name."""
    paths = [args.json] if args.json else []
    if args.results_dir:
        paths.append(args.results_dir / env["generation"] / f"{env['runtime_name']}.json")
    return paths


def _run_with_retries(exe: Path, suite: Path, runtime: str, args: argparse.Namespace, tmp: Path,
                      known: list[dict[str, Any]]) -> ExecResult:
    """Run once; rerun an unexpected failure up to --retries times.

    A failure that later passes is reported as flaky, with the failing
    attempt's details kept: timing races are worth seeing, not hiding.
    """
    first = run_one(exe, suite, runtime, args.timeout, tmp, args.tap_dir)
    apply_known([first], known)
    first.attempts = [first.status]
    while first.status not in OK_STATUSES and len(first.attempts) <= args.retries:
        again = run_one(exe, suite, runtime, args.timeout, tmp, None)
        apply_known([again], known)
        first.attempts.append(again.status)
        if again.status in OK_STATUSES:
            first.status = "flaky"
    return first


def _run_all(exes: list[Path], suite: Path, runtime: str, args: argparse.Namespace,
             known: list[dict[str, Any]]) -> list[ExecResult]:
    results = []
    stale = clean_suite_cgroups()  # from an earlier run: not this run's executables' doing
    if stale:
        print("before the run:\n" + "\n".join(stale), file=sys.stderr)
    tmp = Path(tempfile.mkdtemp(prefix="ocirt-conformance-"))
    tmp.chmod(0o755)  # mkdtemp makes 0700; see run_one
    for i, exe in enumerate(exes, 1):
        r = _run_with_retries(exe, suite, runtime, args, tmp, known)
        results.append(r)
        if not args.quiet:
            print(f"[{i}/{len(exes)}] {r.name}: {r.status} ({r.passed} pass, {r.failed} fail, "
                  f"{r.skipped} skip, {r.duration:.1f}s)", file=sys.stderr, flush=True)
    # Not TemporaryDirectory: its rmtree would follow a mount a broken runtime left behind.
    left = _clean_tmp(tmp)
    if left:
        print(f"left in {tmp}: {left}", file=sys.stderr)
    return results


if __name__ == "__main__":
    sys.exit(main())
