"""Benchmark: symbolized backtraces of every thread of a real many-thread core (dumpx vs eu-stack
vs gdb, whole commands, one run), the unwinder in-process cold and warm, and module listing on a
core with tens of thousands of mappings against eu-unstrip -n --core.

    python benchmarks/core_backtrace.py --threads 1000 --mappings 60000
    python benchmarks/core_backtrace.py --input fixtures/elf/out/threads.core.zst \
        --binary fixtures/elf/out/threads --mappings 2000          # CI: a fixture, small
    python benchmarks/core_backtrace.py --cpp      # one big C++ compile unit (std::regex & co), cold DWARF
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

HERE = Path(__file__).resolve().parent
WORK = HERE / "work"
sys.path.insert(0, str(HERE.parent / "tests"))

from _common import kernel_core  # noqa: E402


def generate(threads: int) -> tuple[Path, Path]:
    core = WORK / f"manythreads-{threads}.core"
    exe = WORK / "manythreads"
    if core.exists() and exe.exists():
        return core, exe
    WORK.mkdir(exist_ok=True)
    subprocess.run(["gcc", "-O2", "-g", "-pthread", "-o", str(exe), str(HERE / "gen/manythreads.c")], check=True)
    kernel_core(exe, [str(threads)], core, WORK)
    return core, exe


def run(cmd: list[str], env: dict | None = None) -> dict:
    """Wall time and peak RSS of a whole command (interpreter start included). The peak comes from
    GNU time, whose own small process forks the command: a child spawned from this Python process
    would inherit its high-water mark across exec."""
    WORK.mkdir(exist_ok=True)
    out_path, rss_path = WORK / "cmd.out", WORK / "cmd.rss"
    gnu_time = shutil.which("time") if Path("/usr/bin/time").exists() else None
    full = (["/usr/bin/time", "-f", "%M", "-o", str(rss_path)] if gnu_time else []) + cmd
    t = time.perf_counter()
    # bytecode as an installed package has it (pip writes .pyc files; a shell that sets
    # PYTHONDONTWRITEBYTECODE would otherwise recompile dumpx on every run)
    environ = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    with open(out_path, "wb") as out:
        rc = subprocess.run(full, stdout=out, stderr=subprocess.DEVNULL, env={**environ, **(env or {})}).returncode
    wall = time.perf_counter() - t
    rss = None
    if gnu_time and rss_path.exists():
        last = rss_path.read_text().strip().splitlines()[-1:]
        rss = round(int(last[0]) / 1024, 1) if last and last[0].isdigit() else None
    return {"seconds": round(wall, 3), "peak_rss_mib": rss, "exit": rc,
            "lines": out_path.read_bytes().count(b"\n")}


def interleaved(cmds: dict, n: int) -> dict:
    """Each command ``n`` times, taking turns (this machine drifts by a third between minutes, so
    the peers are measured in the same minutes as dumpx): for each, the median run's figures and
    the fastest and slowest wall times. ``cmds`` maps a label to (argv, a function giving the
    run's extra environment)."""
    runs: dict[str, list] = {k: [] for k in cmds}
    for _ in range(n):
        for k, (cmd, env_for) in cmds.items():
            runs[k].append(run(cmd, env_for()))
    out = {}
    for k, rs in runs.items():
        rs.sort(key=lambda r: r["seconds"])
        out[k] = dict(rs[len(rs) // 2])
        if n > 1:
            out[k].update(runs=n, min_seconds=rs[0]["seconds"], max_seconds=rs[-1]["seconds"])
    return out


def in_process(core: Path, exe: Path) -> dict:
    from dumpx.elf import Core
    from dumpx.elf.image import CACHE
    CACHE.clear()
    os.environ["DUMPX_CACHE_DIR"] = fresh_cache()
    t0 = time.perf_counter()
    c = Core(core)
    u = c.unwinder([exe])
    t1 = time.perf_counter()
    bts = u.all()
    t2 = time.perf_counter()
    u2 = type(u)(c, verdicts=u.verdicts)           # a second unwinder: the images' parsed DWARF is reused
    bts2 = u2.all()
    t3 = time.perf_counter()
    frames = sum(len(b.frames) for b in bts)
    assert frames == sum(len(b.frames) for b in bts2)
    distinct = len({tuple(f.pc for f in b.frames) for b in bts})
    return {"threads": len(bts), "frames": frames, "distinct_stacks": distinct,
            "open_and_verify_s": round(t1 - t0, 3), "unwind_symbolize_cold_s": round(t2 - t1, 3),
            "unwind_symbolize_warm_s": round(t3 - t2, 3)}


def fresh_cache() -> str:
    """An empty symbol cache directory, removed when the benchmark ends."""
    import atexit
    import tempfile
    WORK.mkdir(exist_ok=True)
    d = tempfile.mkdtemp(prefix="symcache-", dir=WORK)
    atexit.register(shutil.rmtree, d, True)
    return d


def modules_bench(n: int) -> dict:
    from corebuilder import build, many_modules
    p = WORK / f"mappings-{n}.core"
    if not p.exists():
        WORK.mkdir(exist_ok=True)
        p.write_bytes(build(many_modules(n)))
    code = f"from dumpx.elf import Core; print(len(Core({str(p)!r}).modules()))"
    ours = run([sys.executable, "-c", code])
    res = {"mappings": n, "core_mib": round(p.stat().st_size / 2**20, 1), "dumpx": ours}
    if shutil.which("eu-unstrip"):
        res["eu-unstrip -n --core"] = run(["eu-unstrip", "-n", "--core", str(p)])
    return res


def cpp_bench() -> dict:
    """The crashing thread of a C++ program whose one CU carries ~0.9 MB of DWARF (benchmarks/gen/
    bigcpp.cc): dumpx cold (empty symbol cache) and warm against gdb and eu-stack."""
    exe, core = WORK / "bigcpp", WORK / "bigcpp.core"
    if not core.exists():
        WORK.mkdir(exist_ok=True)
        subprocess.run(["g++", "-g", "-O2", "-o", str(exe), str(HERE / "gen/bigcpp.cc")], check=True)
        kernel_core(exe, [], core, WORK)
    beside = Path(sys.executable).parent / "dumpx"
    dumpx = str(beside) if beside.exists() else shutil.which("dumpx") or "dumpx"
    bt = [dumpx, "core", "bt", str(core), "--binary", str(exe)]
    run(bt, {"DUMPX_CACHE_DIR": fresh_cache()})
    cache = {"DUMPX_CACHE_DIR": fresh_cache()}
    res = {"dumpx core bt (cold)": run(bt, cache), "dumpx core bt (warm)": run(bt, cache)}
    if shutil.which("gdb"):
        res["gdb -batch -ex bt"] = run(["gdb", "-batch", "-nx", "-ex", "bt", str(exe), str(core)])
    if shutil.which("eu-stack"):
        res["eu-stack -i -l"] = run(["eu-stack", "-i", "-l", "--core", str(core), "-e", str(exe)])
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1000)
    ap.add_argument("--input", type=Path)
    ap.add_argument("--binary", type=Path)
    ap.add_argument("--mappings", type=int, default=60000)
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--cpp", action="store_true")
    ap.add_argument("--repeat", type=int, default=5, help="runs of each whole command (the median is reported)")
    a = ap.parse_args()
    if a.cpp:
        print(json.dumps(cpp_bench(), indent=2))
        return
    if a.input:
        core, exe = a.input, a.binary
        if core.suffix == ".zst":          # the peers read plain cores
            from dumpx.sources import Source
            WORK.mkdir(exist_ok=True)
            plain = WORK / core.name.removesuffix(".zst")
            v = Source(core).view()
            plain.write_bytes(v.read(0, v.size))
            core = plain
    else:
        core, exe = generate(a.threads)
    res = {"core": str(core), "core_mib": round(core.stat().st_size / 2**20, 1)}
    # the console script next to this interpreter (a pyenv shim in front of it adds its own ~50 ms)
    beside = Path(sys.executable).parent / "dumpx"
    dumpx = str(beside) if beside.exists() else shutil.which("dumpx") or "dumpx"
    bt = [dumpx, "core", "bt", str(core), "--binary", str(exe), "--all"]
    run(bt, {"DUMPX_CACHE_DIR": fresh_cache()})        # writes the .pyc files an installed package has
    cache = {"DUMPX_CACHE_DIR": fresh_cache()}
    run(bt, cache)
    cmds = {"dumpx core bt --all (cold: empty symbol cache)": (bt, lambda: {"DUMPX_CACHE_DIR": fresh_cache()}),
            "dumpx core bt --all (warm: symbol cache filled)": (bt, lambda: cache)}
    if not a.no_peer:
        if shutil.which("eu-stack"):
            cmds["eu-stack -i -l --core"] = (["eu-stack", "-i", "-l", "--core", str(core), "-e", str(exe)], lambda: None)
        if shutil.which("gdb"):
            cmds["gdb thread apply all bt"] = (["gdb", "-batch", "-nx", "-ex", "thread apply all bt", str(exe), str(core)],
                                               lambda: None)
    res.update(interleaved(cmds, a.repeat))
    res["dumpx core bt --all --json (warm)"] = run(bt + ["--json"], cache)
    cold = res["dumpx core bt --all (cold: empty symbol cache)"]["seconds"]
    warm = res["dumpx core bt --all (warm: symbol cache filled)"]["seconds"]
    for peer in ("gdb thread apply all bt", "eu-stack -i -l --core"):
        if peer in res:
            res[f"{peer} / dumpx (cold, warm; medians)"] = (round(res[peer]["seconds"] / cold, 2),
                                                             round(res[peer]["seconds"] / warm, 2))
    # last: the in-process run grows this process, and a big parent makes every later fork slower
    res["in_process"] = in_process(core, exe)
    if a.mappings:
        res["modules"] = modules_bench(a.mappings)
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
