"""``dumpx fleet PATH_OR_GLOB... [--workers N] [--scheduler ADDRESS] [--json] [--html OUT]``."""

from __future__ import annotations

import json


def add_parser(sub) -> None:
    import argparse

    from .examine import MANY_INPUTS_EXIT, add_reading_options
    p = sub.add_parser(
        "fleet", help="many dumps at once: clusters of dumps that read alike, and the odd ones out",
        description="Examine every input on its own (in a local process pool, or on a Dask cluster with "
                    "--scheduler) and compare: clusters by crash signature, stuck set or accumulation point; "
                    "a function most dumps run and a few do not; a module on another build than the rest; "
                    "counts far from the fleet's; the inputs that could not be read (rows with their error).",
        epilog="example: dumpx fleet 'pods/*.txt' --workers 8 --html fleet.html\n" + MANY_INPUTS_EXIT,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", metavar="PATH_OR_GLOB",
                   help="dumps, globs (quote them: 'dumps/**/*.core' is expanded by dumpx) or fsspec URLs")
    p.add_argument("--workers", type=int, help="local worker processes (default: the CPUs; 1: serially)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="a Dask distributed scheduler (tcp://host:8786) to run on")
    p.add_argument("--memory-limit", metavar="SIZE", help="per local worker (e.g. 4G): a dump over it is "
                   "reported as memory-limit")
    p.add_argument("--resume", metavar="JOURNAL", help="a journal file: inputs already in it are not read "
                   "again, and each result is appended as it arrives")
    add_reading_options(p, top=30, schema="fleet")
    p.set_defaults(run=run)


def run(args) -> int:
    from ..fleets import fleet
    client = None
    if args.scheduler:
        try:
            from distributed import Client
        except ImportError:
            raise SystemExit("dumpx fleet --scheduler needs Dask: pip install 'dumpx[fleet]'")
        client = Client(args.scheduler)
    try:
        report = fleet(args.inputs, workers=args.workers, client=client, memory_limit=args.memory_limit,
                       resume=args.resume, binaries=args.binary, search_paths=args.search_path,
                       expect=args.expect, graph=not args.no_graph)
    finally:
        if client is not None:
            client.close()
    title = "dumpx fleet: " + ", ".join(args.inputs)[:200]
    if args.html:
        from ..reporters import fleet_html
        with open(args.html, "w", encoding="utf-8") as f:
            f.write(fleet_html(report, title))
    if args.markdown:
        from ..reporters import fleet_markdown
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write(fleet_markdown(report, title))
    if args.json:
        print(json.dumps(report.to_dict(), indent=1))
    else:
        print(report.text(args.top))
    return 0 if all(s.get("status") == "ok" for s in report.summaries) else 1
