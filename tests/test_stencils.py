"""Reading and writing jit_stencils-<triple>.h: round trips on headers the project writes itself
(code assembled by GNU as), the emitter's C expressions checked against clang-19, strict errors
with line numbers, and (locally, when the real headers exist) FACTS.md §d.2's figures."""

from __future__ import annotations

import real_stencils

import collections
import pathlib
import subprocess

import pytest

import stencil_fixtures as F
from refjit.errors import StencilError
from refjit.headerwriter import build_group, write_header, write_parsed
from refjit.stencils import Hole, HoleValue, hole_value, parse_header, read_header

TRAMPOLINE_SYMBOLS = ("_Py_Other", "_Py_FarAway")


def written(arch: str) -> tuple[str, object, dict]:
    shim, groups = F.groups(arch)
    symbols = ()
    if arch == "aarch64":
        groups["_TEST_CALL"] = F.trampoline_group()
        symbols = TRAMPOLINE_SYMBOLS
    return write_header(shim, groups, F.TRIPLES[arch], symbols_map=symbols), shim, groups


def strip_lines(holes):
    return [(h.offset, h.func, h.value, h.symbol, h.addend) for h in holes]


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_round_trip(arch):
    text, shim, groups = written(arch)
    header = parse_header(text, f"jit_stencils-{F.TRIPLES[arch]}.h")
    assert header.arch == arch and header.triple == F.TRIPLES[arch]
    assert sorted(header.groups) == sorted(groups)
    for name, want in [("shim", shim), *groups.items()]:
        got = header.shim if name == "shim" else header.groups[name]
        for part in ("code", "data"):
            g, w = getattr(got, part), getattr(want, part)
            assert g.body == w.body, (name, part)
            assert strip_lines(g.holes) == strip_lines(w.holes), (name, part)
            assert g.listing == w.listing, (name, part)
        assert got.trampoline_mask == want.trampoline_mask
    assert write_parsed(header) == text


def test_hole_lines_carry_their_line_numbers():
    text, _, _ = written("x86_64")
    header = parse_header(text, "t.h")
    lines = text.split("\n")
    for _, hole in header.groups["_TEST_OP"].holes():
        assert lines[hole.line - 1].strip().startswith(hole.func + "(")


def test_trailing_zero_bytes_are_left_out_but_counted():
    text, _, groups = written("x86_64")
    body = groups["_TEST_TARGET"].code.body
    assert body.endswith(bytes(8)) and len(body) == 20
    assert "const unsigned char code_body[20] = {" in text
    start = text.index("emit__TEST_TARGET(")
    rows = text[start:text.index("};", start)].count("0x")
    assert rows == 12  # two movabs: 10 + 2 bytes before the final 8 zero bytes
    assert parse_header(text, "t.h").groups["_TEST_TARGET"].code.body == body


def test_all_zero_data_has_no_body_and_the_table_gives_its_size():
    text, _, groups = written("aarch64")
    group = groups["_TEST_TARGET"]
    assert group.data.body == bytes(24)  # three GOT slots: TARGET, OPERAND1, EXECUTOR
    start = text.index("emit__TEST_TARGET(")
    assert "data_body" not in text[start:text.index("\n}\n", start)]
    parsed = parse_header(text, "t.h").groups["_TEST_TARGET"]
    assert parsed.data_size == 24
    assert [(h.offset, h.value) for h in parsed.data.holes] == [
        (0, HoleValue.TARGET), (8, HoleValue.OPERAND1), (16, HoleValue.EXECUTOR)]


def test_build_group_follows_tools_jit():
    shim, groups = F.groups("x86_64")
    op = groups["_TEST_OP"]
    code, relocs = F.assembled("x86_64")["_TEST_OP"]
    assert op.code.body == code[:-5]  # the final `jmp _JIT_CONTINUE` was removed...
    assert [h.value for h in op.code.holes].count(HoleValue.CONTINUE) == 1  # ...the early exit stays
    # One GOT slot per symbol, after the 8-aligned data; the GOTPCRELX addend -4 is kept.
    assert [(h.offset, h.symbol) for h in op.data.holes] == [(8, "_Py_Dealloc"), (16, "PyFloat_Type")]
    calls = [h for h in op.code.holes if h.func == "patch_x86_64_32rx"]
    assert [(h.value, h.addend) for h in calls] == [(HoleValue.DATA, 4), (HoleValue.DATA, 12), (HoleValue.DATA, 4)]
    assert op.data.listing == ("0: 'hello\\x00'", "6: 00 00", "8: &_Py_Dealloc+0x0", "10: &PyFloat_Type+0x0")
    # aarch64: NOP padding to 8 bytes; holes reached through the GOT, local data through ADRP+ADD.
    shim, groups = F.groups("aarch64")
    assert groups["_DEOPT"].code.body == bytes.fromhex("c0035fd6") + bytes.fromhex("1f2003d5")
    assert shim.code_size == 32 and shim.code.body[-4:] == bytes.fromhex("c0035fd6")  # 8 insns: no NOP
    op = groups["_TEST_OP"]
    assert [(h.offset, h.value, h.symbol) for h in op.data.holes] == [
        (8, HoleValue.OPARG, None), (16, HoleValue.ZERO, "_Py_Dealloc"), (24, HoleValue.OPERAND0, None)]
    add_hole = [h for h in op.code.holes if h.offset == 28][0]
    assert (add_hole.func, add_hole.value, add_hole.addend) == ("patch_aarch64_12", HoleValue.DATA, 0)
    assert op.code_size == 64  # 17 instructions, the last (b _JIT_CONTINUE) removed


def test_build_group_errors():
    with pytest.raises(StencilError, match="unknown patch function patch_32r for aarch64"):
        build_group("_X", "aarch64", bytes(4), [F.Reloc(0, "patch_32r", "_JIT_CONTINUE", -4)])
    with pytest.raises(StencilError, match="outside the code"):
        build_group("_X", "x86_64", bytes(4), [F.Reloc(0, "patch_64", "_JIT_OPARG", 0)])


# The emitter's spelling of each kind of hole (as in the real headers, FACTS §b.5).
C_SPELLINGS = [
    (Hole(0xC5, "patch_32r", HoleValue.CONTINUE, None, -4),
     "patch_32r(code + 0xc5, (uintptr_t)code + sizeof(code_body) + -0x4);"),
    (Hole(0xCF, "patch_32r", HoleValue.ERROR_TARGET, None, -4),
     "patch_32r(code + 0xcf, state->instruction_starts[instruction->error_target] + -0x4);"),
    (Hole(0x5, "patch_32r", HoleValue.JUMP_TARGET, None, -4),
     "patch_32r(code + 0x5, state->instruction_starts[instruction->jump_target] + -0x4);"),
    (Hole(0x1E, "patch_x86_64_32rx", HoleValue.DATA, None, -4), "patch_x86_64_32rx(code + 0x1e, (uintptr_t)data + -0x4);"),
    (Hole(0x42, "patch_64", HoleValue.ZERO, "_PyRuntime", 0x2920), "patch_64(code + 0x42, (uintptr_t)&_PyRuntime + 0x2920);"),
    (Hole(0x0, "patch_64", HoleValue.ZERO, "_PyLong_Add", 0), "patch_64(data + 0x0, (uintptr_t)&_PyLong_Add);"),
    (Hole(0x3, "patch_64", HoleValue.DATA, None, 0), "patch_64(code + 0x3, (uintptr_t)data);"),
    (Hole(0x2, "patch_64", HoleValue.OPARG, None, 0), "patch_64(code + 0x2, instruction->oparg);"),
    (Hole(0x2, "patch_64", HoleValue.OPERAND0, None, 8), "patch_64(code + 0x2, instruction->operand0 + 0x8);"),
    (Hole(0x2, "patch_64", HoleValue.OPERAND1, None, 0), "patch_64(code + 0x2, instruction->operand1);"),
    (Hole(0x2, "patch_64", HoleValue.OPERAND0_HI, None, 0), "patch_64(code + 0x2, (instruction->operand0 >> 32));"),
    (Hole(0x2, "patch_64", HoleValue.OPERAND1_LO, None, 0), "patch_64(code + 0x2, (instruction->operand1 & UINT32_MAX));"),
    (Hole(0x8, "patch_64", HoleValue.TARGET, None, 0), "patch_64(data + 0x8, instruction->target);"),
    (Hole(0x8, "patch_64", HoleValue.EXECUTOR, None, 0x22), "patch_64(code + 0x8, (uintptr_t)executor + 0x22);"),
    (Hole(0x8, "patch_64", HoleValue.CODE, None, 0x10), "patch_64(code + 0x8, (uintptr_t)code + 0x10);"),
    (Hole(0x8, "patch_64", HoleValue.OPARG, "_Py_X", -4), "patch_64(code + 0x8, instruction->oparg + (uintptr_t)&_Py_X + -0x4);"),
    (Hole(0x8, "patch_64", HoleValue.ZERO, None, 0), "patch_64(code + 0x8, 0x0);"),
    (Hole(0x10, "patch_aarch64_trampoline", HoleValue.ZERO, None, 3), "patch_aarch64_trampoline(code + 0x10, 0x3, state);"),
]


@pytest.mark.parametrize("hole,c", C_SPELLINGS)
def test_c_spelling_and_back(hole, c):
    part = "data" if c.split("(")[1].startswith("data") else "code"
    assert hole.as_c(part) == c
    arch = "aarch64" if "aarch64" in c else "x86_64"
    shim, groups = F.groups(arch)
    size = (max(hole.offset + 8, 16) + 7) // 8 * 8
    body = bytes(range(1, size + 1))
    g = F.StencilGroup("_X", F.Stencil(body, [hole] if part == "code" else [], []),
                       F.Stencil(body if part == "data" else b"", [hole] if part == "data" else [], []),
                       trampoline_mask=0b1000 if "trampoline" in c else 0)
    syms = ("a", "b", "c", "_Py_T") if "trampoline" in c else ()
    text = write_header(shim, {**groups, "_X": g}, F.TRIPLES[arch], symbols_map=syms)
    assert c in text
    parsed = parse_header(text, "t.h").groups["_X"]
    (got,) = getattr(parsed, part).holes
    assert (got.offset, got.func, got.value, got.symbol, got.addend) == \
        (hole.offset, hole.func, hole.value, hole.symbol, hole.addend)


# --- the emitter's arithmetic, against clang-19 compiling the same C expressions -------------

SYMBOLS = {"_Py_X": 0x12345678, "_PyRuntime": 0x7000000}
INPUT = dict(oparg=5, target=3, operand0=0xFFFFFFFFFFFFFFF0, operand1=0x1122334455667788,
             code=0x7F0000001000, data=0x7F0000002000, executor=0x555500001230, starts=[0x7F0000001021, 0x7F0000001040])
C_CASES = [
    (HoleValue.OPARG, None, -0x4), (HoleValue.OPARG, None, -0x80000000), (HoleValue.OPARG, None, 0x100000000),
    (HoleValue.OPARG, None, -0x100000000), (HoleValue.OPARG, None, 0x7FFFFFFF - 5), (HoleValue.OPARG, None, 0xFFFFFFFF),
    (HoleValue.TARGET, None, -0x4), (HoleValue.TARGET, None, -0x100000000), (HoleValue.TARGET, None, 0x7FFFFFFF),
    (HoleValue.ZERO, None, -0x4), (HoleValue.ZERO, None, -0x80000000), (HoleValue.ZERO, None, 0x0),
    (HoleValue.ZERO, None, -0x8000000000000000), (HoleValue.ZERO, None, 0xFFFFFFFF),
    (HoleValue.DATA, None, -0x80000000), (HoleValue.DATA, None, -0x4), (HoleValue.DATA, None, 0x24),
    (HoleValue.OPERAND0, None, 0x18), (HoleValue.OPERAND0_HI, None, 0), (HoleValue.OPERAND0_LO, None, -0x1),
    (HoleValue.OPERAND1, None, 0), (HoleValue.OPERAND1_HI, None, 0x1), (HoleValue.OPERAND1_LO, None, 0),
    (HoleValue.JUMP_TARGET, None, -0x4), (HoleValue.ERROR_TARGET, None, -0x4), (HoleValue.CONTINUE, None, -0x4),
    (HoleValue.CODE, None, 0x10), (HoleValue.EXECUTOR, None, 0x22),
    (HoleValue.ZERO, "_PyRuntime", 0x2920), (HoleValue.ZERO, "_Py_X", 0), (HoleValue.OPARG, "_Py_X", -0x4),
    (HoleValue.TARGET, "_Py_X", -0x80000000), (HoleValue.DATA, "_Py_X", 0x8),
]
CODE_BODY_SIZE = 0x21


def _python_value(value, symbol, addend):
    i = INPUT
    base = {HoleValue.OPARG: i["oparg"], HoleValue.TARGET: i["target"], HoleValue.DATA: i["data"],
            HoleValue.CODE: i["code"], HoleValue.CONTINUE: i["code"] + CODE_BODY_SIZE,
            HoleValue.EXECUTOR: i["executor"], HoleValue.OPERAND0: i["operand0"],
            HoleValue.OPERAND0_HI: i["operand0"] >> 32, HoleValue.OPERAND0_LO: i["operand0"] & 0xFFFFFFFF,
            HoleValue.OPERAND1: i["operand1"], HoleValue.OPERAND1_HI: i["operand1"] >> 32,
            HoleValue.OPERAND1_LO: i["operand1"] & 0xFFFFFFFF, HoleValue.JUMP_TARGET: i["starts"][1],
            HoleValue.ERROR_TARGET: i["starts"][0]}.get(value)
    return hole_value(Hole(0, "patch_64", value, symbol, addend), base, SYMBOLS[symbol] if symbol else None)


def test_hole_values_match_clang(tmp_path):
    i = INPUT
    lines = [
        "#include <stdint.h>", "#include <stdio.h>",
        *[f"extern char {s};" for s in SYMBOLS],
        "typedef struct { uint16_t oparg; uint32_t target; uint16_t jump_target, error_target;"
        " uint64_t operand0, operand1; } I;",
        "typedef struct { uintptr_t instruction_starts[2]; } S;",
        "static void p(uint64_t v) { printf(\"%llu\\n\", (unsigned long long)v); }",
        "int main(void) {",
        f"  I ins = {{{i['oparg']}, {i['target']}, 1, 0, {i['operand0']:#x}ULL, {i['operand1']:#x}ULL}};",
        "  const I *instruction = &ins;",
        f"  S st = {{{{{i['starts'][0]:#x}ULL, {i['starts'][1]:#x}ULL}}}}; S *state = &st;",
        f"  unsigned char code_body[{CODE_BODY_SIZE}];",
        f"  unsigned char *code = (unsigned char *)(uintptr_t){i['code']:#x}ULL;",
        f"  unsigned char *data = (unsigned char *)(uintptr_t){i['data']:#x}ULL;",
        f"  void *executor = (void *)(uintptr_t){i['executor']:#x}ULL;",
        "  (void)code_body; (void)code; (void)data; (void)executor; (void)state;",
    ]
    for value, symbol, addend in C_CASES:
        lines.append(f"  p({Hole(0, 'patch_64', value, symbol, addend).c_value()});")
    lines += ["  return 0;", "}"]
    src = tmp_path / "holes.c"
    src.write_text("\n".join(lines))
    exe = tmp_path / "holes"
    defsyms = [f"-Wl,--defsym,{s}={a:#x}" for s, a in SYMBOLS.items()]
    subprocess.run(["clang-19", "-O0", "-w", "-std=c11", "-fno-pic", "-no-pie", *defsyms, "-o", str(exe), str(src)],
                   check=True, capture_output=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout.split()
    want = [int(x) for x in out]
    got = [_python_value(*case) for case in C_CASES]
    assert got == want
    # A few by hand, to show what the C types do:
    assert _python_value(HoleValue.OPARG, None, -0x80000000) == 0x80000005  # int + unsigned int
    assert _python_value(HoleValue.TARGET, None, -0x4) == 0xFFFFFFFF  # uint32_t arithmetic wraps at 32 bits
    assert _python_value(HoleValue.DATA, None, -0x80000000) == INPUT["data"] + 0x80000000  # 0x80000000 is unsigned


def test_signed_overflow_is_refused():
    with pytest.raises(ValueError, match="signed overflow"):
        hole_value(Hole(0, "patch_64", HoleValue.OPARG, None, 0x7FFFFFFF), 5, None)


# --- malformed headers ---------------------------------------------------------------------

def _mutate(text: str, old: str, new: str, count: int = 1) -> tuple[str, int]:
    """Replace the first occurrence of ``old``; returns the text and the 1-based line of the change."""
    at = text.index(old)
    return text[:at] + new + text[at + len(old):], text.count("\n", 0, at) + 1


MUTATIONS = [
    ("patch_64(code + 0x2, instruction->oparg);", "patch_65(code + 0x2, instruction->oparg);",
     "unknown patch function patch_65 for x86_64"),
    ("patch_64(code + 0x2, instruction->oparg);", "patch_64(code + 0x2, instruction->opargs);",
     "cannot read the hole value"),
    ("patch_64(code + 0x2, instruction->oparg);", "patch_aarch64_26r(code + 0x2, instruction->oparg);",
     "unknown patch function patch_aarch64_26r for x86_64"),
    ("patch_64(code + 0x2, instruction->oparg);", "patch_64(code + 0x2, instruction->oparg, state);",
     "does not take a state argument"),
    ("patch_64(code + 0x2, instruction->oparg);", "patch_64(code + 2, instruction->oparg);",
     "unexpected line in emit__TEST_OP"),
    ("0x48, 0xb8, 0x00,", "0x48, 0xb8, 0x0,", "malformed code_body row"),
    ("    // 0: 'hello\\x00'\n", "    //0: 'hello'\n", "malformed listing comment"),
]


@pytest.mark.parametrize("old,new,message", MUTATIONS)
def test_malformed_lines_name_their_line(old, new, message):
    text, _, _ = written("x86_64")
    bad, line = _mutate(text, old, new)
    with pytest.raises(StencilError, match=message) as err:
        parse_header(bad, "bad.h")
    assert err.value.where == f"bad.h:{line}"


def test_a_body_that_is_never_copied():
    text, _, _ = written("x86_64")
    bad, _ = _mutate(text, "    memcpy(data, data_body, sizeof(data_body));\n", "")
    with pytest.raises(StencilError, match="data_body is declared but never copied") as err:
        parse_header(bad, "bad.h")
    line = bad.split("\n").index("    const unsigned char data_body[24] = {") + 1
    assert err.value.where == f"bad.h:{line}"


def test_size_disagreements():
    text, _, _ = written("x86_64")
    bad, line = _mutate(text, "[_TEST_OP] = {emit__TEST_OP, 90, 24", "[_TEST_OP] = {emit__TEST_OP, 91, 24")
    with pytest.raises(StencilError, match=r"code_body\[90\] .* the table says code_size 91") as err:
        parse_header(bad, "bad.h")
    assert err.value.where == f"bad.h:{line}"
    bad, _ = _mutate(text, "[_TEST_OP] = {emit__TEST_OP, 90, 24", "[_TEST_OP] = {emit__TEST_OP, 90, 16")
    with pytest.raises(StencilError, match="data_body\\[24\\]"):
        parse_header(bad, "bad.h")
    bad, line = _mutate(text, "const unsigned char code_body[20]", "const unsigned char code_body[2]")
    with pytest.raises(StencilError, match=r"code_body\[2\] has 12 initialisers") as err:
        parse_header(bad, "bad.h")
    assert err.value.where == f"bad.h:{line}"
    # A hole past the end of its body.
    bad, line = _mutate(text, "patch_64(code + 0x2, instruction->operand1);", "patch_64(code + 0xe, instruction->operand1);")
    with pytest.raises(StencilError, match="ends at 0x16, past the code size 20") as err:
        parse_header(bad, "bad.h")
    assert err.value.where == f"bad.h:{line}"


def test_structure_errors():
    text, _, _ = written("x86_64")
    cases = [
        (_mutate(text, "    [_DEOPT] = {emit__DEOPT, 11, 0, {0}},\n", ""), "emit__DEOPT is not in the stencil_groups table"),
        (_mutate(text, "[_DEOPT] = {emit__DEOPT,", "[_DEOPT] = {emit__DEOPTX,"), "points at emit__DEOPTX"),
        (_mutate(text, "static_assert(SYMBOL", "static_assertion(SYMBOL"), "static_assert"),
        (_mutate(text, "    size_t data_size;\n", ""), "expected '    size_t data_size;'"),
    ]
    for (bad, line), message in cases:
        with pytest.raises(StencilError, match=message):
            parse_header(bad, "bad.h")
    # The data part must come before the code part, as the emitter writes it.
    start = text.index("emit__TEST_OP(")
    body = text[start:]
    moved = body.replace("    patch_64(data + 0x8, (uintptr_t)&_Py_Dealloc);\n", "", 1)
    moved = moved.replace("    patch_64(code + 0x2, instruction->oparg);\n",
                          "    patch_64(code + 0x2, instruction->oparg);\n    patch_64(data + 0x8, (uintptr_t)&_Py_Dealloc);\n", 1)
    with pytest.raises(StencilError, match="data patched after the code"):
        parse_header(text[:start] + moved, "bad.h")


def test_truncation_anywhere_is_an_error():
    text, _, _ = written("aarch64")
    lines = text.split("\n")
    # Cutting the file after any line but the last ones gives an error naming the end of file.
    for cut in range(1, len(lines) - 3, 7):
        short = "\n".join(lines[:cut]) + "\n"
        with pytest.raises(StencilError) as err:
            parse_header(short, "cut.h")
        assert err.value.where.startswith("cut.h:")


def test_file_level_errors(tmp_path):
    with pytest.raises(StencilError, match="dispatcher"):
        parse_header('// x\n#if defined(__x86_64__) && defined(__linux__)\n#include "jit_stencils-x86_64-pc-linux-gnu.h"\n', "jit_stencils.h")
    text, _, _ = written("x86_64")
    with pytest.raises(StencilError, match="unsupported target triple"):
        parse_header(text, "h.h", triple="x86_64-apple-darwin")
    p = tmp_path / "stencils.h"
    p.write_text(text.replace("// $ refjit emit-header x86_64-unknown-linux-gnu", "// no triple here"))
    with pytest.raises(StencilError, match="cannot tell the target"):
        read_header(str(p))
    p.write_bytes(b"\xff\xfe")
    with pytest.raises(StencilError, match="not UTF-8"):
        read_header(str(p))
    p.write_text(text.replace("\n", "\r\n"))
    with pytest.raises(StencilError, match="carriage returns"):
        read_header(str(p))
    with pytest.raises(StencilError, match="cannot read"):
        read_header(str(tmp_path / "missing.h"))


def test_aarch64_trampoline_holes_need_their_symbol_and_mask():
    text, _, _ = written("aarch64")
    header = parse_header(text, "t.h")
    assert header.symbols_map == TRAMPOLINE_SYMBOLS
    assert header.groups["_TEST_CALL"].trampoline_mask == 0b10
    bad, line = _mutate(text, "{emit__TEST_CALL, 8, 0, {0x02}}", "{emit__TEST_CALL, 8, 0, {0x01}}")
    with pytest.raises(StencilError, match="ordinal 1 is missing from _TEST_CALL's trampoline mask"):
        parse_header(bad, "bad.h")
    bad, line = _mutate(text, "    [1] = &_Py_FarAway,\n", "")
    with pytest.raises(StencilError):
        parse_header(bad, "bad.h")


# --- the real headers (local only) -----------------------------------------------------------

# FACTS.md §d.2 and §b.5.
FACTS_D2 = {"x86_64": dict(shim=(33, 0), code=37284, data=3200, with_data=162),
            "aarch64": dict(shim=(104, 0), code=41096, data=5672, with_data=242)}
FACTS_CENSUS = {
    "x86_64": {("code", "patch_x86_64_32rx", "DATA"): 398, ("data", "patch_64", "ZERO"): 295,
               ("code", "patch_32r", "CONTINUE"): 206, ("code", "patch_64", "ZERO"): 189,
               ("code", "patch_32r", "JUMP_TARGET"): 144, ("code", "patch_64", "OPARG"): 135,
               ("code", "patch_32r", "ERROR_TARGET"): 126, ("code", "patch_64", "OPERAND0"): 45,
               ("code", "patch_64", "DATA"): 19, ("code", "patch_64", "OPERAND1"): 4,
               ("code", "patch_64", "EXECUTOR"): 3, ("code", "patch_64", "TARGET"): 1},
    "aarch64": {("code", "patch_aarch64_21r", "DATA"): 767, ("code", "patch_aarch64_12", "DATA"): 767,
                ("data", "patch_64", "ZERO"): 452, ("code", "patch_aarch64_26r", "CONTINUE"): 181,
                ("code", "patch_aarch64_26r", "ERROR_TARGET"): 124, ("data", "patch_64", "OPARG"): 103,
                ("code", "patch_aarch64_26r", "JUMP_TARGET"): 96, ("data", "patch_64", "OPERAND0"): 41,
                ("data", "patch_64", "OPERAND1"): 4, ("data", "patch_64", "EXECUTOR"): 3,
                ("data", "patch_64", "TARGET"): 1},
}


def real_header_path(arch: str) -> pathlib.Path:
    found = real_stencils.path(arch)
    if found is None:
        pytest.skip(real_stencils.SKIP_REASON)
    return found


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_real_header_matches_facts(arch):
    path = real_header_path(arch)
    header = read_header(str(path))
    facts = FACTS_D2[arch]
    assert header.arch == arch
    assert len(header.groups) == 285
    assert (header.shim.code_size, header.shim.data_size) == facts["shim"]
    assert sum(g.code_size for g in header.groups.values()) == facts["code"]
    assert sum(g.data_size for g in header.groups.values()) == facts["data"]
    assert sum(1 for g in header.groups.values() if g.data_size) == facts["with_data"]
    assert {n for n, g in header.groups.items() if not g.code_size} == {"_NOP", "_START_EXECUTOR"}
    census = collections.Counter((part, h.func, h.value.name)
                                 for g in [header.shim, *header.groups.values()] for part, h in g.holes())
    assert dict(census) == FACTS_CENSUS[arch]
    assert header.symbols_map == () and all(not g.trampoline_mask for g in header.groups.values())
    assert write_parsed(header) == path.read_text()  # the writer reproduces CPython's text exactly
