"""Which reader handles which detected format; ``dumpx.open``."""

from __future__ import annotations

import importlib
import os

from .errors import UnsupportedFormatError
from .sniff import Detection, detect
from .sources import Source, open_source

# format id -> "module:callable" taking (source, detection)
READERS: dict[str, str] = {
    "hprof": "dumpx.hprof.reader:open_heap_dump",
    "go-goroutines-debug2": "dumpx.goroutines:open_detected",
    "go-panic": "dumpx.goroutines:open_detected",
    "go-sigquit": "dumpx.goroutines:open_detected",
    "go-goroutines-debug1": "dumpx.goroutines:open_detected",
    "go-pprof-proto": "dumpx.goroutines:open_detected",
    "elf-core": "dumpx.elf.core:open_core",
    "pyspy-text": "dumpx.pyspy:open_detected",
    "pyspy-json": "dumpx.pyspy:open_detected",
    "minidump": "dumpx.minidump:open_minidump",
}


def register(fmt: str, target: str) -> None:
    READERS[fmt] = target


def open(origin, progress=None, memory=None, **kw):  # noqa: A001 - the public name is dumpx.open
    """Open a dump (path, file object or bytes) and return the reader for its format.

    The format is sniffed from the content. A format dumpx recognises but cannot read yet
    raises :class:`UnsupportedFormatError` naming what was detected. ``progress(done, total)``
    is called during the long passes of readers that have them (the HPROF scan and graph build;
    with a ``phase(label)`` method it is also told each step's name). ``progress=True``: a line
    that updates itself in a notebook, or on a terminal's stderr (``dumpx.notebook.default_progress``).
    ``memory`` (bytes or ``"8G"``): a budget for readers that build large structures (a heap dump's
    object graph, see ``HeapDump.graph``); other formats refuse it.
    """
    if isinstance(origin, (str, os.PathLike)) and os.path.isdir(origin):
        names = set(os.listdir(origin))
        if names & {"pyspy.json", "pyspy.txt", "pyspy-locals.txt"}:
            if memory is not None:
                raise TypeError("memory= is a budget for heap dumps' object graphs; a py-spy capture takes none")
            from .pyspy import load
            return load(origin)
        raise UnsupportedFormatError(f"{os.fspath(origin)} is a directory, not a dump (a py-spy "
                                     f"capture bundle holds pyspy.json or pyspy.txt)", detected="directory")
    source = open_source(origin, **kw)
    det = detect(source)
    target = READERS.get(det.format)
    if target is None:
        source.close()
        what = det.description + (f" ({det.compression}-compressed)" if det.compression else "")
        raise UnsupportedFormatError(
            f"{os.fspath(source.name) if source.name else 'input'}: detected {what}; "
            f"dumpx has no reader for format {det.format!r} yet",
            detected=det.format)
    mod, _, fn = target.partition(":")
    reader = getattr(importlib.import_module(mod), fn)(source, det)
    if progress is True:
        from .notebook import default_progress
        progress = default_progress(os.fspath(source.name) if source.name else "dumpx")
    if progress not in (None, False) and hasattr(reader, "_progress"):
        reader._progress = progress
    if memory is not None:
        if not hasattr(reader, "memory"):
            source.close()
            raise TypeError(f"memory= is a budget for heap dumps' object graphs; a {det.format} dump takes none")
        reader.memory = memory
    return reader


def identify(origin) -> tuple[Source, Detection]:
    source = open_source(origin)
    return source, detect(source)
