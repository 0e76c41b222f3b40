"""The two Unicorn machines that run machine code inside the emulated CPython process.

A :class:`Machine` is one Unicorn CPU (x86-64, or AArch64 with the ``max`` CPU model) bound to one
:class:`~refjit.runtime.process.Process`. It is built once: every region of the process is mapped
with ``mem_map_ptr`` onto the region's own ctypes buffer, so the C-function models, the object
views and the emulated code all see the same bytes and nothing is copied per run. A run then only
resets the registers, points the argument registers at the frame, and starts the CPU.

Entry is exactly the interpreter's (FACTS b.3): the shim is called with the C ABI as
``jit_code(frame, stack_pointer, tstate)`` and a return address that is a *return trap* (the last
slot of the stub page, passed to Unicorn as the address to stop at). Reaching the trap ends the
run with the returned ``_Py_CODEUNIT *``; the shim's C ABI is checked there (stack pointer back,
callee-saved registers, seeded at entry, unchanged). A jump to the ``jit_side_entry`` of another
executor (one with no code mapped here, as ``_EXIT_TRACE`` makes it after setting
``tstate->current_executor``) ends the run as a side exit into that executor.

Calls into the stub page are served by one code hook restricted to that page: it reads the
arguments as the C ABI places them (by the model's signature), checks the stack alignment the ABI
promises at a call, runs the Python model, writes the result, clobbers every caller-saved register
with a recognisable poison and returns to the caller. Code that keeps a value in a caller-saved
register across a call therefore fails visibly instead of working by accident.

Poison values: integer register number ``n`` gets ``0xbad0bad0bad000nn`` (non-canonical on x86-64,
unmapped on AArch64, so a dereference faults; note Unicorn reports x86-64 fault addresses masked
to 48 bits, i.e. ``0xbad0bad000nn``); vector registers get ``0xbad0bad0bad0bad0`` in every lane
(a NaN when read as a double); the shim's callee-saved registers are seeded with ``0xc5ed...``
values and checked at the return trap.

Instructions are counted exactly with a block hook: each translated block is decoded once with
capstone, its instruction count cached by address; a block that faults midway counts only the
instructions before the faulting one. The same hook enforces the instruction budget, so a run
never hangs. Every fault becomes an :class:`~refjit.errors.EmulationError` that names the uop
(from the linker's pc map), the pc, the faulting address and the instruction.

Unicorn keeps translated code across runs. The machine remembers the bytes of every block it has
seen translated and, before each run, compares them with memory: code rewritten in place (a new
trace linked into the same "jit" region) has its translations dropped with ``ctl_remove_cache``.

The CPU's stores bypass :class:`~refjit.runtime.memory.Memory`'s books of dirty pages, so the
machine keeps its own: it fills Unicorn's TLB itself (``UC_TLB_VIRTUAL``, addresses mapped as the
CPU's own TLB maps them), entering a page read-only until a store asks for it again; every run
starts with a TLB flush, and the pages stored to are handed to ``Memory.mark_dirty`` at its end.
A restore after a run then copies those pages instead of every region.
"""

from __future__ import annotations

import bisect
import ctypes
import struct
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from unicorn import Uc
from unicorn import arm64_const as A64
from unicorn import unicorn_const as UC
from unicorn import x86_const as X86
# The binding's per-access wrappers (register-class lookup, nested callback trampolines) cost about
# 2 µs per register access; the hot paths below call libunicorn directly through the binding's own
# loaded library and callback types. unicorn is pinned to 2.1.x in pyproject.toml.
from unicorn.unicorn_py3.unicorn import (
    HOOK_CODE_CFUNC,
    HOOK_INTR_CFUNC,
    HOOK_MEM_INVALID_CFUNC,
    HOOK_TLB_FILL_CFUNC,
    uclib,
)

from refjit.disasm import disassemble, disassemble_one, instruction_count
from refjit.errors import EmulationError, RefjitError
from refjit.outcome import Ending, Outcome, build_outcome
from refjit.runtime.cfuncs import FatalError
from refjit.runtime.memory import PAGE_SHIFT

MASK64 = (1 << 64) - 1
DEFAULT_BUDGET = 50_000_000
INT_POISON = 0xBAD0BAD0BAD00000
VEC_POISON = 0xBAD0BAD0BAD0BAD0
SAVED_SEED = 0xC5ED0000C5ED0000
STACK_HEADROOM = 256          # bytes left unused above the entry stack pointer
TRAP_SLOT = 16                 # the return trap is the last 16 bytes of the stub page
MAX_COUNTED_BLOCKS = 1 << 16    # bound on the block-bytes -> instruction count memo

# ---------------------------------------------------------------------------------------------
# The two ISAs, as data: which registers carry what under the C ABI and the JIT's entry contract.


@dataclass(frozen=True)
class Isa:
    name: str
    uc_arch: int
    uc_mode: int
    uc_cpu: int | None
    pc: int
    sp: int
    entry_args: tuple[int, int, int]      # (frame, stack_pointer, tstate), C ABI argument registers
    link: int | None                      # register holding the return address (AArch64 LR)
    int_args: tuple[int, ...]             # C ABI integer/pointer argument registers, in order
    fp_args: tuple[int, ...]              # C ABI double argument registers (64-bit views), in order
    int_result: int
    fp_result: int                        # 64-bit view of the double result register
    caller_saved: tuple[int, ...]         # integer registers any C call may clobber
    caller_saved_vec: tuple[int, ...]     # 128-bit vector registers any C call may clobber
    callee_saved: tuple[int, ...]         # registers the shim must hand back unchanged (64-bit)
    reg_names: dict[int, str]
    flags: int
    flags_poison: int                     # all condition flags set, nothing else
    sp_mod16_at_call: int                 # SP % 16 at the first instruction of a called function
    nop_width: int                        # smallest instruction size (for partial-block counting)
    # The physical address Unicorn's own TLB (no paging) gives a virtual one: x86-64 keeps its
    # low 52 bits (0xffff800000000000 reaches 0xf800000000000), AArch64 all 64 (measured on
    # Unicorn 2.1). The machine fills the TLB itself (Machine._on_tlb_fill) with the same map.
    physical_mask: int


def _x86_64() -> Isa:
    r = X86
    names = {
        r.UC_X86_REG_RAX: "rax", r.UC_X86_REG_RBX: "rbx", r.UC_X86_REG_RCX: "rcx",
        r.UC_X86_REG_RDX: "rdx", r.UC_X86_REG_RSI: "rsi", r.UC_X86_REG_RDI: "rdi",
        r.UC_X86_REG_RBP: "rbp", r.UC_X86_REG_RSP: "rsp", r.UC_X86_REG_RIP: "rip",
        **{getattr(r, f"UC_X86_REG_R{i}"): f"r{i}" for i in range(8, 16)},
    }
    return Isa(
        name="x86_64", uc_arch=UC.UC_ARCH_X86, uc_mode=UC.UC_MODE_64, uc_cpu=None,
        pc=r.UC_X86_REG_RIP, sp=r.UC_X86_REG_RSP,
        entry_args=(r.UC_X86_REG_RDI, r.UC_X86_REG_RSI, r.UC_X86_REG_RDX), link=None,
        int_args=(r.UC_X86_REG_RDI, r.UC_X86_REG_RSI, r.UC_X86_REG_RDX, r.UC_X86_REG_RCX,
                  r.UC_X86_REG_R8, r.UC_X86_REG_R9),
        fp_args=tuple(getattr(r, f"UC_X86_REG_XMM{i}") for i in range(8)),
        int_result=r.UC_X86_REG_RAX, fp_result=r.UC_X86_REG_XMM0,
        caller_saved=(r.UC_X86_REG_RAX, r.UC_X86_REG_RCX, r.UC_X86_REG_RDX, r.UC_X86_REG_RSI,
                      r.UC_X86_REG_RDI, r.UC_X86_REG_R8, r.UC_X86_REG_R9, r.UC_X86_REG_R10,
                      r.UC_X86_REG_R11),
        caller_saved_vec=tuple(getattr(r, f"UC_X86_REG_XMM{i}") for i in range(16)),
        callee_saved=(r.UC_X86_REG_RBX, r.UC_X86_REG_RBP, r.UC_X86_REG_R12, r.UC_X86_REG_R13,
                      r.UC_X86_REG_R14, r.UC_X86_REG_R15),
        reg_names=names,
        flags=r.UC_X86_REG_EFLAGS, flags_poison=0x8D5 | 0x2,   # CF PF AF ZF SF OF, reserved bit 1
        sp_mod16_at_call=8, nop_width=1, physical_mask=(1 << 52) - 1,
    )


def _aarch64() -> Isa:
    r = A64
    x = [getattr(r, f"UC_ARM64_REG_X{i}") for i in range(29)]
    names = {reg: f"x{i}" for i, reg in enumerate(x)}
    names.update({r.UC_ARM64_REG_X29: "x29", r.UC_ARM64_REG_X30: "x30", r.UC_ARM64_REG_SP: "sp",
                  r.UC_ARM64_REG_PC: "pc"})
    names.update({getattr(r, f"UC_ARM64_REG_D{i}"): f"d{i}" for i in range(32)})
    return Isa(
        name="aarch64", uc_arch=UC.UC_ARCH_ARM64, uc_mode=UC.UC_MODE_ARM, uc_cpu=r.UC_CPU_ARM64_MAX,
        pc=r.UC_ARM64_REG_PC, sp=r.UC_ARM64_REG_SP,
        entry_args=(x[0], x[1], x[2]), link=r.UC_ARM64_REG_X30,
        int_args=tuple(x[:8]),
        fp_args=tuple(getattr(r, f"UC_ARM64_REG_D{i}") for i in range(8)),
        int_result=x[0], fp_result=r.UC_ARM64_REG_D0,
        # x0-x18 (x16/x17 are the intra-procedure-call scratch registers, x18 is a temporary on Linux)
        caller_saved=tuple(x[:19]),
        # v0-v7 and v16-v31 entirely; of v8-v15 only the low 64 bits are preserved (left alone here)
        caller_saved_vec=tuple(getattr(r, f"UC_ARM64_REG_Q{i}") for i in (*range(8), *range(16, 32))),
        callee_saved=(*x[19:29], r.UC_ARM64_REG_X29,
                      *(getattr(r, f"UC_ARM64_REG_D{i}") for i in range(8, 16))),
        reg_names=names,
        flags=r.UC_ARM64_REG_NZCV, flags_poison=0xF0000000,
        sp_mod16_at_call=0, nop_width=4, physical_mask=(1 << 64) - 1,
    )


ISAS: dict[str, Callable[[], Isa]] = {"x86_64": _x86_64, "aarch64": _aarch64}
# The 128-bit registers, per ISA: Unicorn's register numbers overlap between architectures
# (x86-64 R8..R15 share their numbers with AArch64 Q2..Q9), so the set must never be merged.
WIDE_REGISTERS = {
    "x86_64": frozenset(getattr(X86, f"UC_X86_REG_XMM{i}") for i in range(16)),
    "aarch64": frozenset(getattr(A64, f"UC_ARM64_REG_Q{i}") for i in range(32)),
}


# ---------------------------------------------------------------------------------------------
# Raw register access.


class _Regs:
    """Registers read and written through libunicorn directly, singly or in prepared batches."""

    def __init__(self, uc: Uc, wide: frozenset[int]):
        self._h = uc._uch
        self.wide_registers = wide
        self._one = ctypes.c_uint64()
        self._wide = (ctypes.c_uint64 * 2)()

    def read(self, reg: int) -> int:
        if reg in self.wide_registers:
            uclib.uc_reg_read(self._h, reg, ctypes.byref(self._wide))
            return self._wide[0] | (self._wide[1] << 64)
        uclib.uc_reg_read(self._h, reg, ctypes.byref(self._one))
        return self._one.value

    def write(self, reg: int, value: int) -> None:
        if reg in self.wide_registers:
            self._wide[0] = value & MASK64
            self._wide[1] = (value >> 64) & MASK64
            uclib.uc_reg_write(self._h, reg, ctypes.byref(self._wide))
        else:
            self._one.value = value & MASK64
            uclib.uc_reg_write(self._h, reg, ctypes.byref(self._one))

    def batch(self, regs: Sequence[int]) -> "_Batch":
        return _Batch(self._h, regs, self.wide_registers)


class _Batch:
    """A fixed list of registers moved in one libunicorn call.

    Values live in one contiguous ctypes array (two 64-bit words per register when any of them
    is a 128-bit vector register), so writing and comparing them costs a single C-level copy.
    """

    def __init__(self, handle, regs: Sequence[int], wide: frozenset[int]):
        self._h = handle
        self.regs = tuple(regs)
        self._n = n = len(self.regs)
        self._wide = any(r in wide for r in self.regs)
        step = 2 if self._wide else 1
        self._arr = (ctypes.c_uint64 * (n * step))()
        base = ctypes.addressof(self._arr)
        self._ids = (ctypes.c_int * n)(*self.regs)
        self._ptrs = (ctypes.c_void_p * n)(*(base + 8 * step * i for i in range(n)))

    def write(self, values: Sequence[int]) -> None:
        if self._wide:
            words = []
            for value in values:
                words += (value & MASK64, (value >> 64) & MASK64)
            self._arr[:] = words
        else:
            self._arr[:] = values
        uclib.uc_reg_write_batch(self._h, self._ids, self._ptrs, self._n)

    def write_prepared(self) -> None:
        """Write the values already in the buffer (e.g. a constant poison pattern)."""
        uclib.uc_reg_write_batch(self._h, self._ids, self._ptrs, self._n)

    def read(self) -> list[int]:
        uclib.uc_reg_read_batch(self._h, self._ids, self._ptrs, self._n)
        if self._wide:
            a = self._arr
            return [a[2 * i] | (a[2 * i + 1] << 64) for i in range(self._n)]
        return self._arr[:]

    def read_bytes(self) -> bytes:
        uclib.uc_reg_read_batch(self._h, self._ids, self._ptrs, self._n)
        return bytes(self._arr)


# ---------------------------------------------------------------------------------------------
# Where a pc is: the linker's map of uop code ranges.


class UopMap:
    """Sorted ``(start, end, index, name)`` ranges of the uops' code, as the linker placed them."""

    def __init__(self, ranges: Iterable[tuple[int, int, int, str]] = ()):
        self.ranges = sorted(ranges)
        self._starts = [r[0] for r in self.ranges]

    def start_of(self, index: int) -> int | None:
        """First address of uop ``index``'s code (None: no such uop, or it has no code)."""
        if not hasattr(self, "_start_by_index"):
            self._start_by_index = {i: start for start, end, i, _n in self.ranges if end > start}
        return self._start_by_index.get(index)

    def name_of(self, index: int) -> str | None:
        for _s, _e, i, name in self.ranges:
            if i == index:
                return name
        return None

    def find(self, pc: int) -> tuple[int, str] | None:
        i = bisect.bisect_right(self._starts, pc) - 1
        if i >= 0:
            start, end, index, name = self.ranges[i]
            if start <= pc < end:
                return index, name
        return None


# ---------------------------------------------------------------------------------------------


_ACCESS = {
    UC.UC_MEM_READ_UNMAPPED: ("read", "unmapped"), UC.UC_MEM_WRITE_UNMAPPED: ("write", "unmapped"),
    UC.UC_MEM_FETCH_UNMAPPED: ("fetch", "unmapped"), UC.UC_MEM_READ_PROT: ("read", "protected"),
    UC.UC_MEM_WRITE_PROT: ("write", "protected"), UC.UC_MEM_FETCH_PROT: ("fetch", "protected"),
}
# Unicorn's interrupt numbers (QEMU's exception numbers) for the traps emitted code can hit.
_INTERRUPTS = {
    "x86_64": {0: "divide error", 1: "debug exception (int1)", 3: "breakpoint (int3)",
               4: "overflow (into)", 6: "invalid opcode", 13: "general protection fault",
               14: "page fault"},
    "aarch64": {1: "undefined instruction", 2: "supervisor call (svc)", 7: "breakpoint (brk)",
                8: "halt instruction (hlt)"},
}
_UC_ERRORS = {
    UC.UC_ERR_INSN_INVALID: "invalid instruction",
    UC.UC_ERR_EXCEPTION: "CPU exception (undefined instruction or breakpoint)",
    UC.UC_ERR_READ_UNALIGNED: "unaligned read", UC.UC_ERR_WRITE_UNALIGNED: "unaligned write",
    UC.UC_ERR_FETCH_UNALIGNED: "unaligned instruction fetch",
}


class _Stop(Exception):
    """Internal: raised inside a hook to end the run with an Ending (never escapes the machine)."""

    def __init__(self, ending: Ending):
        super().__init__(ending.kind)
        self.ending = ending


# uc_ctl's code for "flush the TLB" (a write with no arguments; see the binding's Uc.ctl)
_TLB_FLUSH = (UC.UC_CTL_IO_WRITE << 30) | UC.UC_CTL_TLB_FLUSH
# bytes of translated code a Machine keeps (see Machine.__init__)
TRANSLATION_BUFFER = 64 << 20


class Machine:
    """One Unicorn CPU for ``arch`` with every region of ``process`` mapped in place.

    ``run(entry, frame, stack_pointer, tstate)`` returns an :class:`~refjit.outcome.Outcome`;
    ``execute(...)`` the bare :class:`~refjit.outcome.Ending`. Faults raise EmulationError
    (with ``.outcome`` attached) unless ``raise_on_fault=False``.
    """

    def __init__(self, arch: str, process, *, budget: int = DEFAULT_BUDGET):
        if arch not in ISAS:
            raise EmulationError(f"unknown architecture {arch!r} (expected one of {', '.join(ISAS)})")
        self.arch = arch
        self.isa = isa = ISAS[arch]()
        self.process = process
        self.budget = budget
        self.uc = Uc(isa.uc_arch, isa.uc_mode, cpu=isa.uc_cpu) if isa.uc_cpu is not None \
            else Uc(isa.uc_arch, isa.uc_mode)
        # Unicorn's default buffer of translated code is 1 GiB, and a machine reused for every
        # case of a fuzz campaign fills it with code it never runs again (about 40 KB a case):
        # the process would grow by gigabytes. Past this size Unicorn flushes and retranslates.
        self.uc.ctl_set_tcg_buffer_size(TRANSLATION_BUFFER)
        # The CPU stores straight into the process's buffers, where Memory cannot see them. To
        # learn which pages a run wrote (so that the next restore copies those, not every region)
        # the machine fills Unicorn's TLB itself ("virtual" mode, see _on_tlb_fill): a page
        # entered by a load or a fetch is not writable, so the first store to each page after
        # the flush that starts a run asks again, as a write.
        self.uc.ctl_set_tlb_mode(UC.UC_TLB_VIRTUAL)
        self._written: set[int] = set()      # pages (numbers) stored to since the run began
        self._physical_mask = isa.physical_mask
        self._h = self.uc._uch
        self.regs = _Regs(self.uc, WIDE_REGISTERS[arch])

        self._regions = []           # (base, end, name, executable, region)
        for region in process.mem.regions:
            perms = _uc_perms(region)
            if region.name == "jit":
                # jit.c's mark_executable leaves the whole region (code and data) read+exec.
                perms = UC.UC_PROT_READ | UC.UC_PROT_EXEC
            self.uc.mem_map_ptr(region.base, region.size, perms, region.address_of_buffer)
            self._regions.append((region.base, region.base + region.size, region.name,
                                  bool(perms & UC.UC_PROT_EXEC), region))
        self._regions.sort(key=lambda r: r[0])
        self._region_starts = [r[0] for r in self._regions]
        stubs = self._region_named("stubs")
        cstack = self._region_named("cstack")
        self._stubs = (stubs[0], stubs[1])
        self.return_trap = stubs[1] - TRAP_SLOT
        if process.model_at(self.return_trap) is not None:
            raise EmulationError(f"the last slot of the stub page ({self.return_trap:#x}) holds "
                                 f"{process.model_at(self.return_trap).name}; it is needed as the "
                                 "return trap")
        self.stack_top = (cstack[1] - STACK_HEADROOM) & ~15
        self._trap_bytes = self.return_trap.to_bytes(8, "little")

        # The pinned stack_pointer register between uops (a side exit hands it over live).
        by_name = {name: reg for reg, name in isa.reg_names.items()}
        self._sp_reg = by_name[process.profile.abi.stack_pointer_reg]
        # Register sets used on every run and every call, prepared once.
        self._entry = self.regs.batch((*isa.entry_args, isa.sp) + ((isa.link,) if isa.link else ()))
        self._callee = self.regs.batch(isa.callee_saved)
        self._exit_state = self.regs.batch((isa.pc, isa.sp, isa.int_result, *isa.callee_saved))
        self._callee_seed = [SAVED_SEED | i for i in range(len(isa.callee_saved))]
        self._poison = self.regs.batch((*isa.caller_saved, *isa.caller_saved_vec, isa.flags))
        self._poison.write([INT_POISON | i for i in range(len(isa.caller_saved))]
                           + [VEC_POISON | (VEC_POISON << 64)] * len(isa.caller_saved_vec)
                           + [isa.flags_poison])
        self._int_args = self.regs.batch(isa.int_args)
        self._fp_args = self.regs.batch(isa.fp_args)
        # The clean register file every run starts from: everything poisoned, callee-saved seeded.
        all_int = [r for r in isa.reg_names if r not in (isa.pc,) and r not in isa.fp_args
                   and r not in isa.callee_saved and r != isa.sp]
        self.regs.batch(all_int).write([INT_POISON | (i + 0x40) for i in range(len(all_int))])
        self._poison.write_prepared()
        self._callee.write(self._callee_seed)
        self._clean = self.uc.context_save()

        # Per-run state (reset by execute).
        self._blocks: dict[int, int] = {}     # block address -> instructions in it
        # Block bytes -> instructions in them: a pure function of the bytes, so it outlives the
        # code it was learnt from (every case links new code, mostly of the same uops' bytes).
        self._counts: dict[bytes, int] = {}
        self._spans: dict[int, tuple] = {}    # region base -> (lo, hi, bytes translated, buffer at lo)
        self._count = 0
        self._last_block = self._prev_block = (0, 0)
        self._limit = budget
        self._fault: tuple | None = None      # (kind, address, size) from the memory hook
        self._intr: int | None = None
        self._stop: Ending | None = None
        self._pending: BaseException | None = None
        self._side_entries: dict[int, int] = {}
        self._tstate = self._running = 0
        self._profile_map: UopMap | None = None   # per-uop accounting, when asked for
        self._block_uops: dict[int, list] = {}
        self.uop_profile: dict[int, list[int]] = {}
        self.calls = 0                        # C-model calls served, over the machine's life

        self._hooks = []
        self._add_hook(UC.UC_HOOK_BLOCK, HOOK_CODE_CFUNC(self._on_block), 1, 0)
        self._add_hook(UC.UC_HOOK_CODE, HOOK_CODE_CFUNC(self._on_stub), stubs[0], stubs[1] - 1)
        self._add_hook(UC.UC_HOOK_MEM_INVALID, HOOK_MEM_INVALID_CFUNC(self._on_bad_access), 1, 0)
        self._add_hook(UC.UC_HOOK_INTR, HOOK_INTR_CFUNC(self._on_interrupt), 1, 0)
        self._add_hook(UC.UC_HOOK_TLB_FILL, HOOK_TLB_FILL_CFUNC(self._on_tlb_fill), 1, 0)

    # -- set-up helpers ----------------------------------------------------------------------

    def _add_hook(self, kind: int, callback, begin: int, end: int) -> None:
        handle = ctypes.c_size_t()
        err = uclib.uc_hook_add(self._h, ctypes.byref(handle), kind,
                                ctypes.cast(callback, ctypes.c_void_p), None,
                                ctypes.c_uint64(begin), ctypes.c_uint64(end))
        if err != UC.UC_ERR_OK:
            raise EmulationError(f"unicorn refused a hook (error {err})")
        self._hooks.append(callback)          # keep the ctypes trampoline alive

    def _region_named(self, name: str):
        for r in self._regions:
            if r[2] == name:
                return r
        raise EmulationError(f"the process has no {name!r} region")

    def region_of(self, address: int):
        i = bisect.bisect_right(self._region_starts, address) - 1
        if i >= 0 and address < self._regions[i][1]:
            return self._regions[i]
        return None

    def describe(self, address: int) -> str:
        """``0x7f...(jit+0x1a)``: an address with the region it falls in."""
        r = self.region_of(address)
        return f"{address:#x} ({r[2]}+{address - r[0]:#x})" if r else f"{address:#x} (unmapped)"

    # -- code cache --------------------------------------------------------------------------

    def invalidate(self, begin: int | None = None, end: int | None = None) -> None:
        """Forget translations of [begin, end) (everything by default); the next run retranslates."""
        if begin is None:
            self.uc.ctl_flush_tb()
            self._blocks.clear()
            self._spans.clear()
            return
        self.uc.ctl_remove_cache(begin, end)
        for addr in [a for a in self._blocks if begin <= a < end]:
            del self._blocks[addr]

    def _sync_code(self) -> None:
        # Code rewritten since it was translated (a new trace linked into the same region) must not
        # run from Unicorn's stale translations: compare what was translated with memory.
        for base, (lo, hi, seen, buffer) in list(self._spans.items()):
            if ctypes.string_at(buffer, hi - lo) != seen:
                self.uc.ctl_remove_cache(lo, hi)
                for addr in [a for a in self._blocks if lo <= a < hi]:
                    del self._blocks[addr]
                del self._spans[base]

    def _learn_block(self, address: int, size: int) -> int:
        region = self.region_of(address)
        if region is None or region[0] == self._stubs[0]:
            self._blocks[address] = 0                 # stubs run Python models, not instructions
            return 0
        base, _end, _name, _x, reg = region
        span = self._spans.get(base)
        lo = address if span is None else min(span[0], address)
        hi = address + size if span is None else max(span[1], address + size)
        at = reg.address_of_buffer + (lo - base)
        seen = ctypes.string_at(at, hi - lo)
        self._spans[base] = (lo, hi, seen, at)
        code = seen[address - lo:address - lo + size]      # the block's bytes, within the span's
        n = self._counts.get(code)
        if n is None:
            if len(self._counts) >= MAX_COUNTED_BLOCKS:
                self._counts.clear()
            n = self._counts[code] = instruction_count(self.arch, code)
        self._blocks[address] = n
        return n

    def _account(self, address: int, size: int) -> None:
        # Per-uop accounting: a block may span several uops (stencils fall through into the next
        # one), so each block is split by the uop map once and its parts are added up per run.
        parts = self._block_uops.get(address)
        if parts is None:
            parts = {}
            region = self.region_of(address)
            if region is not None and region[0] != self._stubs[0]:
                code = ctypes.string_at(region[4].address_of_buffer + (address - region[0]), size)
                for a in _instruction_addresses(self.arch, code, address):
                    found = self._profile_map.find(a)
                    index = found[0] if found else None
                    entry = parts.setdefault(index, [0, 0])
                    entry[1] += 1
                    if found and a == self._profile_map.start_of(index):
                        entry[0] += 1
            parts = self._block_uops[address] = list(parts.items())
        profile = self.uop_profile
        for index, (entered, n) in parts:
            counts = profile.get(index)
            if counts is None:
                profile[index] = [entered, n]
            else:
                counts[0] += entered
                counts[1] += n

    # -- hooks (called by libunicorn; every exception is caught and re-raised after the run) --

    def _on_block(self, _h, address: int, size: int, _user) -> None:
        try:
            n = self._blocks.get(address)
            if n is None:
                n = self._learn_block(address, size)
            self._prev_block, self._last_block = self._last_block, (address, size)
            self._count += n
            if self._profile_map is not None:
                self._account(address, size)
            if self._count > self._limit:
                raise _Stop(Ending.fault(
                    f"instruction budget of {self._limit} exceeded", pc=address, what="budget"))
        except _Stop as stop:
            self._stop = stop.ending
            uclib.uc_emu_stop(self._h)
        except BaseException as exc:  # a bug in Python code must surface, not vanish in ctypes
            self._pending = exc
            uclib.uc_emu_stop(self._h)

    def _on_stub(self, _h, address: int, _size: int, _user) -> None:
        try:
            if address in self._side_entries:
                # The stub's own block has just started: the jump came from the one before.
                self._stop = Ending.side_exit(self._side_entries[address],
                                              stack_pointer=self.regs.read(self._sp_reg),
                                              from_executor=self._executor_at(self._prev_block[0]))
            else:
                self._call_model(address)
                return
        except _Stop as stop:
            self._stop = stop.ending
        except BaseException as exc:
            self._pending = exc
        uclib.uc_emu_stop(self._h)

    def _on_tlb_fill(self, _h, address: int, access: int, entry, _user) -> bool:
        # Addresses map as the CPU's own TLB maps them (no paging: Isa.physical_mask). Unicorn
        # still checks each access against the regions' mappings and permissions, so an unmapped
        # or protected access faults as before; these perms only decide when the hook runs again.
        try:
            e = entry[0]
            e.paddr = physical = address & self._physical_mask
            if access == UC.UC_MEM_WRITE:
                self._written.add(physical >> PAGE_SHIFT)
                e.perms = UC.UC_PROT_ALL
            else:
                e.perms = UC.UC_PROT_READ | UC.UC_PROT_EXEC   # a store must come back here
        except BaseException as exc:
            self._pending = exc
            uclib.uc_emu_stop(self._h)
        return True

    def _on_bad_access(self, _h, access: int, address: int, size: int, _value: int, _user) -> bool:
        try:
            if access == UC.UC_MEM_FETCH_UNMAPPED or access == UC.UC_MEM_FETCH_PROT:
                target = self.regs.read(self.isa.pc)    # the full address (x86 faults are masked)
                executor = self._side_entries.get(target) or self._entered_executor(target)
                if executor:
                    # No block started at the unmapped target: the last one is the jump's.
                    self._stop = Ending.side_exit(executor, stack_pointer=self.regs.read(self._sp_reg),
                                                  from_executor=self._executor_at(self._last_block[0]))
                    return False
            self._fault = (access, address, size)
        except BaseException as exc:
            self._pending = exc
        return False

    def _entered_executor(self, target: int) -> int | None:
        """GOTO_TIER_TWO into an executor with no code here: ``_EXIT_TRACE`` has just set
        ``tstate->current_executor`` to it and jumped to its ``jit_side_entry`` (maybe NULL)."""
        if not self._tstate:
            return None
        mem, off = self.process.mem, self.process.profile.offset
        current = mem.u64(self._tstate + off("PyThreadState", "current_executor"))
        if not current or current == self._running or not self.process.heap.owns(current):
            return None
        block = self.process.heap.block_at(current)
        if block is None or block.address != current or block.type != "uop_executor":
            return None
        if mem.u64(current + off("_PyExecutorObject", "jit_side_entry")) != target:
            return None
        return current

    def _executor_at(self, pc: int) -> int | None:
        """The live executor whose linked code holds ``pc``: the one whose ``_EXIT_TRACE`` took a
        side exit from there (None: ``pc`` is in no executor's code)."""
        off = self.process.profile.offset
        code, size = off("_PyExecutorObject", "jit_code"), off("_PyExecutorObject", "jit_size")
        mem = self.process.mem
        for block in self.process.heap.live():
            if block.type == "uop_executor":
                start = mem.u64(block.address + code)
                if start <= pc < start + mem.u64(block.address + size):
                    return block.address
        return None

    def _on_interrupt(self, _h, intno: int, _user) -> None:
        self._intr = intno
        uclib.uc_emu_stop(self._h)

    # -- calls into the stub page -------------------------------------------------------------

    def _call_model(self, address: int) -> None:
        isa, regs = self.isa, self.regs
        sp = regs.read(isa.sp)
        if isa.link is None:
            ret = int.from_bytes(self._read(sp, 8), "little")
            caller_pc = ret
        else:
            ret = regs.read(isa.link)
            caller_pc = ret - 4
        model = self.process.model_at(address)
        if model is None:
            raise _Stop(self._fault_at(caller_pc, f"jump into the stub page at {address:#x}, "
                                       "where no C function lives", address=address, call=True))
        if sp % 16 != isa.sp_mod16_at_call:
            want = "8 mod 16 after the call pushed its return address" if isa.link is None \
                else "a multiple of 16"
            raise _Stop(self._fault_at(caller_pc, f"stack misaligned at the call to {model.name}: "
                                       f"{'rsp' if isa.link is None else 'sp'} = {sp:#x}, "
                                       f"must be {want}", address=sp, call=True, what="alignment"))
        args = self._arguments(model)
        try:
            result = model.fn(self.process, *args)
        except FatalError as err:
            raise _Stop(self._fault_at(caller_pc, str(err), call=True, what="fatal",
                                       callee=model.name)) from None
        except RefjitError as err:
            # A model refusing: no model yet, a bad pointer, a misuse of the process. The bare
            # reason is the message (as the semantics reports it); the callee goes with the place.
            raise _Stop(self._fault_at(caller_pc, str(err), call=True, what="model",
                                       callee=model.name)) from None
        self.calls += 1
        self._poison.write_prepared()
        self._set_result(model, result)
        if isa.link is None:
            regs.write(isa.sp, sp + 8)
        regs.write(isa.pc, ret)

    def _arguments(self, model) -> list:
        ints = iter(self._int_args.read()) if any(t != "double" for t in model.argtypes) else None
        fps = iter(self._fp_args.read()) if "double" in model.argtypes else None
        args: list = []
        try:
            for t in model.argtypes:
                if t == "double":
                    args.append(struct.unpack("<d", struct.pack("<Q", next(fps) & MASK64))[0])
                    continue
                v = next(ints)
                if t == "ptr":
                    args.append(v)
                elif t == "int":
                    args.append(v - (1 << 64) if v >> 63 else v)
                elif t == "i32":
                    v &= 0xFFFFFFFF
                    args.append(v - (1 << 32) if v >> 31 else v)
                elif t == "u32":
                    args.append(v & 0xFFFFFFFF)
                else:
                    raise EmulationError(f"{model.name}: unknown argument type {t!r}")
        except StopIteration:
            raise EmulationError(f"{model.name} takes more register arguments than the C ABI "
                                 "passes in registers; stack arguments are not modelled") from None
        return args

    def _set_result(self, model, result) -> None:
        isa, t = self.isa, model.restype
        if t == "void":
            return
        if result is None:
            raise EmulationError(f"the model of {model.name} returned nothing for a {t} result")
        if t == "double":
            bits = struct.unpack("<Q", struct.pack("<d", float(result)))[0]
            self.regs.write(isa.fp_result, bits | ((VEC_POISON << 64) if isa.link is None else 0))
        elif t in ("ptr", "int"):
            self.regs.write(isa.int_result, int(result) & MASK64)
        elif t in ("i32", "u32"):
            # The C ABI leaves the upper half of a 32-bit result undefined: keep it poisoned.
            self.regs.write(isa.int_result, (INT_POISON & ~0xFFFFFFFF) | (int(result) & 0xFFFFFFFF))
        else:
            raise EmulationError(f"{model.name}: unknown result type {t!r}")

    # -- the end of a run ---------------------------------------------------------------------

    def _returned(self, state: list[int]) -> Ending:
        """The shim returned to the trap; ``state`` is the ``_exit_state`` batch (pc, sp, result,
        callee-saved registers) read in one call."""
        isa = self.isa
        sp, value = state[1], state[2]
        expect = self._entry_sp + (8 if isa.link is None else 0)
        # The C ABI of the shim: the caller's stack pointer and callee-saved registers come back.
        if sp != expect:
            raise _Stop(self._fault_at(self._last_instruction_of_block(), f"returned to the caller "
                                       f"with the stack pointer at {sp:#x} instead of {expect:#x}",
                                       what="abi"))
        if state[3:] != self._callee_seed:
            for reg, got, want in zip(isa.callee_saved, state[3:], self._callee_seed):
                if got != want:
                    raise _Stop(self._fault_at(self._last_instruction_of_block(),
                                               f"returned without restoring the callee-saved "
                                               f"register {isa.reg_names[reg]} ({got:#x} instead "
                                               f"of {want:#x})", what="abi"))
        return Ending("tier1" if value else "error", returned=value, instructions=self._count)

    def _read(self, address: int, n: int) -> bytes:
        r = self.region_of(address)
        if r is None or address + n > r[1]:
            raise _Stop(Ending.fault(f"stack pointer {address:#x} is outside mapped memory",
                                     pc=self.regs.read(self.isa.pc), address=address, what="abi"))
        return ctypes.string_at(r[4].address_of_buffer + (address - r[0]), n)

    def _instruction_at(self, pc: int) -> str:
        r = self.region_of(pc)
        if r is None:
            return "(unmapped)"
        code = ctypes.string_at(r[4].address_of_buffer + (pc - r[0]), min(16, r[1] - pc))
        insn = disassemble_one(self.arch, code, pc)
        return insn.text if insn else f".byte {code[:self.isa.nop_width].hex()}"

    def _call_instruction(self, ret: int) -> tuple[int, str]:
        """The call instruction that returns to ``ret``: (its address, its text)."""
        if self.isa.link is not None:
            return ret, self._instruction_at(ret)   # caller_pc is already LR - 4
        for length in (6, 5, 2, 3, 7):
            pc = ret - length
            r = self.region_of(pc)
            if r is None:
                continue
            code = ctypes.string_at(r[4].address_of_buffer + (pc - r[0]), length)
            insn = disassemble_one(self.arch, code, pc)
            if insn is not None and len(insn.data) == length and insn.mnemonic.startswith("call"):
                return pc, insn.text
        return ret, "(call)"

    def _fault_at(self, pc: int, why: str, *, address: int | None = None, call: bool = False,
                  what: str = "fault", callee: str | None = None) -> Ending:
        if call:
            pc, text = self._call_instruction(pc)
        else:
            text = self._instruction_at(pc)
        return Ending.fault(why, pc=pc, address=address, instruction=text, what=what, callee=callee)

    def _ending_from_error(self, err: int) -> Ending:
        pc = self.regs.read(self.isa.pc)
        if self._fault is not None:
            access, address, size = self._fault
            verb, state = _ACCESS.get(access, ("access", "invalid"))
            if verb == "fetch":
                # The pc is the bad target itself; the culprit is the last instruction of the last
                # block that ran (the jump, call or return that went there).
                # (Unicorn masks x86-64 fault addresses to 48 bits; the pc has the full target.)
                culprit = self._last_instruction_of_block()
                address = pc
                why = f"jump to {state} address {self.describe(address)}"
                if culprit is None:
                    return Ending.fault(why, pc=None, address=address, what="jump")
                return self._fault_at(culprit, why, address=address, what="jump")
            return self._fault_at(pc, f"{verb} of {size} bytes at {state} address "
                                      f"{self.describe(address)}", address=address)
        if self._intr is not None:
            # x86 int3 leaves the pc after the instruction; step back for the report.
            at = pc - 1 if self.isa.link is None and self._intr == 3 else pc
            what = _INTERRUPTS[self.arch].get(self._intr, "CPU exception")
            return self._fault_at(at, f"{what} (exception {self._intr})")
        if err == UC.UC_ERR_OK:
            # Unicorn stopped by itself somewhere other than the trap: x86 `hlt`.
            at = pc - 1 if self.isa.link is None and pc else pc
            return self._fault_at(at, "execution stopped without returning (hlt)")
        return self._fault_at(pc, _UC_ERRORS.get(err, f"unicorn error {err}"))

    def _last_instruction_of_block(self) -> int | None:
        start, size = self._last_block
        r = self.region_of(start) if size else None
        if r is None:
            return None
        code = ctypes.string_at(r[4].address_of_buffer + (start - r[0]), size)
        last = None
        for last in _instruction_addresses(self.arch, code, start):
            pass
        return last

    def _partial_count(self, pc: int) -> None:
        # The last block did not run to its end: count only the instructions before ``pc``.
        start, size = self._last_block
        if not (start <= pc < start + size):
            return
        r = self.region_of(start)
        if r is None:
            return
        code = ctypes.string_at(r[4].address_of_buffer + (start - r[0]), size)
        done = sum(1 for a in _instruction_addresses(self.arch, code, start) if a < pc)
        self._count -= self._blocks.get(start, 0) - done

    # -- running ------------------------------------------------------------------------------

    def execute(self, entry: int, frame: int, stack_pointer: int, tstate: int, *,
                budget: int | None = None, side_entries: dict[int, int] | None = None,
                executor: int | None = None, profile: "UopMap | None" = None) -> Ending:
        """Call ``entry(frame, stack_pointer, tstate)`` with the C ABI and say how it ended.

        A jump to the ``jit_side_entry`` of an executor other than ``executor`` (the running
        one) that has no code mapped here ends the run as a side exit into it."""
        isa = self.isa
        if self._spans:
            self._sync_code()
        self.uc.context_restore(self._clean)
        sp = self.stack_top
        if isa.link is None:
            sp -= 8                                    # the call pushed the return address
            self.process.mem.write(sp, self._trap_bytes)
            self._entry.write((frame, stack_pointer, tstate, sp))
        else:
            self._entry.write((frame, stack_pointer, tstate, sp, self.return_trap))
        self._entry_sp = sp
        self._count = 0
        self._last_block = self._prev_block = (0, 0)
        self._limit = self.budget if budget is None else budget
        self._fault = self._intr = self._stop = self._pending = None
        self._side_entries = side_entries or {}
        self._tstate, self._running = tstate, executor
        if profile is not None or self._profile_map is not None:
            self._profile_map, self._block_uops, self.uop_profile = profile, {}, {}
        # Every page starts unwritable in the TLB: the first store to each reaches _on_tlb_fill.
        uclib.uc_ctl(self._h, _TLB_FLUSH)
        self._written.clear()
        # Unicorn stops by itself, before executing anything there, when the pc reaches the trap.
        try:
            err = uclib.uc_emu_start(self._h, entry, self.return_trap, 0, 0)
        finally:
            self.process.mem.mark_dirty(self._written)   # the CPU's stores, for the next restore
        if self._pending is not None:
            exc, self._pending = self._pending, None
            raise exc
        ending = self._stop
        if ending is None:
            state = self._exit_state.read() if err == UC.UC_ERR_OK else None
            if state is not None and state[0] == self.return_trap:
                try:
                    return self._returned(state)
                except _Stop as stop:
                    ending = stop.ending
            else:
                ending = self._ending_from_error(err)
                if ending.pc is not None and ending.what == "fault":
                    self._partial_count(ending.pc)   # the CPU stopped inside a block
        return ending.counted(self._count)

    def run(self, entry: int, frame: int, stack_pointer: int, tstate: int, *,
            executor: int | None = None, uop_map: UopMap | Sequence | None = None,
            budget: int | None = None, side_entries: dict[int, int] | None = None,
            raise_on_fault: bool = True, per_uop: bool = False) -> Outcome:
        """Run and describe the result as an Outcome.

        ``executor`` is the running executor (its exits name a side exit); ``side_entries`` maps
        the ``jit_side_entry`` address of every *other* executor to that executor (by default
        taken from the process). Faults raise EmulationError with the Outcome attached as
        ``.outcome`` unless ``raise_on_fault`` is false. With ``per_uop`` (needs ``uop_map``),
        ``self.uop_profile`` maps each uop index to [times entered, instructions executed]
        afterwards (index -1: the shim; None: code outside the map; a faulting block counts whole;
        uops without code, such as _START_EXECUTOR, never appear).
        """
        if side_entries is None:
            side_entries = _other_side_entries(self.process, executor)
        if per_uop:
            if uop_map is None:
                raise EmulationError("per-uop accounting needs the linker's uop map (uop_map=)")
            if not isinstance(uop_map, UopMap):
                uop_map = UopMap(uop_map)
        # Otherwise a plain sequence stays one: _locate and listing make the UopMap when a
        # fault asks where it was (most runs never look a pc up).
        ending = self.execute(entry, frame, stack_pointer, tstate, budget=budget,
                              side_entries=side_entries, executor=executor,
                              profile=uop_map if per_uop else None)
        if ending.kind == "fault" or ending.kind == "fatal":
            ending = ending.located(self._locate(ending.pc, uop_map))
        outcome = build_outcome(self.process, ending, frame=frame, tstate=tstate, executor=executor)
        if raise_on_fault and ending.kind in ("fault", "fatal"):
            err = EmulationError(ending.full_message(), where=ending.location)
            err.outcome = outcome
            err.pc, err.address, err.instruction = ending.pc, ending.address, ending.instruction
            err.uop_index, err.uop_name = ending.uop_index, ending.uop_name
            err.registers = self.registers()
            err.listing = self.listing(ending.pc, uop_map)
            raise err
        return outcome

    def registers(self) -> dict[str, int]:
        """The integer registers as the run left them (for a post-mortem)."""
        regs = [r for r, name in self.isa.reg_names.items()
                if r not in self.regs.wide_registers and not name.startswith("d")]
        values = self.regs.batch(regs).read()
        return {self.isa.reg_names[r]: v for r, v in zip(regs, values)}

    def listing(self, pc: int | None, uop_map=None) -> list[str]:
        """The code of the uop containing ``pc`` (or a few instructions around it), one line per
        instruction as llvm-objdump prints it, the one at ``pc`` marked with ``>``."""
        if pc is None:
            return []
        region = self.region_of(pc)
        if region is None:
            return []
        if uop_map is not None and not isinstance(uop_map, UopMap):
            uop_map = UopMap(uop_map)
        found = uop_map.find(pc) if uop_map is not None else None
        if found is not None:
            start = uop_map.start_of(found[0])
            end = next(e for s_, e, i, _n in uop_map.ranges if i == found[0] and s_ == start)
        else:
            start, end = max(region[0], pc - 32), pc + 16
        start, end = max(start, region[0]), min(end, region[1])
        code = ctypes.string_at(region[4].address_of_buffer + (start - region[0]), end - start)
        lines = []
        for insn in disassemble(self.arch, code, start):
            mark = ">" if insn.address == pc else " "
            lines.append(f"{mark} {insn.address:x}: {insn.data.hex(' '):<24} {insn.text}")
        return lines

    def run_linked(self, linked, *, frame: int, stack_pointer: int, tstate: int, executor: int,
                   **options) -> Outcome:
        """Install a :class:`refjit.link.LinkedExecutor` as ``_PyJIT_Compile`` leaves it, then run it.

        Its bytes go to ``linked.base`` (which must lie in an executable region of the process),
        the executor records ``jit_code``, ``jit_side_entry`` and ``jit_size``, and the run starts at
        the shim with the linker's pc map, so faults name their uop. ``options`` as for ``run``.
        """
        region = self.region_of(linked.base)
        end = linked.base + len(linked.memory)
        if region is None or not region[3] or end > region[1]:
            raise EmulationError(f"linked executor at {linked.base:#x}..{end:#x} is not inside an "
                                 "executable region of the process (link it into the 'jit' region)")
        linked.install(self.process, executor)
        return self.run(linked.base, frame, stack_pointer, tstate, executor=executor,
                        uop_map=linked.ranges, **options)

    def _locate(self, pc: int | None, uop_map) -> tuple[int | None, str | None, str]:
        """(uop index, uop name, location text) for ``pc``."""
        if pc is None:
            return None, None, f"{self.arch}"
        if uop_map is not None and not isinstance(uop_map, UopMap):
            uop_map = UopMap(uop_map)
        found = uop_map.find(pc) if uop_map is not None else None
        where = f"{self.arch} pc {self.describe(pc)}"
        if found is None:
            return None, None, where
        what = "the shim" if found[0] < 0 else f"uop {found[0]} {found[1]}"   # the linker's -1
        return found[0], found[1], f"{self.arch} {what}, pc {self.describe(pc)}"


# ---------------------------------------------------------------------------------------------
# Small helpers over the process and capstone.


def _instruction_addresses(arch: str, code: bytes, address: int):
    """Addresses of the instructions capstone decodes in ``code`` (a translated block)."""
    for insn in disassemble(arch, code, address):
        yield insn.address


def _uc_perms(region) -> int:
    # Region.perms are Unicorn's UC_PROT_* bits already (refjit.runtime.memory).
    if not isinstance(region.perms, int) or region.perms & ~UC.UC_PROT_ALL:
        raise EmulationError(f"region {region.name!r} has permissions {region.perms!r}, "
                             "not UC_PROT_* bits")
    return region.perms


def _other_side_entries(process, running: int | None) -> dict[int, int]:
    """``jit_side_entry`` -> executor, for every live executor on the heap but the running one."""
    off = process.profile.offset("_PyExecutorObject", "jit_side_entry")
    entries = {}
    for block in process.heap.live():
        if block.type == "uop_executor" and block.address != running:
            entry = process.mem.u64(block.address + off)
            if entry:
                entries[entry] = block.address
    return entries
