"""Benchmark: object graph + dominators + retained sizes, against the VisualVM heap library.

    python benchmarks/hprof_dominators.py --generate-mib 600          # a real dump made by the JDK
    python benchmarks/hprof_dominators.py --input FILE [--no-peer]

Also the whole ``dumpx hprof dominators FILE`` command as a user runs it (wall time with
interpreter start, peak anonymous memory per object). The peer is benchmarks/peers/visualvm/RetainedPeer.java on Debian's visualvm package
(org-graalvm-visualvm-lib-jfluid-heap.jar), timed on the same file in the same run; the top
objects' retained sizes of both are compared.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from _common import PeakAnon, run_measured
from hprof_histogram import generate

HERE = Path(__file__).resolve().parent
JAR = Path("/usr/share/visualvm/visualvm/modules/org-graalvm-visualvm-lib-jfluid-heap.jar")


def peer(path: Path, n: int):
    if not JAR.exists() or not shutil.which("javac"):
        return None
    shutil.rmtree(f"{path}.hwcache", ignore_errors=True)     # VisualVM's index of the dump: time it cold
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["javac", "-cp", str(JAR), "-d", tmp, str(HERE / "peers/visualvm/RetainedPeer.java")],
                       check=True)
        t = time.perf_counter()
        r = subprocess.run(["java", "-Xmx16g", "-cp", f"{tmp}:{JAR}", "RetainedPeer", str(path), str(n)],
                           capture_output=True, text=True)
        wall = time.perf_counter() - t
    if r.returncode:
        return {"error": r.stderr[-300:]}
    rows = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    return {"top": rows[:-1], "seconds": rows[-1]["seconds"], "wall_s": round(wall, 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--input")
    ap.add_argument("--generate-mib", type=int)
    ap.add_argument("--small-pct", type=int, default=50, help="share of the heap in small objects")
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--top", type=int, default=20)
    args = ap.parse_args()
    path = Path(args.input) if args.input else generate(args.generate_mib or 600, args.small_pct)

    from dumpx.hprof import HeapDump
    from dumpx.hprof.graph import build_graph

    import sys
    exe = Path(sys.executable).parent / "dumpx"
    whole = run_measured([str(exe if exe.exists() else shutil.which("dumpx")), "hprof", "dominators", str(path)])
    with PeakAnon() as mem:
        t = time.perf_counter()
        d = HeapDump(path)
        d.scan
        t_scan = time.perf_counter() - t
        t = time.perf_counter()
        g = build_graph(d)
        t_graph = time.perf_counter() - t
    n = len(g.ids)
    res = {"file": str(path), "bytes": path.stat().st_size, "objects": n, "edges": len(g.indices),
           "histogram_pass_s": round(t_scan, 2), "graph_dominators_retained_s": round(t_graph, 2),
           "total_s": round(t_scan + t_graph, 2),
           "peak_anon_MiB": round(mem.peak / 2**20, 1),
           "bytes_per_object": round((mem.peak - mem.base) / max(n, 1), 1),
           "whole_command": whole | {"bytes_per_object": round(whole["peak_anon_MiB"] * 2**20 / max(n, 1), 1)}}
    if not args.no_peer:
        p = peer(path, args.top)
        if p and "top" in p:
            vs = g.vertices([x["id"] for x in p["top"]])
            ours = {x["id"]: int(g.retained[v]) for x, v in zip(p["top"], vs.tolist())}
            agree = [x for x in p["top"] if ours.get(x["id"]) == x["retained"]]
            res["peer_visualvm_s"] = p["seconds"]
            res["peer_visualvm_process_wall_s"] = p["wall_s"]
            res["ratio_peer_over_dumpx"] = round(p["seconds"] / (t_scan + t_graph), 2)
            res["ratio_peer_process_over_dumpx_command"] = round(p["wall_s"] / whole["wall_s"], 2)
            res["top_agreeing"] = f"{len(agree)} of {len(p['top'])}"
            res["disagreeing"] = [{"id": hex(x["id"]), "class": x["class"], "visualvm": x["retained"],
                                   "dumpx": ours.get(x["id"])} for x in p["top"] if x not in agree]
        else:
            res["peer_visualvm"] = p
    print(json.dumps(res))


if __name__ == "__main__":
    main()
