"""The x86-64 text front end: one instruction in AT&T syntax, as llvm-objdump-19 prints it.

``assemble("movq 0x50(%r12), %rax", address)`` returns the bytes. The line has no address
prefix and no ``<symbol+0x..>`` annotation (refjit.asmtext strips them); a trailing ``# ...``
comment (llvm-objdump's ``# imm = 0x..`` and ``# 0x.. <sym>``) is ignored. A direct branch or
call target is an absolute address and ``address`` is where the instruction sits; the short
rel8 form is used when it reaches, as GNU as and llvm-mc do.

The front end only parses: it turns the operands into typed values, finds the first form of the
encoder's table (backends/x86_64/asm.py) that accepts them, in the table's order of preference
(so it picks the encoding llvm-mc-19 picks), and calls that form's method. Everything refused is
an AsmError saying why. What it accepts, beside the table's mnemonics:

- the mnemonic without its b/w/l/q suffix when a general register gives the size;
- condition-code and Intel spellings both assemblers know (jz, setnae, cmovzq, sal, cqo, ...);
- a shift by one without its count (`shlq %rax`), as llvm-objdump prints it;
- prefix words: lock (also alone on a line, as llvm-objdump prints it), data16, rep/repz/repnz,
  segment words, notrack, addr32;
- numbers in decimal, 0x-hex, and octal with a leading 0 (as both assemblers read them); a bare
  number is a branch target for direct branches and an absolute address elsewhere.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from refjit.backends.x86_64 import asm as x86
from refjit.backends.x86_64.asm import AsmError, Assembler, Form, Mem


class _Miss(Exception):
    """This form does not take these operands (internal to the matcher; never escapes)."""


# --- operands ------------------------------------------------------------------------------------


class Reg(NamedTuple):
    kind: str      # "r8" "r16" "r32" "r64" "x"
    num: int       # encoder number (high-byte registers carry asm.HIGH8)
    name: str


class Imm(NamedTuple):
    value: int


class Target(NamedTuple):
    """A bare number: the absolute target of a direct branch or call."""
    value: int


class Indirect(NamedTuple):
    """``*operand``: the location holding the target of an indirect branch or call."""
    inner: object


REGISTERS: dict[str, Reg] = {}
for _kind, _names in (("r64", x86.GPR64), ("r32", x86.GPR32), ("r16", x86.GPR16), ("r8", x86.GPR8)):
    for _num, _name in enumerate(_names):
        REGISTERS[_name] = Reg(_kind, _num, _name)
for _num, _name in x86.HIGH8_NAMES.items():
    REGISTERS[_name] = Reg("r8", _num, _name)
for _num in range(16):
    REGISTERS[f"xmm{_num}"] = Reg("x", _num, f"xmm{_num}")

_NUMBER = r"[-+]?(?:0x[0-9a-f]+|[0-9]+)"
_OCTAL = re.compile(r"[-+]?0[0-9]+")
_MEM = re.compile(
    rf"^(?:%(?P<seg>[a-z]+)\s*:\s*)?(?P<disp>{_NUMBER})?"
    r"(?:\(\s*(?:%(?P<base>[a-z0-9]+))?\s*(?:,\s*(?:%(?P<index>[a-z0-9]+))?\s*"
    r"(?:,\s*(?P<scale>[0-9]+)\s*)?)?\))?$")


def _number(text: str, what: str) -> int:
    if len(text) > 80:      # no field is that wide (and int() refuses huge decimal strings)
        raise AsmError(f"bad {what}: number {text[:20]}... is too long")
    if not re.fullmatch(_NUMBER, text):
        raise AsmError(f"bad {what} {text!r}: expected a decimal or 0x-prefixed hex number")
    if _OCTAL.fullmatch(text):     # a leading zero means octal to both GNU as and llvm-mc
        if not re.fullmatch(r"[-+]?0[0-7]+", text):
            raise AsmError(f"bad {what} {text!r}: a leading 0 makes it octal")
        return int(text.replace("0", "0o", 1), 0) if text[0] == "0" else \
            int(text[0] + "0o" + text[2:], 0)
    return int(text, 0) if "x" in text else int(text, 10)


def _register(name: str, where: str) -> Reg:
    reg = REGISTERS.get(name)
    if reg is None:
        raise AsmError(f"unknown register %{name} in {where!r}")
    return reg


def parse_operand(text: str):
    t = text.strip()
    if not t:
        raise AsmError("empty operand")
    if t.startswith("*"):
        inner = parse_operand(t[1:])
        if not isinstance(inner, (Reg, Mem)) and not isinstance(inner, Target):
            raise AsmError(f"bad indirect operand {text!r}")
        return Indirect(inner)
    if t.startswith("$"):
        return Imm(_number(t[1:].strip(), "immediate"))
    if t.startswith("%") and ":" not in t and "(" not in t:
        return _register(t[1:], text)
    m = _MEM.match(t)
    if m is None or (m.group("disp") is None and "(" not in t):
        raise AsmError(f"cannot parse operand {text!r}")
    disp = _number(m.group("disp"), "displacement") if m.group("disp") else 0
    seg = 0
    if m.group("seg"):
        seg = x86.SEGMENTS.get(m.group("seg"), -1)
        if seg < 0:
            raise AsmError(f"unknown segment register %{m.group('seg')} in {text!r}")
    if "(" not in t:
        if not seg:
            return Target(disp)
        try:
            return _absolute(disp)._replace(seg=seg)
        except _Miss as miss:
            raise AsmError(str(miss)) from None
    base = index = None
    if m.group("base"):
        if m.group("base") == "rip":
            base = x86.RIP
        else:
            reg = _register(m.group("base"), text)
            if reg.kind != "r64":
                raise AsmError(f"base register must be a 64-bit register, not %{reg.name}")
            base = reg.num
    if m.group("index"):
        reg = _register(m.group("index"), text)
        if reg.kind != "r64":
            raise AsmError(f"index register must be a 64-bit register, not %{reg.name}")
        if reg.num == x86.RSP:
            raise AsmError("%rsp cannot be an index register")
        if base == x86.RIP:
            raise AsmError("RIP-relative addressing takes no index register")
        index = reg.num
    scale = 1
    if m.group("scale"):
        scale = _number(m.group("scale"), "scale")
        if scale not in (1, 2, 4, 8):
            raise AsmError(f"scale must be 1, 2, 4 or 8, not {scale}")
        if index is None:
            raise AsmError(f"a scale needs an index register in {text!r}")
    if base is None and index is None and "(" in t and m.group("base") is None:
        raise AsmError(f"memory operand without base or index: {text!r}")
    if not -0x80000000 <= disp <= 0x7FFFFFFF:
        raise AsmError(f"displacement {disp:#x} does not fit in 32 signed bits")
    return Mem(base, disp, index, scale, seg)


def split_operands(text: str) -> list[str]:
    """Split on the commas outside parentheses."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise AsmError(f"unbalanced parentheses in {text!r}")
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if depth:
        raise AsmError(f"unbalanced parentheses in {text!r}")
    parts.append(text[start:])
    return parts


# --- mnemonics -----------------------------------------------------------------------------------

_SUFFIXES = ("b", "w", "l", "q")
_SHIFTS = {"rol", "ror", "rcl", "rcr", "shl", "shr", "sar", "sal"}
# Names both assemblers accept for a form that llvm-objdump prints under another name.
_ALIASES = {"jmp": ("jmp", "jmpq"), "jmpq": ("jmpq", "jmp"), "call": ("callq",),
            "callq": ("callq",), "ret": ("retq",), "movabs": ("movabsq",),
            "cqo": ("cqto",), "cdq": ("cltd",), "cdqe": ("cltq",), "cwde": ("cwtl",),
            "cwd": ("cwtd",), "cbw": ("cbtw",), "leaveq": ("leave",),
            "push": ("pushq", "pushw"), "pop": ("popq", "popw")}
# String instructions: llvm-objdump spells out their implicit operands, which must be these.
_STRING_OPERANDS = {}
for _sfx, _acc in zip(_SUFFIXES, ("%al", "%ax", "%eax", "%rax")):
    _STRING_OPERANDS["movs" + _sfx] = "(%rsi),%es:(%rdi)"
    _STRING_OPERANDS["stos" + _sfx] = _acc + ",%es:(%rdi)"
# Prefixes written as words before the mnemonic (segment words are how both assemblers and
# llvm-objdump spell a segment prefix that no memory operand carries, e.g. in padding).
PREFIXES = {"lock": 0xF0, "data16": 0x66, "rep": 0xF3, "repe": 0xF3, "repz": 0xF3,
            "repne": 0xF2, "repnz": 0xF2, "notrack": 0x3E, "addr32": 0x67, **x86.SEGMENTS}
# Before a direct branch only these are meaningful: cs/ds are the not-taken/taken hints of a jcc
# or jmp, addr32 is what a linker's call relaxation leaves. (66 would truncate the target on AMD;
# notrack is for indirect branches; rep and lock are undefined there.)
_BRANCH_PREFIXES = {"cs", "ds", "addr32"}


def _canonical(mn: str) -> str:
    """Spell condition codes and `sal` the way the table does (jz -> je, setnae -> setb...)."""
    for head in ("cmov", "set", "j"):
        if mn.startswith(head):
            rest = mn[len(head):]
            sfx = ""
            if head == "cmov" and rest and rest[-1] in "wlq" and (rest[:-1] in x86.CC
                                                                  or rest[:-1] in x86.CC_ALIASES):
                rest, sfx = rest[:-1], rest[-1]
            if rest in x86.CC_ALIASES:
                return head + x86.CC_ALIASES[rest] + sfx
            return mn
    if mn.startswith("sal"):
        return "shl" + mn[3:]
    return mn


def candidates(mn: str) -> list[list[Form]]:
    """The groups of forms a mnemonic may mean: one group per spelling; a mnemonic written
    without its size suffix gets one group per suffix, and the operands must pick one."""
    mn = _canonical(mn)
    names = _ALIASES.get(mn, (mn,))
    groups = [x86.BY_MNEMONIC[n] for n in names if n in x86.BY_MNEMONIC]
    if groups:
        return [[f for g in groups for f in g]]
    if mn not in x86.SIZED_STEMS:
        return []
    # only the general-register forms: `mov %xmm1, %xmm0` is not a spelling of movq
    return [[f for f in x86.BY_MNEMONIC[mn + s] if "x" not in f.kinds]
            for s in _SUFFIXES if mn + s in x86.BY_MNEMONIC]


# --- matching ------------------------------------------------------------------------------------

_BRANCH_LEN: dict[str, int] = {}


def _form_length(f: Form) -> int:
    """Length of a direct-branch form (it does not depend on the displacement's value)."""
    n = _BRANCH_LEN.get(f.name)
    if n is None:
        a = Assembler()
        f.emit(a, 0)
        n = _BRANCH_LEN[f.name] = len(a.buf)
    return n


def _imm_value(kind: str, value: int, opsize: int) -> int:
    if kind in ("u8", "u16"):
        bits = int(kind[1:])
        if not -(1 << (bits - 1)) <= value < (1 << bits):
            raise _Miss(f"immediate ${value:#x} does not fit in {bits} bits")
        return value
    if not -(1 << (opsize - 1)) <= value < (1 << opsize):
        raise _Miss(f"immediate ${value:#x} does not fit a {opsize}-bit operation")
    bits = int(kind[1:])
    signed = ((value & ((1 << opsize) - 1)) ^ (1 << (opsize - 1))) - (1 << (opsize - 1))
    if bits >= opsize:
        return value
    if not -(1 << (bits - 1)) <= signed < (1 << (bits - 1)):
        raise _Miss(f"immediate ${value:#x} does not fit in a sign-extended {bits}-bit field")
    return signed


def _match(f: Form, ops: list, address: int) -> list:
    """The explicit arguments for form ``f`` (Intel order), or _Miss."""
    if len(ops) != len(f.kinds):
        raise _Miss("operand count")
    indirect_form = f.mnemonic in ("jmpq", "callq") and f.openc == "M"
    args = []
    for kind, op in zip(f.kinds, ops):
        if isinstance(op, Indirect):
            if not indirect_form:
                raise _Miss("'*' is only for indirect jumps and calls")
            op = op.inner
            if isinstance(op, Target):      # `*0x1234`: the target is stored at an address
                op = _absolute(op.value)
        elif indirect_form:
            raise _Miss("indirect jumps and calls take a '*' operand")
        k0 = kind[0]
        if kind in ("a8", "a16", "a32", "a64"):
            if not (isinstance(op, Reg) and op.kind == "r" + kind[1:] and op.num == 0):
                raise _Miss("accumulator")
        elif kind == "cl":
            if not (isinstance(op, Reg) and op.kind == "r8" and op.num == 1):
                raise _Miss("%cl")
        elif kind == "one":
            if not (isinstance(op, Imm) and op.value == 1):
                raise _Miss("$1")
        elif k0 == "r" and kind != "rel8" and kind != "rel32":
            if not (isinstance(op, Reg) and op.kind == kind):
                raise _Miss("register kind")
            args.append(op.num)
        elif kind == "x":
            if not (isinstance(op, Reg) and op.kind == "x"):
                raise _Miss("xmm")
            args.append(op.num)
        elif k0 == "m":
            if isinstance(op, Target):      # a bare number is an absolute address
                op = _absolute(op.value)
            if not isinstance(op, Mem):
                raise _Miss("memory")
            args.append(op)
        elif k0 in "iu":
            if not isinstance(op, Imm):
                raise _Miss("immediate")
            args.append(_imm_value(kind, op.value, f.opsize))
        elif kind == "o64":
            if not (isinstance(op, Target) and -(1 << 63) <= op.value < (1 << 64)):
                raise _Miss("64-bit absolute address")
            args.append(op.value)
        elif kind in ("rel8", "rel32"):
            if not isinstance(op, Target):
                raise _Miss("branch target")
            if not 0 <= op.value < (1 << 64):
                raise _Miss(f"branch target {op.value:#x} is not an address")
            disp = op.value - (address + _form_length(f))
            if kind == "rel8" and not -128 <= disp <= 127:
                raise _Miss(f"target {op.value:#x} out of rel8 range")
            if not -0x80000000 <= disp <= 0x7FFFFFFF:
                raise _Miss(f"branch target {op.value:#x} out of rel32 range from {address:#x}")
            args.append(disp)
        else:
            raise _Miss(f"operand kind {kind}")
    return args


def _absolute(value: int) -> Mem:
    """An absolute address: a disp32 that the CPU sign-extends."""
    if -0x80000000 <= value <= 0x7FFFFFFF:
        return Mem(None, value)
    if 0xFFFFFFFF80000000 <= value < (1 << 64):
        return Mem(None, value - (1 << 64))
    raise _Miss(f"absolute address {value:#x} does not fit a sign-extended disp32")


def _describe(ops) -> str:
    def one(op):
        if isinstance(op, Reg):
            return "%" + op.name
        if isinstance(op, Imm):
            return "immediate"
        if isinstance(op, Indirect):
            return "*" + one(op.inner)
        if isinstance(op, Target):
            return "address"
        return "memory"
    return ", ".join(one(op) for op in reversed(ops)) or "no operands"


def _special(mn: str, ops: list):
    """The few forms whose choice depends on the operands' identity, as llvm-mc decides it."""
    if mn in ("xchgq", "xchgl", "xchg") and len(ops) == 2 and all(
            isinstance(o, Reg) and o.kind in ("r32", "r64") and o.num == 0 for o in ops) \
            and ops[0].kind == ops[1].kind:
        # xchgq %rax,%rax is nop (90); xchgl %eax,%eax must keep ModRM (87 c0): 90 would not
        # zero the upper half of %rax.
        if ops[0].kind == "r64":
            return x86.FORMS["NOP"], []
        return x86.FORMS["XCHGL_rr"], [0, 0]
    return None


_KIND_CLASS = {"a8": "r8", "cl": "r8", "a16": "r16", "a32": "r32", "a64": "r64", "one": "i",
               "rel8": "t", "rel32": "t", "o64": "t"}


def _kind_class(f: Form, kind: str) -> str:
    cls = _KIND_CLASS.get(kind) or ("m" if kind[0] == "m" else "i" if kind[0] in "iu" else kind)
    indirect = f.mnemonic in ("jmpq", "callq") and f.openc == "M"
    return "*" + cls if indirect else cls


def _op_class(op) -> str:
    if isinstance(op, Reg):
        return op.kind
    if isinstance(op, Imm):
        return "i"
    if isinstance(op, Target):
        return "t"
    if isinstance(op, Indirect):
        return "*" + _op_class(op.inner)
    return "m"


def _fits(form_cls: str, op_cls: str) -> bool:
    # a bare number is also an absolute memory address (`movl 0x1234, %eax`, `jmpq *0x1234`)
    return form_cls == op_cls or (form_cls[-1:] == "m" and op_cls[-1:] == "t"
                                  and form_cls[:-1] == op_cls[:-1])


_SHAPE_CACHE: dict[tuple, list[list[Form]]] = {}


def _shaped_candidates(mn: str, ops: list) -> list[list[Form]]:
    """candidates(mn), each group reduced to the forms whose operand classes fit these operands
    (the expensive exact match then runs on a handful of forms); remembered per shape."""
    shape = (mn, *map(_op_class, ops))
    groups = _SHAPE_CACHE.get(shape)
    if groups is None:
        groups = [[f for f in group if len(f.kinds) == len(ops) and all(
                      _fits(_kind_class(f, k), c) for k, c in zip(f.kinds, shape[1:]))]
                  for group in candidates(mn)]
        if len(_SHAPE_CACHE) > 20000:    # arbitrary input must not grow it without bound
            _SHAPE_CACHE.clear()
        _SHAPE_CACHE[shape] = groups
    return groups


def _select(mn: str, ops: list, address: int) -> tuple[Form, list]:
    special = _special(mn, ops)
    if special:
        return special
    groups = _shaped_candidates(mn, ops)
    if not groups:
        raise AsmError(f"unknown mnemonic {mn!r}")
    if len(groups) > 1 and not any(isinstance(o, Reg) and o.kind[0] == "r" for o in ops):
        raise AsmError(f"ambiguous operand size for {mn!r}: add a b/w/l/q suffix")
    chosen = []
    reasons = []
    for group in groups:
        for f in group:
            try:
                chosen.append((f, _match(f, ops, address)))
                break
            except _Miss as miss:
                reasons.append(str(miss))
    if not chosen:
        detail = next((r for r in reasons if "fit" in r or "range" in r or "address" in r), None)
        msg = f"{mn} does not take ({_describe(ops)})"
        raise AsmError(f"{msg}: {detail}" if detail else msg)
    if len(chosen) > 1:
        raise AsmError(f"ambiguous operand size for {mn!r}: add a b/w/l/q suffix")
    return chosen[0]


class Parsed(NamedTuple):
    prefixes: bytes     # legacy prefixes written as words (data16, rep...), in order
    lock: bool
    form: Form | None   # None for a line that is only prefixes
    args: list          # the form method's arguments


def parse(text: str, address: int = 0) -> Parsed:
    """Find the form and its arguments for one AT&T instruction at ``address``."""
    if not isinstance(text, str):
        raise AsmError("instruction text must be a string")
    if not isinstance(address, int) or not 0 <= address < (1 << 64):
        raise AsmError(f"bad instruction address {address!r}")
    line = text.split("#", 1)[0].strip().lower()
    if not line:
        raise AsmError("empty instruction")
    words = line.split(None, 1)
    prefixes = bytearray()
    prefix_words = set()
    lock = False
    while words and words[0] in PREFIXES:
        prefix_words.add(words[0])
        if words[0] == "lock":
            if lock:
                raise AsmError("lock prefix given twice")
            lock = True
        else:
            prefixes.append(PREFIXES[words[0]])
        words = words[1].split(None, 1) if len(words) > 1 else []
    if not words:   # llvm-objdump prints a lone prefix on a line of its own
        return Parsed(bytes(prefixes), lock, None, [])
    mn = words[0]
    if not re.fullmatch(r"[a-z][a-z0-9]*", mn):
        raise AsmError(f"bad mnemonic {mn!r}")
    if mn in _STRING_OPERANDS and len(words) > 1:
        if words[1].replace(" ", "").replace("\t", "") != _STRING_OPERANDS[mn]:
            raise AsmError(f"{mn} takes no operands other than {_STRING_OPERANDS[mn]}")
        words = words[:1]
    operands = [parse_operand(t) for t in split_operands(words[1])] if len(words) > 1 else []
    ops = operands[::-1]    # AT&T order -> Intel order, the table's
    stem = _canonical(mn)
    if (stem in _SHIFTS or stem[:-1] in _SHIFTS) and len(ops) == 1:
        ops.append(Imm(1))   # llvm-objdump prints a shift by one without its count
    # a branch displacement counts from the end of the whole instruction, prefixes included
    f, args = _select(mn, ops, address + len(prefixes))
    if f.openc == "D" and not prefix_words <= _BRANCH_PREFIXES:
        bad = ", ".join(sorted(prefix_words - _BRANCH_PREFIXES))
        raise AsmError(f"prefix {bad} before a direct branch or call is not allowed")
    if lock and not f.lockable:
        raise AsmError(f"lock prefix is not allowed with {mn} ({_describe(ops)})")
    return Parsed(bytes(prefixes), lock, f, args)


def assemble(text: str, address: int = 0) -> bytes:
    """Encode one AT&T instruction at ``address``; AsmError for anything refused."""
    p = parse(text, address)
    if p.form is None:
        return (b"\xf0" if p.lock else b"") + p.prefixes
    a = Assembler()
    a.emit_bytes(p.prefixes)
    if p.lock:
        a.lock()
    p.form.emit(a, *p.args)
    return a.finish()
