"""Iteration over ranges, lists and tuples (the specialised FOR_ITER of tier 2).

The iterator stays on the stack (peeked, never popped) and the next item is pushed above it.
A range iterator keeps ``start``, ``step`` and the remaining ``len`` as C longs and boxes each
value with ``PyLong_FromLong``; list and tuple iterators keep an index into their sequence and
push a new reference to the item. The exhaustion guards leave the trace (to the instruction
after END_FOR); the list one also marks the iterator exhausted (``it_index = -1``) first.
"""

from __future__ import annotations

from refjit.semantics.core import JUMP_TO_ERROR, JUMP_TO_JUMP_TARGET, uop

MASK64 = (1 << 64) - 1


def _wrap64(v: int) -> int:
    """A C ``long`` result: two's complement wrap-around, as the compiled code behaves."""
    v &= MASK64
    return v - (1 << 64) if v >> 63 else v


@uop
def _ITER_CHECK_RANGE(s):
    if not s.type_is(s.PyStackRef_AsPyObjectBorrow(s.stack[-1]), "PyRangeIter_Type"):
        return JUMP_TO_JUMP_TARGET


@uop
def _GUARD_NOT_EXHAUSTED_RANGE(s):
    r = s.PyStackRef_AsPyObjectBorrow(s.stack[-1])
    if s.mem.i64(r + s.RANGE_LEN) <= 0:
        return JUMP_TO_JUMP_TARGET


@uop
def _ITER_NEXT_RANGE(s):
    r = s.PyStackRef_AsPyObjectBorrow(s.stack[-1])
    value = s.mem.i64(r + s.RANGE_START)
    s.mem.set_i64(r + s.RANGE_START, _wrap64(value + s.mem.i64(r + s.RANGE_STEP)))
    s.mem.set_i64(r + s.RANGE_LEN, _wrap64(s.mem.i64(r + s.RANGE_LEN) - 1))
    res = s.call("PyLong_FromLong", value)
    if res == 0:
        return JUMP_TO_ERROR
    s.stack[0] = s.PyStackRef_FromPyObjectSteal(res)
    s.sp_add(1)


@uop
def _ITER_CHECK_LIST(s):
    if not s.type_is(s.PyStackRef_AsPyObjectBorrow(s.stack[-1]), "PyListIter_Type"):
        return JUMP_TO_JUMP_TARGET


@uop
def _GUARD_NOT_EXHAUSTED_LIST(s):
    it = s.PyStackRef_AsPyObjectBorrow(s.stack[-1])
    seq = s.mem.u64(it + s.LISTITER_SEQ)
    if seq == 0:
        return JUMP_TO_JUMP_TARGET
    # (size_t) comparison: an index of -1 (exhausted) is huge.
    if s.mem.u64(it + s.LISTITER_INDEX) >= (s.Py_SIZE(seq) & MASK64):
        s.mem.set_i64(it + s.LISTITER_INDEX, -1)
        return JUMP_TO_JUMP_TARGET


@uop
def _ITER_NEXT_LIST_TIER_TWO(s):
    it = s.PyStackRef_AsPyObjectBorrow(s.stack[-1])
    seq = s.mem.u64(it + s.LISTITER_SEQ)
    index = s.mem.i64(it + s.LISTITER_INDEX)
    s.mem.set_i64(it + s.LISTITER_INDEX, index + 1)
    s.stack[0] = s.PyStackRef_FromPyObjectNew(s.PyList_GET_ITEM(seq, index))
    s.sp_add(1)


@uop
def _ITER_CHECK_TUPLE(s):
    if not s.type_is(s.PyStackRef_AsPyObjectBorrow(s.stack[-1]), "PyTupleIter_Type"):
        return JUMP_TO_JUMP_TARGET


@uop
def _GUARD_NOT_EXHAUSTED_TUPLE(s):
    it = s.PyStackRef_AsPyObjectBorrow(s.stack[-1])
    seq = s.mem.u64(it + s.TUPLEITER_SEQ)
    if seq == 0:
        return JUMP_TO_JUMP_TARGET
    if s.mem.i64(it + s.TUPLEITER_INDEX) >= s.Py_SIZE(seq):  # signed here
        return JUMP_TO_JUMP_TARGET


@uop
def _ITER_NEXT_TUPLE(s):
    it = s.PyStackRef_AsPyObjectBorrow(s.stack[-1])
    seq = s.mem.u64(it + s.TUPLEITER_SEQ)
    index = s.mem.i64(it + s.TUPLEITER_INDEX)
    s.mem.set_i64(it + s.TUPLEITER_INDEX, index + 1)
    s.stack[0] = s.PyStackRef_FromPyObjectNew(s.PyTuple_GET_ITEM(seq, index))
    s.sp_add(1)
