"""The runtime ↔ container-init handshake: one protocol, named messages.

Runtime and init talk over a SOCK_SEQPACKET socketpair (one datagram per
message, JSON {"type": NAME, ...}).  The sequence for create:

  init → runtime   NS_READY     init unshared its user namespace (if any)
  runtime → init   NS_MAPPED    id maps written, cgroup joined: go on
  init → runtime   INIT_PID     {"pid": host pid of the container's pid 1}
  runtime → init   NET_READY    only with linux.netDevices: the host devices
                                are in the init's network namespace (before
                                its sysctls, which may name them)
  init → runtime   RUN_HOOKS    mounts done, before pivot_root: run
                                prestart/createRuntime hooks now
  runtime → init   HOOKS_DONE
  init → runtime   CREATED      everything is ready; init waits for start
  either way       ERROR        {"msg": ...} and the sender gives up

start talks to the waiting init over state-dir/start.sock (SOCK_SEQPACKET):
  start → init     START
  init → start     ERROR {"msg"} if the exec failed; otherwise the socket
                   closes on exec (CLOEXEC), which means "started".
exec uses the same socketpair messages EXEC_PID and ERROR.
"""
from __future__ import annotations

import os

from . import jsonio as json

from .errors import OcirtError, describe
from .linux.unixsock import Socket

NS_READY = "NS_READY"
NS_MAPPED = "NS_MAPPED"
INIT_PID = "INIT_PID"
NET_READY = "NET_READY"
EXEC_PID = "EXEC_PID"
RUN_HOOKS = "RUN_HOOKS"
HOOKS_DONE = "HOOKS_DONE"
CREATED = "CREATED"
START = "START"
ERROR = "ERROR"


def send(sock: Socket, kind: str, **fields) -> None:
    fields["type"] = kind
    sock.send(json.dumps(fields).encode())


def recv(sock: Socket) -> dict | None:
    """Next message, or None when the peer closed the socket."""
    data = sock.recv(65536)
    if not data:
        return None
    return json.loads(data)


def give_up(sock: Socket, err: BaseException) -> None:
    """The forked side's only way out on error: report ERROR, exit. Never returns."""
    try:
        send(sock, ERROR, msg=describe(err))
    except OSError:
        pass
    os._exit(1)


def expect(sock: Socket, kind: str, peer: str = "container init") -> dict:
    """Receive a message of the given type; turn ERROR or EOF into OcirtError."""
    msg = recv(sock)
    if msg is None:
        raise OcirtError(f"{peer} exited unexpectedly while waiting for {kind}")
    if msg["type"] == ERROR:
        raise OcirtError(msg.get("msg", "unknown error"))
    if msg["type"] != kind:
        raise OcirtError(f"protocol error: expected {kind} from {peer}, got {msg['type']}")
    return msg
