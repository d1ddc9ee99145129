"""Aggregated goroutine profiles: ``?debug=1`` text and the ``?debug=0`` pprof protobuf.

They carry counts per stack and labels but no states; the state is inferred from the
runtime frames at the top of each stack (``runtime.chanrecv1`` -> ``chan receive``) and the
dump says it did.
"""

from __future__ import annotations

import json
import sys
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


def _groups(fmt, name, entries, declared=None, notes=(), hidden=None):
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
                      notes=list(notes), total_declared=declared, group_hidden_top=hidden)
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


def _hidden_top(pcs: list[str], first_frame_pc: str | None) -> tuple[int, ...]:
    """The PCs of a debug=1 record above its first printed frame: runtime frames debug=1 does not
    print (a frame line shows its PC minus one, the record's ``@`` list the return address)."""
    try:
        want = int(first_frame_pc, 16) + 1 if first_frame_pc else None
        vals = [int(x, 16) for x in pcs]
    except ValueError:
        return ()
    if want is None or want not in vals:
        return ()
    return tuple(vals[:vals.index(want)])


_NO_LABELS: dict = {}            # shared by every bucket without labels (read, never written)


def _lines(view, piece: int = 1 << 20):
    """(line number, byte offset, text) of every line of ``view``, read a piece at a time: the
    file is never held as one string and one list of lines."""
    carry, base, no = b"", 0, 0
    for a in range(0, view.size, piece):
        data = carry + bytes(view.slice(a, min(piece, view.size - a)))
        parts = data.split(b"\n")
        carry = parts.pop()
        for raw in parts:
            no += 1
            yield no, base, raw.rstrip(b"\r").decode("utf-8", "backslashreplace")
            base += len(raw) + 1
    if carry:
        yield no + 1, base, carry.rstrip(b"\r").decode("utf-8", "backslashreplace")


def read_debug1(origin) -> GoroutineDump:
    src = open_source(origin)
    view = src.view()
    it = _lines(view)
    first = next(it, None)
    if first is None or not _D1_HEAD.match(first[2]):
        raise CorruptDumpError("not a debug=1 goroutine profile", offset=0,
                               expected="'goroutine profile: total N'", path=src.name)
    declared = checked_count(int(_D1_HEAD.match(first[2]).group(1)), "the header's total", 0, src.name)
    entries = []
    notes = []
    frame_of: dict[tuple, Frame] = {}             # one Frame per distinct frame line, shared by buckets
    cur = None                                    # [count, frames, labels, pcs] of the record being read
    hidden: list[tuple[int, ...]] = []
    last_no = 1
    for no, off, ln in it:
        last_no = no
        if cur is not None and ln.startswith("#"):
            if ln.startswith("# labels: "):
                try:
                    labels = json.loads(ln[len("# labels: "):])
                except (ValueError, RecursionError):
                    notes.append(f"line {no}: labels are not JSON")
                    labels = {}
                if not isinstance(labels, dict):
                    notes.append(f"line {no}: labels are not a JSON object")
                    labels = {}
                cur[2] = labels
            else:
                fm = _D1_FRAME.match(ln)
                if fm and cur[4] is None:
                    cur[4] = ln.split(None, 2)[1] if len(ln.split(None, 2)) > 1 else None
                if fm:
                    key = fm.groups()
                    f = frame_of.get(key)
                    if f is None:
                        f = frame_of[key] = Frame(key[0], sys.intern(key[1]), int(key[2]))
                    cur[1].append(f)
            continue
        if cur is not None:
            entries.append((Stack(tuple(cur[1])), cur[0], cur[2]))
            hidden.append(_hidden_top(cur[3], cur[4]))
            cur = None
        if _D1_REC.match(ln):
            cur = [checked_count(int(ln.split(" ", 1)[0]), f"line {no}: the bucket count", off, src.name), [], _NO_LABELS,
                   ln.split(" @", 1)[1].split()[:64], None]
        elif ln.strip():
            notes.append(f"line {no} not understood: {ln[:80]!r}")
    if cur is not None:
        entries.append((Stack(tuple(cur[1])), cur[0], cur[2]))
        hidden.append(_hidden_top(cur[3], cur[4]))
    d = _groups("debug1", src.name, entries, declared, notes, hidden)
    if view.size and view.read(view.size - 1, 1) != b"\n":
        cut = TruncatedDumpError(f"the profile ends in the middle of line {last_no}: its last bucket may be cut "
                                 f"and buckets after it are missing", offset=src.view().size, available=0, path=src.name)
        d.problems.append(cut)
        warnings.warn(TruncationWarning(str(cut)), stacklevel=3)
    if d.total != declared:
        d.problems.append(CorruptDumpError(
            f"the header says {declared} goroutines, the records add up to {d.total}",
            offset=0, expected=f"{declared} in the records", path=src.name))
    return d
