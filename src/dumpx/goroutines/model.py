"""The model every goroutine reader produces: distinct stacks and groups of goroutines.

A *group* is goroutines that share a state and an exact stack, with their count, wait-time
range and how many are locked to a thread. Text dumps also keep per-goroutine columns (ids,
creators); aggregated formats (debug=1, pprof protobuf) only have groups. Nothing is kept as
one Python object per goroutine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..table import Table


@dataclass(frozen=True, slots=True)
class Frame:
    func: str
    file: str | None = None
    line: int | None = None
    args: str | None = None     # as printed (debug=2); None where the format has none

    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.file else "?"


@dataclass(frozen=True, slots=True)
class Stack:
    frames: tuple[Frame, ...]
    created_by: Frame | None = None
    elided: bool = False

    def functions(self) -> tuple[str, ...]:
        return tuple(f.func for f in self.frames)

    def user_functions(self) -> tuple[str, ...]:
        """Functions outside the runtime's parking machinery (what the program was doing)."""
        return tuple(f for f in self.functions() if not _is_runtime(f))

    def top(self) -> str:
        """The first frame that is the program's own (not runtime, sync or time internals)."""
        for f in self.frames:
            if not _is_runtime(f.func) and not f.func.startswith(("sync.", "time.", "internal/")):
                return f.func
        return self.frames[0].func if self.frames else "?"


_RUNTIME_PREFIXES = ("runtime.", "runtime/internal/", "internal/runtime/")


def _is_runtime(func: str) -> bool:
    return func.startswith(_RUNTIME_PREFIXES) and not func.startswith("runtime/pprof.")


@dataclass
class GoroutineDump:
    """Goroutines of one dump, grouped by state and stack."""

    format: str
    name: str
    stacks: list[Stack]
    states: list[str]
    group_state: np.ndarray          # per group: index into states
    group_stack: np.ndarray          # per group: index into stacks
    group_count: np.ndarray
    group_wait_min: np.ndarray       # minutes, -1 = under one minute / not reported
    group_wait_max: np.ndarray
    group_locked: np.ndarray
    group_labels: list[dict] = field(default_factory=list)
    state_inferred: bool = False
    goroutines: Table | None = None  # per goroutine (text formats): id, group, state, stack, exact, ...
    preamble: list[str] = field(default_factory=list)
    problems: list[Any] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    total_declared: int | None = None
    group_creators: list[list[int]] | None = None   # per group: creator goroutine ids (up to 16)
    locked_ids: list[int] | None = None             # ids of goroutines locked to threads (up to 256)
    ancestors: Table | None = None   # GODEBUG=tracebackancestors: goroutine, ancestor id, depth (1 = creator)
    group_ancestors: list[list[int]] | None = None  # per group: ancestor ids past the creator (up to 16)
    group_hidden_top: list[tuple[int, ...]] | None = None   # debug=1: the PCs above the first printed frame

    @property
    def total(self) -> int:
        return int(self.group_count.sum())

    def __repr__(self) -> str:
        return (f"<GoroutineDump {self.name!r} {self.format}: {self.total} goroutines, "
                f"{len(self.stacks)} distinct stacks>")

    def _repr_pretty_(self, p, cycle) -> None:
        p.text(repr(self) if cycle else repr(self) + "\n" + self.buckets().sort_by("count").head(15).text())

    def _repr_html_(self) -> str:
        from ..render import safe_html
        return f"<p>{safe_html(repr(self))}</p>" + self.buckets().sort_by("count").head(30)._repr_html_()

    def findings(self, expect=(), diff: "GoroutineDump | None" = None):
        from .analysis import findings
        return findings(self, expect=expect, other=diff)

    def provenance(self) -> dict:
        """What the dump says about itself: how many goroutines, in how many distinct stacks."""
        out = {"goroutines": self.total, "distinct_stacks": len(self.stacks)}
        if self.preamble:
            out["first_line"] = self.preamble[0]
        if self.problems:
            out["problems"] = [str(p) for p in self.problems]
        return out

    def buckets(self, exact: bool = False) -> Table:
        from .analysis import buckets
        return buckets(self, exact=exact)
