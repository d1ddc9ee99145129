"""The findings of an ``examine`` run as markdown, for pasting the evidence into the incident
write-up. Dump-derived text is escaped for markdown (no live links, emphasis or tables from it)."""

from __future__ import annotations

import re

from ..render import fmt_value, safe_text

_MD = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>])")


def _md(s) -> str:
    return _MD.sub(r"\\\1", safe_text(s))


def markdown_report(report, title: str = "dumpx report") -> str:
    owner = {id(f): i for i, e in enumerate(report.inputs) for f in e.findings}
    out = [f"# {_md(title)}", "", "## Inputs", ""]
    for i, e in enumerate(report.inputs):
        line = f"{i}. `{safe_text(e.path).replace('`', chr(39))}`: {_md(e.format or 'unreadable')}"
        if e.error is not None:
            line += f" — **{_md(type(e.error).__name__)}**: {_md(str(e.error))}"
        out.append(line)
    out += ["", "## Findings, most severe first", ""]
    for f in report.findings:
        out += finding_markdown(f, f", input {owner.get(id(f))}")
    return "\n".join(out).rstrip() + "\n"


def finding_markdown(f, where: str = "") -> list[str]:
    """One finding as markdown lines: severity and title, kind, evidence, next steps."""
    out = [f"### [{str(f.severity).upper()}] {_md(f.title)}", f"*{_md(f.kind)}*{where}", ""]
    for e in f.evidence:
        out.append(f"- {_md(e.label)}: `{fmt_value(e.value, e.hex).replace('`', chr(39))}`")
    for s in f.next_steps:
        out.append(f"- next: {_md(s)}")
    out.append("")
    return out
