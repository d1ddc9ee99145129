"""What an HPROF file says about itself."""

from __future__ import annotations

import datetime as _dt
from typing import Any


def _iso(ms: int) -> str | None:
    try:
        return _dt.datetime.fromtimestamp(ms / 1000, _dt.timezone.utc).isoformat()
    except (OverflowError, OSError, ValueError):
        return None


def provenance(dump) -> dict[str, Any]:
    """Version, id size, time, layout, heaps, snapshots and integrity of a heap dump."""
    h = dump.header
    s = dump.scan
    out: dict[str, Any] = {
        "hprof_version": h.version,
        "id_size": h.id_size,
        "timestamp": _iso(h.timestamp_ms),
        "snapshots": int(s.raw["snapshots"]),
        "complete": s.complete,
        "bytes_scanned": s.bytes_scanned,
        "objects": int(s.raw["n_instances"] + s.raw["n_objarrays"] + s.raw["n_primarrays"]),
        "classes_dumped": int(s.raw["n_classdumps"]),
    }
    lay = dump.layout()
    out["layout"] = f"{lay.name}, {lay.fields} field layout, {lay.align}-byte alignment" + (
        "" if lay.inferred else " (assumed)")
    if len(s.raw["heaps"]):
        names = s.strings(s.raw["heaps"][:, 1])
        out["heaps"] = {int(hid): n for hid, n in zip(s.raw["heaps"][:, 0].tolist(), names)}
    if s.problems:
        out["problems"] = [str(p) for p in s.problems]
    if s.notes:
        out["notes"] = list(s.notes)
    return out


def info_provenance(source, detection) -> dict[str, Any]:
    """``dumpx info`` hook: the provenance of the HPROF at ``source``."""
    from .reader import HeapDump
    d = HeapDump(source, detection)
    p = provenance(d)
    p.pop("hprof_version", None)
    p.pop("id_size", None)
    return p
