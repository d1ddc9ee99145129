"""Crafted inputs from issue 10's campaign, each kept as a regression case: every one ends in a
DumpError (with the offset where there is one) or a partial result, never another exception."""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dumpx
from dumpx.errors import CorruptDumpError, DumpError
from dumpx.render import safe_text

from conftest import fixture_file
from corebuilder import CoreSpec, Load, build


def test_core_without_threads_is_a_dump_error_for_every_thread_command(tmp_path):
    from dumpx.elf import Core
    p = tmp_path / "nothreads.core"
    spec = CoreSpec(threads=[])
    spec.loads.append(Load(0x10000, bytes(0x1000), flags=6))
    p.write_bytes(build(spec))
    c = Core(p)
    assert c.threads == [] and c.backtraces() == []
    for call in (lambda: c.stack_words(0), lambda: c.unwinder().backtrace(0), lambda: c.stack_words(-1)):
        with pytest.raises(DumpError, match="thread .* does not exist"):
            call()


@pytest.mark.parametrize("count, where", [("99999999999999999999999", "header"), ("9223372036854775807", "bucket")])
def test_goroutine_counts_no_process_can_have_are_refused_before_arithmetic(count, where, tmp_path):
    """A debug=1 header or bucket count past 2^32: it used to overflow numpy (OverflowError) or
    wrap the sum to '-9,223,372,036,854,775,726 goroutines'."""
    lines = fixture_file("go/out/stuck.debug1.txt").read_text().splitlines()
    if where == "header":
        lines[0] = f"goroutine profile: total {count}"
        at = 0
    else:
        k = next(i for i, ln in enumerate(lines) if i and ln.split(" ", 1)[0].isdigit())
        at = sum(len(ln) + 1 for ln in lines[:k])
        lines[k] = count + " " + lines[k].split(" ", 1)[1]
    p = tmp_path / "d1.txt"
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(CorruptDumpError, match="not a goroutine count") as e:
        dumpx.open(p)
    assert e.value.offset == at


JSON_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=False),
                        st.text(max_size=20), st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


@settings(max_examples=150, deadline=None)
@given(field=st.sampled_from(["pid", "thread_id", "thread_name", "os_thread_id", "active", "owns_gil", "frames",
                              "f.name", "f.filename", "f.short_filename", "f.line", "f.locals", "f.is_entry"]),
       value=JSON_VALUES)
def test_pyspy_json_fields_of_the_wrong_type(field, value):
    """A py-spy JSON field of another JSON type (it raised TypeError for frames=3.5 and locals=3.5):
    the thread is still read and the wrong value is dropped, or the file is a DumpError."""
    from dumpx.pyspy.reader import parse_json
    doc = json.loads(fixture_file("pyspy/out/wedged/pyspy.json").read_text())
    target = doc[0]["frames"][0] if field.startswith("f.") else doc[0]
    target[field.removeprefix("f.")] = value
    try:
        d = parse_json(json.dumps(doc))
    except DumpError:
        return
    assert len(d.threads) == len(doc)
    t = d.threads[0]
    assert t.thread_id is None or isinstance(t.thread_id, int)
    assert all(isinstance(f.line, int) or f.line is None for f in t.frames)


def test_strings_from_a_dump_are_escaped_and_capped():
    evil = "\x1b]0;pwned\x07\x1b[2J\u202e" + "A" * (1 << 20)
    out = safe_text(evil)
    assert "\x1b" not in out and "\u202e" not in out and "\x07" not in out
    assert len(out) < 1100 and f"{len(evil):,} characters" in out
    assert safe_text(b"B" * (1 << 20)).endswith(f"[{1 << 20:,} bytes, {(1 << 20) - 1000:,} not shown]")


def test_cli_prints_a_crafted_pyspy_file_escaped_and_bounded(tmp_path):
    import subprocess
    import sys
    doc = json.loads(fixture_file("pyspy/out/wedged/pyspy.json").read_text())
    doc = copy.deepcopy(doc)
    doc[0]["pid"] = "\x1b]0;pwned\x07\x1b[2J"
    doc[0]["thread_name"] = "\x1b[31m" + "A" * (1 << 20)
    p = tmp_path / "pyspy.json"
    p.write_text(json.dumps(doc))
    r = subprocess.run([sys.executable, "-m", "dumpx", "pyspy", str(p)], capture_output=True)
    assert r.returncode == 0, r.stderr
    assert b"\x1b" not in r.stdout and len(r.stdout) < 64 << 10


# ----------------------------------------------------------------- HPROF class hierarchies

def _hprof(tmp_path, heap, name="crafted.hprof"):
    p = tmp_path / name
    p.write_bytes(heap.bytes())
    return p


def test_superclass_cycle_is_refused_naming_its_classes():
    """A -> B -> A: no JVM can write it (docs/hprof.md says it is refused; it used to be accepted)."""
    import crafted
    d = dumpx.open(crafted.cycle())
    with pytest.raises(CorruptDumpError, match=r"superclass cycle among 2 classes: evil\.A .*evil\.B"):
        d.histogram()


@pytest.mark.parametrize("depth, refused", [(1_000, False), (1_001, True)])
def test_absurd_class_depth_is_refused(depth, refused, tmp_path):
    """A chain of ``depth`` classes under java.lang.Object, one instance of the deepest. 1,000 levels
    are read (exact size: every field of the chain is in its data), 1,001 refused by name."""
    import warnings
    from hprofbuilder import Heap
    h = Heap()
    prev = h.klass("java.lang.Object")
    for i in range(depth):
        prev = h.klass(f"deep.C{i}", prev, (("v", 10),), 4)
    h.instance(prev, bytes(4 * depth))
    d = dumpx.open(_hprof(tmp_path, h))
    if refused:
        with pytest.raises(CorruptDumpError, match=rf"deep\.C{depth - 1} .* is 1,001 superclasses deep"):
            d.histogram()
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = d.histogram().table
    row = list(t["class_name"]).index(f"deep.C{depth - 1}")
    assert t["count"][row] == 1 and bool(t["size_exact"][row])


def test_mismatched_classes_grow_memory_linearly(tmp_path):
    """The 40,000-mismatched-classes shape (52 s before: a set rebuilt per class): the histogram's
    peak Python allocation at 4x the classes is at most ~4x, and every class is an estimate."""
    import tracemalloc
    import warnings
    peaks = []
    for n in (2_500, 10_000):
        import crafted
        p = tmp_path / f"m{n}.hprof"
        p.write_bytes(crafted.mismatched(n))
        d = dumpx.open(p)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tracemalloc.start()
            t = d.histogram().table
            peaks.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
        inst = [i for i, k in enumerate(t["class_name"]) if str(k).startswith("m.C")]
        assert len(inst) == n and not any(bool(t["size_exact"][i]) for i in inst)
    assert peaks[1] < 5 * peaks[0]


def test_pyspy_frame_line_is_parsed_in_linear_time():
    """The fuzzer's first find: one 645 KB line of repeated frames took 159 s in a regex with two
    lazy groups. The parser is now linear; checked by the work it does (characters scanned per
    call), not by a clock: the result for the repeated line equals the first frame's split."""
    from dumpx.pyspy.reader import _frame
    one = "    Thread._bootstrap_inner (threading.py:1045)"
    assert _frame(one) == ("Thread._bootstrap_inner", "threading.py", "1045")
    long = one + one[3:] * 20_000
    name, file, line = _frame(long)
    assert name == "Thread._bootstrap_inner" and line == "1045" and file.endswith("threading.py")
    assert _frame("    native_func (libc.so.6)") == ("native_func", "libc.so.6", None)
    assert _frame("     indented too far (x.py:1)") is None and _frame("    no location") is None


# ----------------------------------------------------------------- partial means partial

@pytest.mark.parametrize("rel", ["go/out/stuck.debug2.txt", "go/out/stuck.debug1.txt", "pyspy/out/wedged/pyspy.txt"])
def test_text_dumps_cut_mid_line_are_partial_and_say_so(rel):
    """Cut in the middle of a line (a copy interrupted, a capture killed): the partial result, a
    problem at the real end offset, and a TruncationWarning, as HPROF and cores already give."""
    import warnings
    from dumpx.errors import TruncatedDumpError, TruncationWarning
    raw = fixture_file(rel).read_bytes()
    with warnings.catch_warnings(record=True) as w:              # the whole file: quiet
        warnings.simplefilter("always")
        whole = dumpx.open(raw)
        assert not any("truncated" in f.kind for f in whole.findings())
    assert not any(issubclass(x.category, TruncationWarning) for x in w)
    cut = raw[: raw.index(b"\n", len(raw) // 2) + 6]
    assert not cut.endswith(b"\n")
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        d = dumpx.open(cut)
        problems = d.dump.problems if hasattr(d, "dump") else d.problems
        kinds = [f.kind for f in d.findings()]
    assert any(issubclass(x.category, TruncationWarning) for x in w)
    p = next(p for p in problems if isinstance(p, TruncatedDumpError))
    assert p.offset == len(cut)
    assert any("truncated" in k for k in kinds)


@pytest.mark.parametrize("packed", [False, True])
def test_hprof_error_offset_and_bytes_scanned_agree(packed):
    """An unknown sub-record tag 1,500 objects in: bytes_scanned is where the pass stopped, the
    error's offset (it said 31, the header's length, while the error was at 37,652)."""
    import gzip
    import warnings
    from hprofbuilder import Heap
    h = Heap()
    o = h.klass("java.lang.Object")
    for _ in range(2000):
        h.instance(o, b"")
    h.subs.insert(1500, b"\x77" + bytes(40))
    data = h.bytes()
    at = data.index(b"\x77" + bytes(40))          # the byte-exact place of the crafted tag
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = dumpx.open(gzip.compress(data) if packed else data).scan
    assert not s.complete and s.problems[0].offset == at == s.bytes_scanned


@pytest.mark.parametrize("where", ["segment", "eof"])
def test_an_array_whose_bytes_are_not_in_the_file_is_not_exact(where):
    """A 330-byte file claimed a 16 GiB long[] with size_exact true. The array is still counted (the
    record says it exists) but its size is the claim of its length field: not exact. Either the
    segment ends before the payload ('segment') or the file does ('eof')."""
    import warnings
    from hprofbuilder import Heap
    h = Heap()
    h.klass("java.lang.Object")
    h.prim_array(11, 4, bytes(32))                       # a whole long[4]
    if where == "segment":
        h.prim_array(11, 2**31 - 1, b"")
        data = h.bytes()
    else:
        h.prim_array(11, 1000, bytes(8000))
        data = h.bytes()
        data = data[: data.rindex(bytes(8000)) + 100]     # cut inside the second array's payload
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = dumpx.open(data)
        t = d.histogram().table
    row = list(t["class_name"]).index("[J")
    assert t["count"][row] == 2 and not bool(t["size_exact"][row])
    assert not d.scan.complete


def test_object_array_bytes_with_one_or_many_arrays_per_class():
    """Array classes with a single array keep its length residue without a counter row (a dump
    can name a million such classes); the bytes must equal the per-array sizes either way."""
    import warnings
    from hprofbuilder import Heap
    h = Heap()
    h.klass("java.lang.Object")
    one, many = 0x7000_0000, 0x7000_0010
    lens = {one: [3], many: [3, 5, 64, 0]}
    for cls, ns in lens.items():
        for n in ns:
            h.obj_array(cls, [0] * n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = dumpx.open(h.bytes())
        hist = d.histogram()
    t, lay = hist.table, hist.layout
    got = sorted(int(b) for k, b in zip(t["kind"], t["shallow_bytes"]) if k == "object-array")
    want = sorted(sum(int(lay.array_size(lay.ref_size, n)) for n in ns) for ns in lens.values())
    assert got == want


@pytest.mark.parametrize("shape", ["array classes", "goroutine buckets", "mismatched classes"])
def test_crafted_shapes_grow_memory_linearly(shape, tmp_path):
    """The same crafted shape at 1x, 4x and 16x: the peak of the Python allocations of reading it
    and making its findings grows no faster than the size (measured, not timed)."""
    import tracemalloc
    import warnings
    import crafted
    make = {"array classes": crafted.array_classes, "goroutine buckets": crafted.buckets,
            "mismatched classes": crafted.mismatched}[shape]
    base = 1_000
    peaks = []
    for k in (1, 4, 16):
        p = tmp_path / f"{k}.dump"
        p.write_bytes(make(base * k))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tracemalloc.start()
            d = dumpx.open(p)
            d.findings()
            peaks.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
            d.close() if hasattr(d, "close") else None
    assert peaks[1] <= 4 * 1.25 * peaks[0] and peaks[2] <= 16 * 1.25 * peaks[0], peaks
    assert peaks[2] > peaks[0]                           # the measurement sees the input at all
