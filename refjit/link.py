"""Build one executor's memory from a trace, exactly as ``_PyJIT_Compile`` in ``Python/jit.c``.

Layout (FACTS.md §c.1): ``[shim][uop 0]..[uop n-1][_FATAL_ERROR][trampolines][shim data]
[uop 0 data]..[_FATAL_ERROR data][padding to the page]``. Every group's code and data sizes come
from its StencilGroup, which already carries the build-time alignment (code padded with NOPs to 8
bytes on aarch64, not at all on x86-64; data zero-padded to 8): jit.c adds no padding of its own,
so neither does this module; it only checks that the groups it is given obey those rules. The
padding is ``page - (total % page)``, a whole extra page when the total is already page-aligned.

Groups come from anywhere and may be mixed per uop: CPython's stencils (``refjit.stencils``) and
refjit's own (``refjit.headerwriter.build_group``) are the same StencilGroup type, so a trace can
take any uop from either (``dict(header.groups) | {"_LOAD_FAST": mine}``).

Each group is emitted data first (copy, then patch), then code: the x86-64 relaxation reads the
GOT slot the data patches filled. Hole values follow the emitter's C expressions, addend included
(``refjit.stencils.hole_value``); the patch functions live with their backend.

What linking needs from a group that does not depend on the trace (its sizes, whether they are
aligned, each hole's patch function and whether its value is a plain sum) is worked out the first
time the group is linked and kept with it (``_Plan``, in ``StencilGroup.derived``) for as long as
the group holds the same bodies and holes: groups from CPython's header or from refjit.compile's
cache are linked again and again, and for those a link is a copy of the bodies and a short loop
of patches.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property, partial
from typing import Any, NamedTuple

from refjit.backends.aarch64 import patch as a64
from refjit.backends.x86_64 import patch as x64
from refjit.errors import LinkError, RefjitError
from refjit.stencils import TRAMPOLINE_FUNC, Hole, HoleValue, Stencil, StencilGroup, hole_value

UOP_MAX_TRACE_LENGTH = 800  # size of jit_state.instruction_starts
CODE_ALIGNMENT = {"x86_64": 1, "aarch64": 8}
TRAMPOLINE_SIZE = {"x86_64": 0, "aarch64": a64.TRAMPOLINE_SIZE}
PATCH_FUNCS = {"x86_64": x64.PATCH_FUNCS, "aarch64": a64.PATCH_FUNCS}
FATAL_ERROR = "_FATAL_ERROR"
START_EXECUTOR = "_START_EXECUTOR"


class Instruction(NamedTuple):
    """The fields of a ``_PyUOpInstruction`` that the emitters read (FACTS §a.5)."""

    name: str
    oparg: int = 0
    operand0: int = 0
    operand1: int = 0
    target: int = 0
    jump_target: int = 0
    error_target: int = 0


_FIELD_BITS = {"oparg": 16, "operand0": 64, "operand1": 64, "target": 32, "jump_target": 16, "error_target": 16}


def as_instruction(item: Any, index: int) -> Instruction:
    """Accept an Instruction, a 7-tuple in Instruction's order, or an object with those fields
    (``name`` or ``opname``); check every field's C width."""
    if isinstance(item, Instruction):
        ins = item
    elif isinstance(item, (tuple, list)):
        if not 1 <= len(item) <= 7:
            raise LinkError(f"trace entry {item!r} is not (name, oparg, operand0, operand1, target, "
                            f"jump_target, error_target)", where=f"uop {index}")
        ins = Instruction(*item)
    else:
        name = getattr(item, "name", None) or getattr(item, "opname", None)
        try:
            ins = Instruction(name, *(getattr(item, f) for f in Instruction._fields[1:]))
        except AttributeError as err:
            raise LinkError(f"trace entry {item!r} lacks a field: {err}", where=f"uop {index}") from None
    name, oparg, operand0, operand1, target, jump_target, error_target = ins
    # Every field fits: the test below, which says what does not, made with one shift per width
    # (for ints, 0 <= v < 2**n exactly when v >> n is 0; a negative one shifts to -1).
    if (isinstance(name, str) and isinstance(oparg, int) and isinstance(operand0, int)
            and isinstance(operand1, int) and isinstance(target, int) and isinstance(jump_target, int)
            and isinstance(error_target, int) and not (oparg | jump_target | error_target) >> 16
            and not target >> 32 and not (operand0 | operand1) >> 64):
        return ins
    if not isinstance(ins.name, str):
        raise LinkError(f"uop name {ins.name!r} is not a string", where=f"uop {index}")
    for fname, bits in _FIELD_BITS.items():
        v = getattr(ins, fname)
        if not isinstance(v, int) or not 0 <= v < (1 << bits):
            raise LinkError(f"{fname} {v!r} does not fit the field's {bits} unsigned bits",
                            where=f"uop {index} {ins.name}")
    return ins


class PcRange(NamedTuple):
    """Code of one group: [start, end) addresses; index -1 is the shim, len(trace) _FATAL_ERROR."""

    start: int
    end: int
    index: int
    name: str


class PatchedSite(NamedTuple):
    """One applied hole: where it is, which group, the value passed to the patch function."""

    address: int
    width: int
    index: int
    name: str
    part: str  # "code" or "data"
    hole: Hole
    value: int
    relaxed: bool  # x86-64 GOT load/call rewritten to a direct one


@dataclass
class LinkedExecutor:
    """The bytes of one executor's region and what jit.c would record about it."""

    arch: str
    base: int  # executor->jit_code
    memory: bytes  # jit_size bytes: code, trampolines, data, padding
    code_size: int
    trampolines_size: int
    data_size: int
    padding: int
    instruction_starts: list[int]  # absolute address of each trace entry's code
    jit_side_entry: int
    # (start, end, index, name) of each group's code, in memory order: what pc_map's PcRanges
    # hold, as plain tuples (all a machine's uop map needs; pc_map is made from it when asked for)
    ranges: list[tuple[int, int, int, str]]
    # What ``sites`` is made from when first asked for (the emulator and the fuzzer never ask):
    # link's entries (index, name, the _Plan linked, group, instruction) in ranges' order, every
    # value passed to a patch function in patching order, and the positions in that order of the
    # relaxed sites.
    site_records: tuple = field(default=((), (), frozenset()), repr=False)

    @cached_property
    def pc_map(self) -> list[PcRange]:
        """Each group's code: [start, end) addresses, index (-1 the shim) and name."""
        return [PcRange(*r) for r in self.ranges]

    @cached_property
    def sites(self) -> list[PatchedSite]:
        """Every applied hole, in the order the emitters patch them."""
        placed, values, relaxed_at = self.site_records
        sites = []
        data_addr = self.base + self.code_size + self.trampolines_size
        for (index, name, plan, _, _), (code_addr, *_) in zip(placed, self.ranges):
            for part, holes, start in (("data", plan.data_holes, data_addr), ("code", plan.code_holes, code_addr)):
                for *_, hole in holes:
                    address, value = start + hole.offset, values[len(sites)]
                    width = 8 if hole.func == "patch_64" else 4
                    if len(sites) in relaxed_at:  # the opcode bytes in front of the field changed too
                        sites.append(PatchedSite(address - 2, width + 2, index, name, part, hole, value, True))
                    else:
                        sites.append(PatchedSite(address, width, index, name, part, hole, value, False))
            data_addr += plan.data_size
        return sites

    @property
    def jit_size(self) -> int:
        return len(self.memory)

    def install(self, process, executor: int) -> None:
        """Leave ``process`` as ``_PyJIT_Compile`` leaves a real one: the bytes at ``base`` and the
        executor's ``jit_code``, ``jit_side_entry`` and ``jit_size`` recorded."""
        process.mem.write(self.base, self.memory)
        ev = process.view("_PyExecutorObject", executor)
        ev.jit_code, ev.jit_side_entry, ev.jit_size = self.base, self.jit_side_entry, self.jit_size

    def uop_at(self, pc: int) -> PcRange | None:
        """The group whose code contains ``pc`` (for error messages), or None."""
        for r in self.pc_map:
            if r.start <= pc < r.end:
                return r
        return None


Resolver = Callable[[str], int] | Mapping[str, int]


def _resolver(resolve: Resolver) -> Callable[[str], int]:
    if isinstance(resolve, Mapping):
        return resolve.__getitem__
    return resolve


class _Plan:
    """What linking a group on one architecture needs from it, kept in ``StencilGroup.derived``:
    the parts it was made from (a Stencil's body and holes are bytes and a tuple, so they cannot
    change; the plan serves as long as the group still holds these very objects), the sizes,
    whether they keep the architecture's alignment, and the holes as ``(offset, patch function,
    base, symbol, addend, hole)`` in patching order. The patch function is None where the
    emitter's sum is not a plain addition modulo 2**64 or the function is not the architecture's
    plain one (a trampoline, a wrong name): ``_value`` and ``_patch_other`` handle those. Each
    hole's entry is made once and kept with the hole (``_hole_op``)."""

    __slots__ = ("data_body", "code_body", "data_holes_of", "code_holes_of", "data_size", "code_size",
                 "aligned", "data_holes", "code_holes")

    def __init__(self, code: Stencil, data: Stencil, arch: str):
        self.data_body, self.code_body = data.body, code.body
        self.data_holes_of, self.code_holes_of = data.holes, code.holes  # the Stencils' holes, as made from
        self.data_size, self.code_size = len(data.body), len(code.body)
        self.aligned = not (self.code_size % CODE_ALIGNMENT[arch] or self.data_size % 8)
        key = _PLAN_KEYS[arch]
        self.data_holes = tuple([hole.derived.get(key) or _hole_op(hole, arch) for hole in data.holes]) \
            if data.holes else ()
        self.code_holes = tuple([hole.derived.get(key) or _hole_op(hole, arch) for hole in code.holes]) \
            if code.holes else ()


_PLAN_KEYS = {arch: f"link {arch}" for arch in PATCH_FUNCS}  # StencilGroup.derived and Hole.derived keys


def _plan(group: StencilGroup, arch: str) -> _Plan:
    """The group's plan for ``arch``: the one kept, if made from the parts the group holds now."""
    code, data = group.code, group.data
    plan = group.derived.get(_PLAN_KEYS[arch])
    if plan is None or plan.code_body is not code.body or plan.code_holes_of is not code.holes \
            or plan.data_body is not data.body or plan.data_holes_of is not data.holes:
        plan = group.derived[_PLAN_KEYS[arch]] = _Plan(code, data, arch)
    return plan


def _hole_op(hole: Hole, arch: str) -> tuple:
    """``(offset, patch function or None, base, symbol, addend, hole)`` for ``_Plan``."""
    v, addend = hole.value, hole.addend
    func = PATCH_FUNCS[arch].get(hole.func)
    # The emitter's sum is computed in uintptr_t (a 64-bit base, or a symbol) with a literal whose
    # magnitude fits an int (it is written negated, so -0x80000000 is an unsigned int), or has no
    # literal: plain addition modulo 2**64. hole_value models every other case: C's narrower
    # types (OPARG, TARGET), wider literals; and a GOT base is an error there.
    if v is HoleValue.GOT or (addend and not (-0x80000000 < addend < 0x80000000
                                              and v is not _OPARG and v is not _TARGET)):
        func = None
    # Kept with the hole (Hole.derived), under the key the group's plan has: holes are immutable
    # and shared between groups (build_group takes them from its caches), so it is made once.
    op = hole.derived[_PLAN_KEYS[arch]] = (hole.offset, func, v, hole.symbol, addend, hole)
    return op


def link(trace: Iterable[Any], groups: Mapping[str, StencilGroup], shim: StencilGroup, *, arch: str,
         executor: int, base: int, resolve: Resolver, page_size: int = 4096) -> LinkedExecutor:
    """Compile ``trace`` into memory at ``base`` as ``_PyJIT_Compile`` does.

    ``groups`` maps uop names to groups (mix sources freely), ``shim`` is the entry group,
    ``executor`` the ``_PyExecutorObject`` address, ``resolve`` maps C symbol names to addresses
    (KeyError for unknown ones).
    """
    if arch not in PATCH_FUNCS:
        raise LinkError(f"unknown architecture {arch!r}")
    if page_size <= 0 or page_size & (page_size - 1):
        raise LinkError(f"page size {page_size} is not a power of two")
    if base % page_size or not 0 < base < (1 << 64):
        raise LinkError(f"base {base:#x} is not a page-aligned address (jit_alloc maps whole pages)")
    lookup = _resolver(resolve)
    instructions = [as_instruction(item, i) for i, item in enumerate(trace)]
    length = len(instructions)
    if not length:
        raise LinkError("empty trace")
    if length > UOP_MAX_TRACE_LENGTH:
        raise LinkError(f"trace of {length} uops is longer than UOP_MAX_TRACE_LENGTH ({UOP_MAX_TRACE_LENGTH})")
    if instructions[0].name != START_EXECUTOR:
        raise LinkError(f"trace starts with {instructions[0].name}, not {START_EXECUTOR} (jit.c asserts it)",
                        where="uop 0")

    align = CODE_ALIGNMENT[arch]
    plan = _plan(shim, arch)
    if not plan.aligned:
        raise LinkError(f"shim sizes {shim.code_size}/{shim.data_size} are not aligned", where="shim")
    # First pass: each entry's group and plan, instruction_starts (as offsets), the union of the
    # trampoline masks and the symbols_map tables of the groups that use trampolines. An entry is
    # (index, name, plan, group, instruction or None).
    entries = [(-1, "shim", plan, shim, None)]
    code_size, data_size, mask = plan.code_size, plan.data_size, shim.trampoline_mask
    symbols_maps = {shim.symbols_map} if mask else set()
    starts: list[int] = []
    for index, ins in enumerate([*instructions, None]):
        name = ins.name if ins is not None else FATAL_ERROR
        group = groups.get(name)
        if group is None:
            raise LinkError(f"no stencil for {name}", where=f"uop {index} {name}")
        plan = _plan(group, arch)
        if not plan.aligned:
            raise LinkError(f"code size {plan.code_size} / data size {plan.data_size} break the "
                            f"{align}/8-byte alignment every {arch} stencil has", where=f"uop {index} {name}")
        entries.append((index, name, plan, group, ins))
        if ins is not None:
            starts.append(code_size)
        code_size += plan.code_size
        data_size += plan.data_size
        if group.trampoline_mask:
            mask |= group.trampoline_mask
            symbols_maps.add(group.symbols_map)
    trampolines_size = bin(mask).count("1") * TRAMPOLINE_SIZE[arch]
    total = code_size + trampolines_size + data_size
    padding = page_size - (total & (page_size - 1))  # a full page when already aligned, as jit.c
    memory = bytearray(total + padding)
    if base + len(memory) > 1 << 64:
        raise LinkError(f"executor memory at {base:#x} would wrap around the address space")
    instruction_starts = [base + s for s in starts]
    tramp = a64.TrampolineState(code_size, mask, trampolines_size)
    if len(symbols_maps) > 1:
        raise LinkError("groups with trampolines come from headers with different symbols_map tables")

    values: list[int] = []  # every value passed to a patch function, for LinkedExecutor.sites
    add_value = values.append
    relaxed_at: set[int] = set()  # positions in values of the sites relaxed (x86-64)
    ranges: list[tuple[int, int, int, str]] = []
    addresses: dict[str, int] = {}  # each C symbol resolved once per executor
    code_off, data_off = 0, code_size + trampolines_size
    for index, name, plan, group, ins in entries:
        code_addr, data_addr = base + code_off, base + data_off
        group_code_size = plan.code_size
        continue_addr = code_addr + group_code_size
        ranges.append((code_addr, continue_addr, index, name))
        for part, body, holes, off in (("data", plan.data_body, plan.data_holes, data_off),
                                       ("code", plan.code_body, plan.code_holes, code_off)):
            memory[off:off + len(body)] = body
            for offset, func, v, symbol, addend, hole in holes:
                # The hole's base: the common ones here, the rest (and every error) in _value.
                if v is _DATA:
                    b = data_addr
                elif v is _ZERO:
                    b = 0
                elif v is _CONTINUE:
                    b = continue_addr
                elif v is _CODE:
                    b = code_addr
                elif v is _EXECUTOR:
                    b = executor
                elif ins is None:
                    b = None
                elif v is _JUMP_TARGET:
                    b = instruction_starts[ins.jump_target] if ins.jump_target < length else None
                elif v is _ERROR_TARGET:
                    b = instruction_starts[ins.error_target] if ins.error_target < length else None
                elif v is _OPERAND0:
                    b = ins.operand0
                else:
                    field_of = _INSTRUCTION_FIELDS.get(v)
                    b = field_of(ins) if field_of else None
                if func is not None and b is not None:  # the plain sum and patch function (see _Plan)
                    if symbol:
                        address = addresses.get(symbol)
                        if address is None:
                            address = addresses[symbol] = _symbol(
                                symbol, lookup, partial(_where, index, name, part, hole))
                        b += address
                    value = (b + addend) & _U64
                    try:
                        if func(memory, base, off + offset, value):
                            relaxed_at.add(len(values))
                    except LinkError as err:
                        raise LinkError(f"{err.why} (value {value:#x})", where=_where(index, name, part, hole)) from None
                    except struct.error:  # the patch functions read and write the field in place
                        raise LinkError(f"the field lies outside the executor's memory ({len(memory)} bytes)",
                                        where=_where(index, name, part, hole)) from None
                else:
                    value = _value(hole, ins, group, code_addr, data_addr, executor, instruction_starts,
                                   lookup, partial(_where, index, name, part, hole))
                    _patch_other(arch, hole, func, memory, base, off + offset, value, tramp, len(values),
                                 relaxed_at, partial(_where, index, name, part, hole))
                add_value(value)
        code_off += group_code_size
        data_off += plan.data_size
    return LinkedExecutor(arch=arch, base=base, memory=bytes(memory), code_size=code_size,
                          trampolines_size=trampolines_size, data_size=data_size, padding=padding,
                          instruction_starts=instruction_starts, jit_side_entry=base + shim.code_size,
                          ranges=ranges, site_records=(entries, values, relaxed_at))


def _patch_other(arch: str, hole: Hole, func: Callable | None, memory: bytearray, base: int, at: int,
                 value: int, tramp: a64.TrampolineState, position: int, relaxed_at: set[int],
                 where: Callable[[], str]) -> None:
    """Apply a hole that is not a plain sum and patch function (see _Plan): a trampoline, an
    architecture's patch function given a value ``_value`` worked out, or a wrong name."""
    try:
        if func is not None:
            if func(memory, base, at, value):
                relaxed_at.add(position)
        elif hole.func == TRAMPOLINE_FUNC:
            if arch != "aarch64":
                raise LinkError("trampolines exist only on aarch64")
            a64.patch_aarch64_trampoline(memory, base, at, hole.addend, value, tramp)
        elif hole.func in PATCH_FUNCS[arch]:
            if PATCH_FUNCS[arch][hole.func](memory, base, at, value):
                relaxed_at.add(position)
        else:
            raise LinkError(f"{hole.func} is not a patch function for {arch}")
    except LinkError as err:
        raise LinkError(f"{err.why} (value {value:#x})", where=where()) from None
    except struct.error:  # the patch functions read and write the field in place
        raise LinkError(f"the field lies outside the executor's memory ({len(memory)} bytes)", where=where()) from None


def _where(index: int, name: str, part: str, hole: Hole) -> str:
    """A hole's location in an error message."""
    where_uop = "shim" if index < 0 else f"uop {index} {name}"
    return f"{where_uop}, {part}+{hole.offset:#x} ({hole.describe()})"


def _value(hole: Hole, ins: Instruction | None, group: StencilGroup, code: int, data: int, executor: int,
           starts: list[int], lookup: Callable[[str], int], where: Callable[[], str]) -> int:
    """The emitter's value for ``hole`` (for a trampoline: the symbol's address); ``where()``
    names the hole in an error."""
    v = hole.value
    if v in _NEEDS_INSTRUCTION and ins is None:
        raise LinkError(f"uses {v.name}, but the emitter is called with instruction = NULL", where=where())
    if hole.func == TRAMPOLINE_FUNC:
        symbol = group.symbols_map[hole.addend] if hole.addend < len(group.symbols_map) else None
        if symbol is None:
            raise LinkError(f"trampoline ordinal {hole.addend} has no symbol", where=where())
        return _symbol(symbol, lookup, where)
    if v is HoleValue.CODE:
        b = code
    elif v is HoleValue.CONTINUE:
        b = code + group.code_size  # (uintptr_t)code + sizeof(code_body)
    elif v is HoleValue.DATA:
        b = data
    elif v is HoleValue.EXECUTOR:
        b = executor
    elif v in (HoleValue.JUMP_TARGET, HoleValue.ERROR_TARGET):
        k = ins.jump_target if v is HoleValue.JUMP_TARGET else ins.error_target
        if k >= len(starts):
            raise LinkError(f"{v.name.lower()} {k} is past the end of the trace ({len(starts)} uops)", where=where())
        b = starts[k]
    elif v is HoleValue.ZERO:
        b = None
    elif v is HoleValue.GOT:
        raise LinkError("a GOT hole is left in the stencil (the build turns them into DATA)", where=where())
    else:
        b = _INSTRUCTION_FIELDS[v](ins)
    sym = _symbol(hole.symbol, lookup, where) if hole.symbol else None
    try:
        return hole_value(hole, b, sym)
    except ValueError as err:
        raise LinkError(str(err), where=where()) from None


def _symbol(name: str, lookup: Callable[[str], int], where: Callable[[], str]) -> int:
    try:
        address = lookup(name)
    except KeyError:
        raise LinkError(f"unknown symbol {name}", where=where()) from None
    except RefjitError as err:  # e.g. the emulated process refusing the name: keep its reason
        raise LinkError(f"cannot resolve {name}: {err}", where=where()) from None
    if not isinstance(address, int) or not 0 <= address < (1 << 64):
        raise LinkError(f"symbol {name} resolved to {address!r}, not an address", where=where())
    return address


_INSTRUCTION_FIELDS: dict[HoleValue, Callable[[Instruction], int]] = {
    HoleValue.OPARG: lambda i: i.oparg,
    HoleValue.OPERAND0: lambda i: i.operand0,
    HoleValue.OPERAND0_HI: lambda i: i.operand0 >> 32,
    HoleValue.OPERAND0_LO: lambda i: i.operand0 & 0xFFFFFFFF,
    HoleValue.OPERAND1: lambda i: i.operand1,
    HoleValue.OPERAND1_HI: lambda i: i.operand1 >> 32,
    HoleValue.OPERAND1_LO: lambda i: i.operand1 & 0xFFFFFFFF,
    HoleValue.TARGET: lambda i: i.target,
}
_NEEDS_INSTRUCTION = {*_INSTRUCTION_FIELDS, HoleValue.JUMP_TARGET, HoleValue.ERROR_TARGET}
_U64 = (1 << 64) - 1
# link() tests a hole's base by identity, most frequent first (an Enum's hash is Python code).
_DATA, _ZERO, _CONTINUE, _CODE, _EXECUTOR = (HoleValue.DATA, HoleValue.ZERO, HoleValue.CONTINUE,
                                             HoleValue.CODE, HoleValue.EXECUTOR)
_JUMP_TARGET, _ERROR_TARGET, _OPERAND0, _OPARG, _TARGET = (
    HoleValue.JUMP_TARGET, HoleValue.ERROR_TARGET, HoleValue.OPERAND0, HoleValue.OPARG, HoleValue.TARGET)
