"""Memory's raw accessors (read, write, fill) against a plain bytearray per region, across
region switches, the last-region shortcut and the errors at a region's edge."""

from __future__ import annotations

import random

import pytest

from refjit.errors import RuntimeModelError
from refjit.runtime.memory import PAGE_SIZE, Memory, Region


def test_raw_accessors_agree_with_a_bytearray_model_and_refuse_what_runs_out():
    m = Memory()
    # two regions back to back, and a third after a gap
    spans = [(0x10000, 2 * PAGE_SIZE), (0x12000, PAGE_SIZE), (0x20000, PAGE_SIZE)]
    for i, (base, size) in enumerate(spans):
        m.add(Region(f"r{i}", base, size))
    model = {base: bytearray(size) for base, size in spans}
    snap = m.snapshot()
    rng = random.Random(6)
    for _ in range(3000):
        start, size = rng.choice(spans)
        n = rng.choice((0, 1, 7, 8, 100, PAGE_SIZE, PAGE_SIZE + 9))
        addr = start + rng.randrange(0, size + 16)      # maybe in the next region, or unmapped
        home = [b for b, s in spans if b <= addr < b + s]
        base = home[0] if home else None
        o = addr - base if home else 0
        fits = home and o + n <= len(model[base])
        what = rng.randrange(3)
        if not fits and n:
            with pytest.raises(RuntimeModelError, match="not mapped|runs past the end"):
                if what == 0:
                    m.read(addr, n)
                elif what == 1:
                    m.write(addr, bytes(n))
                else:
                    m.fill(addr, n, 0xAB)
            continue
        if not n:
            continue
        if what == 0:
            assert m.read(addr, n) == bytes(model[base][o:o + n])
        elif what == 1:
            data = rng.randbytes(n)
            m.write(addr, data)
            model[base][o:o + n] = data
        else:
            byte = rng.randrange(256)
            m.fill(addr, n, byte)
            model[base][o:o + n] = bytes((byte,)) * n
    for base, size in spans:
        assert m.read(base, size) == bytes(model[base])
    # every write above went through Memory: the restore puts back every page it touched
    m.restore(snap)
    for base, size in spans:
        assert m.read(base, size) == bytes(size)


def test_is_mapped_is_whether_one_region_holds_the_whole_range():
    m = Memory()
    # two regions back to back (a range over both is in neither), a third after a gap
    spans = [(0x10000, 2 * PAGE_SIZE), (0x12000, PAGE_SIZE), (0x20000, PAGE_SIZE)]
    for i, (base, size) in enumerate(spans):
        m.add(Region(f"r{i}", base, size))
    for start, size in spans + [(0x0, PAGE_SIZE), (0x30000, 0)]:
        for addr in (start - PAGE_SIZE - 1, start - 1, start, start + 1, start + size - 8,
                     start + size - 1, start + size, start + size + 1, -8):
            for n in (0, 1, 2, 8, PAGE_SIZE, 2 * PAGE_SIZE, 3 * PAGE_SIZE + 1):
                inside = any(b <= addr and addr + n <= b + s for b, s in spans)
                assert m.is_mapped(addr, n) == inside, (hex(addr), n)
