"""The container's network namespace: a new one gets its loopback up, and the
host interfaces of linux.netDevices are moved into it.

One ioctl brings lo up.  pyroute2 would be the library for netlink, but its
import costs ~1.3 s on this machine, longer than a hundred `ocirt run`s, so
the few rtnetlink requests netDevices needs are packed here by hand.
"""
from __future__ import annotations

import _socket
import fcntl
import os
import struct

SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1


def loopback_up() -> None:
    s = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM | _socket.SOCK_CLOEXEC)
    try:
        req = struct.pack("16sh14x", b"lo", 0)
        flags = struct.unpack("16sh14x", fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, req))[1]
        if not flags & IFF_UP:
            fcntl.ioctl(s.fileno(), SIOCSIFFLAGS, struct.pack("16sh14x", b"lo", flags | IFF_UP))
    finally:
        s.close()


# --- rtnetlink (linux/netlink.h, linux/rtnetlink.h, linux/if_link.h, linux/if_addr.h)
NETLINK_ROUTE = 0
RTM_NEWLINK, RTM_GETLINK, RTM_NEWADDR, RTM_GETADDR = 16, 18, 20, 22
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE, NLM_F_DUMP = 0x1, 0x4, 0x200, 0x400, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
IFLA_IFNAME, IFLA_NET_NS_FD = 3, 28
IFA_ADDRESS, IFA_LOCAL, IFA_BROADCAST, IFA_FLAGS = 1, 2, 4, 8
IFA_F_NODAD, IFA_F_PERMANENT, IFA_F_NOPREFIXROUTE = 0x02, 0x80, 0x200
RT_SCOPE_UNIVERSE = 0
NLMSGHDR = struct.Struct("=IHHII")    # len, type, flags, seq, pid
IFINFOMSG = struct.Struct("=BxHiII")  # family, type, index, flags, change
IFADDRMSG = struct.Struct("=BBBBI")   # family, prefixlen, flags, scope, index
RTATTR = struct.Struct("=HH")         # len, type
CLONE_NEWNET = 0x40000000


def _attr(kind: int, payload: bytes) -> bytes:
    raw = RTATTR.pack(RTATTR.size + len(payload), kind) + payload
    return raw + b"\0" * (-len(raw) % 4)


def _attrs(data: bytes) -> dict[int, bytes]:
    out = {}
    while len(data) >= RTATTR.size:
        length, kind = RTATTR.unpack_from(data)
        if length < RTATTR.size:
            break
        out[kind & 0x3FFF] = data[RTATTR.size:length]  # without NLA_F_NESTED/NET_BYTEORDER
        data = data[(length + 3) & ~3:]
    return out


def _name(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode()


class _Netlink:
    """A NETLINK_ROUTE socket bound in the network namespace it was created in."""

    def __init__(self) -> None:
        self.sock = _socket.socket(_socket.AF_NETLINK, _socket.SOCK_RAW | _socket.SOCK_CLOEXEC,
                                   NETLINK_ROUTE)
        self.sock.bind((0, 0))
        self.seq = 0

    def close(self) -> None:
        self.sock.close()

    def _send(self, kind: int, flags: int, body: bytes) -> int:
        self.seq += 1
        self.sock.send(NLMSGHDR.pack(NLMSGHDR.size + len(body), kind, flags | NLM_F_REQUEST,
                                     self.seq, 0) + body)
        return self.seq

    def _replies(self, seq: int):
        """(type, payload) of each reply to seq; raises OSError for an error reply."""
        while True:
            data = self.sock.recv(65536)
            while len(data) >= NLMSGHDR.size:
                length, kind, _flags, rseq, _pid = NLMSGHDR.unpack_from(data)
                payload, data = data[NLMSGHDR.size:length], data[(length + 3) & ~3:]
                if rseq != seq:
                    continue
                if kind == NLMSG_DONE:
                    return
                if kind == NLMSG_ERROR:
                    err = -struct.unpack_from("=i", payload)[0]
                    if err:
                        raise OSError(err, os.strerror(err))
                    return  # the ACK
                yield kind, payload

    def call(self, kind: int, body: bytes, flags: int = 0) -> None:
        for _ in self._replies(self._send(kind, flags | NLM_F_ACK, body)):
            pass

    def dump(self, kind: int, body: bytes) -> list[bytes]:
        return [p for _k, p in self._replies(self._send(kind, NLM_F_DUMP, body))]

    def links(self) -> dict[str, int]:
        """Interface name -> index."""
        out = {}
        for p in self.dump(RTM_GETLINK, IFINFOMSG.pack(0, 0, 0, 0, 0)):
            index = IFINFOMSG.unpack_from(p)[2]
            out[_name(_attrs(p[IFINFOMSG.size:]).get(IFLA_IFNAME, b""))] = index
        return out

    def addresses(self, index: int) -> list[tuple[tuple, dict[int, bytes]]]:
        """(ifaddrmsg fields, attributes) of each address on the interface."""
        out = []
        for p in self.dump(RTM_GETADDR, IFADDRMSG.pack(0, 0, 0, 0, 0)):
            head = IFADDRMSG.unpack_from(p)
            if head[4] == index:
                out.append((head, _attrs(p[IFADDRMSG.size:])))
        return out


def _in_netns(ns_fd: int) -> _Netlink:
    """A netlink socket in the namespace of ns_fd: it stays bound there after
    this process returns to its own (the runtime is single-threaded)."""
    from .linux import sys

    own = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        sys.setns(ns_fd, CLONE_NEWNET)
        try:
            return _Netlink()
        finally:
            sys.setns(own, CLONE_NEWNET)
    finally:
        os.close(own)


def _kept(head: tuple, attrs: dict[int, bytes]) -> bool:
    """The addresses the spec moves along: permanent ones of global scope."""
    flags = struct.unpack("=I", attrs[IFA_FLAGS])[0] if IFA_FLAGS in attrs else head[2]
    return bool(flags & IFA_F_PERMANENT) and head[3] == RT_SCOPE_UNIVERSE


def _free_name(template: str, taken: set[str]) -> str:
    """The name the kernel would give a '%d' template: the lowest free number."""
    i = 0
    while template.replace("%d", str(i), 1) in taken:
        i += 1
    return template.replace("%d", str(i), 1)


def _targets(devices: dict[str, dict], host: dict[str, int], taken: set[str]) -> dict[str, str]:
    """Host name -> name in the container, checked before anything moves."""
    from .errors import OcirtError

    out = {}
    for name, dev in devices.items():
        where = f"linux.netDevices[{name!r}]"
        if name not in host:
            raise OcirtError(f"{where}: the runtime's network namespace has no interface {name!r}; "
                             "create it before the container or remove the entry")
        target = (dev or {}).get("name") or name
        if "%d" in target:
            target = _free_name(target, taken)
        elif target in taken:
            raise OcirtError(f"{where}: the container's network namespace already has an interface "
                             f"named {target!r}; set another name (or a template such as 'eth%d')")
        taken.add(target)
        out[name] = target
    return out


def move_devices(pid: int, devices: dict[str, dict]) -> None:
    """Move each host interface of linux.netDevices into the network namespace
    of pid, renamed if asked, with its permanent global addresses, and up.

    Nothing is moved back later: when the namespace goes, the kernel returns
    physical devices to the host and destroys virtual ones (the spec's rule)."""
    if not devices:
        return
    from .errors import OcirtError

    try:
        ns_fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise OcirtError(f"linux.netDevices: cannot reach the container's network namespace "
                         f"(its init exited?): {e.strerror}") from None
    host, ct = _Netlink(), None
    try:
        ct = _in_netns(ns_fd)
        host_links = host.links()
        for name, target in _targets(devices, host_links, set(ct.links())).items():
            where = f"linux.netDevices[{name!r}]"
            index = host_links[name]
            try:
                addrs = [a for a in host.addresses(index) if _kept(*a)]
                # rename and move in one request: the name is never visible twice
                host.call(RTM_NEWLINK, IFINFOMSG.pack(0, 0, index, 0, 0)
                          + _attr(IFLA_NET_NS_FD, struct.pack("=I", ns_fd))
                          + _attr(IFLA_IFNAME, target.encode() + b"\0"))
            except OSError as e:
                raise OcirtError(f"{where}: cannot move {name!r} into the container's network "
                                 f"namespace: {e.strerror}") from None
            try:
                _configure(ct, ct.links().get(target, 0), addrs)  # 0: ENODEV below
            except OSError as e:
                raise OcirtError(f"{where}: cannot configure {target!r} in the container's network "
                                 f"namespace: {e.strerror}") from None
    finally:
        host.close()
        if ct is not None:
            ct.close()
        os.close(ns_fd)


def _configure(ct: _Netlink, index: int, addrs: list[tuple[tuple, dict[int, bytes]]]) -> None:
    """Put back the addresses the move dropped, then bring the interface up."""
    for (family, prefixlen, flags, scope, _idx), attrs in addrs:
        keep = (struct.unpack("=I", attrs[IFA_FLAGS])[0] if IFA_FLAGS in attrs else flags) \
            & (IFA_F_NODAD | IFA_F_NOPREFIXROUTE)
        body = IFADDRMSG.pack(family, prefixlen, keep & 0xFF, scope, index)
        for kind in (IFA_LOCAL, IFA_ADDRESS, IFA_BROADCAST):
            if kind in attrs:
                body += _attr(kind, attrs[kind])
        body += _attr(IFA_FLAGS, struct.pack("=I", keep))
        ct.call(RTM_NEWADDR, body, NLM_F_CREATE | NLM_F_EXCL)
    ct.call(RTM_NEWLINK, IFINFOMSG.pack(0, 0, index, IFF_UP, IFF_UP))
