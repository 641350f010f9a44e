"""config.md "Mounts": listed order, relative destinations, the mount(8)
options, propagation, recursive (r*) attributes, remount, and id-mapped
bind mounts (uidMappings/gidMappings with idmap/ridmap) — checked inside
(mountinfo, stat) and outside (the host's files and mounts)."""
from __future__ import annotations

import contextlib
import os
import subprocess

import pytest

from testlib import STATE_ROOT, one_line_error




def create(ocirt, bundle):
    cid = ocirt.new_id()
    r = ocirt("create", "-b", str(bundle.path), cid)
    assert r.returncode == 0 or not os.path.exists(os.path.join(STATE_ROOT, cid))
    return r


def mount_line(output: str, target: str) -> tuple[set[str], set[str], str]:
    """(per-mount options, superblock options, optional fields) of the last
    mountinfo line for target (the visible mount)."""
    found = None
    for line in output.splitlines():
        fields = line.split()
        if len(fields) > 4 and fields[4] == target:
            found = fields
    assert found is not None, f"{target} not mounted:\n{output}"
    dash = found.index("-")
    return set(found[5].split(",")), set(found[dash + 3].split(",")), " ".join(found[6:dash])


def mountinfo(ocirt, bundle) -> str:
    r = ocirt.run(bundle.sh("cat /proc/self/mountinfo"))
    assert r.returncode == 0, r
    return r.stdout


@contextlib.contextmanager
def tmpfs_at(path):
    """A host tmpfs (a submount of a bind source), unmounted afterwards."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(path)], check=True)
    # private, so a host with shared mounts (systemd) gives the same baseline
    subprocess.run(["mount", "--make-private", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


def bind(src, dest: str, *options: str, **extra) -> dict:
    return {"destination": dest, "type": "bind", "source": str(src), "options": list(options), **extra}


# --- order and destination ---------------------------------------------------

def test_mounts_in_listed_order(ocirt, bundle, tmp_path):
    """A mount inside an earlier one stays visible; a later mount on the same
    destination covers the earlier one."""
    first, second = tmp_path / "first", tmp_path / "second"
    for d in (first, second):
        d.mkdir()
        (d / "who").write_text(d.name + "\n")
    bundle.config["mounts"] += [
        {"destination": "/stack", "type": "tmpfs", "source": "tmpfs"},
        bind(first, "/stack/inner", "bind"),
        bind(first, "/over", "bind"),
        bind(second, "/over", "bind"),
    ]
    r = ocirt.run(bundle.sh("cat /stack/inner/who /over/who; grep -c ' /over ' /proc/self/mountinfo"))
    assert r.returncode == 0, r
    assert r.stdout.split() == ["first", "second", "2"]


def test_relative_destination_is_relative_to_root(ocirt, bundle):
    """Deprecated but allowed on Linux: taken relative to "/", with a warning
    (as runc); ".." cannot climb out of the rootfs."""
    bundle.config["mounts"] += [
        {"destination": "rel/dir", "type": "tmpfs", "source": "tmpfs"},
        {"destination": "../../escape", "type": "tmpfs", "source": "tmpfs"},
    ]
    r = ocirt.run(bundle.sh("grep -E ' /(rel/dir|escape) ' /proc/self/mountinfo | cut -d' ' -f5"))
    assert r.returncode == 0, r
    assert r.stdout.split() == ["/rel/dir", "/escape"]
    assert "warning" in r.stderr and "'rel/dir' is relative" in r.stderr
    assert (bundle.rootfs / "escape").is_dir()
    assert not (bundle.path.parent / "escape").exists()


def test_empty_destination_rejected(ocirt, bundle):
    bundle.config["mounts"].append({"destination": "", "type": "tmpfs", "source": "tmpfs"})
    bundle.write()
    one_line_error(create(ocirt, bundle), "mounts[", "destination")


# --- mount(8) options ----------------------------------------------------------

FLAG_CASES = {
    # options: (per-mount options present, absent; superblock options present, absent)
    "restrictive": (["ro", "nosuid", "nodev", "noexec", "noatime", "nodiratime"],
                    {"ro", "nosuid", "nodev", "noexec", "noatime", "nodiratime"}, set(), set(), set()),
    "cleared again": (["ro", "rw", "nosuid", "suid", "nodev", "dev", "noexec", "exec", "nodiratime", "diratime"],
                      {"rw"}, {"ro", "nosuid", "nodev", "noexec", "nodiratime"}, set(), set()),
    "sync family": (["sync", "dirsync", "lazytime"], set(), set(), {"sync", "dirsync", "lazytime"}, set()),
    "async nolazytime": (["sync", "async", "lazytime", "nolazytime"], set(), set(), set(), {"sync", "lazytime"}),
    "relatime": (["relatime"], {"relatime"}, {"noatime"}, set(), set()),
    "strictatime": (["strictatime"], set(), {"relatime", "noatime"}, set(), set()),
    "atime clears noatime": (["noatime", "atime"], {"relatime"}, {"noatime"}, set(), set()),
    # clears the relatime bit, so the kernel default (relatime) applies, as with mount(8)
    "norelatime": (["noatime", "norelatime"], {"noatime"}, {"relatime"}, set(), set()),
    "nostrictatime": (["strictatime", "nostrictatime"], {"relatime"}, set(), set(), set()),
    "not data": (["defaults", "silent", "loud", "iversion", "noiversion", "mode=700"], {"rw"}, set(), set(), set()),
    "nosymfollow": (["nosymfollow"], {"nosymfollow"}, set(), set(), set()),
    "symfollow": (["nosymfollow", "symfollow"], set(), {"nosymfollow"}, set(), set()),
}


@pytest.mark.parametrize("case", list(FLAG_CASES))
def test_mount8_options(ocirt, bundle, case):
    """Every MUST option of the table is understood (tmpfs refuses options it
    does not know, so one passed on as data would fail the mount)."""
    options, present, absent, sb_present, sb_absent = FLAG_CASES[case]
    bundle.config["mounts"].append({"destination": "/m", "type": "tmpfs", "source": "tmpfs", "options": options})
    per_mount, sb, _ = mount_line(mountinfo(ocirt, bundle), "/m")
    assert present <= per_mount and not absent & per_mount, per_mount
    assert sb_present <= sb and not sb_absent & sb, sb


def test_bind_flags_and_remount(ocirt, bundle, tmp_path):
    """Flags on a bind are applied by a bind remount; "remount" changes the
    mount an earlier entry made (a tmpfs: its superblock, size included)."""
    src = tmp_path / "src"
    src.mkdir()
    bundle.config["mounts"] += [
        bind(src, "/b", "bind", "noatime", "nodev"),
        bind(src, "/b", "bind", "remount", "ro", "nosuid"),
        {"destination": "/t", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]},
        {"destination": "/t", "type": "tmpfs", "source": "tmpfs", "options": ["remount", "ro", "size=2m"]},
    ]
    out = mountinfo(ocirt, bundle)
    per_mount, _, _ = mount_line(out, "/b")
    assert {"ro", "nosuid"} <= per_mount
    assert out.count(" /b ") == 1 and out.count(" /t ") == 1  # remounted, not mounted again
    per_mount, sb, _ = mount_line(out, "/t")
    assert "ro" in per_mount and "size=2048k" in sb


def test_remount_of_nothing_refused(ocirt, bundle):
    """Without an earlier mount there, remount would reconfigure the
    filesystem holding the rootfs (the host's): refused."""
    bundle.config["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
                                    "options": ["remount", "ro"]})
    bundle.write()
    r = create(ocirt, bundle)
    one_line_error(r, "remount", "/tmp")
    with open("/proc/self/mountinfo") as f:
        assert " / " in f.read()
    assert os.access(bundle.rootfs, os.W_OK) and not os.statvfs(bundle.rootfs).f_flag & os.ST_RDONLY


# --- propagation ---------------------------------------------------------------

PROPAGATION_CASES = {
    # option: what mountinfo's optional fields hold for the top mount and its
    # submount ("": nothing, a private mount, as tmpfs_at makes it)
    "shared": ("shared:", ""),
    "rshared": ("shared:", "shared:"),
    "private": ("", ""),
    "rprivate": ("", ""),
    "unbindable": ("unbindable", ""),
    "runbindable": ("unbindable", "unbindable"),
}


@pytest.mark.parametrize("case", list(PROPAGATION_CASES))
def test_propagation_options(ocirt, bundle, tmp_path, case):
    top_want, sub_want = PROPAGATION_CASES[case]
    src = tmp_path / "src"
    with tmpfs_at(src / "sub"):
        bundle.config["mounts"].append(bind(src, "/p", "rbind", *case.split(",")))
        out = mountinfo(ocirt, bundle)
    _, _, top = mount_line(out, "/p")
    _, _, sub = mount_line(out, "/p/sub")
    for fields, want in ((top, top_want), (sub, sub_want)):
        assert want in fields if want else fields == "", (case, fields)


@pytest.mark.parametrize("option", ["slave", "rslave"])
def test_slave_propagation(ocirt, bundle, tmp_path, option):
    """A bind of the container's shared /p is its peer; slave (rslave: with
    its submounts) turns it into a receiver of /p's events."""
    src = tmp_path / "src"
    with tmpfs_at(src / "sub"):
        bundle.config["mounts"] += [bind(src, "/p", "rbind", "rshared"),
                                    bind(bundle.rootfs / "p", "/q", "rbind", option)]
        out = mountinfo(ocirt, bundle)
    for peer, target in (("/p", "/q"), ("/p/sub", "/q/sub")):
        group = mount_line(out, peer)[2].split("shared:")[1].split()[0]
        fields = mount_line(out, target)[2]
        if target == "/q/sub" and option == "slave":
            assert fields == f"shared:{group}", fields  # still a peer
        else:
            assert fields == f"master:{group}", fields


# --- recursive attributes ------------------------------------------------------

def test_recursive_attributes(ocirt, bundle, tmp_path):
    src = tmp_path / "src"
    with tmpfs_at(src / "sub"):
        bundle.config["mounts"] += [
            bind(src, "/r", "rbind", "rro", "rnosuid", "rnodev", "rnoexec", "rnoatime", "rnodiratime",
                 "rnosymfollow"),
            bind(src, "/plain", "rbind", "ro", "nosuid"),
        ]
        out = mountinfo(ocirt, bundle)
    want = {"ro", "nosuid", "nodev", "noexec", "noatime", "nodiratime", "nosymfollow"}
    for target in ("/r", "/r/sub"):
        assert want <= mount_line(out, target)[0], target
    # without the r prefix only the top mount changes
    assert {"ro", "nosuid"} <= mount_line(out, "/plain")[0]
    assert not {"ro", "nosuid"} & mount_line(out, "/plain/sub")[0]


def test_recursive_clear_and_atime(ocirt, bundle, tmp_path):
    src = tmp_path / "src"
    with tmpfs_at(src / "sub"):
        subprocess.run(["mount", "-o", "remount,ro,nosuid", str(src / "sub")], check=True)
        bundle.config["mounts"].append(bind(src, "/r", "rbind", "rrw", "rsuid", "rstrictatime"))
        out = mountinfo(ocirt, bundle)
    per_mount = mount_line(out, "/r/sub")[0]
    assert "rw" in per_mount and not {"ro", "nosuid", "relatime", "noatime"} & per_mount, per_mount


# --- id-mapped mounts ----------------------------------------------------------

MAPS = {"uidMappings": [{"containerID": 0, "hostID": 1000, "size": 10}],
        "gidMappings": [{"containerID": 0, "hostID": 2000, "size": 10}]}


def owned_tree(base):
    base.mkdir()
    (base / "root-file").write_text("x")
    (base / "five-file").write_text("y")
    os.chown(base / "five-file", 5, 6)
    return base


def test_idmapped_bind_mount(ocirt, bundle, tmp_path):
    """A file of uid 0 shows as the mapped uid inside; the host file keeps its
    owner; the mount is marked idmapped."""
    src = owned_tree(tmp_path / "src")
    bundle.config["mounts"].append(bind(src, "/data", "bind", "idmap", **MAPS))
    r = ocirt.run(bundle.sh("stat -c '%n %u %g' /data/root-file /data/five-file; "
                            "grep ' /data ' /proc/self/mountinfo"))
    assert r.returncode == 0, r
    lines = r.stdout.splitlines()
    assert lines[:2] == ["/data/root-file 1000 2000", "/data/five-file 1005 2006"]
    assert "idmapped" in mount_line(r.stdout, "/data")[0]
    st = os.stat(src / "root-file")
    assert (st.st_uid, st.st_gid) == (0, 0)
    assert os.stat(src / "five-file").st_uid == 5


def test_idmapped_mount_with_mappings_only_and_ro(ocirt, bundle, tmp_path):
    """Mappings without the idmap option still map (the option is a SHOULD);
    other options apply on top."""
    src = owned_tree(tmp_path / "src")
    bundle.config["mounts"].append(bind(src, "/data", "bind", "ro", **MAPS))
    r = ocirt.run(bundle.sh("stat -c %u /data/root-file; touch /data/new 2>/dev/null || echo ro"))
    assert r.stdout.split() == ["1000", "ro"], r
    assert not (src / "new").exists()


@pytest.mark.parametrize("option,sub_uid", [("ridmap", "1000"), ("idmap", "0")])
def test_ridmap_maps_submounts(ocirt, bundle, tmp_path, option, sub_uid):
    src = owned_tree(tmp_path / "src")
    with tmpfs_at(src / "sub"):
        (src / "sub" / "f").write_text("z")
        bundle.config["mounts"].append(bind(src, "/data", "rbind", option, **MAPS))
        r = ocirt.run(bundle.sh("stat -c %u /data/root-file /data/sub/f"))
    assert r.returncode == 0, r
    assert r.stdout.split() == ["1000", sub_uid]


IDMAP_BAD = {
    "uid without gid": ({"uidMappings": MAPS["uidMappings"], "options": ["bind", "idmap"]}, ["mounts[", "gidMappings"]),
    "gid without uid": ({"gidMappings": MAPS["gidMappings"], "options": ["bind", "idmap"]}, ["mounts[", "uidMappings"]),
    "idmap without mappings": ({"options": ["bind", "idmap"]}, ["mounts[", "idmap"]),
    "not a bind": ({**MAPS, "type": "tmpfs", "source": "tmpfs", "options": ["idmap"]}, ["mounts[", "bind"]),
    "overlapping ranges": ({"uidMappings": MAPS["uidMappings"] * 2, "gidMappings": MAPS["gidMappings"],
                            "options": ["bind", "idmap"]}, ["mounts[", "/data", "uidMappings", "overlap"]),
}


@pytest.mark.parametrize("case", list(IDMAP_BAD))
def test_idmapped_mount_bad_input(ocirt, bundle, tmp_path, case):
    extra, words = IDMAP_BAD[case]
    bundle.config["mounts"].append({"destination": "/data", "type": "bind", "source": str(tmp_path), **extra})
    bundle.write()
    one_line_error(create(ocirt, bundle), *words)


def test_idmapped_mount_with_user_namespace_refused(ocirt, bundle, tmp_path):
    """Not supported yet inside a container user namespace: refused clearly."""
    bundle.config["linux"]["namespaces"].append({"type": "user"})
    bundle.config["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    bundle.config["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    bundle.config["mounts"].append(bind(tmp_path, "/data", "bind", "idmap", **MAPS))
    bundle.write()
    one_line_error(create(ocirt, bundle), "mounts[", "user namespace")


def test_idmapped_mount_unsupported_filesystem(ocirt, bundle):
    """procfs cannot be id-mapped: the error says so."""
    bundle.config["mounts"].append(bind("/proc", "/data", "bind", "idmap", **MAPS))
    bundle.write()
    one_line_error(create(ocirt, bundle), "/data", "does not support id-mapped mounts")


# A mount that fails names its entry of config.json's mounts (by index), the
# step that failed and what to do, in one line.
MOUNT_FAILURES = {
    "bad option": ({"type": "tmpfs", "source": "tmpfs", "options": ["nosuchoption"]},
                   "(tmpfs on /mnt/x): mount failed: Invalid argument: check its options"),
    "missing bind source": ({"type": "bind", "source": "/nonexistent-src", "options": ["bind"]},
                            "(/nonexistent-src on /mnt/x): bind source: No such file or directory: "
                            "create it or fix source"),
    "unknown type": ({"type": "nosuchfs", "source": "none"},
                     "(none on /mnt/x): mount failed: No such device: check type"),
    "remount of nothing": ({"type": "tmpfs", "source": "tmpfs", "options": ["remount", "ro"]},
                           "(tmpfs on /mnt/x): remount: nothing is mounted there"),
}


@pytest.mark.parametrize("case", list(MOUNT_FAILURES))
def test_mount_failure_names_the_entry(ocirt, bundle, case):
    entry, words = MOUNT_FAILURES[case]
    index = len(bundle.config["mounts"])
    bundle.config["mounts"].append({"destination": "/mnt/x", **entry})
    bundle.write()
    one_line_error(create(ocirt, bundle), f"mounts[{index}] {words}")


def test_mount_failure_on_a_file_in_the_path(ocirt, bundle):
    bundle.config["mounts"].append({"destination": "/bin/busybox/x", "type": "tmpfs", "source": "tmpfs"})
    bundle.write()
    one_line_error(create(ocirt, bundle), "(tmpfs on /bin/busybox/x): destination: Not a directory")
