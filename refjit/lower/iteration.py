"""Iteration over ranges, lists and tuples (Python/bytecodes.c, GIL build branches)."""

from __future__ import annotations

from refjit.lir import ERROR_TARGET, JUMP_TARGET
from refjit.lower import lowering


def _iter(u):
    return u.borrow(u.peek(-1))


@lowering
def _ITER_CHECK_RANGE(u):
    u.guard_type(_iter(u), "PyRangeIter_Type")


@lowering
def _GUARD_NOT_EXHAUSTED_RANGE(u):
    b = u.b
    b.br("le", b.load(_iter(u), u.off("_PyRangeIterObject", "len")), 0, JUMP_TARGET)


@lowering
def _ITER_NEXT_RANGE(u):
    b = u.b
    r = _iter(u)
    start, step, length = (u.off("_PyRangeIterObject", f) for f in ("start", "step", "len"))
    value = b.load(r, start)
    b.store(b.add(value, b.load(r, step)), r, start)
    b.rmw(r, length, u.bits("_PyRangeIterObject", "len"), -1)   # r->len--
    res = b.call("PyLong_FromLong", value)
    b.br("eq", res, 0, ERROR_TARGET)
    u.poke(0, u.FromPyObjectSteal(res))
    u.sp_add(1)


@lowering
def _ITER_CHECK_LIST(u):
    u.guard_type(_iter(u), "PyListIter_Type")


@lowering
def _GUARD_NOT_EXHAUSTED_LIST(u):
    b = u.b
    it = _iter(u)
    index_off = u.off("_PyListIterObject", "it_index")
    seq = b.load(it, u.off("_PyListIterObject", "it_seq"))
    b.br("eq", seq, 0, JUMP_TARGET)
    ok = b.label("notexhausted")
    b.br("ult", b.load(it, index_off), b.load(seq, u.off("PyVarObject", "ob_size")), ok)
    b.store(-1, it, index_off)
    b.jump(JUMP_TARGET)
    b.bind(ok)


@lowering
def _ITER_NEXT_LIST_TIER_TWO(u):
    b = u.b
    it = _iter(u)
    index_off = u.off("_PyListIterObject", "it_index")
    seq = b.load(it, u.off("_PyListIterObject", "it_seq"))
    index = b.load(it, index_off)
    b.store(b.add(index, 1), it, index_off)
    items = b.load(seq, u.off("PyListObject", "ob_item"))
    u.poke(0, u.FromPyObjectNew(b.load(b.lea(items, index, 3))))
    u.sp_add(1)


@lowering
def _ITER_CHECK_TUPLE(u):
    u.guard_type(_iter(u), "PyTupleIter_Type")


@lowering
def _GUARD_NOT_EXHAUSTED_TUPLE(u):
    b = u.b
    it = _iter(u)
    seq = b.load(it, u.off("_PyTupleIterObject", "it_seq"))
    b.br("eq", seq, 0, JUMP_TARGET)
    b.br("ge", b.load(it, u.off("_PyTupleIterObject", "it_index")),
         b.load(seq, u.off("PyVarObject", "ob_size")), JUMP_TARGET)


@lowering
def _ITER_NEXT_TUPLE(u):
    b = u.b
    it = _iter(u)
    index_off = u.off("_PyTupleIterObject", "it_index")
    seq = b.load(it, u.off("_PyTupleIterObject", "it_seq"))
    index = b.load(it, index_off)
    b.store(b.add(index, 1), it, index_off)
    item = b.load(b.lea(seq, index, 3), u.off("PyTupleObject", "ob_item"))
    u.poke(0, u.FromPyObjectNew(item))
    u.sp_add(1)
