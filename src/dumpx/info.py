"""``dumpx info``: what a file is, how it is packed, and what it says about itself."""

from __future__ import annotations

import datetime as _dt
import importlib
import warnings
from typing import Any

from .errors import DumpError, DumpWarning
from .sniff import detect
from .sources import open_source

# format id -> "module:callable(source, detection) -> dict" adding reader-level provenance
PROVENANCE: dict[str, str] = {
    "hprof": "dumpx.hprof.provenance:info_provenance",
    "elf-core": "dumpx.elf.core:info_provenance",
    "go-goroutines-debug2": "dumpx.goroutines:info_provenance",
    "go-panic": "dumpx.goroutines:info_provenance",
    "go-sigquit": "dumpx.goroutines:info_provenance",
    "go-goroutines-debug1": "dumpx.goroutines:info_provenance",
    "go-pprof-proto": "dumpx.goroutines:info_provenance",
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
            # decode once into the work file; readers below then map it instead of decoding again
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DumpWarning)
                out["size"] = src.view().size
            if src.damage is not None:
                out["problems"].append(str(src.damage))
        target = PROVENANCE.get(det.format)
        if target and src.compression and not measure:
            out["notes"] = [f"--quick: the {src.compression} stream was not decoded past its head, so the "
                            f"provenance recorded inside it was not read (run without --quick)"]
            target = None
        if target:
            mod, _, fn = target.partition(":")
            try:
                prov = getattr(importlib.import_module(mod), fn)(src, det)
            except DumpError as e:
                out["problems"].append(str(e))
            else:
                out["problems"] += [p for p in prov.pop("problems", []) if p not in out["problems"]]
                out["provenance"].update(prov)
        return out
