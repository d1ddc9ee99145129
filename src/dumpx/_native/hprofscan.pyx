# cython: language_level=3
"""One streaming pass over HPROF records.

``Scanner.feed(buf, at_eof)`` consumes as many whole records from ``buf`` as it can and
returns how many bytes it used; the caller carries the rest over to the next call. Every
read is preceded by a check against the end of the buffer and against the length of the
enclosing heap-dump record; lengths from the dump never size an allocation on their own.

What it collects is per class and per array type (counts, element counts, element-count
residues mod 64 so that aligned sizes can be computed for any layout afterwards), the class
dumps' field layouts, names, the largest objects and a sample of the first objects for
layout inference. Never anything per heap object.
"""

cimport cython
from libc.stdint cimport uint8_t, uint32_t, uint64_t, int64_t, int32_t
from libc.stdlib cimport malloc, calloc, realloc, free
from libc.string cimport memcpy, memset
from cython.view cimport array as cvarray

import numpy as np

ctypedef fused vid_t:            # vertex ids of the object graph
    int32_t
    int64_t

DEF MOD = 64
DEF TOPK = 64
DEF SAMPLE = 262144
DEF MAX_NAME = 1 << 20
DEF MAX_HEAPS = 16
DEF MAX_CLASSES = 4194304         # distinct class ids; real heaps have well under a million
DEF MAX_OA_SLOTS = 1048576        # distinct object-array classes
DEF BLOCK_MIN = 65536            # heap bytes per block of the object index (at least)
DEF FETCH_MAX = 1 << 24           # a fetched object's record is copied only up to this size

cdef enum:
    NEED_MORE = 0

# sizes of HPROF basic types; 2 (object) is the id size and is filled in per scanner
cdef int[12] BASIC_SIZE = [0, 0, 0, 0, 1, 2, 4, 8, 1, 2, 4, 8]

# top-level tags HotSpot, the hprof agent and Android write
cdef bint is_top_tag(int t) noexcept nogil:
    return (0x01 <= t <= 0x0E) or t == 0x1C or t == 0x2C


# ---------------------------------------------------------------- id map and vectors

cdef int idmap_init(IdMap* m, int64_t cap) except -1:
    m.cap = cap
    m.used = 0
    m.keys = <uint64_t*>calloc(cap, sizeof(uint64_t))
    m.vals = <int32_t*>calloc(cap, sizeof(int32_t))
    if m.keys == NULL or m.vals == NULL:
        raise MemoryError()
    return 0


cdef void idmap_free(IdMap* m) noexcept nogil:
    free(m.keys)
    free(m.vals)
    m.keys = NULL
    m.vals = NULL


cdef inline uint64_t _mix(uint64_t k) noexcept nogil:
    k ^= k >> 33
    k *= <uint64_t>0xff51afd7ed558ccd
    k ^= k >> 33
    return k


cdef int32_t idmap_get(IdMap* m, uint64_t key) noexcept nogil:
    """Value for ``key`` or -1. Key 0 is never stored (it is HPROF's null id)."""
    cdef uint64_t mask = <uint64_t>(m.cap - 1)
    cdef uint64_t i = _mix(key) & mask
    while m.keys[i] != 0:
        if m.keys[i] == key:
            return m.vals[i]
        i = (i + 1) & mask
    return -1


cdef int idmap_put(IdMap* m, uint64_t key, int32_t val) except -1:
    cdef uint64_t mask, i
    cdef IdMap bigger
    cdef int64_t j
    if (m.used + 1) * 2 > m.cap:
        idmap_init(&bigger, m.cap * 2)
        for j in range(m.cap):
            if m.keys[j] != 0:
                idmap_put(&bigger, m.keys[j], m.vals[j])
        idmap_free(m)
        m[0] = bigger
    mask = <uint64_t>(m.cap - 1)
    i = _mix(key) & mask
    while m.keys[i] != 0 and m.keys[i] != key:
        i = (i + 1) & mask
    if m.keys[i] == 0:
        m.used += 1
    m.keys[i] = key
    m.vals[i] = val
    return 0


cdef int vec_reserve(I64Vec* v, int64_t n) except -1:
    cdef int64_t cap
    cdef int64_t* d
    if n <= v.cap:
        return 0
    cap = v.cap * 2 if v.cap else 64
    while cap < n:
        cap *= 2
    # the new room is not zeroed: only [0, n) is ever read, and untouched pages of a doubled
    # graph vector stay out of memory (a 128 M-edge vector grown to 256 M would otherwise
    # make the whole second half resident)
    d = <int64_t*>realloc(v.data, cap * sizeof(int64_t))
    if d == NULL:
        raise MemoryError()
    v.data = d
    v.cap = cap
    return 0


cdef int vec_push(I64Vec* v, int64_t x) except -1:
    if v.n >= v.cap:
        vec_reserve(v, v.n + 1)
    v.data[v.n] = x
    v.n += 1
    return 0


cdef void vec_free(I64Vec* v) noexcept nogil:
    free(v.data)
    v.data = NULL
    v.n = 0
    v.cap = 0


cdef int64_t blob_append(ByteBlob* b, const uint8_t* p, int64_t n) except -1:
    """Append ``n`` bytes; return the offset they start at."""
    cdef int64_t cap, at = b.n
    cdef uint8_t* d
    if b.n + n > b.cap:
        cap = b.cap if b.cap else 1 << 16
        while b.n + n > cap:
            cap *= 2
        d = <uint8_t*>realloc(b.data, cap)
        if d == NULL:
            raise MemoryError()
        b.data = d
        b.cap = cap
    if n:
        memcpy(b.data + b.n, p, n)
    b.n += n
    return at


cdef object vec_take(I64Vec* v):
    """The vector as a numpy array that owns its buffer (shrunk to its length): no copy, and the
    vector is left empty. For the per-class columns and the graph's edge lists, which a dump can
    make millions or billions long: handing them over halves the peak a copy would need."""
    cdef int64_t* d
    cdef cvarray a
    if v.n == 0:
        vec_free(v)
        return np.zeros(0, dtype=np.int64)
    d = <int64_t*>realloc(v.data, v.n * sizeof(int64_t))
    if d == NULL:
        d = v.data
    a = cvarray(shape=(v.n,), itemsize=sizeof(int64_t), format="q", mode="c", allocate_buffer=False)
    a.data = <char*>d
    a.callback_free_data = free
    v.data = NULL
    v.n = 0
    v.cap = 0
    return np.asarray(a)


cdef object vec_array(I64Vec* v):
    out = np.empty(v.n, dtype=np.int64)
    cdef int64_t[::1] o = out
    if v.n:
        memcpy(&o[0], v.data, v.n * sizeof(int64_t))
    return out


# ---------------------------------------------------------------- big-endian reads
# Callers check the bytes are there first.

cdef inline uint32_t be4(const uint8_t* p) noexcept nogil:
    return (<uint32_t>p[0] << 24) | (<uint32_t>p[1] << 16) | (<uint32_t>p[2] << 8) | p[3]


cdef inline uint64_t be8(const uint8_t* p) noexcept nogil:
    return (<uint64_t>be4(p) << 32) | be4(p + 4)


cdef inline int64_t find_id(const uint64_t[::1] sorted_ids, int64_t ns, uint64_t x) noexcept nogil:
    """Position of ``x`` in ``sorted_ids`` (``ns`` long, bounds checked by the caller), or ``ns``."""
    cdef int64_t lo = 0, hi = ns, mid
    while lo < hi:
        mid = (lo + hi) >> 1
        if sorted_ids[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo if lo < ns and sorted_ids[lo] == x else ns


cdef int check_vertices(const uint64_t[::1] sorted_ids, const vid_t[::1] order, int64_t n) except -1:
    cdef int64_t j
    if order.shape[0] != sorted_ids.shape[0]:
        raise ValueError("sorted ids and their order differ in length")
    for j in range(order.shape[0]):
        if order[j] < 0 or order[j] >= n:
            raise ValueError("order names a vertex outside the objects")
    return 0


@cython.boundscheck(False)
@cython.wraparound(False)
cdef int64_t map_into(const uint64_t[::1] dst, const uint64_t[::1] sorted_ids, const vid_t[::1] order,
                      int32_t[::1] count, vid_t[::1] out, int64_t* dangling) except -1:
    """Each id of ``dst`` as its vertex in ``out``, dropping ids not in the dump (``count``
    lowered for their source, ``dangling`` counted); returns how many were kept. ``out`` may be
    ``dst``'s own memory: each slot is read before anything at or after it is written."""
    cdef int64_t m = dst.shape[0], n = count.shape[0], ns = sorted_ids.shape[0]
    cdef int64_t k = 0, w = 0, j, c, total = 0, at
    if out.shape[0] < m:
        raise ValueError("the output is shorter than the references")
    for j in range(n):
        if count[j] < 0:
            raise ValueError("negative reference count")
        total += count[j]
    if total != m:
        raise ValueError(f"reference counts add up to {total}, not the {m} references given")
    check_vertices(sorted_ids, order, n)
    for j in range(n):
        c = k + count[j]
        while k < c:
            at = find_id(sorted_ids, ns, dst[k])
            k += 1
            if at < ns:
                out[w] = order[at]
                w += 1
            else:
                count[j] -= 1
                dangling[0] += 1
    return w


def map_references(const uint64_t[::1] dst, const uint64_t[::1] sorted_ids, const vid_t[::1] order,
                   int32_t[::1] count, vid_t[::1] out):
    """``Scanner.graph_edges`` for references kept outside the scanner (in work files, under a
    memory budget): returns (kept, dangling), the kept vertices at the front of ``out``."""
    cdef int64_t dangling = 0
    kept = map_into(dst, sorted_ids, order, count, out, &dangling)
    return kept, dangling


class ScanError(Exception):
    """(message, offset, expected): raised where the structure cannot be read past."""


# per-class columns, one I64Vec each, indexed by dense class index: every class id an object
# names, dumped or not (a crafted dump can name a million classes with 25 bytes each)
cdef enum ClassCol:
    C_ID, C_DUMPROW, C_ICOUNT, C_IBYTES, C_OACOUNT, C_OAELEMS, C_OASLOT, C_OAMAX, C_NCOLS

# per-CLASS-DUMP columns, one row per dumped class (its C_DUMPROW)
cdef enum DumpCol:
    D_CLASS, D_SUPER, D_LOADER, D_INSTSIZE, D_FSTART, D_FCOUNT, D_SSTART, D_SCOUNT, D_DUMPOFF, D_NCOLS


@cython.final
cdef class Scanner:
    """Incremental HPROF record scanner (histogram mode)."""

    cdef public int id_size
    cdef public int64_t offset          # absolute offset of the next unconsumed byte
    cdef public int64_t file_size       # -1 when unknown (compressed stream)
    cdef int in_heap
    cdef int heap_tag
    cdef public int64_t heap_start
    cdef int64_t heap_left              # bytes left in the current heap-dump record; -1 = unbounded
    cdef int64_t skip                   # payload bytes still to skip
    cdef public int64_t length_wraps
    cdef public int64_t zero_length_heap_records
    cdef public int64_t heap_records
    cdef int64_t last_kind, last_cls, last_n, last_raw   # the last object counted (its payload may be missing)
    cdef int taken                                       # results() has handed the class columns over
    cdef public int64_t n_instances, n_objarrays, n_primarrays, n_classdumps
    cdef public int cur_heap
    cdef public int snapshot_wanted      # which heap dump in the file to count (0 = first)
    cdef public int snapshots            # heap dumps seen so far
    cdef int counting
    cdef int heap_closed

    cdef IdMap classes
    cdef I64Vec cols[<int>C_NCOLS]
    cdef I64Vec dcols[<int>D_NCOLS]
    cdef I64Vec oa_mod                 # MOD counters per object-array slot
    cdef int64_t n_oa_slots
    cdef int64_t[12] pa_count
    cdef int64_t[12] pa_elems
    cdef int64_t[12] pa_max
    cdef int64_t[12 * MOD] pa_mod
    cdef int64_t[256] top_counts
    cdef int64_t[256] sub_counts
    cdef I64Vec unknown_tags           # (offset, tag) pairs
    cdef I64Vec field_types, field_names
    cdef I64Vec static_names, static_types, static_values
    cdef I64Vec utf8_ids, utf8_off, utf8_len
    cdef ByteBlob blob
    cdef I64Vec lc_serial, lc_class, lc_name
    cdef I64Vec heap_ids, heap_names
    cdef int64_t[MAX_HEAPS] heap_objects
    # largest objects: id, kind (0 instance, 1 object array, 2 primitive array), class or type, n, raw bytes
    cdef int64_t[TOPK * 5] top
    cdef int n_top
    cdef int top_low
    cdef int64_t top_min
    cdef int64_t[SAMPLE * 4] sample
    cdef int64_t n_sample
    cdef bint graph                    # emit objects, references and roots (whole records needed)
    cdef IdMap gclass                  # class id -> index into the layout arrays below
    cdef object g_keep                 # the numpy arrays the pointers below point into
    cdef const int64_t* g_size
    cdef const int64_t* g_ref_start
    cdef const int64_t* g_ref_count
    cdef const int32_t* g_refoff
    cdef int64_t g_nrefoff
    cdef int64_t g_oa_base, g_ref_size, g_align
    cdef int64_t[12] g_prim_base
    cdef I64Vec e_id, e_cls, e_size, e_cnt, e_dst, e_root, e_rkind, e_rthread
    # the block index: every ~block_size bytes of heap data, where a sub-record starts (offset,
    # bytes left in its heap record and that record's tag) and the lowest and highest object id
    # of the block, so that an object can later be read by parsing one block, not the file
    cdef I64Vec blk_off, blk_left, blk_tag, blk_min, blk_max
    cdef int64_t blk_next
    cdef public int64_t block_size
    cdef IdMap fetch                   # ids whose whole records are to be copied out
    cdef int64_t fetch_n
    cdef ByteBlob fblob
    cdef I64Vec f_id, f_off, f_len

    def __cinit__(self, int id_size, int64_t file_size=-1, int snapshot=0):
        cdef int i
        if id_size != 4 and id_size != 8:
            raise ValueError("id size must be 4 or 8")
        self.id_size = id_size
        self.file_size = file_size
        self.offset = 0
        self.last_kind = -1
        idmap_init(&self.classes, 1024)
        self.cur_heap = 0
        self.snapshot_wanted = snapshot
        self.snapshots = 0
        self.counting = 0
        idmap_init(&self.fetch, 16)
        idmap_init(&self.gclass, 16)
        self.block_size = BLOCK_MIN
        if file_size > (<int64_t>BLOCK_MIN) * 1048576:       # at most ~1 M blocks
            self.block_size = file_size // 1048576
        self.blk_next = 0

    def __dealloc__(self):
        cdef int i
        idmap_free(&self.classes)
        for i in range(<int>C_NCOLS):
            vec_free(&self.cols[i])
        for i in range(<int>D_NCOLS):
            vec_free(&self.dcols[i])
        vec_free(&self.oa_mod)
        vec_free(&self.unknown_tags)
        vec_free(&self.field_types)
        vec_free(&self.field_names)
        vec_free(&self.static_names)
        vec_free(&self.static_types)
        vec_free(&self.static_values)
        vec_free(&self.utf8_ids)
        vec_free(&self.utf8_off)
        vec_free(&self.utf8_len)
        vec_free(&self.lc_serial)
        vec_free(&self.lc_class)
        vec_free(&self.lc_name)
        vec_free(&self.heap_ids)
        vec_free(&self.heap_names)
        free(self.blob.data)
        idmap_free(&self.fetch)
        idmap_free(&self.gclass)
        vec_free(&self.e_id)
        vec_free(&self.e_cls)
        vec_free(&self.e_size)
        vec_free(&self.e_cnt)
        vec_free(&self.e_dst)
        vec_free(&self.e_root)
        vec_free(&self.e_rkind)
        vec_free(&self.e_rthread)
        free(self.fblob.data)
        vec_free(&self.f_id)
        vec_free(&self.f_off)
        vec_free(&self.f_len)
        vec_free(&self.blk_off)
        vec_free(&self.blk_left)
        vec_free(&self.blk_tag)
        vec_free(&self.blk_min)
        vec_free(&self.blk_max)

    def resume(self, int64_t offset, int64_t heap_left, int heap_tag):
        """Start inside a heap record at a sub-record boundary that the block index recorded (the
        object reader parses one block instead of the whole file). Counts nothing: fetch only."""
        self.offset = offset
        self.in_heap = 1
        self.heap_left = heap_left
        self.heap_tag = heap_tag
        self.counting = 1
        self.snapshots = self.snapshot_wanted + 1    # a later heap dump is not counted
        self.heap_closed = 0
        self.blk_next = -1

    cdef int checkpoint(self, int64_t at) except -1:
        vec_push(&self.blk_off, at)
        vec_push(&self.blk_left, self.heap_left)
        vec_push(&self.blk_tag, self.heap_tag)
        vec_push(&self.blk_min, -1)
        vec_push(&self.blk_max, 0)
        self.blk_next = at + self.block_size
        return 0

    def set_fetch(self, ids):
        """Copy out the whole records of these object ids during the pass (see ``fetched``)."""
        cdef uint64_t k
        for k in np.asarray(ids, dtype=np.uint64).tolist():
            if k != 0:
                idmap_put(&self.fetch, k, 1)
                self.fetch_n += 1

    def set_graph(self, class_ids, sizes, ref_start, ref_count, ref_offsets, int64_t oa_base,
                  int64_t ref_size, int64_t align, prim_base):
        """Emit the object graph during the pass: per class (by id) its instance size and the
        byte offsets of its reference fields (superclasses included) in the instance data."""
        cdef int64_t i, n
        ids = np.ascontiguousarray(class_ids, dtype=np.uint64)
        sz = np.ascontiguousarray(sizes, dtype=np.int64)
        rs = np.ascontiguousarray(ref_start, dtype=np.int64)
        rc = np.ascontiguousarray(ref_count, dtype=np.int64)
        ro = np.ascontiguousarray(ref_offsets, dtype=np.int32)
        n = len(ids)
        if not (len(sz) == len(rs) == len(rc) == n) or (n and (rs.min() < 0 or rc.min() < 0
                                                                or (rs + rc).max() > len(ro))):
            raise ValueError("class layout arrays disagree")
        self.g_keep = (sz, rs, rc, ro if len(ro) else np.zeros(1, np.int32))
        cdef const int64_t[::1] a = self.g_keep[0]
        cdef const int64_t[::1] b = self.g_keep[1]
        cdef const int64_t[::1] c = self.g_keep[2]
        cdef const int32_t[::1] d = self.g_keep[3]
        self.g_size = &a[0] if n else NULL
        self.g_ref_start = &b[0] if n else NULL
        self.g_ref_count = &c[0] if n else NULL
        self.g_refoff = &d[0]
        self.g_nrefoff = len(ro)
        for i in range(n):
            idmap_put(&self.gclass, <uint64_t>ids[i] if ids[i] else <uint64_t>0xFFFFFFFFFFFFFFFF, <int32_t>i)
        self.g_oa_base, self.g_ref_size, self.g_align = oa_base, ref_size, align
        for i in range(12):
            self.g_prim_base[i] = prim_base[i]
        self.graph = True

    def graph_results(self):
        """The emitted objects as numpy arrays: ``id`` (uint64), ``cls`` (int32), ``size``
        (uint32 where every size fits, else int64), ``count`` (int32: each object's references,
        in emission order), ``roots`` (uint64 ids, one per root record) with ``root_kind`` (the
        record's tag) and ``root_thread`` (its thread serial, -1 if it has none). The references stay here for
        ``graph_edges``, which turns them into vertices in place. Each vector is freed as soon as
        it is copied, so the peak is the vectors plus one column."""
        out = {}
        out["id"] = vec_take(&self.e_id).view(np.uint64)
        out["cls"] = vec_take(&self.e_cls).astype(np.int32)
        size = vec_take(&self.e_size)
        out["size"] = size.astype(np.uint32) if not len(size) or int(size.max()) < 2**32 else size
        del size
        out["count"] = vec_take(&self.e_cnt).astype(np.int32)
        out["roots"] = vec_take(&self.e_root).view(np.uint64)
        out["root_kind"] = vec_take(&self.e_rkind).astype(np.int16)
        out["root_thread"] = vec_take(&self.e_rthread)
        return out

    def graph_drain(self):
        """The objects and raw references emitted since the last drain (``id``, ``cls``, ``size``
        int64, ``count``, ``dst`` uint64 ids), handed over and forgotten: a caller under a memory
        budget appends them to work files after each window, so the scanner never holds the graph.
        Safe between feeds, which consume whole records only."""
        return {"id": vec_take(&self.e_id).view(np.uint64), "cls": vec_take(&self.e_cls).astype(np.int32),
                "size": vec_take(&self.e_size), "count": vec_take(&self.e_cnt).astype(np.int32),
                "dst": vec_take(&self.e_dst).view(np.uint64)}

    @cython.boundscheck(False)
    @cython.wraparound(False)
    def graph_edges(self, const uint64_t[::1] sorted_ids, const vid_t[::1] order,
                    int32_t[::1] count, const vid_t[::1] roots):
        """The references as vertices (in the width of ``order``: int32, or int64 for 2**31
        objects or more), the root edges after them: each id is looked up in ``sorted_ids``
        (``order`` gives its vertex) and written over the front of its own 8-byte slot, so no
        second edge array is ever allocated; references to ids not in the dump are dropped and
        ``count`` lowered for their source. Returns (indices, dangling)."""
        cdef int64_t m = self.e_dst.n, n = count.shape[0], r = roots.shape[0], w, j, dangling = 0
        cdef int64_t* d = self.e_dst.data
        cdef vid_t* out
        for j in range(r):
            if roots[j] < 0 or roots[j] >= n:
                raise ValueError("a root names a vertex outside the objects")
        cdef const uint64_t[::1] ids_in
        cdef vid_t[::1] vertices_out
        if m:                                  # the same memory, read as ids and written as vertices
            ids_in = <uint64_t[:m]><uint64_t*>d
            vertices_out = <vid_t[:m]><vid_t*>d
        else:
            ids_in = np.zeros(0, np.uint64)
            vertices_out = np.zeros(0, np.int32 if vid_t is int32_t else np.int64)
        w = map_into(ids_in, sorted_ids, order, count, vertices_out, &dangling)
        ids_in = None
        vertices_out = None
        out = <vid_t*>realloc(d, max(w + r, 1) * sizeof(vid_t))
        if out == NULL:
            raise MemoryError()
        for j in range(r):
            out[w + j] = roots[j]
        self.e_dst.data = NULL
        self.e_dst.n = 0
        self.e_dst.cap = 0
        cdef cvarray a = cvarray(shape=(max(w + r, 1),), itemsize=sizeof(vid_t),
                                 format="i" if vid_t is int32_t else "q", mode="c", allocate_buffer=False)
        a.data = <char*>out
        a.callback_free_data = free
        return np.asarray(a)[:w + r], dangling

    cdef inline int64_t aligned(self, int64_t x) noexcept:
        return (x + self.g_align - 1) // self.g_align * self.g_align

    cdef int emit(self, uint64_t oid, int64_t cls, int64_t size) except -1:
        vec_push(&self.e_id, <int64_t>oid)
        vec_push(&self.e_cls, cls)
        vec_push(&self.e_size, size)
        vec_push(&self.e_cnt, 0)
        return 0

    cdef int edge(self, uint64_t dst) except -1:
        if dst != 0 and self.e_cnt.n:
            self.e_cnt.data[self.e_cnt.n - 1] += 1
            vec_push(&self.e_dst, <int64_t>dst)
        return 0

    cdef int64_t graph_instance(self, const uint8_t* p, int64_t need, int64_t avail) except -1:
        """An INSTANCE DUMP whose payload is in the buffer: the object, its class, its references."""
        cdef int ids = self.id_size
        cdef uint64_t oid = self.rid(p + 1), cid = self.rid(p + 1 + ids + 4)
        cdef int64_t n = be4(p + 1 + 2 * ids + 4), k, off
        cdef int32_t gi
        cdef const uint8_t* data = p + need
        if avail < need + n:
            return NEED_MORE
        gi = idmap_get(&self.gclass, cid if cid else <uint64_t>0xFFFFFFFFFFFFFFFF)
        self.emit(oid, gi, self.g_size[gi] if gi >= 0 else self.aligned(12 + n))
        self.edge(cid)
        if gi >= 0:
            for k in range(self.g_ref_count[gi]):
                off = self.g_refoff[self.g_ref_start[gi] + k]
                if 0 <= off and off + ids <= n:
                    self.edge(self.rid(data + off))
        return need + n

    cdef int64_t graph_objarray(self, const uint8_t* p, int64_t need, int64_t avail) except -1:
        cdef int ids = self.id_size
        cdef uint64_t oid = self.rid(p + 1), cid = self.rid(p + 1 + ids + 8)
        cdef int64_t n = be4(p + 1 + ids + 4), k
        cdef int32_t gi
        if avail < need + n * ids:
            return NEED_MORE
        gi = idmap_get(&self.gclass, cid if cid else <uint64_t>0xFFFFFFFFFFFFFFFF)
        self.emit(oid, gi, self.aligned(self.g_oa_base + n * self.g_ref_size))
        self.edge(cid)
        for k in range(n):
            self.edge(self.rid(p + need + k * ids))
        return need + n * ids

    def fetched(self):
        """{id: record bytes (tag included)} for the fetched objects that were found."""
        out = {}
        cdef int64_t i
        for i in range(self.f_id.n):
            out[<uint64_t>self.f_id.data[i]] = bytes((<char*>self.fblob.data)[self.f_off.data[i]:self.f_off.data[i] + self.f_len.data[i]])
        return out

    cdef inline int64_t payload(self, uint64_t oid, const uint8_t* p, int64_t need, int64_t size,
                                int64_t avail) except -1:
        """After an object's header: copy the whole record out if its id is fetched, else
        leave its ``size`` payload bytes to be skipped. Returns the bytes to consume now."""
        cdef int64_t r
        if self.counting and self.fetch_n:
            r = self.take(oid, p, need, size, avail)
            if r == NEED_MORE:
                return NEED_MORE
            if r > 0:
                self.skip = 0
                return r
        self.skip = size
        return need

    cdef int64_t take(self, uint64_t oid, const uint8_t* p, int64_t need, int64_t payload,
                      int64_t avail) except -1:
        """If ``oid`` is to be fetched, copy its record: return its length, NEED_MORE, or -2."""
        cdef int64_t total = need + payload
        if self.fetch_n == 0 or payload > FETCH_MAX or idmap_get(&self.fetch, oid) < 0:
            return -2
        if avail < total:
            return NEED_MORE
        vec_push(&self.f_off, blob_append(&self.fblob, p, total))
        vec_push(&self.f_id, <int64_t>oid)
        vec_push(&self.f_len, total)
        return total

    # ------------------------------------------------------------ helpers

    cdef inline uint64_t rid(self, const uint8_t* p) noexcept nogil:
        if self.id_size == 8:
            return be8(p)
        return be4(p)

    cdef int64_t class_index(self, uint64_t cid) except -2:
        cdef uint64_t key = cid if cid != 0 else <uint64_t>0xFFFFFFFFFFFFFFFF
        cdef int32_t idx = idmap_get(&self.classes, key)
        cdef int i
        if idx >= 0:
            return idx
        if self.cols[<int>C_ID].n >= MAX_CLASSES:
            self.fail("more than 4194304 distinct class ids", self.offset,
                      "a plausible number of classes (the dump is corrupt or crafted)")
        idx = <int32_t>self.cols[<int>C_ID].n
        idmap_put(&self.classes, key, idx)
        for i in range(<int>C_NCOLS):
            vec_push(&self.cols[i], 0)
        self.cols[<int>C_ID].data[idx] = <int64_t>cid
        self.cols[<int>C_OASLOT].data[idx] = -1
        self.cols[<int>C_DUMPROW].data[idx] = -1
        return idx

    cdef inline int note_object(self, uint64_t oid, int kind, int64_t cls, int64_t n, int64_t raw) except -1:
        cdef int i, low
        cdef int64_t* s
        self.last_kind = kind
        self.last_cls = cls
        self.last_n = n
        self.last_raw = raw
        i = self.blk_min.n - 1
        if i >= 0:
            if oid < <uint64_t>self.blk_min.data[i]:
                self.blk_min.data[i] = <int64_t>oid
            if oid > <uint64_t>self.blk_max.data[i]:
                self.blk_max.data[i] = <int64_t>oid
        if self.n_sample < SAMPLE:
            s = &self.sample[self.n_sample * 4]
            s[0] = <int64_t>oid
            s[1] = kind
            s[2] = cls
            s[3] = n
            self.n_sample += 1
        if self.cur_heap < MAX_HEAPS:
            self.heap_objects[self.cur_heap] += 1
        if self.n_top < TOPK:
            i = self.n_top
            self.n_top += 1
        elif raw <= self.top_min:
            return 0
        else:
            i = self.top_low
        self.top[i * 5] = <int64_t>oid
        self.top[i * 5 + 1] = kind
        self.top[i * 5 + 2] = cls
        self.top[i * 5 + 3] = n
        self.top[i * 5 + 4] = raw
        if self.n_top == TOPK:
            low = 0
            for i in range(1, TOPK):
                if self.top[i * 5 + 4] < self.top[low * 5 + 4]:
                    low = i
            self.top_low = low
            self.top_min = self.top[low * 5 + 4]
        return 0

    cdef int store_utf8(self, uint64_t sid, const uint8_t* p, int64_t n) except -1:
        if n > MAX_NAME:
            n = MAX_NAME
        vec_push(&self.utf8_off, blob_append(&self.blob, p, n))
        vec_push(&self.utf8_ids, <int64_t>sid)
        vec_push(&self.utf8_len, n)
        return 0

    cdef int fail(self, str what, int64_t at, str expected) except -1:
        raise ScanError(what, at, expected)

    # ------------------------------------------------------------ sub-records

    cdef int64_t class_dump(self, const uint8_t* p, int64_t avail, int64_t at) except -1:
        """Parse a CLASS DUMP starting after its tag; return bytes used or NEED_MORE."""
        cdef int ids = self.id_size
        cdef int64_t q = 0, idx, k
        cdef uint64_t cid, sup, loader
        cdef uint32_t isize
        cdef int n, i, t, sz
        cdef int64_t fstart, sstart, row
        if avail < 7 * ids + 8 + 2:
            return NEED_MORE
        cid = self.rid(p)
        sup = self.rid(p + ids + 4)
        loader = self.rid(p + 2 * ids + 4)
        q = 7 * ids + 4
        isize = be4(p + q)
        q += 4
        n = (p[q] << 8) | p[q + 1]
        q += 2
        for i in range(n):                      # constant pool: u2 index, u1 type, value
            if q + 3 > avail:
                return NEED_MORE
            t = p[q + 2]
            if t < 2 or t > 11 or t == 3:
                self.fail("CLASS DUMP constant pool entry has an invalid basic type", at + q + 2,
                          "a basic type 2 or 4..11")
            sz = ids if t == 2 else BASIC_SIZE[t]
            q += 3 + sz
        if q + 2 > avail:
            return NEED_MORE
        n = (p[q] << 8) | p[q + 1]
        q += 2
        sstart = self.static_names.n
        for i in range(n):                      # statics: id name, u1 type, value
            if q + ids + 1 > avail:
                return NEED_MORE
            t = p[q + ids]
            if t < 2 or t > 11 or t == 3:
                self.fail("CLASS DUMP static field has an invalid basic type", at + q + ids,
                          "a basic type 2 or 4..11")
            sz = ids if t == 2 else BASIC_SIZE[t]
            if q + ids + 1 + sz > avail:
                return NEED_MORE
            q += ids + 1 + sz
        if q + 2 > avail:
            return NEED_MORE
        n = (p[q] << 8) | p[q + 1]
        if q + 2 + <int64_t>n * (ids + 1) > avail:
            return NEED_MORE
        if not self.counting:
            return q + 2 + <int64_t>n * (ids + 1)
        # complete: now record it (second pass over statics so nothing is stored twice)
        idx = self.class_index(cid)
        k = 7 * ids + 4 + 4
        n = (p[k] << 8) | p[k + 1]
        k += 2
        for i in range(n):
            t = p[k + 2]
            k += 3 + (ids if t == 2 else BASIC_SIZE[t])
        n = (p[k] << 8) | p[k + 1]
        k += 2
        sstart = self.static_names.n
        for i in range(n):
            t = p[k + ids]
            sz = ids if t == 2 else BASIC_SIZE[t]
            vec_push(&self.static_names, <int64_t>self.rid(p + k))
            vec_push(&self.static_types, t)
            if sz == 8:
                vec_push(&self.static_values, <int64_t>be8(p + k + ids + 1))
            elif sz == 4:
                vec_push(&self.static_values, be4(p + k + ids + 1))
            elif sz == 2:
                vec_push(&self.static_values, (p[k + ids + 1] << 8) | p[k + ids + 2])
            else:
                vec_push(&self.static_values, p[k + ids + 1])
            k += ids + 1 + sz
        n = (p[k] << 8) | p[k + 1]
        k += 2
        fstart = self.field_names.n
        for i in range(n):
            t = p[k + ids]
            if t < 2 or t > 11 or t == 3:
                self.fail("CLASS DUMP instance field has an invalid basic type", at + k + ids,
                          "a basic type 2 or 4..11")
            vec_push(&self.field_names, <int64_t>self.rid(p + k))
            vec_push(&self.field_types, t)
            k += ids + 1
        if self.graph:
            self.emit(cid, -1, 0)
            self.edge(sup)
            self.edge(loader)
            for i in range(sstart, self.static_names.n):
                if self.static_types.data[i] == 2:
                    self.edge(<uint64_t>self.static_values.data[i])
        row = self.cols[<int>C_DUMPROW].data[idx]
        if row < 0:                  # a second dump of the same class keeps the latest layout
            row = self.dcols[<int>D_CLASS].n
            for i in range(<int>D_NCOLS):
                vec_push(&self.dcols[i], 0)
            self.cols[<int>C_DUMPROW].data[idx] = row
        self.dcols[<int>D_CLASS].data[row] = idx
        self.dcols[<int>D_SUPER].data[row] = <int64_t>sup
        self.dcols[<int>D_LOADER].data[row] = <int64_t>loader
        self.dcols[<int>D_INSTSIZE].data[row] = isize
        self.dcols[<int>D_FSTART].data[row] = fstart
        self.dcols[<int>D_FCOUNT].data[row] = n
        self.dcols[<int>D_SSTART].data[row] = sstart
        self.dcols[<int>D_SCOUNT].data[row] = self.static_names.n - sstart
        self.dcols[<int>D_DUMPOFF].data[row] = at - 1
        self.n_classdumps += 1
        return k

    cdef int64_t sub_record(self, const uint8_t* p, int64_t avail, int64_t at) except -1:
        """One heap-dump sub-record at ``p`` (tag included). Returns bytes used, or NEED_MORE.

        Large payloads (array data, instance fields) are left to ``self.skip``.
        """
        cdef int ids = self.id_size
        cdef int tag = p[0]
        cdef int64_t need = 0, idx, n, es, r, slot, first
        cdef uint64_t oid, cid
        cdef int t
        if tag == 0xFF or tag == 0x05 or tag == 0x07 or 0x89 <= tag <= 0x8D or tag == 0x90:
            need = 1 + ids
        elif tag == 0x01:
            need = 1 + 2 * ids
        elif tag == 0x02 or tag == 0x03 or tag == 0x08 or tag == 0x8E:
            need = 1 + ids + 8
        elif tag == 0x04 or tag == 0x06:
            need = 1 + ids + 4
        elif tag == 0xFE:
            need = 1 + 4 + ids
            if avail < need:
                return NEED_MORE
            vec_push(&self.heap_ids, be4(p + 1))
            vec_push(&self.heap_names, <int64_t>self.rid(p + 5))
            self.cur_heap = <int>(self.heap_ids.n - 1) if self.heap_ids.n <= MAX_HEAPS else MAX_HEAPS
            self.sub_counts[tag] += 1
            return need
        elif tag == 0x20:
            if avail < 1:
                return NEED_MORE
            r = self.class_dump(p + 1, avail - 1, at + 1)
            if r == NEED_MORE:
                return NEED_MORE
            self.sub_counts[tag] += 1
            return r + 1
        elif tag == 0x21:
            need = 1 + 2 * ids + 8
            if avail < need:
                return NEED_MORE
            oid = self.rid(p + 1)
            cid = self.rid(p + 1 + ids + 4)
            n = be4(p + 1 + 2 * ids + 4)
            if self.graph and self.counting:
                need = self.graph_instance(p, need, avail)
            else:
                need = self.payload(oid, p, need, n, avail)
            if need == NEED_MORE:
                return NEED_MORE
            self.sub_counts[tag] += 1
            if not self.counting:
                return need
            idx = self.class_index(cid)
            self.cols[<int>C_ICOUNT].data[idx] += 1
            self.cols[<int>C_IBYTES].data[idx] += n
            self.n_instances += 1
            self.note_object(oid, 0, idx, n, n)
            return need
        elif tag == 0x22:
            need = 1 + 2 * ids + 8
            if avail < need:
                return NEED_MORE
            oid = self.rid(p + 1)
            n = be4(p + 1 + ids + 4)
            cid = self.rid(p + 1 + ids + 8)
            if self.graph and self.counting:
                need = self.graph_objarray(p, need, avail)
            else:
                need = self.payload(oid, p, need, n * ids, avail)
            if need == NEED_MORE:
                return NEED_MORE
            self.sub_counts[tag] += 1
            if not self.counting:
                return need
            idx = self.class_index(cid)
            slot = self.cols[<int>C_OASLOT].data[idx]
            if slot == -1:
                # the first array of a class keeps its residue in the slot column (-2 - n % MOD):
                # a counter row is only made for classes with two arrays or more
                self.cols[<int>C_OASLOT].data[idx] = -2 - (n % MOD)
            else:
                if slot < -1:
                    if self.n_oa_slots >= MAX_OA_SLOTS:
                        self.fail("more than 1048576 distinct object-array classes with two arrays or more", at,
                                  "a plausible number of array classes (corrupt or crafted dump)")
                    first = -2 - slot
                    slot = self.n_oa_slots
                    self.n_oa_slots += 1
                    vec_reserve(&self.oa_mod, self.n_oa_slots * MOD)
                    self.oa_mod.n = self.n_oa_slots * MOD
                    memset(&self.oa_mod.data[slot * MOD], 0, MOD * sizeof(int64_t))
                    self.oa_mod.data[slot * MOD + first] += 1
                    self.cols[<int>C_OASLOT].data[idx] = slot
                self.oa_mod.data[slot * MOD + (n % MOD)] += 1
            self.cols[<int>C_OACOUNT].data[idx] += 1
            self.cols[<int>C_OAELEMS].data[idx] += n
            if n > self.cols[<int>C_OAMAX].data[idx]:
                self.cols[<int>C_OAMAX].data[idx] = n
            self.n_objarrays += 1
            self.note_object(oid, 1, idx, n, n * ids)
            return need
        elif tag == 0x23 or tag == 0xC3:
            need = 1 + ids + 9
            if avail < need:
                return NEED_MORE
            oid = self.rid(p + 1)
            n = be4(p + 1 + ids + 4)
            t = p[1 + ids + 8]
            if t < 4 or t > 11:
                self.fail("PRIMITIVE ARRAY DUMP has an invalid element type", at + 1 + ids + 8,
                          "a primitive basic type 4..11")
            es = BASIC_SIZE[t]
            if tag == 0x23:
                need = self.payload(oid, p, need, n * es, avail)
                if need == NEED_MORE:
                    return NEED_MORE
            self.sub_counts[tag] += 1
            if not self.counting:
                return need
            if self.graph:
                self.emit(oid, -100 - t, self.aligned(self.g_prim_base[t] + n * es))
            self.pa_count[t] += 1
            self.pa_elems[t] += n
            if n > self.pa_max[t]:
                self.pa_max[t] = n
            self.pa_mod[t * MOD + (n % MOD)] += 1
            self.n_primarrays += 1
            self.note_object(oid, 2, t, n, n * es)
            return need
        else:
            self.fail(f"unknown heap-dump sub-record tag 0x{tag:02x}", at,
                      "a sub-record tag (0x01-0x08, 0x20-0x23, 0x89-0x8E, 0x90, 0xC3, 0xFE, 0xFF)")
        if avail < need:
            return NEED_MORE
        if self.graph and self.counting and tag != 0x90:
            vec_push(&self.e_root, <int64_t>self.rid(p + 1))
            vec_push(&self.e_rkind, tag)
            # the thread serial of a thread's roots (JNI local, Java frame, native stack, thread
            # block) and of the thread object itself
            vec_push(&self.e_rthread, be4(p + 1 + ids) if tag in (0x02, 0x03, 0x04, 0x06, 0x08) else -1)
        self.sub_counts[tag] += 1
        return need

    # ------------------------------------------------------------ driver

    def feed(self, buf, bint at_eof):
        """Consume whole records from ``buf``; return the number of bytes used.

        Raises ScanError(message, offset, expected) on structure that cannot be read past.
        """
        cdef const uint8_t[::1] mv = memoryview(buf).cast("B")
        cdef int64_t n = mv.shape[0]
        cdef const uint8_t* base
        cdef int64_t pos = 0, k, r, avail, length
        cdef int tag
        if n == 0:
            return 0
        base = &mv[0]
        while True:
            if self.skip > 0:
                k = self.skip if self.skip < n - pos else n - pos
                pos += k
                self.skip -= k
                if self.in_heap and self.heap_left >= 0:
                    self.heap_left -= k
                if self.skip > 0:
                    break
            if self.in_heap:
                if self.heap_left == 0:
                    r = self.end_of_heap_record(base + pos, n - pos, at_eof)
                    if r == NEED_MORE:
                        break
                    continue
                if pos >= n:
                    break
                if self.heap_left < 0 and (0x09 <= base[pos] <= 0x0E or base[pos] == 0x1C or base[pos] == 0x2C):
                    self.in_heap = 0      # an unbounded (length 0) record ends at the next top-level record
                    continue
                avail = n - pos
                if self.heap_left > 0 and avail > self.heap_left:
                    avail = self.heap_left
                if self.counting and self.blk_next >= 0 and self.offset + pos >= self.blk_next:
                    self.checkpoint(self.offset + pos)
                r = self.sub_record(base + pos, avail, self.offset + pos)
                if r == NEED_MORE:
                    if self.heap_left > 0 and n - pos >= self.heap_left and self.skip == 0:
                        # the sub-record does not fit in what is left of its heap record
                        if self.heap_tag == 0x0C:
                            self.heap_left += <int64_t>1 << 32
                            self.length_wraps += 1
                            continue
                        self.fail("heap-dump sub-record crosses the end of its segment",
                                  self.offset + pos,
                                  f"a whole sub-record within the {self.heap_left} bytes left")
                    break
                pos += r
                if self.heap_left > 0:
                    self.heap_left -= r
                    while self.skip > self.heap_left:
                        if self.heap_tag != 0x0C:
                            self.fail("array or instance payload runs past the end of its segment",
                                      self.offset + pos - r,
                                      f"at most {self.heap_left} payload bytes")
                        self.heap_left += <int64_t>1 << 32
                        self.length_wraps += 1
                continue
            # top level
            if n - pos < 9:
                break
            tag = base[pos]
            length = be4(base + pos + 5)
            self.top_counts[tag] += 1
            if tag == 0x0C or tag == 0x1C:
                if self.snapshots == 0 or tag == 0x0C or self.heap_closed:
                    self.snapshots += 1
                self.heap_closed = 0
                self.counting = (self.snapshots - 1 == self.snapshot_wanted)
                self.in_heap = 1
                self.heap_tag = tag
                self.heap_start = self.offset + pos
                self.heap_records += 1
                self.cur_heap = 0
                if length == 0:
                    self.heap_left = -1
                    self.zero_length_heap_records += 1
                else:
                    self.heap_left = length
                pos += 9
                continue
            if tag == 0x01:
                if n - pos < 9 + length:
                    if length > MAX_NAME + self.id_size:
                        r = self.skip_huge_utf8(base + pos, n - pos)
                        if r == NEED_MORE:
                            break
                        pos += r
                        continue
                    break
                if length < self.id_size:
                    self.fail("UTF8 record shorter than an id", self.offset + pos + 5,
                              f"length >= {self.id_size}")
                self.store_utf8(self.rid(base + pos + 9), base + pos + 9 + self.id_size,
                                length - self.id_size)
                pos += 9 + length
                continue
            if tag == 0x02:
                if length != 8 + 2 * self.id_size:
                    self.fail("LOAD CLASS record has the wrong length", self.offset + pos + 5,
                              f"length {8 + 2 * self.id_size}")
                if n - pos < 9 + length:
                    break
                vec_push(&self.lc_serial, be4(base + pos + 9))
                vec_push(&self.lc_class, <int64_t>self.rid(base + pos + 13))
                vec_push(&self.lc_name, <int64_t>self.rid(base + pos + 17 + self.id_size))
                pos += 9 + length
                continue
            if tag == 0x2C:
                self.heap_closed = 1
            if not is_top_tag(tag):
                if self.unknown_tags.n < 64:
                    vec_push(&self.unknown_tags, self.offset + pos)
                    vec_push(&self.unknown_tags, tag)
            pos += 9
            self.skip = length
        self.offset += pos
        return pos

    cdef int64_t skip_huge_utf8(self, const uint8_t* p, int64_t avail) except -1:
        """A UTF8 record too long to be a name: keep its first MAX_NAME bytes, skip the rest."""
        cdef int64_t length = be4(p + 5)
        if avail < 9 + self.id_size + MAX_NAME:
            return 0
        self.store_utf8(self.rid(p + 9), p + 9 + self.id_size, MAX_NAME)
        self.skip = length - self.id_size - MAX_NAME
        return 9 + self.id_size + MAX_NAME

    cdef int64_t end_of_heap_record(self, const uint8_t* p, int64_t avail, bint at_eof) except -1:
        """The current heap record's stated length is used up: leave it, or see a u4 wrap.

        A single HEAP DUMP (0x0C) record over 4 GiB has a length that wrapped modulo 2**32.
        If what follows is not a plausible top-level record but a sub-record, the record
        goes on for another 4 GiB.
        """
        cdef int64_t length
        cdef int tag
        if self.heap_tag == 0x0C:
            if avail == 0:
                if at_eof:
                    self.in_heap = 0
                    return 1
                return NEED_MORE
            tag = p[0]
            if avail < 9 and not at_eof:
                return NEED_MORE
            if not self.plausible_top(p, avail, at_eof):
                self.heap_left = <int64_t>1 << 32
                self.length_wraps += 1
                return 1
        self.in_heap = 0
        return 1

    cdef bint plausible_top(self, const uint8_t* p, int64_t avail, bint at_eof):
        """Could ``p`` start a top-level record? Its tag must be one, and its length must
        fit in what is left of the file (when that is known)."""
        cdef int tag = p[0]
        cdef int64_t length
        if not is_top_tag(tag):
            return False
        if avail < 9:
            return False
        length = be4(p + 5)
        if at_eof and 9 + length > avail:
            return False
        if self.file_size >= 0 and length > self.file_size:
            return False
        return True

    # ------------------------------------------------------------ results

    def state(self):
        """Where the scan is: in a heap record or not, bytes still owed."""
        return {"in_heap": bool(self.in_heap), "heap_tag": self.heap_tag,
                "heap_closed": bool(self.heap_closed),
                "heap_left": self.heap_left, "skip": self.skip, "offset": self.offset,
                "last_object": (self.last_kind, self.last_cls, self.last_n, self.last_raw)}

    def results(self):
        """Everything collected, as numpy arrays and plain ints."""
        cdef int i
        cols = {}
        names = ["id", "dump_row", "instances", "instance_bytes",
                 "objarrays", "objarray_elems", "objarray_slot", "objarray_max"]
        dnames = ["class", "super", "loader", "instance_size", "field_start", "field_count",
                  "static_start", "static_count", "dump_offset"]
        if self.taken:
            raise RuntimeError("results() hands its columns over once")
        self.taken = 1
        for i in range(<int>C_NCOLS):
            cols[names[i]] = vec_take(&self.cols[i])
        cols["dumped"] = cols["dump_row"] >= 0
        dumps = {}
        for i in range(<int>D_NCOLS):
            dumps[dnames[i]] = vec_take(&self.dcols[i])
        oa_mod = vec_array(&self.oa_mod).reshape(-1, MOD) if self.n_oa_slots else np.zeros((0, MOD), np.int64)
        pa_mod = np.array([self.pa_mod[i] for i in range(12 * MOD)], dtype=np.int64).reshape(12, MOD)
        blob = bytes((<char*>self.blob.data)[:self.blob.n]) if self.blob.n else b""
        top = np.array([self.top[i] for i in range(self.n_top * 5)], dtype=np.int64).reshape(-1, 5)
        sample = np.array([self.sample[i] for i in range(self.n_sample * 4)], dtype=np.int64).reshape(-1, 4)
        return {
            "classes": cols,
            "class_dumps": dumps,
            "blocks": np.stack([vec_array(&self.blk_off), vec_array(&self.blk_left), vec_array(&self.blk_tag),
                                vec_array(&self.blk_min), vec_array(&self.blk_max)], axis=1)
                      if self.blk_off.n else np.zeros((0, 5), np.int64),
            "objarray_mod": oa_mod,
            "primarray_count": np.array([self.pa_count[i] for i in range(12)], np.int64),
            "primarray_elems": np.array([self.pa_elems[i] for i in range(12)], np.int64),
            "primarray_mod": pa_mod,
            "primarray_max": np.array([self.pa_max[i] for i in range(12)], np.int64),
            "top_counts": np.array([self.top_counts[i] for i in range(256)], np.int64),
            "sub_counts": np.array([self.sub_counts[i] for i in range(256)], np.int64),
            "unknown_tags": vec_array(&self.unknown_tags).reshape(-1, 2),
            "field_types": vec_array(&self.field_types),
            "field_names": vec_array(&self.field_names),
            "static_names": vec_array(&self.static_names),
            "static_types": vec_array(&self.static_types),
            "static_values": vec_array(&self.static_values),
            "utf8_ids": vec_array(&self.utf8_ids),
            "utf8_off": vec_array(&self.utf8_off),
            "utf8_len": vec_array(&self.utf8_len),
            "blob": blob,
            "load_class": np.stack([vec_array(&self.lc_serial), vec_array(&self.lc_class),
                                    vec_array(&self.lc_name)], axis=1) if self.lc_class.n else np.zeros((0, 3), np.int64),
            "heaps": np.stack([vec_array(&self.heap_ids), vec_array(&self.heap_names)], axis=1) if self.heap_ids.n else np.zeros((0, 2), np.int64),
            "heap_objects": np.array([self.heap_objects[i] for i in range(MAX_HEAPS)], np.int64),
            "top": top,
            "sample": sample,
            "n_instances": self.n_instances,
            "n_objarrays": self.n_objarrays,
            "n_primarrays": self.n_primarrays,
            "n_classdumps": self.n_classdumps,
            "heap_records": self.heap_records,
            "snapshots": self.snapshots,
            "length_wraps": self.length_wraps,
            "zero_length_heap_records": self.zero_length_heap_records,
        }
