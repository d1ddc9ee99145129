"""One self-contained HTML file: no network, no external script or style, every dump-derived
string escaped. Findings ranked with their evidence and next steps; each input's tables (the top
of them, never the whole heap) sortable by a click on a column; a row with details (an object's
dominator chain and path from the GC roots, a goroutine bucket's stack) opens on a click.

``#sort=TABLE:COLUMN[:asc]`` in the address sorts a table when the page loads and
``#open=TABLE:ROW`` opens a row's details by a click (joined with ``&``: how the browser tests
check both); ``body[data-ready]`` is set once the script has run. At most ``MAX_FINDINGS``
findings are drawn (the JSON has all), so the file stays small whatever the dump.
"""

from __future__ import annotations

import numpy as np

from ..render import fmt_value, safe_html

MAX_FINDINGS = 500

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:1.5em auto;max-width:1200px;color:#1b1b1b;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}h3{font-size:1.05em}
.finding{border-left:5px solid #999;padding:.3em .8em;margin:.8em 0;background:#fafafa}
.critical{border-color:#b00020}.warning{border-color:#d97b00}.notice{border-color:#1f6fb2}.info{border-color:#888}
.sev{font-weight:bold;text-transform:uppercase;font-size:.8em;margin-right:.5em}
.kind{color:#666;font-size:.85em}.input{color:#444;font-size:.85em}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}
td,th{border:1px solid #ddd;padding:.2em .5em;text-align:left;vertical-align:top}
th{background:#f0f0f0;cursor:pointer;user-select:none}th.sorted-asc:after{content:" \\25B2"}th.sorted-desc:after{content:" \\25BC"}
td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.has-detail{cursor:pointer}tr.detail td{background:#fffbe6}tr.detail pre{margin:0;white-space:pre-wrap}
.ev td:first-child{color:#555}code,pre{font-family:ui-monospace,monospace}.err{color:#b00020}
"""

_JS = """
(function(){
function cellValue(td){var v=td.getAttribute('data-v');return v===null?td.textContent:v;}
function sortTable(table,col,asc){
  var body=table.tBodies[0];var rows=[];var r=body.firstElementChild;
  while(r){var next=r.nextElementSibling;var det=(next&&next.classList.contains('detail'))?next:null;
    rows.push([r,det]);r=det?det.nextElementSibling:next;}
  var num=table.tHead.rows[0].cells[col].classList.contains('num');
  rows.sort(function(a,b){var x=cellValue(a[0].cells[col]),y=cellValue(b[0].cells[col]);
    var c=num?(Number(x)-Number(y)):(x<y?-1:x>y?1:0);return asc?c:-c;});
  rows.forEach(function(p){body.appendChild(p[0]);if(p[1])body.appendChild(p[1]);});
  Array.prototype.forEach.call(table.tHead.rows[0].cells,function(th,i){
    th.classList.remove('sorted-asc','sorted-desc');if(i===col)th.classList.add(asc?'sorted-asc':'sorted-desc');});
  table.setAttribute('data-sorted',col+':'+(asc?'asc':'desc'));
}
document.querySelectorAll('table.sortable').forEach(function(t){
  Array.prototype.forEach.call(t.tHead.rows[0].cells,function(th,i){
    th.addEventListener('click',function(){var asc=!th.classList.contains('sorted-asc');sortTable(t,i,asc);});});
  t.querySelectorAll('tr.has-detail').forEach(function(tr){
    tr.addEventListener('click',function(){var d=tr.nextElementSibling;if(d&&d.classList.contains('detail'))d.hidden=!d.hidden;});});
});
var m=/#(?:.*&)?sort=([^:&]+):([^:&]+)(?::(asc))?/.exec(location.hash);
if(m){var t=document.getElementById(decodeURIComponent(m[1]));
  if(t){var idx=-1;Array.prototype.forEach.call(t.tHead.rows[0].cells,function(th,i){
    if(th.getAttribute('data-col')===decodeURIComponent(m[2]))idx=i;});
    if(idx>=0)sortTable(t,idx,!!m[3]);}}
var o=/#(?:.*&)?open=([^:&]+):(\d+)/.exec(location.hash);
if(o){var ot=document.getElementById(decodeURIComponent(o[1]));
  if(ot){var rows=ot.querySelectorAll('tr.has-detail');var row=rows[Number(o[2])];if(row)row.click();}}
document.body.setAttribute('data-ready','1');
})();
"""


def _cell(table, col: str, v) -> str:
    if isinstance(v, (bool, np.bool_)):
        return f"<td>{safe_html(str(bool(v)))}</td>"
    if isinstance(v, (int, np.integer)):
        shown = f"0x{int(v):x}" if col in table.hex_columns else f"{int(v):,}"
        return f"<td class='num' data-v='{int(v)}'>{safe_html(shown)}</td>"
    if isinstance(v, (float, np.floating)):
        return f"<td class='num' data-v='{float(v)!r}'>{safe_html(f'{float(v):.4g}')}</td>"
    return f"<td>{safe_html('' if v is None else str(v))}</td>"


def _table(section, tid: str) -> str:
    t = section.table
    cols = t.columns
    rows = t.rows()
    numeric = {c for c in cols if t[c].dtype.kind in "iuf"}
    head = "".join(f"<th data-col='{safe_html(c)}'{' class=num' if c in numeric else ''}>{safe_html(c)}</th>"
                   for c in cols)
    body = []
    for k, r in enumerate(rows):
        det = section.details[k] if section.details and k < len(section.details) else None
        body.append(f"<tr{' class=has-detail' if det else ''}>" + "".join(_cell(t, c, r[c]) for c in cols) + "</tr>")
        if det:
            body.append(f"<tr class='detail' hidden><td colspan='{len(cols)}'><pre>{safe_html(det)}</pre></td></tr>")
    return (f"<h3>{safe_html(section.title)}</h3><table class='sortable' id='{tid}'><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>")


def _finding(f, inputs) -> str:
    ev = "".join(f"<tr><td>{safe_html(e.label)}</td><td><code>{safe_html(fmt_value(e.value, e.hex))}</code></td></tr>"
                 for e in f.evidence)
    steps = "".join(f"<li>{safe_html(s)}</li>" for s in f.next_steps)
    where = f"<span class='input'>[{inputs}]</span> " if inputs is not None else ""
    return (f"<div class='finding {safe_html(str(f.severity))}' data-kind='{safe_html(f.kind)}'>"
            f"<span class='sev'>{safe_html(str(f.severity))}</span>{where}<b>{safe_html(f.title)}</b> "
            f"<span class='kind'>({safe_html(f.kind)})</span><table class='ev'>{ev}</table>"
            + (f"<ol>{steps}</ol>" if steps else "") + "</div>")


def html_report(report, title: str = "dumpx report") -> str:
    """The report as one HTML document (a str)."""
    owner = {id(f): i for i, e in enumerate(report.inputs) for f in e.findings}
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
             f"<meta name='viewport' content='width=device-width'><title>{safe_html(title)}</title>"
             f"<style>{_CSS}</style></head><body><h1>{safe_html(title)}</h1>"]
    parts.append("<h2>Inputs</h2><ol start='0' id='inputs'>")
    for e in report.inputs:
        line = f"<code>{safe_html(e.path)}</code>: {safe_html(e.format or 'unreadable')}"
        if e.error is not None:
            line += f" <span class='err'>{safe_html(type(e.error).__name__)}: {safe_html(str(e.error))}</span>"
        parts.append(f"<li>{line}</li>")
    parts.append("</ol><h2>Findings, most severe first</h2><div id='findings'>")
    fs = report.findings
    parts += [_finding(f, owner.get(id(f))) for f in fs[:MAX_FINDINGS]] or ["<p>No findings.</p>"]
    if len(fs) > MAX_FINDINGS:
        parts.append(f"<p>... {len(fs) - MAX_FINDINGS:,} more findings: the JSON report has all of them.</p>")
    parts.append("</div>")
    for i, e in enumerate(report.inputs):
        if not e.sections and not e.provenance:
            continue
        parts.append(f"<h2>[{i}] {safe_html(e.path)}</h2>")
        if e.provenance:
            prov = "".join(f"<tr><td>{safe_html(k)}</td><td><code>{safe_html(fmt_value(v))}</code></td></tr>"
                           for k, v in e.provenance.items())
            parts.append(f"<details><summary>what the dump says about itself</summary><table>{prov}</table></details>")
        for k, s in enumerate(e.sections):
            parts.append(_table(s, f"t{i}-{k}"))
    parts.append(f"<script>{_JS}</script></body></html>")
    return "".join(parts)
