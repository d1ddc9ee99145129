"""Benchmark: open a minidump, list its modules and unwind every thread — dumpx against
rust-minidump's minidump-stackwalk on the same file, whole commands, in turns (issue 16).

The minidump is the one a Breakpad handler would write for a real crash: `benchmarks/gen/
manythreads.c` run with N threads, its kernel core taken, and `tests/minidumpbuilder.from_core`
writing threads, stacks, modules with build-ids, maps and auxv. dumpx symbolizes from the local
binaries (verified by build-id); minidump-stackwalk runs twice: without symbols (it unwinds by
scanning and names nothing) and, when `dump_syms` is installed (cargo install dump_syms), with a
local Breakpad symbol store made from the same binary and libc's debug file — all local, no network.

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
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
