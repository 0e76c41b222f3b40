"""refjit: a reference JIT for CPython 3.14's tier-2 micro-ops, in pure Python.

See README.md and docs/ for the tour; DESIGN notes live in the README's design section.
"""

__version__ = "0.1.0"
