"""Go goroutine text: ``?debug=2``, ``runtime.Stack(buf, true)``, panic and SIGQUIT tracebacks."""

from __future__ import annotations

import os
import re
import warnings

import numpy as np

from .._native.gotrace import GoScan
from ..errors import CorruptDumpError, TruncatedDumpError, TruncationWarning
from ..sources import open_source
from ..table import LazyColumn, Table
from .model import Frame, GoroutineDump, Stack, StackTable, _split

RUNTIME_CAP = 64 << 20     # runtime/pprof stops writing debug=2 at 64 MiB


def parse_stack(text: str) -> Stack:
    """Frames of one goroutine block (the lines after its header), with their arguments."""
    return _parse(text, None)


def _parse_loose(text: str, cache: dict) -> Stack:
    """``parse_stack`` without arguments, sharing one Frame per (function, file:line) across the
    dump's stacks: distinct stacks mostly repeat the same frames."""
    return _parse(text, cache)


def _parse(text: str, cache: dict | None) -> Stack:
    """One walk over a block's lines: function lines with their tab-indented location lines,
    ``created by``, elision markers. ``cache`` given: arguments dropped and frames shared."""
    frames: list[Frame] = []
    created = None
    elided = False
    lines = text.split("\n")
    n = len(lines)
    i = 0
    while i < n:
        ln = lines[i].rstrip("\r")
        if not ln or ln[0] == "\t":
            i += 1
            continue
        if ln.startswith("..."):
            elided = True
            i += 1
            continue
        if ln.startswith("goroutine running on other thread"):
            i += 1
            continue
        loc = ""
        if i + 1 < n and lines[i + 1][:1] == "\t":
            loc = lines[i + 1][1:].split(" ", 1)[0].rstrip("\r")
            i += 1
        if ln.startswith("created by "):
            func = ln[11:].split(" in goroutine ", 1)[0]
            created = _frame(cache, func, loc, None)
        else:
            args = None
            if ln.endswith(")"):
                k = _args_start(ln)
                if k > 0:
                    ln, args = ln[:k], ln[k + 1:-1]
            frames.append(_frame(cache, ln, loc, args))
        i += 1
    return Stack(tuple(frames), created, elided)


def _args_start(ln: str) -> int:
    depth, k = 0, len(ln) - 1
    while k >= 0:
        c = ln[k]
        if c == ")":
            depth += 1
        elif c == "(":
            depth -= 1
            if depth == 0:
                return k
        k -= 1
    return -1


def _frame(cache: dict | None, func: str, loc: str, args: str | None) -> Frame:
    if cache is None:
        file, _, num = loc.rpartition(":")
        ok = file and num.isascii() and num.isdigit() and len(num) <= 18     # as gostacks.location reads it
        return Frame(func, file, int(num), args) if ok else Frame(func, None, None, args)
    key = (func, loc)
    f = cache.get(key)
    if f is None:
        f = cache[key] = _frame(None, func, loc, None)
    return f


def _dense(keys: np.ndarray):
    """``fetch`` for a LazyColumn of exact-stack ids: a hash's rank among the dump's distinct hashes,
    sorted only if the column is looked at (``buckets(exact=True)``)."""
    cache: list = []

    def fetch(k):
        if not cache:
            cache.append(np.unique(keys))
        return np.searchsorted(cache[0], k).astype(np.int64)
    return fetch


def wait_range(group_of: np.ndarray, minutes: np.ndarray, n: int):
    """Per group: the lower bounds of the shortest and longest wait, as panicparse shows them
    (``[0~30 minutes]``): a goroutine that reports no minutes waited under one, so it counts as
    0 for the minimum; the maximum is -1 where no goroutine reported minutes."""
    wmax = np.full(n, -1, dtype=np.int64)
    np.maximum.at(wmax, group_of, minutes)
    wmin = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(wmin, group_of, np.where(minutes < 0, 0, minutes))
    wmin = np.where(wmin == np.iinfo(np.int64).max, -1, wmin)
    return wmin, wmax


def read_text(origin, fmt: str = "go-goroutines-debug2", *, rows: bool | None = None) -> GoroutineDump:
    """Read goroutine text in one streaming pass.

    The native scanner groups goroutines by state and stack (arguments ignored) as it goes and
    parses each distinct stack once into interned ids, so memory follows the distinct stacks. Per-goroutine rows
    (ids, creators, exact stacks) are kept with ``rows=True``; by default only for dumps up to
    the runtime's 64 MiB cap.
    """
    src = open_source(origin)
    if rows is None:
        rows = (src.size if src.size is not None else src.compressed_size * 8) <= RUNTIME_CAP
    sc = GoScan(rows, int.from_bytes(os.urandom(8), "little"))
    problems: list = []
    size = 0
    carry = b""
    whole = src.mapped()
    if whole is not None:                      # a plain file: scanned where it is mapped, never copied
        size = len(whole)
    else:
        try:
            for chunk in src.chunks():
                data = carry + bytes(chunk) if carry else chunk
                used = sc.feed(data, False)
                carry = bytes(data[used:])
                size += len(chunk)
        except (TruncatedDumpError, CorruptDumpError) as e:
            problems.append(e)
    sc.feed(whole if whole is not None else carry, True)
    r = sc.results()
    if r["goroutines"] == 0:
        raise CorruptDumpError("no 'goroutine N [state]:' header in the text", offset=0,
                               expected="a goroutine header line", path=src.name)
    g = r["groups"]
    table = StackTable.from_native(r["stacks"])
    names = _split(r["stacks"]["states"], r["stacks"]["counts"][3])
    states = sorted(names)
    state_rank = np.array([states.index(x) for x in names] or [0], np.int64)
    g["state"] = state_rank[g["state"]] if len(g["state"]) else g["state"]
    # the scanner's groups are distinct (state, stack) pairs: texts that parse alike share one
    count, locked = g["count"], g["locked"]
    wmin, wmax = g["wait_min"], g["wait_max"]
    cr = r["creators"]
    pairs = np.stack([cr[:, 0].astype(np.uint64), cr[:, 1].view(np.uint64)], axis=1) if len(cr) \
        else np.zeros((0, 2), np.uint64)
    gstate, gstack = g["state"], g["stack"]
    gor = None
    if r["rows"] is not None:
        rw = r["rows"]
        grp = rw["group"]
        has = rw["has_creator"].astype(bool)
        gor = Table({"id": rw["id"].view(np.uint64), "group": grp, "state": gstate[grp], "stack": gstack[grp],
                     "exact": LazyColumn(rw["hash_exact"], _dense(rw["hash_exact"])),
                     "wait_minutes": rw["wait_minutes"], "locked": rw["locked"].astype(bool),
                     "creator": np.where(has, rw["creator"].view(np.uint64), np.uint64(0)), "has_creator": has,
                     "frames": rw["frames"], "elided": rw["elided"].astype(bool),
                     "offset": rw["header"], "stack_start": rw["stack_start"],
                     "stack_end": rw["stack_end"]}, title="goroutines")
    # what came before the first goroutine (panic message, SIGQUIT lines)
    first = int(g["first_offset"].min())
    head = src.head(min(first, 4096)) if first else b""
    preamble = head.decode("utf-8", "backslashreplace").splitlines()
    notes: list[str] = []
    if src.damage is not None and src.damage not in problems:
        problems.append(src.damage)
    cut_line = False
    if r["ends_mid_line"]:
        # no final newline: truncated, unless the last line is a whole "\tfile.go:N +0x.." line
        # (runtime.Stack output written without a trailing newline ends like that)
        tail = src.view().read(max(0, size - 512), min(size, 512)).rsplit(b"\n", 1)[-1]
        if re.match(rb"^\t.+:\d+( \+0x[0-9a-f]+)?( fp=0x[0-9a-f]+ sp=0x[0-9a-f]+ pc=0x[0-9a-f]+)?\r?$", tail):
            notes.append("the text has no final newline; its last line is a whole frame line")
        else:
            cut_line = True
    if cut_line or size == RUNTIME_CAP:
        why = ("the dump is exactly 64 MiB, the cap runtime/pprof writes debug=2 at"
               if size == RUNTIME_CAP else "the text ends in the middle of a line")
        cut = TruncatedDumpError(
            f"{why}: the last goroutine and any after it are cut or missing; a goroutine absent "
            f"from this dump may have been cut, not gone", offset=size, available=0, path=src.name)
        problems.append(cut)
        warnings.warn(TruncationWarning(str(cut)), stacklevel=3)
    ancestors = group_anc = None
    if len(r["ancestors"]) and gor is not None:
        ordinal, anc = r["ancestors"][:, 0], r["ancestors"][:, 1].view(np.uint64)
        depth = np.ones(len(ordinal), np.int64)
        for k in range(1, len(ordinal)):
            if ordinal[k] == ordinal[k - 1]:
                depth[k] = depth[k - 1] + 1
        ancestors = Table({"goroutine": gor["id"][ordinal], "ancestor": anc, "depth": depth},
                          title="ancestors (GODEBUG=tracebackancestors)")
        group_anc = [[] for _ in range(len(gstate))]
        grp_of = gor["group"][ordinal].tolist()
        for g_, a in zip(grp_of, anc.tolist()):
            if a not in group_anc[g_] and len(group_anc[g_]) < 16:
                group_anc[g_].append(a)
    elif len(r["ancestors"]):
        notes.append(f"{len(r['ancestors'])} ancestor records (tracebackancestors) not tied to goroutines: "
                     f"per-goroutine rows were not kept")
    if gor is not None:
        problems += _malformed_problems(src, gor, table, gstack)
    view = src.view()
    line_no, counted_to = 1, 0
    for off in sorted(r["other_offsets"].tolist()):
        ln = view.read(off, min(256, view.size - off)).split(b"\n", 1)[0]
        m = re.match(rb"goroutine (\d+)[ \[]", ln)
        if m:
            line_no += view.count_lines(counted_to, off)          # counted once, forward
            counted_to = off
            fits = len(m.group(1)) <= 20 and int(m.group(1)) < 2**64
            problems.append(CorruptDumpError(
                f"line {line_no}: a goroutine header that cannot be read "
                f"({'its id ' + m.group(1)[:24].decode() + ' is past 2^64-1' if not fits else 'malformed'}); "
                f"that goroutine is not counted", offset=off, expected="goroutine N [state]: with N a uint64"))
    if r["other_lines"]:
        notes.append(f"{r['other_lines']} lines outside goroutine blocks kept as text "
                     f"(first at offsets {r['other_offsets'][:5].tolist()})")
    return GoroutineDump(fmt.replace("go-", "").replace("goroutines-", ""), src.name, table, states,
                         gstate, gstack, count, wmin, wmax, locked,
                         goroutines=gor,
                         preamble=[p for p in preamble if p.strip()], problems=problems, notes=notes,
                         creator_pairs=pairs, ancestors=ancestors, group_ancestors=group_anc,
                         locked_ids=r["locked_ids"].view(np.uint64).tolist())


MAX_MALFORMED_LISTED = 20


def _shown(b: bytes) -> str:
    return repr(b[:80].decode("utf-8", "backslashreplace"))


def _block_problems(lines: list[bytes]) -> list[tuple[int, str]]:
    """(line index, what) for what is wrong in one goroutine's lines after its header: a function
    call line that is not one, a frame or ``created by`` without its file:line, no frames at all.
    The rules are Go's traceback format (runtime/traceback.go): a call line, then a tab-indented
    file:line line."""
    out: list[tuple[int, str]] = []
    frames, i = 0, 0
    while i < len(lines):
        ln = lines[i].rstrip(b"\r")
        if not ln.strip() or ln.startswith(b"...") or ln.startswith(b"[originating from goroutine"):
            i += 1
            continue
        if ln.startswith(b"\t"):
            out.append((i, f"a file:line with no function call before it: {_shown(ln.strip())}"))
            i += 1
            continue
        call = ln.startswith(b"created by ")
        if not call and not (ln.endswith(b")") and b"(" in ln):
            out.append((i, f"not a function call: {_shown(ln)}"))
            i += 1
            continue
        frames += 0 if call else 1
        if i + 1 < len(lines) and lines[i + 1].startswith(b"\t"):
            i += 2
        else:
            out.append((i + 1, f"{_shown(ln)} has no file:line after it"))
            i += 1
    if frames == 0 and not out:
        out.append((0, "no frames"))
    return out


def _malformed_problems(src, gor, table, gstack) -> list:
    """Goroutines whose stack is not well formed, as problems with their line numbers (each is
    still counted). Only stacks that parsed short (no frames, a frame or creator without a file)
    are re-read, so a clean dump costs array operations over its distinct stacks."""
    n = len(table)
    nframes = np.diff(table.indptr)
    no_file = np.bincount(table.frame_stack()[table.file < 0], minlength=n) > 0 if n else np.zeros(0, bool)
    bad_stack = ((nframes == 0) & ~table.elided) | no_file | ((table.created_func >= 0) & (table.created_file < 0))
    if not bad_stack.any():
        return []
    rows = np.flatnonzero(bad_stack[gstack[gor["group"]]] if len(gor) else np.zeros(0, bool))
    if not len(rows):
        return []
    view = src.view()
    out, listed = [], 0
    offsets = gor["offset"][rows]
    ends = gor["stack_end"][rows]
    ids = gor["id"][rows]
    order = np.argsort(offsets, kind="stable")
    line, pos = 1, 0
    for k in order[:MAX_MALFORMED_LISTED].tolist():
        off, end = int(offsets[k]), int(ends[k])
        line += view.count_lines(pos, off)
        pos = off
        block = view.read(off, max(0, min(end, view.size) - off) + min(4096, view.size - min(end, view.size)))
        lines = block.split(b"\n")
        body = lines[1:max(1, block[:end - off].count(b"\n") + 1)]
        if not any(x.strip() for x in body):                   # the scan ended the block early
            body = lines[1:]
            cut = next((j for j, x in enumerate(body) if x.startswith(b"goroutine ")), len(body))
            body = body[:cut]
        for rel, what in _block_problems(body)[:1]:
            out.append(CorruptDumpError(f"goroutine {int(ids[k])} (header on line {line}): line {line + 1 + rel}: "
                                        f"{what}; the goroutine is still counted",
                                        offset=off, expected="a call line followed by a tab-indented file:line"))
            listed += 1
    if len(rows) > listed:
        out.append(CorruptDumpError(f"{len(rows) - listed:,} more malformed goroutines not listed", offset=None))
    return out
