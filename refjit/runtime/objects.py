"""CPython 3.14 objects in emulated memory: constructors, deallocators, readers, stack refs.

Everything here follows what the C functions of CPython 3.14.7 do to memory, because an
executor's behaviour is judged by the memory it leaves: which objects exist at which address
with which reference count. So constructors take from the same freelists CPython would
(``PyFloat_FromDouble`` pops the float freelist, ``PyLong_FromLong`` the ints freelist), and
deallocators push to them (LIFO, linked through the object's first word) or free.

The methods are mixed into :class:`refjit.runtime.process.Process`; they use ``self.mem``,
``self.heap``, ``self.profile`` and the addresses the process laid out.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Sequence

from refjit.errors import RuntimeModelError
from refjit.runtime.heap import FRESH

MASK64 = (1 << 64) - 1
_U16, _U32, _I64 = struct.Struct("<H"), struct.Struct("<I"), struct.Struct("<q")
_U64, _F64 = struct.Struct("<Q"), struct.Struct("<d")
_FRESH_BYTE = bytes((FRESH,))
_STR_BYTES_KEPT = 1024  # texts whose new str's bytes a process keeps (see new_str)


def object_offsets(profile) -> SimpleNamespace:
    """The member offsets and sizes the object code uses, from the profile (so another CPython
    version with other layouts needs only its specs folder)."""
    off, size = profile.offset, profile.sizeof

    def bit(path: str) -> int:  # a PyASCIIObject.state bitfield's position in the state word
        f = profile.field("PyASCIIObject", path)
        return (f.offset - off("PyASCIIObject", "state")) * 8 + f.bit

    return SimpleNamespace(
        # a compact ASCII str: kind PyUnicode_1BYTE_KIND (1), compact, ascii; interned static: 3
        str_state_ascii=(1 << bit("state.kind")) | (1 << bit("state.compact")) | (1 << bit("state.ascii")),
        str_state_static=(3 << bit("state.interned")) | (1 << bit("state.statically_allocated")),
        refcnt=off("PyObject", "ob_refcnt"), flags=off("PyObject", "ob_flags"), type=off("PyObject", "ob_type"),
        ob_size=off("PyVarObject", "ob_size"), gc_head=size("PyGC_Head"),
        lv_tag=off("PyLongObject", "long_value.lv_tag"), digits=off("PyLongObject", "long_value.ob_digit"),
        long_size=size("PyLongObject"),
        fval=off("PyFloatObject", "ob_fval"), float_size=size("PyFloatObject"),
        tuple_hash=off("PyTupleObject", "ob_hash"), tuple_items=off("PyTupleObject", "ob_item"),
        list_items=off("PyListObject", "ob_item"), list_allocated=off("PyListObject", "allocated"),
        list_size=size("PyListObject"),
        range_start=off("_PyRangeIterObject", "start"), range_step=off("_PyRangeIterObject", "step"),
        range_len=off("_PyRangeIterObject", "len"), range_size=size("_PyRangeIterObject"),
        li_index=off("_PyListIterObject", "it_index"), li_seq=off("_PyListIterObject", "it_seq"),
        li_size=size("_PyListIterObject"),
        ti_index=off("_PyTupleIterObject", "it_index"), ti_seq=off("_PyTupleIterObject", "it_seq"),
        ti_size=size("_PyTupleIterObject"),
        str_length=off("PyASCIIObject", "length"), str_hash=off("PyASCIIObject", "hash"),
        str_state=off("PyASCIIObject", "state"), str_data=size("PyASCIIObject"),
        # {PyASCIIObject; uint8_t data[2]} padded to the struct's 8-byte alignment
        ascii_stride=(size("PyASCIIObject") + 2 + 7) & ~7,
        exc_args=off("PyBaseExceptionObject", "args"), exc_size=size("PyBaseExceptionObject"),
        exc_refs=tuple(off("PyBaseExceptionObject", f) for f in ("dict", "args", "notes", "traceback", "context", "cause")),
    )

# -- stack references (_PyStackRef, GIL build: bit 0 set = not owned) --------------------------------

STACKREF_NULL = 1


def stackref_owned(addr: int) -> int:
    """A stack ref that owns a strong reference to the object at ``addr``."""
    if addr & 7:
        raise RuntimeModelError(f"stackref_owned({addr:#x}): objects are 8-byte aligned")
    return addr


def stackref_borrowed(addr: int) -> int:
    """A stack ref that does not own its object (PyStackRef_FromPyObjectBorrow): ``addr | 1``."""
    if addr & 7:
        raise RuntimeModelError(f"stackref_borrowed({addr:#x}): objects are 8-byte aligned")
    return addr | 1


def stackref_target(bits: int) -> int:
    """PyStackRef_AsPyObjectBorrow: the object address (bit 0 masked off)."""
    return bits & ~1 & MASK64


def stackref_owns(bits: int) -> bool:
    """PyStackRef_RefcountOnObject: bit 0 clear."""
    return bits & 1 == 0


def stackref_is_null(bits: int) -> bool:
    return bits == STACKREF_NULL


def stackref_tag_int(i: int) -> int:
    """PyStackRef_TagInt: a tagged small int (low bits 0b11)."""
    return ((i << 2) | 3) & MASK64


@dataclass
class ObjView:
    """What an object is, as read from memory (for Outcomes and tests)."""

    address: int
    type: str
    refcnt: int  # the 32-bit ob_refcnt
    immortal: bool
    value: Any = None  # Python value for int/float/bool/None/str/tuple/list; details for others
    items: tuple[int, ...] = ()  # element addresses of a tuple or list
    state: str = "live"  # "live", "freelist" or "freed" (heap objects); "static" otherwise
    extra: dict = field(default_factory=dict)


class Objects:
    """Object lifecycle for a Process (mixin)."""

    # Set by Process.__init__: mem, heap, profile, consts, symbols, freelists, _type_addr,
    # _type_by_addr, small_ints_base, tstate, runtime, statics allocator, offsets.

    # -- reference counts ------------------------------------------------------------------------
    def refcnt(self, op: int) -> int:
        return self.mem.u32(op)

    def set_refcnt(self, op: int, n: int) -> None:
        self.mem.set_u32(op, n)

    def is_immortal(self, op: int) -> bool:
        """_Py_IsImmortal: the 32-bit refcount read as signed is negative."""
        return self.mem.i32(op) < 0

    def make_immortal(self, op: int) -> None:
        """_Py_SetImmortalUntracked: ob_flags = _Py_IMMORTAL_FLAGS, ob_refcnt = 3<<30 (an object
        that is already immortal keeps its flags, so static immortals stay static)."""
        if self.is_immortal(op):
            return
        self.mem.set_u32(op, self.consts._Py_IMMORTAL_INITIAL_REFCNT)
        self.mem.set_u16(op + self.o.flags, self.consts._Py_IMMORTAL_FLAGS)

    def incref(self, op: int) -> None:
        """Py_INCREF: skipped for immortal objects (sign bit of the 32-bit count)."""
        n = self.mem.u32(op)
        if n & 0x8000_0000:
            return
        self.mem.set_u32(op, n + 1)

    def decref(self, op: int) -> None:
        """Py_DECREF: no-op when immortal; deallocates at zero."""
        n = self.mem.u32(op)
        if n & 0x8000_0000:
            return
        if n == 0:
            raise RuntimeModelError(f"decref of {self.type_name(op)} at {op:#x} whose refcount is already 0")
        self.mem.set_u32(op, n - 1)
        if n == 1:
            self.dealloc(op)

    def xdecref(self, op: int) -> None:
        if op:
            self.decref(op)

    def close_stackref(self, bits: int) -> None:
        """PyStackRef_CLOSE / XCLOSE: decref when bit 0 is clear."""
        if bits & 1 == 0:
            self.decref(bits)

    def close_stackref_specialized(self, bits: int, destruct) -> None:
        """PyStackRef_CLOSE_SPECIALIZED: Py_DECREF_MORTAL_SPECIALIZED, a plain 32-bit decrement
        (no immortality check: an owned stack ref is mortal by construction, and like the C code
        this wraps rather than complain); at zero the ref tracer (if any), then ``destruct(op)``
        instead of _Py_Dealloc."""
        if bits & 1:
            return
        n = self.mem.u32(bits)
        self.mem.set_u32(bits, (n - 1) & 0xFFFF_FFFF)
        if n == 1:
            self._check_ref_tracer(bits)
            destruct(bits)

    def stackref_steal(self, op: int) -> int:
        """PyStackRef_FromPyObjectSteal: ``op | (ob_flags & 1)``."""
        return op | (self.mem.u16(op + self.o.flags) & 1)

    def stackref_new(self, op: int) -> int:
        """PyStackRef_FromPyObjectNew: immortal -> op|1, else incref and op."""
        if self.mem.i32(op) < 0:
            return op | 1
        self.mem.set_u32(op, self.mem.u32(op) + 1)
        return op

    def _check_ref_tracer(self, op: int) -> None:
        if self.mem.u64(self.runtime + self._o_ref_tracer):
            raise RuntimeModelError(
                f"_PyRuntime.ref_tracer.tracer_func is set while deallocating {op:#x}; calling a ref tracer is not modelled"
            )

    # -- types -----------------------------------------------------------------------------------
    def type_of(self, op: int) -> int:
        return self.mem.u64(op + self.o.type)

    def type_name(self, op: int) -> str:
        try:
            t = self.mem.u64(op + self.o.type)
        except RuntimeModelError:
            return f"<unreadable object at {op:#x}>"
        name = self._type_by_addr.get(t)
        return name if name is not None else f"<type at {t:#x}>"

    def type_addr(self, tp_name: str) -> int:
        try:
            return self._type_addr[tp_name]
        except KeyError:
            raise RuntimeModelError(f"the emulated process has no type {tp_name!r}") from None

    def _has_gc(self, tp_name: str) -> bool:
        return bool(self._type_flags[tp_name] & self.consts.Py_TPFLAGS_HAVE_GC)

    # -- allocation primitives -------------------------------------------------------------------
    def _object_malloc(self, tp_name: str, size: int) -> int:
        """PyObject_Malloc (+ GC header for HAVE_GC types), then _PyObject_Init: refcount 1."""
        gc, head = self._object_head(tp_name)
        return self.heap.malloc(size, tp_name, header=gc, init=head)

    def _object_head(self, tp_name: str, immortal: bool = False) -> tuple[int, bytes]:
        """(the GC pre-header's size ``gc``, the first bytes of a new object's block as
        _object_malloc leaves them: the pre-header zeroed (untracked, in no GC list),
        ob_refcnt_full 1 (refcount 1, overflow 0, flags 0) and ob_type; with ``immortal``, as
        make_immortal then leaves them), made once per type."""
        head = self._object_heads.get((tp_name, immortal))
        if head is None:
            o, c = self.o, self.consts
            gc = o.gc_head if self._has_gc(tp_name) else 0
            data = bytearray(gc + o.type + 8)
            _U64.pack_into(data, gc, 1)
            _U64.pack_into(data, gc + o.type, self._type_addr[tp_name])
            if immortal:  # make_immortal of a new (mortal) object
                _U32.pack_into(data, gc + o.refcnt, c._Py_IMMORTAL_INITIAL_REFCNT)
                _U16.pack_into(data, gc + o.flags, c._Py_IMMORTAL_FLAGS)
            head = self._object_heads[(tp_name, immortal)] = (gc, bytes(data))
        return head

    def _object_bytes(self, tp_name: str, size: int, immortal: bool = False) -> tuple[int, bytearray]:
        """A new object's block as _object_malloc (and make_immortal, if ``immortal``) leave it,
        built in a buffer so that its members can be set before it is written: (``gc``, the
        block's bytes from its first one: _object_head's, then ``size`` - 16 FRESH bytes). A
        member at offset ``k`` goes at ``gc + k``; ``heap.malloc(size, tp_name, header=gc,
        init=data)`` then allocates the object and writes it, one write instead of one per
        member."""
        gc, prefix = self._object_head(tp_name, immortal)
        return gc, bytearray(prefix) + _FRESH_BYTE * (gc + size - len(prefix))

    def _write_words(self, addr: int, words: Sequence[int]) -> None:
        """``words`` as consecutive u64s from ``addr``, in one write (a value that does not fit is
        reported by the typed writes, as set_u64 words it)."""
        try:
            data = struct.pack(f"<{len(words)}Q", *words)
        except struct.error:
            for i, w in enumerate(words):
                self.mem.set_u64(addr + 8 * i, w)
            raise
        self.mem.write(addr, data)

    def _freelist_pop(self, name: str) -> int | None:
        """_Py_FREELIST_POP: LIFO; a popped object gets refcount 1 (_Py_NewReference)."""
        fl = self.freelists.get(name)
        if not fl:
            return None
        op = fl.pop()
        self.heap.from_freelist(op)
        self.mem.set_u64(op, 1)
        return op

    def _freelist_push(self, name: str, op: int, limit: int) -> bool:
        """_Py_FREELIST_PUSH: link through the first word; False when the list is full."""
        fl = self.freelists.setdefault(name, [])
        if len(fl) >= limit:
            return False
        self.mem.set_u64(op, fl[-1] if fl else 0)
        fl.append(op)
        self.heap.to_freelist(op, name)
        return True

    def _freelist_free(self, name: str, op: int, limit: int) -> None:
        """_Py_FREELIST_FREE: push, or free when the freelist is full."""
        if not self._freelist_push(name, op, limit):
            self.heap.free(op)

    def mem_malloc(self, n: int) -> int:
        """PyMem_Malloc."""
        return self.heap.malloc(n, "mem")

    def mem_realloc(self, p: int, n: int) -> int:
        """PyMem_Realloc with pymalloc's rule for small blocks: stay in place when the new size
        fits the block and is more than 3/4 of it; otherwise move (malloc, copy, free)."""
        if p == 0:
            return self.heap.malloc(n, "mem")
        block = self.heap.block(p)
        size = block.end - block.address
        if n <= size <= 512 and 4 * n > 3 * size:
            return p
        return self.heap.realloc(p, n)

    # -- int -------------------------------------------------------------------------------------
    def small_int(self, v: int) -> int:
        """Address of the static small int ``v`` (-5..256) inside _PyRuntime."""
        if not -5 <= v <= 256:
            raise RuntimeModelError(f"{v} is not a small int (-5..256)")
        return self.small_ints_base + (v + 5) * self.o.long_size

    def _long_alloc(self, ndigits_requested: int) -> int:
        """long_alloc(size): one digit (also for zero) comes from the ints freelist if possible."""
        ndigits = ndigits_requested or 1
        op = self._freelist_pop("ints") if ndigits == 1 else None
        if op is None:
            op = self._object_malloc("int", self.o.digits + 4 * ndigits)
        self._set_lv_tag(op, 1 if ndigits_requested else 0, ndigits_requested)
        self.mem.set_u32(op + self.o.digits, 0)
        return op

    def _set_lv_tag(self, op: int, sign: int, ndigits: int) -> None:
        self.mem.set_u64(op + self.o.lv_tag, (1 - sign) | (ndigits << 3))

    def _write_long_value(self, op: int, v: int, alloc_digits: int) -> None:
        """Store ``v`` as sign + 30-bit digits into an int allocated with ``alloc_digits`` digits."""
        a = -v if v < 0 else v
        digits = []
        while a:
            digits.append(a & 0x3FFF_FFFF)
            a >>= 30
        if len(digits) > max(alloc_digits, 1):
            raise RuntimeModelError(f"int {v} needs {len(digits)} digits, {alloc_digits} allocated")
        padded = digits + [0] * (max(alloc_digits, 1) - len(digits))
        self.mem.write(op + self.o.digits, b"".join(d.to_bytes(4, "little") for d in padded))
        self._set_lv_tag(op, (v > 0) - (v < 0), len(digits))

    def _long_from_medium(self, v: int, immortal: bool = False) -> int:
        """_PyLong_FromMedium: ints freelist, else a 32-byte PyLongObject (|v| < 2**30)."""
        op = self._freelist_pop("ints")
        if op is None:
            o = self.o
            gc, data = self._object_bytes("int", o.long_size, immortal)
            _U64.pack_into(data, gc + o.lv_tag, (0 if v > 0 else 2) | (1 << 3))  # as _set_lv_tag
            _U32.pack_into(data, gc + o.digits, abs(v))
            return self.heap.malloc(o.long_size, "int", header=gc, init=data)
        self._set_lv_tag(op, 1 if v > 0 else -1, 1)
        self.mem.set_u32(op + self.o.digits, abs(v))
        if immortal:
            self.make_immortal(op)
        return op

    def _long_from_large(self, v: int, immortal: bool = False) -> int:
        """An int of two or more 30-bit digits (|v| >= 2**30): long_alloc, then its value (what
        _write_long_value stores), built in the object's buffer."""
        a = -v if v < 0 else v
        digits = []
        while a:
            digits.append(a & 0x3FFF_FFFF)
            a >>= 30
        ndigits = max(2, len(digits))
        o = self.o
        size = o.digits + 4 * ndigits
        gc, data = self._object_bytes("int", size, immortal)
        _U64.pack_into(data, gc + o.lv_tag, (1 - ((v > 0) - (v < 0))) | (len(digits) << 3))  # _set_lv_tag
        struct.pack_into(f"<{ndigits}I", data, gc + o.digits, *digits, *[0] * (ndigits - len(digits)))
        return self.heap.malloc(size, "int", header=gc, init=data)

    def new_int(self, v: int, *, immortal: bool = False) -> int:
        """PyLong_FromLong (for any Python int): small ints are the static ones; |v| < 2**30 is a
        one-digit int from the freelist or a fresh 32-byte object; larger values get 30-bit digits."""
        if -5 <= v <= 256:
            return self.small_int(v)
        if -0x3FFF_FFFF <= v <= 0x3FFF_FFFF:
            return self._long_from_medium(v, immortal)
        return self._long_from_large(v, immortal)

    def int_value(self, op: int) -> int:
        tag = self.mem.u64(op + self.o.lv_tag)
        ndigits = tag >> 3
        sign = 1 - (tag & 3)
        if ndigits <= 1:  # compact: (1 - sign code) * ob_digit[0]
            return sign * self.mem.u32(op + self.o.digits) if ndigits else 0
        raw = self.mem.read(op + self.o.digits, 4 * ndigits)
        mag = 0
        for digit in reversed(struct.unpack(f"<{ndigits}I", raw)):
            mag = (mag << 30) | digit
        return sign * mag

    def long_digit_count(self, op: int) -> int:
        return self.mem.u64(op + self.o.lv_tag) >> 3

    def long_is_compact(self, op: int) -> bool:
        return self.mem.u64(op + self.o.lv_tag) < 16

    def long_is_small_int(self, op: int) -> bool:
        return bool(self.mem.u64(op + self.o.lv_tag) & self.consts.IMMORTALITY_BIT_MASK)

    # -- bool, None --------------------------------------------------------------------------------
    def new_bool(self, b: bool) -> int:
        return self.symbols["_Py_TrueStruct" if b else "_Py_FalseStruct"]

    @property
    def none(self) -> int:
        return self.symbols["_Py_NoneStruct"]

    # -- float -----------------------------------------------------------------------------------
    def new_float(self, x: float, *, immortal: bool = False) -> int:
        """PyFloat_FromDouble: the float freelist first, else a 24-byte object."""
        op = self._freelist_pop("floats")
        if op is None:
            o = self.o
            gc, data = self._object_bytes("float", o.float_size, immortal)
            _F64.pack_into(data, gc + o.fval, float(x))
            return self.heap.malloc(o.float_size, "float", header=gc, init=data)
        self.mem.set_f64(op + self.o.fval, float(x))
        if immortal:
            self.make_immortal(op)
        return op

    def float_value(self, op: int) -> float:
        return self.mem.f64(op + self.o.fval)

    # -- str (ASCII, compact) ---------------------------------------------------------------------
    def new_str(self, s: str, *, immortal: bool = False) -> int:
        """A compact ASCII str: PyASCIIObject followed by the characters and a NUL."""
        # A new str's bytes do not depend on its address: they are made once per text (the
        # same few names come back in every scenario), up to _STR_BYTES_KEPT texts.
        made = self._str_bytes.get((s, immortal))
        if made is None:
            if not s.isascii():
                raise RuntimeModelError(f"only ASCII strings are modelled, not {s!r}")
            o = self.o
            gc, data = self._object_bytes("str", o.str_data + len(s) + 1, immortal)
            _I64.pack_into(data, gc + o.str_length, len(s))  # what _init_ascii writes
            _I64.pack_into(data, gc + o.str_hash, -1)
            _U32.pack_into(data, gc + o.str_state, o.str_state_ascii)
            data[gc + o.str_data:] = s.encode("ascii") + b"\0"
            made = (gc, bytes(data))
            if len(self._str_bytes) < _STR_BYTES_KEPT:
                self._str_bytes[(s, immortal)] = made
        gc, data = made
        return self.heap.malloc(len(data) - gc, "str", header=gc, init=data)

    def _init_ascii(self, op: int, s: str, *, immortal: bool = False) -> None:
        """Fill in the PyASCIIObject at ``op`` (its refcount and type already written) and its
        characters; ``immortal``: then make it immortal, as make_immortal would (the object is
        new, so mortal). One write of the header as read back, with the fields packed in."""
        o = self.o
        head = bytearray(self.mem.read(op, o.str_data))
        _I64.pack_into(head, o.str_length, len(s))
        _I64.pack_into(head, o.str_hash, -1)  # not computed yet
        _U32.pack_into(head, o.str_state, o.str_state_ascii)
        if immortal:
            _U32.pack_into(head, o.refcnt, self.consts._Py_IMMORTAL_INITIAL_REFCNT)
            _U16.pack_into(head, o.flags, self.consts._Py_IMMORTAL_FLAGS)
        self.mem.write(op, head + s.encode("ascii") + b"\0")

    def str_value(self, op: int) -> str:
        n = self.mem.i64(op + self.o.str_length)
        state = self.mem.u32(op + self.o.str_state)
        if state & self.o.str_state_ascii != self.o.str_state_ascii:
            return f"<non-ASCII str at {op:#x}>"
        return self.mem.read(op + self.o.str_data, n).decode("ascii", errors="replace")

    # -- tuple -----------------------------------------------------------------------------------
    def new_tuple(self, items: Sequence[int], *, steal: bool = False, immortal: bool = False) -> int:
        """PyTuple_Pack (increfs the items) or, with ``steal``, a tuple that takes the references.
        Sizes 1..20 come from the per-size tuple freelists first; () is the static empty tuple."""
        n = len(items)
        if n == 0:
            return self.empty_tuple
        op = self._freelist_pop(f"tuples[{n - 1}]") if n <= 20 else None
        if op is None:
            o = self.o
            size = o.tuple_items + 8 * n
            gc, data = self._object_bytes("tuple", size, immortal)
            try:
                struct.pack_into(f"<{n}Q", data, gc + o.tuple_items, *items)
            except struct.error:  # an item that does not fit: the typed writes below say where
                pass
            else:
                _I64.pack_into(data, gc + o.ob_size, n)
                _I64.pack_into(data, gc + o.tuple_hash, -1)
                op = self.heap.malloc(size, "tuple", header=gc, init=data)
                if not steal:
                    for it in items:
                        self.incref(it)
                return op
            op = self._object_malloc("tuple", size)
            self.mem.set_i64(op + self.o.ob_size, n)
        self.mem.set_i64(op + self.o.tuple_hash, -1)  # _PyTuple_RESET_HASH_CACHE
        if not steal:
            for it in items:
                self.incref(it)
        self._write_words(op + self.o.tuple_items, items)
        if immortal:
            self.make_immortal(op)
        return op

    def tuple_items(self, op: int) -> list[int]:
        n = self.mem.i64(op + self.o.ob_size)
        if not 0 <= n <= 1 << 20:
            raise RuntimeModelError(f"tuple at {op:#x} has implausible size {n}")
        return list(struct.unpack(f"<{n}Q", self.mem.read(op + self.o.tuple_items, 8 * n)))

    # -- list ------------------------------------------------------------------------------------
    def new_list(self, items: Sequence[int], allocated: int | None = None, *, steal: bool = False,
                 immortal: bool = False) -> int:
        """PyList_New(len) + items (increfed unless ``steal``); ``allocated`` >= len over-allocates
        the item array (PyMem memory, its own heap block), like a list that has grown."""
        n = len(items)
        cap = n if allocated is None else allocated
        if cap < n:
            raise RuntimeModelError(f"new_list: allocated {cap} < {n} items")
        op = self._freelist_pop("lists")
        if op is None and 8 * cap <= self.heap.region.size:  # (a larger array cannot be allocated)
            # A new list and its item array (PyMem_Calloc, items in place), each in one write.
            words = bytearray(8 * cap)
            try:
                struct.pack_into(f"<{n}Q", words, 0, *items)
            except struct.error:  # an item that does not fit: the typed writes below say where
                pass
            else:
                o = self.o
                gc, data = self._object_bytes("list", o.list_size, immortal)
                _I64.pack_into(data, gc + o.ob_size, n)
                _U64.pack_into(data, gc + o.list_items, 0)
                _I64.pack_into(data, gc + o.list_allocated, cap)
                op = self.heap.malloc(o.list_size, "list", header=gc, init=data)
                if cap:
                    self.mem.set_u64(op + o.list_items, self.heap.malloc(8 * cap, "mem", init=words))
                if not steal:
                    for it in items:
                        self.incref(it)
                return op
        if op is None:
            op = self._object_malloc("list", self.o.list_size)
        arr = 0
        if cap > 0:
            arr = self.heap.malloc(8 * cap, "mem")
            self.mem.fill(arr, 8 * cap, 0)  # PyMem_Calloc
        self.mem.set_i64(op + self.o.ob_size, n)
        self.mem.set_u64(op + self.o.list_items, arr)
        self.mem.set_i64(op + self.o.list_allocated, cap)
        if not steal:
            for it in items:
                self.incref(it)
        if n:
            self._write_words(arr, items)
        if immortal:
            self.make_immortal(op)
        return op

    def list_items(self, op: int) -> list[int]:
        n = self.mem.i64(op + self.o.ob_size)
        arr = self.mem.u64(op + self.o.list_items)
        if n == 0:
            return []
        if not 0 < n <= 1 << 20:
            raise RuntimeModelError(f"list at {op:#x} has implausible size {n}")
        return list(struct.unpack(f"<{n}Q", self.mem.read(arr, 8 * n)))

    def list_resize(self, op: int, newsize: int) -> None:
        """list_resize (GIL build): over-allocation pattern 0, 4, 8, 16, 24, 32, 40, 52, ..."""
        allocated = self.mem.i64(op + self.o.list_allocated)
        size = self.mem.i64(op + self.o.ob_size)
        if allocated >= newsize and newsize >= (allocated >> 1):
            self.mem.set_i64(op + self.o.ob_size, newsize)
            return
        new_allocated = (newsize + (newsize >> 3) + 6) & ~3
        if newsize - size > new_allocated - newsize:
            new_allocated = (newsize + 3) & ~3
        if newsize == 0:
            new_allocated = 0
        arr = self.mem_realloc(self.mem.u64(op + self.o.list_items), 8 * new_allocated)
        self.mem.set_u64(op + self.o.list_items, arr)
        self.mem.set_i64(op + self.o.ob_size, newsize)
        self.mem.set_i64(op + self.o.list_allocated, new_allocated)

    # -- iterators --------------------------------------------------------------------------------
    def new_range_iter(self, start: int, stop: int, step: int = 1, *, immortal: bool = False) -> int:
        """iter(range(start, stop, step)) as fast_range_iter builds it: start, step, len."""
        if step == 0:
            raise RuntimeModelError("range() step must not be zero")
        n = len(range(start, stop, step))
        lim = 1 << 63
        if not all(-lim <= x < lim for x in (start, stop, step, n)) or not -lim <= start + n * step < lim:
            raise RuntimeModelError("range iterator bounds do not fit a C long (a longrangeiter is not modelled)")
        op = self._freelist_pop("range_iters")
        if op is None:
            o = self.o
            gc, data = self._object_bytes("range_iterator", o.range_size, immortal)
            _I64.pack_into(data, gc + o.range_start, start)
            _I64.pack_into(data, gc + o.range_step, step)
            _I64.pack_into(data, gc + o.range_len, n)
            return self.heap.malloc(o.range_size, "range_iterator", header=gc, init=data)
        self.mem.set_i64(op + self.o.range_start, start)
        self.mem.set_i64(op + self.o.range_step, step)
        self.mem.set_i64(op + self.o.range_len, n)
        if immortal:
            self.make_immortal(op)
        return op

    def new_list_iter(self, lst: int, *, immortal: bool = False) -> int:
        """iter(list): it_index 0, it_seq a new reference to the list."""
        return self._seq_iter("list_iterator", "list_iters", lst, immortal, self.o.li_size, self.o.li_index, self.o.li_seq)

    def new_tuple_iter(self, tup: int, *, immortal: bool = False) -> int:
        return self._seq_iter("tuple_iterator", "tuple_iters", tup, immortal, self.o.ti_size, self.o.ti_index, self.o.ti_seq)

    def _seq_iter(self, tp_name: str, freelist: str, seq: int, immortal: bool, size: int, o_index: int,
                  o_seq: int) -> int:
        op = self._freelist_pop(freelist)
        if op is None and 0 <= seq <= MASK64:
            gc, data = self._object_bytes(tp_name, size, immortal)
            _I64.pack_into(data, gc + o_index, 0)
            _U64.pack_into(data, gc + o_seq, seq)
            op = self.heap.malloc(size, tp_name, header=gc, init=data)
            self.incref(seq)
            return op
        if op is None:
            op = self._object_malloc(tp_name, size)
        self.mem.set_i64(op + o_index, 0)
        self.incref(seq)
        self.mem.set_u64(op + o_seq, seq)
        if immortal:
            self.make_immortal(op)
        return op

    # -- exceptions -------------------------------------------------------------------------------
    def new_exception(self, tp_name: str, *args: Any) -> int:
        """A minimal exception instance: its type and ``args`` (a tuple of str/int/float).
        Allocation order as _PyErr_SetString has it: the message, the exception
        (BaseException_vectorcall's tp_alloc), then the args tuple."""
        size = self._type_basicsize.get(tp_name)
        if size is None or not self._type_flags[tp_name] & self.consts.Py_TPFLAGS_BASE_EXC_SUBCLASS:
            raise RuntimeModelError(f"{tp_name!r} is not an exception type of the emulated process")
        items = [self.from_python(a) for a in args]
        op = self._object_malloc(tp_name, size)
        head = self.o.exc_refs[0]
        self.mem.fill(op + head, size - head, 0)
        self.mem.set_u64(op + self.o.exc_args, self.new_tuple(items, steal=True))
        return op

    def set_exception(self, tp_name: str, *args: Any) -> int:
        """_PyErr_SetObject with a new exception of type ``tp_name`` and ``args``: it goes to
        tstate->current_exception, replacing (and releasing) any previous one."""
        exc = self.new_exception(tp_name, *args)
        slot = self.tstate + self._o_current_exception
        old = self.mem.u64(slot)
        self.mem.set_u64(slot, exc)
        self.xdecref(old)
        return exc

    def current_exception(self) -> int:
        return self.mem.u64(self.tstate + self._o_current_exception)

    def clear_exception(self) -> None:
        slot = self.tstate + self._o_current_exception
        old = self.mem.u64(slot)
        self.mem.set_u64(slot, 0)
        self.xdecref(old)

    def exception_info(self, op: int) -> tuple[str, tuple]:
        args = self.mem.u64(op + self.o.exc_args)
        vals = tuple(self.to_python(a) for a in self.tuple_items(args)) if args else ()
        return self.type_name(op), vals

    # -- conversion ---------------------------------------------------------------------------------
    def from_python(self, v: Any) -> int:
        """A new reference to an emulated object equal to ``v`` (None, bool, int, float, str, tuple, list)."""
        if v is None:
            return self.none
        if v is True or v is False:
            return self.new_bool(v)
        if isinstance(v, int):
            return self.new_int(v)
        if isinstance(v, float):
            return self.new_float(v)
        if isinstance(v, str):
            return self.new_str(v)
        if isinstance(v, tuple):
            return self.new_tuple([self.from_python(x) for x in v], steal=True)
        if isinstance(v, list):
            return self.new_list([self.from_python(x) for x in v], steal=True)
        raise RuntimeModelError(f"cannot build an emulated object from {type(v).__name__} {v!r}")

    def to_python(self, op: int, _depth: int = 0) -> Any:
        """The Python value of a None/bool/int/float/str/tuple/list object."""
        return self._value_of(self.type_name(op), op, _depth)

    def _value_of(self, name: str, op: int, _depth: int = 0) -> Any:
        """to_python of the object at ``op`` whose type is already known to be ``name``."""
        if name == "int":
            return self.int_value(op)
        if name == "bool":
            return self.int_value(op) != 0
        if name == "NoneType":
            return None
        if name == "float":
            return self.float_value(op)
        if name == "str":
            return self.str_value(op)
        if _depth > 20:
            raise RuntimeModelError(f"{name} at {op:#x} nests too deeply to convert")
        if name == "tuple":
            return tuple(self.to_python(x, _depth + 1) for x in self.tuple_items(op))
        if name == "list":
            return [self.to_python(x, _depth + 1) for x in self.list_items(op)]
        raise RuntimeModelError(f"no Python value for a {name} object at {op:#x}")

    def read_object(self, op: int, *, block=None) -> ObjView:
        """Type, refcount, immortality and value of the object at ``op``; ``block``: its heap
        block, when the caller has it at hand (else it is looked up)."""
        if block is None:
            block = self.heap.block_at(op) if self.heap.owns(op) else None
        if block is not None and block.address != op:
            raise RuntimeModelError(f"{op:#x} points inside the {block.type} at {block.address:#x}, not at an object")
        state = block.state if block is not None else "static"
        if state == "freed":
            return ObjView(op, block.type, 0, False, None, (), "freed")
        if state == "freelist":
            return ObjView(op, block.type, 0, False, None, (), "freelist", {"freelist": block.freelist})
        name = self.type_name(op)
        refcnt = self.mem.u32(op)
        view = ObjView(op, name, refcnt, refcnt & 0x8000_0000 != 0, None, (), state)
        if name in ("int", "bool", "NoneType", "float", "str"):
            view.value = self._value_of(name, op)
        elif name == "tuple":
            view.items = tuple(self.tuple_items(op))
            view.value = self._try_items_value(view.items)
        elif name == "list":
            view.items = tuple(self.list_items(op))
            view.value = self._try_items_value(view.items)
            if view.value is not None:
                view.value = list(view.value)
            view.extra["allocated"] = self.mem.i64(op + self.o.list_allocated)
        elif name == "range_iterator":
            view.value = (self.mem.i64(op + self.o.range_start), self.mem.i64(op + self.o.range_step),
                          self.mem.i64(op + self.o.range_len))
            view.extra = {"start": view.value[0], "step": view.value[1], "len": view.value[2]}
        elif name in ("list_iterator", "tuple_iterator"):
            o_index, o_seq = (self.o.li_index, self.o.li_seq) if name == "list_iterator" else (self.o.ti_index, self.o.ti_seq)
            view.value = (self.mem.i64(op + o_index), self.mem.u64(op + o_seq))
            view.extra = {"it_index": view.value[0], "it_seq": view.value[1]}
        elif self._type_flags.get(name, 0) & self.consts.Py_TPFLAGS_BASE_EXC_SUBCLASS:
            view.value = self.exception_info(op)
        return view

    def _try_items_value(self, items: tuple[int, ...]) -> tuple | None:
        """The Python values of a tuple's or list's items, read already (what _value_of gives
        for the container, as a tuple), or None if one has none."""
        try:
            return tuple([self.to_python(x, 1) for x in items])
        except RuntimeModelError:
            return None

    # -- consistency -------------------------------------------------------------------------------
    def check_heap(self) -> list[str]:
        """Problems a run can leave behind, as readable lines (empty: none found): writes into
        freed (poisoned) memory, broken freelist links, live objects whose type or refcount
        is not plausible."""
        problems = []
        for block, addr in self.heap.writes_after_free():
            problems.append(f"write after free: {addr:#x} inside the freed {block.type} at {block.address:#x}")
        for name, entries in self.freelists.items():
            for i, op in enumerate(entries):
                expected = entries[i - 1] if i else 0
                if self.mem.u64(op) != expected:
                    problems.append(f"{name} freelist entry {op:#x} links to {self.mem.u64(op):#x}, not {expected:#x}")
        # Every live object's ob_type and 32-bit ob_refcnt, read through word views of the heap
        # region (objects are 8-byte aligned and lie inside it).
        region, type_by_addr = self.heap.region, self._type_by_addr
        words64, words32 = region.view.cast("Q"), region.view.cast("I")
        at_type, base = self.o.type, region.base
        for b in self.heap.live():
            if b.type == "mem":
                continue
            t = words64[(b.address - base + at_type) >> 3]
            if type_by_addr.get(t) != b.type:
                problems.append(f"live {b.type} at {b.address:#x} has ob_type {t:#x} ({self.type_name(b.address)})")
            elif words32[(b.address - base) >> 2] == 0:
                problems.append(f"live {b.type} at {b.address:#x} has refcount 0")
        return problems

    # -- deallocation (what _Py_Dealloc does per type) ---------------------------------------------
    def dealloc(self, op: int) -> None:
        """_Py_Dealloc: the type's tp_dealloc, for the types the process knows."""
        name = self.type_name(op)
        fn = getattr(self, "_dealloc_" + name, None)
        if fn is None and self._type_flags.get(name, 0) & self.consts.Py_TPFLAGS_BASE_EXC_SUBCLASS:
            fn = self._dealloc_exception  # BaseException_dealloc, for every exception type
        if fn is None:
            raise RuntimeModelError(f"deallocation of a {name} object at {op:#x} is not modelled")
        fn(op)

    def _dealloc_int(self, op: int) -> None:
        # long_dealloc: small ints are re-immortalised; exact compact ints go to the freelist.
        if self.long_is_small_int(op):
            self.make_immortal(op)
            return
        if self.long_is_compact(op):
            self._freelist_free("ints", op, self.consts.Py_ints_MAXFREELIST)
        else:
            self.heap.free(op)

    def long_exact_dealloc(self, op: int) -> None:
        """_PyLong_ExactDealloc."""
        self._dealloc_int(op)

    def _dealloc_float(self, op: int) -> None:
        self._freelist_free("floats", op, self.consts.Py_floats_MAXFREELIST)

    float_exact_dealloc = _dealloc_float  # _PyFloat_ExactDealloc

    def _dealloc_bool(self, op: int) -> None:
        raise RuntimeModelError(f"deallocating the bool singleton at {op:#x} (refcount underflow)")

    def _dealloc_NoneType(self, op: int) -> None:
        raise RuntimeModelError(f"deallocating None at {op:#x} (refcount underflow)")

    def _dealloc_tuple(self, op: int) -> None:
        n = self.mem.i64(op + self.o.ob_size)
        if n == 0:
            return  # the static empty tuple
        for item in reversed(self.tuple_items(op)):
            self.xdecref(item)
        if n <= 20 and self._freelist_push(f"tuples[{n - 1}]", op, self.consts.Py_tuple_MAXFREELIST):
            return
        self.heap.free(op)

    def _dealloc_list(self, op: int) -> None:
        arr = self.mem.u64(op + self.o.list_items)
        if arr:
            for item in reversed(self.list_items(op)):
                self.xdecref(item)
            self.heap.free(arr)
            self.mem.set_u64(op + self.o.list_items, 0)
        self._freelist_free("lists", op, self.consts.Py_lists_MAXFREELIST)

    def _dealloc_range_iterator(self, op: int) -> None:
        self._freelist_free("range_iters", op, self.consts.Py_range_iters_MAXFREELIST)

    def _dealloc_list_iterator(self, op: int) -> None:
        self.xdecref(self.mem.u64(op + self.o.li_seq))
        self._freelist_free("list_iters", op, self.consts.Py_list_iters_MAXFREELIST)

    def _dealloc_tuple_iterator(self, op: int) -> None:
        self.xdecref(self.mem.u64(op + self.o.ti_seq))
        self._freelist_free("tuple_iters", op, self.consts.Py_tuple_iters_MAXFREELIST)

    def _dealloc_str(self, op: int) -> None:
        self.heap.free(op)

    def _dealloc_exception(self, op: int) -> None:
        # dict, args, notes, traceback, context, cause; then the subclass's own object fields
        # (NameError.name, AttributeError.obj/name, StopIteration.value), all PyObject *.
        extra = range(self.o.exc_size, self._type_basicsize[self.type_name(op)], 8)
        for off in (*self.o.exc_refs, *extra):
            self.xdecref(self.mem.u64(op + off))
        self.heap.free(op)

