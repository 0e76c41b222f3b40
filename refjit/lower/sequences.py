"""Lists and tuples: type guards, subscripts, stores, unpacking, append (Python/bytecodes.c,
GIL build; Include/internal/pycore_list.h's _PyList_AppendTakeRef inlined)."""

from __future__ import annotations

from refjit.lir import ERROR_TARGET, JUMP_TARGET, SP
from refjit.lower import lowering


@lowering
def _GUARD_NOS_LIST(u):
    u.guard_type(u.borrow(u.peek(-2)), "PyList_Type")


@lowering
def _GUARD_NOS_TUPLE(u):
    u.guard_type(u.borrow(u.peek(-2)), "PyTuple_Type")


@lowering
def _GUARD_TOS_LIST(u):
    u.guard_type(u.borrow(u.peek(-1)), "PyList_Type")


@lowering
def _GUARD_TOS_TUPLE(u):
    u.guard_type(u.borrow(u.peek(-1)), "PyTuple_Type")


def _nonnegative_compact_index(u, sub):
    """Deopt unless _PyLong_IsNonNegativeCompact(sub); then ob_digit[0]."""
    b = u.b
    tag = b.load(sub, u.off("PyLongObject", "long_value.lv_tag"))
    b.br("ugt", b.and_(tag, ~u.const("IMMORTALITY_BIT_MASK")), 1 << u.const("NON_SIZE_BITS"), JUMP_TARGET)
    return b.load(sub, u.off("PyLongObject", "long_value.ob_digit"),
                          u.bits("PyLongObject", "long_value.ob_digit"))


def _size(u, o):
    return u.b.load(o, u.off("PyVarObject", "ob_size"))


@lowering
def _BINARY_OP_SUBSCR_LIST_INT(u):
    b = u.b
    sub_st, list_st = u.peek(-1), u.peek(-2)
    sub, lst = u.borrow(sub_st), u.borrow(list_st)
    index = _nonnegative_compact_index(u, sub)
    b.br("ge", index, _size(u, lst), JUMP_TARGET)
    items = b.load(lst, u.off("PyListObject", "ob_item"))
    res = u.FromPyObjectNew(b.load(b.lea(items, index, 3)))
    u._PyFrame_SetStackPointer()
    u.poke(-2, res)
    u.CLOSE(list_st)
    u.poke(-1, 1)
    u.CLOSE(sub_st)
    u._PyFrame_GetStackPointer()
    u.sp_add(-1)


@lowering
def _BINARY_OP_SUBSCR_TUPLE_INT(u):
    b = u.b
    sub_st, tuple_st = u.peek(-1), u.peek(-2)
    sub, tup = u.borrow(sub_st), u.borrow(tuple_st)
    index = _nonnegative_compact_index(u, sub)
    b.br("ge", index, _size(u, tup), JUMP_TARGET)
    res_o = b.load(b.lea(tup, index, 3), u.off("PyTupleObject", "ob_item"))
    u.CLOSE(sub_st, "_PyLong_ExactDealloc")
    res = u.FromPyObjectNew(res_o)
    u.sp_add(-1)
    u._PyFrame_SetStackPointer()
    u.poke(-1, res)
    u.CLOSE(tuple_st)
    u._PyFrame_GetStackPointer()


@lowering
def _STORE_SUBSCR_LIST_INT(u):
    b = u.b
    sub_st, list_st, value = u.peek(-1), u.peek(-2), u.peek(-3)
    sub, lst = u.borrow(sub_st), u.borrow(list_st)
    index = _nonnegative_compact_index(u, sub)
    b.br("ge", index, _size(u, lst), JUMP_TARGET)
    slot = b.lea(b.load(lst, u.off("PyListObject", "ob_item")), index, 3)
    old_value = b.load(slot)
    b.store(_as_object_steal(u, value), slot)
    u.CLOSE(sub_st, "_PyLong_ExactDealloc")
    u.sp_add(-3)
    u._PyFrame_SetStackPointer()
    u.CLOSE(list_st)
    u.Py_DECREF(old_value)
    u._PyFrame_GetStackPointer()


def _as_object_steal(u, ref):
    """PyStackRef_AsPyObjectSteal: an owned ref moves out; a tagged one becomes a new ref."""
    b = u.b
    out = b.new("obj")
    owned, done = b.label("owned"), b.label("steal")
    b.brbit(ref, 0, False, owned)
    b.and_(ref, ~1, dst=out)
    u.Py_INCREF(out)
    b.jump(done)
    b.bind(owned)
    b.mov(out, ref)
    b.bind(done)
    return out


@lowering
def _UNPACK_SEQUENCE_TWO_TUPLE(u):
    b = u.b
    seq = u.peek(-1)
    seq_o = u.borrow(seq)
    b.br("ne", _size(u, seq_o), 2, JUMP_TARGET)
    items = u.off("PyTupleObject", "ob_item")
    val0 = u.FromPyObjectNew(b.load(seq_o, items))
    val1 = u.FromPyObjectNew(b.load(seq_o, items + 8))
    u.poke(-1, val1)
    u.poke(0, val0)
    u.sp_add(1)
    u._PyFrame_SetStackPointer()
    u.CLOSE(seq)
    u._PyFrame_GetStackPointer()


@lowering
def _UNPACK_SEQUENCE_TUPLE(u):
    b = u.b
    seq = u.peek(-1)
    seq_o = u.borrow(seq)
    n = u.oparg()
    b.br("ne", _size(u, seq_o), n, JUMP_TARGET)
    # for (i = oparg; --i >= 0; ) *values++ = PyStackRef_FromPyObjectNew(items[i]);
    # values starts at &stack_pointer[-1]
    items = u.off("PyTupleObject", "ob_item")
    i = b.sub(n, 1)
    dst = b.sub(SP, 8)
    loop, done = b.label("unpack"), b.label("unpacked")
    b.bind(loop)
    b.br("lt", i, 0, done)
    item = b.load(b.lea(seq_o, i, 3), items)
    b.store(u.FromPyObjectNew(item), dst)
    b.add(dst, 8, dst=dst)
    b.sub(i, 1, dst=i)
    b.jump(loop)
    b.bind(done)
    b.lea(SP, n, 3, -8, dst=SP)            # stack_pointer += -1 + oparg
    u._PyFrame_SetStackPointer()
    u.CLOSE(seq)
    u._PyFrame_GetStackPointer()


@lowering
def _LIST_APPEND(u):
    b = u.b
    v = u.peek(-1)
    # list = stack_pointer[-2 - (oparg-1)] = stack_pointer[-1 - oparg]
    if u.const_oparg is not None:
        lst_ref = u.peek(-1 - u.const_oparg)
    else:
        lst_ref = b.load(b.sub(SP, b.shl(u.oparg(), 3)), -8)
    lst = u.borrow(lst_ref)
    item = _as_object_steal(u, v)
    # _PyList_AppendTakeRef: in place while allocated > len, else the resize path.
    length = _size(u, lst)
    resize, done = b.label("resize"), b.label("appended")
    b.br("le", b.load(lst, u.off("PyListObject", "allocated")), length, resize)
    items = b.load(lst, u.off("PyListObject", "ob_item"))
    b.store(item, b.lea(items, length, 3))
    b.store(b.add(length, 1), lst, u.off("PyVarObject", "ob_size"))
    b.jump(done)
    b.bind(resize)
    err = b.call("_PyList_AppendTakeRefListResize", lst, item)
    u.sp_add(-1)
    b.br("lt", err, 0, ERROR_TARGET, width=32)
    u.sp_add(1)
    b.bind(done)
    u.sp_add(-1)
