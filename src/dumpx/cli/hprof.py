"""``dumpx hprof histo FILE [--top N] [--json] [--diff OTHER]``."""

from __future__ import annotations

import json

from ..hprof.histogram import diff_histograms, histogram_findings
from ..hprof.reader import HeapDump
from ..render import safe_text
from .progress import Progress


def add_parser(sub) -> None:
    p = sub.add_parser("hprof", help="JVM HPROF heap dumps")
    hs = p.add_subparsers(dest="hprof_command", required=True)
    h = hs.add_parser("histo", help="class histogram, largest objects and the footprint reading")
    h.add_argument("file")
    h.add_argument("--top", type=int, default=30, help="rows to show (default 30)")
    h.add_argument("--json", action="store_true", help="machine-readable output")
    h.add_argument("--quiet", action="store_true", help="no progress on stderr")
    h.add_argument("--snapshot", type=int, default=0, help="which heap dump of a multi-dump file")
    h.add_argument("--diff", metavar="OTHER", help="a later dump of the same JVM: growth by class")
    h.set_defaults(run=run_histo)


def _load(path: str, args) -> HeapDump:
    prog = Progress(f"scanning {safe_text(path)}", enabled=False if args.quiet else None)
    d = HeapDump(path, progress=prog, snapshot=args.snapshot)
    try:
        d.scan
    finally:
        prog.close()
    return d


def run_histo(args) -> int:
    d = _load(args.file, args)
    hist = d.histogram()
    findings = histogram_findings(d, hist)
    if args.diff:
        other = _load(args.diff, args)
        diff = diff_histograms(hist, other.histogram())
    if args.json:
        out = {"provenance": d.provenance(), "layout": hist.layout.describe(),
               "total_count": hist.total_count, "total_bytes": hist.total_bytes,
               "histogram": hist.top_by_bytes(args.top).rows(),
               "largest_objects": hist.largest.head(args.top).rows(),
               "footprint": hist.footprint(min(args.top, 10)).rows(),
               "findings": findings.to_dicts()}
        if args.diff:
            out["diff"] = diff.head(args.top).rows()
        print(json.dumps(out, indent=2, default=lambda o: o.item() if hasattr(o, "item") else str(o)))
        return 0 if d.scan.complete else 1
    print(hist.top_by_bytes(args.top).text())
    print(f"Total: {hist.total_count:,} objects, {hist.total_bytes:,} bytes "
          f"({len(hist)} classes; sizes for {safe_text(hist.layout.name)})")
    print()
    print(hist.largest.head(min(args.top, 10)).text())
    print()
    print(hist.footprint(min(args.top, 10)).text())
    if args.diff:
        print()
        print(diff.head(args.top).text())
    print()
    print(findings.text())
    return 0 if d.scan.complete else 1
