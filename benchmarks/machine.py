"""The one-line description of the machine that every benchmark prints with its figures."""

from __future__ import annotations

import os
import platform


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
            f"{platform.python_implementation()} {platform.python_version()}; load {load}")
