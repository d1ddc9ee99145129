"""atheris entry (see fuzz/atheris.sh): libFuzzer mutates, seeded with the harness's seeds; any
exception that is not a DumpError, and any sanitizer report from the kernels, is a finding."""

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent))
with atheris.instrument_imports(include=["dumpx"]):
    import importlib
    import pkgutil

    import dumpx  # noqa: F401
    from dumpx.errors import DumpError
    # every module now, inside the block: the readers are imported lazily, and a module imported
    # after it would give libFuzzer no coverage to steer by
    for m in pkgutil.walk_packages(dumpx.__path__, "dumpx."):
        if not m.name.startswith("dumpx._native") and not m.name.endswith("__main__"):
            importlib.import_module(m.name)
import harness  # noqa: E402
import dumpx.elf.image  # noqa: E402

# cxxfilt frees __cxa_demangle's buffer with libc's free() through ctypes, which the sanitizer's
# interposed allocator does not own: under this preload it aborts on any mangled name, in the
# fuzzing setup, not in dumpx. Names stay mangled here; the kernels are what this run is for.
dumpx.elf.image._demangle = lambda name: name

FMT = sys.argv.pop(1)
CORPUS = Path(sys.argv[-1])
CORPUS.mkdir(parents=True, exist_ok=True)
for i, s in enumerate(harness.seeds(FMT)):
    (CORPUS / f"seed-{i}").write_bytes(s)


def one(data: bytes) -> None:
    try:
        harness.run_entry(FMT, data, cli=False)
    except DumpError:
        pass


atheris.Setup(sys.argv, one)
atheris.Fuzz()
