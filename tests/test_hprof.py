"""HPROF reader and histogram, against the JVM's own histograms, jmap, the construction of
the HeapShape fixture and a plain-Python reference walker."""

from __future__ import annotations

import gzip
import re
import struct
from pathlib import Path

import numpy as np
import pytest

import dumpx
from dumpx.errors import CorruptDumpError, TruncatedDumpError
from dumpx.hprof import HeapDump, diff_histograms
from dumpx.sources import Source

import hprof_reference
from conftest import fixture_file, real_dump

pytestmark = pytest.mark.filterwarnings("ignore::dumpx.errors.DumpWarning")

OUT = "hprof/out"
VARIANTS = {  # fixture -> (reference size, header) the JVM was started with (see *.jvm.txt)
    "heapshape-coops": (4, 12),
    "heapshape-nocoops": (8, 12),
    "heapshape-noccp": (8, 16),
}
# The JVM counts the 9 primitive-type mirrors (int.class, ...), which HPROF does not dump.
PRIMITIVE_MIRRORS = 9
# HotSpot's GC.class_histogram counts these; its heap dumper does not write them.
NOT_IN_HPROF = {"java.lang.invoke.MethodHandleNatives$CallSiteContext"}


def jvm_histogram(path: Path) -> dict[str, tuple[int, int]]:
    """Parse `jcmd GC.class_histogram` / `jmap -histo` output: name -> (count, bytes)."""
    out: dict[str, tuple[int, int]] = {}
    for line in path.read_text().splitlines():
        m = re.match(r"\s*(?:\d+:)?\s+(\d+)\s+(\d+)\s+(\S+)", line)
        if m:
            # HPROF writes hidden classes as Name+0x..., the JVM's histogram as Name/0x...
            out.setdefault(m.group(3).replace("/0x", "+0x"), (int(m.group(1)), int(m.group(2))))
    return out


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def variant(request):
    name = request.param
    dump = HeapDump(fixture_file(f"{OUT}/{name}.hprof.gz"))
    return name, dump, dump.histogram()


def test_layout_inferred_from_the_dump(variant):
    name, dump, hist = variant
    ref, hdr = VARIANTS[name]
    lay = hist.layout
    assert lay.inferred and (lay.ref_size, lay.header) == (ref, hdr)
    assert lay.fields == "modern"          # JDK 17 uses the JDK 15+ field layout
    assert lay.align == 8


@pytest.fixture(scope="module")
def oracle(variant):
    """The JVM's own histograms right before and after the dump, and dumpx's reading of it."""
    name, _, hist = variant
    return (jvm_histogram(fixture_file(f"{OUT}/{name}.histo-before.txt")),
            jvm_histogram(fixture_file(f"{OUT}/{name}.histo-after.txt")), hist.as_dict())


def test_counts_match_the_jvms_own_histogram(oracle):
    before, after, ours = oracle
    checked = 0
    for cls, (c0, _) in before.items():
        c1 = after.get(cls, (0, 0))[0]
        if cls in NOT_IN_HPROF:
            assert cls not in ours
            continue
        got = ours[cls]["count"]
        if cls == "java.lang.Class":
            # every mirror: the class dumps and the primitive types' mirrors the dumper writes
            # as java.lang.Class instances, in one row
            assert got == c0 == c1
            continue
        # the dump was taken between the two histograms
        assert min(c0, c1) <= got <= max(c0, c1), cls
        checked += 1
    assert checked > 250


def test_class_mirror_bytes_match_the_jvms_own_histogram(variant, oracle):
    """java.lang.Class: instance size with the VM-injected fields, plus each class's statics
    without the dumper's own entries. Exact to the byte without compressed oops; with them the
    JVM counts 13 words more over 711 mirrors (0.12 %), a difference not yet explained."""
    name, _, _ = variant
    before, after, ours = oracle
    want, got = before["java.lang.Class"][1], ours["java.lang.Class"]["shallow_bytes"]
    assert after["java.lang.Class"][1] == want
    if name == "heapshape-coops":
        assert 0 <= want - got <= want * 0.002
    else:
        assert got == want


def test_hidden_classes_counted_and_named_as_the_jvm_does():
    """Lambdas, string concatenation and a defined hidden class (fixtures/hprof/Hidden.java):
    every java.lang.Class mirror counted, hidden classes spelled as in the dump (+0x)."""
    d = HeapDump(fixture_file(f"{OUT}/hidden-coops.hprof.gz"))
    jvm = jvm_histogram(fixture_file(f"{OUT}/hidden-coops.histo-before.txt"))
    ours = d.histogram().as_dict()
    assert ours["java.lang.Class"]["count"] == jvm["java.lang.Class"][0] == 1120
    assert 0 <= jvm["java.lang.Class"][1] - ours["java.lang.Class"]["shallow_bytes"] <= 200
    hidden = [c for c in jvm if "+0x" in c]
    assert sum(c.startswith("Lambdas$$Lambda$") for c in hidden) == 200      # one per call site
    assert "Hidden$Probe" in {c.split("+0x")[0] for c in hidden}              # defineHiddenClass
    assert all(ours[c]["count"] == jvm[c][0] for c in hidden)


def test_bytes_match_the_jvms_own_histogram(oracle):
    before, after, ours = oracle
    exact = 0
    for cls, (c0, b0) in before.items():
        if cls in NOT_IN_HPROF or cls == "java.lang.Class":
            continue
        if after.get(cls) == (c0, b0) and ours[cls]["count"] == c0:
            assert ours[cls]["shallow_bytes"] == b0, cls      # stable class: exact bytes
            exact += 1
        elif not cls.startswith("["):
            assert ours[cls]["shallow_bytes"] // ours[cls]["count"] == b0 // c0, cls
    assert exact > 250


def test_heapshape_truth_by_construction(variant):
    name, dump, hist = variant
    row = hist.row("HeapShape$CacheEntry")
    assert row["count"] == 20000
    for i in range(8):
        assert hist.row(f"HeapShape$P{i}")["count"] == 100 + i
    assert hist.row("HeapShape$Upload")["count"] == 1
    assert hist.row("HeapShape$Node")["count"] == 7
    assert hist.row("[LHeapShape$P1;")["count"] == 20
    big = hist.largest.head(1).rows()[0]
    assert big["class_name"] == "[B" and big["length"] == 8 << 20
    df = hist.to_pandas()
    assert int(df.loc[df["class_name"] == "HeapShape$CacheEntry", "count"].iloc[0]) == 20000
    fp = {r["class_name"]: r["reading"] for r in hist.footprint(5).rows()}
    assert fp["[B"] == "one big object"
    assert fp["HeapShape$CacheEntry"] == "many small objects"


def test_findings_name_the_big_array_with_its_id(variant):
    name, dump, hist = variant
    fs = dump.findings()
    big = [f for f in fs if f.kind == "hprof-one-big-object" and f.evidence[0].value == "[B"]
    assert big
    ids = [e.value for e in big[0].evidence if e.label == "largest object id"]
    assert ids == [int(hist.largest["object_id"][0])]
    assert any(f.kind == "hprof-many-small" and f.evidence[0].value == "HeapShape$CacheEntry" for f in fs)


def test_diff_of_two_dumps_of_the_same_jvm_shows_the_growth():
    a = HeapDump(fixture_file(f"{OUT}/heapshape-coops.hprof.gz")).histogram()
    b = HeapDump(fixture_file(f"{OUT}/heapshape-coops-grown.hprof.gz")).histogram()
    d = {r["class_name"]: r for r in diff_histograms(a, b).rows()}
    assert d["HeapShape$CacheEntry"]["count_growth"] == 20000
    assert d["HeapShape$CacheEntry"]["bytes_growth"] == 20000 * 32
    assert d["HeapShape$Upload"]["count_growth"] == 0


# ---------------------------------------------------------------- real dumps and jmap

JMAP = [("sun_jdk6_18_x64.hprof", "histogram_sun_jdk6_18_x64.txt"),
        ("sun_jdk6_30_x64_compressedOops.hprof", "sun_jdk6_30_x64_compressedOops.notes.txt")]


@pytest.mark.parametrize("dump,histo", JMAP)
def test_instance_sizes_equal_jmap_per_instance(dump, histo):
    hist = HeapDump(real_dump(f"hprof/{dump}")).histogram()
    assert hist.layout.inferred and hist.layout.fields == "classic"
    j = jvm_histogram(real_dump(f"hprof/{histo}"))
    ours = hist.as_dict()
    n = 0
    for cls, (c, b) in j.items():
        if cls.startswith(("[", "<")) or cls == "java.lang.Class" or cls not in ours:
            continue
        assert ours[cls]["shallow_bytes"] // ours[cls]["count"] == b // c, cls
        n += 1
    assert n > 100


def test_compressed_oops_jdk6_arrays_equal_jmap():
    hist = HeapDump(real_dump("hprof/sun_jdk6_30_x64_compressedOops.hprof")).histogram()
    j = jvm_histogram(real_dump("hprof/sun_jdk6_30_x64_compressedOops.notes.txt"))
    assert (hist.layout.ref_size, hist.layout.header) == (4, 12)
    for cls in ("[C", "[B", "[I", "[Ljava.lang.Object;"):
        r = hist.row(cls)
        assert (r["count"], r["shallow_bytes"]) == j[cls], cls


def test_32bit_dump_layout():
    hist = HeapDump(real_dump("hprof/sun_jdk6_32bit.hprof")).histogram()
    assert hist.layout.inferred and hist.layout.header == 8 and hist.layout.word == 4


ALL_REAL = ["sun_jdk6_18_x64.hprof", "sun_jdk6_32bit.hprof", "oracle_jdk8_05_x64.hprof",
            "openjdk_jdk11_04_x64.hprof.gz", "sun_jdk6_30_x64_compressedOops.hprof",
            "sun_jdk6_31_hprofagent_compressedOops.hprof"]


def _reference_of(path: Path, snapshot=0):
    with Source(path) as s:
        data = s.view().read(0, s.view().size)
    return data, hprof_reference.walk(data, snapshot)


@pytest.mark.parametrize("name", ALL_REAL)
def test_native_scanner_equals_reference_walker(name):
    path = real_dump(f"hprof/{name}")
    _, ref = _reference_of(path)
    dump = HeapDump(path)
    s = dump.scan
    assert s.complete and not s.problems
    c = s.raw["classes"]
    ids = c["id"].astype(np.uint64).tolist() if ref["id_size"] == 8 else c["id"].tolist()
    got_inst = {i: n for i, n in zip(ids, c["instances"].tolist()) if n}
    assert got_inst == dict(ref["instances"])
    got_oa = {i: n for i, n in zip(ids, c["objarrays"].tolist()) if n}
    assert got_oa == dict(ref["objarray_count"])
    got_oae = {i: n for i, n in zip(ids, c["objarray_elems"].tolist()) if n}
    assert got_oae == {k: v for k, v in ref["objarray_elems"].items() if v}
    assert {t: int(s.raw["primarray_count"][t]) for t in ref["primarray_count"]} == dict(ref["primarray_count"])
    assert {t: int(s.raw["primarray_elems"][t]) for t in ref["primarray_elems"]} == dict(ref["primarray_elems"])
    assert int(s.raw["snapshots"]) == ref["snapshots"]


def test_fixture_scanner_equals_reference_walker():
    path = fixture_file(f"{OUT}/heapshape-noccp.hprof.gz")
    _, ref = _reference_of(path)
    c = HeapDump(path).scan.raw["classes"]
    got = {i: n for i, n in zip(c["id"].astype(np.uint64).tolist(), c["instances"].tolist()) if n}
    assert got == dict(ref["instances"])


def test_several_heap_dumps_in_one_file():
    path = real_dump("hprof/sun_jdk6_31_hprofagent_compressedOops.hprof")
    _, ref0 = _reference_of(path, 0)
    _, ref1 = _reference_of(path, 1)
    assert ref0["snapshots"] == 2
    d0, d1 = HeapDump(path), HeapDump(path, snapshot=1)
    assert any("2 heap dumps" in n for n in d0.scan.notes)
    assert int(d0.scan.raw["n_instances"]) == sum(ref0["instances"].values())
    assert int(d1.scan.raw["n_instances"]) == sum(ref1["instances"].values())
    assert HeapDump(path, snapshot=2).scan.problems


def test_dumpx_open_returns_a_heap_dump():
    d = dumpx.open(real_dump("hprof/openjdk_jdk11_04_x64.hprof.gz"))
    assert isinstance(d, HeapDump) and d.header.version == "1.0.2" and d.header.id_size == 8


# ---------------------------------------------------------------- damaged dumps

@pytest.fixture(scope="module")
def jdk8():
    path = real_dump("hprof/oracle_jdk8_05_x64.hprof")
    data = path.read_bytes()
    full = HeapDump(data).histogram().as_dict()
    return data, full


def _records(data: bytes):
    nul = data.index(b"\x00")
    pos = nul + 13
    while pos + 9 <= len(data):
        tag = data[pos]
        (length,) = struct.unpack_from(">I", data, pos + 5)
        yield pos, tag, length
        pos += 9 + length


def test_zero_length_heap_record_from_a_dying_jvm(jdk8):
    data, full = jdk8
    heap = [p for p, t, _ in _records(data) if t == 0x0C]
    assert len(heap) == 1                     # this dump is one HEAP DUMP record
    bad = bytearray(data)
    bad[heap[0] + 5:heap[0] + 9] = b"\x00\x00\x00\x00"
    d = HeapDump(bytes(bad))
    assert any("length 0" in n for n in d.scan.notes) and not d.scan.complete
    assert d.histogram().as_dict() == full


def test_u4_length_that_wrapped_past_4_gib(tmp_path, jdk8):
    """A single HEAP DUMP record of 4 GiB + x whose u4 length says x: read it whole."""
    data, full = jdk8
    (heap_pos, _, heap_len), = [(p, t, l) for p, t, l in _records(data) if t == 0x0C]
    head, body, tail = data[:heap_pos], data[heap_pos + 9:heap_pos + 9 + heap_len], data[heap_pos + 9 + heap_len:]
    n = (1 << 32) // 8 + 1000               # a long[] of just over 4 GiB
    arr_hdr = bytes([0x23]) + (0xDEAD0000).to_bytes(8, "big") + (0).to_bytes(4, "big") + n.to_bytes(4, "big") + bytes([11])
    true_len = len(body) + len(arr_hdr) + n * 8
    p = tmp_path / "wrapped.hprof"
    # the huge array first, then the real sub-records (their order does not matter)
    with open(p, "wb") as f:
        f.write(head)
        f.write(bytes([0x0C]) + b"\x00\x00\x00\x00" + (true_len % (1 << 32)).to_bytes(4, "big"))
        f.write(arr_hdr)
        f.seek(n * 8, 1)                    # sparse: 4 GiB of zeros cost no disk
        f.write(body)
        f.write(tail)
    d = HeapDump(p)
    assert d.scan.complete, d.scan.problems
    assert d.scan.raw["length_wraps"] == 1
    hist = d.histogram().as_dict()
    assert hist["[J"]["count"] == full.get("[J", {"count": 0})["count"] + 1
    for cls, row in full.items():
        if cls != "[J":
            assert hist[cls] == row, cls


def test_truncated_anywhere_gives_partial_results_and_says_so(jdk8):
    data, full = jdk8
    full_total = sum(r["count"] for r in full.values())
    rng = np.random.default_rng(7)
    cuts = sorted(set(rng.integers(31, len(data), 60).tolist()) | {31, 40, len(data) - 1})
    for cut in cuts:
        d = HeapDump(data[:cut])
        s = d.scan
        assert not s.complete
        assert any(isinstance(p, TruncatedDumpError) and p.offset is not None for p in s.problems), cut
        h = d.histogram().as_dict()
        assert sum(r["count"] for r in h.values() if r) <= full_total
        for cls, r in h.items():
            if cls != "java.lang.Class" and cls in full:
                assert r["count"] <= full[cls]["count"], (cut, cls)


def test_truncated_gzip_dump(tmp_path):
    raw = gzip.decompress(real_dump("hprof/openjdk_jdk11_04_x64.hprof.gz").read_bytes())
    packed = gzip.compress(raw, compresslevel=1)
    d = HeapDump(packed[: len(packed) // 2])
    assert not d.scan.complete
    assert any(isinstance(p, TruncatedDumpError) for p in d.scan.problems)
    assert 0 < d.scan.raw["n_instances"] < HeapDump(raw).scan.raw["n_instances"]


def test_unknown_sub_record_tag_stops_with_offset_and_keeps_what_was_read(jdk8):
    data, full = jdk8
    (heap_pos, _, _), = [(p, t, l) for p, t, l in _records(data) if t == 0x0C]
    _, ref = _reference_of_bytes(data)
    # find an INSTANCE DUMP near the middle and break its tag
    pos = _nth_sub_record(data, heap_pos, 0x21, 3000)
    bad = bytearray(data)
    bad[pos] = 0x77
    d = HeapDump(bytes(bad))
    errs = [p for p in d.scan.problems if isinstance(p, CorruptDumpError)]
    assert errs and errs[0].offset == pos and "0x77" in str(errs[0])
    assert 0 < d.scan.raw["n_instances"] < sum(ref["instances"].values())


def test_unknown_top_level_record_is_skipped_and_reported(jdk8):
    data, full = jdk8
    nul = data.index(b"\x00")
    rec = bytes([0x77]) + b"\x00" * 4 + (5).to_bytes(4, "big") + b"hello"
    bad = data[: nul + 13] + rec + data[nul + 13:]
    d = HeapDump(bad)
    assert d.scan.complete
    assert any("0x77" in n and str(nul + 13) in n for n in d.scan.notes)
    assert d.histogram().as_dict() == full


def test_instance_whose_class_was_never_dumped(jdk8):
    data, full = jdk8
    (heap_pos, _, _), = [(p, t, l) for p, t, l in _records(data) if t == 0x0C]
    d0 = HeapDump(data)
    names = d0.scan.class_names()
    c = d0.scan.raw["classes"]
    i = int(np.flatnonzero(names == "java.lang.String")[0])
    off = int(d0.scan.dump_column("dump_offset", i))
    bad = bytearray(data)
    assert bad[off] == 0x20
    bad[off + 1:off + 9] = (0x0BADC1A55).to_bytes(8, "big")
    d = HeapDump(bytes(bad))
    fs = d.findings()
    miss = [f for f in fs if f.kind == "hprof-class-missing"]
    assert miss and any(e.label == "instances" and e.value == full["java.lang.String"]["count"]
                        for e in miss[0].evidence)


def _reference_of_bytes(data):
    return data, hprof_reference.walk(data)


def _nth_sub_record(data, heap_pos, want, nth):
    """Offset of the nth sub-record with tag ``want`` (walked with the reference's rules)."""
    ids = 8
    p = heap_pos + 9
    seen = 0
    sizes = hprof_reference.SIZES
    while True:
        t = data[p]
        if t == want:
            seen += 1
            if seen == nth:
                return p
        q = p + 1
        if t in hprof_reference.ROOT_LEN:
            q += hprof_reference.ROOT_LEN[t] * ids
        elif t in (0x02, 0x03, 0x08):
            q += ids + 8
        elif t in (0x04, 0x06):
            q += ids + 4
        elif t == 0x20:
            q += 7 * ids + 8
            (n,) = struct.unpack_from(">H", data, q); q += 2
            for _ in range(n):
                ty = data[q + 2]; q += 3 + (ids if ty == 2 else sizes[ty])
            (n,) = struct.unpack_from(">H", data, q); q += 2
            for _ in range(n):
                ty = data[q + ids]; q += ids + 1 + (ids if ty == 2 else sizes[ty])
            (n,) = struct.unpack_from(">H", data, q); q += 2 + n * (ids + 1)
        elif t == 0x21:
            (n,) = struct.unpack_from(">I", data, q + 2 * ids + 4); q += 2 * ids + 8 + n
        elif t == 0x22:
            (n,) = struct.unpack_from(">I", data, q + ids + 4); q += 2 * ids + 8 + n * ids
        elif t == 0x23:
            (n,) = struct.unpack_from(">I", data, q + ids + 4); q += ids + 9 + n * sizes[data[q + ids + 8]]
        p = q


# ---------------------------------------------------------------- provenance

def test_provenance_reads_jvm_version_and_command_from_system_properties():
    d = HeapDump(fixture_file(f"{OUT}/heapshape-coops.hprof.gz"))
    p = d.provenance()
    jvm_txt = fixture_file(f"{OUT}/heapshape-coops.jvm.txt").read_text()
    version = re.search(r"java (\S+)", jvm_txt).group(1)    # the JVM's -XshowSettings:properties
    assert p["java_version"] == version
    assert p["command"] == "HeapShape 20000"                # how make.sh started it
    assert p["layout"].startswith("64-bit, compressed oops") and p["complete"] is True


@pytest.mark.parametrize("name,version", [("oracle_jdk8_05_x64.hprof", "1.8.0_05"),
                                          ("openjdk_jdk11_04_x64.hprof.gz", "11.0.4")])
def test_provenance_of_real_dumps_names_their_jdk(name, version):
    from dumpx.hprof.objects import system_properties
    props = system_properties(HeapDump(real_dump(f"hprof/{name}")))
    assert props["java.version"] == version          # as SOURCES.md and the file name say
    assert props["sun.java.command"] == "org.eclipse.mat.tests.CreateCollectionDump"


def test_system_properties_of_a_damaged_dump_are_partial_not_an_exception(jdk8):
    from dumpx.hprof.objects import system_properties
    data, _ = jdk8
    for cut in (len(data) // 4, len(data) // 2, len(data) - 100):
        props = system_properties(HeapDump(data[:cut]))
        assert isinstance(props, dict)


def test_class_names_of_some_classes_equal_those_of_all(jdk8):
    data, _ = jdk8
    s = HeapDump(data).scan
    idx = np.array([5, 0, 17, 5], dtype=np.int64)
    part = s.class_names(idx).tolist()
    assert part == s.class_names()[idx].tolist() and all(part)
    # the CLASS DUMP columns are kept per dumped class and read through dump_row
    c, cd = s.raw["classes"], s.raw["class_dumps"]
    assert len(cd["class"]) == int(c["dumped"].sum()) == s.raw["n_classdumps"]
    assert (c["dump_row"][cd["class"]] == np.arange(len(cd["class"]))).all()


@pytest.mark.parametrize("name,snapshot", [("oracle_jdk8_05_x64.hprof", 0), ("sun_jdk6_32bit.hprof", 0),
                                           ("openjdk_jdk11_04_x64.hprof.gz", 0),
                                           ("sun_jdk6_31_hprofagent_compressedOops.hprof", 0),
                                           ("sun_jdk6_31_hprofagent_compressedOops.hprof", 1)])
def test_block_index_fetch_equals_a_full_pass(name, snapshot):
    """Objects read through the scan's block index are the records a whole pass copies out:
    ids from every block's ends, the largest objects, the first objects, and ids that are no
    object; the second heap dump of a file does not leak into the first's blocks."""
    from dumpx.hprof.objects import _fetch_blocks
    from dumpx.hprof.reader import scan
    d = HeapDump(real_dump(f"hprof/{name}"), snapshot=snapshot)
    raw = d.scan.raw
    blocks = raw["blocks"]
    assert len(blocks) and (np.diff(blocks[:, 0]) > 0).all()
    ids = set(blocks[:, 3].view(np.uint64).tolist()) | set(blocks[:, 4].view(np.uint64).tolist())
    ids |= set(raw["top"][:, 0].view(np.uint64).tolist()) | set(raw["sample"][::97, 0].view(np.uint64).tolist())
    ids -= {0, 2**64 - 1}                     # a block that holds no object keeps its initial range
    ids |= {1, 2**63 + 5, int(max(ids)) + 8}
    want = sorted(ids)
    if d.source.compression:
        assert _fetch_blocks(d, want) is None        # no random access without decompressing it all
        d.source.view()                              # spilled to a mapped work file: now there is
    got = _fetch_blocks(d, want)
    full = scan(d.source, snapshot=snapshot, fetch=want).fetched
    assert got == full and len(full) > 50


@pytest.mark.parametrize("props,ref,header,word", [
    ({"sun.arch.data.model": "32", "os.arch": "x86", "java.version": "1.6.0_18"}, 4, 8, 4),
    ({"os.arch": "i386", "java.version": "1.7.0_80"}, 4, 8, 4),
    ({"sun.arch.data.model": "64", "os.arch": "amd64", "java.version": "1.6.0_18"}, 8, 16, 8),
    ({"sun.arch.data.model": "64", "os.arch": "amd64", "java.version": "1.6.0_23"}, 4, 12, 8),
    ({"sun.arch.data.model": "64", "os.arch": "amd64", "java.version": "1.8.0_05"}, 4, 12, 8),
    ({"os.arch": "aarch64", "java.version": "17.0.15"}, 4, 12, 8),
])
def test_layout_stated_by_the_system_properties(props, ref, header, word):
    """Where ids are not addresses, the JVM's own properties choose the layout: the data model,
    and compressed oops by default from 6u23 (HotSpot's release notes)."""
    from dumpx.hprof.layout import stated_layout
    lay, why = stated_layout(props, 8)
    assert (lay.ref_size, lay.header, lay.word) == (ref, header, word)
    assert props.get("java.version", "") in why


def test_stated_layout_needs_a_data_model_or_a_known_arch():
    from dumpx.hprof.layout import stated_layout
    assert stated_layout({"java.version": "17"}, 9) is None
    assert stated_layout({"os.arch": "mips"}, 9) is None


def test_agent_dump_layout_comes_from_its_system_properties():
    """The hprof agent's 4-byte ids are not addresses; its dump's properties say 64-bit 6u31."""
    d = HeapDump(real_dump("hprof/sun_jdk6_31_hprofagent_compressedOops.hprof"))
    lay = d.layout()
    assert not lay.inferred and (lay.ref_size, lay.header) == (4, 12)
    assert "sun.arch.data.model=64" in lay.evidence and "1.6.0_31" in lay.evidence


@pytest.mark.parametrize("name,snapshots", [("oracle_jdk8_05_x64", 1), ("sun_jdk6_18_x64", 1),
                                            ("sun_jdk6_30_x64_compressedOops", 1), ("sun_jdk6_32bit", 1),
                                            ("sun_jdk6_31_hprofagent_compressedOops", 2)])
def test_counts_equal_hprof_slurps_on_every_real_dump(name, snapshots):
    """hprof-slurp 0.10.0 (fixtures/hprof/oracles, made by slurp-oracles.sh) counts every class as
    dumpx does, in one spelling (its java.lang.Object[] is the dump's [Ljava.lang.Object;, also in
    the hprof agent's own array names). It counts all heap dumps of a file together, and only the
    java.lang.Class *instances* (the primitive mirrors), not the class dumps: the JVM's histogram
    counts both, as dumpx does."""
    import json
    from dumpx.hprof import class_name
    oracle = json.loads(fixture_file(f"hprof/oracles/{name}.slurp.json").read_text())
    theirs: dict[str, int] = {}
    for n, count, _largest, _bytes in oracle["classes"]:
        theirs[class_name(n)] = theirs.get(class_name(n), 0) + count
    ours: dict[str, int] = {}
    mirrors = 0
    for snap in range(snapshots):
        d = HeapDump(real_dump(f"hprof/{name}.hprof"), snapshot=snap)
        for k, v in d.histogram().as_dict().items():
            if k != "java.lang.Class":
                ours[k] = ours.get(k, 0) + v["count"]
        c = d.scan.raw["classes"]
        mirrors += int(c["instances"][d.scan.class_names() == "java.lang.Class"].sum())
    if mirrors:
        ours["java.lang.Class"] = mirrors
    diff = {k: (ours.get(k), theirs.get(k)) for k in set(ours) | set(theirs) if ours.get(k) != theirs.get(k)}
    assert not diff and len(theirs) > 100


def test_jvm_histogram_read_and_compared():
    """The JVM's own GC.class_histogram of the fixture, read in the dump's spelling and set beside
    the dump's: every class whose count did not move around the dump agrees exactly."""
    from dumpx.hprof import compare_with_jvm, read_class_histogram
    before = read_class_histogram(fixture_file(f"{OUT}/heapshape-coops.histo-before.txt").read_text())
    after = read_class_histogram(fixture_file(f"{OUT}/heapshape-coops.histo-after.txt").read_text())
    assert "java.lang.Class" in before["class_name"].tolist()
    assert "[Ljava.lang.Object;" in before["class_name"].tolist()
    d = HeapDump(fixture_file(f"{OUT}/heapshape-coops.hprof.gz"))
    cmp = compare_with_jvm(d.histogram(), before)
    stable = set(n for n, c in zip(before["class_name"].tolist(), before["count"].tolist())
                 if dict(zip(after["class_name"].tolist(), after["count"].tolist())).get(n) == c)
    rows = {r["class_name"]: r for r in cmp.rows()}
    exact = [n for n in stable if n in rows and rows[n]["count_diff"] == 0 and rows[n]["bytes_diff"] == 0]
    assert len(exact) > 250
    assert rows["java.lang.Class"]["count_diff"] == 0 and -200 <= rows["java.lang.Class"]["bytes_diff"] <= 0
