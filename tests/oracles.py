"""The external assemblers the encoders are checked against: GNU as and llvm-mc-19.

Each call assembles a whole batch of instructions in ONE process: every instruction gets a label
in front of it, the object file's symbol table gives each label's offset, and the bytes between
consecutive labels are that instruction's encoding. The ELF reading is a few lines of `struct`,
so nothing here depends on a disassembler.

A batch either assembles completely or raises OracleError with the tool's own messages; tests pass
only instructions the oracle must accept.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import tempfile

TOOLS = {
    ("gnu", "x86_64"): ["as", "--64"],
    ("gnu", "aarch64"): ["aarch64-linux-gnu-as", "-march=armv8.1-a+fp+simd"],
    ("llvm", "x86_64"): ["llvm-mc-19", "--triple=x86_64-unknown-linux-gnu", "--filetype=obj"],
    ("llvm", "aarch64"): ["llvm-mc-19", "--triple=aarch64-unknown-linux-gnu", "--filetype=obj",
                          "--mattr=+v8.1a,+lse,+fp-armv8,+neon"],
}


class OracleError(Exception):
    pass


def tool_path(tool: str, arch: str) -> str:
    exe = TOOLS[(tool, arch)][0]
    path = shutil.which(exe)
    if path is None:
        # `make test` installs the oracles; their absence is a set-up failure, never a skip.
        raise OracleError(f"{exe} is not installed (run `make test`, which installs the oracles)")
    return path


def _elf_text_and_labels(obj: bytes, prefix: str) -> tuple[bytes, dict[str, int]]:
    if obj[:4] != b"\x7fELF" or obj[4] != 2 or obj[5] != 1:
        raise OracleError("oracle output is not a little-endian ELF64 object")
    shoff, = struct.unpack_from("<Q", obj, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", obj, 0x3A)
    sections = []
    for i in range(shnum):
        name, typ, _flags, _addr, off, size, link, _info, _align, entsize = struct.unpack_from(
            "<IIQQQQIIQQ", obj, shoff + i * shentsize)
        sections.append((name, typ, off, size, link, entsize))
    shstr = sections[shstrndx]

    def secname(idx: int) -> str:
        start = shstr[2] + idx
        return obj[start:obj.index(b"\0", start)].decode()

    text_index = next(i for i, s in enumerate(sections) if secname(s[0]) == ".text")
    text = obj[sections[text_index][2]:sections[text_index][2] + sections[text_index][3]]
    labels: dict[str, int] = {}
    for name, typ, off, size, link, entsize in sections:
        if typ != 2:  # SHT_SYMTAB
            continue
        strtab = sections[link]
        for k in range(size // entsize):
            st_name, _info, _other, st_shndx, st_value, _size = struct.unpack_from(
                "<IBBHQQ", obj, off + k * entsize)
            start = strtab[2] + st_name
            sym = obj[start:obj.index(b"\0", start)].decode()
            if sym.startswith(prefix) and st_shndx == text_index:
                labels[sym] = st_value
    return text, labels


def assemble_each(tool: str, arch: str, lines: list[str], extra_args: list[str] = ()) -> list[bytes]:
    """Encode every line with the oracle; returns one bytes object per line, in order."""
    if not lines:
        return []
    cmd = [tool_path(tool, arch), *TOOLS[(tool, arch)][1:], *extra_args]
    prefix = "__refjit_insn_"
    src = [".text"]
    for i, line in enumerate(lines):
        src.append(f"{prefix}{i}:")
        src.append(f"\t{line}")
    src.append(f"{prefix}{len(lines)}:")
    src.append("")
    with tempfile.TemporaryDirectory(prefix="refjit-oracle-") as tmp:
        s_path = os.path.join(tmp, "batch.s")
        o_path = os.path.join(tmp, "batch.o")
        with open(s_path, "w") as f:
            f.write("\n".join(src))
        proc = subprocess.run([*cmd, "-o", o_path, s_path], capture_output=True, text=True)
        if proc.returncode != 0 or not os.path.exists(o_path):
            raise OracleError(f"{' '.join(cmd[:1])} rejected the batch:\n{proc.stderr[:4000]}")
        with open(o_path, "rb") as f:
            obj = f.read()
    text, labels = _elf_text_and_labels(obj, prefix)
    offsets = [labels[f"{prefix}{i}"] for i in range(len(lines) + 1)]
    return [text[offsets[i]:offsets[i + 1]] for i in range(len(lines))]
