"""Damage to real HPROF files: every truncation point in the first records and around a class
dump, and random bit flips. Whatever the damage, the reader ends in a result whose problems are
DumpErrors with offsets; it never raises anything else, never hangs, never crashes."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dumpx.errors import DumpError
from dumpx.hprof import HeapDump

from conftest import real_dump

pytestmark = pytest.mark.filterwarnings("ignore::dumpx.errors.DumpWarning")


@pytest.fixture(scope="module")
def agent_dump() -> bytes:
    return real_dump("hprof/sun_jdk6_31_hprofagent_compressedOops.hprof").read_bytes()


def _read(data: bytes):
    try:
        d = HeapDump(data)
    except DumpError as e:                   # the header itself is damaged
        assert e.offset is not None or e.__class__.__name__ == "UnsupportedFormatError"
        return None
    h = d.histogram()
    d.findings()
    d.provenance(deep=True)
    for p in d.scan.problems:
        assert isinstance(p, DumpError)
    return d, h


def test_every_truncation_point_of_the_first_records(agent_dump):
    full = _read(agent_dump)[0].scan.raw["n_instances"]
    for cut in range(0, 3000):
        r = _read(agent_dump[:cut])
        if r is not None:
            assert not r[0].scan.complete
            assert r[0].scan.raw["n_instances"] <= full


def test_every_truncation_point_around_a_class_dump(agent_dump):
    d = HeapDump(agent_dump)
    full = d.scan.raw["n_instances"]
    off = int(d.scan.raw["class_dumps"]["dump_offset"].max())
    for cut in range(off - 200, off + 600):
        r = _read(agent_dump[:cut])
        assert r is not None
        if r[0].scan.complete:
            # cut exactly after the HEAP DUMP END of the first of two snapshots: that one is whole
            assert r[0].scan.raw["n_instances"] == full
        else:
            assert any(p.offset is not None for p in r[0].scan.problems)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 7)), min_size=1, max_size=4))
def test_bit_flips(agent_dump, flips):
    data = bytearray(agent_dump)
    for pos, bit in flips:
        data[pos % len(data)] ^= 1 << bit
    _read(bytes(data))


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=2000), id_size=st.sampled_from([4, 8]))
def test_arbitrary_records_after_a_valid_header(body, id_size):
    head = b"JAVA PROFILE 1.0.2\x00" + id_size.to_bytes(4, "big") + b"\x00" * 8
    _read(head + body)


@settings(max_examples=100, deadline=None)
@given(n=st.integers(0, 2**32 - 1), tag=st.sampled_from([0x21, 0x22, 0x23, 0x20]))
def test_lengths_from_the_dump_do_not_size_allocations(n, tag):
    """A heap segment announcing a huge array or record must not allocate for it."""
    head = b"JAVA PROFILE 1.0.2\x00" + (8).to_bytes(4, "big") + b"\x00" * 8
    sub = bytes([tag]) + (0x1000).to_bytes(8, "big") + b"\x00\x00\x00\x00" + n.to_bytes(4, "big") + b"\x0b" + b"\x00" * 16
    seg = bytes([0x1C]) + b"\x00" * 4 + len(sub).to_bytes(4, "big") + sub
    r = _read(head + seg)
    assert r is not None and not r[0].scan.complete or n == 0 or tag == 0x20


def test_huge_utf8_record_at_the_end_does_not_hang():
    """Regression: a UTF8 record announcing more than 1 MiB with fewer bytes left used to spin."""
    head = b"JAVA PROFILE 1.0.2\x00" + (8).to_bytes(4, "big") + b"\x00" * 8
    rec = bytes([0x01]) + b"\x00" * 4 + (50 << 20).to_bytes(4, "big") + b"\x00" * 100
    d, _ = _read(head + rec)
    assert not d.scan.complete
