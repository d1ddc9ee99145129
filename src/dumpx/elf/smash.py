"""Reading a crashed thread's stack adversarially: smash patterns, hijacked control flow,
and what the faulting address really means."""

from __future__ import annotations

from .._native.stackscan import scan
from ..errors import UnmappedAddressError
from ..findings import Evidence, Finding, Findings, Severity

KINDS = {1: "repeated byte", 2: "allocator/debug fill pattern", 3: "ASCII text"}
SEGV_CODES = {1: "SEGV_MAPERR", 2: "SEGV_ACCERR", 0x80: "SI_KERNEL"}


def canonical(addr: int) -> bool:
    """x86-64 / aarch64 48-bit: bits 63..47 all equal."""
    top = addr >> 47
    return top == 0 or top == (1 << 17) - 1


def _stack_region(core, thread):
    sp = thread.sp
    seg = core.segment_of(sp) if sp is not None else None
    if seg is None:
        return None
    end = seg.vaddr + seg.filesz
    # the kernel's initial area (argv, environment, auxv strings) sits at the top of the main
    # thread's stack: text there is expected, not evidence
    for k in ("AT_EXECFN", "AT_RANDOM", "AT_PLATFORM"):
        v = core.auxv.get(k)
        if v and seg.vaddr <= v < end:
            end = min(end, v & ~7)
    return sp, max(sp, end), seg


def scan_thread(core, thread, min_repeat: int = 4, min_ascii: int = 3):
    """(runs, region): runs as (start, words, kind, value) from the stack pointer up."""
    reg = _stack_region(core, thread)
    if reg is None:
        return [], None
    sp, end, seg = reg
    start = sp & ~7
    if 0 <= seg.filesz < seg.declared_filesz:
        lost = getattr(core, "stack_not_scanned", {})
        lost[thread.index] = (seg.vaddr + seg.filesz, seg.vaddr + seg.declared_filesz,
                              "the core file is truncated there")
        core.stack_not_scanned = lost
    try:
        data = core.read(start, end - start)
    except UnmappedAddressError as e:
        lost = getattr(core, "stack_not_scanned", {})
        lost[thread.index] = (e.address, end, "the core file is truncated there" if e.truncated
                              else "not captured in the core")
        core.stack_not_scanned = lost
        data = core.read(start, e.address - start) if e.address > start else b""
    s, n, k, v = scan(data, start, min_repeat, min_ascii)
    return list(zip(s.tolist(), n.tolist(), k.tolist(), v.tolist())), (start, end)


def _frame_slots(core, thread, limit: int = 64):
    """(slot address, saved return address) along the frame-pointer chain, while it stays sane."""
    regs = thread.registers
    fp = regs.get("rbp", regs.get("x29"))
    reg = _stack_region(core, thread)
    if fp is None or reg is None:
        return []
    sp, _, seg = reg
    out = []
    for _ in range(limit):
        if not (sp <= fp < seg.end - 16) or fp & 7:
            break
        try:
            nxt, ret = core.u64(fp), core.u64(fp + 8)
        except UnmappedAddressError:
            break
        out.append((fp + 8, ret))
        if nxt <= fp:
            break
        fp = nxt
    return out


def smash_findings(core) -> Findings:
    out = Findings()
    si = core.siginfo or {}
    if si.get("signo") == 11:
        code, addr = si.get("code"), si.get("addr")
        if code == 0x80 and addr == 0:
            out.append(Finding(
                "core-fault-gp", Severity.WARNING,
                "general-protection fault: a non-canonical address was used (the kernel reports si_addr 0 "
                "for these, so 0 is not the faulting address)",
                [Evidence("signal", "SIGSEGV"), Evidence("si_code", "SI_KERNEL (0x80)"),
                 Evidence("si_addr", 0, hex=True), Evidence("NT_SIGINFO at offset", si.get("note_offset"), hex=True)],
                ["look at the instruction at the program counter and the address it used: a return "
                 "or jump to a non-canonical value is hijacked or corrupted control flow"]))
        elif code == 1 and addr is not None and addr < 4096:
            out.append(Finding("core-fault-null", Severity.WARNING,
                               f"access at 0x{addr:x}, inside the first page: a NULL pointer plus an offset "
                               "(or a small integer used as a pointer)",
                               [Evidence("si_code", "SEGV_MAPERR"), Evidence("si_addr", addr, hex=True)],
                               ["find the pointer that was NULL at the faulting instruction"]))
        elif code in (1, 2) and addr is not None:
            out.append(Finding("core-fault-address", Severity.WARNING,
                               f"{SEGV_CODES[code]} at 0x{addr:x}: "
                               + ("no mapping there" if code == 1 else "the mapping forbids the access"),
                               [Evidence("si_code", SEGV_CODES[code]), Evidence("si_addr", addr, hex=True)],
                               ["check whether the address is a freed, stale or out-of-bounds pointer"]))
    for t in core.threads:
        pc = t.pc
        label = f"thread {t.index} (tid {t.pid})"
        if pc is not None and not canonical(pc):
            out.append(Finding("core-pc-noncanonical", Severity.CRITICAL,
                               f"{label}: the program counter 0x{pc:x} is non-canonical: control flow was hijacked or corrupted",
                               [Evidence("thread", label), Evidence("pc", pc, hex=True)],
                               ["a smashed return address or function pointer: scan the stack below"]))
        elif pc is not None and not core.is_executable(pc):
            out.append(Finding("core-pc-not-executable", Severity.CRITICAL,
                               f"{label}: the program counter 0x{pc:x} is outside every executable mapping",
                               [Evidence("thread", label), Evidence("pc", pc, hex=True)],
                               ["a jump through a corrupted pointer, or code executed from data"]))
        runs, region = scan_thread(core, t)
        sp = t.sp
        slots = {a for a, _ in _frame_slots(core, t)} | ({sp} if sp is not None else set())
        for start, words, kind, value in runs:
            end = start + 8 * words
            covers_slot = any(start <= s < end for s in slots)
            if not covers_slot and (kind == 3 or words < 8):
                # text in a local buffer is normal, and so is a short run of one byte (32 bytes of '/'
                # sit above the stack pointer of every healthy fixture process); neither over a
                # return slot is
                continue
            sev = Severity.CRITICAL if kind in (1, 2) and (covers_slot or words >= 16) else Severity.WARNING
            what = KINDS[kind] + (f" 0x{value:016x}" if kind != 3 else "")
            out.append(Finding(
                "core-stack-smash", sev,
                f"{label}: {words} words of {what} on the stack at 0x{start:x}"
                + (" over a return-address slot" if covers_slot else ""),
                [Evidence("thread", label), Evidence("from", start, hex=True), Evidence("to", end, hex=True),
                 Evidence("words", words), Evidence("pattern", what),
                 Evidence("bytes above the stack pointer", start - (sp or start))],
                ["a buffer on the stack was overrun by that many bytes of that content: find the copy "
                 "(memcpy/strcpy/read into a local) in the frames just below",
                 "rebuild with -fsanitize=address and reproduce"]))
        for slot, ret in _frame_slots(core, t):
            if ret and not core.is_executable(ret):
                out.append(Finding("core-bad-return-address", Severity.WARNING,
                                   f"{label}: saved return address 0x{ret:x} at 0x{slot:x} points outside "
                                   f"executable mappings",
                                   [Evidence("thread", label), Evidence("slot", slot, hex=True),
                                    Evidence("value", ret, hex=True)],
                                   ["the frame-pointer chain leads into corrupted frames (or the code "
                                    "does not keep frame pointers)"]))
        gone = getattr(core, "stack_not_scanned", {}).get(t.index)
        if gone is not None:
            out.append(Finding("core-stack-not-scanned", Severity.NOTICE,
                               f"{label}: the stack from 0x{gone[0]:x} to 0x{gone[1]:x} could not be scanned: {gone[2]}",
                               [Evidence("thread", label), Evidence("from", gone[0], hex=True),
                                Evidence("to", gone[1], hex=True), Evidence("bytes lost", gone[1] - gone[0])],
                               ["smash evidence in that part of the stack, if any, is not in this core: get an "
                                "untruncated core (check the disk space and RLIMIT_CORE where it was written)"]))
        if sp is not None:
            try:
                top = core.u64(sp)
                if not canonical(top) and si.get("code") == 0x80 and t.index == 0:
                    out.append(Finding("core-return-noncanonical", Severity.CRITICAL,
                                       f"{label}: the word at the stack pointer, 0x{top:x}, is non-canonical: "
                                       "a `ret` here faults as a general-protection fault",
                                       [Evidence("thread", label), Evidence("stack pointer", sp, hex=True),
                                        Evidence("word", top, hex=True)],
                                       ["the saved return address was overwritten: stack buffer overflow"]))
            except UnmappedAddressError:
                pass
    return out
