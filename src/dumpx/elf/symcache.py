"""A persistent cache of symbolized pcs per build-id, so that the next run over cores of the same
builds parses no DWARF.

One JSON file per build-id under ``$DUMPX_CACHE_DIR`` (default ``$XDG_CACHE_HOME/dumpx`` or
``~/.cache/dumpx``), ``symbols/<build-id>.json``: file pc -> function, offset, size, file, line,
column and the DWARF scopes (inlined calls). A build-id names one exact build, so an entry can never
be stale; a file that does not parse or has the wrong shape is ignored and rewritten, never
trusted. ``DUMPX_CACHE_DIR=off`` turns it off.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from ..cachedir import cache_dir
from .image import Scope

VERSION = 1
MAX_ENTRIES = 200_000
_BUILD_ID = re.compile(r"^[0-9a-f]{8,128}(-[a-z]+)?$")     # build-id, and which tables answered


class SymbolCache:
    """Entries of the build-ids one unwinder touched; ``save()`` writes the new ones."""

    def __init__(self):
        self.root = cache_dir()
        self._tables: dict[str, dict] = {}
        self._dirty: set[str] = set()

    def _path(self, build_id: str) -> Path | None:
        if self.root is None or not _BUILD_ID.match(build_id):
            return None
        return self.root / "symbols" / f"{build_id}.json"

    def _table(self, build_id: str) -> dict:
        t = self._tables.get(build_id)
        if t is None:
            t = {}
            p = self._path(build_id)
            if p is not None and p.is_file():
                try:
                    d = json.loads(p.read_text())
                    if d.get("version") == VERSION and d.get("build_id") == build_id and isinstance(d.get("pcs"), dict):
                        t = {k: v for k, v in d["pcs"].items() if _valid(v)}
                except (OSError, ValueError, AttributeError, RecursionError):
                    t = {}
            self._tables[build_id] = t
        return t

    def known(self, build_id: str) -> bool:
        """Whether any symbols of this build are cached."""
        return bool(self._table(build_id))

    def get(self, build_id: str, fpc: int):
        """(function, offset, size, file, line, column, scopes) or None."""
        v = self._table(build_id).get(str(fpc))
        if v is None:
            return None
        fn, off, size, file, line, col, scopes = v
        return fn, off, size, file, line, col, [Scope(*s) for s in scopes] if scopes is not None else None

    def put(self, build_id: str, fpc: int, value) -> None:
        t = self._table(build_id)
        if len(t) >= MAX_ENTRIES:
            return
        fn, off, size, file, line, col, scopes = value
        t[str(fpc)] = [fn, off, size, file, line, col,
                       [[s.name, s.die_offset, s.inlined, s.call_file, s.call_line, s.call_column] for s in scopes]
                       if scopes is not None else None]
        self._dirty.add(build_id)

    def save(self) -> None:
        """Write the tables that gained entries (atomically; a failure only costs the cache)."""
        for bid in sorted(self._dirty):
            p = self._path(bid)
            if p is None:
                continue
            try:
                p.parent.mkdir(parents=True, exist_ok=True)
                import tempfile                 # only a write needs it (shutil, random): not every read
                fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=".tmp-", suffix=".json")
                with os.fdopen(fd, "w") as f:
                    json.dump({"version": VERSION, "build_id": bid, "pcs": self._tables[bid]}, f)
                os.replace(tmp, p)
            except OSError:
                continue
        self._dirty.clear()


def _valid(v) -> bool:
    if not (isinstance(v, list) and len(v) == 7):
        return False
    fn, off, size, file, line, col, scopes = v
    ok = ((fn is None or isinstance(fn, str)) and (off is None or isinstance(off, int))
          and (size is None or isinstance(size, int)) and (file is None or isinstance(file, str))
          and (line is None or isinstance(line, int)) and (col is None or isinstance(col, int)))
    if not ok or scopes is None:
        return ok
    return isinstance(scopes, list) and all(
        isinstance(s, list) and len(s) == 6 and isinstance(s[0], str) and isinstance(s[1], int)
        and isinstance(s[2], bool) for s in scopes)
