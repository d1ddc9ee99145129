"""CI: build the wheel and the sdist in isolation and check what they carry: the wheel no generated
C and no debug info in the kernels, the sdist what the tests need; and no compiler or Cython
warning in the build."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

root = Path(__file__).resolve().parent.parent
with tempfile.TemporaryDirectory() as out:
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-v", "-w", out, str(root)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    warnings = [ln for ln in (r.stdout + r.stderr).splitlines()
                if ("warning:" in ln.lower() and ("src/dumpx" in ln or ".pyx" in ln or ".c:" in ln))]
    assert not warnings, "\n".join(warnings[:20])
    (wheel,) = Path(out).glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert not [n for n in names if n.endswith(".c")], "generated C in the wheel"
    assert any(n.endswith("LICENSE") for n in names)
    import io
    from elftools.elf.elffile import ELFFile
    for n in (n for n in names if n.endswith(".so")):
        elf = ELFFile(io.BytesIO(zipfile.ZipFile(wheel).read(n)))
        assert elf.get_section_by_name(".debug_info") is None, f"{n} carries debug info"
    r = subprocess.run([sys.executable, "-m", "build", "--sdist", "-o", out, str(root)], capture_output=True, text=True)
    if r.returncode == 0:
        (sdist,) = Path(out).glob("*.tar.gz")
        members = tarfile.open(sdist).getnames()
        for need in ("tests/conftest.py", "fixtures/manifest.json", "docs/hprof.md", "LICENSE",
                     "schema/examine.schema.json", "README.md"):
            assert any(m.endswith(need) for m in members), f"{need} not in the sdist"
    else:
        print("sdist not checked: python -m build is not installed", file=sys.stderr)
print("package ok")
