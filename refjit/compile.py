"""Uop -> StencilGroup per architecture: refjit's own "stencils".

The stable API other layers build on (``refjit run --check``, the fuzzer, emit-header):

* ``lower_uop(name, arch) -> StencilGroup``: the uop lowered to LIR (``refjit.lower``), selected
  and encoded by the arch's backend, and packed by ``headerwriter.build_group`` exactly as
  CPython's build packs a stencil. Holes are instruction fields, so one group serves every
  instance of the uop and any group may be swapped with CPython's stencil in a trace.
* ``compile_groups(arch, uop_names) -> {name: StencilGroup}`` (always with ``_FATAL_ERROR``,
  which the linker appends to every trace).
* ``shim_group(arch)``: the entry group (CPython's shim contract).
* ``lower_lir(name, arch)``: the LIR, for listings and docs.

Results are cached per (name, arch). An unsupported uop is a LowerError naming the uop and the
backend.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Iterable

from refjit.errors import LowerError
from refjit.headerwriter import build_group
from refjit.lir import Function
from refjit.stencils import StencilGroup

ARCHES = ("x86_64", "aarch64")
TRIPLES = {"x86_64": "x86_64-unknown-linux-gnu", "aarch64": "aarch64-unknown-linux-gnu"}
FATAL_ERROR = "_FATAL_ERROR"


_BACKENDS: dict[str, object] = {}


def _backend(arch: str):
    # imported on first use and kept: an import statement per uop costs more than lowering it
    isel = _BACKENDS.get(arch)
    if isel is not None:
        return isel
    if arch == "x86_64":
        from refjit.backends.x86_64 import isel
    elif arch == "aarch64":
        from refjit.backends.aarch64 import isel
    else:
        raise LowerError(f"unknown architecture {arch!r} (expected one of {', '.join(ARCHES)})")
    _BACKENDS[arch] = isel
    return isel


@lru_cache(maxsize=None)
def _profile(arch: str):
    from refjit.profile import load_profile
    return load_profile("3.14", arch)


_LOWERING: dict[str, tuple] = {}   # arch -> (refjit.lower.lower, the arch's profile)


def _lowering(arch: str) -> tuple:
    _backend(arch)   # an unknown arch is a LowerError here
    from refjit import lower
    got = _LOWERING[arch] = (lower.lower, _profile(arch))
    return got


def lower_lir(name: str, arch: str = "x86_64") -> Function:
    lower, profile = _LOWERING.get(arch) or _lowering(arch)
    try:
        return lower(name, profile)
    except LowerError as err:
        raise LowerError(f"{err.why} (backend {arch})", where=err.where or f"uop {name}") from None


@lru_cache(maxsize=None)
def lower_uop(name: str, arch: str) -> StencilGroup:
    """The group for uop ``name`` on ``arch`` (cached)."""
    isel = _backend(arch)
    fn = lower_lir(name, arch)
    code = isel.select(fn)
    return build_group(name, arch, code.code, code.relocs, code.data, code.data_labels)


@lru_cache(maxsize=None)
def shim_group(arch: str) -> StencilGroup:
    code = _backend(arch).shim()
    return build_group("shim", arch, code.code, code.relocs)


def compile_groups(arch: str, uop_names: Iterable[str]) -> dict[str, StencilGroup]:
    """Groups for every uop named (and _FATAL_ERROR), ready for ``refjit.link.link``."""
    names = set(uop_names) | {FATAL_ERROR}
    return {name: lower_uop(name, arch) for name in sorted(names)}


def status(name: str, arch: str) -> str:
    """"ok" when the uop lowers and encodes on ``arch``, else the reason."""
    try:
        lower_uop(name, arch)
    except LowerError as err:
        return str(err)
    return "ok"


def uop_table(arches: Iterable[str] = ARCHES) -> list[tuple[str, dict[str, str]]]:
    """Every 3.14 uop with its status per backend (for ``refjit uops``)."""
    arches = list(arches)
    profile = _profile(arches[0] if arches else "x86_64")
    from refjit import lower
    rows = []
    for name in sorted(profile.uops):
        if not lower.supported(name, profile):
            rows.append((name, {a: "no lowering" for a in arches}))
            continue
        rows.append((name, {a: status(name, a) for a in arches}))
    return rows


def all_supported(arch: str) -> list[str]:
    return [name for name, st in uop_table([arch]) if st[arch] == "ok"]
