"""Random LIR functions run on both ISAs' machines against the Python meaning of the LIR.

Both selectors keep tables keyed by register numbers and operands, and choose their scratch
registers (X16/X17, R10/R11) per key; a wrong choice for one rare combination (an rmw whose
displacement and delta both need X17, 40a4e91) is invisible to the uops, the examples and the
fuzzer. Here a seeded generator writes integer LIR functions over a scratch area (the frame's
locals and stack slots): constants at every immediate-form boundary, loads and stores of every
width at displacements at and past every immediate-form limit, rmw with small and large deltas
and its eq/ne branch, bin with register and constant operands (the destination often one of
the sources), ovf, setcc/select/br on every condition and both widths, brbit, lea with every
shift, instruction-field holes with addends, the pinned registers as operands and bases, the
pairs of ops a selector fuses, forward branches (to labels and CONTINUE) and joins, and as many
values live at once as the ISA has registers.

Each function replaces _NOP's group in a tiny trace; one machine per ISA runs them one after the
other (the set-up is the cost). What a function leaves in the scratch area is compared byte for
byte with what tests/lir_meaning.py computes from the same starting bytes. A failure shows the
function's LIR text (str(fn)) and its seed, which regenerates it."""

from __future__ import annotations

import functools
import random

import pytest

import lir_meaning
from refjit import lir
from refjit.backends.aarch64 import isel as a64
from refjit.backends.x86_64 import isel as x64
from refjit.compile import compile_groups, shim_group
from refjit.emulator import Machine
from refjit.errors import RefjitError
from refjit.headerwriter import build_group
from refjit.lir import FRAME, Builder
from refjit.link import Instruction, link
from refjit.profile import load_profile
from refjit.scenario import build_scenario
from refjit.trace import parse_trace
from test_lower_lir import LOCALSPLUS

LOCALS, STACK = 64, 2
WORDS = LOCALS + STACK        # the scratch area: the frame's 64 locals and its 2 stack slots
SIZE = 8 * WORDS
SP_OFFSET = LOCALSPLUS + 8 * LOCALS     # stack_pointer - frame: the stack is empty
TRACE = "\n".join(["refjit-trace 1", "code t units=4", f"frame locals={LOCALS} stacksize={STACK}",
                   "0 _START_EXECUTOR target=0 operand0=&executor",
                   "1 _NOP target=3 oparg=0xbeef operand0=0x8123456789abcdef operand1=0xfffff000",
                   "2 _DEOPT target=1"]) + "\n"
ISEL = {"x86_64": x64, "aarch64": a64}
REGISTERS = {arch: len(isel.SCRATCH) + len(isel.SAVED) for arch, isel in ISEL.items()}

# Constants at the edges of every immediate form: add/sub imm12 and imm12<<12, movz/movk
# halfwords, logical bitmask immediates, x86's imm8/imm32/movl/movabs, 16/32/64-bit limits.
CONSTS = [0, 1, -1, 2, 7, -8, 127, 128, -128, -129, 255, 256, 4095, 4096, -4095, -4096, 4097,
          0xFFF000, 0x1000000, 0xFFF001, -0xFFF000, 0x7FFF, 0x8000, 0xFFFF, 0x10000, -0x8000,
          -0x8001, 0xFFFF0000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0x100000000, -0x80000000,
          -0x80000001, 0xFFFF00000000, 0x1234FFFF, 0x5555555555555555, 0xFF00FF00FF00FF00,
          0x00FF0000, 0xFFFF0000FFFF0000, (1 << 63) - 1, 1 << 63, 0x123456789ABCDEF0,
          0xFFFFFFFFFFFF0001, 0x8000000000000001]
# Displacements at and past the limits of ldr/str scaled (0..4095 * size, aligned), ldur/stur
# (-256..255), add/sub imm12 (and <<12), x86 disp8/disp32; the wide ones only on AArch64
# (x86-64 refuses a displacement beyond 32 bits, with a LowerError).
DISPS = [0, 1, 7, 8, -8, 127, 128, -128, -129, 255, 256, 257, -255, -256, -257, 4095, 4096,
         2 * 4095, 2 * 4096, 4 * 4095, 4 * 4096, 8 * 4095, 8 * 4096, 8 * 4095 + 4, -4095, -4096,
         -4097, 0xFFF000, 0x1000000, 0x12345, -0x123457, 0xFFFF, 0x10000, (1 << 31) - 1,
         (1 << 31) - 8, -(1 << 31)]
WIDE_DISPS = [1 << 32, -(1 << 32), 0x123456789A, -(1 << 40) - 3, (1 << 47) + 8]
DELTAS = [1, -1, 0, 2, 5, 4095, -4095, 4096, -4096, 5000, -5000, 0xFFF000, 0x1000, 0x12345678,
          (1 << 31) - 1, -(1 << 31), 65535, -65536]
CONDS = sorted(lir.INT_CONDS)
BINOPS = ("add", "sub", "mul", "and", "or", "xor")
INT32 = (-(1 << 31), (1 << 31) - 1)
BUILD = {"add": "add", "sub": "sub", "mul": "mul", "and": "and_", "or": "or_", "xor": "xor",
         "shl": "shl", "shr": "shr", "sar": "sar"}


class Gen:
    """One random function. ``pool`` holds the data values defined on every path to here,
    ``bases`` the address registers (value = FRAME + offset; one that an op writes becomes a
    data value first); together they
    never exceed ``regs``, so the function never needs more registers than that at once
    (a value leaves the pool before a new one enters when it is full, and is not read again).
    Forward branches go to open labels; a label remembers which values every branch to it
    had, and binding it keeps only those."""

    def __init__(self, seed: int, regs: int, wide: bool):
        assert regs >= 8, "an op may need 6 registers at once (select, a new base, its dst)"
        self.rng = rng = random.Random(seed)
        self.b = Builder(f"_R{seed}")
        self.regs, self.wide = regs, wide
        self.pool: list = []
        self.bases: dict = {}               # V -> offset from FRAME
        self.open: dict = {}                # label name -> [Lbl, values available, bind at]
        self.disps = DISPS + (WIDE_DISPS if wide else [])
        self.n_ops = rng.randrange(20, 40 + 6 * regs)
        self.seen: set = set()              # (op, detail) pairs, for the coverage test
        self.busy: set = set()              # the operands of the op being made
        self.at = 0                         # the step being made

    # -- values
    def room(self) -> None:
        """Make room for one new value: forget one (after storing it, often) when full. The
        operands of the op being made (``busy``) stay."""
        rng = self.rng
        while len(self.pool) + len(self.bases) >= self.regs:
            bases = [v for v in self.bases if v not in self.busy]
            values = [v for v in self.pool if v not in self.busy]
            if bases and (not values or rng.random() < 0.3):
                del self.bases[rng.choice(bases)]
            else:
                v = rng.choice(values)
                self.pool.remove(v)
                if rng.random() < 0.6:      # (through FRAME or SP: no new register)
                    width = rng.choice((8, 16, 32, 64))
                    self.b.store(v, *self.pinned_slot(width), width)

    def const(self):
        rng = self.rng
        return rng.choice(CONSTS) if rng.random() < 0.85 else rng.randrange(-(1 << 63), 1 << 64)

    def value(self):
        """A data value from the pool (a new constant if it is empty), sometimes a pinned
        register (FRAME, SP, TSTATE: their values are known, and they are never written)."""
        r = self.rng.random()
        if r < 0.04:
            return self.rng.choice(lir.PINNED)
        if self.pool and r < 0.9:
            v = self.rng.choice(self.pool)
        else:
            self.room()
            v = self.b.const(self.const())
            self.pool.append(v)
        self.busy.add(v)
        return v

    def operand(self):
        """A register or a constant (the second operand of bin/setcc/select/br)."""
        return self.value() if self.rng.random() < 0.5 else self.const()

    def dst(self, *sources):
        """None (a new register), or an existing value to overwrite: often one of the sources."""
        rng = self.rng
        r = rng.random()
        regs = [s for s in sources if s.__class__ is lir.V and s in self.pool]
        if r < 0.3 and regs:
            return rng.choice(regs)
        if r < 0.4 and self.pool:
            return rng.choice(self.pool)
        self.room()
        return None

    def defined(self, v, given) -> None:
        if given is None:
            self.pool.append(v)

    # -- addresses
    def pinned_slot(self, width: int):
        """(FRAME or SP, disp) of a ``width``-bit slot of the scratch area."""
        off = self.rng.randrange(0, SIZE // (width // 8)) * (width // 8)
        if self.rng.random() < 0.5:
            return FRAME, LOCALSPLUS + off
        return lir.SP, LOCALSPLUS + off - SP_OFFSET

    def address(self, width: int, disp=None):
        """(base register, disp) of a ``width``-bit slot of the scratch area (at ``disp``
        from a new base register, if given)."""
        rng = self.rng
        off = rng.randrange(0, SIZE // (width // 8)) * (width // 8)
        target = LOCALSPLUS + off
        if disp is None and rng.random() < 0.3:     # FRAME or SP, or a base made before
            choices = [(FRAME, 0), (lir.SP, SP_OFFSET)] + list(self.bases.items())
            base, k = rng.choice(choices)
            if self.wide or INT32[0] <= target - k <= INT32[1]:
                self.busy.add(base)
                return base, target - k
        if disp is None:
            disp = rng.choice(self.disps) + rng.choice((0, 0, 0, width // 8, -(width // 8), 1))
            if not self.wide and not INT32[0] <= disp <= INT32[1]:
                disp = 0
        k = target - disp
        self.room()
        b = self.b
        how = rng.randrange(3)
        if how == 0:
            base = b.add(FRAME, k)
        elif how == 1:
            base = b.sub(FRAME, -k & ((1 << 64) - 1))
        else:                            # lea FRAME + (c << shift) + rest
            shift = rng.randrange(4)
            c = rng.choice((0, 1, 3, -2, 1000, 0x10000, -0x12345))
            rest = k - (c << shift)
            if not self.wide and not INT32[0] <= rest <= INT32[1]:
                base = b.add(FRAME, k)
            else:
                index = b.const(c)
                self.pool.append(index)
                self.busy.add(index)
                self.room()
                base = b.lea(FRAME, index, shift, rest)
                self.seen.add(("lea", shift))
        self.bases[base] = k
        self.busy.add(base)
        self.seen.add(("disp", disp))
        return base, disp

    def store_value(self, v) -> None:
        self.busy.add(v)
        width = self.rng.choice((8, 16, 32, 64, 64))
        base, disp = self.address(width)
        self.b.store(v, base, disp, width)
        self.seen.add(("store", width, False))

    # -- branches
    def available(self, without=None) -> set:
        return {v for v in (*self.pool, *self.bases) if v is not without}

    def target(self, without=None):
        """An open label (or a new one) for a forward branch from here."""
        rng = self.rng
        if rng.random() < 0.02:
            return lir.CONTINUE          # the end of the uop: the rest is skipped
        if self.open and rng.random() < 0.3:
            entry = self.open[rng.choice(list(self.open))]
            entry[1] &= self.available(without)
            return entry[0]
        label = self.b.label()
        # bound a few ops later (most branches skip a little code; some, more than 127 bytes)
        due = self.at + (rng.randrange(1, 12) if rng.random() < 0.8 else rng.randrange(12, 60))
        self.open[label.name] = [label, self.available(without), due]
        return label

    def bind(self, name=None) -> None:
        rng = self.rng
        label, avail, _ = self.open.pop(name or rng.choice(list(self.open)))
        self.pool = [v for v in self.pool if v in avail]
        self.bases = {v: k for v, k in self.bases.items() if v in avail}
        self.b.bind(label)

    # -- one op
    def step(self) -> None:
        rng, b = self.rng, self.b
        self.busy.clear()
        c = rng.randrange(100)
        if c < 6:
            d = self.dst()
            self.defined(b.const(self.const(), dst=d), d)
            self.seen.add(("const",))
        elif c < 8:
            kind = rng.choice(sorted(lir.FIELD_HOLES))
            # (the addends Builder.hole takes: C's sum, which the x86-64 linker computes, is
            # the 64-bit sum AArch64 adds in code; test_lower_lir checks the rest are refused)
            if kind == "TARGET":
                addend = 0
            elif kind == "OPARG":
                addend = rng.choice((0, 8, -8, 0x1000, -0x12345678))
            else:
                addend = rng.choice((0, 0, 8, -8, 0x1000, -0x12345678, 1 << 40, self.const()))
                if -(1 << 32) < addend <= -(1 << 31):
                    addend = 0
            d = self.dst()
            self.defined(b.hole(kind, addend, dst=d), d)
            self.seen.add(("hole", kind))
        elif c < 18:
            width = rng.choice((8, 16, 32, 64))
            sign = rng.random() < 0.5 and width < 64
            base, disp = self.address(width)
            if base in self.bases and rng.random() < 0.2:     # the base becomes the value
                del self.bases[base]
                self.pool.append(base)
                b.load(base, disp, width, sign, dst=base)
            else:
                d = self.dst()
                self.defined(b.load(base, disp, width, sign, dst=d), d)
            self.seen.add(("load", width, sign))
        elif c < 28:
            width = rng.choice((8, 16, 32, 64))
            value = self.value() if rng.random() < 0.6 else self.const()
            base, disp = self.address(width)
            if rng.random() < 0.1:
                value = base                # an address stored
            b.store(value, base, disp, width)
            self.seen.add(("store", width, value.__class__ is int))
        elif c < 36:
            width = rng.choice((32, 64))
            base, disp = self.address(width)
            delta = rng.choice(DELTAS)
            if rng.random() < 0.5:
                cond = rng.choice(("eq", "ne"))
                if rng.random() < 0.4:       # the new value will be zero
                    b.store(-delta, base, disp, width)
                b.rmw(base, disp, width, delta, cond, self.target())
                self.seen.add(("rmw", width, cond))
            else:
                b.rmw(base, disp, width, delta)
                self.seen.add(("rmw", width, None))
        elif c < 52:
            x = self.value()
            op = rng.choice(BINOPS + ("shl", "shr", "sar"))
            if op in ("shl", "shr", "sar"):
                y = rng.choice((0, 1, 2, 7, 8, 31, 32, 33, 48, 63, rng.randrange(64)))
            else:
                y = self.operand()
            d = self.dst(x, y)
            self.defined(getattr(b, BUILD[op])(x, y, dst=d), d)
            self.seen.add(("bin", op, y.__class__ is int))
        elif c < 58:
            op = rng.choice(("add", "sub", "mul"))
            x, y = self.value(), self.value()
            d = self.dst(x, y)
            label = self.target(without=d)
            v = getattr(b, op + "_ovf")(x, y, label, dst=d)
            self.defined(v, d)
            self.seen.add(("ovf", op))
        elif c < 64:
            cond, width = rng.choice(CONDS), rng.choice((32, 64))
            x, y = self.value(), self.operand()
            d = self.dst(x, y)
            self.defined(b.setcc(cond, x, y, width, dst=d), d)
            self.seen.add(("setcc", cond, width))
        elif c < 70:
            cond, width = rng.choice(CONDS), rng.choice((32, 64))
            x, y, t, f = self.value(), self.operand(), self.value(), self.value()
            d = self.dst(x, y, t, f)
            self.defined(b.select(cond, x, y, t, f, width, dst=d), d)
            self.seen.add(("select", cond, width))
        elif c < 74:
            x, i = self.value(), self.value()
            shift = rng.randrange(4)
            disp = rng.choice(self.disps)
            d = self.dst(x, i)
            self.defined(b.lea(x, i, shift, disp, dst=d), d)
            self.seen.add(("lea", shift))
        elif c < 82:
            cond, width = rng.choice(CONDS), rng.choice((32, 64))
            x, y = self.value(), self.operand()
            b.br(cond, x, y, self.target(), width)
            self.seen.add(("br", cond, width))
        elif c < 85:
            x = self.value()
            b.brbit(x, rng.randrange(64), rng.random() < 0.5, self.target())
            self.seen.add(("brbit",))
        elif c < 87:
            label = self.target()
            if label is lir.CONTINUE:
                return
            b.jump(label)
            self.seen.add(("jump",))
            self.bind(label.name if rng.random() < 0.7 else None)
        elif c < 93:
            self.pair()
        elif c < 95:
            x = self.value()
            d = self.dst(x)
            if d is None:
                d = b.new()
                self.pool.append(d)
            b.mov(d, x)
            self.seen.add(("mov",))
        else:
            if self.pool:
                self.store_value(self.rng.choice(self.pool))

    def pair(self) -> None:
        """Two ops that a selector may fuse: a value loaded (or and-ed) only for the branch
        after it (x86-64 tests or compares in memory), a 64-bit store or load followed by an
        add to its base (AArch64's post-/pre-indexed str/ldr), two setccs of one comparison."""
        rng, b = self.rng, self.b
        kind = rng.randrange(5)
        if kind == 0:
            width = rng.choice((8, 16, 32, 64, 32, 64))
            sign = rng.random() < 0.3 and width < 64
            base, disp = self.address(width)
            how = rng.randrange(4)
            y = self.operand()                 # (chosen first: the load's value is not counted)
            self.room()
            v = b.load(base, disp, width, sign)        # read by the next op only
            if how == 0:
                b.brbit(v, rng.choice((0, 1, 7, 8, 15, 16, 31, 32, 63, rng.randrange(64))),
                        rng.random() < 0.5, self.target())
            else:
                cond, w = rng.choice(CONDS), rng.choice((32, 64, max(width, 32), max(width, 32)))
                if how == 1 or y.__class__ is not lir.V:
                    b.br(cond, v, y, self.target(), w)
                elif how == 2:
                    b.br(cond, y, v, self.target(), w)
                else:
                    b.br(cond, v, v, self.target(), w)
            self.seen.add(("pair", "load-branch"))
        elif kind == 1:
            x = self.value()
            self.room()
            v = b.and_(x, rng.choice((1, 0xFF, 0x80, 0x100, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF,
                                      0xFF00000000, 1 << 63, self.const())))
            b.br(rng.choice(("eq", "ne")), v, 0, self.target(), rng.choice((32, 64)))
            self.seen.add(("pair", "and-branch"))
        elif kind in (2, 3):
            step = rng.choice((8, -8, 16, -16, 248, -256, 255, 256, -257, 0, 1))
            if kind == 2:                    # str v, [base]; base += step
                value = self.value() if rng.random() < 0.7 else rng.choice((0, 1, -1, self.const()))
                base, _ = self.address(64, disp=0)
                b.store(value, base, 0, 64)
            else:                            # v = ldr [base + step]; base += step
                base, disp = self.address(64, disp=step)
                d = self.dst()
                self.defined(b.load(base, disp, 64, dst=d), d)
            b.add(base, step, dst=base)
            del self.bases[base]             # now just a number
            self.pool.append(base)
            self.seen.add(("pair", "push" if kind == 2 else "pop"))
        else:
            cond, width = rng.choice(CONDS), rng.choice((32, 64))
            x, y = self.value(), self.operand()
            d = self.dst(x, y)
            v = b.setcc(cond, x, y, width, dst=d)
            self.defined(v, d)
            if v is x or v is y:
                return
            d2 = self.dst(x, y)
            self.defined(b.setcc(rng.choice(CONDS), x, y, width, dst=d2), d2)
            self.seen.add(("pair", "setcc-setcc"))

    def build(self) -> lir.Function:
        fill = self.rng.randrange(self.n_ops)
        for at in range(self.n_ops):
            self.at = at
            if at == fill:               # as many values as there are registers, from here on
                while len(self.pool) + len(self.bases) < self.regs:
                    self.busy.clear()
                    if self.rng.random() < 0.5:
                        self.pool.append(self.b.const(self.const()))
                    else:
                        self.pool.append(self.b.load(*self.pinned_slot(64)))
            self.step()
            for name, (_, _, due) in list(self.open.items()):
                if due <= at and name in self.open:
                    self.bind(name)
        while self.open:
            self.bind()
        # the end: as many values as there are registers, all live until each is stored
        # (through FRAME or SP, so no base register is needed)
        self.bases.clear()
        while len(self.pool) < self.regs:
            if self.rng.random() < 0.5:
                self.pool.append(self.b.const(self.const()))
            else:
                self.pool.append(self.b.load(*self.pinned_slot(64)))
        for v in self.pool:
            width = self.rng.choice((8, 16, 32, 64))
            self.b.store(v, *self.pinned_slot(width), width)
        return self.b.finish()


# -- running ------------------------------------------------------------------------------------

class Bench:
    """One scenario and one machine of ``arch``; ``run(fn, start)`` links ``fn`` as _NOP's group,
    puts ``start`` in the scratch area, runs the trace and returns the scratch area's bytes."""

    def __init__(self, arch: str):
        self.arch = arch
        profile = load_profile("3.14", arch)
        assert profile.offset("_PyInterpreterFrame", "localsplus") == LOCALSPLUS
        self.attach(build_scenario(parse_trace(TRACE, profile), profile))
        assert self.sc.stack_pointer - self.sc.frame == SP_OFFSET

    def attach(self, sc) -> None:
        """Take scenario ``sc``: its process, its trace with refjit's groups, a machine, and the
        scratch area (the frame's locals) the functions work in."""
        self.sc, self.p = sc, sc.process
        self.groups = compile_groups(self.arch, {u.name for u in sc.uops})
        self.shim = shim_group(self.arch)
        self.trace = [Instruction(u.name, u.oparg, u.operand0, u.operand1, u.target,
                                  u.jump_target, u.error_target) for u in sc.uops]
        self.base = self.p.regions["jit"].base
        self.machine = Machine(self.arch, self.p)
        self.scratch = sc.frame + LOCALSPLUS

    def execute(self, fn: lir.Function, start: bytes, uop: str = "_NOP"):
        """Select ``fn`` as ``uop``'s group, link the trace with it, put ``start`` in the scratch
        area and run; how the run ended (always back in tier 1)."""
        code = ISEL[self.arch].select(fn)
        group = build_group(uop, self.arch, code.code, code.relocs, code.data, code.data_labels)
        ex = link(self.trace, {**self.groups, uop: group}, self.shim, arch=self.arch,
                  executor=self.sc.executor, base=self.base, resolve=self.p.stub_address)
        ex.install(self.p, self.sc.executor)
        self.p.mem.write(self.scratch, start)
        sc = self.sc
        ending = self.machine.execute(self.base, sc.frame, sc.stack_pointer, sc.tstate)
        assert ending.kind == "tier1", (ending, str(fn))
        return ending

    def run(self, fn: lir.Function, start: bytes) -> bytes:
        self.execute(fn, start)
        return self.p.mem.read(self.scratch, SIZE)


@pytest.fixture(scope="module")
def benches():
    return {arch: Bench(arch) for arch in ISEL}


def expected(fn: lir.Function, start: bytes, bench: Bench, taken=None) -> bytes:
    memory = bytearray(start)
    sc = bench.sc
    nop = sc.uops[1]        # (the hole values jit.c patches in, from the trace's fields)
    holes = {"_JIT_OPARG": nop.oparg, "_JIT_OPERAND0": nop.operand0,
             "_JIT_OPERAND1": nop.operand1, "_JIT_TARGET": nop.target,
             "_JIT_EXECUTOR": sc.executor}
    lir_meaning.run(fn, memory, bench.scratch,
                    {FRAME: sc.frame, lir.SP: sc.stack_pointer, lir.TSTATE: sc.tstate}, taken,
                    holes)
    return bytes(memory)


def check(fn, seed, start, bench, taken=None) -> None:
    """``fn`` run on ``bench``'s machine leaves what the Python meaning does; else fail with
    its seed and LIR text (also when selection, linking or the run fails)."""
    want = expected(fn, start, bench, taken)
    try:
        got = bench.run(fn, start)
    except RefjitError as err:
        pytest.fail(f"{bench.arch}: seed {seed}: {err}\n{fn}")
    if got != want:
        words = [f"  word {i}: machine {int.from_bytes(got[8 * i:8 * i + 8], 'little'):#018x}"
                 f" Python {int.from_bytes(want[8 * i:8 * i + 8], 'little'):#018x}"
                 for i in range(WORDS) if got[8 * i:8 * i + 8] != want[8 * i:8 * i + 8]]
        pytest.fail(f"{bench.arch}: seed {seed} leaves the scratch area wrong:\n"
                    + "\n".join(words) + f"\n{fn}")


def pressure(fn: lir.Function) -> int:
    """The most values live at once, from the live intervals (two that only touch, one ending
    where the other begins, may share a register)."""
    iv = sorted(lir.live_intervals(fn).values())
    return max((1 + sum(1 for s, e in iv[:n] if s2 < e) for n, (s2, _) in enumerate(iv)), default=0)


def functions(seeds, regs: int, wide: bool):
    for seed in seeds:
        gen = Gen(seed, regs, wide)
        fn = gen.build()
        start = random.Random(~seed).randbytes(SIZE)
        yield seed, gen, fn, start


# Functions that run on both ISAs: no more values at once than x86-64 has registers (9), and
# displacements that fit in 32 bits. Then AArch64's 23 registers and 64-bit displacements.
BOTH = (range(1000), REGISTERS["x86_64"], False)
AARCH64_ONLY = (range(10_000, 10_500), REGISTERS["aarch64"], True)


@functools.cache
def generated(kind: tuple) -> list:
    """The functions of ``kind`` (seeds, registers, wide), made once for every test here."""
    return list(functions(*kind))


@pytest.mark.parametrize("arch", ISEL)
def test_random_functions_leave_what_python_computes(benches, arch):
    taken: dict = {}
    for seed, _, fn, start in generated(BOTH):
        check(fn, seed, start, benches[arch], taken)
    # every kind of branch went both ways
    assert all(taken.get((k, way), 0) >= 20 for k in ("rmw", "ovf", "br", "brbit")
               for way in (True, False)), taken


def test_random_functions_with_every_aarch64_register_and_wide_displacements(benches):
    for seed, _, fn, start in generated(AARCH64_ONLY):
        check(fn, seed, start, benches["aarch64"])


def test_the_generator_reaches_every_limit():
    """What the two tests above run covers every op form the LIR has for ints (but calls), and
    every function needs every register of the ISA at once, never more (the pressure from the
    live intervals, independent of the generator's own count)."""
    for kind, arch in ((BOTH, "x86_64"), (AARCH64_ONLY, "aarch64")):
        seen: set = set()
        most = set()
        for _, gen, fn, _ in generated(kind):
            seen |= gen.seen
            most.add(pressure(fn))
        assert most == {REGISTERS[arch]}, (arch, sorted(most))
        widths = (32, 64)
        want = {("const",), ("brbit",), ("jump",), ("mov",)}
        want |= {("hole", kind) for kind in lir.FIELD_HOLES}
        want |= {("load", w, s) for w in (8, 16, 32) for s in (False, True)} | {("load", 64, False)}
        want |= {("store", w, k) for w in (8, 16, 32, 64) for k in (False, True)}
        want |= {("rmw", w, c) for w in widths for c in ("eq", "ne", None)}
        want |= {("bin", op, k) for op in BINOPS for k in (False, True)}
        want |= {("bin", op, True) for op in ("shl", "shr", "sar")}
        want |= {("ovf", op) for op in ("add", "sub", "mul")}
        want |= {(k, c, w) for k in ("setcc", "select", "br") for c in CONDS for w in widths}
        want |= {("lea", shift) for shift in range(4)}
        want |= {("pair", k) for k in ("load-branch", "and-branch", "push", "pop", "setcc-setcc")}
        want |= {("disp", d) for d in DISPS + (WIDE_DISPS if kind[2] else [])}
        assert want <= seen, (arch, sorted(want - seen, key=str))


def test_a_difference_shows_the_function(benches, monkeypatch):
    """A wrong result names the seed and shows the function's LIR text (here the Python
    meaning is made wrong: sar computed as shr)."""
    binary = lir_meaning.binary
    monkeypatch.setattr(lir_meaning, "binary",
                        lambda op, a, b: binary("shr" if op == "sar" else op, a, b))
    for seed, _, fn, start in generated(BOTH):
        if any(op.op == "bin" and op.args[0] == "sar" for op in fn.ops):
            try:
                check(fn, seed, start, benches["x86_64"])
            except pytest.fail.Exception as failure:
                text = str(failure)
                assert f"seed {seed}" in text and str(fn) in text
                return
    pytest.fail("no function's result depends on sar")


def test_the_meaning_of_a_few_ops():
    """The Python meaning on hand-worked cases: 32-bit compares read the low 32 bits of a
    constant too, sar is arithmetic, loads sign-extend, rmw wraps at its width and branches on
    the new value, ovf leaves its destination undefined on overflow."""
    assert lir_meaning.compare("eq", 5, (1 << 40) + 5, 32)
    assert lir_meaning.compare("lt", 0xFFFFFFFF, 0, 32) and not lir_meaning.compare("lt", 0xFFFFFFFF, 0, 64)
    assert lir_meaning.compare("ugt", 0xFFFFFFFF, 0, 32)
    assert lir_meaning.binary("sar", 1 << 63, 63) == (1 << 64) - 1
    assert lir_meaning.binary("shr", 1 << 63, 63) == 1
    b = Builder("_M")
    x = b.load(FRAME, 0, 8, True)
    b.store(x, FRAME, 8)
    skip = b.label()
    b.rmw(FRAME, 16, 32, 1, "eq", skip)
    b.store(7, FRAME, 24)
    b.bind(skip)
    big = b.const((1 << 63) - 1)
    out = b.label()
    y = b.add_ovf(big, big, out)
    b.store(y, FRAME, 24)
    b.bind(out)
    memory = bytearray(32)
    memory[0] = 0x80
    memory[16:20] = b"\xff" * 4
    memory[20:24] = b"\x11" * 4
    lir_meaning.run(b.finish(), memory, 0x1000, {FRAME: 0x1000})
    assert int.from_bytes(memory[8:16], "little") == (1 << 64) - 0x80
    assert memory[16:24] == bytes(4) + b"\x11" * 4        # wrapped to 0 at 32 bits: branch taken
    assert memory[24:32] == bytes(8)


def test_what_the_random_functions_leave_out_is_refused_clearly(benches):
    """x86-64 takes no displacement beyond 32 bits (so the wide ones run on AArch64 only): a
    LowerError naming the uop. A brbit farther than tbz/tbnz reach (+-32 KiB, longer than any
    function above) is either refused the same way or runs right; never wrong code."""
    from refjit.errors import LowerError
    wide = 1 << 32
    for emit in (lambda b: b.store(b.load(FRAME, wide), FRAME, 0),
                 lambda b: b.store(1, FRAME, -wide - 8),
                 lambda b: b.rmw(FRAME, wide, 64, 1),
                 lambda b: b.store(b.lea(FRAME, FRAME, 0, wide), FRAME, 0)):
        b = Builder("_WIDE")
        emit(b)
        with pytest.raises(LowerError, match="_WIDE.*32"):
            x64.select(b.finish())
    b = Builder("_FAR")
    far = b.label()
    b.brbit(b.load(FRAME, LOCALSPLUS), 3, True, far)
    for i in range(9000):          # 4 bytes each, at least
        b.store(i, FRAME, LOCALSPLUS + 8 * (i % LOCALS))
    b.bind(far)
    fn = b.finish()
    start = bytes([8]) + bytes(SIZE - 1)      # bit 3 set: the branch is taken
    try:
        a64.select(fn)
    except LowerError as err:
        assert "_FAR" in str(err) and "out of range" in str(err), err
    else:
        check(fn, "_FAR", start, benches["aarch64"])
    check(fn, "_FAR", start, benches["x86_64"])


@pytest.mark.parametrize("arch", ISEL)
def test_a_setcc_after_one_that_overwrote_its_operand_compares_again(benches, arch):
    """Found by the random functions (seed 206259 of 23 registers): two setccs of the same
    operands share the first one's flags, but not when the first wrote one of those operands
    (``x = x >u y; z = x >=u y`` compares the new x). With a register and a constant."""
    for y_is_const in (False, True):
        b = Builder("_SETCC_TWICE")
        x = b.const(0x101)
        y = 0x7F if y_is_const else b.const(0x7F)
        b.setcc("ugt", x, y, 32, dst=x)         # x = 1
        b.store(b.setcc("uge", x, y, 32), FRAME, LOCALSPLUS)   # 1 >=u 0x7f: 0
        b.store(x, FRAME, LOCALSPLUS + 8)
        y2 = 3 if y_is_const else b.const(3)
        b.setcc("eq", x, y2, 64, dst=x)         # x = 0 (1 != 3)
        b.store(b.setcc("ne", x, y2, 64), FRAME, LOCALSPLUS + 16)   # 0 != 3: 1
        fn = b.finish()
        start = bytes(SIZE)
        assert expected(fn, start, benches[arch])[:24] == bytes(8) + bytes([1]) + bytes(7) + bytes([1]) + bytes(7)
        check(fn, "_SETCC_TWICE", start, benches[arch])


@pytest.mark.parametrize("arch", ISEL)
def test_a_bit_test_folded_into_a_load_at_the_last_32_bit_displacement(benches, arch):
    """Found by the random functions (seed 1256 of 9 registers): x86-64 tests a loaded
    value's bit in memory (testb at disp + bit // 8) when the value only feeds the branch, and
    refused ``load32s [b + 0x7fffffff]; if bit 15 ...`` (disp + 1 does not fit in 32 bits)
    although the load alone is fine: it now loads, then tests."""
    for disp, bit in ((0x7FFFFFFF, 15), (0x7FFFFFFE, 31), (0x7FFFFFF9, 63), (-0x80000000, 9)):
        b = Builder("_TEST_FAR_BIT")
        base = b.add(FRAME, LOCALSPLUS - disp)
        skip = b.label()
        b.brbit(b.load(base, disp, 64 if bit > 31 else 32, True), bit, True, skip)
        b.store(1, FRAME, LOCALSPLUS + 8)
        b.bind(skip)
        fn = b.finish()
        for value in (0, 1 << bit):
            start = value.to_bytes(8, "little") + bytes(SIZE - 8)
            check(fn, f"_TEST_FAR_BIT {disp:#x} {bit}", start, benches[arch])
