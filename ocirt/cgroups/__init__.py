"""Container cgroups: v1, v2 and hybrid hosts, no systemd.

    m = new_manager(linux.cgroupsPath, container_id, rootless)
    m.create(linux.resources, linux.devices); m.add_pid(pid); ... m.destroy()
    state = m.to_state(); later: load_manager(state)

The per-version managers and the controller modules are imported on first
use, so importing this package costs only `os`.
"""

from __future__ import annotations

from ocirt.cgroups import common


def _mode(mounts: list) -> str:
    """'v1', 'hybrid' or 'v2'.  Any v1 controller mount means the controllers
    live in v1; a cgroup2 mount next to them makes it hybrid."""
    from ocirt.cgroups.v1 import SUBSYSTEMS
    has_v2 = any(m[2] == "cgroup2" for m in mounts)
    has_v1 = any(m[2] == "cgroup" and set(m[3].split(",")) & SUBSYSTEMS.keys() - {"name=systemd"}
                 for m in mounts)
    if has_v1:
        return "hybrid" if has_v2 else "v1"
    if has_v2:
        return "v2"
    from ocirt.errors import OcirtError
    raise OcirtError("cgroup: no cgroup file system is mounted (see /proc/self/mountinfo); "
                     "mount cgroup2 on /sys/fs/cgroup")


def inner_path(cgroups_path: str | None, container_id: str) -> str:
    """runc's rule: the cleaned linux.cgroupsPath, or, when it is not set, a
    cgroup named after the container below the runtime's own cgroup."""
    if "\0" in (cgroups_path or "") + container_id:
        from ocirt.errors import ConfigError
        raise ConfigError("cgroup: invalid linux.cgroupsPath or container id: it contains a NUL byte")
    inner = common.clean_path(cgroups_path or "")
    if inner in ("", "/"):
        inner = common.clean_path(container_id)
    if not inner:
        from ocirt.errors import ConfigError
        raise ConfigError(f"cgroup: invalid container id {container_id!r} for a cgroup name")
    return inner


def new_manager(cgroups_path: str | None, container_id: str, rootless: bool = False):
    inner = inner_path(cgroups_path, container_id)
    mounts = common.mountinfo()
    own = common.own_cgroups()
    mode = _mode(mounts)
    if mode == "v2":
        from ocirt.cgroups.v2 import V2Manager
        root, mnt, _, _ = next(m for m in mounts if m[2] == "cgroup2")
        return V2Manager({"": common.place(inner, mnt, root, own.get("", "/"))}, {"": mnt}, rootless)
    from ocirt.cgroups.v1 import V1Manager, resolve
    paths, mountpoints = resolve(inner, mounts, own)
    return V1Manager(paths, mountpoints, rootless)


def load_manager(state: dict):
    """Rebuild a manager from to_state() output (a later CLI call)."""
    args = (dict(state["paths"]), dict(state.get("mounts") or {}), state.get("rootless", False),
            list(state.get("created", [])))
    if state.get("version") == 2:
        from ocirt.cgroups.v2 import V2Manager
        return V2Manager(*args)
    from ocirt.cgroups.v1 import V1Manager
    return V1Manager(*args)


def features() -> dict:
    """The features document's linux.cgroup object: what this runtime can
    drive (not what this host has)."""
    return {"v1": True, "v2": True, "systemd": False, "systemdUser": False, "rdma": True}
