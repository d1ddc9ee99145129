"""What a goroutine dump says: buckets, the stuck set, the absent producer, locked threads,
truncation, and the diff of two dumps. Each claim is a finding with its evidence."""

from __future__ import annotations

import numpy as np

from ..errors import TruncatedDumpError
from ..findings import Evidence, Finding, Findings, Severity
from ..table import Table
from .idle import expect_matcher, idle_reason, is_dump_writer, package
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
    """panicparse's reading: ``[lo~hi minutes]``, where a goroutine reporting no minutes counts as 0."""
    lo, hi = r["wait_min_minutes"], r["wait_max_minutes"]
    if hi < 0:
        return "under a minute or not reported"
    if lo == hi:
        return f">= {hi} minutes"
    return f"[{max(lo, 0)}~{hi} minutes]" + (" (some report none: under a minute)" if lo <= 0 else "")


class _Index:
    """Per group, computed once per dump (every reading below is linear in groups + goroutines):
    functions, package of the top function, idle-by-design reason, dump-writer flag."""

    def __init__(self, d: GoroutineDump):
        self.funcs = [d.stacks[int(s)].functions() for s in d.group_stack.tolist()]
        self.state = [d.states[int(s)] for s in d.group_state.tolist()]
        self.count = d.group_count.tolist()
        self.top = [d.stacks[int(s)].top() for s in d.group_stack.tolist()]
        self.pkg = [package(t) for t in self.top]
        self.idle = [idle_reason(f) for f in self.funcs]
        self.writer = [is_dump_writer(f) for f in self.funcs]
        self.pkgs_on_stack = [{package(f) for f in fs} for fs in self.funcs]
        # stacks idle by design or writing the dump (never stuck, never a counterpart)
        self.quiet_stacks = {int(s) for g, s in enumerate(d.group_stack.tolist()) if self.idle[g] or self.writer[g]}
        # goroutines per package on their stack, excluding idle-by-design and the dump writer
        self.by_pkg: dict[str, list[int]] = {}
        for g, ps in enumerate(self.pkgs_on_stack):
            if self.idle[g] or self.writer[g]:
                continue
            for p in ps:
                self.by_pkg.setdefault(p, []).append(g)


def _index(d: GoroutineDump) -> _Index:
    ix = getattr(d, "_index_cache", None)
    if ix is None:
        ix = _Index(d)
        d._index_cache = ix
    return ix


def stuck_set(d: GoroutineDump, minimum: int = STUCK_MIN) -> Table:
    """Buckets of at least ``minimum`` goroutines parked in a wait, other than the waits that are
    idle by design (dumpx.goroutines.idle) and the goroutine that wrote the dump."""
    b = buckets(d)
    parked = np.array([s in PARKED for s in b["state"].tolist()], dtype=bool)
    big = b["count"] >= max(minimum, 1)
    ix = _index(d)
    quiet = ix.quiet_stacks
    idle = np.array([int(s) in quiet for s in b["stack"].tolist()], dtype=bool)
    return b.where(parked & big & ~idle)


def _ids_present(d: GoroutineDump) -> set[int] | None:
    """Goroutine ids in the dump (only known when per-goroutine rows were kept)."""
    return set(d.goroutines["id"].tolist()) if d.goroutines is not None else None


def findings(d: GoroutineDump, expect=(), other: GoroutineDump | None = None) -> Findings:
    out = Findings()
    for p in d.problems:
        out.append(Finding("go-truncated" if isinstance(p, TruncatedDumpError) else "go-damaged", Severity.WARNING,
                           "the dump is incomplete: goroutines may be cut, not gone",
                           [Evidence("problem", str(p))] + ([Evidence("offset", p.offset)] if p.offset is not None else []),
                           ["take the dump again (the whole file)" if d.format == "debug1" else
                            "take the dump again with ?debug=1 (aggregated, never capped) to count every goroutine"]))
    if d.goroutines is not None and len(d.goroutines):
        ids, counts = np.unique(d.goroutines["id"], return_counts=True)
        dup = ids[counts > 1]
        if len(dup):
            out.append(Finding("go-duplicate-ids", Severity.WARNING,
                               f"{len(dup):,} goroutine ids appear more than once: this is more than one dump",
                               [Evidence("duplicated ids", dup[:20].tolist()),
                                Evidence("goroutines read", len(d.goroutines))],
                               ["split the file where the second dump starts (a second 'goroutine 1 [' "
                                "or a second SIGQUIT header): counts across both are double"]))
    if d.state_inferred:
        out.append(Finding("go-state-inferred", Severity.INFO,
                           f"{d.format} records no goroutine states: inferred from runtime frames",
                           [Evidence("states", sorted(set(d.states)))],
                           ["a debug=2 dump names the real states and wait times"]))
    total = d.total
    ix = _index(d)
    stuck = stuck_set(d)
    for r in stuck.rows():
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
    out.extend(_large_unknown_buckets(d, ix, stuck))
    idle = {}
    for g, why in enumerate(ix.idle):
        if why:
            idle[why] = idle.get(why, 0) + ix.count[g]
    if idle:
        out.append(Finding("go-idle-by-design", Severity.INFO,
                           f"{sum(idle.values()):,} goroutines wait by design (not counted as stuck)",
                           [Evidence(why, n) for why, n in sorted(idle.items(), key=lambda kv: -kv[1])],
                           ["the list is dumpx.goroutines.idle.IDLE_BY_DESIGN; a library loop missing "
                            "from it shows up as a stuck set"]))
    out.extend(_expected(d, ix, expect))
    out.extend(_absent_counterparts(d, ix, stuck))
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


def _large_unknown_buckets(d, ix, stuck) -> Findings:
    """A bucket holding most goroutines whose state the format does not say (debug=1, protobuf):
    the stuck-set reading cannot be made from it, and the finding says why."""
    out = Findings()
    total = max(d.total, 1)
    in_stuck = set(stuck["stack"].tolist()) if len(stuck) else set()
    for g, n in enumerate(ix.count):
        st = ix.state[g]
        if n < STUCK_MIN or n / total < 0.5 or st in PARKED or ix.idle[g] or int(d.group_stack[g]) in in_stuck:
            continue
        if st not in ("unknown", "running", "runnable", "syscall"):
            continue
        ev = [Evidence("goroutines", n), Evidence("share", round(n / total, 4)), Evidence("top function", ix.top[g]),
              Evidence("state", st + (" (inferred: this format does not record states)" if d.state_inferred else ""))]
        parked = _parked_by_pc(d, ix, g)
        if parked:
            ev += parked
        out.append(Finding(
            "go-large-bucket", Severity.WARNING,
            f"{n:,} of {d.total:,} goroutines share one stack at {ix.top[g]} ({'parked in the runtime' if parked else st})",
            ev,
            ["a debug=2 dump says what they wait on (debug=1 hides the runtime's park frames for channel "
             "waits): if they are parked, they are a stuck set"]))
    return out


def _parked_by_pc(d, ix, g) -> list:
    """debug=1 prints no runtime frames, but its ``@`` line keeps their PCs. When the topmost hidden
    PC of bucket ``g`` is the topmost PC of buckets whose state is read as parked (IO wait, sleep,
    a channel wait), it is the runtime's park function: ``g`` is parked too. Evidence, or []."""
    tops = d.group_hidden_top
    if not tops or not tops[g]:
        return []
    pc = tops[g][0]
    also = sorted({ix.state[h] for h in range(len(ix.count))
                   if h != g and tops[h] and tops[h][0] == pc and ix.state[h] in PARKED + ("sleep",)})
    if not also:
        return []
    same = [h for h in range(len(ix.count)) if h != g and tops[h] == tops[g]]
    ev = [Evidence("hidden runtime frames (PCs from the @ line)", [f"0x{x:x}" for x in tops[g]]),
          Evidence(f"0x{pc:x} is also the top PC of buckets read as", also)]
    if same:
        ev.append(Evidence("the same hidden frames in", sorted({ix.top[h] for h in same})[:5]))
    return ev


def _expected(d, ix, expect) -> Findings:
    out = Findings()
    for spec in expect:
        match = expect_matcher(spec)
        n = 0
        matched: dict[str, int] = {}
        for g, fs in enumerate(ix.funcs):
            hit = [f for f in fs if match(f)]
            if hit:
                n += ix.count[g]
                for f in set(hit):
                    matched[f] = matched.get(f, 0) + ix.count[g]
        rule = ("regular expression" if spec.startswith("re:") else
                "exact, package-qualified" if "." in spec and not spec.startswith("(") else
                "unqualified: that name in any package")
        if n == 0:
            out.append(Finding(
                "go-expected-absent", Severity.CRITICAL,
                f"no goroutine is running {spec}",
                [Evidence("expected function", spec), Evidence("goroutines with it on the stack", 0),
                 Evidence("goroutines in the dump", d.total), Evidence("matching rule", rule)],
                [f"{spec} has exited or never started: look for its last log lines and its error "
                 "path; a timeout on the other side would hide this"]))
        else:
            out.append(Finding("go-expected-present", Severity.INFO, f"{n} goroutines run {spec}",
                               [Evidence("expected function", spec), Evidence("goroutines", n),
                                Evidence("matching rule", rule),
                                Evidence("functions matched", sorted(matched, key=lambda f: -matched[f])[:10])], []))
    return out


def _absent_counterparts(d, ix, stuck) -> Findings:
    """For each stuck channel wait, the goroutines that could still end it, looked for in order:
    the waiters' own package, the goroutines that created them, the whole dump; the finding says
    what each rule found. A goroutine parked in the opposite operation is never the counterpart
    (the runtime would have paired them: it waits on another channel), nor is one idle by design
    or the goroutine that wrote the dump."""
    out = Findings()
    ids = _ids_present(d)
    total = max(d.total, 1)
    creators_of: dict[int, set[int]] = {}
    if d.group_creators:
        for g, cs in enumerate(d.group_creators):
            creators_of.setdefault(int(d.group_stack[g]), set()).update(cs)
    ancestors_of: dict[int, set[int]] = {}
    for g, cs in enumerate(d.group_ancestors or []):
        ancestors_of.setdefault(int(d.group_stack[g]), set()).update(cs)
    active = [g for g in range(len(ix.count))
              if ix.state[g] not in PARKED and not ix.idle[g] and not ix.writer[g]]
    active_set = set(active)
    n_active = sum(ix.count[g] for g in active)
    # per package, once: the active goroutines with it on their stack, and the idle ones skipped
    act_pkg: dict[str, list[int]] = {}
    idle_pkg: dict[str, set[str]] = {}
    for g in active:
        for p in ix.pkgs_on_stack[g]:
            act_pkg.setdefault(p, []).append(g)
    for g in range(len(ix.count)):
        if ix.idle[g]:
            for p in ix.pkgs_on_stack[g]:
                if len(idle_pkg.setdefault(p, set())) < 50:
                    idle_pkg[p].add(f"{ix.top[g]} ({ix.idle[g]})")
    summary: dict[str, tuple] = {}
    state_of_id = {}
    if d.goroutines is not None and (any(creators_of.values()) or any(ancestors_of.values())):
        wanted = set().union(*creators_of.values(), *ancestors_of.values())
        gid, grp = d.goroutines["id"].tolist(), d.goroutines["group"].tolist()
        for i, g in zip(gid, grp):
            if i in wanted:
                state_of_id[i] = g
    for r in stuck.rows():
        st = r["state"]
        if st.startswith(("chan receive", "select")):
            wants, need, role = "receive", "send", "producer"
        elif st.startswith("chan send"):
            wants, need, role = "send", "receive", "consumer"
        else:
            continue
        top = r["top_function"]
        pkg = package(top)
        if pkg not in summary:
            same_ = act_pkg.get(pkg, [])
            summary[pkg] = (sum(ix.count[g] for g in same_),
                            sorted({ix.top[g] + f" ({ix.state[g]})" for g in same_})[:5],
                            sorted({ix.top[g] for g in same_})[:3])
        n_same, same_desc, same_tops = summary[pkg]
        creators = sorted(creators_of.get(int(r["stack"]), set()))
        older = sorted(ancestors_of.get(int(r["stack"]), set()) - set(creators))
        alive = [c for c in creators + older if ids is not None and c in ids]
        alive_active = [c for c in alive if state_of_id.get(c) in active_set]
        n_else = n_active - n_same
        ev = [Evidence("waiting goroutines", r["count"]), Evidence("state", st),
              Evidence(f"waiting to {wants} in", top),
              Evidence(f"rule 1: goroutines of package {pkg} that could {need}", n_same)]
        if n_same:
            ev.append(Evidence("rule 1: they run", same_desc))
        if creators:
            ev.append(Evidence("rule 2: creator goroutine ids", creators[:10]))
            ev.append(Evidence(f"rule 2: creators{' and ancestors' if older else ''} still in the dump",
                               alive[:10] if ids is not None else "unknown (no per-goroutine rows)"))
        else:
            ev.append(Evidence("rule 2: creator goroutine ids", "none recorded"))
        if older:
            ev.append(Evidence("rule 2: older ancestors (tracebackancestors)", older[:10]))
        ev.append(Evidence(f"rule 3: goroutines elsewhere that could {need} (other packages)", n_else))
        if idle_pkg.get(pkg):
            ev.append(Evidence(f"not counted: goroutines of package {pkg} idle by design",
                               sorted(idle_pkg[pkg])[:5]))
        candidates = n_same > 0 or bool(alive_active)
        if candidates:
            sev = Severity.NOTICE
            title = (f"{r['count']:,} goroutines wait to {wants} in {top}; the only goroutines of package {pkg} "
                     f"that could {need} are " + ", ".join(same_tops or ["their creators" + (" or ancestors" if older else "")]))
        else:
            sev = Severity.CRITICAL if (r["count"] >= 1000 or r["count"] / total >= 0.5) else Severity.WARNING
            title = (f"{r['count']:,} goroutines wait to {wants} in {top} and no goroutine of package {pkg} "
                     f"is left to {need}: its {role} is gone")
        out.append(Finding(
            f"go-absent-{role}", sev, title, ev,
            [f"find the {role} of the channel {top} uses: it has exited or never started (check its error "
             "path and recover()); a timeout on the waiters would have hidden this",
             f"pass --expect FUNC for the {role} to confirm it is absent"]))
    return out


def diff(before: GoroutineDump, after: GoroutineDump) -> Table:
    """Buckets (state + stack, arguments ignored) that appeared, vanished, grew or shrank."""
    tops: dict = {}

    # a state inferred in one format and read in the other cannot be compared: match by stack only
    by_state = before.state_inferred == after.state_inferred

    def keyed(d):
        b = buckets(d, exact=False)
        out = {}
        for r in b.rows():
            st = d.stacks[int(r["stack"])]
            if is_dump_writer(st.functions()):
                continue                      # the goroutine writing each dump is not the program's
            k = (r["state"] if by_state else "(any state)", st.user_functions() or st.functions())
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
