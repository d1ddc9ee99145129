from libc.stdint cimport uint8_t, uint32_t, uint64_t, int64_t, int32_t

cdef struct IdMap:
    uint64_t* keys
    int32_t* vals
    int64_t cap
    int64_t used

cdef int idmap_init(IdMap* m, int64_t cap) except -1
cdef void idmap_free(IdMap* m) noexcept nogil
cdef int32_t idmap_get(IdMap* m, uint64_t key) noexcept nogil
cdef int idmap_put(IdMap* m, uint64_t key, int32_t val) except -1

cdef struct I64Vec:
    int64_t* data
    int64_t n
    int64_t cap

cdef int vec_push(I64Vec* v, int64_t x) except -1
cdef int vec_reserve(I64Vec* v, int64_t n) except -1
cdef void vec_free(I64Vec* v) noexcept nogil
cdef object vec_array(I64Vec* v)
cdef object vec_take(I64Vec* v)

cdef struct ByteBlob:
    uint8_t* data
    int64_t n
    int64_t cap

cdef int64_t blob_append(ByteBlob* b, const uint8_t* p, int64_t n) except -1
