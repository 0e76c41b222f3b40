"""refjit's own machine code for every loop-slice uop, on both ISAs, against the reference
semantics (an independent reading of bytecodes.c): each case is a small trace run by
refjit.semantics and by refjit's groups linked and emulated; the two Outcomes (exit, frame,
every slot's tag bits, every object's refcount/value/state, thread-state fields) must be equal.
Where CPython's real stencils are at hand (REFJIT_REAL_STENCILS names their folder;
not in the repository) every case also runs on them: the third way.
Each case also states which way the semantics left (fell through, guard failed, error...), so a
case that silently stops exercising its path fails."""

from __future__ import annotations

import real_stencils

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pathlib


from lower_harness import ARCHES, differences, run_machine




def real_header(arch: str):
    """CPython's real stencils for ``arch`` if this machine has them (local check), else None."""
    return real_stencils.header(arch)
from semantics_helpers import CONT, JUMP, trace_text

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


def way_of(outcome) -> str:
    if outcome.kind == "tier1":
        return {CONT: "continue", JUMP: "jump"}.get(outcome.target, f"tier1 {outcome.target}")
    if outcome.kind == "error":
        return "error"
    return outcome.kind


def agree(text: str, setup=None, side_exit_depth: int | None = None) -> str:
    """Run ``text`` on the semantics and both ISAs; the way the semantics left.

    On a side exit the stack depth comes from the live stack pointer (GOTO_TIER_TWO does not
    store it in the frame); ``side_exit_depth`` also checks it against the expected depth.
    """
    ways = set()
    for arch in ARCHES:
        diffs, want, got = differences(text, arch, setup)
        runs = [("refjit", got, diffs)]
        header = real_header(arch)
        if header is not None:   # the third way, where CPython's stencils are at hand
            theirs, _ = run_machine(text, arch, groups=header.groups, shim=header.shim, setup=setup)
            runs.append(("CPython's stencils", theirs, want.compare(theirs)))
        assert want.kind != "fault", want.render()
        for who, got, diffs in runs:
            if want.kind == got.kind == "side_exit":
                assert side_exit_depth is not None and got.stack_depth == side_exit_depth, got.render()
            assert not diffs, f"{who} on {arch}:\n" + "\n".join(diffs) + "\n--- trace\n" + text
        ways.add(way_of(want))
    assert len(ways) == 1
    return ways.pop()


def check(body, way: str, setup=None, **kw) -> None:
    got = agree(trace_text(list(body), **kw), setup)
    assert got == way, got


# -- locals, constants, stack ---------------------------------------------------------------------

STACK_CASES = {
    "load_fast_owned": (["_LOAD_FAST_0 target=0", "_LOAD_FAST oparg=1 target=0"],
                        dict(objects=["x = int 5000", "y = float 2.5 extra=1"], locals_=["x owned", "y borrowed"])),
    "load_fast_replicas": ([f"_LOAD_FAST_{i} target=0" for i in range(8)],
                           dict(objects=[f"x{i} = int {7000 + i}" for i in range(8)],
                                locals_=[f"x{i} owned" for i in range(8)], stacksize=8)),
    "load_fast_borrow": ([f"_LOAD_FAST_BORROW_{i} target=0" for i in range(8)] + ["_LOAD_FAST_BORROW oparg=9 target=0"],
                         dict(objects=["x = int 5000 extra=1"], locals_=["x owned"] * 10, stacksize=9)),
    "store_fast": ([f"_STORE_FAST_{i} target=0" for i in range(8)] + ["_STORE_FAST oparg=8 target=0"],
                   dict(objects=[f"o{i} = int {9000 + i} extra=1" for i in range(9)] + [f"n{i} = float {i}.5" for i in range(9)],
                        locals_=[f"o{i} owned" if i % 3 else (None if i % 2 else f"o{i} borrowed") for i in range(9)],
                        stack=[f"n{i} owned" for i in reversed(range(9))], nlocals=9, stacksize=9)),
    "store_fast_last_ref": (["_STORE_FAST_0 target=0"],
                            dict(objects=["old = int 9000", "new = int 9001"], locals_=["old owned"], stack=["new owned"])),
    "load_fast_check": (["_LOAD_FAST_CHECK oparg=1 jump_target=0 error_target=ET"],
                        dict(objects=["x = int 5000"], locals_=[None, "x owned"])),
    "load_fast_check_unbound": (["_LOAD_FAST_CHECK oparg=1 jump_target=0 error_target=ET"],
                                dict(nlocals=2, locals_=[])),
    "load_fast_and_clear": (["_LOAD_FAST_AND_CLEAR oparg=0 target=0", "_LOAD_FAST_AND_CLEAR oparg=1 target=0"],
                            dict(objects=["x = float 2.5"], locals_=["x owned"], nlocals=2)),
    "load_const_inline": (["_LOAD_CONST_INLINE target=0 operand0=&c", "_LOAD_CONST_INLINE target=0 operand0=&None",
                           "_LOAD_CONST_INLINE_BORROW target=0 operand0=&c"],
                          dict(objects=["c = float 0.5 extra=1"])),
    "load_small_int": (["_LOAD_SMALL_INT_0 target=0", "_LOAD_SMALL_INT_1 target=0", "_LOAD_SMALL_INT_2 target=0",
                        "_LOAD_SMALL_INT_3 target=0", "_LOAD_SMALL_INT oparg=200 target=0",
                        "_LOAD_SMALL_INT oparg=255 target=0"], dict()),
    "pop_top": (["_POP_TOP target=0", "_POP_TOP target=0", "_POP_TOP target=0", "_END_FOR target=0"],
                dict(objects=["x = float 2.5", "y = int 70000 extra=1", "z = int 80000 extra=1"],
                     stack=["None immortal", "z borrowed", "y owned", "x owned"])),
    "pop_load_const": (["_POP_TOP_LOAD_CONST_INLINE_BORROW target=0 operand0=&True",
                        "_POP_TWO_LOAD_CONST_INLINE_BORROW target=0 operand0=&None"],
                       dict(objects=["a = float 1.0", "b = float 2.0", "c = int 12345 extra=1"],
                            stack=["a owned", "c borrowed", "b owned"])),
    "push_null_copy_swap": (["_PUSH_NULL target=0", "_COPY oparg=3 target=0", "_COPY oparg=1 target=0",
                             "_SWAP oparg=2 target=0", "_SWAP oparg=5 target=0"],
                            dict(objects=["a = float 1.0", "b = int 99999 extra=1"], stack=["a owned", "b borrowed"])),
}


@pytest.mark.parametrize("name", sorted(STACK_CASES))
def test_stack(name):
    body, kw = STACK_CASES[name]
    check(body, "error" if name.endswith("unbound") else "continue", **kw)


# -- trace control ---------------------------------------------------------------------------------

def test_nop_set_ip_make_warm():
    check(["_NOP target=0", "_SET_IP target=0 operand0=&bytecode+0x10", "_MAKE_WARM target=0"], "continue")
    check(["_MAKE_WARM target=0"], "continue", extra_lines=["interp trace_run_counter=1"])
    check(["_MAKE_WARM target=0"], "continue", extra_lines=["interp trace_run_counter=2"])


@pytest.mark.parametrize("breaker", [0, 1, 2, 4, 0x80, 0x81, 0x100])
def test_periodic_and_resume_checks(breaker):
    lines = [f"tstate eval_breaker={breaker}"]
    check(["_CHECK_PERIODIC jump_target=0 error_target=ET"], "continue", extra_lines=lines)
    events = breaker & 0xFF  # _PY_EVAL_EVENTS_MASK
    check(["_TIER2_RESUME_CHECK jump_target=JT error_target=0"], "jump" if events else "continue",
          extra_lines=lines)


def test_periodic_async_exception_goes_to_error():
    def setup(sc):
        p = sc.process
        t = p.view("PyThreadState", sc.tstate)
        t.async_exc = p.symbols["PyExc_KeyboardInterrupt"] if "PyExc_KeyboardInterrupt" in p.symbols \
            else p.mem.u64(p.symbols["PyExc_ValueError"])
        t.eval_breaker = p.consts._PY_ASYNC_EXCEPTION_BIT
    text = trace_text(["_CHECK_PERIODIC jump_target=0 error_target=ET"])
    try:
        way = agree(text, setup)
    except KeyError:
        pytest.skip("the process has no exception type to raise asynchronously")  # pragma: no cover
    assert way == "error"


def test_check_validity():
    check(["_CHECK_VALIDITY jump_target=JT error_target=0"], "continue")
    check(["_CHECK_VALIDITY jump_target=JT error_target=0"], "jump", extra_lines=["executor invalid"])


def test_deopt_error_fatal():
    check(["_DEOPT target=7"], "tier1 7")
    check(["_ERROR_POP_N target=0 operand0=5"], "error")
    check(["_FATAL_ERROR target=0"], "fatal")


def test_jump_to_top_loops_until_a_guard_leaves():
    text = trace_text(["_ITER_CHECK_RANGE jump_target=JT error_target=0",
                       "_GUARD_NOT_EXHAUSTED_RANGE jump_target=JT error_target=0",
                       "_ITER_NEXT_RANGE jump_target=0 error_target=ET",
                       "_POP_TOP target=0",
                       "_JUMP_TO_TOP jump_target=1 error_target=0"],
                      objects=["it = range_iterator 0 300 7"], stack=["it owned"])
    assert agree(text) == "jump"


def exit_agree(text: str, setup=None) -> str:
    return agree(text, setup, side_exit_depth=1)   # _LOAD_FAST_0 pushed one value


def _exit_text(exit_line: str, extra=()) -> str:
    return "\n".join(["refjit-trace 1", "code t units=16", *extra, "frame locals=1 stacksize=2",
                      "local 0 = 5 immortal", exit_line,
                      "0 _START_EXECUTOR target=0 operand0=&executor",
                      "1 _LOAD_FAST_0 target=0",
                      "2 _EXIT_TRACE target=9 operand0=&exit0"]) + "\n"


@pytest.mark.parametrize("temperature", [None, 0, 15, 16, 0x20, 0xFFF1])
def test_exit_trace_cold(temperature):
    t = "" if temperature is None else f" temperature={temperature}"
    way = exit_agree(_exit_text(f"exit 0 target=9{t}"))
    assert way == "tier1 9"


def test_exit_trace_to_linked_executor():
    assert exit_agree(_exit_text("exit 0 target=9 executor=e", ["object e = executor"])) == "side_exit"


def test_exit_trace_drops_invalid_executor():
    assert exit_agree(_exit_text("exit 0 target=9 executor=e", ["object e = executor invalid"])) == "tier1 9"
    assert exit_agree(_exit_text("exit 0 target=9 temperature=0 executor=e",
                            ["object e = executor invalid extra=1"])) == "tier1 9"


@pytest.mark.parametrize("result,temperature", [(1, 0), (0, 0), (-1, 0), (0, 5), (-1, 11), (0, 12), (0, 14)])
def test_exit_trace_optimizer(result, temperature):
    """A hot exit (the counter's value is 0: it triggers for any backoff below 15) asks the
    optimizer; when it declines, restart_backoff_counter sets the next backoff."""
    def setup(sc):
        p = sc.process
        new = p.new_executor([])

        def optimizer(p, frame, start, executor_ptr, chain_depth):
            assert chain_depth == 1
            if result > 0:
                p.mem.set_u64(executor_ptr, new)
            return result
        p.optimizer = optimizer
    way = exit_agree(_exit_text(f"exit 0 target=9 temperature={temperature}"), setup)
    assert way == {1: "side_exit", 0: "tier1 9", -1: "error"}[result]


def test_exit_trace_reuses_enter_executor():
    def setup(sc):
        p = sc.process
        e = p.new_executor([])
        p.insert_executor(sc.code, 9, e)
    try:
        way = exit_agree(_exit_text("exit 0 target=9 temperature=0"), setup)
    except AttributeError:
        pytest.skip("Process.insert_executor is not available")  # pragma: no cover
    assert way == "side_exit"


# -- numbers ------------------------------------------------------------------------------------------

def is_small(v: int) -> bool:
    return -5 <= v <= 256


def decl(name, v, extra=0):
    if isinstance(v, float):
        text = "nan" if math.isnan(v) else repr(v)
        return f"{name} = float {text}" + (f" extra={extra}" if extra else "")
    return f"{name} = int {v}" + (f" extra={extra}" if extra and not is_small(v) else "")


def slot(name, v, borrowed):
    if isinstance(v, int) and is_small(v):
        return f"{name} immortal"
    return f"{name} {'borrowed' if borrowed else 'owned'}"


edge_ints = st.sampled_from([0, 1, -1, -5, -6, 255, 256, 257, (1 << 30) - 1, 1 << 30, -(1 << 30),
                             (1 << 62), (1 << 63) - 1, -(1 << 63), 1 << 64, -(1 << 64) - 3])
ints = st.one_of(edge_ints, st.integers(-5, 256), st.integers(-(1 << 30) + 1, (1 << 30) - 1),
                 st.integers(-(1 << 70), 1 << 70))
floats = st.one_of(st.sampled_from([0.0, -0.0, math.inf, -math.inf, math.nan, 1e308, 5e-324, 1.5]),
                   st.floats(allow_nan=True, allow_infinity=True))
INT_OPS = ["_BINARY_OP_ADD_INT", "_BINARY_OP_SUBTRACT_INT", "_BINARY_OP_MULTIPLY_INT"]
FLOAT_OPS = ["_BINARY_OP_ADD_FLOAT", "_BINARY_OP_SUBTRACT_FLOAT", "_BINARY_OP_MULTIPLY_FLOAT"]


@SETTINGS
@given(a=ints, b=ints, name=st.sampled_from(INT_OPS), borrow_a=st.booleans(), borrow_b=st.booleans())
def test_int_arithmetic(a, b, name, borrow_a, borrow_b):
    check(["_GUARD_TOS_INT jump_target=JT error_target=0", "_GUARD_NOS_INT jump_target=JT error_target=0",
           f"{name} jump_target=0 error_target=ET"], "continue",
          objects=[decl("a", a, int(borrow_a)), decl("b", b, int(borrow_b))],
          stack=[slot("a", a, borrow_a), slot("b", b, borrow_b)])


@SETTINGS
@given(a=floats, b=floats, name=st.sampled_from(FLOAT_OPS), borrow_a=st.booleans(), borrow_b=st.booleans())
def test_float_arithmetic(a, b, name, borrow_a, borrow_b):
    check(["_GUARD_TOS_FLOAT jump_target=JT error_target=0", "_GUARD_NOS_FLOAT jump_target=JT error_target=0",
           f"{name} jump_target=0 error_target=ET"], "continue",
          objects=[decl("a", a, int(borrow_a)), decl("b", b, int(borrow_b))],
          stack=[slot("a", a, borrow_a), slot("b", b, borrow_b)])


@pytest.mark.parametrize("guard,value,passes", [
    ("_GUARD_TOS_INT", "1.5", False), ("_GUARD_NOS_INT", "1.5", False), ("_GUARD_TOS_FLOAT", "7", False),
    ("_GUARD_NOS_FLOAT", "7", False), ("_GUARD_TOS_INT", "True", False), ("_GUARD_TOS_FLOAT", "-0.0", True),
    ("_TO_BOOL_BOOL", "True", True), ("_TO_BOOL_BOOL", "0", False), ("_GUARD_TOS_LIST", "[1]", True),
    ("_GUARD_NOS_LIST", "(1,)", False), ("_GUARD_TOS_TUPLE", "(1,)", True), ("_GUARD_NOS_TUPLE", "[1]", False),
])
def test_type_guards(guard, value, passes):
    objects, ref = [], None
    if value in ("True", "False", "None"):
        ref = f"{value} immortal"
    elif value.startswith("["):
        objects, ref = [f"x = list {value}"], "x owned"
    elif value.startswith("("):
        objects, ref = [f"x = tuple [{value[1:-2]}]"], "x owned"
    elif "." in value:
        objects, ref = [f"x = float {value} extra=1"], "x borrowed"
    else:
        ref = f"{value} immortal"
    stack = ["None immortal", ref] if "TOS" in guard or "TO_BOOL" in guard else [ref, "None immortal"]
    check([f"{guard} jump_target=JT error_target=0"], "continue" if passes else "jump",
          objects=objects, stack=stack)


@SETTINGS
@given(a=ints, b=ints, oparg=st.integers(0, 31))
def test_compare_int(a, b, oparg):
    compact = all(-(1 << 30) < v < (1 << 30) for v in (a, b))
    check([f"_COMPARE_OP_INT oparg={oparg} jump_target=JT error_target=0"], "continue" if compact else "jump",
          objects=[decl("a", a), decl("b", b)], stack=[slot("a", a, False), slot("b", b, False)])


@SETTINGS
@given(a=floats, b=floats, oparg=st.integers(0, 31), borrow=st.booleans())
def test_compare_float(a, b, oparg, borrow):
    check([f"_COMPARE_OP_FLOAT oparg={oparg} target=0"], "continue",
          objects=[decl("a", a, int(borrow)), decl("b", b)], stack=[slot("a", a, borrow), slot("b", b, False)])


@pytest.mark.parametrize("oparg,a,b", [(0, 7, 0), (6, 1, 0), (11, -3, 0), (5, 0.5, 2), (13, 1 << 40, 3),
                                       (0, 1, 0), (10, 5, 0)])
def test_binary_op_generic(oparg, a, b):
    check([f"_BINARY_OP oparg={oparg} jump_target=0 error_target=ET"],
          "error" if b == 0 and oparg in (2, 6, 11, 15, 19, 24) else "continue",
          objects=[decl("a", a, 1), decl("b", b, 1)], stack=[slot("a", a, True), slot("b", b, True)])


@pytest.mark.parametrize("value", ["0", "7", "-3", "100000", "0.0", "True", "None"])
def test_to_bool_int_unary_not(value):
    objects = []
    if value in ("True", "None"):
        ref = f"{value} immortal"
    elif "." in value:
        objects, ref = [f"x = float {value}"], "x owned"
    elif is_small(int(value)):
        ref = f"{value} immortal"
    else:
        objects, ref = [f"x = int {value}"], "x owned"
    is_int = value.lstrip("-").isdigit()
    check(["_TO_BOOL_INT jump_target=JT error_target=0", "_UNARY_NOT target=0", "_UNARY_NOT target=0"],
          "continue" if is_int else "jump", objects=objects, stack=[ref])
    check(["_TO_BOOL_NONE jump_target=JT error_target=0", "_UNARY_NOT target=0"],
          "continue" if value == "None" else "jump", objects=objects, stack=[ref])


@pytest.mark.parametrize("oparg", [0, 1])
@pytest.mark.parametrize("same,owned", [(True, True), (False, True), (True, False), (False, False)])
def test_is_op(oparg, same, owned):
    objs = ["x = float 1.0 extra=1", "y = float 1.0 extra=1"]
    own = "owned" if owned else "borrowed"
    check([f"_IS_OP oparg={oparg} target=0", "_GUARD_IS_TRUE_POP jump_target=JT error_target=0"],
          "continue" if same != bool(oparg) else "jump",
          objects=objs, stack=[f"x {own}", f"{'x' if same else 'y'} {own}"])


@pytest.mark.parametrize("guard,ref,passes", [
    ("_GUARD_IS_TRUE_POP", "True", True), ("_GUARD_IS_TRUE_POP", "False", False),
    ("_GUARD_IS_FALSE_POP", "False", True), ("_GUARD_IS_FALSE_POP", "True", False),
    ("_GUARD_IS_NONE_POP", "None", True), ("_GUARD_IS_NONE_POP", "x", False),
    ("_GUARD_IS_NOT_NONE_POP", "None", False), ("_GUARD_IS_NOT_NONE_POP", "x", True),
])
def test_guard_pops(guard, ref, passes):
    stack = [f"{ref} immortal"] if ref != "x" else ["x owned"]
    check([f"{guard} jump_target=JT error_target=0"], "continue" if passes else "jump",
          objects=["x = float 3.5"] if ref == "x" else [], stack=stack)


def test_replace_with_true():
    check(["_REPLACE_WITH_TRUE target=0", "_TO_BOOL_BOOL jump_target=JT error_target=0"], "continue",
          objects=["x = list []"], stack=["x owned"])


# -- iteration --------------------------------------------------------------------------------------

@pytest.mark.parametrize("start,stop,step", [(0, 3, 1), (5, 5, 1), (1000, -5000, -700), (0, 1 << 40, 1 << 38),
                                             (-10, 300, 1)])
def test_range_iteration(start, stop, step):
    body = ["_ITER_CHECK_RANGE jump_target=JT error_target=0",
            "_GUARD_NOT_EXHAUSTED_RANGE jump_target=JT error_target=0",
            "_ITER_NEXT_RANGE jump_target=0 error_target=ET"]
    check(body, "continue" if range(start, stop, step) else "jump",
          objects=[f"it = range_iterator {start} {stop} {step}"], stack=["it owned"])


@pytest.mark.parametrize("kind", ["list", "tuple"])
@pytest.mark.parametrize("index", [0, 1, 2, 3])
def test_sequence_iteration(kind, index):
    K = kind.upper()
    body = [f"_ITER_CHECK_{K} jump_target=JT error_target=0",
            f"_GUARD_NOT_EXHAUSTED_{K} jump_target=JT error_target=0",
            "_ITER_NEXT_LIST_TIER_TWO jump_target=JT error_target=0" if kind == "list" else "_ITER_NEXT_TUPLE target=0"]
    objs = ["x = float 9.5", f"s = {kind} [x, 2, None]", f"it = {kind}_iterator s index={index}"]
    check(body, "continue" if index < 3 else "jump", objects=objs, stack=["it owned"])


def test_iter_checks_fail_on_other_iterators():
    for check_uop in ("_ITER_CHECK_LIST", "_ITER_CHECK_TUPLE"):
        check([f"{check_uop} jump_target=JT error_target=0"], "jump",
              objects=["it = range_iterator 0 3 1"], stack=["it owned"])
    check(["_ITER_CHECK_RANGE jump_target=JT error_target=0"], "jump",
          objects=["s = list [1]", "it = list_iterator s"], stack=["it owned"])


# -- sequences ------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["list", "tuple"])
@pytest.mark.parametrize("index", [0, 2, 3, 70000, -1])
@pytest.mark.parametrize("last_ref", [False, True])
def test_subscr(kind, index, last_ref):
    name = f"_BINARY_OP_SUBSCR_{kind.upper()}_INT"
    extra = "" if last_ref else " extra=1"
    objs = ["x = float 9.5", f"s = {kind} [x, 2, None]{extra}", decl("i", index, 0)]
    check([f"_GUARD_NOS_{kind.upper()} jump_target=JT error_target=0", f"{name} jump_target=JT error_target=0"],
          "continue" if 0 <= index < 3 else "jump", objects=objs, stack=["s owned", slot("i", index, False)])


@pytest.mark.parametrize("index", [0, 1, 2, 5, -2])
@pytest.mark.parametrize("value", ["v owned", "v borrowed", "7 immortal"])
def test_store_subscr(index, value):
    objs = ["x = float 9.5", "l = list [x, 2, 3.5] extra=1", "v = float 7.5 extra=1", decl("i", index, 0)]
    check(["_STORE_SUBSCR_LIST_INT jump_target=JT error_target=0"], "continue" if 0 <= index < 3 else "jump",
          objects=objs, stack=[value, "l owned", slot("i", index, False)])


@pytest.mark.parametrize("items", ["[a, b]", "[1, 2]", "[a, 2, None]", "[]", "[a]"])
@pytest.mark.parametrize("owned", [True, False])
def test_unpack(items, owned):
    n = 0 if items == "[]" else items.count(",") + 1
    objs = ["a = float 1.0 extra=1", "b = float 2.0 extra=1", f"t = tuple {items}" + ("" if owned or n == 0 else " extra=1")]
    ref = "t immortal" if n == 0 else "t owned" if owned else "t borrowed"   # () is a static singleton
    check(["_UNPACK_SEQUENCE_TWO_TUPLE oparg=2 jump_target=JT error_target=0"], "continue" if n == 2 else "jump",
          objects=objs, stack=[ref], stacksize=4)
    for oparg in (n, 3):
        check([f"_UNPACK_SEQUENCE_TUPLE oparg={oparg} jump_target=JT error_target=0"],
              "continue" if oparg == n else "jump", objects=objs, stack=[ref], stacksize=4)


@pytest.mark.parametrize("allocated", [2, 3, 8])
@pytest.mark.parametrize("value", ["v owned", "v borrowed", "4 immortal"])
@pytest.mark.parametrize("oparg", [1, 2])
def test_list_append(allocated, value, oparg):
    objs = [f"l = list [1, 2] allocated={allocated} extra=1", "v = float 3.5 extra=1"]
    stack = ["l borrowed"] + ["None immortal"] * (oparg - 1) + [value]
    check([f"_LIST_APPEND oparg={oparg} jump_target=0 error_target=ET"], "continue", objects=objs, stack=stack)


# -- the example traces ------------------------------------------------------------------------------

EXAMPLES = sorted(p.stem for p in (pathlib.Path(__file__).resolve().parent.parent / "examples").glob("*.trace"))


@pytest.mark.parametrize("name", EXAMPLES)
def test_examples_agree(name):
    """Every example trace (int_sum for 20000 iterations, float_loop, branchy and its chained
    executors) ends exactly as the reference semantics ends it, on both ISAs."""
    path = pathlib.Path(__file__).resolve().parent.parent / "examples" / f"{name}.trace"
    for arch in ARCHES:
        diffs, want, got = differences(path, arch)
        assert want.kind in ("tier1", "side_exit", "error"), want.render()
        assert not diffs, f"{name} on {arch}:\n" + "\n".join(diffs)
