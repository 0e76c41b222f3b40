"""Every command shown as runnable in docs/*.md works: it exits 0, without a traceback.

A fenced block is runnable when the line before it is ``<!-- runnable -->`` (or
``<!-- runnable: stencils -->`` for commands that need CPython's jit_stencils headers: those run
only when REFJIT_REAL_STENCILS names the folder that holds them, with STENCILS set to
that directory). In a ``console`` block every ``$ `` line is one shell command, run from the
repository root with this venv's ``refjit`` first on PATH; a ``python`` block runs as a script.
"""

from __future__ import annotations

import real_stencils

import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = sorted((ROOT / "docs").glob("*.md"))
BIN = os.path.dirname(sys.executable)
MARK = re.compile(r"^<!-- runnable(?:: (\w+))? -->$")


def runnable_blocks():
    """(id, doc, line, language, needs, text) for every marked block of every doc."""
    found = []
    for doc in DOCS:
        lines = doc.read_text().splitlines()
        for i, line in enumerate(lines):
            m = MARK.match(line.strip())
            if not m:
                continue
            fence = lines[i + 1] if i + 1 < len(lines) else ""
            assert fence.startswith("```"), f"{doc.name}:{i + 1}: a runnable mark must precede a fence"
            language = fence[3:].strip()
            assert language in ("console", "python"), f"{doc.name}:{i + 2}: cannot run {language!r}"
            end = next(k for k in range(i + 2, len(lines)) if lines[k].startswith("```"))
            text = "\n".join(lines[i + 2:end])
            found.append((f"{doc.name}:{i + 2}", doc, i + 2, language, m[1], text))
    return found


BLOCKS = runnable_blocks()


def stencils_dir() -> pathlib.Path | None:
    if any(real_stencils.path(arch) is None for arch in real_stencils.PATTERNS):
        return None
    return real_stencils.directory()


def test_docs_have_runnable_blocks():
    assert {d.name for d in DOCS} >= {"tour.md", "architecture.md"}
    assert len(BLOCKS) >= 8


@pytest.mark.parametrize("block", BLOCKS, ids=[b[0] for b in BLOCKS])
def test_block_runs(block):
    where, _doc, _line, language, needs, text = block
    env = dict(os.environ, PATH=BIN + os.pathsep + os.environ.get("PATH", ""))
    if needs == "stencils":
        directory = stencils_dir()
        if directory is None:
            pytest.skip(real_stencils.SKIP_REASON)
        env["STENCILS"] = str(directory)
    elif needs is not None:
        pytest.fail(f"{where}: unknown requirement {needs!r}")
    if language == "python":
        runs = [[sys.executable, "-c", text]]
    else:
        commands = [line[2:] for line in text.splitlines() if line.startswith("$ ")]
        assert commands, f"{where}: a runnable console block without '$ ' lines"
        runs = [["bash", "-c", command] for command in commands]
    for argv in runs:
        proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        shown = argv[-1] if language == "console" else "python block"
        assert "Traceback" not in proc.stderr, f"{where}: {shown}\n{proc.stderr}"
        assert proc.returncode == 0, f"{where}: {shown} exited {proc.returncode}\n{proc.stderr}"
        assert proc.stdout.strip(), f"{where}: {shown} printed nothing"
