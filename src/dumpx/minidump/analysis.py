"""What a minidump says about the crash: the exception and where it happened, a program counter
outside every module, runs of repeated-byte or fill words over the crashing thread's captured
stack, and what the file lost."""

from __future__ import annotations

from .._native.stackscan import scan
from ..elf.core import SIGNALS
from ..elf.smash import KINDS, canonical
from ..errors import DumpError
from ..findings import Evidence, Finding, Findings, Severity
from .windows import CONTROL_FLOW_GUARD, HEAP_CHECKS, STACK_PROTECTOR, exception_name, fault_address


def findings(md) -> Findings:
    out = Findings()
    t = md.crashing_thread
    ex = md.exception
    if ex is not None:
        linux = md.system.get("os") in ("Linux", "Android")
        windows = md.system.get("os") == "Windows"
        address = ex.address
        if linux:
            what = SIGNALS.get(ex.code, f"signal {ex.code}")
        elif windows:
            what = exception_name(ex.code, ex.parameters)
            what = f"exception {what}" if what.startswith("0x") else what
            address = fault_address(ex.code, ex.address, ex.parameters)
        else:
            what = f"exception 0x{ex.code:08x}"
        m = md.module_at(t.pc) if t is not None and t.pc is not None else None
        ev = [Evidence("thread", ex.thread_id), Evidence("exception code", what),
              Evidence("address", address, hex=True)]
        if address != ex.address:
            ev.append(Evidence("instruction address", ex.address, hex=True))
        if t is not None and t.pc is not None:
            ev += [Evidence("pc", t.pc, hex=True),
                   Evidence("module", f"{m.name}+0x{t.pc - m.base:x}" if m else "none")]
        out.append(Finding("minidump-exception", Severity.WARNING,
                           f"thread {ex.thread_id} crashed: {what} at 0x{address:x}", ev,
                           ["symbolize the crashing thread's pc against the module's build "
                            "(its build-id, or a Windows module's debug id, is in the module list)"]))
        # Windows never maps the first 64 KiB; Linux's mmap_min_addr is 4 KiB at the least
        near_null = linux and ex.code in (7, 11) and address < 4096 or \
            windows and ex.code in (0xC0000005, 0xC0000006) and len(ex.parameters) >= 2 and address < 0x10000
        if near_null:
            out.append(Finding("minidump-fault-null", Severity.WARNING,
                               f"access at 0x{address:x}, inside the {'first page' if linux else 'first 64 KiB'}: "
                               "a NULL pointer plus an offset (or a small integer used as a pointer)",
                               [Evidence("exception code", what), Evidence("address", address, hex=True)],
                               ["find the pointer that was NULL at the faulting instruction"]))
        if windows:
            out.extend(_windows_checks(ex, t, what))
    if t is not None and t.pc is not None:
        if not canonical(t.pc) or (md.modules and md.module_at(t.pc) is None):
            out.append(Finding("minidump-pc-outside-modules", Severity.CRITICAL,
                               f"thread {t.tid}: the program counter 0x{t.pc:x} is in no loaded module"
                               + ("" if canonical(t.pc) else " and is non-canonical"),
                               [Evidence("thread", t.tid), Evidence("pc", t.pc, hex=True),
                                Evidence("modules", len(md.modules))],
                               ["a jump through a corrupted pointer or a smashed return address: see the "
                                "stack scan of this thread"]))
    for th in md.threads:
        out.extend(_stack_runs(md, th, crashing=th is t))
    if md.problems:
        out.append(Finding("minidump-damaged", Severity.WARNING,
                           f"the minidump is damaged or incomplete: {len(md.problems)} problems",
                           [Evidence("problem", p) for p in md.problems[:10]],
                           ["what is read from the parts listed is partial; get the crash reporter's "
                            "original upload if this copy was cut"]))
    return out


def _windows_checks(ex, t, what: str) -> Findings:
    """What a Windows exception code says by itself: a failed stack check (/GS cookie, CET shadow
    stack), a Control Flow Guard stop, heap corruption the heap noticed, an exhausted stack. An
    ordinary __fastfail (abort(), an invalid CRT argument) says none of these."""
    out = Findings()
    code, fast = ex.code, ex.parameters[0] if ex.parameters else None
    ev = [Evidence("thread", ex.thread_id), Evidence("exception code", what),
          Evidence("instruction address", ex.address, hex=True)]
    if code == 0xC0000409 and (fast is None or fast in STACK_PROTECTOR):
        caught = "a return address that did not match the shadow stack (CET)" if fast in (44, 57, 73) else \
            "an overwritten /GS stack cookie"
        out.append(Finding("minidump-stack-protector", Severity.CRITICAL,
                           f"thread {ex.thread_id} stopped itself on {caught}: a stack buffer overran the "
                           "frame of the function that checked it", ev,
                           ["the checking function is the crashing thread's frame that called "
                            "__report_gsfailure (or returned to the mismatched address): look at its stack "
                            "buffers and what wrote them",
                            "the overwritten bytes are in the captured stack: dumpx minidump stack"]))
    elif code == 0xC0000409 and fast in CONTROL_FLOW_GUARD:
        out.append(Finding("minidump-cfg-violation", Severity.CRITICAL,
                           f"thread {ex.thread_id}: Control Flow Guard stopped an indirect call or jump to a "
                           "target that is not a valid function start", ev,
                           ["a corrupted function pointer or vtable: find where the crashing frame loaded "
                            "its call target"]))
    elif code == 0xC0000374 or code == 0xC0000409 and fast in HEAP_CHECKS:
        out.append(Finding("minidump-heap-corruption", Severity.CRITICAL,
                           f"thread {ex.thread_id}: the heap found its own structures corrupted — where it "
                           "noticed, not where the damage was done", ev,
                           ["an earlier overflow, double free or use after free: reproduce under full page "
                            "heap (gflags /p /enable APP.exe /full) or ASan to stop at the write"]))
    elif code == 0xC00000FD:
        if t is not None and t.sp is not None:
            ev += [Evidence("stack pointer", t.sp, hex=True),
                   Evidence("captured stack", f"0x{t.stack_start:x} (+{t.stack_size})")]
        out.append(Finding("minidump-stack-overflow", Severity.CRITICAL,
                           f"thread {ex.thread_id} ran out of stack (its guard page was hit)", ev,
                           ["unbounded or deep recursion, or a very large stack array: look for the "
                            "repeating frames in dumpx minidump bt"]))
    return out


def _stack_runs(md, t, crashing: bool) -> Findings:
    """Runs of repeated-byte or fill words from the stack pointer up, in a thread's captured stack.
    On Windows, runs of 0xCC bytes are MSVC's /RTCs fill of locals not yet written (debug builds),
    not an overrun; a thread other than the crashing one gets a warning at most."""
    out = Findings()
    windows = md.system.get("os") == "Windows"
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
        if windows and value == 0xCCCCCCCCCCCCCCCC:
            continue
        out.append(Finding("minidump-stack-run", Severity.CRITICAL if words >= 16 and crashing else Severity.WARNING,
                           f"thread {t.tid}: {words} words of {KINDS[kind]} 0x{value:016x} on the stack "
                           f"from 0x{a:x}, {a - sp} bytes above the stack pointer",
                           [Evidence("thread", t.tid), Evidence("from", a, hex=True), Evidence("words", words),
                            Evidence("pattern", f"0x{value:016x}")],
                           ["a buffer overran into the frames above it: find the function whose frame "
                            "holds the start of the run"]))
    return out
