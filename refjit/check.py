"""The three-way check: one trace run by the reference semantics, refjit's code and CPython's
stencils, their Outcomes compared, and each disagreement pinned on the first uop that diverged.

    report = check_trace(trace, stencils={"x86_64": read_header(path)})
    report.agree                  # every Outcome equal to its ISA's reference semantics
    report.outcomes               # {"semantics/x86_64": Outcome, "refjit/x86_64": ..., ...}
    for d in report.differences:  # "refjit/aarch64 vs semantics/aarch64: uop 15 ..."
        print(d.describe())

Labels are ``<source>/<arch>``: ``semantics`` (the reference, run per ISA because the process
layout is the ISA's), ``refjit`` (refjit's groups), ``stencils`` (CPython's, when that ISA's
header is given) and ``mixed`` (``mix={uop index or name: "stencil"|"refjit", "*": default}``,
any uop from either source, so a difference can be pinned on one uop).

Each machine run is compared with the semantics of its ISA. When they differ, both sides are
re-run from the same initial bytes and paused at uop boundaries: the machine by a code hook on
the uops' first instructions (``instruction_starts``), the semantics by stepping its dispatch
table. Between two uops only memory and the pinned frame/stack_pointer/tstate registers are live,
so the Outcome read at a pause (with the live stack pointer) is the whole state. Probing k = 1, 2,
4, ... then bisecting finds the first boundary whose states differ; the uop executed just before
it is the culprit. Uops whose code is empty (``_START_EXECUTOR``, ``_NOP``) have no first
instruction to hook; they are counted together with the uop that follows them.

Speed (the fuzzer calls check_trace in a loop): one persistent Process and Machine per ISA; each
scenario is built in that Process (reset to its state as constructed, not rebuilt), snapshotted,
and every run starts by restoring the snapshot. Memory tracks the pages written through it, and
the machine reports the pages its CPU stored to, so every snapshot and restore copies a few
pages, not every region. refjit's groups are cached per
(uop, arch) by ``refjit.compile``. What a case still costs (benchmarks/fuzz.py --profile):
parsing, building the scenario's objects, reading four Outcomes back, linking, and running.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from refjit.errors import LinkError, RefjitError, SemanticsError
from refjit.outcome import Ending, Outcome, build_outcome

ARCHES = ("x86_64", "aarch64")
SOURCES = ("refjit", "stencil")
DEFAULT_BUDGET = 10_000_000          # uops, as the reference semantics counts them
# The machines count instructions, not uops: a generous bound per uop the semantics executed
# (C functions run as Python models and cost no instructions), so a machine that loops where
# the semantics ended still stops.
INSTRUCTIONS_PER_UOP = 400
INSTRUCTION_SLACK = 100_000
PAUSED = "paused at a uop boundary"


# ---------------------------------------------------------------------------------------------
# The report.


@dataclass
class Divergence:
    """How ``label``'s Outcome differs from ``reference``'s, and where that began.

    ``step`` counts the uops both sides had executed (uops with empty code counted with the
    next) when their states first differed; ``uop_index``/``uop_name`` is the uop executed last
    before that, in ``executor`` (None: the running one). When the search could not run (an
    implementation that did not run at all) or did not converge, ``step`` is None and only the
    final ``details`` are known.
    """

    label: str
    reference: str
    details: list[str]                 # readable differences of the final Outcomes
    step: int | None = None
    uop_index: int | None = None
    uop_name: str | None = None
    executor: str | None = None
    first: list[str] = field(default_factory=list)   # differences at the first divergent step
    note: str = ""

    def where(self) -> str:
        if self.step is None:
            return "final Outcomes"
        if self.uop_name is None:
            return f"before the first uop (step {self.step})"
        ex = f" of executor {self.executor}" if self.executor else ""
        return f"uop {self.uop_index} {self.uop_name}{ex} (#{self.step} in execution order)"

    def describe(self) -> str:
        if self.step is None:
            lines = [f"{self.label} vs {self.reference}: the final Outcomes differ"]
        else:
            lines = [f"{self.label} vs {self.reference}: first divergence at {self.where()}"]
        lines += [f"  {d}" for d in (self.first or self.details)]
        if self.first and self.first != self.details:
            lines.append("  final Outcomes:")
            lines += [f"    {d}" for d in self.details]
        if self.note:
            lines.append(f"  ({self.note})")
        return "\n".join(lines)


@dataclass
class CheckReport:
    outcomes: dict[str, Outcome]
    differences: list[Divergence]
    uops_executed: dict[str, int] = field(default_factory=dict)   # semantics label -> uops run

    @property
    def agree(self) -> bool:
        return not self.differences

    def lines(self) -> list[str]:
        """A compact summary: one line per Outcome, then agreement or each divergence."""
        out = [f"{label:<18} {summary(o)}" for label, o in self.outcomes.items()]
        if self.agree:
            out.append(f"agree: all {len(self.outcomes)} Outcomes are equal")
        else:
            out += [d.describe() for d in self.differences]
        return out


def summary(o: Outcome) -> str:
    """One line: how it ended, the stack, the heap, instructions executed."""
    parts = [o.exit_text()]
    if o.location and o.kind in ("fault", "fatal"):
        parts[0] += f" (at {o.location})"
    if o.stack_depth is not None:
        parts.append(f"stack depth {o.stack_depth}")
    live = sum(1 for x in o.objects if x.state == "live")
    parts.append(f"{live} live objects")
    if o.instructions is not None:
        parts.append(f"{o.instructions} instructions")
    return ", ".join(parts)


# ---------------------------------------------------------------------------------------------
# Per-ISA state kept between calls: a Process and its Machine, built once.


class _Lane:
    def __init__(self, arch: str):
        from refjit.emulator import Machine
        from refjit.profile import load_profile
        from refjit.runtime.process import Process

        self.arch = arch
        self.profile = load_profile("3.14", arch)
        self.process = Process(self.profile)
        self.machine = Machine(arch, self.process)
        names = {name: reg for reg, name in self.machine.isa.reg_names.items()}
        self.sp_reg = names[self.profile.abi.stack_pointer_reg]


_lanes: dict[str, _Lane] = {}


def _lane(arch: str) -> _Lane:
    lane = _lanes.get(arch)
    if lane is None:
        if arch not in ARCHES:
            raise LinkError(f"unknown architecture {arch!r} (expected one of {', '.join(ARCHES)})")
        lane = _lanes[arch] = _Lane(arch)
    return lane


# ---------------------------------------------------------------------------------------------
# Linking one source of groups for every executor of a scenario.


@dataclass
class _Linked:
    """Every executor of a scenario linked into the jit region, ready to install."""

    executors: list[tuple[int, Any]]            # (executor address, LinkedExecutor)
    entry: int
    ranges: list[tuple[int, int, int, str]]     # the machine's uop map: every executor's ranges

    def install(self, process) -> None:
        for executor, linked in self.executors:
            linked.install(process, executor)

    # Only a divergence search or an exhausted budget needs these two: made when first asked.

    @cached_property
    def starts(self) -> dict[int, tuple[int, int, str]]:
        """First instruction of every uop with code -> (executor, index, name)."""
        return {start: (executor, index, name.split(" [")[0])
                for executor, linked in self.executors for start, end, index, name in linked.ranges
                if index >= 0 and end > start}

    @cached_property
    def sizes(self) -> dict[tuple[int, int], int]:
        """(executor, uop index) -> code size."""
        return {(executor, index): end - start
                for executor, linked in self.executors for start, end, index, _name in linked.ranges
                if index >= 0}


def _parse_mix(mix: Mapping[Any, str] | None) -> tuple[str, dict[str, str], dict[int, str]]:
    default, by_name, by_index = "refjit", {}, {}
    for key, source in (mix or {}).items():
        if source not in SOURCES:
            raise LinkError(f"mix {key!r}={source!r}: the source must be one of {', '.join(SOURCES)}")
        if key == "*":
            default = source
        elif isinstance(key, int) and not isinstance(key, bool):
            by_index[key] = source
        elif isinstance(key, str) and key.lstrip("-").isdigit():
            by_index[int(key)] = source
        elif isinstance(key, str) and key.startswith("_"):
            by_name[key] = source
        else:
            raise LinkError(f"mix key {key!r} is neither a uop index, a uop name nor '*'")
    return default, by_name, by_index


def _link_all(sc, arch: str, process, *, stencils=None, mix=None) -> _Linked:
    """Link every executor of ``sc`` one after the other into the jit region.

    ``stencils`` None links refjit's groups; a header alone links CPython's; with ``mix`` each
    uop comes from the source the mix names (by index in the running executor, else by name,
    else the ``"*"`` default). A uop instance taken from the non-default source by index gets
    its own group name (``_X [stencil]``), since the linker finds groups by name.
    """
    from refjit.compile import FATAL_ERROR, compile_groups, shim_group
    from refjit.link import Instruction, link

    if mix is None:
        default, by_name, by_index = ("stencil" if stencils is not None else "refjit"), {}, {}
    else:
        default, by_name, by_index = _parse_mix(mix)
    executors = sc.executors or {sc.executor: sc.uops}
    main_uops = executors[sc.executor]
    names = {u.name for uops in executors.values() for u in uops}

    def source_of(name: str) -> str:
        return by_name.get(name, default)

    needed = {"refjit": set(), "stencil": set()}
    for name in names | {FATAL_ERROR}:
        needed[source_of(name)].add(name)
    for index, source in by_index.items():
        needed[source].add(main_uops[index].name)
    pools: dict[str, dict] = {}
    if needed["refjit"] or default == "refjit":
        pools["refjit"] = compile_groups(arch, needed["refjit"])
    if needed["stencil"] or default == "stencil":
        if stencils is None:
            raise LinkError(f"the mix takes uops from CPython's stencils, but no {arch} header "
                            "was given")
        missing = sorted(n for n in needed["stencil"] if n not in stencils.groups)
        if missing:
            first = next((u for u in main_uops if u.name in missing), None)
            raise LinkError(f"the {arch} header has no stencil for {', '.join(missing)}",
                            where=f"uop {first.index} {first.name}" if first else stencils.path)
        pools["stencil"] = stencils.groups
    shim = stencils.shim if default == "stencil" else shim_group(arch)

    groups = {name: pools[source_of(name)][name] for name in names | {FATAL_ERROR}}
    base = process.regions["jit"].base
    out = _Linked([], 0, [])
    for executor, uops in executors.items():
        trace = []
        for u in uops:
            name = u.name
            if executor == sc.executor and u.index in by_index \
                    and by_index[u.index] != source_of(name) and u.index != 0:
                name = f"{u.name} [{by_index[u.index]}]"
                groups[name] = pools[by_index[u.index]][u.name]
            trace.append(Instruction(name, u.oparg, u.operand0, u.operand1, u.target,
                                     u.jump_target, u.error_target))
        linked = link(trace, groups, shim, arch=arch, executor=executor, base=base,
                      resolve=process.stub_address)
        out.executors.append((executor, linked))
        if executor == sc.executor:
            out.entry = base
        out.ranges += linked.ranges
        base += linked.jit_size
    if base > process.regions["jit"].end:
        raise LinkError(f"the trace's executors need {base - process.regions['jit'].base} bytes, "
                        f"more than the jit region's {process.regions['jit'].size}")
    return out


# ---------------------------------------------------------------------------------------------
# Running one side, to the end or to a uop boundary.


def _failed(err: RefjitError, what: str) -> Outcome:
    """An implementation that could not run (compile, link or semantics refusal) as an Outcome."""
    return Outcome(kind="fault", message=f"{what}: {err.why}", location=err.where)


def _run_semantics(sc, budget: int) -> tuple[Outcome, int, bool]:
    """(Outcome, uops executed, whether the budget stopped it)."""
    from refjit.semantics import Interpreter

    interp = None
    try:
        interp = Interpreter(sc, budget=budget)
        return interp.run(), interp.uops_executed, False
    except RefjitError as err:      # a uop it does not know, the budget: still an Outcome
        done = interp.uops_executed if interp is not None else 0
        exhausted = isinstance(err, SemanticsError) and done >= budget
        return _failed(err, "semantics"), done, exhausted


def _run_machine(lane: _Lane, snap, sc, linked: _Linked, instructions: int) -> Outcome:
    p = lane.process
    p.restore(snap)
    linked.install(p)
    return lane.machine.run(linked.entry, sc.frame, sc.stack_pointer, sc.tstate,
                            executor=sc.executor, uop_map=linked.ranges, budget=instructions,
                            raise_on_fault=False)


@dataclass
class _State:
    """One side at boundary k: paused before uop ``next`` (executor, index, name) or ended."""

    outcome: Outcome
    next: tuple[int, int, str] | None     # None: the run had ended before boundary k


def _pause(process, sc, stack_pointer: int, executor: int, why: str) -> Outcome:
    # An Outcome kind for "still running" does not exist; a fault with the same message on
    # both sides compares equal, so only the state is compared.
    ending = Ending("fault", message=why, stack_pointer=stack_pointer)
    return build_outcome(process, ending, frame=sc.frame, tstate=sc.tstate, executor=executor)


def _semantics_at(sc, snap, k: int, sizes: Mapping[tuple[int, int], int], budget: int,
                  why: str = PAUSED) -> _State:
    """Run the semantics from ``snap`` until k uops with code have run; pause before the next.

    The reference interpreter's own loop runs (``Interpreter.run`` with a ``before_uop`` hook),
    so a paused run and a whole run cannot drift apart."""
    from refjit.semantics import Interpreter

    p = sc.process
    p.restore(snap)
    done = 0

    def before_uop(s, i, u):
        nonlocal done
        if sizes.get((s.current_executor, i), 1):
            if done == k:
                return _State(_pause(p, sc, s.stack_pointer, s.current_executor, why),
                              (s.current_executor, i, u.name))
            done += 1
        return None

    try:
        result = Interpreter(sc, budget=budget).run(before_uop)
    except SemanticsError as err:
        return _State(_failed(err, "semantics"), None)
    return result if isinstance(result, _State) else _State(result, None)


def _machine_at(lane: _Lane, snap, sc, linked: _Linked, k: int, instructions: int,
                why: str = PAUSED) -> _State:
    """Run the machine until k uops with code have been entered; pause before the next."""
    from unicorn import UC_HOOK_CODE

    m, p = lane.machine, lane.process
    hits = 0
    stopped: list[int] = []

    def hook(uc, address, _size, _user):
        nonlocal hits
        if hits == k:
            stopped.append(address)
            uc.emu_stop()
        else:
            hits += 1

    handles = [m.uc.hook_add(UC_HOOK_CODE, hook, begin=a, end=a) for a in linked.starts]
    m.invalidate()      # hooks are compiled into translated blocks: retranslate with them
    try:
        outcome = _run_machine(lane, snap, sc, linked, instructions)
    finally:
        for h in handles:
            m.uc.hook_del(h)
        m.invalidate()
    if not stopped:
        return _State(outcome, None)
    pc = m.regs.read(m.isa.pc)
    if pc != stopped[0]:
        raise RefjitError(f"the {lane.arch} machine paused at {pc:#x}, not at the uop start "
                          f"{stopped[0]:#x} its code hook stopped at", where="check")
    executor, index, name = linked.starts[pc]
    return _State(_pause(p, sc, m.regs.read(lane.sp_reg), executor, why), (executor, index, name))


# ---------------------------------------------------------------------------------------------
# Comparing two sides step by step.


def _state_diffs(a: _State, b: _State, namer: Callable[[int], str]) -> list[str]:
    diffs = []
    if a.next is None or b.next is None:
        if a.next != b.next:
            def how(s: _State) -> str:
                if s.next is None:
                    return f"ended ({s.outcome.exit_text()})"
                return f"continues with {_uop_text(s.next, namer)}"
            diffs.append(f"{how(a)} vs {how(b)}")
    elif a.next != b.next:
        diffs.append(f"next uop: {_uop_text(a.next, namer)} vs {_uop_text(b.next, namer)}")
    for d in a.outcome.compare(b.outcome):
        if d.startswith("exit: ") and (a.next is not None or b.next is not None):
            continue  # a pause against an end: already said above
        diffs.append(d)
    return diffs


def _uop_text(nxt: tuple[int, int, str], namer: Callable[[int], str]) -> str:
    executor, index, name = nxt
    ex = namer(executor)
    return f"uop {index} {name}" + (f" of executor {ex}" if ex else "")


def _locate(ref_at: Callable[[int], _State], other_at: Callable[[int], _State],
            namer: Callable[[int], str], limit: int) -> tuple[int, list[str], _State] | None:
    """The smallest k whose states differ: (k, differences, the reference's state at k - 1)."""
    cache: dict[int, tuple[_State, _State]] = {}

    def states(k: int) -> tuple[_State, _State]:
        if k not in cache:
            cache[k] = (ref_at(k), other_at(k))
        return cache[k]

    def differs(k: int) -> list[str]:
        a, b = states(k)
        return _state_diffs(b, a, namer)     # the implementation first, as in the final diffs

    if differs(0):
        hi = 0
    else:
        lo, hi = 0, 1
        while not differs(hi):
            a, b = states(hi)
            if (a.next is None and b.next is None) or hi >= limit:
                return None       # both ended (or too long) with equal states: nothing to pin
            lo, hi = hi, hi * 2
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if differs(mid):
                hi = mid
            else:
                lo = mid
    before = states(hi - 1)[0] if hi > 0 else None
    return hi, differs(hi), before


# ---------------------------------------------------------------------------------------------
# The check.


def check_trace(trace, *, arches=ARCHES, stencils: Mapping[str, Any] | None = None,
                refjit: bool = True, mix: Mapping[Any, str] | None = None,
                budget: int = DEFAULT_BUDGET, locate: bool = True,
                prepare: Callable[[Any], None] | None = None) -> CheckReport:
    """Run ``trace`` (a parsed :class:`refjit.trace.Trace`) every way asked and compare.

    ``arches``: the ISAs to run on. ``stencils``: {arch: StencilHeader} of CPython's stencils
    (an ISA without a header runs no stencils). ``refjit``: run refjit's code. ``mix``: also run
    a mixed executor on every ISA that has a header (see _link_all). ``budget``: uops for the
    semantics; a trace that exhausts it is compared at that uop boundary instead of at its end.
    ``locate``: search the first divergent uop of each disagreement. ``prepare(scenario)``: a
    change made to every side's initial state (e.g. a shorter loop) before anything runs; it
    changes the process, never the trace (whose derived facts the ISAs share).

    Bad input (a trace whose scenario cannot be built, an unknown ISA, a bad mix) raises a
    RefjitError; anything an implementation does wrong, including not compiling, is an Outcome.
    """
    from refjit.scenario import TraceFacts, build_scenario

    stencils = dict(stencils or {})
    for arch in arches:
        _lane(arch)
    for arch in stencils:
        if arch not in arches:
            raise LinkError(f"a {arch} header was given, but {arch} is not among the ISAs to run "
                            f"({', '.join(arches)})")
    if mix is not None and not stencils:
        raise LinkError("a mixed run takes uops from CPython's stencils: give a header")
    if budget < 1:
        raise SemanticsError(f"budget {budget}: at least one uop must run")
    outcomes: dict[str, Outcome] = {}
    differences: list[Divergence] = []
    executed: dict[str, int] = {}
    facts = TraceFacts(trace)           # what depends on the trace alone, derived once
    for arch in arches:
        lane = _lane(arch)
        sc = build_scenario(trace, lane.profile, process=lane.process,  # refilled, not rebuilt
                            facts=facts)
        if mix is not None:
            _validate_mix(mix, sc)
        if prepare is not None:
            prepare(sc)
        snap = sc.process.snapshot()
        ref_label = f"semantics/{arch}"
        reference, n, exhausted = _run_semantics(sc, budget)
        outcomes[ref_label] = reference
        executed[ref_label] = n
        instructions = n * INSTRUCTIONS_PER_UOP + INSTRUCTION_SLACK
        runs = []
        if refjit:
            runs.append((f"refjit/{arch}", None, None))
        if arch in stencils:
            runs.append((f"stencils/{arch}", stencils[arch], None))
            if mix is not None:
                runs.append((f"mixed/{arch}", stencils[arch], mix))
        for label, header, m in runs:
            try:
                linked = _link_all(sc, arch, lane.process, stencils=header, mix=m)
            except RefjitError as err:
                outcomes[label] = _failed(err, "cannot compile or link")
                differences.append(Divergence(label, ref_label,
                                              outcomes[label].compare(reference)))
                continue
            if exhausted:
                # Compare both sides where the budget stopped the semantics.
                if outcomes[ref_label] is reference:
                    reference = _semantics_at(sc, snap, budget, linked.sizes, 2 * budget + 2,
                                              why=f"stopped by the budget of {budget} uops").outcome
                    outcomes[ref_label] = reference
                outcome = _guarded(lambda: _machine_at(
                    lane, snap, sc, linked, budget, instructions,
                    why=f"stopped by the budget of {budget} uops").outcome)
            else:
                outcome = _guarded(lambda: _run_machine(lane, snap, sc, linked, instructions))
            outcomes[label] = outcome
            details = outcome.compare(reference)
            if not details:
                continue
            d = Divergence(label, ref_label, details)
            if locate:
                _pin(d, lane, sc, snap, linked, budget, instructions, n)
            differences.append(d)
    # The semantics on two ISAs must agree too (same trace, only the layout differs).
    sems = [label for label in outcomes if label.startswith("semantics/")]
    for label in sems[1:]:
        details = outcomes[label].compare(outcomes[sems[0]])
        if details:
            differences.append(Divergence(label, sems[0], details))
    return CheckReport(outcomes, differences, executed)


def _guarded(run: Callable[[], Outcome]) -> Outcome:
    try:
        return run()
    except RefjitError as err:      # e.g. the machine refusing to start
        return _failed(err, "cannot run")


def _validate_mix(mix: Mapping[Any, str], sc) -> None:
    _default, by_name, by_index = _parse_mix(mix)
    n = len(sc.uops)
    for index in by_index:
        if not 0 <= index < n:
            raise LinkError(f"the mix names uop {index}, but the trace has {n} uops")
    names = {u.name for uops in (sc.executors or {sc.executor: sc.uops}).values() for u in uops}
    for name in by_name:
        if name not in names:
            raise LinkError(f"the mix names {name}, which is not in the trace")


def _pin(d: Divergence, lane: _Lane, sc, snap, linked: _Linked, budget: int,
         instructions: int, executed: int) -> None:
    """Fill in the first divergent step of ``d`` (semantics first, the machine second)."""
    names = {address: name for address, name in sc.executor_names.items()}

    def namer(address: int) -> str:
        name = names.get(address)
        return "" if address == sc.executor or name in (None, "executor") else name

    try:
        found = _locate(lambda k: _semantics_at(sc, snap, k, linked.sizes, budget),
                        lambda k: _machine_at(lane, snap, sc, linked, k, instructions),
                        namer, limit=max(executed, 1) * 2 + 2)
    except RefjitError as err:
        d.note = f"the search for the first divergent uop failed: {err}"
        return
    if found is None:
        d.note = "no uop boundary differs; only the final Outcomes do"
        return
    k, first, before = found
    # The stepped runs leave the persistent process in a paused state: leave nothing behind
    # that the next check could mistake for its own.
    lane.process.restore(snap)
    d.step, d.first = k, first
    if before is not None and before.next is not None:
        executor, d.uop_index, d.uop_name = before.next
        d.executor = namer(executor) or None


# ---------------------------------------------------------------------------------------------
# `refjit run TRACE --arch ... --stencils ... --check --mix ...` (cli.py prints what this returns)


def parse_mix(text: str) -> dict:
    """``"15=stencil,_BINARY_OP_ADD_INT=refjit,*=stencil"`` -> a ``mix`` for check_trace."""
    mix: dict = {}
    for item in filter(None, (x.strip() for x in text.split(","))):
        key, eq, source = item.partition("=")
        if not eq or not key or not source:
            raise LinkError(f"--mix item {item!r} is not KEY=SOURCE (KEY a uop index, a uop name "
                            f"or '*'; SOURCE one of {', '.join(SOURCES)})")
        mix[int(key) if key.isdigit() else key] = source
    _parse_mix(mix)
    return mix


def run_lines(trace_path: str, *, arches: str | None = None, stencil_paths=(),
              mix: str | None = None, check: bool = False,
              budget: int = DEFAULT_BUDGET) -> tuple[list[str], int]:
    """Run a trace file on the machines (and the semantics); (lines to print, exit status).

    Without ``check`` every Outcome is shown in full; with it, one line per Outcome and then the
    agreement or each divergence (its first divergent uop). The status is 0 on full agreement
    (always without ``check``), 1 on a disagreement.
    """
    from refjit.stencils import read_header
    from refjit.trace import load_trace

    headers = {}
    for path in stencil_paths:
        header = read_header(path)
        if header.arch in headers:
            raise LinkError(f"two {header.arch} headers: {headers[header.arch].path} and {path}")
        headers[header.arch] = header
    if arches:
        chosen = tuple(a.strip() for a in arches.split(",") if a.strip())
        for arch in chosen:
            if arch not in ARCHES:
                raise LinkError(f"unknown architecture {arch!r} in --arch (expected "
                                f"{' and/or '.join(ARCHES)}, comma-separated)")
    else:
        chosen = tuple(a for a in ARCHES if a in headers) if headers else ARCHES
    if not chosen:
        raise LinkError("--arch names no architecture")
    mix_map = parse_mix(mix) if mix is not None else None
    trace = load_trace(trace_path, _lane(chosen[0]).profile)
    report = check_trace(trace, arches=chosen, stencils=headers, mix=mix_map, budget=budget,
                         locate=check)
    if check:
        return report.lines(), 0 if report.agree else 1
    lines = []
    for label, outcome in report.outcomes.items():
        lines.append(f"== {label}")
        lines += outcome.render().splitlines()
    return lines, 0
