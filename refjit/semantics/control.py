"""Trace control: entering, checking, looping and leaving an executor.

Executor fields are read through the layout (``vm_data.valid`` is bit 0 of the byte at +0x22,
``vm_data.warm`` the byte at +0x23, FACTS §b.4); leaving follows Tools/jit/template.c:
``GOTO_TIER_ONE`` clears ``tstate->current_executor``, stores ``frame->stackpointer`` and returns
the tier-1 instruction pointer (NULL for an error); ``GOTO_TIER_TWO`` sets
``current_executor`` and tail-jumps to the other executor's side entry.
"""

from __future__ import annotations

from refjit.outcome import Ending
from refjit.semantics.core import JUMP_TO_ERROR, JUMP_TO_JUMP_TARGET, uop

# Include/opcode_ids.h
ENTER_EXECUTOR = 255

# Include/internal/pycore_backoff.h: a 16-bit counter, value << 4 | backoff exponent.
BACKOFF_BITS = 4
MAX_BACKOFF = 12
UNREACHABLE_BACKOFF = 15
SIDE_EXIT_INITIAL_VALUE = 4095
SIDE_EXIT_INITIAL_BACKOFF = 12


def make_backoff_counter(value: int, backoff: int) -> int:
    return (value << BACKOFF_BITS) | backoff


def initial_temperature_backoff_counter() -> int:
    return make_backoff_counter(SIDE_EXIT_INITIAL_VALUE, SIDE_EXIT_INITIAL_BACKOFF)


def backoff_counter_triggers(counter: int) -> bool:
    """The value is zero and the backoff is not UNREACHABLE_BACKOFF."""
    return counter < UNREACHABLE_BACKOFF


def advance_backoff_counter(counter: int) -> int:
    return (counter - (1 << BACKOFF_BITS)) & 0xFFFF


def restart_backoff_counter(counter: int) -> int:
    backoff = counter & 15
    if backoff < MAX_BACKOFF:
        return make_backoff_counter((1 << (backoff + 1)) - 1, backoff + 1)
    return make_backoff_counter((1 << MAX_BACKOFF) - 1, MAX_BACKOFF)


@uop
def _START_EXECUTOR(s):
    # operand0 is the executor itself; with _Py_JIT the stencil is empty (FACTS surprise 5).
    return None


@uop
def _NOP(s):
    return None


@uop
def _MAKE_WARM(s):
    s.mem.set_u8(s.current_executor + s.VM_WARM, 1)
    interp = s.mem.u64(s.tstate + s.TS_INTERP)
    counter = (s.mem.u64(interp + s.INTERP_TRACE_RUN_COUNTER) - 1) & ((1 << 64) - 1)
    s.mem.set_u64(interp + s.INTERP_TRACE_RUN_COUNTER, counter)
    if counter == 0:
        # _Py_set_eval_breaker_bit: an atomic OR into tstate->eval_breaker.
        eb = s.mem.u64(s.tstate + s.TS_EVAL_BREAKER)
        s.mem.set_u64(s.tstate + s.TS_EVAL_BREAKER,
                      eb | s.profile.const("_PY_EVAL_JIT_INVALIDATE_COLD_BIT"))
    return None


@uop
def _SET_IP(s):
    s.mem.set_u64(s.frame + s.F_INSTR_PTR, s.inst.operand0)
    return None


@uop
def _CHECK_PERIODIC(s):
    if s.mem.u64(s.tstate + s.TS_EVAL_BREAKER) & s.EVENTS_MASK:
        s._PyFrame_SetStackPointer()
        err = s.call("_Py_HandlePending", s.tstate)
        s._PyFrame_GetStackPointer()
        if err & 0xFFFFFFFF:  # an int result
            return JUMP_TO_ERROR
    return None


@uop
def _CHECK_VALIDITY(s):
    if not s.executor_valid(s.current_executor):
        return JUMP_TO_JUMP_TARGET
    return None


@uop
def _TIER2_RESUME_CHECK(s):
    if s.mem.u64(s.tstate + s.TS_EVAL_BREAKER) & s.EVENTS_MASK:
        return JUMP_TO_JUMP_TARGET
    return None


@uop
def _JUMP_TO_TOP(s):
    return JUMP_TO_JUMP_TARGET


@uop
def _DEOPT(s):
    return s.GOTO_TIER_ONE(s._PyFrame_GetBytecode() + 2 * s.inst.target)


@uop
def _ERROR_POP_N(s):
    target = s.inst.operand0 & 0xFFFFFFFF  # (uint32_t)CURRENT_OPERAND0()
    s.mem.set_u64(s.frame + s.F_INSTR_PTR, s._PyFrame_GetBytecode() + 2 * target)
    return s.GOTO_TIER_ONE(0)


@uop
def _FATAL_ERROR(s):
    # Py_FatalError(msg) is _Py_FatalErrorFunc(__func__, msg); its model raises FatalError,
    # which the interpreter turns into a "fatal" Outcome (the process would abort here).
    s.call("_Py_FatalErrorFunc", s.cstring("_JIT_ENTRY"), s.cstring("Fatal error uop executed."))
    return Ending.fatal("_Py_FatalErrorFunc returned")


@uop
def _EXIT_TRACE(s):
    m = s.mem
    exit_ = s.inst.operand0  # _PyExitData *
    code = s._PyFrame_GetCode()
    target = s._PyFrame_GetBytecode() + 2 * m.u32(exit_ + s.EXIT_TARGET)
    exit_index = (exit_ - (s.current_executor + s.EXITS)) // s.EXIT_SIZE
    executor = m.u64(exit_ + s.EXIT_EXECUTOR)
    if executor and not s.executor_valid(executor):
        # The linked executor was invalidated: forget it and cool down again.
        m.set_u16(exit_ + s.EXIT_TEMPERATURE, initial_temperature_backoff_counter())
        s._PyFrame_SetStackPointer()
        m.set_u64(exit_ + s.EXIT_EXECUTOR, 0)  # Py_CLEAR: the field first, then the decref
        s.Py_DECREF(executor)
        s._PyFrame_GetStackPointer()
        executor = 0
    if executor == 0:
        temperature = m.u16(exit_ + s.EXIT_TEMPERATURE)
        if not backoff_counter_triggers(temperature):
            m.set_u16(exit_ + s.EXIT_TEMPERATURE, advance_backoff_counter(temperature))
            return s.GOTO_TIER_ONE(target)
        if m.u8(target) == ENTER_EXECUTOR:
            # Reuse the executor that already sits at the target instruction.
            executors = m.u64(code + s.CO_EXECUTORS)
            executor = m.u64(executors + s.EXECUTORS_ITEMS + 8 * m.u8(target + 1))
            s.Py_INCREF(executor)
        else:
            chain_depth = s.executor_chain_depth(s.current_executor) + 1
            out = s.scratch  # the stencil's local `_PyExecutorObject *executor`
            m.set_u64(out, 0)
            s._PyFrame_SetStackPointer()
            optimized = s.call("_PyOptimizer_Optimize", s.frame, target, out, chain_depth)
            s._PyFrame_GetStackPointer()
            optimized &= 0xFFFFFFFF  # an int: sign-extend the low 32 bits
            optimized = optimized - (1 << 32) if optimized & 0x80000000 else optimized
            if optimized <= 0:
                m.set_u16(exit_ + s.EXIT_TEMPERATURE, restart_backoff_counter(temperature))
                return s.GOTO_TIER_ONE(0 if optimized < 0 else target)
            executor = m.u64(out)
            m.set_u16(exit_ + s.EXIT_TEMPERATURE, initial_temperature_backoff_counter())
        m.set_u64(exit_ + s.EXIT_EXECUTOR, executor)
    return s.GOTO_TIER_TWO(m.u64(exit_ + s.EXIT_EXECUTOR), exit_index)
