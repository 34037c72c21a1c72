"""Full mode: every leak of the corpus found at exit, exactly (blocks and
bytes per site, by function and line), retained blocks told apart, nothing
else reported: one site and many, indirect leaks, realloc chains,
realloc(NULL), calloc, the memalign family, strdup/strndup, a leak in a
second thread with a cross-thread free, a leak in a forked child. The
programs run with libunwind and with the default (frame pointers, libunwind
for callers in libc); the pure frame-pointer walk, which cannot see through
libc's strdup, runs the programs that do not allocate through libc."""
from leaktest import *

dirs = []
for unwind, progs in (("auto", ("leak_basic", "leak_threads")),
                      ("libunwind", ("leak_basic", "leak_threads")), ("fp", ("leak_threads",))):
    for prog in progs:
        d = run_prog(prog, "full", CHIM_UNWIND=unwind)
        dirs.append(d)
        r = leaks(d)
        check(len(r["processes"]) == 1 and r["processes"][0]["scan"]["state"] == "done",
              f"{prog}/{unwind}: exit scan done")
        check_exact(r, prog, expectations(prog), f"{prog}/{unwind}")
        # strdup's caller is the site, the stack below it is complete.
        if prog == "leak_basic":
            s = sites_of(r, prog)
            st = [x for v in s.values() for x in v if x["function"] == "strings"]
            check(bool(st) and st[0]["stack"][0]["function"] == "strings" and
                  any(f["function"] == "main" for f in st[0]["stack"]),
                  f"{prog}/{unwind}: strdup leak reported at its caller, with main below")

d = run_prog("leak_fork", "full")
dirs.append(d)
r = leaks(d)
procs = r["processes"]
check(len(procs) == 2, f"fork: two processes ({len(procs)})")
for p in procs:
    role = "child" if p["pid"] != min(q["pid"] for q in procs) else "parent"
    check(p["scan"]["state"] == "done", f"fork {role}: exit scan done")
    check_exact(r, "leak_fork", expectations("leak_fork", role), f"fork {role}", pid=p["pid"])
finish(dirs)
