"""Lowerings: one function per uop, written once at the C level, emitting portable LIR.

Each family module (control, stack, numbers, iteration, sequences) defines functions named
as the uop they lower (``def _LOAD_FAST(u)``), registered with :func:`lowering`. A function
receives a :class:`Uop`: the LIR builder ``u.b`` plus the C-level vocabulary of
Include/internal/pycore_stackref.h, Include/refcount.h and Python/ceval_macros.h spelled in
LIR (``u.DUP``, ``u.CLOSE``, ``u._PyFrame_SetStackPointer``...). Every struct offset and
constant comes from the profile (specs/), never a literal in a lowering.

Replicas (``_LOAD_FAST_3``) lower their base uop with the oparg folded as a constant, as
CPython's build does (``const_oparg`` in the uop table); other uops read ``_JIT_OPARG``.

This package never imports ``refjit.semantics`` (DESIGN.md): the differential tests compare two
independent readings of bytecodes.c.
"""

from __future__ import annotations

from typing import Callable

from refjit import lir
from refjit.errors import LowerError
from refjit.lir import ERROR_TARGET, FRAME, JUMP_TARGET, SP, TSTATE, Builder, Function, V

LOWERINGS: dict[str, Callable[["Uop"], None]] = {}


def lowering(fn):
    """Register ``fn`` as the lowering of the uop it is named after."""
    if fn.__name__ in LOWERINGS:
        raise LowerError(f"{fn.__name__} lowered twice")
    LOWERINGS[fn.__name__] = fn
    return fn


class _Layout:
    """The offsets, widths and constants that the shared helpers of :class:`Uop` use at nearly
    every uop, read from one profile once (a table of that profile, like its own field table)."""

    __slots__ = ("ob_refcnt", "ob_refcnt_bits", "ob_type", "ob_flags", "ob_flags_bits",
                 "stackpointer", "f_executable", "localsplus", "co_code_adaptive",
                 "current_executor", "immortal_initial_refcnt", "tracer_func", "tracer_data")

    def __init__(self, profile):
        def field(struct: str, path: str) -> tuple[int, int]:
            f = profile.field(struct, path)
            return f.offset, 8 * f.element_size
        self.ob_refcnt, self.ob_refcnt_bits = field("PyObject", "ob_refcnt")
        self.ob_flags, self.ob_flags_bits = field("PyObject", "ob_flags")
        self.ob_type = profile.offset("PyObject", "ob_type")
        self.stackpointer = profile.offset("_PyInterpreterFrame", "stackpointer")
        self.f_executable = profile.offset("_PyInterpreterFrame", "f_executable")
        self.localsplus = profile.offset("_PyInterpreterFrame", "localsplus")
        self.co_code_adaptive = profile.offset("PyCodeObject", "co_code_adaptive")
        self.current_executor = profile.offset("PyThreadState", "current_executor")
        self.immortal_initial_refcnt = profile.const("_Py_IMMORTAL_INITIAL_REFCNT")
        self.tracer_func = profile.const("ref_tracer.tracer_func")
        self.tracer_data = profile.const("ref_tracer.tracer_data")


# profile -> (its _Layout, {uop name: (its lowering, the replica's folded oparg or None)}), both
# filled once per profile (the second per uop name, when first lowered)
_PER_PROFILE: dict = {}


def _per_profile(profile) -> tuple:
    got = _PER_PROFILE[profile] = (_Layout(profile), {})
    return got


class Uop:
    """What a lowering sees: the builder, the profile, the oparg (a constant for replicas)."""

    def __init__(self, name: str, profile, const_oparg: int | None, layout: _Layout | None = None):
        self.name = name
        self.b = Builder(name)
        self.profile = profile
        self.const_oparg = const_oparg
        self._oparg: V | None = None
        # Facts from the profile, by name: ``u.off(struct, path)`` is a field's offset and
        # ``u.const(name)`` a constant (the profile's own methods, without a call in between);
        # the helpers below read the ones they use at every uop from ``layout``.
        self.off = profile.offset
        self.const = profile.const
        if layout is None:
            layout = (_PER_PROFILE.get(profile) or _per_profile(profile))[0]
        self.layout = layout

    # -- facts from the profile
    def bits(self, struct: str, path: str) -> int:
        """The width in bits of a field (of one element, for an array) from the layout."""
        return 8 * self.profile.field(struct, path).element_size

    # -- the instruction's fields
    def oparg(self) -> V:
        """CURRENT_OPARG(): the replica's constant, or the _JIT_OPARG hole (a uint16_t)."""
        if self._oparg is None:
            if self.const_oparg is not None:
                self._oparg = self.b.const(self.const_oparg)
            else:
                self._oparg = self.b.hole("OPARG")
        return self._oparg

    def local(self) -> tuple[V, int]:
        """The address of GETLOCAL(oparg) as (base, disp)."""
        lp = self.layout.localsplus
        if self.const_oparg is not None:
            return FRAME, lp + 8 * self.const_oparg
        b = self.b
        return b.lea(FRAME, self.oparg(), 3), lp

    # -- the frame and the stack pointer
    def _PyFrame_SetStackPointer(self) -> None:
        self.b.store(SP, FRAME, self.layout.stackpointer)

    def _PyFrame_GetStackPointer(self) -> None:
        self.b.load(FRAME, self.layout.stackpointer, 64, False, SP)

    def sp_add(self, slots: int) -> None:
        if slots:
            self.b.add(SP, 8 * slots, dst=SP)

    def peek(self, i: int) -> V:
        """``stack_pointer[i]``."""
        return self.b.load(SP, 8 * i)

    def poke(self, i: int, value: V) -> None:
        self.b.store(value, SP, 8 * i)

    def _PyFrame_GetCode(self) -> V:
        b = self.b
        return b.and_(b.load(FRAME, self.layout.f_executable), ~1)

    def _PyFrame_GetBytecode(self, code: V | None = None) -> V:
        code = code if code is not None else self._PyFrame_GetCode()
        return self.b.add(code, self.layout.co_code_adaptive)

    def GOTO_TIER_ONE(self, target: V) -> None:
        b = self.b
        layout = self.layout
        b.store(0, TSTATE, layout.current_executor)
        b.store(SP, FRAME, layout.stackpointer)     # _PyFrame_SetStackPointer
        b.ret(target)

    # -- objects and stack refs
    def Py_TYPE(self, o: V) -> V:
        return self.b.load(o, self.layout.ob_type)

    def guard_type(self, o: V, type_symbol: str, target=JUMP_TARGET) -> None:
        """``if (Py_TYPE(o) != &type_symbol) JUMP_TO_JUMP_TARGET();``"""
        expected = self.b.hole(type_symbol)
        self.b.br("ne", self.Py_TYPE(o), expected, target)

    def borrow(self, ref: V) -> V:
        """PyStackRef_AsPyObjectBorrow: the pointer with bit 0 cleared."""
        return self.b.and_(ref, ~1)

    def DUP(self, ref: V) -> None:
        """PyStackRef_DUP: a 32-bit increment when the ref owns its object (mortal by
        construction, so no immortality test)."""
        b = self.b
        done = b.label("dup")
        b.brbit(ref, 0, True, done)
        layout = self.layout
        b.rmw(ref, layout.ob_refcnt, layout.ob_refcnt_bits, 1)
        b.bind(done)

    def Py_INCREF(self, o: V) -> None:
        """Py_INCREF on 64-bit: nothing when the 32-bit count is at least the immortal value."""
        b = self.b
        done = b.label("incref")
        layout = self.layout
        rc_off, rc_bits = layout.ob_refcnt, layout.ob_refcnt_bits
        rc = b.load(o, rc_off, rc_bits)
        b.br("uge", rc, layout.immortal_initial_refcnt, done, 32)
        b.store(b.add(rc, 1), o, rc_off, rc_bits)
        b.bind(done)

    def DECREF_MORTAL(self, o: V, destruct: str | None = None) -> None:
        """Py_DECREF_MORTAL (``destruct`` None: _Py_Dealloc at zero) or its _SPECIALIZED form
        (the reference tracer, if installed, is told first; then ``destruct(o)``)."""
        b = self.b
        done = b.label("decref")
        layout = self.layout
        b.rmw(o, layout.ob_refcnt, layout.ob_refcnt_bits, -1, "ne", done)
        if destruct is None:
            b.call("_Py_Dealloc", o, result=False)
        else:
            self._reftracer_destroy(o)
            b.call(destruct, o, result=False)
        b.bind(done)

    def _reftracer_destroy(self, o: V) -> None:
        """_PyReftracerTrack(o, PyRefTracer_DESTROY): tracer(o, 1, data) when one is set."""
        b = self.b
        none = b.label("notracer")
        runtime = b.hole("_PyRuntime")
        tracer = b.load(runtime, self.layout.tracer_func)
        b.br("eq", tracer, 0, none)
        data = b.load(runtime, self.layout.tracer_data)
        b.call_ptr(tracer, o, b.const(1), data, result=False)   # PyRefTracer_DESTROY
        b.bind(none)

    def Py_DECREF(self, o: V) -> None:
        """Py_DECREF: nothing for an immortal object (negative 32-bit count)."""
        b = self.b
        done = b.label("immortal")
        layout = self.layout
        b.br("lt", b.load(o, layout.ob_refcnt, layout.ob_refcnt_bits), 0, done, 32)
        self.DECREF_MORTAL(o)
        b.bind(done)

    def CLOSE(self, ref: V, destruct: str | None = None) -> None:
        """PyStackRef_CLOSE / PyStackRef_XCLOSE (NULL has bit 0 set) / CLOSE_SPECIALIZED."""
        b = self.b
        done = b.label("close")
        b.brbit(ref, 0, True, done)
        self.DECREF_MORTAL(ref, destruct)
        b.bind(done)

    def FromPyObjectNew(self, o: V) -> V:
        """PyStackRef_FromPyObjectNew: an immortal object tagged, else a new strong ref. The
        register ``o`` becomes the stack ref (it is tagged in place)."""
        b = self.b
        immortal, done = b.label("immortal"), b.label("new")
        layout = self.layout
        rc_off, rc_bits = layout.ob_refcnt, layout.ob_refcnt_bits
        b.br("lt", b.load(o, rc_off, rc_bits), 0, immortal, rc_bits)
        b.rmw(o, rc_off, rc_bits, 1)
        b.jump(done)
        b.bind(immortal)
        b.or_(o, 1, dst=o)
        b.bind(done)
        return o

    def FromPyObjectSteal(self, o: V) -> V:
        """PyStackRef_FromPyObjectSteal: tag with bit 0 of ob_flags (the immortal flag)."""
        b = self.b
        layout = self.layout
        flags = b.load(o, layout.ob_flags, layout.ob_flags_bits)
        return b.or_(b.and_(flags, 1), o)

    def stackref_const(self, symbol: str) -> V:
        """PyStackRef_True/False/None: the static object's address with bit 0 set."""
        return self.b.hole(symbol, 1)


def lower(name: str, profile) -> Function:
    """The LIR of uop ``name`` (a replica lowers its base uop with the oparg folded)."""
    layout, lowerings = _PER_PROFILE.get(profile) or _per_profile(profile)
    found = lowerings.get(name)
    if found is None:
        found = lowerings[name] = _find_lowering(name, profile)
    fn, const_oparg = found
    u = Uop(name, profile, const_oparg, layout)
    fn(u)
    return u.b.finish()


def _find_lowering(name: str, profile) -> tuple:
    """(the lowering of uop ``name``, the oparg its replica folds or None)."""
    spec = profile.uops.get(name)
    if spec is None:
        raise LowerError(f"unknown uop {name!r}")
    const_oparg = spec.const_oparg
    base = name.rsplit("_", 1)[0] if const_oparg is not None and name not in LOWERINGS else name
    fn = LOWERINGS.get(base)
    if fn is None:
        raise LowerError(f"{name} has no lowering", where=f"uop {name}")
    return fn, const_oparg


def supported(name: str, profile) -> bool:
    spec = profile.uops.get(name)
    if spec is None:
        return False
    base = name.rsplit("_", 1)[0] if spec.const_oparg is not None and name not in LOWERINGS else name
    return base in LOWERINGS


from refjit.lower import control, iteration, numbers, sequences, stack  # noqa: E402,F401  (register)

__all__ = ["LOWERINGS", "Uop", "lower", "lowering", "supported", "lir", "ERROR_TARGET", "JUMP_TARGET"]
