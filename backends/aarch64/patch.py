"""The AArch64 patch functions of CPython 3.14.7's ``Python/jit.c``, bit for bit.

Each function patches ``buf`` (the executor's memory, mapped at address ``base``) at
``buf[offset]``, i.e. at address ``location = base + offset``, with ``value``: the hole's value
including its addend (a uint64_t). Instructions are little-endian 32-bit words. Where jit.c
asserts, these raise LinkError; the linker adds which hole of which uop it was.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from refjit.errors import LinkError

_U64 = (1 << 64) - 1
TRAMPOLINE_SIZE = 16
NOP = 0xD503201F

# An instruction word / a 64-bit slot, little-endian, read and written in place.
_read32 = struct.Struct("<I").unpack_from
_write32 = struct.Struct("<I").pack_into
_write64 = struct.Struct("<Q").pack_into


def _s64(v: int) -> int:
    v &= _U64
    return v - (1 << 64) if v >> 63 else v


def get_bits(value: int, start: int, width: int) -> int:
    """value[start : start + width] of a uint64_t."""
    return ((value & _U64) >> start) & ((1 << width) - 1)


def set_bits(word: int, loc_start: int, value: int, value_start: int, width: int) -> int:
    """``word`` with bits [loc_start, loc_start + width) replaced by value[value_start:+width]."""
    word &= ~(((1 << width) - 1) << loc_start) & 0xFFFFFFFF
    return word | (get_bits(value, value_start, width) << loc_start)


# Instruction classes, as jit.c tests them (Arm ARM encodings):
def is_add_or_sub(i: int) -> bool:
    return i & 0x11C00000 == 0x11000000  # ADD/SUB (immediate)


def is_adrp(i: int) -> bool:
    return i & 0x9F000000 == 0x90000000


def is_branch(i: int) -> bool:
    return i & 0x7C000000 == 0x14000000  # B / BL


def is_ldr_or_str(i: int) -> bool:
    return i & 0x3B000000 == 0x39000000  # LDR/STR (immediate, unsigned offset)


def is_mov(i: int) -> bool:
    return i & 0x9F800000 == 0x92800000  # MOVN/MOVZ/MOVK (wide immediate)


def _word(buf: bytearray, offset: int) -> int:
    return _read32(buf, offset)[0]


def _put(buf: bytearray, offset: int, word: int) -> None:
    _write32(buf, offset, word)


# The four patch functions nearly every hole uses (patch_64 for GOT slots, ADRP + LDR/ADD for
# the references to them, B/BL) test and set their fields with the masks written out: the same
# tests and bits as the helpers above, without a call per field.

def patch_64(buf: bytearray, base: int, offset: int, value: int) -> None:
    """64-bit absolute address (R_AARCH64_ABS64, and every GOT slot)."""
    _write64(buf, offset, value & _U64)


def patch_aarch64_12(buf: bytearray, base: int, offset: int, value: int) -> None:
    """Low 12 bits of an address into an ADD immediate or an LDR/STR scaled offset."""
    (insn,) = _read32(buf, offset)
    if insn & 0x3B000000 == 0x39000000:  # is_ldr_or_str
        shift = insn >> 30  # the access size (bits 30-31) scales the offset
        if insn & 0x04800000 == 0x04800000:  # bits 23 and 26 both set
            raise LinkError(f"patch_aarch64_12: {insn:#010x} at {base + offset:#x} is a 128-bit access "
                            f"(shift 4), which jit.c does not handle")
    elif insn & 0x11C00000 == 0x11000000:  # is_add_or_sub
        shift = 0
    else:
        raise LinkError(f"patch_aarch64_12: {insn:#010x} at {base + offset:#x} is neither ADD/SUB (immediate) "
                        f"nor LDR/STR (immediate)")
    value &= 0xFFF
    if value & _BELOW[shift]:
        raise LinkError(f"patch_aarch64_12: offset {value:#x} at {base + offset:#x} is not a multiple of "
                        f"the access size {1 << shift}")
    _write32(buf, offset, insn & 0xFFC003FF | value >> shift << 10)  # imm12, bits 10-21


_BELOW = (0, 1, 3, 7)  # shift -> (1 << shift) - 1: the offset bits an access of that size must leave clear


def _patch_16(part: int):
    def patch(buf: bytearray, base: int, offset: int, value: int) -> None:
        insn = _word(buf, offset)
        name = f"patch_aarch64_16{'abcd'[part]}"
        if not is_mov(insn):
            raise LinkError(f"{name}: {insn:#010x} at {base + offset:#x} is not MOVN/MOVZ/MOVK")
        if get_bits(insn, 21, 2) != part:
            raise LinkError(f"{name}: {insn:#010x} at {base + offset:#x} has hw={get_bits(insn, 21, 2)}, expected {part}")
        _put(buf, offset, set_bits(insn, 5, value, 16 * part, 16))
    patch.__name__ = f"patch_aarch64_16{'abcd'[part]}"
    patch.__doc__ = f"Bits [{16 * part}:{16 * part + 16}) of an address into a MOVZ/MOVK with hw={part}."
    return patch


patch_aarch64_16a = _patch_16(0)
patch_aarch64_16b = _patch_16(1)
patch_aarch64_16c = _patch_16(2)
patch_aarch64_16d = _patch_16(3)


def patch_aarch64_21r(buf: bytearray, base: int, offset: int, value: int) -> None:
    """ADRP: the signed count of 4 KiB pages from the instruction's page to the value's page."""
    location = base + offset
    pages = ((value & _U64) >> 12) - (location >> 12)  # (int64_t)(value >> 12): 52 bits, never negative
    if not -(1 << 20) <= pages < (1 << 20):
        raise LinkError(f"patch_aarch64_21r: {value & _U64:#x} is {pages:+d} pages from {location:#x}, "
                        f"outside ADRP's signed 21-bit range")
    (insn,) = _read32(buf, offset)
    # immlo (bits 29-30) takes pages[0:2], immhi (bits 5-23) pages[2:21]
    _write32(buf, offset, insn & 0x9F00001F | (pages & 3) << 29 | (pages >> 2 & 0x7FFFF) << 5)


def patch_aarch64_26r(buf: bytearray, base: int, offset: int, value: int) -> None:
    """B/BL: signed 28-bit byte displacement, stored as 26 bits of words."""
    location = base + offset
    (insn,) = _read32(buf, offset)
    if insn & 0x7C000000 != 0x14000000:  # is_branch
        raise LinkError(f"patch_aarch64_26r: {insn:#010x} at {location:#x} is not B/BL")
    delta = (value - location) & _U64  # uint64_t arithmetic, then read as int64_t
    if delta >> 63:
        delta -= 1 << 64
    if not -(1 << 27) <= delta < (1 << 27):
        raise LinkError(f"patch_aarch64_26r: {value & _U64:#x} is {delta:+#x} from {location:#x}, "
                        f"outside the +/-128 MiB range of B/BL")
    if delta & 3:
        raise LinkError(f"patch_aarch64_26r: target {value & _U64:#x} is not 4-byte aligned relative to {location:#x}")
    _write32(buf, offset, insn & 0xFC000000 | delta >> 2 & 0x3FFFFFF)  # imm26, bits 0-25


@dataclass
class TrampolineState:
    """jit.c's ``trampoline_state``: where the trampolines start (offset in the executor's
    memory), which symbol ordinals have one (the OR of the trace's groups' masks), total size."""

    offset: int
    mask: int
    size: int


def patch_aarch64_trampoline(buf: bytearray, base: int, offset: int, ordinal: int, target: int,
                             state: TrampolineState) -> None:
    """A B/BL to an external symbol (``symbols_map[ordinal]`` = ``target``): direct if in range,
    else through the trace's 16-byte trampoline ``ldr x8, #8; br x8; .quad target``."""
    location = base + offset
    delta = _s64(target - location)
    if -(1 << 27) <= delta < (1 << 27):
        patch_aarch64_26r(buf, base, offset, target)
        return
    if not state.mask >> ordinal & 1:
        raise LinkError(f"patch_aarch64_trampoline: ordinal {ordinal} is not in the trace's trampoline mask")
    index = bin(state.mask & ((1 << ordinal) - 1)).count("1")
    if (index + 1) * TRAMPOLINE_SIZE > state.size:
        raise LinkError(f"patch_aarch64_trampoline: trampoline {index} is past the {state.size} reserved bytes")
    at = state.offset + index * TRAMPOLINE_SIZE
    target &= _U64
    for k, word in enumerate((0x58000048, 0xD61F0100, target & 0xFFFFFFFF, target >> 32)):
        _put(buf, at + 4 * k, word)
    patch_aarch64_26r(buf, base, offset, base + at)


PATCH_FUNCS = {
    "patch_64": patch_64,
    "patch_aarch64_12": patch_aarch64_12,
    "patch_aarch64_16a": patch_aarch64_16a,
    "patch_aarch64_16b": patch_aarch64_16b,
    "patch_aarch64_16c": patch_aarch64_16c,
    "patch_aarch64_16d": patch_aarch64_16d,
    "patch_aarch64_21r": patch_aarch64_21r,
    "patch_aarch64_26r": patch_aarch64_26r,
}
