"""Every example trace reaches its real result on the reference semantics.

The expected values are the Python functions' own results (FACTS §g.2 gives the sources; the
functions are re-run here on the host Python), and after the run every live int or float holds
exactly as many references as the frame, the containers and the declared outside owners give it:
nothing leaked, nothing freed while still referenced (a double free would end the run as a fault).
"""

from __future__ import annotations

import pathlib

import pytest

from refjit.profile import load_profile
from refjit.scenario import build_scenario
from refjit.semantics import Interpreter
from refjit.trace import load_trace

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def int_sum(n, start=0, total=0):
    for i in range(start, n):
        total += i
    return total


def float_loop(n, x=0.0):
    for _ in range(n):
        x = x * 0.5 + 1.5
    return x


def run(name: str, arch: str = "x86_64"):
    profile = load_profile("3.14", arch)
    sc = build_scenario(load_trace(str(EXAMPLES / f"{name}.trace"), profile), profile)
    interp = Interpreter(sc)
    return interp.run(), sc, interp.uops_executed


def frame_values(sc):
    p = sc.process
    base = sc.frame + p.profile.offset("_PyInterpreterFrame", "localsplus")
    return [p.to_python(p.mem.u64(base + 8 * i) & ~1) for i in range(sc.trace.nlocals)]


def check_references(sc):
    """Live ints/floats: refcount == owned frame slots + container items + declared extra."""
    p = sc.process
    prof = p.profile
    base = sc.frame + prof.offset("_PyInterpreterFrame", "localsplus")
    sp = p.mem.u64(sc.frame + prof.offset("_PyInterpreterFrame", "stackpointer"))
    owners: dict[int, int] = {}
    for a in range(base, sp, 8):
        bits = p.mem.u64(a)
        if bits & 1 == 0:
            owners[bits] = owners.get(bits, 0) + 1
    for block in p.heap.live():
        if block.type in ("list", "tuple"):
            for item in p.read_object(block.address).items:
                owners[item] = owners.get(item, 0) + 1
    for o in sc.trace.objects:
        if o.extra:
            a = sc.objects[o.name]
            owners[a] = owners.get(a, 0) + o.extra
    assert p.check_heap() == []  # no write after free, freelists intact, live objects sane
    checked = 0
    for block in p.heap.live():
        if block.type in ("int", "float"):
            assert p.refcnt(block.address) == owners.get(block.address, 0), \
                f"{block.type} #{block.serial} = {p.to_python(block.address)!r}"
            checked += 1
    return checked


@pytest.mark.parametrize("name", ["int_sum", "int_sum_unoptimized"])
def test_int_sum_reaches_its_result(name):
    out, sc, executed = run(name)
    # Leaves when the range is exhausted: _GUARD_NOT_EXHAUSTED_RANGE's exit to target 28,
    # the POP_ITER after END_FOR, with the iterator still on the stack.
    assert out.kind == "tier1" and out.target == 28, out.render()
    assert out.stack_depth == 1 and out.current_executor == "NULL"
    n, total, i = frame_values(sc)
    assert (n, total, i) == (20000, int_sum(20000), 19999) and total == 199990000
    assert sc.process.read_object(sc.objects["it"]).value == (20000, 1, 0)
    assert check_references(sc) == 3  # n, total, i: every other int was freed


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_float_loop_reaches_its_result(arch):
    out, sc, executed = run("float_loop", arch)
    assert out.kind == "tier1" and out.target == 36
    n, x, i = frame_values(sc)
    assert x == float_loop(20000) == 3.0 and i == 19999
    # the constants keep their co_consts reference only; the temporaries were recycled
    p = sc.process
    assert [p.refcnt(sc.objects[c]) for c in ("zero", "half", "onehalf")] == [1, 1, 1]
    check_references(sc)


def test_branchy_executors():
    # branchy.trace (unit 51): from i = 1, x = 1 it runs i = 2 (x = 0) and leaves at i = 3
    # through the _GUARD_IS_FALSE_POP exit (exit 2, target 30).
    out, sc, _ = run("branchy")
    assert out.kind == "tier1" and out.target == 30 and out.stack_depth == 1
    assert frame_values(sc)[1:] == [0, 3]
    # branchy_side_exit.trace: x += 2, leaves for unit 40
    out, sc, _ = run("branchy_side_exit")
    assert out.kind == "tier1" and out.target == 40 and frame_values(sc)[1:] == [2, 3]
    # branchy_enter40.trace: one else-iteration (i = 1): x = 1, leaves for unit 51
    out, sc, _ = run("branchy_enter40")
    assert out.kind == "tier1" and out.target == 51 and frame_values(sc)[1:] == [1, 1]


def test_branchy_chained_executors_reach_the_real_result():
    """The three executors linked through their exits run the whole loop: branchy(20000)."""

    def branchy(n):
        x = 0
        for i in range(n):
            if i % 3 == 0:
                x += 2
            else:
                x -= 1
        return x

    out, sc, executed = run("branchy_chained")
    assert out.kind == "tier1" and out.target == 54 and out.current_executor == "NULL"
    n, x, i = frame_values(sc)
    assert x == branchy(20000) == 1 and i == 19999
    # every executor keeps exactly its owners: the interpreter and co_executors (+1 link) for
    # the running one, its exit for the side-exit executor, co_executors and a link for the other
    p = sc.process
    names = {v: k for k, v in sc.executor_names.items()}
    assert [p.refcnt(names[k]) for k in ("executor", "side", "enter40")] == [3, 1, 2]
    assert check_references(sc) == 2  # n and i (x is the small int 1)


def test_refjit_run_prints_the_outcome(tmp_path):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "refjit", "run", "--semantics",
                           str(EXAMPLES / "branchy_enter40.trace")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "exit: tier-1 target 51" in done.stdout and "uops executed: 28" in done.stdout
    bad = tmp_path / "bad.trace"
    bad.write_text("refjit-trace 1\ncode f units=4\nframe locals=0\n0 _NOT_A_UOP target=0\n")
    done = subprocess.run([sys.executable, "-m", "refjit", "run", str(bad)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip() == f"error: {bad}:4:3: unknown uop '_NOT_A_UOP' (not a tier-2 uop of CPython 3.14)"
