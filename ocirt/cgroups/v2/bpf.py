"""The few bpf(2) commands the v2 devices controller needs, called through
cffi in ABI mode (libc's syscall(), no C compiler at build or run time).

Imported only when a v2 cgroup gets device rules, so cffi's import cost is
not paid by other commands.
"""

from __future__ import annotations

import os
import struct

from ocirt.errors import OcirtError

BPF_PROG_LOAD = 5
BPF_PROG_ATTACH = 8
BPF_PROG_DETACH = 9
BPF_PROG_GET_FD_BY_ID = 13
BPF_PROG_QUERY = 16
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6
BPF_F_ALLOW_MULTI = 2
SYS_BPF = {"x86_64": 321, "aarch64": 280, "ppc64le": 361, "s390x": 351, "riscv64": 280}
LOG_SIZE = 1 << 16

_cffi: tuple = ()


def _ffi_lib() -> tuple:
    global _cffi
    if not _cffi:
        import cffi
        ffi = cffi.FFI()
        ffi.cdef("long syscall(long number, ...);")
        _cffi = (ffi, ffi.dlopen(None))
    return _cffi


def _syscall(cmd: int, attr: bytearray) -> int:
    ffi, lib = _ffi_lib()
    nr = SYS_BPF.get(os.uname().machine)
    if nr is None:
        raise OcirtError(f"cgroup: bpf(2) number unknown on {os.uname().machine}")
    buf = ffi.from_buffer(attr)
    ret = lib.syscall(ffi.cast("long", nr), ffi.cast("long", cmd), ffi.cast("void *", buf),
                      ffi.cast("unsigned int", len(attr)))
    if ret < 0:
        err = ffi.errno
        raise OSError(err, os.strerror(err))
    return ret


def _addr(data: bytes | bytearray) -> tuple[int, object]:
    """Address of a buffer, plus the cdata that keeps it alive."""
    ffi = _ffi_lib()[0]
    cdata = ffi.from_buffer(data)
    return int(ffi.cast("uintptr_t", cdata)), cdata


def load_device_program(insns: bytes) -> int:
    license_ = b"Apache\0"
    ins_addr, ins_keep = _addr(insns)
    lic_addr, lic_keep = _addr(license_)
    attr = _load_attr(insns, ins_addr, lic_addr, 0, 0)
    try:
        return _syscall(BPF_PROG_LOAD, attr)
    except OSError as e:
        log = bytearray(LOG_SIZE)
        log_addr, log_keep = _addr(log)
        try:
            _syscall(BPF_PROG_LOAD, _load_attr(insns, ins_addr, lic_addr, log_addr, 1))
        except OSError:
            pass
        text = bytes(log).split(b"\0", 1)[0].decode(errors="replace").strip()
        del ins_keep, lic_keep, log_keep
        raise OcirtError(f"cgroup: loading the devices eBPF program: {e.strerror}"
                         + (f" (verifier: {text})" if text else "")) from None


def _load_attr(insns: bytes, ins_addr: int, lic_addr: int, log_addr: int, level: int) -> bytearray:
    name = b"ocirt_dev"
    return bytearray(struct.pack("<IIQQIIQII16sII", BPF_PROG_TYPE_CGROUP_DEVICE, len(insns) // 8,
                                 ins_addr, lic_addr, level, LOG_SIZE if level else 0, log_addr,
                                 0, 0, name, 0, 0))


def attached_programs(cgroup_fd: int) -> list[int]:
    """Ids of the device programs attached directly to this cgroup."""
    ids = bytearray(4 * 64)
    ids_addr, keep = _addr(ids)
    attr = bytearray(struct.pack("<IIIIQI4x", cgroup_fd, BPF_CGROUP_DEVICE, 0, 0, ids_addr, 64))
    _syscall(BPF_PROG_QUERY, attr)
    count = struct.unpack_from("<I", attr, 24)[0]
    del keep
    return list(struct.unpack_from(f"<{count}I", ids))


def _prog_fd(prog_id: int) -> int:
    return _syscall(BPF_PROG_GET_FD_BY_ID, bytearray(struct.pack("<III", prog_id, 0, 0)))


def _attach(cmd: int, cgroup_fd: int, prog_fd: int, flags: int) -> None:
    _syscall(cmd, bytearray(struct.pack("<IIIII4x", cgroup_fd, prog_fd, BPF_CGROUP_DEVICE, flags, 0)))


def replace_device_program(cgroup_dir: str, insns: bytes) -> None:
    """Attach the new program first, then detach the old ones, so there is
    no moment without device filtering."""
    dir_fd = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        old = attached_programs(dir_fd)
        prog_fd = load_device_program(insns)
        try:
            _attach(BPF_PROG_ATTACH, dir_fd, prog_fd, BPF_F_ALLOW_MULTI)
        finally:
            os.close(prog_fd)
        for prog_id in old:
            fd = _prog_fd(prog_id)
            try:
                _attach(BPF_PROG_DETACH, dir_fd, fd, 0)
            finally:
                os.close(fd)
    except OSError as e:
        raise OcirtError(f"cgroup: attaching the devices eBPF program to {cgroup_dir}: "
                         f"{e.strerror}") from None
    finally:
        os.close(dir_fd)
