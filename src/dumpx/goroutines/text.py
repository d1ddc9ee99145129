"""Go goroutine text: ``?debug=2``, ``runtime.Stack(buf, true)``, panic and SIGQUIT tracebacks."""

from __future__ import annotations

import numpy as np

from .._native.gotrace import GoScan
from ..errors import CorruptDumpError, TruncatedDumpError
from ..sources import Source, open_source
from ..table import Table
from .model import Frame, GoroutineDump, Stack

RUNTIME_CAP = 64 << 20     # runtime/pprof stops writing debug=2 at 64 MiB


def parse_stack(text: str) -> Stack:
    """Frames of one goroutine block (the lines after its header)."""
    frames: list[Frame] = []
    created = None
    elided = False
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        ln = lines[i]
        if not ln or ln.startswith("\t"):
            i += 1
            continue
        if ln.startswith("..."):
            elided = True
            i += 1
            continue
        if ln.startswith("goroutine running on other thread"):
            i += 1
            continue
        file = line = None
        if i + 1 < len(lines) and lines[i + 1].startswith("\t"):
            loc = lines[i + 1][1:].split(" ", 1)[0]
            f, _, n = loc.rpartition(":")
            if f and n.isdigit():
                file, line = f, int(n)
            i += 1
        if ln.startswith("created by "):
            func = ln[len("created by "):].split(" in goroutine ", 1)[0]
            created = Frame(func, file, line)
        else:
            func, args = ln, None
            if ln.endswith(")"):
                depth, k = 0, len(ln) - 1
                while k >= 0:
                    if ln[k] == ")":
                        depth += 1
                    elif ln[k] == "(":
                        depth -= 1
                        if depth == 0:
                            break
                    k -= 1
                if k > 0:
                    func, args = ln[:k], ln[k + 1:-1]
            frames.append(Frame(func, file, line, args))
        i += 1
    return Stack(tuple(frames), created, elided)


def read_text(origin, fmt: str = "go-goroutines-debug2") -> GoroutineDump:
    """Read a goroutine text dump; the scan is native, frames are parsed once per distinct stack."""
    src = open_source(origin)
    view = src.view()
    buf = view.buffer
    r = GoScan().scan(buf)
    n = len(r["id"])
    problems: list = []
    notes: list[str] = []
    if src.damage is not None:
        problems.append(src.damage)
    if n == 0:
        raise CorruptDumpError("no 'goroutine N [state]:' header in the text", offset=0,
                               expected="a goroutine header line", path=src.name)
    # states
    _, first_s, state_idx = np.unique(r["hash_state"], return_index=True, return_inverse=True)
    states = [bytes(buf[s:s + l]).decode("utf-8", "backslashreplace")
              for s, l in zip(r["state_start"][first_s].tolist(), r["state_len"][first_s].tolist())]
    # distinct exact stacks
    hx, hl = r["hash_exact"], r["hash_loose"]
    ux, first_x, stack_idx = np.unique(hx, return_index=True, return_inverse=True)
    stacks = []
    for i in first_x.tolist():
        a, b = int(r["stack_start"][i]), int(r["stack_end"][i])
        stacks.append(parse_stack(bytes(buf[a:b]).decode("utf-8", "backslashreplace")))
    loose_vals = hl[first_x]
    _, loose_of_stack = np.unique(loose_vals, return_inverse=True)
    # groups = (state, stack)
    key = state_idx.astype(np.int64) * (len(ux) + 1) + stack_idx
    gkeys, group_of, counts = np.unique(key, return_inverse=True, return_counts=True)
    gstate = (gkeys // (len(ux) + 1)).astype(np.int64)
    gstack = (gkeys % (len(ux) + 1)).astype(np.int64)
    wm = r["wait_minutes"]
    big = np.iinfo(np.int64).max
    wmin = np.full(len(gkeys), big, dtype=np.int64)
    np.minimum.at(wmin, group_of, np.where(wm < 0, 0, wm))
    wmax = np.full(len(gkeys), -1, dtype=np.int64)
    np.maximum.at(wmax, group_of, wm)
    wmin = np.where(wmax < 0, -1, wmin)
    locked = np.bincount(group_of, weights=r["locked"], minlength=len(gkeys)).astype(np.int64)
    gor = Table({"id": r["id"], "group": group_of.astype(np.int64), "state": state_idx.astype(np.int64),
                 "stack": stack_idx.astype(np.int64), "wait_minutes": wm, "locked": r["locked"].astype(bool),
                 "creator": r["creator"], "frames": r["frames"], "elided": r["elided"].astype(bool),
                 "offset": r["header"]}, title="goroutines")
    # what came before the first goroutine (panic message, SIGQUIT lines)
    first = int(r["header"][0])
    preamble = bytes(buf[:min(first, 4096)]).decode("utf-8", "backslashreplace").splitlines()
    size = view.size
    if r["ends_mid_line"] or size == RUNTIME_CAP:
        last = int(r["id"][-1])
        why = ("the dump is exactly 64 MiB, the cap runtime/pprof writes debug=2 at"
               if size == RUNTIME_CAP else "the text ends in the middle of a line")
        problems.append(TruncatedDumpError(
            f"{why}: goroutine {last} and any after it are cut or missing; a goroutine absent "
            f"from this dump may have been cut, not gone", offset=size, available=0, path=src.name))
    if r["other_lines"]:
        notes.append(f"{r['other_lines']} lines outside goroutine blocks kept as text "
                     f"(first at offsets {r['other_offsets'][:5].tolist()})")
    return GoroutineDump(fmt.replace("go-", "").replace("goroutines-", ""), src.name, stacks, states,
                         gstate, gstack, counts.astype(np.int64), wmin, wmax, locked,
                         [{} for _ in range(len(gkeys))], False, gor, loose_of_stack.astype(np.int64),
                         [p for p in preamble if p.strip()], problems, notes)
