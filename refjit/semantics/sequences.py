"""Lists and tuples: type guards, indexing, item assignment, unpacking, appending.

Indexing only takes the fast path for a non-negative compact int index (one 30-bit digit, read
directly as ``ob_digit[0]``); anything else, and an index past the end, leaves the trace through
the deopt stub before anything is changed. ``_STORE_SUBSCR_LIST_INT`` stores the new reference
first and drops the replaced item last, after the list's own reference.
"""

from __future__ import annotations

from refjit.semantics.core import JUMP_TO_ERROR, JUMP_TO_JUMP_TARGET, uop


@uop
def _GUARD_NOS_LIST(s):
    if not s.type_is(s.PyStackRef_AsPyObjectBorrow(s.stack[-2]), "PyList_Type"):
        return JUMP_TO_JUMP_TARGET


@uop
def _GUARD_NOS_TUPLE(s):
    if not s.type_is(s.PyStackRef_AsPyObjectBorrow(s.stack[-2]), "PyTuple_Type"):
        return JUMP_TO_JUMP_TARGET


@uop
def _GUARD_TOS_LIST(s):
    if not s.type_is(s.PyStackRef_AsPyObjectBorrow(s.stack[-1]), "PyList_Type"):
        return JUMP_TO_JUMP_TARGET


@uop
def _GUARD_TOS_TUPLE(s):
    if not s.type_is(s.PyStackRef_AsPyObjectBorrow(s.stack[-1]), "PyTuple_Type"):
        return JUMP_TO_JUMP_TARGET


@uop
def _BINARY_OP_SUBSCR_LIST_INT(s):
    sub_st = s.stack[-1]
    list_st = s.stack[-2]
    sub = s.PyStackRef_AsPyObjectBorrow(sub_st)
    lst = s.PyStackRef_AsPyObjectBorrow(list_st)
    if not s._PyLong_IsNonNegativeCompact(sub):
        return JUMP_TO_JUMP_TARGET
    index = s.digit0(sub)
    if index >= s.Py_SIZE(lst):
        return JUMP_TO_JUMP_TARGET
    res = s.PyStackRef_FromPyObjectNew(s.PyList_GET_ITEM(lst, index))
    s._PyFrame_SetStackPointer()
    s.stack[-2] = res
    s.PyStackRef_CLOSE(list_st)
    s.stack[-1] = s.PyStackRef_NULL
    s.PyStackRef_CLOSE(sub_st)
    s._PyFrame_GetStackPointer()
    s.sp_add(-1)


@uop
def _BINARY_OP_SUBSCR_TUPLE_INT(s):
    sub_st = s.stack[-1]
    tuple_st = s.stack[-2]
    sub = s.PyStackRef_AsPyObjectBorrow(sub_st)
    tup = s.PyStackRef_AsPyObjectBorrow(tuple_st)
    if not s._PyLong_IsNonNegativeCompact(sub):
        return JUMP_TO_JUMP_TARGET
    index = s.digit0(sub)
    if index >= s.Py_SIZE(tup):
        return JUMP_TO_JUMP_TARGET
    res_o = s.PyTuple_GET_ITEM(tup, index)
    s.PyStackRef_CLOSE_SPECIALIZED(sub_st, "_PyLong_ExactDealloc")
    res = s.PyStackRef_FromPyObjectNew(res_o)
    s.sp_add(-1)
    s._PyFrame_SetStackPointer()
    s.stack[-1] = res
    s.PyStackRef_CLOSE(tuple_st)
    s._PyFrame_GetStackPointer()


@uop
def _STORE_SUBSCR_LIST_INT(s):
    sub_st = s.stack[-1]
    list_st = s.stack[-2]
    value = s.stack[-3]
    sub = s.PyStackRef_AsPyObjectBorrow(sub_st)
    lst = s.PyStackRef_AsPyObjectBorrow(list_st)
    if not s._PyLong_IsNonNegativeCompact(sub):
        return JUMP_TO_JUMP_TARGET
    index = s.digit0(sub)
    # LOCK_OBJECT always succeeds in the GIL build.
    if index >= s.Py_SIZE(lst):
        return JUMP_TO_JUMP_TARGET
    old_value = s.PyList_GET_ITEM(lst, index)
    s.PyList_SET_ITEM(lst, index, s.PyStackRef_AsPyObjectSteal(value))
    s.PyStackRef_CLOSE_SPECIALIZED(sub_st, "_PyLong_ExactDealloc")
    s.sp_add(-3)
    s._PyFrame_SetStackPointer()
    s.PyStackRef_CLOSE(list_st)
    s.Py_DECREF(old_value)
    s._PyFrame_GetStackPointer()


@uop
def _UNPACK_SEQUENCE_TWO_TUPLE(s):
    seq = s.stack[-1]
    seq_o = s.PyStackRef_AsPyObjectBorrow(seq)
    if s.Py_SIZE(seq_o) != 2:
        return JUMP_TO_JUMP_TARGET
    val0 = s.PyStackRef_FromPyObjectNew(s.PyTuple_GET_ITEM(seq_o, 0))
    val1 = s.PyStackRef_FromPyObjectNew(s.PyTuple_GET_ITEM(seq_o, 1))
    s.stack[-1] = val1  # pushed in reverse: item 0 ends on top
    s.stack[0] = val0
    s.sp_add(1)
    s._PyFrame_SetStackPointer()
    s.PyStackRef_CLOSE(seq)
    s._PyFrame_GetStackPointer()


@uop
def _UNPACK_SEQUENCE_TUPLE(s):
    seq = s.stack[-1]
    seq_o = s.PyStackRef_AsPyObjectBorrow(seq)
    if s.Py_SIZE(seq_o) != s.oparg:
        return JUMP_TO_JUMP_TARGET
    # values = &stack_pointer[-1]: the last item goes where the tuple was, item 0 on top.
    for k, i in enumerate(range(s.oparg - 1, -1, -1)):
        s.stack[-1 + k] = s.PyStackRef_FromPyObjectNew(s.PyTuple_GET_ITEM(seq_o, i))
    s.sp_add(-1 + s.oparg)
    s._PyFrame_SetStackPointer()
    s.PyStackRef_CLOSE(seq)
    s._PyFrame_GetStackPointer()


@uop
def _LIST_APPEND(s):
    v = s.stack[-1]
    lst = s.PyStackRef_AsPyObjectBorrow(s.stack[-2 - (s.oparg - 1)])
    newitem = s.PyStackRef_AsPyObjectSteal(v)
    # _PyList_AppendTakeRef (pycore_list.h): in place while there is room, else the C resize.
    length = s.Py_SIZE(lst)
    if s.mem.i64(lst + s.LIST_ALLOCATED) > length:
        s.PyList_SET_ITEM(lst, length, newitem)
        s.mem.set_i64(lst + s.OB_SIZE, length + 1)
        err = 0
    else:
        err = s.call("_PyList_AppendTakeRefListResize", lst, newitem)
        err &= 0xFFFFFFFF
        err = err - (1 << 32) if err & 0x80000000 else err
    s.sp_add(-1)
    if err < 0:
        return JUMP_TO_ERROR
