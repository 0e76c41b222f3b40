"""Random uop sequences that respect every uop's preconditions, as a real tier-2 trace does.

CPython's tier-2 optimizer removes a type guard only when it has proved the type, and a uop that
has no guard of its own (``_BINARY_OP_SUBSCR_TUPLE_INT``, ``_UNARY_NOT``, ``_ITER_NEXT_RANGE``...)
merely ``assert``s what it needs (Python/bytecodes.c): given anything else, its machine code is
undefined behaviour, and CPython's stencils may fault where the reference semantics deopts. So
the random traces compared with the real stencils are drawn by a small abstract interpreter:
every stack slot and local carries the *kind* of what it holds, a uop is offered only when the
kinds under it meet its preconditions, and a guard refines the kind it checks (after a guard that
must fail, the rest of the trace is dead code, so anything there is fine).

Kinds: ``int float bool none list tuple`` (exact types), ``range_iter list_iter tuple_iter`` and
the same with ``+`` (a ``_GUARD_NOT_EXHAUSTED_*`` has proved one more item), ``obj`` (some object
of unknown type) and ``null`` (PyStackRef_NULL).
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st
from semantics_helpers import PROFILE, UOPS

# what each REFS entry of semantics_helpers (and OBJECTS' names) holds
KIND_OF_NAME = {"i": "int", "big": "int", "0": "int", "5": "int", "f": "float", "l": "list",
                "t": "tuple", "r": "range_iter", "li": "list_iter", "ti": "tuple_iter",
                "None": "none", "True": "bool", "False": "bool", "NULL": "null"}
# eight locals, so that every _LOAD_FAST_<n>/_STORE_FAST_<n> replica has one to use
LOCALS = ["i owned", "f borrowed", None, "t owned", "None immortal", "l borrowed", "5 immortal",
          "ti owned"]
STACKSIZE = 8

# type guards: (stack position they check, the kind they prove)
GUARDS = {"_GUARD_TOS_INT": (-1, "int"), "_GUARD_NOS_INT": (-2, "int"),
          "_GUARD_TOS_FLOAT": (-1, "float"), "_GUARD_NOS_FLOAT": (-2, "float"),
          "_GUARD_TOS_LIST": (-1, "list"), "_GUARD_NOS_LIST": (-2, "list"),
          "_GUARD_TOS_TUPLE": (-1, "tuple"), "_GUARD_NOS_TUPLE": (-2, "tuple"),
          "_ITER_CHECK_RANGE": (-1, "range_iter"), "_ITER_CHECK_LIST": (-1, "list_iter"),
          "_ITER_CHECK_TUPLE": (-1, "tuple_iter"), "_TO_BOOL_BOOL": (-1, "bool")}
EXHAUSTION = {"_GUARD_NOT_EXHAUSTED_RANGE": "range_iter", "_GUARD_NOT_EXHAUSTED_LIST": "list_iter",
              "_GUARD_NOT_EXHAUSTED_TUPLE": "tuple_iter"}
# _ITER_NEXT_*: asserts its iterator type and one more item; pushes the item
NEXT = {"_ITER_NEXT_RANGE": ("range_iter", "int"), "_ITER_NEXT_LIST_TIER_TWO": ("list_iter", "obj"),
        "_ITER_NEXT_TUPLE": ("tuple_iter", "obj")}

ANY, OBJ = "any", "obj"  # requirements: anything (NULL too), any object (not NULL)
# the other uops with stack inputs: what each input (bottom to top) must be, the kinds pushed
TYPED = {
    "_BINARY_OP": ((OBJ, OBJ), ("obj",)),
    "_BINARY_OP_ADD_INT": (("int", "int"), ("int",)),
    "_BINARY_OP_SUBTRACT_INT": (("int", "int"), ("int",)),
    "_BINARY_OP_MULTIPLY_INT": (("int", "int"), ("int",)),
    "_BINARY_OP_ADD_FLOAT": (("float", "float"), ("float",)),
    "_BINARY_OP_SUBTRACT_FLOAT": (("float", "float"), ("float",)),
    "_BINARY_OP_MULTIPLY_FLOAT": (("float", "float"), ("float",)),
    "_BINARY_OP_SUBSCR_LIST_INT": (("list", "int"), ("obj",)),
    "_BINARY_OP_SUBSCR_TUPLE_INT": (("tuple", "int"), ("obj",)),
    "_STORE_SUBSCR_LIST_INT": ((OBJ, "list", "int"), ()),
    "_COMPARE_OP_INT": (("int", "int"), ("bool",)),
    "_COMPARE_OP_FLOAT": (("float", "float"), ("bool",)),
    "_IS_OP": ((OBJ, OBJ), ("bool",)),
    "_UNARY_NOT": (("bool",), ("bool",)),
    "_TO_BOOL_INT": ((OBJ,), ("bool",)),  # a guard on int whose result is a bool
    "_TO_BOOL_NONE": ((OBJ,), ("bool",)),
    "_REPLACE_WITH_TRUE": ((OBJ,), ("bool",)),
    "_GUARD_IS_TRUE_POP": ((OBJ,), ()),
    "_GUARD_IS_FALSE_POP": ((OBJ,), ()),
    "_GUARD_IS_NONE_POP": ((OBJ,), ()),
    "_GUARD_IS_NOT_NONE_POP": ((OBJ,), ()),
    "_POP_TOP": ((ANY,), ()),  # PyStackRef_CLOSE of NULL is a no-op (its tag bit is set)
    "_END_FOR": ((OBJ,), ()),
    "_POP_TOP_LOAD_CONST_INLINE_BORROW": ((OBJ,), ("float",)),  # operand0=&f (uop_line)
    "_POP_TWO_LOAD_CONST_INLINE_BORROW": ((OBJ, OBJ), ("float",)),
    "_UNPACK_SEQUENCE_TWO_TUPLE": (("tuple",), ("obj", "obj")),
}


def satisfies(kind: str, need: str) -> bool:
    if need == ANY:
        return True
    if need == OBJ:
        return kind != "null"
    return kind == need or kind == need + "+"


@dataclass(frozen=True)
class State:
    stack: tuple[str, ...]
    locals_: tuple[str, ...]

    def after(self, name: str, oparg: int) -> State | None:
        """The kinds after ``name`` with ``oparg``, or None if its preconditions do not hold."""
        if oparg < {"_COPY": 1, "_LIST_APPEND": 1, "_SWAP": 2}.get(name, 0):
            return None  # each asserts its oparg's range
        spec = PROFILE.uops[name]
        n_in, n_out = spec.stack_effect(oparg)
        stack, locals_ = list(self.stack), list(self.locals_)
        if n_in > len(stack) or len(stack) - n_in + n_out > STACKSIZE:
            return None
        local = spec.const_oparg if spec.const_oparg is not None else oparg
        if name in GUARDS:
            pos, proved = GUARDS[name]
            if stack[pos] == "null":
                return None
            if not satisfies(stack[pos], proved):
                stack[pos] = proved  # a failing guard leaves dead code behind it: anything goes
        elif name in EXHAUSTION:
            if not satisfies(stack[-1], EXHAUSTION[name]):
                return None
            stack[-1] = EXHAUSTION[name] + "+"
        elif name in NEXT:
            iterator, item = NEXT[name]
            if stack[-1] != iterator + "+":
                return None
            # the same iterator may be elsewhere too: none of them is known to have an item now
            stack = [iterator if k == iterator + "+" else k for k in stack] + [item]
            locals_ = [iterator if k == iterator + "+" else k for k in locals_]
        elif name in TYPED:
            needs, pushed = TYPED[name]
            if not all(satisfies(k, n) for k, n in zip(stack[len(stack) - n_in:], needs)):
                return None
            stack = stack[: len(stack) - n_in] + list(pushed)
        elif name.startswith(("_LOAD_FAST", "_STORE_FAST")):
            if local >= len(locals_):
                return None  # the compiler never indexes past co_nlocalsplus
            if name.startswith("_STORE_FAST"):
                locals_[local] = stack.pop()
            elif name == "_LOAD_FAST_AND_CLEAR":
                stack.append(locals_[local])
                locals_[local] = "null"
            elif name == "_LOAD_FAST_CHECK":
                stack.append(locals_[local])  # NULL: an UnboundLocalError, the rest is dead
            elif locals_[local] == "null":
                return None  # LOAD_FAST asserts the local is set
            else:
                stack.append(locals_[local])
        elif name in ("_LOAD_CONST_INLINE", "_LOAD_CONST_INLINE_BORROW"):
            stack.append("float")  # operand0=&f (uop_line)
        elif name.startswith("_LOAD_SMALL_INT"):
            stack.append("int")
        elif name == "_PUSH_NULL":
            stack.append("null")
        elif name == "_COPY":
            stack.append(stack[-oparg])
        elif name == "_SWAP":
            stack[-1], stack[-oparg] = stack[-oparg], stack[-1]
        elif name == "_LIST_APPEND":
            if not satisfies(stack[-1 - oparg], "list") or stack[-1] == "null":
                return None
            stack.pop()
        elif name == "_UNPACK_SEQUENCE_TUPLE":
            if not satisfies(stack[-1], "tuple"):
                return None
            stack = stack[:-1] + ["obj"] * oparg
        elif n_in or n_out:
            raise AssertionError(f"{name}: no precondition model for a uop that uses the stack")
        return State(tuple(stack), tuple(locals_))


def kind_of_ref(ref: str) -> str:
    return KIND_OF_NAME[ref.split()[0]]


CANDIDATES = [(name, oparg) for name in UOPS
              for oparg in (range(5) if PROFILE.uops[name].uses_oparg else (0,))]
# uops that need a particular type under them: rarely possible, so drawn first when they are
NEEDY = {"_LIST_APPEND", "_UNPACK_SEQUENCE_TUPLE", *EXHAUSTION, *NEXT,
         *(name for name, (needs, _) in TYPED.items() if set(needs) - {ANY, OBJ})}


@st.composite
def typed_body(draw, stack_refs: list[str], max_size: int = 6) -> list[tuple[str, int]]:
    """1..max_size (uop, oparg) pairs, each allowed by the kinds the previous ones left; half the
    time a uop with a typed precondition when one is possible, else any possible uop."""
    state = State(tuple(kind_of_ref(r) for r in stack_refs),
                  tuple("null" if r is None else kind_of_ref(r) for r in LOCALS))
    body = []
    for _ in range(draw(st.integers(1, max_size))):
        options = [(c, nxt) for c in CANDIDATES if (nxt := state.after(*c)) is not None]
        needy = [o for o in options if o[0][0] in NEEDY]
        if needy and draw(st.booleans()):
            options = needy
        (name, oparg), state = draw(st.sampled_from(options))
        body.append((name, oparg))
    return body
