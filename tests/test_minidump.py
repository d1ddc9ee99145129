"""Minidumps: the real one from rust-minidump's test data against minidump-stackwalk (that
project's own reader), minidumps built here with a known truth (tests/minidumpbuilder.py), their
healthy look-alikes, and damaged ones."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dumpx
from dumpx.errors import CorruptDumpError, DumpError, UnmappedAddressError
from dumpx.minidump import Minidump

from conftest import real_dump
from minidumpbuilder import Spec, build, crash

ORACLE = Path(__file__).resolve().parent.parent / "fixtures" / "minidump" / "out" / "linux-mini.stackwalk.json"


def _real() -> Path:
    return real_dump("minidump/linux-mini.dmp")


# ---------------------------------------------------------------- the real minidump vs its project's reader
def _as_stackwalk_reads_it(md: Minidump, ref: dict) -> None:
    arch = {"amd64": "x86-64", "arm64": "aarch64"}[ref["system_info"]["cpu_arch"]]
    assert md.system["arch"] == arch
    assert md.system["os"] == "Linux" == ref["system_info"]["os"]
    assert md.system["processors"] == ref["system_info"]["cpu_count"]
    assert len(md.threads) == ref["thread_count"]
    crashing = ref["crash_info"]
    assert md.exception.address == int(crashing["address"], 16)
    assert md.crashing_thread.index == crashing["crashing_thread"]
    frame0 = ref["crashing_thread"]["frames"][0]
    assert md.crashing_thread.pc == int(frame0["offset"], 16)
    names = {"fp": "x29", "lr": "x30"} if arch == "aarch64" else {}
    theirs = {names.get(k, k): int(v, 16) for k, v in frame0["registers"].items()}
    assert theirs and {k: md.crashing_thread.registers[k] for k in theirs} == theirs
    mods = {m["code_id"]: m for m in ref["modules"]}
    assert len(md.modules) == len(mods)
    for m in md.modules:
        r = mods[m.build_id]
        assert m.base == int(r["base_addr"], 16) and m.base + m.size == int(r["end_addr"], 16)
        assert Path(m.name).name == r["filename"]


def test_the_real_minidump_reads_as_minidump_stackwalk_reads_it():
    """fixtures/minidump/out/linux-mini.stackwalk.json is `minidump-stackwalk --json` (rust-minidump
    0.27.0) on this file, kept so that the comparison runs where the tool is not installed."""
    md = dumpx.open(_real())
    assert isinstance(md, Minidump)
    _as_stackwalk_reads_it(md, json.loads(ORACLE.read_text()))


@pytest.mark.parametrize("name", ["unwind-O2cfi", "nullderef-aarch64", "nullderef-aarch64-breakpad"])
def test_the_minidump_written_here_reads_as_minidump_stackwalk_reads_it(name):
    """The writer (tests/minidumpbuilder.from_core) checked by rust-minidump's reader first: each
    is the minidump of an ELF fixture core's crash (x86-64, and aarch64 with CONTEXT_ARM64 as
    Crashpad writes it and with Breakpad's MDRawContextARM64_Old), its stackwalk output kept beside it."""
    from conftest import fixture_file
    md = Minidump(fixture_file(f"minidump/out/{name}.dmp"))
    _as_stackwalk_reads_it(md, json.loads(fixture_file(f"minidump/out/{name}.stackwalk.json").read_text()))


def test_breakpads_old_arm64_context_reads_as_rust_minidump_dumps_it():
    """Breakpad's Linux and macOS clients write aarch64 threads as MDRawContextARM64_Old (u64 flags,
    cpsr after pc): every register and cpsr as `minidump-stackwalk --dump` prints the context
    (kept beside the fixture), and equal to the kernel core's registers it was written from."""
    from conftest import fixture_file
    from dumpx.elf import Core
    md = Minidump(fixture_file("minidump/out/nullderef-aarch64-breakpad.dmp"))
    theirs = {}
    for line in fixture_file("minidump/out/nullderef-aarch64-breakpad.context.txt").read_text().splitlines()[1:]:
        name, _, value = line.partition("=")
        theirs[name.split()[0]] = int(value, 16)
    assert theirs.pop("context_flags") == 0x80000006
    theirs["pstate"] = theirs.pop("cpsr")
    regs = md.crashing_thread.registers
    assert {k: regs[k] for k in theirs if k in regs} == {k: v for k, v in theirs.items() if k in regs}
    assert {f"x{i}" for i in range(31)} | {"sp", "pc", "pstate"} <= theirs.keys() & regs.keys()
    core = Core(fixture_file("elf/out/nullderef-aarch64.core.zst"))
    assert regs["pstate"] == core.threads[0].registers["pstate"] != 0
    assert all(regs[k] == core.threads[0].registers[k] for k in regs)


@pytest.mark.parametrize("breakpad", [False, True])
def test_the_cpsr_comes_from_where_each_arm64_layout_keeps_it(breakpad):
    """The look-alike of each layout: the same registers in CONTEXT_ARM64 (cpsr at 4) and in
    MDRawContextARM64_Old (cpsr at 272); an old context cut before its cpsr keeps the registers and
    has no pstate rather than a wrong one."""
    regs = {**{f"x{i}": 0x1000 + i for i in range(31)}, "sp": 0x7F0000, "pc": 0x400100, "pstate": 0x80000000}
    spec = Spec(threads=[(7, regs, 0x7F0000, bytes(64))], arch=0x8003 if breakpad else 12)
    md = Minidump(build(spec))
    assert md.system["arch"] == "aarch64" and md.threads[0].registers == regs
    if breakpad:
        data = bytearray(build(spec))
        rva = data.find(struct.pack("<Q", 0x80000006))
        size_at = data.find(struct.pack("<II", 796, rva))
        struct.pack_into("<I", data, size_at, 272)
        cut = Minidump(bytes(data)).threads[0].registers
        assert "pstate" not in cut and cut == {k: v for k, v in regs.items() if k != "pstate"}


@pytest.mark.parametrize("breakpad", [False, True])
def test_an_aarch64_minidump_unwinds_as_its_core_does(tmp_path, monkeypatch, breakpad):
    """No binary (a static program run under qemu): the link register, then the x29 chain — the
    frames the ELF test checks against eu-stack; in both aarch64 context layouts."""
    from conftest import fixture_file
    from dumpx.elf import Core
    from minidumpbuilder import from_core
    monkeypatch.setenv("DUMPX_CACHE_DIR", str(tmp_path / "cache"))
    core = Core(fixture_file("elf/out/nullderef-aarch64.core.zst"))
    md = Minidump(from_core(core, breakpad_arm64=breakpad))
    want = [(f.pc, f.trust, f.slot) for f in core.unwinder().backtrace(0).frames]
    got = [(f.pc, f.trust, f.slot) for f in md.process().unwinder().backtrace(0).frames]
    assert got == want and len(want) >= 3 and "frame pointer" in {t for _, t, _ in got}


def test_minidump_stackwalk_itself_when_installed(tmp_path):
    tool = shutil.which("minidump-stackwalk") or str(Path.home() / ".cargo/bin/minidump-stackwalk")
    if not Path(tool).exists():
        pytest.skip("minidump-stackwalk (cargo install minidump-stackwalk) is not installed")
    out = subprocess.run([tool, "--json", str(_real())], capture_output=True, text=True, timeout=120)
    live = json.loads(out.stdout)
    kept = json.loads(ORACLE.read_text())
    assert live["crash_info"] == kept["crash_info"] and live["modules"] == kept["modules"]


def test_the_real_minidump_findings_name_the_null_page_fault():
    fs = dumpx.open(_real()).findings()
    assert fs.of_kind("minidump-exception") and fs.of_kind("minidump-fault-null")
    assert not fs.of_kind("minidump-pc-outside-modules") and not fs.of_kind("minidump-damaged")


# ---------------------------------------------------------------- built here: known truth
def test_a_built_minidump_reads_back_what_was_written():
    stack = struct.pack("<64Q", *range(100, 164))
    md = Minidump(build(crash(0x401D72, stack)))
    t = md.threads[0]
    assert (t.tid, t.pc, t.sp, t.stack_start, t.stack_size) == (4242, 0x401D72, 0x7FF000000000, 0x7FF000000000, 512)
    assert [m.name for m in md.modules] == ["/srv/app", "/lib/x86_64-linux-gnu/libc.so.6"]
    assert md.modules[0].build_id == "f1c3bcc0279865fe3058404b2831d9e64135386c"
    assert md.read(0x7FF000000000 + 8 * 5, 8) == struct.pack("<Q", 105)
    with pytest.raises(UnmappedAddressError):
        md.read(0x7FF000000000 + 512 - 4, 8)
    assert md.exception.thread_id == 4242 and md.crashing_thread is t


def test_a_pc_outside_every_module_is_called_out_and_a_pc_inside_one_is_not():
    bad = Minidump(build(crash(0x4141414141414141))).findings()
    good = Minidump(build(crash(0x401D72))).findings()
    f = bad.of_kind("minidump-pc-outside-modules")
    assert f and "non-canonical" in f[0].title and str(f[0].severity) == "critical"
    assert not good.of_kind("minidump-pc-outside-modules")


def test_a_run_of_repeated_bytes_over_the_stack_is_called_out_and_ordinary_stacks_are_quiet():
    smashed = struct.pack("<8Q", *range(8)) + b"A" * 8 * 32 + struct.pack("<24Q", *range(24))
    text = struct.pack("<8Q", *range(8)) + b"GET /index.html HTTP/1.1 Host: example.org ..."[:48] * 4 + bytes(8 * 32)
    fs = Minidump(build(crash(0x4141414141414141, smashed))).findings().of_kind("minidump-stack-run")
    assert len(fs) == 1 and "0x4141414141414141" in fs[0].title and "64 bytes above" in fs[0].title
    assert not Minidump(build(crash(0x401D72, text))).findings().of_kind("minidump-stack-run")
    zeros = struct.pack("<8Q", *range(8)) + bytes(8 * 56)             # zeroed stack: not a pattern
    assert not Minidump(build(crash(0x401D72, zeros))).findings().of_kind("minidump-stack-run")


# ---------------------------------------------------------------- damaged
def test_a_thread_count_of_two_to_the_32_minus_1_is_refused_with_the_offset():
    spec = crash(0x401D72)
    spec.thread_count = 2**32 - 1
    with pytest.raises(CorruptDumpError) as e:
        Minidump(build(spec))
    assert e.value.offset is not None and "4,294,967,295" in str(e.value)


def test_a_stream_past_the_end_and_overlapping_memory_are_problems_not_failures():
    spec = crash(0x401D72)
    spec.stream_size_extra = 1 << 20
    md = Minidump(build(spec))
    assert md.modules == [] and any("past the end" in p for p in md.problems)
    assert md.findings().of_kind("minidump-damaged")
    spec = crash(0x401D72)
    spec.memory = [(0x7FF000000000 + 64, b"x" * 64)]                 # inside the thread's stack
    md = Minidump(build(spec))
    assert any("overlaps" in p for p in md.problems)
    assert md.read(0x7FF000000000 + 64, 8) == struct.pack("<Q", 8)   # the first range wins


def test_every_truncation_of_the_real_minidump_is_a_dumperror_or_a_partial_read():
    data = _real().read_bytes()
    for cut in range(0, len(data), 97):
        try:
            md = Minidump(data[:cut])
            md.findings()
        except DumpError as e:
            assert e.offset is None or 0 <= e.offset <= len(data)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 27548), st.integers(0, 255)), min_size=1, max_size=16))
def test_bit_damage_to_the_real_minidump_raises_only_dumperrors(edits):
    data = bytearray(_real().read_bytes())
    for at, v in edits:
        data[at] = v
    try:
        md = Minidump(bytes(data))
        md.findings()
        md.provenance()
    except DumpError:
        pass


def test_the_cli_prints_the_exception_and_modules(tmp_path, capsys):
    from dumpx.cli import main
    p = tmp_path / "crash.dmp"
    p.write_bytes(build(crash(0x4141414141414141, exception_address=0x10)))
    assert main(["minidump", "info", str(p), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["exception"]["address"] == 0x10 and doc["modules"][0]["build_id"].startswith("f1c3bc")
    assert {f["kind"] for f in doc["findings"]} >= {"minidump-exception", "minidump-pc-outside-modules"}


# ---------------------------------------------------------------- backtraces through the ELF unwinder
CORES = ["unwind-O2cfi", "unwind-O2fp", "unwind-O0", "threads", "widget", "nullderef", "smash", "stackprot", "ipara"]


def _frames(process, exe) -> list:
    return [(b.stop, [(f.pc, f.sp, f.cfa, f.trust, f.function, f.function_offset, f.file, f.line, f.inlined, f.build)
                      for f in b.frames]) for b in process.unwinder([exe]).all()]


@pytest.mark.parametrize("name", CORES)
def test_a_minidump_made_from_a_core_unwinds_to_the_cores_frames(name, tmp_path, monkeypatch):
    """The minidump a Breakpad handler would have written for the crash the core holds (registers,
    stacks, modules with build-ids, maps, auxv: tests/minidumpbuilder.from_core) gives, through
    the same unwinder and binaries, every frame of every thread the core gives — frames that the
    ELF tests check against eu-stack and gdb."""
    from dumpx.elf import Core
    from dumpx.elf.image import CACHE
    from minidumpbuilder import from_core
    from conftest import fixture_file
    monkeypatch.setenv("DUMPX_CACHE_DIR", str(tmp_path / "cache"))
    core = Core(fixture_file(f"elf/out/{name}.core.zst"))
    exe = fixture_file(f"elf/out/{name}")
    md = Minidump(from_core(core))
    CACHE.clear()
    want = _frames(core, exe)
    CACHE.clear()
    got = _frames(md.process(), exe)
    assert got == want and all(f for _, f in want)
    assert md.process().threads[0].pid == core.threads[0].pid        # the crashing thread first


def test_minidump_bt_reads_a_smashed_return_as_evidence(capsys):
    from conftest import fixture_file
    from dumpx.cli import main
    main(["minidump", "bt", str(fixture_file("minidump/out/crash.dmp")), "--json"])
    doc = json.loads(capsys.readouterr().out)
    f0 = doc["threads"][0]["frames"][0]
    assert f0["pc"] == 0x4141414141414141 and "repeated-byte" in f0["note"]
    assert "not code" in doc["threads"][0]["stop"]
    smashed = [f for f in doc["findings"] if f["kind"] == "core-frame-smashed"]
    assert smashed and "already returned to" in smashed[0]["title"]
    assert not [f for f in doc["findings"] if f["kind"] == "core-frame-bad-pc"]


def test_a_thread_without_registers_gets_an_empty_backtrace_that_says_why():
    """Found by fuzzing: a context the reader cannot decode left the unwinder a KeyError."""
    data = bytearray(build(crash(0x401D72)))
    md = Minidump(bytes(data))
    th = md._stream(3)[1]
    struct.pack_into("<I", data, th + 4 + 40 + 4, len(data) + 100)   # the context's offset past the end
    md = Minidump(bytes(data))
    assert md.threads[0].registers == {} and any("CPU context" in p for p in md.problems)
    bts = md.process().unwinder().all()
    assert bts[0].frames == [] and "registers" in bts[0].stop


def test_an_absurd_build_id_record_is_a_problem_not_a_path():
    """Found by fuzzing: a 300-byte 'build-id' became a .build-id path longer than a file name."""
    spec = crash(0x401D72)
    spec.modules[0] = (0x400000, 0x20000, "/srv/app", bytes(300))
    md = Minidump(build(spec))
    assert md.modules[0].build_id is None and any("build-id record of 304 bytes" in p for p in md.problems)
    from dumpx.elf.verify import _is_file
    assert _is_file(Path("/usr/lib/debug/.build-id/ab/" + "c" * 5000 + ".debug")) is False
    md.process().verify()                      # no OSError from the lookups


def test_minidump_verify_and_stack_commands(capsys):
    from conftest import fixture_file
    from dumpx.cli import main
    dmp, exe = fixture_file("minidump/out/unwind-O2cfi.dmp"), fixture_file("elf/out/unwind-O2cfi")
    main(["minidump", "verify", str(dmp), "--binary", str(exe), "--json"])
    doc = json.loads(capsys.readouterr().out)
    rows = doc["modules"] if isinstance(doc, dict) and "modules" in doc else doc
    text = json.dumps(rows)
    assert "8b416ca95185c40a92068d4845bfd5f1622341ce" in text and "match" in text
    assert main(["minidump", "stack", str(dmp), "--words", "4", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["format"] == "minidump" and doc["schema_version"] == 1
    words = doc["words"]
    md = Minidump(dmp)
    sp = md.crashing_thread.sp
    assert [w["address"] for w in words] == [sp + 8 * k for k in range(4)]
    assert words[0]["value"] == struct.unpack("<Q", md.read(sp, 8))[0]


def test_without_maps_the_memory_info_protections_say_what_is_code():
    """Crashpad and Windows minidumps carry a MemoryInfoList instead of LinuxMaps: a pc in a region
    with an execute protection is code, the same pc in a read-write region is not (the look-alike)."""
    for protect, code in ((0x20, True), (0x04, False)):              # PAGE_EXECUTE_READ, PAGE_READWRITE
        spec = crash(0x401D72)
        spec.memory_info = [(0x400000, 0x20000, protect), (0x7FF000000000, 0x1000, 0x04)]
        md = Minidump(build(spec))
        assert md.memory_info()[0] == (0x400000, 0x20000, protect, 0x1000)
        p = md.process()
        assert p.is_executable(0x401D72) is code
        f0 = p.unwinder().backtrace(0).frames[0]
        assert (f0.note is None) is code


def test_a_memory_info_list_with_an_impossible_entry_size_is_a_problem():
    spec = crash(0x401D72)
    spec.memory_info = [(0x400000, 0x20000, 0x20)]
    data = bytearray(build(spec))
    md = Minidump(bytes(data))
    rva = md._by_type[16].rva
    struct.pack_into("<I", data, rva + 4, 8)                            # entries of 8 bytes
    md = Minidump(bytes(data))
    assert md.memory_info() == [] and any("MemoryInfoList" in p for p in md.problems)


def test_the_null_page_reading_stays_quiet_for_its_look_alikes():
    """A SIGSEGV far from page 0 (a wild or freed pointer) and a SIGABRT (whose address is 0 and
    means nothing) are not NULL dereferences; a SIGSEGV at 0x45 is."""
    def kinds(code, address):
        spec = crash(0x401D72, exception_address=address)
        spec.exception = (4242, code, address)
        return {f.kind for f in Minidump(build(spec)).findings()}

    assert "minidump-fault-null" in kinds(11, 0x45)
    assert "minidump-fault-null" not in kinds(11, 0x7F0000001000)
    assert "minidump-fault-null" not in kinds(6, 0)
    assert "minidump-exception" in kinds(6, 0)


def test_a_minidump_without_an_exception_says_nothing_about_a_crash():
    """A dump written on request (a hang report) has no exception stream: no crash finding."""
    spec = crash(0x401D72)
    spec.exception = None
    md = Minidump(build(spec))
    assert md.exception is None and md.crashing_thread is None
    assert not {f.kind for f in md.findings()} & {"minidump-exception", "minidump-fault-null"}


@pytest.mark.parametrize("name", ["x86-crashpad", "arm-crashpad"])
def test_32_bit_contexts_and_crashpad_annotations_read_as_rust_minidump_reads_them(name):
    """x86 (CONTEXT_X86) and arm (MDRawContextARM) minidumps with a CrashpadInfo stream
    (fixtures/minidump/make.sh): the crashing thread's registers, its frame 0 (pc, module offset,
    trust "context") as `minidump-stackwalk --json` reads them, and the process and module
    annotations as `minidump-stackwalk --dump` prints them (both kept beside the fixture)."""
    out = Path(__file__).resolve().parent.parent / "fixtures/minidump/out"
    ref = json.loads((out / f"{name}.stackwalk.json").read_text())
    md = Minidump(out / f"{name}.dmp")
    assert md.arch == ref["system_info"]["cpu_arch"] and not md.problems
    crashed = next(t for t in md.threads if t.tid == ref["crashing_thread"]["thread_id"])
    want = {("r11" if k == "fp" else k): int(v, 16) for k, v in ref["crashing_thread"]["frames"][0]["registers"].items()}
    assert {k: crashed.registers[k] for k in want} == want
    bt = md.process().backtraces()[0]
    f0, r0 = bt.frames[0], ref["crashing_thread"]["frames"][0]
    assert (f0.pc, f0.module_offset, f0.trust) == (int(r0["offset"], 16), int(r0["module_offset"], 16), r0["trust"])
    # frame 0 only, as rust-minidump: arm is not unwound (said so); x86's frame-pointer chain leads
    # nowhere in this made-up stack (its [ebp+4] is in no module), and the stop says that
    assert len(bt.frames) == len(ref["crashing_thread"]["frames"]) == 1
    assert ("not supported" if name.startswith("arm") else "in no module") in bt.stop
    # the annotations, line by line as rust-minidump prints them
    text = (out / f"{name}.crashpad.txt").read_text()
    cp = md.crashpad_info()
    seen = {(m.group(1), m.group(2)) for m in __import__("re").finditer(r'^  simple_annotations\["(.*)"\] = (.*)$', text, 8)}
    assert seen == set(cp["simple_annotations"].items())
    for key in ("report_id", "client_id"):
        assert f"  {key} = {cp[key]}\n" in text
    mod = cp["modules"][0]
    for i, v in enumerate(mod["list_annotations"]):
        assert f"  module_list[0].list_annotations[{i}] = {v}\n" in text
    for k, v in mod["simple_annotations"].items():
        assert f'  module_list[0].simple_annotations["{k}"] = {v}\n' in text
    assert f'  module_list[0].annotation_objects["ptype"] = {mod["annotation_objects"]["ptype"]}\n' in text
    assert mod["annotation_objects"]["blob"] == "0102ff"       # a non-string object as hex (rust-minidump: unsupported)
    assert md.provenance()["crashpad"]["simple_annotations"]["ver"] == "4.2.1"


def test_crashpad_info_with_counts_past_the_end_is_cut_not_fatal(tmp_path):
    """A CrashpadInfo whose annotation count is 2^32-1 and whose module record points past the end:
    what fits is read, the rest is a problem, nothing raises."""
    spec = crash(0x401000)
    spec.crashpad = {"simple": {"a": "b"}, "modules": [(0, [], {}, {})]}
    data = bytearray(build(spec))
    md = Minidump(bytes(data))
    cp_rva = next(s.rva for s in md.streams if s.name == "CrashpadInfo")
    simple_rva = struct.unpack_from("<I", data, cp_rva + 40)[0]
    struct.pack_into("<I", data, simple_rva, 0xFFFFFFFF)
    ml_rva = struct.unpack_from("<I", data, cp_rva + 48)[0]
    struct.pack_into("<I", data, ml_rva + 12, len(data) + 100)         # the module record's offset (after count, index, size)
    md = Minidump(bytes(data))
    cp = md.crashpad_info()
    assert cp["simple_annotations"].get("a") == "b" and cp["modules"] == []
    assert any("entries stated" in p for p in md.problems) and any("not in the file" in p for p in md.problems)


@settings(max_examples=150, deadline=None)
@given(name=st.sampled_from(["x86-crashpad", "arm-crashpad"]), cut=st.integers(0, 4000),
       edits=st.lists(st.tuples(st.integers(0, 3567), st.integers(0, 255)), max_size=12))
def test_damaged_32_bit_crashpad_minidumps_raise_only_dumperrors(name, cut, edits):
    """Cuts and byte edits of the Crashpad fixtures (contexts, annotation lists, strings): the reader,
    the Crashpad stream, the process view and its frame-0 backtraces raise only DumpErrors."""
    data = bytearray((Path(__file__).resolve().parent.parent / f"fixtures/minidump/out/{name}.dmp").read_bytes())
    for at, v in edits:
        if at < len(data):
            data[at] = v
    try:
        md = Minidump(bytes(data[:max(cut, 32)] if cut < len(data) else data))
        md.crashpad_info()
        md.provenance()
        md.findings()
        md.process().backtraces()
    except DumpError:
        pass


def test_x86_frame_pointer_chain_unwinds_as_rust_minidump_unwinds_it(tmp_path):
    """An x86 minidump whose stack holds a well-formed ebp chain (constructed: three callers in the
    module, the last saved ebp 0): the frames, their trust and where the walk ends, checked against
    minidump-stackwalk's reading of the same file when it is installed (its offset of a caller is
    the return address minus one)."""
    esp = 0xBFFF0000
    words = [0] * 64
    chain = [(esp + 0x18, esp + 0x40, 0x08049100), (esp + 0x40, esp + 0x80, 0x08049200), (esp + 0x80, 0, 0x08049300)]
    for ebp, saved, ret in chain:
        words[(ebp - esp) // 4], words[(ebp - esp) // 4 + 1] = saved, ret
    spec = Spec(threads=[(1234, {"eip": 0x08049F3A, "esp": esp, "ebp": esp + 0x18}, esp, struct.pack("<64I", *words))],
                modules=[(0x08048000, 0x20000, "/opt/widget/bin/widget", bytes(20))], exception=(1234, 11, 0x10), arch=0)
    p = tmp_path / "fp.dmp"
    p.write_bytes(build(spec))
    bt = Minidump(p).process().backtraces()[0]
    got = [(f.pc, f.trust, f.module_offset) for f in bt.frames]
    assert got == [(0x08049F3A, "context", 0x1F3A)] + [(ret, "frame pointer", ret - 0x08048000) for _, _, ret in chain]
    assert bt.stop.startswith("frame pointer 0")
    tool = shutil.which("minidump-stackwalk") or str(Path.home() / ".cargo/bin/minidump-stackwalk")
    if Path(tool).exists():
        ref = json.loads(subprocess.run([tool, "--json", str(p)], capture_output=True, text=True, timeout=60).stdout)
        theirs = [(int(f["offset"], 16), f["trust"]) for f in ref["crashing_thread"]["frames"]]
        ours = [(f.pc - (0 if f.index == 0 else 1), f.trust.replace(" ", "_")) for f in bt.frames]
        assert ours == theirs


def test_every_frame_dumpx_unwinds_is_one_minidump_stackwalk_finds_with_breakpad_symbols(tmp_path):
    """The peer with symbols: a Breakpad symbol store made by dump_syms (the threads fixture binary
    and libc's debug file), minidump-stackwalk on the minidump of the threads fixture core. Every
    physical frame dumpx unwinds (by CFI from the binaries) is, in order, a frame stackwalk reports
    for the same thread — by address (stackwalk's offset of a caller is its return address minus
    one) — and their function names agree where stackwalk names one. (Where the sym files carry no
    CFI for libc's futex waits, stackwalk scans and finds extra frames; those are not compared.)"""
    from breakpad_syms import store, tool
    from dumpx.elf import Core
    from minidumpbuilder import from_core
    libc_debug = Path("/usr/lib/debug/.build-id/93/ac61ec5a8eb1396f9fbd350e3169a558528a40.debug")
    walk = tool("minidump-stackwalk")
    if walk is None or tool("dump_syms") is None or not libc_debug.exists():
        pytest.skip("needs minidump-stackwalk and dump_syms (cargo install) and this libc's libc6-dbg")
    fx = Path(__file__).resolve().parent.parent / "fixtures/elf/out"
    dmp = tmp_path / "threads.dmp"
    dmp.write_bytes(from_core(Core(fx / "threads.core.zst")))
    syms = store(tmp_path / "syms", [("threads", fx / "threads"), ("libc.so.6", libc_debug)])
    ref = json.loads(subprocess.run([walk, "--json", "--symbols-path", str(syms), str(dmp)],
                                    capture_output=True, text=True, timeout=120).stdout)
    bts = Minidump(dmp).process().unwinder([fx / "threads"]).all()
    assert len(bts) == len(ref["threads"]) == 5
    named = 0
    for bt, t in zip(bts, ref["threads"]):
        theirs = {int(f["offset"], 16) + (f["trust"] != "context"): f.get("function") for f in t["frames"]}
        order = [int(f["offset"], 16) + (f["trust"] != "context") for f in t["frames"]]
        ours = []
        for f in bt.frames:                           # physical frames: inlined ones share the pc
            if not ours or ours[-1][0] != f.pc:
                ours.append((f.pc, f.function))
            else:
                ours[-1] = (f.pc, f.function)
        it = iter(order)
        assert all(pc in it for pc, _ in ours), (bt.tid, [hex(p) for p, _ in ours], [hex(p) for p in order])
        for pc, fn in ours:
            if theirs.get(pc) and fn and fn.lstrip("_") in ("main", "parked", "crasher", "start_thread"):
                assert theirs[pc] == fn
                named += 1
    assert named >= 5


# ---------------------------------------------------------------- a return already made to a smashed word
@pytest.mark.parametrize("stack,smashed", [
    (b"A" * 512, True),                                  # the pc is the word that fills the stack at sp
    (bytes(512), False),                                 # the same pc over a clean stack
    (b"B" * 512, False),                                 # a run at sp, but of another word than the pc
    (bytes(256) + b"A" * 256, False),                    # the pc's word, but 256 bytes above sp
])
def test_a_pc_equal_to_the_run_at_the_stack_pointer_is_a_return_to_a_smashed_word(stack, smashed):
    """crash.dmp's shape: the pc 0x4141414141414141 and 'A's from the stack pointer up — the `ret`
    popped one smashed word and jumped to it. Its look-alikes stay a bad pc (nothing is said of a
    slot frame 0 does not have)."""
    md = Minidump(build(crash(0x4141414141414141, stack)))
    fs = md.findings()
    if smashed:
        [f] = fs.of_kind("core-frame-smashed")
        ev = {e.label: e.value for e in f.evidence}
        assert "already returned to" in f.title and ev["run from"] == ev["stack pointer"] == 0x7FF000000000
        assert ev["run words"] == 64 and not fs.of_kind("core-frame-bad-pc")
    else:
        assert not fs.of_kind("core-frame-smashed")
        [f] = fs.of_kind("core-frame-bad-pc")
        assert f.title.endswith("no smash pattern surrounds the stack pointer")
