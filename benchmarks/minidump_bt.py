"""Benchmark: open a minidump, list its modules and unwind every thread — dumpx against
rust-minidump's minidump-stackwalk on the same file, whole commands, in turns (issue 16).

The minidump is the one a Breakpad handler would write for a real crash: `benchmarks/gen/
manythreads.c` run with N threads, its kernel core taken, and `tests/minidumpbuilder.from_core`
writing threads, stacks, modules with build-ids, maps and auxv. dumpx symbolizes from the local
binaries (verified by build-id); minidump-stackwalk runs twice: without symbols (it unwinds by
scanning and names nothing) and, when `dump_syms` is installed (cargo install dump_syms), with a
local Breakpad symbol store made from the same binary and libc's debug file — all local, no network.

Beside the whole commands, in the same turns: the floor any Python command stands on (the
interpreter's start, and the start with the command's own imports), and the same work in a
resident process, as a notebook or a backend that has imported dumpx does it — the first minidump
of the process (its lazy imports and the images' parsing included) and a later one.

    python benchmarks/minidump_bt.py --threads 100
    python benchmarks/minidump_bt.py --input fixtures/minidump/out/unwind-O2cfi.dmp \
        --binary fixtures/elf/out/unwind-O2cfi --repeat 1          # CI: a fixture, small
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from core_backtrace import WORK, fresh_cache, generate, interleaved  # noqa: E402


def symbol_store(dmp: Path, exe: Path) -> Path | None:
    """A Breakpad symbol store for the minidump's program and libc (dump_syms), or None."""
    from breakpad_syms import store
    from dumpx.minidump import Minidump
    files = [(exe.name, exe)]
    for m in Minidump(dmp).modules:
        if m.build_id and Path(m.name).name == "libc.so.6":
            dbg = Path(f"/usr/lib/debug/.build-id/{m.build_id[:2]}/{m.build_id[2:]}.debug")
            files.append(("libc.so.6", dbg if dbg.exists() else Path(m.name)))
    return store(WORK / f"syms-{dmp.stem}", files)


RESIDENT = r"""
import json, sys, time
import dumpx
from dumpx.cli.core import _frame_line
def once(path, exe):
    t = time.perf_counter()
    md = dumpx.open(path)
    names = [m.name for m in md.modules]
    u = md.process().unwinder([exe], [])
    lines = [_frame_line(f) for b in u.all() for f in b.frames]
    return time.perf_counter() - t, len(names), len(lines)
first = once(sys.argv[1], sys.argv[2])
later = sorted(once(sys.argv[1], sys.argv[2]) for _ in range(5))[2]
print(json.dumps({"first_s": round(first[0], 4), "later_median_s": round(later[0], 4),
                  "modules": first[1], "frame_lines": first[2]}))
"""


def resident(dmp: Path, exe: Path, env: dict, n: int) -> dict:
    """Open, list modules, unwind and render every thread inside a process that has imported
    dumpx (fresh each time): the first minidump and the median of five later ones, medians of n."""
    import os
    import subprocess
    environ = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    runs = [json.loads(subprocess.run([sys.executable, "-c", RESIDENT, str(dmp), str(exe)], check=True,
                                      capture_output=True, text=True, env={**environ, **env}).stdout)
            for _ in range(n)]
    runs.sort(key=lambda r: r["first_s"])
    out = dict(runs[len(runs) // 2])
    out["later_median_s"] = sorted(r["later_median_s"] for r in runs)[len(runs) // 2]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--input", type=Path, help="an existing minidump (with --binary)")
    ap.add_argument("--binary", type=Path)
    a = ap.parse_args()
    if a.input:
        dmp, exe = a.input, a.binary
    else:
        core, exe = generate(a.threads)
        dmp = WORK / f"manythreads-{a.threads}.dmp"
    if not dmp.exists():
        from dumpx.elf import Core
        from minidumpbuilder import from_core
        dmp.write_bytes(from_core(Core(core)))
    beside = Path(sys.executable).parent / "dumpx"
    dumpx = str(beside) if beside.exists() else shutil.which("dumpx") or "dumpx"
    bt = [dumpx, "minidump", "bt", str(dmp), "--binary", str(exe), "--all"]
    cache = {"DUMPX_CACHE_DIR": fresh_cache()}
    cmds = {"dumpx minidump bt --all (cold: empty symbol cache)": (bt, lambda: {"DUMPX_CACHE_DIR": fresh_cache()}),
            "dumpx minidump bt --all (warm)": (bt, lambda: cache),
            "dumpx minidump bt --all --json (warm)": (bt + ["--json"], lambda: cache)}
    py = sys.executable
    imports = ("import dumpx.cli, dumpx.cli.minidump, dumpx.cli.core, dumpx.minidump, dumpx.minidump.process, "
               "dumpx.elf.backtrace, dumpx.elf.reading, dumpx.elf.symcache, dumpx.elf.dwarf")
    cmds["floor: python -c pass"] = ([py, "-c", "pass"], lambda: None)
    cmds["floor: python importing the command's modules"] = ([py, "-c", imports], lambda: None)
    tool = shutil.which("minidump-stackwalk") or str(Path.home() / ".cargo/bin/minidump-stackwalk")
    if Path(tool).exists():
        cmds["minidump-stackwalk --json"] = ([tool, "--json", str(dmp)], lambda: None)
        cmds["minidump-stackwalk --human"] = ([tool, "--human", str(dmp)], lambda: None)
        syms = symbol_store(dmp, exe)
        if syms is not None:
            cmds["minidump-stackwalk --human, Breakpad symbols"] = (
                [tool, "--human", "--symbols-path", str(syms), str(dmp)], lambda: None)
            cmds["minidump-stackwalk --json, Breakpad symbols"] = (
                [tool, "--json", "--symbols-path", str(syms), str(dmp)], lambda: None)
    res = {"minidump": str(dmp), "minidump_kib": round(dmp.stat().st_size / 1024, 1)}
    res.update(interleaved(cmds, a.repeat))
    res["resident process, warm symbol cache"] = resident(dmp, exe, cache, a.repeat)
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
