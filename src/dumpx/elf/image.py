"""One ELF image on disk (or in a core's memory): its unwind tables, symbols and DWARF, parsed
once and cached by build-id so that a second backtrace re-parses nothing.

Lookups work in the file's own address space; a module's load bias maps runtime addresses to it.
"""

from __future__ import annotations

import bisect
import io
import mmap
import os
import struct
import threading
from array import array
from dataclasses import dataclass

from .._native import cfi as _cfi
from .._native import symtab as _symtab
from ..errors import CorruptDumpError, DumpError

PT_LOAD = 1
MAX_INFLATED = 1 << 30       # a compressed debug section may inflate to this much, no more


def _dwarf_guard(method):
    """pyelftools raises its own exceptions (construct errors, KeyError, IndexError, RecursionError)
    on damaged DWARF: turn them into CorruptDumpError naming the file and the pc."""
    import functools

    @functools.wraps(method)
    def guarded(self, pc, *args, **kwargs):
        try:
            return method(self, pc, *args, **kwargs)
        except DumpError:
            raise
        except Exception as e:
            raise CorruptDumpError(f"{self.name}: DWARF unreadable at 0x{pc:x} ({type(e).__name__}: {e})",
                                   offset=None, expected="well-formed DWARF") from None
    return guarded


def _demangle(name: str) -> str:
    if not name.startswith("_Z") and not name.startswith("_R"):
        return name
    try:
        import cxxfilt
        out = cxxfilt.demangle(name, external_only=False)
    except Exception:
        return name
    # Rust legacy mangling ends in a 17h<16 hex> hash element
    if name.startswith("_ZN") and len(out) > 19 and out[-19:-16] == "::h":
        tail = out[-16:]
        if all(c in "0123456789abcdef" for c in tail):
            out = out[:-19]
    return out


@dataclass
class CfiTable:
    data: memoryview        # the section's bytes
    addr: int               # its address in the file's address space
    eh: bool                # .eh_frame (pc-relative pointers) vs .debug_frame
    lo: array
    hi: array
    off: array

    def find(self, pc: int) -> int | None:
        if not 0 <= pc < 1 << 64:
            return None
        k = bisect.bisect_right(self.lo, pc) - 1
        if k >= 0 and pc < self.hi[k]:
            return self.off[k]
        return None


@dataclass
class Scope:
    """A subprogram or inlined subroutine covering a pc (DWARF), outermost first."""
    name: str
    die_offset: int
    inlined: bool
    call_file: str | None
    call_line: int | None
    call_column: int | None


class Image:
    """An ELF file's unwind, symbol and debug information."""

    def __init__(self, path: str | None = None, data: bytes | None = None, name: str | None = None):
        self.path = path
        self.name = name or path or "?"
        self._lock = threading.Lock()
        if data is None:
            try:
                with open(path, "rb") as f:
                    self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            except (OSError, ValueError) as e:
                raise CorruptDumpError(f"{path}: cannot map ({e})", offset=None, expected="a readable ELF file") from None
            self.data = memoryview(self._map)
        else:
            self._map = None
            self.data = memoryview(bytes(data))
        self._parse_headers()
        self._elf = None
        self._dwarf = None
        self._dw = None
        self._cfi: list[CfiTable] | None = None
        self._symbols = None
        self._aranges = None

    # --------------------------------------------------------------- headers
    def _parse_headers(self) -> None:
        d = self.data
        if len(d) < 64 or bytes(d[:4]) != b"\x7fELF" or d[4] != 2 or d[5] != 1:
            raise CorruptDumpError(f"{self.name}: not a 64-bit little-endian ELF file", offset=0,
                                   expected="\\x7fELF, class 64, little-endian")
        self.e_type, self.machine = struct.unpack_from("<HH", d, 16)
        phoff, shoff = struct.unpack_from("<QQ", d, 32)
        phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack_from("<HHHHH", d, 54)
        self.loads = []
        self.notes = []                                                    # (file offset, size) of PT_NOTEs
        self.has_interp = False
        if phnum and phentsize == 56 and phoff + 56 * phnum <= len(d):
            for i in range(phnum):
                p = struct.unpack_from("<IIQQQQQQ", d, phoff + 56 * i)
                if p[0] == PT_LOAD:
                    self.loads.append((p[3], p[6], p[2], p[5], p[1]))   # vaddr, memsz, offset, filesz, flags
                elif p[0] == 4:
                    self.notes.append((p[2], p[5]))
                elif p[0] == 3:
                    self.has_interp = True
        self.sections: dict[str, tuple] = {}
        if shnum and shentsize == 64 and shoff + 64 * shnum <= len(d):
            hdrs = [struct.unpack_from("<IIQQQQIIQQ", d, shoff + 64 * i) for i in range(shnum)]
            if shstrndx < shnum:
                so, ss = hdrs[shstrndx][4], hdrs[shstrndx][5]
                names = bytes(d[so:so + ss]) if so + ss <= len(d) else b""
                for h in hdrs:
                    nm = names[h[0]:names.find(b"\x00", h[0])].decode("latin-1") if h[0] < len(names) else ""
                    # name -> (type, flags, addr, offset, size)
                    self.sections.setdefault(nm, (h[1], h[2], h[3], h[4], h[5]))
        self.first_vaddr = min((l[0] for l in self.loads), default=0) & ~0xFFF

    def section_bytes(self, name: str) -> tuple[memoryview, int] | None:
        s = self.sections.get(name)
        if s is None or s[0] == 8:                      # SHT_NOBITS (stripped into a debug file)
            return None
        t, flags, addr, off, size = s
        if off + size > len(self.data):
            raise CorruptDumpError(f"{self.name}: section {name} runs past the end of the file",
                                   offset=off, expected=f"{size} bytes")
        if flags & 0x800:                               # SHF_COMPRESSED
            from ..sources import zlib
            if size < 24:
                raise CorruptDumpError(f"{self.name}: compressed section {name} is shorter than its header",
                                       offset=off, expected="a 24-byte Elf64_Chdr")
            ch_type, _, ch_size = struct.unpack_from("<IIQ", self.data, off)
            if ch_type != 1:
                return None
            if ch_size > MAX_INFLATED:
                raise CorruptDumpError(f"{self.name}: compressed section {name} claims {ch_size} bytes",
                                       offset=off, expected=f"at most {MAX_INFLATED} bytes inflated")
            try:
                return memoryview(zlib.decompressobj().decompress(bytes(self.data[off + 24:off + size]), ch_size)), addr
            except zlib.error:
                raise CorruptDumpError(f"{self.name}: compressed section {name} does not inflate",
                                       offset=off, expected="zlib data") from None
        return self.data[off:off + size], addr

    def build_id(self) -> str | None:
        """The GNU build-id from the note sections, or the PT_NOTE segments (a debug file has the
        section; a stripped-section binary only the segment)."""
        spans = [(s[3], s[4]) for n, s in self.sections.items() if s[0] == 7]      # SHT_NOTE
        for off, size in spans + self.notes:
            if off + size > len(self.data):
                continue
            blob = bytes(self.data[off:off + size])
            pos = 0
            while pos + 12 <= len(blob):
                nsz, dsz, t = struct.unpack_from("<III", blob, pos)
                dpos = pos + 12 + ((nsz + 3) & ~3)
                end = dpos + ((dsz + 3) & ~3)
                if end > len(blob) or end <= pos:
                    break
                if t == 3 and blob[pos + 12:pos + 12 + nsz].rstrip(b"\x00") == b"GNU":
                    return blob[dpos:dpos + dsz].hex()
                pos = end
        return None

    def read_vaddr(self, vaddr: int, size: int) -> bytes | None:
        """Bytes at a file virtual address from a PT_LOAD's file-backed part, or None (also where
        the program header claims more file bytes than the file has)."""
        for va, memsz, off, filesz, _ in self.loads:
            if va <= vaddr and vaddr + size <= va + filesz:
                got = bytes(self.data[off + vaddr - va: off + vaddr - va + size])
                return got if len(got) == size else None
        return None

    # --------------------------------------------------------------- unwind tables
    def cfi_tables(self) -> list[CfiTable]:
        if self._cfi is None:
            out = []
            for name, eh in ((".eh_frame", True), (".debug_frame", False)):
                got = self.section_bytes(name)
                if got is None or len(got[0]) == 0:
                    continue
                data = got[0].toreadonly()
                lo, hi, off = _cfi.index(data, got[1], eh)
                out.append(CfiTable(data, got[1], eh, lo, hi, off))
            self._cfi = out
        return self._cfi

    # --------------------------------------------------------------- symbols
    def _load_symbols(self):
        """Function symbols sorted by address (names stay offsets into the string table until a
        lookup needs one: libc has thousands, a backtrace names a few)."""
        self._symbols = (array("Q"), array("Q"), array("q"), b"")
        for sec, link_sec in ((".symtab", ".strtab"), (".dynsym", ".dynstr")):
            sym = self.section_bytes(sec)
            strs = self.section_bytes(link_sec)
            if sym is None or strs is None:
                continue
            a, sz, nm = _symtab.functions(sym[0].toreadonly())
            if len(a):
                self._symbols = (a, sz, nm, bytes(strs[0]))
                break                     # .symtab is a superset of .dynsym

    def _symbol_name(self, k: int) -> str:
        st = self._symbols[3]
        off = int(self._symbols[2][k])
        end = st.find(b"\x00", off)
        name = st[off:end if end >= 0 else len(st)].split(b"@", 1)[0]
        return _demangle(name.decode("utf-8", "backslashreplace"))

    def symbol(self, pc: int) -> tuple[str, int, int] | None:
        """(demangled function name, offset, size) of the ELF symbol covering file address ``pc``; among
        aliases at one address a global name wins over a weak one, and both over a local one."""
        if self._symbols is None:
            self._load_symbols()
        a, s = self._symbols[0], self._symbols[1]
        k = bisect.bisect_right(a, pc) - 1
        if k < 0:
            return None
        g = bisect.bisect_left(a, a[k])
        for j in range(g, k + 1):
            if pc < a[j] + s[j]:
                return self._symbol_name(j), pc - a[j], s[j]
        # a symbol without a size (assembly entry points such as _start) runs to the next symbol
        if all(s[j] == 0 for j in range(g, k + 1)):
            nxt = bisect.bisect_right(a, a[k])
            return self._symbol_name(g), pc - a[g], (a[nxt] - a[g]) if nxt < len(a) else 0
        return None

    # --------------------------------------------------------------- DWARF
    @property
    def has_dwarf(self) -> bool:
        return ".debug_info" in self.sections and self.sections[".debug_info"][0] != 8

    def dwarf(self):
        if self._dwarf is None:
            from elftools.elf.elffile import ELFFile
            try:
                self._elf = ELFFile(io.BytesIO(bytes(self.data)) if self._map is None else _MapFile(self._map))
                self._dwarf = self._elf.get_dwarf_info(relocate_dwarf_sections=False)
            except Exception as e:
                raise CorruptDumpError(f"{self.name}: DWARF unreadable ({type(e).__name__}: {e})", offset=None,
                                       expected="DWARF sections pyelftools can read") from None
        return self._dwarf

    def prefetch_dwarf(self) -> bool:
        """Start inflating compressed DWARF in the background (``dumpx.elf.dwarf.Dwarf.prefetch``);
        whether anything was started."""
        if self.has_dwarf:
            with self._lock:
                return self.dw.prefetch()
        return False

    @property
    def dw(self):
        """dumpx's own DWARF reader (``dumpx.elf.dwarf``): scopes and line tables."""
        if self._dw is None:
            from .dwarf import Dwarf
            self._dw = Dwarf(self)
        return self._dw

    def _cu_for(self, pc: int):
        dw = self.dw
        if self._aranges is None:
            ar = self._read_aranges()
            if ar is not None and len(ar[0]):
                lo, hi, cu = ar
            else:
                lo, hi, cu = array("Q"), array("Q"), array("q")
                for off in dw.unit_offsets():
                    u = dw.unit_at(off)
                    for a, b in dw.ranges(u, dw.top(u), 0):
                        lo.append(a), hi.append(b), cu.append(off)
            order = sorted(range(len(lo)), key=lo.__getitem__)
            self._aranges = (array("Q", [lo[k] for k in order]), array("Q", [hi[k] for k in order]),
                             array("q", [cu[k] for k in order]))
        lo, hi, cu = self._aranges
        k = bisect.bisect_right(lo, pc) - 1
        while k >= 0:
            if pc < hi[k]:
                return dw.unit_at(cu[k])
            if hi[k] <= pc and k > 0 and lo[k - 1] == lo[k]:
                k -= 1
                continue
            # overlapping earlier ranges are rare; look back a few
            k -= 1
            if k < 0 or pc - lo[k] > 1 << 24:
                break
        return None

    def _read_aranges(self):
        """.debug_aranges as (lo, hi, CU offset) arrays; None when absent or malformed (the CU
        ranges are used then). Each set's header is checked against the section's length."""
        got = self.section_bytes(".debug_aranges")
        if got is None:
            return None
        from .._native import dwarfscan
        return dwarfscan.aranges(got[0])

    @_dwarf_guard
    def line(self, pc: int) -> tuple[str, int, int] | None:
        """(file, line, column) of file address ``pc`` from the DWARF line table."""
        if not self.has_dwarf:
            return None
        u = self._cu_for(pc)
        if u is None:
            return None
        a, end, fil, line, col = self.dw.line_table(u)
        k = bisect.bisect_right(a, pc) - 1
        if k < 0 or end[k] or line[k] == 0:
            return None
        return _file_name(u.files, fil[k]), line[k], col[k]

    @_dwarf_guard
    def scopes(self, pc: int) -> list[Scope]:
        """The subprogram and inlined subroutines containing ``pc``, outermost first."""
        if not self.has_dwarf:
            return []
        u = self._cu_for(pc)
        if u is None:
            return []
        dw = self.dw
        dw.line_table(u)
        t = dw.table(u)
        out = []
        from . import dwarf as _d
        for r in dw.scope_chain(u, pc, blocks=False):
            name = dw.row_name(u, t, r)
            cf = _d.slot_value(t, r, _d.S.S_CALL_FILE)
            out.append(Scope(_demangle(name.decode("utf-8", "backslashreplace")) if name is not None else "??",
                             t[0][r], t[4][r] == _d.T_INLINED,
                             _file_name(u.files, cf) if cf is not None else None,
                             _d.slot_value(t, r, _d.S.S_CALL_LINE), _d.slot_value(t, r, _d.S.S_CALL_COL)))
        return out

    @_dwarf_guard
    def scope_dies(self, pc: int) -> list:
        """pyelftools DIEs of every scope (subprograms, inlined subroutines, lexical blocks)
        containing pc, outermost first, for variable lookup."""
        u = self._cu_for(pc) if self.has_dwarf else None
        if u is None:
            return []
        dw = self.dwarf()
        cu = dw.get_CU_at(u.offset)
        t = self.dw.table(u)
        return [cu.get_DIE_from_refaddr(t[0][r]) for r in self.dw.scope_chain(u, pc, blocks=True)]

    def close(self) -> None:
        self.data.release()
        if self._map is not None:
            try:
                self._map.close()
            except BufferError:
                pass


class _MapFile(io.RawIOBase):
    """A seekable read-only file over an mmap (pyelftools wants a stream)."""

    def __init__(self, m):
        self._m = m
        self._pos = 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def seek(self, pos, whence=0):
        self._pos = pos if whence == 0 else self._pos + pos if whence == 1 else len(self._m) + pos
        return self._pos

    def tell(self):
        return self._pos

    def read(self, n=-1):
        end = len(self._m) if n is None or n < 0 else min(len(self._m), self._pos + n)
        out = self._m[self._pos:end]
        self._pos = max(self._pos, end)
        return out

    def readinto(self, b):
        data = self.read(len(b))
        b[:len(data)] = data
        return len(data)


def _die_name(die, depth: int = 0) -> str:
    for key in ("DW_AT_linkage_name", "DW_AT_MIPS_linkage_name"):
        a = die.attributes.get(key)
        if a is not None:
            return _demangle(a.value.decode("utf-8", "backslashreplace"))
    a = die.attributes.get("DW_AT_name")
    if a is not None:
        return a.value.decode("utf-8", "backslashreplace")
    if depth < 8:
        for key in ("DW_AT_abstract_origin", "DW_AT_specification"):
            if key in die.attributes:
                try:
                    return _die_name(die.get_DIE_from_attribute(key), depth + 1)
                except Exception:
                    pass
    return "??"


def _file_name(files: list[str], idx: int) -> str:
    return files[idx] if 0 <= idx < len(files) else f"<file {idx}>"


class ImageCache:
    """Images by build-id (or path when there is none), shared by every backtrace in the process."""

    def __init__(self):
        self._by_key: dict[str, Image] = {}
        self._lock = threading.Lock()

    def get(self, path: str, build_id: str | None) -> Image:
        # by build-id *and* file: a stripped copy and the unstripped file share a build-id, and
        # the one asked for second must not be answered with the first one's (missing) DWARF
        key = f"{build_id}:{os.path.realpath(path)}"
        with self._lock:
            img = self._by_key.get(key)
            if img is None or img.path != path:
                img = Image(path)
                self._by_key[key] = img
            return img

    def from_memory(self, key: str, data: bytes, name: str) -> Image:
        with self._lock:
            img = self._by_key.get(key)
            if img is None:
                img = Image(data=data, name=name)
                self._by_key[key] = img
            return img

    def clear(self) -> None:
        with self._lock:
            self._by_key.clear()


CACHE = ImageCache()
