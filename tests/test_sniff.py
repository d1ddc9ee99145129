"""Format detection on the real dumps, named as their SOURCES.md describes them."""

from __future__ import annotations

import pytest

import dumpx
from dumpx.errors import UnsupportedFormatError
from dumpx.sniff import detect_bytes
from dumpx.sources import Source

from conftest import real_dump

# (file, format, compression, details) as ../shared/real-dumps/SOURCES.md describes each
EXPECTED = [
    ("hprof/sun_jdk6_18_x64.hprof", "hprof", None, {"version": "1.0.1", "id_size": 8}),
    ("hprof/sun_jdk6_32bit.hprof", "hprof", None, {"id_size": 4}),
    ("hprof/oracle_jdk8_05_x64.hprof", "hprof", None, {"id_size": 8}),
    ("hprof/openjdk_jdk11_04_x64.hprof.gz", "hprof", "gzip", {"version": "1.0.2"}),
    ("hprof/sun_jdk6_30_x64_compressedOops.hprof", "hprof", None, {"id_size": 8}),
    ("hprof/sun_jdk6_31_hprofagent_compressedOops.hprof", "hprof", None,
     {"version": "1.0.2", "id_size": 4}),
    ("elf/crashme.core.zst", "elf-core", "zstd", {"machine": "x86-64"}),
    ("elf/crashme.zst", "elf-executable", "zstd", {}),
    ("elf/crashme.so.zst", "elf-shared-object", "zstd", {}),
    ("elf/backtrace.x86_64.core.bz2", "elf-core", "bzip2", {"machine": "x86-64"}),
    ("elf/backtrace.x86_64.exec.bz2", "elf-executable", "bzip2", {}),
    ("elf/core_linux64.elf", "elf-core", None, {"class": 64}),
    ("go/1.net.http.pprof.goroutine.debug0.pb.gz", "go-pprof-proto", "gzip", {}),
    ("go/1.net.http.pprof.goroutine.debug1.txt", "go-goroutines-debug1", None, {}),
    ("go/1.net.http.pprof.goroutine.debug2.txt", "go-goroutines-debug2", None, {}),
    ("go/2.pprof.lookup.goroutine.debug0.pb.gz", "go-pprof-proto", "gzip", {}),
    ("go/2.pprof.lookup.goroutine.debug1.txt", "go-goroutines-debug1", None, {}),
    ("go/2.runtime.stack.txt", "go-goroutines-debug2", None, {}),
    ("go/1.runtime.goroutineprofile.json", "go-goroutineprofile-json", None, {}),
    ("go/go121_createdby.txt", "go-goroutines-debug2", None, {}),
    ("go/lockedm.txt", "go-goroutines-debug2", None, {}),
    ("minidump/linux-mini.dmp", "minidump", None, {}),
]


@pytest.mark.parametrize("rel,fmt,comp,details", EXPECTED, ids=[e[0] for e in EXPECTED])
def test_real_dumps_are_recognised(rel, fmt, comp, details):
    p = real_dump(rel)
    with Source(p) as src:
        det = dumpx.detect(src)
    assert det.format == fmt
    assert det.compression == comp
    for k, v in details.items():
        assert det.details[k] == v


@pytest.mark.parametrize("head,fmt", [
    (b"panic: boom\n\ngoroutine 1 [running]:\nmain.main()\n\t/x.go:3 +0x1\n", "go-panic"),
    (b"SIGQUIT: quit\nPC=0x1 m=0 sigcode=0\n\ngoroutine 0 [idle]:\n", "go-sigquit"),
    (b"goroutine 1 gp=0xc000002380 m=0 mp=0x5a1b20 [running]:\nmain.main()\n", "go-goroutines-debug2"),
    (b'Process 42: python app.py\nPython v3.11.7 (/usr/bin/python3)\n\nThread 42 (idle): "MainThread"\n', "pyspy-text"),
    (b'[{"pid": 1, "thread_id": 2, "thread_name": "x", "active": false, "owns_gil": false, "frames": []}]', "pyspy-json"),
    (b"\xca\xfe\xba\xbe\x00\x00\x00\x02", "macho-fat"),
    (b"\x00\x01\x02\x03binary", "unknown"),
])
def test_constructed_heads(head, fmt):
    assert detect_bytes(head).format == fmt


def test_open_names_the_detected_format_when_no_reader(tmp_path):
    p = tmp_path / "profile.json"
    p.write_text('[{"Stack0": [4198400, 4198464], "Labels": null}]')
    with pytest.raises(UnsupportedFormatError) as ei:
        dumpx.open(p)
    assert ei.value.detected == "go-goroutineprofile-json"
    assert "GoroutineProfile" in str(ei.value)


def test_a_minidump_opens_with_its_reader(tmp_path):
    from dumpx.minidump import Minidump
    p = tmp_path / "m.dmp"
    p.write_bytes(b"MDMP\x93\xa7\x00\x00" + b"\x00" * 40)      # no streams: empty, not an error
    md = dumpx.open(p)
    assert isinstance(md, Minidump) and md.threads == [] and md.exception is None


def test_open_unknown_bytes():
    with pytest.raises(UnsupportedFormatError) as ei:
        dumpx.open(b"\x00\x01\x02garbage")
    assert ei.value.detected == "unknown"


def test_elf_header_too_short():
    assert detect_bytes(b"\x7fELF\x02").format == "elf-truncated"


def test_a_goroutine_dump_with_an_escape_in_a_name_is_still_one():
    """The reader reads it, so the sniffer says what it is (a short crafted dump with control bytes
    in a function name was called binary data)."""
    from dumpx.sniff import detect_bytes
    text = b"goroutine 1 [chan receive]:\nmain.<script>\x1b[2J(0x1)\n\t/x.go:1 +0x1\n"
    assert detect_bytes(text).format == "go-goroutines-debug2"
    assert detect_bytes(b"\x1b[2J\x00\x01 not a dump at all").format == "unknown"
