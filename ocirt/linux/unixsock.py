"""Unix sockets through the C _socket module.

The stdlib socket module pulls in enum, selectors and friends (~10 ms on
every CLI call); the runtime only needs a few calls, so it uses _socket.
"""
from __future__ import annotations

import _socket
from sys import byteorder  # the stdlib sys, not ocirt.linux.sys
import os

AF_UNIX = _socket.AF_UNIX
SOCK_SEQPACKET = _socket.SOCK_SEQPACKET
SOCK_STREAM = _socket.SOCK_STREAM
SOL_SOCKET = _socket.SOL_SOCKET
SCM_RIGHTS = _socket.SCM_RIGHTS
Socket = _socket.socket


def pair() -> tuple[Socket, Socket]:
    a, b = _socket.socketpair(AF_UNIX, SOCK_SEQPACKET | _socket.SOCK_CLOEXEC)
    return a, b


SUN_PATH_MAX = 107  # sockaddr_un.sun_path minus the terminating NUL


def _short(path: str, use):
    """Call use(path), going through /proc/self/fd/<dir> when path is too
    long for sun_path (state dirs under Docker's root exceed 108 bytes)."""
    if len(path.encode()) <= SUN_PATH_MAX:
        return use(path)
    parent, name = os.path.split(path)
    dirfd = os.open(parent or ".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return use(f"/proc/self/fd/{dirfd}/{name}")
    finally:
        os.close(dirfd)


def connect(path: str, kind: int = SOCK_STREAM) -> Socket:
    s = Socket(AF_UNIX, kind | _socket.SOCK_CLOEXEC)
    try:
        _short(path, s.connect)
    except OSError:
        s.close()
        raise
    return s


def listen(path: str, kind: int = SOCK_STREAM) -> Socket:
    s = Socket(AF_UNIX, kind | _socket.SOCK_CLOEXEC)
    try:
        _short(path, s.bind)
    except OSError:
        s.close()
        raise
    s.listen(1)
    return s


def accept(sock: Socket) -> Socket:
    fd, _addr = sock._accept()
    conn = Socket(fileno=fd)
    conn.setblocking(True)
    return conn


# SCM_RIGHTS carries C ints.  Packed by hand: the array module imports
# collections.abc when loaded (~2 ms on every CLI call that passes fds).
_INT = 4


def send_fds(sock: Socket, data: bytes, fds: list[int]) -> None:
    payload = b"".join(fd.to_bytes(_INT, byteorder, signed=True) for fd in fds)
    sock.sendmsg([data], [(SOL_SOCKET, SCM_RIGHTS, payload)])


def recv_fds(sock: Socket, size: int, maxfds: int) -> tuple[bytes, list[int]]:
    data, ancdata, _flags, _addr = sock.recvmsg(size, _socket.CMSG_SPACE(maxfds * _INT))
    fds: list[int] = []
    for level, kind, payload in ancdata:
        if level == SOL_SOCKET and kind == SCM_RIGHTS:
            fds += [int.from_bytes(payload[i:i + _INT], byteorder, signed=True)
                    for i in range(0, len(payload) - len(payload) % _INT, _INT)]
    return data, fds


def detach_to_fd(sock: Socket) -> int:
    """Give up the Python object but keep the descriptor open."""
    fd = sock.detach()
    os.set_inheritable(fd, False)
    return fd
