"""The one-line description of the machine that every benchmark prints with its figures.

Besides the CPU, the Python and the load, it gives a speed index: how many iterations of a plain
Python loop (``s += i``) the process runs per second of CPU time, best of five. On a shared
virtual machine the same code's figures move with that index (by a third within one day on this
project's machine), so two figures compare only with their indexes beside them.
"""

from __future__ import annotations

import os
import platform
import time


def speed_index() -> float:
    """Millions of ``s += i`` loop iterations per CPU second, best of five 200,000-iteration runs."""
    best = float("inf")
    for _ in range(5):
        t0 = time.process_time()
        s = 0
        for i in range(200_000):
            s += i
        best = min(best, time.process_time() - t0)
    return 0.2 / best if best > 0 else float("inf")


def describe() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "unknown"
    return (f"{platform.platform()}; {cpu}; {os.cpu_count()} CPUs; "
            f"{platform.python_implementation()} {platform.python_version()}; load {load}; "
            f"speed index {speed_index():.1f} M loop iterations/s")
