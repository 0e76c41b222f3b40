"""Locals, constants and plain stack manipulation.

The interesting part is ownership: ``_LOAD_FAST`` duplicates a strong reference (increments the
count unless the local's bit 0 says it does not own one), ``_LOAD_FAST_BORROW`` pushes the same
pointer with bit 0 set and touches no count, constants that are immortal are pushed tagged,
and every pop closes its reference: a decrement of the 32-bit count that frees the object
through ``_Py_Dealloc`` when it reaches zero, and nothing at all for a tagged reference.
"""

from __future__ import annotations

from refjit.semantics.core import JUMP_TO_ERROR, uop

# Python/ceval_macros.h (the stencil keeps it in its read-only data)
UNBOUNDLOCAL_ERROR_MSG = "cannot access local variable '%s' where it is not associated with a value"


@uop
def _LOAD_FAST(s):
    value = s.PyStackRef_DUP(s.GETLOCAL(s.oparg))
    s.stack[0] = value
    s.sp_add(1)


@uop
def _LOAD_FAST_BORROW(s):
    value = s.PyStackRef_Borrow(s.GETLOCAL(s.oparg))
    s.stack[0] = value
    s.sp_add(1)


@uop
def _LOAD_FAST_CHECK(s):
    value_s = s.GETLOCAL(s.oparg)
    if s.PyStackRef_IsNull(value_s):
        # UnboundLocalError naming the local: co_localsplusnames[oparg] formatted into the
        # message by _PyEval_FormatExcCheckArg.
        s._PyFrame_SetStackPointer()
        code = s._PyFrame_GetCode()
        names = s.mem.u64(code + s.profile.offset("PyCodeObject", "co_localsplusnames"))
        name = s.call("PyTuple_GetItem", names, s.oparg)
        # PyExc_UnboundLocalError is a `PyObject *` variable: its value is the type.
        exc_type = s.mem.u64(s.symbols["PyExc_UnboundLocalError"])
        s.call("_PyEval_FormatExcCheckArg", s.tstate, exc_type, s.cstring(UNBOUNDLOCAL_ERROR_MSG),
               name)
        s._PyFrame_GetStackPointer()
        return JUMP_TO_ERROR
    s.stack[0] = s.PyStackRef_DUP(value_s)
    s.sp_add(1)


@uop
def _LOAD_FAST_AND_CLEAR(s):
    value = s.GETLOCAL(s.oparg)
    s.SETLOCAL(s.oparg, s.PyStackRef_NULL)
    s.stack[0] = value
    s.sp_add(1)


@uop
def _STORE_FAST(s):
    value = s.stack[-1]
    tmp = s.GETLOCAL(s.oparg)
    s.SETLOCAL(s.oparg, value)
    s.sp_add(-1)
    s._PyFrame_SetStackPointer()
    s.PyStackRef_XCLOSE(tmp)  # the old value: NULL, tagged, or a reference to drop
    s._PyFrame_GetStackPointer()


@uop
def _LOAD_CONST_INLINE(s):
    s.stack[0] = s.PyStackRef_FromPyObjectNew(s.inst.operand0)
    s.sp_add(1)


@uop
def _LOAD_CONST_INLINE_BORROW(s):
    s.stack[0] = s.PyStackRef_FromPyObjectImmortal(s.inst.operand0)
    s.sp_add(1)


@uop
def _LOAD_SMALL_INT(s):
    s.stack[0] = s.PyStackRef_FromPyObjectImmortal(s.small_int(s.oparg))
    s.sp_add(1)


@uop
def _POP_TOP(s):
    value = s.stack[-1]
    s.sp_add(-1)
    s._PyFrame_SetStackPointer()
    s.PyStackRef_CLOSE(value)
    s._PyFrame_GetStackPointer()


@uop
def _POP_TOP_LOAD_CONST_INLINE_BORROW(s):
    pop = s.stack[-1]
    s.sp_add(-1)
    s._PyFrame_SetStackPointer()
    s.PyStackRef_CLOSE(pop)
    s._PyFrame_GetStackPointer()
    s.stack[0] = s.PyStackRef_FromPyObjectImmortal(s.inst.operand0)
    s.sp_add(1)


@uop
def _POP_TWO_LOAD_CONST_INLINE_BORROW(s):
    pop2 = s.stack[-1]
    pop1 = s.stack[-2]
    s.sp_add(-1)
    s._PyFrame_SetStackPointer()
    s.PyStackRef_CLOSE(pop2)  # top first
    s._PyFrame_GetStackPointer()
    s.sp_add(-1)
    s._PyFrame_SetStackPointer()
    s.PyStackRef_CLOSE(pop1)
    s._PyFrame_GetStackPointer()
    s.stack[0] = s.PyStackRef_FromPyObjectImmortal(s.inst.operand0)
    s.sp_add(1)


@uop
def _PUSH_NULL(s):
    s.stack[0] = s.PyStackRef_NULL
    s.sp_add(1)


@uop
def _COPY(s):
    bottom = s.stack[-1 - (s.oparg - 1)]
    s.stack[0] = s.PyStackRef_DUP(bottom)
    s.sp_add(1)


@uop
def _SWAP(s):
    top = s.stack[-1]
    bottom = s.stack[-2 - (s.oparg - 2)]
    s.stack[-2 - (s.oparg - 2)] = top
    s.stack[-1] = bottom


@uop
def _END_FOR(s):
    value = s.stack[-1]
    s.sp_add(-1)
    s._PyFrame_SetStackPointer()
    s.PyStackRef_CLOSE(value)
    s._PyFrame_GetStackPointer()
