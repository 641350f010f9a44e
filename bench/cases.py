"""The measured scenarios.

Times are wall milliseconds of one CLI call, spawn to reap, as seen by a
caller (containerd-shim, podman) would see them.  `rss.*` metrics are the
ru_maxrss of that call (peak RSS of the CLI process and of the children it
reaped itself).
"""
from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench import proc
from bench.harness import Case, Context, Metric
from bench.memory import parked_memory
from bench.runtimes import Runtime

KIB_PER_MIB = 1024.0


def _time_and_rss(key: str, label: str) -> list[Metric]:
    return [Metric(key, label, "ms"), Metric(f"cpu.{key}", label, "cpu ms"),
            Metric(f"rss.{key}", f"peak RSS of `{label}`", "MiB")]


def _sample_of(key: str, res: proc.Result) -> dict[str, float]:
    values = {key: res.wall_ms}
    if res.maxrss_kib is not None:
        values[f"rss.{key}"] = res.maxrss_kib / KIB_PER_MIB
    if res.cpu_ms is not None:
        values[f"cpu.{key}"] = res.cpu_ms
    return values


def start_sleeper(ctx: Context, rt: Runtime) -> str:
    """A running `sleep 1000` container (untimed), returning its id."""
    cid = ctx.new_id(rt)
    ctx.run(rt, "create", "--bundle", str(ctx.bundles[rt.name].sleep), cid)
    ctx.run(rt, "start", cid)
    return cid


class VersionCase(Case):
    key, title = "version", "--version"
    iterations = (8, 40)

    def metrics(self) -> list[Metric]:
        return _time_and_rss("version", "--version")

    def sample(self, ctx: Context, rt: Runtime) -> dict[str, float]:
        res = proc.run(rt.bare("--version"), env=ctx.env).check()
        return _sample_of("version", res)


class _SleeperCase(Case):
    """Shared setup: one running sleep container per runtime."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: dict[str, str] = {}

    def setup(self, ctx: Context, rt: Runtime) -> None:
        self.ids[rt.name] = start_sleeper(ctx, rt)

    def teardown(self, ctx: Context, rt: Runtime) -> None:
        if rt.name in self.ids:
            ctx.try_run(rt, "delete", "--force", self.ids.pop(rt.name))


class StateCase(_SleeperCase):
    key, title = "state", "state (running container)"
    iterations = (8, 40)

    def metrics(self) -> list[Metric]:
        return _time_and_rss("state", "state")

    def sample(self, ctx: Context, rt: Runtime) -> dict[str, float]:
        return _sample_of("state", ctx.run(rt, "state", self.ids[rt.name]))


class ExecCase(_SleeperCase):
    key, title = "exec", "exec /bin/true into a running container"
    iterations = (3, 25)

    def metrics(self) -> list[Metric]:
        return _time_and_rss("exec", "exec true")

    def sample(self, ctx: Context, rt: Runtime) -> dict[str, float]:
        return _sample_of("exec", ctx.run(rt, "exec", self.ids[rt.name], "/bin/true"))


class RunCase(Case):
    """`run` of /bin/true in the foreground: create+start+wait+delete in one call."""
    iterations = (3, 30)

    def __init__(self, variant: str, label: str) -> None:
        super().__init__()
        self.variant = variant
        self.key = f"run.{variant}"
        self.title = label

    def metrics(self) -> list[Metric]:
        return _time_and_rss(self.key, self.title)

    def sample(self, ctx: Context, rt: Runtime) -> dict[str, float]:
        bundle = getattr(ctx.bundles[rt.name], self.variant)
        cid = ctx.new_id(rt)
        res = proc.run(rt.argv("run", "--bundle", str(bundle), cid), env=ctx.env)
        if not res.ok:
            ctx.try_run(rt, "delete", "--force", cid)
            res.check()
        return _sample_of(self.key, res)


class LifecycleCase(Case):
    """youki's loop: create && start && delete -f, on a /bin/true bundle.

    /bin/true exits right after `start` returns, so `delete` usually finds
    a stopped container; --force covers the race where it has not exited
    yet, which is exactly what the published loop does too.
    """
    key, title = "cycle", "create + start + delete -f"
    iterations = (3, 30)

    def metrics(self) -> list[Metric]:
        steps = [("create", "create"), ("start", "start"), ("delete", "delete -f")]
        out = [Metric("cycle", "create + start + delete -f (sum)", "ms")]
        for key, label in steps:
            out += _time_and_rss(f"cycle.{key}", label)
        return out

    def sample(self, ctx: Context, rt: Runtime) -> dict[str, float]:
        cid = ctx.new_id(rt)
        bundle = str(ctx.bundles[rt.name].true)
        try:
            create = ctx.run(rt, "create", "--bundle", bundle, cid)
            start = ctx.run(rt, "start", cid)
            delete = ctx.run(rt, "delete", "--force", cid)
        except proc.CmdError:
            ctx.try_run(rt, "delete", "--force", cid)
            raise
        values = {"cycle": create.wall_ms + start.wall_ms + delete.wall_ms}
        for key, res in (("create", create), ("start", start), ("delete", delete)):
            values.update(_sample_of(f"cycle.{key}", res))
        return values


class KillDeleteCase(Case):
    key, title = "kill", "kill KILL + delete (running sleep container)"
    iterations = (3, 20)

    def metrics(self) -> list[Metric]:
        return [Metric("kill.total", "kill KILL + delete (sum)", "ms"),
                *_time_and_rss("kill.kill", "kill KILL"),
                *_time_and_rss("kill.delete", "delete after kill")]

    def sample(self, ctx: Context, rt: Runtime) -> dict[str, float]:
        cid = start_sleeper(ctx, rt)
        try:
            kill = ctx.run(rt, "kill", cid, "KILL")
            delete = ctx.run(rt, "delete", "--force", cid)
        except proc.CmdError:
            ctx.try_run(rt, "delete", "--force", cid)
            raise
        return {"kill.total": kill.wall_ms + delete.wall_ms,
                **_sample_of("kill.kill", kill), **_sample_of("kill.delete", delete)}


class MemoryCase(Case):
    """What a created-but-not-started container costs while it waits."""
    key, title = "mem", "memory of a created container"
    iterations = (2, 10)

    def metrics(self) -> list[Metric]:
        return [Metric("mem.init", "created container: init VmRSS", "MiB"),
                Metric("mem.init_anon", "created container: init RssAnon", "MiB"),
                Metric("mem.other", "created container: other parked processes VmRSS", "MiB"),
                Metric("mem.other_count", "created container: other parked processes (count)", "")]

    def sample(self, ctx: Context, rt: Runtime) -> dict[str, float]:
        cid = ctx.new_id(rt)
        before = set(os.listdir("/proc"))
        try:
            ctx.run(rt, "create", "--bundle", str(ctx.bundles[rt.name].true), cid)
            pid = state_pid(ctx, rt, cid)
            return parked_memory(pid, before, cid, rt.root)
        finally:
            ctx.try_run(rt, "delete", "--force", cid)


def state_pid(ctx: Context, rt: Runtime, cid: str) -> int:
    return int(json.loads(ctx.run(rt, "state", cid).stdout)["pid"])


class ThroughputCase(Case):
    """N concurrent `run /bin/true` (each = create+start+wait+delete)."""
    iterations = (2, 5)
    warmup = 0

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n
        self.key = f"tput.{n}"
        self.title = f"{n} concurrent lifecycles (`run true`), wall"

    def metrics(self) -> list[Metric]:
        return [Metric(self.key, self.title, "ms")]

    def sample(self, ctx: Context, rt: Runtime) -> dict[str, float]:
        bundle = str(ctx.bundles[rt.name].true)
        ids = [ctx.new_id(rt) for _ in range(self.n)]
        spawned = [proc.spawn(rt.argv("run", "--bundle", bundle, cid), ctx.env, measured=False)
                   for cid in ids]
        results = [proc.wait(sp) for sp in spawned]
        wall_ms = (time.perf_counter_ns() - spawned[0].t0_ns) / 1e6
        failed = [r for r in results if not r.ok]
        if failed:
            for cid in ids:
                ctx.try_run(rt, "delete", "--force", cid)
            raise proc.CmdError(f"{len(failed)}/{self.n} failed; "
                                + proc.describe_failure(failed[0]))
        return {self.key: wall_ms}


class ListCase(Case):
    """`list` over N created-not-started containers in a root of their own.

    The containers are real (runc needs a live init to report a state), made
    untimed by a small worker pool; all runtimes' sets exist at once so the
    alternating `list` calls see the same machine.  Creation stops at a time
    budget; every runtime is then trimmed to the smallest count reached, so
    all of them list the same number of containers.
    """
    key = "list"
    iterations = (3, 10)
    budget_s = (10.0, 60.0)
    setup_budget_s = (15.0, 120.0)  # per runtime (quick, full)
    workers = 4

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = self.count = n
        self.target = n  # lowered once a runtime runs out of creation budget
        self.title = self._title()
        self.made: dict[str, list[str]] = {}
        self.roots: dict[str, Runtime] = {}

    def _title(self) -> str:
        return f"list with {self.count} containers"

    def metrics(self) -> list[Metric]:
        return _time_and_rss(self.key, self.title)

    def _root(self, ctx: Context, rt: Runtime) -> Runtime:
        path = Path(ctx.workdir) / rt.name / "list-root"
        path.mkdir(parents=True, exist_ok=True)
        return rt.with_root(path)

    def setup(self, ctx: Context, rt: Runtime) -> None:
        lrt = self.roots[rt.name] = self._root(ctx, rt)
        bundle = str(ctx.bundles[rt.name].sleep)
        deadline = time.monotonic() + self.setup_budget_s[0 if ctx.quick else 1]

        def create(cid: str) -> proc.Result | None:
            if time.monotonic() > deadline:
                return None
            return proc.run(lrt.argv("create", "--bundle", bundle, cid), env=ctx.env)
        made = self.made[rt.name] = []
        failures = []
        # No point making more than an earlier runtime managed: all get trimmed.
        ids = [ctx.new_id(rt) for _ in range(self.target)]
        with ThreadPoolExecutor(self.workers) as pool:
            for cid, res in zip(ids, pool.map(create, ids), strict=True):
                if res is not None and res.ok:
                    made.append(cid)
                elif res is not None:
                    failures.append(proc.describe_failure(res))
        if failures:
            self.notes.append(f"{rt.name}: {len(failures)} of {len(ids)} creates failed, "
                              f"first: {failures[0]}")
        if time.monotonic() > deadline:
            self.target = min(self.target, len(made))
        if len(made) < max(1, self.n // 10):
            raise proc.CmdError(f"only {len(made)}/{self.n} containers created")

    def after_setup(self, ctx: Context, live: list[Runtime]) -> None:
        if not live:
            return
        self.count = min(len(self.made[rt.name]) for rt in live)
        self.title = self._title()
        for rt in live:
            extra = self.made[rt.name][self.count:]
            del self.made[rt.name][self.count:]
            self._delete(ctx, rt, extra)
        made_note = (f"{self.count} per runtime made within the creation budget"
                     if self.count < self.n else "all made")
        self.notes.append(f"{self.n} created-not-started `sleep` containers asked "
                          f"({'quick' if ctx.quick else 'full'} mode); {made_note}")

    def sample(self, ctx: Context, rt: Runtime) -> dict[str, float]:
        res = ctx.run(self.roots[rt.name], "list")
        return _sample_of(self.key, res)

    def _delete(self, ctx: Context, rt: Runtime, ids: list[str]) -> None:
        lrt = self.roots[rt.name]
        with ThreadPoolExecutor(self.workers) as pool:
            list(pool.map(lambda cid: ctx.try_run(lrt, "delete", "--force", cid), ids))

    def teardown(self, ctx: Context, rt: Runtime) -> None:
        if rt.name in self.roots:
            self._delete(ctx, rt, self.made.pop(rt.name, []))
