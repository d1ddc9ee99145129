"""What an HPROF file says about itself."""

from __future__ import annotations

import datetime as _dt
from typing import Any

from ..errors import DumpError


def _iso(ms: int) -> str | None:
    try:
        return _dt.datetime.fromtimestamp(ms / 1000, _dt.timezone.utc).isoformat()
    except (OverflowError, OSError, ValueError):
        return None


DEEP_LIMIT = 1 << 30
PROPS = {"java_version": "java.version", "jvm": ("java.vm.name", "java.vm.version"),
         "command": "sun.java.command", "java_home": "java.home", "os": ("os.name", "os.arch"),
         "user": "user.name"}


def jvm_properties(dump) -> dict[str, Any]:
    """The JVM version and command line from ``java.lang.System``'s properties in the dump."""
    if dump.source.compression:
        dump.source.view()              # spill once; the passes then read the mapped work file
    props = dump.system_properties()
    out: dict[str, Any] = {}
    for key, names in PROPS.items():
        names = (names,) if isinstance(names, str) else names
        vals = [props[n] for n in names if n in props]
        if vals:
            out[key] = " ".join(vals)
    out["system_properties"] = len(props)
    return out


def provenance(dump, deep: bool | None = None) -> dict[str, Any]:
    """Version, id size, time, layout, heaps, snapshots and integrity of a heap dump.

    With ``deep`` the JVM's version and command line are read from the System properties held
    in the heap: through the scan's block index (a few blocks per level of references) in a plain
    or already spilled file, the default; a compressed stream would have to be spilled first, so
    there the default is deep only up to 1 GiB.
    """
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
    if deep is None:
        deep = dump.source.mapped() is not None or (s.total_bytes or s.bytes_scanned) <= DEEP_LIMIT
    if deep and s.raw["snapshots"]:
        try:
            out.update(jvm_properties(dump))
        except DumpError as e:
            out["notes"] = [f"System properties could not be read: {e}"]
    if s.problems:
        out["problems"] = [str(p) for p in s.problems]
    if s.notes:
        out["notes"] = out.get("notes", []) + list(s.notes)
    return out


def info_provenance(source, detection) -> dict[str, Any]:
    """``dumpx info`` hook: the provenance of the HPROF at ``source``."""
    from .reader import HeapDump
    d = HeapDump(source, detection)
    p = provenance(d)
    p.pop("hprof_version", None)
    p.pop("id_size", None)
    return p
