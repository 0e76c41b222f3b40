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
        b.store(-1, base, disp, 64)                        # constants (through X16)
        b.store(0x12345678, base, disp, 32)
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
    assert got[k] == 0xFFFFFFFF12340000, disp


@pytest.mark.parametrize("disp", DISPS)
def test_rmw_at_the_limits_of_the_immediate_forms(disp):
    """rmw (isel's _RMW_CODE: ldr, add/sub, str through X16, the displacement in X17 when no
    immediate form takes it) and its branch on the new value being zero."""
    # beyond +-4095 the delta is not an add/sub immediate and needs X17 too (after the load)
    deltas = [(64, 5), (64, -4095), (32, 4095), (32, -7), (64, 5000), (64, -(1 << 31)),
              (32, (1 << 31) - 1), (32, -4096)]

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


def _cond(c: str, x: int, y: int, width: int) -> bool:
    mask = (1 << width) - 1
    ux, uy = x & mask, y & mask
    sx, sy = ux - ((ux >> (width - 1)) << width), uy - ((uy >> (width - 1)) << width)
    return {"eq": ux == uy, "lt": sx < sy, "ult": ux < uy, "ge": sx >= sy}[c]


@pytest.mark.parametrize("width", [64, 32])
def test_compares_at_the_limits_of_cmp_and_cmn(width):
    """A compare with a constant (isel's _COMPARE_IMM_CODE: cmp or cmn of a 12-bit immediate,
    else the constant in X17, taken modulo 2**width) in br and setcc, against Python."""
    ys = [4095, 4096, -4095, -4096, 0xFFFFF001, 0xFFFFF000, 1 << 32, (1 << 32) + 4095, M]
    cases = [(c, y + d, y) for y in ys for d in (-1, 0, 1) for c in ("eq", "lt", "ult", "ge")]
    for start in range(0, len(cases), 24):
        chunk = cases[start:start + 24]

        def build(b, store):
            for k, (c, x, y) in enumerate(chunk):
                rx = b.const(x & M)
                store(b.setcc(c, rx, y, width), 2 * k)
                r = b.const(0)
                skip = b.label()
                b.br(c, rx, y, skip, width)
                b.const(1, dst=r)
                b.bind(skip)
                store(r, 2 * k + 1)
        got = run_lir("aarch64", build)
        for k, (c, x, y) in enumerate(chunk):
            want = _cond(c, x, y, width)
            assert got[2 * k] == int(want) and got[2 * k + 1] == int(not want), (c, hex(x), hex(y), width)
