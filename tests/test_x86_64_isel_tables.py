"""The x86-64 selector's encoding tables against llvm-mc-19.

Selection takes an instruction's bytes from asm.Encoded tables keyed by the LIR op's operands:
a load's (dst, base, disp, width, signed) picks among eight moves, a lea's (dst, base, disp,
index, shift) builds its memory operand only on a miss. Random operands, one batch through the
assembler, byte comparison; a second look-up gives the stored bytes, and a bad operand raises
the form's AsmError and is not stored.
"""

from __future__ import annotations

import random

import pytest

from oracles import assemble_each
from refjit.backends.x86_64 import asm as x86
from refjit.backends.x86_64 import isel
from refjit.errors import AsmError
from x86_64_cases import hexnum

# load (width, signed) -> the AT&T mnemonic of the move that extends it into the whole register
LOAD_MNEMONICS = {(64, False): "movq", (64, True): "movq", (32, False): "movl",
                  (32, True): "movslq", (16, False): "movzwl", (16, True): "movswq",
                  (8, False): "movzbl", (8, True): "movsbq"}
DISPS = (0, 1, -1, 0x7F, 0x80, -0x80, -0x81, 0x1000, 0x7FFFFFFF, -0x80000000)


def _mem(base: int, disp: int, index: int | None = None, scale: int = 1) -> str:
    where = f"%{x86.GPR64[base]}" + ("" if index is None else f",%{x86.GPR64[index]},{scale}")
    return f"{hexnum(disp) if disp else ''}({where})"


def _cases(rng: random.Random, n: int):
    """(table, key, AT&T text) for random loads and leas."""
    out = []
    for i in range(n):
        dst, base = rng.randrange(16), i % 16       # every base, %rsp/%r12/%rbp/%r13 included
        disp = rng.choice(DISPS) if rng.random() < 0.7 else rng.randint(-2**31, 2**31 - 1)
        width, signed = rng.choice(sorted(LOAD_MNEMONICS))
        reg = x86.GPR32[dst] if LOAD_MNEMONICS[width, signed] in ("movl", "movzwl", "movzbl") \
            else x86.GPR64[dst]
        out.append((isel._LOAD, (dst, base, disp, width, signed),
                    f"{LOAD_MNEMONICS[width, signed]} {_mem(base, disp)}, %{reg}"))
        index = rng.choice([r for r in range(16) if r != x86.RSP])
        shift = rng.randrange(4)
        out.append((isel._LEA, (dst, base, disp, index, shift),
                    f"leaq {_mem(base, disp, index, 1 << shift)}, %{x86.GPR64[dst]}"))
    return out


def test_load_and_lea_tables_match_llvm_mc():
    cases = _cases(random.Random(6), 200)
    want = assemble_each("llvm", "x86_64", [text for _, _, text in cases])
    bad = [f"{text}: {table[key].hex()} != {expected.hex()}"
           for (table, key, text), expected in zip(cases, want) if table[key] != expected]
    assert not bad, "\n".join(bad[:20])
    # looked up again: the stored bytes
    assert all(table[key] is table[key] for table, key, _ in cases)


def test_a_bad_operand_is_the_forms_error_and_not_stored():
    for table, key in ((isel._LOAD, (0, 1, 1 << 31, 64, False)),
                       (isel._LEA, (0, 1, 0, x86.RSP, 0)),
                       (isel._LEA, (0, 1, 0, 2, 4))):
        with pytest.raises(AsmError):
            table[key]
        assert key not in table


# --- the sequences selection looks up whole (isel._Sequences) -----------------------------------

M64 = (1 << 64) - 1
CONSTS = (0, 1, 5, 0x7F, 0x80, -1, -0x80, -0x81, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 1 << 32,
          -(1 << 31), -(1 << 31) - 1, 0xFFFFFFFF80000000, 1 << 63, M64, 0x123456789ABCDEF0)
ALU = ("add", "sub", "and", "or", "xor", "mul")
SUFFIX = {8: "b", 16: "w", 32: "l", 64: "q"}


def _signed(v: int, bits: int) -> int:
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


def _imm32(v: int) -> bool:
    return -(1 << 31) <= _signed(v, 64) < (1 << 31)


def _mov_text(reg: int, v: int) -> list[str]:
    """How a constant gets into a register: the shortest of xorl, movl (zero-extends),
    movq $imm32 (sign-extends), movabsq."""
    u = v & M64
    if u == 0:
        return [f"xorl %{x86.GPR32[reg]}, %{x86.GPR32[reg]}"]
    if u < (1 << 32):
        return [f"movl ${u:#x}, %{x86.GPR32[reg]}"]
    if _imm32(u):
        return [f"movq ${_signed(u, 64)}, %{x86.GPR64[reg]}"]
    return [f"movabsq ${u:#x}, %{x86.GPR64[reg]}"]


def _sequence_cases(rng: random.Random, n: int):
    """(table, key, AT&T lines) for constant moves, compares, stores and two-operand bins."""
    r11, out = x86.R11, []
    regs = [r for r in range(16) if r not in (x86.RSP, x86.R11)]
    for _ in range(n):
        a, b = rng.choice(regs), rng.choice(regs)
        v = rng.choice(CONSTS) if rng.random() < 0.7 else rng.randint(-(1 << 63), M64)
        out.append((isel._MOV_CONST, (a, v), _mov_text(a, v)))
        width = rng.choice((32, 64))
        if v & ((1 << width) - 1) == 0:
            want = [f"test{SUFFIX[width]} %{x86.GPR64[a] if width == 64 else x86.GPR32[a]}, "
                    f"%{x86.GPR64[a] if width == 64 else x86.GPR32[a]}"]
        elif width == 32:
            want = [f"cmpl ${_signed(v, 32)}, %{x86.GPR32[a]}"]
        elif _imm32(v):
            want = [f"cmpq ${_signed(v, 64)}, %{x86.GPR64[a]}"]
        else:
            want = _mov_text(r11, v) + [f"cmpq %r11, %{x86.GPR64[a]}"]
        out.append((isel._CMP_CONST, (a, v, width), want))
        op = rng.choice(ALU)
        move = [f"movq %{x86.GPR64[b]}, %{x86.GPR64[a]}"] if a != b else []
        if _imm32(v):
            s = _signed(v, 64)
            want = move + [f"imulq ${s}, %{x86.GPR64[a]}, %{x86.GPR64[a]}" if op == "mul"
                           else f"{op}q ${s}, %{x86.GPR64[a]}"]
        else:
            want = _mov_text(r11, v) + move + [f"{'imul' if op == 'mul' else op}q %r11, "
                                                f"%{x86.GPR64[a]}"]
        out.append((isel._BIN_CONST, (op, a, b, v), want))
        width, disp = rng.choice((8, 16, 32, 64)), rng.choice(DISPS)
        value = v & ((1 << width) - 1)          # as the LIR Builder leaves a store's constant
        if width == 64 and not _imm32(value):
            want = _mov_text(r11, value) + [f"movq %r11, {_mem(b, disp)}"]
        else:
            want = [f"mov{SUFFIX[width]} ${_signed(value, min(width, 64))}, {_mem(b, disp)}"]
        out.append((isel._STORE_CONST, (b, disp, value, width), want))
    return out


def test_constant_sequences_match_llvm_mc():
    cases = _sequence_cases(random.Random(7), 150)
    want = assemble_each("llvm", "x86_64", ["\n\t".join(lines) for _, _, lines in cases])
    bad = [f"{'; '.join(lines)}: {table[key].hex()} != {expected.hex()}"
           for (table, key, lines), expected in zip(cases, want) if table[key] != expected]
    assert not bad, "\n".join(bad[:20])
