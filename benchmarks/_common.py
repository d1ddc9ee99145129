"""Helpers shared by the benchmark scripts: anonymous-memory peak and a raw sequential read."""

from __future__ import annotations

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
