"""Helpers shared by the benchmark scripts: anonymous-memory peak and a raw sequential read."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from pathlib import Path


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
