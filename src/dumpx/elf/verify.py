"""Build verification before any symbol is trusted: each module of a core against the binaries
and debug files at hand, and a Mach-O binary against its dSYM, by build-id / LC_UUID; a
minidump's Windows modules against PE images and PDBs, by debug id (PDB GUID and age) and code id."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CorruptDumpError, DumpError
from ..findings import Evidence, Finding, Findings, Severity

MATCH, MISMATCH, NOT_FOUND, NO_BUILD_ID, FILE_NO_BUILD_ID = (
    "match", "mismatch", "not found", "no build-id in the core", "no build-id in the file")


def file_build_id(path: str | os.PathLike) -> str | None:
    """The GNU build-id of an ELF file (from its notes), or None; DumpError if it is no ELF."""
    from .image import Image
    img = Image(str(path))
    try:
        return img.build_id()
    finally:
        img.close()


@dataclass
class Candidate:
    """A file tried for a module: where it came from and what its build-id said."""
    path: str
    source: str            # "given", "recorded path", "build-id tree", "debuglink"
    build_id: str | None
    verdict: str
    has_dwarf: bool = False


@dataclass
class ModuleVerdict:
    module: str
    start: int
    core_build_id: str | None
    file: str | None
    file_build_id: str | None
    verdict: str
    image: str | None = None       # a verified file with the module's loadable contents (unwind tables, symbols)
    debug: str | None = None       # a verified file with DWARF (may be the image itself)
    source: str | None = None      # where the verified (or first tried) file came from
    tried: list[Candidate] = field(default_factory=list)
    id_kind: str = "build-id"      # "debug id" for a Windows module (PDB GUID and age)


@dataclass
class GivenFile:
    """What became of a file the user passed with --binary."""
    path: str
    build_id: str | None
    module: str | None
    how: str


DEBUG_ROOT = "/usr/lib/debug"


def _probe(path: Path) -> tuple[str | None, bool, bool]:
    """(build-id, has DWARF, has loadable contents) of an ELF file; DumpError if it is not one."""
    from .image import Image
    img = Image(str(path))
    bid = img.build_id()
    try:
        loadable = any(s[0] not in (0, 8) for n, s in img.sections.items() if n in (".text", ".eh_frame")) \
            or (not img.sections and bool(img.loads))
        return bid, img.has_dwarf, loadable
    finally:
        img.close()


def gnu_debuglink(path) -> tuple[str, int] | None:
    """(file name, CRC32) from a file's .gnu_debuglink section, or None."""
    from .image import Image
    try:
        img = Image(str(path))
    except DumpError:
        return None
    try:
        got = img.section_bytes(".gnu_debuglink")
        if got is None:
            return None
        raw = bytes(got[0])
        name = raw.split(b"\x00", 1)[0]
        pos = (len(name) + 4) & ~3
        if pos + 4 > len(raw):
            return None
        return name.decode("utf-8", "backslashreplace"), int.from_bytes(raw[pos:pos + 4], "little")
    finally:
        img.close()


def _crc32(path: Path) -> int:
    import zlib
    crc = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            crc = zlib.crc32(chunk, crc)
    return crc & 0xFFFFFFFF


def verify(core, binaries=(), search_paths=(), recorded_paths: bool = True,
           debug_root: str | None = DEBUG_ROOT) -> list[ModuleVerdict]:
    """An explicit verdict for every module: match, mismatch, not found, or no build-id.

    Candidates are tried in order: files given by the user, the path recorded in the core
    (NT_FILE), ``.build-id/xx/yyyy[.debug]`` under each search path and ``debug_root``, then the
    ``.gnu_debuglink`` of the verified image (its CRC checked). A file whose build-id differs is
    never used for symbols.
    """
    from ..notebook import Listing
    verdicts, _ = verify_with_given(core, binaries, search_paths, recorded_paths, debug_root)
    return Listing(verdicts, ("verdict", "module", "core_build_id", "file"), "build verification")


def verify_with_given(core, binaries=(), search_paths=(), recorded_paths: bool = True,
                      debug_root: str | None = DEBUG_ROOT) -> tuple[list[ModuleVerdict], list[GivenFile]]:
    """``verify`` plus, for each file the user gave, the module it was matched to or why not."""
    mods = core.modules()
    by_name: dict[str, list] = {}
    for m in mods:
        if m.path:
            by_name.setdefault(Path(m.path).name, []).append(m)
    main = _main_module(core, mods)
    by_id = {m.build_id: m for m in mods if m.build_id}
    given_for: dict[int, list[Path]] = {}
    report: list[GivenFile] = []
    for b in binaries:
        b = Path(b)
        if not b.exists():
            report.append(GivenFile(str(b), None, None, "file does not exist"))
            continue
        if not b.is_file():
            report.append(GivenFile(str(b), None, None, "not a regular file"))
            continue
        try:
            bid = file_build_id(b)
        except DumpError:
            target, how, wid = _windows_target(b, mods)
            if target is None:
                report.append(GivenFile(str(b), wid, None, how))
                continue
            given_for.setdefault(target.start, []).append(b)
            report.append(GivenFile(str(b), wid, target.path or "?", how))
            continue
        if bid and bid in by_id:
            target, how = by_id[bid], "same build-id"
        elif b.name in by_name:
            target, how = by_name[b.name][0], "same file name"
        elif main is not None and _is_executable(b):
            target, how = main, "the executable holding the program's entry point (AT_ENTRY)"
        else:
            report.append(GivenFile(str(b), bid, None,
                                    "matches no module by build-id or name and is not an executable"))
            continue
        given_for.setdefault(target.start, []).append(b)
        report.append(GivenFile(str(b), bid, target.path or "?", how))
    roots = [Path(p) for p in search_paths] + ([Path(debug_root)] if debug_root else [])
    out = []
    for m in mods:
        if m.debug_id or m.code_id:
            out.append(_judge_windows(m, given_for.get(m.start, []), search_paths))
            continue
        if m.path == "[vdso]" and m.build_id and m.headers_captured:
            # the kernel's vDSO image is in the core itself: nothing on disk can be more exact
            out.append(ModuleVerdict(m.path, m.start, m.build_id, "(the core's memory)", m.build_id, MATCH,
                                     source="the core"))
            continue
        cands: list[tuple[Path, str]] = [(p, "given") for p in given_for.get(m.start, [])]
        if recorded_paths and m.path and not m.path.startswith("["):
            cands.append((Path(m.path), "recorded path"))
        if m.build_id:
            for r in roots:
                base = r / ".build-id" / m.build_id[:2] / m.build_id[2:]
                cands += [(Path(f"{base}.debug"), "build-id tree"), (base, "build-id tree")]
        for sp in search_paths:
            if m.path and not m.path.startswith("["):
                cands.append((Path(sp) / Path(m.path).name, "given"))
        out.append(_judge(m, cands, roots))
    tried = {c.path: c for v in out for c in v.tried}
    for g in report:
        c = tried.get(g.path)
        if g.module is not None and c is not None and c.verdict != MATCH:
            g.how += f"; {c.verdict} (its id {c.build_id or '-'}): not used for symbols"
    return out, report


def _judge(m, cands, roots) -> ModuleVerdict:
    tried: list[Candidate] = []
    seen: set[str] = set()
    image = debug = None
    source = None

    def consider(p: Path, src: str) -> None:
        nonlocal image, debug, source
        key = str(p)
        if key in seen or not _is_file(p):
            return
        seen.add(key)
        try:
            bid, dwarf, loadable = _probe(p)
        except DumpError:
            tried.append(Candidate(key, src, None, "not an ELF file"))
            return
        if m.build_id is None:
            tried.append(Candidate(key, src, bid, NO_BUILD_ID, dwarf))
            return
        v = MATCH if bid == m.build_id else FILE_NO_BUILD_ID if bid is None else MISMATCH
        tried.append(Candidate(key, src, bid, v, dwarf))
        if v == MATCH:
            source = source or src
            if loadable and image is None:
                image = key
            if dwarf and debug is None:
                debug = key

    for p, src in cands:
        consider(p, src)
    if image is not None and debug is None:
        link = gnu_debuglink(image)
        if link is not None:
            name, crc = link
            d = Path(image).parent
            for p in [d / name, d / ".debug" / name] + [r / str(d.resolve()).lstrip("/") / name for r in roots]:
                if _is_file(p) and str(p) not in seen:
                    if _crc32(p) != crc:
                        tried.append(Candidate(str(p), "debuglink", None, "debuglink CRC differs"))
                        seen.add(str(p))
                        continue
                    consider(p, "debuglink")
    first = next((c for c in tried if c.verdict == MATCH), tried[0] if tried else None)
    if m.build_id is None:
        verdict = NO_BUILD_ID
    elif not tried:
        verdict = NOT_FOUND
    else:
        verdict = first.verdict if first.verdict in (MATCH, MISMATCH, FILE_NO_BUILD_ID) else NOT_FOUND
    return ModuleVerdict(m.path or "?", m.start, m.build_id, first.path if first else None,
                         first.build_id if first else None, verdict, image, debug,
                         first.source if first else None, tried)


def _windows_identity(p: Path):
    """A PE image's or PDB's identity, None for another kind of file, or the DumpError of a damaged
    (or unreadable) one."""
    from ..minidump.windows import identity
    try:
        return identity(p)
    except DumpError as e:
        return e
    except OSError as e:
        return DumpError(f"{p}: cannot be read: {e.strerror or e}")


def _windows_target(b: Path, mods) -> tuple:
    """(module, how, the file's id) for a PE image or PDB the user gave, or (None, why not, id)."""
    from ..minidump.windows import module_names
    w = _windows_identity(b)
    if w is None:
        return None, "not an ELF file, PE image or PDB", None
    if isinstance(w, DumpError):
        return None, f"a damaged PE image or PDB: {w}", None
    wid = w.debug_id or w.code_id
    for m in mods:
        if m.debug_id and w.debug_id == m.debug_id or w.kind == "pe" and m.code_id and \
                w.code_id.lower() == m.code_id.lower() and not (m.debug_id and w.debug_id):
            return m, "same debug id" if w.debug_id == m.debug_id else "same code id", wid
    for m in mods:
        if (m.debug_id or m.code_id) and b.name.lower() in {n.lower() for n in module_names(m.path, m.debug_file)}:
            return m, "same file name", wid
    return None, "matches no Windows module by debug id, code id or name", wid


def _judge_windows(m, given: list[Path], search_paths) -> ModuleVerdict:
    """A Windows module against the PE images and PDBs given, then those a symbol store under each
    search path files by id (``app.pdb/<debug id>/app.pdb``, ``app.exe/<code id>/app.exe``).

    A PDB matches when its GUID and age are the module's debug id; an image when its code id is
    the module's and, where both name one, its CodeView debug id too. Nothing here reads PDB
    symbols or PE unwind data: a match says which files are this build, not that frames get names;
    a matched image's code bytes let the unwinder check that a scanned return address follows a
    call (``image``)."""
    import ntpath
    cands = [(p, "given") for p in given]
    pdb = ntpath.basename(m.debug_file) if m.debug_file else None
    image = ntpath.basename(m.path) if m.path else None
    for sp in search_paths:
        if pdb and m.debug_id:
            cands.append((Path(sp) / pdb / m.debug_id / pdb, "symbol store"))
        if image and m.code_id:
            cands += [(Path(sp) / image / c / image, "symbol store") for c in dict.fromkeys((m.code_id, m.code_id.upper()))]
    tried: list[Candidate] = []
    seen: set[str] = set()
    image = None
    for p, src in cands:
        if str(p) in seen or not _is_file(p):
            continue
        seen.add(str(p))
        w = _windows_identity(p)
        if w is None or isinstance(w, DumpError):
            tried.append(Candidate(str(p), src, None, "not a PE image or PDB" if w is None else f"damaged: {w}"))
            continue
        if w.kind == "pdb":
            v = MATCH if m.debug_id and w.debug_id == m.debug_id else MISMATCH if m.debug_id else NO_BUILD_ID
        else:
            same_code = bool(m.code_id) and w.code_id.lower() == m.code_id.lower()
            same_debug = not (m.debug_id and w.debug_id) or w.debug_id == m.debug_id
            v = MATCH if same_code and same_debug else MISMATCH
            if v == MATCH and image is None:
                image = str(p)              # its code bytes check the return addresses a scan finds
        tried.append(Candidate(str(p), src, w.debug_id or w.code_id, v))
    first = next((c for c in tried if c.verdict == MATCH), tried[0] if tried else None)
    verdict = NOT_FOUND if first is None or first.verdict not in (MATCH, MISMATCH, NO_BUILD_ID) else first.verdict
    return ModuleVerdict(m.path or "?", m.start, m.debug_id or m.code_id, first.path if first else None,
                         first.build_id if first else None, verdict, image, None,
                         first.source if first else None, tried, "debug id" if m.debug_id else "code id")


def _is_file(p: Path) -> bool:
    """A candidate path names a regular file; a path the system refuses (a crafted build-id longer
    than a file name may be) names none."""
    try:
        return p.is_file()
    except OSError:
        return False


def _main_module(core, mods):
    """The module holding the program's entry point (AT_ENTRY)."""
    entry = core.auxv.get("AT_ENTRY")
    for m in mods:
        if entry is not None and m.start <= entry < m.start + m.size:
            return m
    return None


def _is_executable(path) -> bool:
    from .image import Image
    try:
        img = Image(str(path))
    except DumpError:
        return False
    try:
        return img.e_type == 2 or img.has_interp
    finally:
        img.close()


def verdict_table(vs: list[ModuleVerdict]):
    """The verdicts as a ``dumpx.Table``."""
    import numpy as np

    from ..table import Table
    cols = {"module": np.array([v.module for v in vs], dtype=object),
            "start": np.array([v.start for v in vs], dtype=np.uint64),
            "verdict": np.array([v.verdict for v in vs], dtype=object),
            "core_build_id": np.array([v.core_build_id or "-" for v in vs], dtype=object),
            "file_build_id": np.array([v.file_build_id or "-" for v in vs], dtype=object),
            "file": np.array([v.file or "-" for v in vs], dtype=object)}
    if any(v.id_kind != "build-id" for v in vs):       # Windows modules: debug ids (PDB GUID and age)
        cols["id_kind"] = np.array([v.id_kind for v in vs], dtype=object)
    return Table(cols, title="build verification", hex_columns={"start"})


def verify_findings(vs: list[ModuleVerdict]) -> Findings:
    import ntpath
    out = Findings()
    for v in vs:
        windows = v.id_kind != "build-id"
        name = ntpath.basename(v.module) if windows else Path(v.module).name
        here = f"{v.id_kind} in the dump" if windows else "build-id in the core"
        where = ("a symbol server or store: NAME.pdb/DEBUGID/NAME.pdb, NAME.exe/CODEID/NAME.exe"
                 if windows else "debuginfod, the artifact store, .build-id/")
        if v.verdict == MISMATCH:
            given = v.source == "given"
            # a file the user gave is the build they meant to trust; one found by its recorded path
            # or a store is this machine's copy (the core came from another host or another deploy)
            out.append(Finding(
                "core-build-mismatch", Severity.CRITICAL if given else Severity.WARNING,
                f"{name}: the file " + ("given" if given else f"found by its {v.source or 'path'}")
                + " is a different build than the one that crashed",
                [Evidence("module", v.module), Evidence("loaded at", v.start, hex=True),
                 Evidence(here, v.core_build_id), Evidence("file", v.file), Evidence("found by", v.source or "-"),
                 Evidence(f"{v.id_kind} of the file", v.file_build_id)],
                ["do not symbolize this module with that file: its frames would look plausible and be wrong"
                 + ("" if given else " (dumpx does not)"),
                 f"find the build with id {v.core_build_id} ({where})"]))
        elif v.verdict in (NOT_FOUND, FILE_NO_BUILD_ID):
            out.append(Finding("core-build-unverified", Severity.NOTICE,
                               f"{name}: {v.verdict}",
                               [Evidence("module", v.module), Evidence(here, v.core_build_id or "-"),
                                Evidence("file", v.file or "-")],
                               ["frames in this module cannot be trusted until its build is found"
                                + (f" ({where})" if windows else "")]))
        elif v.verdict == NO_BUILD_ID:
            out.append(Finding("core-build-unverifiable", Severity.NOTICE,
                               f"{Path(v.module).name}: the core holds no build-id for it",
                               [Evidence("module", v.module), Evidence("loaded at", v.start, hex=True)],
                               ["the ELF headers were not captured (coredump_filter) or the binary was "
                                "linked without --build-id: compare by other means (file hash, package version)"]))
    return out


# ------------------------------------------------------------------------------ Mach-O

def macho_uuids(path) -> dict[str, str]:
    """{cpu type: LC_UUID} of every slice of a Mach-O (thin or fat) file, via LIEF."""
    import lief
    lief.logging.disable()
    fat = lief.MachO.parse(str(path))
    if fat is None:
        raise CorruptDumpError(f"{path}: not a Mach-O file LIEF can parse", offset=0,
                               expected="a Mach-O or fat Mach-O file")
    out = {}
    for b in fat:
        arch = str(b.header.cpu_type).split(".")[-1]
        out[arch] = bytes(b.uuid.uuid).hex() if b.has_uuid else None
    return out


def verify_dsym(binary, dsym) -> list[dict]:
    """Per architecture slice: does the dSYM's UUID match the binary's?"""
    a, b = macho_uuids(binary), macho_uuids(dsym)
    rows = []
    for arch in sorted(set(a) | set(b)):
        ua, ub = a.get(arch), b.get(arch)
        v = (NOT_FOUND if ua is None or ub is None else MATCH if ua == ub else MISMATCH)
        rows.append({"arch": arch, "binary_uuid": ua, "dsym_uuid": ub, "verdict": v})
    return rows
