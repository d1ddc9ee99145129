"""dumpx: read crash and heap dumps adversarially.

``dumpx.open(path)`` sniffs the format and returns its reader; analyses return
:class:`~dumpx.findings.Finding` objects with the evidence from the dump.
"""

from . import errors
from .errors import (CorruptDumpError, DecompressionLimitError, DumpError, DumpWarning, TruncatedDumpError,
                     UnreadableInputError, UnsupportedFormatError)
from .findings import Evidence, Finding, Findings, Severity
from .formats import open
from .sniff import Detection, detect
from .sources import ByteView, Source, open_source

__version__ = "0.1.0"


def __getattr__(name: str):
    # numpy is imported with the first table, not with the package: `dumpx core` needs none
    if name == "Table":
        from .table import Table
        return Table
    if name in ("examine", "Report"):
        import importlib
        return getattr(importlib.import_module("dumpx.examination"), name)
    if name in ("fleet", "FleetReport"):
        import importlib
        return getattr(importlib.import_module("dumpx.fleets"), name)
    raise AttributeError(f"module 'dumpx' has no attribute {name!r}")

__all__ = ["open", "errors", "DumpError", "CorruptDumpError", "TruncatedDumpError",
           "UnsupportedFormatError", "UnreadableInputError", "DecompressionLimitError", "DumpWarning", "Finding", "Findings", "Evidence",
           "Severity", "Table", "examine", "Report", "fleet", "FleetReport", "Source", "ByteView", "open_source", "detect", "Detection"]
