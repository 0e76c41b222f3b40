"""How fast the Unicorn machines run: short traces per second, and C-model calls per second.

    python benchmarks/emulate.py [--seconds 1.0] [--stencils /path/to/headers]

The short trace is hand-written in the stencils' style (a CPython-like shim, then: read a local
with PyStackRef_DUP, read a borrowed local, two PyStackRef_CLOSEs, Py_INCREF/Py_DECREF, the
tier-1 exit) and leaves the process as it found it, so it can be re-run without restoring
memory. "execute" is the machine alone (entry, run, how it ended); "run" adds reading the
Outcome back; "us/restore" is the process refilled from a snapshot with every region copied
whole (what resetting a lane after a machine run cost before the machines reported the pages the
CPU stores to; kept as the reference for the next figure), "us/pages" an int allocated and freed
through Memory, then the restore that rewrites only the pages written (what refjit.check pays
now before and after each machine run of a case). The call benchmark is one uop
that calls PyLong_FromLong(5) in a loop, so each iteration is a trip into the stub page, the
Python model and back.
"""

from __future__ import annotations

import argparse
import re
import time

from refjit.asmtext import assemble_lines
from refjit.emulator import Machine
from refjit.profile import load_profile
from refjit.runtime.objects import stackref_borrowed, stackref_owned
from refjit.runtime.process import Process

CALLS_PER_RUN = 1000


def _mov64(reg, value):
    out = [f"movz {reg}, #{value & 0xFFFF:#x}"]
    out += [f"movk {reg}, #{(value >> s) & 0xFFFF:#x}, lsl #{s}" for s in (16, 32, 48)
            if (value >> s) & 0xFFFF]
    return out


def listings(arch, p):
    o = lambda s, f: p.profile.offset(s, f)  # noqa: E731
    lp, spo = o("_PyInterpreterFrame", "localsplus"), o("_PyInterpreterFrame", "stackpointer")
    ce, bc = o("PyThreadState", "current_executor"), o("PyCodeObject", "co_code_adaptive")
    dealloc, from_long = p.symbols["_Py_Dealloc"], p.symbols["PyLong_FromLong"]
    if arch == "x86_64":
        shim = ["pushq %r15", "pushq %r14", "pushq %r13", "pushq %r12", "pushq %rbx",
                "movq %rdi, %r12", "movq %rsi, %r13", "movq %rdx, %r14", "callq {body}",
                "popq %rbx", "popq %r12", "popq %r13", "popq %r14", "popq %r15", "retq"]
        close = ["movq -0x8(%r13), %rdi", "addq $-0x8, %r13", "testb $0x1, %dil", "jne {c@}",
                 "decl (%rdi)", "jne {c@}", "pushq %rax", f"movabsq ${dealloc:#x}, %rax",
                 "callq *%rax", "popq %rcx", "c@:"]
        trace = [
            f"movq {lp:#x}(%r12), %rax", "testb $0x1, %al", "jne {s0}", "incl (%rax)", "s0:",
            "movq %rax, (%r13)", "addq $0x8, %r13",
            f"movq {lp + 8:#x}(%r12), %rax", "orq $0x1, %rax", "movq %rax, (%r13)", "addq $0x8, %r13",
            *[ln.replace("@", "1") for ln in close], *[ln.replace("@", "2") for ln in close],
            f"movq {lp + 16:#x}(%r12), %rax", "incl (%rax)", "decl (%rax)",
        ]
        calls = ["movl $%d, %%ebx" % CALLS_PER_RUN, "loop:", "pushq %rax", "movl $0x5, %edi",
                 f"movabsq ${from_long:#x}, %rax", "callq *%rax", "popq %rcx", "decl %ebx",
                 "jne {loop}"]
        exit_ = [f"movq $0x0, {ce:#x}(%r14)", f"movq %r13, {spo:#x}(%r12)", "movq (%r12), %rax",
                 "andq $-0x2, %rax", f"addq ${bc + 4:#x}, %rax", "retq"]
    else:
        shim = ["stp x29, x30, [sp, #-16]!", "stp x19, x20, [sp, #-16]!", "stp x21, x22, [sp, #-16]!",
                "mov x20, x0", "mov x21, x1", "mov x22, x2", "bl {body}", "ldp x21, x22, [sp], #16",
                "ldp x19, x20, [sp], #16", "ldp x29, x30, [sp], #16", "ret"]
        close = ["ldr x0, [x21, #-0x8]!", "tbnz w0, #0, {c@}", "ldr w9, [x0]", "subs w9, w9, #0x1",
                 "str w9, [x0]", "b.ne {c@}", "stp x29, x30, [sp, #-16]!", *_mov64("x8", dealloc),
                 "blr x8", "ldp x29, x30, [sp], #16", "c@:"]
        trace = [
            f"ldr x8, [x20, #{lp:#x}]", "tbnz w8, #0, {s0}", "ldr w9, [x8]", "add w9, w9, #0x1",
            "str w9, [x8]", "s0:", "str x8, [x21], #0x8",
            f"ldr x8, [x20, #{lp + 8:#x}]", "orr x8, x8, #0x1", "str x8, [x21], #0x8",
            *[ln.replace("@", "1") for ln in close], *[ln.replace("@", "2") for ln in close],
            f"ldr x8, [x20, #{lp + 16:#x}]", "ldr w9, [x8]", "add w9, w9, #0x1", "sub w9, w9, #0x1",
            "str w9, [x8]",
        ]
        calls = [f"mov w19, #{CALLS_PER_RUN:#x}", "loop:", "stp x29, x30, [sp, #-16]!",
                 "mov x0, #0x5", *_mov64("x8", from_long), "blr x8", "ldp x29, x30, [sp], #16",
                 "subs w19, w19, #0x1", "b.ne {loop}"]
        exit_ = [f"str xzr, [x22, #{ce:#x}]", f"str x21, [x20, #{spo:#x}]", "ldr x8, [x20]",
                 "and x8, x8, #0xfffffffffffffffe", f"add x0, x8, #{bc + 4:#x}", "ret"]
    return {"trace": shim + ["body:"] + trace + exit_, "calls": shim + ["body:"] + calls + exit_}


def assemble(arch, lines, base):
    label = re.compile(r"^(\w+):$")
    labels: dict[str, int] = {}
    for _ in range(8):
        text = [re.sub(r"\{(\w+)\}", lambda m: f"{labels.get(m.group(1), base):#x}", ln)
                for ln in lines if not label.match(ln)]
        text[0] = f"{base:x}: {text[0]}"
        results = assemble_lines(arch, text)
        for r in results:
            if r.error:
                raise SystemExit(f"{arch}: cannot assemble {r.text!r}: {r.error}")
        new, k, pos = {}, 0, base
        for ln in lines:
            m = label.match(ln)
            if m:
                new[m.group(1)] = pos
            else:
                pos = results[k].address + len(results[k].encoding)
                k += 1
        if new == labels:
            return b"".join(r.encoding for r in results)
        labels = new
    raise SystemExit("labels do not converge")


def rate(fn, seconds):
    n, start = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return n / elapsed


def bench(arch, seconds):
    p = Process(load_profile("3.14", arch))
    code = p.new_code(b"\0\0" * 8, nlocals=3, stacksize=4)
    frame = p.new_frame(code, 3, [stackref_owned(p.new_int(1000)), stackref_borrowed(p.small_int(5)),
                                  stackref_owned(p.new_int(70000))])
    sp = p.frame_stack_pointer(frame)
    progs = listings(arch, p)
    jit = p.regions["jit"].base
    half = p.regions["jit"].size // 2
    p.mem.write(jit, assemble(arch, progs["trace"], jit))
    p.mem.write(jit + half, assemble(arch, progs["calls"], jit + half))
    t0 = time.perf_counter()
    m = Machine(arch, p)
    setup = time.perf_counter() - t0
    first = m.run(jit, frame, sp, p.tstate)
    assert first.kind == "tier1" and first.target == 2, first.render()
    execute = rate(lambda: m.execute(jit, frame, sp, p.tstate), seconds)
    run = rate(lambda: m.run(jit, frame, sp, p.tstate), seconds)
    again = m.run(jit, frame, sp, p.tstate)
    assert again == first, "\n".join(again.compare(first))       # the trace is state-neutral
    before = m.calls
    calls_runs = rate(lambda: m.execute(jit + half, frame, sp, p.tstate), seconds)
    assert m.calls - before >= CALLS_PER_RUN
    # What refjit.check pays before each run of a case: the process refilled from a snapshot.
    snap = p.snapshot()

    def after_run():
        p.mem.mark_all_dirty()
        p.restore(snap)

    def after_writes():
        p.decref(p.new_int(10**6))
        p.restore(snap)

    restores = rate(after_run, seconds)
    pages = rate(after_writes, seconds)
    return {"arch": arch, "machine setup": setup, "trace insns": first.instructions,
            "execute/s": execute, "run/s": run, "calls/s": calls_runs * CALLS_PER_RUN,
            "restore/s": restores, "pages/s": pages}


def bench_real_stencils(arch, directory, iterations=2000):
    """int_sum (examples/int_sum.trace) linked from a real jit_stencils-<triple>.h: a long loop
    mixing emitted code and model calls (_PyLong_Add, _Py_Dealloc via the stub page)."""
    import glob
    import os

    from refjit.link import link
    from refjit.scenario import build_scenario
    from refjit.stencils import read_header
    from refjit.trace import load_trace

    found = sorted(glob.glob(os.path.join(directory, f"jit_stencils-{arch}-*-linux-gnu.h")))
    if not found:
        raise SystemExit(f"no jit_stencils-{arch}-*-linux-gnu.h in {directory}")
    hdr = read_header(found[0])
    prof = load_profile("3.14", arch)
    example = os.path.join(os.path.dirname(__file__), "..", "examples", "int_sum.trace")
    sc = build_scenario(load_trace(example, prof), prof)
    sc.process.view("_PyRangeIterObject", sc.address_of("it")).len = iterations
    base = sc.process.regions["jit"].base
    linked = link(sc.uops, hdr.groups, hdr.shim, arch=arch, executor=sc.executor, base=base,
                  resolve=sc.process.symbols)
    m = Machine(arch, sc.process)
    t0 = time.perf_counter()
    out = m.run_linked(linked, frame=sc.frame, stack_pointer=sc.stack_pointer, tstate=sc.tstate,
                       executor=sc.executor)
    elapsed = time.perf_counter() - t0
    return {"arch": arch, "iterations": iterations, "seconds": elapsed,
            "insns/s": out.instructions / elapsed, "calls": m.calls}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    ap.add_argument("--stencils", metavar="DIR",
                    help="also run int_sum from the real jit_stencils-<triple>.h headers in DIR")
    args = ap.parse_args()
    rows = [bench(arch, args.seconds) for arch in ("x86_64", "aarch64")]
    print(f"{'arch':8} {'setup':>10} {'insns':>6} {'execute/s':>11} {'us/exec':>8} "
          f"{'run/s':>9} {'us/run':>8} {'model calls/s':>14} {'us/restore':>10} {'us/pages':>8}")
    for r in rows:
        print(f"{r['arch']:8} {r['machine setup'] * 1e3:8.1f}ms {r['trace insns']:6d} "
              f"{r['execute/s']:11.0f} {1e6 / r['execute/s']:8.1f} {r['run/s']:9.0f} "
              f"{1e6 / r['run/s']:8.1f} {r['calls/s']:14.0f} {1e6 / r['restore/s']:10.1f} {1e6 / r['pages/s']:8.1f}")
    if args.stencils:
        print("\nint_sum from CPython's stencils (loop iterations, wall time, instructions/s)")
        for arch in ("x86_64", "aarch64"):
            r = bench_real_stencils(arch, args.stencils)
            print(f"{arch:8} {r['iterations']:6d} iterations {r['seconds']:7.2f}s "
                  f"{r['insns/s']:11.0f} insns/s {r['calls']:7d} model calls")


if __name__ == "__main__":
    main()
