"""A deliberately plain HPROF walker: the reference the native scanner is checked against.

Slow and simple: struct.unpack per field, no streaming, no recovery. It counts what the
histogram needs per snapshot so the native numbers can be compared one to one.
"""

from __future__ import annotations

import struct
from collections import Counter

SIZES = {4: 1, 5: 2, 6: 4, 7: 8, 8: 1, 9: 2, 10: 4, 11: 8}
ROOT_LEN = {0xFF: 1, 0x05: 1, 0x07: 1, 0x89: 1, 0x8A: 1, 0x8B: 1, 0x8C: 1, 0x8D: 1, 0x90: 1,
            0x01: 2}


def walk(data: bytes, snapshot: int = 0):
    nul = data.index(b"\x00")
    ids = struct.unpack_from(">I", data, nul + 1)[0]
    idf = ">I" if ids == 4 else ">Q"
    pos = nul + 13
    inst = Counter()
    oa_count, oa_elems = Counter(), Counter()
    pa_count, pa_elems = Counter(), Counter()
    class_dumps = set()
    snaps = 0
    closed = False
    while pos + 9 <= len(data):
        tag = data[pos]
        length = struct.unpack_from(">I", data, pos + 5)[0]
        body, end = pos + 9, pos + 9 + length
        if tag == 0x2C:
            closed = True
        if tag in (0x0C, 0x1C):
            if snaps == 0 or tag == 0x0C or closed:
                snaps += 1
            closed = False
            counting = snaps - 1 == snapshot
            p = body
            while p < end:
                t = data[p]
                p += 1
                if t in ROOT_LEN:
                    p += ROOT_LEN[t] * ids
                elif t in (0x02, 0x03, 0x08, 0x8E):
                    p += ids + 8
                elif t in (0x04, 0x06):
                    p += ids + 4
                elif t == 0xFE:
                    p += 4 + ids
                elif t == 0x20:
                    cid = struct.unpack_from(idf, data, p)[0]
                    q = p + 7 * ids + 8
                    (n,) = struct.unpack_from(">H", data, q)
                    q += 2
                    for _ in range(n):
                        ty = data[q + 2]
                        q += 3 + (ids if ty == 2 else SIZES[ty])
                    (n,) = struct.unpack_from(">H", data, q)
                    q += 2
                    for _ in range(n):
                        ty = data[q + ids]
                        q += ids + 1 + (ids if ty == 2 else SIZES[ty])
                    (n,) = struct.unpack_from(">H", data, q)
                    q += 2 + n * (ids + 1)
                    if counting:
                        class_dumps.add(cid)
                    p = q
                elif t == 0x21:
                    cid = struct.unpack_from(idf, data, p + ids + 4)[0]
                    (n,) = struct.unpack_from(">I", data, p + 2 * ids + 4)
                    if counting:
                        inst[cid] += 1
                    p += 2 * ids + 8 + n
                elif t == 0x22:
                    (n,) = struct.unpack_from(">I", data, p + ids + 4)
                    cid = struct.unpack_from(idf, data, p + ids + 8)[0]
                    if counting:
                        oa_count[cid] += 1
                        oa_elems[cid] += n
                    p += 2 * ids + 8 + n * ids
                elif t in (0x23, 0xC3):
                    (n,) = struct.unpack_from(">I", data, p + ids + 4)
                    ty = data[p + ids + 8]
                    if counting:
                        pa_count[ty] += 1
                        pa_elems[ty] += n
                    p += ids + 9 + (n * SIZES[ty] if t == 0x23 else 0)
                else:
                    raise ValueError(f"sub-record tag {t:#x} at {p - 1}")
        pos = end
    return {"instances": inst, "objarray_count": oa_count, "objarray_elems": oa_elems,
            "primarray_count": pa_count, "primarray_elems": pa_elems,
            "class_dumps": class_dumps, "snapshots": snaps, "id_size": ids}
