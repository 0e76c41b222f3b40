"""build_group's bookkeeping where the backends' usual output does not reach it: relocs out of
offset order, several relocs at one offset, the trailing jump not last in the list, GOT slots
shared by the references to one symbol, data relocs, which holes are shared between groups, that a
group's parts cannot change, that what it keeps per reloc is still checked per group, and that its
groups are what the constructors make.

The expected groups are written out from what ``Tools/jit/_stencils.py`` does (holes kept in
offset order, a stable sort; ``remove_jump`` looks at the hole with the highest offset; one GOT
slot per symbol, in the order the relocs first name it, after the 8-byte-padded data)."""

from __future__ import annotations

import dataclasses

import pytest

from refjit.codebuf import Reloc
from refjit.errors import StencilError
from refjit.headerwriter import build_group
from refjit.stencils import Hole, HoleValue, Stencil, StencilGroup

JMP = b"\xe9\0\0\0\0"


def _holes(stencil):
    return [(h.offset, h.func, h.value, h.symbol, h.addend) for h in stencil.holes]


def test_x86_relocs_out_of_order_and_the_jump_not_last():
    code = b"\x48\xb8" + bytes(8) + b"\xff\x15" + bytes(4) + b"\x48\x8b\x05" + bytes(4) + JMP  # 28 bytes
    relocs = [Reloc(24, "patch_32r", "_JIT_CONTINUE", -4),            # the jump first in the list
              Reloc(19, "patch_x86_64_32rx", "_Py_Dealloc", -4),
              Reloc(2, "patch_64", "_JIT_OPERAND0", 0),
              Reloc(12, "patch_x86_64_32rx", "PyFloat_Type", -4),
              Reloc(2, "patch_64", "_JIT_OPARG", 8)]                  # same offset: keeps list order
    g = build_group("_X", "x86_64", code, relocs, b"\x01\x02\x03")
    assert g.code.body == code[:23]  # the jump is gone, x86-64 needs no padding
    assert _holes(g.code) == [
        (2, "patch_64", HoleValue.OPERAND0, None, 0), (2, "patch_64", HoleValue.OPARG, None, 8),
        (12, "patch_x86_64_32rx", HoleValue.DATA, None, 8 + 8 - 4),   # PyFloat_Type's slot: second,
        (19, "patch_x86_64_32rx", HoleValue.DATA, None, 8 + 0 - 4)]   # _Py_Dealloc's came first in the list
    # data: 3 bytes, 5 of padding, then the GOT in the relocs' order
    assert g.data.body == b"\x01\x02\x03" + bytes(5 + 16)
    assert _holes(g.data) == [(8, "patch_64", HoleValue.ZERO, "_Py_Dealloc", 0),
                              (16, "patch_64", HoleValue.ZERO, "PyFloat_Type", 0)]
    assert g.data.listing == ("0: '\\x01\\x02\\x03'", "3: 00 00 00 00 00", "8: &_Py_Dealloc+0x0",
                              "10: &PyFloat_Type+0x0")


def test_x86_a_jump_that_is_not_the_last_hole_stays():
    code = JMP + b"\x48\xb8" + bytes(8)
    relocs = [Reloc(1, "patch_32r", "_JIT_CONTINUE", -4), Reloc(7, "patch_64", "_JIT_TARGET", 0)]
    g = build_group("_X", "x86_64", code, relocs)
    assert g.code.body == code and len(g.code.holes) == 2


def test_aarch64_got_pair_shares_a_slot_and_data_relocs_sort():
    words = [0x90000008, 0xF9400108, 0x90000009, 0x91000129, 0x14000000]  # adrp/ldr, adrp/add, b
    code = b"".join(w.to_bytes(4, "little") for w in words)
    relocs = [Reloc(4, "patch_aarch64_12", "_Py_Dealloc", 0), Reloc(0, "patch_aarch64_21r", "_Py_Dealloc", 0),
              Reloc(8, "patch_aarch64_21r", "table", 0), Reloc(12, "patch_aarch64_12", "table", 0),
              Reloc(16, "patch_aarch64_26r", "_JIT_CONTINUE", 0)]
    data = bytes(16)
    data_relocs = [Reloc(8, "patch_64", "_JIT_EXECUTOR", 0), Reloc(0, "patch_64", "table", 4)]
    g = build_group("_X", "aarch64", code, relocs, data, {"table": 0}, data_relocs)
    assert g.code.body == code[:16]  # b removed; 16 bytes are already 8-aligned
    assert _holes(g.code) == [(0, "patch_aarch64_21r", HoleValue.DATA, None, 16),
                              (4, "patch_aarch64_12", HoleValue.DATA, None, 16),
                              (8, "patch_aarch64_21r", HoleValue.DATA, None, 0),
                              (12, "patch_aarch64_12", HoleValue.DATA, None, 0)]
    assert _holes(g.data) == [(0, "patch_64", HoleValue.DATA, None, 4), (8, "patch_64", HoleValue.EXECUTOR, None, 0),
                              (16, "patch_64", HoleValue.ZERO, "_Py_Dealloc", 0)]
    assert g.data_size == 24


def test_aarch64_code_padded_with_nops_after_the_jump_goes():
    code = (0xD65F03C0).to_bytes(4, "little") + (0x14000000).to_bytes(4, "little")  # ret; b
    g = build_group("_X", "aarch64", code, [Reloc(4, "patch_aarch64_26r", "_JIT_CONTINUE", 0)])
    assert g.code.body == code[:4] + bytes.fromhex("1f2003d5") and g.code.holes == ()


def test_groups_share_equal_holes_and_holes_stay_immutable():
    a = build_group("_A", "x86_64", b"\x48\xb8" + bytes(8), [Reloc(2, "patch_64", "_JIT_OPARG", 0)])
    b = build_group("_B", "x86_64", b"\x48\xb8" + bytes(8), [Reloc(2, "patch_64", "_JIT_OPARG", 0)])
    assert a.code.holes == b.code.holes == (Hole(2, "patch_64", HoleValue.OPARG),)
    assert a.code.holes[0] is b.code.holes[0]  # equal relocs share one (immutable) Hole


def test_a_groups_parts_cannot_change():
    # The linker keeps a plan per group (StencilGroup.derived) for as long as the group holds the
    # same body and holes objects: those must not change in place.
    g = build_group("_A", "aarch64", (0x90000008).to_bytes(4, "little") + (0xF9400108).to_bytes(4, "little"),
                    [Reloc(0, "patch_aarch64_21r", "_Py_Dealloc", 0), Reloc(4, "patch_aarch64_12", "_Py_Dealloc", 0)])
    for stencil in (g.code, g.data):
        assert type(stencil.body) is bytes and type(stencil.holes) is tuple and type(stencil.listing) is tuple
    with pytest.raises(AttributeError):
        g.code.holes.append(g.code.holes[0])
    with pytest.raises(TypeError):
        g.code.body[0] = 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        g.code.holes[0].offset = 8
    # lists and bytearrays given are copied: changing them afterwards changes nothing
    holes, body = [Hole(0, "patch_64", HoleValue.OPARG)], bytearray(8)
    s = Stencil(body, holes, ["x"])
    holes.clear()
    body[0] = 1
    assert s.holes == (Hole(0, "patch_64", HoleValue.OPARG),) and s.body == bytes(8) and s.listing == ("x",)


def test_a_reloc_is_checked_against_each_groups_code():
    """build_group keeps what a reloc gives whatever its group (keyed by the reloc); whether its
    field lies inside the code is still asked of every group, and a reloc refused once is refused
    every time with the same message."""
    reloc = Reloc(8, "patch_64", "_JIT_OPARG", 0)
    big = build_group("_BIG", "x86_64", bytes(16), [reloc])
    assert big.code.holes == (Hole(8, "patch_64", HoleValue.OPARG),)
    for size in (15, 8, 0):
        with pytest.raises(StencilError, match=rf"relocation patch_64 _JIT_OPARG at 0x8 is outside the code \({size} bytes\)"):
            build_group("_SMALL", "x86_64", bytes(size), [reloc])
    assert build_group("_AGAIN", "x86_64", bytes(16), [reloc]).code.holes == big.code.holes
    for bad, message in ((Reloc(-1, "patch_64", "_JIT_OPARG", 0), r"relocation patch_64 _JIT_OPARG at -0x1 is outside"),
                         (Reloc(0, "patch_aarch64_26r", "_JIT_OPARG", 0), "unknown patch function patch_aarch64_26r")):
        for _ in range(2):
            with pytest.raises(StencilError, match=message):
                build_group("_BAD", "x86_64", bytes(16), [bad])
    # the same reloc means a GOT slot on one ISA and a symbol's hole on the other: one entry per ISA
    got = Reloc(0, "patch_aarch64_21r", "_Py_Dealloc", 0)
    g = build_group("_G", "aarch64", (0x90000008).to_bytes(4, "little") * 2, [got])
    assert _holes(g.code) == [(0, "patch_aarch64_21r", HoleValue.DATA, None, 0)]
    assert _holes(g.data) == [(0, "patch_64", HoleValue.ZERO, "_Py_Dealloc", 0)]
    with pytest.raises(StencilError, match="unknown patch function patch_aarch64_21r for x86_64"):
        build_group("_G", "x86_64", bytes(8), [got])


def test_built_groups_are_what_the_constructors_make():
    """build_group makes its groups with stencils.new_group; they must be the objects the
    StencilGroup and Stencil constructors make, field for field."""
    code = b"\x48\xb8" + bytes(8) + b"\xff\x15" + bytes(4)
    relocs = [Reloc(2, "patch_64", "_JIT_OPERAND0", 0), Reloc(12, "patch_x86_64_32rx", "_Py_Dealloc", -4)]
    for g in (build_group("_X", "x86_64", code, relocs, b"\x01", listing=["a", "b"]),
              build_group("_Y", "x86_64", code[:10], relocs[:1])):
        made = StencilGroup(g.name, Stencil(g.code.body, list(g.code.holes), list(g.code.listing)),
                            Stencil(g.data.body, list(g.data.holes), list(g.data.listing)))
        assert type(g) is StencilGroup and type(g.code) is type(g.data) is Stencil
        assert vars(g).keys() == vars(made).keys() and vars(g.code) == vars(made.code) and vars(g.data) == vars(made.data)
        assert {k: v for k, v in vars(g).items() if k not in ("code", "data")} == \
            {k: v for k, v in vars(made).items() if k not in ("code", "data")}
        assert g == made and repr(g) == repr(made)
