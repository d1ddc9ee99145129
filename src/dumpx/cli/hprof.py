"""``dumpx hprof histo FILE [--top N] [--json] [--diff OTHER]``."""

from __future__ import annotations

import sys

from ..render import safe_text
from .jsonout import dumps


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
    dm = _graph_command(hs, "dominators", "objects by retained size, with their dominator chains and "
                                          "accumulation points", run_dominators)
    dm.add_argument("--top", type=int, default=20)
    pa = _graph_command(hs, "path", "the shortest path of references from the GC roots to an object",
                        run_path, object_id=True)
    pa.add_argument("--exclude-weak", action="store_true",
                    help="not through the referent of a weak, soft, phantom or finalizer reference")
    ins = _graph_command(hs, "instances", "every object of a class with shallow and retained sizes, largest "
                                          "retained first (e.g. dumpx hprof instances heap.hprof "
                                          "java.util.HashMap --top 10)", run_instances)
    ins.add_argument("class_name", help="a class name as the histogram spells it (java.util.HashMap, "
                                        "[Ljava.lang.Object;, [B)")
    ins.add_argument("--subclasses", action="store_true", help="and the objects of every class extending it")
    ins.add_argument("--top", type=int, default=20, help="rows to show (default 20)")
    ob = _graph_command(hs, "object", "one object: its fields and values, what retains it, who refers to it "
                                      "and its path from the GC roots (e.g. dumpx hprof object heap.hprof "
                                      "0xfc1f1d38)", run_object, object_id=True)
    ob.add_argument("--exclude-weak", action="store_true",
                    help="the path from the GC roots not through weak/soft/phantom/finalizer referents")


def _graph_command(hs, name: str, help_: str, run, object_id: bool = False):
    """A command over the object graph: FILE [OBJECT_ID] --json --quiet --snapshot --index/--no-index."""
    p = hs.add_parser(name, help=help_)
    p.add_argument("file")
    if object_id:
        p.add_argument("object_id", help="the object id, e.g. 0xfc1f1d38")
    p.add_argument("--json", action="store_true", help="machine-readable output (schema/command.schema.json)")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.add_argument("--snapshot", type=int, default=0, help="which heap dump of a multi-dump file")
    p.add_argument("--memory", metavar="SIZE",
                   help="a memory budget for building the graph (e.g. 8G): a dump whose in-memory build "
                        "needs more (about 64 bytes per object) is built in memory-mapped work files in "
                        "$DUMPX_TMPDIR instead, slower but within it")
    _index_options(p)
    p.set_defaults(run=run)
    return p


def _index_options(p) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--index", metavar="DIR",
                   help="keep the graph's index (dominators, retained sizes) in DIR instead of the "
                        "cache directory ($DUMPX_CACHE_DIR, default ~/.cache/dumpx); a second query reads it "
                        "instead of the dump")
    g.add_argument("--no-index", action="store_true", help="neither read nor write an index")


def memory_budget(args) -> int | None:
    """``--memory SIZE`` in bytes (None when not given); a size that is none is a usage error."""
    if getattr(args, "memory", None) is None:
        return None
    from ..errors import DumpError
    from ..sources import parse_size
    try:
        return parse_size(args.memory)
    except ValueError as e:
        raise DumpError(f"--memory: {e}", offset=None) from None


def _load(path: str, args):
    from ..hprof.reader import HeapDump
    from .kinds import expect
    from .progress import Progress
    expect(path, "hprof")
    prog = Progress(f"scanning {safe_text(path)}", enabled=False if args.quiet else None)
    index = False if getattr(args, "no_index", False) else getattr(args, "index", None)
    memory = memory_budget(args)
    d = HeapDump(path, progress=prog, snapshot=args.snapshot, index=index, memory=memory)
    try:
        d.scan
    finally:
        prog.close()
    if memory is not None:
        from ..hprof.graph import object_count
        from ..hprof.workspace import budget_warnings, work_directory
        for text in budget_warnings(memory, object_count(d), work_directory()):
            print(f"dumpx: warning: {safe_text(text)}", file=sys.stderr)
    return d


def run_histo(args) -> int:
    from ..hprof.histogram import diff_histograms, histogram_findings
    d = _load(args.file, args)
    hist = d.histogram()
    findings = histogram_findings(d, hist)
    if args.diff:
        other = _load(args.diff, args)
        diff = diff_histograms(hist, other.histogram())
    if args.json:
        out = {"layout": hist.layout.describe(),
               "total_count": hist.total_count, "total_bytes": hist.total_bytes,
               "histogram": hist.top_by_bytes(args.top).rows(),
               "largest_objects": hist.largest.head(args.top).rows(),
               "footprint": hist.footprint(min(args.top, 10)).rows(),
               "findings": findings.to_dicts()}
        if args.diff:
            out["diff"] = diff.head(args.top).rows()
        print(dumps(args.file, "hprof", d.provenance(), out))
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


def run_dominators(args) -> int:
    from ..hprof.graph import graph_findings
    from ..table import Table
    d = _load(args.file, args)
    g = d.graph()
    top = g.top_retained(args.top)
    rows = top.rows()
    for r in rows:
        v = int(r.pop("vertex"))
        ap = g.accumulation_point(v)
        r["accumulation_point"] = {"object_id": int(g.ids[ap]), "class_name": g.class_name(ap),
                                   "retained_bytes": int(g.retained[ap]),
                                   "children": g.dominated(ap)}
        r["dominator_chain"] = [g.class_name(u) for u in g.dominator_chain(v)]
    top = Table({k: top[k] for k in top.columns if k != "vertex"}, title=top.title,
                hex_columns=top.hex_columns)
    if args.json:
        print(dumps(args.file, "hprof", d.provenance(), {"objects": len(g.ids), "unreachable": int(len(g.unreachable())),
                          "dangling_references": g.dangling, "top": rows,
                          "findings": graph_findings(g).to_dicts()}))
        return 0 if d.scan.complete else 1
    print(top.text())
    print()
    for r in rows[: min(10, len(rows))]:
        a = r["accumulation_point"]
        print(f"0x{int(r['object_id']):x} {safe_text(r['class_name'])}: retains {r['retained_bytes']:,} bytes; "
              f"accumulates in 0x{a['object_id']:x} {safe_text(a['class_name'])} "
              f"({a['retained_bytes']:,} bytes over {a['children']:,} dominated objects)")
        print("    chain: " + " -> ".join(safe_text(c) for c in r["dominator_chain"]))
    print(f"\n{len(g.unreachable()):,} unreachable objects are left out of retained sizes; "
          f"{g.dangling:,} references point to ids not in the dump\n")
    print(graph_findings(g).text())
    return 0 if d.scan.complete else 1


def run_path(args) -> int:
    d = _load(args.file, args)
    g = d.graph()
    v = g.resolve(str(args.object_id))
    steps = g.path_to(v, exclude_weak=args.exclude_weak)
    if args.json:
        print(dumps(args.file, "hprof", d.provenance(), {"object_id": int(g.ids[v]), "steps": steps,
                                                         "retained_bytes": int(g.retained[v])}))
        return 0
    if not steps:
        print(f"0x{int(args.object_id, 0):x} is not reachable from any GC root (garbage at dump time)")
        return 0
    for k, s in enumerate(steps):
        print(f"{'  ' * k}{safe_text(s['via'])} -> 0x{s['object_id']:x} {safe_text(s['class_name'])}")
    print(f"retains {int(g.retained[v]):,} bytes")
    return 0


def run_instances(args) -> int:
    d = _load(args.file, args)
    g = d.graph()
    t = g.instances(args.class_name, subclasses=args.subclasses)
    top = t.head(args.top)
    if args.json:
        rows = top.rows()
        print(dumps(args.file, "hprof", d.provenance(),
                    {"class_name": args.class_name, "subclasses": args.subclasses, "objects": len(t),
                     "shallow_bytes": int(t["shallow_bytes"].sum()), "top": rows}))
        return 0 if d.scan.complete else 1
    print(top.text(args.top))
    print(f"{len(t):,} objects, {int(t['shallow_bytes'].sum()):,} shallow bytes")
    return 0 if d.scan.complete else 1


def run_object(args) -> int:
    d = _load(args.file, args)
    g = d.graph()
    v = g.resolve(str(args.object_id))
    fields = g.fields(v)
    refs = g.referrers(v, limit=20)
    path = g.path_to(v, exclude_weak=args.exclude_weak)
    chain = [{"object_id": int(g.ids[u]), "class_name": g.class_name(u), "retained_bytes": int(g.retained[u])}
             for u in g.dominator_chain(v)]
    if args.json:
        print(dumps(args.file, "hprof", d.provenance(),
                    {"object_id": int(g.ids[v]), "class_name": g.class_name(v),
                     "shallow_bytes": int(g.shallow[v]), "retained_bytes": int(g.retained[v]),
                     "fields": fields.rows(), "referrers": refs.rows(), "dominator_chain": chain,
                     "path_from_roots": path}))
        return 0 if d.scan.complete else 1
    print(f"0x{int(g.ids[v]):x} {safe_text(g.class_name(v))}: {int(g.shallow[v]):,} bytes, retains "
          f"{int(g.retained[v]):,}")
    print()
    print(fields.text(60))
    print()
    print(refs.text(20))
    print()
    print("dominated by: " + " -> ".join(safe_text(c["class_name"]) for c in chain))
    print("path from the GC roots" + (" (weak references left out)" if args.exclude_weak else "") + ":")
    for k, s in enumerate(path):
        print(f"{'  ' * k}{safe_text(s['via'])} -> 0x{s['object_id']:x} {safe_text(s['class_name'])}")
    if not path:
        print("  none: not reachable" + (" except through weak references" if args.exclude_weak else ""))
    return 0 if d.scan.complete else 1
