"""`chimcollect full` with short scenarios (labelled slow: PERF_SKIP_SLOW_TESTS
=true leaves it out): every scenario prints its line, the repeated end-to-end
runs are gated, the report files and a multi-run baseline are written, and
nothing is left running."""
import json
import os
import subprocess
import tempfile
from chimtest import *

work = tempfile.mkdtemp(prefix="chimfull-")
seg = segdir()
env = dict(os.environ, CHIM_DIR=seg, PERF_CONCURRENT_USERS="10", PERF_REQUEST_RATE="30")
env.pop("PERF_SKIP_SLOW_TESTS", None)
out = subprocess.run([COLLECT, "full", "--duration", "4", "--runs", "3", "--set",
                      "min_cache_hit_ratio=0.5"], cwd=work, env=env, capture_output=True,
                     text=True, timeout=600)
print(out.stdout)
print(out.stderr[-2000:])
check(out.returncode in (0, 1), f"full ran (exit {out.returncode})")
for what in ("generate P95", "LLM provider P95", "batch throughput", "batch P95", "cache hit ratio", "cache speedup",
             "single P95", "memory per request", "8-entry cache", "closed-loop maximum",
             "live heap at exit", "parallel speedup", "peak RSS with glibc",
             "peak RSS with jemalloc", "reduction with jemalloc", "stability"):
    scen = out.stdout.split("End to end")[0]
    line = [l for l in scen.splitlines() if what in l]
    check(len(line) == 1 and "NO DATA" not in line[0], f"scenario line: {line[:1]}")
check("End to end (3 runs of the API mix)" in out.stdout and "Gates Passed:" in out.stdout,
      "end-to-end gate printed")
reports = os.listdir(os.path.join(work, "performance_reports"))
check(len(reports) == 3, f"report files: {sorted(reports)}")
bases = os.listdir(os.path.join(work, "performance_baselines"))
check(len(bases) == 1, "one baseline saved")
if bases:
    b = json.load(open(os.path.join(work, "performance_baselines", bases[0])))
    check(len(b.get("runs", [])) == 3, f"the baseline holds the 3 runs ({len(b.get('runs', []))})")
check(os.listdir(seg) == [], "no run directories left")
finish([work, seg])
