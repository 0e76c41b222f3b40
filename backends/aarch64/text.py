"""The AArch64 text front end: one instruction in llvm-objdump's syntax in, its bytes out.

``assemble("add x0, sp, #0x10", 0x1000)`` parses the operands into registers, immediates,
memory operands, shifts/extends and symbols (conditions, barrier options, system registers),
then a handler per mnemonic matches the operand shapes and calls the encoder API in
``asm.py``. Branch, adr/adrp and literal targets are absolute addresses; ``address`` is where
the instruction sits. Everything refused raises ``AsmError`` saying why.
"""

from __future__ import annotations

import re

from refjit.errors import AsmError

from . import asm as A
from .asm import Assembler, FReg, GReg, VList, VReg

# ---------------------------------------------------------------------------------------------
# Operands.

REGISTERS: dict[str, object] = {}
for _i in range(31):
    REGISTERS[f"x{_i}"] = A.X[_i]
    REGISTERS[f"w{_i}"] = A.W[_i]
for _i in range(32):
    for _k, _tab in (("b", A.B), ("h", A.H), ("s", A.S), ("d", A.D), ("q", A.Q)):
        REGISTERS[f"{_k}{_i}"] = _tab[_i]
REGISTERS.update(sp=A.SP, wsp=A.WSP, xzr=A.XZR, wzr=A.WZR, fp=A.X[29], lr=A.X[30])
del _i, _k, _tab

_VREG = re.compile(r"v([0-9]|[12][0-9]|3[01])\.(16b|8b|8h|4h|4s|2s|2d|1d|[bhsd])(?:\[(\d{1,2})\])?$")
_INT = re.compile(r"#?([+-]?)(0x[0-9a-f]{1,20}|[0-9]{1,25})$")
_FLOAT = re.compile(r"#?[+-]?[0-9]{1,20}(?:\.[0-9]{0,30})?(?:e[+-]?[0-9]{1,3})?$")
_SHIFT = re.compile(r"(lsl|lsr|asr|ror|msl|[us]xt[bhwx])(?:\s+#?([+-]?(?:0x[0-9a-f]{1,20}|[0-9]{1,25})))?$")
_SYMBOL = re.compile(r"[a-z][a-z0-9_]{0,31}$")
_VLIST = re.compile(r"\{\s*(v\d{1,2}\.\w{1,3}(?:\s*,\s*v\d{1,2}\.\w{1,3}){0,3})\s*\}(?:\[(\d{1,2})\])?$")


class Imm:
    """A number operand; ``f`` is its value as written when it has a fraction or exponent."""

    __slots__ = ("v", "f", "text")

    def __init__(self, v: int | None, f: float | None, text: str):
        self.v, self.f, self.text = v, f, text

    def __repr__(self) -> str:
        return self.text


class Shift:
    """``lsl #3``, ``uxtw``, ``sxtw #2``: amount is None when not written."""

    __slots__ = ("kind", "amount")

    def __init__(self, kind: str, amount: int | None):
        self.kind, self.amount = kind, amount

    def __repr__(self) -> str:
        return self.kind if self.amount is None else f"{self.kind} #{self.amount}"


class Sym:
    """A bare word: condition, barrier option, system register, prefetch operation."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return self.name


class Mem:
    """``[base]``, ``[base, #off]``, ``[base, #off]!``, ``[base], #off``, ``[base, idx{, ext}]``."""

    __slots__ = ("base", "offset", "index", "ext", "mode")

    def __init__(self, base, offset=None, index=None, ext=None, mode="offset"):
        self.base, self.offset, self.index, self.ext, self.mode = base, offset, index, ext, mode

    def __repr__(self) -> str:
        return f"[{self.base!r}...]"


def _number(text: str) -> Imm | None:
    m = _INT.match(text)
    if m:
        digits = m.group(2)
        v = int(digits, 16) if digits.startswith("0x") else int(digits, 10)
        return Imm(-v if m.group(1) == "-" else v, None, text)
    if _FLOAT.match(text):
        return Imm(None, float(text.lstrip("#")), text)
    return None


def _operand(text: str):
    t = text.strip()
    if not t:
        raise AsmError("empty operand")
    reg = REGISTERS.get(t)
    if reg is not None:
        return reg
    if t[0] == "{":
        return _vlist(t)
    if t[0] == "v":
        m = _VREG.match(t)
        if m:
            idx = m.group(3)
            arr = m.group(2)
            if (idx is None) != (len(arr) > 1):
                raise AsmError(f"bad vector register {t!r}: .{arr} {'needs' if idx is None else 'takes no'} index")
            return VReg(int(m.group(1)), arr, None if idx is None else int(idx))
    num = _number(t)
    if num is not None:
        return num
    m = _SHIFT.match(t)
    if m:
        amount = None
        if m.group(2) is not None:
            amount = _number(m.group(2)).v
        return Shift(m.group(1), amount)
    if _SYMBOL.match(t):
        return Sym(t)
    raise AsmError(f"cannot parse operand {t!r}")


def _vlist(t: str) -> VList:
    m = _VLIST.match(t)
    if not m:
        raise AsmError(f"cannot parse register list {t!r}")
    regs, arrs = [], set()
    for part in m.group(1).split(","):
        v = _VREG.match(part.strip())
        if not v or v.group(3) is not None:
            raise AsmError(f"bad register {part.strip()!r} in list {t!r}")
        regs.append(int(v.group(1)))
        arrs.add(v.group(2))
    if len(arrs) != 1:
        raise AsmError(f"registers of a list must share one arrangement: {t!r}")
    arr = arrs.pop()
    index = None if m.group(2) is None else int(m.group(2))
    if (index is None) != (len(arr) > 1):
        raise AsmError(f"bad register list {t!r}: .{arr} {'needs' if index is None else 'takes no'} lane index")
    return VList(regs, arr, index)


def _split(text: str) -> list[str]:
    """Split at commas outside brackets."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
            if depth < 0:
                raise AsmError("unbalanced brackets")
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if depth:
        raise AsmError("unbalanced brackets")
    parts.append("".join(cur))
    return parts


def _memory(text: str) -> Mem:
    t = text.strip()
    pre = t.endswith("!")
    if pre:
        t = t[:-1].rstrip()
    if not (t.startswith("[") and t.endswith("]")):
        raise AsmError(f"cannot parse memory operand {text.strip()!r}")
    inner = [p.strip() for p in t[1:-1].split(",")]
    if "[" in t[1:-1] or "]" in t[1:-1]:
        raise AsmError(f"nested brackets in {text.strip()!r}")
    base = _operand(inner[0])
    mem = Mem(base)
    rest = [_operand(p) for p in inner[1:]]
    if len(rest) == 1 and rest[0].__class__ is Imm:
        mem.offset = rest[0]
    elif 1 <= len(rest) <= 2 and rest[0].__class__ is GReg:
        mem.index = rest[0]
        if len(rest) == 2:
            if rest[1].__class__ is not Shift:
                raise AsmError(f"expected an extend or shift after the index in {text.strip()!r}")
            mem.ext = rest[1]
    elif rest:
        raise AsmError(f"cannot parse memory operand {text.strip()!r}")
    if pre:
        if mem.offset is None:
            raise AsmError("pre-index writeback '!' needs an immediate offset")
        mem.mode = "pre"
    return mem


def parse(text: str) -> tuple[str, list]:
    """Split one instruction into its lower-case mnemonic and parsed operands."""
    if text.__class__ is not str:
        raise AsmError(f"instruction must be a string, got {type(text).__name__}")
    t = text.split("//", 1)[0].replace("\t", " ").strip().lower()
    if not t:
        raise AsmError("empty instruction")
    if not t.isascii() or not t.isprintable():
        raise AsmError(f"unexpected characters in {text.strip()!r}")
    parts = t.split(None, 1)
    mnemonic = parts[0]
    ops: list = []
    if len(parts) > 1:
        for p in _split(parts[1]):
            if p.strip().startswith("["):
                ops.append(_memory(p))
            else:
                ops.append(_operand(p))
    # post-index: "[xn], #imm" (and "[xn], xm" for structure loads) is one operand
    if len(ops) >= 2 and ops[-1].__class__ in (Imm, GReg) and ops[-2].__class__ is Mem:
        mem = ops[-2]
        if mem.mode == "offset" and mem.offset is None and mem.index is None:
            mem.offset, mem.mode = ops.pop(), "post"
    return mnemonic, ops


# ---------------------------------------------------------------------------------------------
# Operand checks used by the handlers.

def _shape(ops) -> str:
    return "".join(_KIND.get(o.__class__, "?") for o in ops)


_KIND = {GReg: "r", FReg: "f", VReg: "v", Imm: "i", Shift: "s", Sym: "c", Mem: "m", VList: "l"}


def _int(op, what: str = "immediate") -> int:
    if op.__class__ is Imm and op.v is not None:
        return op.v
    raise AsmError(f"expected an integer {what}, got {op!r}")


def _sym(op, table: dict, what: str):
    if op.__class__ is Sym and op.name in table:
        return op.name
    raise AsmError(f"expected {what}, got {op!r}")


def _wrong(mnemonic: str, ops) -> AsmError:
    shown = ", ".join(map(repr, ops))
    return AsmError(f"invalid operands for {mnemonic}: {shown or '(none)'}")


def _expect(mnemonic: str, ops, *shapes: str) -> str:
    s = _shape(ops)
    if s not in shapes:
        raise _wrong(mnemonic, ops)
    return s


# ---------------------------------------------------------------------------------------------
# Handlers: (assembler, mnemonic, operands) -> None.

def _addsub(a: Assembler, mn: str, ops) -> None:
    base = mn.rstrip("s") if mn in ("adds", "subs") else mn
    flags = mn in ("adds", "subs", "cmp", "cmn")
    if mn in ("cmp", "cmn"):
        rn = ops[0] if ops else None
        zr = A.XZR if rn.__class__ is GReg and rn.sf else A.WZR
        ops = [zr] + list(ops)
        base = "sub" if mn == "cmp" else "add"
    s = _expect(mn, ops, "rri", "rris", "rrr", "rrrs")
    rd, rn = ops[0], ops[1]
    op = 1 if base == "sub" else 0
    if s[2] == "i":
        imm = _int(ops[2])
        lsl12 = False
        if s == "rris":
            sh = ops[3]
            if sh.kind != "lsl" or sh.amount not in (0, 12):
                raise AsmError(f"add/sub immediate shift must be lsl #0 or lsl #12, got {sh!r}")
            lsl12 = sh.amount == 12
            if lsl12 and imm > 0xFFF:
                raise AsmError(f"immediate {imm:#x} with lsl #12 out of range 0..0xfff")
        return a._addsub_imm(op, int(flags), rd, rn, imm, lsl12)
    rm = ops[2]
    sh = ops[3] if s == "rrrs" else None
    use_ext = (rd.n == 32 and not flags) or rn.n == 32 or (sh is not None and sh.kind in A.EXTEND)
    if rd.sf and not rm.sf:
        use_ext = True
    if use_ext:
        if sh is None:
            ext, amount = ("uxtx" if rd.sf else "uxtw"), 0
            if rd.sf and not rm.sf:
                raise AsmError(f"{mn}: a w index register needs an extend (uxtw, sxtw...)")
        else:
            ext, amount = sh.kind, 0 if sh.amount is None else sh.amount
            if ext == "lsl" and sh.amount is None:
                raise _wrong(mn, ops)
        return a._addsub_ext(op, int(flags), rd, rn, rm, ext, amount)
    if sh is None:
        kind, amount = "lsl", 0
    else:
        if sh.amount is None:
            raise AsmError(f"shift {sh.kind} needs an amount")
        kind, amount = sh.kind, sh.amount
    a._addsub_reg(op, int(flags), rd, rn, rm, kind, amount)


def _neg(a, mn, ops):
    s = _expect(mn, ops, "rr", "rrs")
    kind, amount = _shift_of(ops[2] if s == "rrs" else None, mn)
    (a.neg if mn == "neg" else a.negs)(ops[0], ops[1], kind, amount)


def _shift_of(sh, mn, allowed=("lsl", "lsr", "asr", "ror")) -> tuple[str, int]:
    if sh is None:
        return "lsl", 0
    if sh.kind not in allowed or sh.amount is None:
        raise AsmError(f"{mn}: bad shift {sh!r}")
    return sh.kind, sh.amount


_LOGIC = {"and": (0, 0), "bic": (0, 1), "orr": (1, 0), "orn": (1, 1), "eor": (2, 0), "eon": (2, 1),
          "ands": (3, 0), "bics": (3, 1)}


def _logic(a, mn, ops):
    opc, N = _LOGIC[mn]
    s = _expect(mn, ops, "rri", "rrr", "rrrs")
    if s == "rri":
        if N:
            raise AsmError(f"{mn} has no immediate form")
        return a._logic_imm(opc, ops[0], ops[1], _int(ops[2]))
    kind, amount = _shift_of(ops[3] if s == "rrrs" else None, mn)
    a._logic_reg(opc, N, ops[0], ops[1], ops[2], kind, amount)


def _tst(a, mn, ops):
    s = _expect(mn, ops, "ri", "rr", "rrs")
    if s == "ri":
        return a.tst_imm(ops[0], _int(ops[1]))
    kind, amount = _shift_of(ops[2] if s == "rrs" else None, mn)
    a.tst_reg(ops[0], ops[1], kind, amount)


def _mvn(a, mn, ops):
    s = _expect(mn, ops, "rr", "rrs")
    kind, amount = _shift_of(ops[2] if s == "rrs" else None, mn)
    a.mvn(ops[0], ops[1], kind, amount)


def _mov(a, mn, ops):
    s = _expect(mn, ops, "ri", "rr", "vv", "vr", "rv", "fv")
    if s == "ri":
        return a.mov_imm(ops[0], _int(ops[1]))
    if s == "rr":
        return a.mov(ops[0], ops[1])
    if s == "vv":
        if ops[0].index is not None:
            return a.ins(ops[0], ops[1])
        return a.mov_vec(ops[0], ops[1])
    if s == "vr":
        return a.ins(ops[0], ops[1])
    if s == "fv":
        return a.mov_element_to_scalar(ops[0], ops[1])
    if ops[1].arrangement not in ("s", "d"):
        raise AsmError("mov from a vector element is only for .s and .d (use umov)")
    a.umov(ops[0], ops[1])


def _umov(a, mn, ops):
    _expect(mn, ops, "rv")
    getattr(a, mn)(ops[0], ops[1])


def _movewide(a, mn, ops):
    s = _expect(mn, ops, "ri", "ris")
    shift = 0
    if s == "ris":
        if ops[2].kind != "lsl" or ops[2].amount is None:
            raise AsmError(f"{mn}: shift must be lsl #0/16/32/48, got {ops[2]!r}")
        shift = ops[2].amount
    getattr(a, mn)(ops[0], _int(ops[1]), shift)


def _shift_insn(a, mn, ops):
    s = _expect(mn, ops, "rri", "rrr")
    if s == "rrr":
        return getattr(a, mn + "v")(*ops)
    getattr(a, mn + "_imm")(ops[0], ops[1], _int(ops[2], "shift amount"))


def _regs(n: int, method: str | None = None):
    shape = "r" * n

    def handler(a, mn, ops):
        _expect(mn, ops, shape)
        getattr(a, method or mn)(*ops)
    return handler


def _bitfield(a, mn, ops):
    _expect(mn, ops, "rrii")
    getattr(a, mn)(ops[0], ops[1], _int(ops[2]), _int(ops[3]))


def _extr(a, mn, ops):
    _expect(mn, ops, "rrri")
    a.extr(ops[0], ops[1], ops[2], _int(ops[3]))


def _csel(a, mn, ops):
    _expect(mn, ops, "rrrc")
    getattr(a, mn)(ops[0], ops[1], ops[2], _sym(ops[3], A.COND, "a condition"))


def _cset(a, mn, ops):
    _expect(mn, ops, "rc")
    getattr(a, mn)(ops[0], _sym(ops[1], A.COND, "a condition"))


def _cinc(a, mn, ops):
    _expect(mn, ops, "rrc")
    getattr(a, mn)(ops[0], ops[1], _sym(ops[2], A.COND, "a condition"))


def _ccmp(a, mn, ops):
    s = _expect(mn, ops, "rric", "riic")
    second = _int(ops[1]) if s[1] == "i" else ops[1]
    getattr(a, mn)(ops[0], second, _int(ops[2], "nzcv"), _sym(ops[3], A.COND, "a condition"))


def _target(op) -> int:
    if op.__class__ is Imm and op.v is not None:
        if op.v < 0:
            raise AsmError(f"target address {op!r} is negative")
        return op.v
    raise AsmError(f"expected a target address, got {op!r}")


def _adr(a, mn, ops):
    _expect(mn, ops, "ri")
    target = _target(ops[1])
    if mn == "adrp" and target & 0xFFF:
        # llvm-objdump prints the page's address; anything else is not what it printed
        raise AsmError(f"adrp target {target:#x} is not a page address (a multiple of 0x1000)")
    getattr(a, mn)(ops[0], target)


def _branch(a, mn, ops):
    _expect(mn, ops, "i")
    if mn.startswith("b."):
        cond = mn[2:]
        if cond not in A.COND:
            raise AsmError(f"unknown condition in {mn!r}")
        return a.b_cond(cond, _target(ops[0]))
    getattr(a, mn)(_target(ops[0]))


def _cbz(a, mn, ops):
    _expect(mn, ops, "ri")
    getattr(a, mn)(ops[0], _target(ops[1]))


def _tbz(a, mn, ops):
    _expect(mn, ops, "rii")
    getattr(a, mn)(ops[0], _int(ops[1], "bit number"), _target(ops[2]))


def _branch_reg(a, mn, ops):
    if mn == "ret" and not ops:
        return a.ret()
    _expect(mn, ops, "r")
    getattr(a, mn)(ops[0])


# the hint-space instructions llvm-objdump prints by name (everything else is "hint #n")
HINT_NAMES = {"nop": 0, "yield": 1, "wfe": 2, "wfi": 3, "sev": 4, "sevl": 5, "dgh": 6, "xpaclri": 7,
              "pacia1716": 8, "pacib1716": 10, "autia1716": 12, "autib1716": 14, "esb": 16,
              "psb csync": 17, "tsb csync": 18, "gcsb dsync": 19, "csdb": 20, "clrbhb": 22, "paciaz": 24,
              "paciasp": 25, "pacibz": 26, "pacibsp": 27, "autiaz": 28, "autiasp": 29, "autibz": 30,
              "autibsp": 31, "bti": 32, "bti c": 34, "bti j": 36, "bti jc": 38, "pacm": 39,
              "chkfeat x16": 40}


def _hint_name(a, mn, ops):
    spelled = " ".join([mn] + [repr(op) for op in ops])
    if len(ops) > 1 or spelled not in HINT_NAMES:
        raise _wrong(mn, ops)
    a.hint(HINT_NAMES[spelled])


def _imm16(a, mn, ops):
    _expect(mn, ops, "i")
    getattr(a, mn)(_int(ops[0]))


def _barrier(a, mn, ops):
    if mn == "isb" and not ops:
        return a.isb()
    s = _expect(mn, ops, "c", "i")
    if s == "i":
        return getattr(a, mn)(_int(ops[0], "barrier option"))
    opt = _sym(ops[0], A.BARRIER_OPTION, "a barrier option")
    if mn == "isb" and opt != "sy":
        raise AsmError("isb only takes sy or #imm")
    getattr(a, mn)(opt)


_SYSREG_GENERIC = re.compile(r"s([0-3])_([0-7])_c([0-9]|1[0-5])_c([0-9]|1[0-5])_([0-7])$")


def _sysreg(op):
    if op.__class__ is Sym:
        if op.name in A.SYSREG:
            return op.name
        m = _SYSREG_GENERIC.match(op.name)
        if m and int(m.group(1)) >= 2:
            return tuple(int(g) for g in m.groups())
    raise AsmError(f"unknown system register {op!r}")


def _mrs(a, mn, ops):
    if mn == "mrs":
        _expect(mn, ops, "rc")
        a.mrs(ops[0], _sysreg(ops[1]))
    else:
        _expect(mn, ops, "cr")
        a.msr(_sysreg(ops[0]), ops[1])


def _ldst(a, mn, ops):
    """ldr/str and their byte, half and signed variants; prfm."""
    if mn == "prfm":
        if len(ops) == 2 and ops[0].__class__ in (Sym, Imm):
            prf = A._prfop(ops[0].name if ops[0].__class__ is Sym else _int(ops[0]))
            ops = [prf, ops[1]]
        else:
            raise _wrong(mn, ops)
    elif _shape(ops) not in ("rm", "fm", "ri", "fi"):
        raise _wrong(mn, ops)
    rt, where = ops
    if where.__class__ not in (Mem, Imm):
        raise _wrong(mn, ops)
    if where.__class__ is Imm:
        if mn == "ldr":
            return a.ldr_literal(rt, _target(where))
        if mn == "ldrsw":
            return a.ldrsw_literal(rt, _target(where))
        if mn == "prfm":
            return a.ldr_literal(rt, _target(where))
        raise AsmError(f"{mn} has no literal form")
    mem = where
    if mem.index is not None:
        ext = mem.ext
        if ext is None:
            return a.ldst_reg(mn, rt, mem.base, mem.index, "lsl", None)
        if ext.kind == "lsl" and ext.amount is None:
            raise AsmError("lsl in a register offset needs an amount")
        return a.ldst_reg(mn, rt, mem.base, mem.index, ext.kind, ext.amount)
    offset = 0 if mem.offset is None else _int(mem.offset, "offset")
    if mem.mode == "offset":
        return a.ldst(mn, rt, mem.base, offset)
    if mem.mode == "pre":
        return a.ldst_pre(mn, rt, mem.base, offset)
    return a.ldst_post(mn, rt, mem.base, offset)


def _ldur(a, mn, ops):
    base = A.UNSCALED[mn]
    if base == "prfm":
        if len(ops) == 2 and ops[0].__class__ in (Sym, Imm):
            ops = [A._prfop(ops[0].name if ops[0].__class__ is Sym else _int(ops[0])), ops[1]]
        else:
            raise _wrong(mn, ops)
    elif _shape(ops) not in ("rm", "fm"):
        raise _wrong(mn, ops)
    mem = ops[1]
    if mem.__class__ is not Mem or mem.mode != "offset" or mem.index is not None:
        raise AsmError(f"{mn} only takes [base, #offset]")
    offset = 0 if mem.offset is None else _int(mem.offset, "offset")
    a.ldst_unscaled(base, ops[0], mem.base, offset)


def _pair(a, mn, ops):
    if _shape(ops) not in ("rrm", "ffm"):
        raise _wrong(mn, ops)
    mem = ops[2]
    if mem.index is not None:
        raise AsmError(f"{mn} has no register-offset form")
    offset = 0 if mem.offset is None else _int(mem.offset, "offset")
    a.pair(mn, ops[0], ops[1], mem.base, offset, mem.mode)


def _plain_base(mn, mem) -> GReg:
    """The [xn] (or [xn, #0]) address of exclusive and atomic accesses."""
    if mem.__class__ is not Mem or mem.mode != "offset" or mem.index is not None or \
            (mem.offset is not None and mem.offset.v != 0):
        raise AsmError(f"{mn} only takes a plain [base] address")
    return mem.base


def _exclusive(a, mn, ops):
    if not ops or ops[-1].__class__ is not Mem or _shape(ops[:-1]).strip("r"):
        raise _wrong(mn, ops)
    a.exclusive(mn, *ops[:-1], _plain_base(mn, ops[-1]))


def _ldapr(a, mn, ops):
    if _shape(ops) != "rm":
        raise _wrong(mn, ops)
    a.ldapr(ops[0], _plain_base(mn, ops[1]), {"ldapr": None, "ldaprb": 0, "ldaprh": 1}[mn])


def _split_atomic(mn: str) -> tuple[str, str, int | None] | None:
    """ldaddalh -> ("ldadd", "al", 1); casb -> ("cas", "", 0); stsetl -> ("stset", "l", None)."""
    size = None
    for base in sorted(list(A.ATOMIC_OPS) + ["cas"] + ["st" + o[2:] for o in A.ATOMIC_OPS
                                                       if o.startswith("ld")], key=len, reverse=True):
        if mn.startswith(base):
            rest = mn[len(base):]
            if rest.endswith(("b", "h")) and rest[:-1] in A.ORDERING:
                size, rest = (0 if rest[-1] == "b" else 1), rest[:-1]
            if rest in A.ORDERING:
                return base, rest, size
            return None
    return None


def _atomic(a, mn, ops):
    parts = _split_atomic(mn)
    if parts is None:
        raise AsmError(f"unknown mnemonic {mn!r}")
    base, order, size = parts
    if base.startswith("st"):
        # st<op>{l}: the ld<op> that discards its result into the zero register
        if order not in ("", "l"):
            raise AsmError(f"unknown mnemonic {mn!r}")
        if _shape(ops) != "rm":
            raise _wrong(mn, ops)
        rs = ops[0]
        zr = A.XZR if rs.sf else A.WZR
        return a.atomic("ld" + base[2:], order, size, rs, zr, _plain_base(mn, ops[1]))
    if _shape(ops) != "rrm":
        raise _wrong(mn, ops)
    if ops[0].sf != ops[1].sf:
        raise AsmError(f"{mn} registers must be the same size")
    if base == "cas":
        return a.cas(order, size, ops[0], ops[1], _plain_base(mn, ops[2]))
    a.atomic(base, order, size, ops[0], ops[1], _plain_base(mn, ops[2]))


def _fp_value(op) -> float:
    if op.__class__ is Imm:
        if op.f is None and "0x" in op.text:
            # llvm-mc would take #0x.. as the raw 8-bit encoding, GNU as as the value: refuse
            raise AsmError(f"FP immediate {op!r} must be written in decimal, like #2.5")
        return op.f if op.f is not None else op.v
    raise AsmError(f"expected an FP immediate, got {op!r}")


def _fmov(a, mn, ops):
    s = _expect(mn, ops, "ff", "fr", "rf", "fi", "rv", "vr", "vi")
    if s in ("rv", "vr"):
        return a.fmov_upper(ops[0], ops[1])
    if s == "vi":
        return a.fmov_vec_imm(ops[0], _fp_value(ops[1]))
    if s == "fi":
        value = _fp_value(ops[1])
        if value == 0 and not str(float(value)).startswith("-"):
            # +0.0 has no 8-bit encoding; LLVM moves the zero register instead
            return a.fmov(ops[0], A.XZR if ops[0].kind == "d" else A.WZR)
        return a.fmov_imm(ops[0], value)
    a.fmov(ops[0], ops[1])


def _fp(n: int):
    shape = "f" * n

    def handler(a, mn, ops):
        _expect(mn, ops, shape)
        getattr(a, mn)(*ops)
    return handler


def _fcmp(a, mn, ops):
    s = _expect(mn, ops, "ff", "fi")
    if s == "fi":
        if _fp_value(ops[1]) != 0:
            raise AsmError(f"{mn} compares with a register or #0.0 only")
        return getattr(a, mn)(ops[0], 0)
    getattr(a, mn)(ops[0], ops[1])


def _fccmp(a, mn, ops):
    _expect(mn, ops, "ffic")
    getattr(a, mn)(ops[0], ops[1], _int(ops[2], "nzcv"), _sym(ops[3], A.COND, "a condition"))


def _fcsel(a, mn, ops):
    _expect(mn, ops, "fffc")
    a.fcsel(ops[0], ops[1], ops[2], _sym(ops[3], A.COND, "a condition"))


def _int_to_fp(a, mn, ops):
    s = _expect(mn, ops, "fr", "fri")
    getattr(a, mn)(ops[0], ops[1], *([_int(ops[2], "fraction bits")] if s == "fri" else []))


def _fp_to_int(a, mn, ops):
    if mn in ("fcvtzs", "fcvtzu"):
        s = _expect(mn, ops, "rf", "rfi")
        return getattr(a, mn)(ops[0], ops[1], *([_int(ops[2], "fraction bits")] if s == "rfi" else []))
    _expect(mn, ops, "rf")
    getattr(a, mn)(ops[0], ops[1])


def _clrex(a, mn, ops):
    if not ops:
        return a.clrex()
    _expect(mn, ops, "i")
    a.clrex(_int(ops[0]))


def _movi(a, mn, ops):
    s = _expect(mn, ops, "fi", "vi", "vis")
    shift = 0
    if s == "vis":
        if ops[2].kind != "lsl" or ops[2].amount is None:
            raise AsmError(f"{mn}: only lsl #amount may follow the immediate, got {ops[2]!r}")
        shift = ops[2].amount
    a.movi(ops[0], _int(ops[1]), shift, mn == "mvni")


def _dup(a, mn, ops):
    _expect(mn, ops, "vr", "vv")
    a.dup(ops[0], ops[1])


def _simd(a, mn, ops):
    """Advanced SIMD forms, chosen by operand shape."""
    s = _shape(ops)
    if s in ("vvv", "ffv") and ops[2].index is not None:
        return a.by_element(mn, *ops)
    if s == "vvv":
        if mn in ("udot", "sdot"):
            return a.dot(mn, *ops)
        if mn.rstrip("2") in A.LONG3:
            return a.vec3_long(mn, *ops)
        return a.vec3(mn, *ops)
    if s == "vv":
        if mn in A.VEC2 or mn in A.VEC2_FP:
            return a.vec2(mn, *ops)
        if mn in A.PAIRWISE_LONG or mn.startswith(("fcvtl", "fcvtn")):
            return a.vec2_long(mn, *ops)
        return a.vec_long(mn, *ops)
    if s == "vvi" and mn.rstrip("2") in ("shll", "shrn", "rshrn"):
        return a.vec_long(mn, ops[0], ops[1], _int(ops[2], "shift amount"))
    if s in ("vi", "vis") and mn in ("orr", "bic"):
        shift = 0
        if s == "vis":
            if ops[2].kind != "lsl" or ops[2].amount is None:
                raise AsmError(f"{mn}: only lsl #amount may follow the immediate, got {ops[2]!r}")
            shift = ops[2].amount
        return a.vec_logic_imm(mn, ops[0], _int(ops[1]), shift)
    if s == "vlv":
        return a.tbl(mn, *ops)
    if s == "lm":
        mem = ops[1]
        if mem.index is not None or mem.mode == "pre" or (mem.mode == "offset" and mem.offset is not None):
            raise AsmError(f"{mn} takes [xn] with an optional post-index")
        post = None
        if mem.mode == "post":
            post = mem.offset if mem.offset.__class__ is GReg else _int(mem.offset, "post-index")
        return a.ldst_struct(mn, ops[0], mem.base, post)
    if s == "ffi":
        zero = _fp_value(ops[2]) if mn in A.FCMP_ZERO else _int(ops[2])
        if zero != 0:
            raise AsmError(f"{mn} compares with #0 only")
        return a.scalar_cmp_zero(mn, ops[0], ops[1])
    if s == "vvi":
        if mn in A.SHIFT_IMM:
            return a.vec_shift(mn, ops[0], ops[1], _int(ops[2], "shift amount"))
        if mn in ("ushll", "sshll", "ushll2", "sshll2"):
            return a.vec_long(mn, ops[0], ops[1], _int(ops[2], "shift amount"))
        zero = _fp_value(ops[2]) if mn in A.FCMP_ZERO else _int(ops[2])
        if zero != 0:
            raise AsmError(f"{mn} compares with #0 only")
        return a.vec_cmp_zero(mn, ops[0], ops[1])
    if s == "vvvi" and mn == "ext":
        return a.ext(ops[0], ops[1], ops[2], _int(ops[3], "index"))
    if s == "fv":
        if mn in A.ACROSS:
            return a.across(mn, *ops)
        return a.pairwise(mn, *ops)
    if s == "ff":
        return a.scalar2(mn, *ops)
    if s == "fff":
        if mn in A.SCALAR3_FP:
            return a.scalar3_fp(mn, *ops)
        return a.scalar3(mn, *ops)
    raise _wrong(mn, ops)


def _or_simd(scalar):
    """A mnemonic with scalar and SIMD forms: vector operands (or FP registers where the scalar
    form takes general ones, as in ``scvtf d0, d0``) select the SIMD encoding."""
    def handler(a, mn, ops):
        s = _shape(ops)
        if "v" in s or (s == "ff" and mn in _SCALAR2) or (s == "fff" and mn in ("add", "sub")):
            return _simd(a, mn, ops)
        return scalar(a, mn, ops)
    return handler


_SCALAR2 = {"scvtf", "ucvtf", "fcvtzs", "fcvtzu", "fcvtns", "fcvtnu", "fcvtms", "fcvtmu", "fcvtps",
            "fcvtpu", "fcvtas", "fcvtau", "frecpe", "frsqrte"}


HANDLERS = {
    "add": _addsub, "adds": _addsub, "sub": _addsub, "subs": _addsub, "cmp": _addsub, "cmn": _addsub,
    "neg": _neg, "negs": _neg,
    "adc": _regs(3), "adcs": _regs(3), "sbc": _regs(3), "sbcs": _regs(3), "ngc": _regs(2), "ngcs": _regs(2),
    "and": _logic, "bic": _logic, "orr": _logic, "orn": _logic, "eor": _logic, "eon": _logic,
    "ands": _logic, "bics": _logic,
    "tst": _tst, "mvn": _mvn, "mov": _mov, "umov": _umov,
    "movz": _movewide, "movn": _movewide, "movk": _movewide,
    "lsl": _shift_insn, "lsr": _shift_insn, "asr": _shift_insn, "ror": _shift_insn,
    "lslv": _regs(3), "lsrv": _regs(3), "asrv": _regs(3), "rorv": _regs(3),
    "ubfm": _bitfield, "sbfm": _bitfield, "bfm": _bitfield, "ubfx": _bitfield, "sbfx": _bitfield,
    "bfxil": _bitfield, "ubfiz": _bitfield, "sbfiz": _bitfield, "bfi": _bitfield, "extr": _extr,
    "uxtb": _regs(2), "uxth": _regs(2), "sxtb": _regs(2), "sxth": _regs(2), "sxtw": _regs(2),
    "madd": _regs(4), "msub": _regs(4), "mul": _regs(3), "mneg": _regs(3),
    "smaddl": _regs(4), "smsubl": _regs(4), "umaddl": _regs(4), "umsubl": _regs(4),
    "smull": _regs(3), "umull": _regs(3), "smnegl": _regs(3), "umnegl": _regs(3),
    "smulh": _regs(3), "umulh": _regs(3), "sdiv": _regs(3), "udiv": _regs(3),
    "csel": _csel, "csinc": _csel, "csinv": _csel, "csneg": _csel,
    "cset": _cset, "csetm": _cset, "cinc": _cinc, "cinv": _cinc, "cneg": _cinc,
    "ccmp": _ccmp, "ccmn": _ccmp,
    "clz": _regs(2), "cls": _regs(2), "rbit": _regs(2), "rev": _regs(2), "rev16": _regs(2),
    "rev32": _regs(2), "rev64": _regs(2),
    "adr": _adr, "adrp": _adr, "b": _branch, "bl": _branch, "cbz": _cbz, "cbnz": _cbz,
    "tbz": _tbz, "tbnz": _tbz, "br": _branch_reg, "blr": _branch_reg, "ret": _branch_reg,
    "hint": _imm16, "brk": _imm16, "udf": _imm16, "hlt": _imm16, "svc": _imm16,
    "dmb": _barrier, "dsb": _barrier, "isb": _barrier, "mrs": _mrs, "msr": _mrs,
    "ldp": _pair, "stp": _pair, "ldpsw": _pair, "ldnp": _pair, "stnp": _pair,
    "fmov": _fmov, "fabs": _fp(2), "fneg": _fp(2), "fsqrt": _fp(2), "fcvt": _fp(2),
    "frintn": _fp(2), "frintp": _fp(2), "frintm": _fp(2), "frintz": _fp(2), "frinta": _fp(2),
    "frintx": _fp(2), "frinti": _fp(2),
    "fadd": _fp(3), "fsub": _fp(3), "fmul": _fp(3), "fdiv": _fp(3), "fmax": _fp(3), "fmin": _fp(3),
    "fmaxnm": _fp(3), "fminnm": _fp(3), "fnmul": _fp(3),
    "fmadd": _fp(4), "fmsub": _fp(4), "fnmadd": _fp(4), "fnmsub": _fp(4),
    "fcmp": _fcmp, "fcmpe": _fcmp, "fccmp": _fccmp, "fccmpe": _fccmp, "fcsel": _fcsel,
    "scvtf": _int_to_fp, "ucvtf": _int_to_fp,
    "ldapr": _ldapr, "ldaprb": _ldapr, "ldaprh": _ldapr,
    "movi": _movi, "mvni": _movi, "dup": _dup, "smov": _umov, "clrex": _clrex,
}
for _mn in A.LDST:
    HANDLERS[_mn] = _ldst
for _mn in A.UNSCALED:
    HANDLERS[_mn] = _ldur
for _mn in ("fcvtzs", "fcvtzu", "fcvtns", "fcvtnu", "fcvtps", "fcvtpu", "fcvtms", "fcvtmu",
            "fcvtas", "fcvtau"):
    HANDLERS[_mn] = _fp_to_int
for _mn in A.EXCLUSIVE:
    HANDLERS[_mn] = _exclusive
    if not _mn.endswith("p"):
        HANDLERS[_mn + "b"] = _exclusive
        HANDLERS[_mn + "h"] = _exclusive
for _op in list(A.ATOMIC_OPS) + ["cas"] + ["st" + o[2:] for o in A.ATOMIC_OPS if o.startswith("ld")]:
    for _order in A.ORDERING:
        for _size in ("", "b", "h"):
            if _op.startswith("st") and _order not in ("", "l"):
                continue
            HANDLERS.setdefault(_op + _order + _size, _atomic)
for _c in A.COND:
    HANDLERS["b." + _c] = _branch
for _mn in HINT_NAMES:
    HANDLERS[_mn.split()[0]] = _hint_name
# Advanced SIMD: a mnemonic that also has a scalar form keeps its handler behind _or_simd
for _mn in (set(A.VEC3) | set(A.VEC3_FP) | set(A.PERMUTE) | set(A.VEC2) | set(A.VEC2_FP) | set(A.CMP_ZERO)
            | set(A.FCMP_ZERO) | set(A.SHIFT_IMM) | set(A.ACROSS) | set(A.SCALAR3) | set(A.PAIRWISE_LONG)
            | set(A.LONG3) | {m + "2" for m in A.LONG3} | set(A.STRUCT_LDST)
            | set(A.WIDEN) | set(A.NARROW) | set(A.NARROW_SHIFT) | {"shll"}
            | {m + "2" for m in (*A.WIDEN, *A.NARROW, *A.NARROW_SHIFT, "shll")}
            | set(A.BY_ELEMENT)
            | {"faddp", "ext", "fcvtl", "fcvtl2", "fcvtn", "fcvtn2", "tbl", "tbx", "udot", "sdot"}):
    HANDLERS[_mn] = _or_simd(HANDLERS[_mn]) if _mn in HANDLERS else _simd
del _mn, _op, _order, _size, _c


def assemble(text: str, address: int = 0) -> bytes:
    """Encode one instruction written as llvm-objdump prints it, placed at ``address``."""
    if address.__class__ is not int or not 0 <= address < (1 << 64) or address & 3:
        raise AsmError(f"address {address!r} must be a 64-bit multiple of 4")
    mnemonic, ops = parse(text)
    handler = HANDLERS.get(mnemonic)
    if handler is None:
        raise AsmError(f"unknown mnemonic {mnemonic!r}")
    a = Assembler(address)
    handler(a, mnemonic, ops)
    return a.finish()
