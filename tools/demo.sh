#!/usr/bin/env bash
# demo.sh - the README's first command: installs what is missing, builds,
# and runs the main job on the built-in example: the demo backend under the
# agent (with the mock LLM provider behind it), driven by the load
# generator, then the suite's performance gate report (`chimcollect quick`).
# The first time, a short run is saved as the baseline the gate compares
# against. Extra arguments go to `chimcollect quick` (e.g. --out reports).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/deps.sh
echo "demo: building (build/) ..." >&2
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCHIM_TESTS=OFF >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
if ! ls performance_baselines/performance_baseline_*.json >/dev/null 2>&1; then
  echo "demo: no baseline yet: recording one (5 s run) ..." >&2
  # Its own gate fails (nothing to compare with yet): what counts is the file.
  build/bin/chimcollect quick --duration 5 --no-baseline --save-baseline >/dev/null || true
  ls performance_baselines/performance_baseline_*.json >/dev/null 2>&1 ||
    echo "demo: the baseline run saved nothing; the regression gate will say NO DATA" >&2
fi
exec build/bin/chimcollect quick "$@"
