"""An emulated CPython 3.14.7 process: the memory map and the objects every executor meets.

    p = Process(load_profile("3.14", "aarch64"))
    code = p.new_code(b"\\0" * 64, nlocals=3)
    frame = p.new_frame(code, 3, [stackref_owned(p.new_int(1000))], [])
    p.view("PyThreadState", p.tstate).current_executor

Regions (all page-aligned, addresses configurable with :class:`LayoutConfig`), named after what
they hold in a real process:

==========  =====================================================================================
jit         one executor's code and data (a fresh mmap in CPython)
stubs       one small trap per external C function; calls into it run a Python model (cfuncs)
statics     static objects of the executable: PyLong_Type ..., _Py_NoneStruct, PyExc_* pointers,
            _PyEval_BinaryOps and the other data tables stencils reference
runtime     _PyRuntime (with the main interpreter as its last member and the small ints inside)
tstate      the thread state (a _PyThreadStateImpl)
heap        objects (deterministic allocator, see heap.py)
code        code objects with their co_code_adaptive bytecode
datastack   the thread's data stack: interpreter frames
cstack      the C stack the machine starts on
==========  =====================================================================================

By default the JIT region is far (> 2 GiB) from the stubs, as with a PIE ``python`` (FACTS c.3),
so x86-64 GOT calls are not relaxed; ``LayoutConfig(jit_near_stubs=True)`` puts it close.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Sequence

from refjit.errors import RuntimeModelError, SpecError
from refjit.profile import Profile
from refjit.runtime import cfuncs
from refjit.runtime.heap import Heap, HeapSnapshot
from refjit.runtime.memory import (
    PROT_RW,
    PROT_RWX,
    PROT_RX,
    Memory,
    MemorySnapshot,
    Region,
    page_align_up,
)
from refjit.runtime.objects import STACKREF_NULL, Objects, object_offsets
from refjit.runtime.views import StructBuffer, View

_U16, _U32, _U64 = struct.Struct("<H"), struct.Struct("<I"), struct.Struct("<Q")
_SIGNED = {1: struct.Struct("<b"), 2: struct.Struct("<h"), 4: struct.Struct("<i"), 8: struct.Struct("<q")}

GiB = 1 << 30
STUB_SPACING = 16


@dataclass(frozen=True)
class LayoutConfig:
    """Where the regions go. Bases must be page-aligned and regions must not overlap."""

    stubs_base: int = 0x5555_5560_0000  # text of the executable (PIE, 0x55...)
    statics_base: int = 0x5555_5580_0000  # its .data
    runtime_base: int = 0x5555_55A0_0000  # _PyRuntime lives in .data too
    tstate_base: int = 0x5555_55C0_0000
    heap_base: int = 0x7FEF_F000_0000  # obmalloc arenas (mmap, 0x7f...)
    heap_size: int = 1 << 20
    code_base: int = 0x7FEF_FE00_0000
    code_size: int = 64 << 10
    datastack_base: int = 0x7FEF_FD00_0000
    datastack_size: int = 64 << 10
    cstack_base: int = 0x7FFF_FFF0_0000
    cstack_size: int = 64 << 10
    jit_base: int = 0x7FF0_0000_0000  # a fresh mmap: far from the executable
    jit_size: int = 256 << 10
    jit_near_stubs: bool = False  # place the JIT region jit_near_offset after the stubs instead
    jit_near_offset: int = 0x1000_0000
    # Where the thread state lives: its own region (default), or where CPython puts the main
    # thread's, _PyRuntime._main_interpreter._initial_thread.
    tstate_in_runtime: bool = False
    # Executors other than the one being run get code addresses here, 64 KiB apart: unmapped,
    # distinct and non-zero, so a side exit into one shows as a jump to its jit_side_entry.
    foreign_jit_base: int = 0x7FF1_0000_0000

    @property
    def jit_address(self) -> int:
        return self.stubs_base + self.jit_near_offset if self.jit_near_stubs else self.jit_base


class _Members:
    """Integer members of one struct, set in a StructBuffer all at once by position.

    Each is packed at its offset with the signed format of its size: for every value in that
    range these are the bytes StructBuffer stores (a negative value in an unsigned member is its
    two's complement there too), without a look-up and checks per member. If a value is out of
    that range or not an int, the members are set through the StructBuffer instead, which
    converts what fits and names the member that does not."""

    def __init__(self, profile: Profile, struct_name: str, names: Sequence[str]):
        self.names = tuple(names)
        self._stores = []
        for name in self.names:
            f = profile.field(struct_name, name)
            ctype = f.ctype.replace("const ", "").strip()
            if f.width is not None or f.array_length is not None or f.size not in _SIGNED \
                    or ctype in profile.structs or ctype in ("float", "double"):
                raise SpecError(f"{struct_name}.{name} is not an integer or pointer member")
            self._stores.append((_SIGNED[f.size].pack_into, f.offset))

    def store(self, buffer: StructBuffer, *values: int) -> None:
        data = buffer.data
        try:
            for (pack_into, offset), value in zip(self._stores, values):
                pack_into(data, offset, value)
        except struct.error:
            for name, value in zip(self.names, values):
                buffer[name] = value


def _copy_freelists(freelists: dict[str, list[int]]) -> dict[str, list[int]]:
    # What copy.deepcopy gives for lists of addresses, without its generic machinery.
    return {name: list(entries) for name, entries in freelists.items()}


@dataclass(frozen=True)
class ProcessSnapshot:
    memory: MemorySnapshot
    heap: HeapSnapshot
    freelists: dict
    code_top: int
    statics_top: int
    executors: tuple
    foreign_executors: int


class Process(Objects):
    """A CPython 3.14.7 process in emulated memory, for one architecture's profile."""

    def __init__(self, profile: Profile, *, layout: LayoutConfig = LayoutConfig()):
        self.profile = profile
        self.arch = profile.arch
        self.layout = layout
        self.consts = profile.consts
        self.o = object_offsets(profile)
        self._object_heads: dict[tuple[str, bool], tuple[int, bytes]] = {}  # see _object_bytes
        self._str_bytes: dict[tuple[str, bool], tuple[int, bytes]] = {}  # see new_str
        self.mem = Memory()
        self.symbols: dict[str, int] = {}
        self.freelists: dict[str, list[int]] = {}
        self._models: dict[int, cfuncs.CModel] = {}
        self.executors: list[int] = []  # every executor built here, in order (the interpreter links them too)
        self._foreign_executors = 0  # how many got an address from LayoutConfig.foreign_jit_base
        self.optimizer = None  # optional hook for _PyOptimizer_Optimize(process, frame, start, executor_ptr, depth)
        self._type_addr: dict[str, int] = {}
        self._type_by_addr: dict[int, str] = {}
        self._type_flags: dict[str, int] = {}
        self._type_basicsize: dict[str, int] = {}
        self._o_current_exception = profile.offset("PyThreadState", "current_exception")
        self._o_ref_tracer = profile.offset("_PyRuntimeState", "ref_tracer.tracer_func")
        # What new_code, new_frame and new_executor set, read and link, looked up once.
        off = profile.offset
        self._o_datastack_top = off("PyThreadState", "datastack_top")
        self._o_datastack_limit = off("PyThreadState", "datastack_limit")
        self._o_current_frame = off("PyThreadState", "current_frame")
        self._o_executor_list_head = off("PyInterpreterState", "executor_list_head")
        self._o_co_stacksize = off("PyCodeObject", "co_stacksize")
        self._o_co_code_adaptive = off("PyCodeObject", "co_code_adaptive")
        self._o_localsplus = off("_PyInterpreterFrame", "localsplus")
        self._o_stackpointer = off("_PyInterpreterFrame", "stackpointer")
        self._o_executor_exits = off("_PyExecutorObject", "exits")
        self._o_links_previous = off("_PyExecutorObject", "vm_data.links.previous")
        self._exit_size = profile.sizeof("_PyExitData")
        self._uop_size = profile.sizeof("_PyUOpInstruction")
        self._o_exit_target = off("_PyExitData", "target")
        self._o_exit_temperature = off("_PyExitData", "temperature.value_and_backoff")
        self._code_ints = _Members(profile, "PyCodeObject", (
            "ob_size", "co_flags", "co_argcount", "co_stacksize", "co_firstlineno", "co_nlocalsplus",
            "co_nlocals", "co_framesize"))
        self._code_objects = _Members(profile, "PyCodeObject", (
            "co_consts", "co_names", "co_name", "co_qualname", "co_filename", "co_localsplusnames"))
        self._frame_members = _Members(profile, "_PyInterpreterFrame", (
            "f_executable.bits", "previous", "f_funcobj.bits", "instr_ptr", "stackpointer",
            "return_offset", "owner"))
        # The byte of vm_data's valid, linked and chain_depth bitfields in a new executor (linked,
        # chain depth 0): by validity, as StructBuffer sets it in a zeroed executor.
        self._o_vm_flags = profile.field("_PyExecutorObject", "vm_data.valid").offset
        if profile.field("_PyExecutorObject", "vm_data.linked").offset != self._o_vm_flags:
            raise SpecError("_PyExecutorObject: vm_data.valid and vm_data.linked are not in one byte")
        self._vm_flags = {}
        for valid in (False, True):
            b = StructBuffer(profile, "_PyExecutorObject", bytearray(profile.sizeof("_PyExecutorObject")))
            b["vm_data.valid"] = int(valid)
            b["vm_data.linked"] = 1
            self._vm_flags[valid] = b.data[self._o_vm_flags]
        self._executor_members = _Members(profile, "_PyExecutorObject", (
            "ob_size", "trace", "code_size", "exit_count", "vm_data.warm", "vm_data.index",
            "vm_data.code", "vm_data.links.previous", "vm_data.links.next", "jit_code", "jit_size",
            "jit_side_entry"))

        L = layout
        n_stubs = len(profile.symbols) + 128  # plus the stubs data tables point at (binary ops, ...)
        runtime_size = page_align_up(profile.sizeof("_PyRuntimeState"))
        self.regions = {
            r.name: self.mem.add(r)
            for r in (
                Region("stubs", L.stubs_base, page_align_up(n_stubs * STUB_SPACING), PROT_RX),
                Region("statics", L.statics_base, 64 << 10, PROT_RW),
                Region("runtime", L.runtime_base, runtime_size, PROT_RW),
                *(() if L.tstate_in_runtime else
                  (Region("tstate", L.tstate_base, page_align_up(profile.sizeof("_PyThreadStateImpl")), PROT_RW),)),
                Region("heap", L.heap_base, L.heap_size, PROT_RW),
                Region("code", L.code_base, L.code_size, PROT_RW),
                Region("datastack", L.datastack_base, L.datastack_size, PROT_RW),
                Region("cstack", L.cstack_base, L.cstack_size, PROT_RW),
                Region("jit", L.jit_address, L.jit_size, PROT_RWX),
            )
        }
        self.heap = Heap(self.mem, self.regions["heap"])
        self._statics_top = L.statics_base
        self._code_top = L.code_base
        self._stub_top = L.stubs_base

        self.runtime = L.runtime_base
        self.interp = self.runtime + profile.main_interpreter_offset
        self.tstate = (self.interp + profile.offset("PyInterpreterState", "_initial_thread")
                       if L.tstate_in_runtime else L.tstate_base)
        self.small_ints_base = self.runtime + profile.const("static_objects.singletons.small_ints")
        # The C stack pointer a machine starts with: 16-byte aligned, a little below the top.
        self.cstack_top = L.cstack_base + L.cstack_size - 256
        self.symbols["_PyRuntime"] = self.runtime

        self._build_stubs()
        self._build_types()
        self._build_singletons()
        self._build_runtime()
        self._build_data_tables()
        self._build_tstate()
        missing = set(profile.symbols) - set(self.symbols)
        if missing:
            raise RuntimeModelError(f"the emulated process has no address for {sorted(missing)}")
        # The state just built (runtime, statics, stubs) is the same for every process of this
        # profile and layout: keeping it lets reset() give a fresh process for a memory copy.
        self._pristine = self.snapshot()

    def __repr__(self) -> str:
        return f"<Process CPython {self.profile.patchlevel} {self.arch}>"

    # -- public helpers ----------------------------------------------------------------------------
    def view(self, struct_name: str, address: int) -> View:
        """A typed view of ``struct_name`` at ``address`` (fields by CPython's names)."""
        return View(self.mem, self.profile, struct_name, address)

    def model_at(self, addr: int) -> cfuncs.CModel | None:
        """The C-function model whose stub is at ``addr`` (None: not a stub)."""
        return self._models.get(addr)

    def stub_address(self, name: str) -> int:
        return self.symbols[name] if name in self.symbols else self._missing_symbol(name)

    def _missing_symbol(self, name: str) -> int:
        raise RuntimeModelError(f"the emulated process has no symbol {name!r}")

    def symbol_at(self, addr: int) -> str | None:
        """The symbol whose stub or static object starts at ``addr``."""
        for name, a in self.symbols.items():
            if a == addr:
                return name
        return None

    @property
    def stub_trap(self) -> bytes:
        """The bytes a stub holds, so executing one without the machine's hook faults."""
        if self.arch == "x86_64":
            # ud2: an invalid-instruction fault (Unicorn treats hlt as a silent stop, not a fault)
            return b"\x0f\x0b" * (STUB_SPACING // 2)
        return (0xD4200000).to_bytes(4, "little") * (STUB_SPACING // 4)  # brk #0

    # -- snapshots ---------------------------------------------------------------------------------
    def snapshot(self) -> ProcessSnapshot:
        return ProcessSnapshot(
            self.mem.snapshot(), self.heap.snapshot(), _copy_freelists(self.freelists), self._code_top,
            self._statics_top, tuple(self.executors), self._foreign_executors,
        )

    def restore(self, snap: ProcessSnapshot) -> None:
        self.mem.restore(snap.memory)
        self.heap.restore(snap.heap)
        self.freelists = _copy_freelists(snap.freelists)
        self._code_top = snap.code_top
        self._statics_top = snap.statics_top
        self.executors = list(snap.executors)
        self._foreign_executors = snap.foreign_executors

    def reset(self) -> None:
        """Back to the state right after construction (what a new Process would hold)."""
        self.restore(self._pristine)
        self.optimizer = None

    # -- layout: bump allocation in the fixed regions ------------------------------------------
    def _static_alloc(self, size: int, align: int = 16) -> int:
        addr = (self._statics_top + align - 1) & ~(align - 1)
        if addr + size > self.regions["statics"].end:
            raise RuntimeModelError("the statics region is full")
        self._statics_top = addr + size
        return addr

    def _static_cstring(self, s: str) -> int:
        data = s.encode() + b"\0"
        addr = self._static_alloc(len(data), 1)
        self.mem.write(addr, data)
        return addr

    def _static_header(self, op: int, type_addr: int) -> None:
        """_PyObject_HEAD_INIT of a static object: refcount 3<<30, flags STATICALLY_ALLOCATED|IMMORTAL."""
        c = self.consts
        self.mem.set_u64(op, c._Py_IMMORTAL_INITIAL_REFCNT | (c._Py_STATIC_FLAG_BITS << 48))
        self.mem.set_u64(op + self.o.type, type_addr)

    def _add_stub(self, name: str) -> int:
        if name in self.symbols:
            return self.symbols[name]
        addr = self._stub_top
        # The page's last slot stays free: the machine uses it as its return trap.
        if addr + 2 * STUB_SPACING > self.regions["stubs"].end:
            raise RuntimeModelError("the stub page is full")
        self._stub_top += STUB_SPACING
        self.mem.write(addr, self.stub_trap)
        self.symbols[name] = addr
        self._models[addr] = cfuncs.model_for(name)
        return addr

    # -- building the process ----------------------------------------------------------------------
    def _build_stubs(self) -> None:
        names = sorted(n for n, s in self.profile.symbols.items() if s.kind == "function")
        names += sorted(set(cfuncs.EXTRA_FUNCTIONS) - set(names))
        for name in names:
            self._add_stub(name)

    def _build_types(self) -> None:
        ptype = self.profile.struct("PyTypeObject")
        specs = self.profile.types
        # Addresses first: every type object's ob_type is PyType_Type.
        for t in specs:
            addr = self._static_alloc(ptype.size)
            self.symbols[t.symbol] = addr
            self._type_addr[t.tp_name] = addr
            self._type_by_addr[addr] = t.tp_name
        next_version = self.consts._Py_TYPE_VERSION_NEXT
        iternext = {"range_iterator": "rangeiter_next", "list_iterator": "listiter_next",
                    "tuple_iterator": "tupleiter_next"}
        for t in specs:
            addr = self.symbols[t.symbol]
            v = self.view("PyTypeObject", addr)
            self._static_header(addr, self.symbols["PyType_Type"])
            v.ob_size = 0
            v.tp_name = self._static_cstring(t.tp_name)
            v.tp_basicsize = t.tp_basicsize
            v.tp_itemsize = t.tp_itemsize
            version = t.tp_version_tag
            if version is None:
                version, next_version = next_version, next_version + 1
            flags = t.tp_flags
            v.tp_flags = flags
            v.tp_version_tag = version
            if t.tp_name in iternext:
                v.tp_iternext = self._add_stub(iternext[t.tp_name])
            self._type_flags[t.tp_name] = flags
            self._type_basicsize[t.tp_name] = t.tp_basicsize
            if t.exception_pointer:
                slot = self._static_alloc(8, 8)
                self.mem.set_u64(slot, addr)
                self.symbols[t.exception_pointer] = slot

    def _build_singletons(self) -> None:
        none = self._static_alloc(self.profile.sizeof("PyObject"))
        self._static_header(none, self._type_addr["NoneType"])
        self.symbols["_Py_NoneStruct"] = none
        for name, value in (("_Py_FalseStruct", 0), ("_Py_TrueStruct", 1)):
            op = self._static_alloc(self.o.long_size)
            self._static_header(op, self._type_addr["bool"])
            self.mem.set_u64(op + self.o.lv_tag, self.consts._PyLong_TRUE_TAG if value else self.consts._PyLong_FALSE_TAG)
            self.mem.set_u32(op + self.o.digits, value)
            self.symbols[name] = op
        # The empty tuple singleton: _PyRuntime.static_objects.singletons.tuple_empty.
        self.empty_tuple = self.runtime + self.profile.const("static_objects.singletons.tuple_empty")
        self._static_header(self.empty_tuple, self._type_addr["tuple"])
        self.mem.set_i64(self.empty_tuple + self.o.ob_size, 0)
        self.mem.set_i64(self.empty_tuple + self.o.tuple_hash, -1)

    def _build_runtime(self) -> None:
        long_type = self._type_addr["int"]
        for v in range(-5, 257):
            op = self.small_int(v)
            self._static_header(op, long_type)
            tag = (1 - ((v > 0) - (v < 0))) | ((1 if v else 0) << 3) | self.consts.IMMORTALITY_BIT_MASK
            self.mem.set_u64(op + self.o.lv_tag, tag)
            self.mem.set_u32(op + self.o.digits, abs(v))
        # Interned static strings the stencils name by _PyRuntime offset (FACTS d.3).
        for key, text in (("strings.empty", ""), ("strings.__annotations__", "__annotations__"),
                          ("strings.__build_class__", "__build_class__")):
            self._static_ascii(self.runtime + self.profile.const(key), text)
        ascii_base = self.runtime + self.profile.const("strings.ascii")
        for ch in range(128):
            self._static_ascii(ascii_base + self.o.ascii_stride * ch, chr(ch))
        iv = self.view("PyInterpreterState", self.interp)
        iv.trace_run_counter = self.consts.JIT_CLEANUP_THRESHOLD
        iv.jit = 1
        iv.common_consts[2] = self._type_addr["tuple"]  # CONSTANT_BUILTIN_TUPLE

    def _static_ascii(self, op: int, s: str) -> None:
        self._static_header(op, self._type_addr["str"])
        self._init_ascii(op, s)
        # interned: SSTATE_INTERNED_IMMORTAL_STATIC (3); statically_allocated: 1
        self.mem.set_u32(op + self.o.str_state, self.o.str_state_ascii | self.o.str_state_static)

    def _build_data_tables(self) -> None:
        table = self.profile.const("_PyEval_BinaryOps")
        base = self._static_alloc(8 * len(table), 8)
        for i, fn in enumerate(table):
            self.mem.set_u64(base + 8 * i, self._add_stub(fn))
        self.symbols["_PyEval_BinaryOps"] = base
        conv = self._static_alloc(32, 8)
        for i, fn in enumerate(("PyObject_Str", "PyObject_Repr", "PyObject_ASCII")):
            self.mem.set_u64(conv + 8 * i, self._add_stub(fn))
        self.mem.set_u64(conv + 24, 0)
        self.symbols["_PyEval_ConversionFuncs"] = conv
        # {func, name} pairs; the functions are stubs without models so a call shows by name.
        for sym, n in (("_PyIntrinsics_UnaryFunctions", 12), ("_PyIntrinsics_BinaryFunctions", 5)):
            t = self._static_alloc(16 * n, 8)
            for i in range(n):
                self.mem.set_u64(t + 16 * i, self._add_stub(f"{sym}[{i}]"))
                self.mem.set_u64(t + 16 * i + 8, self._static_cstring(f"{sym}[{i}]"))
            self.symbols[sym] = t
        # _Py_FunctionAttributeOffsets[MAKE_FUNCTION_*] = offsetof(PyFunctionObject, ...)
        offs = self._static_alloc(8 * 17, 8)
        for flag, fieldname in ((0x01, "func_defaults"), (0x02, "func_kwdefaults"), (0x04, "func_annotations"),
                                (0x08, "func_closure"), (0x10, "func_annotate")):
            self.mem.set_u64(offs + 8 * flag, self.profile.offset("PyFunctionObject", fieldname))
        self.symbols["_Py_FunctionAttributeOffsets"] = offs
        # Not modelled: zero-filled stand-ins with a plausible size.
        self.symbols["_Py_SpecialMethods"] = self._static_alloc(16 * 8, 8)
        # _Py_InitCleanup: a static code object (_PyCode8) whose bytecode is not modelled (zeros).
        init_cleanup = self._static_alloc(self.profile.offset("PyCodeObject", "co_code_adaptive") + 8)
        self._static_header(init_cleanup, self._type_addr["code"])
        self.symbols["_Py_InitCleanup"] = init_cleanup

    def _build_tstate(self) -> None:
        t = self.view("PyThreadState", self.tstate)
        t.interp = self.interp
        t.eval_breaker = 0
        t["_status.initialized"] = 1
        t["_status.bound"] = 1
        t["_status.bound_gilstate"] = 1
        t["_status.active"] = 1
        t.holds_gil = 1
        t.py_recursion_limit = 1000
        t.py_recursion_remaining = 1000
        t.current_frame = 0
        t.current_exception = 0
        t.exc_info = t.addr_of("exc_state")
        t.current_executor = 0
        # The data stack: one _PyStackChunk spanning the region.
        ds = self.regions["datastack"]
        chunk = self.view("_PyStackChunk", ds.base)
        chunk.previous = 0
        chunk.size = ds.size
        chunk.top = 0
        t.datastack_chunk = ds.base
        t.datastack_top = chunk.addr_of("data")
        t.datastack_limit = ds.end
        impl = self.view("_PyThreadStateImpl", self.tstate)
        cs = self.regions["cstack"]
        impl.c_stack_top = cs.end
        impl.c_stack_soft_limit = cs.base + 16 * 1024
        impl.c_stack_hard_limit = cs.base + 8 * 1024
        impl.c_stack_init_base = cs.base
        impl.c_stack_init_top = cs.end
        impl.refcount = 1

    # -- code objects, frames, executors -----------------------------------------------------------
    def new_code(self, bytecode: bytes, *, nlocals: int = 0, stacksize: int = 8, argcount: int = 0,
                 consts: Sequence[int] = (), names: Sequence[int] = (), name: str = "f",
                 firstlineno: int = 1, flags: int = 0, varnames: Sequence[str] | None = None) -> int:
        """A code object in the code region; ``bytecode`` becomes co_code_adaptive (2-byte units).
        ``consts``/``names`` are object addresses (the tuples take new references);
        ``varnames`` name the locals (co_localsplusnames, a tuple of str; default x0, x1, ...),
        which _LOAD_FAST_CHECK puts into its UnboundLocalError."""
        if len(bytecode) % 2:
            raise RuntimeModelError("bytecode must be a whole number of 2-byte code units")
        if varnames is None:
            varnames = [f"x{i}" for i in range(nlocals)]
        if len(varnames) != nlocals:
            raise RuntimeModelError(f"{len(varnames)} variable names for {nlocals} locals")
        base = self.profile.offset("PyCodeObject", "co_code_adaptive")
        size = (base + len(bytecode) + 15) & ~15
        op = self._code_top
        if op + size > self.regions["code"].end:
            raise RuntimeModelError("the code region is full (enlarge LayoutConfig.code_size)")
        self._code_top += size
        # The whole object (zeroed, then its members and bytecode) is built in a buffer and
        # written once; its members' objects are allocated in the heap in the same order.
        v = StructBuffer(self.profile, "PyCodeObject", bytearray(size))
        _U64.pack_into(v.data, 0, 1)  # ob_refcnt_full = 1: refcount 1, overflow 0, flags 0
        _U64.pack_into(v.data, self.o.type, self._type_addr["code"])
        co_consts = self.new_tuple(list(consts))
        co_names = self.new_tuple(list(names))
        self._code_ints.store(v, len(bytecode) // 2, flags, argcount, stacksize, firstlineno, nlocals,
                              nlocals, nlocals + stacksize + self.consts.FRAME_SPECIALS_SIZE)
        co_name = self.new_str(name, immortal=True)
        co_filename = self.new_str("<refjit>", immortal=True)
        localsplusnames = self.new_tuple([self.new_str(n, immortal=True) for n in varnames], steal=True)
        self._code_objects.store(v, co_consts, co_names, co_name, co_name, co_filename, localsplusnames)
        v.data[base:base + len(bytecode)] = bytecode
        self.mem.write(op, v.data)
        return op

    def bytecode_address(self, code: int, index: int = 0) -> int:
        """Address of code unit ``index`` of co_code_adaptive (what _PyFrame_GetBytecode + index gives)."""
        return code + self._o_co_code_adaptive + 2 * index

    def new_frame(self, code: int, nlocals: int, locals: Sequence[int] = (), stack: Sequence[int] = (),
                  *, instr_index: int = 0, previous: int = 0) -> int:
        """An interpreter frame on the data stack, made current in the thread state.
        ``locals``/``stack`` are stack-ref bits (see stackref_owned/borrowed); missing locals
        are NULL. f_executable is a new reference to ``code``. Returns the frame address;
        the stack pointer is ``frame_stack_pointer(frame)``."""
        if len(locals) > nlocals:
            raise RuntimeModelError(f"{len(locals)} locals given for a frame with {nlocals}")
        stacksize = self.mem.i32(code + self._o_co_stacksize)
        if len(stack) > stacksize:
            raise RuntimeModelError(f"{len(stack)} stack items for a code object with co_stacksize {stacksize}")
        tstate, mem = self.tstate, self.mem
        frame = mem.u64(tstate + self._o_datastack_top)
        words = nlocals + stacksize + self.consts.FRAME_SPECIALS_SIZE
        if frame + 8 * words > mem.u64(tstate + self._o_datastack_limit):
            raise RuntimeModelError("the data stack is full (enlarge LayoutConfig.datastack_size)")
        # The frame (zeroed, then its members and slots) is built in a buffer and written once.
        f = StructBuffer(self.profile, "_PyInterpreterFrame", bytearray(8 * words))
        lp = self._o_localsplus
        slots = [locals[i] if i < len(locals) else STACKREF_NULL for i in range(nlocals)] + list(stack)
        # f_executable, previous, f_funcobj, instr_ptr, stackpointer, return_offset, owner
        self._frame_members.store(f, self.stackref_new(code), previous, STACKREF_NULL,
                                  self.bytecode_address(code, instr_index), frame + lp + 8 * len(slots),
                                  0, self.consts.FRAME_OWNED_BY_THREAD)
        try:
            struct.pack_into(f"<{len(slots)}Q", f.data, lp, *slots)
        except struct.error:  # a slot that does not fit: the typed writes say which, and where
            for i, bits in enumerate(slots):
                mem.set_u64(frame + lp + 8 * i, bits)
            raise
        mem.write(frame, f.data)
        mem.set_u64(tstate + self._o_datastack_top, frame + 8 * words)
        mem.set_u64(tstate + self._o_current_frame, frame)
        return frame

    def frame_stack_pointer(self, frame: int) -> int:
        return self.mem.u64(frame + self._o_stackpointer)

    def frame_local_address(self, frame: int, i: int) -> int:
        return frame + self.profile.offset("_PyInterpreterFrame", "localsplus") + 8 * i

    def new_executor(self, exit_targets: Sequence[int] = (), *, trace_length: int = 0, code: int = 0,
                     jit_code: int | None = None, jit_size: int | None = None, shim_size: int | None = None,
                     immortal: bool = False, valid: bool = True, chain_depth: int = 0) -> int:
        """A _PyExecutorObject as make_executor_from_uops leaves it: valid (unless ``valid`` is
        false), warm, at ``chain_depth``, exits with their tier-1 targets, cold temperature and
        no executor; room for ``trace_length`` uops; linked on the interpreter's executor list.
        Without ``jit_code`` the executor gets its own unmapped code address
        (LayoutConfig.foreign_jit_base + k * 64 KiB); set jit_code/jit_side_entry to the linked
        region for the executor that actually runs. jit_side_entry = jit_code + the shim's size."""
        if jit_code is None:
            jit_code = self.layout.foreign_jit_base + self._foreign_executors * 0x10000
            self._foreign_executors += 1
            if self.mem.is_mapped(jit_code):
                raise RuntimeModelError(f"LayoutConfig.foreign_jit_base puts executor code at mapped {jit_code:#x}")
            if jit_size is None:
                jit_size = 0x1000
        exit_size, base = self._exit_size, self._o_executor_exits
        var = len(exit_targets) * exit_size + trace_length * self._uop_size
        gc, head = self._object_head("uop_executor")
        op = self.heap.malloc(base + var, "uop_executor", header=gc, init=head)  # _object_malloc
        # The object as _object_malloc left its header, the rest zeroed, built in a buffer with
        # its members and exits and written once. link_executor (_Py_ExecutorInit) pushes it on
        # interp->executor_list_head: its own links are set here, the old head's and the list's
        # after the write.
        head = head[gc:]
        e = StructBuffer(self.profile, "_PyExecutorObject", bytearray(head) + bytes(base - len(head) + var))
        list_head = self.interp + self._o_executor_list_head
        old_head = self.mem.u64(list_head)
        shim = self.profile.abi.shim_code_size if shim_size is None else shim_size
        # ob_size, trace, code_size, exit_count, warm, index, code, links.previous, links.next,
        # jit_code, jit_size, jit_side_entry
        self._executor_members.store(e, var, op + base + len(exit_targets) * exit_size, trace_length,
                                     len(exit_targets), 1, -1, code, 0, old_head, jit_code, jit_size or 0,
                                     jit_code + shim if jit_code else 0)
        e.data[self._o_vm_flags] = self._vm_flags[bool(valid)]  # vm_data.valid, vm_data.linked = 1
        if chain_depth:
            e["vm_data.chain_depth"] = chain_depth
        temperature = (self.consts.SIDE_EXIT_INITIAL_VALUE << self.consts.BACKOFF_BITS) | self.consts.SIDE_EXIT_INITIAL_BACKOFF
        at_target, at_temperature = self._o_exit_target, self._o_exit_temperature
        for i, target in enumerate(exit_targets):
            if not 0 <= target < 1 << 32:       # the view's store says what does not fit
                self.view("_PyExecutorObject", op).exits[i].target = target
            x = base + i * exit_size          # exits[i]: target, temperature (executor stays 0)
            _U32.pack_into(e.data, x + at_target, target & 0xFFFF_FFFF)
            _U16.pack_into(e.data, x + at_temperature, temperature)
        self.mem.write(op, e.data)
        if immortal:
            self.make_immortal(op)
        self.executors.append(op)
        if old_head:
            self.mem.set_u64(old_head + self._o_links_previous, op)
        self.mem.set_u64(list_head, op)
        return op

    def _unlink_executor(self, op: int) -> None:
        e = self.view("_PyExecutorObject", op)
        if not e["vm_data.linked"]:
            return
        nxt, prev = e["vm_data.links.next"], e["vm_data.links.previous"]
        if nxt:
            self.view("_PyExecutorObject", nxt)["vm_data.links.previous"] = prev
        if prev:
            self.view("_PyExecutorObject", prev)["vm_data.links.next"] = nxt
        else:
            self.view("PyInterpreterState", self.interp).executor_list_head = nxt
        e["vm_data.linked"] = 0

    def executor_clear(self, op: int) -> None:
        """executor_clear: unlink, invalidate, make every exit unreachable and drop its executor,
        detach from the code object (restoring the instruction ENTER_EXECUTOR replaced)."""
        e = self.view("_PyExecutorObject", op)
        if not e["vm_data.valid"]:
            return
        self._unlink_executor(op)
        e["vm_data.valid"] = 0
        self.incref(op)  # an executor can reach itself through an exit
        for k in range(e.exit_count):
            x = e.exits[k]
            x.temperature = self.consts.UNREACHABLE_BACKOFF  # make_backoff_counter(0, UNREACHABLE_BACKOFF)
            side, x.executor = x.executor, 0
            self.xdecref(side)
        self._executor_detach(op)
        self.decref(op)

    def _executor_detach(self, op: int) -> None:
        """_Py_ExecutorDetach: give the bytecode its instruction back and drop co_executors' reference."""
        e = self.view("_PyExecutorObject", op)
        code = e["vm_data.code"]
        if not code:
            return
        instr = self.bytecode_address(code, e["vm_data.index"])
        index = self.mem.u8(instr + 1)
        self.mem.set_u8(instr, e["vm_data.opcode"])
        self.mem.set_u8(instr + 1, e["vm_data.oparg"])
        e["vm_data.code"] = 0
        self.view("_PyExecutorArray", self.view("PyCodeObject", code).co_executors).executors[index] = 0
        self.decref(op)

    def invalidate_cold_executors(self) -> None:
        """_Py_Executors_InvalidateCold: walk interp->executor_list_head; executors not run since
        the last sweep (warm == 0) are collected in a list (a real list object, PyList_Append
        takes references) and cleared; every executor is marked cold for the next sweep."""
        invalidate = self.new_list([])
        ex = self.view("PyInterpreterState", self.interp).executor_list_head
        while ex:
            e = self.view("_PyExecutorObject", ex)
            nxt = e["vm_data.links.next"]
            if not e["vm_data.warm"]:
                self.incref(ex)
                n = self.mem.i64(invalidate + self.o.ob_size)
                self.list_resize(invalidate, n + 1)
                self.mem.set_u64(self.mem.u64(invalidate + self.o.list_items) + 8 * n, ex)
            e["vm_data.warm"] = 0
            ex = nxt
        for ex in self.list_items(invalidate):
            self.executor_clear(ex)
        self.decref(invalidate)

    def insert_executor(self, code: int, instr_index: int, executor: int) -> int:
        """What CPython does when it installs an executor at a JUMP_BACKWARD: the code object's
        co_executors array grows (PyMem, capacity 4, 8, ...), the executor is recorded there with
        a new reference, its vm_data remembers the replaced instruction, and the instruction
        becomes ENTER_EXECUTOR with the array index as oparg. Returns that index."""
        cv = self.view("PyCodeObject", code)
        instr = self.bytecode_address(code, instr_index)
        arr = cv.co_executors
        enter = self.consts.ENTER_EXECUTOR
        if self.mem.u8(instr) == enter:
            index = self.mem.u8(instr + 1)  # replacing: the old one is detached, not decrefed here
        else:
            size = self.mem.i32(arr) if arr else 0
            capacity = self.mem.i32(arr + 4) if arr else 0
            if size == capacity:
                capacity = capacity * 2 if capacity else 4
                header = self.profile.offset("_PyExecutorArray", "executors")
                arr = self.mem_realloc(arr, header + 8 * capacity)
                a = self.view("_PyExecutorArray", arr)
                a.capacity = capacity
                a.size = size
                cv.co_executors = arr
            index = size
            self.view("_PyExecutorArray", arr).size = size + 1
        self.incref(executor)
        e = self.view("_PyExecutorObject", executor)
        e["vm_data.opcode"] = self.mem.u8(instr)
        e["vm_data.oparg"] = self.mem.u8(instr + 1)
        e["vm_data.code"] = code
        e["vm_data.index"] = instr_index
        self.view("_PyExecutorArray", arr).executors[index] = executor
        self.mem.set_u8(instr, enter)
        self.mem.set_u8(instr + 1, index)
        return index

    def exit_address(self, executor: int, k: int) -> int:
        """&executor->exits[k] (what an _EXIT_TRACE's operand0 holds)."""
        return executor + self._o_executor_exits + k * self._exit_size

    def _dealloc_uop_executor(self, op: int) -> None:
        """uop_dealloc: invalidate, then park on the interpreter's pending-deletion list; with no
        capacity left (0 at start-up) the list is cleared at once, freeing every executor on it
        except the one the thread is running."""
        e = self.view("_PyExecutorObject", op)
        iv = self.view("PyInterpreterState", self.interp)
        self._unlink_executor(op)
        e["vm_data.valid"] = 0
        e["vm_data.links.next"] = iv.executor_deletion_list_head
        iv.executor_deletion_list_head = op
        if iv.executor_deletion_list_remaining_capacity > 0:
            iv.executor_deletion_list_remaining_capacity -= 1
        else:
            self.clear_executor_deletion_list()

    def clear_executor_deletion_list(self) -> None:
        """_Py_ClearExecutorDeletionList: free the pending executors that are not running."""
        iv = self.view("PyInterpreterState", self.interp)
        current = self.view("PyThreadState", self.tstate).current_executor
        if current:
            self.view("_PyExecutorObject", current)["vm_data.linked"] = 1
        prev_slot = iv.addr_of("executor_deletion_list_head")
        ex = self.mem.u64(prev_slot)
        next_off = self.profile.offset("_PyExecutorObject", "vm_data.links.next")
        while ex:
            e = self.view("_PyExecutorObject", ex)
            if e["vm_data.linked"]:
                e["vm_data.linked"] = 0
                prev_slot = ex + next_off
            else:
                self.mem.set_u64(prev_slot, e["vm_data.links.next"])
                self.heap.free(ex)  # free_executor: _PyJIT_Free (nothing mapped here) + PyObject_GC_Del
            ex = self.mem.u64(prev_slot)
        iv.executor_deletion_list_remaining_capacity = self.consts.EXECUTOR_DELETE_LIST_MAX
