"""Live and post mortem: a process's counts are readable while it runs
(state running) and after SIGKILL (state vanished); `clean` then removes
the dead process's segment and keeps nothing else."""
import os
import signal
import subprocess
from chimtest import *

d = segdir()
p = subprocess.Popen([os.path.join(TBIN, "hold_and_wait"), "1000", "1000"],
                     env=agent_env(d), stdout=subprocess.PIPE, text=True)
check(p.stdout.readline().strip() == "ready", "program allocated and waits")
r = report(d)
pr = [x for x in r["processes"] if x["pid"] == p.pid]
check(len(pr) == 1 and pr[0]["state"] == "running", "running process reported as running")
m = pr[0]["memory"] if pr else {}
check(m.get("allocs", 0) >= 1000 and m.get("live_bytes", 0) >= 1000 * 1000,
      f"live counts while running: {m.get('allocs')} allocs, {m.get('live_bytes')} live bytes")
p.send_signal(signal.SIGKILL)
p.wait()
r = report(d)
pr = [x for x in r["processes"] if x["pid"] == p.pid]
check(len(pr) == 1 and pr[0]["state"] == "vanished", "killed process reported as vanished")
m2 = pr[0]["memory"] if pr else {}
check(m2.get("allocs") == m.get("allocs") and m2.get("live_bytes") == m.get("live_bytes"),
      "counts survive SIGKILL")
check(m2.get("peak_live_bytes", 0) >= 1000 * 1000, "peak live bytes survive SIGKILL")
out = subprocess.run([COLLECT, "clean", "--dir", d], capture_output=True, text=True)
check(out.returncode == 0 and "removed 1 segment" in out.stdout, "clean: " + out.stdout.strip())
check(report(d)["processes"] == [], "nothing left after clean")
finish([d])
