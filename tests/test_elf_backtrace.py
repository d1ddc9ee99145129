"""Backtraces against eu-stack and gdb on the same cores, the unwinding methods against each other on
one program built four ways, the CFI kernel against pyelftools' decoder, and the readings (the ??
frame, the stack protector) against the fixtures' construction; healthy cores stay quiet."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dumpx._native import cfi
from dumpx.elf import Core
from dumpx.elf.backtrace import TRUST_CFI, TRUST_CONTEXT, TRUST_FP
from dumpx.elf.image import Image
from dumpx.elf.verify import MISMATCH, file_build_id
from dumpx.errors import DumpError

from conftest import fixture_file, need_tool, real_dump
from test_elf_core import plain

UNWIND = ["O0", "O2fp", "O2cfi", "fponly"]
FIXTURE_CORES = {f"unwind-{v}": f"unwind-{v}" for v in UNWIND} | {
    "widget": "widget", "threads": "threads", "nullderef": "nullderef", "stackprot": "stackprot", "smash": "smash"}
LIBC = "/lib/x86_64-linux-gnu/libc.so.6"


def fixture_core(name: str) -> tuple[Path, Path]:
    return fixture_file(f"elf/out/{name}.core.zst"), fixture_file(f"elf/out/{FIXTURE_CORES[name]}")


def libc_as_in(core: Core) -> None:
    """The fixtures' libc frames can only be checked on a machine with the libc that wrote them."""
    want = next((m.build_id for m in core.modules() if m.path and "libc.so" in m.path), None)
    try:
        have = file_build_id(LIBC)
    except DumpError:
        have = None
    if want is None or want != have:
        pytest.skip(f"this machine's libc ({have}) is not the one in the core ({want})")


# --------------------------------------------------------------------------- peers

def eu_stack(core: Path, exe: Path) -> dict[int, list[tuple[int, str, str | None]]]:
    """{tid: [(pc, function, file:line:col)]} from eu-stack -i -l -s (inline frames included)."""
    out = subprocess.run([need_tool("eu-stack"), "-i", "-l", "-s", "--core", str(core), "-e", str(exe)],
                         capture_output=True, text=True).stdout
    threads: dict[int, list] = {}
    cur = None
    for line in out.splitlines():
        m = re.match(r"TID (\d+):", line)
        if m:
            cur = threads.setdefault(int(m.group(1)), [])
            continue
        m = re.match(r"#(\d+)\s+0x([0-9a-f]+)\s*(\S*)", line)
        if m and cur is not None:
            cur.append([int(m.group(2), 16), m.group(3) or None, None])
        elif line.startswith("    ") and cur:
            cur[-1][2] = line.strip()
    return {t: [tuple(f) for f in fs] for t, fs in threads.items()}


def gdb_functions(core: Path, exe: Path) -> dict[int, list[str]]:
    """{tid: [function]} from gdb -batch 'thread apply all bt' (tail-call frames included)."""
    out = subprocess.run([need_tool("gdb"), "-batch", "-nx", "-ex", "thread apply all bt", str(exe), str(core)],
                         capture_output=True, text=True).stdout
    threads: dict[int, list[str]] = {}
    cur = None
    for line in out.splitlines():
        m = re.match(r"Thread \d+ \(.*LWP (\d+)\)", line)
        if m:
            cur = threads.setdefault(int(m.group(1)), [])
            continue
        m = re.match(r"#\d+\s+(?:0x[0-9a-f]+ in )?(<signal handler called>|[^\s(]+)", line)
        if m and cur is not None:
            cur.append(_alias(m.group(1)))
    return threads


def _alias(name: str) -> str:
    """glibc's aliases of one function (clone3, __clone3, __GI___clone3) compared as one name."""
    return re.sub(r"^(__GI_)?_*", "", name)


def ours(core: Path, exe: Path):
    c = Core(core)
    return c, {bt.tid: bt for bt in c.backtraces([exe])}


@pytest.mark.parametrize("name", sorted(set(FIXTURE_CORES) - {"unwind-fponly"}))
def test_frames_equal_eu_stack(name, tmp_path):
    """(unwind-fponly is checked against gdb and the CFI build instead: eu-stack's frame-pointer
    fallback reads rbp in on_usr1, which never set it up, and skips the trampoline, raise and level3.)"""
    core_z, exe = fixture_core(name)
    c, bts = ours(core_z, exe)
    libc_as_in(c)
    peer = eu_stack(plain(f"fix:elf/out/{name}.core.zst", tmp_path), exe)
    assert set(peer) == set(bts)
    for tid, frames in peer.items():
        mine = bts[tid].frames
        assert len(mine) >= len(frames), (tid, frames, [f.label for f in mine])
        for (pc, fn, where), f in zip(frames, mine):
            assert f.pc == pc, (tid, hex(pc), f.label)
            assert f.function == fn, (tid, hex(pc), fn, f.function)
            if where:
                assert f"{f.file}:{f.line}" + (f":{f.column}" if f.column else "") == where
        # past eu-stack's last frame we add only the ?? frame that explains why it stopped
        assert all(f.note for f in mine[len(frames):])


def test_real_core_equals_eu_stack(tmp_path):
    core = plain("real:elf/backtrace.x86_64.core.bz2", tmp_path)
    exe = plain("real:elf/backtrace.x86_64.exec.bz2", tmp_path)
    c, bts = ours(core, exe)
    peer = eu_stack(core, exe)
    assert set(peer) == set(bts)
    for tid, frames in peer.items():
        assert [(f.pc, f.function) for f in bts[tid].frames] == [(pc, fn) for pc, fn, _ in frames]


def test_drgn_core_through_a_shared_library(tmp_path):
    """crashme.so is loaded from a path that does not exist here: the given files are matched by build-id."""
    core = real_dump("elf/crashme.core.zst")
    exe, lib = plain("real:elf/crashme.zst", tmp_path), plain("real:elf/crashme.so.zst", tmp_path)
    c = Core(core)
    bt = c.backtraces([exe, lib])[0]
    # the functions and lines of drgn's crashme.c: c <- b <- a <- crashme (crashme.so) <- main
    got = [(f.function, f.line) for f in bt.frames[:5]]
    assert got == [("c", 8), ("b", 14), ("a", 19), ("crashme", 24), ("main", 9)]
    assert bt.frames[0].trust == TRUST_CONTEXT and {f.trust for f in bt.frames[1:5]} == {TRUST_CFI}
    # libc here is another build: its frames carry no name
    libc = [f for f in bt.frames if f.module and "libc" in f.module]
    assert libc and all(f.function is None and f.build == "unverified build" for f in libc)


@pytest.mark.parametrize("name", ["unwind-O2cfi", "unwind-fponly", "widget", "stackprot"])
def test_functions_are_a_subsequence_of_gdb(name, tmp_path):
    """gdb adds tail-call frames (from DW_TAG_call_site) that no unwinder sees, and stops at main
    (past it, on the fponly build, it reads garbage): ours up to main must appear in gdb's order."""
    core_z, exe = fixture_core(name)
    c, bts = ours(core_z, exe)
    libc_as_in(c)
    peer = gdb_functions(plain(f"fix:elf/out/{name}.core.zst", tmp_path), exe)
    for tid, fns in peer.items():
        mine = ["<signal handler called>" if f.signal_frame else _alias((f.function or "??").split("(")[0])
                for f in bts[tid].frames if not f.note]
        if "main" in mine:
            mine = mine[:mine.index("main") + 1]
        it = iter(fns)
        assert len(mine) >= 3
        assert all(any(m == g for g in it) for m in mine), (tid, mine, fns)


def test_frame_pointer_and_cfi_builds_unwind_alike():
    stacks = {}
    trusts = {}
    for v in UNWIND:
        core_z, exe = fixture_core(f"unwind-{v}")
        c = Core(core_z)
        libc_as_in(c)
        bts = c.backtraces([exe])
        stacks[v] = [[(f.function, f.inlined) for f in bt.frames] for bt in bts]
        trusts[v] = {f.function: f.trust for f in bts[0].frames}
    # the construction: deref (inlined) in on_usr1, the trampoline, raise, level3..1, main
    want = ["deref", "on_usr1", "__restore_rt", "__pthread_kill_implementation", "__GI_raise",
            "level3", "level2", "level1", "main"]
    for v in UNWIND:
        assert [fn for fn, _ in stacks[v][0][:9]] == want
        assert stacks[v][0][0] == ("deref", True)
        assert stacks[v] == stacks["O2cfi"]
    assert trusts["fponly"]["level2"] == TRUST_FP and trusts["O2cfi"]["level2"] == TRUST_CFI


def test_signal_trampoline_frame():
    core_z, exe = fixture_core("unwind-O2cfi")
    c = Core(core_z)
    libc_as_in(c)
    f = c.backtraces([exe])[0].frames
    tramp = next(g for g in f if g.signal_frame)
    below = f[tramp.index + 1]
    # the frame interrupted by the signal is exact (not a return address): pthread_kill's syscall
    assert below.exact and below.function == "__pthread_kill_implementation"


def test_cpp_names_are_demangled():
    core_z, exe = fixture_core("widget")
    bt = Core(core_z).backtraces([exe])[0]
    assert [f.function for f in bt.frames[:3]] == ["shop::Widget<int>::restock(int)", "shop::Shelf::fill(int)", "main"]
    assert (bt.frames[0].file.endswith("widget.cc"), bt.frames[0].line) == (True, 10)


def test_no_symbols_from_an_unverified_build():
    core_z, exe = fixture_core("nullderef")
    c = Core(core_z)
    bt = c.backtraces([fixture_file("elf/out/nullderef.rebuilt")])[0]
    vs = {v.module.rsplit("/", 1)[-1]: v for v in c.unwinder([fixture_file("elf/out/nullderef.rebuilt")]).verdicts}
    assert vs["nullderef"].verdict == MISMATCH
    main = [f for f in bt.frames if f.module and f.module.endswith("/nullderef")]
    assert main and all(f.function is None and f.build == "unverified build" for f in main)
    ok = Core(core_z).backtraces([exe])[0]
    assert [f.function for f in ok.frames[:2]] == ["sum", "main"]


# --------------------------------------------------------------------------- readings

def test_stack_protector_names_the_function_and_its_canary():
    core_z, exe = fixture_core("stackprot")
    c = Core(core_z)
    libc_as_in(c)
    fs = c.findings(binaries=[exe])
    sp = fs.of_kind("core-stack-protector")
    assert len(sp) == 1
    ev = {e.label: e.value for e in sp[0].evidence}
    assert ev["detected in"].startswith("handle")
    slot = [v for k, v in ev.items() if k.startswith("canary slot of") and "handle" in k]
    assert slot == ["overwritten with 0x4242424242424242"]          # the 'B' fill of the construction
    assert ev["canary agrees with AT_RANDOM (glibc derivation)"] is True
    # the canary really is the word at fs_base + 0x28
    t0 = c.threads[0]
    assert ev["process canary"] == c.u64(t0.registers["fs_base"] + 0x28)


def test_smashed_return_address_is_explained():
    core_z, exe = fixture_core("smash")
    fs = Core(core_z).findings(binaries=[exe])
    sm = fs.of_kind("core-frame-smashed")
    assert len(sm) == 1
    ev = {e.label: e.value for e in sm[0].evidence}
    assert ev["pc"] == 0x4141414141414141 and ev["run words"] == 23       # the construction
    assert ev["the run starts in the stack frame of"].startswith("#0 parse")


@pytest.mark.parametrize("name", ["unwind-O0", "unwind-O2cfi", "threads", "nullderef", "widget"])
def test_healthy_stacks_raise_no_smash_or_canary_reading(name):
    core_z, exe = fixture_core(name)
    c = Core(core_z)
    kinds = {f.kind for f in c.findings(binaries=[exe])}
    assert not kinds & {"core-frame-smashed", "core-frame-bad-pc", "core-stack-protector", "core-canary-overwritten",
                        "core-stack-not-scanned"}
    # and where a canary slot was found it is intact (unwind-O0 has none: -fstack-protector is not default for it)
    from dumpx.elf.reading import canary_slots, process_canary
    canary, _ = process_canary(c)
    u = c.unwinder([exe])
    for bt in u.all():
        assert all(s.intact for s in canary_slots(c, u, bt, canary) if s.value is not None)


def test_cli_bt(tmp_path, capsys):
    from dumpx.cli import main
    core_z, exe = fixture_core("stackprot")
    assert main(["core", "bt", str(core_z), "--binary", str(exe)]) == 0
    out = capsys.readouterr().out
    assert "in handle at " in out and "core-stack-protector" in out and "0x4242424242424242 in ??" in out
    import json
    assert main(["core", "bt", str(core_z), "--binary", str(exe), "--all", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["threads"][0]["frames"][0]["trust"] == "context"


# --------------------------------------------------------------------------- the CFI kernel

def _pyelftools_rows(path):
    from elftools.dwarf.callframe import FDE, RegisterRule
    from elftools.elf.elffile import ELFFile
    kind = {RegisterRule.UNDEFINED: cfi.R_UNDEFINED, RegisterRule.SAME_VALUE: cfi.R_SAME,
            RegisterRule.OFFSET: cfi.R_OFFSET, RegisterRule.VAL_OFFSET: cfi.R_VAL_OFFSET,
            RegisterRule.REGISTER: cfi.R_REGISTER, RegisterRule.EXPRESSION: cfi.R_EXPRESSION,
            RegisterRule.VAL_EXPRESSION: cfi.R_VAL_EXPRESSION}
    with open(path, "rb") as fh:
        elf = ELFFile(fh)
        for e in elf.get_dwarf_info().EH_CFI_entries():
            if not isinstance(e, FDE) or e.header["address_range"] == 0:
                continue
            try:
                table = e.get_decoded().table
            except Exception:        # pyelftools cannot decode some opcodes (DW_CFA_GNU_args_size)
                continue
            end = e.header["initial_location"] + e.header["address_range"]
            for i, row in enumerate(table):
                nxt = table[i + 1]["pc"] if i + 1 < len(table) else end
                regs = {r: (kind[rr.type], rr.arg) for r, rr in row.items() if r not in ("pc", "cfa")}
                for pc in {row["pc"], nxt - 1}:
                    yield e.offset, pc, row["cfa"], regs


@pytest.mark.parametrize("path", ["fix:elf/out/unwind-O2cfi", "fix:elf/out/widget", LIBC])
def test_cfi_kernel_equals_pyelftools(path):
    p = fixture_file(path.split(":", 1)[1]) if path.startswith("fix:") else Path(path)
    if not p.exists():
        pytest.skip(f"{p} is absent")
    img = Image(str(p))
    t = next(t for t in img.cfi_tables() if t.eh)
    n = 0
    for off, pc, cfa_row, regs in _pyelftools_rows(p):
        assert t.find(pc) == off
        c, rules, _, _, _ = cfi.rules_at(t.data, t.addr, True, off, pc)
        if cfa_row.expr is not None:
            assert c[0] == cfi.CFA_EXPR
        else:
            assert (c[0], c[1], c[2]) == (cfi.CFA_REG, cfa_row.reg, cfa_row.offset)
        got = {r: (int(rules[r, 0]), int(rules[r, 1])) for r in range(128) if rules[r, 0]}
        want = {r: (k, a if k in (cfi.R_OFFSET, cfi.R_VAL_OFFSET, cfi.R_REGISTER) else got.get(r, (0, 0))[1])
                for r, (k, a) in regs.items()}
        assert got == want, (hex(pc), got, want)
        n += 1
    assert n > 20


def _eh_frame(path):
    img = Image(str(path))
    t = next(t for t in img.cfi_tables() if t.eh)
    return bytes(t.data), t.addr


def test_cfi_kernel_on_every_truncation():
    data, addr = _eh_frame(fixture_file("elf/out/unwind-O2cfi"))
    lo, hi, off = cfi.index(np.frombuffer(data, np.uint8), addr, True)
    for cut in range(len(data)):
        d = np.frombuffer(data[:cut], np.uint8)
        try:
            l2, h2, o2 = cfi.index(d, addr, True)
        except DumpError as e:
            assert e.offset is not None and 0 <= e.offset <= cut
            continue
        for k, o in enumerate(o2):
            try:
                cfi.rules_at(d, addr, True, int(o), int(l2[k]))
            except DumpError as e:
                assert e.offset is not None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_cfi_kernel_bit_flips(data):
    raw, addr = _eh_frame(fixture_file("elf/out/unwind-O2cfi"))
    b = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 8))):
        i = data.draw(st.integers(0, len(b) - 1))
        b[i] ^= 1 << data.draw(st.integers(0, 7))
    arr = np.frombuffer(bytes(b), np.uint8)
    try:
        lo, hi, off = cfi.index(arr, addr, True)
    except DumpError:
        return
    for k in range(min(len(off), 20)):
        for pc in (int(lo[k]), int(hi[k]) - 1):
            try:
                cfi.rules_at(arr, addr, True, int(off[k]), pc)
            except DumpError:
                pass


def test_remember_state_depth_is_bounded():
    # a CIE and an FDE whose program is 200 DW_CFA_remember_state
    cie = bytes([1]) + b"zR\x00" + bytes([1, 0x78, 16, 1, 0x1B])
    cie = (len(cie) + 4).to_bytes(4, "little") + b"\x00\x00\x00\x00" + cie
    prog = b"\x0a" * 200
    body = (0).to_bytes(4, "little", signed=True) + (16).to_bytes(4, "little") + b"\x00" + prog
    fde_start = len(cie)
    fde = (len(body) + 4).to_bytes(4, "little") + (fde_start + 4).to_bytes(4, "little") + body
    data = np.frombuffer(cie + fde, np.uint8)
    lo, hi, off = cfi.index(data, 0x1000, True)
    assert len(off) == 1
    with pytest.raises(DumpError, match="remember_state"):
        cfi.rules_at(data, 0x1000, True, int(off[0]), int(lo[0]) + 1)


# --------------------------------------------------------------------------- variables

def gdb_values(core: Path, exe: Path, past_main: bool = False) -> list[tuple[str, dict[str, str]]]:
    """[(function, {name: value text})] for the crashing thread, from gdb 'bt full'."""
    out = subprocess.run([need_tool("gdb"), "-batch", "-nx", "-ex", f"set backtrace past-main {'on' if past_main else 'off'}",
                          "-ex", "bt full", str(exe), str(core)],
                         capture_output=True, text=True).stdout
    frames: list[tuple[str, dict[str, str]]] = []
    for line in out.splitlines():
        m = re.match(r"#\d+\s+(?:0x[0-9a-f]+ in )?(\S+) \((.*)\)(?: at |$)", line)
        if m:
            vals = {}
            for a in re.split(r", (?=\w+=)", m.group(2)):
                if "=" in a:
                    k, v = a.split("=", 1)
                    vals[k] = v.rsplit("=", 1)[-1] if "@entry=" in v else v
            frames.append((_alias(m.group(1)), vals))
            continue
        m = re.match(r"\s{8}(\w+) = (.*)$", line)
        if m and frames:
            frames[-1][1].setdefault(m.group(1), m.group(2))
    return frames


def _num(text: str) -> int | None:
    m = re.fullmatch(r"(-?\d+|0x[0-9a-f]+)(?: <[^>]*>)?", text.strip())
    return int(m.group(1), 0) if m else None


@pytest.mark.parametrize("name", ["unwind-O2cfi", "unwind-O0", "widget", "optout", "threads"])
def test_variable_values_equal_gdb(name, tmp_path):
    from dumpx.elf.variables import FrameVariables
    core_z, exe = fixture_core(name) if name in FIXTURE_CORES else (
        fixture_file(f"elf/out/{name}.core.zst"), fixture_file(f"elf/out/{name}"))
    c = Core(core_z)
    libc_as_in(c)
    u = c.unwinder([exe])
    bt = u.backtrace(0)
    fv = FrameVariables(u, bt)
    peer = gdb_values(plain(f"fix:elf/out/{name}.core.zst", tmp_path), exe)
    mine = [(_alias((f.function or "??").split("(")[0]), {v.name: v for v in fv.variables(f)})
            for f in bt.frames if not f.signal_frame and not f.note]
    compared = 0
    it = iter(peer)
    for fn, vs in mine:
        g = next((vals for gfn, vals in it if gfn == fn), None)
        if g is None:
            break
        for vname, v in vs.items():
            want = _num(g.get(vname, ""))
            if v.state == "read" and v.value is not None and want is not None and v.size in (1, 2, 4, 8):
                assert v.value == want & ((1 << (8 * v.size)) - 1), (fn, vname, hex(v.value), want)
                compared += 1
    assert compared >= 1, (name, mine, peer)


def test_optimized_out_variable_keeps_its_evidence():
    from dumpx.elf.variables import FrameVariables
    core_z, exe = fixture_file("elf/out/optout.core.zst"), fixture_file("elf/out/optout")
    c = Core(core_z)
    u = c.unwinder([exe])
    bt = u.backtrace(0)
    f = bt.frames[0]
    vs = {v.name: v for v in FrameVariables(u, bt).variables(f)}
    assert f.function == "work" and vs["id"].state == "read" and vs["id"].value == 0x5EED0001   # construction
    h = vs["h"]
    assert h.state == "optimized out" and h.value is None          # never a guessed value
    # the construction: h's last register is rbx, which now holds h & 3
    assert h.evidence["last held in"].startswith("rbx until ")
    assert f"rbx now holds 0x{(0x5EED0001 * 31) & 3:x}" in h.evidence["last held in"]
    assert "-O0" in h.evidence["next step"]


def test_caller_saved_registers_are_not_guessed_in_caller_frames():
    """gdb takes an unsaved caller-saved register as unchanged; a frame above 0 must say it is unknown."""
    core_z, exe = fixture_core("unwind-O2cfi")
    c = Core(core_z)
    u = c.unwinder([exe])
    bt = u.backtrace(0)
    caller = next(f for f in bt.frames if f.function == "level3")
    assert "rdi" not in caller.registers and "rax" not in caller.registers and "rbx" in caller.registers


def test_aarch64_core_equals_eu_stack(tmp_path):
    """A static aarch64 program without its binary: the link register, then the x29 chain."""
    core = plain("fix:elf/out/nullderef-aarch64.core.zst", tmp_path)
    out = subprocess.run([need_tool("eu-stack"), "--core", str(core)], capture_output=True, text=True).stdout
    peer = [int(x, 16) for x in re.findall(r"^#\d+\s+0x([0-9a-f]+)", out, re.M)]
    bt = Core(core).backtraces()[0]
    assert [f.pc for f in bt.frames] == peer and len(peer) >= 4
    assert [f.trust for f in bt.frames[:3]] == [TRUST_CONTEXT, "scan", TRUST_FP]


@pytest.mark.parametrize("name", ["unwind-O2cfi", "widget", "threads", "stackprot", "optout"])
def test_frames_equal_drgn(name, tmp_path):
    """drgn (libdwfl underneath, its own inline handling) as a third unwinder on the same cores."""
    drgn = pytest.importorskip("drgn")
    core_z, exe = (fixture_core(name) if name in FIXTURE_CORES else
                   (fixture_file(f"elf/out/{name}.core.zst"), fixture_file(f"elf/out/{name}")))
    c, bts = ours(core_z, exe)
    libc_as_in(c)
    p = drgn.Program()
    p.set_core_dump(str(plain(f"fix:elf/out/{name}.core.zst", tmp_path)))
    try:
        p.load_debug_info([str(exe)], default=True)
    except drgn.MissingDebugInfoError:
        pass                                   # the vDSO has no debug file; its CFI is in memory
    for t in p.threads():
        peer = []
        for fr in t.stack_trace():
            try:
                peer.append((fr.pc, _alias(fr.name or "??"), fr.is_inline))
            except LookupError:                # drgn stops where the pc is unknown (the smashed word)
                break
        mine = [(f.pc, _alias((f.function or "??").split("(")[0]), f.inlined) for f in bts[t.tid].frames]
        assert len(peer) >= 2 and len(mine) >= len(peer)
        for (pc, fn, inl), (mpc, mfn, minl) in zip(peer, mine):
            assert (pc, inl) == (mpc, minl), (t.tid, mine, peer)
            # drgn names a symbol-less trampoline by its address and C++ functions by their last component
            if not fn.startswith("0x"):
                assert fn == mfn or mfn.rsplit("::", 1)[-1] == fn, (t.tid, fn, mfn)


def test_caller_saved_register_is_a_lead_not_a_value(tmp_path):
    """gdb prints main's key from the crashing frame's rdx as if it were saved; dumpx does not state
    it as the value, but gives it as the lead: the construction says it is key (0x5eed0001)."""
    from dumpx.elf.variables import FrameVariables
    core_z, exe = fixture_file("elf/out/ipara.core.zst"), fixture_file("elf/out/ipara")
    c = Core(core_z)
    u = c.unwinder([exe])
    bt = u.backtrace(0)
    main = next(f for f in bt.frames if f.function == "main")
    key = {v.name: v for v in FrameVariables(u, bt).variables(main)}["key"]
    assert key.state == "unavailable" and key.value is None and "rdx" in key.why
    assert key.evidence["rdx in frame #0"].startswith("0x5eed0001 ")
    gdb = dict(gdb_values(plain("fix:elf/out/ipara.core.zst", tmp_path), exe))
    assert _num(gdb["main"]["key"]) == 0x5EED0001      # gdb's reading, from the same unsaved rdx


@pytest.mark.parametrize("path", ["fix:elf/out/widget", "fix:elf/out/unwind-O2cfi",
                                  "/usr/lib/debug/.build-id/93/ac61ec5a8eb1396f9fbd350e3169a558528a40.debug"])
def test_aranges_reader_equals_pyelftools(path):
    p = fixture_file(path.split(":", 1)[1]) if path.startswith("fix:") else Path(path)
    if not p.exists():
        pytest.skip(f"{p} is absent (libc6-dbg of another build)")
    img = Image(str(p))
    got = img._read_aranges()
    ref = sorted((e.begin_addr, e.begin_addr + e.length, e.info_offset) for e in img.dwarf().get_aranges().entries)
    assert got is not None and sorted(zip(*(a.tolist() for a in got))) == ref and ref


def test_symbol_cache_gives_the_same_frames_and_survives_damage(tmp_path, monkeypatch):
    from dumpx.elf.image import CACHE
    monkeypatch.setenv("DUMPX_CACHE_DIR", str(tmp_path / "cache"))
    core_z, exe = fixture_core("unwind-O2cfi")

    def frames():
        CACHE.clear()
        c = Core(core_z)
        return [(f.pc, f.function, f.function_offset, f.file, f.line, f.column, f.inlined)
                for b in c.backtraces([exe]) for f in b.frames]

    cold = frames()
    files = sorted((tmp_path / "cache" / "symbols").glob("*.json"))
    assert files                                  # written for the verified modules
    assert frames() == cold                       # read back: identical frames
    for p in files:                               # damaged cache files are ignored, not trusted
        p.write_text('{"version": 1, "build_id": "x", "pcs": {"1": ["evil", 0, 0, null, null, null, null]}}')
    assert frames() == cold
    files[0].write_text("not json")
    assert frames() == cold
    monkeypatch.setenv("DUMPX_CACHE_DIR", "off")
    assert frames() == cold


_RAW: dict = {}


def _raw_core(name: str) -> bytes:
    if name not in _RAW:
        from dumpx.sources import Source
        v = Source(fixture_file(f"elf/out/{name}.core.zst")).view()
        _RAW[name] = v.read(0, v.size)
    return _RAW[name]


@settings(max_examples=int(__import__("os").environ.get("DUMPX_FUZZ_EXAMPLES", 60)), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_damaged_cores_unwind_or_raise_dump_errors(data):
    """Bit flips anywhere (stack words, registers, notes) and cuts: backtraces, variables and the
    readings end with a result or a DumpError, never another exception or a hang."""
    import warnings
    from dumpx.elf.variables import FrameVariables
    name = data.draw(st.sampled_from(["unwind-O2cfi", "stackprot", "smash"]))
    raw = bytearray(_raw_core(name))
    c0 = Core(bytes(raw))
    sp = c0.threads[0].sp
    seg = c0.segment_of(sp)
    stack_off = seg.offset + (sp - seg.vaddr)
    for _ in range(data.draw(st.integers(1, 12))):
        where = data.draw(st.sampled_from(["stack", "notes", "anywhere"]))
        if where == "stack":
            i = stack_off + data.draw(st.integers(0, 2048))
        elif where == "notes":
            i = data.draw(st.integers(64, 4096))
        else:
            i = data.draw(st.integers(0, len(raw) - 1))
        if i < len(raw):
            raw[i] ^= 1 << data.draw(st.integers(0, 7))
    cut = data.draw(st.one_of(st.just(len(raw)), st.integers(64, len(raw))))
    exe = fixture_file(f"elf/out/{name}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            c = Core(bytes(raw[:cut]))
            u = c.unwinder([exe])
            for bt in u.all():
                assert len(bt.frames) <= 256 and bt.stop
                fv = FrameVariables(u, bt)
                for f in bt.frames[:4]:
                    fv.variables(f)
            c.findings(binaries=[exe])
        except DumpError:
            pass


@settings(max_examples=int(__import__("os").environ.get("DUMPX_FUZZ_EXAMPLES", 40)), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_damaged_debug_file_with_the_right_build_id(data, tmp_path_factory):
    """A binary whose build-id matches but whose unwind tables, symbols or DWARF are damaged (a
    truncated download, a bad disk): frames and variables degrade, never another exception."""
    import warnings
    from dumpx.elf.image import CACHE
    from dumpx.elf.variables import FrameVariables
    exe = fixture_file("elf/out/unwind-O2cfi")
    raw = bytearray(exe.read_bytes())
    img = Image(str(exe))
    spans = [(s[3], s[4]) for n, s in img.sections.items()
             if n in (".eh_frame", ".eh_frame_hdr", ".symtab", ".strtab", ".debug_info", ".debug_abbrev",
                      ".debug_line", ".debug_str", ".debug_loclists", ".debug_rnglists", ".debug_aranges")]
    for _ in range(data.draw(st.integers(1, 20))):
        off, size = data.draw(st.sampled_from(spans))
        i = off + data.draw(st.integers(0, max(0, size - 1)))
        raw[i] ^= 1 << data.draw(st.integers(0, 7))
    p = tmp_path_factory.mktemp("bad") / "unwind-O2cfi"
    p.write_bytes(bytes(raw))
    CACHE.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            c = Core(fixture_file("elf/out/unwind-O2cfi.core.zst"))
            u = c.unwinder([p])
            bt = u.backtrace(0)
            fv = FrameVariables(u, bt)
            for f in bt.frames:
                fv.variables(f)
        except DumpError:
            pass
    CACHE.clear()


def test_debug_file_found_through_gnu_debuglink_with_its_crc(tmp_path):
    """A stripped binary (same build-id) whose DWARF lives in a separate file named by
    .gnu_debuglink, as distributions ship them; a debug file with another CRC is refused."""
    objcopy = need_tool("objcopy")
    src = fixture_file("elf/out/unwind-O2cfi")
    d = tmp_path / "bin"
    d.mkdir()
    dbg = d / "unwind-O2cfi.debug"
    subprocess.run([objcopy, "--only-keep-debug", str(src), str(dbg)], check=True)
    stripped = d / "unwind-O2cfi"
    subprocess.run([objcopy, "--strip-debug", f"--add-gnu-debuglink={dbg}", str(src), str(stripped)], check=True, cwd=d)
    assert file_build_id(stripped) == file_build_id(src) and not Image(str(stripped)).has_dwarf
    c = Core(fixture_file("elf/out/unwind-O2cfi.core.zst"))
    v = next(v for v in c.verify([stripped]) if v.module.endswith("/unwind-O2cfi"))
    assert (v.image, v.debug) == (str(stripped), str(dbg))
    assert any(t.source == "debuglink" and t.path == str(dbg) for t in v.tried)
    frames = c.backtraces([stripped])[0].frames
    assert next(f for f in frames if f.function == "level3").line == 18      # lines from the debug file
    # the same name with other bytes: the CRC in .gnu_debuglink does not match, so it is not used
    dbg.write_bytes(dbg.read_bytes() + b"\0")
    v = next(v for v in Core(fixture_file("elf/out/unwind-O2cfi.core.zst")).verify([stripped])
             if v.module.endswith("/unwind-O2cfi"))
    assert v.debug is None and any(t.verdict == "debuglink CRC differs" for t in v.tried)


def test_entry_value_is_not_taken_across_a_tail_call(tmp_path):
    """The call site at work's return address is libc's call to main (main tail-called work): its
    rdi is argc. Taking it as work's entry value would print id = 1; dumpx and gdb both refuse."""
    from dumpx.elf.variables import FrameVariables
    core_z, exe = fixture_file("elf/out/tailcall.core.zst"), fixture_file("elf/out/tailcall")
    c = Core(core_z)
    libc_as_in(c)
    u = c.unwinder([exe])
    bt = u.backtrace(0)
    work = bt.frames[0]
    assert work.function == "work" and bt.frames[1].function == "__libc_start_call_main"   # main is gone
    vs = {v.name: v for v in FrameVariables(u, bt).variables(work)}
    assert vs["id"].value is None and vs["id"].state == "optimized out"
    assert "main" in vs["id"].why or "indirect" in vs["id"].why
    assert vs["salt"].value == 7                                         # the construction: argc * 7
    gdb = dict(gdb_values(plain("fix:elf/out/tailcall.core.zst", tmp_path), exe))
    assert gdb["work"]["id"] == "<optimized out>" and _num(gdb["work"]["salt"]) == 7


def test_crafted_cfi_expressions_and_short_images_are_unknowns_not_crashes():
    """An empty CFA expression, one that names a register, and a PT_LOAD that claims more bytes than
    the file has: each ends as 'unknown' (the next unwinding rule is tried), never a TypeError."""
    from dumpx.elf.backtrace import _address
    from dumpx.elf.dwarfexpr import Unknown, evaluate
    regs = {7: 0x7FFF0000}
    reg = regs.__getitem__
    with pytest.raises(Unknown):
        _address(evaluate(b"", reg, lambda a, n: 0), reg, "the CFA")
    assert _address(evaluate(b"\x57", reg, lambda a, n: 0), reg, "the CFA") == 0x7FFF0000   # DW_OP_reg7
    import struct
    hdr = (b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
           + struct.pack("<HHIQQQIHHHHHH", 3, 62, 1, 0, 64, 0, 0, 64, 56, 1, 64, 0, 0)
           + struct.pack("<IIQQQQQQ", 1, 5, 0, 0, 0, 1 << 20, 1 << 20, 4096))
    img = Image(data=hdr + bytes(100), name="short")
    assert img.read_vaddr(150, 7) is not None and img.read_vaddr(5000, 7) is None


@pytest.mark.parametrize("name", ["indirect", "indirect-clang"])
def test_entry_values_through_indirect_calls_that_gdb_cannot_follow(name, tmp_path):
    """work's id and (gcc) stage's id: gdb prints <optimized out>, because the callers' call sites
    are indirect and gdb cannot see their targets. dumpx reads the target from the call instruction
    (``call *handler(%rip)``, ``call *%r12``) in the caller's frame, finds it is the callee's entry,
    and takes the call site's values: the ones the program had by construction (fixtures/README)."""
    from dumpx.elf.variables import FrameVariables
    core_z, exe = fixture_file(f"elf/out/{name}.core.zst"), fixture_file(f"elf/out/{name}")
    u = Core(core_z).unwinder([exe])
    bt = u.backtrace(0)
    fv = FrameVariables(u, bt)
    by = {f.function: {v.name: v for v in fv.variables(f)} for f in bt.frames[:3]}
    assert list(by) == ["work", "stage", "run"]
    work, stage = by["work"], by["stage"]
    assert (work["id"].value, work["id"].state) == (0x5EED0002 ^ 0x77, "read")
    assert (stage["id"].value, stage["id"].state) == (0x5EED0002, "read")
    assert work["salt"].value == 21
    assert "handler" not in work["id"].evidence["entry value from"]          # evidence is addresses, not guesses
    assert "`call *0x" in work["id"].evidence["entry value from"] and "as the dump holds it" in work["id"].evidence["entry value from"]
    gdb = dict(gdb_values(plain(f"fix:elf/out/{name}.core.zst", tmp_path), exe))
    assert gdb["work"]["id"] == "<optimized out>" and _num(gdb["work"]["salt"]) == 21
    if name == "indirect":
        assert gdb["stage"]["id"] == "<optimized out>"
        assert "%r12" in stage["id"].evidence["entry value from"]
    else:
        assert _num(gdb["stage"]["id"]) == 0x5EED0002                       # clang names r14 in DW_AT_call_target


def test_main_argv_through_libcs_indirect_call_to_main(tmp_path):
    """Every -O2 main whose argv is dead: gdb's default 'bt full' prints argv=<optimized out> (it
    stops at main and does not unwind libc's frame, where the target of libc's indirect call to
    main is recorded: DW_AT_call_target on libc's stack). dumpx evaluates that target in libc's
    frame, finds main, and reads argv from the call site; gdb with 'backtrace past-main on' reads
    the same value, and prints it as libc's argv one frame up."""
    from dumpx.elf.variables import FrameVariables
    core_z, exe = fixture_file("elf/out/ipara.core.zst"), fixture_file("elf/out/ipara")
    c = Core(core_z)
    libc_as_in(c)
    u = c.unwinder([exe])
    bt = u.backtrace(0)
    main = next(f for f in bt.frames if f.function == "main")
    argv = next(v for v in FrameVariables(u, bt).variables(main) if v.name == "argv")
    core = plain("fix:elf/out/ipara.core.zst", tmp_path)
    assert dict(gdb_values(core, exe))["main"]["argv"] == "<optimized out>"
    gdb = dict(gdb_values(core, exe, past_main=True))
    assert argv.state == "read" and argv.value == _num(gdb["main"]["argv"]) == _num(gdb["libc_start_call_main"]["argv"])
    assert "DW_AT_call_target" in argv.evidence["entry value from"]


def _decoder(code: bytes, regs: dict[int, int], memory: dict[int, int], code_at: set[int]):
    from dumpx.elf.variables import FrameVariables
    from dumpx.elf.dwarfexpr import Unknown
    fv = object.__new__(FrameVariables)
    fv.u = type("U", (), {"_text": lambda self, a, n: code[-n:], "is_code": lambda self, a: a in code_at,
                          "_name": lambda self, n: f"r{n}"})()
    caller = type("F", (), {"pc": 0x1000, "index": 1})()

    def reg(n):
        if n not in regs:
            raise Unknown("not recovered")
        return regs[n]

    return fv._decoded_call(caller, reg, lambda a, n: memory[a])


def test_call_decoding_refuses_to_guess():
    """The bytes before a return address: a REX byte or the previous instruction's last byte (0x41
    before FF D4 is call *%r12, else call *%rsp); a target that is not code is not the call that
    ran; a decoding that needs an unrecovered register makes the whole read fail."""
    f = 0x5000
    assert [t for t, _ in _decoder(b"\x90\x90\x90\x90\x41\xff\xd4", {12: f, 7: 0x7ffd0000}, {}, {f})] == [f]
    # both readings give code, and different code: two targets, which the caller refuses
    assert sorted(t for t, _ in _decoder(b"\x90\x90\x90\x90\x41\xff\xd4", {12: f, 7: f + 8}, {}, {f, f + 8})) == [f, f + 8]
    # r12 not recovered: nothing, even though the no-REX reading (rsp) could be evaluated
    assert _decoder(b"\x90\x90\x90\x90\x41\xff\xd4", {7: f}, {}, {f}) == []
    # call *0x10(%rip): the pointer at return address + 0x10, as the dump holds it
    assert [t for t, _ in _decoder(b"\x90\xff\x15\x10\x00\x00\x00", {}, {0x1010: f}, {f})] == [f]


def test_a_stripped_copy_read_first_does_not_hide_the_debug_info_of_the_same_build(tmp_path, monkeypatch):
    """A notebook session that first gave the stripped binary and then the unstripped one of the
    same build must get lines the second time (process image cache and on-disk symbol cache)."""
    from dumpx.elf.image import CACHE
    monkeypatch.setenv("DUMPX_CACHE_DIR", str(tmp_path / "cache"))
    core_z, exe = fixture_core("unwind-O2cfi")
    stripped = tmp_path / "unwind-O2cfi"
    subprocess.run([need_tool("objcopy"), "--strip-debug", str(exe), str(stripped)], check=True)
    CACHE.clear()

    def lines(binary):
        return [(f.function, f.file, f.line) for f in Core(core_z).unwinder([binary]).backtrace(0).frames
                if f.module and f.module.endswith("unwind-O2cfi")]

    bare = lines(stripped)
    full = lines(exe)
    assert all(ln is None for _, _, ln in bare) and bare
    assert any(ln for _, _, ln in full) and [f for f, _, _ in full if f]
