"""A minidump seen as the process image the ELF unwinder reads: threads with registers, captured
memory as segments, the mapped files of ``/proc/PID/maps`` (Breakpad's LinuxMaps stream; the
MemoryInfoList's protections where there is none; the modules' images where neither is recorded),
the auxiliary vector, and the modules with the build-ids (or Windows debug ids) the minidump recorded. Backtraces, build
verification and symbols are then the ELF code's own (``dumpx.elf.backtrace``)."""

from __future__ import annotations

import struct

from ..elf.core import AUXV_NAMES, PF_X, Core, MappedFile, Module, Segment, Thread

PF_R, PF_W = 4, 2
MEM_COMMIT = 0x1000
PAGE_EXECUTE_ANY = 0x10 | 0x20 | 0x40 | 0x80     # EXECUTE, _READ, _READWRITE, _WRITECOPY


def _maps(text: bytes) -> list[tuple[int, int, str, int, str]]:
    """(start, end, permissions, file offset, path) of each line of /proc/PID/maps."""
    out = []
    for line in text.decode("utf-8", "backslashreplace").splitlines():
        parts = line.split(None, 5)
        if len(parts) < 5 or "-" not in parts[0]:
            continue
        try:
            a, b = (int(x, 16) for x in parts[0].split("-", 1))
            off = int(parts[2], 16)
        except ValueError:
            continue
        out.append((a, b, parts[1], off, parts[5].strip() if len(parts) > 5 else ""))
    return out


class MinidumpProcess(Core):
    """The ``Core`` interface over a ``Minidump``: ``unwinder()``, ``backtraces()``, ``verify()``,
    ``read()`` work as for an ELF core."""

    def __init__(self, md):                  # noqa: D107 - Core.__init__ parses an ELF file; not here
        self.md = md
        self.source = md.source
        self.view = md.view
        self.problems = list(md.problems)
        self.machine = md.arch
        self.truncated = False
        self.siginfo = None
        self.process = {}
        maps = _maps(md.linux_stream("LinuxMaps") or b"")
        self._maps = maps
        crashing = md.crashing_thread
        order = ([crashing] if crashing is not None else []) + [t for t in md.threads if t is not crashing]
        sig = md.exception.code if md.exception is not None else 0
        self.threads = [Thread(i, t.tid, sig if t is crashing else 0, dict(t.registers), 0)
                        for i, t in enumerate(order)]
        exe = [(a, b) for a, b, perms, _, _ in maps if "x" in perms]
        regions = md.memory_info() if not maps else []
        if regions:                           # Crashpad, Windows: the regions' protections instead
            exe = [(b, b + n) for b, n, protect, state in regions
                   if state == MEM_COMMIT and protect & PAGE_EXECUTE_ANY]
        elif not maps:
            # no protections recorded at all (a Windows MiniDumpNormal has no MemoryInfoList): a pc
            # inside a module's image may be code, so nothing there is called "not executable"
            exe = [(m.base, m.base + m.size) for m in md.modules]
        segs = []
        for start, size, rva in md._ranges:
            x = any(a <= start < b for a, b in exe)
            segs.append(Segment(start, size, rva, size, PF_R | PF_W | (PF_X if x else 0), size))
        self.segments = segs
        self._seg_starts = [s.vaddr for s in segs]
        self._last_seg = None
        self._buf = md.view.buffer
        self._exec = sorted(exe)
        self.files = [MappedFile(a, b, off // 4096, path) for a, b, _, off, path in maps
                      if path.startswith("/")]
        self.auxv = {}
        raw = md.linux_stream("LinuxAuxv") or b""
        for k in range(len(raw) // 16):
            t, v = struct.unpack_from("<QQ", raw, 16 * k)
            if t == 0:
                break
            self.auxv[AUXV_NAMES.get(t, f"AT_{t}")] = v

    def is_executable(self, address: int) -> bool:
        """From the permissions in /proc/PID/maps (code is rarely captured in a minidump)."""
        import bisect
        k = bisect.bisect_right(self._exec, (address, 1 << 64)) - 1
        return k >= 0 and self._exec[k][0] <= address < self._exec[k][1]

    def modules(self) -> list[Module]:
        return [Module(m.base, m.size, m.name, m.build_id, None, False, None, m.debug_id, m.code_id, m.debug_file)
                for m in self.md.modules]
