"""Text views of a parsed stencil header, for ``refjit stencils``: a table of the groups, and
one group's annotated listing (capstone's decode with each hole marked, the data slots, and the
llvm-objdump listing CPython kept in the header, for side-by-side reading)."""

from __future__ import annotations

import difflib
from collections import Counter

from refjit.disasm import disassemble
from refjit.errors import StencilError
from refjit.stencils import Hole, HoleValue, StencilGroup, StencilHeader


def _symbols(group: StencilGroup) -> list[str]:
    names = {h.symbol for _, h in group.holes() if h.symbol}
    names |= {group.symbols_map[h.addend] for h in group.code.holes
              if h.func == "patch_aarch64_trampoline" and h.addend < len(group.symbols_map)}
    return sorted(n for n in names if n)


def _hole_kinds(group: StencilGroup) -> str:
    kinds = Counter(h.value.name for _, h in group.holes() if h.value is not HoleValue.ZERO)
    return " ".join(f"{k}x{n}" if n > 1 else k for k, n in sorted(kinds.items()))


def overview(header: StencilHeader) -> list[str]:
    """One line per group: sizes, hole kinds, C symbols."""
    groups = [header.shim, *header.groups.values()]
    code = sum(g.code_size for g in header.groups.values())
    data = sum(g.data_size for g in header.groups.values())
    lines = [f"{header.path or '<header>'}: {header.triple}, {len(header.groups)} stencils + shim; "
             f"uop code {code} bytes, data {data} bytes; symbols_map {len(header.symbols_map)} entries",
             f"{'group':<44} {'code':>5} {'data':>5} {'holes':>5}  hole values / symbols"]
    for g in groups:
        holes = len(g.code.holes) + len(g.data.holes)
        extra = " ".join(filter(None, [_hole_kinds(g), " ".join(_symbols(g))]))
        mask = f" trampolines={g.trampoline_mask:#x}" if g.trampoline_mask else ""
        lines.append(f"{g.name:<44} {g.code_size:>5} {g.data_size:>5} {holes:>5}  {extra}{mask}")
    return lines


def _data_target(group: StencilGroup, hole: Hole) -> str:
    """For a code hole that addresses the group's data, what sits there (a GOT slot's hole)."""
    if hole.value is not HoleValue.DATA or hole.symbol:
        return ""
    offset = hole.addend + (4 if hole.func == "patch_x86_64_32rx" else 0)
    for slot in group.data.holes:
        if slot.offset == offset:
            return f" -> data+{offset:#x} = {slot.describe().split(' ', 1)[1]}"
    return f" -> data+{offset:#x}"


def listing(header: StencilHeader, name: str) -> list[str]:
    """One group's annotated listing."""
    if name == "shim":
        group = header.shim
    else:
        group = header.groups.get(name)
        if group is None:
            close = difflib.get_close_matches(name, header.groups, n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise StencilError(f"no stencil for {name}{hint}", where=header.path)
    lines = [f"{group.name} ({header.triple}): code {group.code_size} bytes, data {group.data_size} bytes"
             + (f", trampoline mask {group.trampoline_mask:#x}" if group.trampoline_mask else "")]
    lines.append("== code (capstone), holes marked")
    holes = sorted(group.code.holes, key=lambda h: h.offset)
    for insn in disassemble(header.arch, group.code.body, 0):
        inside = [h for h in holes if insn.address <= h.offset < insn.address + len(insn.data)]
        note = "; ".join(f"{h.offset:x}: {h.describe()}{_data_target(group, h)}" for h in inside)
        text = f"{insn.address:5x}: {insn.data.hex(' '):<30} {insn.text.replace(chr(9), ' ')}"
        lines.append(f"{text:<80} ; {note}" if note else text)
    if group.data_size:
        lines.append("== data")
        slots = {h.offset: h for h in group.data.holes}
        body = group.data.body
        for off in range(0, len(body), 8):
            chunk = body[off:off + 8]
            note = f" ; {slots[off].describe()}" if off in slots else ""
            printable = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
            lines.append(f"{off:5x}: {chunk.hex(' '):<24} {printable:<8}{note}")
    if group.code.listing or group.data.listing:
        lines.append("== listing kept in the header (llvm-objdump of the object, before jump removal)")
        lines.extend(f"  {line}" for line in group.code.listing + group.data.listing)
    return lines
