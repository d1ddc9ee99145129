"""Android's HPROF 1.0.3 additions, on a dump built record by record.

No Android heap dump is available here; this file is assembled from the format's definition
(ART's hprof writer), so the expected counts follow from its construction."""

from __future__ import annotations

import struct

from dumpx.hprof import HeapDump

ID = 4


def rec(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + b"\x00" * 4 + struct.pack(">I", len(body)) + body


def i(x: int) -> bytes:
    return struct.pack(">I", x)


def build() -> bytes:
    out = b"JAVA PROFILE 1.0.3\x00" + i(ID) + i(0) + i(1000)
    out += rec(0x01, i(1) + b"app") + rec(0x01, i(2) + b"zygote") + rec(0x01, i(3) + b"Foo")
    out += rec(0x01, i(4) + b"x")
    out += rec(0x02, i(1) + i(0x100) + i(0) + i(3))
    cls = (bytes([0x20]) + i(0x100) + i(0) + i(0) * 6 + i(4) + struct.pack(">H", 0)
           + struct.pack(">H", 0) + struct.pack(">H", 1) + i(4) + bytes([10]))
    seg = bytes([0xFE]) + i(ord("Z")) + i(2)                    # heap "zygote"
    seg += cls
    seg += bytes([0x21]) + i(0x200) + i(0) + i(0x100) + i(4) + i(7)
    seg += bytes([0xFE]) + i(ord("A")) + i(1)                   # heap "app"
    for tag in (0x89, 0x8A, 0x8B, 0x8C, 0x8D, 0x90):
        seg += bytes([tag]) + i(0x200)
    seg += bytes([0x8E]) + i(0x200) + i(1) + i(2)
    seg += bytes([0xC3]) + i(0x300) + i(0) + i(1000) + bytes([8])   # byte[1000], no data
    seg += bytes([0x23]) + i(0x400) + i(0) + i(3) + bytes([10]) + b"\x00" * 12
    seg += bytes([0x21]) + i(0x500) + i(0) + i(0x100) + i(4) + i(9)
    out += rec(0x1C, seg) + rec(0x2C, b"")
    return out


def test_android_dump():
    d = HeapDump(build())
    s = d.scan
    assert d.header.version == "1.0.3" and s.complete, s.problems
    assert s.raw["n_instances"] == 2 and s.raw["n_primarrays"] == 2
    assert s.raw["primarray_count"][8] == 1 and s.raw["primarray_elems"][8] == 1000
    for tag in (0x89, 0x8A, 0x8B, 0x8C, 0x8D, 0x8E, 0x90, 0xC3, 0xFE):
        assert s.raw["sub_counts"][tag] >= 1, hex(tag)
    p = d.provenance(deep=False)
    assert p["heaps"] == {ord("Z"): "zygote", ord("A"): "app"}
    assert s.raw["heap_objects"][:2].tolist() == [1, 3]     # 1 object in zygote, 3 in app
    h = d.histogram()
    assert h.row("Foo")["count"] == 2 and h.row("[B")["count"] == 1
