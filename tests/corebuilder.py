"""Synthesize x86-64 ELF cores with a known construction (drgn's tests do the same): threads,
PT_LOADs, NT_FILE, auxv, siginfo, in-memory ELF images with build-ids, PN_XNUM. Used by the
tests and by benchmarks/core_modules.py."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

PAGE = 4096


def note(name: bytes, ntype: int, desc: bytes) -> bytes:
    n = name + b"\x00"
    pad = lambda b: b + b"\x00" * (-len(b) % 4)
    return struct.pack("<III", len(n), len(desc), ntype) + pad(n) + pad(desc)


def mini_elf(build_id: bytes, note_vaddr: int | None = None, size: int = PAGE) -> bytes:
    """A one-page shared object image: header, PT_LOAD over the page, PT_NOTE with a GNU build-id.
    ``note_vaddr`` lets the note's vaddr disagree with its file offset (0x100)."""
    nt = note(b"GNU", 3, build_id)
    ph_load = struct.pack("<IIQQQQQQ", 1, 5, 0, 0, 0, size, size, PAGE)
    ph_note = struct.pack("<IIQQQQQQ", 4, 4, 0x100, 0x100 if note_vaddr is None else note_vaddr,
                          0, len(nt), len(nt), 4)
    hdr = (b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
           + struct.pack("<HHIQQQIHHHHHH", 3, 62, 1, 0, 64, 0, 0, 64, 56, 2, 64, 0, 0))
    img = bytearray(size)
    img[:64] = hdr
    img[64:64 + 112] = ph_load + ph_note
    img[0x100:0x100 + len(nt)] = nt
    return bytes(img)


@dataclass
class Load:
    vaddr: int
    data: bytes
    memsz: int = 0
    flags: int = 5
    declared_filesz: int | None = None


@dataclass
class CoreSpec:
    threads: list[dict] = field(default_factory=list)      # register dicts (x86-64 names)
    loads: list[Load] = field(default_factory=list)
    files: list[tuple[int, int, int, str]] = field(default_factory=list)   # start, end, page offset, path
    auxv: dict[int, int] = field(default_factory=dict)
    siginfo: tuple[int, int, int, bytes] | None = None      # signo, errno, code, union bytes
    xnum: bool = False                                      # force PN_XNUM even for few headers
    file_note_names_cut: int | None = None                  # keep only this many NT_FILE names


REGS = ["r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8", "rax", "rcx", "rdx", "rsi",
        "rdi", "orig_rax", "rip", "cs", "eflags", "rsp", "ss", "fs_base", "gs_base", "ds", "es", "fs", "gs"]


def build(spec: CoreSpec) -> bytes:
    notes = b""
    for i, regs in enumerate(spec.threads):
        pr = bytearray(336)
        struct.pack_into("<iiih", pr, 0, 11 if i == 0 else 0, 0, 0, 11 if i == 0 else 0)
        struct.pack_into("<i", pr, 32, 1000 + i)
        struct.pack_into("<27Q", pr, 112, *[regs.get(r, 0) for r in REGS])
        notes += note(b"CORE", 1, bytes(pr))
    ps = bytearray(136)
    struct.pack_into("<IIii", ps, 16, 0, 0, 1000, 1)
    ps[40:46] = b"synth\x00"
    notes += note(b"CORE", 3, bytes(ps))
    if spec.siginfo:
        signo, errno, code, union = spec.siginfo
        notes += note(b"CORE", 0x53494749, struct.pack("<iii", signo, errno, code) + b"\x00" * 4
                      + union.ljust(112, b"\x00"))
    if spec.auxv:
        notes += note(b"CORE", 6, b"".join(struct.pack("<QQ", k, v) for k, v in spec.auxv.items()) + bytes(16))
    if spec.files:
        names = [f[3].encode() for f in spec.files]
        if spec.file_note_names_cut is not None:
            names = names[:spec.file_note_names_cut]
        body = struct.pack("<QQ", len(spec.files), PAGE)
        body += b"".join(struct.pack("<QQQ", s, e, o) for s, e, o, _ in spec.files)
        body += b"".join(n + b"\x00" for n in names)
        notes += note(b"CORE", 0x46494C45, body)
    phnum = 1 + len(spec.loads)
    xnum = spec.xnum or phnum >= 0xFFFF
    phoff = 64
    shoff = phoff + 56 * phnum if xnum else 0
    notes_off = (shoff + 64) if xnum else phoff + 56 * phnum
    data_off = (notes_off + len(notes) + PAGE - 1) & ~(PAGE - 1)
    phdrs = [struct.pack("<IIQQQQQQ", 4, 0, notes_off, 0, 0, len(notes), 0, 4)]
    body = bytearray()
    for ld in spec.loads:
        off = data_off + len(body)
        filesz = ld.declared_filesz if ld.declared_filesz is not None else len(ld.data)
        phdrs.append(struct.pack("<IIQQQQQQ", 1, ld.flags, off, ld.vaddr, 0, filesz,
                                 max(ld.memsz, len(ld.data)), PAGE))
        body += ld.data
        body += b"\x00" * (-len(body) % PAGE)
    hdr = (b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
           + struct.pack("<HHIQQQIHHHHHH", 4, 62, 1, 0, phoff, shoff, 0, 64, 56,
                         0xFFFF if xnum else phnum, 64, 1 if xnum else 0, 0))
    out = bytearray(hdr) + b"".join(phdrs)
    if xnum:
        sh0 = struct.pack("<IIQQQQIIQQ", 0, 0, 0, 0, 0, 0, 0, phnum, 0, 0)
        out += sh0
    out += notes
    out += b"\x00" * (data_off - len(out))
    out += body
    return bytes(out)


def many_modules(n: int, base: int = 0x7F0000000000, note_at_offset: bool = False) -> CoreSpec:
    """``n`` one-page libraries, each mapped at its own page with a distinct build-id, and a thread."""
    spec = CoreSpec(threads=[{"rip": base + 0x10, "rsp": base - 0x1000}])
    for k in range(n):
        a = base + 2 * PAGE * k
        bid = struct.pack("<I", k) + bytes(16)
        # note_at_offset: the note's vaddr points past the captured page; only start + p_offset has it
        spec.loads.append(Load(a, mini_elf(bid, note_vaddr=0x1100 if note_at_offset else None)))
        spec.files.append((a, a + PAGE, 0, f"/synthetic/lib{k}.so"))
    spec.loads.append(Load(base - 0x2000, bytes(0x2000), flags=6))
    spec.loads.sort(key=lambda l: l.vaddr)
    return spec
