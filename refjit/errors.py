"""One error hierarchy for everything refjit refuses or detects.

Every error carries the location it is about, so a message reads like a compiler diagnostic:
where (file:line:col, uop index and name, pc, address) and why. The CLI prints ``str(err)``
and exits non-zero; it never shows a Python traceback for a RefjitError.
"""

from __future__ import annotations


class RefjitError(Exception):
    """Base class. ``where`` is a short location prefix, ``why`` the reason."""

    def __init__(self, why: str, where: str | None = None):
        self.why = why
        self.where = where
        super().__init__(f"{where}: {why}" if where else why)


class AsmError(RefjitError):
    """An instruction that has no encoding: unknown mnemonic, bad operands, immediate out of range."""


class DisasmError(RefjitError):
    """Bytes that do not decode, or bad input to the disassembler front end."""


class SpecError(RefjitError):
    """Missing or inconsistent data under specs/."""


class TraceError(RefjitError):
    """A malformed or inconsistent trace file (line and column in ``where``)."""


class StencilError(RefjitError):
    """A malformed, truncated or inconsistent jit_stencils header (line in ``where``)."""


class LinkError(RefjitError):
    """A hole that cannot be patched: value out of range, wrong instruction at a patch site."""


class LowerError(RefjitError):
    """A uop that a backend cannot lower."""


class RuntimeModelError(RefjitError):
    """Misuse of the emulated process: bad address, unknown object, a C model called wrongly."""


class EmulationError(RefjitError):
    """Code that faulted, ran past its budget or misbehaved in the emulator (uop, pc, address)."""


class SemanticsError(RefjitError):
    """The reference semantics met a state it cannot execute (e.g. a budget exceeded)."""
