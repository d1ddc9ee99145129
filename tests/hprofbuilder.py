"""A small HPROF writer for crafted heaps (8-byte ids): classes, superclass chains, instances and
primitive arrays, with lengths and counts chosen by the test (not necessarily consistent)."""

from __future__ import annotations

import struct

HEADER = b"JAVA PROFILE 1.0.2\0" + struct.pack(">IQ", 8, 0)


def record(tag: int, body: bytes) -> bytes:
    return struct.pack(">BII", tag, 0, len(body)) + body


class Heap:
    def __init__(self):
        self.strings: list[bytes] = []
        self.loads: list[bytes] = []
        self.subs: list[bytes] = []
        self._next = 0x1000
        self._serial = 1

    def new_id(self) -> int:
        self._next += 0x10
        return self._next

    def string(self, text: str) -> int:
        sid = self.new_id()
        self.strings.append(record(0x01, struct.pack(">Q", sid) + text.encode()))
        return sid

    def klass(self, name: str, super_id: int = 0, fields: tuple[tuple[str, int], ...] = (), instance_size: int = 0,
              cid: int | None = None) -> int:
        cid = cid or self.new_id()
        self.loads.append(record(0x02, struct.pack(">IQIQ", self._serial, cid, 0, self.string(name))))
        self._serial += 1
        body = struct.pack(">BQIQQQQQQIHH", 0x20, cid, 0, super_id, 0, 0, 0, 0, 0, instance_size, 0, 0)
        body += struct.pack(">H", len(fields)) + b"".join(struct.pack(">QB", self.string(n), t) for n, t in fields)
        self.subs.append(body)
        return cid

    def instance(self, cid: int, data: bytes = b"") -> int:
        oid = self.new_id()
        self.subs.append(struct.pack(">BQIQI", 0x21, oid, 0, cid, len(data)) + data)
        return oid

    def obj_array(self, array_class: int, elements: list[int]) -> int:
        oid = self.new_id()
        self.subs.append(struct.pack(">BQIIQ", 0x22, oid, 0, len(elements), array_class)
                         + b"".join(struct.pack(">Q", e) for e in elements))
        return oid

    def prim_array(self, type_code: int, count: int, data: bytes) -> int:
        oid = self.new_id()
        self.subs.append(struct.pack(">BQIIB", 0x23, oid, 0, count, type_code) + data)
        return oid

    def root(self, oid: int, kind: int = 0x01) -> None:
        """A GC root record for ``oid``: JNI global (0x01, the default), unknown (0xFF) or sticky
        class (0x05)."""
        self.subs.append(struct.pack(">BQQ", 0x01, oid, 0) if kind == 0x01 else struct.pack(">BQ", kind, oid))

    def bytes(self) -> bytes:
        seg = b"".join(self.subs)
        return HEADER + b"".join(self.strings) + b"".join(self.loads) + record(0x1C, seg) + record(0x2C, b"")
