"""AArch64 selection of loads and stores at every kind of displacement, run on the machine.

Selection takes a load's or store's bytes from a table keyed by register numbers and
displacement (isel's _LOAD_CODE/_STORE_CODE): an immediate offset where ldr/str (or ldur/stur)
takes it, else the displacement in X17 as a register offset. Each displacement here sits at or
just past a limit of those forms (-256..255 unscaled; 0..4095 * size scaled, aligned), and the
value read back is compared with what Python computes from the bytes stored."""

from __future__ import annotations

import pytest

from refjit.lir import FRAME
from test_lower_lir import LOCALSPLUS, M, run_lir

# (scratch slot 40, then the base register is slot 40's address minus disp)
DISPS = [0, 8, 255, 256, -256, -257, 4095, 4096, 8 * 4095, 8 * 4096, -4096, 0x12345, -0x123457]
PATTERN = 0x8192A3B4C5D6E7F8


def _expect(width: int, signed: bool) -> int:
    v = PATTERN & ((1 << width) - 1)
    if signed and v >> (width - 1):
        v -= 1 << width
    return v & M


@pytest.mark.parametrize("disp", DISPS)
def test_loads_and_stores_at_the_limits_of_the_immediate_forms(disp):
    def build(b, store):
        base = b.add(FRAME, LOCALSPLUS + 8 * 40 - disp)
        k = 0
        for width in (8, 16, 32, 64):
            b.store(0, base, disp)                         # the zero register, 64-bit
            b.store(b.const(PATTERN), base, disp, width)   # a register's low bits
            for signed in (False, True):
                store(b.load(base, disp, width, signed), k)
                k += 1
            store(b.load(base, disp), k)                   # the rest of the word still zero
            k += 1
        b.store(-1, base, disp, 64)                        # a constant (through X16)
        b.store(0, base, disp, 16)                         # the zero register, 16-bit
        store(b.load(base, disp), k)
    got = run_lir("aarch64", build)
    k = 0
    for width in (8, 16, 32, 64):
        for signed in (False, True):
            assert got[k] == _expect(width, signed), (disp, width, signed)
            k += 1
        assert got[k] == PATTERN & ((1 << width) - 1), (disp, width)
        k += 1
    assert got[k] == M & ~0xFFFF, disp


@pytest.mark.parametrize("disp", DISPS)
def test_rmw_at_the_limits_of_the_immediate_forms(disp):
    """rmw (isel's _RMW_CODE: ldr, add/sub, str through X16, the displacement in X17 when no
    immediate form takes it) and its branch on the new value being zero."""
    deltas = [(64, 5), (64, -4095), (32, 4095), (32, -7)]

    def build(b, store):
        base = b.add(FRAME, LOCALSPLUS + 8 * 40 - disp)
        for k, (width, delta) in enumerate(deltas):
            b.store(b.const(PATTERN), base, disp)
            b.rmw(base, disp, width, delta)
            store(b.load(base, disp), k)
        b.store(b.const(3), base, disp)
        hits = b.const(0)
        for _ in range(4):          # 3 -> 2 -> 1 -> 0 -> -1: the branch taken at 0 only
            skip = b.label()
            b.rmw(base, disp, 64, -1, "ne", skip)
            b.add(hits, 1, dst=hits)
            b.bind(skip)
        store(hits, len(deltas))
        store(b.load(base, disp), len(deltas) + 1)
    got = run_lir("aarch64", build)
    for k, (width, delta) in enumerate(deltas):
        mask = (1 << width) - 1
        want = (PATTERN & ~mask) | ((PATTERN + delta) & mask)
        assert got[k] == want & M, (disp, width, delta)
    assert got[len(deltas)] == 1 and got[len(deltas) + 1] == M, disp
