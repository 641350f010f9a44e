"""OOM kill notifications.

v1: an eventfd registered through cgroup.event_control for
memory.oom_control; v2: poll() on memory.events, which the kernel flags
(POLLPRI) whenever a counter changes.  Both report how many processes the
OOM killer killed since the previous wait, from the oom_kill counter.
"""

from __future__ import annotations

import os
import select
import time

from ocirt.cgroups import common
from ocirt.errors import OcirtError


class _OomEvents:
    """Counts oom_kill increases; subclasses provide the fd to wait on."""

    def __init__(self, path: str, fd: int) -> None:
        self.path = path
        self.fd = fd
        self.seen = self._count()
        self.poller = select.poll()
        self.poller.register(fd, self._mask())

    def wait(self, timeout: float) -> int:
        """Block up to `timeout` seconds for OOM kills; return how many new
        ones happened (0 on timeout or when the cgroup is gone)."""
        deadline = time.monotonic() + timeout
        while True:
            new = self._count() - self.seen
            if new > 0:
                self.seen += new
                return new
            left = deadline - time.monotonic()
            if left <= 0 or not os.path.isdir(self.path):
                return 0
            # Short slices: a notification racing with the count read is
            # never lost for longer than one slice.
            if self.poller.poll(min(left, 0.5) * 1000):
                self._drain()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _count(self) -> int:
        raise NotImplementedError

    def _mask(self) -> int:
        raise NotImplementedError

    def _drain(self) -> None:
        raise NotImplementedError


class V1OomEvents(_OomEvents):
    def __init__(self, path: str) -> None:
        efd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
        try:
            ofd = os.open(path + "/memory.oom_control", os.O_RDONLY | os.O_CLOEXEC)
            try:
                common.write(path, "cgroup.event_control", f"{efd} {ofd}")
            finally:
                os.close(ofd)  # the kernel keeps its own reference
        except (OSError, OcirtError) as e:
            os.close(efd)
            raise OcirtError(f"cgroup: cannot watch OOM events of {path}: {e}") from None
        super().__init__(path, efd)

    def _count(self) -> int:
        from ocirt.cgroups.v1.memory import oom_kills
        return oom_kills(self.path)

    def _mask(self) -> int:
        return select.POLLIN

    def _drain(self) -> None:
        try:
            os.eventfd_read(self.fd)
        except BlockingIOError:
            pass


class V2OomEvents(_OomEvents):
    def __init__(self, path: str) -> None:
        try:
            fd = os.open(path + "/memory.events", os.O_RDONLY | os.O_CLOEXEC)
        except OSError as e:
            raise OcirtError(f"cgroup: cannot watch OOM events of {path}: {e.strerror}") from None
        super().__init__(path, fd)
        self._drain()

    def _count(self) -> int:
        from ocirt.cgroups.v2.memory import oom_kills
        return oom_kills(self.path)

    def _mask(self) -> int:
        return select.POLLPRI | select.POLLERR

    def _drain(self) -> None:
        # kernfs re-arms the notification once the file has been read
        try:
            os.pread(self.fd, 4096, 0)
        except OSError:
            pass
