"""``dumpx.examine`` and ``dumpx examine``: every committed fixture and every real dump of other
projects read through the one door, the JSON valid against schema/examine.schema.json, the
headline finding of each fixture the one its construction carries, errors kept as data."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import jsonschema
import pytest

import dumpx
from dumpx.cli import main

from conftest import FIXTURES, REAL_DUMPS

SCHEMA = json.loads((Path(__file__).resolve().parent.parent / "schema" / "examine.schema.json").read_text())
DUMP_FORMATS = ("hprof", "elf-core", "minidump", "go-", "pyspy-")


def _manifest_dumps() -> list[str]:
    m = json.loads((FIXTURES / "manifest.json").read_text())
    return [k for k, v in m["dumps"].items() if v["format"].startswith(DUMP_FORMATS)]


def _examine(paths, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return dumpx.examine([str(p) for p in paths], **kw)


def test_every_fixture_is_read_and_its_json_is_valid():
    paths = [FIXTURES / p for p in _manifest_dumps()]
    r = _examine(paths, graph=True)
    d = r.to_dict()
    jsonschema.validate(d, SCHEMA)
    assert [i["path"] for i in d["inputs"]] == [str(p) for p in paths]
    assert all(i["error"] is None and i["format"] for i in d["inputs"]), \
        [(i["path"], i["error"]) for i in d["inputs"] if i["error"]]
    sev = [f["severity"] for f in d["findings"]]
    order = ["critical", "warning", "notice", "info"]
    assert sev == sorted(sev, key=order.index)                       # ranked, most severe first
    assert sum(len(i["findings"]) for i in d["inputs"]) == len(d["findings"])


def test_real_dumps_of_other_projects_are_read_and_valid():
    if not REAL_DUMPS.is_dir():
        pytest.skip(f"real dumps folder {REAL_DUMPS} is absent")
    paths = sorted(p for sub in ("hprof", "elf", "go", "minidump") for p in (REAL_DUMPS / sub).glob("*")
                   if p.is_file() and not p.name.endswith((".txt", ".md", ".json", ".notes.txt")))
    d = _examine(paths, graph=False).to_dict()
    jsonschema.validate(d, SCHEMA)
    read = [i for i in d["inputs"] if i["error"] is None]
    assert len(read) >= len(paths) // 2 and {i["format"] for i in read} >= {"hprof", "elf-core", "minidump"}


@pytest.mark.parametrize("path,binaries,kind,what", [
    # the cache map, not the 8 MiB array: the accumulation point is REGISTRY's table
    ("hprof/out/heapshape-coops.hprof.gz", (), "hprof-accumulation", "[Ljava.util.HashMap$Node;"),
    # the 0x41 smash over a return address
    ("elf/out/smash.core.zst", (), "core-stack-smash", "0x4141414141414141"),
    # the mismatched build, before any frame is trusted
    ("elf/out/nullderef.core.zst", ("elf/out/nullderef.rebuilt",), "core-build-mismatch", "nullderef"),
    # the absent producer: 50 consumers wait, nobody is left to send
    ("go/out/stuck.debug2.txt", (), "go-absent-producer", "main.consumer"),
    # py-spy's idle threads deadlocked on each other's locks
    ("pyspy/out/deadlock-only", (), "pyspy-deadlock-suspect", ""),
])
def test_headline_finding_is_the_one_the_fixture_was_built_to_carry(path, binaries, kind, what):
    r = _examine([FIXTURES / path], binaries=[str(FIXTURES / b) for b in binaries])
    top = r.findings[0]
    assert top.kind == kind, [(f.kind, str(f.severity)) for f in r.findings[:5]]
    assert what in top.title or any(what in str(e.value) or what in str(e.to_dict().get("hex")) for e in top.evidence)
    if kind == "hprof-accumulation":                 # and the big array is named as not the leak
        assert r.findings.of_kind("hprof-biggest-vs-retainer")


def test_unreadable_inputs_are_rows_not_the_end_of_the_run(tmp_path, capsys):
    text = tmp_path / "notes.txt"
    text.write_text("no dump here\n")
    good = FIXTURES / "go/out/stuck.debug2.txt"
    r = _examine([text, tmp_path / "missing", good])
    errs = [(e.format, type(e.error).__name__ if e.error else None) for e in r.inputs]
    assert errs == [("text", "UnsupportedFormatError"), (None, "UnreadableInputError"),
                    ("go-goroutines-debug2", None)]
    assert r.findings and all(f in r.inputs[2].findings for f in r.findings)
    assert main(["examine", "--json", str(text), str(good)]) == 1
    d = json.loads(capsys.readouterr().out)
    jsonschema.validate(d, SCHEMA)
    assert d["inputs"][0]["error"]["type"] == "UnsupportedFormatError" and d["inputs"][0]["error"]["offset"] == 0
    assert main(["examine", str(good)]) == 0
    assert "go-absent-producer" in capsys.readouterr().out


def test_goroutine_diff_and_expect_through_examine():
    """--then runs the diff readings; --expect names a function that should be running."""
    before = FIXTURES / "go/out/incident.healthy.debug2.txt"
    after = FIXTURES / "go/out/incident.died.debug2.txt.gz"
    plain = _examine([before])
    both = _examine([before], then=str(after))
    assert len(both.findings) > len(plain.findings)
    expected = _examine([FIXTURES / "go/out/stuck.debug2.txt"], expect=["main.producer"])
    assert any("main.producer" in f.title for f in expected.findings)


def test_evidence_carries_machine_keys_and_hex_text():
    r = _examine([FIXTURES / "elf/out/smash.core.zst"])
    d = r.to_dict()
    ev = [e for f in d["findings"] for e in f["evidence"]]
    assert all(e["key"] == e["key"].lower() and " " not in e["key"] for e in ev)
    hexed = [e for e in ev if "hex" in e]
    assert hexed and all(e["hex"] == f"0x{e['value']:x}" for e in hexed if isinstance(e["value"], int))


def test_reader_findings_say_everything_by_default():
    """A heap dump's findings name the accumulation point (the dominator readings) unless
    graph=False; a core's findings start with build verification unless verify=False."""
    from dumpx.elf import Core
    from dumpx.hprof import HeapDump
    d = HeapDump(FIXTURES / "hprof/out/heapshape-coops.hprof.gz", index=False)
    assert d.findings().of_kind("hprof-accumulation")
    assert not d.findings(graph=False).of_kind("hprof-accumulation")
    c = Core(FIXTURES / "elf/out/nullderef.core.zst")
    rebuilt = [FIXTURES / "elf/out/nullderef.rebuilt"]
    assert c.findings(binaries=rebuilt)[0].kind == "core-build-mismatch"
    assert not c.findings(binaries=rebuilt, verify=False).of_kind("core-build-mismatch")


def _command_validator():
    from referencing import Registry, Resource
    command = json.loads((Path(__file__).resolve().parent.parent / "schema" / "command.schema.json").read_text())
    reg = Registry().with_resources([(SCHEMA["$id"], Resource.from_contents(SCHEMA)),
                                     (command["$id"], Resource.from_contents(command))])
    return jsonschema.Draft202012Validator(command, registry=reg)


@pytest.mark.parametrize("argv", [
    ["info", "hprof/out/heapshape-coops.hprof.gz"],
    ["hprof", "histo", "hprof/out/heapshape-coops.hprof.gz", "--top", "3"],
    ["hprof", "dominators", "hprof/out/heapshape-coops.hprof.gz", "--top", "3", "--no-index"],
    ["hprof", "instances", "hprof/out/heapshape-coops.hprof.gz", "HeapShape$Node", "--no-index"],
    ["goroutines", "go/out/stuck.debug2.txt"],
    ["pyspy", "pyspy/out/deadlock-only"],
    ["core", "info", "elf/out/smash.core.zst"],
    ["core", "verify", "elf/out/nullderef.core.zst", "--binary", "elf/out/nullderef.rebuilt"],
    ["core", "bt", "elf/out/smash.core.zst"],
    ["core", "stack", "elf/out/smash.core.zst", "--words", "4"],
    ["minidump", "info", "minidump/out/crash.dmp"],
    ["minidump", "bt", "minidump/out/crash.dmp"],
])
def test_every_command_json_carries_the_envelope(argv, capsys):
    """schema_version, tool, the input's path, format and provenance, findings as examine's."""
    args = [str(FIXTURES / a) if "/out/" in a else a for a in argv] + ["--json"]
    main(args)
    doc = json.loads(capsys.readouterr().out)
    errors = sorted(_command_validator().iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]
    assert doc["path"].endswith(argv[2] if argv[0] in ("hprof", "core", "minidump") else argv[1])
    assert doc["format"] in ("hprof", "go-goroutines-debug2", "pyspy-bundle", "elf-core", "minidump")


def test_every_finding_kind_the_code_can_emit_is_documented():
    """docs/findings.md lists every kind: read from the source (each Finding(...) call's kind,
    with the two computed ones expanded) and from the findings the fixtures produce."""
    import ast
    src = Path(__file__).resolve().parent.parent / "src" / "dumpx"
    doc = (src.parent.parent / "docs" / "findings.md").read_text()
    kinds = set()
    for p in src.rglob("*.py"):
        for n in ast.walk(ast.parse(p.read_text())):
            if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "Finding" and n.args:
                a = n.args[0]
                if isinstance(a, ast.Constant):
                    kinds.add(a.value)
                else:
                    kinds |= {"go-truncated", "go-damaged", "go-absent-producer", "go-absent-consumer"} \
                        if "go-" in ast.unparse(a) else {ast.unparse(a)}
    kinds |= {f.kind for f in _examine([FIXTURES / p for p in _manifest_dumps()]).findings}
    missing = sorted(k for k in kinds if f"`{k}`" not in doc)
    assert not missing and len(kinds) > 45


def test_examine_scans_a_heap_dump_once(monkeypatch):
    """The provenance comes from the reader that reads the dump: one scan pass, not a second one
    for `info` (a multi-GB dump read twice)."""
    import dumpx.hprof.reader as R
    calls = []
    real = R.scan

    def counting(*a, **kw):
        if kw.get("fetch") is None:
            calls.append(1)
        return real(*a, **kw)

    monkeypatch.setattr(R, "scan", counting)
    r = _examine([FIXTURES / "hprof/out/heapshape-coops.hprof.gz"], graph=False)
    assert r.inputs[0].provenance["hprof_version"] == "1.0.2" and len(calls) == 1


def test_examine_builds_the_graph_within_a_memory_budget(monkeypatch, tmp_path):
    """``memory=`` reaches the graph build: below what the in-memory build needs it is made in
    work files (and says so on the graph), with the same findings."""
    import dumpx.hprof.graph as G
    import dumpx.hprof.workspace as W
    monkeypatch.setenv("DUMPX_CACHE_DIR", "off")
    monkeypatch.setattr(W, "SPILL_FROM", 0)
    spaces = []
    real = G.build_graph
    monkeypatch.setattr(G, "build_graph", lambda *a, **k: spaces.append(real(*a, **k)) or spaces[-1])
    path = FIXTURES / "hprof/out/heapshape-coops.hprof.gz"
    plain = _examine([path]).to_dict()["findings"]
    budget = _examine([path], memory="1M").to_dict()["findings"]
    assert [g.space.spill for g in spaces] == [False, True]
    assert budget == plain and any(f["kind"] == "hprof-accumulation" for f in budget)


def test_next_steps_read_as_python_calls_in_a_notebook():
    """From Python a next step names the call, not the command: each phrase of findings.API_PHRASES
    is in some next step the code writes (so the table cannot rot), and a finding shown in a
    notebook (plain text and HTML) has the Python phrasing while its terminal text keeps the CLI's."""
    from dumpx.findings import API_PHRASES

    def pretty(obj):                        # IPython's printer protocol, without IPython
        class P:
            out = []

            def text(self, t):
                self.out.append(t)
        p = P()
        obj._repr_pretty_(p, False)
        return "".join(p.out)
    src = Path(__file__).resolve().parent.parent / "src" / "dumpx"
    code = "\n".join(p.read_text() for p in src.rglob("*.py") if p.name != "findings.py")
    assert all(rx.search(code) for rx, _ in API_PHRASES), [rx.pattern for rx, _ in API_PHRASES if not rx.search(code)]
    d = dumpx.open(FIXTURES / "go/out/incident.died.debug2.txt.gz")
    f = [x for x in d.findings() if x.kind == "go-absent-consumer"][0]
    assert "--expect FUNC" in f.text() and "--expect" not in pretty(f) and "--expect" not in f._repr_html_()
    assert "expect=[FUNC]" in pretty(f) and "expect=[FUNC]" in f._repr_html_()


def test_examine_refuses_a_memory_budget_that_is_no_size(capsys):
    assert main(["examine", "--memory", "lots", str(FIXTURES / "go/out/stuck.debug2.txt")]) == 2
    assert "--memory: not a size" in capsys.readouterr().err
