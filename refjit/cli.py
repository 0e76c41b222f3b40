"""The ``refjit`` command. The only module that prints.

Every subcommand turns a RefjitError into one ``error: ...`` line on stderr and a non-zero exit
status; bad input never produces a Python traceback.
"""

from __future__ import annotations

import argparse
import sys

from refjit.errors import RefjitError


def _cmd_asm(args: argparse.Namespace) -> int:
    from refjit.asmtext import assemble_lines

    if args.file in (None, "-"):
        text = sys.stdin.read()
    else:
        try:
            with open(args.file, encoding="utf-8", errors="replace") as f:
                text = f.read()
        except OSError as err:
            raise RefjitError(f"cannot read {args.file}: {err.strerror}") from None
    results = assemble_lines(args.arch, text.splitlines())
    failed = 0
    for r in results:
        if r.error is None:
            print(r.encoding.hex())
        else:
            failed += 1
            print(f"error: {r.error}")
    return 1 if failed else 0


def _parse_int(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        try:
            return int(text, 16)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an address: {text!r}") from None


def _cmd_stencils(args: argparse.Namespace) -> int:
    from refjit.stencils import read_header
    from refjit.stencilview import listing, overview

    header = read_header(args.header, triple=args.triple)
    for line in (listing(header, args.uop) if args.uop else overview(header)):
        print(line)
    return 0


def _cmd_disasm(args: argparse.Namespace) -> int:
    from refjit.disasm import disassemble
    from refjit.errors import DisasmError

    hexstr = "".join(args.hex).replace(" ", "")
    if hexstr.startswith(("0x", "0X")):
        hexstr = hexstr[2:]
    try:
        code = bytes.fromhex(hexstr)
    except ValueError:
        raise DisasmError(f"not a hex string: {''.join(args.hex)!r}") from None
    for insn in disassemble(args.arch, code, args.at):
        print(f"{insn.address:8x}: {insn.data.hex(' '):<24} {insn.text}")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from refjit.semantics.interp import run_file

    if args.check or args.stencils or args.mix is not None or (args.arch and not args.semantics):
        from refjit.check import run_lines

        lines, status = run_lines(args.trace, arches=args.arch, stencil_paths=args.stencils or (),
                                  mix=args.mix, check=args.check, budget=args.budget)
        for line in lines:
            print(line)
        return status
    outcome, executed = run_file(args.trace, arch=args.arch or "x86_64", budget=args.budget)
    print(outcome.render())
    print(f"uops executed: {executed}")
    return 0


def _cmd_process(args: argparse.Namespace) -> int:
    from refjit.runtime.describe import describe_process

    for line in describe_process(args.arch, near=args.near, symbols=args.symbols):
        print(line)
    return 0


def _cmd_uop(args: argparse.Namespace) -> int:
    from refjit.runtime.describe import describe_uop

    for line in describe_uop(args.name, args.arch):
        print(line)
    return 0


def _cmd_uops(args: argparse.Namespace) -> int:
    from refjit.lowerview import uops_lines

    for line in uops_lines(supported_only=args.supported):
        print(line)
    return 0


def _cmd_emit_header(args: argparse.Namespace) -> int:
    from refjit.lowerview import emit_header

    text = emit_header(args.target)
    try:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as err:
        raise RefjitError(f"cannot write {args.output}: {err.strerror}") from None
    print(f"wrote {args.output}")
    return 0


def _cmd_compile(args: argparse.Namespace) -> int:
    from refjit.lowerview import compile_listing

    for line in compile_listing(args.trace, args.arch, args.stencils, show_lir=args.lir):
        print(line)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from refjit.demo import run_demo

    report = run_demo(args.stencils or ())
    for line in report.lines():
        print(line)
    return 0 if report.agree else 1


def _cmd_fuzz(args: argparse.Namespace) -> int:
    from refjit.fuzz.campaign import campaign_lines, fuzz_command

    report = fuzz_command(args.seconds, seed=args.seed, stencil_paths=args.stencils or (),
                          out=args.out, arches=args.arch.split(","), max_found=args.max_found)
    for line in campaign_lines(report):
        print(line)
    return 1 if report.found else 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="refjit",
        description="refjit: a reference JIT for CPython 3.14's tier-2 micro-ops, checked three ways "
                    "(reference semantics, refjit's x86-64/AArch64 code, CPython's stencils).")
    sub = p.add_subparsers(dest="command", required=True)

    a = sub.add_parser("asm", help="assemble llvm-objdump-style lines, one encoding (hex) per line")
    a.add_argument("--arch", required=True, choices=("x86_64", "aarch64"))
    a.add_argument("file", nargs="?", help="input file (default: standard input)")
    a.set_defaults(func=_cmd_asm)

    s = sub.add_parser("stencils", help="list a jit_stencils-<triple>.h's groups, or one stencil's annotated listing")
    s.add_argument("header", help="a jit_stencils-<triple>.h from a CPython 3.14 JIT build (or refjit emit-header)")
    s.add_argument("--uop", help="show this group's listing (a uop name, or 'shim')")
    s.add_argument("--triple", help="target triple, if the file name and header comments do not say")
    s.set_defaults(func=_cmd_stencils)

    d = sub.add_parser("disasm", help="disassemble hex bytes with capstone, in llvm-objdump syntax")
    d.add_argument("--arch", required=True, choices=("x86_64", "aarch64"))
    d.add_argument("--at", type=_parse_int, default=0, help="address of the first byte")
    d.add_argument("hex", nargs="+")
    d.set_defaults(func=_cmd_disasm)

    r = sub.add_parser("run", help="run a trace file and print its Outcome")
    r.add_argument("trace")
    r.add_argument("--semantics", action="store_true",
                   help="run it on the reference semantics (the default)")
    r.add_argument("--arch", help="run refjit's code on these machines (x86_64,aarch64); with "
                                  "--semantics, the one process layout to run in (default x86_64)")
    r.add_argument("--budget", type=int, default=10_000_000, help="maximum number of uops to run")
    r.add_argument("--stencils", action="extend", nargs="+", metavar="HEADER",
                   help="CPython jit_stencils-<triple>.h headers: also run CPython's stencils on their ISA")
    r.add_argument("--check", action="store_true", help="compare every Outcome with the semantics; show "
                   "the first uop where one diverges; exit 0 only on full agreement")
    r.add_argument("--mix", metavar="KEY=SOURCE,...", help="also run a mixed executor: uops by index or "
                   "name (or * for the rest) from 'stencil' or 'refjit', e.g. '*=stencil,15=refjit'")
    r.set_defaults(func=_cmd_run)

    pr = sub.add_parser("process", help="the emulated CPython process: memory map (and symbols)")
    pr.add_argument("--arch", default="x86_64", choices=("x86_64", "aarch64"))
    pr.add_argument("--near", action="store_true", help="JIT code within ±2 GiB of the C-function stubs")
    pr.add_argument("--symbols", action="store_true", help="list every symbol's address and model")
    pr.set_defaults(func=_cmd_process)

    u = sub.add_parser("uop", help="one uop from the 3.14 tables: flags, stack effect, holes, C symbols")
    u.add_argument("name")
    u.add_argument("--arch", default="x86_64", choices=("x86_64", "aarch64"))
    u.set_defaults(func=_cmd_uop)

    us = sub.add_parser("uops", help="every 3.14 uop with refjit's status per backend")
    us.add_argument("--supported", action="store_true", help="only the uops refjit lowers")
    us.set_defaults(func=_cmd_uops)

    eh = sub.add_parser("emit-header", help="write refjit's groups as a jit_stencils-<triple>.h")
    eh.add_argument("--target", required=True, help="target triple, e.g. x86_64-unknown-linux-gnu")
    eh.add_argument("-o", "--output", required=True, help="the header file to write")
    eh.set_defaults(func=_cmd_emit_header)

    co = sub.add_parser("compile", help="compile a trace with refjit's backends and list the code per uop")
    co.add_argument("trace")
    co.add_argument("--arch", default="x86_64", choices=("x86_64", "aarch64"))
    co.add_argument("--listing", action="store_true", help="print the listing (the default and only output)")
    co.add_argument("--stencils", help="a CPython jit_stencils header: its stencil beside each uop")
    co.add_argument("--lir", action="store_true", help="also print each uop's LIR")
    co.set_defaults(func=_cmd_compile)

    m = sub.add_parser("demo", help="the real int_sum trace on both ISAs, checked three ways, as a table per uop")
    m.add_argument("--stencils", nargs="+", metavar="HEADER",
                   help="CPython jit_stencils-<triple>.h headers: also run CPython's stencils on their ISA")
    m.set_defaults(func=_cmd_demo)

    fz = sub.add_parser("fuzz", help="differential fuzzing: random traces, semantics vs machine code; "
                                     "each disagreement shrunk and saved as a trace")
    fz.add_argument("--seconds", type=float, default=60.0, help="how long to fuzz (default 60)")
    fz.add_argument("--seed", type=int, default=0, help="the campaign's seed (default 0)")
    fz.add_argument("--stencils", nargs="+", metavar="HEADER",
                    help="CPython jit_stencils-<triple>.h headers: also run CPython's stencils on their ISA")
    fz.add_argument("--out", default="fuzz-out", help="where to save reproducers (default fuzz-out)")
    fz.add_argument("--arch", default="x86_64,aarch64", help="ISAs to run (default x86_64,aarch64)")
    fz.add_argument("--max-found", type=int, default=10, metavar="N",
                    help="stop once N distinct disagreements are saved (default 10)")
    fz.set_defaults(func=_cmd_fuzz)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except RefjitError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        return 130
