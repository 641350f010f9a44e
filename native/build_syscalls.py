"""cffi builder for ocirt._native: the system calls Python's os module lacks.

setup.py lists this file in cffi_modules; native/build_inplace.py builds
it into the source tree for tests and development.
"""
import os

import cffi

HERE = os.path.dirname(os.path.abspath(__file__))

ffibuilder = cffi.FFI()
with open(os.path.join(HERE, "syscalls.h")) as header:
    ffibuilder.cdef(header.read())
with open(os.path.join(HERE, "syscalls.c")) as source:
    ffibuilder.set_source("ocirt._native", source.read())
