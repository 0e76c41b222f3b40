"""Per-CPython-version data (uop table, layouts, ABI), read only by refjit.profile."""
