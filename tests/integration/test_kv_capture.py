"""Outbound cache calls: clients under the agent talking to a real
redis-server and memcached. Hits and misses must be exact; redis-benchmark
under the agent: every request it sends is one call."""
import os
import shutil
import socket
import subprocess
import sys
import time
from chimtest import *

HERE = os.path.dirname(os.path.abspath(__file__))
PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable






def upstream(r, proto):
    ups = [u for u in r["upstreams"] if u["protocol"] == proto]
    return ups[0] if len(ups) == 1 else None


dirs = []
servers = []
if not (shutil.which("redis-server") and shutil.which("memcached")):
    skip("redis-server and memcached are needed (tools/deps.sh --test)")
rport, mport = free_port(), free_port()
servers.append(subprocess.Popen(["redis-server", "--port", str(rport), "--bind", "127.0.0.1",
                                 "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL))
servers.append(subprocess.Popen(["memcached", "-l", "127.0.0.1", "-p", str(mport), "-U", "0",
                                 "-u", "nobody"]))
check(wait_port(rport) and wait_port(mport), "redis-server and memcached listen")

d = segdir()
dirs.append(d)
subprocess.run([PY, os.path.join(HERE, "kv_client.py"), "redis", str(rport)], env=agent_env(d),
               check=True)
r = report(d)
u = upstream(r, "redis")
check(u is not None and u["peer"] == f"127.0.0.1:{rport}", f"one redis upstream ({r['upstreams']})")
if u:
    check(u["count"] == 11, f"redis calls: {u['count']} == 11 (2 SET, 5 GET, 1 MGET, 3 pipelined GET)")
    check(u["hits"] == 5 and u["misses"] == 7,
          f"redis hits {u['hits']} == 5, misses {u['misses']} == 7 (MGET counted per key)")
check(r["cache"]["source"] == "wire" and r["cache"]["hits"] == 5, "report cache block from the wire")

d = segdir()
dirs.append(d)
subprocess.run([PY, os.path.join(HERE, "kv_client.py"), "memcached", str(mport)],
               env=agent_env(d), check=True)
r = report(d)
u = upstream(r, "memcached")
check(u is not None, f"one memcached upstream ({r['upstreams']})")
if u:
    check(u["count"] == 8, f"memcached calls: {u['count']} == 8 (2 set, 3 get, 1 multi-get, 2 pipelined)")
    check(u["hits"] == 5 and u["misses"] == 4, f"memcached hits {u['hits']} == 5, misses {u['misses']} == 4")

# redis-benchmark as the client under the agent: each request is one call.
d = segdir()
dirs.append(d)
n = 2000
b = subprocess.run(["redis-benchmark", "-p", str(rport), "-q", "-n", str(n), "-c", "4",
                    "-t", "set,get"], env=agent_env(d), capture_output=True, text=True)
check(b.returncode == 0, "redis-benchmark runs under the agent")
r = report(d)
calls = sum(x["count"] for x in r["upstreams"] if x["protocol"] == "redis")
check(calls >= 2 * n, f"redis-benchmark: {calls} calls >= {2 * n} requests (plus its CONFIG probes)")
check(calls <= 2 * n + 10, f"redis-benchmark: {calls} calls <= {2 * n} + 10")
hits = sum(x["hits"] for x in r["upstreams"] if x["protocol"] == "redis")
check(hits == n, f"GETs after SETs of the same key all hit: {hits} == {n}")

for p in servers:
    p.terminate()
    p.wait()
finish(dirs)
