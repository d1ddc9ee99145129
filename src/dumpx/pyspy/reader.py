"""py-spy dump output, text and ``--json``, into one model.

Threads of one process are few (dozens, rarely thousands), so each is a small Python object.
Lines the text reader does not understand are kept with their line numbers, not dropped.
"""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass, field

from ..errors import CorruptDumpError, TruncatedDumpError, TruncationWarning


@dataclass
class PyFrame:
    func: str
    file: str | None
    line: int | None
    native: bool = False
    arguments: dict[str, str] = field(default_factory=dict)
    locals: dict[str, str] = field(default_factory=dict)

    def text(self) -> str:
        return f"{self.func} ({self.file}:{self.line})" if self.line is not None else f"{self.func} ({self.file})"


@dataclass
class PyThread:
    thread_id: int | None          # pthread id (hex in older py-spy text, "thread_id" in JSON)
    os_tid: int | None             # kernel thread id (newer py-spy text, "os_thread_id" in JSON)
    name: str | None
    status: str                    # idle | active | active+gil
    frames: list[PyFrame] = field(default_factory=list)

    @property
    def owns_gil(self) -> bool:
        return self.status == "active+gil"

    @property
    def idle(self) -> bool:
        return self.status == "idle"

    def label(self) -> str:
        return f"{self.name or '?'} (tid {self.os_tid if self.os_tid is not None else hex(self.thread_id or 0)})"


@dataclass
class PySpyDump:
    pid: int | None
    command: str | None
    python: str | None
    threads: list[PyThread]
    source: str                    # "text" or "json"
    unknown_lines: list[tuple[int, str]] = field(default_factory=list)
    problems: list = field(default_factory=list)      # DumpErrors: what is partial and where


_PROCESS = re.compile(r"^Process (\d+): (.*)$")
_PYTHON = re.compile(r"^Python v(\S+)(?: \((.*)\))?$")
_THREAD = re.compile(r'^Thread (0x[0-9A-Fa-f]+|\d+) \((idle|active|active\+gil)\)(?:: "(.*)")?$')
def _frame(ln: str) -> tuple[str, str, str | None] | None:
    """``    function (file:line)`` -> (function, file, line or None); linear in the line (a regex with
    two lazy groups took minutes on one 600 KB line)."""
    if not ln.startswith("    ") or ln[4:5].isspace() or not ln.endswith(")"):
        return None
    k = ln.find(" (", 5)
    if k < 0:
        return None
    loc = ln[k + 2:-1]
    file, colon, line = loc.rpartition(":")
    if colon and line.isdigit() and line.isascii():
        return ln[4:k], file, line
    return ln[4:k], loc, None


_VAR = re.compile(r"^            ([^:]+): (.*)$")


def parse_text(text: str) -> PySpyDump:
    pid = command = python = None
    threads: list[PyThread] = []
    unknown: list[tuple[int, str]] = []
    block = None
    for no, ln in enumerate(text.splitlines(), 1):
        if not ln.strip():
            continue
        if m := _PROCESS.match(ln):
            pid, command = int(m.group(1)), m.group(2)
        elif m := _PYTHON.match(ln):
            python = m.group(1)
        elif m := _THREAD.match(ln):
            ident = m.group(1)
            hexid = ident.lower().startswith("0x")
            threads.append(PyThread(int(ident, 16) if hexid else None, None if hexid else int(ident),
                                    m.group(3), m.group(2)))
            block = None
        elif threads and (fr := _frame(ln)):
            f, loc, line = fr
            threads[-1].frames.append(PyFrame(f, loc, int(line) if line else None, native=line is None))
            block = None
        elif threads and threads[-1].frames and ln.strip() in ("Arguments:", "Locals:") and ln.startswith("        "):
            block = "arguments" if ln.strip() == "Arguments:" else "locals"
        elif block and (m := _VAR.match(ln)):
            getattr(threads[-1].frames[-1], block)[m.group(1)] = m.group(2)
        else:
            unknown.append((no, ln))
    if not threads:
        raise CorruptDumpError("no 'Thread N (idle|active|active+gil)' line", offset=0,
                               expected="py-spy dump output")
    d = PySpyDump(pid, command, python, threads, "text", unknown)
    if text and not text.endswith("\n"):
        # py-spy ends every dump with a newline: the file was cut (a copy, a killed capture)
        cut = TruncatedDumpError(f"the py-spy text ends in the middle of line {text.count(chr(10)) + 1}: the last "
                                 f"thread's frames may be cut and threads after it are missing",
                                 offset=len(text.encode("utf-8", "surrogateescape")), available=0)
        d.problems.append(cut)
        warnings.warn(TruncationWarning(str(cut)), stacklevel=2)
    return d


def _typed(value, kind):
    """``value`` when it has the JSON type py-spy writes there, else None (bool is not an int)."""
    return value if isinstance(value, kind) and not (kind is int and isinstance(value, bool)) else None


def parse_json(data: str | bytes) -> PySpyDump:
    try:
        doc = json.loads(data)
    except ValueError as e:
        raise CorruptDumpError(f"py-spy JSON does not parse: {e}", offset=getattr(e, "pos", 0),
                               expected="a JSON list of threads") from None
    except RecursionError:
        raise CorruptDumpError("py-spy JSON is nested deeper than any py-spy output (and than the JSON "
                               "parser's recursion limit)", offset=None, expected="a JSON list of threads") from None
    if not isinstance(doc, list):
        raise CorruptDumpError("py-spy JSON is not a list of threads", offset=0, expected="[...]")
    threads = []
    pid = None
    for t in doc:
        if not isinstance(t, dict):
            continue
        pid = _typed(t.get("pid"), int) if "pid" in t else pid
        status = "active+gil" if t.get("owns_gil") is True else "active" if t.get("active") is True else "idle"
        frames = []
        for f in _typed(t.get("frames"), list) or []:
            if not isinstance(f, dict):
                continue
            loc = _typed(f.get("locals"), list) or []
            args = {str(v.get("name")): str(v.get("repr")) for v in loc if isinstance(v, dict) and v.get("arg") is True}
            lcl = {str(v.get("name")): str(v.get("repr")) for v in loc if isinstance(v, dict) and v.get("arg") is not True}
            frames.append(PyFrame(str(f.get("name")), _typed(f.get("short_filename"), str) or _typed(f.get("filename"), str),
                                  _typed(f.get("line"), int), False, args, lcl))
        threads.append(PyThread(_typed(t.get("thread_id"), int), _typed(t.get("os_thread_id"), int),
                                _typed(t.get("thread_name"), str), status, frames))
    if not threads:
        raise CorruptDumpError("py-spy JSON holds no thread", offset=0, expected="thread objects")
    return PySpyDump(pid, None, None, threads, "json")
