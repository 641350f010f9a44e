"""`python3 -m bench`: side-by-side runtime benchmark."""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import cases, machine, proc, report, runtimes
from bench.bundle import build_bundles, find_busybox
from bench.harness import Case, Context, Results, run_case

# ocirt-distro (ocirt under Debian's /usr/bin/python3) is skipped, with a
# note, where its venv cannot be made.
DEFAULT_RUNTIMES = "ocirt,ocirt-distro,runc,crun"
LIST_N = (100, 1000)  # (quick, full)
# Upper bound assumed for a parked container before the memory case measured it.
ASSUMED_PARKED_MIB = 16.0
PREAMBLE = """# Performance

Side-by-side numbers for ocirt (under the default python3 and under Debian's
/usr/bin/python3), runc and crun, produced by `python3 -m bench` (see
bench/README.md for what each case measures and how).
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python3 -m bench", description=__doc__)
    ap.add_argument("--runtimes", default=DEFAULT_RUNTIMES,
                    help="comma list; the first is compared to the others, and so is "
                         "a variant of it (ocirt-distro for ocirt) to the non-variants "
                         "(default %(default)s)")
    ap.add_argument("--quick", action="store_true",
                    help="fewer iterations, list with 100 (< 2 min)")
    ap.add_argument("--out", type=Path, help="write the report here (e.g. docs/performance.md)")
    ap.add_argument("--cases", help="comma list of case keys to run (default: all); "
                    "keys: version,state,run,cycle,exec,kill,seccomp,mounts,mem,tput,list")
    ap.add_argument("--iterations", type=int,
                    help="override every case's iteration count (no warm-up)")
    ap.add_argument("--list-n", type=int, help="containers for the list case")
    ap.add_argument("--references", type=int,
                    help="iterations of the reference commands "
                         "(0: skip; default 10 quick, 30 full)")
    ap.add_argument("--crun-wrapper", choices=("nsenter", "unshare"), default="nsenter",
                    help="how crun escapes a hybrid cgroup layout (default %(default)s)")
    ap.add_argument("--ocirt-from", choices=("build", "checkout", "installed"), default="build",
                    help="build: pip-install this checkout into the temp dir (as shipped); "
                         "checkout: run the tree as is; installed: the pip-installed "
                         "launcher (default %(default)s; $OCIRT_BIN overrides all; "
                         "ocirt-distro is always built)")
    ap.add_argument("--nice", type=int, default=0,
                    help="niceness increment for the harness and all it runs (e.g. -10 on a "
                         "shared machine: other load then disturbs every runtime less)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir with bundles")
    return ap.parse_args(argv)


def all_cases(quick: bool, list_n: int) -> list[tuple[str, Case]]:
    """(selector, case) in the order they run and appear in the table."""
    return [
        ("version", cases.VersionCase()),
        ("state", cases.StateCase()),
        ("run", cases.RunCase("true", "run /bin/true")),
        ("cycle", cases.LifecycleCase()),
        ("exec", cases.ExecCase()),
        ("kill", cases.KillDeleteCase()),
        ("seccomp", cases.RunCase("seccomp", "run /bin/true, ~300-rule seccomp profile")),
        ("mounts", cases.RunCase("mounts", "run /bin/true, 20 extra mounts (10 bind + 10 tmpfs)")),
        ("mem", cases.MemoryCase()),
        ("tput", cases.ThroughputCase(10)),
        *([] if quick else [("tput", cases.ThroughputCase(50))]),
        ("list", cases.ListCase(list_n)),
    ]


def select_cases(spec: str | None, quick: bool, list_n: int) -> list[Case]:
    wanted = set(spec.split(",")) if spec else None
    return [case for sel, case in all_cases(quick, list_n) if wanted is None or sel in wanted]


def reference_iterations(args: argparse.Namespace) -> int:
    if args.references is not None:
        return args.references
    if args.iterations is not None:
        return max(3, args.iterations)
    return 6 if args.quick else 30


def command_line(argv: list[str] | None) -> str:
    return "python3 -m bench " + " ".join(argv if argv is not None else sys.argv[1:])


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def resolve_runtimes(names: list[str], results_notes: list[str],
                     holder: runtimes.MountNamespaceHolder | None,
                     ocirt_source: str, workdir: Path) -> list[runtimes.Runtime]:
    install_dir = None
    if "ocirt" in names and ocirt_source == "build":
        install_dir = private_install(workdir, results_notes)
        ocirt_source = "build" if install_dir else "checkout"
    distro = distro_install(workdir, results_notes) if runtimes.DISTRO in names else None
    found = []
    for name in names:
        rt = runtimes.resolve(name, holder, ocirt_source, install_dir, distro)
        if rt is not None:
            found.append(rt)
        elif name != runtimes.DISTRO:  # distro_install has said why
            results_notes.append(f"{name}: not installed, skipped")
            log(f"bench: {name} not found, skipped")
    return found


def prepare(found: list[runtimes.Runtime], workdir: Path, quick: bool) -> Context:
    rts, bundles = [], {}
    for rt in found:
        base = workdir / rt.name
        (base / "root").mkdir(parents=True)
        rts.append(rt.with_root(base / "root"))
        bundles[rt.name] = build_bundles(base)
    return Context(rts, bundles, runtimes.bench_env(), workdir, quick)


def mem_available_mib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    return 0.0


def capped_list_n(wanted: int, results: Results) -> int:
    """Keep all runtimes' parked containers within half of the free memory.

    Cost per container: the init's anonymous RSS (file pages are shared
    between instances) plus whatever other process the runtime parks.
    """
    per_container = 0.0
    for rt in results.runtimes:
        anon, other = results.stats("mem.init_anon", rt), results.stats("mem.other", rt)
        per_container += (anon[0] if anon else ASSUMED_PARKED_MIB) + (other[0] if other else 0)
    fits = int(mem_available_mib() * 0.5 / max(per_container, 1.0))
    if fits < wanted:
        results.notes.append(f"list: N lowered from {wanted} to {fits} (memory: "
                             f"~{per_container:.1f} MiB per container set)")
    return min(wanted, fits)


def sweep(ctx: Context) -> None:
    """Force-delete whatever a failed case left in each runtime's roots."""
    for rt in ctx.runtimes:
        for root in (Path(rt.root), ctx.workdir / rt.name / "list-root"):
            if root.is_dir():
                for entry in root.iterdir():
                    if entry.is_dir():
                        ctx.try_run(rt.with_root(root), "delete", "--force", entry.name)
    proc.reap_orphans()


def run_all(args: argparse.Namespace, ctx: Context, results: Results) -> None:
    list_n = args.list_n or (LIST_N[0] if args.quick else LIST_N[1])
    if args.quick:
        results.notes.append("quick mode: fewer iterations, no 50-concurrent case, "
                             "list with 100 containers at most")
    for case in select_cases(args.cases, args.quick, list_n):
        if isinstance(case, cases.ListCase):
            case = cases.ListCase(capped_list_n(case.n, results))
        log(f"bench: {case.title} ...")
        started = time.monotonic()
        run_case(case, ctx, results, args.iterations, log)
        log(f"  ({time.monotonic() - started:.0f} s)")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if os.geteuid() != 0:
        log("bench: must run as root (runtimes need namespaces and cgroups)")
        return 2
    proc.become_subreaper()
    if args.nice:
        os.nice(args.nice)  # inherited by every runtime call, so all runtimes alike
    names = args.runtimes.split(",")
    holder = make_holder(args, names)
    try:
        return measure(args, argv, names, holder)
    finally:
        if holder is not None:
            holder.stop()


def private_install(workdir: Path, notes: list[str]) -> Path | None:
    try:
        return runtimes.build_private_install(workdir / "ocirt-install")
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        notes.append(f"ocirt: could not build this checkout ({exc}); ran it unbuilt")
        log(f"bench: {exc}")
        return None


def distro_install(workdir: Path, notes: list[str]) -> runtimes.DistroInstall | None:
    """The venv and build for ocirt-distro; None (and a note) where it cannot be made."""
    log(f"bench: building {runtimes.DISTRO} (a venv of {runtimes.DISTRO_PYTHON}) ...")
    try:
        return runtimes.build_distro_install(workdir)
    except (OSError, runtimes.Unavailable, subprocess.SubprocessError) as exc:
        notes.append(f"{runtimes.DISTRO}: skipped: {exc}")
        log(f"bench: {runtimes.DISTRO} skipped: {exc}")
        return None


def describe_runtime(rt: runtimes.Runtime, env: dict[str, str]) -> str:
    """Version row of the machine table: what, how started, under which interpreter."""
    text = f"{runtimes.version(rt, env)} — run as `{runtimes.describe_command(rt)}`"
    return text + (f" under {runtimes.interpreter_info(rt.python)}" if rt.python else "")


def make_holder(args: argparse.Namespace, names: list[str]
                ) -> runtimes.MountNamespaceHolder | None:
    wanted = "crun" in names and args.crun_wrapper == "nsenter"
    return runtimes.MountNamespaceHolder() if wanted and runtimes.is_hybrid_cgroup() else None


def measure(args: argparse.Namespace, argv: list[str] | None, names: list[str],
            holder: runtimes.MountNamespaceHolder | None) -> int:
    notes: list[str] = []
    workdir = Path(tempfile.mkdtemp(prefix="ocirt-bench-"))
    found = resolve_runtimes(names, notes, holder, args.ocirt_from, workdir)
    if not found:
        log("bench: no runtime to measure")
        shutil.rmtree(workdir, ignore_errors=True)
        return 2
    proc.use_helper(proc.build_helper(workdir))
    if not proc.helper_in_use():
        notes.append("no C compiler: times taken by the harness itself, peak RSS not measured")
    ctx = prepare(found, workdir, args.quick)
    results = Results([rt.name for rt in ctx.runtimes])
    results.notes += notes + [f"{rt.name}: {rt.note}" for rt in ctx.runtimes if rt.note]
    started, load_at_start = time.monotonic(), os.getloadavg()
    try:
        versions = {rt.name: describe_runtime(rt, ctx.env) for rt in ctx.runtimes}
        refs = machine.measure_references(reference_iterations(args), holder)
        run_all(args, ctx, results)
    finally:
        sweep(ctx)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    results.notes.append(f"total bench time {time.monotonic() - started:.0f} s")
    text = report.render(results, machine.describe(versions, str(find_busybox()), load_at_start),
                         refs, command_line(argv))
    print(text)
    if args.out:
        report.write(args.out, text, PREAMBLE)
    return 0
