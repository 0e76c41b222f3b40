"""LIR: the small low-level IR each uop is written in once, for every ISA (DESIGN.md "LIR").

A :class:`Function` is a straight list of :class:`Op`s over virtual registers (:class:`V`),
int64 (``kind "i"``) or float64 (``kind "f"``). Three int registers are pinned to the stencil
ABI's registers (FACTS §b.2): :data:`FRAME`, :data:`SP` (``stack_pointer``) and :data:`TSTATE`;
the lowering may update SP (``b.add(SP, 8, dst=SP)``) and the backend keeps it in its register.
Virtual registers are not SSA: an op writes its ``dst``; a register lives from its first
mention to its last (jumps backwards extend that over the loop), which is what the backends'
linear-scan allocation needs.

Holes are instruction fields, not constants: ``b.hole("OPARG")`` is ``_JIT_OPARG``, any other
name a C symbol's address, so one lowering serves every instance of a uop, like a stencil.
Read-only data (C strings, small tables) goes with the uop (``b.cstring``, ``b.rodata``).

Operations (:data:`SIGNATURES` lists their operands): constants, holes and data addresses;
loads/stores of 8-64-bit ints and f64 at base+disp, ``lea`` (base + index<<shift + disp) and
``rmw`` (add to memory in place, optionally branching on zero: reference counts); int ``bin``
(add sub mul and or xor shl shr sar; the second operand a register or a constant), ``ovf`` (add
sub mul branching on signed overflow), ``setcc``/``select``/``br`` on signed or unsigned 32/64-bit
conditions, ``brbit``; f64 ``fbin``, ``fsetcc`` (ordered), ``i2f``/``f2i``; ``call`` and
``call_ptr`` with the C ABI (int and double arguments, an int result, optionally an out-parameter
slot on the C stack, :data:`OUT_SLOT`).

Branch targets are :class:`Lbl` labels bound in the same function, or one of the exits
:data:`CONTINUE` (the next uop), :data:`JUMP_TARGET` and :data:`ERROR_TARGET`
(``instruction_starts[...]`` of the uop's stubs). ``ret`` returns to the shim
(``GOTO_TIER_ONE``), ``tail_jump`` jumps through a register (``GOTO_TIER_TWO``). A function that
falls off its end continues with the next uop.

``str(function)`` is a readable listing, one op per line.

Liveness, for the backends' allocators (:func:`live_intervals`, :func:`call_positions`,
:func:`crossing`, :func:`allocate`), is one :class:`_Liveness` per function, kept with it:
``intervals`` ``{vreg: [first, last]}`` in order of first mention (an op's reads before its
writes), ``calls`` and ``abi_ops`` (positions of the calls, and of the calls and returns), and
``crossing`` once known. The :class:`Builder` records it while it emits the ops (each method
knows what its op reads and writes); a function made by hand, or changed after ``finish``, is
walked once instead. :func:`allocate` is a linear scan over the intervals in that order, with
the free registers in small lists (scratch, callee-saved, float) and the live ones in a list of
(end, register, its pool); it notes the registers live across each call on its way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from refjit.errors import LowerError

INT, F64 = "i", "f"


class V:
    """A virtual register."""

    __slots__ = ("id", "kind", "name")

    def __init__(self, id: int, kind: str = INT, name: str = ""):
        self.id, self.kind, self.name = id, kind, name

    def __repr__(self) -> str:
        return self.name or f"{'v' if self.kind == INT else 'f'}{self.id}"


FRAME = V(-1, INT, "FRAME")
SP = V(-2, INT, "SP")
TSTATE = V(-3, INT, "TSTATE")
PINNED = (FRAME, SP, TSTATE)
# Only as a call argument: the address of an 8-byte slot on the C stack that the callee may
# write (an out-parameter such as ``&executor``); ``call(..., out=True)`` reads it back.
OUT_SLOT = V(-4, INT, "OUT_SLOT")


class Exit:
    """A place outside the uop a branch can go to (a hole the linker patches)."""

    __slots__ = ("name", "symbol")

    def __init__(self, name: str, symbol: str):
        self.name, self.symbol = name, symbol

    def __repr__(self) -> str:
        return self.name


CONTINUE = Exit("CONTINUE", "_JIT_CONTINUE")
JUMP_TARGET = Exit("JUMP_TARGET", "_JIT_JUMP_TARGET")
ERROR_TARGET = Exit("ERROR_TARGET", "_JIT_ERROR_TARGET")


class Lbl:
    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f".{self.name}"


# The instruction fields a hole can name (HoleValue names, Tools/jit/_stencils.py).
FIELD_HOLES = {"OPARG", "OPERAND0", "OPERAND1", "TARGET", "EXECUTOR"}
INT_CONDS = {"eq", "ne", "lt", "le", "gt", "ge", "ult", "ule", "ugt", "uge"}
F64_CONDS = {"lt", "le", "gt", "ge"}  # ordered: false when either side is a NaN
WIDTHS = {8, 16, 32, 64}


def _addend_problem(kind: str, addend: int) -> str:
    """Why C's sum of hole ``kind`` and ``addend`` is not always the 64-bit sum ("" if it is)."""
    if not _MIN64 <= addend <= _MAX64:
        return "not a 64-bit value"
    if kind == "TARGET":
        return "C adds it to the 32-bit target as an unsigned int, wrapping at 2**32"
    if kind == "OPARG":
        if not -(1 << 31) + (1 << 16) < addend < (1 << 31) - (1 << 16):
            return "C adds it to the oparg as an int, which must not overflow"
        return ""
    if -(1 << 32) < addend <= -(1 << 31):
        return "C negates a literal of that size as a 32-bit unsigned int"
    return ""


# hole name -> (the name of its register, its symbol)
_FIELD_HOLE_NAMES = {kind: (kind.lower(), f"_JIT_{kind}") for kind in FIELD_HOLES}
_MIN64, _MAX64 = -(1 << 63), (1 << 64) - 1

# op -> its operands, in order: "d" a register written, "s" a register read, "v" a register read
# or an int, "*" a tuple of registers read, "." anything else (a literal, label, exit, symbol).
SIGNATURES = {
    "const": "d.",        # dst, value
    "hole": "d..",        # dst, symbol, addend
    "data": "d.",         # dst, label of the function's read-only data
    "mov": "ds",
    "load": "ds...",      # dst, base, disp, width, signed
    "store": "vs..",      # value (a register or an int), base, disp, width
    "rmw": "s.....",      # base, disp, width, delta, cond (eq/ne of the result with 0) or None, target
    "fload": "ds.",
    "fstore": "ss.",
    "bin": ".dsv",        # op, dst, a, b (b a register or an int)
    "ovf": ".dsv.",       # op, dst, a, b, target: branch when the signed result overflows
    "setcc": ".dsv.",     # cond, dst, a, b, width
    "select": ".dsvss.",  # cond, dst, a, b, if_true, if_false, width
    "lea": "dss..",       # dst, base, index, shift, disp: base + (index << shift) + disp
    "fbin": ".dss",
    "fsetcc": ".dss",
    "i2f": "ds",
    "f2i": "ds",
    "br": ".sv..",        # cond, a, b, target, width
    "brbit": "s...",      # a, bit, set?, target
    "jump": ".",
    "label": ".",
    "call": "d.*d",       # dst (or None), symbol, args, out-slot dst (or None)
    "call_ptr": "ds*d",   # dst (or None), function pointer, args, None
    "ret": "s",
    "tail_jump": "s",
}


class Op:
    """One operation: its name (a key of :data:`SIGNATURES`) and its operands, in that order."""

    __slots__ = ("op", "args")

    def __init__(self, op: str, args: tuple):
        self.op, self.args = op, args

    def __eq__(self, other) -> bool:
        if other.__class__ is not Op:
            return NotImplemented
        return self.op == other.op and self.args == other.args

    __hash__ = None  # compared by value, like the operands it holds

    def __repr__(self) -> str:
        return f"Op(op={self.op!r}, args={self.args!r})"

    def __str__(self) -> str:
        """One line of C-like text: ``v3 = load64 [v1 + 0x10]``, ``if v6 >u 8 goto JUMP_TARGET``."""
        a, k = self.args, self.op
        if k == "label":
            return f"{a[0]!r}:"
        return "    " + _FORMAT[k](*a)


def _mem(base, disp) -> str:
    if not disp:
        return f"[{base!r}]"
    return f"[{base!r} {'-' if disp < 0 else '+'} {_show(abs(disp))}]"


def _w(width: int) -> str:
    return "" if width == 64 else f" ({width}-bit)"


_BINOP = {"add": "+", "sub": "-", "mul": "*", "and": "&", "or": "|", "xor": "^", "shl": "<<",
          "shr": ">>u", "sar": ">>"}
_COND = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">=", "ult": "<u",
         "ule": "<=u", "ugt": ">u", "uge": ">=u"}


def _call_text(dst, what, args, out) -> str:
    callee = what if isinstance(what, str) else f"*{what!r}"
    text = f"call {callee}({', '.join(repr(x) for x in args)})"
    results = [repr(x) for x in (dst, out) if x is not None]
    return f"{', '.join(results)} = {text}" if results else text


_FORMAT = {
    "const": lambda d, v: f"{d!r} = {_show(v)}",
    "hole": lambda d, sym, add: f"{d!r} = &{sym}" + (f" + {_show(add)}" if add else ""),
    "data": lambda d, label: f"{d!r} = &{label}",
    "mov": lambda d, s_: f"{d!r} = {s_!r}",
    "load": lambda d, b, disp, w, signed: f"{d!r} = load{w}{'s' if signed else ''} {_mem(b, disp)}",
    "store": lambda v, b, disp, w: f"store{w} {_mem(b, disp)} = {_show(v)}",
    "rmw": lambda b, disp, w, delta, cond, t: f"{_mem(b, disp)} += {_show(delta)}{_w(w)}"
                                              + (f"; if {_COND[cond]} 0 goto {t!r}" if cond else ""),
    "fload": lambda d, b, disp: f"{d!r} = loadf64 {_mem(b, disp)}",
    "fstore": lambda v, b, disp: f"storef64 {_mem(b, disp)} = {v!r}",
    "bin": lambda op, d, x, y: f"{d!r} = {x!r} {_BINOP[op]} {_show(y)}",
    "ovf": lambda op, d, x, y, t: f"{d!r} = {x!r} {_BINOP[op]} {_show(y)}; if overflow goto {t!r}",
    "setcc": lambda c, d, x, y, w: f"{d!r} = {x!r} {_COND[c]} {_show(y)}{_w(w)}",
    "select": lambda c, d, x, y, t, f, w: f"{d!r} = {x!r} {_COND[c]} {_show(y)}{_w(w)} ? {t!r} : {f!r}",
    "lea": lambda d, b, i, sh, disp: f"{d!r} = {b!r} + ({i!r} << {sh})" + (f" + {_show(disp)}" if disp else ""),
    "fbin": lambda op, d, x, y: f"{d!r} = {x!r} {'/' if op == 'div' else _BINOP[op]} {y!r}",
    "fsetcc": lambda c, d, x, y: f"{d!r} = {x!r} {_COND[c]} {y!r} (ordered)",
    "i2f": lambda d, x: f"{d!r} = (double){x!r}",
    "f2i": lambda d, x: f"{d!r} = (int64){x!r}",
    "br": lambda c, x, y, t, w: f"if {x!r} {_COND[c]} {_show(y)}{_w(w)} goto {t!r}",
    "brbit": lambda x, bit, set_, t: f"if bit {bit} of {x!r} is {'set' if set_ else 'clear'} goto {t!r}",
    "jump": lambda t: f"goto {t!r}",
    "call": _call_text,
    "call_ptr": _call_text,
    "ret": lambda v: f"return {v!r}",
    "tail_jump": lambda v: f"goto *{v!r}",
}


def _show(x) -> str:
    if isinstance(x, (list, tuple)):
        return "(" + ", ".join(_show(y) for y in x) + ")"
    if isinstance(x, int) and not isinstance(x, bool) and abs(x) > 9:
        return hex(x)
    return repr(x) if not isinstance(x, str) else x


@dataclass
class Function:
    """One uop's LIR, its read-only data (C strings) and its name."""

    name: str
    ops: list[Op] = field(default_factory=list)
    rodata: dict[str, bytes] = field(default_factory=dict)
    nregs: int = 0

    def __str__(self) -> str:
        lines = [f"{self.name}:"] + [str(op) for op in self.ops]
        for label, data in self.rodata.items():
            lines.append(f"  rodata {label}: {data!r}")
        return "\n".join(lines)


class Builder:
    """Appends ops to a :class:`Function`; every method checks its operands.

    A uop's LIR is built afresh at every compilation, so the methods append their :class:`Op`
    themselves, and the commonest ones (load, store, bin, br...) check their operands with direct
    comparisons before calling ``_reg``/``_operand``, which explain a bad one.

    Each method also knows which registers its op reads and writes, so the Builder records the
    liveness as it goes (what :func:`_liveness` would otherwise find by walking the ops again):
    ``_iv`` is ``{vreg: [first, last]}`` in order of first mention, the op's reads before its
    writes. A register the method creates is new there (``iv[dst] = [p, p]``, and with the
    highest id so far it keeps the intervals in (first, id) order); any other goes through
    ``_mention``, which notes an interval that begins out of that order. ``_at`` holds the
    position of every label bound, ``_back`` the (label, branch) positions of the jumps
    backwards, ``_calls``/``_abi`` the positions of the calls and of the calls and returns.
    :meth:`finish` extends the intervals over the loops and leaves the result with the
    function. The commonest methods do ``_mention``'s usual case inline (a register seen before:
    its interval now ends here; a pinned one: nothing), and check an exit target inline."""

    def __init__(self, name: str):
        self.fn = Function(name, [], {}, 0)
        self._ops = self.fn.ops
        self._labels = 0
        self._branches: list[Lbl] = []    # the labels branched to, in op order (for finish)
        self._iv: dict[V, list[int]] = {}
        self._at: dict[str, int] = {}     # label name -> the position where it is bound
        self._back: list[tuple[int, int]] = []
        self._calls: list[int] = []
        self._abi: list[int] = []
        self._in_order = True             # the intervals began in (first, id) order

    def _err(self, why: str) -> LowerError:
        return LowerError(why, where=f"lowering {self.fn.name}")

    def _reg(self, v, kind: str = INT) -> V:
        if v.__class__ is not V or v.kind != kind:
            raise self._err(f"expected a {'int' if kind == INT else 'f64'} register, got {v!r}")
        return v

    def _operand(self, v):
        """An int register, or an int constant that fits in 64 bits (signed or not). A constant
        is a plain int: a bool or an int subclass (an enum member...) is refused, since the
        backends key their encoding tables by value and type."""
        if v.__class__ is int:
            if not _MIN64 <= v <= _MAX64:
                raise self._err(f"constant {v:#x} does not fit in 64 bits")
            return v
        if isinstance(v, int):
            raise self._err(f"constant {v!r} is a {type(v).__name__}, not a plain int")
        return self._reg(v)

    def _int(self, what: str, x) -> None:
        """Explain a displacement, addend or delta ``x`` that is not a plain int."""
        raise self._err(f"{what} must be a plain int, got {x!r} ({type(x).__name__})")

    def _mention(self, x, p: int) -> None:
        """Op ``p`` reads or writes ``x`` (anything but a register is ignored)."""
        iv = self._iv
        r = iv.get(x)
        if r is not None:
            r[1] = p
        elif x.__class__ is V and x.id >= 0:
            # a new interval that need not have the highest id: out of order when the one
            # before it began at the same op with a higher id
            if iv:
                before = next(reversed(iv))
                if iv[before][0] == p and x.id < before.id:
                    self._in_order = False
            iv[x] = [p, p]

    def _write(self, dst: V, p: int, fresh: bool) -> None:
        """Op ``p`` writes ``dst``, a register it created (``fresh``) or one it was given."""
        if fresh:
            self._iv[dst] = [p, p]
        else:
            self._mention(dst, p)

    def _target(self, t):
        if t.__class__ is Lbl:
            self._branches.append(t)
            head = self._at.get(t.name)
            if head is not None:       # bound already: a jump backwards (a loop)
                self._back.append((head, len(self._ops)))
        elif t.__class__ is not Exit:
            raise self._err(f"branch target must be a label or an exit, got {t!r}")
        return t

    # -- registers and labels
    def new(self, name: str = "") -> V:
        fn = self.fn
        n = fn.nregs = fn.nregs + 1
        return V(n, INT, f"{name}_{n}" if name else "")

    def newf(self, name: str = "") -> V:
        fn = self.fn
        n = fn.nregs = fn.nregs + 1
        return V(n, F64, f"{name}_{n}" if name else "")

    def label(self, name: str = "L") -> Lbl:
        n = self._labels = self._labels + 1
        return Lbl(f"{name}{n}")

    def bind(self, label: Lbl) -> None:
        ops = self._ops
        self._at[label.name] = len(ops)
        ops.append(Op("label", (label,)))

    # -- values
    def const(self, value: int, dst: V | None = None) -> V:
        ops = self._ops
        p = len(ops)
        if dst is None:
            fn = self.fn    # self.new(), without the call
            n = fn.nregs = fn.nregs + 1
            dst = V(n, INT, "")
            fresh = True
        else:
            self._reg(dst)
            fresh = False
        if value.__class__ is int and _MIN64 <= value <= _MAX64:
            value &= _MAX64
        else:
            value = self._operand(value) & _MAX64
        if fresh:
            self._iv[dst] = [p, p]
        else:
            self._mention(dst, p)
        ops.append(Op("const", (dst, value)))
        return dst

    def hole(self, kind: str, addend: int = 0, dst: V | None = None) -> V:
        """An instruction field (``OPARG``...) or the address of a C symbol, plus ``addend``.

        A backend may leave the sum to the linker, which computes it as jit.c's emitter does, in
        C (FACTS §b.5), so the LIR takes only addends whose C sum is the 64-bit sum for every
        value of the field: for ``TARGET`` (an ``unsigned int`` sum, wrapping at 2**32) none; for
        ``OPARG`` (an ``int`` sum) one of magnitude under 2**31 - 2**16; for the rest any but a
        negative one of magnitude 2**31 to 2**32 - 1 (an ``unsigned int`` literal, negated in
        32 bits)."""
        if addend.__class__ is not int:
            self._int(f"hole {kind} addend", addend)
        if addend:
            why = _addend_problem(kind, addend)
            if why:
                raise self._err(f"hole {kind} addend {addend:#x}: {why}")
        field_hole = _FIELD_HOLE_NAMES.get(kind)
        ops = self._ops
        p = len(ops)
        if field_hole is not None:
            symbol = field_hole[1]
            if dst is None:
                fn = self.fn    # self.new(its name), without the call
                n = fn.nregs = fn.nregs + 1
                dst = V(n, INT, f"{field_hole[0]}_{n}")
                self._iv[dst] = [p, p]
            else:
                self._mention(self._reg(dst), p)
        else:
            if kind.startswith("_JIT_"):
                raise self._err(f"name the hole {kind[5:]!r}, not {kind!r}")
            if dst is None:
                fn = self.fn    # self.new(), without the call
                n = fn.nregs = fn.nregs + 1
                dst = V(n, INT, "")
                self._iv[dst] = [p, p]
            else:
                self._mention(self._reg(dst), p)
            symbol = kind
        ops.append(Op("hole", (dst, symbol, addend)))
        return dst

    def cstring(self, text: str, dst: V | None = None) -> V:
        """The address of a NUL-terminated copy of ``text`` in the uop's read-only data."""
        return self.rodata(text.encode() + b"\0", dst)

    def rodata(self, blob: bytes, dst: V | None = None) -> V:
        """The address of ``blob`` (8-byte aligned) in the uop's read-only data."""
        label = f"rodata{len(self.fn.rodata)}"
        self.fn.rodata[label] = bytes(blob) + bytes(-len(blob) % 8)
        fresh = dst is None
        dst = self.new() if fresh else self._reg(dst)
        ops = self._ops
        self._write(dst, len(ops), fresh)
        ops.append(Op("data", (dst, label)))
        return dst

    def mov(self, dst: V, src: V) -> V:
        self._reg(dst, src.kind)
        self._reg(src, src.kind)
        ops = self._ops
        p = len(ops)
        self._mention(src, p)
        self._mention(dst, p)
        ops.append(Op("mov", (dst, src)))
        return dst

    def load(self, base: V, disp: int = 0, width: int = 64, signed: bool = False,
             dst: V | None = None) -> V:
        if width not in WIDTHS:
            raise self._err(f"load width {width}")
        if disp.__class__ is not int:
            self._int("load displacement", disp)
        ops = self._ops
        p = len(ops)
        if dst is None:
            fn = self.fn    # self.new(), without the call
            n = fn.nregs = fn.nregs + 1
            dst = V(n, INT, "")
            fresh = True
        else:
            if dst.__class__ is not V or dst.kind != INT:
                self._reg(dst)
            fresh = False
        if base.__class__ is not V or base.kind != INT:
            self._reg(base)
        iv = self._iv
        r = iv.get(base)
        if r is not None:
            r[1] = p
        elif base.id >= 0:
            self._mention(base, p)
        if fresh:
            iv[dst] = [p, p]
        else:       # (often SP)
            r = iv.get(dst)
            if r is not None:
                r[1] = p
            elif dst.id >= 0:
                self._mention(dst, p)
        ops.append(Op("load", (dst, base, disp, width, signed)))
        return dst

    def store(self, value, base: V, disp: int = 0, width: int = 64) -> None:
        """``*(intN *)(base + disp) = value`` (a register, or a constant)."""
        if width not in WIDTHS:
            raise self._err(f"store width {width}")
        if disp.__class__ is not int:
            self._int("store displacement", disp)
        ops = self._ops
        p = len(ops)
        iv = self._iv
        if value.__class__ is V:
            if value.kind != INT:
                self._reg(value)
            r = iv.get(value)
            if r is not None:
                r[1] = p
            elif value.id >= 0:
                self._mention(value, p)
        elif value.__class__ is int:
            value &= (1 << width) - 1
        else:
            self._operand(value)     # (explains it: a bool, an int subclass, not a register)
        if base.__class__ is not V or base.kind != INT:
            self._reg(base)
        r = iv.get(base)
        if r is not None:
            r[1] = p
        elif base.id >= 0:
            self._mention(base, p)
        ops.append(Op("store", (value, base, disp, width)))

    def rmw(self, base: V, disp: int, width: int, delta: int, cond: str | None = None,
            target=None) -> None:
        """``*(intN *)(base + disp) += delta`` in place; with ``cond`` ("eq"/"ne"), branch to
        ``target`` when the new value is (not) zero (a reference count reaching 0)."""
        if disp.__class__ is not int:
            self._int("rmw displacement", disp)
        if delta.__class__ is not int:
            self._int("rmw delta", delta)
        if width not in (32, 64) or not -(1 << 31) <= delta < (1 << 31):
            raise self._err(f"rmw of width {width} by {delta}")
        if (cond is None) != (target is None) or cond not in (None, "eq", "ne"):
            raise self._err(f"rmw branches on eq/ne with a target, got {cond!r} {target!r}")
        if base.__class__ is not V or base.kind != INT:
            self._reg(base)
        ops = self._ops
        p = len(ops)
        r = self._iv.get(base)
        if r is not None:
            r[1] = p
        elif base.id >= 0:
            self._mention(base, p)
        if target is not None and target.__class__ is not Exit:
            self._target(target)
        ops.append(Op("rmw", (base, disp, width, delta, cond, target)))

    def fload(self, base: V, disp: int = 0, dst: V | None = None) -> V:
        if disp.__class__ is not int:
            self._int("fload displacement", disp)
        fresh = dst is None
        dst = self.newf() if fresh else self._reg(dst, F64)
        self._reg(base)
        ops = self._ops
        p = len(ops)
        self._mention(base, p)
        self._write(dst, p, fresh)
        ops.append(Op("fload", (dst, base, disp)))
        return dst

    def fstore(self, value: V, base: V, disp: int = 0) -> None:
        if disp.__class__ is not int:
            self._int("fstore displacement", disp)
        self._reg(value, F64)
        self._reg(base)
        ops = self._ops
        p = len(ops)
        self._mention(value, p)
        self._mention(base, p)
        ops.append(Op("fstore", (value, base, disp)))

    def _bin(self, op: str, a, b, dst):
        ops = self._ops
        p = len(ops)
        if dst is None:
            fn = self.fn    # self.new(), without the call
            n = fn.nregs = fn.nregs + 1
            dst = V(n, INT, "")
            fresh = True
        else:
            if dst.__class__ is not V or dst.kind != INT:
                self._reg(dst)
            fresh = False
        if a.__class__ is not V or a.kind != INT:
            self._reg(a)
        iv = self._iv
        r = iv.get(a)
        if r is not None:
            r[1] = p
        elif a.id >= 0:
            self._mention(a, p)
        if b.__class__ is V and b.kind == INT:
            r = iv.get(b)
            if r is not None:
                r[1] = p
            elif b.id >= 0:
                self._mention(b, p)
        elif not (b.__class__ is int and _MIN64 <= b <= _MAX64):
            self._operand(b)     # (explains a bad operand)
        if fresh:
            iv[dst] = [p, p]
        else:       # (often SP)
            r = iv.get(dst)
            if r is not None:
                r[1] = p
            elif dst.id >= 0:
                self._mention(dst, p)
        ops.append(Op("bin", (op, dst, a, b)))
        return dst

    def add(self, a, b, dst=None):
        """``dst = a + b`` (``dst`` a new register unless given); likewise for the others."""
        return self._bin("add", a, b, dst)

    def sub(self, a, b, dst=None):
        return self._bin("sub", a, b, dst)

    def mul(self, a, b, dst=None):
        return self._bin("mul", a, b, dst)

    def and_(self, a, b, dst=None):
        return self._bin("and", a, b, dst)

    def or_(self, a, b, dst=None):
        return self._bin("or", a, b, dst)

    def xor(self, a, b, dst=None):
        return self._bin("xor", a, b, dst)

    def _shift(self, op, a, n, dst):
        if not isinstance(n, int) or not 0 <= n < 64:
            raise self._err(f"{op} by {n!r}: shifts take a constant count 0..63")
        return self._bin(op, a, n, dst)

    def shl(self, a, n: int, dst: V | None = None):
        return self._shift("shl", a, n, dst)

    def shr(self, a, n: int, dst: V | None = None):
        return self._shift("shr", a, n, dst)

    def sar(self, a, n: int, dst: V | None = None):
        return self._shift("sar", a, n, dst)

    def lea(self, base: V, index: V, shift: int, disp: int = 0, dst: V | None = None) -> V:
        """``dst = base + (index << shift) + disp`` (an address: shift 0..3)."""
        if shift.__class__ is not int or shift not in (0, 1, 2, 3):
            raise self._err(f"lea shift {shift!r}: 0..3")
        if disp.__class__ is not int:
            self._int("lea displacement", disp)
        fresh = dst is None
        if fresh:
            fn = self.fn    # self.new(), without the call
            n = fn.nregs = fn.nregs + 1
            dst = V(n, INT, "")
        else:
            self._reg(dst)
        if base.__class__ is not V or base.kind != INT:
            self._reg(base)
        if index.__class__ is not V or index.kind != INT:
            self._reg(index)
        ops = self._ops
        p = len(ops)
        iv = self._iv
        r = iv.get(base)
        if r is not None:
            r[1] = p
        elif base.id >= 0:
            self._mention(base, p)
        r = iv.get(index)
        if r is not None:
            r[1] = p
        elif index.id >= 0:
            self._mention(index, p)
        if fresh:
            iv[dst] = [p, p]
        else:
            r = iv.get(dst)
            if r is not None:
                r[1] = p
            elif dst.id >= 0:
                self._mention(dst, p)
        ops.append(Op("lea", (dst, base, index, shift, disp)))
        return dst

    def add_ovf(self, a, b, target, dst: V | None = None) -> V:
        """``dst = a + b``, branching to ``target`` when the signed 64-bit sum overflows."""
        return self._ovf("add", a, b, target, dst)

    def sub_ovf(self, a, b, target, dst: V | None = None) -> V:
        return self._ovf("sub", a, b, target, dst)

    def mul_ovf(self, a, b, target, dst: V | None = None) -> V:
        return self._ovf("mul", a, b, target, dst)

    def _ovf(self, op, a, b, target, dst):
        fresh = dst is None
        dst = self.new() if fresh else self._reg(dst)
        self._reg(a)
        self._reg(b)
        ops = self._ops
        p = len(ops)
        self._mention(a, p)
        self._mention(b, p)
        self._write(dst, p, fresh)
        ops.append(Op("ovf", (op, dst, a, b, self._target(target))))
        return dst

    def setcc(self, cond: str, a: V, b, width: int = 64, dst: V | None = None) -> V:
        """``dst = (a cond b) ? 1 : 0``."""
        if cond not in INT_CONDS or width not in (32, 64):
            raise self._err(f"bad integer condition {cond!r}/{width}")
        fresh = dst is None
        dst = self.new() if fresh else self._reg(dst)
        self._reg(a)
        b = self._operand(b)
        ops = self._ops
        p = len(ops)
        self._mention(a, p)
        self._mention(b, p)
        self._write(dst, p, fresh)
        ops.append(Op("setcc", (cond, dst, a, b, width)))
        return dst

    def select(self, cond: str, a: V, b, if_true: V, if_false: V, width: int = 64,
               dst: V | None = None) -> V:
        """``dst = (a cond b) ? if_true : if_false`` (cmov / csel)."""
        if cond not in INT_CONDS or width not in (32, 64):
            raise self._err(f"bad integer condition {cond!r}/{width}")
        fresh = dst is None
        dst = self.new() if fresh else self._reg(dst)
        self._reg(a)
        b = self._operand(b)
        self._reg(if_true)
        self._reg(if_false)
        ops = self._ops
        p = len(ops)
        for x in (a, b, if_true, if_false):
            self._mention(x, p)
        self._write(dst, p, fresh)
        ops.append(Op("select", (cond, dst, a, b, if_true, if_false, width)))
        return dst

    # -- floats
    def fbin(self, op: str, a: V, b: V, dst: V | None = None) -> V:
        if op not in ("add", "sub", "mul", "div"):
            raise self._err(f"unknown f64 operation {op!r}")
        fresh = dst is None
        dst = self.newf() if fresh else self._reg(dst, F64)
        self._reg(a, F64)
        self._reg(b, F64)
        ops = self._ops
        p = len(ops)
        self._mention(a, p)
        self._mention(b, p)
        self._write(dst, p, fresh)
        ops.append(Op("fbin", (op, dst, a, b)))
        return dst

    def fsetcc(self, cond: str, a: V, b: V, dst: V | None = None) -> V:
        """``dst = (a cond b) ? 1 : 0`` for doubles, false on unordered (like C's < <= > >=)."""
        if cond not in F64_CONDS:
            raise self._err(f"bad f64 condition {cond!r}")
        fresh = dst is None
        dst = self.new() if fresh else self._reg(dst)
        self._reg(a, F64)
        self._reg(b, F64)
        ops = self._ops
        p = len(ops)
        self._mention(a, p)
        self._mention(b, p)
        self._write(dst, p, fresh)
        ops.append(Op("fsetcc", (cond, dst, a, b)))
        return dst

    def i2f(self, a: V, dst: V | None = None) -> V:
        fresh = dst is None
        dst = self.newf() if fresh else self._reg(dst, F64)
        self._reg(a)
        ops = self._ops
        p = len(ops)
        self._mention(a, p)
        self._write(dst, p, fresh)
        ops.append(Op("i2f", (dst, a)))
        return dst

    def f2i(self, a: V, dst: V | None = None) -> V:
        """Truncating conversion (C's ``(int64_t)d``)."""
        fresh = dst is None
        dst = self.new() if fresh else self._reg(dst)
        self._reg(a, F64)
        ops = self._ops
        p = len(ops)
        self._mention(a, p)
        self._write(dst, p, fresh)
        ops.append(Op("f2i", (dst, a)))
        return dst

    # -- control
    def br(self, cond: str, a: V, b, target, width: int = 64) -> None:
        """Branch to ``target`` when ``a cond b`` (signed lt/le/gt/ge, unsigned ult...)."""
        if cond not in INT_CONDS or width not in (32, 64):
            raise self._err(f"bad integer condition {cond!r}/{width}")
        if a.__class__ is not V or a.kind != INT:
            self._reg(a)
        if not (b.__class__ is V and b.kind == INT or b.__class__ is int and _MIN64 <= b <= _MAX64):
            self._operand(b)     # (explains a bad operand)
        ops = self._ops
        p = len(ops)
        iv = self._iv
        r = iv.get(a)
        if r is not None:
            r[1] = p
        elif a.id >= 0:
            self._mention(a, p)
        if b.__class__ is V:
            r = iv.get(b)
            if r is not None:
                r[1] = p
            elif b.id >= 0:
                self._mention(b, p)
        if target.__class__ is not Exit:
            self._target(target)
        ops.append(Op("br", (cond, a, b, target, width)))

    def brbit(self, a: V, bit: int, is_set: bool, target) -> None:
        """Branch to ``target`` when bit ``bit`` of ``a`` is set (``is_set``) or clear."""
        if bit.__class__ is not int or not 0 <= bit < 64:
            raise self._err(f"bit {bit!r} out of range")
        if a.__class__ is not V or a.kind != INT:
            self._reg(a)
        ops = self._ops
        p = len(ops)
        r = self._iv.get(a)
        if r is not None:
            r[1] = p
        elif a.id >= 0:
            self._mention(a, p)
        if target.__class__ is not Exit:
            self._target(target)
        ops.append(Op("brbit", (a, bit, bool(is_set), target)))

    def jump(self, target) -> None:
        self._ops.append(Op("jump", (self._target(target),)))

    def call(self, symbol: str, *args: V, result: bool = True, out: bool = False):
        """Call the C function ``symbol`` with the C ABI; its int result (or None). With
        ``out``, one argument is :data:`OUT_SLOT` and the result is (result, slot contents)."""
        return self._call("call", symbol, args, result, out)

    def call_ptr(self, fn: V, *args: V, result: bool = True):
        """Call the C function whose address is in ``fn``."""
        return self._call("call_ptr", self._reg(fn), args, result, False)

    def _call(self, op, what, args, result, out):
        for a in args:
            if a.__class__ is V and a.id >= 0:
                continue
            if not isinstance(a, V) or (a.id < 0 and a not in PINNED and a is not OUT_SLOT):
                raise self._err(f"call arguments are registers, got {a!r}")
        if (OUT_SLOT in args) != out:
            raise self._err("OUT_SLOT is passed exactly when out=True")
        ops = self._ops
        p = len(ops)
        iv = self._iv
        for a in args:       # (OUT_SLOT and the pinned registers have no interval)
            r = iv.get(a)
            if r is not None:
                r[1] = p
            elif a.id >= 0:
                self._mention(a, p)
        if what.__class__ is not str:     # (call_ptr's function pointer)
            self._mention(what, p)
        dst = slot = None
        fn = self.fn    # self.new("res"), self.new("out"), without the calls
        if result:
            n = fn.nregs = fn.nregs + 1
            dst = V(n, INT, f"res_{n}")
            iv[dst] = [p, p]
        if out:
            n = fn.nregs = fn.nregs + 1
            slot = V(n, INT, f"out_{n}")
            iv[slot] = [p, p]
        self._calls.append(p)
        self._abi.append(p)
        ops.append(Op(op, (dst, what, tuple(args), slot)))
        return (dst, slot) if out else dst

    def ret(self, value: V) -> None:
        """Return ``value`` to the shim (``GOTO_TIER_ONE``'s ``return``)."""
        if value.__class__ is not V or value.kind != INT:
            self._reg(value)
        ops = self._ops
        p = len(ops)
        r = self._iv.get(value)
        if r is not None:
            r[1] = p
        elif value.id >= 0:
            self._mention(value, p)
        self._abi.append(p)
        ops.append(Op("ret", (value,)))

    def tail_jump(self, address: V) -> None:
        """Jump to the code at ``address`` with the pinned registers in place (``GOTO_TIER_TWO``)."""
        if address.__class__ is not V or address.kind != INT:
            self._reg(address)
        ops = self._ops
        self._mention(address, len(ops))
        ops.append(Op("tail_jump", (address,)))

    def finish(self) -> Function:
        """The function, its labels checked and its liveness (as :func:`_liveness` finds it)
        left with it."""
        at = self._at
        for label in self._branches:
            if label.name not in at:
                raise self._err(f"label {label.name} is never bound")
        fn = self.fn
        if self._back:
            _extend_over_loops(self._iv, self._back)
        fn._liveness = _Liveness(self._iv, self._in_order, self._calls, self._abi, len(fn.ops))
        return fn


# ---------------------------------------------------------------------------------------------
# Liveness for the backends' allocators.

def uses_and_defs(op: Op) -> tuple[list[V], list[V]]:
    """The registers ``op`` reads and writes (pinned ones included)."""
    get = _USES_AND_DEFS.get(op.op)
    return get(op.args) if get is not None else ([], [])


# (the operands that are always registers are not tested: the Builder checked them)
def _store_uses(a):
    return ([a[0], a[1]] if a[0].__class__ is V else [a[1]]), []


def _binary_uses(a):
    return ([a[2], a[3]] if a[3].__class__ is V else [a[2]]), [a[1]]


def _call_uses(a):
    return [x for x in a[2] if x is not OUT_SLOT], [x for x in (a[0], a[3]) if x is not None]


def _call_ptr_uses(a):
    return [x for x in a[2] if x is not OUT_SLOT] + [a[1]], [x for x in (a[0], a[3]) if x is not None]


# op name -> its operands' (uses, defs), one small function per operand shape
_USES_AND_DEFS = {
    **dict.fromkeys(("const", "hole", "data"), lambda a: ([], [a[0]])),
    **dict.fromkeys(("mov", "load", "fload", "i2f", "f2i"), lambda a: ([a[1]], [a[0]])),
    "lea": lambda a: ([a[1], a[2]], [a[0]]),
    "store": _store_uses,
    "fstore": _store_uses,
    "select": lambda a: ([a[2], a[3], a[4], a[5]] if a[3].__class__ is V else [a[2], a[4], a[5]], [a[1]]),
    **dict.fromkeys(("bin", "ovf", "setcc", "fbin", "fsetcc"), _binary_uses),
    "br": lambda a: ([a[1], a[2]] if a[2].__class__ is V else [a[1]], []),
    "brbit": lambda a: ([a[0]], []),
    "rmw": lambda a: ([a[0]], []),
    "call": _call_uses,
    "call_ptr": _call_ptr_uses,
    "ret": lambda a: ([a[0]], []),
    "tail_jump": lambda a: ([a[0]], []),
}


# The same facts as positions, for the walks that must be fast (:func:`_liveness`): op name ->
# (where the registers it reads are among its operands, where those it writes are). A store's
# value and the second operand of bin/ovf/setcc/select/br may be an int instead; calls are
# apart: their arguments are a tuple.
_REGISTERS = {
    **dict.fromkeys(("const", "hole", "data"), ((), (0,))),
    **dict.fromkeys(("mov", "load", "fload", "i2f", "f2i"), ((1,), (0,))),
    "lea": ((1, 2), (0,)),
    **dict.fromkeys(("store", "fstore"), ((0, 1), ())),
    "select": ((2, 3, 4, 5), (1,)),
    **dict.fromkeys(("bin", "ovf", "setcc", "fbin", "fsetcc"), ((2, 3), (1,))),
    "br": ((1, 2), ()),
    **dict.fromkeys(("brbit", "rmw", "ret", "tail_jump"), ((0,), ())),
    "jump": ((), ()),
}
# op name -> where its first register read is, when that is always a register (not a store's)
_FIRST_READ = {k: reads[0] for k, (reads, _) in _REGISTERS.items() if reads and k != "store"}
# every register an op mentions, those it reads first
_MENTIONS = {k: reads + writes for k, (reads, writes) in _REGISTERS.items()}
# branch op -> where its target is among its operands
_TARGET_AT = {"jump": 0, "br": 3, "brbit": 3, "ovf": 4, "rmw": 5}
_BRANCHES_AND_RETURNS = frozenset(_TARGET_AT) | {"ret"}
_CALLS = frozenset(("call", "call_ptr"))
_COMMUTATIVE = frozenset(("add", "and", "or", "xor", "mul"))


class _Liveness:
    """What one walk over a function's ops finds (see :func:`_liveness`), or the Builder
    recorded while it emitted them."""

    __slots__ = ("intervals", "in_order", "calls", "abi_ops", "n_ops", "crossing")

    def __init__(self, intervals, in_order, calls, abi_ops, n_ops):
        self.intervals = intervals   # {vreg: [first, last]}, loops taken into account
        self.in_order = in_order     # the intervals were found in (first, id) order
        self.calls = calls           # positions of the calls
        self.abi_ops = abi_ops       # positions of the calls and returns (register hints)
        self.n_ops = n_ops           # the number of ops it describes
        self.crossing = None         # crossing(fn), once known (allocate finds it on its way)


def _in_order(iv: dict) -> bool:
    """Each interval of ``iv`` starts after the previous one, or with it and a higher id."""
    last_start = last_id = -1
    for v, r in iv.items():
        if r[0] == last_start and v.id < last_id:
            return False
        last_start, last_id = r[0], v.id
    return True


def _extend_over_loops(iv: dict, back: list) -> None:
    """A register live at a label that a later jump goes back to stays live until that jump
    (and so on, until nothing changes); ``back`` holds (label, jump) positions."""
    changed = True
    while changed:
        changed = False
        for head, tail in back:
            for r in iv.values():
                if r[0] < head <= r[1] < tail:
                    r[1] = tail
                    changed = True


def _liveness(fn: Function) -> _Liveness:
    """Live intervals, calls and returns of ``fn`` in one walk over its ops, computed once per
    function and shared by :func:`live_intervals`, :func:`call_positions`, :func:`crossing` and
    :func:`allocate`. A function from the :class:`Builder` comes with them; one made by hand,
    or one whose ops were added to after ``finish``, is walked (a finished function is not
    meant to be edited: an op replaced in place would go unnoticed).

    A register lives from its first mention to its last; a register live at a label that a
    later jump goes back to stays live until that jump (and so on, until nothing changes)."""
    try:
        got = fn._liveness
    except AttributeError:     # made by hand: never walked yet
        got = None
    if got is not None and got.n_ops == len(fn.ops):
        return got
    iv: dict[V, list[int]] = {}
    get = iv.get
    calls: list[int] = []
    abi_ops: list[int] = []
    labels: dict[str, int] = {}
    back: list[tuple[int, int]] = []
    for i, op in enumerate(fn.ops):
        k, a = op.op, op.args
        mentions = _MENTIONS.get(k)
        if mentions is None:
            if k not in _CALLS:
                if k == "label":
                    labels[a[0].name] = i
                continue
            # a call: its arguments, the function pointer (a symbol for ``call``), the results
            calls.append(i)
            abi_ops.append(i)
            a = (*a[2], a[1], a[0], a[3])
            mentions = range(len(a))
        elif k in _BRANCHES_AND_RETURNS:
            if k == "ret":
                abi_ops.append(i)
            elif labels:
                t = a[_TARGET_AT[k]]
                if t.__class__ is Lbl and t.name in labels:
                    back.append((labels[t.name], i))
        for p in mentions:
            x = a[p]
            if x.__class__ is V and x.id >= 0:
                r = get(x)
                if r is None:
                    iv[x] = [i, i]
                else:
                    r[1] = i
    if back:
        _extend_over_loops(iv, back)
    got = fn._liveness = _Liveness(iv, _in_order(iv), calls, abi_ops, len(fn.ops))
    return got


def live_intervals(fn: Function) -> dict[V, list[int]]:
    """``{vreg: [first, last]}`` positions over ``fn.ops``, loops taken into account: a register
    live at a label that a later jump goes back to stays live until that jump.

    Computed once per function and shared by the allocator and the backends: read it, do not
    change it."""
    return _liveness(fn).intervals


def call_positions(fn: Function) -> list[int]:
    return _liveness(fn).calls


def allocate(fn: Function, scratch: tuple, saved: tuple, fregs: tuple, where: str,
             int_args: tuple = (), float_args: tuple = (), ret=None) -> dict[V, object]:
    """A register for every virtual register of ``fn`` (linear scan over live intervals), in a
    new dict that the caller may add to (the backends add their pinned registers).

    ``scratch`` are caller-saved registers, ``saved`` callee-saved ones: a value live across a
    call goes to one of them if it can, else to a scratch register that the backend saves around
    that call (:func:`crossing` tells which). ``fregs`` are the float registers (no float may
    live across a call). An op's destination may take the register of a source that dies at that
    op (the backends read every source before writing, or handle the overlap); otherwise live
    ranges that touch never share. Running out is a LowerError: there is no spilling.

    ``int_args``/``float_args``/``ret`` are the C ABI's argument and result registers: a value
    whose only use is as a call's argument (or that is a call's result, or returned) gets that
    register when it is free, which saves the moves around the call.
    """
    live = _liveness(fn)
    if not live.intervals:
        return {}
    calls = live.calls
    ops = fn.ops
    hints: dict[V, object] = {}
    for i in live.abi_ops:
        op = ops[i]
        a = op.args
        if op.op == "ret":
            if ret is not None and a[0].id >= 0:
                hints.setdefault(a[0], ret)
            continue
        n_int = n_float = 0     # the C ABI numbers int and double arguments apart
        for x in a[2]:
            if x.kind == INT:
                if n_int < len(int_args) and x.id >= 0 and x not in hints:
                    hints[x] = int_args[n_int]
                n_int += 1
            else:
                if n_float < len(float_args) and x.id >= 0 and x not in hints:
                    hints[x] = float_args[n_float]
                n_float += 1
        if a[0] is not None and ret is not None:
            hints.setdefault(a[0], ret)
    # by start, then id
    order = live.intervals.items()
    if not live.in_order:
        order = sorted(order, key=lambda item: (item[1][0], item[0].id))
    n_ops = len(ops)
    # the registers live across each call (crossing(fn)), found on the way when the intervals
    # come in their own order
    across = {c: [] for c in calls} if calls and live.in_order and live.crossing is None else None
    active: list[tuple[int, object, list]] = []  # (end, reg, the pool it returns to)
    soonest = n_ops                              # the first end among them
    free_s, free_c = list(scratch), list(saved)
    free_f = None                                # list(fregs), at the first float
    out: dict[V, object] = {}
    next_call = 0                                # calls[next_call]: the first call after start
    n_calls = len(calls)
    for v, (start, end) in order:
        # A register whose value dies at this op may be the op's destination (two-address
        # friendly); values that live on never share.
        if soonest <= start:
            keep = []
            soonest = n_ops
            for item in active:
                if item[0] <= start:
                    item[2].append(item[1])
                else:
                    keep.append(item)
                    if item[0] < soonest:
                        soonest = item[0]
            active = keep
        crosses = False
        if next_call < n_calls:
            while next_call < n_calls and calls[next_call] <= start:
                next_call += 1
            if next_call < n_calls and calls[next_call] < end:
                crosses = True
                if across is not None:
                    j = next_call
                    while j < n_calls and calls[j] < end:
                        across[calls[j]].append(v)
                        j += 1
        if v.kind == F64:
            if crosses:
                raise LowerError(f"f64 value {v!r} lives across a call", where=where)
            if free_f is None:
                free_f = list(fregs)
            pool = free_f
        elif crosses:
            pool = free_c or free_s
        else:
            pool = free_s or free_c
        if not pool:
            raise LowerError(f"out of registers for {v!r} ({'across a call' if crosses else 'scratch'})",
                             where=where)
        hint = hints.get(v) if hints else None
        if hint is None or crosses or hint not in pool:
            # two-address friendly: the register of the defining op's first source, if it died
            # here (or of the second, for a commutative operation)
            hint = None
            op = ops[start]
            k = op.op
            first = _FIRST_READ.get(k)
            if first is not None:
                reg = out.get(op.args[first])       # (None for a pinned register)
                # (a register freed at this op is the last in its pool, most often)
                if reg is not None and (pool[-1] == reg or reg in pool):
                    hint = reg
                elif k == "bin" and op.args[0] in _COMMUTATIVE:
                    reg = out.get(op.args[3])       # (or an int: None)
                    if reg is not None and reg in pool:
                        hint = reg
            elif k in _CALLS or k == "store":
                reg = out.get(_first_use(op))       # (None: no register read, or a pinned one)
                if reg is not None and reg in pool:
                    hint = reg
        if hint is not None:            # (a hint is always a free register of the pool)
            if pool[-1] == hint:
                pool.pop()
            else:
                pool.remove(hint)
            reg = hint
        else:
            reg = pool.pop(0)
        out[v] = reg
        active.append((end, reg, pool))
        if end < soonest:
            soonest = end
    if across is not None:
        live.crossing = across
    return out


def _first_use(op: Op):
    """The first register a call or a store reads (``uses_and_defs(op)[0][0]``), or None."""
    a = op.args
    if op.op == "store":
        return a[0] if a[0].__class__ is V else a[1]
    for x in a[2]:
        if x is not OUT_SLOT:
            return x
    return a[1] if op.op == "call_ptr" else None


def crossing(fn: Function) -> dict[int, list[V]]:
    """``{op index of a call: [registers live across it]}``, in the order of the intervals.

    Computed once per function (or by :func:`allocate` on its way): read it, do not change it."""
    live = _liveness(fn)
    if not live.calls:
        return {}
    got = live.crossing
    if got is None:
        iv = live.intervals
        got = live.crossing = {c: [v for v, (s, e) in iv.items() if s < c < e] for c in live.calls}
    return got


def parallel_move(moves: list[tuple[int, int]], mov, tmp: int) -> None:
    """Move every source register to its destination as if all at once (the C ABI's argument
    registers at a call), emitting ``mov(dst, src)``; a cycle is broken through ``tmp``. Shared by
    the backends: only the register numbers and the move instruction are ISA-specific."""
    pending = [(d, s) for d, s in moves if d != s]
    while pending:
        for i, (d, s) in enumerate(pending):
            if all(s2 != d for _, s2 in pending):
                mov(d, s)
                del pending[i]
                break
        else:
            d, s = pending[0]
            mov(tmp, s)
            pending = [(d2, tmp if s2 == s else s2) for d2, s2 in pending]
