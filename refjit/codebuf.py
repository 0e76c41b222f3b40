"""The small shared types every assembler uses: labels and relocation records.

Backends import nothing else from refjit (DESIGN.md: who may import whom), so this module stays
tiny and has no dependencies.

A relocation record names where a later layer must patch the emitted code: ``offset`` is the
byte offset of the patched field's instruction or slot (as CPython's ``Hole.offset``), ``kind``
is the name of the CPython patch function that applies it (``patch_64``, ``patch_32r``,
``patch_x86_64_32rx``, ``patch_aarch64_12``, ``patch_aarch64_21r``, ``patch_aarch64_26r``),
``symbol`` is what the hole refers to (``_JIT_CONTINUE``, ``_JIT_OPARG``, ``_Py_Dealloc``, a
data label...) and ``addend`` is added to the symbol's value before patching, exactly as
``Python/jit.c`` adds it.
"""

from __future__ import annotations

from typing import NamedTuple


class Reloc(NamedTuple):
    offset: int
    kind: str
    symbol: str
    addend: int = 0


class Label:
    """A position in a code buffer, bound once; forward references are fixed up at bind time."""

    __slots__ = ("name", "pos")

    def __init__(self, name: str = ""):
        self.name = name
        self.pos: int | None = None

    @property
    def bound(self) -> bool:
        return self.pos is not None

    def __repr__(self) -> str:
        where = "unbound" if self.pos is None else f"@{self.pos:#x}"
        return f"Label({self.name!r}, {where})"
