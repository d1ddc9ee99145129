"""Shared test helpers: where the real dumps and fixtures are, and skips when they are absent."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
# the real dumps of other projects: $DUMPX_REAL_DUMPS, else ../shared/real-dumps beside the checkout
REAL_DUMPS = Path(os.environ.get("DUMPX_REAL_DUMPS") or ROOT.parent / "shared" / "real-dumps")


def real_dump(rel: str) -> Path:
    """Path of a file under ../shared/real-dumps, or skip the test with the reason."""
    p = REAL_DUMPS / rel
    if not REAL_DUMPS.is_dir():
        pytest.skip(f"real dumps folder {REAL_DUMPS} is absent (only in the project's workspace)")
    if not p.exists():
        pytest.skip(f"real dump {rel} is absent from {REAL_DUMPS}")
    return p


def fixture_file(rel: str) -> Path:
    p = FIXTURES / rel
    if not p.exists():
        pytest.fail(f"committed fixture {rel} is missing; run fixtures/regenerate.sh")
    return p


def need_tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        pytest.skip(f"{name} is not installed (install it as .ci/run does)")
    return path


@pytest.fixture
def real_dumps_dir() -> Path:
    if not REAL_DUMPS.is_dir():
        pytest.skip(f"real dumps folder {REAL_DUMPS} is absent")
    return REAL_DUMPS


@pytest.fixture(autouse=True)
def _private_symbol_cache(tmp_path_factory, monkeypatch):
    """Tests never read or write the user's symbol cache (~/.cache/dumpx)."""
    monkeypatch.setenv("DUMPX_CACHE_DIR", str(tmp_path_factory.mktemp("dumpx-cache")))


@pytest.fixture
def notebook_display(monkeypatch) -> list:
    """A notebook kernel as dumpx sees one (``ipykernel`` loaded, ``IPython.display.display`` returning
    a handle), without IPython installed: every object displayed or updated is appended to the list."""
    import sys
    import types
    shown: list = []

    class Handle:
        def update(self, obj):
            shown.append(obj)
    fake = types.ModuleType("IPython.display")
    fake.display = lambda obj, display_id=False: (shown.append(obj), Handle())[1]
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    monkeypatch.setitem(sys.modules, "IPython", types.ModuleType("IPython"))
    monkeypatch.setitem(sys.modules, "IPython.display", fake)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    return shown
