"""``dumpx minidump``: Breakpad/Crashpad minidumps."""

from __future__ import annotations


from ..render import safe_text
from .jsonout import dumps
from .kinds import expect


def add_parser(sub) -> None:
    p = sub.add_parser("minidump", help="Breakpad/Crashpad minidumps")
    ms = p.add_subparsers(dest="minidump_command", required=True)
    i = ms.add_parser("info", help="system, exception, threads, modules with build-ids, and the findings",
                      description="What a minidump holds, read with every offset checked, and what it says "
                                  "about the crash. Example: dumpx minidump info crash.dmp")
    i.add_argument("file", help="the minidump (compressed or not)")
    i.add_argument("--json", action="store_true", help="machine-readable output")
    i.set_defaults(run=run_info)
    from .core import add_process_commands
    add_process_commands(ms, "the minidump (compressed or not)", "file",
                         "dumpx minidump bt crash.dmp --binary ./app --all", "the crashing one",
                         run_verify, run_bt, run_stack)


def run_info(args) -> int:
    from ..minidump import Minidump
    expect(args.file, "minidump")
    md = Minidump(args.file)
    fs = md.findings()
    if args.json:
        print(dumps(args.file, "minidump", md.provenance(), {
            "exception": None if md.exception is None else {
                "thread": md.exception.thread_id, "code": md.exception.code, "flags": md.exception.flags,
                "address": md.exception.address},
            "threads": [{"tid": t.tid, "pc": t.pc, "sp": t.sp, "stack_start": t.stack_start,
                         "stack_size": t.stack_size} for t in md.threads],
            "modules": [{"base": m.base, "size": m.size, "name": m.name, "build_id": m.build_id,
                         "debug_id": m.debug_id, "debug_file": m.debug_file, "code_id": m.code_id}
                        for m in md.modules],
            "memory": [{"start": s, "size": n} for s, n in md.memory_ranges()],
            "findings": fs.to_dicts(), "problems": md.problems}))
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
        ident = m.build_id or (f"{m.debug_id} (code id {m.code_id})" if m.debug_id else m.code_id) or "-"
        print(f"  0x{m.base:016x} {m.size:>10}  {safe_text(ident)}  {safe_text(m.name)}")
    for p in md.problems:
        print(f"problem: {safe_text(p)}")
    print()
    print(fs.text())
    return 1 if md.problems else 0


def run_bt(args) -> int:
    from ..minidump import Minidump
    from .core import run_bt as core_bt
    expect(args.core, "minidump")
    return core_bt(args, process=Minidump(args.core).process())


def run_verify(args) -> int:
    from ..minidump import Minidump
    from .core import run_verify as core_verify
    expect(args.core, "minidump")
    return core_verify(args, process=Minidump(args.core).process())


def run_stack(args) -> int:
    from ..minidump import Minidump
    from .core import run_stack as core_stack
    expect(args.core, "minidump")
    return core_stack(args, process=Minidump(args.core).process())
