"""Seeded operand generator for every AArch64 instruction form refjit encodes.

A template is one instruction with placeholders, e.g. ``"add {Xsp}, {Xsp}, #{u12}"``. Each
template is expanded ``n`` times; instance k takes, for the placeholder at position p, element
``(k * stride + p * 7) % len`` of that placeholder's value list (for registers: all 32
encodings including sp or zr, so every register reaches every operand position) and for
immediates first every boundary value, then seeded random ones. Cases come out as text in the
common syntax of GNU as and llvm-mc, which is also what llvm-objdump prints.

pc-relative forms are generated separately (``pcrel_cases``): the oracle gets ``.+offset``, refjit
gets the absolute target at a chosen address.
"""

from __future__ import annotations

import random
import re

SEED = 20261125


def _regs(prefix: str, r31: str | None) -> list[str]:
    names = [f"{prefix}{i}" for i in range(31)]
    if r31:
        names.append(r31)
    return names


def _imm_list(bounds: list[int], lo: int, hi: int, rng: random.Random, extra: int = 24,
              step: int = 1) -> list[int]:
    vals = list(bounds)
    for _ in range(extra):
        vals.append(rng.randrange(lo, hi + 1, step) if step == 1 else lo + step * rng.randrange((hi - lo) // step + 1))
    return vals


def _hexs(values: list[int]) -> list[str]:
    return [f"{v:#x}" if v >= 0 else f"-{-v:#x}" for v in values]


def placeholder_values(rng: random.Random) -> dict[str, list[str]]:
    from refjit.backends.aarch64 import asm as A

    P: dict[str, list[str]] = {
        "X": _regs("x", "xzr"), "Xsp": _regs("x", "sp"), "Xn": _regs("x", None),
        "W": _regs("w", "wzr"), "Wsp": _regs("w", "wsp"),
        "B": _regs("b", "b31"), "H": _regs("h", "h31"), "S": _regs("s", "s31"),
        "D": _regs("d", "d31"), "Q": _regs("q", "q31"), "Vn": [str(i) for i in range(32)],
        "cond": ["eq", "ne", "hs", "lo", "mi", "pl", "vs", "vc", "hi", "ls", "ge", "lt", "gt", "le",
                 "al", "nv"],
        "cond14": ["eq", "ne", "hs", "lo", "mi", "pl", "vs", "vc", "hi", "ls", "ge", "lt", "gt", "le"],
        "shift3": ["lsl", "lsr", "asr"], "shift4": ["lsl", "lsr", "asr", "ror"],
        "extw": ["uxtb", "uxth", "uxtw", "sxtb", "sxth", "sxtw"], "extx": ["uxtx", "sxtx"],
        "barrier": sorted(A.BARRIER_OPTION),
        "sysreg": ["nzcv", "fpcr", "fpsr", "tpidr_el0"],
        "sysreg_ro": ["nzcv", "fpcr", "fpsr", "tpidr_el0", "tpidrro_el0", "cntvct_el0", "cntfrq_el0",
                      "dczid_el0", "ctr_el0"],
        "prfop": sorted(p for p in A.PREFETCH_OPS if "slc" not in p),  # GNU as for v8.1 lacks slc
        "hw64": ["0", "16", "32", "48"], "hw32": ["0", "16"],
    }
    for bits in (3, 4, 5, 6, 7, 12, 16):
        top = (1 << bits) - 1
        P[f"u{bits}"] = _hexs(_imm_list([0, 1, top, top - 1, top >> 1, (top >> 1) + 1], 0, top, rng))
    P["u3"] = [str(v) for v in range(5)]  # extend amounts 0..4
    P["s9"] = _hexs(_imm_list([0, 1, -1, 255, -256, 254, -255, 128, -128], -256, 255, rng))
    for log in range(5):
        scale = 1 << log
        P[f"uoff{scale}"] = _hexs(_imm_list([0, scale, 4095 * scale, 4094 * scale, 2048 * scale],
                                            0, 4095 * scale, rng, step=scale))
        P[f"s7x{scale}"] = _hexs(_imm_list([0, scale, -scale, 63 * scale, -64 * scale, 62 * scale],
                                           -64 * scale, 63 * scale, rng, step=scale))
    # offsets that ldr/str cannot scale, so both oracles fall back to ldur/stur
    P["unscaled"] = _hexs([-1, -8, -256, 1, 3, 255, 7, -129, 17, 250])
    P["bm64"] = [f"{v:#x}" for v in rng.sample(sorted(A._BITMASK64), 60)] + ["0x5555555555555555",
                                                                          "0xfffffffffffffffe", "0x1",
                                                                          "0x8000000000000000"]
    P["bm32"] = [f"{v:#x}" for v in rng.sample(sorted(A._BITMASK32), 60)] + ["0x55555555", "0xfffffffe",
                                                                          "0x1", "0x80000000"]
    P["movimm64"] = _mov_imms(64, rng)
    P["movimm32"] = _mov_imms(32, rng)
    P["lw64"] = _lsb_width(64, rng)
    P["lw32"] = _lsb_width(32, rng)
    P["fpimm"] = [_fp_text(i) for i in range(256)]
    P["bytemask"] = ["0x0", "0xffffffffffffffff", "0xff00ff00ff00ff00", "0xff", "0xff00000000000000"] + \
        [f"{sum(0xFF << (8 * i) for i in range(8) if rng.random() < 0.5):#x}" for _ in range(20)]
    return P


def _mov_imms(width: int, rng: random.Random) -> list[str]:
    from refjit.backends.aarch64 import asm as A

    mask = (1 << width) - 1
    vals = [0, 1, 0xFFFF, mask, mask - 1, 0x10000, 0xFFFF0000 & mask, ~0x1234 & mask]
    for hw in range(width // 16):
        vals.append(rng.randrange(1, 0x10000) << (16 * hw))
        vals.append(~(rng.randrange(1, 0x10000) << (16 * hw)) & mask)
    table = A._BITMASK64 if width == 64 else A._BITMASK32
    vals += rng.sample(sorted(table), 20)
    return [f"{v:#x}" for v in vals]


def _lsb_width(size: int, rng: random.Random) -> list[str]:
    pairs = [(0, 1), (0, size), (size - 1, 1), (1, size - 1), (size // 2, size // 2)]
    for _ in range(25):
        lsb = rng.randrange(size)
        pairs.append((lsb, rng.randrange(1, size - lsb + 1)))
    return [f"#{a}, #{b}" for a, b in pairs]


def _fp_text(imm8: int) -> str:
    sign = -1.0 if imm8 & 0x80 else 1.0
    bcd = (imm8 >> 4) & 7
    exp = (bcd ^ 4) - 3
    return repr(sign * (16 + (imm8 & 15)) / 16 * 2.0 ** exp)


# ---------------------------------------------------------------------------------------------
# The templates: (text, instances). Every form of the encoder appears at least once.

def templates() -> list[tuple[str, int]]:
    T: list[tuple[str, int]] = []

    def add(n: int, *texts: str) -> None:
        T.extend((t, n) for t in texts)

    # add/sub: immediate, shifted, extended, sp forms, aliases
    for mn in ("add", "sub"):
        add(40, f"{mn} {{Xsp}}, {{Xsp}}, #{{u12}}", f"{mn} {{Wsp}}, {{Wsp}}, #{{u12}}",
            f"{mn} {{Xsp}}, {{Xsp}}, #{{u12}}, lsl #12", f"{mn} {{Wsp}}, {{Wsp}}, #{{u12}}, lsl #12",
            f"{mn}s {{X}}, {{Xsp}}, #{{u12}}", f"{mn}s {{W}}, {{Wsp}}, #{{u12}}, lsl #12",
            f"{mn} {{X}}, {{X}}, {{X}}, {{shift3}} #{{u6}}", f"{mn} {{W}}, {{W}}, {{W}}, {{shift3}} #{{u5}}",
            f"{mn}s {{X}}, {{X}}, {{X}}, {{shift3}} #{{u6}}", f"{mn}s {{W}}, {{W}}, {{W}}",
            f"{mn} {{Xsp}}, {{Xsp}}, {{X}}", f"{mn} {{Wsp}}, {{Wsp}}, {{W}}",
            f"{mn} {{Xsp}}, {{Xsp}}, {{W}}, {{extw}} #{{u3}}", f"{mn} {{Xsp}}, {{Xsp}}, {{X}}, {{extx}} #{{u3}}",
            f"{mn} {{Wsp}}, {{Wsp}}, {{W}}, {{extw}} #{{u3}}", f"{mn} {{Xsp}}, {{Xsp}}, {{W}}, {{extw}}",
            f"{mn}s {{X}}, {{Xsp}}, {{W}}, {{extw}} #{{u3}}", f"{mn}s {{W}}, {{Wsp}}, {{W}}, {{extw}}",
            f"{mn} sp, {{Xsp}}, {{X}}, lsl #{{u3}}", f"{mn} {{Xsp}}, sp, {{X}}, lsl #{{u3}}",
            f"{mn} wsp, {{Wsp}}, {{W}}, lsl #{{u3}}")
    add(40, "cmp {Xsp}, #{u12}", "cmp {Wsp}, #{u12}, lsl #12", "cmn {Xsp}, #{u12}, lsl #12",
        "cmn {Wsp}, #{u12}", "cmp {X}, {X}, {shift3} #{u6}", "cmn {W}, {W}, {shift3} #{u5}",
        "cmp {Xsp}, {W}, {extw} #{u3}", "cmn {Xsp}, {X}, {extx} #{u3}", "cmp sp, {X}", "cmp {Wsp}, {W}",
        "neg {X}, {X}, {shift3} #{u6}", "negs {W}, {W}, {shift3} #{u5}", "neg {W}, {W}", "negs {X}, {X}",
        "adc {X}, {X}, {X}", "adcs {W}, {W}, {W}", "sbc {W}, {W}, {W}", "sbcs {X}, {X}, {X}",
        "ngc {X}, {X}", "ngcs {W}, {W}")
    # moves
    add(40, "movz {X}, #{u16}, lsl #{hw64}", "movz {W}, #{u16}, lsl #{hw32}", "movn {X}, #{u16}, lsl #{hw64}",
        "movn {W}, #{u16}, lsl #{hw32}", "movk {X}, #{u16}, lsl #{hw64}", "movk {W}, #{u16}, lsl #{hw32}",
        "movz {X}, #{u16}", "movk {W}, #{u16}")
    add(44, "mov {X}, #{movimm64}", "mov {W}, #{movimm32}")
    add(40, "mov {X}, {X}", "mov {W}, {W}", "mov {Xsp}, sp", "mov sp, {Xsp}", "mov wsp, {Wsp}",
        "mov {Wsp}, wsp", "mov sp, #{bm64}")
    # logical
    for mn in ("and", "orr", "eor"):
        add(40, f"{mn} {{Xsp}}, {{X}}, #{{bm64}}", f"{mn} {{Wsp}}, {{W}}, #{{bm32}}")
    add(40, "ands {X}, {X}, #{bm64}", "ands {W}, {W}, #{bm32}", "tst {X}, #{bm64}", "tst {W}, #{bm32}")
    for mn in ("and", "bic", "orr", "orn", "eor", "eon", "ands", "bics"):
        add(40, f"{mn} {{X}}, {{X}}, {{X}}, {{shift4}} #{{u6}}", f"{mn} {{W}}, {{W}}, {{W}}, {{shift4}} #{{u5}}",
            f"{mn} {{X}}, {{X}}, {{X}}")
    add(40, "tst {X}, {X}, {shift4} #{u6}", "tst {W}, {W}", "mvn {X}, {X}, {shift4} #{u6}",
        "mvn {W}, {W}")
    # shifts and bitfields
    for mn in ("lsl", "lsr", "asr", "ror"):
        add(40, f"{mn} {{X}}, {{X}}, #{{u6}}", f"{mn} {{W}}, {{W}}, #{{u5}}", f"{mn} {{X}}, {{X}}, {{X}}",
            f"{mn} {{W}}, {{W}}, {{W}}", f"{mn}v {{X}}, {{X}}, {{X}}")
    for mn in ("ubfm", "sbfm", "bfm"):
        add(40, f"{mn} {{X}}, {{X}}, #{{u6}}, #{{u6}}", f"{mn} {{W}}, {{W}}, #{{u5}}, #{{u5}}")
    for mn in ("ubfx", "sbfx", "bfxil", "ubfiz", "sbfiz", "bfi"):
        add(30, f"{mn} {{X}}, {{X}}, {{lw64}}", f"{mn} {{W}}, {{W}}, {{lw32}}")
    add(40, "extr {X}, {X}, {X}, #{u6}", "extr {W}, {W}, {W}, #{u5}", "uxtb {W}, {W}", "uxth {W}, {W}",
        "uxtb {X}, {W}", "uxth {X}, {W}",
        "sxtb {X}, {W}", "sxtb {W}, {W}", "sxth {X}, {W}", "sxth {W}, {W}", "sxtw {X}, {W}")
    # multiply, divide, one-source
    add(40, "madd {X}, {X}, {X}, {X}", "msub {W}, {W}, {W}, {W}", "mul {X}, {X}, {X}", "mneg {W}, {W}, {W}",
        "smaddl {X}, {W}, {W}, {X}", "smsubl {X}, {W}, {W}, {X}", "umaddl {X}, {W}, {W}, {X}",
        "umsubl {X}, {W}, {W}, {X}", "smull {X}, {W}, {W}", "umull {X}, {W}, {W}", "smnegl {X}, {W}, {W}",
        "umnegl {X}, {W}, {W}", "smulh {X}, {X}, {X}", "umulh {X}, {X}, {X}", "sdiv {X}, {X}, {X}",
        "udiv {W}, {W}, {W}", "sdiv {W}, {W}, {W}", "udiv {X}, {X}, {X}")
    for mn in ("clz", "cls", "rbit", "rev", "rev16"):
        add(40, f"{mn} {{X}}, {{X}}", f"{mn} {{W}}, {{W}}")
    add(40, "rev32 {X}, {X}")
    # conditional select and compare
    for mn in ("csel", "csinc", "csinv", "csneg"):
        add(40, f"{mn} {{X}}, {{X}}, {{X}}, {{cond}}", f"{mn} {{W}}, {{W}}, {{W}}, {{cond}}")
    add(40, "cset {X}, {cond14}", "cset {W}, {cond14}", "csetm {X}, {cond14}", "csetm {W}, {cond14}",
        "cinc {X}, {X}, {cond14}", "cinv {W}, {W}, {cond14}", "cneg {X}, {X}, {cond14}",
        "ccmp {X}, #{u5}, #{u4}, {cond}", "ccmp {W}, {W}, #{u4}, {cond}", "ccmn {W}, #{u5}, #{u4}, {cond}",
        "ccmn {X}, {X}, #{u4}, {cond}")
    # branches by register, system
    add(32, "br {Xn}", "blr {Xn}", "ret {Xn}")
    add(1, "ret", "nop", "isb", "yield", "wfe", "wfi", "sev", "sevl")
    add(24, "brk #{u16}", "hint #{u7}", "udf #{u16}", "hlt #{u16}", "svc #{u16}", "dmb {barrier}", "dsb {barrier}",
        "dmb #{u4}", "mrs {X}, {sysreg_ro}", "msr {sysreg}, {X}")
    # loads and stores: (mnemonic, register kind, log2 size)
    for mn, reg, log in (("strb", "W", 0), ("ldrb", "W", 0), ("ldrsb", "W", 0), ("ldrsb", "X", 0),
                         ("strh", "W", 1), ("ldrh", "W", 1), ("ldrsh", "W", 1), ("ldrsh", "X", 1),
                         ("ldrsw", "X", 2), ("ldr", "W", 2), ("str", "W", 2), ("ldr", "X", 3),
                         ("str", "X", 3), ("ldr", "B", 0), ("str", "B", 0), ("ldr", "H", 1),
                         ("str", "H", 1), ("ldr", "S", 2), ("str", "S", 2), ("ldr", "D", 3),
                         ("str", "D", 3), ("ldr", "Q", 4), ("str", "Q", 4)):
        scale = 1 << log
        unscaled = "stur" + mn[3:] if mn.startswith("str") else "ldur" + mn[3:]
        add(32, f"{mn} {{{reg}}}, [{{Xsp}}, #{{uoff{scale}}}]", f"{mn} {{{reg}}}, [{{Xsp}}]",
            f"{unscaled} {{{reg}}}, [{{Xsp}}, #{{s9}}]", f"{mn} {{{reg}}}, [{{Xsp}}, #{{s9}}]!",
            f"{mn} {{{reg}}}, [{{Xsp}}], #{{s9}}", f"{mn} {{{reg}}}, [{{Xsp}}, {{X}}]",
            f"{mn} {{{reg}}}, [{{Xsp}}, {{X}}, lsl #{log}]", f"{mn} {{{reg}}}, [{{Xsp}}, {{W}}, uxtw #{log}]",
            f"{mn} {{{reg}}}, [{{Xsp}}, {{W}}, sxtw]", f"{mn} {{{reg}}}, [{{Xsp}}, {{X}}, sxtx #{log}]",
            f"{mn} {{{reg}}}, [{{Xsp}}, {{X}}, sxtx]", f"{mn} {{{reg}}}, [{{Xsp}}, #{{unscaled}}]")
        if log:
            add(8, f"{mn} {{{reg}}}, [{{Xsp}}, {{W}}, uxtw #0]", f"{mn} {{{reg}}}, [{{Xsp}}, {{X}}, lsl #0]")
    add(24, "ldrb {W}, [{Xsp}, {X}, lsl #0]", "strb {W}, [{Xsp}, {W}, sxtw #0]")
    add(24, "prfm {prfop}, [{Xsp}, #{uoff8}]", "prfm {prfop}, [{Xsp}, {X}, lsl #3]", "prfum {prfop}, [{Xsp}, #{s9}]",
        "prfm #{u5}, [{Xsp}]")
    # pairs
    for mn, reg, scale in (("ldp", "X", 8), ("stp", "X", 8), ("ldp", "W", 4), ("stp", "W", 4),
                           ("ldpsw", "X", 4), ("ldp", "D", 8), ("stp", "D", 8), ("ldp", "S", 4),
                           ("stp", "S", 4), ("ldp", "Q", 16), ("stp", "Q", 16)):
        add(32, f"{mn} {{{reg}}}, {{{reg}}}, [{{Xsp}}, #{{s7x{scale}}}]",
            f"{mn} {{{reg}}}, {{{reg}}}, [{{Xsp}}, #{{s7x{scale}}}]!",
            f"{mn} {{{reg}}}, {{{reg}}}, [{{Xsp}}], #{{s7x{scale}}}", f"{mn} {{{reg}}}, {{{reg}}}, [{{Xsp}}]")
    add(16, "ldnp {X}, {X}, [{Xsp}, #{s7x8}]", "stnp {D}, {D}, [{Xsp}, #{s7x8}]", "stnp {Q}, {Q}, [{Xsp}]")
    # exclusive, acquire/release
    for sfx, reg in (("", "X"), ("", "W"), ("b", "W"), ("h", "W")):
        add(32 if reg == "X" else 12, f"ldxr{sfx} {{{reg}}}, [{{Xsp}}]", f"ldaxr{sfx} {{{reg}}}, [{{Xsp}}]",
            f"ldar{sfx} {{{reg}}}, [{{Xsp}}]", f"stlr{sfx} {{{reg}}}, [{{Xsp}}]",
            f"ldlar{sfx} {{{reg}}}, [{{Xsp}}]", f"stllr{sfx} {{{reg}}}, [{{Xsp}}]",
            f"stxr{sfx} {{W}}, {{{reg}}}, [{{Xsp}}]", f"stlxr{sfx} {{W}}, {{{reg}}}, [{{Xsp}}]")
    add(12, "ldxp {X}, {X}, [{Xsp}]", "ldaxp {W}, {W}, [{Xsp}]", "stxp {W}, {X}, {X}, [{Xsp}]",
        "stlxp {W}, {W}, {W}, [{Xsp}]", "ldar {X}, [{Xsp}, #0]")
    # LSE atomics with every ordering and size (every register in every position for the x form)
    for op in ("ldadd", "ldclr", "ldeor", "ldset", "ldsmax", "ldsmin", "ldumax", "ldumin", "swp", "cas"):
        add(32, f"{op}al {{X}}, {{X}}, [{{Xsp}}]")
        for order in ("", "a", "l", "al"):
            add(3, f"{op}{order} {{X}}, {{X}}, [{{Xsp}}]", f"{op}{order} {{W}}, {{W}}, [{{Xsp}}]",
                f"{op}{order}b {{W}}, {{W}}, [{{Xsp}}]", f"{op}{order}h {{W}}, {{W}}, [{{Xsp}}]")
    for op in ("stadd", "stclr", "steor", "stset", "stsmax", "stsmin", "stumax", "stumin"):
        for order in ("", "l"):
            add(3, f"{op}{order} {{X}}, [{{Xsp}}]", f"{op}{order}b {{W}}, [{{Xsp}}]",
                f"{op}{order}h {{W}}, [{{Xsp}}]")
    # floating point
    add(32, "fmov {D}, {D}", "fmov {S}, {S}", "fmov {D}, {X}", "fmov {X}, {D}", "fmov {S}, {W}",
        "fmov {W}, {S}")
    add(256, "fmov {D}, #{fpimm}")
    add(64, "fmov {S}, #{fpimm}")
    for mn in ("fabs", "fneg", "fsqrt", "frintn", "frintp", "frintm", "frintz", "frinta", "frintx",
               "frinti"):
        add(32, f"{mn} {{D}}, {{D}}", f"{mn} {{S}}, {{S}}")
    add(32, "fcvt {D}, {S}", "fcvt {S}, {D}", "fcvt {H}, {D}", "fcvt {D}, {H}", "fcvt {H}, {S}",
        "fcvt {S}, {H}")
    for mn in ("fadd", "fsub", "fmul", "fdiv", "fmax", "fmin", "fmaxnm", "fminnm", "fnmul"):
        add(32, f"{mn} {{D}}, {{D}}, {{D}}", f"{mn} {{S}}, {{S}}, {{S}}")
    for mn in ("fmadd", "fmsub", "fnmadd", "fnmsub"):
        add(32, f"{mn} {{D}}, {{D}}, {{D}}, {{D}}", f"{mn} {{S}}, {{S}}, {{S}}, {{S}}")
    for mn in ("fcmp", "fcmpe"):
        add(32, f"{mn} {{D}}, {{D}}", f"{mn} {{S}}, {{S}}", f"{mn} {{D}}, #0.0", f"{mn} {{S}}, #0.0")
    add(32, "fccmp {D}, {D}, #{u4}, {cond}", "fccmpe {S}, {S}, #{u4}, {cond}", "fcsel {D}, {D}, {D}, {cond}",
        "fcsel {S}, {S}, {S}, {cond}")
    for mn in ("scvtf", "ucvtf"):
        add(32, f"{mn} {{D}}, {{X}}", f"{mn} {{D}}, {{W}}", f"{mn} {{S}}, {{X}}", f"{mn} {{S}}, {{W}}")
    for mn in ("fcvtzs", "fcvtzu", "fcvtns", "fcvtnu", "fcvtps", "fcvtpu", "fcvtms", "fcvtmu", "fcvtas",
               "fcvtau"):
        add(32, f"{mn} {{X}}, {{D}}", f"{mn} {{W}}, {{D}}", f"{mn} {{X}}, {{S}}", f"{mn} {{W}}, {{S}}")
    # the SIMD forms clang emits in scalar code
    add(32, "cnt v{Vn}.8b, v{Vn}.8b", "cnt v{Vn}.16b, v{Vn}.16b", "addv b{Vn}, v{Vn}.8b",
        "addv h{Vn}, v{Vn}.8h", "addv s{Vn}, v{Vn}.4s", "uaddlv h{Vn}, v{Vn}.8b", "uaddlv h{Vn}, v{Vn}.16b",
        "uaddlv s{Vn}, v{Vn}.8h", "uaddlv d{Vn}, v{Vn}.4s", "mov v{Vn}.16b, v{Vn}.16b",
        "mov v{Vn}.8b, v{Vn}.8b", "dup v{Vn}.2d, {X}", "dup v{Vn}.4s, {W}", "dup v{Vn}.16b, {W}",
        "mov v{Vn}.d[1], {X}", "mov v{Vn}.s[3], {W}", "mov {X}, v{Vn}.d[1]", "mov {W}, v{Vn}.s[2]",
        "umov {W}, v{Vn}.b[15]", "umov {W}, v{Vn}.h[7]")
    add(25, "movi d{Vn}, #{bytemask}", "movi v{Vn}.2d, #{bytemask}")
    add(1, "clrex")
    add(16, "clrex #{u4}")
    return T


def simd_lines(rng: random.Random) -> list[str]:
    """Advanced SIMD forms, every arrangement each form takes; registers drawn at random."""
    from refjit.backends.aarch64 import asm as A

    out: list[str] = []

    def v() -> int:
        return rng.randrange(32)

    def lines(n: int, fmt) -> None:
        for _ in range(n):
            out.append(fmt())

    for mn, (_, _, arrs, _) in A.VEC3.items():
        for t in arrs:
            lines(3, lambda: f"{mn} v{v()}.{t}, v{v()}.{t}, v{v()}.{t}")
    for mn in A.VEC3_FP:
        for t in A._FP_ARRS:
            lines(3, lambda: f"{mn} v{v()}.{t}, v{v()}.{t}, v{v()}.{t}")
    for mn in A.PERMUTE:
        for t in A._INT_ARRS:
            lines(2, lambda: f"{mn} v{v()}.{t}, v{v()}.{t}, v{v()}.{t}")
    for mn, (_, _, arrs, _) in A.VEC2.items():
        for t in arrs:
            lines(3, lambda: f"{mn} v{v()}.{t}, v{v()}.{t}")
    for mn in A.VEC2_FP:
        for t in A._FP_ARRS:
            lines(3, lambda: f"{mn} v{v()}.{t}, v{v()}.{t}")
        if not mn.startswith(("fabs", "fneg", "fsqrt", "frint")):
            for r in "sd":
                lines(3, lambda: f"{mn} {r}{v()}, {r}{v()}")
    for mn in A.CMP_ZERO:
        for t in A._INT_ARRS:
            lines(2, lambda: f"{mn} v{v()}.{t}, v{v()}.{t}, #0")
    for mn in A.FCMP_ZERO:
        for t in A._FP_ARRS:
            lines(2, lambda: f"{mn} v{v()}.{t}, v{v()}.{t}, #0.0")
    for t in A._INT_ARRS:
        esize = 8 << A._ARR[t][1]
        for sh in (0, 1, esize - 1, rng.randrange(esize)):
            out.append(f"shl v{v()}.{t}, v{v()}.{t}, #{sh}")
        for sh in (1, esize, rng.randrange(1, esize + 1)):
            out.append(f"sshr v{v()}.{t}, v{v()}.{t}, #{sh}")
            out.append(f"ushr v{v()}.{t}, v{v()}.{t}, #{sh}")
    for wide, (lo, hi) in {"8h": ("8b", "16b"), "4s": ("4h", "8h"), "2d": ("2s", "4s")}.items():
        esize = {"8h": 8, "4s": 16, "2d": 32}[wide]
        for sfx, narrow in (("", lo), ("2", hi)):
            out.append(f"xtn{sfx} v{v()}.{narrow}, v{v()}.{wide}")
            out.append(f"uxtl{sfx} v{v()}.{wide}, v{v()}.{narrow}")
            out.append(f"sxtl{sfx} v{v()}.{wide}, v{v()}.{narrow}")
            for sh in (1, esize - 1, rng.randrange(1, esize)):
                out.append(f"ushll{sfx} v{v()}.{wide}, v{v()}.{narrow}, #{sh}")
                out.append(f"sshll{sfx} v{v()}.{wide}, v{v()}.{narrow}, #{sh}")
    for t, top in (("8b", 7), ("16b", 15)):
        for i in (0, 1, top, rng.randrange(top + 1)):
            out.append(f"ext v{v()}.{t}, v{v()}.{t}, v{v()}.{t}, #{i}")
    for mn, (_, _, long) in A.ACROSS.items():
        for t in ("8b", "16b", "4h", "8h", "4s"):
            r = "bhsd"[A._ARR[t][1] + long]
            lines(2, lambda: f"{mn} {r}{v()}, v{v()}.{t}")
    lines(3, lambda: f"addp d{v()}, v{v()}.2d")
    lines(3, lambda: f"faddp s{v()}, v{v()}.2s")
    lines(3, lambda: f"faddp d{v()}, v{v()}.2d")
    lines(3, lambda: f"add d{v()}, d{v()}, d{v()}")
    lines(3, lambda: f"sub d{v()}, d{v()}, d{v()}")
    for imm in (0, 1, 0x80, 0xFF, rng.randrange(256)):
        for t in ("8b", "16b"):
            out.append(f"movi v{v()}.{t}, #{imm:#x}")
        for t in ("4h", "8h"):
            for sh in (0, 8):
                out.append(f"movi v{v()}.{t}, #{imm:#x}, lsl #{sh}")
                out.append(f"mvni v{v()}.{t}, #{imm:#x}, lsl #{sh}")
        for t in ("2s", "4s"):
            for sh in (0, 8, 16, 24):
                out.append(f"movi v{v()}.{t}, #{imm:#x}, lsl #{sh}")
                out.append(f"mvni v{v()}.{t}, #{imm:#x}, lsl #{sh}")
    for t in A._FP_ARRS:
        for i in (0, 0x70, 0xFF, rng.randrange(256)):
            out.append(f"fmov v{v()}.{t}, #{_fp_text(i)}")
    counts = {"b": 16, "h": 8, "s": 4, "d": 2}
    for t in A._INT_ARRS:
        e = "bhsd"[A._ARR[t][1]]
        out.append(f"dup v{v()}.{t}, {'x' if e == 'd' else 'w'}{rng.randrange(31)}")
        out.append(f"dup v{v()}.{t}, {'xzr' if e == 'd' else 'wzr'}")
        for i in (0, counts[e] - 1):
            out.append(f"dup v{v()}.{t}, v{v()}.{e}[{i}]")
    for e, n in counts.items():
        g = "x" if e == "d" else "w"
        for i in (0, n - 1, rng.randrange(n)):
            out.append(f"mov v{v()}.{e}[{i}], {g}{rng.randrange(31)}")
            out.append(f"mov v{v()}.{e}[{i}], v{v()}.{e}[{rng.randrange(n)}]")
            out.append(f"umov {g}{rng.randrange(31)}, v{v()}.{e}[{i}]")
            out.append(f"mov {e}{v()}, v{v()}.{e}[{i}]")
            if e in "bh":
                out.append(f"smov w{rng.randrange(31)}, v{v()}.{e}[{i}]")
            if e != "d":
                out.append(f"smov x{rng.randrange(31)}, v{v()}.{e}[{i}]")
    lines(4, lambda: f"fmov x{rng.randrange(31)}, v{v()}.d[1]")
    lines(4, lambda: f"fmov v{v()}.d[1], x{rng.randrange(31)}")
    for t in A._INT_ARRS:
        esize = 8 << A._ARR[t][1]
        for sh in (1, esize, rng.randrange(1, esize + 1)):
            out.append(f"ssra v{v()}.{t}, v{v()}.{t}, #{sh}")
            out.append(f"usra v{v()}.{t}, v{v()}.{t}, #{sh}")
    for mn in A.SCALAR3:
        lines(3, lambda: f"{mn} d{v()}, d{v()}, d{v()}")
    for mn in A.CMP_ZERO:
        lines(2, lambda: f"{mn} d{v()}, d{v()}, #0")
    halves = {"8h": ("8b", "16b"), "4s": ("4h", "8h"), "2d": ("2s", "4s")}
    for mn, (_, _, wide_n) in A.LONG3.items():
        for wide, (lo, hi) in halves.items():
            for sfx, narrow in (("", lo), ("2", hi)):
                first = wide if wide_n else narrow
                lines(2, lambda: f"{mn}{sfx} v{v()}.{wide}, v{v()}.{first}, v{v()}.{narrow}")
    for mn in A.PAIRWISE_LONG:
        for dst, src in (("4h", "8b"), ("8h", "16b"), ("2s", "4h"), ("4s", "8h"), ("1d", "2s"), ("2d", "4s")):
            lines(2, lambda: f"{mn} v{v()}.{dst}, v{v()}.{src}")
    for wide, lo, hi in (("4s", "4h", "8h"), ("2d", "2s", "4s")):
        lines(2, lambda: f"fcvtl v{v()}.{wide}, v{v()}.{lo}")
        lines(2, lambda: f"fcvtl2 v{v()}.{wide}, v{v()}.{hi}")
        lines(2, lambda: f"fcvtn v{v()}.{lo}, v{v()}.{wide}")
        lines(2, lambda: f"fcvtn2 v{v()}.{hi}, v{v()}.{wide}")
    for mn in ("orr", "bic"):
        for imm in (0, 0xFF, rng.randrange(256)):
            for t, shifts in (("4h", (0, 8)), ("8h", (0, 8)), ("2s", (0, 8, 16, 24)), ("4s", (0, 8, 16, 24))):
                for sh in shifts:
                    out.append(f"{mn} v{v()}.{t}, #{imm:#x}, lsl #{sh}")
    for mn in ("tbl", "tbx"):
        for t in ("8b", "16b"):
            for count in (1, 2, 3, 4):
                for first in (0, 30, v()):
                    lst = ", ".join(f"v{(first + i) % 32}.16b" for i in range(count))
                    out.append(f"{mn} v{v()}.{t}, {{ {lst} }}, v{v()}.{t}")
    xs = [f"x{i}" for i in range(31)] + ["sp"]
    for count in (1, 2, 3, 4):
        for kind in ("ld", "st"):
            mn = f"{kind}{count}"
            for t in A._ARR:
                if t == "1d" and count > 1:
                    continue
                nregs = (1, 2, 3, 4) if count == 1 else (count,)
                for k in nregs:
                    first = v()
                    lst = ", ".join(f"v{(first + i) % 32}.{t}" for i in range(k))
                    size = (16 if A._ARR[t][0] else 8) * k
                    out.append(f"{mn} {{ {lst} }}, [{rng.choice(xs)}]")
                    out.append(f"{mn} {{ {lst} }}, [{rng.choice(xs)}], #{size}")
                    out.append(f"{mn} {{ {lst} }}, [{rng.choice(xs)}], x{rng.randrange(31)}")
            for e, lanes in (("b", 16), ("h", 8), ("s", 4), ("d", 2)):
                for i in (0, lanes - 1, rng.randrange(lanes)):
                    first = v()
                    lst = ", ".join(f"v{(first + j) % 32}.{e}" for j in range(count))
                    nbytes = {"b": 1, "h": 2, "s": 4, "d": 8}[e] * count
                    out.append(f"{mn} {{ {lst} }}[{i}], [{rng.choice(xs)}]")
                    out.append(f"{mn} {{ {lst} }}[{i}], [{rng.choice(xs)}], #{nbytes}")
                    out.append(f"{mn} {{ {lst} }}[{i}], [{rng.choice(xs)}], x{rng.randrange(31)}")
        for t in A._ARR:
            first = v()
            lst = ", ".join(f"v{(first + i) % 32}.{t}" for i in range(count))
            nbytes = (1 << A._ARR[t][1]) * count
            out.append(f"ld{count}r {{ {lst} }}, [{rng.choice(xs)}]")
            out.append(f"ld{count}r {{ {lst} }}, [{rng.choice(xs)}], #{nbytes}")
            out.append(f"ld{count}r {{ {lst} }}, [{rng.choice(xs)}], x{rng.randrange(31)}")
    for wide, (lo, hi) in halves.items():
        esize = {"8h": 8, "4s": 16, "2d": 32}[wide]
        for sfx, narrow in (("", lo), ("2", hi)):
            out.append(f"shll{sfx} v{v()}.{wide}, v{v()}.{narrow}, #{esize}")
            for mn in A.NARROW:
                out.append(f"{mn}{sfx} v{v()}.{narrow}, v{v()}.{wide}")
            for mn in A.NARROW_SHIFT:
                for sh in (1, esize, rng.randrange(1, esize + 1)):
                    out.append(f"{mn}{sfx} v{v()}.{narrow}, v{v()}.{wide}, #{sh}")
    for mn in A.SCALAR3_FP:
        for r in "sd":
            lines(2, lambda: f"{mn} {r}{v()}, {r}{v()}, {r}{v()}")
    for mn in A.FCMP_ZERO:
        for r in "sd":
            lines(2, lambda: f"{mn} {r}{v()}, {r}{v()}, #0.0")
    for mn in ("scvtf", "ucvtf"):
        for f, g, top in (("d", "x", 64), ("s", "w", 32), ("d", "w", 32), ("s", "x", 64)):
            for fb in (1, top, rng.randrange(1, top + 1)):
                out.append(f"{mn} {f}{v()}, {g}{rng.randrange(31)}, #{fb}")
    for mn in ("fcvtzs", "fcvtzu"):
        for f, g, top in (("d", "x", 64), ("s", "w", 32), ("d", "w", 32), ("s", "x", 64)):
            for fb in (1, top, rng.randrange(1, top + 1)):
                out.append(f"{mn} {g}{rng.randrange(31)}, {f}{v()}, #{fb}")
    for mn, (_, _, fp) in A.BY_ELEMENT.items():
        arrs = (("2s", "s", 4), ("4s", "s", 4), ("2d", "d", 2)) if fp else \
            (("4h", "h", 8), ("8h", "h", 8), ("2s", "s", 4), ("4s", "s", 4))
        for t, e, lanes in arrs:
            for i in (0, lanes - 1, rng.randrange(lanes)):
                m = rng.randrange(16 if e == "h" else 32)
                out.append(f"{mn} v{v()}.{t}, v{v()}.{t}, v{m}.{e}[{i}]")
        if fp:
            for e, lanes in (("s", 4), ("d", 2)):
                for i in (0, lanes - 1):
                    out.append(f"{mn} {e}{v()}, {e}{v()}, v{v()}.{e}[{i}]")
    return out


def extension_lines(rng: random.Random) -> list[str]:
    """udot/sdot (Armv8.2 dot product) and ldapr (Armv8.3 RCpc) need extensions in the oracles."""
    out = []
    xs = [f"x{i}" for i in range(31)] + ["sp"]
    for i in range(32):
        out.append(f"ldapr {'xzr' if i == 31 else f'x{i}'}, [{xs[(i * 7) % 32]}]")
        out.append(f"ldapr w{i % 31}, [{xs[(i * 5) % 32]}]")
        out.append(f"ldaprb w{(i * 3) % 31}, [{xs[i]}]")
        out.append(f"ldaprh w{(i * 11) % 31}, [{xs[(i * 3) % 32]}]")
    for mn in ("udot", "sdot"):
        for d, s in (("2s", "8b"), ("4s", "16b")):
            for _ in range(8):
                out.append(f"{mn} v{rng.randrange(32)}.{d}, v{rng.randrange(32)}.{s}, v{rng.randrange(32)}.{s}")
    return out


_PH = re.compile(r"\{(\w+)\}")

# register pairs and writeback forms with operand constraints that both oracles enforce
_WRITEBACK = re.compile(r"\]!|\], #")


def _constraints_ok(text: str) -> bool:
    """Drop the UNPREDICTABLE operand combinations (checked separately as refusals)."""
    mn, _, rest = text.partition(" ")
    regs = re.findall(r"\b([xw](?:\d+|zr)|sp|wsp)\b", rest)
    nums = [r[1:] if r[0] in "xw" and r[1:].isdigit() else r for r in regs]
    if _WRITEBACK.search(rest):
        base = re.search(r"\[(\w+)", rest).group(1)
        data = re.findall(r"\b([xw]\d+)\b", rest.split("[")[0])
        if base != "sp" and any(d[1:] == base[1:] for d in data):
            return False
    if mn in ("ldp", "ldpsw", "ldnp", "ldxp", "ldaxp"):
        fp = re.findall(r"\b([xwsdq]\d+|xzr|wzr)\b", rest.split("[")[0])
        if len(fp) >= 2 and fp[0] == fp[1]:
            return False
    if mn.startswith(("stxr", "stlxr", "stxp", "stlxp")):
        # compared by encoding: wzr, xzr and sp are all number 31
        enc = ["31" if r in ("zr", "sp", "wsp") else r for r in nums]
        if enc[0] in enc[1:]:
            return False
    return True


def expand(rng: random.Random | None = None) -> list[str]:
    """All generated instruction lines (deterministic for the seed)."""
    rng = rng or random.Random(SEED)
    P = placeholder_values(rng)
    out: list[str] = []
    for tpl_index, (tpl, n) in enumerate(templates()):
        names = _PH.findall(tpl)
        for k in range(n):
            vals = []
            for p, name in enumerate(names):
                lst = P[name]
                if len(lst) == 32:
                    v = lst[(k + p * 7 + tpl_index) % 32]
                else:
                    v = lst[k % len(lst)] if k < len(lst) else rng.choice(lst)
                vals.append(v)
            it = iter(vals)
            text = _PH.sub(lambda m: next(it), tpl)
            if _constraints_ok(text) and not text.startswith("mov xzr, #"):
                out.append(text)
    return out + simd_lines(rng)


# ---------------------------------------------------------------------------------------------
# pc-relative forms: (oracle text with ".+off", refjit text with an absolute target, address)

def pcrel_cases(rng: random.Random | None = None) -> list[tuple[str, str, int]]:
    rng = rng or random.Random(SEED + 1)
    cases: list[tuple[str, str, int]] = []

    def offsets(bits: int, scale: int) -> list[int]:
        lim = 1 << (bits - 1)
        vals = [0, scale, -scale, (lim - 1) * scale, -lim * scale, (lim - 2) * scale, -(lim - 1) * scale]
        vals += [rng.randrange(-lim, lim) * scale for _ in range(13)]
        return vals

    def emit(oracle_fmt: str, refjit_fmt: str, offs: list[int], regs: list[str] | None = None) -> None:
        for k, off in enumerate(offs):
            address = rng.randrange(1 << 28, 1 << 40) & ~3
            if address + off < 0:
                address = -off + 0x1000
            reg = regs[k % len(regs)] if regs else ""
            oracle = oracle_fmt.format(r=reg, off=f".+{off:#x}" if off >= 0 else f".-{-off:#x}")
            refjit = refjit_fmt.format(r=reg, off=f"{address + off:#x}")
            cases.append((oracle, refjit, address))

    xs = _regs("x", "xzr")
    ws = _regs("w", "wzr")
    emit("b {off}", "b {off}", offsets(26, 4))
    emit("bl {off}", "bl {off}", offsets(26, 4))
    for c in ("eq", "ne", "hs", "lo", "mi", "pl", "vs", "vc", "hi", "ls", "ge", "lt", "gt", "le", "al", "nv"):
        emit(f"b.{c} {{off}}", f"b.{c} {{off}}", offsets(19, 4)[:6])
    for mn in ("cbz", "cbnz"):
        emit(f"{mn} {{r}}, {{off}}", f"{mn} {{r}}, {{off}}", offsets(19, 4) * 2, xs)
        emit(f"{mn} {{r}}, {{off}}", f"{mn} {{r}}, {{off}}", offsets(19, 4) * 2, ws)
    for mn in ("tbz", "tbnz"):
        bits = [f"x{i % 31}, #{b}" for i, b in enumerate(range(32, 64))] + \
               [f"w{i % 31}, #{b}" for i, b in enumerate(range(0, 32))] + ["wzr, #3", "xzr, #63"]
        emit(f"{mn} {{r}}, {{off}}", f"{mn} {{r}}, {{off}}", offsets(14, 4) * 4, bits)
    emit("adr {r}, {off}", "adr {r}, {off}", offsets(21, 1) * 2, _regs("x", None))
    for kind in ("x", "w", "s", "d", "q"):
        emit("ldr {r}, {off}", "ldr {r}, {off}", offsets(19, 4), _regs(kind, kind + "zr" if kind in "xw" else None))
    emit("ldrsw {r}, {off}", "ldrsw {r}, {off}", offsets(19, 4), xs)
    emit("prfm {r}, {off}", "prfm {r}, {off}", offsets(19, 4), ["pldl1keep", "pstl2strm", "plil3keep"])
    return cases


def adrp_cases(rng: random.Random | None = None) -> list[tuple[str, str, int]]:
    """adrp: llvm-mc takes the page distance as ``#imm`` (GNU as has no such syntax)."""
    rng = rng or random.Random(SEED + 2)
    lim = 1 << 20
    pages = [0, 1, -1, lim - 1, -lim, lim - 2] + [rng.randrange(-lim, lim) for _ in range(26)]
    cases = []
    for k, pg in enumerate(pages):
        address = (rng.randrange(1 << 33, 1 << 40) & ~3)
        target = ((address & ~0xFFF) + pg * 4096) + rng.randrange(4096)  # any byte in the page
        reg = f"x{k % 31}"
        cases.append((f"adrp {reg}, #{pg * 4096}", f"adrp {reg}, {target & ~0xFFF:#x}", address))
    return cases


# ---------------------------------------------------------------------------------------------
# Random plausible instructions: any mnemonic with operands drawn from pools of every kind. Most
# are invalid; the differential test checks that what refjit accepts, llvm-mc encodes the same.

_POOL_REGS = ["x0", "x7", "x30", "xzr", "sp", "w0", "w9", "wzr", "wsp", "d1", "s2", "q3", "h4", "b5", "v6.16b",
              "v7.8b", "v8.4s", "v9.2d", "v10.8h", "v11.4h", "v12.2s", "v13.d[1]", "v14.s[3]", "v15.b[15]",
              "v16.h[0]", "v31.d[0]", "v0.1d", "fp", "lr"]
_POOL_IMMS = ["#0", "#1", "#-1", "#7", "#8", "#12", "#16", "#31", "#32", "#63", "#64", "#255", "#256", "#-256",
              "#-257", "#4095", "#4096", "#0x1000", "#0xfff000", "#0xffff", "#0x10000", "#0xff",
              "#0x5555555555555555", "#0xffffffff", "#-0x8", "#1.0", "#0.5", "#0.0", "#-2.5",
              "#0x7ffffffffffffffe", "#3", "#4", "#0x3f", "#0x7fc", "#504"]
_POOL_SHIFTS = ["lsl #1", "lsl #0", "lsl #12", "lsl #16", "lsl #32", "lsr #3", "asr #63", "ror #5", "uxtw",
                "uxtw #2", "sxtw #3", "sxtx", "uxtb #1", "sxth", "uxtx #4", "msl #8", "lsl #3", "lsl #4", "lsl #2"]
_POOL_MEMS = ["[x1]", "[sp]", "[x2, #8]", "[x3, #-8]", "[x4, #4095]", "[x5, #1]", "[sp, #16]!", "[x6, #-256]!",
              "[x7], #8", "[x8], #-16", "[x9, x10]", "[x11, x12, lsl #3]", "[x13, w14, uxtw]",
              "[x15, w16, sxtw #2]", "[x17, x18, sxtx #1]", "[x19, x20, lsl #0]", "[x21, #0x7ff8]",
              "[x22, #32760]", "[xzr]", "[w1]", "[x1, #3]!", "[x0], x2", "[x1, #504]", "[x1, #-512]!",
              "[x2, #1008]"]
_POOL_SYMS = ["eq", "ne", "hs", "lo", "al", "nv", "ish", "sy", "ishld", "tpidr_el0", "nzcv", "pldl1keep",
              "pstl2strm", "c", "csync"]
_POOL_LISTS = ["{ v0.16b }", "{ v0.4s, v1.4s }", "{ v30.2d, v31.2d, v0.2d }", "{ v1.s }[1]", "{ v2.d, v3.d }[1]",
               "{ v4.8b, v5.8b, v6.8b, v7.8b }", "{ v0.b }[15]"]
_POOLS = [_POOL_REGS, _POOL_REGS, _POOL_REGS, _POOL_IMMS, _POOL_SHIFTS, _POOL_MEMS, _POOL_SYMS, _POOL_LISTS]


def random_lines(rng: random.Random, n: int, mnemonics: list[str]) -> list[str]:
    out = []
    for _ in range(n):
        ops = [rng.choice(rng.choice(_POOLS)) for _ in range(rng.randrange(5))]
        out.append(rng.choice(mnemonics) + (" " + ", ".join(ops) if ops else ""))
    return out
