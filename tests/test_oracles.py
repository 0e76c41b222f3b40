"""The oracle harness itself: a few encodings known from the architecture manuals."""

from oracles import assemble_each


def test_gnu_and_llvm_agree_on_known_x86_64_encodings():
    lines = ["movq %rdi, %rax", "ret", "addq $8, %r13"]
    want = [bytes.fromhex("4889f8"), bytes.fromhex("c3"), bytes.fromhex("4983c508")]
    assert assemble_each("gnu", "x86_64", lines) == want
    assert assemble_each("llvm", "x86_64", lines) == want


def test_gnu_and_llvm_agree_on_known_aarch64_encodings():
    lines = ["nop", "ret", "ldadd x0, x1, [x2]"]
    want = [bytes.fromhex("1f2003d5"), bytes.fromhex("c0035fd6"), bytes.fromhex("410020f8")]
    assert assemble_each("gnu", "aarch64", lines) == want
    assert assemble_each("llvm", "aarch64", lines) == want
