# cython: language_level=3
"""DWARF call frame information: index the FDEs of ``.eh_frame``/``.debug_frame`` and run a
CIE+FDE program up to a pc, giving the CFA rule and one rule per register.

Every read is checked against the section's length; a malformed entry raises
``CorruptDumpError`` naming the section offset. The state stack of ``remember_state`` is
bounded (``MAX_STATES``), so a crafted program cannot grow memory.
"""

from libc.stdint cimport uint8_t, int64_t, uint64_t
from libc.string cimport memcpy

from .cursor cimport Cur, fail, need, u8, ule, sle, leb, uleb, sleb

from array import array

from cython.view cimport array as cvarray

# register rule kinds (the rules array is int64 [NREG, 3]: kind, a, b)
R_UNSPECIFIED = 0
R_UNDEFINED = 1
R_SAME = 2
R_OFFSET = 3          # saved at CFA + a
R_VAL_OFFSET = 4      # value is CFA + a
R_REGISTER = 5        # value is in register a
R_EXPRESSION = 6      # saved at the address the expression at section offset a (length b) computes
R_VAL_EXPRESSION = 7  # value is what the expression computes
CFA_REG = 1
CFA_EXPR = 2

DEF NREG = 128
DEF MAX_STATES = 64
DEF MAX_AUG = 64


cdef uint64_t encoded(Cur* c, uint8_t enc, int ptr_size, bint skip_only=False) except? 0xFFFFFFFFFFFFFFFF:
    """A pointer in DW_EH_PE encoding ``enc`` (pcrel resolved; datarel/textrel/funcrel and
    indirect pointers refused unless ``skip_only``: the field is then only stepped over)."""
    cdef uint64_t field = c.addr + <uint64_t>c.pos
    cdef uint64_t v = 0
    cdef uint8_t fmt = enc & 0x0F
    cdef uint8_t app = enc & 0x70
    if enc == 0xFF:
        return 0
    if fmt == 0x00:
        v = ule(c, ptr_size)
    elif fmt == 0x01:
        v = uleb(c)
    elif fmt == 0x02:
        v = ule(c, 2)
    elif fmt == 0x03:
        v = ule(c, 4)
    elif fmt == 0x04:
        v = ule(c, 8)
    elif fmt == 0x09:
        v = <uint64_t>sleb(c)
    elif fmt == 0x0A:
        v = <uint64_t>sle(c, 2)
    elif fmt == 0x0B:
        v = <uint64_t>sle(c, 4)
    elif fmt == 0x0C:
        v = <uint64_t>sle(c, 8)
    else:
        fail(c.pos, f"a known pointer encoding (got 0x{enc:02x})")
    if skip_only:
        return v
    if app == 0x10:
        v += field
    elif app != 0x00:
        fail(c.pos, f"an absolute or pc-relative pointer (encoding 0x{enc:02x})")
    if enc & 0x80:
        fail(c.pos, "a direct pointer (indirect encodings need memory)")
    return v


cdef struct Cie:
    int64_t insn_start
    int64_t insn_end
    uint64_t code_align
    int64_t data_align
    int64_t ra_reg
    uint8_t fde_enc
    bint has_z
    bint signal
    int64_t offset


cdef int64_t entry_header(Cur* c, int64_t* body_end, bint eh, bint* is_cie, int64_t* cie_ptr) except -2:
    """Reads length and CIE id at c.pos; returns 0 at an .eh_frame terminator, else 1."""
    cdef int64_t start = c.pos
    cdef uint64_t length = ule(c, 4)
    cdef bint wide = False
    cdef uint64_t cid
    cdef int64_t id_pos
    if length == 0:
        body_end[0] = c.pos
        return 0
    if length == 0xFFFFFFFF:
        length = ule(c, 8)
        wide = True
    if length > <uint64_t>(c.n - c.pos):
        fail(start, f"an entry of {length} bytes inside the section")
    body_end[0] = c.pos + <int64_t>length
    id_pos = c.pos
    cid = ule(c, 8 if wide else 4)
    if eh:
        is_cie[0] = cid == 0
        cie_ptr[0] = id_pos - <int64_t>cid
    else:
        is_cie[0] = cid == (0xFFFFFFFFFFFFFFFF if wide else 0xFFFFFFFF)
        cie_ptr[0] = <int64_t>cid
    return 1


cdef int parse_cie(const uint8_t* p, int64_t n, uint64_t addr, int64_t off, bint eh, int ptr_size,
                   Cie* out) except -1:
    cdef Cur c
    cdef int64_t body_end, cie_ptr, aug_end, aug_start
    cdef bint is_cie
    cdef uint8_t version, ch
    cdef int k
    cdef char aug[MAX_AUG]
    cdef int naug = 0
    if off < 0 or off >= n:
        fail(off, "a CIE inside the section")
    c.p = p; c.n = n; c.pos = off; c.addr = addr
    if entry_header(&c, &body_end, eh, &is_cie, &cie_ptr) != 1 or not is_cie:
        fail(off, "a CIE where the FDE points")
    c.n = body_end
    out.offset = off
    version = <uint8_t>u8(&c)
    if version not in (1, 3, 4):
        fail(c.pos - 1, f"CIE version 1, 3 or 4 (got {version})")
    while True:
        ch = <uint8_t>u8(&c)
        if ch == 0:
            break
        if naug >= MAX_AUG - 1:
            fail(c.pos, "a short augmentation string")
        aug[naug] = <char>ch
        naug += 1
    if version == 4:
        u8(&c)
        u8(&c)
    out.code_align = uleb(&c)
    out.data_align = sleb(&c)
    out.ra_reg = <int64_t>(u8(&c) if version == 1 else uleb(&c))
    out.fde_enc = 0x00
    out.has_z = naug > 0 and aug[0] == b'z'
    out.signal = False
    if naug and not out.has_z and not (naug == 2 and aug[0] == b'e' and aug[1] == b'h'):
        fail(off, "an augmentation dumpx understands ('z...' or none)")
    if out.has_z:
        aug_start = c.pos
        aug_end = <int64_t>uleb(&c)
        aug_end += c.pos
        if aug_end > c.n:
            fail(aug_start, "augmentation data inside the CIE")
        for k in range(1, naug):
            ch = <uint8_t>aug[k]
            if ch == b'R':
                out.fde_enc = <uint8_t>u8(&c)
            elif ch == b'L':
                u8(&c)
            elif ch == b'P':
                encoded(&c, <uint8_t>u8(&c), ptr_size, True)
            elif ch == b'S':
                out.signal = True
            else:
                break           # unknown letters: the rest of the data is skipped by length
        c.pos = aug_end
    out.insn_start = c.pos
    out.insn_end = body_end
    return 0


cdef int fde_range(Cur* c, Cie* cie, bint eh, int ptr_size, uint64_t* begin, uint64_t* length) except -1:
    """An FDE's initial location and address range (pointer-encoded in .eh_frame, plain in .debug_frame)."""
    if eh:
        begin[0] = encoded(c, cie.fde_enc, ptr_size)
        length[0] = encoded(c, cie.fde_enc & 0x0F, ptr_size)
    else:
        begin[0] = ule(c, ptr_size)
        length[0] = ule(c, ptr_size)
    return 0


def index(const uint8_t[:] data not None, uint64_t section_addr, bint eh_frame, int ptr_size=8):
    """Every FDE of the section: (pc_begin, pc_end, fde_offset) sorted by pc_begin.

    ``section_addr`` is the section's address in the file's address space (pc-relative
    pointers resolve against it). Zero-length FDEs are dropped.
    """
    cdef Cur c
    cdef int64_t n = data.shape[0]
    cdef int64_t body_end, cie_ptr, start
    cdef bint is_cie
    cdef int64_t last_cie = -1
    cdef Cie cie
    cdef uint64_t b, r
    cdef list lo = [], hi = [], offs = []
    if n == 0:
        return array("Q"), array("Q"), array("q")
    c.p = &data[0]; c.n = n; c.pos = 0; c.addr = section_addr
    while c.pos + 4 <= n:
        start = c.pos
        if entry_header(&c, &body_end, eh_frame, &is_cie, &cie_ptr) == 0:
            if eh_frame:
                break
            continue
        if not is_cie:
            if cie_ptr != last_cie:
                parse_cie(c.p, n, section_addr, cie_ptr, eh_frame, ptr_size, &cie)
                last_cie = cie_ptr
            fde_range(&c, &cie, eh_frame, ptr_size, &b, &r)
            if r:
                lo.append(b)
                hi.append(b + r)
                offs.append(start)
        c.pos = body_end
    if any(lo[k] > lo[k + 1] for k in range(len(lo) - 1)):
        order = sorted(range(len(lo)), key=lo.__getitem__)
        lo, hi, offs = [lo[k] for k in order], [hi[k] for k in order], [offs[k] for k in order]
    return array("Q", lo), array("Q", hi), array("q", offs)


cdef inline int set_rule(int64_t[:, ::1] rules, uint64_t reg, int64_t kind, int64_t a, int64_t b) except -1:
    if reg < NREG:
        rules[reg, 0] = kind
        rules[reg, 1] = a
        rules[reg, 2] = b
    return 0


cdef int run(Cur* c, int64_t end, Cie* cie, bint eh, int ptr_size, uint64_t pc, uint64_t* loc,
             int64_t[:, ::1] rules, int64_t[:, ::1] initial, int64_t* cfa, int64_t[:, ::1] stack,
             int64_t* cfa_stack, int* depth) except -1:
    """Runs instructions from c.pos to ``end`` while the location stays <= pc; returns 1 when an
    advance passed pc (the rules are those of pc), else 0."""
    cdef uint8_t op, hi, lo
    cdef uint64_t reg, reg2, ln, delta
    cdef int64_t off
    cdef int64_t i, j
    c.n = end
    while c.pos < end:
        op = <uint8_t>u8(c)
        hi = op & 0xC0
        lo = op & 0x3F
        if hi == 0x40:
            delta = lo * cie.code_align
            if loc[0] + delta > pc:
                return 1
            loc[0] += delta
        elif hi == 0x80:
            off = <int64_t>uleb(c) * cie.data_align
            set_rule(rules, lo, R_OFFSET, off, 0)
        elif hi == 0xC0:
            if lo < NREG:
                rules[lo, 0] = initial[lo, 0]; rules[lo, 1] = initial[lo, 1]; rules[lo, 2] = initial[lo, 2]
        elif op == 0x00:
            pass
        elif op == 0x01:
            delta = encoded(c, cie.fde_enc if eh else 0x00, ptr_size)
            if delta > pc:
                return 1
            loc[0] = delta
        elif op in (0x02, 0x03, 0x04):
            delta = ule(c, 1 if op == 0x02 else 2 if op == 0x03 else 4) * cie.code_align
            if loc[0] + delta > pc:
                return 1
            loc[0] += delta
        elif op == 0x05:
            reg = uleb(c)
            set_rule(rules, reg, R_OFFSET, <int64_t>uleb(c) * cie.data_align, 0)
        elif op == 0x06:
            reg = uleb(c)
            if reg < NREG:
                rules[reg, 0] = initial[reg, 0]; rules[reg, 1] = initial[reg, 1]; rules[reg, 2] = initial[reg, 2]
        elif op == 0x07:
            set_rule(rules, uleb(c), R_UNDEFINED, 0, 0)
        elif op == 0x08:
            set_rule(rules, uleb(c), R_SAME, 0, 0)
        elif op == 0x09:
            reg = uleb(c)
            reg2 = uleb(c)
            set_rule(rules, reg, R_REGISTER, <int64_t>reg2, 0)
        elif op == 0x0A:
            if depth[0] >= MAX_STATES:
                fail(c.pos - 1, f"at most {MAX_STATES} nested DW_CFA_remember_state")
            for i in range(NREG):
                for j in range(3):
                    stack[depth[0] * NREG + i, j] = rules[i, j]
            for j in range(4):
                cfa_stack[depth[0] * 4 + j] = cfa[j]
            depth[0] += 1
        elif op == 0x0B:
            if depth[0] == 0:
                fail(c.pos - 1, "a DW_CFA_restore_state after a DW_CFA_remember_state")
            depth[0] -= 1
            for i in range(NREG):
                for j in range(3):
                    rules[i, j] = stack[depth[0] * NREG + i, j]
            for j in range(4):
                cfa[j] = cfa_stack[depth[0] * 4 + j]
        elif op == 0x0C:
            cfa[0] = CFA_REG
            cfa[1] = <int64_t>uleb(c)
            cfa[2] = <int64_t>uleb(c)
        elif op == 0x0D:
            cfa[0] = CFA_REG
            cfa[1] = <int64_t>uleb(c)
        elif op == 0x0E:
            cfa[2] = <int64_t>uleb(c)
        elif op == 0x0F:
            ln = uleb(c)
            need(c, <int64_t>ln)
            cfa[0] = CFA_EXPR
            cfa[1] = c.pos
            cfa[2] = <int64_t>ln
            c.pos += <int64_t>ln
        elif op == 0x10 or op == 0x16:
            reg = uleb(c)
            ln = uleb(c)
            need(c, <int64_t>ln)
            set_rule(rules, reg, R_EXPRESSION if op == 0x10 else R_VAL_EXPRESSION, c.pos, <int64_t>ln)
            c.pos += <int64_t>ln
        elif op == 0x11:
            reg = uleb(c)
            set_rule(rules, reg, R_OFFSET, sleb(c) * cie.data_align, 0)
        elif op == 0x12:
            cfa[0] = CFA_REG
            cfa[1] = <int64_t>uleb(c)
            cfa[2] = sleb(c) * cie.data_align
        elif op == 0x13:
            cfa[2] = sleb(c) * cie.data_align
        elif op == 0x14:
            reg = uleb(c)
            set_rule(rules, reg, R_VAL_OFFSET, <int64_t>uleb(c) * cie.data_align, 0)
        elif op == 0x15:
            reg = uleb(c)
            set_rule(rules, reg, R_VAL_OFFSET, sleb(c) * cie.data_align, 0)
        elif op == 0x2E:
            uleb(c)                       # DW_CFA_GNU_args_size: no effect on the rules
        elif op == 0x2F:
            reg = uleb(c)
            set_rule(rules, reg, R_OFFSET, -(<int64_t>uleb(c)) * cie.data_align, 0)
        elif op == 0x2D:
            pass                          # GNU_window_save / AARCH64_negate_ra_state
        elif op == 0x1D:
            delta = ule(c, 8) * cie.code_align
            if loc[0] + delta > pc:
                return 1
            loc[0] += delta
        else:
            fail(c.pos - 1, f"a known DW_CFA opcode (got 0x{op:02x})")
    return 0


def rules_at(const uint8_t[:] data not None, uint64_t section_addr, bint eh_frame, int64_t fde_offset,
             uint64_t pc, int ptr_size=8):
    """The unwind rules in force at ``pc`` inside the FDE at ``fde_offset``.

    Returns (cfa, rules, ra_reg, signal_frame, fde_begin): cfa is a tuple of 3 (kind CFA_REG with
    register and offset, or CFA_EXPR with the expression's section offset and length); rules is a
    128 x 3 int64 memoryview (kind, a, b) per DWARF register (no numpy on the backtrace path).
    """
    cdef Cur c
    cdef int64_t n = data.shape[0]
    cdef int64_t body_end, cie_ptr, aug_len
    cdef bint is_cie
    cdef Cie cie
    cdef uint64_t b, r, loc
    cdef int depth = 0
    cdef int64_t[4] cfa
    cdef int64_t[MAX_STATES * 4] cfa_stack
    if n == 0 or fde_offset < 0 or fde_offset >= n:
        fail(fde_offset, "an FDE offset inside the section")
    rules_a = cvarray(shape=(NREG, 3), itemsize=8, format="q")
    initial_a = cvarray(shape=(NREG, 3), itemsize=8, format="q")
    stack_a = cvarray(shape=(NREG * MAX_STATES, 3), itemsize=8, format="q")
    cdef int64_t[:, ::1] rules = rules_a
    cdef int64_t[:, ::1] initial = initial_a
    cdef int64_t[:, ::1] stack = stack_a
    rules[:, :] = 0
    initial[:, :] = 0
    c.p = &data[0]; c.n = n; c.pos = fde_offset; c.addr = section_addr
    if entry_header(&c, &body_end, eh_frame, &is_cie, &cie_ptr) != 1 or is_cie:
        fail(fde_offset, "an FDE")
    parse_cie(c.p, n, section_addr, cie_ptr, eh_frame, ptr_size, &cie)
    c.n = body_end
    fde_range(&c, &cie, eh_frame, ptr_size, &b, &r)
    if not (b <= pc < b + r):
        fail(fde_offset, f"an FDE covering 0x{pc:x} (it covers 0x{b:x}-0x{b + r:x})")
    if cie.has_z:
        aug_len = <int64_t>uleb(&c)
        need(&c, aug_len)
        c.pos += aug_len
    cfa[0] = 0; cfa[1] = 0; cfa[2] = 0; cfa[3] = 0
    loc = b
    cdef Cur ci
    ci.p = c.p; ci.n = cie.insn_end; ci.pos = cie.insn_start; ci.addr = section_addr
    run(&ci, cie.insn_end, &cie, eh_frame, ptr_size, 0xFFFFFFFFFFFFFFFF, &loc, rules, initial, cfa,
        stack, cfa_stack, &depth)
    initial[:, :] = rules
    loc = b
    depth = 0
    run(&c, body_end, &cie, eh_frame, ptr_size, pc, &loc, rules, initial, cfa, stack, cfa_stack, &depth)
    return (cfa[0], cfa[1], cfa[2]), memoryview(rules_a), cie.ra_reg, bool(cie.signal), b
