"""atheris entry (see fuzz/atheris.sh): libFuzzer mutates, seeded with the harness's seeds; any
exception that is not a DumpError, and any sanitizer report from the kernels, is a finding."""

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent))
with atheris.instrument_imports(include=["dumpx"]):
    import dumpx  # noqa: F401
    from dumpx.errors import DumpError
import harness  # noqa: E402

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
