"""``dumpx examine FILE... [--binary B] [--expect FUNC] [--then LATER] [--json]``."""

from __future__ import annotations

import argparse
import json

MANY_INPUTS_EXIT = ("exit status: 0 every input read whole; 1 an input was damaged, partial or unreadable; "
                    "2 usage errors")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "examine", help="any dumps: every analysis that applies, one ranked list of findings",
        description="Sniff each input and run every analysis that applies, in the order a senior would: "
                    "what the dump says about itself and its builds first, then the readings (HPROF: "
                    "histogram and dominators; cores and minidumps: build verification, smash and canary, the "
                    "crashing thread's unknown frames, a minidump's exception; goroutine dumps: stuck sets "
                    "and absent producers; py-spy captures: their readings). An unreadable input is a row with its error.",
        epilog="example: dumpx examine heap.hprof core.1234 --binary ./server --json > report.json\n"
               + MANY_INPUTS_EXIT,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+", metavar="FILE", help="dumps of any supported kind")
    p.add_argument("--then", metavar="LATER", help="a later goroutine dump of the same process: the diff readings")
    p.add_argument("--memory", metavar="SIZE", help="HPROF: a memory budget for the object graph (e.g. 8G; "
                                                      "see dumpx hprof dominators --memory)")
    add_reading_options(p, top=50, schema="examine")
    p.set_defaults(run=run)


def add_reading_options(p, *, top: int, schema: str) -> None:
    """The options ``examine`` and ``fleet`` share: what to verify cores against, what Go function to
    expect, how much of a heap to read, and the outputs."""
    p.add_argument("--binary", action="append", default=[], metavar="PATH",
                   help="a binary or debug file (ELF, or a PDB or PE image) to verify a core's or minidump's modules against (repeatable)")
    p.add_argument("--search-path", action="append", default=[], metavar="DIR",
                   help="a directory (or .build-id tree) to look for binaries in (repeatable)")
    p.add_argument("--expect", action="append", default=[], metavar="FUNC",
                   help="a Go function that should be running (repeatable; see dumpx goroutines)")
    p.add_argument("--no-graph", action="store_true", help="HPROF: the histogram only, no object graph")
    p.add_argument("--top", type=int, default=top, help=f"findings to print (default {top}; --json has all)")
    p.add_argument("--json", action="store_true", help=f"the report as JSON (schema/{schema}.schema.json)")
    p.add_argument("--html", metavar="OUT", help="also write the report as one self-contained HTML file")
    p.add_argument("--markdown", metavar="OUT", help="also write the findings as markdown (for the write-up)")


def run(args) -> int:
    from ..examination import examine
    from .hprof import memory_budget
    memory = memory_budget(args)
    report = examine(args.files, binaries=args.binary, search_paths=args.search_path, expect=args.expect,
                     then=args.then, graph=not args.no_graph, memory=memory)
    if args.html:
        from ..reporters import html_report
        with open(args.html, "w", encoding="utf-8") as f:
            f.write(html_report(report, title="dumpx examine: " + ", ".join(args.files)[:200]))
    if args.markdown:
        from ..reporters import markdown_report
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write(markdown_report(report, title="dumpx examine: " + ", ".join(args.files)[:200]))
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report.text(args.top))
    partial = any(e.error is not None or any(f.kind.endswith(("-partial", "-truncated", "-damaged"))
                                             for f in e.findings) for e in report.inputs)
    return 1 if partial else 0
