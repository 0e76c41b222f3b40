"""The reference semantics of CPython 3.14.7's tier-2 uops: refjit's oracle.

One Python function per uop, named as in Python/bytecodes.c and grouped by family
(control, stack, numbers, iteration, sequences), operating at the C level on an emulated
process; ``interp`` runs a whole trace and returns the same Outcome the machines produce.
This package never imports ``refjit.lower``: the two must stay independent implementations.
"""

from refjit.semantics.interp import (DEFAULT_BUDGET, LOOP_SLICE, Interpreter, run_scenario,
                                     run_trace)

__all__ = ["DEFAULT_BUDGET", "LOOP_SLICE", "Interpreter", "run_scenario", "run_trace"]
