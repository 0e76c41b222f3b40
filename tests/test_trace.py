"""The trace text format: parsing, printing, round trips, and every rejection with line:column.

The independent references here are FACTS.md §g.2 (the real dumps the examples were transcribed
from: index, name, oparg, format, targets) and uops.json (stack effects), read directly.
"""

from __future__ import annotations

import json
import math
import pathlib
import re
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refjit.errors import TraceError
from refjit.profile import load_profile
from refjit.trace import (Operand, format_trace, load_trace, parse_trace, reference_counts,
                          stack_effect)

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.trace"))
FACTS = pathlib.Path("/work/shared/cpython-3.14/FACTS.md")
UOPS_JSON = pathlib.Path("/work/shared/cpython-3.14/uops.json")


@pytest.fixture(scope="module")
def profile():
    return load_profile("3.14", "x86_64")


# A small valid trace every error test starts from and breaks in one place.
BASE = """\
refjit-trace 1
code f units=20 varnames=a,b
object x = int 1000
object y = float 2.5 extra=1
frame locals=2 stacksize=4
local 0 = x owned
local 1 = y owned
   0 _START_EXECUTOR  target=0 operand0=&executor
   1 _MAKE_WARM       target=0
   2 _LOAD_FAST_0     oparg=0 target=1
   3 _LOAD_FAST_1     oparg=1 target=2
   4 _GUARD_NOS_INT   jump_target=9 error_target=0
   5 _BINARY_OP       oparg=0 jump_target=0 error_target=8
   6 _POP_TOP         target=3
   7 _JUMP_TO_TOP     jump_target=1
   8 _ERROR_POP_N     target=0 operand0=3
   9 _EXIT_TRACE      target=2 operand0=&exit0
"""


def test_base_parses(profile):
    t = parse_trace(BASE, profile)
    assert [u.name for u in t.uops][:3] == ["_START_EXECUTOR", "_MAKE_WARM", "_LOAD_FAST_0"]
    assert t.uops[4].format == "jump" and t.uops[4].jump_target == 9
    assert t.uops[9].operand0 == Operand("exit", value=0)
    assert t.exits()[0].target == 2


def _error(profile, text: str) -> TraceError:
    with pytest.raises(TraceError) as info:
        parse_trace(text, profile, "t.trace")
    return info.value


@pytest.mark.parametrize("old,new,where,why", [
    # syntax
    ("refjit-trace 1", "refjit-trace 2", "t.trace:1:14", "unsupported format version"),
    ("refjit-trace 1\n", "", "t.trace:1:1", "expected the format line"),
    ("object x = int 1000", "object x = int 10.5", "t.trace:3:16", "expected an integer"),
    ("object x = int 1000", "object x = str 'a'", "t.trace:3:12", "unknown object kind"),
    ("object x = int 1000", "object x int 1000", "t.trace:3:10", "expected '='"),
    ("object y = float 2.5 extra=1", "object y = float 2.5 extra=", "t.trace:4:28",
     "expected a value for extra"),
    ("local 1 = y owned", "local 1 = y kept", "t.trace:7:13", "expected ownership"),
    ("local 1 = y owned", "local 1 = z owned", "t.trace:7:11", "unknown object 'z'"),
    ("local 1 = y owned", "local 5 = y owned", "t.trace:7:7", "out of range"),
    ("frame locals=2", "frame local=2", "t.trace:5:7", "unexpected 'local'"),
    ("   3 _LOAD_FAST_1", "   4 _LOAD_FAST_1", "t.trace:11:4", "expected uop index 3"),
    ("object x = int 1000", "object x = list [1, 2", "t.trace:3:22", "expected ',' or ']'"),
    ("object x = int 1000", "widget x", "t.trace:3:1", "unexpected 'widget'"),
    # unknown uops, operands
    ("_POP_TOP   ", "_POP_TOPS  ", "t.trace:14:6", "unknown uop '_POP_TOPS'"),
    ("_BINARY_OP       oparg=0 ", "_BINARY_OP               ", "t.trace:13:6",
     "expected oparg=N"),
    ("_LOAD_FAST_1     oparg=1", "_LOAD_FAST_1     oparg=2", "t.trace:11:29", "replica for oparg=1"),
    (" target=0 operand0=3", " target=0", "t.trace:16:6", "needs operand0="),
    (" target=2 operand0=&exit0", " target=2 operand0=7", "t.trace:17:41",
     "operand0 must be &exitK"),
    (" target=0 operand0=3", " target=0 operand0=&x", "t.trace:16:41", "must be an integer"),
    ("operand0=&executor", "operand0=&nothing", "t.trace:8:41", "unknown name 'nothing'"),
    ("_GUARD_NOS_INT   jump_target=9 error_target=0", "_GUARD_NOS_INT   target=0",
     "t.trace:12:30", "can exit: expected jump_target="),
    ("_POP_TOP         target=3", "_POP_TOP         jump_target=3", "t.trace:14:35",
     "neither exits nor fails"),
    ("_GUARD_NOS_INT   jump_target=9 error_target=0", "_GUARD_NOS_INT   jump_target=9 target=0",
     "t.trace:12:44", "exclusive"),
])
def test_syntax_errors_name_line_and_column(profile, old, new, where, why):
    assert old in BASE
    err = _error(profile, BASE.replace(old, new, 1))
    assert err.where == where, str(err)
    assert why in err.why, str(err)


@pytest.mark.parametrize("old,new,line,why", [
    ("jump_target=9 error_target=0", "jump_target=10 error_target=0", 12, "outside the trace"),
    ("error_target=8", "error_target=9", 13, "expected an _ERROR_POP_N stub"),
    ("jump_target=9 error_target=0", "jump_target=8 error_target=0", 12,
     "expected a _DEOPT or _EXIT_TRACE stub"),
    ("_LOAD_FAST_1     oparg=1 target=2", "_LOAD_FAST_1     oparg=1 target=20", 11,
     "outside the bytecode"),
    (" target=0 operand0=3", " target=0 operand0=0x20", 16, "outside the bytecode"),
    # stack underflow: _BINARY_OP needs two items
    ("   3 _LOAD_FAST_1     oparg=1 target=2", "   3 _NOP target=2", 12, "stack underflow"),
    # a loop that leaves one more item each time round
    ("   6 _POP_TOP         target=3", "   6 _NOP target=3", 15, "depth"),
    ("stacksize=4", "stacksize=1", 5, "more than the frame's stacksize=1"),
    ("varnames=a,b", "varnames=a,b,c", 2, "3 varnames but the frame has locals=2"),
    ("object y = float 2.5 extra=1\n", "object y = float 2.5 extra=1\nobject z = float 1.0\n", 5,
     "has no owner"),
])
def test_validation_errors(profile, old, new, line, why):
    assert old in BASE
    err = _error(profile, BASE.replace(old, new, 1))
    assert err.where.startswith(f"t.trace:{line}:"), str(err)
    assert why in err.why, str(err)


@pytest.mark.parametrize("old,new,bad", [
    # tabs and runs of spaces before the token the error is about (columns count characters)
    ("frame locals=2 stacksize=4", "frame\tlocals=2 \t  stacksize=four", "four"),
    ("local 1 = y owned", "local\t\t1  =\ty   kept", "kept"),
    ("object y = float 2.5 extra=1", "object y\t= float\t2.5 extra  =  0x", "0x"),
    ("   6 _POP_TOP         target=3", "\t6\t_POP_TOP target=3 \t oparg=1 fmt=TARGET  \tstray",
     "stray"),
    # a '#' ends the line's text: the error about what is missing points just past the text
    ("local 1 = y owned", "local 1 = y  \t # owned", None),
])
def test_error_columns_on_irregular_lines(profile, old, new, bad):
    """The column of the token an error is about, counted in the line's own characters; with
    nothing left on the line, the column just past its last token."""
    assert old in BASE
    text = BASE.replace(old, new, 1)
    lineno = text.splitlines().index(new) + 1
    err = _error(profile, text)
    col = new.index(bad) + 1 if bad else len(new.split("#")[0].rstrip()) + 1
    assert err.where == f"t.trace:{lineno}:{col}", str(err)


def test_lexer_agrees_with_the_token_grammar():
    """Tokens and their columns against the token grammar written as a regular expression
    (punctuation ``= [ ] ,``, or a run of characters that are neither white space nor
    punctuation), on lines mixing every white-space code point with punctuation and words."""
    from refjit.trace import _Line

    grammar = re.compile(r"[=\[\],]|[^\s=\[\],#]+")
    every_char = "".join(map(chr, range(sys.maxunicode + 1)))
    spaces = sorted(set(re.findall(r"\s", every_char)) | {c for c in every_char if c.isspace()})
    assert len(spaces) > 20
    for sp in spaces:
        for text in (f"a{sp}=b,{sp}[c]{sp}{sp}d", f"{sp}x{sp}y=[1,{sp}2]{sp}", f"k=v{sp}é{sp}"):
            ln = _Line(text, 1, "f")
            matches = list(grammar.finditer(text))
            assert ln.toks == [m[0] for m in matches], repr(text)
            assert [ln.col(k) for k in range(len(matches))] == [m.start() + 1 for m in matches]
            assert ln.col(len(matches)) == len(text.rstrip()) + 1


def test_underflow_names_the_uop(profile):
    text = BASE.replace("   3 _LOAD_FAST_1     oparg=1 target=2", "   3 _NOP target=2")
    err = _error(profile, text)
    assert "uop 4 _GUARD_NOS_INT" in err.why and "needs 2" in err.why and "has 1" in err.why


def test_ownership_rules(profile):
    err = _error(profile, BASE.replace("local 0 = x owned", "local 0 = 7 owned"))
    assert "immortal" in err.why and err.where == "t.trace:6:13"
    err = _error(profile, BASE.replace("local 0 = x owned", "local 0 = x immortal\nobject q = int 1 extra=0"))
    assert "not immortal" in err.why
    # a borrowed reference alone does not keep an object alive
    err = _error(profile, BASE.replace("local 0 = x owned", "local 0 = x borrowed"))
    assert "has no owner" in err.why and err.where.startswith("t.trace:3:")


def test_reference_counts(profile):
    text = BASE.replace("object y = float 2.5 extra=1",
                        "object y = float 2.5 extra=1\nobject l = list [x, y, 3.5, [y]]\n"
                        "object li = list_iterator l index=1 extra=1")
    t = parse_trace(text, profile)
    counts = reference_counts(t)
    by = {o.name: counts[id(o)] for o in t.objects}
    # x: local 0 + list item; y: extra + local 1 + list item + inner list item; l: the iterator
    assert by == {"x": 2, "y": 4, "l": 1, "li": 1}


def test_iterator_needs_owner(profile):
    text = BASE.replace("object y = float 2.5 extra=1",
                        "object y = float 2.5 extra=1\nobject l = list [1]\nobject li = list_iterator l")
    err = _error(profile, text)
    assert "'li' has no owner" in err.why


# -- the examples: real traces of FACTS §g.2 ---------------------------------------------------


def _facts_dumps() -> dict[str, list[tuple]]:
    """Every executor dump of FACTS §g.2 as (index, name, oparg, fmt, t1, t2, operand0)."""
    text = FACTS.read_text(encoding="utf-8")
    dumps: dict[str, list[tuple]] = {}
    current = None
    for line in text.splitlines():
        m = re.match(r"\s*=== (?:side-exit executor \(exit (\d+).*|(\w+) @ byte offset (\d+))", line)
        if m:
            current = f"side{m.group(1)}" if m.group(1) else f"{m.group(2)}@{m.group(3)}"
            if current in dumps:
                current += "_unoptimized"
            dumps[current] = []
            continue
        m = re.match(r"\s+(\d+) (_\w+)\s+oparg=(\d+)\s+fmt=(\w+) (?:target=(\d+)|jump_target=(\d+) "
                     r"error_target=(\d+))\s+operand0=(0x[0-9a-f]+)", line)
        if m and current:
            i, name, oparg, fmt, tgt, jt, et, op0 = m.groups()
            dumps[current].append((int(i), name, int(oparg), fmt.lower(),
                                   int(tgt) if tgt else int(jt), 0 if tgt else int(et), int(op0, 16)))
    return dumps


@pytest.mark.skipif(not FACTS.exists(), reason="needs /work/shared/cpython-3.14/FACTS.md")
@pytest.mark.parametrize("example,dump", [
    ("int_sum", "int_sum@50"), ("int_sum_unoptimized", "int_sum@50_unoptimized"),
    ("float_loop", "float_loop@66"), ("branchy", "branchy@102"), ("branchy_enter40", "branchy@80"),
    ("branchy_side_exit", "side2"),
])
def test_examples_match_the_real_dumps(profile, example, dump):
    """Each example's uops are the real executor's, field by field (operands that are addresses
    are checked by what they point at: &bytecode+N is 2*target away from the _SET_IP base)."""
    real = _facts_dumps()[dump]
    t = load_trace(str(ROOT / "examples" / f"{example}.trace"), profile)
    assert len(t.uops) == len(real)
    base = None
    for u, r in zip(t.uops, real):
        i, name, oparg, fmt, t1, t2, op0 = r
        assert (u.index, u.name, u.oparg, u.format) == (i, name, oparg, fmt)
        if fmt == "target":
            assert u.target == t1
        else:
            assert (u.jump_target, u.error_target) == (t1, t2)
        if name == "_SET_IP":
            assert u.operand0.kind == "bytecode" and u.operand0.addend == 2 * u.target
            base = base or op0 - u.operand0.addend
            assert op0 - u.operand0.addend == base
        elif name == "_ERROR_POP_N":
            assert u.operand0 == Operand("int", op0)
        elif name == "_EXIT_TRACE":
            assert u.operand0.kind == "exit"
        elif name == "_START_EXECUTOR":
            assert u.operand0.kind == "executor"
        elif u.operand0.kind == "int":
            assert u.operand0.value == op0


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_round_trip(profile, path):
    t = load_trace(str(path), profile)
    text = format_trace(t)
    t2 = parse_trace(text, profile)
    assert t2 == t
    assert format_trace(t2) == text


@pytest.mark.skipif(not UOPS_JSON.exists(), reason="needs uops.json")
def test_stack_effects_follow_uops_json(profile):
    table = {u["name"]: u for u in json.loads(UOPS_JSON.read_text())}
    # hand-computed from the DSL signatures in uops.json
    assert stack_effect(profile, "_COPY", 3) == (3, 4)
    assert stack_effect(profile, "_SWAP", 2) == (2, 2)
    assert stack_effect(profile, "_UNPACK_SEQUENCE_TUPLE", 5) == (1, 5)
    assert stack_effect(profile, "_LIST_APPEND", 1) == (2, 1)
    assert stack_effect(profile, "_BINARY_OP_ADD_INT", 0) == (2, 1)
    assert table["_ITER_NEXT_RANGE"]["stack_outputs"] == ["iter", "next"]
    assert stack_effect(profile, "_ITER_NEXT_RANGE", 0) == (1, 2)


# -- property: printing then parsing gives the same trace ---------------------------------------

_ints = st.one_of(st.integers(-300, 300), st.integers(-(1 << 100), 1 << 100))
_floats = st.floats(allow_nan=True, allow_infinity=True)


@st.composite
def _traces(draw):
    lines = ["refjit-trace 1", f"code g units={draw(st.integers(4, 50))}"]
    names = []
    for k in range(draw(st.integers(0, 5))):
        kind = draw(st.sampled_from(["int", "float", "list", "tuple"]))
        if kind == "int":
            v = str(draw(_ints))
        elif kind == "float":
            x = draw(_floats)
            v = "nan" if math.isnan(x) else repr(x)
        else:
            items = draw(st.lists(st.one_of(_ints.map(str), _floats.filter(lambda x: not math.isnan(x)).map(repr),
                                            st.sampled_from(["None", "True", "False"] + names)),
                                  max_size=4))
            v = "[" + ", ".join(items) + "]"
        lines.append(f"object o{k} = {kind} {v} extra=1")
        names.append(f"o{k}")
    nloc = draw(st.integers(0, 4))
    lines.append(f"frame locals={nloc}")
    for i in range(nloc):
        if names and draw(st.booleans()):
            lines.append(f"local {i} = {draw(st.sampled_from(names))} borrowed")
    depth = draw(st.integers(0, 2))
    for i in range(depth):
        lines.append(f"stack {i} = None immortal")
    lines += ["   0 _START_EXECUTOR target=0 operand0=&executor", "   1 _MAKE_WARM target=0",
              "   2 _SET_IP target=3 operand0=&bytecode+0x6", "   3 _DEOPT target=3"]
    return "\n".join(lines) + "\n"


@settings(max_examples=60, deadline=None)
@given(_traces())
def test_format_parse_round_trip(text):
    profile = load_profile("3.14", "x86_64")
    t = parse_trace(text, profile)
    out = format_trace(t)
    assert format_trace(parse_trace(out, profile)) == out


# -- executor sections (chained executors) --------------------------------------------------------

CHAIN = """\
refjit-trace 1
code f units=20
object x = float 1.5
frame locals=1 stacksize=4
local 0 = x owned
exit 0 executor=other
   0 _START_EXECUTOR  target=0
   1 _LOAD_FAST_0     target=1
   2 _GUARD_TOS_INT   jump_target=5 error_target=0
   3 _POP_TOP         target=1
   4 _JUMP_TO_TOP     jump_target=1
   5 _EXIT_TRACE      target=2 operand0=&exit0
executor other chain_depth=1
exit 0 executor=executor
   0 _START_EXECUTOR  target=2
   1 _POP_TOP         target=2
   2 _EXIT_TRACE      target=3 operand0=&exit0
"""


def test_executor_sections_parse_and_round_trip(profile):
    t = parse_trace(CHAIN.replace("frame locals=1", "enter_executor 3 other\nframe locals=1"),
                    profile, "c.trace")
    assert t.enter_executors == [(3, "other")]
    assert [s.name for s in t.sections()] == ["executor", "other"]
    other = t.side_executors[0]
    assert other.chain_depth == 1 and [u.name for u in other.uops][1] == "_POP_TOP"
    assert t.max_stack_depth == 1
    assert t.exits()[0].executor == "other" and other.exits()[0].executor == "executor"
    assert parse_trace(format_trace(t), profile) == t


@pytest.mark.parametrize("old,new,line,why", [
    ("exit 0 executor=other", "exit 0 executor=nobody", 6, "unknown executor 'nobody'"),
    ("exit 0 executor=other\n", "", 12, "has no owner"),
    # entered with the depth at the exit (1: the guard leaves before popping); popping two fails
    ("   1 _POP_TOP         target=2", "   1 _POP_TWO_LOAD_CONST_INLINE_BORROW target=2 operand0=&None",
     16, "stack underflow"),
    ("executor other chain_depth=1", "executor x chain_depth=1", 13, "cannot name another executor"),
    ("frame locals=1", "enter_executor 20 other\nframe locals=1", 4, "out of range"),
    ("frame locals=1", "enter_executor 3 x\nframe locals=1", 4, "expected the name of an executor"),
    ("frame locals=1", "enter_executor 3 nobody\nframe locals=1", 4, "unknown executor 'nobody'"),
])
def test_executor_section_errors(profile, old, new, line, why):
    assert old in CHAIN
    err = _error(profile, CHAIN.replace(old, new, 1))
    assert err.where.startswith(f"t.trace:{line}:"), str(err)
    assert why in err.why, str(err)


def test_enter_executor_must_agree_with_the_bytecode(profile):
    text = (ROOT / "examples" / "int_sum.trace").read_text()
    t = parse_trace(text, profile)
    assert t.bytecode[50:52] == bytes([255, 0]) and t.enter_executors == [(25, "executor")]
    err = _error(profile, text.replace("enter_executor 25 executor", "enter_executor 24 executor"))
    assert "not ENTER_EXECUTOR (255) 0" in err.why and "opcode 112" in err.why


# -- operand0 = 0 survives printing (fuzz finding, requests.md F1 ~15:12) ---------------------------

ZERO_OPERANDS = """\
refjit-trace 1
code t units=4
frame locals=0
0 _START_EXECUTOR target=0 operand0=&executor
1 _CHECK_PERIODIC jump_target=0 error_target=4
2 _CHECK_STACK_SPACE_OPERAND jump_target=3 operand0=0
3 _DEOPT target=0
4 _ERROR_POP_N target=0 operand0=0
"""


def test_a_zero_operand0_the_uop_uses_is_printed_and_parses_back(profile):
    """_ERROR_POP_N's tier-1 index and _CHECK_STACK_SPACE_OPERAND's frame size may be 0; the
    parser requires operand0 on both, so the printer gives it even when it is 0."""
    t = parse_trace(ZERO_OPERANDS, profile)
    text = format_trace(t)
    lines = {line.split()[1]: line for line in text.splitlines() if line[:4].strip().isdigit()}
    assert lines["_ERROR_POP_N"].endswith(" operand0=0")
    assert lines["_CHECK_STACK_SPACE_OPERAND"].endswith(" operand0=0")
    assert "operand0" not in lines["_DEOPT"] and "operand0" not in lines["_CHECK_PERIODIC"]
    assert parse_trace(text, profile) == t
    # without operand0 the parser still refuses both (the printer must not rely on a default)
    for name in ("_ERROR_POP_N", "_CHECK_STACK_SPACE_OPERAND"):
        bad = "\n".join(line.replace(" operand0=0", "") if name in line else line
                        for line in ZERO_OPERANDS.splitlines())
        with pytest.raises(TraceError, match=f"{name} needs operand0="):
            parse_trace(bad, profile)


def test_a_trace_built_by_hand_prints_error_pop_n_operand0_zero(profile):
    """A Trace never validated (no operand0_required flags) still prints the uops whose
    operand0 the format names (OPERAND0_KIND), so its text parses."""
    t = parse_trace(ZERO_OPERANDS, profile)
    for u in t.uops:
        u.operand0_required = False
    printed = format_trace(t)
    assert "_ERROR_POP_N" in printed and " operand0=0" in printed.split("_ERROR_POP_N")[1]


def test_uop_rules_follow_the_spec_they_are_asked_with():
    # The parser reads a uop's rules from its spec once per name; a spec of the same name from
    # another profile (here: a changed copy) must give that spec's rules, not the remembered ones.
    import dataclasses
    from refjit.trace import OPERAND0_KIND, _uop_rules
    spec = load_profile("3.14", "x86_64").uops["_GUARD_NOS_FLOAT"]
    first = _uop_rules(spec, spec.name)
    assert first == (spec.const_oparg, spec.uses_oparg, "HAS_EXIT" in spec.flags
                     or "HAS_DEOPT" in spec.flags, "HAS_ERROR" in spec.flags, spec.uses_target,
                     bool(spec.uses_operand0) or OPERAND0_KIND.get(spec.name, "executor") != "executor",
                     OPERAND0_KIND.get(spec.name))
    other = dataclasses.replace(spec, const_oparg=3, flags=frozenset({"HAS_ERROR"}),
                                uses_target=not spec.uses_target)
    assert _uop_rules(other, spec.name)[:5] == (3, spec.uses_oparg, False, True,
                                                not spec.uses_target)
    assert _uop_rules(spec, spec.name) == first
