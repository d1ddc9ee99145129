"""The only way dumpx reads bytes: open, decompress by magic, bounds-check every read.

A :class:`Source` wraps a path, a file object or a bytes-like object. Compression is
recognised from the content (gzip incl. HotSpot's multi-member ``.hprof.gz``, bzip2, xz,
zstd, lz4 frame), never from the file name. Two ways to get at the bytes:

* :meth:`Source.chunks` streams the decompressed bytes once, in bounded pieces; this is
  what multi-GB scanners use.
* :meth:`Source.view` gives random access through a :class:`ByteView`: a memory map of a
  plain file, or of a temporary file the decompressed stream was spilled to.

Every read is bounds-checked; a read past the end raises :class:`TruncatedDumpError`
with the offset and the number of bytes that were available.
"""

from __future__ import annotations

import bz2
import io
import lzma
import mmap
import os
import struct
import tempfile
import warnings
import zlib
from dataclasses import dataclass
from typing import BinaryIO, Iterator

from .errors import CorruptDumpError, TruncatedDumpError, TruncationWarning

MAGICS: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"\x04\x22\x4d\x18", "lz4"),
)

CHUNK = 4 << 20
_FEED = {"zstd": 8 << 10}
_FEED_DEFAULT = 64 << 10
_MAX_OUT = 8 << 20


def detect_compression(head: bytes) -> str | None:
    """Name the compression whose magic ``head`` starts with, or None."""
    for magic, name in MAGICS:
        if head.startswith(magic):
            if name == "bzip2" and not (len(head) > 3 and head[3:4] in b"123456789"):
                continue
            return name
    return None


def _new_decoder(kind: str):
    if kind == "gzip":
        return zlib.decompressobj(wbits=31)
    if kind == "bzip2":
        return bz2.BZ2Decompressor()
    if kind == "xz":
        return lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
    if kind == "zstd":
        import zstandard
        return zstandard.ZstdDecompressor().decompressobj()
    if kind == "lz4":
        import lz4.frame
        return lz4.frame.LZ4FrameDecompressor()
    raise ValueError(kind)


def _decoder_errors() -> tuple[type[BaseException], ...]:
    errs: list[type[BaseException]] = [zlib.error, OSError, lzma.LZMAError, EOFError, ValueError]
    try:
        import zstandard
        errs.append(zstandard.ZstdError)
    except ImportError:  # pragma: no cover
        pass
    errs.append(RuntimeError)  # lz4.frame reports bad frames as RuntimeError
    return tuple(errs)


def _drain(dec, kind: str, piece: bytes) -> Iterator[bytes]:
    """Feed one piece of compressed input, yielding output in bounded slices."""
    if kind == "gzip":
        out = dec.decompress(piece, _MAX_OUT)
        yield out
        while dec.unconsumed_tail and not dec.eof:
            yield dec.decompress(dec.unconsumed_tail, _MAX_OUT)
    elif kind == "zstd":
        yield dec.decompress(piece)
    else:
        yield dec.decompress(piece, _MAX_OUT)
        while not dec.eof and not dec.needs_input:
            out = dec.decompress(b"", _MAX_OUT)
            if not out:
                break
            yield out


def iter_decompressed(raw: BinaryIO, kind: str, *, name: str | None = None,
                      chunk_size: int = CHUNK) -> Iterator[bytes]:
    """Decompress a stream of concatenated members of ``kind``, in chunks of about ``chunk_size``.

    Raises TruncatedDumpError when the input ends inside a member and CorruptDumpError on
    bad data; offsets are into the decompressed stream (the compressed position is named
    in the message).
    """
    errors = _decoder_errors()
    feed = _FEED.get(kind, _FEED_DEFAULT)
    magic = next(m for m, k in MAGICS if k == kind)
    produced = 0
    consumed = 0
    dec = _new_decoder(kind)
    in_member = False
    buf = bytearray()
    pending = b""

    while True:
        if not pending:
            pending = raw.read(1 << 20)
            if not pending:
                break
        piece, pending = pending[:feed], pending[feed:]
        in_member = True
        try:
            for out in _drain(dec, kind, piece):
                if out:
                    buf += out
                    if len(buf) >= chunk_size:
                        produced += len(buf)
                        yield bytes(buf)
                        buf.clear()
        except errors as e:
            if buf:
                produced += len(buf)
                yield bytes(buf)
                buf.clear()
            raise CorruptDumpError(
                f"{kind} data is corrupt near compressed byte {consumed}: {e}",
                offset=produced, expected=f"valid {kind} data", path=name) from None
        if dec.eof:
            unused = dec.unused_data or b""
            rest = unused + pending
            consumed += len(piece) - len(unused)
            in_member = False
            if not rest:
                pending = raw.read(1 << 20)
                rest = pending
                if not rest:
                    break
            more = rest + raw.read(max(0, len(magic) - len(rest))) if len(rest) < len(magic) else rest
            if more.startswith(magic):
                dec = _new_decoder(kind)
                pending = more
                continue
            if magic.startswith(more):
                in_member = True
                break
            tail = more + raw.read(1 << 20)
            if tail.strip(b"\x00"):
                if buf:
                    produced += len(buf)
                    yield bytes(buf)
                    buf.clear()
                raise CorruptDumpError(
                    f"bytes after a complete {kind} member at compressed byte {consumed} are "
                    f"neither another member nor padding (a damaged member header?)",
                    offset=produced, expected=f"a {kind} member or the end of the file", path=name)
            pending = b""
            break
        consumed += len(piece)

    if buf:
        produced += len(buf)
        yield bytes(buf)
    if in_member:
        raise TruncatedDumpError(
            f"{kind} stream ends before its end-of-stream marker after {consumed} compressed "
            f"bytes; the decompressed data stops at {produced}",
            offset=produced, wanted=1, available=0, path=name)


class ByteView:
    """Random access to a dump's bytes with a bounds check on every read.

    ``base`` is the absolute offset of this view in the dump, so errors from a sub-view
    still name the offset in the whole file.
    """

    __slots__ = ("_buf", "size", "base", "name", "_owner")

    def __init__(self, buf, *, base: int = 0, name: str | None = None, owner=None):
        self._buf = memoryview(buf).cast("B") if not isinstance(buf, memoryview) else buf.cast("B")
        self.size = len(self._buf)
        self.base = base
        self.name = name
        self._owner = owner

    def __len__(self) -> int:
        return self.size

    @property
    def buffer(self) -> memoryview:
        """The whole view as a read-only memoryview (for native kernels)."""
        return self._buf.toreadonly()

    def _check(self, offset: int, n: int) -> None:
        if offset < 0 or n < 0 or offset + n > self.size:
            avail = max(0, self.size - offset) if offset >= 0 else 0
            raise TruncatedDumpError(
                "read past the end of the available bytes",
                offset=self.base + offset, wanted=n, available=avail, path=self.name)

    def read(self, offset: int, n: int) -> bytes:
        self._check(offset, n)
        return bytes(self._buf[offset:offset + n])

    def slice(self, offset: int, n: int) -> memoryview:
        """A zero-copy, bounds-checked slice."""
        self._check(offset, n)
        return self._buf[offset:offset + n].toreadonly()

    def sub(self, offset: int, n: int) -> "ByteView":
        self._check(offset, n)
        return ByteView(self._buf[offset:offset + n], base=self.base + offset, name=self.name,
                        owner=self)

    def unpack(self, fmt: struct.Struct | str, offset: int) -> tuple:
        st = fmt if isinstance(fmt, struct.Struct) else struct.Struct(fmt)
        self._check(offset, st.size)
        return st.unpack_from(self._buf, offset)

    def u8(self, offset: int) -> int:
        self._check(offset, 1)
        return self._buf[offset]

    def u16(self, offset: int, order: str = "<") -> int:
        return self.unpack(order + "H", offset)[0]

    def u32(self, offset: int, order: str = "<") -> int:
        return self.unpack(order + "I", offset)[0]

    def u64(self, offset: int, order: str = "<") -> int:
        return self.unpack(order + "Q", offset)[0]

    def cstring(self, offset: int, limit: int = 4096) -> bytes:
        """Bytes from ``offset`` up to a NUL, at most ``limit`` (no NUL found: up to the limit)."""
        self._check(offset, 0)
        end = min(self.size, offset + limit)
        chunk = bytes(self._buf[offset:end])
        nul = chunk.find(b"\x00")
        return chunk if nul < 0 else chunk[:nul]


@dataclass
class SpillInfo:
    """What spilling a compressed dump to a work file found."""

    size: int
    damage: Exception | None


class Source:
    """A dump's bytes, whatever they came in.

    ``Source(path)``, ``Source(fileobj)`` or ``Source(b"...")``. Use as a context manager or
    call :meth:`close` to release maps and work files.
    """

    def __init__(self, origin, *, name: str | None = None, tmpdir: str | None = None):
        self._path: str | None = None
        self._mem: memoryview | None = None
        self._fobj: BinaryIO | None = None
        self._tmp = None
        self._maps: list[mmap.mmap] = []
        self._view: ByteView | None = None
        self._tmpdir = tmpdir or os.environ.get("DUMPX_TMPDIR")
        self.damage: Exception | None = None
        if isinstance(origin, (bytes, bytearray, memoryview)):
            self._mem = memoryview(origin).cast("B")
            self.name = name or "<bytes>"
            self.compressed_size = len(self._mem)
        elif isinstance(origin, (str, os.PathLike)):
            self._path = os.fspath(origin)
            self.name = name or self._path
            self.compressed_size = os.stat(self._path).st_size
        elif hasattr(origin, "read"):
            self.name = name or getattr(origin, "name", None) or "<file>"
            if not isinstance(self.name, str):
                self.name = "<file>"
            seekable = False
            try:
                seekable = origin.seekable()
            except (AttributeError, OSError):
                pass
            if seekable:
                self._fobj = origin
                origin.seek(0, io.SEEK_END)
                self.compressed_size = origin.tell()
                origin.seek(0)
            else:
                self._tmp = tempfile.TemporaryFile(dir=self._tmpdir)
                while True:
                    block = origin.read(1 << 20)
                    if not block:
                        break
                    self._tmp.write(block)
                self._tmp.flush()
                self.compressed_size = self._tmp.tell()
                self._fobj = self._tmp
        else:
            raise TypeError(f"cannot read a dump from {type(origin).__name__}")
        self.compression = detect_compression(self._raw_head(8))
        self.size: int | None = None if self.compression else self.compressed_size

    def __enter__(self) -> "Source":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"Source({self.name!r}, compression={self.compression}, "
                f"size={self.size}, compressed_size={self.compressed_size})")

    def close(self) -> None:
        self._view = None
        for m in self._maps:
            try:
                m.close()
            except BufferError:
                pass
        self._maps.clear()
        if self._spill is not None:
            self._spill.close()
            self._spill = None

    _spill = None

    def _raw_open(self) -> BinaryIO:
        if self._mem is not None:
            return io.BytesIO(self._mem)
        if self._path is not None:
            return open(self._path, "rb")
        assert self._fobj is not None
        self._fobj.seek(0)
        return _NoClose(self._fobj)

    def _raw_head(self, n: int) -> bytes:
        with self._raw_open() as f:
            return f.read(n)

    def head(self, n: int = 4096) -> bytes:
        """Up to ``n`` decompressed bytes from the start (fewer if the dump is shorter or damaged)."""
        if not self.compression:
            return self._raw_head(n)
        out = bytearray()
        try:
            for block in self._iter(chunk_size=min(n, CHUNK)):
                out += block
                if len(out) >= n:
                    break
        except (TruncatedDumpError, CorruptDumpError):
            pass
        return bytes(out[:n])

    def _iter(self, chunk_size: int) -> Iterator[bytes]:
        with self._raw_open() as raw:
            if self.compression:
                yield from iter_decompressed(raw, self.compression, name=self.name,
                                             chunk_size=chunk_size)
            else:
                while True:
                    block = raw.read(chunk_size)
                    if not block:
                        return
                    yield block

    def chunks(self, chunk_size: int = CHUNK) -> Iterator[memoryview]:
        """Stream the decompressed bytes once, in pieces of about ``chunk_size``.

        Plain files are served from the memory map (no copy). A damaged compressed stream
        yields every byte it could decode and then raises.
        """
        if not self.compression:
            view = self.view()
            for off in range(0, view.size, chunk_size):
                yield view.slice(off, min(chunk_size, view.size - off))
            return
        for block in self._iter(chunk_size):
            yield memoryview(block)

    def view(self) -> ByteView:
        """Random access to the decompressed bytes.

        A compressed dump is spilled to a temporary work file (``DUMPX_TMPDIR``) and
        mapped; a damaged one keeps what could be decoded, sets :attr:`damage` and warns.
        """
        if self._view is not None:
            return self._view
        if self._mem is not None and not self.compression:
            self._view = ByteView(self._mem, name=self.name)
            return self._view
        if not self.compression:
            if self._path is not None:
                with open(self._path, "rb") as f:
                    self._view = self._map(f.fileno(), self.compressed_size)
            else:
                assert self._fobj is not None
                try:
                    fd = self._fobj.fileno()
                except (AttributeError, OSError, io.UnsupportedOperation):
                    self._fobj.seek(0)
                    self._view = ByteView(self._fobj.read(), name=self.name)
                else:
                    self._view = self._map(fd, self.compressed_size)
            return self._view
        spill = tempfile.TemporaryFile(dir=self._tmpdir)
        size = 0
        try:
            for block in self._iter(CHUNK):
                spill.write(block)
                size += len(block)
        except (TruncatedDumpError, CorruptDumpError) as e:
            self.damage = e
            warnings.warn(TruncationWarning(
                f"{self.name}: {e}; working on the {size} bytes that could be decoded"),
                stacklevel=2)
        spill.flush()
        self._spill = spill
        self.size = size
        self._view = self._map(spill.fileno(), size)
        return self._view

    def _map(self, fd: int, size: int) -> ByteView:
        if size == 0:
            return ByteView(b"", name=self.name)
        m = mmap.mmap(fd, size, access=mmap.ACCESS_READ)
        self._maps.append(m)
        return ByteView(m, name=self.name, owner=m)


class _NoClose:
    """A file object we must not close (the caller owns it)."""

    def __init__(self, f):
        self._f = f

    def __getattr__(self, k):
        return getattr(self._f, k)

    def __enter__(self):
        return self._f

    def __exit__(self, *exc):
        return None


def open_source(origin, **kw) -> Source:
    """Open ``origin`` (path, file object, bytes) as a :class:`Source`; a Source passes through."""
    if isinstance(origin, Source):
        return origin
    return Source(origin, **kw)
