"""Run a trace three ways for the lowering tests: the reference semantics, and refjit's own
groups linked (refjit.link) and run (refjit.emulator) on a machine of each ISA.

Every executor of the scenario that has uops is compiled and linked into the process's jit
region, one after the other, with jit_code / jit_side_entry / jit_size set as _PyJIT_Compile
sets them, so side exits chain into their code exactly as the semantics chains into their uops.
An executor without uops (an ``object e = executor`` of the trace) gets a side entry in the stub
page, where the machine stops with a side exit, as the semantics does.
"""

from __future__ import annotations

from refjit.compile import compile_groups, shim_group
from refjit.emulator import Machine, UopMap
from refjit.link import Instruction, link
from refjit.profile import load_profile
from refjit.scenario import build_scenario
from refjit.semantics import Interpreter
from refjit.trace import load_trace, parse_trace

ARCHES = ("x86_64", "aarch64")


def _trace(source, profile):
    if isinstance(source, str) and "\n" in source:
        return parse_trace(source, profile)
    return load_trace(str(source), profile)


def run_semantics(source, arch: str = "x86_64", setup=None):
    profile = load_profile("3.14", arch)
    sc = build_scenario(_trace(source, profile), profile)
    if setup is not None:
        setup(sc)
    return Interpreter(sc, budget=1_000_000).run(), sc


def prepare_machine(source, arch: str, groups=None, setup=None, shim=None):
    """(scenario, entry, uop map) with every executor's code in the jit region; ``setup(sc)``
    runs first (e.g. to install an optimizer hook)."""
    profile = load_profile("3.14", arch)
    sc = build_scenario(_trace(source, profile), profile)
    if setup is not None:
        setup(sc)
    p = sc.process
    base = p.regions["jit"].base
    executors = sc.executors or {sc.executor: sc.uops}
    ranges = []
    shim = shim or shim_group(arch)
    entry = None
    for address, uops in executors.items():
        chosen = compile_groups(arch, {u.name for u in uops})
        if groups:
            chosen.update({k: v for k, v in groups.items() if k in chosen})
        trace = [Instruction(u.name, u.oparg, u.operand0, u.operand1, u.target, u.jump_target,
                             u.error_target) for u in uops]
        ex = link(trace, chosen, shim, arch=arch, executor=address, base=base,
                  resolve=p.stub_address)
        ex.install(p, address)
        ranges += [(r.start, r.end, r.index, r.name) for r in ex.pc_map]
        if address == sc.executor:
            entry = base
        base += ex.jit_size
    off = profile.offset("_PyExecutorObject", "jit_side_entry")
    for block in p.heap.live():
        if block.type == "uop_executor" and not p.mem.u64(block.address + off):
            p.mem.set_u64(block.address + off, p._add_stub(f"<side entry of {block.address:#x}>"))
    return sc, entry, UopMap(ranges)


def run_machine(source, arch: str, groups=None, budget: int | None = None, setup=None, shim=None):
    """``groups`` replace refjit's for the uops they name (e.g. CPython's stencils)."""
    sc, entry, uop_map = prepare_machine(source, arch, groups, setup, shim)
    m = Machine(arch, sc.process)
    kw = {} if budget is None else {"budget": budget}
    outcome = m.run(entry, sc.frame, sc.stack_pointer, sc.tstate, executor=sc.executor,
                    uop_map=uop_map, raise_on_fault=False, **kw)
    return outcome, sc


def differences(source, arch: str, setup=None):
    """The semantics' Outcome compared with refjit's code on ``arch``: a list of differences."""
    want, _ = run_semantics(source, arch, setup)
    got, _ = run_machine(source, arch, setup=setup)
    return want.compare(got), want, got
