"""Helpers shared by the benchmark scripts: anonymous-memory peak and a raw sequential read.

Importing this module byte-compiles the dumpx package first, as an installed package is: with
``PYTHONDONTWRITEBYTECODE`` set (as on this machine) an editable install's edited modules would
otherwise be compiled again by every command timed (20 ms of an 80 ms command)."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from pathlib import Path


def compile_dumpx() -> None:
    import compileall
    import importlib.util
    spec = importlib.util.find_spec("dumpx")
    for d in (spec.submodule_search_locations or []) if spec else []:
        compileall.compile_dir(d, quiet=2)


compile_dumpx()


def rss_anon() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    return 0


class PeakAnon:
    def __init__(self):
        self.peak = rss_anon()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_anon())

    def __enter__(self):
        self.base = rss_anon()
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, rss_anon())


def raw_read(path: Path) -> float:
    """Seconds to read ``path`` sequentially in 16 MiB pieces (the limit any parser works under)."""
    buf = bytearray(16 << 20)
    t = time.perf_counter()
    with open(path, "rb", buffering=0) as f:
        while f.readinto(buf):
            pass
    return time.perf_counter() - t


def kernel_core(exe: Path, args: list[str], out: Path, work: Path) -> Path:
    """Run ``exe args`` with an unlimited core size in a scratch folder and move the core the kernel
    wrote to ``out`` (core_pattern must be a file name, as on this machine)."""
    d = work / "core-run"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    subprocess.run(["bash", "-c", "ulimit -c unlimited; exec " + " ".join([str(exe)] + args)], cwd=d)
    cores = [p for p in d.iterdir() if p.name.startswith("core")]
    if not cores:
        raise SystemExit(f"no core written (core_pattern: {Path('/proc/sys/kernel/core_pattern').read_text().strip()})")
    cores[0].rename(out)
    return out


def _anon_of(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def run_measured(cmd: list[str], *, stdout=subprocess.DEVNULL, env: dict | None = None) -> dict:
    """A whole command as the user meets it: wall seconds (interpreter start included) and the
    peak anonymous RSS of the process, sampled every 10 ms (a mapped dump's page cache, which the
    kernel can drop, is not counted; GNU time's maximum RSS would count it)."""
    t = time.perf_counter()
    import os
    p = subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.PIPE,
                         env={**os.environ, **env} if env else None)
    peak = 0
    while p.poll() is None:
        peak = max(peak, _anon_of(p.pid))
        time.sleep(0.01)
    wall = time.perf_counter() - t
    err = p.stderr.read().decode(errors="replace") if p.stderr else ""
    return {"wall_s": round(wall, 3), "peak_anon_MiB": round(peak / 2**20, 1), "exit": p.returncode,
            "stderr": err.strip()[-200:]}


def median_runs(cmds: dict[str, list[str]], repeat: int = 3) -> dict[str, dict]:
    """Each command ``repeat`` times, in turns (a, b, a, b, ...), so that a busy moment of the
    machine hits both; the run with the median wall time of each is reported."""
    runs: dict[str, list[dict]] = {k: [] for k in cmds}
    for _ in range(repeat):
        for k, c in cmds.items():
            runs[k].append(run_measured(c))
    return {k: sorted(v, key=lambda r: r["wall_s"])[len(v) // 2] | {"walls": [r["wall_s"] for r in v]}
            for k, v in runs.items()}
