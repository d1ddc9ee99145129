# cython: language_level=3
"""Runs of suspicious 8-byte words in raw memory (stack smash evidence).

A word is *repeated-byte* when its eight bytes are equal and not 0x00 or 0xff (those fill
ordinary stacks), *fill* when it is a known allocator/debug pattern repeated over 32 bits, and
*ascii* when all eight bytes are printable ASCII. Runs of one kind and one value (ascii: any
printable words) are reported with their start address, length in words and value.
"""

from libc.stdint cimport uint8_t, uint64_t, int64_t, uint32_t
from libc.string cimport memcpy

from array import array

cdef enum:
    K_NONE = 0
    K_REPEAT = 1
    K_FILL = 2
    K_ASCII = 3

cdef uint32_t[12] FILLS = [0xdeadbeef, 0xbaadf00d, 0xfeeefeee, 0xcdcdcdcd, 0xabababab,
                           0xfdfdfdfd, 0xdddddddd, 0xa5a5a5a5, 0x5a5a5a5a, 0xcccccccc,
                           0xbebebebe, 0xefefefef]


DEF ONES = 0x0101010101010101
DEF HIGHS = 0x8080808080808080


cdef inline bint has_zero_byte(uint64_t v) noexcept nogil:
    return ((v - <uint64_t>ONES) & ~v & <uint64_t>HIGHS) != 0


cdef inline bint printable(uint64_t w) noexcept nogil:
    """All eight bytes in 0x20..0x7e (word-at-a-time: no byte >= 0x80, < 0x20 or == 0x7f)."""
    if w & <uint64_t>HIGHS:
        return False
    if ((w - <uint64_t>0x2020202020202020ULL) & <uint64_t>HIGHS) != 0:   # some byte < 0x20
        return False
    return not has_zero_byte(w ^ <uint64_t>0x7f7f7f7f7f7f7f7fULL)


cdef inline int word_kind(uint64_t w) noexcept nogil:
    cdef uint8_t b = <uint8_t>(w & 0xff)
    cdef int i
    cdef uint32_t lo
    if w == <uint64_t>b * <uint64_t>ONES:
        return K_REPEAT if (b != 0 and b != 0xff) else K_NONE
    lo = <uint32_t>(w & <uint64_t>0xffffffffU)
    if lo == <uint32_t>(w >> 32):
        for i in range(12):
            if lo == FILLS[i]:
                return K_FILL
    return K_ASCII if printable(w) else K_NONE


def scan(buf, uint64_t base, int min_repeat=4, int min_ascii=3):
    """Runs in ``buf`` (memory starting at virtual address ``base``, 8-byte aligned words).

    Returns arrays (``array.array``: no numpy import on the backtrace path): start address, words,
    kind (1 repeated byte, 2 fill, 3 ascii), value.
    """
    cdef const uint8_t[::1] mv = memoryview(buf).cast("B")
    cdef int64_t n = mv.shape[0] // 8
    cdef const uint8_t* p
    cdef int64_t i, run_start = 0, run_len = 0
    cdef uint64_t w, run_val = 0
    cdef int k, run_kind = K_NONE
    starts, lens, kinds, vals = array("Q"), array("q"), array("q"), array("Q")
    if n == 0:
        return starts, lens, kinds, vals
    p = &mv[0]                      # n words lie within the buffer: n = len // 8
    for i in range(n + 1):
        if i < n:
            memcpy(&w, p + i * 8, 8)
            k = word_kind(w)
        else:
            k = K_NONE
            w = 0
        if run_kind != K_NONE and k == run_kind and (k == K_ASCII or w == run_val):
            run_len += 1
            continue
        if run_kind != K_NONE and run_len >= (min_ascii if run_kind == K_ASCII else min_repeat):
            starts.append(base + <uint64_t>(run_start * 8))
            lens.append(run_len)
            kinds.append(run_kind)
            vals.append(run_val)
        run_kind, run_start, run_len, run_val = k, i, 1, w
    return starts, lens, kinds, vals
