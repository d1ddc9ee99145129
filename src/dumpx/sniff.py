"""Recognise a dump's format from its content (never from its name)."""

from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass, field
from typing import Any

from .sources import Source

HEAD = 64 << 10

ELF_TYPES = {0: "none", 1: "relocatable", 2: "executable", 3: "shared-object", 4: "core"}
ELF_MACHINES = {3: "x86", 8: "mips", 20: "ppc", 21: "ppc64", 22: "s390", 40: "arm", 62: "x86-64",
                183: "aarch64", 243: "riscv"}

# headers end in "]:" (CRLF tolerated); GOTRACEBACK=system/crash headers carry gp= and m= (m=nil
# has no mp=)
_GOROUTINE_HDR = re.compile(rb"^goroutine \d+ (?:gp=0x[0-9a-f]+ m=\S+ (?:mp=\S+ )?)?\[[^\]\n]*\]:\r?$", re.M)
_GO_DEBUG1 = re.compile(rb"^goroutine profile: total \d+\r?$", re.M)
GO_SEARCH = 4 << 20     # how far past the head a goroutine header is looked for (log text before a panic)
_GO_PANIC = re.compile(rb"^(panic: |fatal error: |unexpected fault address|runtime: )", re.M)
_GO_SIGQUIT = re.compile(rb"^SIGQUIT: quit\r?$", re.M)
_PYSPY_THREAD = re.compile(rb'^Thread (?:0x[0-9A-Fa-f]+|\d+) \((?:idle|active|active\+gil)\)', re.M)
_PYSPY_PROCESS = re.compile(rb"^Process \d+: ", re.M)
_MACHO = {b"\xcf\xfa\xed\xfe": "macho-64", b"\xce\xfa\xed\xfe": "macho-32",
          b"\xca\xfe\xba\xbe": "macho-fat"}


@dataclass
class Detection:
    """What the first bytes of a dump say it is."""

    format: str
    description: str
    compression: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"format": self.format, "description": self.description,
                "compression": self.compression, "details": dict(self.details)}


def _elf(head: bytes) -> Detection:
    if len(head) < 20:
        return Detection("elf-truncated", "ELF file too short for its header", details={
            "available": len(head)})
    cls = {1: 32, 2: 64}.get(head[4])
    order = {1: "<", 2: ">"}.get(head[5])
    if cls is None or order is None:
        return Detection("elf-corrupt", "ELF magic with an invalid class or data encoding",
                         details={"ei_class": head[4], "ei_data": head[5]})
    e_type, e_machine = struct.unpack_from(order + "HH", head, 16)
    kind = ELF_TYPES.get(e_type, f"type-{e_type}")
    if e_type == 3 and _has_interp(head, cls, order):
        kind = "executable"            # a PIE executable is ET_DYN with a program interpreter
    machine = ELF_MACHINES.get(e_machine, f"machine-{e_machine}")
    fmt = "elf-core" if e_type == 4 else f"elf-{kind}"
    desc = f"ELF {cls}-bit {'LSB' if order == '<' else 'MSB'} {kind}, {machine}"
    return Detection(fmt, desc, details={"class": cls, "byteorder": "little" if order == "<" else "big",
                                         "type": kind, "machine": machine})


def _has_interp(head: bytes, cls: int, order: str) -> bool:
    """Whether the program headers within ``head`` include PT_INTERP."""
    try:
        if cls == 64:
            phoff, = struct.unpack_from(order + "Q", head, 32)
            phentsize, phnum = struct.unpack_from(order + "HH", head, 54)
        else:
            phoff, = struct.unpack_from(order + "I", head, 28)
            phentsize, phnum = struct.unpack_from(order + "HH", head, 42)
        for k in range(min(phnum, 256)):
            off = phoff + k * phentsize
            if phentsize < 4 or off + 4 > len(head):
                return False
            if struct.unpack_from(order + "I", head, off)[0] == 3:
                return True
    except struct.error:
        return False
    return False


def _hprof(head: bytes) -> Detection:
    nul = head.find(b"\x00", 0, 64)
    version = head[:nul].decode("ascii", "replace") if nul > 0 else "JAVA PROFILE ?"
    details: dict[str, Any] = {"version": version.replace("JAVA PROFILE ", "")}
    if nul > 0 and len(head) >= nul + 13:
        id_size, hi, lo = struct.unpack_from(">III", head, nul + 1)
        details["id_size"] = id_size
        details["timestamp_ms"] = (hi << 32) | lo
    return Detection("hprof", f"HPROF heap dump {details['version']}"
                     + (f", id size {details['id_size']}" if "id_size" in details else ""),
                     details=details)


def _minidump(head: bytes) -> Detection:
    details: dict[str, Any] = {}
    if len(head) >= 32:
        _, version, nstreams, _, _, ts, flags = struct.unpack_from("<IIIIIIQ", head, 0)
        details = {"version": version & 0xFFFF, "streams": nstreams, "timestamp": ts,
                   "flags": flags}
    return Detection("minidump", "Breakpad/Windows minidump (MDMP)", details=details)


def _looks_like_pprof(head: bytes) -> bool:
    from ._native.textscan import byte_classes
    if not head or int(byte_classes(head)[3]) <= len(head) // 100:
        return False
    tag = head[0]
    field_no, wire = tag >> 3, tag & 7
    return 1 <= field_no <= 14 and wire in (0, 2) and b"goroutine" in head


def _text_detection(head: bytes) -> Detection | None:
    from ._native.textscan import byte_classes
    printable, ws, newlines, control, high = (int(x) for x in byte_classes(head))
    # a control byte or two in a short text is no binary file when it starts as a goroutine dump
    # (a crafted function name can carry an escape; the reader reads it, so the sniffer must too)
    if not head or (control > len(head) // 100 and not _GOROUTINE_HDR.match(head.lstrip())):
        return None
    stripped = head.lstrip()
    if stripped[:1] in (b"[", b"{"):
        det = _json_detection(head)
        if det:
            return det
    if _GO_DEBUG1.search(head):
        return Detection("go-goroutines-debug1", "Go goroutine profile, debug=1 (aggregated text)")
    if _GOROUTINE_HDR.search(head):
        if _GO_SIGQUIT.search(head):
            return Detection("go-sigquit", "Go SIGQUIT goroutine dump")
        if _GO_PANIC.search(head):
            return Detection("go-panic", "Go panic traceback")
        return Detection("go-goroutines-debug2", "Go goroutine dump, debug=2 / runtime.Stack text")
    if _PYSPY_THREAD.search(head) or (_PYSPY_PROCESS.search(head) and b"Python v" in head):
        return Detection("pyspy-text", "py-spy dump (text)")
    return Detection("text", "text of no known dump format", details={
        "lines_in_head": newlines})


def _json_detection(head: bytes) -> Detection | None:
    try:
        doc = json.loads(head)
    except (ValueError, RecursionError):
        doc = None
    text = head[:4096]
    if doc is not None:
        first = doc[0] if isinstance(doc, list) and doc else doc
        if isinstance(first, dict):
            if "Stack0" in first:
                return Detection("go-goroutineprofile-json",
                                 "runtime.GoroutineProfile records as JSON (raw PCs)")
            if "thread_id" in first and ("frames" in first or "owns_gil" in first):
                return Detection("pyspy-json", "py-spy dump --json")
            if "Goroutines" in first:
                return Detection("go-goroutines-json", "parsed goroutines as JSON")
        return None
    if b'"Stack0"' in text:
        return Detection("go-goroutineprofile-json", "runtime.GoroutineProfile records as JSON (raw PCs)")
    if b'"thread_id"' in text and (b'"owns_gil"' in text or b'"frames"' in text):
        return Detection("pyspy-json", "py-spy dump --json")
    return None


def detect_bytes(head: bytes) -> Detection:
    """Name the format of decompressed ``head`` bytes."""
    if not head:
        return Detection("empty", "an empty file")
    if head.startswith(b"\x7fELF"):
        return _elf(head)
    if head.startswith(b"JAVA PROFILE "):
        return _hprof(head)
    if head.startswith(b"MDMP"):
        return _minidump(head)
    if head[:4] in _MACHO:
        return Detection(_MACHO[head[:4]], "Mach-O file")
    if head.startswith(b"Microsoft C/C++ MSF 7.00\r\n\x1aDS\x00\x00\x00"):
        return Detection("pdb", "Windows PDB (a build's debug file: `dumpx minidump verify --binary` matches it)")
    if head[:2] == b"MZ" and len(head) >= 64:
        pe = int.from_bytes(head[60:64], "little")
        if head[pe:pe + 4] == b"PE\x00\x00":
            return Detection("pe-image", "Windows PE image (a build file: `dumpx minidump verify --binary` "
                                         "matches it)", details={"pe_header": pe})
    if _looks_like_pprof(head):
        return Detection("go-pprof-proto", "pprof protobuf profile (goroutine)")
    det = _text_detection(head)
    if det:
        return det
    return Detection("unknown", "binary data of no known dump format",
                     details={"magic": head[:8].hex()})


def detect(source: Source, head_size: int = HEAD) -> Detection:
    """Detect the format of ``source`` from its decompressed head."""
    head = source.head(head_size)
    det = detect_bytes(head)
    if det.format == "text" and len(head) >= head_size:
        # a goroutine dump after megabytes of service log (stderr captured with the panic)
        more = source.head(GO_SEARCH)
        m = _GOROUTINE_HDR.search(more) or _GO_DEBUG1.search(more)
        if m:
            start = more.rfind(b"\n", 0, m.start()) + 1
            det = detect_bytes(more[max(0, start - 4096):])     # with the panic line just before it
            det.details["goroutines_start_at_offset"] = start
    det.compression = source.compression
    if source.compression and not head:
        det.format, det.description = "compressed-empty", f"{source.compression} data that decodes to nothing"
    return det
