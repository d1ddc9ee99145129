"""Benchmark: dumpx's goroutine text reader on a runtime-cap-sized dump and on 1,000,000 goroutines.

    python benchmarks/goroutines.py                 # 64 MiB and 1M-goroutine inputs, with the peer
    python benchmarks/goroutines.py --input FILE    # any dump (CI: a fixture)

Inputs are made from the real blocks of fixtures/go/out/stuck.debug2.txt and
stuck.later.debug2.txt (Go's own debug=2 output) with fresh goroutine ids, wait times and
pointer arguments (so, as in real dumps, nearly every goroutine's exact stack is distinct while
the stacks with arguments ignored are few). The peer is
DataDog/gostackparse (benchmarks/peers/gostackparse, built with the Go toolchain), timed on the
same file in the same run. A raw read of the file is the limit.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from _common import PeakAnon, raw_read

HERE = Path(__file__).resolve().parent
WORK = HERE / "work"
SEEDS = [HERE.parent / "fixtures/go/out/stuck.debug2.txt",
         HERE.parent / "fixtures/go/out/stuck.later.debug2.txt"]


def make(path: Path, *, target_bytes: int | None = None, goroutines: int | None = None,
         distinct: int | None = None) -> Path:
    """``distinct``: rename the program's functions (main.f -> main.f_K, K < distinct) so that the
    dump has about that many distinct stacks, as real servers with many handlers do."""
    if path.exists():
        return path
    WORK.mkdir(exist_ok=True)
    text = "\n\n".join(p.read_text().strip() for p in SEEDS)
    blocks = [b for b in text.split("\n\n") if b.startswith("goroutine ")]
    args = re.compile(r"^([^\t\n].*)\((.*)\)$", re.M)
    rng = random.Random(1)
    hdr = re.compile(r"^goroutine \d+ (gp=\S+ m=\S+ (?:mp=\S+ )?)?\[([^\],]*)")
    out = []
    size = 0
    gid = 1
    while True:
        b = rng.choice(blocks)
        mins = rng.choice(["", "", f", {rng.randint(1, 300)} minutes"])
        b = hdr.sub(lambda mm: f"goroutine {gid} {mm.group(1) or ''}[{mm.group(2)}{mins}", b, count=1)
        b = re.sub(r" in goroutine \d+", f" in goroutine {rng.randint(1, gid)}", b)
        b = args.sub(lambda mm: mm.group(1) if mm.group(1).startswith("created by") else
                     f"{mm.group(1)}(0xc{rng.getrandbits(36):09x}, 0x{rng.getrandbits(12):x})", b)
        if distinct:
            k = rng.randrange(distinct)
            b = re.sub(r"\bmain\.(\w+)", lambda mm: f"main.{mm.group(1)}_{k}", b)
        piece = b + "\n\n"
        if target_bytes is not None and size + len(piece) > target_bytes:
            break
        out.append(piece)
        size += len(piece)
        gid += 1
        if goroutines is not None and gid > goroutines:
            break
    path.write_text("".join(out))
    return path


def peer_exe():
    src = HERE / "peers/gostackparse"
    exe = WORK / "gostackparse-peer"
    if not exe.exists():
        if not shutil.which("go"):
            return None
        r = subprocess.run(["go", "build", "-o", str(exe), "."], cwd=src, capture_output=True)
        if r.returncode:
            return None
    return exe


def timed(cmd: list[str], runs: int = 3) -> dict:
    """Median wall time and peak RSS of a whole process (GNU time), ``runs`` times in turn."""
    walls, rss = [], []
    for _ in range(runs):
        t = time.perf_counter()
        r = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
        walls.append(time.perf_counter() - t)
        rss.append(int(r.stderr.strip().splitlines()[-1]) / 1024)
    return {"wall_s": round(sorted(walls)[len(walls) // 2], 3), "peak_rss_MiB": round(max(rss), 1)}


def measure(path: Path, with_peer: bool) -> dict:
    from dumpx.goroutines.text import read_text
    size = path.stat().st_size
    raw_read(path)
    t_raw = raw_read(path)
    with PeakAnon() as mem:
        t = time.perf_counter()
        d = read_text(path)
        t_read = time.perf_counter() - t
        t = time.perf_counter()
        b = d.buckets()
        d.findings()
        t_bucket = time.perf_counter() - t
    res = {"file": str(path), "bytes": size, "goroutines": d.total, "distinct_stacks": len(d.stacks),
           "buckets": len(b), "raw_read_s": round(t_raw, 4),
           "read_s": round(t_read, 3), "read_MiBps": round(size / t_read / 2**20, 1),
           "bucket_and_findings_s": round(t_bucket, 3),
           "read_plus_bucket_s": round(t_read + t_bucket, 3),
           "per_goroutine_rows": d.goroutines is not None,
           "anon_growth_MiB": round((mem.peak - mem.base) / 2**20, 1)}
    # the whole `dumpx goroutines FILE --json` command (interpreter start included) and the peer's
    # whole process, alternated, medians of three
    exe = shutil.which("dumpx") or "dumpx"
    res["dumpx_command"] = timed([exe, "goroutines", "--json", str(path)])
    # the floor the command stands on: the interpreter's start and its imports, no byte read
    res["floor_python_s"] = timed([sys.executable, "-c", "pass"])["wall_s"]
    res["floor_imports_s"] = timed([sys.executable, "-c", FLOOR_IMPORTS])["wall_s"]
    pe = peer_exe() if with_peer else None
    if pe is not None:
        res["peer_gostackparse_process"] = timed([str(pe), str(path)])
        res["peer_over_dumpx"] = round(res["peer_gostackparse_process"]["wall_s"] / res["dumpx_command"]["wall_s"], 2)
        # what issue 11's 2x target leaves for reading, grouping, findings and output
        res["twice_peer_leaves_s"] = round(res["peer_gostackparse_process"]["wall_s"] / 2 - res["floor_imports_s"], 3)
    return res


FLOOR_IMPORTS = ("import numpy, dumpx.cli, dumpx.cli.goroutines, dumpx.goroutines.text, "
                 "dumpx.goroutines.analysis, dumpx._native.gotrace, dumpx._native.gostacks")


def measure_diff(before: Path, after: Path) -> dict:
    """The diff of two dumps: in process (read both, then ``diff`` and ``diff_findings``) and the
    whole ``dumpx goroutines BEFORE --diff AFTER --json`` command."""
    from dumpx.goroutines.analysis import diff, diff_findings
    from dumpx.goroutines.text import read_text
    a, b = read_text(before), read_text(after)
    t = time.perf_counter()
    rows = len(diff(a, b))
    t_diff = time.perf_counter() - t
    t = time.perf_counter()
    n = len(diff_findings(a, b))
    exe = shutil.which("dumpx") or "dumpx"
    return {"before": str(before), "after": str(after), "distinct_stacks": [len(a.stacks), len(b.stacks)],
            "diff_rows": rows, "diff_s": round(t_diff, 3), "diff_findings_s": round(time.perf_counter() - t, 3),
            "findings": n, "dumpx_command": timed([exe, "goroutines", "--json", str(before), "--diff", str(after)])}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--diff", nargs=2, metavar=("BEFORE", "AFTER"), help="time the diff of two dumps")
    ap.add_argument("--input")
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--shapes", action="store_true",
                    help="the many-stack shapes: 64 MiB with 10,000 and with ~every stack distinct, "
                         "1,000,000 goroutines with 100,000 distinct stacks")
    args = ap.parse_args()
    if args.diff:
        print(json.dumps(measure_diff(Path(args.diff[0]), Path(args.diff[1]))))
        return
    if args.input:
        print(json.dumps(measure(Path(args.input), not args.no_peer)))
        return
    if args.shapes:
        for name, kw in (("goroutines-64mib-10k.txt", dict(target_bytes=64 << 20, distinct=10_000)),
                         ("goroutines-64mib-distinct.txt", dict(target_bytes=64 << 20, distinct=10**9)),
                         ("goroutines-1m-100k.txt", dict(goroutines=1_000_000, distinct=100_000))):
            print(json.dumps(measure(make(WORK / name, **kw), not args.no_peer)))
        return
    cap = make(WORK / "goroutines-64mib.txt", target_bytes=64 << 20)
    print(json.dumps(measure(cap, not args.no_peer)))
    million = make(WORK / "goroutines-1m.txt", goroutines=1_000_000)
    print(json.dumps(measure(million, not args.no_peer)))


if __name__ == "__main__":
    main()
