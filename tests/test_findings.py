"""Findings and tables: JSON round trip, display, and escaping of dump-controlled strings."""

from __future__ import annotations

import json

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from dumpx import Evidence, Finding, Findings, Severity, Table
from dumpx.render import safe_html, safe_text

EVIL = "Evil\x1b[2J\x1b]8;;http://x\x07name\u202egnp.exe<script>alert(1)</script>"


def make():
    return Finding("stack-smash", Severity.CRITICAL, f"run of 0x41 in {EVIL}",
                   [Evidence("address", 0x7ffd0000, hex=True), Evidence("words", 32),
                    Evidence("thread name", EVIL)],
                   ["rebuild with -fsanitize=address and reproduce"])


def test_json_roundtrip():
    f = make()
    d = json.loads(f.to_json())
    assert d["severity"] == "critical" and d["evidence"][0]["value"] == 0x7ffd0000
    assert Finding.from_dict(d) == f


def test_terminal_text_has_no_escape_sequences():
    t = make().text()
    assert "\x1b" not in t and "\x07" not in t and "\u202e" not in t
    assert "0x7ffd0000" in t and "\\x1b[2J" in t


def test_html_is_escaped():
    h = make()._repr_html_()
    assert "<script>" not in h and "&lt;script&gt;" in h and "\x1b" not in h


def test_findings_sorted_by_severity():
    fs = Findings([Finding("a", Severity.INFO, "a"), make(), Finding("b", Severity.WARNING, "b")])
    assert [f.kind for f in fs.sorted()] == ["stack-smash", "b", "a"]
    assert json.loads(fs.to_json())[0]["kind"] == "a"


def test_safe_text_escapes_backslash_so_output_is_unambiguous():
    assert safe_text("a\\x1b") == "a\\\\x1b"
    assert safe_text(b"\xff\x1b") == "\\\\xff\\x1b"
    assert safe_html('"') == "&quot;"
    # a newline and the two characters backslash-n read differently (they both showed as \\n)
    assert safe_text("a\nb") == "a\\nb" and safe_text("a\\nb") == "a\\\\nb"
    # a Windows path keeps its backslashes where none could read as an escape
    assert safe_text("C:\\build\\app.exe") == "C:\\build\\app.exe"
    assert safe_text("C:\\Windows\\ntdll.dll") == "C:\\Windows\\\\ntdll.dll"


def _unescape(out: str) -> str:
    """The reader's side of safe_text: \\xHH, \\uHHHH, \\n, \\t and \\\\ are escapes; any other
    backslash is itself."""
    res, i = [], 0
    while i < len(out):
        c = out[i]
        nxt = out[i + 1] if i + 1 < len(out) else ""
        if c == "\\" and nxt == "x":
            res.append(chr(int(out[i + 2:i + 4], 16)))
            i += 4
        elif c == "\\" and nxt == "u":
            res.append(chr(int(out[i + 2:i + 6], 16)))
            i += 6
        elif c == "\\" and nxt in ("n", "t", "\\"):
            res.append({"n": "\n", "t": "\t", "\\": "\\"}[nxt])
            i += 2
        else:
            res.append(c)
            i += 1
    return "".join(res)


@settings(max_examples=1000)
@given(st.text(alphabet=st.sampled_from(list("ab:xuntXU0\\\n\t\x1b\x07\u202e\u200b")) | st.characters(),
               max_size=60))
@example("\\\nX")         # a backslash before a character that is escaped itself (found in review)
@example("\\\x1b")
@example("\\\u202e")
@example("\\")
def test_safe_text_output_reads_back_to_its_input_and_holds_no_control_character(s):
    out = safe_text(s)
    assert _unescape(out) == s
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 or c in "\u202e\u200b\u2066\ufeff" for c in out)


def test_table_sort_pandas_and_escape():
    t = Table({"name": np.array(["a", EVIL, "c"], dtype=object), "bytes": np.array([5, 50, 7])},
              title="t")
    s = t.sort_by("bytes")
    assert s["bytes"].tolist() == [50, 7, 5]
    assert "\x1b" not in s.text() and "<script>" not in s._repr_html_()
    df = s.to_pandas()
    assert list(df["bytes"]) == [50, 7, 5]
    assert t.sort_by("name", descending=False)["name"].tolist() == [EVIL, "a", "c"]   # "E" < "a"
    assert t.sort_by("name")["name"].tolist() == ["c", "a", EVIL]
    assert len(t.head(2)) == 2 and t.rows()[0] == {"name": "a", "bytes": 5}


def test_lazy_column_gives_what_the_whole_column_gives_and_fetches_only_the_rows_shown():
    from dumpx.table import LazyColumn
    n = 1000
    words = np.array([f"name{i}" for i in range(n)], dtype=object)
    words[7] = EVIL
    asked: list[int] = []

    def fetch(keys):
        asked.append(len(keys))
        return words[keys]

    size = (np.arange(n) * 7919) % 1009
    lazy = Table({"name": LazyColumn(np.arange(n), fetch), "bytes": size}, title="t")
    whole = Table({"name": words, "bytes": size}, title="t")
    top = lazy.sort_by("bytes").head(5)
    assert asked == []                                  # sorting and slicing decode nothing
    assert top.text() == whole.sort_by("bytes").head(5).text() and asked == [5]
    assert top.rows() == whole.sort_by("bytes").head(5).rows()
    mask = size > 1000
    assert lazy.where(mask)["name"].tolist() == words[mask].tolist()
    assert "\x1b" not in lazy.sort_by("bytes").head(10).text()
    assert "<script>" not in lazy.sort_by("bytes").head(10)._repr_html_()
    assert lazy["name"].tolist() == words.tolist()      # asked for whole, made whole
    assert lazy[3:5]["name"].tolist() == ["name3", "name4"]


def test_severity_colour_only_on_a_terminal_and_never_from_a_dump(monkeypatch):
    """The CLI colours dumpx's own severity tag on a terminal; NO_COLOR, TERM=dumb and pipes turn
    it off; a dump's escape sequence stays escaped text either way."""
    import io
    import dumpx.findings as F

    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert F.colour_enabled(Tty()) and not F.colour_enabled(io.StringIO())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not F.colour_enabled(Tty())
    f = Finding("x-y", Severity.CRITICAL, EVIL, [Evidence("e", EVIL)], [])
    monkeypatch.setattr(F, "COLOUR", True)
    text = f.text()
    assert text.startswith("\x1b[1;31m[CRITICAL]\x1b[0m ")
    assert text.count("\x1b") == 2                         # the tag's own two, none from the dump
    monkeypatch.setattr(F, "COLOUR", False)
    assert "\x1b" not in f.text()
