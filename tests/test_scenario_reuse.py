"""A scenario built in a reused Process (reset, then built) is byte for byte the one a new Process gets.

refjit.check builds every case in one persistent Process per ISA instead of constructing one;
that is only sound if nothing of the previous case (its objects, frees, executors, the run's
writes) survives the reset. The independent reference is a Process constructed from nothing.
"""

from __future__ import annotations

import pathlib
import random

import pytest

from refjit.errors import RefjitError, RuntimeModelError
from refjit.fuzz.generate import RandomChoices, generate
from refjit.profile import load_profile
from refjit.runtime.process import LayoutConfig, Process
from refjit.scenario import build_scenario
from refjit.semantics import run_scenario
from refjit.trace import load_trace, parse_trace

EXAMPLES = sorted((pathlib.Path(__file__).parent.parent / "examples").glob("*.trace"))


def _state(p: Process) -> tuple:
    """Everything a scenario's run can depend on: every region's bytes and the allocator's books."""
    s = p.snapshot()
    return (s.memory.regions, s.heap, s.freelists, s.code_top, s.statics_top, s.executors,
            s.foreign_executors, p.optimizer)


def _traces(prof):
    traces = [load_trace(str(path), prof) for path in EXAMPLES]
    for seed in range(12):  # random ones too: chained executors, frees, enter_executors, ...
        traces.append(parse_trace(generate(RandomChoices(random.Random(7000 + seed))).text, prof))
    return traces


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_reused_process_gives_the_same_bytes_as_a_new_one(arch):
    prof = load_profile("3.14", arch)
    traces = _traces(prof)
    reused = Process(prof)
    previous = traces[-1]
    for trace in traces:
        # Dirty the reused process with another case, run to its end, before building this one.
        dirty = build_scenario(previous, prof, process=reused)
        try:
            run_scenario(dirty, budget=200)
        except RefjitError:  # only dirtying: any ending will do
            pass
        fresh = build_scenario(trace, prof)
        again = build_scenario(trace, prof, process=reused)
        assert again.process is reused
        assert (again.code, again.frame, again.stack_pointer, again.executor, again.objects) == \
            (fresh.code, fresh.frame, fresh.stack_pointer, fresh.executor, fresh.objects)
        assert [r.name for r in reused.mem.regions] == [r.name for r in fresh.process.mem.regions]
        assert _state(reused) == _state(fresh.process), trace.filename
        previous = trace


def test_a_process_of_another_profile_or_layout_is_refused():
    x86, a64 = load_profile("3.14", "x86_64"), load_profile("3.14", "aarch64")
    trace = load_trace(str(EXAMPLES[0]), x86)
    with pytest.raises(RuntimeModelError, match="process given"):
        build_scenario(trace, a64, process=Process(x86))
    with pytest.raises(RuntimeModelError, match="process given"):
        build_scenario(trace, x86, layout=LayoutConfig(tstate_in_runtime=True), process=Process(x86))


def test_trace_facts_shared_by_both_isas_give_the_bytes_a_scenario_of_its_own_gets():
    """check_trace derives a trace's objects, counts and exits once (TraceFacts) for both ISAs."""
    from refjit.scenario import TraceFacts

    profs = [load_profile("3.14", arch) for arch in ("x86_64", "aarch64")]
    for trace in _traces(profs[0]):
        facts = TraceFacts(trace)
        for prof in profs:          # the second ISA gets facts the first one computed
            shared = build_scenario(trace, prof, facts=facts)
            own = build_scenario(trace, prof)
            assert shared.objects == own.objects and _state(shared.process) == _state(own.process)
    with pytest.raises(RuntimeModelError, match="TraceFacts given are of another trace"):
        build_scenario(trace, profs[0], facts=TraceFacts(_traces(profs[0])[0]))
