"""Tests for ocirt's own JSON Schemas (schema/config-schema.json, schema/state-schema.json).

Three layers:

* the schemas are valid, self-contained draft 2020-12 schemas;
* our fixture configs under tests/fixtures/configs/{valid,invalid} get the
  expected verdict, and for invalid ones the "best" error points at the
  expected place (that is what ``ocirt create`` prints to the user);
* when ``OCI_SPEC_DIR`` names a local copy of opencontainers/runtime-spec, a
  corpus of our fixtures, the spec's own test documents and many mutated
  variants is validated with both the official schema and ours, and the
  verdicts must agree except where a documented, deliberate divergence applies
  (see schema/README.md).
"""

from __future__ import annotations

import copy
import decimal
import json
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import referencing
import referencing.exceptions
from jsonschema.exceptions import best_match

REPO = Path(__file__).resolve().parents[2]
SCHEMA_DIR = REPO / "schema"
FIXTURES = REPO / "tests" / "fixtures" / "configs"
VALID = sorted((FIXTURES / "valid").glob("*.json"))
INVALID = sorted((FIXTURES / "invalid").glob("*.json"))


def _load(path: Path) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


CONFIG_SCHEMA = _load(SCHEMA_DIR / "config-schema.json")
STATE_SCHEMA = _load(SCHEMA_DIR / "state-schema.json")


def _validator(schema: dict) -> jsonschema.protocols.Validator:
    # Same construction as the runtime's loader.
    return jsonschema.validators.validator_for(schema)(schema)


CONFIG_V = _validator(CONFIG_SCHEMA)
STATE_V = _validator(STATE_SCHEMA)


def _walk(node: Any) -> Iterator[tuple[Any, Any]]:
    """Yield (key, value) for every object member in a JSON tree."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


# --------------------------------------------------------------------------
# The schemas themselves
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "schema", [CONFIG_SCHEMA, STATE_SCHEMA], ids=["config", "state"]
)
def test_schema_is_valid_2020_12(schema: dict) -> None:
    cls = jsonschema.validators.validator_for(schema)
    assert cls is jsonschema.Draft202012Validator
    cls.check_schema(schema)


@pytest.mark.parametrize(
    "schema", [CONFIG_SCHEMA, STATE_SCHEMA], ids=["config", "state"]
)
def test_schema_is_self_contained(schema: dict) -> None:
    refs = [v for k, v in _walk(schema) if k in ("$ref", "$dynamicRef")]
    for ref in refs:
        assert ref.startswith("#/$defs/"), f"non-local reference {ref!r}"
        target: Any = schema
        for part in ref[2:].split("/"):
            target = target[part]
        assert isinstance(target, dict)


def test_every_definition_is_used() -> None:
    used = {v.rsplit("/", 1)[1] for k, v in _walk(CONFIG_SCHEMA) if k == "$ref"}
    assert set(CONFIG_SCHEMA["$defs"]) - used == set()


def test_no_additional_properties_false() -> None:
    # The spec's schema accepts unknown members everywhere; so must we.
    assert all(
        not (k == "additionalProperties" and v is False)
        for k, v in _walk(CONFIG_SCHEMA)
    )


# --------------------------------------------------------------------------
# Our fixtures
# --------------------------------------------------------------------------


@pytest.mark.parametrize("path", VALID, ids=[p.stem for p in VALID])
def test_valid_fixture_accepted(path: Path) -> None:
    errors = [f"{e.json_path}: {e.message}" for e in CONFIG_V.iter_errors(_load(path))]
    assert errors == []


def _schema_member_paths(node: dict, prefix: tuple = ()) -> Iterator[tuple]:
    """Every member path the config schema describes ("*" for array items/map values)."""
    while "$ref" in node:
        target: Any = CONFIG_SCHEMA
        for part in node["$ref"][2:].split("/"):
            target = target[part]
        node = target
    for key, sub in node.get("properties", {}).items():
        yield (*prefix, key)
        yield from _schema_member_paths(sub, (*prefix, key))
    for keyword in ("additionalProperties", "items"):
        if isinstance(node.get(keyword), dict):
            yield from _schema_member_paths(node[keyword], (*prefix, "*"))


def _document_member_paths(node: Any, prefix: tuple = ()) -> Iterator[tuple]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*prefix, key)
            yield from _document_member_paths(value, (*prefix, key))
    elif isinstance(node, list):
        for item in node:
            yield from _document_member_paths(item, (*prefix, "*"))


def test_valid_fixtures_use_every_schema_member() -> None:
    # The conformance corpus is built by mutating these fixtures, so every member the
    # schema knows must occur in at least one of them.
    present = {p for path in VALID for p in _document_member_paths(_load(path))}

    def used(schema_path: tuple) -> bool:
        return any(
            len(doc_path) == len(schema_path)
            and all(s in ("*", d) for s, d in zip(schema_path, doc_path))
            for doc_path in present
        )

    missing = [".".join(p) for p in _schema_member_paths(CONFIG_SCHEMA) if not used(p)]
    assert missing == []


# fixture name -> (JSON path of the best error, failing keyword)
EXPECTED_ERROR = {
    "annotation-value-number": ("$.annotations['org.example.replicas']", "type"),
    "blkio-throttle-without-minor": (
        "$.linux.resources.blockIO.throttleReadBpsDevice[0]",
        "required",
    ),
    "blkio-weight-over-uint16": ("$.linux.resources.blockIO.weight", "maximum"),
    "capabilities-bounding-string": ("$.process.capabilities.bounding", "type"),
    "console-size-no-width": ("$.process.consoleSize", "required"),
    "cpu-cpus-list-array": ("$.linux.resources.cpu.cpus", "type"),
    "cpu-shares-negative": ("$.linux.resources.cpu.shares", "minimum"),
    "device-rule-without-allow": ("$.linux.resources.devices[0]", "required"),
    "device-unknown-type": ("$.linux.devices[0].type", "enum"),
    "device-without-path": ("$.linux.devices[0]", "required"),
    "domainname-null": ("$.domainname", "type"),
    "exec-affinity-words": ("$.process.execCPUAffinity.initial", "pattern"),
    "gidmap-without-container-id": ("$.linux.gidMappings[0]", "required"),
    "hook-list-as-object": ("$.hooks.prestart", "type"),
    "hook-timeout-zero": ("$.hooks.poststop[0].timeout", "minimum"),
    "hook-without-path": ("$.hooks.createRuntime[0]", "required"),
    "hostname-number": ("$.hostname", "type"),
    "hugepage-size-trailing-newline": (
        "$.linux.resources.hugepageLimits[0].pageSize",
        "not",
    ),
    "hugepage-size-no-unit": (
        "$.linux.resources.hugepageLimits[0].pageSize",
        "pattern",
    ),
    "intelrdt-membw-without-prefix": ("$.linux.intelRdt.memBwSchema", "pattern"),
    "ioprio-unknown-class": ("$.process.ioPriority.class", "enum"),
    "ioprio-without-class": ("$.process.ioPriority", "required"),
    "linux-as-array": ("$.linux", "type"),
    "masked-paths-string": ("$.linux.maskedPaths", "type"),
    "memory-limit-over-int64": ("$.linux.resources.memory.limit", "maximum"),
    "memory-policy-unknown-mode": ("$.linux.memoryPolicy.mode", "enum"),
    "memory-swappiness-bool": ("$.linux.resources.memory.swappiness", "type"),
    "mount-idmap-without-size": ("$.mounts[0].uidMappings[0]", "required"),
    "mount-options-string": ("$.mounts[0].options", "type"),
    "mount-without-destination": ("$.mounts[0]", "required"),
    "mounts-object": ("$.mounts", "type"),
    "namespace-unknown-type": ("$.linux.namespaces[0].type", "enum"),
    "namespace-without-type": ("$.linux.namespaces[0]", "required"),
    "namespaces-strings": ("$.linux.namespaces[1]", "type"),
    "net-priority-without-name": (
        "$.linux.resources.network.priorities[0]",
        "required",
    ),
    "netdevice-entry-string": ("$.linux.netDevices.eth1", "type"),
    "ociversion-missing": ("$", "required"),
    "ociversion-number": ("$.ociVersion", "type"),
    "oom-score-adj-string": ("$.process.oomScoreAdj", "type"),
    "personality-unknown-domain": ("$.linux.personality.domain", "enum"),
    "pids-without-limit": ("$.linux.resources.pids", "required"),
    "process-args-as-string": ("$.process.args", "type"),
    "process-env-number": ("$.process.env[1]", "type"),
    "process-terminal-int": ("$.process.terminal", "type"),
    "process-without-cwd": ("$.process", "required"),
    "rdma-handles-string": ("$.linux.resources.rdma.mlx5_0.hcaHandles", "type"),
    "rlimit-name-lowercase": ("$.process.rlimits[0].type", "pattern"),
    "rlimit-soft-negative": ("$.process.rlimits[0].soft", "minimum"),
    "rlimit-without-hard": ("$.process.rlimits[0]", "required"),
    "root-readonly-string": ("$.root.readonly", "type"),
    "root-without-path": ("$.root", "required"),
    "rootfs-propagation-rprivate": ("$.linux.rootfsPropagation", "enum"),
    "scheduler-nice-over-int32": ("$.process.scheduler.nice", "maximum"),
    "scheduler-unknown-flag": ("$.process.scheduler.flags[0]", "enum"),
    "scheduler-unknown-policy": ("$.process.scheduler.policy", "enum"),
    "scheduler-without-policy": ("$.process.scheduler", "required"),
    "seccomp-arg-without-value": ("$.linux.seccomp.syscalls[0].args[0]", "required"),
    "seccomp-errno-negative": ("$.linux.seccomp.syscalls[0].errnoRet", "minimum"),
    "seccomp-rule-empty-names": ("$.linux.seccomp.syscalls[0].names", "minItems"),
    "seccomp-rule-unknown-action": ("$.linux.seccomp.syscalls[0].action", "enum"),
    "seccomp-unknown-arch": ("$.linux.seccomp.architectures[0]", "enum"),
    "seccomp-unknown-default": ("$.linux.seccomp.defaultAction", "enum"),
    "seccomp-unknown-flag": ("$.linux.seccomp.flags[0]", "enum"),
    "seccomp-unknown-operator": ("$.linux.seccomp.syscalls[0].args[0].op", "enum"),
    "seccomp-without-default": ("$.linux.seccomp", "required"),
    "solaris-anet-not-list": ("$.solaris.anet", "type"),
    "sysctl-value-number": ("$.linux.sysctl['net.ipv4.ip_forward']", "type"),
    "timeoffset-nanosecs-negative": (
        "$.linux.timeOffsets.monotonic.nanosecs",
        "minimum",
    ),
    "top-level-array": ("$", "type"),
    "uidmap-host-negative": ("$.linux.uidMappings[0].hostID", "minimum"),
    "unified-value-number": ("$.linux.resources.unified['memory.high']", "type"),
    "user-additional-gids-string": ("$.process.user.additionalGids[0]", "type"),
    "user-gid-over-uint32": ("$.process.user.gid", "maximum"),
    "user-uid-fractional": ("$.process.user.uid", "type"),
    "user-uid-negative": ("$.process.user.uid", "minimum"),
    "vm-image-unknown-format": ("$.vm.image.format", "enum"),
    "vm-without-kernel": ("$.vm", "required"),
    "windows-without-layer-folders": ("$.windows", "required"),
    "zos-unknown-namespace": ("$.zos.namespaces[0].type", "enum"),
}


def test_enough_invalid_fixtures() -> None:
    assert len(INVALID) >= 25
    assert {p.stem for p in INVALID} == set(EXPECTED_ERROR)


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_invalid_fixture_rejected_at_expected_place(path: Path) -> None:
    error = best_match(CONFIG_V.iter_errors(_load(path)))
    assert error is not None, "fixture was accepted"
    assert (error.json_path, error.validator) == EXPECTED_ERROR[path.stem], (
        error.message
    )


@pytest.mark.parametrize("text", ["1000.0", "1e3", "1000.5"])
def test_integral_floats_rejected_when_parsed_as_decimal(text: str) -> None:
    # Draft 2020-12 treats 1000.0 as an integer; the spec's draft-04 schema (and Go's
    # encoding/json) do not. Parsing with parse_float=Decimal closes that gap.
    raw = '{"ociVersion": "1.2.0", "process": {"cwd": "/", "user": {"uid": UID}}}'.replace(
        "UID", text
    )
    error = best_match(
        CONFIG_V.iter_errors(json.loads(raw, parse_float=decimal.Decimal))
    )
    assert error is not None and (error.json_path, error.validator) == (
        "$.process.user.uid",
        "type",
    )
    assert CONFIG_V.is_valid(
        json.loads(raw.replace(text, "1000"), parse_float=decimal.Decimal)
    )


@pytest.mark.parametrize(
    "schema", [CONFIG_SCHEMA, STATE_SCHEMA], ids=["config", "state"]
)
def test_fast_validator_compiles_schema_and_agrees(schema: dict) -> None:
    # ocirt checks configs with code generated from this schema (ocirt.config.fastschema);
    # the schema must stay within what that compiler supports.
    fastschema = pytest.importorskip("ocirt.config.fastschema")
    namespace: dict[str, Any] = {}
    exec(compile(fastschema.compile_schema(schema), "<generated>", "exec"), namespace)  # noqa: S102
    reference = _validator(schema)
    if schema is CONFIG_SCHEMA:
        docs = [_load(p) for p in VALID + INVALID]
    else:
        docs = [doc for _, doc, _ in _state_variants()]
    assert [namespace["validate"](d) for d in docs] == [
        reference.is_valid(d) for d in docs
    ]


# --------------------------------------------------------------------------
# State document
# --------------------------------------------------------------------------

GOOD_STATE = {
    "ociVersion": "1.2.0",
    "id": "web-1",
    "status": "running",
    "pid": 4242,
    "bundle": "/run/bundles/web-1",
    "annotations": {"org.example.tier": "front"},
}


def _state_variants() -> list[tuple[str, Any, bool]]:
    cases: list[tuple[str, Any, bool]] = [("full", GOOD_STATE, True)]
    minimal = {k: GOOD_STATE[k] for k in ("ociVersion", "id", "status", "bundle")}
    cases.append(("no-pid-no-annotations", minimal, True))
    for status in ("creating", "created", "running", "stopped"):
        cases.append((f"status-{status}", dict(GOOD_STATE, status=status), True))
    cases.append(("extra-member", dict(GOOD_STATE, owner="ocirt"), True))
    cases.append(("pid-zero", dict(GOOD_STATE, pid=0), True))
    for key in ("ociVersion", "id", "status", "bundle"):
        cases.append(
            (f"missing-{key}", {k: v for k, v in GOOD_STATE.items() if k != key}, False)
        )
    cases += [
        ("status-paused", dict(GOOD_STATE, status="paused"), False),
        ("status-upper", dict(GOOD_STATE, status="Running"), False),
        ("pid-negative", dict(GOOD_STATE, pid=-1), False),
        ("pid-string", dict(GOOD_STATE, pid="4242"), False),
        ("id-number", dict(GOOD_STATE, id=7), False),
        ("bundle-null", dict(GOOD_STATE, bundle=None), False),
        ("annotation-number", dict(GOOD_STATE, annotations={"a": 1}), False),
        ("not-object", [GOOD_STATE], False),
    ]
    return cases


@pytest.mark.parametrize(
    "name,doc,ok", _state_variants(), ids=[c[0] for c in _state_variants()]
)
def test_state_schema(name: str, doc: Any, ok: bool) -> None:
    assert STATE_V.is_valid(doc) is ok


# --------------------------------------------------------------------------
# Conformance with the runtime-spec's own schema (needs OCI_SPEC_DIR)
# --------------------------------------------------------------------------


def _spec_schema_dir() -> Path:
    root = os.environ.get("OCI_SPEC_DIR")
    if not root:
        pytest.skip("OCI_SPEC_DIR not set (path to a runtime-spec checkout)")
    path = Path(root) / "schema"
    if not (path / "config-schema.json").is_file():
        pytest.skip(f"no schema/config-schema.json under OCI_SPEC_DIR={root}")
    return path


def _go_pattern(
    validator: jsonschema.protocols.Validator, pattern: str, instance: Any, schema: dict
) -> Iterator[jsonschema.ValidationError]:
    # The spec's schema is meant for ECMA-262 / Go (RE2) regexes, where a final '$'
    # matches only at the very end; Python's '$' also matches before a final "\n".
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    if validator.is_type(instance, "string") and not re.search(pattern, instance):
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


_OfficialValidator = jsonschema.validators.extend(
    jsonschema.Draft4Validator, {"pattern": _go_pattern}
)


def _official_validator(schema_dir: Path, name: str) -> jsonschema.protocols.Validator:
    """Draft-04 validator for the spec's multi-file schema, resolved offline."""
    from referencing.jsonschema import DRAFT4

    base = "file:///runtime-spec/schema/"
    resources = []
    for path in sorted(schema_dir.glob("*.json")):
        contents = _load(path)
        # Without "$schema", descending into a $ref keeps _OfficialValidator instead
        # of switching back to the stock Draft4Validator.
        contents.pop("$schema", None)
        resources.append(
            (
                base + path.name,
                referencing.Resource.from_contents(
                    contents, default_specification=DRAFT4
                ),
            )
        )
    registry = referencing.Registry().with_resources(resources)
    return _OfficialValidator({"$ref": base + name}, registry=registry)


# Integer edge values: int/uint 8..64 bounds, file mode and percent limits.
_INT_EDGES = sorted(
    {
        -1,
        0,
        1,
        100,
        101,
        127,
        128,
        255,
        256,
        511,
        512,
        513,
        65535,
        65536,
        2**31 - 1,
        2**31,
        -(2**31),
        -(2**31) - 1,
        2**32 - 1,
        2**32,
        2**63 - 1,
        2**63,
        -(2**63),
        -(2**63) - 1,
        2**64 - 1,
        2**64,
    }
)
_TYPE_SWAPS: list[Any] = [None, True, "7", 7, -7, 1.5, 3.0, [], {}]


def _enum_tokens(schema: Any) -> set[str]:
    return {t for k, v in _walk(schema) if k == "enum" for t in v if isinstance(t, str)}


def _string_edits(s: str, tokens: set[str]) -> list[Any]:
    edits = [
        "",
        "x",
        s.lower(),
        s.upper(),
        s + "X",
        s[:-1],
        s + "\n",
        "\n" + s,
        "0-3,7",
        "a-b",
        "MB:0=1",
        "2MB",
        "0KB",
        "RLIMIT_NOFILE",
        "RLIMIT_",
        "c",
        "b",
        "z",
    ]
    if "_" in s:
        family = s.rsplit("_", 1)[0] + "_"
        edits += sorted(t for t in tokens if t.startswith(family))
    elif s.islower() and s.isalpha():
        edits += sorted(t for t in tokens if t.islower())
    return edits


def _mutations(doc: Any, tokens: set[str]) -> Iterator[tuple[tuple, Any]]:
    """Yield (edited path, variant) for single-edit variants of doc:
    deletions, type swaps, integer edge values, string edits, extra members."""

    def paths(node: Any, prefix: tuple) -> Iterator[tuple[tuple, Any]]:
        yield prefix, node
        if isinstance(node, dict):
            for k, v in node.items():
                yield from paths(v, prefix + (k,))
        elif isinstance(node, list):
            # Items after the second rarely add anything new: keep the corpus small.
            for i, v in enumerate(node[:2]):
                yield from paths(v, prefix + (i,))

    def replaced(path: tuple, fn: Callable[[Any], Any]) -> tuple[tuple, Any]:
        new = copy.deepcopy(doc)
        if not path:
            return path, fn(new)
        parent = new
        for part in path[:-1]:
            parent = parent[part]
        result = fn(parent[path[-1]])
        if result is _DELETE:
            del parent[path[-1]]
        else:
            parent[path[-1]] = result
        return path, new

    for path, value in list(paths(doc, ())):
        if path:
            yield replaced(path, lambda _: _DELETE)
            for swap in _TYPE_SWAPS:
                yield replaced(path, lambda _, s=swap: copy.deepcopy(s))
        if isinstance(value, bool):
            continue
        if isinstance(value, int):
            for edge in _INT_EDGES:
                yield replaced(path, lambda _, e=edge: e)
            yield replaced(path, lambda v: float(v))
        elif isinstance(value, str):
            for edit in _string_edits(value, tokens):
                yield replaced(path, lambda _, e=edit: e)
        elif isinstance(value, dict):
            yield replaced(path, lambda v: dict(v, zzUnknown=1))
            yield replaced(path, lambda v: dict(v, zzUnknown={}))
            yield replaced(path, lambda v: dict(v, **{"": None}))
        elif isinstance(value, list):
            for extra in (None, "x", 1, {}, []):
                yield replaced(path, lambda v, e=extra: v + [e])
            if value:
                yield replaced(path, lambda v: v + [copy.deepcopy(v[0])])
                yield replaced(path, lambda v: v[1:])


_DELETE = object()

# Places where ocirt's schema intentionally differs from *some* runtime-spec
# release (ocirt follows v1.2.1 plus the Linux fields named in schema/README.md).
# Each entry: a probe document on which ours and the official schema disagree
# only if that release differs there, and the locations the difference covers.
_DIVERGENCES: list[tuple[str, dict, list[str]]] = [
    (
        "process.execCPUAffinity (schema since v1.2.1)",
        {"ociVersion": "1", "process": {"cwd": "/", "execCPUAffinity": 0}},
        ["process.execCPUAffinity"],
    ),
    (
        "windows.resources.cpu.affinity (schema since v1.2.1)",
        {
            "ociVersion": "1",
            "windows": {"layerFolders": ["l"], "resources": {"cpu": {"affinity": 0}}},
        },
        ["windows.resources.cpu.affinity"],
    ),
    (
        "zos.namespaces (schema since v1.2.1)",
        {"ociVersion": "1", "zos": {"namespaces": 0}},
        ["zos.namespaces"],
    ),
    (
        "zos.devices (schema in v1.2.0 only)",
        {"ociVersion": "1", "zos": {"devices": 0}},
        ["zos.devices"],
    ),
    (
        "seccomp architectures added in v1.2.1",
        {
            "ociVersion": "1",
            "linux": {
                "seccomp": {
                    "defaultAction": "SCMP_ACT_ALLOW",
                    "architectures": ["SCMP_ARCH_M68K"],
                }
            },
        },
        ["linux.seccomp.architectures"],
    ),
    (
        "linux.netDevices (schema since v1.3.0)",
        {"ociVersion": "1", "linux": {"netDevices": 0}},
        ["linux.netDevices"],
    ),
    (
        "linux.memoryPolicy (schema since v1.3.0)",
        {"ociVersion": "1", "linux": {"memoryPolicy": 0}},
        ["linux.memoryPolicy"],
    ),
    (
        "linux.intelRdt.schemata (schema since v1.3.0)",
        {"ociVersion": "1", "linux": {"intelRdt": {"schemata": 0}}},
        ["linux.intelRdt.schemata"],
    ),
    (
        "linux.intelRdt.enableMonitoring (schema since v1.3.0)",
        {"ociVersion": "1", "linux": {"intelRdt": {"enableMonitoring": 0}}},
        ["linux.intelRdt.enableMonitoring"],
    ),
    (
        "linux.intelRdt.enableCMT/enableMBM (dropped in v1.3.0)",
        {"ociVersion": "1", "linux": {"intelRdt": {"enableCMT": 0}}},
        ["linux.intelRdt.enableCMT", "linux.intelRdt.enableMBM"],
    ),
    (
        "device fileMode above 511 (any uint32, as runc: podman sends type bits)",
        {
            "ociVersion": "1",
            "linux": {"devices": [{"type": "c", "path": "/dev/x", "fileMode": 8630}]},
        },
        ["linux.devices.*.fileMode"],
    ),
    (
        "freebsd section (schema since v1.3.0)",
        {"ociVersion": "1", "freebsd": 0},
        ["freebsd"],
    ),
    (
        "vm.hwConfig (schema since v1.3.0)",
        {"ociVersion": "1", "vm": {"kernel": {"path": "k"}, "hwConfig": 0}},
        ["vm.hwConfig"],
    ),
]


def _location_matches(path: tuple, pattern: str) -> bool:
    parts = pattern.split(".")
    return len(path) >= len(parts) and all(
        p == "*" or p == str(x) for p, x in zip(parts, path)
    )


def _integral_float(error: jsonschema.ValidationError) -> bool:
    # Draft-04 "integer" excludes 3.0; draft 2020-12 has no way to tell 3.0 from 3.
    return (
        error.validator == "type"
        and isinstance(error.instance, float)
        and error.instance.is_integer()
    )


_FLOAT_LABEL = "integral float such as 3.0 (draft-04 'integer' excludes it)"


def _divergence_label(
    error: jsonschema.ValidationError, divergences: list[tuple[str, list[str]]]
) -> str | None:
    if _integral_float(error):
        return _FLOAT_LABEL
    for name, patterns in divergences:
        if any(_location_matches(tuple(error.absolute_path), p) for p in patterns):
            return name
    return None


def _compare(
    ours: jsonschema.protocols.Validator,
    official: jsonschema.protocols.Validator,
    corpus: list[Any],
    divergences: list[tuple[str, list[str]]],
) -> dict[str, Any]:
    stats: dict[str, Any] = {
        "documents": 0,
        "agree": 0,
        "accepted": 0,
        "rejected": 0,
        "known_divergence": 0,
        "by_divergence": {},
        "unexpected": [],
        "official_error": 0,
    }
    for doc in corpus:
        try:
            official_ok = official.is_valid(doc)
        except (
            referencing.exceptions.Unresolvable
        ):  # a broken $ref in the official schema
            stats["official_error"] += 1
            continue
        stats["documents"] += 1
        our_ok = ours.is_valid(doc)
        if official_ok == our_ok:
            stats["agree"] += 1
            stats["accepted" if our_ok else "rejected"] += 1
            continue
        our_errors = list(ours.iter_errors(doc))
        official_errors = list(official.iter_errors(doc))
        rejecting = our_errors or official_errors
        labels = {_divergence_label(e, divergences) for e in rejecting}
        if None not in labels:
            stats["known_divergence"] += 1
            label = " + ".join(sorted(labels))
            stats["by_divergence"][label] = stats["by_divergence"].get(label, 0) + 1
        else:
            side = "ours" if our_errors else "official"
            stats["unexpected"].append(
                (
                    side,
                    [f"{e.json_path}: {e.message}" for e in rejecting][:3],
                    json.dumps(doc)[:400],
                )
            )
    return stats


# Members whose siblings never constrain each other in either schema (no
# cross-member keywords, and no required member that is an object or array).
_INDEPENDENT_MEMBERS = {(), ("linux",), ("process",)}


def _focus(doc: Any, path: tuple) -> Any:
    """Drop object/array siblings of the edited path where they cannot affect the
    verdict, so that each variant is small and cheap to validate with both schemas."""
    if not isinstance(doc, dict):
        return doc
    out = dict(doc)
    node = out
    for depth, part in enumerate(path):
        if path[:depth] not in _INDEPENDENT_MEMBERS or not isinstance(node, dict):
            break
        for key in [
            k for k, v in node.items() if k != part and isinstance(v, (dict, list))
        ]:
            del node[key]
        if not isinstance(node.get(part), dict):
            break
        node[part] = dict(node[part])
        node = node[part]
    return out


def _corpus(seeds: list[Any], tokens: set[str]) -> list[Any]:
    seen: set[str] = set()
    out = []
    for seed in seeds:
        variants = (_focus(doc, path) for path, doc in _mutations(seed, tokens))
        for doc in [seed, *variants]:
            key = json.dumps(doc, sort_keys=True)
            if key not in seen:
                seen.add(key)
                out.append(doc)
    return out


def _report(title: str, stats: dict[str, Any]) -> None:
    print(
        f"\n{title}: {stats['documents']} documents, {stats['agree']} same verdict "
        f"({stats['accepted']} accepted, {stats['rejected']} rejected), "
        f"{stats['known_divergence']} known divergences, {len(stats['unexpected'])} unexpected, "
        f"{stats['official_error']} not evaluable by the official schema"
    )
    for label, count in sorted(stats["by_divergence"].items()):
        print(f"  {count:6d}  {label}")
    for side, errors, doc in stats["unexpected"][:20]:
        print(f"  UNEXPECTED ({side} rejects): {errors}\n    {doc}")


def test_config_verdicts_match_official_schema() -> None:
    spec_schema = _spec_schema_dir()
    official = _official_validator(spec_schema, "config-schema.json")
    active = [
        (name, patterns)
        for name, probe, patterns in _DIVERGENCES
        if official.is_valid(probe) != CONFIG_V.is_valid(probe)
    ]
    # Fixtures named v1.2-* exist to show release-specific leniencies; mutating them
    # would only multiply that one difference, so they are compared as they are.
    as_is = [p for p in VALID if p.stem.startswith("v1.2-")]
    seeds = [_load(p) for p in VALID if p not in as_is]
    extra = [_load(p) for p in INVALID + as_is]
    for p in sorted((spec_schema / "test" / "config").glob("*/*.json")):
        try:
            (seeds if p.parent.name == "good" else extra).append(_load(p))
        except ValueError:
            pass  # deliberately malformed JSON in the spec's tests
    tokens = _enum_tokens(CONFIG_SCHEMA) | _enum_tokens(
        _load(spec_schema / "defs-linux.json")
    )
    corpus = _corpus(seeds, tokens) + extra
    stats = _compare(CONFIG_V, official, corpus, active)
    _report("config.json vs official", stats)
    assert stats["documents"] > 1000
    assert stats["unexpected"] == []


def _official_member_paths(schema_dir: Path, name: str) -> set[tuple]:
    """Member paths described by the spec's multi-file schema (same form as ours)."""
    files = {p.name: _load(p) for p in schema_dir.glob("*.json")}

    def resolve(node: dict, current: str) -> tuple[dict, str]:
        while "$ref" in node:
            file_part, _, pointer = node["$ref"].partition("#")
            current = file_part or current
            node = files[current]
            for part in pointer.strip("/").split("/") if pointer.strip("/") else []:
                node = node[part]
        return node, current

    paths: set[tuple] = set()

    def walk(node: dict, current: str, prefix: tuple) -> None:
        node, current = resolve(node, current)
        for branch in node.get("allOf", []) + node.get("anyOf", []):
            walk(branch, current, prefix)
        for key, sub in node.get("properties", {}).items():
            paths.add((*prefix, key))
            walk(sub, current, (*prefix, key))
        for keyword in ("additionalProperties", "items"):
            if isinstance(node.get(keyword), dict):
                walk(node[keyword], current, (*prefix, "*"))

    walk(files[name], name, ())
    return paths


def test_config_members_match_official_schema() -> None:
    spec_schema = _spec_schema_dir()
    official = _official_validator(spec_schema, "config-schema.json")
    patterns = [
        p
        for _, probe, ps in _DIVERGENCES
        if official.is_valid(probe) != CONFIG_V.is_valid(probe)
        for p in ps
    ]
    theirs = _official_member_paths(spec_schema, "config-schema.json")
    ours = set(_schema_member_paths(CONFIG_SCHEMA))
    unexplained = sorted(
        ".".join(map(str, p))
        for p in theirs ^ ours
        if not any(_location_matches(p, pattern) for pattern in patterns)
    )
    print(
        f"\nmembers: official {len(theirs)}, ours {len(ours)}, common {len(theirs & ours)}"
    )
    assert unexplained == []


def test_state_verdicts_match_official_schema() -> None:
    spec_schema = _spec_schema_dir()
    if not (spec_schema / "state-schema.json").is_file():
        pytest.skip("no state-schema.json in OCI_SPEC_DIR")
    official = _official_validator(spec_schema, "state-schema.json")
    seeds = [doc for _, doc, _ in _state_variants()]
    for p in sorted((spec_schema / "test" / "state").glob("*/*.json")):
        try:
            seeds.append(_load(p))
        except ValueError:
            pass
    corpus = _corpus(seeds, {"creating", "created", "running", "stopped", "paused"})
    stats = _compare(STATE_V, official, corpus, [])
    _report("state vs official", stats)
    assert stats["unexpected"] == []
