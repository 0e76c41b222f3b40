"""The three-way check (refjit.check) and `refjit run --check`.

Oracles: the reference semantics (itself tested against the host Python and the real stencils),
the host Python for loop results, and hand-made defects whose place and effect are known in
advance (one byte of a refjit group changed: an increment that decrements, a guard condition
off by one; a group that loads from address 0).
"""

from __future__ import annotations

import real_stencils

import dataclasses
import pathlib
import subprocess
import sys

import pytest

from refjit.asmtext import assemble_lines
from refjit.check import _semantics_at, check_trace
from refjit.compile import TRIPLES, compile_groups, shim_group
from refjit.errors import LinkError
from refjit.headerwriter import build_group, write_header
from refjit.profile import load_profile
from refjit.scenario import build_scenario
from refjit.semantics import run_scenario
from refjit.stencils import StencilHeader, read_header
from refjit.trace import load_trace, parse_trace

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.trace"))
ARCHES = ("x86_64", "aarch64")
PROFILE = load_profile("3.14", "x86_64")
ITERATIONS = 40


def shorten(sc):
    """Fewer loop iterations (the range iterator's remaining length), the same on every side."""
    if "it" in sc.objects:
        it = sc.process.view("_PyRangeIterObject", sc.address_of("it"))
        it.len = min(it.len, ITERATIONS)


# A loop over a 50-element range whose body loads local 1 (a float with refcount 1) and pops
# it again; it leaves through _GUARD_NOT_EXHAUSTED_RANGE's jump to the _DEOPT at index 7.
# Non-empty uops per iteration: guard, next, load, pop, pop, jump = 6.
LOOP = """refjit-trace 1
code t units=16
object f = float 2.5
object r = range_iterator 0 50 1
frame locals=2 stacksize=4
local 1 = f owned
stack 0 = r owned
0 _START_EXECUTOR target=0 operand0=&executor
1 _GUARD_NOT_EXHAUSTED_RANGE jump_target=7 error_target=0
2 _ITER_NEXT_RANGE jump_target=0 error_target=8
3 _LOAD_FAST_1 target=0
4 _POP_TOP target=0
5 _POP_TOP target=0
6 _JUMP_TO_TOP jump_target=1
7 _DEOPT target=3
8 _ERROR_POP_N target=0 operand0=2
"""
LOOP_UOPS = ["_START_EXECUTOR", "_GUARD_NOT_EXHAUSTED_RANGE", "_ITER_NEXT_RANGE", "_LOAD_FAST_1",
             "_POP_TOP", "_JUMP_TO_TOP", "_DEOPT", "_ERROR_POP_N"]
PER_ITERATION = 6
LENGTH = 50

# One byte that turns refjit's code wrong, checked against the instruction it must hit:
# Py_INCREF's increment becomes a decrement; the guard's "exhausted when len <= 0" becomes
# "len < 0", so the loop runs once more than it should.
DEFECTS = {
    ("x86_64", "_LOAD_FAST_1"): ("incl (%rax)", "decl (%rax)"),
    ("aarch64", "_LOAD_FAST_1"): ("add w16, w16, #0x1", "sub w16, w16, #0x1"),
}
BYTE_DEFECTS = {
    ("x86_64", "_GUARD_NOT_EXHAUSTED_RANGE"): (b"\x0f\x8e", b"\x0f\x8c"),      # jle -> jl
    ("aarch64", "_GUARD_NOT_EXHAUSTED_RANGE"): (b"\x4c\x00\x00\x54", b"\x4a\x00\x00\x54"),  # b.gt -> b.ge
}


def encode(arch: str, line: str) -> bytes:
    (r,) = assemble_lines(arch, [line])
    assert r.error is None, r.error
    return r.encoding


def broken_groups(arch: str, uop: str) -> dict:
    groups = compile_groups(arch, LOOP_UOPS)
    g = groups[uop]
    if (arch, uop) in DEFECTS:
        old, new = (encode(arch, x) for x in DEFECTS[arch, uop])
    else:
        old, new = BYTE_DEFECTS[arch, uop]
    assert g.code.body.count(old) == 1, f"{arch} {uop}: the instruction to break is not there once"
    assert len(old) == len(new) and sum(a != b for a, b in zip(old, new)) == 1
    groups[uop] = dataclasses.replace(g, code=dataclasses.replace(g.code,
                                                                  body=g.code.body.replace(old, new)))
    return groups


def as_header(arch: str, groups: dict) -> StencilHeader:
    return StencilHeader(TRIPLES[arch], arch, shim_group(arch), groups)


def loop_trace():
    return parse_trace(LOOP, PROFILE, "loop.trace")


# -- agreement -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_agrees_on_both_isas(path):
    report = check_trace(load_trace(str(path), PROFILE), prepare=shorten)
    assert sorted(report.outcomes) == sorted(f"{s}/{a}" for s in ("semantics", "refjit") for a in ARCHES)
    assert report.agree, "\n".join(report.lines())
    assert report.differences == []
    for arch in ARCHES:
        assert report.outcomes[f"refjit/{arch}"].instructions > 0
        assert report.uops_executed[f"semantics/{arch}"] > 0


def test_int_sum_full_length_agrees_with_the_host_python():
    """No shortening: 20000 iterations on both ISAs, and the total is the host's sum()."""
    report = check_trace(load_trace(str(ROOT / "examples" / "int_sum.trace"), PROFILE))
    assert report.agree, "\n".join(report.lines())
    for label, outcome in report.outcomes.items():
        total = outcome.locals[1].split()[0]
        obj = next(o for o in outcome.objects if o.ident == total)
        assert obj.value == repr(sum(range(20000))), label
        assert outcome.kind == "tier1" and outcome.target == 28, label


def test_the_stepped_semantics_ends_as_the_interpreter_does():
    """The divergence search steps the semantics itself; run to the end it must give exactly the
    Outcome of refjit.semantics.run_scenario on every example."""
    for path in EXAMPLES:
        for arch in ARCHES:
            profile = load_profile("3.14", arch)
            sc = build_scenario(load_trace(str(path), profile), profile)
            shorten(sc)
            snap = sc.process.snapshot()
            stepped = _semantics_at(sc, snap, 10**9, {}, 10**7)
            assert stepped.next is None
            sc.process.restore(snap)
            assert stepped.outcome.compare(run_scenario(sc)) == [], f"{path.stem} {arch}"


# -- pinning a disagreement on its uop ---------------------------------------------------------


@pytest.mark.parametrize("arch", ARCHES)
def test_a_wrong_refcount_is_pinned_on_the_uop_that_made_it(arch):
    header = as_header(arch, broken_groups(arch, "_LOAD_FAST_1"))
    report = check_trace(loop_trace(), arches=(arch,), stencils={arch: header})
    assert report.outcomes[f"refjit/{arch}"] == report.outcomes[f"semantics/{arch}"]
    assert not report.agree
    (d,) = report.differences
    assert (d.label, d.reference) == (f"stencils/{arch}", f"semantics/{arch}")
    # The first iteration's load: guard, next, load -> the third uop with code.
    assert (d.uop_index, d.uop_name, d.step) == (3, "_LOAD_FAST_1", 3)
    # f had refcount 1; the load should make it 2, the broken one makes it 0 (implementation first).
    assert "local 1: refcount 0 vs 2" in d.first
    assert "stack 2: refcount 0 vs 2" in d.first
    assert d.describe().splitlines()[0] == (f"stencils/{arch} vs semantics/{arch}: first divergence "
                                            "at uop 3 _LOAD_FAST_1 (#3 in execution order)")


@pytest.mark.parametrize("arch", ARCHES)
def test_a_wrong_branch_deep_in_a_loop_is_found(arch):
    header = as_header(arch, broken_groups(arch, "_GUARD_NOT_EXHAUSTED_RANGE"))
    report = check_trace(loop_trace(), arches=(arch,), stencils={arch: header})
    (d,) = report.differences
    # 50 full iterations, then the guard that must fail: uop number 50 * 6 + 1.
    assert (d.uop_index, d.uop_name, d.step) == (1, "_GUARD_NOT_EXHAUSTED_RANGE",
                                                 LENGTH * PER_ITERATION + 1)
    assert d.first == ["next uop: uop 2 _ITER_NEXT_RANGE vs uop 7 _DEOPT"]
    # In the end the iterator went one step too far: (next value, step, remaining length).
    assert "stack 0: value (51, 1, -1) vs (50, 1, 0)" in d.details


@pytest.mark.parametrize("arch", ARCHES)
def test_a_wrong_uop_in_a_chained_executor_is_named_with_its_executor(arch):
    """branchy_chained: the main executor side-exits into 'side', whose _BINARY_OP_ADD_INT
    (x + 2 with x = 0 the first time) is replaced by the subtraction's group."""
    trace = load_trace(str(ROOT / "examples" / "branchy_chained.trace"), PROFILE)
    names = {u.name for sec in trace.sections() for u in sec.uops}
    groups = compile_groups(arch, names | {"_BINARY_OP_SUBTRACT_INT"})
    groups["_BINARY_OP_ADD_INT"] = groups["_BINARY_OP_SUBTRACT_INT"]
    report = check_trace(trace, arches=(arch,), stencils={arch: as_header(arch, groups)},
                         prepare=shorten)
    (d,) = report.differences
    assert (d.uop_index, d.uop_name, d.executor) == (6, "_BINARY_OP_ADD_INT", "side")
    assert d.first == [f"stack 1: small_int[{0 - 2}] borrowed vs small_int[{0 + 2}] borrowed"]
    assert " of executor side (#" in d.describe().splitlines()[0]


@pytest.mark.parametrize("arch", ARCHES)
def test_mixed_groups_pin_the_source(arch):
    header = as_header(arch, broken_groups(arch, "_LOAD_FAST_1"))
    trace = loop_trace()
    # Everything from the broken "stencils" but the one broken uop: agreement.
    ok = check_trace(trace, arches=(arch,), stencils={arch: header},
                     mix={"*": "stencil", "_LOAD_FAST_1": "refjit"})
    assert ok.outcomes[f"mixed/{arch}"] == ok.outcomes[f"semantics/{arch}"]
    assert [d.label for d in ok.differences] == [f"stencils/{arch}"]
    # refjit's code with only uop 3 taken from the broken source: the mixed run disagrees there.
    bad = check_trace(trace, arches=(arch,), stencils={arch: header}, mix={3: "stencil"})
    d = next(d for d in bad.differences if d.label == f"mixed/{arch}")
    assert (d.uop_index, d.uop_name, d.step) == (3, "_LOAD_FAST_1", 3)
    # ... and with uop 3 from refjit and every other uop from the broken source: agreement.
    good = check_trace(trace, arches=(arch,), stencils={arch: header}, mix={"*": "stencil", 3: "refjit"})
    assert good.outcomes[f"mixed/{arch}"] == good.outcomes[f"semantics/{arch}"]


def test_bad_mixes_are_errors():
    header = as_header("x86_64", compile_groups("x86_64", LOOP_UOPS))
    for mix, words in (({99: "stencil"}, "uop 99"), ({"_BINARY_OP_ADD_INT": "refjit"}, "not in the trace"),
                       ({3: "llvm"}, "source must be"), ({"3x": "refjit"}, "neither")):
        with pytest.raises(LinkError, match=words):
            check_trace(loop_trace(), arches=("x86_64",), stencils={"x86_64": header}, mix=mix)
    with pytest.raises(LinkError, match="give a header"):
        check_trace(loop_trace(), arches=("x86_64",), mix={3: "refjit"})
    with pytest.raises(LinkError, match="not among"):
        check_trace(loop_trace(), arches=("x86_64",), stencils={"aarch64": header})


# -- faults and failures are Outcomes -----------------------------------------------------------


NULL_LOAD = {"x86_64": ["xorl %eax, %eax", "movq (%rax), %rax"],
             "aarch64": ["mov x0, #0x0", "ldr x0, [x0]"]}


@pytest.mark.parametrize("arch", ARCHES)
def test_a_fault_is_an_outcome_at_its_uop(arch):
    groups = compile_groups(arch, LOOP_UOPS)
    code = b"".join(r.encoding for r in assemble_lines(arch, NULL_LOAD[arch]))
    groups["_POP_TOP"] = build_group("_POP_TOP", arch, code)
    report = check_trace(loop_trace(), arches=(arch,), stencils={arch: as_header(arch, groups)})
    fault = report.outcomes[f"stencils/{arch}"]
    assert fault.kind == "fault"
    assert "unmapped address 0x0" in fault.message
    assert "uop 4 _POP_TOP" in fault.location
    (d,) = report.differences
    assert (d.uop_index, d.uop_name, d.step) == (4, "_POP_TOP", 4)
    assert d.first[0].startswith("ended (fault: read of 8 bytes at unmapped address 0x0")
    assert d.first[0].endswith("vs continues with uop 5 _POP_TOP")


def test_a_missing_group_is_an_outcome():
    groups = compile_groups("x86_64", LOOP_UOPS)
    del groups["_JUMP_TO_TOP"]
    report = check_trace(loop_trace(), arches=("x86_64",), stencils={"x86_64": as_header("x86_64", groups)})
    out = report.outcomes["stencils/x86_64"]
    assert out.kind == "fault" and "no stencil for _JUMP_TO_TOP" in out.message
    assert out.location == "uop 6 _JUMP_TO_TOP"
    assert [d.label for d in report.differences] == ["stencils/x86_64"]


def test_a_uop_nobody_implements_is_an_outcome_on_every_side():
    text = ("refjit-trace 1\ncode t units=16\nframe locals=1 stacksize=4\n"
            "0 _START_EXECUTOR target=0 operand0=&executor\n"
            "1 _BUILD_TUPLE oparg=0 jump_target=0 error_target=3\n"
            "2 _DEOPT target=3\n3 _ERROR_POP_N target=0 operand0=1\n")
    report = check_trace(parse_trace(text, PROFILE))
    for arch in ARCHES:
        sem, mine = report.outcomes[f"semantics/{arch}"], report.outcomes[f"refjit/{arch}"]
        assert sem.kind == mine.kind == "fault"
        assert "_BUILD_TUPLE is not in the loop slice" in sem.message
        assert f"_BUILD_TUPLE has no lowering (backend {arch})" in mine.message
    assert {d.label for d in report.differences} == {"refjit/x86_64", "refjit/aarch64"}
    assert all(d.step is None and "final Outcomes differ" in d.describe() for d in report.differences)


def test_a_trace_that_exhausts_the_budget_is_compared_where_it_stopped():
    report = check_trace(loop_trace(), budget=100)
    assert report.agree, "\n".join(report.lines())
    for label, out in report.outcomes.items():
        assert out.kind == "fault" and out.message == "stopped by the budget of 100 uops", label
    # 100 uops with code: 16 iterations (96) and four more: guard, next, load, pop.
    assert report.outcomes["semantics/x86_64"].stack_depth == 2
    # Stopped by the budget, a defect is still pinned on its uop.
    header = as_header("x86_64", broken_groups("x86_64", "_LOAD_FAST_1"))
    report = check_trace(loop_trace(), arches=("x86_64",), stencils={"x86_64": header}, budget=100)
    (d,) = report.differences
    assert (d.label, d.uop_index, d.step) == ("stencils/x86_64", 3, 3)


# -- the command line ----------------------------------------------------------------------------


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "refjit", "run", *args], capture_output=True,
                          text=True, timeout=300)


def test_cli_check_agrees_and_exits_0(tmp_path):
    trace = tmp_path / "loop.trace"
    trace.write_text(LOOP)
    proc = run(str(trace), "--arch", "x86_64,aarch64", "--check")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "agree: all 4 Outcomes are equal" in proc.stdout
    for label in ("semantics/x86_64", "refjit/x86_64", "semantics/aarch64", "refjit/aarch64"):
        assert label in proc.stdout


def test_cli_check_reports_the_divergent_uop_and_exits_1(tmp_path):
    trace = tmp_path / "loop.trace"
    trace.write_text(LOOP)
    paths = []
    for arch in ARCHES:
        groups = broken_groups(arch, "_GUARD_NOT_EXHAUSTED_RANGE")
        others = {n: g for n, g in groups.items()}
        path = tmp_path / f"jit_stencils-{TRIPLES[arch]}.h"
        path.write_text(write_header(shim_group(arch), others, TRIPLES[arch]))
        assert read_header(str(path)).arch == arch
        paths.append(str(path))
    proc = run(str(trace), "--arch", "x86_64,aarch64", "--stencils", *paths, "--check")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    for arch in ARCHES:
        assert (f"stencils/{arch} vs semantics/{arch}: first divergence at uop 1 "
                f"_GUARD_NOT_EXHAUSTED_RANGE (#{LENGTH * PER_ITERATION + 1} in execution order)") in proc.stdout
    assert "next uop: uop 2 _ITER_NEXT_RANGE vs uop 7 _DEOPT" in proc.stdout
    # Mixed: the guard from refjit, everything else from the broken header: agreement.
    proc = run(str(trace), "--arch", "x86_64", "--stencils", paths[0], "--check",
               "--mix", "*=stencil,_GUARD_NOT_EXHAUSTED_RANGE=refjit")
    assert "mixed/x86_64" in proc.stdout
    assert "mixed/x86_64 vs" not in proc.stdout
    assert proc.returncode == 1          # the plain stencils run still disagrees


def test_cli_errors_exit_2(tmp_path):
    trace = tmp_path / "loop.trace"
    trace.write_text(LOOP)
    proc = run(str(trace), "--arch", "sparc", "--check")
    assert proc.returncode == 2 and "sparc" in proc.stderr and "Traceback" not in proc.stderr
    proc = run(str(trace), "--check", "--mix", "3=gcc", "--stencils", str(tmp_path / "missing.h"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    proc = run(str(trace), "--arch", "x86_64", "--mix", "3")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_cli_semantics_run_is_unchanged():
    proc = run(str(ROOT / "examples" / "branchy.trace"))
    assert proc.returncode == 0
    assert proc.stdout.startswith("exit: tier-1 target")
    assert "uops executed:" in proc.stdout


# -- local only: CPython's real stencils ----------------------------------------------------------



def real_headers() -> dict:
    return {a: real_stencils.require(a) for a in ARCHES}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_agrees_with_the_real_stencils(path):
    headers = real_headers()
    report = check_trace(load_trace(str(path), PROFILE), stencils=headers, prepare=shorten,
                         mix={"*": "stencil", 2: "refjit", 3: "refjit"})
    assert len(report.outcomes) == 8
    assert report.agree, "\n".join(report.lines())
