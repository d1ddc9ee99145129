"""The native CFI walker (``_native/unwind``) against its plain-Python reference: the unwinder's
own Python loop, with the kernel switched off. Every frame of every thread must be the same —
pc, stack pointer, CFA, trust, the slot the pc was read from, the registers recovered, the
symbols and the reason unwinding stopped — on the real fixture cores, on a many-thread core
when the benchmark built one, and on cores whose stacks were damaged at random."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dumpx.elf import Core
from dumpx.elf.backtrace import Unwinder, _RegRow
from dumpx.elf.image import CACHE

from conftest import fixture_file

CORES = ["unwind-O0", "unwind-O2fp", "unwind-O2cfi", "unwind-fponly", "widget", "threads", "nullderef",
         "stackprot", "smash", "indirect", "ipara", "tailcall", "optout"]
MANY = Path(__file__).resolve().parent.parent / "benchmarks" / "work" / "manythreads-1000.core"


def _frames(core_path, exe, native: bool, monkeypatch) -> list:
    """Every frame of every thread, from a fresh image cache and an empty symbol cache (other
    tests load stripped copies of the same builds into the process-wide cache)."""
    import tempfile
    CACHE.clear()
    with monkeypatch.context() as m, tempfile.TemporaryDirectory() as tmp:
        m.setenv("DUMPX_CACHE_DIR", tmp)
        if not native:
            m.setattr(Unwinder, "_native_walker", lambda self: None)
        u = Core(core_path).unwinder([exe])
        return [(b.thread, b.stop, [(f.pc, f.sp, f.cfa, f.trust, f.slot, f.exact, f.inlined, f.function,
                                     f.function_offset, f.file, f.line, f.note, dict(f.registers))
                                    for f in b.frames]) for b in u.all()]


@pytest.mark.parametrize("name", CORES)
def test_native_walk_equals_the_python_loop(name, monkeypatch):
    core, exe = fixture_file(f"elf/out/{name}.core.zst"), fixture_file(f"elf/out/{name}")
    python = _frames(core, exe, False, monkeypatch)
    native = _frames(core, exe, True, monkeypatch)
    assert native == python
    assert sum(len(t[2]) for t in python) > 0


def test_native_walk_takes_the_frames_on_a_many_thread_core(monkeypatch):
    if not MANY.exists():
        pytest.skip("benchmarks/core_backtrace.py has not built its 1,000-thread core here")
    exe = MANY.parent / "manythreads"
    python = _frames(MANY, exe, False, monkeypatch)
    calls = []
    real = Unwinder._walk_native

    def counting(self, *a):
        got = real(self, *a)
        calls.append(got is not None)
        return got
    monkeypatch.setattr(Unwinder, "_walk_native", counting)
    native = _frames(MANY, exe, True, monkeypatch)
    assert native == python and len(native) == 1001
    assert sum(calls) >= 1000                      # the kernel took frames in (nearly) every thread


def _raw(name: str) -> bytes:
    return zstandard.ZstdDecompressor().decompress(fixture_file(f"elf/out/{name}.core.zst").read_bytes(),
                                                   max_output_size=1 << 30)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), flips=st.integers(1, 64))
def test_native_walk_equals_the_python_loop_on_damaged_stacks(seed, flips, tmp_path, monkeypatch):
    name = ["threads", "unwind-O2cfi", "widget"][seed % 3]
    data = bytearray(_raw(name))
    c = Core(fixture_file(f"elf/out/{name}.core.zst"))
    rnd = random.Random(seed)
    for t in c.threads[:4]:
        seg = c.segment_of(t.sp)
        if seg is None:
            continue
        base = seg.offset + (t.sp - seg.vaddr)
        for _ in range(flips):
            k = base + rnd.randrange(0, 4096)
            if k < seg.offset + seg.filesz and k < len(data):
                data[k] ^= 1 << rnd.randrange(8)
    p = tmp_path / f"{seed}.core"
    p.write_bytes(bytes(data))
    exe = fixture_file(f"elf/out/{name}")
    assert _frames(p, exe, True, monkeypatch) == _frames(p, exe, False, monkeypatch)


def test_register_rows_read_as_mappings():
    r = _RegRow([10, 11, 12] + [0] * 14, 0b101)
    assert dict(r) == {0: 10, 2: 12} and len(r) == 2 and r.get(1) is None
    with pytest.raises(KeyError):
        r[1]



def test_frames_are_the_same_when_symbolized_after_a_background_inflate(monkeypatch):
    """``all()`` unwinds every thread first and symbolizes after while compressed DWARF inflates on
    another thread; with the prefetch off it symbolizes thread by thread: the same frames."""
    core, exe = fixture_file("elf/out/threads.core.zst"), fixture_file("elf/out/threads")
    two_phase = _frames(core, exe, True, monkeypatch)
    monkeypatch.setattr(Unwinder, "prefetch", lambda self: False)
    one_phase = _frames(core, exe, True, monkeypatch)
    assert two_phase == one_phase and any(f[9] for t in one_phase for f in t[2])     # lines were found


def test_a_section_inflated_in_the_background_equals_one_inflate():
    from dumpx.elf.image import Image
    from dumpx.sources import zlib
    p = Path("/usr/lib/debug/.build-id/93/ac61ec5a8eb1396f9fbd350e3169a558528a40.debug")
    if not p.exists():
        pytest.skip("libc6-dbg is not installed")
    img = Image(str(p))
    assert img.prefetch_dwarf()
    off, size = img.sections[".debug_info"][3], img.sections[".debug_info"][4]
    want = zlib.decompress(bytes(img.data[off + 24:off + size]))
    got = img.dw.upto(".debug_info", len(want))
    assert bytes(got) == want


def test_a_backtrace_command_does_not_import_numpy(tmp_path):
    """numpy costs 70-90 ms to import here, a third of a 1,000-thread backtrace: the ELF path uses
    array.array and memoryviews, cold (DWARF parsed) and warm (symbol cache read)."""
    import subprocess
    import sys
    core, exe = fixture_file("elf/out/threads.core.zst"), fixture_file("elf/out/threads")
    code = ("import sys, io, contextlib\nfrom dumpx.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
            f"    rc = main(['core', 'bt', '--all', {str(core)!r}, '--binary', {str(exe)!r}])\n"
            "print(rc, 'numpy' in sys.modules, 'thread' in out.getvalue())")
    env = {**__import__("os").environ, "DUMPX_CACHE_DIR": str(tmp_path / "cache")}
    for _ in ("cold", "warm"):
        got = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
        assert got.stdout.split() == ["0", "False", "True"], got.stderr[-2000:]
