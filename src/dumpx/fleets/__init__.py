"""``dumpx.fleet(...)``, in this package (``dumpx.fleets``): the same per-dump reading over hundreds
or thousands of dumps, reduced to what an incident asks of a fleet — which dumps read alike, and
which are the odd ones out.

Each input is examined on its own (``dumpx.examine``'s readings, in a worker), reduced to a small
summary (``dumpx.fleets.summary``), and the summaries are compared (``dumpx.fleets.reduce``). Runs on
a local process pool by default, serially with ``workers=1``, or on a Dask distributed cluster with
``client=`` (``pip install 'dumpx[fleet]'``).
"""

from __future__ import annotations

import glob
import os
from typing import Callable, Iterable

from .reduce import FleetReport
from .summary import summarize

__all__ = ["fleet", "FleetReport", "summarize", "expand"]


def expand(inputs: Iterable[str | os.PathLike]) -> list[str]:
    """Paths, globs (``dumps/*.txt``, ``**`` recursive) and URLs (``s3://...``, kept as given), in
    the order given, each once. A glob that matches nothing is kept, so it becomes an error row."""
    out: list[str] = []
    seen = set()
    for item in inputs:
        s = os.fspath(item)
        hits = [s] if "://" in s or not glob.has_magic(s) else sorted(glob.glob(s, recursive=True)) or [s]
        for h in hits:
            if h not in seen:
                seen.add(h)
                out.append(h)
    return out


def fleet(inputs, *, workers: int | None = None, client=None, memory_limit: int | str | None = None,
          resume: str | os.PathLike | None = None, progress: Callable | bool | None = None,
          binaries=(), search_paths=(), expect=(), graph: bool = True) -> FleetReport:
    """Examine every input and reduce: clusters and odd-one-out findings (``FleetReport``).

    ``workers``: local pool size (default: the CPUs; 1 reads serially). ``client``: a
    ``distributed.Client`` — the tasks run on its cluster and each worker reads its dumps itself
    (local paths it can see, or fsspec URLs). ``memory_limit`` (bytes or ``"2G"``): per pool worker;
    a dump over it is reported as ``memory-limit``. ``resume``: a journal file; inputs already in it
    are not read again. ``progress``: a function called with done/failed/total/rate (default: a line
    on a terminal, a self-updating display in a notebook; ``False``: none).
    """
    from ..sources import parse_size
    from .execute import execute
    from .reduce import FleetReport
    paths = expand([inputs] if isinstance(inputs, (str, os.PathLike)) else inputs)
    limit = parse_size(memory_limit) if isinstance(memory_limit, str) else memory_limit
    options = {"binaries": [os.fspath(b) for b in binaries], "search_paths": [os.fspath(p) for p in search_paths],
               "expect": list(expect), "graph": graph}
    summaries, retried, mode = execute(paths, options, workers=workers, client=client, memory_limit=limit,
                                       resume=os.fspath(resume) if resume else None,
                                       progress=(lambda _: None) if progress is False else progress)
    return FleetReport(summaries, retried, mode)
