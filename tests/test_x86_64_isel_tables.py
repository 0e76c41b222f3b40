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
