"""Numbers and truth: type guards, int/float arithmetic, comparisons, bool conversions
(Python/bytecodes.c; Include/internal/pycore_long.h for the compact-int tests)."""

from __future__ import annotations

from refjit.lir import ERROR_TARGET, JUMP_TARGET
from refjit.lower import lowering


def _guard(u, depth: int, type_symbol: str):
    u.guard_type(u.borrow(u.peek(depth)), type_symbol)


@lowering
def _GUARD_TOS_INT(u):
    _guard(u, -1, "PyLong_Type")


@lowering
def _GUARD_NOS_INT(u):
    _guard(u, -2, "PyLong_Type")


@lowering
def _GUARD_TOS_FLOAT(u):
    _guard(u, -1, "PyFloat_Type")


@lowering
def _GUARD_NOS_FLOAT(u):
    _guard(u, -2, "PyFloat_Type")


def _int_binop(u, function: str):
    """_PyLong_Add/Subtract/Multiply, then both inputs closed with _PyLong_ExactDealloc."""
    b = u.b
    right, left = u.peek(-1), u.peek(-2)
    u._PyFrame_SetStackPointer()
    res = b.call(function, u.borrow(left), u.borrow(right))
    u._PyFrame_GetStackPointer()
    u.CLOSE(right, "_PyLong_ExactDealloc")
    u.CLOSE(left, "_PyLong_ExactDealloc")
    ok = b.label("ok")
    b.br("ne", res, 0, ok)
    u.sp_add(-2)
    b.jump(ERROR_TARGET)
    b.bind(ok)
    u.poke(-2, u.FromPyObjectSteal(res))
    u.sp_add(-1)


@lowering
def _BINARY_OP_ADD_INT(u):
    _int_binop(u, "_PyLong_Add")


@lowering
def _BINARY_OP_SUBTRACT_INT(u):
    _int_binop(u, "_PyLong_Subtract")


@lowering
def _BINARY_OP_MULTIPLY_INT(u):
    _int_binop(u, "_PyLong_Multiply")


def _float_binop(u, op: str):
    """dres = left op right; _PyFloat_FromDouble_ConsumeInputs(left, right, dres)."""
    b = u.b
    fval = u.off("PyFloatObject", "ob_fval")
    right, left = u.peek(-1), u.peek(-2)
    dres = b.fbin(op, b.fload(u.borrow(left), fval), b.fload(u.borrow(right), fval))
    res = b.call("_PyFloat_FromDouble_ConsumeInputs", left, right, dres)
    u.poke(-2, res)
    u.sp_add(-1)
    b.br("eq", res, 1, ERROR_TARGET)     # PyStackRef_IsNull(res)


@lowering
def _BINARY_OP_ADD_FLOAT(u):
    _float_binop(u, "add")


@lowering
def _BINARY_OP_SUBTRACT_FLOAT(u):
    _float_binop(u, "sub")


@lowering
def _BINARY_OP_MULTIPLY_FLOAT(u):
    _float_binop(u, "mul")


@lowering
def _BINARY_OP(u):
    b = u.b
    rhs, lhs = u.peek(-1), u.peek(-2)
    u._PyFrame_SetStackPointer()
    table = b.hole("_PyEval_BinaryOps")
    fn = b.load(b.lea(table, u.oparg(), 3))
    res = b.call_ptr(fn, u.borrow(lhs), u.borrow(rhs))
    u._PyFrame_GetStackPointer()
    b.br("eq", res, 0, ERROR_TARGET)
    res = u.FromPyObjectSteal(res)
    u._PyFrame_SetStackPointer()
    u.poke(-2, res)
    u.CLOSE(lhs)
    rhs = u.peek(-1)
    u.poke(-1, 1)               # PyStackRef_NULL
    u.CLOSE(rhs)
    u._PyFrame_GetStackPointer()
    u.sp_add(-1)


def _comparison_bit(u, ge, le):
    """COMPARISON_BIT(x, y) = 1 << (2*(x >= y) + (x <= y)) = (1 + le) * (1 + 3*ge)."""
    b = u.b
    return b.mul(b.add(le, 1), b.lea(ge, ge, 1, 1))       # 1 + 3*ge = ge + (ge << 1) + 1


def _push_bool_from(u, sign_ish, depth: int):
    """res = (sign_ish & oparg) ? PyStackRef_True : PyStackRef_False, stored at ``depth``."""
    b = u.b
    res = b.select("ne", b.and_(sign_ish, u.oparg()), 0, b.hole("_Py_TrueStruct", 1),
                   b.hole("_Py_FalseStruct", 1))
    u.poke(depth, res)


def _compact_value(u, o):
    """_PyLong_CompactValue: (1 - (lv_tag & 3)) * ob_digit[0]."""
    b = u.b
    tag = b.load(o, u.off("PyLongObject", "long_value.lv_tag"))
    sign = b.sub(b.const(1), b.and_(tag, u.const("SIGN_MASK")))
    return b.mul(sign, b.load(o, u.off("PyLongObject", "long_value.ob_digit"),
                          u.bits("PyLongObject", "long_value.ob_digit")))


@lowering
def _COMPARE_OP_INT(u):
    b = u.b
    lv_tag = u.off("PyLongObject", "long_value.lv_tag")
    compact = 2 << u.const("NON_SIZE_BITS")
    right, left = u.peek(-1), u.peek(-2)
    left_o, right_o = u.borrow(left), u.borrow(right)
    b.br("uge", b.load(left_o, lv_tag), compact, JUMP_TARGET)
    b.br("uge", b.load(right_o, lv_tag), compact, JUMP_TARGET)
    ileft, iright = _compact_value(u, left_o), _compact_value(u, right_o)
    sign_ish = _comparison_bit(u, b.setcc("ge", ileft, iright), b.setcc("le", ileft, iright))
    u.CLOSE(left, "_PyLong_ExactDealloc")
    u.CLOSE(right, "_PyLong_ExactDealloc")
    _push_bool_from(u, sign_ish, -2)
    u.sp_add(-1)


@lowering
def _COMPARE_OP_FLOAT(u):
    b = u.b
    fval = u.off("PyFloatObject", "ob_fval")
    right, left = u.peek(-1), u.peek(-2)
    dleft, dright = b.fload(u.borrow(left), fval), b.fload(u.borrow(right), fval)
    sign_ish = _comparison_bit(u, b.fsetcc("ge", dleft, dright), b.fsetcc("le", dleft, dright))
    u.CLOSE(left, "_PyFloat_ExactDealloc")
    u.CLOSE(right, "_PyFloat_ExactDealloc")
    _push_bool_from(u, sign_ish, -2)
    u.sp_add(-1)


@lowering
def _TO_BOOL_BOOL(u):
    _guard(u, -1, "PyBool_Type")


@lowering
def _TO_BOOL_INT(u):
    b = u.b
    value = u.peek(-1)
    value_o = u.borrow(value)
    u.guard_type(value_o, "PyLong_Type")
    res = b.new("res")
    nonzero, done = b.label("nonzero"), b.label("tobool")
    tag = b.load(value_o, u.off("PyLongObject", "long_value.lv_tag"))
    b.br("ne", b.and_(tag, u.const("SIGN_MASK")), u.const("SIGN_ZERO"), nonzero)   # _PyLong_IsZero
    b.hole("_Py_FalseStruct", 1, dst=res)
    b.jump(done)
    b.bind(nonzero)
    u.sp_add(-1)
    u._PyFrame_SetStackPointer()
    u.CLOSE(value)
    u._PyFrame_GetStackPointer()
    b.hole("_Py_TrueStruct", 1, dst=res)
    u.sp_add(1)
    b.bind(done)
    u.poke(-1, res)


@lowering
def _TO_BOOL_NONE(u):
    b = u.b
    b.br("ne", u.peek(-1), b.hole("_Py_NoneStruct", 1), JUMP_TARGET)
    u.poke(-1, b.hole("_Py_FalseStruct", 1))


@lowering
def _UNARY_NOT(u):
    b = u.b
    false = b.hole("_Py_FalseStruct", 1)
    u.poke(-1, b.select("eq", u.peek(-1), false, b.hole("_Py_TrueStruct", 1), false))


@lowering
def _IS_OP(u):
    b = u.b
    right, left = u.peek(-1), u.peek(-2)
    same = b.setcc("eq", u.borrow(left), u.borrow(right))
    res = b.xor(same, u.oparg())
    u._PyFrame_SetStackPointer()
    u.poke(-1, 1)
    u.CLOSE(right)
    u.poke(-2, 1)
    u.CLOSE(left)
    u._PyFrame_GetStackPointer()
    u.sp_add(-2)
    u.poke(0, b.select("ne", res, 0, b.hole("_Py_TrueStruct", 1), b.hole("_Py_FalseStruct", 1)))
    u.sp_add(1)


def _guard_is_pop(u, symbol: str, want_equal: bool):
    b = u.b
    flag = u.peek(-1)
    u.sp_add(-1)
    b.br("ne" if want_equal else "eq", flag, b.hole(symbol, 1), JUMP_TARGET)


@lowering
def _GUARD_IS_TRUE_POP(u):
    _guard_is_pop(u, "_Py_TrueStruct", True)


@lowering
def _GUARD_IS_FALSE_POP(u):
    _guard_is_pop(u, "_Py_FalseStruct", True)


@lowering
def _GUARD_IS_NONE_POP(u):
    b = u.b
    val = u.peek(-1)
    is_none = b.label("isnone")
    b.br("eq", val, b.hole("_Py_NoneStruct", 1), is_none)
    u.sp_add(-1)
    u._PyFrame_SetStackPointer()
    u.CLOSE(val)
    u._PyFrame_GetStackPointer()
    b.jump(JUMP_TARGET)
    b.bind(is_none)
    u.sp_add(-1)


@lowering
def _GUARD_IS_NOT_NONE_POP(u):
    b = u.b
    val = u.peek(-1)
    is_none = b.setcc("eq", val, b.hole("_Py_NoneStruct", 1))
    u.sp_add(-1)
    u._PyFrame_SetStackPointer()
    u.CLOSE(val)
    u._PyFrame_GetStackPointer()
    b.br("ne", is_none, 0, JUMP_TARGET)


@lowering
def _REPLACE_WITH_TRUE(u):
    b = u.b
    value = u.peek(-1)
    u.sp_add(-1)
    u._PyFrame_SetStackPointer()
    u.CLOSE(value)
    u._PyFrame_GetStackPointer()
    u.poke(0, b.hole("_Py_TrueStruct", 1))
    u.sp_add(1)
