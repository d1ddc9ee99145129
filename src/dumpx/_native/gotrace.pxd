from libc.stdint cimport uint8_t, uint64_t, int64_t

cdef uint64_t fnv(uint64_t h, const uint8_t* p, int64_t n) noexcept nogil
