"""Benchmark: the smash-scan kernel over all captured memory of a big real core, and opening a
core + listing modules with build-ids against eu-unstrip -n --core on the same file.

    python benchmarks/core_scan.py --generate-mib 1200     # a real core from benchmarks/gen/bigcore.c
    python benchmarks/core_scan.py --input CORE             # any core (CI: a fixture)
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import time
from pathlib import Path

from _common import kernel_core, raw_read

HERE = Path(__file__).resolve().parent
WORK = HERE / "work"


def generate(mib: int) -> Path:
    out = WORK / f"bigcore-{mib}m.core"
    if out.exists():
        return out
    WORK.mkdir(exist_ok=True)
    exe = WORK / "bigcore"
    subprocess.run(["gcc", "-O2", "-o", str(exe), str(HERE / "gen/bigcore.c")], check=True)
    kernel_core(exe, [str(mib)], out, WORK)
    return out


def best_of(fn, n=3):
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        r = fn()
        ts.append(time.perf_counter() - t)
    return min(ts), r


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--input")
    ap.add_argument("--generate-mib", type=int)
    args = ap.parse_args()
    path = Path(args.input) if args.input else generate(args.generate_mib or 1200)

    from dumpx._native.stackscan import scan
    from dumpx.elf import Core

    size = path.stat().st_size
    raw_read(path)
    t_raw = raw_read(path)

    t_open, mods = best_of(lambda: Core(path).modules())
    eu = shutil.which("eu-unstrip")
    t_eu = best_of(lambda: subprocess.run([eu, "-n", "--core", str(path)], capture_output=True))[0] if eu else None

    core = Core(path)
    segs = [s for s in core.segments if s.filesz]
    captured = sum(s.filesz for s in segs)
    views = [core.view.slice(s.offset, s.filesz) for s in segs]

    def scan_all():
        runs = 0
        for s, v in zip(segs, views):
            runs += len(scan(v, s.vaddr)[0])
        return runs
    t_scan, runs = best_of(scan_all)
    print(json.dumps({
        "file": str(path), "file_bytes": size, "captured_bytes": captured, "modules": len(mods),
        "raw_read_s": round(t_raw, 3), "raw_read_GBps": round(size / t_raw / 1e9, 2),
        "scan_s": round(t_scan, 3), "scan_GBps": round(captured / t_scan / 1e9, 2), "runs_found": runs,
        "open_and_modules_s": round(t_open, 4), "eu_unstrip_s": round(t_eu, 4) if t_eu else None,
        "open_vs_eu_unstrip": round(t_open / t_eu, 2) if t_eu else None,
    }))


if __name__ == "__main__":
    main()
