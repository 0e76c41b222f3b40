"""AArch64 selection of pushes and pops: ``str v, [b]`` then ``b += n`` is one post-indexed
``str``, ``v = ldr [b + n]`` then ``b += n`` one pre-indexed ``ldr`` (as clang emits them for
stack_pointer).

A 64-bit access looks ahead at the ``add`` after it (isel's _Sel.push and pop), with or without
a hole addend folded into its displacement (``biased``). Checked here: which instructions capstone
reads in the bytes, and the values the machine leaves in the frame against what Python computes."""

from __future__ import annotations

import capstone
import pytest

from refjit.backends.aarch64 import isel
from refjit.lir import FRAME, Builder
from test_lower_lir import LOCALSPLUS, M, run_lir

AREA = 24       # locals AREA.. are the pushes' stack; the results go to locals 0..


def _build(b, store, biased: bool) -> None:
    """Pushes of a register, of zero and of a constant, then pops of them back; steps the
    immediates take (8, 16) and one they do not (256: the add stays). With ``biased``, a hole
    whose addend selection folds into the displacement of its one load comes first, so every
    access after it goes through the selector's general path."""
    if biased:
        h = b.hole("_Py_NoneStruct", 8)         # read only as a base: its addend is a bias
        store(b.load(h, 0), 10)
        store(b.load(b.hole("_Py_NoneStruct"), 8), 11)    # the same word, read without one
    p = b.add(FRAME, LOCALSPLUS + 8 * AREA)     # p0
    v = b.const(0x1122334455667788)
    b.store(v, p)                   # push a register: str v, [p], #8
    b.add(p, 8, dst=p)
    b.store(0, p)                   # push zero: str xzr, [p], #16
    b.add(p, 16, dst=p)
    b.store(-2, p)                  # push a constant (through X16): str x16, [p], #8
    b.add(p, 8, dst=p)
    b.store(v, p)                   # a step beyond the post-indexed range: str, then add
    b.add(p, 256, dst=p)
    store(p, 0)                     # p0 + 288
    x = b.load(p, -256)             # the step is not the displacement: ldur, then add
    b.add(p, -248, dst=p)
    store(x, 1)
    store(b.load(p, -8), 2)         # no add after it: a plain ldur
    for i, step in enumerate((-8, -8, -16, -8)):    # pops: ldr y, [p, #step]!
        y = b.load(p, step)
        b.add(p, step, dst=p)
        store(y, 3 + i)
    store(p, 7)                     # p0


def _forms(biased: bool) -> list[str]:
    """The instructions capstone reads in the selected code, with their operands."""
    b = Builder("_NOP")
    _build(b, lambda v, i: b.store(v, FRAME, LOCALSPLUS + 8 * i), biased)
    code = isel.select(b.finish()).code
    md = capstone.Cs(capstone.CS_ARCH_ARM64, capstone.CS_MODE_ARM)
    return [f"{i.mnemonic} {i.op_str}" for i in md.disasm(code, 0)]


@pytest.mark.parametrize("biased", [False, True])
def test_pushes_and_pops_are_post_and_pre_indexed(biased):
    forms = _forms(biased)
    post = [f for f in forms if f.startswith("str") and "], #" in f]
    pre = [f for f in forms if f.startswith("ldr") and f.endswith("]!")]
    assert [f.split("], ")[1] for f in post] == ["#8", "#0x10", "#8"], forms
    assert [f.split(",")[0] for f in post][1:] == ["str xzr", "str x16"], forms
    assert [f.split("#")[1] for f in pre] == ["-8]!", "-8]!", "-0x10]!", "-8]!"], forms
    # what stays apart: the str before the 256 step and its add, the ldur at -256 and its add
    assert sum(f.startswith("add") and f.endswith("#0x100") for f in forms) == 1, forms
    assert sum(f.startswith("ldur") and f.endswith("#-0x100]") for f in forms) == 1, forms
    assert sum(f.startswith("sub") and f.endswith("#0xf8") for f in forms) == 1, forms


@pytest.mark.parametrize("biased", [False, True])
def test_pushes_and_pops_run(biased):
    got = run_lir("aarch64", lambda b, store: _build(b, store, biased))
    v = 0x1122334455667788
    assert got[0] - got[7] == 288                       # p0 + 288, then back at p0
    assert got[1:8] == [v, v, v, M & -2, 0, v, got[7]]  # every word back as it was pushed
    if biased:
        assert got[10] == got[11] != 0
