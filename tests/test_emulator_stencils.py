"""CPython's own stencils run unchanged in the machines and agree with the reference semantics.

Local check (the real jit_stencils-<triple>.h of a 3.14.7 build are not part of the repository):
each example trace of FACTS §g.2 is materialised twice from the same text, once run by the
reference semantics and once linked from the real stencils exactly as jit.c does and run on the
Unicorn machine of each ISA. The two Outcomes must be equal, the two ISAs must agree, and the
loops must reach the values the host Python computes. Long loops are shortened (the range
iterator's ``len``) so the test stays quick; the state change is made identically on both sides.
"""

from __future__ import annotations

import real_stencils

import pathlib

import pytest

from refjit.emulator import Machine
from refjit.link import link
from refjit.profile import load_profile
from refjit.runtime.process import LayoutConfig
from refjit.scenario import build_scenario
from refjit.semantics.interp import run_scenario

from refjit.trace import load_trace

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"
ITERATIONS = 300


def header(arch: str):
    return real_stencils.require(arch)


_headers: dict = {}


def scenario(name: str, arch: str, layout=None):
    prof = load_profile("3.14", arch)
    sc = build_scenario(load_trace(str(EXAMPLES / f"{name}.trace"), prof), prof, layout=layout)
    if "it" in sc.objects:
        # Shorten the loop: the iterator's remaining length (start and step unchanged).
        it = sc.process.view("_PyRangeIterObject", sc.address_of("it"))
        it.len = min(it.len, ITERATIONS)
    return sc


def run_stencils(name: str, arch: str, layout=None, **options):
    if arch not in _headers:
        _headers[arch] = header(arch)
    hdr = _headers[arch]
    sc = scenario(name, arch, layout)
    p = sc.process
    base = p.regions["jit"].base
    linked = link(sc.uops, hdr.groups, hdr.shim, arch=arch, executor=sc.executor, base=base,
                  resolve=p.symbols)
    machine = Machine(arch, p)
    out = machine.run_linked(linked, frame=sc.frame, stack_pointer=sc.stack_pointer,
                             tstate=sc.tstate, executor=sc.executor, **options)
    machine.names = {r.index: r.name for r in linked.pc_map}
    machine.relaxed = sum(1 for site in linked.sites if site.relaxed)
    ev = p.view("_PyExecutorObject", sc.executor)      # what _PyJIT_Compile records
    assert (ev.jit_code, ev.jit_side_entry) == (base, linked.jit_side_entry)
    return out, sc, machine


@pytest.mark.parametrize("name", ["int_sum", "int_sum_unoptimized", "float_loop", "branchy",
                                  "branchy_enter40", "branchy_side_exit"])
def test_real_stencils_match_the_semantics_on_both_isas(name):
    outcomes = {}
    for arch in ("x86_64", "aarch64"):
        out, _sc, machine = run_stencils(name, arch)
        reference = run_scenario(scenario(name, arch))
        assert out.compare(reference) == [], f"{arch} {name}"
        assert out == reference and out.instructions > 0
        outcomes[arch] = out
    assert outcomes["x86_64"].compare(outcomes["aarch64"]) == []


def _local_value(out, sc, i):
    bits = sc.process.mem.u64(sc.process.frame_local_address(sc.frame, i))
    return sc.process.read_object(bits & ~1).value


def test_int_sum_reaches_the_host_value():
    for arch in ("x86_64", "aarch64"):
        out, sc, machine = run_stencils("int_sum", arch)
        assert out.kind == "tier1" and out.target == 28          # exit 1: the POP_ITER after END_FOR
        assert _local_value(out, sc, 1) == sum(range(ITERATIONS))
        assert _local_value(out, sc, 2) == ITERATIONS - 1
        assert machine.calls > 0                                  # _PyLong_Add/_Py_Dealloc through stubs


def test_float_loop_reaches_the_host_value():
    x = 0.0
    for _ in range(ITERATIONS):
        x = x * 0.5 + 1.5
    for arch in ("x86_64", "aarch64"):
        out, sc, _m = run_stencils("float_loop", arch)
        assert out.kind == "tier1" and out.target == 36
        assert _local_value(out, sc, 1) == x


def test_per_uop_accounting_of_the_int_sum_loop():
    for arch in ("x86_64", "aarch64"):
        out, sc, m = run_stencils("int_sum", arch, per_uop=True)
        entered = {m.names[i]: e for i, (e, _n) in m.uop_profile.items() if i is not None and i >= 0}
        assert entered["_BINARY_OP_ADD_INT"] == ITERATIONS       # one add per loop iteration
        assert entered["_MAKE_WARM"] == ITERATIONS + 1           # + the final, exhausted check
        assert entered["_EXIT_TRACE"] == 1
        assert sum(n for _e, n in m.uop_profile.values()) == out.instructions


def test_relaxed_calls_when_the_code_is_near_the_stubs():
    # x86-64 GOT calls become direct `call rel32` into the stub page (patch_x86_64_32rx).
    near = LayoutConfig(jit_near_stubs=True)
    out, _sc, m = run_stencils("int_sum", "x86_64", near)
    assert m.relaxed > 0
    assert out.compare(run_scenario(scenario("int_sum", "x86_64", near))) == []
