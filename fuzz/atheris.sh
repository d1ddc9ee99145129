#!/usr/bin/env bash
# Coverage-guided fuzzing of one format with atheris (libFuzzer), the Cython kernels rebuilt with
# AddressSanitizer and UndefinedBehaviorSanitizer in a scratch copy of the tree.
#   fuzz/atheris.sh FORMAT [SECONDS]        FORMAT: hprof | core | goroutines | pyspy
# DUMPX_ASAN_REUSE=1 keeps the sanitized build of a previous run (it takes about a minute).
# Needs: clang, pip install atheris. Crashes land in fuzz/regressions/FORMAT/ (replayed by tests).
set -euo pipefail
fmt=${1:?format}; secs=${2:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
work=${DUMPX_ASAN_TREE:-/tmp/dumpx-asan}
if [ "${DUMPX_ASAN_REUSE:-0}" != 1 ] || [ ! -d "$work/src" ]; then     # reuse: skip the rebuild
    rm -rf "$work"; mkdir -p "$work"
    cp -r "$root/src" "$root/setup.py" "$root/pyproject.toml" "$work/"
    find "$work/src" -name '*.so' -delete
    (cd "$work" && CC=clang CXX=clang++ \
        CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g -O1" \
        LDFLAGS="-fsanitize=address,undefined" \
        python setup.py -q build_ext --inplace >/dev/null)
fi
lib=$(python -c 'import atheris, os; print(os.path.join(atheris.path(), "asan_with_fuzzer.so"))')
mkdir -p "$root/fuzz/regressions/$fmt" "$work/corpus-$fmt"
ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1 \
LD_PRELOAD="$lib" PYTHONPATH="$work/src" \
    python "$root/fuzz/coverage.py" "$fmt" -max_total_time="$secs" -rss_limit_mb=4096 -timeout=20 \
        -artifact_prefix="$root/fuzz/regressions/$fmt/" "$work/corpus-$fmt"
