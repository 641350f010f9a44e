"""tmpcopyup (runc's mount extension): a tmpfs mounted with it starts with a
copy of the image directory it covers — content, mode, owner; symlinks
copied as symlinks, never followed (an image's link may point at the host's
files) — and the image itself is left as it was."""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from testlib import run_ocirt

STAT = "stat -c '%n %a %u %g %F' /data/f /data/sub /data/sub/g /data/link /data/up"


def reads_all(bundle) -> None:
    """Let the container's root read files it does not own (the default
    capabilities lack CAP_DAC_OVERRIDE)."""
    caps = bundle.config["process"]["capabilities"]
    for kind in ("bounding", "effective", "permitted"):
        caps[kind] = sorted(set(caps.get(kind, [])) | {"CAP_DAC_OVERRIDE"})


def tmpfs(dest: str = "/data", *options: str) -> dict:
    return {"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup", *options]}


def image_tree(rootfs: Path, secret: Path) -> Path:
    """rootfs/data: a file, a subdir with a setuid file, a link to a host
    file by its absolute path and one climbing out with "..", with owners
    and modes of their own."""
    data = rootfs / "data"
    (data / "sub").mkdir(parents=True)
    (data / "f").write_text("file content\n")
    (data / "sub" / "g").write_text("deep\n")
    (data / "link").symlink_to(secret)
    (data / "up").symlink_to("../../../../../../.." + str(secret))
    for path, mode, uid, gid in ((data / "f", 0o640, 12, 34), (data / "sub", 0o750, 5, 6),
                                 (data / "sub" / "g", 0o4755, 7, 8)):
        os.chown(path, uid, gid)
        os.chmod(path, mode)
    os.lchown(data / "link", 21, 22)
    return data


def snapshot(top: Path) -> dict:
    """Type, mode, owner and content (or link target) of everything under top."""
    out = {}
    for base, dirs, files in os.walk(top):
        for name in dirs + files:
            p = Path(base) / name
            st = p.lstat()
            body = os.readlink(p) if p.is_symlink() else p.read_bytes() if p.is_file() else None
            out[str(p.relative_to(top))] = (st.st_mode, st.st_uid, st.st_gid, body)
    return out


def secret_file(tmp_path: Path) -> Path:
    secret = tmp_path / "host-secret"
    secret.write_text("HOST SECRET\n")
    return secret


def test_features_lists_tmpcopyup():
    r = run_ocirt("features")
    assert r.returncode == 0 and "tmpcopyup" in json.loads(r.stdout)["mountOptions"], r


def test_tmpfs_starts_with_the_image_content(ocirt, bundle, tmp_path):
    data = image_tree(bundle.rootfs, secret_file(tmp_path))
    before = snapshot(data)
    bundle.config["mounts"].append(tmpfs())
    reads_all(bundle)
    r = ocirt.run(bundle.sh(f"{STAT}; cat /data/f /data/sub/g; readlink /data/link; "
                            "grep ' /data ' /proc/self/mountinfo"))
    assert r.returncode == 0, r
    lines = r.stdout.splitlines()
    assert lines[:5] == ["/data/f 640 12 34 regular file", "/data/sub 750 5 6 directory",
                         "/data/sub/g 4755 7 8 regular file", "/data/link 777 21 22 symbolic link",
                         "/data/up 777 0 0 symbolic link"], r.stdout
    assert lines[5:8] == ["file content", "deep", str(tmp_path / "host-secret")]
    assert " - tmpfs " in lines[8], lines[8]
    assert snapshot(data) == before


def test_links_out_are_not_followed(ocirt, bundle, tmp_path):
    """The links stay links: the host file they name is not copied in (that
    path does not exist in the container), nor touched."""
    secret = secret_file(tmp_path)
    image_tree(bundle.rootfs, secret)
    bundle.config["mounts"].append(tmpfs())
    reads_all(bundle)
    r = ocirt.run(bundle.sh("cat /data/link /data/up; grep -r SECRET /data; find /data -type f | sort"))
    assert "SECRET" not in r.stdout and "No such file" in r.stderr, r
    assert [ln for ln in r.stdout.splitlines() if ln.startswith("/data/")] == ["/data/f", "/data/sub/g"], r
    assert secret.read_text() == "HOST SECRET\n"


def test_writes_stay_in_the_tmpfs(ocirt, bundle, tmp_path):
    data = image_tree(bundle.rootfs, secret_file(tmp_path))
    (data / "w").write_text("image\n")
    before = snapshot(data)
    bundle.config["mounts"].append(tmpfs())
    r = ocirt.run(bundle.sh("echo changed > /data/w && touch /data/new && rm /data/link && cat /data/w"))
    assert r.returncode == 0 and r.stdout == "changed\n", r
    assert snapshot(data) == before


def test_read_only_tmpfs_gets_the_copy_first(ocirt, bundle, tmp_path):
    image_tree(bundle.rootfs, secret_file(tmp_path))
    bundle.config["mounts"].append(tmpfs("/data", "ro", "mode=700"))
    r = ocirt.run(bundle.sh("stat -c '%n %a' /data /data/sub; touch /data/new 2>/dev/null || echo refused; "
                            "grep ' /data ' /proc/self/mountinfo"))
    assert r.returncode == 0, r
    lines = r.stdout.splitlines()
    assert lines[:3] == ["/data 700", "/data/sub 750", "refused"], r.stdout
    mount_opts, super_opts = lines[3].split()[5], lines[3].split(" - ")[1].split()[2]
    assert "ro" in mount_opts.split(",") and "ro" in super_opts.split(","), lines[3]


def test_missing_directory_gives_an_empty_tmpfs(ocirt, bundle):
    bundle.config["mounts"].append(tmpfs("/fresh/dir"))
    r = ocirt.run(bundle.sh("ls -A /fresh/dir; grep ' /fresh/dir ' /proc/self/mountinfo"))
    assert r.returncode == 0, r
    assert r.stdout.splitlines()[0].split()[4] == "/fresh/dir" and " - tmpfs " in r.stdout, r


def test_destination_link_resolves_in_the_rootfs(ocirt, bundle, tmp_path):
    """A destination that is an image link to a host directory is resolved
    inside the rootfs: the host directory is neither copied nor mounted on."""
    host_dir = tmp_path / "host-dir"
    host_dir.mkdir()
    (host_dir / "host-only").write_text("x\n")
    (bundle.rootfs / "data").symlink_to(host_dir)
    bundle.config["mounts"].append(tmpfs())
    r = ocirt.run(bundle.sh("ls -A /data; echo end"))
    assert r.returncode == 0 and r.stdout == "end\n", r
    assert sorted(os.listdir(host_dir)) == ["host-only"]
    inside = bundle.rootfs / str(host_dir).lstrip("/")
    assert stat.S_ISDIR(inside.lstat().st_mode) and not any(inside.iterdir())
