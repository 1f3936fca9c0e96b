#!/bin/sh
# The whole test suite, from a clean clone on Debian 12:
#   1. install the packages (tests/deps.sh)
#   2. build with -Werror and run every test (unit and integration),
#      then the demo (tests/demo.sh) on that build
#   3. build with AddressSanitizer + UBSan and run every test again
#   4. build the libFuzzer targets with clang and fuzz for a bounded time
#   5. run the benchmark in its quick form, so it cannot rot
# Exits non-zero at the first failure.  FUZZ_SECONDS (default 60) bounds
# each fuzz target.
set -eu

cd "$(dirname "$0")/.."
ROOT=$(pwd)
JOBS=$(nproc 2>/dev/null || echo 2)
FUZZ_SECONDS=${FUZZ_SECONDS:-60}

step() { printf '\n==> %s\n' "$*"; }

step "packages"
sh tests/deps.sh

step "build (release, -Werror) and test"
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKW_WERROR=ON
cmake --build build/release -j "$JOBS"
(cd build/release && ctest --output-on-failure -j "$JOBS")

step "demo (the README's first command)"
# The mail domain of tests/demo.sh on the release build just made: it
# fails, naming the step, when a step does not give what it claims.
sh tests/demo.sh --no-deps

step "build with AddressSanitizer + UBSan and test"
cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DKW_WERROR=ON \
      -DKW_SANITIZE=ON -DKW_BUILD_BENCH=OFF
cmake --build build/asan -j "$JOBS"
(cd build/asan &&
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --output-on-failure -j "$JOBS")

step "fuzz (libFuzzer, ${FUZZ_SECONDS}s per target, $JOBS at a time)"
# tests/fuzz/fuzz.sh holds the targets and their seeds; campaign.sh runs
# the same targets for hours, outside CI.  Each fuzzer uses one core, so
# they run $JOBS at a time; each one's output is shown when it ends.
sh tests/fuzz/fuzz.sh build build/fuzz >/dev/null
rm -rf build/fuzz/corpus build/fuzz/logs
mkdir -p build/fuzz/logs
set -- $(sh tests/fuzz/fuzz.sh targets)
while [ $# -gt 0 ]; do
    batch=""
    while [ $# -gt 0 ] && [ "$(echo $batch | wc -w)" -lt "$JOBS" ]; do
        sh tests/fuzz/fuzz.sh run build/fuzz "$1" "$FUZZ_SECONDS" \
            "build/fuzz/corpus/$1" >"build/fuzz/logs/$1" 2>&1 &
        batch="$batch $!:$1"
        shift
    done
    for job in $batch; do
        if wait "${job%%:*}"; then
            cat "build/fuzz/logs/${job#*:}"
        else
            cat "build/fuzz/logs/${job#*:}"
            echo "run.sh: fuzz target ${job#*:} failed" >&2
            exit 1
        fi
    done
done

step "benchmarks (quick form)"
build/release/tests/bench_inventory --quick --dir "$ROOT/build"
build/release/tests/bench_daemon --quick --dir "$ROOT/build"
build/release/tests/bench_acme --quick --dir "$ROOT/build"
build/release/tests/bench_hooks --quick --dir "$ROOT/build"
build/release/tests/bench_config --dir "$ROOT/build"
build/release/tests/bench_dkim --quick --dir "$ROOT/build"
build/release/tests/bench_dkim_rotate --quick --dir "$ROOT/build"
build/release/tests/bench_dnssec_check --quick --dir "$ROOT/build"

step "all tests passed"
