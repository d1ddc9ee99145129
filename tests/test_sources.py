"""The sources layer: decompression by magic, bounds checks, truncation and corruption."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import subprocess
import warnings

import lz4.frame
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dumpx.errors import CorruptDumpError, DumpError, TruncatedDumpError
from dumpx.sources import ByteView, Source, detect_compression

from conftest import need_tool, real_dump

PAYLOAD = b"".join(b"record %06d: " % i + bytes(range(i % 251, 251)) for i in range(60))

# Compressors as the real tools write them (checksums on, as their CLIs default to).
PY_COMPRESSORS = {
    "gzip": lambda d: gzip.compress(d[: len(d) // 2]) + gzip.compress(d[len(d) // 2:]),
    "bzip2": lambda d: bz2.compress(d),
    "xz": lambda d: lzma.compress(d, check=lzma.CHECK_CRC64),
    "zstd": lambda d: zstandard.ZstdCompressor(write_checksum=True).compress(d),
    "lz4": lambda d: lz4.frame.compress(d, content_checksum=True, block_checksum=True),
}
CLI = {"gzip": ["gzip", "-c"], "bzip2": ["bzip2", "-c"], "xz": ["xz", "-c"],
       "zstd": ["zstd", "-q", "-c"], "lz4": ["lz4", "-q", "-c"]}


def read_all_stream(data: bytes) -> bytes:
    return b"".join(bytes(c) for c in Source(data).chunks(chunk_size=1024))


@pytest.mark.parametrize("kind", sorted(PY_COMPRESSORS))
def test_roundtrip_by_magic_not_name(kind, tmp_path):
    packed = PY_COMPRESSORS[kind](PAYLOAD)
    p = tmp_path / "misleading-name.txt"
    p.write_bytes(packed)
    with Source(p) as src:
        assert src.compression == kind
        assert b"".join(bytes(c) for c in src.chunks(chunk_size=777)) == PAYLOAD
        v = src.view()
        assert v.size == len(PAYLOAD) == src.size
        assert v.read(100, 50) == PAYLOAD[100:150]


@pytest.mark.parametrize("kind", sorted(CLI))
def test_real_tools_output(kind, tmp_path):
    tool = need_tool(CLI[kind][0])
    out = subprocess.run([tool, *CLI[kind][1:]], input=PAYLOAD, capture_output=True, check=True).stdout
    assert detect_compression(out) == kind
    assert read_all_stream(out) == PAYLOAD


def test_gzip_many_members_like_hotspot():
    members = b"".join(gzip.compress(PAYLOAD[i:i + 100]) for i in range(0, len(PAYLOAD), 100))
    assert read_all_stream(members) == PAYLOAD


def test_plain_file_is_memory_mapped(tmp_path):
    p = tmp_path / "plain.bin"
    p.write_bytes(PAYLOAD)
    with Source(p) as src:
        assert src.compression is None and src.size == len(PAYLOAD)
        assert type(src.view()._owner).__name__ == "mmap"


def test_non_seekable_file_object():
    r, w = os.pipe()
    with os.fdopen(w, "wb") as fw:
        fw.write(gzip.compress(PAYLOAD))
    with os.fdopen(r, "rb") as fr, Source(fr) as src:
        assert src.compression == "gzip"
        assert src.view().read(0, len(PAYLOAD)) == PAYLOAD


def test_byteview_bounds():
    v = ByteView(b"0123456789", base=1000, name="x")
    assert v.read(8, 2) == b"89"
    with pytest.raises(TruncatedDumpError) as ei:
        v.read(8, 3)
    assert ei.value.offset == 1008 and ei.value.wanted == 3 and ei.value.available == 2
    with pytest.raises(TruncatedDumpError):
        v.u32(7)
    with pytest.raises(TruncatedDumpError):
        v.read(-1, 1)
    sub = v.sub(4, 4)
    with pytest.raises(TruncatedDumpError) as ei:
        sub.u64(0)
    assert ei.value.offset == 1004 and ei.value.available == 4
    assert v.cstring(0, limit=4) == b"0123"


def test_trailing_garbage_keeps_the_data_then_says_corrupt():
    packed = gzip.compress(PAYLOAD) + b"GARBAGE!"
    got = bytearray()
    with pytest.raises(CorruptDumpError) as ei:
        for c in Source(packed).chunks():
            got += c
    assert bytes(got) == PAYLOAD and ei.value.offset == len(PAYLOAD)
    assert read_all_stream(gzip.compress(PAYLOAD) + bytes(512)) == PAYLOAD   # zero padding is fine


def _check_prefix_or_error(data: bytes, original: bytes, kind: str):
    """A read of damaged data returns right bytes, or a DumpError with an offset."""
    src = Source(data)
    if src.compression != kind:
        # cut inside the magic: it is no longer compressed data, so its bytes are the file's
        assert read_all_stream(data) == data
        return
    got = bytearray()
    try:
        for c in src.chunks(chunk_size=512):
            got += c
    except (TruncatedDumpError, CorruptDumpError) as e:
        assert e.offset is not None and e.offset == len(got)
        assert original.startswith(bytes(got)) or isinstance(e, CorruptDumpError)
        return "error"
    assert original.startswith(bytes(got))
    return "ok" if bytes(got) == original else "member-boundary"


@pytest.mark.parametrize("kind", sorted(PY_COMPRESSORS))
def test_every_truncation_point(kind):
    packed = PY_COMPRESSORS[kind](PAYLOAD)
    boundaries = {len(gzip.compress(PAYLOAD[: len(PAYLOAD) // 2]))} if kind == "gzip" else set()
    outcomes = {}
    for cut in range(len(packed)):
        outcomes[cut] = _check_prefix_or_error(packed[:cut], PAYLOAD, kind)
    assert "error" in outcomes.values()
    # a cut exactly between two members leaves a valid, shorter stream: only there
    assert {c for c, o in outcomes.items() if o == "member-boundary"} <= boundaries
    assert _check_prefix_or_error(packed, PAYLOAD, kind) == "ok"


@pytest.mark.parametrize("kind", sorted(PY_COMPRESSORS))
def test_truncated_view_is_partial_and_says_so(kind):
    packed = PY_COMPRESSORS[kind](PAYLOAD)
    cut = packed[: len(packed) * 2 // 3]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        src = Source(cut)
        v = src.view()
    assert isinstance(src.damage, (TruncatedDumpError, CorruptDumpError))
    assert PAYLOAD.startswith(v.read(0, v.size))
    with pytest.raises(TruncatedDumpError) as ei:
        v.read(v.size, 2)
    assert ei.value.offset == v.size and ei.value.available == 0


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(sorted(PY_COMPRESSORS)), pos=st.integers(min_value=0), bit=st.integers(0, 7))
def test_bit_flips_give_right_bytes_or_dump_error(kind, pos, bit):
    packed = bytearray(PY_COMPRESSORS[kind](PAYLOAD))
    pos %= len(packed)
    packed[pos] ^= 1 << bit
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            out = read_all_stream(bytes(packed))
        except DumpError as e:
            assert e.offset is not None
            return
    if detect_compression(bytes(packed)) == kind:
        assert out == PAYLOAD
    else:
        assert out == bytes(packed)


def test_real_multi_member_hprof_gz_matches_gzip_tool():
    p = real_dump("hprof/openjdk_jdk11_04_x64.hprof.gz")
    tool = need_tool("gzip")
    oracle = subprocess.run([tool, "-dc", str(p)], capture_output=True, check=True).stdout
    with Source(p) as src:
        got = b"".join(bytes(c) for c in src.chunks())
    assert got == oracle


@pytest.mark.parametrize("rel,tool", [("elf/crashme.core.zst", ["zstd", "-dc"]),
                                      ("elf/backtrace.x86_64.core.bz2", ["bzip2", "-dc"])])
def test_real_compressed_cores_match_tools(rel, tool):
    p = real_dump(rel)
    exe = need_tool(tool[0])
    oracle = subprocess.run([exe, *tool[1:], str(p)], capture_output=True, check=True).stdout
    with Source(p) as src:
        v = src.view()
        assert v.size == len(oracle)
        assert v.read(0, v.size) == oracle


def test_source_from_bytesio_and_bytes_agree():
    packed = PY_COMPRESSORS["xz"](PAYLOAD)
    assert Source(io.BytesIO(packed)).view().read(0, len(PAYLOAD)) == PAYLOAD


def _prefix_or_error_file(packed: bytes, original: bytes, kind: str) -> None:
    assert _check_prefix_or_error(packed, original, kind) in ("ok", "member-boundary", "error", None)


def test_every_truncation_point_of_a_real_gzip_fixture():
    """Go's own gzip writer: the debug=0 goroutine profile, cut at every byte."""
    from conftest import fixture_file
    packed = fixture_file("go/out/stuck.debug0.pb.gz").read_bytes()
    original = gzip.decompress(packed)
    outcomes = [_check_prefix_or_error(packed[:cut], original, "gzip") for cut in range(len(packed))]
    assert outcomes.count("error") >= len(packed) - 12   # only cuts inside the magic are plain data
    assert _check_prefix_or_error(packed, original, "gzip") == "ok"


@settings(max_examples=60, deadline=None)
@given(frac=st.floats(min_value=0, max_value=1))
def test_truncation_points_of_real_zstd_core_and_hotspot_gzip(frac):
    from conftest import fixture_file
    for rel, kind in (("elf/out/smash.core.zst", "zstd"), ("hprof/out/heapshape-noccp.hprof.gz", "gzip")):
        packed = _FIXTURE_CACHE.setdefault(rel, fixture_file(rel).read_bytes())
        original = _FIXTURE_CACHE.setdefault(rel + "!", b"".join(bytes(c) for c in Source(packed).chunks()))
        cut = int(frac * len(packed))
        _prefix_or_error_file(packed[:cut], original, kind)


_FIXTURE_CACHE: dict = {}


# ----------------------------------------------------------------- inputs that are not files, caps

def test_paths_that_are_not_dumps_are_dump_errors(tmp_path):
    """A directory, a dangling symlink, a symlink loop and an unreadable file: DumpErrors that keep
    the OSError as their cause, from the API (the CLI prints them and exits 2)."""
    from dumpx.errors import UnreadableInputError
    (tmp_path / "d").mkdir()
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    for name in ("d", "dangling", "loop"):
        with pytest.raises(UnreadableInputError) as e:
            Source(tmp_path / name)
        assert str(tmp_path / name) in str(e.value)
    with pytest.raises(UnreadableInputError) as e:
        Source(tmp_path / "loop")
    assert isinstance(e.value.__cause__, OSError)


def test_a_fifo_is_refused_unless_streamed(tmp_path):
    """Opening a FIFO for reading blocks until a writer comes: refused by default (no hang), copied
    to a work file with stream=True."""
    import threading
    from dumpx.errors import UnreadableInputError
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(UnreadableInputError, match="FIFO"):
        Source(fifo)
    payload = gzip.compress(b"JAVA PROFILE 1.0.2\0" + bytes(100))
    t = threading.Thread(target=lambda: fifo.write_bytes(payload))
    t.start()
    with Source(fifo, stream=True) as s:
        assert s.compression == "gzip" and s.view().read(0, 12) == b"JAVA PROFILE"
    t.join()


def test_cli_reads_standard_input_whole(tmp_path):
    """``cat x.hprof.gz | dumpx info -``: every byte (it used to lose the first 8 of a pipe)."""
    import subprocess
    import sys
    from conftest import fixture_file
    raw = fixture_file("hprof/out/heapshape-coops.hprof.gz").read_bytes()
    r = subprocess.run([sys.executable, "-m", "dumpx", "info", "-"], input=raw, capture_output=True)
    assert r.returncode == 0, r.stderr
    assert b"format:      hprof" in r.stdout and b"compression: gzip" in r.stdout
    assert f"on disk:     {len(raw):,} bytes".encode() in r.stdout


@pytest.mark.parametrize("kind", ["gzip", "zstd", "xz", "bzip2", "lz4"])
def test_a_decompression_bomb_stops_at_the_cap(kind, monkeypatch):
    """64 MiB of zeros from a few KiB: with a 4 MiB cap, spilling stops with a DumpError that says
    how much was decoded from how much, and no decompress call returns more than a bounded piece."""
    from dumpx.errors import DecompressionLimitError
    import dumpx.sources as sources
    bomb = PY_COMPRESSORS[kind](bytes(64 << 20))
    assert len(bomb) < (1 << 20)
    with pytest.raises(DecompressionLimitError) as e:
        Source(bomb, max_decompressed=4 << 20).view()
    assert e.value.limit == 4 << 20 and 4 << 20 < e.value.decoded <= (4 << 20) + sources.CHUNK + sources._MAX_OUT
    monkeypatch.setenv("DUMPX_MAX_DECOMPRESSED", "4M")
    with pytest.raises(DecompressionLimitError):
        for _ in Source(bomb).chunks():
            pass


def test_zstd_pieces_are_bounded_by_construction():
    """An RLE-only zstd frame: every piece handed to the decoder decodes to at most _MAX_OUT."""
    import zstandard
    from dumpx.sources import _MAX_OUT, _zstd_pieces
    data = zstandard.ZstdCompressor(level=19).compress(bytes(300 << 20))
    pieces = list(_zstd_pieces(io.BytesIO(data), b""))
    assert b"".join(p for p, _ in pieces) == data and pieces[-1][1] == "end" and len(pieces) > 30
    dec = zstandard.ZstdDecompressor().decompressobj()
    sizes = [len(dec.decompress(p)) for p, _ in pieces]
    assert sum(sizes) == 300 << 20 and max(sizes) <= _MAX_OUT


def test_a_full_work_disk_is_a_dump_error(monkeypatch):
    """ENOSPC while spilling: UnreadableInputError naming the work directory and how far it got."""
    import errno
    import tempfile
    from dumpx.errors import UnreadableInputError

    class Full(io.BytesIO):
        def write(self, b):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tempfile, "TemporaryFile", lambda **kw: Full())
    with pytest.raises(UnreadableInputError, match="No space left") as e:
        Source(gzip.compress(b"x" * 1000)).view()
    assert isinstance(e.value.__cause__, OSError)


def test_info_quick_does_not_decompress_a_compressed_core(monkeypatch):
    """``info --quick`` reads the head only: under a 1 MiB cap a core that decompresses past it is still described
    (it used to spill the whole core to read its provenance), and it says what it skipped."""
    from dumpx.info import info
    monkeypatch.setenv("DUMPX_MAX_DECOMPRESSED", "1M")
    from conftest import fixture_file
    d = info(fixture_file("elf/out/threads.core.zst"), measure=False)
    assert d["format"] == "elf-core" and d["size"] is None and "--quick" in d["notes"][0]
    from dumpx.errors import DecompressionLimitError
    with pytest.raises(DecompressionLimitError):
        info(fixture_file("elf/out/threads.core.zst"), measure=True)


def test_zstd_skippable_frames_and_padding_between_frames():
    """A skippable frame (as pzstd and seekable-format writers add) between two frames is stepped
    over; zero padding after the last frame is accepted; a skippable frame cut short is truncation."""
    import struct as _st
    a = zstandard.ZstdCompressor().compress(b"first " * 1000)
    b = zstandard.ZstdCompressor().compress(b"second " * 1000)
    skip = _st.pack("<II", 0x184D2A53, 20) + bytes(20)
    data = a + skip + b + bytes(64)
    assert read_all_stream(data) == b"first " * 1000 + b"second " * 1000
    with pytest.raises(TruncatedDumpError):
        read_all_stream(a + skip[:12])


def test_zstd_incompressible_frames_longer_than_the_work_buffer():
    """Random bytes do not compress: a frame's pieces then carry as much input as output. Pieces of
    one frame longer than the buffer's trim point must come out whole (they came out mangled, and
    the decoder called the stream corrupt)."""
    import hashlib
    data = os.urandom(20 << 20) + bytes(5 << 20) + os.urandom(3 << 20)
    packed = zstandard.ZstdCompressor().compress(data)
    h = hashlib.sha1()
    for c in Source(packed).chunks():
        h.update(c)
    assert h.digest() == hashlib.sha1(data).digest()


def test_pzstd_output_is_recognised_and_read(tmp_path):
    """pzstd (Debian zstd) starts its output with a skippable frame: detected as zstd and read to
    the same bytes as the input, checked by hash."""
    import hashlib
    tool = need_tool("pzstd")
    src = tmp_path / "in.bin"
    src.write_bytes(os.urandom(9 << 20) + b"tail\n" * 1000)
    subprocess.run([tool, "-q", "-f", "-p", "2", str(src), "-o", str(tmp_path / "in.pzst")], check=True)
    s = Source(tmp_path / "in.pzst")
    assert s.compression == "zstd"
    h = hashlib.sha1()
    for c in s.chunks():
        h.update(c)
    assert h.digest() == hashlib.sha1(src.read_bytes()).digest()
