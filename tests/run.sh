#!/bin/sh
# The whole test suite, from a clean clone on Debian 12:
#   1. install the packages (tests/deps.sh)
#   2. build with -Werror and run every test (unit and integration)
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

step "build with AddressSanitizer + UBSan and test"
cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DKW_WERROR=ON \
      -DKW_SANITIZE=ON -DKW_BUILD_BENCH=OFF
cmake --build build/asan -j "$JOBS"
(cd build/asan &&
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --output-on-failure -j "$JOBS")

step "fuzz (libFuzzer, ${FUZZ_SECONDS}s per target)"
CC=clang cmake -S . -B build/fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DKW_FUZZ=ON -DKW_BUILD_TESTS=OFF -DKW_BUILD_BENCH=OFF
cmake --build build/fuzz -j "$JOBS" --target fuzz_certfile fuzz-seeds \
      fuzz_acme_headers fuzz_dns_answer
rm -rf build/fuzz/seeds build/fuzz/corpus
mkdir -p build/fuzz/corpus
build/fuzz/tests/fuzz-seeds build/fuzz/seeds
# libFuzzer reports every new input; keep that in a log and show its end.
if ! build/fuzz/tests/fuzz_certfile -max_total_time="$FUZZ_SECONDS" \
        -max_len=16384 -print_final_stats=1 \
        -artifact_prefix=build/fuzz/ build/fuzz/corpus build/fuzz/seeds \
        > build/fuzz/fuzz.log 2>&1; then
    tail -n 80 build/fuzz/fuzz.log
    echo "fuzz_certfile failed; the input is in build/fuzz/ (crash-*)" >&2
    exit 1
fi
grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)' \
    build/fuzz/fuzz.log
# The ACME client's response headers (Link, Retry-After, Replay-Nonce...).
rm -rf build/fuzz/hdr-seeds build/fuzz/hdr-corpus
mkdir -p build/fuzz/hdr-seeds build/fuzz/hdr-corpus
printf 'HTTP/1.1 201 Created\r\nReplay-Nonce: abc_-\r\nLocation: https://ca/o/1\r\nRetry-After: 30\r\nLink: <https://ca/dir>;rel="index", <https://ca/alt/1>; rel="alternate", <https://ca/issuer>;rel=up\r\nContent-Type: application/json\r\n\r\n' \
    > build/fuzz/hdr-seeds/order
printf 'Retry-After: Wed, 21 Oct 2026 07:28:00 GMT\r\n' \
    > build/fuzz/hdr-seeds/date
if ! build/fuzz/tests/fuzz_acme_headers -max_total_time="$FUZZ_SECONDS" \
        -print_final_stats=1 -artifact_prefix=build/fuzz/ \
        build/fuzz/hdr-corpus build/fuzz/hdr-seeds \
        > build/fuzz/fuzz-headers.log 2>&1; then
    tail -n 80 build/fuzz/fuzz-headers.log
    echo "fuzz_acme_headers failed; the input is in build/fuzz/ (crash-*)" >&2
    exit 1
fi
grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)' \
    build/fuzz/fuzz-headers.log
# DNS answers as the dns-01 wait reads them (a hostile server's bytes).
rm -rf build/fuzz/dns-seeds build/fuzz/dns-corpus
mkdir -p build/fuzz/dns-seeds build/fuzz/dns-corpus
printf '\022\064\204\000\000\001\000\001\000\000\000\000\017_acme-challenge\007example\003com\000\000\020\000\001\300\014\000\020\000\001\000\000\000\074\000\022\021value-we-wait-for' \
    > build/fuzz/dns-seeds/txt
if ! build/fuzz/tests/fuzz_dns_answer -max_total_time="$FUZZ_SECONDS" \
        -print_final_stats=1 -artifact_prefix=build/fuzz/ \
        build/fuzz/dns-corpus build/fuzz/dns-seeds \
        > build/fuzz/fuzz-dns.log 2>&1; then
    tail -n 80 build/fuzz/fuzz-dns.log
    echo "fuzz_dns_answer failed; the input is in build/fuzz/ (crash-*)" >&2
    exit 1
fi
grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)' \
    build/fuzz/fuzz-dns.log

step "benchmarks (quick form)"
build/release/tests/bench_inventory --quick --dir "$ROOT/build"
build/release/tests/bench_daemon --quick --dir "$ROOT/build"
build/release/tests/bench_acme --quick --dir "$ROOT/build"
build/release/tests/bench_hooks --quick --dir "$ROOT/build"

step "all tests passed"
