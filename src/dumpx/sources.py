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

import io
import mmap
import os
import stat
import struct
import sys
import warnings
from dataclasses import dataclass
from typing import BinaryIO, Iterator

from .errors import (CorruptDumpError, DecompressionLimitError, TruncatedDumpError, TruncationWarning,
                     UnreadableInputError)


def _zlib():
    """zlib-ng when installed (it inflates twice as fast as the stdlib, same API), else zlib;
    imported on the first compressed input, not by every command."""
    try:
        from zlib_ng import zlib_ng as z
    except ImportError:  # pragma: no cover
        import zlib as z
    return z


def __getattr__(name: str):
    if name == "zlib":                    # ``from dumpx.sources import zlib``: the inflater in use
        return _zlib()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


MAGICS: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"\x04\x22\x4d\x18", "lz4"),
)

CHUNK = 4 << 20
_FEED = 64 << 10
_MAX_OUT = 8 << 20


_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text: str) -> int:
    """``"20G"``, ``"512m"``, ``"1000000"`` -> bytes (binary units)."""
    t = str(text).strip().lower().removesuffix("ib").removesuffix("b")
    unit = t[-1:] if t[-1:] in _UNITS and t[-1:] else ""
    try:
        n = float(t[:-1] if unit else t)
    except ValueError:
        raise ValueError(f"not a size: {text!r} (say 20G, 512M or a number of bytes)") from None
    if n < 0:
        raise ValueError(f"not a size: {text!r}")
    return int(n * _UNITS[unit])


def decompression_limit(workdir: str | None, *, spilling: bool) -> int | None:
    """The cap on decompressed bytes: ``DUMPX_MAX_DECOMPRESSED`` when set; else, when the output
    is spilled to disk, 90 % of the work directory's free space (a bomb never fills the disk);
    else none (streaming holds one bounded piece at a time)."""
    env = os.environ.get("DUMPX_MAX_DECOMPRESSED")
    if env:
        try:
            return parse_size(env)
        except ValueError as e:
            raise ValueError(f"DUMPX_MAX_DECOMPRESSED: {e}") from None
    if not spilling:
        return None
    try:
        import tempfile
        st = os.statvfs(workdir or tempfile.gettempdir())
    except OSError:
        return None
    return int(st.f_bavail * st.f_frsize * 0.9)


def _zstd_pieces(raw: BinaryIO, first: bytes) -> Iterator[tuple[bytes, str]]:
    """Cut a zstd stream at block boundaries into pieces whose output is at most ``_MAX_OUT`` by
    construction (a compressed block decodes to at most 128 KiB, a raw or RLE block to its stated
    size), so no single decompress call returns a bomb's worth. Yields (piece, state): state is
    "more" (the frame goes on), "end" (the piece ends a frame), "skip" (a skippable frame, not to
    be decoded), "cut" (the input ends inside a frame) or "other" (bytes that are not a frame)."""
    buf = bytearray(first)
    pos = start = 0                       # start: where the piece not yet handed out begins

    def need(n: int) -> bool:
        nonlocal buf, pos, start
        if start > (4 << 20):             # drop what was handed out, never the pending piece
            del buf[:start]
            pos -= start
            start = 0
        while len(buf) - pos < n:
            more = raw.read(max(1 << 20, min(n, 8 << 20)))
            if not more:
                return False
            buf += more
        return True

    while need(4):
        start = pos
        magic = int.from_bytes(buf[pos:pos + 4], "little")
        if magic & 0xFFFFFFF0 == 0x184D2A50:
            if not need(8):
                yield bytes(buf[pos:]), "cut"
                return
            left = int.from_bytes(buf[pos + 4:pos + 8], "little")
            pos += 8
            start = pos
            while left:
                if not need(1):
                    yield b"", "cut"
                    return
                step = min(left, len(buf) - pos)
                pos += step
                start = pos                   # a skippable frame's bytes are not kept
                left -= step
            yield b"", "skip"
            continue
        if magic != 0xFD2FB528:
            yield bytes(buf[pos:]) + raw.read(1 << 20), "other"
            return
        if not need(5):
            yield bytes(buf[pos:]), "cut"
            return
        fhd = buf[pos + 4]
        single = (fhd >> 5) & 1
        pos += 5 + (0 if single else 1) + (0, 1, 2, 4)[fhd & 3] + (single, 2, 4, 8)[fhd >> 6]
        budget = 0
        while True:
            if not need(3):
                yield bytes(buf[start:]), "cut"
                return
            bh = int.from_bytes(buf[pos:pos + 3], "little")
            last, kind, size = bh & 1, (bh >> 1) & 3, bh >> 3
            out = size if kind in (0, 1) else 128 << 10
            if budget + out > _MAX_OUT and budget:
                yield bytes(buf[start:pos]), "more"
                start, budget = pos, 0
            if not need(3 + (1 if kind == 1 else size) + (4 if last and fhd & 4 else 0)):
                yield bytes(buf[start:]), "cut"
                return
            pos += 3 + (1 if kind == 1 else size)
            budget += out
            if last:
                pos += 4 if fhd & 4 else 0
                break
        yield bytes(buf[start:pos]), "end"
    if len(buf) > pos:
        yield bytes(buf[pos:]), "cut"


def _iter_zstd(raw: BinaryIO, name: str | None, chunk_size: int, limit: int | None) -> Iterator[bytes]:
    import zstandard
    errors = _decoder_errors()
    consumed = 0
    out = _Pending()
    dec = None
    for piece, state in _zstd_pieces(raw, b""):
        if state == "skip":
            continue
        if state == "other":
            if consumed and not piece.strip(b"\x00") and not raw.read(1 << 20).strip(b"\x00"):
                break
            yield from out.flush()
            raise CorruptDumpError(
                f"bytes after a complete zstd frame at compressed byte {consumed} are neither another frame "
                f"nor padding (a damaged frame header?)" if consumed else "not a zstd frame",
                offset=out.produced, expected="a zstd frame or the end of the file", path=name)
        if dec is None:
            dec = zstandard.ZstdDecompressor().decompressobj()
        try:
            got = dec.decompress(piece)
        except errors as e:
            yield from out.flush()
            raise CorruptDumpError(f"zstd data is corrupt near compressed byte {consumed}: {e}",
                                   offset=out.produced, expected="valid zstd data", path=name) from None
        consumed += len(piece)
        out.buf += got
        _check_limit(out.produced + len(out.buf), consumed, limit, "zstd", name)
        if len(out.buf) >= chunk_size:
            yield from out.flush()
        if state == "end":
            dec = None
        elif state == "cut":
            yield from out.flush()
            raise TruncatedDumpError(
                f"zstd stream ends inside a frame after {consumed} compressed bytes; the decompressed "
                f"data stops at {out.produced}", offset=out.produced, wanted=1, available=0, path=name)
    yield from out.flush()


class _Pending:
    """Decompressed bytes not yet handed out, and how many were."""

    def __init__(self):
        self.buf = bytearray()
        self.produced = 0

    def flush(self) -> Iterator[bytes]:
        if self.buf:
            self.produced += len(self.buf)
            yield bytes(self.buf)
            self.buf.clear()




def _check_limit(decoded: int, consumed: int, limit: int | None, kind: str, name: str | None) -> None:
    if limit is not None and decoded > limit:
        raise DecompressionLimitError(
            f"{kind} data decompresses past the cap of {limit:,} bytes ({decoded:,} bytes from {consumed:,} "
            f"compressed); a decompression bomb, or a dump bigger than the cap: raise it with "
            f"DUMPX_MAX_DECOMPRESSED or --max-decompressed", decoded=decoded, consumed=consumed, limit=limit,
            path=name)


def detect_compression(head: bytes) -> str | None:
    """Name the compression whose magic ``head`` starts with, or None. A skippable frame first (pzstd
    writes one) is zstd's, unless the frame after it is lz4's (both formats share that magic)."""
    if len(head) >= 8 and head[0] & 0xF0 == 0x50 and head[1:4] == b"\x2a\x4d\x18":
        after = 8 + int.from_bytes(head[4:8], "little")
        return "lz4" if head[after:after + 4] == b"\x04\x22\x4d\x18" else "zstd"
    for magic, name in MAGICS:
        if head.startswith(magic):
            if name == "bzip2" and not (len(head) > 3 and head[3:4] in b"123456789"):
                continue
            return name
    return None


def _new_decoder(kind: str):
    if kind == "gzip":
        return _zlib().decompressobj(wbits=31)
    if kind == "bzip2":
        import bz2
        return bz2.BZ2Decompressor()
    if kind == "xz":
        import lzma
        return lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
    if kind == "zstd":
        import zstandard
        return zstandard.ZstdDecompressor().decompressobj()
    if kind == "lz4":
        import lz4.frame
        return lz4.frame.LZ4FrameDecompressor()
    raise ValueError(kind)


def _decoder_errors() -> tuple[type[BaseException], ...]:
    import lzma
    errs: list[type[BaseException]] = [_zlib().error, OSError, lzma.LZMAError, EOFError, ValueError]
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
    else:
        yield dec.decompress(piece, _MAX_OUT)
        while not dec.eof and not dec.needs_input:
            out = dec.decompress(b"", _MAX_OUT)
            if not out:
                break
            yield out


def iter_decompressed(raw: BinaryIO, kind: str, *, name: str | None = None,
                      chunk_size: int = CHUNK, limit: int | None = None) -> Iterator[bytes]:
    """Decompress a stream of concatenated members of ``kind``, in chunks of about ``chunk_size``.

    Raises TruncatedDumpError when the input ends inside a member and CorruptDumpError on
    bad data; offsets are into the decompressed stream (the compressed position is named
    in the message). Past ``limit`` decompressed bytes it raises DecompressionLimitError.
    """
    if kind == "zstd":
        yield from _iter_zstd(raw, name, chunk_size, limit)
        return
    errors = _decoder_errors()
    feed = _FEED
    magic = next(m for m, k in MAGICS if k == kind)
    consumed = 0
    dec = _new_decoder(kind)
    in_member = False
    out = _Pending()
    pending = b""

    while True:
        if not pending:
            pending = raw.read(1 << 20)
            if not pending:
                break
        piece, pending = pending[:feed], pending[feed:]
        in_member = True
        try:
            for got in _drain(dec, kind, piece):
                out.buf += got
                _check_limit(out.produced + len(out.buf), consumed, limit, kind, name)
                if len(out.buf) >= chunk_size:
                    yield from out.flush()
        except errors as e:
            yield from out.flush()
            raise CorruptDumpError(
                f"{kind} data is corrupt near compressed byte {consumed}: {e}",
                offset=out.produced, expected=f"valid {kind} data", path=name) from None
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
                yield from out.flush()
                raise CorruptDumpError(
                    f"bytes after a complete {kind} member at compressed byte {consumed} are "
                    f"neither another member nor padding (a damaged member header?)",
                    offset=out.produced, expected=f"a {kind} member or the end of the file", path=name)
            pending = b""
            break
        consumed += len(piece)

    yield from out.flush()
    if in_member:
        raise TruncatedDumpError(
            f"{kind} stream ends before its end-of-stream marker after {consumed} compressed "
            f"bytes; the decompressed data stops at {out.produced}",
            offset=out.produced, wanted=1, available=0, path=name)


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

    def count_lines(self, start: int, end: int) -> int:
        """Newlines in [start, end), in bounded pieces (line numbers for problems)."""
        start, end = max(0, start), min(end, self.size)
        n = 0
        for a in range(start, end, 16 << 20):
            n += bytes(self.slice(a, min(16 << 20, end - a))).count(b"\n")
        return n

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

    def __init__(self, origin, *, name: str | None = None, tmpdir: str | None = None, stream: bool = False,
                 max_decompressed: int | None = None):
        self._path: str | None = None
        self._mem: memoryview | None = None
        self._fobj: BinaryIO | None = None
        self._tmp = None
        self._maps: list[mmap.mmap] = []
        self._view: ByteView | None = None
        self._tmpdir = tmpdir or os.environ.get("DUMPX_TMPDIR")
        self._limit = max_decompressed
        self.damage: Exception | None = None
        if isinstance(origin, (bytes, bytearray, memoryview)):
            self._mem = memoryview(origin).cast("B")
            self.name = name or "<bytes>"
            self.compressed_size = len(self._mem)
        elif isinstance(origin, (str, os.PathLike)) and os.fspath(origin) == "-":
            self.name = name or "<stdin>"
            self._spill_stream(sys.stdin.buffer)
        elif isinstance(origin, (str, os.PathLike)):
            path = os.fspath(origin)
            self.name = name or path
            try:
                st = os.stat(path)
            except OSError as e:
                raise UnreadableInputError(f"cannot read {path}: {e.strerror or e}", path=path) from e
            if stat.S_ISDIR(st.st_mode):
                raise UnreadableInputError(f"{path} is a directory, not a dump", path=path)
            if not stat.S_ISREG(st.st_mode):
                kind = ("a FIFO" if stat.S_ISFIFO(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode)
                        else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else "not a file")
                if not stream:
                    raise UnreadableInputError(
                        f"{path} is {kind}: reading it could wait forever and cannot be read twice; pass "
                        f"stream=True (CLI: give '-' and pipe it in) to copy it to a work file first", path=path)
                try:
                    with open(path, "rb") as f:
                        self._spill_stream(f)
                except OSError as e:
                    raise UnreadableInputError(f"cannot read {path}: {e.strerror or e}", path=path) from e
            else:
                self._path = path
                self.compressed_size = st.st_size
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
                self._spill_stream(origin)
        else:
            raise TypeError(f"cannot read a dump from {type(origin).__name__}")
        try:
            self.compression = detect_compression(self._raw_head(64))
        except OSError as e:
            raise UnreadableInputError(f"cannot read {self.name}: {e.strerror or e}", path=self.name) from e
        self.size: int | None = None if self.compression else self.compressed_size

    def _spill_stream(self, f) -> None:
        """Copy a stream (a pipe, standard input) to a work file, within the spill cap."""
        limit = self._limit if self._limit is not None else decompression_limit(self._tmpdir, spilling=True)
        try:
            import tempfile
            self._tmp = tempfile.TemporaryFile(dir=self._tmpdir)
            n = 0
            while True:
                block = f.read(1 << 20)
                if not block:
                    break
                n += len(block)
                if limit is not None and n > limit:
                    raise DecompressionLimitError(
                        f"{self.name}: the stream passed the cap of {limit:,} bytes while being copied to a work "
                        f"file (DUMPX_MAX_DECOMPRESSED / --max-decompressed)", decoded=n, consumed=n, limit=limit,
                        path=self.name)
                self._tmp.write(block)
            self._tmp.flush()
        except OSError as e:
            raise UnreadableInputError(f"cannot copy {self.name} to a work file in "
                                       f"{self._tmpdir or tempfile.gettempdir()}: {e.strerror or e}",
                                       path=self.name) from e
        self.compressed_size = self._tmp.tell()
        self._fobj = self._tmp

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
            try:
                return open(self._path, "rb")
            except OSError as e:
                raise UnreadableInputError(f"cannot read {self._path}: {e.strerror or e}", path=self._path) from e
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
            for block in self._iter(chunk_size=min(n, CHUNK), capped=False):     # bounded by n and one piece
                out += block
                if len(out) >= n:
                    break
        except (TruncatedDumpError, CorruptDumpError):
            pass
        return bytes(out[:n])

    def _iter(self, chunk_size: int, spilling: bool = False, capped: bool = True) -> Iterator[bytes]:
        limit = None if not capped else self._limit if self._limit is not None else \
            decompression_limit(self._tmpdir, spilling=spilling)
        with self._raw_open() as raw:
            if self.compression:
                yield from iter_decompressed(raw, self.compression, name=self.name,
                                             chunk_size=chunk_size, limit=limit)
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

    def mapped(self):
        """The whole (decompressed) bytes as a buffer if they are already at hand — a plain file
        or an in-memory dump, or a compressed one already spilled — else None: random access that
        costs no decompression."""
        if self._view is None and self.compression:
            return None
        return self.view().buffer

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
                try:
                    with open(self._path, "rb") as f:
                        self._view = self._map(f.fileno(), self.compressed_size)
                except OSError as e:
                    raise UnreadableInputError(f"cannot read {self._path}: {e.strerror or e}", path=self._path) from e
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
        size = 0
        try:
            import tempfile
            spill = tempfile.TemporaryFile(dir=self._tmpdir)
            for block in self._iter(CHUNK, spilling=True):
                spill.write(block)
                size += len(block)
        except (TruncatedDumpError, CorruptDumpError) as e:
            self.damage = e
            warnings.warn(TruncationWarning(
                f"{self.name}: {e}; working on the {size} bytes that could be decoded"),
                stacklevel=2)
        except OSError as e:
            raise UnreadableInputError(f"cannot spill {self.name} to a work file in "
                                       f"{self._tmpdir or tempfile.gettempdir()} after {size:,} bytes: "
                                       f"{e.strerror or e}", path=self.name) from e
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
