"""The pprof protobuf goroutine profile (``?debug=0``), via the protobuf package.

profile.proto's messages are declared here as descriptors (no generated code, no protoc).
"""

from __future__ import annotations

from functools import lru_cache

from ..errors import CorruptDumpError
from ..sources import open_source
from .aggregated import _groups, checked_count
from .model import Frame, Stack

# (message, [(field name, number, type, repeated, message type)])
_T = {"u64": 4, "i64": 3, "str": 9, "msg": 11, "bool": 8}
_MESSAGES = {
    "ValueType": [("type", 1, "i64", False, None), ("unit", 2, "i64", False, None)],
    "Label": [("key", 1, "i64", False, None), ("str", 2, "i64", False, None),
              ("num", 3, "i64", False, None), ("num_unit", 4, "i64", False, None)],
    "Sample": [("location_id", 1, "u64", True, None), ("value", 2, "i64", True, None),
               ("label", 3, "msg", True, "Label")],
    "Mapping": [("id", 1, "u64", False, None), ("memory_start", 2, "u64", False, None),
                ("memory_limit", 3, "u64", False, None), ("file_offset", 4, "u64", False, None),
                ("filename", 5, "i64", False, None), ("build_id", 6, "i64", False, None)],
    "Line": [("function_id", 1, "u64", False, None), ("line", 2, "i64", False, None),
             ("column", 3, "i64", False, None)],
    "Location": [("id", 1, "u64", False, None), ("mapping_id", 2, "u64", False, None),
                 ("address", 3, "u64", False, None), ("line", 4, "msg", True, "Line"),
                 ("is_folded", 5, "bool", False, None)],
    "Function": [("id", 1, "u64", False, None), ("name", 2, "i64", False, None),
                 ("system_name", 3, "i64", False, None), ("filename", 4, "i64", False, None),
                 ("start_line", 5, "i64", False, None)],
    "Profile": [("sample_type", 1, "msg", True, "ValueType"), ("sample", 2, "msg", True, "Sample"),
                ("mapping", 3, "msg", True, "Mapping"), ("location", 4, "msg", True, "Location"),
                ("function", 5, "msg", True, "Function"), ("string_table", 6, "str", True, None),
                ("drop_frames", 7, "i64", False, None), ("keep_frames", 8, "i64", False, None),
                ("time_nanos", 9, "i64", False, None), ("duration_nanos", 10, "i64", False, None),
                ("period_type", 11, "msg", False, "ValueType"), ("period", 12, "i64", False, None),
                ("comment", 13, "i64", True, None), ("default_sample_type", 14, "i64", False, None)],
}


@lru_cache(maxsize=1)
def profile_class():
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    fd = descriptor_pb2.FileDescriptorProto(name="dumpx_profile.proto", package="perftools.profiles",
                                            syntax="proto3")
    for name, fields in _MESSAGES.items():
        m = fd.message_type.add(name=name)
        for fname, num, typ, rep, sub in fields:
            f = m.field.add(name=fname, number=num, type=_T[typ],
                            label=3 if rep else 1)
            if sub:
                f.type_name = f".perftools.profiles.{sub}"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("perftools.profiles.Profile"))


def read_proto(origin):
    src = open_source(origin)
    view = src.view()
    data = view.read(0, view.size)
    prof = profile_class()()
    try:
        prof.ParseFromString(data)
    except Exception as e:  # protobuf raises DecodeError (and others on malformed varints)
        raise CorruptDumpError(f"not a valid pprof protobuf: {e}", offset=0,
                               expected="a perftools.profiles.Profile message", path=src.name) from None
    st = list(prof.string_table)

    def s(i: int) -> str:
        return st[i] if 0 <= i < len(st) else f"<string {i}>"

    funcs = {f.id: f for f in prof.function}
    locs = {l.id: l for l in prof.location}
    entries = []
    bad = 0
    for smp in prof.sample:
        frames = []
        for lid in smp.location_id:
            loc = locs.get(lid)
            if loc is None:
                bad += 1
                continue
            for ln in loc.line:           # inlined frames first, the caller last
                fn = funcs.get(ln.function_id)
                frames.append(Frame(s(fn.name) if fn else "?", s(fn.filename) if fn else None,
                                    int(ln.line)))
        labels = {s(l.key): (s(l.str) if l.str else l.num) for l in smp.label}
        count = checked_count(int(smp.value[0]), f"sample {len(entries)}: the goroutine count", None,
                              src.name) if smp.value else 0
        entries.append((Stack(tuple(frames)), count, labels))
    notes = [f"{bad} location ids refer to no location"] if bad else []
    types = [s(t.type) for t in prof.sample_type]
    if types and types[0] != "goroutine":
        notes.append(f"sample type is {types[0]!r}, not 'goroutine'")
    return _groups("proto", src.name, entries, None, notes)
