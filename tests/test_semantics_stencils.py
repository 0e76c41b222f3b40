"""Every loop-slice uop of the reference semantics against CPython's own machine code.

Local check (the real jit_stencils-<triple>.h of a 3.14.7 build are not in the repository; set
REFJIT_REAL_STENCILS to their folder; tests/real_stencils.py): each small trace below
is materialised twice from the same text, run once by the reference semantics and once as the
real stencils linked exactly as jit.c does, on the Unicorn machine of each ISA. The Outcomes
(how it ended, every frame slot's bits, every object's refcount and value, thread state) must
be equal. Together the cases execute all 97 uops of the slice, on both paths of every guard.
"""

from __future__ import annotations

import real_stencils

import math
import pathlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from semantics_helpers import OBJECTS, REFS, trace_text, uop_line
from typed_traces import LOCALS, typed_body

from refjit.emulator import Machine
from refjit.link import link
from refjit.profile import load_profile
from refjit.scenario import build_scenario
from refjit.semantics import LOOP_SLICE, run_scenario

from refjit.trace import parse_trace

EXECUTED: set[str] = set()


def header(arch: str):
    return real_stencils.require(arch)


def on_machine(text: str, arch: str):
    prof = load_profile("3.14", arch)
    sc = build_scenario(parse_trace(text, prof), prof)
    p = sc.process
    base = p.regions["jit"].base
    hdr = header(arch)
    linked = link(sc.uops, hdr.groups, hdr.shim, arch=arch, executor=sc.executor, base=base,
                  resolve=p.symbols)
    linked.install(p, sc.executor)
    return Machine(arch, p).run(base, sc.frame, sc.stack_pointer, sc.tstate, executor=sc.executor,
                                uop_map=linked.pc_map, raise_on_fault=False)


def on_semantics(text: str, arch: str):
    prof = load_profile("3.14", arch)
    return run_scenario(build_scenario(parse_trace(text, prof), prof), budget=100_000)


def check(text: str):
    for arch in ("x86_64", "aarch64"):
        machine = on_machine(text, arch)
        reference = on_semantics(text, arch)
        assert machine.compare(reference) == [], f"{arch}:\n{text}\n{reference.render()}"
    for line in text.splitlines():
        parts = line.split()
        if len(parts) > 1 and parts[0].isdigit():
            EXECUTED.add(parts[1])


# -- fixed cases: every uop, both paths --------------------------------------------------------------

MORTAL = [o + " extra=1" for o in ("i = int 100000", "f = float 2.5", "l = list [1, 2.5, None]",
                                    "t = tuple [7, 8.5]", "r = range_iterator 0 3 1",
                                    "li = list_iterator l", "ti = tuple_iterator t")]
# (body, kwargs) pairs
CASES: list[tuple[list[str], dict]] = []


def case(body, **kw):
    CASES.append((body, kw))


for k in range(8):
    locs = [None] * k + ["i owned"]
    case([f"_LOAD_FAST_{k} target=0"], objects=["i = int 100000"], locals_=locs)
    case([f"_LOAD_FAST_BORROW_{k} target=0"], objects=["i = int 100000"], locals_=locs)
    case([f"_STORE_FAST_{k} target=0"], objects=["i = int 100000", "f = float 1.0"],
         locals_=locs, stack=["f owned"])
case(["_LOAD_FAST oparg=9 target=0"], objects=["f = float 1.0 extra=1"],
     locals_=[None] * 9 + ["f borrowed"])
case(["_LOAD_FAST_BORROW oparg=8 target=0"], objects=["f = float 1.0"],
     locals_=[None] * 8 + ["f owned"])
case(["_STORE_FAST oparg=8 target=0"], objects=["f = float 1.0 extra=1"],
     locals_=[None] * 8 + ["f borrowed"], stack=["None immortal"])
case(["_LOAD_FAST_CHECK oparg=0 jump_target=0 error_target=ET"], objects=["f = float 1.0"],
     locals_=["f owned"])
case(["_LOAD_FAST_CHECK oparg=1 jump_target=0 error_target=ET"], nlocals=2, locals_=[])
case(["_LOAD_FAST_AND_CLEAR oparg=1 target=0"], objects=["f = float 1.0"],
     locals_=[None, "f owned"])
case(["_LOAD_CONST_INLINE target=0 operand0=&f", "_LOAD_CONST_INLINE target=0 operand0=&None",
      "_LOAD_CONST_INLINE_BORROW target=0 operand0=&True"], objects=["f = float 0.5 extra=1"])
for k in range(4):
    case([f"_LOAD_SMALL_INT_{k} target=0"])
case(["_LOAD_SMALL_INT oparg=200 target=0", "_PUSH_NULL target=0", "_COPY oparg=2 target=0",
      "_SWAP oparg=3 target=0"])
case(["_POP_TOP target=0", "_POP_TOP target=0", "_POP_TOP target=0"],
     objects=["f = float 1.0", "g = float 2.0 extra=1"], stack=["g owned", "g borrowed", "f owned"])
case(["_POP_TOP_LOAD_CONST_INLINE_BORROW target=0 operand0=&None",
      "_POP_TWO_LOAD_CONST_INLINE_BORROW target=0 operand0=&False", "_END_FOR target=0"],
     objects=["f = float 1.0", "g = float 2.0", "h = float 3.0"],
     stack=["h owned", "g owned", "i owned", "f owned"], extra_lines=["object i = int 5000000000"])
case(["_NOP target=0", "_MAKE_WARM target=0", "_CHECK_VALIDITY jump_target=JT error_target=0",
      "_TIER2_RESUME_CHECK jump_target=JT error_target=0", "_SET_IP target=0 operand0=&bytecode+0x4",
      "_CHECK_PERIODIC jump_target=0 error_target=ET"])
case(["_MAKE_WARM target=0", "_TIER2_RESUME_CHECK jump_target=JT error_target=0"],
     extra_lines=["interp trace_run_counter=1"])
case(["_CHECK_PERIODIC jump_target=0 error_target=ET"], extra_lines=["tstate eval_breaker=0x11"])
case(["_CHECK_VALIDITY jump_target=JT error_target=0"], extra_lines=["executor invalid"])

# guards: every guard on every kind, at the position it inspects
GUARDED = {"_GUARD_TOS_INT": -1, "_GUARD_NOS_INT": -2, "_GUARD_TOS_FLOAT": -1,
           "_GUARD_NOS_FLOAT": -2, "_GUARD_TOS_LIST": -1, "_GUARD_NOS_LIST": -2,
           "_GUARD_TOS_TUPLE": -1, "_GUARD_NOS_TUPLE": -2, "_ITER_CHECK_RANGE": -1,
           "_ITER_CHECK_LIST": -1, "_ITER_CHECK_TUPLE": -1, "_TO_BOOL_BOOL": -1,
           "_TO_BOOL_INT": -1, "_TO_BOOL_NONE": -1}
for guard, pos in GUARDED.items():
    for ref in ["i owned", "f owned", "l owned", "t owned", "r owned", "li owned", "ti owned",
                "True immortal", "None immortal", "0 immortal"]:
        stack = [ref, "1 immortal"] if pos == -2 else ["1 immortal", ref]
        case([f"{guard} jump_target=JT error_target=0"], objects=MORTAL, stack=stack)

for guard in ("_GUARD_IS_TRUE_POP", "_GUARD_IS_FALSE_POP", "_GUARD_IS_NONE_POP",
              "_GUARD_IS_NOT_NONE_POP"):
    for ref in ("True immortal", "False immortal", "None immortal", "f owned"):
        case([f"{guard} jump_target=JT error_target=0"], objects=["f = float 1.0 extra=1"],
             stack=[ref])
for ref in ("True immortal", "False immortal"):
    case(["_UNARY_NOT target=0"], stack=[ref])
case(["_REPLACE_WITH_TRUE target=0"], objects=["l = list []"], stack=["l owned"])
for left, right, oparg in (("f", "f", 0), ("f", "g", 1), ("None", "f", 0)):
    own = {"f": "f owned", "g": "g owned", "None": "None immortal"}
    case([f"_IS_OP oparg={oparg} target=0"], objects=["f = float 1.0 extra=1",
                                                       "g = float 1.0 extra=1"],
         stack=[own[left], own[right]])

# iteration: not exhausted, exhausted
for start, stop in ((0, 3), (5, 5)):
    case(["_ITER_CHECK_RANGE jump_target=JT error_target=0",
          "_GUARD_NOT_EXHAUSTED_RANGE jump_target=JT error_target=0",
          "_ITER_NEXT_RANGE jump_target=0 error_target=ET"],
         objects=[f"r = range_iterator {start} {stop} 7"], stack=["r owned"])
for index in (0, 1, 2):
    case(["_ITER_CHECK_LIST jump_target=JT error_target=0",
          "_GUARD_NOT_EXHAUSTED_LIST jump_target=JT error_target=0",
          "_ITER_NEXT_LIST_TIER_TWO jump_target=JT error_target=0"],
         objects=["f = float 1.5", "l = list [f, 3]", f"li = list_iterator l index={index}"],
         stack=["li owned"])
    case(["_ITER_CHECK_TUPLE jump_target=JT error_target=0",
          "_GUARD_NOT_EXHAUSTED_TUPLE jump_target=JT error_target=0",
          "_ITER_NEXT_TUPLE target=0"],
         objects=["f = float 1.5", "t = tuple [f, 3]", f"ti = tuple_iterator t index={index}"],
         stack=["ti owned"])

# sequences
for index in ("0 immortal", "1 immortal", "2 immortal", "-1 immortal", "big owned"):
    objs = ["f = float 1.5", "l = list [f, 3] extra=1", "t = tuple [f, 3] extra=1",
            "big = int 10000000000 extra=1", "v = float 9.5 extra=1"]
    case(["_BINARY_OP_SUBSCR_LIST_INT jump_target=JT error_target=0"], objects=objs,
         stack=["l owned", index])
    case(["_BINARY_OP_SUBSCR_TUPLE_INT jump_target=JT error_target=0"], objects=objs,
         stack=["t owned", index])
    case(["_STORE_SUBSCR_LIST_INT jump_target=JT error_target=0"], objects=objs,
         stack=["v owned", "l owned", index])
for n in (2, 3):
    items = ", ".join(["f", "2", "None"][:n])
    case(["_UNPACK_SEQUENCE_TWO_TUPLE oparg=2 jump_target=JT error_target=0"],
         objects=["f = float 1.5", f"t = tuple [{items}]"], stack=["t owned"])
    case(["_UNPACK_SEQUENCE_TUPLE oparg=3 jump_target=JT error_target=0"],
         objects=["f = float 1.5", f"t = tuple [{items}]"], stack=["t owned"])
for allocated in (2, 3):
    case(["_LIST_APPEND oparg=2 jump_target=0 error_target=ET"],
         objects=[f"l = list [1, 2] allocated={allocated}", "f = float 4.5"],
         stack=["l owned", "None immortal", "f owned"])

# arithmetic and comparisons on a few fixed values (random ones below)
for uop in ("_BINARY_OP_ADD_INT", "_BINARY_OP_SUBTRACT_INT", "_BINARY_OP_MULTIPLY_INT"):
    case([f"{uop} jump_target=0 error_target=ET"], objects=["a = int 1073741823", "b = int 3000"],
         stack=["a owned", "b owned"])
for uop in ("_BINARY_OP_ADD_FLOAT", "_BINARY_OP_SUBTRACT_FLOAT", "_BINARY_OP_MULTIPLY_FLOAT"):
    case([f"{uop} jump_target=0 error_target=ET"], objects=["a = float 1.5", "b = float -0.0 extra=1"],
         stack=["a owned", "b borrowed"])
case(["_COMPARE_OP_INT oparg=18 jump_target=JT error_target=0"], stack=["3 immortal", "200 immortal"])
case(["_COMPARE_OP_FLOAT oparg=119 target=0"], objects=["a = float nan", "b = float 1.0"],
     stack=["a owned", "b owned"])
case(["_BINARY_OP oparg=11 jump_target=0 error_target=ET"], stack=["7 immortal", "0 immortal"])

# a loop: _JUMP_TO_TOP back to uop 1 until the range is exhausted
case(["_GUARD_NOT_EXHAUSTED_RANGE jump_target=JT error_target=0",
      "_ITER_NEXT_RANGE jump_target=0 error_target=ET", "_POP_TOP target=0",
      "_JUMP_TO_TOP jump_target=1"], objects=["r = range_iterator 0 2000000000000 400000000000"],
     stack=["r owned"])

# leaving: deopt, error stub, exits (cold, triggering, linked, invalid link), fatal
EXIT = ["_EXIT_TRACE target=5 operand0=&exit0"]
case(EXIT)
case(EXIT, extra_lines=["exit 0 temperature=12"])
case(EXIT, extra_lines=["object other = executor", "exit 0 executor=other"])
case(EXIT, extra_lines=["object other = executor invalid extra=1", "exit 0 executor=other"])
case(EXIT, extra_lines=["object other = executor extra=1", "enter_executor 5 other",
                        "exit 0 temperature=12"])
case(["_LOAD_FAST_0 target=0"] + EXIT, objects=["f = float 1.0"], locals_=["f owned"],
     extra_lines=["object other = executor", "exit 0 executor=other"])
case(["_DEOPT target=6"], objects=["f = float 1.0"], stack=["f owned"])
case(["_ERROR_POP_N target=0 operand0=4"])
case(["_FATAL_ERROR target=0"])


@pytest.mark.parametrize("body,kw", CASES, ids=lambda x: x[0].split()[0] if isinstance(x, list) else "")
def test_uop_matches_the_real_stencils(body, kw):
    check(trace_text(body, **kw))


# -- random values: arithmetic and comparisons ------------------------------------------------------

ints = st.one_of(st.integers(-5, 256), st.integers(-(1 << 31), 1 << 31),
                 st.integers(-(1 << 70), 1 << 70))
floats = st.one_of(st.floats(), st.sampled_from([0.0, -0.0, math.inf, -math.inf, math.nan]))


def decl(name, v):
    if isinstance(v, float):
        return f"{name} = float {'nan' if math.isnan(v) else repr(v)}"
    return f"{name} = int {v}"


def ref(name, v):
    return f"{name} immortal" if isinstance(v, int) and -5 <= v <= 256 else f"{name} owned"


SLOW = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SLOW
@given(a=ints, b=ints, uop=st.sampled_from(["_BINARY_OP_ADD_INT", "_BINARY_OP_SUBTRACT_INT",
                                            "_BINARY_OP_MULTIPLY_INT", "_COMPARE_OP_INT oparg=88",
                                            "_COMPARE_OP_INT oparg=18", "_BINARY_OP oparg=6",
                                            "_BINARY_OP oparg=2", "_BINARY_OP oparg=11"]))
def test_int_ops_match_the_real_stencils(a, b, uop):
    fmt = "jump_target=JT error_target=0" if "COMPARE" in uop else "jump_target=0 error_target=ET"
    check(trace_text([f"{uop} {fmt}"], objects=[decl("a", a), decl("b", b)],
                     stack=[ref("a", a), ref("b", b)]))


@SLOW
@given(a=floats, b=floats, uop=st.sampled_from(["_BINARY_OP_ADD_FLOAT", "_BINARY_OP_SUBTRACT_FLOAT",
                                                "_BINARY_OP_MULTIPLY_FLOAT",
                                                "_COMPARE_OP_FLOAT oparg=88",
                                                "_COMPARE_OP_FLOAT oparg=119"]))
def test_float_ops_match_the_real_stencils(a, b, uop):
    fmt = "target=0" if "COMPARE" in uop else "jump_target=0 error_target=ET"
    check(trace_text([f"{uop} {fmt}"], objects=[decl("a", a), decl("b", b)],
                     stack=[ref("a", a), ref("b", b)]))


def test_chained_executors_match_the_real_stencils():
    """branchy's three executors, each linked at its own place in the JIT region and chained
    through their exits: the machine runs from one executor's code into the next exactly as the
    semantics switches executors, and both end with the same Outcome."""
    from refjit.trace import load_trace

    path = pathlib.Path(__file__).resolve().parent.parent / "examples" / "branchy_chained.trace"
    outcomes = []
    for arch in ("x86_64", "aarch64"):
        prof = load_profile("3.14", arch)
        trace = load_trace(str(path), prof)
        runs = []
        for side in ("machine", "semantics"):
            sc = build_scenario(trace, prof)
            p = sc.process
            p.view("_PyRangeIterObject", sc.address_of("it")).len = 301  # a shorter loop
            if side == "semantics":
                runs.append(run_scenario(sc))
                continue
            hdr = header(arch)
            base = p.regions["jit"].base
            pc_map = []
            for k, (executor, uops) in enumerate(sorted(sc.executors.items())):
                at = base + k * 0x10000
                linked = link(uops, hdr.groups, hdr.shim, arch=arch, executor=executor, base=at,
                              resolve=p.symbols)
                linked.install(p, executor)
                pc_map += linked.pc_map
            main = p.view("_PyExecutorObject", sc.executor).jit_code
            runs.append(Machine(arch, p).run(main, sc.frame, sc.stack_pointer, sc.tstate,
                                             executor=sc.executor, uop_map=sorted(pc_map),
                                             side_entries={}, raise_on_fault=False))
        machine, reference = runs
        assert reference.kind == "tier1" and reference.target == 54
        assert machine.compare(reference) == [], f"{arch}\n{machine.render()}"
        outcomes.append(machine)
    assert outcomes[0].compare(outcomes[1]) == []


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_traces_match_the_real_stencils(data):
    """Random uop sequences on random stacks, each uop given only what its preconditions allow
    (tests/typed_traces.py: what the tier-2 optimizer's guards would have proved; anything else
    is undefined behaviour in CPython's C): the same Outcome on both ISAs."""
    stack = data.draw(st.lists(st.sampled_from(REFS), max_size=5))
    body = data.draw(typed_body(stack))
    text = trace_text([uop_line(n, a) for n, a in body], objects=OBJECTS, locals_=LOCALS,
                      stack=stack)
    for arch in ("x86_64", "aarch64"):
        reference = on_semantics(text, arch)
        machine = on_machine(text, arch)
        assert machine.compare(reference) == [], f"{arch}\n{text}\n{reference.render()}"


def test_every_slice_uop_was_compared():
    """Runs last in this file: the cases above executed all 97 uops of the loop slice."""
    if not EXECUTED:
        pytest.skip("no case ran (real stencils not available)")
    assert sorted(LOOP_SLICE - EXECUTED) == []

