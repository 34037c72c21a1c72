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
            # Folded stacks (flame graphs): one line per stack, rooted at
            # main whatever the unwinder reached below it, bytes adding up
            # to the live bytes of the sites shown.
            out = subprocess.run([COLLECT, "leaks", "--dir", d, "--folded"], capture_output=True,
                                 text=True, check=True).stdout.splitlines()
            pairs = [ln.rsplit(" ", 1) for ln in out]
            ok = all(len(x) == 2 and x[1].isdigit() for x in pairs)
            check(ok and len(out) > 0, f"{prog}/{unwind}: --folded is 'frames bytes' per line")
            mains = [x[0] for x in pairs if "main" in x[0].split(";")]
            check(mains and all(f.startswith("main;") for f in mains) and
                  not any("__libc_start" in x[0] or x[0].startswith("_start") for x in pairs),
                  f"{prog}/{unwind}: folded stacks are rooted at main, nothing below it")
            folded_total = sum(int(x[1]) for x in pairs) if ok else -1
            shown = sum(x["bytes"] for x in r["sites"] if x["class"] != "churn")
            check(folded_total == shown,
                  f"{prog}/{unwind}: folded bytes {folded_total} == the sites' {shown}")

d = run_prog("leak_fork", "full")
dirs.append(d)
r = leaks(d)
procs = r["processes"]
check(len(procs) == 2, f"fork: two processes ({len(procs)})")
for p in procs:
    role = "child" if p["pid"] != min(q["pid"] for q in procs) else "parent"
    check(p["scan"]["state"] == "done", f"fork {role}: exit scan done")
    check_exact(r, "leak_fork", expectations("leak_fork", role), f"fork {role}", pid=p["pid"])
# Folded stacks of two processes: each starts at its process's frame
# (the child holds the parent's blocks too: merged, they counted twice);
# one process alone keeps them rooted at main; --top N lists the stacks of
# the N first sites only.
out = subprocess.run([COLLECT, "leaks", "--dir", d, "--folded"], capture_output=True, text=True,
                     check=True).stdout.splitlines()
roots = sorted({ln.split(";", 1)[0] for ln in out})
want = sorted(f"leak_fork[{q['pid']}]" for q in procs)
check(roots == want, f"fork: folded stacks start at their process ({roots})")
per_pid = {}
for q in procs:
    one = subprocess.run([COLLECT, "leaks", "--dir", d, "--folded", "--pid", str(q["pid"])],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    per_pid[q["pid"]] = one
check(all(ln.rsplit(" ", 1)[0].split(";")[0] == "main" for v in per_pid.values() for ln in v),
      "fork: --pid's folded stacks are rooted at main")
pid0 = procs[0]["pid"]
top1 = subprocess.run([COLLECT, "leaks", "--dir", d, "--folded", "--pid", str(pid0), "--top", "1"],
                      capture_output=True, text=True, check=True).stdout.splitlines()
first = [x for x in r["sites"] if x["pid"] == pid0 and x["class"] != "churn"][0]
check(top1 and all(ln.rsplit(" ", 1)[0].endswith(f";{first['function']}") or
                   f";{first['function']};" in ln for ln in top1) and len(top1) < len(per_pid[pid0]),
      f"--top 1 --folded: the first site's stacks only ({len(top1)} of {len(per_pid[pid0])})")
finish(dirs)
