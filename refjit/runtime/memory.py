"""The emulated address space: named regions of real bytes, shared with Unicorn without copying.

Each :class:`Region` owns a ctypes buffer. Unicorn maps that very buffer (``mem_map_ptr`` with
``region.address_of_buffer``), so a Python model writing ``memory.set_u64(addr, v)`` and emulated
code storing to ``addr`` touch the same byte. All multi-byte values are little-endian (both
x86-64 and AArch64 Linux are).
"""

from __future__ import annotations

import ctypes
import struct
from dataclasses import dataclass

from refjit.errors import RuntimeModelError

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT

# Unicorn's UC_PROT_* values, so a region's perms can be passed to mem_map_ptr as they are.
PROT_READ = 1
PROT_WRITE = 2
PROT_EXEC = 4
PROT_RW = PROT_READ | PROT_WRITE
PROT_RX = PROT_READ | PROT_EXEC
PROT_RWX = PROT_READ | PROT_WRITE | PROT_EXEC

_U8 = struct.Struct("<B")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_I32 = struct.Struct("<i")
_I64 = struct.Struct("<q")
_F64 = struct.Struct("<d")
# byte -> PAGE_SIZE copies of it, for Memory.fill (a slice copy costs less than a ctypes call)
_RUNS: dict[int, bytes] = {}


def page_align_up(n: int) -> int:
    return (n + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)


def perms_text(perms: int) -> str:
    return "".join(c if perms & bit else "-" for c, bit in (("r", PROT_READ), ("w", PROT_WRITE), ("x", PROT_EXEC)))


class Region:
    """``size`` bytes of memory at emulated address ``base``; both page-aligned.

    Write through :class:`Memory`, which keeps track of dirty pages; a write straight into
    ``buffer`` (as the machine's CPU does) must be followed by ``Memory.mark_dirty(pages)`` or
    ``Memory.mark_all_dirty()``."""

    def __init__(self, name: str, base: int, size: int, perms: int = PROT_RW):
        if base % PAGE_SIZE or size % PAGE_SIZE or size <= 0:
            raise RuntimeModelError(
                f"region {name!r}: base {base:#x} and size {size:#x} must be positive multiples of {PAGE_SIZE:#x}"
            )
        if base < 0 or base + size > 1 << 48:
            raise RuntimeModelError(f"region {name!r} at {base:#x}+{size:#x} is outside the 48-bit address space")
        self.name = name
        self.base = base
        self.size = size
        self.end = base + size
        self.perms = perms
        self.buffer = (ctypes.c_ubyte * size)()
        self.address_of_buffer = ctypes.addressof(self.buffer)
        self.view = memoryview(self.buffer).cast("B")

    def __repr__(self) -> str:
        return f"<Region {self.name} {self.base:#x}-{self.end:#x} {perms_text(self.perms)}>"

    def contains(self, addr: int, n: int = 1) -> bool:
        return self.base <= addr and addr + n <= self.end

    def snapshot(self) -> bytes:
        return bytes(self.view)

    def restore(self, data: bytes, used: int | None = None) -> None:
        """Set the region's bytes to ``data``; ``used``: its length without the zeros at the end,
        which are then cleared rather than copied (most of a fresh region is zeros)."""
        if len(data) != self.size:
            raise RuntimeModelError(f"region {self.name!r}: snapshot of {len(data)} bytes, region has {self.size}")
        if used is None:
            ctypes.memmove(self.address_of_buffer, data, self.size)
            return
        ctypes.memmove(self.address_of_buffer, data, used)
        ctypes.memset(self.address_of_buffer + used, 0, self.size - used)

    def clear(self, byte: int = 0) -> None:
        ctypes.memset(self.address_of_buffer, byte, self.size)


@dataclass(frozen=True, eq=False)
class MemorySnapshot:
    """Every region's bytes: whole regions (``base``, shared by the snapshots taken after one
    whole copy) with ``pages`` (page number -> its bytes, written since) laid over them."""

    base: tuple[tuple[str, int, bytes, int], ...]   # (name, address, all its bytes, how many
    pages: dict[int, bytes]                          # of them are before the trailing zeros)

    @property
    def regions(self) -> tuple[tuple[str, bytes], ...]:
        """(name, bytes) of every region, as the snapshot holds it."""
        out = []
        for name, base, data, _used in self.base:
            data = bytearray(data)
            for page, chunk in self.pages.items():
                o = (page << PAGE_SHIFT) - base
                if 0 <= o < len(data):
                    data[o:o + PAGE_SIZE] = chunk
            out.append((name, bytes(data)))
        return tuple(out)


class Memory:
    """All regions of one process; reads and writes by emulated address.

    Snapshots and restores copy only what changed: every write made through this class marks
    its pages dirty, so a restore rewrites just those pages (and a snapshot copies just those)
    relative to the last snapshot taken or restored. Writers it cannot see (the machine's CPU,
    which shares the buffers) must name the pages they wrote with :meth:`mark_dirty`, or call
    :meth:`mark_all_dirty`, after which the next restore copies every region whole.
    """

    def __init__(self) -> None:
        self.regions: list[Region] = []
        self._by_name: dict[str, Region] = {}
        self._last: Region | None = None  # most accesses hit the region of the previous one
        self._pages: dict[int, Region] = {}  # page number -> its region, for the other ones
        # Pages written since ``_ref`` was snapshotted or restored; None: unknown (anything).
        self._dirty: set[int] | None = None
        self._ref: MemorySnapshot | None = None

    def add(self, region: Region) -> Region:
        for r in self.regions:
            if region.base < r.end and r.base < region.end:
                raise RuntimeModelError(f"region {region.name!r} {region.base:#x}-{region.end:#x} overlaps {r!r}")
            if r.name == region.name:
                raise RuntimeModelError(f"two regions named {region.name!r}")
        self.regions.append(region)
        self.regions.sort(key=lambda r: r.base)
        self._by_name[region.name] = region
        for page in range(region.base // PAGE_SIZE, region.end // PAGE_SIZE):
            self._pages[page] = region
        self._dirty = self._ref = None
        return region

    def mark_all_dirty(self) -> None:
        """Bytes may change behind this class's back (a machine runs on the shared buffers):
        the next restore copies every region whole."""
        self._dirty = None

    def mark_dirty(self, pages) -> None:
        """Pages (numbers: address >> PAGE_SHIFT) that were written behind this class's back
        (the machine's CPU names those it stored to): the next restore copies them too. Pages
        outside every region (a store that faulted) hold nothing to restore."""
        d = self._dirty
        if d is not None and pages:
            d |= self._pages.keys() & pages

    def _touch(self, addr: int, n: int) -> None:
        """Mark the pages of [addr, addr + n) dirty (n > 0, inside one region)."""
        d = self._dirty
        if d is not None:
            first, last = addr >> PAGE_SHIFT, (addr + n - 1) >> PAGE_SHIFT
            if first == last:          # most writes stay in one page: no range object
                d.add(first)
            else:
                d.update(range(first, last + 1))

    def region(self, name: str) -> Region:
        try:
            return self._by_name[name]
        except KeyError:
            raise RuntimeModelError(f"no memory region named {name!r}") from None

    def region_at(self, addr: int, n: int = 1) -> Region:
        r = self._last
        if r is not None and r.base <= addr and addr + n <= r.end:
            return r
        r = self._pages.get(addr >> PAGE_SHIFT)
        if r is not None:
            if addr + n > r.end:
                raise RuntimeModelError(
                    f"access of {n} bytes at {addr:#x} runs past the end of region {r.name!r} ({r.end:#x})"
                )
            self._last = r
            return r
        raise RuntimeModelError(f"address {addr:#x} is not mapped" + (f" ({n} bytes)" if n != 1 else ""))

    def is_mapped(self, addr: int, n: int = 1) -> bool:
        """Whether [addr, addr + n) lies inside one region."""
        if n < 1:  # an empty range may sit at a region's end, on a page that is not its own
            return any(r.contains(addr, n) for r in self.regions)
        r = self._pages.get(addr >> PAGE_SHIFT)   # the region of the first byte's page, if any
        return r is not None and addr + n <= r.end

    def name_of(self, addr: int) -> str | None:
        for r in self.regions:
            if r.base <= addr < r.end:
                return r.name
        return None

    # -- raw bytes -------------------------------------------------------------------------------
    # read, write and fill test the region of the previous access inline, as the typed
    # accessors below do (region_at's own first test), before asking region_at.

    def read(self, addr: int, n: int) -> bytes:
        r = self._last
        if r is None or not (r.base <= addr and addr + n <= r.end):
            r = self.region_at(addr, n)
        o = addr - r.base
        return bytes(r.view[o : o + n])

    def write(self, addr: int, data: bytes | bytearray | memoryview) -> None:
        n = len(data)
        if n == 0:
            return
        r = self._last
        if r is None or not (r.base <= addr and addr + n <= r.end):
            r = self.region_at(addr, n)
        o = addr - r.base
        r.view[o : o + n] = data
        if self._dirty is not None:
            self._touch(addr, n)

    def fill(self, addr: int, n: int, byte: int) -> None:
        if n <= 0:
            return
        r = self._last
        if r is None or not (r.base <= addr and addr + n <= r.end):
            r = self.region_at(addr, n)
        o = addr - r.base
        run = _RUNS.get(byte) if byte.__class__ is int else None
        if run is None and byte.__class__ is int and 0 <= byte <= 0xFF:
            run = _RUNS[byte] = bytes((byte,)) * PAGE_SIZE
        if run is not None and n <= PAGE_SIZE:
            r.view[o:o + n] = run[:n]  # a small fill (most are: every allocation) as a copy
        else:
            ctypes.memset(r.address_of_buffer + o, byte, n)
        if self._dirty is not None:
            self._touch(addr, n)

    def read_cstring(self, addr: int, limit: int = 4096) -> str:
        out = bytearray()
        while len(out) < limit:
            b = self.u8(addr + len(out))
            if b == 0:
                return out.decode("utf-8", errors="replace")
            out.append(b)
        raise RuntimeModelError(f"C string at {addr:#x} is not terminated within {limit} bytes")

    # -- typed scalars -----------------------------------------------------------------------------
    # u8 ... f64 and set_u8 ... set_f64 are made by _getter/_setter at the end of this module:
    # they are the hottest calls of refjit (a scenario, the semantics and an Outcome make millions
    # of them), so each checks the last region hit inline and binds the struct's methods: one
    # Python call per access instead of three.

    # -- whole-memory snapshots --------------------------------------------------------------------
    def _page(self, page: int) -> tuple[Region, int]:
        r = self._pages[page]
        return r, (page << PAGE_SHIFT) - r.base

    def snapshot(self) -> MemorySnapshot:
        ref, dirty = self._ref, self._dirty
        if ref is None or dirty is None:
            whole = [(r.name, r.base, r.snapshot()) for r in self.regions]
            snap = MemorySnapshot(tuple((name, base, data, len(data.rstrip(b"\0")))
                                        for name, base, data in whole), {})
        else:
            pages = dict(ref.pages)
            for page in dirty:
                r, o = self._page(page)
                pages[page] = bytes(r.view[o:o + PAGE_SIZE])
            snap = MemorySnapshot(ref.base, pages)
        self._ref, self._dirty = snap, set()
        return snap

    def restore(self, snap: MemorySnapshot) -> None:
        ref, dirty = self._ref, self._dirty
        if ref is not None and dirty is not None and ref.base is snap.base:
            # Only pages written since ``ref``, or that differ between ``ref`` and ``snap``'s
            # overlays, can differ from ``snap``.
            pages = dirty if ref is snap else dirty | ref.pages.keys() | snap.pages.keys()
            whole = {name: data for name, _base, data, _used in snap.base}
            for page in pages:
                r, o = self._page(page)
                data = snap.pages.get(page)
                r.view[o:o + PAGE_SIZE] = data if data is not None else \
                    memoryview(whole[r.name])[o:o + PAGE_SIZE]
        else:
            for name, _base, data, used in snap.base:
                self.region(name).restore(data, used)
            for page, data in snap.pages.items():
                r, o = self._page(page)
                r.view[o:o + PAGE_SIZE] = data
        self._ref, self._dirty = snap, set()


def _getter(s: struct.Struct):
    size, unpack_from = s.size, s.unpack_from

    def get(self: Memory, addr: int):
        r = self._last
        if r is None or not (r.base <= addr and addr + size <= r.end):
            r = self.region_at(addr, size)
        return unpack_from(r.view, addr - r.base)[0]
    return get


def _setter(s: struct.Struct, wrap: bool = False):
    size, pack_into = s.size, s.pack_into
    last = size - 1

    def set_(self: Memory, addr: int, value) -> None:
        if wrap and -(1 << 63) <= value < 0:  # a negative int64 stored as its u64 bits
            value &= 0xFFFF_FFFF_FFFF_FFFF
        r = self._last
        if r is None or not (r.base <= addr and addr + size <= r.end):
            r = self.region_at(addr, size)
        try:
            pack_into(r.view, addr - r.base, value)
        except struct.error:
            raise RuntimeModelError(f"value {value!r} does not fit a {s.format} at {addr:#x}") from None
        d = self._dirty            # Memory._touch, inline
        if d is not None:
            d.add(addr >> PAGE_SHIFT)
            d.add((addr + last) >> PAGE_SHIFT)
    return set_


for _name, _s in (("u8", _U8), ("u16", _U16), ("u32", _U32), ("u64", _U64), ("i32", _I32),
                  ("i64", _I64), ("f64", _F64)):
    setattr(Memory, _name, _getter(_s))
    setattr(Memory, f"set_{_name}", _setter(_s, wrap=_name == "u64"))
del _name, _s
