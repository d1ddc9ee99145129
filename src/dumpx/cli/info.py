"""``dumpx info FILE [--json]``."""

from __future__ import annotations


from ..render import fmt_value, human_bytes, safe_text


def add_parser(sub) -> None:
    p = sub.add_parser("info", help="detect a dump's format, compression and provenance")
    p.add_argument("file")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--quick", action="store_true",
                   help="do not decode a compressed file to measure it")
    p.set_defaults(run=run)


def run(args) -> int:
    from ..info import info
    d = info(args.file, measure=not args.quick)
    if args.json:
        from .jsonout import dumps
        body = {k: v for k, v in d.items() if k not in ("path", "format", "provenance")}
        print(dumps(d.get("path", args.file), d.get("format"), d.get("provenance"), body))
        return 0
    print(f"file:        {safe_text(d['path'])}")
    print(f"format:      {safe_text(d['format'])} — {safe_text(d['description'])}")
    print(f"compression: {safe_text(d['compression'] or 'none')}")
    print(f"on disk:     {d['size_on_disk']:,} bytes ({human_bytes(d['size_on_disk'])})")
    if d["size"] is not None:
        print(f"size:        {d['size']:,} bytes ({human_bytes(d['size'])})")
    for k, v in d["provenance"].items():
        print(f"{safe_text(k) + ':':<13}{safe_text(v) if isinstance(v, int) else fmt_value(v)}")
    for note in d.get("notes", []):
        print(f"note:        {safe_text(note)}")
    for prob in d["problems"]:
        print(f"PROBLEM:     {safe_text(prob)}")
    return 1 if d["problems"] else 0
