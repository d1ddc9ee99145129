from libc.stdint cimport uint8_t, int64_t

cdef int text_counts(const uint8_t[::1] buf, int64_t* counts) except -1 nogil
