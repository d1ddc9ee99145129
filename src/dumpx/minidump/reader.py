"""A Breakpad/Crashpad (and Windows) minidump: header, stream directory, system information,
threads with their CPU context, modules with their debug identifiers, captured memory by
virtual address, the exception, and the Linux streams Breakpad adds.

Every offset and size in the file is checked against the bytes that exist: a stream that runs
past the end, a count the stream cannot hold, or overlapping memory ranges are problems (and a
``CorruptDumpError`` where nothing can be read); unknown streams are listed, never fatal.
"""

from __future__ import annotations

import bisect
import struct
from dataclasses import dataclass, field
from typing import Any

from ..elf.core import ThreadRegisters
from ..errors import CorruptDumpError, UnmappedAddressError, UnsupportedFormatError
from ..sources import ByteView, open_source

STREAMS = {3: "ThreadList", 4: "ModuleList", 5: "MemoryList", 6: "Exception", 7: "SystemInfo",
           8: "ThreadExList", 9: "Memory64List", 10: "CommentA", 11: "CommentW", 12: "HandleData",
           13: "FunctionTable", 14: "UnloadedModuleList", 15: "MiscInfo", 16: "MemoryInfoList",
           17: "ThreadInfoList", 18: "HandleOperationList", 0x47670001: "BreakpadInfo",
           0x47670002: "AssertionInfo", 0x47670003: "LinuxCpuInfo", 0x47670004: "LinuxProcStatus",
           0x47670005: "LinuxLsbRelease", 0x47670006: "LinuxCmdLine", 0x47670007: "LinuxEnviron",
           0x47670008: "LinuxAuxv", 0x47670009: "LinuxMaps", 0x4767000A: "LinuxDsoDebug",
           0x43500001: "CrashpadInfo"}
ARCH = {0: "x86", 5: "arm", 9: "x86-64", 12: "aarch64", 0x8003: "aarch64"}
PLATFORM = {0x8101: "macOS", 0x8102: "iOS", 0x8201: "Linux", 0x8202: "Solaris", 0x8203: "Android",
            0x8204: "PS3", 0x8205: "NaCl", 0x8206: "Fuchsia", 2: "Windows"}
# CONTEXT_AMD64: the general registers from Rax at offset 120, then Rip at 248. aarch64 comes in two
# layouts with x0..x30, sp and pc at the same offsets (8 to 272): CONTEXT_ARM64 (Windows, Crashpad)
# opens with u32 flags (0x400000) and u32 cpsr; Breakpad's MDRawContextARM64_Old (its Linux and macOS
# clients, system-info architecture 0x8003) with u64 flags (0x80000000 set) and has cpsr at 272
ARM64_OLD = 0x80000000
_AMD64 = ("rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13",
          "r14", "r15", "rip")
# CONTEXT_X86 (716 bytes): flags, 6 debug registers, a 112-byte FLOATING_SAVE_AREA, then from offset 140
# gs fs es ds edi esi ebx edx ecx eax ebp eip cs eflags esp ss, then 512 bytes of extended registers
_X86 = ("gs", "fs", "es", "ds", "edi", "esi", "ebx", "edx", "ecx", "eax", "ebp", "eip", "cs", "eflags", "esp", "ss")
# Breakpad's MDRawContextARM (368 bytes): flags, r0..r15 (r13 sp, r14 lr, r15 pc), cpsr, then VFP registers
_ARM = tuple(f"r{i}" for i in range(13)) + ("sp", "lr", "pc", "cpsr")
MAX_THREADS = 1 << 20
MAX_MODULES = 1 << 20
MAX_RANGES = 1 << 24


def _guid(b: bytes) -> str:
    """A 16-byte UUID as Crashpad and rust-minidump print it (the first three fields little-endian)."""
    if len(b) < 16:
        return ""
    return (f"{int.from_bytes(b[0:4], 'little'):08x}-{int.from_bytes(b[4:6], 'little'):04x}-"
            f"{int.from_bytes(b[6:8], 'little'):04x}-{b[8:10].hex()}-{b[10:16].hex()}")


@dataclass
class Stream:
    type: int
    name: str
    size: int
    rva: int


@dataclass
class MiniThread(ThreadRegisters):
    index: int
    tid: int
    stack_start: int
    stack_size: int
    stack_rva: int
    registers: dict[str, int]
    context_size: int


@dataclass
class MiniModule:
    base: int
    size: int
    name: str
    build_id: str | None          # ELF build-id from a Breakpad 'BpEL' CodeView record
    debug_id: str | None          # PDB GUID + age from an 'RSDS' record (Windows)
    debug_file: str | None
    cv_signature: str | None
    time_date_stamp: int = 0

    @property
    def code_id(self) -> str | None:
        """A Windows image's code id (TimeDateStamp and SizeOfImage, as symbol servers file it)."""
        if self.cv_signature != "RSDS" and not self.time_date_stamp:
            return None
        from .windows import code_id
        return code_id(self.time_date_stamp, self.size)


@dataclass
class MiniException:
    thread_id: int
    code: int
    flags: int
    address: int
    parameters: list[int] = field(default_factory=list)


class Minidump:
    """A minidump. ``dumpx.open("x.dmp")`` returns one."""

    def __init__(self, source, detection=None):
        self.source = open_source(source)
        self.view: ByteView = self.source.view()
        self.problems: list[str] = []
        self._parse()

    # ------------------------------------------------------------------ structure
    def _parse(self) -> None:
        v = self.view
        name = self.source.name
        if v.size < 32 or v.read(0, 4) != b"MDMP":
            raise UnsupportedFormatError("not a minidump (no MDMP signature)", detected="unknown", path=name)
        _, version, nstreams, dir_rva, _, self.timestamp, self.flags = v.unpack("<IIIIIIQ", 0)
        self.version = version & 0xFFFF
        room = (v.size - dir_rva) // 12 if dir_rva <= v.size else 0
        if nstreams > room:
            raise CorruptDumpError(f"the stream directory announces {nstreams} streams",
                                   offset=8, expected=f"at most {room} in the file",
                                   path=name)
        self.streams: list[Stream] = []
        self._by_type: dict[int, Stream] = {}
        for i in range(nstreams):
            t, size, rva = v.unpack("<III", dir_rva + 12 * i)
            s = Stream(t, STREAMS.get(t, f"unknown 0x{t:x}"), size, rva)
            if t == 0:
                continue                                        # UnusedStream
            if rva + size > v.size:
                self.problems.append(f"stream {s.name} at offset {rva} runs {rva + size - v.size} bytes past "
                                     f"the end of the file: not read")
                continue
            self.streams.append(s)
            if t in self._by_type:
                self.problems.append(f"a second {s.name} stream at offset {rva} is ignored")
            else:
                self._by_type[t] = s
        self.system = self._system()
        self.arch = self.system.get("arch", "unknown")
        self.threads = self._threads()
        self.modules = self._modules()
        self._ranges = self._memory()
        self._starts = [r[0] for r in self._ranges]
        self.exception = self._exception()

    def _stream(self, t: int) -> tuple[ByteView, int] | None:
        s = self._by_type.get(t)
        return (self.view.sub(s.rva, s.size), s.rva) if s is not None else None

    def _system(self) -> dict[str, Any]:
        got = self._stream(7)
        if got is None or got[0].size < 24:
            return {}
        d, _ = got
        arch, level, rev, ncpu, product, major, minor, build, platform = d.unpack("<HHHBBIIII", 0)
        return {"arch": ARCH.get(arch, f"architecture {arch}"), "processors": ncpu,
                "os": PLATFORM.get(platform, f"platform 0x{platform:x}"),
                "os_version": f"{major}.{minor}.{build}"}

    def _count(self, d: ByteView, base: int, count: int, header: int, entry: int, limit: int, what: str) -> int:
        """A list's announced count, believed only as far as its stream holds entries."""
        room = max(d.size - header, 0) // entry
        if count > min(room, limit):
            raise CorruptDumpError(f"the {what} list announces {count:,} {what}s", offset=base,
                                   expected=f"at most {min(room, limit):,} in its {d.size} bytes",
                                   path=self.source.name)
        return count

    def _threads(self) -> list[MiniThread]:
        got = self._stream(3)
        if got is None:
            return []
        d, base = got
        count = self._count(d, base, d.unpack("<I", 0)[0], 4, 48, MAX_THREADS, "thread")
        out = []
        for i in range(count):
            tid, _, _, _, _, st_start, st_size, st_rva, ctx_size, ctx_rva = d.unpack("<IIIIQQIIII", 4 + 48 * i)
            regs = self._context(ctx_rva, ctx_size, f"thread {tid}")
            if st_rva + st_size > self.view.size:
                self.problems.append(f"thread {tid}: its stack (offset {st_rva}, {st_size} bytes) runs past the "
                                     f"end of the file")
            out.append(MiniThread(i, tid, st_start, st_size, st_rva, regs, ctx_size))
        return out

    def _context(self, rva: int, size: int, who: str) -> dict[str, int]:
        if rva + size > self.view.size or size == 0:
            self.problems.append(f"{who}: its CPU context (offset {rva}, {size} bytes) is not in the file")
            return {}
        if self.arch == "x86-64" and size >= 256:
            vals = self.view.unpack("<17Q", rva + 120)
            return dict(zip(_AMD64, vals))
        if self.arch == "aarch64" and size >= 272:
            flags, cpsr = self.view.unpack("<II", rva)
            vals = self.view.unpack("<33Q", rva + 8)
            regs = {f"x{i}": vals[i] for i in range(31)}
            regs.update(sp=vals[31], pc=vals[32])
            if not flags & ARM64_OLD:
                regs["pstate"] = cpsr
            elif size >= 276:
                regs["pstate"] = self.view.unpack("<I", rva + 272)[0]
            return regs
        if self.arch == "x86" and size >= 204:
            return dict(zip(_X86, self.view.unpack("<16I", rva + 140)))
        if self.arch == "arm" and size >= 72:
            return dict(zip(_ARM, self.view.unpack("<17I", rva + 4)))
        self.problems.append(f"{who}: a {self.arch} CPU context of {size} bytes is not decoded yet")
        return {}

    def _string(self, rva: int) -> str:
        """A MINIDUMP_STRING (byte length, UTF-16LE)."""
        if rva + 4 > self.view.size:
            return f"<name at offset {rva} past the end>"
        n = self.view.unpack("<I", rva)[0]
        n = min(n, self.view.size - rva - 4, 1 << 16)
        return self.view.read(rva + 4, n - n % 2).decode("utf-16-le", "backslashreplace")

    def _modules(self) -> list[MiniModule]:
        got = self._stream(4)
        if got is None:
            return []
        d, base = got
        count = self._count(d, base, d.unpack("<I", 0)[0], 4, 108, MAX_MODULES, "module")
        out = []
        for i in range(count):
            o = 4 + 108 * i
            mbase, size, _, stamp, name_rva = d.unpack("<QIIII", o)
            cv_size, cv_rva = d.unpack("<II", o + 76)
            name = self._string(name_rva)
            build_id = debug_id = debug_file = sig = None
            if cv_size >= 4 and cv_rva + cv_size <= self.view.size:
                cv = self.view.read(cv_rva, min(cv_size, 4096))
                magic = int.from_bytes(cv[:4], "little")
                sig = {0x4270454C: "BpEL", 0x53445352: "RSDS"}.get(magic, f"0x{magic:08x}")
                if sig == "BpEL" and 5 <= cv_size <= 4 + 64:   # Breakpad's ELF record: the build-id
                    build_id = cv[4:].hex()
                elif sig == "BpEL":
                    self.problems.append(f"module {name}: an ELF build-id record of {cv_size} bytes (offset "
                                         f"{cv_rva}); build-ids are 8 to 64 bytes")
                elif sig == "RSDS" and len(cv) >= 24:
                    from .windows import debug_id as windows_debug_id
                    debug_id = windows_debug_id(cv[4:20], struct.unpack_from("<I", cv, 20)[0])
                    debug_file = cv[24:].split(b"\0", 1)[0].decode("utf-8", "backslashreplace")
            elif cv_size:
                self.problems.append(f"module {name}: its CodeView record (offset {cv_rva}) is not in the file")
            out.append(MiniModule(mbase, size, name, build_id, debug_id, debug_file, sig, stamp))
        return out

    def _memory(self) -> list[tuple[int, int, int]]:
        """Captured ranges as (start, size, file offset), sorted; overlaps dropped with a problem."""
        ranges: list[tuple[int, int, int]] = []
        got = self._stream(5)
        if got is not None:
            d, base = got
            count = self._count(d, base, d.unpack("<I", 0)[0], 4, 16, MAX_RANGES, "memory range")
            for i in range(count):
                start, size, rva = d.unpack("<QII", 4 + 16 * i)
                ranges.append((start, size, rva))
        got = self._stream(9)
        if got is not None:
            d, base = got
            count, rva = d.unpack("<QQ", 0)
            count = self._count(d, base, count, 16, 16, MAX_RANGES, "memory64 range")
            for i in range(count):
                start, size = d.unpack("<QQ", 16 + 16 * i)
                ranges.append((start, size, rva))
                rva += size
        out: list[tuple[int, int, int]] = []
        for start, size, rva in sorted(ranges):
            if rva + size > self.view.size:
                keep = max(self.view.size - rva, 0)
                self.problems.append(f"memory at 0x{start:x}: {size} bytes announced, {keep} in the file")
                size = keep
            if out and start < out[-1][0] + out[-1][1]:
                self.problems.append(f"memory at 0x{start:x} overlaps the range at 0x{out[-1][0]:x}: ignored")
                continue
            if size:
                out.append((start, size, rva))
        return out

    def _exception(self) -> MiniException | None:
        got = self._stream(6)
        if got is None or got[0].size < 168:
            return None
        d, _ = got
        tid, _, code, flags, _, address, nparams, _ = d.unpack("<IIIIQQII", 0)
        params = list(d.unpack("<15Q", 40))[:min(nparams, 15)]
        return MiniException(tid, code, flags, address, params)

    # ------------------------------------------------------------------ memory
    def read(self, address: int, size: int) -> bytes:
        """``size`` bytes at virtual ``address``; UnmappedAddressError where not captured."""
        k = bisect.bisect_right(self._starts, address) - 1
        if k >= 0:
            start, n, rva = self._ranges[k]
            if address + size <= start + n:
                return self.view.read(rva + address - start, size)
        raise UnmappedAddressError("not captured in the minidump", address=address, size=size, mapped=False)

    def memory_ranges(self) -> list[tuple[int, int]]:
        return [(s, n) for s, n, _ in self._ranges]

    def memory_info(self) -> list[tuple[int, int, int, int]]:
        """The MemoryInfoList stream (Crashpad and Windows write it, Breakpad on Linux writes
        LinuxMaps instead): (base, size, protection, state) per region; PAGE_* and MEM_* values."""
        got = self._stream(16)
        if got is None or got[0].size < 16:
            return []
        d, base = got
        header, entry, count = d.unpack("<IIQ", 0)
        if header < 16 or entry < 48:
            self.problems.append(f"MemoryInfoList at offset {base}: header {header} and entry {entry} bytes "
                                 f"(at least 16 and 48)")
            return []
        count = self._count(d, base, count, header, entry, MAX_RANGES, "memory region")
        out = []
        for i in range(count):
            b, _, _, _, size, state, protect = d.unpack("<QQIIQII", header + entry * i)
            out.append((b, size, protect, state))
        return out

    def module_at(self, address: int) -> MiniModule | None:
        for m in self.modules:
            if m.base <= address < m.base + m.size:
                return m
        return None

    @property
    def crashing_thread(self) -> MiniThread | None:
        if self.exception is None:
            return None
        return next((t for t in self.threads if t.tid == self.exception.thread_id), None)

    def linux_stream(self, name: str) -> bytes | None:
        """The raw bytes of a Breakpad Linux stream (``LinuxMaps``, ``LinuxCmdLine``, ...)."""
        t = next((k for k, v in STREAMS.items() if v == name), None)
        got = self._stream(t) if t is not None else None
        return got[0].read(0, got[0].size) if got is not None else None

    def crashpad_info(self) -> dict[str, Any] | None:
        """Crashpad's own stream (``MinidumpCrashpadInfo``): report and client ids, the process's
        simple annotations, and per module its list annotations, simple annotations and annotation
        objects (string objects as text, others as hex). Every offset and count is checked; what
        does not fit is a problem and left out. None when the minidump has no such stream."""
        got = self._stream(0x43500001)
        if got is None:
            return None
        d, _ = got
        if d.size < 52:
            self.problems.append(f"CrashpadInfo: {d.size} bytes, less than its 52-byte header")
            return None
        version = d.unpack("<I", 0)[0]
        rid, cid = d.read(4, 16), d.read(20, 16)
        simple_size, simple_rva, ml_size, ml_rva = d.unpack("<IIII", 36)
        out: dict[str, Any] = {"version": version, "report_id": _guid(rid), "client_id": _guid(cid),
                               "simple_annotations": self._dictionary(simple_rva, simple_size, "CrashpadInfo"),
                               "modules": []}
        for i in range(self._list_count(ml_rva, ml_size, 12, "CrashpadInfo module list")):
            index, loc_size, loc_rva = self.view.unpack("<III", ml_rva + 4 + 12 * i)
            who = f"CrashpadInfo module {i}"
            if loc_size < 28 or loc_rva + 28 > self.view.size:
                self.problems.append(f"{who}: its record (offset {loc_rva}, {loc_size} bytes) is not in the file")
                continue
            _, l_size, l_rva, s_size, s_rva, o_size, o_rva = self.view.unpack("<IIIIIII", loc_rva)
            name = self.modules[index].name if index < len(self.modules) else None
            if name is None:
                self.problems.append(f"{who}: module index {index} is past the module list ({len(self.modules)})")
            lists = [self._utf8(self.view.unpack("<I", l_rva + 4 + 4 * k)[0])
                     for k in range(self._list_count(l_rva, l_size, 4, f"{who} list annotations"))]
            objects = {}
            for k in range(self._list_count(o_rva, o_size, 12, f"{who} annotation objects")):
                n_rva, typ, _, v_rva = self.view.unpack("<IHHI", o_rva + 4 + 12 * k)
                raw = self._bytes(v_rva)
                objects[self._utf8(n_rva)] = raw.decode("utf-8", "backslashreplace") if typ == 1 else raw.hex()
            out["modules"].append({"module_index": index, "module": name, "list_annotations": lists,
                                   "simple_annotations": self._dictionary(s_rva, s_size, who),
                                   "annotation_objects": objects})
        return out

    def _list_count(self, rva: int, size: int, entry: int, who: str) -> int:
        """The count at ``rva`` of a list of ``entry``-byte items, cut to what the file and the stated
        size hold (a count of 2^32-1 costs nothing)."""
        if size == 0 and rva == 0:
            return 0
        if rva + 4 > self.view.size:
            self.problems.append(f"{who}: offset {rva} is past the end of the file")
            return 0
        n = self.view.unpack("<I", rva)[0]
        fits = max(0, min(self.view.size - rva - 4, max(size, 4) - 4 if size else self.view.size) // entry)
        if n > fits:
            self.problems.append(f"{who}: {n} entries stated, {fits} fit; the rest are left out")
            n = fits
        return min(n, 1 << 16)

    def _dictionary(self, rva: int, size: int, who: str) -> dict[str, str]:
        out = {}
        for k in range(self._list_count(rva, size, 8, f"{who} simple annotations")):
            key_rva, val_rva = self.view.unpack("<II", rva + 4 + 8 * k)
            out[self._utf8(key_rva)] = self._utf8(val_rva)
        return out

    def _bytes(self, rva: int) -> bytes:
        """A MinidumpUTF8String or MinidumpByteArray: a 32-bit length and the bytes (at most 64 KiB)."""
        if rva + 4 > self.view.size:
            self.problems.append(f"a string or byte array at offset {rva} is past the end of the file")
            return b""
        n = min(self.view.unpack("<I", rva)[0], self.view.size - rva - 4, 1 << 16)
        return self.view.read(rva + 4, n)

    def _utf8(self, rva: int) -> str:
        return self._bytes(rva).decode("utf-8", "backslashreplace")

    def provenance(self) -> dict[str, Any]:
        out: dict[str, Any] = {"format": "minidump", "version": self.version, "timestamp": self.timestamp,
                               **self.system, "threads": len(self.threads), "modules": len(self.modules),
                               "streams": [s.name for s in self.streams]}
        cmd = self.linux_stream("LinuxCmdLine")
        if cmd:
            out["cmdline"] = cmd.rstrip(b"\0").replace(b"\0", b" ").decode("utf-8", "backslashreplace")
        cp = self.crashpad_info()
        if cp is not None:
            out["crashpad"] = {"report_id": cp["report_id"], "client_id": cp["client_id"],
                               "simple_annotations": cp["simple_annotations"],
                               "module_annotations": {m["module"] or f"#{m['module_index']}":
                                                      {**m["simple_annotations"], **m["annotation_objects"],
                                                       **({"list": m["list_annotations"]} if m["list_annotations"] else {})}
                                                      for m in cp["modules"]}}
        lsb = self.linux_stream("LinuxLsbRelease")
        if lsb:
            for line in lsb.decode("utf-8", "backslashreplace").splitlines():
                if line.startswith("DISTRIB_DESCRIPTION="):
                    out["distribution"] = line.split("=", 1)[1].strip('"')
        return out

    def findings(self, backtraces: bool = True, binaries=(), search_paths=(), verify: bool = True):
        """The readings of cores, in their order: build verification of every module first
        (``verify``: against ``binaries``, the paths the minidump records, ``.build-id`` trees and
        symbol stores under ``search_paths``), then the minidump's own readings (the exception, a
        pc outside the modules, stack runs, damage), and with ``backtraces`` the crashing thread's
        ``??`` frames and stack-protector canaries read from its backtrace."""
        from ..findings import Findings
        from .analysis import findings
        out = Findings()
        p = self.process() if verify or backtraces else None
        if verify:
            from ..elf.verify import verify_findings
            out.extend(verify_findings(p.verify(binaries, search_paths)))
        out.extend(findings(self))
        if backtraces:
            from ..elf.reading import crashing_thread_findings
            out.extend(crashing_thread_findings(p, binaries, search_paths))
        return out

    def __repr__(self) -> str:
        return (f"<Minidump {self.source.name!r}: {len(self.threads)} threads, {len(self.modules)} modules"
                + (f", exception 0x{self.exception.code:x} in thread {self.exception.thread_id}" if self.exception else "")
                + ">")

    def _repr_pretty_(self, p, cycle) -> None:
        p.text(repr(self) if cycle else repr(self) + "\n" + self.findings().text())

    def _repr_html_(self) -> str:
        from ..notebook import html_block
        prov = self.provenance()
        return html_block(repr(self), [(k, v) for k, v in prov.items() if k != "streams"],
                          self.findings()._repr_html_())

    def process(self):
        """This minidump as the process image the ELF unwinder reads (``dumpx.minidump.process``):
        ``md.process().unwinder([binaries]).all()`` gives symbolized backtraces, the crashing
        thread first."""
        from .process import MinidumpProcess
        if getattr(self, "_process", None) is None:     # one view: its unwinders (verified) are cached
            self._process = MinidumpProcess(self)
        return self._process

    def close(self) -> None:
        self.source.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def open_minidump(source, detection=None) -> Minidump:
    return Minidump(source, detection)
