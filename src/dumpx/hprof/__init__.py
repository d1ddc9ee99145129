"""JVM HPROF heap dumps: a streaming native scanner, the class histogram and its reading."""

from .histogram import Histogram, compare_with_jvm, diff_histograms, read_class_histogram
from .names import class_name
from .layout import Layout, infer_layout
from .reader import HeapDump, ScanResult, read_header, scan

__all__ = ["HeapDump", "Histogram", "Layout", "ScanResult", "class_name", "compare_with_jvm",
           "diff_histograms", "infer_layout", "read_class_histogram", "read_header", "scan", "open"]


def open(path, **kw) -> HeapDump:  # noqa: A001
    """Open an HPROF file (plain or compressed) as a :class:`HeapDump`."""
    return HeapDump(path, **kw)
