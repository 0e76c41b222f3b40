"""AArch64 instruction selection: LIR -> machine code with CPython's stencil holes.

Register plan (FACTS §b.2): FRAME, SP, TSTATE live in X20, X21, X22 at every uop boundary and
exit; X30 holds the shim's return address all along the trace (preserve_none keeps X29/X30),
so a call saves and restores it around ``blr``. Other values get registers by linear scan:
X0-X15 when they do not live across a call, X19 and X23-X28 (callee-saved in the C ABI, free
in a preserve_none stencil) when they do; D0-D7 and D16-D30 for doubles. X16 holds a call's
target, X17 and D31 are scratch. X18 (platform register) is never touched.

Holes look as clang's ``-fpic`` stencils have them: every instruction field and every symbol
is an 8-byte slot in the group's data loaded with ``adrp`` + ``ldr`` (patch_aarch64_21r +
patch_aarch64_12; the group builder adds the slot, filled by patch_64), local read-only data is
``adrp`` + ``add``, and exits are ``b`` (patch_aarch64_26r); a conditional exit is an inverted
``b.cond`` over a ``b``.

Emitting: each instruction's bytes come from an :class:`asm.Encoded` table of its form (encoded
by the assembler the first time those operands occur), appended to a bytearray; the Assembler
itself is called only for operands that are not what the tables take. The most frequent ops
look their whole sequence up at once, keyed by register numbers and int operands: loads and
stores, bin, lea, compares, rmw, and a call once its callee is in X16 (_LOAD_CODE, _STORE_CODE,
_BIN_IMM_CODE, _BIN_REG_CODE, _LEA_CODE, _COMPARE_IMM_CODE, _COMPARE_REG_CODE, _RMW_CODE,
_CALL_REST); what an operand needs beyond one instruction (X17 for a large constant or
displacement) is decided once per key. A branch to one of the function's labels is emitted with a zero offset field, filled in (asm.pcrel_field) at once if
the label is bound, else when it is.
"""

from __future__ import annotations

import struct
from itertools import islice
from typing import NamedTuple

from refjit import lir
from refjit.backends.aarch64 import asm as A
from refjit.backends.aarch64.asm import Assembler, Encoded
from refjit.codebuf import Reloc
from refjit.errors import AsmError, LowerError
from refjit.lir import INT, OUT_SLOT, Exit, Function, Lbl, V

X, W, D = A.X, A.W, A.D
FRAME_REG, SP_REG, TSTATE_REG = 20, 21, 22
SCRATCH = tuple(range(16))
SAVED = (19, 23, 24, 25, 26, 27, 28)
FREGS = tuple(range(8)) + tuple(range(16, 31))
CALL_REG, TMP, FTMP = 16, 17, 31
_SCRATCH_SET = frozenset(SCRATCH)
_PINNED_REGS = {lir.FRAME: FRAME_REG, lir.SP: SP_REG, lir.TSTATE: TSTATE_REG}
_ARG_REGS = tuple(range(8))    # X0-X7 / D0-D7: the C ABI's argument registers

CC = {"eq": "eq", "ne": "ne", "lt": "lt", "le": "le", "gt": "gt", "ge": "ge",
      "ult": "lo", "ule": "ls", "ugt": "hi", "uge": "hs"}
INVERT = {"eq": "ne", "ne": "eq", "lt": "ge", "ge": "lt", "le": "gt", "gt": "le",
          "lo": "hs", "hs": "lo", "ls": "hi", "hi": "ls", "vs": "vc", "vc": "vs", "mi": "pl", "pl": "mi"}
_LOAD = {(64, False): "ldr", (32, False): "ldr", (16, False): "ldrh", (8, False): "ldrb",
         (32, True): "ldrsw", (16, True): "ldrsh", (8, True): "ldrsb"}
_STORE = {64: "str", 32: "str", 16: "strh", 8: "strb"}

# The bytes of the instructions selection emits, per operands (see asm.Encoded). An immediate
# that comes from an LIR operand is looked up only when it is an int proper; anything else goes
# through the Assembler method, which explains it. An integer branch target is the distance from
# the branch (the fixed skip over an exit, see past_exit).
_LDST = {mn: Encoded(mn) for mn in {*_LOAD.values(), *_STORE.values()}}
# a load by (width, signed): (mnemonic, the registers it loads), for what _LOAD_CODE does not take
_LOADS = {(width, signed): (mn, X if width == 64 or signed else W) for (width, signed), mn in _LOAD.items()}
_STR_PRE, _LDR_PRE = Encoded("ldst_pre", "str"), Encoded("ldst_pre", "ldr")
_STR_POST, _LDR_POST = Encoded("ldst_post", "str"), Encoded("ldst_post", "ldr")
_MOV, _FMOV = Encoded("mov"), Encoded("fmov")


def _mov_imm64(a: Assembler, rd, value: int) -> None:
    """``rd = value`` (0 <= value < 2**64): one instruction when the Assembler has one, else a
    movz and a movk for each further nonzero 16-bit chunk."""
    try:
        a.mov_imm(rd, value)
        return
    except AsmError:
        pass
    first = True
    for hw in range(4):
        chunk = (value >> (16 * hw)) & 0xFFFF
        if chunk or (first and hw == 3):
            (a.movz if first else a.movk)(rd, chunk, 16 * hw)
            first = False


_MOV_IMM64 = Encoded(_mov_imm64)


# X and W registers by number, 31 being the zero register (as in an instruction's register field)
_ZR = 31
_XZ, _WZ = (*X, A.XZR), (*W, A.WZR)


def _ldst(a: Assembler, mnemonic: str, regs, scale: int, t: int, b: int, disp: int) -> None:
    """``mnemonic regs[t], [x<b> + disp]`` (an access of ``scale`` bytes): an immediate offset
    when ldst can encode it, else X17 holding the displacement (a register offset)."""
    if -256 <= disp < 256 or (disp >= 0 and disp % scale == 0 and disp // scale < 4096):
        a.ldst(mnemonic, regs[t], X[b], disp)
    else:
        _mov_imm64(a, X[TMP], disp & ((1 << 64) - 1))
        a.ldst_reg(mnemonic, regs[t], X[b], X[TMP])


# The bytes of a load or store with an int displacement (and no hole addend to fold in), keyed by
# register numbers and displacement: (value register, base register, disp). Loads by width, as
# (unsigned, signed); stores by width, the value register 31 meaning zero.
_LOAD_CODE = {width: (Encoded(_ldst, _LOAD[width, False], W, width >> 3),
                     Encoded(_ldst, _LOAD[width, True], X, width >> 3)) for width in (8, 16, 32)}
_LOAD_CODE[64] = (Encoded(_ldst, "ldr", X, 8),) * 2
_STORE_CODE = {width: Encoded(_ldst, _STORE[width], _XZ if width == 64 else _WZ, width >> 3)
               for width in (8, 16, 32, 64)}


def _store_const(a: Assembler, mnemonic: str, rt, scale: int, value: int, b: int, disp: int) -> None:
    """``[x<b> + disp] = value`` through X16 (``rt``, X16 or W16: no call is in flight), the
    displacement in X17 first when no immediate form takes it."""
    if -256 <= disp < 256 or (disp >= 0 and disp % scale == 0 and disp // scale < 4096):
        _mov_imm64(a, X[CALL_REG], value & ((1 << 64) - 1))
        a.ldst(mnemonic, rt, X[b], disp)
    else:
        _mov_imm64(a, X[TMP], disp & ((1 << 64) - 1))
        _mov_imm64(a, X[CALL_REG], value & ((1 << 64) - 1))
        a.ldst_reg(mnemonic, rt, X[b], X[TMP])


# the bytes of a store of an int constant by width, keyed by (value, base register, disp)
_STORE_CONST_CODE = {width: Encoded(_store_const, _STORE[width], (X if width == 64 else W)[CALL_REG], width >> 3)
                     for width in (8, 16, 32, 64)}
_ADD_IMM, _SUB_IMM, _ADD_REG = Encoded("add_imm"), Encoded("sub_imm"), Encoded("add_reg")
_CMP_IMM, _CMN_IMM, _CMP_REG = Encoded("cmp_imm"), Encoded("cmn_imm"), Encoded("cmp_reg")
_CSET, _CSEL = Encoded("cset"), Encoded("csel")
_ADDS_REG, _SUBS_REG, _SMULH = Encoded("adds_reg"), Encoded("subs_reg"), Encoded("smulh")
_FCMP, _SCVTF, _FCVTZS = Encoded("fcmp"), Encoded("scvtf"), Encoded("fcvtzs")
_B_COND, _CBZ, _CBNZ, _TBZ, _TBNZ = (Encoded(n) for n in ("b_cond", "cbz", "cbnz", "tbz", "tbnz"))
_B_HOLE = Encoded("b")[None]     # b with a zero offset: patch_aarch64_26r or reach() fills it
# b.cond with a zero offset (reach() fills it), by condition; b.cond past an exit (the inverse
# condition, see past_exit) by condition and whether X30 is saved
_B_TO_LABEL = {cond: _B_COND[cond, None] for cond in INVERT}
_B_OVER_EXIT = {(cond, in_frame): _B_COND[INVERT[cond], 12 if in_frame else 8]
                for cond in INVERT for in_frame in (False, True)}
_RET = Encoded("ret")[()]
_BR = Encoded("br")
_LDR_X30_POST = _LDR_POST[X[30], A.SP, 16]    # the X30 restore of a frame (see _Sel.run)
_STR_X30_PRE = _STR_PRE[X[30], A.SP, -16]
_WORD = struct.Struct("<I")      # an instruction word, to fill in a branch's offset
_reloc = Reloc._make             # a Reloc from a tuple of its four fields (cheaper than Reloc(...))


def _page_relocs(at: int, symbol: str) -> tuple[Reloc, Reloc]:
    """The relocations of an ``adrp`` at ``at`` and the ``ldr``/``add`` after it, reaching
    ``symbol`` (its GOT slot, or a data label); memoised in _PAGE_RELOCS (Relocs are immutable,
    so groups can share them)."""
    got = _PAGE_RELOCS[at, symbol] = (_reloc((at, "patch_aarch64_21r", symbol, 0)),
                                      _reloc((at + 4, "patch_aarch64_12", symbol, 0)))
    return got


_PAGE_RELOCS: dict[tuple[int, str], tuple[Reloc, Reloc]] = {}
# (offset, symbol) -> the relocation of a ``b`` at that offset leaving the uop (see exit_branch)
_EXIT_RELOCS: dict[tuple[int, str], Reloc] = {}
# branch field kind -> {byte offset: the field's bits}, a memo of asm.pcrel_field: for imm26,
# imm19 and imm14 (the only kinds fill is given) the field depends on the offset alone
_BRANCH_FIELD: dict[str, dict[int, int]] = {"imm26": {}, "imm19": {}, "imm14": {}}


def _load_slot(a: Assembler, rd) -> None:
    """``adrp rd, slot; ldr rd, [rd, :lo12:slot]`` with the fields the relocations fill zero."""
    a.adrp(rd, None)
    a.ldst("ldr", rd, rd, 0)


def _address(a: Assembler, rd) -> None:
    """``adrp rd, data; add rd, rd, :lo12:data`` likewise."""
    a.adrp(rd, None)
    a.add_imm(rd, rd, 0)


def _save(a: Assembler, *regs: int) -> None:
    """Push X registers ``regs`` (16 bytes each, keeping SP aligned) in that order."""
    for reg in regs:
        a.ldst_pre("str", X[reg], A.SP, -16)


def _restore(a: Assembler, *regs: int) -> None:
    """Pop what :func:`_save` pushed for ``regs``."""
    for reg in reversed(regs):
        a.ldst_post("ldr", X[reg], A.SP, 16)


def _int_args(a: Assembler, *moves: tuple[int, int]) -> None:
    """The (argument register, source register) moves of a call's int arguments, as if all at
    once (a cycle goes through X17)."""
    if len(moves) == 1:    # one argument to move cannot overwrite another
        a.mov(X[moves[0][0]], X[moves[0][1]])
    elif moves:
        lir.parallel_move(list(moves), lambda d, s: a.mov(X[d], X[s]), TMP)


def _float_args(a: Assembler, *moves: tuple[int, int]) -> None:
    """Likewise for f64 arguments (a cycle goes through D31)."""
    lir.parallel_move(list(moves), lambda d, s: a.fmov(D[d], D[s]), FTMP)


def _rmw(a: Assembler, rt, scale: int, b: int, disp: int, delta: int) -> None:
    """``rt = [x<b> + disp]; rt += delta; [x<b> + disp] = rt`` (delta within +-4095; ``scale``
    the access size in bytes): an immediate offset when ldst can encode it, else X17 holding
    the displacement (a register offset)."""
    rb = X[b]
    immediate = -256 <= disp < 256 or (disp >= 0 and disp % scale == 0 and disp // scale < 4096)
    if immediate:
        a.ldst("ldr", rt, rb, disp)
    else:
        _mov_imm64(a, X[TMP], disp & ((1 << 64) - 1))
        a.ldst_reg("ldr", rt, rb, X[TMP])
    if delta >= 0:
        a.add_imm(rt, rt, delta)
    else:
        a.sub_imm(rt, rt, -delta)
    if immediate:
        a.ldst("str", rt, rb, disp)
    else:
        a.ldst_reg("str", rt, rb, X[TMP])


def _call_rest(a: Assembler, in_frame: int, int_moves: tuple, out_slots: tuple, float_moves: tuple,
               dst: int | None, out: int | None, saved: tuple) -> None:
    """A call once X16 holds the callee: X30 (the shim's return address) saved in a 16-byte slot
    unless the uop saved it once (``in_frame``), the int and f64 arguments moved into place (and
    the out-slot's address, the upper half of the last 16-byte slot, into its argument registers),
    ``blr``, the result into ``dst`` and the out-slot's value into ``out`` (register numbers or
    None), X30 restored, then the caller-saved registers ``saved`` around the call."""
    if not in_frame:
        a.ldst_pre("str", X[30], A.SP, -16)
    _int_args(a, *int_moves)
    for i in out_slots:
        a.add_imm(X[i], A.SP, 8)
    if float_moves:
        _float_args(a, *float_moves)
    a.blr(X[CALL_REG])
    if dst is not None and dst != 0:
        a.mov(X[dst], X[0])
    if out is not None:
        a.ldr(X[out], A.SP, 8)
    if not in_frame:
        a.ldst_post("ldr", X[30], A.SP, 16)
    _restore(a, *saved)


_LOAD_SLOT, _ADDRESS = Encoded(_load_slot), Encoded(_address)
_LOAD_SLOT_X16 = _LOAD_SLOT[X[CALL_REG]]      # a call's callee from its slot
# an rmw's bytes by width, keyed by (base register number, disp, delta): its value is in X16/W16
_RMW_CODE = {width: Encoded(_rmw, (X if width == 64 else W)[CALL_REG], width >> 3) for width in (8, 16, 32, 64)}
# a call's sequences, keyed by the register numbers (tuples of them) they depend on
_SAVE, _CALL_REST = Encoded(_save), Encoded(_call_rest)


class Code(NamedTuple):
    """What selection made of a Function: its code bytes, relocations, read-only data and the
    offsets of the data's labels (build_group's inputs)."""

    code: bytes
    relocs: list
    data: bytes
    data_labels: dict[str, int]


_new_tuple = tuple.__new__      # a Code from a tuple of its fields, without NamedTuple's __new__


def _signed64(v: int) -> int:
    v &= (1 << 64) - 1
    return v - (1 << 64) if v >> 63 else v


class _Sel:
    def __init__(self, fn: Function):
        self.fn = fn
        self.where = f"aarch64 lowering of {fn.name}"
        self.code = bytearray()     # instructions are appended here
        self.relocs: list[Reloc] = []
        self._asm: Assembler | None = None     # see the a property
        # vreg -> register number: the allocation (a new dict) with the pinned ones added
        self.regs: dict[V, int] = lir.allocate(fn, SCRATCH, SAVED, FREGS, self.where, _ARG_REGS, _ARG_REGS, 0)
        self.regs.update(_PINNED_REGS)
        self.bound: dict[str, int] = {}    # label name -> offset where it is bound
        # label name -> (offset, field kind) of each branch waiting for it to be bound
        self.forward: dict[str, list[tuple[int, str]]] = {}
        self.crossing = lir.crossing(fn)    # its keys are the positions of the calls
        self.bias: dict[V, int] = {}
        self.frame_at = _frame_position(fn, len(self.crossing)) if self.crossing else None
        self.in_frame = False
        self.ops = fn.ops
        self.last = len(fn.ops) - 1

    @property
    def a(self) -> Assembler:
        """An Assembler writing into the same buffer and relocations, for operands the Encoded
        tables do not take; made when first asked for (most uops never need one)."""
        asm = self._asm
        if asm is None:
            asm = self._asm = Assembler()
            asm.buf, asm.relocs = self.code, self.relocs
        return asm

    def reach(self, kind: str, lbl: Lbl) -> None:
        """The branch just emitted, its ``kind`` offset field (imm26, imm19 or imm14) zero, goes
        to ``lbl``: the field is filled in now if the label is bound, else by :meth:`op_label`."""
        name = lbl.name
        pos = self.bound.get(name)
        if pos is None:     # (mostly: labels come after the branches to them)
            self.forward.setdefault(name, []).append((len(self.code) - 4, kind))
        else:
            self.fill(len(self.code) - 4, kind, pos, name)

    def fill(self, at: int, kind: str, pos: int, name: str) -> None:
        """OR the offset from ``at`` to ``pos`` (label ``name``) into the ``kind`` field there."""
        code = self.code
        fields = _BRANCH_FIELD[kind]
        field = fields.get(pos - at)
        if field is None:       # (an offset out of range raises here, and is never memoised)
            field = fields[pos - at] = A.pcrel_field(kind, pos, at, name)
        _WORD.pack_into(code, at, _WORD.unpack_from(code, at)[0] | field)

    # -- helpers
    def mov_imm(self, rd, value: int) -> None:
        value &= (1 << 64) - 1
        if value.__class__ is int:
            self.code += _MOV_IMM64[rd, value]
        else:       # (an int subclass: the Assembler explains it)
            _mov_imm64(self.a, rd, value)

    def address(self, base: V, disp: int, scale: int):
        """(base register, offset) for :meth:`access`: an immediate offset when ldst can encode
        it, else X17 holding the displacement (a register offset). A hole's addend that was left
        out of its register (see op_hole) is added here."""
        rb = X[self.regs[base]]
        if self.bias:
            disp += self.bias.get(base, 0)
        if -256 <= disp < 256 or (disp >= 0 and disp % scale == 0 and disp // scale < 4096):
            return rb, disp
        self.mov_imm(X[TMP], disp)
        return rb, X[TMP]

    def access(self, mnemonic: str, rt, rb, off) -> None:
        if off.__class__ is int:
            self.code += _LDST[mnemonic][rt, rb, off]
        else:
            self.a.ldst_reg(mnemonic, rt, rb, off)

    def mem(self, mnemonic: str, rt, base: V, disp: int, scale: int) -> None:
        """``mnemonic rt, [base + disp]``: :meth:`address` then :meth:`access`, the common case
        (an immediate offset) without building the pair."""
        if self.bias:
            rb, off = self.address(base, disp, scale)
        elif -256 <= disp < 256 or (disp >= 0 and disp % scale == 0 and disp // scale < 4096):
            if disp.__class__ is int:
                self.code += _LDST[mnemonic][rt, X[self.regs[base]], disp]
            else:
                self.a.ldst(mnemonic, rt, X[self.regs[base]], disp)
            return
        else:
            rb, off = self.address(base, disp, scale)
        self.access(mnemonic, rt, rb, off)

    def imm_reg(self, value: int, sf: int = 1):
        reg = (X if sf else W)[TMP]
        self.mov_imm(X[TMP], value & ((1 << 64) - 1) if sf else value & 0xFFFFFFFF)
        return reg

    def exit_branch(self, ex: Exit) -> None:
        code = self.code
        if self.in_frame:
            code += _LDR_X30_POST
        at, symbol = len(code), ex.symbol
        reloc = _EXIT_RELOCS.get((at, symbol))
        if reloc is None:
            reloc = _EXIT_RELOCS[at, symbol] = _reloc((at, "patch_aarch64_26r", symbol, 0))
        self.relocs.append(reloc)
        code += _B_HOLE

    def past_exit(self) -> int:
        """How far a branch emitted now must go to skip the :meth:`exit_branch` that follows it:
        past itself, the ``ldr x30`` of a frame and the ``b`` (a fixed forward distance, so no
        label is needed and the branch's bytes come from its Encoded table)."""
        return 12 if self.in_frame else 8

    def branch(self, cond: str | None, target) -> None:
        """``b.cond`` (or ``b``) to a label or an exit."""
        if target.__class__ is Exit:
            if cond is not None:
                self.code += _B_OVER_EXIT[cond, self.in_frame]
            self.exit_branch(target)
        elif cond is None:
            self.code += _B_HOLE
            self.reach("imm26", target)
        else:
            self.code += _B_TO_LABEL[cond]
            self.reach("imm19", target)

    def compare(self, x: V, y, width: int) -> None:
        r = self.regs
        if y.__class__ is int:
            self.code += _COMPARE_IMM_CODE[width == 64][r[x], y]
            return
        if y.__class__ is V:
            self.code += _COMPARE_REG_CODE[width == 64][r[x], r[y]]
            return
        # anything else (an int subclass...): as _compare_imm, the Assembler explaining it
        sf = 1 if width == 64 else 0
        rx = (X if sf else W)[self.regs[x]]
        v = _signed64(y) if sf else (((y & 0xFFFFFFFF) ^ 0x80000000) - 0x80000000)
        if 0 <= v < 4096:
            if v.__class__ is int:
                self.code += _CMP_IMM[rx, v]
            else:       # (an int subclass: the Assembler explains it)
                self.a.cmp_imm(rx, v)
        elif -4096 < v < 0:
            self.code += _CMN_IMM[rx, -v]
        else:
            rm = self.imm_reg(v, sf)
            self.code += _CMP_REG[rx, rm]

    def add_imm(self, rd, rn, value: int) -> None:
        value = _signed64(value)
        if value == 0:
            if rd.n != rn.n:
                self.code += _MOV[rd, rn]
        elif 0 < value < 4096:
            if value.__class__ is int:
                self.code += _ADD_IMM[rd, rn, value]
            else:       # (an int subclass: the Assembler explains it)
                self.a.add_imm(rd, rn, value)
        elif -4096 < value < 0:
            self.code += _SUB_IMM[rd, rn, -value]
        else:
            rm = self.imm_reg(value)
            self.code += _ADD_REG[rd, rn, rm]

    # -- the ops
    def run(self) -> Code:
        ops = self.fn.ops
        frame_at = self.frame_at
        handlers = _HANDLERS
        numbered = enumerate(ops)
        if frame_at is None:        # (most uops: no test per op)
            for i, op in numbered:
                if handlers[op.op](self, op.args, i):
                    next(numbered)    # a push or pop took the add after it (see push)
        else:
            for i, op in numbered:
                if i == frame_at:
                    # X30 saved once for all the calls below (16 bytes keep SP aligned); every
                    # exit from here on restores it.
                    self.code += _STR_X30_PRE
                    self.in_frame = True
                if handlers[op.op](self, op.args, i):
                    next(numbered)
        if not ops or ops[-1].op not in ("jump", "ret", "tail_jump"):
            self.exit_branch(lir.CONTINUE)
        data = b""
        labels = {}
        if self.fn.rodata:      # (most uops have none)
            blobs = bytearray()
            for name, blob in self.fn.rodata.items():
                labels[name] = len(blobs)
                blobs += blob
            data = bytes(blobs)
        if self.forward:    # (a Function from the Builder has none: it checks its labels)
            names = ", ".join(repr(name) for name in self.forward)
            raise AsmError(f"unbound label(s) referenced: {names}")
        return _new_tuple(Code, (bytes(self.code), self.relocs, data, labels))

    # A push (``store v, [b]`` then ``b += n``) or a pop (``v = load [b - n]`` then ``b -= n``)
    # is one post-/pre-indexed access, as clang emits them for stack_pointer: op_store and op_load
    # call push or pop when a 64-bit access is followed by a bin writing its base (``nxt``), and
    # the op loop skips that bin when they return True. Not when X30's save goes between them.

    def push(self, operands, nxt, at: int) -> bool:
        if nxt.args[0] != "add" or nxt.args[3].__class__ is V or at + 1 == self.frame_at:
            return False
        _, dst, a, step = nxt.args
        value, base = operands[0], operands[1]
        if not (dst is base is a) or base in self.bias or not -256 <= _signed64(step) < 256:
            return False
        r = self.regs
        if value.__class__ is V:
            if r[value] == r[base]:
                return False
            rt = X[r[value]]
        elif value == 0:
            rt = A.XZR
        else:
            self.mov_imm(X[CALL_REG], value)
            rt = X[CALL_REG]
        step = _signed64(step)
        if step.__class__ is int:
            self.code += _STR_POST[rt, X[r[base]], step]
        else:       # (an int subclass: the Assembler explains it)
            self.a.ldst_post("str", rt, X[r[base]], step)
        return True

    def pop(self, operands, nxt, at: int) -> bool:
        if nxt.args[0] != "add" or nxt.args[3].__class__ is V or at + 1 == self.frame_at:
            return False
        _, dst, a, step = nxt.args
        value, base, disp = operands[0], operands[1], operands[2]
        r = self.regs
        if not (dst is base is a) or base in self.bias or _signed64(step) != disp \
                or not -256 <= disp < 256 or r[value] == r[base]:
            return False
        if disp.__class__ is int:
            self.code += _LDR_PRE[X[r[value]], X[r[base]], disp]
        else:       # (not an int proper: the Assembler explains it)
            self.a.ldst_pre("ldr", X[r[value]], X[r[base]], disp)
        return True

    def op_label(self, operands, at):
        name = operands[0].name
        bound = self.bound
        if name in bound:
            raise AsmError(f"label {name!r} is already bound at {bound[name]:#x}")
        pos = bound[name] = len(self.code)
        waiting = self.forward.pop(name, None)
        if waiting is not None:
            code = self.code
            for branch, kind in waiting:     # (fill, inline)
                field = _BRANCH_FIELD[kind].get(pos - branch)
                if field is None:       # (an offset out of range raises here, and is never memoised)
                    field = _BRANCH_FIELD[kind][pos - branch] = A.pcrel_field(kind, pos, branch, name)
                _WORD.pack_into(code, branch, _WORD.unpack_from(code, branch)[0] | field)

    def op_const(self, operands, at):
        dst, value = operands
        self.mov_imm(X[self.regs[dst]], value)

    def op_hole(self, operands, at):
        dst, symbol, addend = operands
        rd = X[self.regs[dst]]
        code = self.code
        here = len(code)      # adrp + ldr of the hole's slot, with their relocations
        self.relocs += _PAGE_RELOCS.get((here, symbol)) or _page_relocs(here, symbol)
        code += _LOAD_SLOT[rd]
        if addend:
            if _only_memory_base(self.fn, dst, at):
                self.bias[dst] = addend    # folded into the displacement of every use
            else:
                self.add_imm(rd, rd, addend)

    def op_data(self, operands, at):
        dst, label = operands
        code = self.code
        rd = X[self.regs[dst]]
        here = len(code)
        self.relocs += _PAGE_RELOCS.get((here, label)) or _page_relocs(here, label)
        code += _ADDRESS[rd]

    def op_mov(self, operands, at):
        dst, src = operands
        d, s = self.regs[dst], self.regs[src]
        if d != s:
            self.code += _FMOV[D[d], D[s]] if dst.kind == lir.F64 else _MOV[X[d], X[s]]

    def op_load(self, operands, at):
        dst, base, disp, width, signed = operands
        if width == 64 and at < self.last:
            nxt = self.ops[at + 1]
            if nxt.op == "bin" and nxt.args[1] is base and self.pop(operands, nxt, at):
                return True
        if disp.__class__ is int and not self.bias:     # (see _LOAD_CODE)
            r = self.regs
            tables = _LOAD_CODE[width]
            self.code += (tables[1] if signed else tables[0])[r[dst], r[base], disp]
        else:
            mnemonic, regs = _LOADS[(width, signed and width != 64)]
            self.mem(mnemonic, regs[self.regs[dst]], base, disp, width >> 3)

    def op_store(self, operands, at):
        value, base, disp, width = operands
        if width == 64 and disp == 0 and at < self.last:
            nxt = self.ops[at + 1]
            if nxt.op == "bin" and nxt.args[1] is base and self.push(operands, nxt, at):
                return True
        if value.__class__ is V:
            t = self.regs[value]
        elif value == 0:
            t = _ZR
        elif value.__class__ is int and disp.__class__ is int and not self.bias:
            self.code += _STORE_CONST_CODE[width][value, self.regs[base], disp]    # (see there)
            return
        else:
            # the displacement's register (if it needs one) is set before the value's
            rb, off = self.address(base, disp, width >> 3)
            self.mov_imm(X[CALL_REG], value)   # no call in flight: X16 is free
            self.access(_STORE[width], X[CALL_REG] if width == 64 else W[CALL_REG], rb, off)
            return
        if disp.__class__ is int and not self.bias:     # (see _STORE_CODE)
            self.code += _STORE_CODE[width][t, self.regs[base], disp]
        else:
            self.mem(_STORE[width], (_XZ if width == 64 else _WZ)[t], base, disp, width >> 3)

    def op_rmw(self, operands, at):
        base, disp, width, delta, cond, target = operands
        # X16 (the call register) holds the value: no call is in flight here; X17 may hold
        # the address of a large displacement.
        code = self.code
        rt = (X if width == 64 else W)[CALL_REG]
        table = _RMW_CODE.get(width)
        if table is not None and disp.__class__ is int and delta.__class__ is int \
                and -4096 < delta < 4096 and not self.bias:
            code += table[self.regs[base], disp, delta]    # the common case: one entry
        else:
            rb, off = self.address(base, disp, width >> 3)
            self.access("ldr", rt, rb, off)
            if delta >= 4096 or delta <= -4096:
                rm = self.imm_reg(delta, 1 if width == 64 else 0)
                code += _ADD_REG[rt, rt, rm]
                if off.__class__ is not int:    # the delta took X17 from the displacement
                    rb, off = self.address(base, disp, width >> 3)
            elif delta.__class__ is not int:     # (not an int proper: the Assembler explains it)
                if delta >= 0:
                    self.a.add_imm(rt, rt, delta)
                else:
                    self.a.sub_imm(rt, rt, -delta)
            elif delta >= 0:
                code += _ADD_IMM[rt, rt, delta]
            else:
                code += _SUB_IMM[rt, rt, -delta]
            self.access("str", rt, rb, off)
        # the branch on the new value (in rt) being zero (eq) or not (ne), if there is one
        if cond is None:
            return
        if target.__class__ is Exit:
            code += (_CBNZ if cond == "eq" else _CBZ)[rt, 12 if self.in_frame else 8]    # (past_exit)
            self.exit_branch(target)
        else:
            code += (_CBZ if cond == "eq" else _CBNZ)[rt, None]
            self.reach("imm19", target)

    def op_fload(self, operands, at):
        dst, base, disp = operands
        self.mem("ldr", D[self.regs[dst]], base, disp, 8)

    def op_fstore(self, operands, at):
        value, base, disp = operands
        self.mem("str", D[self.regs[value]], base, disp, 8)

    def op_bin(self, operands, at):
        op, dst, x, y = operands
        r = self.regs
        if y.__class__ is int:
            table = _BIN_IMM_CODE.get(op)
            if table is not None:
                self.code += table[r[dst], r[x], y]
                return
        elif y.__class__ is V:
            table = _BIN_REG_CODE.get(op)
            if table is not None:
                self.code += table[r[dst], r[x], r[y]]
                return
        # the rest (an operation or operand no instruction takes): the Assembler explains it
        rd, rx = X[r[dst]], X[r[x]]
        shift = _SHIFT_IMM.get(op)
        if shift is not None:
            if y == 0:
                if rd.n != rx.n:
                    self.code += _MOV[rd, rx]
            elif y.__class__ is int:
                self.code += shift[rd, rx, y]
            else:       # (not an int proper: the Assembler explains it)
                shift.method(self.a, rd, rx, y)
            return
        if y.__class__ is V:
            ry = X[r[y]]
        else:
            if op == "add" or op == "sub":
                if y.__class__ is int and 0 < y < 4096:     # add_imm's common case
                    self.code += (_ADD_IMM if op == "add" else _SUB_IMM)[rd, rx, y]
                    return
                return self.add_imm(rd, rx, y if op == "add" else -_signed64(y))
            logic = _LOGIC_IMM.get(op)
            if logic is not None:
                imm = y & ((1 << 64) - 1)
                if imm.__class__ is int:
                    # in the table: encoded before, so a bitmask immediate
                    code = logic.get((rd, rx, imm))
                    if code is None and A.encode_bitmask(imm, 1) is not None:
                        code = logic[rd, rx, imm]
                    if code is not None:
                        self.code += code
                        return
                elif A.encode_bitmask(imm, 1) is not None:  # (an int subclass: the Assembler explains it)
                    logic.method(self.a, rd, rx, imm)
                    return
            ry = self.imm_reg(y)
        self.code += _BIN_REG[op][rd, rx, ry]

    def op_lea(self, operands, at):
        dst, base, index, shift, disp = operands
        r = self.regs
        if shift.__class__ is int and disp.__class__ is int:
            self.code += _LEA_CODE[r[dst], r[base], r[index], shift, disp]
            return
        rd = X[r[dst]]
        if shift.__class__ is int:
            self.code += _ADD_REG[rd, X[r[base]], X[r[index]], "lsl", shift]
        else:       # (not an int proper: the Assembler explains it)
            self.a.add_reg(rd, X[r[base]], X[r[index]], "lsl", shift)
        if disp != 0 or disp.__class__ is not int:      # (add_imm of 0 to rd itself emits nothing)
            self.add_imm(rd, rd, disp)

    def op_ovf(self, operands, at):
        op, dst, x, y, target = operands
        code = self.code
        r = self.regs
        rd, rx, ry = X[r[dst]], X[r[x]], X[r[y]]
        if op == "mul":
            # Overflow iff the high half of the 128-bit product is not the sign of the low half.
            code += _SMULH[X[TMP], rx, ry]
            code += _BIN_REG["mul"][rd, rx, ry]
            code += _CMP_REG[X[TMP], rd, "asr", 63]
            self.branch("ne", target)
        else:
            code += (_ADDS_REG if op == "add" else _SUBS_REG)[rd, rx, ry]
            self.branch("vs", target)

    def same_flags(self, kind: str, operands: tuple, at: int) -> bool:
        """The previous op (the op at ``at`` has ``operands``) set the flags from the same
        comparison (cset/csel leave them): it is a ``kind`` op whose operands after its condition
        and destination are these ones', and its destination is neither of the two compared
        (``x = x >u y`` then ``x >=u y`` compares the new x)."""
        if at == 0:
            return False
        prev = self.fn.ops[at - 1]
        if prev.op != kind or prev.args[2:] != operands[2:]:
            return False
        dst = prev.args[1]
        return dst is not operands[2] and dst is not operands[3]

    def op_setcc(self, operands, at):
        cond, dst, x, y, width = operands
        if not self.same_flags("setcc", operands, at):
            self.compare(x, y, width)
        self.code += _CSET[X[self.regs[dst]], CC[cond]]

    def op_select(self, operands, at):
        cond, dst, x, y, t, f, width = operands
        self.compare(x, y, width)
        r = self.regs
        self.code += _CSEL[X[r[dst]], X[r[t]], X[r[f]], CC[cond]]

    def op_fbin(self, operands, at):
        op, dst, x, y = operands
        r = self.regs
        self.code += _FBIN[op][D[r[dst]], D[r[x]], D[r[y]]]

    def op_fsetcc(self, operands, at):
        cond, dst, x, y = operands
        # After fcmp an unordered result sets C and V: gt/ge/mi/ls are all false for NaN.
        r = self.regs
        if not self.same_flags("fsetcc", operands, at):
            self.code += _FCMP[D[r[x]], D[r[y]]]
        self.code += _CSET[X[r[dst]], _FCC[cond]]

    def op_i2f(self, operands, at):
        dst, src = operands
        self.code += _SCVTF[D[self.regs[dst]], X[self.regs[src]]]

    def op_f2i(self, operands, at):
        dst, src = operands
        self.code += _FCVTZS[X[self.regs[dst]], D[self.regs[src]]]

    def op_br(self, operands, at):
        cond, x, y, target, width = operands
        if y.__class__ is not V and y == 0:
            if cond in ("eq", "ne") and target.__class__ is not Exit:
                rx = (X if width == 64 else W)[self.regs[x]]
                self.code += (_CBZ if cond == "eq" else _CBNZ)[rx, None]
                self.reach("imm19", target)
                return
            if cond in ("lt", "ge"):
                # the sign bit: tbnz/tbz
                return self.op_brbit((x, width - 1, cond == "lt", target), at)
        # compare and branch (what compare and branch do, inline for the frequent cases)
        code = self.code
        if y.__class__ is int:
            code += _COMPARE_IMM_CODE[width == 64][self.regs[x], y]
        elif y.__class__ is V:
            code += _COMPARE_REG_CODE[width == 64][self.regs[x], self.regs[y]]
        else:
            self.compare(x, y, width)
        if target.__class__ is Exit:
            code += _B_OVER_EXIT[CC[cond], self.in_frame]
            self.exit_branch(target)
        else:
            code += _B_TO_LABEL[CC[cond]]
            self.reach("imm19", target)

    def op_brbit(self, operands, at):
        x, bit, is_set, target = operands
        rx = X[self.regs[x]]
        if target.__class__ is Exit:
            if bit.__class__ is int:
                self.code += (_TBZ if is_set else _TBNZ)[rx, bit, self.past_exit()]
            else:       # (not an int proper: the Assembler explains it)
                (self.a.tbz if is_set else self.a.tbnz)(rx, bit, len(self.code) + self.past_exit())
            self.exit_branch(target)
        else:
            if bit.__class__ is int:
                self.code += (_TBNZ if is_set else _TBZ)[rx, bit, None]
            else:       # (not an int proper: the Assembler explains it)
                (self.a.tbnz if is_set else self.a.tbz)(rx, bit, None)
            self.reach("imm14", target)

    def op_jump(self, operands, at):
        target = operands[0]
        self.branch(None, target)

    def op_call(self, operands, at):
        """A call of ``callee``: a symbol (its address loaded from a slot) or a register
        holding the function pointer (call_ptr, whose out-slot is None)."""
        dst, callee, args, out = operands
        code = self.code
        r = self.regs
        # one pass over the arguments: the int ones' moves into X0-X7 (OUT_SLOT's register gets
        # the slot's address instead), the f64 ones' registers in order for D0-D7
        int_moves, out_slots, float_regs = [], [], []
        n = 0
        for v in args:
            if v.kind == INT:
                if v is OUT_SLOT:
                    out_slots.append(n)
                elif r[v] != n:
                    int_moves.append((n, r[v]))
                n += 1
            else:
                float_regs.append(r[v])
        if n > 8 or len(float_regs) > 8:
            raise LowerError("too many call arguments", where=self.where)
        # Values live across the call in caller-saved registers are saved on the stack (the
        # allocator gives them callee-saved ones while there are any, so mostly there are none).
        saved = ()
        live = None
        for v in self.crossing[at]:
            if v.kind != INT:
                raise LowerError("an f64 value lives across a call", where=self.where)
            if r[v] in _SCRATCH_SET:
                if live is None:
                    live = set()
                live.add(r[v])
        if live is not None:
            saved = tuple(sorted(live))
            code += _SAVE[saved]
        if callee.__class__ is V:
            code += _MOV[X[CALL_REG], X[r[callee]]]
        else:       # adrp + ldr of the callee's slot, with their relocations
            here = len(code)
            self.relocs += _PAGE_RELOCS.get((here, callee)) or _page_relocs(here, callee)
            code += _LOAD_SLOT_X16
        code += _CALL_REST[1 if self.in_frame else 0, tuple(int_moves), tuple(out_slots),
                           tuple(enumerate(float_regs)) if float_regs else (), None if dst is None else r[dst],
                           None if out is None else r[out], saved]

    op_call_ptr = op_call

    def op_ret(self, operands, at):
        reg = self.regs[operands[0]]
        code = self.code
        if reg != 0:
            code += _MOV[X[0], X[reg]]
        if self.in_frame:       # X30 restored (as before every exit)
            code += _LDR_X30_POST
        code += _RET

    def op_tail_jump(self, operands, at):
        code = self.code
        if self.in_frame:
            code += _LDR_X30_POST
        code += _BR[X[self.regs[operands[0]]]]


# the instruction (its Encoded table) for each LIR operation spelled by name
_SHIFT_IMM = {"shl": Encoded("lsl_imm"), "shr": Encoded("lsr_imm"), "sar": Encoded("asr_imm")}
_LOGIC_IMM = {"and": Encoded("and_imm"), "or": Encoded("orr_imm"), "xor": Encoded("eor_imm")}
_BIN_REG = {"add": _ADD_REG, "sub": Encoded("sub_reg"), "and": Encoded("and_reg"),
            "or": Encoded("orr_reg"), "xor": Encoded("eor_reg"), "mul": Encoded("mul")}


def _add_imm(a: Assembler, rd, rn, value: int) -> None:
    """``rd = rn + value`` for any int ``value`` (modulo 2**64): nothing, a mov, an add or sub
    of a 12-bit immediate, or the value moved into X17 and added."""
    value = _signed64(value)
    if value == 0:
        if rd.n != rn.n:
            a.mov(rd, rn)
    elif 0 < value < 4096:
        a.add_imm(rd, rn, value)
    elif -4096 < value < 0:
        a.sub_imm(rd, rn, -value)
    else:
        _mov_imm64(a, X[TMP], value & ((1 << 64) - 1))
        a.add_reg(rd, rn, X[TMP])


def _bin_imm(a: Assembler, op: str, d: int, x: int, y: int) -> None:
    """``x<d> = x<x> op y`` for an int ``y``: a shift, add/sub or logical immediate when the
    instruction takes it, else y moved into X17 and the register form."""
    rd, rx = X[d], X[x]
    shift = _SHIFT_IMM.get(op)
    if shift is not None:
        if y == 0:
            if d != x:
                a.mov(rd, rx)
        else:
            shift.method(a, rd, rx, y)
    elif op == "add" or op == "sub":
        if 0 < y < 4096:
            (a.add_imm if op == "add" else a.sub_imm)(rd, rx, y)
        else:
            _add_imm(a, rd, rx, y if op == "add" else -_signed64(y))
    elif op in _LOGIC_IMM and A.encode_bitmask(y & ((1 << 64) - 1), 1) is not None:
        _LOGIC_IMM[op].method(a, rd, rx, y & ((1 << 64) - 1))
    else:
        _mov_imm64(a, X[TMP], y & ((1 << 64) - 1))
        _BIN_REG[op].method(a, rd, rx, X[TMP])


def _bin_reg(a: Assembler, method, d: int, x: int, y: int) -> None:
    """``method x<d>, x<x>, x<y>``."""
    method(a, X[d], X[x], X[y])


def _lea(a: Assembler, d: int, b: int, i: int, shift: int, disp: int) -> None:
    """``x<d> = x<b> + (x<i> << shift) + disp``."""
    rd = X[d]
    a.add_reg(rd, X[b], X[i], "lsl", shift)
    if disp != 0:
        _add_imm(a, rd, rd, disp)


# The bytes of the common bin and lea ops, keyed by register numbers and int operands: bin by
# operation, (dst, x, y register) or (dst, x, int y); lea (dst, base, index, shift, disp).
_BIN_IMM_CODE = {op: Encoded(_bin_imm, op) for op in (*_SHIFT_IMM, *_BIN_REG)}
_BIN_REG_CODE = {op: Encoded(_bin_reg, table.method) for op, table in _BIN_REG.items()}
_LEA_CODE = Encoded(_lea)


def _compare_imm(a: Assembler, sf: int, x: int, y: int) -> None:
    """``cmp x<x>, #y`` (w<x> when not sf) for any int ``y``, taken modulo 2**64 (2**32): cmp
    or cmn of a 12-bit immediate, else y moved into X17 and compared with it."""
    regs = X if sf else W
    v = _signed64(y) if sf else (((y & 0xFFFFFFFF) ^ 0x80000000) - 0x80000000)
    if 0 <= v < 4096:
        a.cmp_imm(regs[x], v)
    elif -4096 < v < 0:
        a.cmn_imm(regs[x], -v)
    else:
        _mov_imm64(a, X[TMP], v & ((1 << 64) - 1) if sf else v & 0xFFFFFFFF)
        a.cmp_reg(regs[x], regs[TMP])


def _compare_reg(a: Assembler, regs, x: int, y: int) -> None:
    """``cmp regs[x], regs[y]``."""
    a.cmp_reg(regs[x], regs[y])


# The bytes of a comparison, indexed by whether it is 64-bit, keyed by register numbers and an
# int operand: (x, int y) or (x, y register)
_COMPARE_IMM_CODE = (Encoded(_compare_imm, 0), Encoded(_compare_imm, 1))
_COMPARE_REG_CODE = (Encoded(_compare_reg, W), Encoded(_compare_reg, X))
_FBIN = {op: Encoded("f" + op) for op in ("add", "sub", "mul", "div")}
# f64 conditions after fcmp (see op_fsetcc)
_FCC = {"gt": "gt", "ge": "ge", "lt": "mi", "le": "ls"}

# where each memory op has its base register among its operands
_BASE_POSITION = {"load": 1, "fload": 1, "store": 1, "fstore": 1, "rmw": 0}


def _only_memory_base(fn: Function, h: V, defined_at: int) -> bool:
    """``h``, loaded from a hole by the op at ``defined_at``, is written by no other op and read
    only as the base of memory accesses.

    Only the ops inside its live interval can mention it, so only those are looked at (a hole
    is mostly used right after it is loaded)."""
    ops = fn.ops
    span = lir.live_intervals(fn).get(h)    # None for a pinned register: look at every op
    first, last = span if span is not None else (0, len(ops) - 1)
    for i in range(first, last + 1):
        if i == defined_at:
            continue
        op = ops[i]
        a = op.args
        if op.op in _CALL_OPS:    # an argument, the function pointer or a result
            if h in a[2] or h is a[1] or h is a[0] or h is a[3]:
                return False
            continue
        base_at = _BASE_POSITION.get(op.op)
        for j, x in enumerate(a):
            if x is h and j != base_at:    # read as a value, or written
                return False
    return True


_CALL_OPS = frozenset(("call", "call_ptr"))
# where each branching op has its target (a Lbl or an Exit; rmw's may be None), lir.SIGNATURES
_TARGET_POSITION = {"jump": 0, "br": 3, "brbit": 3, "ovf": 4, "rmw": 5}
# for _frame_position: the ops that start the frame (-1) or do when their target (at that
# position) is a label; the ops that leave the uop (-1) or do when their target is an Exit
_FRAME_START = {"call": -1, "call_ptr": -1, "label": -1, **_TARGET_POSITION}
_EXIT_AT = {"ret": -1, "tail_jump": -1, **_TARGET_POSITION}


def _frame_position(fn: Function, calls: int) -> int | None:
    """Where to save X30 once for the ``calls`` calls of the uop, or None to save it around each.

    The save goes before the first call, label, or branch to a label: the code before it is
    straight-line (its branches leave the uop), so every path past that point has the frame.
    It pays when the calls it covers (8 bytes each otherwise) outnumber the exits that must
    restore X30 (4 bytes each): 8 * calls > 4 + 4 * exits, i.e. exits < 2 * calls - 1. Counting
    stops as soon as it cannot pay (with one call, any exit at all); it goes from the last op
    back, since a uop's exits (error and deopt paths, returns) gather at its end.
    """
    ops = fn.ops
    if not calls or not ops:
        return None
    limit = 2 * calls - 1
    exits = 0 if ops[-1].op in ("jump", "ret", "tail_jump") else 1    # falling off the end
    if exits >= limit:
        return None
    start = None
    for i, op in enumerate(ops):     # (most ops are in neither table: one test each)
        if op.op in _FRAME_START:
            at = _FRAME_START[op.op]
            if at < 0 or op.args[at].__class__ is Lbl:
                start = i
                break
    if start is None:
        return None
    for op in islice(reversed(ops), len(ops) - start):     # the ops from start on
        if op.op in _EXIT_AT:
            at = _EXIT_AT[op.op]
            if at < 0 or op.args[at].__class__ is Exit:
                exits += 1
                if exits >= limit:
                    return None
    return start


# LIR op name -> its _Sel method, looked up once instead of by name for every op
_HANDLERS = {name[3:]: method for name, method in vars(_Sel).items() if name.startswith("op_")}

def select(fn: Function) -> Code:
    try:
        return _Sel(fn).run()
    except AsmError as err:
        raise LowerError(f"cannot encode: {err}", where=f"aarch64 lowering of {fn.name}") from None


def shim() -> Code:
    """CPython's shim contract with the C ABI: save x29/x30, d8-d15 and x19-x28 in a 160-byte
    frame, move the arguments to the pinned registers, ``bl`` the first uop, restore, return."""
    a = Assembler()
    a.pair("stp", X[29], X[30], A.SP, -160, "pre")
    a.mov(X[29], A.SP)
    for i, (r1, r2) in enumerate(((8, 9), (10, 11), (12, 13), (14, 15))):
        a.pair("stp", D[r1], D[r2], A.SP, 16 + 16 * i)
    for i, (r1, r2) in enumerate(((19, 20), (21, 22), (23, 24), (25, 26), (27, 28))):
        a.pair("stp", X[r1], X[r2], A.SP, 80 + 16 * i)
    a.mov(X[FRAME_REG], X[0])
    a.mov(X[SP_REG], X[1])
    a.mov(X[TSTATE_REG], X[2])
    a.reloc("patch_aarch64_26r", "_JIT_CONTINUE")
    a.bl(None)
    for i, (r1, r2) in enumerate(((19, 20), (21, 22), (23, 24), (25, 26), (27, 28))):
        a.pair("ldp", X[r1], X[r2], A.SP, 80 + 16 * i)
    for i, (r1, r2) in enumerate(((8, 9), (10, 11), (12, 13), (14, 15))):
        a.pair("ldp", D[r1], D[r2], A.SP, 16 + 16 * i)
    a.pair("ldp", X[29], X[30], A.SP, 160, "post")
    a.ret()
    return Code(a.finish(), list(a.relocs), b"", {})
