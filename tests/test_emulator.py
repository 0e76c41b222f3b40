"""The Unicorn machines run hand-written code against the emulated CPython process (issue 3).

Each program is a tiny shim with CPython's contract (save the C callee-saved registers, move
``frame, stack_pointer, tstate`` to the pinned registers, call the first "uop", restore, return)
followed by hand-written "uops" in the style of the stencils: reading a local, PyStackRef_DUP,
Py_INCREF/Py_DECREF with and without immortality, PyStackRef_CLOSE calling ``_Py_Dealloc`` on a
last reference, ``_PyLong_Add``, and GOTO_TIER_ONE / the error exit. They are assembled by the
project's own assemblers, run on both ISAs, and every expectation comes from CPython's rules or
from the host Python (values, small-int identity), never from the machine itself. The two ISAs
must produce the same Outcome.
"""

from __future__ import annotations

import re
import struct

import pytest

from refjit.asmtext import assemble_lines
from refjit.disasm import disassemble_one
from refjit.emulator import Machine, UopMap
from refjit.errors import EmulationError
from refjit.outcome import Outcome
from refjit.profile import load_profile
from refjit.runtime.objects import stackref_borrowed, stackref_owned
from refjit.runtime.process import Process

ARCHES = ("x86_64", "aarch64")
NLOCALS = 6
TARGET = 7          # the tier-1 index the exit returns to
ERROR_INDEX = 9     # the tier-1 index the error exit stores in frame->instr_ptr

# --------------------------------------------------------------------------------------------
# Programs: a label line is "name:"; "{name}" in an operand is the address of that label.


def offsets(arch):
    p = load_profile("3.14", arch)
    return {
        "localsplus": p.offset("_PyInterpreterFrame", "localsplus"),
        "stackpointer": p.offset("_PyInterpreterFrame", "stackpointer"),
        "instr_ptr": p.offset("_PyInterpreterFrame", "instr_ptr"),
        "current_executor": p.offset("PyThreadState", "current_executor"),
        "bytecode": p.offset("PyCodeObject", "co_code_adaptive"),
    }


def _mov64_a64(reg: str, value: int) -> list[str]:
    out = [f"movz {reg}, #{value & 0xFFFF:#x}"]
    for shift in (16, 32, 48):
        part = (value >> shift) & 0xFFFF
        if part:
            out.append(f"movk {reg}, #{part:#x}, lsl #{shift}")
    return out


class X86:
    arch = "x86_64"

    def __init__(self, process):
        self.o = offsets(self.arch)
        self.sym = process.symbols

    def local(self, i):
        return f"{self.o['localsplus'] + 8 * i:#x}(%r12)"

    def shim(self, first):
        return ["pushq %r15", "pushq %r14", "pushq %r13", "pushq %r12", "pushq %rbx",
                "movq %rdi, %r12", "movq %rsi, %r13", "movq %rdx, %r14",
                f"callq {{{first}}}",
                "popq %rbx", "popq %r12", "popq %r13", "popq %r14", "popq %r15", "retq"]

    def call(self, symbol):
        # At a uop boundary RSP = 8 mod 16 (as after a call); one push realigns for the call.
        return ["pushq %rax", f"movabsq ${self.sym[symbol]:#x}, %rax", "callq *%rax", "popq %rcx"]

    def load_fast(self, i, u):      # PyStackRef_DUP of local i, pushed
        return [f"movq {self.local(i)}, %rax", "testb $0x1, %al", f"jne {{{u}_skip}}",
                "incl (%rax)", f"{u}_skip:", "movq %rax, (%r13)", "addq $0x8, %r13"]

    def load_fast_borrow(self, i, u):
        return [f"movq {self.local(i)}, %rax", "orq $0x1, %rax", "movq %rax, (%r13)",
                "addq $0x8, %r13"]

    def pop_top(self, u):           # PyStackRef_CLOSE of the top of the stack
        return ["movq -0x8(%r13), %rdi", "addq $-0x8, %r13", "testb $0x1, %dil",
                f"jne {{{u}_done}}", "decl (%rdi)", f"jne {{{u}_done}}",
                *self.call("_Py_Dealloc"), f"{u}_done:"]

    def incref(self, i, u):         # Py_INCREF of local i's object: skipped when immortal
        return [f"movq {self.local(i)}, %rax", "andq $-0x2, %rax", "movl (%rax), %ecx",
                "testl %ecx, %ecx", f"js {{{u}_done}}", "incl %ecx", "movl %ecx, (%rax)",
                f"{u}_done:"]

    def decref(self, i, u):         # Py_DECREF of local i's object: skipped when immortal
        return [f"movq {self.local(i)}, %rdi", "andq $-0x2, %rdi", "movl (%rdi), %eax",
                "testl %eax, %eax", f"js {{{u}_done}}", "decl %eax", "movl %eax, (%rdi)",
                f"jne {{{u}_done}}", *self.call("_Py_Dealloc"), f"{u}_done:"]

    def take_local(self, i, u):     # move local i's reference to the stack, leave NULL behind
        return [f"movq {self.local(i)}, %rax", f"movq $0x1, {self.local(i)}",
                "movq %rax, (%r13)", "addq $0x8, %r13"]

    def add_locals(self, i, j, u, error):   # _PyLong_Add(local i, local j), result pushed (Steal)
        return [f"movq {self.local(i)}, %rdi", "andq $-0x2, %rdi",
                f"movq {self.local(j)}, %rsi", "andq $-0x2, %rsi",
                *self.call("_PyLong_Add"),
                "testq %rax, %rax", f"je {{{error}}}",
                "movzwl 0x6(%rax), %ecx", "andl $0x1, %ecx", "orq %rax, %rcx",
                "movq %rcx, (%r13)", "addq $0x8, %r13"]

    def deref_local(self, i, u):    # read ob_type of local i's object (faults on NULL)
        return [f"movq {self.local(i)}, %rax", "andq $-0x2, %rax", "movq 0x8(%rax), %rax"]

    def exit_tier1(self, target, u):        # GOTO_TIER_ONE(bytecode + target)
        o = self.o
        return [f"movq $0x0, {o['current_executor']:#x}(%r14)",
                f"movq %r13, {o['stackpointer']:#x}(%r12)",
                "movq (%r12), %rax", "andq $-0x2, %rax",
                f"addq ${o['bytecode'] + 2 * target:#x}, %rax", "retq"]

    def exit_error(self, index, u):         # _ERROR_POP_N: instr_ptr = bytecode + index, NULL
        o = self.o
        return ["movq (%r12), %rax", "andq $-0x2, %rax", f"addq ${o['bytecode'] + 2 * index:#x}, %rax",
                f"movq %rax, {o['instr_ptr']:#x}(%r12)",
                f"movq $0x0, {o['current_executor']:#x}(%r14)",
                f"movq %r13, {o['stackpointer']:#x}(%r12)", "xorl %eax, %eax", "retq"]

    def spin(self, u):
        return [f"{u}_top:", f"jmp {{{u}_top}}"]

    def goto_tier_two(self, executor, side_entry_offset, u):   # as _EXIT_TRACE's GOTO_TIER_TWO
        return [f"movabsq ${executor:#x}, %rax", f"movq %rax, {self.o['current_executor']:#x}(%r14)",
                f"movq {side_entry_offset:#x}(%rax), %rcx", "jmpq *%rcx"]

    def misaligned_call(self, symbol, u):   # forgets to realign the stack before calling
        return [f"movabsq ${self.sym[symbol]:#x}, %rax", "callq *%rax"]

    def keep_across_call(self, u):  # wrongly keeps local 0's object in rcx across a C call
        return [f"movq {self.local(0)}, %rcx", f"movq {self.local(4)}, %rdi", "andq $-0x2, %rdi",
                f"movq {self.local(5)}, %rsi", "andq $-0x2, %rsi", *self.call("_PyLong_Add"),
                "movl (%rcx), %eax"]

    def call_with_pointers(self, symbol, a, b, u):   # symbol(a, b) with two pointer arguments
        return [f"movabsq ${a:#x}, %rdi", f"movabsq ${b:#x}, %rsi", *self.call(symbol)]

    def float_from_double(self, bits, u):   # _PyFloat_FromDouble_ConsumeInputs(l1, l4, double)
        return [f"movq {self.local(1)}, %rdi", f"movq {self.local(4)}, %rsi",
                f"movabsq ${bits:#x}, %rax", "movq %rax, %xmm0",
                *self.call("_PyFloat_FromDouble_ConsumeInputs"),
                "movq %rax, (%r13)", "addq $0x8, %r13"]


class A64:
    arch = "aarch64"

    def __init__(self, process):
        self.o = offsets(self.arch)
        self.sym = process.symbols

    def local(self, i):
        return f"[x20, #{self.o['localsplus'] + 8 * i:#x}]"

    def shim(self, first):
        return ["stp x29, x30, [sp, #-16]!", "stp x19, x20, [sp, #-16]!",
                "stp x21, x22, [sp, #-16]!",
                "mov x20, x0", "mov x21, x1", "mov x22, x2", f"bl {{{first}}}",
                "ldp x21, x22, [sp], #16", "ldp x19, x20, [sp], #16", "ldp x29, x30, [sp], #16",
                "ret"]

    def call(self, symbol):
        return ["stp x29, x30, [sp, #-16]!", *_mov64_a64("x8", self.sym[symbol]), "blr x8",
                "ldp x29, x30, [sp], #16"]

    def load_fast(self, i, u):
        return [f"ldr x8, {self.local(i)}", f"tbnz w8, #0, {{{u}_skip}}", "ldr w9, [x8]",
                "add w9, w9, #0x1", "str w9, [x8]", f"{u}_skip:", "str x8, [x21], #0x8"]

    def load_fast_borrow(self, i, u):
        return [f"ldr x8, {self.local(i)}", "orr x8, x8, #0x1", "str x8, [x21], #0x8"]

    def pop_top(self, u):
        return ["ldr x0, [x21, #-0x8]!", f"tbnz w0, #0, {{{u}_done}}", "ldr w9, [x0]",
                "subs w9, w9, #0x1", "str w9, [x0]", f"b.ne {{{u}_done}}",
                *self.call("_Py_Dealloc"), f"{u}_done:"]

    def incref(self, i, u):
        return [f"ldr x8, {self.local(i)}", "and x8, x8, #0xfffffffffffffffe", "ldr w9, [x8]",
                f"tbnz w9, #31, {{{u}_done}}", "add w9, w9, #0x1", "str w9, [x8]", f"{u}_done:"]

    def decref(self, i, u):
        return [f"ldr x0, {self.local(i)}", "and x0, x0, #0xfffffffffffffffe", "ldr w9, [x0]",
                f"tbnz w9, #31, {{{u}_done}}", "subs w9, w9, #0x1", "str w9, [x0]",
                f"b.ne {{{u}_done}}", *self.call("_Py_Dealloc"), f"{u}_done:"]

    def take_local(self, i, u):
        return [f"ldr x8, {self.local(i)}", "mov x9, #0x1", f"str x9, {self.local(i)}",
                "str x8, [x21], #0x8"]

    def add_locals(self, i, j, u, error):
        return [f"ldr x0, {self.local(i)}", "and x0, x0, #0xfffffffffffffffe",
                f"ldr x1, {self.local(j)}", "and x1, x1, #0xfffffffffffffffe",
                *self.call("_PyLong_Add"), f"cbz x0, {{{error}}}",
                "ldrh w9, [x0, #0x6]", "and x9, x9, #0x1", "orr x0, x0, x9",
                "str x0, [x21], #0x8"]

    def deref_local(self, i, u):
        return [f"ldr x8, {self.local(i)}", "and x8, x8, #0xfffffffffffffffe", "ldr x8, [x8, #0x8]"]

    def exit_tier1(self, target, u):
        o = self.o
        return [f"str xzr, [x22, #{o['current_executor']:#x}]",
                f"str x21, [x20, #{o['stackpointer']:#x}]",
                "ldr x8, [x20]", "and x8, x8, #0xfffffffffffffffe",
                f"add x0, x8, #{o['bytecode'] + 2 * target:#x}", "ret"]

    def exit_error(self, index, u):
        o = self.o
        return ["ldr x8, [x20]", "and x8, x8, #0xfffffffffffffffe",
                f"add x8, x8, #{o['bytecode'] + 2 * index:#x}",
                f"str x8, [x20, #{o['instr_ptr']:#x}]",
                f"str xzr, [x22, #{o['current_executor']:#x}]",
                f"str x21, [x20, #{o['stackpointer']:#x}]", "mov x0, #0x0", "ret"]

    def spin(self, u):
        return [f"{u}_top:", f"b {{{u}_top}}"]

    def goto_tier_two(self, executor, side_entry_offset, u):
        return [*_mov64_a64("x8", executor), f"str x8, [x22, #{self.o['current_executor']:#x}]",
                f"ldr x1, [x8, #{side_entry_offset:#x}]", "br x1"]

    def misaligned_call(self, symbol, u):
        return ["str x30, [sp, #-8]!", *_mov64_a64("x8", self.sym[symbol]), "blr x8"]

    def keep_across_call(self, u):
        return [f"ldr x9, {self.local(0)}", f"ldr x0, {self.local(4)}",
                "and x0, x0, #0xfffffffffffffffe", f"ldr x1, {self.local(5)}",
                "and x1, x1, #0xfffffffffffffffe", *self.call("_PyLong_Add"), "ldr w0, [x9]"]

    def call_with_pointers(self, symbol, a, b, u):
        return [*_mov64_a64("x0", a), *_mov64_a64("x1", b), *self.call(symbol)]

    def float_from_double(self, bits, u):
        return [f"ldr x0, {self.local(1)}", f"ldr x1, {self.local(4)}",
                *_mov64_a64("x8", bits), "fmov d0, x8",
                *self.call("_PyFloat_FromDouble_ConsumeInputs"), "str x0, [x21], #0x8"]


WRITERS = {"x86_64": X86, "aarch64": A64}
_LABEL = re.compile(r"^(\w+):$")
_REF = re.compile(r"\{(\w+)\}")


def assemble(arch: str, lines: list[str], base: int) -> tuple[bytes, dict[str, int], list[int]]:
    """Assemble with the project's assembler; labels are resolved by iterating to a fixed point
    (branch sizes may depend on distances). Returns code, label addresses, instruction addresses."""
    labels: dict[str, int] = {}
    for _ in range(8):
        insns = [ln for ln in lines if not _LABEL.match(ln)]
        text = [_REF.sub(lambda m: f"{labels.get(m.group(1), base):#x}", ln) for ln in insns]
        text[0] = f"{base:x}: {text[0]}"
        results = assemble_lines(arch, text)
        bad = [r for r in results if r.error]
        assert not bad, f"{arch}: {bad[0].text}: {bad[0].error}"
        new, addrs, k = {}, [], 0
        pos = base
        for ln in lines:
            m = _LABEL.match(ln)
            if m:
                new[m.group(1)] = pos
            else:
                addrs.append(results[k].address)
                pos = results[k].address + len(results[k].encoding)
                k += 1
        if new == labels:
            return b"".join(r.encoding for r in results), labels, addrs
        labels = new
    raise AssertionError("label addresses do not converge")


# --------------------------------------------------------------------------------------------
# The scenario: one process per ISA, a frame with six locals.


class Scenario:
    def __init__(self, arch: str, last_value: int = 123456, layout=None):
        self.arch = arch
        self.p = p = Process(load_profile("3.14", arch), **({"layout": layout} if layout else {}))
        self.code = p.new_code(b"\0\0" * 16, nlocals=NLOCALS, stacksize=8)
        self.big = p.new_int(1000)             # mortal heap int, refcount 1 (owned by local 0)
        self.small = p.small_int(5)            # immortal static small int
        self.mortal = p.new_int(70000)         # mortal, refcount 1 (local 2)
        self.last = p.new_int(last_value)      # mortal, refcount 1: local 3 holds the last ref
        self.frame = p.new_frame(self.code, NLOCALS, [
            stackref_owned(self.big), stackref_borrowed(self.small), stackref_owned(self.mortal),
            stackref_owned(self.last), p.small_int(200) | 1, p.small_int(100) | 1])
        self.w = WRITERS[arch](p)

    def program(self, uops: list[tuple[str, list[str]]]):
        """Shim + uops (each a (name, lines) pair) in the jit region; returns (entry, UopMap)."""
        base = self.p.regions["jit"].base
        lines = ["shim:", *self.w.shim("u0")]
        for k, (_name, body) in enumerate(uops):
            lines += [f"u{k}:", *body]
        lines.append("end:")
        code, labels, addrs = assemble(self.arch, lines, base)
        self.p.mem.write(base, code)
        starts = [labels[f"u{k}"] for k in range(len(uops))] + [labels["end"]]
        uop_map = UopMap([(starts[k], starts[k + 1], k, name) for k, (name, _) in enumerate(uops)])
        self.labels, self.addrs = labels, addrs
        return base, uop_map

    def run(self, uops, machine=None, **kw):
        entry, uop_map = self.program(uops)
        m = machine or Machine(self.arch, self.p)
        sp = self.p.frame_stack_pointer(self.frame)
        return m.run(entry, self.frame, sp, self.p.tstate, uop_map=uop_map, **kw)


def _exit(w):
    return ("_EXIT_TRACE", w.exit_tier1(TARGET, "x"))


def refcounts_program(w):
    return [
        ("_LOAD_FAST_0", w.load_fast(0, "a")),             # 1000: refcount 1 -> 2
        ("_LOAD_FAST_BORROW_1", w.load_fast_borrow(1, "b")),  # small int 5, borrowed
        ("_LOAD_FAST_0", w.load_fast(0, "c")),             # 1000: refcount 3
        ("_POP_TOP", w.pop_top("d")),                      # 1000: refcount 2
        ("_POP_TOP", w.pop_top("e")),                      # borrowed: nothing
        ("_INCREF", w.incref(2, "f")),                     # 70000: refcount 2
        ("_INCREF", w.incref(1, "g")),                     # small int: immortal, unchanged
        ("_DECREF", w.decref(1, "h")),                     # small int: unchanged
        ("_DECREF", w.decref(2, "i")),                     # 70000: back to 1
        ("_LOAD_FAST_1", w.load_fast(1, "j")),             # borrowed tag: no incref
        _exit(w),
    ]


@pytest.fixture(scope="module", params=ARCHES)
def arch(request):
    return request.param


# --------------------------------------------------------------------------------------------


def test_read_locals_incref_decref_with_and_without_immortality(arch):
    s = Scenario(arch)
    out = s.run(refcounts_program(s.w))
    assert out.kind == "tier1" and out.target == TARGET
    big = s.p.read_object(s.big)
    assert (big.type, big.value, big.refcnt) == ("int", 1000, 2)   # one DUP kept on the stack
    assert s.p.read_object(s.mortal).refcnt == 1                    # +1 -1
    small = s.p.read_object(s.small)
    assert small.immortal and small.refcnt == 0xC0000000            # untouched by incref/decref
    big_id = out.locals[0].split()[0]
    assert out.stack == (f"{big_id} owned", "small_int[5] borrowed")
    assert out.stack_depth == 2
    assert out.locals[1] == "small_int[5] borrowed"
    assert out.statics == ()                                        # no immortal was written
    assert out.current_executor == "NULL"
    assert out.instr_ptr == 0                                       # GOTO_TIER_ONE leaves it


@pytest.mark.parametrize("value, state", [
    (123456, "freelist"),   # compact (one 30-bit digit): long_dealloc pushes it on the int freelist
    (2**40, "freed"),       # two digits: tp_free
])
def test_dealloc_on_last_reference(arch, value, state):
    s = Scenario(arch, last_value=value)
    serial = s.p.heap.block(s.last).serial
    out = s.run([("_TAKE_LOCAL_3", s.w.take_local(3, "a")), ("_POP_TOP", s.w.pop_top("b")),
                 _exit(s.w)])
    assert out.kind == "tier1"
    assert out.locals[3] == "NULL" and out.stack_depth == 0
    assert s.last not in {b.address for b in s.p.heap.live()}
    assert s.p.read_object(s.last).state == state
    assert [o.state for o in out.objects if o.ident == f"#{serial}"] == [state]


@pytest.mark.parametrize("a, b", [(200, 100), (100, 56), (-5, -1), (256, 256)])
def test_long_add_through_the_stub(arch, a, b):
    s = Scenario(arch)
    s.p.mem.set_u64(s.p.frame_local_address(s.frame, 4), s.p.small_int(a) | 1)
    s.p.mem.set_u64(s.p.frame_local_address(s.frame, 5), s.p.small_int(b) | 1)
    before = {blk.serial for blk in s.p.heap.live()}
    out = s.run([("_ADD", s.w.add_locals(4, 5, "a", "u2")), _exit(s.w),
                 ("_ERROR_POP_N", s.w.exit_error(ERROR_INDEX, "e"))])
    assert out.kind == "tier1" and out.stack_depth == 1
    total = a + b                                                 # the host Python decides
    new = [blk for blk in s.p.heap.live() if blk.serial not in before]
    if -5 <= total <= 256:
        assert out.stack == (f"small_int[{total}] borrowed",)    # Steal of an immortal: tag 1
        assert new == []
    else:
        assert len(new) == 1
        view = s.p.read_object(new[0].address)
        assert (view.type, view.value, view.refcnt) == ("int", total, 1)
        assert out.stack == (f"#{new[0].serial} owned",)


def test_same_outcome_on_both_isas():
    outcomes = []
    for arch in ARCHES:
        s = Scenario(arch)
        prog = refcounts_program(s.w)[:-1] + [
            ("_TAKE_LOCAL_3", s.w.take_local(3, "k")), ("_POP_TOP", s.w.pop_top("l")),
            ("_ADD", s.w.add_locals(4, 5, "m", "u15")), _exit(s.w),
            ("_ERROR_POP_N", s.w.exit_error(ERROR_INDEX, "z"))]
        outcomes.append(s.run(prog))
    x86, a64 = outcomes
    assert x86.compare(a64) == [] and x86 == a64
    assert x86.instructions and a64.instructions


def test_fault_names_uop_pc_address_and_instruction(arch):
    s = Scenario(arch)
    s.p.mem.set_u64(s.p.frame_local_address(s.frame, 4), 1)       # a NULL stackref
    uops = [("_LOAD_FAST_0", s.w.load_fast(0, "a")), ("_LOAD_FAST_1", s.w.load_fast(1, "b")),
            ("_GUARD_TYPE", s.w.deref_local(4, "c")), _exit(s.w)]
    with pytest.raises(EmulationError) as info:
        s.run(uops)
    err = info.value
    fault_pc = [a for a in s.addrs if s.labels["u2"] <= a < s.labels["u3"]][2]
    assert (err.uop_index, err.uop_name) == (2, "_GUARD_TYPE")
    assert err.pc == fault_pc
    assert err.address == 8                                         # NULL->ob_type
    text = disassemble_one(arch, s.p.mem.read(fault_pc, 8), fault_pc).text
    assert err.instruction == text
    assert "uop 2 _GUARD_TYPE" in str(err) and f"{fault_pc:#x}" in str(err) and "0x8" in str(err)
    assert err.outcome.kind == "fault"
    # A post-mortem: the faulting uop's code with the instruction marked, and the registers.
    marked = [ln for ln in err.listing if ln.startswith(">")]
    assert len(marked) == 1 and f"{fault_pc:x}:" in marked[0] and text in marked[0]
    assert len(err.listing) == len(insn_addrs_of(s, 2))
    pinned = "r12" if arch == "x86_64" else "x20"
    assert err.registers[pinned] == s.frame
    # Exactly what ran: the shim up to its call, all of the owned load, the borrowed load minus
    # the skipped incref (x86-64: incl; AArch64: ldr/add/str), two instructions of the faulty uop.
    shim = s.w.shim("u0")
    ran = (shim.index("callq {u0}" if arch == "x86_64" else "bl {u0}") + 1
           + len(s.w.load_fast(0, "a")) - 1                 # minus its label line
           + len(s.w.load_fast(1, "b")) - 1 - (1 if arch == "x86_64" else 3)
           + 2)
    assert err.outcome.instructions == ran


def insn_addrs_of(s, k):
    return [a for a in s.addrs if s.labels[f"u{k}"] <= a < s.labels[f"u{k + 1}"]]


def test_instruction_count_is_exact(arch):
    s = Scenario(arch)
    uops = [("_LOAD_FAST_BORROW_1", s.w.load_fast_borrow(1, "a")), _exit(s.w)]
    out = s.run(uops)
    # Straight-line code: every listed instruction runs exactly once.
    assert out.instructions == len(s.w.shim("u0")) + len(uops[0][1]) + len(uops[1][1])


def test_translated_code_is_bounded(arch):
    """A fuzz campaign reuses one machine for thousands of traces; Unicorn keeps their translated
    code up to its buffer size (1 GiB by default, about 40 KB a case). Unicorn itself must report
    a buffer an order of magnitude smaller for every machine."""
    m = Machine(arch, Process(load_profile("3.14", arch)))
    assert 0 < m.uc.ctl_get_tcg_buffer_size() <= 128 << 20


def test_budget_stops_a_loop(arch):
    s = Scenario(arch)
    with pytest.raises(EmulationError) as info:
        s.run([("_SPIN", s.w.spin("a")), _exit(s.w)], budget=10_000)
    assert "budget" in str(info.value) and info.value.uop_name == "_SPIN"


def test_misaligned_call_is_reported(arch):
    s = Scenario(arch)
    s.p.mem.set_u64(s.p.frame_local_address(s.frame, 4), 1)
    with pytest.raises(EmulationError) as info:
        s.run([("_BAD_CALL", s.w.misaligned_call("_Py_Dealloc", "a")), _exit(s.w)])
    err = info.value
    assert "misaligned" in str(err) and "_Py_Dealloc" in str(err)
    assert err.uop_name == "_BAD_CALL"


def test_error_exit_returns_null(arch):
    s = Scenario(arch)
    out = s.run([("_LOAD_FAST_0", s.w.load_fast(0, "a")),
                 ("_ERROR_POP_N", s.w.exit_error(ERROR_INDEX, "e"))])
    assert out.kind == "error" and out.instr_ptr == ERROR_INDEX and out.stack_depth == 1


def test_machine_is_reused_and_rewritten_code_is_retranslated(arch):
    s = Scenario(arch)
    m = Machine(arch, s.p)
    snap = s.p.snapshot()
    first = s.run(refcounts_program(s.w), machine=m)
    s.p.restore(snap)
    again = s.run(refcounts_program(s.w), machine=m)
    assert first == again and first.instructions == again.instructions
    s.p.restore(snap)
    # Same region, different code: the machine must not run stale translations.
    other = s.run([("_LOAD_FAST_BORROW_1", s.w.load_fast_borrow(1, "a")), _exit(s.w)], machine=m)
    assert other.stack == ("small_int[5] borrowed",)


def test_side_exit_into_another_executor(arch):
    s = Scenario(arch)
    target = 0x7FF1_0000_0000                                       # unmapped: never entered
    other = s.p.new_executor([3], jit_code=target - s.p.profile.abi.shim_code_size)
    w = s.w
    jump = (["movabsq $%#x, %%rax" % target, "jmpq *%rax"] if arch == "x86_64"
            else [*_mov64_a64("x8", target), "br x8"])
    out = s.run([("_LOAD_FAST_0", w.load_fast(0, "a")), ("_EXIT_TRACE", jump)])
    assert out.kind == "side_exit"
    assert out.side_exit_to == f"#{s.p.heap.block(other).serial}"


def test_caller_saved_registers_are_poisoned_across_calls(arch):
    s = Scenario(arch)
    with pytest.raises(EmulationError) as info:
        s.run([("_KEEPS_RCX", s.w.keep_across_call("a")), _exit(s.w)])
    err = info.value
    # The model's call clobbered the register: the dereference reads the recognisable poison.
    assert err.uop_name == "_KEEPS_RCX" and err.address is not None
    assert f"{err.address:x}".startswith("bad0bad0")


def test_fatal_error_model_is_a_fatal_outcome(arch):
    s = Scenario(arch)
    name = s.p.view("PyTypeObject", s.p.symbols["PyLong_Type"]).tp_name   # the C string "int"
    with pytest.raises(EmulationError) as info:
        s.run([("_FATAL_ERROR", s.w.call_with_pointers("_Py_FatalErrorFunc", name, name, "a")),
               _exit(s.w)])
    err = info.value
    assert err.outcome.kind == "fatal"
    assert "Fatal Python error: int: int" in str(err) and err.uop_name == "_FATAL_ERROR"


def test_unmodelled_function_is_named(arch):
    s = Scenario(arch)
    with pytest.raises(EmulationError) as info:
        s.run([("_CALLS_OUT", s.w.call_with_pointers("PyDict_New", 0, 0, "a")), _exit(s.w)])
    assert "PyDict_New has no model" in str(info.value)
    assert info.value.uop_name == "_CALLS_OUT" and info.value.outcome.kind == "fault"


def test_double_argument_in_fp_register(arch):
    s = Scenario(arch)
    value = -1234.5e-3
    bits = int.from_bytes(struct.pack("<d", value), "little")
    out = s.run([("_FLOAT", s.w.float_from_double(bits, "a")), _exit(s.w)])
    assert out.stack_depth == 1
    top = s.p.mem.u64(s.p.frame_stack_pointer(s.frame) - 8)
    view = s.p.read_object(top & ~1)
    assert (view.type, view.value, view.refcnt) == ("float", value, 1)
    assert top & 1 == 0 and out.stack == (f"#{s.p.heap.block(top).serial} owned",)
    # the two borrowed inputs were closed without touching their (immortal) objects
    assert out.statics == ()


def test_uop_map_from_linker_ranges():
    m = UopMap([(0x100, 0x100, 0, "_START_EXECUTOR"), (0x100, 0x127, 1, "_MAKE_WARM"),
                (0x127, 0x130, 2, "_SET_IP")])
    assert m.find(0x100) == (1, "_MAKE_WARM")          # an empty range never claims a pc
    assert m.find(0x126) == (1, "_MAKE_WARM") and m.find(0x127) == (2, "_SET_IP")
    assert m.find(0xFF) is None and m.find(0x130) is None


def test_aarch64_machine_uses_the_max_cpu_model():
    from unicorn.arm64_const import UC_CPU_ARM64_MAX
    s = Scenario("aarch64")
    assert Machine("aarch64", s.p).uc.ctl_get_cpu_model() == UC_CPU_ARM64_MAX


def test_unknown_arch_is_an_error():
    s = Scenario("x86_64")
    with pytest.raises(EmulationError, match="unknown architecture"):
        Machine("riscv64", s.p)


def test_goto_tier_two_into_an_executor_without_code_here(arch):
    # An executor whose jit_side_entry is NULL (no code anywhere): _EXIT_TRACE sets
    # current_executor and jumps to it; that is a side exit into that executor, with the live
    # stack pointer.
    s = Scenario(arch)
    running = s.p.new_executor([4, 8])
    other = s.p.new_executor([2])
    off = s.p.profile.offset("_PyExecutorObject", "jit_side_entry")
    s.p.mem.set_u64(other + off, 0)
    w = s.w
    out = s.run([("_LOAD_FAST_0", w.load_fast(0, "a")), ("_LOAD_FAST_1", w.load_fast(1, "b")),
                 ("_EXIT_TRACE", w.goto_tier_two(other, off, "c"))], executor=running)
    serial = s.p.heap.block(other).serial
    assert (out.kind, out.side_exit_to, out.current_executor) == ("side_exit", f"#{serial}", f"#{serial}")
    # frame->stackpointer was never stored: the depth comes from the pinned register
    assert s.p.frame_stack_pointer(s.frame) == s.p.frame_local_address(s.frame, NLOCALS)
    assert out.stack_depth == 2 and out.stack[1] == "small_int[5] borrowed"


def test_jump_to_null_is_a_fault_when_no_executor_was_entered(arch):
    s = Scenario(arch)
    w = s.w
    jump = (["xorl %ecx, %ecx", "jmpq *%rcx"] if arch == "x86_64" else ["mov x1, #0x0", "br x1"])
    with pytest.raises(EmulationError) as info:
        s.run([("_LOAD_FAST_0", w.load_fast(0, "a")), ("_BAD_JUMP", jump)])
    assert "jump to unmapped address 0x0" in str(info.value)
    assert info.value.uop_name == "_BAD_JUMP"


def test_side_exit_into_a_foreign_executor_of_the_process(arch):
    # new_executor without code gets its own unmapped address: jumping there is the side exit.
    s = Scenario(arch)
    running = s.p.new_executor([4])
    other = s.p.new_executor([2])
    off = s.p.profile.offset("_PyExecutorObject", "jit_side_entry")
    out = s.run([("_EXIT_TRACE", s.w.goto_tier_two(other, off, "a"))], executor=running)
    assert (out.kind, out.side_exit_to) == ("side_exit", f"#{s.p.heap.block(other).serial}")


def test_random_code_always_ends_as_an_outcome(arch):
    # Garbage instead of a trace: every run ends (budget), as an Outcome or a located fault,
    # and the machine stays usable for the next run.
    import random
    rng = random.Random(20261125)
    s = Scenario(arch)
    m = Machine(arch, s.p, budget=5000)
    snap = s.p.snapshot()
    base = s.p.regions["jit"].base
    sp = s.p.frame_stack_pointer(s.frame)
    kinds = set()
    for _ in range(300):
        s.p.restore(snap)
        s.p.mem.write(base, bytes(rng.randrange(256) for _ in range(48)))
        out = m.run(base, s.frame, sp, s.p.tstate, raise_on_fault=False)
        assert out.kind in ("tier1", "error", "fault") and out.instructions is not None
        if out.kind == "fault":
            assert out.location and out.message
        kinds.add(out.kind)
    assert "fault" in kinds
    s.p.restore(snap)
    assert s.run(refcounts_program(s.w), machine=m).kind == "tier1"


def test_run_linked_executor_through_the_linker(arch):
    # Hand-written groups with CPython's holes (the shim's call to _JIT_CONTINUE, the exit's
    # _JIT_TARGET; on AArch64 through a GOT slot as LLVM emits it), linked by refjit.link as jit.c
    # does, installed and run by the machine: the Outcome matches running the same code directly.
    from refjit.codebuf import Reloc
    from refjit.headerwriter import build_group
    from refjit.link import Instruction, link

    s = Scenario(arch)
    w = s.w
    pad = (lambda c: c + bytes.fromhex("1f2003d5") * ((-len(c) % 8) // 4)) if arch == "aarch64" \
        else (lambda c: c)

    def group(name, lines, relocs=()):
        code, labels, addrs = assemble(arch, lines, 0)
        return build_group(name, arch, pad(code), list(relocs(labels, addrs)) if relocs else ())

    shim_lines = [ln if "{u0}" not in ln else ("callq 0x0" if arch == "x86_64" else "bl 0x0")
                  for ln in w.shim("u0")]
    call_at = shim_lines.index("callq 0x0" if arch == "x86_64" else "bl 0x0")
    if arch == "x86_64":
        shim = group("shim", shim_lines, lambda labels, addrs: [
            Reloc(addrs[call_at] + 1, "patch_32r", "_JIT_CONTINUE", -4)])
        o = w.o
        deopt_lines = [f"movq $0x0, {o['current_executor']:#x}(%r14)",
                       f"movq %r13, {o['stackpointer']:#x}(%r12)", "movq (%r12), %rax",
                       "andq $-0x2, %rax", "movabsq $0x0, %rcx",
                       f"leaq {o['bytecode']:#x}(%rax,%rcx,2), %rax", "retq"]
        deopt = group("_DEOPT", deopt_lines, lambda labels, addrs: [
            Reloc(addrs[4] + 2, "patch_64", "_JIT_TARGET")])
        fatal = group("_FATAL_ERROR", ["ud2"])
    else:
        shim = group("shim", shim_lines, lambda labels, addrs: [
            Reloc(addrs[call_at], "patch_aarch64_26r", "_JIT_CONTINUE")])
        o = w.o
        deopt_lines = [f"str xzr, [x22, #{o['current_executor']:#x}]",
                       f"str x21, [x20, #{o['stackpointer']:#x}]", "ldr x8, [x20]",
                       "and x8, x8, #0xfffffffffffffffe", "adrp x9, 0x0", "ldr x9, [x9]",
                       f"add x8, x8, #{o['bytecode']:#x}", "add x0, x8, x9, lsl #1", "ret"]
        deopt = group("_DEOPT", deopt_lines, lambda labels, addrs: [
            Reloc(addrs[4], "patch_aarch64_21r", "_JIT_TARGET"),
            Reloc(addrs[5], "patch_aarch64_12", "_JIT_TARGET")])
        fatal = group("_FATAL_ERROR", ["brk #0x1"])
    groups = {"_START_EXECUTOR": build_group("_START_EXECUTOR", arch, b""),
              "_LOAD_FAST_0": group("_LOAD_FAST_0", w.load_fast(0, "a")),
              "_POP_TOP": group("_POP_TOP", w.pop_top("b")),
              "_DEOPT": deopt, "_FATAL_ERROR": fatal}
    trace = [Instruction("_START_EXECUTOR"), Instruction("_LOAD_FAST_0"), Instruction("_LOAD_FAST_0"),
             Instruction("_POP_TOP"), Instruction("_DEOPT", target=TARGET)]
    executor = s.p.new_executor([])
    base = s.p.regions["jit"].base
    linked = link(trace, groups, shim, arch=arch, executor=executor, base=base, resolve=s.p.symbols)
    m = Machine(arch, s.p)
    out = m.run_linked(linked, frame=s.frame, stack_pointer=s.p.frame_stack_pointer(s.frame),
                       tstate=s.p.tstate, executor=executor)
    assert out.kind == "tier1" and out.target == TARGET
    assert out.stack_depth == 1 and s.p.read_object(s.big).refcnt == 2
    ev = s.p.view("_PyExecutorObject", executor)
    assert (ev.jit_code, ev.jit_side_entry) == (base, base + shim.code_size)
    # A fault in the linked code names the uop by the linker's map.
    s.p.mem.set_u64(s.p.frame_local_address(s.frame, 0), 0x10)       # an owned ref to nothing
    with pytest.raises(EmulationError) as info:
        m.run_linked(linked, frame=s.frame, stack_pointer=s.p.frame_stack_pointer(s.frame),
                     tstate=s.p.tstate, executor=executor)
    assert (info.value.uop_index, info.value.uop_name) == (1, "_LOAD_FAST_0")
    assert info.value.address == 0x10


def test_per_uop_accounting(arch):
    s = Scenario(arch)
    entry, uop_map = s.program(refcounts_program(s.w))
    m = Machine(arch, s.p)
    out = m.run(entry, s.frame, s.p.frame_stack_pointer(s.frame), s.p.tstate, uop_map=uop_map,
                per_uop=True)
    prof = m.uop_profile
    body = [ln for ln in s.w.load_fast(0, "a") if not ln.endswith(":")]
    assert prof[0] == [1, len(body)]                   # owned DUP: every instruction once
    assert prof[1] == [1, len(s.w.load_fast_borrow(1, "b"))]
    # the borrowed DUP (uop 9) skips its increment: x86-64 one instruction, AArch64 three
    assert prof[9] == [1, len(body) - (1 if arch == "x86_64" else 3)]
    assert sorted(k for k in prof if k is not None) == list(range(11))
    # the shim is outside the uops' map; everything adds up to the exact total
    assert prof[None] == [0, len(s.w.shim("u0"))]
    assert sum(n for _e, n in prof.values()) == out.instructions


def test_direct_call_into_the_stub_page():
    # Code near the stubs (LayoutConfig(jit_near_stubs=True)): a relaxed GOT call is a direct
    # `call rel32` to the stub, served like an indirect one.
    from refjit.runtime.process import LayoutConfig
    s = Scenario("x86_64", layout=LayoutConfig(jit_near_stubs=True))
    w = s.w
    add = s.p.symbols["_PyLong_Add"]
    body = [f"movq {w.local(4)}, %rdi", "andq $-0x2, %rdi", f"movq {w.local(5)}, %rsi",
            "andq $-0x2, %rsi", "pushq %rax", f"callq {add:#x}", "popq %rcx",
            "movq %rax, (%r13)", "addq $0x8, %r13"]
    out = s.run([("_ADD_DIRECT", body), _exit(w)])
    top = s.p.mem.u64(s.p.frame_stack_pointer(s.frame) - 8)
    assert s.p.read_object(top).value == 300 and out.stack_depth == 1


def test_register_access_keeps_widths_apart():
    # Unicorn numbers x86-64 R8..R15 like AArch64 Q2..Q9: a 64-bit register must read back as
    # exactly 64 bits even after a 128-bit register was written (no stale upper half).
    from unicorn import arm64_const as A, x86_const as X
    x = Machine("x86_64", Scenario("x86_64").p)
    x.regs.write(X.UC_X86_REG_R13, 0x7FFF_0000_1000)
    x.regs.write(X.UC_X86_REG_XMM0, (0xDEAD << 64) | 0x1234)
    assert x.regs.read(X.UC_X86_REG_R13) == 0x7FFF_0000_1000
    assert x.regs.read(X.UC_X86_REG_XMM0) == (0xDEAD << 64) | 0x1234
    assert x.regs.batch([X.UC_X86_REG_R12, X.UC_X86_REG_R13]).read()[1] == 0x7FFF_0000_1000
    a = Machine("aarch64", Scenario("aarch64").p)
    a.regs.write(A.UC_ARM64_REG_Q2, (0xBEEF << 64) | 0x5678)
    assert a.regs.read(A.UC_ARM64_REG_Q2) == (0xBEEF << 64) | 0x5678
    assert a.regs.batch([A.UC_ARM64_REG_X0, A.UC_ARM64_REG_Q2]).read()[1] == (0xBEEF << 64) | 0x5678


def test_instruction_count_is_the_number_of_disassembled_lines():
    """The machine counts a block's instructions with disasm.instruction_count: the lines
    capstone's listing has, .byte lines of undecodable bytes included."""
    import random

    from refjit.disasm import disassemble, instruction_count

    rng = random.Random(7)
    for arch in ("x86_64", "aarch64"):
        for _ in range(500):
            code = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 48)))
            assert instruction_count(arch, code) == len(disassemble(arch, code, 0x4000)), code.hex()
    # push rbp; mov rbp, rsp; ret  /  nop; ret
    assert instruction_count("x86_64", bytes.fromhex("554889e5c3")) == 3
    assert instruction_count("aarch64", bytes.fromhex("1f2003d5c0035fd6")) == 2


def _scribble(arch, addresses, value, read_first=False):
    """Store the 64-bit ``value`` at each address (after loading it, with ``read_first``)."""
    lines = []
    for a in addresses:
        if arch == "x86_64":
            lines += [f"movabsq ${a:#x}, %rax", f"movabsq ${value:#x}, %rcx"]
            lines += ["movq (%rax), %rdx"] if read_first else []
            lines += ["movq %rcx, (%rax)"]
        else:
            lines += _mov64_a64("x9", a) + _mov64_a64("x10", value)
            lines += ["ldr x11, [x9]"] if read_first else []
            lines += ["str x10, [x9]"]
    return lines


def _every_byte_is(p, snap):
    return all(bytes(p.regions[name].view) == data for name, data in snap.memory.regions)


def test_restore_after_a_run_undoes_every_store_of_the_cpu(arch):
    # The CPU stores into the process's buffers behind Memory's back; the machine names the pages
    # it stored to, and a restore copies only pages named dirty. Stores far from anything a
    # Python model writes (a heap page no object uses, a store across two pages, a runtime and a
    # statics page, one read before it is written) must all be undone, run after run on one
    # machine (each run starts with every page unwritable in Unicorn's TLB again). The
    # reference is the snapshot's own bytes of every region.
    from refjit.runtime.memory import PAGE_SIZE

    s = Scenario(arch)
    heap, runtime, statics = (s.p.regions[n] for n in ("heap", "runtime", "statics"))
    spots = [heap.end - 8, heap.end - 3 * PAGE_SIZE - 4, runtime.base + 5 * PAGE_SIZE + 8,
             statics.end - 16]
    read_then_written = [heap.end - 7 * PAGE_SIZE]
    m = Machine(arch, s.p)
    entry, uop_map = s.program([
        ("_SCRIBBLE", _scribble(arch, spots, 0x1122334455667788)
         + _scribble(arch, read_then_written, 0x99aabbccddeeff00, read_first=True)),
        _exit(s.w)])
    snap = s.p.snapshot()
    sp = s.p.frame_stack_pointer(s.frame)
    for _ in range(3):
        out = m.run(entry, s.frame, sp, s.p.tstate, uop_map=uop_map)
        assert out.kind == "tier1"
        assert [s.p.mem.u64(a) for a in spots] == [0x1122334455667788] * len(spots)
        assert s.p.mem.u64(read_then_written[0]) == 0x99aabbccddeeff00
        assert not _every_byte_is(s.p, snap)
        s.p.restore(snap)
        assert _every_byte_is(s.p, snap)


def test_restore_after_a_faulting_store(arch):
    # A store that faults (into the read+exec stub page, or where nothing is mapped) leaves a
    # page to name that holds nothing written, or no region at all: the restore still works.
    s = Scenario(arch)
    m = Machine(arch, s.p)
    heap = s.p.regions["heap"]
    for target in (s.p.regions["stubs"].base + 8, 0x1000_0000_0000):
        entry, uop_map = s.program([
            ("_SCRIBBLE", _scribble(arch, [heap.end - 8, target], 0x5a5a5a5a5a5a5a5a)),
            _exit(s.w)])
        snap = s.p.snapshot()
        out = m.run(entry, s.frame, s.p.frame_stack_pointer(s.frame), s.p.tstate,
                    uop_map=uop_map, raise_on_fault=False)
        assert out.kind == "fault" and f"{target:#x}" in out.message, out.message
        assert s.p.mem.u64(heap.end - 8) == 0x5a5a5a5a5a5a5a5a
        s.p.restore(snap)
        assert _every_byte_is(s.p, snap)


def _bare_unicorn_fault_address(arch, address):
    """Where a load from ``address`` faults on a bare Unicorn with its own TLB (the default)."""
    from unicorn import Uc, UcError
    from unicorn import arm64_const as A, unicorn_const as U, x86_const as X
    if arch == "x86_64":
        uc, code, reg = Uc(U.UC_ARCH_X86, U.UC_MODE_64), bytes.fromhex("488b00"), X.UC_X86_REG_RAX
    else:
        uc = Uc(U.UC_ARCH_ARM64, U.UC_MODE_ARM, cpu=A.UC_CPU_ARM64_MAX)
        code, reg = bytes.fromhex("000040f9"), A.UC_ARM64_REG_X0      # ldr x0, [x0]
    uc.mem_map(0x1000, 0x1000)
    uc.mem_write(0x1000, code)
    seen = []
    uc.hook_add(U.UC_HOOK_MEM_INVALID, lambda _uc, _a, addr, _s, _v, _u: seen.append(addr) or False)
    uc.reg_write(reg, address)
    with pytest.raises(UcError):
        uc.emu_start(0x1000, 0x1000 + len(code))
    return seen[0]


@pytest.mark.parametrize("address", [0xbad0bad0bad00001, 0xffff800000000000, 0x0010_0000_0000_3000,
                                     0x7fff_ffff_ffff_fff8, 0x0000_8000_0000_0000, 0x8])
def test_faults_name_the_address_unicorns_own_tlb_names(arch, address):
    # The machine fills Unicorn's TLB itself (to learn which pages the CPU writes); an address
    # must reach memory, and a fault name it, exactly as with Unicorn's own TLB (x86-64 keeps
    # 52 bits of it, AArch64 all).
    s = Scenario(arch)
    entry, uop_map = s.program([("_PEEK", _scribble(arch, [address], 1, read_first=True)),
                                _exit(s.w)])
    out = Machine(arch, s.p).run(entry, s.frame, s.p.frame_stack_pointer(s.frame), s.p.tstate,
                                 uop_map=uop_map, raise_on_fault=False)
    expected = _bare_unicorn_fault_address(arch, address)
    assert out.kind == "fault" and f"address {expected:#x} " in out.message, (out.message, expected)


def test_a_store_through_an_x86_64_alias_is_undone():
    # On x86-64, address bits 52 and up are dropped on the way to memory: a store through such
    # an alias of a heap page lands in the heap, and the restore must find that page.
    s = Scenario("x86_64")
    target = s.p.regions["heap"].end - 8
    entry, uop_map = s.program([("_SCRIBBLE", _scribble("x86_64", [(1 << 52) | target], 77)),
                                _exit(s.w)])
    snap = s.p.snapshot()
    out = Machine("x86_64", s.p).run(entry, s.frame, s.p.frame_stack_pointer(s.frame),
                                     s.p.tstate, uop_map=uop_map)
    assert out.kind == "tier1" and s.p.mem.u64(target) == 77
    s.p.restore(snap)
    assert _every_byte_is(s.p, snap)
