"""Object graph, dominators and retained sizes on the HeapShape fixture: the numbers follow
from how the fixture was built (fixtures/hprof/HeapShape.java) and the JVM's layout."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from dumpx.hprof import HeapDump
from dumpx.hprof.graph import build_graph
from dumpx.hprof.objects import Fields

from conftest import fixture_file

pytestmark = pytest.mark.filterwarnings("ignore::dumpx.errors.DumpWarning")
N = 20000


@pytest.fixture(scope="module")
def graph():
    return build_graph(HeapDump(fixture_file("hprof/out/heapshape-coops.hprof.gz")))


def test_registry_retains_exactly_what_the_construction_says(graph):
    fields = Fields(graph.dump)
    registry = fields.static("HeapShape", "REGISTRY")
    v = graph.vertex(registry)
    assert graph.class_name(v) == "java.util.HashMap"
    ap = graph.accumulation_point(v)
    assert graph.class_name(ap) == "[Ljava.util.HashMap$Node;" and int(graph.idom[ap]) == v
    # per entry: HashMap$Node 32 + CacheEntry 32 + byte[24] 40 (compressed oops layout), and a
    # Long 24 for every key outside Long's cache of -128..127
    table = int(graph.shallow[ap])
    assert int(graph.retained[ap]) == table + N * (32 + 32 + 40) + (N - 128) * 24
    assert int(graph.retained[v]) == 48 + int(graph.retained[ap])


def test_the_biggest_object_is_held_by_the_upload_and_is_not_the_accumulation(graph):
    upload = graph.vertex(Fields(graph.dump).static("HeapShape", "IN_FLIGHT"))
    assert int(graph.retained[upload]) == 16 + (16 + (8 << 20))
    big = graph.accumulation_point(upload)
    assert graph.class_name(big) == "[B" and int(graph.shallow[big]) == 16 + (8 << 20)


def test_dominators_equal_networkx_on_the_real_graph(graph):
    n = graph.root
    g = nx.DiGraph()
    g.add_nodes_from(range(n + 1))
    src = np.repeat(np.arange(n + 1), np.diff(graph.indptr))
    g.add_edges_from(zip(src.tolist(), graph.indices.tolist()))
    ref = nx.immediate_dominators(g, n)
    ours = {v: int(d) for v, d in enumerate(graph.idom.tolist()) if d >= 0}
    ref[n] = n
    assert ours == ref


def test_unreachable_objects_are_counted_apart(graph):
    un = graph.unreachable()
    assert (graph.retained[un] == 0).all()
    reach = graph.idom[:-1] >= 0
    assert int(graph.retained[graph.root]) == int(graph.shallow[:-1][reach].sum())


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from conftest import real_dump  # noqa: E402
from dumpx.errors import DumpError  # noqa: E402

_AGENT: dict = {}


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cut=st.floats(0.05, 1), flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 7)), max_size=4))
def test_damaged_dumps_build_a_graph_or_raise_dump_errors(cut, flips):
    data = bytearray(_AGENT.setdefault("d", real_dump("hprof/sun_jdk6_31_hprofagent_compressedOops.hprof").read_bytes()))
    for pos, bit in flips:
        data[pos % len(data)] ^= 1 << bit
    try:
        g = build_graph(HeapDump(bytes(data[: int(len(data) * cut)])))
        g.top_retained(5)
    except DumpError:
        pass


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cut=st.floats(0.05, 1), flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 7)), max_size=4))
def test_damaged_dumps_under_a_memory_budget_read_as_in_memory(cut, flips):
    """A cut or bit-flipped real dump built in work files: the same error, or the same graph and
    the same problems, as the in-memory build."""
    import dumpx.hprof.workspace as W
    data = bytearray(_AGENT.setdefault("d", real_dump("hprof/sun_jdk6_31_hprofagent_compressedOops.hprof").read_bytes()))
    for pos, bit in flips:
        data[pos % len(data)] ^= 1 << bit
    data = bytes(data[: int(len(data) * cut)])

    def build(memory):
        try:
            d = HeapDump(data, index=False)
            g = build_graph(d, memory=memory)
        except DumpError as e:
            return ("error", type(e).__name__, str(e)), None
        return ("graph", [str(p) for p in d.scan.problems]), g
    saved = W.SPILL_FROM
    W.SPILL_FROM = 0
    try:
        (a, ga), (b, gb) = build(None), build(1)
    finally:
        W.SPILL_FROM = saved
    assert a == b
    if ga is not None:
        assert gb.space.spill or len(ga.ids) == 0
        for k in ("ids", "cls", "shallow", "indptr", "indices", "idom", "retained"):
            assert np.array_equal(getattr(ga, k), getattr(gb, k)), k


def test_retained_by_class_and_paths(graph):
    by = {r["class_name"]: r for r in graph.retained_by_class().rows()}
    # every CacheEntry holds its own byte[24]: 20000 x (32 + 40)
    assert by["HeapShape$CacheEntry"]["retained_bytes"] == N * (32 + 40)
    assert by["HeapShape$CacheEntry"]["objects"] == N
    table = graph.accumulation_point(graph.vertex(Fields(graph.dump).static("HeapShape", "REGISTRY")))
    path = graph.path_to(table)
    assert [s["via"] for s in path[-2:]] == ["static REGISTRY", "table"]
    assert path[-3]["class_name"] == "class HeapShape"
    # shortest: as long as networkx's shortest path from the virtual root
    n = graph.root
    g = nx.DiGraph()
    src = np.repeat(np.arange(n + 1), np.diff(graph.indptr))
    g.add_edges_from(zip(src.tolist(), graph.indices.tolist()))
    assert len(path) == nx.shortest_path_length(g, n, table)


def test_findings_name_the_accumulation_and_the_red_herring(graph):
    from dumpx.hprof.graph import graph_findings
    fs = graph_findings(graph)
    acc = [f for f in fs.of_kind("hprof-accumulation") if str(f.severity) == "warning"]
    assert len(acc) == 1
    ev = {e.label: e.value for e in acc[0].evidence}
    assert ev["class"] == "[Ljava.util.HashMap$Node;" and ev["dominated objects"] == N
    assert "static REGISTRY" in ev["path from GC roots"]
    v = fs.of_kind("hprof-biggest-vs-retainer")
    ev = {e.label: e.value for e in v[0].evidence}
    assert ev["biggest object bytes"] == 16 + (8 << 20) and ev["accumulation retained bytes"] == int(
        graph.retained[graph.vertex(ev["accumulation point id"])])
    assert "HeapShape$Upload" in ev["held by"]


def test_spilled_graph_equals_the_in_memory_one(graph, tmp_path):
    g2 = build_graph(HeapDump(fixture_file("hprof/out/heapshape-coops.hprof.gz")), workdir=tmp_path)
    assert mapped(g2.retained) and mapped(g2.idom) and not any(tmp_path.iterdir())   # unlinked mapped files
    assert np.array_equal(g2.retained, graph.retained) and np.array_equal(g2.idom, graph.idom)
    assert g2.top_retained(3).rows() == graph.top_retained(3).rows()


def test_unreachable_histogram_adds_up(graph):
    h = graph.unreachable_histogram()
    un = graph.unreachable()
    assert int(h["objects"].sum()) == len(un) and int(h["shallow_bytes"].sum()) == int(graph.shallow[un].sum())


def _weak_heap(with_chain: bool) -> bytes:
    """A target T held by a WeakReference W (itself held by a rooted holder) and, with
    ``with_chain``, also by a rooted strong chain one step longer."""
    import struct
    from hprofbuilder import Heap
    h = Heap()
    obj = h.klass("java.lang.Object")
    ref = h.klass("java.lang.ref.Reference", obj, (("referent", 2), ("queue", 2)), 16)
    weak = h.klass("java.lang.ref.WeakReference", ref, (), 16)
    holder = h.klass("Holder", obj, (("a", 2),), 8)
    target = h.klass("Target", obj, (), 0)
    t = h.instance(target)
    w = h.instance(weak, struct.pack(">QQ", t, 0))
    h.root(h.instance(holder, struct.pack(">Q", w)))
    if with_chain:
        c3 = h.instance(holder, struct.pack(">Q", t))
        c2 = h.instance(holder, struct.pack(">Q", c3))
        h.root(h.instance(holder, struct.pack(">Q", c2)))
    return h.bytes()


@pytest.mark.parametrize("with_chain", [True, False])
def test_paths_can_leave_out_weak_references(with_chain, tmp_path):
    """MAT's "exclude weak references": the shortest path goes through the WeakReference's
    referent; without it, through the strong chain, or nowhere when there is none."""
    from dumpx.hprof.graph import ObjectId
    p = tmp_path / "weak.hprof"
    p.write_bytes(_weak_heap(with_chain))
    d = HeapDump(p, index=False)
    g = d.graph()
    t = int(g.instances("Target")["object_id"][0])
    path = g.path_to(ObjectId(t))
    assert [s["via"] for s in path][-1] == "referent" and len(path) == 3
    strong = g.path_to(ObjectId(t), exclude_weak=True)
    if with_chain:
        assert [s["class_name"] for s in strong] == ["Holder"] * 3 + ["Target"]
        assert [s["via"] for s in strong][1:] == ["a"] * 3
        assert strong[0]["via"] == "GC root: JNI global"
    else:
        assert strong == []
    assert int(g.weak_edges().sum()) == 1


def test_instances_referrers_and_referents_by_construction(graph):
    """HeapShape: 20,000 CacheEntry; P3 extends P1 (101 + 103 with subclasses); each entry is
    referenced by exactly one HashMap$Node, through its ``value`` field; the registry map's
    table is its referent through ``table``."""
    from dumpx.hprof.graph import ObjectId
    entries = graph.instances("HeapShape$CacheEntry")
    assert len(entries) == 20000 and (entries["shallow_bytes"] == 32).all()
    assert (np.diff(entries["retained_bytes"]) <= 0).all()             # largest retained first
    assert len(graph.instances("HeapShape$P1")) == 101
    assert len(graph.instances("HeapShape$P1", subclasses=True)) == 101 + 103
    e = int(entries["vertex"][0])
    refs = graph.referrers(e)
    assert refs["class_name"].tolist() == ["java.util.HashMap$Node"] and refs["via"].tolist() == ["value"]
    assert graph.referrers(ObjectId(int(entries["object_id"][0])))["object_id"].tolist() == refs["object_id"].tolist()
    reg = Fields(graph.dump).static("HeapShape", "REGISTRY")
    out = graph.referents(hex(reg))
    assert "table" in out["via"].tolist()
    from dumpx.errors import DumpError
    with pytest.raises(DumpError):
        graph.referents(ObjectId(0x1234))


def test_graph_build_reports_its_progress_and_steps():
    """dumpx.open(path, progress=...) is told how far the graph pass is and each step's name;
    the windowed pass gives the same graph as before (the fixture's by construction)."""
    import dumpx
    calls, phases = [], []

    class P:
        def __call__(self, done, total):
            calls.append((done, total))

        def phase(self, label):
            phases.append(label)

    d = dumpx.open(fixture_file("hprof/out/heapshape-coops.hprof.gz"), progress=P())
    d.index = False
    g = d.graph()
    assert phases[0].startswith("object graph") and phases[-1].startswith("dominators of")
    graph_calls = [c for c in calls if c[1] is not None]
    assert graph_calls and graph_calls[-1][0] == graph_calls[-1][1]          # ends at the end
    assert len(g.instances("HeapShape$CacheEntry")) == 20000


def test_graph_pass_in_small_windows_equals_one_whole_feed(graph, monkeypatch):
    """Windows far smaller than the records (the 8 MiB byte[] included) are doubled until a record
    fits: the graph is the same, vertex for vertex."""
    import numpy as np
    import dumpx.hprof.graph as G
    monkeypatch.setattr(G, "GRAPH_WINDOW", 4096)
    small = G.build_graph(HeapDump(fixture_file("hprof/out/heapshape-coops.hprof.gz"), index=False))
    assert np.array_equal(small.ids, graph.ids) and np.array_equal(small.indices, graph.indices)
    assert np.array_equal(small.retained, graph.retained)


def test_references_to_ids_not_in_the_dump_are_dropped_and_counted(tmp_path):
    """By construction: a holder with two reference fields, one to a real object and one to an id
    no record defines; the in-place id-to-vertex mapping keeps the first, counts the second, and
    the CSR stays whole."""
    import struct
    from hprofbuilder import Heap
    h = Heap()
    obj = h.klass("java.lang.Object")
    holder = h.klass("Holder", obj, (("a", 2), ("b", 2)), 16)
    target = h.klass("Target", obj, (), 0)
    t = h.instance(target)
    u = h.instance(holder, struct.pack(">QQ", t, 0xDEAD0000))
    h.root(u)
    p = tmp_path / "dangling.hprof"
    p.write_bytes(h.bytes())
    g = HeapDump(p, index=False).graph()
    v = g.vertex(u)
    assert g.dangling == 1
    assert g.referents(v)["class_name"].tolist() == ["class Holder", "Target"]   # its class, then a
    assert int(g.indptr[-1]) == len(g.indices)


def test_a_dump_without_objects_has_no_graph_findings_but_says_why(tmp_path):
    """An empty heap dump record: the histogram readings stand and one notice says the graph could
    not be built, with the offset; a dump with objects never says so (its look-alike stays quiet)."""
    from hprofbuilder import Heap
    p = tmp_path / "empty-heap.hprof"
    p.write_bytes(Heap().bytes())
    fs = HeapDump(p, index=False).findings()
    (n,) = fs.of_kind("hprof-graph-unavailable")
    assert "no objects" in str(n.evidence[0].value) and n.evidence[1].value == 31   # just after the header
    full = HeapDump(fixture_file("hprof/out/heapshape-coops.hprof.gz"), index=False).findings()
    assert not full.of_kind("hprof-graph-unavailable") and full.of_kind("hprof-accumulation")


def test_int64_vertex_ids_give_the_same_graph_and_answers(graph, monkeypatch, tmp_path):
    """Dumps of 2**31 objects or more get int64 vertex ids (where MAT stops); forced on the
    fixture, every array and every query answer equals the int32 build's."""
    import dumpx.hprof.graph as G
    monkeypatch.setattr(G, "VERTEX32_LIMIT", 0)
    wide = G.build_graph(HeapDump(fixture_file("hprof/out/heapshape-coops.hprof.gz"), index=False))
    assert wide.idom.dtype == wide.indices.dtype == np.int64 and graph.idom.dtype == np.int32
    for k in ("ids", "cls", "shallow", "indptr", "indices", "idom", "retained"):
        assert np.array_equal(getattr(wide, k), getattr(graph, k)), k
    for k, a in wide.arrays().items():
        assert np.array_equal(a, graph.arrays()[k]), k
    assert wide.retained_by_class().rows() == graph.retained_by_class().rows()
    reg = Fields(graph.dump).static("HeapShape", "REGISTRY")
    assert wide.vertex(reg) == graph.vertex(reg)
    table = graph.accumulation_point(graph.vertex(reg))
    assert wide.path_to(table) == graph.path_to(table)
    assert wide.path_to(table, exclude_weak=True) == graph.path_to(table, exclude_weak=True)
    assert wide.instances("HeapShape$CacheEntry").rows() == graph.instances("HeapShape$CacheEntry").rows()
    assert wide.referrers(table).rows() == graph.referrers(table).rows()
    from dumpx.hprof.graph import graph_findings
    assert graph_findings(wide).to_dicts() == graph_findings(graph).to_dicts()


def test_a_build_under_a_memory_budget_keeps_its_arrays_in_work_files(graph, monkeypatch, tmp_path):
    """``memory=`` below what the in-memory build needs: the pass hands its objects and
    references to work files after every window, the sort, the edges and the dominator kernel's
    arrays are mapped files in the work directory (unlinked: nothing is left there), and every
    array and answer equals the in-memory build's, in int32 and in int64 vertex ids."""
    import dumpx.hprof.graph as G
    import dumpx.hprof.workspace as W
    monkeypatch.setattr(W, "SPILL_FROM", 0)
    monkeypatch.setattr(G, "GRAPH_WINDOW", 1 << 16)        # many windows, many drains
    for limit in (2**31 - 1, 0):
        monkeypatch.setattr(G, "VERTEX32_LIMIT", limit)
        d = HeapDump(fixture_file("hprof/out/heapshape-coops.hprof.gz"), index=False)
        g = G.build_graph(d, workdir=tmp_path, memory=1 << 20)
        assert g.space.spill and g.space.files >= 12 and not any(tmp_path.iterdir())
        assert mapped(g.indices) and mapped(g.idom) and mapped(g.retained) and mapped(g.ids)
        for k in ("ids", "cls", "shallow", "indptr", "indices", "idom", "retained"):
            assert np.array_equal(getattr(g, k), getattr(graph, k)), k
        for k, a in g.arrays().items():
            assert np.array_equal(a, graph.arrays()[k]), k
        assert mapped(g.children()[1]) and mapped(g.bfs_parents())
        from dumpx.hprof.graph import graph_findings
        assert graph_findings(g).to_dicts() == graph_findings(graph).to_dicts()
    # a budget the in-memory build fits in changes nothing
    g = G.build_graph(HeapDump(fixture_file("hprof/out/heapshape-coops.hprof.gz"), index=False),
                      memory=8 << 30)
    assert not g.space.spill and not mapped(g.indices) and not mapped(g.idom)


def mapped(a) -> bool:
    """Whether an array's memory is a mapped file (through any views of it)."""
    while a is not None:
        if isinstance(a, np.memmap):
            return True
        a = getattr(a, "base", None)
    return False


def test_queries_on_a_graph_built_under_a_budget_keep_their_arrays_in_work_files(graph, monkeypatch):
    """The queries that need per-object arrays of their own (retained size by class, the sorted
    id index behind object-id lookups, referrers' fields) use the build's work files too, and
    answer as the in-memory graph does."""
    import dumpx.hprof.graph as G
    import dumpx.hprof.workspace as W
    monkeypatch.setattr(W, "SPILL_FROM", 0)
    g = G.build_graph(HeapDump(fixture_file("hprof/out/heapshape-coops.hprof.gz"), index=False), memory=1)
    made = g.space.files
    assert g.retained_by_class().rows() == graph.retained_by_class().rows()
    assert g.space.files > made + 3                  # group, stack, cursor, seen (and the children)
    reg = Fields(graph.dump).static("HeapShape", "REGISTRY")
    assert g.vertices([reg]).tolist() == graph.vertices([reg]).tolist()
    assert mapped(g._order) and mapped(g._sorted)
    e = int(graph.instances("HeapShape$CacheEntry")["vertex"][0])
    assert g.fields(e).rows() == graph.fields(e).rows()
    assert g.path_to(e, exclude_weak=True) == graph.path_to(e, exclude_weak=True)


def test_work_space_arrays_and_columns(tmp_path):
    """Work files by construction: filled as asked, columns joined in order with zero room after
    them, empty arrays without a file, and nothing left in the directory."""
    from dumpx.hprof.workspace import Column, WorkSpace
    w = WorkSpace(spill=True, directory=tmp_path, spill_from=0)
    assert len(w.array(0, np.int64)) == 0 and w.files == 0
    a = w.array(1000, np.int32, -1)
    assert mapped(a) and (a == -1).all() and (w.array(10, np.int64, 0) == 0).all()
    assert np.array_equal(w.copy(np.arange(7), np.int16), np.arange(7)) and w.files == 3
    c = Column(w, np.uint64)
    for part in (np.arange(3), np.arange(10, 15), np.zeros(0)):
        c.append(part)
    col = c.array(extra=2)
    assert col.tolist() == [0, 1, 2, 10, 11, 12, 13, 14, 0, 0] and mapped(col)
    assert w.bytes == 1000 * 4 + 10 * 8 + 7 * 2 + 10 * 8 and not any(tmp_path.iterdir())
    small = WorkSpace(spill=True, directory=tmp_path)         # below SPILL_FROM: in memory
    assert not mapped(small.array(100, np.int32))


def test_dumpx_open_passes_a_memory_budget_to_the_heap_dump(monkeypatch):
    import dumpx
    import dumpx.hprof.workspace as W
    monkeypatch.setattr(W, "SPILL_FROM", 0)
    monkeypatch.setenv("DUMPX_CACHE_DIR", "off")
    d = dumpx.open(fixture_file("hprof/out/heapshape-coops.hprof.gz"), memory="1M")
    assert d.memory == "1M" and d.graph().space.spill
    with pytest.raises(TypeError):
        dumpx.open(fixture_file("go/out/stuck.debug2.txt"), memory="1M")


def test_a_full_disk_is_an_error_naming_the_work_directory_not_a_crash(monkeypatch, tmp_path):
    """Work files reserve their blocks when made: no room is an OSError naming the directory (the
    command says it and exits 2), never a SIGBUS on the first write to a mapped page."""
    import errno
    import os

    import dumpx.hprof.workspace as W
    from dumpx.cli import main

    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(W, "SPILL_FROM", 0)
    monkeypatch.setattr(os, "posix_fallocate", full)
    with pytest.raises(OSError, match=str(tmp_path)):
        W.WorkSpace(spill=True, directory=tmp_path).array(1000, np.int32)
    monkeypatch.setenv("DUMPX_TMPDIR", str(tmp_path))
    p = str(fixture_file("hprof/out/heapshape-coops.hprof.gz"))
    assert main(["hprof", "dominators", "--quiet", "--no-index", "--memory", "1M", p]) == 2


def test_work_files_in_memory_are_warned_about(monkeypatch, capsys):
    """A work directory on tmpfs (/tmp is one on many systems) would spend the memory the work
    files are to save: the library warns, the command says so; a budget the build fits in does not."""
    import warnings

    import dumpx.hprof.workspace as W
    from dumpx.cli import main
    from dumpx.errors import DumpWarning
    if W.filesystem_type("/dev/shm") not in W.MEMORY_FILESYSTEMS:
        pytest.skip("no tmpfs at /dev/shm here")
    with pytest.warns(DumpWarning, match="in memory"):
        assert W.WorkSpace.for_budget(1 << 20, 10**6, "/dev/shm").spill
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not W.WorkSpace.for_budget(1 << 30, 10**6, "/dev/shm").spill
    monkeypatch.setenv("DUMPX_TMPDIR", "/dev/shm")
    p = str(fixture_file("hprof/out/heapshape-coops.hprof.gz"))
    assert main(["hprof", "dominators", "--quiet", "--no-index", "--memory", "2M", p]) == 0
    assert "/dev/shm, which is in memory (tmpfs)" in capsys.readouterr().err
    assert main(["hprof", "dominators", "--quiet", "--no-index", "--memory", "1G", p]) == 0
    assert "in memory" not in capsys.readouterr().err


@pytest.mark.parametrize("name", ["openjdk_jdk11_04_x64.hprof.gz", "oracle_jdk8_05_x64.hprof", "sun_jdk6_18_x64.hprof",
                                  "sun_jdk6_32bit.hprof", "sun_jdk6_31_hprofagent_compressedOops.hprof"])
def test_real_dumps_give_the_same_graph_in_int64_ids_and_in_work_files(name, monkeypatch):
    """On other projects' real dumps (JDK 6 to 11, 32- and 64-bit, HotSpot and the hprof agent): the
    graph forced to int64 vertex ids and built in work files equals the ordinary build, array by array."""
    import dumpx.hprof.graph as G
    import dumpx.hprof.workspace as W
    path = real_dump(f"hprof/{name}")
    plain = G.build_graph(HeapDump(path, index=False))
    monkeypatch.setattr(G, "VERTEX32_LIMIT", 0)
    monkeypatch.setattr(W, "SPILL_FROM", 0)
    wide = G.build_graph(HeapDump(path, index=False), memory=1)
    assert wide.space.spill and wide.idom.dtype == np.int64 and plain.idom.dtype == np.int32
    for k in ("ids", "cls", "shallow", "indptr", "indices", "idom", "retained"):
        assert np.array_equal(getattr(wide, k), getattr(plain, k)), k
    assert wide.top_retained(10).rows() == plain.top_retained(10).rows()
