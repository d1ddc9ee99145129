"""``dumpx core info CORE`` and ``dumpx core stack CORE [--thread N] [--words 32]``."""

from __future__ import annotations


from ..elf.core import Core
from ..render import safe_text
from .jsonout import dumps
from .kinds import expect


def _fmt(process) -> str:
    return "elf-core" if process is None else "minidump"


def add_parser(sub) -> None:
    p = sub.add_parser("core", help="Linux ELF core files")
    cs = p.add_subparsers(dest="core_command", required=True)
    i = cs.add_parser("info", help="threads, signal, process, modules with build-ids")
    i.add_argument("core")
    i.add_argument("--json", action="store_true")
    i.set_defaults(run=run_info)
    add_process_commands(cs, "the core file (compressed or not)", "core",
                         "dumpx core bt core.1234 --binary ./server --all", "the one that took the signal",
                         run_verify, run_bt, run_stack)


def add_process_commands(cs, what: str, metavar: str, example: str, thread0: str, verify, bt, stack) -> None:
    """``verify``, ``bt`` and ``stack``, with one set of options for every dump the ELF code reads
    (cores; minidumps through their process image)."""
    v = cs.add_parser("verify", help="does each module's build-id (a Windows module's debug id) match the "
                                     "files you have?")
    v.add_argument("core", metavar=metavar, help=what)
    v.add_argument("--binary", action="append", default=[], metavar="FILE",
                   help="an ELF binary or debug file; for a minidump's Windows modules a PDB or PE image")
    v.add_argument("--search", "--debug-dir", dest="search", action="append", default=[], metavar="DIR",
                   help="a directory with binaries, a .build-id/ tree (e.g. /usr/lib/debug) or a symbol "
                        "store (NAME.pdb/DEBUGID/NAME.pdb)")
    v.add_argument("--json", action="store_true")
    v.set_defaults(run=verify)
    b = cs.add_parser("bt", help="symbolized backtraces with the trust of each frame, read adversarially",
                      description="Backtraces of the dump's threads. Each frame says how it was found "
                                  "(context, cfi, frame pointer, scan) and whether its module's build was "
                                  f"verified; symbols come only from verified builds. Example: {example}")
    b.add_argument("core", metavar=metavar, help=what)
    b.add_argument("--binary", action="append", default=[], metavar="FILE",
                   help="a binary or library of the crashed process (matched by build-id, name or entry point)")
    b.add_argument("--debug-dir", "--search", dest="search", action="append", default=[], metavar="DIR",
                   help="a directory with binaries or a .build-id/ tree (/usr/lib/debug is always searched)")
    g = b.add_mutually_exclusive_group()
    g.add_argument("--thread", type=int, default=None, metavar="N", help=f"only thread N (0 is {thread0})")
    g.add_argument("--all", action="store_true", help="every thread; threads with identical stacks are grouped")
    b.add_argument("--full", action="store_true",
                   help="with each frame's parameters and locals (DWARF), what is left of the optimized-out "
                        "ones, and the registers recovered for the frame (also in --json)")
    b.add_argument("--json", action="store_true", help="machine-readable output")
    b.set_defaults(run=bt)
    s = cs.add_parser("stack", help="raw stack words from the stack pointer, like x/32gx $rsp")
    s.add_argument("core", metavar=metavar, help=what)
    s.add_argument("--thread", type=int, default=0, metavar="N", help=f"thread N (0 is {thread0})")
    s.add_argument("--words", type=int, default=32)
    s.add_argument("--json", action="store_true")
    s.set_defaults(run=stack)


def run_info(args) -> int:
    expect(args.core, "core")
    c = Core(args.core)
    mods = c.modules()
    if args.json:
        print(dumps(args.core, "elf-core", c.provenance(), {"machine": c.machine, "process": c.process, "siginfo": c.siginfo,
                          "threads": [{"index": t.index, "pid": t.pid, "signal": t.signal,
                                       "registers": t.registers} for t in c.threads],
                          "auxv": c.auxv, "modules": [m.__dict__ for m in mods],
                          "findings": c.findings().to_dicts(), "problems": c.problems}))
        return 0
    print(f"{safe_text(c.source.name)}: {c.machine} core of {safe_text(c.process.get('name', '?'))} "
          f"(pid {c.process.get('pid', '?')}), {len(c.threads)} threads")
    if c.process.get("args"):
        print(f"  command: {safe_text(c.process['args'])}")
    if c.siginfo:
        si = c.siginfo
        print(f"  signal: {si['signal']} code {si['code']}" + (f" addr 0x{si['addr']:x}" if "addr" in si else "")
              + (f" sent by pid {si['sender_pid']} uid {si['sender_uid']} via {si['sent_by']}" if "sender_pid" in si else ""))
    for t in c.threads:
        print(f"  thread {t.index} (tid {t.pid}): pc 0x{t.pc or 0:x} sp 0x{t.sp or 0:x}")
    print("modules (start+size build-id@address path):")
    for m in mods:
        bid = f"{m.build_id}@0x{m.build_id_address:x}" if m.build_id else "-"
        print(f"  0x{m.start:x}+0x{m.size:x} {bid} {safe_text(m.path or '-')}"
              + (f"  [{safe_text(m.problem)}]" if m.problem else ""))
    for p in c.problems:
        print(f"PROBLEM: {safe_text(p)}")
    if c.threads and c.machine in ("x86-64", "aarch64"):
        bt = c.unwinder().backtrace(0)
        print("backtrace of thread 0 (modules verified at their recorded paths; more with dumpx core bt):")
        for f in bt.frames:
            print("  " + _frame_line(f))
        print(f"  (unwinding stopped: {safe_text(bt.stop)})")
    print()
    print(c.findings().text())
    print("\nverify the builds before trusting any frame: dumpx core verify CORE --binary FILE")
    return 1 if c.problems else 0


def run_verify(args, process=None) -> int:
    import dataclasses
    from ..elf.verify import MISMATCH, verdict_table, verify_findings, verify_with_given
    if process is None:
        expect(args.core, "core")
    c = process if process is not None else Core(args.core)
    vs, given = verify_with_given(c, args.binary, args.search)
    fs = verify_findings(vs)
    unmatched = [g for g in given if g.module is None]
    if args.json:
        print(dumps(args.core, _fmt(process), c.provenance(),
                    {"modules": [dataclasses.asdict(v) for v in vs], "given": [g.__dict__ for g in given],
                     "findings": fs.to_dicts(), "problems": c.problems}))
    else:
        print(verdict_table(vs).text())
        if given:
            print("\nfiles given:")
            for g in given:
                print(f"  {safe_text(g.path)}: " + (f"matched to {safe_text(g.module)} ({g.how})" if g.module
                                                     else f"NOT USED: {g.how}"))
        print()
        print(fs.text())
        for p in c.problems:
            print(f"PROBLEM: {safe_text(p)}")
    if any(v.verdict == MISMATCH for v in vs):
        return 3
    return 1 if unmatched or c.problems else 0


def run_stack(args, process=None) -> int:
    if process is None:
        expect(args.core, "core")
    c = process if process is not None else Core(args.core)
    words = c.stack_words(args.thread, args.words)
    if args.json:
        print(dumps(args.core, _fmt(process), c.provenance(),
                    {"thread": args.thread, "words": [{"address": a, "value": v} for a, v in words]}))
        return 1 if c.problems else 0
    for k in range(0, len(words), 2):
        pair = words[k:k + 2]
        vals = "\t".join("(not captured)" if v is None else f"0x{v:016x}" for _, v in pair)
        print(f"0x{pair[0][0]:x}:\t{vals}")
    for p in c.problems:
        print(f"PROBLEM: {safe_text(p)}")
    return 1 if c.problems else 0


def _frame_line(f) -> str:
    fn = safe_text(f.function) if f.function else "??"
    if f.signal_frame:
        fn = f"<signal handler called> ({fn})"
    where = f" at {safe_text(f.file)}:{f.line}" + (f":{f.column}" if f.column else "") if f.file else ""
    mod = (f" from {safe_text(f.module.rsplit('/', 1)[-1])}" + ("" if f.function else f"+0x{f.module_offset:x}")
           if f.module and not f.file else "")
    tags = [f.trust if not f.inlined else "inlined"]
    if f.build not in ("verified", "in the core"):
        tags.append(f.build)
    if f.note:
        tags.append(safe_text(f.note))
    pc = "                  " if f.inlined else f"0x{f.pc:016x}"
    return f"#{f.index:<3} {pc} in {fn}{where}{mod}  [{', '.join(tags)}]"


def run_bt(args, process=None) -> int:
    """``dumpx core bt``; also ``dumpx minidump bt``, which passes the minidump's process image."""
    from ..elf.reading import explain_unknown_frames, protector_findings
    if process is None:
        expect(args.core, "core")
    c = process if process is not None else Core(args.core)
    u = c.unwinder(args.binary, args.search)
    if args.thread is not None:
        bts = [u.backtrace(args.thread)]
    elif args.all:
        bts = u.all()
        # the frames live until the command exits and hold no cycles: keep the collector from
        # walking hundreds of thousands of them again while the report is printed
        import gc
        gc.freeze()
    else:
        bts = [u.backtrace(0)] if c.threads else []
    fs = explain_unknown_frames(c, bts[0]) if bts and bts[0].thread == 0 else None
    if fs is not None:
        fs.extend(protector_findings(c, u, bts[0]))
    problems = list(c.problems) + list(u.problems)
    fvs = {}
    if args.full:
        from ..elf.variables import FrameVariables
        fvs = {b.thread: FrameVariables(u, b) for b in bts}
    if args.json:
        threads = [b.to_dict(registers=args.full) for b in bts]
        for b, d in zip(bts, threads):
            if b.thread in fvs:
                for f, fd in zip(b.frames, d["frames"]):
                    fd["variables"] = [v.to_dict() for v in fvs[b.thread].variables(f)]
        print(dumps(args.core, _fmt(process), c.provenance(), {"core": c.source.name, "machine": c.machine,
                          "modules": [{"module": v.module, "start": v.start, "verdict": v.verdict,
                                       "image": v.image, "debug": v.debug, "source": v.source} for v in u.verdicts],
                          "threads": threads,
                          "findings": fs.to_dicts() if fs is not None else [], "problems": problems}))
        return 1 if c.problems else 0
    unverified = [v for v in u.verdicts if v.verdict != "match" and v.module != "[vdso]"]
    if unverified:
        print("modules without a verified build (their frames show no symbols):")
        for v in unverified:
            print(f"  {safe_text(v.module)}: {v.verdict}" + (f" ({safe_text(v.file)})" if v.file else ""))
        print()
    windows = [v for v in u.verdicts if v.verdict == "match" and v.id_kind != "build-id"]
    if windows:
        print("Windows modules verified by their debug id (dumpx reads no PDB symbols: give module+offset "
              "to a PDB-reading tool with these files):")
        for v in windows:
            print(f"  {safe_text(v.module)}: {safe_text(v.file)}")
        print()
    groups: dict[tuple, list] = {}
    for b in bts:
        key = tuple((f.pc, f.function, f.inlined) for f in b.frames) if args.all and not args.full else (b.thread,)
        groups.setdefault(key, []).append(b)
    for members in groups.values():
        b = members[0]
        if len(members) > 1:
            tids = ", ".join(str(m.tid) for m in members[:20]) + (" ..." if len(members) > 20 else "")
            print(f"{len(members)} threads with this stack (tids {tids}):")
        else:
            print(f"thread {b.thread} (tid {b.tid}):")
        for f in b.frames:
            print("  " + _frame_line(f))
            if args.full:
                for v in fvs[b.thread].variables(f):
                    print("        " + safe_text(v.text()))
                if f.registers and not f.inlined:
                    print("        registers: " + " ".join(f"{k}=0x{v:x}" for k, v in f.registers.items()))
        print(f"  (unwinding stopped: {safe_text(b.stop)})")
        print()
    if fs:
        print(fs.text())
    for p in problems:
        print(f"PROBLEM: {safe_text(p)}")
    return 1 if c.problems else 0
