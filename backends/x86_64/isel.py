"""x86-64 instruction selection: LIR -> machine code with CPython's stencil holes.

Register plan (FACTS §b.2): FRAME, SP, TSTATE live in R12, R13, R14 at every uop boundary and
exit. Other values get registers by linear scan: RAX RCX RDX RSI RDI R8 R9 when they do not
live across a call, RBX and R15 (callee-saved in the C ABI, free in a preserve_none stencil)
when they do; XMM0-XMM14 for doubles. R10 holds a call's target, R11 and XMM15 are scratch.
RBP is never touched (preserve_none keeps it).

Holes look as clang's stencils have them, so the same linker patches both: instruction fields
and data symbols are ``movabs $hole, %reg`` (patch_64), C functions are called through a GOT
slot in the group's data, ``call *slot(%rip)`` (patch_x86_64_32rx), and exits are ``jmp``/``jcc``
rel32 (patch_32r, addend -4). Stencils are entered with RSP = 8 (mod 16), so each call is
wrapped in ``push %rax`` / ``pop %r11`` to give the callee a 16-byte aligned stack.

Emitting: each instruction's bytes come from an :class:`asm.Encoded` table of its form (encoded
by the assembler the first time those operands occur), appended to a bytearray. Where an op's
choice of instructions depends on its operands (a constant that is or is not an imm32, a
destination that is also a source, a call's argument moves and saves), the whole sequence is
looked up in the same way by the register numbers and constants that decide it (_Sequences,
_call_sequence). Branches to the function's own labels are emitted with a zero displacement and
recorded; :func:`_relax` picks their sizes and fills them in once every label's position is
known.
"""

from __future__ import annotations

from bisect import bisect_right
from operator import attrgetter

from refjit import lir
from refjit.backends.x86_64 import asm as A
from refjit.backends.x86_64.asm import Assembler, Encoded, Mem
from refjit.codebuf import Reloc
from refjit.errors import AsmError, LowerError
from refjit.lir import Exit, Function, V

FRAME_REG, SP_REG, TSTATE_REG = A.R12, A.R13, A.R14
SCRATCH = (A.RAX, A.RCX, A.RDX, A.RSI, A.RDI, A.R8, A.R9)
SAVED = (A.RBX, A.R15)
FREGS = tuple(range(15))            # xmm0-xmm14
CALL_REG, TMP, FTMP = A.R10, A.R11, 15
INT_ARGS = (A.RDI, A.RSI, A.RDX, A.RCX, A.R8, A.R9)
FLOAT_ARGS = tuple(range(8))        # xmm0-xmm7
PINNED = {lir.FRAME: FRAME_REG, lir.SP: SP_REG, lir.TSTATE: TSTATE_REG}
_reloc = Reloc._make             # a Reloc from a tuple of its four fields (cheaper than Reloc(...))
# Relocations memoised (Relocs are immutable, so groups can share them): an exit's jump by
# (offset, symbol), a hole's imm64 by (offset, symbol, addend), a call's GOT slot by (offset,
# symbol), one that _relax moves by (the reloc, bytes moved back)
_EXIT_RELOCS: dict[tuple[int, str], Reloc] = {}
_HOLE_RELOCS: dict[tuple[int, str, int], Reloc] = {}
_CALL_RELOCS: dict[tuple[int, str], Reloc] = {}
_MOVED_RELOCS: dict[tuple[Reloc, int], Reloc] = {}


def _moved(r: Reloc, moved: int) -> Reloc:
    """``r`` at ``moved`` bytes before its offset (memoised in _MOVED_RELOCS)."""
    got = _MOVED_RELOCS[r, moved] = _reloc((r.offset - moved, r.kind, r.symbol, r.addend))
    return got

# LIR condition -> x86 condition code after ``cmp a, b``
CC = {"eq": "e", "ne": "ne", "lt": "l", "le": "le", "gt": "g", "ge": "ge",
      "ult": "b", "ule": "be", "ugt": "a", "uge": "ae"}
_INVERT = {"e": "ne", "ne": "e", "l": "ge", "ge": "l", "le": "g", "g": "le",
           "b": "ae", "ae": "b", "be": "a", "a": "be"}
_ALU = {"add": "ADDQ", "sub": "SUBQ", "and": "ANDQ", "or": "ORQ", "xor": "XORQ"}
_COMMUTES = {"add", "and", "or", "xor", "mul"}
_SHIFTS = ("shl", "shr", "sar")
_INT32_MIN, _INT32_MAX = -(1 << 31), (1 << 31) - 1
# An int constant v, as a 64-bit pattern, fits a sign-extended imm32 when (v + _H32) & _M64 is
# below 1 << 32; that minus _H32 is then its value as a signed 64-bit number.
_H32, _M64 = 1 << 31, (1 << 64) - 1

# The bytes of every instruction selection emits, per operands (see asm.Encoded). A memory
# operand is given as its base register and displacement.
_MOVQ_rr, _MOVL_ri32, _MOVQ_ri, _XORL_rr = (Encoded(n) for n in ("MOVQ_rr", "MOVL_ri32", "MOVQ_ri",
                                                                  "XORL_rr"))
_MOVABSQ_ri64, _MOVAPD_xx, _MOVZBL_rr = Encoded("MOVABSQ_ri64"), Encoded("MOVAPD_xx"), Encoded("MOVZBL_rr")
_TESTL_rr, _TESTQ_rr, _TESTB_rr = Encoded("TESTL_rr"), Encoded("TESTQ_rr"), Encoded("TESTB_rr")
_TESTB_ri8, _TESTL_ri32, _BTQ_ri8 = Encoded("TESTB_ri8"), Encoded("TESTL_ri32"), Encoded("BTQ_ri8")
_TESTB_mi8 = Encoded("TESTB_mi8", mem=0)
_CMP_rr = {32: Encoded("CMPL_rr"), 64: Encoded("CMPQ_rr")}
_CMP_ri = {32: Encoded("CMPL_ri"), 64: Encoded("CMPQ_ri")}
_CMP_mr = {32: Encoded("CMPL_mr", mem=0), 64: Encoded("CMPQ_mr", mem=0)}
_CMP_rm = {32: Encoded("CMPL_rm", mem=1), 64: Encoded("CMPQ_rm", mem=1)}
_CMP_mi8 = {32: Encoded("CMPL_mi8", mem=0), 64: Encoded("CMPQ_mi8", mem=0)}
_CMP_mi32 = {32: Encoded("CMPL_mi32", mem=0), 64: Encoded("CMPQ_mi32", mem=0)}
# load: (width, signed) -> the move that zero- or sign-extends into the whole register
_LOAD_FORMS = {(64, False): Assembler.MOVQ_rm, (64, True): Assembler.MOVQ_rm,
               (32, False): Assembler.MOVL_rm, (32, True): Assembler.MOVSLQ_rm,
               (16, False): Assembler.MOVZWL_rm, (16, True): Assembler.MOVSWQ_rm,
               (8, False): Assembler.MOVZBL_rm, (8, True): Assembler.MOVSBQ_rm}


def _load(a: Assembler, dst: int, m: Mem, width: int, signed: bool) -> None:
    _LOAD_FORMS[width, signed](a, dst, m)


_MOVQ_rm = Encoded("MOVQ_rm", mem=1)
_LOAD = Encoded(_load, mem=1)       # keyed (dst, base, disp, width, signed)
_STORE_r = {64: Encoded("MOVQ_mr", mem=0), 32: Encoded("MOVL_mr", mem=0),
            16: Encoded("MOVW_mr", mem=0), 8: Encoded("MOVB_mr", mem=0)}
_STORE_i = {64: Encoded("MOVQ_mi32", mem=0), 32: Encoded("MOVL_mi32", mem=0),
            16: Encoded("MOVW_mi16", mem=0), 8: Encoded("MOVB_mi8", mem=0)}
# read-modify-write of memory, by "is it 64 bits" (anything narrower is done as 32 bits)
_INC_m = {True: Encoded("INCQ_m", mem=0), False: Encoded("INCL_m", mem=0)}
_DEC_m = {True: Encoded("DECQ_m", mem=0), False: Encoded("DECL_m", mem=0)}
_ADD_mi8 = {True: Encoded("ADDQ_mi8", mem=0), False: Encoded("ADDL_mi8", mem=0)}
_ADD_mi32 = {True: Encoded("ADDQ_mi32", mem=0), False: Encoded("ADDL_mi32", mem=0)}
_MOVSD_xm, _MOVSD_mx = Encoded("MOVSD_xm", mem=1), Encoded("MOVSD_mx", mem=0)
_SHIFT_ri8 = {op: Encoded(f"{op.upper()}Q_ri8") for op in _SHIFTS}
_ALU_ri = {op: Encoded(name + "_ri") for op, name in _ALU.items()}
_ALU_rr = {op: Encoded(name + "_rr") for op, name in _ALU.items()}
_IMULQ_rri8, _IMULQ_rri32, _IMULQ_rr = Encoded("IMULQ_rri8"), Encoded("IMULQ_rri32"), Encoded("IMULQ_rr")


def _lea(a: Assembler, dst: int, base: int, disp: int, index: int, shift: int) -> None:
    a.LEAQ_rm(dst, Mem(base, disp, index, 1 << shift))


_LEA = Encoded(_lea)                # keyed (dst, base, disp, index, shift), as the LIR op has it
_SET_r = {cc: Encoded(f"SET{cc.upper()}_r") for cc in A.CC}
_CMOVQ_rr = {cc: Encoded(f"CMOV{cc.upper()}Q_rr") for cc in A.CC}
_FBIN_xx = {op: Encoded(f"{op.upper()}SD_xx") for op in ("add", "sub", "mul", "div")}
_UCOMISD_xx, _CVTSI2SDQ_xr, _CVTTSD2SIQ_rx = (Encoded(n) for n in ("UCOMISD_xx", "CVTSI2SDQ_xr",
                                                                     "CVTTSD2SIQ_rx"))
_PUSHQ_r, _POPQ_r, _JMPQ_r = Encoded("PUSHQ_r"), Encoded("POPQ_r"), Encoded("JMPQ_r")
_CALL_GOT = Encoded("CALLQ_m")[Mem(A.RIP, 0)]       # call *slot(%rip), slot a hole
_CALL_REG = Encoded("CALLQ_r")[CALL_REG]
_MOVABSQ_0 = [_MOVABSQ_ri64[reg, 0] for reg in range(16)]    # a hole's movabs, by register
_RETQ = Encoded("RETQ")[()]


def _opcode(name: str, field: int) -> bytes:
    """A branch form's bytes without its displacement field."""
    return Encoded(name)[0][:-field]


# x86 condition (None: always) -> the opcode bytes of a branch with a rel8 / rel32 displacement
_BR8 = {None: _opcode("JMP_d8", 1), **{cc: _opcode(f"J{cc.upper()}_d8", 1) for cc in A.CC}}
_BR32 = {None: _opcode("JMP_d32", 4), **{cc: _opcode(f"J{cc.upper()}_d32", 4) for cc in A.CC}}
# ... and the whole branch with a zero displacement, as selection emits it
_BR8_0 = {cc: op + bytes(1) for cc, op in _BR8.items()}
_BR32_0 = {cc: op + bytes(4) for cc, op in _BR32.items()}
# x86 condition -> the whole rel8 branch, by its displacement's byte (17 x 256 short strings)
_BR8_TO = {cc: [op + bytes((b,)) for b in range(256)] for cc, op in _BR8.items()}
_PUSH_PAD, _POP_PAD = _PUSHQ_r[A.RAX], _POPQ_r[TMP]     # stack alignment around a call
_SCRATCH_SET = frozenset(SCRATCH)
_SHIFT_OPS = frozenset(_SHIFTS)
_KIND = attrgetter("kind")


class _Sequences(dict):
    """The bytes of a short instruction sequence, by the operands that decide it (register
    numbers, int constants, widths): ``make(*key)`` the first time, looked up after that. The
    bytes are a pure function of the key, so this is only a memo; like asm.Encoded it empties
    itself when it reaches ``Encoded.MAX`` entries. An error in ``make`` is not stored."""

    __slots__ = ("make",)

    def __init__(self, make):
        super().__init__()
        self.make = make

    def __missing__(self, key: tuple) -> bytes:
        code = self.make(*key)
        if len(self) >= Encoded.MAX:
            self.clear()
        self[key] = code
        return code


def _mov_const(reg: int, value: int) -> bytes:
    """``reg = value`` (an int, as a 64-bit pattern) as llvm-mc would pick it: xorl, movl (which
    zero-extends) or movq (imm32 sign-extended, or movabs)."""
    value &= _M64
    if value == 0:
        return _XORL_rr[reg, reg]
    if value < (1 << 32):
        return _MOVL_ri32[reg, value]
    return _MOVQ_ri[reg, value - (1 << 64) if value >> 63 else value]


def _cmp_const(ra: int, b: int, width: int) -> bytes:
    """The flags of a ``width``-bit compare of register ``ra`` with the constant ``b``."""
    if b & ((1 << width) - 1) == 0:
        # test sets ZF/SF like a compare with 0 and clears CF/OF, so every condition holds
        return (_TESTL_rr if width == 32 else _TESTQ_rr)[ra, ra]
    if width == 32:
        v = b & 0xFFFFFFFF
        return _CMP_ri[32][ra, v - (1 << 32) if v >> 31 else v]
    imm = ((b + _H32) & _M64) - _H32
    if imm < _H32:
        return _CMP_ri[64][ra, imm]
    return _mov_const(TMP, b) + _CMP_rr[64][ra, TMP]     # not an imm32: in the scratch register


def _store_const(base: int, disp: int, value: int, width: int) -> bytes:
    """``*(intN *)(base + disp) = value``: an immediate form, or for a 64-bit value that is not
    an imm32, the value in the scratch register first."""
    if width == 64 and (value + _H32) & _M64 >= (1 << 32):
        return _mov_const(TMP, value) + _STORE_r[64][base, disp, TMP]
    return _STORE_i[width][base, disp, value - (1 << width) if value >> (width - 1) else value]


def _bin_regs(op: str, d: int, rx: int, ry: int) -> bytes:
    """``d = rx op ry`` (add sub mul and or xor) in two-operand form."""
    code = b""
    if ry == d and d != rx:         # d is written before ry is read
        if op in _COMMUTES:
            rx, ry = ry, rx
        else:
            code = _MOVQ_rr[TMP, ry]
            ry = TMP
    if d != rx:
        code += _MOVQ_rr[d, rx]
    return code + (_IMULQ_rr if op == "mul" else _ALU_rr[op])[d, ry]


def _bin_const(op: str, d: int, rx: int, y: int) -> bytes:
    """``d = rx op y`` for an int constant ``y``: an imm8/imm32 form, or y in the scratch
    register first when it is not an imm32."""
    imm = ((y + _H32) & _M64) - _H32
    if imm >= _H32:
        return _mov_const(TMP, y) + _bin_regs(op, d, rx, TMP)
    code = _MOVQ_rr[d, rx] if d != rx else b""
    if op == "mul":
        return code + (_IMULQ_rri8 if -128 <= imm < 128 else _IMULQ_rri32)[d, d, imm]
    return code + _ALU_ri[op][d, imm]


_MOV_CONST = _Sequences(_mov_const)         # keyed (reg, value)
_CMP_CONST = _Sequences(_cmp_const)         # keyed (reg, constant, width)
_STORE_CONST = _Sequences(_store_const)     # keyed (base, disp, value, width)
_BIN_REGS = _Sequences(_bin_regs)           # keyed (op, d, x, y)
_BIN_CONST = _Sequences(_bin_const)         # keyed (op, d, x, constant)


class Code:
    """What instruction selection produces for one group."""

    def __init__(self, code: bytes, relocs, data: bytes, data_labels: dict[str, int]):
        self.code, self.relocs, self.data, self.data_labels = code, relocs, data, data_labels


class _Sel:
    def __init__(self, fn: Function):
        self.fn = fn
        self.where = f"x86_64 lowering of {fn.name}"
        # vreg -> register number: the allocation (a new dict) with the pinned ones added
        self.regs = lir.allocate(fn, SCRATCH, SAVED, FREGS, self.where, INT_ARGS, FLOAT_ARGS, A.RAX)
        self.regs.update(PINNED)
        self.crossing = lir.crossing(fn)
        self.intervals = lir.live_intervals(fn)
        self.code = bytearray()
        self.relocs: list[Reloc] = []
        # label name -> (offset where it is bound, how many label branches come before it)
        self.labels: dict[str, tuple[int, int]] = {}
        # Every branch to a label, in order: (start, end, condition or None, label name). Its
        # displacement is left zero: ``_relax`` sizes and fills them all.
        self.label_branches: list[tuple[int, int, str | None, str]] = []
        self.ops, self.last = fn.ops, len(fn.ops) - 1

    def disp_error(self, disp: int) -> LowerError:
        """A memory operand's displacement that does not fit (callers check the range inline)."""
        return LowerError(f"displacement {disp:#x} does not fit in 32 bits", where=self.where)

    # -- helpers
    def branch(self, cc: str | None, target) -> None:
        """A jump (``cc`` None) or a conditional branch to an exit or a label."""
        code = self.code
        if isinstance(target, Exit):        # a rel32 hole
            code += _BR32_0[cc]
            field, symbol = len(code) - 4, target.symbol
            reloc = _EXIT_RELOCS.get((field, symbol))
            if reloc is None:
                reloc = _EXIT_RELOCS[field, symbol] = _reloc((field, "patch_32r", symbol, -4))
            self.relocs.append(reloc)
            return
        # A backward branch is rel8 when it reaches, as an assembler decides for a bound label;
        # a forward one is rel32 until _relax knows how far its label is.
        start = len(code)
        name = target.name
        bound = self.labels.get(name)
        if bound is not None and bound[0] - (start + 2) >= -128:
            code += _BR8_0[cc]
        else:
            code += _BR32_0[cc]
        self.label_branches.append((start, len(code), cc, name))

    def compare(self, a: V, b, width: int) -> None:
        R = self.regs
        ra = R[a]
        if isinstance(b, V):
            self.code += _CMP_rr[32 if width == 32 else 64][ra, R[b]]
        else:
            self.code += _CMP_CONST[ra, b, width]

    # -- the ops
    def run(self) -> Code:
        """The group's code, holes and data; branches to labels still need :func:`_relax`."""
        ops = self.ops
        handlers = _HANDLERS
        numbered = enumerate(ops)
        for i, op in numbered:
            if handlers[op.op](self, op.args, i):
                next(numbered)      # folded into this op (see fold_load, fold_test)
        # Falling off the end continues with the next uop: a jump that the group builder
        # removes, exactly as CPython's build removes the trailing jump to _JIT_CONTINUE.
        if not ops or ops[-1].op not in _ENDS:
            self.branch(None, lir.CONTINUE)
        rodata = self.fn.rodata
        if not rodata:
            return Code(bytes(self.code), self.relocs, b"", {})
        data = bytearray()
        labels = {}
        for name, blob in rodata.items():
            labels[name] = len(data)
            data += blob
        return Code(bytes(self.code), self.relocs, bytes(data), labels)

    def fold_load(self, load, nxt, at: int) -> bool:
        """A value loaded only to be tested or compared by the next op: test/cmp it in memory
        (``testb $1, 0x22(%rax)``, ``cmpq %rcx, 8(%rax)``), as clang does."""
        v, base, disp, width, signed = load
        live = self.intervals.get(v)        # set here and last used by the next op?
        if live is None or live[0] != at or live[1] != at + 1 \
                or width not in (8, 16, 32, 64):
            return False
        if not _INT32_MIN <= disp <= _INT32_MAX:
            raise self.disp_error(disp)
        rb = self.regs[base]
        if nxt.op == "brbit" and nxt.args[0] is v and nxt.args[1] < width \
                and disp + nxt.args[1] // 8 <= _INT32_MAX:     # (the tested byte's disp32)
            _, bit, is_set, target = nxt.args
            self.code += _TESTB_mi8[rb, disp + bit // 8, 1 << (bit % 8)]
            self.branch("ne" if is_set else "e", target)
            return True
        if nxt.op != "br" or width not in (32, 64) or nxt.args[4] != width:
            return False
        cond, x, y, target, _ = nxt.args
        if signed and width == 32:
            return False
        if x is v and y is not v:
            if isinstance(y, V):
                self.code += _CMP_mr[width][rb, disp, self.regs[y]]
            else:
                if width == 32:
                    value = y & 0xFFFFFFFF
                    value = value - (1 << 32) if value >> 31 else value
                else:
                    value = ((y + _H32) & _M64) - _H32
                    if value >= _H32:
                        return False
                self.code += (_CMP_mi8 if -128 <= value < 128 else _CMP_mi32)[width][rb, disp, value]
        elif y is v and isinstance(x, V) and x is not v:
            self.code += _CMP_rm[width][self.regs[x], rb, disp]
        else:
            return False
        self.branch(CC[cond], target)
        return True

    def fold_test(self, op, nxt, at: int) -> bool:
        """``v = x & mask`` only to branch on v being zero: ``test $mask, x``."""
        kind, v, x, mask = op
        if kind != "and" or isinstance(mask, V):
            return False
        live = self.intervals.get(v)        # set here and last used by the next op?
        if live is None or live[0] != at or live[1] != at + 1:
            return False
        if nxt.op != "br" or nxt.args[1] is not v or nxt.args[2] != 0 or nxt.args[0] not in ("eq", "ne"):
            return False
        rx = self.regs[x]
        mask &= (1 << nxt.args[4]) - 1
        if mask == 0xFF:
            self.code += _TESTB_rr[rx, rx]
        elif mask < 0x100:
            self.code += _TESTB_ri8[rx, mask]
        elif mask < 0x80000000:
            self.code += _TESTL_ri32[rx, mask]
        else:
            return False
        self.branch(CC[nxt.args[0]], nxt.args[3])
        return True

    def op_label(self, operands, at):
        name, labels = operands[0].name, self.labels
        if name in labels:
            raise AsmError(f"label {name!r} bound twice")
        labels[name] = (len(self.code), len(self.label_branches))

    def op_const(self, operands, at):
        dst, value = operands
        self.code += _MOV_CONST[self.regs[dst], value]

    def op_hole(self, operands, at):
        dst, symbol, addend = operands
        code = self.code
        code += _MOVABSQ_0[self.regs[dst]]
        key = (len(code) - 8, symbol, addend)     # the imm64
        reloc = _HOLE_RELOCS.get(key)
        if reloc is None:
            reloc = _HOLE_RELOCS[key] = _reloc((key[0], "patch_64", symbol, addend))
        self.relocs.append(reloc)

    def op_data(self, operands, at):
        dst, label = operands
        self.op_hole((dst, label, 0), at)

    def op_mov(self, operands, at):
        dst, src = operands
        d, s = self.regs[dst], self.regs[src]
        if d != s:
            self.code += (_MOVAPD_xx if dst.kind == lir.F64 else _MOVQ_rr)[d, s]

    def op_load(self, operands, at):
        # a value loaded only for the branch after it may be tested in memory there
        if at < self.last:
            nxt = self.ops[at + 1]
            if nxt.op in _FOLD_INTO and self.fold_load(operands, nxt, at):
                return True
        dst, base, disp, width, signed = operands
        if not _INT32_MIN <= disp <= _INT32_MAX:
            raise self.disp_error(disp)
        R = self.regs
        self.code += _LOAD[R[dst], R[base], disp, width, signed]

    def op_store(self, operands, at):
        value, base, disp, width = operands
        if not _INT32_MIN <= disp <= _INT32_MAX:
            raise self.disp_error(disp)
        rb = self.regs[base]
        if isinstance(value, V):
            self.code += _STORE_r[width][rb, disp, self.regs[value]]
        else:
            self.code += _STORE_CONST[rb, disp, value, width]

    def op_rmw(self, operands, at):
        base, disp, width, delta, cond, target = operands
        if not _INT32_MIN <= disp <= _INT32_MAX:
            raise self.disp_error(disp)
        rb, q = self.regs[base], width == 64
        if delta == 1:
            self.code += _INC_m[q][rb, disp]
        elif delta == -1:
            self.code += _DEC_m[q][rb, disp]
        else:
            self.code += (_ADD_mi8 if -128 <= delta < 128 else _ADD_mi32)[q][rb, disp, delta]
        if cond is not None:
            self.branch(CC[cond], target)

    def op_fload(self, operands, at):
        dst, base, disp = operands
        if not _INT32_MIN <= disp <= _INT32_MAX:
            raise self.disp_error(disp)
        self.code += _MOVSD_xm[self.regs[dst], self.regs[base], disp]

    def op_fstore(self, operands, at):
        value, base, disp = operands
        if not _INT32_MIN <= disp <= _INT32_MAX:
            raise self.disp_error(disp)
        self.code += _MOVSD_mx[self.regs[base], disp, self.regs[value]]

    def op_bin(self, operands, at):
        # an and whose value only feeds the branch after it may become a test there
        if at < self.last:
            nxt = self.ops[at + 1]
            if nxt.op in _FOLD_INTO and self.fold_test(operands, nxt, at):
                return True
        self.bin(operands)

    def bin(self, operands):
        op, dst, x, y = operands
        code, R = self.code, self.regs
        d, rx = R[dst], R[x]
        if op in _SHIFT_OPS:
            if d != rx:
                code += _MOVQ_rr[d, rx]
            if y:
                code += _SHIFT_ri8[op][d, y]
            return
        if isinstance(y, V):
            code += _BIN_REGS[op, d, rx, R[y]]
        else:
            code += _BIN_CONST[op, d, rx, y]

    def op_lea(self, operands, at):
        dst, base, index, shift, disp = operands
        R = self.regs
        self.code += _LEA[R[dst], R[base], disp, R[index], shift]

    def op_ovf(self, operands, at):
        op, dst, x, y, target = operands
        self.bin(operands[:4])
        self.branch("o", target)

    def op_setcc(self, operands, at):
        cond, dst, x, y, width = operands
        prev = self.ops[at - 1] if at else None
        # setcc and movzbl leave the flags of an identical comparison just before, unless that
        # setcc wrote one of the two compared (``x = x >u y`` then ``x >=u y`` compares the new x)
        if not (prev is not None and prev.op == "setcc" and prev.args[2:] == (x, y, width)
                and prev.args[1] is not x and prev.args[1] is not y):
            self.compare(x, y, width)
        d = self.regs[dst]
        self.code += _SET_r[CC[cond]][d]
        self.code += _MOVZBL_rr[d, d]

    def op_select(self, operands, at):
        cond, dst, x, y, t, f, width = operands
        self.compare(x, y, width)
        d, rt, rf = self.regs[dst], self.regs[t], self.regs[f]
        cc = CC[cond]
        if d == rt:            # dst already holds the true value: move the false one in
            cc, rt = _INVERT[cc], rf
        elif d != rf:
            self.code += _MOVQ_rr[d, rf]   # mov leaves the flags alone
        self.code += _CMOVQ_rr[cc][d, rt]

    def op_fbin(self, operands, at):
        op, dst, x, y = operands
        d, rx, ry = self.regs[dst], self.regs[x], self.regs[y]
        if ry == d and d != rx:
            if op in ("add", "mul"):
                rx, ry = ry, rx
            else:
                self.code += _MOVAPD_xx[FTMP, ry]
                ry = FTMP
        if d != rx:
            self.code += _MOVAPD_xx[d, rx]
        self.code += _FBIN_xx[op][d, ry]

    def op_fsetcc(self, operands, at):
        cond, dst, x, y = operands
        # ucomisd sets CF/ZF as an unsigned compare and all of ZF, PF, CF on unordered, so
        # "above" and "above or equal" are false for NaN: compare with the operands in the order
        # that turns lt/le into gt/ge.
        rx, ry = self.regs[x], self.regs[y]
        if cond in ("lt", "le"):
            rx, ry = ry, rx
        self.code += _UCOMISD_xx[rx, ry]
        d = self.regs[dst]
        self.code += _SET_r["a" if cond in ("gt", "lt") else "ae"][d]
        self.code += _MOVZBL_rr[d, d]

    def op_i2f(self, operands, at):
        dst, src = operands
        self.code += _CVTSI2SDQ_xr[self.regs[dst], self.regs[src]]

    def op_f2i(self, operands, at):
        dst, src = operands
        self.code += _CVTTSD2SIQ_rx[self.regs[dst], self.regs[src]]

    def op_br(self, operands, at):
        cond, x, y, target, width = operands
        R = self.regs        # self.compare(x, y, width), inline
        rx = R[x]
        if isinstance(y, V):
            self.code += _CMP_rr[32 if width == 32 else 64][rx, R[y]]
        else:
            self.code += _CMP_CONST[rx, y, width]
        self.branch(CC[cond], target)

    def op_brbit(self, operands, at):
        x, bit, is_set, target = operands
        rx = self.regs[x]
        if bit < 8:
            self.code += _TESTB_ri8[rx, 1 << bit]
            self.branch("ne" if is_set else "e", target)
        elif bit < 31:
            self.code += _TESTL_ri32[rx, 1 << bit]
            self.branch("ne" if is_set else "e", target)
        else:
            self.code += _BTQ_ri8[rx, bit]
            self.branch("b" if is_set else "ae", target)

    def op_jump(self, operands, at):
        target = operands[0]
        self.branch(None, target)

    def _call(self, at: int, dst, args, call: bytes, out=None, fptr=None, symbol=None):
        """Emit ``call`` (a call instruction's bytes) with the C ABI around it; ``symbol`` names
        the function whose GOT slot the call reads (the call's disp32 is then a hole). The
        sequence depends only on the registers and kinds of its operands and of the values live
        across it: see _call_sequence."""
        code, get = self.code, self.regs.get     # (OUT_SLOT, and a missing dst/out/fptr: None)
        live = self.crossing[at]
        key = (call, get(fptr), get(dst), get(out), tuple(map(get, args)), tuple(map(_KIND, args)),
               tuple(map(get, live)), tuple(map(_KIND, live)))
        before, after = _CALLS.get(key) or _call_sequence(key, self.where)
        code += before
        if symbol is not None:
            disp = len(code) - 4
            reloc = _CALL_RELOCS.get((disp, symbol))
            if reloc is None:
                reloc = _CALL_RELOCS[disp, symbol] = _reloc((disp, "patch_x86_64_32rx", symbol, -4))
            self.relocs.append(reloc)
        code += after

    def op_call(self, operands, at):
        dst, symbol, args, out = operands
        self._call(at, dst, args, _CALL_GOT, out, symbol=symbol)

    def op_call_ptr(self, operands, at):
        dst, fptr, args, out = operands
        self._call(at, dst, args, _CALL_REG, out, fptr)

    def op_ret(self, operands, at):
        reg = self.regs[operands[0]]
        if reg != A.RAX:
            self.code += _MOVQ_rr[A.RAX, reg]
        self.code += _RETQ

    def op_tail_jump(self, operands, at):
        address = operands[0]
        self.code += _JMPQ_r[self.regs[address]]


def _call_sequence(key: tuple, where: str) -> tuple[bytes, bytes]:
    """A call with the C ABI around it: its bytes up to the end of the call instruction, and
    after it. ``key`` = (the call instruction's bytes; the registers of the function pointer, the
    result and the out-parameter, None when there is none; the registers and kinds of the
    arguments, None for OUT_SLOT; the registers and kinds of the values live across the call).
    A pure function of the key, memoised in _CALLS; ``where`` names the uop in an error."""
    call, fptr, dst, out, arg_regs, arg_kinds, live_regs, live_kinds = key
    # the int arguments' moves into the ABI's registers (the allocator put most there already;
    # OUT_SLOT's register gets the slot's address), the f64 ones' moves into xmm0-xmm7
    int_moves, out_slots, float_moves = [], [], []
    n_int = n_float = 0
    for reg, kind in zip(arg_regs, arg_kinds):
        if kind == lir.INT:
            if n_int == len(INT_ARGS):
                raise LowerError("too many call arguments", where=where)
            if reg is None:
                out_slots.append(INT_ARGS[n_int])
            else:
                int_moves.append((INT_ARGS[n_int], reg))
            n_int += 1
        else:
            if n_float == 8:
                raise LowerError("too many call arguments", where=where)
            float_moves.append((n_float, reg))
            n_float += 1
    # Values live across the call in caller-saved registers are pushed (see _saves).
    if lir.F64 in live_kinds:
        raise LowerError("an f64 value lives across a call", where=where)
    pushes, pops = _saves(sorted({reg for reg in live_regs if reg in _SCRATCH_SET}), out is not None)
    before = bytearray(pushes)
    if fptr is not None:
        before += _MOVQ_rr[CALL_REG, fptr]
    _moves(int_moves, lambda d, s: before.extend(_MOVQ_rr[d, s]), TMP)
    for reg in out_slots:
        before += _MOVQ_rr[reg, A.RSP]
    if float_moves:
        _moves(float_moves, lambda d, s: before.extend(_MOVAPD_xx[d, s]), FTMP)
    before += call
    after = bytearray()
    if dst is not None and dst != A.RAX:
        after += _MOVQ_rr[dst, A.RAX]
    if out is not None:
        after += _MOVQ_rm[out, A.RSP, 0]
    after += pops
    if len(_CALLS) >= _CALLS_MAX:
        _CALLS.clear()
    got = _CALLS[key] = (bytes(before), bytes(after))
    return got


_CALLS: dict[tuple, tuple[bytes, bytes]] = {}
_CALLS_MAX = 4096


def _moves(moves: list[tuple[int, int]], mov, tmp: int) -> None:
    """lir.parallel_move, without its work when at most one register has to move."""
    pending = [m for m in moves if m[0] != m[1]]
    if len(pending) > 1:
        lir.parallel_move(pending, mov, tmp)
    elif pending:
        mov(*pending[0])


def _saves(saved: list[int], has_out: bool) -> tuple[bytes, bytes]:
    """The pushes before a call and the pops after it: ``saved`` are the caller-saved registers
    live across it, in order; ``has_out`` whether it has an out-parameter slot. RSP = 8 (mod 16)
    in a stencil, so an odd number of pushes realigns it for the callee, and the last pushed word
    is the out-parameter slot when there is one."""
    pads = 0 if len(saved) % 2 else 1
    if has_out and not pads:
        pads = 2
    pushes = b"".join(_PUSHQ_r[reg] for reg in saved) + _PUSH_PAD * pads
    pops = _POP_PAD * pads + b"".join(_POPQ_r[reg] for reg in reversed(saved))
    return pushes, pops


# LIR op name -> its _Sel method, looked up once instead of by name for every op; a method
# takes the op's operands as one tuple (in lir.SIGNATURES order) and its position, and returns
# True when it has done the next op too (a load or an and folded into the branch after it)
_HANDLERS = {name[3:]: method for name, method in vars(_Sel).items() if name.startswith("op_")}
_FOLD_INTO = frozenset(("br", "brbit"))     # the ops a load or an and may fold into
_ENDS = frozenset(("jump", "ret", "tail_jump"))      # ops after which nothing falls through


def select(fn: Function) -> Code:
    """Machine code, relocation records and read-only data for one LIR function."""
    try:
        first = _Sel(fn)
        return _relax(first, first.run())
    except AsmError as err:
        raise LowerError(f"cannot encode: {err}", where=f"x86_64 lowering of {fn.name}") from None


def _relax(sel: _Sel, code: Code) -> Code:
    """Branch sizing without a second selection pass.

    Selection emits every forward branch to a label as rel32, and a backward one as rel8 when it
    reaches there. A forward branch whose distance there fits rel8 becomes rel8 (shrinking code
    only shortens distances, so it still fits); a backward branch takes rel8 when its final
    distance fits, as an assembler decides for a bound label. The code between branches is
    copied as it is: it holds no position-dependent bytes (exits and calls are holes, patched at
    link time), so only the hole offsets move. Then every branch gets its displacement.

    A label, branch or relocation that comes after the first k branches moves back by
    ``shrunk[k]``, the bytes those k branches saved.
    """
    branches = sel.label_branches
    if not branches:
        return code
    labels = sel.labels                 # label -> (offset in the first pass, branches before it)
    # Sizes, in order: a backward branch's label lies before it, so the branches that move that
    # label are sized already. A rel8 backward branch stays so (distances only shrink).
    shrunk = [0]                        # shrunk[k]: bytes saved by the first k branches
    ends = []                           # first-pass end of each branch
    saved = 0
    for start, end, cc, name in branches:
        bound = labels.get(name)
        if bound is None:
            unbound = dict.fromkeys(b[3] for b in branches if b[3] not in labels)
            raise AsmError(f"unbound label(s): {', '.join(unbound)}")
        pos, before = bound
        if pos > start:
            if pos - end <= 127:
                saved += end - start - 2
        elif end - start > 2 and pos - shrunk[before] - (start - saved + 2) >= -128:
            saved += end - start - 2
        shrunk.append(saved)
        ends.append(end)
    # The code, each branch with its final size and displacement.
    old = code.code
    parts = []
    copied = 0
    k = 0
    for start, end, cc, name in branches:
        parts.append(old[copied:start])
        copied = end
        pos, before = labels[name]
        k += 1
        after = shrunk[k]               # saved by the branches up to this one
        disp = pos - shrunk[before] - (end - after)
        if after != shrunk[k - 1] or end - start == 2:
            if not -128 <= disp <= 127:
                raise AsmError(f"short branch to label {name!r} out of range ({disp})")
            parts.append(_BR8_TO[cc][disp & 0xFF])
        else:
            parts.append(_BR32[cc] + (disp & 0xFFFFFFFF).to_bytes(4, "little"))
    parts.append(old[copied:])
    relocs = code.relocs
    if saved:
        relocs = []
        for r in code.relocs:
            moved = shrunk[bisect_right(ends, r.offset)]
            if moved:
                r = _MOVED_RELOCS.get((r, moved)) or _moved(r, moved)
            relocs.append(r)
    return Code(b"".join(parts), relocs, code.data, code.data_labels)


def shim() -> Code:
    """CPython's shim contract: C ABI in, the callee-saved registers saved, the arguments moved
    to the pinned registers, a call of the first uop (laid out right after), and back."""
    a = Assembler()
    for r in (A.R15, A.R14, A.R13, A.R12, A.RBX):
        a.PUSHQ_r(r)
    a.MOVQ_rr(FRAME_REG, A.RDI)
    a.MOVQ_rr(SP_REG, A.RSI)
    a.MOVQ_rr(TSTATE_REG, A.RDX)
    a.CALLQ_d32(0)
    a.reloc("patch_32r", "_JIT_CONTINUE", -4)
    for r in (A.RBX, A.R12, A.R13, A.R14, A.R15):
        a.POPQ_r(r)
    a.RETQ()
    return Code(a.finish(), list(a.relocs), b"", {})
