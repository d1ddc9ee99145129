"""``dumpx.examine``: one door in. Each input is sniffed and read by its family's reader, and every
analysis that applies runs in the order a senior would — what the dump says about itself and the
builds first, then the readings — into one ranked list of findings and one JSON contract
(``schema/examine.schema.json``).

A dump that cannot be read is a row with its DumpError (type, offset, message), not the end of
the run: an incident rarely leaves one dump, and the damaged one is evidence too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Iterable

from .errors import DumpError
from .findings import Finding, Findings

SCHEMA_VERSION = 1


SECTION_ROWS = 50            # rows of each table kept for the reports: the top, never the whole heap


@dataclass
class Section:
    """A table for the reports, with an optional text per row shown when the row is opened (an
    object's dominator chain and path from the GC roots, a goroutine bucket's stack)."""

    title: str
    table: Any
    details: list[str] | None = None


@dataclass
class Examined:
    """One input: its path, format, provenance and findings, or the error that stopped it; and
    the top of its tables (``sections``) for the HTML and markdown reports."""

    path: str
    format: str | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    findings: Findings = field(default_factory=Findings)
    error: DumpError | None = None
    sections: list[Section] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        from .findings import _jsonable
        return {"path": self.path, "format": self.format, "provenance": _jsonable(self.provenance),
                "findings": self.findings.sorted().to_dicts(),
                "error": None if self.error is None else
                {"type": type(self.error).__name__, "message": self.error.message, "offset": self.error.offset}}


class Report:
    """What ``examine`` found in every input, ranked: ``findings`` (most severe first, each with
    the index of its input), ``inputs`` (one :class:`Examined` each), ``to_dict()`` for JSON."""

    def __init__(self, inputs: list[Examined]):
        self.inputs = inputs

    @property
    def findings(self) -> Findings:
        ranked = [(-int(f.severity), i, k, f) for i, e in enumerate(self.inputs)
                  for k, f in enumerate(e.findings)]
        return Findings(f for *_, f in sorted(ranked, key=lambda r: r[:3]))

    def to_dict(self) -> dict[str, Any]:
        from . import __version__
        ranked = []
        for i, e in enumerate(self.inputs):
            for f in e.findings:
                ranked.append((-int(f.severity), i, {"input": i, **f.to_dict()}))
        ranked.sort(key=lambda r: r[:2])
        return {"schema_version": SCHEMA_VERSION, "tool": {"name": "dumpx", "version": __version__},
                "inputs": [e.to_dict() for e in self.inputs], "findings": [r[2] for r in ranked]}

    def text(self, limit: int = 50) -> str:
        from .render import safe_text
        out = []
        for i, e in enumerate(self.inputs):
            head = f"[{i}] {safe_text(e.path)}: {safe_text(e.format or 'unreadable')}"
            if e.error is not None:
                head += f" — {type(e.error).__name__}: {safe_text(str(e.error))}"
            out.append(head)
        fs = self.findings
        out.append("")
        for f in fs[:limit]:
            k = next(i for i, e in enumerate(self.inputs) if any(x is f for x in e.findings))
            out.append(f"({k}) " + f.text())
            out.append("")
        if len(fs) > limit:
            out.append(f"... {len(fs) - limit} more findings (--json for all)")
        return "\n".join(out).rstrip() or "(no findings)"

    __str__ = text

    def __repr__(self) -> str:
        return f"<Report {len(self.inputs)} inputs, {len(self.findings)} findings>"

    def _repr_pretty_(self, p, cycle) -> None:
        p.text(repr(self) if cycle else self.text(20))

    def _repr_html_(self) -> str:
        from .reporters.html import _finding
        from .render import safe_html
        owner = {id(f): i for i, e in enumerate(self.inputs) for f in e.findings}
        inputs = "".join(f"<li><code>{safe_html(e.path)}</code>: {safe_html(e.format or 'unreadable')}</li>"
                         for e in self.inputs)
        return f"<ol start='0'>{inputs}</ol>" + "".join(_finding(f, owner.get(id(f))) for f in self.findings[:100])


def _examine_one(path, *, binaries, search_paths, expect, then, graph, inspect=None, memory=None) -> Examined:
    """``inspect(format, reader, examined)``, if given, runs after the readings while the reader is
    open (``dumpx.fleet`` takes its comparable facts there, without a second read)."""
    from . import formats
    name = os.fspath(path)
    e = Examined(name)
    try:
        if os.path.isdir(path):               # a py-spy capture bundle (dumpx.open says if not)
            e.format = "pyspy-bundle"
        else:
            source, det = formats.identify(path)
            source.close()
            e.format = det.format
        reader = formats.open(path)
        # the reader's own account: one pass over the dump, not a second one for `info`
        prov = getattr(reader, "provenance", None)
        e.provenance = prov() if callable(prov) else {}
    except DumpError as err:
        e.error = err
        return e
    fmt = e.format or ""
    try:
        if fmt == "hprof":
            e.findings.extend(reader.findings(graph=False))
            e.sections.append(Section("class histogram (largest shallow bytes)",
                                      reader.histogram().top_by_bytes(SECTION_ROWS)))
            if graph:
                from .hprof.graph import graph_findings
                g = reader.graph(memory=memory)
                e.findings.extend(graph_findings(g))
                e.sections.append(_retainers(g))
        elif fmt == "elf-core" or fmt == "minidump":
            e.findings.extend(reader.findings(binaries=binaries, search_paths=search_paths))
            core = reader if fmt == "elf-core" else reader.process()
            if core.threads:
                e.sections.append(_backtraces(core.backtraces(binaries, search_paths)))
        elif fmt.startswith("go-"):
            later = formats.open(then) if then is not None else None
            e.findings.extend(reader.findings(expect=expect, diff=later))
            e.sections.append(_buckets(reader))
        else:
            e.findings.extend(reader.findings())
            table = getattr(reader, "table", None)
            if fmt == "pyspy-bundle" and callable(table):
                e.sections.append(Section("py-spy beside the kernel", table()))
        if inspect is not None:
            inspect(fmt, reader, e)
    except DumpError as err:
        e.error = err
    finally:
        close = getattr(reader, "close", None)
        if close is not None:
            close()
    return e


def _retainers(g) -> Section:
    """The largest retainers, each with its dominator chain and path from the GC roots."""
    top = g.top_retained(SECTION_ROWS)
    details = []
    for v in top["vertex"].tolist():
        chain = " -> ".join(g.class_name(u) for u in g.dominator_chain(int(v)))
        path = "\n".join(f"{'  ' * k}{s['via']} -> 0x{s['object_id']:x} {s['class_name']}"
                         for k, s in enumerate(g.path_to(int(v))))
        ap = g.accumulation_point(int(v))
        details.append(f"accumulates in 0x{int(g.ids[ap]):x} {g.class_name(ap)} "
                       f"({int(g.retained[ap]):,} bytes over {g.dominated(ap):,} dominated objects)\n"
                       f"dominator chain: {chain}\npath from the GC roots:\n{path or '(unreachable)'}")
    from .table import Table
    return Section("objects by retained size", Table({k: top[k] for k in top.columns if k != "vertex"},
                                                     title=top.title, hex_columns=top.hex_columns), details)


def _buckets(d) -> Section:
    from .table import Table
    b = d.buckets()
    order = b["count"].argsort(kind="stable")[::-1][:SECTION_ROWS]
    b = b[order]
    details = []
    for i, lo, hi in zip(b["stack"].tolist(), b["wait_min_minutes"].tolist(), b["wait_max_minutes"].tolist()):
        st = d.stacks[int(i)]
        wait = "" if hi < 0 else f"waiting [{max(lo, 0)}~{hi} minutes]\n"   # none reported: under a minute
        frames = "\n".join(f"{f.func}\n    {f.file}:{f.line}" for f in st.frames)
        cb = getattr(st, "created_by", None)
        created = f"\ncreated by {cb.func}\n    {cb.file}:{cb.line}" if cb is not None else ""
        details.append(wait + frames + created)
    cols = {k: b[k] for k in b.columns if k != "stack"}
    return Section("goroutine buckets (largest first)", Table(cols, title="goroutine buckets"), details)


def _backtraces(bts) -> Section:
    from .table import Table
    rows: dict[str, list] = {"thread": [], "frame": [], "trust": [], "pc": [], "function": [], "where": []}
    for bt in bts[:16]:
        for f in bt.frames[:64]:
            rows["thread"].append(int(bt.tid) if bt.tid is not None else int(bt.thread))
            rows["frame"].append(int(f.index))
            rows["trust"].append(str(f.trust))
            rows["pc"].append(int(f.pc))
            rows["function"].append(f.label)
            rows["where"].append(f"{f.file}:{f.line}" if f.file else (f.module or ""))
    import numpy as np
    t = Table({k: (np.array(v, dtype=object) if k in ("trust", "function", "where") else np.array(v, dtype=np.int64))
               for k, v in rows.items()}, title="backtraces (first 16 threads)", hex_columns={"pc"})
    return Section("backtraces with the trust of each frame", t)


def examine(inputs: str | os.PathLike | Iterable[str | os.PathLike], *, binaries=(), search_paths=(),
            expect=(), then=None, graph: bool = True, memory: int | str | None = None) -> Report:
    """Read every input and run every analysis that applies: HPROF histogram *and* dominator
    findings (``graph=False`` leaves the graph out; ``memory``: a budget for the graph build, as
    ``HeapDump.graph(memory=)``), cores and minidumps verified against ``binaries`` and the
    paths they record before their backtraces are read, goroutine dumps with ``expect`` and a
    later dump ``then`` (the diff readings), py-spy captures with their readings."""
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    return Report([_examine_one(p, binaries=binaries, search_paths=search_paths, expect=expect,
                                then=then, graph=graph, memory=memory) for p in inputs])


__all__ = ["Examined", "Finding", "Report", "SCHEMA_VERSION", "examine"]
