"""Latency of an upstream call as the calling process lives it: a client
under the agent times its own Redis GETs (send, then the reply), and the
agent's figure for the same calls must be of the same size. Bytes written
are stamped before the call that writes them, so the send's own time is
part of the call (stamped after it, a loopback GET read about 10x too fast:
found by a user walkthrough; 0.69x to 0.1x here). The client's own timing
also holds Python's few microseconds around the calls: 0.98x here, so the
bound is 0.7x."""
import os
import shutil
import statistics
import subprocess
import sys

from chimtest import *

if not shutil.which("redis-server"):
    skip("redis-server is needed (tools/deps.sh --test)")

CLIENT = r'''
import socket, statistics, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n")
s.recv(100)
ts = []
for i in range(400):
    t0 = time.perf_counter()
    s.sendall(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n")
    s.recv(100)
    ts.append(time.perf_counter() - t0)
print(statistics.median(ts) * 1000)
'''

port = free_port()
srv = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                        "--appendonly", "no"], stdout=subprocess.DEVNULL)
check(wait_port(port, srv), "redis-server listens")
d = segdir()
out = subprocess.run([sys.executable, "-c", CLIENT, str(port)], env=agent_env(d),
                     capture_output=True, text=True, check=True)
client_p50 = float(out.stdout)
ups = [u for u in report(d)["upstreams"] if u["protocol"] == "redis"]
check(len(ups) == 1 and ups[0]["count"] == 401, f"401 Redis calls ({ups})")
agent_p50 = ups[0]["p50_ms"] if ups else 0
check(agent_p50 >= 0.7 * client_p50,
      f"the agent's p50 {agent_p50:.4f} ms is of the client's own {client_p50:.4f} ms")
check(agent_p50 <= 1.1 * client_p50 + 0.005,
      f"and not above it ({agent_p50:.4f} vs {client_p50:.4f} ms)")
srv.terminate()
srv.wait()

# An HTTP upstream's 4xx replies are counted apart from its errors (5xx).
HERE = os.path.dirname(os.path.abspath(__file__))
hport = free_port()
app = subprocess.Popen([sys.executable, os.path.join(HERE, "http_app.py"), str(hport)])
check(wait_port(hport, app), "HTTP upstream listens (not under the agent)")
CALLER = r"""
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
for p in ["/ok", "/ok", "/ok", "/nope", "/nope", "/fail"]:
    c.request("GET", p, headers={"Host": "api.local"})
    c.getresponse().read()
"""
h = segdir()
subprocess.run([sys.executable, "-c", CALLER, str(hport)], env=agent_env(h), check=True)
ups = [u for u in report(h)["upstreams"] if u["protocol"] == "http"]
check(len(ups) == 1 and (ups[0]["count"], ups[0]["errors"], ups[0]["client_errors"]) == (6, 1, 2),
      f"HTTP upstream: 6 calls, 1 error (500), 2 client errors (404) ({ups})")
app.terminate()
app.wait()
finish([d, h])
