"""Class 7 of issue 8: property-based fuzzing of the config and CLI layers.

Whatever config.json or argv holds, ocirt must answer with an OcirtError
(one line for the user), never another exception (a traceback, or an
"internal error" line) and never a hang.  hypothesis mutates a corpus
(tests/fixtures/fuzz/, plus the valid schema fixtures) and feeds:

  * config.json bytes  -> config.load.read_json
  * JSON documents     -> validate.check_schema -> semantic.check -> model.convert
                          (the order load_bundle applies them)
  * argv lists         -> cli.parse.parse (and usage() of what it parsed)

Bounded for CI: 100 inputs per property (the same ones every run), ~10 s in
all on an idle 2-CPU machine, and a per-input alarm; each test prints how
many inputs it tried.  A longer run with fresh randomness:
OCIRT_FUZZ_EXAMPLES=20000 pytest tests/test_fuzz.py -s
"""
from __future__ import annotations

import contextlib
import copy
import json
import os
import signal
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, reject, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from testlib import ROOT_DIR  # noqa: E402  (puts the tree on sys.path)
from ocirt.cli import parse as cli_parse  # noqa: E402
from ocirt.cli.surface import COMMANDS, GLOBAL  # noqa: E402
from ocirt.config import load, semantic, validate  # noqa: E402
from ocirt.config.model import convert  # noqa: E402
from ocirt.errors import OcirtError  # noqa: E402

FUZZ_DIR = Path(__file__).resolve().parent / "fixtures" / "fuzz"
EXAMPLES = int(os.environ.get("OCIRT_FUZZ_EXAMPLES", "100"))
# CI runs the same inputs every time (a failure is a regression, not luck);
# an explicit OCIRT_FUZZ_EXAMPLES explores with fresh randomness.
EXPLORE = "OCIRT_FUZZ_EXAMPLES" in os.environ
HANG_SECONDS = 5
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=not EXPLORE,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


def _corpus_configs() -> list[dict]:
    files = sorted((FUZZ_DIR / "configs").glob("*.json"))
    files += sorted((ROOT_DIR / "tests" / "fixtures" / "configs" / "valid").glob("*.json"))
    return [json.loads(f.read_text()) for f in files]


CONFIGS = _corpus_configs()
ARGVS: list[list[str]] = json.loads((FUZZ_DIR / "argv.json").read_text())


class Hang(Exception):
    """An input took longer than HANG_SECONDS."""


@contextlib.contextmanager
def no_hang():
    def alarm(_sig, _frame):
        raise Hang(f"no answer within {HANG_SECONDS} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, HANG_SECONDS)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


class Counter:
    """Inputs tried by one property, printed at the end for the CI log."""

    def __init__(self, name: str) -> None:
        self.name, self.n = name, 0

    def report(self, capsys) -> None:
        with capsys.disabled():
            print(f"\nfuzz {self.name}: {self.n} inputs tried")


# --- strategies -------------------------------------------------------------
# Any code point, NUL and lone surrogates included (json.loads accepts "\udc80").
TEXT = st.text(st.characters(blacklist_categories=()), max_size=40)
PATHLIKE = st.sampled_from(["/", "", ".", "..", "/..", "/proc/self/fd/3", "rootfs", "/dev/null",
                            "../../etc", "/a/b/../../c", "a" * 300, "//x//", "~", "-b"])
NUMBER = st.one_of(st.integers(), st.sampled_from([0, -1, 1, 2**31 - 1, 2**31, 2**32, 2**63 - 1, 2**63,
                                                   2**64 - 1, 2**64, -2**63, -2**63 - 1]),
                   st.floats(allow_nan=False))
SCALAR = st.one_of(st.none(), st.booleans(), NUMBER, TEXT, PATHLIKE)
JSON = st.recursive(SCALAR, lambda kids: st.one_of(st.lists(kids, max_size=4),
                                                    st.dictionaries(st.one_of(TEXT, PATHLIKE), kids, max_size=4)),
                    max_leaves=12)


def _paths(node, prefix=()) -> list[tuple]:
    """Every path (tuple of keys/indexes) into a JSON tree."""
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, prefix + (i,))
    return out


def _mutate(doc: dict, draw) -> dict:
    """1-4 edits: replace a subtree, delete a key/item, or add a key."""
    doc = copy.deepcopy(doc)
    for _ in range(draw(st.integers(1, 4), label="edits")):
        path = draw(st.sampled_from(_paths(doc)), label="path")
        if not path:
            continue
        parent = doc
        for k in path[:-1]:
            parent = parent[k]
        op = draw(st.sampled_from(["replace", "delete", "add"]), label="op")
        if op == "replace":
            parent[path[-1]] = draw(JSON, label="value")
        elif op == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(TEXT, label="key")] = draw(JSON, label="value")
        else:
            parent.append(draw(JSON, label="value"))
    return doc


@st.composite
def configs(draw) -> dict:
    seed = draw(st.sampled_from(CONFIGS))
    return _mutate(seed, draw)


def run_pipeline(doc, bundle: str) -> None:
    """load_bundle's steps after read_json; only OcirtError may escape."""
    try:
        with no_hang():
            if not isinstance(doc, dict):
                raise load.ConfigError("config must be a JSON object")
            validate.check_schema(doc, "config.json")
            semantic.check(doc, "config.json")
            convert(doc, bundle)
    except OcirtError:
        pass


# --- properties -------------------------------------------------------------
@pytest.fixture(scope="module", autouse=True)
def _no_schema_cache():
    validate.set_cache_dir(None)


def fuzz(name: str, strategy, body, capsys) -> None:
    """Run body on SETTINGS' worth of inputs from strategy; print the count."""
    count = Counter(name)

    @SETTINGS
    @given(strategy)
    def prop(value):
        count.n += 1
        body(value)

    try:
        prop()
    finally:
        count.report(capsys)


def test_fuzz_config_documents(tmp_path, capsys):
    """Mutated corpus configs through schema, semantic checks and convert."""
    fuzz("config documents", configs(), lambda doc: run_pipeline(doc, str(tmp_path)), capsys)


def test_fuzz_config_arbitrary_json(tmp_path, capsys):
    """Any JSON value at all, including non-objects and odd top-level keys."""
    fuzz("arbitrary JSON", JSON, lambda doc: run_pipeline(doc, str(tmp_path)), capsys)


BYTE_EDITS = st.lists(st.tuples(st.integers(0, 10**6), st.binary(max_size=8), st.integers(0, 8)), max_size=6)


def test_fuzz_config_bytes(tmp_path, capsys):
    """config.json bytes: corpus files with bytes flipped, cut or inserted,
    through read_json (and the pipeline when they still parse)."""
    seeds = [json.dumps(c).encode() for c in CONFIGS]
    path = tmp_path / "config.json"

    def body(case) -> None:
        seed, edits = case
        data = bytearray(seed)
        for pos, new, cut in edits:
            pos %= len(data) + 1
            data[pos:pos + cut] = new
        path.write_bytes(bytes(data))
        try:
            with no_hang():
                doc = load.read_json(str(path))
        except OcirtError:
            return
        run_pipeline(doc, str(tmp_path))

    fuzz("config.json bytes", st.tuples(st.sampled_from(seeds), BYTE_EDITS), body, capsys)


FLAG_NAMES = sorted({n for f in GLOBAL for n in f[0]} | {n for c in COMMANDS.values() for f in c[2] for n in f[0]})
ARG = st.one_of(st.sampled_from(FLAG_NAMES), st.sampled_from(sorted(COMMANDS)),
                st.builds(lambda f, v: f"{f}={v}", st.sampled_from(FLAG_NAMES), TEXT),
                st.sampled_from(["--", "-", "=", "", "c1", "-1", "99999999999999999999", "true", "maybe"]),
                TEXT)


@st.composite
def argvs(draw) -> list[str]:
    if draw(st.booleans()):
        return draw(st.lists(ARG, max_size=10))
    argv = list(draw(st.sampled_from(ARGVS)))
    for _ in range(draw(st.integers(0, 3))):
        i = draw(st.integers(0, len(argv)))
        if argv and draw(st.booleans()):
            argv[min(i, len(argv) - 1)] = draw(ARG)
        else:
            argv.insert(i, draw(ARG))
    return argv


def _parse(argv: list[str]) -> None:
    try:
        with no_hang():
            parsed = cli_parse.parse(argv)
            cli_parse.usage(parsed.command)
    except OcirtError:
        pass


def test_fuzz_cli_arguments(capsys):
    """argv through the runc-compatible parser: flags in any order, with
    and without values, '=' forms, unknown names, '--'."""
    fuzz("CLI argv", argvs(), _parse, capsys)


def test_fuzz_corpus_seeds_are_accepted():
    """The corpus itself is valid (so mutations start from meaningful
    configs) and every argv seed parses or fails with an OcirtError."""
    for doc in CONFIGS:
        validate.check_schema(doc, "seed")
    for argv in ARGVS:
        _parse(argv)


# --- what the fuzzer found --------------------------------------------------
FOUND = [
    # unknown members the schema allows once reached code that iterated them
    pytest.param({"process": {"capabilities": {"bounding": [], "": True}}}, id="capabilities-extra-member"),
    pytest.param({"hooks": {"": 1}}, id="hooks-extra-member"),
]


@pytest.mark.parametrize("edit", FOUND)
def test_fuzz_found(edit, tmp_path):
    """Each falsifying example the fuzzer found, minimised, as a regression
    test on top of the default config."""
    from ocirt.spec_default import default_spec

    doc = default_spec()
    for key, value in edit.items():
        doc[key] = {**doc.get(key, {}), **value} if isinstance(value, dict) else value
    try:
        validate.check_schema(doc, "config.json")
        semantic.check(doc, "config.json")
        convert(doc, str(tmp_path))
    except OcirtError:
        pass
