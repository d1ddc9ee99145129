# cython: language_level=3
"""Go traceback stacks parsed into interned ids, each distinct stack kept once.

A block is the lines of one goroutine after its header. Its frames become (function id, file
id, line) rows of a CSR table, its ``created by`` frame and elision marker columns of the stack;
function names (arguments dropped), file paths, packages and states are interned with a full
comparison behind a seeded hash, so a crafted dump can neither merge two stacks nor make the
table quadratic. The rules are those of ``dumpx.goroutines.text.parse_stack`` (Go's
runtime/traceback.go format), which the tests hold this kernel to.
"""

cimport cython
from libc.stdint cimport uint8_t, uint32_t, uint64_t, int64_t, int32_t
from libc.stdlib cimport calloc, free
from libc.string cimport memchr, memcmp, memcpy

from .hprofscan cimport ByteBlob, I64Vec, blob_append, vec_free, vec_take

DEF MAX_LINE_DIGITS = 18


cdef inline uint64_t mix(uint64_t h) noexcept nogil:
    h ^= h >> 33
    h *= <uint64_t>0xff51afd7ed558ccd
    h ^= h >> 33
    h *= <uint64_t>0xc4ceb9fe1a85ec53
    h ^= h >> 33
    return h


cdef uint64_t fold(uint64_t h, const uint8_t* p, int64_t n) noexcept nogil:
    """Hash ``n`` bytes into ``h``: eight bytes per step, then FNV-1a over the tail."""
    cdef int64_t i = 0
    cdef uint64_t w
    while i + 8 <= n:
        memcpy(&w, p + i, 8)
        h = (h ^ w) * <uint64_t>0x9E3779B97F4A7C15
        h ^= h >> 29
        i += 8
    while i < n:
        h = (h ^ p[i]) * <uint64_t>0x100000001b3
        i += 1
    return h


cdef uint64_t hash_bytes(uint64_t seed, const uint8_t* p, int64_t n) noexcept nogil:
    """A seeded, finished hash of p[0:n] (the tables compare entries in full on every match)."""
    return mix(fold(seed ^ (<uint64_t>n * <uint64_t>0x9E3779B97F4A7C15), p, n))


cdef Slot* grown(Slot* old, int64_t old_cap, int64_t cap) except NULL:
    """A table of ``cap`` slots holding the entries of ``old``."""
    cdef Slot* slots
    cdef int64_t j, i
    if cap > (<int64_t>1 << 32):
        raise OverflowError("more than 2^31 distinct entries in one table")
    slots = <Slot*>calloc(cap, sizeof(Slot))
    if slots == NULL:
        raise MemoryError()
    for j in range(old_cap):
        if old[j].id:
            i = <int64_t>(old[j].tag & <uint64_t>(cap - 1))
            while slots[i].id:
                i = (i + 1) & (cap - 1)
            slots[i] = old[j]
    free(old)
    return slots


cdef int64_t strtab_intern(StrTab* t, uint64_t seed, const uint8_t* p, int64_t n, bint* added) except -1:
    """The id of the string p[0:n], added if new (``added`` says so)."""
    cdef uint64_t h = hash_bytes(seed, p, n)
    cdef int64_t i, k
    added[0] = False
    if (t.off.n + 1) * 2 > t.cap:
        t.slots = grown(t.slots, t.cap, t.cap * 2 if t.cap else 1024)
        t.cap = t.cap * 2 if t.cap else 1024
    i = <int64_t>((h >> 32) & <uint64_t>(t.cap - 1))
    while t.slots[i].id:
        if t.slots[i].tag == <uint32_t>(h >> 32):
            k = t.slots[i].id - 1
            if t.size.data[k] == n and memcmp(t.blob.data + t.off.data[k], p, n) == 0:
                return k
        i = (i + 1) & (t.cap - 1)
    k = t.off.n
    push(&t.off, blob_append(&t.blob, p, n))
    blob_append(&t.blob, <const uint8_t*>b"\n", 1)
    push(&t.size, n)
    push(&t.extra, -1)
    t.slots[i].tag = <uint32_t>(h >> 32)
    t.slots[i].id = k + 1
    added[0] = True
    return k


cdef void strtab_free(StrTab* t) noexcept:
    free(t.blob.data)
    t.blob.data = NULL
    vec_free(&t.off)
    vec_free(&t.size)
    vec_free(&t.extra)
    free(t.slots)
    t.slots = NULL


cdef inline bint starts(const uint8_t* p, int64_t n, const char* lit, int64_t k) noexcept nogil:
    return n >= k and memcmp(p, lit, k) == 0


cdef inline int64_t find(const uint8_t* p, int64_t n, const char* lit, int64_t k) noexcept nogil:
    cdef int64_t i
    for i in range(n - k + 1):
        if p[i] == <uint8_t>lit[0] and memcmp(p + i, lit, k) == 0:
            return i
    return -1


cdef int64_t args_start(const uint8_t* p, int64_t n) noexcept nogil:
    """Index of the '(' that opens the argument list closed by the line's last ')', or -1."""
    cdef int64_t depth = 0, k = n - 1
    while k >= 0:
        if p[k] == 0x29:
            depth += 1
        elif p[k] == 0x28:
            depth -= 1
            if depth == 0:
                return k
        k -= 1
    return -1


cdef int64_t package_len(const uint8_t* p, int64_t n) noexcept nogil:
    """Length of the import path of the Go function named p[0:n] (``idle.package``'s rule):
    up to the first '.' after the last '/' before any '(', skipping '.vN.' version elements."""
    cdef int64_t paren = n, slash = -1, i, j
    cdef const uint8_t* q = <const uint8_t*>memchr(p, 0x28, n)
    if q != NULL:
        paren = q - p
    for i in range(paren):
        if p[i] == 0x2F:
            slash = i
    i = slash + 1
    while i < n and p[i] != 0x2E:
        i += 1
    while i < n:
        j = i + 1                                  # "v" digits "." right after the dot
        if j < n and p[j] == 0x76:
            j += 1
            if j < n and 0x30 <= p[j] <= 0x39:
                while j < n and 0x30 <= p[j] <= 0x39:
                    j += 1
                if j < n and p[j] == 0x2E:
                    i += 1
                    while i < n and p[i] != 0x2E:
                        i += 1
                    continue
        break
    return i


@cython.final
cdef class Stacks:
    """Distinct stacks of one dump as interned ids (see the module docstring)."""

    def __cinit__(self, uint64_t seed=0x243F6A8885A308D3):
        self.seed = seed
        push(&self.fptr, 0)

    def __dealloc__(self):
        strtab_free(&self.funcs)
        strtab_free(&self.files)
        strtab_free(&self.pkgs)
        strtab_free(&self.states)
        vec_free(&self.fptr)
        vec_free(&self.ffunc)
        vec_free(&self.ffile)
        vec_free(&self.fline)
        vec_free(&self.cfunc)
        vec_free(&self.cfile)
        vec_free(&self.cline)
        vec_free(&self.elided)
        free(self.slots)

    cdef int64_t func_id(self, const uint8_t* p, int64_t n) except -1:
        cdef bint added
        cdef int64_t k = strtab_intern(&self.funcs, self.seed, p, n, &added)
        if added:
            self.funcs.extra.data[k] = strtab_intern(&self.pkgs, self.seed, p, package_len(p, n), &added)
        return k

    cdef int location(self, const uint8_t* p, int64_t n, int64_t* file, int64_t* line) except -1:
        """``\\t/path/file.go:123 +0x1f ...``: file id and line, or -1 and -1 where it is not one."""
        cdef int64_t end = 1, colon = -1, i, v = 0
        cdef bint added
        file[0] = -1
        line[0] = -1
        while end < n and p[end] != 0x20:
            end += 1
        while end > 1 and p[end - 1] == 0x0D:        # a CR before the space, as text.parse_stack strips it
            end -= 1
        for i in range(1, end):
            if p[i] == 0x3A:
                colon = i
        if colon <= 1 or end - colon - 1 < 1 or end - colon - 1 > MAX_LINE_DIGITS:
            return 0
        for i in range(colon + 1, end):
            if not 0x30 <= p[i] <= 0x39:
                return 0
            v = v * 10 + (p[i] - 0x30)
        file[0] = strtab_intern(&self.files, self.seed, p + 1, colon - 1, &added)
        line[0] = v
        return 0

    cdef int begin(self) except -1:
        """Start a goroutine's stack."""
        self.start = self.ffunc.n
        self.cf = self.cfl = self.cli = -1
        self.el = 0
        self.pending = 0
        return 0

    cdef int line(self, const uint8_t* line, int64_t ln) except -1:
        """One line of the stack (trailing CRs removed): a call line, the tab-indented file:line
        that belongs to the call line just before it, ``created by``, an elision marker."""
        cdef int64_t k, a, f, fl, li
        if ln == 0:
            self.pending = 0
        elif line[0] == 0x09:
            if self.pending:
                self.location(line, ln, &fl, &li)
                if self.pending == 1:
                    self.ffile.data[self.ffile.n - 1] = fl
                    self.fline.data[self.fline.n - 1] = li
                else:
                    self.cfl, self.cli = fl, li
            self.pending = 0
        elif starts(line, ln, b"...", 3):
            self.el = 1
            self.pending = 0
        elif starts(line, ln, b"goroutine running on other thread", 33):
            self.pending = 0
        elif starts(line, ln, b"created by ", 11):
            k = find(line + 11, ln - 11, b" in goroutine ", 14)
            self.cf = self.func_id(line + 11, ln - 11 if k < 0 else k)
            self.cfl = self.cli = -1
            self.pending = 2
        else:
            k = ln
            if line[ln - 1] == 0x29:
                a = args_start(line, ln)
                if a > 0:
                    k = a
            f = self.func_id(line, k)
            push(&self.ffunc, f)
            push(&self.ffile, -1)
            push(&self.fline, -1)
            self.pending = 1
        return 0

    cdef int64_t end(self) except -1:
        """The stack is complete: its id, a stack already kept with the same frames if there is one."""
        cdef int64_t start = self.start, cf = self.cf, cfl = self.cfl, cli = self.cli, el = self.el
        cdef int64_t cnt = self.ffunc.n - start, i, k, s
        cdef uint64_t h = mix(self.seed ^ <uint64_t>(cf * 31 + cfl * 7 + cli * 3 + el + cnt * 1000003))
        for i in range(start, self.ffunc.n):
            h = mix(h ^ (<uint64_t>self.ffunc.data[i] * <uint64_t>0x9E3779B97F4A7C15)
                    ^ (<uint64_t>self.ffile.data[i] << 32) ^ <uint64_t>self.fline.data[i])
        if (self.cfunc.n + 1) * 2 > self.cap:
            self.grow()
        k = <int64_t>((h >> 32) & <uint64_t>(self.cap - 1))
        while self.slots[k].id:
            if self.slots[k].tag == <uint32_t>(h >> 32):
                s = self.slots[k].id - 1
                if self.same(s, start, cf, cfl, cli, el):
                    self.ffunc.n = self.ffile.n = self.fline.n = start
                    return s
            k = (k + 1) & (self.cap - 1)
        s = self.cfunc.n
        self.slots[k].tag = <uint32_t>(h >> 32)
        self.slots[k].id = s + 1
        push(&self.fptr, self.ffunc.n)
        push(&self.cfunc, cf)
        push(&self.cfile, cfl)
        push(&self.cline, cli)
        push(&self.elided, el)
        return s

    cdef int64_t add_block(self, const uint8_t* p, int64_t n) except -1:
        """Parse a whole block of stack lines; return its stack id."""
        cdef int64_t pos = 0, ln
        cdef const uint8_t* line
        cdef const uint8_t* nl
        self.begin()
        while pos < n:
            line = p + pos
            nl = <const uint8_t*>memchr(line, 0x0A, n - pos)
            ln = (nl - line) if nl != NULL else n - pos
            pos += ln + 1
            while ln > 0 and line[ln - 1] == 0x0D:
                ln -= 1
            self.line(line, ln)
        return self.end()

    cdef bint same(self, int64_t s, int64_t start, int64_t cf, int64_t cfl, int64_t cli, int64_t el) noexcept:
        cdef int64_t a = self.fptr.data[s], b = self.fptr.data[s + 1], i
        if (b - a != self.ffunc.n - start or self.cfunc.data[s] != cf or self.cfile.data[s] != cfl
                or self.cline.data[s] != cli or self.elided.data[s] != el):
            return False
        for i in range(b - a):
            if (self.ffunc.data[a + i] != self.ffunc.data[start + i] or self.ffile.data[a + i] != self.ffile.data[start + i]
                    or self.fline.data[a + i] != self.fline.data[start + i]):
                return False
        return True

    cdef int grow(self) except -1:
        cdef int64_t cap = self.cap * 2 if self.cap else 1024
        self.slots = grown(self.slots, self.cap, cap)
        self.cap = cap
        return 0

    cdef int64_t state_id(self, const uint8_t* p, int64_t n) except -1:
        """The interned state, `` (scan)`` dropped (the GC was scanning the stack: same state)."""
        cdef bint added
        if n >= 7 and memcmp(p + n - 7, b" (scan)", 7) == 0:
            n -= 7
        return strtab_intern(&self.states, self.seed, p, n, &added)

    def add(self, const uint8_t[::1] block):
        """Python entry for the tests: parse ``block`` and return its stack id."""
        if self.taken:
            raise RuntimeError("the results were already taken")
        if block.shape[0] == 0:
            return self.add_block(<const uint8_t*>b"", 0)
        return self.add_block(&block[0], block.shape[0])

    def state(self, const uint8_t[::1] text):
        if text.shape[0] == 0:
            return self.state_id(<const uint8_t*>b"", 0)
        return self.state_id(&text[0], text.shape[0])

    def results(self):
        """The table as numpy columns and the interned strings as '\\n'-joined bytes. The columns
        are handed over without a copy: the table takes no stack after this."""
        if self.taken:
            raise RuntimeError("the results were already taken")
        self.taken = True
        counts = (self.funcs.off.n, self.files.off.n, self.pkgs.off.n, self.states.off.n)
        return {
            "indptr": vec_take(&self.fptr), "func": vec_take(&self.ffunc),
            "file": vec_take(&self.ffile), "line": vec_take(&self.fline),
            "created_func": vec_take(&self.cfunc), "created_file": vec_take(&self.cfile),
            "created_line": vec_take(&self.cline), "elided": vec_take(&self.elided),
            "func_package": vec_take(&self.funcs.extra),
            "func_offset": vec_take(&self.funcs.off), "funcs": _blob(&self.funcs), "file_offset": vec_take(&self.files.off), "files": _blob(&self.files), "packages": _blob(&self.pkgs),
            "states": _blob(&self.states),
            "counts": counts,
        }


cdef object _blob(StrTab* t):
    return bytes((<char*>t.blob.data)[:t.blob.n]) if t.blob.n else b""
