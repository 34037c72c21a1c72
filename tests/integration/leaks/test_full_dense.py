"""Full mode, dense small blocks: runs of 32-byte chunks, four per home of a
thread's first address table (one home per 128 bytes), most of them sent
to its second table. Every leak exact, the kept blocks retained, nothing
dropped, in two threads."""
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
