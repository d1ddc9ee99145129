"""Aggregated goroutine profiles: ``?debug=1`` text and the ``?debug=0`` pprof protobuf.

They carry counts per stack and labels but no states; the state is inferred from the
runtime frames at the top of each stack (``runtime.chanrecv1`` -> ``chan receive``) and the
dump says it did.
"""

from __future__ import annotations

import json
import re
import warnings

import numpy as np

from ..errors import CorruptDumpError, TruncatedDumpError, TruncationWarning
from ..sources import open_source
from .model import Frame, GoroutineDump, Stack

# first matching function (searched from the top of the stack) -> state, as debug=2 names it
STATE_RULES: list[tuple[str, str]] = [
    ("runtime.chanrecv", "chan receive"), ("runtime.chansend", "chan send"),
    ("runtime.selectgo", "select"), ("runtime.block", "select (no cases)"),
    ("sync.runtime_SemacquireMutex", "sync.Mutex.Lock"),
    ("internal/sync.runtime_SemacquireMutex", "sync.Mutex.Lock"), ("sync.(*Mutex).Lock", "sync.Mutex.Lock"),
    ("sync.runtime_SemacquireRWMutexR", "sync.RWMutex.RLock"),
    ("sync.runtime_SemacquireRWMutex", "sync.RWMutex.Lock"),
    ("sync.runtime_SemacquireWaitGroup", "sync.WaitGroup.Wait"),
    ("sync.(*WaitGroup).Wait", "sync.WaitGroup.Wait"), ("sync.runtime_Semacquire", "semacquire"),
    ("sync.runtime_notifyListWait", "sync.Cond.Wait"), ("time.Sleep", "sleep"),
    ("internal/poll.runtime_pollWait", "IO wait"), ("syscall.Syscall", "syscall"),
    ("syscall.syscall", "syscall"), ("syscall.RawSyscall", "syscall"),
    ("runtime/pprof.writeGoroutine", "running"), ("runtime.goexit", "runnable"),
]


def infer_state(funcs: tuple[str, ...]) -> str:
    for f in funcs:
        for prefix, state in STATE_RULES:
            if f.startswith(prefix):
                return state
    return "unknown"


def _groups(fmt, name, entries, declared=None, notes=()):
    """entries: list of (Stack, count, labels) -> GoroutineDump with inferred states."""
    stack_index: dict[Stack, int] = {}
    stacks: list[Stack] = []
    states: list[str] = []
    state_index: dict[str, int] = {}
    gstate, gstack, gcount, labels = [], [], [], []
    for st, count, lab in entries:
        si = stack_index.setdefault(st, len(stacks))
        if si == len(stacks):
            stacks.append(st)
        s = infer_state(st.functions())
        ti = state_index.setdefault(s, len(states))
        if ti == len(states):
            states.append(s)
        gstate.append(ti)
        gstack.append(si)
        gcount.append(count)
        labels.append(lab)
    n = len(gcount)
    d = GoroutineDump(fmt, name, stacks, states, np.array(gstate, np.int64), np.array(gstack, np.int64),
                      np.array(gcount, np.int64), np.full(n, -1, np.int64), np.full(n, -1, np.int64),
                      np.zeros(n, np.int64), group_labels=labels, state_inferred=True,
                      notes=list(notes), total_declared=declared)
    d.notes.append("states inferred from runtime frames (this format records none)")
    return d


MAX_COUNT = 1 << 32       # goroutines per bucket or per dump: each holds >= 2 KiB of stack, so 8 TiB


def checked_count(value: int, what: str, offset: int, name: str) -> int:
    """A count from the dump, refused before any arithmetic when no process could hold it."""
    if not 0 <= value <= MAX_COUNT:
        raise CorruptDumpError(f"{what} {value} is not a goroutine count any process can have", offset=offset,
                               expected=f"0..{MAX_COUNT:,}", path=name)
    return value


_D1_HEAD = re.compile(r"^goroutine profile: total (\d+)$")
_D1_REC = re.compile(r"^(\d+) @( 0x[0-9a-f]+)*$")
_D1_FRAME = re.compile(r"^#\s+0x[0-9a-f]+\s+(\S+?)(?:\+0x[0-9a-f]+)?\s+(.*):(\d+)$")


def read_debug1(origin) -> GoroutineDump:
    src = open_source(origin)
    text = src.view().read(0, src.view().size).decode("utf-8", "backslashreplace")
    lines = text.splitlines()
    if not lines or not _D1_HEAD.match(lines[0]):
        raise CorruptDumpError("not a debug=1 goroutine profile", offset=0,
                               expected="'goroutine profile: total N'", path=src.name)
    declared = checked_count(int(_D1_HEAD.match(lines[0]).group(1)), "the header's total", 0, src.name)
    entries = []
    notes = []
    i, off = 1, len(lines[0]) + 1
    while i < len(lines):
        ln = lines[i]
        m = _D1_REC.match(ln)
        if not m:
            if ln.strip():
                notes.append(f"line {i + 1} not understood: {ln[:80]!r}")
            off += len(ln.encode("utf-8", "surrogateescape")) + 1
            i += 1
            continue
        count = checked_count(int(ln.split(" ", 1)[0]), f"line {i + 1}: the bucket count", off, src.name)
        frames, labels = [], {}
        off += len(ln.encode("utf-8", "surrogateescape")) + 1
        i += 1
        while i < len(lines) and lines[i].startswith("#"):
            l2 = lines[i]
            off += len(l2.encode("utf-8", "surrogateescape")) + 1
            if l2.startswith("# labels: "):
                try:
                    labels = json.loads(l2[len("# labels: "):])
                except (ValueError, RecursionError):
                    notes.append(f"line {i + 1}: labels are not JSON")
                if not isinstance(labels, dict):
                    notes.append(f"line {i + 1}: labels are not a JSON object")
                    labels = {}
            else:
                fm = _D1_FRAME.match(l2)
                if fm:
                    frames.append(Frame(fm.group(1), fm.group(2), int(fm.group(3))))
            i += 1
        entries.append((Stack(tuple(frames)), count, labels))
    d = _groups("debug1", src.name, entries, declared, notes)
    if text and not text.endswith("\n"):
        cut = TruncatedDumpError(f"the profile ends in the middle of line {len(lines)}: its last bucket may be cut "
                                 f"and buckets after it are missing", offset=src.view().size, available=0, path=src.name)
        d.problems.append(cut)
        warnings.warn(TruncationWarning(str(cut)), stacklevel=3)
    if d.total != declared:
        d.problems.append(CorruptDumpError(
            f"the header says {declared} goroutines, the records add up to {d.total}",
            offset=0, expected=f"{declared} in the records", path=src.name))
    return d
