"""Build small minidumps with a known truth (the layout of the format as Breakpad writes it on
Linux x86-64): system info, threads with an AMD64 context and a captured stack, modules with a
Breakpad ELF CodeView record, memory ranges, an exception. Used by tests/test_minidump.py."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

AMD64_CONTEXT_SIZE = 1232
X86_CONTEXT_SIZE = 716                # CONTEXT_X86
ARM_CONTEXT_SIZE = 368                # Breakpad's MDRawContextARM
X86 = ("gs", "fs", "es", "ds", "edi", "esi", "ebx", "edx", "ecx", "eax", "ebp", "eip", "cs", "eflags", "esp", "ss")
ARM = tuple(f"r{i}" for i in range(13)) + ("sp", "lr", "pc", "cpsr")
ARM64_CONTEXT_SIZE = 912              # CONTEXT_ARM64 (Windows layout, which Crashpad writes and rust-minidump reads)
ARM64_OLD_CONTEXT_SIZE = 796          # Breakpad's packed MDRawContextARM64_Old (its Linux and macOS clients)
REGS = ("rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13",
        "r14", "r15", "rip")


@dataclass
class Spec:
    threads: list[tuple[int, dict[str, int], int, bytes]] = field(default_factory=list)   # tid, regs, stack start, stack
    modules: list[tuple] = field(default_factory=list)   # base, size, name, build-id (or a whole RSDS record)[, TimeDateStamp]
    memory: list[tuple[int, bytes]] = field(default_factory=list)                         # extra captured ranges
    exception: tuple | None = None                  # tid, code, address[, ExceptionInformation parameters]
    thread_count: int | None = None                                                        # override (damage)
    stream_size_extra: int = 0                                                             # module list past the end
    linux: dict[int, bytes] = field(default_factory=dict)                                  # Breakpad Linux streams
    arch: int = 9                                                  # 9 AMD64, 12 ARM64, 0x8003 Breakpad's ARM64, 0 x86, 5 arm
    crashpad: dict | None = None   # {"report_id": 16 bytes, "client_id": 16 bytes, "simple": {k: v},
    #                                "modules": [(module index, [list annotations], {simple}, {name: (type, bytes)})]}
    memory_info: list[tuple[int, int, int]] = field(default_factory=list)                  # base, size, PAGE_*
    platform: int = 0x8201                                                                 # Linux; 2 Windows


def _context(regs: dict[str, int], arch: int = 9) -> bytes:
    if arch == 0:
        b = bytearray(X86_CONTEXT_SIZE)
        struct.pack_into("<I", b, 0, 0x00010007)                 # CONTEXT_X86 | CONTROL | INTEGER | SEGMENTS
        struct.pack_into("<16I", b, 140, *(regs.get(r, 0) for r in X86))
        return bytes(b)
    if arch == 5:
        b = bytearray(ARM_CONTEXT_SIZE)
        struct.pack_into("<I", b, 0, 0x40000002)                 # MD_CONTEXT_ARM | INTEGER
        struct.pack_into("<17I", b, 4, *(regs.get(r, 0) for r in ARM))
        return bytes(b)
    if arch == 0x8003:
        b = bytearray(ARM64_OLD_CONTEXT_SIZE)
        struct.pack_into("<Q", b, 0, 0x80000006)                 # MD_CONTEXT_ARM64_FULL_OLD: INTEGER | FLOATING_POINT
        struct.pack_into("<31Q", b, 8, *(regs.get(f"x{i}", 0) for i in range(31)))
        struct.pack_into("<QQI", b, 256, regs.get("sp", 0), regs.get("pc", 0), regs.get("pstate", 0) & 0xFFFFFFFF)
        return bytes(b)
    if arch == 12:
        b = bytearray(ARM64_CONTEXT_SIZE)
        struct.pack_into("<II", b, 0, 0x00400003, regs.get("pstate", 0) & 0xFFFFFFFF)   # CONTROL | INTEGER
        struct.pack_into("<31Q", b, 8, *(regs.get(f"x{i}", 0) for i in range(31)))
        struct.pack_into("<QQ", b, 256, regs.get("sp", 0), regs.get("pc", 0))
        return bytes(b)
    b = bytearray(AMD64_CONTEXT_SIZE)
    struct.pack_into("<I", b, 48, 0x0010000F)                # CONTEXT_AMD64 | CONTROL | INTEGER | SEGMENTS
    struct.pack_into("<17Q", b, 120, *(regs.get(r, 0) for r in REGS))
    return bytes(b)


def build(spec: Spec) -> bytes:
    blobs: list[bytes] = []
    offset = [0]

    def put(data: bytes) -> int:
        rva = offset[0]
        blobs.append(data)
        offset[0] += len(data)
        pad = -offset[0] % 8
        if pad:
            blobs.append(bytes(pad))
            offset[0] += pad
        return rva

    nstreams = (5 if spec.exception else 4) + len(spec.linux) + (1 if spec.memory_info else 0) \
        + (1 if spec.crashpad is not None else 0)
    put(bytes(32))                                           # header, written last
    dir_rva = put(bytes(12 * nstreams))
    streams: list[tuple[int, int, int]] = []

    sysinfo = struct.pack("<HHHBBIIII", spec.arch, 6, 0, 4, 1, 0, 0, 0, spec.platform) + bytes(4 + 4 + 24)
    streams.append((7, len(sysinfo), put(sysinfo)))

    th = bytearray(struct.pack("<I", spec.thread_count if spec.thread_count is not None else len(spec.threads)))
    mem = []
    for tid, regs, st_start, stack in spec.threads:
        st_rva = put(stack)
        ctx = _context(regs, spec.arch)
        ctx_rva = put(ctx)
        th += struct.pack("<IIIIQQIIII", tid, 0, 0, 0, 0, st_start, len(stack), st_rva, len(ctx), ctx_rva)
        mem.append((st_start, len(stack), st_rva))
    streams.append((3, len(th), put(bytes(th))))

    ml = bytearray(struct.pack("<I", len(spec.modules)))
    for base, size, name, build_id, *stamp in spec.modules:
        nm = name.encode("utf-16-le")
        name_rva = put(struct.pack("<I", len(nm)) + nm + b"\0\0")
        cv = build_id if build_id[:4] == b"RSDS" else struct.pack("<I", 0x4270454C) + build_id
        cv_rva = put(cv)
        ml += struct.pack("<QIIII", base, size, 0, stamp[0] if stamp else 0, name_rva) + bytes(52) \
            + struct.pack("<II", len(cv), cv_rva) + bytes(8) + bytes(16)
    streams.append((4, len(ml) + spec.stream_size_extra, put(bytes(ml))))

    for start, data in spec.memory:
        mem.append((start, len(data), put(data)))
    mm = struct.pack("<I", len(mem)) + b"".join(struct.pack("<QII", s, n, r) for s, n, r in mem)
    streams.append((5, len(mm), put(mm)))

    if spec.exception:
        tid, code, addr, *more = spec.exception
        params = list(more[0]) if more else []
        ctx = _context(next((r for t, r, _, _ in spec.threads if t == tid), {}), spec.arch)
        ctx_rva = put(ctx)
        ex = struct.pack("<IIIIQQII", tid, 0, code, 0, 0, addr, len(params), 0) + \
            struct.pack("<15Q", *(params + [0] * (15 - len(params)))) + struct.pack("<II", len(ctx), ctx_rva)
        streams.append((6, len(ex), put(ex)))

    for t, data in spec.linux.items():
        streams.append((t, len(data), put(data)))
    if spec.memory_info:
        mi = struct.pack("<IIQ", 16, 48, len(spec.memory_info)) + b"".join(
            struct.pack("<QQIIQIIII", b, b, p, 0, n, 0x1000, p, 0x20000, 0) for b, n, p in spec.memory_info)
        streams.append((16, len(mi), put(mi)))

    if spec.crashpad is not None:
        streams.append((0x43500001, 52, _crashpad(spec.crashpad, put)))

    out = bytearray(b"".join(blobs))
    struct.pack_into("<IIIIIIQ", out, 0, 0x504D444D, 0xA793, len(streams), dir_rva, 0, 1700000000, 0)
    for i, (t, size, rva) in enumerate(streams):
        struct.pack_into("<III", out, dir_rva + 12 * i, t, size, rva)
    return bytes(out)


def _crashpad(info: dict, put) -> int:
    """A MinidumpCrashpadInfo (crashpad/minidump/minidump_extensions.h) and what it points to;
    returns its offset."""
    def utf8(t: str) -> int:
        b = t.encode()
        return put(struct.pack("<I", len(b)) + b + b"\0")

    def dictionary(d: dict) -> tuple[int, int]:
        body = struct.pack("<I", len(d)) + b"".join(struct.pack("<II", utf8(k), utf8(v)) for k, v in d.items())
        return len(body), put(body)
    mods = []
    for index, lst, simple, objects in info.get("modules", []):
        rvas = [utf8(x) for x in lst]
        ll = struct.pack("<I", len(rvas)) + b"".join(struct.pack("<I", r) for r in rvas)
        l_loc = (len(ll), put(ll))
        s_loc = dictionary(simple)
        objs = b"".join(struct.pack("<IHHI", utf8(name), typ, 0, put(struct.pack("<I", len(val)) + val))
                        for name, (typ, val) in objects.items())
        ol = struct.pack("<I", len(objects)) + objs
        o_loc = (len(ol), put(ol))
        m = struct.pack("<IIIIIII", 1, *l_loc, *s_loc, *o_loc)
        mods.append(struct.pack("<III", index, len(m), put(m)))
    ml = struct.pack("<I", len(mods)) + b"".join(mods)
    ml_loc = (len(ml), put(ml))
    s_loc = dictionary(info.get("simple", {}))
    return put(struct.pack("<I", 1) + info.get("report_id", bytes(16)) + info.get("client_id", bytes(16))
               + struct.pack("<IIII", *s_loc, *ml_loc))


def rsds(guid: bytes, age: int, pdb: str) -> bytes:
    """A CodeView RSDS record: the PDB's GUID (on-disk order), age and path."""
    return b"RSDS" + guid + struct.pack("<I", age) + pdb.encode() + b"\0"


def crash(pc: int, stack: bytes | None = None, exception_address: int = 0x45) -> Spec:
    """One thread at ``pc`` with its stack at 0x7ff000000000, the executable at 0x400000."""
    sp = 0x7FF000000000
    stack = stack if stack is not None else struct.pack("<64Q", *range(64))
    return Spec(threads=[(4242, {"rip": pc, "rsp": sp, "rbp": sp + 64}, sp, stack)],
                modules=[(0x400000, 0x20000, "/srv/app", bytes.fromhex("f1c3bcc0279865fe3058404b2831d9e64135386c")),
                         (0x7F0000000000, 0x200000, "/lib/x86_64-linux-gnu/libc.so.6", bytes(range(20)))],
                exception=(4242, 11, exception_address))


def from_core(core, breakpad_arm64: bool = False) -> bytes:
    """A minidump of what an ELF core holds that a Breakpad handler would have written: every
    thread's registers and its stack from 128 bytes below the stack pointer to the end of the
    stack's mapping (at most 1 MiB), the modules with their build-ids, /proc/PID/maps rebuilt from
    the segments' permissions and NT_FILE, the auxiliary vector, and the signal as the exception;
    x86-64 or aarch64 as the core is (CONTEXT_ARM64 as Crashpad writes it, or with ``breakpad_arm64``
    architecture 0x8003 and MDRawContextARM64_Old as Breakpad's Linux client does)."""
    from dumpx.elf.core import AUXV_NAMES
    threads = []
    for t in core.threads:
        sp = t.sp
        seg = core.segment_of(sp) if sp is not None else None
        if seg is None:
            continue
        start = max(seg.vaddr, (sp - 128) & ~7)
        end = min(seg.vaddr + seg.filesz, start + (1 << 20))
        threads.append((t.pid, dict(t.registers), start, core.read(start, end - start)))
    mods = [(m.start, m.size, m.path or "?", bytes.fromhex(m.build_id) if m.build_id else b"")
            for m in core.modules() if m.size]
    lines = []
    files = {f.start: f for f in core.files}
    for seg in core.segments:                         # every mapping the core records, as /proc/PID/maps
        perms = "r" + ("w" if seg.flags & 2 else "-") + ("x" if seg.executable else "-") + "p"
        f = files.get(seg.vaddr)
        off, path = (f.file_offset * 4096, f.path) if f is not None else (0, "")
        lines.append(f"{seg.vaddr:08x}-{seg.end:08x} {perms} {off:08x} 00:00 0 {path}".rstrip())
    names = {v: k for k, v in AUXV_NAMES.items()}
    auxv = b"".join(struct.pack("<QQ", names[k], v) for k, v in core.auxv.items() if k in names and names[k])
    crashed = core.threads[0]
    return build(Spec(threads=threads, modules=mods, arch=(0x8003 if breakpad_arm64 else 12) if core.machine == "aarch64" else 9,
                      exception=(crashed.pid, crashed.signal, (core.siginfo or {}).get("addr") or 0),
                      linux={0x47670009: "\n".join(lines).encode() + b"\n", 0x47670008: auxv + bytes(16)}))


def windows_exception(code: int, params: list[int]) -> Spec:
    """A Windows x86-64 minidump whose one thread raised ``code`` with those ExceptionInformation
    parameters at 0x140001000, inside C:\\build\\app.exe."""
    sp = 0x8F2B7FF000
    return Spec(threads=[(1, {"rip": 0x140001000, "rsp": sp}, sp, bytes(64))],
                modules=[(0x140000000, 0x3000, "C:\\build\\app.exe", rsds(bytes(16), 1, "app.pdb"), 1)],
                exception=(1, code, 0x140001000, params), platform=2)


# every exception code dumpx names with the parameters that change the name, and every __fastfail code
EXCEPTION_CASES = [(0xC0000005, [0, 0x10]), (0xC0000005, [1, 0x7FF612340010]), (0xC0000005, [8, 0x7FF612340000]),
                   (0xC0000005, [0, 0x7FF612340000]), (0xC0000006, [0, 0x7FF612340000, 0xC000009C]),
                   (0xC0000409, []), (0xC00000FD, [1, 0x8F2B6FF000]), (0xC000001D, []), (0xC0000096, []),
                   (0xC0000094, []), (0xC0000095, []), (0x80000003, [0]), (0x80000004, []), (0x80000002, []),
                   (0xC0000008, []), (0xC000008C, []), (0xC0000025, []), (0xC0000026, []), (0xC000008D, []),
                   (0xC000008E, []), (0xC000008F, []), (0xC0000090, []), (0xC0000091, []), (0xC0000092, []),
                   (0xC0000093, []), (0xC0000374, []), (0xE06D7363, [0x19930520, 0, 0, 0]), (0x12345678, [])] \
    + [(0xC0000409, [k]) for k in range(75)]


def windows_scan() -> Spec:
    """fixtures/windows/out/windows-scan.dmp: a thread in app.exe's callee at 0x140001010 (see
    fixtures/windows/make.sh) whose stack holds, from the stack pointer up: 0x140001012 (in the
    code, after no call), a pointer to the stack, 0x140001005 (the return site of the call at
    0x140001000), then zeros."""
    sp = 0x8F2B7FF000
    stack = struct.pack("<4Q", 0x140001012, sp + 0x100, 0x140001005, 0) + bytes(224)
    return Spec(threads=[(5120, {"rip": 0x140001010, "rsp": sp, "rbp": 0}, sp, stack)],
                modules=[(0x140000000, 0x3000, "C:\\build\\app.exe",
                          rsds(bytes.fromhex("3B2C1D5F594A684E9A7B0C1D2E3F4051"), 3, "C:\\build\\app.pdb"), 0x65A0B0C0)],
                exception=(5120, 0xC0000005, 0x140001010, [0, 0x10]), platform=2)
