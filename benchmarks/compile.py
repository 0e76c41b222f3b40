"""Compile speed: uops lowered, encoded and linked per second, per ISA (pure Python).

Every executor of every example trace is compiled as a JIT would compile it: each uop lowered to
LIR (refjit.lower), selected and encoded by the ISA's backend into a stencil-compatible group
(refjit.compile), and the trace linked as Python/jit.c links it (refjit.link). Four ways:

* cold: every uop instance is lowered and encoded afresh (``lower_uop`` without its cache), as a
  JIT without a group cache would; the encoders keep their tables of instruction bytes (a memo of
  a pure function of form and operands) from one compilation to the next, as a JIT process would;
* first: the same, for the very first compilation of the process, with those tables (and every
  other first-use look-up, such as a profile's field offsets) still empty;
* per trace: each distinct uop of a trace is lowered and encoded once for that trace (a cache
  that lives as long as one compilation);
* cached: groups come from the per-(uop, ISA) cache, as CPython's stencils come from its header;
  only the link (copy and patch) is per trace.

The cold row also says where the time goes (LIR, instruction selection + encoding, link). The
best of ``--runs`` counts. Two rates: by the wall clock (the sum of the timed stages), and by the
process's CPU time over the whole run, which on a shared machine does not count the time other
processes had the core; it also counts the benchmark's own few steps per uop (and, in the first
row, importing the backend), so on an idle machine it reads a little lower than the wall-clock
rate. The issue aims at 20,000 uops/s.

    .venv/bin/python benchmarks/compile.py [--runs 5] [examples/*.trace ...]
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

from refjit.compile import ARCHES, _backend, compile_groups, lower_lir, shim_group
from refjit.headerwriter import build_group
from refjit.link import Instruction, link
from refjit.errors import RefjitError
from refjit.profile import load_profile
from refjit.scenario import build_scenario
from refjit.trace import load_trace
from machine import describe

ROOT = pathlib.Path(__file__).resolve().parent.parent


def executors(paths: list[str], arch: str):
    """(instructions, executor address, jit base, resolver) for every executor with uops."""
    profile = load_profile("3.14", arch)
    out = []
    for path in paths:
        sc = build_scenario(load_trace(path, profile), profile)
        p = sc.process
        for address, uops in (sc.executors or {sc.executor: sc.uops}).items():
            trace = [Instruction(u.name, u.oparg, u.operand0, u.operand1, u.target,
                                 u.jump_target, u.error_target) for u in uops]
            out.append((trace, address, p.regions["jit"].base, p.stub_address))
    return out


def compile_cold(arch: str, work, per_trace: bool = False) -> tuple[float, float, float]:
    """Seconds in LIR lowering, in selection + encoding + packing, and in linking."""
    isel = _backend(arch)
    t_lir = t_enc = t_link = 0.0
    for trace, executor, base, resolve in work:
        groups = {}
        for ins in [*trace, Instruction("_FATAL_ERROR")]:
            if per_trace and ins.name in groups:
                continue
            t0 = time.perf_counter()
            fn = lower_lir(ins.name, arch)
            t1 = time.perf_counter()
            code = isel.select(fn)
            groups[ins.name] = build_group(ins.name, arch, code.code, code.relocs, code.data,
                                           code.data_labels)
            t2 = time.perf_counter()
            t_lir += t1 - t0
            t_enc += t2 - t1
        t0 = time.perf_counter()
        link(trace, groups, shim_group(arch), arch=arch, executor=executor, base=base, resolve=resolve)
        t_link += time.perf_counter() - t0
    return t_lir, t_enc, t_link


def compile_cached(arch: str, work) -> float:
    t0 = time.perf_counter()
    for trace, executor, base, resolve in work:
        groups = compile_groups(arch, [ins.name for ins in trace])
        link(trace, groups, shim_group(arch), arch=arch, executor=executor, base=base, resolve=resolve)
    return time.perf_counter() - t0


def with_cpu(run, *args):
    """(run's result, the CPU seconds it took): read once around the whole run, since reading
    the CPU clock costs far more than the wall clock's perf_counter."""
    c0 = time.process_time()
    result = run(*args)
    return result, time.process_time() - c0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5, help="runs per row; the best counts")
    ap.add_argument("traces", nargs="*", help="trace files (default: examples/*.trace)")
    args = ap.parse_args(argv)
    paths = args.traces or [str(p) for p in sorted((ROOT / "examples").glob("*.trace"))]
    print(f"machine: {describe()}")
    print(f"{len(paths)} trace files; best of {args.runs} runs\n")
    print(f"{'ISA':<8} {'mode':<9} {'executors':>9} {'uops':>6} {'seconds':>9} {'uops/s':>9} "
          f"{'CPU uops/s':>10}   where the time goes")
    for arch in ARCHES:
        work = executors(paths, arch)
        n = sum(len(trace) for trace, *_ in work)
        # The very first compilation of the process: the encoders' tables of instruction bytes
        # (memos of a pure function of form and operands) are still empty.
        first, cpu = with_cpu(compile_cold, arch, work)
        print(f"{arch:<8} {'first':<9} {len(work):>9} {n:>6} {sum(first):>9.4f} {n / sum(first):>9,.0f} "
              f"{n / cpu:>10,.0f}   the first cold compilation of the process (empty tables)")
        compile_cached(arch, work)  # fills the group cache
        for mode, per_trace in (("cold", False), ("per trace", True)):
            runs = [with_cpu(compile_cold, arch, work, per_trace) for _ in range(args.runs)]
            best = min((stages for stages, _ in runs), key=sum)
            cpu = min(c for _, c in runs)
            total = sum(best)
            split = ", ".join(f"{what} {100 * t / total:.0f}%" for what, t in
                              zip(("LIR", "isel+encode", "link"), best))
            print(f"{arch:<8} {mode:<9} {len(work):>9} {n:>6} {total:>9.4f} {n / total:>9,.0f} "
                  f"{n / cpu:>10,.0f}   {split}")
        runs = [with_cpu(compile_cached, arch, work) for _ in range(args.runs)]
        cached, cpu = min(t for t, _ in runs), min(c for _, c in runs)
        print(f"{arch:<8} {'cached':<9} {len(work):>9} {n:>6} {cached:>9.4f} {n / cached:>9,.0f} "
              f"{n / cpu:>10,.0f}   link only")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RefjitError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
