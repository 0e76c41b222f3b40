"""The Outcome: read back from a process after a run, compared field by field, readable diffs.

These tests build the end state directly with the runtime's object API (as the reference
semantics does), so they check the Outcome on its own; test_emulator.py checks that the machines
produce the same Outcomes from real code.
"""

from __future__ import annotations

import pytest

from refjit.errors import RefjitError
from refjit.outcome import Ending, Outcome, build_outcome, render_stackref
from refjit.profile import load_profile
from refjit.runtime.objects import stackref_borrowed, stackref_owned, stackref_tag_int
from refjit.runtime.process import Process


def make(arch="x86_64", *, extra_ref=False, value=1000):
    p = Process(load_profile("3.14", arch))
    code = p.new_code(b"\0\0" * 20, nlocals=3, stacksize=4)
    a = p.new_int(value)
    b = p.new_float(2.5)
    if extra_ref:
        p.incref(a)
    frame = p.new_frame(code, 3, [stackref_owned(a), stackref_borrowed(p.small_int(7)), 1],
                        [stackref_owned(b), stackref_tag_int(-3)], instr_index=4)
    return p, code, frame, a, b


def outcome(p, frame, ending):
    return build_outcome(p, ending, frame=frame, tstate=p.tstate)


def test_fields_of_a_tier1_return():
    p, code, frame, a, b = make()
    out = outcome(p, frame, Ending.returned_value(p.bytecode_address(code, 14)).counted(99))
    sa, sb = p.heap.block(a).serial, p.heap.block(b).serial
    assert out.kind == "tier1" and out.target == 14 and out.instr_ptr == 4
    assert out.locals == (f"#{sa} owned", "small_int[7] borrowed", "NULL")
    assert out.stack == (f"#{sb} owned", "tagged int -3") and out.stack_depth == 2
    objs = {o.ident: o for o in out.objects}
    assert (objs[f"#{sa}"].type, objs[f"#{sa}"].value, objs[f"#{sa}"].refcount) == ("int", "1000", 1)
    assert (objs[f"#{sb}"].type, objs[f"#{sb}"].value) == ("float", (2.5).hex())
    assert out.current_executor == "NULL" and out.eval_breaker == 0 and out.exception is None
    assert out.instructions == 99 and out.statics == ()


def test_same_state_same_outcome_on_both_isas_and_instruction_count_ignored():
    x = make("x86_64")
    y = make("aarch64")
    ox = outcome(x[0], x[2], Ending.returned_value(x[0].bytecode_address(x[1], 3)).counted(10))
    oy = outcome(y[0], y[2], Ending.returned_value(y[0].bytecode_address(y[1], 3)).counted(12))
    assert ox == oy and ox.compare(oy) == []
    assert hash(ox) == hash(oy)


def test_refcount_difference_reads_as_the_issue_says():
    p1, c1, f1, *_ = make()
    p2, c2, f2, *_ = make(extra_ref=True)
    o1 = outcome(p1, f1, Ending.returned_value(p1.bytecode_address(c1, 14)))
    o2 = outcome(p2, f2, Ending.returned_value(0))
    diffs = o2.compare(o1)
    assert "exit: error vs tier-1 target 14" in diffs
    assert "local 0: refcount 2 vs 1" in diffs
    assert o1 != o2


def test_value_and_slot_differences():
    p1, c1, f1, *_ = make(value=1000)
    p2, c2, f2, *_ = make(value=1001)
    p2.mem.set_u64(p2.frame_local_address(f2, 1), p2.small_int(7))   # owned instead of borrowed
    d = outcome(p1, f1, Ending.returned_value(0)).compare(outcome(p2, f2, Ending.returned_value(0)))
    assert "local 0: value 1000 vs 1001" in d
    assert "local 1: small_int[7] borrowed vs small_int[7] owned" in d


def test_freed_freelist_and_leaked_objects():
    p, code, frame, a, b = make()
    p.mem.set_u64(p.frame_local_address(frame, 0), 1)      # the local gives up its reference
    p.decref(a)                                            # compact int -> int freelist
    big = p.new_int(2**70)                                 # a leak nobody references
    p.decref(big)                                          # multi-digit -> freed
    out = outcome(p, frame, Ending.returned_value(0))
    states = {o.ident: o.state for o in out.objects}
    assert states[f"#{p.heap.block(a).serial}"] == "freelist"
    assert states[f"#{p.heap.block(big).serial}"] == "freed"
    assert out.locals[0] == "NULL"


def test_immortal_refcount_written_shows_as_static():
    p1, c1, f1, *_ = make()
    p2, c2, f2, *_ = make()
    none = p2.symbols["_Py_NoneStruct"]
    p2.mem.set_u32(none, p2.mem.u32(none) + 1)             # an incref that ignored immortality
    p2.mem.set_u32(p2.small_int(7), 0xC0000000 - 1)        # a decref that ignored it
    o1, o2 = outcome(p1, f1, Ending.returned_value(0)), outcome(p2, f2, Ending.returned_value(0))
    assert dict(o2.statics) == {"_Py_NoneStruct": 0xC0000001, "small_int[7]": 0xBFFFFFFF}
    d = o1.compare(o2)
    assert "static _Py_NoneStruct: refcount (absent) vs 0xc0000001" in d
    assert "static small_int[7]: refcount (absent) vs 0xbfffffff" in d


def test_exception_and_thread_state():
    p, code, frame, *_ = make()
    p.set_exception("ZeroDivisionError", "division by zero")
    p.view("PyThreadState", p.tstate).eval_breaker = 0x80
    out = outcome(p, frame, Ending.returned_value(0))
    assert out.kind == "error" and out.exception == "ZeroDivisionError" and out.eval_breaker == 0x80


def test_side_exit_names_executor_and_exit():
    p, code, frame, *_ = make()
    running = p.new_executor([5, 9, 11])
    other = p.new_executor([2])
    p.mem.set_u64(p.exit_address(running, 1) + p.profile.offset("_PyExitData", "executor"), other)
    p.view("PyThreadState", p.tstate).current_executor = other
    out = build_outcome(p, Ending.side_exit(other), frame=frame, tstate=p.tstate, executor=running)
    ident = f"#{p.heap.block(other).serial}"
    assert (out.kind, out.side_exit_to, out.exit_index) == ("side_exit", ident, 1)
    assert out.current_executor == ident
    assert out.exit_text() == f"side exit to {ident} (exit 1)"


def test_side_exit_of_a_chained_executor_names_that_executor_and_its_exit():
    """_EXIT_TRACE's exit is operand0 of the executor whose uop ran: after the run followed a
    chain (running -> side), a side exit out of `side` is exit k of `side`, and says so."""
    p, code, frame, *_ = make()
    running = p.new_executor([5])
    side = p.new_executor([2, 3])
    onward = p.new_executor([])
    link = p.profile.offset("_PyExitData", "executor")
    p.mem.set_u64(p.exit_address(running, 0) + link, side)
    p.mem.set_u64(p.exit_address(side, 1) + link, onward)
    p.view("PyThreadState", p.tstate).current_executor = onward
    ident = {e: f"#{p.heap.block(e).serial}" for e in (running, side, onward)}

    # the machines: the exit is found among the exits of the executor that jumped
    found = build_outcome(p, Ending.side_exit(onward, from_executor=side), frame=frame,
                          tstate=p.tstate, executor=running)
    assert (found.side_exit_to, found.exit_index, found.exit_from) == (ident[onward], 1, ident[side])
    assert found.exit_text() == f"side exit to {ident[onward]} (exit 1 of {ident[side]})"
    # the semantics: it knows the exit index from the exit's address
    told = build_outcome(p, Ending.side_exit(onward, 1, from_executor=side), frame=frame,
                         tstate=p.tstate, executor=running)
    assert told == found and not told.compare(found)
    # the running executor has no exit to `onward`: looking there (the old reading) names none
    old = build_outcome(p, Ending.side_exit(onward), frame=frame, tstate=p.tstate, executor=running)
    assert (old.exit_index, old.exit_from) == (None, None)
    assert old != found and found.compare(old) == [
        f"exit: side exit to {ident[onward]} (exit 1 of {ident[side]}) vs side exit to {ident[onward]}"]
    # an exit of the running executor itself keeps the short form
    own = build_outcome(p, Ending.side_exit(side, from_executor=running), frame=frame,
                        tstate=p.tstate, executor=running)
    assert (own.exit_index, own.exit_from) == (0, None)


def test_fault_outcome_carries_message_and_location():
    p, code, frame, *_ = make()
    e = Ending.fault("read of 8 bytes at unmapped address 0x8", pc=0x1000, address=8,
                     instruction="movq 0x8(%rax), %rax").located((3, "_GUARD_TYPE_VERSION",
                                                                 "x86_64 uop 3 _GUARD_TYPE_VERSION"))
    out = outcome(p, frame, e)
    assert out.kind == "fault" and out.message == "read of 8 bytes at unmapped address 0x8"
    assert out.location == "x86_64 uop 3 _GUARD_TYPE_VERSION, at `movq 0x8(%rax), %rax`"
    assert "uop 3 _GUARD_TYPE_VERSION" in out.render()


def test_fatal_error_reads_the_same_from_a_machine_and_the_semantics():
    # The machine knows the calling instruction, the semantics only the uop: the location
    # differs, the Outcome does not.
    p1, c1, f1, *_ = make()
    p2, c2, f2, *_ = make()
    text = "Fatal Python error: _JIT_ENTRY: Executor should never reach this point"
    machine = Ending.fatal(text, pc=0x1000, instruction="callq *0x10(%rip)").located(
        (30, "_FATAL_ERROR", "x86_64 uop 30 _FATAL_ERROR, pc 0x1000 (jit+0x1000)"))
    semantics = Ending.fatal(text).located((30, "_FATAL_ERROR", "uop 30 _FATAL_ERROR"))
    o1, o2 = outcome(p1, f1, machine), outcome(p2, f2, semantics)
    assert o1 == o2 and o1.compare(o2) == [] and o1.location != o2.location


def test_unreadable_frame_is_a_note_not_a_crash():
    p, code, frame, *_ = make()
    p.view("_PyInterpreterFrame", frame).stackpointer = 0x1234
    out = outcome(p, frame, Ending.returned_value(0))
    assert "stackpointer 0x1234" in out.frame_note and out.stack == ()
    p.view("PyThreadState", p.tstate).current_frame = 0xDEAD0000
    out = outcome(p, frame, Ending.returned_value(p.bytecode_address(code, 1)))
    assert "cannot be read" in out.frame_note and out.target is None


def test_render_stackref_tags():
    names = {0x1000: "#1"}.get
    assert render_stackref(1, names) == "NULL"
    assert render_stackref(0x1000, names) == "#1 owned"
    assert render_stackref(0x1001, names) == "#1 borrowed"
    assert render_stackref(stackref_tag_int(5), names) == "tagged int 5"
    assert render_stackref(stackref_tag_int(-1), names) == "tagged int -1"


def test_unknown_ending_kind_is_refused():
    with pytest.raises(RefjitError, match="unknown ending kind"):
        Ending("exploded")


def test_render_is_readable():
    p, code, frame, a, b = make()
    text = outcome(p, frame, Ending.returned_value(p.bytecode_address(code, 2))).render()
    assert text.splitlines()[0] == "exit: tier-1 target 2"
    assert "local 1: small_int[7] borrowed" in text and "int = 1000, refcount 1" in text
    assert isinstance(Outcome(kind="error").render(), str)


def test_executor_state_and_trace_run_counter_are_part_of_the_outcome():
    p1, c1, f1, *_ = make()
    p2, c2, f2, *_ = make()
    outs = []
    for p, f in ((p1, f1), (p2, f2)):
        ex = p.new_executor([5, 9])
        outs.append((p, f, ex))
    p2, f2, ex2 = outs[1]
    # _EXIT_TRACE advancing exit 1's backoff counter, and _MAKE_WARM counting down
    e = p2.view("_PyExecutorObject", ex2)
    e.exits[1].temperature = e.exits[1].temperature - 16
    interp = p2.view("PyThreadState", p2.tstate).interp
    view = p2.view("PyInterpreterState", interp)
    view.trace_run_counter = view.trace_run_counter - 1
    o1 = outcome(outs[0][0], outs[0][1], Ending.returned_value(0))
    o2 = outcome(p2, f2, Ending.returned_value(0))
    ident = f"#{p2.heap.block(ex2).serial}"
    mine = [o for o in o1.objects if o.ident == ident][0]
    assert mine.value.startswith("valid=1 warm=1 exits=[") and "->NULL" in mine.value
    diffs = o1.compare(o2)
    assert any(d.startswith(f"object {ident} (uop_executor): value ") for d in diffs)
    assert f"trace run counter: {o1.trace_run_counter} vs {o1.trace_run_counter - 1}" in diffs


def test_list_capacity_is_observable():
    p, code, frame, *_ = make()
    lst = p.new_list([p.small_int(1)], allocated=4)
    out = outcome(p, frame, Ending.returned_value(0))
    assert [o.value for o in out.objects if o.ident == f"#{p.heap.block(lst).serial}"] == ["[1] allocated=4"]


def test_write_after_free_is_reported():
    p1, c1, f1, *_ = make()
    p2, c2, f2, a2, _ = make()
    big = p2.new_int(2**70)
    p2.decref(big)                                         # freed and poisoned
    p2.mem.set_u32(big, 7)                                 # a stale pointer writes into it
    big1 = p1.new_int(2**70)
    p1.decref(big1)
    o1, o2 = outcome(p1, f1, Ending.returned_value(0)), outcome(p2, f2, Ending.returned_value(0))
    assert o1.heap_problems == () and len(o2.heap_problems) == 1
    assert "write after free" in o2.heap_problems[0]
    assert any(d.startswith("heap: write after free") for d in o1.compare(o2))


def test_an_int_too_long_for_decimal_text_reads_in_hex():
    # 100000 << 100000 (what hypothesis found a _BINARY_OP can make) has ~30,000 digits: Python
    # refuses its decimal text, so the Outcome writes it, alone or inside a tuple, in hex.
    big = 100000 << 100000
    p, code, frame, *_ = make()
    a = p.new_int(big)
    t = p.new_tuple([a, p.small_int(3)])
    out = outcome(p, frame, Ending.returned_value(0))
    values = {o.ident: o.value for o in out.objects}
    assert values[f"#{p.heap.block(a).serial}"] == hex(big)
    assert values[f"#{p.heap.block(t).serial}"] == f"({hex(big)}, 3)"


def test_memoised_object_states_follow_every_byte_they_are_read_from():
    """build_outcome memoises a live object's state by what it is read from (its block, the
    objects a tuple's or list's items point to, a list's item array, an executor's exit
    targets): a change in any of them must show in the next Outcome, as the host Python's own
    text of the value says, and the memo must give what reading afresh gives."""
    from refjit.outcome import _namer, _object_state

    p, code, frame, *_ = make()
    o = p.o
    s, f, big = p.new_str("ab"), p.new_float(2.5), p.new_int(10**12)
    t = p.new_tuple([s, f, big, p.none, p.new_bool(True), p.small_int(3)])
    lst = p.new_list([p.small_int(1), s])
    it = p.new_list_iter(lst)
    r = p.new_range_iter(0, 10, 2)
    ex, other = p.new_executor([5, 9]), p.new_executor([])

    def states():
        out = outcome(p, frame, Ending.returned_value(0))
        by = {x.ident: x for x in out.objects}
        namer = _namer(p)
        for x in (t, lst, it, r, ex, s, f, big):       # the memo agrees with a fresh reading
            block = p.heap.block(x)
            assert by[f"#{block.serial}"] == _object_state(p, namer, block, "live")
        return {x: by[f"#{p.heap.block(x).serial}"].value for x in (t, lst, it, r, ex)}

    first = states()
    assert first[t] == repr(("ab", 2.5, 10**12, None, True, 3))
    assert first[lst] == repr([1, "ab"]) + " allocated=2"
    assert first[it] == repr((0, lst)) and first[r] == repr((0, 2, 5))
    p.mem.set_u8(s + o.str_data, ord("z"))              # an item's bytes, outside the tuple
    p.mem.set_f64(f + o.fval, -0.5)
    assert states()[t] == repr(("zb", -0.5, 10**12, None, True, 3))
    assert states()[lst] == repr([1, "zb"]) + " allocated=2"
    arr = p.mem.u64(lst + o.list_items)                 # the list's array, outside the list
    p.mem.set_u64(arr, p.small_int(2))
    assert states()[lst] == repr([2, "zb"]) + " allocated=2"
    three = p.small_int(3)                              # a static item's value (a stray store)
    p.mem.set_u32(three + o.digits, 4)
    assert states()[t] == repr(("zb", -0.5, 10**12, None, True, 4))
    p.mem.set_u32(three + o.digits, 3)
    p.mem.set_u64(p.exit_address(ex, 1) + p.profile.offset("_PyExitData", "executor"), other)
    assert states()[ex].endswith(f"->#{p.heap.block(other).serial}]")
    p.mem.set_i64(it + o.li_index, 1)
    assert states()[it] == repr((1, lst))
