"""The example traces (real CPython 3.14.7 traces, FACTS.md §g.2), installed as ``refjit.examples``.

The .trace files in this folder ship inside the wheel as package data, so ``refjit demo`` finds
int_sum.trace from an installed refjit without a copy of the text anywhere else.
"""

from __future__ import annotations

from importlib.resources import files

INT_SUM_NAME = "examples/int_sum.trace"


def read(name: str) -> str:
    """The text of one shipped example, e.g. ``read("int_sum.trace")``."""
    return files(__name__).joinpath(name).read_text(encoding="utf-8")


def names() -> list[str]:
    return sorted(p.name for p in files(__name__).iterdir() if p.name.endswith(".trace"))


INT_SUM = read("int_sum.trace")
