"""The text front end shared by both assemblers: one listing line in, one encoding out.

A line is ``[ADDRESS:] INSTRUCTION [<symbol+0x..>]`` as llvm-objdump prints it (the address in
hex, the instruction in that tool's syntax). The per-ISA parser lives with its backend as
``refjit.backends.<arch>.text.assemble(text, address) -> bytes``; this module only splits the
line, picks the backend and turns every refusal into a per-line error so one bad line never
stops a batch.
"""

from __future__ import annotations

import importlib
import re
from typing import Callable, NamedTuple

from refjit.errors import AsmError, RefjitError

ARCHES = ("x86_64", "aarch64")

_ADDRESS = re.compile(r"^\s*([0-9a-fA-F]+|0x[0-9a-fA-F]+):\s*")
_ANNOTATION = re.compile(r"\s*<[^<>]*>\s*$")


class LineResult(NamedTuple):
    lineno: int
    address: int
    text: str
    encoding: bytes | None
    error: str | None


def backend_assembler(arch: str) -> Callable[[str, int], bytes]:
    if arch not in ARCHES:
        raise AsmError(f"unknown architecture {arch!r} (expected one of {', '.join(ARCHES)})")
    return importlib.import_module(f"refjit.backends.{arch}.text").assemble


def split_line(line: str, default_address: int) -> tuple[int, str]:
    """Separate the optional address prefix and trailing symbol annotation from the instruction."""
    address = default_address
    m = _ADDRESS.match(line)
    if m:
        address = int(m.group(1), 16)
        line = line[m.end():]
    line = _ANNOTATION.sub("", line)
    return address, line.strip()


def assemble_lines(arch: str, lines: list[str]) -> list[LineResult]:
    """Assemble every line; a line without an address follows the previous one.

    A blank line gives an empty encoding, so the output lines up with the input line for line."""
    assemble = backend_assembler(arch)
    results: list[LineResult] = []
    next_address = 0
    for lineno, raw in enumerate(lines, 1):
        if not raw.strip():
            results.append(LineResult(lineno, next_address, "", b"", None))
            continue
        address, text = split_line(raw, next_address)
        try:
            encoding = assemble(text, address)
        except RefjitError as err:
            results.append(LineResult(lineno, address, text, None, err.why))
            next_address = address
            continue
        results.append(LineResult(lineno, address, text, encoding, None))
        next_address = address + len(encoding)
    return results
