from libc.stdint cimport uint8_t, uint64_t, int64_t
