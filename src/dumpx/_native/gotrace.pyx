# cython: language_level=3
"""One pass over Go goroutine text (debug=2, runtime.Stack, panic and SIGQUIT tracebacks).

For every ``goroutine N [...]:`` block it records the id, where the state and the stack are,
the wait minutes, the locked-to-thread flag, the creator goroutine, and a 64-bit hash of the
exact stack (arguments and PC offsets included). Each block's frames are parsed into interned ids
by ``gostacks.Stacks`` and the goroutine joins the group of its (state, stack) ids, compared in
full, never by a hash alone; memory grows with the number of distinct stacks, not goroutines.

Every read is checked against the end of the buffer; numbers from the text are bounded.
"""

cimport cython
from libc.stdint cimport uint8_t, uint32_t, uint64_t, int64_t
from libc.string cimport memchr, memcmp, memcpy

import numpy as np

from libc.stdlib cimport free
from libc.stdint cimport int32_t

from .hprofscan cimport (ByteBlob, I64Vec, IdMap, blob_append, idmap_free, idmap_get, idmap_init, idmap_put,
                         vec_free, vec_take)
from .gostacks cimport (Slot, Stacks, StrTab, args_start, fold, grown, hash_bytes, push, strtab_free,
                       strtab_intern)

DEF FNV_OFFSET = 0xcbf29ce484222325
DEF MAX_OTHER = 64

cdef enum:
    G_ID, G_HDR, G_GROUP, G_MINUTES, G_LOCKED, G_START, G_END, G_EXACT,
    G_CREATOR, G_FRAMES, G_ELIDED, G_HASCRE, G_NCOLS


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


cdef inline bint is_hex(uint8_t c) noexcept nogil:
    return (0x30 <= c <= 0x39) or (0x61 <= c <= 0x66) or (0x41 <= c <= 0x46)


cdef inline int64_t plus_offset(const uint8_t* line, int64_t ln) noexcept nogil:
    """Index of the '+' of the first " +0x" in the line, or -1."""
    cdef const uint8_t* q = line
    cdef const uint8_t* end = line + ln
    while q < end:
        q = <const uint8_t*>memchr(q, 0x2B, end - q)
        if q == NULL:
            return -1
        if q > line and (q - 1)[0] == 0x20 and end - q >= 3 and q[1] == 0x30 and q[2] == 0x78:
            return q - line
        q += 1
    return -1


cdef inline int64_t parse_uint(const uint8_t* p, int64_t n, int64_t* out) noexcept nogil:
    """Digits at p (at most 18): their value in out, their count returned (0: none)."""
    cdef int64_t i = 0, v = 0
    while i < n and i < 18 and 0x30 <= p[i] <= 0x39:
        v = v * 10 + (p[i] - 0x30)
        i += 1
    out[0] = v
    return i


cdef inline int64_t parse_u64(const uint8_t* p, int64_t n, uint64_t* out) noexcept nogil:
    """A goroutine id at p: up to 20 digits, any value up to 2^64-1 (Go's ids are uint64). Its
    digit count is returned; 0 when there is none or it does not fit."""
    cdef int64_t i = 0
    cdef uint64_t v = 0, d
    while i < n and 0x30 <= p[i] <= 0x39:
        d = p[i] - 0x30
        if i >= 20 or v > (0xFFFFFFFFFFFFFFFFULL - d) // 10:
            return 0
        v = v * 10 + d
        i += 1
    out[0] = v
    return i


cdef enum:
    R_COUNT, R_WMIN, R_WMAX, R_LOCKED, R_STACK, R_STATE,
    R_FIRST_ID, R_FIRST_OFF, R_NCREATORS, R_FRAMES, R_ELIDED, R_NCOLS

DEF MAX_STATE = 256
DEF MAX_CREATORS = 16            # distinct creator ids remembered per group
DEF MAX_LOCKED_IDS = 256


@cython.final
cdef class GoScan:
    """Incremental scanner: ``feed(buf, final)`` consumes whole lines and returns how many
    bytes it used. Goroutines are aggregated into groups (same state, same stack with
    arguments ignored) as they close; per-goroutine rows are kept only with ``rows=True``."""

    cdef bint keep_rows
    cdef I64Vec cols[<int>G_NCOLS]
    cdef I64Vec grp[<int>R_NCOLS]
    cdef uint64_t seed
    cdef ByteBlob loose             # the goroutine being read: state, NUL, its stack lines as parsed (no arguments)
    cdef StrTab texts               # every distinct loose text (compared in full), its group in extra
    cdef IdMap pairs                # (state id, stack id) -> group
    cdef readonly Stacks stacks
    cdef I64Vec creators            # (group, creator id) pairs
    cdef I64Vec ancestors           # (goroutine ordinal, ancestor id) pairs: GODEBUG=tracebackancestors
    cdef bint in_ancestors          # past "[originating from goroutine N]:" in the current block
    cdef Slot* cslots               # (group, creator) pairs seen: hash -> index into creators
    cdef int64_t ccap
    cdef I64Vec locked_ids
    cdef public int64_t offset
    cdef public int64_t goroutines
    cdef public int64_t other_lines
    cdef I64Vec other_offsets
    cdef public bint ends_mid_line
    # the goroutine being read
    cdef bint in_block
    cdef int64_t cur_id, cur_hdr, cur_minutes, cur_creator, cur_frames, cur_start, cur_end
    cdef bint cur_has_creator
    cdef bint cur_locked, cur_elided
    cdef uint64_t hx
    cdef uint8_t[MAX_STATE] state
    cdef int64_t state_len

    def __cinit__(self, bint rows=False, uint64_t seed=0x243F6A8885A308D3):
        self.keep_rows = rows
        self.stacks = Stacks(seed)
        self.seed = seed
        idmap_init(&self.pairs, 1024)

    def __dealloc__(self):
        cdef int i
        for i in range(<int>G_NCOLS):
            vec_free(&self.cols[i])
        for i in range(<int>R_NCOLS):
            vec_free(&self.grp[i])
        free(self.loose.data)
        strtab_free(&self.texts)
        idmap_free(&self.pairs)
        vec_free(&self.creators)
        vec_free(&self.ancestors)
        free(self.cslots)
        vec_free(&self.locked_ids)
        vec_free(&self.other_offsets)

    cdef int64_t state_at(self, const uint8_t* p, int64_t n, uint64_t* gid) noexcept:
        """Where the state text of a goroutine header starts (and its id), or -1 if ``p`` is no
        header: ``goroutine N [state, ...]:`` or ``goroutine N gp=.. m=.. [state]:``."""
        cdef int64_t k, i, q
        if not starts(p, n, b"goroutine ", 10):
            return -1
        k = parse_u64(p + 10, n - 10, gid)
        if k == 0:
            return -1
        i = 10 + k
        if i >= n or p[i] != 0x20:
            return -1
        i += 1
        if not (i < n and p[i] == 0x5B) and not starts(p + i, n - i, b"gp=", 3):
            return -1
        q = find(p + i, n - i, b"[", 1)
        if q < 0 or n < 2 or p[n - 1] != 0x3A or p[n - 2] != 0x5D:   # ends with "]:"
            return -1
        return i + q + 1

    cdef int header(self, const uint8_t* p, int64_t n, int64_t at, int64_t i, uint64_t gid) except -1:
        """Start the goroutine whose header is ``p`` (state text from ``i``)."""
        cdef int64_t k, j, q, item, ilen, v
        cdef bint first = True
        j = n - 2
        self.cur_id = <int64_t>gid                  # the bits; numpy reads the column as uint64
        self.cur_hdr = at
        self.cur_minutes = -1
        self.cur_locked = False
        self.cur_creator = 0
        self.cur_has_creator = False
        self.cur_frames = 0
        self.cur_elided = False
        item = i
        while item <= j:
            q = find(p + item, j - item, b", ", 2)
            ilen = (j - item) if q < 0 else q
            if first:
                self.state_len = ilen if ilen < MAX_STATE else MAX_STATE
                memcpy(self.state, p + item, self.state_len)
                first = False
            else:
                k = parse_uint(p + item, ilen, &v)
                if k > 0 and starts(p + item + k, ilen - k, b" minute", 7):
                    self.cur_minutes = v
                elif starts(p + item, ilen, b"locked to thread", 16):
                    self.cur_locked = True
            if q < 0:
                break
            item += q + 2
        return 1

    cdef int close(self) except -1:
        """The goroutine being read is complete: add it to its group (and to the rows)."""
        cdef const uint8_t* t = self.loose.data
        cdef int64_t n = self.loose.n
        cdef int64_t g, i, sid, stid
        cdef int c
        cdef int64_t k, found, base
        cdef uint64_t pair
        cdef bint added
        k = strtab_intern(&self.texts, self.seed, t, n, &added)
        g = self.texts.extra.data[k]
        if added:
            # a text not seen: parse it; texts that parse to the same (state, stack) share a group
            sid = self.stacks.add_block(t + self.state_len + 1, n - self.state_len - 1)
            stid = self.stacks.state_id(self.state, self.state_len)
            if sid >= 0x7FFFFFFF or stid >= 0x7FFFFFFF:
                raise OverflowError("more than 2^31 distinct stacks or states")
            pair = ((<uint64_t>stid << 32) | <uint64_t>sid) + 1
            g = idmap_get(&self.pairs, pair)
            if g < 0:
                g = self.grp[<int>R_COUNT].n
                idmap_put(&self.pairs, pair, <int32_t>g)
                for c in range(<int>R_NCOLS):
                    push(&self.grp[c], 0)
                self.grp[<int>R_WMIN].data[g] = -1
                self.grp[<int>R_WMAX].data[g] = -1
                self.grp[<int>R_STACK].data[g] = sid
                self.grp[<int>R_STATE].data[g] = stid
                self.grp[<int>R_FIRST_ID].data[g] = self.cur_id
                self.grp[<int>R_FIRST_OFF].data[g] = self.cur_hdr
                self.grp[<int>R_FRAMES].data[g] = self.cur_frames
                self.grp[<int>R_ELIDED].data[g] = self.cur_elided
            self.texts.extra.data[k] = g
        self.grp[<int>R_COUNT].data[g] += 1
        if self.cur_minutes >= 0:
            if self.grp[<int>R_WMIN].data[g] < 0 or self.cur_minutes < self.grp[<int>R_WMIN].data[g]:
                self.grp[<int>R_WMIN].data[g] = self.cur_minutes
            if self.cur_minutes > self.grp[<int>R_WMAX].data[g]:
                self.grp[<int>R_WMAX].data[g] = self.cur_minutes
        else:
            # the runtime prints no minutes below one: this goroutine waited at least 0 minutes
            self.grp[<int>R_WMIN].data[g] = 0
        if self.cur_locked:
            self.grp[<int>R_LOCKED].data[g] += 1
            if self.locked_ids.n < MAX_LOCKED_IDS:
                push(&self.locked_ids, self.cur_id)
        if self.cur_has_creator and self.grp[<int>R_NCREATORS].data[g] < MAX_CREATORS:
            self.add_creator(g, self.cur_creator)
        if self.keep_rows:
            for c in range(<int>G_NCOLS):
                push(&self.cols[c], 0)
            k = self.cols[<int>G_ID].n - 1
            self.cols[<int>G_ID].data[k] = self.cur_id
            self.cols[<int>G_HDR].data[k] = self.cur_hdr
            self.cols[<int>G_GROUP].data[k] = g
            self.cols[<int>G_MINUTES].data[k] = self.cur_minutes
            self.cols[<int>G_LOCKED].data[k] = self.cur_locked
            self.cols[<int>G_START].data[k] = self.cur_start
            self.cols[<int>G_END].data[k] = self.cur_end
            self.cols[<int>G_EXACT].data[k] = <int64_t>self.hx
            self.cols[<int>G_CREATOR].data[k] = self.cur_creator
            self.cols[<int>G_FRAMES].data[k] = self.cur_frames
            self.cols[<int>G_ELIDED].data[k] = self.cur_elided
            self.cols[<int>G_HASCRE].data[k] = self.cur_has_creator
        self.goroutines += 1
        self.in_block = False
        return 0

    def feed(self, buf, bint final=True):
        """Consume whole lines of ``buf`` (all of it when ``final``); return the bytes used."""
        if self.stacks.taken:
            raise RuntimeError("the results were already taken")
        cdef const uint8_t[::1] mv = memoryview(buf).cast("B")
        cdef int64_t n = mv.shape[0]
        cdef const uint8_t* base
        cdef const uint8_t* line
        cdef const uint8_t* nl
        cdef int64_t pos = 0, ln, cut, k, v, q, at
        cdef uint64_t uv = 0
        if n == 0:
            if final and self.in_block:
                self.close()
            return 0
        base = &mv[0]
        if final:
            self.ends_mid_line = base[n - 1] != 0x0A
        while pos < n:
            nl = <const uint8_t*>memchr(base + pos, 0x0A, n - pos)
            if nl == NULL and not final:
                break
            ln = (nl - (base + pos)) if nl != NULL else n - pos
            line = base + pos
            at = self.offset + pos
            while ln > 0 and line[ln - 1] == 0x0D:
                ln -= 1
            if self.header_candidate(line, ln) and self.start(line, ln, at):
                pass
            elif self.in_block and ln > 28 and starts(line, ln, b"[originating from goroutine ", 28):
                # the stacks of the goroutines that created this one, recorded at their creation:
                # where this goroutine came from, not part of its own stack
                k = parse_u64(line + 28, ln - 28, &uv)
                if k > 0:
                    push(&self.ancestors, self.goroutines)
                    push(&self.ancestors, <int64_t>uv)
                self.in_ancestors = True
                self.cur_end = at + ln + 1 if nl != NULL else at + ln
            elif self.in_block and self.in_ancestors and ln > 0 and (line[0] == 0x09 or self.stack_line(line, ln)):
                self.cur_end = at + ln + 1 if nl != NULL else at + ln
            elif self.in_block and ln > 0 and (line[0] == 0x09 or self.stack_line(line, ln)):
                if line[0] == 0x09:                  # "\t/path/file.go:123 +0x1f fp=.. sp=.. pc=.."
                    if self.keep_rows:
                        cut = plus_offset(line, ln)
                        if cut > 0:                  # exact: up to the end of +0x..
                            k = cut + 3
                            while k < ln and is_hex(line[k]):
                                k += 1
                            self.hx = fold(self.hx, line, k)
                        else:                        # no PC offset (inlined frame): drop any fp= tail
                            cut = find(line, ln, b" fp=", 4)
                            self.hx = fold(self.hx, line, ln if cut < 0 else cut)
                else:
                    if self.keep_rows:
                        self.hx = fold(self.hx, line, ln)
                    if starts(line, ln, b"created by ", 11):
                        cut = find(line, ln, b" in goroutine ", 14)
                        if cut >= 0:
                            k = parse_u64(line + cut + 14, ln - cut - 14, &uv)
                            if k > 0:
                                self.cur_creator = <int64_t>uv
                                self.cur_has_creator = True
                    elif line[0] == 0x2E:            # "...additional frames elided..." / "...N frames elided..."
                        self.cur_elided = True
                    elif not starts(line, ln, b"goroutine running on other thread", 33):
                        self.cur_frames += 1         # "pkg.(*T).f(0x1, {...})" or "pkg.f(...)"
                if self.keep_rows:
                    self.hx = fold(self.hx, <const uint8_t*>b"\n", 1)
                self.loose_line(line, ln)
                self.cur_end = at + ln + 1 if nl != NULL else at + ln
            else:
                if self.in_block:
                    self.close()
                if ln > 0:
                    self.other_lines += 1
                    if self.other_offsets.n < MAX_OTHER:
                        push(&self.other_offsets, at)
            if nl == NULL:
                pos = n
                break
            pos += (nl - (base + pos)) + 1
        if final and self.in_block:
            self.close()
        self.offset += pos
        return pos

    cdef int add_creator(self, int64_t g, int64_t creator) except -1:
        """Record that group ``g`` has a goroutine created by ``creator``, once per pair (a set of
        pairs, compared in full: 16 bytes a pair rather than 16 slots a group)."""
        cdef uint64_t h = (<uint64_t>g * <uint64_t>0x9E3779B97F4A7C15) ^ (<uint64_t>creator * <uint64_t>0xC2B2AE3D27D4EB4F)
        cdef int64_t i, k
        h ^= h >> 31
        if (self.creators.n // 2 + 1) * 2 > self.ccap:
            self.cslots = grown(self.cslots, self.ccap, self.ccap * 2 if self.ccap else 1024)
            self.ccap = self.ccap * 2 if self.ccap else 1024
        i = <int64_t>((h >> 32) & <uint64_t>(self.ccap - 1))
        while self.cslots[i].id:
            if self.cslots[i].tag == <uint32_t>(h >> 32):
                k = (<int64_t>self.cslots[i].id - 1) * 2
                if self.creators.data[k] == g and self.creators.data[k + 1] == creator:
                    return 0
            i = (i + 1) & (self.ccap - 1)
        self.cslots[i].tag = <uint32_t>(h >> 32)
        self.cslots[i].id = self.creators.n // 2 + 1
        push(&self.creators, g)
        push(&self.creators, creator)
        self.grp[<int>R_NCREATORS].data[g] += 1
        return 0

    cdef int loose_line(self, const uint8_t* line, int64_t ln) except -1:
        """Add to the goroutine's group key what the stack parse reads of the line (``gostacks``):
        the call without its arguments, the file:line without its PC offset, the creator without
        its goroutine id. Equal keys parse to equal stacks."""
        cdef int64_t k = ln, a
        cdef const uint8_t* q
        if line[0] == 0x09:
            q = <const uint8_t*>memchr(line, 0x20, ln)
            if q != NULL:
                k = q - line
        elif starts(line, ln, b"created by ", 11):
            a = find(line, ln, b" in goroutine ", 14)
            if a >= 0:
                k = a
        elif line[0] == 0x2E:
            k = 3 if ln >= 3 else ln
        elif line[ln - 1] == 0x29:
            a = args_start(line, ln)
            if a > 0:
                k = a
        blob_append(&self.loose, line, k)
        blob_append(&self.loose, <const uint8_t*>b"\n", 1)
        return 0

    cdef inline bint header_candidate(self, const uint8_t* line, int64_t ln) noexcept:
        return ln > 10 and line[0] == 0x67

    cdef int start(self, const uint8_t* line, int64_t ln, int64_t at) except -1:
        """If ``line`` is a goroutine header, close the goroutine being read and start this one."""
        cdef uint64_t gid = 0
        cdef int64_t i = self.state_at(line, ln, &gid)
        if i < 0:
            return 0
        if self.in_block:
            self.close()
        self.header(line, ln, at, i, gid)
        self.in_block = True
        self.in_ancestors = False
        self.hx = FNV_OFFSET
        self.loose.n = 0
        blob_append(&self.loose, self.state, self.state_len)
        blob_append(&self.loose, <const uint8_t*>b"\0", 1)
        self.cur_start = at + ln + 1
        self.cur_end = at + ln + 1
        return 1

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
        return line[ln - 1] == 0x29 and memchr(line + 1, 0x28, ln - 1) != NULL

    def results(self):
        """The columns, handed over without a copy (once: the scanner reads no more after this)."""
        rows = {}
        names = ["id", "header", "group", "wait_minutes", "locked", "stack_start", "stack_end", "hash_exact",
                 "creator", "frames", "elided", "has_creator"]
        cdef int i
        if self.keep_rows:
            for i in range(<int>G_NCOLS):
                rows[names[i]] = vec_take(&self.cols[i])
        gnames = ["count", "wait_min", "wait_max", "locked", "stack", "state", "first_id", "first_offset",
                  "ncreators", "frames", "elided"]
        groups = {gnames[i]: vec_take(&self.grp[i]) for i in range(<int>R_NCOLS)}
        return {
            "rows": rows if self.keep_rows else None,
            "groups": groups,
            "stacks": self.stacks.results(),
            "creators": vec_take(&self.creators).reshape(-1, 2),
            "ancestors": vec_take(&self.ancestors).reshape(-1, 2),
            "locked_ids": vec_take(&self.locked_ids),
            "goroutines": self.goroutines,
            "other_offsets": vec_take(&self.other_offsets),
            "other_lines": self.other_lines,
            "ends_mid_line": bool(self.ends_mid_line),
        }
