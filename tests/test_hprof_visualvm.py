"""Retained sizes side by side with the VisualVM heap library (Debian's visualvm package) on the
HeapShape fixture. The objects the fixture built agree exactly; class objects differ by
convention (dumpx gives a class mirror no shallow size of its own); a few JDK-internal objects
still differ by a few bytes (open in issue 4: not yet explained)."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from dumpx.hprof import HeapDump
from dumpx.hprof.graph import build_graph

from conftest import ROOT, fixture_file

JAR = Path("/usr/share/visualvm/visualvm/modules/org-graalvm-visualvm-lib-jfluid-heap.jar")


def test_top_retained_sizes_agree_with_visualvm(tmp_path):
    if not JAR.exists() or not shutil.which("javac"):
        pytest.skip("Debian's visualvm package (and a JDK) are needed; .ci/run installs visualvm")
    dump = tmp_path / "heapshape.hprof"
    dump.write_bytes(gzip.decompress(fixture_file("hprof/out/heapshape-coops.hprof.gz").read_bytes()))
    subprocess.run(["javac", "-cp", str(JAR), "-d", str(tmp_path),
                    str(ROOT / "benchmarks/peers/visualvm/RetainedPeer.java")], check=True)
    out = subprocess.run(["java", "-cp", f"{tmp_path}:{JAR}", "RetainedPeer", str(dump), "30"],
                         capture_output=True, text=True, check=True).stdout
    peer = [json.loads(x) for x in out.splitlines() if x.startswith('{"id"')]
    g = build_graph(HeapDump(dump))
    built = {"HeapShape$Upload", "byte[]", "java.util.HashMap", "java.util.HashMap$Node[]"}
    agree = other = 0
    for p in peer:
        v = g.vertex(p["id"])
        if p["class"] == "java.lang.Class":
            continue
        same = (int(g.retained[v]), int(g.shallow[v])) == (p["retained"], p["shallow"])
        if p["class"] in built and p["retained"] > 1 << 20:
            assert same, p                      # the fixture's own structures: exact
        agree += same
        other += 1
    assert other >= 15 and agree >= 0.8 * other
