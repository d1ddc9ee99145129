"""Build verification (against eu-readelf and the fixtures' construction), Mach-O UUIDs (against a
plain load-command reader), and the smash scan (against a plain-Python reference and the
construction of the smash fixture; the clean crash must stay clean)."""

from __future__ import annotations

import re
import struct
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dumpx
from dumpx._native.stackscan import scan
from dumpx.elf import Core
from dumpx.elf.verify import MATCH, MISMATCH, NOT_FOUND, file_build_id, verify_dsym, verify_findings

from conftest import fixture_file, need_tool, real_dump
from test_elf_core import plain


def eu_build_id(path) -> str:
    out = subprocess.run([need_tool("eu-readelf"), "-n", str(path)], capture_output=True, text=True).stdout
    return re.search(r"Build ID: ([0-9a-f]+)", out).group(1)


def test_file_build_ids_match_eu_readelf():
    for rel in ("elf/out/nullderef", "elf/out/nullderef.rebuilt", "elf/out/smash"):
        p = fixture_file(rel)
        assert file_build_id(p) == eu_build_id(p)
    assert file_build_id(fixture_file("elf/out/nullderef.rebuilt")) == "00112233445566778899aabbccddeeff00112233"


def test_same_build_matches_and_rebuild_mismatches():
    core = Core(fixture_file("elf/out/nullderef.core.zst"))
    main = [v for v in core.verify([fixture_file("elf/out/nullderef")]) if v.module.endswith("/nullderef")]
    assert [v.verdict for v in main] == [MATCH]
    vs = core.verify([fixture_file("elf/out/nullderef.rebuilt")])
    bad = [v for v in vs if v.verdict == MISMATCH]
    assert len(bad) == 1 and bad[0].file_build_id == "00112233445566778899aabbccddeeff00112233"
    fs = verify_findings(vs)
    crit = fs.of_kind("core-build-mismatch")
    assert crit and str(crit[0].severity) == "critical"
    assert {e.label: e.value for e in crit[0].evidence}["build-id in the core"] == bad[0].core_build_id
    vdso = [v for v in vs if v.module == "[vdso]"]
    assert vdso[0].verdict == MATCH and vdso[0].source == "the core"     # its image is in the core


def test_a_mismatch_found_on_this_machine_is_a_warning_and_a_given_one_critical():
    """The look-alike of a wrong build the user gave: this machine's copy at the path the core
    recorded (a core from another host). Both are refused for symbols; only the first is the
    user's mistake."""
    from dumpx.elf.verify import ModuleVerdict
    def finding(source):
        v = ModuleVerdict("/lib/x86_64-linux-gnu/libc.so.6", 0x7F0000000000, "aa" * 20, "/lib/x86_64-linux-gnu/libc.so.6",
                          "bb" * 20, MISMATCH, source=source)
        [f] = verify_findings([v]).of_kind("core-build-mismatch")
        return f
    assert str(finding("given").severity) == "critical" and "the file given" in finding("given").title
    f = finding("recorded path")
    assert str(f.severity) == "warning" and "found by its recorded path" in f.title
    assert {e.label: e.value for e in f.evidence}["found by"] == "recorded path"


def test_real_core_with_its_exact_binaries(tmp_path):
    core = Core(real_dump("elf/crashme.core.zst"))
    exe = plain("real:elf/crashme.zst", tmp_path)
    lib = plain("real:elf/crashme.so.zst", tmp_path)
    (tmp_path / "crashme").write_bytes(exe.read_bytes())
    (tmp_path / "crashme.so").write_bytes(lib.read_bytes())
    vs = {v.module.rsplit("/", 1)[-1]: v for v in core.verify([tmp_path / "crashme", tmp_path / "crashme.so"])}
    assert vs["crashme"].verdict == MATCH and vs["crashme.so"].verdict == MATCH
    assert vs["libc.so.6"].verdict == NOT_FOUND


def test_debug_files_under_a_build_id_tree(tmp_path):
    core = Core(fixture_file("elf/out/nullderef.core.zst"))
    bid = [m for m in core.modules() if m.path and m.path.endswith("/nullderef")][0].build_id
    d = tmp_path / ".build-id" / bid[:2]
    d.mkdir(parents=True)
    (d / f"{bid[2:]}.debug").write_bytes(fixture_file("elf/out/nullderef").read_bytes())
    vs = [v for v in core.verify(search_paths=[tmp_path]) if v.module.endswith("/nullderef")]
    assert vs[0].verdict == MATCH and vs[0].file.endswith(".debug")


def _lc_uuid(path) -> str:
    """Reference: walk a thin 64-bit Mach-O's load commands to LC_UUID (0x1b)."""
    data = path.read_bytes()
    magic, _, _, _, ncmds = struct.unpack_from("<IiiII", data, 0)
    assert magic == 0xFEEDFACF
    pos = 32
    for _ in range(ncmds):
        cmd, size = struct.unpack_from("<II", data, pos)
        if cmd == 0x1B:
            return data[pos + 8:pos + 24].hex()
        pos += size
    raise AssertionError("no LC_UUID")


def test_macho_binary_against_dsym():
    a = fixture_file("macho/out/lz4-4.4.5-arm64-_version.so")
    b = fixture_file("macho/out/lz4-4.4.4-arm64-_version.so")
    x = fixture_file("macho/out/lz4-4.4.5-x86_64-_version.so")
    same = verify_dsym(a, a)
    assert same == [{"arch": "ARM64", "binary_uuid": _lc_uuid(a), "dsym_uuid": _lc_uuid(a), "verdict": MATCH}]
    other = verify_dsym(a, b)[0]
    assert other["verdict"] == MISMATCH and other["dsym_uuid"] == _lc_uuid(b) != _lc_uuid(a)
    arch = {r["arch"]: r["verdict"] for r in verify_dsym(a, x)}
    assert arch == {"ARM64": NOT_FOUND, "X86_64": NOT_FOUND}


# ---------------------------------------------------------------- smash scan

def reference_runs(words: list[int], base: int, min_repeat=4, min_ascii=3):
    fills = {0xdeadbeef, 0xbaadf00d, 0xfeeefeee, 0xcdcdcdcd, 0xabababab, 0xfdfdfdfd, 0xdddddddd,
             0xa5a5a5a5, 0x5a5a5a5a, 0xcccccccc, 0xbebebebe, 0xefefefef}

    def kind(w):
        b = w.to_bytes(8, "little")
        if len(set(b)) == 1:
            return 1 if b[0] not in (0, 0xFF) else 0
        if (w & 0xFFFFFFFF) == (w >> 32) and (w & 0xFFFFFFFF) in fills:
            return 2
        return 3 if all(0x20 <= c <= 0x7E for c in b) else 0

    out, i = [], 0
    while i < len(words):
        k = kind(words[i])
        j = i + 1
        while j < len(words) and kind(words[j]) == k and (k == 3 or words[j] == words[i]):
            j += 1
        if k and j - i >= (min_ascii if k == 3 else min_repeat):
            out.append((base + 8 * i, j - i, k, words[i]))
        i = j
    return out


WORD = st.one_of(st.integers(0, 2**64 - 1), st.sampled_from(
    [0x4141414141414141, 0x9090909090909090, 0xCCCCCCCCCCCCCCCC, 0xDEADBEEFDEADBEEF, 0,
     2**64 - 1, 0x6867666564636261, 0x2020202020202020]))


@settings(max_examples=300, deadline=None)
@given(st.lists(WORD, max_size=200), st.integers(0, 2**40))
def test_scan_kernel_equals_reference(words, base):
    base &= ~7
    data = struct.pack(f"<{len(words)}Q", *words)
    s, n, k, v = scan(data, base)
    assert list(zip(s.tolist(), n.tolist(), k.tolist(), v.tolist())) == reference_runs(words, base)


def test_smash_fixture_is_read_as_a_stack_overflow():
    c = dumpx.open(fixture_file("elf/out/smash.core.zst"))
    fs = c.findings()
    smash = fs.of_kind("core-stack-smash")
    assert len(smash) == 1 and str(smash[0].severity) == "critical"
    ev = {e.label: e.value for e in smash[0].evidence}
    # 256 bytes of 'A' into a 64-byte buffer below the saved rbp: 256 - 64 - 8 bytes from the
    # return slot (the stack pointer at the faulting ret) up
    assert ev["words"] == (256 - 64 - 8) // 8 and ev["from"] == c.threads[0].sp
    assert "0x4141414141414141" in ev["pattern"]
    assert fs.of_kind("core-return-noncanonical") and fs.of_kind("core-fault-gp")


@pytest.mark.parametrize("spec", ["fix:elf/out/nullderef.core.zst", "real:elf/crashme.core.zst",
                                  "real:elf/backtrace.x86_64.core.bz2", "real:elf/core_linux64.elf",
                                  # 32 bytes of '/' sit 1.9 KB above the stack pointer in these: an
                                  # ordinary buffer, not an overrun
                                  "fix:elf/out/unwind-O0.core.zst", "fix:elf/out/unwind-O2cfi.core.zst",
                                  "fix:elf/out/unwind-O2fp.core.zst", "fix:elf/out/unwind-fponly.core.zst"])
def test_clean_crashes_have_no_smash_findings(spec):
    from test_elf_core import _path
    fs = Core(_path(spec)).findings()
    assert not [f for f in fs if f.kind in ("core-stack-smash", "core-return-noncanonical",
                                            "core-pc-noncanonical", "core-pc-not-executable")]


def test_stack_protector_abort_still_shows_the_overrun():
    c = Core(fixture_file("elf/out/stackprot.core.zst"))          # fixtures/elf/stackprot.c
    assert c.siginfo["signal"] == "SIGABRT"
    smash = c.findings().of_kind("core-stack-smash")
    ev = {e.label: e.value for e in smash[0].evidence}
    assert ev["words"] == (48 + 64) // 8 and "0x4242424242424242" in ev["pattern"]


def test_null_dereference_is_decoded():
    fs = Core(fixture_file("elf/out/nullderef.core.zst")).findings()
    f = fs.of_kind("core-fault-null")
    assert f and {e.label: e.value for e in f[0].evidence}["si_addr"] < 4096
