"""py-spy output and the OS evidence around it: read, join by thread, cross-examine."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CorruptDumpError
from ..findings import Evidence as Ev, Finding, Severity
from ..sources import open_source
from .analysis import Verdict, findings as _findings, judge, verdict_table
from .capture import CaptureError, capture
from .evidence import Task, parse_kernel_stack, parse_strace, parse_strace_c, parse_tasks, state_from_status
from .reader import PyFrame, PySpyDump, PyThread, parse_json, parse_text

__all__ = ["load", "capture", "CaptureError", "Evidence", "PySpyDump", "PyThread", "PyFrame",
           "parse_text", "parse_json", "parse_tasks", "parse_strace", "parse_strace_c"]


@dataclass
class Evidence:
    """A py-spy dump with whatever OS evidence came with it."""

    dump: PySpyDump
    tasks: dict[int, Task] = field(default_factory=dict)
    strace: list = field(default_factory=list)
    strace_c: dict | None = None
    strace_c_present: bool = False
    meta: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    native: PySpyDump | None = None

    def native_top(self, os_tid: int | None) -> str | None:
        """The innermost named C function of a thread in the ``--native`` dump, if there is one."""
        if self.native is None or os_tid is None:
            return None
        for t in self.native.threads:
            if t.os_tid == os_tid:
                for f in t.frames:
                    if f.native and not f.func.startswith("0x"):
                        return f.func
        return None

    def verdicts(self) -> list[Verdict]:
        blocked = {}
        for c in self.strace:
            if c.result is None and c.tid is not None:
                blocked[c.tid] = f"{c.name}({c.args[:60]}"
        return [judge(t, self.tasks.get(t.os_tid) if t.os_tid is not None else None,
                      blocked.get(t.os_tid), self.native_top(t.os_tid)) for t in self.dump.threads]

    def table(self):
        return verdict_table(self.verdicts())

    def provenance(self) -> dict:
        """What the capture says about the process: pid, Python, command, and what came with it."""
        return {"pid": self.dump.pid, "python": self.dump.python, "command": self.dump.command,
                "threads": len(self.dump.threads), "kernel_tasks": len(self.tasks),
                "strace": bool(self.strace), "native": self.native is not None}

    def __repr__(self) -> str:
        return (f"<py-spy evidence: {len(self.dump.threads)} threads, pid {self.dump.pid}, "
                f"{len(self.tasks)} kernel task records{', strace' if self.strace else ''}>")

    def _repr_pretty_(self, p, cycle) -> None:
        p.text(repr(self) if cycle else repr(self) + "\n" + self.table().text() + "\n\n" + self.findings().text())

    def _repr_html_(self) -> str:
        from ..render import safe_html
        return f"<p>{safe_html(repr(self))}</p>" + self.table()._repr_html_() + self.findings()._repr_html_()

    def findings(self):
        out = _findings(self.verdicts(), self.strace_c_present and not self.strace_c, self.notes)
        for p in self.dump.problems:
            out.append(Finding("pyspy-truncated", Severity.WARNING, "the py-spy output is cut: the result is partial",
                               [Ev("problem", str(p)), Ev("offset", p.offset)],
                               ["capture again (dumpx pyspy capture PID) or copy the whole file; a thread missing "
                                "from this dump may have been cut, not gone"]))
        return out


def open_detected(source, det) -> Evidence:
    """``dumpx.open`` hook for a single py-spy text or JSON file."""
    v = source.view()
    return Evidence(_dump_from(v.read(0, v.size).decode("utf-8", "backslashreplace")))


def _read_text(p: Path) -> str:
    with open_source(p) as s:
        v = s.view()
        return v.read(0, v.size).decode("utf-8", "backslashreplace")


def _dump_from(text: str) -> PySpyDump:
    return parse_json(text) if text.lstrip()[:1] == "[" else parse_text(text)


def load(path) -> Evidence:
    """A capture bundle (directory) or a single py-spy text/JSON file."""
    p = Path(path)
    if not p.is_dir():
        return Evidence(_dump_from(_read_text(p)))
    files = {f.name: f for f in p.iterdir()}
    dump = None
    if "pyspy.json" in files:
        dump = parse_json(_read_text(files["pyspy.json"]))
    if "pyspy-locals.txt" in files:
        loc = parse_text(_read_text(files["pyspy-locals.txt"]))
        if dump is None:
            dump = loc
        else:                             # attach locals to the JSON threads by OS thread id
            by_tid = {t.os_tid: t for t in loc.threads}
            for t in dump.threads:
                lt = by_tid.get(t.os_tid)
                if lt and len(lt.frames) == len(t.frames):
                    for f, lf in zip(t.frames, lt.frames):
                        f.arguments, f.locals = lf.arguments, lf.locals
    if "pyspy.txt" in files:
        txt = parse_text(_read_text(files["pyspy.txt"]))
        if dump is None:
            dump = txt
        else:
            dump.pid, dump.command, dump.python = txt.pid or dump.pid, txt.command, txt.python
    if dump is None:
        raise CorruptDumpError(f"{p}: no pyspy.json, pyspy.txt or pyspy-locals.txt in the bundle",
                               offset=None, expected="a dumpx pyspy capture directory")
    ev = Evidence(dump)
    if "pyspy-native.txt" in files:
        ev.native = parse_text(_read_text(files["pyspy-native.txt"]))
    if "tasks.tsv" in files:
        ev.tasks = parse_tasks(_read_text(files["tasks.tsv"]))
        for tid, task in ev.tasks.items():
            d = p / "task" / str(tid)
            if (d / "stack").exists():
                task.stack = parse_kernel_stack(_read_text(d / "stack"))
            if (d / "status").exists():
                task.state = state_from_status(_read_text(d / "status")) or task.state
    if "tasks-after.tsv" in files and ev.tasks:
        after = parse_tasks(_read_text(files["tasks-after.tsv"]))
        moved = [f"{tid} {t.state}/{t.wchan} -> {after[tid].state}/{after[tid].wchan}"
                 for tid, t in ev.tasks.items() if tid in after and
                 (after[tid].state, after[tid].wchan) != (t.state, t.wchan)]
        gone = sorted(set(ev.tasks) - set(after))
        if moved:
            ev.notes.append("threads whose kernel state changed between the reads before and after "
                            "py-spy: " + "; ".join(moved[:10]))
        if gone:
            ev.notes.append(f"threads gone by the second read: {gone[:10]}")
    if "strace.log" in files:
        ev.strace = parse_strace(_read_text(files["strace.log"]))
    if "strace-c.txt" in files:
        ev.strace_c_present = True
        ev.strace_c = parse_strace_c(_read_text(files["strace-c.txt"]))
    if "meta.json" in files:
        try:
            ev.meta = json.loads(_read_text(files["meta.json"]))
        except (ValueError, RecursionError):
            ev.notes.append("meta.json does not parse")
    if dump.unknown_lines:
        ev.notes.append(f"{len(dump.unknown_lines)} py-spy lines not understood (kept): "
                        f"first at line {dump.unknown_lines[0][0]}")
    return ev
