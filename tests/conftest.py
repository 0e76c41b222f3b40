import os
import sys

# Test helpers (oracles.py, ...) are imported by name from this folder.
sys.path.insert(0, os.path.dirname(__file__))
