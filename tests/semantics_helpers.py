"""Build one-uop traces for the semantics tests and read back what the run left behind.

Every trace made here is ``_START_EXECUTOR``, the uops under test, then three stubs whose tier-1
targets say which way the run left: target CONT (fell through every uop), target JUMP (a guard
failed: jump_target), or an error through ``_ERROR_POP_N`` (operand0 ERR_AT). Placeholders
``JT``/``ET`` in a uop line are replaced by the indices of the jump and error stubs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from refjit.profile import load_profile
from refjit.scenario import build_scenario
from refjit.semantics import LOOP_SLICE, run_scenario
from refjit.trace import parse_trace

CONT, JUMP, ERR_AT = 1, 2, 3


@dataclass
class Ran:
    way: str  # "continue", "jump", "error", or the Outcome kind for anything else
    outcome: object
    scenario: object

    @property
    def p(self):
        return self.scenario.process

    def slot_bits(self, i: int) -> int:
        """Stack slot ``i`` (0 = bottom) after the run."""
        p = self.p
        base = self.scenario.frame + p.profile.offset("_PyInterpreterFrame", "localsplus")
        return p.mem.u64(base + 8 * (self.scenario.trace.nlocals + i))

    def local_bits(self, i: int) -> int:
        p = self.p
        base = self.scenario.frame + p.profile.offset("_PyInterpreterFrame", "localsplus")
        return p.mem.u64(base + 8 * i)

    @property
    def depth(self) -> int:
        p = self.p
        sp = p.mem.u64(self.scenario.frame + p.profile.offset("_PyInterpreterFrame", "stackpointer"))
        base = self.scenario.frame + p.profile.offset("_PyInterpreterFrame", "localsplus")
        return (sp - base) // 8 - self.scenario.trace.nlocals

    def value(self, bits: int):
        return self.p.to_python(bits & ~1)

    def obj(self, name: str) -> int:
        return self.scenario.objects[name]

    def refcnt(self, name_or_addr) -> int:
        a = self.obj(name_or_addr) if isinstance(name_or_addr, str) else name_or_addr
        return self.p.refcnt(a)

    def state(self, name_or_addr) -> str:
        """live / freelist / freed (heap objects) or static."""
        a = self.obj(name_or_addr) if isinstance(name_or_addr, str) else name_or_addr
        return self.p.read_object(a).state


def trace_text(body: list[str], *, objects=(), locals_=(), stack=(), nlocals=None,
               stacksize=8, extra_lines=()) -> str:
    lines = ["refjit-trace 1", "code t units=16"]
    lines += [f"object {o}" for o in objects]
    lines += list(extra_lines)
    n = len(locals_) if nlocals is None else nlocals
    lines.append(f"frame locals={n} stacksize={stacksize}")
    lines += [f"local {i} = {v}" for i, v in enumerate(locals_) if v is not None]
    lines += [f"stack {i} = {v}" for i, v in enumerate(stack)]
    k = 1 + len(body)
    jt, et = k + 1, k + 2
    uops = ["_START_EXECUTOR target=0 operand0=&executor"]
    uops += [re.sub(r"=ET\b", f"={et}", re.sub(r"=JT\b", f"={jt}", b)) for b in body]
    uops += [f"_DEOPT target={CONT}", f"_DEOPT target={JUMP}",
             f"_ERROR_POP_N target=0 operand0={ERR_AT}"]
    lines += [f"{i} {u}" for i, u in enumerate(uops)]
    return "\n".join(lines) + "\n"


def run_text(text: str, arch: str = "x86_64") -> Ran:
    profile = load_profile("3.14", arch)
    sc = build_scenario(parse_trace(text, profile, "test.trace"), profile)
    out = run_scenario(sc, budget=100_000)
    if out.kind != "fault":
        # whatever the uop did, it left no write after free and no broken freelist behind
        assert sc.process.check_heap() == [], out.render()
    if out.kind == "tier1":
        way = {CONT: "continue", JUMP: "jump"}.get(out.target, f"tier1 {out.target}")
    else:
        way = out.kind
    return Ran(way, out, sc)


def run_uops(body, **kw) -> Ran:
    return run_text(trace_text(list(body), **kw))


def literal(v) -> str:
    """A value as trace-format text (object declaration argument)."""
    if isinstance(v, bool) or v is None:
        raise ValueError(v)
    if isinstance(v, int):
        return f"int {v}"
    if isinstance(v, float):
        return f"float {v!r}" if v == v else "float nan"
    raise ValueError(v)


# -- random traces: the objects, stack refs and uops the random-trace tests draw from ------------

PROFILE = load_profile("3.14", "x86_64")
OBJECTS = ["i = int 100000 extra=1", "big = int 100000000000000000000 extra=1",
           "f = float 2.5 extra=1", "l = list [1, 2.5, None] extra=1", "t = tuple [7, 8.5] extra=1",
           "r = range_iterator 0 3 1 extra=1", "li = list_iterator l extra=1",
           "ti = tuple_iterator t extra=1"]
REFS = ["i owned", "i borrowed", "big owned", "f owned", "f borrowed", "l owned", "t owned",
        "r owned", "li owned", "ti owned", "None immortal", "True immortal", "False immortal",
        "0 immortal", "5 immortal", "NULL"]
UOPS = sorted(LOOP_SLICE - {"_START_EXECUTOR", "_JUMP_TO_TOP", "_EXIT_TRACE", "_DEOPT",
                            "_ERROR_POP_N", "_FATAL_ERROR"})
OPERAND0 = {"_LOAD_CONST_INLINE", "_LOAD_CONST_INLINE_BORROW", "_POP_TOP_LOAD_CONST_INLINE_BORROW",
            "_POP_TWO_LOAD_CONST_INLINE_BORROW"}


def uop_line(name: str, oparg: int) -> str:
    spec = PROFILE.uops[name]
    parts = [name]
    if spec.uses_oparg:
        parts.append(f"oparg={oparg}")
    if spec.has("HAS_EXIT") or spec.has("HAS_DEOPT") or spec.has("HAS_ERROR"):
        parts.append("jump_target=JT error_target=ET")
    else:
        parts.append("target=0")
    if name in OPERAND0:
        parts.append("operand0=&f")
    elif name == "_SET_IP":
        parts.append("operand0=&bytecode+0x2")
    return " ".join(parts)
