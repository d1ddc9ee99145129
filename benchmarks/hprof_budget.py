"""Benchmark: ``dumpx hprof dominators --memory SIZE`` on dumps larger than the budget.

    python benchmarks/hprof_budget.py --input FILE [--input FILE ...] --memory 8G [--in-memory] [--cold]
    python benchmarks/hprof_budget.py --input FILE ... --per-object 27 --cold     # budget = 27 B x objects
    python benchmarks/hprof_budget.py --generate-objects 300000000 --memory 8G

Each run is the whole command as a user runs it (interpreter start included). Where this machine
lets us make a cgroup (v1 memory controller, as root), the command runs inside one whose limit
is the budget: page cache, work files and the mapped dump included, so a run that finishes is
one that stayed inside the budget, and the kernel's own peak of the group
(``memory.max_usage_in_bytes``) is reported beside the process's peak anonymous memory.
``--in-memory`` also runs the command without a budget (no cgroup) and checks that the top
retained sizes agree. ``--cold`` drops the page cache before each run (root only): pages of the
dump already cached stay charged to whoever read them first, so without it a group would not pay
for the dump's pages another process had read.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from _common import run_measured

HERE = Path(__file__).resolve().parent
CGROUP = Path("/sys/fs/cgroup/memory")


def parse_size(text: str) -> int:
    sys.path.insert(0, str(HERE.parent / "src"))
    from dumpx.sources import parse_size as p
    return p(text)


def objects_of(path: Path) -> int:
    sys.path.insert(0, str(HERE.parent / "src"))
    from dumpx.hprof import HeapDump
    from dumpx.hprof.graph import object_count
    return object_count(HeapDump(path, index=False))


def in_cgroup(limit: int, cmd: list[str]) -> tuple[list[str], Path | None]:
    """``cmd`` wrapped to run in a fresh memory cgroup of ``limit`` bytes (None: cannot here)."""
    g = CGROUP / f"dumpx-budget-{os.getpid()}"
    try:
        g.mkdir()
        (g / "memory.limit_in_bytes").write_text(str(limit))
    except OSError:
        return cmd, None
    script = f'echo $$ > {g}/cgroup.procs && exec "$@"'
    return ["bash", "-c", script, "bash", *cmd], g


def drop_caches() -> None:
    subprocess.run(["sync"], check=True)
    Path("/proc/sys/vm/drop_caches").write_text("1\n")


def run(path: Path, memory: str | None, top: int = 20, cold: bool = False, cgroup: bool = True) -> dict:
    cmd = [sys.executable, "-m", "dumpx", "hprof", "dominators", "--no-index", "--quiet", "--json",
           "--top", str(top), str(path)]
    group = None
    if memory:
        cmd[5:5] = ["--memory", memory]
        if cgroup:
            cmd, group = in_cgroup(parse_size(memory), cmd)
    out = Path(f"/tmp/dumpx-budget-{os.getpid()}.json")
    if cold:
        drop_caches()
    with open(out, "w") as f:
        r = run_measured(cmd, stdout=f)
    if group is not None:
        r["cgroup_limit_MiB"] = round(int((group / "memory.limit_in_bytes").read_text()) / 2**20)
        r["cgroup_peak_MiB"] = round(int((group / "memory.max_usage_in_bytes").read_text()) / 2**20, 1)
        r["cgroup_failcnt"] = int((group / "memory.failcnt").read_text())
        for _ in range(50):
            try:
                group.rmdir()
                break
            except OSError:
                time.sleep(0.1)
    try:
        doc = json.loads(out.read_text())
        r["objects"] = doc["objects"]
        r["top"] = [(t["object_id"], t["retained_bytes"]) for t in doc["top"]]
    except (ValueError, KeyError):
        r["top"] = None
    out.unlink(missing_ok=True)
    return r


def generate(objects: int) -> Path:
    """A BigHeap dump (benchmarks/gen/BigHeap.java) with about ``objects`` objects: small map
    entries of about six objects each, 95 % of the heap."""
    from hprof_histogram import generate as gen
    mib = int(objects / 6 * 152 / 0.95) >> 20
    return gen(mib, 95)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--input", action="append", default=[])
    ap.add_argument("--generate-objects", type=int)
    ap.add_argument("--memory", default="8G")
    ap.add_argument("--per-object", type=float, help="a budget of this many bytes per object of each dump")
    ap.add_argument("--cold", action="store_true", help="drop the page cache before each run")
    ap.add_argument("--no-cgroup", action="store_true",
                    help="no cgroup (a smoke run on a dump smaller than the interpreter's own memory)")
    ap.add_argument("--in-memory", action="store_true", help="also run without a budget and compare")
    args = ap.parse_args()
    paths = [Path(p) for p in args.input]
    if args.generate_objects:
        paths.append(generate(args.generate_objects))
    failed = False
    for p in paths:
        memory = str(int(objects_of(p) * args.per_object)) if args.per_object else args.memory
        row = {"dump": str(p), "bytes": p.stat().st_size, "memory": memory}
        b = run(p, memory, cold=args.cold, cgroup=not args.no_cgroup)
        row["budget"] = b
        if args.in_memory:
            m = run(p, None, cold=args.cold)
            row["in_memory"] = m
            row["top_equal"] = b["top"] == m["top"] and b["top"] is not None
        objects = b.get("objects") or 0
        if objects:
            row["objects"] = objects
        for k in ("budget", "in_memory"):
            if k in row:
                failed |= row[k]["exit"] not in (0, 1) or row[k].pop("top", None) is None
        failed |= row.get("top_equal") is False
        print(json.dumps(row), flush=True)
    if failed:
        sys.exit("a run failed, or the budget run's top objects differ from the in-memory run's")


if __name__ == "__main__":
    main()
