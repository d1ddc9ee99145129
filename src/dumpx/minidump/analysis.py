"""What a minidump says about the crash: the exception and where it happened, a program counter
outside every module, runs of repeated-byte or fill words over the crashing thread's captured
stack, and what the file lost."""

from __future__ import annotations

from .._native.stackscan import scan
from ..elf.core import SIGNALS
from ..elf.smash import KINDS, canonical
from ..errors import DumpError
from ..findings import Evidence, Finding, Findings, Severity


def findings(md) -> Findings:
    out = Findings()
    t = md.crashing_thread
    ex = md.exception
    if ex is not None:
        linux = md.system.get("os") in ("Linux", "Android")
        what = SIGNALS.get(ex.code, f"signal {ex.code}") if linux else f"exception 0x{ex.code:08x}"
        m = md.module_at(t.pc) if t is not None and t.pc is not None else None
        ev = [Evidence("thread", ex.thread_id), Evidence("exception code", what),
              Evidence("address", ex.address, hex=True)]
        if t is not None and t.pc is not None:
            ev += [Evidence("pc", t.pc, hex=True),
                   Evidence("module", f"{m.name}+0x{t.pc - m.base:x}" if m else "none")]
        out.append(Finding("minidump-exception", Severity.WARNING,
                           f"thread {ex.thread_id} crashed: {what} at 0x{ex.address:x}", ev,
                           ["symbolize the crashing thread's pc against the module's build "
                            "(its build-id, or a Windows module's debug id, is in the module list)"]))
        if linux and ex.code in (7, 11) and ex.address < 4096:
            out.append(Finding("minidump-fault-null", Severity.WARNING,
                               f"access at 0x{ex.address:x}, inside the first page: a NULL pointer plus an "
                               "offset (or a small integer used as a pointer)",
                               [Evidence("exception code", what), Evidence("address", ex.address, hex=True)],
                               ["find the pointer that was NULL at the faulting instruction"]))
    if t is not None and t.pc is not None:
        if not canonical(t.pc) or (md.modules and md.module_at(t.pc) is None):
            out.append(Finding("minidump-pc-outside-modules", Severity.CRITICAL,
                               f"thread {t.tid}: the program counter 0x{t.pc:x} is in no loaded module"
                               + ("" if canonical(t.pc) else " and is non-canonical"),
                               [Evidence("thread", t.tid), Evidence("pc", t.pc, hex=True),
                                Evidence("modules", len(md.modules))],
                               ["a jump through a corrupted pointer or a smashed return address: see the "
                                "stack scan of this thread"]))
        out.extend(_stack_runs(md, t))
    if md.problems:
        out.append(Finding("minidump-damaged", Severity.WARNING,
                           f"the minidump is damaged or incomplete: {len(md.problems)} problems",
                           [Evidence("problem", p) for p in md.problems[:10]],
                           ["what is read from the parts listed is partial; get the crash reporter's "
                            "original upload if this copy was cut"]))
    return out


def _stack_runs(md, t) -> Findings:
    """Runs of repeated-byte or fill words from the stack pointer up, in the captured stack."""
    out = Findings()
    sp = t.sp
    if sp is None or t.stack_size == 0 or not t.stack_start <= sp < t.stack_start + t.stack_size:
        return out
    end = t.stack_start + t.stack_size
    start = sp & ~7
    try:
        data = md.read(start, end - start)
    except DumpError:                         # the stack's bytes are not all in the file
        return out
    s, n, k, v = scan(data, start, 4, 3)
    for a, words, kind, value in zip(s, n, k, v):
        if kind == 3 or words < 8:
            continue                  # text in a buffer, and short runs, are ordinary stack contents
        out.append(Finding("minidump-stack-run", Severity.CRITICAL if words >= 16 else Severity.WARNING,
                           f"thread {t.tid}: {words} words of {KINDS[kind]} 0x{value:016x} on the stack "
                           f"from 0x{a:x}, {a - sp} bytes above the stack pointer",
                           [Evidence("thread", t.tid), Evidence("from", a, hex=True), Evidence("words", words),
                            Evidence("pattern", f"0x{value:016x}")],
                           ["a buffer overran into the frames above it: find the function whose frame "
                            "holds the start of the run"]))
    return out
