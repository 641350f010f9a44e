"""config.md: ociVersion is SemVer 2.0.0, annotations are a map of non-empty
string keys to string values whose unknown keys are ignored, and unknown
properties anywhere are ignored (Extensibility)."""
from __future__ import annotations

import os

import pytest

from testlib import STATE_ROOT, one_line_error




def create(ocirt, bundle):
    cid = ocirt.new_id()
    r = ocirt("create", "-b", str(bundle.path), cid)
    assert r.returncode == 0 or not os.path.exists(os.path.join(STATE_ROOT, cid))
    return r


@pytest.mark.parametrize("version", ["1.0", "1", "v1.0.0", "1.0.0.0", "01.0.0", "1.0.0-", "1.0.0\n", "banana", ""])
def test_oci_version_not_semver_rejected(ocirt, bundle, version):
    bundle.config["ociVersion"] = version
    bundle.write()
    one_line_error(create(ocirt, bundle), "ociVersion", "SemVer")


@pytest.mark.parametrize("version", ["1.0.0", "1.0.2-dev", "1.2.0-rc.1+build.5", "1.9.0"])
def test_oci_version_semver_accepted(ocirt, bundle, version):
    bundle.config["ociVersion"] = version
    r = ocirt.run(bundle.sh("echo ran"))
    assert r.returncode == 0 and r.stdout.strip() == "ran", r


def test_annotations_unknown_keys_ignored_and_kept(ocirt, bundle):
    """Any key the runtime does not know is ignored, like an unknown property;
    the state reports the annotations as given."""
    annotations = {"com.example.unknown": "x", "org.opencontainers.image.os": "linux",
                   "no-dots/and:odd chars": "", "io.kubernetes.cri.container-type": "sandbox"}
    bundle.config["annotations"] = annotations
    bundle.args("sleep", "30")
    cid = ocirt.new_id()
    r = ocirt("create", "-b", str(bundle.path), cid)
    assert r.returncode == 0 and not r.stderr, r
    assert ocirt.state(cid)["annotations"] == annotations
    assert ocirt("delete", "-f", cid).returncode == 0


BAD_ANNOTATIONS = {
    "empty key": ({"": "x"}, ['annotations[""]', "empty"]),
    "number value": ({"com.example.n": 1}, ["annotations", "com.example.n"]),
    "object value": ({"com.example.o": {"a": "b"}}, ["annotations", "com.example.o"]),
    "not a map": (["a=b"], ["annotations"]),
}


@pytest.mark.parametrize("case", list(BAD_ANNOTATIONS))
def test_annotations_shape(ocirt, bundle, case):
    value, words = BAD_ANNOTATIONS[case]
    bundle.config["annotations"] = value
    bundle.write()
    one_line_error(create(ocirt, bundle), *words)


def test_unknown_properties_ignored(ocirt, bundle):
    """Unknown members at every level (top, root, process, user, mounts,
    linux, resources, hooks) neither fail create nor change what runs."""
    cfg = bundle.config
    cfg["org.example.future"] = {"nested": [1, 2, {"deep": True}]}
    cfg["root"]["futureRoot"] = 1
    cfg["process"]["futureProcess"] = "x"
    cfg["process"]["user"]["futureUser"] = []
    cfg["mounts"].append({"destination": "/t", "type": "tmpfs", "source": "tmpfs", "futureMount": {"a": 1}})
    cfg["linux"]["futureLinux"] = {"x": "y"}
    cfg["linux"]["resources"]["futureResource"] = {"limit": 5}
    cfg["linux"]["namespaces"][0]["futureNs"] = True
    cfg["hooks"] = {"futureStage": [{"path": "/bin/false"}],
                    "poststart": [{"path": "/bin/true", "futureHook": 1}]}
    r = ocirt.run(bundle.sh("grep -c ' /t ' /proc/self/mountinfo; echo ran"))
    assert r.returncode == 0, r
    assert r.stdout.split() == ["1", "ran"]
    assert "Traceback" not in r.stderr
