"""A parsed trace's initial state, materialised in a fresh emulated process.

The same function serves the reference semantics and the machines, so both start from the very
same bytes: objects are created in declaration order (the allocator is deterministic, so the
addresses and the Outcome's ``#serial`` names agree), every mortal object's reference count is
set to the number of references the state holds (trace.reference_counts), the code object gets
the declared bytecode, the frame is pushed on the data stack with its locals and stack as tagged
stack refs, the executor gets its exits and its uops, and the thread state looks as the
interpreter leaves it right before ``jit_code(frame, stack_pointer, tstate)``:
``current_executor`` set and the executor increfed (``GOTO_TIER_TWO`` in ceval_macros.h),
``current_frame`` the frame.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from functools import cached_property

from refjit.errors import RuntimeModelError, TraceError
from refjit.runtime.process import LayoutConfig, Process
from refjit.trace import (BUILTIN_NAMES, MAIN, ExecutorDecl, ExitDecl, ObjectDecl, Trace, all_objects,
                          reference_counts)

UOP_FORMAT_JUMP = 1
MASK64 = (1 << 64) - 1
ENTER_EXECUTOR = 255  # Include/opcode_ids.h


@dataclass
class ResolvedUOp:
    """One ``_PyUOpInstruction`` with its operands as numbers."""

    index: int
    name: str
    oparg: int
    format: int  # UOP_FORMAT_TARGET 0 / UOP_FORMAT_JUMP 1
    target: int
    jump_target: int
    error_target: int
    operand0: int
    operand1: int


@dataclass
class Scenario:
    process: Process
    trace: Trace
    code: int
    frame: int
    stack_pointer: int
    tstate: int
    executor: int
    uops: list[ResolvedUOp]
    objects: dict[str, int] = field(default_factory=dict)  # name -> address
    scratch: int = 0  # a C-stack word for out-parameters of C calls
    # Every executor with uops (the running one too): address -> its uops; and their names.
    executors: dict[int, list[ResolvedUOp]] = field(default_factory=dict)
    executor_names: dict[int, str] = field(default_factory=dict)

    def address_of(self, name: str) -> int:
        return self.objects[name]


class TraceFacts:
    """What build_scenario derives from the trace alone (not from the process or the ISA): every
    object in creation order, their reference counts, the executor sections and their merged
    exits. Each is computed when first asked for and then kept, so that the scenarios of one
    trace on several ISAs (check_trace) compute them once. Keeping them is sound only while the
    trace is not changed: make one for a parsed trace and use it right away, as check_trace does.
    """

    def __init__(self, trace: Trace):
        self.trace = trace

    @cached_property
    def objects(self) -> list[ObjectDecl]:
        return all_objects(self.trace)

    @cached_property
    def counts(self) -> dict[int, int]:
        return reference_counts(self.trace, self.objects)

    @cached_property
    def sections(self) -> list[ExecutorDecl]:
        return self.trace.sections()

    @cached_property
    def exits_of(self) -> dict[str, dict[int, ExitDecl]]:
        return {sec.name: sec.exits() for sec in self.sections}       # merged once per section

    @cached_property
    def exit_count(self) -> dict[str, int]:
        return {name: max(ex) + 1 if ex else 0 for name, ex in self.exits_of.items()}


def build_scenario(trace: Trace, profile, *, layout: LayoutConfig | None = None,
                   process: Process | None = None, facts: TraceFacts | None = None) -> Scenario:
    """Create ``trace``'s initial state in a new Process (deterministic: same trace, same bytes).

    ``process``: build in this one instead, reset first to its state as constructed; it must be
    of ``profile`` and ``layout``. The bytes are those a new Process would get, without
    rebuilding the runtime (most of a new Process's cost). ``facts``: ``TraceFacts(trace)``,
    shared by the scenarios of one trace (by default made here for this one).
    """
    if facts is None:
        facts = TraceFacts(trace)
    elif facts.trace is not trace:
        raise RuntimeModelError("build_scenario: the TraceFacts given are of another trace")
    layout = layout or LayoutConfig()
    if process is None:
        p = Process(profile, layout=layout)
    elif process.profile is not profile or process.layout != layout:
        raise RuntimeModelError(f"build_scenario: the process given is of {process.profile.arch} with "
                         f"{process.layout}, not of {profile.arch} with {layout}")
    else:
        p = process
        p.reset()
    where = trace.filename

    # The code object first (it lives in its own region), with the names of its locals.
    units = trace.code_units
    bytecode = trace.bytecode if trace.bytecode is not None else bytes(2 * units)
    stacksize = trace.stacksize if trace.stacksize is not None else trace.max_stack_depth
    code = p.new_code(bytecode, nlocals=trace.nlocals, stacksize=max(stacksize, 1),
                      name=trace.code_name)
    names = list(trace.varnames) + [f"_local{i}" for i in range(len(trace.varnames),
                                                                 trace.nlocals)]
    p.mem.set_u64(code + profile.offset("PyCodeObject", "co_localsplusnames"), p.new_tuple(
        [p.new_str(n, immortal=True) for n in names[:trace.nlocals]], steal=True))

    # Objects: children before their containers, in declaration order.
    addr: dict[int, int] = {}  # id(ObjectDecl) -> address
    by_name = {o.name: o for o in trace.objects}
    statics = {"None": p.symbols["_Py_NoneStruct"], "True": p.symbols["_Py_TrueStruct"],
               "False": p.symbols["_Py_FalseStruct"]}

    def ref_address(ref) -> int:
        if isinstance(ref, str):
            return statics[ref] if ref in BUILTIN_NAMES else addr[id(by_name[ref])]
        return addr[id(ref)]

    objects = facts.objects
    for o in objects:
        addr[id(o)] = _create(p, o, ref_address)

    # The executors: the running one and every 'executor NAME' section, each with its exits
    # and its uops; then the exits that chain into another executor.
    sections = facts.sections
    exits_of = facts.exits_of
    exit_count = facts.exit_count
    addresses: dict[str, int] = {}
    for sec in sections:
        exits = exits_of[sec.name]
        targets = [exits[k].target if k in exits else 0 for k in range(exit_count[sec.name])]
        addresses[sec.name] = p.new_executor(targets, trace_length=len(sec.uops), code=code,
                                             valid=sec.valid, chain_depth=sec.chain_depth)
    executor = addresses[MAIN]
    incoming = {name: 0 for name in addresses}
    at_temperature = profile.offset("_PyExitData", "temperature.value_and_backoff")
    at_executor = profile.offset("_PyExitData", "executor")
    for sec in sections:
        this = addresses[sec.name]
        for k, e in exits_of[sec.name].items():
            x = p.exit_address(this, k)
            if e.temperature is not None:
                if e.temperature.__class__ is int and 0 <= e.temperature <= 0xFFFF:
                    p.mem.set_u16(x + at_temperature, e.temperature)
                else:  # (not from parse_trace, which checks it): the view's store says why
                    p.view("_PyExecutorObject", this).exits[k].temperature = e.temperature
            if e.executor is not None:
                if e.executor in addresses:
                    p.mem.set_u64(x + at_executor, addresses[e.executor])
                    incoming[e.executor] += 1
                else:
                    p.mem.set_u64(x + at_executor, addr[id(by_name[e.executor])])

    # ENTER_EXECUTOR instructions and the code object's executor array they index.
    if trace.enter_executors:
        n = len(trace.enter_executors)
        off = profile.offset
        array = p.mem_malloc(off("_PyExecutorArray", "executors") + 8 * n)  # PyMem memory
        p.mem.set_i32(array + off("_PyExecutorArray", "size"), n)
        p.mem.set_i32(array + off("_PyExecutorArray", "capacity"), n)
        for k, (unit, name) in enumerate(trace.enter_executors):
            target = addresses[name] if name in addresses else addr[id(by_name[name])]
            p.mem.set_u64(array + off("_PyExecutorArray", "executors") + 8 * k, target)
            p.mem.set_u8(p.bytecode_address(code, unit), ENTER_EXECUTOR)
            p.mem.set_u8(p.bytecode_address(code, unit) + 1, k)
        p.view("PyCodeObject", code).co_executors = array

    # Reference counts: exactly the references the state holds (computed from the trace). The
    # running executor: co_executors' reference and the one the interpreter took before entering.
    counts = facts.counts
    mem = p.mem
    for o in objects:
        a = addr[id(o)]
        if mem.i32(a) >= 0:  # not immortal (p.is_immortal): set_refcnt
            mem.set_u32(a, counts[id(o)])
    for sec in sections:
        own = 2 if sec.name == MAIN else sec.extra
        mem.set_u32(addresses[sec.name], own + incoming[sec.name])

    # Uops, with operands resolved (&executor and &exitK are the section's own).
    bytecode_base = p.bytecode_address(code, 0)

    def address(op, u, this: int, exits: int) -> int:  # an operand that is not a plain int
        if op.kind == "object":
            return ref_address(op.name) + op.addend
        if op.kind == "executor":
            return this + op.addend
        if op.kind == "exit":
            if op.value >= exits:
                raise TraceError(f"uop {u.index}: &exit{op.value} but the executor has {exits} "
                                 f"exits", f"{where}:{u.line}:1")
            return p.exit_address(this, op.value) + op.addend
        return bytecode_base + op.addend  # bytecode

    resolved_by: dict[int, list[ResolvedUOp]] = {}
    for sec in sections:
        this, exits = addresses[sec.name], exit_count[sec.name]
        resolved = []
        for u in sec.uops:
            a, b = u.operand0, u.operand1
            v0 = a.value if a.kind == "int" else address(a, u, this, exits)
            v1 = b.value if b.kind == "int" else address(b, u, this, exits)
            resolved.append(ResolvedUOp(u.index, u.name, u.oparg,
                                        UOP_FORMAT_JUMP if u.format == "jump" else 0, u.target,
                                        u.jump_target, u.error_target, v0 & MASK64, v1 & MASK64))
        _write_trace(p, this, resolved)
        resolved_by[this] = resolved

    # The frame, entered at the executor's start instruction.
    def slot_bits(s) -> int:
        if s.ref is None:
            return 1  # PyStackRef_NULL
        a = ref_address(s.ref)
        return a if s.ownership == "owned" else a | 1

    start = trace.uops[0].target if trace.uops[0].name == "_START_EXECUTOR" else 0
    frame = p.new_frame(code, trace.nlocals, [slot_bits(s) for s in trace.locals],
                        [slot_bits(s) for s in trace.stack], instr_index=start)
    stack_pointer = p.frame_stack_pointer(frame)

    # The thread state as GOTO_TIER_TWO leaves it.
    p.mem.set_u64(p.tstate + profile.offset("PyThreadState", "current_executor"), executor)
    if trace.eval_breaker is not None:
        p.view("PyThreadState", p.tstate).eval_breaker = trace.eval_breaker
    counter = trace.trace_run_counter if trace.trace_run_counter is not None \
        else profile.const("JIT_CLEANUP_THRESHOLD")
    if counter.__class__ is int and 0 <= counter <= MASK64:
        p.mem.set_u64(p.interp + profile.offset("PyInterpreterState", "trace_run_counter"), counter)
    else:  # (not from parse_trace, which checks it): the view's store says why
        p.view("PyInterpreterState", p.interp).trace_run_counter = counter

    return Scenario(p, trace, code, frame, stack_pointer, p.tstate, executor,
                    resolved_by[executor], {o.name: addr[id(o)] for o in trace.objects},
                    scratch=p.cstack_top - 128, executors=resolved_by,
                    executor_names={a: n for n, a in addresses.items()})


def _create(p: Process, o: ObjectDecl, ref_address) -> int:
    """Allocate one object; reference counts are fixed up by the caller."""
    if o.kind == "int":
        return p.new_int(o.value, immortal=o.immortal)
    if o.kind == "float":
        return p.new_float(o.value, immortal=o.immortal)
    if o.kind == "tuple":
        return p.new_tuple([ref_address(r) for r in o.value], steal=True, immortal=o.immortal)
    if o.kind == "list":
        op = p.new_list([ref_address(r) for r in o.value], o.allocated, steal=True)
    elif o.kind == "range_iterator":
        op = p.new_range_iter(*o.value)
    elif o.kind in ("list_iterator", "tuple_iterator"):
        seq = ref_address(o.value)
        if o.kind == "list_iterator":
            op, it_index = p.new_list_iter(seq), p.o.li_index    # _PyListIterObject.it_index
        else:
            op, it_index = p.new_tuple_iter(seq), p.o.ti_index   # _PyTupleIterObject.it_index
        p.mem.set_i64(op + it_index, o.index)
    elif o.kind == "executor":
        op = p.new_executor([], valid=o.valid)
    else:
        raise TraceError(f"object {o.name!r}: kind {o.kind!r} cannot be created")
    if o.immortal:
        p.make_immortal(op)
    return op


# _PyUOpInstruction (FACTS §a.5): opcode:15|format:1, oparg, then the union of target (u32) and
# jump_target/error_target (2 x u16), operand0, operand1.
_UOP_TARGET = struct.Struct("<HHIQQ")
_UOP_JUMP = struct.Struct("<HHHHQQ")


def _write_trace(p: Process, executor: int, uops: list[ResolvedUOp]) -> None:
    """Fill ``executor->trace`` with the _PyUOpInstruction array (FACTS §a.5), as CPython does."""
    prof = p.profile
    base = p.mem.u64(executor + prof.offset("_PyExecutorObject", "trace"))
    size = prof.sizeof("_PyUOpInstruction")
    if size == _UOP_TARGET.size and uops:
        # The whole array in one write; a value that does not fit is written field by field
        # below, which names it.
        data = bytearray(size * len(uops))
        ids = prof.uops
        try:
            for u in uops:
                if u.format:
                    _UOP_JUMP.pack_into(data, u.index * size, ids[u.name].id | (u.format << 15),
                                        u.oparg, u.jump_target, u.error_target, u.operand0,
                                        u.operand1)
                else:
                    _UOP_TARGET.pack_into(data, u.index * size, ids[u.name].id, u.oparg,
                                          u.target, u.operand0, u.operand1)
        except struct.error:
            pass
        else:
            if all(u.index == i for i, u in enumerate(uops)):
                p.mem.write(base, data)
                return
    for u in uops:
        a = base + u.index * size
        p.mem.set_u16(a, prof.uops[u.name].id | (u.format << 15))
        p.mem.set_u16(a + 2, u.oparg)
        if u.format:
            p.mem.set_u16(a + 4, u.jump_target)
            p.mem.set_u16(a + 6, u.error_target)
        else:
            p.mem.set_u32(a + 4, u.target)
        p.mem.set_u64(a + 8, u.operand0)
        p.mem.set_u64(a + 16, u.operand1)
