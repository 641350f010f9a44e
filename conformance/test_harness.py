"""Unit tests for the harness's TAP handling (no runtime-tools needed).

Run with `python3 -m pytest conformance/`.  The samples are shaped like what
runtime-tools' validation executables print.
"""

from __future__ import annotations

from conformance import runtime_tools as rt
from conformance.tap import parse_tap

SKIPS_AND_FAILS = """TAP version 13
ok 1 - find pids cgroup
not ok 2 - pids limit is set correctly
# expect: 1000, actual: 2000
ok 3 # SKIP linux.maskedPaths not set
not ok 4 - has expected soft RLIMIT_NOFILE
  ---
  {
    "actual": 4000,
    "expected": 3000,
    "reference": "https://example/config.md#posix-process"
  }
  ...
1..4
"""

LIFECYCLE_ERROR = """TAP version 13
  ---
  {
    "error": "Hooks MUST be called in the listed order\\nRefer to: https://example"
  }
  ...
1..0
"""

INSIDE_VALIDATE = """TAP version 13
  ---
  {
    "stderr": "",
    "stdout": "TAP version 13\\nok 1 - a\\nnot ok 2 - /proc/kcore is masked\\n1..2\\n"
  }
  ...
not ok 1 - masked paths
1..0
"""


def test_points_skips_and_comments() -> None:
    tap = parse_tap(SKIPS_AND_FAILS)
    assert [p.outcome for p in tap.points] == ["pass", "fail", "skip", "fail"]
    assert tap.plan_ok
    assert tap.points[1].comments == ["expect: 1000, actual: 2000"]
    assert tap.points[3].diagnostic["expected"] == 3000


def test_failure_reasons() -> None:
    tap = parse_tap(SKIPS_AND_FAILS)
    fails = rt.collect_failures(tap, "", 0)
    assert fails[0].reason == "expect: 1000, actual: 2000"
    assert fails[1].reason == "expected 3000, got 4000"
    assert fails[1].reference.endswith("#posix-process")


def test_lifecycle_error_block_becomes_failure() -> None:
    tap = parse_tap(LIFECYCLE_ERROR)
    rt.normalize_lifecycle(tap, 0)
    assert rt._status(tap, 0, False) == "fail"
    assert tap.points[0].description == "Hooks MUST be called in the listed order"


def test_clean_lifecycle_is_a_pass() -> None:
    tap = parse_tap("TAP version 13\n1..0\n")
    rt.normalize_lifecycle(tap, 0)
    assert rt._status(tap, 0, False) == "pass"
    assert tap.count("pass") == 1


def test_inside_block_goes_to_next_point_and_extra_plan_ignored() -> None:
    tap = parse_tap(INSIDE_VALIDATE)
    assert tap.planned == 0 or tap.extra_plans == [0]
    fails = rt.collect_failures(tap, "", 0)
    assert "inside: /proc/kcore is masked" in fails[0].reason


def test_crash_without_tap_uses_stderr() -> None:
    tap = parse_tap("")
    rt.normalize_lifecycle(tap, 1)
    fails = rt.collect_failures(tap, "failed to create the container\nunknown version specified\n", 1)
    assert rt._status(tap, 1, False) == "error"
    assert "unknown version specified" in fails[0].reason


def test_known_failures_turn_fail_into_xfail() -> None:
    tap = parse_tap(SKIPS_AND_FAILS)
    failures = rt.collect_failures(tap, "", 0)
    r = rt.ExecResult(name="process_rlimits", status="fail", exit_code=0, duration=0.1,
                      planned=4, failures=failures)
    known = [{"test": "process_rlimits", "match": "RLIMIT_NOFILE", "kind": "suite-bug"}]
    rt.apply_known([r], known)
    assert r.status == "fail"  # the pids failure is not known
    known.append({"test": "process_rlimits", "match": "pids", "kind": "suite-bug"})
    rt.apply_known([r], known)
    assert r.status == "xfail"
    assert rt.totals([r])["unexpected_failures"] == 0


def test_shipped_known_failures_parse() -> None:
    entries = rt.load_known(rt.KNOWN_PATH)
    assert entries and all({"test", "kind", "reason"} <= set(e) for e in entries)


def test_retry_marks_flaky(monkeypatch, tmp_path) -> None:
    outcomes = iter(["fail", "pass"])

    def fake_run_one(exe, suite, runtime, timeout, tmp, tap_dir):
        status = next(outcomes)
        fails = [rt.Failure(1, "race", "lost")] if status == "fail" else []
        return rt.ExecResult(name="poststart", status=status, exit_code=0, duration=0.1,
                             planned=1, failures=fails)

    monkeypatch.setattr(rt, "run_one", fake_run_one)
    args = rt.parse_args(["--suite", str(tmp_path), "--runtime", "x", "--retries", "2"])
    r = rt._run_with_retries(tmp_path / "poststart.t", tmp_path, "x", args, tmp_path, [])
    assert r.status == "flaky" and r.attempts == ["fail", "pass"]
    assert "poststart (fail -> pass): race: lost" in rt.format_flaky([r])
