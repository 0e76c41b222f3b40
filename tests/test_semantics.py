"""The reference semantics against Python itself and against CPython's documented effects.

Values are compared with the host Python's own arithmetic and comparisons (hypothesis draws the
operands); reference counts and stack-ref tag bits with what Python/executor_cases.c.h of
CPython 3.14.7 does (read by hand: each expectation below says which rule it checks).
"""

from __future__ import annotations

import math
import operator
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from semantics_helpers import ERR_AT, run_uops

SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

small_ints = st.integers(-5, 256)
one_digit = st.integers(-(1 << 30) + 1, (1 << 30) - 1)
ints = st.one_of(small_ints, one_digit, st.integers(-(1 << 64), 1 << 64),
                 st.integers(-(1 << 200), 1 << 200))
floats = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                   st.sampled_from([0.0, -0.0, math.inf, -math.inf, math.nan, 1e308, 5e-324]))


def is_small(v: int) -> bool:
    return -5 <= v <= 256


def decl(name: str, v, extra: int = 0) -> str:
    extra = int(extra)
    if isinstance(v, float):
        text = "nan" if math.isnan(v) else repr(v)
        return f"{name} = float {text}" + (f" extra={extra}" if extra else "")
    return f"{name} = int {v}" + (f" extra={extra}" if extra and not is_small(v) else "")


def slot(name: str, v, borrowed: bool) -> str:
    if isinstance(v, int) and is_small(v):
        return f"{name} immortal"
    return f"{name} {'borrowed' if borrowed else 'owned'}"


def same_float(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return struct.pack("<d", a) == struct.pack("<d", b)


# -- arithmetic ----------------------------------------------------------------------------------

INT_OPS = {"_BINARY_OP_ADD_INT": operator.add, "_BINARY_OP_SUBTRACT_INT": operator.sub,
           "_BINARY_OP_MULTIPLY_INT": operator.mul}


@SETTINGS
@given(a=ints, b=ints, name=st.sampled_from(sorted(INT_OPS)), borrow_a=st.booleans(),
       borrow_b=st.booleans())
def test_int_arithmetic_is_pythons(a, b, name, borrow_a, borrow_b):
    r = run_uops([f"{name} jump_target=0 error_target=ET"],
                 objects=[decl("a", a, borrow_a), decl("b", b, borrow_b)],
                 stack=[slot("a", a, borrow_a), slot("b", b, borrow_b)])
    assert r.way == "continue", r.outcome.render()
    assert r.depth == 1
    expect = INT_OPS[name](a, b)
    bits = r.slot_bits(0)
    assert r.value(bits) == expect and type(r.value(bits)) is int
    if is_small(expect):
        # PyLong results in -5..256 are the static small ints: tagged as immortal.
        assert bits == r.p.small_int(expect) | 1
    else:
        assert bits & 1 == 0 and r.refcnt(bits) == 1
    for nm, v, borrowed in (("a", a, borrow_a), ("b", b, borrow_b)):
        if is_small(v):
            continue
        if borrowed:  # someone else's reference: untouched
            assert r.state(nm) == "live" and r.refcnt(nm) == 1
        elif r.obj(nm) != bits & ~1:  # our last reference was closed: deallocated
            assert r.state(nm) != "live"


FLOAT_OPS = {"_BINARY_OP_ADD_FLOAT": operator.add, "_BINARY_OP_SUBTRACT_FLOAT": operator.sub,
             "_BINARY_OP_MULTIPLY_FLOAT": operator.mul}


@SETTINGS
@given(a=floats, b=floats, name=st.sampled_from(sorted(FLOAT_OPS)), borrow_a=st.booleans())
def test_float_arithmetic_is_pythons(a, b, name, borrow_a):
    r = run_uops([f"{name} jump_target=0 error_target=ET"],
                 objects=[decl("a", a, borrow_a), decl("b", b)],
                 stack=[slot("a", a, borrow_a), slot("b", b, False)])
    assert r.way == "continue"
    bits = r.slot_bits(0)
    assert same_float(r.value(bits), FLOAT_OPS[name](a, b))
    assert bits & 1 == 0 and r.refcnt(bits) == 1
    assert r.state("b") != "live" or r.obj("b") == bits  # closed; its memory may be the result's
    if borrow_a:
        assert r.state("a") == "live" and r.refcnt("a") == 1


# COMPARE_OP's oparg: (op << 5) | 16 (to bool) | mask of COMPARISON_* bits (Python/compile.c):
# unordered 1, less 2, greater 4, equal 8.
COMPARES = {"<": (0, 2, operator.lt), "<=": (1, 2 | 8, operator.le), "==": (2, 8, operator.eq),
            "!=": (3, 1 | 2 | 4, operator.ne), ">": (4, 4, operator.gt), ">=": (5, 4 | 8, operator.ge)}


def compare_oparg(op: str) -> int:
    n, mask, _ = COMPARES[op]
    return (n << 5) | 16 | mask


@SETTINGS
@given(a=ints, b=ints, op=st.sampled_from(sorted(COMPARES)))
def test_compare_int_is_pythons_or_deopts(a, b, op):
    r = run_uops([f"_COMPARE_OP_INT oparg={compare_oparg(op)} jump_target=JT error_target=0"],
                 objects=[decl("a", a), decl("b", b)],
                 stack=[slot("a", a, False), slot("b", b, False)])
    compact = all(abs(v) < (1 << 30) for v in (a, b))
    if not compact:  # more than one 30-bit digit: DEOPT_IF, nothing changed
        assert r.way == "jump" and r.depth == 2
        return
    assert r.way == "continue" and r.depth == 1
    want = COMPARES[op][2](a, b)
    assert r.slot_bits(0) == r.p.symbols["_Py_TrueStruct" if want else "_Py_FalseStruct"] | 1
    for nm, v in (("a", a), ("b", b)):
        if not is_small(v):
            assert r.state(nm) != "live"


@SETTINGS
@given(a=floats, b=floats, op=st.sampled_from(sorted(COMPARES)))
def test_compare_float_is_pythons(a, b, op):
    r = run_uops([f"_COMPARE_OP_FLOAT oparg={compare_oparg(op)} target=0"],
                 objects=[decl("a", a, 1), decl("b", b)],
                 stack=[slot("a", a, True), slot("b", b, False)])
    assert r.way == "continue"
    want = COMPARES[op][2](a, b)
    assert r.slot_bits(0) == r.p.symbols["_Py_TrueStruct" if want else "_Py_FalseStruct"] | 1
    assert r.refcnt("a") == 1 and r.state("b") != "live"


# -- the generic binary op -----------------------------------------------------------------------

NB = {"+": (0, operator.add), "//": (2, operator.floordiv), "%": (6, operator.mod),
      "*": (5, operator.mul), "-": (10, operator.sub), "/": (11, operator.truediv),
      "&": (1, operator.and_), "|": (7, operator.or_), "^": (12, operator.xor)}


@SETTINGS
@given(a=st.one_of(one_digit, st.integers(-(1 << 70), 1 << 70)), b=st.one_of(one_digit, small_ints),
       op=st.sampled_from(sorted(NB)))
def test_binary_op_is_pythons(a, b, op):
    oparg, fn = NB[op]
    r = run_uops([f"_BINARY_OP oparg={oparg} jump_target=0 error_target=ET"],
                 objects=[decl("a", a, 1), decl("b", b, 1)],
                 stack=[slot("a", a, True), slot("b", b, True)])
    try:
        want = fn(a, b)
    except ZeroDivisionError:
        # ERROR_NO_POP: the exception is set, both operands stay, _ERROR_POP_N records the
        # instruction and returns NULL.
        assert r.way == "error" and r.outcome.exception == "ZeroDivisionError"
        assert r.depth == 2 and r.outcome.instr_ptr == ERR_AT
        assert r.outcome.current_executor == "NULL"
        return
    assert r.way == "continue" and r.depth == 1
    got = r.value(r.slot_bits(0))
    assert type(got) is type(want)
    assert got == want if not isinstance(want, float) else same_float(got, want)


@pytest.mark.parametrize("a,oparg", [(7, 11), (7, 2), (7, 6), (2.5, 11), (1 << 80, 2)])
def test_division_by_zero_goes_to_error_target(a, oparg):
    r = run_uops([f"_BINARY_OP oparg={oparg} jump_target=0 error_target=ET"],
                 objects=[decl("a", a, 1)], stack=[slot("a", a, True), "0 immortal"])
    assert r.way == "error"
    assert r.outcome.exception == "ZeroDivisionError"
    assert r.outcome.instr_ptr == ERR_AT and r.depth == 2
    assert r.slot_bits(0) == r.obj("a") | 1  # untouched, still borrowed
    if not is_small(a) if isinstance(a, int) else True:
        assert r.refcnt("a") == 1


# -- guards --------------------------------------------------------------------------------------

VALUES = {"int": ("int 1000", int), "bigint": ("int 100000000000000000000", int),
          "float": ("float 1.5", float), "list": ("list [1, 2]", list),
          "tuple": ("tuple [1, 2]", tuple), "range": ("range_iterator 0 3 1", "range_iterator")}
BUILTINS = {"None": type(None), "True": bool, "False": bool}
GUARDS = {"_GUARD_TOS_INT": (-1, int), "_GUARD_NOS_INT": (-2, int),
          "_GUARD_TOS_FLOAT": (-1, float), "_GUARD_NOS_FLOAT": (-2, float),
          "_GUARD_TOS_LIST": (-1, list), "_GUARD_NOS_LIST": (-2, list),
          "_GUARD_TOS_TUPLE": (-1, tuple), "_GUARD_NOS_TUPLE": (-2, tuple),
          "_ITER_CHECK_RANGE": (-1, "range_iterator"), "_TO_BOOL_BOOL": (-1, bool)}


@pytest.mark.parametrize("guard", sorted(GUARDS))
@pytest.mark.parametrize("kind", sorted(VALUES) + sorted(BUILTINS))
def test_guards_pass_exactly_when_the_type_matches(guard, kind):
    pos, want_type = GUARDS[guard]
    if kind in BUILTINS:
        objects, ref, has = [], f"{kind} immortal", BUILTINS[kind]
    else:
        text, has = VALUES[kind]
        objects, ref = [f"x = {text}"], "x owned"
    # The guarded value at the given depth, a small int elsewhere.
    stack = [ref, "1 immortal"] if pos == -2 else ["1 immortal", ref]
    r = run_uops([f"{guard} jump_target=JT error_target=0"], objects=objects, stack=stack)
    assert r.way == ("continue" if has is want_type else "jump"), (guard, kind)
    assert r.depth == 2  # a guard only peeks


# -- loads, stores and reference counts ------------------------------------------------------------


def test_load_fast_dups_an_owned_local():
    r = run_uops(["_LOAD_FAST_0 target=0"], objects=["x = int 5000"], locals_=["x owned"])
    assert r.slot_bits(0) == r.obj("x") and r.refcnt("x") == 2


def test_load_fast_of_a_borrowed_local_stays_borrowed():
    r = run_uops(["_LOAD_FAST oparg=1 target=0"], objects=["x = int 5000 extra=1"],
                 locals_=[None, "x borrowed"])
    assert r.slot_bits(0) == r.obj("x") | 1 and r.refcnt("x") == 1


def test_load_fast_borrow_tags_and_keeps_the_count():
    r = run_uops(["_LOAD_FAST_BORROW_0 target=0"], objects=["x = float 2.5"], locals_=["x owned"])
    assert r.slot_bits(0) == r.obj("x") | 1 and r.refcnt("x") == 1


def test_load_fast_and_clear():
    r = run_uops(["_LOAD_FAST_AND_CLEAR oparg=0 target=0"], objects=["x = float 2.5"],
                 locals_=["x owned"])
    assert r.slot_bits(0) == r.obj("x") and r.local_bits(0) == 1 and r.refcnt("x") == 1


def test_load_fast_check_of_an_unbound_local_raises():
    r = run_uops(["_LOAD_FAST_CHECK oparg=1 jump_target=0 error_target=ET"], nlocals=2,
                 locals_=[])
    assert r.way == "error" and r.outcome.exception == "UnboundLocalError" and r.depth == 0


def test_pop_top_frees_the_last_reference():
    r = run_uops(["_POP_TOP target=0"], objects=["x = float 2.5", "y = int 70000 extra=1"],
                 stack=["y owned", "x owned"])
    assert r.depth == 1 and r.state("x") != "live"
    r = run_uops(["_POP_TOP target=0", "_POP_TOP target=0"],
                 objects=["y = int 70000 extra=1", "z = int 80000 extra=1"],
                 stack=["y owned", "z borrowed"])
    assert r.depth == 0 and r.refcnt("y") == 1 and r.refcnt("z") == 1


def test_store_fast_drops_the_old_value():
    r = run_uops(["_STORE_FAST_0 target=0"], objects=["old = int 9000", "new = int 9001"],
                 locals_=["old owned"], stack=["new owned"])
    assert r.local_bits(0) == r.obj("new") and r.state("old") != "live" and r.depth == 0
    assert r.refcnt("new") == 1


def test_load_const_inline_new_reference_or_tagged():
    r = run_uops(["_LOAD_CONST_INLINE target=0 operand0=&c",
                  "_LOAD_CONST_INLINE target=0 operand0=&None",
                  "_LOAD_CONST_INLINE_BORROW target=0 operand0=&c"],
                 objects=["c = float 0.5 extra=1"])
    assert r.slot_bits(0) == r.obj("c") and r.refcnt("c") == 2
    assert r.slot_bits(1) == r.p.symbols["_Py_NoneStruct"] | 1
    assert r.slot_bits(2) == r.obj("c") | 1


def test_small_ints_copy_swap_push_null():
    r = run_uops(["_LOAD_SMALL_INT_3 target=0", "_LOAD_SMALL_INT oparg=200 target=0",
                  "_COPY oparg=3 target=0", "_SWAP oparg=2 target=0", "_PUSH_NULL target=0"],
                 objects=["x = int 123456"], stack=["x owned"])
    assert r.depth == 5
    bits = [r.slot_bits(i) for i in range(5)]
    assert bits == [r.obj("x"), r.p.small_int(3) | 1, r.obj("x"), r.p.small_int(200) | 1, 1]
    assert r.refcnt("x") == 2


def test_pop_two_load_const_inline_borrow():
    r = run_uops(["_POP_TWO_LOAD_CONST_INLINE_BORROW target=0 operand0=&True"],
                 objects=["a = float 1.0", "b = float 2.0"], stack=["a owned", "b owned"])
    assert r.depth == 1 and r.slot_bits(0) == r.p.symbols["_Py_TrueStruct"] | 1
    assert r.state("a") != "live" and r.state("b") != "live"


# -- truth -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("v", [0, 1, -1, 300, 1 << 40, -(1 << 80)])
def test_to_bool_int(v):
    r = run_uops(["_TO_BOOL_INT jump_target=JT error_target=0", "_UNARY_NOT target=0"],
                 objects=[decl("x", v)], stack=[slot("x", v, False)])
    assert r.way == "continue"
    want = not bool(v)
    assert r.slot_bits(0) == r.p.symbols["_Py_TrueStruct" if want else "_Py_FalseStruct"] | 1
    if not is_small(v):
        assert r.state("x") != "live"


@pytest.mark.parametrize("left,right,oparg", [("x", "x", 0), ("x", "y", 0), ("x", "x", 1),
                                              ("None", "None", 0), ("x", "None", 1)])
def test_is_op(left, right, oparg):
    objs = ["x = float 1.0 extra=1", "y = float 1.0 extra=1"]
    own = {"x": "x borrowed", "y": "y owned", "None": "None immortal"}
    r = run_uops([f"_IS_OP oparg={oparg} target=0"], objects=objs, stack=[own[left], own[right]])
    want = (left == right) ^ bool(oparg)
    assert r.depth == 1
    assert r.slot_bits(0) == r.p.symbols["_Py_TrueStruct" if want else "_Py_FalseStruct"] | 1
    assert r.refcnt("x") == 1
    if "y" in (left, right):
        assert r.refcnt("y") == 1  # extra=1 only: the owned stack reference was closed


@pytest.mark.parametrize("guard,value,passes", [
    ("_GUARD_IS_TRUE_POP", "True", True), ("_GUARD_IS_TRUE_POP", "False", False),
    ("_GUARD_IS_FALSE_POP", "False", True), ("_GUARD_IS_FALSE_POP", "True", False),
    ("_GUARD_IS_NONE_POP", "None", True), ("_GUARD_IS_NONE_POP", "x", False),
    ("_GUARD_IS_NOT_NONE_POP", "x", True), ("_GUARD_IS_NOT_NONE_POP", "None", False)])
def test_guard_pops(guard, value, passes):
    ref = "x owned" if value == "x" else f"{value} immortal"
    objects = ["x = float 3.0"] if value == "x" else []
    r = run_uops([f"{guard} jump_target=JT error_target=0"], objects=objects, stack=[ref])
    assert r.way == ("continue" if passes else "jump")
    assert r.depth == 0  # popped on both paths
    if value == "x":
        assert r.state("x") != "live"  # the popped reference was the last one


def test_replace_with_true_and_to_bool_none():
    r = run_uops(["_REPLACE_WITH_TRUE target=0", "_TO_BOOL_BOOL jump_target=JT error_target=0"],
                 objects=["x = list []"], stack=["x owned"])
    assert r.way == "continue" and r.slot_bits(0) == r.p.symbols["_Py_TrueStruct"] | 1
    assert r.state("x") != "live"
    r = run_uops(["_TO_BOOL_NONE jump_target=JT error_target=0"], stack=["None immortal"])
    assert r.way == "continue" and r.slot_bits(0) == r.p.symbols["_Py_FalseStruct"] | 1


# -- sequences -------------------------------------------------------------------------------------

indexes = st.one_of(st.integers(-3, 8), st.just(1 << 40), st.just(1 << 62))


@SETTINGS
@given(items=st.lists(st.integers(-10, 10 ** 6), max_size=5), i=indexes,
       kind=st.sampled_from(["list", "tuple"]))
def test_subscript_deopts_exactly_when_python_would_raise(items, i, kind):
    name = "_BINARY_OP_SUBSCR_LIST_INT" if kind == "list" else "_BINARY_OP_SUBSCR_TUPLE_INT"
    seq = f"s = {kind} [{', '.join(map(str, items))}] extra=1"
    static = kind == "tuple" and not items  # () is the static, immortal empty tuple
    r = run_uops([f"{name} jump_target=JT error_target=0"], objects=[seq, decl("i", i, 1)],
                 stack=["s immortal" if static else "s owned", slot("i", i, True)])
    if 0 <= i < len(items):
        assert r.way == "continue" and r.depth == 1
        assert r.value(r.slot_bits(0)) == items[i]
        assert r.refcnt("s") == 1  # the stack's reference was closed, extra remains
    else:
        # negative, past the end, or not a one-digit int: DEOPT_IF before any change
        assert r.way == "jump" and r.depth == 2
        if not static:
            assert r.slot_bits(0) == r.obj("s") and r.refcnt("s") == 2


@SETTINGS
@given(n=st.integers(0, 4), i=indexes)
def test_store_subscr_list_int(n, i):
    lst = f"l = list [{', '.join(str(10 ** 6 + k) for k in range(n))}] extra=1"
    r = run_uops(["_STORE_SUBSCR_LIST_INT jump_target=JT error_target=0"],
                 objects=[lst, "v = float 7.5", decl("i", i, 1)],
                 stack=["v owned", "l owned", slot("i", i, True)])
    items = r.p.to_python(r.obj("l"))
    if 0 <= i < n:
        assert r.way == "continue" and r.depth == 0
        assert items[i] == 7.5 and r.refcnt("v") == 1 and r.refcnt("l") == 1
    else:
        assert r.way == "jump" and r.depth == 3 and items == [10 ** 6 + k for k in range(n)]


def test_unpack_sequence_order_and_counts():
    r = run_uops(["_UNPACK_SEQUENCE_TWO_TUPLE oparg=2 jump_target=JT error_target=0"],
                 objects=["a = float 1.0", "b = float 2.0", "t = tuple [a, b]"], stack=["t owned"])
    assert r.way == "continue" and r.depth == 2
    assert [r.slot_bits(0), r.slot_bits(1)] == [r.obj("b"), r.obj("a")]  # item 0 on top
    assert r.state("t") != "live" and r.refcnt("a") == 1 and r.refcnt("b") == 1
    r = run_uops(["_UNPACK_SEQUENCE_TUPLE oparg=3 jump_target=JT error_target=0"],
                 objects=["a = float 1.0", "t = tuple [a, 2, None]"], stack=["t owned"])
    assert r.way == "continue" and r.depth == 3
    assert r.slot_bits(2) == r.obj("a") and r.slot_bits(0) == r.p.symbols["_Py_NoneStruct"] | 1
    r = run_uops(["_UNPACK_SEQUENCE_TUPLE oparg=2 jump_target=JT error_target=0"],
                 objects=["t = tuple [1, 2, 3]"], stack=["t owned"])
    assert r.way == "jump" and r.depth == 1


@pytest.mark.parametrize("allocated", [2, 4])
def test_list_append(allocated):
    r = run_uops(["_LIST_APPEND oparg=1 jump_target=0 error_target=ET"],
                 objects=[f"l = list [1, 2] allocated={allocated} extra=1", "v = float 3.5"],
                 stack=["l borrowed", "v owned"])
    assert r.way == "continue" and r.depth == 1
    assert r.p.to_python(r.obj("l")) == [1, 2, 3.5] and r.refcnt("v") == 1


# -- iteration -------------------------------------------------------------------------------------


def test_range_iteration():
    body = ["_ITER_CHECK_RANGE jump_target=JT error_target=0",
            "_GUARD_NOT_EXHAUSTED_RANGE jump_target=JT error_target=0",
            "_ITER_NEXT_RANGE jump_target=0 error_target=ET"]
    r = run_uops(body, objects=["it = range_iterator 1000 -5000 -700"], stack=["it owned"])
    assert r.way == "continue" and r.value(r.slot_bits(1)) == 1000
    assert r.p.read_object(r.obj("it")).value == (300, -700, len(range(1000, -5000, -700)) - 1)
    r = run_uops(body, objects=["it = range_iterator 5 5 1"], stack=["it owned"])
    assert r.way == "jump" and r.depth == 1


@pytest.mark.parametrize("kind", ["list", "tuple"])
def test_sequence_iteration(kind):
    K = kind.upper()
    body = [f"_ITER_CHECK_{K} jump_target=JT error_target=0",
            f"_GUARD_NOT_EXHAUSTED_{K} jump_target=JT error_target=0",
            f"_ITER_NEXT_LIST_TIER_TWO jump_target=JT error_target=0" if kind == "list"
            else "_ITER_NEXT_TUPLE target=0"]
    objs = ["x = float 9.5", f"s = {kind} [x, 2]", f"it = {kind}_iterator s index=INDEX"]
    r = run_uops(body, objects=[o.replace("INDEX", "0") for o in objs], stack=["it owned"])
    assert r.way == "continue" and r.slot_bits(1) == r.obj("x") and r.refcnt("x") == 2
    r = run_uops(body, objects=[o.replace("INDEX", "2") for o in objs], stack=["it owned"])
    assert r.way == "jump" and r.depth == 1
    index = r.p.mem.i64(r.obj("it") + 16)
    assert index == (-1 if kind == "list" else 2)  # only the list guard marks it exhausted


# -- trace control ---------------------------------------------------------------------------------


def test_invalid_executor_deopts_at_check_validity():
    text_body = ["_CHECK_VALIDITY jump_target=JT error_target=0"]
    assert run_uops(text_body).way == "continue"
    from semantics_helpers import run_text, trace_text
    r = run_text(trace_text(text_body, extra_lines=["executor invalid"]))
    assert r.way == "jump"


def test_make_warm_and_check_periodic():
    from semantics_helpers import run_text, trace_text
    r = run_text(trace_text(["_MAKE_WARM target=0", "_TIER2_RESUME_CHECK jump_target=JT error_target=0"],
                            extra_lines=["interp trace_run_counter=1"]))
    # the counter reached zero: JIT_INVALIDATE_COLD (0x80) is requested, which is an event
    assert r.outcome.eval_breaker == 0x80 and r.way == "jump"
    r = run_text(trace_text(["_CHECK_PERIODIC jump_target=0 error_target=ET"],
                            extra_lines=["tstate eval_breaker=0x10"]))
    assert r.way == "continue" and r.outcome.eval_breaker == 0  # _Py_HandlePending cleared it


def _exit_trace_text(extra):
    return ("refjit-trace 1\ncode t units=16\n" + "\n".join(extra) + "\nframe locals=0\n"
            "0 _START_EXECUTOR target=0\n"
            "1 _EXIT_TRACE target=9 operand0=&exit0\n")


def test_exit_trace_cold_returns_to_tier_one_and_cools():
    from semantics_helpers import run_text
    r = run_text(_exit_trace_text([]))
    assert r.way == "tier1 9" and r.outcome.current_executor == "NULL"
    x = r.p.exit_address(r.scenario.executor, 0)
    assert r.p.mem.u16(x + 4) == ((4095 - 1) << 4) | 12  # advance_backoff_counter
    # temperature 0 triggers: the optimizer (declining by default) restarts the backoff
    r = run_text(_exit_trace_text(["exit 0 temperature=12"]))
    assert r.way == "tier1 9" and r.p.mem.u16(x + 4) == (((1 << 12) - 1) << 4) | 12


def test_exit_trace_into_a_linked_executor():
    from semantics_helpers import run_text
    r = run_text(_exit_trace_text(["object other = executor", "exit 0 executor=other"]))
    assert r.way == "side_exit" and r.outcome.exit_index == 0
    assert r.outcome.current_executor == r.outcome.side_exit_to
    # an invalid linked executor is dropped (decref) and the exit cools down again
    r = run_text(_exit_trace_text(["object other = executor invalid extra=1",
                                   "exit 0 executor=other"]))
    assert r.way == "tier1 9" and r.refcnt("other") == 1


def test_side_exit_carries_the_live_stack_pointer():
    # GOTO_TIER_TWO passes stack_pointer in its register: frame->stackpointer is stale (depth 0
    # as entered), the Outcome reads the live one (depth 1 after the push).
    from semantics_helpers import run_text
    text = ("refjit-trace 1\ncode t units=16\nobject other = executor\nobject f = float 1.5\n"
            "frame locals=1\nlocal 0 = f owned\nexit 0 executor=other\n"
            "0 _START_EXECUTOR target=0\n1 _LOAD_FAST_0 target=0\n"
            "2 _EXIT_TRACE target=9 operand0=&exit0\n")
    r = run_text(text)
    assert r.way == "side_exit" and r.outcome.stack_depth == 1 and r.depth == 0
    assert r.outcome.stack == (f"{r.outcome.locals[0]}",) and r.refcnt("f") == 2


def test_hot_exit_to_enter_executor_links_that_executor():
    from semantics_helpers import run_text
    r = run_text(_exit_trace_text(["object other = executor extra=1", "enter_executor 9 other",
                                   "exit 0 temperature=12"]))
    # the target instruction is ENTER_EXECUTOR: its executor is reused, increfed and linked
    assert r.way == "side_exit" and r.refcnt("other") == 2
    x = r.p.exit_address(r.scenario.executor, 0)
    assert r.p.mem.u64(x + 8) == r.obj("other")
    assert r.p.mem.u16(x + 4) == 12  # the temperature is left as it was


def test_budget_is_enforced():
    from refjit.errors import SemanticsError
    from semantics_helpers import run_text
    text = ("refjit-trace 1\ncode t units=4\nframe locals=0\n0 _START_EXECUTOR target=0\n"
            "1 _NOP target=0\n2 _JUMP_TO_TOP jump_target=1\n")
    with pytest.raises(SemanticsError, match="budget"):
        run_text(text)
