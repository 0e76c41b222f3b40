"""Differential fuzzing (refjit.fuzz): the generator's traces, three-way agreement on a few
hundred of them, and a planted bug found, shrunk, saved and replayed.

Everything is deterministic: hypothesis runs derandomized and the plain generator from fixed
seeds, so CI sees the same cases every time. The independent side of every comparison is the
reference semantics (itself tested against the host Python); the generator's well-formedness
is judged by the trace format's validator, which the generator does not use.
"""

from __future__ import annotations

import real_stencils

import collections
import pathlib
import random
import re

import pytest
from hypothesis import HealthCheck, given, settings

from refjit import compile as refjit_compile
from refjit.fuzz.campaign import check_text, run_campaign
from refjit.fuzz.generate import RandomChoices, generate
from refjit.fuzz.strategies import traces
from refjit.profile import load_profile
from refjit.scenario import build_scenario
from refjit.semantics import LOOP_SLICE, Interpreter
from refjit.trace import format_trace, parse_trace

PROFILE = load_profile("3.14", "x86_64")
STUBS = ("_DEOPT", "_EXIT_TRACE", "_ERROR_POP_N")


def generated(seed: int):
    return generate(RandomChoices(random.Random(seed)))


def round_trips(text: str) -> None:
    """The validator accepts it, and the printer's text parses back to the same trace."""
    trace = parse_trace(text, PROFILE)
    printed = format_trace(trace)
    again = parse_trace(printed, PROFILE)
    assert format_trace(again) == printed
    # NaN != NaN: compare the dataclasses only when no NaN makes equality meaningless
    if "nan" not in printed:
        assert again == trace


def test_random_choices_draw_what_randint_draws():
    """RandomChoices.integer skips randint's argument checks: the same draws, one for one, as
    random.Random.randint from the same seed (ranges of the generator's sizes, negative and
    wider than 64 bits), and randint's error for an empty range."""
    ranges = [(0, 0), (0, 1), (0, 6), (1, 10), (-5, 256), (0, 0xFFFF), (-(2**31), 2**31),
              (-(2**70), 2**70), (-(10**6), 10**6), (3, 3)]
    choices, oracle = RandomChoices(random.Random(99)), random.Random(99)
    for k in range(3000):
        lo, hi = ranges[k % len(ranges)]
        assert choices.integer(lo, hi) == oracle.randint(lo, hi)
    with pytest.raises(ValueError, match="empty range"):
        choices.integer(1, 0)


@pytest.mark.parametrize("block", range(6))
def test_generated_traces_are_accepted_and_round_trip(block):
    for seed in range(block * 100, block * 100 + 100):
        round_trips(generated(seed).text)


def test_error_stubs_with_tier1_index_0_are_generated_and_round_trip():
    """_ERROR_POP_N operand0=0 (an error at tier-1 instruction 0) is a valid trace again since the
    printer keeps operand0 when the uop uses it (it used to drop it, and the parser refused)."""
    texts = [t for t in (generated(seed).text for seed in range(300))
             if re.search(r"_ERROR_POP_N .*operand0=0\b", t)]
    assert texts
    for text in texts:
        round_trips(text)


@settings(max_examples=200, derandomize=True, database=None, deadline=None,
          suppress_health_check=list(HealthCheck))
@given(traces())
def test_hypothesis_traces_are_accepted_and_round_trip(g):
    round_trips(g.text)


# Uops that can leave through their jump_target (guards, deopts, exits), but for the one whose
# exit 3.14.7's code never takes: _ITER_NEXT_LIST_TIER_TWO (HAS_EXIT_FLAG, yet in tier 2 it
# only asserts that the iterator is not exhausted).
LEAVERS = sorted(n for n in LOOP_SLICE if (PROFILE.uops[n].has("HAS_EXIT")
                                           or PROFILE.uops[n].has("HAS_DEOPT"))
                 and n != "_ITER_NEXT_LIST_TIER_TWO")


def executed_uops(text: str):
    """Which uops the reference semantics ran (stubs included), which jumping uops went on and
    which left through their jump_target, and how the run ended."""
    sc = build_scenario(parse_trace(text, PROFILE), PROFILE)
    interp = Interpreter(sc, budget=20_000)
    ran: collections.Counter = collections.Counter()
    order: list = []
    for t, table in enumerate(interp.tables.values()):
        for k, (fn, oparg, u) in enumerate(table):
            def counted(s, fn=fn, u=u, key=(t, k)):
                ran[u.name] += 1
                order.append((key, u))
                return fn(s)
            table[k] = (counted, oparg, u)
    kind = interp.run().kind
    passed, failed = set(), set()
    for ((t, k), u), ((t2, k2), _next) in zip(order, order[1:]):
        if t2 == t and k2 == k + 1:
            passed.add(u.name)
        elif t2 == t and k2 == u.jump_target and u.name != "_JUMP_TO_TOP":
            failed.add(u.name)
    return ran, passed, failed, kind


def test_the_generated_cases_exercise_the_whole_slice_and_every_ending():
    """The three-way test below is only as good as what its traces execute: every loop-slice
    uop, every guard both ways, loops that go round, and every kind of ending."""
    ran: collections.Counter = collections.Counter()
    endings: collections.Counter = collections.Counter()
    passed, failed = set(), set()
    loops_round = 0
    for seed in range(600):  # the semantics alone is quick: twice the seeds of the check below
        counts, p, f, kind = executed_uops(generated(seed).text)
        ran.update(counts)
        passed |= p
        failed |= f
        endings[kind] += 1
        loops_round += counts["_JUMP_TO_TOP"] >= 2
    assert sorted(LOOP_SLICE - set(ran)) == []
    assert [n for n in LEAVERS if n not in passed] == []
    assert [n for n in LEAVERS if n not in failed] == []
    assert set(endings) == {"tier1", "error", "side_exit", "fatal"}, endings
    assert loops_round >= 20


@pytest.mark.parametrize("block", range(6))
def test_semantics_and_refjit_agree_on_both_isas(block):
    """50 random traces per block, each run by the semantics and by refjit's code on x86-64 and
    AArch64: every Outcome equal (exit, frame, every slot's bits, every object, thread state)."""
    for seed in range(block * 50, block * 50 + 50):
        text = generated(seed).text
        r = check_text(text)
        assert r.agree, f"seed {seed}:\n" + "\n".join(r.differences[:10]) + "\n" + text


def test_long_traces_agree_on_both_isas():
    """40 long traces (dozens of uops and stubs: jumps far across the executor's code)."""
    for seed in range(40):
        g = generate(RandomChoices(random.Random(seed)), long=True)
        r = check_text(g.text)
        assert r.agree, f"seed {seed}:\n" + "\n".join(r.differences[:10]) + "\n" + g.text


def real_headers() -> dict:
    """CPython 3.14.7's real headers (not in the repository: a local check, as in
    test_semantics_stencils.py; REFJIT_REAL_STENCILS names their directory)."""

    return {arch: real_stencils.require(arch) for arch in ("x86_64", "aarch64")}


def test_semantics_refjit_stencils_and_mixed_agree_on_both_isas():
    """60 random traces, eight ways each: the semantics, refjit's code, CPython's stencils and
    the two interleaved uop by uop, on x86-64 and AArch64."""
    headers = real_headers()
    for seed in range(1000, 1060):
        text = generated(seed).text
        r = check_text(text, stencils=headers, mixed=True)
        assert {k.split("/")[0] for k in r.outcomes} == {"semantics", "refjit", "stencils", "mixed"}
        assert r.agree, f"seed {seed}:\n" + "\n".join(r.differences[:10]) + "\n" + text


# -- a planted bug ------------------------------------------------------------------------------

def plant(monkeypatch, uop: str, instead: str) -> None:
    """refjit's code for ``uop`` replaced by its code for ``instead`` (same stack effect)."""
    real = refjit_compile.compile_groups

    def planted(arch, names):
        groups = real(arch, set(names) | {instead})
        if uop in groups:
            groups[uop] = groups[instead]
        return groups

    monkeypatch.setattr(refjit_compile, "compile_groups", planted)


def test_a_planted_bug_is_found_shrunk_saved_and_replayed(monkeypatch, tmp_path, capsys):
    from refjit.cli import main

    plant(monkeypatch, "_BINARY_OP_ADD_INT", "_BINARY_OP_SUBTRACT_INT")
    report = run_campaign(30, seed=0, out=str(tmp_path), arches=("x86_64",), max_found=1)
    assert len(report.found) == 1
    found = report.found[0]
    assert found.signature == "refjit/x86_64 at _BINARY_OP_ADD_INT"
    path = tmp_path / found.path.split("/")[-1]
    saved = path.read_text()
    assert saved == found.text
    assert saved.startswith("refjit-trace 1\n# A disagreement found by `refjit fuzz`")
    assert "# replay: refjit run THIS_FILE --check --arch x86_64\n" in saved
    trace = parse_trace(saved, PROFILE, "saved.trace")
    main_flow = [u.name for u in trace.uops if u.name not in STUBS]
    # shrunk: the culprit, what feeds it, and little else
    assert "_BINARY_OP_ADD_INT" in main_flow
    assert len(main_flow) <= 8, main_flow
    # `refjit run --check` replays it with the bug: the same uop diverges, the same difference
    capsys.readouterr()
    assert main(["run", str(path), "--check", "--arch", "x86_64"]) == 1
    out = capsys.readouterr().out
    assert any(f"refjit/x86_64 vs semantics/x86_64: first divergence at uop {u.index} "
               f"_BINARY_OP_ADD_INT" in out for u in trace.uops if u.name == "_BINARY_OP_ADD_INT")
    for difference in found.differences:
        assert difference.split(": ", 1)[1] in out
    # and without the bug, everything agrees
    monkeypatch.undo()
    assert main(["run", str(path), "--check", "--arch", "x86_64,aarch64"]) == 0
    assert "agree: all 4 Outcomes are equal" in capsys.readouterr().out


# -- saved reproducers ----------------------------------------------------------------------------

CORPUS = pathlib.Path(__file__).resolve().parent.parent / "fuzz" / "corpus"
# Disagreements found by the fuzzer and reported to their owners (requests.md): strict, so a fix
# shows up as an XPASS that fails until the marker is removed. (Fixed and now regression cases:
# chained_side_exit_index.trace, an exit taken inside a chained executor.)
KNOWN: dict[str, str] = {}


@pytest.mark.parametrize("name", [
    pytest.param(p.name, marks=pytest.mark.xfail(reason=KNOWN[p.name], strict=True))
    if p.name in KNOWN else p.name
    for p in sorted(CORPUS.glob("*.trace"))])
def test_corpus_reproducers(name):
    """Every saved reproducer parses and, once its bug is fixed, agrees on both ISAs."""
    r = check_text((CORPUS / name).read_text(), filename=name)
    assert r.agree, "\n".join(r.differences)


@pytest.mark.parametrize("name", [p.name for p in sorted(CORPUS.glob("*.trace"))
                                  if p.name not in KNOWN])
def test_corpus_replay_lines_exit_0(name, capsys):
    """The replay line each reproducer carries, `refjit run FILE --check --arch x86_64,aarch64`,
    exits 0 (all Outcomes equal) once its bug is fixed."""
    from refjit.cli import main

    assert main(["run", str(CORPUS / name), "--check", "--arch", "x86_64,aarch64"]) == 0
    assert "agree: all 4 Outcomes are equal" in capsys.readouterr().out


def test_corpus_reproducers_agree_with_the_real_stencils():
    """Every fixed reproducer, with CPython's stencils and mixed code too (local check)."""
    headers = real_headers()
    for path in sorted(CORPUS.glob("*.trace")):
        if path.name not in KNOWN:
            r = check_text(path.read_text(), stencils=headers, mixed=True, filename=path.name)
            assert r.agree, path.name + ":\n" + "\n".join(r.differences)


def test_a_side_exit_inside_a_chained_executor_names_its_exit_on_every_side():
    """chained_side_exit_index.trace: main's exit 0 chains into side1, whose exit 0 links to o1.
    Every side says the run left through exit 0 *of side1* (the executor whose _EXIT_TRACE ran,
    Python/bytecodes.c), not through an exit of the executor it was entered in."""
    r = check_text((CORPUS / "chained_side_exit_index.trace").read_text())
    assert r.agree and len(r.outcomes) == 4
    texts = {o.exit_text() for o in r.outcomes.values()}
    assert len(texts) == 1
    (text,) = texts
    assert re.fullmatch(r"side exit to #\d+ \(exit 0 of #\d+\)", text)
    o = next(iter(r.outcomes.values()))
    types = {x.ident: x.type for x in o.objects}
    assert types[o.exit_from] == types[o.side_exit_to] == "uop_executor"
    assert o.exit_from != o.side_exit_to and o.current_executor == o.side_exit_to


def test_the_corpus_is_not_empty_and_every_known_entry_exists():
    names = {p.name for p in CORPUS.glob("*.trace")}
    assert names and set(KNOWN) <= names


# -- the command ----------------------------------------------------------------------------------

def test_refjit_fuzz_runs_a_campaign_and_prints_a_summary(tmp_path, capsys):
    from refjit.cli import main

    assert main(["fuzz", "--seconds", "0.5", "--seed", "4", "--arch", "aarch64",
                 "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("seed 4: ") and "cases/s" in out and "0 disagreement(s)" in out
    assert list(tmp_path.iterdir()) == []  # nothing to save


@pytest.mark.parametrize("argv,message", [
    (["--arch", "sparc"], "unknown ISA 'sparc'"),
    (["--seconds", "0"], "--seconds must be positive"),
    (["--max-found", "0"], "--max-found must be at least 1"),
    (["--stencils", "/nonexistent/jit_stencils-x86_64-pc-linux-gnu.h"], "nonexistent"),
])
def test_refjit_fuzz_refuses_bad_arguments_clearly(argv, message, capsys):
    from refjit.cli import main

    assert main(["fuzz", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err


def test_refjit_fuzz_without_hypothesis_says_how_to_get_it(monkeypatch, capsys):
    """hypothesis is a dependency of the fuzzer only (and of the tests), not of refjit."""
    import sys

    from refjit.cli import main

    monkeypatch.setitem(sys.modules, "hypothesis", None)  # import hypothesis -> ImportError
    assert main(["fuzz", "--seconds", "1"]) == 2
    err = capsys.readouterr().err
    assert "needs hypothesis: pip install hypothesis" in err and "Traceback" not in err


def test_a_checker_that_breaks_is_a_finding_too(monkeypatch, tmp_path):
    """An exception inside refjit while checking a case (here: check_trace refuses every trace)
    is shrunk and saved like a disagreement, named by the error and where it was raised."""
    from refjit.errors import LinkError

    monkeypatch.setattr("refjit.check.check_trace", _raising_check(LinkError("planted")))
    report = run_campaign(5, seed=0, out=str(tmp_path), arches=("x86_64",), max_found=1)
    assert [f.signature for f in report.found] == ["LinkError in test_fuzz.py:check"]
    assert report.found[0].differences == ["cannot check: LinkError: planted"]
    assert (tmp_path / report.found[0].path.split("/")[-1]).read_text().startswith("refjit-trace 1")


def _raising_check(err):
    def check(*args, **kwargs):
        raise err
    return check


def test_refjit_fuzz_exits_1_and_names_the_file_when_it_finds_a_disagreement(monkeypatch, tmp_path,
                                                                              capsys):
    from refjit.cli import main

    plant(monkeypatch, "_BINARY_OP_ADD_INT", "_BINARY_OP_SUBTRACT_INT")
    # it stops at the first disagreement, so a slow machine gets more time, not fewer cases
    assert main(["fuzz", "--seconds", "120", "--max-found", "1", "--seed", "0", "--arch", "x86_64",
                 "--out", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    saved = sorted(tmp_path.iterdir())
    assert saved and out.splitlines()[0].endswith(f" {len(saved)} disagreement(s)")
    assert "refjit/x86_64 at _BINARY_OP_ADD_INT" in out
    assert all(f"saved: {p}" in out for p in saved)
