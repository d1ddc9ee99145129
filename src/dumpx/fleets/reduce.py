"""The fleet's readings, made from the per-dump summaries: clusters of dumps that read alike, and the
odd ones out — a function most dumps run and a few do not, a module on another build than the
rest, a count far from the fleet's, the dumps that could not be read. Each is a finding whose
evidence names the inputs, so it can be checked dump by dump with ``dumpx examine``."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import numpy as np

from ..findings import Evidence, Finding, Findings, Severity
from ..table import Table

PRESENT_SHARE = 0.8         # a function is the fleet's when at least this share of its dumps run it
ODD_SHARE = 0.2             # ... and it is odd to miss it in at most this share (else it just varies)
BUILD_MAJORITY = 2 / 3      # the fleet's build of a module: at least this share of the dumps that have it
OUTLIER_MAD = 5.0           # a count this many (scaled) median absolute deviations from the median ...
OUTLIER_RATIO = 2.0         # ... and at least this factor away from it
MIN_FLEET = 5               # fewer comparable dumps than this: no odd-one-out reading
LISTED = 20


class FleetReport:
    """``rows`` (a Table: one row per input with its status, format, signature and cluster),
    ``clusters`` (a Table), ``findings``, ``summaries`` (the per-dump dicts), ``retried`` (inputs
    read again after their worker died), ``to_dict()`` for JSON."""

    def __init__(self, summaries: list[dict], retried: dict[str, int] | None = None, mode: str = "serial"):
        self.summaries = summaries
        self.retried = dict(retried or {})
        self.mode = mode
        self.clusters, cluster_of, self.members = _clusters(summaries)
        self.rows = Table({
            "input": np.array([s["input"] for s in summaries], dtype=object),
            "status": np.array([s.get("status", "error") for s in summaries], dtype=object),
            "format": np.array([s.get("format") or "" for s in summaries], dtype=object),
            "signature": np.array([s.get("signature", "") for s in summaries], dtype=object),
            "cluster": np.array([cluster_of[i] for i in range(len(summaries))], dtype=np.int64),
            "error": np.array([_err_text(s) for s in summaries], dtype=object),
            "seconds": np.array([float(s.get("seconds", 0.0)) for s in summaries], dtype=np.float64),
        }, title="fleet inputs")
        self.findings = _findings(summaries, self.clusters, self.retried)

    def __len__(self) -> int:
        return len(self.summaries)

    def to_dict(self) -> dict[str, Any]:
        from ..examination import SCHEMA_VERSION
        from .. import __version__
        return {"schema_version": SCHEMA_VERSION, "tool": {"name": "dumpx", "version": __version__},
                "mode": self.mode, "inputs": self.summaries, "retried": self.retried,
                "clusters": [{**r, "inputs": self.members[r["cluster"]]} for r in self.clusters.rows()],
                "findings": self.findings.sorted().to_dicts()}

    def headline(self) -> str:
        st = Counter(self.rows["status"].tolist())
        rest = ", ".join(f"{n} {k}" for k, n in sorted(st.items()) if k != "ok")
        return f"{len(self)} inputs: {st.get('ok', 0)} read whole" + (f", {rest}" if rest else "") + f" ({self.mode})"

    def text(self, limit: int = 30) -> str:
        from ..render import safe_text
        out = [safe_text(self.headline())]
        if self.retried:
            out.append(f"read again after their worker died: {len(self.retried)} "
                       f"({', '.join(safe_text(k) for k in list(self.retried)[:5])})")
        out += ["", self.clusters.text(max_rows=limit), ""]
        fs = self.findings.sorted()
        out += [f.text() + "\n" for f in fs[:limit]]
        if len(fs) > limit:
            out.append(f"... {len(fs) - limit} more findings (--json for all)")
        return "\n".join(out).rstrip()

    __str__ = text

    def __repr__(self) -> str:
        return f"<FleetReport {len(self)} inputs, {len(self.clusters)} clusters, {len(self.findings)} findings>"

    def _repr_html_(self) -> str:
        from ..reporters.html import _finding
        return self.clusters._repr_html_() + "".join(_finding(f, None) for f in self.findings.sorted()[:50])


def _err_text(s: dict) -> str:
    e = s.get("error")
    if not e:
        return ""
    return f"{e['type']}" + (f" at offset {e['offset']}" if e.get("offset") is not None else "") + f": {e['message']}"


def _family(s: dict) -> str:
    fmt = s.get("format") or ""
    if s.get("status") == "partial":
        return "partial"
    if s.get("status") != "ok":
        return "unreadable"
    if fmt.startswith("go-"):
        return "goroutines"
    if fmt in ("elf-core", "minidump"):
        return "crash"
    return fmt or "unknown"


def _clusters(summaries: list[dict]):
    """Inputs grouped by family and signature, largest first; the representative is the first input
    (in the order given) of each."""
    groups: dict[tuple, list[int]] = defaultdict(list)
    for i, s in enumerate(summaries):
        groups[(_family(s), s.get("signature", ""))].append(i)
    ordered = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[1][0]))
    cluster_of = {}
    for c, (_, members) in enumerate(ordered):
        for i in members:
            cluster_of[i] = c
    t = Table({"cluster": np.arange(len(ordered), dtype=np.int64),
               "family": np.array([k[0] for k, _ in ordered], dtype=object),
               "signature": np.array([k[1] for k, _ in ordered], dtype=object),
               "size": np.array([len(m) for _, m in ordered], dtype=np.int64),
               "representative": np.array([summaries[m[0]]["input"] for _, m in ordered], dtype=object)},
              title="clusters (dumps that read alike)")
    return t, cluster_of, [[summaries[i]["input"] for i in m] for _, m in ordered]


def _findings(summaries: list[dict], clusters: Table, retried: dict[str, int]) -> Findings:
    out = Findings()
    out.extend(_unreadable(summaries))
    ok = [s for s in summaries if s.get("status") == "ok"]
    gor = [s for s in ok if _family(s) == "goroutines"]
    out.extend(_odd_functions(gor))
    out.extend(_outliers(gor, "goroutines", "goroutines"))
    heaps = [s for s in ok if s.get("format") == "hprof"]
    out.extend(_outliers(heaps, "objects", "objects"))
    out.extend(_outliers(heaps, "top_retained_bytes", "bytes retained by the largest retainer"))
    out.extend(_odd_builds([s for s in ok if _family(s) == "crash"]))
    out.extend(_rare_clusters(clusters))
    if retried:
        out.append(Finding("fleet-retried", Severity.INFO,
                           f"{len(retried)} inputs were read again after the worker reading them died",
                           [Evidence("inputs", list(retried)[:LISTED]), Evidence("attempts", list(retried.values())[:LISTED])],
                           ["the results are complete; a worker that keeps dying on one dump is reported as "
                            "worker-died for that dump, not retried forever"]))
    return out


def _unreadable(summaries) -> Findings:
    bad = [s for s in summaries if s.get("status") != "ok"]
    if not bad:
        return Findings()
    by_kind = Counter((s.get("status"), (s.get("error") or {}).get("type", "?")) for s in bad)
    return Findings([Finding(
        "fleet-unreadable", Severity.WARNING,
        f"{len(bad)} of {len(summaries)} inputs could not be read whole (left out of the comparisons)",
        [Evidence("by status and error", [f"{st} {ty}: {n}" for (st, ty), n in by_kind.most_common()]),
         Evidence("inputs", [s["input"] for s in bad][:LISTED]),
         Evidence("errors", [_err_text(s) for s in bad][:LISTED])],
        ["a damaged or cut dump is evidence too: `dumpx examine` on it says what was lost and where",
         "memory-limit: raise --memory-limit or read that dump alone; worker-died: read it alone"])])


def _odd_functions(gor: list[dict]) -> Findings:
    """A function of the program that runs in most goroutine dumps and is absent from a few; the
    functions missing from the same dumps are one finding (a consumer that died takes its callees
    with it)."""
    n = len(gor)
    if n < MIN_FLEET:
        return Findings()
    present: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(gor):
        for f in (s.get("facts") or {}).get("functions", {}):
            present[f].append(i)
    by_missing: dict[tuple, list[str]] = defaultdict(list)
    for f, where in present.items():
        k = len(where)
        if k >= PRESENT_SHARE * n and 0 < n - k <= ODD_SHARE * n:
            missing = tuple(sorted(set(range(n)) - set(where)))
            by_missing[missing].append(f)
    out = Findings()
    for missing, funcs in sorted(by_missing.items(), key=lambda kv: (len(kv[0]), -len(kv[1]))):
        funcs.sort(key=lambda f: -sum(gor[i]["facts"]["functions"].get(f, 0) for i in range(n)))
        share = len(missing) / n
        lead = funcs[0]
        out.append(Finding(
            "fleet-odd-function", Severity.CRITICAL if share <= 0.05 else Severity.WARNING,
            f"{lead} is running in {n - len(missing)} of {n} goroutine dumps; absent in {len(missing)}"
            + (f" (with {len(funcs) - 1} other functions)" if len(funcs) > 1 else ""),
            [Evidence("functions absent together", funcs[:10]),
             Evidence("dumps without them", [gor[i]["input"] for i in missing][:LISTED]),
             Evidence("dumps with them", n - len(missing)),
             Evidence("goroutines running it where present (median)",
                      int(np.median([gor[i]["facts"]["functions"][lead] for i in range(n) if i not in missing]))),
             Evidence("readings of the dumps without them",
                      sorted({gor[i].get("signature", "") for i in missing})[:5])],
            [f"`dumpx examine` one of them: what waits on {lead}'s work there (an absent producer or consumer "
             "names it), and when that process's log last mentions it"]))
    return out


def _outliers(items: list[dict], fact: str, what: str) -> Findings:
    """A count far from the fleet's: beyond OUTLIER_MAD scaled deviations and OUTLIER_RATIO times."""
    vals = np.array([float((s.get("facts") or {}).get(fact, np.nan)) for s in items])
    keep = ~np.isnan(vals)
    if keep.sum() < MIN_FLEET:
        return Findings()
    v = vals[keep]
    med = float(np.median(v))
    mad = 1.4826 * float(np.median(np.abs(v - med)))
    far = [(s, x) for s, x, k in zip(items, vals, keep) if k and abs(x - med) > OUTLIER_MAD * max(mad, 1.0)
           and (x >= OUTLIER_RATIO * med or x <= med / OUTLIER_RATIO)]
    if not far:
        return Findings()
    far.sort(key=lambda p: -abs(p[1] - med))
    return Findings([Finding(
        "fleet-outlier", Severity.WARNING,
        f"{len(far)} of {int(keep.sum())} dumps have {what} far from the fleet's median {med:,.0f}",
        [Evidence("median", med), Evidence("scaled median absolute deviation", round(mad, 1)),
         Evidence("inputs", [s["input"] for s, _ in far][:LISTED]),
         Evidence(what, [int(x) for _, x in far][:LISTED])],
        [f"examine the largest: more {what} than the rest of the fleet is a leak or a stuck dependency "
         "on that host only"])])


def _odd_builds(items: list[dict]) -> Findings:
    """Per module name, the build-id most crash dumps have; the dumps on another build."""
    n = len(items)
    if n < MIN_FLEET:
        return Findings()
    builds: dict[str, Counter] = defaultdict(Counter)
    for s in items:
        for mod, bid in ((s.get("facts") or {}).get("modules") or {}).items():
            if bid:
                builds[mod][bid] += 1
    out = Findings()
    for mod, cnt in sorted(builds.items()):
        if len(cnt) < 2:
            continue
        total = sum(cnt.values())
        major, k = cnt.most_common(1)[0]
        odd = [s for s in items if ((s.get("facts") or {}).get("modules") or {}).get(mod) not in (None, major)]
        if k >= BUILD_MAJORITY * total:
            out.append(Finding(
                "fleet-odd-build", Severity.WARNING,
                f"{len(odd)} of {total} dumps run another build of {mod} than the rest",
                [Evidence("module", mod), Evidence("the fleet's build-id", major), Evidence("dumps on it", k),
                 Evidence("other build-ids", sorted(set(cnt) - {major})),
                 Evidence("dumps on another build", [s["input"] for s in odd][:LISTED]),
                 Evidence("their crash signatures", sorted({s.get("signature", "") for s in odd})[:5])],
                ["check the deployment of those hosts; verify their cores against the binary of their own "
                 "build (dumpx core verify --binary) before trusting a frame"]))
        else:
            out.append(Finding(
                "fleet-builds-split", Severity.NOTICE, f"the dumps run {len(cnt)} builds of {mod} with no majority",
                [Evidence("module", mod), Evidence("build-ids and dumps", [f"{b}: {c}" for b, c in cnt.most_common(5)])],
                ["a rollout in progress, or hosts that never got the new build"]))
    return out


def _rare_clusters(clusters: Table) -> Findings:
    """A summary of the clusters per family: how the fleet reads, and which readings are rare."""
    out = Findings()
    fam = clusters["family"]
    for family in sorted(set(fam.tolist()) - {"unreadable", "partial"}):
        sel = clusters.where(fam == family)
        total = int(sel["size"].sum())
        if len(sel) < 2 or total < MIN_FLEET:
            continue
        out.append(Finding(
            "fleet-clusters", Severity.INFO,
            f"{total} {family} dumps read {len(sel)} different ways; the largest way holds {int(sel['size'][0])}",
            [Evidence("clusters", [f"{int(z)}: {sig}" for z, sig in zip(sel["size"].tolist(), sel["signature"].tolist())][:10]),
             Evidence("representatives", sel["representative"].tolist()[:10])],
            ["examine each cluster's representative; the small clusters are where the odd hosts are"]))
    return out
