"""Differential fuzzing throughput: cases per second, and where the time goes.

    python benchmarks/fuzz.py [--seconds 10] [--stencils DIR] [--profile] [--cpu N]

A case is one random trace from refjit.fuzz.generate, checked by refjit.check.check_trace: the
reference semantics and refjit's code on x86-64 and on AArch64 (plus CPython's stencils when
--stencils names the directory of the real headers). Three figures: generating alone, a case
with the plain random driver, and a case under hypothesis (what `refjit fuzz` runs, with its
bookkeeping for shrinking). With --profile, cProfile's view of the plain-driver cases: time
per module and the functions with the most time of their own. With --cpu N, the CPU time of a
plain-driver case over N fixed seeds (best of 3): on a shared machine, the figure to compare
between two trees, run alternately (PYTHONPATH=OTHER_TREE for the other one).
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import glob
import os
import pstats
import random
import time

from refjit.fuzz.campaign import Discarded, check_text, run_campaign
from refjit.fuzz.generate import RandomChoices, generate
from refjit.stencils import read_header
from machine import describe


STEPS = [  # (label, function, file it is in)
    ("generate (the random trace)", "generate", "fuzz/generate.py"),
    ("parse_trace", "parse_trace", "refjit/trace.py"),
    ("build_scenario (in the lane's Process, per ISA)", "build_scenario", "refjit/scenario.py"),
    ("  of which Process.reset (refilled as constructed)", "reset", "runtime/process.py"),
    ("snapshot of the initial memory", "snapshot", "runtime/process.py"),
    ("all process restores (reset, before each run)", "restore", "runtime/process.py"),
    ("reference semantics", "_run_semantics", "refjit/check.py"),
    ("compile (cached) + link", "_link_all", "refjit/check.py"),
    ("machine runs (restore, Unicorn, Outcome)", "_run_machine", "refjit/check.py"),
    ("  of which build_outcome (both sides)", "build_outcome", "refjit/outcome.py"),
]


def rate(seconds: float, one) -> tuple[float, int]:
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        one(n)
        n += 1
    return n / (time.perf_counter() - start), n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0, help="per figure")
    ap.add_argument("--stencils", help="directory holding jit_stencils-<triple>.h of both ISAs")
    ap.add_argument("--profile", action="store_true", help="where the time goes")
    ap.add_argument("--cpu", type=int, default=0, metavar="N",
                    help="CPU time per case over N fixed seeds, best of 3")
    args = ap.parse_args()
    stencils = {}
    if args.stencils:
        for arch in ("x86_64", "aarch64"):
            found = sorted(glob.glob(os.path.join(args.stencils, f"jit_stencils-{arch}-*.h")))
            if found:
                stencils[arch] = read_header(found[0])
    ways = "semantics + refjit" + (" + stencils" if stencils else "") + ", x86_64 and aarch64"
    discarded = collections.Counter()

    def case(seed: int) -> None:
        try:
            r = check_text(generate(RandomChoices(random.Random(seed))).text, stencils=stencils)
        except Discarded:
            discarded["n"] += 1
            return
        if not r.agree:
            print(f"seed {seed} disagrees: {r.differences[:3]}")

    for seed in range(20):  # warm up: compiled groups, machines
        case(10**6 + seed)
    print(describe())
    g, n = rate(args.seconds / 2, lambda s: generate(RandomChoices(random.Random(s))))
    print(f"generate only:                       {g:8.1f} traces/s")
    c, n = rate(args.seconds, case)
    print(f"differential cases, random driver:   {c:8.1f} cases/s ({ways}; "
          f"{1000 / c:.1f} ms per case, {n} cases, {discarded['n']} discarded)")

    if args.cpu:
        seeds = range(3 * 10**6, 3 * 10**6 + args.cpu)
        best = float("inf")
        for _ in range(3):
            start = time.process_time()
            for seed in seeds:
                case(seed)
            best = min(best, time.process_time() - start)
        print(f"differential cases, fixed seeds:     {1000 * best / args.cpu:8.2f} ms CPU per case "
              f"({args.cpu} seeds from {seeds[0]}, best of 3)")

    report = run_campaign(args.seconds, seed=0, stencils=stencils)
    print(f"refjit fuzz (hypothesis drives it):  {report.rate:8.1f} cases/s "
          f"({report.cases} cases, {report.discarded} discarded, {len(report.found)} found)")

    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        for seed in range(200):
            case(2 * 10**6 + seed)
        prof.disable()
        stats = pstats.Stats(prof).stats
        total = sum(tt for (_f, _l, _n), (_cc, _nc, tt, _ct, _c) in stats.items())
        by_module: collections.Counter = collections.Counter()
        for (f, _l, _n), (_cc, _nc, tt, _ct, _c) in stats.items():
            parts = f.replace("\\", "/").split("/")
            key = "/".join(parts[parts.index("refjit"):]) if "refjit" in parts else \
                ("unicorn" if "unicorn" in f else "python/other")
            by_module[key] += tt
        print("steps of a case (cumulative time, share of all; steps overlap where nested):")
        for label, name, where in STEPS:
            cum = sum(ct for (f, _l, fn), (_cc, _nc, _tt, ct, _c) in stats.items()
                      if fn == name and f.replace("\\", "/").endswith(where))
            print(f"  {100 * cum / total:5.1f} %  {label}")
        print("own time per module (200 cases):")
        for key, tt in by_module.most_common(15):
            print(f"  {100 * tt / total:5.1f} %  {key}")
        print("functions with the most own time:")
        rows = sorted(stats.items(), key=lambda kv: -kv[1][2])[:15]
        for (f, line, name), (_cc, nc, tt, ct, _c) in rows:
            print(f"  {100 * tt / total:5.1f} %  {nc:8d} calls  {name} ({os.path.basename(f)}:{line})")


if __name__ == "__main__":
    main()
