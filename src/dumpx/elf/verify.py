"""Build verification before any symbol is trusted: each module of a core against the binaries
and debug files at hand, and a Mach-O binary against its dSYM, by build-id / LC_UUID."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import CorruptDumpError, DumpError
from ..findings import Evidence, Finding, Findings, Severity
from ..table import Table

MATCH, MISMATCH, NOT_FOUND, NO_BUILD_ID, FILE_NO_BUILD_ID = (
    "match", "mismatch", "not found", "no build-id in the core", "no build-id in the file")


def file_build_id(path: str | os.PathLike) -> str | None:
    """The GNU build-id of an ELF file (from its notes), or None; DumpError if it is no ELF."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile
    try:
        with open(path, "rb") as f:
            elf = ELFFile(f)
            for sec in elf.iter_sections():
                if sec["sh_type"] == "SHT_NOTE":
                    for n in sec.iter_notes():
                        if n["n_type"] == "NT_GNU_BUILD_ID":
                            return n["n_desc"]
            for seg in elf.iter_segments():
                if seg["p_type"] == "PT_NOTE":
                    for n in seg.iter_notes():
                        if n["n_type"] == "NT_GNU_BUILD_ID":
                            return n["n_desc"]
    except (ELFError, ValueError, KeyError, IndexError, OSError) as e:
        raise CorruptDumpError(f"{path}: not a readable ELF file ({e})", offset=None,
                               expected="an ELF executable, library or debug file") from None
    except Exception as e:  # pyelftools raises struct/construct errors on damaged files
        raise CorruptDumpError(f"{path}: not a readable ELF file ({type(e).__name__}: {e})",
                               offset=None, expected="an ELF file") from None
    return None


@dataclass
class ModuleVerdict:
    module: str
    start: int
    core_build_id: str | None
    file: str | None
    file_build_id: str | None
    verdict: str


def verify(core, binaries=(), search_paths=()) -> list[ModuleVerdict]:
    """An explicit verdict for every module: match, mismatch, not found, or no build-id."""
    mods = core.modules()
    names = {Path(m.path).name for m in mods if m.path}
    given: dict[str, list[Path]] = {}
    extra: list[Path] = []
    for b in binaries:
        (given.setdefault(Path(b).name, []) if Path(b).name in names else extra).append(Path(b))
    # a file whose name matches no module: its build-id may, or it is the main executable
    main = _main_module(core, mods)
    by_id = {m.build_id: m for m in mods if m.build_id}
    for b in extra:
        try:
            bid = file_build_id(b)
        except DumpError:
            bid = None
        target = by_id.get(bid) if bid else None
        if target is None and main is not None and _is_executable(b):
            target = main
        if target is not None and target.path:
            given.setdefault(Path(target.path).name, []).append(b)
    out = []
    for m in mods:
        name = Path(m.path).name if m.path else "?"
        cands: list[Path] = list(given.get(name, []))
        if m.build_id:
            for sp in search_paths:
                d = Path(sp) / ".build-id" / m.build_id[:2] / f"{m.build_id[2:]}.debug"
                if d.exists():
                    cands.append(d)
                if (Path(sp) / name).exists():
                    cands.append(Path(sp) / name)
        if m.build_id is None:
            out.append(ModuleVerdict(m.path or "?", m.start, None, str(cands[0]) if cands else None,
                                     None, NO_BUILD_ID))
            continue
        if not cands:
            out.append(ModuleVerdict(m.path or "?", m.start, m.build_id, None, None, NOT_FOUND))
            continue
        best = None
        for c in cands:
            try:
                bid = file_build_id(c)
            except DumpError:
                bid = None
            v = ModuleVerdict(m.path or "?", m.start, m.build_id, str(c), bid,
                              MATCH if bid == m.build_id else FILE_NO_BUILD_ID if bid is None else MISMATCH)
            if v.verdict == MATCH:
                best = v
                break
            best = best or v
        out.append(best)
    return out


def _main_module(core, mods):
    """The module holding the program's entry point (AT_ENTRY)."""
    entry = core.auxv.get("AT_ENTRY")
    for m in mods:
        if entry is not None and m.start <= entry < m.start + m.size:
            return m
    return None


def _is_executable(path) -> bool:
    from elftools.elf.elffile import ELFFile
    try:
        with open(path, "rb") as f:
            elf = ELFFile(f)
            return elf["e_type"] == "ET_EXEC" or any(s["p_type"] == "PT_INTERP" for s in elf.iter_segments())
    except Exception:
        return False


def verdict_table(vs: list[ModuleVerdict]) -> Table:
    import numpy as np
    return Table({"module": np.array([v.module for v in vs], dtype=object),
                  "start": np.array([v.start for v in vs], dtype=np.uint64),
                  "verdict": np.array([v.verdict for v in vs], dtype=object),
                  "core_build_id": np.array([v.core_build_id or "-" for v in vs], dtype=object),
                  "file_build_id": np.array([v.file_build_id or "-" for v in vs], dtype=object),
                  "file": np.array([v.file or "-" for v in vs], dtype=object)},
                 title="build verification", hex_columns={"start"})


def verify_findings(vs: list[ModuleVerdict]) -> Findings:
    out = Findings()
    for v in vs:
        if v.verdict == MISMATCH:
            out.append(Finding(
                "core-build-mismatch", Severity.CRITICAL,
                f"{Path(v.module).name}: the file given is a different build than the one that crashed",
                [Evidence("module", v.module), Evidence("loaded at", v.start, hex=True),
                 Evidence("build-id in the core", v.core_build_id), Evidence("file", v.file),
                 Evidence("build-id of the file", v.file_build_id)],
                ["do not symbolize this module with that file: its frames would look plausible and be wrong",
                 f"find the build with id {v.core_build_id} (debuginfod, the artifact store, .build-id/)"]))
        elif v.verdict in (NOT_FOUND, FILE_NO_BUILD_ID):
            out.append(Finding("core-build-unverified", Severity.NOTICE,
                               f"{Path(v.module).name}: {v.verdict}",
                               [Evidence("module", v.module), Evidence("build-id in the core", v.core_build_id or "-"),
                                Evidence("file", v.file or "-")],
                               ["frames in this module cannot be trusted until its build is found"]))
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
