"""Figures that tests measure against the oracles (the round trip's counts, ...), printed in a
"figures" section at the end of every pytest run by conftest.py, so CI logs carry them."""

LINES: list[str] = []


def report(line: str) -> None:
    LINES.append(line)
