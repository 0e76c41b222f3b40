"""How many three-way checks per second: check_trace on the example traces, and where the time goes.

    python benchmarks/check.py [--seconds 2.0] [--stencils DIR]

Each case is one ``check_trace`` call: the reference semantics and refjit's code on x86-64 and on
AArch64 (and CPython's stencils when --stencils names the directory of the real headers). Long
loops are cut to a few iterations (the range iterator's remaining length), so the figure is for
short traces such as the fuzzer's. The breakdown is cProfile's cumulative time of the steps of a
check, as a share of the total.
"""

from __future__ import annotations

import argparse
import cProfile
import glob
import os
import pstats
import time

from refjit.check import check_trace
from refjit.profile import load_profile
from refjit.stencils import read_header
from refjit.trace import load_trace
from machine import describe

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples")
ITERATIONS = 3
STEPS = [  # (label, function name as cProfile reports it)
    ("build_scenario (reset Process + objects)", "build_scenario"),
    ("snapshot", "snapshot", "process.py"),
    ("restore (incl. reset)", "restore", "process.py"),
    ("semantics", "_run_semantics"),
    ("compile + link", "_link_all"),
    ("machine runs (incl. Outcome)", "_run_machine"),
    ("  of which build_outcome", "build_outcome"),
]


def shorten(sc):
    if "it" in sc.objects:
        it = sc.process.view("_PyRangeIterObject", sc.address_of("it"))
        it.len = min(it.len, ITERATIONS)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--stencils", help="directory holding jit_stencils-<triple>.h of both ISAs")
    args = ap.parse_args()
    profile = load_profile("3.14", "x86_64")
    traces = [load_trace(p, profile) for p in sorted(glob.glob(os.path.join(EXAMPLES, "*.trace")))]
    stencils = {}
    if args.stencils:
        for arch in ("x86_64", "aarch64"):
            found = sorted(glob.glob(os.path.join(args.stencils, f"jit_stencils-{arch}-*.h")))
            if found:
                stencils[arch] = read_header(found[0])
    for t in traces:                     # warm up: compiled groups, machines
        check_trace(t, stencils=stencils, prepare=shorten)

    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < args.seconds:
        report = check_trace(traces[n % len(traces)], stencils=stencils, prepare=shorten)
        if not report.agree:
            raise SystemExit("\n".join(report.lines()))
        n += 1
    elapsed = time.perf_counter() - start
    ways = "semantics + refjit" + (" + stencils" if stencils else "") + ", x86_64 and aarch64"
    print(f"machine: {describe()}")
    print(f"check_trace ({ways}), {len(traces)} examples cut to {ITERATIONS} iterations: "
          f"{n / elapsed:.1f} cases/s ({1000 * elapsed / n:.2f} ms per case)")

    prof = cProfile.Profile()
    prof.enable()
    for k in range(5 * len(traces)):
        check_trace(traces[k % len(traces)], stencils=stencils, prepare=shorten)
    prof.disable()
    stats = pstats.Stats(prof).stats
    total = sum(tt for (_f, _l, _n), (_cc, _nc, tt, _ct, _callers) in stats.items())
    print("where the time goes (cumulative, share of all time in check_trace):")
    for label, name, *where in STEPS:
        cum = sum(ct for (f, _l, fn), (_cc, _nc, _tt, ct, _c) in stats.items()
                  if fn == name and (not where or f.endswith(where[0])))
        print(f"  {label:<42} {100 * cum / total:5.1f} %")


if __name__ == "__main__":
    main()
