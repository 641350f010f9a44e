"""The runc-compatible command-line surface, as plain data.

Each flag: (names, kind, default, help).  kind is "bool", "str", "int" or
"list" (repeatable).  The parser and `--help` are both driven by this table,
so a flag exists in exactly one place.
"""
from __future__ import annotations

Flag = tuple[tuple[str, ...], str, object, str]

GLOBAL: list[Flag] = [
    (("--root",), "str", None, "root directory for container state (default /run/ocirt)"),
    (("--log",), "str", None, "log file (runc format)"),
    (("--log-format",), "str", "text", "log format: text or json"),
    (("--debug",), "bool", False, "debug logging"),
    (("--systemd-cgroup",), "bool", False, "use the systemd cgroup driver (not available)"),
    (("--rootless",), "str", "auto", "rootless mode: true, false or auto"),
    (("--criu",), "str", "criu", "path to criu (accepted for compatibility)"),
    (("--version", "-v"), "bool", False, "print the version"),
    (("--help", "-h"), "bool", False, "show help"),
]

_EXEC_PROCESS: list[Flag] = [
    (("--console-socket",), "str", None, "unix socket receiving the pty master"),
    (("--pid-file",), "str", None, "file to write the process pid to"),
    (("--detach", "-d"), "bool", False, "detach from the process"),
]

COMMANDS: dict[str, tuple[str, str, list[Flag]]] = {
    # name: (positional usage, help, flags)
    "create": ("<container-id>", "create a container", [
        (("--bundle", "-b"), "str", ".", "path to the bundle"),
        (("--console-socket",), "str", None, "unix socket receiving the pty master"),
        (("--pid-file",), "str", None, "file to write the init pid to"),
        (("--no-pivot",), "bool", False, "use MS_MOVE + chroot instead of pivot_root"),
        (("--no-new-keyring",), "bool", False, "keep the caller's session keyring"),
        (("--preserve-fds",), "int", 0, "pass N extra fds (3..3+N-1) to the container"),
    ]),
    "run": ("<container-id>", "create and start a container", [
        (("--bundle", "-b"), "str", ".", "path to the bundle"),
        (("--console-socket",), "str", None, "unix socket receiving the pty master"),
        (("--pid-file",), "str", None, "file to write the init pid to"),
        (("--detach", "-d"), "bool", False, "detach from the container"),
        (("--keep",), "bool", False, "do not delete the container after it exits"),
        (("--no-pivot",), "bool", False, "use MS_MOVE + chroot instead of pivot_root"),
        (("--no-new-keyring",), "bool", False, "keep the caller's session keyring"),
        (("--preserve-fds",), "int", 0, "pass N extra fds to the container"),
    ]),
    "start": ("<container-id>", "start a created container", []),
    "state": ("<container-id>", "print the container's state JSON", []),
    "kill": ("<container-id> [signal]", "send a signal to the container", [
        (("--all", "-a"), "bool", False, "send to every process of the container"),
    ]),
    "delete": ("<container-id>", "delete a container", [
        (("--force", "-f"), "bool", False, "kill a running container first"),
    ]),
    "list": ("", "list containers", [
        (("--format", "-f"), "str", "table", "table or json"),
        (("--quiet", "-q"), "bool", False, "print ids only"),
    ]),
    "spec": ("", "write a default config.json", [
        (("--bundle", "-b"), "str", ".", "bundle directory"),
        (("--rootless",), "bool", False, "a config for an unprivileged user"),
    ]),
    "features": ("", "print the features document", []),
    "exec": ("<container-id> [command...]", "run a process in a container", _EXEC_PROCESS + [
        (("--process", "-p"), "str", None, "process JSON file"),
        (("--tty", "-t"), "bool", False, "allocate a pty"),
        (("--env", "-e"), "list", [], "set an environment variable"),
        (("--cwd",), "str", None, "working directory"),
        (("--user", "-u"), "str", None, "uid[:gid]"),
        (("--additional-gids", "-g"), "list", [], "additional gids"),
        (("--cap", "-c"), "list", [], "add a capability"),
        (("--no-new-privs",), "bool", False, "set no_new_privs"),
        (("--apparmor",), "str", None, "AppArmor profile"),
        (("--process-label",), "str", None, "SELinux label"),
        (("--preserve-fds",), "int", 0, "pass N extra fds"),
        (("--cgroup",), "str", None, "sub-cgroup to join (accepted)"),
        (("--ignore-paused",), "bool", False, "allow exec into a paused container"),
    ]),
    "ps": ("<container-id> [ps options]", "list processes of a container", [
        (("--format", "-f"), "str", "table", "table or json"),
    ]),
    "pause": ("<container-id>", "freeze all processes", []),
    "resume": ("<container-id>", "thaw all processes", []),
    "events": ("<container-id>", "stream stats and OOM events", [
        (("--stats",), "bool", False, "print stats once and exit"),
        (("--interval",), "str", "5s", "stats interval"),
    ]),
    "update": ("<container-id>", "update resource limits", [
        (("--resources", "-r"), "str", None, "resources JSON file, or - for stdin"),
        (("--memory",), "str", None, "memory limit"),
        (("--memory-reservation",), "str", None, "memory soft limit"),
        (("--memory-swap",), "str", None, "memory+swap limit"),
        (("--kernel-memory",), "str", None, "kernel memory limit (ignored)"),
        (("--kernel-memory-tcp",), "str", None, "kernel TCP memory limit (ignored)"),
        (("--cpu-shares",), "str", None, "CPU shares"),
        (("--cpu-quota",), "str", None, "CFS quota"),
        (("--cpu-burst",), "str", None, "CFS burst (cgroup v1 cpu.cfs_burst_us, v2 cpu.max.burst)"),
        (("--cpu-period",), "str", None, "CFS period"),
        (("--cpu-rt-runtime",), "str", None, "realtime runtime"),
        (("--cpu-rt-period",), "str", None, "realtime period"),
        (("--cpuset-cpus",), "str", None, "CPUs"),
        (("--cpuset-mems",), "str", None, "memory nodes"),
        (("--pids-limit",), "str", None, "max pids"),
        (("--blkio-weight",), "str", None, "block IO weight"),
        (("--l3-cache-schema",), "str", None, "intel RDT (not supported)"),
        (("--mem-bw-schema",), "str", None, "intel RDT (not supported)"),
    ]),
}
