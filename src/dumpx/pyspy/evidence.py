"""The OS evidence around a py-spy dump: thread states and wait channels, kernel stacks,
``strace -f`` logs and ``strace -c`` tables."""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass
class Task:
    tid: int
    comm: str
    state: str          # R, S, D, T, Z, ... from /proc/PID/task/TID/stat
    wchan: str          # kernel function the thread sleeps in ("0" when running)
    stack: list[str] = field(default_factory=list)   # /proc/.../stack functions, innermost first


def parse_tasks(text: str) -> dict[int, Task]:
    out = {}
    for ln in text.splitlines():
        parts = ln.split("\t")
        if len(parts) >= 4 and parts[0].isdigit():
            out[int(parts[0])] = Task(int(parts[0]), parts[1], parts[2], parts[3])
    return out


_KSTACK = re.compile(r"^\[<[0-9a-fx]+>\] ([A-Za-z0-9_.]+)\+")


def parse_kernel_stack(text: str) -> list[str]:
    """``/proc/PID/stack`` lines ``[<0>] futex_wait_queue+0x60/0xa0`` -> function names."""
    return [m.group(1) for ln in text.splitlines() if (m := _KSTACK.match(ln.strip()))]


def state_from_status(text: str) -> str | None:
    m = re.search(r"^State:\s+(\S)", text, re.M)
    return m.group(1) if m else None


@dataclass
class Syscall:
    tid: int | None
    time: str | None
    name: str
    args: str
    result: str | None        # None: never returned within the trace (still blocked)
    unfinished: bool = False


_ST = re.compile(r"^(?:\[pid\s+(\d+)\]\s+|(\d+)\s+)?(\d\d:\d\d:\d\d(?:\.\d+)?\s+)?(.*)$")


def parse_strace(text: str) -> list[Syscall]:
    """``strace -f [-tt]`` lines; ``<unfinished ...>`` joined with their ``<... resumed>`` line."""
    out: list[Syscall] = []
    open_calls: dict[tuple[int | None, str], Syscall] = {}
    for ln in text.splitlines():
        m = _ST.match(ln.strip())
        if not m:
            continue
        tid = int(m.group(1) or m.group(2)) if (m.group(1) or m.group(2)) else None
        ts = (m.group(3) or "").strip() or None
        body = m.group(4)
        if body.startswith("<... "):
            rm = re.match(r"<\.\.\. (\w+) resumed>(.*?)\)?\s*=\s*(.*)$", body)
            if rm:
                call = open_calls.pop((tid, rm.group(1)), None)
                if call is not None:
                    call.result = rm.group(3).strip()
                    call.args += rm.group(2)
                    call.unfinished = False
                else:
                    out.append(Syscall(tid, ts, rm.group(1), rm.group(2), rm.group(3).strip()))
            continue
        cm = re.match(r"(\w+)\((.*)$", body)
        if not cm:
            continue
        name, rest = cm.group(1), cm.group(2)
        if rest.endswith("<unfinished ...>"):
            call = Syscall(tid, ts, name, rest[: -len("<unfinished ...>")].rstrip(", "), None, True)
            open_calls[(tid, name)] = call
            out.append(call)
            continue
        em = re.match(r"(.*)\)\s*=\s*(.*)$", rest)
        out.append(Syscall(tid, ts, name, em.group(1) if em else rest, em.group(2).strip() if em else None))
    return out


def parse_strace_c(text: str) -> dict[str, dict[str, float]] | None:
    """``strace -c`` summary table -> {syscall: {calls, errors, seconds}}; None when there is no
    table (strace prints none when no traced thread made a system call: everything blocked)."""
    rows: dict[str, dict[str, float]] = {}
    seen_header = False
    for ln in text.splitlines():
        if ln.lstrip().startswith("% time"):
            seen_header = True
            continue
        if not seen_header or ln.startswith("-") or not ln.strip():
            continue
        parts = ln.split()
        if parts[-1] == "total":
            continue
        try:
            seconds = float(parts[1])
            calls = int(parts[3])
            errors = int(parts[4]) if len(parts) == 6 else 0
        except (ValueError, IndexError):
            continue
        rows[parts[-1]] = {"seconds": seconds, "calls": calls, "errors": errors}
    return rows if seen_header else None
