# cython: language_level=3
"""The common x86-64 CFI step, applied frame after frame without returning to Python.

A step is *common* when the CFA is a register plus an offset, the callee-saved registers the
CFI names are saved at CFA offsets, the return address is saved, and nothing else is asked
(``dumpx.elf.backtrace.Unwinder._compile`` decides, in Python, and adds the step here keyed by the
frame's pc and whether that pc is exact). ``walk`` applies such steps while every frame has one
and every read lies inside one captured segment of the core; at the first frame that needs
anything else it stops *before* that frame, and the Python unwinder takes it from there with
exactly the state the kernel had. So this kernel never decides anything the Python path would
decide differently: it only does the same arithmetic faster.

Every memory read is checked against the segment table and the core buffer's length; the
number of frames is bounded by the caller's ``room``.
"""

from libc.stdint cimport uint8_t, uint64_t, int64_t
from libc.string cimport memset

from cython.view cimport array as cvarray

DEF NREG = 17            # x86-64 DWARF registers 0..16 (rax..r15, rip)
DEF SP = 7

STATUS_PYTHON = 0        # the next frame needs the general path
STATUS_END = 1           # the last frame's return address is 0
STATUS_ROOM = 2          # ``room`` frames were written


cdef object zeros(int64_t n, str fmt):
    cdef cvarray a = cvarray(shape=(max(n, 1),), itemsize=8, format=fmt)
    memset(a.data, 0, max(n, 1) * 8)
    return a


cdef class FastSteps:
    """Compiled steps by (pc, exact): open addressing, grown by doubling."""
    cdef object _keys, _cfa_reg, _cfa_off, _ra_off, _keep, _saved, _offs
    cdef uint64_t[::1] keys
    cdef int64_t[::1] cfa_reg, cfa_off, ra_off
    cdef uint64_t[::1] keep, saved
    cdef int64_t[::1] offs           # NREG per slot
    cdef int64_t n, cap

    def __init__(self):
        self.n = 0
        self._alloc(64)

    cdef _alloc(self, int64_t cap):
        self.cap = cap
        self._keys = zeros(cap, "Q")
        self._cfa_reg = zeros(cap, "q")
        self._cfa_off = zeros(cap, "q")
        self._ra_off = zeros(cap, "q")
        self._keep = zeros(cap, "Q")
        self._saved = zeros(cap, "Q")
        self._offs = zeros(cap * NREG, "q")
        self.keys = self._keys
        self.cfa_reg = self._cfa_reg
        self.cfa_off = self._cfa_off
        self.ra_off = self._ra_off
        self.keep = self._keep
        self.saved = self._saved
        self.offs = self._offs

    cdef inline int64_t slot(self, uint64_t key) noexcept:
        """Where ``key`` is or would go. Safe without exceptions: the index is masked below ``cap``
        (a power of two, the length of ``keys``), and the table is kept at most half full, so the
        probe ends."""
        cdef uint64_t h = (key * <uint64_t>0x9E3779B97F4A7C15ULL) >> 17
        cdef int64_t i = <int64_t>(h & <uint64_t>(self.cap - 1))
        while self.keys[i] != 0 and self.keys[i] != key:
            i = (i + 1) & (self.cap - 1)
        return i

    cdef _grow(self):
        cdef uint64_t[::1] ok = self.keys
        cdef int64_t[::1] ocr = self.cfa_reg, oco = self.cfa_off, ora = self.ra_off, oof = self.offs
        cdef uint64_t[::1] okp = self.keep, osv = self.saved
        cdef int64_t j, i, r, ocap = self.cap
        self._alloc(ocap * 2)
        for j in range(ocap):
            if ok[j]:
                i = self.slot(ok[j])
                self.keys[i] = ok[j]
                self.cfa_reg[i] = ocr[j]
                self.cfa_off[i] = oco[j]
                self.ra_off[i] = ora[j]
                self.keep[i] = okp[j]
                self.saved[i] = osv[j]
                for r in range(NREG):
                    self.offs[i * NREG + r] = oof[j * NREG + r]

    def __len__(self):
        return self.n

    def add(self, uint64_t pc, bint exact, int64_t cfa_reg, int64_t cfa_off, offsets, keep, int64_t ra_off):
        """A step for frames at ``pc`` (``exact``: the pc is not a return address): CFA =
        ``cfa_reg`` + ``cfa_off``; each (register, offset) of ``offsets`` is read at CFA + offset;
        registers in ``keep`` keep their value (when known); the return address is read at CFA +
        ``ra_off``; the stack pointer becomes the CFA."""
        cdef uint64_t key = ((pc << 1) | (1 if exact else 0)) + 1
        cdef int64_t i, j, r
        if pc >> 62 or not 0 <= cfa_reg < NREG:
            return False
        for r in keep:
            if not 0 <= r < NREG:
                return False
        for r, _ in offsets:
            if not 0 <= r < NREG:
                return False
        if 2 * (self.n + 1) > self.cap:
            self._grow()
        i = self.slot(key)
        if self.keys[i] == 0:
            self.n += 1
        self.keys[i] = key
        self.cfa_reg[i] = cfa_reg
        self.cfa_off[i] = cfa_off
        self.ra_off[i] = ra_off
        self.keep[i] = 0
        for r in keep:
            self.keep[i] |= (<uint64_t>1) << r
        self.saved[i] = 0
        for r, o in offsets:
            self.saved[i] |= (<uint64_t>1) << r
            self.offs[i * NREG + r] = o
        return True


cdef inline int read64(const uint8_t[::1] mem, const uint64_t[::1] lo, const uint64_t[::1] hi,
                       const int64_t[::1] off, uint64_t cfa, int64_t delta, uint64_t* out) noexcept:
    """The word at ``cfa + delta`` when that sum does not wrap and all 8 bytes lie in one
    captured segment; 0 otherwise (the Python path then decides what the read means). Safe
    without exceptions: the binary search stays inside ``lo``, ``walk`` checked that ``hi`` and
    ``off`` have its length, and the file offset is checked against ``mem`` before the read."""
    cdef int64_t a = 0, b = lo.shape[0], m, k, p
    cdef int i
    cdef uint64_t v = 0
    cdef uint64_t addr = cfa + <uint64_t>delta
    if (delta >= 0 and addr < cfa) or (delta < 0 and addr > cfa):
        return 0
    if addr > <uint64_t>0xFFFFFFFFFFFFFFF7ULL:
        return 0
    while a < b:
        m = (a + b) >> 1
        if lo[m] <= addr:
            a = m + 1
        else:
            b = m
    k = a - 1
    if k < 0 or addr + 8 > hi[k]:
        return 0
    p = off[k] + <int64_t>(addr - lo[k])
    if p < 0 or p + 8 > mem.shape[0]:
        return 0
    for i in range(8):
        v |= (<uint64_t>mem[p + i]) << (8 * i)
    out[0] = v
    return 1


def walk(FastSteps steps, const uint8_t[::1] mem not None, const uint64_t[::1] seg_lo not None,
         const uint64_t[::1] seg_hi not None, const int64_t[::1] seg_off not None,
         uint64_t[::1] regs not None, uint64_t have, uint64_t pc, bint exact, int64_t room,
         uint64_t[::1] o_pc not None, uint64_t[::1] o_cfa not None, uint64_t[::1] o_slot not None,
         uint64_t[::1] o_regs not None, uint64_t[::1] o_have not None):
    """Frames from the state (``regs`` with the ``have`` bitmask, ``pc``, ``exact``) while each
    has a compiled step. Row k of the outputs is frame k's pc, its CFA, the stack slot its
    caller's pc was read from, and its registers (``o_regs[k * 17:(k + 1) * 17]``, the state it
    was found in); ``regs`` is
    updated in place to the state after the last frame.

    Returns (frames written, status, next pc, next have): STATUS_PYTHON when the next frame needs
    the general path (nothing of it written); STATUS_END when the last return address was 0;
    STATUS_ROOM when ``room`` frames were written."""
    cdef int64_t n = 0, i, r
    cdef uint64_t key, cfa, base, v, ra
    cdef uint64_t[NREG] new
    cdef uint64_t nhave
    if regs.shape[0] != NREG or seg_hi.shape[0] != seg_lo.shape[0] \
            or seg_off.shape[0] != seg_lo.shape[0]:
        raise ValueError("register or segment arrays of the wrong shape")
    if room > o_pc.shape[0] or room > o_cfa.shape[0] or room > o_slot.shape[0] or room * NREG > o_regs.shape[0] \
            or room > o_have.shape[0]:
        raise ValueError("output arrays shorter than room")
    while n < room:
        if pc >> 62:
            return n, STATUS_PYTHON, pc, have
        key = ((pc << 1) | (1 if exact else 0)) + 1
        i = steps.slot(key)
        if steps.keys[i] != key:
            return n, STATUS_PYTHON, pc, have
        r = steps.cfa_reg[i]
        if not (have >> r) & 1:
            return n, STATUS_PYTHON, pc, have
        base = regs[r]
        cfa = base + <uint64_t>steps.cfa_off[i]
        nhave = have & steps.keep[i]
        for r in range(NREG):
            new[r] = regs[r] if (nhave >> r) & 1 else 0
        for r in range(NREG):
            if (steps.saved[i] >> r) & 1:
                if not read64(mem, seg_lo, seg_hi, seg_off, cfa, steps.offs[i * NREG + r], &v):
                    return n, STATUS_PYTHON, pc, have
                new[r] = v
                nhave |= (<uint64_t>1) << r
        if not read64(mem, seg_lo, seg_hi, seg_off, cfa, steps.ra_off[i], &ra):
            return n, STATUS_PYTHON, pc, have
        new[SP] = cfa
        nhave |= (<uint64_t>1) << SP
        o_pc[n] = pc
        o_cfa[n] = cfa
        o_slot[n] = cfa + <uint64_t>steps.ra_off[i]
        for r in range(NREG):
            o_regs[n * NREG + r] = regs[r]
        o_have[n] = have
        n += 1
        for r in range(NREG):
            regs[r] = new[r]
        have = nhave
        pc = ra
        exact = False
        if pc == 0:
            return n, STATUS_END, pc, have
    return n, STATUS_ROOM, pc, have
