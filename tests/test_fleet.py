"""dumpx.fleet on fleets with a known truth: copies of the Go fleet fixture's real pods with the
died pod planted on chosen inputs, cores of the nullderef crash with the second build planted on
chosen inputs, and cut or foreign files. The reduced output must name exactly the planted ones and
stay quiet on fleets without them; serial, pool and a real Dask cluster must agree; a worker killed
mid-run loses nothing; a dump that kills its worker every time is reported, not retried forever."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import dumpx
from dumpx.fleets import execute as fexec

from conftest import FIXTURES

GO = FIXTURES / "go/out"
ELF = FIXTURES / "elf/out"
CONSUMER = "dumpx.fixtures/fleet/notify.(*Consumer).run"      # the construction: fixtures/go/fleet/notify


def go_fleet(tmp: Path, n: int = 60, died=(7, 23, 41), broken: bool = True):
    """n pods (healthy at 40, 50 and 60 producers in turn) with the died pod at the given indices,
    plus a pod cut mid-line and a file that is no dump. Returns (paths, died paths, broken paths)."""
    paths, planted = [], []
    for i in range(n):
        src = GO / ("fleet.died-50.debug2.txt" if i in died else f"fleet.healthy-{(40, 50, 60)[i % 3]}.debug2.txt")
        p = tmp / f"pod{i:03d}.txt"
        shutil.copy(src, p)
        paths.append(str(p))
        if i in died:
            planted.append(str(p))
    bad = []
    if broken:
        data = (GO / "fleet.healthy-50.debug2.txt").read_bytes()
        (tmp / "pod-cut.txt").write_bytes(data[: len(data) // 2 + 3])
        (tmp / "pod-foreign.txt").write_text("not a dump at all\n")
        bad = [str(tmp / "pod-cut.txt"), str(tmp / "pod-foreign.txt")]
    return paths + bad, planted, bad


def copies(src: Path, tmp: Path, names) -> list[str]:
    """``src`` copied to each of ``names`` in ``tmp``; the paths in that order."""
    out = []
    for n in names:
        shutil.copy(src, tmp / n)
        out.append(str(tmp / n))
    return out


def kinds(report, kind):
    return [f for f in report.findings if f.kind == kind]


def ev(f):
    return {e.label: e.value for e in f.evidence}


def _comparable(report):
    """What must not depend on how the fleet was run: every summary but the worker's pid and time."""
    drop = ("pid", "seconds")
    return ([{k: v for k, v in s.items() if k not in drop} for s in report.summaries],
            report.clusters.rows(), [f.to_dict() for f in report.findings.sorted() if f.kind != "fleet-retried"])


def test_goroutine_fleet_names_exactly_the_planted_pods(tmp_path):
    paths, planted, bad = go_fleet(tmp_path)
    r = dumpx.fleet(paths, workers=1)
    odd = kinds(r, "fleet-odd-function")
    assert len(odd) == 1
    e = ev(odd[0])
    assert e["dumps without them"] == planted and e["functions absent together"] == [CONSUMER]
    assert odd[0].title.startswith(f"{CONSUMER} is running in 57 of 60 goroutine dumps; absent in 3")
    assert odd[0].severity.name == "CRITICAL"            # 3 of 60: at most 5 %
    assert sorted(ev(kinds(r, "fleet-unreadable")[0])["inputs"]) == sorted(bad)
    st = dict(zip(r.rows["input"].tolist(), r.rows["status"].tolist()))
    assert st[bad[0]] == "partial" and st[bad[1]] == "error"
    # the died pods are one cluster, named by their reading
    died_cluster = {int(c) for i, c in zip(r.rows["input"].tolist(), r.rows["cluster"].tolist()) if i in planted}
    assert len(died_cluster) == 1
    assert r.members[died_cluster.pop()] == planted
    assert not kinds(r, "fleet-outlier")                 # 42..62 goroutines: no pod is far from the rest
    # the local pool reads the same
    pooled = dumpx.fleet(paths, workers=2)
    assert pooled.mode.startswith("pool of 2") and _comparable(pooled) == _comparable(r)


def test_healthy_fleet_with_different_loads_stays_quiet(tmp_path):
    """The look-alike: pods at 40, 50 and 60 producers (different counts, the same functions)."""
    paths, _, _ = go_fleet(tmp_path, n=30, died=(), broken=False)
    r = dumpx.fleet(paths, workers=1)
    assert {f.kind for f in r.findings} == set()
    assert len(r.clusters) == 1 and int(r.clusters["size"][0]) == 30


def test_a_pod_with_far_more_goroutines_is_an_outlier(tmp_path):
    paths, _, _ = go_fleet(tmp_path, n=20, died=(), broken=False)
    big = tmp_path / "pod-big.txt.gz"
    shutil.copy(GO / "incident.died.debug2.txt.gz", big)
    r = dumpx.fleet(paths + [str(big)], workers=1)
    out = kinds(r, "fleet-outlier")
    assert len(out) == 1 and ev(out[0])["inputs"] == [str(big)]
    assert ev(out[0])["goroutines"] == [2010]      # 2,000 handlers and the process's 10 others (construction)


def _build_id(binary: Path) -> str:
    from elftools.elf.elffile import ELFFile
    with open(binary, "rb") as f:
        for sec in ELFFile(f).iter_sections():
            if sec.header.sh_type == "SHT_NOTE":
                for note in sec.iter_notes():
                    if note["n_type"] == "NT_GNU_BUILD_ID":
                        return note["n_desc"]
    raise AssertionError("no build-id")


def test_cores_on_the_wrong_build_are_named(tmp_path):
    paths, wrong = [], []
    for i in range(10):
        rebuilt = i in (2, 7)
        p = tmp_path / f"host{i}.core.zst"
        shutil.copy(ELF / ("nullderef.rebuilt.core.zst" if rebuilt else "nullderef.core.zst"), p)
        paths.append(str(p))
        if rebuilt:
            wrong.append(str(p))
    r = dumpx.fleet(paths, workers=1)
    odd = kinds(r, "fleet-odd-build")
    assert len(odd) == 1
    e = ev(odd[0])
    assert e["module"] == "nullderef" and e["dumps on another build"] == wrong
    assert e["the fleet's build-id"] == _build_id(ELF / "nullderef")          # readelf's answer, via pyelftools
    assert e["other build-ids"] == [_build_id(ELF / "nullderef.rebuilt")] == ["00112233445566778899aabbccddeeff00112233"]
    # the same fleet on one build: quiet about builds
    same = dumpx.fleet([p for p in paths if p not in wrong], workers=1)
    assert not kinds(same, "fleet-odd-build") and not kinds(same, "fleet-builds-split")


def test_pool_worker_killed_mid_run_loses_nothing(tmp_path):
    """A pool worker is killed (SIGKILL, as the OOM killer would) after the first results: its
    in-flight dumps are read again and the result equals the serial one."""
    paths, planted, _ = go_fleet(tmp_path, n=80)
    killed = []

    def progress(p):
        if p["done"] >= 10 and not killed:
            pids = {s["pid"] for s in seen if s.get("pid") != os.getpid()}
            if pids:
                pid = pids.pop()
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
    seen = []
    orig = fexec.Journal.add

    def spy(self, s):
        seen.append(s)
        orig(self, s)
    fexec.Journal.add = spy
    try:
        r = dumpx.fleet(paths, workers=2, progress=progress)
    finally:
        fexec.Journal.add = orig
    assert killed
    serial = dumpx.fleet(paths, workers=1)
    assert _comparable(r) == _comparable(serial)
    assert ev(kinds(r, "fleet-odd-function")[0])["dumps without them"] == planted
    if r.retried:                                   # the killed worker had dumps in flight (almost always)
        assert kinds(r, "fleet-retried")


def test_a_dump_that_kills_its_worker_every_time_is_reported_not_retried_forever(tmp_path):
    paths, _, _ = go_fleet(tmp_path, n=12, died=(), broken=False)
    poison = tmp_path / "poison.txt"
    shutil.copy(GO / "fleet.healthy-40.debug2.txt", poison)
    got = []
    sys.path.insert(0, str(Path(__file__).parent))
    from fleet_tasks import dies_on_poison
    retried = fexec.run_pool(paths + [str(poison)], {}, got.append, 2, None, task=dies_on_poison)
    by = {s["input"]: s for s in got}
    assert len(by) == 13 and by[str(poison)]["status"] == "worker-died"
    assert retried[str(poison)] == fexec.ATTEMPTS
    assert all(by[p]["status"] == "ok" for p in paths)


def test_memory_limit_is_reported_as_such(tmp_path):
    """A dump that needs more than the worker's limit: ``memory-limit`` for it, the others read."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    from goroutines import make
    big = make(tmp_path / "big.txt", target_bytes=24 << 20, distinct=10**9)
    paths, _, _ = go_fleet(tmp_path, n=6, died=(), broken=False)
    r = dumpx.fleet(paths + [str(big)], workers=2, memory_limit="192M")
    st = dict(zip(r.rows["input"].tolist(), r.rows["status"].tolist()))
    assert st[str(big)] == "memory-limit" and all(st[p] == "ok" for p in paths)
    assert "memory-limit" in ev(kinds(r, "fleet-unreadable")[0])["by status and error"][0]


def test_resume_reads_only_what_is_not_done(tmp_path):
    paths, planted, _ = go_fleet(tmp_path, n=30)
    journal = tmp_path / "fleet.journal"

    class Stop(Exception):
        pass

    def stop(p):
        if p["done"] >= 12:
            raise Stop
    with pytest.raises(Stop):
        dumpx.fleet(paths, workers=1, resume=journal, progress=stop)
    kept = [json.loads(x) for x in journal.read_text().splitlines()]
    assert 12 <= len(kept) < len(paths)
    r = dumpx.fleet(paths, workers=1, resume=journal)
    assert r.mode.endswith(f"{len(kept)} resumed from the journal")
    assert _comparable(r) == _comparable(dumpx.fleet(paths, workers=1))
    assert len(journal.read_text().splitlines()) == len(paths)
    # a dump rewritten under the same name is read again (its key has its size and time)
    Path(paths[0]).write_bytes((GO / "fleet.died-50.debug2.txt").read_bytes())
    again = dumpx.fleet(paths, workers=1, resume=journal)
    assert again.mode.endswith(f"{len(paths) - 1} resumed from the journal")
    assert paths[0] in ev(kinds(again, "fleet-odd-function")[0])["dumps without them"]
    # other options (an expected function): nothing in the journal was made with them, all read again
    other = dumpx.fleet(paths, workers=1, resume=journal, expect=[CONSUMER])
    assert "resumed" not in other.mode


def test_cli_fleet_json_is_valid_and_exit_code_says_partial(tmp_path):
    import jsonschema
    from referencing import Registry, Resource
    schema_dir = Path(__file__).resolve().parent.parent / "schema"
    fleet_schema = json.loads((schema_dir / "fleet.schema.json").read_text())
    examine_schema = json.loads((schema_dir / "examine.schema.json").read_text())
    reg = Registry().with_resources([(examine_schema["$id"], Resource.from_contents(examine_schema)),
                                     ("examine.schema.json", Resource.from_contents(examine_schema))])
    paths, planted, _ = go_fleet(tmp_path, n=20, died=(4,))
    html = tmp_path / "fleet.html"
    r = subprocess.run([sys.executable, "-m", "dumpx", "fleet", str(tmp_path / "pod*.txt"), "--workers", "2",
                        "--json", "--html", str(html)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 1, r.stderr[-2000:]           # the cut and the foreign file
    d = json.loads(r.stdout)
    jsonschema.Draft202012Validator(fleet_schema, registry=reg).validate(d)
    assert len(d["inputs"]) == 22
    odd = [f for f in d["findings"] if f["kind"] == "fleet-odd-function"]
    assert [e["value"] for e in odd[0]["evidence"] if e["key"] == "dumps_without_them"] == [planted]
    assert "fleet-odd-function" in html.read_text()


def _cluster():
    distributed = pytest.importorskip("distributed", reason="Dask is an extra: pip install 'dumpx[fleet]'")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None, silence_logs=50)
    return cluster, distributed.Client(cluster)


def test_dask_cluster_reads_what_the_serial_run_reads_and_survives_a_killed_worker(tmp_path):
    """A real dask.distributed cluster on loopback (a scheduler and two worker processes): the same
    result as the serial run; then a worker process is killed mid-run and nothing is lost."""
    paths, planted, _ = go_fleet(tmp_path, n=60)
    serial = dumpx.fleet(paths, workers=1)
    cluster, client = _cluster()
    try:
        r = dumpx.fleet(paths, client=client)
        assert r.mode == "dask" and _comparable(r) == _comparable(serial)
        pids = client.run(os.getpid)
        killed = []

        def progress(p):
            if p["done"] >= 5 and not killed:
                victim = sorted(pids.values())[0]
                os.kill(victim, signal.SIGKILL)
                killed.append(victim)
        (tmp_path / "more").mkdir()
        more, _, _ = go_fleet(tmp_path / "more", n=200)
        r2 = dumpx.fleet(more, client=client, progress=progress)
        assert killed
        assert all(s["status"] in ("ok", "partial", "error") for s in r2.summaries)
        assert len(r2.summaries) == len(more)
        assert ev(kinds(r2, "fleet-odd-function")[0])["dumps without them"] == \
            [p for p in more if Path(p).name in {Path(x).name for x in planted}]
    finally:
        client.close()
        cluster.close()


def test_urls_are_read_by_the_workers_through_fsspec(tmp_path):
    """fsspec URLs (here ``file://`` and ``memory://``, the same code path as ``s3://``): each worker
    fetches its input into a spill file; the summaries are those of the local paths."""
    pytest.importorskip("fsspec", reason="URLs need the fleet extra: pip install 'dumpx[fleet]'")
    import fsspec
    paths, planted, _ = go_fleet(tmp_path, n=10, died=(3,), broken=False)
    urls = ["file://" + p for p in paths]
    r = dumpx.fleet(urls, workers=1)
    assert all(s["status"] == "ok" for s in r.summaries)
    assert ev(kinds(r, "fleet-odd-function")[0])["dumps without them"] == ["file://" + planted[0]]
    with fsspec.open("memory://pods/pod-died.txt", "wb") as f:
        f.write((GO / "fleet.died-50.debug2.txt").read_bytes())
    s = dumpx.fleets.summarize("memory://pods/pod-died.txt")
    assert s["status"] == "ok" and s["signature"].startswith("absent consumer")


def test_fleet_html_in_a_browser_escapes_input_names(tmp_path):
    """The fleet report in headless chromium: its script runs, the findings are there, and an input
    named like markup stays text."""
    from test_reports import _dom
    from dumpx.reporters import fleet_html
    paths, planted, _ = go_fleet(tmp_path, n=12, died=(5,), broken=False)
    evil = tmp_path / "<img src=x onerror=alert(1)>.txt"
    shutil.copy(GO / "fleet.died-50.debug2.txt", evil)
    r = dumpx.fleet(paths + [str(evil)], workers=1)
    page = tmp_path / "fleet.html"
    page.write_text(fleet_html(r))
    dom = _dom(page, "#sort=inputs:status:asc&open=clusters:1")
    assert 'data-ready="1"' in dom and 'data-kind="fleet-odd-function"' in dom
    assert "<img src=x" not in dom and "&lt;img src=x onerror=alert(1)&gt;" in dom


def test_heap_dumps_cluster_by_accumulation_point_and_a_small_heap_is_an_outlier(tmp_path):
    """Six replicas' heap dumps (heapshape: the HeapShape class accumulates), one that grew by 20,000
    CacheEntry objects (1.85x the objects: a legitimately larger heap, not flagged), and one of
    another program (hidden: 26,429 objects, a LambdaForm transform array on top)."""
    H = FIXTURES / "hprof/out"
    paths = copies(H / "heapshape-coops.hprof.gz", tmp_path, [f"replica{i}.hprof.gz" for i in range(6)]) \
        + copies(H / "heapshape-coops-grown.hprof.gz", tmp_path, ["replica-grown.hprof.gz"]) \
        + copies(H / "hidden-coops.hprof.gz", tmp_path, ["other.hprof.gz"])
    r = dumpx.fleet(paths, workers=1)
    assert list(r.clusters["size"]) == [7, 1] and r.members[1] == [paths[-1]]
    assert r.clusters["signature"][0].startswith("accumulates in class HeapShape")
    outliers = kinds(r, "fleet-outlier")
    assert outliers and all(ev(f)["inputs"] == [paths[-1]] for f in outliers)


def test_minidumps_are_read_like_cores(tmp_path):
    """Minidumps go through the cores' unwinder (Minidump.process()): their signature has the crashing
    thread's frames with their trust, and the modules' build-ids are compared like a core's."""
    M = FIXTURES / "minidump/out"
    paths = copies(M / "unwind-O2cfi.dmp", tmp_path, [f"app{i}.dmp" for i in range(6)])
    copies(M / "nullderef-aarch64.dmp", tmp_path, ["arm.dmp"])
    r = dumpx.fleet(paths + [str(tmp_path / "arm.dmp")], workers=1)
    assert list(r.clusters["size"]) == [6, 1] and r.members[1] == [str(tmp_path / "arm.dmp")]
    sig = r.clusters["signature"][0]
    # the minidump's exception (signal 11, named) and frame 0 from the thread context, as minidump-stackwalk
    # reads it (fixtures/minidump/out/unwind-O2cfi.stackwalk.json: frame 0 trust "context")
    want = json.loads((M / "unwind-O2cfi.stackwalk.json").read_text())
    top = want["crashing_thread"]["frames"][0]
    assert want["crash_info"]["type"].startswith("SIGSEGV") and sig.startswith("SIGSEGV in unwind-O2cfi: ")
    assert f"unwind-O2cfi+0x{int(top['module_offset'], 16):x} [{top['trust']}]" in sig
    assert not kinds(r, "fleet-odd-build")


def test_windows_minidumps_cluster_by_their_named_exception_and_image(tmp_path):
    """Windows minidumps: the exception as minidump-stackwalk names it, the image by its file name."""
    W = FIXTURES / "windows/out"
    paths = copies(W / "windows.dmp", tmp_path, [f"w{i}.dmp" for i in range(3)])
    r = dumpx.fleet(paths, workers=1)
    want = json.loads((W / "windows.stackwalk.json").read_text())["crash_info"]["type"]
    [sig] = list(r.clusters["signature"])
    assert want == "EXCEPTION_ACCESS_VIOLATION_READ" and sig.startswith(f"{want} in app.exe: app.exe+0x1000 [context]")


def test_fleet_progress_updates_one_line_in_a_notebook(tmp_path, notebook_display):
    """In a notebook kernel the fleet's progress (done, failed, rate) is one display updated in place."""
    updates = notebook_display
    paths, _, bad = go_fleet(tmp_path, n=8)
    dumpx.fleet(paths, workers=1)
    assert updates[0].startswith("dumpx fleet: 0/10 done")
    assert updates[-1].startswith("dumpx fleet: 10/10 done, 2 failed")      # the cut and the foreign file


def test_cli_runs_on_a_dask_scheduler_by_address(tmp_path):
    """`dumpx fleet ... --scheduler ADDRESS`: the command connects to a running scheduler (a loopback
    LocalCluster here) and reads what the serial run reads."""
    paths, planted, _ = go_fleet(tmp_path, n=20, died=(6,), broken=False)
    cluster, client = _cluster()
    try:
        r = subprocess.run([sys.executable, "-m", "dumpx", "fleet", str(tmp_path / "pod*.txt"), "--json",
                            "--scheduler", cluster.scheduler_address], capture_output=True, text=True, timeout=300)
    finally:
        client.close()
        cluster.close()
    assert r.returncode == 0, r.stderr[-2000:]
    d = json.loads(r.stdout)
    assert d["mode"] == "dask" and len(d["inputs"]) == 20
    odd = [f for f in d["findings"] if f["kind"] == "fleet-odd-function"]
    assert [e["value"] for e in odd[0]["evidence"] if e["key"] == "dumps_without_them"] == [planted]
