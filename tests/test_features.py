"""`ocirt features` against runtime-spec features.md and features-linux.md:
the document's shape and version bounds, nothing beyond the spec version it
claims, unknown kept apart from empty, and every hook, mount option,
namespace, capability and seccomp name it lists really works in a container
(each checked from inside)."""
from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from testlib import OCIRT, run_ocirt

SEMVER = re.compile(r"^(\d+)\.(\d+)\.(\d+)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")

# The properties each spec release defines (features.md, features-linux.md):
# a dict is an object with these members, None a leaf (string, bool, list, map).
_V1_2 = {
    "ociVersionMin": None, "ociVersionMax": None, "hooks": None, "mountOptions": None,
    "annotations": None, "potentiallyUnsafeConfigAnnotations": None,
    "linux": {
        "namespaces": None, "capabilities": None,
        "cgroup": {"v1": None, "v2": None, "systemd": None, "systemdUser": None, "rdma": None},
        "seccomp": {"enabled": None, "actions": None, "operators": None, "archs": None,
                    "knownFlags": None, "supportedFlags": None},
        "apparmor": {"enabled": None}, "selinux": {"enabled": None}, "intelRdt": {"enabled": None},
        "mountExtensions": {"idmap": {"enabled": None}},
    },
}
_V1_3 = {**_V1_2, "linux": {**_V1_2["linux"], "netDevices": {"enabled": None},
                              "memoryPolicy": {"modes": None, "flags": None}}}
DEFINED = {"1.2.0": _V1_2, "1.2.1": _V1_2, "1.3.0": _V1_3}
HOOKS = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")


@pytest.fixture(scope="module")
def doc() -> dict:
    r = run_ocirt("features")
    assert r.returncode == 0 and r.stderr == "", r
    return json.loads(r.stdout)


def version(text: str) -> tuple[int, int, int]:
    m = SEMVER.match(text)
    assert m, f"{text!r} is not a semantic version"
    return int(m[1]), int(m[2]), int(m[3])


def undefined_members(value, defined, where: str = "") -> list[str]:
    """Members of value that the spec release's tree does not define."""
    if not isinstance(defined, dict):
        return []
    extra = []
    for key, sub in value.items():
        path = f"{where}.{key}" if where else key
        if key not in defined:
            extra.append(path)
        elif isinstance(sub, dict):
            extra += undefined_members(sub, defined[key], path)
    return extra


def leaves(value, where: str = ""):
    """(json path, value) of every member, depth first."""
    if isinstance(value, dict):
        if not value:
            yield where, value
        for key, sub in value.items():
            yield from leaves(sub, f"{where}.{key}" if where else key)
    else:
        yield where, value


# --- the document itself -------------------------------------------------------

def test_version_bounds(doc):
    assert version(doc["ociVersionMin"]) <= version(doc["ociVersionMax"])
    assert version(doc["ociVersionMax"])[0] == 1


def test_no_properties_beyond_the_claimed_spec_version(doc):
    assert doc["ociVersionMax"] in DEFINED, f"this test does not know spec {doc['ociVersionMax']}"
    assert undefined_members(doc, DEFINED[doc["ociVersionMax"]]) == []


def test_unknown_is_never_written_as_empty(doc):
    """features.md: null (unknown) is not an empty value.  ocirt omits what it
    does not report, never writes null, and writes no empty list or object:
    each would claim "supports none of these", which is false for ocirt.
    supportedFlags alone may be empty (a kernel without seccomp flags)."""
    for path, value in leaves(doc):
        assert value is not None, f"{path} is null"
        if path != "linux.seccomp.supportedFlags":
            assert value not in ([], {}, ""), f"{path} is empty"


def test_types_follow_the_spec(doc):
    for key in ("hooks", "mountOptions", "potentiallyUnsafeConfigAnnotations"):
        if key in doc:
            assert isinstance(doc[key], list) and all(isinstance(x, str) for x in doc[key]), key
            assert len(set(doc[key])) == len(doc[key]), f"{key} repeats a name"
    for path, value in leaves(doc.get("linux", {}), "linux"):
        if path.rsplit(".", 1)[-1] in ("enabled", "v1", "v2", "systemd", "systemdUser", "rdma"):
            assert isinstance(value, bool), path
        else:
            assert isinstance(value, list) and all(isinstance(x, str) for x in value), path


def test_annotations_follow_the_config_annotation_rules(doc):
    """Keys non-empty strings in reverse-domain notation, values strings; the
    version annotation tells the truth."""
    annotations = doc["annotations"]
    assert isinstance(annotations, dict) and annotations
    for key, value in annotations.items():
        assert isinstance(key, str) and re.fullmatch(r"[a-z0-9-]+(\.[A-Za-z0-9_-]+)+", key), key
        assert isinstance(value, str), key
        assert not key.startswith("org.opencontainers."), f"{key}: reserved for the spec"
    reported = run_ocirt("--version").stdout.splitlines()[0].removeprefix("ocirt version ")
    assert annotations["io.github.ocirt.version"] == reported


def test_hooks_are_the_spec_hooks(doc):
    assert set(doc["hooks"]) <= set(HOOKS)
    assert "prestart" in doc["hooks"]  # deprecated, still REQUIRED to run


# --- what the document lists really works --------------------------------------

@pytest.mark.parametrize("bound", ["ociVersionMin", "ociVersionMax"])
def test_configs_at_the_version_bounds_run(doc, ocirt, bundle, bound):
    bundle.config["ociVersion"] = doc[bound]
    r = ocirt.run(bundle.sh("echo ran"))
    assert r.returncode == 0 and r.stdout == "ran\n", r


def test_every_listed_hook_runs(doc, ocirt, bundle, tmp_path):
    """One container with one hook of each listed kind: each records itself
    (startContainer runs inside the container, so it writes into the rootfs)."""
    log = tmp_path / "hooks.log"
    hooks = {}
    for stage in doc["hooks"]:
        if stage == "startContainer":
            hooks[stage] = [{"path": "/bin/sh", "args": ["sh", "-c", "echo startContainer > /tmp/start-hook"]}]
        else:
            hooks[stage] = [{"path": "/bin/sh", "args": ["sh", "-c", f"echo {stage} >> {log}"]}]
    bundle.config["hooks"] = hooks
    r = ocirt.run(bundle.sh("echo ran"))
    assert r.returncode == 0 and r.stdout == "ran\n", r
    ran = log.read_text().split()
    if "startContainer" in doc["hooks"]:
        ran.append((bundle.rootfs / "tmp" / "start-hook").read_text().strip())
    assert sorted(ran) == sorted(doc["hooks"])


# How each option shows in /proc/self/mountinfo: (must appear, must not appear)
# among the mount options, super options and optional fields of its mount.
# Options with no visible trace only have to be accepted (bind and rbind show
# as the bound directory's content, tmpcopyup as the image's).
NO_TRACE = {"defaults", "silent", "loud", "mand", "nomand",  # mand: ignored since Linux 5.15
            "iversion", "noiversion", "norelatime", "nostrictatime", "bind", "rbind", "tmpcopyup"}
NOATIME = ({"noatime"}, {"relatime"})
RELATIME = ({"relatime"}, {"noatime"})
STRICTATIME = (set(), {"noatime", "relatime"})
SHOWS: dict[str, tuple[set[str], set[str]]] = {
    "ro": ({"ro"}, set()), "rw": ({"rw"}, {"ro"}), "rro": ({"ro"}, set()), "rrw": ({"rw"}, {"ro"}),
    "remount": ({"ro"}, set()),
    "nosuid": ({"nosuid"}, set()), "suid": (set(), {"nosuid"}),
    "nodev": ({"nodev"}, set()), "dev": (set(), {"nodev"}),
    "noexec": ({"noexec"}, set()), "exec": (set(), {"noexec"}),
    "noatime": NOATIME, "atime": (set(), {"noatime"}), "relatime": RELATIME, "strictatime": STRICTATIME,
    "nodiratime": ({"nodiratime"}, set()), "diratime": (set(), {"nodiratime"}),
    "nosymfollow": ({"nosymfollow"}, set()), "symfollow": (set(), {"nosymfollow"}),
    "sync": ({"sync"}, set()), "async": (set(), {"sync"}),
    "dirsync": ({"dirsync"}, set()),
    "lazytime": ({"lazytime"}, set()), "nolazytime": (set(), {"lazytime"}),
    "shared": ({"shared"}, set()), "rshared": ({"shared"}, set()),
    "private": (set(), {"shared", "master", "unbindable"}),
    "rprivate": (set(), {"shared", "master", "unbindable"}),
    "slave": (set(), {"shared"}), "rslave": (set(), {"shared"}),
    "unbindable": ({"unbindable"}, set()), "runbindable": ({"unbindable"}, set()),
    "idmap": ({"idmapped"}, set()), "ridmap": ({"idmapped"}, set()),
    # the recursive (mount_setattr) forms
    "rnosuid": ({"nosuid"}, set()), "rsuid": (set(), {"nosuid"}),
    "rnodev": ({"nodev"}, set()), "rdev": (set(), {"nodev"}),
    "rnoexec": ({"noexec"}, set()), "rexec": (set(), {"noexec"}),
    "rnodiratime": ({"nodiratime"}, set()), "rdiratime": (set(), {"nodiratime"}),
    "rnosymfollow": ({"nosymfollow"}, set()), "rsymfollow": (set(), {"nosymfollow"}),
    "rnoatime": NOATIME, "ratime": (set(), {"noatime"}), "rrelatime": RELATIME,
    "rnorelatime": STRICTATIME, "rstrictatime": STRICTATIME, "rnostrictatime": (set(), {"noatime"}),
}
ID_MAP = [{"containerID": 0, "hostID": 100000, "size": 65536}]


def mounts_for(option: str, dest: str, src: str) -> list[dict]:
    """The config.json mounts that try one option at dest: a tmpfs (a fresh
    superblock shows every flag), or a bind of src for the bind options and
    the idmap ones (which need mappings), or for remount a tmpfs then its
    remount (remount changes an existing mount)."""
    tmpfs = {"destination": dest, "type": "tmpfs", "source": "tmpfs"}
    bind = {"destination": dest, "type": "bind", "source": src}
    if option in ("bind", "rbind"):
        return [{**bind, "options": [option]}]
    if option in ("idmap", "ridmap"):
        return [{**bind, "options": ["rbind", option], "uidMappings": ID_MAP, "gidMappings": ID_MAP}]
    if option == "remount":
        return [{**tmpfs, "options": []}, {**tmpfs, "options": ["remount", "ro"]}]
    return [{**tmpfs, "options": [option]}]


def shown(line: str) -> set[str]:
    """Mount options, optional fields (as their names) and super options."""
    pre, post = line.split(" - ", 1)
    fields = pre.split()
    optional = {f.split(":")[0] for f in fields[6:]}
    return set(fields[5].split(",")) | optional | set(post.split()[2].split(","))


def test_every_listed_mount_option_is_applied(doc, ocirt, bundle, tmp_path):
    src = tmp_path / "bind-src"
    src.mkdir()
    (src / "probe").write_text("bound\n")
    options = doc["mountOptions"]
    assert set(options) - set(SHOWS) - NO_TRACE == set(), "teach this test how the new option shows"
    for i, opt in enumerate(options):
        bundle.config["mounts"] += mounts_for(opt, f"/mnt/opt{i}", str(src))
        if opt == "tmpcopyup":  # the tmpfs shows what the image has there
            (bundle.rootfs / "mnt" / f"opt{i}").mkdir()
            (bundle.rootfs / "mnt" / f"opt{i}" / "probe").write_text("copied\n")
    r = ocirt.run(bundle.sh("cat /proc/self/mountinfo; cat /mnt/opt*/probe"))
    assert r.returncode == 0, r
    by_target = {line.split()[4]: line for line in r.stdout.splitlines() if " - " in line}
    for i, opt in enumerate(options):
        line = by_target.get(f"/mnt/opt{i}")
        assert line, f"{opt}: /mnt/opt{i} is not mounted"
        must, must_not = SHOWS.get(opt, (set(), set()))
        seen = shown(line)
        assert must <= seen and not (must_not & seen), (opt, line)
    binds = sum(m["type"] == "bind" for m in bundle.config["mounts"] if m["destination"].startswith("/mnt/opt"))
    assert r.stdout.count("bound\n") == binds
    assert r.stdout.count("copied\n") == options.count("tmpcopyup")


def test_unlisted_option_is_not_taken_for_a_flag(ocirt, bundle):
    """The other side of "recognized": anything else goes to the filesystem
    as data, which tmpfs refuses — the container fails to create."""
    bundle.config["mounts"].append({"destination": "/mnt/x", "type": "tmpfs", "source": "tmpfs",
                                    "options": ["nosuchoption"]})
    r = ocirt.run(bundle.sh("true"))
    assert r.returncode != 0 and "/mnt/x" in r.stderr and "Traceback" not in r.stderr, r


def test_features_touches_no_state(tmp_path):
    """The document needs no container and no state root."""
    here = run_ocirt("features").stdout
    elsewhere = run_ocirt("features", root=str(tmp_path / "never-made")).stdout
    assert elsewhere == here and not (tmp_path / "never-made").exists()


def test_features_do_not_follow_the_host(doc):
    """features.md: what the runtime implements, not what this host offers —
    the same document when the host's cgroups and sysctls are hidden."""
    if os.geteuid() != 0:
        pytest.skip("needs root for a private mount namespace")
    hide = "mount -t tmpfs none /sys/fs/cgroup && mount -t tmpfs none /proc/sys && exec \"$@\""
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", hide, "sh",
                        OCIRT, "features"], capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == doc


# --- features-linux.md: what linux lists is recognised in config.json ----------

NS_PROC = {"mount": "mnt", "network": "net", "pid": "pid", "ipc": "ipc", "uts": "uts",
           "cgroup": "cgroup", "time": "time", "user": "user"}


def test_every_listed_namespace_is_made(doc, ocirt, bundle):
    """All listed types in one container, each a namespace of its own (user
    needs an id-mapped rootfs: tests/test_namespaces.py runs it)."""
    kinds = [k for k in doc["linux"]["namespaces"] if k != "user"]
    assert set(kinds) <= set(NS_PROC), kinds
    bundle.config["linux"]["namespaces"] = [{"type": k} for k in kinds]
    bundle.sh(" ".join(f"readlink /proc/self/ns/{NS_PROC[k]};" for k in kinds))
    r = ocirt.run(bundle)
    assert r.returncode == 0, r
    inside = r.stdout.split()
    assert [os.readlink(f"/proc/self/ns/{NS_PROC[k]}") for k in kinds if os.readlink(
        f"/proc/self/ns/{NS_PROC[k]}") in inside] == []


def status_mask(text: str, field: str) -> int:
    return int(next(line.split()[1] for line in text.splitlines() if line.startswith(field + ":")), 16)


def test_every_listed_capability_is_recognised(doc, ocirt, bundle):
    """Those this runtime holds are granted (the listed order is the kernel's
    numbering); one it does not hold is refused as such, not as unknown."""
    caps = doc["linux"]["capabilities"]
    assert (caps[0], caps[21], caps[-1]) == ("CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_CHECKPOINT_RESTORE")
    held = status_mask(Path("/proc/self/status").read_text(), "CapBnd")
    granted = [c for i, c in enumerate(caps) if held >> i & 1]
    bundle.config["process"]["capabilities"] = {s: granted for s in ("bounding", "effective", "permitted")}
    r = ocirt.run(bundle.sh("cat /proc/self/status"))
    assert r.returncode == 0, r
    assert status_mask(r.stdout, "CapEff") == status_mask(r.stdout, "CapBnd") == held
    for cap in [c for c in caps if c not in granted][:1]:
        bundle.config["process"]["capabilities"] = {s: [cap] for s in ("bounding", "effective", "permitted")}
        r = ocirt.run(bundle.sh("true"))
        assert r.returncode != 0 and cap in r.stderr and "bounding set" in r.stderr, r


def test_every_listed_seccomp_name_is_accepted(doc, ocirt, bundle):
    """One profile with every listed action (notify needs an agent: tests/
    test_seccomp_container.py), operator and supported flag; the ERRNO rule
    shows the filter is loaded."""
    seccomp = doc["linux"]["seccomp"]
    spare = iter(["acct", "swapon", "swapoff", "vhangup", "quotactl", "kexec_load", "kexec_file_load",
                  "init_module", "finit_module", "delete_module", "settimeofday", "adjtimex", "syslog",
                  "reboot", "iopl", "ioperm", "lookup_dcookie", "uselib", "ustat", "sysfs"])
    rules = [{"names": ["sethostname"], "action": "SCMP_ACT_ERRNO"}]
    rules += [{"names": [next(spare)], "action": a} for a in seccomp["actions"]
              if a not in ("SCMP_ACT_ERRNO", "SCMP_ACT_NOTIFY")]
    rules += [{"names": [next(spare)], "action": "SCMP_ACT_ERRNO",
               "args": [{"index": 0, "value": 7, "valueTwo": 7, "op": op}]} for op in seccomp["operators"]]
    bundle.config["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "flags": seccomp["supportedFlags"],
                                         "syscalls": rules}
    r = ocirt.run(bundle.sh("hostname blocked; echo rc=$?"))
    assert r.returncode == 0, r
    assert "rc=1" in r.stdout and "not permitted" in r.stderr.lower(), r
    assert set(seccomp["supportedFlags"]) <= set(seccomp["knownFlags"])


def test_every_listed_seccomp_arch_is_recognised(doc, ocirt, bundle):
    """Each architecture alone: loaded, or refused by libseccomp because it
    cannot sit next to this host's (e.g. big-endian ones), never unknown."""
    refused = []
    for arch in doc["linux"]["seccomp"]["archs"]:
        bundle.config["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": [arch]}
        cid = ocirt.new_id()
        bundle.write()
        r = ocirt("create", "-b", str(bundle.path), cid)
        if r.returncode == 0:
            assert ocirt("delete", cid).returncode == 0
        else:
            assert "linux.seccomp.architectures[0]: libseccomp cannot add it" in r.stderr, (arch, r)
            refused.append(arch)
    if os.uname().machine == "x86_64":
        assert {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"}.isdisjoint(refused), refused


def test_every_known_seccomp_flag_is_recognised(doc, ocirt, bundle):
    """Each knownFlags name alone: taken (an unsupported one may be ignored
    with a warning), never refused as unknown — as a made-up flag is."""
    known = doc["linux"]["seccomp"]["knownFlags"]
    for flag in known + ["SECCOMP_FILTER_FLAG_MADE_UP"]:
        bundle.config["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "flags": [flag],
                                             "syscalls": [{"names": ["sethostname"], "action": "SCMP_ACT_ERRNO"}]}
        r = ocirt.run(bundle.sh("hostname blocked 2>/dev/null; echo rc=$?"))
        if flag in known:
            assert r.returncode == 0 and r.stdout == "rc=1\n", (flag, r)
        else:
            assert r.returncode != 0 and flag in r.stderr and "Traceback" not in r.stderr, r


def test_every_listed_memory_policy_mode_and_flag_is_recognised(doc, ocirt, bundle):
    """Each listed mode (with node 0 where it needs nodes), and each listed
    flag on MPOL_BIND, is applied: the container's task policy is no longer
    the default; a made-up mode is refused as unknown."""
    policy = doc["linux"]["memoryPolicy"]
    tries = [{"mode": m} if m in ("MPOL_DEFAULT", "MPOL_LOCAL") else {"mode": m, "nodes": "0"}
             for m in policy["modes"]]
    tries += [{"mode": "MPOL_BIND", "nodes": "0", "flags": [f]} for f in policy["flags"]]
    for p in tries:
        bundle.config["linux"]["memoryPolicy"] = p
        r = ocirt.run(bundle.sh("head -n 1 /proc/self/numa_maps"))
        assert r.returncode == 0, (p, r)
        assert (r.stdout.split()[1] == "default") == (p["mode"] == "MPOL_DEFAULT"), (p, r.stdout)
    bundle.config["linux"]["memoryPolicy"] = {"mode": "MPOL_MADE_UP"}
    r = ocirt.run(bundle.sh("true"))
    assert r.returncode != 0 and "MPOL_MADE_UP" in r.stderr and "linux.memoryPolicy.mode" in r.stderr, r


def test_idmap_mount_extension_is_claimed(doc, ocirt, bundle, tmp_path):
    """mountExtensions.idmap.enabled is true, and a mount's uidMappings and
    gidMappings are used (tests/test_config_mounts.py checks the details)."""
    assert doc["linux"]["mountExtensions"]["idmap"]["enabled"] is True
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "f").write_text("x")
    bundle.config["mounts"].append({"destination": "/data", "type": "bind", "source": str(tmp_path / "src"),
                                    "options": ["bind"], "uidMappings": ID_MAP, "gidMappings": ID_MAP})
    r = ocirt.run(bundle.sh("stat -c '%u %g' /data/f"))
    assert r.returncode == 0 and r.stdout.split() == ["100000", "100000"], r
