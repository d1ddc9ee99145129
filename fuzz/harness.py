"""dumpx's fuzzing harness: structure-aware mutations of real seeds, run through every entry point
of every format in a child process under a memory and a time limit; every input that ever failed
is kept in ``fuzz/regressions/<format>/`` and replayed by the test suite.

    python fuzz/harness.py --seconds 60                  # all formats, 60 s each
    python fuzz/harness.py --format hprof --seconds 600  # one format, longer
    python fuzz/harness.py --replay                      # every kept input, must all pass
    fuzz/atheris.sh hprof 300                            # coverage-guided, kernels with ASan+UBSan

An outcome is ``ok`` (read), ``dump-error`` (a DumpError: the contract), or a failure: ``bug`` (any
other exception, MemoryError included), ``crash`` (the child died on a signal: native code),
``hang`` (past the time limit). Failures exit 1 and are written to the regression folder with the
traceback beside them.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import multiprocessing as mp
import os
import random
import resource
import struct
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
REGRESSIONS = HERE / "regressions"
sys.path.insert(0, str(ROOT / "tests"))

FORMATS = ("hprof", "core", "goroutines", "pyspy", "dwarf", "minidump")
MEMORY_LIMIT = 4 << 30
TIME_LIMIT = 20.0


# ------------------------------------------------------------------------------------------ seeds

def _plain(path: Path) -> bytes:
    from dumpx.sources import Source
    with Source(path) as s:
        v = s.view()
        return v.read(0, v.size)


def seeds(fmt: str) -> list[bytes]:
    """Small real inputs of ``fmt``: fixtures made here, crafted shapes, and the peer dumps in
    ../shared/real-dumps when that folder is present."""
    fx = ROOT / "fixtures"
    real = ROOT.parent / "shared" / "real-dumps"
    out: list[bytes] = []
    if fmt == "hprof":
        from hprofbuilder import Heap
        h = Heap()
        obj = h.klass("java.lang.Object")
        s = h.klass("java.lang.String", obj, (("value", 2), ("hash", 10)), 12)
        m = h.klass("java.util.HashMap$Node", obj, (("key", 2), ("value", 2), ("next", 2), ("hash", 10)), 28)
        arr = h.prim_array(8, 16, bytes(16))
        h.instance(s, struct.pack(">QI", arr, 7))
        h.instance(m, struct.pack(">QQQI", arr, 0, 0, 1))
        h.prim_array(11, 4, bytes(32))
        out.append(h.bytes())
        out += [_plain(p) for p in sorted(real.glob("hprof/*"))[:6] if p.stat().st_size < (4 << 20)]
    elif fmt == "core":
        from corebuilder import many_modules, build
        out.append(build(many_modules(3)))
        for name in ("nullderef", "smash", "stackprot"):
            p = fx / "elf" / "out" / f"{name}.core.zst"
            if p.exists():
                out.append(_plain(p))
        if (real / "elf" / "crashme.core.zst").exists():
            out.append(_plain(real / "elf" / "crashme.core.zst"))
    elif fmt == "goroutines":
        for name in ("stuck.debug2.txt", "stuck.debug1.txt", "stuck.panic.txt", "stuck.debug0.pb.gz"):
            p = fx / "go" / "out" / name
            if p.exists():
                out.append(_plain(p))
        out += [_plain(p) for p in sorted(real.glob("go/*.txt"))[:8]]
    elif fmt == "dwarf":                            # binaries with debug information (gcc, clang DWARF 5)
        for name in ("indirect-clang", "indirect", "widget", "unwind-O2cfi"):
            p = fx / "elf" / "out" / name
            if p.exists():
                out.append(p.read_bytes())
    elif fmt == "minidump":
        from dumpx.elf import Core
        from minidumpbuilder import build, crash, from_core
        out.append(build(crash(0x4141414141414141, b"A" * 512)))
        for name in ("unwind-O2cfi", "threads"):             # real registers, stacks, maps and auxv
            p = fx / "elf" / "out" / f"{name}.core.zst"
            if p.exists():
                out.append(from_core(Core(p)))
        for name in ("minidump/out/x86-crashpad", "minidump/out/arm-crashpad",   # 32-bit contexts, Crashpad
                     "minidump/out/nullderef-aarch64-breakpad",                  # Breakpad's old arm64 context
                     "windows/out/windows", "windows/out/windows-scan"):         # Windows modules (RSDS)
            p = fx / f"{name}.dmp"
            if p.exists():
                out.append(p.read_bytes())
        if (real / "minidump" / "linux-mini.dmp").exists():
            out.append((real / "minidump" / "linux-mini.dmp").read_bytes())
    elif fmt == "pyspy":
        for name in ("pyspy.json", "pyspy.txt", "pyspy-locals.txt"):
            p = fx / "pyspy" / "out" / "wedged" / name
            if p.exists():
                out.append(p.read_bytes())
    return [s for s in out if s]


# -------------------------------------------------------------------------------------- mutators

def _flip(b: bytearray, rng: random.Random) -> None:
    for _ in range(rng.randint(1, 8)):
        i = rng.randrange(len(b))
        b[i] ^= 1 << rng.randrange(8)


def _interesting(rng: random.Random, width: int) -> int:
    top = (1 << (8 * width)) - 1
    return rng.choice([0, 1, top, top >> 1, (top >> 1) + 1, 0x7F, 0x80, 0xFF, 0x100, 0xFFFF, 0x10000,
                       rng.randrange(top + 1)]) & top


def _poke(b: bytearray, at: int, width: int, rng: random.Random, order: str) -> None:
    if 0 <= at and at + width <= len(b):
        b[at:at + width] = _interesting(rng, width).to_bytes(width, "big" if order == ">" else "little")


def _hprof_records(b: bytes) -> list[tuple[int, int, int]]:
    """(offset, tag, length) of the top-level records, as far as they parse."""
    end = b.find(b"\0")
    if end < 0 or end + 13 > len(b):
        return []
    pos, out = end + 13, []
    while pos + 9 <= len(b) and len(out) < 10_000:
        tag, _, length = struct.unpack_from(">BII", b, pos)
        out.append((pos, tag, length))
        pos += 9 + length
    return out


def mutate_hprof(b: bytearray, rng: random.Random) -> None:
    recs = _hprof_records(bytes(b))
    if not recs:
        return _flip(b, rng)
    pos, tag, length = rng.choice(recs)
    what = rng.randrange(5)
    if what == 0:                                   # a length field: 0, huge, off by one
        _poke(b, pos + 5, 4, rng, ">")
    elif what == 1:                                 # type confusion: another tag
        b[pos] = rng.choice([0x01, 0x02, 0x05, 0x0C, 0x1C, 0x2C, 0x20, 0x21, 0x22, 0x23, 0xFF])
    elif what == 2 and tag in (0x0C, 0x1C) and length > 40:   # a field inside a heap sub-record
        at = pos + 9 + rng.randrange(length - 8)
        _poke(b, at, rng.choice([1, 2, 4, 8]), rng, ">")
    elif what == 3 and tag in (0x0C, 0x1C) and length > 40:   # a reference pointing back: cycles
        at = pos + 9 + rng.randrange(length - 8)
        ids = [struct.unpack_from(">Q", b, o)[0] for o in range(pos + 9, min(pos + 9 + length - 8, len(b) - 8), 8)][:64]
        if ids:
            b[at:at + 8] = struct.pack(">Q", rng.choice(ids))
    else:
        _flip(b, rng)


def mutate_core(b: bytearray, rng: random.Random) -> None:
    if len(b) < 64 or b[:4] != b"\x7fELF":
        return _flip(b, rng)
    phoff, = struct.unpack_from("<Q", b, 32)
    phnum, = struct.unpack_from("<H", b, 56)
    what = rng.randrange(5)
    if what == 0:
        _poke(b, 56, 2, rng, "<")                   # e_phnum (PN_XNUM included)
    elif what in (1, 2) and phnum:                  # a program header field: offset, vaddr, sizes
        k = rng.randrange(min(phnum, 4096))
        _poke(b, phoff + 56 * k + rng.choice([8, 16, 32, 40]), 8, rng, "<")
    elif what == 3 and phnum:                       # a note's namesz/descsz/type
        for k in range(min(phnum, 64)):
            if struct.unpack_from("<I", b, phoff + 56 * k)[0] == 4:
                off, = struct.unpack_from("<Q", b, phoff + 56 * k + 8)
                _poke(b, off + 4 * rng.randrange(3), 4, rng, "<")
                return
    else:
        _flip(b, rng)


DWARF_SECTIONS = (".debug_info", ".debug_abbrev", ".debug_line", ".debug_rnglists", ".debug_ranges",
                  ".debug_aranges", ".debug_addr", ".debug_str_offsets", ".debug_line_str", ".symtab",
                  ".eh_frame")


def _sections(b: bytes) -> dict[str, tuple[int, int, int]]:
    """name -> (section header offset, file offset, size) of an ELF64 file."""
    shoff, = struct.unpack_from("<Q", b, 40)
    shnum, shstrndx = struct.unpack_from("<HH", b, 60)
    hdrs = [struct.unpack_from("<IIQQQQ", b, shoff + 64 * i) for i in range(shnum)]
    so = hdrs[shstrndx][4]
    out = {}
    for i, h in enumerate(hdrs):
        end = b.find(b"\0", so + h[0])
        out[b[so + h[0]:end].decode("latin-1")] = (shoff + 64 * i, h[4], h[5])
    return out


def mutate_dwarf(b: bytearray, rng: random.Random) -> None:
    """Bytes inside one DWARF section (unit lengths, abbreviation codes, forms, opcodes, range list
    entries), or that section's offset or size in its header."""
    secs = {k: v for k, v in _sections(bytes(b)).items() if k in DWARF_SECTIONS}
    if not secs:
        return _flip(b, rng)
    hdr, off, size = secs[rng.choice(sorted(secs))]
    what = rng.randrange(4)
    if what == 0:
        _poke(b, hdr + rng.choice([24, 32]), 8, rng, "<")          # sh_offset or sh_size
    elif size:
        for _ in range(rng.randint(1, 6)):
            at = off + rng.randrange(size)
            if what == 1:
                b[at] = rng.randrange(256)
            elif at + 4 <= len(b):
                _poke(b, at, rng.choice([1, 2, 4]), rng, "<")


def mutate_minidump(b: bytearray, rng: random.Random) -> None:
    """The stream directory (a stream's type, size or offset) or the count that opens a stream."""
    if len(b) < 32 or b[:4] != b"MDMP":
        return _flip(b, rng)
    n, rva = struct.unpack_from("<II", b, 8)
    if not n or rva + 12 * n > len(b):
        return _poke(b, 8, 4, rng, "<")
    k = rva + 12 * rng.randrange(n)
    what = rng.randrange(3)
    if what == 0:
        _poke(b, k + rng.choice([0, 4, 8]), 4, rng, "<")
    elif what == 1:
        at = struct.unpack_from("<I", b, k + 8)[0]
        _poke(b, at, rng.choice([4, 8]), rng, "<")                 # a count at the start of a stream
    else:
        _flip(b, rng)


def mutate_text(b: bytearray, rng: random.Random) -> None:
    lines = bytes(b).split(b"\n")
    if len(lines) < 2:
        return _flip(b, rng)
    i = rng.randrange(len(lines))
    what = rng.randrange(7)
    if what == 0:
        lines.insert(i, lines[rng.randrange(len(lines))])        # duplicate a line (ids, headers)
    elif what == 1:
        del lines[i]
    elif what == 2:                                             # numbers of every size
        import re
        lines[i] = re.sub(rb"\d+", lambda m: str(_interesting(rng, 8) * rng.choice([1, 10 ** 6])).encode(),
                          lines[i], count=1)
    elif what == 3:
        lines[i] = lines[i][: rng.randrange(len(lines[i]) + 1)]  # cut mid-line
        lines = lines[: i + 1]
    elif what == 4:
        lines = [ln + b"\r" for ln in lines]                    # CRLF
    elif what == 5:
        lines[i] = lines[i] * rng.randint(2, 200)               # a very long line
    else:
        b[:] = b"\n".join(lines)
        return _flip(b, rng)
    b[:] = b"\n".join(lines)


def mutate_json(b: bytearray, rng: random.Random) -> None:
    try:
        doc = json.loads(bytes(b))
    except (ValueError, RecursionError):
        return mutate_text(b, rng)
    if not isinstance(doc, list) or not doc:
        return _flip(b, rng)
    t = rng.choice(doc)
    if not isinstance(t, dict):
        return _flip(b, rng)
    target = t
    frames = t.get("frames")
    if isinstance(frames, list) and frames and rng.random() < 0.5 and isinstance(frames[0], dict):
        target = rng.choice(frames) if all(isinstance(f, dict) for f in frames) else target
    key = rng.choice(list(target) or ["pid"])
    target[key] = rng.choice([None, True, -1, 2 ** 70, 3.5, "\x1b[2J", [], {}, "x" * 5000, "@deep@"])
    depth = rng.choice([10, 2_000, 100_000])              # deeper than Python's JSON parser recurses
    b[:] = json.dumps(doc).replace('"@deep@"', "[" * depth + "]" * depth).encode()


MUTATORS = {"hprof": mutate_hprof, "core": mutate_core, "goroutines": mutate_text, "pyspy": mutate_json,
            "dwarf": mutate_dwarf, "minidump": mutate_minidump}


def mutate(fmt: str, data: bytes, rng: random.Random) -> bytes:
    b = bytearray(data)
    for _ in range(rng.choice([1, 1, 1, 2, 4])):
        r = rng.random()
        if r < 0.15 and b:
            del b[rng.randrange(len(b)):]                       # truncation anywhere
        elif r < 0.25:
            _flip(b, rng) if b else None
        elif b:
            try:
                (mutate_json if fmt == "pyspy" and b[:1] == b"[" else MUTATORS[fmt])(b, rng)
            except (struct.error, ValueError, IndexError, OverflowError):   # a mutant's header points nowhere
                _flip(b, rng)
    return bytes(b)


# -------------------------------------------------------------------------------- entry points

def run_entry(fmt: str, data: bytes, cli: bool) -> None:
    """Every reader and analysis that applies to ``data`` (the API; with ``cli``, the commands
    too, output discarded)."""
    import warnings
    import dumpx
    warnings.simplefilter("ignore")
    if fmt == "dwarf":
        return _dwarf_entry(data)
    if cli:
        import contextlib
        import tempfile
        from dumpx.cli import main
        with tempfile.NamedTemporaryFile(suffix=".dump") as f:
            f.write(data)
            f.flush()
            cmds = {"hprof": [["hprof", "histo"], ["hprof", "dominators"], ["hprof", "dominators", "--memory", "1"]], "core": [["core", "info"], ["core", "bt", "--all", "--full"]],
                    "goroutines": [["goroutines", "--all"]], "pyspy": [["pyspy"]],
                    "minidump": [["minidump", "info"], ["minidump", "info", "--json"],
                                 ["minidump", "bt", "--all", "--full"]]}[fmt] + [["info"]]
            with open(os.devnull, "w") as null, contextlib.redirect_stdout(null), contextlib.redirect_stderr(null):
                for c in cmds:
                    main(c + [f.name])
        return
    d = dumpx.open(data)
    kind = type(d).__module__.split(".")[1]          # a mutant may read as another format: follow it
    if kind == "hprof":
        d.histogram()
        d.findings()
        from dumpx.hprof import workspace
        from dumpx.hprof.graph import build_graph, graph_findings
        budget = len(data) % 2 == 1             # every other input in work files, as under --memory
        workspace.SPILL_FROM = 0 if budget else 16 << 20
        g = build_graph(d, memory=1 if budget else None)
        g.top_retained(5)
        list(graph_findings(g))
        if budget:
            g.retained_by_class()
    elif kind == "elf":
        d.modules()
        d.verify([])
        d.findings(backtraces=True)
        from dumpx.elf.variables import FrameVariables
        for bt in d.backtraces()[:4]:
            fv = FrameVariables(d.unwinder(), bt)
            for fr in bt.frames[:8]:
                fv.variables(fr)
    elif kind == "goroutines":
        d.findings()
        d.buckets()
    elif kind == "minidump":
        d.findings()
        d.provenance()
        p = d.process()
        from dumpx.elf.reading import explain_unknown_frames
        builds = ROOT / "fixtures" / "windows" / "out"
        p.verify([builds / "app.pdb", builds / "app.exe"], [builds])
        bts = p.unwinder([builds / "app.exe"], [builds]).all()
        if bts:
            explain_unknown_frames(p, bts[0])
        for t in d.threads[:4]:
            if t.sp is not None:
                try:
                    d.read(t.sp, 64)
                except dumpx.errors.UnmappedAddressError:
                    pass
    else:
        d.findings()
        d.table()


def _dwarf_entry(data: bytes) -> None:
    """What a backtrace reads from a binary, through dumpx's own DWARF reader without the guard
    that turns a reader's exceptions into CorruptDumpError (so that its own bugs show)."""
    from dumpx.elf.image import Image
    img = Image(data=data, name="fuzz")
    img.build_id()
    for t in img.cfi_tables():
        for pc in list(t.lo)[:20]:
            t.find(pc)
    img.symbol(0)
    pcs = list(img._symbols[0][:40]) if img._symbols else []
    if not img.has_dwarf:
        return
    dw = img.dw
    for off in dw.unit_offsets()[:40]:
        u = dw.unit_at(off)
        t = dw.table(u)
        dw.line_table(u)
        for r in range(min(len(t[0]), 200)):
            dw.row_name(u, t, r)
            dw.ranges(u, t, r)
    for pc in pcs:
        for d in (pc, pc + 3):
            img.symbol(d)
            type(img).line.__wrapped__(img, d)
            type(img).scopes.__wrapped__(img, d)


def _child(conn, limit: int) -> None:
    import faulthandler
    faulthandler.disable()              # a native crash is reported by the parent, not traced here
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.environ["DUMPX_CACHE_DIR"] = "off"    # no symbol cache or heap-dump index per mutated input
    from dumpx.errors import DumpError
    while True:
        msg = conn.recv()
        if msg is None:
            return
        fmt, data, cli = msg
        try:
            run_entry(fmt, data, cli)
            conn.send(("ok", ""))
        except DumpError as e:
            conn.send(("dump-error", type(e).__name__))
        except SystemExit as e:
            conn.send(("ok", f"exit {e.code}"))
        except BaseException:                         # noqa: BLE001 - this is what we are looking for
            conn.send(("bug", traceback.format_exc(limit=12)))


class Runner:
    """A child process that reads inputs one at a time; restarted after a crash or a hang."""

    def __init__(self, memory: int = MEMORY_LIMIT, seconds: float = TIME_LIMIT):
        self.memory, self.seconds = memory, seconds
        self.ctx = mp.get_context("fork")
        self.proc = None

    def _start(self):
        self.conn, child = self.ctx.Pipe()
        self.proc = self.ctx.Process(target=_child, args=(child, self.memory), daemon=True)
        self.proc.start()

    def run(self, fmt: str, data: bytes, cli: bool = False) -> tuple[str, str]:
        if self.proc is None or not self.proc.is_alive():
            self._start()
        self.conn.send((fmt, data, cli))
        if self.conn.poll(self.seconds):
            try:
                return self.conn.recv()
            except EOFError:
                pass
        else:
            self.proc.kill()
            self.proc.join()
            self.proc = None
            return "hang", f"no answer in {self.seconds} s"
        self.proc.join()
        code = self.proc.exitcode
        self.proc = None
        return "crash", f"child exit code {code}"

    def close(self):
        if self.proc is not None and self.proc.is_alive():
            self.conn.send(None)
            self.proc.join(5)


FAILURES = ("bug", "crash", "hang")


def keep(fmt: str, data: bytes, outcome: str, detail: str) -> Path:
    d = REGRESSIONS / fmt
    d.mkdir(parents=True, exist_ok=True)
    p = d / (hashlib.sha1(data).hexdigest()[:16] + ".bin")
    p.write_bytes(data)
    p.with_suffix(".txt").write_text(f"{outcome}\n{detail}\n")
    return p


def fuzz(fmt: str, seconds: float, seed: int, runner: Runner, cli_every: int = 20) -> dict:
    rng = random.Random(seed)
    pool = seeds(fmt)
    if not pool:
        return {"format": fmt, "execs": 0, "note": "no seeds"}
    counts: dict[str, int] = {}
    failures = []
    n = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        data = mutate(fmt, rng.choice(pool), rng)
        outcome, detail = runner.run(fmt, data, cli=(n % cli_every == cli_every - 1))
        counts[outcome] = counts.get(outcome, 0) + 1
        if outcome in FAILURES:
            failures.append(str(keep(fmt, data, outcome, detail)))
        n += 1
    wall = time.perf_counter() - t0
    return {"format": fmt, "execs": n, "execs_per_s": round(n / wall, 1), "outcomes": counts, "failures": failures}


def kept() -> list[Path]:
    """Every kept input: ours (``*.bin``, with a ``.txt`` saying what failed) and libFuzzer's
    artifacts (``crash-*``, ``timeout-*``, ``oom-*``)."""
    return sorted(p for p in REGRESSIONS.glob("*/*") if p.suffix != ".txt" and p.is_file())


def replay(runner: Runner) -> list[tuple[str, str, str]]:
    bad = []
    for p in kept():
        fmt = p.parent.name
        for cli in (False, True):
            outcome, detail = runner.run(fmt, p.read_bytes(), cli)
            if outcome in FAILURES:
                bad.append((str(p), outcome, detail))
    return bad


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--format", choices=FORMATS + ("all",), default="all")
    ap.add_argument("--seconds", type=float, default=30.0, help="per format")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--replay", action="store_true")
    ap.add_argument("--memory", default="4G", help="the child's address-space limit")
    a = ap.parse_args()
    from dumpx.sources import parse_size
    runner = Runner(memory=parse_size(a.memory))
    try:
        if a.replay:
            bad = replay(runner)
            print(json.dumps({"replayed": len(kept()), "failing": bad}, indent=2))
            return 1 if bad else 0
        res = [fuzz(f, a.seconds, a.seed, runner) for f in (FORMATS if a.format == "all" else (a.format,))]
    finally:
        runner.close()
    print(json.dumps(res, indent=2))
    return 1 if any(r.get("failures") for r in res) else 0


if __name__ == "__main__":
    sys.exit(main())
