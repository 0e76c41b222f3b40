"""`refjit stencils HEADER [--uop NAME]` on a header the project writes itself."""

from __future__ import annotations

import stencil_fixtures as F
from refjit.cli import main
from refjit.headerwriter import write_header


def _header(tmp_path, arch="x86_64"):
    shim, groups = F.groups(arch)
    path = tmp_path / f"jit_stencils-{F.TRIPLES[arch]}.h"
    path.write_text(write_header(shim, groups, F.TRIPLES[arch]))
    return path


def test_overview_lists_groups_sizes_holes_symbols(tmp_path, capsys):
    path = _header(tmp_path)
    assert main(["stencils", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "x86_64-unknown-linux-gnu, 5 stencils + shim" in out[0]
    row = [l for l in out if l.startswith("_TEST_OP ")][0].split()
    assert row[1:4] == ["90", "24", "13"]  # 11 code holes, 2 GOT slots
    assert {"CONTINUE", "OPARG", "_Py_Dealloc", "PyFloat_Type", "_PyRuntime"} <= set(row[4:])


def test_uop_listing_marks_holes(tmp_path, capsys):
    path = _header(tmp_path, "aarch64")
    assert main(["stencils", str(path), "--uop", "_TEST_OP"]) == 0
    out = capsys.readouterr().out
    assert "_TEST_OP (aarch64-unknown-linux-gnu): code 64 bytes, data 32 bytes" in out
    assert "adrp x8, #0" in out and "patch_aarch64_21r DATA+0x8 -> data+0x8 = OPARG" in out
    assert "patch_aarch64_26r JUMP_TARGET" in out
    assert "_TEST_OP.o: assembled by GNU as" in out  # the listing kept in the header


def test_errors_are_one_line_with_the_location(tmp_path, capsys):
    path = _header(tmp_path)
    assert main(["stencils", str(path), "--uop", "_TEST_OPS"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "no stencil for _TEST_OPS (did you mean _TEST_OP?)" in err
    text = path.read_text().replace("instruction->oparg);", "instruction->oparg + );", 1)
    path.write_text(text)
    line = text.split("\n").index("    patch_64(code + 0x2, instruction->oparg + );") + 1
    assert main(["stencils", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{path}:{line}: cannot read the hole value" in err
