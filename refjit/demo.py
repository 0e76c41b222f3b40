"""``refjit demo``: the real int_sum trace, compiled for both ISAs and checked three ways.

The trace is the one CPython 3.14.7 builds for ``for i in range(n): total += i`` (shipped in the
package as ``refjit.examples``, the examples/ folder installed as package data). For each ISA it is materialised in a fresh emulated
process and run

* by the reference semantics (each uop counted as it is entered),
* as refjit's own code (``refjit.compile``) linked as ``Python/jit.c`` links and run on that
  ISA's machine with per-uop accounting,
* as CPython's stencils, when a ``jit_stencils-<triple>.h`` for that ISA is given.

Every Outcome must equal the semantics' Outcome on the same ISA, and every uop must be entered
equally often everywhere. On a disagreement, ``refjit.check.check_trace`` re-runs the trace to pin
the first uop where the states diverge (the table needs per-uop instruction counts, which the
check does not collect, so the agreeing case costs one run per implementation, not two).
``DemoReport.lines()`` is the table the CLI prints.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from refjit.compile import ARCHES, compile_groups, shim_group
from refjit.emulator import Machine, UopMap
from refjit.errors import RefjitError
from refjit.examples import INT_SUM, INT_SUM_NAME
from refjit.link import Instruction, link
from refjit.outcome import Outcome
from refjit.profile import load_profile
from refjit.scenario import Scenario, build_scenario
from refjit.semantics import Interpreter
from refjit.stencils import StencilHeader, read_header
from refjit.trace import parse_trace

ISA_NAMES = {"x86_64": "x86-64", "aarch64": "AArch64"}
TOTAL_LOCAL = 1  # int_sum's ``total`` is local 1 (varnames n, total, i)


@dataclass
class MachineRun:
    """One linked executor run on one ISA's machine."""

    arch: str
    source: str                    # "refjit" or "CPython" (the stencils)
    outcome: Outcome
    code_sizes: list[int]          # code bytes of the group linked at each trace index
    shim_size: int
    profile: dict[int, list[int]]  # Machine.uop_profile: index -> [times entered, instructions]

    @property
    def label(self) -> str:
        return f"{self.source} {ISA_NAMES[self.arch]}"

    def entered(self, index: int) -> int:
        return self.profile.get(index, (0, 0))[0]

    def instructions(self, index: int) -> int:
        return self.profile.get(index, (0, 0))[1]


@dataclass
class DemoReport:
    uops: list[str]                         # the running executor's uops, in trace order
    semantics: dict[str, Outcome]           # arch -> the reference Outcome
    entries: list[int]                      # times the semantics entered each uop
    last: int                               # the uop the semantics ran last (how it left)
    runs: list[MachineRun]
    differences: dict[str, list[str]] = field(default_factory=dict)  # run label -> differences
    divergences: list = field(default_factory=list)  # refjit.check.Divergence, on disagreement

    def uop_verdict(self, index: int) -> str:
        """"yes" when every machine entered the uop as often as the semantics (a uop without
        code, such as _START_EXECUTOR, cannot be observed on a machine) and every Outcome
        agrees; "NO" when the counts differ; "?" when they match but some Outcome differs."""
        if any(run.entered(index) != self.entries[index] for run in self.runs if run.code_sizes[index]):
            return "NO"
        if any(d.uop_index == index and d.executor is None for d in self.divergences):
            return "NO"  # the first uop after which some implementation's state differs
        return "yes" if self.agree else "?"

    @property
    def agree(self) -> bool:
        return not any(self.differences.values())

    def lines(self) -> list[str]:
        return _render(self)


def run_demo(stencil_paths: Iterable[str] = ()) -> DemoReport:
    """Run the int_sum trace three ways on both ISAs (CPython's stencils for each header given)."""
    headers = _headers(stencil_paths)
    report = None
    for arch in ARCHES:
        profile = load_profile("3.14", arch)
        trace = parse_trace(INT_SUM, profile, INT_SUM_NAME)
        reference, entries, last = _run_semantics(build_scenario(trace, profile))
        if report is None:
            report = DemoReport([u.name for u in trace.uops], {}, entries, last, [])
        else:  # the same trace on another layout: the semantics must agree with itself
            first = report.semantics[ARCHES[0]]
            diffs = reference.compare(first)
            diffs += [f"uop {i} {report.uops[i]} entered {n} times vs {report.entries[i]}"
                      for i, n in enumerate(entries) if n != report.entries[i]]
            report.differences[f"semantics {ISA_NAMES[arch]}"] = diffs
        report.semantics[arch] = reference
        sources = [("refjit", compile_groups(arch, report.uops), shim_group(arch))]
        if arch in headers:
            sources.append(("CPython", headers[arch].groups, headers[arch].shim))
        for source, groups, shim in sources:
            run = _run_machine(build_scenario(trace, profile), groups, shim, source)
            report.runs.append(run)
            report.differences[run.label] = run.outcome.compare(reference)
    if not report.agree:
        from refjit.check import check_trace
        trace = parse_trace(INT_SUM, load_profile("3.14", ARCHES[0]), INT_SUM_NAME)
        report.divergences = check_trace(trace, stencils=headers).differences
    return report


def _headers(paths: Iterable[str]) -> dict[str, StencilHeader]:
    headers: dict[str, StencilHeader] = {}
    for path in paths:
        header = read_header(path)
        if header.arch in headers:
            raise RefjitError(f"two headers for {header.arch}: {headers[header.arch].path} and {path}")
        headers[header.arch] = header
    return headers


def _run_semantics(sc: Scenario) -> tuple[Outcome, list[int], int]:
    """The reference Outcome, how many times each uop of the running executor was entered, and
    the index of the last one."""
    interp = Interpreter(sc)
    entries = [0] * len(sc.uops)
    last = [-1]

    def counted(fn, index):
        def uop(s):
            entries[index] += 1
            last[0] = index
            return fn(s)
        return uop

    table = interp.tables[sc.executor]
    for k, (fn, oparg, u) in enumerate(table[:len(sc.uops)]):
        table[k] = (counted(fn, k), oparg, u)
    return interp.run(), entries, last[0]


def _run_machine(sc: Scenario, groups, shim, source: str) -> MachineRun:
    outcome, profile = run_on_machine(sc, groups, shim, per_uop=True)
    sizes = [groups[u.name].code_size for u in sc.uops]
    return MachineRun(sc.process.arch, source, outcome, sizes, shim.code_size, profile)


def run_on_machine(sc: Scenario, groups, shim, *, per_uop: bool = False):
    """Link every executor of ``sc`` that has uops into the jit region, one after the other, as
    ``_PyJIT_Compile`` does (jit_code, jit_side_entry, jit_size set), and run the running one on
    its ISA's machine: (Outcome, Machine.uop_profile). Executors without uops keep the unmapped
    side entry the process gave them, where the machine stops with a side exit."""
    p = sc.process
    arch = p.arch
    base = p.regions["jit"].base
    ranges, entry = [], None
    for executor, uops in (sc.executors or {sc.executor: sc.uops}).items():
        trace = [Instruction(u.name, u.oparg, u.operand0, u.operand1, u.target, u.jump_target,
                             u.error_target) for u in uops]
        linked = link(trace, groups, shim, arch=arch, executor=executor, base=base,
                      resolve=p.stub_address)
        linked.install(p, executor)
        ranges += [(r.start, r.end, r.index, r.name) for r in linked.pc_map]
        if executor == sc.executor:
            entry = base
        base += linked.jit_size
    machine = Machine(arch, p)
    outcome = machine.run(entry, sc.frame, sc.stack_pointer, sc.tstate, executor=sc.executor,
                          uop_map=UopMap(ranges), raise_on_fault=False, per_uop=per_uop)
    return outcome, dict(machine.uop_profile)


# -- the table --------------------------------------------------------------------------------

def _per_run(run: MachineRun, index: int) -> str:
    """Instructions per entry: exact when every entry ran the same count, else one decimal."""
    n, total = run.entered(index), run.instructions(index)
    if not n:
        return "-"
    return str(total // n) if total % n == 0 else f"{total / n:.1f}"


W = 7  # width of one implementation's column


def _render(r: DemoReport) -> list[str]:
    runs = r.runs
    arches = [a for a in ARCHES if any(run.arch == a for run in runs)]
    per_arch = {a: [run for run in runs if run.arch == a] for a in arches}

    def cells(value) -> str:  # one cell per run, ISA by ISA, two spaces between ISAs
        return "  ".join(" ".join(f"{value(run):>{W}}" for run in per_arch[a]) for a in arches)

    isa_heads = "  ".join(f"{ISA_NAMES[a]:<{len(per_arch[a]) * (W + 1) - 1}}" for a in arches)
    span = len(isa_heads)
    left = f"{'':>3}  {'':<28} {'':>6}  "
    who = []
    for source, what in (("refjit", "refjit's code"), ("CPython", "CPython's stencils")):
        isas = [ISA_NAMES[run.arch] for run in runs if run.source == source]
        if isas:
            who.append(f"{what} ({', '.join(isas)})")
    lines = [f"refjit demo: {INT_SUM_NAME}, the loop of int_sum(20000) as CPython 3.14.7 traces it,",
             "run by the reference semantics and, in an emulated CPython process, by",
             " and ".join(who) + ".", ""]
    lines.append(left + f"{'code bytes':<{span}}   {'instructions per run':<{span}}")
    lines.append(left + f"{isa_heads}   {isa_heads}")
    lines.append(f"{'#':>3}  {'uop':<28} {'runs':>6}  {cells(lambda run: run.source)}   "
                 f"{cells(lambda run: run.source)}   agree")
    for i, name in enumerate(r.uops):
        agree = r.uop_verdict(i)
        lines.append(f"{i:>3}  {name:<28} {r.entries[i]:>6}  {cells(lambda run: run.code_sizes[i])}   "
                     f"{cells(lambda run: _per_run(run, i))}   {agree}")
    lines.append(f"{'':>3}  {'(shim)':<28} {1:>6}  {cells(lambda run: run.shim_size)}   "
                 f"{cells(lambda run: _per_run(run, -1))}")
    lines.append(f"{'':>3}  {'total code bytes':<28} {'':>6}  "
                 f"{cells(lambda run: run.shim_size + sum(run.code_sizes))}")
    lines.append("")
    lines.append("runs: times the reference semantics entered the uop; instructions per run: executed on the")
    lines.append("machine per entry (a decimal when entries differ, e.g. a dealloc on some); agree: entered")
    lines.append("equally often by every implementation, and every final Outcome equal to the semantics'")
    lines.append("")
    lines.append(f"uops executed: {sum(r.entries)} (reference semantics); instructions executed:")
    lines.extend(f"  {run.label}: {run.outcome.instructions or 0}" for run in runs)
    lines.append("")
    exit_uop = f"left through uop {r.last} {r.uops[r.last]}" if r.last >= 0 else "no uop ran"
    for arch, outcome in r.semantics.items():
        lines.append(f"{ISA_NAMES[arch]} reference semantics: {_result(outcome)}, {exit_uop}")
    for label, diffs in r.differences.items():
        if label.startswith("semantics") and diffs:
            lines.append(f"  {label}: DIFFERS from the {ISA_NAMES[ARCHES[0]]} semantics:")
            lines.extend(f"    {d}" for d in diffs)
    for run in runs:
        diffs = r.differences[run.label]
        verdict = ("the same Outcome as the semantics" if not diffs
                   else "DIFFERS from the semantics (it vs the semantics):")
        lines.append(f"  {run.label}: {verdict}")
        lines.extend(f"    {d}" for d in diffs)
    for d in r.divergences:
        lines.extend(d.describe().splitlines())
    lines.append("all agree" if r.agree else "DISAGREEMENT")
    return [line.rstrip() for line in lines]


def _result(outcome: Outcome) -> str:
    """``total = 199990000, exit: tier-1 target 28 (exit 1)``."""
    text = f"exit: {outcome.exit_text()}"
    if TOTAL_LOCAL < len(outcome.locals):
        ident = outcome.locals[TOTAL_LOCAL].split(" ")[0]
        for o in outcome.objects:
            if o.ident == ident and o.value is not None:
                return f"total = {o.value}, {text}"
    return text
