"""Fixtures for every test: defined in testlib (see its docstring for why)."""
from testlib import base_rootfs, bundle, ocirt, state_root_cleanup  # noqa: F401
