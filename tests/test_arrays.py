"""dumpx.arrays against numpy's own np.unique, on random integer arrays (hypothesis)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dumpx import arrays


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(-2**63, 2**63 - 1) | st.integers(-5, 5), max_size=300))
def test_the_sort_based_unique_equals_numpys(values):
    a = np.array(values, dtype=np.int64)
    assert np.array_equal(arrays.unique(a), np.unique(a))
    v, c = arrays.unique_counts(a)
    nv, nc = np.unique(a, return_counts=True)
    assert np.array_equal(v, nv) and np.array_equal(c, nc)
    u, first, inv = arrays.unique_inverse(a)
    nu, nfirst, ninv = np.unique(a, return_index=True, return_inverse=True)
    assert np.array_equal(u, nu) and np.array_equal(first, nfirst) and np.array_equal(inv, ninv.reshape(-1))
