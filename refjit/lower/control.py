"""Trace control: entering, checking, looping and leaving an executor (Python/bytecodes.c,
Tools/jit/template.c's GOTO_TIER_ONE / GOTO_TIER_TWO, Include/internal/pycore_backoff.h)."""

from __future__ import annotations

from functools import lru_cache

from refjit.lir import ERROR_TARGET, FRAME, JUMP_TARGET, OUT_SLOT, TSTATE
from refjit.lower import lowering

ENTER_EXECUTOR = 255                  # Include/opcode_ids.h
UNREACHABLE_BACKOFF = 15              # pycore_backoff.h
MAX_BACKOFF = 12


@lowering
def _START_EXECUTOR(u):
    pass  # with _Py_JIT the executor comes from the _JIT_EXECUTOR hole: nothing to do


@lowering
def _NOP(u):
    pass


@lowering
def _MAKE_WARM(u):
    b = u.b
    b.store(1, b.hole("EXECUTOR"), u.off("_PyExecutorObject", "vm_data.warm"),
            u.bits("_PyExecutorObject", "vm_data.warm"))
    interp = b.load(TSTATE, u.off("PyThreadState", "interp"))
    done = b.label("warm")
    b.rmw(interp, u.off("PyInterpreterState", "trace_run_counter"), 64, -1, "ne", done)
    # _Py_set_eval_breaker_bit: an OR into tstate->eval_breaker (atomic in C; one thread here)
    eb_off = u.off("PyThreadState", "eval_breaker")
    eb = b.load(TSTATE, eb_off)
    b.store(b.or_(eb, u.const("_PY_EVAL_JIT_INVALIDATE_COLD_BIT")), TSTATE, eb_off)
    b.bind(done)


@lowering
def _SET_IP(u):
    b = u.b
    b.store(b.hole("OPERAND0"), FRAME, u.off("_PyInterpreterFrame", "instr_ptr"))


def _eval_breaker_events(u):
    b = u.b
    return b.and_(b.load(TSTATE, u.off("PyThreadState", "eval_breaker")), u.const("_PY_EVAL_EVENTS_MASK"))


@lowering
def _CHECK_PERIODIC(u):
    b = u.b
    done = b.label("periodic")
    b.br("eq", _eval_breaker_events(u), 0, done)
    u._PyFrame_SetStackPointer()
    err = b.call("_Py_HandlePending", TSTATE)
    u._PyFrame_GetStackPointer()
    b.br("ne", err, 0, ERROR_TARGET, width=32)
    b.bind(done)


@lowering
def _CHECK_VALIDITY(u):
    b = u.b
    f = u.profile.field("_PyExecutorObject", "vm_data.valid")
    valid = b.load(b.hole("EXECUTOR"), f.offset, 8 * f.size)   # a bitfield in that unit
    b.brbit(valid, f.bit, False, JUMP_TARGET)


@lowering
def _TIER2_RESUME_CHECK(u):
    u.b.br("ne", _eval_breaker_events(u), 0, JUMP_TARGET)


@lowering
def _JUMP_TO_TOP(u):
    u.b.jump(JUMP_TARGET)


@lowering
def _DEOPT(u):
    b = u.b
    target = b.hole("TARGET")   # a uint32_t in the template: the hole holds it zero-extended
    u.GOTO_TIER_ONE(b.lea(u._PyFrame_GetBytecode(), target, 1))


@lowering
def _ERROR_POP_N(u):
    b = u.b
    target = b.and_(b.hole("OPERAND0"), 0xFFFFFFFF)   # (uint32_t)CURRENT_OPERAND0()
    b.store(b.lea(u._PyFrame_GetBytecode(), target, 1), FRAME,
            u.off("_PyInterpreterFrame", "instr_ptr"))
    u.GOTO_TIER_ONE(b.const(0))


@lowering
def _FATAL_ERROR(u):
    # Py_FatalError(msg) is _Py_FatalErrorFunc(__func__, msg); __func__ is the template's name.
    b = u.b
    b.call("_Py_FatalErrorFunc", b.cstring("_JIT_ENTRY"), b.cstring("Fatal error uop executed."),
           result=False)


class _ExitLayout:
    """What _EXIT_TRACE reads from the profile, found once per profile (it is the largest
    lowering, and a trace has one per side exit)."""

    def __init__(self, profile):
        def bits(struct: str, path: str) -> int:
            return 8 * profile.field(struct, path).element_size
        self.target = profile.offset("_PyExitData", "target")
        self.target_bits = bits("_PyExitData", "target")
        self.temperature = profile.offset("_PyExitData", "temperature")
        self.temperature_bits = bits("_PyExitData", "temperature")
        self.executor = profile.offset("_PyExitData", "executor")
        self.valid = profile.field("_PyExecutorObject", "vm_data.valid")
        self.chain_depth = profile.field("_PyExecutorObject", "vm_data.chain_depth")
        self.jit_side_entry = profile.offset("_PyExecutorObject", "jit_side_entry")
        self.co_executors = profile.offset("PyCodeObject", "co_executors")
        self.executors = profile.offset("_PyExecutorArray", "executors")
        self.backoff_bits = bits = profile.const("BACKOFF_BITS")
        # initial_temperature_backoff_counter (pycore_backoff.h)
        self.initial_temperature = (profile.const("SIDE_EXIT_INITIAL_VALUE") << bits) \
            | profile.const("SIDE_EXIT_INITIAL_BACKOFF")
        self.restarted_counters = _restarted_counters(bits)


_EXIT_LAYOUTS: dict = {}     # profile -> its _ExitLayout


@lowering
def _EXIT_TRACE(u):
    b = u.b
    x = _EXIT_LAYOUTS.get(u.profile)
    if x is None:
        x = _EXIT_LAYOUTS[u.profile] = _ExitLayout(u.profile)
    x_target, x_temp, x_exec, temp_w = x.target, x.temperature, x.executor, x.temperature_bits
    valid = x.valid

    exit_ = b.hole("OPERAND0")
    code = u._PyFrame_GetCode()
    bytecode = u._PyFrame_GetBytecode(code)
    target = b.lea(bytecode, b.load(exit_, x_target, x.target_bits), 1)
    executor = b.load(exit_, x_exec)

    # A linked executor that was invalidated is dropped (Py_CLEAR) and the exit cools down.
    check_null = b.label("linked")
    b.br("eq", executor, 0, check_null)
    b.brbit(b.load(executor, valid.offset, 8 * valid.size), valid.bit, True, check_null)
    b.store(x.initial_temperature, exit_, x_temp, temp_w)
    u._PyFrame_SetStackPointer()
    b.store(0, exit_, x_exec)
    u.Py_DECREF(executor)
    u._PyFrame_GetStackPointer()
    b.bind(check_null)

    go = b.label("tier_two")
    b.br("ne", b.load(exit_, x_exec), 0, go)
    temperature = b.load(exit_, x_temp, temp_w)
    hot = b.label("hot")
    b.br("ult", temperature, UNREACHABLE_BACKOFF, hot)       # backoff_counter_triggers
    b.store(b.sub(temperature, 1 << x.backoff_bits), exit_, x_temp, temp_w)   # advance_backoff_counter
    u.GOTO_TIER_ONE(target)

    b.bind(hot)
    new = b.new("executor")
    optimize, store = b.label("optimize"), b.label("store")
    b.br("ne", b.load(target, 0, 8), ENTER_EXECUTOR, optimize)   # target->op.code (uint8_t)
    executors = b.load(code, x.co_executors)
    index = b.load(target, 1, 8)                              # target->op.arg
    slot = b.lea(executors, index, 3)
    b.load(slot, x.executors, dst=new)
    u.Py_INCREF(new)
    b.jump(store)

    b.bind(optimize)
    depth_f = x.chain_depth
    depth = b.load(b.hole("EXECUTOR"), depth_f.offset, 8 * depth_f.size)
    if depth_f.bit:
        depth = b.shr(depth, depth_f.bit)
    depth = b.add(b.and_(depth, (1 << depth_f.width) - 1), 1)
    u._PyFrame_SetStackPointer()
    optimized, out = b.call("_PyOptimizer_Optimize", FRAME, target, OUT_SLOT, depth, out=True)
    u._PyFrame_GetStackPointer()
    success = b.label("optimized")
    b.br("gt", optimized, 0, success, width=32)
    b.store(_restart_backoff_counter(u, x, temperature), exit_, x_temp, temp_w)
    failed = b.label("failed")
    b.br("lt", optimized, 0, failed, width=32)
    u.GOTO_TIER_ONE(target)
    b.bind(failed)
    u.GOTO_TIER_ONE(b.const(0))
    b.bind(success)
    b.store(x.initial_temperature, exit_, x_temp, temp_w)
    b.mov(new, out)

    b.bind(store)
    b.store(new, exit_, x_exec)
    b.bind(go)
    # GOTO_TIER_TWO(exit->executor): current_executor, then a tail jump to its side entry.
    chosen = b.load(exit_, x_exec)
    b.store(chosen, TSTATE, u.layout.current_executor)
    b.tail_jump(b.load(chosen, x.jit_side_entry))


def _restart_backoff_counter(u, x: _ExitLayout, counter):
    """restart_backoff_counter (pycore_backoff.h): backoff+1 (at most MAX_BACKOFF) with a value of
    2**(backoff+1) - 1. Only the 4 backoff bits matter, so the 16 results are a table in the
    uop's read-only data, indexed by them."""
    b = u.b
    index = b.and_(counter, (1 << x.backoff_bits) - 1)
    return b.load(b.lea(b.rodata(x.restarted_counters), index, 1), 0, x.temperature_bits)


@lru_cache(maxsize=None)
def _restarted_counters(bits: int) -> bytes:
    """The table of _restart_backoff_counter: uint16 results by backoff (a pure function of the
    counter's layout, so made once)."""
    table = b""
    for backoff in range(1 << bits):
        nb = min(backoff + 1, MAX_BACKOFF)
        table += (((1 << nb) - 1) << bits | nb).to_bytes(2, "little")
    return table
