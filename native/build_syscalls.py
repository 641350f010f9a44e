"""cffi builder for ocirt._native: the system calls Python's os module lacks.

setup.py lists this file in cffi_modules; `python3 native/build_syscalls.py`
builds it in place for development.
"""
import os
import shutil

import cffi

HERE = os.path.dirname(os.path.abspath(__file__))

ffibuilder = cffi.FFI()
with open(os.path.join(HERE, "syscalls.h")) as header:
    ffibuilder.cdef(header.read())
with open(os.path.join(HERE, "syscalls.c")) as source:
    ffibuilder.set_source("ocirt._native", source.read())

if __name__ == "__main__":
    built = ffibuilder.compile(tmpdir=os.path.join(HERE, "..", "build", "native"))
    shutil.copy(built, os.path.join(HERE, "..", "ocirt"))
