"""The dominator kernel against networkx.immediate_dominators, on random graphs from hypothesis
(chains, diamonds, self-loops, unreachable parts) and on a long chain (no recursion)."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dumpx._native.dominators import dominators, retained_sizes


def csr(n, edges):
    indptr = np.zeros(n + 1, dtype=np.int64)
    for a, _ in edges:
        indptr[a + 1] += 1
    indptr = np.cumsum(indptr)
    indices = np.empty(len(edges), dtype=np.int32)
    fill = indptr[:-1].copy()
    for a, b in edges:
        indices[fill[a]] = b
        fill[a] += 1
    return indptr, indices


def reference(n, edges, root):
    g = nx.DiGraph()
    g.add_nodes_from(range(n))
    g.add_edges_from(edges)
    ref = np.full(n, -1, dtype=np.int64)
    for v, d in nx.immediate_dominators(g, root).items():
        ref[v] = d
    ref[root] = root
    return ref, g


@st.composite
def graphs(draw):
    n = draw(st.integers(1, 40))
    edges = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=4 * n))
    if draw(st.booleans()):                      # a chain through everything, then noise
        edges += [(i, i + 1) for i in range(n - 1)]
    if draw(st.booleans()) and n >= 4:           # a diamond
        edges += [(0, 1), (0, 2), (1, 3), (2, 3)]
    return n, edges, draw(st.integers(0, n - 1))


@settings(max_examples=400, deadline=None)
@given(graphs())
def test_immediate_dominators_equal_networkx(case):
    n, edges, root = case
    ip, ix = csr(n, edges)
    idom, pre = dominators(ip, ix, root)
    ref, g = reference(n, edges, root)
    assert idom.tolist() == ref.tolist()
    reach = nx.descendants(g, root) | {root}
    assert sorted(pre.tolist()) == sorted(reach) and pre[0] == root
    # retained sizes: the sum over the dominator subtree, from the reference tree
    shallow = np.arange(1, n + 1, dtype=np.int64)
    r = retained_sizes(idom, pre, shallow)
    tree = nx.DiGraph((int(d), v) for v, d in enumerate(ref.tolist()) if d >= 0 and v != root)
    tree.add_nodes_from(reach)
    for v in range(n):
        want = sum(int(shallow[u]) for u in (nx.descendants(tree, v) | {v})) if v in reach else 0
        assert r[v] == want


@settings(max_examples=200, deadline=None)
@given(graphs(), st.booleans(), st.booleans())
def test_retained_inside_the_kernel_equals_the_reference_walk(case, narrow, offsets64):
    """dominators(..., shallow) adds retained sizes up itself (int64 or uint32 sizes), with
    32-bit or (forced) 64-bit predecessor offsets: the same as retained_sizes over the preorder."""
    import dumpx._native.dominators as kernel
    n, edges, root = case
    ip, ix = csr(n, edges)
    idom, pre = dominators(ip, ix, root)
    shallow = (np.arange(n, dtype=np.int64) * 7919) % 1000 + 16
    saved = kernel.OFFSETS32_LIMIT
    kernel.OFFSETS32_LIMIT = 0 if offsets64 else saved
    try:
        idom2, ret = dominators(ip, ix, root, shallow.astype(np.uint32) if narrow else shallow)
    finally:
        kernel.OFFSETS32_LIMIT = saved
    assert idom2.tolist() == idom.tolist()
    assert ret.tolist() == retained_sizes(idom, pre, shallow).tolist()
    idom3, ret3 = dominators(ip.astype(np.int32), ix, root, shallow)     # 32-bit offsets
    assert idom3.tolist() == idom.tolist() and ret3.tolist() == ret.tolist()


def test_a_long_chain_needs_no_recursion():
    n = 2_000_000
    ip = np.arange(n + 1, dtype=np.int64)
    ip[-1] = n - 1
    ix = np.arange(1, n, dtype=np.int32)
    idom, pre = dominators(ip, ix, 0)
    assert idom[-1] == n - 2 and len(pre) == n
    r = retained_sizes(idom, pre, np.ones(n, dtype=np.int64))
    assert r[0] == n and r[n - 1] == 1


@pytest.mark.parametrize("ip,ix", [
    (np.array([0, 1], np.int64), np.array([5], np.int32)),          # target out of range
    (np.array([0, 2, 1], np.int64), np.array([0, 1], np.int32)),    # decreasing offsets
    (np.array([0, 1, 3], np.int64), np.array([1, 0], np.int32)),    # offsets past the edges
])
def test_malformed_csr_is_refused(ip, ix):
    with pytest.raises(ValueError):
        dominators(ip, ix, 0)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(-5, 40), max_size=200), st.integers(0, 30), st.booleans())
def test_largest_equals_a_sort(values, k, with_cls):
    """The bounded-heap top-k equals sorting by (value desc, index asc), skipped entries left out."""
    from dumpx._native.dominators import largest
    v = np.array(values, dtype=np.int64)
    cls = (np.arange(len(v), dtype=np.int32) % 3) - 1 if with_cls else None
    got = largest(v, k, cls, -1).tolist()
    keep = [i for i in range(len(v)) if cls is None or cls[i] != -1]
    want = sorted(keep, key=lambda i: (-values[i], i))[:k]
    assert got == want


@settings(max_examples=300, deadline=None)
@given(graphs())
def test_tree_children_equal_the_idom_array(case):
    """Children CSR of the dominator tree: each vertex's children, in vertex order."""
    from dumpx._native.dominators import tree_children
    n, edges, root = case
    ip, ix = csr(n, edges)
    idom, _ = dominators(ip, ix, root)
    ptr, kids = tree_children(idom, root)
    assert ptr.dtype == kids.dtype == np.int32 and len(ptr) == n + 1
    for v in range(n):
        assert kids[ptr[v]:ptr[v + 1]].tolist() == [u for u in range(n) if u != root and idom[u] == v]


@settings(max_examples=200, deadline=None)
@given(graphs(), st.booleans())
def test_int64_vertex_ids_give_the_same_tree(case, narrow_offsets):
    """The same kernels over int64 vertex ids (graphs of 2**31 vertices or more, forced here on
    small ones): the same dominators, retained sizes, children and shortest-path parents, in int64."""
    from dumpx._native.dominators import bfs_parents, retained_by_group, tree_children
    n, edges, root = case
    ip, ix = csr(n, edges)
    ip = ip.astype(np.int32) if narrow_offsets else ip
    shallow = (np.arange(n, dtype=np.int64) * 31) % 97 + 8
    idom32, ret32 = dominators(ip, ix, root, shallow)
    idom64, ret64 = dominators(ip, ix.astype(np.int64), root, shallow)
    assert idom64.dtype == np.int64 and idom32.dtype == np.int32
    assert idom64.tolist() == reference(n, edges, root)[0].tolist() == idom32.tolist()
    assert ret64.tolist() == ret32.tolist()
    p32, k32 = tree_children(idom32, root)
    p64, k64 = tree_children(idom64, root)
    assert p64.dtype == k64.dtype == np.int64 and p64.tolist() == p32.tolist() and k64.tolist() == k32.tolist()
    assert bfs_parents(ip, ix.astype(np.int64), root).tolist() == bfs_parents(ip, ix, root).tolist()
    group = np.arange(n, dtype=np.int64) % 3
    assert (retained_by_group(p64, k64, root, group, ret64, 3).tolist()
            == retained_by_group(p32, k32, root, group, ret32, 3).tolist())


def test_a_work_allocator_places_the_kernels_arrays():
    """``work`` makes every array the kernel needs (a caller with a memory budget maps them from
    files): it is asked for them, and the result is the same."""
    asked = []

    def work(length, dtype, fill):
        asked.append((length, dtype))
        return np.empty(length, dtype) if fill is None else np.full(length, fill, dtype)

    n = 1000
    ip = np.arange(n + 1, dtype=np.int64)
    ip[-1] = n - 1
    ix = np.arange(1, n, dtype=np.int32)
    idom, ret = dominators(ip, ix, 0, np.ones(n, np.int64), work=work)
    assert idom[-1] == n - 2 and ret[0] == n
    assert (n, np.dtype(np.int32)) in asked and (n, np.dtype(np.int64)) in asked and len(asked) >= 8

    def wrong(length, dtype, fill):
        return np.zeros(length + 1, dtype)
    with pytest.raises(ValueError):
        dominators(ip, ix, 0, work=wrong)


def test_retained_by_group_refuses_children_offsets_that_do_not_start_at_zero():
    """A damaged index's children offsets: refused before the unchecked walk reads outside them."""
    from dumpx._native.dominators import retained_by_group
    kid_ptr = np.array([-2, 0, 1], np.int32)               # non-decreasing, ends at len(kids), starts below 0
    kids = np.array([1], np.int32)
    with pytest.raises(ValueError):
        retained_by_group(kid_ptr, kids, 0, np.zeros(2, np.int64), np.ones(2, np.int64), 1)
    ok = retained_by_group(np.array([0, 1, 1], np.int32), kids, 0, np.array([0, 0], np.int64),
                           np.array([5, 3], np.int64), 1)
    assert ok.tolist() == [3]                              # the root is the virtual GC root: only its child counts
