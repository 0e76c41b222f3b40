"""What an integer LIR function does to memory, computed in plain Python.

The meaning of each op is read from refjit/lir.py's docstrings and SIGNATURES, written here
without looking at either backend: registers hold 64-bit words; ``load`` reads ``width`` bits
at ``base + disp``, zero- or sign-extended; ``store`` writes a value's low ``width`` bits;
``rmw`` adds ``delta`` to a 32- or 64-bit word in place (wrapping) and branches on the new
word being zero (``eq``) or not (``ne``); ``bin`` wraps mod 2**64 (``shr`` logical, ``sar``
arithmetic); ``ovf`` branches when the exact signed result does not fit in 64 bits, and then
its destination is not defined; ``setcc``/``select``/``br`` compare the low ``width`` bits of
both operands, signed for lt/le/gt/ge and unsigned for ult/ule/ugt/uge; ``lea`` is
``base + (index << shift) + disp``; ``brbit`` tests one bit.

Only straight-line code and forward branches to labels are run (what the random tests make);
memory is one bytearray at a known address, and an access outside it, a read of an undefined
register or an op this module does not know is a :class:`MeaningError` (a bug of the generator,
not of refjit)."""

from __future__ import annotations

from refjit import lir
from refjit.lir import Function, Lbl, V

M64 = (1 << 64) - 1


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


def exact(op: str, a: int, b: int) -> int:
    """The exact (unbounded) signed result of an ``ovf`` op."""
    x, y = signed(a, 64), signed(b, 64)
    return {"add": x + y, "sub": x - y, "mul": x * y}[op]


def run(fn: Function, memory: bytearray, base: int, pinned: dict[V, int],
        taken: dict | None = None, holes: dict[str, int] | None = None) -> None:
    """Run ``fn`` on ``memory`` (the bytes at address ``base``), the pinned registers holding
    ``pinned``'s values, until it falls off its end or branches to CONTINUE (both continue
    with the next uop). A ``hole`` is ``holes[symbol]`` plus its addend (``_JIT_OPARG``: the
    uop's oparg...). ``taken``, if given, counts the branches taken and not taken by
    (op, True/False)."""
    regs: dict[V, int | None] = dict(pinned)
    end = base + len(memory)
    ops = fn.ops
    where = {op.args[0].name: i for i, op in enumerate(ops) if op.op == "label"}

    def get(x):
        if x.__class__ is int:
            return x & M64
        v = regs.get(x)
        if v is None:
            raise MeaningError(f"{x!r} is read but not defined here")
        return v

    def at(address: int, width: int) -> int:
        address &= M64
        if not (base <= address and address + width // 8 <= end):
            raise MeaningError(f"access of {width} bits at {address:#x} is outside the scratch area")
        return address - base

    def read(address, width):
        i = at(address, width)
        return int.from_bytes(memory[i:i + width // 8], "little")

    def write(address, width, value):
        i = at(address, width)
        memory[i:i + width // 8] = (value & ((1 << width) - 1)).to_bytes(width // 8, "little")

    def go(target) -> int:
        if target is lir.CONTINUE:
            return len(ops)
        if target.__class__ is not Lbl:
            raise MeaningError(f"branch to {target!r}: only labels and CONTINUE are run here")
        j = where[target.name]
        if j < pc:
            raise MeaningError(f"backward branch to {target!r}")
        return j

    pc = 0
    while pc < len(ops):
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
            regs[a[0]] = get(a[1])
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
        elif k != "label":
            raise MeaningError(f"no meaning given here to {k!r} ({op})")
        if taken is not None and k in _BRANCHING and (k != "rmw" or a[4] is not None):
            key = (k, nxt != pc + 1)
            taken[key] = taken.get(key, 0) + 1
        pc = nxt


_BRANCHING = frozenset(("rmw", "ovf", "br", "brbit"))
# (the op names this module runs, for the tests to check their generator against)
KNOWN = frozenset(("const", "hole", "mov", "load", "store", "rmw", "bin", "ovf", "setcc", "select", "lea",
                   "br", "brbit", "jump", "label"))
assert KNOWN <= set(lir.SIGNATURES)
