"""Case protocol, sample store and the alternating runner.

Within one case, iteration i runs every runtime once, in an order rotated
by i, so slow drift of the machine (thermal, page cache, other load) hits
all runtimes alike instead of biasing whichever ran last.
"""
from __future__ import annotations

import itertools
import os
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from bench import proc
from bench.bundle import Bundles
from bench.runtimes import Runtime


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    unit: str  # "ms" or "MiB"


@dataclass
class Context:
    runtimes: list[Runtime]
    bundles: dict[str, Bundles]
    env: dict[str, str]
    workdir: Path
    quick: bool
    _ids: itertools.count = field(default_factory=itertools.count)

    def new_id(self, rt: Runtime) -> str:
        # Short ids: some runtimes derive socket paths from them.
        return f"b{os.getpid() % 100000}-{rt.name[:2]}{next(self._ids)}"

    def run(self, rt: Runtime, *args: str, timeout_s: float = proc.DEFAULT_TIMEOUT_S
            ) -> proc.Result:
        """A state-touching runtime call that must succeed."""
        return proc.run(rt.argv(*args), env=self.env, timeout_s=timeout_s).check()

    def try_run(self, rt: Runtime, *args: str) -> proc.Result:
        """Best-effort cleanup call: never raises."""
        return proc.run(rt.argv(*args), env=self.env, timeout_s=30)


class Case:
    """One benchmark; subclasses fill in metrics() and sample()."""
    key = ""
    title = ""
    iterations = (5, 20)  # (quick, full)
    warmup = 1
    budget_s = (15.0, 90.0)  # stop iterating past this (quick, full)

    def metrics(self) -> list[Metric]:
        raise NotImplementedError

    def __init__(self) -> None:
        self.notes: list[str] = []  # copied into the report's notes

    def setup(self, ctx: Context, rt: Runtime) -> None:
        """Untimed preparation, once per runtime."""

    def after_setup(self, ctx: Context, live: list[Runtime]) -> None:
        """Untimed, once all runtimes are set up (e.g. to even them out)."""

    def sample(self, ctx: Context, rt: Runtime) -> dict[str, float]:
        raise NotImplementedError

    def teardown(self, ctx: Context, rt: Runtime) -> None:
        """Untimed cleanup, once per runtime; must not raise."""


def percentile(values: list[float], pct: float) -> float:
    """Linear-interpolated percentile (same as numpy's default)."""
    ordered = sorted(values)
    pos = (len(ordered) - 1) * pct / 100
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


# A runtime that fails this often in one case is dropped from it; fewer
# failures are transient (and reported), not a reason to lose the case.
MAX_FAILURES = 3


class Results:
    def __init__(self, runtimes: list[str]) -> None:
        self.runtimes = runtimes
        self.metrics: dict[str, Metric] = {}
        self.samples: dict[tuple[str, str], list[float]] = defaultdict(list)
        self.errors: dict[tuple[str, str], str] = {}  # (case key, runtime)
        self.case_of: dict[str, str] = {}  # metric key -> case key
        self.notes: list[str] = []

    def declare(self, case: Case) -> None:
        for metric in case.metrics():
            self.metrics[metric.key] = metric
            self.case_of[metric.key] = case.key

    def add(self, rt: str, values: dict[str, float]) -> None:
        for key, value in values.items():
            self.samples[(key, rt)].append(value)

    def stats(self, key: str, rt: str) -> tuple[float, float, int] | None:
        """(median, p90, n) or None when there is no sample."""
        values = self.samples.get((key, rt))
        if not values:
            return None
        return statistics.median(values), percentile(values, 90), len(values)

    def error(self, key: str, rt: str) -> str | None:
        return self.errors.get((self.case_of.get(key, ""), rt))


def _iterations(case: Case, quick: bool, override: int | None) -> int:
    if override is not None:
        return override
    return case.iterations[0] if quick else case.iterations[1]


def _safe(fn, *args) -> str | None:
    """Run fn, turning any failure into an error string."""
    try:
        fn(*args)
        return None
    except Exception as exc:  # a failing runtime must not stop the bench
        return f"{type(exc).__name__}: {exc}" if not isinstance(exc, proc.CmdError) else str(exc)


def run_case(case: Case, ctx: Context, results: Results,
             iterations: int | None = None, log=print) -> None:
    live = []
    for rt in ctx.runtimes:
        err = _safe(case.setup, ctx, rt)
        if err:
            results.errors[(case.key, rt.name)] = f"setup: {err}"
        else:
            live.append(rt)
    _safe(case.after_setup, ctx, live)
    results.declare(case)  # after setup: a case may size its rows by what it made
    n = _iterations(case, ctx.quick, iterations)
    warmup = 0 if iterations is not None else case.warmup
    done = _alternate(case, ctx, results, live, n, warmup)
    for rt in ctx.runtimes:
        _safe(case.teardown, ctx, rt)
    proc.reap_orphans()
    results.notes += [f"{case.title}: {note}" for note in case.notes]
    log(f"  {case.title}: {done} iterations")


def _record_failure(case: Case, results: Results, rt: Runtime, err: str,
                    failures: dict[str, list[str]], tried: int) -> None:
    """Report the first error, with how often the runtime failed so far."""
    seen = failures.setdefault(rt.name, [])
    seen.append(err)
    results.errors[(case.key, rt.name)] = (f"failed {len(seen)} time(s) in {tried} tries, "
                                           f"first: {seen[0]}")


def _try_sample(case: Case, ctx: Context, rt: Runtime) -> tuple[dict[str, float], str | None]:
    values: dict[str, float] = {}
    err = _safe(lambda: values.update(case.sample(ctx, rt)))
    return values, err


def _alternate(case: Case, ctx: Context, results: Results, live: list[Runtime],
               n: int, warmup: int) -> int:
    """Run the iterations; returns how many were recorded."""
    budget = case.budget_s[0] if ctx.quick else case.budget_s[1]
    started = time.monotonic()
    failures: dict[str, list[str]] = {}
    for i in range(warmup + n):
        order = live[i % len(live):] + live[:i % len(live)] if live else []
        for rt in order:
            values, err = _try_sample(case, ctx, rt)
            proc.reap_orphans()
            if err:
                _record_failure(case, results, rt, err, failures, i + 1)
                if len(failures[rt.name]) >= MAX_FAILURES:
                    live.remove(rt)
            elif i >= warmup:
                results.add(rt.name, values)
        over_budget = time.monotonic() - started > budget
        if over_budget and i >= warmup + min(3, n) - 1:
            results.notes.append(f"{case.title}: stopped after {i + 1 - warmup} "
                                 f"iterations (time budget {budget:.0f} s)")
            return i + 1 - warmup
    return n
