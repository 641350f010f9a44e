"""A small TAP (Test Anything Protocol) parser for runtime-tools output.

runtime-tools' validation executables print TAP version 13 via
github.com/mndrix/tap-go: ``ok N - description``, ``not ok N - ...``,
``ok N # SKIP reason``, a ``1..N`` plan, and YAML diagnostic blocks
indented by two spaces between ``---`` and ``...``.  A diagnostic block
describes the test point printed just before it, except that
``RuntimeInsideValidate`` prints its block (the container's stdout and
stderr) *before* its ``ok`` line, so such a block goes to the next point.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

_POINT_RE = re.compile(r"^(not ok|ok)\b\s*(\d+)?\s*(?:-\s*)?(.*)$")
_PLAN_RE = re.compile(r"^1\.\.(\d+)(?:\s*#\s*(.*))?$")
_DIRECTIVE_RE = re.compile(r"\s*#\s*(SKIP|TODO)\b\s*(.*)$", re.IGNORECASE)


@dataclass
class TestPoint:
    """One ``ok``/``not ok`` line and its diagnostics."""

    number: int
    ok: bool
    description: str
    directive: str = ""  # "SKIP", "TODO" or ""
    reason: str = ""
    diagnostic: Any = None
    comments: list[str] = field(default_factory=list)  # "# ..." lines after it

    @property
    def outcome(self) -> str:
        """pass, fail, skip or todo (a failing TODO is not a failure)."""
        if self.directive == "SKIP":
            return "skip"
        if self.directive == "TODO":
            return "todo"
        return "pass" if self.ok else "fail"


@dataclass
class TapResult:
    """Everything parsed from one TAP stream."""

    points: list[TestPoint] = field(default_factory=list)
    planned: int | None = None
    plan_skip_reason: str = ""
    bail_out: str = ""
    comments: list[str] = field(default_factory=list)
    orphans: list[Any] = field(default_factory=list)  # blocks no point claimed
    extra_plans: list[int] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(1 for p in self.points if p.outcome == outcome)

    @property
    def plan_ok(self) -> bool:
        """True when the plan was printed and matches the points seen."""
        return self.planned is not None and self.planned == len(self.points)


def _parse_yaml_block(lines: list[str]) -> Any:
    """tap-go writes diagnostics as JSON inside the YAML block; keep raw text otherwise."""
    text = "\n".join(lines)
    try:
        return json.loads(text)
    except ValueError:
        return text


def _parse_point(line: str, fallback_number: int) -> TestPoint | None:
    m = _POINT_RE.match(line)
    if not m:
        return None
    status, number, rest = m.groups()
    directive, reason = "", ""
    d = _DIRECTIVE_RE.search(rest)
    if d:
        directive, reason = d.group(1).upper(), d.group(2).strip()
        rest = rest[: d.start()]
    return TestPoint(
        number=int(number) if number else fallback_number,
        ok=status == "ok",
        description=rest.strip(),
        directive=directive,
        reason=reason,
    )


_LEADING_KEYS = {"stdout", "stderr", "error"}


def _is_leading_block(block: Any) -> bool:
    """RuntimeInsideValidate's block (container stdout/stderr) precedes its point."""
    return isinstance(block, dict) and "stdout" in block and set(block) <= _LEADING_KEYS


def _attach(result: TapResult, pending: list[Any], block: Any) -> None:
    """Give a diagnostic block to the point it describes."""
    if result.points and not _is_leading_block(block) and result.points[-1].diagnostic is None:
        result.points[-1].diagnostic = block
    else:
        pending.append(block)


def parse_tap(text: str) -> TapResult:
    """Parse TAP text; tolerant of garbage lines (runtimes may print to stdout)."""
    result = TapResult()
    pending: list[Any] = []  # blocks printed before their point
    block: list[str] | None = None
    for raw in text.splitlines():
        if block is not None:
            if raw.strip() == "...":
                _attach(result, pending, _parse_yaml_block(block))
                block = None
            else:
                block.append(raw[2:] if raw.startswith("  ") else raw)
            continue
        line = raw.rstrip()
        if line.strip() == "---" and raw.startswith(" "):
            block = []
            continue
        if _handle_line(result, line, pending):
            continue
    if block is not None:  # truncated stream: keep what we have
        _attach(result, pending, _parse_yaml_block(block))
    result.orphans = pending
    return result


def _handle_line(result: TapResult, line: str, pending: list[Any]) -> bool:
    plan = _PLAN_RE.match(line)
    if plan:
        # tap-go's AutoPlan can print a second "1..0" after an explicit plan.
        if result.planned is None:
            result.planned = int(plan.group(1))
            result.plan_skip_reason = (plan.group(2) or "").strip()
        else:
            result.extra_plans.append(int(plan.group(1)))
        return True
    if line.startswith("Bail out!"):
        result.bail_out = line[len("Bail out!") :].strip()
        return True
    if line.startswith("#"):
        # runtime-tools prints "# expect: X, actual: Y" right after a point.
        target = result.points[-1].comments if result.points else result.comments
        target.append(line[1:].strip())
        return True
    point = _parse_point(line, len(result.points) + 1)
    if point is None:
        return False
    if pending:
        point.diagnostic = pending.pop(0)
    result.points.append(point)
    return True
