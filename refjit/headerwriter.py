"""Write groups out as a ``jit_stencils-<triple>.h`` in CPython 3.14's format, and build groups
from refjit's own machine code.

The output follows the grammar ``refjit.stencils`` reads (the one ``Tools/jit/_writer.py``
produces): given a header parsed by the reader, ``write_header`` gives back the same text, and a
header written from refjit's groups is a drop-in for CPython's (DESIGN.md). ``build_group`` turns
code with relocation records (``refjit.codebuf.Reloc``) into a group the way
``_stencils.py: StencilGroup.process_relocations`` does: the trailing jump to the next uop is
dropped, references to symbols through the GOT get an 8-byte slot in the group's own data, the
code is padded with NOPs to the target's alignment and the data with zeros to 8 bytes.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from collections.abc import Iterable, Iterator, Mapping, Sequence

from refjit.codebuf import Reloc
from refjit.errors import StencilError
from refjit.stencils import (
    HOLE_EXPRS,
    PATCH_WIDTHS,
    Hole,
    HoleValue,
    StencilGroup,
    StencilHeader,
    arch_of_triple,
    new_group,
)

CODE_ALIGNMENT = {"x86_64": 1, "aarch64": 8}  # _targets.py: alignment=8 for aarch64-*-linux-gnu
NOP = {"x86_64": b"\x90", "aarch64": b"\x1f\x20\x03\xd5"}

# Relocations that reach their symbol through a GOT slot when CPython's build sees them:
# R_X86_64_(REX_)GOTPCRELX on x86-64; R_AARCH64_ADR_GOT_PAGE + LD64_GOT_LO12_NC on aarch64.
_GOT_FUNCS = {"x86_64": {"patch_x86_64_32rx"}, "aarch64": {"patch_aarch64_21r", "patch_aarch64_12"}}
# arch -> {patch function: (its width, whether it goes through a GOT slot)}, one look-up per reloc
_RELOC_KINDS = {arch: {kind: (width, kind in _GOT_FUNCS[arch]) for kind, width in PATCH_WIDTHS[arch].items()}
                for arch in _GOT_FUNCS}
_DATA, _CONTINUE = HoleValue.DATA, HoleValue.CONTINUE  # module constants: an Enum member look-up is slow
_NO_LABELS: Mapping[str, int] = {}  # never written to


@lru_cache(maxsize=1024)
def symbol_to_value(symbol: str) -> tuple[HoleValue, str | None]:
    """``_JIT_OPARG`` -> (OPARG, None); any other name -> (ZERO, name) (``_stencils.py``)."""
    if symbol.startswith("_JIT_"):
        try:
            value = HoleValue[symbol[5:]]
        except KeyError:
            pass
        else:
            if value not in (HoleValue.GOT, HoleValue.ZERO):
                return value, None
    return HoleValue.ZERO, symbol


# Holes are immutable, so equal relocs can share one: building a group makes a hole per reloc,
# and the same (offset, patch function, target, addend) combinations recur from group to group
# (pure functions of a small key, cached like an instruction form's encoding).
@lru_cache(maxsize=1 << 14)
def _symbol_hole(offset: int, kind: str, symbol: str, addend: int) -> Hole:
    """The hole of a reloc against a ``_JIT_*`` name or a C symbol."""
    value, sym = symbol_to_value(symbol)
    return Hole(offset, kind, value, sym, addend)


@lru_cache(maxsize=1 << 14)
def _data_hole(offset: int, kind: str, addend: int) -> Hole:
    """The hole of a reloc against the group's own data (a label or a GOT slot): DATA + addend."""
    return Hole(offset, kind, _DATA, None, addend)


@lru_cache(maxsize=1 << 14)
def _got_slot(offset: int, symbol: str) -> tuple[Hole, str]:
    """A GOT slot at ``offset`` in the data holding ``symbol``: its hole and its listing line."""
    hole = _symbol_hole(offset, "patch_64", symbol, 0)
    return hole, f"{offset:x}: " + (f"&{hole.symbol}+0x0" if hole.symbol else hole.value.name)


# What a code reloc gives whatever group it is in, per architecture, keyed by the Reloc itself (a
# tuple, so equal relocs of different groups find one entry): ``(offset, width, symbol, hole,
# kind, addend)``, the hole being None when the reloc goes through a GOT slot (its DATA addend
# depends on the group). Only relocs with a known patch function and a non-negative offset get
# an entry, so an entry found leaves one check to make: that the field ends inside the code.
_CODE_RELOCS: dict[str, dict[tuple, tuple]] = {arch: {} for arch in _GOT_FUNCS}
_CODE_RELOCS_MAX = 1 << 14  # a bound, as for the caches above: past it the table starts again


def _code_reloc(reloc: Reloc, arch: str, name: str, code_size: int) -> tuple:
    """The entry of ``reloc`` (an error if its patch function or offset is wrong in any group)."""
    offset, kind, symbol, addend = reloc
    width_got = _RELOC_KINDS[arch].get(kind)
    if width_got is None or offset < 0:
        _bad_reloc(name, arch, kind, symbol, offset, code_size, "code")
    width, via_got = width_got
    hole = None if via_got else _symbol_hole(offset, kind, symbol, addend)
    entry = (offset, width, symbol, hole, kind, addend)
    table = _CODE_RELOCS[arch]
    if len(table) >= _CODE_RELOCS_MAX:
        table.clear()
    table[reloc] = entry
    return entry


# Stencil.remove_jump(), per architecture: the jump to _JIT_CONTINUE that may end the code, as
# (patch function, addend, its bytes from the start of the instruction, bytes before the field).
_JUMPS = {"x86_64": ("patch_32r", -4, b"\xe9\x00\x00\x00\x00", 1),
          "aarch64": ("patch_aarch64_26r", 0, b"\x00\x00\x00\x14", 0)}


def build_group(name: str, arch: str, code: bytes, relocs: Iterable[Reloc] = (), data: bytes = b"",
                data_labels: Mapping[str, int] | None = None, data_relocs: Iterable[Reloc] = (),
                listing: Sequence[str] = ()) -> StencilGroup:
    """A StencilGroup from assembled code.

    ``relocs`` are the code's relocation records: ``kind`` is the patch function, ``symbol`` a
    ``_JIT_*`` hole name, a C symbol, or a label of ``data`` (``data_labels`` gives its offset).
    On x86-64 a ``patch_x86_64_32rx`` reloc, and on aarch64 a ``patch_aarch64_21r``/``_12`` reloc
    whose symbol is not a data label, goes through a GOT slot, as LLVM's output does.
    """
    known = _CODE_RELOCS.get(arch)
    if known is None:
        raise StencilError(f"unknown architecture {arch!r}", where=name)
    labels = data_labels or _NO_LABELS
    if code.__class__ is not bytes:
        code = bytes(code)
    if data.__class__ is not bytes:
        data = bytes(data)
    code_size = len(code)
    got_base = len(data) + (-len(data) % 8)  # Stencil.pad(8); the GOT follows the padded data
    got: dict[str, int] = {}  # symbol -> offset of its slot from got_base

    # One pass over each part's relocs: check it, make its hole, and note whether the holes come
    # in offset order (they nearly always do, so the sorts at the end are usually skipped).
    code_holes: list[Hole] = []
    code_sorted = True
    last, top = 0, -1  # the first hole at the highest offset: Stencil.remove_jump()'s candidate
    for reloc in relocs:
        entry = known.get(reloc)
        if entry is None:
            entry = _code_reloc(reloc, arch, name, code_size)
        offset, width, symbol, hole, kind, addend = entry
        if offset > code_size - width:
            _bad_reloc(name, arch, kind, symbol, offset, code_size, "code")
        if symbol in labels:
            hole = _data_hole(offset, kind, addend + labels[symbol])
        elif hole is None:  # through a GOT slot
            slot = got.get(symbol)
            if slot is None:
                slot = got[symbol] = 8 * len(got)
            hole = _data_hole(offset, kind, addend + got_base + slot)
        if offset > top:
            last, top = len(code_holes), offset
        elif offset < top:
            code_sorted = False
        code_holes.append(hole)
    data_holes: list[Hole] = []
    data_sorted = True
    if data_relocs:
        widths = PATCH_WIDTHS[arch]
        for offset, kind, symbol, addend in data_relocs:
            width = widths.get(kind)
            if width is None or not 0 <= offset <= len(data) - width:
                _bad_reloc(name, arch, kind, symbol, offset, len(data), "data")
            if symbol in labels:
                hole = _data_hole(offset, kind, addend + labels[symbol])
            else:
                hole = _symbol_hole(offset, kind, symbol, addend)
            if data_holes and offset < data_holes[-1].offset:
                data_sorted = False
            data_holes.append(hole)

    # Stencil.remove_jump(): if the last hole is a jump to _JIT_CONTINUE that ends the code and
    # lands right after itself, the jump goes and the next uop is reached by falling through.
    body = code
    if code_holes:
        jump = code_holes[last]
        if jump.value is _CONTINUE and jump.symbol is None:
            func, addend, tail, before = _JUMPS[arch]
            if jump.func == func and jump.addend == addend and code[jump.offset - before:] == tail:
                body = code[:jump.offset - before]
                del code_holes[last]
        if not code_sorted:  # stable sorts by offset, as Stencil's holes are kept
            code_holes.sort(key=_offset)

    gap = -len(body) % CODE_ALIGNMENT[arch]  # Stencil.add_nops()
    if gap:
        body += NOP[arch] * (gap // len(NOP[arch]))
    listing = listing if listing.__class__ is tuple else tuple(listing)
    if not (data or got):
        return new_group(name, body, tuple(code_holes), listing, data, tuple(data_holes), ())
    # The GOT's holes all lie past the data's, in slot order, so they are appended after the
    # data holes are sorted.
    if not data_sorted:
        data_holes.sort(key=_offset)
    data_listing: list[str] = []
    if data:
        data_listing.append(f"0: {str(data)[1:]}")
    pad = got_base - len(data)
    if pad:
        data_listing.append(f"{len(data):x}: {' '.join(['00'] * pad)}")
    for symbol, slot in got.items():
        hole, line = _got_slot(got_base + slot, symbol)
        data_holes.append(hole)
        data_listing.append(line)
    data_body = data + bytes(pad + 8 * len(got)) if pad or got else data
    return new_group(name, body, tuple(code_holes), listing, data_body, tuple(data_holes), tuple(data_listing))


def _offset(hole: Hole) -> int:
    return hole.offset


def _bad_reloc(name: str, arch: str, kind: str, symbol: str, offset: int, size: int, part: str) -> None:
    """Raise the error for a reloc whose patch function or position is wrong."""
    if kind not in PATCH_WIDTHS[arch]:
        raise StencilError(f"unknown patch function {kind} for {arch}", where=f"{name} {part}+{offset:#x}")
    raise StencilError(f"relocation {kind} {symbol} at {offset:#x} is outside "
                       f"the {part} ({size} bytes)", where=name)


# ---------------------------------------------------------------------------------------------


def _dump_group(group: StencilGroup) -> Iterator[str]:
    yield "void"
    yield f"emit_{group.name}("
    yield "    unsigned char *code, unsigned char *data, _PyExecutorObject *executor,"
    yield "    const _PyUOpInstruction *instruction, jit_state *state)"
    yield "{"
    for part, stencil in (("code", group.code), ("data", group.data)):
        for line in stencil.listing:
            yield f"    // {line}"
        stripped = stencil.body.rstrip(b"\x00")
        if stripped:
            yield f"    const unsigned char {part}_body[{len(stencil.body)}] = {{"
            for i in range(0, len(stripped), 8):
                yield "        " + " ".join(f"{b:#04x}," for b in stripped[i:i + 8])
            yield "    };"
    for part, stencil in (("data", group.data), ("code", group.code)):  # data first
        if stencil.body.rstrip(b"\x00"):
            yield f"    memcpy({part}, {part}_body, sizeof({part}_body));"
        for hole in sorted(stencil.holes, key=lambda h: h.offset):
            yield f"    {hole.as_c(part)}"
    yield "}"
    yield ""


def _mask_c(mask: int) -> str:
    words = []
    while mask:
        words.append(f"{mask & 0xFFFFFFFF:#04x}")
        mask >>= 32
    return "{" + (", ".join(words) or "0") + "}"


def _init_c(group: StencilGroup) -> str:
    return f"{{emit_{group.name}, {group.code_size}, {group.data_size}, {_mask_c(group.trampoline_mask)}}}"


def _check_group(group: StencilGroup, arch: str) -> None:
    widths = PATCH_WIDTHS[arch]
    for part, stencil in (("code", group.code), ("data", group.data)):
        for hole in stencil.holes:
            if hole.func not in widths:
                raise StencilError(f"patch function {hole.func} does not exist for {arch}", where=group.name)
            if hole.value is HoleValue.GOT or (hole.value not in HOLE_EXPRS and hole.value is not HoleValue.ZERO):
                raise StencilError(f"hole value {hole.value.name} cannot be written", where=group.name)
            if hole.offset + widths[hole.func] > len(stencil.body):
                raise StencilError(f"hole {hole.describe()} at {part}+{hole.offset:#x} is past the end", where=group.name)
    if group.data_size % 8 or group.code_size % CODE_ALIGNMENT[arch]:
        raise StencilError(f"code size {group.code_size} / data size {group.data_size} are not aligned "
                           f"({CODE_ALIGNMENT[arch]} / 8)", where=group.name)


def write_header(shim: StencilGroup, groups: Mapping[str, StencilGroup], triple: str,
                 symbols_map: Sequence[str | None] = (), comments: Sequence[str] | None = None,
                 digest: str | None = None, emit_order: Sequence[str] | None = None) -> str:
    """The header's text. ``comments`` are the '//' lines after the digest line (default: one
    naming refjit); ``digest`` defaults to the sha256 of everything after the first line, and
    ``emit_order`` to the shim then the groups in the given order (the table is always sorted,
    as CPython writes it)."""
    arch = arch_of_triple(triple)
    for group in (shim, *groups.values()):
        _check_group(group, arch)
    if shim.name != "shim":
        raise StencilError(f"the shim group is called {shim.name!r}, not 'shim'")
    by_name = {"shim": shim, **groups}
    order = list(emit_order) if emit_order is not None else list(by_name)
    if sorted(order) != sorted(by_name):
        raise StencilError("emit_order must name the shim and every group exactly once")
    if comments is None:
        comments = [f"// $ refjit emit-header {triple}"]
    lines: list[str] = [*comments, ""]
    for name in order:
        lines.extend(_dump_group(by_name[name]))
    words = max((len(symbols_map) + 31) // 32, 1)
    lines.append(f'static_assert(SYMBOL_MASK_WORDS >= {words}, "SYMBOL_MASK_WORDS too small");')
    lines.append("")
    lines.extend([
        "typedef struct {",
        "    void (*emit)(",
        "        unsigned char *code, unsigned char *data, _PyExecutorObject *executor,",
        "        const _PyUOpInstruction *instruction, jit_state *state);",
        "    size_t code_size;",
        "    size_t data_size;",
        "    symbol_mask trampoline_mask;",
        "} StencilGroup;",
        "",
        f"static const StencilGroup shim = {_init_c(shim)};",
        "",
        "static const StencilGroup stencil_groups[MAX_UOP_ID + 1] = {",
    ])
    for name in sorted(groups):
        lines.append(f"    [{name}] = {_init_c(groups[name])},")
    lines.extend(["};", "", f"static const void * const symbols_map[{max(len(symbols_map), 1)}] = {{"])
    if symbols_map:
        for ordinal, symbol in enumerate(symbols_map):
            if symbol is None:
                raise StencilError(f"symbols_map ordinal {ordinal} has no symbol")
            lines.append(f"    [{ordinal}] = &{symbol},")
    else:
        lines.append("    0")
    lines.extend(["};", ""])
    rest = "\n".join(lines)
    if digest is None:
        digest = hashlib.sha256(rest.encode()).hexdigest()
    return f"// {digest}\n{rest}"


def write_parsed(header: StencilHeader) -> str:
    """Write a parsed header back out (the reader/writer round trip)."""
    return write_header(header.shim, header.groups, header.triple, header.symbols_map,
                        header.comments, header.digest, header.emit_order)
