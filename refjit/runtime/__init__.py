"""The emulated CPython 3.14.7 process: memory, heap, objects, typed views, C-function models.

    from refjit.profile import load_profile
    from refjit.runtime import Process, LayoutConfig, stackref_owned
    p = Process(load_profile("3.14", "x86_64"))
"""

from refjit.runtime.cfuncs import CModel, FatalError, MODELS
from refjit.runtime.heap import Block, Heap
from refjit.runtime.memory import PAGE_SIZE, PROT_EXEC, PROT_READ, PROT_WRITE, Memory, Region
from refjit.runtime.objects import (
    STACKREF_NULL,
    ObjView,
    stackref_borrowed,
    stackref_is_null,
    stackref_owned,
    stackref_owns,
    stackref_tag_int,
    stackref_target,
)
from refjit.runtime.process import LayoutConfig, Process, ProcessSnapshot
from refjit.runtime.views import ArrayView, View

__all__ = [
    "Block", "CModel", "FatalError", "Heap", "LayoutConfig", "MODELS", "Memory", "ObjView", "PAGE_SIZE",
    "PROT_EXEC", "PROT_READ", "PROT_WRITE", "Process", "ProcessSnapshot", "Region", "STACKREF_NULL",
    "ArrayView", "View", "stackref_borrowed", "stackref_is_null", "stackref_owned", "stackref_owns",
    "stackref_tag_int", "stackref_target",
]
