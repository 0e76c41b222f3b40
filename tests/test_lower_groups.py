"""refjit's groups as stencils: the same holes as CPython's, a header that the stencil reader
reads back and that still runs, the CLI around them, and (local check) uops swapped one for one
with CPython's real stencils inside a trace.

Independent references: the uop table measured on a real 3.14.7 build (uops.json: which holes
and C symbols each stencil uses, FACTS §b.5), capstone's decode, the stencil reader, and the
reference semantics."""

from __future__ import annotations

import real_stencils

import os
import pathlib
import subprocess
import sys

import pytest

from lower_harness import ARCHES, run_machine, run_semantics
from refjit.compile import all_supported, compile_groups, lower_lir, lower_uop, shim_group
from refjit.disasm import disassemble
from refjit.errors import LowerError
from refjit.profile import load_profile
from refjit.semantics import LOOP_SLICE
from refjit.stencils import HoleValue, read_header

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p.stem for p in (ROOT / "examples").glob("*.trace"))
REFJIT = os.path.join(os.path.dirname(sys.executable), "refjit")
TRIPLES = {"x86_64": "x86_64-unknown-linux-gnu", "aarch64": "aarch64-unknown-linux-gnu"}


def test_every_loop_slice_uop_lowers_on_both_isas():
    for arch in ARCHES:
        assert set(all_supported(arch)) == set(LOOP_SLICE), arch


@pytest.mark.parametrize("arch", ARCHES)
def test_holes_and_symbols_are_the_stencils(arch):
    """Each group patches exactly the instruction fields and exits, and references exactly the C
    symbols, that CPython's stencil for the uop does (uops.json, measured on a real build)."""
    profile = load_profile("3.14", arch)
    for name in sorted(LOOP_SLICE):
        g, spec = lower_uop(name, arch), profile.uops[name]
        symbols = {h.symbol for _, h in g.holes() if h.symbol}
        values = {h.value.name for _, h in g.holes()
                  if h.value not in (HoleValue.ZERO, HoleValue.DATA, HoleValue.CONTINUE)}
        assert symbols == set(spec.external_symbols), name
        assert values == set(spec.patched_fields) - {"CONTINUE"}, name


@pytest.mark.parametrize("arch", ARCHES)
def test_group_shape(arch):
    """Patch functions as the Linux stencils use them; aarch64 code padded to 8 with nops; no
    group ends with a jump to the next uop (it falls through)."""
    allowed = {"x86_64": {"patch_64", "patch_32r", "patch_x86_64_32rx"},
               "aarch64": {"patch_64", "patch_aarch64_21r", "patch_aarch64_12", "patch_aarch64_26r"}}[arch]
    for name in sorted(LOOP_SLICE):
        g = lower_uop(name, arch)
        assert {h.func for _, h in g.holes()} <= allowed, name
        assert all(h.func == "patch_64" for h in g.data.holes), name
        if arch == "aarch64":
            assert g.code_size % 8 == 0
            # every field hole sits in an 8-byte data slot loaded by adrp + ldr
            assert not any(h.value is not HoleValue.DATA and h.func != "patch_aarch64_26r"
                           for h in g.code.holes), name
        if g.code_size:
            last = list(disassemble(arch, g.code.body, 0))[-1]
            if arch == "aarch64":
                insns = [i for i in disassemble(arch, g.code.body, 0) if i.mnemonic != "nop"]
                last = insns[-1]
            ends_in = [h for h in g.code.holes if h.offset >= last.address]
            assert not (last.mnemonic in ("jmp", "b") and any(h.value is HoleValue.CONTINUE for h in ends_in)), name


def test_shims_have_cpython_sizes():
    assert shim_group("x86_64").code_size == 33    # FACTS §b.3
    assert shim_group("aarch64").code_size == 104


def test_unsupported_uop_names_the_uop_and_backend():
    for arch in ARCHES:
        with pytest.raises(LowerError, match=rf"_CALL_LEN.*{arch}|{arch}.*_CALL_LEN"):
            lower_uop("_CALL_LEN", arch)
    with pytest.raises(LowerError, match="riscv"):
        lower_uop("_NOP", "riscv64")
    with pytest.raises(LowerError, match="_NOT_A_UOP"):
        lower_uop("_NOT_A_UOP", "x86_64")


def test_lir_is_printable_and_replicas_fold_their_oparg():
    text = str(lower_lir("_LOAD_FAST_3", "x86_64"))
    assert "_JIT_OPARG" not in text and "0x68" in text      # localsplus 0x50 + 3*8
    assert "_JIT_OPARG" in str(lower_lir("_LOAD_FAST", "x86_64"))
    assert not any(h.value is HoleValue.OPARG for _, h in lower_uop("_LOAD_SMALL_INT_2", "aarch64").holes())


# -- emit-header -----------------------------------------------------------------------------------

@pytest.mark.parametrize("arch", ARCHES)
def test_emit_header_round_trip(arch, tmp_path):
    """The CLI writes a header; the stencil reader reads back the very groups, and int_sum linked
    from the header's groups ends as the reference semantics ends it."""
    out = tmp_path / f"jit_stencils-{TRIPLES[arch]}.h"
    proc = subprocess.run([REFJIT, "emit-header", "--target", TRIPLES[arch], "-o", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    header = read_header(str(out))
    assert header.arch == arch
    mine = compile_groups(arch, LOOP_SLICE)
    assert set(header.groups) == set(mine)
    for name, g in mine.items():
        h = header.groups[name]
        assert (h.code.body, h.data.body) == (g.code.body, g.data.body), name
        assert sorted(h.code.holes, key=lambda x: x.offset) == sorted(g.code.holes, key=lambda x: x.offset), name
        assert sorted(h.data.holes, key=lambda x: x.offset) == sorted(g.data.holes, key=lambda x: x.offset), name
    assert header.shim.code.body == shim_group(arch).code.body
    want, _ = run_semantics(ROOT / "examples" / "int_sum.trace", arch)
    got, _ = run_machine(ROOT / "examples" / "int_sum.trace", arch, groups=header.groups, shim=header.shim)
    assert want.compare(got) == []


def test_emit_header_bad_target_is_one_line(tmp_path):
    proc = subprocess.run([REFJIT, "emit-header", "--target", "mips-linux", "-o", str(tmp_path / "x.h")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr and proc.stderr.startswith("error:")


# -- uops / compile CLI ------------------------------------------------------------------------------

def test_uops_lists_every_uop_with_status():
    proc = subprocess.run([REFJIT, "uops"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    profile = load_profile("3.14", "x86_64")
    rows = {ln.split()[0]: ln.split()[1:] for ln in lines[1:-1] if ln.startswith("_")}
    assert set(rows) == set(profile.uops)
    for name, cells in rows.items():
        assert cells == (["ok", "ok"] if name in LOOP_SLICE else ["-", "-"]), name
    assert lines[-1].endswith(f"x86_64 {len(LOOP_SLICE)}, aarch64 {len(LOOP_SLICE)}")
    sup = subprocess.run([REFJIT, "uops", "--supported"], capture_output=True, text=True, timeout=120)
    assert {ln.split()[0] for ln in sup.stdout.splitlines() if ln.startswith("_")} == set(LOOP_SLICE)


@pytest.mark.parametrize("arch", ARCHES)
def test_compile_listing(arch):
    trace = ROOT / "examples" / "int_sum.trace"
    proc = subprocess.run([REFJIT, "compile", str(trace), "--arch", arch, "--listing", "--lir"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for name in ("_ITER_NEXT_RANGE", "_BINARY_OP_ADD_INT", "_STORE_FAST_2", "_FATAL_ERROR"):
        assert f"] {name}: refjit {lower_uop(name, arch).code_size} bytes" in out
    assert "JUMP_TARGET" in out and "ERROR_TARGET" in out and "EXECUTOR" in out
    assert ("&_PyLong_Add" in out) and ("call" in out or "blr" in out)
    total = shim_group(arch).code_size + sum(
        lower_uop(ln.split()[1].rstrip(":"), arch).code_size for ln in out.splitlines() if ln.startswith("["))
    assert f"total code: refjit {total} bytes" in out
    chained = subprocess.run([REFJIT, "compile", str(ROOT / "examples" / "branchy_chained.trace"),
                              "--arch", arch], capture_output=True, text=True, timeout=120)
    assert chained.returncode == 0, chained.stderr
    assert [ln for ln in chained.stdout.splitlines() if ln.startswith("== executor")] == \
        ["== executor executor (the running one)", "== executor side", "== executor enter40"]
    bad = subprocess.run([REFJIT, "compile", "nope.trace"], capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr


# -- local check: swapped one for one with CPython's real stencils ------------------------------------



def real_header(arch: str):
    return real_stencils.require(arch)


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("name", EXAMPLES)
def test_mixed_with_real_stencils(arch, name):
    """CPython's stencils with every other uop (by name) taken from refjit and the rest from
    CPython end as the semantics ends (CPython's alone: test_semantics_stencils)."""
    header = real_header(arch)
    path = ROOT / "examples" / f"{name}.trace"
    want, sc = run_semantics(path, arch)
    uops = sorted({u.name for us in (sc.executors or {0: sc.uops}).values() for u in us} | {"_FATAL_ERROR"})
    for keep_refjit, shim in ((set(uops[::2]), header.shim), (set(uops[1::2]), None)):
        theirs = {n: g for n, g in header.groups.items() if n not in keep_refjit}
        got, _ = run_machine(path, arch, groups=theirs, shim=shim)
        diffs = want.compare(got)
        if want.kind == got.kind == "side_exit":
            diffs = [d for d in diffs if not d.startswith("stack")]  # see test_lower.agree
        assert diffs == [], f"{arch} {name} refjit for {sorted(keep_refjit)}:\n" + "\n".join(diffs)
