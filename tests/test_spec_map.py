"""The spec-coverage map (conformance/spec-map/) stays consistent with tests/.

Needs no runtime and no runtime-tools: it only reads the map and parses the
referenced test files with ast.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # pytest puts tests/ on sys.path, not the repo root
    sys.path.insert(0, str(REPO))

from conformance import spec_map  # noqa: E402


@pytest.fixture(scope="module")
def doc() -> dict:
    return spec_map.load()


def test_map_parses_and_has_requirements(doc: dict) -> None:
    assert doc["meta"]["spec"] == "opencontainers/runtime-spec"
    assert len(doc["req"]) >= 100


def test_ids_unique(doc: dict) -> None:
    counts = Counter(r["id"] for r in doc["req"])
    assert [i for i, n in counts.items() if n > 1] == []


def test_entries_well_formed(doc: dict) -> None:
    for req in doc["req"]:
        for key in spec_map.REQUIRED_FIELDS:
            assert key in req, f"{req.get('id')}: no {key}"
        assert req["status"] in spec_map.STATUSES, req["id"]
        assert req["level"] in spec_map.LEVELS, req["id"]
        assert req["file"] in spec_map.SPEC_FILES, req["id"]
        assert req["text"].strip(), req["id"]


def test_status_matches_tests(doc: dict) -> None:
    for req in doc["req"]:
        if req["status"] in ("missing", "n/a"):
            assert req["tests"] == [], req["id"]
        elif req["status"] in ("covered", "partial"):
            assert req["tests"], f"{req['id']} is {req['status']} but lists no test"
        else:
            assert req.get("note"), f"{req['id']} is {req['status']} but says not why"


def test_referenced_tests_exist(doc: dict) -> None:
    problems = [why for req in doc["req"] for ref in req["tests"]
                if (why := spec_map.check_test_ref(ref))]
    assert problems == []


def test_validate_reports_nothing(doc: dict) -> None:
    assert spec_map.validate(doc) == []


def test_validate_catches_bad_refs(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_a.py").write_text("def test_real():\n    pass\n")
    base = {"level": "MUST", "file": "runtime.md", "section": "s", "text": "t"}
    doc = {"req": [
        dict(base, id="a", status="covered", tests=["tests/test_a.py::test_real"]),
        dict(base, id="a", status="covered", tests=["tests/test_a.py::test_gone"]),
        dict(base, id="b", status="partial", tests=[]),
        dict(base, id="c", status="covered", tests=["tests/test_nofile.py::test_x"]),
    ]}
    problems = spec_map.validate(doc, repo=tmp_path)
    assert any("duplicate id a" in p for p in problems)
    assert any("test_gone" in p for p in problems)
    assert any(p.startswith("b:") for p in problems)
    assert any("no file tests/test_nofile.py" in p for p in problems)


def test_print_coverage(doc: dict, capsys: pytest.CaptureFixture[str]) -> None:
    text = spec_map.format_coverage(spec_map.coverage(doc))
    with capsys.disabled():
        print("\nspec-map coverage:\n" + text)
    assert text.splitlines()[-1].startswith("all")


def test_runtime_tools_names_are_real(doc: dict) -> None:
    unknown = {n for req in doc["req"] for n in req.get("runtime_tools", [])} - spec_map.RUNTIME_TOOLS
    assert unknown == set()


def test_suite_evidence_flags_failing_executables(doc: dict, tmp_path: Path) -> None:
    import json

    results = tmp_path / "r.json"
    results.write_text(json.dumps({"tests": [{"name": "hooks_stdin", "status": "fail"}]}))
    lines = spec_map.suite_evidence(doc, results)
    assert any(line.startswith("config.hooks.state-on-stdin") and "hooks_stdin=fail" in line for line in lines)
