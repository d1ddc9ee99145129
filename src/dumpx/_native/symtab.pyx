# cython: language_level=3
"""The function symbols of an ELF symbol table (``.symtab``/``.dynsym``), sorted by address.

Kept: FUNC and GNU_IFUNC symbols with a value and a section. Among aliases at one address a
GLOBAL symbol comes before a WEAK one before a LOCAL one, then table order (a stable sort). Names
stay offsets into the string table: a backtrace names a few of libc's thousands. Entries are read
only within the section's length (a trailing partial entry is ignored).
"""

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t
from libc.stdlib cimport qsort, malloc, free
from libc.string cimport memcpy

from array import array


cdef struct Sym:
    uint64_t addr
    uint64_t size
    int64_t name
    int64_t order          # rank * 2**40 + index: the stable tie-break


cdef int cmp_sym(const void* a, const void* b) noexcept nogil:
    cdef const Sym* x = <const Sym*>a
    cdef const Sym* y = <const Sym*>b
    if x.addr != y.addr:
        return -1 if x.addr < y.addr else 1
    if x.order != y.order:
        return -1 if x.order < y.order else 1
    return 0


def functions(const uint8_t[::1] data not None):
    """(address, size, name offset) arrays of the function symbols in ``data`` (Elf64_Sym entries)."""
    cdef int64_t n = data.shape[0] // 24, k, m = 0
    cdef uint32_t st_name
    cdef uint8_t info
    cdef uint16_t shndx
    cdef uint64_t value, size
    cdef int rank
    cdef Sym* syms
    addr, sizes, names = array("Q"), array("Q"), array("q")
    if n == 0:
        return addr, sizes, names
    syms = <Sym*>malloc(n * sizeof(Sym))
    if syms == NULL:
        raise MemoryError()
    try:
        for k in range(n):
            memcpy(&st_name, &data[24 * k], 4)
            info = data[24 * k + 4]
            memcpy(&shndx, &data[24 * k + 6], 2)
            memcpy(&value, &data[24 * k + 8], 8)
            memcpy(&size, &data[24 * k + 16], 8)
            if (info & 0xF) not in (2, 10) or value == 0 or shndx == 0:
                continue
            rank = 0 if (info >> 4) == 1 else 1 if (info >> 4) == 2 else 2
            syms[m].addr = value
            syms[m].size = size
            syms[m].name = st_name
            syms[m].order = (<int64_t>rank << 40) + k
            m += 1
        qsort(syms, m, sizeof(Sym), cmp_sym)
        for k in range(m):
            addr.append(syms[k].addr)
            sizes.append(syms[k].size)
            names.append(syms[k].name)
    finally:
        free(syms)
    return addr, sizes, names
