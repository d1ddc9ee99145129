"""One dump of a fleet, read as ``dumpx examine`` reads it and reduced to what a fleet compares.

A summary is a small JSON-able dict: it is what travels back from a worker (never the dump), what
the resume journal keeps, and what the reductions in ``dumpx.fleets.reduce`` read. Its ``facts``
are per family:

- goroutine dumps: goroutines, the functions of the program and its libraries on any stack with how
  many goroutines run them (the runtime's and ``sync``/``time`` plumbing left out; at most
  ``MAX_FUNCTIONS``, the rest counted), the largest stuck sets, the absent-counterpart readings;
- cores and minidumps (a minidump through ``Minidump.process()``, the cores' unwinder): the signal, the
  crashing thread's top frames with their trust, the faulting
  module, every module's build-id;
- HPROF: objects, the largest retainer's accumulation point (class, retained bytes, the classes on
  its path from the GC roots);
- everything: the findings' kinds and severities, and a ``signature`` the clusters are made of.
"""

from __future__ import annotations

import os
import time
import warnings
from typing import Any

MAX_FUNCTIONS = 2000
PARTIAL = ("-truncated", "-damaged", "-partial")     # finding kinds that say the dump is not whole
TOP_FRAMES = 3


def input_key(path: str) -> str:
    """How the resume journal knows an input again: a local file by path, size and modification
    time (a dump rewritten under the same name is read again); a URL by itself."""
    if "://" in path:
        return path
    try:
        st = os.stat(path)
    except OSError:
        return path
    return f"{path}|{st.st_size}|{int(st.st_mtime_ns)}"


def summarize(path: str, options: dict | None = None) -> dict[str, Any]:
    """Examine one input and keep its comparable facts. Never raises for a bad dump: the error is
    the summary (type, offset, message); ``MemoryError`` (the worker's memory limit) says so."""
    from ..examination import _examine_one
    options = options or {}
    t = time.perf_counter()
    out: dict[str, Any] = {"input": path, "key": input_key(path), "pid": os.getpid()}
    local, cleanup = path, None
    try:
        if "://" in path:
            local, cleanup = _fetch(path)
        facts: dict[str, Any] = {}

        def inspect(fmt, reader, e):
            facts.update(_facts(fmt, reader, e, options))
        with warnings.catch_warnings():          # truncation and damage are findings here already
            warnings.simplefilter("ignore")
            e = _examine_one(local, binaries=tuple(options.get("binaries", ())),
                             search_paths=tuple(options.get("search_paths", ())),
                             expect=tuple(options.get("expect", ())), then=None,
                             graph=options.get("graph", True), inspect=inspect)
        out["format"] = e.format
        if e.error is not None:
            out["status"] = "error"
            out["error"] = {"type": type(e.error).__name__, "offset": e.error.offset, "message": e.error.message}
        elif any(f.kind.endswith(PARTIAL) for f in e.findings):
            out["status"] = "partial"
            cut = next(f for f in e.findings if f.kind.endswith(PARTIAL))
            out["error"] = {"type": cut.kind, "offset": _ev(cut, "offset"), "message": cut.title}
        else:
            out["status"] = "ok"
        out["findings"] = [[f.kind, str(f.severity)] for f in e.findings.sorted()]
        out["facts"] = facts
        out["signature"] = _signature(e.format, facts, out)
    except MemoryError:
        out["status"] = "memory-limit"
        out["error"] = {"type": "MemoryError", "offset": None,
                        "message": "the dump needed more memory than the worker's limit"}
        out["signature"] = "memory-limit"
    except Exception as err:          # a bug in dumpx, not the dump: kept as data, never the end of the run
        out["status"] = "error"
        out["error"] = {"type": type(err).__name__, "offset": None, "message": f"internal error: {err}"}
        out["signature"] = f"internal error: {type(err).__name__}"
    finally:
        if cleanup is not None:
            cleanup()
    out["seconds"] = round(time.perf_counter() - t, 4)
    return out


def _fetch(url: str):
    """An object-store or remote input, read by the worker itself into a local spill file."""
    import tempfile
    try:
        import fsspec
    except ImportError as err:
        raise RuntimeError("reading URLs needs fsspec (pip install 'dumpx[fleet]')") from err
    fd, tmp = tempfile.mkstemp(prefix="dumpx-fleet-", dir=os.environ.get("DUMPX_TMPDIR"))
    with os.fdopen(fd, "wb") as dst, fsspec.open(url, "rb") as src:
        while True:
            piece = src.read(8 << 20)
            if not piece:
                break
            dst.write(piece)
    return tmp, lambda: os.unlink(tmp)


def _facts(fmt: str, reader, e, options) -> dict[str, Any]:
    if fmt.startswith("go-"):
        return _goroutine_facts(reader, e)
    if fmt == "elf-core":
        return _core_facts(reader, options)
    if fmt == "hprof" and options.get("graph", True):
        return _heap_facts(reader)
    if fmt == "minidump":
        return _minidump_facts(reader, options)
    return {}


def _goroutine_facts(d, e) -> dict[str, Any]:
    import numpy as np

    from ..arrays import unique
    from ..goroutines.analysis import _index, stuck_set
    from ..goroutines.model import plumbing_package
    ix = _index(d)
    T = d.stacks
    per_stack = np.bincount(ix.gstack, weights=ix.count, minlength=len(T))
    pairs = unique(T.frame_stack() * max(len(T.func_package), 1) + T.func) if len(T.func) else np.zeros(0, np.int64)
    f_stack, f_func = pairs // max(len(T.func_package), 1), pairs % max(len(T.func_package), 1)
    own = ~np.array([plumbing_package(p) for p in T.package_names] or [True], bool)[T.func_package[f_func]] \
        if len(f_func) else np.zeros(0, bool)
    per_func = np.bincount(f_func[own], weights=per_stack[f_stack[own]], minlength=len(T.func_package))
    funcs = np.flatnonzero(per_func)
    keep = funcs[np.argsort(-per_func[funcs], kind="stable")][:MAX_FUNCTIONS]
    stuck = stuck_set(d).head(5)
    absent = [[f.kind.removeprefix("go-absent-"), _ev(f, "waiting to receive in") or _ev(f, "waiting to send in"),
               _ev(f, "waiting goroutines")]
              for f in e.findings if f.kind.startswith("go-absent-") and f.severity.name in ("CRITICAL", "WARNING")]
    return {"goroutines": int(d.total), "distinct_stacks": len(T),
            "functions": {T.name(int(f)): int(per_func[f]) for f in keep.tolist()},
            "functions_left_out": int(max(len(funcs) - MAX_FUNCTIONS, 0)),
            "stuck": [[r["state"], r["top_function"], int(r["count"])] for r in stuck.rows()],
            "absent": absent}


def _ev(f, label):
    return next((e.value for e in f.evidence if e.label == label), None)


def _core_facts(c, options) -> dict[str, Any]:
    sig = c.siginfo or {}
    modules = {}
    for m in c.modules():
        name = (m.path or "").rsplit("/", 1)[-1]
        if name and not name.startswith("["):
            modules[name] = m.build_id
    frames, faulting = [], None
    try:
        bts = c.backtraces(tuple(options.get("binaries", ())), tuple(options.get("search_paths", ())))
    except Exception:            # the unwinder's own refusals are findings elsewhere; the signature goes on
        bts = []
    if bts:
        top = bts[0].frames[:TOP_FRAMES]
        frames = [[f.function or (f"{_file_name(f.module)}+0x{f.module_offset:x}" if f.module else "??"),
                   str(f.trust)] for f in top]
        if top and top[0].module:
            faulting = _file_name(top[0].module)
    return {"signal": sig.get("signal"), "si_code": sig.get("code"), "crash_frames": frames,
            "faulting_module": faulting, "modules": modules, "threads": len(c.threads)}


def _file_name(path: str) -> str:
    """A module's file name, from a POSIX or a Windows path."""
    return path.replace("\\", "/").rsplit("/", 1)[-1]


def _minidump_facts(m, options) -> dict[str, Any]:
    """A minidump read as a core (``Minidump.process()``: the same unwinder and module list)."""
    facts = _core_facts(m.process(), options)
    if not facts.get("signal") and m.exception is not None:
        code, os_name = m.exception.code, m.system.get("os")
        if os_name in ("Linux", "Android"):
            from ..elf.core import SIGNALS
            facts["signal"] = SIGNALS.get(code, f"signal {code}")
        elif os_name == "Windows":
            from ..minidump.windows import exception_name
            facts["signal"] = exception_name(code, m.exception.parameters)
        else:
            facts["signal"] = f"exception 0x{code:x}"
    for mod in m.modules:                       # Windows modules carry a PDB debug id instead
        name = _file_name(str(mod.name or ""))
        if name and not facts["modules"].get(name):
            facts["modules"][name] = mod.build_id or mod.debug_id
    return facts


def _heap_facts(h) -> dict[str, Any]:
    g = h.graph()
    top = g.top_retained(1)
    if not len(top):
        return {"objects": int(len(g.ids))}
    v = int(top["vertex"][0])
    ap = g.accumulation_point(v)
    path = [s["class_name"] for s in g.path_to(ap)][-4:]
    return {"objects": int(len(g.ids)), "top_retained_bytes": int(g.retained[v]),
            "accumulation": {"class": g.class_name(ap), "retained": int(g.retained[ap]),
                             "dominated": int(g.dominated(ap)), "path": path}}


def _signature(fmt: str | None, facts: dict, out: dict) -> str:
    """What the clusters are made of: the normalised reading a senior would group dumps by."""
    if out.get("status") not in ("ok", "partial"):
        return f"unreadable: {out['error']['type']}"
    fmt = fmt or ""
    if fmt.startswith("go-"):
        if facts.get("absent"):
            return "; ".join(sorted({f"absent {role}: goroutines wait in {func}" for role, func, _ in facts["absent"]}))
        if facts.get("stuck"):
            return "; ".join(f"stuck in {st} at {fn}" for st, fn, _ in facts["stuck"][:2])
        return "no stuck set"
    if fmt in ("elf-core", "minidump"):
        frames = " <- ".join(f"{f} [{trust}]" for f, trust in facts.get("crash_frames", [])) or "no frames"
        return f"{facts.get('signal') or 'no signal'} in {facts.get('faulting_module') or '?'}: {frames}"
    if fmt == "hprof":
        acc = facts.get("accumulation")
        if acc:
            return f"accumulates in {acc['class']} via {' -> '.join(acc['path'][-2:])}"
        return "no retainer"
    severe = sorted({k for k, sev in out.get("findings", []) if sev in ("critical", "warning")})
    return ", ".join(severe) or "no warnings"
