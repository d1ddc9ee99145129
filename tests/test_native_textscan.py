"""The text-classification kernel against a plain-Python reference."""

from hypothesis import given, settings
from hypothesis import strategies as st

from dumpx._native.textscan import byte_classes


def reference(buf: bytes):
    printable = sum(1 for b in buf if 0x20 <= b < 0x7F)
    ws = sum(1 for b in buf if b in (9, 10, 13))
    nl = buf.count(b"\n")
    high = sum(1 for b in buf if b >= 0x80)
    control = len(buf) - printable - ws - high
    return [printable, ws, nl, control, high]


@settings(max_examples=300)
@given(st.binary(max_size=4096))
def test_matches_reference(buf):
    assert byte_classes(buf).tolist() == reference(buf)


def test_accepts_memoryview_and_bytearray():
    assert byte_classes(memoryview(b"ab\n\x00")).tolist() == [2, 1, 1, 1, 0]
    assert byte_classes(bytearray(b"\xff")).tolist() == [0, 0, 0, 0, 1]
