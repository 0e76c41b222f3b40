"""What every reference uop sees: the three pinned values, its instruction, and the registry.

A uop function takes the context ``s`` and returns how it leaves:

* ``None``: fall through to the next uop (``PATCH_JUMP(_JIT_CONTINUE)``);
* ``JUMP_TO_JUMP_TARGET``: a failed guard, or ``_JUMP_TO_TOP``;
* ``JUMP_TO_ERROR``: the uop failed with an exception set;
* an :class:`refjit.outcome.Ending`: the run is over (``GOTO_TIER_ONE`` / ``GOTO_TIER_TWO``).

``s.stack_pointer`` is the address of the first free stack slot, as the ``stack_pointer``
register of the stencils; ``s.stack[-1]`` reads the top slot and ``s.stack[-1] = bits`` writes
it. ``s.frame``/``s.tstate`` are the frame and thread-state addresses, ``s.current_executor`` the
executor the trace belongs to (the stencils' ``_JIT_EXECUTOR`` hole).
"""

from __future__ import annotations

from refjit.errors import SemanticsError
from refjit.outcome import Ending
from refjit.semantics.capi import CLevel

JUMP_TO_JUMP_TARGET = "jump_target"
JUMP_TO_ERROR = "error_target"
# GOTO_TIER_TWO into the running executor: its jit_side_entry is its first uop.
JUMP_TO_SIDE_ENTRY = "side_entry"

# Uop name -> function; replicas (_LOAD_FAST_3) run their base uop with the folded oparg.
UOPS: dict[str, object] = {}


def uop(fn):
    """Register ``fn`` as the reference semantics of the uop with its name."""
    if fn.__name__ in UOPS:
        raise SemanticsError(f"{fn.__name__} defined twice")
    UOPS[fn.__name__] = fn
    return fn


class _Stack:
    """``stack_pointer[i]`` as an lvalue and an rvalue."""

    __slots__ = ("_s",)

    def __init__(self, s: "UopContext"):
        self._s = s

    def __getitem__(self, i: int) -> int:
        return self._s.mem.u64(self._s.stack_pointer + 8 * i)

    def __setitem__(self, i: int, bits: int) -> None:
        self._s.mem.set_u64(self._s.stack_pointer + 8 * i, bits)


class UopContext(CLevel):
    def __init__(self, process, *, frame: int, stack_pointer: int, tstate: int, executor: int):
        super().__init__(process)
        self.frame = frame
        self.stack_pointer = stack_pointer
        self.tstate = tstate
        self.current_executor = executor
        self.stack = _Stack(self)
        self.inst = None  # the running uop's ResolvedUOp (refjit.scenario)
        self.oparg = 0

    @staticmethod
    def layout(prof) -> dict[str, object]:
        """CLevel's, and the frame, code, thread-state and executor members the uops use."""
        off = prof.offset
        return {
            **CLevel.layout(prof),
            "F_EXECUTABLE": off("_PyInterpreterFrame", "f_executable"),
            "F_INSTR_PTR": off("_PyInterpreterFrame", "instr_ptr"),
            "F_STACKPOINTER": off("_PyInterpreterFrame", "stackpointer"),
            "F_LOCALSPLUS": off("_PyInterpreterFrame", "localsplus"),
            "CO_CODE_ADAPTIVE": off("PyCodeObject", "co_code_adaptive"),
            "CO_EXECUTORS": off("PyCodeObject", "co_executors"),
            "TS_INTERP": off("PyThreadState", "interp"),
            "TS_EVAL_BREAKER": off("PyThreadState", "eval_breaker"),
            "TS_CURRENT_EXECUTOR": off("PyThreadState", "current_executor"),
            "INTERP_TRACE_RUN_COUNTER": off("PyInterpreterState", "trace_run_counter"),
            "VM_VALID": prof.field("_PyExecutorObject", "vm_data.valid"),
            "VM_CHAIN_DEPTH": prof.field("_PyExecutorObject", "vm_data.chain_depth"),
            "VM_WARM": off("_PyExecutorObject", "vm_data.warm"),
            "EXITS": off("_PyExecutorObject", "exits"),
            "EXIT_SIZE": prof.sizeof("_PyExitData"),
            "EXIT_TARGET": off("_PyExitData", "target"),
            "EXIT_TEMPERATURE": off("_PyExitData", "temperature"),
            "EXIT_EXECUTOR": off("_PyExitData", "executor"),
            "EXECUTORS_ITEMS": off("_PyExecutorArray", "executors"),
            "EVENTS_MASK": prof.const("_PY_EVAL_EVENTS_MASK"),
        }

    def cstring(self, text: str) -> int:
        """A NUL-terminated copy of ``text`` in scratch C-stack memory, for a C call's argument
        (the stencil passes the address of its own read-only copy)."""
        data = text.encode() + b"\0"
        self._cstrings_top = getattr(self, "_cstrings_top", self.scratch - 16)
        addr = self._cstrings_top - ((len(data) + 15) & ~15)
        self._cstrings_top = addr
        self.mem.write(addr, data)
        return addr

    # -- the stack pointer ---------------------------------------------------------------------------
    def sp_add(self, slots: int) -> None:
        """``stack_pointer += slots``."""
        self.stack_pointer += 8 * slots

    def _PyFrame_SetStackPointer(self) -> None:
        self.mem.set_u64(self.frame + self.F_STACKPOINTER, self.stack_pointer)

    def _PyFrame_GetStackPointer(self) -> None:
        # Release build: a plain load (only debug builds clear the field).
        self.stack_pointer = self.mem.u64(self.frame + self.F_STACKPOINTER)

    # -- the frame -----------------------------------------------------------------------------------
    def GETLOCAL(self, i: int) -> int:
        return self.mem.u64(self.frame + self.F_LOCALSPLUS + 8 * i)

    def SETLOCAL(self, i: int, bits: int) -> None:
        self.mem.set_u64(self.frame + self.F_LOCALSPLUS + 8 * i, bits)

    def _PyFrame_GetCode(self) -> int:
        return self.mem.u64(self.frame + self.F_EXECUTABLE) & ~1

    def _PyFrame_GetBytecode(self) -> int:
        return self._PyFrame_GetCode() + self.CO_CODE_ADAPTIVE

    # -- the executor --------------------------------------------------------------------------------
    def executor_valid(self, executor: int) -> bool:
        byte = self.mem.u8(executor + self.VM_VALID.offset)
        return bool((byte >> self.VM_VALID.bit) & 1)

    def executor_chain_depth(self, executor: int) -> int:
        f = self.VM_CHAIN_DEPTH
        return (self.mem.u8(executor + f.offset) >> f.bit) & ((1 << f.width) - 1)

    # -- leaving the trace (Tools/jit/template.c) ------------------------------------------------------
    def GOTO_TIER_ONE(self, target: int) -> Ending:
        self.mem.set_u64(self.tstate + self.TS_CURRENT_EXECUTOR, 0)
        self._PyFrame_SetStackPointer()
        return Ending.returned_value(target)

    def GOTO_TIER_TWO(self, executor: int, exit_index: int | None):
        """Set current_executor and tail-jump to ``executor->jit_side_entry`` (no frame store:
        stack_pointer travels in its register). Into the running executor this continues at its
        first uop; into another one the run ends there."""
        self.mem.set_u64(self.tstate + self.TS_CURRENT_EXECUTOR, executor)
        if executor == self.current_executor:
            return JUMP_TO_SIDE_ENTRY
        return Ending.side_exit(executor, exit_index, stack_pointer=self.stack_pointer,
                                from_executor=self.current_executor)
