"""The x86-64 patch functions of CPython 3.14.7's ``Python/jit.c``, bit for bit.

Each function patches ``buf`` (the executor's memory, mapped at address ``base``) at
``buf[offset]``, i.e. at address ``location = base + offset``, with ``value``: the hole's value
including its addend, as the emitter computes it (a uint64_t). Where jit.c asserts, these raise
LinkError; the linker adds which hole of which uop it was.
"""

from __future__ import annotations

import struct

from refjit.errors import LinkError

_U64 = (1 << 64) - 1

# Fields are little-endian and written in place: 64-bit slots, 32-bit (un)signed fields.
_write64 = struct.Struct("<Q").pack_into
_write32 = struct.Struct("<I").pack_into
_write32s = struct.Struct("<i").pack_into
_read64 = struct.Struct("<Q").unpack_from


def _s64(v: int) -> int:
    """The uint64_t ``v`` read as int64_t."""
    v &= _U64
    return v - (1 << 64) if v >> 63 else v


def patch_64(buf: bytearray, base: int, offset: int, value: int) -> None:
    """64-bit absolute address (R_X86_64_64, and every GOT slot)."""
    _write64(buf, offset, value & _U64)


def patch_32(buf: bytearray, base: int, offset: int, value: int) -> None:
    """32-bit absolute address; jit.c asserts that the value fits in 32 unsigned bits."""
    value &= _U64
    if value >= 1 << 32:
        raise LinkError(f"patch_32: value {value:#x} does not fit in 32 unsigned bits")
    _write32(buf, offset, value)


def patch_32r(buf: bytearray, base: int, offset: int, value: int) -> None:
    """32-bit relative address: ``value - location``, which must fit in 32 signed bits.

    The -4 of an x86 rel32 (relative to the end of the field) is already in the hole's addend.
    """
    location = base + offset
    delta = (value - location) & _U64  # uint64_t arithmetic, then read as int64_t
    if delta >> 63:
        delta -= 1 << 64
    if not -(1 << 31) <= delta < (1 << 31):
        raise LinkError(f"patch_32r: {value & _U64:#x} is {delta:+#x} from {location:#x}, "
                        f"outside the signed 32-bit range")
    _write32s(buf, offset, delta)


def patch_x86_64_32rx(buf: bytearray, base: int, offset: int, value: int) -> bool:
    """Relaxable 32-bit relative reference to a GOT slot (R_X86_64_(REX_)GOTPCRELX).

    ``value`` is the slot's address - 4. If the address stored in the slot (already filled: the
    emitter patches data before code) is within reach of a rel32, the instruction is rewritten
    to use it directly: ``mov reg, [rip+slot]`` (8B) becomes ``lea reg, [rip+target]`` (8D),
    ``call [rip+slot]`` (FF 15) becomes ``nop; call target`` (90 E8), ``jmp [rip+slot]`` (FF 25)
    becomes ``nop; jmp target`` (90 E9). Other instructions keep the GOT load. Returns whether
    the site was relaxed.
    """
    location = base + offset  # below 2**64 (the linker keeps the memory inside the address space)
    slot = (value + 4) & _U64
    at = slot - base
    if not 0 <= at <= len(buf) - 8:
        raise LinkError(f"patch_x86_64_32rx: GOT slot {slot:#x} (value + 4) is outside the executor's "
                        f"memory [{base:#x}, {base + len(buf):#x})")
    relaxed = (_read64(buf, at)[0] - 4) & _U64
    # (int64_t)relaxed - (int64_t)location, the two _s64 conversions written out
    relaxed_delta = (relaxed - (1 << 64) if relaxed >> 63 else relaxed) - \
        (location - (1 << 64) if location >> 63 else location)
    done = False
    if -(1 << 31) <= relaxed_delta and relaxed_delta + 1 < (1 << 31):
        if buf[offset - 2] == 0x8B:
            buf[offset - 2] = 0x8D
            value, done = relaxed, True
        elif buf[offset - 2] == 0xFF and buf[offset - 1] == 0x15:
            buf[offset - 2:offset] = b"\x90\xe8"
            value, done = relaxed, True
        elif buf[offset - 2] == 0xFF and buf[offset - 1] == 0x25:
            buf[offset - 2:offset] = b"\x90\xe9"
            value, done = relaxed, True
    # patch_32r's work, written out: the delta, if it fits 32 signed bits (else patch_32r says why)
    delta = (value - location) & _U64
    if delta >> 63:
        delta -= 1 << 64
    if -(1 << 31) <= delta < (1 << 31):
        _write32s(buf, offset, delta)
    else:
        patch_32r(buf, base, offset, value)
    return done


PATCH_FUNCS = {
    "patch_64": patch_64,
    "patch_32": patch_32,
    "patch_32r": patch_32r,
    "patch_x86_64_32rx": patch_x86_64_32rx,
}
