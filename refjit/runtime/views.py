"""Typed views: read and write a C struct in emulated memory by CPython's field names.

    v = View(memory, profile, "PyThreadState", tstate)
    v.current_executor = 0          # 8-byte store at tstate + 272
    v["vm_data.valid"]              # dotted paths work with [] (bitfields are extracted)
    ex.exits[2].target              # arrays index (flexible arrays like ob_item[1] too)
    ex.vm_data.warm                 # nested structs give a view of the sub-struct

The layout comes from the profile, so the same code reads x86-64 and AArch64 processes.
A one-member wrapper struct such as ``_PyStackRef`` (``{uintptr_t bits}``) reads as its
member's value, which is what every user of ``frame.f_executable`` wants.
"""

from __future__ import annotations

import struct as _struct
from typing import Any

from refjit.errors import RuntimeModelError, SpecError
from refjit.profile import Field, Profile, Struct
from refjit.runtime.memory import PAGE_SHIFT, Memory

_SIGNED = {
    "int", "signed int", "int8_t", "int16_t", "int32_t", "int64_t", "Py_ssize_t", "Py_hash_t",
    "long int", "long", "long long", "short", "signed char", "sdigit", "stwodigits", "intptr_t",
}
_FMT_UNSIGNED = {1: "<B", 2: "<H", 4: "<I", 8: "<Q"}
_FMT_SIGNED = {1: "<b", 2: "<h", 4: "<i", 8: "<q"}

# Codec kinds
_SCALAR, _BITS, _SUB, _ARRAY = range(4)


def _strip_array(ctype: str) -> str:
    return ctype[: ctype.rindex("[")].strip() if ctype.endswith("]") else ctype


class _Codecs:
    """Per-profile cache: (struct, path) -> how to read/write that member."""

    def __init__(self, profile: Profile):
        self.profile = profile
        self.cache: dict[tuple[str, str], tuple] = {}
        # (struct, prefix) -> _Members: what views of that struct (or of its sub-struct at
        # ``prefix``) have asked for, with offsets from the view's own address.
        self.members: dict[tuple[str, str], _Members] = {}

    def members_of(self, struct_name: str, prefix: str) -> "_Members":
        table = self.members.get((struct_name, prefix))
        if table is None:
            st = self.profile.struct(struct_name)
            base = st.field(prefix).offset if prefix else 0
            table = self.members[struct_name, prefix] = _Members(self, st, prefix, base)
        return table

    def scalar_format(self, ctype: str, size: int) -> _struct.Struct | None:
        t = ctype.replace("const ", "").replace("volatile ", "").strip()
        if t == "double" and size == 8:
            return _struct.Struct("<d")
        if t == "float" and size == 4:
            return _struct.Struct("<f")
        if size not in _FMT_UNSIGNED:
            return None
        signed = t in _SIGNED or (t == "char" and self.profile.abi.char_signed)
        return _struct.Struct((_FMT_SIGNED if signed else _FMT_UNSIGNED)[size])

    def element(self, elem_type: str, elem_size: int) -> tuple:
        """How to read one array element: a scalar, or a view of a known struct."""
        st = self.profile.structs.get(elem_type)
        if st is not None:
            inner = self.wrapper_member(st)
            if inner is not None:
                return (_SCALAR, 0, self.scalar_format(inner.ctype, inner.size))
            return (_SUB, 0, st.name)
        fmt = self.scalar_format(elem_type, elem_size)
        if fmt is None:
            raise SpecError(f"cannot read array elements of type {elem_type!r} ({elem_size} bytes)")
        return (_SCALAR, 0, fmt)

    @staticmethod
    def wrapper_member(st: Struct) -> Field | None:
        """The single member of a wrapper struct like _PyStackRef, else None."""
        if len(st.fields) == 1:
            (f,) = st.fields.values()
            if f.offset == 0 and f.size == st.size and f.width is None:
                return f
        return None

    def get(self, st: Struct, path: str) -> tuple:
        key = (st.name, path)
        codec = self.cache.get(key)
        if codec is None:
            codec = self.cache[key] = self._build(st, path)
        return codec

    def _build(self, st: Struct, path: str) -> tuple:
        f = st.field(path)
        if f.width is not None:
            nbytes = (f.bit + f.width + 7) // 8
            return (_BITS, f.offset, nbytes, f.bit, f.width)
        if f.array_length is not None:
            elem_type = _strip_array(f.ctype)
            return (_ARRAY, f.offset, f.element_size, self.element(elem_type, f.element_size))
        children = [c for p, c in st.fields.items() if p.startswith(f.path + ".")]
        if children:
            same = [c for c in children if c.offset == f.offset and c.size == f.size and c.width is None]
            if len(children) == 1 and same:
                fmt = self.scalar_format(same[0].ctype, same[0].size)
                if fmt is not None:
                    return (_SCALAR, f.offset, fmt)
            return (_SUB, f.offset, f.path)
        named = self.profile.structs.get(f.ctype)
        if named is not None:
            inner = self.wrapper_member(named)
            if inner is not None:
                return (_SCALAR, f.offset, self.scalar_format(inner.ctype, inner.size))
            return (_SUB, f.offset, ("struct", named.name))
        fmt = self.scalar_format(f.ctype, f.size)
        if fmt is None:
            raise SpecError(f"{st.name}.{f.path}: no scalar reading for {f.ctype!r} ({f.size} bytes)")
        return (_SCALAR, f.offset, fmt)


_codec_tables: dict[int, _Codecs] = {}


def _codecs(profile: Profile) -> _Codecs:
    c = _codec_tables.get(id(profile))
    if c is None or c.profile is not profile:
        c = _codec_tables[id(profile)] = _Codecs(profile)
    return c


# (profile, struct, prefix) -> the _Members of _codecs(profile), found with one look-up per view.
_member_tables: dict[tuple[Profile, str, str], _Members] = {}


def _members(profile: Profile, struct_name: str, prefix: str) -> _Members:
    table = _member_tables.get((profile, struct_name, prefix))
    if table is None:
        table = _member_tables[profile, struct_name, prefix] = \
            _codecs(profile).members_of(struct_name, prefix)
    return table


class _Members(dict):
    """Member name -> codec, as the views of one struct (``prefix`` "": the whole struct) or of
    one of its sub-structs see them: a codec's offset counts from the view's address, which is
    ``base`` bytes into the outermost struct. Filled as members are asked for (``codec``)."""

    __slots__ = ("codecs", "struct", "prefix", "base")

    def __init__(self, codecs: _Codecs, st: Struct, prefix: str, base: int):
        super().__init__()
        self.codecs = codecs
        self.struct = st
        self.prefix = prefix
        self.base = base

    def codec(self, name: str) -> tuple:
        """The codec of member ``name`` (a path under ``prefix``), made and kept on first use."""
        codec = self.codecs.get(self.struct, f"{self.prefix}.{name}" if self.prefix else name)
        if self.base:
            codec = (codec[0], codec[1] - self.base) + codec[2:]
        self[name] = codec
        return codec


class View:
    """A struct of type ``struct_name`` at ``address``. Attribute or item access by field path."""

    __slots__ = ("_memory", "_members", "address")

    def __init__(self, memory: Memory, profile: Profile, struct_name: str, address: int, _prefix: str = ""):
        # ``address`` is where this view's struct starts: for a sub-struct view (``_prefix``,
        # made by get()), the sub-struct's own address.
        object.__setattr__(self, "_memory", memory)
        object.__setattr__(self, "_members", _members(profile, struct_name, _prefix))
        object.__setattr__(self, "address", address)

    @property
    def _profile(self) -> Profile:
        return self._members.codecs.profile

    @property
    def _struct(self) -> Struct:
        return self._members.struct

    @property
    def _prefix(self) -> str:
        return self._members.prefix

    @property
    def struct_name(self) -> str:
        return self._struct.name

    def __repr__(self) -> str:
        sub = f".{self._prefix}" if self._prefix else ""
        return f"<{self._struct.name}{sub} view at {self.address:#x}>"

    def _path(self, name: str) -> str:
        return f"{self._prefix}.{name}" if self._prefix else name

    def _codec(self, name: str) -> tuple:
        # get and set look in self._members first: this makes a member's codec on first use.
        try:
            return self._members.codec(name)
        except SpecError as err:
            raise RuntimeModelError(err.why, f"{self._struct.name} at {self.address:#x}") from None

    def offset_of(self, name: str) -> int:
        """Offset of a member from the start of the outermost struct."""
        return self._struct.field(self._path(name)).offset

    def addr_of(self, name: str) -> int:
        return self._outer_address() + self.offset_of(name)

    def _outer_address(self) -> int:
        return self.address - self._members.base

    def get(self, name: str) -> Any:
        codec = self._members.get(name) or self._codec(name)
        kind = codec[0]
        addr = self.address + codec[1]
        mem = self._memory
        if kind == _SCALAR:
            fmt = codec[2]
            r = mem._last  # Memory.region_at's own first test, inline: this is a hot path
            if r is None or not (r.base <= addr and addr + fmt.size <= r.end):
                r = mem.region_at(addr, fmt.size)
            return fmt.unpack_from(r.view, addr - r.base)[0]
        if kind == _BITS:
            _, _, nbytes, bit, width = codec
            word = int.from_bytes(mem.read(addr, nbytes), "little")
            return (word >> bit) & ((1 << width) - 1)
        if kind == _ARRAY:
            return ArrayView(mem, self._profile, addr, codec[2], codec[3])
        target = codec[2]
        if isinstance(target, tuple):  # a member whose type is another known struct
            return View(mem, self._profile, target[1], addr)
        return View(mem, self._profile, self._struct.name, addr, target)

    def set(self, name: str, value: Any) -> None:
        codec = self._members.get(name) or self._codec(name)
        kind = codec[0]
        addr = self.address + codec[1]
        mem = self._memory
        if kind == _SCALAR:
            _store(mem, codec[2], addr, value, self, name)
        elif kind == _BITS:
            _, _, nbytes, bit, width = codec
            if not 0 <= int(value) < 1 << width:
                raise RuntimeModelError(f"{value!r} does not fit the {width}-bit field {self._struct.name}.{self._path(name)}")
            word = int.from_bytes(mem.read(addr, nbytes), "little")
            mask = ((1 << width) - 1) << bit
            word = (word & ~mask) | (int(value) << bit)
            mem.write(addr, word.to_bytes(nbytes, "little"))
        else:
            raise RuntimeModelError(f"{self._struct.name}.{self._path(name)} is not a scalar; assign its members")

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self.get(name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "address":
            object.__setattr__(self, name, value)
        else:
            self.set(name, value)

    __getitem__ = get
    __setitem__ = set


def _what(view: View | StructBuffer | None, name: str | int) -> str:
    """The member a store is to, for its error message: ``view``'s field ``name``, or (no view)
    array element ``name``."""
    return f"array element {name}" if view is None else f"{view._struct.name}.{view._path(name)}"


def _fit(fmt: _struct.Struct, value: Any, view: View | StructBuffer | None, name: str | int) -> Any:
    """``value`` as ``fmt`` stores it: a negative int in an unsigned member is its two's
    complement, if it fits the signed range of the member's size."""
    if isinstance(value, int) and value < 0 and fmt.format[-1] in "BHIQ":
        bits = fmt.size * 8
        if value < -(1 << (bits - 1)):
            raise RuntimeModelError(f"{value} does not fit {_what(view, name)} ({fmt.size} bytes)")
        value &= (1 << bits) - 1
    return value


def _store(mem: Memory, fmt: _struct.Struct, addr: int, value: Any, view: View | None,
           name: str | int) -> None:
    """Store ``value`` as ``fmt`` at ``addr``; ``view`` and ``name`` name the member only if it
    does not fit (see _what), so a store formats no text."""
    value = _fit(fmt, value, view, name)
    r = mem._last  # Memory.region_at's own first test, inline: this is a hot path
    if r is None or not (r.base <= addr and addr + fmt.size <= r.end):
        r = mem.region_at(addr, fmt.size)
    try:
        fmt.pack_into(r.view, addr - r.base, value)
    except _struct.error:
        raise RuntimeModelError(f"{value!r} does not fit {_what(view, name)} ({fmt.size} bytes)") from None
    d = mem._dirty                  # Memory._touch, inline
    if d is not None:
        d.add(addr >> PAGE_SHIFT)
        d.add((addr + fmt.size - 1) >> PAGE_SHIFT)


class StructBuffer:
    """A struct's bytes built in a bytearray, to be written to memory at once: members are set by
    name (``b["co_stacksize"] = 5``) with the conversions and checks of View.set, for scalars and
    bitfields. ``data`` holds the struct from offset 0 (and may run past it, e.g. a code object's
    bytecode)."""

    __slots__ = ("data", "_struct", "_members")

    def __init__(self, profile: Profile, struct_name: str, data: bytearray):
        self.data = data
        self._members = _members(profile, struct_name, "")
        self._struct = self._members.struct

    def _path(self, name: str) -> str:  # for _what: members are named from the top
        return name

    def __setitem__(self, name: str, value: Any) -> None:
        codec = self._members.get(name)
        if codec is None:
            try:
                codec = self._members.codec(name)
            except SpecError as err:
                raise RuntimeModelError(err.why, f"{self._struct.name} being built") from None
        kind, at = codec[0], codec[1]
        if kind == _SCALAR:
            fmt = codec[2]
            value = _fit(fmt, value, self, name)
            try:
                fmt.pack_into(self.data, at, value)
            except _struct.error:
                raise RuntimeModelError(f"{value!r} does not fit {_what(self, name)} ({fmt.size} bytes)") from None
        elif kind == _BITS:
            _, _, nbytes, bit, width = codec
            if not 0 <= int(value) < 1 << width:
                raise RuntimeModelError(f"{value!r} does not fit the {width}-bit field {_what(self, name)}")
            word = int.from_bytes(self.data[at:at + nbytes], "little")
            mask = ((1 << width) - 1) << bit
            self.data[at:at + nbytes] = ((word & ~mask) | (int(value) << bit)).to_bytes(nbytes, "little")
        else:
            raise RuntimeModelError(f"{_what(self, name)} is not a scalar; assign its members")


class ArrayView:
    """Elements of a C array member. No bounds: flexible arrays (``ob_item[1]``) run past their
    declared length by design; memory that is not mapped still raises RuntimeModelError."""

    __slots__ = ("_memory", "_profile", "address", "element_size", "_codec")

    def __init__(self, memory: Memory, profile: Profile, address: int, element_size: int, codec: tuple):
        self._memory = memory
        self._profile = profile
        self.address = address
        self.element_size = element_size
        self._codec = codec

    def __repr__(self) -> str:
        return f"<array at {self.address:#x}, {self.element_size}-byte elements>"

    def addr_of(self, i: int) -> int:
        return self.address + i * self.element_size

    def __getitem__(self, i: int) -> Any:
        addr = self.address + i * self.element_size
        kind, _, target = self._codec
        if kind == _SCALAR:
            r = self._memory.region_at(addr, target.size)
            return target.unpack_from(r.view, addr - r.base)[0]
        return View(self._memory, self._profile, target, addr)

    def __setitem__(self, i: int, value: Any) -> None:
        kind, _, target = self._codec
        if kind != _SCALAR:
            raise RuntimeModelError("array elements are structs; assign their members")
        _store(self._memory, target, self.address + i * self.element_size, value, None, i)

    def read(self, n: int) -> list:
        return [self[i] for i in range(n)]
