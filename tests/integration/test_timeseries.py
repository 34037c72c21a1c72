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
finish([d])
