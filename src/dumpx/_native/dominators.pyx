# cython: language_level=3
"""Immediate dominators of a graph in CSR form (Semi-NCA: Lengauer–Tarjan semi-dominators with
path compression, then nearest common ancestors), and retained sizes over the dominator tree.

Everything is iterative (explicit stacks): a linked list of ten million objects is an ordinary
heap and must not overflow the C stack. Vertex ids are int32 or int64 (``vid_t``: the caller
picks int64 for graphs of 2**31 vertices or more, where MAT stops), edge offsets int32 or int64;
every edge target is checked against the vertex count first. ``work``, where a kernel takes it,
makes the kernel's own per-vertex and per-edge arrays (``work(length, dtype, fill)``; fill None:
uninitialised), so that a caller with a memory budget can place them in memory-mapped files.
"""

cimport cython
from libc.stdint cimport int32_t, int64_t, uint32_t

from .hprofscan cimport I64Vec, vec_free, vec_reserve

import numpy as np

ctypedef fused ptr_t:            # CSR offsets: int32 below 2**31 edges, else int64
    int32_t
    int64_t

ctypedef fused vid_t:            # vertex ids: int32 below 2**31 vertices, else int64
    int32_t
    int64_t


cdef object new_array(work, int64_t n, dt, fill):
    """A kernel's own array: from ``work`` when given, else numpy's."""
    if work is not None:
        a = work(n, np.dtype(dt), fill)
        if a.shape[0] != n or a.dtype != np.dtype(dt):
            raise ValueError("the work allocator returned the wrong array")
        return a
    return np.empty(n, dtype=dt) if fill is None else np.full(n, fill, dtype=dt)


@cython.boundscheck(False)
@cython.wraparound(False)
cdef int check_csr(const ptr_t[::1] indptr, const vid_t[::1] indices, int64_t n) except -1:
    """Offsets must be non-decreasing within the edge array and targets within 0..n-1; after
    this check the kernels below index without bounds checks."""
    cdef int64_t i, m = indices.shape[0]
    if indptr.shape[0] != n + 1 or indptr[0] != 0 or indptr[n] != m:
        raise ValueError("indptr must have n + 1 offsets from 0 to len(indices)")
    for i in range(n):
        if indptr[i + 1] < indptr[i]:
            raise ValueError(f"indptr decreases at vertex {i}")
    for i in range(m):
        if indices[i] < 0 or indices[i] >= n:
            raise ValueError(f"edge {i} points to vertex {indices[i]}, outside 0..{n - 1}")
    return 0


OFFSETS32_LIMIT = 2**31 - 1     # predecessor offsets are int32 below this many edges (tests lower it)


ctypedef fused offs_t:
    int32_t
    int64_t

ctypedef fused size_t_:
    uint32_t
    int64_t


@cython.boundscheck(False)
@cython.wraparound(False)
cdef int64_t dfs(const ptr_t[::1] indptr, const vid_t[::1] indices, int64_t root,
                 vid_t[::1] dfn, vid_t[::1] vert, vid_t[::1] par) except -1:
    """Depth-first preorder from ``root``: dfn per vertex, vert and parent (in dfn numbers) per
    dfn. Returns how many vertices it reached."""
    # the stacks grow with the depth the walk reaches (a linked list of ten million objects needs
    # ten million entries; most heaps a few thousand): vertex and next-edge per level
    cdef I64Vec sv, se
    cdef int64_t sp, count, e
    cdef vid_t v, w
    sv.data = NULL
    sv.n = sv.cap = 0
    se.data = NULL
    se.n = se.cap = 0
    try:
        vec_reserve(&sv, 1)
        vec_reserve(&se, 1)
        dfn[root] = 0
        vert[0] = <vid_t>root
        par[0] = 0
        count = 1
        sv.data[0] = root
        se.data[0] = indptr[root]
        sp = 1
        while sp > 0:
            v = <vid_t>sv.data[sp - 1]
            e = se.data[sp - 1]
            if e < indptr[v + 1]:
                se.data[sp - 1] = e + 1
                w = indices[e]
                if dfn[w] < 0:
                    dfn[w] = <vid_t>count
                    vert[count] = w
                    par[count] = dfn[v]
                    count += 1
                    vec_reserve(&sv, sp + 1)
                    vec_reserve(&se, sp + 1)
                    sv.data[sp] = w
                    se.data[sp] = indptr[w]
                    sp += 1
            else:
                sp -= 1
    finally:
        vec_free(&sv)
        vec_free(&se)
    return count


@cython.boundscheck(False)
@cython.wraparound(False)
cdef int count_predecessors(const ptr_t[::1] indptr, const vid_t[::1] indices, const vid_t[::1] dfn,
                            const vid_t[::1] vert, int64_t count, offs_t[::1] pstart) except -1:
    """pstart[k + 1] = how many reachable predecessors dfn k has, then their prefix sums."""
    cdef int64_t i, e
    cdef vid_t v, w
    for i in range(count):
        v = vert[i]
        for e in range(indptr[v], indptr[v + 1]):
            w = indices[e]
            if dfn[w] > 0:
                pstart[dfn[w] + 1] += 1
    for i in range(count):
        pstart[i + 1] += pstart[i]
    return 0


@cython.boundscheck(False)
@cython.wraparound(False)
cdef int predecessors(const ptr_t[::1] indptr, const vid_t[::1] indices, const vid_t[::1] dfn,
                      const vid_t[::1] vert, int64_t count, offs_t[::1] pstart,
                      vid_t[::1] preds) except -1:
    """Predecessors of the reachable vertices in dfn space, as CSR (pstart, preds): each is placed
    by advancing its block's start, then the starts are shifted back (no second offsets array)."""
    cdef int64_t i, e, k
    cdef vid_t v, w
    for i in range(count):
        v = vert[i]
        for e in range(indptr[v], indptr[v + 1]):
            w = indices[e]
            if dfn[w] > 0:
                k = dfn[w]
                preds[pstart[k]] = <vid_t>i
                pstart[k] += 1
    for i in range(count, 0, -1):
        pstart[i] = pstart[i - 1]
    pstart[0] = 0
    return 0


@cython.boundscheck(False)
@cython.wraparound(False)
cdef int semidominators(const offs_t[::1] pstart, const vid_t[::1] preds, const vid_t[::1] par,
                        vid_t[::1] semi, int64_t count, work) except -1:
    """Lengauer–Tarjan semi-dominators (simple link-eval, iterative path compression)."""
    dt = np.int32 if vid_t is int32_t else np.int64
    cdef vid_t[::1] label = new_array(work, count, dt, None)
    cdef vid_t[::1] anc = new_array(work, count, dt, -1)
    cdef I64Vec path                     # the forest path being compressed, as deep as it gets
    cdef int64_t i, e, top
    cdef vid_t x, u, a
    for i in range(count):
        label[i] = <vid_t>i
    path.data = NULL
    path.n = path.cap = 0
    try:
        for i in range(count - 1, 0, -1):
            for e in range(pstart[i], pstart[i + 1]):
                x = preds[e]
                # eval(x): the vertex of minimum semi on x's forest path, compressing the path
                if anc[x] < 0:
                    u = x
                else:
                    top = 0
                    a = x
                    while anc[anc[a]] >= 0:
                        vec_reserve(&path, top + 1)
                        path.data[top] = a
                        top += 1
                        a = anc[a]
                    while top > 0:
                        top -= 1
                        a = <vid_t>path.data[top]
                        if semi[label[anc[a]]] < semi[label[a]]:
                            label[a] = label[anc[a]]
                        anc[a] = anc[anc[a]]
                    u = label[x]
                if semi[u] < semi[i]:
                    semi[i] = semi[u]
            anc[i] = par[i]                      # link(parent, i)
    finally:
        vec_free(&path)
    return 0


@cython.boundscheck(False)
@cython.wraparound(False)
cdef int accumulate(const vid_t[::1] vert, const vid_t[::1] idom_d, int64_t count,
                    const size_t_[::1] shallow, int64_t[::1] r) except -1:
    """Retained sizes: each reachable vertex's shallow size, added up the dominator tree in
    reverse preorder (a vertex's dominator comes before it)."""
    cdef int64_t i
    cdef vid_t v
    for i in range(count):
        v = vert[i]
        r[v] = <int64_t>shallow[v]
    for i in range(count - 1, 0, -1):
        r[vert[idom_d[i]]] += r[vert[i]]
    return 0


@cython.boundscheck(False)
@cython.wraparound(False)
cdef int idoms(const vid_t[::1] semi, vid_t[::1] par, int64_t count) except -1:
    """Immediate dominators in dfn numbers (Semi-NCA: the nearest common ancestor of the parent
    and the semi-dominator), written over ``par``, which is read only at the same index first."""
    cdef int64_t i
    cdef vid_t x
    par[0] = 0
    for i in range(1, count):
        x = par[i]
        while x > semi[i]:
            x = par[x]
        par[i] = x
    return 0


@cython.boundscheck(False)
@cython.wraparound(False)
cdef int to_vertices(const vid_t[::1] vert, const vid_t[::1] idom_d, int64_t count, vid_t[::1] o) except -1:
    cdef int64_t i
    for i in range(count):
        o[vert[i]] = vert[idom_d[i]]
    return 0


def dominators(const ptr_t[::1] indptr, const vid_t[::1] indices, int64_t root, shallow=None, work=None):
    """(idom, preorder): idom[v] is v's immediate dominator (root: itself; -1: unreachable);
    preorder lists the reachable vertices in depth-first preorder from ``root``. With
    ``shallow`` (int64 or uint32 per vertex), (idom, retained) instead: the retained sizes are
    added up inside, so no preorder array outlives the call. Vertex arrays come back in the
    width of ``indices``.

    Each phase's arrays are dropped as soon as it is done, and the offsets of the predecessor
    lists are 32-bit when the edges allow: at the peak (the semi-dominator phase) the kernel holds
    about 5 vertex ids per reachable vertex plus one per edge and one offset per vertex."""
    cdef int64_t n = indptr.shape[0] - 1
    cdef int64_t count
    dt = np.int32 if vid_t is int32_t else np.int64
    if n <= 0 or root < 0 or root >= n:
        raise ValueError("root must be a vertex")
    if vid_t is int32_t and n > 2**31 - 1:
        raise ValueError("more vertices than int32 ids can name: pass int64 indices")
    check_csr(indptr, indices, n)
    if shallow is not None and len(shallow) != n:
        raise ValueError("shallow sizes must have one entry per vertex")
    cdef vid_t[::1] dfn = new_array(work, n, dt, -1)
    cdef vid_t[::1] vert = new_array(work, n, dt, None)
    cdef vid_t[::1] par = new_array(work, n, dt, None)
    count = dfs(indptr, indices, root, dfn, vert, par)
    cdef vid_t[::1] preds
    cdef int32_t[::1] p32
    cdef int64_t[::1] p64
    cdef vid_t[::1] semi = new_array(work, count, dt, None)
    cdef int64_t i
    for i in range(count):
        semi[i] = <vid_t>i
    # the predecessor lists hold at most every edge: 32-bit offsets when the edges are fewer than
    # 2**31, known without a pass of its own; their total comes from the counting pass
    if indices.shape[0] < OFFSETS32_LIMIT:
        p32 = new_array(work, count + 1, np.int32, 0)
        count_predecessors(indptr, indices, dfn, vert, count, p32)
        preds = new_array(work, p32[count], dt, None)
        predecessors(indptr, indices, dfn, vert, count, p32, preds)
        dfn = None                          # dropped before the semi-dominators' own arrays
        semidominators(p32, preds, par, semi, count, work)
        p32 = None
    else:
        p64 = new_array(work, count + 1, np.int64, 0)
        count_predecessors(indptr, indices, dfn, vert, count, p64)
        preds = new_array(work, p64[count], dt, None)
        predecessors(indptr, indices, dfn, vert, count, p64, preds)
        dfn = None
        semidominators(p64, preds, par, semi, count, work)
        p64 = None
    preds = None
    idoms(semi, par, count)
    semi = None
    cdef vid_t[::1] idom_d = par
    out = new_array(work, n, dt, -1)
    cdef vid_t[::1] o = out
    to_vertices(vert, idom_d, count, o)
    if shallow is None:
        return out, np.asarray(vert[:count]).copy()
    ret = new_array(work, n, np.int64, 0)
    cdef int64_t[::1] r = ret
    cdef const uint32_t[::1] s32
    cdef const int64_t[::1] s64
    if isinstance(shallow, np.ndarray) and shallow.dtype == np.uint32:
        s32 = shallow
        accumulate(vert, idom_d, count, s32, r)
    else:
        s64 = np.ascontiguousarray(shallow, dtype=np.int64)
        accumulate(vert, idom_d, count, s64, r)
    return out, ret


@cython.boundscheck(False)
@cython.wraparound(False)
def retained_sizes(const vid_t[::1] idom, const vid_t[::1] preorder, const int64_t[::1] shallow):
    """Retained size of every vertex: its shallow size plus all it dominates (0 if unreachable)."""
    cdef int64_t n = idom.shape[0], i
    cdef vid_t v, d
    if shallow.shape[0] != n:
        raise ValueError("shallow sizes must have one entry per vertex")
    for i in range(preorder.shape[0]):
        if preorder[i] < 0 or preorder[i] >= n or idom[preorder[i]] < 0 or idom[preorder[i]] >= n:
            raise ValueError("preorder and idom do not describe the same graph")
    out = np.zeros(n, dtype=np.int64)
    cdef int64_t[::1] r = out
    for i in range(preorder.shape[0]):
        v = preorder[i]
        r[v] = shallow[v]
    for i in range(preorder.shape[0] - 1, 0, -1):
        v = preorder[i]
        d = idom[v]
        r[d] += r[v]
    return out


@cython.boundscheck(False)
@cython.wraparound(False)
def retained_by_group(const vid_t[::1] kid_ptr, const vid_t[::1] kids, int64_t root,
                      const int64_t[::1] group, const int64_t[::1] retained, int64_t ngroups, work=None):
    """Retained size of the set of all vertices of each group (class): the sum over the members
    that no other member dominates. One iterative walk of the dominator tree keeps, per group,
    how many members are on the current path."""
    cdef int64_t n = kid_ptr.shape[0] - 1, top = 0, e
    cdef vid_t v, w
    cdef int64_t gv
    dt = np.int32 if vid_t is int32_t else np.int64
    if group.shape[0] != n or retained.shape[0] != n or root < 0 or root >= n:
        raise ValueError("one group and one retained size per vertex, and a root vertex")
    for e in range(n):
        if group[e] >= ngroups:
            raise ValueError("group index out of range")
        if kid_ptr[e + 1] < kid_ptr[e]:
            raise ValueError("children offsets decrease")
    if kid_ptr[0] != 0 or kid_ptr[n] != kids.shape[0]:
        raise ValueError("children offsets do not run from 0 to the children array's length")
    for e in range(kids.shape[0]):
        if kids[e] < 0 or kids[e] >= n:
            raise ValueError("child vertex out of range")
    out = np.zeros(ngroups, dtype=np.int64)
    cdef int64_t[::1] o = out
    cdef int64_t[::1] onpath = np.zeros(ngroups, dtype=np.int64)
    cdef vid_t[::1] stack = new_array(work, n + 1, dt, None)
    cdef vid_t[::1] cursor = new_array(work, n, dt, None)
    cdef unsigned char[::1] seen = new_array(work, n, np.uint8, 0)
    stack[0] = <vid_t>root
    cursor[root] = kid_ptr[root]
    seen[root] = 1
    top = 1
    while top > 0:
        v = stack[top - 1]
        e = cursor[v]
        if e < kid_ptr[v + 1]:
            cursor[v] = <vid_t>(e + 1)
            w = kids[e]
            if seen[w]:
                continue                       # a malformed tree; never walk a vertex twice
            seen[w] = 1
            gv = group[w]
            if gv >= 0:
                if onpath[gv] == 0:
                    o[gv] += retained[w]
                onpath[gv] += 1
            cursor[w] = kid_ptr[w]
            stack[top] = w
            top += 1
        else:
            top -= 1
            gv = group[v]
            if v != root and gv >= 0:
                onpath[gv] -= 1
    return out


@cython.boundscheck(False)
@cython.wraparound(False)
def bfs_parents(const ptr_t[::1] indptr, const vid_t[::1] indices, int64_t root, skip=None, work=None):
    """Breadth-first parents from ``root`` (-1: unreached; the root: itself): the shortest paths.
    ``skip``: one byte per edge, nonzero for edges not to follow (weak references)."""
    cdef int64_t n = indptr.shape[0] - 1, head = 0, tail = 0, e
    cdef vid_t v, w
    dt = np.int32 if vid_t is int32_t else np.int64
    if n <= 0 or root < 0 or root >= n:
        raise ValueError("root must be a vertex")
    check_csr(indptr, indices, n)
    par_a = new_array(work, n, dt, -1)
    cdef vid_t[::1] par = par_a
    cdef vid_t[::1] queue = new_array(work, n, dt, None)
    cdef const unsigned char[::1] sk
    cdef bint use_skip = skip is not None
    if use_skip:
        sk = skip
        if sk.shape[0] != indices.shape[0]:
            raise ValueError("one skip flag per edge")
    par[root] = <vid_t>root
    queue[0] = <vid_t>root
    tail = 1
    while head < tail:
        v = queue[head]
        head += 1
        for e in range(indptr[v], indptr[v + 1]):
            if use_skip and sk[e]:
                continue
            w = indices[e]
            if par[w] < 0:
                par[w] = v
                queue[tail] = w
                tail += 1
    return par_a


@cython.boundscheck(False)
@cython.wraparound(False)
def tree_children(const vid_t[::1] idom, int64_t root, work=None):
    """The dominator tree as CSR (ptr, kids), in the width of ``idom``, by one counting sort: the
    children of v are kids[ptr[v]:ptr[v + 1]], in vertex order. Two ids per vertex, nothing else
    allocated."""
    cdef int64_t n = idom.shape[0], i
    cdef vid_t d
    dt = np.int32 if vid_t is int32_t else np.int64
    if root < 0 or root >= n:
        raise ValueError("root must be a vertex")
    for i in range(n):
        if idom[i] < -1 or idom[i] >= n:
            raise ValueError(f"idom[{i}] = {idom[i]} is no vertex")
    ptr_a = new_array(work, n + 1, dt, 0)
    cdef vid_t[::1] ptr = ptr_a
    for i in range(n):
        d = idom[i]
        if d >= 0 and i != root:
            ptr[d + 1] += 1
    for i in range(n):
        ptr[i + 1] += ptr[i]
    kids_a = new_array(work, ptr[n], dt, None)
    cdef vid_t[::1] kids = kids_a
    for i in range(n):                      # ptr[d] advances over d's block as it fills...
        d = idom[i]
        if d >= 0 and i != root:
            kids[ptr[d]] = <vid_t>i
            ptr[d] += 1
    for i in range(n, 0, -1):               # ...and is shifted back to the block starts
        ptr[i] = ptr[i - 1]
    ptr[0] = 0
    return ptr_a, kids_a


@cython.boundscheck(False)
@cython.wraparound(False)
def largest(const int64_t[::1] values, int64_t k, const int32_t[::1] cls=None, int32_t skip=0):
    """Indices of the ``k`` largest values (ties: the lower index first), largest first, skipping
    the entries whose ``cls`` is ``skip`` when ``cls`` is given: a bounded heap of k, so a
    top-20 over fifty million objects allocates nothing per object."""
    cdef int64_t n = values.shape[0], i, j, c, m = 0, p
    cdef int64_t hv, hi
    if k <= 0 or n == 0:
        return np.zeros(0, dtype=np.int64)
    if cls is not None and cls.shape[0] < n:
        raise ValueError("one class per value")
    if k > n:
        k = n
    heap_a = np.empty(k, dtype=np.int64)
    cdef int64_t[::1] heap = heap_a             # a min-heap of indices by (value, -index)
    for i in range(n):
        if cls is not None and cls[i] == skip:
            continue
        if m < k:
            j = m
            m += 1
            while j > 0:
                p = (j - 1) >> 1
                if values[heap[p]] < values[i] or (values[heap[p]] == values[i] and heap[p] > i):
                    break
                heap[j] = heap[p]
                j = p
            heap[j] = i
        elif values[i] > values[heap[0]]:
            j = 0
            while True:
                c = 2 * j + 1
                if c >= m:
                    break
                if c + 1 < m and (values[heap[c + 1]] < values[heap[c]] or
                                  (values[heap[c + 1]] == values[heap[c]] and heap[c + 1] > heap[c])):
                    c += 1
                if values[heap[c]] < values[i] or (values[heap[c]] == values[i] and heap[c] > i):
                    heap[j] = heap[c]
                    j = c
                else:
                    break
            heap[j] = i
    out = heap_a[:m]
    keys = np.asarray(values)[out]
    return out[np.lexsort((out, -keys))]
