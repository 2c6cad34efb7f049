#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test:
#   1. the optimised build: unit tests, Node interoperability and CLI tests, benchmark smoke runs;
#   2. a second build under AddressSanitizer + UndefinedBehaviorSanitizer: unit, CLI and
#      interoperability tests again;
#   3. a third build with clang and libFuzzer: every fuzz target (tests/fuzz) for 20 s under
#      ASan + UBSan (scripts/fuzz.sh; FUZZ_SECONDS changes the time per target).
# Usage: scripts/test.sh            (CI: .ci/run calls exactly this)
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-$(nproc)}

scripts/install-deps.sh

echo "== build (RelWithDebInfo)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$JOBS"
echo "== tests (RelWithDebInfo)"
ctest --test-dir build --output-on-failure -j "$JOBS"

echo "== build (ASan + UBSan)"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DFLASHWIRE_SANITIZE=ON \
  -DFLASHWIRE_BUILD_BENCH=OFF >/dev/null
cmake --build build-asan -j "$JOBS"
echo "== tests (ASan + UBSan)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j "$JOBS"

echo "== fuzzing (clang 14, libFuzzer, ASan + UBSan)"
JOBS="$JOBS" scripts/fuzz.sh "${FUZZ_SECONDS:-20}"
