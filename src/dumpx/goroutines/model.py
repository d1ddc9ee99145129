"""The model every goroutine reader produces: distinct stacks and groups of goroutines.

A *group* is goroutines that share a state and an exact stack, with their count, wait-time
range and how many are locked to a thread. Text dumps also keep per-goroutine columns (ids,
creators); aggregated formats (debug=1, pprof protobuf) only have groups. Nothing is kept as
one Python object per goroutine.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..table import Table


@dataclass(frozen=True, slots=True)
class Frame:
    func: str
    file: str | None = None
    line: int | None = None
    args: str | None = None     # as printed (debug=2); None where the format has none

    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.file else "?"


@dataclass(frozen=True, slots=True)
class Stack:
    frames: tuple[Frame, ...]
    created_by: Frame | None = None
    elided: bool = False

    def functions(self) -> tuple[str, ...]:
        return tuple(f.func for f in self.frames)

    def user_functions(self) -> tuple[str, ...]:
        """Functions outside the runtime's parking machinery (what the program was doing)."""
        return tuple(f for f in self.functions() if not runtime_package(package(f)))

    def top(self) -> str:
        """The first frame that is the program's own (not runtime, sync or time internals)."""
        for f in self.frames:
            if not plumbing_package(package(f.func)):
                return f.func
        return self.frames[0].func if self.frames else "?"


_VERSION_ELEM = re.compile(r"v[0-9]+\.")


def package(func: str) -> str:
    """The import path of a Go function as the traceback prints it:
    ``net/http.(*persistConn).readLoop`` -> ``net/http``, ``gopkg.in/yaml.v2.(*decoder).unmarshal``
    -> ``gopkg.in/yaml.v2``, ``main.main.func1`` -> ``main``. (The native reader applies the same
    rule: ``gostacks.package_len``.)"""
    slash = func.rfind("/", 0, func.find("(") if "(" in func else len(func))
    rest_at = slash + 1
    i = func.find(".", rest_at)
    while i >= 0 and _VERSION_ELEM.match(func, i + 1):
        i = func.find(".", i + 1)
    return func if i < 0 else func[:i]


def short_name(func: str) -> str:
    """The function without its package: ``(*persistConn).readLoop``, ``handler``."""
    p = package(func)
    return func[len(p) + 1:] if len(func) > len(p) else func


def runtime_package(pkg: str) -> bool:
    """The runtime's own packages: ``runtime``, ``runtime/internal/...``, ``internal/runtime/...``
    (not ``runtime/pprof`` or ``runtime/debug``, which programs call)."""
    return pkg == "runtime" or pkg.startswith(("runtime/internal/", "internal/runtime/"))


def plumbing_package(pkg: str) -> bool:
    """Packages a goroutine waits *through* rather than in: the runtime's, ``sync``, ``time`` and
    the standard library's ``internal/...``; a stack's top function is the first frame outside them."""
    return runtime_package(pkg) or pkg in ("sync", "time") or pkg.startswith("internal/")


class StackTable(Sequence):
    """The distinct stacks of a dump as columns: frames in CSR form (``indptr``; per frame a
    function id, file id and line, -1 where the dump gave none), the ``created by`` frame and the
    elision flag per stack, functions interned with their package ids. ``table[i]`` makes the
    ``Stack`` of one stack on demand, so a dump with 300,000 distinct stacks holds arrays, not
    300,000 tuples of frames."""

    def __init__(self, indptr, func, file, line, created_func, created_file, created_line, elided,
                 func_package, package_names: list[str], func_names, file_names):
        self.indptr = np.asarray(indptr, np.int64)
        self.func = np.asarray(func, np.int64)
        self.file = np.asarray(file, np.int64)
        self.line = np.asarray(line, np.int64)
        self.created_func = np.asarray(created_func, np.int64)
        self.created_file = np.asarray(created_file, np.int64)
        self.created_line = np.asarray(created_line, np.int64)
        self.elided = np.asarray(elided, bool)
        self.func_package = np.asarray(func_package, np.int64)
        self.package_names = package_names
        self._func_names = func_names          # a list, or (blob, count) decoded on first use
        self._file_names = file_names
        self._made: dict[int, Stack] = {}
        self._func_offset = self._file_offset = None     # with a blob: where each name starts, to decode a few

    @classmethod
    def from_native(cls, r: dict) -> "StackTable":
        """From ``gostacks.Stacks.results()``: names are '\n'-joined UTF-8, decoded when first asked."""
        nf, nfi, npk, _ = r["counts"]
        t = cls(r["indptr"], r["func"], r["file"], r["line"], r["created_func"], r["created_file"],
                   r["created_line"], r["elided"], r["func_package"], _split(r["packages"], npk),
                   (r["funcs"], nf), (r["files"], nfi))
        t._func_offset, t._file_offset = r["func_offset"], r["file_offset"]
        return t

    @classmethod
    def from_stacks(cls, stacks) -> "StackTable":
        """From ``Stack`` objects (the aggregated formats, tests): the same columns, interned here."""
        fid: dict[str, int] = {}
        flid: dict[str, int] = {}
        pid: dict[str, int] = {}
        fpk: list[int] = []
        indptr, func, file, line, cf, cfl, cli, el = [0], [], [], [], [], [], [], []

        def f_id(name):
            k = fid.get(name)
            if k is None:
                k = fid[name] = len(fid)
                fpk.append(pid.setdefault(package(name), len(pid)))
            return k

        def loc(fr):
            if fr.file is None or fr.line is None:
                return -1, -1
            return flid.setdefault(fr.file, len(flid)), int(fr.line)
        for st in stacks:
            for fr in st.frames:
                a, b = loc(fr)
                func.append(f_id(fr.func))
                file.append(a)
                line.append(b)
            indptr.append(len(func))
            if st.created_by is not None:
                a, b = loc(st.created_by)
                cf.append(f_id(st.created_by.func))
                cfl.append(a)
                cli.append(b)
            else:
                cf.append(-1)
                cfl.append(-1)
                cli.append(-1)
            el.append(bool(st.elided))
        t = cls(indptr, func, file, line, cf, cfl, cli, el, fpk, list(pid), list(fid), list(flid))
        t._made = dict(enumerate(stacks))
        return t

    @property
    def func_names(self) -> list[str]:
        if isinstance(self._func_names, tuple):
            self._func_names = _split(*self._func_names)
        return self._func_names

    @property
    def file_names(self) -> list[str]:
        if isinstance(self._file_names, tuple):
            self._file_names = _split(*self._file_names)
        return self._file_names

    def name(self, i: int) -> str:
        """One function's name; a dump's 400,000 names are not all decoded to show twenty."""
        return _one(self._func_names, self._func_offset, i) if isinstance(self._func_names, tuple) \
            else self._func_names[i]

    def file_name(self, i: int) -> str:
        return _one(self._file_names, self._file_offset, i) if isinstance(self._file_names, tuple) \
            else self._file_names[i]

    def names(self, ids) -> np.ndarray:
        """Function names for an array of function ids (-1 gives ``""``), as an object array."""
        ids = np.asarray(ids, np.int64)
        if len(ids) > len(self.func_package) // 8:
            names = self.func_names
            return np.array([names[i] if i >= 0 else "" for i in ids.tolist()], dtype=object)
        return np.array([self.name(i) if i >= 0 else "" for i in ids.tolist()], dtype=object)

    def frame_stack(self) -> np.ndarray:
        """For every frame row, the stack it belongs to."""
        return np.repeat(np.arange(len(self), dtype=np.int64), np.diff(self.indptr))

    def __len__(self) -> int:
        return len(self.indptr) - 1

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        i = int(i)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"stack {i} of {len(self)}")
        st = self._made.get(i)
        if st is None:
            def fr(f, fl, ln):
                return Frame(self.name(f), self.file_name(fl), ln) if fl >= 0 else Frame(self.name(f))
            a, b = int(self.indptr[i]), int(self.indptr[i + 1])
            frames = tuple(fr(f, fl, ln) for f, fl, ln in zip(self.func[a:b].tolist(), self.file[a:b].tolist(),
                                                             self.line[a:b].tolist()))
            c = int(self.created_func[i])
            st = self._made[i] = Stack(frames, fr(c, int(self.created_file[i]), int(self.created_line[i]))
                                       if c >= 0 else None, bool(self.elided[i]))
        return st

    def __repr__(self) -> str:
        return f"<StackTable {len(self)} stacks, {len(self.func)} frames, {len(self.func_package)} functions>"


def _one(names, offsets, i: int) -> str:
    """String ``i`` of a '\\n'-joined blob whose strings start at ``offsets``."""
    blob, n = names
    if offsets is None:
        return _split(blob, n)[i]
    end = int(offsets[i + 1]) - 1 if i + 1 < n else len(blob) - 1
    return blob[int(offsets[i]):end].decode("utf-8", "backslashreplace")


def _split(blob: bytes, n: int) -> list[str]:
    out = blob.decode("utf-8", "backslashreplace").split("\n")[:n] if n else []
    return out


@dataclass
class GoroutineDump:
    """Goroutines of one dump, grouped by state and stack."""

    format: str
    name: str
    stacks: StackTable               # a list of Stack is turned into one
    states: list[str]
    group_state: np.ndarray          # per group: index into states
    group_stack: np.ndarray          # per group: index into stacks
    group_count: np.ndarray
    group_wait_min: np.ndarray       # minutes, -1 = under one minute / not reported
    group_wait_max: np.ndarray
    group_locked: np.ndarray
    group_labels: list[dict] = field(default_factory=list)   # per group (debug=1, protobuf); text has none
    state_inferred: bool = False
    goroutines: Table | None = None  # per goroutine (text formats): id, group, state, stack, exact, ...
    preamble: list[str] = field(default_factory=list)
    problems: list[Any] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    total_declared: int | None = None
    creator_pairs: np.ndarray | None = None         # (group, creator goroutine id) rows, up to 16 per group
    locked_ids: list[int] | None = None             # ids of goroutines locked to threads (up to 256)
    ancestors: Table | None = None   # GODEBUG=tracebackancestors: goroutine, ancestor id, depth (1 = creator)
    group_ancestors: list[list[int]] | None = None  # per group: ancestor ids past the creator (up to 16)
    group_hidden_top: list[tuple[int, ...]] | None = None   # debug=1: the PCs above the first printed frame

    def __post_init__(self):
        if not isinstance(self.stacks, StackTable):
            self.stacks = StackTable.from_stacks(self.stacks)

    @property
    def group_creators(self) -> list[list[int]] | None:
        """Per group, the ids of the goroutines that created its goroutines (up to 16)."""
        if self.creator_pairs is None:
            return None
        out: list[list[int]] = [[] for _ in range(len(self.group_count))]
        for g, c in self.creator_pairs.tolist():
            out[g].append(c)
        return out

    @property
    def total(self) -> int:
        return int(self.group_count.sum())

    def __repr__(self) -> str:
        return (f"<GoroutineDump {self.name!r} {self.format}: {self.total} goroutines, "
                f"{len(self.stacks)} distinct stacks>")

    def _repr_pretty_(self, p, cycle) -> None:
        p.text(repr(self) if cycle else repr(self) + "\n" + self.buckets().sort_by("count").head(15).text())

    def _repr_html_(self) -> str:
        from ..render import safe_html
        return f"<p>{safe_html(repr(self))}</p>" + self.buckets().sort_by("count").head(30)._repr_html_()

    def findings(self, expect=(), diff: "GoroutineDump | None" = None):
        from .analysis import findings
        return findings(self, expect=expect, other=diff)

    def provenance(self) -> dict:
        """What the dump says about itself: how many goroutines, in how many distinct stacks."""
        out = {"goroutines": self.total, "distinct_stacks": len(self.stacks)}
        if self.preamble:
            out["first_line"] = self.preamble[0]
        if self.problems:
            out["problems"] = [str(p) for p in self.problems]
        return out

    def buckets(self, exact: bool = False) -> Table:
        from .analysis import buckets
        return buckets(self, exact=exact)
