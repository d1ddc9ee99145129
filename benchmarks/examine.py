"""Benchmark: ``dumpx examine`` on a heap dump against ``dumpx hprof dominators`` alone, and the
HTML report's size and the time a browser takes to open it.

    python benchmarks/examine.py --input benchmarks/work/bigheap-600m.hprof      # 0.88 GB
    python benchmarks/examine.py --input benchmarks/work/bigheap-5000m-55pct.hprof --report-only

Both commands run cold (each in a fresh, empty cache directory: the graph index is built), in
turns, the median of three; whole processes, interpreter start included, peak anonymous memory.
Target (issue 13): examine costs no more than dominators alone plus 10 %; the HTML report of a
100 M-object dump is under 5 MB and opens in headless chromium in under 2 s.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import run_measured

HERE = Path(__file__).resolve().parent


def dumpx_exe() -> str:
    exe = Path(sys.executable).parent / "dumpx"
    return str(exe) if exe.exists() else (shutil.which("dumpx") or "dumpx")


def cold(cmd: list[str]) -> dict:
    with tempfile.TemporaryDirectory(dir=HERE / "work") as cache:
        return run_measured(cmd, env={"DUMPX_CACHE_DIR": cache})


def open_in_browser(page: Path) -> float | None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        return None
    t = time.perf_counter()
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", f"file://{page}"],
                   capture_output=True, timeout=120)
    return round(time.perf_counter() - t, 3)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--input", required=True)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--report-only", action="store_true",
                    help="only the report (with the index left from an earlier run): its size and opening time")
    args = ap.parse_args()
    path = Path(args.input)
    (HERE / "work").mkdir(exist_ok=True)
    page = HERE / "work" / f"{path.name}.report.html"
    res: dict = {"file": str(path), "bytes": path.stat().st_size}
    if not args.report_only:
        runs: dict[str, list[dict]] = {"dominators": [], "examine --html": []}
        for _ in range(args.repeat):
            runs["dominators"].append(cold([dumpx_exe(), "hprof", "dominators", str(path)]))
            runs["examine --html"].append(cold([dumpx_exe(), "examine", str(path), "--html", str(page)]))
        for k, v in runs.items():
            v.sort(key=lambda r: r["wall_s"])
            res[k] = v[len(v) // 2] | {"walls": [r["wall_s"] for r in v]}
        res["examine_over_dominators"] = round(res["examine --html"]["wall_s"] / res["dominators"]["wall_s"], 3)
    else:
        res["examine --html (index present)"] = run_measured([dumpx_exe(), "examine", str(path), "--html", str(page)])
    res["html_bytes"] = page.stat().st_size
    opens = [open_in_browser(page) for _ in range(3)]
    res["browser_open_s"] = sorted(x for x in opens if x is not None)[1] if all(x is not None for x in opens) else None
    print(json.dumps(res))


if __name__ == "__main__":
    main()
