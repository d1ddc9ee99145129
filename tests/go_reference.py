"""A plain, regex-per-line reader of Go goroutine text: the reference for the native scanner."""

from __future__ import annotations

import re

HDR = re.compile(r"^goroutine (\d+) (?:gp=[^\[]*)?\[(.*)\]:$")


def walk(text: str) -> list[dict]:
    out = []
    cur = None
    for line in text.split("\n"):
        line = line.rstrip("\r")
        m = HDR.match(line)
        if m:
            items = m.group(2).split(", ")
            minutes = next((int(x.split(" ")[0]) for x in items[1:] if re.match(r"^\d+ minutes?$", x)), -1)
            cur = {"id": int(m.group(1)), "state": items[0], "minutes": minutes,
                   "locked": "locked to thread" in items[1:], "creator": None, "frames": 0,
                   "elided": False, "lines": []}
            out.append(cur)
            continue
        if cur is None:
            continue
        if not line:
            cur = None
            continue
        cur["lines"].append(line)
        if line.startswith("\t"):
            pass
        elif line.startswith("created by "):
            m2 = re.search(r" in goroutine (\d+)$", line)
            if m2:
                cur["creator"] = int(m2.group(1))
        elif line.startswith("..."):
            cur["elided"] = True
        elif line.startswith("goroutine running on other thread"):
            pass
        elif line.endswith(")") and "(" in line[1:]:
            cur["frames"] += 1
        else:
            cur["lines"].pop()
            cur = None
    return out


def reference_diff(before, after) -> list[tuple]:
    """The diff of two goroutine dumps made the plain way, one stack object per bucket: key =
    (state, or "(any state)" when one dump's states are inferred and the other's read; the
    stack's functions outside the runtime, or all of them), the dump writer's buckets left out.
    Rows (state, top function, before, after, growth, status), sorted."""
    from dumpx.goroutines.idle import is_dump_writer
    by_state = before.state_inferred == after.state_inferred
    tops: dict = {}

    def keyed(d):
        out: dict = {}
        for r in d.buckets().rows():
            st = d.stacks[int(r["stack"])]
            if is_dump_writer(st.functions()):
                continue
            k = (r["state"] if by_state else "(any state)", st.user_functions() or st.functions())
            out[k] = out.get(k, 0) + r["count"]
            tops[k] = st.top()
        return out
    a, b = keyed(before), keyed(after)
    return sorted((k[0], tops[k], a.get(k, 0), b.get(k, 0), b.get(k, 0) - a.get(k, 0),
                   "appeared" if k not in a else "vanished" if k not in b else "") for k in set(a) | set(b))
