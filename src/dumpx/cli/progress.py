"""A progress line on stderr for long passes; silent when stderr is not a terminal."""

from __future__ import annotations

import sys
import time

from ..render import human_bytes


class Progress:
    def __init__(self, label: str, *, enabled: bool | None = None, stream=None):
        self.stream = stream or sys.stderr
        self.enabled = (self.stream.isatty() if enabled is None else enabled)
        self.label = label
        self.start = time.monotonic()
        self.last = 0.0

    def __call__(self, done: int, total: int | None) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.last < 0.2:
            return
        self.last = now
        rate = done / max(now - self.start, 1e-9)
        pct = f"{100 * done / total:5.1f}% " if total else ""
        self.stream.write(f"\r{self.label}: {pct}{human_bytes(done)} at {human_bytes(rate)}/s   ")
        self.stream.flush()

    def phase(self, label: str) -> None:
        """A new step of a long job: the line names it at once (a native step may report nothing
        until it ends)."""
        self.label = label
        self.start = time.monotonic()
        self.last = 0.0
        if self.enabled:
            self.stream.write("\r" + " " * 72 + f"\r{label} ...")
            self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\r" + " " * 72 + "\r")
            self.stream.flush()
