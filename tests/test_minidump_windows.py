"""Windows builds in minidumps: module code ids and debug ids as rust-minidump reads them, the
identity of PE images and PDBs as LLVM's own tools (llvm-readobj, llvm-pdbutil) read the files
they wrote (fixtures/windows/make.sh), verification of the modules against them — the right
build, an earlier link of the same PDB, another PDB, a symbol store — and damaged files."""

from __future__ import annotations

import json
import re
import shutil
import struct
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dumpx.cli import main
from dumpx.elf.verify import MATCH, MISMATCH, NOT_FOUND, verify_findings, verify_with_given
from dumpx.errors import DumpError
from dumpx.minidump import Minidump
from dumpx.minidump.windows import identity

from conftest import fixture_file
from minidumpbuilder import Spec, build, rsds

PDBS = ("app", "app-age2", "other")


def _out(name: str):
    return fixture_file(f"windows/out/{name}")


def _oracle_pdb(name: str) -> tuple[str, int, int]:
    """(GUID, PDB info stream age, DBI stream age) as llvm-pdbutil printed them."""
    summary = _out(f"{name}.pdb.summary.txt").read_text()
    guid = re.search(r"GUID: \{([0-9A-F-]+)\}", summary).group(1)
    info_age = int(re.search(r"^\s*Age: (\d+)", summary, re.M).group(1))
    dbi_age = int(re.search(r"Age:\s+(\d+)", _out(f"{name}.pdb.dbi.txt").read_text()).group(1))
    return guid, info_age, dbi_age


@pytest.mark.parametrize("name", PDBS)
def test_a_pdbs_debug_id_is_its_guid_and_dbi_age_as_llvm_pdbutil_reads_them(name):
    guid, info_age, dbi_age = _oracle_pdb(name)
    w = identity(_out(f"{name}.pdb"))
    assert w.kind == "pdb" and w.age_from == "DBI stream"
    assert w.debug_id == guid.replace("-", "") + f"{dbi_age:X}"


def test_the_pdb_info_streams_own_age_is_not_the_builds():
    """app.pdb's info stream says age 4 (a tool rewrote it), its DBI stream and the image say 3."""
    _, info_age, dbi_age = _oracle_pdb("app")
    assert (info_age, dbi_age) == (4, 3)
    assert identity(_out("app.pdb")).debug_id.endswith("3")


def test_a_pe_images_code_id_and_codeview_record_as_llvm_readobj_reads_them():
    text = _out("app.exe.readobj.txt").read_text()
    stamp = int(re.search(r"TimeDateStamp: .*\(0x([0-9A-F]+)\)", text).group(1), 16)
    size = int(re.search(r"SizeOfImage: (\d+)", text).group(1))
    raw = bytes(int(x, 16) for x in re.search(r"PDBGUID: \(([0-9A-F ]+)\)", text).group(1).split())
    age = int(re.search(r"PDBAge: (\d+)", text).group(1))
    w = identity(_out("app.exe"))
    assert w.kind == "pe" and w.code_id == f"{stamp:08X}{size:x}"
    assert w.debug_id == str(uuid.UUID(bytes_le=raw)).replace("-", "").upper() + f"{age:X}"
    assert w.pdb_name == re.search(r"PDBFileName: (.+)", text).group(1).strip()


def test_the_minidumps_windows_modules_read_as_minidump_stackwalk_reads_them():
    ref = json.loads(_out("windows.stackwalk.json").read_text())
    md = Minidump(_out("windows.dmp"))
    assert md.system["os"] == "Windows" and ref["system_info"]["os"] == "Windows NT"
    theirs = {int(m["base_addr"], 16): m for m in ref["modules"]}
    assert len(md.modules) == len(theirs) == 2
    for m in md.modules:
        r = theirs[m.base]
        assert m.base + m.size == int(r["end_addr"], 16)
        assert (m.code_id.lower(), m.debug_id) == (r["code_id"].lower(), r["debug_id"])
        assert m.debug_file.rsplit("\\", 1)[-1] == r["debug_file"] and m.name.rsplit("\\", 1)[-1] == r["filename"]
        assert m.build_id is None


def test_minidump_info_gives_each_windows_modules_code_id_and_debug_id(capsys):
    ref = {int(m["base_addr"], 16): m for m in json.loads(_out("windows.stackwalk.json").read_text())["modules"]}
    assert main(["minidump", "info", "--json", str(_out("windows.dmp"))]) == 0
    mods = json.loads(capsys.readouterr().out)["modules"]
    assert [(m["code_id"].lower(), m["debug_id"]) for m in mods] == \
        [(ref[m["base"]]["code_id"], ref[m["base"]]["debug_id"]) for m in mods]
    assert main(["minidump", "info", str(_out("windows.dmp"))]) == 0
    assert "5F1D2C3B4A594E689A7B0C1D2E3F40513 (code id 65A0B0C03000)" in capsys.readouterr().out


def _verify(files, search=()):
    c = Minidump(_out("windows.dmp")).process()
    vs, given = verify_with_given(c, [str(f) for f in files], [str(s) for s in search])
    return {v.module.rsplit("\\", 1)[-1]: v for v in vs}, given


@pytest.mark.parametrize("file", ["app.pdb", "app.exe"])
def test_the_builds_own_pdb_or_image_verifies_its_module(file):
    vs, given = _verify([_out(file)])
    app = vs["app.exe"]
    assert (app.verdict, app.id_kind, app.file_build_id) == (MATCH, "debug id", app.core_build_id)
    assert given[0].how == "same debug id"
    assert vs["ntdll.dll"].verdict == NOT_FOUND
    fs = verify_findings(list(vs.values()))
    assert not fs.of_kind("core-build-mismatch")
    [nt] = fs.of_kind("core-build-unverified")
    assert any(e.value == "1EB1E3A732A54D1C8F3B5C1E0D2A9B7F1" for e in nt.evidence)


@pytest.mark.parametrize("other", ["app-age2.pdb", "other.pdb"])
def test_a_pdb_of_another_link_under_the_builds_name_is_a_mismatch(tmp_path, other):
    """The look-alike of the right PDB: same file name, and for app-age2 the same GUID — an
    earlier link. Matched by name, refused by its id, named in a CRITICAL finding."""
    wrong = tmp_path / "app.pdb"
    shutil.copy(_out(other), wrong)
    vs, given = _verify([wrong])
    app = vs["app.exe"]
    guid, _, dbi_age = _oracle_pdb(other.removesuffix(".pdb"))
    assert app.verdict == MISMATCH and app.file_build_id == guid.replace("-", "") + f"{dbi_age:X}"
    assert given[0].how.startswith("same file name; mismatch")
    [f] = verify_findings(list(vs.values())).of_kind("core-build-mismatch")
    assert {e.label: e.value for e in f.evidence}["debug id of the file"] == app.file_build_id


def test_a_symbol_store_under_search_is_looked_up_by_debug_id(tmp_path):
    md = Minidump(_out("windows.dmp"))
    app = next(m for m in md.modules if m.name.endswith("app.exe"))
    store = tmp_path / "app.pdb" / app.debug_id
    store.mkdir(parents=True)
    shutil.copy(_out("app.pdb"), store / "app.pdb")
    wrong = tmp_path / "ntdll.pdb" / "1EB1E3A732A54D1C8F3B5C1E0D2A9B7F1"
    wrong.mkdir(parents=True)
    shutil.copy(_out("other.pdb"), wrong / "ntdll.pdb")      # filed under the right id, a different file
    vs, _ = _verify([], [tmp_path])
    assert (vs["app.exe"].verdict, vs["app.exe"].source) == (MATCH, "symbol store")
    assert vs["ntdll.dll"].verdict == MISMATCH


def test_minidump_verify_command_exits_3_on_the_wrong_pdb(tmp_path, capsys):
    shutil.copy(_out("app-age2.pdb"), tmp_path / "app.pdb")
    assert main(["minidump", "verify", str(_out("windows.dmp")), "--binary", str(_out("app.pdb"))]) == 0
    out = capsys.readouterr().out
    assert "match" in out and "core-build-mismatch" not in out
    assert main(["minidump", "verify", str(_out("windows.dmp")), "--binary", str(tmp_path / "app.pdb"), "--json"]) == 3
    d = json.loads(capsys.readouterr().out)
    assert [m["verdict"] for m in d["modules"]] == [MISMATCH, NOT_FOUND]
    assert d["modules"][0]["id_kind"] == "debug id"


def test_a_windows_minidump_without_protections_does_not_call_a_module_pc_not_code(capsys):
    """A MiniDumpNormal has no MemoryInfoList: the crashing pc inside app.exe is not 'in a mapping
    that is not executable' (there is no such evidence); a pc outside every module still is."""
    assert main(["minidump", "bt", str(_out("windows.dmp")), "--binary", str(_out("app.pdb"))]) == 0
    out = capsys.readouterr().out
    assert "not executable" not in out and "core-frame-bad-pc" not in out
    assert "app.exe+0x1000" in out and "verified by their debug id" in out
    sp = 0x8F2B7FF000
    spec = Spec(threads=[(1, {"rip": 0x7FF612340000, "rsp": sp}, sp, bytes(64))],
                modules=[(0x140000000, 0x3000, "C:\\build\\app.exe", rsds(bytes(16), 1, "app.pdb"), 1)],
                exception=(1, 0xC0000005, 0), platform=2)
    bt = Minidump(build(spec)).process().unwinder().backtrace(0)
    assert bt.frames[0].pc == 0x7FF612340000 and "in no mapping and no module" in bt.stop


# ---------------------------------------------------------------- damaged files
def _ident_or_error(data: bytes, tmp_path, name: str):
    p = tmp_path / name
    p.write_bytes(data)
    try:
        return identity(p)
    except DumpError as e:
        assert e.offset is not None or "expected" in str(e)
        return e


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
@pytest.mark.parametrize("name", ["app.pdb", "app-age2.pdb", "app.exe"])
def test_cut_or_flipped_pe_and_pdb_files_give_an_identity_or_a_dump_error(tmp_path, name, data):
    raw = bytearray(_out(name).read_bytes())
    if data.draw(st.booleans()):
        raw = raw[:data.draw(st.integers(0, len(raw)))]
    for _ in range(data.draw(st.integers(1, 4))):
        if raw:
            k = data.draw(st.integers(0, len(raw) - 1))
            raw[k] ^= 1 << data.draw(st.integers(0, 7))
    got = _ident_or_error(bytes(raw), tmp_path, name)
    assert got is None or isinstance(got, DumpError) or got.kind in ("pe", "pdb")


def test_crafted_pdb_counts_are_refused_with_their_offsets(tmp_path):
    raw = bytearray(_out("app.pdb").read_bytes())
    block = struct.unpack_from("<I", raw, 32)[0]
    big = bytearray(raw)
    struct.pack_into("<I", big, 40, 0xFFFFFFFF)                       # NumBlocks
    e = _ident_or_error(bytes(big), tmp_path, "n.pdb")
    assert isinstance(e, DumpError) and e.offset == 40
    bad = bytearray(raw)
    struct.pack_into("<I", bad, 52, 0x7FFFFFFF)                       # BlockMapAddr past the end
    e = _ident_or_error(bytes(bad), tmp_path, "m.pdb")
    assert isinstance(e, DumpError) and e.offset == 52
    dir_block = struct.unpack_from("<I", raw, struct.unpack_from("<I", raw, 52)[0] * block)[0]
    crafted = bytearray(raw)
    struct.pack_into("<I", crafted, dir_block * block, 0xFFFFFFFF)    # a stream count of 2^32 - 1
    e = _ident_or_error(bytes(crafted), tmp_path, "c.pdb")
    assert isinstance(e, DumpError) and "streams in a directory" in str(e)


# ---------------------------------------------------------------- Windows exceptions
def _exception_cases():
    return json.loads(_out("exceptions.stackwalk.json").read_text())


def test_every_windows_exception_is_named_and_placed_as_minidump_stackwalk_does():
    """fixtures/windows/out/exceptions.stackwalk.json: rust-minidump's crash type and address for
    each (code, ExceptionInformation) in minidumpbuilder.EXCEPTION_CASES — every code dumpx names,
    every __fastfail code 0-74."""
    from minidumpbuilder import EXCEPTION_CASES, windows_exception
    rows = _exception_cases()
    assert [(r["code"], r["params"]) for r in rows] == [(c, p) for c, p in EXCEPTION_CASES]
    for r in rows:
        md = Minidump(build(windows_exception(r["code"], r["params"])))
        [f] = md.findings().of_kind("minidump-exception")
        ev = {e.label: e.value for e in f.evidence}
        ours, theirs = ev["exception code"], r["type"]
        if theirs.startswith("unknown "):
            assert ours == "exception " + theirs.removeprefix("unknown ")
        elif r["code"] == 0xC0000006:                 # theirs adds the NTSTATUS of the failed read
            assert ours == theirs.split(" / ")[0]
        else:
            assert ours == theirs, r
        assert ev["address"] == int(r["address"], 16)


def _kinds(code, params):
    from minidumpbuilder import windows_exception
    return {f.kind for f in Minidump(build(windows_exception(code, params))).findings()} - {"minidump-exception"}


@pytest.mark.parametrize("code,params,kind", [
    (0xC0000409, [2], "minidump-stack-protector"),      # /GS cookie
    (0xC0000409, [0], "minidump-stack-protector"),      # legacy /GS violation
    (0xC0000409, [], "minidump-stack-protector"),       # /GS report before __fastfail (no parameters)
    (0xC0000409, [44], "minidump-stack-protector"),     # CET shadow stack
    (0xC0000409, [10], "minidump-cfg-violation"),
    (0xC0000409, [64], "minidump-cfg-violation"),       # XFG
    (0xC0000374, [], "minidump-heap-corruption"),
    (0xC0000409, [50], "minidump-heap-corruption"),     # heap metadata
    (0xC00000FD, [1, 0x8F2B6FF000], "minidump-stack-overflow"),
    (0xC0000005, [0, 0x10], "minidump-fault-null"),
    (0xC0000005, [1, 0xFFF8], "minidump-fault-null"),
])
def test_windows_exceptions_that_are_evidence_by_themselves(code, params, kind):
    assert kind in _kinds(code, params)


@pytest.mark.parametrize("code,params", [
    (0xC0000409, [7]),                  # FAST_FAIL_FATAL_APP_EXIT: abort(), not a smash
    (0xC0000409, [5]),                  # FAST_FAIL_INVALID_ARG: a CRT parameter check
    (0xC0000005, [0, 0x7FF612340000]),  # an access violation far from NULL
    (0xC0000005, [1, 0x10000]),         # the first address Windows can map
    (0x80000003, [0]),                  # a breakpoint
    (0xE06D7363, [0x19930520, 0, 0, 0]),  # an unhandled C++ exception
])
def test_their_look_alikes_stay_quiet(code, params):
    assert not _kinds(code, params) & {"minidump-stack-protector", "minidump-cfg-violation",
                                       "minidump-heap-corruption", "minidump-stack-overflow",
                                       "minidump-fault-null"}


def test_a_linux_minidump_keeps_its_signal_reading():
    """The same exception stream fields on Linux are a signal and si_addr: no Windows naming."""
    from minidumpbuilder import crash
    md = Minidump(build(crash(0x401D72, exception_address=0x45)))
    [f] = md.findings().of_kind("minidump-exception")
    assert "SIGSEGV at 0x45" in f.title and md.findings().of_kind("minidump-fault-null")


# ---------------------------------------------------------------- stack runs on every thread
def _two_threads(os_platform: int, other_stack: bytes) -> Minidump:
    sp = 0x8F2B7FF000
    regs = {"rip": 0x140001000, "rsp": sp}
    return Minidump(build(Spec(threads=[(1, regs, sp, bytes(256)), (2, {**regs, "rsp": sp + 0x10000}, sp + 0x10000, other_stack)],
                               modules=[(0x140000000, 0x3000, "C:\\build\\app.exe", rsds(bytes(16), 1, "app.pdb"), 1)],
                               exception=(1, 0xC0000005, 0x140001000, [0, 0x7FF612340000]), platform=os_platform)))


def test_a_smash_on_a_thread_that_did_not_crash_is_reported_as_a_warning():
    md = _two_threads(2, bytes(64) + b"A" * 8 * 20 + bytes(32))
    [f] = md.findings().of_kind("minidump-stack-run")
    assert f.severity.name == "WARNING" and "thread 2:" in f.title
    assert {e.label: e.value for e in f.evidence}["words"] == 20


def test_msvc_fill_of_unwritten_locals_is_not_a_smash_on_windows_but_is_elsewhere():
    stack = bytes(64) + b"\xcc" * 8 * 20 + bytes(32)
    assert not _two_threads(2, stack).findings().of_kind("minidump-stack-run")
    assert _two_threads(0x8201, stack).findings().of_kind("minidump-stack-run")


@pytest.mark.parametrize("core", ["threads", "unwind-O2cfi"])
def test_healthy_threads_of_a_real_process_give_no_stack_run(core):
    """Every thread's captured stack of a real process (the fixture cores, as a Breakpad handler
    would have written them) is scanned; none holds a run."""
    from dumpx.elf import Core
    from minidumpbuilder import from_core
    md = Minidump(from_core(Core(fixture_file(f"elf/out/{core}.core.zst"))))
    assert len(md.threads) >= 2 or core == "unwind-O2cfi"
    assert not md.findings().of_kind("minidump-stack-run")


def test_the_smash_fixtures_minidump_reports_the_run_its_core_reading_reports():
    """The positive beside those look-alikes: the 'A' run of the smash fixture (elf/smash.c), where
    the core reading (core-stack-smash) puts it."""
    from dumpx.elf import Core
    from minidumpbuilder import from_core
    core = Core(fixture_file("elf/out/smash.core.zst"))
    [c] = core.findings().of_kind("core-stack-smash")
    [m] = Minidump(from_core(core)).findings().of_kind("minidump-stack-run")
    ce, me = ({e.label: e.value for e in f.evidence} for f in (c, m))
    assert (me["from"], me["words"]) == (ce["from"], ce["words"]) and m.severity.name == "CRITICAL"


# ---------------------------------------------------------------- scanning Windows stacks with the image's code
def _scan_bt(files):
    md = Minidump(_out("windows-scan.dmp"))
    return md.process().unwinder([str(f) for f in files], []).backtrace(0)


def test_a_verified_pe_images_code_checks_each_scanned_return_address():
    """windows-scan.dmp (minidumpbuilder.windows_scan): the stack holds 0x140001012 (app.exe code
    after no call), a stack pointer, then 0x140001005, the return site of app.exe's call at
    0x140001000 (fixtures/windows/make.sh). With the verified image, the scan takes the return site
    only; every frame is, in order, one minidump-stackwalk finds on the same file (its caller
    offsets are return addresses minus one); it also takes 0x140001012, checking no call."""
    bt = _scan_bt([_out("app.exe")])
    assert [(f.pc, f.trust) for f in bt.frames] == [(0x140001010, "context"), (0x140001005, "scan")]
    ref = json.loads(_out("windows-scan.stackwalk.json").read_text())["crashing_thread"]["frames"]
    order = iter(int(f["offset"], 16) + (f["trust"] != "context") for f in ref)
    assert all(f.pc in order for f in bt.frames)
    assert 0x140001012 in {int(f["offset"], 16) + 1 for f in ref}


@pytest.mark.parametrize("given", ["app.pdb", "wrong-image", "nothing"])
def test_without_the_images_code_no_scanned_frame_is_taken(tmp_path, given):
    """The same stack with only the PDB (a match, but no code bytes), with an image of another build
    (its TimeDateStamp changed: refused), or with nothing: frame 0 and the reason the scan stopped."""
    files = {"app.pdb": [_out("app.pdb")], "nothing": []}.get(given)
    if files is None:
        raw = bytearray(_out("app.exe").read_bytes())
        pe = struct.unpack_from("<I", raw, 0x3C)[0]
        struct.pack_into("<I", raw, pe + 8, 0x65A0B0C1)
        (tmp_path / "app.exe").write_bytes(bytes(raw))
        files = [tmp_path / "app.exe"]
    bt = _scan_bt(files)
    assert [f.pc for f in bt.frames] == [0x140001010] and "no return address" in bt.stop


def test_a_file_the_system_refuses_to_read_is_a_failed_candidate_not_a_crash(tmp_path):
    """An OSError (no permission, a directory put where a file was expected) while reading a
    candidate's identity is that candidate's verdict, a DumpError, not an exception out of verify."""
    from dumpx.elf.verify import _windows_identity
    got = _windows_identity(tmp_path)
    assert isinstance(got, DumpError) and "cannot be read" in str(got)


def test_a_call_through_an_msvc_filled_pointer_is_not_read_as_a_smashed_return():
    """The look-alike of a return to a smashed word on a Windows debug build: the pc is the 0xCC fill
    of an unwritten function pointer and the stack at the stack pointer holds the same fill."""
    sp = 0x8F2B7FF000
    md = Minidump(build(Spec(threads=[(1, {"rip": 0xCCCCCCCCCCCCCCCC, "rsp": sp}, sp, b"\xcc" * 256)],
                             modules=[(0x140000000, 0x3000, "C:\\build\\app.exe", rsds(bytes(16), 1, "app.pdb"), 1)],
                             exception=(1, 0xC0000005, 0xCCCCCCCCCCCCCCCC, [8, 0xCCCCCCCCCCCCCCCC]), platform=2)))
    fs = md.findings()
    assert not fs.of_kind("core-frame-smashed") and not fs.of_kind("minidump-stack-run")
    assert fs.of_kind("core-frame-bad-pc")
