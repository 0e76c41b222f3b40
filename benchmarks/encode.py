"""Encoding speed: instructions per second through each assembler's Python API (and, for
comparison, through the text front end that `refjit asm` uses).

Each run emits many copies of one block of typical stencil code into a fresh Assembler, with
loads, stores, moves, ALU operations, a forward and a backward branch, a call through a hole and
a 64-bit constant hole, and finishes it. The best of several runs counts. The number of
instructions in a block is not typed in: capstone counts them in the emitted bytes.

    .venv/bin/python benchmarks/encode.py [--runs 7] [--blocks 2000]
"""

from __future__ import annotations

import argparse
import sys
import time

import capstone
from machine import describe


def x86_64_block():
    from refjit.backends.x86_64 import asm as x

    Mem = x.Mem

    def block(a):
        top = a.label()
        out = a.label()
        a.bind(top)
        a.MOVQ_rm(x.RAX, Mem(x.R13, -8))                   # load a stack slot
        a.TESTB_ri8(x.RAX, 1)                              # tagged reference?
        a.jcc("ne", out)                                   # forward branch
        a.MOVL_rm(x.RCX, Mem(x.RAX, 0))                    # 32-bit refcount
        a.TESTL_rr(x.RCX, x.RCX)
        a.jcc("s", out)                                    # immortal
        a.INCL_m(Mem(x.RAX, 0))
        a.bind(out)
        a.MOVQ_mr(Mem(x.R13, 0), x.RAX)                    # push
        a.ADDQ_ri(x.R13, 8)
        a.LEAQ_rm(x.RDX, Mem(x.RAX, 0x18, x.RCX, 8))
        a.CMPQ_rr(x.RDX, x.RSI)
        a.CMOVLQ_rr(x.RDX, x.RSI)
        a.MOVQ_ri64(x.RDI, 0)                              # an operand hole
        a.reloc("patch_64", "_JIT_OPERAND0")
        a.IMULQ_rr(x.RDI, x.RDX)
        a.MOVSD_xm(x.XMM0, Mem(x.RAX, 0x10))
        a.ADDSD_xx(x.XMM0, x.XMM1)
        a.MOVQ_rr(x.R12, x.RBX)
        a.CALLQ_m(Mem(x.RIP, 0))                           # call through the GOT
        a.reloc("patch_x86_64_32rx", "_Py_Dealloc", -4)
        a.SUBQ_ri(x.R13, 16)
        a.jcc("ne", top)                                   # backward branch
        a.JMP_d32(0)                                       # continue
        a.reloc("patch_32r", "_JIT_CONTINUE", -4)

    return x.Assembler, block, capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)


def aarch64_block():
    from refjit.backends.aarch64 import asm as y

    X, W, D = y.X, y.W, y.D

    def block(a):
        top = y.Label()
        out = y.Label()
        a.bind(top)
        a.ldr(X[8], X[21], -8)                             # load a stack slot (ldur)
        a.tbnz(W[8], 0, out)                               # tagged reference? forward branch
        a.ldr(W[9], X[8], 0)                               # 32-bit refcount
        a.tbnz(W[9], 31, out)                              # immortal
        a.add_imm(W[9], W[9], 1)
        a.str(W[9], X[8], 0)
        a.bind(out)
        a.str(X[8], X[21], 0)                              # push
        a.add_imm(X[21], X[21], 8)
        a.add_reg(X[10], X[8], X[9], "lsl", 3)
        a.cmp_reg(X[10], X[11])
        a.csel(X[10], X[10], X[11], "lt")
        # AArch64's reloc() names the instruction emitted NEXT (x86-64's the field just emitted).
        a.reloc("patch_aarch64_21r", "_JIT_OPERAND0")      # an operand hole: adrp + ldr lo12
        a.adrp(X[0], None)
        a.reloc("patch_aarch64_12", "_JIT_OPERAND0")
        a.ldr(X[0], X[0], 0)
        a.mul(X[0], X[0], X[10])
        a.ldr(D[0], X[8], 0x10)
        a.fadd(D[0], D[0], D[1])
        a.and_imm(X[12], X[8], ~1 & 0xFFFFFFFFFFFFFFFF)
        a.reloc("patch_aarch64_26r", "_Py_Dealloc")        # call _Py_Dealloc
        a.bl(None)
        a.sub_imm(X[21], X[21], 16)
        a.cbnz(X[12], top)                                 # backward branch
        a.reloc("patch_aarch64_26r", "_JIT_CONTINUE")      # continue
        a.b(None)

    return y.Assembler, block, capstone.Cs(capstone.CS_ARCH_ARM64, capstone.CS_MODE_ARM)


BLOCKS = {"x86_64": x86_64_block, "aarch64": aarch64_block}


def count_instructions(md: capstone.Cs, code: bytes) -> int:
    n = size = 0
    for _addr, length, _mn, _ops in md.disasm_lite(code, 0):
        n += 1
        size += length
    if size != len(code):
        raise SystemExit(f"capstone could not decode the benchmark block ({size} of {len(code)} bytes)")
    return n


def bench_api(arch: str, runs: int, blocks: int) -> tuple[int, float]:
    Assembler, block, md = BLOCKS[arch]()
    one = Assembler()
    block(one)
    per_block = count_instructions(md, one.finish())
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        a = Assembler()
        for _ in range(blocks):
            block(a)
        a.finish()
        best = min(best, time.perf_counter() - t0)
    return per_block * blocks, best


def bench_text(arch: str, runs: int, blocks: int) -> tuple[int, float]:
    """The same block, printed by capstone, re-assembled line by line through the text front end."""
    from refjit.asmtext import backend_assembler
    from refjit.disasm import disassemble

    Assembler, block, _md = BLOCKS[arch]()
    one = Assembler()
    block(one)
    lines = [(i.address, i.text) for i in disassemble(arch, one.finish(), 0x1000)]
    assemble = backend_assembler(arch)
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        for _ in range(blocks):
            for address, text in lines:
                assemble(text, address)
        best = min(best, time.perf_counter() - t0)
    return len(lines) * blocks, best


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=7, help="runs per row; the best counts")
    p.add_argument("--blocks", type=int, default=2000, help="blocks of ~22 instructions per run")
    args = p.parse_args(argv)
    print(f"machine: {describe()}")
    print(f"best of {args.runs} runs\n")
    print(f"{'ISA':<8} {'path':<22} {'instructions':>12} {'seconds':>9} {'instr/s':>11}")
    for arch in BLOCKS:
        for path, bench in (("Python API", bench_api), ("text front end", bench_text)):
            n, seconds = bench(arch, args.runs, args.blocks if path == "Python API" else max(1, args.blocks // 10))
            print(f"{arch:<8} {path:<22} {n:>12,} {seconds:>9.4f} {n / seconds:>11,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
