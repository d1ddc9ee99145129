"""Identities of Windows builds — a PE image's code id and CodeView record, a PDB's GUID and age —
in the form a minidump's module list names them, so that a file is matched before it is trusted.

A minidump module of a Windows program carries its image's TimeDateStamp and SizeOfImage (the
*code id* symbol servers file images under) and the image's CodeView ``RSDS`` record: the GUID and
age of the PDB written with it (the *debug id*). A PE file gives both from its headers and debug
directory; a PDB (MSF 7.0) gives its GUID from the PDB info stream and its age from the DBI stream
where it has one — the age the linker wrote into the image; the info stream's own age is bumped
when tools rewrite the PDB (LLVM's PDB documentation; Sentry's symbolic prefers the DBI age too).
Every offset, block number and count is checked against the file: a damaged file is a
``CorruptDumpError`` or ``TruncatedDumpError`` with the offset, never a wrong identity.
"""

from __future__ import annotations

import ntpath
import os
import struct
from dataclasses import dataclass

from ..errors import CorruptDumpError
from ..sources import ByteView, open_source

MSF_MAGIC = b"Microsoft C/C++ MSF 7.00\r\n\x1aDS\x00\x00\x00"
PDB2_MAGIC = b"Microsoft C/C++ program database 2.00\r\n"
BLOCK_SIZES = (512, 1024, 2048, 4096, 8192, 16384, 32768)
IMAGE_DEBUG_TYPE_CODEVIEW = 2
MAX_DEBUG_ENTRIES = 64


@dataclass
class WindowsIdentity:
    """What identifies a Windows build file: ``debug_id`` (GUID and age, as the minidump's
    CodeView record gives them), ``code_id`` (a PE image's TimeDateStamp and SizeOfImage)."""
    kind: str                   # "pe" or "pdb"
    debug_id: str | None
    code_id: str | None = None
    pdb_name: str | None = None     # a PE image: the PDB path its CodeView record names
    age_from: str | None = None     # a PDB: "DBI stream" or "PDB info stream"


def debug_id(guid: bytes, age: int) -> str:
    """Breakpad's and the symbol servers' form of a GUID (on-disk order: Data1..Data3 little-endian)
    and an age: 32 upper-case hex digits, then the age in hex."""
    d1, d2, d3 = struct.unpack_from("<IHH", guid)
    return f"{d1:08X}{d2:04X}{d3:04X}{guid[8:16].hex().upper()}{age:X}"


def code_id(time_date_stamp: int, size_of_image: int) -> str:
    """A PE image's code id as symbol servers and rust-minidump write it."""
    return f"{time_date_stamp:08X}{size_of_image:x}"


def identity(path: str | os.PathLike) -> WindowsIdentity | None:
    """The identity of a PE image or a PDB, None for any other kind of file."""
    with open(path, "rb") as f:
        head = f.read(len(PDB2_MAGIC))
    if head.startswith(MSF_MAGIC):
        return pdb_identity(path)
    if head.startswith(PDB2_MAGIC):
        raise CorruptDumpError(f"{path}: a PDB 2.0 file (before Visual C++ 7), whose identity is not read",
                               offset=0, expected="an MSF 7.0 PDB")
    if head[:2] == b"MZ":
        return pe_identity(path)
    return None


def pdb_identity(path: str | os.PathLike) -> WindowsIdentity:
    """GUID and age of an MSF 7.0 PDB."""
    with open_source(path) as src:
        v = src.view()
        block, streams = _msf_streams(v, str(path))
        if len(streams) < 2 or streams[1][0] < 28:
            raise CorruptDumpError(f"{path}: no PDB info stream", offset=0,
                                   expected="stream 1 of at least 28 bytes (version, signature, age, GUID)")
        info = _stream_head(v, block, streams[1][1], 28)
        _, _, info_age = struct.unpack_from("<III", info)
        guid = info[12:28]
        age, age_from = info_age, "PDB info stream"
        if len(streams) > 3 and streams[3][0] >= 12:
            sig, _, dbi_age = struct.unpack_from("<iII", _stream_head(v, block, streams[3][1], 12))
            if sig == -1:
                age, age_from = dbi_age, "DBI stream"
        return WindowsIdentity("pdb", debug_id(guid, age), age_from=age_from)


def _msf_streams(v: ByteView, name: str) -> tuple[int, list[tuple[int, list[int]]]]:
    """The block size, and (size, first block number) of the first four streams of an MSF file,
    each block checked to lie in the file."""
    block, _, nblocks, dir_bytes, _, map_addr = v.unpack("<6I", 32)
    if block not in BLOCK_SIZES:
        raise CorruptDumpError(f"{name}: MSF block size {block}", offset=32,
                               expected="a block size of 512 to 32768 bytes, a power of two")
    if nblocks * block > len(v):
        raise CorruptDumpError(f"{name}: {nblocks} blocks of {block} bytes in a file of {len(v)} bytes",
                               offset=40, expected="a block count the file holds")

    def check(b: int, at: int) -> int:
        if b >= nblocks or b == 0:
            raise CorruptDumpError(f"{name}: block number {b}", offset=at,
                                   expected=f"a block number from 1 to {nblocks - 1}")
        return b

    def blocks_of(size: int) -> int:
        return -(-size // block)

    if dir_bytes > len(v) or blocks_of(dir_bytes) * 4 > block:
        raise CorruptDumpError(f"{name}: a stream directory of {dir_bytes} bytes", offset=44,
                               expected="a directory whose block list fits one block")
    at = check(map_addr, 52) * block
    dir_blocks = [check(b, at + 4 * k) for k, b in enumerate(v.unpack(f"<{blocks_of(dir_bytes)}I", at))]

    def directory(n: int) -> ByteView:
        """The first n bytes of the stream directory (a crafted count reads no more than the file)."""
        n = min(n, dir_bytes)
        return ByteView(b"".join(v.read(b * block, block) for b in dir_blocks[:blocks_of(n)])[:n],
                        name=f"{name} stream directory")

    count = directory(4).u32(0)
    if 4 + 4 * count > dir_bytes:
        raise CorruptDumpError(f"{name}: {count} streams in a directory of {dir_bytes} bytes", offset=0,
                               expected="a stream count the directory holds")
    first = min(count, 4)                    # the identity needs streams 1 and 3 only
    sizes = [0 if x == 0xFFFFFFFF else x for x in directory(4 + 4 * first).unpack(f"<{first}I", 4)]
    pos = 4 + 4 * count
    d = directory(pos + 4 * sum(blocks_of(x) for x in sizes[:-1]) + 4)
    out = []
    for x in sizes:
        n = blocks_of(x)
        if pos + 4 * n > dir_bytes:
            raise CorruptDumpError(f"{name}: stream of {x} bytes past the directory's end", offset=pos,
                                   expected="the stream's block list inside the directory")
        head = min(n, 1)                     # the fields read (28 and 12 bytes) lie in a stream's first block
        out.append((x, [check(b, pos + 4 * k) for k, b in enumerate(d.unpack(f"<{head}I", pos))]))
        pos += 4 * n
    return block, out


def _stream_head(v: ByteView, block: int, blocks: list[int], n: int) -> bytes:
    """The first ``n`` bytes of a stream (its size checked to be at least ``n``)."""
    return b"".join(v.read(b * block, block) for b in blocks[: -(-n // block)])[:n]


def pe_identity(path: str | os.PathLike) -> WindowsIdentity:
    """Code id and CodeView debug id of a PE image (PE32 or PE32+)."""
    name = str(path)
    with open_source(path) as src:
        v = src.view()
        pe, stamp, opt, opt_size, sections = _pe_headers(v, name)
        magic = v.u16(opt)
        if magic not in (0x10B, 0x20B):
            raise CorruptDumpError(f"{name}: optional header magic 0x{magic:x}", offset=opt,
                                   expected="0x10b (PE32) or 0x20b (PE32+)")
        size_of_image = v.u32(opt + 56)
        ndirs_at = opt + (92 if magic == 0x10B else 108)
        ndirs = v.u32(ndirs_at)
        ident = WindowsIdentity("pe", None, code_id(stamp, size_of_image))
        if ndirs <= 6 or ndirs_at + 4 + 8 * 7 > opt + opt_size:
            return ident
        dbg_rva, dbg_size = v.unpack("<II", ndirs_at + 4 + 8 * 6)
        at = _file_offset(sections, dbg_rva)
        if dbg_size == 0 or at is None:
            return ident
        for k in range(min(dbg_size // 28, MAX_DEBUG_ENTRIES)):
            _, _, _, _, kind, size, rva, raw = v.unpack("<IIHHIIII", at + 28 * k)
            if kind != IMAGE_DEBUG_TYPE_CODEVIEW or size < 24:
                continue
            where = raw or _file_offset(sections, rva)
            if not where:
                continue
            rec = v.read(where, min(size, 24 + 1024))
            if rec[:4] != b"RSDS":
                continue
            ident.debug_id = debug_id(rec[4:20], struct.unpack_from("<I", rec, 20)[0])
            ident.pdb_name = rec[24:].split(b"\0", 1)[0].decode("utf-8", "backslashreplace")
            break
        return ident


IMAGE_SCN_CNT_CODE, IMAGE_SCN_MEM_EXECUTE = 0x20, 0x20000000


class PeImage:
    """A verified PE image's sections, read by RVA: the code bytes a minidump did not capture, so
    that a scanned return address can be checked to follow a call. Nothing else of the image (no
    unwind data, no symbols) is read."""

    def __init__(self, path: str | os.PathLike):
        self.path = str(path)
        self._src = open_source(path)
        v = self._src.view()
        self._view = v
        # (rva, virtual size, file offset, raw size, executable)
        self.sections = [(rva, max(vsize, raw_size), raw, raw_size,
                          bool(flags & (IMAGE_SCN_CNT_CODE | IMAGE_SCN_MEM_EXECUTE)))
                         for vsize, rva, raw_size, raw, flags in _pe_headers(v, self.path)[4]]

    def _section(self, rva: int):
        return next((s for s in self.sections if s[0] <= rva < s[0] + s[1]), None)

    def is_executable(self, rva: int) -> bool:
        s = self._section(rva)
        return s is not None and s[4]

    def read_rva(self, rva: int, n: int) -> bytes | None:
        """``n`` bytes at ``rva`` from one section's file data, or None where the file holds none."""
        s = self._section(rva)
        if s is None or rva + n > s[0] + s[1]:
            return None
        off = rva - s[0]
        if off + n > s[3] or s[2] + off + n > len(self._view):
            return None
        return self._view.read(s[2] + off, n)

    def close(self) -> None:
        self._src.close()


def _pe_headers(v: ByteView, name: str) -> tuple:
    """(PE header offset, TimeDateStamp, optional header offset and size, the section table as
    (VirtualSize, VirtualAddress, SizeOfRawData, PointerToRawData, Characteristics)) of a PE file."""
    pe = v.u32(0x3C)
    if v.read(pe, 4) != b"PE\0\0":
        raise CorruptDumpError(f"{name}: no PE signature", offset=pe, expected="'PE\\0\\0' at e_lfanew")
    _, nsect, stamp, _, _, opt_size, _ = v.unpack("<HHIIIHH", pe + 4)
    table = pe + 24 + opt_size
    sections = [v.unpack("<IIII", table + 40 * k + 8) + (v.u32(table + 40 * k + 36),)
                for k in range(min(nsect, 96))]
    return pe, stamp, pe + 24, opt_size, sections


def _file_offset(sections: list[tuple], rva: int) -> int | None:
    """The file offset of an RVA through the section table (VirtualSize, VirtualAddress,
    SizeOfRawData, PointerToRawData)."""
    for vsize, vaddr, raw_size, raw, _ in sections:
        if vaddr <= rva < vaddr + max(vsize, raw_size):
            return raw + (rva - vaddr)
    return None


def module_names(path: str | None, pdb_name: str | None) -> set[str]:
    """The file names a Windows module goes by: its image's and its PDB's (Windows paths)."""
    return {ntpath.basename(p) for p in (path, pdb_name) if p}


# ---------------------------------------------------------------------------------- exceptions
# Windows exception codes (winnt.h, ntstatus.h) as rust-minidump's minidump-stackwalk names them
EXCEPTIONS = {
    0xC0000005: "EXCEPTION_ACCESS_VIOLATION", 0xC0000006: "EXCEPTION_IN_PAGE_ERROR",
    0xC00000FD: "EXCEPTION_STACK_OVERFLOW", 0xC0000409: "EXCEPTION_STACK_BUFFER_OVERRUN",
    0xC000001D: "EXCEPTION_ILLEGAL_INSTRUCTION", 0xC0000096: "EXCEPTION_PRIV_INSTRUCTION",
    0xC0000094: "EXCEPTION_INT_DIVIDE_BY_ZERO", 0xC0000095: "EXCEPTION_INT_OVERFLOW",
    0x80000003: "EXCEPTION_BREAKPOINT", 0x80000004: "EXCEPTION_SINGLE_STEP",
    0x80000002: "EXCEPTION_DATATYPE_MISALIGNMENT", 0xC0000008: "EXCEPTION_INVALID_HANDLE",
    0xC000008C: "EXCEPTION_BOUNDS_EXCEEDED", 0xC0000025: "EXCEPTION_NONCONTINUABLE_EXCEPTION",
    0xC0000026: "EXCEPTION_INVALID_DISPOSITION", 0xC000008D: "EXCEPTION_FLT_DENORMAL_OPERAND",
    0xC000008E: "EXCEPTION_FLT_DIVIDE_BY_ZERO", 0xC000008F: "EXCEPTION_FLT_INEXACT_RESULT",
    0xC0000090: "EXCEPTION_FLT_INVALID_OPERATION", 0xC0000091: "EXCEPTION_FLT_OVERFLOW",
    0xC0000092: "EXCEPTION_FLT_STACK_CHECK", 0xC0000093: "EXCEPTION_FLT_UNDERFLOW",
    0xC0000374: "STATUS_HEAP_CORRUPTION", 0xE06D7363: "Unhandled C++ Exception",
}
ACCESS = {0: "READ", 1: "WRITE", 8: "EXEC"}
# __fastfail codes (winnt.h FAST_FAIL_*): ExceptionInformation[0] of EXCEPTION_STACK_BUFFER_OVERRUN
FAST_FAIL = dict(enumerate((
    "LEGACY_GS_VIOLATION", "VTGUARD_CHECK_FAILURE", "STACK_COOKIE_CHECK_FAILURE", "CORRUPT_LIST_ENTRY",
    "INCORRECT_STACK", "INVALID_ARG", "GS_COOKIE_INIT", "FATAL_APP_EXIT", "RANGE_CHECK_FAILURE",
    "UNSAFE_REGISTRY_ACCESS", "GUARD_ICALL_CHECK_FAILURE", "GUARD_WRITE_CHECK_FAILURE",
    "INVALID_FIBER_SWITCH", "INVALID_SET_OF_CONTEXT", "INVALID_REFERENCE_COUNT")))
FAST_FAIL.update(enumerate((
    "INVALID_JUMP_BUFFER", "MRDATA_MODIFIED", "CERTIFICATION_FAILURE", "INVALID_EXCEPTION_CHAIN",
    "CRYPTO_LIBRARY", "INVALID_CALL_IN_DLL_CALLOUT", "INVALID_IMAGE_BASE", "DLOAD_PROTECTION_FAILURE",
    "UNSAFE_EXTENSION_CALL", "DEPRECATED_SERVICE_INVOKED", "INVALID_BUFFER_ACCESS", "INVALID_BALANCED_TREE",
    "INVALID_NEXT_THREAD", "GUARD_ICALL_CHECK_SUPPRESSED", "APCS_DISABLED", "INVALID_IDLE_STATE",
    "MRDATA_PROTECTION_FAILURE", "UNEXPECTED_HEAP_EXCEPTION", "INVALID_LOCK_STATE", "GUARD_JUMPTABLE",
    "INVALID_LONGJUMP_TARGET", "INVALID_DISPATCH_CONTEXT", "INVALID_THREAD", "INVALID_SYSCALL_NUMBER",
    "INVALID_FILE_OPERATION", "LPAC_ACCESS_DENIED", "GUARD_SS_FAILURE", "LOADER_CONTINUITY_FAILURE",
    "GUARD_EXPORT_SUPPRESSION_FAILURE", "INVALID_CONTROL_STACK", "SET_CONTEXT_DENIED", "INVALID_IAT",
    "HEAP_METADATA_CORRUPTION", "PAYLOAD_RESTRICTION_VIOLATION", "LOW_LABEL_ACCESS_DENIED",
    "ENCLAVE_CALL_FAILURE", "UNHANDLED_LSS_EXCEPTON", "ADMINLESS_ACCESS_DENIED", "UNEXPECTED_CALL",
    "CONTROL_INVALID_RETURN_ADDRESS", "UNEXPECTED_HOST_BEHAVIOR", "FLAGS_CORRUPTION", "VEH_CORRUPTION",
    "ETW_CORRUPTION", "RIO_ABORT", "INVALID_PFN", "GUARD_ICALL_CHECK_FAILURE_XFG", "CAST_GUARD",
    "HOST_VISIBILITY_CHANGE", "KERNEL_CET_SHADOW_STACK_ASSIST", "PATCH_CALLBACK_FAILED",
    "NTDLL_PATCH_FAILED", "INVALID_FLS_DATA", "ASAN_ERROR", "CLR_EXCEPTION_AOT",
    "POINTER_AUTH_INVALID_RETURN_ADDRESS", "INVALID_THREAD_STATE"), start=18))
# the __fastfail codes that report a memory-safety check caught in the act, by what they caught
STACK_PROTECTOR = {0, 2, 44, 57, 73}          # /GS cookie, CET shadow stack, return address checks
CONTROL_FLOW_GUARD = {10, 37, 64}             # CFG / XFG indirect call, jump table
HEAP_CHECKS = {3, 35, 50}                     # list entry, heap exception, heap metadata


def exception_name(code: int, params: list[int]) -> str:
    """The exception as minidump-stackwalk names it: the access kind of an access violation, the
    __fastfail code of a stack buffer overrun."""
    name = EXCEPTIONS.get(code)
    if name is None:
        return f"0x{code:08x}"
    if code in (0xC0000005, 0xC0000006) and params:
        name += "_" + ACCESS.get(params[0], f"0x{params[0]:x}")
    if code == 0xC0000409:
        if not params:
            return "STATUS_STACK_BUFFER_OVERRUN"
        name += " / " + (f"FAST_FAIL_{FAST_FAIL[params[0]]}" if params[0] in FAST_FAIL else f"0x{params[0]:08x}")
    return name


def fault_address(code: int, address: int, params: list[int]) -> int:
    """The data address of an access violation or in-page error (ExceptionInformation[1]); for
    every other exception the address the exception record gives (the instruction's)."""
    if code in (0xC0000005, 0xC0000006) and len(params) >= 2:
        return params[1]
    return address
