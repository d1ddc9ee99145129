# cython: language_level=3
"""A bounds-checked little-endian reader over one section's bytes, shared by the DWARF kernels
(call frame information, DIEs, line programs). Every read checks the remaining length first and
raises ``CorruptDumpError`` with the section offset of the failing read."""

from libc.stdint cimport uint8_t, uint64_t, int64_t


cdef struct Cur:
    const uint8_t* p
    int64_t n
    int64_t pos
    uint64_t addr        # address of byte 0 of the section (for pc-relative pointers)


cdef inline int fail(int64_t pos, str what) except -1:
    from dumpx.errors import CorruptDumpError
    raise CorruptDumpError(f"DWARF: {what}", offset=pos, expected=what)


cdef inline int need(Cur* c, int64_t k) except -1:
    if k < 0 or c.pos + k > c.n or c.pos + k < c.pos:
        fail(c.pos, f"{k} more bytes inside the section")
    return 0


cdef inline uint64_t u8(Cur* c) except? 0xFFFFFFFFFFFFFFFF:
    need(c, 1)
    c.pos += 1
    return c.p[c.pos - 1]


cdef inline uint64_t ule(Cur* c, int k) except? 0xFFFFFFFFFFFFFFFF:
    cdef uint64_t v = 0
    cdef int i
    need(c, k)
    for i in range(k):
        v |= (<uint64_t>c.p[c.pos + i]) << (8 * i)
    c.pos += k
    return v


cdef inline int64_t sle(Cur* c, int k) except? -0x7FFFFFFFFFFFFFFF:
    cdef uint64_t v = ule(c, k)
    if k < 8 and (v >> (8 * k - 1)) & 1:
        v |= (~<uint64_t>0) << (8 * k)
    return <int64_t>v


cdef inline uint64_t leb(Cur* c, bint signed) except? 0xFFFFFFFFFFFFFFFF:
    """A LEB128 number of at most 10 bytes; the signed form sign-extends from its last byte."""
    cdef uint64_t v = 0
    cdef int shift = 0
    cdef uint8_t b
    while True:
        need(c, 1)
        b = c.p[c.pos]
        c.pos += 1
        if shift < 64:
            v |= (<uint64_t>(b & 0x7f)) << shift
        shift += 7
        if not (b & 0x80):
            if signed and shift < 64 and (b & 0x40):
                v |= (~<uint64_t>0) << shift
            return v
        if shift > 70:
            fail(c.pos, "a LEB128 number of at most 10 bytes")


cdef inline uint64_t uleb(Cur* c) except? 0xFFFFFFFFFFFFFFFF:
    return leb(c, False)


cdef inline int64_t sleb(Cur* c) except? -0x7FFFFFFFFFFFFFFF:
    return <int64_t>leb(c, True)
