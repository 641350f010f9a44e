"""Unit tests for the harness's TAP handling (no runtime-tools needed).

Run with `python3 -m pytest conformance/`.  The samples are shaped like what
runtime-tools' validation executables print.
"""

from __future__ import annotations

import json

from conformance import compare, spec_map
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
    assert entries and rt.known_problems(entries) == []


def test_shipped_known_failures_name_real_executables() -> None:
    names = {e["test"] for e in rt.load_known(rt.KNOWN_PATH)}
    assert names <= spec_map.RUNTIME_TOOLS


GO_MOD = """module github.com/opencontainers/runtime-tools

go 1.19

require (
\tgithub.com/opencontainers/runtime-spec v1.1.0
\tgithub.com/opencontainers/selinux v1.9.1
)
"""


def test_generation_from_go_mod(tmp_path) -> None:
    (tmp_path / "go.mod").write_text(GO_MOD)
    assert rt.vendored_spec(tmp_path) == "v1.1.0"
    assert rt.generation("v1.1.0") == "spec-1.1"
    assert rt.generation("v1.3.0-rc.1") == "spec-1.3"
    (tmp_path / "go.mod").write_text("module x\nrequire github.com/opencontainers/runtime-spec v1.3.0\n")
    assert rt.generation(rt.vendored_spec(tmp_path)) == "spec-1.3"


def test_suite_without_go_mod_is_refused(tmp_path) -> None:
    assert rt.vendored_spec(tmp_path) == ""
    assert any("generation" in p for p in rt.check_suite(tmp_path))


KNOWN_TOML = """
[[known]]
test = "linux_cgroups_pids"
kind = "suite-bug"
reason = "both"

[[known]]
test = "linux_cgroups_pids"
generations = ["spec-1.3"]
kind = "suite-bug"
reason = "1.3 only"
"""


def test_known_failures_chosen_by_generation(tmp_path) -> None:
    path = tmp_path / "known.toml"
    path.write_text(KNOWN_TOML)
    assert [e["reason"] for e in rt.load_known(path, "spec-1.1")] == ["both"]
    assert [e["reason"] for e in rt.load_known(path, "spec-1.3")] == ["both", "1.3 only"]
    assert len(rt.load_known(path)) == 2


def test_misspelt_generation_is_a_problem() -> None:
    entries = [{"test": "x", "kind": "host", "reason": "r", "generations": ["1.1"]},
               {"test": "y", "kind": "host", "reason": "r", "generations": "spec-1.1"},
               {"test": "z", "kind": "host"}]
    problems = rt.known_problems(entries)
    assert len(problems) == 3 and "missing reason" in problems[2]


def test_results_dir_sorted_by_generation_and_runtime(tmp_path) -> None:
    args = rt.parse_args(["--suite", "s", "--runtime", "r", "--results-dir", str(tmp_path)])
    env = {"generation": "spec-1.1", "runtime_name": "crun"}
    assert rt.json_paths(args, env) == [tmp_path / "spec-1.1" / "crun.json"]


def test_runtime_name_sees_through_wrappers() -> None:
    assert rt.runtime_name("crun version 1.8.1\ncommit: f8a0", "/x/crun-hybrid") == "crun"
    assert rt.runtime_name("ocirt version 0.2.0", "/x/ocirt-dev") == "ocirt"
    assert rt.runtime_name("unavailable: [Errno 2]", "/x/odd") == "odd"


def _results_file(path, name: str, gen: str, status: str) -> None:
    test = {"name": "kill", "status": status, "passed": 1, "failed": 0 if status == "pass" else 1}
    totals = {"executables_pass": int(status == "pass"), "passed": 1, "failed": test["failed"]}
    doc = {"environment": {"runtime": f"/x/{name}-dev", "runtime_name": name, "generation": gen},
           "totals": totals, "tests": [test]}
    path.write_text(json.dumps(doc))


def test_compare_labels_generations_only_when_mixed(tmp_path) -> None:
    a, b, c = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "c.json"
    _results_file(a, "ocirt", "spec-1.1", "pass")
    _results_file(b, "runc", "spec-1.1", "fail")
    _results_file(c, "ocirt", "spec-1.3", "pass")
    same = compare.label_runs([compare.load(a), compare.load(b)])
    assert [label for label, _, _ in same] == ["ocirt", "runc"]
    assert compare.rows(same)[0] == ["kill *", "pass 1/1", "fail 1/2"]
    mixed = compare.label_runs([compare.load(a), compare.load(c)])
    assert [label for label, _, _ in mixed] == ["ocirt (spec-1.1)", "ocirt (spec-1.3)"]


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


def test_suite_cgroups_removed_only_when_empty(monkeypatch, tmp_path) -> None:
    empty = tmp_path / "pids" / "testdir" / "cgrouptest"
    empty.mkdir(parents=True)
    busy = tmp_path / "memory" / "cgrouptest"
    busy.mkdir(parents=True)
    (busy / "cgroup.procs").write_text("42\n")  # rmdir fails, as on a cgroup with a process
    monkeypatch.setattr(rt, "_cgroup_roots", lambda: [tmp_path / "pids", tmp_path / "memory"])
    found = rt.clean_suite_cgroups()
    assert not (tmp_path / "pids" / "testdir").exists()
    assert busy.is_dir()
    assert "cgroup testdir/cgrouptest removed by harness from pids" in found
    assert any(line.startswith(f"cgroup still there: {busy}") for line in found)
