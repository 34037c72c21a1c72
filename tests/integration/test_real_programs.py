"""Real programs run unchanged under the agent: same stdout, same exit code,
and each shows up in the report with its allocations."""
import os
import shutil
import subprocess
import tempfile
from chimtest import *

work = tempfile.mkdtemp(prefix="chimprog-")
with open(os.path.join(work, "hello.c"), "w") as f:
    f.write('#include <stdio.h>\nint main(void){printf("%d\\n", 6*7);return 0;}\n')
with open(os.path.join(work, "Hello.java"), "w") as f:
    f.write('public class Hello { public static void main(String[] a) {'
            ' System.out.println(java.util.stream.IntStream.range(0, 1000).sum()); } }\n')

PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else "python3"
cases = [
    ("python3", [PY, "-c", "import json,hashlib;print(sum(len(json.dumps(list(range(i)))) for i in range(300)))"]),
    ("perl", ["perl", "-e", 'my %h; $h{$_}="x" x $_ for 1..2000; print scalar(keys %h),"\\n"']),
    ("sqlite3", ["sqlite3", ":memory:", "create table t(a); insert into t values(1),(2); select sum(a) from t;"]),
    ("git", ["git", "-C", work, "init", "-q", "--initial-branch=main", "repo"]),
    ("bash", ["bash", "-c", "for i in $(seq 1 200); do x[$i]=$((i*i)); done; echo ${x[200]}; exit 4"]),
    ("sort", ["sh", "-c", "sort -R /etc/services | wc -l"]),
    ("gcc", ["sh", "-c", f"gcc -O2 -o {work}/hello {work}/hello.c && {work}/hello"]),
    ("threads", [os.path.join(TBIN, "threads_work"), "8"]),
    ("errno", [os.path.join(TBIN, "errno_probe")]),
]
if shutil.which("node"):
    cases.append(("node", ["node", "-e", "let a=[];for(let i=0;i<1e5;i++)a.push({i});console.log(a.length)"]))
if shutil.which("java") and shutil.which("javac"):
    cases.append(("java", ["sh", "-c", f"cd {work} && javac Hello.java && java -Xmx128m Hello"]))

dirs = []
for name, cmd in cases:
    want = subprocess.run(cmd, capture_output=True, timeout=120)
    if name == "git":
        shutil.rmtree(os.path.join(work, "repo"), ignore_errors=True)
    d = segdir()
    dirs.append(d)
    got = subprocess.run(cmd, capture_output=True, timeout=240, env=agent_env(d))
    check(got.stdout == want.stdout, f"{name}: same stdout")
    check(got.returncode == want.returncode, f"{name}: same exit code ({want.returncode})")
    r = report(d)
    check(len(r["processes"]) >= 1 and r["memory"]["allocs"] > 0,
          f"{name}: {len(r['processes'])} process(es), {r['memory']['allocs']} allocations")
    check(all(p["state"] in ("exited", "execed") for p in r["processes"]),
          f"{name}: every process exited: {sorted(set(p['state'] for p in r['processes']))}")
# The leak modes' paths save errno only where something may set it: the
# probes' output must not change in them either (every block sampled).
# errno_threads reaches the rare paths: another thread's parked record, a
# thread's first event being a free, a fork child.
for prog in ("errno_probe", "errno_threads"):
    probe = [os.path.join(TBIN, prog)]
    want = subprocess.run(probe, capture_output=True, timeout=60)
    for mode, extra in (("count", {}), ("full", {}), ("sample", {"CHIM_SAMPLE_BYTES": 1})):
        d = segdir()
        dirs.append(d)
        got = subprocess.run(probe, capture_output=True, timeout=120,
                             env=agent_env(d, CHIM_MODE=mode, **extra))
        check(got.stdout == want.stdout and got.returncode == want.returncode,
              f"{prog} in {mode} mode: same output ({got.stdout.count(b'4242')} calls kept errno)"
              if prog == "errno_probe" else f"{prog} in {mode} mode: {got.stdout.decode().split(chr(10))}")
finish(dirs + [work])
