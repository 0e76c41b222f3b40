"""Text views of refjit's lowering, for the CLI: the uop table with each backend's status
(``refjit uops``), an executor's code uop by uop with holes marked and, optionally, CPython's
stencil for the same uop beside it (``refjit compile --listing``), and refjit's groups written
as a jit_stencils header (``refjit emit-header``)."""

from __future__ import annotations

from refjit.compile import ARCHES, compile_groups, lower_lir, lower_uop, shim_group, uop_table
from refjit.disasm import disassemble
from refjit.errors import LowerError
from refjit.stencils import Hole, HoleValue, StencilGroup, arch_of_triple


def uops_lines(supported_only: bool = False) -> list[str]:
    rows = uop_table(ARCHES)
    ok = {a: sum(1 for _, st in rows if st[a] == "ok") for a in ARCHES}
    lines = [f"{'uop':<44} " + " ".join(f"{a:<10}" for a in ARCHES)]
    for name, st in rows:
        if supported_only and not any(v == "ok" for v in st.values()):
            continue
        cells = []
        for a in ARCHES:
            cells.append(f"{'ok' if st[a] == 'ok' else ('-' if st[a] == 'no lowering' else 'ERROR'):<10}")
        lines.append(f"{name:<44} " + " ".join(cells))
        for a in ARCHES:
            if st[a] not in ("ok", "no lowering"):
                lines.append(f"    {a}: {st[a]}")
    lines.append(f"{len(rows)} uops in CPython 3.14; lowered: " + ", ".join(f"{a} {ok[a]}" for a in ARCHES))
    return lines


def _slot_target(group: StencilGroup, hole: Hole) -> str:
    """What a code hole that addresses the group's data reaches (a GOT slot's contents)."""
    if hole.value is not HoleValue.DATA or hole.symbol:
        return ""
    offset = hole.addend + (4 if hole.func == "patch_x86_64_32rx" else 0)
    for slot in group.data.holes:
        if slot.offset == offset:
            return f" -> {slot.describe().split(' ', 1)[1]}"
    return f" -> data+{offset:#x}"


def group_lines(group: StencilGroup, arch: str, indent: str = "    ") -> list[str]:
    """capstone's decode of a group's code, each hole marked with its kind."""
    holes = sorted(group.code.holes, key=lambda h: h.offset)
    out = []
    for insn in disassemble(arch, group.code.body, 0):
        inside = [h for h in holes if insn.address <= h.offset < insn.address + len(insn.data)]
        note = "; ".join(f"{h.describe()}{_slot_target(group, h)}" for h in inside)
        text = f"{indent}{insn.address:4x}: {insn.data.hex(' '):<30} {insn.text.replace(chr(9), ' ')}"
        out.append(f"{text:<86} ; {note}" if note else text)
    return out


def compile_listing(trace_path: str, arch: str, stencils: str | None = None, show_lir: bool = False) -> list[str]:
    """``refjit compile TRACE --listing``: every executor's uops with refjit's code (and the
    LIR, and CPython's stencil with both sizes, when asked)."""
    from refjit.profile import load_profile
    from refjit.stencils import read_header
    from refjit.trace import load_trace

    if arch not in ARCHES:
        raise LowerError(f"unknown architecture {arch!r} (expected one of {', '.join(ARCHES)})")
    profile = load_profile("3.14", arch)
    trace = load_trace(trace_path, profile)
    header = read_header(stencils) if stencils else None
    if header is not None and header.arch != arch:
        raise LowerError(f"{stencils} is for {header.arch}, not {arch}")
    sections = trace.sections()
    shim = shim_group(arch)
    lines = [f"{trace_path}: {arch}, {len(sections)} executor(s)"]
    for k, sec in enumerate(sections):
        names = [u.name for u in sec.uops]
        groups = compile_groups(arch, names)
        total_ours = shim.code_size
        total_theirs = header.shim.code_size if header else 0
        if len(sections) > 1:
            lines.append(f"== executor {sec.name}" + (" (the running one)" if k == 0 else ""))
        lines.append(f"shim: refjit {shim.code_size} bytes" + (f", CPython {header.shim.code_size} bytes" if header else ""))
        for i, name in enumerate([*names, "_FATAL_ERROR"]):
            g = groups[name]
            total_ours += g.code_size
            head = f"[{i}] {name}: refjit {g.code_size} bytes code, {g.data_size} data"
            theirs = header.groups.get(name) if header else None
            if theirs is not None:
                total_theirs += theirs.code_size
                head += f"; CPython {theirs.code_size} bytes code, {theirs.data_size} data"
            elif header is not None:
                head += "; CPython: no stencil"
            lines.append(head)
            if show_lir:
                lines.extend("    | " + line for line in str(lower_lir(name, arch)).splitlines()[1:])
            lines.append("  refjit:")
            lines.extend(group_lines(g, arch))
            if theirs is not None:
                lines.append("  CPython:")
                lines.extend(group_lines(theirs, arch))
        lines.append(f"total code: refjit {total_ours} bytes" + (f", CPython {total_theirs} bytes" if header else ""))
    return lines


def emit_header(triple: str) -> str:
    """refjit's groups for every uop it lowers on the triple's architecture, as a header."""
    from refjit.headerwriter import write_header

    arch = arch_of_triple(triple)
    groups = {}
    for name, st in uop_table([arch]):
        if st[arch] == "ok":
            groups[name] = lower_uop(name, arch)
    return write_header(shim_group(arch), groups, triple,
                        comments=[f"// refjit emit-header --target {triple}",
                                  "// refjit's own code for the uops it lowers (stencil-compatible groups)"])
