"""How fast the reference semantics runs: uops per second on the example traces, and how long
parsing a trace and materialising its scenario take.

    .venv/bin/python benchmarks/semantics.py [--runs 3] [examples/int_sum.trace ...]

Each trace is parsed, materialised in a fresh process and run to its end; the best of ``--runs``
counts. Speed is a property of the implementation, never asserted in a test.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

from refjit.profile import load_profile
from refjit.scenario import build_scenario
from refjit.semantics import Interpreter
from refjit.trace import load_trace
from machine import describe

ROOT = pathlib.Path(__file__).resolve().parent.parent


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("traces", nargs="*")
    args = ap.parse_args(argv)
    paths = args.traces or [str(p) for p in sorted((ROOT / "examples").glob("*.trace"))]
    profile = load_profile("3.14", "x86_64")
    print(f"machine: {describe()}")
    print(f"reference semantics, best of {args.runs}")
    print(f"{'trace':<28} {'uops':>8} {'parse ms':>9} {'setup ms':>9} {'run s':>7} {'uops/s':>10}")
    for path in paths:
        best = None
        for _ in range(args.runs):
            t0 = time.perf_counter()
            trace = load_trace(path, profile)
            t1 = time.perf_counter()
            interp = Interpreter(build_scenario(trace, profile))
            t2 = time.perf_counter()
            interp.run()
            t3 = time.perf_counter()
            sample = (t3 - t2, t1 - t0, t2 - t1, interp.uops_executed)
            best = sample if best is None or sample[0] < best[0] else best
        run, parse, setup, n = best
        print(f"{pathlib.Path(path).name:<28} {n:>8} {parse * 1e3:>9.2f} {setup * 1e3:>9.2f} "
              f"{run:>7.3f} {n / run:>10,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
