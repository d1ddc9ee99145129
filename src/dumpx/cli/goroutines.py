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
    if other is not None:
        print()
        print(gr.diff(d, other).head(args.top).text())
    print()
    shown = fs if args.all else type(fs)(sorted(fs, key=lambda f: -int(f.severity))[:MAX_FINDINGS])
    print(shown.text())
    if len(shown) < len(fs):
        print(f"\n... {len(fs) - len(shown)} more findings left out (--all prints every one, --json has them all)")
    return 1 if d.problems else 0
