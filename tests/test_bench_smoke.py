"""Smoke test of the benchmark harness: it builds bundles and produces a table.

No timing assertions (CI machines vary); only that the pieces run and the
report carries numbers for whatever runtimes are installed.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench import bundle, cli, harness, proc, report, runtimes, seccomp_profile

REPO = Path(__file__).resolve().parent.parent

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="runtimes need root")


def _busybox_or_skip() -> None:
    try:
        bundle.find_busybox()
    except FileNotFoundError:
        pytest.skip("static busybox not installed")


def installed_runtimes() -> list[str]:
    names = [n for n in ("runc", "crun") if shutil.which(n)]
    if runtimes.ocirt_command():
        names.insert(0, "ocirt")
    return names


def test_seccomp_profile_is_default_sized() -> None:
    try:
        profile = seccomp_profile.default_like_profile()
    except FileNotFoundError:
        pytest.skip("no kernel UAPI headers")
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO"
    assert 250 <= seccomp_profile.rule_count(profile) <= 400
    assert "mount" not in profile["syscalls"][0]["names"]


@needs_root
def test_bundle_builder(tmp_path: Path) -> None:
    _busybox_or_skip()
    built = bundle.build_bundles(tmp_path)
    assert os.readlink(built.rootfs / "bin" / "true") == "/bin/busybox"
    for variant in (built.true, built.sleep, built.seccomp, built.mounts):
        assert (variant / "config.json").is_file()
    assert (built.rootfs / "mnt" / "t9").is_dir()


@needs_root
def test_quick_measurement_makes_a_table(tmp_path: Path) -> None:
    _busybox_or_skip()
    names = installed_runtimes()
    if not names:
        pytest.skip("no runtime installed")
    out = tmp_path / "performance.md"
    # In a child process: the harness makes itself a child subreaper and
    # reaps orphans, which must not leak into the pytest process.
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--runtimes", ",".join(names), "--quick",
         "--cases", "version,run", "--iterations", "1", "--references", "0",
         "--ocirt-from", "checkout", "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    assert "| run /bin/true |" in text
    assert re.search(r"\| --version \| \d+\.\d+ \|", text), text


class _Flaky(harness.Case):
    """Fails every third call of one runtime; the other never fails."""
    key, title = "flaky", "flaky"
    iterations = (6, 6)

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def metrics(self) -> list[harness.Metric]:
        return [harness.Metric("flaky", "flaky", "ms")]

    def sample(self, ctx: harness.Context, rt: runtimes.Runtime) -> dict[str, float]:
        if rt.name == "bad":
            self.calls += 1
            if self.calls % 3 == 0:
                raise proc.CmdError("transient")
        return {"flaky": 1.0}


def test_runner_keeps_samples_around_transient_failures(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # reap_orphans() waits for any child: not in the pytest process.
    monkeypatch.setattr(proc, "reap_orphans", lambda: 0)
    rts = [runtimes.Runtime("good", ("true",)), runtimes.Runtime("bad", ("true",))]
    ctx = harness.Context(rts, {}, {}, tmp_path, quick=True)
    results = harness.Results(["good", "bad"])
    harness.run_case(_Flaky(), ctx, results, log=lambda _msg: None)
    assert len(results.samples[("flaky", "good")]) == 6
    assert len(results.samples[("flaky", "bad")]) == 4  # 2 of 6 recorded calls failed
    assert "failed 2 time(s)" in results.errors[("flaky", "bad")]
    assert "transient" in report.render(results, [], [], "test")


def test_report_write_keeps_hand_written_text(tmp_path: Path) -> None:
    doc = tmp_path / "performance.md"
    block = f"{report.BEGIN}\nrun 1\n{report.END}\n"
    report.write(doc, block, "# Title\n")
    doc.write_text(doc.read_text() + "\n## Analysis by hand\n")
    report.write(doc, block.replace("run 1", "run 2"), "# Title\n")
    text = doc.read_text()
    assert "run 2" in text and "run 1" not in text
    assert text.startswith("# Title") and "## Analysis by hand" in text


def test_variant_of_the_first_runtime_gets_its_own_ratio_columns() -> None:
    results = harness.Results(["ocirt", "ocirt-distro", "runc"])
    results.declare(_Flaky())
    for rt, value in (("ocirt", 6.0), ("ocirt-distro", 4.0), ("runc", 2.0)):
        results.add(rt, {"flaky": value})
    text = report.render(results, [], [], "test")
    assert "| ocirt/ocirt-distro | ocirt/runc | ocirt-distro/runc | n |" in text
    assert "| 1.50× | 3.00× | 2.00× | 1 |" in text


def test_distro_variant_is_skipped_with_a_note_when_unavailable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtimes, "DISTRO_PYTHON", str(tmp_path / "no-python3"))
    notes: list[str] = []
    found = cli.resolve_runtimes([runtimes.DISTRO], notes, None, "checkout", tmp_path)
    assert found == []
    assert notes == [f"ocirt-distro: skipped: no {tmp_path / 'no-python3'}"]
