"""Backtraces of a core's threads, each frame saying how it was found and how far to trust it.

Unwinding per step: DWARF CFI (``.eh_frame`` of the verified image or the vDSO in the core,
``.debug_frame`` of the verified debug file), then the frame-pointer chain, then a scan of the
stack for a word that points just after a call instruction. Trust follows rust-minidump:
``context`` (frame 0, the thread's registers), ``cfi``, ``frame pointer``, ``scan``; inlined
frames share their physical frame's trust. Symbols come only from files whose build-id matches
the core; a module without one says "unverified build" and shows no name.
"""

from __future__ import annotations

import bisect
import struct
from array import array
from collections.abc import Mapping
from dataclasses import dataclass, field

from .._native import cfi as _cfi
from .._native import unwind as _uw
from ..errors import DumpError, UnmappedAddressError
from .dwarfexpr import Unknown, evaluate
from .image import CACHE, Image
from .verify import MATCH, ModuleVerdict

X86_64_DWARF = ["rax", "rdx", "rcx", "rbx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10", "r11",
                "r12", "r13", "r14", "r15", "rip"]
AARCH64_DWARF = [f"x{i}" for i in range(31)] + ["sp"]
CALLEE_SAVED = {"x86-64": {3, 6, 12, 13, 14, 15}, "aarch64": set(range(19, 30))}
SP_REG = {"x86-64": 7, "aarch64": 31}
FP_REG = {"x86-64": 6, "aarch64": 29}
RA_REG = {"x86-64": 16, "aarch64": 30}
MAX_FRAMES = 256
M64 = (1 << 64) - 1
SCAN_WORDS = 2048

TRUST_CONTEXT, TRUST_CFI, TRUST_FP, TRUST_SCAN = "context", "cfi", "frame pointer", "scan"


class _RegRow(Mapping):
    """A frame's recovered registers as the native unwinder left them: a row of values and a
    bitmask of the ones known, read as a mapping (DWARF number -> value) without a dict per frame."""

    __slots__ = ("_v", "_have")

    def __init__(self, values: list[int], have: int):
        self._v = values
        self._have = have

    def __getitem__(self, r: int) -> int:
        if isinstance(r, int) and 0 <= r < len(self._v) and self._have >> r & 1:
            return self._v[r]
        raise KeyError(r)

    def __iter__(self):
        return (r for r in range(len(self._v)) if self._have >> r & 1)

    def __len__(self) -> int:
        return bin(self._have).count("1")


@dataclass(slots=True)
class Frame:
    index: int
    pc: int
    sp: int | None
    trust: str
    module: str | None = None
    module_offset: int | None = None
    build: str = "no module"            # "verified", "unverified build", "no module", "in the core"
    function: str | None = None
    function_offset: int | None = None
    file: str | None = None
    line: int | None = None
    column: int | None = None
    inlined: bool = False
    cfa: int | None = None
    regs: Mapping[int, int] = field(default_factory=dict, repr=False)   # recovered registers, DWARF numbering
    names: list[str] = field(default_factory=list, repr=False)
    slot: int | None = None             # where this frame's pc was read (the callee's return slot)
    note: str | None = None             # why this pc is suspect ("??" reading)
    evidence: dict = field(default_factory=dict)
    function_size: int | None = None
    scope: int | None = None            # offset of the DWARF DIE of this frame's function or inlined call
    signal_frame: bool = False          # a signal trampoline: the frame below it was interrupted, not calling
    exact: bool = False                 # pc is the faulting/interrupted instruction, not a return address
    symbolized: bool = field(default=False, repr=False, compare=False)

    @property
    def registers(self) -> dict[str, int]:
        """The registers recovered for this frame, by name."""
        return {self.names[r]: v for r, v in sorted(self.regs.items()) if r < len(self.names)}

    @property
    def label(self) -> str:
        if self.function:
            off = f"+0x{self.function_offset:x}" if self.function_offset else ""
            return f"{self.function}{off}"
        if self.module:
            return f"{self.module.rsplit('/', 1)[-1]}+0x{self.module_offset:x}"
        return "??"

    def to_dict(self, registers: bool = True) -> dict:
        d = {k: getattr(self, k) for k in ("index", "pc", "sp", "cfa", "trust", "module", "module_offset", "build",
                                           "function", "function_offset", "file", "line", "column",
                                           "inlined", "signal_frame", "slot", "note")}
        if registers:
            d["registers"] = dict(self.registers)
        if self.evidence:
            d["evidence"] = self.evidence
        return d


@dataclass
class Backtrace:
    thread: int
    tid: int
    frames: list[Frame]
    stop: str

    def to_dict(self, registers: bool = True) -> dict:
        return {"thread": self.thread, "tid": self.tid, "stop": self.stop,
                "frames": [f.to_dict(registers) for f in self.frames]}


def _address(loc, reg, what: str) -> int:
    """The number a CFI expression computed; a crafted table can make it name a register or
    compute nothing, which is an unknown, not a crash."""
    if loc.kind == "register":
        return reg(loc.value)
    if loc.kind in ("memory", "value") and isinstance(loc.value, int):
        return loc.value
    raise Unknown(f"{what} computes no address ({loc.kind})")


@dataclass
class _Mod:
    start: int
    end: int
    path: str
    verdict: ModuleVerdict | None
    image: Image | None          # verified: unwind tables and symbols
    debug: Image | None          # verified: DWARF
    bias: int
    build: str
    pe: object = None                # a verified Windows image (dumpx.minidump.windows.PeImage): code bytes


class Unwinder:
    """Unwinds and symbolizes the threads of one core."""

    def __init__(self, core, verdicts: list[ModuleVerdict] | None = None, binaries=(), search_paths=(),
                 max_frames: int = MAX_FRAMES):
        self.core = core
        self.arch = core.machine
        # another architecture (a minidump's x86 or arm): frame 0 from the thread's context, nothing unwound
        self.context_only = self.arch not in ("x86-64", "aarch64")
        self.names = X86_64_DWARF if self.arch == "x86-64" else AARCH64_DWARF if self.arch == "aarch64" else []
        self.max_frames = max_frames
        if verdicts is None:
            verdicts = core.verify(binaries, search_paths)
        self.verdicts = verdicts
        self.problems: list[str] = ([f"{self.arch} is unwound by frame pointers only (no CFI)"] if self.arch == "x86"
                                    else [f"unwinding {self.arch} is not supported: each thread's frame 0 is its "
                                          f"context"] if self.context_only else [])
        self._mods = self._modules(verdicts)
        self._starts = [m.start for m in self._mods]
        self._text_cache: dict[int, bytes | None] = {}
        self._rule_cache: dict = {}
        self._fde_cache: dict = {}
        self._fast: dict = {}
        self._native = None                  # (steps, core buffer, segment arrays, output arrays)
        self._frame_sym: dict = {}
        self._batch = False
        self._code_cache: dict = {}
        self._sym_cache: dict = {}
        from .symcache import SymbolCache
        self.symbols = SymbolCache()

    # ------------------------------------------------------------------ modules
    def _modules(self, verdicts) -> list[_Mod]:
        core = self.core
        by_start = {v.start: v for v in verdicts}
        spans: dict[str, list[tuple[int, int]]] = {}
        for f in core.files:
            spans.setdefault(f.path, []).append((f.start, f.end))
        out = []
        for m in core.modules():
            v = by_start.get(m.start)
            end = m.start + m.size
            if m.size == 0 and m.path in spans:
                end = max(e for _, e in spans[m.path])
            image = debug = pe = None
            build = "unverified build"
            if m.path == "[vdso]" and m.size:
                try:
                    data = core.read(m.start, m.size)
                    image = CACHE.from_memory(f"vdso:{m.build_id or m.start}", data, "[vdso]")
                    build = "in the core"
                except DumpError:
                    pass
            elif v is not None and v.verdict == MATCH and v.id_kind != "build-id":
                build = "verified"
                if v.image:
                    from ..minidump.windows import PeImage
                    try:
                        pe = PeImage(v.image)
                    except DumpError as e:
                        self.problems.append(f"{m.path}: {e}")
            elif v is not None and v.verdict == MATCH:
                build = "verified"
                try:
                    if v.image:
                        image = CACHE.get(v.image, v.core_build_id)
                    if v.debug:
                        debug = image if v.debug == v.image else CACHE.get(v.debug, v.core_build_id + ":debug")
                except DumpError as e:
                    self.problems.append(f"{m.path}: {e}")
            ref = image or debug
            bias = (m.start - ref.first_vaddr) if ref is not None and ref.e_type == 3 else 0
            out.append(_Mod(m.start, end, m.path or "?", v, image, debug, bias, build, pe))
        out.sort(key=lambda x: x.start)
        return out

    def module_at(self, addr: int) -> _Mod | None:
        k = bisect.bisect_right(self._starts, addr) - 1
        while k >= 0:
            m = self._mods[k]
            if m.start <= addr < m.end:
                return m
            k -= 1
            if k >= 0 and addr - self._mods[k].start > 1 << 32:
                break
        return None

    # ------------------------------------------------------------------ memory
    def _u64(self, addr: int) -> int:
        return struct.unpack("<Q", self.core.read(addr, 8))[0]

    def _mem(self, addr: int, size: int) -> int:
        try:
            if size == 8:
                return self.core.u64(addr)
            return int.from_bytes(self.core.read(addr, size), "little")
        except UnmappedAddressError as e:
            raise Unknown(f"memory at 0x{addr:x} is not in the core ({'not captured' if e.captured else 'unmapped'})")

    def _text(self, addr: int, size: int) -> bytes | None:
        """Code bytes at ``addr``: from the core when captured, else from the verified image."""
        try:
            return self.core.read(addr, size)
        except DumpError:
            pass
        m = self.module_at(addr)
        if m is not None and m.image is not None:
            return m.image.read_vaddr(addr - m.bias, size)
        if m is not None and m.pe is not None:
            return m.pe.read_rva(addr - m.start, size)
        return None

    def _after_call(self, addr: int) -> bool:
        """Does ``addr`` follow a call instruction (x86-64: e8 rel32, ff /2; aarch64: bl/blr)?"""
        if self.arch == "aarch64":
            b = self._text(addr - 4, 4)
            if b is None:
                return False
            w = int.from_bytes(b, "little")
            return (w & 0xFC000000) == 0x94000000 or (w & 0xFFFFFC1F) == 0xD63F0000
        b = self._text(addr - 7, 7)
        for n in (5, 3, 2):
            if b is not None:
                break
            # the code starts fewer than 7 bytes before: the shorter forms (zeros match no opcode)
            got = self._text(addr - n, n)
            b = bytes(7 - n) + got if got is not None else None
        if b is None:
            return False
        if b[2] == 0xE8:
            return True
        for n in (2, 3, 4, 6, 7):
            i = 7 - n
            if b[i] == 0xFF and ((b[i + 1] >> 3) & 7) == 2:
                mod, rm = b[i + 1] >> 6, b[i + 1] & 7
                want = 2 + (1 if rm == 4 and mod != 3 else 0) + {0: 4 if rm == 5 else 0, 1: 1, 2: 4, 3: 0}[mod]
                if want == n:
                    return True
            if n >= 3 and b[i] in (0x41, 0x43) and b[i + 1] == 0xFF and ((b[i + 2] >> 3) & 7) == 2 and n == 3:
                return True
        return False

    def is_code(self, addr: int) -> bool:
        got = self._code_cache.get(addr)
        if got is None:
            got = self._code_cache[addr] = self._is_code(addr)
        return got

    def _is_code(self, addr: int) -> bool:
        if not 0 < addr < 1 << 47:
            return False
        if self.core.is_executable(addr):
            return True
        m = self.module_at(addr)
        if m is not None and m.pe is not None:
            return m.pe.is_executable(addr - m.start)
        if m is None or m.image is None:
            return False
        off = addr - m.bias
        return any(va <= off < va + memsz and flags & 1 for va, memsz, _, _, flags in m.image.loads)

    # ------------------------------------------------------------------ one thread
    def backtrace(self, thread: int) -> Backtrace:
        if self.context_only:
            return self._context_frame(thread)
        return self._finish(*self._unwind(thread))

    def _context_frame(self, thread: int) -> Backtrace:
        """A thread on an architecture dumpx has no CFI unwinder for (a minidump's x86 or arm): frame 0
        from the context, and for x86 the callers on the frame-pointer chain (``ebp``: the saved
        ``ebp`` at [ebp], the return address at [ebp+4]), each checked to go up the captured stack;
        the stop reason says where and why the walk ended."""
        core = self.core
        if not 0 <= thread < len(core.threads):
            raise DumpError(f"thread {thread} does not exist (the core has {len(core.threads)} threads)")
        t = core.threads[thread]
        if t.pc is None:
            return Backtrace(thread, t.pid, [], "the thread's registers are not in the dump")
        frames = [self._placed(Frame(0, t.pc, t.sp, TRUST_CONTEXT, exact=True))]
        if self.arch != "x86":
            return Backtrace(thread, t.pid, frames, f"unwinding {self.arch} is not supported: only the "
                                                    f"thread's context (frame 0)")
        ebp, sp = t.registers.get("ebp"), t.sp or 0
        stop = f"depth limit of {self.max_frames} frames reached"
        while len(frames) < self.max_frames:
            if not ebp:
                stop = "frame pointer 0: the outermost frame (x86 is unwound by frame pointers only)"
                break
            if ebp < sp or ebp & 3:
                stop = f"the frame pointer 0x{ebp:x} does not point up the stack (x86: frame pointers only)"
                break
            try:
                saved, ret = struct.unpack("<II", core.read(ebp, 8))
            except (UnmappedAddressError, DumpError):
                stop = f"the frame pointer 0x{ebp:x} points outside the captured memory"
                break
            if ret == 0:
                stop = "end of stack (return address 0)"
                break
            f = self._placed(Frame(len(frames), ret, ebp + 8, TRUST_FP))
            if f.module is None:
                stop = f"the return address 0x{ret:x} at [ebp+4] is in no module: not a caller's frame"
                break
            frames.append(f)
            if saved and saved <= ebp:
                stop = f"the saved frame pointer 0x{saved:x} does not go up the stack"
                break
            sp, ebp = ebp + 8, saved
        return Backtrace(thread, t.pid, frames, stop)

    def _placed(self, f: Frame) -> Frame:
        """The frame with the module that holds its pc (no symbols: this path reads no images)."""
        for m in self.core.modules():
            if m.start <= f.pc < m.start + m.size:
                f.module, f.module_offset, f.build = m.path, f.pc - m.start, "unverified build"
                break
        f.symbolized = True
        return f

    def _finish(self, thread: int, pid: int, frames: list[Frame], stop: str) -> Backtrace:
        """Symbols and inlined frames for frames that were unwound."""
        inline = False
        for f in frames:
            if not f.symbolized:
                self._symbolize(f, exact_pc=f.exact)
            if "_scopes" in f.evidence:
                inline = True
        out = self._expand_inline(frames) if inline else frames
        if not self._batch:
            self.symbols.save()
        return Backtrace(thread, pid, out, stop)

    def _unwind(self, thread: int) -> tuple[int, int, list[Frame], str]:
        core = self.core
        if not 0 <= thread < len(core.threads):
            raise DumpError(f"thread {thread} does not exist (the core has {len(core.threads)} threads)")
        t = core.threads[thread]
        regs: dict[int, int] = {}
        for i, n in enumerate(self.names):
            if n in t.registers:
                regs[i] = t.registers[n]
        pc = t.registers.get("rip" if self.arch == "x86-64" else "pc")
        if pc is None:
            return thread, t.pid, [], "the thread's registers are not in the dump"
        frames: list[Frame] = []
        trust = TRUST_CONTEXT
        exact = True
        slot = None
        seen: set[tuple[int, int]] = set()
        stop = ""
        sp_reg = SP_REG[self.arch]
        fast = self._fast
        code = self._code_cache
        u64 = core.u64
        names = self.names
        max_frames = self.max_frames
        nat = self._native_walker()
        while True:
            if nat is not None and len(frames) < max_frames:
                got = self._walk_native(nat, frames, seen, regs, pc, trust, exact, slot)
                if got is not None:
                    stop, regs, pc, trust, exact, slot = got
                    if stop:
                        break
            sp = regs.get(sp_reg)
            # positional: the loop's hottest line (index, pc, sp, trust, ..., regs, names, slot, ..., exact)
            f = Frame(len(frames), pc, sp, trust, None, None, "no module", None, None, None, None, None,
                      False, None, regs, names, slot, None, {}, None, None, False, exact)
            frames.append(f)
            ok = code.get(pc)
            if ok is None:
                ok = self.is_code(pc)
            if not ok:
                f.note = self._why_not_code(pc)
                stop = f"the pc 0x{pc:x} is not code: {f.note}"
                break
            if len(frames) >= max_frames:
                stop = f"depth limit of {max_frames} frames reached"
                break
            key = (pc, sp or 0)
            if key in seen:
                stop = "the same pc and stack pointer repeated (a loop)"
                break
            seen.add(key)
            lk = pc if exact else pc - 1
            comp = fast.get(lk)
            if comp is None:
                comp = fast[lk] = self._compile(lk)
            if comp and nat is not None:
                nat[0].add(pc, exact, *comp)
            nxt = None
            if comp:
                cfa_reg, cfa_off, offsets, keep, ra_off = comp
                base = regs.get(cfa_reg)
                if base is not None:
                    cfa = (base + cfa_off) & M64
                    try:
                        new = {r: regs[r] for r in keep if r in regs}
                        for r, off in offsets:
                            new[r] = u64(cfa + off)
                        npc = u64(cfa + ra_off)
                        new[sp_reg] = cfa
                        nxt = (new, npc, TRUST_CFI, False, cfa + ra_off, cfa)
                    except DumpError:
                        nxt = None
            if nxt is None:
                nxt = self._step(lk, regs, f)
            if nxt is None:
                stop = f.evidence.pop("stop", "no rule found the caller")
                break
            regs, pc, trust, exact, slot, f.cfa = nxt
            if pc == 0:
                stop = "end of stack (return address 0)"
                break
            nsp = regs.get(sp_reg)
            if nsp is not None and sp is not None and nsp <= sp and trust != TRUST_CFI and \
                    not (nsp == sp and "leaf" in f.evidence):
                stop = f"the stack pointer did not increase (0x{nsp:x} after 0x{sp:x})"
                break
        return thread, t.pid, frames, stop

    def all(self) -> list[Backtrace]:
        """Every thread's backtrace. When debug sections of modules not in the symbol cache are
        inflating on another core (``prefetch``), every thread is unwound first and symbolized
        after. The cyclic garbage collector is paused: the frames are many small acyclic
        objects, and its passes over them cost a third of the time."""
        if self.context_only:
            return [self._context_frame(i) for i in range(len(self.core.threads))]
        import gc
        was = gc.isenabled()
        gc.disable()
        self._batch = True
        try:
            n = len(self.core.threads)
            if self.prefetch():
                unwound = [self._unwind(i) for i in range(n)]
                return [self._finish(*u) for u in unwound]
            return [self._finish(*self._unwind(i)) for i in range(n)]
        finally:
            self._batch = False
            self.symbols.save()
            if was:
                gc.enable()

    def prefetch(self) -> bool:
        """Start inflating, in the background, the compressed DWARF of verified modules whose
        symbols are not in the on-disk cache yet (zlib releases the interpreter lock). Whether
        any was started."""
        started = False
        for m in self._mods:
            if m.debug is not None and m.build == "verified":
                key = self._sym_key(m)
                if key is None or not self.symbols.known(key):
                    started |= m.debug.prefetch_dwarf()
        return started

    def _sym_key(self, m: _Mod) -> str | None:
        """The symbol cache's key for a module: its build-id and which tables answered (the same
        build symbolized from a stripped file and from its debug file answers differently)."""
        bid = m.verdict.core_build_id if m.verdict is not None and m.build == "verified" else None
        if not bid:
            return None
        return bid + "-" + ("dwarf" if m.debug is not None and m.debug.has_dwarf else "") + \
            ("symtab" if any(i is not None and ".symtab" in i.sections for i in (m.debug, m.image)) else "dynsym")

    def _native_walker(self):
        """The native kernel's state for this core (x86-64): compiled steps, the core's bytes and
        its segments as arrays, output rows for one walk. None where it cannot be used."""
        if self._native is None:
            self._native = False
            buf = getattr(self.core, "_buf", None)
            if self.arch == "x86-64" and buf is not None and len(self.names) == 17:
                mem = memoryview(buf).cast("B") if not isinstance(buf, memoryview) else buf.cast("B")
                # a segment whose captured bytes are not all in the buffer gets none here (the Python
                # path reads it, with its own errors)
                segs = [(s.vaddr, s.vaddr + s.filesz if 0 <= s.offset and 0 <= s.filesz and
                         s.offset + s.filesz <= len(mem) and s.vaddr + s.filesz < 1 << 64 else s.vaddr,
                         s.offset if 0 <= s.offset < 1 << 63 else 0) for s in self.core.segments]
                lo = array("Q", [s[0] for s in segs])
                hi = array("Q", [s[1] for s in segs])
                off = array("q", [s[2] for s in segs])
                m = self.max_frames
                out = (array("Q", bytes(8 * m)), array("Q", bytes(8 * m)), array("Q", bytes(8 * m)),
                       array("Q", bytes(8 * 17 * m)), array("Q", bytes(8 * m)))
                self._native = (_uw.FastSteps(), mem, lo, hi, off, out)
        return self._native or None

    def _walk_native(self, nat, frames, seen, regs, pc, trust, exact, slot):
        """Frames the native kernel takes from this state, appended with the checks the Python
        loop makes after appending a frame (depth limit, a repeated pc and stack pointer).
        Returns None when it took none, else (stop reason or "", regs, pc, trust, exact, slot)
        for the frame after them."""
        steps, mem, lo, hi, off, (o_pc, o_cfa, o_slot, o_regs, o_have) = nat
        if not len(steps) or not 0 <= pc < 1 << 62:
            return None
        arr = array("Q", bytes(8 * 17))
        have = 0
        for r, v in regs.items():
            if 0 <= r < 17 and 0 <= v < 1 << 64:
                arr[r] = v
                have |= 1 << r
        room = self.max_frames - len(frames)
        n, status, npc, nhave = _uw.walk(steps, mem, lo, hi, off, arr, have, pc, exact, room,
                                         o_pc, o_cfa, o_slot, o_regs, o_have)
        if n == 0:
            return None
        pcs, cfas, slots = o_pc[:n].tolist(), o_cfa[:n].tolist(), o_slot[:n].tolist()
        flat, haves = o_regs[:17 * n].tolist(), o_have[:n].tolist()
        rows = [flat[17 * k:17 * k + 17] for k in range(n)]
        names = self.names
        max_frames = self.max_frames
        sym = self._frame_sym
        for k in range(n):
            if k:
                fr_regs, h = _RegRow(rows[k], haves[k]), haves[k]
                sp = rows[k][7] if h >> 7 & 1 else None
                tr, ex, sl = TRUST_CFI, False, slots[k - 1]
            else:
                fr_regs, sp, tr, ex, sl = regs, regs.get(7), trust, exact, slot
            hit = sym.get((pcs[k], ex, False))
            if hit is None:
                f = Frame(len(frames), pcs[k], sp, tr, None, None, "no module", None, None, None, None, None,
                          False, cfas[k], fr_regs, names, sl, None, {}, None, None, False, ex)
            else:                             # symbolized already: the frame is built with its symbols
                sig, mod, moff, build, fn, foff, fsize, fl, ln, col, note, inl, scope = hit
                f = Frame(len(frames), pcs[k], sp, tr, mod, moff, build, fn, foff, fl, ln, col, False, cfas[k],
                          fr_regs, names, sl, note, {"_scopes": inl} if inl is not None else {}, fsize,
                          scope, sig, ex)
                f.symbolized = True
            frames.append(f)
            if len(frames) >= max_frames:
                return f"depth limit of {max_frames} frames reached", regs, pc, trust, exact, slot
            key = (pcs[k], sp or 0)
            if key in seen:
                return "the same pc and stack pointer repeated (a loop)", regs, pc, trust, exact, slot
            seen.add(key)
        if status == _uw.STATUS_END:
            return "end of stack (return address 0)", regs, pc, trust, exact, slot
        new = {r: v for r, v in enumerate(arr.tolist()) if nhave >> r & 1}
        return "", new, npc, TRUST_CFI, False, slots[n - 1]

    def _why_not_code(self, pc: int) -> str:
        from .smash import canonical
        b = pc.to_bytes(8, "little")
        if len(set(b)) == 1 and b[0] not in (0, 0xFF):
            kind = f"a repeated-byte word (0x{b[0]:02x} x 8)"
        elif all(0x20 <= c < 0x7F for c in b):
            kind = f"ASCII text {b.decode('ascii')!r}"
        else:
            kind = None
        if not canonical(pc):
            base = "non-canonical address"
        elif self.core.segment_of(pc) is None and self.module_at(pc) is None:
            base = "in no mapping and no module"
        else:
            base = "in a mapping that is not executable"
        return f"{base}; {kind}" if kind else base

    # ------------------------------------------------------------------ one step
    def _fde(self, pc: int):
        """(module, tables, (image, table, fde offset) or None) for a lookup pc, cached."""
        got = self._fde_cache.get(pc)
        if got is None:
            m = self.module_at(pc)
            tables = []
            if m is not None:
                if m.image is not None:
                    tables += [(m.image, t) for t in m.image.cfi_tables()]
                if m.debug is not None and m.debug is not m.image:
                    tables += [(m.debug, t) for t in m.debug.cfi_tables() if not t.eh]
            hit = None
            for img, t in tables:
                off = t.find(pc - m.bias)
                if off is not None:
                    hit = (img, t, off)
                    break
            got = (m, tables, hit)
            self._fde_cache[pc] = got
        return got

    def _step(self, pc: int, regs: dict[int, int], f: Frame):
        m, tables, hit = self._fde(pc)
        for img, t, off in ([hit] if hit else []):
            try:
                return self._cfi_step(img, t, off, pc - m.bias, regs, f)
            except (Unknown, DumpError) as e:
                f.evidence["cfi failed"] = str(getattr(e, "reason", e))
                break
        if m is not None and m.image is not None and not tables:
            f.evidence["no cfi"] = "the module has no .eh_frame/.debug_frame"
        if f.index == 0 and f.trust == TRUST_CONTEXT:
            leaf = self._leaf_step(regs, f)
            if leaf is not None:
                return leaf
        return self._fp_step(regs, f) or self._scan_step(regs, f)

    def _leaf_step(self, regs, f):
        """Frame 0 without CFI: a leaf function (or one interrupted before its prologue, or that
        shrink-wrapped it away) still has its return address at the stack pointer."""
        if self.arch == "aarch64":
            lr = regs.get(30)
            if lr is None or not self.is_code(lr):
                return None
            unverified = self._text(lr - 4, 4) is None
            if not unverified and not self._returns_here(lr):
                return None
            new = {r: v for r, v in regs.items() if r in CALLEE_SAVED[self.arch] or r in (29, 31)}
            f.evidence["leaf"] = "the link register holds a return address" + (
                " (the code before it is not in the core: the call could not be checked)" if unverified else "")
            return new, lr, TRUST_SCAN, False, None, regs.get(31)
        sp = regs.get(SP_REG[self.arch])
        if sp is None:
            return None
        try:
            w = self._u64(sp)
        except DumpError:
            return None
        if not self.is_code(w) or not self._returns_here(w):
            return None
        # a leaf before (or without) its prologue has not pushed anything: the registers are the caller's
        new = {r: v for r, v in regs.items() if r in CALLEE_SAVED[self.arch]}
        new[SP_REG[self.arch]] = sp + 8
        f.evidence["leaf"] = "the word at the stack pointer is a return address"
        return new, w, TRUST_SCAN, False, sp, sp + 8

    def _returns_here(self, w: int) -> bool:
        """Could a call (or the kernel, for a signal trampoline) have left ``w`` as a return address?"""
        if self._after_call(w):
            return True
        m = self.module_at(w)
        if m is None or m.image is None:
            return False
        for t in m.image.cfi_tables():
            off = t.find(w - 1 - m.bias)
            if off is not None:
                try:
                    return bool(_cfi.rules_at(t.data, t.addr, t.eh, off, w - 1 - m.bias)[3])
                except DumpError:
                    return False
        return False

    def _compile(self, lk: int):
        """The common CFI step at a pc as a tuple the unwinding loop applies inline (CFA = register +
        offset, registers saved at CFA offsets, the return address saved, no signal frame, x86-64),
        or False: every other case takes the general path (``_step``)."""
        if self.arch != "x86-64":
            return False
        m, tables, hit = self._fde(lk)
        if hit is None:
            return False
        img, t, off = hit
        try:
            (cfa_kind, cfa_a, cfa_b), listed, keep, ra, signal, sp_kind, ra_kind = self._rules(t, off, lk - m.bias)
        except DumpError:
            return False
        if cfa_kind != _cfi.CFA_REG or signal or ra != 16 or ra_kind != _cfi.R_OFFSET or \
                sp_kind not in (_cfi.R_UNSPECIFIED, _cfi.R_SAME):
            return False
        offsets, same, ra_off = [], [], None
        for r, kind, a, _ in listed:
            if r == 16:
                ra_off = a
            elif kind == _cfi.R_OFFSET:
                offsets.append((r, a))
            elif kind == _cfi.R_SAME:
                same.append(r)
            elif r != SP_REG[self.arch] or kind not in (_cfi.R_UNSPECIFIED, _cfi.R_SAME):
                return False
        return cfa_a, cfa_b, tuple(offsets), tuple(keep) + tuple(same), ra_off

    def _rules(self, t, off: int, fpc: int):
        """The CFI kernel's rules at fpc as plain tuples, cached per table and pc (threads share pcs)."""
        key = (id(t), fpc)
        got = self._rule_cache.get(key)
        if got is None:
            cfa_rule, rules, ra, signal, _ = _cfi.rules_at(t.data, t.addr, t.eh, off, fpc)
            n = min(len(self.names) + 1, 128)
            rows = rules.tolist()[:n]
            kinds = [row[0] for row in rows]
            listed = [(r, row[0], row[1], row[2]) for r, row in enumerate(rows) if row[0]]
            ruled = {r for r, _, _, _ in listed}
            got = (tuple(cfa_rule), listed, tuple(sorted(CALLEE_SAVED[self.arch] - ruled)), int(ra),
                   bool(signal), kinds[SP_REG[self.arch]] if SP_REG[self.arch] < n else 0, kinds[ra] if ra < n else 0)
            self._rule_cache[key] = got
        return got

    def _cfi_step(self, img: Image, t, off: int, fpc: int, regs, f):
        (cfa_kind, cfa_a, cfa_b), listed, keep, ra, signal, sp_kind, ra_kind = self._rules(t, off, fpc)
        data = t.data

        def reg(n):
            if n not in regs:
                raise Unknown(f"register {self._name(n)} was not recovered for this frame")
            return regs[n]

        if cfa_kind == _cfi.CFA_REG:
            cfa = (reg(cfa_a) + cfa_b) & ((1 << 64) - 1)
        elif cfa_kind == _cfi.CFA_EXPR:
            cfa = _address(evaluate(bytes(data[cfa_a:cfa_a + cfa_b]), reg, self._mem), reg, "the CFA")
        else:
            raise Unknown("the FDE defines no CFA")
        # unspecified callee-saved registers keep their value
        new: dict[int, int] = {r: regs[r] for r in keep if r in regs}
        slot = None
        for r, kind, a, b in listed:
            try:
                if kind == _cfi.R_SAME:
                    if r in regs:
                        new[r] = regs[r]
                elif kind == _cfi.R_OFFSET:
                    if r == ra:
                        slot = cfa + a
                    new[r] = self._mem(cfa + a, 8)
                elif kind == _cfi.R_VAL_OFFSET:
                    new[r] = cfa + a
                elif kind == _cfi.R_REGISTER:
                    if a in regs:
                        new[r] = regs[a]
                elif kind in (_cfi.R_EXPRESSION, _cfi.R_VAL_EXPRESSION):
                    v = _address(evaluate(bytes(data[a:a + b]), reg, self._mem, initial=[cfa]), reg,
                                 f"the rule for {self._name(r)}")
                    if kind == _cfi.R_EXPRESSION:
                        if r == ra:
                            slot = v
                        new[r] = self._mem(v, 8)
                    else:
                        new[r] = v
            except Unknown:
                if r == ra:
                    raise
        sp = SP_REG[self.arch]
        if sp_kind in (_cfi.R_UNSPECIFIED, _cfi.R_SAME):
            new[sp] = cfa
        if ra_kind == _cfi.R_UNDEFINED:
            f.evidence["stop"] = "end of stack (CFI marks the return address undefined: the outermost frame)"
            f.cfa = cfa
            return None
        if ra not in new:
            raise Unknown("the return address was not recovered")
        pc = new[ra]
        if self.arch == "x86-64":
            new.pop(16, None)
        if signal:
            f.evidence["signal frame"] = True
        return new, pc, TRUST_CFI, bool(signal), slot, cfa

    def _fp_step(self, regs, f):
        fp_r, sp_r = FP_REG[self.arch], SP_REG[self.arch]
        fp, sp = regs.get(fp_r), regs.get(sp_r)
        if fp is None or sp is None or fp & 7 or not (sp <= fp < sp + (1 << 24)):
            return None
        try:
            caller_fp = self._u64(fp)
            ra = self._u64(fp + 8)
        except DumpError:
            return None
        if not self.is_code(ra):
            if ra != 0:
                f.evidence["frame pointer"] = f"the word at 0x{fp + 8:x} (0x{ra:x}) is not a return address"
                return None
        # without CFI nothing says which callee-saved registers the callee pushed: only the frame
        # pointer and the stack pointer are known for the caller
        new = {fp_r: caller_fp}
        new[sp_r] = fp + 16
        if self.arch == "aarch64":
            new.pop(30, None)
        return new, ra, TRUST_FP, False, fp + 8, fp + 16

    def _scan_step(self, regs, f):
        sp = regs.get(SP_REG[self.arch])
        if sp is None:
            f.evidence["stop"] = "no stack pointer to scan from"
            return None
        start = sp + (0 if f.index == 0 else 0)
        try:
            seg = self.core.segment_of(start)
            if seg is None:
                f.evidence["stop"] = f"the stack pointer 0x{sp:x} is not in any mapping"
                return None
            end = min(seg.vaddr + seg.filesz, start + 8 * SCAN_WORDS)
            if end <= start:
                f.evidence["stop"] = f"the stack at 0x{sp:x} was not captured in the core"
                return None
            raw = self.core.read(start, end - start)
        except DumpError:
            f.evidence["stop"] = f"the stack at 0x{sp:x} could not be read"
            return None
        words = struct.unpack(f"<{len(raw) // 8}Q", raw[: len(raw) // 8 * 8])
        first = 1 if f.index == 0 and self.arch == "x86-64" else 0
        for k in range(first if f.trust != TRUST_CONTEXT else 0, len(words)):
            w = int(words[k])
            if w < 0x1000 or w >= 1 << 47:
                continue
            m = self.module_at(w)
            if m is None or not self.is_code(w) or not self._returns_here(w):
                continue
            slot = start + 8 * k
            new = {r: v for r, v in regs.items() if r == FP_REG[self.arch]}
            new[SP_REG[self.arch]] = slot + 8
            return new, w, TRUST_SCAN, False, slot, slot + 8
        f.evidence["stop"] = (f"no return address in the {len(words)} stack words scanned from 0x{start:x}")
        return None

    def _name(self, n: int) -> str:
        return self.names[n] if 0 <= n < len(self.names) else f"r{n}"

    # ------------------------------------------------------------------ symbols
    def _symbolize(self, f: Frame, exact_pc: bool) -> None:
        """Module, function, line and DWARF scopes of a frame; cached per (pc, exact, signal). The
        DWARF name and scope of the function are applied here; only frames with inlined scopes
        keep them in the evidence for ``_expand_inline``."""
        sig = bool(f.evidence.get("signal frame"))
        key = (f.pc, exact_pc, sig)
        hit = self._frame_sym.get(key)
        if hit is None:
            g = Frame(0, f.pc, None, "", evidence={"signal frame": True} if sig else {})
            g.note = f.note
            self._symbolize_slow(g, exact_pc)
            scopes = g.evidence.get("_scopes") or []
            fn = g.function
            if scopes and not scopes[0].inlined and scopes[0].name != "??":
                fn = scopes[0].name                  # DWARF's name, as gdb and eu-stack print it
            inlined = scopes if len(scopes) > 1 and any(s.inlined for s in scopes) else None
            hit = (g.signal_frame, g.module, g.module_offset, g.build, fn, g.function_offset,
                   g.function_size, g.file, g.line, g.column, g.note, inlined,
                   scopes[0].die_offset if scopes else None)
            self._frame_sym[key] = hit
        (f.signal_frame, f.module, f.module_offset, f.build, f.function, f.function_offset,
         f.function_size, f.file, f.line, f.column, f.note, inlined, f.scope) = hit
        if inlined is not None:
            f.evidence["_scopes"] = inlined

    def _symbolize_slow(self, f: Frame, exact_pc: bool) -> None:
        f.signal_frame = bool(f.evidence.get("signal frame"))
        m = self.module_at(f.pc)
        if m is None:
            return
        f.module = m.path
        f.module_offset = f.pc - m.start
        f.build = m.build
        if m.build not in ("verified", "in the core"):
            return
        if f.evidence.get("signal frame"):
            exact_pc = True
            f.note = None
        lookup = f.pc if exact_pc else f.pc - 1
        fpc = lookup - m.bias
        key = (m.start, fpc)
        hit = self._sym_cache.get(key)
        if hit is None:
            bid = self._sym_key(m)
            hit = self.symbols.get(bid, fpc) if bid else None
            if hit is None:
                hit = self._symbolize_pc(m, fpc)
                if bid:
                    self.symbols.put(bid, fpc, hit)
            self._sym_cache[key] = hit
        (f.function, off, f.function_size, f.file, f.line, f.column, scopes) = hit
        f.function_offset = off + (f.pc - lookup) if off is not None else None
        if scopes is not None:
            f.evidence["_scopes"] = scopes

    def _symbolize_pc(self, m: _Mod, fpc: int) -> tuple:
        """(function, offset at fpc, size, file, line, column, DWARF scopes) of file address fpc."""
        fn = off = size = file = line = col = scopes = None
        for img in (m.debug, m.image):
            if img is None:
                continue
            try:
                sym = img.symbol(fpc)
            except DumpError:
                sym = None
            if sym is not None:
                fn, off, size = sym
                break
        if m.debug is not None:
            try:
                ln = m.debug.line(fpc)
            except Exception:
                ln = None
            if ln is not None:
                file, line, col = ln
            try:
                scopes = m.debug.scopes(fpc)
            except Exception as e:
                self.problems.append(f"{m.path}: DWARF scopes at 0x{fpc:x}: {type(e).__name__}: {e}")
        return fn, off, size, file, line, col, scopes

    def _expand_inline(self, frames: list[Frame]) -> list[Frame]:
        out: list[Frame] = []
        for f in frames:
            scopes = f.evidence.pop("_scopes", None) or []
            if scopes and not scopes[0].inlined and scopes[0].name != "??":
                f.function = scopes[0].name          # DWARF's name, as gdb and eu-stack print it
            if scopes:
                f.scope = scopes[0].die_offset
            if len(scopes) <= 1 or not any(s.inlined for s in scopes):
                out.append(f)
                continue
            # innermost first: each inlined scope is a frame at the same pc; its caller's line is
            # the inlined scope's call site
            inner = scopes[::-1]
            file, line, col = f.file, f.line, f.column
            for k, s in enumerate(inner):
                g = Frame(0, f.pc, f.sp, f.trust, f.module, f.module_offset, f.build,
                          s.name if k < len(inner) - 1 or f.function is None else f.function,
                          None if k < len(inner) - 1 else f.function_offset,
                          file, line, col, inlined=k < len(inner) - 1, cfa=f.cfa,
                          regs=f.regs, names=f.names, slot=f.slot, note=f.note,
                          evidence=f.evidence if k == len(inner) - 1 else {}, exact=f.exact,
                          scope=s.die_offset)
                if k == len(inner) - 1 and f.function and s.name != f.function:
                    g.function = f.function
                out.append(g)
                file, line, col = s.call_file, s.call_line, s.call_column
        for i, g in enumerate(out):
            g.index = i
        return out
