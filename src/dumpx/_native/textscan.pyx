# cython: language_level=3
"""Byte-class counts over a buffer: how much of it reads as text.

Used to sniff text formats (Go tracebacks, py-spy dumps) and to refuse binary junk
before a line parser sees it.
"""

from libc.stdint cimport uint8_t, int64_t
import numpy as np


cdef int text_counts(const uint8_t[::1] buf, int64_t* counts) except -1 nogil:
    """counts[0..4] = printable ASCII, whitespace (\\t \\n \\r), newlines, other control, high (>=0x80)."""
    cdef Py_ssize_t i, n = buf.shape[0]
    cdef uint8_t b
    counts[0] = 0
    counts[1] = 0
    counts[2] = 0
    counts[3] = 0
    counts[4] = 0
    for i in range(n):
        b = buf[i]
        if 0x20 <= b < 0x7f:
            counts[0] += 1
        elif b == 0x0a:
            counts[1] += 1
            counts[2] += 1
        elif b == 0x09 or b == 0x0d:
            counts[1] += 1
        elif b >= 0x80:
            counts[4] += 1
        else:
            counts[3] += 1
    return 0


def byte_classes(buf):
    """Return an int64 array [printable, whitespace, newlines, control, high] for ``buf``."""
    cdef const uint8_t[::1] view = memoryview(buf).cast("B")
    out = np.zeros(5, dtype=np.int64)
    cdef int64_t[::1] o = out
    with nogil:
        text_counts(view, &o[0])
    return out
