"""Locals, constants and plain stack manipulation (Python/bytecodes.c), ownership spelled out:
a DUP increments an owned ref's count, a borrow sets bit 0, every pop CLOSEs."""

from __future__ import annotations

from refjit.lir import ERROR_TARGET, SP, TSTATE
from refjit.lower import lowering

# Python/ceval_macros.h: the message _LOAD_FAST_CHECK formats (kept in the uop's read-only data)
UNBOUNDLOCAL_ERROR_MSG = "cannot access local variable '%s' where it is not associated with a value"


def _push(u, value):
    u.poke(0, value)
    u.sp_add(1)


@lowering
def _LOAD_FAST(u):
    value = u.b.load(*u.local())
    u.DUP(value)
    _push(u, value)


@lowering
def _LOAD_FAST_BORROW(u):
    _push(u, u.b.or_(u.b.load(*u.local()), 1))


@lowering
def _LOAD_FAST_CHECK(u):
    b = u.b
    base, disp = u.local()
    value = b.load(base, disp)
    bound = b.label("bound")
    b.br("ne", value, 1, bound)          # PyStackRef_IsNull
    u._PyFrame_SetStackPointer()
    names = b.load(u._PyFrame_GetCode(), u.off("PyCodeObject", "co_localsplusnames"))
    name = b.call("PyTuple_GetItem", names, u.oparg())
    exc_type = b.load(b.hole("PyExc_UnboundLocalError"))   # a `PyObject *` variable
    b.call("_PyEval_FormatExcCheckArg", TSTATE, exc_type, b.cstring(UNBOUNDLOCAL_ERROR_MSG), name,
           result=False)
    u._PyFrame_GetStackPointer()
    b.jump(ERROR_TARGET)
    b.bind(bound)
    u.DUP(value)
    _push(u, value)


@lowering
def _LOAD_FAST_AND_CLEAR(u):
    b = u.b
    base, disp = u.local()
    value = b.load(base, disp)
    b.store(1, base, disp)      # PyStackRef_NULL
    _push(u, value)


@lowering
def _STORE_FAST(u):
    b = u.b
    value = u.peek(-1)
    u.sp_add(-1)            # (a register: moving it before the local's swap changes nothing)
    base, disp = u.local()
    tmp = b.load(base, disp)
    b.store(value, base, disp)
    u._PyFrame_SetStackPointer()
    u.CLOSE(tmp)                         # XCLOSE: NULL has bit 0 set
    u._PyFrame_GetStackPointer()


@lowering
def _LOAD_CONST_INLINE(u):
    _push(u, u.FromPyObjectNew(u.b.hole("OPERAND0")))


def _immortal_operand0(u):
    """PyStackRef_FromPyObjectImmortal(operand0): ``| 1`` on the field's value (not ``+ 1`` in
    the addend: exact for any operand, as CPython's stencil does it)."""
    return u.b.or_(u.b.hole("OPERAND0"), 1)


@lowering
def _LOAD_CONST_INLINE_BORROW(u):
    _push(u, _immortal_operand0(u))


@lowering
def _LOAD_SMALL_INT(u):
    # &_PyLong_SMALL_INTS[_PY_NSMALLNEGINTS + oparg], tagged immortal
    b = u.b
    base = u.const("static_objects.singletons.small_ints") \
        + u.const("_PY_NSMALLNEGINTS") * u.const("small_int_size")
    if u.const_oparg is not None:   # an aligned static object: the tag bit goes into the addend
        _push(u, b.hole("_PyRuntime", base + u.const_oparg * u.const("small_int_size") + 1))
    else:
        obj = b.add(b.hole("_PyRuntime", base), b.mul(u.oparg(), u.const("small_int_size")))
        _push(u, b.or_(obj, 1))


def _pop_close(u):
    value = u.peek(-1)
    u.sp_add(-1)
    u._PyFrame_SetStackPointer()
    u.CLOSE(value)
    u._PyFrame_GetStackPointer()


@lowering
def _POP_TOP(u):
    _pop_close(u)


@lowering
def _END_FOR(u):
    _pop_close(u)


@lowering
def _POP_TOP_LOAD_CONST_INLINE_BORROW(u):
    _pop_close(u)
    _push(u, _immortal_operand0(u))


@lowering
def _POP_TWO_LOAD_CONST_INLINE_BORROW(u):
    _pop_close(u)   # pop2, the top
    _pop_close(u)   # pop1
    _push(u, _immortal_operand0(u))


@lowering
def _PUSH_NULL(u):
    _push(u, 1)          # PyStackRef_NULL


def _slot_from_top(u, depth_bias: int):
    """(base, disp) of stack_pointer[-depth_bias - (oparg - depth_bias)] = stack_pointer[-oparg]."""
    b = u.b
    if u.const_oparg is not None:
        return SP, -8 * u.const_oparg
    return b.sub(SP, b.shl(u.oparg(), 3)), 0


@lowering
def _COPY(u):
    b = u.b
    bottom = b.load(*_slot_from_top(u, 1))
    u.DUP(bottom)
    _push(u, bottom)


@lowering
def _SWAP(u):
    b = u.b
    top = u.peek(-1)
    base, disp = _slot_from_top(u, 2)
    bottom = b.load(base, disp)
    b.store(top, base, disp)
    u.poke(-1, bottom)
