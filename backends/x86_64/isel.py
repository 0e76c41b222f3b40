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
"""

from __future__ import annotations

from bisect import bisect_right

from refjit import lir
from refjit.backends.x86_64 import asm as A
from refjit.backends.x86_64.asm import Assembler, Mem
from refjit.errors import AsmError, LowerError
from refjit.lir import Exit, Function, Lbl, V

FRAME_REG, SP_REG, TSTATE_REG = A.R12, A.R13, A.R14
SCRATCH = (A.RAX, A.RCX, A.RDX, A.RSI, A.RDI, A.R8, A.R9)
SAVED = (A.RBX, A.R15)
FREGS = tuple(range(15))            # xmm0-xmm14
CALL_REG, TMP, FTMP = A.R10, A.R11, 15
INT_ARGS = (A.RDI, A.RSI, A.RDX, A.RCX, A.R8, A.R9)
PINNED = {lir.FRAME.id: FRAME_REG, lir.SP.id: SP_REG, lir.TSTATE.id: TSTATE_REG}

# LIR condition -> x86 condition code after ``cmp a, b``
CC = {"eq": "e", "ne": "ne", "lt": "l", "le": "le", "gt": "g", "ge": "ge",
      "ult": "b", "ule": "be", "ugt": "a", "uge": "ae"}
_INVERT = {"e": "ne", "ne": "e", "l": "ge", "ge": "l", "le": "g", "g": "le",
           "b": "ae", "ae": "b", "be": "a", "a": "be"}
_ALU = {"add": "ADDQ", "sub": "SUBQ", "and": "ANDQ", "or": "ORQ", "xor": "XORQ"}
_COMMUTES = {"add", "and", "or", "xor", "mul"}


class Code:
    """What instruction selection produces for one group."""

    def __init__(self, code: bytes, relocs, data: bytes, data_labels: dict[str, int]):
        self.code, self.relocs, self.data, self.data_labels = code, relocs, data, data_labels


def _fits32(v: int) -> bool:
    return -(1 << 31) <= v < (1 << 31)


def _signed64(v: int) -> int:
    v &= (1 << 64) - 1
    return v - (1 << 64) if v >> 63 else v


class _Sel:
    def __init__(self, fn: Function):
        self.fn = fn
        # Every branch to a label, in order: (start, end, condition or None, label name).
        # Forward ones are emitted as rel32 here; ``_relax`` sizes them afterwards.
        self.label_branches: list[tuple[int, int, str | None, str]] = []
        self.where = f"x86_64 lowering of {fn.name}"
        self.a = Assembler()
        self.regs = lir.allocate(fn, SCRATCH, SAVED, FREGS, self.where, INT_ARGS, tuple(range(8)), A.RAX)
        self.crossing = lir.crossing(fn)
        self.intervals = lir.live_intervals(fn)
        self.labels: dict[str, object] = {}
        self.pos = 0

    def r(self, v: V) -> int:
        if v.id < 0:
            return PINNED[v.id]
        return self.regs[v]

    def label(self, lbl: Lbl):
        got = self.labels.get(lbl.name)
        if got is None:
            got = self.labels[lbl.name] = self.a.label(lbl.name)
        return got

    def mem(self, base: V, disp: int) -> Mem:
        if not _fits32(disp):
            raise LowerError(f"displacement {disp:#x} does not fit in 32 bits", where=self.where)
        return Mem(self.r(base), disp)

    # -- helpers
    def mov_imm(self, reg: int, value: int) -> None:
        value = _signed64(value)
        if value == 0:
            self.a.XORL_rr(reg, reg)
        elif 0 <= value < (1 << 32):
            self.a.MOVL_ri32(reg, value)
        else:
            self.a.MOVQ_ri(reg, value)

    def mov_rr(self, dst: int, src: int) -> None:
        if dst != src:
            self.a.MOVQ_rr(dst, src)

    def operand(self, b):
        """An int operand as ('imm', value) when it fits a sign-extended imm32, else a register."""
        if isinstance(b, V):
            return self.r(b)
        value = _signed64(b)
        if _fits32(value):
            return ("imm", value)
        self.mov_imm(TMP, value)
        return TMP

    def exit_jump(self, cc: str | None, ex: Exit) -> None:
        if cc is None:
            self.a.JMP_d32(0)
        else:
            getattr(self.a, f"J{cc.upper()}_d32")(0)
        self.a.reloc("patch_32r", ex.symbol, -4)

    def branch(self, cc: str | None, target) -> None:
        if isinstance(target, Exit):
            self.exit_jump(cc, target)
        else:
            label = self.label(target)
            start = self.a.offset
            if cc is None:
                self.a.jmp(label)
            else:
                self.a.jcc(cc, label)
            self.label_branches.append((start, self.a.offset, cc, target.name))

    def compare(self, a: V, b, width: int) -> None:
        ra = self.r(a)
        if not isinstance(b, V) and b & ((1 << width) - 1) == 0:
            # test sets ZF/SF like a compare with 0 and clears CF/OF, so every condition holds
            (self.a.TESTL_rr if width == 32 else self.a.TESTQ_rr)(ra, ra)
            return
        if not isinstance(b, V) and width == 32:
            v = b & 0xFFFFFFFF
            self.a.CMPL_ri(ra, v - (1 << 32) if v >> 31 else v)
            return
        ob = self.operand(b)
        if isinstance(ob, tuple):
            if width == 32:
                self.a.CMPL_ri(ra, ob[1] & 0xFFFFFFFF)
            else:
                self.a.CMPQ_ri(ra, ob[1])
        elif width == 32:
            self.a.CMPL_rr(ra, ob)
        else:
            self.a.CMPQ_rr(ra, ob)

    # -- the ops
    def run(self) -> Code:
        a = self.a
        ops = self.fn.ops
        skip = -1
        for self.pos, op in enumerate(ops):
            if self.pos == skip:
                continue
            if self.pos + 1 < len(ops) and (op.op == "load" and self.fold_load(op, ops[self.pos + 1])
                                            or op.op == "bin" and self.fold_test(op, ops[self.pos + 1])):
                skip = self.pos + 1
                continue
            _HANDLERS[op.op](self, *op.args)
        # Falling off the end continues with the next uop: a jump that the group builder
        # removes, exactly as CPython's build removes the trailing jump to _JIT_CONTINUE.
        if not self.fn.ops or self.fn.ops[-1].op not in ("jump", "ret", "tail_jump"):
            self.exit_jump(None, lir.CONTINUE)
        data = bytearray()
        labels = {}
        for name, blob in self.fn.rodata.items():
            labels[name] = len(data)
            data += blob
        return Code(a.finish(), list(a.relocs), bytes(data), labels)

    def fold_load(self, load, nxt) -> bool:
        """A value loaded only to be tested or compared by the next op: test/cmp it in memory
        (``testb $1, 0x22(%rax)``, ``cmpq %rcx, 8(%rax)``), as clang does."""
        v, base, disp, width, signed = load.args
        if self.intervals.get(v) != [self.pos, self.pos + 1] or width not in (8, 16, 32, 64):
            return False
        m = self.mem(base, disp)
        a = self.a
        if nxt.op == "brbit" and nxt.args[0] is v and nxt.args[1] < width:
            _, bit, is_set, target = nxt.args
            a.TESTB_mi8(Mem(m.base, m.disp + bit // 8), 1 << (bit % 8))
            self.branch("ne" if is_set else "e", target)
            return True
        if nxt.op != "br" or width not in (32, 64) or nxt.args[4] != width:
            return False
        cond, x, y, target, _ = nxt.args
        if signed and width == 32:
            return False
        sfx = "Q" if width == 64 else "L"
        if x is v and y is not v:
            if isinstance(y, V):
                getattr(a, f"CMP{sfx}_mr")(m, self.r(y))
            else:
                value = (y & 0xFFFFFFFF) if width == 32 else _signed64(y)
                if width == 32:
                    value = value - (1 << 32) if value >> 31 else value
                if not _fits32(value):
                    return False
                getattr(a, f"CMP{sfx}_m{'i8' if -128 <= value < 128 else 'i32'}")(m, value)
        elif y is v and isinstance(x, V) and x is not v:
            getattr(a, f"CMP{sfx}_rm")(self.r(x), m)
        else:
            return False
        self.branch(CC[cond], target)
        return True

    def fold_test(self, op, nxt) -> bool:
        """``v = x & mask`` only to branch on v being zero: ``test $mask, x``."""
        kind, v, x, mask = op.args
        if kind != "and" or isinstance(mask, V) or self.intervals.get(v) != [self.pos, self.pos + 1]:
            return False
        if nxt.op != "br" or nxt.args[1] is not v or nxt.args[2] != 0 or nxt.args[0] not in ("eq", "ne"):
            return False
        rx, a = self.r(x), self.a
        mask &= (1 << nxt.args[4]) - 1
        if mask == 0xFF:
            a.TESTB_rr(rx, rx)
        elif mask < 0x100:
            a.TESTB_ri8(rx, mask)
        elif mask < 0x80000000:
            a.TESTL_ri32(rx, mask)
        else:
            return False
        self.branch(CC[nxt.args[0]], nxt.args[3])
        return True

    def op_label(self, lbl):
        self.a.bind(self.label(lbl))

    def op_const(self, dst, value):
        self.mov_imm(self.r(dst), value)

    def op_hole(self, dst, symbol, addend):
        self.a.MOVABSQ_ri64(self.r(dst), 0)
        self.a.reloc("patch_64", symbol, addend)

    def op_data(self, dst, label):
        self.a.MOVABSQ_ri64(self.r(dst), 0)
        self.a.reloc("patch_64", label, 0)

    def op_mov(self, dst, src):
        if dst.kind == lir.F64:
            if self.r(dst) != self.r(src):
                self.a.MOVAPD_xx(self.r(dst), self.r(src))
        else:
            self.mov_rr(self.r(dst), self.r(src))

    def op_load(self, dst, base, disp, width, signed):
        d, m = self.r(dst), self.mem(base, disp)
        a = self.a
        if width == 64:
            a.MOVQ_rm(d, m)
        elif width == 32:
            a.MOVSLQ_rm(d, m) if signed else a.MOVL_rm(d, m)
        elif width == 16:
            a.MOVSWQ_rm(d, m) if signed else a.MOVZWL_rm(d, m)
        else:
            a.MOVSBQ_rm(d, m) if signed else a.MOVZBL_rm(d, m)

    def op_store(self, value, base, disp, width):
        m = self.mem(base, disp)
        if isinstance(value, V):
            {64: self.a.MOVQ_mr, 32: self.a.MOVL_mr, 16: self.a.MOVW_mr, 8: self.a.MOVB_mr}[width](m, self.r(value))
            return
        if width == 64 and not _fits32(_signed64(value)):
            self.mov_imm(TMP, value)
            self.a.MOVQ_mr(m, TMP)
            return
        signed = value - (1 << width) if value >> (width - 1) else value
        {64: self.a.MOVQ_mi32, 32: self.a.MOVL_mi32, 16: self.a.MOVW_mi16, 8: self.a.MOVB_mi8}[width](m, signed)

    def op_rmw(self, base, disp, width, delta, cond, target):
        m, a = self.mem(base, disp), self.a
        q = "Q" if width == 64 else "L"
        if delta == 1:
            getattr(a, f"INC{q}_m")(m)
        elif delta == -1:
            getattr(a, f"DEC{q}_m")(m)
        else:
            getattr(a, f"ADD{q}_m{'i8' if -128 <= delta < 128 else 'i32'}")(m, delta)
        if cond is not None:
            self.branch(CC[cond], target)

    def op_fload(self, dst, base, disp):
        self.a.MOVSD_xm(self.r(dst), self.mem(base, disp))

    def op_fstore(self, value, base, disp):
        self.a.MOVSD_mx(self.mem(base, disp), self.r(value))

    def op_bin(self, op, dst, x, y):
        a = self.a
        d, rx = self.r(dst), self.r(x)
        if op in ("shl", "shr", "sar"):
            self.mov_rr(d, rx)
            if y:
                getattr(a, f"{op.upper()}Q_ri8")(d, y)
            return
        ry = self.operand(y)
        if isinstance(ry, int) and ry == d and d != rx:
            if op in _COMMUTES:
                rx, ry = ry, rx
            else:
                a.MOVQ_rr(TMP, ry)
                ry = TMP
        self.mov_rr(d, rx)
        if op == "mul":
            if isinstance(ry, tuple):
                (a.IMULQ_rri8 if -128 <= ry[1] < 128 else a.IMULQ_rri32)(d, d, ry[1])
            else:
                a.IMULQ_rr(d, ry)
        elif isinstance(ry, tuple):
            getattr(a, _ALU[op] + "_ri")(d, ry[1])
        else:
            getattr(a, _ALU[op] + "_rr")(d, ry)

    def op_lea(self, dst, base, index, shift, disp):
        self.a.LEAQ_rm(self.r(dst), Mem(self.r(base), disp, self.r(index), 1 << shift))

    def op_ovf(self, op, dst, x, y, target):
        self.op_bin(op, dst, x, y)
        self.branch("o", target)

    def op_setcc(self, cond, dst, x, y, width):
        prev = self.fn.ops[self.pos - 1] if self.pos else None
        # setcc and movzbl leave the flags of an identical comparison just before
        if not (prev is not None and prev.op == "setcc" and prev.args[2:] == (x, y, width)):
            self.compare(x, y, width)
        d = self.r(dst)
        getattr(self.a, f"SET{CC[cond].upper()}_r")(d)
        self.a.MOVZBL_rr(d, d)

    def op_select(self, cond, dst, x, y, t, f, width):
        self.compare(x, y, width)
        d, rt, rf = self.r(dst), self.r(t), self.r(f)
        cc = CC[cond]
        if d == rt:            # dst already holds the true value: move the false one in
            cc, rt = _INVERT[cc], rf
        elif d != rf:
            self.a.MOVQ_rr(d, rf)   # mov leaves the flags alone
        getattr(self.a, f"CMOV{cc.upper()}Q_rr")(d, rt)

    def op_fbin(self, op, dst, x, y):
        a = self.a
        d, rx, ry = self.r(dst), self.r(x), self.r(y)
        if ry == d and d != rx:
            if op in ("add", "mul"):
                rx, ry = ry, rx
            else:
                a.MOVAPD_xx(FTMP, ry)
                ry = FTMP
        if d != rx:
            a.MOVAPD_xx(d, rx)
        getattr(a, f"{op.upper()}SD_xx")(d, ry)

    def op_fsetcc(self, cond, dst, x, y):
        # ucomisd sets CF/ZF as an unsigned compare and all of ZF, PF, CF on unordered, so
        # "above" and "above or equal" are false for NaN: compare with the operands in the order
        # that turns lt/le into gt/ge.
        rx, ry = self.r(x), self.r(y)
        if cond in ("lt", "le"):
            rx, ry = ry, rx
        self.a.UCOMISD_xx(rx, ry)
        d = self.r(dst)
        (self.a.SETA_r if cond in ("gt", "lt") else self.a.SETAE_r)(d)
        self.a.MOVZBL_rr(d, d)

    def op_i2f(self, dst, src):
        self.a.CVTSI2SDQ_xr(self.r(dst), self.r(src))

    def op_f2i(self, dst, src):
        self.a.CVTTSD2SIQ_rx(self.r(dst), self.r(src))

    def op_br(self, cond, x, y, target, width):
        self.compare(x, y, width)
        self.branch(CC[cond], target)

    def op_brbit(self, x, bit, is_set, target):
        rx = self.r(x)
        if bit < 8:
            self.a.TESTB_ri8(rx, 1 << bit)
            self.branch("ne" if is_set else "e", target)
        elif bit < 31:
            self.a.TESTL_ri32(rx, 1 << bit)
            self.branch("ne" if is_set else "e", target)
        else:
            self.a.BTQ_ri8(rx, bit)
            self.branch("b" if is_set else "ae", target)

    def op_jump(self, target):
        self.branch(None, target)

    def _call(self, dst, args, emit_call, out=None, fptr=None):
        a = self.a
        ints = [x for x in args if x.kind == lir.INT]
        floats = [x for x in args if x.kind == lir.F64]
        if len(ints) > len(INT_ARGS) or len(floats) > 8:
            raise LowerError("too many call arguments", where=self.where)
        # Values live across the call in caller-saved registers are pushed; RSP = 8 (mod 16)
        # in a stencil, so an odd number of pushes realigns it for the callee, and the last
        # pushed word is the out-parameter slot when there is one.
        saved = sorted({self.r(v) for v in self.crossing[self.pos]
                        if v.kind == lir.INT and self.r(v) in SCRATCH})
        if any(v.kind == lir.F64 for v in self.crossing[self.pos]):
            raise LowerError("an f64 value lives across a call", where=self.where)
        pads = 0 if len(saved) % 2 else 1
        if out is not None and not pads:
            pads = 2
        for reg in saved:
            a.PUSHQ_r(reg)
        for _ in range(pads):
            a.PUSHQ_r(A.RAX)
        if fptr is not None:
            a.MOVQ_rr(CALL_REG, self.r(fptr))
        lir.parallel_move([(INT_ARGS[i], self.r(x)) for i, x in enumerate(ints) if x is not lir.OUT_SLOT],
                           a.MOVQ_rr, TMP)
        for i, x in enumerate(ints):
            if x is lir.OUT_SLOT:
                a.MOVQ_rr(INT_ARGS[i], A.RSP)
        lir.parallel_move([(i, self.r(x)) for i, x in enumerate(floats)], a.MOVAPD_xx, FTMP)
        emit_call()
        if dst is not None:
            self.mov_rr(self.r(dst), A.RAX)
        if out is not None:
            a.MOVQ_rm(self.r(out), Mem(A.RSP, 0))
        for _ in range(pads):
            a.POPQ_r(TMP)
        for reg in reversed(saved):
            a.POPQ_r(reg)

    def op_call(self, dst, symbol, args, out):
        def emit():
            self.a.CALLQ_m(Mem(A.RIP, 0))
            self.a.reloc("patch_x86_64_32rx", symbol, -4)
        self._call(dst, args, emit, out)

    def op_call_ptr(self, dst, fptr, args, out):
        self._call(dst, args, lambda: self.a.CALLQ_r(CALL_REG), out, fptr)

    def op_ret(self, value):
        self.mov_rr(A.RAX, self.r(value))
        self.a.RETQ()

    def op_tail_jump(self, address):
        self.a.JMPQ_r(self.r(address))


# LIR op name -> its _Sel method, looked up once instead of by name for every op
_HANDLERS = {name[3:]: method for name, method in vars(_Sel).items() if name.startswith("op_")}

def select(fn: Function) -> Code:
    """Machine code, relocation records and read-only data for one LIR function."""
    try:
        first = _Sel(fn)
        return _relax(first, first.run())
    except AsmError as err:
        raise LowerError(f"cannot encode: {err}", where=f"x86_64 lowering of {fn.name}") from None


def _relax(sel: _Sel, code: Code) -> Code:
    """Branch sizing without a second selection pass.

    Selection emits every forward branch to a label as rel32. A forward branch whose
    distance there fits rel8 becomes rel8 (shrinking code only shortens distances, so it
    still fits); a backward branch takes rel8 when its final distance fits, as the assembler
    decides for a bound label. The code between branches is copied as it is: it holds no
    position-dependent bytes (exits and calls are holes, patched at link time), so only the
    hole offsets move.
    """
    branches = sel.label_branches
    if not branches:
        return code
    old = code.code
    binds = sorted((lbl.pos, name) for name, lbl in sel.labels.items())
    a = Assembler()
    labels = {name: a.label(name) for name in sel.labels}
    ends: list[int] = []      # first-pass end of each branch
    shrunk: list[int] = []    # bytes saved by that branch and every one before it
    saved = 0
    copied = 0                # first-pass offset copied so far
    b = 0
    for start, end, cc, name in branches:
        while b < len(binds) and binds[b][0] <= start:
            pos, bound = binds[b]
            a.emit_bytes(old[copied:pos])
            copied = pos
            a.bind(labels[bound])
            b += 1
        a.emit_bytes(old[copied:start])
        copied = end
        label = labels[name]
        short = label.pos is None and sel.labels[name].pos - end <= 127
        if cc is None:
            a.jmp(label, short=short)
        else:
            a.jcc(cc, label, short=short)
        saved += (end - start) - (a.offset - (start - saved))
        ends.append(end)
        shrunk.append(saved)
    for pos, bound in binds[b:]:
        a.emit_bytes(old[copied:pos])
        copied = pos
        a.bind(labels[bound])
    a.emit_bytes(old[copied:])
    relocs = []
    for r in code.relocs:
        k = bisect_right(ends, r.offset)
        relocs.append(r._replace(offset=r.offset - shrunk[k - 1]) if k else r)
    return Code(a.finish(), relocs, code.data, code.data_labels)


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
