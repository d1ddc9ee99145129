"""py-spy output cross-examined with the kernel: the wedged fixture's truth, the parsers, and a
live capture of a real deadlock."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dumpx.errors import DumpError
from dumpx.pyspy import CaptureError, capture, load, parse_json, parse_strace, parse_strace_c, parse_text
from dumpx.pyspy.evidence import parse_tasks

from conftest import FIXTURES, fixture_file

# fixtures/pyspy/wedged.py: thread -> what it really does (the kernel's tasks.tsv agrees)
TRUTH = {"deadlock-a": "blocked acquiring a lock", "deadlock-b": "blocked acquiring a lock",
         "spinner": "running Python, holding the GIL", "sleeper": "sleeping",
         "socket-reader": "waiting on I/O", "compressor": "running native code",
         "MainThread": "waiting on a condition"}


def verdicts(bundle):
    return {v.thread.name: v for v in load(FIXTURES / "pyspy/out" / bundle).verdicts()}


def test_every_thread_of_the_wedged_process():
    v = verdicts("wedged")
    assert set(v) == set(TRUTH)
    for name, want in TRUTH.items():
        assert v[name].verdict.startswith(want), (name, v[name].verdict)


def test_kernel_view_is_the_oracle_for_the_verdicts():
    tasks = parse_tasks(fixture_file("pyspy/out/wedged/tasks.tsv").read_text())
    v = verdicts("wedged")
    for name in ("deadlock-a", "deadlock-b", "MainThread"):
        assert "futex" in tasks[v[name].thread.os_tid].wchan
    assert tasks[v["sleeper"].thread.os_tid].wchan == "hrtimer_nanosleep"
    assert tasks[v["spinner"].thread.os_tid].state == "R"


def test_deadlock_suspect_names_both_threads_and_their_locks():
    ev = load(FIXTURES / "pyspy/out/wedged")
    dl = ev.findings().of_kind("pyspy-deadlock-suspect")
    assert len(dl) == 1 and str(dl[0].severity) == "critical"
    threads = {e.label: e.value for e in dl[0].evidence}["threads"]
    assert sorted(t.split(" ")[0] for t in threads) == ["deadlock-a", "deadlock-b"]
    locks = {e.label: e.value for e in dl[0].evidence}["lock objects in every one's frames"]
    a = [t for t in ev.dump.threads if t.name == "deadlock-a"][0]
    assert sorted(locks) == sorted(x.split(" at ")[1].rstrip(">") for x in a.frames[0].arguments.values())
    gil = ev.findings().of_kind("pyspy-gil-holder")
    assert [f.evidence[0].value.split(" ")[0] for f in gil] == ["spinner"]


def test_everything_blocked_means_no_strace_c_table():
    ev = load(FIXTURES / "pyspy/out/deadlock-only")
    assert ev.strace_c_present and ev.strace_c is None
    assert ev.findings().of_kind("pyspy-strace-c-empty")
    assert parse_strace_c(fixture_file("pyspy/out/wedged/strace-c.txt").read_text())["futex"]["calls"] > 0


def test_text_and_json_of_the_same_process_agree():
    t = parse_text(fixture_file("pyspy/out/wedged/pyspy.txt").read_text())
    j = parse_json(fixture_file("pyspy/out/wedged/pyspy.json").read_text())
    assert t.pid == j.pid and t.python == "3.11.7"
    assert {(x.os_tid, x.name) for x in t.threads} == {(x.os_tid, x.name) for x in j.threads}
    tf = {x.os_tid: [f.func for f in x.frames] for x in t.threads}
    jf = {x.os_tid: [f.func for f in x.frames] for x in j.threads}
    assert tf == jf
    assert not t.unknown_lines


def test_strace_unfinished_and_resumed_are_joined():
    log = ("1234 10:00:00.000001 futex(0x7f, FUTEX_WAIT_PRIVATE, 2, NULL <unfinished ...>\n"
           "1235 10:00:00.000002 read(3, \"x\", 1)    = 1\n"
           "1234 10:00:01.000000 <... futex resumed>) = 0\n"
           "1236 10:00:01.500000 recvfrom(3,  <unfinished ...>\n")
    calls = parse_strace(log)
    assert [(c.tid, c.name, c.result) for c in calls] == [(1234, "futex", "0"), (1235, "read", "1"),
                                                          (1236, "recvfrom", None)]
    real = parse_strace(fixture_file("pyspy/out/wedged/strace.log").read_text())
    sleeper = verdicts("wedged")["sleeper"].thread.os_tid
    assert any(c.tid == sleeper and c.name == "clock_nanosleep" and c.result is None for c in real)


def test_older_and_native_forms():
    text = ('Process 77: python app.py\nPython v3.8.10 (/usr/bin/python3)\n\n'
            'Thread 0x7F8A12345700 (idle): "MainThread"\n'
            '    __futex_abstimed_wait_common (libc.so.6)\n'
            '    lock_PyThread_acquire_lock (python3.8)\n'
            '    wait (threading.py:302)\n'
            'Thread 0x7F8A0F000700 (active+gil)\n'
            '    run (worker.py:10)\n'
            'something py-spy printed that we do not know\n')
    d = parse_text(text)
    assert [t.thread_id for t in d.threads] == [0x7F8A12345700, 0x7F8A0F000700]
    assert d.threads[0].frames[0].native and not d.threads[0].frames[2].native
    assert d.threads[1].name is None and d.threads[1].owns_gil
    assert d.unknown_lines == [(10, "something py-spy printed that we do not know")]


def test_hostile_thread_name_is_escaped():
    d = parse_text('Process 1: x\nThread 1 (idle): "evil\x1b[2Jname"\n    f (a.py:1)\n')
    from dumpx.pyspy.analysis import judge, verdict_table
    t = verdict_table([judge(d.threads[0], None)]).text()
    assert "\x1b" not in t and "\\x1b" in t


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=2000))
def test_parsers_raise_only_dump_errors(s):
    for f in (parse_text, parse_json):
        try:
            f(s)
        except DumpError:
            pass
    parse_strace(s)
    parse_strace_c(s)


def test_capture_of_a_missing_process():
    with pytest.raises(CaptureError):
        capture(2**22 + 12345, "/tmp/never")


def test_live_capture_of_a_real_deadlock(tmp_path):
    exe = shutil.which("py-spy")
    if not exe:
        pytest.skip("py-spy is not installed (it is in the test extras)")
    p = subprocess.Popen([sys.executable, str(FIXTURES / "pyspy/wedged.py"), "30", "deadlock-only"],
                         stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "READY"
        time.sleep(0.3)
        try:
            out = capture(p.pid, tmp_path / "bundle", locals_=True)
        except CaptureError as e:
            pytest.skip(f"no ptrace permission here: {e}")
        ev = load(out)
        v = {x.thread.name: x.verdict for x in ev.verdicts()}
        assert v["deadlock-a"].startswith("blocked acquiring a lock")
        assert v["deadlock-b"].startswith("blocked acquiring a lock")
        assert ev.findings().of_kind("pyspy-deadlock-suspect")
    finally:
        p.kill()
        p.wait()


def test_native_frames_corroborate_lock_waits():
    ev = load(FIXTURES / "pyspy/out/wedged")
    assert ev.native is not None
    v = {x.thread.name: x for x in ev.verdicts()}
    for name in ("deadlock-a", "deadlock-b"):
        assert any("PyThread_acquire_lock" in r for r in v[name].rests_on), v[name].rests_on
    nat = [t for t in ev.native.threads if t.name == "deadlock-a"][0]
    assert any(f.native for f in nat.frames) and any(not f.native for f in nat.frames)


def test_dumpx_open_reads_a_bundle_directory(tmp_path):
    import dumpx
    from dumpx.errors import UnsupportedFormatError
    ev = dumpx.open(FIXTURES / "pyspy/out/deadlock-only")
    assert {t.name for t in ev.dump.threads} == {"MainThread", "deadlock-a", "deadlock-b"}
    with pytest.raises(UnsupportedFormatError):
        dumpx.open(tmp_path)
