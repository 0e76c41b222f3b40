"""Random, well-formed traces of the loop slice with random initial states.

The generator is written against a tiny source of choices (``Choices``: an integer in a range,
an item of a list, a rare yes) so that one piece of code serves two drivers: hypothesis
(refjit.fuzz.strategies), which shrinks a failing case by shrinking the choices, and a plain
``random.Random``. Every choice shrinks towards the simplest trace: fewer uops, fewer features,
the first value of each pool.

What makes a trace *well-formed* here is more than the format's validator asks for: every path
the trace can take must be one CPython's own code could take, so that the three implementations
have one right answer to agree on. The generator therefore keeps an abstract stack:

- NULL-ness is exact (``_POP_TOP`` of a NULL would crash CPython too): NULLs and maybe-NULLs are
  only moved (``_SWAP``) or stored into scratch locals (``_STORE_FAST``).
- A uop that assumes a type without checking it (``_BINARY_OP_ADD_INT``, ``_COMPARE_OP_FLOAT``,
  ``_ITER_NEXT_RANGE``, ``_LIST_APPEND`` ...) only runs on values whose type is *proven*: pushed
  by a uop that makes that type, or checked by a guard earlier on the same path. Guards are drawn
  for values of any type, so they pass and fail. In a loop nothing is proven at the top, since a
  second iteration may see other values (exactly why CPython's traces guard inside the loop).
- A borrowed stack ref depends on the local it was borrowed from: that local is not overwritten
  while the borrowed ref is on the stack (CPython's compiler guarantees the same), and borrowed
  refs are never stored into locals.
- A loop runs a range/list/tuple iterator that exhausts (it sits below the body's stack floor,
  which the body never pops), so every run ends; a body that appends to the list it iterates
  could still grow forever, which the run's budget stops (both sides are compared there).

Around the uops: random initial states (ints at every boundary, floats with -0.0, NaN,
infinities and subnormals, lists, tuples, iterators part-way through, last references,
borrowed and immortal slots), every guard's stub a _DEOPT or an _EXIT_TRACE whose exit is cold,
hot (the optimizer is asked), linked to another executor (valid or invalidated, with uops of its
own or not) or aimed at an ENTER_EXECUTOR, errors through _ERROR_POP_N, an eval breaker with
events set, a warm-up counter about to run out, an invalidated running executor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from refjit.trace import POPS_BEFORE_JUMP

# -- pools of interesting values -------------------------------------------------------------

INTS = [0, 1, -1, 256, 257, -5, -6, 2, 3, 100, 2**30 - 1, 2**30, -(2**30), 2**31, 2**32 - 1,
        2**62 - 1, 2**62, -(2**62), 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64 - 1, 2**64,
        -(2**64), 10**20, -(10**20), 12345, -77]
FLOATS = [0.5, 0.0, -0.0, 1.0, -1.5, math.nan, math.inf, -math.inf, 5e-324, -5e-324,
          2.2250738585072014e-308, 1.7976931348623157e308, 1e16, 3.141592653589793, 2.0, -2.0,
          1e-300]
# _BINARY_OP's opargs (NB_*) whose results the emulated process models; NB_SUBSCR below.
NB_NUMERIC = {"NB_ADD": 0, "NB_AND": 1, "NB_FLOOR_DIVIDE": 2, "NB_MULTIPLY": 5,
              "NB_REMAINDER": 6, "NB_OR": 7, "NB_RSHIFT": 9, "NB_SUBTRACT": 10,
              "NB_TRUE_DIVIDE": 11, "NB_XOR": 12, "NB_INPLACE_ADD": 13,
              "NB_INPLACE_FLOOR_DIVIDE": 15, "NB_INPLACE_SUBTRACT": 23,
              "NB_INPLACE_TRUE_DIVIDE": 24, "NB_MATRIX_MULTIPLY": 4}
NB_SUBSCR = 26
# COMPARE_OP's oparg: (comparison << 5) | mask of COMPARISON_BITs | (16 when it also converts
# to bool); the mask is what the specialised uops test.
COMPARE_MASKS = {"<": 2, "<=": 2 | 8, "==": 8, "!=": 1 | 2 | 4, ">": 4, ">=": 4 | 8}
EVAL_BREAKERS = [0, 32, 128, 32 | 128, 256, 64]
# An exit of a chained executor that links onward to another executor (the Outcome names such
# a side exit as "exit k of <that chained executor>"; fuzz/corpus/chained_side_exit_index.trace).
ONWARD_LINKS_FROM_SIDE_EXECUTORS = True
UNITS = 64  # code units of the fuzz code object: tier-1 targets are drawn below it

NUMBER = ("int", "bool", "float")
ITERATORS = {"range_iterator": "RANGE", "list_iterator": "LIST", "tuple_iterator": "TUPLE"}


class Choices:
    """The source of randomness. Subclasses implement ``integer``; 0 is always the simplest."""

    def integer(self, lo: int, hi: int) -> int:  # inclusive
        raise NotImplementedError

    def pick(self, seq):
        return seq[self.integer(0, len(seq) - 1)]

    def rare(self, one_in: int) -> bool:
        """True about once in ``one_in`` draws; shrinks to False."""
        return self.integer(0, one_in - 1) == one_in - 1


class RandomChoices(Choices):
    """Choices from a ``random.Random``: ``integer(lo, hi)`` is ``rng.randint(lo, hi)``."""

    def __init__(self, rng):
        self.rng = rng
        self._below = rng._randbelow

    def integer(self, lo: int, hi: int) -> int:
        # randint(lo, hi) returns lo + _randbelow(hi - lo + 1), the same draw made here without
        # its argument checks (which were a third of the time generating a trace took).
        if hi < lo:
            return self.rng.randint(lo, hi)  # an empty range: randint's own error
        return lo + self._below(hi - lo + 1)


@dataclass
class Val:
    """What the generator knows about a stack slot or local."""

    kind: str  # int bool float none list tuple range_iterator list_iterator tuple_iterator
    #            executor other | null | maybe (maybe NULL)
    proven: bool = False  # the kind holds on every path reaching here
    deps: frozenset = frozenset()  # locals a borrowed ref was borrowed from
    name: str | None = None  # the object, when exactly known

    @property
    def nonnull(self) -> bool:
        return self.kind not in ("null", "maybe")


@dataclass
class _Uop:
    name: str
    oparg: int = 0
    target: int | None = None  # FORMAT_TARGET
    jump: object = None  # stub key for jump_target
    error: object = None  # stub key for error_target
    operand0: str | None = None


@dataclass
class _Section:
    """One executor's uops (the running one, or one that a side exit chains into)."""

    name: str
    uops: list[_Uop]
    stubs: list[_Uop] = field(default_factory=list)
    exit_lines: list[str] = field(default_factory=list)
    n_exits: int = 0
    header: str = ""


@dataclass
class Generated:
    text: str
    features: list[str] = field(default_factory=list)


class _Gen:
    def __init__(self, c: Choices, max_uops: int, long: bool = False):
        self.c = c
        self.max_uops = max_uops
        # about how many uops a body has before it stops: (loop, straight line)
        self.odds = (20, 60) if long else (7, 12)
        self.objects: list[str] = []  # declaration lines (without "object ")
        self.kinds: dict[str, str] = {}
        self.extra: dict[str, int] = {}
        self.owners: dict[str, int] = {}  # owned slots and containers holding the object
        self.borrowed: set[str] = set()
        self.immortal: set[str] = set()  # mortal kinds made immortal (as _Py_SetImmortal does)
        self.main = _Section("executor", [_Uop("_START_EXECUTOR", target=self.unit(),
                                               operand0="&executor")])
        self.sec = self.main  # the executor whose uops are being generated
        # executors that an exit of the main one chains into: (name, stack, locals) at the exit
        self.pending: list[tuple[str, list, list]] = []
        self.pops_first = False  # the uop being emitted pops before it jumps
        self.enter_lines: list[str] = []  # ENTER_EXECUTOR instructions in the bytecode
        self.features: set[str] = set()
        self.sizes: dict[str, int] = {}  # tuples: their length (for _UNPACK_SEQUENCE_TUPLE)

    # -- objects ----------------------------------------------------------------------------
    def unit(self) -> int:
        return self.c.integer(0, UNITS - 1)

    def new_object(self, kind: str, text: str) -> str:
        name = f"o{len(self.objects)}"
        self.objects.append(f"{name} = {kind} {text}".rstrip())
        self.kinds[name] = kind
        self.extra[name] = 0
        self.owners[name] = 0
        return name

    def int_value(self) -> int:
        c = self.c
        k = c.integer(0, 3)
        if k == 0:
            return c.pick(INTS)
        if k == 1:
            return c.integer(-5, 300)
        if k == 2:
            return c.integer(-(2**31), 2**31)
        return c.integer(-(2**70), 2**70)

    def float_value(self) -> float:
        c = self.c
        if c.integer(0, 2) < 2:
            return c.pick(FLOATS)
        return c.integer(-(10**6), 10**6) / c.pick([1, 3, 7, 1024, 10**9])

    def item_text(self) -> str:
        """A container item: a literal, or a fresh object."""
        k = self.c.integer(0, 4)
        if k == 0:
            return str(self.c.integer(-5, 256))
        if k == 1:
            return _float_text(self.float_value())
        if k == 2:
            return self.c.pick(["None", "True", "False"])
        name = self.new_object("int", str(self.int_value())) if k == 3 else \
            self.new_object("float", _float_text(self.float_value()))
        self.owners[name] += 1
        return name

    def value(self, allow_iter: bool = True) -> tuple[str, str]:
        """(ref text, kind) of a random value: a literal or a new named object."""
        c = self.c
        k = c.integer(0, 10 if allow_iter else 7)
        if k == 0:
            v = c.integer(-5, 256)
            return str(v), "int"
        if k in (1, 2):
            v = self.int_value()
            if -5 <= v <= 256:
                return str(v), "int"
            return self.maybe_immortal(self.new_object("int", str(v))), "int"
        if k == 3:
            return self.maybe_immortal(self.new_object("float", _float_text(self.float_value()))), \
                "float"
        if k == 4:
            b = c.pick(["None", "True", "False"])
            return b, "none" if b == "None" else "bool"
        if k == 5:
            items = [self.item_text() for _ in range(c.integer(0, 4))]
            alloc = f" allocated={len(items) + c.integer(0, 2)}" if c.rare(3) else ""
            return self.new_object("list", "[" + ", ".join(items) + "]" + alloc), "list"
        if k == 6:
            items = [self.item_text() for _ in range(c.integer(0, 3))]
            if not items:
                return self.new_object("tuple", "[1, 2]"), "tuple"
            name = self.new_object("tuple", "[" + ", ".join(items) + "]")
            self.sizes[name] = len(items)
            return name, "tuple"
        if k == 7:
            return self.new_object("float", _float_text(self.float_value())), "float"
        return self.iterator()

    def iterator(self) -> tuple[str, str]:
        c = self.c
        k = c.integer(0, 2)
        if k == 0:
            start = c.pick([0, 1, -3, 2**62, 2**63 - 3, -(2**63), 100])
            step = c.pick([1, 2, -1, 3, -2, 2**62])
            n = 0 if c.rare(8) else c.integer(1, 5)
            stop = start + step * n
            if not -(2**63) <= stop < 2**63:
                stop = start
            return self.new_object("range_iterator", f"{start} {stop} {step}"), "range_iterator"
        seq_kind = "list" if k == 1 else "tuple"
        items = [self.item_text() for _ in range(0 if c.rare(8) else c.integer(1, 4))]
        seq = self.new_object(seq_kind, "[" + ", ".join(items) + "]")
        self.owners[seq] += 1
        if not c.rare(3):
            self.extra[seq] = 1
        index = f" index={c.integer(0, len(items))}" if c.rare(6) else ""
        return self.new_object(f"{seq_kind}_iterator", f"{seq}{index}"), f"{seq_kind}_iterator"

    def maybe_immortal(self, name: str) -> str:
        if self.c.rare(8):
            self.objects[-1] += " immortal"
            self.immortal.add(name)
            self.features.add("immortal object")
        return name

    def slot(self, allow_iter: bool = True) -> tuple[str, Val]:
        """An initial slot's text (after ``= ``) and what is known of it."""
        ref, kind = self.value(allow_iter)
        if ref in ("None", "True", "False") or _is_small_int(ref) or ref in self.immortal:
            return f"{ref} immortal", Val(kind, name=ref)
        if self.c.rare(4):
            self.borrowed.add(ref)
            self.features.add("borrowed slot")
            return f"{ref} borrowed", Val(kind, name=ref)
        self.owners[ref] += 1
        return f"{ref} owned", Val(kind, name=ref)

    def const_operand(self) -> tuple[str, Val]:
        """An object for a _LOAD_CONST_INLINE*: held by co_consts (extra) or immortal."""
        k = self.c.integer(0, 3)
        if k == 0:
            b = self.c.pick(["None", "True", "False"])
            return f"&{b}", Val("none" if b == "None" else "bool", True, name=b)
        if k == 1:
            name = self.new_object("int", str(self.int_value()))
            self.extra[name] = 1
            return f"&{name}", Val("int", True, name=name)
        if k == 2:
            name = self.new_object("float", _float_text(self.float_value()))
            self.extra[name] = 1
            return f"&{name}", Val("float", True, name=name)
        name = self.new_object("tuple", "[" + ", ".join(self.item_text() for _ in range(2)) + "]")
        self.extra[name] = 1
        return f"&{name}", Val("tuple", True, name=name)

    # -- stubs --------------------------------------------------------------------------------
    def jump_stub(self) -> int:
        """A new _DEOPT or _EXIT_TRACE stub for a guard; returns its key."""
        self.sec.stubs.append(self.exit_uop() if self.c.integer(0, 1) else
                          _Uop("_DEOPT", target=self.unit()))
        return len(self.sec.stubs) - 1

    def error_stub(self) -> int:
        # operand0 is the tier-1 index of the failing instruction, 0 included (the trace printer
        # gives operand0 whenever the uop uses it). A range as wide as the old 1..UNITS-1 keeps
        # every seed's later choices as they were (the tests' seeds cover the slice).
        self.sec.stubs.append(_Uop("_ERROR_POP_N", target=0, operand0=str(self.c.integer(0, UNITS - 2))))
        return len(self.sec.stubs) - 1

    def exit_uop(self) -> _Uop:
        k = self.sec.n_exits
        self.sec.n_exits += 1
        how = self.c.integer(0, 6)
        if how == 6 and self.sec is self.main and len(self.pending) < 2:
            # chained: the exit already links to an executor with uops of its own, entered
            # with the stack as it is here (a guard that pops first has popped)
            name = f"side{len(self.pending) + 1}"
            depth = len(self.stack) - (1 if self.pops_first else 0)
            self.pending.append((name, list(self.stack[:depth]), list(self.locals)))
            self.sec.exit_lines.append(f"exit {k} executor={name}")
            self.features.add("chained executor")
        elif how == 3:
            self.sec.exit_lines.append(f"exit {k} temperature=0")
            self.features.add("hot exit")
            if self.c.rare(3) and len(self.enter_lines) < 3 \
                    and (self.sec is self.main or ONWARD_LINKS_FROM_SIDE_EXECUTORS):
                # hot, to an instruction that is already ENTER_EXECUTOR: that executor is reused
                unit = UNITS - 1 - len(self.enter_lines)
                e = self.new_object("executor", "invalid" if self.c.rare(3) else "")
                self.extra[e] = 1  # co_executors' reference
                self.enter_lines.append(f"enter_executor {unit} {e}")
                self.features.add("exit to ENTER_EXECUTOR")
                return _Uop("_EXIT_TRACE", target=unit, operand0=f"&exit{k}")
        elif how == 4 and (self.sec is self.main or ONWARD_LINKS_FROM_SIDE_EXECUTORS):
            e = self.new_object("executor", "invalid" if self.c.rare(2) else "")
            self.sec.exit_lines.append(f"exit {k} executor={e}")
            self.features.add("linked exit")
        elif how == 5:
            self.sec.exit_lines.append(f"exit {k} temperature={self.c.integer(0, 0xFFFF):#x}")
        return _Uop("_EXIT_TRACE", target=self.unit(), operand0=f"&exit{k}")

    # -- emitting uops ------------------------------------------------------------------------
    def emit(self, name: str, oparg: int = 0, *, jump=False, error=False, operand0=None):
        u = _Uop(name, oparg, operand0=operand0)
        self.pops_first = name in POPS_BEFORE_JUMP
        if jump or error:
            u.jump = self.jump_stub() if jump else None
            u.error = self.error_stub() if error else None
        else:
            u.target = self.unit()
        self.sec.uops.append(u)
        self.features.add(name)
        return u


def _float_text(x: float) -> str:
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    r = repr(x)
    return r if ("." in r or "e" in r) else r + ".0"


def _is_small_int(ref: str) -> bool:
    try:
        return -5 <= int(ref) <= 256
    except ValueError:
        return False


# -- the trace -----------------------------------------------------------------------------------

GUARDS = {"int": ("_GUARD_TOS_INT", "_GUARD_NOS_INT"), "float": ("_GUARD_TOS_FLOAT", "_GUARD_NOS_FLOAT"),
          "list": ("_GUARD_TOS_LIST", "_GUARD_NOS_LIST"), "tuple": ("_GUARD_TOS_TUPLE", "_GUARD_NOS_TUPLE")}
MAX_VISIBLE = 8  # stack items above the floor


class _Body(_Gen):
    """The abstract machine: stack and locals as Vals, one action per step."""

    def __init__(self, c: Choices, max_uops: int, long: bool = False):
        super().__init__(c, max_uops, long)
        self.stack: list[Val] = []
        self.locals: list[Val] = []
        self.stable: set[int] = set()  # locals that are never NULL
        self.floor = 0
        self.loop = False

    # helpers
    def visible(self) -> int:
        return len(self.stack) - self.floor

    def top(self, k: int = 1) -> Val:
        return self.stack[-k]

    def proven(self, k: int, *kinds: str) -> bool:
        if self.visible() < k:
            return False
        v = self.stack[-k]
        return v.proven and v.kind in kinds

    def nonnull(self, *ks: int) -> bool:
        return all(self.visible() >= k and self.stack[-k].nonnull for k in ks)

    def pop(self, n: int = 1) -> None:
        del self.stack[len(self.stack) - n:]

    def push(self, v: Val) -> None:
        self.stack.append(v)

    def locked(self, i: int) -> bool:
        """A borrowed ref on the stack depends on local i: it must not be overwritten."""
        return any(i in v.deps for v in self.stack)

    def scratch(self) -> list[int]:
        return [i for i in range(len(self.locals)) if i not in self.stable]

    def replica(self, base: str, i: int, n: int) -> tuple[str, int]:
        if i < n and self.c.integer(0, 2):
            return f"{base}_{i}", i
        return base, i

    # actions: each returns False when it does not apply
    def a_load(self) -> bool:
        ok = [i for i, v in enumerate(self.locals) if v.nonnull]
        if not ok or self.visible() >= MAX_VISIBLE:
            return False
        self.push_local(self.c.pick(ok))
        return True

    def push_local(self, i: int) -> None:
        """_LOAD_FAST or, from a stable local, _LOAD_FAST_BORROW (whose value then depends on it).
        Scratch locals are never borrowed from, so a NULL can always be stored into one."""
        v = self.locals[i]
        if i in self.stable and self.c.integer(0, 1):
            name, oparg = self.replica("_LOAD_FAST_BORROW", i, 8)
            self.emit(name, oparg)
            self.push(Val(v.kind, v.proven, v.deps | {i}, v.name))
        else:
            name, oparg = self.replica("_LOAD_FAST", i, 8)
            self.emit(name, oparg)
            self.push(Val(v.kind, v.proven, v.deps, v.name))

    def a_load_check(self) -> bool:
        if not self.locals or self.visible() >= MAX_VISIBLE:
            return False
        bound = [i for i, v in enumerate(self.locals) if v.nonnull]
        i = self.c.pick(bound) if bound and not self.c.rare(4) else \
            self.c.integer(0, len(self.locals) - 1)
        v = self.locals[i]
        self.emit("_LOAD_FAST_CHECK", i, error=True)
        self.push(Val(v.kind, v.proven, v.deps, v.name) if v.nonnull else Val("other"))
        return True

    def a_load_and_clear(self) -> bool:
        ok = [i for i in self.scratch() if not self.locked(i)]
        if not ok or self.visible() >= MAX_VISIBLE:
            return False
        i = self.c.pick(ok)
        self.emit("_LOAD_FAST_AND_CLEAR", i)
        self.push(self.locals[i])
        self.locals[i] = Val("null")
        return True

    def a_store(self) -> bool:
        if self.visible() < 1 or self.top().deps:
            return False
        v = self.top()
        ok = [i for i in range(len(self.locals)) if not self.locked(i)
              and (v.nonnull or i not in self.stable)]
        if not ok:
            return False
        i = self.c.pick(ok)
        name, oparg = self.replica("_STORE_FAST", i, 8)
        self.emit(name, oparg)
        self.pop()
        self.locals[i] = v
        return True

    def a_const(self) -> bool:
        if self.visible() >= MAX_VISIBLE:
            return False
        op, v = self.const_operand()
        if self.c.integer(0, 1):
            self.emit("_LOAD_CONST_INLINE", operand0=op)
        else:
            self.emit("_LOAD_CONST_INLINE_BORROW", operand0=op)
        self.push(v)
        return True

    def a_small_int(self) -> bool:
        if self.visible() >= MAX_VISIBLE:
            return False
        if self.c.integer(0, 1):
            k = self.c.integer(0, 3)
            self.emit(f"_LOAD_SMALL_INT_{k}", k)
        else:
            k = self.c.integer(0, 255)
            self.emit("_LOAD_SMALL_INT", k)
        self.push(Val("int", True, name=str(k)))
        return True

    def a_pop(self) -> bool:
        if not self.nonnull(1):
            return False
        k = self.c.integer(0, 3)
        if k == 0:
            self.emit("_END_FOR")
            self.pop()
        elif k == 1 and self.nonnull(1, 2):
            op, v = self.const_operand()
            self.emit("_POP_TWO_LOAD_CONST_INLINE_BORROW", operand0=op)
            self.pop(2)
            self.push(v)
        elif k == 2:
            op, v = self.const_operand()
            self.emit("_POP_TOP_LOAD_CONST_INLINE_BORROW", operand0=op)
            self.pop()
            self.push(v)
        else:
            self.emit("_POP_TOP")
            self.pop()
        return True

    def a_push_null(self) -> bool:
        if not self.scratch() or self.visible() >= MAX_VISIBLE or not self.c.rare(3):
            return False
        self.emit("_PUSH_NULL")
        self.push(Val("null"))
        return True

    def a_copy(self) -> bool:
        if self.visible() < 1 or self.visible() >= MAX_VISIBLE:
            return False
        n = self.c.integer(1, self.visible())
        if not self.stack[-n].nonnull:
            return False
        self.emit("_COPY", n)
        self.push(self.stack[-n])
        return True

    def a_swap(self) -> bool:
        if self.visible() < 2:
            return False
        n = self.c.integer(2, self.visible())
        self.emit("_SWAP", n)
        self.stack[-1], self.stack[-n] = self.stack[-n], self.stack[-1]
        return True

    def a_guard(self) -> bool:
        k = self.c.integer(1, 2)
        if not self.nonnull(k):
            return False
        v = self.stack[-k]
        likely = v.kind if v.kind in GUARDS else "int"  # most unknown values are ints
        kind = likely if not self.c.rare(4) else self.c.pick(list(GUARDS))
        self.emit(GUARDS[kind][k - 1], jump=True)
        self.stack[-k] = Val(kind, True, v.deps, v.name if v.kind == kind else None)
        return True

    def a_int_arith(self) -> bool:
        if not (self.proven(1, "int") and self.proven(2, "int")):
            return False
        self.emit(self.c.pick(["_BINARY_OP_ADD_INT", "_BINARY_OP_SUBTRACT_INT",
                               "_BINARY_OP_MULTIPLY_INT"]), error=True)
        self.pop(2)
        self.push(Val("int", True))
        return True

    def a_float_arith(self) -> bool:
        if not (self.proven(1, "float") and self.proven(2, "float")):
            return False
        self.emit(self.c.pick(["_BINARY_OP_ADD_FLOAT", "_BINARY_OP_SUBTRACT_FLOAT",
                               "_BINARY_OP_MULTIPLY_FLOAT"]), error=True)
        self.pop(2)
        self.push(Val("float", True))
        return True

    def a_binary_op(self) -> bool:
        scalars = NUMBER + ("none",)
        if self.proven(2, "list", "tuple") and self.proven(1, "int", "bool"):
            oparg = NB_SUBSCR
        elif self.proven(1, *scalars) and self.proven(2, *scalars):
            oparg = self.c.pick(list(NB_NUMERIC.values()))
        else:
            return False
        self.emit("_BINARY_OP", oparg, error=True)
        self.pop(2)
        self.push(Val("other"))
        return True

    def a_compare(self) -> bool:
        mask = self.c.pick(list(COMPARE_MASKS.values()))
        oparg = (self.c.integer(0, 5) << 5) | mask | (16 if self.c.integer(0, 1) else 0)
        if self.proven(1, "int") and self.proven(2, "int"):
            self.emit("_COMPARE_OP_INT", oparg, jump=True)
        elif self.proven(1, "float") and self.proven(2, "float"):
            self.emit("_COMPARE_OP_FLOAT", oparg)
        elif self.nonnull(1, 2):
            self.emit("_IS_OP", self.c.integer(0, 1))
        else:
            return False
        self.pop(2)
        self.push(Val("bool", True))
        return True

    def a_truth(self) -> bool:
        if not self.nonnull(1):
            return False
        v = self.top()
        k = self.c.integer(0, 5)
        if k == 0 and v.proven and v.kind == "bool":
            self.emit("_UNARY_NOT")
        elif k == 1:
            self.emit("_REPLACE_WITH_TRUE")
        else:
            guess = {"bool": "_TO_BOOL_BOOL", "int": "_TO_BOOL_INT", "none": "_TO_BOOL_NONE"}
            name = guess.get(v.kind) if not self.c.rare(4) else None
            self.emit(name or self.c.pick(list(guess.values())), jump=True)
        self.pop()
        self.push(Val("bool", True))
        return True

    def a_guard_pop(self) -> bool:
        if not self.nonnull(1):
            return False
        v = self.top()
        if v.proven and v.kind == "bool":
            name = self.c.pick(["_GUARD_IS_TRUE_POP", "_GUARD_IS_FALSE_POP"])
        elif v.kind == "none" or self.c.rare(4):
            name = "_GUARD_IS_NONE_POP"
        else:
            name = "_GUARD_IS_NOT_NONE_POP"
        self.emit(name, jump=True)
        self.pop()
        return True

    def a_iter(self) -> bool:
        if not self.nonnull(1) or (self.top().kind not in ITERATORS and not self.c.rare(5)):
            return False
        v = self.top()
        kind = v.kind if v.kind in ITERATORS and not self.c.rare(4) else \
            self.c.pick(list(ITERATORS))
        x = ITERATORS[kind]
        if not (v.proven and v.kind == kind) or self.c.integer(0, 1):
            self.emit(f"_ITER_CHECK_{x}", jump=True)
        if self.visible() >= MAX_VISIBLE or self.c.rare(4):
            self.emit(f"_GUARD_NOT_EXHAUSTED_{x}", jump=True)
            self.stack[-1] = Val(kind, True, v.deps, v.name if v.kind == kind else None)
            return True
        self.for_iter(x)
        self.stack[-2] = Val(kind, True, v.deps, v.name if v.kind == kind else None)
        return True

    def for_iter(self, x: str) -> None:
        """FOR_ITER_<X> in tier 2: the exhaustion guard, then the next item pushed."""
        self.emit(f"_GUARD_NOT_EXHAUSTED_{x}", jump=True)
        if x == "RANGE":
            self.emit("_ITER_NEXT_RANGE", error=True)
            self.push(Val("int", True))
        elif x == "LIST":
            self.emit("_ITER_NEXT_LIST_TIER_TWO", jump=True)
            self.push(Val("other"))
        else:
            self.emit("_ITER_NEXT_TUPLE")
            self.push(Val("other"))

    def a_subscr(self) -> bool:
        if self.proven(1, "int") and self.proven(2, "list"):
            if self.nonnull(3) and self.c.integer(0, 1):
                self.emit("_STORE_SUBSCR_LIST_INT", jump=True)
                self.pop(3)
                return True
            self.emit("_BINARY_OP_SUBSCR_LIST_INT", jump=True)
        elif self.proven(1, "int") and self.proven(2, "tuple"):
            self.emit("_BINARY_OP_SUBSCR_TUPLE_INT", jump=True)
        else:
            return False
        self.pop(2)
        self.push(Val("other"))
        return True

    def a_unpack(self) -> bool:
        if not self.proven(1, "tuple") or self.visible() + 3 > MAX_VISIBLE:
            return False
        size = self.sizes.get(self.top().name)
        if size == 2 or (size is None and self.c.integer(0, 1)):
            self.emit("_UNPACK_SEQUENCE_TWO_TUPLE", 2, jump=True)
            n = 2
        else:
            n = size if size is not None and not self.c.rare(4) else self.c.integer(0, 4)
            self.emit("_UNPACK_SEQUENCE_TUPLE", n, jump=True)
        self.pop()
        for _ in range(n):
            self.push(Val("other"))
        return True

    def a_list_append(self) -> bool:
        if not self.nonnull(1):
            return False
        ks = [k for k in range(2, self.visible() + 1) if self.proven(k, "list")]
        if not ks:
            return False
        k = self.c.pick(ks)
        self.emit("_LIST_APPEND", k - 1, error=True)
        self.pop()
        return True

    def a_control(self) -> bool:
        k = self.c.integer(0, 5)
        if k == 0:
            self.emit("_NOP")
        elif k == 1:
            self.emit("_SET_IP", operand0=f"&bytecode+{2 * self.unit():#x}")
        elif k == 2:
            self.emit("_CHECK_PERIODIC", error=True)
        elif k == 3:
            self.emit("_CHECK_VALIDITY", jump=True)
        elif k == 4:
            self.emit("_TIER2_RESUME_CHECK", jump=True)
        else:
            self.emit("_MAKE_WARM")
        return True

    # -- idioms: what CPython's traces do, operands loaded so that the guards usually pass ------
    def operand(self, kind: str) -> bool:
        """Push a value that is probably of ``kind``: a local that held one, or a constant."""
        if self.visible() >= MAX_VISIBLE:
            return False
        ok = [i for i, v in enumerate(self.locals) if v.nonnull and v.kind == kind]
        if ok and self.c.integer(0, 2):
            self.push_local(self.c.pick(ok))
            return True
        if kind == "index":
            if self.c.rare(4):  # any int: negative, past the end, more than one digit
                return self.operand("int")
            self.emit("_LOAD_SMALL_INT", self.c.integer(0, 3) if not self.c.rare(4) else
                      self.c.integer(0, 255))
            self.push(Val("int", True))
            return True
        if kind == "int" and self.c.integer(0, 1):
            return self.a_small_int()
        if kind in ("int", "float", "tuple"):
            if kind == "tuple":
                n = self.c.integer(1, 3)
                name = self.new_object("tuple", "[" + ", ".join(
                    self.item_text() for _ in range(n)) + "]")
                self.sizes[name] = n
            elif kind == "int":
                name = self.new_object("int", str(self.int_value()))
            else:
                name = self.new_object("float", _float_text(self.float_value()))
            self.extra[name] = 1
            self.emit(self.c.pick(["_LOAD_CONST_INLINE_BORROW", "_LOAD_CONST_INLINE"]),
                      operand0=f"&{name}")
            self.push(Val(kind, True, name=name))
            return True
        return False

    def guarded(self, k: int, kind: str) -> None:
        v = self.stack[-k]
        if not (v.proven and v.kind == kind) or self.c.rare(4):
            self.emit(GUARDS[kind][k - 1], jump=True)
            self.stack[-k] = Val(kind, True, v.deps, v.name if v.kind == kind else None)

    def a_idiom(self) -> bool:
        k = self.c.integer(0, 8)
        if k == 7:
            return self.branch()
        if k == 8:
            return self.generic_binary_op()
        left, right = {0: ("int", "int"), 1: ("float", "float"), 2: ("int", "int"),
                       3: ("float", "float"), 4: ("list", "index"), 5: ("tuple", "index"),
                       6: ("tuple", None)}[k]
        if self.visible() + 2 > MAX_VISIBLE:
            return False
        if not self.operand(left) or (right and not self.operand(right)):
            return False
        self.guarded(2 if right else 1, left)
        if right:
            self.guarded(1, "int" if right == "index" else right)
        if k in (0, 1):
            return self.a_int_arith() if k == 0 else self.a_float_arith()
        if k in (2, 3):
            return self.a_compare()
        if k in (4, 5):
            return self.a_subscr()
        return self.a_unpack()

    def generic_binary_op(self) -> bool:
        """_BINARY_OP on guarded numbers, often dividing by zero (an error to error_target)."""
        if self.visible() + 2 > MAX_VISIBLE:
            return False
        left, right = self.c.pick(["int", "float"]), self.c.pick(["int", "float"])
        if not self.operand(left):
            return False
        if self.c.integer(0, 1):
            if right == "int":
                self.emit("_LOAD_SMALL_INT", 0)
                self.push(Val("int", True, name="0"))
            else:
                name = self.new_object("float", self.c.pick(["0.0", "-0.0"]))
                self.extra[name] = 1
                self.emit("_LOAD_CONST_INLINE_BORROW", operand0=f"&{name}")
                self.push(Val("float", True, name=name))
        elif not self.operand(right):
            return False
        self.guarded(2, left)
        self.guarded(1, right)
        oparg = self.c.pick([NB_NUMERIC[n] for n in ("NB_TRUE_DIVIDE", "NB_FLOOR_DIVIDE",
                                                      "NB_REMAINDER", "NB_INPLACE_TRUE_DIVIDE")]
                            if self.c.integer(0, 1) else list(NB_NUMERIC.values()))
        self.emit("_BINARY_OP", oparg, error=True)
        self.pop(2)
        self.push(Val("other"))
        return True

    def branch(self) -> bool:
        """An ``if``: a comparison or a truth test, then the guard the branch became."""
        kind = self.c.pick(["int", "float", "any"])
        if kind == "any":
            if not self.nonnull(1):
                return False
            self.a_truth()
        else:
            if self.visible() + 2 > MAX_VISIBLE or not (self.operand(kind) and self.operand(kind)):
                return False
            self.guarded(2, kind)
            self.guarded(1, kind)
            self.a_compare()
        return self.a_guard_pop()

    ACTIONS = ("a_idiom", "a_idiom", "a_idiom", "a_load", "a_pop", "a_store", "a_small_int", "a_const", "a_guard", "a_int_arith",
               "a_float_arith", "a_binary_op", "a_compare", "a_truth", "a_guard_pop", "a_copy",
               "a_swap", "a_iter", "a_subscr", "a_unpack", "a_list_append", "a_load_check",
               "a_load_and_clear", "a_push_null", "a_control")

    def step(self) -> None:
        for _ in range(4):
            if getattr(self, self.c.pick(self.ACTIONS))():
                return
        self.a_control()

    def close_loop(self) -> None:
        """Pop the body's items (NULLs into a scratch local), then jump back to the top."""
        while self.visible() > 0:
            v = self.top()
            if v.nonnull:
                self.emit("_POP_TOP" if self.c.integer(0, 3) else "_END_FOR")
                self.pop()
            else:
                i = self.c.pick(self.scratch())
                name, oparg = self.replica("_STORE_FAST", i, 8)
                self.emit(name, oparg)
                self.pop()
                self.locals[i] = v
        u = _Uop("_JUMP_TO_TOP")
        u.jump = "top"
        self.sec.uops.append(u)

    # -- the whole trace ------------------------------------------------------------------------
    def initial_state(self) -> tuple[list[str], list[str]]:
        """Locals and stack of the frame: (local lines, stack lines)."""
        c = self.c
        nlocals = c.integer(1, 10)
        local_lines, stack_lines = [], []
        for i in range(nlocals):
            if i == 0 or c.integer(0, 3):
                text, v = self.slot()
                local_lines.append(f"local {i} = {text}")
                self.stable.add(i)
            else:
                v = Val("null")
            self.locals.append(v)
        if self.loop and not self.scratch():
            self.locals.append(Val("null"))  # somewhere to put a NULL the body pushes
        n_stack = c.integer(0, 3)
        for i in range(n_stack):
            if c.rare(6):
                stack_lines.append(f"stack {i} = NULL")
                self.stack.append(Val("null"))
            else:
                text, v = self.slot()
                stack_lines.append(f"stack {i} = {text}")
                self.stack.append(v)
        if self.loop:
            ref, kind = self.iterator()
            self.owners[ref] += 1
            stack_lines.append(f"stack {len(self.stack)} = {ref} owned")
            self.stack.append(Val(kind, name=ref))
        return local_lines, stack_lines

    def build(self) -> str:
        c = self.c
        self.loop = c.integer(0, 1) == 1
        local_lines, stack_lines = self.initial_state()
        if self.loop:
            # nothing is proven at the top of a loop: the second time round may differ
            self.stack = [Val(v.kind, False, v.deps, None) for v in self.stack]
            self.locals = [Val(v.kind, False, v.deps, None) if v.nonnull else Val("maybe")
                           for v in self.locals]
            self.features.add("loop")
            for _ in range(c.integer(0, 2)):
                self.a_control()
            it = self.top()
            x = ITERATORS[it.kind] if not c.rare(6) else c.pick(list(ITERATORS.values()))
            self.emit(f"_ITER_CHECK_{x}", jump=True)
            self.floor = len(self.stack)
            self.for_iter(x)
        else:
            for v in self.stack + self.locals:
                v.proven = v.nonnull
        # a loop's body is shorter: every guard in it must pass again on each iteration
        while len(self.sec.uops) < self.max_uops and c.integer(0, self.odds[not self.loop]):
            self.step()
        if self.loop:
            self.close_loop()
        else:
            if c.rare(20):
                # what CPython appends after every trace, reached: the process aborts
                self.sec.uops.append(_Uop("_FATAL_ERROR", target=0))
                self.features.add("_FATAL_ERROR")
            else:
                self.pops_first = False
                self.sec.uops.append(self.exit_uop() if c.integer(0, 2) else
                                     _Uop("_DEOPT", target=self.unit()))
        sections = [self.main]
        for name, stack, locals_ in self.pending:
            sections.append(self.side_executor(name, stack, locals_))
        return self.text(local_lines, stack_lines, sections)

    def side_executor(self, name: str, stack: list, locals_: list) -> _Section:
        """A short straight-line executor that starts with the given stack and locals."""
        c = self.c
        self.sec = _Section(name, [_Uop("_START_EXECUTOR", target=self.unit(),
                                        operand0="&executor")],
                            header=f"executor {name}" + (" invalid" if c.rare(4) else "")
                            + " chain_depth=1")
        self.stack, self.locals, self.floor, self.loop = stack, locals_, 0, False
        while len(self.sec.uops) < self.max_uops // 2 and c.integer(0, 6):
            self.step()
        self.pops_first = False
        self.sec.uops.append(self.exit_uop() if c.integer(0, 2) else
                             _Uop("_DEOPT", target=self.unit()))
        return self.sec

    def text(self, local_lines: list[str], stack_lines: list[str], sections) -> str:
        c = self.c
        out = ["refjit-trace 1",
               f"code fuzz units={UNITS} varnames=" + ",".join(f"v{i}" for i in range(len(self.locals)))]
        out.append("executor chain_depth=0" + (" invalid" if c.rare(12) else ""))
        if c.rare(3):
            out.append(f"tstate eval_breaker={c.pick(EVAL_BREAKERS)}")
        if c.rare(4):
            out.append(f"interp trace_run_counter={c.integer(1, 3)}")
        for line in self.objects:
            name = line.split(" ", 1)[0]
            extra = self.extra[name]
            if self.kinds[name] == "executor":
                pass  # owned by the exit that links to it, or co_executors (extra)
            elif name in self.borrowed or self.owners[name] == 0:
                extra = max(extra, 1)
            elif c.rare(3):
                extra += 1  # held elsewhere too: not the last reference
            out.append(f"object {line}" + (f" extra={extra}" if extra else ""))
        out += self.enter_lines
        out.append(f"frame locals={len(self.locals)}")
        out += local_lines + stack_lines
        for sec in sections:
            if sec.header:
                out.append(sec.header)
            out += sec.exit_lines
            out += self.uop_lines(sec)
        return "\n".join(out) + "\n"

    @staticmethod
    def uop_lines(sec: _Section) -> list[str]:
        out = []
        n = len(sec.uops)
        for i, u in enumerate(sec.uops + sec.stubs):
            line = f"{i} {u.name} oparg={u.oparg}"
            if u.jump is not None or u.error is not None:
                jt = 1 if u.jump == "top" else (n + u.jump if u.jump is not None else 0)
                et = n + u.error if u.error is not None else 0
                line += f" jump_target={jt} error_target={et}"
            else:
                line += f" target={u.target}"
            if u.operand0 is not None:
                line += f" operand0={u.operand0}"
            out.append(line)
        return out


def generate(c: Choices, max_uops: int = 40, long: bool = False) -> Generated:
    """One random trace (text in the trace format) and the features it exercises."""
    b = _Body(c, max(max_uops, 200) if long else max_uops, long)
    text = b.build()
    return Generated(text, sorted(b.features))
