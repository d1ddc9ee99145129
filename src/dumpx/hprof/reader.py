"""HPROF reader: the header, one streaming pass over the records, and what it found."""

from __future__ import annotations

import shutil
import struct
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .._native.hprofscan import ScanError, Scanner
from ..errors import CorruptDumpError, DumpError, TruncatedDumpError, TruncationWarning
from ..sources import Source, open_source
from .names import class_name

VERSIONS = ("JAVA PROFILE 1.0.1", "JAVA PROFILE 1.0.2", "JAVA PROFILE 1.0.3")
BASIC_TYPES = {2: "object", 4: "boolean", 5: "char", 6: "float", 7: "double", 8: "byte",
               9: "short", 10: "int", 11: "long"}
ARRAY_CODES = {4: "Z", 5: "C", 6: "F", 7: "D", 8: "B", 9: "S", 10: "I", 11: "J"}
ELEM_SIZE = {4: 1, 5: 2, 6: 4, 7: 8, 8: 1, 9: 2, 10: 4, 11: 8}
TOP_TAGS = {0x01: "UTF8", 0x02: "LOAD CLASS", 0x03: "UNLOAD CLASS", 0x04: "FRAME", 0x05: "TRACE",
            0x06: "ALLOC SITES", 0x07: "HEAP SUMMARY", 0x0A: "START THREAD", 0x0B: "END THREAD",
            0x0C: "HEAP DUMP", 0x0D: "CPU SAMPLES", 0x0E: "CONTROL SETTINGS",
            0x1C: "HEAP DUMP SEGMENT", 0x2C: "HEAP DUMP END"}
ROOT_TAGS = {0xFF: "unknown", 0x01: "JNI global", 0x02: "JNI local", 0x03: "Java frame",
             0x04: "native stack", 0x05: "sticky class", 0x06: "thread block",
             0x07: "monitor used", 0x08: "thread object", 0x89: "interned string",
             0x8A: "finalizing", 0x8B: "debugger", 0x8C: "reference cleanup",
             0x8D: "VM internal", 0x8E: "JNI monitor", 0x90: "unreachable"}

FEED_WINDOW = 64 << 20
MAX_CARRY = 64 << 20


@dataclass
class Header:
    version: str
    id_size: int
    timestamp_ms: int
    length: int


def read_header(head: bytes, name: str | None = None) -> Header:
    """Parse the HPROF header; raise a DumpError that says what is wrong with it."""
    nul = head.find(b"\x00", 0, 32)
    if nul < 0:
        if len(head) < 32 and b"JAVA PROFILE".startswith(head[:12]):
            raise TruncatedDumpError("HPROF header is cut short", offset=0, wanted=31,
                                     available=len(head), path=name)
        raise CorruptDumpError("no NUL-terminated HPROF version string", offset=0,
                               expected="'JAVA PROFILE 1.0.x\\0'", path=name)
    version = head[:nul].decode("ascii", "replace")
    if version not in VERSIONS:
        from ..errors import UnsupportedFormatError
        raise UnsupportedFormatError(f"unknown HPROF version {version!r}", detected="hprof",
                                     path=name)
    if len(head) < nul + 13:
        raise TruncatedDumpError("HPROF header is cut short", offset=nul + 1, wanted=12,
                                 available=len(head) - nul - 1, path=name)
    id_size, hi, lo = struct.unpack_from(">III", head, nul + 1)
    if id_size not in (4, 8):
        raise CorruptDumpError(f"identifier size {id_size}", offset=nul + 1,
                               expected="4 or 8", path=name)
    return Header(version[len("JAVA PROFILE "):], id_size, (hi << 32) | lo, nul + 13)


@dataclass
class ScanResult:
    """Everything the single pass collected, plus what went wrong and how far it got."""

    header: Header
    raw: dict[str, Any]
    bytes_scanned: int
    total_bytes: int | None
    complete: bool
    problems: list[DumpError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    fetched: dict = field(default_factory=dict)

    # -- names -------------------------------------------------------------------------
    def _utf8_index(self):
        if not hasattr(self, "_u8"):
            ids = self.raw["utf8_ids"]
            order = np.argsort(ids, kind="stable")
            self._u8 = (ids[order], order)
        return self._u8

    def strings(self, ids) -> list[str | None]:
        """The UTF8 records for ``ids`` (None where a string id was never defined)."""
        sorted_ids, order = self._utf8_index()
        ids = np.asarray(ids, dtype=np.int64)
        pos = np.searchsorted(sorted_ids, ids)
        blob, off, ln = self.raw["blob"], self.raw["utf8_off"], self.raw["utf8_len"]
        out: list[str | None] = []
        for i, p in zip(ids.tolist(), pos.tolist()):
            if p < len(sorted_ids) and sorted_ids[p] == i:
                k = order[p]
                out.append(blob[off[k]:off[k] + ln[k]].decode("utf-8", "backslashreplace"))
            else:
                out.append(None)
        return out

    def dump_column(self, name: str, idx):
        """A CLASS DUMP column (``super``, ``loader``, ``instance_size``, ``field_start``,
        ``field_count``, ``static_start``, ``static_count``, ``dump_offset``) for the classes
        ``idx``, which must have been dumped (``raw["classes"]["dumped"]``). The scan keeps these
        per dumped class, not per class named: a dump can name a million classes it never dumps."""
        return self.raw["class_dumps"][name][self.raw["classes"]["dump_row"][idx]]

    def class_names(self, idx=None) -> np.ndarray:
        """Java names per dense class index (``java.lang.String``, ``[Ljava.lang.Object;``), for
        every class or only for the indices ``idx`` (a dump can name a million classes: callers
        that show a few ask for a few). A class without a LOAD CLASS name is ``<class 0x..>``."""
        if getattr(self, "_names", None) is not None:
            return self._names if idx is None else self._names[np.asarray(idx, dtype=np.int64)]
        every = idx is None
        ids = self.raw["classes"]["id"]
        if not every:
            ids = ids[np.asarray(idx, dtype=np.int64)]
        names = np.empty(len(ids), dtype=object)
        found = np.zeros(len(ids), dtype=bool)
        lc = self._load_class_index()
        if len(lc[0]) and len(ids):
            keys, vals = lc
            pos = np.minimum(np.searchsorted(keys, ids), len(keys) - 1)
            hit = np.flatnonzero(keys[pos] == ids)
            sids = vals[pos[hit]]
            sorted_ids, sorder = self._utf8_index()
            spos = np.minimum(np.searchsorted(sorted_ids, sids), max(len(sorted_ids) - 1, 0))
            ok = sorted_ids[spos] == sids if len(sorted_ids) else np.zeros(len(sids), bool)
            hit, k = hit[ok], sorder[spos[ok]]
            blob, off, ln = self.raw["blob"], self.raw["utf8_off"][k], self.raw["utf8_len"][k]
            for i, o, n in zip(hit.tolist(), off.tolist(), ln.tolist()):
                if n:
                    nm = blob[o:o + n].decode("utf-8", "backslashreplace").replace("/", ".")
                    if nm.endswith("[]"):              # the hprof agent's spelling of array classes
                        nm = class_name(nm)
                    names[i] = nm
                    found[i] = True
        for i in np.flatnonzero(~found).tolist():
            names[i] = f"<class 0x{int(ids[i]) & (2**64 - 1):x}>"
        if every:
            self._names = names
        return names

    def _load_class_index(self):
        """LOAD CLASS records as (class ids sorted, their name string ids), built once."""
        if getattr(self, "_lc", None) is None:
            lc = self.raw["load_class"]
            order = np.argsort(lc[:, 1], kind="stable")
            self._lc = (lc[order, 1], lc[order, 2])
        return self._lc


class _Progress:
    def __init__(self, callback: Callable[[int, int | None], None] | None, total: int | None):
        self.cb = callback
        self.total = total

    def __call__(self, done: int) -> None:
        if self.cb:
            self.cb(done, self.total)


def scan(source: Source, *, progress: Callable[[int, int | None], None] | None = None,
         snapshot: int = 0, fetch=None) -> ScanResult:
    """One pass over an HPROF source. Damage ends the pass early; the result says so.

    A file can hold several heap dumps (snapshots); ``snapshot`` picks the one to count
    (0 = the first) and the result says how many there are.
    """
    head = source.head(64)
    header = read_header(head, source.name)
    plain = source.compression is None
    sc = Scanner(header.id_size, source.size if plain else -1, snapshot)
    sc.offset = header.length
    if fetch is not None:
        sc.set_fetch(np.asarray(list(fetch), dtype=np.uint64))
    prog = _Progress(progress, source.size if plain else None)
    problems: list[DumpError] = []
    notes: list[str] = []
    consumed = header.length
    leftover = 0
    at_eof = False
    carry = b""
    if not plain and source._view is not None and source.damage is None:
        plain = True                    # already spilled to a mapped work file: read that
    try:
        if plain:
            buf = source.view().buffer
            pos = header.length
            n = len(buf)
            while pos < n or not at_eof:
                end = min(n, pos + FEED_WINDOW)
                at_eof = end >= n
                used = sc.feed(buf[pos:end], at_eof)
                if used == 0 and not at_eof:
                    if end - pos >= MAX_CARRY:
                        raise CorruptDumpError("a record needs more than 64 MiB to be read whole",
                                               offset=pos, expected="a plausible record length",
                                               path=source.name)
                    end = min(n, pos + 2 * (end - pos))
                    at_eof = end >= n
                    used = sc.feed(buf[pos:end], at_eof)
                pos += used
                prog(pos)
                if at_eof:
                    leftover = n - pos
                    break
            consumed = pos
        else:
            skipped = header.length
            first = True
            it = source.chunks()
            for chunk in it:
                if first:
                    chunk = chunk[skipped:]
                    first = False
                data = carry + bytes(chunk) if carry else chunk
                used = sc.feed(data, False)
                carry = bytes(data[used:])
                if len(carry) > MAX_CARRY:
                    raise CorruptDumpError("a record needs more than 64 MiB to be read whole",
                                           offset=consumed + used, expected="a plausible record length",
                                           path=source.name)
                consumed += used
                prog(consumed)
            at_eof = True
            if carry:
                used = sc.feed(carry, True)
                consumed += used
                leftover = len(carry) - used
    except ScanError as e:
        msg, off, expected = e.args
        problems.append(CorruptDumpError(msg, offset=off, expected=expected, path=source.name))
        consumed = off                   # read cleanly up to the record that could not be read
        at_eof = False
    except DumpError as e:
        problems.append(e)
        if isinstance(e, TruncatedDumpError):
            consumed = sc.state()["offset"]
            leftover = len(carry) if not plain else 0
            at_eof = True
    st = sc.state()
    complete = not problems
    if at_eof and (st["skip"] > 0 or leftover > 0 or (st["in_heap"] and st["heap_left"] > 0)):
        complete = False
        what = []
        if st["in_heap"]:
            what.append(f"inside a {TOP_TAGS.get(st['heap_tag'], 'heap')} record that began at "
                        f"offset {sc.heap_start}")
            if st["heap_left"] > 0:
                what.append(f"{st['heap_left'] + st['skip']} bytes of it are missing")
        elif st["skip"] > 0:
            what.append(f"{st['skip']} bytes of a top-level record are missing")
        if leftover:
            what.append(f"the last {leftover} bytes hold an incomplete record")
        trunc = TruncatedDumpError(
            "the heap dump ends early: " + "; ".join(what)
            + "; records after that point are lost and cannot be counted",
            offset=st["offset"] + leftover if leftover else st["offset"], wanted=None,
            available=leftover, path=source.name)
        problems.append(trunc)
    raw = sc.results()
    kind, cls, n, claimed = st["last_object"]
    cut_payload = (at_eof and st["in_heap"] and st["skip"] > 0) or any(
        isinstance(p, CorruptDumpError) and "payload runs past" in p.message for p in problems)
    raw["short_object"] = (kind, cls, n, claimed) if cut_payload and kind >= 0 else None
    if complete and at_eof and raw["snapshots"] and st["heap_tag"] == 0x1C and not st["heap_closed"]:
        complete = False
        problems.append(TruncatedDumpError(
            "the heap dump ends after a HEAP DUMP SEGMENT without the HEAP DUMP END record that "
            "closes it: the file was cut at a record boundary and later segments are lost",
            offset=st["offset"], available=0, path=source.name))
    if complete and at_eof and not raw["snapshots"]:
        complete = False
        problems.append(TruncatedDumpError(
            "the file holds no heap dump record: it was cut before the heap was written, or "
            "holds only class and trace records", offset=st["offset"], available=0, path=source.name))
    if raw["zero_length_heap_records"]:
        notes.append(f"{raw['zero_length_heap_records']} heap dump record(s) declare length 0 "
                     f"(the writing JVM died or was killed mid-dump); read up to the end of the file")
        complete = False
    if raw["length_wraps"]:
        notes.append(f"a HEAP DUMP record's u4 length wrapped past 4 GiB {raw['length_wraps']} time(s); "
                     f"its real extent was recovered from the records that follow")
    if raw["snapshots"] > 1:
        notes.append(f"the file holds {raw['snapshots']} heap dumps; counted number {snapshot} "
                     f"(0-based); pick another with snapshot=N")
    if snapshot >= max(raw["snapshots"], 1):
        problems.append(CorruptDumpError(f"snapshot {snapshot} requested but the file holds "
                                         f"{raw['snapshots']}", offset=None))
    for off, tag in raw["unknown_tags"].tolist():
        notes.append(f"unknown top-level record tag 0x{tag:02x} at offset {off} skipped by its length")
    for p in problems if fetch is None else ():
        warnings.warn(TruncationWarning(f"{source.name}: partial result: {p}"), stacklevel=3)
    if source.damage is not None and source.damage not in problems:
        problems.append(source.damage)
    total = source.size
    res = ScanResult(header, raw, consumed, total, complete and source.damage is None, problems, notes)
    res.fetched = sc.fetched() if fetch is not None else {}
    return res


class HeapDump:
    """An HPROF heap dump: ``dumpx.open("heap.hprof")`` returns one.

    The records are streamed once, on first use, by the native scanner.
    """

    def __init__(self, source, detection=None, *, progress=None, snapshot: int = 0, index=None,
                 memory: int | str | None = None):
        self.snapshot = snapshot
        self.index = index              # None: the cache directory; a path: there; False: none
        self.memory = memory            # a budget for the graph build (bytes, or "8G"); None: none
        self.source = open_source(source)
        self.detection = detection
        self.header = read_header(self.source.head(64), self.source.name)
        self._scan: ScanResult | None = None
        self._progress = progress

    def __repr__(self) -> str:
        return (f"<HeapDump {self.source.name!r} HPROF {self.header.version} "
                f"id size {self.header.id_size}>")

    def _repr_pretty_(self, p, cycle) -> None:
        p.text(repr(self) if cycle or self._scan is None else repr(self) + "\n" + self.histogram().text(15))

    def _repr_html_(self) -> str:
        """The header, and the histogram's top once the dump has been scanned (showing a dump
        does not start a multi-GB pass by itself)."""
        from ..render import safe_html
        out = f"<p>{safe_html(repr(self))}</p>"
        if self._scan is not None:
            out += self.histogram().top_by_bytes(30)._repr_html_()
        else:
            out += "<p><i>not scanned yet: histogram(), findings() or graph() read it</i></p>"
        return out

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        self.source.close()

    @property
    def scan(self) -> ScanResult:
        if self._scan is None:
            got = self._indexed()
            if got is not None:
                ms = got.meta["scan"]
                self._scan = ScanResult(Header(*ms["header"]), got.raw(), ms["bytes_scanned"], ms["total_bytes"],
                                        ms["complete"], got.problems(), list(ms["notes"]))
                for p in self._scan.problems:
                    warnings.warn(TruncationWarning(f"{self.source.name}: partial result: {p}"), stacklevel=2)
            else:
                self._scan = scan(self.source, progress=self._progress, snapshot=self.snapshot)
        return self._scan

    # -- the persistent index (dumpx.hprof.index) ----------------------------------------
    def _index_place(self):
        from . import index as ix
        where = ix.place(self.index)
        if where is None:
            return None, None
        if getattr(self, "_ikey", None) is None:
            self._ikey = ix.content_key(self.source, self.snapshot) or ""
        return (where, self._ikey) if self._ikey else (None, None)

    def _indexed(self):
        """The index of this dump, if one was built before and is whole (read once)."""
        if not hasattr(self, "_index_loaded"):
            from . import index as ix
            where, key = self._index_place()
            self._index_loaded = ix.load(where, key) if where is not None else None
        return self._index_loaded

    def graph(self, memory: int | str | None = None):
        """The object graph with dominators and retained sizes (``dumpx.hprof.graph.HeapGraph``):
        from the index when this dump's was built before, else built once and indexed.
        ``memory`` (or the dump's ``memory``): a budget in bytes or as ``"8G"``; a graph whose
        in-memory build would not fit in it is built in memory-mapped work files instead
        (``dumpx.hprof.workspace``), slower but within it."""
        if memory is not None:
            self.memory = memory
        if getattr(self, "_graph", None) is None:
            from dataclasses import asdict

            from . import index as ix
            from .graph import build_graph, graph_from_arrays
            got = self._indexed()
            if got is not None and got.graph():
                try:
                    self._graph = graph_from_arrays(self, got.graph(), int(got.meta["extra"]["dangling"]),
                                                    check=True)
                except (DumpError, KeyError, ValueError, TypeError) as e:
                    warnings.warn(f"dumpx: the index {got.path} is not used and will be rebuilt: {e}",
                                  stacklevel=2)
                    shutil.rmtree(got.path, ignore_errors=True)
                    self._index_loaded = None           # nothing from it is kept: read the dump
                    self._scan = self._layout = self._histogram = None
            if getattr(self, "_graph", None) is None:
                budget = self.memory
                if isinstance(budget, str):
                    from ..sources import parse_size
                    budget = parse_size(budget)
                g = build_graph(self, progress=self._progress, memory=budget)
                close = getattr(self._progress, "close", None)
                if close is not None:
                    close()
                where, key = self._index_place()
                if where is not None and self.scan.complete:
                    ix.save(where, key, self.scan, g.arrays(), {"dangling": g.dangling,
                                                                 "layout": asdict(self.layout())})
                self._graph = g
        return self._graph

    def layout(self):
        """The object layout inferred from the dump (once per dump; kept in its index)."""
        got = self._indexed() if getattr(self, "_layout", None) is None else None
        if got is not None and "layout" in got.meta["extra"]:
            from .layout import Layout
            self._layout = Layout(**got.meta["extra"]["layout"])
        if getattr(self, "_layout", None) is None:
            from .layout import infer_layout

            def stated() -> dict[str, str]:
                try:
                    return self.system_properties() if self.source.mapped() is not None else {}
                except DumpError:
                    return {}
            self._layout = infer_layout(self.scan, stated)
        return self._layout

    def histogram(self, layout=None):
        """The class histogram under ``layout`` (default: the inferred one, built once)."""
        from .histogram import build_histogram
        if layout is not None:
            return build_histogram(self.scan, layout)
        if getattr(self, "_histogram", None) is None:
            self._histogram = build_histogram(self.scan, self.layout())
        return self._histogram

    def provenance(self, deep: bool | None = None) -> dict[str, Any]:
        """What the dump says about itself; ``deep`` adds the JVM's System properties."""
        from .provenance import provenance
        return provenance(self, deep)

    def system_properties(self) -> dict[str, str]:
        """The JVM's ``System.getProperties()`` as the heap holds them (read once per dump)."""
        if getattr(self, "_props", None) is None:
            from .objects import system_properties
            self._props = system_properties(self)
        return dict(self._props)

    def findings(self, graph: bool = True):
        """Everything the dump says: the histogram's readings and, with ``graph`` (the default),
        the dominator readings that name where memory accumulates (the object graph is built once
        and indexed; ``graph=False`` for the histogram's alone, one pass)."""
        from .histogram import histogram_findings
        out = histogram_findings(self, self.histogram())
        if graph and self.scan.raw["snapshots"] and not any(
                isinstance(p, TruncatedDumpError) for p in self.scan.problems):
            from ..findings import Evidence, Finding, Severity
            from .graph import graph_findings
            try:
                out.extend(graph_findings(self.graph()))
            except DumpError as e:
                out.append(Finding("hprof-graph-unavailable", Severity.NOTICE,
                                   "the object graph could not be built: no dominator readings",
                                   [Evidence("error", str(e)), Evidence("offset", e.offset, hex=True)],
                                   ["the histogram readings above stand; a fresh dump may have a whole graph"]))
        return out


def open_heap_dump(source, detection=None) -> HeapDump:
    return HeapDump(source, detection)
