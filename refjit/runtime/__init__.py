"""The emulated CPython 3.14.7 process: memory, heap, objects, typed views, C-function models.

    from refjit.profile import load_profile
    from refjit.runtime import Process, LayoutConfig, stackref_owned
    p = Process(load_profile("3.14", "x86_64"))

A tour of what a Process offers (each module's docstring has the details):

* memory.py   ``p.mem``: regions of real bytes (``p.regions["heap"].address_of_buffer`` is what
              Unicorn maps), ``read/write``, ``u8..u64/i32/i64/f64`` and ``set_*``; an address
              outside every region raises RuntimeModelError naming it.
* heap.py     ``p.heap``: deterministic allocation, ``live()``, ``freed()`` (poisoned 0xdd),
              ``freelisted()`` (parked on a CPython freelist), ``block_at(addr)``.
* views.py    ``p.view("PyThreadState", p.tstate).current_executor``: any struct of the profile,
              by CPython's field names (dotted paths, bitfields, arrays).
* objects.py  ``p.new_int/new_float/new_str/new_tuple/new_list/new_range_iter/new_list_iter/
              new_tuple_iter/new_exception``, ``incref/decref/refcnt/make_immortal``,
              ``read_object(addr)``, ``to_python/from_python``, ``dealloc`` per type,
              ``check_heap()``; stack refs: ``stackref_owned/borrowed/target``.
* process.py  the memory map (``LayoutConfig``), ``p.symbols`` (every symbol the stencils
              name), ``p.model_at(stub)``, ``new_code/new_frame/new_executor/insert_executor``,
              ``snapshot()/restore()``.
* cfuncs.py   the C-function models (``MODELS``) the machines call through ``CModel.call``.
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
