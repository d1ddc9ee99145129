"""``dumpx pyspy FILE_OR_BUNDLE [--json]`` and ``dumpx pyspy capture PID``."""

from __future__ import annotations

import sys

from ..render import safe_text


def add_parser(sub) -> None:
    p = sub.add_parser("pyspy", help="py-spy output cross-examined with the kernel's view")
    p.add_argument("target", help="a py-spy dump (text or --json), a capture bundle directory, "
                                  "or 'capture' to capture a live process")
    p.add_argument("pid", nargs="?", type=int, help="with 'capture': the process id")
    p.add_argument("--out", help="with 'capture': the bundle directory (default pyspy-PID)")
    p.add_argument("--locals", action="store_true", help="with 'capture': also py-spy --locals")
    p.add_argument("--native", action="store_true", help="with 'capture': also py-spy --native")
    p.add_argument("--strace", type=float, default=0, metavar="SECONDS",
                   help="with 'capture': also strace -f and strace -c for this long")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run)


def run(args) -> int:
    from .. import pyspy
    target = args.target
    if target == "capture":
        if args.pid is None:
            print("dumpx pyspy capture PID", file=sys.stderr)
            return 2
        target = str(pyspy.capture(args.pid, args.out or f"pyspy-{args.pid}", locals_=args.locals,
                                   native=args.native, strace_seconds=args.strace))
        print(f"captured into {safe_text(target)}", file=sys.stderr)
    from .kinds import expect
    fmt = expect(target, "pyspy")
    ev = pyspy.load(target)
    table = ev.table()
    fs = ev.findings()
    if args.json:
        from .jsonout import dumps
        import os
        print(dumps(target, "pyspy-bundle" if os.path.isdir(target) else fmt,
                    {"pid": ev.dump.pid, "python": ev.dump.python, "command": ev.dump.command},
                    {"pid": ev.dump.pid, "python": ev.dump.python, "threads": table.rows(),
                     "findings": fs.to_dicts(), "notes": ev.notes, "unknown_lines": ev.dump.unknown_lines}))
        return 0
    print(f"process {ev.dump.pid}: {safe_text(ev.dump.command or '')} (Python {safe_text(ev.dump.python or '?')})")
    print(table.text())
    print()
    print(fs.text())
    return 0
