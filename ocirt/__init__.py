"""ocirt: an OCI runtime-spec compliant low-level container runtime."""

__version__ = "0.2.0"
SPEC_VERSION = "1.3.0"
