"""The CPython profile: everything refjit knows about one CPython version on one architecture.

This module is the only reader of ``specs/``. A profile bundles the uop table, the struct layouts
(with the architecture's differences applied), the ABI (pinned registers, C calling convention,
patch function per relocation) and the constants uops depend on. Supporting another CPython
version means adding a folder ``specs/cpython-<version>/`` with the same files; no code changes.

    >>> p = load_profile("3.14", "x86_64")
    >>> p.offset("PyThreadState", "current_executor")
    272
    >>> p.uops["_BINARY_OP_ADD_INT"].id
    304
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType, SimpleNamespace
from typing import Any, Mapping

from refjit.errors import SpecError

ARCHITECTURES = ("x86_64", "aarch64")


@dataclass(frozen=True)
class Field:
    """One member of a struct, by its full dotted path (``vm_data.valid``)."""

    struct: str
    path: str
    offset: int  # bytes from the start of the struct (for a bitfield: the byte holding its first bit)
    size: int  # bytes of the member (for a bitfield: its storage unit)
    ctype: str
    bit: int | None = None  # bitfields only: first bit inside the byte at ``offset`` (LSB first)
    width: int | None = None  # bitfields only: number of bits

    @property
    def is_bitfield(self) -> bool:
        return self.width is not None

    @property
    def array_length(self) -> int | None:
        """N for a C array member ``T[N]`` (``ob_item (PyObject *[1])`` -> 1), else None."""
        if self.ctype.endswith("]") and "[" in self.ctype:
            inner = self.ctype[self.ctype.rindex("[") + 1 : -1]
            return int(inner) if inner.isdigit() else 0
        return None

    @functools.cached_property   # (a frozen dataclass: cached in the instance's __dict__)
    def element_size(self) -> int:
        n = self.array_length
        return self.size // n if n else self.size


@dataclass(frozen=True)
class Struct:
    name: str
    size: int
    fields: Mapping[str, Field]  # by full path, in offset order

    def field(self, path: str) -> Field:
        """The member at ``path``; a unique last component also works (``ob_refcnt`` in a tuple)."""
        f = self.fields.get(path)
        if f is not None:
            return f
        matches = [f for p, f in self.fields.items() if p.endswith("." + path)]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise SpecError(f"{self.name} has no field {path!r}")
        raise SpecError(
            f"{self.name}: field name {path!r} is ambiguous ({', '.join(m.path for m in matches)})"
        )


@dataclass(frozen=True)
class UopSpec:
    """One tier-2 uop as the 3.14 tables describe it (see the appendix of FACTS.md)."""

    name: str
    id: int
    flags: frozenset[str]  # e.g. {"HAS_ARG", "HAS_EXIT"} (CPython's macro names without _FLAG)
    flags_value: int
    stack_inputs: tuple[str, ...]
    stack_outputs: tuple[str, ...]
    caches: tuple[str, ...]
    uses_oparg: bool
    uses_operand0: bool
    uses_operand1: bool
    uses_target: bool
    const_oparg: int | None  # replicas: the oparg folded into the stencil (_LOAD_FAST_3 -> 3)
    replication: int | None  # base uops that have replicas: how many
    has_tier2_case: bool  # False for the 4 super-instructions that never reach a trace
    stencil_bytes: int | None  # this architecture's stencil code size (None: no stencil)
    stencil_data_bytes: int | None
    patched_fields: tuple[str, ...]  # OPARG, OPERAND0, ..., CONTINUE holes in this arch's stencil
    external_symbols: tuple[str, ...]  # C symbols this arch's stencil references

    def has(self, flag: str) -> bool:
        """``has("HAS_EXIT")`` or ``has("HAS_EXIT_FLAG")``."""
        return flag.removesuffix("_FLAG") in self.flags

    def stack_effect(self, oparg: int = 0) -> tuple[int, int]:
        """(stack slots in, slots out) for this oparg, counting every item of the signature as
        the generated _PyUop_num_popped does (items named on both sides included), so the
        stack pointer moves by ``out - in``."""
        replica = self.const_oparg if self.const_oparg is not None else oparg
        return (sum(_item_size(i, replica, self.name) for i in self.stack_inputs),
                sum(_item_size(i, replica, self.name) for i in self.stack_outputs))


def _item_size(item: str, oparg: int, uop: str) -> int:
    """Slots of one stack item: ``x`` is 1, ``args[oparg*2]`` evaluates its size expression."""
    if not item.endswith("]"):
        return 1
    expr = item[item.index("[") + 1 : -1]
    n = _eval_size(expr, oparg, uop)
    if n < 0:
        raise SpecError(f"{uop}: stack item {item} has size {n} for oparg {oparg}")
    return n


def _eval_size(expr: str, oparg: int, uop: str) -> int:
    """The size expressions of the DSL: integers, ``oparg``, + - * >> & and parentheses."""
    import ast

    ops = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
           ast.RShift: lambda a, b: a >> b, ast.BitAnd: lambda a, b: a & b}

    def ev(node):
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.Name) and node.id == "oparg":
            return oparg
        if isinstance(node, ast.BinOp) and type(node.op) in ops:
            return ops[type(node.op)](ev(node.left), ev(node.right))
        raise SpecError(f"{uop}: unsupported stack size expression {expr!r}")

    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError:
        raise SpecError(f"{uop}: unparsable stack size expression {expr!r}") from None
    return ev(tree.body)


@dataclass(frozen=True)
class Abi:
    arch: str
    triple: str
    page_size: int
    char_signed: bool
    frame_reg: str
    stack_pointer_reg: str
    tstate_reg: str
    return_reg: str
    preserved_between_uops: tuple[str, ...]
    c_int_args: tuple[str, ...]
    c_float_args: tuple[str, ...]
    c_int_return: str
    c_float_return: str
    c_callee_saved: tuple[str, ...]
    stack_alignment_at_call: int
    shim_code_size: int
    code_alignment: int
    data_alignment: int
    trampoline_size: int
    patch_functions: Mapping[str, str]  # relocation type (or "GOT_SLOT") -> CPython patch function
    raw: Mapping[str, Any]  # the whole arch file, for fields not promoted above

    def patch_function(self, relocation: str) -> str:
        try:
            return self.patch_functions[relocation]
        except KeyError:
            raise SpecError(f"{self.arch}: no patch function for relocation {relocation}") from None


@dataclass(frozen=True)
class TypeSpec:
    """A static type object of the emulated process (specs/.../types.json)."""

    symbol: str  # C name of the type object (PyLong_Type, _PyExc_TypeError)
    tp_name: str
    tp_basicsize: int
    tp_itemsize: int
    tp_flags: int  # as measured (type.__flags__)
    flag_names: tuple[str, ...]  # the Py_TPFLAGS_* names of its bits
    tp_version_tag: int | None  # None: assigned by the process
    exception_pointer: str | None  # PyExc_TypeError for _PyExc_TypeError


@dataclass(frozen=True)
class SymbolSpec:
    name: str
    kind: str  # "function" or "data"
    nm: str  # the nm type letter in the real binary
    stencils: int  # how many stencils reference it


class Profile:
    """One CPython version on one architecture. Build with :func:`load_profile`."""

    def __init__(self, version: str, arch: str, files: Mapping[str, Any]):
        self.version = version
        self.arch = arch
        # (struct, path) -> Field, filled as they are asked for: the lowerings look fields up
        # by name for every uop they lower, and a short path (``ob_refcnt``) needs a search.
        self._fields: dict[tuple[str, str], Field] = {}
        meta = files["version.json"]
        self.patchlevel: str = meta["patchlevel"]
        self.max_uop_id: int = meta["max_uop_id"]
        self.abi = _build_abi(files[f"abi-{arch}.json"])
        self.structs: Mapping[str, Struct] = MappingProxyType(
            _build_structs(files["layouts.json"], files[f"abi-{arch}.json"].get("layout_overrides", {}))
        )
        uops = [_build_uop(u, arch) for u in files["uops.json"]]
        self.uops: Mapping[str, UopSpec] = MappingProxyType({u.name: u for u in uops})
        self.uop_by_id: Mapping[int, UopSpec] = MappingProxyType({u.id: u for u in uops})
        if len(self.uop_by_id) != len(uops):
            raise SpecError(f"uops.json of {version}: duplicate uop ids")
        self.symbols: Mapping[str, SymbolSpec] = MappingProxyType(
            {
                name: SymbolSpec(name, s["kind"], s["nm"], s["stencils"])
                for name, s in files["symbols.json"]["symbols"].items()
            }
        )
        flag_bits = files["constants.json"]["type_flags"]
        self.types: tuple[TypeSpec, ...] = tuple(
            TypeSpec(t["symbol"], t["tp_name"], t["tp_basicsize"], t["tp_itemsize"], int(t["tp_flags"], 16),
                     tuple(n for n, v in flag_bits.items() if int(t["tp_flags"], 16) & v),
                     t["tp_version_tag"], t.get("exception_pointer"))
            for t in files["types.json"]["types"]
        )
        flat: dict[str, Any] = {}
        for group, values in files["constants.json"].items():
            if group.startswith("_"):
                continue
            for name, value in values.items():
                if name.startswith("_comment"):
                    continue
                if name in flat:
                    raise SpecError(f"constants.json of {version}: {name} defined twice")
                flat[name] = value
        self._consts = MappingProxyType(flat)
        # Attribute access for names that are identifiers: profile.consts.Py_TAG_REFCNT
        self.consts = SimpleNamespace(**{k: v for k, v in flat.items() if k.isidentifier()})
        # Where the main interpreter sits inside _PyRuntime: it is the struct's last member.
        self.main_interpreter_offset = self.offset("_PyRuntimeState", "_main_interpreter")

    def __repr__(self) -> str:
        return f"<Profile CPython {self.patchlevel} {self.arch}>"

    def const(self, name: str) -> Any:
        try:
            return self._consts[name]
        except KeyError:
            raise SpecError(f"CPython {self.version} profile has no constant {name!r}") from None

    @property
    def constants(self) -> Mapping[str, Any]:
        return self._consts

    def struct(self, name: str) -> Struct:
        try:
            return self.structs[name]
        except KeyError:
            raise SpecError(f"CPython {self.version} ({self.arch}) has no layout for struct {name!r}") from None

    def field(self, struct: str, path: str) -> Field:
        try:
            return self._fields[struct, path]
        except KeyError:
            found = self._fields[struct, path] = self.struct(struct).field(path)
            return found

    def offset(self, struct: str, path: str) -> int:
        try:
            return self._fields[struct, path].offset
        except KeyError:
            return self.field(struct, path).offset

    def sizeof(self, struct: str) -> int:
        return self.struct(struct).size

    def uop(self, name_or_id: str | int) -> UopSpec:
        table = self.uops if isinstance(name_or_id, str) else self.uop_by_id
        try:
            return table[name_or_id]
        except KeyError:
            raise SpecError(f"CPython {self.version} has no tier-2 uop {name_or_id!r}") from None


def available_versions() -> list[str]:
    root = resources.files("refjit.specs")
    return sorted(p.name.removeprefix("cpython-") for p in root.iterdir() if p.name.startswith("cpython-"))


def load_profile(version: str = "3.14", arch: str = "x86_64") -> Profile:
    """The profile of CPython ``version`` on ``arch`` ("x86_64" or "aarch64"); cached."""
    return _load_profile(version, arch)


@functools.lru_cache(maxsize=None)
def _load_profile(version: str, arch: str) -> Profile:
    if arch not in ARCHITECTURES:
        raise SpecError(f"unknown architecture {arch!r} (expected one of {', '.join(ARCHITECTURES)})")
    folder = resources.files("refjit.specs") / f"cpython-{version}"
    patchlevel = None
    if not folder.is_dir() and version.count(".") == 2:
        # "3.14.7": the 3.14 folder, if it describes exactly that release
        patchlevel = version
        version = version.rsplit(".", 1)[0]
        folder = resources.files("refjit.specs") / f"cpython-{version}"
    if not folder.is_dir():
        raise SpecError(
            f"no specs for CPython {version!r} (available: {', '.join(available_versions()) or 'none'})"
        )
    files: dict[str, Any] = {}
    for name in ("version.json", "layouts.json", "uops.json", "symbols.json", "constants.json", "types.json", f"abi-{arch}.json"):
        path = folder / name
        if not path.is_file():
            raise SpecError(f"specs/cpython-{version}/{name} is missing")
        try:
            files[name] = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise SpecError(f"{err.msg} at line {err.lineno} column {err.colno}", f"specs/cpython-{version}/{name}") from None
    meta = files["version.json"]
    if patchlevel is not None and meta.get("patchlevel") != patchlevel:
        raise SpecError(f"specs/cpython-{version} describes {meta.get('patchlevel')}, not {patchlevel}")
    if arch not in meta.get("architectures", ()):
        raise SpecError(f"specs/cpython-{version} does not describe {arch}")
    try:
        return Profile(version, arch, files)
    except (KeyError, TypeError, ValueError) as err:
        raise SpecError(f"malformed data: {err!r}", f"specs/cpython-{version}") from None


def _build_abi(d: Mapping[str, Any]) -> Abi:
    c = d["c_abi"]
    return Abi(
        arch=d["arch"],
        triple=d["triple"],
        page_size=d["page_size"],
        char_signed=d["char_signed"],
        frame_reg=d["pinned"]["frame"],
        stack_pointer_reg=d["pinned"]["stack_pointer"],
        tstate_reg=d["pinned"]["tstate"],
        return_reg=d["return_reg"],
        preserved_between_uops=tuple(d["preserved_between_uops"]),
        c_int_args=tuple(c["int_args"]),
        c_float_args=tuple(c["float_args"]),
        c_int_return=c["int_return"],
        c_float_return=c["float_return"],
        c_callee_saved=tuple(c["callee_saved"]),
        stack_alignment_at_call=c["stack_alignment_at_call"],
        shim_code_size=d["shim_code_size"],
        code_alignment=d["code_alignment"],
        data_alignment=d["data_alignment"],
        trampoline_size=d["trampoline_size"],
        patch_functions=MappingProxyType(dict(d["patch_functions"])),
        raw=MappingProxyType(dict(d)),
    )


def _build_structs(layouts: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Struct]:
    out: dict[str, Struct] = {}
    for name, s in layouts["structs"].items():
        ov = overrides.get(name, {})
        moved = ov.get("offsets", {})
        fields: dict[str, Field] = {}
        for row in s["fields"]:
            if isinstance(row, str):
                continue
            offset, size, path, ctype = row[:4]
            bit, width = (row[4], row[5]) if len(row) > 4 else (None, None)
            offset = moved.get(path, offset)
            fields[path] = Field(name, path, offset, size, ctype, bit, width)
        unknown = set(moved) - set(fields)
        if unknown:
            raise SpecError(f"layout override for {name} names unknown fields {sorted(unknown)}")
        out[name] = Struct(name, ov.get("size", s["size"]), MappingProxyType(fields))
    return out


def _build_uop(u: Mapping[str, Any], arch: str) -> UopSpec:
    return UopSpec(
        name=u["name"],
        id=u["id"],
        flags=frozenset(u["flags"]),
        flags_value=u["flags_value"],
        stack_inputs=tuple(u["stack_inputs"]),
        stack_outputs=tuple(u["stack_outputs"]),
        caches=tuple(u["caches"]),
        uses_oparg=u["uses_oparg"],
        uses_operand0=u["uses_operand0"],
        uses_operand1=u["uses_operand1"],
        uses_target=u["uses_target"],
        const_oparg=u["const_oparg"],
        replication=u["replication"],
        has_tier2_case=u["has_tier2_case"],
        stencil_bytes=u[f"stencil_bytes_{arch}"],
        stencil_data_bytes=u[f"stencil_data_bytes_{arch}"],
        patched_fields=tuple(u[f"patched_fields_{arch}"] or ()),
        external_symbols=tuple(u[f"external_symbols_{arch}"] or ()),
    )
