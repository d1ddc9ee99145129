# cython: language_level=3
"""Immediate dominators of a graph in CSR form (Semi-NCA: Lengauer–Tarjan semi-dominators with
path compression, then nearest common ancestors), and retained sizes over the dominator tree.

Everything is iterative (explicit stacks): a linked list of ten million objects is an ordinary
heap and must not overflow the C stack. Arrays are int32 vertex ids (graphs up to 2**31 - 1
vertices) and int64 edge offsets; every edge target is checked against the vertex count first.
"""

cimport cython
from libc.stdint cimport int32_t, int64_t

import numpy as np


@cython.boundscheck(False)
@cython.wraparound(False)
cdef int check_csr(const int64_t[::1] indptr, const int32_t[::1] indices, int64_t n) except -1:
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


@cython.boundscheck(False)
@cython.wraparound(False)
def dominators(const int64_t[::1] indptr, const int32_t[::1] indices, int32_t root):
    """(idom, preorder): idom[v] is v's immediate dominator (root: itself; -1: unreachable);
    preorder lists the reachable vertices in depth-first preorder from ``root``."""
    cdef int64_t n = indptr.shape[0] - 1
    if n <= 0 or root < 0 or root >= n:
        raise ValueError("root must be a vertex")
    check_csr(indptr, indices, n)
    # arrays are created straight into typed memoryviews and dropped (set to None) as soon as a
    # phase no longer needs them, so the peak stays near 45 bytes per vertex
    cdef int32_t[::1] dfn = np.full(n, -1, dtype=np.int32)
    cdef int32_t[::1] vert = np.empty(n, dtype=np.int32)
    cdef int32_t[::1] par = np.empty(n, dtype=np.int32)
    cdef int64_t[::1] cursor = np.empty(n, dtype=np.int64)
    cdef int32_t[::1] stack = np.empty(n, dtype=np.int32)
    cdef int64_t sp = 0, count = 0, e
    cdef int32_t v, w
    # iterative DFS preorder
    dfn[root] = 0
    vert[0] = root
    par[0] = 0
    count = 1
    stack[0] = root
    cursor[root] = indptr[root]
    sp = 1
    while sp > 0:
        v = stack[sp - 1]
        e = cursor[v]
        if e < indptr[v + 1]:
            cursor[v] = e + 1
            w = indices[e]
            if dfn[w] < 0:
                dfn[w] = <int32_t>count
                vert[count] = w
                par[count] = dfn[v]
                count += 1
                cursor[w] = indptr[w]
                stack[sp] = w
                sp += 1
        else:
            sp -= 1
    cursor = None
    # predecessors of reachable vertices, in dfnum space: count, prefix-sum, place each one by
    # advancing its block's start, then shift the starts back (no second offsets array)
    cdef int64_t[::1] pstart = np.zeros(count + 1, dtype=np.int64)
    cdef int64_t i, k
    for i in range(count):
        v = vert[i]
        for e in range(indptr[v], indptr[v + 1]):
            w = indices[e]
            if dfn[w] > 0:
                pstart[dfn[w] + 1] += 1
    for i in range(count):
        pstart[i + 1] += pstart[i]
    cdef int32_t[::1] preds = np.empty(pstart[count], dtype=np.int32)
    for i in range(count):
        v = vert[i]
        for e in range(indptr[v], indptr[v + 1]):
            w = indices[e]
            if dfn[w] > 0:
                k = dfn[w]
                preds[pstart[k]] = <int32_t>i
                pstart[k] += 1
    for i in range(count, 0, -1):
        pstart[i] = pstart[i - 1]
    pstart[0] = 0
    dfn = None
    # semi-dominators (Lengauer–Tarjan, simple link-eval with iterative path compression)
    cdef int32_t[::1] semi = np.arange(count, dtype=np.int32)
    cdef int32_t[::1] label = np.arange(count, dtype=np.int32)
    cdef int32_t[::1] anc = np.full(count, -1, dtype=np.int32)
    cdef int32_t[::1] idom = np.empty(count, dtype=np.int32)
    cdef int32_t[::1] path = stack          # reused: at most count entries
    cdef int32_t x, u, top, a
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
                    path[top] = a
                    top += 1
                    a = anc[a]
                while top > 0:
                    top -= 1
                    a = path[top]
                    if semi[label[anc[a]]] < semi[label[a]]:
                        label[a] = label[anc[a]]
                    anc[a] = anc[anc[a]]
                u = label[x]
            if semi[u] < semi[i]:
                semi[i] = semi[u]
        anc[i] = par[i]                      # link(parent, i)
    label = None
    anc = None
    preds = None
    pstart = None
    # immediate dominators: nearest common ancestor of parent and semi-dominator (Semi-NCA)
    idom[0] = 0
    for i in range(1, count):
        x = par[i]
        while x > semi[i]:
            x = idom[x]
        idom[i] = x
    out = np.full(n, -1, dtype=np.int32)
    cdef int32_t[::1] o = out
    for i in range(count):
        o[vert[i]] = vert[idom[i]]
    return out, np.asarray(vert[:count]).copy()


@cython.boundscheck(False)
@cython.wraparound(False)
def retained_sizes(const int32_t[::1] idom, const int32_t[::1] preorder, const int64_t[::1] shallow):
    """Retained size of every vertex: its shallow size plus all it dominates (0 if unreachable)."""
    cdef int64_t n = idom.shape[0], i
    cdef int32_t v, d
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
def retained_by_group(const int64_t[::1] kid_ptr, const int32_t[::1] kids, int32_t root,
                      const int64_t[::1] group, const int64_t[::1] retained, int64_t ngroups):
    """Retained size of the set of all vertices of each group (class): the sum over the members
    that no other member dominates. One iterative walk of the dominator tree keeps, per group,
    how many members are on the current path."""
    cdef int64_t n = kid_ptr.shape[0] - 1, top = 0, e
    cdef int32_t v, w
    cdef int64_t gv
    if group.shape[0] != n or retained.shape[0] != n or root < 0 or root >= n:
        raise ValueError("one group and one retained size per vertex, and a root vertex")
    for e in range(n):
        if group[e] >= ngroups:
            raise ValueError("group index out of range")
        if kid_ptr[e + 1] < kid_ptr[e]:
            raise ValueError("children offsets decrease")
    if kid_ptr[n] != kids.shape[0]:
        raise ValueError("children offsets do not match the children array")
    for e in range(kids.shape[0]):
        if kids[e] < 0 or kids[e] >= n:
            raise ValueError("child vertex out of range")
    out = np.zeros(ngroups, dtype=np.int64)
    cdef int64_t[::1] o = out
    cdef int64_t[::1] onpath = np.zeros(ngroups, dtype=np.int64)
    cdef int32_t[::1] stack = np.empty(n + 1, dtype=np.int32)
    cdef int64_t[::1] cursor = np.empty(n, dtype=np.int64)
    cdef unsigned char[::1] seen = np.zeros(n, dtype=np.uint8)
    stack[0] = root
    cursor[root] = kid_ptr[root]
    seen[root] = 1
    top = 1
    while top > 0:
        v = stack[top - 1]
        e = cursor[v]
        if e < kid_ptr[v + 1]:
            cursor[v] = e + 1
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
def bfs_parents(const int64_t[::1] indptr, const int32_t[::1] indices, int32_t root):
    """Breadth-first parents from ``root`` (-1: unreached; the root: itself): the shortest paths."""
    cdef int64_t n = indptr.shape[0] - 1, head = 0, tail = 0, e
    cdef int32_t v, w
    if n <= 0 or root < 0 or root >= n:
        raise ValueError("root must be a vertex")
    check_csr(indptr, indices, n)
    par_a = np.full(n, -1, dtype=np.int32)
    cdef int32_t[::1] par = par_a
    cdef int32_t[::1] queue = np.empty(n, dtype=np.int32)
    par[root] = root
    queue[0] = root
    tail = 1
    while head < tail:
        v = queue[head]
        head += 1
        for e in range(indptr[v], indptr[v + 1]):
            w = indices[e]
            if par[w] < 0:
                par[w] = v
                queue[tail] = w
                tail += 1
    return par_a
