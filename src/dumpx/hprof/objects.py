"""Reading individual objects out of a heap dump by id, without an object graph.

The scan keeps a block index (every 64 KiB or more of heap data: where a sub-record starts and
the lowest and highest object id after it). A ``fetch`` parses only the blocks whose id range
holds a wanted id; HotSpot writes objects in address order, so that is about one block per
object. Following a chain of references (the System properties: about six levels) therefore
reads a few blocks per level, not the file. Without an index (a compressed stream that was not
spilled) each ``fetch`` is one more pass.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from ..errors import CorruptDumpError
from .._native.hprofscan import ScanError, Scanner
from .reader import ELEM_SIZE, HeapDump, scan

_FMT = {4: ">?", 5: ">H", 6: ">f", 7: ">d", 8: ">b", 9: ">h", 10: ">i", 11: ">q"}


def fetch(dump: HeapDump, ids) -> dict[int, tuple]:
    """{id: ("instance", class_id, data) | ("objarray", class_id, ids) | ("primarray", type,
    data)} for the ids found: by parsing only the blocks of the scan's block index that can hold
    them, or by one more pass where there is no index (a compressed stream)."""
    ids = [int(i) for i in ids if i]
    if not ids:
        return {}
    records = _fetch_blocks(dump, ids)
    if records is None:
        records = scan(dump.source, snapshot=dump.snapshot, fetch=ids).fetched
    isz = dump.header.id_size
    idf = ">I" if isz == 4 else ">Q"
    out: dict[int, tuple] = {}
    for oid, rec in records.items():
        tag = rec[0]
        try:
            if tag == 0x21:
                (cid,) = struct.unpack_from(idf, rec, 1 + isz + 4)
                (n,) = struct.unpack_from(">I", rec, 1 + 2 * isz + 4)
                out[oid] = ("instance", cid, rec[1 + 2 * isz + 8:1 + 2 * isz + 8 + n])
            elif tag == 0x22:
                (n,) = struct.unpack_from(">I", rec, 1 + isz + 4)
                (cid,) = struct.unpack_from(idf, rec, 1 + isz + 8)
                body = rec[1 + 2 * isz + 8:]
                dt = np.dtype(">u4" if isz == 4 else ">u8")
                out[oid] = ("objarray", cid, np.frombuffer(body[:n * isz], dtype=dt).astype(np.uint64))
            elif tag == 0x23:
                (n,) = struct.unpack_from(">I", rec, 1 + isz + 4)
                t = rec[1 + isz + 8]
                out[oid] = ("primarray", t, rec[1 + isz + 9:1 + isz + 9 + n * ELEM_SIZE.get(t, 1)])
        except struct.error:
            raise CorruptDumpError("fetched record is shorter than its header", offset=None,
                                   expected="a whole record") from None
    return out


def _fetch_blocks(dump: HeapDump, ids: list[int]) -> dict[int, bytes] | None:
    """The records of ``ids`` from the blocks whose id range holds them (None: no index to use)."""
    blocks = dump.scan.raw.get("blocks")
    buf = dump.source.mapped()
    if blocks is None or not len(blocks) or buf is None:
        return None
    want = np.unique(np.asarray(ids, dtype=np.uint64))
    lo, hi = blocks[:, 3].view(np.uint64), blocks[:, 4].view(np.uint64)
    need = np.flatnonzero(np.searchsorted(want, hi, "right") > np.searchsorted(want, lo, "left"))
    if not len(need):
        return {}
    runs = np.split(need, np.flatnonzero(np.diff(need) > 1) + 1)
    out: dict[int, bytes] = {}
    n = len(buf)
    for run in runs:
        i, j = int(run[0]), int(run[-1]) + 1
        start = int(blocks[i, 0])
        end = int(blocks[j, 0]) if j < len(blocks) else n
        sc = Scanner(dump.header.id_size, n, dump.snapshot)
        sc.resume(start, int(blocks[i, 1]), int(blocks[i, 2]))
        sc.set_fetch(want)
        try:
            sc.feed(buf[start:end], end >= n)
        except ScanError:
            return None                      # damaged here: the full pass says where and why
        out.update(sc.fetched())
    return out


class Fields:
    """Field layouts of the dumped classes: name -> (type, offset) in an instance's data."""

    def __init__(self, dump: HeapDump):
        s = dump.scan
        self.scan = s
        self.isz = dump.header.id_size
        c = s.raw["classes"]
        self.ids = c["id"].astype(np.uint64)
        self.order = np.argsort(self.ids)
        self.cache: dict[int, dict[str, tuple[int, int]]] = {}

    def _index(self, cid: int) -> int | None:
        pos = int(np.searchsorted(self.ids[self.order], np.uint64(cid)))
        if pos < len(self.order) and int(self.ids[self.order[pos]]) == cid:
            return int(self.order[pos])
        return None

    def layout(self, cid: int) -> dict[str, tuple[int, int]]:
        if cid in self.cache:
            return self.cache[cid]
        c = self.scan.raw["classes"]
        out: dict[str, tuple[int, int]] = {}
        off = 0
        seen = set()
        cur = cid
        while cur and cur not in seen:
            seen.add(cur)
            i = self._index(cur)
            if i is None or not c["dumped"][i]:
                break
            a, k = int(self.scan.dump_column("field_start", i)), int(self.scan.dump_column("field_count", i))
            names = self.scan.strings(self.scan.raw["field_names"][a:a + k])
            for nm, t in zip(names, self.scan.raw["field_types"][a:a + k].tolist()):
                if nm is not None and nm not in out:
                    out[nm] = (t, off)
                off += self.isz if t == 2 else ELEM_SIZE.get(t, 0)
            cur = int(self.scan.dump_column("super", i)) & (2**64 - 1)
        self.cache[cid] = out
        return out

    def read(self, cid: int, data: bytes, name: str) -> Any:
        f = self.layout(cid).get(name)
        if f is None:
            return None
        t, off = f
        try:
            if t == 2:
                return struct.unpack_from(">I" if self.isz == 4 else ">Q", data, off)[0]
            return struct.unpack_from(_FMT[t], data, off)[0]
        except (struct.error, KeyError):
            return None

    def static(self, class_name: str, field: str) -> int | None:
        """Value of a static reference (or primitive) field of a class, from its class dump."""
        from .layout import class_model
        raw = self.scan.raw
        cd = raw["class_dumps"]
        for r in np.flatnonzero(class_model(self.scan).names == class_name).tolist():   # dumped classes only
            a, k = int(cd["static_start"][r]), int(cd["static_count"][r])
            sn = self.scan.strings(raw["static_names"][a:a + k])
            for j, nm in enumerate(sn):
                if nm == field:
                    return int(raw["static_values"][a + j]) & (2**64 - 1)
        return None


def _decode_string(fields: Fields, inst: tuple, arrays: dict[int, tuple]) -> str | None:
    _, cid, data = inst
    vid = fields.read(cid, data, "value")
    coder = fields.read(cid, data, "coder")
    arr = arrays.get(vid)
    if arr is None or arr[0] != "primarray":
        return None
    t, raw = arr[1], arr[2]
    if t == 5:                                  # char[] (JDK <= 8), written big-endian
        return raw.decode("utf-16-be", "replace")
    if t == 8:                                  # byte[] (JDK 9+): LATIN1 or UTF16 (native order)
        if coder == 1:
            return raw.decode("utf-16-le", "replace")
        return raw.decode("latin-1")
    return None


def system_properties(dump: HeapDump, limit: int = 4096) -> dict[str, str]:
    """The JVM's ``System.getProperties()`` as the dump holds them ({} if not reachable).

    Follows ``java.lang.System.props`` through its Hashtable (JDK <= 8) or ConcurrentHashMap
    (JDK 9+) to the key and value strings: about six passes over the dump.
    """
    fields = Fields(dump)
    props = fields.static("java.lang.System", "props")
    if not props:
        return {}
    got = fetch(dump, [props])
    if props not in got or got[props][0] != "instance":
        return {}
    _, pcid, pdata = got[props]
    holder = fields.read(pcid, pdata, "map")           # JDK 9+: Properties -> ConcurrentHashMap
    if holder:
        got = fetch(dump, [holder])
        if holder not in got:
            return {}
        _, hcid, hdata = got[holder]
        table = fields.read(hcid, hdata, "table")
    else:
        table = fields.read(pcid, pdata, "table")       # JDK <= 8: Properties is a Hashtable
    if not table:
        return {}
    got = fetch(dump, [table])
    if table not in got or got[table][0] != "objarray":
        return {}
    pending = [int(x) for x in got[table][2].tolist() if x]
    pairs: list[tuple[int, int]] = []
    seen: set[int] = set()
    strings: dict[int, tuple] = {}
    for _ in range(16):                          # chains of next-nodes, bounded
        pending = [x for x in pending if x not in seen][:limit]
        if not pending:
            break
        seen.update(pending)
        nodes = fetch(dump, pending)
        pending = []
        for nid, rec in nodes.items():
            if rec[0] != "instance":
                continue
            _, ncid, ndata = rec
            k = fields.read(ncid, ndata, "key")
            v = fields.read(ncid, ndata, "val")
            if v is None:
                v = fields.read(ncid, ndata, "value")
            nxt = fields.read(ncid, ndata, "next")
            if k and v:
                pairs.append((k, v))
            if nxt:
                pending.append(nxt)
        if len(pairs) >= limit:
            break
    sids = {x for kv in pairs for x in kv}
    strings = fetch(dump, sids)
    arrays_wanted = set()
    for sid, rec in strings.items():
        if rec[0] == "instance":
            vid = fields.read(rec[1], rec[2], "value")
            if vid:
                arrays_wanted.add(vid)
    arrays = fetch(dump, arrays_wanted)
    out: dict[str, str] = {}
    for k, v in pairs:
        if k in strings and v in strings and strings[k][0] == strings[v][0] == "instance":
            ks = _decode_string(fields, strings[k], arrays)
            vs = _decode_string(fields, strings[v], arrays)
            if ks is not None and vs is not None:
                out[ks] = vs
    return dict(sorted(out.items()))
