"""Cross-examination: what py-spy says each thread does, against what the kernel says.

Each verdict names the evidence it rests on and what would falsify it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..findings import Evidence, Finding, Findings, Severity
from ..table import Table
from .evidence import Task
from .reader import PyThread

SLEEP_WCHAN = ("hrtimer_nanosleep", "do_nanosleep", "clock_nanosleep", "schedule_hrtimeout")
IO_WCHAN = ("poll", "select", "ep_poll", "epoll", "sk_wait_data", "unix_stream_read", "tcp_recvmsg",
            "pipe_read", "pipe_wait", "wait_woken", "inet_csk_accept", "unix_stream_data_wait",
            "n_tty_read", "wait_for_data")
CONDITION_FRAMES = ("Condition.wait", "Event.wait", "Queue.get", "SimpleQueue.get", "Semaphore.acquire",
                    "BoundedSemaphore.acquire", "Barrier.wait", "Thread.join", "Future.result",
                    "_wait_for_tstate_lock")
_LOCK_REPR = re.compile(r"<(?:unlocked |locked )?_thread\.(?:R?[Ll]ock|lock)(?: object)? at (0x[0-9a-f]+)>")


@dataclass
class Verdict:
    thread: PyThread
    task: Task | None
    verdict: str
    rests_on: list[str] = field(default_factory=list)
    falsified_by: str = ""
    blocked_syscall: str | None = None

    @property
    def top(self) -> str:
        return self.thread.frames[0].text() if self.thread.frames else "(no Python frame)"


def _python_frames(t: PyThread):
    return [f for f in t.frames if not f.native]


def judge(t: PyThread, task: Task | None, blocked_syscall: str | None = None,
          native_top: str | None = None) -> Verdict:
    pyf = _python_frames(t)
    top = pyf[0].func if pyf else ""
    if task is None:
        return Verdict(t, None, "no OS evidence", [f"py-spy: {t.status}"],
                       "capture /proc/PID/task with py-spy (dumpx pyspy capture PID)")
    w, st = task.wchan, task.state
    ks = ",".join(task.stack[:3])
    base = [f"py-spy: {t.status}", f"kernel state {st}", f"wchan {w}"] + ([f"kernel stack {ks}"] if ks else [])
    if blocked_syscall:
        base.append(f"strace: {blocked_syscall} unfinished")
    if native_top:
        base.append(f"py-spy --native: in {native_top}")
    if st == "R" or w in ("0", ""):
        if t.owns_gil:
            return Verdict(t, task, "running Python, holding the GIL", base,
                           "a second capture showing it parked (state S) or without the GIL")
        return Verdict(t, task, "running native code (GIL released)" if t.status == "active"
                       else "running native code (py-spy called it idle)", base,
                       "py-spy --native showing a Python frame on top, or state S in a second capture")
    if st == "D":
        return Verdict(t, task, "in uninterruptible kernel wait (D): disk or network filesystem I/O", base,
                       "state S or R in a second capture")
    if "futex" in w or any("futex" in k for k in task.stack):
        if any(top.endswith(c) or top == c for c in CONDITION_FRAMES):
            return Verdict(t, task, f"waiting on a condition ({top}): a futex wait, idle unless nobody will notify it",
                           base, "a notify/put in a second capture's stacks, or a futex wakeup in strace")
        return Verdict(t, task, "blocked acquiring a lock (futex wait)"
                       + (" although py-spy calls it idle" if t.idle else ""), base,
                       "a second capture in which it has moved on, or strace showing the futex returning")
    if any(s in w for s in SLEEP_WCHAN):
        return Verdict(t, task, "sleeping (timer)", base, "state R, or a wchan other than a timer, later")
    if any(s in w for s in IO_WCHAN):
        return Verdict(t, task, f"waiting on I/O ({w})", base,
                       "data arriving (strace read returning) or another wchan in a second capture")
    return Verdict(t, task, f"waiting in the kernel ({w})", base, "another wchan or state in a second capture")


def lock_ids(t: PyThread) -> set[str]:
    out = set()
    for f in t.frames:
        for v in list(f.arguments.values()) + list(f.locals.values()):
            out.update(_LOCK_REPR.findall(v))
    return out


def verdict_table(verdicts: list[Verdict]) -> Table:
    import numpy as np
    return Table({"thread": np.array([v.thread.name or "?" for v in verdicts], dtype=object),
                  "os_tid": np.array([v.thread.os_tid if v.thread.os_tid is not None else -1 for v in verdicts]),
                  "py_spy": np.array([v.thread.status for v in verdicts], dtype=object),
                  "kernel_state": np.array([v.task.state if v.task else "?" for v in verdicts], dtype=object),
                  "wchan": np.array([v.task.wchan if v.task else "?" for v in verdicts], dtype=object),
                  "verdict": np.array([v.verdict for v in verdicts], dtype=object),
                  "top_frame": np.array([v.top for v in verdicts], dtype=object)},
                 title="threads: py-spy against the kernel")


def findings(verdicts: list[Verdict], strace_c_missing: bool = False, notes=()) -> Findings:
    out = Findings()
    gil = [v for v in verdicts if v.thread.owns_gil]
    for v in gil:
        out.append(Finding("pyspy-gil-holder", Severity.NOTICE,
                           f"{v.thread.label()} holds the GIL in {v.top}",
                           [Evidence("thread", v.thread.label()), Evidence("top frame", v.top),
                            Evidence("rests on", v.rests_on)],
                           ["every other thread needs the GIL to run Python: if it spins, the others "
                            "starve; a second capture tells a hot loop from a moment's work"]))
    lockers = [v for v in verdicts if v.verdict.startswith("blocked acquiring a lock")]
    for v in lockers:
        out.append(Finding("pyspy-idle-but-blocked", Severity.WARNING,
                           f"py-spy shows {v.thread.label()} as {v.thread.status}; the kernel has it "
                           f"in a futex wait at {v.top}",
                           [Evidence("thread", v.thread.label()), Evidence("rests on", v.rests_on),
                            Evidence("falsified by", v.falsified_by)],
                           ["find which lock it waits for (py-spy dump --locals shows lock objects) "
                            "and who holds it"]))
    if len(lockers) >= 2:
        ids = {v.thread.label(): lock_ids(v.thread) for v in lockers}
        shared = set.intersection(*ids.values()) if all(ids.values()) else set()
        ev = [Evidence("threads", [v.thread.label() for v in lockers]),
              Evidence("their frames", [v.top for v in lockers]),
              Evidence("wchan", [v.task.wchan for v in lockers if v.task])]
        if shared:
            ev.append(Evidence("lock objects in every one's frames", sorted(shared)))
        out.append(Finding(
            "pyspy-deadlock-suspect", Severity.CRITICAL if shared else Severity.WARNING,
            f"{len(lockers)} threads are blocked acquiring locks"
            + (f" and share the lock objects {', '.join(sorted(shared))}: a lock-order deadlock suspect"
               if shared else ": deadlock suspect"),
            ev + [Evidence("falsified by", "any of them moving on in a second capture, or strace showing "
                                           "their futex waits returning")],
            ["take a second capture in a few seconds: a deadlock does not move",
             "read the code at the frames above for two locks taken in opposite orders"]))
    for v in verdicts:
        if v.verdict.startswith("running native"):
            out.append(Finding("pyspy-native", Severity.INFO,
                               f"{v.thread.label()} is running native code at {v.top}",
                               [Evidence("rests on", v.rests_on), Evidence("falsified by", v.falsified_by)],
                               ["py-spy dump --native shows the C frames; perf top -t TID shows where"]))
        elif v.verdict.startswith(("waiting on a condition", "sleeping", "waiting on I/O")):
            out.append(Finding("pyspy-idle", Severity.INFO,
                               f"{v.thread.label()}: {v.verdict} at {v.top}",
                               [Evidence("rests on", v.rests_on), Evidence("falsified by", v.falsified_by)], []))
    if strace_c_missing:
        out.append(Finding("pyspy-strace-c-empty", Severity.NOTICE,
                           "strace -c printed no table: no traced thread made a system call in the window",
                           [], ["every thread was blocked (or spinning without syscalls) for the whole window"]))
    for n in notes:
        out.append(Finding("pyspy-note", Severity.INFO, n, [], []))
    return out
