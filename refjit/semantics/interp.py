"""The reference interpreter: runs a whole trace on a scenario and returns its Outcome.

It plays the part of the stencils' control flow: fall through to the next uop, a failed guard
to ``instruction_starts[jump_target]``, an error to ``instruction_starts[error_target]``,
``_JUMP_TO_TOP`` back to its jump_target, and a uop past the end of the trace into the
``_FATAL_ERROR`` CPython appends. The run ends where the machine code would return to the
shim (``GOTO_TIER_ONE``) or tail-jump into another executor (``GOTO_TIER_TWO``).

A budget bounds the number of uops executed; exceeding it is a SemanticsError naming the uop.
A uop that touches memory that is not mapped or calls a C function wrongly ends the run as a
"fault" Outcome naming the uop, as the machines report a fault.
"""

from __future__ import annotations

from refjit.errors import RuntimeModelError, SemanticsError
from refjit.outcome import Ending, Outcome, build_outcome
from refjit.runtime.cfuncs import FatalError
from refjit.scenario import ResolvedUOp
from refjit.semantics import control, iteration, numbers, sequences, stack  # noqa: F401 (register)
from refjit.semantics.core import (JUMP_TO_ERROR, JUMP_TO_JUMP_TARGET, JUMP_TO_SIDE_ENTRY, UOPS,
                                   UopContext)

DEFAULT_BUDGET = 10_000_000

# The 97 uops of the loop slice (issue 4), replicas included.
LOOP_SLICE = frozenset(UOPS) | {f"{base}_{i}" for base, n in (("_LOAD_FAST", 8),
                                                              ("_LOAD_FAST_BORROW", 8),
                                                              ("_STORE_FAST", 8),
                                                              ("_LOAD_SMALL_INT", 4))
                                 for i in range(n)}


def _functions(profile) -> dict[str, tuple[object, int | None]]:
    """Uop name -> (its function, the oparg a replica folds into its stencil or None), for every
    uop of ``profile`` the semantics implements; built once per profile."""
    functions = _FUNCTIONS.get(profile)
    if functions is None:
        functions = {}
        for name, spec in profile.uops.items():
            const = spec.const_oparg
            fn = UOPS.get(name.rsplit("_", 1)[0] if const is not None else name)
            if fn is not None:
                functions[name] = (fn, const)
        _FUNCTIONS[profile] = functions
    return functions


# Profiles are few and live as long as the process (load_profile keeps them).
_FUNCTIONS: dict[object, dict[str, tuple[object, int | None]]] = {}


class Interpreter:
    def __init__(self, scenario, *, budget: int = DEFAULT_BUDGET):
        self.scenario = scenario
        self.budget = budget
        self.uops_executed = 0
        profile = scenario.process.profile
        # One dispatch table per executor with uops: a side exit into one of them continues
        # there (its jit_side_entry is its first uop), as the chained machine code does.
        executors = scenario.executors or {scenario.executor: scenario.uops}
        self.tables = {address: self._table(profile, uops, scenario.executor_names.get(address))
                       for address, uops in executors.items()}

    @staticmethod
    def _table(profile, uops, executor_name):
        table = []
        functions = _functions(profile)
        for u in uops:
            entry = functions.get(u.name)
            if entry is None:
                prefix = "" if executor_name in (None, "executor") else f"executor {executor_name}: "
                raise SemanticsError(f"{prefix}uop {u.index} {u.name} is not in the loop slice "
                                     f"the reference semantics implements")
            fn, const = entry
            table.append((fn, u.oparg if const is None else const, u))
        # Past the last stub: the _FATAL_ERROR stencil CPython appends to every trace.
        n = len(uops)
        table.append((UOPS["_FATAL_ERROR"], 0, ResolvedUOp(n, "_FATAL_ERROR", 0, 0, 0, 0, 0, 0, 0)))
        return table

    def run(self, before_uop=None) -> Outcome:
        """Run the scenario to its end and read back the Outcome.

        ``before_uop(context, index, uop)``, when given, is called before every uop; a result
        other than None stops the run there and is returned instead of an Outcome. That is how
        refjit.check pauses the reference between two uops to find the first divergent one,
        with this very dispatch loop."""
        sc = self.scenario
        s = UopContext(sc.process, frame=sc.frame, stack_pointer=sc.stack_pointer,
                       tstate=sc.tstate, executor=sc.executor)
        s.scratch = sc.scratch
        table = self.tables[sc.executor]
        i = 0
        executed = 0
        budget = self.budget
        while True:
            fn, oparg, u = table[i]
            if before_uop is not None:
                paused = before_uop(s, i, u)
                if paused is not None:
                    self.uops_executed = executed
                    return paused
            executed += 1
            if executed > budget:
                self.uops_executed = executed - 1
                raise SemanticsError(f"budget of {budget} uops exceeded", self._where(s, u))
            s.inst = u
            s.oparg = oparg
            try:
                r = fn(s)
            except FatalError as err:
                ending = Ending.fatal(str(err)).located((i, u.name, self._where(s, u)))
                break
            except RuntimeModelError as err:
                ending = Ending.fault(str(err), what="model").located(
                    (i, u.name, self._where(s, u)))
                break
            if r is None:
                i += 1
            elif r is JUMP_TO_JUMP_TARGET:
                i = u.jump_target
            elif r is JUMP_TO_ERROR:
                i = u.error_target
            elif r is JUMP_TO_SIDE_ENTRY:
                i = 0
            elif r.kind == "side_exit" and r.executor in self.tables:
                # GOTO_TIER_TWO into an executor of this scenario: carry on in its code.
                s.current_executor = r.executor
                table = self.tables[r.executor]
                i = 0
            else:
                ending = r
                break
        self.uops_executed = executed
        # The executor entered from tier 1, as the machines name it: a side exit taken in a
        # chained executor then names that executor beside its exit (Ending.from_executor).
        return build_outcome(sc.process, ending, frame=sc.frame, tstate=sc.tstate,
                             executor=sc.executor)

    def _where(self, s, u) -> str:
        name = self.scenario.executor_names.get(s.current_executor, "executor")
        return f"uop {u.index} {u.name}" + ("" if name == "executor" else f" of executor {name}")


def run_scenario(scenario, *, budget: int = DEFAULT_BUDGET) -> Outcome:
    """Run a materialised scenario to its end and read back the Outcome."""
    return Interpreter(scenario, budget=budget).run()


def run_trace(trace, profile, *, budget: int = DEFAULT_BUDGET):
    """Materialise ``trace`` in a fresh process and run it: (Outcome, Scenario)."""
    from refjit.scenario import build_scenario

    scenario = build_scenario(trace, profile)
    return run_scenario(scenario, budget=budget), scenario


def run_file(path: str, *, arch: str = "x86_64", budget: int = DEFAULT_BUDGET):
    """``refjit run TRACE``: parse, materialise and run; (Outcome, uops executed)."""
    from refjit.profile import load_profile
    from refjit.scenario import build_scenario
    from refjit.trace import load_trace

    profile = load_profile("3.14", arch)
    interpreter = Interpreter(build_scenario(load_trace(path, profile), profile), budget=budget)
    return interpreter.run(), interpreter.uops_executed
