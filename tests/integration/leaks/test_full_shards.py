"""Full mode, per-thread site deltas: three threads allocate from 70 sites
(more than a thread's 64 delta slots) for more events than a batch, and
hand blocks to other threads to free, also right after allocating them (a
relay through a small ring, while the allocating thread may still have the
block parked, not yet in the table). Each site's allocs and frees must be
exact once the process has exited, no churn site may show live bytes, and
the one leak must be exact."""
from leaktest import *

ROUNDS = 5000
THREADS, GIVE, KEEP, RELAY = 3, 256, 64, 20000
dirs = []
d = run_prog("leak_shards", "full", args=(ROUNDS,))
dirs.append(d)
r = leaks(d, "--all")
exp = expectations("leak_shards")
got = sites_of(r, "leak_shards")
churn = sorted(line for line, (cls, _, _) in exp.items() if cls == "churn")
leak = [line for line, (cls, _, _) in exp.items() if cls == "leak"][0]
SITES = len(churn)
want = [0] * SITES
for t in range(THREADS):  # the program's loops: site of each allocation
    for i in range(ROUNDS):
        want[(i * 7 + t) % SITES] += 1
    for k in range(GIVE):
        want[k % SITES] += 1
for i in range(RELAY):
    want[i % SITES] += 1
bad = []
for k, line in enumerate(churn):
    cs = got.get(line, [])
    a, f, live = (sum(s[x] for s in cs) for x in ("allocs", "frees", "live_bytes"))
    if (a, f, live) != (want[k], want[k], 0):
        bad.append((line, a, f, live, want[k]))
check(SITES == 70 and not bad, f"{SITES} churn sites: allocs == frees == expected, no live bytes "
                               f"(wrong: {bad[:5]})")
check(r["processes"][0]["scan"]["state"] == "done", "exit scan done")
ls = got.get(leak, [])
check(len(ls) == 1 and ls[0]["class"] == "leak" and ls[0]["count"] == 21 and
      ls[0]["bytes"] == 21000 and ls[0]["allocs"] == 21 and ls[0]["frees"] == 0,
      f"leak_shards.c:{leak} leak 21 blocks 21000 B ({[(s['class'], s['count'], s['bytes']) for s in ls]})")
finish(dirs)
