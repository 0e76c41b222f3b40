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
from refjit.semantics import run_scenario
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
