"""The persistent HPROF index: a second query reads it instead of the dump and answers exactly as
a fresh build; a damaged, foreign or stale index is detected and rebuilt, never used."""

from __future__ import annotations

import json
import shutil
import warnings

import numpy as np
import pytest

from dumpx.cli import main as cli
from dumpx.hprof import HeapDump
from dumpx.hprof.graph import graph_findings

from conftest import fixture_file

DUMP = "hprof/out/heapshape-coops.hprof.gz"


def _answers(d: HeapDump) -> dict:
    g = d.graph()
    return {"top": g.top_retained(10).rows(), "findings": graph_findings(g).to_dicts(),
            "retained": np.asarray(g.retained).tolist(), "idom": np.asarray(g.idom).tolist(),
            "histogram": d.histogram().top_by_bytes(50).rows(), "layout": d.layout().name}


@pytest.fixture
def dump_copy(tmp_path):
    p = tmp_path / "heap.hprof.gz"
    shutil.copy(fixture_file(DUMP), p)
    return p


def test_second_query_reads_the_index_and_answers_byte_for_byte(dump_copy, tmp_path):
    where = tmp_path / "idx"
    fresh = _answers(HeapDump(dump_copy, index=False))
    first = _answers(HeapDump(dump_copy, index=where))
    (entry,) = list(where.iterdir())
    assert (entry / "meta.json").exists()
    again = HeapDump(dump_copy, index=where)
    assert again._indexed() is not None                  # read from the index...
    got = _answers(again)
    assert again.source._view is None                    # ...without mapping the dump at all
    assert fresh == first == got


def test_no_index_writes_nothing_and_the_cache_is_the_default(dump_copy, tmp_path, monkeypatch):
    monkeypatch.setenv("DUMPX_CACHE_DIR", str(tmp_path / "cache"))
    HeapDump(dump_copy, index=False).graph()
    assert not (tmp_path / "cache").exists()
    HeapDump(dump_copy).graph()
    assert len(list((tmp_path / "cache" / "hprof-index").iterdir())) == 1
    monkeypatch.setenv("DUMPX_CACHE_DIR", "off")
    assert HeapDump(dump_copy)._index_place() == (None, None)


def _rebuilt(dump_copy, where, want) -> None:
    d = HeapDump(dump_copy, index=where)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        assert _answers(d) == want
    assert any("not used and will be rebuilt" in str(x.message) for x in w), [str(x.message) for x in w]
    assert _answers(HeapDump(dump_copy, index=where)) == want       # and the rebuilt one is good


@pytest.mark.parametrize("damage", ["flip", "truncate", "foreign", "meta", "values", "scan"])
def test_a_damaged_or_foreign_index_is_rebuilt_not_used(dump_copy, tmp_path, damage):
    where = tmp_path / "idx"
    want = _answers(HeapDump(dump_copy, index=where))
    (entry,) = list(where.iterdir())
    meta = json.loads((entry / "meta.json").read_text())
    target = entry / "graph.retained.npy"
    if damage == "flip":                   # a byte in the first sampled page of the data
        b = bytearray(target.read_bytes())
        b[200] ^= 0xFF
        target.write_bytes(bytes(b))
    elif damage == "truncate":
        target.write_bytes(target.read_bytes()[:-8])
    elif damage == "foreign":              # another dump's index under this key
        meta["key"] = "0" * 40
        (entry / "meta.json").write_text(json.dumps(meta))
    elif damage == "scan":                 # a byte of the scan's largest array that no sampled page holds
        p = max(entry.glob("raw.*.npy"), key=lambda q: q.stat().st_size)
        b = bytearray(p.read_bytes())
        step = len(b) // 16
        assert step > 2 * 4096, "the array is too small to fall between sampled pages"
        b[step + 4096 + 100] ^= 0x40
        p.write_bytes(bytes(b))
    elif damage == "meta":
        (entry / "meta.json").write_text("{not json")
    else:                                  # values that pass the page hashes but name no vertex
        from dumpx.hprof.index import _page_hash
        p = entry / "graph.idom.npy"
        a = np.load(p)
        a[len(a) // 3] = len(a) + 5
        np.save(p, a)
        meta["files"]["graph.idom"]["sample"] = _page_hash(p)
        (entry / "meta.json").write_text(json.dumps(meta))
    _rebuilt(dump_copy, where, want)


def test_a_dump_rewritten_under_the_same_name_gets_its_own_index(dump_copy, tmp_path):
    where = tmp_path / "idx"
    HeapDump(dump_copy, index=where).graph()
    shutil.copy(fixture_file("hprof/out/heapshape-coops-grown.hprof.gz"), dump_copy)
    d = HeapDump(dump_copy, index=where)
    assert d._indexed() is None                          # the old index is not this dump's
    grown = d.histogram().row("HeapShape$CacheEntry")["count"]
    assert grown == 40000
    assert len(list(where.iterdir())) == 1
    d.graph()
    assert len(list(where.iterdir())) == 2


def test_cli_index_dir_and_no_index(dump_copy, tmp_path, capsys):
    where = tmp_path / "idx"
    assert cli(["hprof", "dominators", "--json", "--index", str(where), str(dump_copy)]) == 0
    first = capsys.readouterr().out
    assert len(list(where.iterdir())) == 1
    assert cli(["hprof", "dominators", "--json", "--index", str(where), str(dump_copy)]) == 0
    assert capsys.readouterr().out == first
    assert cli(["hprof", "dominators", "--json", "--no-index", str(dump_copy)]) == 0
    assert capsys.readouterr().out == first
