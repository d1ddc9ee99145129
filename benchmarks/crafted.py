"""Benchmark: issue 10's crafted shapes, each a small file built to make a naive reader quadratic
or make it believe its length fields, read by the whole dumpx command (interpreter start
included; peak RSS from GNU time).

    python benchmarks/crafted.py

Shapes (built here with tests/hprofbuilder.py and from the Go fixture's real blocks):
  * 40,000 classes whose instance data disagrees with their fields  -> dumpx hprof histo
  * a 32,000-deep superclass chain                                  -> refused (CorruptDumpError)
  * a 1,000-deep chain with an instance of every class              -> dumpx hprof dominators
  * a superclass cycle                                              -> refused
  * 1,000,000 distinct object-array classes, one empty array each    -> dumpx hprof histo
  * 16,000 distinct goroutine buckets (debug=1)                     -> dumpx goroutines
Target (issue 10): each under 2 s and under 10x its file size in memory beyond the command's own
floor: the same command on the same shape built tiny (10 classes or buckets), measured in the same
run; ``python -c 'import dumpx.cli'`` is printed beside it (since the CLI imports numpy only when a
command needs it, that baseline is lower than any command that reads a heap dump).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import _common  # noqa: F401  (byte-compiles dumpx first, as an installed package is)

HERE = Path(__file__).resolve().parent
WORK = HERE / "work" / "crafted"
sys.path.insert(0, str(HERE.parent / "tests"))

from crafted import array_classes, buckets, chain, cycle, mismatched  # noqa: E402


def run(cmd: list[str]) -> dict:
    rss = WORK / "rss"
    t = time.perf_counter()
    r = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", str(rss), *cmd], capture_output=True)
    wall = time.perf_counter() - t
    return {"seconds": round(wall, 3), "peak_rss_mib": round(int(rss.read_text().split()[-1]) / 1024, 1),
            "exit": r.returncode, "stderr": r.stderr.decode(errors="replace").strip()[-160:]}


def main() -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    dumpx = str(Path(sys.executable).parent / "dumpx") if (Path(sys.executable).parent / "dumpx").exists() \
        else shutil.which("dumpx") or "dumpx"
    # each shape at full size, and the same shape tiny: the tiny run is the command's own floor
    # (interpreter, imports, fixed buffers), so that what is left is what the input costs
    shapes = [("40,000 mismatched classes", "mismatched.hprof", mismatched, 40_000, 10, ["hprof", "histo"]),
              ("32,000-deep class chain", "chain32k.hprof", lambda n: chain(n, False), 32_000, 10, ["hprof", "histo"]),
              ("1,000-deep chain, every class instantiated", "chain1k.hprof", lambda n: chain(n, True), 1_000, 10,
               ["hprof", "dominators"]),
              ("superclass cycle", "cycle.hprof", lambda n: cycle(), 1, 1, ["hprof", "histo"]),
              ("1,000,000 object-array classes", "arrayclasses.hprof", array_classes, 1_000_000, 10, ["hprof", "histo"]),
              ("16,000 goroutine buckets", "buckets.txt", buckets, 16_000, 10, ["goroutines"])]
    base = run([sys.executable, "-c", "import dumpx.cli"])
    res = {"baseline: python -c 'import dumpx.cli'": base}
    for label, name, make, n, tiny, cmd in shapes:
        p, q = WORK / name, WORK / f"tiny-{name}"
        data = make(n)
        p.write_bytes(data)
        q.write_bytes(make(tiny))
        floor = run([dumpx, *cmd, str(q)])
        r = run([dumpx, *cmd, str(p)])
        r["file_mib"] = round(len(data) / 2**20, 2)
        r["floor_rss_mib"] = floor["peak_rss_mib"]
        r["rss_over_floor_per_file_byte"] = round((r["peak_rss_mib"] - floor["peak_rss_mib"])
                                                  / max(r["file_mib"], 1e-6), 2)
        r["rss_over_baseline_per_file_byte"] = round((r["peak_rss_mib"] - base["peak_rss_mib"]) / max(r["file_mib"], 1e-6), 2)
        res[label] = r
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
