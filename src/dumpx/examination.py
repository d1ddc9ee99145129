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


@dataclass
class Examined:
    """One input: its path, format, provenance and findings, or the error that stopped it."""

    path: str
    format: str | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    findings: Findings = field(default_factory=Findings)
    error: DumpError | None = None

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

    def _repr_html_(self) -> str:
        return self.findings._repr_html_()


def _examine_one(path, *, binaries, search_paths, expect, then, graph) -> Examined:
    from . import formats
    from .info import info
    name = os.fspath(path)
    e = Examined(name)
    try:
        if os.path.isdir(path):               # a py-spy capture bundle (dumpx.open says if not)
            reader = formats.open(path)
            e.format = "pyspy-bundle"
        else:
            described = info(path, measure=False)
            e.format = described.get("format")
            e.provenance = described.get("provenance", {})
            reader = formats.open(path)
    except DumpError as err:
        e.error = err
        return e
    fmt = e.format or ""
    try:
        if fmt == "hprof":
            e.findings.extend(reader.findings())
            if graph:
                from .hprof.graph import graph_findings
                e.findings.extend(graph_findings(reader.graph()))
        elif fmt == "elf-core":
            from .elf.verify import verify_findings
            e.findings.extend(verify_findings(reader.verify(binaries, search_paths)))
            e.findings.extend(reader.findings(binaries=binaries, search_paths=search_paths))
        elif fmt.startswith("go-"):
            later = formats.open(then) if then is not None else None
            e.findings.extend(reader.findings(expect=expect, diff=later))
        else:
            e.findings.extend(reader.findings())
    except DumpError as err:
        e.error = err
    finally:
        close = getattr(reader, "close", None)
        if close is not None:
            close()
    return e


def examine(inputs: str | os.PathLike | Iterable[str | os.PathLike], *, binaries=(), search_paths=(),
            expect=(), then=None, graph: bool = True) -> Report:
    """Read every input and run every analysis that applies: HPROF histogram *and* dominator
    findings (``graph=False`` leaves the graph out), cores verified against ``binaries`` and the
    paths they record before their backtraces are read, goroutine dumps with ``expect`` and a
    later dump ``then`` (the diff readings), py-spy captures and minidumps with their readings."""
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    return Report([_examine_one(p, binaries=binaries, search_paths=search_paths, expect=expect,
                                then=then, graph=graph) for p in inputs])


__all__ = ["Examined", "Finding", "Report", "SCHEMA_VERSION", "examine"]
