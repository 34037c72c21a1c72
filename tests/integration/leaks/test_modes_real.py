"""Real programs run unchanged under CHIM_MODE=sample and full: same stdout,
same exit code, and a leak report that loads (stacks symbolized)."""
import shutil
from leaktest import *

PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else "python3"
cases = [
    ("python3", [PY, "-c", "import json;print(sum(len(json.dumps(list(range(i)))) for i in range(200)))"]),
    ("perl", ["perl", "-e", 'my %h; $h{$_}="x" x $_ for 1..2000; print scalar(keys %h),"\\n"']),
    ("sqlite3", ["sqlite3", ":memory:", "create table t(a); insert into t values(1),(2); select sum(a) from t;"]),
    ("bash", ["bash", "-c", "for i in $(seq 1 200); do x[$i]=$((i*i)); done; echo ${x[200]}; exit 4"]),
    ("sort", ["sh", "-c", "sort -R /etc/services | wc -l"]),
    ("threads", [os.path.join(TBIN, "threads_work"), "8"]),
]
dirs = []
for name, cmd in cases:
    if not shutil.which(cmd[0]) and not os.path.exists(cmd[0]):
        continue
    want = subprocess.run(cmd, capture_output=True, timeout=60)
    for mode in ("sample", "full"):
        d = segdir()
        dirs.append(d)
        got = subprocess.run(cmd, capture_output=True, timeout=120, env=agent_env(d, CHIM_MODE=mode))
        check(got.stdout == want.stdout and got.returncode == want.returncode,
              f"{name}/{mode}: same stdout and exit code ({want.returncode})")
        r = leaks(d, "--all")
        named = [s for s in r["sites"] if s["function"] != "??" and s["module"]]
        check(len(r["processes"]) >= 1 and (not r["sites"] or named),
              f"{name}/{mode}: leaks report of {len(r['processes'])} process(es), "
              f"{len(r['sites'])} sites, {len(named)} symbolized")
        if name == "python3" and mode == "full":
            # Debian's python3 keeps no frame pointers: the auto unwinder
            # falls back to libunwind, so stacks reach the interpreter's
            # callers (they were the allocating function alone).
            deep = max((len(s["stack"]) for s in r["sites"]), default=0)
            check(deep >= 8, f"python3/full: whole stacks, not the caller alone (deepest {deep})")
finish(dirs)
