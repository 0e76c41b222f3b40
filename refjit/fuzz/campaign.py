"""Differential fuzzing: random traces run three ways, disagreements shrunk and saved.

One *case* is a random trace (refjit.fuzz.generate) run by the reference semantics and, on each
ISA, by refjit's machine code and by CPython's stencils when a header is given. The Outcomes
must be equal. The comparison is refjit.check's (which also pins a disagreement on the uop where
it began). A case whose reference run faults (the generator made something CPython's own code
would never run) is *discarded*, not counted as agreement.

A campaign drives the generator with hypothesis: when a case disagrees, hypothesis shrinks the
choices behind it to a smallest trace that still disagrees the same way, and that trace is saved
with a comment header saying how to replay it and what differed. Runs are in batches, each with
its own seed derived from the campaign's, so a campaign is reproducible from its seed.
"""

from __future__ import annotations

import os
import time
import zlib
from dataclasses import dataclass, field

from refjit.errors import RefjitError
from refjit.outcome import Outcome
from refjit.profile import load_profile
from refjit.trace import parse_trace

ARCHES = ("x86_64", "aarch64")
# uops: far more than a generated loop needs (iterators of <= 6 items); a body that appends to
# the list it iterates can run for ever, and is compared where the budget stops it
SEMANTICS_BUDGET = 20_000


class Discarded(RefjitError):
    """The case says nothing: its reference run cannot be compared (why in the message)."""


@dataclass
class CaseResult:
    """One trace checked against every implementation that was asked for (refjit.check)."""

    agree: bool
    # "<source>/<arch> at uop I NAME: <difference>" for each implementation that differs
    differences: list[str] = field(default_factory=list)
    outcomes: dict[str, Outcome] = field(default_factory=dict)  # "semantics/x86_64", ...
    # "<source>/<arch> at NAME" per divergence: the uop check_trace pinned it on
    culprits: list[str] = field(default_factory=list)

    @property
    def signature(self) -> str:
        """What kind of disagreement this is, stable under shrinking: which implementation and
        the uop the divergence began at (the first one, if several)."""
        return self.culprits[0] if self.culprits else ""


def interleaved(trace) -> dict:
    """A mix for check_trace: every other uop of the running executor refjit's, the rest
    CPython's stencils (which half is a function of the trace), so each refjit uop meets a
    stencil on both sides: the uop-boundary contract (pinned registers, stack pointer, exits)
    is checked between the two implementations."""
    parity = zlib.crc32(repr([(u.name, u.oparg) for u in trace.uops]).encode()) & 1
    mix: dict = {"*": "stencil"}
    mix.update({i: "refjit" for i in range(1 + parity, len(trace.uops), 2)})
    return mix


def check_text(text: str, *, arches=ARCHES, stencils=None, refjit: bool = True,
               mixed: bool = False, budget: int = SEMANTICS_BUDGET,
               filename: str = "<fuzz>") -> CaseResult:
    """Run one trace text every way asked (refjit.check.check_trace; ``mixed``, with
    stencils: also refjit's uops interleaved with CPython's); raise Discarded when the
    reference run itself faulted (a trace CPython could not run either)."""
    from refjit.check import check_trace

    trace = parse_trace(text, load_profile("3.14", arches[0]), filename)
    mix = interleaved(trace) if mixed and stencils else None
    report = check_trace(trace, arches=tuple(arches), stencils=stencils or {}, refjit=refjit,
                         mix=mix, budget=budget)
    for label, o in report.outcomes.items():
        if label.startswith("semantics/") and o.kind == "fault":
            raise Discarded(f"the reference run faulted: {o.message}")
    result = CaseResult(report.agree, outcomes=dict(report.outcomes))
    for d in report.differences:
        where = d.label if d.uop_name is None else f"{d.label} at uop {d.uop_index} {d.uop_name}"
        result.differences += [f"{where}: {x}" for x in (d.first or d.details)]
        result.culprits.append(f"{d.label} at {d.uop_name or d.where()}")
    return result


# -- campaigns ---------------------------------------------------------------------------------


@dataclass
class Found:
    signature: str
    text: str  # the shrunk trace, with its comment header
    differences: list[str]
    path: str | None = None


@dataclass
class CampaignReport:
    seed: int
    seconds: float = 0.0
    cases: int = 0  # compared (agreeing or not), shrinking runs included
    discarded: int = 0
    found: list[Found] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.cases / self.seconds if self.seconds else 0.0


class _Disagreement(Exception):
    """Raised inside a hypothesis run so that it shrinks the case (not a RefjitError: it never
    leaves this module)."""

    def __init__(self, text: str, result: CaseResult):
        super().__init__(result.signature)
        self.text = text
        self.result = result


def _header(seed: int, batch: int, text: str, result: CaseResult, arches, stencils) -> str:
    replay = f"refjit run THIS_FILE --check --arch {','.join(arches)}"
    if stencils:
        replay += " --stencils " + " ".join(h.path for h in stencils.values())
        mix = interleaved(parse_trace(text, load_profile("3.14", arches[0])))
        replay += " --mix '" + ",".join(f"{k}={v}" for k, v in mix.items()) + "'"
    lines = ["# A disagreement found by `refjit fuzz` (shrunk by hypothesis)",
             f"# campaign seed {seed}, batch {batch}",
             f"# replay: {replay}",
             "# what differed:"]
    lines += [f"#   {d}" for d in result.differences[:20]]
    if len(result.differences) > 20:
        lines.append(f"#   ... {len(result.differences) - 20} more")
    return "\n".join(lines) + "\n"


def with_header(text: str, header: str) -> str:
    """The trace with comment lines after its format line."""
    first, _, rest = text.partition("\n")
    return f"{first}\n{header}{rest}"


def crashed(err: Exception) -> CaseResult:
    """A case that could not be checked at all (a trace the format refuses, a Python exception
    inside refjit): saved and shrunk like a disagreement, named by the error and where it
    was raised."""
    tb = err.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    where = f"{os.path.basename(tb.tb_frame.f_code.co_filename)}:{tb.tb_frame.f_code.co_name}" \
        if tb is not None else "?"
    return CaseResult(False, [f"cannot check: {type(err).__name__}: {err}"],
                      culprits=[f"{type(err).__name__} in {where}"])


def run_campaign(seconds: float, *, seed: int = 0, stencils=None, arches=ARCHES,
                 out: str | None = None, batch_size: int = 25, max_uops: int = 40,
                 max_found: int = 10) -> CampaignReport:
    """Fuzz for about ``seconds``, or until ``max_found`` distinct disagreements are saved: the
    batch in progress finishes, and its shrinking may go on for a grace period (a quarter of
    ``seconds``, at least 10 s); after that the smallest disagreement seen so far is the one
    saved."""
    try:
        from hypothesis import HealthCheck, Phase, given, reject, settings
        from hypothesis import seed as hseed
        from hypothesis.errors import Flaky
    except ImportError:
        raise RefjitError("`refjit fuzz` needs hypothesis: pip install hypothesis "
                          "(or pip install 'refjit[test]')") from None
    from refjit.fuzz.strategies import traces

    report = CampaignReport(seed)
    known: set[str] = set()
    start = time.monotonic()
    stop_shrinking = start + seconds + max(10.0, seconds / 4)
    batch = 0
    while time.monotonic() - start < seconds and len(report.found) < max_found:

        @settings(database=None, max_examples=batch_size, deadline=None,
                  phases=(Phase.generate, Phase.shrink), report_multiple_bugs=False,
                  suppress_health_check=list(HealthCheck), print_blob=False)
        @hseed(seed * 1_000_003 + batch)
        @given(traces(max_uops=max_uops, long=batch % 4 == 3))  # every fourth batch: long
        def probe(g):
            if time.monotonic() > stop_shrinking and smallest:
                # out of time: every other candidate "passes", so hypothesis ends with this one
                if g.text == smallest[-1].text:
                    raise smallest[-1]
                return
            try:
                r = check_text(g.text, arches=arches, stencils=stencils, mixed=True)
            except Discarded:
                report.discarded += 1
                reject()
            except Exception as err:  # noqa: BLE001 -- a checker that breaks is a finding too
                r = crashed(err)
            report.cases += 1
            if not r.agree and r.signature not in known:
                smallest.append(_Disagreement(g.text, r))  # hypothesis only tries smaller ones
                raise smallest[-1]

        smallest: list[_Disagreement] = []
        try:
            try:
                probe()
            except Flaky:
                if not smallest:
                    raise
                raise smallest[-1] from None
        except _Disagreement as d:
            known.add(d.result.signature)
            header = _header(seed, batch, d.text, d.result, arches, stencils)
            found = Found(d.result.signature, with_header(d.text, header), d.result.differences)
            if out is not None:
                os.makedirs(out, exist_ok=True)
                found.path = os.path.join(out, f"fuzz-{seed}-{batch}.trace")
                with open(found.path, "w", encoding="utf-8") as f:
                    f.write(found.text)
            report.found.append(found)
        batch += 1
    report.seconds = time.monotonic() - start
    return report


def campaign_lines(report: CampaignReport) -> list[str]:
    """The summary ``refjit fuzz`` prints."""
    lines = [f"seed {report.seed}: {report.cases} cases in {report.seconds:.1f} s "
             f"({report.rate:.1f} cases/s), {report.discarded} discarded, "
             f"{len(report.found)} disagreement(s)"]
    for f in report.found:
        lines.append(f"  {f.signature}")
        lines += [f"    {d}" for d in f.differences[:5]]
        if f.path:
            lines.append(f"    saved: {f.path}")
    return lines


def fuzz_command(seconds: float, *, seed: int = 0, stencil_paths=(), out: str | None = None,
                 arches=ARCHES, max_found: int = 10) -> CampaignReport:
    """``refjit fuzz``: check the arguments, read the headers, run the campaign."""
    from refjit.stencils import read_header

    arches = tuple(arches)
    for arch in arches:
        if arch not in ARCHES:
            raise RefjitError(f"unknown ISA {arch!r} (expected {' or '.join(ARCHES)})")
    if not seconds > 0:
        raise RefjitError(f"--seconds must be positive, not {seconds}")
    if max_found < 1:
        raise RefjitError(f"--max-found must be at least 1, not {max_found}")
    stencils = {}
    for path in stencil_paths:
        header = read_header(path)
        if header.arch in stencils:
            raise RefjitError(f"two headers for {header.arch}: {stencils[header.arch].path} and {path}")
        if header.arch not in arches:
            raise RefjitError(f"{path} is for {header.arch}, which is not among --arch {','.join(arches)}")
        stencils[header.arch] = header
    return run_campaign(seconds, seed=seed, stencils=stencils, arches=arches, out=out,
                        max_found=max_found)
