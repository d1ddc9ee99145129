"""Class histogram (like ``jmap -histo``) from one pass over a heap dump, and what it says."""

from __future__ import annotations

import re

import numpy as np

from ..findings import Evidence, Finding, Findings, Severity
from ..render import human_bytes
from ..table import LazyColumn, Table
from .layout import ClassModel, Layout, align, class_model, instance_sizes
from .names import class_name
from .reader import ARRAY_CODES, ELEM_SIZE, ScanResult

KIND_INSTANCE, KIND_OBJARRAY, KIND_PRIMARRAY, KIND_CLASS = "instance", "object-array", "primitive-array", "class"
_PAD_MOD = 64
_CLASS_KEY, _PRIM_KEY = -1, -100         # row keys that are not a class index: java.lang.Class, -100-t


_KINDS = (KIND_INSTANCE, KIND_OBJARRAY, KIND_PRIMARRAY, KIND_CLASS)
_KIND_ARRAY = np.array(_KINDS, dtype=object)


def _kind_names(codes: np.ndarray) -> np.ndarray:
    return _KIND_ARRAY[codes]


class _RowNames:
    """Class names for histogram rows by key, decoded only for the rows shown."""

    def __init__(self, scan: ScanResult):
        self.scan = scan

    def __call__(self, keys: np.ndarray) -> np.ndarray:
        keys = np.asarray(keys, dtype=np.int64)
        out = np.empty(len(keys), dtype=object)
        cls = np.flatnonzero(keys >= 0)
        if len(cls):
            out[cls] = self.scan.class_names(keys[cls])
        for i in np.flatnonzero(keys < 0).tolist():
            k = int(keys[i])
            out[i] = "java.lang.Class" if k == _CLASS_KEY else "[" + ARRAY_CODES[_PRIM_KEY - k]
        return out


def _aligned_total(count: int, elems: int, mod: np.ndarray, base: int, es: int, al: int) -> int:
    """Sum of align(base + n*es, al) over arrays, from their count, element total and n mod 64."""
    r = np.arange(_PAD_MOD, dtype=np.int64)
    pad = (-(base + r * es)) % al
    return int(count * base + elems * es + int((mod * pad).sum()))


def _dumper_entries(scan: ScanResult, name_ids: np.ndarray) -> np.ndarray:
    """Which static-field entries of CLASS DUMPs are the dumper's own (names in angle brackets:
    ``<resolved_references>``, ``<init_lock>``), not static fields of the class."""
    if not len(name_ids):
        return np.zeros(0, bool)
    uniq, inv = np.unique(name_ids, return_inverse=True)
    sorted_ids, order = scan._utf8_index()
    pos = np.minimum(np.searchsorted(sorted_ids, uniq), max(len(sorted_ids) - 1, 0))
    hit = (sorted_ids[pos] == uniq) if len(sorted_ids) else np.zeros(len(uniq), bool)
    k = order[pos]
    blob = np.frombuffer(scan.raw["blob"], dtype=np.uint8)
    off, ln = scan.raw["utf8_off"][k], scan.raw["utf8_len"][k]
    first = np.where(hit & (ln > 0), blob[np.minimum(off, max(len(blob) - 1, 0))] if len(blob) else 0, 0)
    return (first == ord("<"))[inv]


def _field_bytes(model: ClassModel, id_size: int) -> np.ndarray:
    """HPROF instance-data length each class's instances must have (fields of the whole chain)."""
    sizes = {2: id_size, 4: 1, 5: 2, 6: 4, 7: 8, 8: 1, 9: 2, 10: 4, 11: 8}
    ft = model.field_types
    fs, fc = model.field_start, model.field_count           # per dump row
    lut = np.zeros(12, dtype=np.int64)
    for t, s in sizes.items():
        lut[t] = s
    csum = np.concatenate([[0], np.cumsum(lut[ft])]) if len(ft) else np.zeros(1, np.int64)
    own = csum[fs + fc] - csum[fs]
    total = np.zeros(model.n, dtype=np.int64)
    idx = np.array(model.dumped_order, dtype=np.int64)        # a class without a dump has no fields
    own_l, sup = own[model.dump_row[idx]].tolist(), model.super_idx[idx].tolist()
    done: dict[int, int] = {}
    for i, o, s in zip(idx.tolist(), own_l, sup):
        done[i] = o + (done.get(s, 0) if s >= 0 else 0)
    if done:
        total[np.fromiter(done.keys(), np.int64, len(done))] = np.fromiter(done.values(), np.int64, len(done))
    return total


class Histogram:
    """Per-class instance counts and shallow bytes, with the single largest objects.

    ``table`` has one row per class (instances, object arrays, primitive arrays and the
    ``java.lang.Class`` mirrors): ``class_name``, ``kind``, ``count``, ``shallow_bytes``,
    ``largest_bytes``, ``size_exact``.
    """

    def __init__(self, table: Table, largest: Table, layout: Layout, scan: ScanResult,
                 problems: list[Finding]):
        self.table = table
        self.largest = largest
        self.layout = layout
        self.scan = scan
        self.problems = problems

    def __len__(self) -> int:
        return len(self.table)

    @property
    def total_count(self) -> int:
        return int(self.table["count"].sum())

    @property
    def total_bytes(self) -> int:
        return int(self.table["shallow_bytes"].sum())

    def top_by_bytes(self, n: int = 20) -> Table:
        return self.table.sort_by("shallow_bytes").head(n)

    def top_by_count(self, n: int = 20) -> Table:
        return self.table.sort_by("count").head(n)

    def row(self, class_name: str) -> dict | None:
        hit = np.flatnonzero(self.table["class_name"] == class_name)
        return self[int(hit[0])] if len(hit) else None

    def __getitem__(self, i: int) -> dict:
        return {k: (v[i].item() if hasattr(v[i], "item") else v[i]) for k, v in
                ((c, self.table[c]) for c in self.table.columns)}

    def to_pandas(self):
        return self.table.to_pandas()

    def as_dict(self) -> dict[str, dict]:
        """class name -> {count, shallow_bytes} (names are unique per kind; first wins)."""
        out: dict[str, dict] = {}
        for r in self.table.rows():
            out.setdefault(r["class_name"], {"count": r["count"], "shallow_bytes": r["shallow_bytes"]})
        return out

    def footprint(self, n: int = 10) -> Table:
        """The one-big-vs-many-small reading for the top ``n`` classes by bytes."""
        top = self.top_by_bytes(n)
        share = np.where(top["shallow_bytes"] > 0, top["largest_bytes"] / np.maximum(top["shallow_bytes"], 1), 0.0)
        reading = np.where(share >= 0.5, "one big object",
                           np.where(top["count"] >= 1000, "many small objects", "a few objects"))
        avg = top["shallow_bytes"] // np.maximum(top["count"], 1)
        return Table({"class_name": top["class_name"], "count": top["count"],
                      "shallow_bytes": top["shallow_bytes"], "average_bytes": avg,
                      "largest_bytes": top["largest_bytes"], "largest_share": np.round(share, 4),
                      "reading": reading}, title="footprint: one big object or many small ones?")

    def text(self, top: int = 20) -> str:
        return self.top_by_bytes(top).text()

    def _repr_html_(self) -> str:
        return self.top_by_bytes(50)._repr_html_()

    def diff(self, other: "Histogram") -> Table:
        """Growth by class from ``self`` (before) to ``other`` (after), largest growth first."""
        return diff_histograms(self, other)


def build_histogram(scan: ScanResult, layout: Layout) -> Histogram:
    raw = scan.raw
    c = raw["classes"]
    model = class_model(scan)
    inst_size = instance_sizes(model, layout)
    id_size = scan.header.id_size
    problems: list[Finding] = []

    rows_key, rows_kind, rows_count, rows_bytes, rows_largest, rows_exact = [], [], [], [], [], []
    # the last object counted before the dump broke off, when its payload is not in the file: its
    # size is what its length field claims, so its row is not exact
    short = tuple(raw["short_object"][:2]) if raw.get("short_object") else None

    icount = c["instances"]
    has_inst = np.flatnonzero(icount > 0)
    undumped = has_inst[~model.dumped[has_inst]]
    # per class with instances only (a dump can name a million classes that have none)
    ic, ib = icount[has_inst], c["instance_bytes"][has_inst]
    per_h = ib // np.maximum(ic, 1)
    mismatch = has_inst[model.dumped[has_inst] & ((per_h * ic != ib)
                                                  | (per_h != _field_bytes(model, id_size)[has_inst]))]
    per_inst_data = dict(zip(has_inst.tolist(), per_h.tolist()))
    chain_ok = np.zeros(model.n, bool)              # every class up the chain dumped: walked once, supers first
    idx = np.array(model.dumped_order, dtype=np.int64)
    ok: dict[int, bool] = {}
    for i, s_, raw_s in zip(idx.tolist(), model.super_idx[idx].tolist(),
                               scan.dump_column("super", idx).tolist()):
        ok[i] = ok.get(s_, False) if s_ >= 0 else raw_s == 0
    chain_ok[[i for i, v in ok.items() if v]] = True
    bad = np.zeros(model.n, bool)
    bad[mismatch] = True
    # java.lang.Class instances in a dump are mirrors the dumper wrote as objects (the primitive
    # types' int.class, ...): they join the class-dump mirrors in one java.lang.Class row, as in
    # the JVM's own histogram
    mirror_cls = raw["class_dumps"]["class"][model.names == "java.lang.Class"]
    mirror_cls = int(mirror_cls[0]) if len(mirror_cls) else -1
    for i in has_inst.tolist():
        if i == mirror_cls:
            continue
        exact = bool(chain_ok[i]) and not bad[i] and short != (0, i)
        size = int(inst_size[i]) if exact else int(align(layout.header + per_inst_data[i], layout.align))
        rows_key.append(i)
        rows_kind.append(KIND_INSTANCE)
        rows_count.append(int(icount[i]))
        rows_bytes.append(size * int(icount[i]))
        rows_largest.append(size)
        rows_exact.append(exact)
    if len(undumped):
        problems.append(Finding(
            "hprof-class-missing", Severity.WARNING,
            f"{int(icount[undumped].sum()):,} instances of {len(undumped)} classes whose CLASS DUMP is not in the file",
            [Evidence("class ids", [int(x) for x in c["id"][undumped][:10]], hex=True),
             Evidence("instances", int(icount[undumped].sum()))],
            ["their sizes are estimated from the instance data length; the dump is incomplete or was "
             "written by a tool that drops classes: compare with a fresh jmap -histo"]))
    if len(mismatch):
        problems.append(Finding(
            "hprof-layout-mismatch", Severity.WARNING,
            f"{len(mismatch)} classes have instances whose data length disagrees with their fields",
            [Evidence("classes", scan.class_names(mismatch[:10]).tolist()),
             Evidence("class dump offsets", scan.dump_column("dump_offset", mismatch[:10]).tolist(), hex=True)],
            ["the dump is corrupt or mixes class versions; do not trust field values of these classes"]))

    oa = np.flatnonzero(c["objarrays"] > 0)
    ref = layout.ref_size
    base = layout.array_base(ref)
    pad = (-(base + np.arange(_PAD_MOD, dtype=np.int64) * ref)) % layout.align
    # a class with one array keeps that array's length residue in its slot (-2 - n % 64); classes
    # with more have a row of per-residue counts. Computed in place: oa can be a million classes
    slot = c["objarray_slot"][oa]
    rows = np.flatnonzero(slot >= 0)
    np.clip(np.negative(slot, out=slot) - 2, 0, _PAD_MOD - 1, out=slot)
    totals = pad[slot]
    del slot
    if len(rows):
        totals[rows] = raw["objarray_mod"][c["objarray_slot"][oa[rows]]] @ pad
    totals += np.multiply(c["objarrays"][oa], base)
    totals += np.multiply(c["objarray_elems"][oa], ref)
    oa_exact = np.ones(len(oa), bool)
    if short and short[0] == 1:
        oa_exact[oa == short[1]] = False
    oa_rows = {"class_name": oa, "kind": np.full(len(oa), _KINDS.index(KIND_OBJARRAY), np.int8),
               "count": c["objarrays"][oa], "shallow_bytes": totals.astype(np.int64, copy=False),
               "largest_bytes": np.atleast_1d(layout.array_size(ref, c["objarray_max"][oa])).astype(np.int64, copy=False),
               "size_exact": oa_exact}

    for t, es in ELEM_SIZE.items():
        cnt = int(raw["primarray_count"][t])
        if not cnt:
            continue
        rows_key.append(_PRIM_KEY - t)
        rows_kind.append(KIND_PRIMARRAY)
        rows_count.append(cnt)
        rows_bytes.append(_aligned_total(cnt, int(raw["primarray_elems"][t]), raw["primarray_mod"][t],
                                         layout.array_base(es), es, layout.align))
        rows_largest.append(int(layout.array_size(es, int(raw["primarray_max"][t]))))
        rows_exact.append(short != (2, t))

    dumped = np.flatnonzero(model.dumped)
    if len(dumped):
        # a mirror is java.lang.Class's instance (its VM-injected fields included) with the
        # class's static fields after it; HotSpot's dumper adds entries that are no static field
        # (<resolved_references>, <init_lock>), which are left out
        mirror = int(align(inst_size[mirror_cls], layout.align)) if mirror_cls >= 0 else layout.header + 8 * ref
        ss, sc = scan.dump_column("static_start", dumped), scan.dump_column("static_count", dumped)
        st = raw["static_types"]
        lut = np.zeros(12, np.int64)
        for t, s in ELEM_SIZE.items():
            lut[t] = s
        lut[2] = ref
        field_bytes = lut[st] * ~_dumper_entries(scan, raw["static_names"])
        csum = np.concatenate([[0], np.cumsum(field_bytes)]) if len(st) else np.zeros(1, np.int64)
        statics = csum[ss + sc] - csum[ss]
        sizes = align(mirror + statics, layout.align)
        prim_mirrors = int(icount[mirror_cls]) if mirror_cls >= 0 else 0
        rows_key.append(_CLASS_KEY)
        rows_kind.append(KIND_CLASS)
        rows_count.append(len(dumped) + prim_mirrors)
        rows_bytes.append(int(sizes.sum()) + prim_mirrors * mirror)
        rows_largest.append(int(sizes.max()))
        rows_exact.append(False)

    listed = {
        "class_name": np.array(rows_key, dtype=np.int64),
        "kind": np.array([_KINDS.index(k) for k in rows_kind], dtype=np.int8),
        "count": np.array(rows_count, dtype=np.int64),
        "shallow_bytes": np.array(rows_bytes, dtype=np.int64),
        "largest_bytes": np.array(rows_largest, dtype=np.int64),
        "size_exact": np.array(rows_exact, dtype=bool),
    }
    # object-array rows stay numpy columns: a dump can name a million array classes. The rows are
    # put in order column by column, so that no second copy of the whole table is alive at once
    by = np.concatenate([listed["shallow_bytes"], oa_rows["shallow_bytes"]])
    rank = np.argsort(-by, kind="stable")
    del by
    cols = {}
    for k in list(listed):
        cols[k] = np.concatenate([listed.pop(k), oa_rows.pop(k)])[rank]
    cols["class_name"] = LazyColumn(cols["class_name"], _RowNames(scan))
    cols["kind"] = LazyColumn(cols["kind"], _kind_names)
    table = Table(cols, title="class histogram")

    top = raw["top"]
    sizes = np.zeros(len(top), dtype=np.int64)
    keys = np.zeros(len(top), dtype=np.int64)
    kinds = np.empty(len(top), dtype=object)
    for k, (oid, kind, cls, n, _) in enumerate(top.tolist()):
        if kind == 0:
            sizes[k] = int(inst_size[cls]) or int(align(layout.header + n, layout.align))
            keys[k], kinds[k] = cls, KIND_INSTANCE
        elif kind == 1:
            sizes[k] = int(layout.array_size(ref, n))
            keys[k], kinds[k] = cls, KIND_OBJARRAY
        else:
            sizes[k] = int(layout.array_size(ELEM_SIZE[cls], n))
            keys[k], kinds[k] = _PRIM_KEY - cls, KIND_PRIMARRAY
    lnames = _RowNames(scan)(keys)
    largest = Table({"object_id": top[:, 0].astype(np.uint64) if len(top) else np.zeros(0, np.uint64),
                     "class_name": lnames, "kind": kinds,
                     "length": top[:, 3] if len(top) else np.zeros(0, np.int64),
                     "shallow_bytes": sizes}, title="largest objects", hex_columns={"object_id"}
                    ).sort_by("shallow_bytes")
    return Histogram(table, largest, layout, scan, problems)


_JVM_LINE = re.compile(r"^\s*(?:\d+:)?\s+(\d+)\s+(\d+)\s+(\S+)")


def read_class_histogram(text: str) -> Table:
    """A JVM class histogram (``jmap -histo``, ``jcmd PID GC.class_histogram``) as a Table of
    ``class_name`` (in the dump's spelling), ``count`` and ``bytes``."""
    names, counts, sizes = [], [], []
    seen: set[str] = set()
    for line in text.splitlines():
        m = _JVM_LINE.match(line)
        if m:
            n = class_name(m.group(3))
            if n not in seen:
                seen.add(n)
                names.append(n)
                counts.append(int(m.group(1)))
                sizes.append(int(m.group(2)))
    return Table({"class_name": np.array(names, dtype=object), "count": np.array(counts, dtype=np.int64),
                  "bytes": np.array(sizes, dtype=np.int64)}, title="JVM class histogram")


def compare_with_jvm(hist: Histogram, jvm: Table) -> Table:
    """This dump's histogram beside the JVM's own (``read_class_histogram``), by class, the
    largest byte difference first: where sizes are estimated or the dump and the histogram were
    not taken at the same moment, it says by how much."""
    ours = hist.as_dict()
    theirs = {n: (c, b) for n, c, b in zip(jvm["class_name"].tolist(), jvm["count"].tolist(), jvm["bytes"].tolist())}
    names = sorted(set(ours) | set(theirs))
    cd = np.array([ours.get(k, {}).get("count", 0) for k in names], dtype=np.int64)
    cj = np.array([theirs.get(k, (0, 0))[0] for k in names], dtype=np.int64)
    bd = np.array([ours.get(k, {}).get("shallow_bytes", 0) for k in names], dtype=np.int64)
    bj = np.array([theirs.get(k, (0, 0))[1] for k in names], dtype=np.int64)
    t = Table({"class_name": np.array(names, dtype=object), "count_dump": cd, "count_jvm": cj,
               "count_diff": cd - cj, "bytes_dump": bd, "bytes_jvm": bj, "bytes_diff": bd - bj},
              title="dump vs the JVM's histogram")
    return t[np.argsort(-np.abs(t["bytes_diff"]), kind="stable")]


def diff_histograms(before: Histogram, after: Histogram) -> Table:
    """Counts and bytes per class in two dumps of the same JVM, sorted by byte growth."""
    a, b = before.as_dict(), after.as_dict()
    names = sorted(set(a) | set(b))
    ca = np.array([a.get(k, {}).get("count", 0) for k in names], dtype=np.int64)
    cb = np.array([b.get(k, {}).get("count", 0) for k in names], dtype=np.int64)
    ba = np.array([a.get(k, {}).get("shallow_bytes", 0) for k in names], dtype=np.int64)
    bb = np.array([b.get(k, {}).get("shallow_bytes", 0) for k in names], dtype=np.int64)
    status = np.array(["new" if k not in a else "gone" if k not in b else "" for k in names], dtype=object)
    return Table({"class_name": np.array(names, dtype=object), "count_before": ca, "count_after": cb,
                  "count_growth": cb - ca, "bytes_before": ba, "bytes_after": bb,
                  "bytes_growth": bb - ba, "status": status},
                 title="histogram diff (after - before)").sort_by("bytes_growth")


def histogram_findings(dump, hist: Histogram, top: int = 5) -> Findings:
    """What the histogram says, each with the evidence that can be checked in the dump."""
    out = Findings()
    scan = hist.scan
    for p in scan.problems:
        out.append(Finding(
            "hprof-partial", Severity.CRITICAL,
            "the heap dump is damaged or incomplete: counts below are a lower bound",
            [Evidence("problem", str(p)), Evidence("offset reached", scan.bytes_scanned, hex=True),
             Evidence("file bytes", scan.total_bytes if scan.total_bytes is not None else "unknown")],
            ["take a new dump (jcmd PID GC.heap_dump) and check the disk had room for it",
             "classes that were being written when the dump stopped are missing or undercounted"]))
    for n in scan.notes:
        out.append(Finding("hprof-note", Severity.NOTICE, n, [], []))
    out.extend(hist.problems)
    lay = hist.layout
    out.append(Finding(
        "hprof-layout", Severity.INFO if lay.inferred else Severity.NOTICE,
        f"object sizes computed for: {lay.name}, {lay.fields} field layout, {lay.align}-byte alignment"
        + ("" if lay.inferred else " (assumed, not inferred)"),
        [Evidence("inference", lay.evidence)],
        [] if lay.inferred else ["pass the JVM's real layout (histogram(layout=...)) if known; "
                                 "sizes may be off by the header/reference size per object"]))
    fp = hist.footprint(top)
    for r in fp.rows():
        if r["reading"] == "one big object":
            lg = hist.largest.where(hist.largest["class_name"] == r["class_name"]).head(1).rows()
            ev = [Evidence("class", r["class_name"]), Evidence("instances", r["count"]),
                  Evidence("class bytes", r["shallow_bytes"]), Evidence("largest object bytes", r["largest_bytes"])]
            if lg:
                ev.insert(1, Evidence("largest object id", int(lg[0]["object_id"]), hex=True))
            out.append(Finding(
                "hprof-one-big-object", Severity.NOTICE,
                f"{r['class_name']}: {human_bytes(r['shallow_bytes'])} is mostly one object "
                f"({r['largest_share']:.0%} in one {human_bytes(r['largest_bytes'])} object)",
                ev, ["find who holds it (dumpx hprof path FILE ID) before calling it the leak: "
                     "one big buffer is often in-flight work, not accumulation"]))
        elif r["reading"] == "many small objects":
            out.append(Finding(
                "hprof-many-small", Severity.WARNING if r["count"] >= 100_000 else Severity.NOTICE,
                f"{r['class_name']}: {r['count']:,} objects of ~{r['average_bytes']} bytes "
                f"= {human_bytes(r['shallow_bytes'])}",
                [Evidence("class", r["class_name"]), Evidence("instances", r["count"]),
                 Evidence("class bytes", r["shallow_bytes"]), Evidence("average bytes", r["average_bytes"]),
                 Evidence("largest object bytes", r["largest_bytes"])],
                ["many small objects of one class point at accumulation in a collection: "
                 "find the dominator that retains them (dumpx hprof dominators FILE)",
                 "compare with a second dump taken later (histogram diff) to see if it grows"]))
    return out
