"""ELF cores against eu-unstrip and gdb on the real cores and the fixtures, and damaged cores."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dumpx
from dumpx.elf import Core
from dumpx.errors import DumpError, UnmappedAddressError, UnsupportedFormatError
from dumpx.sources import Source

from conftest import fixture_file, need_tool, real_dump

CORES = {  # name -> (core, executable) ; compressed files are decompressed for the peers
    "crashme": ("real:elf/crashme.core.zst", "real:elf/crashme.zst"),
    "backtrace": ("real:elf/backtrace.x86_64.core.bz2", "real:elf/backtrace.x86_64.exec.bz2"),
    "pyelftools": ("real:elf/core_linux64.elf", None),
    "smash": ("fix:elf/out/smash.core.zst", "fix:elf/out/smash"),
    "nullderef": ("fix:elf/out/nullderef.core.zst", "fix:elf/out/nullderef"),
    "stackprot": ("fix:elf/out/stackprot.core.zst", "fix:elf/out/stackprot"),
    "threads": ("fix:elf/out/threads.core.zst", "fix:elf/out/threads"),
}


def _path(spec: str) -> Path:
    kind, rel = spec.split(":", 1)
    return real_dump(rel) if kind == "real" else fixture_file(rel)


def plain(spec: str, tmp: Path) -> Path:
    """The decompressed file (peers do not read zstd/bzip2)."""
    p = _path(spec)
    with Source(p) as s:
        if not s.compression:
            return p
        out = tmp / (p.name + ".plain")
        out.write_bytes(s.view().read(0, s.view().size))
        out.chmod(0o755)
        return out


@pytest.fixture(params=sorted(CORES))
def core_case(request, tmp_path):
    core, exe = CORES[request.param]
    return request.param, plain(core, tmp_path), plain(exe, tmp_path) if exe else None


def test_modules_match_eu_unstrip(core_case):
    name, core, _ = core_case
    eu = need_tool("eu-unstrip")
    out = subprocess.run([eu, "-n", "--core", str(core)], capture_output=True, text=True).stdout
    peer = {}
    for ln in out.splitlines():
        m = re.match(r"0x([0-9a-f]+)\+0x([0-9a-f]+) (\S+) \S+ \S+ (.*)$", ln)
        if m:
            bid, _, addr = m.group(3).partition("@")
            peer[int(m.group(1), 16)] = (int(m.group(2), 16), bid, int(addr, 16) if addr else None, m.group(4))
    ours = {m.start: m for m in Core(core).modules()}
    assert set(ours) == set(peer), name
    for start, (size, bid, addr, modname) in peer.items():
        m = ours[start]
        assert (m.build_id, m.build_id_address) == (bid, addr), hex(start)
        # eu-unstrip rounds the extent up to a page unless it found the file on this machine
        assert size in (m.size, m.extent), hex(start)
        if m.path != "[vdso]":
            assert Path(m.path).name == Path(modname).name


def _gdb(exe, core, *cmds) -> str:
    gdb = need_tool("gdb")
    args = [gdb, "-batch", "-nx"]
    for c in cmds:
        args += ["-ex", c]
    args += ([str(exe)] if exe else []) + ["-c", str(core)]
    return subprocess.run(args, capture_output=True, text=True, timeout=120).stdout


def test_registers_siginfo_and_stack_words_match_gdb(core_case):
    name, core, exe = core_case
    out = _gdb(exe, core, "info registers rip rsp rbp rax fs_base", "x/32gx $rsp",
               "p/x $_siginfo.si_signo", "p/x $_siginfo.si_code", "p/x $_siginfo.si_errno")
    c = Core(core)
    t = c.threads[0]
    for reg in ("rip", "rsp", "rbp", "rax", "fs_base"):
        m = re.search(rf"^{reg}\s+0x([0-9a-f]+)", out, re.M)
        assert m and int(m.group(1), 16) == t.registers[reg], reg
    gdb_words = [int(w, 16) for ln in out.splitlines() if re.match(r"^0x[0-9a-f]+( <[^>]*>)?:", ln)
                 for w in re.findall(r"\t0x([0-9a-f]+)", ln)]
    ours = [v for _, v in c.stack_words(0, 32)]
    assert ours[:len(gdb_words)] == gdb_words and len(gdb_words) >= 8
    vals = [int(x, 16) for x in re.findall(r"^\$\d+ = 0x([0-9a-f]+)", out, re.M)]
    if len(vals) == 3:      # gdb had $_siginfo (NT_SIGINFO present)
        signo, code, errno = vals
        assert (c.siginfo["signo"], c.siginfo["code"] & 0xFFFFFFFF, c.siginfo["errno"]) == (signo, code, errno)


def test_smash_fixture_truth():
    c = dumpx.open(fixture_file("elf/out/smash.core.zst"))
    assert c.siginfo["signal"] == "SIGSEGV" and c.siginfo["code"] == 0x80 and c.siginfo["addr"] == 0
    assert [v for _, v in c.stack_words(0, 8)] == [0x4141414141414141] * 8
    assert c.process["name"] == "smash"
    n = dumpx.open(fixture_file("elf/out/nullderef.core.zst"))
    assert n.siginfo["code"] == 1 and n.siginfo["addr"] < 0x100      # SEGV_MAPERR near NULL


def test_multi_thread_core():
    c = Core(real_dump("elf/backtrace.x86_64.core.bz2"))
    assert len(c.threads) == 2 and len({t.pid for t in c.threads}) == 2
    t = Core(fixture_file("elf/out/threads.core.zst"))          # fixtures/elf/threads.c
    assert len(t.threads) == 5 and len({x.pid for x in t.threads}) == 5
    assert t.threads[0].signal == 11 and t.threads[0].pid != t.process["pid"]   # the crasher first
    assert t.siginfo["addr"] == 0x10


def test_filtered_headers_are_said_per_module(tmp_path):
    core = plain("fix:elf/out/nullderef-noheaders.core.zst", tmp_path)
    eu = need_tool("eu-unstrip")
    seen = {int(ln.split("+")[0], 16) for ln in
            subprocess.run([eu, "-n", "--core", str(core)], capture_output=True, text=True).stdout.splitlines()}
    mods = Core(core).modules()
    assert {m.start for m in mods if m.build_id} == seen          # what eu-unstrip can see
    hidden = [m for m in mods if not m.build_id]
    assert hidden and all(m.problem and "not captured" in m.problem for m in hidden)


def test_memory_reads_name_unmapped_and_uncaptured_addresses():
    c = Core(fixture_file("elf/out/smash.core.zst"))
    with pytest.raises(UnmappedAddressError) as ei:
        c.read(0x10, 8)
    assert ei.value.address == 0x10
    partial = [s for s in c.segments if s.filesz < s.memsz]
    assert partial, "the kernel's core filter leaves file-backed text out"
    s = partial[0]
    with pytest.raises(UnmappedAddressError) as ei:
        c.read(s.vaddr + s.filesz, 8)
    assert not ei.value.captured


def test_truncated_core_keeps_what_is_there(tmp_path):
    raw = Source(fixture_file("elf/out/smash.core.zst")).view()
    data = raw.read(0, raw.size)
    p = tmp_path / "cut.core"
    p.write_bytes(data[: len(data) * 2 // 3])
    c = Core(p)
    assert c.problems and "truncated" in c.problems[0]
    assert c.threads and c.modules()


def test_32_bit_core_is_recognised_and_refused(tmp_path):
    data = bytearray(real_dump("elf/core_linux64.elf").read_bytes())
    data[4] = 1
    with pytest.raises(UnsupportedFormatError) as ei:
        Core(bytes(data))
    assert "32-bit" in str(ei.value)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cut=st.integers(min_value=0), flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 7)), max_size=4))
def test_damaged_cores_raise_only_dump_errors(cut, flips):
    data = bytearray(_CORE.setdefault("d", real_dump("elf/core_linux64.elf").read_bytes()))
    for pos, bit in flips:
        data[pos % len(data)] ^= 1 << bit
    data = bytes(data[: max(64, cut % (len(data) + 1))])
    try:
        c = Core(data)
        c.modules()
        if c.threads:
            c.stack_words(0, 8)
    except DumpError:
        pass


_CORE: dict = {}


def test_aarch64_registers_match_eu_readelf(tmp_path):
    core = plain("fix:elf/out/nullderef-aarch64.core.zst", tmp_path)
    out = subprocess.run([need_tool("eu-readelf"), "-n", str(core)], capture_output=True, text=True).stdout
    peer = {k: int(v, 0) for k, v in re.findall(r"\b(x\d+|pc|sp|pstate):\s+(0x[0-9a-f]+|-?\d+)", out)}
    c = Core(core)
    assert c.machine == "aarch64" and c.threads[0].signal == 11
    regs = c.threads[0].registers
    assert len(peer) == 34
    for k, v in peer.items():
        assert regs[k] == v & (2**64 - 1), k
    assert c.process["name"] == "nullderef-a64"
