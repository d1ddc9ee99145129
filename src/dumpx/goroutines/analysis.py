"""What a goroutine dump says: buckets, the stuck set, the absent producer, locked threads,
truncation, and the diff of two dumps. Each claim is a finding with its evidence."""

from __future__ import annotations

import numpy as np

from ..findings import Evidence, Finding, Findings, Severity
from ..table import Table
from .model import GoroutineDump

PARKED = ("chan receive", "chan send", "select", "sync.Mutex.Lock", "sync.RWMutex.Lock",
          "sync.RWMutex.RLock", "sync.WaitGroup.Wait", "sync.Cond.Wait", "semacquire", "IO wait",
          "select (no cases)", "chan receive (nil chan)", "chan send (nil chan)")
STUCK_MIN = 10
WAIT_NOTE = "N minutes is a lower bound, and absent below one minute"


def buckets(d: GoroutineDump, exact: bool = False) -> Table:
    """Goroutines with the same state and stack, largest first.

    By default arguments (and the creator's goroutine id) are ignored; ``exact=True`` tells
    apart stacks that differ in them (text formats only: aggregated formats have no arguments).
    """
    if exact and d.goroutines is not None:
        g = d.goroutines
        ns = int(g["exact"].max(initial=0)) + 1
        key = g["state"] * ns + g["exact"]
        uk, first, inv = np.unique(key, return_index=True, return_inverse=True)
        from .text import wait_range
        count = np.bincount(inv, minlength=len(uk)).astype(np.int64)
        wmin, wmax = wait_range(inv, g["wait_minutes"], len(uk))
        locked = np.bincount(inv, weights=g["locked"], minlength=len(uk)).astype(np.int64)
        state_i, stack = g["state"][first], g["stack"][first]
    else:
        count, locked = d.group_count, d.group_locked
        wmin, wmax = d.group_wait_min, d.group_wait_max
        state_i, stack = d.group_state, d.group_stack
    states = np.array([d.states[i] for i in state_i.tolist()], dtype=object)
    top = np.array([d.stacks[i].top() for i in stack.tolist()], dtype=object)
    created = np.array([(d.stacks[i].created_by.func if d.stacks[i].created_by else "")
                        for i in stack.tolist()], dtype=object)
    t = Table({"state": states, "count": count, "wait_min_minutes": wmin, "wait_max_minutes": wmax,
               "locked_to_thread": locked, "top_function": top, "created_by": created,
               "stack": stack}, title=f"goroutine buckets ({'exact' if exact else 'arguments ignored'})")
    return t.sort_by("count")


def _wait(r) -> str:
    if r["wait_max_minutes"] < 0:
        return "under a minute or not reported"
    if r["wait_min_minutes"] == r["wait_max_minutes"]:
        return f">= {r['wait_max_minutes']} minutes"
    return f"{r['wait_min_minutes']}..{r['wait_max_minutes']} minutes (lower bounds)"


def stuck_set(d: GoroutineDump, minimum: int = STUCK_MIN) -> Table:
    b = buckets(d)
    parked = np.array([s in PARKED for s in b["state"].tolist()], dtype=bool)
    big = b["count"] >= max(minimum, 1)
    return b.where(parked & big)


def _goroutines_running(d: GoroutineDump, func: str) -> int:
    n = 0
    for g in range(len(d.group_count)):
        if func in d.stacks[int(d.group_stack[g])].functions():
            n += int(d.group_count[g])
    return n


def _ids_present(d: GoroutineDump) -> set[int] | None:
    """Goroutine ids in the dump (only known when per-goroutine rows were kept)."""
    return set(d.goroutines["id"].tolist()) if d.goroutines is not None else None


def findings(d: GoroutineDump, expect=(), other: GoroutineDump | None = None) -> Findings:
    out = Findings()
    for p in d.problems:
        out.append(Finding("go-truncated" if "64 MiB" in str(p) or "middle of a line" in str(p)
                           else "go-damaged", Severity.WARNING,
                           "the dump is incomplete: goroutines may be cut, not gone",
                           [Evidence("problem", str(p))],
                           ["take the dump again with ?debug=1 (aggregated, never capped) to count "
                            "every goroutine"]))
    if d.state_inferred:
        out.append(Finding("go-state-inferred", Severity.INFO,
                           f"{d.format} records no goroutine states: inferred from runtime frames",
                           [Evidence("states", sorted(set(d.states)))],
                           ["a debug=2 dump names the real states and wait times"]))
    total = d.total
    for r in stuck_set(d).rows():
        share = r["count"] / max(total, 1)
        out.append(Finding(
            "go-stuck-set", Severity.WARNING if share >= 0.1 else Severity.NOTICE,
            f"{r['count']:,} goroutines parked in {r['state']} at {r['top_function']}",
            [Evidence("state", r["state"]), Evidence("goroutines", r["count"]),
             Evidence("share of all goroutines", round(share, 4)),
             Evidence("top function", r["top_function"]),
             Evidence("created by", r["created_by"] or "?"),
             Evidence("waiting", _wait(r) + f" ({WAIT_NOTE})")],
            ["these are victims: find who should wake them (the sender, the lock holder, "
             "the Done() caller) and whether it is still in the dump"]))
    out.extend(_absent_producers(d, expect))
    n_locked = int(d.group_locked.sum())
    if n_locked:
        tops = sorted({d.stacks[int(d.group_stack[g])].top() for g in np.flatnonzero(d.group_locked).tolist()})
        out.append(Finding(
            "go-locked-thread", Severity.INFO,
            f"{n_locked} goroutines are locked to their OS thread",
            [Evidence("goroutine ids", (d.locked_ids or [])[:20]), Evidence("top functions", tops[:10])],
            ["a locked goroutine that is parked holds its thread: check cgo and "
             "runtime.LockOSThread callers"]))
    if other is not None:
        out.extend(diff_findings(d, other))
    return out


def _absent_producers(d: GoroutineDump, expect) -> Findings:
    out = Findings()
    for f in expect:
        n = _goroutines_running(d, f)
        if n == 0:
            out.append(Finding(
                "go-expected-absent", Severity.CRITICAL,
                f"no goroutine is running {f}",
                [Evidence("expected function", f), Evidence("goroutines with it on the stack", 0),
                 Evidence("goroutines in the dump", d.total)],
                [f"{f} has exited or never started: look for its last log lines and its error "
                 "path; a timeout on the other side would hide this"]))
        else:
            out.append(Finding("go-expected-present", Severity.INFO, f"{n} goroutines run {f}",
                               [Evidence("expected function", f), Evidence("goroutines", n)], []))
    senders = sum(int(c) for s, c in zip(d.group_state.tolist(), d.group_count.tolist())
                  if d.states[s].startswith("chan send"))
    ids = _ids_present(d)
    for r in stuck_set(d).rows():
        if not r["state"].startswith(("chan receive", "select")):
            continue
        st = d.stacks[int(r["stack"])]
        pkg = st.top().rsplit(".", 1)[0] if "." in st.top() else st.top()
        creator_ids = sorted({c for gi in range(len(d.group_count))
                              if d.group_creators and int(d.group_stack[gi]) == int(r["stack"])
                              for c in d.group_creators[gi]})
        gone = [c for c in creator_ids if ids is not None and c not in ids]
        # goroutines of the same package doing something other than waiting
        active = 0
        for g in range(len(d.group_count)):
            s = d.states[int(d.group_state[g])]
            if s in PARKED:
                continue
            fs = d.stacks[int(d.group_stack[g])].functions()
            if any(f.startswith(pkg + ".") for f in fs):
                active += int(d.group_count[g])
        if senders == 0:
            ev = [Evidence("receivers", r["count"]), Evidence("state", r["state"]),
                  Evidence("receiving in", st.top()),
                  Evidence("goroutines in chan send", senders),
                  Evidence(f"non-parked goroutines in package {pkg}", active)]
            if creator_ids:
                ev.append(Evidence("creator goroutine ids", creator_ids[:10]))
                ev.append(Evidence("creators no longer in the dump", gone[:10]))
            out.append(Finding(
                "go-absent-producer", Severity.CRITICAL if active == 0 else Severity.WARNING,
                f"{r['count']:,} goroutines wait to receive in {st.top()} and no goroutine in the dump "
                f"is sending",
                ev,
                [f"find what sends on the channel {st.top()} reads from; it has exited or never "
                 "started (check its error path and recover()); a timeout on the receivers would "
                 "have hidden this", "pass --expect FUNC for the producer to confirm it is absent"]))
    return out


def diff(before: GoroutineDump, after: GoroutineDump) -> Table:
    """Buckets (state + stack, arguments ignored) that appeared, vanished, grew or shrank."""
    tops: dict = {}

    def keyed(d):
        b = buckets(d, exact=False)
        out = {}
        for r in b.rows():
            st = d.stacks[int(r["stack"])]
            k = (r["state"], st.user_functions() or st.functions())
            out[k] = out.get(k, 0) + r["count"]
            tops[k] = st.top()
        return out
    a, b = keyed(before), keyed(after)
    keys = sorted(set(a) | set(b), key=lambda k: -abs(b.get(k, 0) - a.get(k, 0)))
    return Table({"state": np.array([k[0] for k in keys], dtype=object),
                  "top_function": np.array([tops[k] for k in keys], dtype=object),
                  "before": np.array([a.get(k, 0) for k in keys], np.int64),
                  "after": np.array([b.get(k, 0) for k in keys], np.int64),
                  "growth": np.array([b.get(k, 0) - a.get(k, 0) for k in keys], np.int64),
                  "status": np.array(["appeared" if k not in a else "vanished" if k not in b else ""
                                      for k in keys], dtype=object)}, title="goroutine diff")


def diff_findings(before: GoroutineDump, after: GoroutineDump) -> Findings:
    t = diff(before, after)
    out = Findings()
    for r in t.rows():
        if r["status"] == "vanished" and r["before"] >= 1:
            out.append(Finding("go-diff-vanished", Severity.NOTICE,
                               f"{r['before']} goroutines in {r['top_function']} ({r['state']}) are gone",
                               [Evidence("function", r["top_function"]), Evidence("before", r["before"]),
                                Evidence("after", 0)],
                               ["if this was a producer or a worker, the goroutines still waiting "
                                "on it are its victims"]))
        elif r["growth"] > 0 and r["after"] >= STUCK_MIN:
            out.append(Finding("go-diff-grew", Severity.WARNING,
                               f"{r['top_function']} ({r['state']}) grew by {r['growth']:,}",
                               [Evidence("function", r["top_function"]), Evidence("before", r["before"]),
                                Evidence("after", r["after"])],
                               ["a bucket that keeps growing is a goroutine leak"]))
    return out
