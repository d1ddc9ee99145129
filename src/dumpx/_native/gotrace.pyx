# cython: language_level=3
"""One pass over Go goroutine text (debug=2, runtime.Stack, panic and SIGQUIT tracebacks).

For every ``goroutine N [...]:`` block it records the id, where the state and the stack are,
the wait minutes, the locked-to-thread flag, the creator goroutine, and two 64-bit hashes of
the stack: exact (arguments and PC offsets included) and loose (function names and file:line
only). Frames are parsed later in Python, once per distinct stack, so memory and Python work
grow with the number of distinct stacks, not with the number of goroutines.

Every read is checked against the end of the buffer; numbers from the text are bounded.
"""

cimport cython
from libc.stdint cimport uint8_t, uint64_t, int64_t
from libc.string cimport memchr

import numpy as np

from .hprofscan cimport I64Vec, vec_array, vec_free, vec_push

DEF FNV_OFFSET = 0xcbf29ce484222325
DEF FNV_PRIME = 0x100000001b3
DEF MAX_OTHER = 64

cdef enum:
    G_ID, G_HDR, G_STATE, G_STATELEN, G_MINUTES, G_LOCKED, G_START, G_END, G_EXACT, G_LOOSE,
    G_CREATOR, G_FRAMES, G_ELIDED, G_SHASH, G_NCOLS


cdef uint64_t fnv(uint64_t h, const uint8_t* p, int64_t n) noexcept nogil:
    cdef int64_t i
    for i in range(n):
        h ^= p[i]
        h *= <uint64_t>FNV_PRIME
    return h


cdef inline bint starts(const uint8_t* p, int64_t n, const char* lit, int64_t k) noexcept nogil:
    cdef int64_t i
    if n < k:
        return False
    for i in range(k):
        if p[i] != <uint8_t>lit[i]:
            return False
    return True


cdef inline int64_t find(const uint8_t* p, int64_t n, const char* lit, int64_t k) noexcept nogil:
    """First index of ``lit`` in p[0:n], or -1."""
    cdef int64_t i
    for i in range(n - k + 1):
        if starts(p + i, n - i, lit, k):
            return i
    return -1


cdef inline int64_t parse_uint(const uint8_t* p, int64_t n, int64_t* out) noexcept nogil:
    """Digits at p (at most 18): their value in out, their count returned (0: none)."""
    cdef int64_t i = 0, v = 0
    while i < n and i < 18 and 0x30 <= p[i] <= 0x39:
        v = v * 10 + (p[i] - 0x30)
        i += 1
    out[0] = v
    return i


@cython.final
cdef class GoScan:
    cdef I64Vec cols[<int>G_NCOLS]
    cdef public int64_t other_lines
    cdef I64Vec other_offsets
    cdef public bint ends_mid_line

    def __dealloc__(self):
        cdef int i
        for i in range(<int>G_NCOLS):
            vec_free(&self.cols[i])
        vec_free(&self.other_offsets)

    cdef int header(self, const uint8_t* p, int64_t n, int64_t at) except -1:
        """``goroutine N [gp=.. m=.. mp=.. ][state, ...]:`` -> a new row; returns 1 if it was one."""
        cdef int64_t k, gid, i, j, q, item, ilen, v
        cdef int c
        cdef bint first
        if not starts(p, n, b"goroutine ", 10):
            return 0
        k = parse_uint(p + 10, n - 10, &gid)
        if k == 0:
            return 0
        i = 10 + k
        if i >= n or p[i] != 0x20:
            return 0
        i += 1
        if not (i < n and p[i] == 0x5B) and not starts(p + i, n - i, b"gp=", 3):
            return 0                                # "[state]" or "gp=... m=... [state]"
        q = find(p + i, n - i, b"[", 1)
        if q < 0 or n < 2 or p[n - 1] != 0x3A or p[n - 2] != 0x5D:   # ends with "]:"
            return 0
        i += q + 1
        j = n - 2                                   # state text is p[i:j]
        for c in range(<int>G_NCOLS):
            vec_push(&self.cols[c], 0)
        self.cols[<int>G_ID].data[self.cols[<int>G_ID].n - 1] = gid
        self.cols[<int>G_HDR].data[self.cols[<int>G_ID].n - 1] = at
        self.cols[<int>G_STATE].data[self.cols[<int>G_ID].n - 1] = at + i
        self.cols[<int>G_MINUTES].data[self.cols[<int>G_ID].n - 1] = -1
        self.cols[<int>G_CREATOR].data[self.cols[<int>G_ID].n - 1] = -1
        item = i
        first = True
        while item <= j:
            q = find(p + item, j - item, b", ", 2)
            ilen = (j - item) if q < 0 else q
            if first:
                self.cols[<int>G_STATELEN].data[self.cols[<int>G_ID].n - 1] = ilen
                self.cols[<int>G_SHASH].data[self.cols[<int>G_ID].n - 1] = <int64_t>fnv(FNV_OFFSET, p + item, ilen)
                first = False
            else:
                k = parse_uint(p + item, ilen, &v)
                if k > 0 and starts(p + item + k, ilen - k, b" minute", 7):
                    self.cols[<int>G_MINUTES].data[self.cols[<int>G_ID].n - 1] = v
                elif starts(p + item, ilen, b"locked to thread", 16):
                    self.cols[<int>G_LOCKED].data[self.cols[<int>G_ID].n - 1] = 1
            if q < 0:
                break
            item += q + 2
        return 1

    def scan(self, buf):
        """Scan ``buf``; return per-goroutine numpy columns and what else was found."""
        cdef const uint8_t[::1] mv = memoryview(buf).cast("B")
        cdef int64_t n = mv.shape[0]
        cdef const uint8_t* base
        cdef const uint8_t* line
        cdef const uint8_t* nl
        cdef int64_t pos = 0, ln, row = -1, cut, k, v, q
        cdef uint64_t hx = 0, hl = 0
        cdef bint in_block = False
        if n == 0:
            return self.results()
        base = &mv[0]
        self.ends_mid_line = base[n - 1] != 0x0A
        while pos < n:
            nl = <const uint8_t*>memchr(base + pos, 0x0A, n - pos)
            ln = (nl - (base + pos)) if nl != NULL else n - pos
            line = base + pos
            if ln > 0 and line[ln - 1] == 0x0D:
                ln -= 1
            if self.header(line, ln, pos):
                if in_block:
                    self.close(row, hx, hl)
                row = self.cols[<int>G_ID].n - 1
                in_block = True
                hx = FNV_OFFSET
                hl = FNV_OFFSET
                self.cols[<int>G_START].data[row] = pos + ln + 1
                self.cols[<int>G_END].data[row] = pos + ln + 1
            elif in_block and ln > 0 and (line[0] == 0x09 or self.stack_line(line, ln)):
                if line[0] == 0x09:                  # "\t/path/file.go:123 +0x1f fp=.. sp=.. pc=.."
                    cut = find(line, ln, b" fp=", 4)
                    k = ln if cut < 0 else cut
                    hx = fnv(hx, line, k)
                    cut = find(line, k, b" +0x", 4)
                    hl = fnv(hl, line, k if cut < 0 else cut)
                elif starts(line, ln, b"created by ", 11):
                    hx = fnv(hx, line, ln)
                    cut = find(line, ln, b" in goroutine ", 14)
                    hl = fnv(hl, line, ln if cut < 0 else cut)
                    if cut >= 0:
                        k = parse_uint(line + cut + 14, ln - cut - 14, &v)
                        if k > 0:
                            self.cols[<int>G_CREATOR].data[row] = v
                elif line[0] == 0x2E:                # "...additional frames elided..." / "...N frames elided..."
                    hx = fnv(hx, line, ln)
                    hl = fnv(hl, line, ln)
                    self.cols[<int>G_ELIDED].data[row] = 1
                else:                                # "pkg.(*T).f(0x1, {...})" or "pkg.f(...)"
                    hx = fnv(hx, line, ln)
                    q = ln
                    if line[ln - 1] == 0x29:
                        while q > 0 and line[q - 1] != 0x28:
                            q -= 1
                        if q > 0:
                            q -= 1
                        else:
                            q = ln
                    hl = fnv(hl, line, q)
                    self.cols[<int>G_FRAMES].data[row] += 1
                hx = fnv(hx, <const uint8_t*>b"\n", 1)
                hl = fnv(hl, <const uint8_t*>b"\n", 1)
                self.cols[<int>G_END].data[row] = pos + ln + 1 if nl != NULL else n
            else:
                if in_block:
                    self.close(row, hx, hl)
                    in_block = False
                if ln > 0:
                    self.other_lines += 1
                    if self.other_offsets.n < MAX_OTHER:
                        vec_push(&self.other_offsets, pos)
            if nl == NULL:
                break
            pos += (nl - (base + pos)) + 1
        if in_block:
            self.close(row, hx, hl)
        return self.results()

    cdef bint stack_line(self, const uint8_t* line, int64_t ln):
        """A function line, ``created by``, an elision marker, or ``goroutine running on other thread``."""
        if line[0] == 0x2E:
            return starts(line, ln, b"...", 3)
        if starts(line, ln, b"created by ", 11):
            return True
        if starts(line, ln, b"goroutine running on other thread", 33):
            return True
        if starts(line, ln, b"goroutine ", 10):
            return False
        # registers of a SIGQUIT dump ("rax    0x0") and other text are not frames
        return line[ln - 1] == 0x29 and find(line, ln, b"(", 1) > 0

    cdef void close(self, int64_t row, uint64_t hx, uint64_t hl) noexcept:
        self.cols[<int>G_EXACT].data[row] = <int64_t>hx
        self.cols[<int>G_LOOSE].data[row] = <int64_t>hl

    def results(self):
        names = ["id", "header", "state_start", "state_len", "wait_minutes", "locked", "stack_start",
                 "stack_end", "hash_exact", "hash_loose", "creator", "frames", "elided", "hash_state"]
        out = {}
        cdef int i
        for i in range(<int>G_NCOLS):
            out[names[i]] = vec_array(&self.cols[i])
        out["other_offsets"] = vec_array(&self.other_offsets)
        out["other_lines"] = self.other_lines
        out["ends_mid_line"] = bool(self.ends_mid_line)
        return out
