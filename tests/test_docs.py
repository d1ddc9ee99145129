"""Every Python example in the README and docs/ runs against the committed fixtures, so the
documentation cannot drift from the API (an example that raises fails here)."""

from __future__ import annotations

import contextlib
import io
import re
import warnings

import pytest

from conftest import ROOT

DOCS = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))


def blocks(path):
    return re.findall(r"```python\n(.*?)```", path.read_text(), re.S)


@pytest.mark.parametrize("path", [p for p in DOCS if blocks(p)], ids=lambda p: p.name)
def test_python_examples_run(path, monkeypatch):
    monkeypatch.chdir(ROOT)
    ns: dict = {}
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for k, code in enumerate(blocks(path)):
            exec(compile(code, f"{path.name}[block {k}]", "exec"), ns)
    assert len(ns) > 1


def test_elf_doc_examples_say_what_the_fixture_holds(monkeypatch):
    """The values the ELF page's comments quote come from the stack-protector fixture's construction."""
    monkeypatch.chdir(ROOT)
    ns: dict = {}
    for code in blocks(ROOT / "docs" / "elf.md"):
        exec(code, ns)
    bt = ns["bt"]
    assert bt.frames[0].trust == "context" and any(f.function == "handle" for f in bt.frames)
    assert bt.stop.startswith("the pc 0x4242424242424242 is not code")
