"""Full mode, dense small blocks: runs of 32-byte chunks packed together, in
two threads, with holes freed and refilled. Every leak exact, the kept
blocks retained, nothing dropped (an address table with one home per 128
bytes dropped 107 170 of these blocks)."""
from leaktest import *

dirs = []
d = run_prog("leak_dense", "full")
dirs.append(d)
r = leaks(d)
p = r["processes"][0]
check(p["scan"]["state"] == "done", "exit scan done")
check(p["tracked_dropped"] == 0, f"no block dropped ({p['tracked_dropped']})")
check_exact(r, "leak_dense", expectations("leak_dense"), "leak_dense")
finish(dirs)
