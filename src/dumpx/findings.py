"""Findings: what an analysis claims, the evidence from the dump, and what to do next.

Every analysis returns :class:`Finding` objects. A finding never states more than the
bytes show: its evidence names offsets, addresses, ids and counts that can be checked
against the dump.
"""

from __future__ import annotations

import enum
import json
import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from .render import fmt_value, safe_html, safe_text


# ANSI colour for the severity tag in terminal text: off for the library; the command line turns
# it on for a terminal unless NO_COLOR is set (https://no-color.org). Only dumpx's own tag is
# coloured: every string from a dump is escaped by safe_text, so none can carry an escape.
COLOUR = False
_SEVERITY_COLOUR = {"CRITICAL": "\x1b[1;31m", "WARNING": "\x1b[33m", "NOTICE": "\x1b[36m", "INFO": "\x1b[2m"}


def colour_enabled(stream) -> bool:
    """Whether to colour output to ``stream``: a terminal, ``NO_COLOR`` unset, ``TERM`` not dumb."""
    import os
    return (hasattr(stream, "isatty") and stream.isatty() and not os.environ.get("NO_COLOR")
            and os.environ.get("TERM") != "dumb")


class Severity(enum.IntEnum):
    INFO = 0
    NOTICE = 1
    WARNING = 2
    CRITICAL = 3

    def __str__(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Evidence:
    """One checkable fact: ``label`` = ``value``; ``hex`` shows ints as addresses/offsets."""

    label: str
    value: Any
    hex: bool = False

    @property
    def key(self) -> str:
        """The machine key of this evidence: its label in snake case (``class bytes`` ->
        ``class_bytes``); the label stays for people."""
        return re.sub(r"[^0-9a-z]+", "_", self.label.lower()).strip("_") or "value"

    def to_dict(self) -> dict[str, Any]:
        """``key``, ``label``, ``value`` (numbers as numbers) and, for an address or offset,
        ``hex``: the value as ``0x..`` text (a list of them for a list)."""
        value = _jsonable(self.value)
        d = {"key": self.key, "label": self.label, "value": value}
        if self.hex:
            d["hex"] = _hex(value)
        return d

    def text(self) -> str:
        return f"{safe_text(self.label)}: {fmt_value(self.value, self.hex)}"


def _hex(v):
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, int):
        return f"0x{v & (2**64 - 1):x}"
    if isinstance(v, list):
        return [_hex(x) for x in v]
    return None


def _jsonable(v):
    if hasattr(v, "item") and callable(v.item) and getattr(v, "ndim", 1) == 0:
        return v.item()
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, bytes):
        return v.decode("utf-8", "backslashreplace")
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return str(v)


# Next steps name the command a terminal user would run; a notebook shows the same step as the call
# to make from Python. One table, applied to the text when a finding is displayed from Python.
API_PHRASES: list[tuple[re.Pattern, str]] = [
    (re.compile(r"pass --expect FUNC"), "pass expect=[FUNC] to .findings()"),
    (re.compile(r"dumpx hprof histo --diff"), "dump.histogram().diff(other.histogram())"),
    (re.compile(r"dumpx hprof dominators FILE"), "dump.graph().top_retained()"),
    (re.compile(r"dumpx hprof path FILE ID"), "g = dump.graph(); g.path_to(g.resolve(ID))"),
    (re.compile(r"dumpx core verify --binary"), "core.verify(binaries=[...])"),
    (re.compile(r"dumpx pyspy capture PID"), "dumpx.pyspy.capture(PID, out)"),
    (re.compile(r"`dumpx examine` (one of them|on it)"), r"dumpx.examine(...) \1"),
    (re.compile(r"--memory-limit"), "memory_limit="),
]


def for_api(step: str) -> str:
    """A next step as it reads from Python (``API_PHRASES``)."""
    for rx, repl in API_PHRASES:
        step = rx.sub(repl, step)
    return step


@dataclass
class Finding:
    """A claim about the dump, with the evidence for it and the next steps."""

    kind: str
    severity: Severity
    title: str
    evidence: list[Evidence] = field(default_factory=list)
    next_steps: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "severity": str(self.severity), "title": self.title,
                "evidence": [e.to_dict() for e in self.evidence],
                "next_steps": list(self.next_steps)}

    def to_json(self, **kw) -> str:
        return json.dumps(self.to_dict(), **kw)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Finding":
        return cls(d["kind"], Severity[d["severity"].upper()], d["title"],
                   [Evidence(e["label"], e["value"], bool(e.get("hex"))) for e in d["evidence"]],
                   list(d.get("next_steps", [])))

    def text(self, api: bool = False) -> str:
        """The finding for a terminal; ``api=True`` phrases the next steps for Python (notebooks)."""
        tag = f"[{str(self.severity).upper()}]"
        if COLOUR:
            tag = f"{_SEVERITY_COLOUR[str(self.severity).upper()]}{tag}\x1b[0m"
        lines = [f"{tag} {safe_text(self.title)}  ({safe_text(self.kind)})"]
        lines += [f"    {e.text()}" for e in self.evidence]
        lines += [f"    -> {safe_text(for_api(s) if api else s)}" for s in self.next_steps]
        return "\n".join(lines)

    __str__ = text

    def _repr_pretty_(self, p, cycle) -> None:
        p.text(self.text(api=True))

    def _repr_html_(self) -> str:
        ev = "".join(f"<tr><th>{safe_html(e.label)}</th><td><code>{safe_html(fmt_value(e.value, e.hex))}"
                     f"</code></td></tr>" for e in self.evidence)
        steps = "".join(f"<li>{safe_html(for_api(s))}</li>" for s in self.next_steps)
        return (f"<div class='dumpx-finding'><b>[{safe_html(str(self.severity).upper())}]</b> "
                f"{safe_html(self.title)} <small>({safe_html(self.kind)})</small>"
                f"<table>{ev}</table>" + (f"<ol>{steps}</ol>" if steps else "") + "</div>")


class Findings(list):
    """A list of findings, most severe first when rendered."""

    def __init__(self, items: Iterable[Finding] = ()):
        super().__init__(items)

    def sorted(self) -> "Findings":
        return Findings(sorted(self, key=lambda f: -int(f.severity)))

    def to_dicts(self) -> list[dict[str, Any]]:
        return [f.to_dict() for f in self]

    def to_json(self, **kw) -> str:
        return json.dumps(self.to_dicts(), **kw)

    def of_kind(self, kind: str) -> "Findings":
        return Findings(f for f in self if f.kind == kind)

    def text(self, api: bool = False) -> str:
        return "\n\n".join(f.text(api) for f in self.sorted()) or "(no findings)"

    def __str__(self) -> str:
        return self.text()

    def _repr_pretty_(self, p, cycle) -> None:
        p.text(f"<{len(self)} findings>" if cycle else self.text(api=True))

    def _repr_html_(self) -> str:
        return "".join(f._repr_html_() for f in self.sorted()) or "<i>no findings</i>"
