"""``dumpx minidump``: Breakpad/Crashpad minidumps."""

from __future__ import annotations

import json

from ..render import safe_text


def add_parser(sub) -> None:
    p = sub.add_parser("minidump", help="Breakpad/Crashpad minidumps")
    ms = p.add_subparsers(dest="minidump_command", required=True)
    i = ms.add_parser("info", help="system, exception, threads, modules with build-ids, and the findings",
                      description="What a minidump holds, read with every offset checked, and what it says "
                                  "about the crash. Example: dumpx minidump info crash.dmp")
    i.add_argument("file", help="the minidump (compressed or not)")
    i.add_argument("--json", action="store_true", help="machine-readable output")
    i.set_defaults(run=run_info)
    b = ms.add_parser("bt", help="symbolized backtraces through the ELF unwinder, with the trust of each frame",
                      description="Backtraces of the minidump's threads, the crashing thread first, unwound "
                                  "and symbolized by the same code as dumpx core bt: modules are verified by "
                                  "build-id before any symbol. Example: dumpx minidump bt crash.dmp --binary ./app")
    b.add_argument("core", metavar="file", help="the minidump (compressed or not)")
    b.add_argument("--binary", action="append", default=[], metavar="FILE",
                   help="a binary or library of the crashed process (matched by build-id, name or entry point)")
    b.add_argument("--debug-dir", "--search", dest="search", action="append", default=[], metavar="DIR",
                   help="a directory with binaries or a .build-id/ tree (/usr/lib/debug is always searched)")
    g = b.add_mutually_exclusive_group()
    g.add_argument("--thread", type=int, default=None, metavar="N", help="only thread N (0 is the crashing one)")
    g.add_argument("--all", action="store_true", help="every thread; threads with identical stacks are grouped")
    b.add_argument("--full", action="store_true", help="with each frame's variables (DWARF) and registers")
    b.add_argument("--json", action="store_true", help="machine-readable output")
    b.set_defaults(run=run_bt)
    v = ms.add_parser("verify", help="does each module's build-id match the binaries you have?")
    v.add_argument("core", metavar="file", help="the minidump")
    v.add_argument("--binary", action="append", default=[], metavar="FILE")
    v.add_argument("--search", "--debug-dir", dest="search", action="append", default=[], metavar="DIR",
                   help="a directory with binaries or a .build-id/ tree (e.g. /usr/lib/debug)")
    v.add_argument("--json", action="store_true")
    v.set_defaults(run=run_verify)
    s = ms.add_parser("stack", help="raw stack words from the stack pointer, like x/32gx $rsp")
    s.add_argument("core", metavar="file", help="the minidump")
    s.add_argument("--thread", type=int, default=0, metavar="N", help="thread N (0 is the crashing one)")
    s.add_argument("--words", type=int, default=32)
    s.add_argument("--json", action="store_true")
    s.set_defaults(run=run_stack)


def run_info(args) -> int:
    from ..minidump import Minidump
    md = Minidump(args.file)
    fs = md.findings()
    if args.json:
        print(json.dumps({
            "provenance": md.provenance(),
            "exception": None if md.exception is None else {
                "thread": md.exception.thread_id, "code": md.exception.code, "flags": md.exception.flags,
                "address": md.exception.address},
            "threads": [{"tid": t.tid, "pc": t.pc, "sp": t.sp, "stack_start": t.stack_start,
                         "stack_size": t.stack_size} for t in md.threads],
            "modules": [{"base": m.base, "size": m.size, "name": m.name, "build_id": m.build_id,
                         "debug_id": m.debug_id, "debug_file": m.debug_file} for m in md.modules],
            "memory": [{"start": s, "size": n} for s, n in md.memory_ranges()],
            "findings": fs.to_dicts(), "problems": md.problems}, indent=2))
        return 1 if md.problems else 0
    pv = md.provenance()
    print(f"minidump: {safe_text(pv.get('os', '?'))} {safe_text(pv.get('arch', '?'))}, "
          f"{pv['threads']} threads, {pv['modules']} modules"
          + (f", {safe_text(pv['distribution'])}" if "distribution" in pv else "")
          + (f", command line: {safe_text(pv['cmdline'])}" if "cmdline" in pv else ""))
    if md.exception is not None:
        e = md.exception
        print(f"exception: thread {e.thread_id}, code {e.code} (0x{e.code:x}), address 0x{e.address:x}")
    print("threads:")
    for t in md.threads:
        pc = f"0x{t.pc:016x}" if t.pc is not None else "?"
        print(f"  {t.tid:>8}  pc {pc}  stack 0x{t.stack_start:x} (+{t.stack_size})")
    print("modules:")
    for m in md.modules:
        ident = m.build_id or m.debug_id or "-"
        print(f"  0x{m.base:016x} {m.size:>10}  {safe_text(ident)}  {safe_text(m.name)}")
    for p in md.problems:
        print(f"problem: {safe_text(p)}")
    print()
    print(fs.text())
    return 1 if md.problems else 0


def run_bt(args) -> int:
    from ..minidump import Minidump
    from .core import run_bt as core_bt
    return core_bt(args, process=Minidump(args.core).process())


def run_verify(args) -> int:
    from ..minidump import Minidump
    from .core import run_verify as core_verify
    return core_verify(args, process=Minidump(args.core).process())


def run_stack(args) -> int:
    from ..minidump import Minidump
    from .core import run_stack as core_stack
    return core_stack(args, process=Minidump(args.core).process())
