"""The Outcome of running a trace: everything observable, in a form two processes can compare.

Both the Unicorn machines and the reference semantics produce one, so construction is a function
of the process and of how the run ended (an :class:`Ending`), never of the thing that ran it.

What is recorded (DESIGN.md "Outcome"):

* how it ended: back to tier 1 at a bytecode index, an error (NULL returned, exception set), a side
  exit into another executor, CPython's fatal error, or a fault of the emulated code;
* the frame the interpreter resumes with (``tstate->current_frame``, as ``GOTO_TIER_TWO`` reloads
  it): ``instr_ptr`` as a bytecode index, the stack depth from ``frame->stackpointer`` (for a
  side exit from the live stack pointer, which GOTO_TIER_TWO does not store), and every local
  and stack slot's stackref bits rendered as object identity plus ownership tag;
* executors as a trace can change them: ``vm_data.valid``/``warm``, each exit's temperature and
  linked executor; a list's capacity;
* every heap block: type, refcount, immortality, value, and whether it is live, on a CPython
  freelist or freed; static objects (``_Py_NoneStruct``, small ints, ...) whose refcount is no
  longer the immortal initial value;
* thread-state fields: ``current_executor``, ``eval_breaker``, the current exception's type,
  and ``interp->trace_run_counter``; problems the heap check finds (writes into freed memory,
  broken freelist links, live objects with refcount 0);
* machine instructions executed (not part of equality: the point of a JIT is to change it).

Objects are named by identity, not address, so a run on x86-64 compares with one on AArch64 or
with the semantics: heap objects as ``#<allocation serial>`` (the allocator is deterministic),
static objects by symbol name, small ints as ``small_int[v]``.
"""

from __future__ import annotations

import struct
import weakref
from dataclasses import dataclass, field, replace
from types import SimpleNamespace

from refjit.errors import RefjitError

KINDS = ("tier1", "error", "side_exit", "fatal", "fault")
MAX_KNOWN = 1 << 16          # bound on the memo of ObjectStates (per process): see known_state
# Types whose state is read from their own block only, and those of them that have a value
# (to_python) as a tuple's or list's item.
_SELF_CONTAINED = frozenset(("int", "float", "str", "range_iterator", "list_iterator",
                             "tuple_iterator"))
_VALUE_TYPES = frozenset(("int", "float", "str"))


# ---------------------------------------------------------------------------------------------
# How a run ended.


@dataclass(slots=True)
class Ending:
    """How a run ended, before anything is read back from the process.

    ``kind`` is one of KINDS. ``returned`` is the raw ``_Py_CODEUNIT *`` a tier-1 return handed
    back; ``executor``/``exit_index``/``from_executor`` say where a side exit went and through
    which exit of which executor. Faults carry what the machine
    knows about the location (pc, faulting address, instruction, uop). Treat it as a value: the
    methods below return changed copies. (Not a frozen dataclass only because one is built per
    run and frozen construction costs microseconds.)
    """

    kind: str
    returned: int | None = None
    executor: int | None = None
    exit_index: int | None = None
    from_executor: int | None = None   # side_exit: the executor whose _EXIT_TRACE ran
    message: str = ""
    what: str = ""                     # fault detail: memory, budget, alignment, model, abi, ...
    pc: int | None = None
    address: int | None = None
    instruction: str | None = None
    uop_index: int | None = None
    uop_name: str | None = None
    location: str | None = None
    instructions: int | None = None
    stack_pointer: int | None = None   # side_exit: the live stack pointer handed to the next executor
    callee: str | None = None          # fault in a call: the C function being called

    def __post_init__(self):
        if self.kind not in KINDS:
            raise RefjitError(f"unknown ending kind {self.kind!r} (expected one of {', '.join(KINDS)})")

    @classmethod
    def returned_value(cls, value: int) -> "Ending":
        """The shim returned ``value``: a tier-1 instruction pointer, or NULL for an error."""
        return cls("tier1", returned=value) if value else cls("error", returned=0)

    @classmethod
    def side_exit(cls, executor: int, exit_index: int | None = None, *,
                  stack_pointer: int | None = None, from_executor: int | None = None) -> "Ending":
        """GOTO_TIER_TWO into ``executor``. It does not store the stack pointer in the frame (it
        travels in its pinned register), so pass it as ``stack_pointer`` for an exact stack.
        ``from_executor`` is the executor whose ``_EXIT_TRACE`` jumped (its ``current_executor``,
        the stencil's _JIT_EXECUTOR): the exit taken is one of *its* exits, which differs from
        the running executor's once the run has followed a chain. None: the running one."""
        return cls("side_exit", executor=executor, exit_index=exit_index,
                   stack_pointer=stack_pointer, from_executor=from_executor)

    @classmethod
    def fault(cls, message: str, *, pc: int | None = None, address: int | None = None,
              instruction: str | None = None, what: str = "fault",
              callee: str | None = None) -> "Ending":
        kind = "fatal" if what == "fatal" else "fault"
        return cls(kind, message=message, what=what, pc=pc, address=address, instruction=instruction,
                   callee=callee)

    @classmethod
    def fatal(cls, message: str, **where) -> "Ending":
        return cls.fault(message, what="fatal", **where)

    def counted(self, instructions: int) -> "Ending":
        return replace(self, instructions=instructions)

    def located(self, found: tuple[int | None, str | None, str]) -> "Ending":
        """The same ending with its uop and a location text. The message stays the bare reason,
        so a fatal error reads the same from a machine and from the semantics."""
        index, name, where = found
        return replace(self, uop_index=index, uop_name=name, location=where)

    def full_message(self) -> str:
        """The reason with the instruction (and the C function called) for error messages."""
        return self.message + self._where_detail()

    def _where_detail(self) -> str:
        text = f" at `{self.instruction.replace(chr(9), ' ')}`" if self.instruction else ""
        return text + (f" calling {self.callee}" if self.callee else "")


# ---------------------------------------------------------------------------------------------
# The Outcome.


@dataclass(frozen=True)
class ObjectState:
    ident: str
    type: str
    state: str                  # "live", "freelist" (deallocated to a CPython freelist), "freed"
    refcount: int | None
    immortal: bool
    value: str | None

    def describe(self) -> str:
        if self.state != "live":
            return f"{self.ident} {self.type} ({self.state})"
        rc = "immortal" if self.immortal else f"refcount {self.refcount}"
        val = f" = {self.value}" if self.value is not None else ""
        return f"{self.ident} {self.type}{val}, {rc}"


@dataclass(frozen=True, eq=False)
class Outcome:
    kind: str
    target: int | None = None           # tier1: bytecode index (in code units) to resume at
    side_exit_to: str | None = None     # side_exit: identity of the executor entered
    exit_index: int | None = None       # side_exit: which exit (of exit_from, else of the running executor)
    exit_from: str | None = None        # side_exit: identity of the executor whose exit was taken,
                                        # when it is not the running one (a chained executor's exit)
    message: str = ""                   # fatal / fault
    location: str | None = None
    instr_ptr: int | None = None        # frame->instr_ptr as a bytecode index
    stack_depth: int | None = None
    locals: tuple[str, ...] = ()
    stack: tuple[str, ...] = ()
    objects: tuple[ObjectState, ...] = ()
    statics: tuple[tuple[str, int], ...] = ()   # static objects whose refcount changed
    current_executor: str = "NULL"
    eval_breaker: int = 0
    exception: str | None = None        # type name of tstate->current_exception
    trace_run_counter: int | None = None   # tstate->interp->trace_run_counter (_MAKE_WARM)
    frame_note: str = ""                # why the frame could not be read, if it could not
    heap_problems: tuple[str, ...] = ()  # writes after free, broken freelists (process.check_heap)
    instructions: int | None = field(default=None)

    # -- comparison ---------------------------------------------------------------------------

    def exit_text(self) -> str:
        if self.kind == "tier1":
            return f"tier-1 target {self.target}"
        if self.kind == "error":
            return "error"
        if self.kind == "side_exit":
            of = f" of {self.exit_from}" if self.exit_from is not None else ""
            if self.exit_index is not None:
                via = f" (exit {self.exit_index}{of})"
            else:
                via = f" (from {self.exit_from})" if self.exit_from is not None else ""
            return f"side exit to {self.side_exit_to}{via}"
        return f"{self.kind}: {self.message}"

    def _key(self):
        return (self.kind, self.target, self.side_exit_to, self.exit_index, self.exit_from,
                self.message if self.kind in ("fatal", "fault") else "",
                self.instr_ptr, self.stack_depth, self.locals, self.stack, self.objects,
                self.statics, self.current_executor, self.eval_breaker, self.exception,
                self.trace_run_counter, self.frame_note, self.heap_problems)

    def __eq__(self, other):
        if not isinstance(other, Outcome):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def compare(self, other: "Outcome") -> list[str]:
        """Readable differences, ``self`` first: ``["local 2: refcount 3 vs 2", ...]``.

        Empty exactly when the two are equal (the instruction count is not compared).
        """
        if self._key() == other._key():
            return []           # every test below would pass: all they read is in the key
        out: list[str] = []
        a, b = self.exit_text(), other.exit_text()
        if a != b:
            out.append(f"exit: {a} vs {b}")
        for name in ("instr_ptr", "stack_depth", "current_executor", "eval_breaker", "exception",
                     "trace_run_counter", "frame_note"):
            x, y = getattr(self, name), getattr(other, name)
            if x != y:
                out.append(f"{name.replace('_', ' ')}: {x} vs {y}")
        objs_a = {o.ident: o for o in self.objects}
        objs_b = {o.ident: o for o in other.objects}
        reported: set[str] = set()
        for label, xs, ys in (("local", self.locals, other.locals), ("stack", self.stack, other.stack)):
            for i in range(max(len(xs), len(ys))):
                x = xs[i] if i < len(xs) else "(none)"
                y = ys[i] if i < len(ys) else "(none)"
                if x != y:
                    out.append(f"{label} {i}: {x} vs {y}")
                    continue
                ident = x.split(" ")[0]
                oa, ob = objs_a.get(ident), objs_b.get(ident)
                if oa is not None and ob is not None and oa != ob:
                    out.extend(f"{label} {i}: {d}" for d in _object_diffs(oa, ob))
                    reported.add(ident)
        for ident in sorted(objs_a.keys() | objs_b.keys(), key=_ident_order):
            if ident in reported:
                continue
            oa, ob = objs_a.get(ident), objs_b.get(ident)
            if oa is None or ob is None:
                have = oa or ob
                side = "only in the first" if oa is not None else "only in the second"
                out.append(f"object {ident}: {side} ({have.describe()})")
            elif oa != ob:
                out.extend(f"object {ident} ({oa.type}): {d}" for d in _object_diffs(oa, ob))
        for problem in self.heap_problems:
            if problem not in other.heap_problems:
                out.append(f"heap: {problem} (only in the first)")
        for problem in other.heap_problems:
            if problem not in self.heap_problems:
                out.append(f"heap: {problem} (only in the second)")
        sa, sb = dict(self.statics), dict(other.statics)
        for name in sorted(sa.keys() | sb.keys()):
            if sa.get(name) != sb.get(name):
                out.append(f"static {name}: refcount {_rc(sa.get(name))} vs {_rc(sb.get(name))}")
        return out

    # -- display ------------------------------------------------------------------------------

    def render(self) -> str:
        lines = [f"exit: {self.exit_text()}"]
        if self.location:
            lines.append(f"  at {self.location}")
        if self.frame_note:
            lines.append(f"frame: {self.frame_note}")
        else:
            lines.append(f"frame: instr_ptr {self.instr_ptr}, stack depth {self.stack_depth}")
        lines += [f"  local {i}: {s}" for i, s in enumerate(self.locals)]
        lines += [f"  stack {i}: {s}" for i, s in enumerate(self.stack)]
        lines.append(f"tstate: current_executor {self.current_executor}, "
                     f"eval_breaker {self.eval_breaker:#x}, exception {self.exception}, "
                     f"interp->trace_run_counter {self.trace_run_counter}")
        lines.append("heap:" if self.objects else "heap: (empty)")
        lines += [f"  {o.describe()}" for o in self.objects]
        lines += [f"static {n}: refcount {_rc(rc)}" for n, rc in self.statics]
        lines += [f"heap problem: {problem}" for problem in self.heap_problems]
        if self.instructions is not None:
            lines.append(f"instructions executed: {self.instructions}")
        return "\n".join(lines)


def _rc(rc: int | None) -> str:
    return "(absent)" if rc is None else f"{rc:#x}" if rc >= 1 << 31 else str(rc)


def _ident_order(ident: str):
    return (0, int(ident[1:])) if ident.startswith("#") and ident[1:].isdigit() else (1, ident)


def _object_diffs(a: ObjectState, b: ObjectState) -> list[str]:
    out = []
    if a.type != b.type:
        out.append(f"type {a.type} vs {b.type}")
    if a.state != b.state:
        out.append(f"{a.state} vs {b.state}")
    if a.refcount != b.refcount:
        out.append(f"refcount {a.refcount} vs {b.refcount}")
    if a.immortal != b.immortal:
        out.append(f"{'immortal' if a.immortal else 'mortal'} vs {'immortal' if b.immortal else 'mortal'}")
    if a.value != b.value:
        out.append(f"value {a.value} vs {b.value}")
    return out


# ---------------------------------------------------------------------------------------------
# Reading an Outcome out of a process.


class _Namer:
    """Object identities for one process: heap serials, symbol names, small ints."""

    def __init__(self, process):
        # No reference back to the process: the cache below is keyed weakly by it.
        self.mem, self.heap = process.mem, process.heap
        self.symbols = {addr: name for name, addr in process.symbols.items()}
        self.small_base = process.small_ints_base
        self.small_size = process.profile.sizeof("PyLongObject")
        kinds = {name: spec.kind for name, spec in process.profile.symbols.items()}
        self.statics = [(name, addr) for name, addr in sorted(process.symbols.items())
                        if kinds.get(name) == "data" and _looks_like_object(name)]
        self._slots = None
        self._type_by_addr, self.o = process._type_by_addr, process.o
        prof = process.profile
        off = prof.offset
        # What build_outcome reads besides the objects: the frame, the thread state.
        self.at = SimpleNamespace(
            current_frame=off("PyThreadState", "current_frame"),
            current_exception=off("PyThreadState", "current_exception"),
            current_executor=off("PyThreadState", "current_executor"),
            eval_breaker=off("PyThreadState", "eval_breaker"), interp=off("PyThreadState", "interp"),
            trace_run_counter=off("PyInterpreterState", "trace_run_counter"),
            f_executable=off("_PyInterpreterFrame", "f_executable"),
            instr_ptr=off("_PyInterpreterFrame", "instr_ptr"),
            localsplus=off("_PyInterpreterFrame", "localsplus"),
            stackpointer=off("_PyInterpreterFrame", "stackpointer"),
            co_nlocalsplus=off("PyCodeObject", "co_nlocalsplus"),
            co_code_adaptive=off("PyCodeObject", "co_code_adaptive"),
            immortal_refcnt=prof.const("_Py_IMMORTAL_INITIAL_REFCNT"))
        # _PyExecutorObject.exits[k]: (offset of exits, sizeof _PyExitData, its temperature's
        # and executor's offsets)
        self.exit_layout = (prof.offset("_PyExecutorObject", "exits"), prof.sizeof("_PyExitData"),
                            prof.offset("_PyExitData", "temperature.value_and_backoff"),
                            prof.offset("_PyExitData", "executor"))
        # What a live object's state is read from -> its ObjectState: see known_state.
        self._known: dict[tuple, ObjectState] = {}
        # Per Outcome (reset by begin): address -> value_key of the object there.
        self._value_keys: dict[int, tuple | None] = {}
        self._none = process.symbols.get("_Py_NoneStruct")
        self._bools = {process.symbols.get(name) for name in ("_Py_TrueStruct", "_Py_FalseStruct")}
        o = self.o
        # Per type: the end of the fixed fields read_object reads, relative to the object.
        self._fixed_end = {"float": o.fval + 8, "int": o.lv_tag + 8, "str": o.str_data,
                           "range_iterator": max(o.range_start, o.range_step, o.range_len) + 8,
                           "list_iterator": max(o.li_index, o.li_seq) + 8,
                           "tuple_iterator": max(o.ti_index, o.ti_seq) + 8,
                           "tuple": o.tuple_items, "list": max(o.ob_size, o.list_items, o.list_allocated) + 8,
                           "uop_executor": self.exit_layout[0]}
        self._head = max(o.type + 8, o.refcnt + 4)     # ob_refcnt and ob_type, read for every type
        self._fixed_end = {name: max(end, self._head) for name, end in self._fixed_end.items()}
        # _PyExecutorObject: the offsets of exit_count and of the bytes holding vm_data.valid
        # and vm_data.warm (a bit and a _Bool), what _executor_text reads besides the exits.
        self._executor_fields = (prof.offset("_PyExecutorObject", "exit_count"),
                                 prof.offset("_PyExecutorObject", "vm_data.valid"),
                                 prof.offset("_PyExecutorObject", "vm_data.warm") + 1)

    def begin(self) -> None:
        """A new Outcome is read: memory may have changed since the last one."""
        self._value_keys = {}

    def known_state(self, process, block) -> "ObjectState | None":
        """The ObjectState of the live object in ``block``, memoised by everything _object_state
        reads to make it: the block's bytes (its type word, refcount and fields, a str's
        characters, an int's digits, a tuple's items, an executor's exits), and what lies
        outside them: the bytes of the objects a tuple's or list's items point to (see
        value_key) and a list's item array; the names of an executor's exit targets. The same
        inputs read the same in every Outcome. None (read it afresh) when the block's type word
        disagrees with the heap's books, when something read would lie outside what the key
        holds (a corrupt size, a nested tuple), or for the types not handled here."""
        name = block.type
        end = self._fixed_end.get(name)
        if end is None:
            return None
        op, o = block.address, self.o
        data = self.mem.read(op, block.end - op)
        n = len(data)
        if name in _SELF_CONTAINED:
            # The block's bytes are the key; an entry is stored under them only once the checks
            # below have passed, so a hit needs none.
            key = (block.serial, op, data)
            state = self._known.get(key)
            if state is None:
                if n < end or self._type_by_addr.get(
                        int.from_bytes(data[o.type:o.type + 8], "little")) != name:
                    return None
                if (name == "int" or name == "str") and not self._leaf_inside(name, data):
                    return None
                state = self._remember(key, _object_state(process, self, block, "live"))
            if name in _VALUE_TYPES:
                self._value_keys[op] = (op, data)   # value_key(op), for a tuple or list holding it
            return state
        if n < end or self._type_by_addr.get(int.from_bytes(data[o.type:o.type + 8], "little")) \
                != name:
            return None
        if name == "tuple":
            count = int.from_bytes(data[o.ob_size:o.ob_size + 8], "little", signed=True)
            if not 0 <= count <= 1 << 20 or o.tuple_items + 8 * count > n:
                return None
            items = self._item_keys(data, o.tuple_items, count)
            if items is None:
                return None
            key = (block.serial, op, data, items)
        elif name == "list":
            count = int.from_bytes(data[o.ob_size:o.ob_size + 8], "little", signed=True)
            array = b""
            if count:
                if not 0 < count <= 1 << 20:
                    return None
                at = int.from_bytes(data[o.list_items:o.list_items + 8], "little")
                try:
                    array = self.mem.read(at, 8 * count)
                except RefjitError:
                    return None
            items = self._item_keys(array, 0, count)
            if items is None:
                return None
            key = (block.serial, op, data, array, items)
        else:   # uop_executor: its exits lie inside the block; their targets are named
            at, size, _temperature, target = self.exit_layout
            count_at, vm_at, vm_end = self._executor_fields
            count = int.from_bytes(data[count_at:count_at + 4], "little")
            exits_end = at + size * count
            if exits_end > n:
                return None
            ident = self.ident
            names = tuple(ident(int.from_bytes(data[x:x + 8], "little"))
                          for x in range(at + target, exits_end, size))
            # Only the fields read: jit_code and the other fields linking sets differ between a
            # machine run and the semantics, with the same state.
            key = (block.serial, op, data[:self._head], data[vm_at:vm_end],
                   data[count_at:count_at + 4], data[at:exits_end], names)
        state = self._known.get(key)
        if state is None:
            state = self._remember(key, _object_state(process, self, block, "live"))
        return state

    def _remember(self, key: tuple, state: ObjectState) -> ObjectState:
        if len(self._known) >= MAX_KNOWN:
            self._known.clear()
        self._known[key] = state
        return state

    def _leaf_inside(self, name: str, data: bytes) -> bool:
        """Whether an int's digits or a str's characters lie inside ``data`` (the object's bytes
        from its address on), its fixed fields being known to."""
        o, n = self.o, len(data)
        if name == "int":
            return o.digits + 4 * max(1, int.from_bytes(data[o.lv_tag:o.lv_tag + 8], "little") >> 3) <= n
        return 0 <= int.from_bytes(data[o.str_length:o.str_length + 8], "little", signed=True) \
            <= n - o.str_data

    def _item_keys(self, data: bytes, at: int, count: int) -> tuple | None:
        """value_key of each of the ``count`` item pointers at ``data[at:]`` (None: one has none)."""
        keys = []
        cache, value_key = self._value_keys, self.value_key
        for x in struct.unpack_from(f"<{count}Q", data, at):
            k = cache.get(x, False)
            if k is False:
                k = cache[x] = value_key(x)
            if k is None:
                return None
            keys.append(k)
        return tuple(keys)

    def value_key(self, x: int) -> tuple | None:
        """``(x, bytes)`` holding everything ``to_python(x)`` reads, as an item of a tuple or
        list: its type word and, for an int, bool, float or str, its value's fields. ``bytes``
        runs from ``x`` to the end of its heap block, or over a small int, bool or None. None
        for what cannot be bounded that way (a nested tuple or list, any other static)."""
        heap = self.heap
        if heap.owns(x):
            block = heap.block_at(x)
            if block is None:
                return None
            end = block.end
        elif x == self._none:
            end = x + 16
        elif x in self._bools or (0 <= x - self.small_base < 262 * self.small_size
                                  and (x - self.small_base) % self.small_size == 0):
            end = x + self.small_size
        else:
            return None
        o = self.o
        if end - x < o.type + 8:
            return None
        try:
            data = self.mem.read(x, end - x)
        except RefjitError:
            return None
        name = self._type_by_addr.get(int.from_bytes(data[o.type:o.type + 8], "little"))
        if name == "tuple" or name == "list":
            return None                 # to_python would read its items too
        if name == "int" or name == "bool":
            fixed = o.lv_tag + 8 <= len(data) and self._leaf_inside("int", data)
        elif name == "float":
            fixed = o.fval + 8 <= len(data)
        elif name == "str":
            fixed = o.str_data <= len(data) and self._leaf_inside("str", data)
        else:
            fixed = True                # None, or no value: the type word decides
        return (x, data) if fixed else None

    def changed_statics(self, immortal_refcnt: int) -> list[tuple[str, int]]:
        """Static objects whose 32-bit refcount is no longer the immortal initial value."""
        mem = self.mem
        if self._slots is None:        # (name, 32-bit view of its region, index of ob_refcnt)
            self._slots = []
            for name, addr in self.statics:
                region = mem.region_at(addr, 4)
                self._slots.append((name, region.view.cast("I"), (addr - region.base) // 4))
        out = [(name, words[i]) for name, words, i in self._slots if words[i] != immortal_refcnt]
        # The 262 small ints are contiguous: read their refcounts through one strided view.
        region = mem.region_at(self.small_base, 262 * self.small_size)
        words = region.view.cast("I")
        first = (self.small_base - region.base) // 4
        step = self.small_size // 4
        refcounts = words[first:first + 262 * step:step].tolist()
        if refcounts.count(immortal_refcnt) != 262:     # (usually all are: no loop)
            for i, rc in enumerate(refcounts):
                if rc != immortal_refcnt:
                    out.append((f"small_int[{i - 5}]", rc))
        return out

    def ident(self, addr: int) -> str:
        if addr == 0:
            return "NULL"
        heap = self.heap
        if heap.owns(addr):
            block = heap.block_at(addr)
            if block is None:
                return f"heap?{addr:#x}"
            off = addr - block.address
            return f"#{block.serial}" + (f"{off:+#x}" if off else "")
        name = self.symbols.get(addr)
        if name is not None:
            return name
        i, off = divmod(addr - self.small_base, self.small_size)
        if 0 <= i < 262 and off == 0:
            return f"small_int[{i - 5}]"
        region = self.mem.name_of(addr)
        return f"{region}+{addr - self.mem.region(region).base:#x}" if region \
            else f"{addr:#x}"


_namers: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _namer(process) -> _Namer:
    n = _namers.get(process)
    if n is None:
        n = _namers[process] = _Namer(process)
    return n


def _looks_like_object(name: str) -> bool:
    # Data symbols that are PyObjects (type objects, the None/True/False singletons). The rest are
    # pointers (PyExc_* hold the address of the exception type), arrays and tables.
    return name.endswith(("_Type", "Struct"))


def render_stackref(bits: int, ident) -> str:
    """``#3 owned``, ``small_int[0] borrowed``, ``NULL``, ``tagged int 5``."""
    if bits == 1:
        return "NULL"
    if bits & 3 == 3:
        v = bits - (1 << 64) if bits >> 63 else bits
        return f"tagged int {v >> 2}"
    return f"{ident(bits & ~1)} {'borrowed' if bits & 1 else 'owned'}"


def _stackrefs(mem, at: int, count: int, ident) -> tuple[str, ...]:
    """render_stackref of the ``count`` stack refs from ``at``, read at once."""
    if count <= 0:
        return ()
    try:
        words = struct.unpack(f"<{count}Q", mem.read(at, 8 * count))
    except RefjitError:     # they run out of a region: one by one, failing where a slot does
        words = [mem.u64(at + 8 * i) for i in range(count)]
    return tuple(render_stackref(w, ident) for w in words)


def build_outcome(process, ending: Ending, *, frame: int, tstate: int,
                  executor: int | None = None) -> Outcome:
    """Read the Outcome of a run that ended as ``ending`` out of ``process``.

    ``frame`` is the frame the run was entered with (used if ``tstate->current_frame`` is NULL);
    ``executor`` is the executor the run was entered in from tier 1. A side exit names the exit
    it took among the exits of the executor whose ``_EXIT_TRACE`` ran (``ending.from_executor``,
    else ``executor``) and, when that is not ``executor`` (the run followed a chain), names that
    executor too, so every side says "exit k of executor E" the same way.
    """
    mem = process.mem
    namer = _namer(process)
    namer.begin()
    ident = namer.ident
    at = namer.at

    current_frame = mem.u64(tstate + at.current_frame)
    f = current_frame or frame
    fields: dict = {}
    try:
        code = mem.u64(f + at.f_executable) & ~1
        nlocals = mem.i32(code + at.co_nlocalsplus)
        bytecode = code + at.co_code_adaptive
        ip = mem.u64(f + at.instr_ptr)
        base = f + at.localsplus
        sp = ending.stack_pointer if ending.stack_pointer is not None \
            else mem.u64(f + at.stackpointer)
        fields["instr_ptr"] = (ip - bytecode) // 2
        if (sp - base) % 8 or not 0 <= (sp - base) // 8 - nlocals <= 4096:
            fields["frame_note"] = f"stackpointer {sp:#x} is not a stack slot of the frame"
            depth = 0
        else:
            depth = (sp - base) // 8 - nlocals
        fields["stack_depth"] = depth
        fields["locals"] = _stackrefs(mem, base, nlocals, ident)
        fields["stack"] = _stackrefs(mem, base + 8 * nlocals, depth, ident)
    except RefjitError as err:
        fields["frame_note"] = f"frame at {f:#x} cannot be read: {err.why}"

    if ending.kind == "tier1":
        try:
            fields["target"] = _bytecode_index(mem, at, f, ending.returned)
        except RefjitError:
            fields["target"] = None         # the frame note already says why
    elif ending.kind == "side_exit":
        fields["side_exit_to"] = ident(ending.executor)
        # The exit belongs to the executor whose _EXIT_TRACE ran (Python/bytecodes.c: `exit`
        # is operand0 of that executor's uop), not necessarily to the one the run started in.
        source = ending.from_executor if ending.from_executor is not None else executor
        fields["exit_index"] = ending.exit_index if ending.exit_index is not None \
            else _exit_index(process, source, ending.executor)
        if source is not None and source != executor:
            fields["exit_from"] = ident(source)
    elif ending.kind in ("fatal", "fault"):
        fields["message"] = ending.message
        fields["location"] = ending.location
        if ending.location and (ending.instruction or ending.callee):
            fields["location"] = f"{ending.location},{ending._where_detail()}"

    # Every heap block in allocation order, which is the order of their names (#serial).
    objects = []
    for block in process.heap.in_order():
        state = block.state                     # "live", "freelist" or "freed"
        known = namer.known_state(process, block) if state == "live" else None
        objects.append(known or _object_state(process, namer, block, state))

    statics = namer.changed_statics(at.immortal_refcnt)

    exc = mem.u64(tstate + at.current_exception)
    try:
        interp = mem.u64(tstate + at.interp)
        run_counter = mem.u64(interp + at.trace_run_counter)
    except RefjitError:
        run_counter = None
    return Outcome(
        kind=ending.kind,
        objects=tuple(objects),
        statics=tuple(statics),
        current_executor=ident(mem.u64(tstate + at.current_executor)),
        eval_breaker=mem.u64(tstate + at.eval_breaker),
        exception=_type_name(process, exc) if exc else None,
        trace_run_counter=run_counter,
        heap_problems=tuple(process.check_heap()),
        instructions=ending.instructions,
        **fields,
    )


def _bytecode_index(mem, at, frame: int, pointer: int) -> int | None:
    code = mem.u64(frame + at.f_executable) & ~1
    delta = pointer - (code + at.co_code_adaptive)
    return delta // 2 if delta % 2 == 0 else None


def _exit_index(process, executor: int | None, target: int) -> int | None:
    if executor is None:
        return None
    mem, prof = process.mem, process.profile
    count = mem.u32(executor + prof.offset("_PyExecutorObject", "exit_count"))
    exits = executor + prof.offset("_PyExecutorObject", "exits")
    size = prof.sizeof("_PyExitData")
    for k in range(count):
        if mem.u64(exits + k * size + prof.offset("_PyExitData", "executor")) == target:
            return k
    return None


def _type_name(process, obj: int) -> str:
    try:
        return process.read_object(obj).type
    except RefjitError as err:
        return f"(unreadable object at {obj:#x}: {err.why})"


def _object_state(process, namer: _Namer, block, state: str) -> ObjectState:
    ident = f"#{block.serial}"
    if state != "live" or block.type == "mem":
        return ObjectState(ident, block.type, state, None, False, None)
    try:
        view = process.read_object(block.address, block=block)
    except RefjitError as err:
        return ObjectState(ident, block.type, state, None, False, f"(unreadable: {err.why})")
    value = view.value
    if view.type == "uop_executor":
        return ObjectState(ident, view.type, state, view.refcnt, bool(view.immortal),
                           _executor_text(process, namer, block.address))
    text = None if value is None and view.type != "NoneType" else _value_text(value, namer)
    if view.type == "list":
        # The capacity is observable too (list_resize's over-allocation policy).
        text = f"{text} allocated={view.extra.get('allocated')}"
    return ObjectState(ident, view.type, state, view.refcnt, bool(view.immortal), text)


def _executor_text(process, namer: _Namer, op: int) -> str:
    """What a trace can change in an executor: vm_data.valid/warm and each exit's temperature
    (_EXIT_TRACE's backoff counter) and linked executor."""
    try:
        e = process.view("_PyExecutorObject", op)
        mem, at, size, temperature, executor = process.mem, *namer.exit_layout
        exits = []
        for k in range(e.exit_count):   # exits[k].temperature and .executor, read directly
            x = op + at + k * size
            exits.append(f"{mem.u16(x + temperature):#x}->{namer.ident(mem.u64(x + executor))}")
        return f"valid={e['vm_data.valid']} warm={e['vm_data.warm']} exits=[{', '.join(exits)}]"
    except RefjitError as err:
        return f"(unreadable executor: {err.why})"


def _value_text(value, namer: _Namer) -> str:
    if isinstance(value, float):
        return float.hex(value) if value == value else "nan"
    try:
        return repr(value)
    except ValueError:
        # Python refuses decimal text for an int of more than 4,300 digits (int_max_str_digits),
        # alone or inside a tuple or list: such an int is written in hex, which has no limit.
        return _text_with_hex_ints(value)


def _text_with_hex_ints(value) -> str:
    if value.__class__ is int:
        try:
            return repr(value)
        except ValueError:
            return hex(value)
    if isinstance(value, tuple):
        inner = ", ".join(map(_text_with_hex_ints, value))
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list):
        return f"[{', '.join(map(_text_with_hex_ints, value))}]"
    return repr(value)
