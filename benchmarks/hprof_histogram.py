"""Benchmark: dumpx's HPROF histogram pass against a raw sequential read of the same file.

    python benchmarks/hprof_histogram.py --generate-mib 2500      # makes a real dump with the JDK
    python benchmarks/hprof_histogram.py --input FILE             # any existing dump (CI: a fixture)

Besides the in-process scan, the whole commands as a user runs them: ``dumpx hprof histo FILE``
(and ``--json``, which adds the provenance with the JVM's System properties) and hprof-slurp
(``cargo install hprof-slurp``) on the same file, in turns, the median of three each: wall time
with interpreter start, peak anonymous memory.

Prints one JSON line per measurement and a summary. Peak memory is the process's anonymous
RSS (sampled every 20 ms), which excludes the page cache the memory map reads through.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import PeakAnon, median_runs, raw_read

HERE = Path(__file__).resolve().parent
WORK = HERE / "work"


def java_home() -> Path:
    java = shutil.which("java")
    if not java:
        sys.exit("java not found")
    return Path(os.path.realpath(java)).parent.parent


def generate(mib: int, small_pct: int = 50) -> Path:
    WORK.mkdir(exist_ok=True)
    out = WORK / (f"bigheap-{mib}m.hprof" if small_pct == 50 else f"bigheap-{mib}m-{small_pct}pct.hprof")
    if out.exists():
        return out
    jh = java_home()
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([jh / "bin/javac", "-d", tmp, HERE / "gen/BigHeap.java"], check=True)
        heap = int(mib * 1.8) + 256
        p = subprocess.Popen([jh / "bin/java", f"-Xmx{heap}m", f"-Xms{heap}m", "-XX:+UseParallelGC",
                              "-cp", tmp, "BigHeap", str(mib), str(small_pct)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
        line = p.stdout.readline()
        assert line.startswith("READY"), line
        subprocess.run([jh / "bin/jcmd", str(p.pid), "GC.heap_dump", str(out)], check=True,
                       stdout=subprocess.DEVNULL)
        p.stdin.close()
        p.wait()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--input")
    ap.add_argument("--generate-mib", type=int)
    args = ap.parse_args()
    path = Path(args.input) if args.input else generate(args.generate_mib or 2500)

    from dumpx.hprof import HeapDump
    from dumpx.sources import Source

    with Source(path) as s:
        compressed = s.compression
    size = path.stat().st_size
    raw_read(path)                                 # warm the page cache for both contestants
    t_raw = raw_read(path)
    with PeakAnon() as mem:
        t0 = time.perf_counter()
        d = HeapDump(path)
        sc = d.scan
        t_scan = time.perf_counter() - t0
        t1 = time.perf_counter()
        h = d.histogram()
        t_hist = time.perf_counter() - t1
    data_bytes = sc.bytes_scanned
    objects = int(sc.raw["n_instances"] + sc.raw["n_objarrays"] + sc.raw["n_primarrays"])
    res = {
        "file": str(path), "compression": compressed, "file_bytes": size,
        "dump_bytes": data_bytes, "objects": objects, "classes": len(h),
        "raw_read_s": round(t_raw, 3), "raw_read_GBps": round(size / t_raw / 1e9, 2),
        "scan_s": round(t_scan, 3), "scan_GBps": round(data_bytes / t_scan / 1e9, 2),
        "histogram_build_s": round(t_hist, 3),
        "scan_vs_raw": round(t_raw / t_scan, 3) if not compressed else None,
        "peak_anon_MiB": round(mem.peak / 2**20, 1), "anon_growth_MiB": round((mem.peak - mem.base) / 2**20, 1),
        "complete": sc.complete,
    }
    res["whole_command"] = whole(path)
    print(json.dumps(res))


def whole(path: Path) -> dict:
    """``dumpx hprof histo FILE`` and ``hprof-slurp FILE`` as processes, in turns, medians of 3."""
    exe = Path(sys.executable).parent / "dumpx"
    cmds = {"dumpx hprof histo": [str(exe if exe.exists() else shutil.which("dumpx")), "hprof", "histo", str(path)],
            "dumpx hprof histo --json": [str(exe if exe.exists() else shutil.which("dumpx")), "hprof", "histo",
                                         "--json", str(path)]}
    slurp = shutil.which("hprof-slurp") or str(Path.home() / ".cargo/bin/hprof-slurp")
    if Path(slurp).exists():
        cmds["hprof-slurp"] = [slurp, str(path)]
    out = median_runs(cmds)
    size = path.stat().st_size
    for r in out.values():
        r["GBps"] = round(size / r["wall_s"] / 1e9, 2)
    return out


if __name__ == "__main__":
    main()
