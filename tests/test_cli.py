"""The `refjit` command as a user runs it: the installed console script in a subprocess.

Expected encodings come from the external assemblers (tests/oracles.py) or, for branches at
absolute addresses, from the architecture manuals' formulas written out here; never from refjit.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from oracles import assemble_each

BIN = os.path.dirname(sys.executable)
REFJIT = os.path.join(BIN, "refjit")


def run(args: list[str], stdin: str = "", module: bool = False) -> subprocess.CompletedProcess:
    exe = [sys.executable, "-m", "refjit"] if module else [REFJIT]
    if not module and not os.path.exists(REFJIT):
        pytest.fail(f"the console script {REFJIT} is missing: is refjit installed in this venv?")
    return subprocess.run([*exe, *args], input=stdin, capture_output=True, text=True, timeout=60)


def assert_no_traceback(proc: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout, proc.stderr


X86_GOOD = [
    "movq %rdi, %rax",
    "addq $0x8, %r13",
    "movl 0x10(%rsp,%rcx,4), %r9d",
    "lock",
    "cmpxchgq %rcx, (%rdi)",
    "movsd 0x8(%r12), %xmm9",
    "retq",
]
A64_GOOD = [
    "ldr x8, [x20, #0x50]",
    "add w9, w9, #0x1",
    "and x0, x1, #0xff00",
    "ldaddal x0, x1, [x2]",
    "fadd d0, d1, d2",
    "stp x29, x30, [sp, #-0x10]!",
    "ret",
]
# One refusal of each kind the issue names: unknown mnemonic, wrong operand kind, no encoding.
X86_BAD = ["frobnicate %rax", "movq %rax", "addb $0x1000, %al"]
A64_BAD = ["frobnicate x0", "add x0, w1", "and x0, x1, #0x5"]


@pytest.mark.parametrize("arch,good,bad", [("x86_64", X86_GOOD, X86_BAD), ("aarch64", A64_GOOD, A64_BAD)])
def test_asm_bad_lines_fail_alone(arch, good, bad, tmp_path):
    want = assemble_each("llvm", arch, good)
    # The bad lines sit in the middle of the batch: each gives its own error line only.
    lines = good[:3] + bad + good[3:]
    src = tmp_path / "listing.s"
    src.write_text("\n".join(lines) + "\n")
    proc = run(["asm", "--arch", arch, str(src)])
    assert_no_traceback(proc)
    out = proc.stdout.splitlines()
    assert len(out) == len(lines), proc.stdout
    assert proc.returncode == 1, "a batch with refused lines must exit non-zero"
    got_good = out[:3] + out[3 + len(bad):]
    assert got_good == [w.hex() for w in want]
    for line, text in zip(out[3:3 + len(bad)], bad):
        assert line.startswith("error: ") and len(line) > len("error: ") + 5, (text, line)


@pytest.mark.parametrize("arch,good", [("x86_64", X86_GOOD), ("aarch64", A64_GOOD)])
def test_asm_reads_stdin_and_exits_zero(arch, good):
    want = assemble_each("gnu", arch, good)
    proc = run(["asm", "--arch", arch], stdin="\n".join(good) + "\n")
    assert_no_traceback(proc)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [w.hex() for w in want]
    assert proc.stderr == ""


def test_asm_addresses_and_absolute_branch_targets():
    # x86-64: EB cb / E9 cd / E8 cd take the target minus the end of the instruction (Intel SDM
    # Vol. 2, JMP and CALL). A line without an address follows the previous instruction.
    x86 = ["1000: movq %rdi, %rax", "jmp 0x1000", "1010: jmp 0x2000", "2000: callq 0x1000 <f>"]
    proc = run(["asm", "--arch", "x86_64"], stdin="\n".join(x86))
    assert_no_traceback(proc)
    rel = lambda target, end, size: (target - end).to_bytes(size, "little", signed=True).hex()
    assert proc.stdout.split() == [
        "4889f8",
        "eb" + rel(0x1000, 0x1005, 1),
        "e9" + rel(0x2000, 0x1015, 4),
        "e8" + rel(0x1000, 0x2005, 4),
    ]
    # AArch64: B is 000101|imm26 and B.cond 01010100|imm19|0|cond, offsets in words from the
    # branch itself; ADRP takes the page difference (Arm ARM C6.2).
    a64 = ["1000: b 0x2000", "1004: b.ne 0xff8", "1008: bl 0x1008", "2000: adrp x8, 0x5000"]
    proc = run(["asm", "--arch", "aarch64"], stdin="\n".join(a64))
    assert_no_traceback(proc)
    word = lambda w: w.to_bytes(4, "little").hex()
    page_delta = (0x5000 >> 12) - (0x2000 >> 12)
    assert proc.stdout.split() == [
        word(0x14000000 | ((0x2000 - 0x1000) >> 2)),
        word(0x54000000 | ((((0xff8 - 0x1004) >> 2) & 0x7FFFF) << 5) | 0x1),
        word(0x94000000),
        word(0x90000000 | ((page_delta & 3) << 29) | ((page_delta >> 2) << 5) | 8),
    ]


def test_python_dash_m_refjit_works():
    proc = run(["asm", "--arch", "x86_64"], stdin="retq\n", module=True)
    assert_no_traceback(proc)
    assert (proc.returncode, proc.stdout) == (0, "c3\n")
    proc = run(["--help"], module=True)
    assert proc.returncode == 0 and "asm" in proc.stdout and "disasm" in proc.stdout


def test_asm_missing_file_is_one_clear_line(tmp_path):
    missing = tmp_path / "no-such-listing.s"
    proc = run(["asm", "--arch", "aarch64", str(missing)])
    assert_no_traceback(proc)
    assert proc.returncode == 2
    assert proc.stdout == ""
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and str(missing) in err[0], proc.stderr


def test_bad_arguments_are_usage_errors_not_tracebacks():
    for args in (["asm", "--arch", "sparc"], ["disasm", "--arch", "x86_64", "zz"], ["nonsense"]):
        proc = run(args)
        assert_no_traceback(proc)
        assert proc.returncode == 2, args
        assert "error" in proc.stderr, args


def test_disasm_decodes_and_survives_undecodable_bytes():
    # 48 89 f8 is MOV r/m64, r64 with ModRM f8 (rdi -> rax); c3 is RET; 06 (PUSH ES) does not
    # exist in 64-bit mode.
    proc = run(["disasm", "--arch", "x86_64", "--at", "0x400", "06", "4889f8c3"])
    assert_no_traceback(proc)
    assert proc.returncode == 0
    lines = proc.stdout.splitlines()
    assert len(lines) == 3, proc.stdout
    assert lines[0].split()[0] == "400:" and ".byte" in lines[0]
    assert lines[1].split()[0] == "401:" and "%rdi, %rax" in lines[1] and "mov" in lines[1]
    assert lines[2].split()[0] == "404:" and "ret" in lines[2]
    # AArch64: all-ones is unallocated; d65f03c0 is RET; a trailing partial word is no instruction.
    proc = run(["disasm", "--arch", "aarch64", "ffffffff", "c0035fd6", "1f20"])
    assert_no_traceback(proc)
    assert proc.returncode == 0
    lines = proc.stdout.splitlines()
    assert len(lines) == 3 and ".byte" in lines[0] and "ret" in lines[1] and ".byte" in lines[2], proc.stdout


def test_disasm_reads_what_asm_wrote():
    # asm's output fed to disasm names the same instructions (capstone reads the bytes).
    proc = run(["asm", "--arch", "aarch64"], stdin="mov x0, sp\ncmp w1, #0x10\nret\n")
    assert proc.returncode == 0, proc.stderr
    proc = run(["disasm", "--arch", "aarch64", *proc.stdout.split()])
    assert_no_traceback(proc)
    mnemonics = [line.split("\t")[0].split()[-1] for line in proc.stdout.splitlines()]
    assert mnemonics == ["mov", "cmp", "ret"], proc.stdout
