"""Random traces never crash the reference semantics.

Any sequence of loop-slice uops on any stack of objects, as long as the trace format accepts it,
either runs to an Outcome (possibly a "fault" when a uop without its guard meets the wrong type)
or raises a RefjitError that says where; never another Python exception, never a hang.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from semantics_helpers import trace_text

from refjit.errors import RefjitError, TraceError
from refjit.profile import load_profile
from refjit.scenario import build_scenario
from refjit.semantics import LOOP_SLICE, run_scenario
from refjit.trace import parse_trace

PROFILE = load_profile("3.14", "x86_64")
OBJECTS = ["i = int 100000 extra=1", "big = int 100000000000000000000 extra=1",
           "f = float 2.5 extra=1", "l = list [1, 2.5, None] extra=1", "t = tuple [7, 8.5] extra=1",
           "r = range_iterator 0 3 1 extra=1", "li = list_iterator l extra=1",
           "ti = tuple_iterator t extra=1"]
REFS = ["i owned", "i borrowed", "big owned", "f owned", "f borrowed", "l owned", "t owned",
        "r owned", "li owned", "ti owned", "None immortal", "True immortal", "False immortal",
        "0 immortal", "5 immortal", "NULL"]
UOPS = sorted(LOOP_SLICE - {"_START_EXECUTOR", "_JUMP_TO_TOP", "_EXIT_TRACE", "_DEOPT",
                            "_ERROR_POP_N", "_FATAL_ERROR"})
OPERAND0 = {"_LOAD_CONST_INLINE", "_LOAD_CONST_INLINE_BORROW", "_POP_TOP_LOAD_CONST_INLINE_BORROW",
            "_POP_TWO_LOAD_CONST_INLINE_BORROW"}


def uop_line(name: str, oparg: int) -> str:
    spec = PROFILE.uops[name]
    parts = [name]
    if spec.uses_oparg:
        parts.append(f"oparg={oparg}")
    if spec.has("HAS_EXIT") or spec.has("HAS_DEOPT") or spec.has("HAS_ERROR"):
        parts.append("jump_target=JT error_target=ET")
    else:
        parts.append("target=0")
    if name in OPERAND0:
        parts.append("operand0=&f")
    elif name == "_SET_IP":
        parts.append("operand0=&bytecode+0x2")
    return " ".join(parts)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stack=st.lists(st.sampled_from(REFS), min_size=0, max_size=5),
       body=st.lists(st.tuples(st.sampled_from(UOPS), st.integers(0, 4)), min_size=1, max_size=6))
def test_random_traces_end_in_an_outcome_or_a_clear_error(stack, body):
    text = trace_text([uop_line(n, a) for n, a in body], objects=OBJECTS,
                      locals_=["i owned", "f borrowed", None], stack=stack)
    try:
        trace = parse_trace(text, PROFILE)
    except TraceError:
        return  # rejected before running (underflow, bad oparg...): that is the format's job
    try:
        out = run_scenario(build_scenario(trace, PROFILE), budget=10_000)
    except RefjitError as err:
        assert err.where or err.why
        return
    assert out.kind in ("tier1", "error", "side_exit", "fatal", "fault")
