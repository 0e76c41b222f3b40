import os
import sys

# Test helpers (oracles.py, ...) are imported by name from this folder.
sys.path.insert(0, os.path.dirname(__file__))


def pytest_terminal_summary(terminalreporter):
    import summary_lines

    if summary_lines.LINES:
        terminalreporter.section("figures")
        for line in summary_lines.LINES:
            terminalreporter.write_line(line)
