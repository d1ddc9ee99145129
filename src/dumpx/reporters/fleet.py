"""A fleet run for people: one self-contained HTML file (findings, the clusters with their inputs,
every input with its status) and markdown for the write-up. Input names and signatures come from
the dumps and the file system: every one is escaped."""

from __future__ import annotations

from ..render import safe_html, safe_text
from ..table import Table
from .html import _CSS, _JS, _finding, _table
from .markdown import _md, finding_markdown


class _Section:
    def __init__(self, title, table, details=None):
        self.title, self.table, self.details = title, table, details


def fleet_html(report, title: str = "dumpx fleet") -> str:
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
             f"<meta name='viewport' content='width=device-width'><title>{safe_html(title)}</title>"
             f"<style>{_CSS}</style></head><body><h1>{safe_html(title)}</h1>"
             f"<p id='summary'>{safe_html(report.headline())}</p>"
             "<h2>Findings, most severe first</h2><div id='findings'>"]
    fs = report.findings.sorted()
    parts += [_finding(f, None) for f in fs] or ["<p>No findings.</p>"]
    parts.append("</div>")
    details = ["\n".join(m[:200]) + (f"\n... {len(m) - 200} more" if len(m) > 200 else "") for m in report.members]
    parts.append(_table(_Section("clusters (open a row for its inputs)", report.clusters, details), "clusters"))
    rows = report.rows
    t = Table({k: rows[k] for k in ("input", "status", "format", "signature", "cluster", "seconds", "error")},
              title="inputs")
    parts.append(_table(_Section("inputs", t), "inputs"))
    parts.append(f"<script>{_JS}</script></body></html>")
    return "".join(parts)


def fleet_markdown(report, title: str = "dumpx fleet") -> str:
    out = [f"# {_md(title)}", "", _md(report.headline()), "", "## Findings", ""]
    for f in report.findings.sorted():
        out += finding_markdown(f)
    out += ["## Clusters", "", "| cluster | family | signature | size | representative |", "|---|---|---|---|---|"]
    c = report.clusters
    for r in c.rows():
        out.append(f"| {r['cluster']} | {_md(r['family'])} | {_md(r['signature'])} | {r['size']} | "
                   f"`{safe_text(r['representative']).replace('`', chr(39)).replace('|', '/')}` |")
    return "\n".join(out).rstrip() + "\n"


__all__ = ["fleet_html", "fleet_markdown"]
