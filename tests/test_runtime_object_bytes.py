"""New objects, code objects, frames and executors are built in a buffer and written at once.

These check the whole bytes of what the constructors leave against a block laid out here by
hand: offsets from FACTS.md (PyObject header 16 bytes, PyGC_Head 16 bytes before GC objects,
PyFloatObject.ob_fval @16, PyTupleObject.ob_item @32, ...), values from the C definitions the
facts quote (refcount 1 and type after _PyObject_Init; _Py_IMMORTAL_INITIAL_REFCNT 3 << 30 and
_Py_IMMORTAL_FLAGS in ob_flags @6 for an immortal one), 0xCB for the bytes nobody wrote (the
heap's FRESH fill), and StructBuffer / View (refjit.runtime.views) for struct members.
"""

import struct

import pytest

from refjit.errors import RuntimeModelError
from refjit.profile import load_profile
from refjit.runtime import Process
from refjit.runtime.heap import FRESH
from refjit.runtime.views import StructBuffer

IMMORTAL_REFCNT = 3 << 30


@pytest.fixture(params=["x86_64", "aarch64"])
def proc(request):
    return Process(load_profile("3.14", request.param))


def _expected(proc, op, type_name, fields, *, gc=False, immortal=False):
    """The block of the object at ``op`` as the C code leaves it: FRESH bytes, the GC header
    zeroed, ob_refcnt_full 1 (or the immortal pattern), ob_type, then ``fields``: (offset,
    struct format, value) from the object's address."""
    block = proc.heap.block(op)
    data = bytearray([FRESH]) * block.size
    at = 16 if gc else 0
    assert block.address - block.start == at
    data[:at] = bytes(at)
    struct.pack_into("<Q", data, at, 1)
    struct.pack_into("<Q", data, at + 8, proc.symbols[type_name])
    if immortal:
        struct.pack_into("<I", data, at, IMMORTAL_REFCNT)
        struct.pack_into("<H", data, at + 6, proc.consts._Py_IMMORTAL_FLAGS)
    for offset, fmt, value in fields:
        struct.pack_into(fmt, data, at + offset, value)
    return bytes(data)


def _block_bytes(proc, op):
    block = proc.heap.block(op)
    return proc.mem.read(block.start, block.size)


@pytest.mark.parametrize("immortal", [False, True])
def test_new_objects_are_their_whole_blocks(proc, immortal):
    f = proc.new_float(-2.75, immortal=immortal)
    assert _block_bytes(proc, f) == _expected(proc, f, "PyFloat_Type", [(16, "<d", -2.75)],
                                              immortal=immortal)
    # lv_tag (sign code 2 = negative, one digit: 1 << 3) @16, ob_digit[0] @24; 28..31 unwritten
    i = proc.new_int(-5000, immortal=immortal)
    assert _block_bytes(proc, i) == _expected(proc, i, "PyLong_Type",
                                              [(16, "<Q", 2 | 1 << 3), (24, "<I", 5000)],
                                              immortal=immortal)
    # -(2**65 + 7): three 30-bit digits 7, 0, 32 (2**65 = 32 * 2**60), negative: lv_tag 2 | 3 << 3
    big = proc.new_int(-(1 << 65) - 7, immortal=immortal)
    assert _block_bytes(proc, big) == _expected(
        proc, big, "PyLong_Type", [(16, "<Q", 2 | 3 << 3), (24, "<I", 7), (28, "<I", 0), (32, "<I", 32)],
        immortal=immortal)
    # PyASCIIObject: length @16, hash @24 (-1), state @32 (kind 1, compact, ascii: bits 2, 5, 6
    # of the state word as FACTS gives them), the characters and a NUL @40
    s = proc.new_str("xyz", immortal=immortal)
    state = proc.o.str_state_ascii
    assert _block_bytes(proc, s) == _expected(
        proc, s, "PyUnicode_Type",
        [(16, "<q", 3), (24, "<q", -1), (32, "<I", state), (40, "4s", b"xyz\0")], immortal=immortal)
    t = proc.new_tuple([f, s], immortal=immortal)
    assert _block_bytes(proc, t) == _expected(
        proc, t, "PyTuple_Type", [(16, "<q", 2), (24, "<q", -1), (32, "<Q", f), (40, "<Q", s)],
        gc=True, immortal=immortal)
    r = proc.new_range_iter(3, 20, 4)
    assert _block_bytes(proc, r) == _expected(proc, r, "PyRangeIter_Type",
                                              [(16, "<q", 3), (24, "<q", 4), (32, "<q", 5)])
    lst = proc.new_list([i, f], allocated=3)
    arr = proc.mem.u64(lst + 24)
    assert _block_bytes(proc, lst) == _expected(
        proc, lst, "PyList_Type", [(16, "<q", 2), (24, "<Q", arr), (32, "<q", 3)], gc=True)
    # the item array: PyMem_Calloc'd 24 bytes with the items, then 8 FRESH bytes of the block
    assert _block_bytes(proc, arr) == struct.pack("<QQQ", i, f, 0) + bytes([FRESH]) * 8
    li = proc.new_list_iter(lst)  # it_index @16 = 0, it_seq @24
    assert _block_bytes(proc, li) == _expected(proc, li, "PyListIter_Type",
                                               [(16, "<q", 0), (24, "<Q", lst)], gc=True)
    # the references the constructors took (new_tuple and new_list without steal, the iterator)
    assert [proc.refcnt(x) for x in (lst,)] == [2]
    if not immortal:
        assert proc.refcnt(f) == 3 and proc.refcnt(s) == 2 and proc.refcnt(i) == 2


def test_an_item_that_does_not_fit_is_reported_by_the_typed_write(proc):
    # (the one-write path cannot pack it and leaves it to the item-by-item writes, which name it)
    with pytest.raises(RuntimeModelError, match=r"value 18446744073709551616 does not fit a <Q at"):
        proc.new_tuple([1 << 64], steal=True)
    with pytest.raises(RuntimeModelError, match=r"value 18446744073709551616 does not fit a <Q at"):
        proc.new_list([1 << 64], steal=True)


def test_malloc_with_initial_bytes(proc):
    heap = proc.heap
    a = heap.malloc(20, "mem", init=b"\x01\x02\x03")
    assert proc.mem.read(a, 32) == b"\x01\x02\x03" + bytes([FRESH]) * 29
    b = heap.malloc(8, "mem", header=16, init=bytes(24))  # pre-header included
    assert proc.mem.read(b - 16, 32) == bytes(24) + bytes([FRESH]) * 8
    c = heap.malloc(5000, "mem", init=b"\x07")  # a tail longer than the run kept for it
    assert proc.mem.read(c, 5008) == b"\x07" + bytes([FRESH]) * 5007
    with pytest.raises(RuntimeModelError, match="3 initial bytes for a block of 0 \\+ 2"):
        heap.malloc(2, "mem", init=b"abc")


def test_code_frame_and_executor_members_are_those_struct_buffer_stores(proc):
    code = proc.new_code(bytes(8), nlocals=2, stacksize=3, argcount=1, firstlineno=7, flags=5)
    ref = StructBuffer(proc.profile, "PyCodeObject", bytearray(proc.mem.read(code, 208)))
    for name, value in (("ob_size", 4), ("co_flags", 5), ("co_argcount", 1), ("co_stacksize", 3),
                        ("co_firstlineno", 7), ("co_nlocalsplus", 2), ("co_nlocals", 2),
                        ("co_framesize", 2 + 3 + proc.consts.FRAME_SPECIALS_SIZE)):
        ref[name] = value
    assert bytes(ref.data) == proc.mem.read(code, 208)
    cv = proc.view("PyCodeObject", code)
    assert cv.co_qualname == cv.co_name and proc.to_python(cv.co_name) == "f"
    assert proc.to_python(cv.co_localsplusnames) == ("x0", "x1")

    frame = proc.new_frame(code, 2, [proc.new_int(1000)], [], instr_index=2)
    fv = proc.view("_PyInterpreterFrame", frame)
    assert fv.f_executable == code and fv.f_funcobj == 1 and fv.previous == 0
    assert fv.instr_ptr == proc.bytecode_address(code, 2)
    assert fv.stackpointer == proc.frame_stack_pointer(frame) == frame + 80 + 16
    assert proc.view("PyThreadState", proc.tstate).current_frame == frame

    first = proc.new_executor([3], trace_length=2, code=code)
    second = proc.new_executor([], valid=False, chain_depth=5)
    for op, valid, depth, previous, nxt in ((first, 1, 0, second, 0), (second, 0, 5, 0, first)):
        e = proc.view("_PyExecutorObject", op)
        assert (e["vm_data.valid"], e["vm_data.linked"], e["vm_data.chain_depth"]) == (valid, 1, depth)
        assert (e["vm_data.warm"], e["vm_data.index"]) == (1, -1)
        assert (e["vm_data.links.previous"], e["vm_data.links.next"]) == (previous, nxt)
    assert proc.view("PyInterpreterState", proc.interp).executor_list_head == second
    e = proc.view("_PyExecutorObject", first)
    assert (e.exit_count, e.code_size, e["vm_data.code"], e.exits[0].target) == (1, 2, code, 3)
    assert e.trace == first + 128 + 16  # after exits[1] (FACTS: exits @0x80, 16 bytes each)
    with pytest.raises(RuntimeModelError, match="6-bit field _PyExecutorObject.vm_data.chain_depth"):
        proc.new_executor([], chain_depth=64)
    with pytest.raises(RuntimeModelError, match="does not fit PyCodeObject.co_stacksize"):
        proc.new_code(bytes(2), stacksize=1 << 31)
