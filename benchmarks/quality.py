"""Code quality: code bytes per uop and instructions executed per example trace, refjit against
CPython's stencils, as ratios.

For every example trace and ISA: the executor's code bytes (shim + every uop + _FATAL_ERROR, as
linked), bytes per uop, and the instructions the machine executes running it to its end. With
``--stencils HEADER ...`` (jit_stencils-<triple>.h of a CPython 3.14.7 JIT build) the same trace
is linked from CPython's stencils and run too, and refjit/CPython ratios are printed (below 1.00:
refjit emits or executes less). Both runs must end with the same Outcome as the reference
semantics, or the row is marked.

    .venv/bin/python benchmarks/quality.py [examples/*.trace ...] [--stencils HEADER ... [--per-uop]]
"""

from __future__ import annotations

import argparse
import pathlib
import sys

from refjit.compile import ARCHES, compile_groups, shim_group
from refjit.demo import run_on_machine
from refjit.errors import RefjitError
from refjit.profile import load_profile
from refjit.scenario import build_scenario
from refjit.semantics import run_scenario
from refjit.stencils import read_header
from refjit.trace import load_trace

ROOT = pathlib.Path(__file__).resolve().parent.parent


def measure(path: str, arch: str, source, reference) -> tuple[int, int, int, bool]:
    """(code bytes, uops, instructions executed, agrees with the semantics)."""
    profile = load_profile("3.14", arch)
    sc = build_scenario(load_trace(path, profile), profile)
    names = [u.name for uops in (sc.executors or {0: sc.uops}).values() for u in uops]
    if source is None:
        groups, shim = compile_groups(arch, names), shim_group(arch)
    else:
        groups, shim = source.groups, source.shim
    main = [u.name for u in sc.uops]
    code = shim.code_size + sum(groups[n].code_size for n in [*main, "_FATAL_ERROR"])
    outcome, _ = run_on_machine(sc, groups, shim)
    return code, len(main), outcome.instructions or 0, outcome == reference


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stencils", nargs="+", default=[], metavar="HEADER",
                    help="CPython jit_stencils-<triple>.h headers to compare with")
    ap.add_argument("--per-uop", action="store_true",
                    help="with --stencils: also every uop of the traces, refjit's code bytes against "
                         "the stencil's, largest excess first")
    ap.add_argument("traces", nargs="*", help="trace files (default: examples/*.trace)")
    args = ap.parse_args(argv)
    paths = args.traces or [str(p) for p in sorted((ROOT / "examples").glob("*.trace"))]
    headers = {}
    for path in args.stencils:
        h = read_header(path)
        if h.arch in headers:
            raise RefjitError(f"two headers for {h.arch}: {headers[h.arch].path} and {path}")
        headers[h.arch] = h
    print("code bytes: the running executor's shim + uops + _FATAL_ERROR; instructions: executed to the end")
    print("ratio: refjit / CPython (below 1.00: refjit smaller or faster); "
          "* = Outcome differs from the semantics\n")
    head = f"{'trace':<26} {'ISA':<8} {'uops':>5} {'refjit B':>9} {'B/uop':>6} {'instrs':>9}"
    if headers:
        head += f" {'CPython B':>9} {'B/uop':>6} {'instrs':>9} {'bytes':>6} {'instrs':>6}"
    print(head)
    totals: dict[str, list[int]] = {}
    for path in paths:
        name = pathlib.Path(path).name
        for arch in ARCHES:
            profile = load_profile("3.14", arch)
            reference = run_scenario(build_scenario(load_trace(path, profile), profile))
            code, n, instrs, ok = measure(path, arch, None, reference)
            line = f"{name:<26} {arch:<8} {n:>5} {code:>9} {code / n:>6.1f} {instrs:>9}{'' if ok else '*'}"
            t = totals.setdefault(arch, [0, 0, 0, 0, 0])
            t[0] += n
            t[1] += code
            t[2] += instrs
            if arch in headers:
                c_code, _, c_instrs, c_ok = measure(path, arch, headers[arch], reference)
                line += (f" {c_code:>9} {c_code / n:>6.1f} {c_instrs:>9}{'' if c_ok else '*'}"
                         f" {code / c_code:>6.2f} {instrs / c_instrs if c_instrs else 0:>6.2f}")
                t[3] += c_code
                t[4] += c_instrs
            print(line)
    print()
    for arch, (n, code, instrs, c_code, c_instrs) in totals.items():
        line = f"{'all traces':<26} {arch:<8} {n:>5} {code:>9} {code / n:>6.1f} {instrs:>9}"
        if c_code:
            line += (f" {c_code:>9} {c_code / n:>6.1f} {c_instrs:>9}"
                     f" {code / c_code:>6.2f} {instrs / c_instrs:>6.2f}")
        print(line)
    if args.per_uop and headers:
        per_uop(paths, headers)
    return 0


def per_uop(paths: list[str], headers) -> None:
    """Code bytes of every uop the traces use, refjit against the stencil, per ISA."""
    names: set[str] = set()
    for path in paths:
        trace = load_trace(path, load_profile("3.14", ARCHES[0]))
        names |= {u.name for sec in trace.sections() for u in sec.uops}
    for arch in [a for a in ARCHES if a in headers]:
        header = headers[arch]
        groups = compile_groups(arch, names)
        rows = sorted(((groups[n].code_size - header.groups[n].code_size, n) for n in names
                       if n in header.groups), reverse=True)
        print(f"\n{arch}: code bytes per uop, refjit vs CPython (excess = refjit - CPython)")
        print(f"{'uop':<32} {'refjit':>7} {'CPython':>7} {'excess':>7}")
        for excess, n in rows:
            print(f"{n:<32} {groups[n].code_size:>7} {header.groups[n].code_size:>7} {excess:>+7}")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RefjitError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
