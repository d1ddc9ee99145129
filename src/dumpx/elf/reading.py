"""Reading backtraces adversarially: a ``??`` frame explained by the smash evidence under it, a
stack-protector abort named with the function that detected it, and each frame's canary slot
checked against the process's canary."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..errors import DumpError
from ..findings import Evidence, Finding, Findings, Severity
from .smash import KINDS, scan_thread

PROTECTOR_FUNCS = ("__stack_chk_fail", "__stack_chk_fail_local", "__fortify_fail", "__GI___fortify_fail",
                   "__fortify_fail_abort", "__chk_fail")


def crashing_thread_findings(core, binaries=(), search_paths=()) -> Findings:
    """The crashing thread's backtrace read: its ``??`` frames explained and a stack-protector abort
    named (cores, and minidumps through their process image)."""
    out = Findings()
    if core.threads and core.machine in ("x86-64", "aarch64"):
        u = core.unwinder(binaries, search_paths)
        bt = u.backtrace(0)
        out.extend(explain_unknown_frames(core, bt))
        out.extend(protector_findings(core, u, bt))
    return out


def frame_extent(frames, k):
    """[sp, cfa) of physical frame k, when both are known."""
    f = frames[k]
    if f.sp is None or f.cfa is None or f.cfa <= f.sp:
        return None
    return f.sp, f.cfa


def explain_unknown_frames(core, bt) -> Findings:
    """For each frame whose pc is not code: the smash run its return slot sits in, and the frame
    whose stack the run starts in (the one whose buffer overran)."""
    out = Findings()
    t = core.threads[bt.thread]
    bad = [f for f in bt.frames if f.note]
    if not bad:
        return out
    runs, _ = scan_thread(core, t)
    for f in bad:
        label = f"thread {bt.thread} (tid {bt.tid}) frame #{f.index}"
        ev = [Evidence("thread", f"{bt.thread} (tid {bt.tid})"), Evidence("frame", f.index),
              Evidence("pc", f.pc, hex=True), Evidence("why it is not code", f.note)]
        if f.slot is not None:
            ev.append(Evidence("read from the return slot at", f.slot, hex=True))
        run = None
        if f.slot is not None:
            run = next((r for r in runs if r[0] <= f.slot < r[0] + 8 * r[1]), None)
        returned = None
        if f.slot is None and f.index == 0 and t.sp is not None:
            # the context's own pc: a `ret` that already popped a smashed word leaves the pc equal
            # to that word and the rest of the run at the stack pointer. Not 0xCC...: MSVC fills
            # unwritten locals and pointers with it, so a call through one leaves the same picture
            returned = next((r for r in runs if r[3] == f.pc and r[2] != 3 and f.pc != 0xCCCCCCCCCCCCCCCC
                             and r[0] <= t.sp + 8 and t.sp - 8 < r[0] + 8 * r[1]), None)
        owner = None
        if returned is not None:
            start, words, kind, value = returned
            ev += [Evidence("stack pointer", t.sp, hex=True), Evidence("run from", start, hex=True),
                   Evidence("run to", start + 8 * words, hex=True), Evidence("run words", words),
                   Evidence("run pattern", f"{KINDS[kind]} 0x{value:016x}")]
            out.append(Finding(
                "core-frame-smashed", Severity.CRITICAL,
                f"{label}: ?? is a smashed return address already returned to: the pc 0x{f.pc:x} is the "
                f"word that fills {words} words of the stack at the stack pointer",
                ev, ["the function that returned here had its return address overwritten by that run: "
                     "find the copy into a stack buffer (memcpy/strcpy/read into a local)",
                     "rebuild with -fsanitize=address and reproduce"]))
            continue
        if run is not None:
            start, words, kind, value = run
            ev += [Evidence("smash run from", start, hex=True), Evidence("smash run to", start + 8 * words, hex=True),
                   Evidence("run words", words),
                   Evidence("run pattern", KINDS[kind] + (f" 0x{value:016x}" if kind != 3 else ""))]
            for k in range(len(bt.frames)):
                g = bt.frames[k]
                if g.inlined or g.note:
                    continue
                ext = frame_extent(bt.frames, k)
                if ext and ext[0] <= start < ext[1]:
                    owner = g
                    ev += [Evidence("the run starts in the stack frame of", f"#{g.index} {g.label}"),
                           Evidence("that frame's stack", f"0x{ext[0]:x}-0x{ext[1]:x}"),
                           Evidence("bytes from that frame's stack pointer to the run", start - ext[0]),
                           Evidence("bytes from the run to that frame's return slot", ext[1] - 8 - start)]
                    break
            f0 = bt.frames[0]
            if owner is None and f0.sp is not None and start < f0.sp <= f.slot and not f0.note:
                owner = next((g for g in bt.frames if not g.inlined), f0)
                ev += [Evidence("the run starts in the stack frame of", f"#{owner.index} {owner.label}"),
                       Evidence("bytes below that frame's stack pointer (locals it released before returning)",
                                f0.sp - start)]
            if owner is None:
                prev = next((g for g in reversed(bt.frames[:f.index]) if not g.note and not g.inlined), None)
                if prev is not None and prev.sp is not None:
                    ev.append(Evidence("run start relative to the last good frame's stack pointer",
                                       start - prev.sp))
            title = (f"{label}: ?? is a smashed return address: 0x{f.pc:x} comes from a run of {words} words of "
                     f"{KINDS[kind]}" + (f", which starts in the stack frame of {owner.function or owner.label} (#{owner.index}): "
                                         "its buffer overran the return address" if owner else ""))
            out.append(Finding("core-frame-smashed", Severity.CRITICAL, title, ev,
                               [f"read the copies into locals of {owner.function or owner.label}" if owner else
                                "find the copy into a stack buffer in the frames below the run",
                                "rebuild with -fsanitize=address and reproduce"]))
        else:
            where = "its slot" if f.slot is not None else "the stack pointer"
            out.append(Finding("core-frame-bad-pc", Severity.WARNING,
                               f"{label}: ?? at 0x{f.pc:x} is {f.note}; no smash pattern surrounds {where}",
                               ev, ["a corrupted function pointer or a stale return address; disassemble the "
                                    "caller frame to see how control got there"]))
    return out


@dataclass
class CanarySlot:
    frame: int
    function: str
    address: int
    value: int | None
    intact: bool | None


def process_canary(core) -> tuple[int | None, list[Evidence]]:
    """The stack-protector canary (x86-64: fs_base + 0x28 of the thread), cross-checked with AT_RANDOM."""
    ev: list[Evidence] = []
    if core.machine != "x86-64" or not core.threads:
        return None, ev
    fs = core.threads[0].registers.get("fs_base")
    canary = None
    if fs:
        try:
            canary = struct.unpack("<Q", core.read(fs + 0x28, 8))[0]
            ev.append(Evidence("canary at fs_base+0x28", fs + 0x28, hex=True))
        except DumpError as e:
            ev.append(Evidence("canary at fs_base+0x28", f"not readable: {e}"))
    at_random = core.auxv.get("AT_RANDOM")
    if at_random:
        try:
            rnd = struct.unpack("<Q", core.read(at_random, 8))[0]
            expect = rnd & ~0xFF
            ev.append(Evidence("AT_RANDOM bytes at", at_random, hex=True))
            if canary is None:
                canary = expect
                ev.append(Evidence("canary", "from AT_RANDOM (glibc: first 8 bytes, low byte zeroed)"))
            else:
                ev.append(Evidence("canary agrees with AT_RANDOM (glibc derivation)", canary == expect))
        except DumpError:
            pass
    return canary, ev


PROLOGUE_BYTES = 64


def _canary_store(code: bytes) -> tuple[str, int, int] | None:
    """In a function's first bytes: mov %fs:0x28,%reg then mov %reg,disp(%rbp|%rsp).
    Returns (base register, displacement, offset just past the store)."""
    i = code.find(b"\x64")
    while 0 <= i < len(code) - 9:
        # 64 REX.W 8b modrm(00 reg 100) 25 28 00 00 00
        if code[i + 1] in (0x48, 0x4C) and code[i + 2] == 0x8B and (code[i + 3] & 0xC7) == 0x04 \
                and code[i + 4] == 0x25 and code[i + 5:i + 9] == b"\x28\x00\x00\x00":
            reg = ((code[i + 3] >> 3) & 7) | (8 if code[i + 1] == 0x4C else 0)
            j = i + 9
            if j + 4 <= len(code) and code[j] in (0x48, 0x4C) and code[j + 1] == 0x89:
                modrm = code[j + 2]
                sreg = ((modrm >> 3) & 7) | (8 if code[j] == 0x4C else 0)
                mod, rm = modrm >> 6, modrm & 7
                if sreg == reg and mod in (1, 2):
                    if rm == 5:
                        n = 1 if mod == 1 else 4
                        if j + 3 + n <= len(code):
                            return "rbp", int.from_bytes(code[j + 3:j + 3 + n], "little", signed=True), j + 3 + n
                    if rm == 4 and j + 3 < len(code) and code[j + 3] == 0x24:
                        n = 1 if mod == 1 else 4
                        if j + 4 + n <= len(code):
                            return "rsp", int.from_bytes(code[j + 4:j + 4 + n], "little", signed=True), j + 4 + n
            return None
        i = code.find(b"\x64", i + 1)
    return None


def canary_slots(core, unwinder, bt, canary: int) -> list[CanarySlot]:
    """Each frame whose function stores the canary in its prologue: the slot and whether it holds it."""
    out = []
    for f in bt.frames:
        if f.inlined or f.function is None or f.note or f.evidence.get("signal frame"):
            continue
        m = unwinder.module_at(f.pc)
        if m is None or m.image is None or f.function_offset is None or not f.function_size:
            continue
        fstart = f.pc - f.function_offset
        code = unwinder._text(fstart, min(PROLOGUE_BYTES, f.function_size))
        if code is None:
            continue
        st = _canary_store(code)
        if st is None:
            continue
        base, disp, store_end = st
        if f.function_offset < store_end:
            continue                       # the pc is before the store: the slot holds nothing yet
        b = f.registers.get(base)
        if b is None:
            continue
        addr = b + disp
        try:
            v = struct.unpack("<Q", core.read(addr, 8))[0]
        except DumpError:
            out.append(CanarySlot(f.index, f.label, addr, None, None))
            continue
        out.append(CanarySlot(f.index, f.function, addr, v, v == canary))
    return out


def protector_findings(core, unwinder, bt) -> Findings:
    """A stack-protector abort (SIGABRT through __stack_chk_fail/__fortify_fail) names the function
    that detected it and the state of every canary slot on the stack."""
    out = Findings()
    si = core.siginfo or {}
    names = [f.function or "" for f in bt.frames]
    hits = [k for k, n in enumerate(names) if n in PROTECTOR_FUNCS]
    hit = hits[-1] if hits else None
    if core.machine != "x86-64":
        return out
    canary, cev = process_canary(core)
    slots = canary_slots(core, unwinder, bt, canary) if canary is not None else []
    if hit is None or si.get("signo") != 6:
        bad = [s for s in slots if s.intact is False]
        for s in bad:
            out.append(Finding("core-canary-overwritten", Severity.CRITICAL,
                               f"thread {bt.thread}: the stack canary of {s.function} (frame #{s.frame}) is "
                               f"overwritten with 0x{s.value:016x}",
                               [Evidence("slot", s.address, hex=True), Evidence("holds", s.value, hex=True),
                                Evidence("canary", canary, hex=True)] + cev,
                               ["the function had not returned yet when the process died: its buffer overran"]))
        return out
    detector = next((f for f in bt.frames[hit + 1:] if f.function not in PROTECTOR_FUNCS and not f.inlined), None)
    ev = [Evidence("signal", "SIGABRT"), Evidence("thread", f"{bt.thread} (tid {bt.tid})"),
          Evidence("abort path", " <- ".join(n for n in names[:hit + 1] if n))]
    if detector is not None:
        ev += [Evidence("detected in", detector.label), Evidence("at", f"{detector.file}:{detector.line}"
                                                                 if detector.file else f"0x{detector.pc:x}")]
    if canary is not None:
        ev.append(Evidence("process canary", canary, hex=True))
    ev += cev
    for s in slots:
        ev.append(Evidence(f"canary slot of #{s.frame} {s.function} at 0x{s.address:x}",
                           "not captured" if s.value is None else "intact" if s.intact
                           else f"overwritten with 0x{s.value:016x}"))
    title = ("stack-protector abort: " + (f"{detector.function or detector.label} found its stack canary overwritten on return"
                                          if detector else "__stack_chk_fail was called"))
    out.append(Finding("core-stack-protector", Severity.CRITICAL, title, ev,
                       [f"a buffer in {(detector.function or detector.label) if detector else 'the calling function'} was written past its "
                        "end before it returned: read its copies into locals",
                        "the frames above it on the stack are overwritten data, not callers"]))
    return out
