"""The container's filesystem: mounts, devices, pivot_root, masked/readonly paths.

Runs in the container's init, inside its new mount namespace.  Every
target inside the rootfs is resolved with paths.open_in_root and mounted
through /proc/self/fd/N (see paths.py for why).
"""
from __future__ import annotations

import errno
import os
import stat

from . import lsm, paths
from .config.model import Config, Mount
from .config.mountopts import MOUNT_ATTR_IDMAP, TMPCOPYUP
from .errors import OcirtError
from .linux import constants as c
from .linux import sys, unixsock

DEFAULT_DEVICES = (
    # path, type, major, minor
    ("/dev/null", "c", 1, 3), ("/dev/zero", "c", 1, 5), ("/dev/full", "c", 1, 7),
    ("/dev/random", "c", 1, 8), ("/dev/urandom", "c", 1, 9), ("/dev/tty", "c", 5, 0),
)
DEV_SYMLINKS = (
    ("/proc/self/fd", "/dev/fd"), ("/proc/self/fd/0", "/dev/stdin"),
    ("/proc/self/fd/1", "/dev/stdout"), ("/proc/self/fd/2", "/dev/stderr"),
)
# statvfs flags that the kernel locks on mounts inherited by a user namespace
ST_LOCKED = ((1024, c.MS_NOATIME), (2048, c.MS_NODIRATIME), (4096, c.MS_RELATIME),
             (2, c.MS_NOSUID), (4, c.MS_NODEV), (8, c.MS_NOEXEC))


# what to do about a failed mount(2), by errno
MOUNT_HINTS = {
    errno.EINVAL: "check its options", errno.ENODEV: "check type (the kernel does not know it)",
    errno.ENOENT: "check source", errno.ENOTDIR: "source and destination must both be directories or both files",
    errno.EPERM: "not permitted here (a user namespace?)",
}
# the same for the bind source (stat'ed before anything is mounted)
SOURCE_HINTS = {errno.ENOENT: "create it or fix source", errno.EACCES: "make it reachable for root"}


def _failed(what: str, e: OSError, hints: dict[int, str]) -> OcirtError:
    """The part of a mount error after its mounts[i] prefix (see Rootfs.mount)."""
    hint = hints.get(e.errno or 0)
    return OcirtError(f"{what}: {e.strerror}" + (f": {hint}" if hint else ""))


def _idmap_userns(uid_maps: list[dict], gid_maps: list[dict]) -> int:
    """An fd of a new user namespace holding these maps, for MOUNT_ATTR_IDMAP.

    Only a process can create a user namespace, and only a writer with
    CAP_SETUID/CAP_SETGID outside it may give it arbitrary maps: so a child
    unshares one and waits while we write its maps and open its namespace.
    The child sends its /proc/self rather than its pid: in a new pid
    namespace our pid for it names another process in the host's /proc."""
    ours, theirs = unixsock.pair()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            ours.close()
            procfd = os.open("/proc/self", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            sys.unshare(c.CLONE_NEWUSER)
            unixsock.send_fds(theirs, b"u", [procfd])
            theirs.recv(1)  # EOF: the parent has what it needs
            code = 0
        finally:
            os._exit(code)
    theirs.close()
    try:
        _msg, fds = unixsock.recv_fds(ours, 1, 1)
        if not fds:
            raise OcirtError("id-mapped bind: could not create a user namespace for the mapping")
        try:
            for name, field, maps in (("uid_map", "uidMappings", uid_maps), ("gid_map", "gidMappings", gid_maps)):
                lines = "".join(f"{m['containerID']} {m['hostID']} {m['size']}\n" for m in maps)
                fd = os.open(name, os.O_WRONLY | os.O_CLOEXEC, dir_fd=fds[0])
                try:
                    os.write(fd, lines.encode())
                except OSError as e:
                    raise OcirtError(f"{field}: the kernel refused the mapping ({e.strerror}): "
                                     "ranges must not overlap, at most 340 of them") from None
                finally:
                    os.close(fd)
            return os.open("ns/user", os.O_RDONLY | os.O_CLOEXEC, dir_fd=fds[0])
        finally:
            os.close(fds[0])
    finally:
        ours.close()
        os.waitpid(pid, 0)


# Opening an entry of the image to copy it: never through a symlink (the
# image's links may point anywhere on the host), never blocking (a fifo).
COPY_OPEN = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


def _copy_tree(src: int, dst: int) -> None:
    """Copy directory src's entries into dst (fds, both O_RDONLY) keeping
    type, content, mode and owner, as runc's tmpcopyup does: symlinks are
    copied as links, devices and fifos re-created, hard links become files.
    Every entry is opened relative to its parent with O_NOFOLLOW, so a link
    in the image is never followed; dst is a fresh tmpfs no one else sees."""
    for name in os.listdir(src):
        st = os.stat(name, dir_fd=src, follow_symlinks=False)
        kind = stat.S_IFMT(st.st_mode)
        if kind == stat.S_IFLNK:
            os.symlink(os.readlink(name, dir_fd=src), name, dir_fd=dst)
            os.chown(name, st.st_uid, st.st_gid, dir_fd=dst, follow_symlinks=False)
            continue
        if kind in (stat.S_IFDIR, stat.S_IFREG):
            _copy_opened(src, dst, name, kind)
        else:
            os.mknod(name, kind | 0o600, st.st_rdev, dir_fd=dst)
            os.chown(name, st.st_uid, st.st_gid, dir_fd=dst, follow_symlinks=False)
            os.chmod(name, stat.S_IMODE(st.st_mode), dir_fd=dst, follow_symlinks=False)


def _copy_opened(src: int, dst: int, name: str, kind: int) -> None:
    """Copy one directory (recursively) or regular file, from an fd of it:
    its type is checked again on the fd (it may have changed since lstat)."""
    is_dir = kind == stat.S_IFDIR
    sfd = os.open(name, COPY_OPEN | (os.O_DIRECTORY if is_dir else 0), dir_fd=src)
    try:
        st = os.fstat(sfd)
        if stat.S_IFMT(st.st_mode) != kind:
            raise OSError(errno.EAGAIN, "changed while it was copied", name)
        if is_dir:
            os.mkdir(name, 0o700, dir_fd=dst)
            dfd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dst)
        else:
            dfd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                          dir_fd=dst)
        try:
            if is_dir:
                _copy_tree(sfd, dfd)
            else:
                while os.sendfile(dfd, sfd, None, 1 << 30):
                    pass
            # owner first: chown clears the set-id bits that chmod then sets
            os.fchown(dfd, st.st_uid, st.st_gid)
            os.fchmod(dfd, stat.S_IMODE(st.st_mode))
        finally:
            os.close(dfd)
    finally:
        os.close(sfd)


class _Reopened:
    """Context manager: an O_PATH fd used through its /proc/self/fd path."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __enter__(self) -> str:
        return paths.fd_path(self.fd)

    def __exit__(self, *_exc) -> None:
        os.close(self.fd)


class Rootfs:
    """Builds the rootfs in two halves around the createRuntime hooks."""

    def __init__(self, cfg: Config, cgroup_paths: dict[str, str] | None, in_userns: bool) -> None:
        self.cfg = cfg
        self.cgroup_paths = cgroup_paths or {}
        self.in_userns = in_userns
        self.rootfd = -1
        # host /dev/null, held open so masking never trusts the image's /dev/null
        self.devnull = os.open("/dev/null", os.O_PATH | os.O_CLOEXEC)

    # --- before the hooks ---------------------------------------------------
    def prepare(self) -> None:
        cfg = self.cfg
        prop = c.MS_SLAVE if cfg.rootfs_propagation in ("", "slave", "rslave") else c.MS_PRIVATE
        if cfg.rootfs_propagation in ("shared", "rshared"):
            prop = c.MS_PRIVATE
        sys.mount(None, "/", None, c.MS_REC | prop)
        try:
            sys.mount(cfg.rootfs, cfg.rootfs, None, c.MS_BIND | c.MS_REC)
        except OSError as e:
            raise OcirtError(f"root.path {cfg.rootfs}: cannot bind-mount the rootfs: {e.strerror}") from None
        self.rootfd = os.open(cfg.rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        self._check_mount_budget()
        dev_bound = False
        for index, m in enumerate(cfg.mounts):
            self.mount(m, index)
            dev_bound |= m.destination.rstrip("/") == "/dev" and m.is_bind
        if not dev_bound:
            self.devices()
        # Still before pivot_root: the host's /dev/null must be bound while its
        # mount is in our namespace (after the old root is detached it is not).
        for key, value in cfg.sysctl.items():
            self._sysctl(key, value)
        for p in cfg.readonly_paths:
            self._readonly(p)
        for p in cfg.masked_paths:
            self._mask(p)
        os.close(self.devnull)

    def _check_mount_budget(self) -> None:
        """A config with 100k mounts would take minutes, then fail at the
        kernel's fs.mount-max half-way: refuse it before the first mount."""
        cfg = self.cfg
        try:
            with open("/proc/sys/fs/mount-max") as f:
                limit = int(f.read())
            with open("/proc/self/mountinfo") as f:
                used = sum(1 for _ in f)
        except (OSError, ValueError):
            return
        # each device, masked or read-only path may add a mount of its own
        wanted = len(cfg.mounts) + len(cfg.devices) + len(cfg.masked_paths) + len(cfg.readonly_paths)
        if used + wanted > limit:
            raise OcirtError(f"mounts: {wanted} mounts, devices and masked/read-only paths on top of the "
                             f"{used} mounts already in the namespace exceed fs.mount-max ({limit})")

    def mount(self, m: Mount, index: int) -> None:
        """Make config.json's mounts[index]; any failure is one line that
        names the entry, what failed and (when it can tell) what to do."""
        try:
            self._mount_entry(m)
        except OSError as e:
            err = _failed("mount failed", e, MOUNT_HINTS)
        except OcirtError as e:
            err = e
        else:
            return
        raise OcirtError(f"mounts[{index}] ({m.source or m.type} on {m.destination}): {err}") from None

    def _mount_entry(self, m: Mount) -> None:
        if m.type == "cgroup":
            return self._mount_cgroup(m)
        if m.flags & c.MS_REMOUNT:
            return self._remount_existing(m)
        source = m.source
        if m.is_bind:
            if not os.path.isabs(source):
                source = os.path.join(self.cfg.bundle, source)
            try:
                is_dir = stat.S_ISDIR(os.stat(source).st_mode)
            except OSError as e:
                raise _failed("bind source", e, SOURCE_HINTS) from None
        else:
            is_dir = True
        try:
            fd = paths.make_target(self.rootfd, m.destination, is_dir)
        except OSError as e:
            raise _failed("destination", e, {errno.ENOTDIR: "a file in the rootfs is on its path"}) from None
        try:
            self._mount_at(m, source, fd)
        finally:
            os.close(fd)

    def _on_top(self, path: str, under: int, same_as: os.stat_result | None = None) -> _Reopened:
        """An fd of the mount just made on `under` (an fd of its target).

        The old fd still names the directory underneath, so remounts must
        re-resolve the path, and a racing process may have swapped one of
        its components meanwhile: the remount (read-only!) would then hit
        another mount and leave this one writable.  So what path resolves
        to now must be a different mount than `under` and, for a bind, the
        very file that was bound (`same_as`)."""
        fd = paths.open_in_root(self.rootfd, path)
        try:
            st = os.fstat(fd)
            if paths.mount_id(fd) == paths.mount_id(under) or \
                    (same_as is not None and (st.st_dev, st.st_ino) != (same_as.st_dev, same_as.st_ino)):
                raise OcirtError(f"{path}: changed while it was being mounted (a symlink swapped in?); refusing")
        except BaseException:
            os.close(fd)
            raise
        return _Reopened(fd)

    def _remount_existing(self, m: Mount) -> None:
        """"remount" (mount(8)) changes a mount an earlier entry made at the
        destination.  Anywhere else it would reconfigure the filesystem the
        path is on: the rootfs's, which is the host's."""
        nothing = OcirtError("remount: nothing is mounted there by an earlier entry of mounts; "
                             "mount it first or drop \"remount\"")
        try:
            fd = paths.open_in_root(self.rootfd, m.destination)
        except FileNotFoundError:
            raise nothing from None
        except OSError as e:
            raise _failed("remount", e, {}) from None
        try:
            parent = paths.open_in_root(self.rootfd, os.path.dirname(m.destination.rstrip("/")) or "/")
            try:
                is_mount_root = paths.mount_id(fd) != paths.mount_id(parent)
            finally:
                os.close(parent)
            if not is_mount_root:
                raise nothing
            flags = m.flags & ~c.MS_REC
            if m.is_bind:
                self._remount(paths.fd_path(fd), flags)  # per-mount flags only
            else:
                sys.mount(None, paths.fd_path(fd), None, flags, m.data or None)
        except OSError as e:
            raise _failed("remount failed", e, MOUNT_HINTS) from None
        finally:
            os.close(fd)

    def _mount_at(self, m: Mount, source: str, fd: int) -> None:
        target = paths.fd_path(fd)
        flags = m.flags & ~(c.MS_SHARED | c.MS_PRIVATE | c.MS_SLAVE | c.MS_UNBINDABLE)
        bound = None
        if m.is_bind:
            bound = os.stat(source)
            if m.uid_mappings:
                self._bind_idmapped(m, source, fd)
            else:
                sys.mount(source, target, None, flags & (c.MS_BIND | c.MS_REC))
            if flags & ~(c.MS_BIND | c.MS_REC):
                with self._on_top(m.destination, fd, bound) as top:
                    self._remount(top, flags)
        elif m.type == "tmpfs" and TMPCOPYUP in m.extensions:
            self._tmpfs_copyup(m, source, fd, flags)
        elif m.type == "sysfs" and self.in_userns and "network" not in self.cfg.namespaces:
            # sysfs needs a network namespace owned by our user ns; runc rbinds the host's
            sys.mount("/sys", target, None, c.MS_BIND | c.MS_REC)
        else:
            self._mount_fs(m, source, target, flags)
        if m.propagation or m.rec_set or m.rec_clr:
            with self._on_top(m.destination, fd, bound) as top:
                for p in m.propagation:
                    sys.mount(None, top, None, p)
                if m.rec_set or m.rec_clr:
                    # mount_setattr keeps the flags the kernel locked in a
                    # user namespace, which a remount could not
                    sys.mount_setattr(c.AT_FDCWD, top, c.AT_RECURSIVE, m.rec_set, m.rec_clr)

    def _bind_idmapped(self, m: Mount, source: str, fd: int) -> None:
        """A bind whose files show with the mount's uid/gid mappings: clone
        the source tree detached, map it (only a detached mount can be),
        then attach it on the target."""
        userns = _idmap_userns(m.uid_mappings, m.gid_mappings)
        try:
            tree = sys.open_tree(c.AT_FDCWD, source, c.OPEN_TREE_CLONE | c.OPEN_TREE_CLOEXEC
                                 | (c.AT_RECURSIVE if m.flags & c.MS_REC else 0))
        except OSError:
            os.close(userns)
            raise
        try:
            try:
                sys.mount_setattr(tree, "", c.AT_EMPTY_PATH | (c.AT_RECURSIVE if "ridmap" in m.extensions else 0),
                                  MOUNT_ATTR_IDMAP, userns_fd=userns)
            except OSError as e:
                why = ("its filesystem (or one mounted below it) does not support id-mapped mounts"
                       if e.errno == errno.EINVAL else e.strerror)
                raise OcirtError(f"id-mapped bind: {why}") from None
            sys.move_mount(tree, "", fd, "", c.MOVE_MOUNT_F_EMPTY_PATH | c.MOVE_MOUNT_T_EMPTY_PATH)
        finally:
            os.close(tree)
            os.close(userns)

    def _tmpfs_copyup(self, m: Mount, source: str, fd: int, flags: int) -> None:
        """tmpcopyup (runc's extension): the new tmpfs starts with a copy of
        the directory it covers.  That directory is read through an fd taken
        before the mount (it names what is underneath), so the copy never
        walks a path; a read-only tmpfs is made so after the copy."""
        below = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=fd)
        try:
            self._mount_fs(m, source, paths.fd_path(fd), flags & ~c.MS_RDONLY)
            with self._on_top(m.destination, fd) as top:
                above = os.open(top, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
                try:
                    _copy_tree(below, above)
                except OSError as e:
                    name = f" ({e.filename})" if e.filename else ""
                    raise OcirtError(f"tmpcopyup: cannot copy the covered directory{name}: {e.strerror}") from None
                finally:
                    os.close(above)
                if flags & c.MS_RDONLY:
                    # the superblock too, as a tmpfs mounted "ro" would be
                    sys.mount(None, top, None, c.MS_REMOUNT | flags & ~c.MS_REC)
        finally:
            os.close(below)

    def _mount_fs(self, m: Mount, source: str, target: str, flags: int) -> None:
        data = m.data or None
        if self.cfg.mount_label and m.type in ("tmpfs", "mqueue", "devpts") and lsm.selinux_enabled():
            # without SELinux the label is ignored, as runc does (context= would be EINVAL)
            label = f"context=\"{self.cfg.mount_label}\""
            data = f"{data},{label}" if data else label
        try:
            sys.mount(source or m.type, target, m.type, flags, data)
        except PermissionError:
            if m.type != "sysfs":
                raise
            sys.mount("/sys", target, None, c.MS_BIND | c.MS_REC)

    def _remount(self, target: str, flags: int) -> None:
        flags |= c.MS_REMOUNT | c.MS_BIND
        try:
            sys.mount(None, target, None, flags)
        except PermissionError:
            # In a user namespace the kernel refuses to clear locked flags;
            # keep the ones the mount already has, as runc does.
            have = os.statvfs(target).f_flag
            for st, ms in ST_LOCKED:
                if have & st:
                    flags |= ms
            sys.mount(None, target, None, flags)

    def _mount_cgroup(self, m: Mount) -> None:
        """cgroup v2: a cgroup2 mount (ns-scoped); v1/hybrid: tmpfs + a bind of
        each hierarchy's container directory, as runc does."""
        ro = m.flags & c.MS_RDONLY
        locked = c.MS_NOSUID | c.MS_NOEXEC | c.MS_NODEV
        dest = m.destination.rstrip("/")
        fd = paths.make_target(self.rootfd, dest, True)
        try:
            target = paths.fd_path(fd)
            if set(self.cgroup_paths) <= {""}:
                if "cgroup" in self.cfg.namespaces or not self.cgroup_paths:
                    sys.mount("cgroup2", target, "cgroup2", locked | ro)
                else:
                    self._bind_ro(self.cgroup_paths[""], fd, dest, ro)
                return
            sys.mount("tmpfs", target, "tmpfs", locked, "mode=755")
            for name, host in sorted(self.cgroup_paths.items()):
                # hierarchy keys: "" is the unified mount, "name=systemd" a named one
                sub = dest + "/" + (name.partition("=")[2] or name or "unified")
                subfd = paths.mkdir_all(self.rootfd, sub)
                try:
                    self._bind_ro(host, subfd, sub, ro)
                finally:
                    os.close(subfd)
            if ro:
                with self._on_top(dest, fd) as top:
                    self._remount(top, locked | c.MS_RDONLY)
        finally:
            os.close(fd)

    def _bind_ro(self, host: str, fd: int, dest: str, ro: int) -> None:
        sys.mount(host, paths.fd_path(fd), None, c.MS_BIND | c.MS_REC)
        with self._on_top(dest, fd, os.stat(host)) as top:
            self._remount(top, c.MS_BIND | c.MS_NOSUID | c.MS_NOEXEC | c.MS_NODEV | ro)

    # --- /dev ---------------------------------------------------------------
    def devices(self) -> None:
        # The defaults replace whatever the image has there (as runc's do);
        # a linux.devices entry must not silently replace another file.
        wanted = [(p, t, ma, mi, 0o666, 0, 0, False) for p, t, ma, mi in DEFAULT_DEVICES]
        for d in self.cfg.devices:
            wanted.append((d["path"], d["type"], d.get("major", 0), d.get("minor", 0),
                           d.get("fileMode", 0o666), d.get("uid", 0), d.get("gid", 0), True))
        for dev in wanted:
            self._device(*dev)
        devfd = paths.mkdir_all(self.rootfd, "/dev")
        try:
            dirfd = paths.sys.openat2(devfd, ".", os.O_RDONLY | os.O_DIRECTORY, paths.RESOLVE)
            try:
                for src, name in DEV_SYMLINKS + (("pts/ptmx", "/dev/ptmx"),):
                    try:
                        os.symlink(src, os.path.basename(name), dir_fd=dirfd)
                    except FileExistsError:
                        pass
            finally:
                os.close(dirfd)
        finally:
            os.close(devfd)

    def _device(self, path: str, kind: str, major: int, minor: int, mode: int, uid: int, gid: int,
                strict: bool) -> None:
        parent, name = os.path.split(path)
        pfd = paths.mkdir_all(self.rootfd, parent)
        try:
            dirfd = paths.sys.openat2(pfd, ".", os.O_RDONLY | os.O_DIRECTORY, paths.RESOLVE)
        finally:
            os.close(pfd)
        try:
            if strict and self._same_node(dirfd, name, path, kind, major, minor):
                os.chmod(name, mode & 0o7777, dir_fd=dirfd, follow_symlinks=False)
                os.chown(name, uid, gid, dir_fd=dirfd, follow_symlinks=False)
                return
            self._make_node(dirfd, name, path, kind, major, minor, mode, uid, gid)
        finally:
            os.close(dirfd)

    @staticmethod
    def _same_node(dirfd: int, name: str, path: str, kind: str, major: int, minor: int) -> bool:
        """True if the node is already there; False if nothing is; an error
        for any other file (config-linux.md: a mismatch MUST fail)."""
        try:
            st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        fmt = stat.S_IFIFO if kind == "p" else stat.S_IFBLK if kind == "b" else stat.S_IFCHR
        if stat.S_IFMT(st.st_mode) == fmt and (kind == "p" or st.st_rdev == os.makedev(major, minor)):
            return True
        what = f"a {kind} {major}:{minor} device" if kind != "p" else "a fifo"
        raise OcirtError(f"linux.devices: {path} already exists in the rootfs and is not {what}: "
                         f"remove it from the image or choose another path")

    def _make_node(self, dirfd: int, name: str, path: str, kind: str, major: int, minor: int,
                   mode: int, uid: int, gid: int) -> None:
        fmt = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}[kind]
        try:
            os.unlink(name, dir_fd=dirfd)
        except FileNotFoundError:
            pass
        except IsADirectoryError:
            raise OcirtError(f"linux.devices: {path} is a directory in the rootfs") from None
        except OSError as e:
            # EBUSY: a bundle mount sits on the node's path (e.g. a bind on /dev/null)
            why = "a mount in config.json covers it; remove that mount" if e.errno == errno.EBUSY else e.strerror
            raise OcirtError(f"linux.devices: cannot replace {path}: {why}") from None
        try:
            if self.in_userns:
                raise PermissionError
            os.mknod(name, fmt | (mode & 0o7777), os.makedev(major, minor), dir_fd=dirfd)
            os.chmod(name, mode & 0o7777, dir_fd=dirfd, follow_symlinks=False)
            os.chown(name, uid, gid, dir_fd=dirfd, follow_symlinks=False)
        except PermissionError:
            # No mknod in a user namespace: bind the host's node instead.
            os.close(os.open(name, os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dirfd))
            fd = sys.openat2(dirfd, name, os.O_PATH, paths.RESOLVE)
            try:
                sys.mount(path, paths.fd_path(fd), None, c.MS_BIND)
            except OSError as e:
                raise OcirtError(f"linux.devices: cannot bind {path} from the host: {e.strerror}") from None
            finally:
                os.close(fd)
        except OSError as e:
            raise OcirtError(f"linux.devices: cannot create {path}: {e.strerror}") from None

    # --- after the hooks ----------------------------------------------------
    def pivot(self, no_pivot: bool) -> None:
        os.fchdir(self.rootfd)
        if no_pivot:
            sys.mount(".", "/", None, c.MS_MOVE)
            os.chroot(".")
        else:
            # pivot_root(".", ".") stacks the old root on top of the new one;
            # detaching it then leaves only the container's tree.  The old
            # root is made rslave first (its unmounts must not reach the
            # host) through an fd of it: "." from the new root's directory
            # would name the new root, and MS_REC would turn the container's
            # shared mounts (a "shared" mount option) into private ones.
            oldroot = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                sys.pivot_root(".", ".")
                os.fchdir(oldroot)
            finally:
                os.close(oldroot)
            sys.mount(None, ".", None, c.MS_SLAVE | c.MS_REC)
            sys.umount2(".", c.MNT_DETACH)
        os.chdir("/")
        os.close(self.rootfd)
        self.rootfd = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)

    def finish(self) -> None:
        cfg = self.cfg
        if cfg.readonly_root:
            self._remount("/", c.MS_BIND | c.MS_RDONLY)
        if cfg.rootfs_propagation:
            from .config.mountopts import PROPAGATION

            sys.mount(None, "/", None, PROPAGATION[cfg.rootfs_propagation])
        os.close(self.rootfd)

    def _sysctl(self, key: str, value: str) -> None:
        path = "/proc/sys/" + key.replace(".", "/")
        try:
            fd = paths.open_in_root(self.rootfd, path, os.O_WRONLY)
        except OSError as e:
            raise OcirtError(f"linux.sysctl[{key!r}]: cannot set to {value!r}: {e.strerror}") from None
        try:
            # a tmpfs or host directory mounted over /proc would take the
            # write silently (and a host file would be overwritten)
            kind = paths.fs_type(fd)
            if kind != "proc":
                raise OcirtError(f"linux.sysctl[{key!r}]: {path} is on {kind}, not procfs: "
                                 "a mount hides the container's /proc; remove it")
            os.write(fd, value.encode())
        except OSError as e:
            raise OcirtError(f"linux.sysctl[{key!r}]: cannot set to {value!r}: {e.strerror}") from None
        finally:
            os.close(fd)

    def _readonly(self, path: str) -> None:
        try:
            fd = paths.open_in_root(self.rootfd, path)
        except FileNotFoundError:
            return
        try:
            target = paths.fd_path(fd)
            sys.mount(target, target, None, c.MS_BIND | c.MS_REC)
            with self._on_top(path, fd, os.fstat(fd)) as top:
                self._remount(top, c.MS_BIND | c.MS_RDONLY | c.MS_NOSUID | c.MS_NODEV | c.MS_NOEXEC)
        except OSError as e:
            raise OcirtError(f"linux.readonlyPaths: {path}: {e.strerror}") from None
        finally:
            os.close(fd)

    def _mask(self, path: str) -> None:
        try:
            fd = paths.open_in_root(self.rootfd, path)
        except (FileNotFoundError, NotADirectoryError):
            return
        try:
            target = paths.fd_path(fd)
            if stat.S_ISDIR(os.fstat(fd).st_mode):
                sys.mount("tmpfs", target, "tmpfs", c.MS_RDONLY, "size=0k")
            else:
                sys.mount(paths.fd_path(self.devnull), target, None, c.MS_BIND)
        except OSError as e:
            raise OcirtError(f"linux.maskedPaths: {path}: {e.strerror}") from None
        finally:
            os.close(fd)
