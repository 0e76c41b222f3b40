"""Seeded operand generator for the x86-64 encoder tests.

For every form of the encoder's table it draws operands that cover every register in every
operand position, every scale, the displacement boundaries (0, disp8 and disp32 edges, RIP,
absolute, segment overrides) and the immediate field boundaries, and renders each case both as
the encoder's API arguments and as AT&T text for the external assemblers.
"""

from __future__ import annotations

import random
from typing import NamedTuple

from refjit.backends.x86_64 import asm as x86
from refjit.backends.x86_64.asm import Form, Mem

REG_NAMES = {"r64": x86.GPR64, "r32": x86.GPR32, "r16": x86.GPR16, "r8": x86.GPR8,
             "x": tuple(f"xmm{i}" for i in range(16))}
ACC = {"a8": "%al", "a16": "%ax", "a32": "%eax", "a64": "%rax"}
DISPS = (0, 1, -1, 127, -128, 128, -129, 0x7FFFFFFF, -0x80000000, 0x12345, -0x1000)
SEG_NAMES = {x86.FS: "fs", x86.GS: "gs", x86.CS: "cs"}


class Case(NamedTuple):
    form: Form
    args: tuple         # API arguments (Intel order, explicit operands only)
    text: str           # AT&T text


def hexnum(v: int) -> str:
    return f"-{-v:#x}" if v < 0 else f"{v:#x}"


def mem_text(m: Mem) -> str:
    seg = f"%{SEG_NAMES[m.seg]}:" if m.seg else ""
    if m.base is None and m.index is None:
        return f"{seg}{hexnum(m.disp)}"
    disp = hexnum(m.disp) if m.disp or m.base is None else ""
    base = "%rip" if m.base == x86.RIP else ("" if m.base is None else "%" + x86.GPR64[m.base])
    if m.index is None:
        return f"{seg}{disp}({base})"
    return f"{seg}{disp}({base},%{x86.GPR64[m.index]},{m.scale})"


def draw_mem(rng: random.Random, i: int) -> Mem:
    """Memory operands: base cycles through all 16 registers, then RIP and absolute."""
    pick = i % 19
    disp = DISPS[(i // 19 + i) % len(DISPS)]
    if rng.random() < 0.2:
        disp = rng.randint(-2**31, 2**31 - 1)
    seg = rng.choice((0, 0, 0, 0, 0, 0, x86.FS, x86.GS, x86.CS))
    if pick == 16:
        return Mem(x86.RIP, disp, seg=seg)
    index = None
    scale = 1
    if rng.random() < 0.5:
        index = rng.choice([r for r in range(16) if r != x86.RSP])
        scale = rng.choice((1, 2, 4, 8))
    if pick == 17:
        return Mem(None, disp, index, scale, seg)
    if pick == 18:
        return Mem(None, disp, seg=seg)
    return Mem(pick, disp, index, scale, seg)


def imm_values(kind: str, opsize: int) -> list[tuple[int, int]]:
    """(text value, API value) pairs at the boundaries of an immediate field."""
    if kind == "u8":
        return [(v, v) for v in (0, 1, 2, 31, 63, 127, 128, 255)]
    if kind == "u16":
        return [(v, v) for v in (0, 8, 0x7FFF, 0xFFFF)]
    bits = int(kind[1:])
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    pairs = [(v, v) for v in (lo, hi, -1, 1, lo + 1, hi - 1, 0x5A & hi)]
    if bits >= opsize:
        pairs += [((1 << bits) - 1, (1 << bits) - 1), (1 << (bits - 1), 1 << (bits - 1))]
    elif opsize <= 32:
        # AT&T also writes a sign-extended field's value as its unsigned opsize-bit pattern.
        pairs += [((1 << opsize) - 1, -1), ((1 << opsize) + lo, lo)]
    if kind == "i64":
        pairs += [(0x123456789ABCDEF0, 0x123456789ABCDEF0), (1 << 32, 1 << 32)]
    return pairs


def cases_for(f: Form, rng: random.Random, n: int) -> list[Case]:
    """``n`` cases for one form; register positions step through all 16 registers."""
    out = []
    for i in range(n):
        args, texts = [], []
        for pos, kind in enumerate(f.kinds):
            if kind in ACC:
                texts.append(ACC[kind])
            elif kind == "cl":
                texts.append("%cl")
            elif kind == "one":
                texts.append("$1")
            elif kind in REG_NAMES:
                # an odd multiplier makes the first 16 cases a permutation of all 16 registers
                r = (i * (2 * pos + 1) + pos * 5) % 16 if i < 16 else rng.randrange(16)
                if r == 0 and f.name[:5] == "XCHG" + f.name[4] and f.openc == "O":
                    r = 1    # 90+r of the accumulator itself is nop (the API refuses xchgl's)
                args.append(r)
                texts.append("%" + REG_NAMES[kind][r])
            elif kind.startswith("m"):
                m = draw_mem(rng, i)
                args.append(m)
                texts.append(mem_text(m))
            elif kind == "o64":
                v = (0, 0x10, 0x1122334455667788, -1, 0x7FFFFFFFFFFFFFFF, -(1 << 63),
                     0xFFFFFFFF, 1 << 32)[i % 8] if i < 16 else rng.randrange(1 << 64)
                args.append(v)
                texts.append(hexnum(v))
            elif kind[0] in "iu":
                values = imm_values(kind, f.opsize)
                tv, av = values[i % len(values)] if i < 2 * len(values) else (lambda v: (v, v))(
                    rng.randint(values[0][1], max(v for _, v in values)))
                args.append(av)
                texts.append("$" + hexnum(tv))
            else:
                raise AssertionError(f"no generator for {kind} in {f.name}")
        if f.mnemonic in ("jmpq", "callq"):
            texts[0] = "*" + texts[0]
        ops = ", ".join(reversed(texts))
        out.append(Case(f, tuple(args), f"{f.mnemonic} {ops}".strip()))
    return out


def high8_cases() -> list[tuple[str, bytes | None]]:
    """Legacy %ah..%bh with registers that need no REX: (text, None) - the oracle gives bytes."""
    lines = []
    for h in ("ah", "ch", "dh", "bh"):
        for other in ("al", "bl", "ch", "dh"):
            lines.append(f"movb %{h}, %{other}")
            lines.append(f"addb %{other}, %{h}")
        lines.append(f"movzbl %{h}, %eax")
        lines.append(f"movsbw %{h}, %di")
        lines.append(f"movb $0x7f, %{h}")
        lines.append(f"testb $0x1, %{h}")
        lines.append(f"movb %{h}, 0x10(%rbx,%rcx,2)")
    return lines


def every_addressing_mode() -> list[Mem]:
    """Every base (16 GPRs, RIP, none) x every index (none, 15 GPRs) x every scale x the
    displacement boundaries, with a segment override now and then."""
    out = []
    bases = [*range(16), x86.RIP, None]
    indexes = [None] + [r for r in range(16) if r != x86.RSP]
    k = 0
    for base in bases:
        for index in indexes:
            if base == x86.RIP and index is not None:
                continue
            for scale in ((1,) if index is None else (1, 2, 4, 8)):
                for disp in DISPS:
                    seg = (0, 0, 0, x86.FS, 0, x86.GS, 0, x86.CS)[k % 8]
                    k += 1
                    out.append(Mem(base, disp, index, scale, seg))
    return out
