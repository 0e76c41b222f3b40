"""The linker: layout, hole values and patched instructions of whole executors, decoded by capstone.

Groups come from headers the project writes itself (tests/stencil_fixtures.py, assembled by GNU
as), read back by refjit.stencils, so the linked code went through the same path as CPython's.
Locally, the int_sum trace of FACTS.md §g.2 is linked with the real stencils and checked against
the sizes measured in a real process (§c.4)."""

from __future__ import annotations

import collections
import re

import capstone
import pytest

import stencil_fixtures as F
from refjit.codebuf import Reloc
from refjit.errors import LinkError
from refjit.headerwriter import build_group, write_header
from refjit.link import Instruction, link
from refjit.stencils import Hole, HoleValue, Stencil, StencilGroup, parse_header, read_header

EXECUTOR = 0x7F0000100000
BASE = 0x7F0000200000
FAR_SYMBOLS = {"_Py_Dealloc": 0x555555554100, "PyFloat_Type": 0x555555558000, "_PyRuntime": 0x555555600000,
               "_Py_FatalErrorFunc": 0x555555554200, "_Py_Other": 0x555555554300, "_Py_FarAway": 0x555555554400}
TRACE = [
    Instruction("_START_EXECUTOR", 0, EXECUTOR),
    Instruction("_TEST_OP", 7, 0x1000, 0, 0, 3, 4),
    Instruction("_TEST_TARGET", 0, 0, 0xABCDEF, 0x1234),
    Instruction("_DEOPT", 0, 0, 0, 14),
    Instruction("_DEOPT", 0, 0, 0, 15),
]


def header(arch: str):
    shim, groups = F.groups(arch)
    symbols = ()
    if arch == "aarch64":
        groups["_TEST_CALL"] = F.trampoline_group()
        symbols = ("_Py_Other", "_Py_FarAway")
    return parse_header(write_header(shim, groups, F.TRIPLES[arch], symbols_map=symbols), f"t-{arch}.h")


def decode(arch: str, mem: bytes, base: int, start: int, end: int):
    if arch == "x86_64":
        md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
        md.syntax = capstone.CS_OPT_SYNTAX_ATT
    else:
        md = capstone.Cs(capstone.CS_ARCH_ARM64, capstone.CS_MODE_ARM)
    out = [(i.address, i.size, i.mnemonic, i.op_str) for i in md.disasm(mem[start - base:end - base], start)]
    assert sum(i[1] for i in out) == end - start, "capstone stopped early"
    return out


def imm(text: str) -> int:
    return int(re.search(r"[#$](-?(?:0x[0-9a-f]+|\d+))", text).group(1), 0)


def u64(mem: bytes, base: int, address: int) -> int:
    return int.from_bytes(mem[address - base:address - base + 8], "little")


def rip_target(insn) -> int:
    """Address a %rip-relative operand refers to (rip = end of the instruction)."""
    m = re.search(r"(-?0x[0-9a-f]+|-?\d+)?\(%rip\)", insn[3])
    return insn[0] + insn[1] + int(m.group(1) or "0", 0)


# ---------------------------------------------------------------------------------------- x86-64

def test_x86_layout_and_every_hole():
    h = header("x86_64")
    ex = link(TRACE, h.groups, h.shim, arch="x86_64", executor=EXECUTOR, base=BASE, resolve=FAR_SYMBOLS)
    sizes = [33, 0, 90, 20, 11, 11, 27]
    assert ex.code_size == sum(sizes) == 192
    assert ex.data_size == 24 + 48 and ex.trampolines_size == 0
    assert ex.padding == 4096 - 264 and ex.jit_size == 4096
    assert ex.instruction_starts == [BASE + 33, BASE + 33, BASE + 123, BASE + 143, BASE + 154]
    assert ex.jit_side_entry == BASE + 33
    assert [(r.index, r.name) for r in ex.pc_map] == [(-1, "shim"), (0, "_START_EXECUTOR"), (1, "_TEST_OP"),
                                                        (2, "_TEST_TARGET"), (3, "_DEOPT"), (4, "_DEOPT"), (5, "_FATAL_ERROR")]
    assert ex.uop_at(BASE + 130).name == "_TEST_TARGET" and ex.uop_at(BASE + 4095) is None
    assert [r.start for r in ex.pc_map] == [BASE, BASE + 33, BASE + 33, BASE + 123, BASE + 143, BASE + 154, BASE + 165]
    assert [r.end for r in ex.pc_map] == [BASE + 33, BASE + 33, BASE + 123, BASE + 143, BASE + 154, BASE + 165, BASE + 192]
    assert ex.ranges == [tuple(r) for r in ex.pc_map]  # the same, as plain tuples
    mem, starts = ex.memory, ex.instruction_starts
    op_data = BASE + 192            # data: _TEST_OP's, then _FATAL_ERROR's
    fatal_data = op_data + 24

    shim = decode("x86_64", mem, BASE, BASE, BASE + 33)
    call = [i for i in shim if i[2] == "callq"][0]
    assert imm("$" + call[3]) == starts[0]  # the shim calls the first uop

    op = decode("x86_64", mem, BASE, starts[1], starts[2])
    assert [i[2] for i in op] == ["movabsq"] * 3 + ["callq", "movq", "callq", "testq", "jne", "je",
                                                     "movabsq", "movabsq", "jne"]
    assert imm(op[0][3]) == 7                           # OPARG
    assert imm(op[1][3]) == 0x1008                      # OPERAND0 + 8
    assert imm(op[2][3]) == FAR_SYMBOLS["_PyRuntime"] + 0x2920
    assert rip_target(op[3]) == op_data + 8 == rip_target(op[5])   # far: call through the GOT slot
    assert rip_target(op[4]) == op_data + 16
    assert u64(mem, BASE, op_data + 8) == FAR_SYMBOLS["_Py_Dealloc"]
    assert u64(mem, BASE, op_data + 16) == FAR_SYMBOLS["PyFloat_Type"]
    assert int(op[7][3], 0) == starts[3]                # JUMP_TARGET
    assert int(op[8][3], 0) == starts[4]                # ERROR_TARGET
    assert imm(op[9][3]) == EXECUTOR + 0x22
    assert imm(op[10][3]) == op_data and mem[op_data - BASE:op_data - BASE + 6] == b"hello\0"
    assert int(op[11][3], 0) == starts[2]               # early CONTINUE to the next uop

    tt = decode("x86_64", mem, BASE, starts[2], starts[3])
    assert [imm(i[3]) for i in tt] == [0xABCDEF, 0x1234]  # OPERAND1, TARGET
    assert imm(decode("x86_64", mem, BASE, starts[3], starts[4])[0][3]) == 14
    fatal = decode("x86_64", mem, BASE, BASE + 165, BASE + 192)
    assert imm(fatal[1][3]) == fatal_data and imm(fatal[2][3]) == fatal_data + 0xB
    assert rip_target(fatal[3]) == fatal_data + 0x28
    assert u64(mem, BASE, fatal_data + 0x28) == FAR_SYMBOLS["_Py_FatalErrorFunc"]
    assert mem[264:] == bytes(4096 - 264)
    assert not any(s.relaxed for s in ex.sites)


def test_x86_near_symbols_are_relaxed():
    h = header("x86_64")
    near = {k: BASE + 0x100000 + 0x100 * i for i, k in enumerate(FAR_SYMBOLS)}
    ex = link(TRACE, h.groups, h.shim, arch="x86_64", executor=EXECUTOR, base=BASE, resolve=near)
    op = decode("x86_64", ex.memory, BASE, ex.instruction_starts[1], ex.instruction_starts[2])
    names = [i[2] for i in op]
    assert names[3:8] == ["nop", "callq", "leaq", "nop", "callq"]
    assert int(op[4][3], 0) == near["_Py_Dealloc"] == int(op[7][3], 0)
    assert rip_target(op[5]) == near["PyFloat_Type"]  # mov from the GOT became lea of the symbol
    assert sum(s.relaxed for s in ex.sites) == 4  # three in _TEST_OP, one in _FATAL_ERROR
    relaxed = [s for s in ex.sites if s.relaxed]
    assert all(s.width == 6 and s.part == "code" for s in relaxed)


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_a_kept_plan_links_as_a_new_group_does(arch):
    """link keeps what it works out per group in StencilGroup.derived (one plan per ISA). Linking
    the same group objects again, at other addresses and with other symbols (near ones: x86-64
    relaxes), must give exactly what freshly parsed copies give, sites included."""
    h = header(arch)
    near = {k: BASE + 0x100000 + 0x100 * i for i, k in enumerate(FAR_SYMBOLS)}
    for base, symbols in ((BASE, FAR_SYMBOLS), (BASE + 0x3000, near), (BASE, near), (BASE + 0x7000, FAR_SYMBOLS)):
        again = link(TRACE, h.groups, h.shim, arch=arch, executor=EXECUTOR, base=base, resolve=symbols)
        fresh = header(arch)
        assert not fresh.shim.derived and not fresh.groups["_TEST_OP"].derived
        new = link(TRACE, fresh.groups, fresh.shim, arch=arch, executor=EXECUTOR, base=base, resolve=symbols)
        assert again.memory == new.memory and again.pc_map == new.pc_map and again.sites == new.sites
        assert sum(s.relaxed for s in again.sites) == (4 if arch == "x86_64" and symbols is near else 0)
    assert list(h.groups["_TEST_OP"].derived) == [f"link {arch}"]


def test_a_group_linked_on_both_isas_keeps_a_plan_for_each():
    # patch_64 exists on both ISAs; the plan of one (its patch functions) must not serve the other
    g = StencilGroup("_H", Stencil(bytes(16), [Hole(0, "patch_64", HoleValue.OPARG), Hole(8, "patch_64", HoleValue.CODE, None, 3)]))
    groups = {"_START_EXECUTOR": StencilGroup("_START_EXECUTOR"), "_FATAL_ERROR": StencilGroup("_FATAL_ERROR"), "_H": g}
    for arch in ("x86_64", "aarch64", "x86_64"):
        ex = link([Instruction("_START_EXECUTOR"), Instruction("_H", 42)], groups, StencilGroup("shim"), arch=arch,
                  executor=EXECUTOR, base=BASE, resolve={})
        assert u64(ex.memory, BASE, BASE) == 42 and u64(ex.memory, BASE, BASE + 8) == BASE + 3
    assert sorted(g.derived) == ["link aarch64", "link x86_64"]
    with pytest.raises(LinkError, match="patch_aarch64_12 is not a patch function for x86_64"):
        bad = StencilGroup("_H", Stencil(bytes(16), [Hole(0, "patch_aarch64_12", HoleValue.OPARG)]))
        link([Instruction("_START_EXECUTOR"), Instruction("_H", 42)], {**groups, "_H": bad}, StencilGroup("shim"),
             arch="x86_64", executor=EXECUTOR, base=BASE, resolve={})


def test_a_group_given_new_parts_is_planned_again():
    """The kept plan serves only while the group holds the very body and holes it was made from."""
    h = header("x86_64")
    groups = dict(h.groups)
    g = groups["_TEST_TARGET"] = StencilGroup("_TEST_TARGET", h.groups["_TEST_TARGET"].code, h.groups["_TEST_TARGET"].data)
    first = link(TRACE, groups, h.shim, arch="x86_64", executor=EXECUTOR, base=BASE, resolve=FAR_SYMBOLS)
    start = first.instruction_starts[2]
    assert [imm(i[3]) for i in decode("x86_64", first.memory, BASE, start, start + 20)] == [0xABCDEF, 0x1234]
    # the holes swapped: OPERAND1's field now takes TARGET and the other way round
    (a, b) = g.code.holes
    g.code.holes = (Hole(a.offset, a.func, b.value), Hole(b.offset, b.func, a.value))
    second = link(TRACE, groups, h.shim, arch="x86_64", executor=EXECUTOR, base=BASE, resolve=FAR_SYMBOLS)
    assert [imm(i[3]) for i in decode("x86_64", second.memory, BASE, start, start + 20)] == [0x1234, 0xABCDEF]
    # a new body (the second movabs made a mov to another register): bytes change, holes stay
    body = bytearray(g.code.body)
    body[11] += 1
    g.code.body = bytes(body)
    third = link(TRACE, groups, h.shim, arch="x86_64", executor=EXECUTOR, base=BASE, resolve=FAR_SYMBOLS)
    assert third.memory[start - BASE + 11] == second.memory[start - BASE + 11] + 1
    g.code = Stencil(b"")  # and a whole new Stencil
    fourth = link(TRACE, groups, h.shim, arch="x86_64", executor=EXECUTOR, base=BASE, resolve=FAR_SYMBOLS)
    assert fourth.code_size == first.code_size - 20
    # each executor's sites are those of the parts it was linked with, whenever they are asked for
    assert [(s.hole.value, s.value) for s in first.sites if s.index == 2] == [
        (HoleValue.OPERAND1, 0xABCDEF), (HoleValue.TARGET, 0x1234)]
    assert [(s.hole.value, s.value) for s in second.sites if s.index == 2] == [
        (HoleValue.TARGET, 0x1234), (HoleValue.OPERAND1, 0xABCDEF)]
    assert not [s for s in fourth.sites if s.index == 2]


def test_page_rounding_adds_a_full_page_when_aligned():
    h = header("x86_64")
    for fill, padding in ((3832, 4096), (3824, 8)):  # 264 bytes without the filler
        groups = dict(h.groups)
        groups["_FILL"] = StencilGroup("_FILL", Stencil(b""), Stencil(bytes(fill)))
        ex = link([*TRACE, ("_FILL",)], groups, h.shim, arch="x86_64", executor=EXECUTOR, base=BASE,
                  resolve=FAR_SYMBOLS)
        assert ex.padding == padding
        assert ex.jit_size == 264 + fill + padding and ex.jit_size % 4096 == 0


def test_groups_mix_per_uop():
    h = header("x86_64")
    code = F.assembled("x86_64")["_TEST_TARGET"][0][:10] + b"\xc3"  # movabsq $OPERAND1, %rcx; retq
    mine = build_group("_TEST_TARGET", "x86_64", code, [Reloc(2, "patch_64", "_JIT_OPERAND1", 1)])
    mixed = {**h.groups, "_TEST_TARGET": mine}
    a = link(TRACE, h.groups, h.shim, arch="x86_64", executor=EXECUTOR, base=BASE, resolve=FAR_SYMBOLS)
    b = link(TRACE, mixed, h.shim, arch="x86_64", executor=EXECUTOR, base=BASE, resolve=FAR_SYMBOLS)
    assert b.instruction_starts[:3] == a.instruction_starts[:3]
    assert b.instruction_starts[3] == a.instruction_starts[3] - 9  # 11 bytes instead of 20
    tt = decode("x86_64", b.memory, BASE, b.instruction_starts[2], b.instruction_starts[3])
    assert [i[2] for i in tt] == ["movabsq", "retq"] and imm(tt[0][3]) == 0xABCDEF + 1
    op = decode("x86_64", b.memory, BASE, b.instruction_starts[1], b.instruction_starts[2])
    assert int(op[7][3], 0) == b.instruction_starts[3]  # the guard follows the moved stub


def test_trace_entries_in_other_shapes():
    h = header("x86_64")

    class Uop:  # an object with the _PyUOpInstruction field names
        def __init__(self, opname, **kw):
            self.opname = opname
            for f in Instruction._fields[1:]:
                setattr(self, f, kw.get(f, 0))

    shapes = [("_START_EXECUTOR", 0, EXECUTOR), Uop("_TEST_OP", oparg=7, operand0=0x1000, jump_target=3, error_target=4),
              ["_TEST_TARGET", 0, 0, 0xABCDEF, 0x1234], ("_DEOPT", 0, 0, 0, 14), ("_DEOPT", 0, 0, 0, 15)]
    a = link(TRACE, h.groups, h.shim, arch="x86_64", executor=EXECUTOR, base=BASE, resolve=FAR_SYMBOLS)
    b = link(shapes, h.groups, h.shim, arch="x86_64", executor=EXECUTOR, base=BASE,
             resolve=FAR_SYMBOLS.__getitem__)
    assert a.memory == b.memory


# --------------------------------------------------------------------------------------- AArch64

def _pair_address(insns, i) -> int:
    """adrp + ldr/add at insns[i], insns[i+1]: the address they form."""
    assert insns[i][2] == "adrp" and insns[i + 1][2] in ("ldr", "add")
    return imm(insns[i][3]) + imm(insns[i + 1][3])


def test_aarch64_layout_and_every_hole():
    h = header("aarch64")
    trace = [*TRACE, ("_TEST_CALL",)]
    ex = link(trace, h.groups, h.shim, arch="aarch64", executor=EXECUTOR, base=BASE, resolve=FAR_SYMBOLS)
    sizes = [32, 0, 64, 24, 8, 8, 8, 24]
    assert ex.code_size == sum(sizes) == 168 and all(s % 8 == 0 for s in sizes)
    assert ex.trampolines_size == 16  # _TEST_CALL's mask has one bit
    assert ex.data_size == 32 + 24 + 48
    assert ex.padding == 4096 - (168 + 16 + 104)
    mem, starts = ex.memory, ex.instruction_starts
    data = BASE + 168 + 16
    op_data, tt_data = data, data + 32

    shim = decode("aarch64", mem, BASE, BASE, BASE + 32)
    assert [i for i in shim if i[2] == "bl"][0][3] == f"#{starts[0]:#x}"

    op = decode("aarch64", mem, BASE, starts[1], starts[2])
    assert _pair_address(op, 0) == op_data + 8 and u64(mem, BASE, op_data + 8) == 7   # OPARG via the GOT
    assert _pair_address(op, 2) == op_data + 16 == _pair_address(op, 14)              # one slot per symbol
    assert u64(mem, BASE, op_data + 16) == FAR_SYMBOLS["_Py_Dealloc"]
    assert _pair_address(op, 4) == op_data + 24 and u64(mem, BASE, op_data + 24) == 0x1000  # OPERAND0
    assert _pair_address(op, 6) == op_data and mem[op_data - BASE:op_data - BASE + 6] == b"hello\0"
    branches = [i for i in op if i[2] == "b"]
    assert [imm(i[3]) for i in branches] == [starts[3], starts[4], starts[2]]

    tt = decode("aarch64", mem, BASE, starts[2], starts[3])
    assert [u64(mem, BASE, _pair_address(tt, k)) for k in (0, 2, 4)] == [0x1234, 0xABCDEF, EXECUTOR]
    assert [_pair_address(tt, k) for k in (0, 2, 4)] == [tt_data, tt_data + 8, tt_data + 16]

    # _TEST_CALL's bl: _Py_FarAway is ~42 TiB away, so it goes through the trampoline.
    call = decode("aarch64", mem, BASE, starts[5], starts[5] + 8)
    tramp = BASE + 168
    assert call[0][2] == "bl" and imm(call[0][3]) == tramp
    t = decode("aarch64", mem, BASE, tramp, tramp + 8)
    assert [i[2] for i in t] == ["ldr", "br"] and imm(t[0][3]) == tramp + 8
    assert u64(mem, BASE, tramp + 8) == FAR_SYMBOLS["_Py_FarAway"]


def test_aarch64_near_trampoline_symbol_is_called_directly():
    h = header("aarch64")
    near = {**FAR_SYMBOLS, "_Py_FarAway": BASE + 0x10000}
    ex = link([*TRACE, ("_TEST_CALL",)], h.groups, h.shim, arch="aarch64", executor=EXECUTOR, base=BASE, resolve=near)
    call = decode("aarch64", ex.memory, BASE, ex.instruction_starts[5], ex.instruction_starts[5] + 4)
    assert imm(call[0][3]) == BASE + 0x10000
    assert ex.memory[168:184] == bytes(16)  # reserved, unused


# ----------------------------------------------------------------------------------------- errors

def _err(trace, groups=None, arch="x86_64", **kw):
    h = header(arch)
    args = dict(arch=arch, executor=EXECUTOR, base=BASE, resolve=FAR_SYMBOLS)
    args.update(kw)
    with pytest.raises(LinkError) as err:
        link(trace, groups if groups is not None else h.groups, h.shim, **args)
    return err.value


def test_trace_errors():
    assert "no stencil for _NOPE" in str(_err([TRACE[0], ("_NOPE",)]))
    assert _err([TRACE[0], ("_NOPE",)]).where == "uop 1 _NOPE"
    assert "not _START_EXECUTOR" in str(_err(TRACE[1:]))
    assert "empty trace" in str(_err([]))
    assert "UOP_MAX_TRACE_LENGTH" in str(_err([TRACE[0]] + [("_DEOPT",)] * 800))
    assert "oparg 70000 does not fit" in str(_err([TRACE[0], ("_TEST_OP", 70000)]))
    assert "operand0 -1 does not fit" in str(_err([TRACE[0], ("_TEST_OP", 0, -1)]))
    e = _err([TRACE[0], Instruction("_TEST_OP", 0, 0, 0, 0, 9, 0), ("_DEOPT",)])
    assert "jump_target 9 is past the end of the trace (3 uops)" in e.why
    assert e.where.startswith("uop 1 _TEST_OP, code+0x36 (patch_32r JUMP_TARGET-0x4)")
    assert "not a page-aligned address" in str(_err(TRACE, base=BASE + 8))


def test_unknown_symbol_names_the_uop_and_hole():
    e = _err(TRACE, resolve={k: v for k, v in FAR_SYMBOLS.items() if k != "_PyRuntime"})
    assert e.why == "unknown symbol _PyRuntime"
    assert e.where == "uop 1 _TEST_OP, code+0x16 (patch_64 &_PyRuntime+0x2920)"


def test_resolver_errors_keep_their_reason():
    from refjit.errors import RuntimeModelError

    def resolve(name):
        if name == "PyFloat_Type":
            raise RuntimeModelError("no such type in the emulated process")
        return FAR_SYMBOLS[name]

    e = _err(TRACE, resolve=resolve)
    assert e.why == "cannot resolve PyFloat_Type: no such type in the emulated process"
    assert e.where == "uop 1 _TEST_OP, data+0x10 (patch_64 &PyFloat_Type)"


def test_out_of_range_rel32_names_hole_and_values():
    h = header("x86_64")
    far_call = StencilGroup("_TEST_FAR", Stencil(b"\xe8\0\0\0\0", [Hole(1, "patch_32r", HoleValue.ZERO, "_Py_Dealloc", -4)]))
    e = _err([TRACE[0], ("_TEST_FAR",)], {**h.groups, "_TEST_FAR": far_call})
    assert e.where == "uop 1 _TEST_FAR, code+0x1 (patch_32r &_Py_Dealloc-0x4)"
    assert "outside the signed 32-bit range" in e.why and f"value {FAR_SYMBOLS['_Py_Dealloc'] - 4:#x}" in e.why


def test_instruction_fields_in_groups_emitted_without_an_instruction():
    h = header("x86_64")
    bad_fatal = StencilGroup("_FATAL_ERROR", Stencil(bytes(10), [Hole(2, "patch_64", HoleValue.OPARG)]))
    e = _err(TRACE, {**h.groups, "_FATAL_ERROR": bad_fatal})
    assert "instruction = NULL" in e.why and e.where.startswith("uop 5 _FATAL_ERROR")


def test_aarch64_alignment_is_checked():
    h = header("aarch64")
    odd = StencilGroup("_ODD", Stencil(bytes.fromhex("c0035fd6")))  # 4 bytes: not padded to 8
    e = _err([TRACE[0], ("_ODD",)], {**h.groups, "_ODD": odd}, arch="aarch64")
    assert "alignment" in e.why and e.where == "uop 1 _ODD"


def test_aarch64_patch_errors_name_the_uop():
    h = header("aarch64")
    # A B to a JUMP_TARGET more than 128 MiB away cannot exist in one executor; an ADRP reaching a
    # slot placed more than 4 GiB away can't either, so use a symbol hole: patch_aarch64_26r on
    # an instruction that is not a branch.
    g = StencilGroup("_BAD", Stencil(bytes.fromhex("1f2003d51f2003d5"), [Hole(0, "patch_aarch64_26r", HoleValue.CONTINUE)]))
    e = _err([TRACE[0], ("_BAD",)], {**h.groups, "_BAD": g}, arch="aarch64")
    assert e.where == "uop 1 _BAD, code+0x0 (patch_aarch64_26r CONTINUE)" and "not B/BL" in e.why


def test_aarch64_adrp_ldr_pair_errors_name_the_hole_at_fault():
    # An ADRP and its LDR take the same value; whichever of the two refuses it is the hole named
    # (a linker that patches such a pair in one step must keep this).
    h = header("aarch64")
    code = bytes.fromhex("08000090" "080140f9" "1f2003d5" "1f2003d5")  # adrp x8, 0; ldr x8, [x8]; nop; nop
    far = StencilGroup("_FAR", Stencil(code, [Hole(0, "patch_aarch64_21r", HoleValue.ZERO, "_Py_Other"),
                                              Hole(4, "patch_aarch64_12", HoleValue.ZERO, "_Py_Other")]))
    e = _err([TRACE[0], ("_FAR",)], {**h.groups, "_FAR": far}, arch="aarch64")  # ~42 TiB away
    assert e.where == "uop 1 _FAR, code+0x0 (patch_aarch64_21r &_Py_Other)" and "21-bit range" in e.why
    odd = StencilGroup("_ODD", Stencil(code, [Hole(0, "patch_aarch64_21r", HoleValue.ZERO, "_Py_Other", 4),
                                              Hole(4, "patch_aarch64_12", HoleValue.ZERO, "_Py_Other", 4)]))
    e = _err([TRACE[0], ("_ODD",)], {**h.groups, "_ODD": odd}, arch="aarch64",
             resolve={**FAR_SYMBOLS, "_Py_Other": BASE + 0x3000})  # + 4: not a multiple of 8
    assert e.where == "uop 1 _ODD, code+0x4 (patch_aarch64_12 &_Py_Other+0x4)" and "access size 8" in e.why
    ex = link([TRACE[0], ("_ODD",)], {**h.groups, "_ODD": odd}, h.shim, arch="aarch64", executor=EXECUTOR,
              base=BASE, resolve={**FAR_SYMBOLS, "_Py_Other": BASE + 0x3008 - 4})
    pair = [s for s in ex.sites if s.name == "_ODD"]  # both holes are sites, each with the value
    assert [(s.hole.func, s.address - ex.instruction_starts[1], s.value) for s in pair] == [
        ("patch_aarch64_21r", 0, BASE + 0x3008), ("patch_aarch64_12", 4, BASE + 0x3008)]
    insns = decode("aarch64", ex.memory, BASE, ex.instruction_starts[1], ex.instruction_starts[1] + 8)
    assert [i[2] for i in insns] == ["adrp", "ldr"] and imm(insns[0][3]) + imm(insns[1][3]) == BASE + 0x3008


def test_hole_past_the_executor_memory_is_an_error():
    h = header("x86_64")
    g = StencilGroup("_PAST", Stencil(bytes(8), [Hole(0x2000, "patch_64", HoleValue.CODE)]))
    e = _err([TRACE[0], ("_PAST",)], {**h.groups, "_PAST": g})
    assert e.where == "uop 1 _PAST, code+0x2000 (patch_64 CODE)" and "outside the executor's memory" in e.why


# ------------------------------------------------------------- hole values (hole_value as the model)

from hypothesis import example, given, settings, strategies as st  # noqa: E402

from refjit.stencils import hole_value  # noqa: E402

_ADDENDS = st.one_of(st.integers(-(1 << 8), 1 << 8), st.integers(-(1 << 64) + 1, (1 << 64) - 1),
                     st.sampled_from([-(1 << 63), -(1 << 32), -(1 << 31) - 1, -(1 << 31), (1 << 31) - 1, 1 << 31,
                                      (1 << 32) - 1, 1 << 32, (1 << 63) - 1, 1 << 63, (1 << 64) - 1]))


_NO_FIELDS = dict(oparg=0, operand0=0, operand1=0, target=0, jump_target=0, error_target=0)


@settings(max_examples=300, deadline=None)
@example(value=HoleValue.CODE, symbol=None, addend=-(1 << 31), **_NO_FIELDS)  # -0x80000000 is unsigned
@example(value=HoleValue.DATA, symbol=None, addend=-(1 << 31) + 1, **_NO_FIELDS)
@example(value=HoleValue.TARGET, symbol=None, addend=-1, **_NO_FIELDS)  # wraps in unsigned int
@example(value=HoleValue.OPARG, symbol=None, addend=(1 << 31) - 1, **{**_NO_FIELDS, "oparg": 1})  # overflows int
@example(value=HoleValue.ZERO, symbol="_Py_Other", addend=-(1 << 32), **_NO_FIELDS)
@given(value=st.sampled_from([v for v in HoleValue if v is not HoleValue.GOT]),
       symbol=st.sampled_from([None, "_Py_Other"]), addend=_ADDENDS, oparg=st.integers(0, 0xFFFF), operand0=st.integers(0, (1 << 64) - 1),
       operand1=st.integers(0, (1 << 64) - 1), target=st.integers(0, (1 << 32) - 1),
       jump_target=st.integers(0, 1), error_target=st.integers(0, 1))
def test_every_hole_value_is_the_emitters_c_arithmetic(value, symbol, addend, oparg, operand0, operand1, target,
                                                       jump_target, error_target):
    """link computes common hole values inline and leaves the rest to hole_value (the C model that
    test_stencils checks against clang): both must give what hole_value gives, errors included."""
    hole = Hole(0, "patch_64", value, symbol, addend)
    groups = {"_START_EXECUTOR": StencilGroup("_START_EXECUTOR"), "_FATAL_ERROR": StencilGroup("_FATAL_ERROR"),
              "_H": StencilGroup("_H", Stencil(bytes(8), [hole]))}
    ins = Instruction("_H", oparg, operand0, operand1, target, jump_target, error_target)
    trace = [Instruction("_START_EXECUTOR"), ins]
    # layout: no shim or data bytes, _START_EXECUTOR empty: _H's code is at BASE, its data after all code
    code, data = BASE, BASE + 8
    bases = {HoleValue.CODE: code, HoleValue.CONTINUE: code + 8, HoleValue.DATA: data, HoleValue.EXECUTOR: EXECUTOR,
             HoleValue.OPARG: oparg, HoleValue.OPERAND0: operand0, HoleValue.OPERAND0_HI: operand0 >> 32,
             HoleValue.OPERAND0_LO: operand0 & 0xFFFFFFFF, HoleValue.OPERAND1: operand1,
             HoleValue.OPERAND1_HI: operand1 >> 32, HoleValue.OPERAND1_LO: operand1 & 0xFFFFFFFF,
             HoleValue.TARGET: target, HoleValue.ZERO: None,
             # instruction_starts[0] == instruction_starts[1] == BASE: _START_EXECUTOR is empty
             HoleValue.JUMP_TARGET: code, HoleValue.ERROR_TARGET: code}
    try:
        expected = hole_value(hole, bases[value], FAR_SYMBOLS[symbol] if symbol else None)
    except ValueError:
        with pytest.raises(LinkError, match="signed overflow"):
            link(trace, groups, StencilGroup("shim"), arch="x86_64", executor=EXECUTOR, base=BASE, resolve=FAR_SYMBOLS)
        return
    ex = link(trace, groups, StencilGroup("shim"), arch="x86_64", executor=EXECUTOR, base=BASE, resolve=FAR_SYMBOLS)
    assert ex.sites[0].value == expected and u64(ex.memory, BASE, code) == expected


# ------------------------------------------------------------------------- the real headers (local)

# FACTS.md §g.2: the int_sum executor (29 uops incl. stubs), as dumped from a real process.
INT_SUM = [
    ("_START_EXECUTOR", 0, 0, 0, 25), ("_MAKE_WARM",), ("_SET_IP", 0, 0x7FEFFFE4E882, 0, 25),
    ("_CHECK_PERIODIC", 0, 0, 0, 0, 0, 20), ("_CHECK_VALIDITY", 0, 0, 0, 0, 21, 0),
    ("_ITER_CHECK_RANGE", 11, 0, 0, 0, 22, 0), ("_GUARD_NOT_EXHAUSTED_RANGE", 11, 0, 0, 0, 23, 0),
    ("_ITER_NEXT_RANGE", 11, 0, 0, 0, 0, 24), ("_SET_IP", 0, 0x7FEFFFE4E870, 0, 16), ("_STORE_FAST_2", 2, 0, 0, 16),
    ("_CHECK_VALIDITY", 0, 0, 0, 0, 25, 0), ("_LOAD_FAST_BORROW_1", 1, 0, 0, 17), ("_LOAD_FAST_BORROW_2", 2, 0, 0, 17),
    ("_SET_IP", 0, 0x7FEFFFE4E874, 0, 18), ("_GUARD_NOS_INT", 13, 0, 0, 0, 26, 0),
    ("_BINARY_OP_ADD_INT", 13, 0, 0, 0, 0, 27), ("_CHECK_VALIDITY", 0, 0, 0, 0, 28, 0),
    ("_SET_IP", 0, 0x7FEFFFE4E880, 0, 24), ("_STORE_FAST_1", 1, 0, 0, 24), ("_JUMP_TO_TOP", 0, 0, 0, 0, 1, 0),
    ("_ERROR_POP_N", 0, 0x19), ("_DEOPT", 0, 0, 0, 14), ("_EXIT_TRACE", 0, 0x55CB9C750750, 0, 14),
    ("_EXIT_TRACE", 0, 0x55CB9C750760, 0, 28), ("_ERROR_POP_N", 0, 0xE), ("_DEOPT", 0, 0, 0, 17),
    ("_EXIT_TRACE", 0, 0x55CB9C750770, 0, 18), ("_ERROR_POP_N", 0, 0x12), ("_DEOPT", 0, 0, 0, 24),
]


def _symbols(name: str) -> int:
    # A PIE python far (> 2 GiB) from the JIT region, as in the measured run (FACTS §c.3).
    return 0x55CB9A000000 + (sum(name.encode()) << 8)


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_real_int_sum(arch):
    from test_stencils import real_header_path

    h = read_header(str(real_header_path(arch)))
    base = 0x7FF00039C000
    ex = link(INT_SUM, h.groups, h.shim, arch=arch, executor=0x55CB9C7506D0, base=base, resolve=_symbols)
    if arch == "x86_64":
        # FACTS §c.4: 4096 bytes, 2263 code bytes, 144 data bytes, side entry +33, hole bytes 476/104.
        assert (ex.jit_size, ex.code_size, ex.data_size) == (4096, 2263, 144)
        assert ex.jit_side_entry == 0x7FF00039C021
        # §c.4 counts a GOT site with the two opcode bytes that relaxation may rewrite: 14 of them.
        rx = [s for s in ex.sites if s.hole.func == "patch_x86_64_32rx"]
        assert len(rx) == 14
        assert sum(s.width for s in ex.sites if s.part == "code") + 2 * len(rx) == 476
        assert sum(s.width for s in ex.sites if s.part == "data") == 104
        assert not any(s.relaxed for s in ex.sites)
    # Every patched branch to a trace position lands on an instruction start (capstone's decode).
    targets = set(ex.instruction_starts) | {ex.pc_map[-1].start}
    checked = 0
    for r in ex.pc_map:
        insns = decode(arch, ex.memory, base, r.start, r.end)
        for site in ex.sites:
            if site.part != "code" or not r.start <= site.address < r.end or site.hole.value not in (
                    HoleValue.JUMP_TARGET, HoleValue.ERROR_TARGET, HoleValue.CONTINUE):
                continue
            (insn,) = [i for i in insns if i[0] <= site.address < i[0] + i[1]]
            assert int(insn[3].lstrip("#"), 0) in targets, (r.name, site, insn)
            checked += 1
    assert checked == len([s for s in ex.sites if s.hole.value in (
        HoleValue.JUMP_TARGET, HoleValue.ERROR_TARGET, HoleValue.CONTINUE)]) > 10


def test_real_process_executors_byte_for_byte():
    """Executors dumped from a real CPython 3.14.7 JIT process (trace, addresses, symbol addresses,
    get_jit_code()) must be reproduced exactly, padding included. Local only: the dump lives beside
    the real headers (executors-x86_64.json)."""
    import json

    from test_stencils import real_header_path

    path = real_header_path("x86_64")
    dump_path = path.parent / "executors-x86_64.json"
    if not dump_path.exists():
        pytest.skip(f"no {dump_path.name} beside the real header (a dump of a real process's executors)")
    dump = json.loads(dump_path.read_text())
    h = read_header(str(path))
    assert dump["executors"]
    for e in dump["executors"]:
        ex = link(e["trace"], h.groups, h.shim, arch="x86_64", executor=e["executor"], base=e["jit_code"],
                  resolve=dump["symbols"], page_size=dump["page_size"])
        assert ex.jit_side_entry == e["jit_side_entry"] and ex.jit_size == e["jit_size"]
        assert ex.memory == bytes.fromhex(e["memory"]), (e["function"], e["offset"])


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_real_every_stencil_patched_site_decodes_to_its_value(arch):
    """One trace holding every uop of the real header; every patched site, decoded by capstone,
    must refer to exactly the value the hole asked for (real instruction forms, both ISAs)."""
    from test_stencils import real_header_path

    h = read_header(str(real_header_path(arch)))
    names = ["_START_EXECUTOR"] + sorted(n for n in h.groups if n != "_START_EXECUTOR")
    n = len(names)
    trace = [Instruction(name, (7 * i) % 65536, 0x1111000 + i, 0x2222000 + i, i, (i + 1) % n, (i + 2) % n)
             for i, name in enumerate(names)]
    base = 0x7FF000000000
    ex = link(trace, h.groups, h.shim, arch=arch, executor=0x55CB9C7506D0, base=base, resolve=_symbols)
    by_range = {}
    for r in ex.pc_map:
        for insn in decode(arch, ex.memory, base, r.start, r.end):
            by_range[insn[0]] = insn
    starts = sorted(by_range)
    import bisect
    checked = collections.Counter()
    for site in ex.sites:
        if site.part == "data":
            assert u64(ex.memory, base, site.address) == site.value  # a GOT slot or a 64-bit datum
            checked["data"] += 1
            continue
        address = site.address + (2 if site.relaxed else 0)
        insn = by_range[starts[bisect.bisect_right(starts, address) - 1]]
        func, value = site.hole.func, site.value
        if func == "patch_64":
            assert insn[2] == "movabsq" and imm(insn[3]) == value % (1 << 64)
        elif func == "patch_32r":
            assert int(insn[3], 0) == value + 4, (site, insn)  # rel32 ends 4 bytes after the field
        elif func == "patch_x86_64_32rx":
            assert not site.relaxed and rip_target(insn) == value + 4  # the GOT slot (symbols are far)
        elif func == "patch_aarch64_21r":
            assert insn[2] == "adrp" and imm(insn[3]) == value & ~0xFFF
        elif func == "patch_aarch64_12":
            offset = imm(insn[3]) if "#" in insn[3] else 0  # "[x8]": offset 0
            assert insn[2] in ("ldr", "add") and offset == value & 0xFFF, (site, insn)
        elif func == "patch_aarch64_26r":
            assert insn[2] in ("b", "bl") and imm(insn[3]) == value
        else:
            raise AssertionError(func)
        checked[func] += 1
    assert sum(checked.values()) == len(ex.sites) > 1000


# The fields of a _PyUOpInstruction and their C widths (FACTS §a.5): uint16_t opcode-sized oparg,
# uint64_t operands, uint32_t target, uint16_t jump/error targets.
FIELD_WIDTHS = {"oparg": 16, "operand0": 64, "operand1": 64, "target": 32, "jump_target": 16, "error_target": 16}


@pytest.mark.parametrize("field", FIELD_WIDTHS)
def test_every_instruction_field_is_checked_at_its_edges(field):
    """as_instruction tests all fields at once by their bits; each must still be refused on its
    own just past either end of its C type, and accepted at both ends (bools are ints)."""
    from refjit.link import as_instruction
    bits = FIELD_WIDTHS[field]
    for value, ok in ((0, True), ((1 << bits) - 1, True), (True, True), (1 << bits, False), (-1, False),
                      (-(1 << bits), False), (1 << 64, False), (1.0, False), ("1", False), (None, False)):
        ins = Instruction("_X")._replace(**{field: value})
        if ok:
            assert as_instruction(ins, 3) is ins
            assert as_instruction(tuple(ins), 3) == ins
        else:
            with pytest.raises(LinkError) as err:
                as_instruction(ins, 3)
            assert err.value.why == f"{field} {value!r} does not fit the field's {bits} unsigned bits"
            assert err.value.where == "uop 3 _X"
    with pytest.raises(LinkError, match="uop name 7 is not a string"):
        as_instruction(Instruction(7), 0)


def test_a_holes_link_entry_stays_with_the_hole_and_out_of_its_identity():
    """link keeps each hole's entry in Hole.derived, one per ISA: holes shared by two groups share
    it, and it takes no part in equality, hash or repr."""
    hole = Hole(0, "patch_64", HoleValue.OPARG)
    twin = Hole(0, "patch_64", HoleValue.OPARG)
    groups = {"_START_EXECUTOR": StencilGroup("_START_EXECUTOR"), "_FATAL_ERROR": StencilGroup("_FATAL_ERROR"),
              "_A": StencilGroup("_A", Stencil(bytes(8), [hole])), "_B": StencilGroup("_B", Stencil(bytes(8), [hole]))}
    trace = [Instruction("_START_EXECUTOR"), Instruction("_A", 5), Instruction("_B", 6)]
    for arch in ("x86_64", "aarch64"):
        ex = link(trace, groups, StencilGroup("shim"), arch=arch, executor=EXECUTOR, base=BASE, resolve={})
        assert u64(ex.memory, BASE, ex.instruction_starts[1]) == 5 and u64(ex.memory, BASE, ex.instruction_starts[2]) == 6
    assert sorted(hole.derived) == ["link aarch64", "link x86_64"] and not twin.derived
    assert hole == twin and hash(hole) == hash(twin) and repr(hole) == repr(twin)
    assert groups["_A"].derived["link x86_64"].code_holes[0] is groups["_B"].derived["link x86_64"].code_holes[0]
