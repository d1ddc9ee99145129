"""The fuzzing harness (fuzz/harness.py) in brief: every kept regression input replays without a
failure, each format's mutators make inputs that the readers answer within the contract, and
the runner itself notices the failures it exists to catch (so a quiet run means something)."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fuzz"))
import harness  # noqa: E402


@pytest.fixture(scope="module")
def runner():
    r = harness.Runner(seconds=60)
    yield r
    r.close()


def test_every_kept_regression_input_passes(runner):
    kept = harness.kept()
    assert kept, "the regression folder holds the inputs that failed once"
    assert harness.replay(runner) == []


@pytest.mark.parametrize("fmt", harness.FORMATS)
def test_a_short_run_per_format_stays_within_the_contract(fmt, runner):
    res = harness.fuzz(fmt, seconds=4, seed=7, runner=runner, cli_every=10)
    assert res["execs"] > 0 and res["failures"] == [], res
    assert set(res["outcomes"]) <= {"ok", "dump-error"}


def test_the_runner_sees_bugs_crashes_hangs_and_memory(monkeypatch, runner):
    """Entry points that raise, die on a signal, hang and allocate without bound: each is caught as
    the failure it is, and the runner carries on."""
    import os
    import signal
    import time

    def evil(fmt, data, cli):
        if data == b"bug":
            raise IndexError("a reader's own bug")
        if data == b"crash":
            os.kill(os.getpid(), signal.SIGSEGV)
        if data == b"hang":
            time.sleep(30)
        if data == b"memory":
            b"x" * (8 << 30)

    monkeypatch.setattr(harness, "run_entry", evil)
    r = harness.Runner(memory=2 << 30, seconds=2)
    try:
        assert r.run("pyspy", b"bug")[0] == "bug"
        assert r.run("pyspy", b"crash")[0] == "crash"
        assert r.run("pyspy", b"hang")[0] == "hang"
        outcome, detail = r.run("pyspy", b"memory")
        assert outcome == "bug" and "MemoryError" in detail
        assert r.run("pyspy", b"fine") == ("ok", "")
    finally:
        r.close()


def test_mutators_change_structure_not_only_bytes():
    """Each format's mutator reaches its structure: HPROF record lengths or tags at the seed's own
    record offsets, ELF program-header fields, the DWARF sections of a binary, whole text lines,
    JSON value types."""
    import json
    import struct
    rng = random.Random(3)

    def outs(fmt):
        seed = harness.seeds(fmt)[0]
        res = []
        for _ in range(300):
            m = bytearray(seed)
            harness.MUTATORS[fmt](m, rng)
            res.append(bytes(m))
        return seed, res

    seed, ms = outs("hprof")
    recs = harness._hprof_records(seed)
    assert any(harness._hprof_records(m)[:1] and any(
        o < len(m) - 9 and struct.unpack_from(">BII", m, o)[::2] != (t, n) for o, t, n in recs) for m in ms if len(m) == len(seed))
    seed, ms = outs("core")
    phoff, phnum = struct.unpack_from("<Q", seed, 32)[0], struct.unpack_from("<H", seed, 56)[0]
    table = slice(phoff, phoff + 56 * phnum)
    assert any(m[table] != seed[table] for m in ms) and any(m[56:58] != seed[56:58] for m in ms)
    seed, ms = outs("dwarf")
    secs = harness._sections(seed)
    _, off, size = secs[".debug_info"]
    assert any(m[off:off + size] != seed[off:off + size] for m in ms)
    assert any(m[secs[".debug_line"][1]:secs[".debug_line"][1] + secs[".debug_line"][2]] !=
               seed[secs[".debug_line"][1]:secs[".debug_line"][1] + secs[".debug_line"][2]] for m in ms)
    seed, ms = outs("goroutines")
    assert any(m.count(b"\n") != seed.count(b"\n") for m in ms) and any(b"\r\n" in m for m in ms)
    seed, ms = outs("pyspy")
    doc = json.loads(harness.seeds("pyspy")[0]) if harness.seeds("pyspy")[0][:1] == b"[" else None
    if doc is not None:
        def types(d):
            return [(k, type(v).__name__) for t in d for k, v in sorted(t.items())]
        changed = 0
        for m in ms:
            try:
                changed += types(json.loads(m)) != types(doc)
            except (ValueError, RecursionError):
                changed += 1
        assert changed > 100
