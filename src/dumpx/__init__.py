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
from .table import Table

__version__ = "0.1.0"

__all__ = ["open", "errors", "DumpError", "CorruptDumpError", "TruncatedDumpError",
           "UnsupportedFormatError", "UnreadableInputError", "DecompressionLimitError", "DumpWarning", "Finding", "Findings", "Evidence",
           "Severity", "Table", "Source", "ByteView", "open_source", "detect", "Detection"]
