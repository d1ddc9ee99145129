from libc.stdint cimport uint8_t, uint32_t, uint64_t, int64_t, int32_t

from .hprofscan cimport ByteBlob, I64Vec, vec_reserve


cdef inline int push(I64Vec* v, int64_t x) except -1:
    if v.n >= v.cap:
        vec_reserve(v, v.n + 1)
    v.data[v.n] = x
    v.n += 1
    return 0


cdef struct Slot:
    uint32_t tag                # the high half of the entry's 64-bit hash; also where it is placed
    uint32_t id                 # entry id + 1, 0 = empty


cdef struct StrTab:
    ByteBlob blob           # each string followed by '\n' (Go names and paths never hold one)
    I64Vec off              # where each string starts in blob
    I64Vec size             # its length
    I64Vec extra            # one number per string (a function's package id)
    Slot* slots             # open addressing, 8 bytes a slot
    int64_t cap


cdef class Stacks:
    cdef uint64_t seed
    cdef StrTab funcs, files, pkgs, states
    cdef I64Vec fptr, ffunc, ffile, fline
    cdef I64Vec cfunc, cfile, cline, elided
    cdef Slot* slots
    cdef int64_t cap
    cdef int64_t start, cf, cfl, cli, el
    cdef bint taken
    cdef int pending                # 1: the last frame awaits its file:line, 2: the creator does
    cdef int begin(self) except -1
    cdef int line(self, const uint8_t* line, int64_t ln) except -1
    cdef int64_t end(self) except -1
    cdef int64_t add_block(self, const uint8_t* p, int64_t n) except -1
    cdef int64_t state_id(self, const uint8_t* p, int64_t n) except -1
    cdef int64_t func_id(self, const uint8_t* p, int64_t n) except -1
    cdef int location(self, const uint8_t* p, int64_t n, int64_t* file, int64_t* line) except -1
    cdef bint same(self, int64_t s, int64_t start, int64_t cf, int64_t cfl, int64_t cli, int64_t el) noexcept
    cdef int grow(self) except -1


cdef uint64_t fold(uint64_t h, const uint8_t* p, int64_t n) noexcept nogil
cdef uint64_t hash_bytes(uint64_t seed, const uint8_t* p, int64_t n) noexcept nogil
cdef Slot* grown(Slot* old, int64_t old_cap, int64_t cap) except NULL
cdef int64_t args_start(const uint8_t* p, int64_t n) noexcept nogil
cdef int64_t strtab_intern(StrTab* t, uint64_t seed, const uint8_t* p, int64_t n, bint* added) except -1
cdef void strtab_free(StrTab* t) noexcept
