"""Capstone as refjit's disassembler, printing the syntax llvm-objdump prints.

x86-64 in AT&T syntax, AArch64 in the standard syntax with aliases. The listing is used by the
``disasm`` command, the annotated listings and the tests that decode refjit's output.
"""

from __future__ import annotations

from typing import NamedTuple

import capstone

from refjit.errors import DisasmError

ARCHES = ("x86_64", "aarch64")


class Insn(NamedTuple):
    address: int
    data: bytes
    mnemonic: str
    op_str: str

    @property
    def text(self) -> str:
        return f"{self.mnemonic}\t{self.op_str}" if self.op_str else self.mnemonic


_decoders: dict[str, capstone.Cs] = {}


def decoder(arch: str) -> capstone.Cs:
    if arch not in _decoders:
        if arch == "x86_64":
            md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
            md.syntax = capstone.CS_OPT_SYNTAX_ATT
        elif arch == "aarch64":
            md = capstone.Cs(capstone.CS_ARCH_ARM64, capstone.CS_MODE_ARM)
        else:
            raise DisasmError(f"unknown architecture {arch!r} (expected one of {', '.join(ARCHES)})")
        _decoders[arch] = md
    return _decoders[arch]


def disassemble(arch: str, code: bytes, address: int = 0) -> list[Insn]:
    """Decode all of ``code``; bytes that do not decode become a ``.byte`` line, never an exception."""
    md = decoder(arch)
    out: list[Insn] = []
    pos = 0
    step = 4 if arch == "aarch64" else 1
    while pos < len(code):
        decoded = False
        for insn in md.disasm_lite(code[pos:], address + pos):
            addr, size, mnemonic, op_str = insn
            out.append(Insn(addr, code[pos:pos + size], mnemonic, op_str))
            pos += size
            decoded = True
        if pos < len(code):
            # Capstone stops at the first undecodable instruction: record it and go on.
            chunk = code[pos:pos + step]
            out.append(Insn(address + pos, chunk, ".byte", ", ".join(f"0x{b:02x}" for b in chunk)))
            pos += len(chunk)
        elif not decoded:
            break
    return out


def instruction_count(arch: str, code: bytes) -> int:
    """``len(disassemble(arch, code))`` without building the lines. AArch64 instructions, and
    the ``.byte`` lines of what does not decode, are all 4 bytes (the last one: what is left)."""
    if arch == "aarch64":
        return (len(code) + 3) // 4
    md = decoder(arch)
    n = pos = 0
    while pos < len(code):
        decoded = False
        for _addr, size, _mnemonic, _op_str in md.disasm_lite(code[pos:], pos):
            pos += size
            n += 1
            decoded = True
        if pos < len(code):
            pos += 1          # an undecodable byte: one .byte line
            n += 1
        elif not decoded:
            break
    return n


def disassemble_one(arch: str, code: bytes, address: int = 0) -> Insn | None:
    """The first instruction of ``code``, or None if it does not decode."""
    for addr, size, mnemonic, op_str in decoder(arch).disasm_lite(code, address, 1):
        return Insn(addr, code[:size], mnemonic, op_str)
    return None
