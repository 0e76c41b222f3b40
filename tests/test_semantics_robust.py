"""Random traces never crash the reference semantics.

Any sequence of loop-slice uops on any stack of objects, as long as the trace format accepts it,
either runs to an Outcome (possibly a "fault" when a uop without its guard meets the wrong type)
or raises a RefjitError that says where; never another Python exception, never a hang.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from semantics_helpers import OBJECTS, PROFILE, REFS, UOPS, trace_text, uop_line

from refjit.errors import RefjitError, TraceError
from refjit.scenario import build_scenario
from refjit.semantics import run_scenario
from refjit.trace import parse_trace


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
