"""One error hierarchy for every reader.

A dump is untrusted input: whatever is wrong with it surfaces as a :class:`DumpError`
subclass that says where (byte offset, or address) and what was expected there, never
as ``struct.error``, ``IndexError`` or a crash.
"""

from __future__ import annotations


class DumpError(Exception):
    """Base of every error dumpx raises about a dump's content."""

    def __init__(self, message: str, *, offset: int | None = None, path: str | None = None):
        self.offset = offset
        self.path = path
        self.message = message
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.path:
            where.append(str(self.path))
        if self.offset is not None:
            where.append(f"offset {self.offset} (0x{self.offset:x})")
        return f"{self.message}" + (f" [{', '.join(where)}]" if where else "")


class UnsupportedFormatError(DumpError):
    """The bytes are not a format dumpx reads (or not yet); ``detected`` names what they look like."""

    def __init__(self, message: str, *, detected: str | None = None, offset: int | None = 0,
                 path: str | None = None):
        self.detected = detected
        super().__init__(message, offset=offset, path=path)


class CorruptDumpError(DumpError):
    """The structure is inconsistent: at ``offset`` the reader expected ``expected``."""

    def __init__(self, message: str, *, offset: int | None = None, expected: str | None = None,
                 path: str | None = None):
        self.expected = expected
        if expected:
            message = f"{message}; expected {expected}"
        super().__init__(message, offset=offset, path=path)


class TruncatedDumpError(DumpError):
    """A read ran past the end of the available bytes.

    ``offset`` is where the read started, ``wanted`` how many bytes it needed and
    ``available`` how many there were from ``offset`` on.
    """

    def __init__(self, message: str, *, offset: int, wanted: int | None = None,
                 available: int | None = None, path: str | None = None):
        self.wanted = wanted
        self.available = available
        detail = []
        if wanted is not None:
            detail.append(f"wanted {wanted} bytes")
        if available is not None:
            detail.append(f"{available} available")
        if detail:
            message = f"{message} ({', '.join(detail)})"
        super().__init__(message, offset=offset, path=path)


class UnmappedAddressError(DumpError):
    """A virtual address is not in the dump: unmapped, or mapped but its bytes were not captured."""

    def __init__(self, message: str, *, address: int, size: int = 0, captured: bool = False,
                 mapped: bool = True, truncated: bool = False):
        self.address = address
        self.size = size
        self.captured = captured
        self.mapped = mapped            # the process had memory there (the core did not keep it)
        self.truncated = truncated      # written to the core, but the file ends before it
        super().__init__(f"{message} at address 0x{address:x} (+{size})")


class UnreadableInputError(DumpError):
    """The input cannot be read as a dump: a missing or unreadable path, a directory where a file
    was expected, a FIFO/device/socket not asked to be streamed, or an I/O error (a full disk while
    spilling). The ``OSError`` is kept as ``__cause__``."""


class DecompressionLimitError(DumpError):
    """Decompressing passed the cap on decompressed bytes (``DUMPX_MAX_DECOMPRESSED``, or the free
    space of the work directory): ``decoded`` bytes came out of ``consumed`` compressed ones."""

    def __init__(self, message: str, *, decoded: int, consumed: int, limit: int, path: str | None = None):
        self.decoded, self.consumed, self.limit = decoded, consumed, limit
        super().__init__(message, offset=decoded, path=path)


class DumpWarning(UserWarning):
    """A recoverable oddity in a dump (use ``warnings.filterwarnings`` to escalate)."""


class TruncationWarning(DumpWarning):
    """The dump ended early; the result is partial and says what was lost."""
