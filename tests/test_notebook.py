"""Notebook and REPL displays: short reprs, plain-text pretty forms, escaped HTML, for every
reader, the graph, findings, verify results and the examine report."""

from __future__ import annotations

import warnings

import pytest

import dumpx

from conftest import FIXTURES

EVIL = "main.<script>alert(1)</script>\x1b[2J"


class _P:
    def __init__(self):
        self.out = []

    def text(self, t):
        self.out.append(t)


def _pretty(obj) -> str:
    p = _P()
    obj._repr_pretty_(p, False)
    return "".join(p.out)


@pytest.mark.parametrize("path", ["pyspy/out/deadlock-only", "hprof/out/heapshape-coops.hprof.gz",
                                  "elf/out/smash.core.zst", "go/out/stuck.debug2.txt", "minidump/out/crash.dmp"])
def test_every_reader_displays_briefly(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = dumpx.open(str(FIXTURES / path))
        assert len(repr(r)) < 200 and "\n" not in repr(r)
        assert 0 < len(_pretty(r)) < 20_000
        h = r._repr_html_()
        assert h.startswith("<") and len(h) < 100_000


def test_graph_findings_verdicts_and_report_display_briefly(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = dumpx.open(str(FIXTURES / "hprof/out/heapshape-coops.hprof.gz"))
        g = d.graph()
        assert repr(g).startswith("<HeapGraph ") and len(repr(g)) < 200       # not the arrays
        assert "HashMap" in g._repr_html_()
        v = dumpx.open(str(FIXTURES / "elf/out/smash.core.zst")).verify()
        assert repr(v) == f"<build verification: {len(v)} entries>" and "match" in _pretty(v)
        fs = d.findings()
        text = _pretty(fs)
        assert text.index("[WARNING]") < text.index("[INFO]")                  # sorted by severity
        evil = tmp_path / "evil.txt"
        evil.write_text(f"goroutine 1 [chan receive]:\n{EVIL}(0x1)\n\t/x.go:1 +0x1\n")
        r = dumpx.examine([str(evil)])
        assert "<script>" not in r._repr_html_() and "\x1b" not in _pretty(r)
        assert "<script>" not in dumpx.open(str(evil))._repr_html_()


def test_progress_true_updates_one_line_in_a_notebook(monkeypatch, notebook_display):
    """``dumpx.open(path, progress=True)`` in a kernel: a display handle updated in place through the
    scan and the graph build (each step named), closed with the time taken."""
    updates = notebook_display
    monkeypatch.setenv("DUMPX_CACHE_DIR", "off")
    d = dumpx.open(FIXTURES / "hprof/out/heapshape-coops.hprof.gz", progress=True)
    d.histogram()
    d.graph()
    from dumpx.notebook import NotebookProgress
    assert isinstance(d._progress, NotebookProgress)
    assert any("%" in u for u in updates) and updates[-1].split(": done in ")[-1].endswith(" s")
    assert len(updates) < 200                         # throttled, not one per chunk
