"""``dumpx goroutines FILE [--expect F ...] [--diff OTHER] [--json]``."""

from __future__ import annotations


from ..render import safe_text


def add_parser(sub) -> None:
    p = sub.add_parser("goroutines", help="Go goroutine dumps: buckets, stuck sets, absent producers")
    p.add_argument("file")
    p.add_argument("--expect", action="append", default=[], metavar="FUNC",
                   help="a function that should be running (e.g. 'notify.(*Consumer).run'); repeatable")
    p.add_argument("--diff", metavar="OTHER", help="a later dump of the same process")
    p.add_argument("--exact", action="store_true", help="bucket by exact stack (arguments included)")
    p.add_argument("--top", type=int, default=20)
    p.add_argument("--json", action="store_true")
    p.add_argument("--all", action="store_true", help=f"print every finding (the text output shows the "
                   f"{MAX_FINDINGS} most severe and says how many it left out)")
    p.set_defaults(run=run)


MAX_FINDINGS = 30
STACKS_SHOWN = 10


def _short(path: str | None, line) -> str:
    """``pkg/file.go:line``: the last two elements of a source path, as panicparse shortens them
    (``?`` where the dump gave no file line)."""
    if not path:
        return "?"
    return "/".join(path.replace("\\", "/").split("/")[-2:]) + (f":{line}" if line is not None else "")


def _stacks(d, b, n: int) -> str:
    """Each of the first ``n`` buckets with its stack, panicparse-style: count, state and wait range,
    then the frames with shortened paths; the program's own frames (``main`` and packages outside
    the standard library, whose first path element has a dot) marked with ``*``."""
    from ..goroutines.idle import package
    out = []
    for row in b.head(n).rows():
        st = d.stacks[int(row["stack"])]
        lo, hi = row["wait_min_minutes"], row["wait_max_minutes"]
        wait = f" [{max(lo, 0)}~{hi} minutes]" if hi >= 0 else ""
        out.append(f"{row['count']:,}: {safe_text(row['state'])}{wait}"
                   + (" (locked to thread)" if row["locked_to_thread"] else ""))
        for f in st.frames:
            pkg = package(f.func)
            mark = "*" if pkg == "main" or "." in pkg.split("/")[0] else " "    # not the standard library
            out.append(f"  {mark} {safe_text(f.func):<48} {safe_text(_short(f.file, f.line))}")
        if st.created_by is not None:
            cb = st.created_by
            out.append(f"    created by {safe_text(cb.func)}  {safe_text(_short(cb.file, cb.line))}")
        out.append("")
    if len(b) > n:
        out.append(f"... {len(b) - n} more buckets' stacks (--all, or --json)")
    return "\n".join(out).rstrip()


def run(args) -> int:
    from .. import goroutines as gr
    from .jsonout import dumps
    from .kinds import expect
    fmt = expect(args.file, "goroutines")
    d = gr.open(args.file)
    other = gr.open(args.diff) if args.diff else None
    b = d.buckets(exact=args.exact)
    fs = d.findings(expect=args.expect, diff=other)
    if args.json:
        out = {"variant": d.format, "goroutines": d.total, "distinct_stacks": len(d.stacks),
               "state_inferred": d.state_inferred, "preamble": d.preamble[:10],
               "buckets": b.head(args.top).rows(), "findings": fs.to_dicts(),
               "problems": [str(p) for p in d.problems], "notes": d.notes}
        for r in out["buckets"]:
            for k in ("wait_min_minutes", "wait_max_minutes"):      # none reported: null, not -1
                r[k] = r[k] if r[k] >= 0 else None
            st = d.stacks[int(r["stack"])]
            r["frames"] = [{"func": f.func, "file": f.file, "line": f.line} for f in st.frames]
        if other is not None:
            out["diff"] = gr.diff(d, other).head(args.top).rows()
        print(dumps(args.file, fmt, {"goroutines": d.total, "variant": d.format}, out))
        return 1 if d.problems else 0
    print(f"{safe_text(d.name)}: {d.total:,} goroutines ({safe_text(d.format)}), "
          f"{len(d.stacks)} distinct stacks" + (" — states inferred" if d.state_inferred else ""))
    for line in d.preamble[:3]:
        print(f"  {safe_text(line)}")
    print()
    print(b.head(args.top).text())
    print()
    print(_stacks(d, b, args.top if args.all else min(args.top, STACKS_SHOWN)))
    if other is not None:
        print()
        print(gr.diff(d, other).head(args.top).text())
    print()
    shown = fs if args.all else type(fs)(sorted(fs, key=lambda f: -int(f.severity))[:MAX_FINDINGS])
    print(shown.text())
    if len(shown) < len(fs):
        print(f"\n... {len(fs) - len(shown)} more findings left out (--all prints every one, --json has them all)")
    return 1 if d.problems else 0
