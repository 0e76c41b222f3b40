"""Every LIR operation through both instruction selectors, checked against the host Python.

The loop-slice lowerings do not use every LIR operation (overflow branches, int<->float
conversions, every condition, signed loads...), so each operation is also run here on its own:
a LIR function computes many results from constants (registers and immediates) and stores them
into the frame's locals; it replaces _NOP's group in a tiny trace, runs on the machine of each
ISA, and the stored words are compared with what Python computes (64-bit two's complement,
IEEE doubles)."""

from __future__ import annotations

import math
import struct

import pytest

from lower_harness import ARCHES, prepare_machine
from refjit import lir
from refjit.backends.aarch64 import isel as a64
from refjit.backends.x86_64 import isel as x64
from refjit.emulator import Machine
from refjit.errors import LowerError
from refjit.headerwriter import build_group
from refjit.lir import FRAME, Builder

M = (1 << 64) - 1
LOCALSPLUS = 0x50   # FACTS §f (checked against the profile below)
N = 48
TRACE = "\n".join(["refjit-trace 1", "code t units=4", f"frame locals={N} stacksize=1",
                   "0 _START_EXECUTOR target=0 operand0=&executor", "1 _NOP target=0",
                   "2 _DEOPT target=1"]) + "\n"
INTS = [0, 1, -1, 2, 7, -8, 0x7FFFFFFF, -0x80000000, 0xFFFFFFFF, 1 << 32, (1 << 62) + 5,
        (1 << 63) - 1, -(1 << 63), 0x123456789ABCDEF0]


def s64(v: int) -> int:
    v &= M
    return v - (1 << 64) if v >> 63 else v


def run_lir(arch: str, build) -> list[int]:
    """Build a LIR function with ``build(b, store)`` (store(value_reg, i) -> local i), run it."""
    b = Builder("_NOP")

    def store(v, i):
        assert i < N
        b.store(v, FRAME, LOCALSPLUS + 8 * i)
    build(b, store)
    fn = b.finish()
    code = (x64 if arch == "x86_64" else a64).select(fn)
    group = build_group("_NOP", arch, code.code, code.relocs, code.data, code.data_labels)
    sc, entry, _ = prepare_machine(TRACE, arch, groups={"_NOP": group})
    p = sc.process
    assert p.profile.offset("_PyInterpreterFrame", "localsplus") == LOCALSPLUS
    ending = Machine(arch, p).execute(entry, sc.frame, sc.stack_pointer, sc.tstate)
    assert ending.kind == "tier1", ending
    return [p.mem.u64(sc.frame + LOCALSPLUS + 8 * i) for i in range(N)]


def chunks(items, n):
    for i in range(0, len(items), n):
        yield items[i:i + n]


BIN = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
       "and": lambda a, b: a & b, "or": lambda a, b: a | b, "xor": lambda a, b: a ^ b}


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("op", sorted(BIN))
def test_binary_ops_registers_and_immediates(arch, op):
    pairs = [(a, b) for a in INTS[::2] for b in INTS]
    for chunk in chunks(pairs, N // 2):
        def build(b, store):
            for k, (x, y) in enumerate(chunk):
                ra = b.const(x)
                store(getattr(b, op + ("_" if op in ("and", "or") else ""))(ra, b.const(y)), 2 * k)
                store(getattr(b, op + ("_" if op in ("and", "or") else ""))(ra, y), 2 * k + 1)
        got = run_lir(arch, build)
        for k, (x, y) in enumerate(chunk):
            want = BIN[op](x, y) & M
            assert got[2 * k] == want and got[2 * k + 1] == want, (op, hex(x), hex(y))


@pytest.mark.parametrize("arch", ARCHES)
def test_shifts(arch):
    cases = [(v, n) for v in INTS for n in (0, 1, 3, 31, 32, 63)]
    for chunk in chunks(cases, N // 3):
        def build(b, store):
            for k, (v, n) in enumerate(chunk):
                r = b.const(v)
                store(b.shl(r, n), 3 * k)
                store(b.shr(r, n), 3 * k + 1)
                store(b.sar(r, n), 3 * k + 2)
        got = run_lir(arch, build)
        for k, (v, n) in enumerate(chunk):
            assert got[3 * k] == (v << n) & M
            assert got[3 * k + 1] == (v & M) >> n
            assert got[3 * k + 2] == (s64(v) >> n) & M


COND = {"eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "lt": lambda a, b: s64(a) < s64(b),
        "le": lambda a, b: s64(a) <= s64(b), "gt": lambda a, b: s64(a) > s64(b),
        "ge": lambda a, b: s64(a) >= s64(b), "ult": lambda a, b: a & M < b & M,
        "ule": lambda a, b: a & M <= b & M, "ugt": lambda a, b: a & M > b & M,
        "uge": lambda a, b: a & M >= b & M}


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("width", [64, 32])
def test_conditions_setcc_br_select(arch, width):
    vals = [0, 1, -1, 5, 0x7FFFFFFF, -0x80000000, 1 << 40, -(1 << 40)]
    mask = M if width == 64 else 0xFFFFFFFF

    def norm(v):
        v &= mask
        return v if width == 64 else (v - (1 << 32) if v >> 31 else v)
    cases = [(c, a, b) for c in sorted(COND) for a in vals for b in (0, 1, -1, 5, 1 << 40)]
    for chunk in chunks(cases, N // 4):
        def build(b, store):
            t, f = b.const(0x1111), b.const(0x2222)
            for k, (c, x, y) in enumerate(chunk):
                rx = b.const(x)
                store(b.setcc(c, rx, b.const(y), width), 4 * k)
                store(b.setcc(c, rx, y, width), 4 * k + 1)
                r = b.const(0)
                skip = b.label()
                b.br(c, rx, y, skip, width)
                b.const(1, dst=r)
                b.bind(skip)
                store(r, 4 * k + 2)
                store(b.select(c, rx, y, t, f, width), 4 * k + 3)
        got = run_lir(arch, build)
        for k, (c, x, y) in enumerate(chunk):
            want = COND[c](norm(x) & M, norm(y) & M)
            assert got[4 * k] == got[4 * k + 1] == int(want), (c, x, y, width)
            assert got[4 * k + 2] == int(not want), (c, x, y, width)
            assert got[4 * k + 3] == (0x1111 if want else 0x2222), (c, x, y, width)


@pytest.mark.parametrize("arch", ARCHES)
def test_overflow_branches(arch):
    edge = [0, 1, -1, 2, 3, (1 << 62), (1 << 63) - 1, -(1 << 63), -(1 << 62), 1 << 32, -(1 << 31) - 1]
    cases = [(op, a, b) for op in ("add", "sub", "mul") for a in edge for b in edge]
    fns = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b}
    for chunk in chunks(cases, N // 2):
        def build(b, store):
            for k, (op, x, y) in enumerate(chunk):
                flag = b.const(0)
                done, ovf = b.label(), b.label()
                r = getattr(b, op + "_ovf")(b.const(x), b.const(y), ovf)
                store(r, 2 * k)
                b.jump(done)
                b.bind(ovf)
                b.const(1, dst=flag)
                b.bind(done)
                store(flag, 2 * k + 1)
        got = run_lir(arch, build)
        for k, (op, x, y) in enumerate(chunk):
            exact = fns[op](x, y)
            overflow = not -(1 << 63) <= exact < (1 << 63)
            assert got[2 * k + 1] == int(overflow), (op, x, y)
            if not overflow:
                assert got[2 * k] == exact & M, (op, x, y)


@pytest.mark.parametrize("arch", ARCHES)
def test_loads_stores_and_rmw(arch):
    pattern = 0x8192A3B4C5D6E7F8

    def build(b, store):
        base = b.add(FRAME, LOCALSPLUS + 8 * 40)
        b.store(b.const(pattern), base, 0)
        b.store(0x7F, base, 8, 8)          # constant stores of each width into zeroed words
        b.store(0xBEEF, base, 16, 16)
        b.store(0xDEADBEEF, base, 24, 32)
        k = 0
        for width in (8, 16, 32, 64):
            for signed in (False, True):
                store(b.load(base, 0, width, signed), k)
                k += 1
        store(b.load(base, 8), k)
        store(b.load(base, 16), k + 1)
        store(b.load(base, 24), k + 2)
        b.rmw(base, 8, 32, 1)
        b.rmw(base, 16, 64, -0xBEEF)
        hit = b.const(0)
        skip = b.label()
        b.rmw(base, 16, 64, 0, "ne", skip)   # now zero: no branch
        b.const(1, dst=hit)
        b.bind(skip)
        store(hit, k + 3)
    got = run_lir(arch, build)
    k = 0
    for width in (8, 16, 32, 64):
        for signed in (False, True):
            v = pattern & ((1 << width) - 1)
            if signed and v >> (width - 1):
                v -= 1 << width
            assert got[k] == v & M, (width, signed)
            k += 1
    assert got[k:k + 4] == [0x7F, 0xBEEF, 0xDEADBEEF, 1]
    assert got[41] == 0x80 and got[42] == 0


FLOATS = [0.0, -0.0, 1.5, -2.25, 1e308, 5e-324, math.inf, -math.inf, math.nan, 3.0]


def bits(d: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", d))[0]


@pytest.mark.parametrize("arch", ARCHES)
def test_float_ops_and_compares(arch):
    pairs = [(a, b) for a in FLOATS for b in FLOATS]
    ops = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
           "div": lambda a, b: a / b if b else (math.copysign(math.inf, a) * math.copysign(1, b)
                                                if a and a == a else math.nan)}
    cmp = {"lt": lambda a, b: a < b, "le": lambda a, b: a <= b, "gt": lambda a, b: a > b,
           "ge": lambda a, b: a >= b}
    for chunk in chunks(pairs, N // 8):
        def build(b, store):
            base = b.add(FRAME, LOCALSPLUS + 8 * 47)
            for k, (x, y) in enumerate(chunk):
                b.store(b.const(bits(x)), base)
                fx = b.fload(base)
                b.store(b.const(bits(y)), base)
                fy = b.fload(base)
                for j, op in enumerate(ops):
                    b.fstore(b.fbin(op, fx, fy), base)
                    store(b.load(base), 8 * k + j)
                for j, c in enumerate(cmp):
                    store(b.fsetcc(c, fx, fy), 8 * k + 4 + j)
        got = run_lir(arch, build)
        for k, (x, y) in enumerate(chunk):
            for j, op in enumerate(ops):
                want = ops[op](x, y)
                have = struct.unpack("<d", got[8 * k + j].to_bytes(8, "little"))[0]
                assert (math.isnan(want) and math.isnan(have)) or bits(want) == bits(have), (op, x, y)
            for j, c in enumerate(cmp):
                assert got[8 * k + 4 + j] == int(cmp[c](x, y)), (c, x, y)


@pytest.mark.parametrize("arch", ARCHES)
def test_int_float_conversions(arch):
    ints = [0, 1, -1, 3, -(1 << 53) - 1, (1 << 63) - 1, -(1 << 63), 123456789]
    floats = [0.0, -0.0, 1.9, -1.9, 1e18, -1e18, 2.5]

    def build(b, store):
        base = b.add(FRAME, LOCALSPLUS + 8 * 47)
        for k, v in enumerate(ints):
            b.fstore(b.i2f(b.const(v)), base)
            store(b.load(base), k)
        for k, d in enumerate(floats):
            b.store(b.const(bits(d)), base)
            store(b.f2i(b.fload(base)), len(ints) + k)
    got = run_lir(arch, build)
    for k, v in enumerate(ints):
        assert got[k] == bits(float(v)), v
    for k, d in enumerate(floats):
        assert got[len(ints) + k] == int(d) & M, d


def test_lir_refuses_bad_operands():
    from refjit.errors import LowerError
    b = Builder("_X")
    with pytest.raises(LowerError):
        b.shl(b.const(1), 64)
    with pytest.raises(LowerError):
        b.br("bogus", b.const(1), 0, lir.JUMP_TARGET)
    with pytest.raises(LowerError):
        b.load(b.const(1), 0, 24)
    with pytest.raises(LowerError):
        b.fbin("add", b.const(1), b.const(2))
    b.jump(b.label("nowhere"))
    with pytest.raises(LowerError, match="never bound"):
        b.finish()
    text = str(Builder("_Y").fn)
    assert text.startswith("_Y:")


def test_lir_refuses_a_hole_named_with_its_jit_prefix_and_records_nothing():
    """A hole is named as jit.c's HoleValue (``OPARG``) or as its C symbol; ``_JIT_OPARG`` is a
    mistake the Builder explains, and a refused hole leaves no op and no live interval behind
    (the liveness would otherwise hold a register no op mentions)."""
    from refjit.errors import LowerError

    b = Builder("_BAD_UOP")
    with pytest.raises(LowerError, match="name the hole 'OPARG', not '_JIT_OPARG'"):
        b.hole("_JIT_OPARG")
    assert b.fn.ops == [] and b._iv == {} and b.fn.nregs == 0
    v = b.hole("OPARG")
    b.ret(v)
    assert lir.live_intervals(b.finish()) == {v: [0, 1]}


@pytest.mark.parametrize("kind,addend", [
    ("OPERAND0", -0xFFFFFFFF), ("EXECUTOR", -(1 << 31)), ("PyLong_Type", -0x80000001),
    ("TARGET", -8), ("TARGET", 8), ("OPARG", 1 << 31), ("OPARG", (1 << 31) - (1 << 16)),
    ("OPERAND1", 1 << 64), ("PyLong_Type", -(1 << 63) - 1)])
def test_lir_refuses_hole_addends_whose_c_sum_is_not_the_64_bit_sum(kind, addend):
    """jit.c's emitter adds an addend in C: -0xffffffff is an unsigned int there (so the sum is
    base + 1), and TARGET + -8 wraps in 32 bits. A backend may leave the sum to the linker, so
    the LIR takes only addends whose C sum is the 64-bit sum on every backend."""
    from refjit.errors import LowerError

    b = Builder("_BAD_UOP")
    with pytest.raises(LowerError, match=f"hole {kind} addend"):
        b.hole(kind, addend)
    assert b.fn.ops == []
    if kind == "TARGET":
        b.hole(kind, 0)
    elif kind == "OPARG":
        for ok in (8, -8, (1 << 31) - (1 << 16) - 1, -(1 << 31) + (1 << 16) + 1):
            b.hole(kind, ok)
    else:       # C's sum is the 64-bit sum: an int literal, or a long, or a positive one
        for ok in (-0x7FFFFFFF, -(1 << 32), 1 << 31, 0xFFFFFFFF, 1 << 40, -(1 << 63), (1 << 64) - 1):
            b.hole(kind, ok)


def test_the_refused_hole_addends_mean_something_else_in_c():
    """Why the rule above: the linker's C sums (hole_value, as jit.c's emitter) of two refused
    addends differ from the 64-bit sums."""
    from refjit.stencils import Hole, HoleValue, hole_value

    operand0 = 0x8123_4567_89AB_CDEF
    hole = Hole(0, "patch_64", HoleValue.OPERAND0, None, -0xFFFFFFFF)
    assert hole_value(hole, operand0, None) == operand0 + 1          # not operand0 - 0xffffffff
    hole = Hole(0, "patch_64", HoleValue.TARGET, None, -8)
    assert hole_value(hole, 3, None) == 0xFFFF_FFFB                   # not 2**64 - 5


def test_lir_refuses_displacements_and_constants_that_are_not_plain_ints():
    """Displacements, hole addends, rmw deltas, shift/bit numbers and constant operands must be
    ints proper: a bool, a float or an int subclass (an IntEnum member) is a LowerError naming
    the uop, and nothing is emitted for it."""
    import enum
    from refjit.errors import LowerError

    class Small(enum.IntEnum):
        ONE = 1

    b = Builder("_BAD_UOP")
    r = b.const(1)
    bad_calls = [
        lambda x: b.load(r, x),
        lambda x: b.store(r, r, x),
        lambda x: b.store(x, r, 0),
        lambda x: b.rmw(r, x, 64, 1),
        lambda x: b.rmw(r, 0, 64, x),
        lambda x: b.hole("OPARG", x),
        lambda x: b.hole("PyLong_Type", x),
        lambda x: b.lea(r, r, 0, x),
        lambda x: b.lea(r, r, x),
        lambda x: b.fload(r, x),
        lambda x: b.fstore(b.newf(), r, x),
        lambda x: b.add(r, x),
        lambda x: b.const(x),
        lambda x: b.br("eq", r, x, lir.JUMP_TARGET),
        lambda x: b.setcc("eq", r, x),
        lambda x: b.shl(r, x),
        lambda x: b.brbit(r, x, True, lir.JUMP_TARGET),
    ]
    n_ops = len(b.fn.ops)
    for k, emit in enumerate(bad_calls):
        for x in (True, 1.0, Small.ONE):
            with pytest.raises(LowerError) as info:
                emit(x)
            assert "_BAD_UOP" in str(info.value), (k, x)
    assert len(b.fn.ops) == n_ops
    # the same calls with a plain 1 are fine
    for emit in bad_calls:
        emit(1)
    assert len(b.fn.ops) == n_ops + len(bad_calls)


def test_every_lowering_uses_documented_operations():
    """Each op of every loop-slice lowering is one of lir.SIGNATURES, with that many operands
    of the documented kinds."""
    from refjit.compile import lower_lir
    from refjit.semantics import LOOP_SLICE
    seen = set()
    for name in sorted(LOOP_SLICE):
        for op in lower_lir(name, "x86_64").ops:
            sig = lir.SIGNATURES[op.op]
            assert len(sig) == len(op.args), (name, str(op))
            for role, arg in zip(sig, op.args):
                if role == "s":
                    assert isinstance(arg, lir.V), (name, str(op))
                elif role == "d":
                    assert arg is None or isinstance(arg, lir.V), (name, str(op))
                elif role == "v":
                    assert isinstance(arg, (lir.V, int)), (name, str(op))
                elif role == "*":
                    assert all(isinstance(a, lir.V) for a in arg), (name, str(op))
            seen.add(op.op)
    assert {"hole", "load", "store", "rmw", "call", "call_ptr", "br", "brbit", "ret", "tail_jump",
            "lea", "select", "fbin", "fsetcc", "data"} <= seen


# -- liveness and allocation against their definitions ------------------------------------------

def _random_function(seed: int):
    """A well-formed LIR function with loops (backward branches), calls, out-slots and floats."""
    import random
    rng = random.Random(seed)
    b = Builder(f"_R{seed}")
    ints, floats, labels, pending = [lir.FRAME, lir.SP, lir.TSTATE], [], [], []
    for _ in range(rng.randrange(3, 30)):
        pick = lambda: rng.choice(ints)   # noqa: E731
        c = rng.randrange(15)
        given = rng.choice(ints[3:] + [lir.SP])    # an existing register as a destination
        if c == 0:
            ints.append(b.const(rng.randrange(-5, 1 << 40)))
        elif c == 1:
            ints.append(b.load(pick(), 8, rng.choice((8, 32, 64))))
        elif c == 2:
            b.store(rng.choice((pick(), 3)), pick(), 8)
        elif c == 3:
            ints.append(rng.choice((b.add, b.sub, b.and_, b.xor))(pick(), rng.choice((pick(), 7))))
        elif c == 4:
            got = b.call("f", *[pick() for _ in range(rng.randrange(4))], result=rng.random() < .7)
            ints += [got] if got is not None else []
        elif c == 5:
            ints.append(b.call_ptr(pick(), pick()))
        elif c == 6:
            labels.append(b.label())
            b.bind(labels[-1])
        elif c == 7 and labels:
            b.br("ult", pick(), rng.choice((pick(), 0)), rng.choice(labels))   # a loop
        elif c == 8:
            pending.append(b.label())
            b.brbit(pick(), 3, True, pending[-1])
        elif c == 9:
            floats.append(b.fload(pick()))
            if len(floats) > 1:
                b.fstore(b.fbin("add", floats[-1], floats[-2]), pick())
        elif c == 10:
            ints += b.call("g", pick(), lir.OUT_SLOT, out=True)
        elif c == 11:
            ints.append(b.select("lt", pick(), 1, pick(), pick()))
        elif c == 12:
            b.load(pick(), 16, dst=given)
        elif c == 13:
            rng.choice((b.add, b.or_))(pick(), rng.choice((pick(), 5)), dst=given)
        elif c == 14:
            b.lea(pick(), pick(), 2, dst=given)
    for label in pending:
        b.bind(label)
    b.ret(rng.choice(ints))
    return b.finish()


def _functions():
    from refjit.compile import lower_lir
    from refjit.semantics import LOOP_SLICE
    fns = [lower_lir(name, arch) for arch in ARCHES for name in sorted(LOOP_SLICE)]
    return fns + [_random_function(seed) for seed in range(300)]


def test_liveness_follows_its_definition():
    """live_intervals / call_positions / crossing (one walk over the ops) against their
    definitions written out plainly from uses_and_defs: a register lives from its first mention
    to its last, and over every loop it is live into."""
    for fn in _functions():
        want: dict = {}
        labels, back = {}, []
        for i, op in enumerate(fn.ops):
            uses, defs = lir.uses_and_defs(op)
            for v in uses + defs:
                if v.id >= 0:
                    want.setdefault(v, [i, i])[1] = i
            if op.op == "label":
                labels[op.args[0].name] = i
            for a in op.args:
                if isinstance(a, lir.Lbl) and op.op != "label" and a.name in labels:
                    back.append((labels[a.name], i))
        changed = True
        while changed:
            changed = False
            for head, tail in back:
                for r in want.values():
                    if r[0] < head <= r[1] < tail:
                        r[1], changed = tail, True
        assert list(lir.live_intervals(fn).items()) == list(want.items()), fn.name
        calls = [i for i, op in enumerate(fn.ops) if op.op in ("call", "call_ptr")]
        assert lir.call_positions(fn) == calls
        assert lir.crossing(fn) == {c: [v for v, (s, e) in want.items() if s < c < e] for c in calls}


@pytest.mark.parametrize("isel", [x64, a64], ids=ARCHES)
def test_allocation_keeps_live_values_apart(isel):
    """With each backend's registers: every value gets one of its kind's registers, values whose
    live ranges overlap (beyond one ending where the other starts) never share one, and no
    float lives across a call."""
    int_args = getattr(isel, "INT_ARGS", tuple(range(8)))
    checked = 0
    for fn in _functions():
        try:
            regs = lir.allocate(fn, isel.SCRATCH, isel.SAVED, isel.FREGS, "test", int_args,
                                tuple(range(8)), isel.SCRATCH[0])
        except LowerError as err:     # only random functions may be too big or keep a float
            assert fn.name.startswith("_R"), (fn.name, err)
            assert "out of registers" in str(err) or "f64 value" in str(err), err
            continue
        iv = lir.live_intervals(fn)
        assert set(regs) == set(iv)
        items = sorted(iv.items(), key=lambda item: (item[1][0], item[0].id))
        for n, (v, (s, e)) in enumerate(items):
            pool = isel.FREGS if v.kind == lir.F64 else isel.SCRATCH + isel.SAVED
            assert regs[v] in pool, (fn.name, v)
            for u, (s2, e2) in items[n + 1:]:
                if s2 < e and u.kind == v.kind:
                    assert regs[u] != regs[v], (fn.name, u, v)
        # crossing as allocate found it on its way, against its definition
        assert lir.crossing(fn) == {c: [v for v, (s, e) in iv.items() if s < c < e]
                                    for c in lir.call_positions(fn)}, fn.name
        for c, live in lir.crossing(fn).items():
            assert all(v.kind == lir.INT for v in live), fn.name
        checked += 1
    assert checked > 150


def test_builder_records_the_liveness_the_walk_finds():
    """The Builder records liveness while it emits the ops; a Function made without it (here:
    the same ops in a new Function) is walked. Both agree on every uop, on both ISAs, and on
    random functions, and ops added after ``finish`` make the walk run again."""
    from refjit.compile import _profile, lower_lir
    from refjit.lower import supported
    every_uop = [lower_lir(name, arch) for arch in ARCHES for name in sorted(_profile(arch).uops)
                 if supported(name, _profile(arch))]
    checked = 0
    for fn in _functions() + every_uop:
        recorded = fn.__dict__["_liveness"]
        assert recorded.n_ops == len(fn.ops)
        walked = lir._liveness(lir.Function(fn.name, list(fn.ops), fn.rodata, fn.nregs))
        assert walked is not recorded
        assert list(recorded.intervals.items()) == list(walked.intervals.items()), fn.name
        assert (recorded.in_order, recorded.calls, recorded.abi_ops) == \
            (walked.in_order, walked.calls, walked.abi_ops), fn.name
        checked += 1
    assert checked > 300
    # a register first mentioned other than as a new destination (read before it is set, or
    # created by new() and written later), several at one op, and out of id order
    b = Builder("_T")
    late, early = b.new(), b.new()
    b.store(early, late, 8)            # both first mentioned here: early (id 2) before late (id 1)
    b.mov(late, b.load(FRAME, 0))
    top = b.label()
    b.bind(top)
    b.br("ne", b.add(late, 1), 0, top)
    fn = b.finish()
    walked = lir._liveness(lir.Function(fn.name, list(fn.ops), fn.rodata, fn.nregs))
    recorded = lir._liveness(fn)
    assert list(recorded.intervals.items()) == list(walked.intervals.items())
    assert recorded.in_order is walked.in_order is False
    fn.ops.append(lir.Op("ret", (early,)))      # changed after finish: walked again
    assert lir.live_intervals(fn)[early] == [0, len(fn.ops) - 1]


def test_call_refuses_arguments_that_are_not_registers():
    """A call's arguments are registers (pinned ones and OUT_SLOT included), OUT_SLOT exactly
    when ``out=True``; a bad one is a LowerError naming the uop, and nothing is emitted."""
    b = Builder("_BAD_CALL")
    r = b.const(1)
    n_ops = len(b.fn.ops)
    for args, out in [((r, 3), False), ((r, "x"), False), ((lir.V(-7),), False),
                      ((r, lir.OUT_SLOT), False), ((r,), True)]:
        with pytest.raises(LowerError, match="_BAD_CALL"):
            b.call("f", *args, out=out)
    assert len(b.fn.ops) == n_ops
    res, slot = b.call("f", lir.FRAME, r, lir.OUT_SLOT, out=True)
    got = b.call_ptr(res, slot, lir.SP)
    b.ret(got)
    fn = b.finish()
    assert str(fn).splitlines()[2:] == ["    res_2, out_3 = call f(FRAME, v1, OUT_SLOT)",
                                        "    res_4 = call *res_2(out_3, SP)", "    return res_4"]
    assert lir.live_intervals(fn) == {r: [0, 1], res: [1, 2], slot: [1, 2], got: [2, 3]}
