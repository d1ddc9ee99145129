"""The object graph of a heap dump, its dominator tree and retained sizes (issue 4, first part).

One more native pass over the (mapped) dump emits every object (id, class, shallow size), every
reference (instance fields by the class layout, array elements, class statics, super and loader
links, the instance-to-class link) and every GC root. Ids become dense indices by sorting, the
references a CSR graph with one virtual root pointing at the GC roots; dominators and retained
sizes come from ``dumpx._native.dominators``. Objects no root reaches are left out of the tree
and counted apart, so they do not distort retained sizes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._native.dominators import bfs_parents, dominators, largest, retained_by_group, tree_children
from .._native.hprofscan import ScanError, Scanner, map_references
from ..arrays import unique_inverse
from ..errors import CorruptDumpError
from ..table import LazyColumn, Table
from .layout import MAX_CLASS_DEPTH, class_model, instance_sizes
from .reader import ELEM_SIZE, HeapDump

CLASS_OBJECT = -1

VERTEX32_LIMIT = 2**31 - 1      # vertex ids are int32 below this many (objects + the root); tests lower it


def vertex_dtype(vertices: int) -> type:
    """int32 vertex ids while they fit, int64 from 2**31 vertices on (where MAT stops)."""
    return np.int32 if vertices < VERTEX32_LIMIT else np.int64


class ObjectId(int):
    """An object id passed where a vertex is also accepted (``g.referrers(ObjectId(0xfc1f..))``)."""

# GC root record tags (HPROF; 0x89-0x8E are Android's)
ROOT_KINDS = {0xFF: "unknown root", 0x01: "JNI global", 0x02: "JNI local", 0x03: "Java frame",
              0x04: "native stack", 0x05: "sticky class", 0x06: "thread block",
              0x07: "busy monitor", 0x08: "thread object", 0x89: "interned string",
              0x8A: "finalizing", 0x8B: "debugger", 0x8C: "reference cleanup",
              0x8D: "VM internal", 0x8E: "JNI monitor"}


@dataclass(repr=False)
class HeapGraph:
    dump: HeapDump
    ids: np.ndarray            # uint64 object id per vertex (vertex n is the virtual root)
    cls: np.ndarray            # class index into dump.scan.class_names(), -1 class object, -100-t primitive array
    shallow: np.ndarray        # uint32 (int64 if an object is 4 GiB or more)
    indptr: np.ndarray
    indices: np.ndarray
    idom: np.ndarray           # vertex ids (int32, or int64 from 2**31 objects), -1 unreachable; the root dominates itself
    retained: np.ndarray       # int64
    dangling: int              # references to ids not in the dump

    @property
    def root(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        return (f"<HeapGraph {len(self.ids):,} objects, {len(self.indices):,} references, "
                f"{int(self.retained[self.root]):,} reachable bytes>")

    def _repr_pretty_(self, p, cycle) -> None:
        p.text(repr(self) if cycle else repr(self) + "\n" + self.top_retained(10).text())

    def _repr_html_(self) -> str:
        from ..render import safe_html
        return f"<p>{safe_html(repr(self))}</p>" + self.top_retained(20)._repr_html_()

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays the graph is made of, with the dominator tree's children and the shortest-path
        parents from the GC roots (what its index keeps, so a query reads and walks nothing)."""
        ptr, kids = self.children()
        return {"ids": self.ids, "cls": self.cls, "shallow": self.shallow, "indptr": self.indptr,
                "indices": self.indices, "idom": self.idom, "retained": self.retained,
                "kid_ptr": ptr, "kids": kids, "bfs": self.bfs_parents(), **self.root_records}

    def _work(self):
        """The allocator for new per-vertex arrays: the build's work files when it spilled."""
        space = getattr(self, "space", None)
        return space if space is not None and space.spill else None

    def bfs_parents(self) -> np.ndarray:
        """Each vertex's parent on a shortest reference path from the GC roots (-1: unreached)."""
        if getattr(self, "_bfs", None) is None:
            self._bfs = bfs_parents(self.indptr, self.indices, self.root, work=self._work())
        return self._bfs

    def class_name(self, v: int) -> str:
        if v == self.root:
            return "<GC roots>"
        c = int(self.cls[v])
        if c == CLASS_OBJECT:
            if not hasattr(self, "_by_id"):
                ids = self.dump.scan.raw["classes"]["id"].astype(np.uint64).tolist()
                self._by_id = dict(zip(ids, self._names.tolist()))
            return f"class {self._by_id.get(int(self.ids[v]), '?')}"
        if c <= -100:
            from .reader import ARRAY_CODES
            return "[" + ARRAY_CODES.get(-100 - c, "?")
        return str(self._names[c]) if c >= 0 else "<unknown class>"

    def vertex(self, object_id: int) -> int:
        """The vertex of an object id. One lookup scans the ids (no index kept: 12 bytes per
        object); ``vertices`` builds a sorted index for many."""
        if getattr(self, "_sorted", None) is not None:
            return int(self.vertices([object_id])[0])
        hit = np.flatnonzero(self.ids == np.uint64(object_id & (2**64 - 1)))
        if not len(hit):
            raise KeyError(f"no object 0x{object_id:x} in the dump")
        return int(hit[0])

    def vertices(self, object_ids) -> np.ndarray:
        """Vertices of many object ids (KeyError naming the first that is not in the dump); the
        sorted index this builds is kept."""
        if getattr(self, "_sorted", None) is None:
            order = np.argsort(self.ids, kind="stable")
            work = self._work()
            if work is None:
                self._order = order.astype(self.idom.dtype)
                self._sorted = self.ids[self._order]
            else:                              # under a memory budget: both in work files
                self._order = work(len(order), self.idom.dtype)
                self._sorted = work(len(order), self.ids.dtype)
                for a in range(0, len(order), 1 << 24):
                    part = order[a:a + (1 << 24)]
                    self._order[a:a + len(part)] = part
                    self._sorted[a:a + len(part)] = self.ids[part]
                del order
        want = np.asarray([int(x) & (2**64 - 1) for x in object_ids], dtype=np.uint64)
        pos = np.minimum(np.searchsorted(self._sorted, want), len(self._sorted) - 1)
        bad = np.flatnonzero(self._sorted[pos] != want)
        if len(bad):
            raise KeyError(f"no object 0x{int(want[bad[0]]):x} in the dump")
        return self._order[pos].astype(np.int64)

    def largest_retained(self, n: int = 20, *, objects_only: bool = False) -> np.ndarray:
        """Vertices of the ``n`` largest retained sizes, largest first (``objects_only``: class
        objects, whose statics are not one collection, left out). No per-object allocation."""
        cache = self.__dict__.setdefault("_largest", {})
        k, got = cache.get(objects_only, (0, None))
        if got is None or n > k:           # one pass for the first 1,024 at least, then slices
            k = max(n, 1024)
            got = largest(np.ascontiguousarray(self.retained[:-1]), k,
                          np.ascontiguousarray(self.cls) if objects_only else None, CLASS_OBJECT)
            cache[objects_only] = (k, got)
        return got[:n]

    def dominator_chain(self, v: int) -> list[int]:
        chain = []
        while v != self.root and v >= 0 and len(chain) < 10_000:
            chain.append(v)
            v = int(self.idom[v])
        return chain[::-1]

    def unreachable(self) -> np.ndarray:
        return np.flatnonzero(self.idom[:-1] < 0)

    def unreachable_histogram(self) -> Table:
        """Objects no GC root reaches, by class (as MAT keeps them: apart from retained sizes)."""
        un = self.unreachable()
        if not len(un):
            return Table({"class_name": np.zeros(0, dtype=object), "objects": np.zeros(0, np.int64),
                          "shallow_bytes": np.zeros(0, np.int64)}, title="unreachable objects")
        codes, _, inv = unique_inverse(self.cls[un])     # one name per class, not per object
        first = np.zeros(len(codes), dtype=np.int64)
        first[inv[::-1]] = un[::-1]
        uniq = np.array(["java.lang.Class" if c == CLASS_OBJECT else self.class_name(int(v))
                         for c, v in zip(codes.tolist(), first.tolist())], dtype=object)
        return Table({"class_name": uniq, "objects": np.bincount(inv).astype(np.int64),
                      "shallow_bytes": np.bincount(inv, weights=self.shallow[un]).astype(np.int64)},
                     title="unreachable objects").sort_by("shallow_bytes")

    def top_retained(self, n: int = 20) -> Table:
        top = self.largest_retained(n)
        return Table({"object_id": self.ids[top], "class_name": np.array([self.class_name(int(v)) for v in top], dtype=object),
                      "shallow_bytes": self.shallow[top].astype(np.int64), "retained_bytes": self.retained[top],
                      "vertex": top}, title="top objects by retained size", hex_columns={"object_id"})

    def children(self):
        """Dominator-tree children in CSR (ptr, kids; two vertex ids per object, kept)."""
        if not hasattr(self, "_kids"):
            self._kids = tree_children(np.ascontiguousarray(self.idom), self.root, work=self._work())
        return self._kids

    def dominated(self, v: int) -> int:
        """How many objects ``v`` immediately dominates."""
        ptr = self.children()[0]
        return int(ptr[v + 1]) - int(ptr[v])

    def retained_by_class(self, n: int | None = None) -> Table:
        """Retained size of all instances of each class together (members dominated by another
        member of the same class are not counted twice), largest first."""
        names = self._names
        ncls = len(names)
        nv = len(self.cls)
        work = self._work()
        group = work(nv + 1, np.int64) if work is not None else np.empty(nv + 1, np.int64)
        count = np.zeros(ncls + 13, np.int64)
        for a in range(0, nv, 1 << 24):        # a chunk at a time: no per-object temporaries
            c = self.cls[a:a + (1 << 24)].astype(np.int64)
            g = np.where(c >= 0, c, np.where(c == CLASS_OBJECT, ncls, ncls + 1 + (-100 - c)))
            group[a:a + len(g)] = g
            count += np.bincount(g[self.idom[a:a + len(g)] >= 0], minlength=ncls + 13)
        group[nv] = -1
        ptr, kids = self.children()
        total = retained_by_group(ptr, kids, self.root, group, self.retained, ncls + 13, work=work)
        del group
        from .reader import ARRAY_CODES
        labels = list(names) + ["java.lang.Class"] + ["[" + ARRAY_CODES.get(t, "?") for t in range(12)]
        keep = np.flatnonzero(count > 0)
        t = Table({"class_name": np.array([labels[i] for i in keep], dtype=object),
                   "objects": count[keep].astype(np.int64), "retained_bytes": total[keep]},
                  title="retained size by class").sort_by("retained_bytes")
        return t.head(n) if n else t

    def path_to(self, v: int, *, exclude_weak: bool = False) -> list[dict]:
        """The shortest reference path from the GC roots to ``v``, with the field at each step.
        ``exclude_weak``: not through the ``referent`` of a weak, soft, phantom or finalizer
        reference (they do not keep an object alive: MAT's "exclude weak references"); [] when
        only such references reach it."""
        v = self.resolve(v)
        par = self.bfs_parents() if not exclude_weak else bfs_parents(
            self.indptr, self.indices, self.root, self.weak_edges())
        if par[v] < 0:
            return []
        chain = [v]
        while chain[-1] != self.root and len(chain) < 100_000:
            chain.append(int(par[chain[-1]]))
        chain = chain[::-1][1:]
        from .objects import Fields, fetch
        fields = Fields(self.dump)
        records = fetch(self.dump, [int(self.ids[a]) for a in chain[:-1] if int(self.cls[a]) != CLASS_OBJECT])
        steps = [{"object_id": int(self.ids[chain[0]]), "class_name": self.class_name(chain[0]),
                  "via": "GC root: " + "; ".join(self.root_kinds(chain[0])) if self.root_kinds(chain[0])
                  else "GC root"}]
        for a, b in zip(chain, chain[1:]):
            steps.append({"object_id": int(self.ids[b]), "class_name": self.class_name(b),
                          "via": self._field(fields, records, a, b)})
        return steps

    def resolve(self, v) -> int:
        """The vertex for ``v``: a vertex number, or an object id: an ``ObjectId``, a string
        (``"0xfc1f1d38"``) or an int beyond the vertex numbers. A DumpError for neither."""
        from ..errors import DumpError
        try:
            if isinstance(v, str):
                v = ObjectId(int(v, 0))
            if isinstance(v, ObjectId) or int(v) > self.root or int(v) < 0:
                return self.vertex(int(v))
        except (KeyError, ValueError) as e:
            raise DumpError(f"{e.args[0] if e.args else v}", offset=None) from None
        return int(v)

    def _class_names_of(self, vs: np.ndarray) -> np.ndarray:
        return np.array([self.class_name(int(v)) for v in vs], dtype=object)

    def reference_classes(self) -> np.ndarray:
        """Class indices of java.lang.ref.Reference and every class that extends it."""
        return self._subclasses("java.lang.ref.Reference")

    def _subclasses(self, name: str) -> np.ndarray:
        from .layout import class_model
        model = class_model(self.dump.scan)
        cd = self.dump.scan.raw["class_dumps"]
        roots = cd["class"][model.names == name]
        sub = np.zeros(model.n, bool)
        sub[roots] = True
        sup = model.super_idx
        for i in model.dumped_order.tolist():          # superclasses come first
            if not sub[i] and sup[i] >= 0 and sub[sup[i]]:
                sub[i] = True
        return np.flatnonzero(sub)

    def weak_edges(self) -> np.ndarray:
        """One byte per edge, 1 for each Reference object's edge to its ``referent`` (read from the
        objects' records through the block index), kept once made."""
        if getattr(self, "_weak", None) is not None:
            return self._weak
        from .objects import Fields, fetch
        work = self._work()
        mask = work(len(self.indices), np.uint8, 0) if work is not None else np.zeros(len(self.indices), np.uint8)
        refs = np.flatnonzero(np.isin(self.cls, self.reference_classes()))
        if len(refs):
            fields = Fields(self.dump)
            recs = fetch(self.dump, self.ids[refs].tolist())
            src, targets = [], []
            for u in refs.tolist():
                rec = recs.get(int(self.ids[u]))
                target = fields.read(rec[1], rec[2], "referent") if rec is not None and rec[0] == "instance" else None
                if target:
                    src.append(u)
                    targets.append(int(target))
            if src:                          # every referent's vertex in one sorted lookup
                if getattr(self, "_sorted", None) is None:
                    self.vertices([])
                want = np.asarray(targets, dtype=np.uint64)
                pos = np.minimum(np.searchsorted(self._sorted, want), len(self._sorted) - 1)
                found = self._sorted[pos] == want
                for u, t in zip(np.asarray(src)[found].tolist(), self._order[pos[found]].tolist()):
                    a, b = int(self.indptr[u]), int(self.indptr[u + 1])
                    hit = np.flatnonzero(self.indices[a:b] == t)
                    if len(hit):
                        mask[a + int(hit[0])] = 1
        self._weak = mask
        return mask

    def instances(self, class_name: str, *, subclasses: bool = False) -> Table:
        """Every object of a class (``subclasses``: and of every class that extends it) with its
        shallow and retained size, largest retained first: MAT's "list objects" and, with
        ``.head(n)``, the top dominators of one class."""
        from .reader import ARRAY_CODES
        prim = {"[" + c: -100 - t for t, c in ARRAY_CODES.items()}
        if class_name in prim:
            codes = np.array([prim[class_name]])
        elif class_name == "java.lang.Class":
            codes = np.array([CLASS_OBJECT])
        elif subclasses:
            codes = self._subclasses(class_name)
        else:
            codes = np.flatnonzero(self._names == class_name)
        vs = np.flatnonzero(np.isin(self.cls, codes))
        order = np.argsort(-self.retained[vs], kind="stable")
        vs = vs[order]
        return Table({"object_id": self.ids[vs], "class_name": LazyColumn(vs, self._class_names_of),
                      "shallow_bytes": self.shallow[vs].astype(np.int64), "retained_bytes": self.retained[vs],
                      "vertex": vs}, title=f"instances of {class_name}" + (" and subclasses" if subclasses else ""),
                     hex_columns={"object_id"})

    def referents(self, v) -> Table:
        """What ``v`` references (vertex or object id), with the field each goes through."""
        v = self.resolve(v)
        out = np.asarray(self.indices[int(self.indptr[v]):int(self.indptr[v + 1])], dtype=np.int64)
        return self._edges_table(np.full(len(out), v), out, f"referents of 0x{int(self.ids[v]):x}"
                                 if v != self.root else "GC roots")

    def referrers(self, v, limit: int = 1000) -> Table:
        """Who references ``v`` (vertex or object id), with the field, up to ``limit`` of them;
        one scan of the edges (the graph keeps no reverse index)."""
        v = self.resolve(v)
        pos = np.flatnonzero(np.asarray(self.indices) == v)
        src = np.searchsorted(np.asarray(self.indptr), pos, side="right") - 1
        src = src[src != self.root][:limit]
        return self._edges_table(src, np.full(len(src), v), f"referrers of 0x{int(self.ids[v]):x}")

    def _edges_table(self, src: np.ndarray, dst: np.ndarray, title: str) -> Table:
        from .objects import Fields, fetch
        fields = Fields(self.dump)
        records = fetch(self.dump, [int(self.ids[a]) for a in set(src.tolist())
                                    if a != self.root and int(self.cls[a]) != CLASS_OBJECT])
        via = [self._field(fields, records, int(a), int(b)) if a != self.root else "GC root"
               for a, b in zip(src.tolist(), dst.tolist())]
        other = dst if title.startswith("referents") or title == "GC roots" else src
        return Table({"object_id": self.ids[other], "class_name": LazyColumn(other, self._class_names_of),
                      "via": np.array(via, dtype=object), "shallow_bytes": self.shallow[other].astype(np.int64),
                      "retained_bytes": self.retained[other], "vertex": other.astype(np.int64)},
                     title=title, hex_columns={"object_id"})

    def fields(self, v, *, elements: int = 20) -> Table:
        """An object's fields and their values (superclasses' included; references with the
        object id and class they point to, a String's text decoded), or an array's first
        ``elements`` elements. MAT's "inspector"."""
        from .objects import _FMT, Fields, _decode_string, fetch
        from .reader import ARRAY_CODES, ELEM_SIZE
        import struct
        v = self.resolve(v)
        oid = int(self.ids[v])
        rec = fetch(self.dump, [oid]).get(oid) if int(self.cls[v]) != CLASS_OBJECT else None
        names, types, values, targets = [], [], [], []
        fields = Fields(self.dump)
        if rec is not None and rec[0] == "instance":
            for nm, (t, off) in sorted(fields.layout(rec[1]).items(), key=lambda kv: kv[1][1]):
                names.append(nm)
                types.append("reference" if t == 2 else ARRAY_CODES.get(t, "?"))
                val = fields.read(rec[1], rec[2], nm)
                values.append(None if t == 2 and not val else val)
                targets.append(int(val) if t == 2 and val else 0)
        elif rec is not None and rec[0] == "objarray":
            for k, x in enumerate(rec[2][:elements].tolist()):
                names.append(f"[{k}]")
                types.append("reference")
                values.append(int(x) or None)
                targets.append(int(x))
        elif rec is not None and rec[0] == "primarray":
            t, es = rec[1], ELEM_SIZE.get(rec[1], 1)
            for k in range(min(elements, len(rec[2]) // es)):
                names.append(f"[{k}]")
                types.append(ARRAY_CODES.get(t, "?"))
                values.append(struct.unpack_from(_FMT[t], rec[2], k * es)[0])
                targets.append(0)
        tv = [int(self.vertices([x])[0]) if x and self._has(x) else -1 for x in targets]
        strings = fetch(self.dump, [x for x, u in zip(targets, tv) if u >= 0 and self.class_name(u) == "java.lang.String"])
        arrays = fetch(self.dump, [fields.read(r[1], r[2], "value") for r in strings.values() if r[0] == "instance"])
        shown = []
        for x, u, val in zip(targets, tv, values):
            if x and x in strings:
                shown.append(_decode_string(fields, strings[x], arrays))
            elif x:
                shown.append(f"0x{x:x}")
            else:
                shown.append(val)
        return Table({"field": np.array(names, dtype=object), "type": np.array(types, dtype=object),
                      "value": np.array(shown, dtype=object),
                      "class_name": np.array([self.class_name(u) if u >= 0 else "" for u in tv], dtype=object),
                      "object_id": np.array(targets, dtype=np.uint64)},
                     title=f"{self.class_name(v)} 0x{oid:x}", hex_columns={"object_id"})

    def _has(self, object_id: int) -> bool:
        try:
            self.vertices([object_id])
            return True
        except KeyError:
            return False

    def root_kinds(self, v: int) -> list[str]:
        """Why ``v`` is a GC root, one entry per kind: ``Java frame (thread "main")``,
        ``JNI global``, ``sticky class`` ... (empty when it is no root)."""
        rr = self.root_records
        if not rr or not len(rr["root_vertex"]):
            return []
        hit = np.flatnonzero(rr["root_vertex"] == v)
        out: list[str] = []
        for k in hit.tolist():
            kind, serial = int(rr["root_kind"][k]), int(rr["root_thread"][k])
            label = ROOT_KINDS.get(kind, f"root tag 0x{kind:02x}")
            if serial >= 0 and kind != 0x08:
                label += f" (thread {self.thread_name(serial)})"
            if label not in out:
                out.append(label)
        return out

    def thread_name(self, serial: int) -> str:
        """A thread's name from its serial number: the THREAD OBJECT root names the
        java.lang.Thread object, whose ``name`` field holds it (``#serial`` when unknown)."""
        names = getattr(self, "_thread_names", None)
        if names is None:
            names = self._thread_names = {}
            rr = self.root_records
            is_thread = rr["root_kind"] == 0x08 if rr else np.zeros(0, bool)
            threads = {int(s): int(self.ids[int(v)]) for v, s in
                       zip(rr["root_vertex"][is_thread].tolist(), rr["root_thread"][is_thread].tolist())} if rr else {}
            if threads:
                from .objects import Fields, _decode_string, fetch
                fields = Fields(self.dump)
                recs = fetch(self.dump, threads.values())
                name_ids = {tid: fields.read(recs[tid][1], recs[tid][2], "name")
                            for tid in threads.values() if tid in recs and recs[tid][0] == "instance"}
                strs = fetch(self.dump, [x for x in name_ids.values() if x])
                arrays = fetch(self.dump, [fields.read(r[1], r[2], "value") for r in strs.values()
                                           if r[0] == "instance"])
                for s, tid in threads.items():
                    sid = name_ids.get(tid)
                    if sid and sid in strs and strs[sid][0] == "instance":
                        txt = _decode_string(fields, strs[sid], arrays)
                        if txt is not None:
                            names[s] = txt
        return f'"{names[serial]}"' if serial in names else f"#{serial}"

    def _field(self, fields, records, a: int, b: int) -> str:
        target = int(self.ids[b])
        if int(self.cls[a]) == CLASS_OBJECT:
            raw = self.dump.scan.raw
            cid = int(self.ids[a])
            ids = raw["classes"]["id"].astype(np.uint64)
            scan = self.dump.scan
            for i in np.flatnonzero((ids == np.uint64(cid)) & raw["classes"]["dumped"]).tolist():
                st, sc = int(scan.dump_column("static_start", i)), int(scan.dump_column("static_count", i))
                for nm, t, val in zip(self.dump.scan.strings(raw["static_names"][st:st + sc]),
                                      raw["static_types"][st:st + sc].tolist(),
                                      raw["static_values"][st:st + sc].tolist()):
                    if t == 2 and (val & (2**64 - 1)) == target:
                        return f"static {nm}"
                if int(scan.dump_column("super", i)) & (2**64 - 1) == target:
                    return "<superclass>"
                if int(scan.dump_column("loader", i)) & (2**64 - 1) == target:
                    return "<class loader>"
            return "?"
        rec = records.get(int(self.ids[a]))
        if rec is None:
            return "?"
        if rec[0] == "objarray":
            hit = np.flatnonzero(rec[2] == np.uint64(target))
            return f"[{int(hit[0])}]" if len(hit) else "?"
        if rec[0] == "instance":
            for name, (t, off) in fields.layout(rec[1]).items():
                if t == 2 and fields.read(rec[1], rec[2], name) == target:
                    return name
            if rec[1] == target:
                return "<class>"
        return "?"

    def dominated_counts(self) -> np.ndarray:
        """How many objects each vertex immediately dominates (a new array of 4 bytes per object;
        ``dominated(v)`` for one)."""
        return np.diff(self.children()[0])

    def accumulation_point(self, v: int, share: float = 0.8) -> int:
        """Walk down from ``v`` while one dominated child holds most of the retained size; stop
        where it spreads over many children (the collection that accumulates)."""
        ptr, kids = self.children()
        memo = self.__dict__.setdefault("_ap_memo", {})
        walked = []
        while True:
            if (v, share) in memo:
                v = memo[(v, share)]
                break
            walked.append(v)
            ks = kids[ptr[v]:ptr[v + 1]]
            if not len(ks):
                break
            best = ks[np.argmax(self.retained[ks])]
            if self.retained[best] < share * self.retained[v]:
                break
            v = int(best)
        for u in walked:                   # every vertex on the walk leads to the same point
            memo[(u, share)] = v
        return v


def _layout_arrays(dump: HeapDump, layout):
    scan = dump.scan
    model = class_model(scan)
    sizes = instance_sizes(model, layout)
    c = scan.raw["classes"]
    ft = scan.raw["field_types"].tolist()
    isz = dump.header.id_size
    bsize = {2: isz, 4: 1, 5: 2, 6: 4, 7: 8, 8: 1, 9: 2, 10: 4, 11: 8}
    starts, counts, flat = [], [], []
    sup = model.super_idx.tolist()
    icount = c["instances"].tolist()
    data_len = (c["instance_bytes"] // np.maximum(c["instances"], 1)).tolist()
    fstart, fcount, row = model.field_start.tolist(), model.field_count.tolist(), model.dump_row.tolist()
    for i in range(model.n):
        refs, off, j, seen = [], 0, i, 0
        # only classes with instances, and only offsets inside the data their instances really
        # carry: the table is bounded by the dump's bytes, not by what its class chains claim
        while icount[i] and j >= 0 and seen <= MAX_CLASS_DEPTH and off < data_len[i]:
            if row[j] < 0:
                break
            a, k = fstart[row[j]], fcount[row[j]]
            for t in ft[a:a + k]:
                if t == 2 and off + isz <= data_len[i]:
                    refs.append(off)
                off += bsize.get(t, 0)
            j = sup[j]
            seen += 1
        starts.append(len(flat))
        counts.append(len(refs))
        flat += refs
    return (c["id"].astype(np.uint64), sizes, np.array(starts, np.int64), np.array(counts, np.int64),
            np.array(flat, np.int32))


def _dense(x: np.ndarray, sorted_ids: np.ndarray, order: np.ndarray, chunk: int = 1 << 22) -> np.ndarray:
    """Vertex of each id (-1: not in the dump), a chunk at a time to bound temporaries."""
    out = np.empty(len(x), dtype=order.dtype)
    last = len(sorted_ids) - 1
    for a in range(0, len(x), chunk):
        part = x[a:a + chunk]
        pos = np.minimum(np.searchsorted(sorted_ids, part), last)
        out[a:a + chunk] = np.where(sorted_ids[pos] == part, order[pos], -1)
    return out


GRAPH_WINDOW = 64 << 20          # bytes of the mapped dump per feed of the graph pass


def _feed_graph(sc, buf, start: int, progress, after=None) -> None:
    """The graph pass over the mapped dump in windows, so that ``progress(done, total)`` is told
    as it goes (and ``after()`` called after each window); a window that holds no whole record (a
    huge array) is doubled until it does."""
    n = len(buf)
    pos = start
    window = GRAPH_WINDOW
    while pos < n:
        end = min(n, pos + window)
        used = sc.feed(buf[pos:end], end >= n)
        if used == 0 and end < n:
            window *= 2
            continue
        window = GRAPH_WINDOW
        pos += used
        if after is not None:
            after()
        if progress is not None:
            progress(pos, n)
        if end >= n:
            break


def _drain_into(columns: dict, drain):
    """After each window: the scanner's objects and references so far, appended to the columns."""
    def after():
        for k, a in drain().items():
            columns[k].append(a)
    return after


def object_count(dump: HeapDump) -> int:
    """Objects the scan counted (instances, arrays and class objects): the graph's vertices."""
    raw = dump.scan.raw
    return int(raw["n_instances"]) + int(raw["n_objarrays"]) + int(raw["n_primarrays"]) + int(raw["n_classdumps"])


def build_graph(dump: HeapDump, workdir=None, progress=None, memory: int | None = None) -> HeapGraph:
    """One more pass over the dump (mapped; a compressed one is spilled once) into a HeapGraph.

    With ``memory`` (bytes) and a dump whose in-memory build would not fit in it, the build
    keeps its large arrays in work files (``dumpx.hprof.workspace``: unlinked memory-mapped files
    in ``workdir``, else ``$DUMPX_TMPDIR`` or the temporary directory): slower, within the budget.
    ``workdir`` alone moves the built graph's arrays into work files there, so that analyses of
    a huge heap do not hold them in RAM.
    """
    from .workspace import WorkSpace
    space = WorkSpace.for_budget(memory, object_count(dump), workdir)
    layout = dump.layout()
    ids, sizes, rs, rc, ro = _layout_arrays(dump, layout)
    prim = [0] * 12
    for t, es in ELEM_SIZE.items():
        prim[t] = layout.array_base(es)
    sc = Scanner(dump.header.id_size, -1, dump.snapshot)
    sc.offset = dump.header.length
    sc.set_graph(ids, sizes, rs, rc, ro, layout.array_base(layout.ref_size), layout.ref_size,
                 layout.align, prim)
    buf = dump.source.view().buffer
    phase = getattr(progress, "phase", None)
    if phase is not None:
        phase("object graph: references" + (" (work files)" if space.spill else ""))
    columns = after = None
    if space.spill:
        from .workspace import Column
        columns = {k: Column(space, dt) for k, dt in (("id", np.uint64), ("cls", np.int32), ("size", np.int64),
                                                     ("count", np.int32), ("dst", np.uint64))}
        after = _drain_into(columns, sc.graph_drain)
    try:
        _feed_graph(sc, buf, dump.header.length, progress, after)
    except ScanError as e:
        msg, off, expected = e.args
        dump.scan.problems.append(CorruptDumpError(msg, offset=off, expected=expected))
    if columns is not None:
        after()
    g = sc.graph_results()
    if columns is not None:
        g.update({k: c.array() for k, c in columns.items() if k not in ("size", "dst")})
    n = len(g["id"])
    if n == 0:
        raise CorruptDumpError("the heap dump holds no objects to build a graph from",
                               offset=dump.header.length, expected="heap dump records")
    vid = vertex_dtype(n + 1)
    order = np.argsort(g["id"], kind="stable")
    if space.spill:
        sorted_ids = space.array(n, np.uint64)
        for a in range(0, n, 1 << 24):
            sorted_ids[a:a + (1 << 24)] = g["id"][order[a:a + (1 << 24)]]
        order = space.copy(order, vid)
    else:
        order = order.astype(vid)
        sorted_ids = g["id"][order]
    root_records = _dense(g.pop("roots"), sorted_ids, order)
    kept = root_records >= 0
    root_info = {"root_vertex": root_records[kept], "root_kind": g.pop("root_kind")[kept],
                 "root_thread": g.pop("root_thread")[kept].astype(np.int64)}
    roots = np.unique(root_info["root_vertex"]).astype(vid)
    count = g.pop("count")
    if columns is None:
        indices, dangling = sc.graph_edges(sorted_ids, order, count, roots)
    else:
        dst = columns["dst"].array()
        indices = space.array(len(dst) + len(roots), vid)
        kept_refs, dangling = map_references(dst, sorted_ids, order, count, indices)
        del dst
        indices[kept_refs:kept_refs + len(roots)] = roots
        indices = indices[:kept_refs + len(roots)]
    del sc, order, sorted_ids
    # objects were emitted in order, so edges are already grouped by source; the virtual root
    # (vertex n) comes last, its edges (the GC roots) after every object's
    indptr = space.array(n + 2, np.int32 if len(indices) < 2**31 else np.int64, 0)
    np.cumsum(count, out=indptr[1:n + 1])
    indptr[n + 1] = indptr[n] + len(roots)
    del count
    if columns is not None:
        shallow = columns["size"].array(extra=1)
    else:
        size = g.pop("size")
        shallow = np.concatenate([size, np.zeros(1, size.dtype)])
        del size
    if phase is not None:
        phase(f"dominators of {n:,} objects" + (" (work files)" if space.spill else ""))
    idom, retained = dominators(indptr, indices, n, shallow, work=space if space.spill else None)
    arrays = {"ids": g["id"], "cls": g["cls"], "shallow": shallow, "indptr": indptr,
              "indices": indices, "idom": idom, "retained": retained, **root_info}
    if workdir is not None and not space.spill:
        moved = WorkSpace(spill=True, directory=workdir, spill_from=0)
        arrays = {k: moved.copy(v) for k, v in arrays.items()}
    hg = graph_from_arrays(dump, arrays, int(dangling))
    hg.space = space
    return hg


def graph_from_arrays(dump: HeapDump, arrays: dict[str, np.ndarray], dangling: int,
                      check: bool = False) -> HeapGraph:
    """A HeapGraph over arrays built here or read back from the dump's index (``check``: every
    vertex number in them is checked to be one, so that a damaged index is refused, not used)."""
    # plain array views of memory-mapped files: numpy's memmap subclass costs microseconds per slice
    arrays = {k: np.asarray(a) if isinstance(a, np.memmap) else a for k, a in arrays.items()}
    n = len(arrays["ids"])
    if not (len(arrays["cls"]) == n and len(arrays["shallow"]) == len(arrays["idom"]) ==
            len(arrays["retained"]) == len(arrays["indptr"]) - 1 == n + 1):
        raise CorruptDumpError("the graph's arrays disagree in length", offset=None,
                               expected="one entry per object (and one for the virtual root)")
    if check:
        ip = arrays["indptr"]
        bad = [k for k, a, lo in (("idom", arrays["idom"], -1), ("indices", arrays["indices"], 0),
                                  ("root_vertex", arrays.get("root_vertex"), 0),
                                  ("kids", arrays.get("kids"), 0), ("bfs", arrays.get("bfs"), -1))
               if a is not None and len(a) and (int(a.min()) < lo or int(a.max()) > n)]
        if int(ip[0]) != 0 or int(ip[-1]) != len(arrays["indices"]) or not bool((ip[1:] >= ip[:-1]).all()):
            bad.append("indptr")
        if bad:
            raise CorruptDumpError(f"the graph's {', '.join(bad)} name vertices that do not exist",
                                   offset=None, expected=f"vertices 0..{n}")
    hg = HeapGraph(dump, arrays["ids"], arrays["cls"], arrays["shallow"], arrays["indptr"],
                   arrays["indices"], arrays["idom"], arrays["retained"], dangling)
    hg._sorted = hg._order = None
    hg._names = dump.scan.class_names()
    hg.root_records = {k: arrays[k] for k in ("root_vertex", "root_kind", "root_thread") if k in arrays}
    if "kids" in arrays and len(arrays["kid_ptr"]) == n + 2 and int(arrays["kid_ptr"][-1]) == len(arrays["kids"]):
        hg._kids = (arrays["kid_ptr"], arrays["kids"])
    if "bfs" in arrays and len(arrays["bfs"]) == n + 1:
        hg._bfs = arrays["bfs"]
    return hg


def graph_findings(g: HeapGraph, top: int = 5):
    """The retainers: for the largest retained objects, where they accumulate and how they are
    held; and the histogram's biggest single object set next to the real retainer."""
    from ..findings import Evidence, Finding, Findings, Severity
    from ..render import human_bytes
    out = Findings()
    heap = int(g.retained[g.root]) or 1
    seen: set[int] = set()
    # candidates: the largest retainers that are objects (a class's statics: look at what they
    # hold instead), enough of them that the ones inside a chain already seen can be passed over
    k = max(50, 10 * top)
    cands = g.largest_retained(k, objects_only=True).tolist()
    tried = 0
    while len(seen) < top and tried < len(cands):
        v = cands[tried]
        tried += 1
        if tried == len(cands) and len(cands) == k and k < 1 << 14:
            k *= 4                         # every candidate so far sat in chains already seen
            cands = g.largest_retained(k, objects_only=True).tolist()
        ap = g.accumulation_point(v)
        if ap in seen or any(a in seen for a in g.dominator_chain(v)):
            continue
        seen.add(ap)
        kids = g.dominated(ap)
        path = g.path_to(ap)
        share = int(g.retained[ap]) / heap
        out.append(Finding(
            "hprof-accumulation", Severity.WARNING if share >= 0.2 and kids >= 1000 else Severity.NOTICE,
            f"{g.class_name(ap)} 0x{int(g.ids[ap]):x} retains {human_bytes(int(g.retained[ap]))} "
            f"({share:.0%} of the reachable heap) "
            + (f"over {kids:,} objects it dominates" if kids else "in itself: it dominates no other object"),
            [Evidence("object id", int(g.ids[ap]), hex=True), Evidence("class", g.class_name(ap)),
             Evidence("shallow bytes", int(g.shallow[ap])), Evidence("retained bytes", int(g.retained[ap])),
             Evidence("dominated objects", kids),
             Evidence("path from GC roots", " -> ".join(f"{s['via']}: {s['class_name']}" for s in path))],
            ["many small objects under one collection is accumulation: find who adds to it and "
             "why nothing removes (cache without eviction, listener never unregistered)"
             if kids >= 1000 else
             "one object holds this memory: check whether it is in-flight work" if kids == 0 else
             f"{kids} objects under one owner: follow the path above to the code that fills it"]))
    sizes = g.shallow[:-1]
    big = int(np.argmax(sizes))
    top_ret = cands[:50]
    if top_ret:
        acc = max((g.accumulation_point(v) for v in top_ret), key=g.dominated)
        if acc != big:
            out.append(Finding(
                "hprof-biggest-vs-retainer", Severity.NOTICE,
                f"the biggest single object ({g.class_name(big)}, {human_bytes(int(sizes[big]))}) is not "
                f"where memory accumulates ({g.class_name(acc)} over "
                f"{g.dominated(acc):,} objects)",
                [Evidence("biggest object id", int(g.ids[big]), hex=True),
                 Evidence("biggest object bytes", int(sizes[big])),
                 Evidence("held by", " -> ".join(s["class_name"] for s in g.path_to(big)[-3:])),
                 Evidence("accumulation point id", int(g.ids[acc]), hex=True),
                 Evidence("accumulation retained bytes", int(g.retained[acc]))],
                ["a big buffer is often in-flight work; the collection that keeps growing is the leak: "
                 "compare two dumps (dumpx hprof histo --diff)"]))
    un = g.unreachable()
    if len(un):
        out.append(Finding("hprof-unreachable", Severity.INFO,
                           f"{len(un):,} objects ({human_bytes(int(g.shallow[un].sum()))}) are unreachable "
                           "from every GC root: garbage at dump time, left out of retained sizes",
                           [Evidence("objects", int(len(un))), Evidence("bytes", int(g.shallow[un].sum()))], []))
    return out
