"""Go goroutine dumps: the fixture's truth, the three formats agreeing, gostackparse's golden
readings of real tracebacks, the native scanner against a plain reference, and damage."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dumpx
from dumpx.errors import DumpError
from dumpx.goroutines import GoroutineDump, diff, stuck_set
from dumpx.goroutines.text import read_text

import go_reference
from conftest import fixture_file, real_dump

OUT = "go/out"
# fixtures/go/stuck/main.go: function -> (state as debug=2 names it, count)
TRUTH = {"main.consumer": ("chan receive", 50), "main.locker": ("sync.Mutex.Lock", 20),
         "main.selector": ("select", 10), "main.waiter": ("sync.WaitGroup.Wait", 5),
         "main.pinned": ("chan receive", 1), "main.holder": ("sleep", 1)}


def by_top(d: GoroutineDump) -> Counter:
    c: Counter = Counter()
    for r in d.buckets(exact=False).rows():
        c[(r["top_function"], r["state"])] += r["count"]
    return c


@pytest.mark.parametrize("name", ["stuck.debug2.txt", "stuck.panic.txt", "stuck.sigquit.txt"])
def test_text_forms_carry_the_constructed_sets(name):
    d = dumpx.open(fixture_file(f"{OUT}/{name}"))
    c = by_top(d)
    for func, (state, n) in TRUTH.items():
        assert c[(func, state)] == n, func
    locked = d.goroutines.where(d.goroutines["locked"])
    assert [d.stacks[int(s)].top() for s in locked["stack"].tolist()] == ["main.pinned"]


def test_three_formats_of_one_moment_agree():
    d2 = dumpx.open(fixture_file(f"{OUT}/stuck.debug2.txt"))
    d1 = dumpx.open(fixture_file(f"{OUT}/stuck.debug1.txt"))
    d0 = dumpx.open(fixture_file(f"{OUT}/stuck.debug0.pb.gz"))
    assert d2.total == d1.total == d0.total == d1.total_declared == 88

    def per_func(d):
        c: Counter = Counter()
        for r in d.buckets(exact=False).rows():
            c[r["top_function"]] += r["count"]
        return c
    c2, c1, c0 = per_func(d2), per_func(d1), per_func(d0)
    for func, (state, n) in TRUTH.items():
        assert c2[func] == c1[func] == c0[func] == n, func
    # the protobuf keeps runtime frames, so its inferred states match debug=2's real ones
    p = {k[0]: k[1] for k in by_top(d0)}
    for func, (state, n) in TRUTH.items():
        assert p[func] == state, func
    assert d0.state_inferred and d1.state_inferred and not d2.state_inferred
    for d in (d0, d1):
        labels = [(lab, cnt) for lab, cnt in zip(d.group_labels, d.group_count.tolist()) if lab]
        assert labels == [({"role": "consumer"}, 50)]


def test_absent_producer_and_expect():
    d = dumpx.open(fixture_file(f"{OUT}/stuck.debug2.txt"))
    fs = d.findings(expect=["main.producer", "main.holder"])
    absent = fs.of_kind("go-expected-absent")
    assert [f.evidence[0].value for f in absent] == ["main.producer"]
    assert [f.evidence[1].value for f in fs.of_kind("go-expected-present")] == [1]
    ap = [f for f in fs.of_kind("go-absent-producer") if "main.consumer" in f.title]
    assert ap and ap[0].evidence[0].value == 50
    assert {e.label: e.value for e in ap[0].evidence}["rule 1: goroutines of package main that could send"] == 0
    stuck = {r["top_function"]: r["count"] for r in stuck_set(d).rows()}
    assert stuck == {"main.consumer": 50, "main.locker": 20, "main.selector": 10}


def test_diff_shows_the_released_lockers_gone():
    a = dumpx.open(fixture_file(f"{OUT}/stuck.debug2.txt"))
    b = dumpx.open(fixture_file(f"{OUT}/stuck.later.debug2.txt"))
    t = {(r["top_function"], r["state"]): r for r in diff(a, b).rows()}
    assert t[("main.locker", "sync.Mutex.Lock")]["status"] == "vanished"
    assert t[("main.locker", "sync.Mutex.Lock")]["before"] == 20
    assert t[("main.holder", "sleep")]["status"] == "vanished"
    assert t[("main.consumer", "chan receive")]["growth"] == 0
    kinds = Counter(f.kind for f in a.findings(diff=b))
    assert kinds["go-diff-vanished"] >= 2


# ---------------------------------------------------------------- real dumps

GOLDEN = ["go121_createdby", "waitsince", "frameselided", "lockedm"]


@pytest.mark.parametrize("name", GOLDEN)
def test_matches_gostackparse_golden(name):
    gold = json.loads(real_dump(f"go/{name}.golden.json").read_text())["Goroutines"]
    d = read_text(real_dump(f"go/{name}.txt"))
    g = d.goroutines
    assert g["id"].tolist() == [x["ID"] for x in gold]
    for i, x in enumerate(gold):
        stack = d.stacks[int(g["stack"][i])]
        assert d.states[int(g["state"][i])] == x["State"]
        assert max(int(g["wait_minutes"][i]), 0) == x["Wait"] // 60_000_000_000   # golden: nanoseconds
        assert bool(g["locked"][i]) == x["LockedToThread"]
        assert [(f.func, f.file, f.line) for f in stack.frames] == \
            [(f["Func"], f["File"], f["Line"]) for f in x["Stack"]]
        assert stack.elided == x["FramesElided"]
        cb = x["CreatedBy"]
        assert (stack.created_by and (stack.created_by.func, stack.created_by.file, stack.created_by.line)) == \
            (cb and (cb["Func"], cb["File"], cb["Line"]))


@pytest.mark.parametrize("run", ["1", "2"])
def test_go115_formats_agree(run):
    names = {"debug2": f"go/{run}.pprof.lookup.goroutine.debug2.txt",
             "debug1": f"go/{run}.pprof.lookup.goroutine.debug1.txt",
             "proto": f"go/{run}.pprof.lookup.goroutine.debug0.pb.gz"}
    ds = {k: dumpx.open(real_dump(v)) for k, v in names.items()}
    totals = {k: d.total for k, d in ds.items()}
    assert len(set(totals.values())) == 1, totals

    def user(d):
        """Counts per user stack, leaving out the goroutine that was writing this very profile."""
        c: Counter = Counter()
        for g in range(len(d.group_count)):
            st = d.stacks[int(d.group_stack[g])]
            if any(f.startswith("runtime/pprof.") for f in st.functions()):
                continue
            c[st.user_functions()[-3:]] += int(d.group_count[g])
        return c
    assert user(ds["debug1"]) == user(ds["proto"])


@pytest.mark.parametrize("name", ["go121_createdby.txt", "waitsince.txt", "frameselided.txt", "lockedm.txt",
                                  "1.runtime.stack.txt", "2.runtime.stack.txt",
                                  "1.net.http.pprof.goroutine.debug2.txt"])
def test_native_scanner_equals_reference(name):
    p = real_dump(f"go/{name}")
    _native_vs_reference(p.read_bytes())


@pytest.mark.parametrize("name", ["stuck.debug2.txt", "stuck.panic.txt", "stuck.sigquit.txt", "stuck.later.debug2.txt"])
def test_native_scanner_equals_reference_on_fixtures(name):
    _native_vs_reference(fixture_file(f"{OUT}/{name}").read_bytes())


def _native_vs_reference(data: bytes):
    ref = go_reference.walk(data.decode("utf-8", "backslashreplace"))
    d = read_text(data)
    g = d.goroutines
    assert g["id"].tolist() == [x["id"] for x in ref]
    assert [d.states[i] for i in g["state"].tolist()] == [x["state"] for x in ref]
    assert g["wait_minutes"].tolist() == [x["minutes"] for x in ref]
    assert g["locked"].tolist() == [x["locked"] for x in ref]
    assert [c if h else None for c, h in zip(g["creator"].tolist(), g["has_creator"].tolist())] == \
        [x["creator"] for x in ref]
    assert g["frames"].tolist() == [x["frames"] for x in ref]
    assert g["elided"].tolist() == [x["elided"] for x in ref]
    # each goroutine's stack, as the native kernel parsed and interned it (dumpx._native.gostacks),
    # equals the plain-Python parse of its own lines (text.parse_stack's rules, arguments dropped)
    from dumpx.goroutines.text import _parse_loose
    assert [d.stacks[s] for s in g["stack"].tolist()] == [_parse_loose("\n".join(x["lines"]), {}) for x in ref]


# ---------------------------------------------------------------- damage

def test_cut_mid_line_is_reported_truncated():
    data = fixture_file(f"{OUT}/stuck.debug2.txt").read_bytes()
    d = read_text(data[: len(data) // 2 + 7])
    assert any("middle of a line" in str(p) for p in d.problems)
    assert d.findings().of_kind("go-truncated")


def test_exactly_64_mib_is_the_runtime_cap(tmp_path):
    block = fixture_file(f"{OUT}/stuck.debug2.txt").read_bytes().split(b"\n\n")[2] + b"\n\n"
    p = tmp_path / "cap.txt"
    with open(p, "wb") as f:
        n = 0
        while n + len(block) <= 64 << 20:
            f.write(block)
            n += len(block)
        f.write(block[: (64 << 20) - n])
    d = read_text(p)
    assert any("64 MiB" in str(x) for x in d.problems)


def test_no_goroutine_header_is_a_dump_error():
    with pytest.raises(DumpError):
        read_text(b"hello\nworld\n")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=3000))
def test_arbitrary_bytes_after_a_header(body):
    try:
        d = read_text(b"goroutine 1 [running]:\n" + body)
        d.findings()
        d.buckets()
    except DumpError:
        pass


@settings(max_examples=100, deadline=None)
@given(cut=st.integers(min_value=0), flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 7)), max_size=4))
def test_bit_flips_and_cuts_of_the_fixture(cut, flips):
    data = bytearray(fixture_file(f"{OUT}/stuck.sigquit.txt").read_bytes())
    for pos, bit in flips:
        data[pos % len(data)] ^= 1 << bit
    data = bytes(data[: cut % (len(data) + 1)])
    try:
        d = read_text(data)
        _native_vs_reference(data)
        d.findings(expect=["main.producer"])
    except DumpError:
        pass


@settings(max_examples=60, deadline=None)
@given(cut=st.integers(min_value=0))
def test_damaged_protobuf_is_a_dump_error(cut):
    import gzip
    raw = gzip.decompress(fixture_file(f"{OUT}/stuck.debug0.pb.gz").read_bytes())
    try:
        from dumpx.goroutines import read_proto
        read_proto(raw[: cut % (len(raw) + 1)]).findings()
    except DumpError:
        pass


def test_header_and_frame_forms_of_newer_and_older_go():
    """Each form as Go's traceback.go prints it (constructed; no toolchain here makes all of them)."""
    text = (
        "goroutine 1 gp=0xc000002380 m=0 mp=0x5a1b20 [chan receive (scan), 3 minutes, locked to thread]:\n"
        "main.consumer(0x1?, {0xc0000a0000, 0x2, 0x2}, ...)\n"
        "\tC:/Users/dev/app/main.go:12 +0x1d fp=0xc0000fff00 sp=0xc0000ffee8 pc=0x4a1b2d\n"
        "main.helper(...)\n"
        "\tC:/Users/dev/app/helper.go:5\n"
        "runtime.cgocall(0x4b0000, 0xc000012345)\n"
        "\t/usr/local/go/src/runtime/cgocall.go:167 +0x4b\n"
        "...2 frames elided...\n"
        "created by main.main in goroutine 7\n"
        "\tC:/Users/dev/app/main.go:30 +0x25\n"
        "\n"
        "goroutine 2 [chan receive, 9 minutes, synctest group 1]:\n"
        "main.consumer(0x2?, {0xc0000b0000, 0x1, 0x1}, ...)\n"
        "\tC:/Users/dev/app/main.go:12 +0x1d\n"
        "main.helper(...)\n"
        "\tC:/Users/dev/app/helper.go:5\n"
        "runtime.cgocall(0x4b0000, 0xc000099999)\n"
        "\t/usr/local/go/src/runtime/cgocall.go:167 +0x4b\n"
        "...2 frames elided...\n"
        "created by main.main in goroutine 8\n"
        "\tC:/Users/dev/app/main.go:30 +0x25\n"
        "\n"
        "goroutine 3 [running]:\n"
        "\tgoroutine running on other thread; stack unavailable\n"
        "\n"
        "goroutine 4 [select]:\n"
        "main.loop()\n"
        "\t/src/loop.go:9 +0x10\n"
        "...additional frames elided...\n"
    ).encode()
    d = read_text(text)
    g = d.goroutines
    assert g["id"].tolist() == [1, 2, 3, 4]
    assert [d.states[i] for i in g["state"].tolist()] == ["chan receive", "chan receive", "running", "select"]
    assert g["wait_minutes"].tolist() == [3, 9, -1, -1]
    assert g["locked"].tolist() == [True, False, False, False]
    assert g["creator"].tolist() == [7, 8, 0, 0] and g["has_creator"].tolist() == [True, True, False, False]
    assert g["elided"].tolist() == [True, True, False, True]
    # 1 and 2 differ only in arguments, creator id, fp/sp/pc and "(scan)": one bucket
    b = {r["top_function"]: r for r in d.buckets().rows()}
    assert b["main.consumer"]["count"] == 2
    assert (b["main.consumer"]["wait_min_minutes"], b["main.consumer"]["wait_max_minutes"]) == (3, 9)
    assert len(d.buckets(exact=True)) == 4
    st = d.stacks[int(g["stack"][0])]
    assert [(f.func, f.file, f.line) for f in st.frames] == [
        ("main.consumer", "C:/Users/dev/app/main.go", 12), ("main.helper", "C:/Users/dev/app/helper.go", 5),
        ("runtime.cgocall", "/usr/local/go/src/runtime/cgocall.go", 167)]
    assert st.created_by.func == "main.main" and d.group_creators
    assert sorted(c for cs in d.group_creators for c in cs) == [7, 8]


def test_rows_off_keeps_groups_creators_and_locked_ids():
    p = fixture_file(f"{OUT}/stuck.debug2.txt")
    a, b = read_text(p, rows=True), read_text(p, rows=False)
    assert b.goroutines is None
    assert sorted(a.group_count.tolist()) == sorted(b.group_count.tolist())
    assert a.locked_ids == b.locked_ids and len(b.locked_ids) == 1
    assert {f.kind for f in a.findings()} == {f.kind for f in b.findings()}


_PIECES = ["main.f", "net/http.(*persistConn).readLoop", "gopkg.in/yaml.v2.(*d).u", "(", ")", "(0x1, {0x2})",
           "...", "\t", "\t/src/a.go:12", " +0x1f", ":", "7", "created by ", " in goroutine 9", "\r", " ",
           "goroutine running on other thread", "é", "v2.", ".", "/", "x"]


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(st.lists(st.sampled_from(_PIECES), max_size=6).map("".join), max_size=12))
def test_gostacks_kernel_equals_the_python_parse(lines):
    """The native stack parser and interner (dumpx._native.gostacks) against text._parse_loose, the
    plain-Python rules, on lines made of the pieces Go's tracebacks are made of (and a few they are
    not): same frames, files, lines, creator and elision; the same stack twice gets the same id;
    every function's package is idle.package's."""
    from dumpx._native.gostacks import Stacks
    from dumpx.goroutines.model import StackTable, package
    from dumpx.goroutines.text import _parse_loose
    lines = [ln.replace("\n", "") for ln in lines]
    block = "\n".join(lines).encode()
    s = Stacks(7)
    a, b = s.add(block), s.add(block)
    t = StackTable.from_native(s.results())
    want = _parse_loose(block.decode("utf-8", "backslashreplace"), {})
    assert a == b == 0 and t[a] == want
    assert [t.package_names[p] for p in t.func_package.tolist()] == [package(f) for f in t.func_names]
