"""Terminals: --console-socket receives the pty master (SCM_RIGHTS) for
create and exec; the pty is the process's controlling terminal, sized by
consoleSize and bound on /dev/console; run relays it when no socket is given."""
from __future__ import annotations

import array
import os
import socket
import subprocess
import time

from testlib import OCIRT, STATE_ROOT, read_all


class ConsoleSocket:
    def __init__(self, path: str) -> None:
        self.path = path
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(path)
        self.server.listen(1)
        self.server.settimeout(15)

    def receive_master(self) -> int:
        conn, _ = self.server.accept()
        fds = array.array("i")
        _msg, anc, _flags, _addr = conn.recvmsg(1024, socket.CMSG_SPACE(fds.itemsize))
        conn.close()
        for level, kind, data in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(data[: fds.itemsize])
        assert fds, "no fd received"
        return fds[0]

    def close(self) -> None:
        self.server.close()


def test_console_socket_create_start(ocirt, bundle, tmp_path):
    bundle.config["process"]["terminal"] = True
    bundle.config["process"]["consoleSize"] = {"height": 33, "width": 111}
    bundle.sh("tty; stty size; ls -l /dev/console | cut -c1; readlink /proc/self/fd/0")
    sock = ConsoleSocket(str(tmp_path / "console.sock"))
    cid = ocirt.new_id()
    try:
        proc = subprocess.Popen([OCIRT, "--root", STATE_ROOT, "create", "--console-socket", sock.path,
                                 "-b", str(bundle.path), cid], stdin=subprocess.DEVNULL)
        master = sock.receive_master()
        assert proc.wait(timeout=30) == 0
        assert ocirt("start", cid).returncode == 0
        out = read_all(master).replace("\r", "").split("\n")
        os.close(master)
    finally:
        sock.close()
    assert out[0] == "/dev/pts/0"
    assert out[1] == "33 111"
    assert out[2] == "c"
    assert out[3] == "/dev/pts/0"
    time.sleep(0.2)
    assert ocirt("delete", "-f", cid).returncode == 0


def test_exec_tty_with_console_socket(ocirt, bundle, tmp_path):
    bundle.args("sleep", "60")
    cid = ocirt.new_id()
    assert ocirt("run", "-d", "-b", str(bundle.path), cid).returncode == 0
    sock = ConsoleSocket(str(tmp_path / "exec.sock"))
    try:
        proc = subprocess.Popen([OCIRT, "--root", STATE_ROOT, "exec", "-t", "--console-socket", sock.path,
                                 cid, "sh", "-c", "tty; exit 5"], stdin=subprocess.DEVNULL)
        master = sock.receive_master()
        out = read_all(master)
        assert proc.wait(timeout=30) == 5
        os.close(master)
    finally:
        sock.close()
    assert out.strip().startswith("/dev/pts/")
    assert ocirt("delete", "-f", cid).returncode == 0


def test_run_relays_terminal(ocirt, bundle):
    bundle.config["process"]["terminal"] = True
    r = ocirt.run(bundle.sh("tty; echo relayed; exit 4"))
    assert r.returncode == 4, r
    assert "/dev/pts/0" in r.stdout and "relayed" in r.stdout


def test_detached_terminal_needs_console_socket(ocirt, bundle):
    bundle.config["process"]["terminal"] = True
    r = ocirt.run(bundle, "-d")
    assert r.returncode != 0 and "console socket" in r.stderr
