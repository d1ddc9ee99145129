"""Retained sizes side by side with the VisualVM heap library (Debian's visualvm package) on the
HeapShape fixture. Every difference must be explained by a documented sizing convention:
fields the VM injects (dumpx counts them, as the JVM's own histogram does; VisualVM does not)
and class objects (dumpx gives a class mirror no shallow size of its own)."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from dumpx.hprof import HeapDump
from dumpx.hprof.graph import build_graph
from dumpx.hprof.layout import INJECTED

from conftest import ROOT, fixture_file

JAR = Path("/usr/share/visualvm/visualvm/modules/org-graalvm-visualvm-lib-jfluid-heap.jar")


def _peer(tmp_path, dump, n, ids=None):
    cmd = ["java", "-cp", f"{tmp_path}:{JAR}", "RetainedPeer", str(dump), str(n)]
    if ids is not None:
        f = tmp_path / "ids.txt"
        f.write_text("\n".join(str(i) for i in ids))
        cmd.append(str(f))
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return [json.loads(x) for x in out.splitlines() if x.startswith('{"id"')]


def _subtree(g, v):
    ptr, kids = g.children()
    out, stack = [], [v]
    while stack:
        x = stack.pop()
        out.append(x)
        stack.extend(kids[ptr[x]:ptr[x + 1]].tolist())
    return out


def test_top_retained_sizes_agree_with_visualvm_or_differ_by_documented_conventions(tmp_path):
    if not JAR.exists() or not shutil.which("javac"):
        pytest.skip("Debian's visualvm package (and a JDK) are needed; .ci/run installs visualvm")
    dump = tmp_path / "heapshape.hprof"
    dump.write_bytes(gzip.decompress(fixture_file("hprof/out/heapshape-coops.hprof.gz").read_bytes()))
    subprocess.run(["javac", "-cp", str(JAR), "-d", str(tmp_path),
                    str(ROOT / "benchmarks/peers/visualvm/RetainedPeer.java")], check=True)
    peer = _peer(tmp_path, dump, 30)
    g = build_graph(HeapDump(dump))
    injected = set(INJECTED)
    agree = explained = 0
    classes = 0
    for p in peer:
        v = g.vertex(p["id"])
        if p["class"] == "java.lang.Class":
            # convention: dumpx gives a mirror no shallow size and keeps the instance-to-class
            # link, so what a class object dominates differs; compared in docs/hprof.md
            classes += 1
            continue
        if (int(g.retained[v]), int(g.shallow[v])) == (p["retained"], p["shallow"]):
            agree += 1
            continue
        # ask VisualVM for every object this one dominates and account for each byte
        sub = _subtree(g, v)
        theirs = {x["id"]: x["shallow"] for x in _peer(tmp_path, dump, 1, [int(g.ids[u]) for u in sub])
                  if x.get("asked")}
        diff = 0
        for u in sub:
            d = int(g.shallow[u]) - theirs.get(int(g.ids[u]), 0)
            if d:
                name = g.class_name(u)
                assert name.startswith("class ") or any(
                    name == c or _is_subclass(g, u, c) for c in injected), (name, d)
                diff += d
        assert int(g.retained[v]) - p["retained"] == diff, p
        explained += 1
    assert agree >= 15 and agree + explained + classes == len(peer)


def _is_subclass(g, u, cname) -> bool:
    """Whether the class of vertex u is ``cname`` or extends it (e.g. a ClassLoader subclass)."""
    raw = g.dump.scan.raw["classes"]
    names = g._names
    i = int(g.cls[u])
    seen = 0
    ids = raw["id"].tolist()
    while i >= 0 and seen < 100:
        if names[i] == cname:
            return True
        sup = int(g.dump.scan.dump_column("super", i)) if raw["dumped"][i] else 0
        i = ids.index(sup) if sup in ids else -1
        seen += 1
    return False
