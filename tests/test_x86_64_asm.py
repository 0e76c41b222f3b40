"""The x86-64 encoder against GNU as, llvm-mc-19 and capstone.

Every form of the table gets seeded random operands (tests/x86_64_cases.py); each case is
encoded by refjit's text front end and by the API, and by the two external assemblers in one
batched call each. The bytes must be equal, except where an allow-list below names an oracle
that picks another valid encoding, and capstone must decode refjit's bytes back to the same
instruction.
"""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import given, settings, strategies as st

from oracles import assemble_each
from refjit.backends.x86_64 import asm as x86
from refjit.backends.x86_64 import text as x86text
from refjit.backends.x86_64.asm import Assembler, Label, Mem
from refjit.disasm import disassemble_one
from refjit.errors import AsmError
from x86_64_cases import cases_for, every_addressing_mode, hexnum, high8_cases, mem_text

CASES_PER_FORM = 24

# Where an oracle picks another valid encoding for the same text: (oracle, form) -> reason.
ALLOWED = {
    ("gnu", f"XCHG{s}_rr"): "GNU as puts the AT&T source in ModRM.reg, llvm-mc the destination; "
                            "xchg is symmetric, both are the same instruction"
    for s in "BWLQ"
}


def _allowed(oracle: str, form_name: str) -> bool:
    return (oracle, form_name) in ALLOWED


@pytest.fixture(scope="module")
def table():
    rng = random.Random(20261125)
    cases = []
    for f in x86.FORMS.values():
        if f.openc == "D":
            continue   # direct branches: test_branches_* below
        cases += cases_for(f, rng, CASES_PER_FORM if f.kinds else 1)
    lines = [c.text for c in cases]
    return {
        "cases": cases,
        "gnu": assemble_each("gnu", "x86_64", lines),
        "llvm": assemble_each("llvm", "x86_64", lines),
        "text": [x86text.assemble(line, 0x1000) for line in lines],
    }


def _report(bad: list[str], total: int) -> str:
    return f"{len(bad)} of {total} differ:\n" + "\n".join(bad[:40])


@pytest.mark.parametrize("oracle", ["llvm", "gnu"])
def test_text_front_end_matches_oracle(table, oracle):
    bad = []
    for case, want, got in zip(table["cases"], table[oracle], table["text"]):
        chosen = x86text.parse(case.text, 0x1000).form.name
        if got != want and not _allowed(oracle, chosen):
            bad.append(f"{case.text:50} {oracle}={want.hex()} refjit={got.hex()} ({chosen})")
    assert not bad, _report(bad, len(table["cases"]))


def test_forms_cover_the_table(table):
    seen = {c.form.name for c in table["cases"]}
    assert seen == {f.name for f in x86.FORMS.values() if f.openc != "D"}
    assert len(table["cases"]) > 15000
    # every register in every register position of every form (xchgl's 90+r excepted: see cases)
    regs: dict[tuple[str, int], set] = {}
    for c in table["cases"]:
        explicit = [k for k in c.form.kinds if k not in x86.IMPLICIT]
        for pos, (kind, arg) in enumerate(zip(explicit, c.args)):
            if kind in ("r8", "r16", "r32", "r64", "x"):
                regs.setdefault((c.form.name, pos), set()).add(arg)
    short = {key: sorted(set(range(16)) - got) for key, got in regs.items()
             if got != set(range(16)) and key[0] not in ("XCHGL_ar", "XCHGL_ra", "XCHGW_ar",
                                                          "XCHGW_ra", "XCHGQ_ar", "XCHGQ_ra")}
    assert not short


def test_allow_list_entries_are_used(table):
    """An allow-list entry that no case needs is stale: remove it."""
    used = set()
    for case, want, got in zip(table["cases"], table["gnu"], table["text"]):
        if got != want:
            used.add(("gnu", x86text.parse(case.text, 0x1000).form.name))
    assert set(ALLOWED) <= used


def test_api_matches_oracle_or_is_an_equivalent_encoding(table):
    """The API method of each form gives llvm's bytes when the text front end would choose that
    form; otherwise (a non-preferred encoding such as ADDQ_ri32 of a small value) capstone must
    read it as the same instruction."""
    bad = []
    for case, want in zip(table["cases"], table["llvm"]):
        a = Assembler()
        case.form.emit(a, *case.args)
        got = a.finish()
        if got == want:
            continue
        chosen = x86text.parse(case.text, 0x1000).form.name
        if chosen == case.form.name:
            bad.append(f"{case.form.name:16} {case.text:50} llvm={want.hex()} api={got.hex()}")
        elif normalise(decode(got)) != normalise(case.text):
            bad.append(f"{case.form.name:16} {case.text:50} api={got.hex()} "
                       f"decodes as {decode(got)}")
    assert not bad, _report(bad, len(table["cases"]))


def test_register_immediate_choosers_pick_llvms_encoding():
    """ADDQ_ri, TESTB_ri, MOVQ_ri...: the API method without an encoding in its name makes
    llvm-mc's choice (imm8 form, accumulator short form, imm32, movabs)."""
    lines, ours = [], []
    regs = {8: [*range(16), x86.AH, x86.BH], 16: range(16), 32: range(16), 64: range(16)}
    for stem in ("add", "or", "adc", "sbb", "and", "sub", "xor", "cmp", "test", "mov"):
        for n, sfx in ((8, "b"), (16, "w"), (32, "l"), (64, "q")):
            values = [0, 1, -1, 127, 128, -128, -129, (1 << (n - 1)) - 1, -(1 << (n - 1)),
                      (1 << n) - 1 if n < 64 else 0x7FFFFFFF, 0x1000 & ((1 << n) - 1)]
            if stem == "mov" and n == 64:
                values += [1 << 32, -(1 << 40), (1 << 64) - 2]
            for i, reg in enumerate(regs[n]):
                v = values[i % len(values)]
                names = x86.GPR8 if n == 8 else {16: x86.GPR16, 32: x86.GPR32, 64: x86.GPR64}[n]
                name = x86.HIGH8_NAMES[reg] if reg & x86.HIGH8 else names[reg]
                for value in (v, values[(i + 3) % len(values)]):
                    if not -(1 << (n - 1)) <= value < (1 << n):
                        continue
                    if n == 64 and stem != "mov" and not -(1 << 31) <= value < (1 << 31):
                        continue
                    a = Assembler()
                    getattr(a, f"{stem.upper()}{sfx.upper()}_ri")(reg, value)
                    ours.append(a.finish())
                    lines.append(f"{stem}{sfx} ${value:#x}, %{name}".replace("$-0x", "$-0x"))
    llvm = assemble_each("llvm", "x86_64", lines)
    assert [(line, o.hex()) for line, o, w in zip(lines, ours, llvm) if o != w] == []


# --- capstone reads refjit's bytes back ----------------------------------------------------------

# Spellings that differ between llvm-objdump (our input) and capstone (its output), same meaning.
_MNEMONIC_ALIASES = {"movabsq": "movq", "cvtsi2sdl": "cvtsi2sd", "cvtsi2sdq": "cvtsi2sd",
                     "cvtsi2ssl": "cvtsi2ss", "cvtsi2ssq": "cvtsi2ss"}
_NUM = re.compile(r"(\$?)(-?)(0x[0-9a-f]+|\d+)")


def decode(code: bytes) -> str:
    insn = disassemble_one("x86_64", code, 0x1000)
    if insn is None or len(insn.data) != len(code):
        return f"<undecodable or wrong length: {code.hex()}>"
    return insn.text


def normalise(text: str) -> str:
    """Canonical text for comparing our input with capstone's output: numbers as the bit pattern
    of their field, no blanks, no explicit scale 1, no zero displacement, symmetric xchg sorted."""
    t = text.lower().replace("\t", " ").strip()
    mn, _, ops = t.partition(" ")
    if mn == "lock":
        mn, _, ops = ops.strip().partition(" ")
        mn = "lock " + mn
    mn = _MNEMONIC_ALIASES.get(mn, mn)
    if mn[:4] in ("movs", "stos") and len(mn) == 5:
        ops = ""    # string instructions: capstone spells out the implicit operands
    width = {"b": 8, "w": 16}.get(mn[-1], 32)

    def num(m):
        v = int(m.group(3), 0) * (-1 if m.group(2) else 1)
        x = v % (1 << 64)
        if m.group(1):
            s = x - (1 << 64) if x >= 1 << 63 else x
            if -(1 << 31) <= s < (1 << 32):
                x = s % (1 << width if width < 32 else 1 << 32)
        return f"{m.group(1)}{x:#x}"
    ops = _NUM.sub(num, ops.replace(" ", "").replace(",1)", ")"))
    ops = re.sub(r"(?<![0-9a-fx])0x0\(", "(", ops)
    if mn[:3] in ("rol", "ror", "rcl", "rcr", "shl", "shr", "sar", "sal") and \
            "," not in re.sub(r"\([^)]*\)", "", ops):
        ops = "$0x1," + ops     # a shift by one printed without its count
    if mn.startswith(("xchg", "test")) and "$" not in ops:   # symmetric: operand order is free
        ops = ",".join(sorted(ops.split(",")))
    return f"{mn} {ops}".strip()


CAPSTONE_ALLOWED = {
    "NOP": "capstone reads 90 as nop (the text was xchgq %rax, %rax, which llvm-mc encodes as nop)",
}


def test_capstone_decodes_refjit_bytes_to_the_same_instruction(table):
    bad = []
    for case, got in zip(table["cases"], table["text"]):
        chosen = x86text.parse(case.text, 0x1000).form.name
        if chosen in CAPSTONE_ALLOWED:
            continue
        if normalise(decode(got)) != normalise(case.text):
            bad.append(f"{case.text:50} {got.hex():30} capstone: {decode(got)}")
    assert not bad, _report(bad, len(table["cases"]))


def test_every_addressing_mode_matches_oracles():
    """All bases x indexes x scales x displacement boundaries, in the reg and the rm position,
    for a GPR load, a store of an extended register and an SSE load (mandatory prefix + REX)."""
    lines, ours = [], []
    for m in every_addressing_mode():
        mt = mem_text(m)
        for fname, args, text in (("MOVQ_rm", (x86.R9, m), f"movq {mt}, %r9"),
                                  ("MOVL_mr", (m, x86.RSI), f"movl %esi, {mt}"),
                                  ("MOVSD_xm", (x86.XMM12, m), f"movsd {mt}, %xmm12")):
            a = Assembler()
            x86.FORMS[fname].emit(a, *args)
            ours.append(a.finish())
            lines.append(text)
    assert len(lines) > 10000
    text_bytes = [x86text.assemble(line) for line in lines]
    llvm = assemble_each("llvm", "x86_64", lines)
    assert [(line, b.hex()) for line, b, w in zip(lines, ours, llvm) if b != w] == []
    assert text_bytes == ours
    assert assemble_each("gnu", "x86_64", lines) == ours


def test_lock_prefixed_forms_match_oracles():
    rng = random.Random(7)
    lines, ours, names = [], [], []
    for f in x86.FORMS.values():
        if not f.lockable:
            continue
        for case in cases_for(f, rng, 6):
            a = Assembler()
            a.lock()
            f.emit(a, *case.args)
            ours.append(a.finish())
            lines.append("lock " + case.text)
            names.append(f.name)
    assert len(lines) > 300
    text_bytes = [x86text.assemble(line) for line in lines]
    # the API emits the form it was asked for; where the text picks another one, compare those
    same = [x86text.parse(line).form.name == name for line, name in zip(lines, names)]
    assert [t for t, s in zip(text_bytes, same) if s] == [o for o, s in zip(ours, same) if s]
    assert sum(same) > 200
    ours = text_bytes
    llvm = assemble_each("llvm", "x86_64", lines)
    assert [(line, b.hex(), w.hex()) for line, b, w in zip(lines, ours, llvm) if b != w] == []
    gnu = assemble_each("gnu", "x86_64", lines)
    assert [(line, b.hex(), w.hex()) for line, b, w in zip(lines, ours, gnu) if b != w] == []


def test_llvm_objdump_listing_of_every_form_reassembles_to_the_same_bytes(table):
    """The text contract: what llvm-objdump-19 prints for refjit's code of every case comes back
    as exactly the same bytes (its spellings: shifts by one, suffix-less cvtsi2sd, `lock` on a
    line of its own, `# imm =` comments, xchg operand order...)."""
    import os
    import subprocess
    import tempfile
    from refjit.asmtext import assemble_lines
    code = b"".join(table["text"])
    with tempfile.TemporaryDirectory(prefix="refjit-x86-") as tmp:
        src, obj = os.path.join(tmp, "code.s"), os.path.join(tmp, "code.o")
        with open(src, "w") as f:
            f.write(".text\n")
            for i in range(0, len(code), 64):
                f.write(".byte " + ",".join(str(b) for b in code[i:i + 64]) + "\n")
        subprocess.run(["as", "--64", "-o", obj, src], check=True)
        listing = subprocess.run(["llvm-objdump-19", "-d", "--no-show-raw-insn", obj],
                                 capture_output=True, text=True, check=True).stdout
    lines = [line for line in listing.splitlines() if re.match(r"\s+[0-9a-f]+:\s", line)]
    assert len(lines) >= len(table["cases"])
    bad = []
    for r in assemble_lines("x86_64", lines):
        if r.error or r.encoding != code[r.address:r.address + len(r.encoding)]:
            bad.append(f"{r.address:#x} {r.text!r}: {r.error or r.encoding.hex()} "
                       f"(was {code[r.address:r.address + 12].hex()})")
    assert not bad, _report(bad, len(lines))


# --- special operands ----------------------------------------------------------------------------

def test_legacy_high_byte_registers():
    lines = high8_cases()
    ours = [x86text.assemble(line) for line in lines]
    assert ours == assemble_each("llvm", "x86_64", lines)
    assert ours == assemble_each("gnu", "x86_64", lines)


SPECIAL_LINES = [
    # objdump spellings: shift by one without a count, suffix-less forms, lone prefixes, nops.
    "shlq %rax", "sarl %ecx", "rolb (%rax)", "shrw %r9w",
    "add %rax, %rbx", "mov %eax, %r9d", "push %rbp", "pop %r12", "ret", "call *%rax",
    "jmp *0x8(%rax,%rcx,8)", "callq *(%rip)", "jmpq *0x10(%rip)",
    "movl 0x1234, %eax", "movq %fs:0x28, %rax", "movq %fs:0x0, %r9", "movq %gs:(%rax), %rdi",
    "nopw %cs:0x0(%rax,%rax)", "nopl 0x0(%rax)", "nopl 0x0(%rax,%rax)", "nopw 0x0(%rax,%rax)",
    "nopl (%rax)", "xchg %ax, %ax", "xchgw %ax, %ax", "xchgq %rax, %rax", "xchgl %eax, %eax",
    "xchgq %rcx, %rax", "xchgq %rax, %r8",
    "lock cmpxchgq %rcx, (%rdx)", "lock xaddl %eax, (%rcx)", "lock incl (%rax)",
    "lock decq 0x8(%rdi)", "lock orb $0x1, (%rax)", "lock addl $0x1, %fs:(%rax)",
    "lock andq %rcx, (%rsp)", "lock xchgq %rax, (%rbx)", "lock btsq $0x3, (%rax)",
    "movabsq $0x0, %rax", "movq $0x123456789, %rax", "movl $0xffffffff, %eax",
    "movq $-0x1, %rax", "addl $0xffffffff, %eax", "andl $0xffffff00, %ecx", "addw $0xffff, %ax",
    "testb $0x1, %al", "testl $0x100, %eax", "testq (%rbx), %rax",
    "cvtsi2sd %rax, %xmm0", "cvtsi2sd %r10d, %xmm15", "cvtsi2sdl (%rax), %xmm0",
    "cvtsi2sdq 0x8(%r13), %xmm9", "cvttsd2si %xmm8, %r11", "cvttsd2si (%rax), %eax",
    "sete %al", "setz %r9b", "setnae %sil", "cmovzq %rcx, %rax", "cmovnbel (%rax), %ecx",
    "salq $0x3, %rax", "movabs $0x1234, %r15", "cqo", "cdqe", "retq $0x8",
    "imulq $0xc, %rax, %rcx", "imull $0x3e8, (%rax), %ecx", "pushq $0x1000", "pushq $-0x80",
    "movsd 0x10(%rip), %xmm1", "movq %xmm0, %rax", "movq %rax, %xmm0", "movd %xmm3, %r8d",
    "leaq -0x8(%rbp), %rsp", "leaq (,%rax,8), %rcx", "leaq 0x10(,%r12,2), %rcx",
    "movq 0x0(%r13), %rax", "movq (%r12), %rax", "movq (%rsp,%rax), %rax",
    "movq %rax, 0x7fffffff(%rbp,%r13,8)", "movq -0x80000000(%r12), %rax",
    "MOVQ %RAX, %RBX",
    "rep stosq %rax, %es:(%rdi)", "rep movsb (%rsi), %es:(%rdi)", "rep stosb", "leave",
    "lock cmpxchg16b (%rdi)", "cmpeqsd %xmm1, %xmm0", "cmpnltpd 0x10(%rax), %xmm9",
    "shldq $0x3, %rax, %rdx", "shrdq %cl, %r9, (%rsi)", "pshufd $0x4e, %xmm1, %xmm0",
    "psrlq $0x20, %xmm3", "movmskpd %xmm0, %eax", "prefetcht0 0x40(%rdi)",
    "cs nopw 0x0(%rax,%rax)", "notrack jmpq *%rax", "ds callq *0x8(%rax)",
]


def test_special_spellings():
    ours = [x86text.assemble(line, 0x1000) for line in SPECIAL_LINES]
    llvm = assemble_each("llvm", "x86_64", SPECIAL_LINES)
    gnu = assemble_each("gnu", "x86_64", SPECIAL_LINES)
    bad = [f"{line:40} refjit={o.hex()} llvm={w.hex()}"
           for line, o, w in zip(SPECIAL_LINES, ours, llvm) if o != w]
    assert not bad, "\n".join(bad)
    bad = [f"{line:40} refjit={o.hex()} gnu={g.hex()}"
           for line, o, g in zip(SPECIAL_LINES, ours, gnu)
           if o != g and not line.startswith("xchg")]
    assert not bad, "\n".join(bad)


def test_lone_prefix_lines_and_objdump_comments():
    # llvm-objdump prints `lock` on a line of its own, and `# imm = ...` / `# 0x... <sym>` comments.
    assert x86text.assemble("lock") == b"\xf0"
    assert x86text.assemble("data16") == b"\x66"
    want = assemble_each("llvm", "x86_64", ["addl $0x1000, %eax", "leaq 0x10(%rip), %rax"])
    assert x86text.assemble("addl\t$0x1000, %eax           # imm = 0x1000") == want[0]
    assert x86text.assemble("leaq\t0x10(%rip), %rax        # 0xa4") == want[1]


# --- branches ------------------------------------------------------------------------------------

BRANCH_OFFSETS = [0, 1, 2, -2, -126, -127, 127, 128, 129, 130, 131, 132, 133, -128, -129, -130,
                  -131, 0x1000, -0x1000, 0x7FFFFF00, -0x7FFFFF00, 0x7FFFFFFF + 5 - 6 - 10]


def test_branches_to_absolute_targets_match_oracles():
    """`jmp .+N` in the oracles, `jmp <address+N>` in refjit's text: the same bytes (rel8 when
    it reaches)."""
    base = 0x80000000
    ours, lines = [], []
    for mn in ["jmp", "callq"] + [f"j{cc}" for cc in x86.CC]:
        for n in BRANCH_OFFSETS:
            lines.append(f"{mn} .{n:+#x}".replace("+-", "-"))
            ours.append(x86text.assemble(f"{mn} {base + n:#x}", base))
    assert ours == assemble_each("llvm", "x86_64", lines)
    assert ours == assemble_each("gnu", "x86_64", lines)


def test_prefixed_branches():
    """Branch hints and addr32 before a direct branch: the displacement counts from the end of the
    whole instruction. GNU as's `.` is the first prefix, like our address."""
    base = 0x1000
    lines, ours = [], []
    for pfx in ("cs", "ds"):
        for mn in ("jmp", "jne", "jle"):
            for n in (0x10, -0x10, 0x200):
                lines.append(f"{pfx} {mn} .{n:+#x}".replace("+-", "-"))
                ours.append(x86text.assemble(f"{pfx} {mn} {base + n:#x}", base))
    assert ours == assemble_each("gnu", "x86_64", lines)
    assert x86text.assemble("addr32 callq 0x1100", 0x1000) == bytes.fromhex("67e8fa000000")
    for bad in ("data16 jmp 0x1010", "rep jne 0x1010", "lock callq 0x1010", "notrack jmp 0x1010"):
        with pytest.raises(AsmError, match="prefix"):
            x86text.assemble(bad, 0x1000)


def test_forced_long_branches_match_oracles():
    lines, ours = [], []
    for mn, long_form in [("jmp", "JMP_d32"), ("jne", "JNE_d32"), ("jle", "JLE_d32")]:
        for disp in (0, 1, -1, 127, -128, 0x7FFFFFFF, -0x80000000):
            f = x86.FORMS[long_form]
            a = Assembler()
            f.emit(a, disp)
            ours.append(a.finish())
            lines.append(f"{{disp32}} {mn} .+{len(ours[-1])}{disp:+#x}".replace("+-", "-"))
    assert ours == assemble_each("llvm", "x86_64", lines)
    assert ours == assemble_each("gnu", "x86_64", lines)


def test_labels_and_forward_references_match_oracle():
    a = Assembler()
    top, fwd, near, far, data = (Label(n) for n in ("top", "fwd", "near", "far", "data"))
    a.bind(top)
    a.jmp(fwd)                 # forward: rel32 by default
    a.jcc("ne", near, short=True)
    a.call(far)
    a.lea_label(x86.RAX, data)
    a.bind(near)
    a.jcc("e", top)            # backward and in range: rel8
    a.jmp(top)
    a.bind(fwd)
    for _ in range(40):
        a.ADDQ_ri(x86.RAX, 0x1000)
    a.jcc("z", top)            # backward, beyond rel8: rel32
    a.bind(far)
    a.RETQ()
    a.bind(data)
    a.emit_bytes(b"\x01\x02")
    code = a.finish()
    src = "\n".join([
        "top:", "{disp32} jmp fwd", "jne near", "callq far", "leaq data(%rip), %rax",
        "near:", "je top", "jmp top", "fwd:", *["addq $0x1000, %rax"] * 40, "je top",
        "far:", "retq", "data:", ".byte 1, 2"])
    assert code == assemble_each("llvm", "x86_64", [src])[0]
    assert code == assemble_each("gnu", "x86_64", [src])[0]


def test_nops_pad_like_llvm():
    ours = []
    for n in range(0, 41):
        a = Assembler()
        a.nops(n)
        ours.append(a.finish())
    lines = [f".nops {n}" if n else "" for n in range(0, 41)]
    assert ours == assemble_each("llvm", "x86_64", lines)
    assert all(len(o) == n for n, o in enumerate(ours))


def test_module_docstring_example():
    """The example at the top of asm.py does what its comments say."""
    src = x86.__doc__.split("For example::", 1)[1]
    lines = [line.split("#", 1)[0].strip() for line in src.splitlines() if line.strip()]
    scope = {name: getattr(x86, name) for name in dir(x86) if not name.startswith("_")}
    exec("\n".join(line for line in lines if line), scope)
    want = assemble_each("llvm", "x86_64", [
        "movq -0x8(%r13), %rax\ntestb $0x1, %al\n{disp32} jne 1f\nincl (%rax)\n1:\n"
        "movabsq $0x0, %rdi"])[0]
    assert scope["code"] == want
    assert scope["a"].relocs == [x86.Reloc(len(want) - 8, "patch_64", "_JIT_OPARG", 0)]


def test_align_pads_like_p2align():
    ours, lines = [], []
    for start in range(0, 33):
        for log2 in (3, 4, 5, 6):
            a = Assembler()
            a.emit_bytes(b"\xcc" * start)
            a.align(1 << log2)
            a.align(64)         # so that the next line of the batch starts 64-aligned too
            ours.append(a.finish())
            lines.append(".byte 0xcc\n" * start + f".p2align {log2}\n.p2align 6")
    assert ours == assemble_each("llvm", "x86_64", lines)
    with pytest.raises(AsmError, match="power of two"):
        Assembler().align(12)


def test_unbound_and_out_of_range_labels_are_refused():
    a = Assembler()
    a.jmp(Label("nowhere"))
    with pytest.raises(AsmError, match="unbound label.*nowhere"):
        a.finish()
    a = Assembler()
    target = Label("t")
    a.jmp(target, short=True)
    a.emit_bytes(b"\x90" * 200)
    with pytest.raises(AsmError, match="short branch"):
        a.bind(target)
    a = Assembler()
    back = Label("b")
    a.bind(back)
    a.emit_bytes(b"\x90" * 200)
    with pytest.raises(AsmError, match="short branch"):
        a.jcc("ne", back, short=True)
    with pytest.raises(AsmError, match="bound twice"):
        a.bind(back)
    with pytest.raises(AsmError, match="condition"):
        a.jcc("zz", back)


def test_relocation_offsets_match_llvm_fixups():
    """Reloc.offset is the offset of the patched field, as llvm-mc reports its fixups."""
    import subprocess
    a = Assembler()
    a.MOVABSQ_ri64(x86.RDI, 0)
    a.reloc("patch_64", "_JIT_OPARG")
    a.CALLQ_m(Mem(x86.RIP, 0))
    a.reloc("patch_x86_64_32rx", "_Py_Dealloc", -4)
    a.MOVQ_rm(x86.R11, Mem(x86.RIP, 0))
    a.reloc("patch_x86_64_32rx", "PyFloat_Type", -4)
    a.JMP_d32(0)
    a.reloc("patch_32r", "_JIT_CONTINUE", -4)
    code = a.finish()
    src = ("movabsq $_JIT_OPARG, %rdi\ncallq *_Py_Dealloc@GOTPCREL(%rip)\n"
           "movq PyFloat_Type@GOTPCREL(%rip), %r11\n{disp32} jmp _JIT_CONTINUE\n")
    out = subprocess.run(["llvm-mc-19", "--triple=x86_64-unknown-linux-gnu", "-show-encoding"],
                         input=src, capture_output=True, text=True, check=True).stdout
    starts, fixups, pos = [], [], 0
    for line in out.splitlines():
        enc = re.search(r"encoding: \[(.*)\]", line)
        if enc:
            starts.append(pos)
            pos += len(enc.group(1).split(","))
        fix = re.search(r"fixup A - offset: (\d+)", line)
        if fix:
            fixups.append(starts[-1] + int(fix.group(1)))
    assert [r.offset for r in a.relocs] == fixups
    assert [r.kind for r in a.relocs] == ["patch_64", "patch_x86_64_32rx", "patch_x86_64_32rx",
                                          "patch_32r"]
    assert len(code) == pos
    with pytest.raises(AsmError, match="relocation kind"):
        a.reloc("R_X86_64_64", "x")


# --- refusals ------------------------------------------------------------------------------------

REFUSED = {
    "unknown mnemonic": ["frobq %rax", "vaddsd %xmm0, %xmm1, %xmm2", "movsx %al, %eax"],
    "wrong operand kinds": ["addq %xmm0, %rax", "movsd %rax, %xmm0", "leaq %rax, %rbx",
                            "jmpq %rax", "callq 0x10(%rax)", "pushq %eax", "addq $1"],
    "operand size mismatch": ["addq %eax, %rbx", "movl %rax, %ecx", "movzbl %ax, %eax",
                              "cmovneq %ecx, %eax", "movq %xmm0, %eax"],
    "immediate out of range": ["addq $0x100000000, %rax", "addb $0x100, %al",
                               "movl $0x100000000, %eax", "shlq $0x100, %rax", "addw $0x10000, %ax",
                               "movq $0x10000000000000000, %rax", "andq $0xffffffff, %rcx",
                               "retq $0x10000"],
    "branch out of range": ["jmp 0x100000000", "jne 0x80010000", "callq 0x7fffffffffff"],
    "high byte with REX": ["movb %ah, %sil", "movzbq %ah, %rax", "addb %ch, %r8b",
                           "movb %bh, (%r9)"],
    "bad memory operand": ["movq (%rsp,%rsp), %rax", "movq (%rax,%rbx,3), %rcx",
                           "movq (%eax), %rcx",
                           "movq 0x10(%rip,%rax), %rcx", "movq 0x100000000(%rax), %rcx",
                           "movq (%rax, %xmm0), %rcx", "movq %es2:(%rax), %rcx", "movq (), %rax",
                           "movq ((%rax)), %rax", "movq 0x10(%rax, %rbx, 2, 4), %rcx"],
    "bad lock": ["lock addl %eax, %ecx", "lock movq %rax, (%rbx)", "lock jmp 0x10",
                 "lock addq (%rax), %rcx", "lock cmpxchgq %rcx, %rdx", "lock lock"],
    "ambiguous size": ["add $1, (%rax)", "inc (%rax)", "cvtsi2sd (%rax), %xmm0"],
    "garbage": ["", "   ", "%rax", "$1", "movq", "movq %rax,", "movq ,%rax", "addq %rax %rbx",
                "movq $, %rax", "movq $0xg, %rax", "movq $" + "9" * 5000 + ", %rax",
                "movq 0x" + "f" * 5000 + "(%rax), %rcx", "movq $08, %rax", "movq $-, %rax",
                "jmp", "jmp foo", "j 0x10", "movq %rax, %rbx, %rcx"],
}


@pytest.mark.parametrize("why", sorted(REFUSED))
def test_refused(why):
    for line in REFUSED[why]:
        with pytest.raises(AsmError):
            x86text.assemble(line, 0x1000)
            pytest.fail(f"accepted {line!r}")


def test_refused_lines_are_also_refused_by_gnu_as():
    """What we refuse for its operands, GNU as refuses too (one process per line, few lines)."""
    import subprocess
    import tempfile
    import os
    checked = [line for why in ("wrong operand kinds", "operand size mismatch",
                                "immediate out of range", "high byte with REX", "bad lock")
               for line in REFUSED[why] if line != "lock lock"]
    with tempfile.TemporaryDirectory() as tmp:
        for line in checked:
            path = os.path.join(tmp, "x.s")
            with open(path, "w") as f:
                f.write(line + "\n")
            proc = subprocess.run(["as", "--64", "-o", os.path.join(tmp, "x.o"), path],
                                  capture_output=True, text=True)
            assert proc.returncode != 0 or "Warning" in proc.stderr, f"GNU as accepts {line!r}"


def test_api_refusals():
    a = Assembler()
    with pytest.raises(AsmError, match="out of range"):
        a.ADDQ_ri8(x86.RAX, 128)
    with pytest.raises(AsmError, match="32 signed bits"):
        a.MOVQ_rm(x86.RAX, Mem(x86.RBX, 1 << 31))
    with pytest.raises(AsmError, match="index"):
        a.MOVQ_rm(x86.RAX, Mem(x86.RBX, 0, x86.RSP))
    with pytest.raises(AsmError, match="scale"):
        a.MOVQ_rm(x86.RAX, Mem(x86.RBX, 0, x86.RCX, 3))
    with pytest.raises(AsmError, match="REX"):
        a.MOVB_rr(x86.AH, x86.RSI)
    with pytest.raises(AsmError, match="accumulator"):
        a.XCHGL_ar(x86.RAX)
    with pytest.raises(AsmError, match="not a r64 register"):
        a.ADDQ_rr(x86.RIP, x86.RAX)        # RIP is only a Mem base
    with pytest.raises(AsmError, match="not a x register"):
        a.MOVSD_xx(x86.XMM0, 16)
    with pytest.raises(AsmError, match="not a r8 register"):
        a.MOVB_rr(x86.HIGH8 | 3, x86.RAX)
    with pytest.raises(AsmError, match="segment prefix"):
        a.MOVQ_rm(x86.RAX, Mem(x86.RBX, seg=0x66))
    with pytest.raises(AsmError, match="base register"):
        a.MOVQ_rm(x86.RAX, Mem(17))
    assert a.finish() == b""     # nothing half-emitted by a refused instruction
    a = Assembler()
    a.lock()
    with pytest.raises(AsmError, match="lock prefix is not allowed"):
        a.ADDQ_rm(x86.RAX, Mem(x86.RBX))     # the memory operand is only read
    with pytest.raises(AsmError, match="lock prefix with no instruction"):
        a.finish()


def _llvm_encode_or_reject(lines: list[str]) -> list[bytes | None]:
    """llvm-mc-19 on a batch that may contain bad lines: bytes per line, None where it refuses.
    (In text mode llvm-mc goes on after an error; `.set` markers delimit the lines.)"""
    import subprocess
    src = "".join(f".set __m{i}, 0\n{line}\n" for i, line in enumerate(lines))
    out = subprocess.run(["llvm-mc-19", "--triple=x86_64-unknown-linux-gnu", "-show-encoding"],
                         input=src, capture_output=True, text=True).stdout
    enc: dict[int, bytes] = {}
    cur = None
    for line in out.splitlines():
        m = re.match(r"\.set __m(\d+), 0", line.strip())
        if m:
            cur = int(m.group(1))
            continue
        m = re.search(r"encoding: \[(.*)\]", line)
        if m and cur is not None:
            enc[cur] = enc.get(cur, b"") + bytes(int(x, 16) for x in m.group(1).split(","))
    return [enc.get(i) for i in range(len(lines))]


def test_mutated_lines_we_accept_are_encoded_the_same_by_llvm(table):
    """Differential fuzzing: valid lines with random edits; whatever refjit still accepts,
    llvm-mc must accept too and encode identically (found octal numbers, ambiguous sizes...)."""
    rng = random.Random(99)
    valid = [c.text for c in table["cases"]]
    alphabet = "%$(),*:-+x0123456789abcdefqlwrsi <>\t%rax%xmm1%ah%fs:"
    accepted: dict[str, bytes] = {}
    for _ in range(40000):
        s = list(rng.choice(valid))
        for _ in range(rng.randint(1, 3)):
            pos = rng.randrange(len(s) + 1)
            r = rng.random()
            if r < 0.4 and s:
                del s[min(pos, len(s) - 1)]
            elif r < 0.8:
                s.insert(pos, rng.choice(alphabet))
            else:
                s[pos:pos] = list(rng.choice(valid))[:rng.randint(0, 10)]
        line = "".join(s).strip()
        if "#" in line or "<" in line or ">" in line or line.startswith(("j", "call")):
            continue   # comments are stripped by us, not llvm-mc; branch targets differ in meaning
        try:
            accepted[line] = x86text.assemble(line, 0x1000)
        except AsmError:
            pass
    assert len(accepted) > 500
    lines = list(accepted)
    llvm = _llvm_encode_or_reject(lines)
    bad = [f"{line!r}: refjit={accepted[line].hex()} llvm={w.hex() if w else 'refuses'}"
           for line, w in zip(lines, llvm) if w != accepted[line]]
    assert not bad, "\n".join(bad[:30])


def test_random_operand_combinations_we_accept_are_encoded_the_same_by_llvm():
    """Grammar fuzzing: every mnemonic (and suffix-less stem) with 0-3 operands drawn from all
    registers, boundary immediates and addressing modes; refjit accepts a small fraction, and
    each of those llvm-mc must accept and encode identically (too permissive = failure)."""
    rng = random.Random(2026)
    mnemonics = sorted(set(x86.BY_MNEMONIC) | x86.SIZED_STEMS | {"push", "pop", "ret", "movabs",
                                                                  "sal", "salq", "setz", "cmovzq"})
    mnemonics = [m for m in mnemonics if not m.startswith(("j", "call"))]
    regs = ["%" + r for r in x86.GPR64 + x86.GPR32 + x86.GPR16 + x86.GPR8]
    regs += ["%ah", "%bh", "%ch", "%dh"]
    regs += [f"%xmm{i}" for i in range(16)]
    imms = ["$" + hexnum(v) for v in (0, 1, -1, 0x7F, 0x80, -0x80, -0x81, 0xFF, 0x100, 0x7FFF,
                                      0x8000, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF,
                                      1 << 32, -(1 << 31), -(1 << 31) - 1, (1 << 64) - 1,
                                      (1 << 63) - 1)]
    mems = ["(%rax)", "0x10(%rsp)", "-0x80(%rbp,%rcx,8)", "0x1000(%rip)", "0x1234", "%fs:0x28",
            "(,%r13,4)", "(%r12,%r9)"]
    accepted: dict[str, bytes] = {}
    for _ in range(60000):
        count = rng.choice([0, 1, 2, 2, 2, 3])
        ops = [rng.choice(rng.choice([regs, regs, imms, mems])) for _ in range(count)]
        if rng.random() < 0.05:
            ops = ["*" + o for o in ops[:1]]
        lock = "lock " if rng.random() < 0.05 else ""
        line = f"{lock}{rng.choice(mnemonics)} {', '.join(ops)}".strip()
        try:
            accepted[line] = x86text.assemble(line, 0x1000)
        except AsmError:
            pass
    assert len(accepted) > 1000
    lines = list(accepted)
    bad = [f"{line!r}: refjit={accepted[line].hex()} llvm={w.hex() if w else 'refuses'}"
           for line, w in zip(lines, _llvm_encode_or_reject(lines)) if w != accepted[line]]
    assert not bad, "\n".join(bad[:30])


# --- fuzzing -------------------------------------------------------------------------------------

_TOKENS = ["movq", "addl", "lock", "jmp", "callq", "nopw", "cvtsi2sd", "shlq", "xchgq", "movsd",
           "%rax", "%eax", "%al", "%ah", "%r8b", "%xmm9", "%cl", "%rip", "%fs:", "%cs:", "$", "$0x",
           "$-1", "0x10", "-0x80", "(", ")", ",", "*", " ", "8", "0x7fffffff", "0x100000000",
           "%rsp", "%r13", "#", "<a>"]


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=40),
                 st.lists(st.sampled_from(_TOKENS), max_size=12).map("".join),
                 st.lists(st.sampled_from(_TOKENS), max_size=12).map(" ".join)),
       st.integers(min_value=-1, max_value=1 << 65))
def test_random_text_never_raises_anything_but_asm_error(line, address):
    try:
        x86text.assemble(line, address)
    except AsmError:
        pass
