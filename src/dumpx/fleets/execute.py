"""Running ``summarize`` over a fleet: serially, on a local process pool (the default), or on a Dask
distributed cluster. Only the summaries travel back; the workers read the dumps themselves.

Faults: a pool worker that dies (killed, out of memory, a crash) takes its in-flight dumps with it;
they are read again one at a time, so the dump that kills a worker is found and reported as
``worker-died`` after ``ATTEMPTS`` tries instead of being retried forever, and the others complete.
A worker over its memory limit (``RLIMIT_AS`` in each pool worker) reports ``memory-limit`` for that
dump. On Dask, the scheduler moves the tasks of a dead worker elsewhere; a task that kills
``allowed-failures`` workers comes back as ``KilledWorker`` and is reported as ``worker-died``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Callable, Iterable

from .summary import input_key, summarize

ATTEMPTS = 2
BATCH_ITEMS = 32                # small dumps go to a worker in batches: one task's IPC for many dumps
BATCH_BYTES = 8 << 20           # ... up to this many bytes of input; a bigger dump is a task of its own


def batches(paths: list[str]) -> list[list[str]]:
    """Consecutive inputs grouped into tasks of at most BATCH_ITEMS and BATCH_BYTES (URLs alone)."""
    out: list[list[str]] = []
    cur: list[str] = []
    size = 0
    for p in paths:
        try:
            n = os.path.getsize(p) if "://" not in p else BATCH_BYTES
        except OSError:
            n = 0
        if cur and (len(cur) >= BATCH_ITEMS or size + n > BATCH_BYTES):
            out.append(cur)
            cur, size = [], 0
        cur.append(p)
        size += n
    if cur:
        out.append(cur)
    return out


def _run_batch(task, paths: list[str], options: dict) -> list[dict]:
    return [task(p, options) for p in paths]


class Journal:
    """The resume file: one JSON summary per line, appended as results arrive (``--resume``). A line
    counts only for a run with the same options (binaries, expected functions, graph): a summary
    made with other options is read again, not reused."""

    def __init__(self, path, options: dict | None = None):
        self.path = path
        self.fingerprint = json.dumps(options or {}, sort_keys=True)
        self.done: dict[str, dict] = {}
        if path and os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                for line in f:
                    try:
                        s = json.loads(line)
                    except ValueError:
                        continue              # the line a killed run was writing
                    if isinstance(s, dict) and "key" in s and s.pop("options", None) == self.fingerprint:
                        self.done[s["key"]] = s
        self._f = open(path, "a", encoding="utf-8") if path else None

    def add(self, s: dict) -> None:
        if self._f is not None:
            self._f.write(json.dumps({**s, "options": self.fingerprint}) + "\n")
            self._f.flush()

    def close(self) -> None:
        if self._f is not None:
            self._f.close()


class Progress:
    """Done, failed and rate across the fleet: a line on a terminal, a display that updates itself
    in a notebook, or the caller's function (called with a dict)."""

    def __init__(self, total: int, callback: Callable | None | bool = None):
        self.total, self.done, self.failed = total, 0, 0
        self.start = time.monotonic()
        self.last = 0.0
        self.callback = callback if callable(callback) else None
        self.handle = None
        self.tty = callback is None and sys.stderr.isatty()
        if callback is None and not self.tty and "ipykernel" in sys.modules:
            try:
                from IPython.display import display
                self.handle = display(self._line(), display_id=True)
            except Exception:
                self.handle = None

    def _line(self) -> str:
        rate = self.done / max(time.monotonic() - self.start, 1e-9)
        return f"dumpx fleet: {self.done}/{self.total} done, {self.failed} failed, {rate:.1f} dumps/s"

    def update(self, s: dict, final: bool = False) -> None:
        if s is not None:
            self.done += 1
            self.failed += s.get("status") != "ok"
        now = time.monotonic()
        if self.callback is None and not final and now - self.last < 0.25:
            return
        self.last = now
        if self.callback is not None:
            self.callback({"done": self.done, "failed": self.failed, "total": self.total,
                           "rate": self.done / max(now - self.start, 1e-9)})
        elif self.handle is not None:
            self.handle.update(self._line())
        elif self.tty:
            sys.stderr.write("\r" + self._line() + "   ")
            sys.stderr.flush()

    def close(self) -> None:
        self.update(None, final=True)
        if self.tty:
            sys.stderr.write("\n")


def _limit_memory(limit: int | None) -> None:
    """A pool worker's start: no BLAS threads (dumpx calls none; they would reserve address space
    and spin), and the memory limit."""
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    if limit:
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _died(path: str, why: str) -> dict:
    return {"input": path, "key": input_key(path), "status": "worker-died", "format": None,
            "error": {"type": "WorkerDied", "offset": None, "message": why}, "signature": "worker-died",
            "findings": [], "facts": {}}


def run_serial(paths: list[str], options: dict, emit) -> dict[str, int]:
    for p in paths:
        emit(summarize(p, options))
    return {}


def run_pool(paths: list[str], options: dict, emit, workers: int, memory_limit: int | None,
             tasks_per_worker: int = 200, task=summarize) -> dict[str, int]:
    """A local process pool, small dumps in batches; a broken pool is replaced and the dumps it had
    in flight are read again one at a time (the retried inputs are returned with their attempts)."""
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool
    ctx = mp.get_context("spawn")
    attempts: dict[str, int] = {}
    pending = list(reversed(batches(paths)))
    suspects: list[str] = []

    def pool(n):
        recycle = {"max_tasks_per_child": tasks_per_worker} if sys.version_info >= (3, 11) else {}
        return ProcessPoolExecutor(n, mp_context=ctx, initializer=_limit_memory, initargs=(memory_limit,), **recycle)
    ex = pool(workers)
    running: dict = {}
    try:
        while pending or running or suspects:
            if suspects and not running:
                # the dumps a dead worker had: one at a time, each in its own worker
                p = suspects.pop()
                attempts[p] = attempts.get(p, 1) + 1
                with pool(1) as solo:
                    try:
                        emit(solo.submit(task, p, options).result())
                    except BrokenProcessPool:
                        if attempts[p] >= ATTEMPTS:
                            emit(_died(p, f"the worker reading it died {attempts[p]} times (killed, out of "
                                          f"memory, or crashed)"))
                        else:
                            suspects.append(p)
                continue
            while pending and len(running) < 4 * workers and not suspects:
                b = pending.pop()
                running[ex.submit(_run_batch, task, b, options)] = b
            if not running:
                continue
            done, _ = wait(list(running), return_when=FIRST_COMPLETED)
            broken = False
            for fut in done:
                b = running.pop(fut)
                try:
                    for s in fut.result():
                        emit(s)
                except BrokenProcessPool:
                    broken = True
                    suspects += b
            if broken:
                for b in running.values():
                    suspects += b
                running.clear()
                ex.shutdown(wait=False, cancel_futures=True)
                ex = pool(workers)
    finally:
        ex.shutdown(wait=True, cancel_futures=True)
    return {p: n for p, n in attempts.items()}


def _dask_task(paths: list[str], options: dict) -> list[dict]:
    """A batch of summaries on a Dask worker; each start is logged so that the client can tell what
    was retried."""
    try:
        from distributed import get_worker
        w = get_worker()
        for p in paths:
            w.log_event("dumpx-fleet-start", {"input": p})
    except Exception:
        pass
    return [summarize(p, options) for p in paths]


def run_dask(paths: list[str], options: dict, emit, client) -> dict[str, int]:
    """Batches on the cluster; a batch whose workers kept dying is split into single dumps, and a
    single dump that kills its workers is a ``worker-died`` row."""
    from distributed import as_completed
    from distributed.scheduler import KilledWorker
    began = time.time()
    todo = batches(paths)
    while todo:
        futs = [client.submit(_dask_task, b, options, pure=False) for b in todo]
        where = {f.key: b for f, b in zip(futs, todo)}
        todo = []
        for fut in as_completed(futs):
            b = where[fut.key]
            try:
                for s in fut.result():
                    emit(s)
            except KilledWorker as err:
                if len(b) > 1:
                    todo += [[p] for p in b]
                else:
                    emit(_died(b[0], f"the Dask workers running it died (KilledWorker: {err})"))
            fut.release()
    starts: dict[str, int] = {}
    try:
        for at, ev in client.get_events("dumpx-fleet-start"):
            if at >= began:                   # this run's starts only (a cluster outlives runs)
                starts[ev["input"]] = starts.get(ev["input"], 0) + 1
    except Exception:
        pass
    return {p: n for p, n in starts.items() if n > 1}


def execute(paths: Iterable[str], options: dict, *, workers: int | None, client=None, memory_limit=None,
            resume=None, progress=None):
    """(summaries in input order, retried inputs, mode)."""
    paths = list(paths)
    journal = Journal(resume, options)
    results: dict[str, dict] = {}
    todo = []
    for p in paths:
        s = journal.done.get(input_key(p))
        if s is not None:
            results[p] = s
        else:
            todo.append(p)
    prog = Progress(len(paths), progress)
    prog.done = len(results)

    def emit(s: dict) -> None:
        results[s["input"]] = s
        journal.add(s)
        prog.update(s)
    try:
        if client is not None:
            mode = "dask"
            retried = run_dask(todo, options, emit, client)
        elif workers == 1 or len(todo) <= 1:
            mode = "serial"
            retried = run_serial(todo, options, emit)
        else:
            mode = f"pool of {workers or os.cpu_count()}"
            retried = run_pool(todo, options, emit, workers or os.cpu_count() or 1, memory_limit)
    finally:
        prog.close()
        journal.close()
    resumed = len(paths) - len(todo)
    if resumed:
        mode += f", {resumed} resumed from the journal"
    return [results[p] for p in paths], retried, mode
