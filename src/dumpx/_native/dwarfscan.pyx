# cython: language_level=3
"""DWARF ``.debug_info`` and ``.debug_line`` decoded into arrays: the two loops that cost the
most when a backtrace is symbolized from a cold cache.

``die_table`` walks the DIEs of one unit and gives one row per DIE (or per scope DIE: subprograms,
inlined subroutines, lexical blocks, and the namespaces and types that may hold them) with the
raw values of the attributes a backtrace needs. ``line_rows`` runs one line-number program and
gives its rows. Headers, abbreviation tables, strings and range lists are read in Python
(``dumpx.elf.dwarf``); these kernels only run the per-byte loops.

Every read is checked against the section's length (``cursor.pxd``); nesting is bounded by
``MAX_DEPTH`` and output by ``max_rows``, so crafted input can neither recurse nor grow memory
past what its bytes hold.
"""

from libc.stdint cimport uint8_t, uint16_t, int32_t, int64_t, uint64_t

from cpython cimport array as carray
from libc.stdlib cimport qsort, malloc, free

from .cursor cimport Cur, fail, need, u8, ule, leb, uleb, sleb

from array import array

cdef carray.array _Q = array("Q"), _q = array("q"), _i = array("i"), _B = array("B"), _H = array("H")


cdef inline carray.array zeros(carray.array like, Py_ssize_t n):
    if n == 0:                       # clone would memset a NULL buffer (undefined, UBSan says)
        return carray.clone(like, 0, zero=False)
    return carray.clone(like, n, zero=True)

# attribute slots of a die_table row (vals[:, SLOT], forms[:, SLOT]; form 0 = absent)
S_NAME = 0
S_LINKAGE = 1
S_LOW = 2
S_HIGH = 3
S_RANGES = 4
S_ORIGIN = 5
S_SPEC = 6
S_CALL_FILE = 7
S_CALL_LINE = 8
S_CALL_COL = 9
S_STMT = 10
S_STR_BASE = 11
S_ADDR_BASE = 12
S_RNG_BASE = 13
S_SIBLING = 14
DEF NSLOTS = 15
NSLOT = NSLOTS

DEF MAX_DEPTH = 1024
DEF FORM_INDIRECT = 0x16
DEF FORM_IMPLICIT_CONST = 0x21


cdef inline int slot_of(uint64_t at) noexcept nogil:
    if at == 0x03: return 0
    if at == 0x6e or at == 0x2007: return 1
    if at == 0x11: return 2
    if at == 0x12: return 3
    if at == 0x55: return 4
    if at == 0x31: return 5
    if at == 0x47: return 6
    if at == 0x58: return 7
    if at == 0x59: return 8
    if at == 0x57: return 9
    if at == 0x10: return 10
    if at == 0x72: return 11
    if at == 0x73 or at == 0x2133: return 12
    if at == 0x74 or at == 0x2132: return 13
    if at == 0x01: return 14
    return -1


cdef inline bint scope_tag(uint64_t tag) noexcept nogil:
    return tag in (0x11, 0x3c, 0x4a, 0x41,          # compile, partial, skeleton, type unit
                   0x2e, 0x1d, 0x0b,                 # subprogram, inlined subroutine, lexical block
                   0x39, 0x1e, 0x02, 0x13, 0x17)     # namespace, module, class, structure, union


cdef uint64_t form_value(Cur* c, uint64_t form, int offset_size, int addr_size, int version,
                         int64_t cu_offset, int64_t implicit) except? 0xFFFFFFFFFFFFFFFF:
    """Read (or step over) one attribute value; references come back as section offsets, inline
    strings as the offset of their first byte, blocks as the offset of their first byte."""
    cdef uint64_t n = 0, v
    cdef int64_t start
    if form == 0x01:                                         # addr
        return ule(c, addr_size)
    if form == 0x0b or form == 0x11 or form == 0x25 or form == 0x29 or form == 0x0c:
        v = ule(c, 1)                                        # data1 ref1 strx1 addrx1 flag
        return v + <uint64_t>cu_offset if form == 0x11 else v
    if form == 0x05 or form == 0x12 or form == 0x26 or form == 0x2a:
        v = ule(c, 2)
        return v + <uint64_t>cu_offset if form == 0x12 else v
    if form == 0x27 or form == 0x2b:
        return ule(c, 3)
    if form == 0x06 or form == 0x13 or form == 0x28 or form == 0x2c or form == 0x1c:
        v = ule(c, 4)
        return v + <uint64_t>cu_offset if form == 0x13 else v
    if form == 0x07 or form == 0x14 or form == 0x20 or form == 0x24:
        v = ule(c, 8)
        return v + <uint64_t>cu_offset if form == 0x14 else v
    if form == 0x1e:                                         # data16
        start = c.pos
        need(c, 16)
        c.pos += 16
        return <uint64_t>start
    if form == 0x0d:
        return <uint64_t>sleb(c)
    if form == 0x0f or form == 0x1a or form == 0x1b or form == 0x22 or form == 0x23 \
            or form == 0x1f01 or form == 0x1f02:
        return uleb(c)
    if form == 0x15:
        return uleb(c) + <uint64_t>cu_offset
    if form == 0x0e or form == 0x17 or form == 0x1f or form == 0x1d or form == 0x1f20 or form == 0x1f21:
        return ule(c, offset_size)
    if form == 0x10:                                         # ref_addr
        return ule(c, addr_size if version <= 2 else offset_size)
    if form == 0x08:                                         # string
        start = c.pos
        while True:
            need(c, 1)
            c.pos += 1
            if c.p[c.pos - 1] == 0:
                return <uint64_t>start
    if form == 0x19:
        return 1
    if form == FORM_IMPLICIT_CONST:
        return <uint64_t>implicit
    if form == 0x09 or form == 0x18:                         # block, exprloc
        n = uleb(c)
    elif form == 0x0a:
        n = ule(c, 1)
    elif form == 0x03:
        n = ule(c, 2)
    elif form == 0x04:
        n = ule(c, 4)
    else:
        fail(c.pos, f"a known attribute form (got 0x{form:x})")
    if n > <uint64_t>(c.n - c.pos):
        fail(c.pos, f"a block of {n} bytes inside the section")
    start = c.pos
    c.pos += <int64_t>n
    return <uint64_t>start


cdef int64_t walk(Cur* c, int64_t end, int64_t cu_offset, int version, int offset_size, int addr_size,
                  const int64_t[::1] ab_index, const int64_t[::1] ab_tag, const uint8_t[::1] ab_children,
                  const int64_t[::1] ab_first, const int64_t[::1] ab_count,
                  const int64_t[::1] at_name, const int64_t[::1] at_form, const int64_t[::1] at_const,
                  bint scopes_only, int64_t max_rows, bint fill,
                  int64_t[::1] offs, int64_t[::1] parent, int64_t[::1] sparent,
                  int32_t[::1] depth_out, int32_t[::1] tag_out,
                  uint8_t[::1] kids_out, uint64_t[::1] vals, uint16_t[::1] forms) except -2:
    cdef int64_t rows = 0, die_off, k, a, slot
    cdef uint64_t code, form, v
    cdef int depth = 0
    cdef int64_t[MAX_DEPTH + 1] anc          # nearest emitted row at each depth
    cdef int64_t[MAX_DEPTH + 1] sanc         # nearest subprogram/inlined/lexical-block row
    cdef bint emit
    cdef int64_t tg
    anc[0] = -1
    sanc[0] = -1
    while c.pos < end and rows < max_rows:
        die_off = c.pos
        code = uleb(c)
        if code == 0:
            if depth > 0:
                depth -= 1
            continue
        if code >= <uint64_t>ab_index.shape[0] or ab_index[code] < 0:
            fail(die_off, f"an abbreviation code the unit's table defines (got {code})")
        k = ab_index[code]
        tg = ab_tag[k]
        emit = (not scopes_only) or scope_tag(<uint64_t>tg)
        if emit and fill:
            offs[rows] = die_off
            parent[rows] = anc[depth]
            sparent[rows] = sanc[depth]
            depth_out[rows] = depth
            tag_out[rows] = <int32_t>ab_tag[k]
            kids_out[rows] = ab_children[k]
        for a in range(ab_first[k], ab_first[k] + ab_count[k]):
            form = <uint64_t>at_form[a]
            if form == FORM_INDIRECT:
                form = uleb(c)
                if form == FORM_INDIRECT or form == FORM_IMPLICIT_CONST:
                    fail(c.pos, "an indirect form naming a direct one")
            v = form_value(c, form, offset_size, addr_size, version, cu_offset, at_const[a])
            if emit and fill:
                slot = slot_of(<uint64_t>at_name[a])
                if slot >= 0:
                    vals[rows * NSLOTS + slot] = v
                    forms[rows * NSLOTS + slot] = <uint16_t>(form if form < 0xffff else 0xffff)
        if c.pos > end:
            fail(die_off, "a DIE inside its unit")
        if ab_children[k]:
            if depth >= MAX_DEPTH:
                fail(die_off, f"DIEs nested at most {MAX_DEPTH} deep")
            depth += 1
            anc[depth] = rows if emit else anc[depth - 1]
            sanc[depth] = rows if emit and (tg == 0x2e or tg == 0x1d or tg == 0x0b) else sanc[depth - 1]
        if emit:
            rows += 1
    return rows


def die_table(const uint8_t[::1] info not None, int64_t start, int64_t end, int64_t cu_offset,
              int version, int offset_size, int addr_size,
              const int64_t[::1] ab_index not None, const int64_t[::1] ab_tag not None,
              const uint8_t[::1] ab_children not None, const int64_t[::1] ab_first not None,
              const int64_t[::1] ab_count not None, const int64_t[::1] at_name not None,
              const int64_t[::1] at_form not None, const int64_t[::1] at_const not None,
              bint scopes_only=True, int64_t max_rows=1 << 40):
    """Rows of the DIEs from ``start`` up to ``end`` (one unit's DIEs, section offsets).

    Returns ``array.array``s (offset, parent row, scope parent row, depth, tag, has_children,
    vals, forms), the last two flat with NSLOT entries per row; ``parent`` is the nearest enclosing emitted row and ``scope parent`` the
    nearest enclosing subprogram, inlined subroutine or lexical block (-1 at the top). Abbreviations come as flat
    arrays: ``ab_index[code]`` is the abbreviation's row (-1 if undefined) and its attributes are
    ``at_*[ab_first[k]:ab_first[k] + ab_count[k]]``."""
    cdef Cur c
    cdef int64_t n, k
    if not (0 <= start <= end <= info.shape[0]):
        fail(start, f"a unit inside .debug_info (bytes {start}..{end} of {info.shape[0]})")
    if offset_size not in (4, 8) or addr_size not in (1, 2, 4, 8):
        fail(start, f"4- or 8-byte offsets and addresses (got {offset_size}, {addr_size})")
    na = ab_tag.shape[0]
    if not (ab_children.shape[0] == na and ab_first.shape[0] == na and ab_count.shape[0] == na
            and at_form.shape[0] == at_name.shape[0] and at_const.shape[0] == at_name.shape[0]):
        raise ValueError("abbreviation arrays of unequal lengths")
    for k in range(na):
        if ab_first[k] < 0 or ab_count[k] < 0 or ab_first[k] + ab_count[k] > at_name.shape[0]:
            raise ValueError("abbreviation attributes outside their array")
    for k in range(ab_index.shape[0]):
        if ab_index[k] >= na:
            raise ValueError("abbreviation index outside the table")
    if end == start:
        return (zeros(_q, 0), zeros(_q, 0), zeros(_q, 0), zeros(_i, 0), zeros(_i, 0), zeros(_B, 0),
                zeros(_Q, 0), zeros(_H, 0))
    c.p = &info[0]; c.n = end; c.pos = start; c.addr = 0
    n = walk(&c, end, cu_offset, version, offset_size, addr_size, ab_index, ab_tag, ab_children,
             ab_first, ab_count, at_name, at_form, at_const, scopes_only, max_rows, False,
             zeros(_q, 0), zeros(_q, 0), zeros(_q, 0), zeros(_i, 0), zeros(_i, 0), zeros(_B, 0),
             zeros(_Q, 0), zeros(_H, 0))
    offs = zeros(_q, n)
    parent = zeros(_q, n)
    sparent = zeros(_q, n)
    depth = zeros(_i, n)
    tag = zeros(_i, n)
    kids = zeros(_B, n)
    vals = zeros(_Q, n * NSLOTS)
    forms = zeros(_H, n * NSLOTS)
    if n:
        c.pos = start
        walk(&c, end, cu_offset, version, offset_size, addr_size, ab_index, ab_tag, ab_children,
             ab_first, ab_count, at_name, at_form, at_const, scopes_only, n, True,
             offs, parent, sparent, depth, tag, kids, vals, forms)
    return offs, parent, sparent, depth, tag, kids, vals, forms


cdef int64_t run_program(Cur* c, int64_t end, int addr_size, int min_inst,
                         int line_base, int line_range, int opcode_base, const uint8_t[::1] std_lens,
                         bint fill, int64_t cap, uint64_t[::1] addr, uint8_t[::1] endseq,
                         int64_t[::1] fil, int64_t[::1] line, int64_t[::1] col) except -2:
    cdef int64_t rows = 0, ext_end, adj
    cdef uint64_t address = 0, file = 1, column = 0, n, sub
    cdef int64_t lineno = 1
    cdef uint8_t op
    cdef bint row, is_end
    cdef uint64_t i
    while c.pos < end:
        op = <uint8_t>u8(c)
        row = False
        is_end = False
        if op >= opcode_base:
            adj = op - opcode_base
            address += <uint64_t>(min_inst * (adj // line_range))
            lineno += line_base + adj % line_range
            row = True
        elif op == 0:
            n = uleb(c)
            if n == 0 or n > <uint64_t>(end - c.pos):
                fail(c.pos, f"an extended opcode of {n} bytes inside the program")
            ext_end = c.pos + <int64_t>n
            sub = u8(c)
            if sub == 1:
                row = True
                is_end = True
            elif sub == 2:
                if n - 1 != <uint64_t>addr_size:
                    fail(c.pos, f"DW_LNE_set_address with a {addr_size}-byte address (got {n - 1})")
                address = ule(c, addr_size)
            elif sub == 4:
                uleb(c)
            c.pos = ext_end
        elif op == 1:
            row = True
        elif op == 2:
            address += <uint64_t>min_inst * uleb(c)
        elif op == 3:
            lineno += sleb(c)
        elif op == 4:
            file = uleb(c)
        elif op == 5:
            column = uleb(c)
        elif op == 8:
            address += <uint64_t>(min_inst * ((255 - opcode_base) // line_range))
        elif op == 9:
            address += ule(c, 2)
        elif op == 6 or op == 7 or op == 10 or op == 11:
            pass
        else:
            if op - 1 >= std_lens.shape[0]:
                fail(c.pos, f"a standard opcode the header describes (got {op})")
            for i in range(std_lens[op - 1]):
                uleb(c)
        if row:
            if fill:
                if rows >= cap:
                    fail(c.pos, "as many rows as the first pass counted")
                addr[rows] = address
                endseq[rows] = is_end
                fil[rows] = <int64_t>file
                line[rows] = lineno
                col[rows] = <int64_t>column
            rows += 1
            if is_end:
                address = 0
                file = 1
                lineno = 1
                column = 0
    return rows


def line_rows(const uint8_t[::1] data not None, int64_t start, int64_t end, int addr_size,
              int min_inst, int line_base, int line_range, int opcode_base,
              const uint8_t[::1] std_lens not None):
    """Rows of the line-number program in ``data[start:end]`` (header already read): address,
    end-of-sequence flag, file index, line, column — one per row the program emits, sorted by
    address (at one address the end of a sequence before the rows of the next)."""
    cdef Cur c
    cdef int64_t n
    if not (0 <= start <= end <= data.shape[0]):
        fail(start, f"a line program inside .debug_line (bytes {start}..{end} of {data.shape[0]})")
    if line_range <= 0 or opcode_base <= 0 or addr_size not in (1, 2, 4, 8):
        fail(start, f"a line range, opcode base and address size that can be used "
                    f"(got {line_range}, {opcode_base}, {addr_size})")
    if end == start:
        return zeros(_Q, 0), zeros(_B, 0), zeros(_q, 0), zeros(_q, 0), zeros(_q, 0)
    c.p = &data[0]; c.n = end; c.pos = start; c.addr = 0
    n = run_program(&c, end, addr_size, min_inst, line_base, line_range, opcode_base,
                    std_lens, False, 0, zeros(_Q, 0), zeros(_B, 0), zeros(_q, 0), zeros(_q, 0), zeros(_q, 0))
    addr = zeros(_Q, n)
    endseq = zeros(_B, n)
    fil = zeros(_q, n)
    line = zeros(_q, n)
    col = zeros(_q, n)
    c.pos = start
    run_program(&c, end, addr_size, min_inst, line_base, line_range, opcode_base,
                std_lens, True, n, addr, endseq, fil, line, col)
    return sort_rows(addr, endseq, fil, line, col)


cdef struct Row:
    uint64_t addr
    int64_t key            # 0 for an end of sequence, 1 otherwise, then the row: a stable tie-break
    int64_t row


cdef int cmp_row(const void* a, const void* b) noexcept nogil:
    cdef const Row* x = <const Row*>a
    cdef const Row* y = <const Row*>b
    if x.addr != y.addr:
        return -1 if x.addr < y.addr else 1
    if x.key != y.key:
        return -1 if x.key < y.key else 1
    return 0


cdef tuple sort_rows(carray.array addr, carray.array endseq, carray.array fil, carray.array line,
                     carray.array col):
    """The rows by address; at one address a sequence's end before the rows of the next."""
    cdef uint64_t[::1] a = addr
    cdef uint8_t[::1] e = endseq
    cdef int64_t[::1] f = fil, ln = line, co = col
    cdef uint64_t[::1] oa
    cdef uint8_t[::1] oe
    cdef int64_t[::1] of, ol, oc
    cdef Py_ssize_t n = a.shape[0], k
    cdef bint sorted_ = True
    cdef Row* rows
    for k in range(1, n):
        if a[k] < a[k - 1] or (a[k] == a[k - 1] and e[k] and not e[k - 1]):
            sorted_ = False
            break
    if sorted_:
        return addr, endseq, fil, line, col
    rows = <Row*>malloc(n * sizeof(Row))
    if rows == NULL:
        raise MemoryError()
    try:
        for k in range(n):
            rows[k].addr = a[k]
            rows[k].key = ((0 if e[k] else 1) << 40) + k
            rows[k].row = k
        qsort(rows, n, sizeof(Row), cmp_row)
        oa_, oe_, of_, ol_, oc_ = zeros(_Q, n), zeros(_B, n), zeros(_q, n), zeros(_q, n), zeros(_q, n)
        oa = oa_
        oe = oe_
        of = of_
        ol = ol_
        oc = oc_
        for k in range(n):
            oa[k] = a[rows[k].row]
            oe[k] = e[rows[k].row]
            of[k] = f[rows[k].row]
            ol[k] = ln[rows[k].row]
            oc[k] = co[rows[k].row]
    finally:
        free(rows)
    return oa_, oe_, of_, ol_, oc_



cdef int abbrev_walk(Cur* c, bint fill, int64_t* n_ab, int64_t* n_at, uint64_t* top,
                     int64_t[::1] codes, int64_t[::1] tags, uint8_t[::1] kids, int64_t[::1] first,
                     int64_t[::1] count, int64_t[::1] an, int64_t[::1] af, int64_t[::1] ac) except -1:
    cdef uint64_t code, tag, name, form
    cdef int64_t k = 0, a = 0, v
    cdef uint8_t ch
    top[0] = 0
    while True:
        code = uleb(c)
        if code == 0:
            break
        tag = uleb(c)
        ch = <uint8_t>u8(c)
        if code > top[0]:
            top[0] = code
        if fill:
            codes[k] = <int64_t>code
            tags[k] = <int64_t>tag
            kids[k] = 1 if ch else 0
            first[k] = a
        while True:
            name = uleb(c)
            form = uleb(c)
            if name == 0 and form == 0:
                break
            v = sleb(c) if form == FORM_IMPLICIT_CONST else 0
            if fill:
                an[a] = <int64_t>name
                af[a] = <int64_t>form
                ac[a] = v
            a += 1
        if fill:
            count[k] = a - first[k]
        k += 1
    n_ab[0] = k
    n_at[0] = a
    return 0


def abbrev_table(const uint8_t[::1] data not None, int64_t offset):
    """The abbreviation table at ``offset`` of ``.debug_abbrev`` in die_table's form: (index by
    code, tag, has_children, first attribute, attribute count, attribute name, form, implicit
    constant)."""
    cdef Cur c
    cdef int64_t n_ab, n_at, k
    cdef uint64_t top
    if not 0 <= offset < data.shape[0]:
        fail(offset, f"an abbreviation table inside .debug_abbrev ({data.shape[0]} bytes)")
    c.p = &data[0]; c.n = data.shape[0]; c.pos = offset; c.addr = 0
    e = zeros(_q, 0)
    abbrev_walk(&c, False, &n_ab, &n_at, &top, e, e, zeros(_B, 0), e, e, e, e, e)
    if top > <uint64_t>(4 * n_ab + 1024):
        fail(offset, f"abbreviation codes about as dense as the table's {n_ab} entries (got code {top})")
    codes = zeros(_q, n_ab)
    tags = zeros(_q, n_ab)
    kids = zeros(_B, n_ab)
    first = zeros(_q, n_ab)
    count = zeros(_q, n_ab)
    an = zeros(_q, n_at)
    af = zeros(_q, n_at)
    ac = zeros(_q, n_at)
    c.pos = offset
    abbrev_walk(&c, True, &n_ab, &n_at, &top, codes, tags, kids, first, count, an, af, ac)
    index = array("q", [-1]) * (top + 1)
    cdef int64_t[::1] ix = index
    cdef int64_t[::1] cv = codes
    for k in range(n_ab - 1, -1, -1):          # the first definition of a code wins
        ix[cv[k]] = k
    return index, tags, kids, first, count, an, af, ac


def aranges(const uint8_t[::1] data not None):
    """``.debug_aranges`` as (low, high, unit offset) arrays, or None where a set is one this
    reader does not take (64-bit DWARF, version other than 2, addresses other than 8 bytes,
    segments): the caller then reads the units' own ranges."""
    cdef Cur c
    cdef int64_t n = data.shape[0], pos = 0, end, q, rows = 0, k
    cdef uint64_t unit, a, ln, info_off
    cdef int pass_
    lo = hi = cu = None
    cdef uint64_t[::1] lov, hiv
    cdef int64_t[::1] cuv
    if n == 0:
        return None
    c.p = &data[0]; c.n = n; c.addr = 0
    for pass_ in range(2):
        pos = 0
        k = 0
        while pos + 12 <= n:
            c.pos = pos
            unit = ule(&c, 4)
            if unit == 0xFFFFFFFF or unit < 8 or <int64_t>unit > n - pos - 4:
                return None
            end = pos + 4 + <int64_t>unit
            if ule(&c, 2) != 2:
                return None
            info_off = ule(&c, 4)
            if ule(&c, 1) != 8 or ule(&c, 1) != 0:
                return None
            q = pos + 12
            q += (16 - q % 16) % 16
            while q + 16 <= end:
                c.pos = q
                a = ule(&c, 8)
                ln = ule(&c, 8)
                q += 16
                if a == 0 and ln == 0:
                    break
                if pass_ == 1:
                    lov[k] = a
                    hiv[k] = a + ln
                    cuv[k] = <int64_t>info_off
                k += 1
            pos = end
        if pass_ == 0:
            rows = k
            lo = zeros(_Q, rows)
            hi = zeros(_Q, rows)
            cu = zeros(_q, rows)
            lov, hiv, cuv = lo, hi, cu
    return lo, hi, cu


def scope_children(const int64_t[::1] sparent not None, const int32_t[::1] tag not None,
                   const uint8_t[::1] kids not None):
    """The rows a scope walk may enter, grouped by their scope parent (rows of die_table):
    subprograms, inlined subroutines, and lexical blocks that have children. Returns (start,
    rows): the rows under scope parent p (-1: the unit level) are rows[start[p + 1]:start[p + 2]],
    in DIE order."""
    cdef Py_ssize_t n = sparent.shape[0], k, p
    if tag.shape[0] != n or kids.shape[0] != n:
        raise ValueError("columns of unequal lengths")
    start_ = zeros(_q, n + 2)
    cdef int64_t[::1] start = start_
    cdef int64_t t
    for k in range(n):
        t = tag[k]
        if t == 0x2e or t == 0x1d or (t == 0x0b and kids[k]):
            p = sparent[k] + 1
            if not 0 <= p <= n:
                raise ValueError("a scope parent outside the table")
            start[p + 1] += 1
    for k in range(1, n + 2):
        start[k] += start[k - 1]
    rows_ = zeros(_q, start[n + 1])
    cdef int64_t[::1] rows = rows_
    fill_ = zeros(_q, n + 1)
    cdef int64_t[::1] fill = fill_
    for k in range(n):
        t = tag[k]
        if t == 0x2e or t == 0x1d or (t == 0x0b and kids[k]):
            p = sparent[k] + 1
            rows[start[p] + fill[p]] = k
            fill[p] += 1
    return start_, rows_
