"""Round trip on real compiler output: clang-19 compiles C, llvm-objdump-19 prints it, refjit
assembles every printed line back, and the bytes must match.

The C sources in tests/roundtrip/ are written for this test in the style of CPython's stencils
(reference counting, tagged pointers, overflow checks, doubles, atomics, preserve_none functions
with tail calls). Each configuration compiles all of them in one clang call and disassembles all
objects in one llvm-objdump call; refjit assembles the whole listing in-process (and, for the
stencil flags, once more through the `refjit asm` command in one subprocess). An instruction
passes if refjit gives the same bytes, or bytes that capstone decodes, at the same address, to the
same instruction (e.g. the short form of a branch that the compiler left long for its relocation).

`python tests/test_roundtrip.py [--gaps DIR]` prints the per-configuration counts and can write
the distinct failing lines per architecture, for the assembler authors.
"""

from __future__ import annotations

import functools
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
from typing import Callable, NamedTuple, Sequence

import capstone
import pytest
from summary_lines import report

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCES = sorted(glob.glob(os.path.join(HERE, "roundtrip", "*.c")))

# clang's target triple per architecture, and the flag sets each source is compiled with. The
# "stencil" sets are the code-generation flags CPython 3.14's Tools/jit/_targets.py compiles its
# stencils with on each Linux target (common flags, then the target's own).
TRIPLES = {"x86_64": "x86_64-unknown-linux-gnu", "aarch64": "aarch64-unknown-linux-gnu"}
CONFIGS = {
    "x86_64-O2": ("x86_64", ["-O2"]),
    "x86_64-O3": ("x86_64", ["-O3"]),
    "x86_64-stencil": ("x86_64", [
        "-O3", "-fno-asynchronous-unwind-tables", "-fno-builtin", "-fno-plt", "-fno-stack-protector",
        "-std=c11", "-fno-pic", "-mcmodel=medium", "-mlarge-data-threshold=0"]),
    "aarch64-O2": ("aarch64", ["-O2"]),
    "aarch64-O2-lse": ("aarch64", ["-O2", "-march=armv8.1-a"]),
    "aarch64-stencil": ("aarch64", [
        "-O3", "-fno-asynchronous-unwind-tables", "-fno-builtin", "-fno-plt", "-fno-stack-protector",
        "-std=c11", "-fpic", "-mno-outline-atomics"]),
}
TOOLS = ("clang-19", "llvm-objdump-19")


class HarnessError(Exception):
    """The toolchain or its output is not what this harness understands (never a refjit failure)."""


class Insn(NamedTuple):
    obj: str        # object file name, e.g. "intbits.o"
    where: str      # enclosing symbol and offset, e.g. "rotl64+0x4"
    address: int
    data: bytes     # the compiler's bytes
    text: str       # the instruction exactly as llvm-objdump printed it, with its comment

    @property
    def shown(self) -> str:
        return " ".join(self.text.split())


# llvm-objdump -d lines: "  addr: <bytes>\t<instruction>[\t# comment]". x86 prints bytes as pairs
# ("48 89 f8"), AArch64 as one 32-bit word in big-endian digit order ("d65f03c0").
_INSN = {
    "x86_64": re.compile(r"^\s*([0-9a-f]+):\s([0-9a-f]{2}(?: [0-9a-f]{2})*)\s*(?:\t(.*))?$"),
    "aarch64": re.compile(r"^\s*([0-9a-f]+):\s([0-9a-f]{8})\s*(?:\t(.*))?$"),
}
_SYMBOL = re.compile(r"^([0-9a-f]+) <(.+)>:$")
_FILE = re.compile(r"^(\S+\.o):\s+file format ")
# llvm-objdump continues a long comment ("# xmm1 = ...") on a line of its own; that is no instruction.
_COMMENT_ONLY = re.compile(r"^\s+(?:#|//)")


def require_tools() -> None:
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        # `make test` installs them; their absence is a set-up failure, never a skip.
        raise HarnessError(f"missing {', '.join(missing)} (run `make test`, which installs them)")


def compile_config(name: str, tmp: str) -> list[str]:
    """Compile every source for one configuration in one clang call; returns the object paths."""
    arch, flags = CONFIGS[name]
    out = os.path.join(tmp, name)
    os.makedirs(out, exist_ok=True)
    cmd = ["clang-19", "-c", f"--target={TRIPLES[arch]}", *flags, "-Wall", "-Werror", *SOURCES]
    proc = subprocess.run(cmd, cwd=out, capture_output=True, text=True)
    if proc.returncode != 0:
        raise HarnessError(f"{' '.join(cmd)} failed:\n{proc.stderr[:4000]}")
    return [os.path.join(out, os.path.basename(s)[:-2] + ".o") for s in SOURCES]


def parse_objdump(arch: str, listing: str) -> list[Insn]:
    """Every instruction of an llvm-objdump -d listing; refuses any line it does not understand."""
    insns: list[Insn] = []
    obj, sym, sym_addr, expect = "", "", 0, None
    insn_line = _INSN[arch]
    for line in listing.splitlines():
        if not line.strip() or _COMMENT_ONLY.match(line):
            continue
        if line.startswith("Disassembly of section"):
            expect = None   # each section's addresses start afresh
            continue
        if m := _FILE.match(line):
            obj, sym, expect = os.path.basename(m.group(1)), "", None
            continue
        if m := _SYMBOL.match(line):
            sym, sym_addr = m.group(2), int(m.group(1), 16)
            continue
        m = insn_line.match(line)
        if not m:
            raise HarnessError(f"{obj}: unexpected llvm-objdump line {line!r}")
        address, hexbytes, text = int(m.group(1), 16), m.group(2), m.group(3)
        if arch == "aarch64":
            data = int(hexbytes, 16).to_bytes(4, "little")
        else:
            data = bytes.fromhex(hexbytes)
        if text is None:
            # A long x86 encoding wrapped: this line only continues the previous one's bytes.
            if not insns or insns[-1].address + len(insns[-1].data) != address:
                raise HarnessError(f"{obj}: byte-only line {line!r} continues nothing")
            insns[-1] = insns[-1]._replace(data=insns[-1].data + data)
            expect = address + len(data)
            continue
        if expect is not None and address != expect:
            raise HarnessError(f"{obj}: gap in the listing before {line!r} (expected {expect:#x})")
        # The text goes to refjit as printed, tabs and comments ("# imm = 0x..", "// =1") included:
        # reading llvm-objdump's own output is the contract of `refjit asm`.
        text = text.rstrip()
        if not text or text.startswith("<unknown>"):
            raise HarnessError(f"{obj}: llvm-objdump could not decode {line!r}")
        insns.append(Insn(obj, f"{sym}+{address - sym_addr:#x}", address, data, text))
        expect = address + len(data)
    return insns


def disassemble_config(name: str, objects: list[str]) -> list[Insn]:
    arch = CONFIGS[name][0]
    proc = subprocess.run(["llvm-objdump-19", "-d", *objects], capture_output=True, text=True)
    if proc.returncode != 0:
        raise HarnessError(f"llvm-objdump-19 failed:\n{proc.stderr[:4000]}")
    insns = parse_objdump(arch, proc.stdout)
    if not insns:
        raise HarnessError(f"{name}: llvm-objdump-19 printed no instructions")
    return insns


@functools.lru_cache(maxsize=None)
def compiled_listing(name: str) -> tuple[Insn, ...]:
    require_tools()
    with tempfile.TemporaryDirectory(prefix="refjit-roundtrip-") as tmp:
        return tuple(disassemble_config(name, compile_config(name, tmp)))


_capstone: dict[str, capstone.Cs] = {}


def capstone_text(arch: str, data: bytes, address: int) -> str | None:
    """Capstone's reading of ``data`` as exactly one instruction at ``address``, else None."""
    if arch not in _capstone:
        if arch == "x86_64":
            md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
            md.syntax = capstone.CS_OPT_SYNTAX_ATT
        else:
            md = capstone.Cs(capstone.CS_ARCH_ARM64, capstone.CS_MODE_ARM)
        _capstone[arch] = md
    for _addr, size, mnemonic, op_str in _capstone[arch].disasm_lite(data, address, 1):
        if size == len(data):
            return f"{mnemonic} {op_str}".strip()
    return None


class Verdict(NamedTuple):
    insn: Insn
    kind: str               # "exact", "equivalent" or "failed"
    encoding: bytes | None  # refjit's bytes, if it encoded the line
    reason: str             # for "failed": refjit's error, or both readings


# An assembler as this harness sees it: (arch, ["ADDRESS: INSTRUCTION", ...]) -> per line either
# the encoding or the refusal. The test uses refjit's text front end; other callers may substitute.
Assembler = Callable[[str, list[str]], list[tuple[bytes | None, str | None]]]


def refjit_assembler(arch: str, lines: list[str]) -> list[tuple[bytes | None, str | None]]:
    from refjit.asmtext import assemble_lines

    results = assemble_lines(arch, lines)
    if len(results) != len(lines):
        raise HarnessError(f"assemble_lines returned {len(results)} results for {len(lines)} lines")
    return [(r.encoding, r.error) for r in results]


def judge(arch: str, insns: Sequence[Insn], assemble: Assembler = refjit_assembler) -> list[Verdict]:
    lines = [f"{i.address:x}: {i.text}" for i in insns]
    verdicts = []
    for insn, (encoding, error) in zip(insns, assemble(arch, lines)):
        if encoding is None:
            verdicts.append(Verdict(insn, "failed", None, f"refjit: {error}"))
        elif encoding == insn.data:
            verdicts.append(Verdict(insn, "exact", encoding, ""))
        else:
            want = capstone_text(arch, insn.data, insn.address)
            got = capstone_text(arch, encoding, insn.address)
            if want is not None and "%rip" in want and len(encoding) != len(insn.data):
                # Capstone prints a RIP-relative displacement, not the address it reaches, and
                # that address moves with the instruction's length: same text, other meaning.
                verdicts.append(Verdict(insn, "failed", encoding,
                                        f"clang {insn.data.hex()} vs refjit {encoding.hex()}: "
                                        f"RIP-relative operand with another instruction length"))
            elif want is not None and got == want:
                verdicts.append(Verdict(insn, "equivalent", encoding, ""))
            else:
                verdicts.append(Verdict(insn, "failed", encoding,
                                        f"clang {insn.data.hex()} ({want}) vs refjit {encoding.hex()} ({got})"))
    return verdicts


def summary(name: str, verdicts: list[Verdict]) -> str:
    count = {k: sum(v.kind == k for v in verdicts) for k in ("exact", "equivalent", "failed")}
    total = len(verdicts)
    ok = count["exact"] + count["equivalent"]
    # llvm-objdump prints some encodings ambiguously (`nopl (%rax)` for the 3-, 4- and 7-byte nops,
    # a relocated branch's target), so an equivalent encoding may have another length: count them.
    resized = sum(v.kind == "equivalent" and len(v.encoding) != len(v.insn.data) for v in verdicts)
    return (f"{name}: {ok}/{total} instructions round-trip ({100.0 * ok / total:.2f}%): "
            f"{count['exact']} exact, {count['equivalent']} equivalent ({resized} of another length), "
            f"{count['failed']} failed")


def failure_report(name: str, verdicts: list[Verdict], limit: int = 30) -> str:
    failed = [v for v in verdicts if v.kind == "failed"]
    lines = [summary(name, verdicts), f"first {min(limit, len(failed))} failures:"]
    for v in failed[:limit]:
        i = v.insn
        lines.append(f"  {i.obj} <{i.where}> {i.address:x}: {i.shown}  ->  {v.reason}")
    return "\n".join(lines)


# Instructions the sources must make clang emit in every configuration of an ISA, so that the
# round trip keeps covering what stencils are made of (atomics, overflow arithmetic, bit scans,
# conversions, tail calls...) even if the sources or the compiler change.
MUST_EMIT = {
    "x86_64": {"lock", "cmpxchgq", "xaddq", "xchgq", "mfence", "imulq", "mulq", "idivq", "divl",
               "adcq", "sbbq", "shldq", "shrdq", "rolq", "bsrq", "tzcntq", "bswapq", "btq", "btsq",
               "cvtsi2sd", "cvttsd2si", "ucomisd", "addsd", "mulsd", "divsd", "movsd", "andpd",
               "movzbl", "movslq", "movabsq", "cmoveq", "sete", "jmpq", "callq", "pushq", "popq"},
    "aarch64": {"ldp", "stp", "adrp", "br", "blr", "tbnz", "cbz", "madd", "msub", "smulh", "umulh",
                "sdiv", "udiv", "clz", "rbit", "rev", "cnt", "ubfx", "sbfiz", "bfi", "csel", "cset",
                "ccmp", "fcmp", "fcsel", "fadd", "fmadd", "scvtf", "fcvtzs", "ldar", "stlr", "dmb",
                "ldrsw", "ldrb", "strh"},
}
# Without LSE clang builds atomics from exclusive pairs; with -march=armv8.1-a it uses LSE.
MUST_EMIT_CONFIG = {
    "aarch64-O2": {"ldaxr", "stlxr", "ldxr", "stxr"},
    "aarch64-stencil": {"ldaxr", "stlxr", "ldxr", "stxr"},
    "aarch64-O2-lse": {"ldaddal", "casal", "swpal", "ldsetal", "ldclr"},
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_sources_exercise_what_stencils_are_made_of(name):
    emitted = {i.text.split()[0] for i in compiled_listing(name)}
    missing = (MUST_EMIT[CONFIGS[name][0]] | MUST_EMIT_CONFIG.get(name, set())) - emitted
    assert not missing, f"{name}: clang no longer emits {sorted(missing)} for tests/roundtrip/*.c"


@pytest.mark.parametrize("name", list(CONFIGS))
def test_roundtrip(name):
    arch = CONFIGS[name][0]
    verdicts = judge(arch, compiled_listing(name))
    report(summary(name, verdicts))
    assert len(verdicts) > 500, f"{name}: suspiciously few instructions ({len(verdicts)})"
    assert all(v.kind != "failed" for v in verdicts), failure_report(name, verdicts)


def command_assembler(arch: str, lines: list[str]) -> list[tuple[bytes | None, str | None]]:
    """The console script `refjit asm`, given the whole listing on stdin in one process."""
    refjit = os.path.join(os.path.dirname(sys.executable), "refjit")
    proc = subprocess.run([refjit, "asm", "--arch", arch], input="\n".join(lines) + "\n",
                          capture_output=True, text=True, timeout=120)
    if "Traceback" in proc.stderr or proc.returncode not in (0, 1):
        raise HarnessError(f"refjit asm exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    printed = proc.stdout.splitlines()
    if len(printed) != len(lines):
        raise HarnessError(f"refjit asm printed {len(printed)} lines for {len(lines)}")
    return [(None, p[len("error: "):]) if p.startswith("error: ") else (bytes.fromhex(p), None)
            for p in printed]


@pytest.mark.parametrize("name", ["x86_64-stencil", "aarch64-stencil"])
def test_roundtrip_through_the_command(name):
    # The wording: the listing fed to `refjit asm` itself (one process, whole listing).
    verdicts = judge(CONFIGS[name][0], compiled_listing(name), command_assembler)
    report(summary(name + " via refjit asm", verdicts))
    assert all(v.kind != "failed" for v in verdicts), failure_report(name + " via refjit asm", verdicts)


def test_parser_reads_wrapped_and_commented_lines():
    # A listing shaped like llvm-objdump's, with a long encoding wrapped onto a byte-only line
    # (as older llvm-objdump versions and GNU objdump print it) and a comment continued on its own
    # line; the bytes are the manual's encodings of these instructions.
    listing = "\n".join([
        "t.o:\tfile format elf64-x86-64",
        "",
        "Disassembly of section .text:",
        "",
        "0000000000000000 <f>:",
        "       0: 48 b8 88 77 66 55 44 33 22\tmovabsq\t$0x1122334455667788, %rax # imm = 0x1122334455667788",
        "       9: 11",
        "       a: 66 0f 62 0d 00 00 00 00\tpunpckldq\t(%rip), %xmm1   # xmm1 = xmm1[0],mem[0]",
        "                                \t\t# 0x12 <f+0x12>",
        "      12: c3                           \tretq",
    ])
    insns = parse_objdump("x86_64", listing)
    assert [(i.address, i.data.hex(), i.shown, i.where) for i in insns] == [
        (0x0, "48b88877665544332211", "movabsq $0x1122334455667788, %rax # imm = 0x1122334455667788", "f+0x0"),
        (0xa, "660f620d00000000", "punpckldq (%rip), %xmm1 # xmm1 = xmm1[0],mem[0]", "f+0xa"),
        (0x12, "c3", "retq", "f+0x12"),
    ]
    a64 = "\n".join([
        "t.o:\tfile format elf64-littleaarch64",
        "0000000000000010 <g>:",
        "      10: 52800028     \tmov\tw8, #0x1                // =1",
        "      14: d65f03c0     \tret",
    ])
    assert [(i.address, i.data.hex(), i.text) for i in parse_objdump("aarch64", a64)] == [
        (0x10, "28008052", "mov\tw8, #0x1                // =1"), (0x14, "c0035fd6", "ret")]
    with pytest.raises(HarnessError):
        parse_objdump("x86_64", "t.o:\tfile format elf64-x86-64\n       0: c3\tretq\n       5: c3\tretq")


def test_judge_accepts_only_what_capstone_reads_the_same():
    # jmp rel32 and jmp rel8 to the same target are one instruction; a wrong target or a refusal is not.
    insn = Insn("t.o", "f+0x0", 0x100, bytes.fromhex("e900000000"), "jmp 0x105")
    for enc, err, kind in [(bytes.fromhex("e900000000"), None, "exact"),
                           (bytes.fromhex("eb03"), None, "equivalent"),
                           (bytes.fromhex("eb04"), None, "failed"),
                           (None, "unknown mnemonic", "failed")]:
        got = judge("x86_64", [insn], lambda arch, lines: [(enc, err)])
        assert got[0].kind == kind, (enc, err, got)
    # cmpq $1, 0x10(%rip) as 48 83 3d disp32 ib and 48 81 3d disp32 id: capstone prints the same
    # text for both, but the address reached is the end of the instruction plus 0x10.
    insn = Insn("t.o", "f+0x0", 0x100, bytes.fromhex("48833d1000000001"), "cmpq $0x1, 0x10(%rip)")
    got = judge("x86_64", [insn], lambda arch, lines: [(bytes.fromhex("48813d1000000001000000"), None)])
    assert got[0].kind == "failed" and "RIP-relative" in got[0].reason


def main(argv: list[str]) -> int:
    gaps_dir = argv[argv.index("--gaps") + 1] if "--gaps" in argv else None
    per_arch: dict[str, dict[str, str]] = {arch: {} for arch in TRIPLES}
    # Equivalent encodings of the same length are not failures, but exact bytes are better.
    near: dict[str, dict[str, str]] = {arch: {} for arch in TRIPLES}
    for name, (arch, _flags) in CONFIGS.items():
        verdicts = judge(arch, compiled_listing(name))
        print(summary(name, verdicts))
        for v in verdicts:
            where = f"[{name} {v.insn.obj} <{v.insn.where}>]"
            if v.kind == "failed":
                per_arch[arch].setdefault(v.insn.shown, f"{v.reason}   {where}")
            elif v.kind == "equivalent" and len(v.encoding) == len(v.insn.data):
                near[arch].setdefault(v.insn.shown, f"clang {v.insn.data.hex()} refjit {v.encoding.hex()}   {where}")
    if gaps_dir:
        for arch, gaps in per_arch.items():
            path = os.path.join(gaps_dir, f"roundtrip-gaps-{arch}.txt")
            with open(path, "w") as f:
                f.write(f"# {len(gaps)} distinct failing lines; regenerate with "
                        f"`.venv/bin/python tests/test_roundtrip.py --gaps {gaps_dir}`\n")
                for text in sorted(gaps):
                    f.write(f"{text}\t=> {gaps[text]}\n")
                f.write(f"# {len(near[arch])} lines accepted as equivalent, same length, other bytes\n")
                for text in sorted(near[arch]):
                    f.write(f"{text}\t=> {near[arch][text]}\n")
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
