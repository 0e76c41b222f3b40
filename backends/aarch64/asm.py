"""The AArch64 encoder: every instruction form is one bit-string line, compiled to a closure.

A form such as ``"sf op S 100010 sh imm12:12 Rn:5 Rd:5"`` reads left to right from bit 31 to
bit 0: runs of 0/1 are fixed bits, ``name:width`` (width 1 when omitted) is a field. ``form()``
turns the line into a plain Python function taking the fields in that order, with one range
check and one OR per field, so nothing is interpreted at emit time. The instructions the
backends emit most (loads and stores, add/sub/cmp and logical immediates, register moves, movz,
branches) also have a fast path in their ``Assembler`` method: the operands, checked in place,
are ORed into the form's fixed bits computed at import. Every other case, and every error, takes
the general path. A generator that emits the same instructions over and over (instruction
selection) looks their bytes up in an ``Encoded`` table instead, filled by these methods on first
use, and fills the offsets of its branches to its own labels with ``pcrel_field``.

On top of the forms, ``Assembler`` is the API later layers emit through: registers are objects
(``X0``, ``W3``, ``SP``, ``XZR``, ``D7``...), operand kinds are in the method name (``add_imm``,
``add_reg``, ``add_ext``), branch targets are ``Label``s or absolute addresses, and ``reloc()``
records a hole for CPython's patch functions at the current offset. Where the architecture has
two encodings for one text (``mov``, ``ldr`` with an unscaled offset, ``add #0x1000``), the
encoder picks the one llvm-mc 19 picks, because CPython's stencils come from LLVM.

The API at a glance (``a = Assembler(base)``; registers from this module, X[0]..X[30], W[..],
SP, XZR, D[..], ...)::

    a.add_imm(X[0], SP, 16)              a.add_reg(X[0], X[1], X[2], "lsl", 3)
    a.add_ext(X[0], X[1], W[2], "sxtw", 2)   a.and_imm(X[0], X[1], 0xFF)   a.mov_imm(X[0], -1)
    a.ldr(X[0], X[1], 8)    a.ldst("ldrsh", W[0], SP, -2)   a.ldst_post("ldr", X[0], X[1], 16)
    a.ldst_reg("ldr", X[0], X[1], W[2], "uxtw", 3)   a.pair("stp", X[29], X[30], SP, -16, "pre")
    a.b(label)  a.cbz(X[0], label)  a.tbnz(W[0], 3, label)  a.b_cond("ne", 0x4000)  a.bl(None)
    a.reloc("patch_aarch64_26r", "_Py_Dealloc"); a.bl(None)     # the hole is the next word
    a.atomic("ldadd", "al", None, X[1], X[2], X[3])   a.fadd(D[0], D[1], D[2])
    a.vec3("add", v0, v1, v2)  (Advanced SIMD by mnemonic)   a.bind(label)   a.finish()

Register 31 means SP in some operand positions and XZR/WZR in others. Here SP and WSP carry the
number 32 internally so that one integer comparison refuses the wrong one for each position
(``_r`` for zero-register positions, ``_rsp`` for stack-pointer positions); ``GReg.enc`` is the
5-bit field value, 31 for all four.
"""

from __future__ import annotations

import struct

from refjit.codebuf import Label, Reloc
from refjit.errors import AsmError

__all__ = ["form", "Assembler", "Encoded", "pcrel_field", "GReg", "FReg", "VReg", "VList", "encode_bitmask",
           "decode_bitmask", "fp_imm8", "COND", "SHIFT", "EXTEND", "BARRIER_OPTION", "SYSREG"]


# ---------------------------------------------------------------------------------------------
# The form compiler.

def _bad_fields(spec: str, names: tuple[str, ...], values: tuple) -> None:
    for name, value in zip(names, values):
        width = _FIELD_WIDTHS[spec][name]
        if not isinstance(value, int) or not 0 <= value < (1 << width):
            raise AsmError(f"field {name}={value!r} does not fit in {width} bits of form '{spec}'")
    raise AsmError(f"bad fields for form '{spec}'")


_FIELD_WIDTHS: dict[str, dict[str, int]] = {}


def form(spec: str):
    """Compile one bit-string form into ``enc(*fields) -> int`` (fields in left-to-right order)."""
    pos = 32
    base = 0
    fields: list[tuple[str, int, int]] = []
    for tok in spec.split():
        if set(tok) <= {"0", "1"}:
            pos -= len(tok)
            base |= int(tok, 2) << pos
        else:
            name, _, width = tok.partition(":")
            w = int(width or 1)
            pos -= w
            fields.append((name, pos, w))
    if pos != 0:
        raise ValueError(f"form {spec!r} has {32 - pos} bits, not 32")
    _FIELD_WIDTHS[spec] = {n: w for n, _, w in fields}
    names = [n for n, _, _ in fields]
    args = ", ".join(names)
    check = " | ".join(f"({n} & {~((1 << w) - 1)})" for n, _, w in fields)
    value = " | ".join([f"{base:#x}"] + [f"({n} << {p})" if p else n for n, p, _ in fields])
    src = (f"def enc({args}):\n"
           f"    if {check}:\n"
           f"        _bad_fields(SPEC, NAMES, ({args},))\n"
           f"    return {value}\n")
    env = {"_bad_fields": _bad_fields, "SPEC": spec, "NAMES": tuple(names)}
    exec(src, env)
    enc = env["enc"]
    enc.__doc__ = spec
    enc.spec = spec
    return enc


# ---------------------------------------------------------------------------------------------
# Instruction forms, one per line (names from the Arm ARM's encoding index).

# data processing, immediate
ADDSUB_IMM   = form("sf op S 100010 sh imm12:12 Rn:5 Rd:5")
LOGIC_IMM    = form("sf opc:2 100100 N immr:6 imms:6 Rn:5 Rd:5")
MOVE_WIDE    = form("sf opc:2 100101 hw:2 imm16:16 Rd:5")
BITFIELD     = form("sf opc:2 100110 N immr:6 imms:6 Rn:5 Rd:5")
EXTR         = form("sf 00 100111 N 0 Rm:5 imms:6 Rn:5 Rd:5")
PCREL        = form("op immlo:2 10000 immhi:19 Rd:5")
# branches, exceptions, system
B_IMM        = form("op 00101 imm26:26")
B_COND       = form("01010100 imm19:19 0 cond:4")
CMP_BRANCH   = form("sf 011010 op imm19:19 Rt:5")
TEST_BRANCH  = form("b5 011011 op b40:5 imm14:14 Rt:5")
BRANCH_REG   = form("1101011 opc:4 11111 000000 Rn:5 00000")
EXCEPTION    = form("11010100 opc:3 imm16:16 000 ll:2")
UDF          = form("0000000000000000 imm16:16")
HINT         = form("11010101000000110010 imm7:7 11111")
BARRIER      = form("11010101000000110011 CRm:4 op2:3 11111")
SYSREG_MOVE  = form("1101010100 L 1 o0 op1:3 CRn:4 CRm:4 op2:3 Rt:5")
# data processing, register
LOGIC_REG    = form("sf opc:2 01010 shift:2 N Rm:5 imm6:6 Rn:5 Rd:5")
ADDSUB_REG   = form("sf op S 01011 shift:2 0 Rm:5 imm6:6 Rn:5 Rd:5")
ADDSUB_EXT   = form("sf op S 01011 00 1 Rm:5 option:3 imm3:3 Rn:5 Rd:5")
ADDSUB_CARRY = form("sf op S 11010000 Rm:5 000000 Rn:5 Rd:5")
COND_CMP_REG = form("sf op 1 11010010 Rm:5 cond:4 0 0 Rn:5 0 nzcv:4")
COND_CMP_IMM = form("sf op 1 11010010 imm5:5 cond:4 1 0 Rn:5 0 nzcv:4")
COND_SELECT  = form("sf op 0 11010100 Rm:5 cond:4 0 o2 Rn:5 Rd:5")
DP_1SRC      = form("sf 1 0 11010110 00000 opcode:6 Rn:5 Rd:5")
DP_2SRC      = form("sf 0 0 11010110 Rm:5 opcode:6 Rn:5 Rd:5")
DP_3SRC      = form("sf 00 11011 op31:3 Rm:5 o0 Ra:5 Rn:5 Rd:5")
# loads and stores
LDST_UIMM    = form("size:2 111 V 01 opc:2 imm12:12 Rn:5 Rt:5")
LDST_IMM9    = form("size:2 111 V 00 opc:2 0 imm9:9 idx:2 Rn:5 Rt:5")
LDST_REGOFF  = form("size:2 111 V 00 opc:2 1 Rm:5 option:3 S 10 Rn:5 Rt:5")
LDR_LITERAL  = form("opc:2 011 V 00 imm19:19 Rt:5")
LDST_PAIR    = form("opc:2 101 V mode:3 L imm7:7 Rt2:5 Rn:5 Rt:5")
LDST_EXCL    = form("size:2 001000 o2 L o1 Rs:5 o0 Rt2:5 Rn:5 Rt:5")
ATOMIC_MEM   = form("size:2 111 0 00 A R 1 Rs:5 o3 opc:3 00 Rn:5 Rt:5")
LOAD_ACQ_PC  = form("size:2 111000101 11111 110000 Rn:5 Rt:5")          # ldapr (Armv8.3 RCpc)
COMPARE_SWAP = form("size:2 001000 1 L 1 Rs:5 o0 11111 Rn:5 Rt:5")
# scalar floating point
FP_1SRC      = form("00011110 ftype:2 1 opcode:6 10000 Rn:5 Rd:5")
FP_2SRC      = form("00011110 ftype:2 1 Rm:5 opcode:4 10 Rn:5 Rd:5")
FP_3SRC      = form("00011111 ftype:2 o1 Rm:5 o0 Ra:5 Rn:5 Rd:5")
FP_COMPARE   = form("00011110 ftype:2 1 Rm:5 001000 Rn:5 opc:5")
FP_COND_CMP  = form("00011110 ftype:2 1 Rm:5 cond:4 01 Rn:5 op nzcv:4")
FP_COND_SEL  = form("00011110 ftype:2 1 Rm:5 cond:4 11 Rn:5 Rd:5")
FP_IMM       = form("00011110 ftype:2 1 imm8:8 100 00000 Rd:5")
FP_INT       = form("sf 0011110 ftype:2 1 rmode:2 opcode:3 000000 Rn:5 Rd:5")
FP_FIXED     = form("sf 0011110 ftype:2 0 rmode:2 opcode:3 scale:6 Rn:5 Rd:5")
# Advanced SIMD: what clang emits for copies, popcount, copysign and vectorised loops
SIMD_2REG    = form("0 Q U 01110 size:2 10000 opcode:5 10 Rn:5 Rd:5")
SIMD_ACROSS  = form("0 Q U 01110 size:2 11000 opcode:5 10 Rn:5 Rd:5")
SIMD_3SAME   = form("0 Q U 01110 size:2 1 Rm:5 opcode:5 1 Rn:5 Rd:5")
SIMD_3DIFF   = form("0 Q U 01110 size:2 1 Rm:5 opcode:4 00 Rn:5 Rd:5")
SIMD_DOT     = form("0 Q U 01110 10 0 Rm:5 100101 Rn:5 Rd:5")
SIMD_ELEM    = form("0 Q U 01111 size:2 L M Rm:4 opcode:4 H 0 Rn:5 Rd:5")             # by element
SIMD_MODIMM  = form("0 Q op 0111100000 abc:3 cmode:4 o2 1 defgh:5 Rd:5")
SIMD_COPY    = form("0 Q op 01110000 imm5:5 0 imm4:4 1 Rn:5 Rd:5")
SIMD_SHIFT   = form("0 Q U 011110 immh:4 immb:3 opcode:5 1 Rn:5 Rd:5")
SIMD_PERMUTE = form("0 Q 0 01110 size:2 0 Rm:5 0 opcode:3 10 Rn:5 Rd:5")
SIMD_EXT     = form("0 Q 101110000 Rm:5 0 imm4:4 0 Rn:5 Rd:5")
SIMD_TABLE   = form("0 Q 001110000 Rm:5 0 len:2 op 00 Rn:5 Rd:5")
SIMD_LDST_M  = form("0 Q 001100 post L 0 Rm:5 opcode:4 size:2 Rn:5 Rt:5")          # whole registers
SIMD_LDST_1  = form("0 Q 001101 post L R Rm:5 opcode:3 S size:2 Rn:5 Rt:5")        # one lane, or ldNr
SCALAR_2REG  = form("01 U 11110 size:2 10000 opcode:5 10 Rn:5 Rd:5")
SCALAR_3SAME = form("01 U 11110 size:2 1 Rm:5 opcode:5 1 Rn:5 Rd:5")
SCALAR_PAIR  = form("01 U 11110 size:2 11000 opcode:5 10 Rn:5 Rd:5")
SCALAR_ELEM  = form("01 U 11111 size:2 L M Rm:4 opcode:4 H 0 Rn:5 Rd:5")
SCALAR_COPY  = form("01 op 11110000 imm5:5 0 imm4:4 1 Rn:5 Rd:5")

_WORD = struct.Struct("<I")
_pack = _WORD.pack
# the fixed bits of the pc-relative forms emitted most (Rd, cond and the target ORed in)
_ADR, _ADRP = PCREL(0, 0, 0, 0), PCREL(1, 0, 0, 0)
_B, _BL = B_IMM(0, 0), B_IMM(1, 0)
_B_COND = B_COND(0, 0)
# ... and of the data-processing forms with fast paths: [op][S] or [opc], sf and registers ORed in
_ADDSUB_IMM_OPS = [[ADDSUB_IMM(0, op, s, 0, 0, 0, 0) for s in (0, 1)] for op in (0, 1)]
_ADDSUB_REG_OPS = [[ADDSUB_REG(0, op, s, 0, 0, 0, 0, 0) for s in (0, 1)] for op in (0, 1)]
_LOGIC_IMM_OPS = [LOGIC_IMM(0, opc, 0, 0, 0, 0, 0) for opc in range(4)]
_ORR_ZR = LOGIC_REG(0, 1, 0, 0, 0, 0, 31, 0)     # orr rd, zr, rm: mov between registers
_MOVZ = MOVE_WIDE(0, 2, 0, 0, 0)
_CBZ, _CBNZ = CMP_BRANCH(0, 0, 0, 0), CMP_BRANCH(0, 1, 0, 0)
_TB_OPS = [TEST_BRANCH(0, op, 0, 0, 0) for op in (0, 1)]


# ---------------------------------------------------------------------------------------------
# Registers.

class GReg:
    """A general-purpose register. ``n`` is 0..30, 31 for XZR/WZR and 32 for SP/WSP;
    ``enc`` is the 5-bit register field (31 for all four)."""

    __slots__ = ("name", "n", "sf", "kind", "enc")

    def __init__(self, name: str, n: int, sf: int):
        self.name, self.n, self.sf, self.enc = name, n, sf, min(n, 31)
        self.kind = "x" if sf else "w"

    def __repr__(self) -> str:
        return self.name


class FReg:
    """A scalar FP/SIMD register: kind is b, h, s, d or q (8 to 128 bits)."""

    __slots__ = ("name", "n", "kind")

    def __init__(self, name: str, n: int, kind: str):
        self.name, self.n, self.kind = name, n, kind

    def __repr__(self) -> str:
        return self.name


class VReg:
    """A SIMD vector register with an arrangement (``v0.16b``), or one element (``v0.d[1]``)."""

    __slots__ = ("n", "arrangement", "index")

    def __init__(self, n: int, arrangement: str, index: int | None = None):
        self.n, self.arrangement, self.index = n, arrangement, index

    def __repr__(self) -> str:
        if self.index is not None:
            return f"v{self.n}.{self.arrangement}[{self.index}]"
        return f"v{self.n}.{self.arrangement}"


X = [GReg(f"x{i}", i, 1) for i in range(31)]
W = [GReg(f"w{i}", i, 0) for i in range(31)]
XZR, WZR = GReg("xzr", 31, 1), GReg("wzr", 31, 0)
SP, WSP = GReg("sp", 32, 1), GReg("wsp", 32, 0)
B = [FReg(f"b{i}", i, "b") for i in range(32)]
H = [FReg(f"h{i}", i, "h") for i in range(32)]
S = [FReg(f"s{i}", i, "s") for i in range(32)]
D = [FReg(f"d{i}", i, "d") for i in range(32)]
Q = [FReg(f"q{i}", i, "q") for i in range(32)]
globals().update({r.name.upper(): r for r in (*X, *W, *B, *H, *S, *D, *Q)})
FP, LR = X[29], X[30]

COND = {"eq": 0, "ne": 1, "hs": 2, "cs": 2, "lo": 3, "cc": 3, "mi": 4, "pl": 5, "vs": 6, "vc": 7,
        "hi": 8, "ls": 9, "ge": 10, "lt": 11, "gt": 12, "le": 13, "al": 14, "nv": 15}
SHIFT = {"lsl": 0, "lsr": 1, "asr": 2, "ror": 3}
EXTEND = {"uxtb": 0, "uxth": 1, "uxtw": 2, "uxtx": 3, "sxtb": 4, "sxth": 5, "sxtw": 6, "sxtx": 7}
BARRIER_OPTION = {"oshld": 1, "oshst": 2, "osh": 3, "nshld": 5, "nshst": 6, "nsh": 7,
                  "ishld": 9, "ishst": 10, "ish": 11, "ld": 13, "st": 14, "sy": 15}
# (op0, op1, CRn, CRm, op2) of the system registers user code reads and writes
SYSREG = {"nzcv": (3, 3, 4, 2, 0), "fpcr": (3, 3, 4, 4, 0), "fpsr": (3, 3, 4, 4, 1),
          "tpidr_el0": (3, 3, 13, 0, 2), "tpidrro_el0": (3, 3, 13, 0, 3),
          "cntvct_el0": (3, 3, 14, 0, 2), "cntfrq_el0": (3, 3, 14, 0, 0),
          "dczid_el0": (3, 3, 0, 0, 7), "ctr_el0": (3, 3, 0, 0, 1)}
_FTYPE = {"s": 0, "d": 1, "h": 3}


def _reg_error(r, want: str) -> AsmError:
    return AsmError(f"expected {want}, got {r!r}")


def _r(r, sf: int) -> int:
    """A register in a position where number 31 is the zero register."""
    if r.__class__ is GReg and r.sf == sf and r.n != 32:
        return r.n
    raise _reg_error(r, ("x" if sf else "w") + " register or " + ("xzr" if sf else "wzr"))


def _rsp(r, sf: int) -> int:
    """A register in a position where number 31 is the stack pointer."""
    if r.__class__ is GReg and r.sf == sf and r.n != 31:
        return r.enc
    raise _reg_error(r, ("x" if sf else "w") + " register or " + ("sp" if sf else "wsp"))


def _x(r) -> int:
    if r.__class__ is GReg and r.sf == 1 and r.n != 32:
        return r.n
    raise _reg_error(r, "an x register")


def _xsp(r) -> int:
    """The base register of an address: x0-x30 or sp."""
    if r.__class__ is GReg and r.sf == 1 and r.n != 31:
        return r.enc
    raise _reg_error(r, "an x register or sp as the base address")


def _gpr(r) -> GReg:
    if r.__class__ is GReg and r.n != 32:
        return r
    raise _reg_error(r, "a general-purpose register (x or w)")


def _fp(r, kinds: str = "sdh") -> FReg:
    if r.__class__ is FReg and r.kind in kinds:
        return r
    raise _reg_error(r, "an FP register (" + "/".join(kinds) + ")")


def _fsame(*regs) -> int:
    """ftype of a group of FP registers that must all be s, all be d or all be h."""
    kind = _fp(regs[0]).kind
    for r in regs[1:]:
        if _fp(r).kind != kind:
            raise AsmError(f"FP registers must be the same size, got {', '.join(map(repr, regs))}")
    return _FTYPE[kind]


def _uimm(value, bits: int, what: str) -> int:
    if value.__class__ is int and 0 <= value < (1 << bits):
        return value
    raise AsmError(f"{what} {value!r} out of range 0..{(1 << bits) - 1}")


def _simm(value, bits: int, what: str) -> int:
    """A signed immediate as its two's complement field."""
    lim = 1 << (bits - 1)
    if value.__class__ is int and -lim <= value < lim:
        return value & ((1 << bits) - 1)
    raise AsmError(f"{what} {value!r} out of range {-lim}..{lim - 1}")


def _cond(c) -> int:
    try:
        return COND[c]
    except (KeyError, TypeError):
        raise AsmError(f"unknown condition {c!r}") from None


def _cond_no_al(c) -> int:
    """cset/cinc & co. invert their condition, so al/nv have no meaning for them."""
    v = _cond(c)
    if v >= 14:
        raise AsmError(f"condition {c} is not allowed here (the alias inverts it)")
    return v


# ---------------------------------------------------------------------------------------------
# Logical (bitmask) immediates: a run of ones, rotated, replicated over 2..64-bit elements.

def _build_bitmask_tables() -> tuple[dict[int, tuple[int, int, int]], dict[int, tuple[int, int, int]]]:
    t64: dict[int, tuple[int, int, int]] = {}
    t32: dict[int, tuple[int, int, int]] = {}
    for log in range(1, 7):
        e = 1 << log
        emask = (1 << e) - 1
        size_bits = (0x3F << (log + 1)) & 0x3F  # imms high bits that say the element size
        for ones in range(1, e):
            run = (1 << ones) - 1
            for r in range(e):
                elt = ((run >> r) | (run << (e - r))) & emask  # rotate right by r
                v = elt
                width = e
                while width < 64:
                    v |= v << width
                    width *= 2
                enc = (1 if e == 64 else 0, r, size_bits | (ones - 1))
                t64[v] = enc
                if e <= 32:
                    t32[v & 0xFFFFFFFF] = enc
    return t64, t32


_BITMASK64, _BITMASK32 = _build_bitmask_tables()


def encode_bitmask(value: int, sf: int) -> tuple[int, int, int] | None:
    """(N, immr, imms) for a logical immediate of 64 (sf=1) or 32 bits, or None."""
    return (_BITMASK64 if sf else _BITMASK32).get(value)


def decode_bitmask(N: int, immr: int, imms: int, sf: int) -> int | None:
    """The value a (N, immr, imms) field triple stands for, or None if reserved (the Arm ARM's
    DecodeBitMasks, written from its description: element size from the highest clear bit of
    N:NOT(imms), a run of imms+1 ones rotated right by immr)."""
    combined = (N << 6) | (~imms & 0x3F)
    if combined == 0 or (not sf and N):
        return None
    log = combined.bit_length() - 1
    if log < 1:
        return None
    e = 1 << log
    levels = e - 1
    s, r = imms & levels, immr & levels
    if s == levels:
        return None
    run = (1 << (s + 1)) - 1
    elt = ((run >> r) | (run << (e - r))) & ((1 << e) - 1)
    width = 64 if sf else 32
    v = elt
    while e < width:
        v |= v << e
        e *= 2
    return v


def _bitmask(value, sf: int) -> tuple[int, int, int]:
    if value.__class__ is not int:
        raise AsmError(f"logical immediate must be an integer, got {value!r}")
    width = 64 if sf else 32
    if -(1 << (width - 1)) <= value < 0:
        value &= (1 << width) - 1
    enc = (_BITMASK64 if sf else _BITMASK32).get(value)
    if enc is None:
        raise AsmError(f"{value:#x} is not a valid {width}-bit logical (bitmask) immediate")
    return enc


# ---------------------------------------------------------------------------------------------
# Load/store tables: mnemonic -> {kind of Rt: (size, V, opc)}.

LDST = {
    "strb": {"w": (0, 0, 0)}, "ldrb": {"w": (0, 0, 1)}, "ldrsb": {"x": (0, 0, 2), "w": (0, 0, 3)},
    "strh": {"w": (1, 0, 0)}, "ldrh": {"w": (1, 0, 1)}, "ldrsh": {"x": (1, 0, 2), "w": (1, 0, 3)},
    "ldrsw": {"x": (2, 0, 2)},
    "str": {"w": (2, 0, 0), "x": (3, 0, 0), "b": (0, 1, 0), "h": (1, 1, 0), "s": (2, 1, 0),
            "d": (3, 1, 0), "q": (0, 1, 2)},
    "ldr": {"w": (2, 0, 1), "x": (3, 0, 1), "b": (0, 1, 1), "h": (1, 1, 1), "s": (2, 1, 1),
            "d": (3, 1, 1), "q": (0, 1, 3)},
    "prfm": {"prfop": (3, 0, 2)},
}
# the unscaled-offset spellings (ldur & co.) of the same instructions
UNSCALED = {"sturb": "strb", "ldurb": "ldrb", "ldursb": "ldrsb", "sturh": "strh", "ldurh": "ldrh",
            "ldursh": "ldrsh", "ldursw": "ldrsw", "stur": "str", "ldur": "ldr", "prfum": "prfm"}
# ldr (literal): kind of Rt -> (opc, V)
LITERAL = {"w": (0, 0), "x": (1, 0), "s": (0, 1), "d": (1, 1), "q": (2, 1)}
# ldp/stp: mnemonic -> {kind: (opc, V, L, log2 scale)}
PAIR = {
    "stp": {"w": (0, 0, 0, 2), "x": (2, 0, 0, 3), "s": (0, 1, 0, 2), "d": (1, 1, 0, 3), "q": (2, 1, 0, 4)},
    "ldp": {"w": (0, 0, 1, 2), "x": (2, 0, 1, 3), "s": (0, 1, 1, 2), "d": (1, 1, 1, 3), "q": (2, 1, 1, 4)},
    "ldpsw": {"x": (1, 0, 1, 2)},
    "stnp": {"w": (0, 0, 0, 2), "x": (2, 0, 0, 3), "s": (0, 1, 0, 2), "d": (1, 1, 0, 3), "q": (2, 1, 0, 4)},
    "ldnp": {"w": (0, 0, 1, 2), "x": (2, 0, 1, 3), "s": (0, 1, 1, 2), "d": (1, 1, 1, 3), "q": (2, 1, 1, 4)},
}
PREFETCH_OPS = {f"{t}{c}{p}": (i << 3) | (j << 1) | k
                for i, t in enumerate(("pld", "pli", "pst"))
                for j, c in enumerate(("l1", "l2", "l3", "slc"))  # slc: system level cache (v8.9)
                for k, p in enumerate(("keep", "strm"))}


def _ldst_entry(mnemonic: str, rt) -> tuple[int, int, int]:
    table = LDST.get(mnemonic)
    if table is None:
        raise AsmError(f"unknown load/store {mnemonic!r}")
    kind = rt.kind if rt.__class__ in (GReg, FReg, _PrfOp) else None
    if rt.__class__ is GReg and rt.n == 32:
        kind = None
    entry = table.get(kind)
    if entry is None:
        raise AsmError(f"{mnemonic} cannot transfer {rt!r} (expects {'/'.join(table)} registers)")
    return entry


def _ldst_scale(size: int, V: int, opc: int) -> int:
    return 4 if V and opc >= 2 else size


# exclusive and acquire/release: mnemonic -> (o2, L, o1, o0); the b/h suffixes set the size
EXCLUSIVE = {
    "stxr": (0, 0, 0, 0), "stlxr": (0, 0, 0, 1), "ldxr": (0, 1, 0, 0), "ldaxr": (0, 1, 0, 1),
    "stllr": (1, 0, 0, 0), "stlr": (1, 0, 0, 1), "ldlar": (1, 1, 0, 0), "ldar": (1, 1, 0, 1),
    "stxp": (0, 0, 1, 0), "stlxp": (0, 0, 1, 1), "ldxp": (0, 1, 1, 0), "ldaxp": (0, 1, 1, 1),
}
# LSE atomics: base name -> (o3, opc)
ATOMIC_OPS = {"ldadd": (0, 0), "ldclr": (0, 1), "ldeor": (0, 2), "ldset": (0, 3), "ldsmax": (0, 4),
              "ldsmin": (0, 5), "ldumax": (0, 6), "ldumin": (0, 7), "swp": (1, 0)}
ORDERING = {"": (0, 0), "a": (1, 0), "l": (0, 1), "al": (1, 1)}  # (A/L bit "acquire", R/o0 "release")


# ---------------------------------------------------------------------------------------------
# The assembler.

_FIXUP_RANGES = {"imm26": 26, "imm19": 19, "imm14": 14, "adr": 21, "adrp": 21}
# the patch functions of CPython 3.14's Python/jit.c that apply to AArch64 code and data
RELOC_KINDS = ("patch_32", "patch_32r", "patch_64", "patch_aarch64_12", "patch_aarch64_16a",
               "patch_aarch64_16b", "patch_aarch64_16c", "patch_aarch64_16d", "patch_aarch64_21r",
               "patch_aarch64_26r")
_RELOC_KIND_SET = frozenset(RELOC_KINDS)


def _where(target) -> str:
    """A branch target as an error message names it."""
    if target.__class__ is Label:
        return target.name
    return target if target.__class__ is str else f"{target:#x}"


def pcrel_field(kind: str, target_address: int, pc: int, target) -> int:
    """The ``kind`` field (imm26, imm19, imm14, adr or adrp) of the instruction at ``pc`` reaching
    ``target_address``; ``target`` names the target in an error (a Label, a label's name or the
    address). The byte distance (adrp: from page to page) is taken modulo 2**64 as the hardware
    computes it, so 0x10 reaches 0xfffffffffffffff0 backwards."""
    if kind == "adrp":
        target_address, pc = target_address & ~0xFFF, pc & ~0xFFF
    delta = target_address - pc
    if not -(1 << 63) <= delta < (1 << 63):
        delta = ((delta + (1 << 63)) & ((1 << 64) - 1)) - (1 << 63)
    if kind == "adr":
        lim = 1 << 20
        if not -lim <= delta < lim:
            raise AsmError(f"adr target {_where(target)} out of range (offset {delta}, limit +-1MiB)")
        d = delta & 0x1FFFFF
        return ((d & 3) << 29) | ((d >> 2) << 5)
    if kind == "adrp":
        if delta & 0xFFF:
            raise AsmError(f"adrp target {_where(target)} is not a page offset")
        pages = delta >> 12
        if not -(1 << 20) <= pages < (1 << 20):
            raise AsmError(f"adrp target {_where(target)} out of range (limit +-4GiB)")
        d = pages & 0x1FFFFF
        return ((d & 3) << 29) | ((d >> 2) << 5)
    if delta & 3:
        raise AsmError(f"branch target {_where(target)} is not 4-byte aligned (offset {delta})")
    bits = _FIXUP_RANGES[kind]
    lim = 1 << (bits + 1)
    if not -lim <= delta < lim:
        raise AsmError(f"branch target {_where(target)} out of range (offset {delta}, limit +-{lim})")
    v = (delta >> 2) & ((1 << bits) - 1)
    return v if kind == "imm26" else v << 5


class Assembler:
    """Emits little-endian 32-bit instruction words into ``buf``.

    ``base`` is the address of ``buf[0]``; integer branch targets are absolute addresses and are
    turned into offsets from it (the text front end assembles each line with ``base`` set to
    the line's address). Labels may be referenced before they are bound.
    """

    def __init__(self, base: int = 0):
        if base.__class__ is not int or not 0 <= base < (1 << 64) or base & 3:
            raise AsmError(f"base address {base!r} must be a 64-bit multiple of 4")
        self.base = base
        self.buf = bytearray()
        self.relocs: list[Reloc] = []
        self._pending: dict[Label, list[tuple[int, str]]] = {}

    # -- output ----------------------------------------------------------------------------------

    @property
    def pos(self) -> int:
        return len(self.buf)

    def emit(self, word: int) -> None:
        """Append one raw instruction word."""
        self.buf += _pack(_uimm(word, 32, "instruction word"))

    def data32(self, value: int) -> None:
        if value.__class__ is not int or not -(1 << 31) <= value < (1 << 32):
            raise AsmError(f"32-bit data word {value!r} out of range")
        self.buf += _pack(value & 0xFFFFFFFF)

    def data64(self, value: int) -> None:
        if value.__class__ is not int or not -(1 << 63) <= value < (1 << 64):
            raise AsmError(f"64-bit data word {value!r} out of range")
        self.buf += struct.pack("<Q", value & 0xFFFFFFFFFFFFFFFF)

    def align(self, n: int) -> None:
        """Pad with nops up to a multiple of n bytes (n a power of two, at least 4)."""
        if n.__class__ is not int or n < 4 or n & (n - 1):
            raise AsmError(f"alignment {n!r} must be a power of two >= 4")
        while len(self.buf) % n:
            self.nop()

    def reloc(self, kind: str, symbol: str, addend: int = 0) -> Reloc:
        """Record that the instruction or data word emitted next is patched by ``kind``."""
        if kind not in _RELOC_KIND_SET:
            raise AsmError(f"unknown AArch64 relocation kind {kind!r} (expected one of {', '.join(RELOC_KINDS)})")
        r = Reloc(len(self.buf), kind, symbol, addend)
        self.relocs.append(r)
        return r

    def bind(self, label: Label) -> None:
        if label.__class__ is not Label:
            raise AsmError(f"expected a Label, got {label!r}")
        if label.pos is not None:
            raise AsmError(f"label {label.name!r} is already bound at {label.pos:#x}")
        label.pos = len(self.buf)
        for at, kind in self._pending.pop(label, ()):
            self._patch(at, kind, label)

    def finish(self) -> bytes:
        if self._pending:
            names = ", ".join(repr(lbl.name) for lbl in self._pending)
            raise AsmError(f"unbound label(s) referenced: {names}")
        return bytes(self.buf)

    # -- pc-relative targets ---------------------------------------------------------------------

    def _target(self, target, kind: str) -> int:
        """The pc-relative field value for ``target``: a Label, an absolute address, or None to
        leave the field zero for a relocation to fill."""
        if target is None:
            return 0
        here = len(self.buf)
        if target.__class__ is Label:
            if target.pos is None:
                self._pending.setdefault(target, []).append((here, kind))
                return 0
            target_address = self.base + target.pos
        elif target.__class__ is int and 0 <= target < (1 << 64):
            target_address = target
        else:
            raise AsmError(f"branch target must be a Label or a 64-bit address, got {target!r}")
        return pcrel_field(kind, target_address, self.base + here, target)

    def _patch(self, at: int, kind: str, label: Label) -> None:
        word, = _WORD.unpack_from(self.buf, at)
        word |= pcrel_field(kind, self.base + label.pos, self.base + at, label)
        _WORD.pack_into(self.buf, at, word)

    # -- move wide and mov aliases ---------------------------------------------------------------

    def _move_wide(self, opc: int, rd, imm: int, shift: int) -> None:
        sf = _gpr(rd).sf
        if shift.__class__ is not int or shift not in ((0, 16, 32, 48) if sf else (0, 16)):
            raise AsmError(f"move-wide shift must be lsl #0/16{'/32/48' if sf else ''}, got {shift!r}")
        self.buf += _pack(MOVE_WIDE(sf, opc, shift >> 4, _uimm(imm, 16, "16-bit immediate"), _r(rd, sf)))

    def movn(self, rd, imm: int, shift: int = 0) -> None:
        self._move_wide(0, rd, imm, shift)

    def movz(self, rd, imm: int, shift: int = 0) -> None:
        self._move_wide(2, rd, imm, shift)

    def movk(self, rd, imm: int, shift: int = 0) -> None:
        self._move_wide(3, rd, imm, shift)

    def mov_imm(self, rd, value: int) -> None:
        """``mov rd, #value`` in one instruction, choosing movz, movn or orr as LLVM does."""
        if rd.__class__ is GReg and rd.n != 32 and value.__class__ is int and 0 <= value <= 0xFFFF:
            # the common case: movz rd, #value (MOVE_WIDE: imm16 at bit 5)
            self.buf += _pack(_MOVZ | rd.sf << 31 | value << 5 | rd.n)
            return
        sf = _gpr_or_sp(rd).sf
        width = 64 if sf else 32
        mask = (1 << width) - 1
        if value.__class__ is not int or not -(1 << (width - 1)) <= value <= mask:
            raise AsmError(f"immediate {value!r} does not fit in {width} bits")
        value &= mask
        if rd.n != 32:
            for hw in range(width // 16):
                if value & ~(0xFFFF << (16 * hw)) == 0:
                    return self.movz(rd, value >> (16 * hw), 16 * hw)
            inv = ~value & mask
            for hw in range(width // 16):
                if inv & ~(0xFFFF << (16 * hw)) == 0:
                    return self.movn(rd, inv >> (16 * hw), 16 * hw)
        enc = encode_bitmask(value, sf)
        if enc is None:
            raise AsmError(f"{value:#x} cannot be moved in one instruction "
                           "(not a 16-bit chunk, its inverse, or a bitmask immediate)")
        N, immr, imms = enc
        self.buf += _pack(LOGIC_IMM(sf, 1, N, immr, imms, 31, _rsp(rd, sf)))

    def mov(self, rd, rm) -> None:
        """Register move: ``add rd, rn, #0`` when either is SP, else ``orr rd, zr, rm``."""
        if rd.__class__ is GReg and rm.__class__ is GReg and rd.sf == rm.sf and rd.n != 32 and rm.n != 32:
            # the orr form (LOGIC_REG: Rm at bit 16)
            self.buf += _pack(_ORR_ZR | rd.sf << 31 | rm.n << 16 | rd.n)
            return
        sf = _gpr_or_sp(rd).sf
        if rd.n == 32 or (rm.__class__ is GReg and rm.n == 32):
            self.buf += _pack(ADDSUB_IMM(sf, 0, 0, 0, 0, _rsp(rm, sf), _rsp(rd, sf)))
        else:
            self.buf += _pack(LOGIC_REG(sf, 1, 0, 0, _r(rm, sf), 0, 31, _r(rd, sf)))

    # -- add/sub ---------------------------------------------------------------------------------

    def _addsub_imm(self, op: int, S_: int, rd, rn, imm: int, lsl12: bool) -> None:
        if rd.__class__ is GReg and rn.__class__ is GReg and rd.sf == rn.sf and rn.n != 31 \
                and rd.n != (32 if S_ else 31) and imm.__class__ is int and 0 <= imm <= 0xFFF and not lsl12:
            # the common case: rd (sp only without S) and rn (sp, not zr) are checked, imm12 fits
            # (ADDSUB_IMM: imm12 at bit 10, Rn at 5)
            self.buf += _pack(_ADDSUB_IMM_OPS[op][S_] | rn.sf << 31 | imm << 10 | rn.enc << 5 | rd.enc)
            return
        sf = rn.sf if rn.__class__ is GReg else _gpr(rn).sf
        d = _r(rd, sf) if S_ else _rsp(rd, sf)
        n = _rsp(rn, sf)
        if imm.__class__ is not int:
            raise AsmError(f"immediate must be an integer, got {imm!r}")
        sh = 1 if lsl12 else 0
        if not lsl12 and imm > 0xFFF and imm & 0xFFF == 0 and imm <= 0xFFF000:
            sh, imm = 1, imm >> 12  # what LLVM and GNU as do with add x0, x1, #0x1000
        if not 0 <= imm <= 0xFFF:
            raise AsmError(f"add/sub immediate {imm:#x} out of range 0..0xfff (or 0x1000..0xfff000 "
                           "in steps of 0x1000)")
        self.buf += _pack(ADDSUB_IMM(sf, op, S_, sh, imm, n, d))

    def add_imm(self, rd, rn, imm: int, lsl12: bool = False) -> None:
        self._addsub_imm(0, 0, rd, rn, imm, lsl12)

    def adds_imm(self, rd, rn, imm: int, lsl12: bool = False) -> None:
        self._addsub_imm(0, 1, rd, rn, imm, lsl12)

    def sub_imm(self, rd, rn, imm: int, lsl12: bool = False) -> None:
        self._addsub_imm(1, 0, rd, rn, imm, lsl12)

    def subs_imm(self, rd, rn, imm: int, lsl12: bool = False) -> None:
        self._addsub_imm(1, 1, rd, rn, imm, lsl12)

    def cmp_imm(self, rn, imm: int, lsl12: bool = False) -> None:
        self._addsub_imm(1, 1, XZR if _gpr_or_sp(rn).sf else WZR, rn, imm, lsl12)

    def cmn_imm(self, rn, imm: int, lsl12: bool = False) -> None:
        self._addsub_imm(0, 1, XZR if _gpr_or_sp(rn).sf else WZR, rn, imm, lsl12)

    def _addsub_reg(self, op: int, S_: int, rd, rn, rm, shift: str, amount: int) -> None:
        if rd.__class__ is GReg and rn.__class__ is GReg and rm.__class__ is GReg \
                and rd.sf == rn.sf == rm.sf and 32 not in (rd.n, rn.n, rm.n) \
                and shift == "lsl" and amount.__class__ is int and 0 <= amount < (32 << rd.sf):
            # the common case: three x (or w) registers or zr, lsl by an amount that fits
            # (ADDSUB_REG: Rm at bit 16, imm6 at 10, Rn at 5)
            self.buf += _pack(_ADDSUB_REG_OPS[op][S_] | rd.sf << 31 | rm.n << 16 | amount << 10
                              | rn.n << 5 | rd.n)
            return
        sf = _gpr(rd).sf
        sh = SHIFT.get(shift) if shift.__class__ is str else None
        if sh is None or sh == 3:
            raise AsmError(f"add/sub shift must be lsl, lsr or asr, got {shift!r}")
        self.buf += _pack(ADDSUB_REG(sf, op, S_, sh, _r(rm, sf), _uimm(amount, 5 + sf, "shift amount"),
                                     _r(rn, sf), _r(rd, sf)))

    def add_reg(self, rd, rn, rm, shift: str = "lsl", amount: int = 0) -> None:
        self._addsub_reg(0, 0, rd, rn, rm, shift, amount)

    def adds_reg(self, rd, rn, rm, shift: str = "lsl", amount: int = 0) -> None:
        self._addsub_reg(0, 1, rd, rn, rm, shift, amount)

    def sub_reg(self, rd, rn, rm, shift: str = "lsl", amount: int = 0) -> None:
        self._addsub_reg(1, 0, rd, rn, rm, shift, amount)

    def subs_reg(self, rd, rn, rm, shift: str = "lsl", amount: int = 0) -> None:
        self._addsub_reg(1, 1, rd, rn, rm, shift, amount)

    def cmp_reg(self, rn, rm, shift: str = "lsl", amount: int = 0) -> None:
        self._addsub_reg(1, 1, XZR if _gpr(rn).sf else WZR, rn, rm, shift, amount)

    def cmn_reg(self, rn, rm, shift: str = "lsl", amount: int = 0) -> None:
        self._addsub_reg(0, 1, XZR if _gpr(rn).sf else WZR, rn, rm, shift, amount)

    def neg(self, rd, rm, shift: str = "lsl", amount: int = 0) -> None:
        self._addsub_reg(1, 0, rd, XZR if _gpr(rd).sf else WZR, rm, shift, amount)

    def negs(self, rd, rm, shift: str = "lsl", amount: int = 0) -> None:
        self._addsub_reg(1, 1, rd, XZR if _gpr(rd).sf else WZR, rm, shift, amount)

    def _addsub_ext(self, op: int, S_: int, rd, rn, rm, extend: str, amount: int) -> None:
        sf = _gpr_or_sp(rd).sf
        d = _r(rd, sf) if S_ else _rsp(rd, sf)
        n = _rsp(rn, sf)
        if extend == "lsl":
            # lsl is the preferred spelling of uxtx (uxtw for w) when rd or rn is sp
            if not (rd.n == 32 or rn.n == 32):
                raise AsmError("extend 'lsl' is only valid when rd or rn is sp; use a shifted register")
            extend = "uxtx" if sf else "uxtw"
        option = EXTEND.get(extend) if extend.__class__ is str else None
        if option is None:
            raise AsmError(f"unknown extend {extend!r}")
        m = _r(rm, 1 if sf and option & 3 == 3 else 0)
        if amount.__class__ is not int or not 0 <= amount <= 4:
            raise AsmError(f"extend shift amount {amount!r} out of range 0..4")
        self.buf += _pack(ADDSUB_EXT(sf, op, S_, m, option, amount, n, d))

    def add_ext(self, rd, rn, rm, extend: str = "uxtx", amount: int = 0) -> None:
        self._addsub_ext(0, 0, rd, rn, rm, extend, amount)

    def adds_ext(self, rd, rn, rm, extend: str = "uxtx", amount: int = 0) -> None:
        self._addsub_ext(0, 1, rd, rn, rm, extend, amount)

    def sub_ext(self, rd, rn, rm, extend: str = "uxtx", amount: int = 0) -> None:
        self._addsub_ext(1, 0, rd, rn, rm, extend, amount)

    def subs_ext(self, rd, rn, rm, extend: str = "uxtx", amount: int = 0) -> None:
        self._addsub_ext(1, 1, rd, rn, rm, extend, amount)

    def cmp_ext(self, rn, rm, extend: str = "uxtx", amount: int = 0) -> None:
        self._addsub_ext(1, 1, XZR if _gpr_or_sp(rn).sf else WZR, rn, rm, extend, amount)

    def cmn_ext(self, rn, rm, extend: str = "uxtx", amount: int = 0) -> None:
        self._addsub_ext(0, 1, XZR if _gpr_or_sp(rn).sf else WZR, rn, rm, extend, amount)

    def _carry(self, op: int, S_: int, rd, rn, rm) -> None:
        sf = _gpr(rd).sf
        self.buf += _pack(ADDSUB_CARRY(sf, op, S_, _r(rm, sf), _r(rn, sf), _r(rd, sf)))

    def adc(self, rd, rn, rm): self._carry(0, 0, rd, rn, rm)
    def adcs(self, rd, rn, rm): self._carry(0, 1, rd, rn, rm)
    def sbc(self, rd, rn, rm): self._carry(1, 0, rd, rn, rm)
    def sbcs(self, rd, rn, rm): self._carry(1, 1, rd, rn, rm)
    def ngc(self, rd, rm): self._carry(1, 0, rd, XZR if _gpr(rd).sf else WZR, rm)
    def ngcs(self, rd, rm): self._carry(1, 1, rd, XZR if _gpr(rd).sf else WZR, rm)

    # -- logical ---------------------------------------------------------------------------------

    def _logic_imm(self, opc: int, rd, rn, value: int) -> None:
        if rd.__class__ is GReg and rn.__class__ is GReg and rd.sf == rn.sf and rn.n != 32 \
                and rd.n != (32 if opc == 3 else 31) and value.__class__ is int:
            enc = (_BITMASK64 if rn.sf else _BITMASK32).get(value)
            if enc is not None:
                # the common case: registers checked as below, a non-negative bitmask value
                # (LOGIC_IMM: N at bit 22, immr at 16, imms at 10, Rn at 5)
                N, immr, imms = enc
                self.buf += _pack(_LOGIC_IMM_OPS[opc] | rn.sf << 31 | N << 22 | immr << 16 | imms << 10
                                  | rn.n << 5 | rd.enc)
                return
        sf = _gpr(rn).sf
        N, immr, imms = _bitmask(value, sf)
        d = _r(rd, sf) if opc == 3 else _rsp(rd, sf)
        self.buf += _pack(LOGIC_IMM(sf, opc, N, immr, imms, _r(rn, sf), d))

    def and_imm(self, rd, rn, value: int): self._logic_imm(0, rd, rn, value)
    def orr_imm(self, rd, rn, value: int): self._logic_imm(1, rd, rn, value)
    def eor_imm(self, rd, rn, value: int): self._logic_imm(2, rd, rn, value)
    def ands_imm(self, rd, rn, value: int): self._logic_imm(3, rd, rn, value)

    def tst_imm(self, rn, value: int):
        self._logic_imm(3, XZR if _gpr(rn).sf else WZR, rn, value)

    def _logic_reg(self, opc: int, N: int, rd, rn, rm, shift: str, amount: int) -> None:
        sf = _gpr(rd).sf
        sh = SHIFT.get(shift) if shift.__class__ is str else None
        if sh is None:
            raise AsmError(f"logical shift must be lsl, lsr, asr or ror, got {shift!r}")
        self.buf += _pack(LOGIC_REG(sf, opc, sh, N, _r(rm, sf), _uimm(amount, 5 + sf, "shift amount"),
                                    _r(rn, sf), _r(rd, sf)))

    def and_reg(self, rd, rn, rm, shift="lsl", amount=0): self._logic_reg(0, 0, rd, rn, rm, shift, amount)
    def bic_reg(self, rd, rn, rm, shift="lsl", amount=0): self._logic_reg(0, 1, rd, rn, rm, shift, amount)
    def orr_reg(self, rd, rn, rm, shift="lsl", amount=0): self._logic_reg(1, 0, rd, rn, rm, shift, amount)
    def orn_reg(self, rd, rn, rm, shift="lsl", amount=0): self._logic_reg(1, 1, rd, rn, rm, shift, amount)
    def eor_reg(self, rd, rn, rm, shift="lsl", amount=0): self._logic_reg(2, 0, rd, rn, rm, shift, amount)
    def eon_reg(self, rd, rn, rm, shift="lsl", amount=0): self._logic_reg(2, 1, rd, rn, rm, shift, amount)
    def ands_reg(self, rd, rn, rm, shift="lsl", amount=0): self._logic_reg(3, 0, rd, rn, rm, shift, amount)
    def bics_reg(self, rd, rn, rm, shift="lsl", amount=0): self._logic_reg(3, 1, rd, rn, rm, shift, amount)

    def tst_reg(self, rn, rm, shift="lsl", amount=0):
        self._logic_reg(3, 0, XZR if _gpr(rn).sf else WZR, rn, rm, shift, amount)

    def mvn(self, rd, rm, shift="lsl", amount=0):
        self._logic_reg(1, 1, rd, XZR if _gpr(rd).sf else WZR, rm, shift, amount)

    # -- bitfield and its aliases -----------------------------------------------------------------

    def _bitfield(self, opc: int, rd, rn, immr: int, imms: int) -> None:
        sf = _gpr(rd).sf
        bits = 5 + sf
        self.buf += _pack(BITFIELD(sf, opc, sf, _uimm(immr, bits, "immr"), _uimm(imms, bits, "imms"),
                                   _r(rn, sf), _r(rd, sf)))

    def sbfm(self, rd, rn, immr, imms): self._bitfield(0, rd, rn, immr, imms)
    def bfm(self, rd, rn, immr, imms): self._bitfield(1, rd, rn, immr, imms)
    def ubfm(self, rd, rn, immr, imms): self._bitfield(2, rd, rn, immr, imms)

    def _width(self, rd) -> int:
        return 64 if _gpr(rd).sf else 32

    def _field_check(self, rd, lsb: int, width: int) -> int:
        size = self._width(rd)
        if lsb.__class__ is not int or width.__class__ is not int or not 0 <= lsb < size \
                or not 1 <= width <= size - lsb:
            raise AsmError(f"bitfield lsb={lsb!r} width={width!r} does not fit in {size} bits")
        return size

    def lsl_imm(self, rd, rn, amount: int) -> None:
        size = self._width(rd)
        _uimm(amount, 6 if size == 64 else 5, "shift amount")
        self._bitfield(2, rd, rn, (-amount) % size, size - 1 - amount)

    def lsr_imm(self, rd, rn, amount: int) -> None:
        size = self._width(rd)
        self._bitfield(2, rd, rn, _uimm(amount, 6 if size == 64 else 5, "shift amount"), size - 1)

    def asr_imm(self, rd, rn, amount: int) -> None:
        size = self._width(rd)
        self._bitfield(0, rd, rn, _uimm(amount, 6 if size == 64 else 5, "shift amount"), size - 1)

    def ror_imm(self, rd, rn, amount: int) -> None:
        self.extr(rd, rn, rn, amount)

    def extr(self, rd, rn, rm, lsb: int) -> None:
        sf = _gpr(rd).sf
        self.buf += _pack(EXTR(sf, sf, _r(rm, sf), _uimm(lsb, 5 + sf, "extr lsb"), _r(rn, sf), _r(rd, sf)))

    def ubfx(self, rd, rn, lsb, width):
        self._field_check(rd, lsb, width)
        self._bitfield(2, rd, rn, lsb, lsb + width - 1)

    def sbfx(self, rd, rn, lsb, width):
        self._field_check(rd, lsb, width)
        self._bitfield(0, rd, rn, lsb, lsb + width - 1)

    def bfxil(self, rd, rn, lsb, width):
        self._field_check(rd, lsb, width)
        self._bitfield(1, rd, rn, lsb, lsb + width - 1)

    def ubfiz(self, rd, rn, lsb, width):
        size = self._field_check(rd, lsb, width)
        self._bitfield(2, rd, rn, (-lsb) % size, width - 1)

    def sbfiz(self, rd, rn, lsb, width):
        size = self._field_check(rd, lsb, width)
        self._bitfield(0, rd, rn, (-lsb) % size, width - 1)

    def bfi(self, rd, rn, lsb, width):
        size = self._field_check(rd, lsb, width)
        self._bitfield(1, rd, rn, (-lsb) % size, width - 1)

    def _extend(self, opc: int, imms: int, rd, rn, sizes: str) -> None:
        # the sign extensions write an x or w register from a w register; uxtb/uxth exist only
        # for w, but llvm-mc and GNU as also take "uxtb x0, w1" and encode the w form
        if _gpr(rd).kind not in sizes:
            raise _reg_error(rd, f"a {'/'.join(sizes)} register")
        if _gpr(rn).sf:
            raise _reg_error(rn, "a w register")
        sf = rd.sf if opc == 0 else 0
        self.buf += _pack(BITFIELD(sf, opc, sf, 0, imms, rn.n, _r(rd, rd.sf)))

    def uxtb(self, rd, rn): self._extend(2, 7, rd, rn, "wx")
    def uxth(self, rd, rn): self._extend(2, 15, rd, rn, "wx")
    def sxtb(self, rd, rn): self._extend(0, 7, rd, rn, "wx")
    def sxth(self, rd, rn): self._extend(0, 15, rd, rn, "wx")
    def sxtw(self, rd, rn): self._extend(0, 31, rd, rn, "x")

    # -- other data processing -------------------------------------------------------------------

    def _dp1(self, opcode: int, rd, rn, only64: bool = False) -> None:
        sf = _gpr(rd).sf
        if only64 and not sf:
            raise _reg_error(rd, "an x register")
        self.buf += _pack(DP_1SRC(sf, opcode, _r(rn, sf), _r(rd, sf)))

    def rbit(self, rd, rn): self._dp1(0, rd, rn)
    def rev16(self, rd, rn): self._dp1(1, rd, rn)
    def rev32(self, rd, rn): self._dp1(2, rd, rn, True)
    def clz(self, rd, rn): self._dp1(4, rd, rn)
    def cls(self, rd, rn): self._dp1(5, rd, rn)

    def rev(self, rd, rn):
        self._dp1(3 if _gpr(rd).sf else 2, rd, rn)

    def rev64(self, rd, rn):
        """The x-register spelling of rev that llvm-mc also takes."""
        self._dp1(3, rd, rn, True)

    def _dp2(self, opcode: int, rd, rn, rm) -> None:
        sf = _gpr(rd).sf
        self.buf += _pack(DP_2SRC(sf, _r(rm, sf), opcode, _r(rn, sf), _r(rd, sf)))

    def udiv(self, rd, rn, rm): self._dp2(2, rd, rn, rm)
    def sdiv(self, rd, rn, rm): self._dp2(3, rd, rn, rm)
    def lslv(self, rd, rn, rm): self._dp2(8, rd, rn, rm)
    def lsrv(self, rd, rn, rm): self._dp2(9, rd, rn, rm)
    def asrv(self, rd, rn, rm): self._dp2(10, rd, rn, rm)
    def rorv(self, rd, rn, rm): self._dp2(11, rd, rn, rm)

    def _dp3(self, op31: int, o0: int, rd, rn, rm, ra) -> None:
        sf = _gpr(rd).sf
        self.buf += _pack(DP_3SRC(sf, op31, _r(rm, sf), o0, _r(ra, sf), _r(rn, sf), _r(rd, sf)))

    def madd(self, rd, rn, rm, ra): self._dp3(0, 0, rd, rn, rm, ra)
    def msub(self, rd, rn, rm, ra): self._dp3(0, 1, rd, rn, rm, ra)
    def mul(self, rd, rn, rm): self._dp3(0, 0, rd, rn, rm, XZR if _gpr(rd).sf else WZR)
    def mneg(self, rd, rn, rm): self._dp3(0, 1, rd, rn, rm, XZR if _gpr(rd).sf else WZR)

    def _long(self, op31: int, o0: int, rd, rn, rm, ra) -> None:
        # 32x32 -> 64-bit products: w sources, x destination and accumulator
        d, a = _x(rd), _x(ra)
        self.buf += _pack(DP_3SRC(1, op31, _r(rm, 0), o0, a, _r(rn, 0), d))

    def smaddl(self, rd, rn, rm, ra): self._long(1, 0, rd, rn, rm, ra)
    def smsubl(self, rd, rn, rm, ra): self._long(1, 1, rd, rn, rm, ra)
    def umaddl(self, rd, rn, rm, ra): self._long(5, 0, rd, rn, rm, ra)
    def umsubl(self, rd, rn, rm, ra): self._long(5, 1, rd, rn, rm, ra)
    def smull(self, rd, rn, rm): self._long(1, 0, rd, rn, rm, XZR)
    def smnegl(self, rd, rn, rm): self._long(1, 1, rd, rn, rm, XZR)
    def umull(self, rd, rn, rm): self._long(5, 0, rd, rn, rm, XZR)
    def umnegl(self, rd, rn, rm): self._long(5, 1, rd, rn, rm, XZR)

    def smulh(self, rd, rn, rm):
        self.buf += _pack(DP_3SRC(1, 2, _x(rm), 0, 31, _x(rn), _x(rd)))

    def umulh(self, rd, rn, rm):
        self.buf += _pack(DP_3SRC(1, 6, _x(rm), 0, 31, _x(rn), _x(rd)))

    # -- conditional select and compare ----------------------------------------------------------

    def _csel(self, op: int, o2: int, rd, rn, rm, cond) -> None:
        sf = _gpr(rd).sf
        self.buf += _pack(COND_SELECT(sf, op, _r(rm, sf), _cond(cond), o2, _r(rn, sf), _r(rd, sf)))

    def csel(self, rd, rn, rm, cond): self._csel(0, 0, rd, rn, rm, cond)
    def csinc(self, rd, rn, rm, cond): self._csel(0, 1, rd, rn, rm, cond)
    def csinv(self, rd, rn, rm, cond): self._csel(1, 0, rd, rn, rm, cond)
    def csneg(self, rd, rn, rm, cond): self._csel(1, 1, rd, rn, rm, cond)

    def _cs_alias(self, op: int, o2: int, rd, rn, cond) -> None:
        inv = _cond_no_al(cond) ^ 1
        sf = _gpr(rd).sf
        n = _r(rn, sf)
        self.buf += _pack(COND_SELECT(sf, op, n, inv, o2, n, _r(rd, sf)))

    def cset(self, rd, cond): self._cs_alias(0, 1, rd, XZR if _gpr(rd).sf else WZR, cond)
    def csetm(self, rd, cond): self._cs_alias(1, 0, rd, XZR if _gpr(rd).sf else WZR, cond)
    def cinc(self, rd, rn, cond): self._cs_alias(0, 1, rd, rn, cond)
    def cinv(self, rd, rn, cond): self._cs_alias(1, 0, rd, rn, cond)
    def cneg(self, rd, rn, cond): self._cs_alias(1, 1, rd, rn, cond)

    def _ccmp(self, op: int, rn, rm_or_imm, nzcv: int, cond) -> None:
        sf = _gpr(rn).sf
        nz = _uimm(nzcv, 4, "nzcv")
        if rm_or_imm.__class__ is int:
            self.buf += _pack(COND_CMP_IMM(sf, op, _uimm(rm_or_imm, 5, "ccmp immediate"), _cond(cond),
                                           _r(rn, sf), nz))
        else:
            self.buf += _pack(COND_CMP_REG(sf, op, _r(rm_or_imm, sf), _cond(cond), _r(rn, sf), nz))

    def ccmp(self, rn, rm_or_imm, nzcv: int, cond): self._ccmp(1, rn, rm_or_imm, nzcv, cond)
    def ccmn(self, rn, rm_or_imm, nzcv: int, cond): self._ccmp(0, rn, rm_or_imm, nzcv, cond)

    # -- pc-relative addresses and branches ------------------------------------------------------

    def adr(self, rd, target) -> None:
        self.buf += _pack(_ADR | _x(rd) | self._target(target, "adr"))

    def adrp(self, rd, target) -> None:
        self.buf += _pack(_ADRP | _x(rd) | self._target(target, "adrp"))

    def b(self, target) -> None:
        self.buf += _pack(_B | self._target(target, "imm26"))

    def bl(self, target) -> None:
        self.buf += _pack(_BL | self._target(target, "imm26"))

    def b_cond(self, cond, target) -> None:
        self.buf += _pack(_B_COND | _cond(cond) | self._target(target, "imm19"))

    def cbz(self, rt, target) -> None:
        self.buf += _pack(_CBZ | _gpr(rt).sf << 31 | rt.n | self._target(target, "imm19"))

    def cbnz(self, rt, target) -> None:
        self.buf += _pack(_CBNZ | _gpr(rt).sf << 31 | rt.n | self._target(target, "imm19"))

    def _tb(self, op: int, rt, bit: int, target) -> None:
        sf = _gpr(rt).sf
        _uimm(bit, 6 if sf else 5, "test bit number")
        # TEST_BRANCH: b5 at bit 31, b40 at 19
        self.buf += _pack(_TB_OPS[op] | (bit >> 5) << 31 | (bit & 31) << 19 | rt.n | self._target(target, "imm14"))

    def tbz(self, rt, bit: int, target): self._tb(0, rt, bit, target)
    def tbnz(self, rt, bit: int, target): self._tb(1, rt, bit, target)

    def br(self, rn): self.buf += _pack(BRANCH_REG(0, _x(rn)))
    def blr(self, rn): self.buf += _pack(BRANCH_REG(1, _x(rn)))
    def ret(self, rn=X[30]): self.buf += _pack(BRANCH_REG(2, _x(rn)))

    # -- system ----------------------------------------------------------------------------------

    def nop(self): self.buf += _pack(0xD503201F)
    def hint(self, imm: int): self.buf += _pack(HINT(_uimm(imm, 7, "hint number")))
    def brk(self, imm: int): self.buf += _pack(EXCEPTION(1, _uimm(imm, 16, "brk immediate"), 0))
    def hlt(self, imm: int): self.buf += _pack(EXCEPTION(2, _uimm(imm, 16, "hlt immediate"), 0))
    def svc(self, imm: int): self.buf += _pack(EXCEPTION(0, _uimm(imm, 16, "svc immediate"), 1))
    def udf(self, imm: int): self.buf += _pack(UDF(_uimm(imm, 16, "udf immediate")))

    def _barrier(self, op2: int, option) -> None:
        crm = BARRIER_OPTION.get(option) if option.__class__ is str else option
        self.buf += _pack(BARRIER(_uimm(crm, 4, "barrier option"), op2))

    def clrex(self, imm: int = 15): self._barrier(2, imm)
    def dsb(self, option="sy"): self._barrier(4, option)
    def dmb(self, option="sy"): self._barrier(5, option)
    def isb(self, option="sy"): self._barrier(6, option)

    def _sysreg(self, name) -> tuple[int, int, int, int, int]:
        if name.__class__ is tuple and len(name) == 5:
            return name
        enc = SYSREG.get(name.lower()) if name.__class__ is str else None
        if enc is None:
            raise AsmError(f"unknown system register {name!r}")
        return enc

    def mrs(self, rt, sysreg) -> None:
        op0, op1, crn, crm, op2 = self._sysreg(sysreg)
        _uimm(op0 - 2, 1, "op0 - 2")
        self.buf += _pack(SYSREG_MOVE(1, op0 - 2, _uimm(op1, 3, "op1"), _uimm(crn, 4, "CRn"),
                                      _uimm(crm, 4, "CRm"), _uimm(op2, 3, "op2"), _x(rt)))

    def msr(self, sysreg, rt) -> None:
        op0, op1, crn, crm, op2 = self._sysreg(sysreg)
        _uimm(op0 - 2, 1, "op0 - 2")
        self.buf += _pack(SYSREG_MOVE(0, op0 - 2, _uimm(op1, 3, "op1"), _uimm(crn, 4, "CRn"),
                                      _uimm(crm, 4, "CRm"), _uimm(op2, 3, "op2"), _x(rt)))

    # -- loads and stores ------------------------------------------------------------------------

    def _rt_field(self, rt, V: int) -> int:
        if rt.__class__ is int:  # prfm's prefetch operation
            return _uimm(rt, 5, "prefetch operation")
        return rt.n

    def ldst(self, mnemonic: str, rt, rn, offset: int = 0) -> None:
        """``mnemonic rt, [rn, #offset]``: the scaled unsigned form if it fits, else (as LLVM
        does) the unscaled ldur/stur form for offsets in -256..255."""
        # The common case straight from _LDST_WORDS: a register rt, an x register or sp as the
        # base (field 31 is sp here), an offset in range. Everything else, and every error, below.
        words = _LDST_WORDS.get(mnemonic)
        if words is not None and (rt.__class__ is GReg or rt.__class__ is FReg) \
                and rn.__class__ is GReg and rn.sf and rn.n != 31 and offset.__class__ is int:
            entry = words.get(rt)
            if entry is not None:
                scaled, unscaled, scale = entry
                if offset >= 0 and not offset & ((1 << scale) - 1) and offset >> scale < 4096:
                    self.buf += _pack(scaled | (offset >> scale) << 10 | rn.enc << 5)
                    return
                if -256 <= offset < 256:
                    self.buf += _pack(unscaled | (offset & 0x1FF) << 12 | rn.enc << 5)
                    return
        size, V, opc = _ldst_entry(mnemonic, _prf(rt))
        scale = _ldst_scale(size, V, opc)
        n = _xsp(rn)
        if offset.__class__ is not int:
            raise AsmError(f"offset must be an integer, got {offset!r}")
        if offset >= 0 and not offset & ((1 << scale) - 1) and offset >> scale < 4096:
            self.buf += _pack(LDST_UIMM(size, V, opc, offset >> scale, n, self._rt_field(rt, V)))
        elif -256 <= offset < 256:
            self.buf += _pack(LDST_IMM9(size, V, opc, offset & 0x1FF, 0, n, self._rt_field(rt, V)))
        elif offset & ((1 << scale) - 1):
            raise AsmError(f"offset {offset} is not a multiple of {1 << scale} (and outside "
                           f"the unscaled range -256..255)")
        else:
            raise AsmError(f"offset {offset} out of range 0..{4095 << scale}")

    def ldst_unscaled(self, mnemonic: str, rt, rn, offset: int = 0) -> None:
        """ldur/stur & co.: ``mnemonic`` is the base name (ldr, strb...)."""
        size, V, opc = _ldst_entry(mnemonic, _prf(rt))
        self.buf += _pack(LDST_IMM9(size, V, opc, _simm(offset, 9, "unscaled offset"), 0, _xsp(rn),
                                    self._rt_field(rt, V)))

    def ldst_pre(self, mnemonic: str, rt, rn, offset: int) -> None:
        self._ldst_index(mnemonic, rt, rn, offset, 3)

    def ldst_post(self, mnemonic: str, rt, rn, offset: int) -> None:
        self._ldst_index(mnemonic, rt, rn, offset, 1)

    def _ldst_index(self, mnemonic: str, rt, rn, offset: int, idx: int) -> None:
        # the common case as in ldst: the unscaled word with the index mode (idx) set, when rt
        # is not also the base (see below)
        words = _LDST_WORDS.get(mnemonic)
        if words is not None and rn.__class__ is GReg and rn.sf and rn.n != 31 \
                and (rt.__class__ is FReg or rt.__class__ is GReg and rt.n != rn.n) \
                and offset.__class__ is int and -256 <= offset < 256:
            entry = words.get(rt)
            if entry is not None:
                self.buf += _pack(entry[1] | (offset & 0x1FF) << 12 | idx << 10 | rn.enc << 5)
                return
        if mnemonic == "prfm":
            raise AsmError("prfm has no pre/post-indexed form")
        size, V, opc = _ldst_entry(mnemonic, rt)
        n = _xsp(rn)
        if not V and rt.n == n and n != 31:
            # writeback into the register being transferred is UNPREDICTABLE; both oracles refuse it
            raise AsmError(f"{mnemonic} with writeback cannot use {rt!r} as both data and base")
        self.buf += _pack(LDST_IMM9(size, V, opc, _simm(offset, 9, "pre/post-index offset"), idx, n,
                                    rt.n))

    def ldst_reg(self, mnemonic: str, rt, rn, rm, extend: str = "lsl", shift: bool | int | None = None) -> None:
        """``mnemonic rt, [rn, rm{, extend {#amount}}]``. ``shift`` is None for no amount written,
        else the amount: 0 or log2 of the access size."""
        size, V, opc = _ldst_entry(mnemonic, _prf(rt))
        scale = _ldst_scale(size, V, opc)
        option = {"lsl": 3, "uxtw": 2, "sxtw": 6, "sxtx": 7, "uxtx": 3}.get(extend) \
            if extend.__class__ is str else None
        if option is None or extend == "uxtx":
            raise AsmError(f"register offset extend must be lsl, uxtw, sxtw or sxtx, got {extend!r}")
        m = _r(rm, option & 1)
        if shift is None:
            S_ = 0
        elif shift.__class__ is int and shift in (0, scale):
            # an explicit amount: #log2(size) sets S; #0 sets it only for byte accesses (where
            # llvm-mc keeps the written "lsl #0"); for others #0 means "unshifted"
            S_ = 1 if (shift == scale and scale) or (scale == 0) else 0
        else:
            raise AsmError(f"register offset shift must be #0 or #{scale}, got {shift!r}")
        self.buf += _pack(LDST_REGOFF(size, V, opc, m, option, S_, _xsp(rn), self._rt_field(rt, V)))

    def ldr_literal(self, rt, target) -> None:
        if rt.__class__ is int:
            opc, V, t = 3, 0, _uimm(rt, 5, "prefetch operation")
        else:
            kind = rt.kind if rt.__class__ in (GReg, FReg) and rt.n != 32 else None
            if kind not in LITERAL:
                raise AsmError(f"ldr (literal) cannot load {rt!r}")
            (opc, V), t = LITERAL[kind], rt.n
        self.buf += _pack(LDR_LITERAL(opc, V, 0, t) | self._target(target, "imm19"))

    def ldrsw_literal(self, rt, target) -> None:
        self.buf += _pack(LDR_LITERAL(2, 0, 0, _x(rt)) | self._target(target, "imm19"))

    def prfm_literal(self, prfop, target) -> None:
        self.ldr_literal(_prfop(prfop), target)

    def pair(self, mnemonic: str, rt, rt2, rn, offset: int = 0, mode: str = "offset") -> None:
        """ldp/stp/ldpsw/ldnp/stnp; mode is offset, pre or post."""
        table = PAIR.get(mnemonic)
        kind = rt.kind if rt.__class__ in (GReg, FReg) and rt.n != 32 else None
        if table is None or kind not in table:
            raise AsmError(f"{mnemonic} cannot transfer {rt!r}")
        if rt2.__class__ is not rt.__class__ or rt2.kind != kind or rt2.n == 32:
            raise AsmError(f"{mnemonic} needs two registers of the same kind, got {rt!r}, {rt2!r}")
        opc, V, L, scale = table[kind]
        m = {"offset": 2, "pre": 3, "post": 1}.get(mode) if mode.__class__ is str else None
        if m is None or (mnemonic in ("ldnp", "stnp") and m != 2):
            raise AsmError(f"bad addressing mode {mode!r} for {mnemonic}")
        if mnemonic in ("ldnp", "stnp"):
            m = 0
        n = _xsp(rn)
        if offset.__class__ is not int or offset & ((1 << scale) - 1):
            raise AsmError(f"{mnemonic} offset {offset!r} is not a multiple of {1 << scale}")
        if L and rt.n == rt2.n:
            raise AsmError(f"{mnemonic} cannot load {rt!r} twice")
        if not V and mode != "offset" and n != 31 and n in (rt.n, rt2.n):
            raise AsmError(f"{mnemonic} with writeback cannot use the base register as data")
        self.buf += _pack(LDST_PAIR(opc, V, m, L, _simm(offset >> scale, 7, f"{mnemonic} offset/{1 << scale}"),
                                    rt2.n, n, rt.n))

    # -- exclusives, acquire/release, LSE atomics ------------------------------------------------

    def exclusive(self, mnemonic: str, *regs) -> None:
        """ldxr/stxr/ldaxr/stlxr/ldar/stlr and pairs, with b/h suffixes: operands as written."""
        base, size = mnemonic, None
        if mnemonic not in EXCLUSIVE and mnemonic[-1:] in "bh" and mnemonic[:-1] in EXCLUSIVE \
                and mnemonic[-2] != "p":
            base, size = mnemonic[:-1], 0 if mnemonic[-1] == "b" else 1
        if base not in EXCLUSIVE:
            raise AsmError(f"unknown exclusive/ordered access {mnemonic!r}")
        o2, L, o1, o0 = EXCLUSIVE[base]
        status = base.startswith("st") and "x" in base  # stxr & co. write a status register
        want = (1 if status else 0) + (2 if o1 else 1) + 1
        if len(regs) != want:
            raise AsmError(f"{mnemonic} takes {want} operands")
        rn = regs[-1]
        rs = regs[0] if status else None
        data = regs[1:-1] if status else regs[:-1]
        rt = _gpr(data[0])
        if size is None:
            size = 3 if rt.sf else 2
        elif rt.sf:
            raise _reg_error(rt, "a w register")
        rt2 = 31
        if o1:
            if _gpr(data[1]).sf != rt.sf:
                raise AsmError(f"{mnemonic} registers must be the same size")
            rt2 = _r(data[1], rt.sf)
        s = 31
        if status:
            s = _r(rs, 0)
            # compared by encoding, as llvm-mc does: wzr clashes with xzr data and with an sp base
            if s in (rt.n, rt2 if o1 else -1, _xsp(rn)):
                raise AsmError(f"{mnemonic} status register must differ from the data and base registers")
        n = _xsp(rn)
        if L and o1 and rt.n == rt2:
            raise AsmError(f"{mnemonic} cannot load {rt!r} twice")
        self.buf += _pack(LDST_EXCL(size, o2, L, o1, s, o0, rt2, n, _r(rt, rt.sf)))

    def atomic(self, op: str, order: str, size: int | None, rs, rt, rn) -> None:
        """LSE ld<op>/swp: ``op`` in ATOMIC_OPS, ``order`` '', 'a', 'l' or 'al', size 0/1 for b/h."""
        if op not in ATOMIC_OPS or order not in ORDERING:
            raise AsmError(f"unknown atomic {op}{order}")
        o3, opc = ATOMIC_OPS[op]
        A, R = ORDERING[order]
        sf = _gpr(rs).sf
        if size is None:
            size = 2 + sf
        elif sf:
            raise _reg_error(rs, "a w register")
        self.buf += _pack(ATOMIC_MEM(size, A, R, _r(rs, sf), o3, opc, _xsp(rn), _r(rt, sf)))

    def ldapr(self, rt, rn, size: int | None = None) -> None:
        """Load-acquire RCpc (``ldapr``; size 0/1 for ``ldaprb``/``ldaprh``, which take w)."""
        sf = _gpr(rt).sf
        if size is None:
            size = 2 + sf
        elif sf:
            raise _reg_error(rt, "a w register")
        self.buf += _pack(LOAD_ACQ_PC(size, _xsp(rn), _r(rt, sf)))

    def cas(self, order: str, size: int | None, rs, rt, rn) -> None:
        if order not in ORDERING:
            raise AsmError(f"unknown ordering {order!r}")
        A, R = ORDERING[order]
        sf = _gpr(rs).sf
        if size is None:
            size = 2 + sf
        elif sf:
            raise _reg_error(rs, "a w register")
        self.buf += _pack(COMPARE_SWAP(size, A, _r(rs, sf), R, _xsp(rn), _r(rt, sf)))

    # -- floating point --------------------------------------------------------------------------

    def _fp1(self, opcode: int, rd, rn) -> None:
        self.buf += _pack(FP_1SRC(_fsame(rd, rn), opcode, rn.n, rd.n))

    def fmov(self, rd, rn) -> None:
        """FP register move, or a move between a general and an FP register (same width)."""
        if rd.__class__ is FReg and rn.__class__ is FReg:
            return self._fp1(0, rd, rn)
        if rd.__class__ is FReg and rn.__class__ is GReg:
            gpr, fpr, opcode = rn, rd, 7
        elif rd.__class__ is GReg and rn.__class__ is FReg:
            gpr, fpr, opcode = rd, rn, 6
        else:
            raise AsmError(f"fmov between {rd!r} and {rn!r} is not an FP move")
        pairs = {("w", "s"): (0, 0), ("x", "d"): (1, 1), ("w", "h"): (0, 3), ("x", "h"): (1, 3)}
        key = (_gpr(gpr).kind, fpr.kind)
        if key not in pairs:
            raise AsmError(f"fmov between {rd!r} and {rn!r}: sizes differ")
        sf, ftype = pairs[key]
        self.buf += _pack(FP_INT(sf, ftype, 0, opcode, _r(gpr, sf) if opcode == 7 else fpr.n,
                                 fpr.n if opcode == 7 else _r(gpr, sf)))

    def fmov_imm(self, rd, value: float) -> None:
        self.buf += _pack(FP_IMM(_fsame(rd), fp_imm8(value), rd.n))

    def fabs(self, rd, rn): self._fp1(1, rd, rn)
    def fneg(self, rd, rn): self._fp1(2, rd, rn)
    def fsqrt(self, rd, rn): self._fp1(3, rd, rn)
    def frintn(self, rd, rn): self._fp1(8, rd, rn)
    def frintp(self, rd, rn): self._fp1(9, rd, rn)
    def frintm(self, rd, rn): self._fp1(10, rd, rn)
    def frintz(self, rd, rn): self._fp1(11, rd, rn)
    def frinta(self, rd, rn): self._fp1(12, rd, rn)
    def frintx(self, rd, rn): self._fp1(14, rd, rn)
    def frinti(self, rd, rn): self._fp1(15, rd, rn)

    def fcvt(self, rd, rn) -> None:
        """Convert between single, double and half precision."""
        to = {"s": 0, "d": 1, "h": 3}[_fp(rd).kind]
        src = _FTYPE[_fp(rn).kind]
        if src == to:
            raise AsmError(f"fcvt needs two different precisions, got {rd!r}, {rn!r}")
        self.buf += _pack(FP_1SRC(src, 4 | to, rn.n, rd.n))

    def _fp2(self, opcode: int, rd, rn, rm) -> None:
        self.buf += _pack(FP_2SRC(_fsame(rd, rn, rm), rm.n, opcode, rn.n, rd.n))

    def fmul(self, rd, rn, rm): self._fp2(0, rd, rn, rm)
    def fdiv(self, rd, rn, rm): self._fp2(1, rd, rn, rm)
    def fadd(self, rd, rn, rm): self._fp2(2, rd, rn, rm)
    def fsub(self, rd, rn, rm): self._fp2(3, rd, rn, rm)
    def fmax(self, rd, rn, rm): self._fp2(4, rd, rn, rm)
    def fmin(self, rd, rn, rm): self._fp2(5, rd, rn, rm)
    def fmaxnm(self, rd, rn, rm): self._fp2(6, rd, rn, rm)
    def fminnm(self, rd, rn, rm): self._fp2(7, rd, rn, rm)
    def fnmul(self, rd, rn, rm): self._fp2(8, rd, rn, rm)

    def _fp3(self, o1: int, o0: int, rd, rn, rm, ra) -> None:
        self.buf += _pack(FP_3SRC(_fsame(rd, rn, rm, ra), o1, rm.n, o0, ra.n, rn.n, rd.n))

    def fmadd(self, rd, rn, rm, ra): self._fp3(0, 0, rd, rn, rm, ra)
    def fmsub(self, rd, rn, rm, ra): self._fp3(0, 1, rd, rn, rm, ra)
    def fnmadd(self, rd, rn, rm, ra): self._fp3(1, 0, rd, rn, rm, ra)
    def fnmsub(self, rd, rn, rm, ra): self._fp3(1, 1, rd, rn, rm, ra)

    def _fcmp(self, e: int, rn, rm) -> None:
        if rm.__class__ in (int, float) and rm == 0:
            self.buf += _pack(FP_COMPARE(_fsame(rn), 0, rn.n, 8 | e))
        elif rm.__class__ is FReg:
            self.buf += _pack(FP_COMPARE(_fsame(rn, rm), rm.n, rn.n, e))
        else:
            raise AsmError(f"fcmp compares with an FP register or #0.0, got {rm!r}")

    def fcmp(self, rn, rm): self._fcmp(0, rn, rm)
    def fcmpe(self, rn, rm): self._fcmp(16, rn, rm)

    def fccmp(self, rn, rm, nzcv: int, cond):
        self.buf += _pack(FP_COND_CMP(_fsame(rn, rm), rm.n, _cond(cond), rn.n, 0, _uimm(nzcv, 4, "nzcv")))

    def fccmpe(self, rn, rm, nzcv: int, cond):
        self.buf += _pack(FP_COND_CMP(_fsame(rn, rm), rm.n, _cond(cond), rn.n, 1, _uimm(nzcv, 4, "nzcv")))

    def fcsel(self, rd, rn, rm, cond):
        self.buf += _pack(FP_COND_SEL(_fsame(rd, rn, rm), rm.n, _cond(cond), rn.n, rd.n))

    def _fp_int(self, rmode: int, opcode: int, gpr, fpr, to_fp: bool, fbits: int | None = None) -> None:
        sf = _gpr(gpr).sf
        ftype = _fsame(fpr)
        g = _r(gpr, sf)
        n, d = (g, fpr.n) if to_fp else (fpr.n, g)
        if fbits is None:
            self.buf += _pack(FP_INT(sf, ftype, rmode, opcode, n, d))
            return
        # fixed point: fbits fraction bits, 1..32 or 1..64, encoded as scale = 64 - fbits
        if fbits.__class__ is not int or not 1 <= fbits <= (64 if sf else 32):
            raise AsmError(f"fixed-point fraction bits {fbits!r} out of range 1..{64 if sf else 32}")
        self.buf += _pack(FP_FIXED(sf, ftype, rmode, opcode, 64 - fbits, n, d))

    def scvtf(self, rd, rn, fbits=None): self._fp_int(0, 2, rn, rd, True, fbits)
    def ucvtf(self, rd, rn, fbits=None): self._fp_int(0, 3, rn, rd, True, fbits)
    def fcvtzs(self, rd, rn, fbits=None): self._fp_int(3, 0, rd, rn, False, fbits)
    def fcvtzu(self, rd, rn, fbits=None): self._fp_int(3, 1, rd, rn, False, fbits)
    def fcvtns(self, rd, rn): self._fp_int(0, 0, rd, rn, False)
    def fcvtnu(self, rd, rn): self._fp_int(0, 1, rd, rn, False)
    def fcvtps(self, rd, rn): self._fp_int(1, 0, rd, rn, False)
    def fcvtpu(self, rd, rn): self._fp_int(1, 1, rd, rn, False)
    def fcvtms(self, rd, rn): self._fp_int(2, 0, rd, rn, False)
    def fcvtmu(self, rd, rn): self._fp_int(2, 1, rd, rn, False)
    def fcvtas(self, rd, rn): self._fp_int(0, 4, rd, rn, False)
    def fcvtau(self, rd, rn): self._fp_int(0, 5, rd, rn, False)

    # -- Advanced SIMD: what clang emits for copies, popcount, copysign and vectorised loops ----

    def vec3(self, mnemonic: str, vd, vn, vm) -> None:
        """Three vectors of one arrangement: integer, logical, FP arithmetic and permutes."""
        if mnemonic in VEC3:
            U, opcode, arrs, size = VEC3[mnemonic]
            q, sz = _vsame(arrs, vd, vn, vm)
            self.buf += _pack(SIMD_3SAME(q, U, sz if size is None else size, vm.n, opcode, vn.n, vd.n))
        elif mnemonic in VEC3_FP:
            U, hi, opcode = VEC3_FP[mnemonic]
            q, sz = _vsame(_FP_ARRS, vd, vn, vm)
            self.buf += _pack(SIMD_3SAME(q, U, (hi << 1) | (sz & 1), vm.n, opcode, vn.n, vd.n))
        elif mnemonic in PERMUTE:
            q, sz = _vsame(_INT_ARRS, vd, vn, vm)
            self.buf += _pack(SIMD_PERMUTE(q, sz, vm.n, PERMUTE[mnemonic], vn.n, vd.n))
        else:
            raise AsmError(f"unknown three-vector operation {mnemonic!r}")

    def vec2(self, mnemonic: str, vd, vn) -> None:
        """Two vectors of one arrangement (integer and FP "two-register miscellaneous")."""
        if mnemonic in VEC2:
            U, opcode, arrs, size = VEC2[mnemonic]
            q, sz = _vsame(arrs, vd, vn)
            self.buf += _pack(SIMD_2REG(q, U, sz if size is None else size, opcode, vn.n, vd.n))
        elif mnemonic in VEC2_FP:
            U, hi, opcode = VEC2_FP[mnemonic]
            q, sz = _vsame(_FP_ARRS, vd, vn)
            self.buf += _pack(SIMD_2REG(q, U, (hi << 1) | (sz & 1), opcode, vn.n, vd.n))
        else:
            raise AsmError(f"unknown two-vector operation {mnemonic!r}")

    def vec_cmp_zero(self, mnemonic: str, vd, vn) -> None:
        """``cmeq vd, vn, #0`` and the other compares with zero (``#0.0`` for the FP ones)."""
        if mnemonic in CMP_ZERO:
            U, opcode = CMP_ZERO[mnemonic]
            q, sz = _vsame(_INT_ARRS, vd, vn)
            self.buf += _pack(SIMD_2REG(q, U, sz, opcode, vn.n, vd.n))
        elif mnemonic in FCMP_ZERO:
            U, opcode = FCMP_ZERO[mnemonic]
            q, sz = _vsame(_FP_ARRS, vd, vn)
            self.buf += _pack(SIMD_2REG(q, U, 2 | (sz & 1), opcode, vn.n, vd.n))
        else:
            raise AsmError(f"{mnemonic} has no compare-with-zero form")

    def vec_shift(self, mnemonic: str, vd, vn, amount: int) -> None:
        """shl/sshr/ushr by an immediate."""
        if mnemonic not in SHIFT_IMM:
            raise AsmError(f"unknown vector shift {mnemonic!r}")
        U, opcode, left = SHIFT_IMM[mnemonic]
        q, sz = _vsame(_INT_ARRS, vd, vn)
        esize = 8 << sz
        if amount.__class__ is not int or not ((0 <= amount < esize) if left else (1 <= amount <= esize)):
            raise AsmError(f"{mnemonic} shift {amount!r} out of range for {esize}-bit elements")
        v = esize + amount if left else 2 * esize - amount
        self.buf += _pack(SIMD_SHIFT(q, U, v >> 3, v & 7, opcode, vn.n, vd.n))

    def by_element(self, mnemonic: str, vd, vn, vm) -> None:
        """``fmul v0.2d, v1.2d, v2.d[1]``, ``mla v0.4s, v1.4s, v2.s[3]``, ``fmla d0, d1, v2.d[1]``:
        the second source is one lane, broadcast."""
        if mnemonic not in BY_ELEMENT:
            raise AsmError(f"{mnemonic} has no by-element form")
        U, opcode, fp = BY_ELEMENT[mnemonic]
        if vm.__class__ is not VReg or vm.index is None:
            raise _reg_error(vm, "a vector lane like v2.s[1]")
        if vd.__class__ is FReg:
            if not fp:
                raise AsmError(f"{mnemonic} has no scalar by-element form")
            _fsame(_fp(vd, "sd"), vn)
            q, lane = None, vd.kind
        else:
            q, sz = _vsame(_FP_ARRS if fp else ("4h", "8h", "2s", "4s"), vd, vn)
            lane = "bhsd"[sz]
        if vm.arrangement != lane:
            raise AsmError(f"{mnemonic}: lane {vm!r} does not match {vd!r}")
        i = vm.index
        if lane == "h":
            size, H, L, M, limit = 1, i >> 2, (i >> 1) & 1, i & 1, 8
            if vm.n > 15:
                raise AsmError(f"{mnemonic} with .h lanes can only use v0-v15, got {vm!r}")
        elif lane == "s":
            size, H, L, M, limit = 2, i >> 1, i & 1, vm.n >> 4, 4
        else:
            size, H, L, M, limit = 3, i, 0, vm.n >> 4, 2
        if not 0 <= i < limit:
            raise AsmError(f"lane index {i} out of range for .{lane}")
        if fp:
            size = 2 | (size == 3)
        if q is None:
            self.buf += _pack(SCALAR_ELEM(U, size, L, M, vm.n & 15, opcode, H, vn.n, vd.n))
        else:
            self.buf += _pack(SIMD_ELEM(q, U, size, L, M, vm.n & 15, opcode, H, vn.n, vd.n))

    def vec_long(self, mnemonic: str, vd, vn, amount: int | None = None) -> None:
        """Widen (ushll/sshll with uxtl/sxtl as their #0 aliases, shll) and narrow (xtn, sqxtn,
        uqxtn, sqxtun, shrn, rshrn): the destination lanes are twice or half the source's;
        the ...2 forms read or write the upper half."""
        upper = 1 if mnemonic.endswith("2") else 0
        base = mnemonic[:-1] if upper else mnemonic
        narrowing = base in NARROW or base in NARROW_SHIFT
        if not narrowing and base not in WIDEN and base != "shll":
            raise AsmError(f"unknown widening/narrowing operation {mnemonic!r}")
        wide, narrow = (vn, vd) if narrowing else (vd, vn)
        pairs = {"8h": ("8b", "16b"), "4s": ("4h", "8h"), "2d": ("2s", "4s")}
        if wide.__class__ is not VReg or narrow.__class__ is not VReg or wide.index is not None \
                or narrow.index is not None or wide.arrangement not in pairs \
                or narrow.arrangement != pairs[wide.arrangement][upper]:
            raise AsmError(f"{mnemonic}: arrangements {vd!r}, {vn!r} do not widen/narrow by two"
                           f"{' from the upper half' if upper else ''}")
        sz = ("8h", "4s", "2d").index(wide.arrangement)
        esize = 8 << sz  # of the narrow lanes
        takes_amount = base in NARROW_SHIFT or base == "shll" or (base in WIDEN and WIDEN[base][1])
        if takes_amount != (amount is not None):
            raise AsmError(f"{mnemonic} {'needs' if takes_amount else 'takes no'} shift amount")
        if base in NARROW:
            U, opcode = NARROW[base]
            self.buf += _pack(SIMD_2REG(upper, U, sz, opcode, vn.n, vd.n))
        elif base == "shll":
            if amount != esize:
                raise AsmError(f"shll shifts by the lane size, #{esize}, got #{amount}")
            self.buf += _pack(SIMD_2REG(upper, 1, sz, 0b10011, vn.n, vd.n))
        elif base in NARROW_SHIFT:
            if amount.__class__ is not int or not 1 <= amount <= esize:
                raise AsmError(f"{mnemonic} shift {amount!r} out of range 1..{esize}")
            U, opcode = NARROW_SHIFT[base]
            v = 2 * esize - amount
            self.buf += _pack(SIMD_SHIFT(upper, U, v >> 3, v & 7, opcode, vn.n, vd.n))
        else:
            U = WIDEN[base][0]
            amount = amount or 0
            if amount.__class__ is not int or not 0 <= amount < esize:
                raise AsmError(f"{mnemonic} shift {amount!r} out of range 0..{esize - 1}")
            v = esize + amount
            self.buf += _pack(SIMD_SHIFT(upper, U, v >> 3, v & 7, 0b10100, vn.n, vd.n))

    def ext(self, vd, vn, vm, index: int) -> None:
        q, _ = _vsame(_BYTES, vd, vn, vm)
        self.buf += _pack(SIMD_EXT(q, vm.n, _uimm(index, 3 + q, "ext index"), vn.n, vd.n))

    def across(self, mnemonic: str, rd, vn) -> None:
        """Reductions across the lanes of a vector into a scalar: addv, uaddlv, umaxv..."""
        if mnemonic not in ACROSS:
            raise AsmError(f"unknown reduction {mnemonic!r}")
        U, opcode, long = ACROSS[mnemonic]
        if vn.__class__ is not VReg or vn.index is not None or vn.arrangement not in ("8b", "16b", "4h", "8h", "4s"):
            raise _reg_error(vn, "a vector .8b/.16b/.4h/.8h/.4s")
        q, sz = _ARR[vn.arrangement]
        want = "bhsd"[sz + long]
        if rd.__class__ is not FReg or rd.kind != want:
            raise _reg_error(rd, f"a {want} register")
        self.buf += _pack(SIMD_ACROSS(q, U, sz, opcode, vn.n, rd.n))

    def pairwise(self, mnemonic: str, rd, vn) -> None:
        """``addp d0, v1.2d`` and ``faddp s0/d0, v1.2s/.2d``: add the two lanes."""
        if mnemonic == "addp" and rd.__class__ is FReg and rd.kind == "d" and vn.__class__ is VReg \
                and vn.arrangement == "2d" and vn.index is None:
            self.buf += _pack(SCALAR_PAIR(0, 3, 0b11011, vn.n, rd.n))
        elif mnemonic == "faddp" and rd.__class__ is FReg and vn.__class__ is VReg and vn.index is None \
                and (rd.kind, vn.arrangement) in (("s", "2s"), ("d", "2d")):
            self.buf += _pack(SCALAR_PAIR(1, 0 if rd.kind == "s" else 1, 0b01101, vn.n, rd.n))
        else:
            raise AsmError(f"invalid operands for {mnemonic}: {rd!r}, {vn!r}")

    def scalar2(self, mnemonic: str, rd, rn) -> None:
        """Conversions between FP and integer held in FP registers (``scvtf d0, d0``)."""
        if mnemonic not in VEC2_FP or mnemonic.startswith(("fabs", "fneg", "fsqrt", "frint")):
            raise AsmError(f"{mnemonic} has no scalar SIMD form")
        U, hi, opcode = VEC2_FP[mnemonic]
        ftype = _fsame(_fp(rd, "sd"), rn)
        self.buf += _pack(SCALAR_2REG(U, (hi << 1) | ftype, opcode, rn.n, rd.n))

    def scalar3(self, mnemonic: str, rd, rn, rm) -> None:
        """``add d0, d1, d2``, ``cmgt d0, d1, d2``...: 64-bit integer operations in FP registers."""
        if mnemonic not in SCALAR3:
            raise AsmError(f"{mnemonic} has no scalar SIMD form")
        for r in (rd, rn, rm):
            _fp(r, "d")
        U, opcode = SCALAR3[mnemonic]
        self.buf += _pack(SCALAR_3SAME(U, 3, rm.n, opcode, rn.n, rd.n))

    def scalar_cmp_zero(self, mnemonic: str, rd, rn) -> None:
        if mnemonic in CMP_ZERO:
            _fp(rd, "d"), _fp(rn, "d")
            U, opcode = CMP_ZERO[mnemonic]
            self.buf += _pack(SCALAR_2REG(U, 3, opcode, rn.n, rd.n))
        elif mnemonic in FCMP_ZERO:
            ftype = _fsame(_fp(rd, "sd"), rn)
            U, opcode = FCMP_ZERO[mnemonic]
            self.buf += _pack(SCALAR_2REG(U, 2 | ftype, opcode, rn.n, rd.n))
        else:
            raise AsmError(f"{mnemonic} has no compare-with-zero form")

    def scalar3_fp(self, mnemonic: str, rd, rn, rm) -> None:
        """fabd and the FP compares on scalars, writing all-ones or zero (``fcmgt d0, d1, d2``)."""
        if mnemonic not in SCALAR3_FP:
            raise AsmError(f"{mnemonic} has no scalar SIMD form")
        ftype = _fsame(_fp(rd, "sd"), rn, rm)
        U, hi, opcode = VEC3_FP[mnemonic]
        self.buf += _pack(SCALAR_3SAME(U, (hi << 1) | ftype, rm.n, opcode, rn.n, rd.n))

    def vec3_long(self, mnemonic: str, vd, vn, vm) -> None:
        """Widening three-register forms: ``uaddl vd.4s, vn.4h, vm.4h``, ``uaddw vd.4s, vn.4s,
        vm.4h``, ``smull``/``smlal``..., with ``2`` taking the upper halves."""
        upper = 1 if mnemonic.endswith("2") else 0
        base = mnemonic[:-1] if upper else mnemonic
        if base not in LONG3:
            raise AsmError(f"unknown widening operation {mnemonic!r}")
        U, opcode, wide_n = LONG3[base]
        wides = {"8h": ("8b", "16b"), "4s": ("4h", "8h"), "2d": ("2s", "4s")}
        narrow_ok = vd.__class__ is VReg and vd.index is None and vd.arrangement in wides
        if narrow_ok:
            narrow = wides[vd.arrangement][upper]
            want_n = vd.arrangement if wide_n else narrow
            for v, want in ((vn, want_n), (vm, narrow)):
                if v.__class__ is not VReg or v.index is not None or v.arrangement != want:
                    narrow_ok = False
        if not narrow_ok:
            raise AsmError(f"{mnemonic}: bad arrangements {vd!r}, {vn!r}, {vm!r}")
        sz = ("8h", "4s", "2d").index(vd.arrangement)
        self.buf += _pack(SIMD_3DIFF(upper, U, sz, vm.n, opcode, vn.n, vd.n))

    def dot(self, mnemonic: str, vd, vn, vm) -> None:
        """udot/sdot (Armv8.2 dot product): four byte products summed into each 32-bit lane."""
        if mnemonic not in ("udot", "sdot"):
            raise AsmError(f"unknown dot product {mnemonic!r}")
        q, _ = _vsame(("2s", "4s"), vd)
        _vsame(("16b",) if q else ("8b",), vn, vm)
        self.buf += _pack(SIMD_DOT(q, 1 if mnemonic == "udot" else 0, vm.n, vn.n, vd.n))

    def vec2_long(self, mnemonic: str, vd, vn) -> None:
        """uaddlp/saddlp/uadalp/sadalp (pairs into double-width lanes), fcvtl/fcvtn (+2)."""
        if mnemonic in PAIRWISE_LONG:
            U, opcode = PAIRWISE_LONG[mnemonic]
            pairs = {("4h", "8b"): (0, 0), ("8h", "16b"): (1, 0), ("2s", "4h"): (0, 1), ("4s", "8h"): (1, 1),
                     ("1d", "2s"): (0, 2), ("2d", "4s"): (1, 2)}
        elif mnemonic in ("fcvtl", "fcvtl2", "fcvtn", "fcvtn2"):
            U, opcode = 0, 0b10111 if mnemonic.startswith("fcvtl") else 0b10110
            up = mnemonic.endswith("2")
            if mnemonic.startswith("fcvtl"):
                pairs = {("4s", "8h" if up else "4h"): (int(up), 0), ("2d", "4s" if up else "2s"): (int(up), 1)}
            else:
                pairs = {("8h" if up else "4h", "4s"): (int(up), 0), ("4s" if up else "2s", "2d"): (int(up), 1)}
        else:
            raise AsmError(f"unknown operation {mnemonic!r}")
        key = (getattr(vd, "arrangement", None), getattr(vn, "arrangement", None))
        if vd.__class__ is not VReg or vn.__class__ is not VReg or vd.index is not None \
                or vn.index is not None or key not in pairs:
            raise AsmError(f"{mnemonic}: bad arrangements {vd!r}, {vn!r}")
        q, sz = pairs[key]
        self.buf += _pack(SIMD_2REG(q, U, sz, opcode, vn.n, vd.n))

    def vec_logic_imm(self, mnemonic: str, vd, value: int, shift: int = 0) -> None:
        """``orr``/``bic`` of a vector with an 8-bit value shifted left (16- and 32-bit lanes)."""
        if mnemonic not in ("orr", "bic"):
            raise AsmError(f"{mnemonic} has no vector immediate form")
        q, sz = _vsame(("4h", "8h", "2s", "4s"), vd)
        imm8 = _uimm(value, 8, f"{mnemonic} immediate")
        if shift.__class__ is not int or shift not in ((0, 8) if sz == 1 else (0, 8, 16, 24)):
            raise AsmError(f"{mnemonic} shift must be lsl #0/8{'/16/24' if sz == 2 else ''}, got {shift!r}")
        cmode = (8 | (shift >> 2) if sz == 1 else shift >> 2) | 1
        self.buf += _pack(SIMD_MODIMM(q, 1 if mnemonic == "bic" else 0, imm8 >> 5, cmode, 0, imm8 & 31, vd.n))

    def tbl(self, mnemonic: str, vd, table: "VList", vm) -> None:
        """tbl/tbx: look bytes up in a table of one to four consecutive registers."""
        q, _ = _vsame(_BYTES, vd, vm)
        if table.__class__ is not VList or table.arrangement != "16b" or table.index is not None:
            raise AsmError(f"{mnemonic} table must be a list of .16b registers, got {table!r}")
        op = {"tbl": 0, "tbx": 1}.get(mnemonic)
        if op is None:
            raise AsmError(f"unknown table lookup {mnemonic!r}")
        self.buf += _pack(SIMD_TABLE(q, vm.n, len(table.regs) - 1, op, table.regs[0], vd.n))

    def ldst_struct(self, mnemonic: str, regs: "VList", rn, post=None) -> None:
        """ld1-ld4/st1-st4 of whole registers or one lane, ld1r-ld4r; ``post`` is None, an
        immediate (which must equal the bytes transferred) or an x register."""
        load = mnemonic.startswith("ld")
        rep = mnemonic.endswith("r")
        count = int(mnemonic[2]) if len(mnemonic) >= 3 and mnemonic[2] in "1234" else 0
        if mnemonic[:2] not in ("ld", "st") or not count or len(mnemonic) != (4 if rep else 3) or (rep and not load):
            raise AsmError(f"unknown structure load/store {mnemonic!r}")
        if regs.__class__ is not VList:
            raise AsmError(f"{mnemonic} needs a register list, got {regs!r}")
        n = _xsp(rn)
        arr = regs.arrangement
        if regs.index is None:
            if arr not in _ARR or (arr == "1d" and count > 1 and not rep):
                raise AsmError(f"{mnemonic}: bad arrangement .{arr}")
            if not rep and len(regs.regs) != count and not (count == 1 and 1 <= len(regs.regs) <= 4):
                raise AsmError(f"{mnemonic} transfers {count} register(s), got {len(regs.regs)}")
            if rep and len(regs.regs) != count:
                raise AsmError(f"{mnemonic} transfers {count} register(s), got {len(regs.regs)}")
            q, sz = _ARR[arr]
            nbytes = (16 if q else 8) * len(regs.regs)
            if rep:
                nbytes = (1 << sz) * count
        else:
            if arr not in "bhsd" or len(regs.regs) != count or rep:
                raise AsmError(f"{mnemonic}: bad lane list {regs!r}")
            nbytes = {"b": 1, "h": 2, "s": 4, "d": 8}[arr] * count
        rm, post_flag = 0, 0
        if post is not None:
            post_flag = 1
            if post.__class__ is int:
                if post != nbytes:
                    raise AsmError(f"{mnemonic} post-index immediate must be #{nbytes}, got #{post}")
                rm = 31
            else:
                rm = _x(post)
                if rm == 31:
                    raise AsmError("post-index register cannot be xzr (use the immediate form)")
        if regs.index is None and not rep:
            opcode = {1: {1: 7, 2: 10, 3: 6, 4: 2}[len(regs.regs)], 2: 8, 3: 4, 4: 0}[count]
            self.buf += _pack(SIMD_LDST_M(q, post_flag, int(load), rm, opcode, sz, n, regs.regs[0]))
            return
        if rep:
            R, opcode, S = (count - 1) & 1, 6 | ((count - 1) >> 1), 0
            self.buf += _pack(SIMD_LDST_1(q, post_flag, 1, R, rm, opcode, S, sz, n, regs.regs[0]))
            return
        i = regs.index
        lanes = {"b": 16, "h": 8, "s": 4, "d": 2}[arr]
        if not 0 <= i < lanes:
            raise AsmError(f"lane index {i} out of range for .{arr}")
        R = (count - 1) & 1
        op_hi = (count - 1) >> 1
        if arr == "b":
            opcode, q, S, sz = 0 | op_hi, i >> 3, (i >> 2) & 1, i & 3
        elif arr == "h":
            opcode, q, S, sz = 2 | op_hi, i >> 2, (i >> 1) & 1, (i & 1) << 1
        elif arr == "s":
            opcode, q, S, sz = 4 | op_hi, i >> 1, i & 1, 0
        else:
            opcode, q, S, sz = 4 | op_hi, i, 0, 1
        self.buf += _pack(SIMD_LDST_1(q, post_flag, int(load), R, rm, opcode, S, sz, n, regs.regs[0]))

    def cnt(self, vd, vn): self.vec2("cnt", vd, vn)
    def addv(self, rd, vn): self.across("addv", rd, vn)
    def uaddlv(self, rd, vn): self.across("uaddlv", rd, vn)

    def mov_vec(self, vd, vn) -> None:
        """``mov vd.16b, vn.16b`` (orr with both sources equal)."""
        q, _ = _vsame(_BYTES, vd, vn)
        self.buf += _pack(SIMD_3SAME(q, 0, 2, vn.n, 3, vn.n, vd.n))

    def movi(self, vd, value: int, shift: int = 0, invert: bool = False) -> None:
        """movi/mvni: ``d``/``.2d`` with a byte mask, ``.8b/.16b`` bytes, ``.4h/.8h`` and
        ``.2s/.4s`` with an 8-bit value shifted left by a multiple of 8."""
        if value.__class__ is not int or shift.__class__ is not int:
            raise AsmError(f"movi immediate {value!r} must be an integer")
        if vd.__class__ is FReg and vd.kind == "d" or (vd.__class__ is VReg and vd.index is None
                                                       and vd.arrangement == "2d"):
            if invert or shift:
                raise AsmError("the 64-bit movi has no shift and no mvni form")
            if not 0 <= value < (1 << 64):
                raise AsmError(f"movi immediate {value!r} out of range")
            bits = 0
            for i in range(8):
                byte = (value >> (8 * i)) & 0xFF
                if byte not in (0, 0xFF):
                    raise AsmError(f"movi immediate {value:#x}: every byte must be 0x00 or 0xff")
                bits |= (byte & 1) << i
            q = 0 if vd.__class__ is FReg else 1
            self.buf += _pack(SIMD_MODIMM(q, 1, bits >> 5, 14, 0, bits & 31, vd.n))
            return
        if vd.__class__ is not VReg or vd.index is not None or vd.arrangement not in _NO_D:
            raise _reg_error(vd, "a vector for movi")
        q, sz = _ARR[vd.arrangement]
        imm8 = _uimm(value, 8, "movi immediate")
        if sz == 0:
            if invert or shift:
                raise AsmError("the byte movi has no shift and no mvni form")
            cmode = 14
        elif sz == 1:
            if shift not in (0, 8):
                raise AsmError(f"16-bit movi shift must be lsl #0 or #8, got {shift}")
            cmode = 8 | (shift >> 2)
        else:
            if shift not in (0, 8, 16, 24):
                raise AsmError(f"32-bit movi shift must be lsl #0/8/16/24, got {shift}")
            cmode = shift >> 2
        self.buf += _pack(SIMD_MODIMM(q, int(bool(invert)), imm8 >> 5, cmode, 0, imm8 & 31, vd.n))

    def movi_d(self, rd, value: int) -> None:
        self.movi(rd, value)

    def fmov_vec_imm(self, vd, value: float) -> None:
        q, sz = _vsame(_FP_ARRS, vd)
        imm8 = fp_imm8(value)
        self.buf += _pack(SIMD_MODIMM(q, sz & 1, imm8 >> 5, 15, 0, imm8 & 31, vd.n))

    def dup(self, vd, src) -> None:
        """``dup vd.T, wn/xn`` or ``dup vd.T, vn.E[i]``."""
        q, sz = _vsame(_INT_ARRS, vd)
        if src.__class__ is VReg:
            imm5 = _velem(src)
            if "bhsd".index(src.arrangement) != sz:
                raise AsmError(f"dup element {src!r} does not match {vd!r}")
            self.buf += _pack(SIMD_COPY(q, 0, imm5, 0, src.n, vd.n))
        else:
            self.buf += _pack(SIMD_COPY(q, 0, 1 << sz, 1, _r(src, 1 if sz == 3 else 0), vd.n))

    def dup_gpr(self, vd, rn) -> None:
        self.dup(vd, rn)

    def ins(self, vd, src) -> None:
        """``mov vd.E[i], wn/xn`` or ``mov vd.E[i], vn.E[j]`` (INS)."""
        imm5 = _velem(vd)
        if src.__class__ is VReg:
            _velem(src)  # checks the source element and its index
            if src.arrangement != vd.arrangement:
                raise AsmError(f"mov between elements of different sizes: {vd!r}, {src!r}")
            log = "bhsd".index(vd.arrangement)
            self.buf += _pack(SIMD_COPY(1, 1, imm5, src.index << log, src.n, vd.n))
        else:
            self.buf += _pack(SIMD_COPY(1, 0, imm5, 3, _r(src, 1 if vd.arrangement == "d" else 0), vd.n))

    def ins_gpr(self, vd, rn) -> None:
        self.ins(vd, rn)

    def umov(self, rd, vn) -> None:
        """``umov wd, vn.B/H/S[i]``, ``umov xd, vn.d[i]`` (printed ``mov`` for s and d)."""
        imm5 = _velem(vn)
        sf = 1 if vn.arrangement == "d" else 0
        self.buf += _pack(SIMD_COPY(sf, 0, imm5, 7, vn.n, _r(rd, sf)))

    def smov(self, rd, vn) -> None:
        """``smov wd/xd, vn.b/h[i]`` and ``smov xd, vn.s[i]``."""
        imm5 = _velem(vn)
        sf = _gpr(rd).sf
        if vn.arrangement == "d" or (vn.arrangement == "s" and not sf):
            raise AsmError(f"smov cannot sign-extend {vn!r} into {rd!r}")
        self.buf += _pack(SIMD_COPY(sf, 0, imm5, 5, vn.n, _r(rd, sf)))

    def mov_element_to_scalar(self, rd, vn) -> None:
        """``mov d0, v1.d[1]`` (DUP element, scalar)."""
        imm5 = _velem(vn)
        if rd.__class__ is not FReg or rd.kind != vn.arrangement:
            raise _reg_error(rd, f"a {vn.arrangement if vn.__class__ is VReg else ''} register")
        self.buf += _pack(SCALAR_COPY(0, imm5, 0, vn.n, rd.n))

    def fmov_upper(self, dst, src) -> None:
        """``fmov xd, vn.d[1]`` / ``fmov vd.d[1], xn``: the upper half of a q register."""
        if dst.__class__ is VReg:
            v, g, opcode = dst, src, 7
        else:
            v, g, opcode = src, dst, 6
        if v.__class__ is not VReg or v.arrangement != "d" or v.index != 1:
            raise _reg_error(v, "v<n>.d[1]")
        x = _x(g)
        self.buf += _pack(FP_INT(1, 2, 1, opcode, x if opcode == 7 else v.n, v.n if opcode == 7 else x))


_ARR = {"8b": (0, 0), "16b": (1, 0), "4h": (0, 1), "8h": (1, 1), "2s": (0, 2), "4s": (1, 2), "1d": (0, 3),
        "2d": (1, 3)}
_INT_ARRS = ("8b", "16b", "4h", "8h", "2s", "4s", "2d")
_NO_D = ("8b", "16b", "4h", "8h", "2s", "4s")
_BYTES = ("8b", "16b")
_FP_ARRS = ("2s", "4s", "2d")
# three vectors: mnemonic -> (U, opcode, arrangements, fixed size field or None)
VEC3 = {
    "add": (0, 0b10000, _INT_ARRS, None), "sub": (1, 0b10000, _INT_ARRS, None),
    "mul": (0, 0b10011, _NO_D, None), "mla": (0, 0b10010, _NO_D, None), "mls": (1, 0b10010, _NO_D, None),
    "addp": (0, 0b10111, _INT_ARRS, None),
    "cmeq": (1, 0b10001, _INT_ARRS, None), "cmtst": (0, 0b10001, _INT_ARRS, None),
    "cmgt": (0, 0b00110, _INT_ARRS, None), "cmge": (0, 0b00111, _INT_ARRS, None),
    "cmhi": (1, 0b00110, _INT_ARRS, None), "cmhs": (1, 0b00111, _INT_ARRS, None),
    "sshl": (0, 0b01000, _INT_ARRS, None), "ushl": (1, 0b01000, _INT_ARRS, None),
    "smax": (0, 0b01100, _NO_D, None), "smin": (0, 0b01101, _NO_D, None),
    "umax": (1, 0b01100, _NO_D, None), "umin": (1, 0b01101, _NO_D, None),
    "and": (0, 0b00011, _BYTES, 0), "bic": (0, 0b00011, _BYTES, 1), "orr": (0, 0b00011, _BYTES, 2),
    "orn": (0, 0b00011, _BYTES, 3), "eor": (1, 0b00011, _BYTES, 0), "bsl": (1, 0b00011, _BYTES, 1),
    "bit": (1, 0b00011, _BYTES, 2), "bif": (1, 0b00011, _BYTES, 3),
}
# three FP vectors: mnemonic -> (U, high bit of size, opcode)
VEC3_FP = {"fadd": (0, 0, 0b11010), "fsub": (0, 1, 0b11010), "fmul": (1, 0, 0b11011), "fdiv": (1, 0, 0b11111),
           "fmax": (0, 0, 0b11110), "fmin": (0, 1, 0b11110), "fmaxnm": (0, 0, 0b11000),
           "fminnm": (0, 1, 0b11000), "fcmeq": (0, 0, 0b11100), "fcmge": (1, 0, 0b11100),
           "fcmgt": (1, 1, 0b11100), "faddp": (1, 0, 0b11010), "fabd": (1, 1, 0b11010),
           "fmla": (0, 0, 0b11001), "fmls": (0, 1, 0b11001)}
PERMUTE = {"uzp1": 1, "trn1": 2, "zip1": 3, "uzp2": 5, "trn2": 6, "zip2": 7}
# two vectors: mnemonic -> (U, opcode, arrangements, fixed size field or None)
VEC2 = {"cnt": (0, 0b00101, _BYTES, 0), "not": (1, 0b00101, _BYTES, 0), "mvn": (1, 0b00101, _BYTES, 0),
        "rbit": (1, 0b00101, _BYTES, 1), "rev64": (0, 0b00000, _NO_D, None),
        "rev32": (1, 0b00000, ("8b", "16b", "4h", "8h"), None), "rev16": (0, 0b00001, _BYTES, None),
        "neg": (1, 0b01011, _INT_ARRS, None), "abs": (0, 0b01011, _INT_ARRS, None),
        "cls": (0, 0b00100, _NO_D, None), "clz": (1, 0b00100, _NO_D, None)}
# two FP vectors (and the scalar conversions): mnemonic -> (U, high bit of size, opcode)
VEC2_FP = {"fabs": (0, 1, 0b01111), "fneg": (1, 1, 0b01111), "fsqrt": (1, 1, 0b11111),
           "scvtf": (0, 0, 0b11101), "ucvtf": (1, 0, 0b11101), "fcvtzs": (0, 1, 0b11011),
           "fcvtzu": (1, 1, 0b11011), "fcvtns": (0, 0, 0b11010), "fcvtnu": (1, 0, 0b11010),
           "fcvtms": (0, 0, 0b11011), "fcvtmu": (1, 0, 0b11011), "fcvtps": (0, 1, 0b11010),
           "fcvtpu": (1, 1, 0b11010), "fcvtas": (0, 0, 0b11100), "fcvtau": (1, 0, 0b11100),
           "frintn": (0, 0, 0b11000), "frintm": (0, 0, 0b11001), "frintp": (0, 1, 0b11000),
           "frintz": (0, 1, 0b11001), "frinta": (1, 0, 0b11000), "frintx": (1, 0, 0b11001),
           "frinti": (1, 1, 0b11001), "frecpe": (0, 1, 0b11101), "frsqrte": (1, 1, 0b11101)}
CMP_ZERO = {"cmgt": (0, 0b01000), "cmeq": (0, 0b01001), "cmlt": (0, 0b01010), "cmge": (1, 0b01000),
            "cmle": (1, 0b01001)}
FCMP_ZERO = {"fcmgt": (0, 0b01100), "fcmeq": (0, 0b01101), "fcmlt": (0, 0b01110), "fcmge": (1, 0b01100),
             "fcmle": (1, 0b01101)}
SHIFT_IMM = {"shl": (0, 0b01010, True), "sshr": (0, 0b00000, False), "ushr": (1, 0b00000, False),
             "ssra": (0, 0b00010, False), "usra": (1, 0b00010, False)}
# reductions: mnemonic -> (U, opcode, 1 if the result is twice the element size)
ACROSS = {"addv": (0, 0b11011, 0), "uaddlv": (1, 0b00011, 1), "saddlv": (0, 0b00011, 1),
          "umaxv": (1, 0b01010, 0), "smaxv": (0, 0b01010, 0), "uminv": (1, 0b11010, 0),
          "sminv": (0, 0b11010, 0)}


class VList:
    """A register list ``{ v0.4s, v1.4s }`` (consecutive registers, one arrangement), with a
    lane index for ``{ v0.s }[1]``."""

    __slots__ = ("regs", "arrangement", "index")

    def __init__(self, regs: list[int], arrangement: str, index: int | None = None):
        if not 1 <= len(regs) <= 4 or any((b - a) % 32 != 1 for a, b in zip(regs, regs[1:])):
            raise AsmError("a register list has 1 to 4 consecutive registers")
        self.regs, self.arrangement, self.index = regs, arrangement, index

    def __repr__(self) -> str:
        body = "{ " + ", ".join(f"v{r}.{self.arrangement}" for r in self.regs) + " }"
        return body if self.index is None else f"{body}[{self.index}]"


SCALAR3_FP = ("fabd", "fcmeq", "fcmge", "fcmgt")
SCALAR3 = {"add": (0, 0b10000), "sub": (1, 0b10000), "cmeq": (1, 0b10001), "cmtst": (0, 0b10001),
           "cmgt": (0, 0b00110), "cmge": (0, 0b00111), "cmhi": (1, 0b00110), "cmhs": (1, 0b00111),
           "sshl": (0, 0b01000), "ushl": (1, 0b01000)}
# widening three-register: base mnemonic -> (U, opcode, 1 if the first source is already wide)
LONG3 = {"saddl": (0, 0b0000, 0), "uaddl": (1, 0b0000, 0), "saddw": (0, 0b0001, 1), "uaddw": (1, 0b0001, 1),
         "ssubl": (0, 0b0010, 0), "usubl": (1, 0b0010, 0), "ssubw": (0, 0b0011, 1), "usubw": (1, 0b0011, 1),
         "smlal": (0, 0b1000, 0), "umlal": (1, 0b1000, 0), "smlsl": (0, 0b1010, 0), "umlsl": (1, 0b1010, 0),
         "smull": (0, 0b1100, 0), "umull": (1, 0b1100, 0)}
# by element: mnemonic -> (U, opcode, FP?)
BY_ELEMENT = {"fmla": (0, 0b0001, True), "fmls": (0, 0b0101, True), "fmul": (0, 0b1001, True),
              "fmulx": (1, 0b1001, True), "mla": (1, 0b0000, False), "mls": (1, 0b0100, False),
              "mul": (0, 0b1000, False)}
WIDEN = {"ushll": (1, True), "sshll": (0, True), "uxtl": (1, False), "sxtl": (0, False)}  # (U, takes #amount)
NARROW = {"xtn": (0, 0b10010), "sqxtn": (0, 0b10100), "uqxtn": (1, 0b10100), "sqxtun": (1, 0b10010)}
NARROW_SHIFT = {"shrn": (0, 0b10000), "rshrn": (0, 0b10001)}
PAIRWISE_LONG = {"saddlp": (0, 0b00010), "uaddlp": (1, 0b00010), "sadalp": (0, 0b00110),
                 "uadalp": (1, 0b00110)}
STRUCT_LDST = ("ld1", "ld2", "ld3", "ld4", "st1", "st2", "st3", "st4", "ld1r", "ld2r", "ld3r", "ld4r")


def _vsame(arrs, *vs) -> tuple[int, int]:
    """(Q, size) of vectors that must share one arrangement out of ``arrs``."""
    first = vs[0]
    for v in vs:
        if v.__class__ is not VReg or v.index is not None or v.arrangement not in arrs:
            raise _reg_error(v, f"a vector .{'/.'.join(arrs)}")
        if v.arrangement != first.arrangement:
            raise AsmError(f"vectors must have the same arrangement, got {', '.join(map(repr, vs))}")
    return _ARR[first.arrangement]


def _gpr_or_sp(r) -> GReg:
    if r.__class__ is GReg:
        return r
    raise _reg_error(r, "a general-purpose register or sp")


def _prf(rt):
    """prfm's first operand is a prefetch operation number; give it a kind for the table."""
    return _PRFOP if rt.__class__ is int else rt


class _PrfOp:
    kind = "prfop"
    n = 0

    def __repr__(self) -> str:
        return "prefetch operation"


_PRFOP = _PrfOp()


def _prfop(p) -> int:
    if p.__class__ is str:
        if p.lower() not in PREFETCH_OPS:
            raise AsmError(f"unknown prefetch operation {p!r}")
        return PREFETCH_OPS[p.lower()]
    return _uimm(p, 5, "prefetch operation")


def _velem(v) -> int:
    sizes = {"b": (0, 16), "h": (1, 8), "s": (2, 4), "d": (3, 2)}
    if v.__class__ is not VReg or v.index is None or v.arrangement not in sizes:
        raise _reg_error(v, "a vector element like v0.d[1]")
    log, count = sizes[v.arrangement]
    if not 0 <= v.index < count:
        raise AsmError(f"element index {v.index} out of range for .{v.arrangement}")
    return ((v.index << 1) | 1) << log


def fp_imm8(value) -> int:
    """The 8-bit FP immediate (sign, 3-bit exponent, 4-bit fraction) for ``value``, exactly:
    values +-(16..31)/16 * 2**(-3..4)."""
    if value.__class__ not in (int, float):
        raise AsmError(f"FP immediate must be a number, got {value!r}")
    v = float(value)
    sign = 0
    if v < 0 or (v == 0 and str(v).startswith("-")):
        sign, v = 1, -v
    for e in range(-3, 5):
        frac = v / (2.0 ** e) * 16 - 16
        if 0 <= frac < 16 and frac == int(frac):
            exp3 = (e + 3) ^ 4  # imm8<6:4> is NOT(b):c:d where the exponent is e = (bcd ^ 100) - 3
            return (sign << 7) | (exp3 << 4) | int(frac)
    raise AsmError(f"{value!r} cannot be encoded as an 8-bit FP immediate")


# ldst's fast path: mnemonic -> {register it can transfer: (scaled-offset word, unscaled-offset
# word, log2 of the access size)}, each word complete but for its offset and base register fields
# (LDST_UIMM imm12 at bit 10, LDST_IMM9 imm9 at bit 12, Rn at bit 5 in both)
_LDST_WORDS: dict[str, dict] = {}
for _mn, _table in LDST.items():
    _LDST_WORDS[_mn] = {}
    for _rt in (*X, *W, XZR, WZR, *B, *H, *S, *D, *Q):
        _entry = _table.get(_rt.kind)
        if _entry is not None:
            _LDST_WORDS[_mn][_rt] = (LDST_UIMM(*_entry, 0, 0, _rt.n), LDST_IMM9(*_entry, 0, 0, 0, _rt.n),
                                     _ldst_scale(*_entry))


# a.ldr(X0, X1, 8), a.strb(W2, SP, 1)...: one method per mnemonic, a shorthand for ldst
def _make_ldst(mn: str):
    def method(self, rt, rn, offset: int = 0):
        self.ldst(mn, rt, rn, offset)
    method.__name__ = mn
    method.__doc__ = f"``{mn} rt, [rn, #offset]`` (see ``Assembler.ldst``)"
    return method


for _mn in LDST:
    setattr(Assembler, _mn, _make_ldst(_mn))
del _mn, _table, _rt, _entry


class Encoded(dict):
    """The bytes of one instruction (an ``Assembler`` method, or a function emitting a fixed
    sequence through an Assembler) for given operands, encoded on first use: the same idea as
    x86-64's ``asm.Encoded``.

    An encoding depends on nothing but the form and its operands, so a code generator that emits
    the same few instructions over and over can look their 4 bytes up::

        LDR = Encoded("ldr")
        code += LDR[X[0], X[20], 56]                 # ldr x0, [x20, #56]: 80 1e 40 f9
        STR_PRE = Encoded("ldst_pre", "str")         # leading operands fixed for the table
        code += STR_PRE[X[30], SP, -16]              # str x30, [sp, #-16]!

    A key is the method's operand tuple after the fixed ones (a lone operand needs no tuple). The
    instruction is encoded at address 0, so an integer branch target in a key is the distance
    from the instruction. Registers are distinct objects (X[3], W[3] and D[3] are three keys),
    but True and 1.0 are equal to 1 as keys while the methods refuse them: an immediate that comes
    from outside is checked to be an int (``value.__class__ is int``) before it is looked up, and
    a key holding another kind of number is not stored. A bad operand raises the method's
    AsmError and is not stored either. The table empties itself when it reaches ``MAX`` entries,
    so it stays small whatever code is generated.
    """

    MAX = 4096
    __slots__ = ("method", "fixed")

    def __init__(self, name, *fixed):
        super().__init__()
        self.method = getattr(Assembler, name) if name.__class__ is str else name
        self.fixed = fixed

    def __missing__(self, key) -> bytes:
        ops = key if key.__class__ is tuple else (key,)
        a = Assembler()
        self.method(a, *self.fixed, *ops)
        code = bytes(a.buf)
        if any(isinstance(x, (int, float)) and x.__class__ is not int for x in ops):
            return code     # (True, 1.0, an IntEnum: equal to an int as a key)
        if len(self) >= self.MAX:
            self.clear()
        self[key] = code
        return code
