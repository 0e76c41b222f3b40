"""The offsets a uop context reads from its profile (once per profile) are its own ISA's: FACTS
gives PyInterpreterState.trace_run_counter at 0x367f0 on x86-64 and 0x36800 on AArch64 (§ the
per-ISA layout table), the rest the same on both (_PyInterpreterFrame: instr_ptr @0x38,
stackpointer @0x40, localsplus @0x50; PyThreadState: eval_breaker @0x18, current_executor
@0x110; PyCodeObject.co_code_adaptive @0xD0; _PyExecutorObject: vm_data.warm @0x23,
vm_data.valid bit 0 of byte 0x22). Contexts are made in both orders, so a table shared across
profiles would show."""

import pytest

from refjit.profile import load_profile
from refjit.runtime import Process
from refjit.semantics.capi import CLevel
from refjit.semantics.core import UopContext

TRACE_RUN_COUNTER = {"x86_64": 0x367F0, "aarch64": 0x36800}


def _context(proc):
    return UopContext(proc, frame=0, stack_pointer=0, tstate=proc.tstate, executor=0)


@pytest.mark.parametrize("order", [("x86_64", "aarch64"), ("aarch64", "x86_64")])
def test_each_profile_gets_its_own_offsets(order):
    procs = [Process(load_profile("3.14", arch)) for arch in order]
    for _ in range(2):  # the second round reads the kept tables
        for proc in procs:
            s = _context(proc)
            assert s.INTERP_TRACE_RUN_COUNTER == TRACE_RUN_COUNTER[proc.arch]
            assert (s.F_INSTR_PTR, s.F_STACKPOINTER, s.F_LOCALSPLUS) == (0x38, 0x40, 0x50)
            assert (s.TS_EVAL_BREAKER, s.TS_CURRENT_EXECUTOR) == (0x18, 0x110)
            assert s.CO_CODE_ADAPTIVE == 0xD0 and s.VM_WARM == 0x23
            assert (s.VM_VALID.offset, s.VM_VALID.bit, s.VM_VALID.width) == (0x22, 0, 1)
            assert (s.OB_REFCNT, s.OB_TYPE) == (0, 8)
            # What differs per process (not per profile) is read from that process.
            assert s.Py_None == proc.symbols["_Py_NoneStruct"]
            assert s.mem is proc.mem


def test_a_plain_c_level_has_only_its_own_offsets():
    proc = Process(load_profile("3.14", "x86_64"))
    _context(proc)  # a UopContext's table first
    c = CLevel(proc)
    assert c.OB_REFCNT == 0 and not hasattr(c, "F_LOCALSPLUS")
