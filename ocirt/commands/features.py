"""The runtime-spec features document (features.md): what ocirt can do here."""
from __future__ import annotations

import sys

from .. import SPEC_VERSION, __version__
from .. import jsonio as json
from ..capabilities import NAMES
from ..config.model import NS_FLAGS
from ..config.mountopts import FLAGS, IDMAP, PROPAGATION, RECURSIVE, RECURSIVE_ATIME, TMPCOPYUP
from ..hooks import HOOK_STAGES
from ..process import MPOL_FLAGS, MPOL_MODES


def _optional(module: str) -> dict | None:
    """A section from a module that may be unavailable (e.g. no libseccomp)."""
    try:
        from importlib import import_module

        return import_module(f"ocirt.{module}").features()
    except (ImportError, OSError):
        return None


def _mount_options() -> list[str]:
    """Every mounts[].options name ocirt applies itself (anything else goes to
    the filesystem as data), with runc's tmpcopyup."""
    return sorted(set(FLAGS) | set(PROPAGATION) | set(RECURSIVE) | set(RECURSIVE_ATIME) | set(IDMAP)
                  | {TMPCOPYUP})


def document() -> dict:
    linux = {
        "namespaces": sorted(NS_FLAGS),
        # every name config.json may use, whether or not this kernel knows it
        # (features.md: the document is about the runtime, not the host)
        "capabilities": list(NAMES),
        "cgroup": _optional("cgroups") or {"v1": False, "v2": False, "systemd": False, "systemdUser": False},
        "seccomp": _optional("seccomp") or {"enabled": False},
        "apparmor": {"enabled": True},
        "selinux": {"enabled": True},
        "intelRdt": {"enabled": False},
        "mountExtensions": {"idmap": {"enabled": True}},
        "netDevices": {"enabled": True},
        "memoryPolicy": {"modes": sorted(MPOL_MODES), "flags": sorted(MPOL_FLAGS)},
    }
    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": SPEC_VERSION,
        "hooks": list(HOOK_STAGES),
        "mountOptions": _mount_options(),
        "linux": linux,
        "annotations": {"io.github.ocirt.version": __version__},
    }


def main(ctx, parsed) -> int:
    sys.stdout.write(json.dumps(document(), indent=4) + "\n")
    return 0
