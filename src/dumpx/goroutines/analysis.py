"""What a goroutine dump says: buckets, the stuck set, the absent producer, locked threads,
truncation, and the diff of two dumps. Each claim is a finding with its evidence."""

from __future__ import annotations

import numpy as np

from ..arrays import unique, unique_counts, unique_inverse
from ..errors import TruncatedDumpError
from ..findings import Evidence, Finding, Findings, Severity
from ..table import LazyColumn, Table
from .idle import DUMP_WRITERS, IDLE_BY_DESIGN, SLEEP, expect_matcher, idle_reason, is_dump_writer
from .model import GoroutineDump, package, plumbing_package, runtime_package

PARKED = ("chan receive", "chan send", "select", "sync.Mutex.Lock", "sync.RWMutex.Lock",
          "sync.RWMutex.RLock", "sync.WaitGroup.Wait", "sync.Cond.Wait", "semacquire", "IO wait",
          "select (no cases)", "chan receive (nil chan)", "chan send (nil chan)")
STUCK_MIN = 10
WAIT_NOTE = "N minutes is a lower bound, and absent below one minute"


def buckets(d: GoroutineDump, exact: bool = False) -> Table:
    """Goroutines with the same state and stack, largest first.

    By default arguments (and the creator's goroutine id) are ignored; ``exact=True`` tells
    apart stacks that differ in them (text formats only: aggregated formats have no arguments).
    The function columns are decoded for the rows looked at only.
    """
    if exact and d.goroutines is not None:
        g = d.goroutines
        ns = int(g["exact"].max(initial=0)) + 1
        key = g["state"] * ns + g["exact"]
        uk, first, inv = unique_inverse(key)
        from .text import wait_range
        count = np.bincount(inv, minlength=len(uk)).astype(np.int64)
        wmin, wmax = wait_range(inv, g["wait_minutes"], len(uk))
        locked = np.bincount(inv, weights=g["locked"], minlength=len(uk)).astype(np.int64)
        state_i, stack = g["state"][first], g["stack"][first]
    else:
        count, locked = d.group_count, d.group_locked
        wmin, wmax = d.group_wait_min, d.group_wait_max
        state_i, stack = d.group_state, d.group_stack
    ix = _index(d)
    states = np.array(d.states + [""], dtype=object)[state_i]
    t = Table({"state": states, "count": count, "wait_min_minutes": wmin, "wait_max_minutes": wmax,
               "locked_to_thread": locked, "top_function": LazyColumn(ix.stack_top[stack], ix.names),
               "created_by": LazyColumn(d.stacks.created_func[stack], ix.names),
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


def _first_in_segment(hit: np.ndarray, indptr: np.ndarray) -> np.ndarray:
    """Per CSR segment, the index of its first row where ``hit`` is true, or -1."""
    idx = np.flatnonzero(hit)
    starts, ends = indptr[:-1], indptr[1:]
    pos = np.searchsorted(idx, starts)
    out = np.full(len(starts), -1, np.int64)
    ok = pos < len(idx)
    ok[ok] = idx[pos[ok]] < ends[ok]
    out[ok] = idx[pos[ok]]
    return out


class _Index:
    """What the readings need per function, per stack and per group, made once per dump with array
    operations over the distinct stacks (linear in frames + groups, whatever their number).

    Per-function facts come from the function's package (``model.plumbing_package``) and, for the
    few packages the idle-by-design and dump-writer lists name, from the name itself."""

    def __init__(self, d: GoroutineDump):
        T = d.stacks
        S, P = len(T), len(T.package_names)
        nf = len(T.func_package)
        pk = T.package_names
        plumb = np.array([plumbing_package(p) for p in pk] or [False], bool)[T.func_package] if nf else np.zeros(0, bool)
        self.reasons: list[str] = []
        f_idle = np.full(nf, -1, np.int64)
        f_sleep = np.zeros(nf, bool)
        f_writer = np.zeros(nf, bool)
        listed = {i for i, p in enumerate(pk) if p in IDLE_PACKAGES}
        if listed:
            code: dict[str, int] = {}
            for f in np.flatnonzero(np.isin(T.func_package, list(listed))).tolist():
                name = T.name(f)
                f_sleep[f] = name == SLEEP
                f_writer[f] = is_dump_writer((name,))
                why = idle_reason((name,)) if name != SLEEP else None
                if why:
                    f_idle[f] = code.setdefault(why, len(code))
            self.reasons = list(code)
        self.sleep_code = len(self.reasons)
        self.reasons.append(idle_reason((SLEEP,)))
        fs = T.frame_stack()
        top = _first_in_segment(~plumb[T.func] if len(T.func) else np.zeros(0, bool), T.indptr)
        has = np.diff(T.indptr) > 0
        top = np.where(top >= 0, top, np.where(has, T.indptr[:-1], -1))
        self.stack_top = np.where(top >= 0, T.func[np.maximum(top, 0)] if len(T.func) else -1, -1)
        first_idle = _first_in_segment(f_idle[T.func] >= 0, T.indptr)
        sleeping = np.bincount(fs[f_sleep[T.func]], minlength=S) > 0 if S else np.zeros(0, bool)
        self.stack_idle = np.where(sleeping, self.sleep_code,
                                   np.where(first_idle >= 0, f_idle[T.func[np.maximum(first_idle, 0)]]
                                            if len(T.func) else -1, -1))
        self.stack_writer = np.bincount(fs[f_writer[T.func]], minlength=S) > 0 if S else np.zeros(0, bool)
        # (stack, package) pairs: the packages on each stack
        sp = unique(fs * max(P, 1) + T.func_package[T.func]) if len(T.func) else np.zeros(0, np.int64)
        self.sp_stack, self.sp_pkg = sp // max(P, 1), sp % max(P, 1)
        order = np.argsort(self.sp_pkg, kind="stable")
        self.pkg_stacks = self.sp_stack[order]
        self.pkg_ptr = np.searchsorted(self.sp_pkg[order], np.arange(P + 1))
        # per group
        self.T = T
        self.gstack = d.group_stack
        self.count = d.group_count
        self.state_id = d.group_state
        self.state = np.array(list(d.states) + [""], dtype=object)[d.group_state]
        self.parked = np.array([s in PARKED for s in d.states] + [False], bool)[d.group_state]
        self.top = self.stack_top[self.gstack]
        self.idle = self.stack_idle[self.gstack]
        self.writer = self.stack_writer[self.gstack]
        self.quiet = (self.idle >= 0) | self.writer
        self.active = ~self.parked & ~self.quiet
        order = np.argsort(self.gstack, kind="stable")
        self.stack_groups = order
        self.stack_gptr = np.searchsorted(self.gstack[order], np.arange(S + 1))

    def names(self, ids) -> np.ndarray:
        return self.T.names(ids)

    def top_name(self, g: int) -> str:
        f = int(self.top[g])
        return self.T.name(f) if f >= 0 else "?"

    def groups_with_package(self, pkg_id: int) -> np.ndarray:
        """Groups whose stack has a function of package ``pkg_id``."""
        stacks = self.pkg_stacks[self.pkg_ptr[pkg_id]:self.pkg_ptr[pkg_id + 1]]
        if not len(stacks):
            return np.zeros(0, np.int64)
        starts, ends = self.stack_gptr[stacks], self.stack_gptr[stacks + 1]
        lens = ends - starts
        at = np.repeat(starts - np.concatenate(([0], np.cumsum(lens)[:-1])), lens) + np.arange(int(lens.sum()))
        return self.stack_groups[at]

    def functions(self, g: int) -> tuple[str, ...]:
        return self.T[int(self.gstack[g])].functions()


IDLE_PACKAGES = ({package(k) for k in IDLE_BY_DESIGN} | {package(w) for w in DUMP_WRITERS}
                 | {package(SLEEP), "runtime/pprof"})


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
    parked = np.frompyfunc(set(PARKED).__contains__, 1, 1)(b["state"]).astype(bool)
    big = b["count"] >= max(minimum, 1)
    ix = _index(d)
    quiet = (ix.stack_idle >= 0) | ix.stack_writer
    return b.where(parked & big & ~quiet[b["stack"]])


def findings(d: GoroutineDump, expect=(), other: GoroutineDump | None = None) -> Findings:
    out = Findings()
    for p in d.problems:
        out.append(Finding("go-truncated" if isinstance(p, TruncatedDumpError) else "go-damaged", Severity.WARNING,
                           "the dump is incomplete: goroutines may be cut, not gone",
                           [Evidence("problem", str(p))] + ([Evidence("offset", p.offset)] if p.offset is not None else []),
                           ["take the dump again (the whole file)" if d.format == "debug1" else
                            "take the dump again with ?debug=1 (aggregated, never capped) to count every goroutine"]))
    if d.goroutines is not None and len(d.goroutines):
        ids, counts = unique_counts(d.goroutines["id"])
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
    for r in stuck.head(STUCK_LISTED).rows():
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
    if len(stuck) > STUCK_LISTED:
        rest = stuck[STUCK_LISTED:]
        pk = np.array(ix.T.package_names + ["?"], dtype=object)[ix.T.func_package[ix.stack_top[rest["stack"]]]]
        by_pkg: dict[str, int] = {}
        for p_, n_ in zip(pk.tolist(), rest["count"].tolist()):
            by_pkg[p_] = by_pkg.get(p_, 0) + n_
        out.append(Finding(
            "go-stuck-sets-unlisted", Severity.NOTICE,
            f"{len(rest):,} smaller stuck sets ({int(rest['count'].sum()):,} goroutines) not listed one by one",
            [Evidence("stuck sets listed", STUCK_LISTED), Evidence("stuck sets not listed", len(rest)),
             Evidence("goroutines in them", int(rest["count"].sum())),
             Evidence("largest not listed", int(rest["count"].max())),
             Evidence("by package of their top function",
                      [f"{p_}: {n_:,}" for p_, n_ in sorted(by_pkg.items(), key=lambda kv: -kv[1])[:10]])],
            ["dumpx.goroutines.stuck_set(d) is the whole table; many stuck sets in one package with "
             "different callers usually share one blocked resource"]))
    out.extend(_large_unknown_buckets(d, ix, stuck))
    idle_n = np.bincount(ix.idle[ix.idle >= 0], weights=ix.count[ix.idle >= 0],
                         minlength=len(ix.reasons)).astype(np.int64)
    idle = {ix.reasons[k]: int(n) for k, n in enumerate(idle_n.tolist()) if n}
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
        lg = np.flatnonzero(d.group_locked)
        tops = sorted({ix.top_name(g) for g in lg[:1000].tolist()})
        out.append(Finding(
            "go-locked-thread", Severity.INFO,
            f"{n_locked} goroutines are locked to their OS thread",
            [Evidence("goroutine ids", (d.locked_ids or [])[:20]), Evidence("top functions", tops[:10])],
            ["a locked goroutine that is parked holds its thread: check cgo and "
             "runtime.LockOSThread callers"]))
    if other is not None:
        out.extend(diff_findings(d, other))
    return out


STUCK_LISTED = 50          # stuck sets reported one by one; the rest in one finding


def _large_unknown_buckets(d, ix, stuck) -> Findings:
    """A bucket holding most goroutines whose state the format does not say (debug=1, protobuf):
    the stuck-set reading cannot be made from it, and the finding says why."""
    out = Findings()
    total = max(d.total, 1)
    in_stuck = np.zeros(len(d.stacks) + 1, bool)
    in_stuck[stuck["stack"]] = True
    cand = np.flatnonzero((ix.count >= STUCK_MIN) & (ix.count / total >= 0.5) & ~ix.parked & (ix.idle < 0)
                          & ~in_stuck[ix.gstack])
    for g in cand.tolist():
        n, st, top = int(ix.count[g]), ix.state[g], ix.top_name(g)
        if st not in ("unknown", "running", "runnable", "syscall"):
            continue
        ev = [Evidence("goroutines", n), Evidence("share", round(n / total, 4)), Evidence("top function", top),
              Evidence("state", st + (" (inferred: this format does not record states)" if d.state_inferred else ""))]
        parked = _parked_by_pc(d, ix, g)
        if parked:
            ev += parked
        out.append(Finding(
            "go-large-bucket", Severity.WARNING,
            f"{n:,} of {d.total:,} goroutines share one stack at {top} ({'parked in the runtime' if parked else st})",
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
        ev.append(Evidence("the same hidden frames in", sorted({ix.top_name(h) for h in same})[:5]))
    return ev


def _expected(d, ix, expect) -> Findings:
    out = Findings()
    T = ix.T
    fs = T.frame_stack() if expect else None
    for spec in expect:
        match = expect_matcher(spec)
        hit_f = np.array([bool(match(f)) for f in T.func_names], bool) if len(T.func_package) else np.zeros(0, bool)
        on_stack = np.bincount(fs[hit_f[T.func]], minlength=len(T)) > 0 if len(T) else np.zeros(0, bool)
        gcount = np.where(on_stack[ix.gstack], ix.count, 0)
        n = int(gcount.sum())
        # goroutines per matched function (a function counted once per group it is on the stack of)
        pairs = np.unique(np.stack([fs, T.func], axis=1)[hit_f[T.func]], axis=0) if n else np.zeros((0, 2), np.int64)
        per_stack = np.bincount(ix.gstack, weights=ix.count, minlength=len(T))
        matched: dict[str, int] = {}
        for s_, f_ in pairs.tolist():
            name = T.func_names[f_]
            matched[name] = matched.get(name, 0) + int(per_stack[s_])
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
    or the goroutine that wrote the dump. Work per stuck bucket is bounded; the per-package counts
    are array sums made once."""
    out = Findings()
    total = max(d.total, 1)
    T = ix.T
    P = len(T.package_names)
    act_per_stack = np.bincount(ix.gstack, weights=np.where(ix.active, ix.count, 0), minlength=len(T))
    n_same_pkg = np.bincount(ix.sp_pkg, weights=act_per_stack[ix.sp_stack], minlength=P).astype(np.int64) \
        if P else np.zeros(0, np.int64)
    n_active = int(ix.count[ix.active].sum())
    is_chan = np.frompyfunc(lambda x: x.startswith(("chan receive", "select", "chan send")), 1, 1)
    ch = stuck.where(is_chan(stuck["state"]).astype(bool)) if len(stuck) else stuck
    if not len(ch):
        return out
    S = len(T)
    stacks = ch["stack"]
    consumer = np.frompyfunc(lambda x: x.startswith("chan send"), 1, 1)(ch["state"]).astype(bool)
    top_f = ix.stack_top[stacks]
    p_row = np.where(top_f >= 0, T.func_package[np.maximum(top_f, 0)], -1) if P else np.full(len(ch), -1)
    # rule 2: creators (and ancestors) of the stuck stacks, and whether one is still in the dump and active
    want = np.zeros(S + 1, bool)
    want[stacks] = True
    cre_stack, cre_id = np.zeros(0, np.int64), np.zeros(0, np.uint64)
    if d.creator_pairs is not None and len(d.creator_pairs):
        cs = ix.gstack[d.creator_pairs[:, 0].astype(np.int64)]
        keep = want[cs]
        cre_stack, cre_id = cs[keep], d.creator_pairs[keep, 1]
    anc_stack, anc_id = [], []
    for g, cs_ in enumerate(d.group_ancestors or []):
        if cs_ and want[ix.gstack[g]]:
            anc_stack += [int(ix.gstack[g])] * len(cs_)
            anc_id += cs_
    all_stack = np.concatenate([cre_stack, np.array(anc_stack, np.int64)])
    all_id = np.concatenate([cre_id, np.array(anc_id, np.uint64)])
    alive = np.zeros(len(all_id), bool)
    alive_active = np.zeros(len(all_id), bool)
    if d.goroutines is not None and len(all_id) and len(d.goroutines):
        gid = d.goroutines["id"]
        order = np.argsort(gid, kind="stable")
        pos = np.minimum(np.searchsorted(gid[order], all_id), len(gid) - 1)
        alive = gid[order][pos] == all_id
        alive_active = alive & ix.active[d.goroutines["group"][order][pos]]
    stack_cand = np.zeros(S + 1, bool)
    stack_cand[all_stack[alive_active]] = True
    same = np.where(p_row >= 0, n_same_pkg[np.maximum(p_row, 0)] if P else 0, 0)
    cand = (same > 0) | stack_cand[stacks]
    key = (p_row + 1) * 4 + consumer * 2 + cand
    uk, first, inv = np.unique(key, return_index=True, return_inverse=True)
    inv = inv.reshape(-1)
    waiting_k = np.bincount(inv, weights=ch["count"], minlength=len(uk)).astype(np.int64)
    by_stack = np.argsort(all_stack, kind="stable")
    sorted_stack = all_stack[by_stack]
    by_key = np.argsort(inv, kind="stable")
    kptr = np.searchsorted(inv[by_key], np.arange(len(uk) + 1))
    for k in np.argsort(first, kind="stable").tolist():
        i = int(first[k])
        r = ch[i:i + 1].rows()[0]
        p, role = int(p_row[i]), "consumer" if consumer[i] else "producer"
        candidates = bool(cand[i])
        pkg = T.package_names[p] if p >= 0 else package(r["top_function"])
        groups = ix.groups_with_package(p) if p >= 0 else np.zeros(0, np.int64)
        act = groups[ix.active[groups]][:200]
        idl = groups[ix.idle[groups] >= 0][:200]
        n_same = int(same[i])
        same_desc = sorted({ix.top_name(g) + f" ({ix.state[g]})" for g in act.tolist()})[:5]
        same_tops = sorted({ix.top_name(g) for g in act.tolist()})[:3]
        idle_desc = sorted({f"{ix.top_name(g)} ({ix.reasons[int(ix.idle[g])]})" for g in idl.tolist()})[:5]
        sel = by_stack[np.searchsorted(sorted_stack, r["stack"]):np.searchsorted(sorted_stack, r["stack"], "right")]
        creators = sorted(set(all_id[sel[sel < len(cre_id)]].tolist()))
        older = sorted(set(all_id[sel].tolist()) - set(creators))
        alive_ids = set(all_id[sel[alive[sel]]].tolist())
        alive_l = [c for c in creators + older if c in alive_ids]
        others = by_key[kptr[k] + 1:kptr[k + 1]]
        rows = [r] + ch[others[:10]].rows()
        n_rows = int(kptr[k + 1] - kptr[k])
        waiting = int(waiting_k[k])
        st, top = r["state"], r["top_function"]
        wants, need = ("send", "receive") if role == "consumer" else ("receive", "send")
        ev = [Evidence("waiting goroutines", r["count"]), Evidence("state", st),
              Evidence(f"waiting to {wants} in", top),
              Evidence(f"rule 1: goroutines of package {pkg} that could {need}", n_same)]
        if n_same:
            ev.append(Evidence("rule 1: they run", same_desc))
        if creators:
            ev.append(Evidence("rule 2: creator goroutine ids", creators[:10]))
            ev.append(Evidence(f"rule 2: creators{' and ancestors' if older else ''} still in the dump",
                               alive_l[:10] if d.goroutines is not None else "unknown (no per-goroutine rows)"))
        else:
            ev.append(Evidence("rule 2: creator goroutine ids", "none recorded"))
        if older:
            ev.append(Evidence("rule 2: older ancestors (tracebackancestors)", older[:10]))
        ev.append(Evidence(f"rule 3: goroutines elsewhere that could {need} (other packages)", n_active - n_same))
        if idle_desc:
            ev.append(Evidence(f"not counted: goroutines of package {pkg} idle by design", idle_desc))
        also = ""
        if n_rows > 1:
            ev += [Evidence(f"other stuck buckets of package {pkg} read the same way", n_rows - 1),
                   Evidence("goroutines in all of them", waiting),
                   Evidence("their top functions", [f"{x['top_function']}: {x['count']:,}" for x in rows[1:11]])]
            also = f" (and {waiting - r['count']:,} more in {n_rows - 1:,} other buckets of package {pkg})"
        if candidates:
            sev = Severity.NOTICE
            title = (f"{r['count']:,} goroutines wait to {wants} in {top}{also}; the only goroutines of package "
                     f"{pkg} that could {need} are "
                     + ", ".join(same_tops or ["their creators" + (" or ancestors" if older else "")]))
        else:
            sev = Severity.CRITICAL if (waiting >= 1000 or waiting / total >= 0.5) else Severity.WARNING
            title = (f"{r['count']:,} goroutines wait to {wants} in {top}{also} and no goroutine of package {pkg} "
                     f"is left to {need}: its {role} is gone")
        out.append(Finding(
            f"go-absent-{role}", sev, title, ev,
            [f"find the {role} of the channel {top} uses: it has exited or never started (check its error "
             "path and recover()); a timeout on the waiters would have hidden this",
             f"pass --expect FUNC for the {role} to confirm it is absent"]))
    return out


def _diff_side(d: GoroutineDump, by_state: bool, funcs: dict, seqs: dict, states: dict):
    """Per group of ``d`` (the dump writer's left out): a state id and a stack-key id shared with
    the other dump. The key is the stack's functions outside the runtime (all of them when it has
    none), as one byte string of ids from ``funcs``, one dict over the distinct names of both
    dumps; equal keys are equal sequences, compared in full. Linear in frames + distinct stacks."""
    ix = _index(d)
    T = ix.T
    S, F = len(T), len(T.func_package)
    fid = np.fromiter((funcs.setdefault(n, len(funcs)) for n in T.func_names), np.int64, count=F)
    rt = (np.array([runtime_package(p) for p in T.package_names] or [False], bool)[T.func_package]
          if F else np.zeros(0, bool))
    fs = T.frame_stack()
    user = ~rt[T.func] if len(T.func) else np.zeros(0, bool)
    n_user = np.bincount(fs[user], minlength=S) if S else np.zeros(0, np.int64)
    sel = user | (n_user[fs] == 0) if len(T.func) else np.zeros(0, bool)
    flat = fid[T.func[sel]].astype("<i8").tobytes()
    ends = np.cumsum(np.bincount(fs[sel], minlength=S)) * 8 if S else np.zeros(0, np.int64)
    starts = np.concatenate([[0], ends[:-1]]) if S else ends
    key = np.fromiter((seqs.setdefault(flat[x:y], len(seqs)) for x, y in zip(starts.tolist(), ends.tolist())),
                      np.int64, count=S)
    keep = ~ix.writer
    if by_state:
        sid = np.array([states.setdefault(st, len(states)) for st in list(d.states) + [""]], np.int64)[d.group_state]
    else:
        sid = np.full(len(ix.gstack), states.setdefault("(any state)", len(states)), np.int64)
    return sid[keep], key[ix.gstack[keep]], ix.count[keep], ix.gstack[keep], ix


def diff(before: GoroutineDump, after: GoroutineDump) -> Table:
    """Buckets (state + stack, arguments ignored) that appeared, vanished, grew or shrank, the
    largest change first. A state inferred in one dump and read in the other cannot be compared:
    then buckets are matched by stack only, under the state "(any state)". Array operations over
    the distinct stacks of both dumps (kept once made for the same pair)."""
    cached = getattr(before, "_diff_cache", None)
    if cached is not None and cached[0] is after:
        return cached[1]
    by_state = before.state_inferred == after.state_inferred
    funcs: dict = {}
    seqs: dict = {}
    states: dict = {}
    sa, ka, ca, ga, ixa = _diff_side(before, by_state, funcs, seqs, states)
    sb, kb, cb, gb, ixb = _diff_side(after, by_state, funcs, seqs, states)
    nk = max(len(seqs), 1)
    ck = np.concatenate([sa * nk + ka, sb * nk + kb])
    uk, _, inv = unique_inverse(ck)
    na = len(ka)
    n_before = np.bincount(inv[:na], weights=ca, minlength=len(uk)).astype(np.int64)
    n_after = np.bincount(inv[na:], weights=cb, minlength=len(uk)).astype(np.int64)
    in_a = np.bincount(inv[:na], minlength=len(uk)) > 0
    in_b = np.bincount(inv[na:], minlength=len(uk)) > 0
    # a key's top function: from the later dump's stack where it has one
    rep = np.full(len(uk), -1, np.int64)
    rep[inv[:na]] = np.arange(na)
    rep[inv[na:]] = na + np.arange(len(kb))
    growth = n_after - n_before
    order = np.lexsort((uk, -n_after, -np.abs(growth)))
    state_names = np.array(list(states) or [""], dtype=object)
    stack_of = np.concatenate([ga, gb])
    sides = ((ixa.T, ixa.stack_top), (ixb.T, ixb.stack_top))

    def tops(rows):
        out = np.empty(len(rows), dtype=object)
        for k, r in enumerate(np.asarray(rows, np.int64).tolist()):
            T, top = sides[r >= na]
            f = int(top[stack_of[r]])
            out[k] = T.name(f) if f >= 0 else "?"
        return out
    status = np.where(~in_a, "appeared", np.where(~in_b, "vanished", "")).astype(object)
    t = Table({"state": state_names[(uk // nk)[order]], "top_function": LazyColumn(rep[order], tops),
               "before": n_before[order], "after": n_after[order], "growth": growth[order],
               "status": status[order]}, title="goroutine diff")
    before._diff_cache = (after, t)
    return t


DIFF_LISTED = 50           # changed buckets reported one by one by diff_findings; the rest in one finding


def diff_findings(before: GoroutineDump, after: GoroutineDump) -> Findings:
    """Buckets that vanished, and buckets of at least STUCK_MIN that grew: the DIFF_LISTED largest
    changes one by one, the rest in one ``go-diff-unlisted`` finding."""
    t = diff(before, after)
    out = Findings()
    vanished = (t["status"] == "vanished") & (t["before"] >= 1)
    grew = (t["status"] != "vanished") & (t["growth"] > 0) & (t["after"] >= STUCK_MIN)
    rows = np.flatnonzero(vanished | grew)
    for r in t[rows[:DIFF_LISTED]].rows():
        if r["status"] == "vanished":
            out.append(Finding("go-diff-vanished", Severity.NOTICE,
                               f"{r['before']} goroutines in {r['top_function']} ({r['state']}) are gone",
                               [Evidence("function", r["top_function"]), Evidence("before", r["before"]),
                                Evidence("after", 0)],
                               ["if this was a producer or a worker, the goroutines still waiting "
                                "on it are its victims"]))
        else:
            out.append(Finding("go-diff-grew", Severity.WARNING,
                               f"{r['top_function']} ({r['state']}) grew by {r['growth']:,}",
                               [Evidence("function", r["top_function"]), Evidence("before", r["before"]),
                                Evidence("after", r["after"])],
                               ["a bucket that keeps growing is a goroutine leak"]))
    rest = rows[DIFF_LISTED:]
    if len(rest):
        v, g = vanished[rest], grew[rest]
        gone, grown = int(t["before"][rest][v].sum()), int(t["growth"][rest][g].sum())
        out.append(Finding(
            "go-diff-unlisted", Severity.NOTICE,
            f"{len(rest):,} smaller changes not listed one by one: {int(v.sum()):,} buckets gone "
            f"({gone:,} goroutines), {int(g.sum()):,} grown (by {grown:,})",
            [Evidence("changes listed", DIFF_LISTED), Evidence("buckets gone, not listed", int(v.sum())),
             Evidence("goroutines in them", gone), Evidence("buckets grown, not listed", int(g.sum())),
             Evidence("growth in them", grown)],
            ["dumpx.goroutines.diff(before, after) is the whole table; thousands of buckets gone at "
             "once is a restart or another build, not a leak"]))
    return out
