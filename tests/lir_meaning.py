"""What an LIR function does to memory, computed in plain Python.

The meaning of each op is read from refjit/lir.py's docstrings and SIGNATURES, written here
without looking at either backend: registers hold 64-bit words; ``load`` reads ``width`` bits
at ``base + disp``, zero- or sign-extended; ``store`` writes a value's low ``width`` bits;
``rmw`` adds ``delta`` to a 32- or 64-bit word in place (wrapping) and branches on the new
word being zero (``eq``) or not (``ne``); ``bin`` wraps mod 2**64 (``shr`` logical, ``sar``
arithmetic); ``ovf`` branches when the exact signed result does not fit in 64 bits, and then
its destination is not defined; ``setcc``/``select``/``br`` compare the low ``width`` bits of
both operands, signed for lt/le/gt/ge and unsigned for ult/ule/ugt/uge; ``lea`` is
``base + (index << shift) + disp``; ``brbit`` tests one bit.

f64 registers hold Python floats (IEEE doubles, rounded to nearest like the machines): ``fload``/
``fstore`` move 8 bytes, ``fbin`` is + - * / (x/0 is an infinity or a NaN, as IEEE says),
``fsetcc`` is ordered (false when either side is a NaN), ``i2f`` converts a signed 64-bit int
(correctly rounded), ``f2i`` truncates and is defined only when the result fits in 64 bits (C's
``(int64_t)d``; anything else is a MeaningError). A NaN's sign and payload are not defined by C
and differ between the ISAs (x86-64 makes a negative quiet NaN, AArch64 a positive one), so an
``fstore`` of a NaN writes the canonical one and notes its address in ``nans``, for the caller
to accept any NaN there. ``data`` is the address of a blob of the function's ``rodata`` (read
only, at an address of the caller's choosing in ``rodata``); ``call``/``call_ptr`` ask the
caller's ``calls`` for the callee's result (and what it wrote to ``OUT_SLOT``).

Labels may be branched to forwards or backwards (loops, bounded by ``budget`` ops run); a
branch to an exit ends the run and :func:`run` returns the exit's name (``CONTINUE`` also when
the function falls off its end). Memory is one bytearray at a known address, and an access
outside it, a read of an undefined register or an op this module does not know is a
:class:`MeaningError` (a bug of the generator, not of refjit)."""

from __future__ import annotations

import math
import struct

from refjit import lir
from refjit.lir import Function, Lbl, V

M64 = (1 << 64) - 1
NAN_BITS = 0x7FF8000000000000      # the canonical NaN an fstore of any NaN writes here


class MeaningError(Exception):
    """The function does something these tests do not give a meaning to."""


def signed(v: int, width: int) -> int:
    v &= (1 << width) - 1
    return v - (1 << width) if v >> (width - 1) else v


def compare(cond: str, a: int, b: int, width: int) -> bool:
    """``a cond b`` on the low ``width`` bits of each."""
    if cond in ("lt", "le", "gt", "ge"):
        x, y = signed(a, width), signed(b, width)
    else:
        mask = (1 << width) - 1
        x, y = a & mask, b & mask
    return {"eq": x == y, "ne": x != y, "lt": x < y, "le": x <= y, "gt": x > y, "ge": x >= y,
            "ult": x < y, "ule": x <= y, "ugt": x > y, "uge": x >= y}[cond]


def binary(op: str, a: int, b: int) -> int:
    a &= M64
    b &= M64
    if op == "add":
        return (a + b) & M64
    if op == "sub":
        return (a - b) & M64
    if op == "mul":
        return (a * b) & M64
    if op == "and":
        return a & b
    if op == "or":
        return a | b
    if op == "xor":
        return a ^ b
    if op == "shl":
        return (a << b) & M64
    if op == "shr":
        return a >> b
    if op == "sar":
        return (signed(a, 64) >> b) & M64
    raise MeaningError(f"unknown bin op {op!r}")


def fbinary(op: str, a: float, b: float) -> float:
    """IEEE double ``a op b`` (round to nearest); Python raises where IEEE gives inf or NaN."""
    if op == "add":
        return a + b
    if op == "sub":
        return a - b
    if op == "mul":
        return a * b
    if op == "div":
        if b == 0.0:
            if a == 0.0 or math.isnan(a) or math.isnan(b):
                return math.nan
            return math.copysign(math.inf, a) * math.copysign(1.0, b)
        return a / b
    raise MeaningError(f"unknown f64 op {op!r}")


def truncate(x: float) -> int:
    """C's ``(int64_t)x``, defined only when the truncated value fits."""
    if math.isnan(x) or math.isinf(x) or not -(1 << 63) <= math.trunc(x) < (1 << 63):
        raise MeaningError(f"f2i of {x!r} is undefined in C")
    return math.trunc(x) & M64


def as_double(bits: int) -> float:
    return struct.unpack("<d", (bits & M64).to_bytes(8, "little"))[0]


def double_bits(x: float) -> int:
    return int.from_bytes(struct.pack("<d", x), "little")


def exact(op: str, a: int, b: int) -> int:
    """The exact (unbounded) signed result of an ``ovf`` op."""
    x, y = signed(a, 64), signed(b, 64)
    return {"add": x + y, "sub": x - y, "mul": x * y}[op]


def run(fn: Function, memory: bytearray, base: int, pinned: dict[V, int],
        taken: dict | None = None, holes: dict[str, int] | None = None, *,
        rodata: dict[str, int] | None = None, calls=None, nans: set | None = None,
        budget: int = 100_000) -> str:
    """Run ``fn`` on ``memory`` (the bytes at address ``base``), the pinned registers holding
    ``pinned``'s values, until it falls off its end or branches to an exit; return the exit's
    name. A ``hole`` is ``holes[symbol]`` plus its addend (``_JIT_OPARG``: the uop's oparg, a
    C symbol: its address). ``rodata`` gives each blob of ``fn.rodata`` its address;
    ``calls(symbol, args, out)`` returns a call's (result, word written to OUT_SLOT or None),
    the args as ints and floats, ``symbol`` the callee's name (``call_ptr``: the name of the
    hole its address came from). ``nans`` collects the addresses where a NaN was stored.
    ``taken``, if given, counts the branches taken and not taken by (op, True/False)."""
    regs: dict[V, int | float | None] = dict(pinned)
    end = base + len(memory)
    ops = fn.ops
    where = {op.args[0].name: i for i, op in enumerate(ops) if op.op == "label"}
    blobs = {address: fn.rodata[label] for label, address in (rodata or {}).items()}
    symbol_at = {address: name for name, address in (holes or {}).items()}

    def get(x):
        if x.__class__ is int:
            return x & M64
        v = regs.get(x)
        if v is None or v.__class__ is float:
            raise MeaningError(f"{x!r} is read but not defined here (or not an int)")
        return v

    def at(address: int, width: int) -> int:
        address &= M64
        if not (base <= address and address + width // 8 <= end):
            raise MeaningError(f"access of {width} bits at {address:#x} is outside the scratch area")
        return address - base

    def read(address, width):
        address &= M64
        for start, blob in blobs.items():
            if start <= address < start + len(blob):
                if address + width // 8 > start + len(blob):
                    raise MeaningError(f"read of {width} bits at {address:#x} past its rodata")
                i = address - start
                return int.from_bytes(blob[i:i + width // 8], "little")
        i = at(address, width)
        return int.from_bytes(memory[i:i + width // 8], "little")

    def fget(x) -> float:
        v = regs.get(x)
        if v is None or x.kind != lir.F64:
            raise MeaningError(f"{x!r} is read but not defined here (or not an f64)")
        return v

    def write(address, width, value):
        i = at(address, width)
        memory[i:i + width // 8] = (value & ((1 << width) - 1)).to_bytes(width // 8, "little")

    exit_taken = "CONTINUE"

    def go(target) -> int:
        nonlocal exit_taken
        if target.__class__ is not Lbl:
            exit_taken = target.name
            return len(ops)
        return where[target.name]

    pc = 0
    while pc < len(ops):
        budget -= 1
        if budget < 0:
            raise MeaningError("the run did not end within its budget of ops")
        op = ops[pc]
        k, a = op.op, op.args
        nxt = pc + 1
        if k == "const":
            regs[a[0]] = a[1] & M64
        elif k == "hole":
            if not holes or a[1] not in holes:
                raise MeaningError(f"no value given for the hole {a[1]}")
            regs[a[0]] = (holes[a[1]] + a[2]) & M64
        elif k == "mov":
            regs[a[0]] = fget(a[1]) if a[1].kind == lir.F64 else get(a[1])
        elif k == "load":
            dst, b, disp, width, sign = a
            v = read(get(b) + disp, width)
            regs[dst] = (signed(v, width) & M64) if sign else v
        elif k == "store":
            value, b, disp, width = a
            write(get(b) + disp, width, get(value))
        elif k == "rmw":
            b, disp, width, delta, cond, target = a
            address = get(b) + disp
            new = (read(address, width) + delta) & ((1 << width) - 1)
            write(address, width, new)
            if cond is not None and (new == 0) == (cond == "eq"):
                nxt = go(target)
        elif k == "bin":
            name, dst, x, y = a
            regs[dst] = binary(name, get(x), get(y))
        elif k == "ovf":
            name, dst, x, y, target = a
            r = exact(name, get(x), get(y))
            if -(1 << 63) <= r < (1 << 63):
                regs[dst] = r & M64
            else:
                regs[dst] = None       # not defined on the overflow path
                nxt = go(target)
        elif k == "setcc":
            cond, dst, x, y, width = a
            regs[dst] = int(compare(cond, get(x), get(y), width))
        elif k == "select":
            cond, dst, x, y, t, f, width = a
            regs[dst] = get(t) if compare(cond, get(x), get(y), width) else get(f)
        elif k == "lea":
            dst, b, index, shift, disp = a
            regs[dst] = (get(b) + (get(index) << shift) + disp) & M64
        elif k == "br":
            cond, x, y, target, width = a
            if compare(cond, get(x), get(y), width):
                nxt = go(target)
        elif k == "brbit":
            x, bit, is_set, target = a
            if (get(x) >> bit & 1) == is_set:
                nxt = go(target)
        elif k == "jump":
            nxt = go(a[0])
        elif k == "data":
            if a[1] not in (rodata or {}):
                raise MeaningError(f"no address given for the rodata {a[1]}")
            regs[a[0]] = rodata[a[1]]
        elif k == "fload":
            dst, b, disp = a
            regs[dst] = as_double(read(get(b) + disp, 64))
        elif k == "fstore":
            value, b, disp = a
            x = fget(value)
            if math.isnan(x):
                if nans is None:
                    raise MeaningError("a NaN is stored, and nobody collects where")
                nans.add((get(b) + disp) & M64)
                write(get(b) + disp, 64, NAN_BITS)
            else:
                write(get(b) + disp, 64, double_bits(x))
        elif k == "fbin":
            name, dst, x, y = a
            regs[dst] = fbinary(name, fget(x), fget(y))
        elif k == "fsetcc":
            cond, dst, x, y = a
            fx, fy = fget(x), fget(y)
            regs[dst] = int({"lt": fx < fy, "le": fx <= fy, "gt": fx > fy, "ge": fx >= fy}[cond])
        elif k == "i2f":
            regs[a[0]] = float(signed(get(a[1]), 64))
        elif k == "f2i":
            regs[a[0]] = truncate(fget(a[1]))
        elif k in ("call", "call_ptr"):
            dst, what, args, slot = a
            if calls is None:
                raise MeaningError("a call, and no callee given")
            if k == "call_ptr":
                address = get(what)
                if address not in symbol_at:
                    raise MeaningError(f"call_ptr to {address:#x}, which is no hole's symbol")
                what = symbol_at[address]
            values = [None if x is lir.OUT_SLOT else fget(x) if x.kind == lir.F64 else get(x)
                      for x in args]
            result, written = calls(what, values, slot is not None)
            if dst is not None:
                regs[dst] = result & M64
            if slot is not None:
                regs[slot] = written & M64
        elif k != "label":
            raise MeaningError(f"no meaning given here to {k!r} ({op})")
        if taken is not None and k in _BRANCHING and (k != "rmw" or a[4] is not None):
            key = (k, nxt != pc + 1)
            taken[key] = taken.get(key, 0) + 1
        pc = nxt
    return exit_taken


_BRANCHING = frozenset(("rmw", "ovf", "br", "brbit"))
# (the op names this module runs, for the tests to check their generator against)
KNOWN = frozenset(("const", "hole", "mov", "load", "store", "rmw", "bin", "ovf", "setcc", "select", "lea",
                   "br", "brbit", "jump", "label", "data", "fload", "fstore", "fbin", "fsetcc", "i2f",
                   "f2i", "call", "call_ptr"))
assert KNOWN <= set(lir.SIGNATURES)
