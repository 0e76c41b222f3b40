"""CPython 3.14.7's real jit_stencils-<triple>.h headers, for the local checks.

Nothing of CPython's is in this repository, so these headers never are: REFJIT_REAL_STENCILS names
the folder that holds a real 3.14.7 JIT build's headers of both ISAs (the build writes
jit_stencils-x86_64-pc-linux-gnu.h or -unknown-; the aarch64 one comes from Tools/jit/build.py).
Without it, every test that needs them is skipped with the reason below (pytest -ra prints it).
"""

from __future__ import annotations

import os
import pathlib

import pytest

from refjit.stencils import StencilHeader, read_header

PATTERNS = {"x86_64": "jit_stencils-x86_64-*-linux-gnu.h",
            "aarch64": "jit_stencils-aarch64-*-linux-gnu.h"}
SKIP_REASON = ("real CPython 3.14.7 headers not available: set REFJIT_REAL_STENCILS to the folder "
               "holding jit_stencils-<triple>.h of both ISAs (local check, never needed in CI)")

_headers: dict[str, StencilHeader | None] = {}


def directory() -> pathlib.Path | None:
    env = os.environ.get("REFJIT_REAL_STENCILS")
    return pathlib.Path(env) if env else None


def path(arch: str) -> pathlib.Path | None:
    """The header of ``arch``; a folder that is named but lacks it is a set-up error."""
    folder = directory()
    if folder is None:
        return None
    found = sorted(folder.glob(PATTERNS[arch])) if folder.is_dir() else []
    assert found, f"REFJIT_REAL_STENCILS={folder} holds no {PATTERNS[arch]}"
    return found[0]


def header(arch: str) -> StencilHeader | None:
    """The parsed header of ``arch`` (read once), or None where there is none."""
    if arch not in _headers:
        p = path(arch)
        _headers[arch] = read_header(str(p)) if p is not None else None
    return _headers[arch]


def require(arch: str) -> StencilHeader:
    h = header(arch)
    if h is None:
        pytest.skip(SKIP_REASON)
    return h
