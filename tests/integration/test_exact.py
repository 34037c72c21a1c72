"""Exactness: a program with a known sequence of allocations through every
entry point, in four threads and a forked child. The report's counts, minus
those of the same program without the sequence, equal what it did."""
import json
import os
import subprocess
from chimtest import *

FIELDS = ["allocs", "frees", "failed", "bytes_requested", "bytes_allocated", "bytes_freed"]


def run(enabled):
    d = segdir()
    out = os.path.join(d, "expect")
    subprocess.run([COLLECT, "run", "--quiet", "--dir", d, "--",
                    os.path.join(TBIN, "alloc_exact"), str(enabled), out], check=True)
    r = report(d)
    procs = sorted(r["processes"], key=lambda p: p["ppid"] == r["processes"][0]["pid"])
    parent = [p for p in r["processes"] if not p["forked_child"]]
    child = [p for p in r["processes"] if p["forked_child"]]
    assert len(parent) == 1 and len(child) == 1, r["processes"]
    exp = {role: json.load(open(out + "." + role)) for role in ("parent", "child")}
    return d, parent[0], child[0], exp


d0, p0, c0, _ = run(0)
d1, p1, c1, exp = run(1)
for role, a, b in (("parent", p0, p1), ("child", c0, c1)):
    check(b["state"] == "exited", f"{role} state exited ({b['state']})")
    for f in FIELDS:
        got = b["memory"][f] - a["memory"][f]
        check(got == exp[role][f], f"{role} {f}: report delta {got} == program's {exp[role][f]}")
    live = b["memory"]["live_bytes"] - a["memory"]["live_bytes"]
    want = exp[role]["bytes_allocated"] - exp[role]["bytes_freed"]
    if role == "child":  # the child starts with the parent's live bytes at fork
        want += (exp["parent"]["bytes_allocated"] - exp["parent"]["bytes_freed"])
    check(live == want, f"{role} live_bytes delta {live} == {want}")
check(c1["ppid"] == p1["pid"], "child's ppid is the parent")
check(p1["threads_seen"] >= 4, f"threads seen {p1['threads_seen']} >= 4")
finish([d0, d1])
