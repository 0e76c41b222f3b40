"""`refjit demo` as a user runs it: the real int_sum trace on both ISAs, three ways.

Expected values come from the host Python (the loop's result and trip count), not from refjit.
The run with CPython's stencils is a local check (the real headers are not in the repository;
REFJIT_REAL_STENCILS names their folder; tests/real_stencils.py).
"""

from __future__ import annotations

import real_stencils

import json
import os
import pathlib
import re
import subprocess
import sys

import capstone
import pytest

import refjit.compile
import refjit.demo
from refjit import cli
from refjit.compile import compile_groups
from refjit.examples import INT_SUM

REFJIT = os.path.join(os.path.dirname(sys.executable), "refjit")
ROOT = pathlib.Path(__file__).resolve().parent.parent
N = 20000
TOTAL = sum(range(N))  # the host Python's answer: 199990000
ROW = re.compile(r"^\s*(\d+)\s+(_[A-Z0-9_]+)\s+(\d+)\s+(.*?)\s+(yes|NO|\?)$")


def run(args: list[str]) -> subprocess.CompletedProcess:
    if not os.path.exists(REFJIT):
        pytest.fail(f"the console script {REFJIT} is missing: is refjit installed in this venv?")
    return subprocess.run([REFJIT, *args], capture_output=True, text=True, timeout=300)


def rows(stdout: str) -> list[tuple[int, str, int, list[str], str]]:
    out = []
    for line in stdout.splitlines():
        m = ROW.match(line)
        if m:
            out.append((int(m[1]), m[2], int(m[3]), m[4].split(), m[5]))
    return out


def check_table(stdout: str, columns: int) -> None:
    table = rows(stdout)
    names = [line.split()[1] for line in INT_SUM.splitlines() if re.match(r"\s+\d+ _", line)]
    assert [r[1] for r in table] == names, stdout
    assert all(r[4] == "yes" for r in table), stdout
    # Trip counts from the host: the loop body runs N times, its head N + 1 times (the last
    # time _GUARD_NOT_EXHAUSTED_RANGE fails), and one exit stub once.
    runs = {i: r[2] for i, r in enumerate(table)}
    assert runs[0] == 1 and runs[6] == N + 1 and runs[7] == N and runs[19] == N, stdout
    assert [i for i in range(20, len(table)) if runs[i]] == [23] and runs[23] == 1, stdout
    for index, name, _n, cells, _agree in table:
        assert len(cells) == 2 * columns, (name, cells)
        assert all(c.isdigit() for c in cells[:columns]), (name, cells)  # code bytes
        if name not in ("_START_EXECUTOR",):
            assert all(int(c) > 0 for c in cells[:columns]), (name, cells)
    assert f"total = {TOTAL}, exit: tier-1 target 28, left through uop 23 _EXIT_TRACE" in stdout
    assert stdout.rstrip().endswith("all agree"), stdout


def test_shipped_trace_is_the_example_file():
    # The package reads the examples/ folder itself (package data), so there is nothing to drift.
    assert INT_SUM == (ROOT / "examples" / "int_sum.trace").read_text()


def straight_line(arch: str, names) -> dict[str, int]:
    """Instruction counts of refjit's groups with no branch, call or return (capstone's groups):
    every entry into such a uop executes each of its instructions exactly once."""
    md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64) if arch == "x86_64" \
        else capstone.Cs(capstone.CS_ARCH_ARM64, capstone.CS_MODE_ARM)
    md.detail = True
    flow = (capstone.CS_GRP_JUMP, capstone.CS_GRP_CALL, capstone.CS_GRP_RET)
    counts = {}
    for name, group in compile_groups(arch, names).items():
        insns = list(md.disasm(group.code.body, 0))
        if insns and sum(i.size for i in insns) == group.code_size \
                and not any(i.group(g) for i in insns for g in flow):
            counts[name] = len(insns)
    return counts


def test_demo_agrees_on_both_isas():
    proc = run(["demo"])
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 0, proc.stdout + proc.stderr
    check_table(proc.stdout, columns=2)
    # The per-uop instruction counts (the machine's accounting) for branch-free groups equal
    # the number of instructions capstone decodes in them.
    table = rows(proc.stdout)
    for column, arch in ((2, "x86_64"), (3, "aarch64")):
        expected = straight_line(arch, [r[1] for r in table])
        checked = [r for r in table if r[1] in expected and r[2]]
        assert len(checked) >= 4, (arch, expected)
        for _i, name, _n, cells, _agree in checked:
            assert cells[column] == str(expected[name]), (arch, name, cells, expected[name])
    assert "refjit x86-64: the same Outcome as the semantics" in proc.stdout
    assert "refjit AArch64: the same Outcome as the semantics" in proc.stdout


def test_demo_with_cpython_stencils():
    headers = [real_stencils.path(arch) for arch in ("x86_64", "aarch64")]
    if None in headers:
        pytest.skip(real_stencils.SKIP_REASON)
    proc = run(["demo", "--stencils", str(headers[0]), str(headers[1])])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    check_table(proc.stdout, columns=4)
    for label in ("CPython x86-64", "CPython AArch64"):
        assert f"{label}: the same Outcome as the semantics" in proc.stdout
    # CPython's code bytes as the build measured them (uops.json), not as refjit's reader saw them.
    facts = {u["name"]: u for u in json.loads((ROOT / "specs" / "cpython-3.14" / "uops.json").read_text())}
    for _i, name, _n, cells, _agree in rows(proc.stdout):
        assert int(cells[1]) == facts[name]["stencil_bytes_x86_64"], (name, cells)
        assert int(cells[3]) == facts[name]["stencil_bytes_aarch64"], (name, cells)


def test_demo_reports_a_wrong_uop(monkeypatch, capsys):
    # refjit's code for _BINARY_OP_ADD_INT swapped for its _BINARY_OP_SUBTRACT_INT: the machines
    # must disagree with the semantics, say how, and the command must fail.
    # The check that pins the first divergent uop (refjit.check) takes the groups from
    # refjit.compile, so both names are patched.
    def wrong_groups(arch, names):
        groups = compile_groups(arch, [*names, "_BINARY_OP_SUBTRACT_INT"])
        groups["_BINARY_OP_ADD_INT"] = groups["_BINARY_OP_SUBTRACT_INT"]
        return groups

    monkeypatch.setattr(refjit.demo, "compile_groups", wrong_groups)
    monkeypatch.setattr(refjit.compile, "compile_groups", wrong_groups)
    assert cli.main(["demo"]) == 1
    out = capsys.readouterr().out
    assert "DIFFERS from the semantics" in out and out.rstrip().endswith("DISAGREEMENT"), out
    assert f"local 1: value {-TOTAL} vs {TOTAL}" in out, out  # the machine first
    table = rows(out)
    assert "yes" not in {r[4] for r in table}, out
    # Pinned on the uop itself, on both ISAs.
    assert [r[1] for r in table if r[4] == "NO"] == ["_BINARY_OP_ADD_INT"], out
    for arch in ("x86_64", "aarch64"):
        assert f"refjit/{arch} vs semantics/{arch}: first divergence at uop 15 _BINARY_OP_ADD_INT" in out, out


def test_demo_bad_header_is_a_clear_error(tmp_path):
    bad = tmp_path / "jit_stencils-x86_64-unknown-linux-gnu.h"
    bad.write_text("not a header\n")
    for args in (["demo", "--stencils", str(tmp_path / "missing.h")], ["demo", "--stencils", str(bad)]):
        proc = run(args)
        assert proc.returncode != 0 and proc.stderr.startswith("error: "), proc.stderr
        assert "Traceback" not in proc.stderr, proc.stderr
