"""``dumpx info``: what a file is, how it is packed, and what it says about itself."""

from __future__ import annotations

import datetime as _dt
import importlib
from typing import Any

from .errors import DumpError
from .sniff import detect
from .sources import open_source

# format id -> "module:callable(source, detection) -> dict" adding reader-level provenance
PROVENANCE: dict[str, str] = {
    "hprof": "dumpx.hprof.provenance:info_provenance",
}


def _iso_ms(ms: int) -> str | None:
    try:
        return _dt.datetime.fromtimestamp(ms / 1000, _dt.timezone.utc).isoformat()
    except (OverflowError, OSError, ValueError):
        return None


def info(origin, *, measure: bool = True) -> dict[str, Any]:
    """Describe a dump: format, compression, sizes, integrity of the packing, provenance.

    With ``measure`` a compressed file is decoded once (streaming) to learn its real size
    and whether the compressed stream is complete.
    """
    with open_source(origin) as src:
        det = detect(src)
        out: dict[str, Any] = {
            "path": src.name,
            "format": det.format,
            "description": det.description,
            "compression": det.compression,
            "size_on_disk": src.compressed_size,
            "size": src.size,
            "provenance": dict(det.details),
            "problems": [],
        }
        if det.format == "hprof" and "timestamp_ms" in det.details:
            out["provenance"]["timestamp"] = _iso_ms(det.details["timestamp_ms"])
        if src.compression and measure:
            n = 0
            try:
                for block in src.chunks():
                    n += len(block)
            except DumpError as e:
                out["problems"].append(str(e))
            out["size"] = n
        target = PROVENANCE.get(det.format)
        if target:
            mod, _, fn = target.partition(":")
            try:
                prov = getattr(importlib.import_module(mod), fn)(src, det)
            except DumpError as e:
                out["problems"].append(str(e))
            else:
                out["problems"] += prov.pop("problems", [])
                out["provenance"].update(prov)
        return out
