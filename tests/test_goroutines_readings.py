"""The readings that must survive their look-alikes: a healthy process with idle keep-alive
connections stays quiet, a process whose consumer died is critical (fixtures/go/incident, made
with the Go toolchain); Go's symbol syntax; --expect's matching rules; panicparse's wait ranges;
diffs across formats; and findings that stay linear in the number of distinct stacks."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dumpx
from dumpx.goroutines import analysis
from dumpx.goroutines.idle import expect_matcher, package

from conftest import fixture_file

OUT = "go/out"


def kinds(d, **kw):
    return {f.kind: f for f in d.findings(**kw)}


def test_healthy_keepalive_process_is_quiet():
    for name in ("incident.healthy.debug2.txt", "incident.healthy.debug1.txt"):
        d = dumpx.open(fixture_file(f"{OUT}/{name}"))
        fs = d.findings()
        assert not [f for f in fs if f.kind in ("go-stuck-set", "go-absent-producer", "go-absent-consumer",
                                                "go-large-bucket")], (name, fs.text())
        idle = {e.label: e.value for e in fs.of_kind("go-idle-by-design")[0].evidence}
        # the construction: 8 client keep-alive connections, each a read loop and a write loop
        assert idle["HTTP client keep-alive connection waiting for a response"] == 8
        assert idle["HTTP client keep-alive connection waiting for a request"] == 8


def test_dead_consumer_is_critical_and_not_downgraded():
    d = dumpx.open(fixture_file(f"{OUT}/incident.died.debug2.txt.gz"))
    f = kinds(d)["go-absent-consumer"]
    ev = {e.label: e.value for e in f.evidence}
    assert str(f.severity) == "critical"
    assert ev["waiting goroutines"] == 2000 - 10          # 2000 handlers, the consumer took 10
    assert ev["waiting to send in"] == "main.handler"
    assert ev["rule 1: goroutines of package main that could receive"] == 0
    # neither the unrelated sender in package other, nor the goroutine writing the dump, nor the
    # ticker counts as the missing consumer
    assert "main.ticker (sleeping in time.Sleep (a ticker or backoff loop))" in ev[
        "not counted: goroutines of package main idle by design"]


def test_dead_consumer_in_debug1_is_a_large_bucket_and_the_formats_diff_by_stack():
    d1 = dumpx.open(fixture_file(f"{OUT}/incident.died.debug1.txt"))
    lb = kinds(d1)["go-large-bucket"]
    assert {e.label: e.value for e in lb.evidence}["goroutines"] == 1990
    d2 = dumpx.open(fixture_file(f"{OUT}/incident.died.debug2.txt.gz"))
    t = analysis.diff(d1, d2)
    handler = [r for r in t.rows() if r["top_function"] == "main.handler"]
    assert len(handler) == 1 and handler[0]["growth"] == 0 and handler[0]["state"] == "(any state)"
    assert not [f for f in d1.findings(diff=d2) if f.kind.startswith("go-diff")]


def test_stuck_fixture_absent_producer_with_its_rules():
    d = dumpx.open(fixture_file(f"{OUT}/stuck.debug2.txt"))
    f = [x for x in d.findings() if x.kind == "go-absent-producer" and "main.consumer" in x.title][0]
    ev = {e.label: e.value for e in f.evidence}
    assert str(f.severity) == "critical" and ev["waiting goroutines"] == 50
    assert ev["rule 1: goroutines of package main that could send"] == 0
    assert ev["rule 2: creator goroutine ids"] == [1]          # created by main.main, goroutine 1


@pytest.mark.parametrize("func,pkg", [
    ("net/http.(*persistConn).readLoop", "net/http"),
    ("main.main.func1", "main"),
    ("gopkg.in/yaml.v2.(*decoder).unmarshal", "gopkg.in/yaml.v2"),
    ("github.com/foo/bar.Baz", "github.com/foo/bar"),
    ("k8s.io/klog/v2.(*flushDaemon).run", "k8s.io/klog/v2"),
    ("sync.(*WaitGroup).Wait", "sync"),
    ("example.com/m.F[...]", "example.com/m"),
])
def test_package_from_go_symbol_syntax(func, pkg):
    assert package(func) == pkg


def test_expect_matching_rules():
    m = expect_matcher("handler")
    assert m("main.handler") and m("example.com/api.handler") and not m("main.handlerX")
    m = expect_matcher("(*persistConn).readLoop")
    assert m("net/http.(*persistConn).readLoop") and not m("net/http.(*persistConn).writeLoop")
    assert expect_matcher("main.handler")("main.handler") and not expect_matcher("main.handler")("x/main.handler")
    assert expect_matcher(r"re:^net/http\.")("net/http.(*Server).Serve")
    d = dumpx.open(fixture_file(f"{OUT}/incident.died.debug2.txt.gz"))
    f = kinds(d, expect=["handler"])["go-expected-present"]
    ev = {e.label: e.value for e in f.evidence}
    assert ev["goroutines"] == 1990 and ev["functions matched"] == ["main.handler"]


def _dump(blocks) -> bytes:
    return "\n".join(blocks).encode() + b"\n"


def _block(gid, state, func="main.wait", minutes=None):
    head = f"goroutine {gid} [{state}" + (f", {minutes} minutes" if minutes is not None else "") + "]:"
    return (f"{head}\n{func}()\n\t/src/main.go:10 +0x10\ncreated by main.main in goroutine 1\n"
            f"\t/src/main.go:20 +0x20\n")


def test_wait_range_reads_like_panicparse(tmp_path):
    p = tmp_path / "w.txt"
    p.write_bytes(_dump([_block(i + 2, "chan receive", minutes=30 if i == 0 else None) for i in range(12)]))
    d = dumpx.open(p)
    st = kinds(d)["go-stuck-set"]
    assert {e.label: e.value for e in st.evidence}["waiting"].startswith("[0~30 minutes]")


def test_findings_stay_linear_in_distinct_stacks(tmp_path, monkeypatch):
    """Each group's package is derived a bounded number of times, however many stuck buckets; the
    findings list the 50 largest stuck sets and sum the rest, and read a package's absent producer
    once for all its buckets."""
    calls = {"n": 0}
    real = analysis.package

    def counting(f):
        calls["n"] += 1
        return real(f)

    monkeypatch.setattr(analysis, "package", counting)
    for n in (500, 2000):
        calls["n"] = 0
        blocks = []
        for k in range(n):
            for j in range(10):                       # stuck buckets of 10, each its own stack
                blocks.append(_block(2 + k * 10 + j, "chan receive", func=f"main.wait{k}"))
        p = tmp_path / f"s{n}.txt"
        p.write_bytes(_dump(blocks))
        d = dumpx.open(p)
        fs = d.findings()
        assert len(d.stacks) == n and len(d.stacks.func_names) == n + 1          # main.waitK and main.main
        assert len(fs.of_kind("go-stuck-set")) == analysis.STUCK_LISTED
        more = {e.label: e.value for e in fs.of_kind("go-stuck-sets-unlisted")[0].evidence}
        assert more["stuck sets not listed"] == n - analysis.STUCK_LISTED
        assert more["goroutines in them"] == 10 * (n - analysis.STUCK_LISTED)
        # one reading for the package: the n buckets of main wait the same way, with nothing to send
        absent = fs.of_kind("go-absent-producer")
        assert len(absent) == 1 and absent[0].severity.name == "CRITICAL"
        ev = {e.label: e.value for e in absent[0].evidence}
        assert ev["goroutines in all of them"] == 10 * n
        assert ev["other stuck buckets of package main read the same way"] == n - 1
        assert calls["n"] <= 3 * n + 10, (n, calls["n"])


def _read_as(tmp_path, name, data):
    p = tmp_path / name
    p.write_bytes(data)
    return dumpx.detect(dumpx.Source(p)), p


def _shape(d):
    b = d.buckets()
    return sorted(zip(b["state"].tolist(), b["count"].tolist(), b["top_function"].tolist()))


def test_sniffing_agrees_with_the_readers(tmp_path):
    """Whatever the goroutine readers read, dumpx.open detects as the same format and reads alike."""
    lf = fixture_file(f"{OUT}/stuck.debug2.txt").read_bytes()
    base = _shape(dumpx.open(fixture_file(f"{OUT}/stuck.debug2.txt")))
    det, p = _read_as(tmp_path, "crlf.txt", lf.replace(b"\n", b"\r\n"))
    assert det.format == "go-goroutines-debug2" and _shape(dumpx.open(p)) == base
    log = b"".join(b"2026-11-28T10:00:00Z level=info msg=\"served\" status=200 n=%d\n" % i for i in range(4000))
    panic = fixture_file(f"{OUT}/stuck.panic.txt").read_bytes()
    det, p = _read_as(tmp_path, "log.txt", log + panic)
    assert len(log) > 64 << 10 and det.format == "go-panic"
    assert det.details["goroutines_start_at_offset"] > len(log)
    assert dumpx.open(p).total == dumpx.open(fixture_file(f"{OUT}/stuck.panic.txt")).total
    det, p = _read_as(tmp_path, "system.txt", b"goroutine 1 gp=0xc000002380 m=nil [chan receive]:\n"
                                             b"main.main()\n\t/src/main.go:10 +0x10\n")
    assert det.format == "go-goroutines-debug2" and dumpx.open(p).total == 1
    d1 = fixture_file(f"{OUT}/stuck.debug1.txt").read_bytes().replace(b"\n", b"\r\n")
    det, p = _read_as(tmp_path, "d1.txt", d1)
    assert det.format == "go-goroutines-debug1"


def test_empty_file_is_named_empty(tmp_path):
    det, p = _read_as(tmp_path, "empty", b"")
    assert det.format == "empty" and det.description == "an empty file"
    with pytest.raises(dumpx.UnsupportedFormatError, match="empty file"):
        dumpx.open(p)


def test_concatenated_dumps_are_flagged(tmp_path):
    one = fixture_file(f"{OUT}/stuck.debug2.txt").read_bytes()
    p = tmp_path / "two.txt"
    p.write_bytes(one + b"\n" + one)
    f = kinds(dumpx.open(p))["go-duplicate-ids"]
    assert {e.label: e.value for e in f.evidence}["goroutines read"] == 2 * 88
    assert "go-duplicate-ids" not in kinds(dumpx.open(fixture_file(f"{OUT}/stuck.debug2.txt")))


def test_text_output_is_capped(tmp_path, capsys):
    from dumpx.cli import main
    blocks = [_block(2 + k * 10 + j, "chan receive", func=f"main.wait{k}") for k in range(60) for j in range(10)]
    p = tmp_path / "many.txt"
    p.write_bytes(_dump(blocks))
    main(["goroutines", str(p)])
    out = capsys.readouterr().out
    m = re.search(r"\.\.\. (\d+) more findings left out", out)
    total = len(dumpx.open(p).findings())
    assert m and int(m.group(1)) == total - 30
    main(["goroutines", "--all", str(p)])
    assert "more findings left out" not in capsys.readouterr().out


def _gostackparse_fixtures():
    """gostackparse's own test fixtures (Go module proxy), with the errors its parser reports."""
    import shutil
    import subprocess
    go = shutil.which("go") or "/usr/local/go/bin/go"
    try:
        out = subprocess.run([go, "mod", "download", "-json", "github.com/DataDog/gostackparse@v0.7.0"],
                             capture_output=True, text=True, timeout=120, cwd="/tmp")
        d = Path(json.loads(out.stdout)["Dir"]) / "test-fixtures"
    except (OSError, ValueError, KeyError, subprocess.TimeoutExpired):
        pytest.skip("gostackparse's fixtures are not reachable (go, or the module proxy, missing)")
    if not d.is_dir():
        pytest.skip("gostackparse module has no test-fixtures")
    return d


@pytest.mark.parametrize("name", ["errorhandling", "partial_createdby", "partial_stack", "empty_stack"])
def test_malformed_goroutines_are_problems_on_the_lines_gostackparse_names(name):
    """Each malformed goroutine is a problem naming the line where the format breaks (the same line
    numbers as gostackparse's golden errors) and is still counted (gostackparse drops it)."""
    import re as _re
    from dumpx.goroutines.text import read_text
    d = _gostackparse_fixtures()
    gold = json.loads((d / f"{name}.golden.json").read_text())
    want = sorted(int(m) for e in gold["Errors"] for m in _re.findall(r"on line (\d+)", e))
    dump = read_text(d / f"{name}.txt")
    got = sorted(int(m) for p in dump.problems for m in _re.findall(r": line (\d+): ", str(p)))
    assert got == want
    headers = (d / f"{name}.txt").read_text().count("goroutine ")
    assert dump.total == headers >= len(gold["Goroutines"])


@pytest.mark.parametrize("name", ["ancestors", "cgo", "frameselided_goroutine", "windows", "waitsince", "frameselided",
                                  "go121_createdby", "lockedm"])
def test_well_formed_gostackparse_fixtures_raise_no_problem(name):
    from dumpx.goroutines.text import read_text
    d = _gostackparse_fixtures()
    assert json.loads((d / f"{name}.golden.json").read_text())["Errors"] is None
    assert read_text(d / f"{name}.txt").problems == []


def test_goroutine_ids_are_uint64_in_full():
    """Go's goroutine ids are uint64: 19- and 20-digit ids are read whole (they were dropped, and
    creator ids cut to 18 digits); an id past 2^64-1 is no header, and its block is a problem."""
    from dumpx.goroutines.text import read_text
    big, creator = 2**64 - 1, 12345678901234567890
    text = (f"goroutine {big} [chan receive]:\nmain.worker()\n\t/src/main.go:10 +0x1\n"
            f"created by main.start in goroutine {creator}\n\t/src/main.go:5 +0x2\n\n"
            f"goroutine 1000000000000000000 [running]:\nmain.main()\n\t/src/main.go:3 +0x3\n\n"
            f"goroutine {2**64} [running]:\nmain.other()\n\t/src/main.go:4 +0x4\n").encode()
    d = read_text(text)
    g = d.goroutines
    assert g["id"].tolist() == [big, 10**18]
    assert g["creator"].tolist()[0] == creator and g["has_creator"].tolist() == [True, False]
    assert d.group_creators and creator in sum(d.group_creators, [])
    bad = [p for p in d.problems if "past 2^64-1" in str(p)]
    assert len(bad) == 1 and "line 11:" in str(bad[0]) and bad[0].offset == text.index(b"goroutine 18446744073709551616")


def test_ancestors_are_modelled_and_leave_the_stack_alone():
    """GODEBUG=tracebackancestors output (gostackparse's ancestors fixture, written by Go): each
    '[originating from goroutine N]:' becomes an ancestor row in order (depth 1 = the creator), the
    ancestors' frames are not part of the goroutine's own stack (gostackparse's golden stacks), and
    nothing is left over as text outside goroutine blocks."""
    import re as _re
    from dumpx.goroutines.text import read_text
    fx = _gostackparse_fixtures()
    text = (fx / "ancestors.txt").read_text()
    d = read_text(fx / "ancestors.txt")
    want = []
    for block in _re.split(r"\n(?=goroutine \d+ \[)", text):
        gid = int(_re.match(r"goroutine (\d+)", block).group(1))
        want += [(gid, int(a), k + 1) for k, a in enumerate(_re.findall(r"\[originating from goroutine (\d+)\]:", block))]
    t = d.ancestors
    assert list(zip(t["goroutine"].tolist(), t["ancestor"].tolist(), t["depth"].tolist())) == want and want
    gold = {x["ID"]: x for x in json.loads((fx / "ancestors.golden.json").read_text())["Goroutines"]}
    g = d.goroutines
    for i, gid in enumerate(g["id"].tolist()):
        st = d.stacks[int(g["stack"][i])]
        assert [(f.func, f.line) for f in st.frames] == [(f["Func"], f["Line"]) for f in gold[gid]["Stack"]]
    assert not any("outside goroutine blocks" in n for n in d.notes) and d.problems == []


def _pool_dump(with_ancestors: bool, waiters: int = 200) -> bytes:
    """Workers of package worker wait in chan receive; their creator (goroutine 50) is gone; with
    tracebackancestors the chain goes on to goroutine 7, still running in package feeder."""
    out = ["goroutine 7 [running]:", "feeder.loop(0xc000010000)", "\t/src/feeder/feed.go:40 +0x55",
           "created by main.main in goroutine 1", "\t/src/main.go:12 +0x20", ""]
    for k in range(waiters):
        out += [f"goroutine {100 + k} [chan receive, 3 minutes]:", "worker.(*Pool).wait(0xc000020000)",
                "\t/src/worker/pool.go:88 +0x41", "created by worker.spawn in goroutine 50",
                "\t/src/worker/pool.go:30 +0x66"]
        if with_ancestors:
            out += ["[originating from goroutine 50]:", "worker.spawn(...)", "\t/src/worker/pool.go:29 +0x10",
                    "created by feeder.loop in goroutine 7", "\t/src/feeder/feed.go:41 +0x12",
                    "[originating from goroutine 7]:", "feeder.loop(...)", "\t/src/feeder/feed.go:41 +0x12"]
        out.append("")
    return ("\n".join(out) + "\n").encode()


def test_an_ancestor_still_running_is_a_candidate_producer():
    """The same waiters with and without GODEBUG=tracebackancestors: without it, their creator is
    gone and nothing in their package could send - an absent producer; with it, the ancestor that
    started the chain (goroutine 7) still runs, so the reading is a notice naming it."""
    from dumpx.goroutines.text import read_text
    bare = [f for f in read_text(_pool_dump(False)).findings() if f.kind == "go-absent-producer"]
    assert bare and bare[0].severity.name == "CRITICAL"        # 200 of 201 goroutines
    d = read_text(_pool_dump(True))
    got = [f for f in d.findings() if f.kind == "go-absent-producer"]
    assert got and got[0].severity.name == "NOTICE"
    ev = {e.label: e.value for e in got[0].evidence}
    assert ev["rule 2: older ancestors (tracebackancestors)"] == [7]
    assert 7 in ev["rule 2: creators and ancestors still in the dump"]
    assert d.ancestors is not None and len(d.ancestors) == 400


def test_debug1_buckets_parked_by_their_hidden_pcs_match_debug2():
    """debug=1 prints no runtime frames, but its @ lines keep their PCs: the 1,990 handlers' topmost
    hidden PC is the top PC of the buckets read as IO wait and sleep (the park function), so they
    are called parked. The debug=2 dump of the same process is the oracle: there every main.handler
    goroutine is parked in a channel send. The running bucket (the dump writer) and the healthy
    process's dump are not called parked."""
    from dumpx.goroutines.analysis import _Index, _parked_by_pc
    died = dumpx.open(fixture_file("go/out/incident.died.debug1.txt"))
    big = [f for f in died.findings() if f.kind == "go-large-bucket"]
    assert big and "parked in the runtime" in big[0].title
    ev = {e.label: e.value for e in big[0].evidence}
    assert ev["0x48614e is also the top PC of buckets read as"] == ["IO wait", "sleep"]
    d2 = dumpx.open(fixture_file("go/out/incident.died.debug2.txt.gz"))
    g = d2.goroutines
    handler_states = {d2.states[int(g["state"][i])] for i in range(len(g))
                      if d2.stacks[int(g["stack"][i])].top() == "main.handler"}
    assert handler_states == {"chan send"} and len([1 for i in range(len(g))
                                                      if d2.stacks[int(g["stack"][i])].top() == "main.handler"]) == 1990
    ix = _Index(died)
    running = [k for k in range(len(ix.count)) if ix.state[k] == "running"]
    assert running and all(_parked_by_pc(died, ix, k) == [] for k in running)
    healthy = dumpx.open(fixture_file("go/out/incident.healthy.debug1.txt"))
    assert not [f for f in healthy.findings() if f.kind == "go-large-bucket"]


def _text_seeds():
    from conftest import real_dump  # noqa: F401 - the real dumps are optional
    seeds = [fixture_file(f"{OUT}/{n}").read_bytes()
             for n in ("stuck.debug2.txt", "stuck.panic.txt", "stuck.sigquit.txt", "stuck.later.debug2.txt",
                       "incident.healthy.debug2.txt")]
    from pathlib import Path as _P
    real = _P(__file__).resolve().parents[2] / "shared" / "real-dumps" / "go"
    seeds += [p.read_bytes() for p in sorted(real.glob("*.txt")) if "debug1" not in p.name] if real.is_dir() else []
    return seeds


TEXT_SEEDS = _text_seeds()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_property_every_text_dump_the_reader_accepts_is_detected_as_goroutines(data):
    """Whatever read_text accepts — after CRLF endings, megabytes of log before it, text after it,
    a cut at a line boundary — dumpx.detect names a goroutine format, so dumpx.open reads it too."""
    from dumpx.errors import DumpError
    from dumpx.goroutines.text import read_text
    raw = data.draw(st.sampled_from(TEXT_SEEDS))
    lines = raw.split(b"\n")
    cut = data.draw(st.integers(1, len(lines)))
    body = b"\n".join(lines[:cut]) + b"\n"
    prefix = b"".join(b"2026-11-28T10:00:00Z level=info msg=\"ok\" i=%d\n" % i
                      for i in range(data.draw(st.sampled_from([0, 10, 5000, 60000]))))
    body = prefix + body + data.draw(st.sampled_from([b"", b"exit status 2\n", b"\n\n"]))
    if data.draw(st.booleans()):
        body = body.replace(b"\n", b"\r\n")
    try:
        d = read_text(body)
    except DumpError:
        return
    det = dumpx.detect(dumpx.Source(body))
    assert det.format.startswith("go-"), (det.format, body[:200])
    assert dumpx.open(body).total == d.total


def test_goroutine_json_says_null_where_no_minutes_were_reported(capsys):
    """A wait range the dump does not state is null in the JSON, never -1 (the JSON contract)."""
    from dumpx.cli import main
    for name in ("stuck.debug2.txt", "stuck.debug1.txt"):
        main(["goroutines", str(fixture_file(f"go/out/{name}")), "--json"])
        b = json.loads(capsys.readouterr().out)["buckets"]
        assert all(r["wait_max_minutes"] is None or r["wait_max_minutes"] >= 0 for r in b)
        assert all(r["wait_min_minutes"] is None or r["wait_min_minutes"] >= 0 for r in b)
        assert any(r["wait_max_minutes"] is None for r in b)   # these fixtures report no minutes (construction)


def test_up_to_fifty_stuck_sets_are_each_a_finding_and_nothing_is_summed(tmp_path):
    """The look-alike of the capped list: 40 stuck sets (of 10 goroutines each, by construction) are
    40 go-stuck-set findings and no go-stuck-sets-unlisted; their package's absent-producer reading is
    still one finding that counts the other 39 buckets."""
    blocks = [_block(2 + k * 10 + j, "chan receive", func=f"main.wait{k}") for k in range(40) for j in range(10)]
    p = tmp_path / "s40.txt"
    p.write_bytes(_dump(blocks))
    fs = dumpx.open(p).findings()
    assert len(fs.of_kind("go-stuck-set")) == 40 and not fs.of_kind("go-stuck-sets-unlisted")
    (absent,) = fs.of_kind("go-absent-producer")
    ev = {e.label: e.value for e in absent.evidence}
    assert ev["other stuck buckets of package main read the same way"] == 39 and ev["goroutines in all of them"] == 400


def test_stuck_buckets_of_different_packages_are_not_summed_into_one_reading(tmp_path):
    """One absent-producer reading per package: waiters in main and in example.com/queue are two
    findings, each with its own count (by construction: 20 and 30 goroutines)."""
    blocks = [_block(2 + j, "chan receive", func="main.wait") for j in range(20)]
    blocks += [_block(100 + j, "chan receive", func="example.com/queue.(*Q).pop") for j in range(30)]
    p = tmp_path / "two.txt"
    p.write_bytes(_dump(blocks))
    got = {f.evidence[2].value: f.evidence[0].value for f in dumpx.open(p).findings().of_kind("go-absent-producer")}
    assert got == {"main.wait": 20, "example.com/queue.(*Q).pop": 30}


@pytest.mark.parametrize("before,after", [
    ("stuck.debug2.txt", "stuck.later.debug2.txt"), ("stuck.later.debug2.txt", "stuck.debug2.txt"),
    ("incident.died.debug1.txt", "incident.died.debug2.txt.gz"), ("incident.healthy.debug2.txt", "incident.died.debug2.txt.gz"),
    ("fleet.healthy-40.debug2.txt", "fleet.died-50.debug2.txt"), ("stuck.debug1.txt", "stuck.debug2.txt"),
    ("stuck.sigquit.txt", "stuck.panic.txt"), ("stuck.debug0.pb.gz", "stuck.later.debug2.txt"),
])
def test_diff_equals_the_plain_one_stack_object_per_bucket_reference(before, after):
    """The array diff (keys as byte strings of function ids shared by both dumps) gives the rows
    of tests/go_reference.reference_diff, the plain way, on every pair of formats of the fixtures."""
    from go_reference import reference_diff
    a, b = dumpx.open(fixture_file(f"{OUT}/{before}")), dumpx.open(fixture_file(f"{OUT}/{after}"))
    t = analysis.diff(a, b)
    got = sorted(zip(t["state"].tolist(), t["top_function"].tolist(), t["before"].tolist(),
                     t["after"].tolist(), t["growth"].tolist(), t["status"].tolist()))
    assert got == reference_diff(a, b) and len(got) > 0
    g = np.abs(t["growth"])
    assert (g[:-1] >= g[1:]).all()                        # the largest change first
    changed = int(((t["status"] == "vanished") | ((t["growth"] > 0) & (t["after"] >= analysis.STUCK_MIN))).sum())
    assert changed <= analysis.DIFF_LISTED                 # a handful of changes: each its own finding, no summary
    assert not [f for f in a.findings(diff=b) if f.kind == "go-diff-unlisted"]


def test_diff_of_many_changed_buckets_lists_fifty_and_sums_the_rest(tmp_path):
    """Thousands of buckets gone between two dumps (another build, a restart): the 50 largest
    changes as findings and one go-diff-unlisted with what the rest add up to, from the diff table."""
    def dump(prefix, n, name=None):
        blocks = []
        for k in range(n):
            blocks.append(f"goroutine {k + 1} [chan receive]:\nmain.{prefix}{k}(...)\n\t/app/main.go:{k + 1} +0x1\n"
                          f"created by main.main in goroutine 1\n\t/app/main.go:9 +0x2\n")
        p = tmp_path / f"{name or prefix}.txt"
        p.write_text("\n".join(blocks))
        return dumpx.open(p)
    a, b = dump("old", 3000), dump("new", 10)
    fs = a.findings(diff=b)
    listed = [f for f in fs if f.kind == "go-diff-vanished"]
    rest = [f for f in fs if f.kind == "go-diff-unlisted"]
    assert len(listed) == analysis.DIFF_LISTED and len(rest) == 1
    ev = {e.label: e.value for e in rest[0].evidence}
    assert ev["buckets gone, not listed"] == 3000 - analysis.DIFF_LISTED
    assert ev["goroutines in them"] == 3000 - analysis.DIFF_LISTED
    t = analysis.diff(a, b)
    assert int((t["status"] == "vanished").sum()) == 3000 and int((t["status"] == "appeared").sum()) == 10
    from go_reference import reference_diff
    assert sorted(zip(t["state"].tolist(), t["top_function"].tolist(), t["before"].tolist(), t["after"].tolist(),
                      t["growth"].tolist(), t["status"].tolist())) == reference_diff(a, b)
    # the look-alike: the same 3,000 buckets at a later moment, none gone or grown: quiet
    later = dump("old", 3000, name="old-later")
    assert not [f for f in a.findings(diff=later) if f.kind.startswith("go-diff")]
    assert (analysis.diff(a, later)["growth"] == 0).all()
