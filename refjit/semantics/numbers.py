"""Numbers and truth: type guards, int and float arithmetic, comparisons, bools.

Int arithmetic is done by CPython's out-of-line ``_PyLong_Add``/``_Subtract``/``_Multiply``
(their models return small ints from the static cache, compact or multi-digit longs); the uop
then closes both operands with ``_PyLong_ExactDealloc`` as destructor, right first. Float
arithmetic is done inline in double precision and the result boxed by
``_PyFloat_FromDouble_ConsumeInputs``, which closes both inputs (left first) before allocating,
so a freed operand's memory comes straight back from the float freelist.

Comparisons use COMPARISON_BIT (Include/internal/pycore_code.h): bit 1 for <, bit 2 for >,
bit 3 for ==, bit 0 for unordered (NaN), tested against the mask in the low bits of oparg.
"""

from __future__ import annotations

from refjit.semantics.core import JUMP_TO_ERROR, JUMP_TO_JUMP_TARGET, uop


def COMPARISON_BIT(x, y) -> int:
    return 1 << (2 * (x >= y) + (x <= y))


# -- guards ------------------------------------------------------------------------------------


@uop
def _GUARD_TOS_INT(s):
    if not s.type_is(s.PyStackRef_AsPyObjectBorrow(s.stack[-1]), "PyLong_Type"):
        return JUMP_TO_JUMP_TARGET


@uop
def _GUARD_NOS_INT(s):
    if not s.type_is(s.PyStackRef_AsPyObjectBorrow(s.stack[-2]), "PyLong_Type"):
        return JUMP_TO_JUMP_TARGET


@uop
def _GUARD_TOS_FLOAT(s):
    if not s.type_is(s.PyStackRef_AsPyObjectBorrow(s.stack[-1]), "PyFloat_Type"):
        return JUMP_TO_JUMP_TARGET


@uop
def _GUARD_NOS_FLOAT(s):
    if not s.type_is(s.PyStackRef_AsPyObjectBorrow(s.stack[-2]), "PyFloat_Type"):
        return JUMP_TO_JUMP_TARGET


# -- int arithmetic ----------------------------------------------------------------------------


def _binary_op_int(s, function: str):
    right = s.stack[-1]
    left = s.stack[-2]
    left_o = s.PyStackRef_AsPyObjectBorrow(left)
    right_o = s.PyStackRef_AsPyObjectBorrow(right)
    s._PyFrame_SetStackPointer()
    res_o = s.call(function, left_o, right_o)
    s._PyFrame_GetStackPointer()
    s.PyStackRef_CLOSE_SPECIALIZED(right, "_PyLong_ExactDealloc")
    s.PyStackRef_CLOSE_SPECIALIZED(left, "_PyLong_ExactDealloc")
    if res_o == 0:
        s.sp_add(-2)
        return JUMP_TO_ERROR
    s.stack[-2] = s.PyStackRef_FromPyObjectSteal(res_o)
    s.sp_add(-1)


@uop
def _BINARY_OP_ADD_INT(s):
    return _binary_op_int(s, "_PyLong_Add")


@uop
def _BINARY_OP_SUBTRACT_INT(s):
    return _binary_op_int(s, "_PyLong_Subtract")


@uop
def _BINARY_OP_MULTIPLY_INT(s):
    return _binary_op_int(s, "_PyLong_Multiply")


# -- float arithmetic --------------------------------------------------------------------------


def _binary_op_float(s, op):
    right = s.stack[-1]
    left = s.stack[-2]
    dres = op(s.PyFloat_AS_DOUBLE(s.PyStackRef_AsPyObjectBorrow(left)),
              s.PyFloat_AS_DOUBLE(s.PyStackRef_AsPyObjectBorrow(right)))
    res = s.call("_PyFloat_FromDouble_ConsumeInputs", left, right, dres)
    s.stack[-2] = res
    s.sp_add(-1)
    if s.PyStackRef_IsNull(res):
        return JUMP_TO_ERROR


@uop
def _BINARY_OP_ADD_FLOAT(s):
    return _binary_op_float(s, lambda a, b: a + b)


@uop
def _BINARY_OP_SUBTRACT_FLOAT(s):
    return _binary_op_float(s, lambda a, b: a - b)


@uop
def _BINARY_OP_MULTIPLY_FLOAT(s):
    return _binary_op_float(s, lambda a, b: a * b)


# -- the generic binary operator ---------------------------------------------------------------


@uop
def _BINARY_OP(s):
    rhs = s.stack[-1]
    lhs = s.stack[-2]
    # _PyEval_BinaryOps is a table of function pointers in CPython's data, indexed by NB_*.
    fn = s.mem.u64(s.symbols["_PyEval_BinaryOps"] + 8 * s.oparg)
    s._PyFrame_SetStackPointer()
    res_o = s.call_pointer(fn, s.PyStackRef_AsPyObjectBorrow(lhs), s.PyStackRef_AsPyObjectBorrow(rhs))
    s._PyFrame_GetStackPointer()
    if res_o == 0:
        return JUMP_TO_ERROR  # nothing popped: both operands stay for _ERROR_POP_N's frame
    res = s.PyStackRef_FromPyObjectSteal(res_o)
    s._PyFrame_SetStackPointer()
    s.stack[-2] = res  # the result replaces lhs before lhs is closed
    s.PyStackRef_CLOSE(lhs)
    s.stack[-1] = s.PyStackRef_NULL  # and rhs's slot is cleared before rhs is closed
    s.PyStackRef_CLOSE(rhs)
    s._PyFrame_GetStackPointer()
    s.sp_add(-1)


# -- comparisons -------------------------------------------------------------------------------


@uop
def _COMPARE_OP_INT(s):
    right = s.stack[-1]
    left = s.stack[-2]
    left_o = s.PyStackRef_AsPyObjectBorrow(left)
    right_o = s.PyStackRef_AsPyObjectBorrow(right)
    if not s._PyLong_IsCompact(left_o):
        return JUMP_TO_JUMP_TARGET
    if not s._PyLong_IsCompact(right_o):
        return JUMP_TO_JUMP_TARGET
    sign_ish = COMPARISON_BIT(s._PyLong_CompactValue(left_o), s._PyLong_CompactValue(right_o))
    s.PyStackRef_CLOSE_SPECIALIZED(left, "_PyLong_ExactDealloc")
    s.PyStackRef_CLOSE_SPECIALIZED(right, "_PyLong_ExactDealloc")
    s.stack[-2] = s.PyStackRef_True() if sign_ish & s.oparg else s.PyStackRef_False()
    s.sp_add(-1)


@uop
def _COMPARE_OP_FLOAT(s):
    right = s.stack[-1]
    left = s.stack[-2]
    dleft = s.PyFloat_AS_DOUBLE(s.PyStackRef_AsPyObjectBorrow(left))
    dright = s.PyFloat_AS_DOUBLE(s.PyStackRef_AsPyObjectBorrow(right))
    # With a NaN both C comparisons are false (as in Python): bit 0, "unordered".
    sign_ish = COMPARISON_BIT(dleft, dright)
    s.PyStackRef_CLOSE_SPECIALIZED(left, "_PyFloat_ExactDealloc")
    s.PyStackRef_CLOSE_SPECIALIZED(right, "_PyFloat_ExactDealloc")
    s.stack[-2] = s.PyStackRef_True() if sign_ish & s.oparg else s.PyStackRef_False()
    s.sp_add(-1)


@uop
def _IS_OP(s):
    right = s.stack[-1]
    left = s.stack[-2]
    res = int(s.PyStackRef_AsPyObjectBorrow(left) == s.PyStackRef_AsPyObjectBorrow(right)) \
        ^ s.oparg
    s._PyFrame_SetStackPointer()
    s.stack[-1] = s.PyStackRef_NULL
    s.PyStackRef_CLOSE(right)
    s.stack[-2] = s.PyStackRef_NULL
    s.PyStackRef_CLOSE(left)
    s._PyFrame_GetStackPointer()
    s.sp_add(-2)
    s.stack[0] = s.PyStackRef_True() if res else s.PyStackRef_False()
    s.sp_add(1)


# -- truth -------------------------------------------------------------------------------------


@uop
def _TO_BOOL_BOOL(s):
    if not s.PyStackRef_BoolCheck(s.stack[-1]):
        return JUMP_TO_JUMP_TARGET


@uop
def _TO_BOOL_INT(s):
    value = s.stack[-1]
    value_o = s.PyStackRef_AsPyObjectBorrow(value)
    if not s.type_is(value_o, "PyLong_Type"):
        return JUMP_TO_JUMP_TARGET
    if s._PyLong_IsZero(value_o):
        res = s.PyStackRef_False()  # zero is the immortal small int: nothing to close
    else:
        s.sp_add(-1)
        s._PyFrame_SetStackPointer()
        s.PyStackRef_CLOSE(value)
        s._PyFrame_GetStackPointer()
        res = s.PyStackRef_True()
        s.sp_add(1)
    s.stack[-1] = res


@uop
def _TO_BOOL_NONE(s):
    if not s.PyStackRef_IsNone(s.stack[-1]):
        return JUMP_TO_JUMP_TARGET
    s.stack[-1] = s.PyStackRef_False()


@uop
def _UNARY_NOT(s):
    s.stack[-1] = s.PyStackRef_True() if s.PyStackRef_IsFalse(s.stack[-1]) \
        else s.PyStackRef_False()


@uop
def _REPLACE_WITH_TRUE(s):
    value = s.stack[-1]
    s.sp_add(-1)
    s._PyFrame_SetStackPointer()
    s.PyStackRef_CLOSE(value)
    s._PyFrame_GetStackPointer()
    s.stack[0] = s.PyStackRef_True()
    s.sp_add(1)


@uop
def _GUARD_IS_TRUE_POP(s):
    is_true = s.PyStackRef_IsTrue(s.stack[-1])
    s.sp_add(-1)  # popped whether or not the guard holds
    if not is_true:
        return JUMP_TO_JUMP_TARGET


@uop
def _GUARD_IS_FALSE_POP(s):
    is_false = s.PyStackRef_IsFalse(s.stack[-1])
    s.sp_add(-1)
    if not is_false:
        return JUMP_TO_JUMP_TARGET


@uop
def _GUARD_IS_NONE_POP(s):
    val = s.stack[-1]
    if not s.PyStackRef_IsNone(val):
        s.sp_add(-1)
        s._PyFrame_SetStackPointer()
        s.PyStackRef_CLOSE(val)
        s._PyFrame_GetStackPointer()
        return JUMP_TO_JUMP_TARGET
    s.sp_add(-1)


@uop
def _GUARD_IS_NOT_NONE_POP(s):
    val = s.stack[-1]
    is_none = s.PyStackRef_IsNone(val)
    s.sp_add(-1)
    s._PyFrame_SetStackPointer()
    s.PyStackRef_CLOSE(val)
    s._PyFrame_GetStackPointer()
    if is_none:
        return JUMP_TO_JUMP_TARGET
