"""A deterministic allocator for the emulated heap.

Same sequence of calls -> same addresses in the same order: memory is handed out by bumping a
pointer, 16-byte aligned like pymalloc. Freed blocks are poisoned with 0xDD so a use after free
reads obvious garbage, and they are not reused until the bump pointer reaches the end of the
region (then the oldest freed block of the same size is reused first). Fresh blocks are filled
with 0xCB ("allocated, not initialised") so a read of a field nobody wrote shows too.

Objects on one of CPython's freelists are neither live nor freed: the allocator still owns them
but Python has given them up. :class:`Heap` tracks that third state so an Outcome can tell
"deallocated to the float freelist" from "returned to the allocator".
"""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass, field

from refjit.errors import RuntimeModelError
from refjit.runtime.memory import Memory, Region

ALIGN = 16
POISON_FREED = 0xDD
FRESH = 0xCB

_FRESH_RUN = bytes((FRESH,)) * 256  # the FRESH tail of a block given initial bytes (most are short)

LIVE = "live"
FREED = "freed"
FREELIST = "freelist"


@dataclass
class Block:
    address: int  # what the allocation returned (the object, after any GC pre-header)
    start: int  # first byte of the block, including pre-headers
    size: int  # total bytes of the block
    type: str  # "int", "float", "tuple", ... or "mem" for raw PyMem memory
    state: str = LIVE
    freelist: str | None = None  # which freelist holds it, when state == FREELIST
    serial: int = 0  # allocation number (deterministic order)
    freed_at: int = 0  # free number, for reusing the oldest freed block first
    # The heap's epoch when this object was made: one from an earlier epoch may be held by a
    # HeapSnapshot too, so the heap changes a copy of it instead (Heap._own).
    epoch: int = field(default=0, compare=False, repr=False)

    @property
    def end(self) -> int:
        return self.start + self.size

    def copy(self) -> Block:
        # What dataclasses.replace(self) gives, without its per-field work.
        c = object.__new__(Block)
        c.__dict__.update(self.__dict__)
        return c


@dataclass(frozen=True)
class HeapSnapshot:
    top: int
    serial: int
    frees: int
    blocks: tuple[Block, ...]


class Heap:
    """The allocator's books: every block by start and by address, in allocation order.

    Snapshots share the Block objects instead of copying them: a snapshot or restore starts a
    new epoch, and a block of an earlier epoch is copied the first time it changes (_own), so
    what a snapshot holds never changes. ``_blocks`` keeps allocation (serial) order: a new
    block is added last, a reused start is removed first, a copy takes its original's place."""

    def __init__(self, memory: Memory, region: Region):
        self.memory = memory
        self.region = region
        self._end = region.end
        self._top = region.base
        self._serial = 0
        self._frees = 0
        self._reusable: dict[int, deque[int]] = {}  # block size -> starts of freed blocks, oldest first
        self._blocks: dict[int, Block] = {}  # by start
        self._starts: list[int] = []  # sorted block starts
        self._by_address: dict[int, Block] = {}
        self._epoch = 0

    # -- allocation ----------------------------------------------------------------------------------
    def malloc(self, size: int, type: str = "mem", *, header: int = 0,
               init: bytes | bytearray = b"") -> int:
        """A block of ``header + size`` bytes; returns the address just after the header.

        Its bytes are FRESH, except that it begins with ``init`` when given (from the block's
        first byte, pre-header included, at most ``header + size`` bytes): a new object's bytes
        written with its allocation, in one write."""
        if size < 0 or header < 0 or header % ALIGN:
            raise RuntimeModelError(f"bad allocation request: size {size}, header {header}")
        if len(init) > header + size:
            raise RuntimeModelError(f"bad allocation request: {len(init)} initial bytes for a block "
                                    f"of {header} + {size}")
        total = (header + size + ALIGN - 1) & ~(ALIGN - 1) or ALIGN  # (an empty request: ALIGN)
        start = self._top
        if start + total <= self._end:
            self._top = start + total
            self._starts.append(start)  # every block lies below the bump pointer: still sorted
        else:
            start = self._reuse(total)
        self._serial = serial = self._serial + 1
        address = start + header
        self._blocks[start] = self._by_address[address] = \
            Block(address, start, total, type, LIVE, None, serial, 0, self._epoch)
        rest = total - len(init)
        if not init:
            self.memory.fill(start, total, FRESH)
        elif rest <= len(_FRESH_RUN):
            self.memory.write(start, init + _FRESH_RUN[:rest] if rest else init)
        else:
            self.memory.write(start, init)
            self.memory.fill(start + len(init), rest, FRESH)
        return address

    def _reuse(self, total: int) -> int:
        q = self._reusable.get(total)
        if q:
            start = q.popleft()
            b = self._blocks.pop(start)
            del self._by_address[b.address]
            return start
        raise RuntimeModelError(
            f"emulated heap exhausted: no room for {total} bytes in region {self.region.name!r} "
            f"({self.region.size} bytes; enlarge LayoutConfig.heap_size)"
        )

    def free(self, address: int) -> None:
        block = self._by_address.get(address)
        if block is None:
            inside = self.block_at(address)
            where = f" (inside the {inside.state} {inside.type} block at {inside.address:#x})" if inside else ""
            raise RuntimeModelError(f"free of {address:#x}, which is not the start of an allocation{where}")
        if block.state == FREED:
            raise RuntimeModelError(f"double free of {block.type} at {address:#x}")
        block = self._own(block)
        block.state = FREED
        block.freelist = None
        self._frees += 1
        block.freed_at = self._frees
        self._reusable.setdefault(block.size, deque()).append(block.start)
        self.memory.fill(block.start, block.size, POISON_FREED)

    def realloc(self, address: int, size: int) -> int:
        """PyMem_Realloc: a new block with the old contents; the old block is freed."""
        old = self.block(address)
        new = self.malloc(size, old.type)
        keep = min(size, old.end - old.address)
        self.memory.write(new, self.memory.read(old.address, keep))
        self.free(address)
        return new

    # -- freelists ---------------------------------------------------------------------------------
    def to_freelist(self, address: int, name: str) -> None:
        block = self.block(address)
        if block.state != LIVE:
            raise RuntimeModelError(f"{block.type} at {address:#x} pushed to the {name} freelist while {block.state}")
        block = self._own(block)
        block.state = FREELIST
        block.freelist = name

    def from_freelist(self, address: int) -> None:
        block = self.block(address)
        if block.state != FREELIST:
            raise RuntimeModelError(f"{block.type} at {address:#x} popped from a freelist while {block.state}")
        block = self._own(block)
        block.state = LIVE
        block.freelist = None

    def _own(self, block: Block) -> Block:
        """``block``, or (if a snapshot may hold it) its copy put in its place: one to change."""
        if block.epoch == self._epoch:
            return block
        c = block.copy()
        c.epoch = self._epoch
        self._blocks[c.start] = self._by_address[c.address] = c
        return c

    # -- queries -----------------------------------------------------------------------------------
    def block(self, address: int) -> Block:
        b = self._by_address.get(address)
        if b is None:
            raise RuntimeModelError(f"{address:#x} is not the start of a heap allocation")
        return b

    def block_at(self, addr: int) -> Block | None:
        """The block (live, freelisted or freed) whose bytes include ``addr``."""
        i = bisect.bisect_right(self._starts, addr) - 1
        if i < 0:
            return None
        b = self._blocks.get(self._starts[i])
        return b if b is not None and addr < b.end else None

    def owns(self, addr: int) -> bool:
        return self.region.contains(addr)

    def _in_order(self, state: str) -> list[Block]:
        return [b for b in self._blocks.values() if b.state == state]

    def in_order(self) -> list[Block]:
        """Every block, live, freelisted or freed, in allocation order."""
        return list(self._blocks.values())

    def live(self) -> list[Block]:
        """Blocks in use, in allocation order."""
        return self._in_order(LIVE)

    def freed(self) -> list[Block]:
        """Blocks returned to the allocator (poisoned), in allocation order."""
        return self._in_order(FREED)

    def freelisted(self) -> list[Block]:
        """Deallocated objects parked on a CPython freelist, in allocation order."""
        return self._in_order(FREELIST)

    def writes_after_free(self) -> list[tuple[Block, int]]:
        """Freed blocks whose poison was overwritten: (block, address of the first changed byte)."""
        out = []
        for b in self.freed():
            data = self.memory.read(b.start, b.size)
            if data.count(POISON_FREED) != b.size:
                first = next(i for i, x in enumerate(data) if x != POISON_FREED)
                out.append((b, b.start + first))
        return out

    @property
    def used(self) -> int:
        return self._top - self.region.base

    # -- snapshots ---------------------------------------------------------------------------------
    def snapshot(self) -> HeapSnapshot:
        self._epoch += 1  # the snapshot shares every block: the next change to one copies it
        return HeapSnapshot(self._top, self._serial, self._frees, tuple(self._blocks.values()))

    def restore(self, snap: HeapSnapshot) -> None:
        self._epoch += 1  # the heap shares the snapshot's blocks: the next change to one copies it
        self._top = snap.top
        self._serial = snap.serial
        self._frees = snap.frees
        self._blocks = {b.start: b for b in snap.blocks}
        self._starts = sorted(self._blocks)
        self._by_address = {b.address: b for b in self._blocks.values()}
        self._reusable = {}
        for b in sorted((b for b in self._blocks.values() if b.state == FREED), key=lambda b: b.freed_at):
            self._reusable.setdefault(b.size, deque()).append(b.start)
