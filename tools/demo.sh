#!/usr/bin/env bash
# demo.sh - the README's first command: installs what is missing, builds,
# and runs the main job on the built-in example: the demo backend under the
# agent, driven by the load generator, then the performance gate report
# (`chimcollect quick`). Extra arguments go to `chimcollect quick`.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
if build/bin/chimcollect quick --help >/dev/null 2>&1; then
  exec build/bin/chimcollect quick "$@"
fi
# Until the runner lands: a multi-threaded example under the agent.
exec build/bin/chimcollect run -- build/tests/bin/threads_work 4
