"""Where the object graph's large arrays live while it is built and queried.

Without a memory budget they are ordinary numpy arrays. With one (``HeapDump(memory=...)``,
``--memory 8G``) and a graph whose in-memory build would not fit in it, every array of at least
``SPILL_FROM`` bytes is a shared mapping of an unlinked file in the work directory: only the pages
in use are resident, and the kernel writes dirty pages back and drops them when memory is short,
so the build trades speed for staying inside the budget instead of failing. Nothing is left on
disk: the files are unlinked when created and their space returns when the arrays are dropped.
Each file's blocks are reserved when it is made, so a full disk is an ``OSError`` naming the
directory, never a SIGBUS when a page is first written; a directory in memory (tmpfs, as
``/tmp`` is on many systems) is warned about, since work files there spend the memory they
were to save.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np

SPILL_FROM = 16 << 20             # arrays below this stay in memory even under a budget
IN_MEMORY_BYTES_PER_OBJECT = 64   # the whole dominators command's measured peak, rounded up
SORT_BYTES_PER_OBJECT = 16        # the id sort's own arrays (int64 order and its merge buffer), never spilled
MEMORY_FILESYSTEMS = {"tmpfs", "ramfs"}


def filesystem_type(path: str | os.PathLike) -> str | None:
    """The type of the filesystem ``path`` is on (from /proc/self/mounts; None where unknown)."""
    try:
        real = os.path.realpath(path)
        best, kind = "", None
        with open("/proc/self/mounts", encoding="utf-8", errors="replace") as f:
            for line in f:
                parts = line.split()
                if len(parts) < 3:
                    continue
                mnt = parts[1].replace("\\040", " ")
                if (real == mnt or real.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best):
                    best, kind = mnt, parts[2]
        return kind
    except OSError:
        return None


def budget_warnings(budget: int | None, objects: int, directory: str | os.PathLike) -> list[str]:
    """Why a budget will not hold: below what the id sort keeps in memory, or work files that
    would go to a directory in memory (tmpfs). The library warns them; the command prints them."""
    out: list[str] = []
    if budget is None:
        return out
    if objects * SORT_BYTES_PER_OBJECT > budget:
        out.append(f"a memory budget of {budget:,} bytes is below what sorting the ids of {objects:,} objects "
                   f"holds in memory (about {objects * SORT_BYTES_PER_OBJECT:,} bytes): the graph build will go over it")
    kind = filesystem_type(directory) if objects * IN_MEMORY_BYTES_PER_OBJECT > budget else None
    if kind in MEMORY_FILESYSTEMS:
        out.append(f"the work files go to {os.fspath(directory)}, which is in memory ({kind}): they will not keep "
                   f"the graph within the budget; set DUMPX_TMPDIR to a directory on disk")
    return out


def work_directory(directory=None) -> str:
    """Where work files go: ``directory``, else ``$DUMPX_TMPDIR``, else the temporary directory."""
    return os.fspath(directory) if directory is not None else (
        os.environ.get("DUMPX_TMPDIR") or tempfile.gettempdir())


def _reserve(f, size: int, directory: str) -> None:
    """The file's blocks, reserved now (a full disk fails here, not as SIGBUS on a mapped page)."""
    try:
        if hasattr(os, "posix_fallocate"):
            os.posix_fallocate(f.fileno(), 0, size)
        else:  # pragma: no cover
            f.truncate(size)
    except OSError as e:
        raise OSError(e.errno, f"no room for a {size:,}-byte work file in {directory} ({e.strerror}); "
                               f"set DUMPX_TMPDIR to a directory with more space") from None


class WorkSpace:
    """Allocates the graph's arrays: in memory, or (``spill``) in memory-mapped work files."""

    def __init__(self, spill: bool = False, directory: str | os.PathLike | None = None,
                 spill_from: int | None = None):
        self.spill = spill
        self.spill_from = spill_from   # None: SPILL_FROM
        self.directory = work_directory(directory)
        self.files = 0                 # work files made so far (for the tests and the report)
        self.bytes = 0                 # and their bytes

    @classmethod
    def for_budget(cls, budget: int | None, objects: int, directory=None) -> "WorkSpace":
        """In memory when ``objects`` fit the budget at the in-memory peak per object, else spilled;
        each of ``budget_warnings`` is a DumpWarning."""
        space = cls(spill=budget is not None and objects * IN_MEMORY_BYTES_PER_OBJECT > budget,
                    directory=directory)
        for text in budget_warnings(budget, objects, space.directory):
            import warnings

            from ..errors import DumpWarning
            warnings.warn(DumpWarning(f"dumpx: {text}"), stacklevel=3)
        return space

    def array(self, length: int, dtype, fill=None) -> np.ndarray:
        """A new 1-d array (``fill`` None: contents undefined; a work file starts as zeros)."""
        dtype = np.dtype(dtype)
        length = int(length)
        if not self.spill or length == 0 or length * dtype.itemsize < (
                SPILL_FROM if self.spill_from is None else self.spill_from):
            return np.empty(length, dtype) if fill is None else np.full(length, fill, dtype)
        with tempfile.TemporaryFile(dir=self.directory, prefix="dumpx-graph-") as f:
            _reserve(f, length * dtype.itemsize, self.directory)
            a = np.memmap(f, dtype=dtype, mode="r+", shape=(length,))
        self.files += 1
        self.bytes += length * dtype.itemsize
        if fill is not None and fill != 0:
            for s in range(0, length, 1 << 24):
                a[s:s + (1 << 24)] = fill
        return a.view(np.ndarray)

    def __call__(self, length: int, dtype, fill=None) -> np.ndarray:
        return self.array(length, dtype, fill)

    def copy(self, a: np.ndarray, dtype=None) -> np.ndarray:
        """``a`` (converted to ``dtype``) in a new array of this space, a chunk at a time."""
        out = self.array(len(a), dtype or a.dtype)
        for s in range(0, len(a), 1 << 24):
            out[s:s + (1 << 24)] = a[s:s + (1 << 24)]
        return out


class Column:
    """An array appended to a chunk at a time (the graph pass's objects and references, when
    spilling): a work file written sequentially, mapped when complete."""

    def __init__(self, space: WorkSpace, dtype):
        self.space = space
        self.dtype = np.dtype(dtype)
        self.n = 0
        self._file = tempfile.TemporaryFile(dir=space.directory, prefix="dumpx-graph-")

    def append(self, a: np.ndarray) -> None:
        a = np.ascontiguousarray(a, dtype=self.dtype)
        try:
            self._file.write(memoryview(a).cast("B"))
        except OSError as e:
            raise OSError(e.errno, f"no room to write a work file in {self.space.directory} ({e.strerror}); "
                                   f"set DUMPX_TMPDIR to a directory with more space") from None
        self.n += len(a)

    def array(self, extra: int = 0) -> np.ndarray:
        """The whole column with ``extra`` zero entries after it, mapped; the column is done with."""
        f, self._file = self._file, None
        with f:
            size = (self.n + extra) * self.dtype.itemsize
            if size == 0:
                return np.zeros(0, self.dtype)
            f.flush()
            _reserve(f, size, self.space.directory)
            self.space.files += 1
            self.space.bytes += size
            return np.memmap(f, dtype=self.dtype, mode="r+", shape=(self.n + extra,)).view(np.ndarray)
