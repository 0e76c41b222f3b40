"""The emulated process: memory map, static objects, typed views, frames, executors, snapshots.

Expected values come from FACTS.md (offsets the real stencils use), from the C definitions the
facts quote (tag bits, immortal refcount pattern) and from the host Python (30-bit digits,
IEEE doubles), never from the code under test."""

import ctypes
import random
import struct
import sys

import pytest

from refjit.errors import RuntimeModelError
from refjit.profile import load_profile
from refjit.runtime import (
    LayoutConfig,
    Memory,
    Process,
    Region,
    stackref_borrowed,
    stackref_owned,
    stackref_target,
)
from refjit.runtime.memory import PROT_RW


@pytest.fixture(params=["x86_64", "aarch64"])
def proc(request):
    return Process(load_profile("3.14", request.param))


def test_memory_regions_and_errors():
    m = Memory()
    r = m.add(Region("a", 0x10000, 0x2000, PROT_RW))
    m.set_u64(0x10008, 0x1122334455667788)
    assert m.read(0x10008, 8) == bytes.fromhex("8877665544332211")  # little-endian
    assert m.u32(0x1000C) == 0x11223344
    m.set_i32(0x10010, -2)
    assert m.u32(0x10010) == 0xFFFFFFFE
    m.set_f64(0x10020, 1.5)
    assert m.read(0x10020, 8) == struct.pack("<d", 1.5)
    # the ctypes buffer is the memory: what Unicorn would map with mem_map_ptr
    assert ctypes.string_at(r.address_of_buffer + 8, 8) == bytes.fromhex("8877665544332211")
    with pytest.raises(RuntimeModelError, match="0x30000 is not mapped"):
        m.u64(0x30000)
    with pytest.raises(RuntimeModelError, match="runs past the end"):
        m.u64(0x11FFC)
    with pytest.raises(RuntimeModelError, match="overlaps"):
        m.add(Region("b", 0x11000, 0x1000))
    with pytest.raises(RuntimeModelError, match="multiples of 0x1000"):
        Region("c", 0x10001, 0x1000)


def test_every_stencil_symbol_has_an_address(proc):
    prof = proc.profile
    assert set(prof.symbols) <= set(proc.symbols)
    for name, spec in prof.symbols.items():
        addr = proc.symbols[name]
        region = proc.mem.name_of(addr)
        if spec.kind == "function":
            assert region == "stubs", name
            assert proc.model_at(addr) is not None and proc.model_at(addr).name == name
            assert proc.mem.read(addr, 16) == proc.stub_trap
        else:
            assert region in ("statics", "runtime"), name
    # distinct addresses
    addrs = [proc.symbols[n] for n in prof.symbols]
    assert len(set(addrs)) == len(addrs)


def test_far_and_near_layout():
    prof = load_profile("3.14", "x86_64")
    far = Process(prof)
    d = far.regions["jit"].base - far.symbols["_Py_Dealloc"]
    assert abs(d) >= 1 << 31  # like a PIE python: GOT calls are not relaxed (FACTS c.3)
    near = Process(prof, layout=LayoutConfig(jit_near_stubs=True))
    d = near.regions["jit"].base - near.symbols["_Py_Dealloc"]
    assert abs(d) < 1 << 31
    with pytest.raises(RuntimeModelError, match="overlaps"):
        Process(prof, layout=LayoutConfig(heap_base=LayoutConfig().code_base))


def test_static_immortals(proc):
    # _Py_STATIC_IMMORTAL_INITIAL_REFCNT: refcnt 3<<30, ob_flags STATICALLY_ALLOCATED|IMMORTAL = 5
    for name in ("_Py_NoneStruct", "_Py_TrueStruct", "_Py_FalseStruct", "PyLong_Type"):
        a = proc.symbols[name]
        assert proc.mem.u64(a) == 0xC0000000 | (5 << 48), name
        assert proc.is_immortal(a)
    t, f = proc.symbols["_Py_TrueStruct"], proc.symbols["_Py_FalseStruct"]
    assert proc.mem.u64(t + 16) == 8 and proc.mem.u64(f + 16) == 1  # lv_tag True / False (FACTS f)
    assert proc.mem.u64(t + 8) == proc.symbols["PyBool_Type"]
    assert proc.read_object(t).value is True and proc.read_object(f).value is False
    assert proc.read_object(proc.symbols["_Py_NoneStruct"]).value is None
    # PyExc_TypeError is a pointer variable holding the type object
    exc_type = proc.mem.u64(proc.symbols["PyExc_TypeError"])
    assert proc.mem.read_cstring(proc.view("PyTypeObject", exc_type).tp_name) == "TypeError"


def test_small_ints_inside_runtime(proc):
    rt = proc.symbols["_PyRuntime"]
    # FACTS d.3: _PyRuntime+0x3790 is small_ints[5], the int 0; +0x37b1 is the stack ref of 1
    zero = rt + 0x3790
    assert proc.new_int(0) == zero and proc.small_int(0) == zero
    assert stackref_borrowed(proc.new_int(1)) == rt + 0x37B1
    assert stackref_borrowed(proc.new_int(3)) == rt + 0x37F1
    for v in (-5, -1, 0, 1, 7, 256):
        op = proc.new_int(v)
        tag = proc.mem.u64(op + 16)
        assert tag & 4  # IMMORTALITY_BIT_MASK
        assert tag < 16  # compact
        assert (1 - (tag & 3)) * proc.mem.u32(op + 24) == v
        assert proc.mem.u64(op + 8) == proc.symbols["PyLong_Type"]
        assert proc.mem.u64(op) == 0xC0000000 | (5 << 48)
    assert proc.new_int(257) != proc.new_int(257)  # not cached


def _host_digits(v):
    """The host CPython's own 30-bit digits of |v| (read from the host object with ctypes)."""
    assert sys.int_info.bits_per_digit == 30
    n = max(1, (abs(v).bit_length() + 29) // 30)
    offset = 24  # 3.11: ob_refcnt, ob_type, ob_size, then ob_digit
    raw = ctypes.string_at(id(v) + offset, 4 * n)
    return [int.from_bytes(raw[4 * i : 4 * i + 4], "little") for i in range(n)]


@pytest.mark.parametrize("v", [1000, -1000, 2**30 - 1, 2**30, -(2**30), 2**62 + 12345, -(2**100) + 7, 3**200])
def test_int_encoding(proc, v):
    op = proc.new_int(v)
    tag = proc.mem.u64(op + 16)
    digits = _host_digits(v)
    assert tag >> 3 == len(digits)
    assert tag & 3 == (0 if v > 0 else 2)
    assert [proc.mem.u32(op + 24 + 4 * i) for i in range(len(digits))] == digits
    assert proc.read_object(op).value == v
    assert (tag < 16) == (abs(v) < 2**30)  # compact iff one digit


def test_float_tuple_list_layout(proc):
    f = proc.new_float(-2.75)
    assert proc.mem.read(f + 16, 8) == struct.pack("<d", -2.75)
    assert proc.mem.u64(f + 8) == proc.symbols["PyFloat_Type"]
    a, b = proc.new_int(5000), proc.new_float(0.5)
    t = proc.new_tuple([a, b])
    assert proc.mem.i64(t + 16) == 2 and proc.mem.i64(t + 24) == -1  # ob_size, ob_hash unset
    assert proc.mem.u64(t + 32) == a and proc.mem.u64(t + 40) == b  # ob_item at 32 (FACTS f)
    assert proc.refcnt(a) == 2 and proc.refcnt(b) == 2
    lst = proc.new_list([a], allocated=4)
    assert proc.mem.i64(lst + 16) == 1 and proc.mem.i64(lst + 32) == 4
    assert proc.mem.u64(proc.mem.u64(lst + 24)) == a
    assert proc.refcnt(a) == 3
    assert proc.read_object(lst).value == [5000]
    # tuples and lists are GC objects: a 16-byte PyGC_Head precedes them
    block = proc.heap.block(t)
    assert block.address - block.start == 16


def test_iterators(proc):
    it = proc.new_range_iter(3, 20, 4)
    assert proc.read_object(it).extra == {"start": 3, "step": 4, "len": len(range(3, 20, 4))}
    lst = proc.new_list([proc.new_int(1)])
    li = proc.new_list_iter(lst)
    assert proc.refcnt(lst) == 2
    assert proc.view("_PyListIterObject", li).it_seq == lst
    with pytest.raises(RuntimeModelError, match="step must not be zero"):
        proc.new_range_iter(0, 1, 0)


def test_views(proc):
    t = proc.view("PyThreadState", proc.tstate)
    assert t.interp == proc.interp
    t.current_executor = 0x1234
    assert proc.mem.u64(proc.tstate + 0x110) == 0x1234  # FACTS f: current_executor @ 0x110
    t.eval_breaker = 0x80
    assert proc.mem.u64(proc.tstate + 24) == 0x80
    iv = proc.view("PyInterpreterState", proc.interp)
    off = 0x367F0 if proc.arch == "x86_64" else 0x36800  # FACTS surprise 8
    assert proc.mem.u64(proc.interp + off) == iv.trace_run_counter == 100000
    with pytest.raises(RuntimeModelError, match="no field 'nope'"):
        t.nope
    with pytest.raises(RuntimeModelError, match="does not fit"):
        t.holds_gil = 1 << 40


def test_executor_layout(proc):
    jit = proc.regions["jit"].base
    e = proc.new_executor([14, 28, 40], trace_length=29, jit_code=jit)
    # _CHECK_VALIDITY tests bit 0 of byte executor+0x22; _MAKE_WARM stores 1 to executor+0x23
    assert proc.mem.u8(e + 0x22) & 1 == 1
    assert proc.mem.u8(e + 0x23) == 1
    v = proc.view("_PyExecutorObject", e)
    assert v.exit_count == 3 and v.code_size == 29
    assert [v.exits[i].target for i in range(3)] == [14, 28, 40]
    assert proc.exit_address(e, 1) == e + 128 + 16
    assert proc.mem.u32(proc.exit_address(e, 2)) == 40
    assert proc.mem.u16(proc.exit_address(e, 0) + 4) == (4095 << 4) | 12  # SIDE_EXIT_INITIAL_VALUE/BACKOFF
    assert v.trace == e + 128 + 3 * 16
    assert v.jit_side_entry == jit + (33 if proc.arch == "x86_64" else 104)
    v["vm_data.valid"] = 0
    assert proc.mem.u8(e + 0x22) & 1 == 0


def test_code_and_frame(proc):
    bytecode = bytes(range(40))
    code = proc.new_code(bytecode, nlocals=3, stacksize=4)
    # _PyFrame_GetBytecode(frame) = (f_executable & ~1) + 0xD0 (FACTS b.4)
    assert proc.mem.read(code + 0xD0, 40) == bytecode
    a = proc.new_int(12345)
    frame = proc.new_frame(code, 3, [stackref_owned(a), stackref_borrowed(proc.new_int(2))],
                           [stackref_borrowed(proc.symbols["_Py_NoneStruct"])], instr_index=5)
    f = proc.view("_PyInterpreterFrame", frame)
    assert stackref_target(f.f_executable) + 0xD0 + 2 * 5 == f.instr_ptr
    assert proc.mem.u64(frame + 0x50) == a  # localsplus @ 0x50
    assert proc.mem.u64(frame + 0x50 + 16) == 1  # missing local: PyStackRef_NULL
    assert f.stackpointer == frame + 0x50 + 8 * 4
    assert proc.mem.u64(f.stackpointer - 8) == proc.symbols["_Py_NoneStruct"] | 1
    t = proc.view("PyThreadState", proc.tstate)
    assert t.current_frame == frame
    assert t.datastack_top == frame + 8 * (3 + 4 + 10)  # co_framesize words


def test_snapshot_restore(proc):
    snap = proc.snapshot()
    before = [b.address for b in proc.heap.live()]
    x = proc.new_int(10**6)
    proc.decref(x)
    proc.view("PyThreadState", proc.tstate).eval_breaker = 5
    proc.restore(snap)
    assert [b.address for b in proc.heap.live()] == before
    assert proc.freelists.get("ints", []) == []
    assert proc.view("PyThreadState", proc.tstate).eval_breaker == 0
    assert proc.new_int(10**6) == x  # same allocation again: deterministic


def test_deterministic_addresses():
    prof = load_profile("3.14", "x86_64")

    def run():
        p = Process(prof)
        out = [p.new_int(1000), p.new_float(1.0), p.new_tuple([p.new_int(-7)]), p.new_int(2**70)]
        return out, [(b.address, b.size, b.type) for b in p.heap.live()]

    assert run() == run()


def _unicorn(proc):
    from unicorn import UC_ARCH_ARM64, UC_ARCH_X86, UC_MODE_64, UC_MODE_ARM, Uc
    if proc.arch == "x86_64":
        return Uc(UC_ARCH_X86, UC_MODE_64)
    from unicorn.arm64_const import UC_CPU_ARM64_MAX
    uc = Uc(UC_ARCH_ARM64, UC_MODE_ARM)
    uc.ctl_set_cpu_model(UC_CPU_ARM64_MAX)
    return uc


def test_regions_are_shared_with_unicorn_and_stubs_fault(proc):
    from unicorn import UcError
    uc = _unicorn(proc)
    for r in proc.mem.regions:
        uc.mem_map_ptr(r.base, r.size, r.perms, r.address_of_buffer)
    x = proc.new_int(123456)
    assert bytes(uc.mem_read(x, 32)) == proc.mem.read(x, 32)  # same bytes, no copy
    uc.mem_write(x, (7).to_bytes(4, "little"))
    assert proc.refcnt(x) == 7
    # running into a stub without the machine's hook is a fault, not a silent stop
    stub = proc.symbols["_PyLong_Add"]
    with pytest.raises(UcError):
        uc.emu_start(stub, stub + 16, count=2)
    # the last slot of the stub page is free for the machine's return trap
    last = proc.regions["stubs"].end - 16
    assert proc.model_at(last) is None


def test_code_localsplusnames(proc):
    code = proc.new_code(b"\0\0", nlocals=2, varnames=["total", "i"])
    names = proc.view("PyCodeObject", code).co_localsplusnames
    assert proc.to_python(names) == ("total", "i")
    assert proc.to_python(proc.view("PyCodeObject", proc.new_code(b"\0\0", nlocals=2)).co_localsplusnames) == ("x0", "x1")
    with pytest.raises(RuntimeModelError, match="1 variable names for 2 locals"):
        proc.new_code(b"\0\0", nlocals=2, varnames=["a"])


def test_cli_process_and_uop(capsys):
    from refjit.cli import main

    assert main(["process", "--arch", "aarch64", "--symbols"]) == 0
    out = capsys.readouterr().out
    assert "main interpreter 0x555555a16280" in out  # _PyRuntime + 90752 (last member)
    assert "_PyLong_Add  model" in out and "PyDict_New  (no model)" in out
    assert main(["uop", "_MAKE_WARM", "--arch", "aarch64"]) == 0
    out = capsys.readouterr().out
    assert "64 code bytes, 8 data bytes" in out  # FACTS d.2
    assert main(["uop", "_NOPE"]) != 0
    assert "no tier-2 uop '_NOPE'" in capsys.readouterr().err


def test_tstate_in_runtime():
    # CPython's main thread state is _PyRuntime._main_interpreter._initial_thread, the
    # interpreter's last member.
    for arch in ("x86_64", "aarch64"):
        prof = load_profile("3.14", arch)
        p = Process(prof, layout=LayoutConfig(tstate_in_runtime=True))
        assert "tstate" not in p.regions
        assert p.tstate + prof.sizeof("_PyThreadStateImpl") == p.interp + prof.sizeof("PyInterpreterState")
        assert p.view("PyThreadState", p.tstate).interp == p.interp
        assert p.mem.name_of(p.tstate) == "runtime"


def test_immortal_objects(proc):
    for op in (proc.new_int(10**9, immortal=True), proc.new_float(1.0, immortal=True),
               proc.new_list([], immortal=True), proc.new_range_iter(0, 3, immortal=True)):
        assert proc.mem.u32(op) == 0xC0000000 and proc.mem.u16(op + 6) == 1  # _Py_SetImmortalUntracked
        proc.decref(op)
        assert proc.mem.u32(op) == 0xC0000000 and proc.read_object(op).state == "live"


def test_other_executors_get_distinct_unmapped_code(proc):
    a, b = proc.new_executor([]), proc.new_executor([3])
    ea, eb = proc.view("_PyExecutorObject", a), proc.view("_PyExecutorObject", b)
    assert ea.jit_code and eb.jit_code and ea.jit_code != eb.jit_code
    for e in (ea, eb):
        assert not proc.mem.is_mapped(e.jit_code) and not proc.mem.is_mapped(e.jit_side_entry)
        assert e.jit_side_entry == e.jit_code + proc.profile.abi.shim_code_size
    # the running executor is pointed at the linked region explicitly
    jit = proc.regions["jit"].base
    c = proc.view("_PyExecutorObject", proc.new_executor([], jit_code=jit, jit_size=8192))
    assert (c.jit_code, c.jit_size) == (jit, 8192)
    snap = proc.snapshot()
    d = proc.new_executor([])
    proc.restore(snap)
    assert proc.new_executor([]) == d  # same address and same code address after a restore
    assert proc.view("_PyExecutorObject", d).jit_code == proc.layout.foreign_jit_base + 2 * 0x10000


def test_static_strings_in_runtime(proc):
    # FACTS d.3: _PyRuntime+0x8ac8 "", +0x9188 "__annotations__", +0x9318 "__build_class__",
    # +0x12a00 strings.ascii[] (the stencils add the stack-ref tag bit: +0x12a01)
    rt = proc.runtime
    assert proc.str_value(rt + 0x8AC8) == ""
    assert proc.str_value(rt + 0x9188) == "__annotations__"
    assert proc.str_value(rt + 0x9318) == "__build_class__"
    stride = 48  # {PyASCIIObject (40 bytes); uint8_t _data[2]} at 8-byte alignment
    for ch in "aZ0 ~":
        op = rt + 0x12A00 + stride * ord(ch)
        assert proc.str_value(op) == ch and proc.is_immortal(op)
        assert proc.mem.u64(op + 8) == proc.symbols["PyUnicode_Type"]
        assert proc.mem.u8(op + 32) & 3 == 3  # interned immortal static (state.interned, bits 0-1)


def test_check_heap_finds_corruption(proc):
    a, f, big = proc.new_int(10**6), proc.new_float(2.5), proc.new_int(10**20)
    proc.decref(f)  # to the float freelist
    proc.decref(big)  # multi-digit: freed and poisoned
    assert proc.check_heap() == []
    proc.mem.set_u8(big + 20, 0)  # a store into freed memory
    proc.mem.set_u64(f, 0x1234)  # clobbers the freelist link
    proc.set_refcnt(a, 0)
    problems = proc.check_heap()
    assert f"write after free: {big + 20:#x} inside the freed int at {big:#x}" in problems
    assert f"floats freelist entry {f:#x} links to 0x1234, not 0x0" in problems
    assert f"live int at {a:#x} has refcount 0" in problems


def test_heap_reuses_oldest_freed_block_when_full():
    p = Process(load_profile("3.14", "x86_64"), layout=LayoutConfig(heap_size=16 << 10))
    seen = []
    for i in range(5000):  # 32-byte two-digit ints, far more than 16 KiB in total
        x = p.new_int(2**40 + i)
        seen.append(x)
        p.decref(x)  # PyObject_Free: poisoned, reusable only once the bump pointer is at the end
    assert p.heap.used == 16 << 10
    assert len(set(seen)) == (16 << 10) // 32  # every 32-byte slot used, then reused oldest first
    assert seen[(16 << 10) // 32] == seen[0]
    assert p.check_heap() == []
    keep = [p.new_int(2**40) for _ in range((16 << 10) // 32)]
    with pytest.raises(RuntimeModelError, match="emulated heap exhausted"):
        p.new_int(2**40)
    assert len(keep) == 512


def test_executor_dealloc_goes_through_the_deletion_list(proc):
    # uop_dealloc (optimizer.c): valid = 0, pushed on interp->executor_deletion_list_head; the
    # capacity starts at 0 (pystate.c), so the list is cleared at once, sparing the running executor.
    iv = proc.view("PyInterpreterState", proc.interp)
    running, dead = proc.new_executor([]), proc.new_executor([])
    proc.view("PyThreadState", proc.tstate).current_executor = running
    proc.decref(running)
    assert proc.read_object(running).state == "live"
    assert proc.view("_PyExecutorObject", running)["vm_data.valid"] == 0
    assert iv.executor_deletion_list_head == running
    assert iv.executor_deletion_list_remaining_capacity == 100  # EXECUTOR_DELETE_LIST_MAX after a clear
    proc.decref(dead)
    assert iv.executor_deletion_list_head == dead and iv.executor_deletion_list_remaining_capacity == 99
    proc.view("PyThreadState", proc.tstate).current_executor = 0
    proc.clear_executor_deletion_list()
    assert iv.executor_deletion_list_head == 0
    assert proc.read_object(running).state == "freed" and proc.read_object(dead).state == "freed"


def test_insert_executor(proc):
    # optimizer.c insert_executor: JUMP_BACKWARD_JIT (175) at code unit 25 becomes ENTER_EXECUTOR (255)
    # with the co_executors index as oparg; vm_data keeps the replaced opcode/oparg (FACTS g.2:
    # vm_data.opcode=175 vm_data.oparg=13 for int_sum's loop).
    bytecode = bytearray(60)
    bytecode[50:52] = bytes([175, 13])
    code = proc.new_code(bytes(bytecode), nlocals=3)
    ex = proc.new_executor([14, 28])
    assert proc.insert_executor(code, 25, ex) == 0
    assert proc.mem.read(proc.bytecode_address(code, 25), 2) == bytes([255, 0])
    e = proc.view("_PyExecutorObject", ex)
    assert (e["vm_data.opcode"], e["vm_data.oparg"], e["vm_data.index"], e["vm_data.code"]) == (175, 13, 25, code)
    arr = proc.view("_PyExecutorArray", proc.view("PyCodeObject", code).co_executors)
    assert (arr.size, arr.capacity, arr.executors[0]) == (1, 4, ex)
    assert proc.refcnt(ex) == 2


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

ops = st.lists(st.one_of(
    st.tuples(st.just("int"), st.integers(-(2**70), 2**70)),
    st.tuples(st.just("float"), st.floats(allow_nan=False)),
    st.tuples(st.just("tuple"), st.integers(0, 4)),
    st.tuples(st.just("list"), st.integers(0, 4)),
    st.tuples(st.just("drop"), st.integers(0, 50)),
), max_size=40)


def _replay(p, program):
    made, trail = [], []
    for kind, arg in program:
        if kind == "int":
            made.append(p.new_int(arg))
        elif kind == "float":
            made.append(p.new_float(arg))
        elif kind in ("tuple", "list") and made:
            items = [made[(i * 7) % len(made)] for i in range(arg)]
            made.append(p.new_tuple(items) if kind == "tuple" else p.new_list(items))
        elif kind == "drop" and made:
            op = made.pop(arg % len(made))
            p.decref(op)
        trail.append(tuple(made))
    return trail


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=ops, second=ops)
def test_snapshot_restore_replays_identically(first, second):
    p = Process(load_profile("3.14", "x86_64"))
    _replay(p, first)
    snap = p.snapshot()
    trail1 = _replay(p, second)
    mem1 = [r.snapshot() for r in p.mem.regions]
    blocks1 = [(b.address, b.size, b.type, b.state) for b in p.heap._in_order("live") + p.heap.freed()]
    p.restore(snap)
    trail2 = _replay(p, second)
    assert trail1 == trail2  # same addresses in the same order
    assert [r.snapshot() for r in p.mem.regions] == mem1  # byte for byte
    assert [(b.address, b.size, b.type, b.state) for b in p.heap._in_order("live") + p.heap.freed()] == blocks1
    assert p.check_heap() == []


def test_type_objects(proc):
    def tp(sym):
        return proc.view("PyTypeObject", proc.symbols[sym])

    # _Py_TYPE_VERSION_INT/FLOAT/LIST/TUPLE/DICT are fixed in pycore_typeobject.h
    assert [tp(s).tp_version_tag for s in ("PyLong_Type", "PyFloat_Type", "PyList_Type", "PyTuple_Type", "PyDict_Type")] \
        == [1, 2, 3, 4, 8]
    c = proc.consts
    assert tp("PyLong_Type").tp_flags & c.Py_TPFLAGS_LONG_SUBCLASS
    assert tp("PyBool_Type").tp_flags & c.Py_TPFLAGS_LONG_SUBCLASS  # inherited from int
    assert tp("PyTuple_Type").tp_flags & (c.Py_TPFLAGS_TUPLE_SUBCLASS | c.Py_TPFLAGS_HAVE_GC) \
        == c.Py_TPFLAGS_TUPLE_SUBCLASS | c.Py_TPFLAGS_HAVE_GC
    assert not tp("PyFloat_Type").tp_flags & c.Py_TPFLAGS_HAVE_GC
    assert tp("PyType_Type").tp_flags & c.Py_TPFLAGS_TYPE_SUBCLASS
    exc = proc.mem.u64(proc.symbols["PyExc_ZeroDivisionError"]) if "PyExc_ZeroDivisionError" in proc.symbols else None
    assert exc and proc.view("PyTypeObject", exc).tp_flags & c.Py_TPFLAGS_BASE_EXC_SUBCLASS
    # tp_basicsize agrees with the measured struct sizes (FACTS f)
    assert tp("PyFloat_Type").tp_basicsize == proc.profile.sizeof("PyFloatObject")
    assert tp("PyList_Type").tp_basicsize == proc.profile.sizeof("PyListObject")
    assert tp("PyTuple_Type").tp_basicsize == proc.profile.offset("PyTupleObject", "ob_item")
    assert tp("PyRangeIter_Type").tp_basicsize == proc.profile.sizeof("_PyRangeIterObject")
    assert (tp("PyLong_Type").tp_basicsize, tp("PyLong_Type").tp_itemsize) == (24, 4)  # offsetof(ob_digit), digit


def test_empty_tuple_in_runtime(proc):
    # measured on a 3.14.7 build: id(()) - &_PyRuntime == 0x16210
    assert proc.new_tuple([]) == proc.runtime + 0x16210
    assert proc.read_object(proc.new_tuple([])).value == () and proc.is_immortal(proc.runtime + 0x16210)


def test_executors_are_linked_and_cold_ones_cleared(proc):
    iv = proc.view("PyInterpreterState", proc.interp)
    off = 0x367D8 if proc.arch == "x86_64" else 0x367E8  # measured: interp+0x367d8 on x86-64
    a, b = proc.new_executor([14]), proc.new_executor([3])
    assert proc.mem.u64(proc.interp + off) == b == iv.executor_list_head  # newest first (link_executor)
    vb = proc.view("_PyExecutorObject", b)
    assert vb["vm_data.links.next"] == a and proc.view("_PyExecutorObject", a)["vm_data.links.previous"] == b
    assert proc.mem.u8(b + 0x22) & 3 == 3  # valid | linked, as a real executor (0x3 measured)
    # a is installed in a code object and has b as the executor of its exit 0; a went cold
    bytecode = bytearray(60)
    bytecode[50:52] = bytes([175, 13])
    code = proc.new_code(bytes(bytecode))
    proc.insert_executor(code, 25, a)
    proc.decref(a)  # only co_executors holds it now
    proc.incref(b)
    proc.view("_PyExecutorObject", a).exits[0].executor = b  # the exit owns that new reference
    va = proc.view("_PyExecutorObject", a)
    va["vm_data.warm"] = 0
    call = proc.model_at(proc.symbols["_Py_HandlePending"])
    proc.view("PyThreadState", proc.tstate).eval_breaker = 0x80
    assert call.call(proc, [proc.tstate]) == 0
    # a: cleared (exits unreachable, b released), detached (JUMP_BACKWARD_JIT 13 back in the
    # bytecode), deallocated (on the deletion list, freed at once: capacity 0)
    assert proc.mem.read(proc.bytecode_address(code, 25), 2) == bytes([175, 13])
    assert proc.read_object(a).state == "freed"
    # b was warm: still valid, now cold; its reference from a's exit is gone
    assert vb["vm_data.valid"] == 1 and vb["vm_data.warm"] == 0 and proc.refcnt(b) == 1
    assert iv.executor_list_head == b and vb["vm_data.links.next"] == 0
    # the temporary list of executors to invalidate went to the list freelist
    assert len(proc.freelists["lists"]) == 1
    assert proc.check_heap() == []


def test_restores_rewrite_the_dirty_pages_and_everything_after_untracked_writes(proc):
    """Snapshots and restores copy only pages written through Memory since the last one; a write
    straight into a region's buffer (what the machine's CPU does) counts only after
    mark_all_dirty. The reference is every region's raw bytes, read from the buffers."""
    def raw():
        return [ctypes.string_at(r.address_of_buffer, r.size) for r in proc.mem.regions]

    heap = proc.regions["heap"]
    before = raw()
    s0 = proc.snapshot()
    a = proc.new_int(10**30)
    proc.view("PyThreadState", proc.tstate).eval_breaker = 0x20     # a typed view's store
    proc.mem.write(heap.end - 4, b"\x01\x02\x03\x04")                 # another page, the last
    s1 = proc.snapshot()
    after = raw()
    assert after != before
    assert [data for _name, data in s1.memory.regions] == after
    assert [data for _name, data in s0.memory.regions] == before

    proc.decref(a)
    proc.mem.fill(heap.base + 0x8000, 0x3000, 0x5A)                   # across pages
    proc.restore(s1)
    assert raw() == after
    proc.restore(s0)
    assert raw() == before
    proc.restore(s1)
    assert raw() == after

    # Untracked: bytes changed in the buffers directly, as emulated stores change them.
    for r in proc.mem.regions:
        ctypes.memset(r.address_of_buffer + r.size // 2, 0x77, 64)
    proc.mem.mark_all_dirty()
    proc.restore(s0)
    assert raw() == before
    ctypes.memset(heap.address_of_buffer, 0x66, heap.size)
    proc.mem.mark_all_dirty()
    proc.restore(s1)
    assert raw() == after


def test_struct_buffer_packs_members_as_views_store_them(proc):
    # Offsets from FACTS (layout of _PyExecutorObject): trace @0x18, vm_data.valid = bit 0 of
    # byte 0x22, vm_data.warm (_Bool) @0x23, vm_data.index (int) @0x24, exit_count (uint32_t) @0x60.
    from refjit.runtime.views import StructBuffer

    b = StructBuffer(proc.profile, "_PyExecutorObject", bytearray(b"\xaa" * 144))
    b["trace"] = 0x1122334455667788
    b["vm_data.valid"] = 1
    b["vm_data.warm"] = 1
    b["vm_data.index"] = -1
    assert b.data[0x18:0x20] == bytes.fromhex("8877665544332211")
    assert b.data[0x22] == 0xAB and b.data[0x23] == 1  # the byte's other bitfields kept
    assert b.data[0x24:0x28] == b"\xff\xff\xff\xff"
    b["exit_count"] = -1                      # an unsigned member takes a negative's bits
    assert b.data[0x60:0x64] == b"\xff\xff\xff\xff"
    assert b.data[0x64:] == b"\xaa" * (144 - 0x64)  # nothing else written
    with pytest.raises(RuntimeModelError, match=r"_PyExecutorObject.exit_count"):
        b["exit_count"] = 1 << 32
    with pytest.raises(RuntimeModelError, match=r"1-bit field _PyExecutorObject.vm_data.valid"):
        b["vm_data.valid"] = 2
    with pytest.raises(RuntimeModelError, match="not a scalar"):
        b["vm_data"] = 0


def test_memory_fill_small_and_large():
    m = Memory()
    r = m.add(Region("a", 0x10000, 0x3000, PROT_RW))
    m.fill(0x10001, 5, 0xCB)                  # a short run (copied from a run of the byte)
    m.fill(0x10010, 0x2000, 0xDD)             # longer than a page (ctypes.memset)
    m.fill(0x10008, 0, 0x11)                  # nothing
    data = ctypes.string_at(r.address_of_buffer, 0x3000)
    assert data[:0x10] == b"\0" + b"\xcb" * 5 + b"\0" * 10
    assert data[0x10:0x2010] == b"\xdd" * 0x2000 and data[0x2010:] == bytes(0x3000 - 0x2010)
    with pytest.raises(RuntimeModelError, match="runs past the end"):
        m.fill(0x12FF0, 0x20, 0)


def test_heap_snapshots_keep_their_books_while_the_heap_changes():
    """Snapshots share Block objects with the heap (copied only when they change): a snapshot's
    books, written down as plain tuples when it is taken, must still be what it holds and what
    a restore gives back, however the heap changed since; and the blocks stay in allocation
    order (the reference: sorted by serial) through mallocs, reuse, frees and freelists."""
    from refjit.runtime.heap import Heap

    def books(top, serial, frees, blocks):
        return (top, serial, frees, [(b.address, b.start, b.size, b.type, b.state, b.freelist, b.serial,
                                      b.freed_at) for b in blocks])

    mem = Memory()
    heap = Heap(mem, mem.add(Region("heap", 0x100000, 0x1000, PROT_RW)))
    rng = random.Random(5)
    snaps, live, parked = [], [], []
    for step in range(3000):
        r = rng.random()
        if r < 0.35:
            try:
                live.append(heap.malloc(rng.choice((8, 24, 40)), "int", header=rng.choice((0, 16))))
            except RuntimeModelError:  # full, and nothing of that size to reuse
                pass
        elif r < 0.55 and live:
            heap.free(live.pop(rng.randrange(len(live))))
        elif r < 0.65 and live:
            a = live.pop(rng.randrange(len(live)))
            heap.to_freelist(a, "ints")
            parked.append(a)
        elif r < 0.7 and parked:
            a = parked.pop()
            heap.from_freelist(a)
            live.append(a)
        elif r < 0.75:
            snap = heap.snapshot()
            snaps.append((snap, books(snap.top, snap.serial, snap.frees, snap.blocks), list(live), list(parked)))
        elif r < 0.78 and snaps:
            snap, taken, live, parked = snaps[-rng.randrange(1, min(len(snaps), 5) + 1)]
            live, parked = list(live), list(parked)
            heap.restore(snap)
            assert books(heap._top, heap._serial, heap._frees, heap.in_order()) == taken
        serials = [b.serial for b in heap.in_order()]
        assert serials == sorted(serials)
    assert len(snaps) > 50 and heap._frees > 100
    for snap, taken, _live, _parked in snaps:  # nothing a snapshot holds has changed since
        assert books(snap.top, snap.serial, snap.frees, snap.blocks) == taken
