"""The ``dumpx`` command line. Each command lives in its own module."""

from __future__ import annotations

import argparse
import sys
import warnings

from ..errors import DumpError, DumpWarning
from ..render import safe_text

# command name -> the module that adds its parser and runs it, in the order --help lists them
COMMANDS = {"examine": "examine", "fleet": "fleet", "info": "info", "hprof": "hprof",
            "goroutines": "goroutines", "pyspy": "pyspy", "core": "core", "minidump": "minidump"}


def command_of(argv: list[str]) -> str | None:
    """The command an argument list names (its first positional argument past the global
    options), or None: then every command's parser is built, as for ``--help``."""
    it = iter(argv)
    for a in it:
        if a == "--max-decompressed":
            next(it, None)
        elif not a.startswith("-"):
            return a if a in COMMANDS else None
        elif a in ("-h", "--help"):
            return None
    return None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser: every command's, or ``only`` the named one's (a run imports
    and builds just the command it runs)."""
    import importlib
    from .. import __version__
    p = argparse.ArgumentParser(
        prog="dumpx", description="Cross-examine crash and heap dumps.",
        epilog="exit status: 0 the input was read whole; 1 it was damaged or partial (the results say "
               "what was lost); 2 an error: unreadable, unsupported or the wrong kind of file, or a usage error")
    p.add_argument("--version", action="version", version=f"dumpx {__version__}")
    p.add_argument("--max-decompressed", metavar="SIZE",
                   help="cap on the bytes a compressed dump may decompress to (e.g. 50G; default: 90%% of the "
                        "work directory's free space when spilling, DUMPX_MAX_DECOMPRESSED when set)")
    sub = p.add_subparsers(dest="command", required=True)
    for name, mod in COMMANDS.items():
        if only is None or name == only:
            importlib.import_module(f"{__name__}.{mod}").add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(command_of(argv)).parse_args(argv)
    import os
    from ..sources import parse_size
    given = args.max_decompressed or os.environ.get("DUMPX_MAX_DECOMPRESSED")
    if given:
        try:
            os.environ["DUMPX_MAX_DECOMPRESSED"] = str(parse_size(given))
        except ValueError as e:
            print(f"dumpx: {'--max-decompressed' if args.max_decompressed else 'DUMPX_MAX_DECOMPRESSED'}: {e}",
                  file=sys.stderr)
            return 2
    # the commands print every problem with their results; Python's warning lines would repeat them
    warnings.simplefilter("ignore", DumpWarning)
    from .. import findings as _findings
    _findings.COLOUR = _findings.colour_enabled(sys.stdout)
    try:
        return int(args.run(args) or 0)
    except BrokenPipeError:
        # the reader (head, less) has gone: end quietly, and keep the interpreter from complaining
        # when it flushes stdout on the way out
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except DumpError as e:
        print(f"dumpx: {safe_text(e)}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"dumpx: {safe_text(e)}", file=sys.stderr)
        return 2


def entry() -> None:
    """The ``dumpx`` command: ``main`` and then a fast exit. A run over a big dump leaves hundreds of
    thousands of objects whose teardown costs a sixth of a short command; output is flushed and
    atexit handlers run first (dumpx's spill files are unlinked when created, so nothing is left)."""
    import atexit
    import os
    # dumpx never calls BLAS; numpy's OpenBLAS threads would otherwise spin beside the scan on the
    # other cores (9 % of a 2-core machine's cycles on a goroutine dump). The command's process only.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    rc = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        pass
    atexit._run_exitfuncs()
    os._exit(rc)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
