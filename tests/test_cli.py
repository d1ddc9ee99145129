"""``dumpx info`` on every real dump and committed fixture; output escaping."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from dumpx.cli import main

from conftest import FIXTURES, REAL_DUMPS, real_dump
from test_sniff import EXPECTED

MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())
FIXTURE_DUMPS = sorted(MANIFEST["dumps"].items())


@pytest.mark.parametrize("rel,fmt,comp,details", EXPECTED, ids=[e[0] for e in EXPECTED])
def test_info_json_on_real_dumps(rel, fmt, comp, details, capsys):
    p = real_dump(rel)
    assert main(["info", "--json", str(p)]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["format"] == fmt and d["compression"] == comp and d["problems"] == []
    assert d["size_on_disk"] == p.stat().st_size


def test_info_on_every_file_under_real_dumps(capsys):
    if not REAL_DUMPS.is_dir():
        pytest.skip("real dumps folder absent")
    for p in sorted(REAL_DUMPS.rglob("*")):
        if p.is_file():
            assert main(["info", str(p)]) == 0, p
    out = capsys.readouterr().out
    assert out.count("format:") == sum(1 for p in REAL_DUMPS.rglob("*") if p.is_file())


@pytest.mark.parametrize("rel,want", FIXTURE_DUMPS, ids=[r for r, _ in FIXTURE_DUMPS])
def test_info_on_committed_fixtures(rel, want, capsys):
    assert main(["info", "--json", str(FIXTURES / rel)]) == 0
    d = json.loads(capsys.readouterr().out)
    assert (d["format"], d["compression"]) == (want["format"], want["compression"])
    assert d["problems"] == []


def test_every_fixture_output_is_in_the_manifest():
    import fnmatch
    for p in sorted(x for x in FIXTURES.glob("*/out/**/*") if x.is_file()):
        rel = str(p.relative_to(FIXTURES))
        assert rel in MANIFEST["dumps"] or any(fnmatch.fnmatch(rel, g) for g in MANIFEST["oracles"]), rel


def test_info_reports_truncated_compression(tmp_path, capsys):
    import gzip
    p = tmp_path / "cut.gz"
    p.write_bytes(gzip.compress(b"JAVA PROFILE 1.0.2\x00" + __import__("os").urandom(100000))[:2000])
    assert main(["info", str(p)]) == 1
    out = capsys.readouterr().out
    assert "PROBLEM" in out and "end-of-stream" in out


def test_escapes_hostile_text(tmp_path, capsys):
    p = tmp_path / "evil\x1b[31m.txt"
    p.write_bytes(b"goroutine 1 [running]:\n")
    main(["info", str(p)])
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\\x1b[31m" in out


def test_console_script_installed():
    exe = shutil.which("dumpx")
    if exe is None:
        pytest.skip("console script not on PATH")
    r = subprocess.run([exe, "info", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--json" in r.stdout


def test_missing_file_is_a_clean_error(capsys):
    assert main(["info", "/nonexistent/x.hprof"]) == 2
    assert "No such file" in capsys.readouterr().err


def test_hprof_histo_json_on_fixture(capsys):
    from conftest import fixture_file
    p = fixture_file("hprof/out/heapshape-coops.hprof.gz")
    assert main(["hprof", "histo", "--json", "--top", "5", str(p)]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["histogram"][0]["class_name"] == "[B"
    assert d["largest_objects"][0]["length"] == 8 << 20
    assert d["provenance"]["layout"].startswith("64-bit, compressed oops")
    assert any(f["kind"] == "hprof-one-big-object" for f in d["findings"])


def test_hprof_histo_text_and_diff(capsys):
    from conftest import fixture_file
    a = fixture_file("hprof/out/heapshape-coops.hprof.gz")
    b = fixture_file("hprof/out/heapshape-coops-grown.hprof.gz")
    assert main(["hprof", "histo", "--quiet", "--top", "5", str(a), "--diff", str(b)]) == 0
    out = capsys.readouterr().out
    assert "HeapShape$CacheEntry" in out and "20,000" in out and "histogram diff" in out


def test_hprof_histo_damaged_exits_1(tmp_path, capsys):
    from conftest import fixture_file
    import gzip as _gz
    raw = _gz.decompress(fixture_file("hprof/out/heapshape-coops.hprof.gz").read_bytes())
    p = tmp_path / "cut.hprof"
    p.write_bytes(raw[: len(raw) // 3])
    assert main(["hprof", "histo", "--quiet", str(p)]) == 1
    assert "damaged or incomplete" in capsys.readouterr().out


def test_progress_shows_on_a_terminal_only():
    import io
    from dumpx.cli.progress import Progress

    class Tty(io.StringIO):
        def isatty(self):
            return True

    t, f = Tty(), io.StringIO()
    p_on, p_off = Progress("scan", stream=t), Progress("scan", stream=f)
    for p in (p_on, p_off):
        p.last = -1
        p(512 << 20, 1 << 30)
        p.close()
    assert "50.0%" in t.getvalue() and f.getvalue() == ""


def test_hprof_histo_quiet_writes_nothing_to_stderr(capsys):
    from conftest import fixture_file
    assert main(["hprof", "histo", "--quiet", "--json", str(fixture_file("hprof/out/heapshape-noccp.hprof.gz"))]) == 0
    assert capsys.readouterr().err == ""


def test_directory_and_empty_file_are_clean_errors(tmp_path, capsys):
    assert main(["info", str(tmp_path)]) == 2
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert main(["info", "--json", str(empty)]) == 0
    assert json.loads(capsys.readouterr().out)["format"] == "empty"          # named, not "binary data"
    assert main(["hprof", "histo", "--quiet", str(empty)]) == 2


def test_goroutines_json_on_fixture(capsys):
    from conftest import fixture_file
    p = fixture_file("go/out/stuck.debug2.txt")
    assert main(["goroutines", "--json", "--expect", "main.producer", str(p)]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["goroutines"] == 88 and d["buckets"][0]["top_function"] == "main.consumer"
    assert d["buckets"][0]["frames"][0]["func"] == "main.consumer"
    assert any(f["kind"] == "go-expected-absent" for f in d["findings"])


def test_goroutines_text_with_diff(capsys):
    from conftest import fixture_file
    a, b = fixture_file("go/out/stuck.debug2.txt"), fixture_file("go/out/stuck.later.debug2.txt")
    assert main(["goroutines", str(a), "--diff", str(b)]) == 0
    out = capsys.readouterr().out
    assert "vanished" in out and "main.locker" in out


def test_core_info_and_stack(capsys):
    from conftest import fixture_file
    p = str(fixture_file("elf/out/smash.core.zst"))
    assert main(["core", "info", p]) == 0
    out = capsys.readouterr().out
    assert "SIGSEGV code 128" in out and "smash" in out
    assert main(["core", "stack", p, "--words", "4"]) == 0
    assert capsys.readouterr().out.count("0x4141414141414141") == 4


def test_core_verify_exit_code_and_json(capsys):
    from conftest import fixture_file
    core = str(fixture_file("elf/out/nullderef.core.zst"))
    assert main(["core", "verify", core, "--binary", str(fixture_file("elf/out/nullderef.rebuilt"))]) == 3
    assert "mismatch" in capsys.readouterr().out
    assert main(["core", "verify", "--json", core, "--binary", str(fixture_file("elf/out/nullderef"))]) == 0
    d = json.loads(capsys.readouterr().out)
    assert [m["verdict"] for m in d["modules"] if m["module"].endswith("/nullderef")] == ["match"]


def test_hprof_dominators_json(capsys):
    from conftest import fixture_file
    assert main(["hprof", "dominators", "--json", "--quiet", "--top", "5",
                 str(fixture_file("hprof/out/heapshape-coops.hprof.gz"))]) == 0
    d = json.loads(capsys.readouterr().out)
    by = {r["class_name"]: r for r in d["top"]}
    assert by["java.util.HashMap"]["accumulation_point"]["children"] == 20000
    assert by["HeapShape$Upload"]["accumulation_point"]["class_name"] == "[B"
    assert by["class HeapShape"]["dominator_chain"] == ["class HeapShape"]


def test_hprof_dominators_under_a_memory_budget(capsys, monkeypatch, tmp_path):
    """--memory below what the in-memory build needs: the same answers, built in work files in
    $DUMPX_TMPDIR (which it leaves empty); a size that is none is a usage error (exit 2)."""
    from conftest import fixture_file
    import dumpx.hprof.workspace as W
    p = str(fixture_file("hprof/out/heapshape-coops.hprof.gz"))
    assert main(["hprof", "dominators", "--json", "--quiet", "--no-index", "--top", "5", p]) == 0
    plain = json.loads(capsys.readouterr().out)
    monkeypatch.setattr(W, "SPILL_FROM", 0)
    monkeypatch.setenv("DUMPX_TMPDIR", str(tmp_path))
    made = []
    real = W.WorkSpace.array
    monkeypatch.setattr(W.WorkSpace, "array", lambda self, *a, **k: made.append(self.directory) or real(self, *a, **k))
    assert main(["hprof", "dominators", "--json", "--quiet", "--no-index", "--memory", "1M", "--top", "5", p]) == 0
    budget = json.loads(capsys.readouterr().out)
    assert budget["top"] == plain["top"] and budget["findings"] == plain["findings"]
    assert made and set(made) == {str(tmp_path)} and not any(tmp_path.iterdir())
    assert main(["hprof", "dominators", "--quiet", "--no-index", "--memory", "lots", p]) == 2
    assert "--memory" in capsys.readouterr().err


def test_hprof_path(capsys):
    from conftest import fixture_file
    from dumpx.hprof import HeapDump
    from dumpx.hprof.graph import build_graph
    from dumpx.hprof.objects import Fields
    p = str(fixture_file("hprof/out/heapshape-coops.hprof.gz"))
    g = build_graph(HeapDump(p))
    table = g.accumulation_point(g.vertex(Fields(g.dump).static("HeapShape", "REGISTRY")))
    assert main(["hprof", "path", "--quiet", "--json", p, hex(int(g.ids[table]))]) == 0
    d = json.loads(capsys.readouterr().out)
    assert [s["via"] for s in d["steps"]][-2:] == ["static REGISTRY", "table"]
    assert main(["hprof", "path", "--quiet", p, "0x1234"]) == 2


def test_hprof_instances_and_object_commands(tmp_path, capsys):
    """By construction of HeapShape: 20,000 CacheEntry objects of 32 bytes; REGISTRY is a HashMap
    of size 20,000 that only the class HeapShape refers to, through its static field."""
    from dumpx.cli import main
    from dumpx.hprof import HeapDump
    from dumpx.hprof.objects import Fields
    from conftest import fixture_file
    f = str(fixture_file("hprof/out/heapshape-coops.hprof.gz"))
    idx = str(tmp_path / "idx")
    assert main(["hprof", "instances", "--json", "--index", idx, f, "HeapShape$CacheEntry", "--top", "3"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["objects"] == 20000 and out["shallow_bytes"] == 20000 * 32 and len(out["top"]) == 3
    reg = Fields(HeapDump(f)).static("HeapShape", "REGISTRY")
    assert main(["hprof", "object", "--json", "--index", idx, f, hex(reg)]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert obj["class_name"] == "java.util.HashMap"
    assert {r["field"]: r["value"] for r in obj["fields"]}["size"] == 20000
    assert [(r["class_name"], r["via"]) for r in obj["referrers"]] == [("class HeapShape", "static REGISTRY")]
    assert obj["path_from_roots"][-1]["via"] == "static REGISTRY" and obj["path_from_roots"][0]["via"].startswith("GC root: ")
    assert main(["hprof", "object", "--index", idx, f, "0x1234"]) == 2
    assert "no object 0x1234" in capsys.readouterr().err


@pytest.mark.parametrize("argv,detected,command", [
    (["hprof", "histo", "elf/out/smash.core.zst"], "ELF 64-bit", "dumpx core bt"),
    (["core", "bt", "hprof/out/heapshape-coops.hprof.gz"], "HPROF heap dump", "dumpx hprof histo"),
    (["goroutines", "minidump/out/crash.dmp"], "minidump", "dumpx minidump bt"),
    (["minidump", "info", "go/out/stuck.debug2.txt"], "Go goroutine dump", "dumpx goroutines"),
])
def test_a_command_given_another_kind_of_dump_names_it_and_its_command(argv, detected, command, capsys):
    from dumpx.cli import main
    argv = argv[:-1] + [str(FIXTURES / argv[-1])]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert detected in err and command in err


def test_version_and_python_dash_m(capsys):
    import subprocess
    import sys
    import dumpx
    from dumpx.cli import main
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"dumpx {dumpx.__version__}"
    r = subprocess.run([sys.executable, "-m", "dumpx", "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == f"dumpx {dumpx.__version__}"


def test_goroutines_text_prints_each_buckets_stack(capsys):
    """panicparse-style: the bucket's count and state, its frames with short paths, the program's
    own frames marked (main.locker is, the sync frames under it are not), and its creator."""
    from dumpx.cli import main
    main(["goroutines", str(FIXTURES / "go/out/stuck.debug2.txt")])
    out = capsys.readouterr().out
    block = out[out.index("20: sync.Mutex.Lock"):].split("\n\n")[0].splitlines()
    marked = [ln.split()[1] for ln in block[1:] if ln.startswith("  * ")]
    plain = [ln.split()[0] for ln in block[1:] if ln.startswith("    ") and "created by" not in ln]
    assert marked == ["main.locker"] and "sync.(*Mutex).Lock" in plain
    assert block[-1].strip().startswith("created by main.main") and "stuck/main.go:" in block[-1]
    assert "50: chan receive" in out and "  * main.consumer" in out


@pytest.mark.parametrize("argv", [
    ["hprof", "dominators", "--memory", "8G", "--top", "3", "heap.hprof"],
    ["--max-decompressed", "5G", "core", "bt", "--all", "core.1"],
    ["--max-decompressed=5G", "goroutines", "--expect", "handler", "dump.txt"],
    ["minidump", "bt", "crash.dmp", "--binary", "./app"],
    ["examine", "a", "b", "--memory", "1G"], ["fleet", "x/*.txt", "--workers", "2"],
    ["info", "core"], ["pyspy", "capture"],
])
def test_a_run_builds_only_its_commands_parser_and_reads_the_same(argv):
    """The parser of the one command named gives the same arguments as the whole parser (a run
    does not import or build the other seven)."""
    from dumpx.cli import build_parser, command_of
    assert command_of(argv) == next(a for a in argv if a in {"hprof", "core", "goroutines", "minidump",
                                                           "examine", "fleet", "info", "pyspy"})
    one, full = build_parser(command_of(argv)).parse_args(argv), build_parser().parse_args(argv)
    assert vars(one) == vars(full)


def test_help_and_unknown_commands_still_see_every_command(capsys):
    from dumpx.cli import COMMANDS, command_of
    assert command_of(["--help"]) is None and command_of(["nonsense", "x"]) is None and command_of([]) is None
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert all(name in out for name in COMMANDS)
    with pytest.raises(SystemExit) as e:
        main(["nonsense"])
    assert e.value.code == 2 and "minidump" in capsys.readouterr().err
