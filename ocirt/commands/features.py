"""The runtime-spec features document (features.md): what ocirt can do here."""
from __future__ import annotations

from .. import jsonio as json
import sys

from .. import SPEC_VERSION, __version__
from ..capabilities import NAMES, last_cap
from ..config.model import NS_FLAGS
from ..config.mountopts import FLAGS, PROPAGATION


def _optional(module: str) -> dict | None:
    """A section from a module that may be unavailable (e.g. no libseccomp)."""
    try:
        from importlib import import_module

        return import_module(f"ocirt.{module}").features()
    except (ImportError, OSError):
        return None


def document() -> dict:
    linux = {
        "namespaces": sorted(NS_FLAGS),
        "capabilities": list(NAMES[: last_cap() + 1]),
        "cgroup": _optional("cgroups") or {"v1": False, "v2": False, "systemd": False, "systemdUser": False},
        "seccomp": _optional("seccomp") or {"enabled": False},
        "apparmor": {"enabled": True},
        "selinux": {"enabled": True},
        "intelRdt": {"enabled": False},
        "mountExtensions": {"idmap": {"enabled": False}},
    }
    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": SPEC_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": sorted(set(FLAGS) | set(PROPAGATION) | {"rro"}),
        "linux": linux,
        "annotations": {"io.github.ocirt.version": __version__},
    }


def main(ctx, parsed) -> int:
    sys.stdout.write(json.dumps(document(), indent=4) + "\n")
    return 0
