"""A Breakpad symbol store made with dump_syms (cargo install dump_syms): the oracle's side of the
"stackwalk with symbols" comparison. ``store(dir, files)`` writes ``NAME/DEBUGID/NAME.sym`` for each
(code file name, file to read symbols from) and returns the directory, or None without dump_syms."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def tool(name: str) -> str | None:
    found = shutil.which(name) or str(Path.home() / ".cargo/bin" / name)
    return found if Path(found).exists() else None


def store(root: Path, files: list[tuple[str, Path]]) -> Path | None:
    exe = tool("dump_syms")
    if exe is None:
        return None
    for name, path in files:
        r = subprocess.run([exe, str(path)], capture_output=True, text=True, timeout=300)
        if r.returncode or not r.stdout.startswith("MODULE "):
            continue
        head, _, rest = r.stdout.partition("\n")
        parts = head.split(" ", 4)                    # MODULE os arch id name
        d = root / name / parts[3]
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{name}.sym").write_text(" ".join(parts[:4] + [name]) + "\n" + rest)
    return root
