"""``dumpx core info CORE`` and ``dumpx core stack CORE [--thread N] [--words 32]``."""

from __future__ import annotations

import json

from ..elf.core import Core
from ..render import safe_text


def add_parser(sub) -> None:
    p = sub.add_parser("core", help="Linux ELF core files")
    cs = p.add_subparsers(dest="core_command", required=True)
    i = cs.add_parser("info", help="threads, signal, process, modules with build-ids")
    i.add_argument("core")
    i.add_argument("--json", action="store_true")
    i.set_defaults(run=run_info)
    v = cs.add_parser("verify", help="does each module's build-id match the binaries you have?")
    v.add_argument("core")
    v.add_argument("--binary", action="append", default=[], metavar="FILE")
    v.add_argument("--search", action="append", default=[], metavar="DIR",
                   help="a directory with binaries or a .build-id/ tree (e.g. /usr/lib/debug)")
    v.add_argument("--json", action="store_true")
    v.set_defaults(run=run_verify)
    s = cs.add_parser("stack", help="raw stack words from the stack pointer, like x/32gx $rsp")
    s.add_argument("core")
    s.add_argument("--thread", type=int, default=0)
    s.add_argument("--words", type=int, default=32)
    s.add_argument("--json", action="store_true")
    s.set_defaults(run=run_stack)


def run_info(args) -> int:
    c = Core(args.core)
    mods = c.modules()
    if args.json:
        print(json.dumps({"machine": c.machine, "process": c.process, "siginfo": c.siginfo,
                          "threads": [{"index": t.index, "pid": t.pid, "signal": t.signal,
                                       "registers": t.registers} for t in c.threads],
                          "auxv": c.auxv, "modules": [m.__dict__ for m in mods],
                          "findings": c.findings().to_dicts(), "problems": c.problems}, indent=2))
        return 0
    print(f"{safe_text(c.source.name)}: {c.machine} core of {safe_text(c.process.get('name', '?'))} "
          f"(pid {c.process.get('pid', '?')}), {len(c.threads)} threads")
    if c.process.get("args"):
        print(f"  command: {safe_text(c.process['args'])}")
    if c.siginfo:
        si = c.siginfo
        print(f"  signal: {si['signal']} code {si['code']}" + (f" addr 0x{si['addr']:x}" if "addr" in si else ""))
    for t in c.threads:
        print(f"  thread {t.index} (tid {t.pid}): pc 0x{t.pc or 0:x} sp 0x{t.sp or 0:x}")
    print("modules (start+size build-id@address path):")
    for m in mods:
        bid = f"{m.build_id}@0x{m.build_id_address:x}" if m.build_id else "-"
        print(f"  0x{m.start:x}+0x{m.size:x} {bid} {safe_text(m.path or '-')}"
              + (f"  [{safe_text(m.problem)}]" if m.problem else ""))
    for p in c.problems:
        print(f"PROBLEM: {safe_text(p)}")
    print()
    print(c.findings().text())
    print("\nverify the builds before trusting any frame: dumpx core verify CORE --binary FILE")
    return 1 if c.problems else 0


def run_verify(args) -> int:
    from ..elf.verify import MISMATCH, verdict_table, verify_findings
    c = Core(args.core)
    vs = c.verify(args.binary, args.search)
    fs = verify_findings(vs)
    if args.json:
        print(json.dumps({"modules": [v.__dict__ for v in vs], "findings": fs.to_dicts()}, indent=2))
    else:
        print(verdict_table(vs).text())
        print()
        print(fs.text())
    return 3 if any(v.verdict == MISMATCH for v in vs) else 0


def run_stack(args) -> int:
    c = Core(args.core)
    words = c.stack_words(args.thread, args.words)
    if args.json:
        print(json.dumps([{"address": a, "value": v} for a, v in words]))
        return 0
    for k in range(0, len(words), 2):
        pair = words[k:k + 2]
        vals = "\t".join("(not captured)" if v is None else f"0x{v:016x}" for _, v in pair)
        print(f"0x{pair[0][0]:x}:\t{vals}")
    return 0
