"""The precondition model that draws the random traces of test_semantics_stencils.py.

Checked against the profile's stack effects (uops.json, generated from bytecodes.c) and against
the preconditions read in Python/bytecodes.c of 3.14: a uop that asserts a type is never offered
without it, a guard makes it possible, and every loop-slice uop can be drawn.
"""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from semantics_helpers import PROFILE, UOPS
from typed_traces import CANDIDATES, KIND_OF_NAME, State, typed_body

KINDS = sorted(set(KIND_OF_NAME.values()) | {"obj", "range_iter+", "list_iter+", "tuple_iter+"})
LOCAL_KINDS = ("int", "null", "float", "tuple", "none", "list", "int", "tuple_iter")


def test_every_allowed_uop_moves_the_stack_as_the_profile_says():
    for kinds in itertools.product(KINDS, repeat=2):
        state = State(("obj", "obj", "int") + kinds, LOCAL_KINDS)
        for name, oparg in CANDIDATES:
            after = state.after(name, oparg)
            if after is not None:
                n_in, n_out = PROFILE.uops[name].stack_effect(oparg)
                assert len(after.stack) == len(state.stack) - n_in + n_out, (name, oparg)


def test_uops_that_assert_a_type_need_it():
    def allowed(stack, name, oparg=0):
        return State(tuple(stack), LOCAL_KINDS).after(name, oparg) is not None

    # the example that faulted on x86-64: a tuple subscript of two bools
    assert not allowed(["bool", "bool"], "_BINARY_OP_SUBSCR_TUPLE_INT")
    assert allowed(["tuple", "int"], "_BINARY_OP_SUBSCR_TUPLE_INT")
    assert not allowed(["obj", "int"], "_BINARY_OP_SUBSCR_LIST_INT")
    assert not allowed(["int"], "_UNARY_NOT") and allowed(["bool"], "_UNARY_NOT")
    assert not allowed(["range_iter"], "_ITER_NEXT_RANGE")  # not proved to have an item
    assert allowed(["range_iter+"], "_ITER_NEXT_RANGE")
    assert not allowed(["null"], "_GUARD_TOS_INT") and allowed(["null"], "_POP_TOP")
    assert not allowed(["list", "obj"], "_SWAP", 1) and allowed(["list", "obj"], "_SWAP", 2)
    assert not allowed([], "_LOAD_FAST_1")  # local 1 is NULL in LOCAL_KINDS
    # a guard proves its type; _ITER_NEXT_* spends the proved item of every alias
    s = State(("obj", "obj"), LOCAL_KINDS).after("_GUARD_TOS_INT", 0).after("_GUARD_NOS_INT", 0)
    assert s.stack == ("int", "int")
    s = State(("range_iter", "range_iter"), LOCAL_KINDS)
    s = s.after("_GUARD_NOT_EXHAUSTED_RANGE", 0).after("_SWAP", 2)
    s = s.after("_GUARD_NOT_EXHAUSTED_RANGE", 0).after("_ITER_NEXT_RANGE", 0)
    assert s.stack == ("range_iter", "range_iter", "int")


def test_every_slice_uop_can_be_drawn():
    drawable = set()
    for kind in KINDS:  # each kind twice on top, and under an int (subscripts)
        for stack in (("float", "float", "int", kind, kind), ("obj", kind, kind, "int")):
            state = State(stack, ("int",) * 8)
            drawable |= {name for name, oparg in CANDIDATES if state.after(name, oparg) is not None}
    assert sorted(set(UOPS) - drawable) == []


@settings(max_examples=30, deadline=None)
@given(body=typed_body(["l owned", "i owned"]))
def test_drawn_bodies_are_allowed_step_by_step(body):
    from typed_traces import LOCALS, kind_of_ref

    state = State(("list", "int"), tuple("null" if r is None else kind_of_ref(r) for r in LOCALS))
    for name, oparg in body:
        state = state.after(name, oparg)
        assert state is not None, (name, oparg, body)
