"""Go goroutine dumps in every format Go writes: read, group, and find the stuck and the absent."""

from .aggregated import read_debug1
from .analysis import buckets, diff, findings, stuck_set
from .model import Frame, GoroutineDump, Stack
from .proto import read_proto
from .text import read_text

__all__ = ["GoroutineDump", "Frame", "Stack", "read_text", "read_debug1", "read_proto", "open",
           "buckets", "stuck_set", "findings", "diff"]


def open(origin, detection=None) -> GoroutineDump:  # noqa: A001
    """Read any goroutine dump; the format is sniffed from the content."""
    from ..sniff import detect
    from ..sources import open_source
    src = open_source(origin)
    det = detection or detect(src)
    return open_detected(src, det)


def open_detected(source, det) -> GoroutineDump:
    from ..errors import UnsupportedFormatError
    fmt = det.format
    if fmt in ("go-goroutines-debug2", "go-panic", "go-sigquit"):
        return read_text(source, fmt)
    if fmt == "go-goroutines-debug1":
        return read_debug1(source)
    if fmt == "go-pprof-proto":
        return read_proto(source)
    raise UnsupportedFormatError(f"not a goroutine dump: {det.description}", detected=fmt)


def info_provenance(source, detection) -> dict:
    """``dumpx info`` hook: how many goroutines, in how many distinct stacks."""
    return open_detected(source, detection).provenance()
