"""The per-second time series of a server under the agent: requests land in
the second they were served, not in the second a later event noticed a new
second; a running server that went idle still shows its last burst; the
totals match; and a server killed by a signal keeps its peak RSS. Found by a
user walkthrough (a 30 000-request burst showed up 15 s late, in an idle
second)."""
import os
import signal
import subprocess
import sys
import time
import urllib.request

from chimtest import *

HERE = os.path.dirname(os.path.abspath(__file__))


def burst(port, n):
    """n keep-alive-free GETs; returns the wall-clock second each was answered in."""
    secs = []
    for _ in range(n):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/ok").read()
        secs.append(int(time.time()))
    return secs


def by_sec(r):
    return {p["time"]: p["requests"] for p in r["timeseries"] if p["requests"]}


d = segdir()
port = free_port()
srv = subprocess.Popen([sys.executable, os.path.join(HERE, "http_app.py"), str(port)],
                       env=agent_env(d))
check(wait_port(port, srv), "server listens under the agent")
def next_second():
    """Sleeps to 50 ms into the next second: a burst then stays inside one
    second, away from the coarse clock's 4 ms blur at the boundary."""
    time.sleep(1 - time.time() % 1 + 0.05)


next_second()
first = burst(port, 40)
time.sleep(2.2)  # idle seconds
next_second()
second = burst(port, 25)
time.sleep(0.5)
check(len(set(first)) == 1 and len(set(second)) == 1,
      f"each burst took less than a second ({len(set(first))}, {len(set(second))})")

want = {}
for s in first + second:
    want[s] = want.get(s, 0) + 1
r = report(d)
got = by_sec(r)
check(sum(got.values()) == 65, f"live: all 65 requests in the series, the idle tail too ({got})")
check(got == want, f"live: each second holds the requests served in it ({got} vs {want})")
idle = [s for s in range(max(first) + 1, min(second))]
check(idle and all(s not in got for s in idle), f"the idle seconds {idle} hold no requests")

srv.send_signal(signal.SIGTERM)
time.sleep(0.5)  # dead, not reaped yet: a zombie is not running
state = report(d)["processes"][0]["state"]
check(state == "vanished", f"a killed server not yet reaped is not 'running' ({state})")
srv.wait()
r = report(d)
got = by_sec(r)
check(got == want, f"after SIGTERM: the same seconds ({got})")
p = r["processes"][0]
check(p["state"] == "vanished" and p["memory"]["peak_rss_bytes"] > 1 << 20,
      f"a server killed by a signal keeps its peak RSS ({p['state']}, "
      f"{p['memory']['peak_rss_bytes']} B)")
# One burst, then idle: the process has written no point yet (a point is
# written when a later second begins); the report still shows the burst.
one = segdir()
port = free_port()
srv = subprocess.Popen([sys.executable, os.path.join(HERE, "http_app.py"), str(port)],
                       env=agent_env(one))
check(wait_port(port, srv), "second server listens")
next_second()
only = burst(port, 30)
time.sleep(0.3)
got = by_sec(report(one))
check(got == {only[0]: 30}, f"a single burst shows in its second ({got})")
srv.kill()
srv.wait()
got = by_sec(report(one))
check(got == {only[0]: 30}, f"and after SIGKILL ({got})")

# A fork child's series starts afresh: its points are its own seconds.
fk = segdir()
CHILD = r"""
import os, socket, sys, time, urllib.request
port = int(sys.argv[1])
urllib.request.urlopen(f"http://127.0.0.1:{port}/ok").read()  # the parent's socket second
time.sleep(2.2)
pid = os.fork()
if pid == 0:
    for _ in range(5):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/ok").read()
    os._exit(0)
os.waitpid(pid, 0)
"""
port = free_port()
app = subprocess.Popen([sys.executable, os.path.join(HERE, "http_app.py"), str(port)])
check(wait_port(port, app), "plain server listens")
t_start = int(time.time())
subprocess.run([sys.executable, "-c", CHILD, str(port)], env=agent_env(fk), check=True)
procs = report(fk)["processes"]
kids = [q for q in procs if q.get("forked_child")]
ok = len(kids) == 1
if ok:
    rows = report(fk, "--pid", str(kids[0]["pid"]))["timeseries"]
    early = [r for r in rows if r["time"] < t_start + 2]
    check(not early, f"the child's series starts after the fork ({[r['time'] - t_start for r in rows]})")
else:
    check(False, f"one forked child ({len(kids)})")
app.terminate()
app.wait()

# A running server's CPU time is what it has used so far, also when it
# served its CPU-heavy requests within one second and then went idle (the
# agent writes a point a second while sockets are busy, read at the
# second's first event: the report showed 0.44 s of 1.24 s).
cpu = segdir()
BUSY = r"""
import sys, time
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        t = time.process_time()
        while time.process_time() - t < 0.3: pass
        self.send_response(200); self.send_header("Content-Length", "3"); self.end_headers()
        self.wfile.write(b"ok\n")
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""
port = free_port()
busy = subprocess.Popen([sys.executable, "-c", BUSY, str(port)], env=agent_env(cpu))
check(wait_port(port, busy), "CPU-heavy server listens")
for _ in range(3):
    urllib.request.urlopen(f"http://127.0.0.1:{port}/x").read()
res = report(cpu)["resources"]
with open(f"/proc/{busy.pid}/stat") as f:
    used = sum(int(x) for x in f.read().rsplit(")", 1)[1].split()[11:13]) / os.sysconf("SC_CLK_TCK")
busy.terminate()
busy.wait()
check(res["cpu_seconds"] >= 0.9 and abs(res["cpu_seconds"] - used) <= 0.1,
      f"a running server's CPU time: {res['cpu_seconds']:.2f} s reported, {used:.2f} s used")
finish([d, one, fk, cpu])
