"""The terminal: a pty made inside the container, handed to whoever asked.

The pty is opened from the container's own /dev/ptmx (its devpts), made the
controlling terminal of the container process, and its master is sent over
--console-socket with SCM_RIGHTS, as runc does.  When ocirt itself is the
caller (run / exec without --console-socket) it relays the master to its
own stdio.
"""
from __future__ import annotations

import fcntl
import os
import struct
import termios

from .errors import OcirtError
from .linux import unixsock

TIOCGPTN = 0x80045430
TIOCSPTLCK = 0x40045431


def open_pty(size: tuple[int, int] | None) -> tuple[int, int, str]:
    """Return (master, slave, slave path) of a new pty from the current root's /dev/ptmx."""
    try:
        master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as e:
        raise OcirtError(f"process.terminal: cannot open /dev/ptmx: {e.strerror} (mount devpts at /dev/pts)") from None
    fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
    num = struct.unpack("i", fcntl.ioctl(master, TIOCGPTN, b"\0" * 4))[0]
    slave = os.open(f"/dev/pts/{num}", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    if size:
        set_size(slave, *size)
    return master, slave, f"/dev/pts/{num}"


def bind_console(pts_path: str) -> None:
    """Make /dev/console the container's terminal, as runc does (bind of the
    pty slave).  Resolved inside the container's root: /dev/console may be a
    symlink planted by the image."""
    from . import paths
    from .linux import constants as c
    from .linux import sys

    root = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fd = paths.make_target(root, "/dev/console", False)
    finally:
        os.close(root)
    try:
        sys.mount(pts_path, paths.fd_path(fd), None, c.MS_BIND)
    except OSError as e:
        raise OcirtError(f"process.terminal: cannot bind {pts_path} on /dev/console: {e.strerror}") from None
    finally:
        os.close(fd)


def set_size(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def make_controlling(slave: int) -> None:
    os.setsid()
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    if slave > 2:
        os.close(slave)


def send_master(sock_fd: int, master: int) -> None:
    sock = unixsock.Socket(fileno=sock_fd)
    try:
        unixsock.send_fds(sock, b"/dev/ptmx", [master])
    finally:
        sock.detach()


def connect_console_socket(path: str) -> int:
    try:
        return unixsock.detach_to_fd(unixsock.connect(path))
    except OSError as e:
        raise OcirtError(f"--console-socket {path}: cannot connect: {e.strerror}") from None


def receive_master(sock: unixsock.Socket) -> int:
    _data, fds = unixsock.recv_fds(sock, 4096, 1)
    if not fds:
        raise OcirtError("container did not send its terminal")
    return fds[0]


def relay(master: int, pid: int) -> None:
    """Copy stdin→master and master→stdout until the container's pty closes;
    keep the window size in sync.  Stdin goes raw while relaying."""
    import select
    import _signal as signal  # not signal: its enums import enum (~5 ms)
    import tty

    stdin_tty = os.isatty(0)
    saved = termios.tcgetattr(0) if stdin_tty else None

    def resize(*_):
        if stdin_tty:
            rows, cols = struct.unpack("HHHH", fcntl.ioctl(0, termios.TIOCGWINSZ, b"\0" * 8))[:2]
            set_size(master, rows, cols)

    try:
        if stdin_tty:
            tty.setraw(0)
            signal.signal(signal.SIGWINCH, resize)
            resize()
        fds = [master, 0]
        while True:
            ready, _, _ = select.select(fds, [], [])
            if master in ready:
                try:
                    data = os.read(master, 65536)
                except OSError:
                    data = b""
                if not data:
                    return
                os.write(1, data)
            if 0 in ready:
                data = os.read(0, 65536)
                if data:
                    os.write(master, data)
                else:
                    fds.remove(0)
    finally:
        if saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)
