"""The x86-64 encoder: one ModRM/SIB/REX engine and one table line per instruction form.

Every form is written once, the way the Intel SDM's opcode tables write it::

    form("addq", "r64 r64", "MR", "REX.W 01 /r")

- the AT&T mnemonic that llvm-objdump prints;
- the operand kinds in INTEL order (destination first), which is also the argument order of the
  generated method. Kinds: ``r8 r16 r32 r64`` general registers, ``x`` an xmm register,
  ``m8 m16 m32 m64 m128`` memory (a :class:`Mem`), ``i8 i16 i32 i64`` immediates (``i8`` of a
  wider operation is sign-extended by the CPU), ``u8`` an unsigned 8-bit count, ``rel8 rel32``
  branch displacements, ``o64`` a 64-bit absolute address (movabs's moffs); implicit operands that the encoding does not store, and that the method
  therefore does not take: ``a8 a16 a32 a64`` the accumulator, ``cl`` and ``one`` (a count of 1);
- the SDM's operand-encoding column: ``ZO`` none, ``O`` register in the opcode's low bits,
  ``OI`` that plus an immediate, ``I`` immediate, ``D`` displacement, ``M`` ModRM.rm with an
  opcode digit, ``MI`` that plus an immediate, ``MR``/``RM`` ModRM.rm and ModRM.reg in that order,
  ``RMI`` that plus an immediate. The letters name the explicit operands in order;
- the SDM's opcode column: mandatory prefixes, ``REX.W``, opcode bytes (``+r`` adds a register),
  ``/r`` or ``/digit`` (constant bytes after it follow the ModRM bytes), ``ib iw id io``
  immediates, ``cb cd`` displacements.

At import time each line is compiled into a plain closure and installed as an :class:`Assembler`
method named after the mnemonic and the operand kinds: ``ADDQ_rr``, ``ADDQ_rm``, ``ADDQ_mi8``,
``MOVSD_xm``, ``SHLQ_rc`` (by %cl), ``SHLQ_r1`` (by one), ``ADDQ_ai32`` (accumulator). Nothing is
interpreted while emitting. A few choosers (``ADDQ_ri``, ``MOVQ_ri``...) pick the encoding
llvm-mc-19 picks. Registers are plain ints (:data:`RAX`... :data:`R15`, :data:`XMM0`...), memory
operands are :class:`Mem` tuples, and every refusal is an :class:`AsmError`. For example::

    a = Assembler()
    done = a.label("done")
    a.MOVQ_rm(RAX, Mem(R13, -8))           # movq -0x8(%r13), %rax
    a.TESTB_ri(RAX, 1)                     # testb $0x1, %al
    a.jcc("ne", done)                      # jne done: rel32, done is not bound yet
    a.INCL_m(Mem(RAX))                     # incl (%rax)
    a.bind(done)
    a.MOVABSQ_ri64(RDI, 0)                 # movabsq $0x0, %rdi ...
    a.reloc("patch_64", "_JIT_OPARG")      # ... whose imm64 is the OPARG hole
    code = a.finish()                      # AsmError if a label was never bound
"""

from __future__ import annotations

from typing import Callable, NamedTuple

from refjit.codebuf import Label, Reloc
from refjit.errors import AsmError

# --- registers -----------------------------------------------------------------------------------

GPR64 = ("rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
         "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15")
GPR32 = ("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi",
         "r8d", "r9d", "r10d", "r11d", "r12d", "r13d", "r14d", "r15d")
GPR16 = ("ax", "cx", "dx", "bx", "sp", "bp", "si", "di",
         "r8w", "r9w", "r10w", "r11w", "r12w", "r13w", "r14w", "r15w")
GPR8 = ("al", "cl", "dl", "bl", "spl", "bpl", "sil", "dil",
        "r8b", "r9b", "r10b", "r11b", "r12b", "r13b", "r14b", "r15b")
(RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8, R9, R10, R11, R12, R13, R14, R15) = range(16)
XMM0, XMM1, XMM2, XMM3, XMM4, XMM5, XMM6, XMM7 = range(8)
XMM8, XMM9, XMM10, XMM11, XMM12, XMM13, XMM14, XMM15 = range(8, 16)

# The legacy high-byte registers share numbers 4-7 with spl..dil; they exist only without REX.
HIGH8 = 0x100
AH, CH, DH, BH = HIGH8 | 4, HIGH8 | 5, HIGH8 | 6, HIGH8 | 7
HIGH8_NAMES = {AH: "ah", CH: "ch", DH: "dh", BH: "bh"}

RIP = 0x10          # only as the base of a Mem: RIP-relative addressing
NO_REX_IF_HIGH8 = "%ah, %ch, %dh and %bh cannot be used in an instruction that needs a REX prefix"

# Segment override prefixes.
ES, CS, SS, DS, FS, GS = 0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65
SEGMENTS = {"es": ES, "cs": CS, "ss": SS, "ds": DS, "fs": FS, "gs": GS}
_SEGMENT_PREFIXES = frozenset(SEGMENTS.values())

# Condition codes: the low nibble of Jcc/SETcc/CMOVcc, under the names llvm-objdump prints.
CC = {"o": 0, "no": 1, "b": 2, "ae": 3, "e": 4, "ne": 5, "be": 6, "a": 7,
      "s": 8, "ns": 9, "p": 10, "np": 11, "l": 12, "ge": 13, "le": 14, "g": 15}
# Other spellings both assemblers accept for the same conditions.
CC_ALIASES = {"c": "b", "nae": "b", "nb": "ae", "nc": "ae", "z": "e", "nz": "ne", "na": "be",
              "nbe": "a", "pe": "p", "po": "np", "nge": "l", "nl": "ge", "ng": "le", "nle": "g"}


class Mem(NamedTuple):
    """A memory operand: ``seg:disp(base, index, scale)``.

    ``base`` is a GPR number, :data:`RIP`, or None (absolute address: no base, optional index).
    ``seg`` is a segment prefix byte (:data:`FS`, :data:`GS`, :data:`CS`...) or 0.
    """
    base: int | None
    disp: int = 0
    index: int | None = None
    scale: int = 1
    seg: int = 0


_SCALE_BITS = {1: 0, 2: 1, 4: 2, 8: 3}


def _disp32(disp: int) -> bytes:
    if not -0x80000000 <= disp <= 0x7FFFFFFF:
        raise AsmError(f"displacement {disp:#x} does not fit in 32 signed bits")
    return (disp & 0xFFFFFFFF).to_bytes(4, "little")


def modrm_mem(reg: int, m: Mem) -> tuple[int, bytes]:
    """ModRM, SIB and displacement bytes addressing ``m`` with ``reg`` (0-7) in ModRM.reg.

    Returns the REX.X/REX.B bits (0b10 / 0b01) and the bytes. The special cases of the ISA:
    rm=100 means "a SIB follows" (so %rsp/%r12 as a base always need a SIB), mod=00 with rm=101
    means RIP-relative (so %rbp/%r13 as a base always need a displacement, 0 as disp8), SIB
    index=100 means "no index" (so %rsp can never be an index) and SIB base=101 with mod=00 means
    "no base, disp32" (the absolute form).
    """
    base, disp, index, scale = m.base, m.disp, m.index, m.scale
    if m.seg and m.seg not in _SEGMENT_PREFIXES:
        raise AsmError(f"{m.seg!r} is not a segment prefix (use FS, GS, CS...)")
    reg <<= 3
    xb = 0
    if index is None:
        sib_index = 4 << 3
    else:
        if index == RSP or not 0 <= index < 16:
            raise AsmError("%rsp cannot be an index register" if index == RSP
                           else f"bad index register {index!r}")
        if scale not in _SCALE_BITS:
            raise AsmError(f"scale must be 1, 2, 4 or 8, not {scale}")
        xb = (index & 8) >> 2
        sib_index = _SCALE_BITS[scale] << 6 | (index & 7) << 3
    if base == RIP:
        if index is not None:
            raise AsmError("RIP-relative addressing takes no index register")
        return 0, bytes((reg | 5,)) + _disp32(disp)
    if base is None:
        return xb, bytes((reg | 4, sib_index | 5)) + _disp32(disp)
    if not 0 <= base < 16:
        raise AsmError(f"bad base register {base!r}")
    xb |= base >> 3
    b3 = base & 7
    if disp == 0 and b3 != 5:
        mod, tail = 0x00, b""
    elif -128 <= disp <= 127:
        mod, tail = 0x40, (disp & 0xFF).to_bytes(1, "little")
    else:
        mod, tail = 0x80, _disp32(disp)
    if index is None and b3 != 4:
        return xb, bytes((mod | reg | b3,)) + tail
    return xb, bytes((mod | reg | 4, sib_index | b3)) + tail


# Code addresses the same few operands (frame and stack slots) over and over: remember them.
_MEM_CACHE: dict[tuple[int, Mem], tuple[int, bytes]] = {}
_MEM_CACHE_MAX = 1 << 16


def modrm_mem_cached(reg: int, m: Mem) -> tuple[int, bytes]:
    enc = _MEM_CACHE.get((reg, m))
    if enc is None:
        enc = modrm_mem(reg, m)
        if len(_MEM_CACHE) >= _MEM_CACHE_MAX:
            _MEM_CACHE.clear()
        _MEM_CACHE[(reg, m)] = enc
    return enc


# --- the form table ------------------------------------------------------------------------------

IMPLICIT = {"a8", "a16", "a32", "a64", "cl", "one"}
_REGS = frozenset(range(16))
_BYTE_REGS = _REGS | {AH, CH, DH, BH}
_KIND_LETTER = {"r8": "r", "r16": "r", "r32": "r", "r64": "r", "x": "x",
                "m": "m", "m8": "m", "m16": "m", "m32": "m", "m64": "m", "m128": "m",
                "i8": "i8", "i16": "i16", "i32": "i32", "i64": "i64", "u8": "i8", "u16": "i16",
                "rel8": "d8", "rel32": "d32", "o64": "o",
                "a8": "a", "a16": "a", "a32": "a", "a64": "a", "cl": "c", "one": "1"}
_IMM_SIZE = {"ib": 1, "iw": 2, "id": 4, "io": 8, "cb": 1, "cd": 4}
_WIDTH = {"r8": 8, "r16": 16, "r32": 32, "r64": 64, "m8": 8, "m16": 16, "m32": 32, "m64": 64,
          "a8": 8, "a16": 16, "a32": 32, "a64": 64}


class Form(NamedTuple):
    """One instruction form as declared in the table, plus the method compiled from it."""
    name: str           # API method name, e.g. ADDQ_ri8
    mnemonic: str       # AT&T mnemonic as llvm-objdump prints it
    kinds: tuple        # operand kinds in Intel order, implicit ones included
    openc: str          # SDM operand-encoding column
    spec: str           # SDM opcode column
    opsize: int         # operation width in bits (immediates are normalised to it)
    emit: Callable      # emit(assembler, *explicit_operands)
    lockable: bool      # may take a LOCK prefix (a read-modify-write of memory)


FORMS: dict[str, Form] = {}
BY_MNEMONIC: dict[str, list[Form]] = {}


def _parse_spec(spec: str):
    pre, opc, post, w, digit, imm = bytearray(), bytearray(), bytearray(), 0, None, 0
    for tok in spec.split():
        if tok == "REX.W":
            w = 8
        elif tok in _IMM_SIZE:
            imm = _IMM_SIZE[tok]
        elif tok == "/r":
            digit = "r"
        elif tok.startswith("/"):
            digit = int(tok[1:])
        elif tok.endswith("+r"):     # the register goes in the low bits (Op/En O, OI)
            opc.append(int(tok[:-2], 16))
        elif not opc and tok in ("66", "F2", "F3"):
            pre.append(int(tok, 16))
        elif digit is not None:      # a constant byte after ModRM (e.g. a cmpsd predicate)
            post.append(int(tok, 16))
        else:
            opc.append(int(tok, 16))
    return bytes(pre), bytes(opc), bytes(post), w, digit, imm


def _imm_range(kind: str, opsize: int) -> tuple[int, int]:
    """Values accepted for an immediate field: sign-extended fields take their signed range,
    fields as wide as the operation also take the unsigned range (``movl $0xffffffff``)."""
    if kind in ("u8", "u16"):
        bits = 8 if kind == "u8" else 16
        return -(1 << (bits - 1)), (1 << bits) - 1
    if kind == "o64":
        return -(1 << 63), (1 << 64) - 1
    bits = int(kind[1:] if kind[0] == "i" else kind[3:])
    if kind[0] == "i" and bits >= opsize:
        return -(1 << (bits - 1)), (1 << bits) - 1
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def _compile(mnemonic: str, kinds: tuple, openc: str, spec: str, opsize: int,
             lockable: bool) -> Callable:
    """Turn one table line into a closure ``emit(asm, *operands)`` appending the bytes.

    Everything that depends only on the form is decided here; the closure checks the operands,
    then appends segment, 66/F2/F3, LOCK, REX, opcode, ModRM/SIB/displacement, immediate.
    Nothing is written before all checks have passed.
    """
    pre, opc, post, w, digit, imm_size = _parse_spec(spec)
    explicit = [k for k in kinds if k not in IMPLICIT]
    roles = {"O": "opreg", "I": "imm", "D": "rel", "M": "rm", "R": "reg"}
    role_of = {}
    for letter, kind_index in zip(openc if openc != "ZO" else "", range(len(explicit))):
        role_of[roles[letter]] = kind_index
    if len(explicit) != (0 if openc == "ZO" else len(openc)):
        raise ValueError(f"{mnemonic} {kinds}: operand kinds do not match {openc}")
    byte_regs = [i for i, k in enumerate(explicit) if k == "r8"]
    # every register operand is checked, so that a wrong number can never be encoded silently
    reg_checks = tuple((i, _BYTE_REGS if k == "r8" else _REGS, k) for i, k in enumerate(explicit)
                       if k in ("r8", "r16", "r32", "r64", "x"))
    rm_i = role_of.get("rm")
    rm_is_mem = rm_i is not None and explicit[rm_i].startswith("m")
    reg_i = role_of.get("reg")
    op_i = role_of.get("opreg")
    imm_i = role_of.get("imm", role_of.get("rel"))
    if imm_i is not None:
        lo, hi = _imm_range(explicit[imm_i], opsize)
        imm_mask = (1 << (8 * imm_size)) - 1
        imm_what = "displacement" if "rel" in role_of else "immediate"
    if (digit is not None) != (rm_i is not None):
        raise ValueError(f"{mnemonic}: ModRM digit/operand mismatch")
    fixed_reg = digit if isinstance(digit, int) else 0
    head = pre  # legacy/mandatory prefixes; segment and REX are added per call
    last = opc[-1]
    opc_head = opc[:-1]
    mem_cache = _MEM_CACHE

    def emit(asm: "Assembler", *ops):
        for i, valid, kind in reg_checks:
            if ops[i] not in valid:
                raise AsmError(f"{mnemonic}: {ops[i]!r} is not a {kind} register number")
        rex = w
        need_rex = forbid_rex = False
        if byte_regs:
            for i in byte_regs:
                r = ops[i]
                if r & HIGH8:
                    forbid_rex = True
                elif 4 <= r < 8:
                    need_rex = True
        if reg_i is not None:
            r = ops[reg_i]
            rex |= (r & 8) >> 1
            r &= 7
        else:
            r = fixed_reg
        seg = 0
        if rm_i is not None:
            if rm_is_mem:
                m = ops[rm_i]
                enc = mem_cache.get((r, m))
                xb, tail = enc if enc is not None else modrm_mem_cached(r, m)
                rex |= xb
                seg = m.seg
            else:
                b = ops[rm_i]
                rex |= (b & 8) >> 3
                tail = bytes((0xC0 | r << 3 | (b & 7),))
            if post:
                tail += post
            op = opc
        elif op_i is not None:
            b = ops[op_i]
            rex |= (b & 8) >> 3
            op = opc_head + bytes((last | (b & 7),))
            tail = b""
        else:
            op = opc
            tail = b""
        if imm_i is not None:
            v = ops[imm_i]
            if not lo <= v <= hi:
                raise AsmError(f"{imm_what} {v:#x} out of range for {mnemonic} "
                               f"({lo:#x}..{hi:#x})")
            tail += (v & imm_mask).to_bytes(imm_size, "little")
        if forbid_rex and (rex or need_rex):
            raise AsmError(NO_REX_IF_HIGH8)
        if asm._lock and not lockable:
            raise AsmError(f"lock prefix is not allowed with {mnemonic} {' '.join(kinds)}")
        buf = asm.buf
        if seg:
            buf.append(seg)
        if head:
            buf += head
        if asm._lock:     # both assemblers order: segment, operand size (66), lock, REX
            buf.append(0xF0)
            asm._lock = False
        if rex or need_rex:
            buf.append(0x40 | rex)
        buf += op
        buf += tail

    emit.__name__ = mnemonic
    return emit


LOCKABLE = {"add", "adc", "and", "btc", "btr", "bts", "cmpxchg", "cmpxchg8b", "cmpxchg16b", "dec",
            "inc", "neg", "not", "or", "sbb", "sub", "xadd", "xchg", "xor"}


def form(mnemonic: str, kinds: str, openc: str, spec: str, name: str | None = None) -> Form:
    """Declare one instruction form (see the module docstring) and compile its method."""
    kinds_t = tuple(kinds.split())
    widths = [_WIDTH[k] for k in kinds_t if k in _WIDTH]
    opsize = widths[0] if widths else 64
    if name is None:
        letters = "".join(_KIND_LETTER[k] for k in kinds_t)
        name = f"{mnemonic.upper()}_{letters}" if letters else mnemonic.upper()
    if name in FORMS:
        raise ValueError(f"duplicate form {name}")
    # LOCK needs a read-modify-write of memory: the memory operand is the destination (either
    # operand for the symmetric xchg).
    stem = mnemonic if mnemonic in LOCKABLE else mnemonic[:-1]
    lockable = stem in LOCKABLE and bool(kinds_t) and (
        kinds_t[0].startswith("m") or (stem == "xchg" and any(k.startswith("m") for k in kinds_t)))
    f = Form(name, mnemonic, kinds_t, openc, spec, opsize,
             _compile(mnemonic, kinds_t, openc, spec, opsize, lockable), lockable)
    FORMS[name] = f
    BY_MNEMONIC.setdefault(mnemonic, []).append(f)
    return f


_SUFFIX = {8: "b", 16: "w", 32: "l", 64: "q"}
_PFX = {8: "", 16: "66 ", 32: "", 64: "REX.W "}
_IMMW = {8: "ib", 16: "iw", 32: "id", 64: "id"}
_IKIND = {8: "i8", 16: "i16", 32: "i32", 64: "i32"}


# Integer families whose AT&T mnemonic takes a b/w/l/q size suffix, which may be left out when a
# register operand gives the size (`add %rax, %rbx`).
SIZED_STEMS: set[str] = {"lea", "bswap", "push", "pop"} | {f"cmov{cc}" for cc in CC}


def _sized(stem: str, sizes, build):
    """Helper for the integer families: call ``build(mnemonic, width, prefix, r, m)`` per size."""
    SIZED_STEMS.add(stem)
    for n in sizes:
        build(stem + _SUFFIX[n], n, _PFX[n], f"r{n}", f"m{n}")


# ALU group: add or adc sbb and sub xor cmp. The order of declaration is the order of
# preference when several forms fit (llvm-mc's choice): imm8, then accumulator, then imm32.
for _stem, _digit in (("add", 0), ("or", 1), ("adc", 2), ("sbb", 3),
                      ("and", 4), ("sub", 5), ("xor", 6), ("cmp", 7)):
    def _alu(mn, n, p, r, m, base=_digit * 8, d=_digit):
        one = 0 if n == 8 else 1
        form(mn, f"{r} {r}", "MR", f"{p}{base + one:02X} /r")
        form(mn, f"{m} {r}", "MR", f"{p}{base + one:02X} /r")
        form(mn, f"{r} {m}", "RM", f"{p}{base + 2 + one:02X} /r")
        if n != 8:
            form(mn, f"{r} i8", "MI", f"{p}83 /{d} ib")
        form(mn, f"a{n} {_IKIND[n]}", "I", f"{p}{base + 4 + one:02X} {_IMMW[n]}")
        form(mn, f"{r} {_IKIND[n]}", "MI", f"{p}{0x80 + one:02X} /{d} {_IMMW[n]}")
        if n != 8:
            form(mn, f"{m} i8", "MI", f"{p}83 /{d} ib")
        form(mn, f"{m} {_IKIND[n]}", "MI", f"{p}{0x80 + one:02X} /{d} {_IMMW[n]}")
    _sized(_stem, (8, 16, 32, 64), _alu)


def _test(mn, n, p, r, m):
    one = 0 if n == 8 else 1
    form(mn, f"{r} {r}", "MR", f"{p}{0x84 + one:02X} /r")
    form(mn, f"{m} {r}", "MR", f"{p}{0x84 + one:02X} /r")
    form(mn, f"{r} {m}", "RM", f"{p}{0x84 + one:02X} /r")   # same encoding: TEST is symmetric
    form(mn, f"a{n} {_IKIND[n]}", "I", f"{p}{0xA8 + one:02X} {_IMMW[n]}")
    form(mn, f"{r} {_IKIND[n]}", "MI", f"{p}{0xF6 + one:02X} /0 {_IMMW[n]}")
    form(mn, f"{m} {_IKIND[n]}", "MI", f"{p}{0xF6 + one:02X} /0 {_IMMW[n]}")


_sized("test", (8, 16, 32, 64), _test)


def _mov(mn, n, p, r, m):
    one = 0 if n == 8 else 1
    form(mn, f"{r} {r}", "MR", f"{p}{0x88 + one:02X} /r")
    form(mn, f"{m} {r}", "MR", f"{p}{0x88 + one:02X} /r")
    form(mn, f"{r} {m}", "RM", f"{p}{0x8A + one:02X} /r")
    if n == 64:
        form(mn, "r64 i32", "MI", "REX.W C7 /0 id")          # sign-extended, preferred
        form(mn, "r64 i64", "OI", "REX.W B8+r io")          # llvm-mc turns it into movabsq
    else:
        form(mn, f"{r} {_IKIND[n]}", "OI", f"{p}{0xB0 + 8 * one:02X}+r {_IMMW[n]}")
    form(mn, f"{m} {_IKIND[n]}", "MI", f"{p}{0xC6 + one:02X} /0 {_IMMW[n]}")


_sized("mov", (8, 16, 32, 64), _mov)
form("movabsq", "r64 i64", "OI", "REX.W B8+r io")
# The accumulator from/to a 64-bit absolute address (the SDM's FD/TD: the address is an io field).
for _n in (8, 16, 32, 64):
    form("movabs" + _SUFFIX[_n], f"a{_n} o64", "I", f"{_PFX[_n]}{0xA0 + (_n > 8):02X} io")
    form("movabs" + _SUFFIX[_n], f"o64 a{_n}", "I", f"{_PFX[_n]}{0xA2 + (_n > 8):02X} io")

for _n in (16, 32, 64):
    form("lea" + _SUFFIX[_n], f"r{_n} m", "RM", f"{_PFX[_n]}8D /r")

# Zero and sign extension (AT&T names: source width letter, then destination width letter).
for _mn, _dst, _src, _spec in (
        ("movzbw", 16, 8, "66 0F B6"), ("movzbl", 32, 8, "0F B6"), ("movzbq", 64, 8, "REX.W 0F B6"),
        ("movzwl", 32, 16, "0F B7"), ("movzwq", 64, 16, "REX.W 0F B7"),
        ("movsbw", 16, 8, "66 0F BE"), ("movsbl", 32, 8, "0F BE"), ("movsbq", 64, 8, "REX.W 0F BE"),
        ("movswl", 32, 16, "0F BF"), ("movswq", 64, 16, "REX.W 0F BF"),
        ("movslq", 64, 32, "REX.W 63")):
    form(_mn, f"r{_dst} r{_src}", "RM", f"{_spec} /r")
    form(_mn, f"r{_dst} m{_src}", "RM", f"{_spec} /r")

# One-operand groups: F6/F7 (not neg mul imul div idiv) and FE/FF (inc dec).
for _stem, _op, _digit in (("inc", 0xFE, 0), ("dec", 0xFE, 1), ("not", 0xF6, 2),
                           ("neg", 0xF6, 3), ("mul", 0xF6, 4), ("imul", 0xF6, 5),
                           ("div", 0xF6, 6), ("idiv", 0xF6, 7)):
    def _unary(mn, n, p, r, m, op=_op, d=_digit):
        one = 0 if n == 8 else 1
        form(mn, r, "M", f"{p}{op + one:02X} /{d}")
        form(mn, m, "M", f"{p}{op + one:02X} /{d}")
    _sized(_stem, (8, 16, 32, 64), _unary)


def _imul(mn, n, p, r, m):
    form(mn, f"{r} {r}", "RM", f"{p}0F AF /r")
    form(mn, f"{r} {m}", "RM", f"{p}0F AF /r")
    for src in (r, m):
        form(mn, f"{r} {src} i8", "RMI", f"{p}6B /r ib")
        form(mn, f"{r} {src} {_IKIND[n]}", "RMI", f"{p}69 /r {_IMMW[n]}")


_sized("imul", (16, 32, 64), _imul)

# Sign extension of the accumulator.
form("cbtw", "", "ZO", "66 98")
form("cwtl", "", "ZO", "98")
form("cltq", "", "ZO", "REX.W 98")
form("cwtd", "", "ZO", "66 99")
form("cltd", "", "ZO", "99")
form("cqto", "", "ZO", "REX.W 99")

# Shifts and rotates: by one (the short form llvm picks for $1), by %cl, by an immediate.
for _stem, _digit in (("rol", 0), ("ror", 1), ("rcl", 2), ("rcr", 3),
                      ("shl", 4), ("shr", 5), ("sar", 7)):
    def _shift(mn, n, p, r, m, d=_digit):
        one = 0 if n == 8 else 1
        for dst in (r, m):
            form(mn, f"{dst} one", "M", f"{p}{0xD0 + one:02X} /{d}")
            form(mn, f"{dst} cl", "M", f"{p}{0xD2 + one:02X} /{d}")
            form(mn, f"{dst} u8", "MI", f"{p}{0xC0 + one:02X} /{d} ib")
    _sized(_stem, (8, 16, 32, 64), _shift)

# Bit tests: register bit index (MR) or immediate (0F BA /digit ib).
for _stem, _op, _digit in (("bt", 0xA3, 4), ("bts", 0xAB, 5), ("btr", 0xB3, 6), ("btc", 0xBB, 7)):
    def _bt(mn, n, p, r, m, op=_op, d=_digit):
        for dst in (r, m):
            form(mn, f"{dst} {r}", "MR", f"{p}0F {op:02X} /r")
            form(mn, f"{dst} u8", "MI", f"{p}0F BA /{d} ib")
    _sized(_stem, (16, 32, 64), _bt)

# Bit scans and counts. bsf/bsr are baseline; tzcnt/lzcnt/popcnt need BMI1/LZCNT/POPCNT, but
# llvm-objdump prints F3 0F BC as tzcnt whatever the target (clang emits `rep bsf` for ctz).
# A mandatory F3 comes after 66 and before REX, as both assemblers order them.
for _stem, _spec in (("bsf", "0F BC"), ("bsr", "0F BD"), ("tzcnt", "F3 0F BC"),
                     ("lzcnt", "F3 0F BD"), ("popcnt", "F3 0F B8")):
    def _scan(mn, n, p, r, m, spec=_spec):
        if spec.startswith("F3 ") and p == "REX.W ":
            spec = "F3 REX.W " + spec[3:]
        else:
            spec = p + spec
        form(mn, f"{r} {r}", "RM", f"{spec} /r")
        form(mn, f"{r} {m}", "RM", f"{spec} /r")
    _sized(_stem, (16, 32, 64), _scan)

# Double-precision shifts (128-bit arithmetic): by an immediate or by %cl.
for _stem, _op in (("shld", 0xA4), ("shrd", 0xAC)):
    def _dshift(mn, n, p, r, m, op=_op):
        for dst in (r, m):
            form(mn, f"{dst} {r} u8", "MRI", f"{p}0F {op:02X} /r ib")
            form(mn, f"{dst} {r} cl", "MR", f"{p}0F {op + 1:02X} /r")
    _sized(_stem, (16, 32, 64), _dshift)

form("bswapl", "r32", "O", "0F C8+r")
form("bswapq", "r64", "O", "REX.W 0F C8+r")

for _cc, _code in CC.items():
    form(f"set{_cc}", "r8", "M", f"0F {0x90 + _code:02X} /0")
    form(f"set{_cc}", "m8", "M", f"0F {0x90 + _code:02X} /0")
    for _n in (16, 32, 64):
        form(f"cmov{_cc}{_SUFFIX[_n]}", f"r{_n} r{_n}", "RM", f"{_PFX[_n]}0F {0x40 + _code:02X} /r")
        form(f"cmov{_cc}{_SUFFIX[_n]}", f"r{_n} m{_n}", "RM", f"{_PFX[_n]}0F {0x40 + _code:02X} /r")
    form(f"j{_cc}", "rel8", "D", f"{0x70 + _code:02X} cb")
    form(f"j{_cc}", "rel32", "D", f"0F {0x80 + _code:02X} cd")

form("jmp", "rel8", "D", "EB cb")
form("jmp", "rel32", "D", "E9 cd")
form("callq", "rel32", "D", "E8 cd")
# Indirect branches: the operand is the target's location (AT&T writes it with a '*').
form("jmpq", "r64", "M", "FF /4")
form("jmpq", "m64", "M", "FF /4")
form("callq", "r64", "M", "FF /2")
form("callq", "m64", "M", "FF /2")

form("pushq", "r64", "O", "50+r")
form("pushq", "m64", "M", "FF /6")
form("pushq", "i8", "I", "6A ib")
form("pushq", "i32", "I", "68 id")
form("pushw", "r16", "O", "66 50+r")
form("popq", "r64", "O", "58+r")
form("popq", "m64", "M", "8F /0")
form("popw", "r16", "O", "66 58+r")
form("retq", "", "ZO", "C3")
form("retq", "u16", "I", "C2 iw")


def _xchg(mn, n, p, r, m):
    if n != 8:
        # With the accumulator on either side llvm uses the one-byte 90+r form. xchgl %eax,%eax
        # cannot use it (90 is nop, which does not clear the upper half of %rax): the API
        # refuses XCHGL_ar(RAX) and the text front end encodes it with ModRM (87 c0).
        form(mn, f"a{n} {r}", "O", f"{p}90+r")
        form(mn, f"{r} a{n}", "O", f"{p}90+r")
    one = 0 if n == 8 else 1
    # llvm-mc puts the AT&T destination (Intel's first operand) in ModRM.reg.
    form(mn, f"{r} {r}", "RM", f"{p}{0x86 + one:02X} /r")
    form(mn, f"{m} {r}", "MR", f"{p}{0x86 + one:02X} /r")
    form(mn, f"{r} {m}", "RM", f"{p}{0x86 + one:02X} /r")


_sized("xchg", (8, 16, 32, 64), _xchg)


def _atomic(mn, n, p, r, m, op=0):
    one = 0 if n == 8 else 1
    form(mn, f"{r} {r}", "MR", f"{p}0F {op + one:02X} /r")
    form(mn, f"{m} {r}", "MR", f"{p}0F {op + one:02X} /r")


_sized("cmpxchg", (8, 16, 32, 64), lambda *a: _atomic(*a, op=0xB0))
_sized("xadd", (8, 16, 32, 64), lambda *a: _atomic(*a, op=0xC0))

form("cmpxchg8b", "m64", "M", "0F C7 /1")
form("cmpxchg16b", "m128", "M", "REX.W 0F C7 /1")

# String operations (with a rep prefix: inlined memset/memcpy). Their operands are implicit:
# the text front end accepts them spelled out as llvm-objdump prints them.
for _n in (8, 16, 32, 64):
    _s = _SUFFIX[_n]
    form(f"movs{_s}", "", "ZO", f"{_PFX[_n]}{0xA4 + (_n > 8):02X}")
    form(f"stos{_s}", "", "ZO", f"{_PFX[_n]}{0xAA + (_n > 8):02X}")

# Frame teardown, the x87 control word (saved and restored around some conversions), prefetch.
form("leave", "", "ZO", "C9")
form("fnstcw", "m16", "M", "D9 /7")
form("fldcw", "m16", "M", "D9 /5")
for _mn, _d in (("prefetchnta", 0), ("prefetcht0", 1), ("prefetcht1", 2), ("prefetcht2", 3)):
    form(_mn, "m8", "M", f"0F 18 /{_d}")

# No-operations, traps and fences.
form("nop", "", "ZO", "90")
form("nopw", "r16", "M", "66 0F 1F /0")
form("nopw", "m16", "M", "66 0F 1F /0")
form("nopl", "r32", "M", "0F 1F /0")
form("nopl", "m32", "M", "0F 1F /0")
form("ud2", "", "ZO", "0F 0B")
form("int3", "", "ZO", "CC")
form("hlt", "", "ZO", "F4")
form("pause", "", "ZO", "F3 90")
form("endbr64", "", "ZO", "F3 0F 1E FA")
form("mfence", "", "ZO", "0F AE F0")
form("lfence", "", "ZO", "0F AE E8")
form("sfence", "", "ZO", "0F AE F8")

# SSE2 (and the SSE single-precision twins clang emits for float code). Never AVX (DESIGN.md).
for _mn, _spec, _m in (
        ("addsd", "F2 0F 58", "m64"), ("mulsd", "F2 0F 59", "m64"), ("subsd", "F2 0F 5C", "m64"),
        ("divsd", "F2 0F 5E", "m64"), ("minsd", "F2 0F 5D", "m64"), ("maxsd", "F2 0F 5F", "m64"),
        ("sqrtsd", "F2 0F 51", "m64"),
        ("addss", "F3 0F 58", "m32"), ("mulss", "F3 0F 59", "m32"), ("subss", "F3 0F 5C", "m32"),
        ("divss", "F3 0F 5E", "m32"), ("minss", "F3 0F 5D", "m32"), ("maxss", "F3 0F 5F", "m32"),
        ("sqrtss", "F3 0F 51", "m32"),
        ("ucomisd", "66 0F 2E", "m64"), ("comisd", "66 0F 2F", "m64"),
        ("ucomiss", "0F 2E", "m32"), ("comiss", "0F 2F", "m32"),
        ("cvtsd2ss", "F2 0F 5A", "m64"), ("cvtss2sd", "F3 0F 5A", "m32"),
        ("xorpd", "66 0F 57", "m128"), ("andpd", "66 0F 54", "m128"),
        ("andnpd", "66 0F 55", "m128"),
        ("orpd", "66 0F 56", "m128"), ("xorps", "0F 57", "m128"), ("andps", "0F 54", "m128"),
        ("andnps", "0F 55", "m128"), ("orps", "0F 56", "m128"),
        ("unpcklpd", "66 0F 14", "m128"), ("unpckhpd", "66 0F 15", "m128"),
        ("addpd", "66 0F 58", "m128"),
        ("mulpd", "66 0F 59", "m128"), ("subpd", "66 0F 5C", "m128"),
        ("divpd", "66 0F 5E", "m128")):
    form(_mn, "x x", "RM", f"{_spec} /r")
    form(_mn, f"x {_m}", "RM", f"{_spec} /r")

# Packed SSE2: what clang's vectoriser emits for integer and double loops. The integer
# operations are all 66 0F <op> /r on xmm, xmm/m128; the table lists the opcode byte.
for _op, _names in ((0x60, "punpcklbw punpcklwd punpckldq packsswb pcmpgtb pcmpgtw pcmpgtd "
                           "packuswb"),
                    (0x68, "punpckhbw punpckhwd punpckhdq packssdw punpcklqdq punpckhqdq"),
                    (0x74, "pcmpeqb pcmpeqw pcmpeqd"),
                    (0xD1, "psrlw psrld psrlq paddq pmullw"),
                    (0xD8, "psubusb psubusw pminub pand paddusb paddusw pmaxub pandn"),
                    (0xE0, "pavgb psraw psrad pavgw pmulhuw pmulhw"),
                    (0xE8, "psubsb psubsw pminsw por paddsb paddsw pmaxsw pxor"),
                    (0xF1, "psllw pslld psllq pmuludq pmaddwd psadbw"),
                    (0xF8, "psubb psubw psubd psubq paddb paddw paddd")):
    for _k, _mn in enumerate(_names.split()):
        form(_mn, "x x", "RM", f"66 0F {_op + _k:02X} /r")
        form(_mn, "x m128", "RM", f"66 0F {_op + _k:02X} /r")
for _mn, _spec, _m in (
        ("unpcklps", "0F 14", "m128"), ("unpckhps", "0F 15", "m128"),
        ("addps", "0F 58", "m128"), ("mulps", "0F 59", "m128"), ("subps", "0F 5C", "m128"),
        ("divps", "0F 5E", "m128"), ("minps", "0F 5D", "m128"), ("maxps", "0F 5F", "m128"),
        ("sqrtps", "0F 51", "m128"), ("maxpd", "66 0F 5F", "m128"), ("minpd", "66 0F 5D", "m128"),
        ("sqrtpd", "66 0F 51", "m128"),
        ("cvtdq2pd", "F3 0F E6", "m64"), ("cvtps2pd", "0F 5A", "m64"),
        ("cvtpd2ps", "66 0F 5A", "m128"),
        ("cvttpd2dq", "66 0F E6", "m128"), ("cvtdq2ps", "0F 5B", "m128"),
        ("cvttps2dq", "F3 0F 5B", "m128"), ("cvtps2dq", "66 0F 5B", "m128")):
    form(_mn, "x x", "RM", f"{_spec} /r")
    form(_mn, f"x {_m}", "RM", f"{_spec} /r")
form("movhlps", "x x", "RM", "0F 12 /r")
form("movlhps", "x x", "RM", "0F 16 /r")
for _mn, _spec in (("movmskpd", "66 0F 50"), ("movmskps", "0F 50"), ("pmovmskb", "66 0F D7")):
    form(_mn, "r32 x", "RM", f"{_spec} /r")
for _mn, _spec in (("pshufd", "66 0F 70"), ("pshuflw", "F2 0F 70"), ("pshufhw", "F3 0F 70"),
                   ("shufpd", "66 0F C6"), ("shufps", "0F C6")):
    form(_mn, "x x u8", "RMI", f"{_spec} /r ib")
    form(_mn, "x m128 u8", "RMI", f"{_spec} /r ib")
form("pextrw", "r32 x u8", "RMI", "66 0F C5 /r ib")
form("pinsrw", "x r32 u8", "RMI", "66 0F C4 /r ib")
form("pinsrw", "x m16 u8", "RMI", "66 0F C4 /r ib")
# Shifts of each lane by an immediate: 66 0F 71/72/73 with the operation in ModRM.reg.
for _mn, _spec in (("psrlw", "66 0F 71 /2"), ("psraw", "66 0F 71 /4"), ("psllw", "66 0F 71 /6"),
                   ("psrld", "66 0F 72 /2"), ("psrad", "66 0F 72 /4"), ("pslld", "66 0F 72 /6"),
                   ("psrlq", "66 0F 73 /2"), ("psrldq", "66 0F 73 /3"), ("psllq", "66 0F 73 /6"),
                   ("pslldq", "66 0F 73 /7")):
    form(_mn, "x u8", "MI", f"{_spec} ib")
for _mn, _load, _store in (("movlpd", "66 0F 12", "66 0F 13"), ("movhpd", "66 0F 16", "66 0F 17"),
                           ("movlps", "0F 12", "0F 13"), ("movhps", "0F 16", "0F 17")):
    form(_mn, "x m64", "RM", f"{_load} /r")
    form(_mn, "m64 x", "MR", f"{_store} /r")

# Compares producing a mask; AT&T names the predicate in the mnemonic (cmpltsd = predicate 1).
for _pred, _code in (("eq", 0), ("lt", 1), ("le", 2), ("unord", 3),
                     ("neq", 4), ("nlt", 5), ("nle", 6), ("ord", 7)):
    for _ty, _spec, _m in (("sd", "F2 0F C2", "m64"), ("ss", "F3 0F C2", "m32"),
                           ("pd", "66 0F C2", "m128"), ("ps", "0F C2", "m128")):
        form(f"cmp{_pred}{_ty}", "x x", "RM", f"{_spec} /r {_code:02X}")
        form(f"cmp{_pred}{_ty}", f"x {_m}", "RM", f"{_spec} /r {_code:02X}")

# Moves: register-to-register uses the load (RM) opcode, as llvm does.
for _mn, _load, _store, _m in (
        ("movsd", "F2 0F 10", "F2 0F 11", "m64"), ("movss", "F3 0F 10", "F3 0F 11", "m32"),
        ("movapd", "66 0F 28", "66 0F 29", "m128"), ("movaps", "0F 28", "0F 29", "m128"),
        ("movupd", "66 0F 10", "66 0F 11", "m128"), ("movups", "0F 10", "0F 11", "m128"),
        ("movdqa", "66 0F 6F", "66 0F 7F", "m128"), ("movdqu", "F3 0F 6F", "F3 0F 7F", "m128")):
    form(_mn, "x x", "RM", f"{_load} /r")
    form(_mn, f"x {_m}", "RM", f"{_load} /r")
    form(_mn, f"{_m} x", "MR", f"{_store} /r")

form("movq", "x r64", "RM", "66 REX.W 0F 6E /r")
form("movq", "r64 x", "MR", "66 REX.W 0F 7E /r")
form("movq", "x x", "RM", "F3 0F 7E /r")
form("movq", "x m64", "RM", "F3 0F 7E /r")
form("movq", "m64 x", "MR", "66 0F D6 /r")
form("movd", "x r32", "RM", "66 0F 6E /r")
form("movd", "x m32", "RM", "66 0F 6E /r")
form("movd", "r32 x", "MR", "66 0F 7E /r")
form("movd", "m32 x", "MR", "66 0F 7E /r")

# Conversions. llvm-objdump prints no size suffix when a register gives the integer width, and
# an l/q suffix for memory; capstone prints the suffix in both cases, so both spellings exist.
for _mn, _op in (("cvtsi2sd", "F2 0F 2A"), ("cvtsi2ss", "F3 0F 2A")):
    _w = _op.replace(" 0F", " REX.W 0F")
    _N = _mn.upper()
    form(_mn, "x r32", "RM", f"{_op} /r", name=f"{_N}L_xr")
    form(_mn, "x r64", "RM", f"{_w} /r", name=f"{_N}Q_xr")
    form(_mn + "l", "x r32", "RM", f"{_op} /r", name=f"{_N}L_xr_")
    form(_mn + "q", "x r64", "RM", f"{_w} /r", name=f"{_N}Q_xr_")
    form(_mn + "l", "x m32", "RM", f"{_op} /r")
    form(_mn + "q", "x m64", "RM", f"{_w} /r")
for _mn, _op, _m in (("cvttsd2si", "F2 0F 2C", "m64"), ("cvtsd2si", "F2 0F 2D", "m64"),
                     ("cvttss2si", "F3 0F 2C", "m32"), ("cvtss2si", "F3 0F 2D", "m32")):
    _w = _op.replace(" 0F", " REX.W 0F")
    _N = _mn.upper()
    form(_mn, "r32 x", "RM", f"{_op} /r", name=f"{_N}L_rx")
    form(_mn, "r64 x", "RM", f"{_w} /r", name=f"{_N}Q_rx")
    form(_mn, f"r32 {_m}", "RM", f"{_op} /r", name=f"{_N}L_rm")
    form(_mn, f"r64 {_m}", "RM", f"{_w} /r", name=f"{_N}Q_rm")


# --- the assembler -------------------------------------------------------------------------------

# Field width of each hole kind: the patched bytes are the last ones of the instruction.
RELOC_FIELD = {"patch_64": 8, "patch_32r": 4, "patch_x86_64_32rx": 4, "patch_32": 4}


class Assembler:
    """A growing code buffer with one method per instruction form (Intel operand order).

    Labels may be referenced before they are bound; ``finish()`` checks they all were.
    ``reloc(kind, symbol, addend)`` records a hole in the field that ENDS at the current offset
    (the trailing imm64/disp32/rel32 of the instruction just emitted), as CPython's stencils
    have them; ``Reloc.offset`` is the offset of that field.
    """

    def __init__(self):
        self.buf = bytearray()
        self.relocs: list[Reloc] = []
        self._lock = False
        self._pending: dict[Label, list[tuple[int, int]]] = {}   # label -> [(field, size)]

    # -- position, labels, holes
    @property
    def offset(self) -> int:
        return len(self.buf)

    def label(self, name: str = "") -> Label:
        return Label(name)

    def bind(self, label: Label) -> None:
        if label.pos is not None:
            raise AsmError(f"label {label.name or label!r} bound twice")
        label.pos = here = len(self.buf)
        for field, size in self._pending.pop(label, ()):
            disp = here - (field + size)
            if size == 1 and not -128 <= disp <= 127:
                raise AsmError(f"short branch to label {label.name!r} out of range ({disp})")
            if not -0x80000000 <= disp <= 0x7FFFFFFF:
                raise AsmError(f"branch to label {label.name!r} out of range ({disp})")
            self.buf[field:field + size] = (disp & ((1 << (8 * size)) - 1)).to_bytes(size, "little")

    def _rel(self, label: Label, short_form, long_form, short: bool) -> None:
        if label.pos is not None and short_form is not None:
            d8 = label.pos - (len(self.buf) + short_form.size)
            if -128 <= d8 <= 127:
                short_form.emit(self, d8)
            elif short:
                raise AsmError(f"short branch to label {label.name!r} out of range ({d8})")
            else:
                long_form.emit(self, label.pos - (len(self.buf) + long_form.size))
            return
        if label.pos is not None:   # a backward call: rel32 is its only form
            long_form.emit(self, label.pos - (len(self.buf) + long_form.size))
            return
        form = short_form if short else long_form
        form.emit(self, 0)
        size = 1 if short else 4
        self._pending.setdefault(label, []).append((len(self.buf) - size, size))

    def jmp(self, label: Label, short: bool = False) -> None:
        """jmp to a label: rel8 when bound and in range (or ``short``), else rel32."""
        self._rel(label, _JMP8, _JMP32, short)

    def jcc(self, cc: str, label: Label, short: bool = False) -> None:
        code = CC.get(CC_ALIASES.get(cc, cc))
        if code is None:
            raise AsmError(f"unknown condition code {cc!r}")
        self._rel(label, _JCC8[code], _JCC32[code], short)

    def call(self, label: Label) -> None:
        self._rel(label, None, _CALL32, False)

    def lea_label(self, reg: int, label: Label) -> None:
        """``leaq label(%rip), reg``: the address of a label in this buffer."""
        self.LEAQ_rm(reg, Mem(RIP, 0))
        end = len(self.buf)
        if label.pos is not None:
            self.buf[end - 4:end] = _disp32(label.pos - end)
        else:
            self._pending.setdefault(label, []).append((end - 4, 4))

    def reloc(self, kind: str, symbol: str, addend: int = 0, offset: int | None = None) -> Reloc:
        """Record a hole for a later patch function (see the class docstring)."""
        if kind not in RELOC_FIELD:
            raise AsmError(f"unknown x86-64 relocation kind {kind!r} "
                           f"(expected one of {', '.join(RELOC_FIELD)})")
        if offset is None:
            offset = len(self.buf) - RELOC_FIELD[kind]
        if not 0 <= offset <= len(self.buf) - RELOC_FIELD[kind]:
            raise AsmError(f"relocation field at {offset} is outside the emitted code")
        r = Reloc(offset, kind, symbol, addend)
        self.relocs.append(r)
        return r

    def lock(self) -> None:
        """Prefix the next instruction with LOCK (after its segment and 66 prefixes, as llvm-mc and
        GNU as place it)."""
        self._lock = True

    def emit_bytes(self, data: bytes) -> None:
        self.buf += data

    def finish(self) -> bytes:
        if self._pending:
            names = ", ".join(lbl.name or repr(lbl) for lbl in self._pending)
            raise AsmError(f"unbound label(s): {names}")
        if self._lock:
            raise AsmError("lock prefix with no instruction after it")
        return bytes(self.buf)

    def nops(self, n: int) -> None:
        """``n`` bytes of padding with the multi-byte nops LLVM pads with."""
        while n > 0:
            k = min(n, 15)
            self.buf += _NOPS[k]
            n -= k

    def align(self, n: int) -> None:
        """Pad with nops to a multiple of ``n`` (a power of two), as `.p2align` does."""
        if n <= 0 or n & (n - 1):
            raise AsmError(f"alignment must be a power of two, not {n}")
        self.nops(-len(self.buf) % n)


class _Sized(NamedTuple):
    emit: Callable
    size: int


_JMP8 = _Sized(FORMS["JMP_d8"].emit, 2)
_JMP32 = _Sized(FORMS["JMP_d32"].emit, 5)
_JCC8 = [_Sized(FORMS[f"J{cc.upper()}_d8"].emit, 2) for cc in CC]
_JCC32 = [_Sized(FORMS[f"J{cc.upper()}_d32"].emit, 6) for cc in CC]
_CALL32 = _Sized(FORMS["CALLQ_d32"].emit, 5)

# The padding sequences LLVM emits for x86-64 (up to 15 bytes, CS-prefixed above 10).
_NOPS = {1: b"\x90", 2: b"\x66\x90", 3: b"\x0f\x1f\x00", 4: b"\x0f\x1f\x40\x00",
         5: b"\x0f\x1f\x44\x00\x00", 6: b"\x66\x0f\x1f\x44\x00\x00",
         7: b"\x0f\x1f\x80\x00\x00\x00\x00", 8: b"\x0f\x1f\x84\x00\x00\x00\x00\x00",
         9: b"\x66\x0f\x1f\x84\x00\x00\x00\x00\x00"}
for _k in range(10, 16):
    _NOPS[_k] = b"\x66" * (_k - 9) + b"\x2e\x0f\x1f\x84\x00\x00\x00\x00\x00"


def _install(f: Form) -> None:
    setattr(Assembler, f.name, f.emit)


for _f in FORMS.values():
    _install(_f)


def _xchg_acc_guard(f: Form) -> None:
    """xchgl with the accumulator in 90+r form: register 0 would make it 90, which is nop (it does
    not zero-extend %eax into %rax); refuse it, the ModRM form (xchgl %eax, %eax = 87 c0) exists."""
    inner = f.emit

    def emit(asm: Assembler, reg: int):
        if reg == RAX:
            raise AsmError(f"{f.mnemonic} of the accumulator with itself has no 90+r encoding; "
                           f"use {f.mnemonic.upper()}_rr")
        inner(asm, reg)
    FORMS[f.name] = f = f._replace(emit=emit)
    BY_MNEMONIC[f.mnemonic] = [FORMS[g.name] for g in BY_MNEMONIC[f.mnemonic]]
    _install(f)


for _name in ("XCHGL_ar", "XCHGL_ra"):
    _xchg_acc_guard(FORMS[_name])


def _ri_chooser(mnemonic: str) -> Callable:
    """``<MN>_ri(reg, imm)``: the register-immediate form llvm-mc picks, i.e. the first of the
    table's forms that takes the value: imm8 sign-extended, then the accumulator short form,
    then the full immediate (for movq: imm32 sign-extended, then movabs)."""
    options = []
    for f in BY_MNEMONIC[mnemonic]:
        if len(f.kinds) == 2 and f.kinds[0][0] in "ra" and f.kinds[0] != "rel8" \
                and f.kinds[1][0] == "i":
            lo, hi = _imm_range(f.kinds[1], f.opsize)
            options.append((f.kinds[0][0] == "a", int(f.kinds[1][1:]) < f.opsize, lo, hi, f.emit))
    n = BY_MNEMONIC[mnemonic][0].opsize
    mask, half = (1 << n) - 1, 1 << (n - 1)

    def choose(asm: Assembler, reg: int, imm: int) -> None:
        # AT&T lets an n-bit operation's immediate be written unsigned (addl $0xffffffff):
        # a sign-extended field sees its signed value.
        signed = ((imm & mask) ^ half) - half if -half <= imm <= mask else imm
        for acc, sign_extended, lo, hi, emit in options:
            value = signed if sign_extended else imm
            if lo <= value <= hi:
                if acc:
                    if reg == RAX:
                        emit(asm, value)
                        return
                else:
                    emit(asm, reg, value)
                    return
        raise AsmError(f"immediate {imm:#x} out of range for {mnemonic}")
    choose.__name__ = f"{mnemonic.upper()}_ri"
    return choose


for _stem in ("add", "or", "adc", "sbb", "and", "sub", "xor", "cmp", "test", "mov"):
    for _n in (8, 16, 32, 64):
        _mn = _stem + _SUFFIX[_n]
        setattr(Assembler, f"{_mn.upper()}_ri", _ri_chooser(_mn))


# --- encodings looked up instead of recomputed ---------------------------------------------------

class Encoded(dict):
    """The bytes of one form (or chooser) for given operands, encoded on first use.

    An encoding depends on nothing but the form and its operands, so a code generator that emits
    the same few instructions over and over can look their bytes up::

        MOVQ_rm = Encoded("MOVQ_rm", mem=1)
        code += MOVQ_rm[RAX, R13, -8]          # movq -0x8(%r13), %rax: 49 8b 45 f8

    A key is the method's operand tuple (a lone operand needs no tuple), except that with
    ``mem=i`` the memory operand at index i is written as two entries, its base register and
    displacement, so that no :class:`Mem` is built for a lookup. Instead of a method's name, a
    function ``(assembler, *operands)`` that picks among methods can be given (a table for a
    family of forms, keyed by the operands that pick one). A bad operand raises the method's
    AsmError and is not stored. The table empties itself when it reaches ``MAX`` entries, so it
    stays small whatever code is generated.
    """

    MAX = 4096
    __slots__ = ("method", "mem")

    def __init__(self, form: str | Callable, mem: int | None = None):
        super().__init__()
        self.method = getattr(Assembler, form) if isinstance(form, str) else form
        self.mem = mem

    def __missing__(self, key) -> bytes:
        ops = key if type(key) is tuple else (key,)
        if self.mem is not None:
            i = self.mem
            ops = (*ops[:i], Mem(ops[i], ops[i + 1]), *ops[i + 2:])
        a = Assembler()
        self.method(a, *ops)
        if len(self) >= self.MAX:
            self.clear()
        code = self[key] = bytes(a.buf)
        return code
