"""Small stencil groups for both ISAs, assembled by GNU as (one batch per ISA), with holes of every
kind the Linux stencils use. Tests write them as a header with refjit.headerwriter, read it back
with refjit.stencils and link the result, so CI never needs CPython.

Each group is a list of (assembly line, relocation or None); a relocation is (byte position of the
field inside that instruction, patch function, symbol, addend), as LLVM would emit it.
"""

from __future__ import annotations

import functools

from oracles import assemble_each
from refjit.codebuf import Reloc
from refjit.headerwriter import build_group
from refjit.stencils import Hole, HoleValue, Stencil, StencilGroup

JNE_REL32 = ".byte 0x0f, 0x85, 0, 0, 0, 0"  # jne rel32 (GNU as would pick the short form)
JE_REL32 = ".byte 0x0f, 0x84, 0, 0, 0, 0"

X86 = {
    "shim": [
        ("pushq %r15", None), ("pushq %r14", None), ("pushq %r13", None), ("pushq %r12", None),
        ("pushq %rbx", None), ("movq %rdi, %r12", None), ("movq %rsi, %r13", None), ("movq %rdx, %r14", None),
        ("callq .+5", (1, "patch_32r", "_JIT_CONTINUE", -4)),
        ("popq %rbx", None), ("popq %r12", None), ("popq %r13", None), ("popq %r14", None), ("popq %r15", None),
        ("retq", None),
    ],
    "_START_EXECUTOR": [],
    "_TEST_OP": [
        ("movabsq $0, %rax", (2, "patch_64", "_JIT_OPARG", 0)),
        ("movabsq $0, %rcx", (2, "patch_64", "_JIT_OPERAND0", 8)),
        ("movabsq $0, %rdx", (2, "patch_64", "_PyRuntime", 0x2920)),
        ("callq *0(%rip)", (2, "patch_x86_64_32rx", "_Py_Dealloc", -4)),
        ("movq 0(%rip), %rsi", (3, "patch_x86_64_32rx", "PyFloat_Type", -4)),
        ("callq *0(%rip)", (2, "patch_x86_64_32rx", "_Py_Dealloc", -4)),
        ("testq %rax, %rax", None),
        (JNE_REL32, (2, "patch_32r", "_JIT_JUMP_TARGET", -4)),
        (JE_REL32, (2, "patch_32r", "_JIT_ERROR_TARGET", -4)),
        ("movabsq $0, %rdi", (2, "patch_64", "_JIT_EXECUTOR", 0x22)),
        ("movabsq $0, %r8", (2, "patch_64", "msg", 0)),
        (JNE_REL32, (2, "patch_32r", "_JIT_CONTINUE", -4)),   # an early exit stays
        (".byte 0xe9, 0, 0, 0, 0", (1, "patch_32r", "_JIT_CONTINUE", -4)),  # the final jump goes
    ],
    "_TEST_TARGET": [
        ("movabsq $0, %rcx", (2, "patch_64", "_JIT_OPERAND1", 0)),
        ("movabsq $0, %rax", (2, "patch_64", "_JIT_TARGET", 0)),  # ends in zero bytes
    ],
    "_DEOPT": [("movabsq $0, %rax", (2, "patch_64", "_JIT_TARGET", 0)), ("retq", None)],
    "_FATAL_ERROR": [
        ("pushq %rax", None),
        ("movabsq $0, %rdi", (2, "patch_64", "msg", 0)),
        ("movabsq $0, %rsi", (2, "patch_64", "msg", 0xB)),
        ("callq *0(%rip)", (2, "patch_x86_64_32rx", "_Py_FatalErrorFunc", -4)),
    ],
}
X86_DATA = {"_TEST_OP": (b"hello\0", {"msg": 0}),
            "_FATAL_ERROR": (b"_JIT_ENTRY\0Fatal error uop executed.\0", {"msg": 0})}

A64 = {
    "shim": [
        ("stp x29, x30, [sp, #-16]!", None), ("mov x29, sp", None), ("mov x20, x0", None),
        ("mov x21, x1", None), ("mov x22, x2", None), ("bl .", (0, "patch_aarch64_26r", "_JIT_CONTINUE", 0)),
        ("ldp x29, x30, [sp], #16", None), ("ret", None),
    ],
    "_START_EXECUTOR": [],
    "_TEST_OP": [
        ("adrp x8, .", (0, "patch_aarch64_21r", "_JIT_OPARG", 0)),
        ("ldr x8, [x8]", (0, "patch_aarch64_12", "_JIT_OPARG", 0)),
        ("adrp x9, .", (0, "patch_aarch64_21r", "_Py_Dealloc", 0)),
        ("ldr x9, [x9]", (0, "patch_aarch64_12", "_Py_Dealloc", 0)),
        ("adrp x10, .", (0, "patch_aarch64_21r", "_JIT_OPERAND0", 0)),
        ("ldr x10, [x10]", (0, "patch_aarch64_12", "_JIT_OPERAND0", 0)),
        ("adrp x11, .", (0, "patch_aarch64_21r", "msg", 0)),
        ("add x11, x11, #0", (0, "patch_aarch64_12", "msg", 0)),
        ("cbz x8, .+8", None),
        ("b .", (0, "patch_aarch64_26r", "_JIT_JUMP_TARGET", 0)),
        ("cbnz x9, .+8", None),
        ("b .", (0, "patch_aarch64_26r", "_JIT_ERROR_TARGET", 0)),
        ("cbz x10, .+8", None),
        ("b .", (0, "patch_aarch64_26r", "_JIT_CONTINUE", 0)),
        ("adrp x12, .", (0, "patch_aarch64_21r", "_Py_Dealloc", 0)),   # same symbol: same GOT slot
        ("ldr x12, [x12]", (0, "patch_aarch64_12", "_Py_Dealloc", 0)),
        ("b .", (0, "patch_aarch64_26r", "_JIT_CONTINUE", 0)),  # the final jump goes
    ],
    "_TEST_TARGET": [
        ("adrp x8, .", (0, "patch_aarch64_21r", "_JIT_TARGET", 0)),
        ("ldr x8, [x8]", (0, "patch_aarch64_12", "_JIT_TARGET", 0)),
        ("adrp x9, .", (0, "patch_aarch64_21r", "_JIT_OPERAND1", 0)),
        ("ldr x9, [x9]", (0, "patch_aarch64_12", "_JIT_OPERAND1", 0)),
        ("adrp x10, .", (0, "patch_aarch64_21r", "_JIT_EXECUTOR", 0)),
        ("ldr x10, [x10]", (0, "patch_aarch64_12", "_JIT_EXECUTOR", 0)),
    ],
    "_DEOPT": [("ret", None)],
    "_FATAL_ERROR": [
        ("stp x29, x30, [sp, #-16]!", None),
        ("adrp x0, .", (0, "patch_aarch64_21r", "msg", 0)),
        ("add x0, x0, #0", (0, "patch_aarch64_12", "msg", 0)),
        ("adrp x8, .", (0, "patch_aarch64_21r", "_Py_FatalErrorFunc", 0)),
        ("ldr x8, [x8]", (0, "patch_aarch64_12", "_Py_FatalErrorFunc", 0)),
        ("blr x8", None),
    ],
}
A64_DATA = {"_TEST_OP": (b"hello\0", {"msg": 0}),
            "_FATAL_ERROR": (b"_JIT_ENTRY\0Fatal error uop executed.\0", {"msg": 0})}

SOURCES = {"x86_64": (X86, X86_DATA), "aarch64": (A64, A64_DATA)}
TRIPLES = {"x86_64": "x86_64-unknown-linux-gnu", "aarch64": "aarch64-unknown-linux-gnu"}


@functools.cache
def assembled(arch: str) -> dict[str, tuple[bytes, tuple[Reloc, ...]]]:
    """name -> (code, relocations), every group assembled in one GNU as run."""
    groups, _ = SOURCES[arch]
    lines = [text for body in groups.values() for text, _ in body]
    encodings = iter(assemble_each("gnu", arch, lines))
    out = {}
    for name, body in groups.items():
        code = b""
        relocs = []
        for _text, reloc in body:
            enc = next(encodings)
            if reloc:
                pos, kind, symbol, addend = reloc
                relocs.append(Reloc(len(code) + pos, kind, symbol, addend))
            code += enc
        out[name] = (code, tuple(relocs))
    return out


def groups(arch: str) -> tuple[StencilGroup, dict[str, StencilGroup]]:
    """(shim, {uop: group}) built from the assembled code the way Tools/jit processes objects."""
    _, data = SOURCES[arch]
    built = {}
    for name, (code, relocs) in assembled(arch).items():
        body, labels = data.get(name, (b"", {}))
        built[name] = build_group(name, arch, code, relocs, body, labels,
                                  listing=[f"{name}.o: assembled by GNU as for refjit's tests"])
    return built.pop("shim"), built


def trampoline_group() -> StencilGroup:
    """An aarch64 group with a `bl` to an external symbol through a trampoline (ordinal 1)."""
    ret, _ = assembled("aarch64")["_DEOPT"]
    body = (0x94000000).to_bytes(4, "little") + ret  # bl .; ret  (8 bytes, aligned)
    hole = Hole(0, "patch_aarch64_trampoline", HoleValue.ZERO, None, 1)
    return StencilGroup("_TEST_CALL", Stencil(body, [hole], []), Stencil(b"", [], []),
                        trampoline_mask=0b10, symbols_map=("_Py_Other", "_Py_FarAway"))
