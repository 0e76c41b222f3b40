"""Readable descriptions of the emulated process and of one uop, for ``refjit process`` and
``refjit uop`` (the CLI prints what these return)."""

from __future__ import annotations

from refjit.profile import load_profile
from refjit.runtime.memory import perms_text
from refjit.runtime.process import LayoutConfig, Process

_REGION_NOTES = {
    "stubs": "one trap per external C function; a call runs its Python model",
    "statics": "type objects, None/True/False, PyExc_* pointers, _PyEval_BinaryOps and other tables",
    "runtime": "_PyRuntime: small ints -5..256, interned strings, the main interpreter (last member)",
    "tstate": "the thread state (_PyThreadStateImpl)",
    "heap": "objects and PyMem blocks (deterministic allocator, freed memory poisoned 0xdd)",
    "code": "code objects with co_code_adaptive",
    "datastack": "interpreter frames",
    "cstack": "the C stack",
    "jit": "one executor's code and data",
}


def describe_process(arch: str = "x86_64", *, near: bool = False, symbols: bool = False) -> list[str]:
    p = Process(load_profile("3.14", arch), layout=LayoutConfig(jit_near_stubs=near))
    lines = [f"CPython {p.profile.patchlevel} process, {arch}, JIT code "
             f"{'within' if near else 'beyond'} ±2 GiB of the stubs"]
    for r in p.mem.regions:
        lines.append(f"  {r.name:<10} {r.base:#014x}-{r.end:#014x} {perms_text(r.perms)} {r.size >> 10:>6} KiB  "
                     f"{_REGION_NOTES.get(r.name, '')}")
    lines.append(f"  _PyRuntime {p.runtime:#x}, main interpreter {p.interp:#x}, tstate {p.tstate:#x}")
    if symbols:
        lines.append("symbols:")
        for name, addr in sorted(p.symbols.items(), key=lambda kv: kv[1]):
            model = p.model_at(addr)
            what = "" if model is None else ("  model" if model.modelled else "  (no model)")
            lines.append(f"  {addr:#014x}  {p.mem.name_of(addr):<8} {name}{what}")
    return lines


def describe_uop(name: str, arch: str = "x86_64") -> list[str]:
    prof = load_profile("3.14", arch)
    u = prof.uop(name)
    from refjit.runtime.cfuncs import MODELS

    lines = [f"{u.name} (id {u.id}) on {arch}",
             f"  flags:    {', '.join(sorted(u.flags)) or '-'} ({u.flags_value:#x})",
             f"  stack:    ({', '.join(u.stack_inputs)} -- {', '.join(u.stack_outputs)})",
             f"  caches:   {', '.join(u.caches) or '-'}"]
    if u.const_oparg is not None:
        lines.append(f"  replica with oparg {u.const_oparg}")
    if u.replication:
        lines.append(f"  replicated {u.replication} times")
    if u.stencil_bytes is None:
        lines.append("  no stencil (never in a trace)")
    else:
        lines.append(f"  stencil:  {u.stencil_bytes} code bytes, {u.stencil_data_bytes} data bytes; holes: "
                     f"{', '.join(u.patched_fields) or '-'}")
        for s in u.external_symbols:
            kind = prof.symbols[s].kind
            status = "" if kind == "data" else ("  model" if s in MODELS else "  (no model)")
            lines.append(f"    {kind:<8} {s}{status}")
    return lines

