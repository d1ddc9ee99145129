"""Where dumpx keeps what it may reuse across runs (symbol tables, heap-dump indexes)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path | None:
    """``$DUMPX_CACHE_DIR`` (default ``$XDG_CACHE_HOME/dumpx`` or ``~/.cache/dumpx``); None when
    it is ``off``."""
    env = os.environ.get("DUMPX_CACHE_DIR")
    if env == "off":
        return None
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "dumpx"
