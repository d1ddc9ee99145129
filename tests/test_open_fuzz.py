"""Every committed fixture, damaged (bit flips and cuts), through dumpx.open and the findings of
whatever it returns: the only exceptions allowed are DumpErrors."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dumpx
from dumpx.errors import DumpError

from conftest import FIXTURES

pytestmark = pytest.mark.filterwarnings("ignore::dumpx.errors.DumpWarning")
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())
SMALL = sorted(k for k in MANIFEST["dumps"] if (FIXTURES / k).stat().st_size <= 400_000)
_CACHE: dict = {}


def _raw(rel: str) -> bytes:
    if rel not in _CACHE:
        with dumpx.Source(FIXTURES / rel) as s:
            _CACHE[rel] = s.view().read(0, s.view().size)
    return _CACHE[rel]


def _exercise(data: bytes) -> None:
    try:
        r = dumpx.open(data)
    except DumpError:
        return
    f = getattr(r, "findings", None)
    if f is not None:
        try:
            f()
        except DumpError:
            pass
    if hasattr(r, "histogram"):
        try:
            r.histogram()
        except DumpError:
            pass


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rel=st.sampled_from(SMALL), cut=st.floats(0, 1),
       flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 7)), max_size=6))
def test_damaged_fixtures_through_dumpx_open(rel, cut, flips):
    data = bytearray(_raw(rel))
    for pos, bit in flips:
        if data:
            data[pos % len(data)] ^= 1 << bit
    _exercise(bytes(data[: int(len(data) * cut) if cut < 1 else len(data)]))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=4096))
def test_arbitrary_bytes_through_dumpx_open(data):
    _exercise(data)
