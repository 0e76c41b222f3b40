"""Hypothesis strategies for random, well-formed loop-slice traces.

``traces()`` draws every choice of refjit.fuzz.generate through hypothesis, so a failing case
shrinks the way hypothesis shrinks integers and lists: towards fewer uops, fewer features and the
first (simplest) value of each pool, while the trace stays well-formed (it is regenerated from the
shrunk choices every time). hypothesis is imported here only: it is a dependency of the fuzzer
and the tests, not of the rest of refjit.
"""

from __future__ import annotations

from hypothesis import strategies as st

from refjit.fuzz.generate import Choices, Generated, generate


_INTEGERS: dict[tuple[int, int], st.SearchStrategy] = {}   # one strategy per range, made once


class _Drawn(Choices):
    def __init__(self, draw):
        self.draw = draw

    def integer(self, lo: int, hi: int) -> int:
        strategy = _INTEGERS.get((lo, hi))
        if strategy is None:
            strategy = _INTEGERS[(lo, hi)] = st.integers(lo, hi)
        return self.draw(strategy)


@st.composite
def traces(draw, max_uops: int = 40, long: bool = False) -> Generated:
    """A Generated trace (``.text`` in the trace format, ``.features`` it exercises); ``long``
    traces run to a few dozen uops (far jumps to their stubs, deeper code)."""
    return generate(_Drawn(draw), max_uops, long)
