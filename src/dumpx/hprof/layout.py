"""Shallow sizes the way HotSpot lays objects out, and inference of the layout from the dump.

HPROF does not record object sizes. dumpx computes them from the class dumps' field lists
with HotSpot's rules:

* instance: header (8 with compact headers, 12 with compressed class pointers, 16 without;
  8 on 32-bit), then the fields placed by the JVM's field-layout algorithm: the classic one
  (JDK <= 14: superclass fields first, each class's block rounded up to the oop size, 8-byte
  fields first with one gap before them filled by a smaller field, then 4-, 2-, 1-byte
  fields, then references) or the JDK 15+ one (largest primitives first, each field into the
  smallest hole that fits, including holes left in superclasses, then references), and the
  end rounded up to the object alignment;
* array: the array base offset (16 with compressed class pointers; 24 without, where
  JDK <= 21 aligns the base to 8 bytes; 12/16 on 32-bit) plus length x element size, rounded
  up to the object alignment.

Which of these layouts the dump came from is inferred from the dump itself: HotSpot writes
object addresses as ids and walks the heap in address order, so the distance between
consecutive objects is the size of the first wherever no dead space lies between them. Each
candidate layout is scored by how many of those distances it predicts exactly; the best
wins and the score is reported. Fields the VM injects (not in HPROF), ``@Contended`` padding
and ``java.lang.Class`` mirrors (which carry their class's statics) are not visible in the
dump; see docs/hprof.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np

from ..errors import CorruptDumpError
from .reader import ELEM_SIZE, ScanResult

SAMPLE_MIN_PAIRS = 64


def align(x, a):
    return (x + a - 1) // a * a


@dataclass(frozen=True)
class Layout:
    """One way the JVM could have laid objects out."""

    name: str
    ref_size: int
    header: int
    word: int = 8
    array_base_rule: str = "word"     # "word": base aligned to 8 bytes; "elem": to the element size
    fields: str = "modern"            # "classic" (JDK <= 14) or "modern" (JDK 15+)
    align: int = 8
    inferred: bool = False
    score: float = 0.0
    evidence: str = ""

    @property
    def array_length_offset(self) -> int:
        return self.header

    def array_base(self, elem_size: int) -> int:
        end = self.header + 4
        if self.array_base_rule == "word":
            base = align(end, self.word)
            if self.word == 4 and elem_size == 8:
                base = align(end, 8)
            return base
        return align(end, elem_size)

    def array_size(self, elem_size: int, n):
        return align(self.array_base(elem_size) + np.asarray(n, dtype=np.int64) * elem_size, self.align)

    def describe(self) -> dict:
        return {"layout": self.name, "reference_size": self.ref_size, "object_header": self.header,
                "object_alignment": self.align, "field_layout": self.fields,
                "array_base": {1: self.array_base(1), 8: self.array_base(8)},
                "inferred_from_dump": self.inferred, "score": round(self.score, 4),
                "evidence": self.evidence}


CANDIDATES_64 = [
    Layout("64-bit, compressed oops + compressed class pointers", 4, 12),
    Layout("64-bit, compressed class pointers, no compressed oops", 8, 12),
    Layout("64-bit, no compressed oops or class pointers", 8, 16),
    Layout("64-bit, compressed oops, no compressed class pointers", 4, 16),
    Layout("64-bit, no compressed class pointers, unaligned array base (JDK 22+)", 8, 16,
           array_base_rule="elem"),
    Layout("64-bit, compact object headers (JDK 24+)", 4, 8, array_base_rule="elem"),
    Layout("64-bit, compact object headers, no compressed oops", 8, 8, array_base_rule="elem"),
]
CANDIDATES_32 = [Layout("32-bit", 4, 8, word=4, array_base_rule="word")]


def candidates(id_size: int) -> list[Layout]:
    base = CANDIDATES_64 if id_size == 8 else CANDIDATES_32
    out = []
    for a in (8, 16):
        for f in ("modern", "classic"):
            for l in base:
                out.append(replace(l, fields=f, align=a))
    return out


# ------------------------------------------------------------------------------ classes

@dataclass
class ClassModel:
    """The class dumps as arrays: super index, field slices, in dependency order."""

    n: int
    super_idx: np.ndarray          # -1: none / unknown
    dumped: np.ndarray
    field_start: np.ndarray        # per CLASS DUMP row (dump_row), not per class
    field_count: np.ndarray
    field_types: np.ndarray
    order: np.ndarray              # the dumped classes, supers before subclasses
    broken: set[int] = field(default_factory=set)
    names: np.ndarray | None = None            # per CLASS DUMP row, like field_start
    field_names: list[str | None] | None = None   # resolved only for classes with @Contended fields
    contended: dict[int, set[int]] = field(default_factory=dict)  # class -> positions of contended fields
    jdk: int = 9       # 7 (<= 7), 8, or 9 (9 and later), from java.lang.Class's own fields
    dump_row: np.ndarray | None = None   # class index -> its CLASS DUMP row, -1 when not dumped

    @cached_property
    def dumped_order(self) -> np.ndarray:
        """``order``: only classes with a CLASS DUMP have a layout to order (array classes and
        classes the dump names but never dumps have none, and a dump may name a million)."""
        return self.order


MAX_CLASS_DEPTH = 1_000
INFER_CLASSES = 2_000
INFER_SUBSAMPLE = 16_384         # sampled pairs every candidate layout is first scored on


def class_model(scan: ScanResult) -> ClassModel:
    """The class hierarchy of a scan, built once per scan (every analysis asks for it)."""
    got = scan.__dict__.get("_class_model")
    if got is None:
        got = scan.__dict__["_class_model"] = _class_model(scan)
    return got


def _class_model(scan: ScanResult) -> ClassModel:
    c, cd = scan.raw["classes"], scan.raw["class_dumps"]
    ids = c["id"]
    n = len(ids)
    order_ids = np.argsort(ids, kind="stable")
    sids = ids[order_ids]
    sup = cd["super"]
    pos = np.minimum(np.searchsorted(sids, sup), max(n - 1, 0))
    has = (sup != 0) & (sids[pos] == sup) if n else np.zeros(0, bool)
    super_idx = np.full(n, -1, dtype=np.int64)
    super_idx[cd["class"]] = np.where(has, order_ids[pos], -1) if n else np.zeros(0, np.int64)
    del order_ids, sids, pos, has
    dumped = cd["class"]
    # depths of the dumped classes (and the supers they name), each chain walked once; a class
    # that is named but never dumped has no superclass here and no layout to order
    depth: dict[int, int] = {}               # -2: on the chain being walked
    broken: set[int] = set()
    for i in dumped.tolist():
        if i in depth:
            continue
        chain = []
        j = i
        while j >= 0 and j not in depth:
            depth[j] = -2
            chain.append(j)
            j = int(super_idx[j])
        if j >= 0 and depth[j] == -2:       # a superclass cycle: crafted or corrupt dump
            broken.update(chain)
            for k in chain:
                depth[k] = 0
            continue
        d = depth[j] + 1 if j >= 0 else 0
        for k in reversed(chain):
            depth[k] = d
            d += 1
    if broken:
        k = sorted(broken)
        cyc = ", ".join(f"{nm} (0x{int(ids[i]):x})" for i, nm in zip(k[:6], scan.class_names(k[:6])))
        raise CorruptDumpError(f"superclass cycle among {len(k)} classes: {cyc}{', ...' if len(k) > 6 else ''}",
                               offset=None, expected="a class hierarchy without cycles (a JVM cannot make one)")
    ddepth = np.array([depth[i] for i in dumped.tolist()], dtype=np.int64)
    if len(ddepth) and int(ddepth.max()) > MAX_CLASS_DEPTH:
        i = int(dumped[ddepth.argmax()])
        raise CorruptDumpError(f"class {scan.class_names([i])[0]} (0x{int(ids[i]):x}) is {depth[i]:,} superclasses deep",
                               offset=None, expected=f"at most {MAX_CLASS_DEPTH:,} (HotSpot's deepest real "
                                                     f"hierarchies are a few dozen)")
    del depth
    order = dumped[np.argsort(ddepth, kind="stable")]
    names = scan.class_names(dumped)        # per dump row: only dumped classes get a layout
    contended: dict[int, set[int]] = {}
    for i, nm, a, k in zip(dumped.tolist(), names.tolist(), cd["field_start"].tolist(),
                           cd["field_count"].tolist()):
        want = CONTENDED_FIELDS.get(nm)
        if want and k:
            fn = scan.strings(scan.raw["field_names"][a:a + k])
            contended[i] = {j for j, f in enumerate(fn) if f in want}
        elif nm in CONTENDED_CLASSES:
            contended[i] = set(range(k))
    return ClassModel(n, super_idx, c["dumped"], cd["field_start"], cd["field_count"],
                      scan.raw["field_types"], order, broken, names, None, contended,
                      jdk_generation(scan, names), c["dump_row"])


def jdk_generation(scan: ScanResult, names: np.ndarray) -> int:
    """7, 8 or 9 (meaning 9+), read from the fields java.lang.Class has in this dump (``names``
    per CLASS DUMP row).

    ``module`` arrived in JDK 9 and ``annotationData`` in JDK 8; without a class dump of
    java.lang.Class the newest is assumed.
    """
    hit = np.flatnonzero(names == "java.lang.Class")
    if not len(hit):
        return 9
    cd = scan.raw["class_dumps"]
    a, k = int(cd["field_start"][hit[0]]), int(cd["field_count"][hit[0]])
    fields = set(f for f in scan.strings(scan.raw["field_names"][a:a + k]) if f)
    if "module" in fields:
        return 9
    if "annotationData" in fields:
        return 8
    return 7


_PRIM_SIZE = {4: 1, 5: 2, 6: 4, 7: 8, 8: 1, 9: 2, 10: 4, 11: 8}

# Fields HotSpot injects into JDK classes (javaClasses.hpp); they are not in HPROF class dumps.
# "P" is a native pointer (8 bytes on 64-bit, 4 on 32-bit), "L" a reference, else a basic size.
INJECTED = {
    "java.lang.ClassLoader": ["P"],                                   # loader_data
    "java.lang.invoke.MemberName": ["P"],                             # vmindex
    "java.lang.invoke.ResolvedMethodName": ["L", "P"],                # vmholder, vmtarget
    "java.lang.invoke.MethodHandleNatives$CallSiteContext": ["P", 8],  # vmdependencies, last_cleanup
    "java.lang.Module": ["P"],                                        # module_entry
    "java.lang.StackFrameInfo": [2],                                  # version
    "java.lang.InternalError": [1],                                   # during_unsafe_access
    # klass, array_klass, oop_size, static_oop_field_count and three references: a JDK 17 mirror
    # is then 112/176/184 bytes (compressed oops / none / no compressed class pointers) before
    # its statics, which the JVM's histograms of the heapshape fixtures confirm to the byte
    # without compressed oops
    "java.lang.Class": ["P", "P", 4, 4, "L", "L", "L"],
}
# JDK 8's MemberName also carries vmloader and vmtarget (JDK 9 moved them to ResolvedMethodName).
INJECTED_JDK8 = {**INJECTED, "java.lang.invoke.MemberName": ["L", "P", "P"],
                 "java.lang.Class": ["P", "P", 4, 4, "L", "L", "L"]}
# Before metaspace (JDK <= 7) the class loader had no loader_data.
INJECTED_JDK7 = {k: v for k, v in INJECTED_JDK8.items() if k != "java.lang.ClassLoader"}

# @Contended fields and classes in the JDK: padded by ContendedPaddingWidth (128) bytes.
CONTENDED_FIELDS = {"java.lang.Thread": {"threadLocalRandomSeed", "threadLocalRandomProbe",
                                         "threadLocalRandomSecondarySeed"}}
CONTENDED_CLASSES = {"java.util.concurrent.ConcurrentHashMap$CounterCell",
                     "java.util.concurrent.atomic.Striped64$Cell",
                     "java.util.concurrent.Exchanger$Node"}
CONTENDED_PAD = 128


def _classic(start: int, sizes: list[int], ref: int, word: int, al: int):
    longs = sizes.count(8)
    ints = sizes.count(4)
    shorts = sizes.count(2)
    bytes_ = sizes.count(1)
    oops = sizes.count(0)
    nxt = start
    if longs:
        dbl = align(nxt, 8)
        if dbl != nxt:
            gap = dbl - nxt
            if ints and gap >= 4:
                ints -= 1
                gap -= 4
            while gap >= 2 and shorts:
                shorts -= 1
                gap -= 2
            while gap > 0 and bytes_:
                bytes_ -= 1
                gap -= 1
            if gap >= ref and oops:
                oops -= 1
                gap -= ref
        word_off = dbl + longs * 8
    else:
        word_off = nxt
    end = word_off + ints * 4 + shorts * 2 + bytes_
    if oops:
        end = align(end, ref) + oops * ref
    return end


def _modern(holes: list[tuple[int, int]], end: int, sizes: list[int], ref: int):
    holes = list(holes)
    prims = sorted((s for s in sizes if s), reverse=True)
    for s in prims + [ref] * sizes.count(0):
        best = -1
        for k in range(len(holes) - 1, -1, -1):
            off, size = holes[k]
            adj = (-off) % s
            if size >= s + adj and (best < 0 or size < holes[best][1]):
                best = k
        if best >= 0:
            off, size = holes.pop(best)
            adj = (-off) % s
            pieces = []
            if adj:
                pieces.append((off, adj))
            rest = size - adj - s
            if rest:
                pieces.append((off + adj + s, rest))
            for p in reversed(pieces):
                holes.insert(best, p)
        else:
            adj = (-end) % s
            if adj:
                holes.append((end, adj))
            end += adj + s
    holes.sort()
    return holes, end


def _append(end: int, sizes: list[int], ref: int) -> int:
    """A @Contended group: its fields go after the padding, largest first, no hole search."""
    for s in sorted((x for x in sizes if x), reverse=True) + [ref] * sizes.count(0):
        end = align(end, s) + s
    return end


def instance_sizes(model: ClassModel, layout: Layout, only: np.ndarray | None = None) -> np.ndarray:
    """Shallow size of one instance of every class (0 for classes whose layout is unknown).

    ``only`` (a boolean mask) limits the work to those classes and their superclasses.
    """
    n = model.n
    out = np.zeros(n, dtype=np.int64)
    idx = np.array(model.dumped_order, dtype=np.int64)
    if only is not None:
        need = np.zeros(n, bool)
        up = model.super_idx
        for i in np.flatnonzero(only).tolist():
            j = i
            while j >= 0 and not need[j]:
                need[j] = True
                j = int(up[j])
        idx = idx[need[idx]]
    # per-class values only for the classes sized here (a dump may name a million others)
    order = idx.tolist()
    fstart = model.field_start[model.dump_row[idx]].tolist()
    fcount = model.field_count[model.dump_row[idx]].tolist()
    sup = model.super_idx[idx].tolist()
    names = model.names[model.dump_row[idx]].tolist() if model.names is not None else [None] * len(order)
    ft = model.field_types
    ref, hdr, word, al = layout.ref_size, layout.header, layout.word, layout.align
    classic_end: dict[int, int] = {}
    modern_state: dict[int, tuple] = {}
    ftl = ft.tolist()
    injected = {7: INJECTED_JDK7, 8: INJECTED_JDK8}.get(model.jdk, INJECTED)
    ptr = 8 if word == 8 else 4
    for k, i in enumerate(order):
        sizes = [0 if t == 2 else _PRIM_SIZE.get(t, 0) for t in ftl[fstart[k]:fstart[k] + fcount[k]]]
        extra = injected.get(names[k], ())
        sizes += [0 if x == "L" else ptr if x == "P" else x for x in extra]
        group = model.contended.get(i)
        padded = [sizes[j] for j in sorted(group)] if group else []
        if group:
            sizes = [x for j, x in enumerate(sizes) if j not in group]
        s = sup[k]
        if layout.fields == "classic":
            start = classic_end.get(s, hdr) if s >= 0 else hdr
            end = _classic(start, sizes, ref, word, al)
            if not sizes and s >= 0:
                end = start
            if group:
                end = _append(end + CONTENDED_PAD, padded, ref) + CONTENDED_PAD
            classic_end[i] = align(end, ref) if sizes or padded or s < 0 else start
        else:
            holes, end0, cont = modern_state.get(s, ([], hdr, False)) if s >= 0 else ([], hdr, False)
            if cont:
                holes = []      # a superclass with @Contended reserves its holes
            holes, end = _modern(holes, end0, sizes, ref)
            if group:
                end = _append(end + CONTENDED_PAD, padded, ref) + CONTENDED_PAD
            modern_state[i] = (holes, end, cont or bool(group))
        out[i] = max(align(align(end, word), al), al if hdr >= 8 else 8)
    return out


# ------------------------------------------------------------------------------ inference

def _predict(layout: Layout, sample: np.ndarray, inst_rows: np.ndarray, masks=None) -> np.ndarray:
    """Predicted size of each sampled object; ``inst_rows``: the instance size of each row that is
    an instance, in row order; ``masks``: ``_kind_masks(sample)`` when already made."""
    masks = masks or _kind_masks(sample)
    n = sample[:, 3]
    pred = np.zeros(len(sample), dtype=np.int64)
    pred[masks[0]] = inst_rows
    pred[masks[1]] = layout.array_size(layout.ref_size, n[masks[1]])
    for es, m in masks[2]:
        pred[m] = layout.array_size(es, n[m])
    return pred


def _kind_masks(sample: np.ndarray):
    kind, cls = sample[:, 1], sample[:, 2]
    prim = [(es, (kind == 2) & (cls == t)) for t, es in ELEM_SIZE.items()]
    return kind == 0, kind == 1, [(es, m) for es, m in prim if m.any()]


def stated_layout(props: dict[str, str], jdk: int) -> tuple[Layout, str] | None:
    """The layout the JVM's own System properties imply when the ids say nothing (the hprof
    agent writes its own 4-byte ids on any JVM): the data model, and whether compressed oops were
    on by default for that JVM (HotSpot turned them on by default in 6u23; a heap over 32 GB or
    -XX:-UseCompressedOops would turn them off and is not in the properties)."""
    model = props.get("sun.arch.data.model")
    arch = props.get("os.arch", "")
    fields = "modern" if jdk >= 9 else "classic"
    said = ", ".join(f"{k}={props[k]}" for k in ("sun.arch.data.model", "os.arch", "java.version")
                     if k in props)
    if model == "32" or (model is None and arch in ("x86", "i386", "i486", "i586", "i686", "arm")):
        return replace(CANDIDATES_32[0], fields=fields), f"a 32-bit JVM ({said})"
    if model != "64" and arch not in ("amd64", "x86_64", "aarch64", "sparcv9", "ppc64", "ppc64le", "s390x"):
        return None
    ver = props.get("java.version", "")
    m = re.match(r"1\.6\.0_(\d+)", ver)
    if ver.startswith("1.6.0") and (not m or int(m.group(1)) < 23):
        return (replace(CANDIDATES_64[2], fields=fields),
                f"a 64-bit JVM before 6u23, whose default had no compressed oops ({said})")
    return (replace(CANDIDATES_64[0], fields=fields),
            f"a 64-bit JVM with compressed oops, its default below 32 GB of heap ({said})")


def infer_layout(scan: ScanResult, stated=None) -> Layout:
    """Pick the layout whose sizes explain the most address gaps between neighbours.

    ``stated``: a callable giving the JVM's System properties, asked only when the addresses
    cannot decide (the layout those properties imply is then used, and said so)."""
    id_size = scan.header.id_size
    cands = candidates(id_size)
    sample = scan.raw["sample"]
    model = class_model(scan)
    # ids that are not addresses say nothing about the JVM (the hprof agent writes 4-byte ids
    # on 64-bit JVMs): assume the commonest JVM of the dump's generation.

    def assumed(why: str) -> Layout:
        props = stated() if stated is not None else {}
        told = stated_layout(props, model.jdk) if props else None
        if told is not None:
            return replace(told[0], evidence=f"{why}; assumed from the System properties: {told[1]}")
        return replace(CANDIDATES_64[0], fields="modern" if model.jdk >= 9 else "classic",
                       evidence=f"{why}; assumed: a 64-bit JVM with compressed oops, the commonest")
    if len(sample) < 2:
        return assumed("no objects to infer from")
    order = np.argsort(sample[:, 0].view(np.uint64), kind="stable")
    s = sample[order]
    gaps = np.diff(s[:, 0].view(np.uint64)).astype(np.int64)
    s = s[:-1]
    plausible = (gaps > 0) & (gaps < (1 << 24))
    if plausible.sum() < SAMPLE_MIN_PAIRS:
        return assumed(f"ids do not look like addresses ({int(plausible.sum())} plausible neighbour gaps)")
    s, gaps = s[plausible], gaps[plausible]
    inst = s[:, 1] == 0
    cls_of, freq = np.unique(s[inst, 2], return_counts=True)
    if len(cls_of) > INFER_CLASSES:               # vote with the commonest classes: bounded work per candidate
        keep = np.zeros(model.n, bool)
        keep[cls_of[np.argsort(-freq, kind="stable")[:INFER_CLASSES]]] = True
        m = ~inst | keep[np.where(inst, s[:, 2], 0)]
        s, gaps = s[m], gaps[m]
    used = np.zeros(model.n, bool)
    used[s[s[:, 1] == 0, 2]] = True
    used_idx = np.flatnonzero(used)
    row_at = np.searchsorted(used_idx, s[s[:, 1] == 0, 2])     # each instance row's place in used_idx
    cache: dict[tuple, np.ndarray] = {}

    def votes(lay: Layout, rows: np.ndarray | None) -> int:
        key = (lay.ref_size, lay.header, lay.word, lay.fields, lay.align)
        if key not in cache:            # only the sampled classes' sizes are kept, not one array per layout
            cache[key] = instance_sizes(model, lay, only=used)[used_idx]
        if rows is None:
            return int((_predict(lay, s, cache[key][row_at], full) == gaps).sum())
        return int((_predict(lay, s[rows], cache[key][row_at[inst_rank[rows][inst[rows]]]], part)
                    == gaps[rows]).sum())

    # every candidate scored on an even subsample, the three best on every sampled pair
    inst = s[:, 1] == 0
    inst_rank = np.cumsum(inst) - 1                 # a row's place among the instance rows
    full = _kind_masks(s)
    rows = np.arange(0, len(s), max(1, len(s) // INFER_SUBSAMPLE)) if len(s) > 2 * INFER_SUBSAMPLE else None
    part = _kind_masks(s[rows]) if rows is not None else full
    scored = [(votes(lay, rows), -k) for k, lay in enumerate(cands)]    # (votes, -index)
    if rows is not None:
        scored = [(votes(cands[-neg], None), neg) for _, neg in sorted(scored, reverse=True)[:3]]
    scored.sort(reverse=True)                       # ties go to the earlier candidate
    best_votes, best = scored[0][0], cands[-scored[0][1]]
    scores = [v for v, _ in scored]
    total = len(gaps)
    runner = scores[1] if len(scores) > 1 else 0
    ev = (f"{best_votes} of {total} neighbour distances match exactly "
          f"(next best layout: {runner})")
    if best_votes < max(SAMPLE_MIN_PAIRS // 2, total // 10):
        return assumed(f"no layout explains the address gaps ({ev})")
    return replace(best, inferred=True, score=best_votes / total, evidence=ev)
