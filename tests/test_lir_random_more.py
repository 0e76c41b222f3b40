"""Random LIR functions with f64, calls, loops, rodata, symbol holes and exits, on both ISAs.

test_lir_random.py covers the integer ops; this file the rest of the LIR, with the same method:
a seeded generator writes a function, each ISA's machine runs it in place of one uop's group, and
what it leaves in the scratch area (the frame's locals) and the exit it takes are compared with
what tests/lir_meaning.py computes. The functions here mix

* f64: ``fload``/``fstore`` (from the float half of the scratch area, which starts with -0.0,
  NaNs, infinities, subnormals and the edges of int64, and from rodata), ``fbin`` + - * /,
  ``fsetcc`` on every condition, ``i2f``, and ``f2i`` behind the range check C code makes before
  a cast (``f2i`` of a NaN or an out-of-range double is undefined in C). A NaN's sign and payload
  are not defined (the ISAs make different ones), so where a NaN is stored any NaN is accepted;
* calls (``call`` and ``call_ptr`` through a symbol hole) to C functions the emulated process
  provides for these tests (models registered while the Bench's process is built), with int and
  double arguments in mixed order, the pinned registers and OUT_SLOT among them, and values live
  across the call (in callee-saved registers, or caller-saved ones the selector saves: the
  emulator poisons every caller-saved register at each call). No f64 value lives across a call
  (the LIR's rule: both selectors refuse it);
* loops: a counted backward branch whose body may hold any of the above, calls included;
* rodata blobs of doubles read through ``data`` addresses, and C symbols' addresses
  (``hole``) with addends, stored and compared;
* branches to JUMP_TARGET and ERROR_TARGET (and CONTINUE) from br, brbit (both also on a loaded
  value), rmw and ovf: the trace's stubs say which exit was taken;
* once per function, as many f64 values live at once as the ISA has f64 registers to allocate.

A failure prints the seed, the ISA, the exit and every differing word (machine and Python), and
the function's LIR text."""

from __future__ import annotations

import functools
import math
import random
import struct

import pytest

import lir_meaning
from refjit import lir
from refjit.errors import RefjitError
from refjit.lir import FRAME, Builder
from refjit.profile import load_profile
from refjit.runtime import cfuncs
from refjit.scenario import build_scenario
from refjit.trace import parse_trace
import test_lir_random
from test_lir_random import CONSTS, ISEL, REGISTERS
from test_lower_lir import LOCALSPLUS

M64 = (1 << 64) - 1
LOCALS = 64
INT_WORDS = range(0, 40)          # the scratch area's words that int ops read and write
F64_WORDS = range(40, 64)         # ... and those that f64 ops do (NaNs stay out of int loads)
SIZE = 8 * LOCALS
UOP = "_CHECK_VALIDITY"           # the uop whose group each function replaces: it may deopt
TRACE = "\n".join(["refjit-trace 1", "code t units=8", f"frame locals={LOCALS} stacksize=2",
                   "0 _START_EXECUTOR target=0 operand0=&executor",
                   f"1 {UOP} jump_target=3 error_target=4",
                   "2 _DEOPT target=1", "3 _DEOPT target=2", "4 _DEOPT target=3"]) + "\n"
EXITS = ("CONTINUE", "JUMP_TARGET", "ERROR_TARGET")

F_SPECIAL = [0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 3.0, 1e300, -1e300, 5e-324, -5e-324, 2.2e-308,
             1e-310, math.inf, -math.inf, math.nan, -math.nan, 2.0 ** 63, -(2.0 ** 63),
             2.0 ** 63 - 1024, 9.2e18, -9.3e18, 2.0 ** 53 + 2, 123456789.75, -0.75, 1e-5]
F_BITS = [0x7FF0000000000001, 0xFFF4000000000000, 0x7FF8DEADBEEF0000]    # NaNs with payloads
INT64_EDGES = struct.pack("<2d", -(2.0 ** 63), 2.0 ** 63)   # f2i's range: [-2**63, 2**63)


# -- the C functions the emulated process gets for these tests --------------------------------------

def code_of(x) -> int:
    """What a test function hashes of one argument: an int's 64 bits, a double's bits (any NaN
    alike: its payload is not defined); OUT_SLOT's address (None here) is not hashed."""
    if x is None:
        return 0
    if x.__class__ is float:
        return 0x7FF8000000000000 if math.isnan(x) else lir_meaning.double_bits(x)
    return x & M64


def mix(name: str, args) -> int:
    """The result of test function ``name``: a hash of every argument in order (a swapped,
    lost or clobbered argument changes it)."""
    h = sum(map(ord, name)) * 0x9E3779B97F4A7C15 & M64
    for k, x in enumerate(args):
        h = ((h ^ code_of(x)) * 0x100000001B3 + k) & M64
    return h


# name -> C argument types ("ptr" is the OUT_SLOT: the function writes a word there)
SIGNATURES = {
    "refjit_test_i2": ("int", "int"),
    "refjit_test_i6": ("int",) * 6,
    "refjit_test_f2": ("double", "double"),
    "refjit_test_mixed": ("double", "int", "double", "int", "double"),
    "refjit_test_f8i2": ("int",) + ("double",) * 8 + ("int",),
    "refjit_test_out": ("int", "ptr", "double"),
    "refjit_test_out_first": ("ptr", "double", "int", "int"),
}
OUT_WORD = 0x5A5A5A5A00000000


def _model(name: str):
    def fn(process, *args):
        values = [None if t == "ptr" else x for t, x in zip(SIGNATURES[name], args)]
        for t, x in zip(SIGNATURES[name], args):
            if t == "ptr":
                process.mem.write(x, ((mix(name, values) ^ OUT_WORD) & M64).to_bytes(8, "little"))
        return mix(name, values)
    return fn


def callee(symbol: str, values: list, has_out: bool):
    """lir_meaning's view of the same functions: (result, word written to OUT_SLOT)."""
    h = mix(symbol, values)
    return h, ((h ^ OUT_WORD) & M64) if has_out else None


class Bench:
    """One scenario and one machine of ``arch`` with the test functions; ``run(fn, start)``
    links ``fn`` as UOP's group, runs the trace from ``start`` in the scratch area and returns
    (the exit taken, the scratch area's bytes); ``raw``: the address it returned instead."""

    def __init__(self, arch: str):
        self.arch = arch
        profile = load_profile("3.14", arch)
        with pytest.MonkeyPatch.context() as mp:     # (the process takes its stubs when built)
            for name, types in SIGNATURES.items():
                mp.setitem(cfuncs.MODELS, name, cfuncs.CModel(name, types, "int", _model(name)))
            mp.setattr(cfuncs, "EXTRA_FUNCTIONS", cfuncs.EXTRA_FUNCTIONS + tuple(SIGNATURES))
            sc = build_scenario(parse_trace(TRACE, profile), profile)
        test_lir_random.Bench.attach(self, sc)
        # the code address each exit returns to tier 1 (the _DEOPT stubs' targets differ)
        self.exit_at: dict[int, str] = {}
        for name in EXITS:
            b = Builder("_EXIT")
            if name != "CONTINUE":
                b.jump(getattr(lir, name))
            self.exit_at[self.run(b.finish(), bytes(SIZE), raw=True)] = name
        assert len(self.exit_at) == 3

    def run(self, fn: lir.Function, start: bytes, raw: bool = False):
        ending = test_lir_random.Bench.execute(self, fn, start, UOP)
        ip = ending.returned         # (GOTO_TIER_ONE returns the stub's target)
        if raw:
            return ip
        return self.exit_at[ip], self.p.mem.read(self.scratch, SIZE)


@pytest.fixture(scope="module")
def benches():
    return {arch: Bench(arch) for arch in ISEL}


# -- the generator --------------------------------------------------------------------------------

class Gen:
    """One random function. ``ints``/``floats`` hold the values defined on every path to here;
    together with the op being made they never need more than ``regs`` int registers (``fregs``
    f64). No f64 value is live at a call; a loop's counter takes one int register while it runs."""

    def __init__(self, seed: int, regs: int, fregs: int):
        self.rng = rng = random.Random(seed)
        self.b = Builder(f"_F{seed}")
        self.regs, self.fregs = regs, fregs
        self.ints: list = []
        self.floats: list = []
        self.busy: set = set()
        self.in_loop = False
        self.outer: set = set()           # in a loop: the int values from before it
        self.seen: set = set()
        self.n_ops = rng.randrange(15, 45)

    # -- room and values
    def room(self, n: int = 1) -> None:
        """Room for ``n`` new int values (the loop counter, when in a loop, counts)."""
        limit = self.regs - n - (1 if self.in_loop else 0)
        while len(self.ints) > limit:
            # (in a loop, a value from before it lives to the loop's end whatever happens to it)
            free = [v for v in self.ints if v not in self.busy and v not in self.outer]
            if not free:
                break
            v = self.rng.choice(free)
            self.ints.remove(v)
            if self.rng.random() < 0.5:
                width = self.rng.choice((8, 16, 32, 64))
                self.b.store(v, FRAME, self.int_slot(width), width)

    def froom(self, n: int = 1) -> None:
        while len(self.floats) > self.fregs - n:
            free = [v for v in self.floats if v not in self.busy]
            if not free:
                break
            v = self.rng.choice(free)
            self.floats.remove(v)
            if self.rng.random() < 0.5:
                self.b.fstore(v, FRAME, self.f64_slot())

    def int_slot(self, width: int) -> int:
        """A ``width``-bit slot inside one int word (never reaching into the f64 words)."""
        word = self.rng.choice(INT_WORDS)
        return LOCALSPLUS + 8 * word + self.rng.randrange(0, 8, width // 8 if width < 64 else 8)

    def f64_slot(self) -> int:
        return LOCALSPLUS + 8 * self.rng.choice(F64_WORDS)

    def value(self):
        """An int value (from the pool, a new constant, a symbol's address, or a pinned register)."""
        rng = self.rng
        r = rng.random()
        if r < 0.05:
            return rng.choice(lir.PINNED)
        if self.ints and r < 0.85:
            v = rng.choice(self.ints)
        else:
            self.room()
            v = self.b.const(rng.choice(CONSTS) if rng.random() < 0.8 else rng.getrandbits(64))
            self.ints.append(v)
        self.busy.add(v)
        return v

    def fvalue(self):
        """An f64 value from the pool, or a new one (loaded from the float area or a blob)."""
        rng = self.rng
        if self.floats and rng.random() < 0.7:
            v = rng.choice(self.floats)
        else:
            v = self.new_float()
        self.busy.add(v)
        return v

    def new_float(self):
        rng, b = self.rng, self.b
        self.froom()
        if rng.random() < 0.3:
            doubles = [rng.choice(F_SPECIAL) for _ in range(rng.randrange(1, 4))]
            blob = self.blob(struct.pack(f"<{len(doubles)}d", *doubles))
            v = b.fload(blob, 8 * rng.randrange(len(doubles)))
            self.seen.add(("fload", "rodata"))
        elif rng.random() < 0.2 and self.ints:
            v = b.i2f(rng.choice(self.ints))
            self.seen.add(("i2f",))
        else:
            v = b.fload(FRAME, self.f64_slot())
            self.seen.add(("fload", "frame"))
        self.floats.append(v)
        return v

    def blob(self, data: bytes):
        """A register holding the address of ``data`` in the rodata (not a value: its number
        depends on where the linker puts the data, so it is only read through)."""
        self.room()
        return self.b.rodata(data)

    def dst(self, pool: list, *sources):
        """None (a new register) or a value of ``pool`` to overwrite, often one of ``sources``."""
        r = self.rng.random()
        regs = [s for s in sources if s in pool]
        if r < 0.3 and regs:
            return self.rng.choice(regs)
        if r < 0.4 and pool:
            return self.rng.choice(pool)
        (self.froom if pool is self.floats else self.room)()
        return None

    # -- ops
    def step(self, depth: int = 0) -> None:
        rng, b = self.rng, self.b
        self.busy.clear()
        c = rng.randrange(100)
        if c < 6:
            self.room()
            self.ints.append(b.hole(rng.choice(("_PyRuntime", "_Py_NoneStruct", "PyFloat_Type",
                                                "_Py_Dealloc", "refjit_test_i2")),
                                    rng.choice((0, 8, -8, 0x1000, 0x12345678))))
            self.seen.add(("hole", "symbol"))
        elif c < 12:
            width = rng.choice((8, 16, 32, 64))
            d = self.dst(self.ints)
            v = b.load(FRAME, self.int_slot(width), width, rng.random() < 0.5 and width < 64, dst=d)
            if d is None:
                self.ints.append(v)
        elif c < 18:
            width = rng.choice((8, 16, 32, 64))
            b.store(self.value(), FRAME, self.int_slot(width), width)
        elif c < 24:
            x, y = self.value(), (self.value() if rng.random() < 0.5 else rng.choice(CONSTS))
            op = rng.choice(("add", "sub", "mul", "and", "or", "xor"))
            d = self.dst(self.ints, x, y)
            v = getattr(b, {"and": "and_", "or": "or_"}.get(op, op))(x, y, dst=d)
            if d is None:
                self.ints.append(v)
        elif c < 32:
            self.fvalue()
        elif c < 38:
            b.fstore(self.fvalue(), FRAME, self.f64_slot())
            self.seen.add(("fstore",))
        elif c < 50:
            op = rng.choice(("add", "sub", "mul", "div"))
            x, y = self.fvalue(), self.fvalue()
            d = self.dst(self.floats, x, y)
            v = b.fbin(op, x, y, dst=d)
            if d is None:
                self.floats.append(v)
            self.seen.add(("fbin", op))
        elif c < 56:
            cond = rng.choice(sorted(lir.F64_CONDS))
            x, y = self.fvalue(), self.fvalue()
            d = self.dst(self.ints)
            v = b.fsetcc(cond, x, y, dst=d)
            if d is None:
                self.ints.append(v)
            self.seen.add(("fsetcc", cond))
        elif c < 60:
            x = self.value()
            self.busy.add(x)
            d = self.dst(self.floats)
            v = b.i2f(x, dst=d)
            if d is None:
                self.floats.append(v)
            self.seen.add(("i2f",))
        elif c < 66:
            self.f2i()
        elif c < 80:
            self.call()
        elif c < 84 and not self.in_loop and depth == 0:
            self.loop()
        elif c < 90:
            self.exit_branch()
        else:
            x = self.fvalue()
            d = self.dst(self.floats, x)
            if d is None:
                d = b.newf()
                self.floats.append(d)
            b.mov(d, x)
            self.seen.add(("fmov",))

    def exit_branch(self) -> None:
        """A branch out of the uop, from each kind of branching op: br (a register or a
        constant; a loaded value, which x86-64 compares in memory), brbit (likewise), rmw on
        the new word being zero or not, ovf (its result a value on the other path)."""
        rng, b = self.rng, self.b
        target = rng.choice((lir.JUMP_TARGET, lir.ERROR_TARGET, lir.JUMP_TARGET,
                             lir.ERROR_TARGET, lir.CONTINUE))
        how = rng.choice(("br", "br", "load-br", "brbit", "load-brbit", "rmw", "ovf"))
        if how in ("br", "load-br"):
            cond = rng.choice(sorted(lir.INT_CONDS))
            y = self.value() if rng.random() < 0.5 else rng.choice(CONSTS)
            if how == "load-br":
                width = rng.choice((8, 16, 32, 64))
                self.room()
                x = b.load(FRAME, self.int_slot(width), width, rng.random() < 0.3 and width < 64)
            else:
                x = self.value()
            b.br(cond, x, y, target, rng.choice((32, 64)))
        elif how in ("brbit", "load-brbit"):
            if how == "load-brbit":
                self.room()
                x = b.load(FRAME, self.int_slot(64), rng.choice((32, 64)))
            else:
                x = self.value()
            b.brbit(x, rng.randrange(64), rng.random() < 0.5, target)
        elif how == "rmw":
            width = rng.choice((32, 64))
            disp = self.int_slot(width)
            delta = rng.choice((1, -1, 5, -4096, 1 << 20))
            if rng.random() < 0.4:                  # the new word will be zero
                b.store(-delta, FRAME, disp, width)
            b.rmw(FRAME, disp, width, delta, rng.choice(("eq", "ne")), target)
        else:
            x, y = self.value(), self.value()
            d = self.dst(self.ints, x, y)
            v = getattr(b, rng.choice(("add", "sub", "mul")) + "_ovf")(x, y, target, dst=d)
            if d is None:
                self.ints.append(v)
        self.seen.add(("exit", target.name))
        self.seen.add(("exit from", how))

    def f2i(self) -> None:
        """``(int64_t)x`` behind the check C code makes first: -2**63 <= x < 2**63 (false for
        a NaN); the result is stored at once (it is not defined on the other path)."""
        rng, b = self.rng, self.b
        x = self.fvalue()
        self.froom(2)
        self.room(2)
        edges = self.blob(INT64_EDGES)
        lo, hi = b.fload(edges, 0), b.fload(edges, 8)
        self.seen.add(("fload", "rodata"))
        skip = b.label()
        if rng.random() < 0.5:
            b.br("eq", b.fsetcc("ge", x, lo), 0, skip)
            b.br("eq", b.fsetcc("lt", x, hi), 0, skip)
        else:
            b.br("eq", b.fsetcc("le", lo, x), 0, skip)
            b.br("eq", b.fsetcc("gt", hi, x), 0, skip)
        b.store(b.f2i(x), FRAME, self.int_slot(64))
        b.bind(skip)
        self.seen.add(("f2i",))

    def call(self) -> None:
        """A call with values live across it: ints stay (callee-saved or saved around it), the
        f64 values that are not arguments are stored first (or dropped)."""
        rng, b = self.rng, self.b
        # (in a loop, the values from before it cannot make room: at most two int arguments)
        name = rng.choice([name for name, types in sorted(SIGNATURES.items())
                           if not self.in_loop or types.count("int") <= 2])
        types = SIGNATURES[name]
        out = "ptr" in types
        fargs = [self.fvalue() for t in types if t == "double"]
        for v in list(self.floats):
            if v not in fargs:
                if rng.random() < 0.5:
                    b.fstore(v, FRAME, self.f64_slot())
                self.floats.remove(v)
        self.room(2)                              # the result and OUT_SLOT's word
        args, floats = [], iter(fargs)
        for t in types:
            if t == "double":
                args.append(next(floats))
            elif t == "ptr":
                args.append(lir.OUT_SLOT)
            else:
                args.append(self.value())
        self.room(2)
        result = rng.random() < 0.85
        if not out and types.count("int") <= 4 and rng.random() < 0.3:
            self.room(3)
            fptr = b.hole(name)
            got = b.call_ptr(fptr, *args, result=result)
            self.seen.add(("call_ptr",))
        else:
            got = b.call(name, *args, result=result, out=out)
            self.seen.add(("call", out))
        if out:
            got, word = got
            self.ints.append(word)
        for v in fargs:
            if v in self.floats:
                self.floats.remove(v)
        if got is not None:
            self.ints.append(got)
        if self.in_loop:
            self.seen.add(("call in a loop",))

    def loop(self) -> None:
        """``n = 2..4; do { body } while (--n != 0)``: a backward branch; the body is any ops
        but another loop, calls included."""
        rng, b = self.rng, self.b
        for v in self.floats:    # (one used in a body that calls would live across the call)
            if rng.random() < 0.5:
                b.fstore(v, FRAME, self.f64_slot())
        self.floats.clear()
        self.room(self.regs // 2 + 1)            # leave the body half the registers
        counter = b.const(rng.randrange(2, 5))
        self.outer = set(self.ints)
        self.in_loop = True
        head = b.label()
        b.bind(head)
        for _ in range(rng.randrange(1, 7)):
            self.step(depth=1)
        b.sub(counter, 1, dst=counter)
        b.br("ne", counter, 0, head)
        self.in_loop = False
        self.outer = set()
        self.seen.add(("loop",))

    def build(self) -> lir.Function:
        fill = self.rng.randrange(self.n_ops)
        for at in range(self.n_ops):
            if at == fill and not self.in_loop:     # as many f64 values as there are registers
                while len(self.floats) < self.fregs:
                    self.busy.clear()
                    self.new_float()
                for v in self.floats:                # (all live until the last is stored)
                    self.b.fstore(v, FRAME, self.f64_slot())
                self.seen.add(("every f64 register",))
            self.step()
        for v in self.ints:
            width = self.rng.choice((8, 16, 32, 64))
            self.b.store(v, FRAME, self.int_slot(width), width)
        for v in self.floats:
            self.b.fstore(v, FRAME, self.f64_slot())
        return self.b.finish()


def start_bytes(seed: int) -> bytes:
    rng = random.Random(~seed)
    data = bytearray(rng.randbytes(SIZE))
    for word in F64_WORDS:
        r = rng.random()
        if r < 0.6:
            bits = lir_meaning.double_bits(rng.choice(F_SPECIAL))
        elif r < 0.7:
            bits = rng.choice(F_BITS)
        else:
            bits = lir_meaning.double_bits(rng.uniform(-1e6, 1e6))
        data[8 * word:8 * word + 8] = bits.to_bytes(8, "little")
    return bytes(data)


# -- checking ---------------------------------------------------------------------------------------

RODATA_AT = 0x7E57_0000_0000        # where lir_meaning puts the blobs (their address never escapes)


def expected(fn: lir.Function, start: bytes, bench: Bench):
    memory = bytearray(start)
    sc, p = bench.sc, bench.p
    symbols = {name: p.stub_address(name) for name in
               ("_PyRuntime", "_Py_NoneStruct", "PyFloat_Type", "_Py_Dealloc", *SIGNATURES)}
    nans: set = set()
    rodata = {label: RODATA_AT + 0x1000 * k for k, label in enumerate(fn.rodata)}
    exit_taken = lir_meaning.run(fn, memory, bench.scratch,
                                 {FRAME: sc.frame, lir.SP: sc.stack_pointer, lir.TSTATE: sc.tstate},
                                 holes=symbols, rodata=rodata, calls=callee, nans=nans)
    return exit_taken, memory, nans


def check(fn: lir.Function, seed, start: bytes, bench: Bench) -> str:
    """``fn`` on ``bench``'s machine takes the exit and leaves the bytes that the Python meaning
    does (any NaN where the meaning stored one); returns the exit."""
    want_exit, want, nans = expected(fn, start, bench)
    try:
        got_exit, got_bytes = bench.run(fn, start)
    except RefjitError as err:
        pytest.fail(f"{bench.arch}: seed {seed}: {err}\n{fn}")
    got = bytearray(got_bytes)
    for address in nans:
        i = address - bench.scratch
        if math.isnan(lir_meaning.as_double(int.from_bytes(got[i:i + 8], "little"))):
            got[i:i + 8] = want[i:i + 8]
    if got_exit != want_exit or got != want:
        words = [f"  word {i}: machine {int.from_bytes(got[8 * i:8 * i + 8], 'little'):#018x}"
                 f" Python {int.from_bytes(want[8 * i:8 * i + 8], 'little'):#018x}"
                 for i in range(LOCALS) if got[8 * i:8 * i + 8] != want[8 * i:8 * i + 8]]
        pytest.fail(f"{bench.arch}: seed {seed}: exit {got_exit} (machine) vs {want_exit} "
                    f"(Python)\n" + "\n".join(words) + f"\n{fn}")
    return want_exit


@functools.cache
def generated(seeds: range, regs: int, fregs: int) -> list:
    out = []
    for seed in seeds:
        gen = Gen(seed, regs, fregs)
        out.append((seed, gen, gen.build(), start_bytes(seed)))
    return out


# f64 registers: x86-64 allocates xmm0-xmm14, AArch64 23 of its 32 (both keep one for moves)
FREGS = {arch: len(isel.FREGS) for arch, isel in ISEL.items()}
BOTH = (range(400), REGISTERS["x86_64"], FREGS["x86_64"])
AARCH64_ONLY = (range(50_000, 50_200), REGISTERS["aarch64"], FREGS["aarch64"])


@pytest.mark.parametrize("arch", ISEL)
def test_random_f64_call_loop_functions_leave_what_python_computes(benches, arch):
    exits: dict = {}
    for seed, _, fn, start in generated(*BOTH):
        e = check(fn, seed, start, benches[arch])
        exits[e] = exits.get(e, 0) + 1
    assert all(exits.get(e, 0) >= 20 for e in EXITS), exits


def test_random_f64_call_loop_functions_with_every_aarch64_register(benches):
    for seed, _, fn, start in generated(*AARCH64_ONLY):
        check(fn, seed, start, benches["aarch64"])


def test_the_generator_reaches_every_form():
    """Every op form above is made, some call has more ints live across it than the ISA has
    callee-saved registers (so caller-saved ones are saved around it) and some none, and every
    exit is branched to (the test above counts the exits the Python meaning takes)."""
    want = {("call", False), ("call", True), ("call_ptr",), ("call in a loop",), ("loop",),
            ("f2i",), ("fmov",), ("fstore",), ("i2f",), ("hole", "symbol"),
            ("fload", "frame"), ("fload", "rodata")}
    want |= {("fbin", op) for op in ("add", "sub", "mul", "div")}
    want |= {("fsetcc", c) for c in lir.F64_CONDS}
    want |= {("exit", e) for e in EXITS} | {("every f64 register",)}
    want |= {("exit from", how) for how in ("br", "load-br", "brbit", "load-brbit", "rmw", "ovf")}
    for kind, arch in ((BOTH, "x86_64"), (AARCH64_ONLY, "aarch64")):
        seen: set = set()
        most = set()
        for _, gen, fn, _ in generated(*kind):
            seen |= gen.seen
            most |= {len(live) for live in lir.crossing(fn).values()}
        assert want <= seen, (arch, sorted(want - seen, key=str))
        assert 0 in most and max(most) > len(ISEL[arch].SAVED), (arch, sorted(most))


def test_the_meaning_of_the_f64_ops():
    """Hand-worked cases: IEEE division by zero, ordered compares false on a NaN, i2f rounds to
    nearest, f2i truncates and refuses what C leaves undefined, a stored NaN is noted, a loop
    runs until its counter is zero, a call's result and OUT_SLOT word come from ``calls``."""
    assert lir_meaning.fbinary("div", -1.0, 0.0) == -math.inf
    assert lir_meaning.fbinary("div", 1.0, -0.0) == -math.inf
    assert math.isnan(lir_meaning.fbinary("div", 0.0, 0.0))
    assert lir_meaning.truncate(-2.9) == (-2) & M64 and lir_meaning.truncate(-(2.0 ** 63)) == 1 << 63
    for bad in (math.nan, math.inf, 2.0 ** 63, -(2.0 ** 63) - 2048):
        with pytest.raises(lir_meaning.MeaningError, match="undefined"):
            lir_meaning.truncate(bad)
    b = Builder("_M")
    x = b.fload(FRAME, 0)                                   # a NaN
    b.store(b.fsetcc("ge", x, x), FRAME, 8)                 # 0: unordered
    big = b.i2f(b.const((1 << 63) - 1))                     # 2**63 (rounded)
    b.fstore(big, FRAME, 16)
    b.fstore(b.fbin("add", x, big), FRAME, 24)              # a NaN: noted
    n = b.const(3)
    head = b.label()
    b.bind(head)
    res, word = b.call("f", n, lir.OUT_SLOT, result=True, out=True)
    b.store(res, FRAME, 32)
    b.store(word, FRAME, 40)
    b.sub(n, 1, dst=n)
    b.br("ne", n, 0, head)
    b.br("eq", n, 0, lir.ERROR_TARGET)
    memory = bytearray(48)
    memory[0:8] = (0x7FF0000000000001).to_bytes(8, "little")
    nans: set = set()
    calls = []

    def f(symbol, args, out):
        calls.append((symbol, args, out))
        return 100 + args[0], 7

    assert lir_meaning.run(b.finish(), memory, 0x1000, {FRAME: 0x1000}, calls=f, nans=nans) \
        == "ERROR_TARGET"
    assert calls == [("f", [3, None], True), ("f", [2, None], True), ("f", [1, None], True)]
    assert memory[8:16] == bytes(8) and nans == {0x1000 + 24}
    assert struct.unpack("<d", memory[16:24])[0] == 2.0 ** 63
    assert int.from_bytes(memory[32:40], "little") == 101 and memory[40] == 7
