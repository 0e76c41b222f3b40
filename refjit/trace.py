"""The trace text format: one format for hand-written files, fuzzer output and captured traces.

A trace is what CPython's JIT receives (a list of ``_PyUOpInstruction``; FACTS §a.5) together
with the initial state it runs on (the objects, the code object, the frame, the executor and its
exits). Everything in a file is a line; ``#`` starts a comment; blank lines are ignored::

    refjit-trace 1
    code int_sum units=31 varnames=n,total,i
    executor chain_depth=0                       # the running executor, ``&executor``
    object n  = int 20000
    object it = range_iterator 0 20000 1
    frame locals=3 stacksize=3
    local 0 = n owned
    local 1 = 0 immortal                         # literals make anonymous objects
    local 2 = NULL
    stack 0 = it owned
       0 _START_EXECUTOR      target=25 operand0=&executor
       1 _MAKE_WARM           target=0
       2 _SET_IP              target=25 operand0=&bytecode+0x32
       3 _CHECK_PERIODIC      jump_target=0 error_target=20
       ...
      22 _EXIT_TRACE          target=14 operand0=&exit0

Declarations
    ``code NAME units=N [varnames=a,b,..] [bytecode=HEX]``: the code object; N = length of
    ``co_code_adaptive`` in code units (targets are checked against it).
    ``object NAME = KIND ARGS [immortal] [extra=N]`` with KIND one of ``int V``, ``float V``
    (``nan``, ``inf``, ``-0.0``, hex floats), ``tuple [..]``, ``list [..] [allocated=N]``,
    ``range_iterator START STOP STEP``, ``list_iterator SEQ [index=N]``,
    ``tuple_iterator SEQ [index=N]``, ``executor [invalid]`` (another executor, for side exits).
    Items of a tuple/list are literals (ints, floats, ``None``/``True``/``False``, nested
    ``[..]`` lists) or names declared above. ``extra=N`` adds N references held outside the
    trace's view (e.g. by ``co_consts``). Reference counts are computed: one per owned slot, per
    container item, per iterator's sequence, per exit that holds an executor, plus ``extra``.
    ``frame locals=N [stacksize=M]``, ``local I = REF OWNERSHIP``, ``stack I = REF OWNERSHIP``
    with OWNERSHIP ``owned`` (bit 0 clear), ``borrowed`` / ``immortal`` (bit 0 set), or the
    slot is ``NULL`` (bits = 1). Locals not listed are NULL.
    ``executor [invalid] [chain_depth=N]``, ``exit K [target=T] [temperature=V] [executor=NAME]``,
    ``tstate eval_breaker=V``, ``interp trace_run_counter=V``.
    ``enter_executor UNIT NAME``: the bytecode has ENTER_EXECUTOR at UNIT for executor NAME
    (``co_executors->executors[k]``, k in line order), as where a loop's executor was inserted;
    a hot ``_EXIT_TRACE`` to that unit links the exit to it. co_executors' reference is the
    running executor's implicit one, or a section's ``extra``.
    Chained executors: after the running executor's uops, ``executor NAME [invalid]
    [chain_depth=N] [extra=N]`` starts another executor's section (its own ``exit`` lines and
    uops numbered from 0; ``&executor`` and ``&exitK`` there are its own). ``exit K
    executor=NAME`` links an exit to it (``executor=executor`` to the running one), as a warm
    process links ``exit->executor``; the stack depth it starts with is the depth at that exit.

Uop lines: ``INDEX NAME [oparg=N] [fmt=TARGET|JUMP] (target=T | jump_target=J error_target=E)
[operand0=OPERAND] [operand1=OPERAND]`` where an operand is an integer, ``&NAME[+N]`` (an
object), ``&executor[+N]``, ``&exitK[+N]`` (``&executor->exits[K]``) or ``&bytecode+N`` (byte N
of ``co_code_adaptive``).

``parse_trace`` checks everything it can before anything runs and raises TraceError naming the
line and column and what was expected: syntax, unknown uops (against the profile), missing or
ill-kinded operands, stack underflow and overflow along the trace's control flow, jump targets
outside the trace, tier-1 targets outside the bytecode. ``format_trace`` prints a Trace so that
``parse_trace(format_trace(t)) == t``.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass, field

from refjit.errors import TraceError

FORMAT_VERSION = 1
HEADER = "refjit-trace"

# Uops that end a run (stubs and the terminators the trace builder appends).
STUBS = ("_DEOPT", "_EXIT_TRACE", "_ERROR_POP_N")
ENDS_RUN = STUBS + ("_FATAL_ERROR", "_JUMP_TO_TOP")

# What operand0 means for the uops whose stencils use it (FACTS §a.6, executor_cases.c.h).
OPERAND0_KIND = {
    "_START_EXECUTOR": "executor",
    "_SET_IP": "bytecode",
    "_EXIT_TRACE": "exit",
    "_ERROR_POP_N": "int",
    "_LOAD_CONST_INLINE": "object",
    "_LOAD_CONST_INLINE_BORROW": "object",
    "_POP_TOP_LOAD_CONST_INLINE_BORROW": "object",
    "_POP_TWO_LOAD_CONST_INLINE_BORROW": "object",
}

BUILTIN_NAMES = ("None", "True", "False")
ENTER_EXECUTOR = 255  # Include/opcode_ids.h
OWNERSHIPS = ("owned", "borrowed", "immortal")
OBJECT_KINDS = ("int", "float", "tuple", "list", "range_iterator", "list_iterator",
                "tuple_iterator", "executor")

# Defaults of the executor's exits (pycore_backoff.h: SIDE_EXIT_INITIAL_VALUE 4095, backoff 12).
SIDE_EXIT_INITIAL_TEMPERATURE = (4095 << 4) | 12


# ---------------------------------------------------------------------------------------------
# The data model


@dataclass
class ObjectDecl:
    """A heap object of the initial state. ``name`` is None for an anonymous literal."""

    name: str | None
    kind: str
    value: object  # int | float | list[Ref] | (start, stop, step) | seq Ref | None
    immortal: bool = False
    extra: int = 0
    allocated: int | None = None  # list
    index: int = 0  # list/tuple iterators
    valid: bool = True  # executor
    line: int = field(default=0, compare=False)


@dataclass
class Slot:
    """A local or stack slot: ``ref`` is None for NULL."""

    ref: object  # Ref | None
    ownership: str = "null"  # owned | borrowed | immortal | null
    line: int = field(default=0, compare=False)


@dataclass
class Operand:
    """A uop operand: a plain integer, or an address ``&base+addend``.

    kind: "int" (value), "object" (name = object name), "executor", "exit" (index = exit
    number), "bytecode" (addend = byte offset into co_code_adaptive).
    """

    kind: str
    value: int = 0
    name: str | None = None
    addend: int = 0

    def text(self) -> str:
        if self.kind == "int":
            return hex(self.value) if self.value >= 10 else str(self.value)
        base = {"object": self.name, "executor": "executor", "bytecode": "bytecode",
                "exit": f"exit{self.value}"}[self.kind]
        if self.addend:
            return f"&{base}{'+' if self.addend > 0 else '-'}{abs(self.addend):#x}"
        return f"&{base}"


@dataclass
class UOp:
    index: int
    name: str
    oparg: int = 0
    format: str = "target"  # "target" (UOP_FORMAT_TARGET) or "jump" (UOP_FORMAT_JUMP)
    target: int = 0
    jump_target: int = 0
    error_target: int = 0
    operand0: Operand = field(default_factory=lambda: Operand("int"))
    operand1: Operand = field(default_factory=lambda: Operand("int"))
    line: int = field(default=0, compare=False)
    # Set by validate(): the uop uses operand0, so its text carries operand0= even when it is 0
    # (as oparg= and target= are always printed); the parser asks for it on such uops.
    operand0_required: bool = field(default=False, compare=False)


@dataclass
class ExitDecl:
    index: int
    target: int | None = None
    temperature: int | None = None
    executor: str | None = None
    line: int = field(default=0, compare=False)


def _merged_exits(uops: list[UOp], exit_decls: list[ExitDecl]) -> dict[int, ExitDecl]:
    """Every exit of an executor, merged from its _EXIT_TRACE stubs and its ``exit`` lines."""
    out: dict[int, ExitDecl] = {}
    for u in uops:
        if u.name == "_EXIT_TRACE" and u.operand0.kind == "exit":
            out.setdefault(u.operand0.value, ExitDecl(u.operand0.value, target=u.target))
    for e in exit_decls:
        cur = out.setdefault(e.index, ExitDecl(e.index))
        if e.target is not None:
            cur.target = e.target
        cur.temperature = e.temperature
        cur.executor = e.executor
        cur.line = e.line
    return {k: out[k] for k in sorted(out)}


@dataclass
class ExecutorDecl:
    """An executor with its own uops, that side exits can chain into (``executor NAME`` section).

    The running executor is the unnamed first section; ``Trace.sections()`` presents it as an
    ExecutorDecl named "executor". ``extra`` counts references held outside the trace (e.g.
    ``co_executors`` for an executor that sits in the bytecode as ENTER_EXECUTOR).
    """

    name: str
    valid: bool = True
    chain_depth: int = 0
    extra: int = 0
    exit_decls: list[ExitDecl] = field(default_factory=list)
    uops: list[UOp] = field(default_factory=list)
    line: int = field(default=0, compare=False)

    def exits(self) -> dict[int, ExitDecl]:
        return _merged_exits(self.uops, self.exit_decls)

    @property
    def exit_count(self) -> int:
        ex = self.exits()
        return max(ex) + 1 if ex else 0


MAIN = "executor"  # the running executor's name in exit lines and operands


@dataclass
class Trace:
    code_name: str = "trace"
    code_units: int = 0
    varnames: list[str] = field(default_factory=list)
    bytecode: bytes | None = None
    executor_valid: bool = True
    chain_depth: int = 0
    eval_breaker: int | None = None
    trace_run_counter: int | None = None
    objects: list[ObjectDecl] = field(default_factory=list)  # named, in declaration order
    nlocals: int = 0
    stacksize: int | None = None
    locals: list[Slot] = field(default_factory=list)
    stack: list[Slot] = field(default_factory=list)
    exit_decls: list[ExitDecl] = field(default_factory=list)
    uops: list[UOp] = field(default_factory=list)
    side_executors: list[ExecutorDecl] = field(default_factory=list)
    # ENTER_EXECUTOR instructions: (bytecode unit, executor name) in co_executors order.
    enter_executors: list[tuple[int, str]] = field(default_factory=list)
    filename: str = field(default="<trace>", compare=False)
    max_stack_depth: int = field(default=0, compare=False)  # set by validate()
    code_line: int = field(default=0, compare=False)
    frame_line: int = field(default=0, compare=False)

    # -- derived views ------------------------------------------------------------------------
    def object(self, name: str) -> ObjectDecl:
        for o in self.objects:
            if o.name == name:
                return o
        raise KeyError(name)

    def exits(self) -> dict[int, ExitDecl]:
        """Every exit of the running executor, merged from its _EXIT_TRACE stubs and ``exit``
        lines."""
        return _merged_exits(self.uops, self.exit_decls)

    def main_section(self) -> ExecutorDecl:
        """The running executor as a section (sharing this trace's uop and exit lists)."""
        return ExecutorDecl(MAIN, self.executor_valid, self.chain_depth, 0, self.exit_decls,
                            self.uops)

    def sections(self) -> list[ExecutorDecl]:
        """Every executor with uops: the running one first, then the ``executor NAME`` ones."""
        return [self.main_section()] + self.side_executors

    @property
    def exit_count(self) -> int:
        ex = self.exits()
        return max(ex) + 1 if ex else 0


# ---------------------------------------------------------------------------------------------
# Lexing: one line at a time into tokens (a token's column is found when an error needs it)


def _tokens(text: str) -> list[str]:
    """A line's tokens: each of ``= [ ] ,`` alone, and the runs of other characters between them
    and white space (padding the punctuation with spaces lets one split() find both). '#' is
    not in a token: it starts a comment, which the caller has removed."""
    if "[" in text or "]" in text or "," in text:
        return text.replace("=", " = ").replace("[", " [ ").replace("]", " ] ") \
            .replace(",", " , ").split()
    return text.replace("=", " = ").split()     # most lines: only '=' to pad


class _Line:
    """The tokens of one line and a cursor, with errors that point at a column.

    ``toks`` holds the tokens' texts, and a token is named by its index there. Columns are only
    needed for an error message, so they are found then."""

    __slots__ = ("text", "lineno", "filename", "toks", "i")

    def __init__(self, text: str, lineno: int, filename: str):
        if "#" in text:
            raise TraceError("unexpected character '#'",
                             f"{filename}:{lineno}:{text.index('#') + 1}")
        self.text, self.lineno, self.filename = text, lineno, filename
        self.toks: list[str] = _tokens(text)
        self.i = 0

    def col(self, k: int) -> int:
        """The 1-based column of token k; past the last token, just after the line's text."""
        # Only white space lies between two tokens, so each is the first match of its text
        # after the one before.
        pos = 0
        for j, tok in enumerate(self.toks):
            pos = self.text.find(tok, pos)
            if j == k:
                return pos + 1
            pos += len(tok)
        return len(self.text.rstrip()) + 1

    def error(self, why: str, tok: int | None = None) -> TraceError:
        """An error at token ``tok``, or by default at the next one (or the end of the line)."""
        col = self.col(self.i if tok is None else tok)
        return TraceError(why, f"{self.filename}:{self.lineno}:{col}")

    def peek(self) -> str | None:
        """The next token's text, None at the end of the line."""
        return self.toks[self.i] if self.i < len(self.toks) else None

    def next(self, expected: str) -> int:
        i = self.i
        if i >= len(self.toks):
            raise self.error(f"expected {expected}, found end of line")
        self.i = i + 1
        return i

    def expect(self, text: str) -> int:
        t = self.next(repr(text))
        if self.toks[t] != text:
            raise self.error(f"expected {text!r}, found {self.toks[t]!r}", t)
        return t

    def word(self, expected: str) -> int:
        t = self.next(expected)
        if self.toks[t] in "=[],":
            raise self.error(f"expected {expected}, found {self.toks[t]!r}", t)
        return t

    def at_end(self) -> bool:
        return self.i >= len(self.toks)

    def options(self, allowed: dict[str, str]) -> dict[str, tuple[str | bool, int]]:
        """The rest of the line as ``key=value`` pairs and bare flags (allowed: name ->
        'value'|'flag'), each with the token errors about it point at (the value, or the flag)."""
        out: dict[str, tuple[str | bool, int]] = {}
        toks = self.toks
        n = len(toks)
        while self.i < n:
            k = self.i  # word("key=value"), read without the call (there is a token)
            key = toks[k]
            if key in "=[],":
                raise self.error(f"expected key=value, found {key!r}", k)
            self.i = k + 1
            kind = allowed.get(key)
            if kind is None:
                raise self.error(f"unexpected {key!r}; expected one of: "
                                 + ", ".join(sorted(allowed)), k)
            if key in out:
                raise self.error(f"{key!r} given twice", k)
            if kind == "flag":
                out[key] = (True, k)
                continue
            i = self.i
            if i + 1 < n and toks[i] == "=" and toks[i + 1] not in "=[],":
                vt = i + 1                 # the usual key=value, read without the checks below
                self.i = i + 2
            else:
                self.expect("=")
                vt = self.word(f"a value for {key}")
            value = toks[vt]
            while self.i < n and toks[self.i] == ",":  # a,b,c
                self.i += 1
                value += "," + toks[self.word(f"a value for {key} after ','")]
            out[key] = (value, vt)  # errors about the value point at it
        return out

    def int_value(self, text: str, tok: int, what: str, lo: int | None = None,
                  hi: int | None = None) -> int:
        try:
            v = int(text, 0)
        except ValueError:
            raise self.error(f"expected an integer for {what}, found {text!r}", tok) from None
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise self.error(f"{what} {v} out of range [{lo}, {hi}]", tok)
        return v


def _parse_float(text: str) -> float:
    t = text.lower()
    if t.lstrip("+-").startswith("0x"):
        return float.fromhex(text)
    return float(text)


_INT_LITERAL = re.compile(r"^[+-]?(0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+|[0-9][0-9_]*)$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
_OPERAND = re.compile(r"&([A-Za-z_][A-Za-z0-9_]*)(?:([+-])(0[xX][0-9a-fA-F]+|\d+))?")  # fullmatch
_EXIT_NAME = re.compile(r"exit(\d+)")  # fullmatch: &exitK, and a name objects cannot have


# ---------------------------------------------------------------------------------------------
# Parsing


_UOP_OPTIONS = {"oparg": "value", "fmt": "value", "target": "value", "jump_target": "value",
                "error_target": "value", "operand0": "value", "operand1": "value"}


def _object_options(kind: str) -> dict[str, str]:
    """The options of an object line after its value."""
    if kind == "executor":
        return {"invalid": "flag", "extra": "value"}
    allowed = {"immortal": "flag", "extra": "value"}
    if kind == "list":
        allowed["allocated"] = "value"
    if kind in ("list_iterator", "tuple_iterator"):
        allowed["index"] = "value"
    return allowed


_OBJECT_OPTIONS = {kind: _object_options(kind) for kind in OBJECT_KINDS}
_EXPECTED_KIND = "an object kind (" + ", ".join(OBJECT_KINDS) + ")"
_EXPECTED_OWNERSHIP = "the ownership (" + " / ".join(OWNERSHIPS) + ")"


class _Parser:
    def __init__(self, profile, filename: str):
        self.profile = profile
        self.filename = filename
        self.t = Trace(filename=filename)
        self.names: dict[str, ObjectDecl] = {}
        self.seen_code = self.seen_frame = self.seen_executor = False
        self.lines_of: dict[str, int] = {}
        self.cur = self.t.main_section()  # the executor that uop and exit lines belong to
        self.exit_refs: list[tuple[str, _Line, int]] = []  # (name, line, its token)

    # -- references and literals ----------------------------------------------------------------
    def ref(self, ln: _Line, what: str):
        """A name or literal where an object is expected (slot, container item)."""
        if ln.peek() == "[":
            return ObjectDecl(None, "list", self.items(ln), line=ln.lineno)
        t = ln.word(what)
        return self.literal_or_name(ln, t)

    def literal_or_name(self, ln: _Line, t: int):
        s = ln.toks[t]
        if s in BUILTIN_NAMES:
            return s
        if _INT_LITERAL.match(s):
            return ObjectDecl(None, "int", int(s, 0), line=ln.lineno)
        if s in self.names:
            return s
        try:
            return ObjectDecl(None, "float", _parse_float(s), line=ln.lineno)
        except ValueError:
            pass
        if _NAME.match(s):
            raise ln.error(f"unknown object {s!r} (declare it above with 'object {s} = ...')", t)
        raise ln.error(f"expected an object name or a literal, found {s!r}", t)

    def items(self, ln: _Line) -> list:
        ln.expect("[")
        out = []
        if ln.peek() == "]":
            ln.next("]")
            return out
        while True:
            out.append(self.ref(ln, "a list item"))
            t = ln.next("',' or ']'")
            if ln.toks[t] == "]":
                return out
            if ln.toks[t] != ",":
                raise ln.error(f"expected ',' or ']', found {ln.toks[t]!r}", t)

    # -- line kinds ---------------------------------------------------------------------------
    def header(self, ln: _Line) -> None:
        ln.expect(HEADER)
        v = ln.word("the format version")
        if ln.toks[v] != str(FORMAT_VERSION):
            raise ln.error(f"unsupported format version {ln.toks[v]!r}; this refjit reads version "
                           f"{FORMAT_VERSION}", v)
        if not ln.at_end():
            raise ln.error("expected end of line after the version")

    def code(self, ln: _Line) -> None:
        kw = ln.next("code")
        if self.seen_code:
            raise ln.error("a second 'code' line (one code object per trace)", kw)
        self.seen_code = True
        self.t.code_line = ln.lineno
        self.t.code_name = ln.toks[ln.word("the code object's name")]
        opts = ln.options({"units": "value", "varnames": "value", "bytecode": "value"})
        if "units" not in opts:
            raise ln.error("expected units=N (the length of co_code_adaptive in code units)", kw)
        self.t.code_units = ln.int_value(opts["units"][0], opts["units"][1], "units", 1, 1 << 20)
        if "varnames" in opts:
            self.t.varnames = opts["varnames"][0].split(",")
        if "bytecode" in opts:
            text, tok = opts["bytecode"]
            try:
                bc = bytes.fromhex(text)
            except ValueError:
                raise ln.error("expected hex bytes for bytecode", tok) from None
            if len(bc) != 2 * self.t.code_units:
                raise ln.error(f"bytecode has {len(bc)} bytes, units={self.t.code_units} needs "
                               f"{2 * self.t.code_units}", tok)
            self.t.bytecode = bc

    def executor(self, ln: _Line) -> None:
        kw = ln.next("executor")
        name = ln.peek()
        named = name is not None and name not in ("invalid", "chain_depth", "extra") \
            and (len(ln.toks) <= ln.i + 1 or ln.toks[ln.i + 1] != "=")
        if not named:
            if self.seen_executor or self.t.side_executors or self.t.uops:
                raise ln.error("the running executor's 'executor' line comes once, before its "
                               "uops (another executor with uops: 'executor NAME ...')", kw)
            self.seen_executor = True
            opts = ln.options({"invalid": "flag", "chain_depth": "value"})
            self.t.executor_valid = "invalid" not in opts
            if "chain_depth" in opts:
                self.t.chain_depth = ln.int_value(*opts["chain_depth"], "chain_depth", 0, 255)
            self.cur = self.t.main_section()
            return
        nt = ln.next("name")
        if not _NAME.match(name) or name in self.names or name == MAIN \
                or any(x.name == name for x in self.t.side_executors):
            raise ln.error(f"{name!r} cannot name another executor (already used, or reserved)",
                           nt)
        if not self.t.uops:
            raise ln.error("another executor's section comes after the running executor's uops",
                           kw)
        opts = ln.options({"invalid": "flag", "chain_depth": "value", "extra": "value"})
        sec = ExecutorDecl(name, "invalid" not in opts, line=ln.lineno)
        if "chain_depth" in opts:
            sec.chain_depth = ln.int_value(*opts["chain_depth"], "chain_depth", 0, 255)
        if "extra" in opts:
            sec.extra = ln.int_value(*opts["extra"], "extra", 0, 1 << 30)
        self.t.side_executors.append(sec)
        self.cur = sec

    def state_fields(self, ln: _Line) -> None:
        kw = ln.next("tstate or interp")
        if ln.toks[kw] == "tstate":
            opts = ln.options({"eval_breaker": "value"})
            if "eval_breaker" in opts:
                self.t.eval_breaker = ln.int_value(*opts["eval_breaker"], "eval_breaker", 0,
                                                   (1 << 64) - 1)
        else:
            opts = ln.options({"trace_run_counter": "value"})
            if "trace_run_counter" in opts:
                self.t.trace_run_counter = ln.int_value(*opts["trace_run_counter"],
                                                        "trace_run_counter", 0, (1 << 63) - 1)

    def object(self, ln: _Line) -> None:
        ln.next("object")
        nt = ln.word("the object's name")
        name = ln.toks[nt]
        if not _NAME.match(name) or name in BUILTIN_NAMES or name in ("NULL", "executor",
                                                                       "bytecode") \
                or _EXIT_NAME.fullmatch(name) or _INT_LITERAL.match(name) \
                or name.lower().lstrip("+-") in ("nan", "inf", "infinity"):
            raise ln.error(f"{name!r} cannot name an object", nt)
        if name in self.names:
            raise ln.error(f"object {name!r} already declared on line {self.lines_of[name]}", nt)
        ln.expect("=")
        kt = ln.word(_EXPECTED_KIND)
        kind = ln.toks[kt]
        decl = ObjectDecl(name, kind, None, line=ln.lineno)
        if kind == "int":
            vt = ln.word("an integer")
            decl.value = ln.int_value(ln.toks[vt], vt, "int")
        elif kind == "float":
            vt = ln.word("a float")
            try:
                decl.value = _parse_float(ln.toks[vt])
            except ValueError:
                raise ln.error(f"expected a float, found {ln.toks[vt]!r}", vt) from None
        elif kind in ("tuple", "list"):
            decl.value = self.items(ln)
        elif kind == "range_iterator":
            vals = []
            for what in ("start", "stop", "step"):
                vt = ln.word(f"the range's {what}")
                vals.append(ln.int_value(ln.toks[vt], vt, what, -(1 << 63), (1 << 63) - 1))
            if vals[2] == 0:
                raise ln.error("range step must not be zero", vt)
            decl.value = tuple(vals)
        elif kind in ("list_iterator", "tuple_iterator"):
            st = ln.word("the iterated sequence's name")
            seq = self.literal_or_name(ln, st)
            want = kind.split("_")[0]
            if not isinstance(seq, str) or seq in BUILTIN_NAMES or self.names[seq].kind != want:
                raise ln.error(f"a {kind} iterates over a declared {want}", st)
            decl.value = seq
        elif kind == "executor":
            pass
        elif kind == "range":
            raise ln.error("a range object itself is not modelled: a for loop's stack holds its "
                           "iterator, 'range_iterator START STOP STEP'", kt)
        else:
            raise ln.error(f"unknown object kind {kind!r}; expected one of: "
                           + ", ".join(OBJECT_KINDS), kt)
        opts = ln.options(_OBJECT_OPTIONS[kind])
        decl.immortal = "immortal" in opts
        if "extra" in opts:
            decl.extra = ln.int_value(*opts["extra"], "extra", 0, 1 << 30)
        if "allocated" in opts:
            decl.allocated = ln.int_value(*opts["allocated"], "allocated", len(decl.value), 1 << 30)
        if "index" in opts:
            decl.index = ln.int_value(*opts["index"], "index", 0, 1 << 40)
        decl.valid = "invalid" not in opts
        self.names[name] = decl
        self.lines_of[name] = ln.lineno
        self.t.objects.append(decl)

    def frame(self, ln: _Line) -> None:
        kw = ln.next("frame")
        if self.seen_frame:
            raise ln.error("a second 'frame' line", kw)
        self.seen_frame = True
        self.t.frame_line = ln.lineno
        opts = ln.options({"locals": "value", "stacksize": "value"})
        if "locals" not in opts:
            raise ln.error("expected locals=N (the number of local variables)", kw)
        self.t.nlocals = ln.int_value(*opts["locals"], "locals", 0, 4096)
        self.t.locals = [Slot(None) for _ in range(self.t.nlocals)]
        self.local_lines: dict[int, int] = {}
        if "stacksize" in opts:
            self.t.stacksize = ln.int_value(*opts["stacksize"], "stacksize", 0, 4096)

    def slot(self, ln: _Line) -> None:
        kw = ln.next("local or stack")
        if not self.seen_frame:
            raise ln.error(f"'{ln.toks[kw]}' before the 'frame' line", kw)
        it = ln.word("the slot number")
        i = ln.int_value(ln.toks[it], it, "slot number", 0, 4095)
        ln.expect("=")
        if ln.peek() == "NULL":
            ln.next("NULL")
            s = Slot(None, "null", line=ln.lineno)
        else:
            ref = self.ref(ln, "an object name, a literal or NULL")
            ot = ln.word(_EXPECTED_OWNERSHIP)
            ownership = ln.toks[ot]
            if ownership not in OWNERSHIPS:
                raise ln.error(f"expected ownership {' / '.join(OWNERSHIPS)}, found {ownership!r}",
                               ot)
            s = Slot(ref, ownership, line=ln.lineno)
            self.check_ownership(ln, s, ot)
        if not ln.at_end():
            raise ln.error("expected end of line after the ownership")
        if ln.toks[kw] == "local":
            if i >= self.t.nlocals:
                raise ln.error(f"local {i} out of range: the frame has locals={self.t.nlocals}",
                               it)
            if i in self.local_lines:
                raise ln.error(f"local {i} already set on line {self.local_lines[i]}", it)
            self.local_lines[i] = ln.lineno
            self.t.locals[i] = s
        else:
            if i != len(self.t.stack):
                raise ln.error(f"expected stack {len(self.t.stack)} next (stack slots are listed "
                               f"bottom up, without gaps)", it)
            self.t.stack.append(s)

    def is_immortal(self, ref) -> bool:
        if isinstance(ref, str):
            if ref in BUILTIN_NAMES:
                return True
            ref = self.names[ref]
        return statically_immortal(ref)

    def check_ownership(self, ln: _Line, s: Slot, tok: int) -> None:
        imm = self.is_immortal(s.ref)
        if s.ownership == "owned" and imm:
            raise ln.error("an immortal object is never owned by a stack ref in CPython (bit 0 is "
                           "set when it is pushed); use 'immortal'", tok)
        if s.ownership == "immortal" and not imm:
            raise ln.error("the object is not immortal; use 'owned' or 'borrowed'", tok)

    def exit(self, ln: _Line) -> None:
        ln.next("exit")
        it = ln.word("the exit number")
        k = ln.int_value(ln.toks[it], it, "exit number", 0, 4095)
        if any(e.index == k for e in self.cur.exit_decls):
            raise ln.error(f"exit {k} declared twice", it)
        opts = ln.options({"target": "value", "temperature": "value", "executor": "value"})
        e = ExitDecl(k, line=ln.lineno)
        if "target" in opts:
            e.target = ln.int_value(*opts["target"], "target", 0, (1 << 32) - 1)
        if "temperature" in opts:
            e.temperature = ln.int_value(*opts["temperature"], "temperature", 0, 0xFFFF)
        if "executor" in opts:
            # An executor object, or an executor section (possibly declared further down:
            # checked once the whole file is read).
            name, tok = opts["executor"]
            if name in self.names and self.names[name].kind != "executor":
                raise ln.error(f"expected the name of an executor, found the {self.names[name].kind} "
                               f"{name!r}", tok)
            e.executor = name
            self.exit_refs.append((name, ln, tok))
        self.cur.exit_decls.append(e)

    def enter_executor(self, ln: _Line) -> None:
        ln.next("enter_executor")
        if not self.seen_code:
            raise ln.error("'enter_executor' before the 'code' line")
        ut = ln.word("a bytecode unit")
        unit = ln.int_value(ln.toks[ut], ut, "bytecode unit", 0, self.t.code_units - 1)
        if any(u == unit for u, _ in self.t.enter_executors):
            raise ln.error(f"unit {unit} already holds an ENTER_EXECUTOR", ut)
        nt = ln.word("an executor name")
        name = ln.toks[nt]
        if name in self.names and self.names[name].kind != "executor":
            raise ln.error(f"expected the name of an executor, found the "
                           f"{self.names[name].kind} {name!r}", nt)
        self.exit_refs.append((name, ln, nt))
        if len(self.t.enter_executors) >= 255:
            raise ln.error("more than 255 ENTER_EXECUTOR instructions (the oparg is one byte)", ut)
        self.t.enter_executors.append((unit, name))

    def operand(self, ln: _Line, text: str, tok: int) -> Operand:
        if not text.startswith("&"):
            return Operand("int", ln.int_value(text, tok, "operand", 0, (1 << 64) - 1))
        read = _address_operand(text)
        if read is None:
            raise ln.error(f"expected an operand like 42, &name, &name+0x8, &exit3, &executor or "
                           f"&bytecode+0x22, found {text!r}", tok)
        kind, value, base, addend = read
        if kind != "object":
            return Operand(kind, value, None, addend)
        if base in BUILTIN_NAMES or base in self.names:
            return Operand("object", 0, base, addend)
        raise ln.error(f"unknown name {base!r} in operand (declare it with 'object {base} = ...')",
                       tok)

    def uop(self, ln: _Line) -> None:
        toks = ln.toks
        it = ln.word("a uop index")
        index = ln.int_value(toks[it], it, "uop index", 0, 0xFFFF)
        uops = self.cur.uops
        if index != len(uops):
            raise ln.error(f"expected uop index {len(uops)} (uops are numbered in order "
                           f"from 0 in each executor)", it)
        nt = ln.word("a uop name")
        name = toks[nt]
        spec = self.profile.uops.get(name)
        if spec is None:
            raise ln.error(f"unknown uop {name!r} (not a tier-2 uop of CPython "
                           f"{self.profile.version})", nt)
        const, uses_oparg, can_jump, can_error, uses_target, needs_operand0, kind = \
            _uop_rules(spec, name)
        opts = ln.options(_UOP_OPTIONS)
        # The fields are read and checked in this order (the first error found is the one
        # reported); the UOp is made once they all are.
        oparg = ln.int_value(*opts["oparg"], "oparg", 0, 0xFFFF) if "oparg" in opts else 0
        if const is not None:
            if "oparg" in opts and oparg != const:
                raise ln.error(f"{name} is the replica for oparg={const}, found oparg={oparg}",
                               opts["oparg"][1])
            oparg = const
        elif uses_oparg and "oparg" not in opts:
            raise ln.error(f"{name} uses its oparg: expected oparg=N", nt)
        # The format: FORMAT_JUMP carries jump_target/error_target, FORMAT_TARGET a target.
        has_jump = "jump_target" in opts or "error_target" in opts
        if has_jump and "target" in opts:
            raise ln.error("target= and jump_target=/error_target= are exclusive (one union in "
                           "_PyUOpInstruction)", opts["target"][1])
        format = "jump" if has_jump else "target"
        if "fmt" in opts:
            fmt, ftok = opts["fmt"]
            if fmt.upper() not in ("TARGET", "JUMP"):
                raise ln.error(f"expected fmt=TARGET or fmt=JUMP, found {fmt!r}", ftok)
            if fmt.lower() != format:
                raise ln.error(f"fmt={fmt} disagrees with the target fields given", ftok)
        if can_jump or can_error:
            if not has_jump:
                need = " and ".join(x for x, c in (("jump_target=", can_jump),
                                                   ("error_target=", can_error)) if c)
                raise ln.error(f"{name} can {'exit' if can_jump else 'fail'}: expected {need}",
                               opts["target"][1] if "target" in opts else None)
            if can_jump and "jump_target" not in opts:
                raise ln.error(f"{name} needs jump_target=N", nt)
            if can_error and "error_target" not in opts:
                raise ln.error(f"{name} needs error_target=N", nt)
        elif has_jump:
            key = "jump_target" if "jump_target" in opts else "error_target"
            raise ln.error(f"{name} neither exits nor fails: expected target= instead",
                           opts[key][1])
        target = jump_target = error_target = 0
        if "target" in opts:
            target = ln.int_value(*opts["target"], "target", 0, (1 << 32) - 1)
        if "jump_target" in opts:
            jump_target = ln.int_value(*opts["jump_target"], "jump_target", 0, 0xFFFF)
        if "error_target" in opts:
            error_target = ln.int_value(*opts["error_target"], "error_target", 0, 0xFFFF)
        if "target" not in opts and uses_target:
            raise ln.error(f"{name} uses its target: expected target=N", nt)
        if "operand0" in opts:
            operand0 = self.operand(ln, *opts["operand0"])
        elif kind == "executor":
            operand0 = Operand("executor")
        else:
            operand0 = Operand("int")
        operand1 = self.operand(ln, *opts["operand1"]) if "operand1" in opts else Operand("int")
        if "operand0" not in opts:
            if needs_operand0:
                raise ln.error(f"{name} needs operand0=" + {
                    "bytecode": "&bytecode+N", "exit": "&exitK", "int": "N (a tier-1 index)",
                    "object": "&NAME"}.get(kind, "VALUE"), nt)
        elif kind is not None and operand0.kind != kind:
            want = {"executor": "&executor", "bytecode": "&bytecode+N", "exit": "&exitK",
                    "int": "an integer (a tier-1 index)", "object": "&NAME (an object)"}[kind]
            raise ln.error(f"{name}'s operand0 must be {want}, found {opts['operand0'][0]!r}",
                           opts["operand0"][1])
        # operand1 may be anything: CPython leaves it uninitialised for most uops (FACTS §a.4).
        uops.append(UOp(index, name, oparg, format, target, jump_target, error_target, operand0,
                        operand1, ln.lineno))

    # -- whole file -----------------------------------------------------------------------------
    def parse(self, text: str) -> Trace:
        seen_header = False
        lines = text.splitlines()
        for lineno, raw in enumerate(lines, 1):
            ln = _Line(raw.split("#", 1)[0] if "#" in raw else raw, lineno, self.filename)
            if not ln.toks:
                continue
            kw = ln.toks[0]              # (ln.peek(): no token is read yet)
            if not seen_header:
                if kw != HEADER:
                    raise ln.error(f"expected the format line '{HEADER} {FORMAT_VERSION}' first",
                                   0)
                self.header(ln)
                seen_header = True
                continue
            if kw[0].isdigit():
                self.uop(ln)
            elif kw == "code":
                self.code(ln)
            elif kw == "executor":
                self.executor(ln)
            elif kw in ("tstate", "interp"):
                self.state_fields(ln)
            elif kw == "object":
                self.object(ln)
            elif kw == "frame":
                self.frame(ln)
            elif kw in ("local", "stack"):
                self.slot(ln)
            elif kw == "exit":
                self.exit(ln)
            elif kw == "enter_executor":
                self.enter_executor(ln)
            else:
                raise ln.error(f"unexpected {kw!r}; expected a uop line (INDEX NAME ...) or one of: "
                               "code, executor, tstate, interp, object, frame, local, stack, exit, enter_executor",
                               0)
            if ln.i < len(ln.toks):      # (not ln.at_end())
                raise ln.error("expected end of line")
        end = f"{self.filename}:{len(lines) + 1}:1"
        if not seen_header:
            raise TraceError(f"empty trace: expected '{HEADER} {FORMAT_VERSION}'", end)
        if not self.seen_code:
            raise TraceError("missing 'code NAME units=N' line", end)
        if not self.seen_frame:
            raise TraceError("missing 'frame locals=N' line", end)
        if not self.t.uops:
            raise TraceError("the trace has no uops", end)
        known = {MAIN} | {x.name for x in self.t.side_executors} \
            | {n for n, o in self.names.items() if o.kind == "executor"}
        for name, ln, tok in self.exit_refs:
            if name not in known:
                raise ln.error(f"unknown executor {name!r} (an 'executor {name}' section or an "
                               f"'object {name} = executor')", tok)
        for sec in self.t.side_executors:
            if not sec.uops:
                raise TraceError(f"executor {sec.name} has no uops", f"{self.filename}:{sec.line}:1")
        return self.t


@functools.lru_cache(maxsize=1 << 12)
def _address_operand(text: str) -> tuple[str, int, str, int] | None:
    """An ``&...`` operand's text read: (kind, value, base name, addend), kind "executor",
    "bytecode", "exit" (value: the exit number) or "object" (whether the name is declared is
    the parser's question); None when it is not of that form."""
    m = _OPERAND.fullmatch(text)
    if m is None:
        return None
    base, sign, off = m.groups()
    addend = int(off, 0) * (-1 if sign == "-" else 1) if off else 0
    if base == "executor" or base == "bytecode":
        return base, 0, base, addend
    em = _EXIT_NAME.fullmatch(base)
    if em:
        return "exit", int(em.group(1)), base, addend
    return "object", 0, base, addend


_RULES: dict[str, tuple] = {}    # uop name -> (its spec, _uop_rules of it)


def _uop_rules(spec, name: str) -> tuple:
    """What a uop line of ``name`` is checked against, read from its spec once: (const_oparg,
    uses_oparg, _can_jump, _can_error, uses_target, _needs_operand0, OPERAND0_KIND). Kept per
    name, and made again when another profile's spec of that name comes."""
    known = _RULES.get(name)
    if known is not None and known[0] is spec:
        return known[1]
    rules = (spec.const_oparg, spec.uses_oparg, _can_jump(spec, name), _can_error(spec),
             spec.uses_target, _needs_operand0(spec, name), OPERAND0_KIND.get(name))
    _RULES[name] = (spec, rules)
    return rules


def _needs_operand0(spec, name: str) -> bool:
    """The uop's text must give operand0 (only _START_EXECUTOR's &executor goes without saying)."""
    return bool(spec.uses_operand0) or OPERAND0_KIND.get(name, "executor") != "executor"


def _can_jump(spec, name: str) -> bool:
    f = spec.flags  # a frozenset already (UopSpec)
    return "HAS_DEOPT" in f or "HAS_EXIT" in f or name == "_JUMP_TO_TOP"


def _can_error(spec) -> bool:
    return "HAS_ERROR" in spec.flags


# ---------------------------------------------------------------------------------------------
# Validation before anything runs


_EXPR_TOKEN = re.compile(r"\s*(?:(0[xX][0-9a-fA-F]+|\d+)|(oparg)|(>>|[-+*&()]))")


def stack_item_count(item: str, oparg: int) -> int:
    """How many slots a DSL stack item occupies: ``x`` is 1, ``x[expr]`` is expr(oparg)."""
    if "[" not in item:
        return 1
    expr = item[item.index("[") + 1: item.rindex("]")]
    return _eval_size(expr, oparg)


def _eval_size(expr: str, oparg: int) -> int:
    """Evaluate a stack-size expression of the cases DSL (``oparg-1``, ``oparg*2``, ``oparg & 1``,
    ``oparg >> 8``) with C precedence: * binds tighter than + -, which bind tighter than >>,
    which binds tighter than &."""
    toks: list[object] = []
    pos = 0
    expr = expr.strip()
    while pos < len(expr):
        m = _EXPR_TOKEN.match(expr, pos)
        if m is None:
            raise TraceError(f"cannot evaluate stack effect expression {expr!r}")
        num, op_, sym = m.groups()
        toks.append(int(num, 0) if num else oparg if op_ else sym)
        pos = m.end()
    levels = [("&",), (">>",), ("+", "-"), ("*",)]

    def parse(level: int, i: int) -> tuple[int, int]:
        if level == len(levels):
            t = toks[i]
            if t == "(":
                v, i = parse(0, i + 1)
                return v, i + 1
            return t, i + 1
        v, i = parse(level + 1, i)
        while i < len(toks) and toks[i] in levels[level]:
            op = toks[i]
            w, i = parse(level + 1, i + 1)
            v = {"&": v & w, ">>": v >> w, "+": v + w, "-": v - w, "*": v * w}[op]
        return v, i

    value, _ = parse(0, 0)
    return value


def stack_effect(profile, name: str, oparg: int) -> tuple[int, int]:
    """(slots popped, slots pushed) for a uop with this oparg; passthrough items count on both."""
    spec = profile.uops[name]
    return _stack_effect(spec.stack_inputs, spec.stack_outputs, oparg)


@functools.lru_cache(maxsize=1 << 14)
def _stack_effect(inputs: tuple[str, ...], outputs: tuple[str, ...], oparg: int) -> tuple[int, int]:
    return (sum(stack_item_count(i, oparg) for i in inputs),
            sum(stack_item_count(i, oparg) for i in outputs))


# Guards that pop their operand before they jump (every other guard jumps before any change).
POPS_BEFORE_JUMP = ("_GUARD_IS_TRUE_POP", "_GUARD_IS_FALSE_POP", "_GUARD_IS_NONE_POP",
                    "_GUARD_IS_NOT_NONE_POP")


def validate(trace: Trace, profile) -> None:
    """Reject, with line and column, what would make the trace meaningless to run."""
    f = trace.filename

    def err(line: int, why: str) -> TraceError:
        return TraceError(why, f"{f}:{line}:1")

    if len(trace.varnames) > trace.nlocals:
        raise err(trace.code_line, f"code has {len(trace.varnames)} varnames but the frame has "
                     f"locals={trace.nlocals}")
    if trace.bytecode is not None:
        for k, (unit, name) in enumerate(trace.enter_executors):
            op, arg = trace.bytecode[2 * unit], trace.bytecode[2 * unit + 1]
            if (op, arg) != (ENTER_EXECUTOR, k):
                raise err(trace.code_line, f"enter_executor {unit} {name} is co_executors[{k}], but "
                                           f"the bytecode at unit {unit} is opcode {op} oparg {arg}, "
                                           f"not ENTER_EXECUTOR ({ENTER_EXECUTOR}) {k}")
    sections = trace.sections()
    exits_of = [sec.exits() for sec in sections]  # merged once, read by the checks below
    for sec, exits in zip(sections, exits_of):
        _validate_targets(trace, sec, exits, profile, err)
        uop_specs = profile.uops
        for u in sec.uops:
            u.operand0_required = _needs_operand0(uop_specs[u.name], u.name)
    # Every executor section needs an owner: an exit that links to it, or extra=N.
    for sec in trace.side_executors:
        links = sum(1 for exits in exits_of for e in exits.values() if e.executor == sec.name)
        if sec.extra + links == 0:
            raise err(sec.line, f"executor {sec.name} has no owner: no exit links to it "
                                f"('exit K executor={sec.name}') and no extra=N")

    # Stack depth, executor by executor: the running one starts with the frame's stack, an
    # executor that exits chain into starts with the depth of the stack at those exits.
    by_name = {sec.name: (sec, exits) for sec, exits in zip(sections, exits_of)}
    entry: dict[str, int] = {MAIN: len(trace.stack)}
    work = [MAIN]
    max_depth = len(trace.stack)
    while work:
        sec, exits = by_name[work.pop()]
        exit_depths, deepest = _validate_depths(sec, entry[sec.name], profile, err)
        max_depth = max(max_depth, deepest)
        for k, e in exits.items():
            if e.executor in by_name and k in exit_depths:
                d = exit_depths[k]
                if e.executor in entry and entry[e.executor] != d:
                    raise err(e.line, f"executor {sec.name}, exit {k}: enters executor "
                                      f"{e.executor} with stack depth {d}, but it is also entered "
                                      f"with depth {entry[e.executor]}")
                if e.executor not in entry:
                    entry[e.executor] = d
                    work.append(e.executor)
    for sec in sections:
        if sec.name not in entry:  # not reachable from the running executor: frame's stack
            _, deepest = _validate_depths(sec, len(trace.stack), profile, err)
            max_depth = max(max_depth, deepest)
    trace.max_stack_depth = max_depth
    if trace.stacksize is not None and max_depth > trace.stacksize:
        raise err(trace.frame_line, f"the stack reaches depth {max_depth}, more than the frame's "
                     f"stacksize={trace.stacksize}")

    # Reference counts: every mortal object needs an owner.
    objects = all_objects(trace)
    counts = reference_counts(trace, objects)
    for o in trace.objects:
        if not statically_immortal(o) and counts[id(o)] == 0:
            raise err(o.line, f"object {o.name!r} has no owner: its reference count would be 0 "
                              f"(give it an owned slot, put it in a container, or extra=N)")
    for o in objects:
        if o.name is None and not statically_immortal(o) and counts[id(o)] == 0:
            raise err(o.line, "an anonymous literal with no owner (it would be freed at once)")


def _validate_targets(trace: Trace, sec: ExecutorDecl, exits: dict[int, ExitDecl], profile,
                      err) -> None:
    """Trace indices inside the executor's uops, tier-1 indices inside the bytecode.
    ``exits``: ``sec.exits()``."""
    uops = sec.uops
    n = len(uops)
    units = trace.code_units
    prefix = "" if sec.name == MAIN else f"executor {sec.name}, "

    def where(u: UOp) -> str:  # the start of an error message about uop u
        return f"{prefix}uop {u.index} {u.name}"

    for u in uops:
        name = u.name
        spec = profile.uops[name]
        if u.format == "jump":
            can_jump, can_error = _can_jump(spec, name), _can_error(spec)
            if can_jump:
                tgt = u.jump_target
                if tgt >= n:
                    raise err(u.line, f"{where(u)}: jump_target={tgt} is outside the trace "
                                      f"(uops 0..{n - 1})")
                kind = uops[tgt].name
                if name != "_JUMP_TO_TOP" and kind not in ("_DEOPT", "_EXIT_TRACE"):
                    raise err(u.line, f"{where(u)}: jump_target={tgt} is {kind}, expected a "
                                      f"_DEOPT or _EXIT_TRACE stub")
            if can_error:
                tgt = u.error_target
                if tgt >= n:
                    raise err(u.line, f"{where(u)}: error_target={tgt} is outside the trace "
                                      f"(uops 0..{n - 1})")
                kind = uops[tgt].name
                if kind != "_ERROR_POP_N":
                    raise err(u.line, f"{where(u)}: error_target={tgt} is {kind}, expected an "
                                      f"_ERROR_POP_N stub")
        elif u.target >= units:
            raise err(u.line, f"{where(u)}: target={u.target} is outside the bytecode "
                              f"(units={units})")
        op0 = u.operand0
        if op0.kind == "bytecode":
            if op0.addend < 0 or op0.addend >= 2 * units or op0.addend % 2:
                raise err(u.line, f"{where(u)}: &bytecode{op0.addend:+#x} is not a code unit of "
                                  f"the bytecode ({units} units)")
        if name == "_ERROR_POP_N":
            if op0.kind == "int" and op0.value >= units:
                raise err(u.line, f"{where(u)}: operand0={op0.value} is outside the bytecode "
                                  f"(units={units})")
            if u.oparg != 0:
                raise err(u.line, f"{where(u)}: oparg must be 0 (CPython asserts it)")
        if name == "_EXIT_TRACE" and op0.kind == "exit" and op0.addend:
            raise err(u.line, f"{where(u)}: operand0 must be &exitK itself")
    for e in sec.exit_decls:
        stub_targets = {u.target for u in uops
                        if u.name == "_EXIT_TRACE" and u.operand0.kind == "exit"
                        and u.operand0.value == e.index}
        if e.target is not None and stub_targets and stub_targets != {e.target}:
            raise err(e.line, f"{prefix}exit {e.index}: target={e.target} disagrees with its "
                              f"_EXIT_TRACE stub (target {sorted(stub_targets)[0]})")
    for k, e in exits.items():
        if e.target is None:
            raise err(e.line, f"{prefix}exit {k}: no target (no _EXIT_TRACE refers to &exit{k}; "
                              f"give target=N)")
        if e.target >= units:
            raise err(e.line, f"{prefix}exit {k}: target={e.target} is outside the bytecode")


def _validate_depths(sec: ExecutorDecl, start_depth: int, profile, err):
    """Walk the executor's control flow: underflow at a pop, the same depth every time a uop is
    reached (a loop must not grow the stack). Returns ({exit k: depth at its stub}, max depth)."""
    uops = sec.uops
    n = len(uops)
    prefix = "" if sec.name == MAIN else f"executor {sec.name}, "
    depth_at: dict[int, int] = {0: start_depth}
    stub_depth: dict[int, int] = {}
    work = [0]
    max_depth = start_depth
    while work:
        i = work.pop()
        if i >= n:
            continue  # falls into the _FATAL_ERROR CPython appends
        u = uops[i]
        name = u.name
        spec = profile.uops[name]
        d = depth_at[i]
        try:
            pops, pushes = _stack_effect(spec.stack_inputs, spec.stack_outputs, u.oparg)
        except TraceError as e:
            raise err(u.line, f"{prefix}uop {i} {name}: {e.why}") from None
        if pops < 0 or pushes < 0:
            raise err(u.line, f"{prefix}uop {i} {name}: oparg={u.oparg} gives a negative stack "
                              f"effect")
        if d < pops:
            raise err(u.line, f"{prefix}uop {i} {name}: stack underflow: needs {pops} item(s), "
                              f"the stack has {d}")
        nd = d - pops + pushes
        if nd > max_depth:
            max_depth = nd
        if name == "_EXIT_TRACE" and u.operand0.kind == "exit":
            stub_depth.setdefault(u.operand0.value, d)
        # The uop run continues at: the next one, the loop's top, or nowhere (a stub, the end).
        if name not in ENDS_RUN:
            succ = i + 1
        elif name == "_JUMP_TO_TOP":
            succ = u.jump_target
        else:
            succ = None
        if name != "_JUMP_TO_TOP" and _can_jump(spec, name):
            # a guard leaves before touching the stack, except the ones that pop first
            jd = d - 1 if name in POPS_BEFORE_JUMP else d
            tgt = uops[u.jump_target]
            if tgt.name == "_EXIT_TRACE" and tgt.operand0.kind == "exit":
                stub_depth.setdefault(tgt.operand0.value, jd)
            if u.jump_target not in depth_at:  # a stub: it only records the depth
                depth_at[u.jump_target] = jd
                work.append(u.jump_target)
        if succ is not None:
            reached = depth_at.get(succ)
            if reached is None:
                depth_at[succ] = nd
                work.append(succ)
            elif reached != nd:
                raise err(u.line, f"{prefix}uop {i} {name}: reaches uop {succ} with stack depth "
                                  f"{nd}, but it is also reached with depth {reached}")
    return stub_depth, max_depth


def statically_immortal(o: ObjectDecl) -> bool:
    """Immortal by declaration, or a static singleton: small ints -5..256, the empty tuple."""
    return o.immortal or (o.kind == "int" and -5 <= o.value <= 256) \
        or (o.kind == "tuple" and not o.value)


def _children(o: ObjectDecl):
    """What an object holds references to: its items, or an iterator's sequence (names as
    strings, anonymous literals as ObjectDecls)."""
    kind = o.kind
    if kind == "list" or kind == "tuple":
        return o.value
    if kind == "list_iterator" or kind == "tuple_iterator":
        return (o.value,)
    return ()


def all_objects(trace: Trace) -> list[ObjectDecl]:
    """Every object of the state, named and anonymous, in creation order (children first)."""
    out: list[ObjectDecl] = []
    seen: set[int] = set()

    def visit(o: ObjectDecl) -> None:
        for c in _children(o):
            if isinstance(c, ObjectDecl) and id(c) not in seen:
                visit(c)
        seen.add(id(o))
        out.append(o)

    for o in trace.objects:
        if id(o) not in seen:
            visit(o)
    for slots in (trace.locals, trace.stack):
        for s in slots:
            if isinstance(s.ref, ObjectDecl) and id(s.ref) not in seen:
                visit(s.ref)
    return out


def reference_counts(trace: Trace, objects: list[ObjectDecl] | None = None) -> dict[int, int]:
    """id(ObjectDecl) -> the number of strong references the initial state holds to it.
    ``objects``: ``all_objects(trace)``, when the caller has it already."""
    by_name = {o.name: o for o in trace.objects}
    if objects is None:
        objects = all_objects(trace)
    counts = {id(o): o.extra for o in objects}
    for o in objects:
        for c in _children(o):
            r = by_name.get(c) if isinstance(c, str) else c  # None: a builtin singleton
            if r is not None:
                counts[id(r)] += 1
    for slots in (trace.locals, trace.stack):
        for s in slots:
            if s.ownership == "owned":
                r = s.ref
                counts[id(by_name.get(r) if isinstance(r, str) else r)] += 1
    # An exit holds an executor object when its 'exit' line links one (the last line for that
    # exit number wins, as in exits(); a stub's exit links nowhere). Sections are counted by
    # scenario.
    for exit_decls in [trace.exit_decls] + [sec.exit_decls for sec in trace.side_executors]:
        for executor in {e.index: e.executor for e in exit_decls}.values():
            if executor in by_name:
                counts[id(by_name[executor])] += 1
    return counts


def parse_trace(text: str, profile, filename: str = "<trace>") -> Trace:
    """Parse and validate a trace; raises TraceError with file:line:col."""
    trace = _Parser(profile, filename).parse(text)
    validate(trace, profile)
    return trace


def load_trace(path: str, profile) -> Trace:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as err:
        raise TraceError(f"cannot read trace: {err.strerror}", path) from None
    except UnicodeDecodeError as err:
        raise TraceError(f"not UTF-8 text at byte {err.start}", path) from None
    return parse_trace(text, profile, path)


# ---------------------------------------------------------------------------------------------
# Printing


def _float_text(x: float) -> str:
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    r = repr(x)
    return r if ("." in r or "e" in r) else r + ".0"


def _ref_text(ref) -> str:
    if isinstance(ref, str):
        return ref
    return _value_text(ref)


def _value_text(o: ObjectDecl) -> str:
    if o.kind == "int":
        return str(o.value)
    if o.kind == "float":
        return _float_text(o.value)
    if o.kind == "list" and o.name is None:
        return "[" + ", ".join(_ref_text(r) for r in o.value) + "]"
    raise AssertionError(o.kind)


def _format_section(out: list[str], exit_decls: list[ExitDecl], uops: list[UOp]) -> None:
    for e in exit_decls:
        line = f"exit {e.index}"
        if e.target is not None:
            line += f" target={e.target}"
        if e.temperature is not None:
            line += f" temperature={e.temperature:#x}"
        if e.executor is not None:
            line += f" executor={e.executor}"
        out.append(line)
    width = max(len(u.name) for u in uops) if uops else 0
    for u in uops:
        line = f"{u.index:4d} {u.name:<{width}} oparg={u.oparg:<3d}"
        if u.format == "jump":
            line += f" jump_target={u.jump_target} error_target={u.error_target}"
        else:
            line += f" target={u.target}"
        # operand0 whenever the uop uses it, even 0 (the parser requires it there); the
        # OPERAND0_KIND test covers uops of a trace built by hand and never validated.
        if u.operand0 != Operand("int") or u.operand0_required or u.name in OPERAND0_KIND:
            line += f" operand0={u.operand0.text()}"
        if u.operand1 != Operand("int"):
            line += f" operand1={u.operand1.text()}"
        out.append(line.rstrip())


def format_trace(trace: Trace) -> str:
    """The canonical text of a trace (parse_trace(format_trace(t)) == t)."""
    out = [f"{HEADER} {FORMAT_VERSION}"]
    code = f"code {trace.code_name} units={trace.code_units}"
    if trace.varnames:
        code += " varnames=" + ",".join(trace.varnames)
    if trace.bytecode is not None:
        code += " bytecode=" + trace.bytecode.hex()
    out.append(code)
    ex = "executor"
    if not trace.executor_valid:
        ex += " invalid"
    ex += f" chain_depth={trace.chain_depth}"
    out.append(ex)
    if trace.eval_breaker is not None:
        out.append(f"tstate eval_breaker={trace.eval_breaker:#x}")
    if trace.trace_run_counter is not None:
        out.append(f"interp trace_run_counter={trace.trace_run_counter}")
    for o in trace.objects:
        line = f"object {o.name} = {o.kind}"
        if o.kind in ("int", "float"):
            line += " " + _value_text(o)
        elif o.kind in ("list", "tuple"):
            line += " [" + ", ".join(_ref_text(r) for r in o.value) + "]"
        elif o.kind == "range_iterator":
            line += " " + " ".join(str(v) for v in o.value)
        elif o.kind in ("list_iterator", "tuple_iterator"):
            line += " " + o.value
            if o.index:
                line += f" index={o.index}"
        elif o.kind == "executor" and not o.valid:
            line += " invalid"
        if o.allocated is not None:
            line += f" allocated={o.allocated}"
        if o.immortal:
            line += " immortal"
        if o.extra:
            line += f" extra={o.extra}"
        out.append(line)
    for unit, name in trace.enter_executors:
        out.append(f"enter_executor {unit} {name}")
    fr = f"frame locals={trace.nlocals}"
    if trace.stacksize is not None:
        fr += f" stacksize={trace.stacksize}"
    out.append(fr)
    for kind, slots in (("local", trace.locals), ("stack", trace.stack)):
        for i, s in enumerate(slots):
            if s.ref is None:
                if kind == "stack":
                    out.append(f"stack {i} = NULL")
                continue
            out.append(f"{kind} {i} = {_ref_text(s.ref)} {s.ownership}")
    _format_section(out, trace.exit_decls, trace.uops)
    for sec in trace.side_executors:
        line = f"executor {sec.name}"
        if not sec.valid:
            line += " invalid"
        line += f" chain_depth={sec.chain_depth}"
        if sec.extra:
            line += f" extra={sec.extra}"
        out.append(line)
        _format_section(out, sec.exit_decls, sec.uops)
    return "\n".join(out) + "\n"
