"""dumpx's DWARF reader (``_native/dwarfscan`` + ``dumpx.elf.dwarf``) against pyelftools, a
plain-Python DWARF library, on real binaries: gcc and clang fixtures (DWARF 5 with strx/addrx
forms), libc's debug file when libc6-dbg is installed, and a big C++ unit when the benchmark
built one. Line tables row for row, abbreviation tables, and the scopes containing each pc as
the reference walk below finds them with pyelftools' DIEs and range lists. Then damaged input:
only CorruptDumpError."""

from __future__ import annotations

import posixpath
import random
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dumpx._native import dwarfscan
from dumpx.elf.dwarf import slot_value
from dumpx.elf.image import Image, _demangle
from dumpx.errors import CorruptDumpError

from conftest import fixture_file

LIBC_DEBUG = Path("/usr/lib/debug/.build-id/93/ac61ec5a8eb1396f9fbd350e3169a558528a40.debug")
BIGCPP = Path(__file__).resolve().parent.parent / "benchmarks" / "work" / "bigcpp"
FIXTURES = ["widget", "indirect", "indirect-clang", "unwind-O2cfi", "unwind-O0", "ipara", "tailcall", "threads",
            "optout", "stackprot"]


def _paths():
    out = [pytest.param(fixture_file(f"elf/out/{n}"), id=n) for n in FIXTURES]
    out.append(pytest.param(LIBC_DEBUG, id="libc-debug"))
    out.append(pytest.param(BIGCPP, id="bigcpp"))
    return out


def _image(p: Path) -> Image:
    if not p.exists():
        pytest.skip(f"{p} is absent (libc6-dbg of another build, or the C++ benchmark not built here)")
    return Image(str(p))


# ---------------------------------------------------------------- pyelftools references
_SCOPE_TAGS = ("DW_TAG_subprogram", "DW_TAG_inlined_subroutine", "DW_TAG_lexical_block")
_CONTAINER_TAGS = ("DW_TAG_namespace", "DW_TAG_module", "DW_TAG_class_type", "DW_TAG_structure_type",
                   "DW_TAG_union_type")


def ref_ranges(dw, die) -> list[tuple[int, int]]:
    at = die.attributes
    if "DW_AT_low_pc" in at and "DW_AT_high_pc" in at:
        lo = at["DW_AT_low_pc"].value                   # pyelftools resolves DW_FORM_addrx itself
        hi = at["DW_AT_high_pc"]
        hv = hi.value if hi.form.startswith("DW_FORM_addr") else lo + hi.value
        return [(lo, hv)] if hv > lo else []
    if "DW_AT_ranges" in at:
        rl = dw.range_lists()
        a = at["DW_AT_ranges"]
        ranges = rl.get_range_list_at_offset_ex(a.value, cu=die.cu) if a.form == "DW_FORM_rnglistx" \
            else rl.get_range_list_at_offset(a.value, cu=die.cu)
        top = die.cu.get_top_DIE().attributes
        base = top["DW_AT_low_pc"].value if "DW_AT_low_pc" in top else 0
        out = []
        for r in ranges:
            name = type(r).__name__
            if name == "RangeEntry":
                a_, b_ = (r.begin_offset, r.end_offset) if r.is_absolute else (base + r.begin_offset, base + r.end_offset)
                if b_ > a_:
                    out.append((a_, b_))
            elif name == "BaseAddressEntry":
                base = r.base_address
        return out
    return []


def ref_scopes(dw, cu, pc: int) -> list:
    """The first scope in DIE order containing pc at each level, through namespaces and types."""
    out, stack = [], [cu.get_top_DIE().iter_children()]
    while stack:
        child = next(stack[-1], None)
        if child is None:
            stack.pop()
            continue
        if child.tag in _SCOPE_TAGS:
            if child.has_children or child.tag != "DW_TAG_lexical_block":
                if any(a <= pc < b for a, b in ref_ranges(dw, child)):
                    out.append(child)
                    stack = [child.iter_children()]
        elif child.tag in _CONTAINER_TAGS and child.has_children:
            stack.append(child.iter_children())
    return out


def ref_name(die, depth=0) -> str:
    for key in ("DW_AT_linkage_name", "DW_AT_MIPS_linkage_name", "DW_AT_name"):
        a = die.attributes.get(key)
        if a is not None:
            return _demangle(a.value.decode("utf-8", "backslashreplace"))
    if depth < 8:
        for key in ("DW_AT_abstract_origin", "DW_AT_specification"):
            if key in die.attributes:
                return ref_name(die.get_DIE_from_attribute(key), depth + 1)
    return "??"


def ref_files(lp) -> list[str]:
    hdr = lp.header
    dirs = [d.decode() if isinstance(d, bytes) else str(d) for d in hdr.get("include_directory", [])]
    out = []
    for fe in hdr.get("file_entry", []):
        name = fe.name.decode() if isinstance(fe.name, bytes) else str(fe.name)
        di = fe.dir_index
        d = (dirs[di - 1] if 0 < di <= len(dirs) else "") if hdr.version < 5 else (dirs[di] if 0 <= di < len(dirs) else "")
        out.append(posixpath.join(d, name) if d and not name.startswith("/") else name)
    return out if hdr.version >= 5 else [""] + out


def _cus(dw, limit: int):
    cus = list(dw.iter_CUs())
    if len(cus) > limit:
        cus = random.Random(7).sample(cus, limit)
    return cus


# ---------------------------------------------------------------- line tables
@pytest.mark.parametrize("path", _paths())
def test_line_tables_equal_pyelftools(path):
    img = _image(path)
    ref_dw = img.dwarf()
    checked = 0
    for cu in _cus(ref_dw, 40):
        lp = ref_dw.line_program_for_CU(cu)
        if lp is None:
            continue
        rows = [(e.state.address, bool(e.state.end_sequence), e.state.file, e.state.line, e.state.column)
                for e in lp.get_entries() if e.state is not None]
        u = img.dw.unit_at(cu.cu_offset)
        a, end, fil, line, col = img.dw.line_table(u)
        got = sorted(zip(a.tolist(), end.tolist(), fil.tolist(), line.tolist(), col.tolist()))
        assert got == sorted(rows), f"CU at {cu.cu_offset}"
        assert u.files == ref_files(lp)
        checked += len(rows)
    assert checked


@pytest.mark.parametrize("path", _paths())
def test_abbreviation_tables_equal_pyelftools(path):
    img = _image(path)
    ref_dw = img.dwarf()
    for cu in _cus(ref_dw, 20):
        ref = ref_dw.get_abbrev_table(cu["debug_abbrev_offset"])
        index, tags, kids, first, count, an, af, ac = img.dw.abbrevs(cu["debug_abbrev_offset"])
        for code in range(1, len(index)):
            k = int(index[code])
            if k < 0:
                continue
            decl = ref.get_abbrev(code)
            assert int(kids[k]) == int(decl.has_children())
            specs = [(int(an[j]), int(af[j])) for j in range(first[k], first[k] + count[k])]
            assert len(specs) == len(decl["attr_spec"])


# ---------------------------------------------------------------- scopes
def _sample_pcs(ref_dw, cu, n: int) -> list[int]:
    lp = ref_dw.line_program_for_CU(cu)
    if lp is None:
        return []
    addrs = sorted({e.state.address for e in lp.get_entries() if e.state is not None and not e.state.end_sequence})
    if len(addrs) > n:
        addrs = random.Random(cu.cu_offset).sample(addrs, n)
    return [a + d for a in addrs for d in (0, 1)]


@pytest.mark.parametrize("path", _paths())
def test_scopes_equal_the_pyelftools_walk(path):
    img = _image(path)
    ref_dw = img.dwarf()
    checked = 0
    for cu in _cus(ref_dw, 25 if path in (LIBC_DEBUG, BIGCPP) else 1000):
        u = img.dw.unit_at(cu.cu_offset)
        for pc in _sample_pcs(ref_dw, cu, 30):
            ref = ref_scopes(ref_dw, cu, pc)
            rows = img.dw.scope_chain(u, pc, blocks=True)
            t = img.dw.table(u)
            assert [int(t[0][r]) for r in rows] == [d.offset for d in ref], f"pc 0x{pc:x}"
            got = img.dw.scope_chain(u, pc, blocks=False)
            want = [d for d in ref if d.tag != "DW_TAG_lexical_block"]
            names = [img.dw.row_name(u, t, r) for r in got]
            assert [_demangle(n.decode("utf-8", "backslashreplace")) if n else "??" for n in names] == \
                   [ref_name(d) for d in want]
            for r, d in zip(got, want):
                cl = d.attributes.get("DW_AT_call_line")
                assert slot_value(t, r, dwarfscan.S_CALL_LINE) == (cl.value if cl is not None else None)
            checked += len(ref)
    assert checked


# ---------------------------------------------------------------- damaged input
def _unit_arrays(img):
    u = img.dw.unit_at(img.dw.unit_offsets()[0])
    info = bytes(img.dw.upto(".debug_info", u.end))
    return u, info, img.dw.abbrevs(u.abbrev_offset)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_damaged_units_raise_corruptdumperror_only(data):
    img = Image(str(fixture_file("elf/out/indirect-clang")))
    u, info, ab = _unit_arrays(img)
    buf = bytearray(info[:u.end])
    for _ in range(data.draw(st.integers(1, 8))):
        k = data.draw(st.integers(u.die_start, len(buf) - 1))
        buf[k] = data.draw(st.integers(0, 255))
    end = data.draw(st.integers(u.die_start, len(buf)))
    try:
        t = dwarfscan.die_table(bytes(buf[:end]), u.die_start, end, u.offset, u.version, u.offset_size,
                                u.addr_size, *ab, scopes_only=data.draw(st.booleans()))
    except CorruptDumpError as e:
        assert e.offset is not None
        return
    assert all(len(c) == len(t[0]) for c in t[:6]) and len(t[6]) == len(t[7]) == dwarfscan.NSLOT * len(t[0])


@settings(max_examples=150, deadline=None)
@given(prog=st.binary(max_size=400), opcode_base=st.integers(1, 20), line_range=st.integers(1, 20),
       addr_size=st.sampled_from([1, 2, 4, 8]))
def test_random_line_programs_raise_corruptdumperror_only(prog, opcode_base, line_range, addr_size):
    std = np.array([0, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0, 1][:max(opcode_base - 1, 0)] + [2] * max(opcode_base - 13, 0),
                   dtype=np.uint8)
    try:
        a, e, f, ln, c = dwarfscan.line_rows(prog, 0, len(prog), addr_size, 1, -5, line_range, opcode_base, std)
    except CorruptDumpError as err:
        assert err.offset is not None and 0 <= err.offset <= len(prog)
        return
    assert len(a) == len(e) == len(f) == len(ln) == len(c) <= len(prog)


@settings(max_examples=150, deadline=None)
@given(raw=st.binary(max_size=300), offset=st.integers(0, 299))
def test_random_abbreviation_tables_raise_corruptdumperror_only(raw, offset):
    try:
        index, tags, kids, first, count, an, af, ac = dwarfscan.abbrev_table(raw, offset)
    except CorruptDumpError:
        return
    assert len(index) <= 4 * len(tags) + 1025 and max((f + c for f, c in zip(first, count)), default=0) <= len(an)


@settings(max_examples=100, deadline=None)
@given(raw=st.binary(max_size=400))
def test_random_aranges_are_refused_or_read(raw):
    got = dwarfscan.aranges(raw)
    assert got is None or len(got[0]) == len(got[1]) == len(got[2]) <= len(raw) // 16


def test_a_truncated_compressed_debug_info_is_a_corruptdumperror(tmp_path):
    src = LIBC_DEBUG
    if not src.exists():
        pytest.skip("libc6-dbg is not installed")
    img = Image(str(src))
    off = img.sections[".debug_info"][3]
    size = img.sections[".debug_info"][4]
    data = bytearray(Path(src).read_bytes())
    data[off + 24 + size // 2: off + size] = bytes(size - 24 - size // 2 + 24)     # zero the back half
    p = tmp_path / "cut.debug"
    p.write_bytes(bytes(data))
    cut = Image(str(p))
    with pytest.raises(CorruptDumpError):
        cut.dw.upto(".debug_info", cut.dw.size(".debug_info"))


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=0, max_size=40))
def test_a_cut_or_crafted_unit_header_is_a_corruptdumperror(head):
    """Found in review: a DWARF 5 header cut inside its abbreviation offset gave struct.error."""
    from dumpx.elf.dwarf import Dwarf

    class Img:                                        # only the section the header is read from
        name = "crafted"
        data = memoryview(head)
        sections = {".debug_info": (1, 0, 0, 0, len(head))}

        def section_bytes(self, name):
            return None

    try:
        u = Dwarf(Img()).unit_at(0)
    except CorruptDumpError as e:
        assert e.offset is not None and 0 <= e.offset <= len(head)
        return
    assert 0 < u.die_start <= u.end <= len(head)


def test_a_dwarf5_header_cut_in_its_abbreviation_offset():
    from dumpx.elf.dwarf import Dwarf

    class Img:
        name = "cut"
        data = memoryview(struct.pack("<IHBB", 7, 5, 1, 8) + b"\0\0\0")
        sections = {".debug_info": (1, 0, 0, 0, 11)}

        def section_bytes(self, name):
            return None

    with pytest.raises(CorruptDumpError) as e:
        Dwarf(Img()).unit_at(0)
    assert e.value.offset == 8
