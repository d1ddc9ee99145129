"""A persistent index of a heap dump: the scan and the object graph (dominators, retained sizes)
kept as memory-mapped arrays, so a second query on a multi-GB dump does not read it again.

An index is keyed by the dump's *content* — its size, its header and a hash of 33 sampled
blocks — never by its file name (a dump rewritten under the same name, VisualVM's stale
``.hwcache`` trap, gets a new key). Each array's dtype, shape, byte size and a hash of sampled
pages are recorded; an index whose record or files disagree is removed and rebuilt, never used.
It is written to a temporary directory and renamed into place when complete.

Where: ``hprof-index/`` under the cache directory (``$DUMPX_CACHE_DIR``, default
``$XDG_CACHE_HOME/dumpx`` or ``~/.cache/dumpx``), or a directory given with ``index=`` /
``--index DIR``; ``index=False``, ``--no-index`` or ``DUMPX_CACHE_DIR=off`` turn it off.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..cachedir import cache_dir
from ..errors import CorruptDumpError, DumpError, TruncatedDumpError

FORMAT = 2
_SAMPLES, _SAMPLE_BYTES = 32, 65536
_PAGE_SAMPLES, _PAGE = 16, 4096
_WHOLE = 64 << 20


def place(index) -> Path | None:
    """The directory indexes go to: ``index`` when it is one, else the cache's; None for none."""
    if index is False:
        return None
    if isinstance(index, (str, os.PathLike)):
        return Path(index)
    root = cache_dir()
    return root / "hprof-index" if root is not None else None


def _read_at(source, offset: int, n: int) -> bytes:
    if source._mem is not None:
        return bytes(source._mem[offset:offset + n])
    with open(source._path, "rb") as f:
        f.seek(offset)
        return f.read(n)


def content_key(source, snapshot: int = 0) -> str | None:
    """The dump's identity from its bytes as stored (compressed or not): size, first and last
    64 KiB and 31 blocks between. None when the bytes cannot be re-read (a stream)."""
    if source._mem is None and source._path is None:
        return None
    size = len(source._mem) if source._mem is not None else os.path.getsize(source._path)
    h = hashlib.blake2b(digest_size=20)
    h.update(f"dumpx-hprof-index {FORMAT} snapshot {snapshot} size {size}".encode())
    step = max(size // _SAMPLES, 1)
    for off in sorted({min(k * step, max(size - _SAMPLE_BYTES, 0)) for k in range(_SAMPLES)}
                      | {max(size - _SAMPLE_BYTES, 0)}):
        h.update(off.to_bytes(8, "little"))
        h.update(_read_at(source, off, _SAMPLE_BYTES))
    return h.hexdigest()


def _page_hash(path: Path) -> str:
    """A file's hash: whole up to 64 MiB (the scan's arrays: damage anywhere in them is caught),
    sampled pages beyond (the graph's arrays, whose vertex numbers are range-checked on load)."""
    size = path.stat().st_size
    h = hashlib.blake2b(digest_size=16)
    h.update(size.to_bytes(8, "little"))
    with open(path, "rb") as f:
        if size <= _WHOLE:
            h.update(f.read())
            return h.hexdigest()
        for k in range(_PAGE_SAMPLES + 1):
            off = min(k * max(size // _PAGE_SAMPLES, 1), max(size - _PAGE, 0))
            f.seek(off)
            h.update(f.read(_PAGE))
    return h.hexdigest()


def _flatten(raw: dict[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The scan's raw results as named arrays and JSON scalars."""
    arrays: dict[str, np.ndarray] = {}
    scalars: dict[str, Any] = {}
    for k, v in raw.items():
        if isinstance(v, dict):
            for k2, v2 in v.items():
                arrays[f"raw.{k}.{k2}"] = np.asarray(v2)
        elif isinstance(v, np.ndarray):
            arrays[f"raw.{k}"] = v
        elif isinstance(v, (bytes, bytearray)):
            arrays[f"raw.{k}"] = np.frombuffer(v, dtype=np.uint8)
            scalars[f"bytes:{k}"] = True
        else:
            scalars[k] = v if not isinstance(v, tuple) else list(v)
    return arrays, scalars


def save(where: Path, key: str, scan, graph: dict[str, np.ndarray], extra: dict[str, Any]) -> Path | None:
    """Write the index for ``key`` under ``where``; None (with a warning) when it cannot be."""
    arrays, scalars = _flatten(scan.raw)
    arrays.update({f"graph.{k}": v for k, v in graph.items()})
    need = sum(a.nbytes for a in arrays.values()) + (1 << 20)
    final = where / key
    tmp = where / f"{key}.tmp-{os.getpid()}"
    try:
        where.mkdir(parents=True, exist_ok=True)
        if shutil.disk_usage(where).free < 2 * need:
            warnings.warn(f"dumpx: no index written to {where}: {need:,} bytes needed, not that much free",
                          stacklevel=3)
            return None
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        files = {}
        for name, a in arrays.items():
            p = tmp / f"{name}.npy"
            np.save(p, np.ascontiguousarray(a), allow_pickle=False)
            files[name] = {"dtype": a.dtype.str, "shape": list(a.shape), "bytes": p.stat().st_size,
                           "sample": _page_hash(p)}
        meta = {"format": FORMAT, "key": key, "files": files, "scalars": scalars,
                "scan": {"header": [scan.header.version, scan.header.id_size, scan.header.timestamp_ms,
                                    scan.header.length],
                         "bytes_scanned": scan.bytes_scanned, "total_bytes": scan.total_bytes,
                         "complete": scan.complete, "notes": scan.notes,
                         "problems": [[type(p).__name__, p.message, p.offset, getattr(p, "expected", None)]
                                      for p in scan.problems]},
                "extra": extra}
        (tmp / "meta.json").write_text(json.dumps(meta))
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        return final
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        warnings.warn(f"dumpx: no index written to {where}: {e.strerror or e}", stacklevel=3)
        return None


class Loaded:
    """An index read back: the scan's pieces and the graph arrays, memory-mapped."""

    def __init__(self, path: Path, meta: dict, arrays: dict[str, np.ndarray]):
        self.path = path
        self.meta = meta
        self.arrays = arrays

    def raw(self) -> dict[str, Any]:
        raw: dict[str, Any] = {}
        for name, a in self.arrays.items():
            if not name.startswith("raw."):
                continue
            parts = name.split(".")[1:]
            if len(parts) == 2:
                raw.setdefault(parts[0], {})[parts[1]] = a
            elif self.meta["scalars"].get(f"bytes:{parts[0]}"):
                raw[parts[0]] = a.tobytes()
            else:
                raw[parts[0]] = a
        for k, v in self.meta["scalars"].items():
            if not k.startswith("bytes:"):
                raw[k] = tuple(v) if isinstance(v, list) else v
        return raw

    def problems(self) -> list[DumpError]:
        out: list[DumpError] = []
        for kind, message, offset, expected in self.meta["scan"]["problems"]:
            out.append(TruncatedDumpError(message, offset=offset or 0, available=0)
                       if kind == "TruncatedDumpError" else
                       CorruptDumpError(message, offset=offset, expected=expected))
        return out

    def graph(self) -> dict[str, np.ndarray]:
        return {name[len("graph."):]: a for name, a in self.arrays.items() if name.startswith("graph.")}


def load(where: Path, key: str) -> Loaded | None:
    """The index for ``key`` if it is whole and its own; a damaged or foreign one is removed
    (and a warning says so), so that it is rebuilt."""
    path = where / key
    if not path.is_dir():
        return None
    why = None
    try:
        meta = json.loads((path / "meta.json").read_text())
        if meta.get("format") != FORMAT or meta.get("key") != key:
            why = "it belongs to another dump or dumpx version"
        else:
            arrays = {}
            for name, f in meta["files"].items():
                p = path / f"{name}.npy"
                if p.stat().st_size != f["bytes"] or _page_hash(p) != f["sample"]:
                    why = f"{p.name} differs from what was written"
                    break
                a = np.load(p, mmap_mode="r", allow_pickle=False)
                if a.dtype.str != f["dtype"] or list(a.shape) != f["shape"]:
                    why = f"{p.name} has the wrong type or shape"
                    break
                arrays[name] = a
    except (OSError, ValueError, KeyError, TypeError) as e:
        why = f"it cannot be read ({e})"
    if why is None:
        return Loaded(path, meta, arrays)
    warnings.warn(f"dumpx: the index {path} is not used and will be rebuilt: {why}", stacklevel=3)
    shutil.rmtree(path, ignore_errors=True)
    return None
