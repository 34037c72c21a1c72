"""A long-running process, watched while it runs: the steadily growing site
is `leak`, the cache built once is `retained`, the site churning large
blocks is not a leak. Sample mode at the default rate and full mode; in full
mode the exit scan then agrees. In full mode a buffer grown by realloc is
one old block that grows (`leak` while running, `retained` at exit: still
reachable); in sample mode its birth is lost whenever one of its steps is
not sampled, so only full mode checks it."""
import time
from leaktest import *

exp = expectations("leak_grow")
line_of = {cls: line for line, (cls, _, _) in exp.items()}
with open(os.path.join(SRC, "leak_grow.c")) as f:
    journal = next(n for n, t in enumerate(f, 1) if "/* grown by realloc */" in t)
dirs = []
for mode in ("sample", "full"):
    d = segdir()
    dirs.append(d)
    p = subprocess.Popen([os.path.join(TBIN, "leak_grow"), "7"], env=agent_env(d, CHIM_MODE=mode),
                         stdout=subprocess.DEVNULL)
    time.sleep(2.0)
    r = leaks(d, "--pid", str(p.pid), "--watch", "3.5s", "--all")
    got = sites_of(r, "leak_grow")
    for cls in ("leak", "retained", "churn"):
        s = got.get(line_of[cls])
        check(bool(s) and s[0]["class"] == cls,
              f"{mode} running: leak_grow.c:{line_of[cls]} is {cls} "
              f"({s and (s[0]['class'], round(s[0]['growth_bytes_per_s']), s[0]['bytes'])})")
    g = got.get(line_of["leak"])
    check(bool(g) and g[0]["growth_bytes_per_s"] > 1e6,
          f"{mode}: growth {g and round(g[0]['growth_bytes_per_s'])} B/s > 1 MB/s (6.5 MB/s made)")
    j = got.get(journal)
    if mode == "full":
        check(bool(j) and j[0]["class"] == "leak" and 300e3 < j[0]["growth_bytes_per_s"] < 520e3
              and j[0]["oldest_age_s"] > 4.5,
              f"full running: the buffer grown by realloc is an old block that grows, a leak "
              f"({j and (j[0]['class'], round(j[0]['growth_bytes_per_s']), j[0]['oldest_age_s'])}; "
              f"409.6 kB/s made)")
    plain = leaks(d, "--pid", str(p.pid), "--watch", "1s")
    check(not [s for s in plain["sites"] if s["class"] == "churn"], f"{mode}: churn hidden without --all")
    p.wait()
    if mode == "full":
        r = leaks(d)
        got = sites_of(r, "leak_grow")
        check(got.get(line_of["leak"], [{}])[0].get("class") == "leak", "full at exit: growing site leaked")
        check(got.get(line_of["retained"], [{}])[0].get("class") == "retained", "full at exit: cache retained")
        check(line_of["churn"] not in got, "full at exit: churn not reported")
        j = got.get(journal, [{}])[0]
        check(j.get("class") == "retained" and j.get("bytes") == 700 * 4096,
              f"full at exit: the grown buffer is retained, {700 * 4096} bytes ({j.get('class')}, "
              f"{j.get('bytes')})")
finish(dirs)
