"""Compile cost in machine instructions: what a cold compilation costs per uop, counted by valgrind.

``benchmarks/compile.py`` times the compilation; on a shared virtual machine the same code's
rate moves by a third within a day, so two timings compare only side by side. The number of
instructions the Python process executes for the same work does not move: this script runs the
cold compilation of every example trace (benchmarks/compile.py's "cold" row) under valgrind's
callgrind, once with no compilation and once with ``--repeat`` of them, and prints the difference
per uop (the interpreter's start-up, imports and the traces' set-up cancel out). It depends on the
CPython build (3.11.7 here) and on nothing else: the figure to quote beside a timing, and the one
to compare two versions of refjit by.

Needs valgrind (Debian: ``apt-get install valgrind``). Each run takes about 20 s per ISA.

    .venv/bin/python benchmarks/instructions.py [--repeat 3] [--arch x86_64,aarch64]
"""

from __future__ import annotations

import argparse
import os
import pathlib
import re
import shutil
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent


def inner(arch: str, repeat: int) -> None:
    """The measured process: set up, warm the encoders' tables, then ``repeat`` cold compilations."""
    sys.path.insert(0, str(HERE))
    import compile as bench      # benchmarks/compile.py

    work = bench.executors([str(p) for p in sorted((ROOT / "examples").glob("*.trace"))], arch)
    bench.compile_cold(arch, work)      # the "first" compilation: tables filled, as in the cold row
    bench.compile_cold(arch, work)
    for _ in range(repeat):
        bench.compile_cold(arch, work)
    # (the count of uops compiled, for the outer process; printed by every run alike)
    print("uops", sum(len(trace) + 1 for trace, *_ in work))


def count(arch: str, repeat: int) -> tuple[int, int]:
    """(instructions executed, uops per compilation) of one run of :func:`inner` under callgrind."""
    env = dict(os.environ, PYTHONHASHSEED="0")    # dict and set orders fixed: the same count each run
    run = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
                          __file__, "--inner", arch, str(repeat)], capture_output=True, text=True, env=env)
    collected = re.search(r"Collected : (\d+)", run.stderr)
    uops = re.search(r"^uops (\d+)$", run.stdout, re.M)
    if run.returncode or not collected or not uops:
        raise SystemExit(f"error: the run under valgrind failed ({arch}, exit {run.returncode}):\n"
                         + run.stderr[-2000:])
    return int(collected.group(1)), int(uops.group(1))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="cold compilations counted (default 3)")
    ap.add_argument("--arch", default="x86_64,aarch64", help="comma-separated ISAs")
    ap.add_argument("--inner", nargs=2, metavar=("ARCH", "REPEAT"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.inner:
        inner(args.inner[0], int(args.inner[1]))
        return 0
    if shutil.which("valgrind") is None:
        print("error: valgrind is not installed (Debian: apt-get install valgrind)", file=sys.stderr)
        return 2
    if args.repeat < 1:
        print("error: --repeat must be at least 1", file=sys.stderr)
        return 2
    print(f"CPython {sys.version.split()[0]} ({sys.executable}); instructions counted by callgrind; "
          f"{args.repeat} cold compilations of the example traces minus none\n")
    # (uops: every group compiled, each executor's closing _FATAL_ERROR included)
    print(f"{'ISA':<8} {'uops':>6} {'instructions per uop':>21}")
    for arch in args.arch.split(","):
        base, uops = count(arch, 0)
        total, _ = count(arch, args.repeat)
        print(f"{arch:<8} {uops:>6} {(total - base) / (args.repeat * uops):>21,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
