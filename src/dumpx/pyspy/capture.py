"""Live capture of a wedged Python process: py-spy and the kernel's view of every thread.

``capture(pid, out)`` writes an evidence bundle (a directory) that ``dumpx.pyspy.load`` reads:

    meta.json            pid, time, commands run, what failed
    pyspy.txt            py-spy dump --pid PID
    pyspy.json           py-spy dump --pid PID --json
    pyspy-locals.txt     py-spy dump --pid PID --locals          (with locals=True)
    pyspy-native.txt     py-spy dump --pid PID --native          (with native=True)
    tasks.tsv            tid, comm, state, wchan of every thread, read just before py-spy
                         (py-spy's ptrace attach interrupts blocked system calls, so a read
                         right after it can show a deadlocked thread briefly running)
    tasks-after.tsv      the same, read 0.5 s after the last py-spy run
    task/TID/stack       the kernel stack of each thread (root only), before py-spy
    task/TID/status      /proc/PID/task/TID/status, before py-spy
    strace.log           strace -f -tt -p PID for N seconds       (with strace_seconds)
    strace-c.txt         strace -c -f -p PID for N seconds        (with strace_seconds)
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from ..errors import DumpError


class CaptureError(DumpError):
    """The capture could not be made (no py-spy, no permission, no such process)."""


PTRACE_HELP = ("py-spy needs ptrace permission on the target: run dumpx as root or as the "
               "process's user with kernel.yama.ptrace_scope=0 (sysctl), or in a container "
               "started with --cap-add SYS_PTRACE")


def _read(p: Path) -> str | None:
    try:
        return p.read_text(errors="backslashreplace")
    except OSError:
        return None


def snapshot_tasks(pid: int) -> tuple[str, dict[int, dict[str, str]]]:
    """tasks.tsv text and, per thread, the raw stack/status files (when readable)."""
    rows, files = [], {}
    base = Path(f"/proc/{pid}/task")
    for t in sorted(base.iterdir(), key=lambda p: int(p.name)):
        tid = int(t.name)
        comm = (_read(t / "comm") or "?").strip()
        stat = _read(t / "stat") or ""
        state = stat.rsplit(")", 1)[-1].split()[0] if ")" in stat else "?"
        wchan = (_read(t / "wchan") or "?").strip() or "0"
        rows.append(f"{tid}\t{comm}\t{state}\t{wchan}")
        files[tid] = {k: v for k in ("stack", "status") if (v := _read(t / k)) is not None}
    return "\n".join(rows) + "\n", files


def _run(cmd: list[str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def capture(pid: int, out: str | os.PathLike, *, locals_: bool = False, native: bool = False,
            strace_seconds: float = 0, py_spy: str | None = None) -> Path:
    """Capture the evidence bundle of process ``pid`` into directory ``out``."""
    out = Path(out)
    if not Path(f"/proc/{pid}").exists():
        raise CaptureError(f"no process {pid}")
    exe = py_spy or shutil.which("py-spy")
    if not exe:
        raise CaptureError("py-spy is not installed (pip install py-spy)")
    out.mkdir(parents=True, exist_ok=True)
    meta = {"pid": pid, "started": time.time(), "commands": [], "errors": []}
    runs = [("pyspy.txt", [exe, "dump", "--pid", str(pid)]),
            ("pyspy.json", [exe, "dump", "--pid", str(pid), "--json"])]
    if locals_:
        runs.append(("pyspy-locals.txt", [exe, "dump", "--pid", str(pid), "--locals"]))
    if native:
        runs.append(("pyspy-native.txt", [exe, "dump", "--pid", str(pid), "--native"]))
    tasks = snapshot_tasks(pid)
    meta["tasks_read_at"] = time.time()
    for name, cmd in runs:
        r = _run(cmd, 60)
        meta["commands"].append(cmd)
        if r.returncode != 0:
            err = (r.stderr or r.stdout).strip()
            meta["errors"].append({"command": cmd, "error": err})
            if "ermission" in err or "ptrace" in err.lower():
                (out / "meta.json").write_text(json.dumps(meta, indent=2))
                raise CaptureError(f"py-spy could not read process {pid}: {err.splitlines()[-1] if err else ''}; "
                                   + PTRACE_HELP)
            continue
        (out / name).write_text(r.stdout)
    time.sleep(0.5)
    (out / "tasks-after.tsv").write_text(snapshot_tasks(pid)[0])
    (out / "tasks.tsv").write_text(tasks[0])
    for tid, files in tasks[1].items():
        d = out / "task" / str(tid)
        d.mkdir(parents=True, exist_ok=True)
        for k, v in files.items():
            (d / k).write_text(v)
    if strace_seconds and shutil.which("strace"):
        for name, args in (("strace.log", ["-f", "-tt", "-o", str(out / "strace.log")]),
                           ("strace-c.txt", ["-c", "-f", "-o", str(out / "strace-c.txt")])):
            p = subprocess.Popen(["strace", *args, "-p", str(pid)], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, text=True)
            time.sleep(strace_seconds)
            p.send_signal(signal.SIGINT)
            try:
                _, err = p.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                _, err = p.communicate()
            meta["commands"].append(["strace", *args, "-p", str(pid)])
            if p.returncode not in (0, None) and not (out / name).exists():
                meta["errors"].append({"command": name, "error": (err or "").strip()[-500:]})
    meta["finished"] = time.time()
    (out / "meta.json").write_text(json.dumps(meta, indent=2))
    return out
