"""The one JSON contract of the commands (schema/command.schema.json): every ``--json`` output is
an object that names the schema version, the tool, the input's path, its format and what it says
about itself, beside the command's own keys."""

from __future__ import annotations

import json
import os
from typing import Any

SCHEMA_VERSION = 1


def _default(o):
    return o.item() if hasattr(o, "item") else str(o)


def dumps(path, fmt: str | None, provenance: dict[str, Any] | None, body: dict[str, Any]) -> str:
    from .. import __version__
    from ..findings import _jsonable
    doc = {"schema_version": SCHEMA_VERSION, "tool": {"name": "dumpx", "version": __version__},
           "path": os.fspath(path), "format": fmt, "provenance": _jsonable(provenance or {})}
    clash = set(doc) & set(body)
    if clash:
        raise ValueError(f"a command's JSON may not redefine the envelope's {sorted(clash)}")
    doc.update(body)
    return json.dumps(doc, indent=2, default=_default)
