"""Cores synthesized with a known construction (tests/corebuilder.py) for the shapes real cores
showed: thousands of mappings, PN_XNUM, build-ids found at mapping start + file offset, truncated
NT_FILE tables and files, overlapping PT_LOADs; eu-unstrip and eu-readelf as the peers."""

from __future__ import annotations

import re
import struct
import subprocess
import warnings

import pytest

from corebuilder import CoreSpec, Load, build, many_modules
from dumpx.cli import main as cli
from dumpx.elf import Core
from dumpx.errors import TruncationWarning

from conftest import fixture_file, need_tool
from test_elf_core import plain


def eu_unstrip(path) -> dict[int, tuple[int, str]]:
    out = subprocess.run([need_tool("eu-unstrip"), "-n", "--core", str(path)], capture_output=True, text=True).stdout
    res = {}
    for ln in out.splitlines():
        m = re.match(r"0x([0-9a-f]+)\+0x([0-9a-f]+) ([0-9a-f]+|-)", ln)
        if m:
            res[int(m.group(1), 16)] = (int(m.group(2), 16), m.group(3).split("@")[0])
    return res


@pytest.mark.parametrize("note_at_offset", [False, True])
def test_three_thousand_modules_equal_eu_unstrip(tmp_path, note_at_offset):
    p = tmp_path / "many.core"
    p.write_bytes(build(many_modules(3000, note_at_offset=note_at_offset)))
    ours = {m.start: (m.size, m.build_id) for m in Core(p).modules()}
    assert len(ours) == 3000
    assert ours == eu_unstrip(p)
    # the construction: module k carries build-id k (little-endian) followed by zeros
    assert ours[0x7F0000000000 + 2 * 4096 * 2999][1] == struct.pack("<I", 2999).hex() + "00" * 16


def test_extended_program_header_count(tmp_path):
    spec = many_modules(4)
    spec.xnum = True
    p = tmp_path / "xnum.core"
    p.write_bytes(build(spec))
    out = subprocess.run([need_tool("eu-readelf"), "-h", str(p)], capture_output=True, text=True).stdout
    n = int(re.search(r"Number of program headers entries:\s+65535 \((\d+) in \[0\]\.sh_info\)", out).group(1))
    c = Core(p)
    assert len(c.segments) + 1 == n == 6            # 5 PT_LOADs and the PT_NOTE
    assert len(c.modules()) == 4


def test_truncated_nt_file_table_is_reported(tmp_path):
    spec = many_modules(200)
    spec.file_note_names_cut = 1
    p = tmp_path / "cutnames.core"
    p.write_bytes(build(spec))
    c = Core(p)
    assert len(c.files) == 200
    assert any("announces 200 mappings but holds 1 complete names" in x for x in c.problems)
    assert c.files[5].path == "<mapping 5: name lost>"


def test_overlapping_and_wrapping_loads_are_reported(tmp_path):
    spec = CoreSpec(threads=[{"rip": 0x401000, "rsp": 0x7FF000}],
                    loads=[Load(0x400000, b"\x90" * 8192), Load(0x401000, b"\xcc" * 4096),
                           Load(0xFFFFFFFFFFFFF000, b"\x00" * 4096, memsz=0x10000)])
    p = tmp_path / "overlap.core"
    p.write_bytes(build(spec))
    c = Core(p)
    assert any("overlaps" in x for x in c.problems) and any("wraps" in x for x in c.problems)
    assert c.read(0x401000, 1) == b"\x90"                # the first segment wins, as the loader order had it


def test_truncated_core_says_what_it_lost(tmp_path, capsys):
    raw = plain("fix:elf/out/stackprot.core.zst", tmp_path).read_bytes()
    c0 = Core(raw)
    stack = c0.segment_of(c0.threads[0].sp)
    cut = stack.offset + (c0.threads[0].sp - stack.vaddr) + 256       # 256 bytes of stack kept
    p = tmp_path / "cut.core"
    p.write_bytes(raw[:cut])
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        c = Core(p)
    assert any(issubclass(x.category, TruncationWarning) for x in w)
    fs = c.findings(backtraces=False)
    ns = fs.of_kind("core-stack-not-scanned")
    assert ns and {e.label: e.value for e in ns[0].evidence}["from"] == c0.threads[0].sp + 256
    assert cli(["core", "stack", str(p)]) == 1
    assert cli(["core", "verify", str(p)]) in (1, 3)
    capsys.readouterr()
    # cut inside the page that holds ld.so's ELF header: the module blames the truncation, not the filter
    ld = next(m for m in c0.modules() if m.path and "ld-linux" in m.path)
    seg = c0.segment_of(ld.start)
    p2 = tmp_path / "cut2.core"
    p2.write_bytes(raw[:seg.offset + 2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m2 = next(m for m in Core(p2).modules() if m.start == ld.start)
    assert m2.problem == "ELF headers lost: the core file is truncated before them"


def test_verify_says_what_each_given_file_became(tmp_path, capsys):
    core = fixture_file("elf/out/nullderef.core.zst")
    passwd = tmp_path / "passwd"
    passwd.write_text("root:x:0:0::/root:/bin/sh\n")
    rc = cli(["core", "verify", str(core), "--binary", str(fixture_file("elf/out/nullderef")),
              "--binary", str(passwd), "--binary", str(tmp_path / "missing"),
              "--binary", str(fixture_file("elf/out/smash"))])
    out = capsys.readouterr().out
    assert rc == 1
    assert f"{passwd}: NOT USED: not an ELF file" in out
    assert "missing: NOT USED: file does not exist" in out
    assert re.search(r"smash: matched to \S+/nullderef .*mismatch .*not used for symbols", out)


def test_signal_sender_matches_gdb(tmp_path):
    core = plain("fix:elf/out/stackprot.core.zst", tmp_path)
    exe = fixture_file("elf/out/stackprot")
    out = subprocess.run([need_tool("gdb"), "-batch", "-nx", "-ex", "p $_siginfo._sifields._kill", str(exe), str(core)],
                         capture_output=True, text=True).stdout
    m = re.search(r"si_pid = (\d+), si_uid = (\d+)", out)
    si = Core(core).siginfo
    assert m and (si["sender_pid"], si["sender_uid"]) == (int(m.group(1)), int(m.group(2)))
    assert si["sent_by"].startswith("SI_TKILL")      # abort() raises with tgkill
