"""Cross-check with valgrind: the corpus program's leaked bytes and blocks
(definitely + indirectly lost) under `valgrind --leak-check=full` equal what
full mode's exit scan reports for the program's own sites."""
import re
import shutil
from leaktest import *

if not shutil.which("valgrind"):
    skip("valgrind not installed")
prog = os.path.join(TBIN, "leak_basic")
vg = subprocess.run(["valgrind", "--leak-check=full", prog], capture_output=True, text=True)
lost = {}
for kind in ("definitely", "indirectly"):
    m = re.search(kind + r" lost: ([\d,]+) bytes in ([\d,]+) blocks", vg.stderr)
    lost[kind] = tuple(int(x.replace(",", "")) for x in m.groups()) if m else (0, 0)
vb = lost["definitely"][0] + lost["indirectly"][0]
vn = lost["definitely"][1] + lost["indirectly"][1]
d = run_prog("leak_basic", "full")
r = leaks(d)
mine = [s for s in r["sites"] if s["class"] == "leak"]
cb, cn = sum(s["bytes"] for s in mine), sum(s["count"] for s in mine)
check((cb, cn) == (vb, vn), f"leaked: chimera {cb} B in {cn} blocks, valgrind {vb} B in {vn} blocks")
ind = r["processes"][0]["scan"]["indirect_bytes"]
check(ind == lost["indirectly"][0], f"indirectly lost: chimera {ind} B, valgrind {lost['indirectly'][0]} B")
finish([d])
