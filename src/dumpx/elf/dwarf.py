"""The DWARF a backtrace needs, read without a general-purpose DWARF library: unit headers,
abbreviation tables, the scope DIEs of a unit (subprograms, inlined subroutines, lexical blocks
and the namespaces and types that hold them), line tables, range lists and names.

The per-byte loops run in ``_native/dwarfscan``; this module reads headers and resolves forms.
Each unit's tables are built once and kept. Sections are inflated when first needed, and
``.debug_info`` only as far as the units asked for (a compressed libc debug file holds 6 MB of
it; a backtrace usually needs a dozen units). Damaged DWARF raises ``CorruptDumpError`` with
the section offset.
"""

from __future__ import annotations

import bisect
import mmap
import posixpath
import struct
import threading
from array import array

from .._native import dwarfscan as _ds
from ..errors import CorruptDumpError
from ..sources import zlib

S = _ds
NS = _ds.NSLOT
T_SUBPROGRAM, T_INLINED, T_BLOCK = 0x2E, 0x1D, 0x0B
ADDR_FORMS = (0x01,)
ADDRX_FORMS = (0x1B, 0x29, 0x2A, 0x2B, 0x2C, 0x1F01)
STRX_FORMS = (0x1A, 0x25, 0x26, 0x27, 0x28, 0x1F02)
MAX_RANGE_ENTRIES = 100_000
MAX_FILES = 1 << 20
MAX_CHAIN = 256


def slot_value(table: tuple, row: int, slot: int) -> int | None:
    """The raw value of one attribute slot of a die_table row; None when the DIE lacks it."""
    b = row * NS + slot
    return table[6][b] if table[7][b] else None


def _fail(what: str, offset: int | None, section: str = ".debug_info") -> None:
    raise CorruptDumpError(f"DWARF {section}: {what}", offset=offset, expected=what)


class _Reader:
    """Bounds-checked reads from one section for the header-sized structures read in Python."""

    __slots__ = ("d", "pos", "n", "section")

    def __init__(self, d, pos: int, section: str, end: int | None = None):
        self.d, self.pos, self.section = d, pos, section
        self.n = len(d) if end is None else min(end, len(d))

    def need(self, k: int) -> None:
        if k < 0 or self.pos + k > self.n:
            _fail(f"{k} more bytes inside the section", self.pos, self.section)

    def num(self, k: int) -> int:
        self.need(k)
        self.pos += k
        return int.from_bytes(self.d[self.pos - k:self.pos], "little")

    def skip(self, k: int) -> None:
        self.need(k)
        self.pos += k

    def uleb(self) -> int:
        v = shift = 0
        d, n = self.d, self.n
        while True:
            if self.pos >= n:
                _fail("a LEB128 number inside the section", self.pos, self.section)
            b = d[self.pos]
            self.pos += 1
            v |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return v
            if shift > 63:
                _fail("a LEB128 number of at most 10 bytes", self.pos, self.section)

    def sleb(self) -> int:
        start = self.pos
        v = self.uleb()
        bits = 7 * (self.pos - start)
        return v - (1 << bits) if v >> (bits - 1) & 1 else v

    def cstr(self) -> bytes:
        end = bytes(self.d[self.pos:min(self.n, self.pos + 65536)]).find(b"\x00")
        if end < 0:
            _fail("a NUL-terminated string", self.pos, self.section)
        s = bytes(self.d[self.pos:self.pos + end])
        self.pos += end + 1
        return s


class _Inflating:
    """A compressed section inflated on demand: ``need(end)`` inflates at least up to ``end``.
    The buffer is an anonymous map of the section's full size (untouched pages cost nothing), so
    views handed out stay valid while more is inflated."""

    def __init__(self, raw: memoryview, size: int, name: str):
        self._z = zlib.decompressobj()
        self._raw = raw
        self._fed = 0
        self._buf = mmap.mmap(-1, max(size, 1))
        self._have = 0
        self.size = size
        self.name = name
        self._lock = threading.Lock()
        self.started = False                  # by a background prefetch

    def need(self, end: int) -> None:
        with self._lock:
            self._need(end)

    def _need(self, end: int) -> None:
        end = min(end, self.size)
        while self._have < end:
            if self._z.unconsumed_tail:
                chunk = self._z.unconsumed_tail
            elif self._fed < len(self._raw):
                chunk = bytes(self._raw[self._fed:self._fed + (1 << 18)])
                self._fed += len(chunk)
            else:
                break
            room = self.size - self._have
            try:
                out = self._z.decompress(chunk, min(room, max(end - self._have, 1 << 20)))
            except zlib.error:
                _fail("zlib data that inflates", None, self.name)
            self._buf[self._have:self._have + len(out)] = out
            self._have += len(out)
            if self._have >= self.size and (self._z.unconsumed_tail or self._fed < len(self._raw)) \
                    and not self._z.eof:
                _fail(f"no more than the {self.size} bytes its header claims", None, self.name)
        if self._have < end:
            _fail(f"{end} bytes inflated (only {self._have})", None, self.name)

    def view(self) -> memoryview:
        return memoryview(self._buf)[:self._have]


class Unit:
    """One unit of ``.debug_info``: its header and, once built, its scope table and line table."""

    __slots__ = ("offset", "end", "version", "unit_type", "offset_size", "addr_size", "abbrev_offset",
                 "die_start", "table", "lines", "files", "top", "_lohi", "_kids", "_ranges")

    def __init__(self, offset, end, version, unit_type, offset_size, addr_size, abbrev_offset, die_start):
        self.offset, self.end, self.version, self.unit_type = offset, end, version, unit_type
        self.offset_size, self.addr_size, self.abbrev_offset, self.die_start = \
            offset_size, addr_size, abbrev_offset, die_start
        self.table = self.lines = self.files = self.top = self._lohi = self._kids = None
        self._ranges: dict[int, list] = {}


class Dwarf:
    """The DWARF sections of one ELF image (``dumpx.elf.image.Image``)."""

    def __init__(self, image):
        self.image = image
        self.name = image.name
        self._sections: dict[str, memoryview | None] = {}
        self._lazy: dict[str, _Inflating | memoryview] = {}
        self._units: dict[int, Unit] = {}
        self._abbrevs: dict[int, tuple] = {}
        self._unit_offsets: list[int] | None = None
        self._addr = None

    # ------------------------------------------------------------------ sections
    def section(self, name: str) -> memoryview | None:
        if name not in self._sections:
            got = self.image.section_bytes(name)
            self._sections[name] = got[0] if got is not None else None
        return self._sections[name]

    def _partial(self, name: str):
        """A section that may be read only as far as needed: an ``_Inflating`` when compressed."""
        got = self._lazy.get(name)
        if got is None:
            s = self.image.sections.get(name)
            if s is None or s[0] == 8:
                _fail(f"a {name} section", None, name)
            t, flags, addr, off, size = s
            if off + size > len(self.image.data):
                _fail("a section inside the file", off, name)
            if flags & 0x800:
                if size < 24:
                    _fail("a 24-byte compression header", off, name)
                ch_type, _, ch_size = struct.unpack_from("<IIQ", self.image.data, off)
                if ch_type != 1:
                    _fail(f"zlib compression (ELFCOMPRESS_ZLIB), got type {ch_type}", off, name)
                from .image import MAX_INFLATED
                if ch_size > MAX_INFLATED:
                    _fail(f"at most {MAX_INFLATED} bytes inflated (claims {ch_size})", off, name)
                got = _Inflating(self.image.data[off + 24:off + size], ch_size, name)
            else:
                got = self.image.data[off:off + size]
            self._lazy[name] = got
        return got

    def prefetch(self) -> None:
        """Inflate the compressed unit and line sections on a background thread (zlib releases the
        interpreter lock, so a second core does it while the caller unwinds); a reader that
        needs bytes first waits on the section's lock. A failure is left for that reader to meet.
        Whether any section was started."""
        started = False
        for name in (".debug_info", ".debug_line"):
            s = self.image.sections.get(name)
            if s is None or s[0] == 8 or not s[1] & 0x800:
                continue
            try:
                got = self._partial(name)
            except CorruptDumpError:
                continue
            if not isinstance(got, _Inflating) or got.started:
                continue
            got.started = started = True

            def run(got=got):
                try:
                    got.need(got.size)
                except CorruptDumpError:
                    pass
            threading.Thread(target=run, name=f"dumpx-inflate{name}", daemon=True).start()
        return started

    def upto(self, name: str, end: int) -> memoryview:
        """Section ``name`` inflated at least up to ``end`` (all of it when not compressed)."""
        got = self._partial(name)
        if isinstance(got, _Inflating):
            got.need(end)
            return got.view()
        return got

    def size(self, name: str) -> int:
        got = self._partial(name)
        return got.size if isinstance(got, _Inflating) else len(got)

    def _info_upto(self, end: int) -> memoryview:
        return self.upto(".debug_info", end)

    def _info_size(self) -> int:
        return self.size(".debug_info")

    # ------------------------------------------------------------------ units
    def unit_at(self, offset: int) -> Unit:
        u = self._units.get(offset)
        if u is not None:
            return u
        size = self._info_size()
        if not 0 <= offset < size:
            _fail(f"a unit at offset {offset} inside the section's {size} bytes", offset)
        r = _Reader(self._info_upto(min(offset + 40, size)), offset, ".debug_info")
        length, osz = r.num(4), 4
        if length == 0xFFFFFFFF:
            length, osz = r.num(8), 8
        elif length >= 0xFFFFFFF0:
            _fail(f"a unit length (got reserved value 0x{length:x})", offset)
        end = r.pos + length
        if end > size:
            _fail(f"a unit of {length} bytes inside the section's {size}", offset)
        r.n = min(r.n, end)                   # every header field inside the unit it opens
        version = r.num(2)
        utype = 1
        if version >= 5:
            utype, asz, abbrev = r.num(1), r.num(1), r.num(osz)
            if utype in (4, 5):
                r.skip(8)                     # dwo_id
            elif utype in (2, 6):
                r.skip(8 + osz)               # type signature and offset
        elif 2 <= version <= 4:
            abbrev, asz = r.num(osz), r.num(1)
        else:
            _fail(f"DWARF version 2 to 5 (got {version})", offset)
        pos = r.pos
        u = Unit(offset, end, version, utype, osz, asz, abbrev, pos)
        self._units[offset] = u
        return u

    def unit_offsets(self) -> list[int]:
        """Every unit's offset, from the chain of unit lengths."""
        if self._unit_offsets is None:
            out, pos, size = [], 0, self._info_size()
            while pos < size and len(out) < 10_000_000:
                d = self._info_upto(min(pos + 12, size))
                if pos + 4 > len(d):
                    break
                out.append(pos)
                pos = self.unit_at(pos).end
            self._unit_offsets = out
        return self._unit_offsets

    def unit_containing(self, offset: int) -> Unit | None:
        import bisect
        offs = self.unit_offsets()
        k = bisect.bisect_right(offs, offset) - 1
        if k < 0:
            return None
        u = self.unit_at(offs[k])
        return u if u.die_start <= offset < u.end else None

    # ------------------------------------------------------------------ abbreviations
    def abbrevs(self, offset: int) -> tuple:
        hit = self._abbrevs.get(offset)
        if hit is not None:
            return hit
        d = self.section(".debug_abbrev")
        if d is None:
            _fail("a .debug_abbrev section", None, ".debug_abbrev")
        hit = _ds.abbrev_table(d, offset)
        self._abbrevs[offset] = hit
        return hit

    # ------------------------------------------------------------------ DIEs
    def table(self, u: Unit) -> tuple:
        """The unit's scope rows: (offset, parent, scope parent, depth, tag, children, vals, forms)."""
        if u.table is None:
            info = self._info_upto(u.end)
            u.table = _ds.die_table(info, u.die_start, u.end, u.offset, u.version, u.offset_size,
                                    u.addr_size, *self.abbrevs(u.abbrev_offset), scopes_only=True)
            if len(u.table[0]) == 0 or u.table[4][0] not in (0x11, 0x3C, 0x4A, 0x41):
                _fail("a unit DIE first", u.die_start)
        return u.table

    def top(self, u: Unit) -> tuple:
        """The unit's own DIE as a one-row table (read alone: no need to walk the unit)."""
        if u.top is None:
            u.top = u.table if u.table is not None else _ds.die_table(
                self._info_upto(u.end), u.die_start, u.end, u.offset, u.version, u.offset_size,
                u.addr_size, *self.abbrevs(u.abbrev_offset), scopes_only=False, max_rows=1)
            if len(u.top[0]) == 0:
                _fail("a unit DIE", u.die_start)
        return u.top

    def die_at(self, offset: int) -> tuple[Unit, tuple] | None:
        """One DIE anywhere in ``.debug_info`` (any tag), as a one-row table of its unit."""
        u = self.unit_containing(offset)
        if u is None:
            return None
        info = self._info_upto(u.end)
        row = _ds.die_table(info, offset, u.end, u.offset, u.version, u.offset_size, u.addr_size,
                            *self.abbrevs(u.abbrev_offset), scopes_only=False, max_rows=1)
        return (u, row) if len(row[0]) else None

    def _top_value(self, u: Unit, slot: int) -> tuple[int, int] | None:
        t = self.top(u)
        f = t[7][slot]
        return (t[6][slot], f) if f else None

    # ------------------------------------------------------------------ forms
    def address(self, u: Unit, form: int, value: int) -> int | None:
        if form in ADDRX_FORMS:
            return self._indexed(u, S.S_ADDR_BASE, ".debug_addr", value, u.addr_size)
        return value

    def _indexed(self, u: Unit, base_slot: int, section: str, index: int, width: int) -> int | None:
        """Entry ``index`` of the unit's table in ``section`` (``.debug_addr``,
        ``.debug_str_offsets``), from the unit's base attribute (8 without one: past a DWARF 5
        table header); None outside the section."""
        base = self._top_value(u, base_slot)
        d = self.section(section)
        pos = (base[0] if base else 8) + index * width
        if d is None or index < 0 or pos + width > len(d):
            return None
        return int.from_bytes(d[pos:pos + width], "little")

    def string(self, u: Unit, form: int, value: int) -> bytes | None:
        if form == 0x08:                      # inline: at most 4096 bytes looked at, as for .debug_str
            if not u.die_start <= value < u.end:
                return None
            got = bytes(self._info_upto(u.end)[value:min(u.end, value + 4096)])
            end = got.find(b"\x00")
            return got[:end] if end >= 0 else None
        if form in (0x0E, 0x1F):
            return self._str_at(".debug_str" if form == 0x0E else ".debug_line_str", value)
        if form in STRX_FORMS:
            off = self._indexed(u, S.S_STR_BASE, ".debug_str_offsets", value, u.offset_size)
            return self._str_at(".debug_str", off) if off is not None else None
        return None

    def _str_at(self, section: str, offset: int) -> bytes | None:
        d = self.section(section)
        if d is None or not 0 <= offset < len(d):
            return None
        end = bytes(d[offset:offset + 4096]).find(b"\x00")
        return bytes(d[offset:offset + end]) if end >= 0 else None

    # ------------------------------------------------------------------ ranges
    def _lohi(self, u: Unit, row: int) -> tuple[int, int] | None:
        """(low, high) of a row of the unit's scope table that has both, resolved and kept."""
        got = u._lohi.get(row, False) if u._lohi is not None else False
        if got is not False:
            return got
        if u._lohi is None:
            u._lohi = {}
        t = u.table
        b = row * NS
        lf, hf = t[7][b + S.S_LOW], t[7][b + S.S_HIGH]
        got = None
        if lf and hf:
            lo = self.address(u, lf, t[6][b + S.S_LOW])
            hv = t[6][b + S.S_HIGH]
            hi = self.address(u, hf, hv) if hf in ADDR_FORMS + ADDRX_FORMS else (lo or 0) + hv
            if lo is not None and hi is not None and hi > lo:
                got = (lo, hi)
        u._lohi[row] = got
        return got

    def ranges(self, u: Unit, table: tuple, row: int) -> list[tuple[int, int]]:
        """The address ranges of one row of a table of ``u``: low/high, or its range list (DWARF 5
        .debug_rnglists, earlier .debug_ranges), each list bounded in length. Lists of the unit's
        scope table are kept."""
        b = row * NS
        forms, vals = table[7], table[6]
        lf, hf = forms[b + S.S_LOW], forms[b + S.S_HIGH]
        if lf and hf:
            lo = self.address(u, lf, vals[b + S.S_LOW])
            hv = vals[b + S.S_HIGH]
            hi = self.address(u, hf, hv) if hf in ADDR_FORMS + ADDRX_FORMS else (lo or 0) + hv
            return [(lo, hi)] if lo is not None and hi is not None and hi > lo else []
        rf = forms[b + S.S_RANGES]
        if not rf:
            return []
        key = table[0][row]
        cached = table is u.table
        if cached and key in u._ranges:
            return u._ranges[key]
        out = self._range_list(u, rf, vals[b + S.S_RANGES])
        if cached:
            u._ranges[key] = out
        return out

    def _cu_base(self, u: Unit) -> int:
        v = self._top_value(u, S.S_LOW)
        if v is None:
            return 0
        a = self.address(u, v[1], v[0])
        return a or 0

    def _range_list(self, u: Unit, form: int, value: int) -> list[tuple[int, int]]:
        base = self._cu_base(u)
        out: list[tuple[int, int]] = []
        if u.version < 5:
            d = self.section(".debug_ranges")
            if d is None:
                return []
            pos = value
            for _ in range(MAX_RANGE_ENTRIES):
                if pos + 16 > len(d):
                    _fail("a range list entry inside the section", pos, ".debug_ranges")
                a, b = struct.unpack_from("<QQ", d, pos)
                pos += 16
                if a == 0 and b == 0:
                    break
                if a == 0xFFFFFFFFFFFFFFFF:
                    base = b
                elif b > a:
                    out.append((base + a, base + b))
            return out
        d = self.section(".debug_rnglists")
        if d is None:
            return []
        if form == 0x23:                                    # rnglistx
            rb = self._top_value(u, S.S_RNG_BASE)
            if rb is None:
                return []
            p = rb[0] + value * u.offset_size
            if p + u.offset_size > len(d):
                _fail("a range list offset inside the section", p, ".debug_rnglists")
            pos = rb[0] + int.from_bytes(d[p:p + u.offset_size], "little")
        else:
            pos = value
        r = _Reader(d, pos, ".debug_rnglists")
        addr = lambda: r.num(u.addr_size)                                # noqa: E731
        addrx = lambda: self.address(u, 0x1B, r.uleb()) or 0             # noqa: E731
        for _ in range(MAX_RANGE_ENTRIES):
            kind = r.num(1)
            if kind == 0:
                break
            if kind == 1:
                base = addrx()
                continue
            if kind == 5:
                base = addr()
                continue
            if kind == 2:
                a, b = addrx(), addrx()
            elif kind == 3:
                a = addrx()
                b = a + r.uleb()
            elif kind == 4:
                a = base + r.uleb()
                b = base + r.uleb()
            elif kind == 6:
                a, b = addr(), addr()
            elif kind == 7:
                a = addr()
                b = a + r.uleb()
            else:
                _fail(f"a range list entry kind 0..7 (got {kind})", r.pos - 1, ".debug_rnglists")
            if b > a:
                out.append((a, b))
        return out

    # ------------------------------------------------------------------ names
    def row_name(self, u: Unit, table: tuple, row: int, depth: int = 0) -> bytes | None:
        """Linkage name, else name, else the name of the abstract origin or specification."""
        vals, forms, b = table[6], table[7], row * NS
        for slot in (S.S_LINKAGE, S.S_NAME):
            f = forms[b + slot]
            if f:
                s = self.string(u, f, vals[b + slot])
                if s is not None:
                    return s
        if depth < 8:
            for slot in (S.S_ORIGIN, S.S_SPEC):
                if forms[b + slot]:
                    target = vals[b + slot]
                    got = self._row_at(u, target)
                    if got is not None:
                        name = self.row_name(got[0], got[1], got[2], depth + 1)
                        if name is not None:
                            return name
        return None

    def _row_at(self, u: Unit, offset: int):
        if u.die_start <= offset < u.end:
            t = self.table(u)
            k = bisect.bisect_left(t[0], offset)
            if k < len(t[0]) and t[0][k] == offset:
                return u, t, k
        got = self.die_at(offset)
        return (got[0], got[1], 0) if got is not None else None

    # ------------------------------------------------------------------ scopes
    def scope_chain(self, u: Unit, pc: int, blocks: bool) -> list[int]:
        """Rows of the unit's scopes containing ``pc``, outermost first: at each level the first
        subprogram, inlined subroutine or lexical block (in DIE order, looking through namespaces
        and types) whose ranges hold the pc, then only inside it."""
        t = self.table(u)
        if u._kids is None:
            u._kids = _ds.scope_children(t[2], t[4], t[5])
        start, rows = u._kids
        forms = t[7]
        out: list[int] = []
        cur = -1
        while len(out) < MAX_CHAIN:
            found = -1
            for j in range(start[cur + 1], start[cur + 2]):
                r = rows[j]
                b = r * NS
                if forms[b + S.S_LOW] and forms[b + S.S_HIGH]:
                    lh = self._lohi(u, r)
                    if lh is not None and lh[0] <= pc < lh[1]:
                        found = r
                        break
                elif forms[b + S.S_RANGES] and any(x <= pc < y for x, y in self.ranges(u, t, r)):
                    found = r
                    break
            if found < 0:
                break
            out.append(found)
            cur = found
        if not blocks:
            out = [r for r in out if t[4][r] != T_BLOCK]
        return out

    # ------------------------------------------------------------------ line tables
    def line_table(self, u: Unit):
        """(address, end-of-sequence, file, line, column) sorted by address (a sequence's end
        before rows of a next one at the same address), and the file names."""
        if u.lines is None:
            st = self._top_value(u, S.S_STMT)
            has = ".debug_line" in self.image.sections and self.image.sections[".debug_line"][0] != 8
            if st is None or not has:
                u.lines, u.files = (array("Q"), array("B"), array("q"), array("q"), array("q")), []
                return u.lines
            start, end, params, files = self._line_header(u, st[0])
            u.lines = _ds.line_rows(self.upto(".debug_line", end), start, end, *params)
            u.files = files
        return u.lines

    def _line_header(self, u: Unit, off: int):
        total = self.size(".debug_line")
        r = _Reader(self.upto(".debug_line", off + 12), off, ".debug_line")
        length, osz = r.num(4), 4
        if length == 0xFFFFFFFF:
            length, osz = r.num(8), 8
        unit_end = r.pos + length
        if unit_end > total:
            _fail(f"a line program of {length} bytes inside the section", off, ".debug_line")
        d = self.upto(".debug_line", unit_end)
        r.d, r.n = d, unit_end
        version = r.num(2)
        if not 2 <= version <= 5:
            _fail(f"line table version 2 to 5 (got {version})", off, ".debug_line")
        asz = u.addr_size
        if version >= 5:
            asz = r.num(1)
            r.num(1)
        hlen = r.num(osz)
        prog = r.pos + hlen
        if prog > unit_end:
            _fail("a header inside its line program", off, ".debug_line")
        min_inst = r.num(1)
        if version >= 4:
            r.num(1)                             # maximum_operations_per_instruction
        r.num(1)                                 # default_is_stmt
        line_base = r.num(1)
        line_base -= 256 if line_base > 127 else 0
        line_range = r.num(1)
        opcode_base = r.num(1)
        nstd = max(opcode_base - 1, 0)
        r.need(nstd)
        std = bytes(d[r.pos:r.pos + nstd])
        r.pos += nstd
        dirs: list[str] = []
        files: list[tuple[str, int]] = []
        dec = lambda b: b.decode("utf-8", "backslashreplace")             # noqa: E731
        if version < 5:
            while len(dirs) < MAX_FILES:
                s = r.cstr()
                if not s:
                    break
                dirs.append(dec(s))
            while len(files) < MAX_FILES:
                s = r.cstr()
                if not s:
                    break
                di = r.uleb()
                r.uleb(), r.uleb()
                files.append((dec(s), di))
        else:
            for out, as_file in ((dirs, False), (files, True)):
                fmts = [(r.uleb(), r.uleb()) for _ in range(r.num(1))]
                count = r.uleb()
                if count > MAX_FILES:
                    _fail(f"at most {MAX_FILES} entries (got {count})", r.pos, ".debug_line")
                for _ in range(count):
                    name, di = "", 0
                    for ctype, form in fmts:
                        v = self._line_form(u, r, form, osz)
                        if ctype == 1:
                            name = dec(v) if isinstance(v, bytes) else ""
                        elif ctype == 2 and isinstance(v, int):
                            di = v
                    out.append((name, di) if as_file else name)
        names = []
        for name, di in files:
            if version < 5:
                dd = dirs[di - 1] if 0 < di <= len(dirs) else ""
            else:
                dd = dirs[di] if 0 <= di < len(dirs) else ""
            names.append(posixpath.join(dd, name) if dd and not name.startswith("/") else name)
        if version < 5:
            names = [""] + names
        return prog, unit_end, (asz, min_inst, line_base, line_range, opcode_base, std), names

    def _line_form(self, u: Unit, r: _Reader, form: int, osz: int):
        """One value of a DWARF 5 directory or file entry: bytes for strings, int for numbers."""
        if form == 0x08:
            return r.cstr()
        if form in (0x1F, 0x0E):
            return self._str_at(".debug_line_str" if form == 0x1F else ".debug_str", r.num(osz)) or b""
        if form in STRX_FORMS:
            k = r.uleb() if form in (0x1A, 0x1F02) else r.num({0x25: 1, 0x26: 2, 0x27: 3, 0x28: 4}[form])
            return self.string(u, form, k) or b""
        if form == 0x0F:
            return r.uleb()
        sizes = {0x0B: 1, 0x05: 2, 0x06: 4, 0x07: 8}
        if form in sizes:
            return r.num(sizes[form])
        if form == 0x1E:
            r.skip(16)
            return None
        if form == 0x09:
            r.skip(r.uleb())
            return None
        _fail(f"a known line table entry form (got 0x{form:x})", r.pos, ".debug_line")
