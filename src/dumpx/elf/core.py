"""Linux ELF core files: threads, memory by address, modules and their build-ids.

The ELF structure is read with pyelftools; note payloads (prstatus, siginfo, auxv, NT_FILE) are
decoded here from the kernel's layouts, so every field can name the file offset it came from.
Memory is served from PT_LOAD segments: bytes in the file are *captured*; a segment's tail past
its file size (or past the end of a truncated file) is *not captured* and never reads as zeros.
"""

from __future__ import annotations

import bisect
import struct
import warnings
from dataclasses import dataclass
from typing import Any

from ..errors import CorruptDumpError, DumpError, TruncationWarning, UnmappedAddressError, UnsupportedFormatError
from ..findings import Findings
from ..sources import ByteView, open_source

PT_LOAD, PT_NOTE = 1, 4
PF_X, PF_W, PF_R = 1, 2, 4
NT_PRSTATUS, NT_PRPSINFO, NT_AUXV, NT_SIGINFO, NT_FILE = 1, 3, 6, 0x53494749, 0x46494C45
EM_X86_64, EM_AARCH64 = 62, 183

X86_64_REGS = ["r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8", "rax", "rcx",
               "rdx", "rsi", "rdi", "orig_rax", "rip", "cs", "eflags", "rsp", "ss", "fs_base",
               "gs_base", "ds", "es", "fs", "gs"]
AARCH64_REGS = [f"x{i}" for i in range(31)] + ["sp", "pc", "pstate"]
AUXV_NAMES = {0: "AT_NULL", 3: "AT_PHDR", 4: "AT_PHENT", 5: "AT_PHNUM", 6: "AT_PAGESZ", 7: "AT_BASE",
              8: "AT_FLAGS", 9: "AT_ENTRY", 11: "AT_UID", 12: "AT_EUID", 13: "AT_GID", 14: "AT_EGID",
              15: "AT_PLATFORM", 16: "AT_HWCAP", 17: "AT_CLKTCK", 23: "AT_SECURE", 24: "AT_BASE_PLATFORM",
              25: "AT_RANDOM", 26: "AT_HWCAP2", 27: "AT_RSEQ_FEATURE_SIZE", 28: "AT_RSEQ_ALIGN",
              31: "AT_EXECFN", 33: "AT_SYSINFO_EHDR", 51: "AT_MINSIGSTKSZ"}
_U64 = struct.Struct("<Q")
_III = struct.Struct("<III")
_H = struct.Struct("<h")
_I = struct.Struct("<i")
_CORE_NOTES = frozenset((NT_PRPSINFO, NT_AUXV, NT_SIGINFO, NT_FILE))
SI_SENDER_CODES = {0: "SI_USER (kill)", -1: "SI_QUEUE (sigqueue)", -6: "SI_TKILL (tkill/tgkill)"}
SIGNALS = {4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT", 7: "SIGBUS", 8: "SIGFPE", 9: "SIGKILL",
           11: "SIGSEGV", 3: "SIGQUIT", 31: "SIGSYS"}


@dataclass
class Segment:
    vaddr: int
    memsz: int
    offset: int
    filesz: int        # bytes of the segment that are in the file (after truncation)
    flags: int
    declared_filesz: int = -1   # what the program header says (more than filesz when the file is cut)

    @property
    def end(self) -> int:
        return self.vaddr + self.memsz

    @property
    def executable(self) -> bool:
        return bool(self.flags & PF_X)


class ThreadRegisters:
    """pc and sp from a thread's ``registers`` by name (x86-64, aarch64, and a minidump's x86 or arm)."""

    registers: dict[str, int]

    @property
    def pc(self) -> int | None:
        r = self.registers
        return r.get("rip", r.get("pc", r.get("eip")))

    @property
    def sp(self) -> int | None:
        r = self.registers
        return r.get("rsp", r.get("sp", r.get("esp")))


@dataclass
class Thread(ThreadRegisters):
    index: int
    pid: int
    signal: int
    registers: dict[str, int]
    note_offset: int


@dataclass
class MappedFile:
    start: int
    end: int
    file_offset: int      # in pages of ``page_size``, as NT_FILE records it
    path: str


@dataclass
class Module:
    start: int
    size: int
    path: str | None
    build_id: str | None
    build_id_address: int | None
    headers_captured: bool
    problem: str | None = None
    debug_id: str | None = None        # a Windows module (minidump): its PDB's GUID and age
    code_id: str | None = None         # a Windows module: its image's TimeDateStamp and SizeOfImage
    debug_file: str | None = None      # a Windows module: the PDB path its CodeView record names

    @property
    def extent(self) -> int:
        """The size rounded up to whole pages, as mapped (what eu-unstrip prints for a module whose
        file it did not open; ``size`` is the exact end of the last PT_LOAD)."""
        return (self.size + 0xFFF) & ~0xFFF


def _cstr(b: bytes) -> str:
    return b.split(b"\x00", 1)[0].decode("utf-8", "backslashreplace")


class Core:
    """An ELF core file. ``dumpx.open("core")`` returns one."""

    def __init__(self, source, detection=None):
        self.source = open_source(source)
        self.view: ByteView = self.source.view()
        self._parse()

    # ------------------------------------------------------------------ structure
    def _parse(self) -> None:
        v = self.view
        name = self.source.name
        ident = v.read(0, 16)
        if ident[:4] != b"\x7fELF":
            raise UnsupportedFormatError("not an ELF file", detected="unknown", path=name)
        if ident[4] != 2:
            raise UnsupportedFormatError("32-bit ELF cores are recognised but not supported yet",
                                         detected="elf-core-32", path=name)
        if ident[5] != 1:
            raise UnsupportedFormatError("big-endian ELF cores are not supported", detected="elf-core-be",
                                         path=name)
        (e_type, e_machine, _, _, e_phoff, e_shoff, _, _, e_phentsize, e_phnum) = v.unpack("<HHIQQQIHHH", 16)
        if e_type != 4:
            raise UnsupportedFormatError(f"ELF type {e_type} is not a core (4)", detected="elf", path=name)
        if e_phentsize != 56:
            raise CorruptDumpError(f"program header size {e_phentsize}", offset=54, expected="56", path=name)
        if e_phnum == 0xFFFF:
            # PN_XNUM: the kernel writes the real count into section header 0's sh_info (> 65,534 mappings)
            if e_shoff == 0:
                raise CorruptDumpError("e_phnum is PN_XNUM but there is no section header 0", offset=56,
                                       expected="e_shoff pointing at section header 0", path=name)
            e_phnum = v.unpack("<I", e_shoff + 44)[0]
        if e_phoff + 56 * e_phnum > v.size:
            raise CorruptDumpError(f"{e_phnum} program headers at offset {e_phoff} run past the end of the file",
                                   offset=e_phoff, expected=f"at most {max(0, v.size - e_phoff) // 56} headers",
                                   path=name)
        self.machine = {EM_X86_64: "x86-64", EM_AARCH64: "aarch64"}.get(e_machine, f"machine-{e_machine}")
        self.segments: list[Segment] = []
        notes: list[tuple[int, int]] = []
        self.problems: list[str] = []
        cut = 0
        phdrs = v.read(e_phoff, 56 * e_phnum)
        for i in range(e_phnum):
            p_type, p_flags, p_offset, p_vaddr, _, p_filesz, p_memsz, _ = struct.unpack_from("<IIQQQQQQ", phdrs, 56 * i)
            if p_type == PT_LOAD:
                if p_vaddr + p_memsz > 1 << 64 or p_filesz > p_memsz:
                    self.problems.append(f"PT_LOAD {i} at 0x{p_vaddr:x} (+0x{p_memsz:x}, file 0x{p_filesz:x}) "
                                         f"wraps the address space or holds more file bytes than memory: ignored")
                    continue
                have = max(0, min(p_filesz, v.size - p_offset)) if p_offset <= v.size else 0
                if have < p_filesz:
                    cut += 1
                    if cut <= 3:
                        self.problems.append(f"PT_LOAD at 0x{p_vaddr:x}: {p_filesz - have} of its {p_filesz} "
                                             f"file bytes are past the end of the file (truncated core)")
                self.segments.append(Segment(p_vaddr, p_memsz, p_offset, have, p_flags, p_filesz))
            elif p_type == PT_NOTE:
                notes.append((p_offset, p_filesz))
        if cut > 3:
            self.problems.append(f"... {cut} PT_LOAD segments in all are cut by the end of the file")
        self.segments.sort(key=lambda s: s.vaddr)
        kept: list[Segment] = []
        for sg in self.segments:
            if kept and sg.vaddr < kept[-1].end:
                self.problems.append(f"PT_LOAD at 0x{sg.vaddr:x} overlaps the one at 0x{kept[-1].vaddr:x} "
                                     f"(to 0x{kept[-1].end:x}): the later one is ignored")
                continue
            kept.append(sg)
        self.segments = kept
        self._seg_starts = [sg.vaddr for sg in kept]
        self._last_seg = None
        self._buf = v.buffer
        self.truncated = cut > 0
        self.threads: list[Thread] = []
        self.auxv: dict[str, int] = {}
        self.files: list[MappedFile] = []
        self.siginfo: dict[str, Any] | None = None
        self.process: dict[str, Any] = {}
        for off, size in notes:
            try:
                self._notes(off, size)
            except DumpError as e:
                if not self.truncated and off + size <= v.size:
                    raise
                self.problems.append(f"notes at offset {off} are cut: {e}")
        if self.truncated or any("past the end" in p for p in self.problems):
            warnings.warn(TruncationWarning(f"{name}: the core is truncated; memory past offset {v.size} is "
                                            f"lost: {'; '.join(self.problems[:2])}"), stacklevel=3)

    def _notes(self, off: int, size: int) -> None:
        v = self.view
        end = min(off + size, v.size)
        if off + size > v.size:
            self.problems.append(f"PT_NOTE at offset {off} runs past the end of the file")
            self.truncated = True
        pos = off
        buf = v.buffer
        names = X86_64_REGS if self.machine == "x86-64" else AARCH64_REGS
        regs_at = struct.Struct(f"<{len(names)}Q")
        prstatus_min = 112 + regs_at.size
        while pos + 12 <= end:
            namesz, descsz, ntype = _III.unpack_from(buf, pos)
            name_off = pos + 12
            desc_off = name_off + ((namesz + 3) & ~3)
            nxt = desc_off + ((descsz + 3) & ~3)
            if nxt > end:
                raise CorruptDumpError(f"note type 0x{ntype:x} runs past its PT_NOTE segment", offset=pos,
                                       expected=f"a note ending by offset {end}", path=self.source.name)
            if ntype != NT_PRSTATUS and ntype not in _CORE_NOTES:
                pos = nxt                     # register sets and other notes: nothing read from them
                continue
            if ntype == NT_PRSTATUS and namesz == 5 and descsz >= prstatus_min and buf[name_off:name_off + 5] == b"CORE\0":
                # one per thread: read in place (the bounds are checked above)
                cursig, = _H.unpack_from(buf, desc_off + 12)
                pid, = _I.unpack_from(buf, desc_off + 32)
                self.threads.append(Thread(len(self.threads), pid, cursig,
                                           dict(zip(names, regs_at.unpack_from(buf, desc_off + 112))), v.base + desc_off))
                pos = nxt
                continue
            name = _cstr(v.read(name_off, namesz))
            desc = v.sub(desc_off, descsz)
            if name == "CORE":
                if ntype == NT_PRSTATUS:
                    self._prstatus(desc)
                elif ntype == NT_PRPSINFO:
                    self._prpsinfo(desc)
                elif ntype == NT_SIGINFO:
                    self._siginfo(desc)
                elif ntype == NT_AUXV:
                    self._auxv(desc)
                elif ntype == NT_FILE:
                    self._file(desc)
            pos = nxt

    def _prstatus(self, d: ByteView) -> None:
        signo, code, errno, cursig = d.unpack("<iiih", 0)
        pid = d.unpack("<i", 32)[0]
        names = X86_64_REGS if self.machine == "x86-64" else AARCH64_REGS
        regs = dict(zip(names, d.unpack(f"<{len(names)}Q", 112)))
        self.threads.append(Thread(len(self.threads), pid, cursig, regs, d.base))

    def _prpsinfo(self, d: ByteView) -> None:
        state, sname, _, nice = d.unpack("<bcbb", 0)
        uid, gid, pid, ppid = d.unpack("<IIii", 16)
        self.process = {"pid": pid, "ppid": ppid, "uid": uid, "gid": gid,
                        "state": sname.decode("latin-1"), "name": _cstr(d.read(40, 16)),
                        "args": _cstr(d.read(56, 80)).strip()}

    def _siginfo(self, d: ByteView) -> None:
        # kernel siginfo_t: si_signo, si_errno, si_code (LIEF swaps the last two), then the union
        signo, errno, code = d.unpack("<iii", 0)
        info: dict[str, Any] = {"signo": signo, "signal": SIGNALS.get(signo, str(signo)),
                                "errno": errno, "code": code, "note_offset": d.base}
        if signo in (4, 7, 8, 11, 5) and code > 0 and d.size >= 24:
            info["addr"] = d.unpack("<Q", 16)[0]
        elif code in SI_SENDER_CODES and d.size >= 24:
            # kill(2), tkill/tgkill, sigqueue: the sender is in the union's _kill member
            info["sender_pid"], info["sender_uid"] = d.unpack("<iI", 16)
            info["sent_by"] = SI_SENDER_CODES[code]
        self.siginfo = info

    def _auxv(self, d: ByteView) -> None:
        for k in range(d.size // 16):
            t, val = d.unpack("<QQ", 16 * k)
            if t == 0:
                break
            self.auxv[AUXV_NAMES.get(t, f"AT_{t}")] = val

    def _file(self, d: ByteView) -> None:
        count, page = d.unpack("<QQ", 0)
        if count > (d.size - 16) // 24:
            raise CorruptDumpError(f"NT_FILE announces {count} mappings", offset=d.base,
                                   expected=f"at most {(d.size - 16) // 24} in {d.size} bytes",
                                   path=self.source.name)
        raw = d.read(16, 24 * count)
        names = d.read(16 + 24 * count, d.size - 16 - 24 * count).split(b"\x00")
        self.page_size = page
        if len(names) - 1 < count:
            self.problems.append(f"NT_FILE at offset {d.base} announces {count} mappings but holds "
                                 f"{max(0, len(names) - 1)} complete names: the rest are listed without a path")
        for k in range(count):
            s, e, o = struct.unpack_from("<QQQ", raw, 24 * k)
            n = names[k] if k < len(names) - 1 else None
            self.files.append(MappedFile(s, e, o, n.decode("utf-8", "backslashreplace") if n is not None
                                         else f"<mapping {k}: name lost>"))

    # ------------------------------------------------------------------ memory
    def segment_of(self, address: int) -> Segment | None:
        k = bisect.bisect_right(self._seg_starts, address) - 1
        if k >= 0 and address < self.segments[k].end:
            return self.segments[k]
        return None

    def read(self, address: int, size: int) -> bytes:
        """``size`` bytes at virtual ``address``; UnmappedAddressError where not mapped or not captured."""
        out = bytearray()
        a, left = address, size
        while left > 0:
            s = self.segment_of(a)
            if s is None:
                raise UnmappedAddressError("address is not mapped in the core", address=a, size=left, mapped=False)
            inner = a - s.vaddr
            if inner >= s.filesz:
                if inner < s.declared_filesz:
                    raise UnmappedAddressError("mapped and written to the core, but the core file is truncated "
                                               "before it", address=a, size=left, captured=False, truncated=True)
                raise UnmappedAddressError("mapped but not captured in the core (the kernel's core filter "
                                           "left it out)", address=a, size=left, captured=False)
            n = min(left, s.filesz - inner)
            out += self.view.read(s.offset + inner, n)
            a += n
            left -= n
        return bytes(out)

    def u64(self, address: int) -> int:
        s = self._last_seg
        if s is None or not s.vaddr <= address < s.vaddr + s.filesz - 7:
            s = self.segment_of(address)
            if s is None or address + 8 > s.vaddr + s.filesz:
                return struct.unpack("<Q", self.read(address, 8))[0]
            self._last_seg = s
        return _U64.unpack_from(self._buf, s.offset + address - s.vaddr)[0]

    def stack_words(self, thread: int = 0, count: int = 32) -> list[tuple[int, int | None]]:
        """(address, value) of ``count`` words from the thread's stack pointer, like ``x/32gx $rsp``;
        value None where the memory is not captured."""
        if not 0 <= thread < len(self.threads):
            raise DumpError(f"thread {thread} does not exist (the core has {len(self.threads)} threads)",
                            path=self.path if isinstance(getattr(self, "path", None), str) else None)
        sp = self.threads[thread].sp
        out = []
        for k in range(count):
            a = sp + 8 * k
            try:
                out.append((a, self.u64(a)))
            except UnmappedAddressError:
                out.append((a, None))
        return out

    def is_executable(self, address: int) -> bool:
        s = self.segment_of(address)
        return bool(s and s.executable)

    # ------------------------------------------------------------------ modules
    def modules(self) -> list[Module]:
        """Every mapped ELF image: start, size, path (NT_FILE), build-id from its in-memory notes."""
        starts: dict[int, str | None] = {}
        for f in self.files:
            if f.file_offset == 0 and f.start not in starts:
                starts[f.start] = f.path
        vdso = self.auxv.get("AT_SYSINFO_EHDR")
        if vdso:
            starts.setdefault(vdso, "[vdso]")
        out: list[Module] = []
        for start, path in sorted(starts.items()):
            if out and out[-1].size and out[-1].start <= start < out[-1].start + out[-1].size:
                continue            # a later mapping of an image already listed (its data segment)
            try:
                magic = self.read(start, 4)
            except UnmappedAddressError as e:
                out.append(Module(start, 0, path, None, None, False,
                                  "ELF headers lost: the core file is truncated before them" if e.truncated
                                  else "ELF headers not captured (core filter omitted them)" if e.mapped
                                  else "not mapped"))
                continue
            if magic != b"\x7fELF":
                continue
            try:
                out.append(self._module(start, path))
            except DumpError as e:
                out.append(Module(start, 0, path, None, None, True, f"in-memory ELF headers unreadable: {e}"))
        return out

    def _module(self, start: int, path: str | None) -> Module:
        e_type = struct.unpack("<H", self.read(start + 16, 2))[0]
        phoff = struct.unpack("<Q", self.read(start + 32, 8))[0]
        phentsize, phnum = struct.unpack("<HH", self.read(start + 54, 4))
        if phentsize != 56 or phnum > 512:
            raise CorruptDumpError("implausible program headers", offset=None, expected="56-byte entries")
        phdrs = [struct.unpack("<IIQQQQQQ", self.read(start + phoff + 56 * i, 56)) for i in range(phnum)]
        loads = [p for p in phdrs if p[0] == PT_LOAD]
        if not loads:
            raise CorruptDumpError("no PT_LOAD in the in-memory image", offset=None, expected="PT_LOAD")
        first = min(p[3] for p in loads) & ~0xFFF
        bias = start - first if e_type == 3 else 0
        end = max(p[3] + p[6] for p in loads) + bias
        bid = bid_addr = None
        problem = None
        for p in phdrs:
            if p[0] != PT_NOTE:
                continue
            size = p[5]
            data = None
            # the note's vaddr, or (as eu-unstrip also tries) the mapping start plus its file offset
            for a in dict.fromkeys((p[3] + bias, start + p[2])):
                try:
                    data = self.read(a, min(size, 1 << 16))
                except UnmappedAddressError:
                    continue
                if b"GNU\x00" in data:
                    break
            if data is None:
                problem = "its PT_NOTE (build-id) is not captured"
                continue
            pos = 0
            while pos + 12 <= len(data):
                nsz, dsz, t = struct.unpack_from("<III", data, pos)
                dpos = pos + 12 + ((nsz + 3) & ~3)
                if data[pos + 12:pos + 12 + nsz].rstrip(b"\x00") == b"GNU" and t == 3 and dpos + dsz <= len(data):
                    bid, bid_addr = data[dpos:dpos + dsz].hex(), a + dpos
                pos = dpos + ((dsz + 3) & ~3)
                if pos <= dpos - 12:
                    break
        return Module(start, end - start, path, bid, bid_addr, True, problem if bid is None else None)

    def findings(self, backtraces: bool = True, binaries=(), search_paths=(), verify: bool = True):
        """Build verification first (``verify``: each module against ``binaries``, the paths the
        core records and ``search_paths``), then fault decoding, hijacked control flow and stack
        smash evidence for every thread; with ``backtraces`` (the default) also the crashing
        thread's ``??`` frames explained and a stack-protector abort read."""
        from .smash import smash_findings
        out = Findings()
        if verify:
            from .verify import verify_findings
            out.extend(verify_findings(self.verify(binaries, search_paths)))
        out.extend(smash_findings(self))
        if backtraces:
            from .reading import crashing_thread_findings
            out.extend(crashing_thread_findings(self, binaries, search_paths))
        return out

    def unwinder(self, binaries=(), search_paths=()):
        """The unwinder for this core, its modules verified against ``binaries``, the paths the core
        records and ``.build-id`` trees (see dumpx.elf.backtrace)."""
        from .backtrace import Unwinder
        key = (tuple(map(str, binaries)), tuple(map(str, search_paths)))
        cached = getattr(self, "_unwinders", {})
        if key not in cached:
            cached[key] = Unwinder(self, binaries=binaries, search_paths=search_paths)
            self._unwinders = cached
        return cached[key]

    def backtraces(self, binaries=(), search_paths=()):
        """A Backtrace per thread, the thread that took the signal first."""
        return self.unwinder(binaries, search_paths).all()

    def verify(self, binaries=(), search_paths=()):
        """An explicit build verdict per module (see dumpx.elf.verify)."""
        from .verify import verify
        return verify(self, binaries, search_paths)

    def close(self) -> None:
        buf = getattr(self, "_buf", None)
        if buf is not None:
            buf.release()
        self.source.close()

    def __repr__(self) -> str:
        return (f"<Core {self.source.name!r} {self.machine}, {len(self.threads)} threads, "
                f"{len(self.segments)} segments>")

    def provenance(self) -> dict[str, Any]:
        """What the core says about the process that died (notes and headers only)."""
        return core_provenance(self)

    def _repr_pretty_(self, p, cycle) -> None:
        sig = self.siginfo or {}
        p.text(repr(self) if cycle else repr(self) + (f"\nsignal {sig.get('signo')} code {sig.get('code')} "
                                                     f"addr 0x{(sig.get('addr') or 0):x}" if sig else ""))

    def _repr_html_(self) -> str:
        """What the core says about itself (no unwinding: that is ``findings()``)."""
        from ..notebook import html_block
        sig = self.siginfo or {}
        rows = [("machine", self.machine), ("threads", len(self.threads)), ("segments", len(self.segments)),
                ("modules", len(self.modules()))]
        if sig:
            rows += [("signal", sig.get("signo")), ("si_code", sig.get("code")), ("si_addr", hex(sig.get("addr") or 0))]
        return html_block(repr(self), rows)


def open_core(source, detection=None) -> Core:
    return Core(source, detection)


def info_provenance(source, detection) -> dict[str, Any]:
    """``dumpx info`` hook: what a core says about the process that died."""
    return Core(source, detection).provenance()


def core_provenance(c) -> dict[str, Any]:
    """What a core says about the process that died (notes and headers only: no unwinding)."""
    out: dict[str, Any] = {"threads": len(c.threads)}
    if c.process:
        out["process"] = f"{c.process.get('name')} (pid {c.process.get('pid')})"
        out["command"] = c.process.get("args")
    if c.siginfo:
        out["signal"] = f"{c.siginfo['signal']} code {c.siginfo['code']}" + (
            f" addr 0x{c.siginfo['addr']:x}" if "addr" in c.siginfo else "")
    if "AT_EXECFN" in c.auxv:
        try:
            out["executable"] = c.read(c.auxv["AT_EXECFN"], 256).split(b"\x00", 1)[0].decode("utf-8", "backslashreplace")
        except DumpError:
            pass
    mods = c.modules()
    out["modules_with_build_id"] = sum(1 for m in mods if m.build_id)
    out["modules"] = len(mods)
    if c.problems:
        out["problems"] = list(c.problems)
    return out
