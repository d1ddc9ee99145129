"""The HTML report in a real browser (Debian's headless chromium): it loads, its script runs,
findings are drawn most severe first, a column sorts, a row opens its details, and nothing from a
dump becomes markup. The markdown report escapes dump text too."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import warnings

import pytest

import dumpx
from dumpx.reporters import html_report, markdown_report

from conftest import FIXTURES

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
EVIL = "main.<img src=x onerror=alert(1)>\x1b[2J\u202e"


def _report(tmp_path):
    evil = tmp_path / "evil.txt"
    evil.write_text(f"goroutine 1 [chan receive, 3 minutes]:\n{EVIL}(0x1)\n\t/src/<b>x</b>.go:7 +0x1f\n\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return dumpx.examine([str(FIXTURES / "hprof/out/heapshape-coops.hprof.gz"),
                              str(FIXTURES / "go/out/stuck.debug2.txt"),
                              str(FIXTURES / "elf/out/smash.core.zst"), str(evil)])


def _dom(path, fragment: str = "") -> str:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (.ci/run installs Debian's chromium)")
    r = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
                        f"file://{path}{fragment}"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-500:]
    return r.stdout


def test_html_report_in_a_browser(tmp_path):
    report = _report(tmp_path)
    assert report.inputs[3].error is None and report.inputs[3].format == "go-goroutines-debug2"
    page = tmp_path / "report.html"
    page.write_text(html_report(report))
    dom = _dom(page, "#sort=t0-0:count:asc&open=t0-1:0")
    assert re.search(r"<body[^>]*data-ready=\"1\"", dom)                 # the script ran to its end
    kinds = re.findall(r"class=\"finding [a-z]+\" data-kind=\"([a-z0-9-]+)\"", dom)
    assert kinds == [f.kind for f in report.findings][:len(kinds)] and len(kinds) == len(report.findings)
    sevs = re.findall(r"class=\"finding ([a-z]+)\"", dom)
    order = ["critical", "warning", "notice", "info"]
    assert sevs == sorted(sevs, key=order.index) and sevs[0] == "critical"
    # the histogram sorted by count, ascending: the numbers in that column do not decrease
    hist = re.search(r"<table class=\"sortable\" id=\"t0-0\" data-sorted=\"(\d+):asc\">(.*?)</table>", dom, re.S)
    assert hist, "the histogram was not sorted"
    col = int(hist.group(1))
    cells = [re.findall(r"<td([^>]*)>", tr) for tr in re.findall(r"<tr>(.*?)</tr>", hist.group(2), re.S)]
    counts = [int(re.search(r"data-v=\"(-?\d+)\"", row[col]).group(1)) for row in cells if len(row) > col]
    assert len(counts) > 10 and counts == sorted(counts)
    # the first retainer's details are open: its dominator chain and path from the GC roots
    opened = re.search(r"<table class=\"sortable\" id=\"t0-1\">.*?<tr class=\"detail\">(.*?)</tr>", dom, re.S)
    assert opened and "dominator chain" in opened.group(1) and "path from the GC roots" in opened.group(1)
    # nothing from the crafted dump became markup
    assert "<img" not in dom and "<b>x</b>" not in dom and "\x1b" not in dom
    assert html.escape("<img src=x onerror=alert(1)>", quote=False) in dom


def test_html_report_is_self_contained_and_bounded(tmp_path):
    page = html_report(_report(tmp_path))
    assert not re.search(r"(src|href)=[\"'](https?:)?//", page)        # no network
    assert page.count("<script>") == 1 and len(page) < 5 << 20
    assert "<img" not in page


def test_markdown_report_escapes_dump_text(tmp_path):
    md = markdown_report(_report(tmp_path))
    assert md.startswith("# dumpx report") and "## Findings, most severe first" in md
    assert "<img" not in md and "\x1b" not in md and "\u202e" not in md
    assert "\\<img" in md or "`" in md


def test_cli_writes_html_and_markdown(tmp_path, capsys):
    from dumpx.cli import main
    out_html, out_md = tmp_path / "r.html", tmp_path / "r.md"
    assert main(["examine", str(FIXTURES / "go/out/stuck.debug2.txt"), "--html", str(out_html),
                 "--markdown", str(out_md)]) == 0
    assert "go-absent-producer" in out_html.read_text() and "go\\-absent\\-producer" in out_md.read_text()
