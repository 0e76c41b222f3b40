"""The C-level vocabulary the reference uops are written in.

Each method is a CPython 3.14.7 inline function or macro of the 64-bit GIL build, done on the
emulated process's memory exactly as the compiled stencil does it: stack refs are raw 64-bit
words with tag bit 0 (FACTS §e), reference counts are the low 32 bits of the object's first
word, immortality is "the 32-bit count is negative". Calls that CPython makes out of line
(``_Py_Dealloc``, ``_PyLong_Add``, ``PyLong_FromLong``, ...) go to the runtime's C-function
models through the process's symbol table, in the same order with the same arguments, so
deallocation order, freelists and allocation addresses are the ones the machine code produces.

The names are CPython's: grep Include/internal/pycore_stackref.h, Include/refcount.h,
Include/internal/pycore_long.h for any of them.
"""

from __future__ import annotations

from refjit.errors import SemanticsError

MASK64 = (1 << 64) - 1

# (class, profile) -> class.layout(profile): what a context reads from the profile, read once.
# Profiles are few and live as long as the process (load_profile keeps them).
_LAYOUTS: dict[tuple[type, object], dict[str, object]] = {}


def _layout(cls, prof) -> dict[str, object]:
    layout = _LAYOUTS.get((cls, prof))
    if layout is None:
        layout = _LAYOUTS[cls, prof] = cls.layout(prof)
    return layout


class CLevel:
    """Memory, symbols and the C helpers of one process. The uop context derives from it."""

    def __init__(self, process):
        self.process = process
        self.profile = prof = process.profile
        self.mem = process.mem
        self.symbols = process.symbols
        # The struct offsets and constants of ``layout``, as attributes (read once per profile).
        self.__dict__.update(_layout(type(self), prof))
        self.REF_TRACER = self.symbols["_PyRuntime"] + prof.const("ref_tracer.tracer_func")
        # The static objects the uops compare with or push.
        self.Py_None = self.symbols["_Py_NoneStruct"]
        self.Py_True = self.symbols["_Py_TrueStruct"]
        self.Py_False = self.symbols["_Py_FalseStruct"]
        self.small_ints = self.symbols["_PyRuntime"] + prof.const(
            "static_objects.singletons.small_ints")
        self._models: dict[str, object] = {}

    @staticmethod
    def layout(prof) -> dict[str, object]:
        """The struct offsets the C helpers use (layout facts, FACTS §f) and the constants, by
        the attribute name they get."""
        off = prof.offset
        return {
            "OB_REFCNT": off("PyObject", "ob_refcnt"),
            "OB_FLAGS": off("PyObject", "ob_flags"),
            "OB_TYPE": off("PyObject", "ob_type"),
            "OB_SIZE": off("PyVarObject", "ob_size"),
            "LV_TAG": off("PyLongObject", "long_value.lv_tag"),
            "OB_DIGIT": off("PyLongObject", "long_value.ob_digit"),
            "OB_FVAL": off("PyFloatObject", "ob_fval"),
            "TUPLE_ITEMS": off("PyTupleObject", "ob_item"),
            "LIST_ITEMS": off("PyListObject", "ob_item"),
            "LIST_ALLOCATED": off("PyListObject", "allocated"),
            "RANGE_START": off("_PyRangeIterObject", "start"),
            "RANGE_STEP": off("_PyRangeIterObject", "step"),
            "RANGE_LEN": off("_PyRangeIterObject", "len"),
            "LISTITER_INDEX": off("_PyListIterObject", "it_index"),
            "LISTITER_SEQ": off("_PyListIterObject", "it_seq"),
            "TUPLEITER_INDEX": off("_PyTupleIterObject", "it_index"),
            "TUPLEITER_SEQ": off("_PyTupleIterObject", "it_seq"),
            "IMMORTAL_INITIAL": prof.const("_Py_IMMORTAL_INITIAL_REFCNT"),
            "small_int_size": prof.const("small_int_size"),
        }

    # -- calls into C ----------------------------------------------------------------------------
    def call(self, name: str, *args):
        """Call the C function ``name`` as the stencil does: through its model."""
        fn = self._models.get(name)
        if fn is None:
            fn = self.call_address_model(self.symbols[name], name)
            self._models[name] = fn
        return fn(self.process, *args)

    def call_address_model(self, address: int, what: str):
        model = self.process.model_at(address)
        if model is None:
            raise SemanticsError(f"{what}: no C function at {address:#x}")
        return model.fn

    def call_pointer(self, address: int, *args):
        """Call through a function pointer read from memory (``_PyEval_BinaryOps[oparg]``)."""
        return self.call_address_model(address, f"function pointer {address:#x}")(self.process,
                                                                                   *args)

    # -- objects -----------------------------------------------------------------------------------
    def Py_TYPE(self, o: int) -> int:
        return self.mem.u64(o + self.OB_TYPE)

    def type_is(self, o: int, type_symbol: str) -> bool:
        """``Py_IS_TYPE(o, &type_symbol)``: PyLong_CheckExact and friends."""
        return self.Py_TYPE(o) == self.symbols[type_symbol]

    def refcnt(self, o: int) -> int:
        return self.mem.u32(o + self.OB_REFCNT)

    def _Py_IsImmortal(self, o: int) -> bool:
        return self.mem.i32(o + self.OB_REFCNT) < 0

    def Py_INCREF(self, o: int) -> None:
        cur = self.mem.u32(o + self.OB_REFCNT)
        if cur >= self.IMMORTAL_INITIAL:
            return  # saturated: immortal
        self.mem.set_u32(o + self.OB_REFCNT, cur + 1)

    def Py_NewRef(self, o: int) -> int:
        self.Py_INCREF(o)
        return o

    def Py_DECREF(self, o: int) -> None:
        if self._Py_IsImmortal(o):
            return
        rc = (self.mem.u32(o + self.OB_REFCNT) - 1) & 0xFFFFFFFF
        self.mem.set_u32(o + self.OB_REFCNT, rc)
        if rc == 0:
            self.call("_Py_Dealloc", o)

    def Py_DECREF_MORTAL(self, o: int) -> None:
        """Plain 32-bit decrement (the object is known to be mortal), _Py_Dealloc at zero."""
        rc = (self.mem.u32(o + self.OB_REFCNT) - 1) & 0xFFFFFFFF
        self.mem.set_u32(o + self.OB_REFCNT, rc)
        if rc == 0:
            self.call("_Py_Dealloc", o)

    def Py_DECREF_MORTAL_SPECIALIZED(self, o: int, destruct: str) -> None:
        rc = (self.mem.u32(o + self.OB_REFCNT) - 1) & 0xFFFFFFFF
        self.mem.set_u32(o + self.OB_REFCNT, rc)
        if rc == 0:
            # _PyReftracerTrack(op, PyRefTracer_DESTROY): only if a tracer is installed.
            if self.mem.u64(self.REF_TRACER) != 0:
                raise SemanticsError("_PyRuntime.ref_tracer.tracer_func is set: calling a "
                                     "reference tracer is not modelled")
            self.call(destruct, o)

    # -- stack refs (pycore_stackref.h, GIL build) -------------------------------------------------
    PyStackRef_NULL = 1

    def PyStackRef_True(self) -> int:
        return self.Py_True | 1

    def PyStackRef_False(self) -> int:
        return self.Py_False | 1

    @staticmethod
    def PyStackRef_AsPyObjectBorrow(ref: int) -> int:
        return ref & ~1 & MASK64

    @staticmethod
    def PyStackRef_RefcountOnObject(ref: int) -> bool:
        return (ref & 1) == 0

    @staticmethod
    def PyStackRef_IsNull(ref: int) -> bool:
        return ref == 1

    def PyStackRef_IsNone(self, ref: int) -> bool:
        return ref == self.Py_None | 1

    def PyStackRef_IsTrue(self, ref: int) -> bool:
        return ref == self.Py_True | 1

    def PyStackRef_IsFalse(self, ref: int) -> bool:
        return ref == self.Py_False | 1

    @staticmethod
    def PyStackRef_Borrow(ref: int) -> int:
        return ref | 1

    def PyStackRef_FromPyObjectSteal(self, o: int) -> int:
        """Tag with the object's immortal flag (bit 0 of ob_flags); no refcount change."""
        return o | (self.mem.u16(o + self.OB_FLAGS) & 1)

    @staticmethod
    def PyStackRef_FromPyObjectImmortal(o: int) -> int:
        return o | 1

    def PyStackRef_FromPyObjectNew(self, o: int) -> int:
        if self._Py_IsImmortal(o):
            return o | 1
        self.mem.set_u32(o + self.OB_REFCNT, (self.mem.u32(o + self.OB_REFCNT) + 1) & 0xFFFFFFFF)
        return o

    def PyStackRef_AsPyObjectSteal(self, ref: int) -> int:
        if self.PyStackRef_RefcountOnObject(ref):
            return ref
        return self.Py_NewRef(ref & ~1 & MASK64)

    def PyStackRef_DUP(self, ref: int) -> int:
        if self.PyStackRef_RefcountOnObject(ref):
            # 32-bit increment without an immortality check: mortal by construction.
            self.mem.set_u32(ref + self.OB_REFCNT, (self.mem.u32(ref + self.OB_REFCNT) + 1)
                             & 0xFFFFFFFF)
        return ref

    def PyStackRef_CLOSE(self, ref: int) -> None:
        if self.PyStackRef_RefcountOnObject(ref):
            self.Py_DECREF_MORTAL(ref)

    def PyStackRef_XCLOSE(self, ref: int) -> None:
        # NULL has bit 0 set, so it falls out of the same test.
        if self.PyStackRef_RefcountOnObject(ref):
            self.Py_DECREF_MORTAL(ref)

    def PyStackRef_CLOSE_SPECIALIZED(self, ref: int, destruct: str) -> None:
        if self.PyStackRef_RefcountOnObject(ref):
            self.Py_DECREF_MORTAL_SPECIALIZED(ref, destruct)

    def PyStackRef_BoolCheck(self, ref: int) -> bool:
        return self.type_is(self.PyStackRef_AsPyObjectBorrow(ref), "PyBool_Type")

    # -- ints (pycore_long.h) ----------------------------------------------------------------------
    def lv_tag(self, o: int) -> int:
        return self.mem.u64(o + self.LV_TAG)

    def _PyLong_IsCompact(self, o: int) -> bool:
        return self.lv_tag(o) < (2 << 3)  # at most one digit: lv_tag < 2 << NON_SIZE_BITS

    def _PyLong_IsNonNegativeCompact(self, o: int) -> bool:
        return (self.lv_tag(o) & ~4) <= (1 << 3)  # ignoring IMMORTALITY_BIT_MASK

    def _PyLong_IsZero(self, o: int) -> bool:
        return (self.lv_tag(o) & 3) == 1  # SIGN_MASK, SIGN_ZERO

    def _PyLong_CompactValue(self, o: int) -> int:
        sign = 1 - (self.lv_tag(o) & 3)
        return sign * self.mem.u32(o + self.OB_DIGIT)

    def digit0(self, o: int) -> int:
        return self.mem.u32(o + self.OB_DIGIT)

    def small_int(self, v: int) -> int:
        """``&_PyLong_SMALL_INTS[_PY_NSMALLNEGINTS + v]`` inside _PyRuntime."""
        return self.small_ints + (5 + v) * self.small_int_size

    # -- floats, sequences ---------------------------------------------------------------------------
    def PyFloat_AS_DOUBLE(self, o: int) -> float:
        return self.mem.f64(o + self.OB_FVAL)

    def Py_SIZE(self, o: int) -> int:
        return self.mem.i64(o + self.OB_SIZE)

    def PyTuple_GET_ITEM(self, t: int, i: int) -> int:
        return self.mem.u64(t + self.TUPLE_ITEMS + 8 * i)

    def PyList_GET_ITEM(self, lst: int, i: int) -> int:
        return self.mem.u64(self.mem.u64(lst + self.LIST_ITEMS) + 8 * i)

    def PyList_SET_ITEM(self, lst: int, i: int, v: int) -> None:
        self.mem.set_u64(self.mem.u64(lst + self.LIST_ITEMS) + 8 * i, v)
