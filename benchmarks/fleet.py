"""Benchmark: dumpx fleet on 10,000 goroutine dumps and 1,000 cores — serially, on the local pool,
and on a Dask cluster of local worker processes, in one run; plus the per-task overhead of the pool
and of Dask on a task that does nothing (which bounds how small a task is worth distributing).

    python benchmarks/fleet.py                    # the full run (several minutes)
    python benchmarks/fleet.py --goroutines 200 --cores 20 --no-dask     # CI: a small one

Inputs are copies of real fixtures: the Go fleet program's pods (fixtures/go/out/fleet.*, the died
pod planted on every 100th input) and the nullderef core with the second build planted on every
50th. Figures are dumps per second; parallel efficiency is rate(N workers) / (N * rate(serial)).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import _common  # noqa: F401  (byte-compiles dumpx first, as an installed package is)

HERE = Path(__file__).resolve().parent
FIX = HERE.parent / "fixtures"
WORK = HERE / "work" / "fleet"


def make(n_go: int, n_core: int) -> tuple[list[str], list[str]]:
    go_dir, core_dir = WORK / f"go-{n_go}", WORK / f"cores-{n_core}"
    for d in (go_dir, core_dir):
        d.mkdir(parents=True, exist_ok=True)
    gos, cores = [], []
    for i in range(n_go):
        p = go_dir / f"pod{i:05d}.txt"
        if not p.exists():
            src = "fleet.died-50" if i % 100 == 37 else f"fleet.healthy-{(40, 50, 60)[i % 3]}"
            shutil.copy(FIX / "go/out" / f"{src}.debug2.txt", p)
        gos.append(str(p))
    for i in range(n_core):
        p = core_dir / f"host{i:04d}.core.zst"
        if not p.exists():
            shutil.copy(FIX / "elf/out" / ("nullderef.rebuilt.core.zst" if i % 50 == 13 else "nullderef.core.zst"), p)
        cores.append(str(p))
    return gos, cores


def rate(paths, **kw) -> dict:
    import dumpx
    t = time.perf_counter()
    r = dumpx.fleet(paths, progress=False, **kw)
    dt = time.perf_counter() - t
    return {"mode": r.mode, "seconds": round(dt, 2), "dumps_per_s": round(len(paths) / dt, 1),
            "findings": sorted({f.kind for f in r.findings})}


def _noop(x, options=None):
    return {"input": x}


def overhead(n: int, client=None) -> float:
    """Seconds per task of a task that does nothing: the pool's or Dask's own cost."""
    if client is not None:
        t = time.perf_counter()
        client.gather(client.map(_noop, range(n), pure=False))
        return (time.perf_counter() - t) / n
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor
    with ProcessPoolExecutor(2, mp_context=mp.get_context("spawn")) as ex:
        list(ex.map(_noop, range(50)))                  # workers started
        t = time.perf_counter()
        for f in [ex.submit(_noop, i) for i in range(n)]:
            f.result()
        return (time.perf_counter() - t) / n


def command(paths_glob: str) -> dict:
    """The whole `dumpx fleet GLOB --json` command: wall and peak RSS of the driver (GNU time)."""
    exe = shutil.which("dumpx") or "dumpx"
    t = time.perf_counter()
    r = subprocess.run(["/usr/bin/time", "-f", "%M", exe, "fleet", paths_glob, "--json"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return {"wall_s": round(time.perf_counter() - t, 2),
            "driver_peak_rss_MiB": round(int(r.stderr.strip().splitlines()[-1]) / 1024, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--goroutines", type=int, default=10_000)
    ap.add_argument("--cores", type=int, default=1_000)
    ap.add_argument("--no-dask", action="store_true")
    args = ap.parse_args()
    gos, cores = make(args.goroutines, args.cores)
    workers = os.cpu_count() or 2
    out = {"cpus": workers}
    for name, paths in (("goroutine dumps", gos), ("cores", cores)):
        res = {"inputs": len(paths), "serial": rate(paths, workers=1),
               "pool": rate(paths, workers=workers)}
        res["pool_efficiency"] = round(res["pool"]["dumps_per_s"] / (workers * res["serial"]["dumps_per_s"]), 2)
        out[name] = res
    out["pool_task_overhead_ms"] = round(1000 * overhead(2000), 3)
    out["command_goroutines"] = command(str(WORK / f"go-{args.goroutines}" / "*.txt"))
    if not args.no_dask:
        from distributed import Client, LocalCluster
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address=None, silence_logs=50) as cl, Client(cl) as c:
            for name, paths in (("goroutine dumps", gos), ("cores", cores)):
                d = rate(paths, client=c)
                d["efficiency"] = round(d["dumps_per_s"] / (workers * out[name]["serial"]["dumps_per_s"]), 2)
                out[name]["dask"] = d
            out["dask_task_overhead_ms"] = round(1000 * overhead(2000, c), 3)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent / "src"))
    main()
