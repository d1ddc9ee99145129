"""Which command reads which kind of dump: a command given another kind of file says what was
detected and which command reads it, instead of failing inside the wrong parser."""

from __future__ import annotations

from ..errors import UnsupportedFormatError

# family -> (formats it reads, what it is called, the command that reads it)
FAMILIES = {
    "hprof": (("hprof",), "an HPROF heap dump", "dumpx hprof histo FILE"),
    "core": (("elf-core",), "an ELF core", "dumpx core bt FILE"),
    "minidump": (("minidump",), "a minidump", "dumpx minidump bt FILE"),
    "goroutines": (("go-goroutines-debug2", "go-goroutines-debug1", "go-panic", "go-sigquit",
                    "go-pprof-proto"), "a Go goroutine dump", "dumpx goroutines FILE"),
    "pyspy": (("pyspy-text", "pyspy-json"), "py-spy output", "dumpx pyspy FILE"),
}


def expect(path, family: str) -> str | None:
    """Raise UnsupportedFormatError when ``path`` is a dump of another family: it names what was
    detected and the command for it. A file of no known kind, or one that cannot be sniffed, is
    left to the reader, whose own error says more (py-spy's reader knows JSON the sniffer does not)."""
    import os

    from ..sniff import detect
    from ..sources import open_source
    if not isinstance(path, (str, os.PathLike)) or os.fspath(path) == "-" or os.path.isdir(path):
        return None
    formats, what, _ = FAMILIES[family]
    try:
        with open_source(path) as src:
            det = detect(src)
    except Exception:                     # unreadable: the reader's own DumpError says why
        return None
    if det.format in formats:
        return det.format
    other = next((f for f, (fmts, _, _) in FAMILIES.items() if det.format in fmts), None)
    if other is None:
        return None                       # no known kind: the reader's own error says more
    raise UnsupportedFormatError(
        f"{os.fspath(path)} is {det.description}, not {what}; read it with "
        f"`{FAMILIES[other][2].replace('FILE', os.fspath(path))}`", detected=det.format)
