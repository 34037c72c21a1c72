#!/usr/bin/env bash
# test.sh - the README's second command: installs what is missing (build and
# test packages: real servers and clients the tests drive), builds with
# warnings as errors, and runs every test (unit, integration, fuzz) with ctest.
# PERF_SKIP_SLOW_TESTS=true leaves out the tests labelled slow.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/deps.sh --test
build=${CHIM_BUILD_DIR:-build}
cmake -S . -B "$build" -DCHIM_WERROR=ON -DCHIM_TESTS=ON >/dev/null
cmake --build "$build" -j"$(nproc)"
cd "$build"
args=(--output-on-failure --timeout 600)
[ "${PERF_SKIP_SLOW_TESTS:-false}" = "true" ] && args+=(-LE slow)
ctest "${args[@]}" "$@"
