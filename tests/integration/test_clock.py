"""The agent's request clock (TSC where the kernel uses it, calibrated once a
second) agrees with the client's own clock: a client under the agent times
its calls to a mock provider with a known latency, over more than a second
of calibrations; the agent's upstream P50 and max match the client's."""
import os
import subprocess
import sys
from chimtest import *

PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
port = free_port()
llm = subprocess.Popen([os.path.join(BUILD, "bin", "chim-mockllm"), "--listen", f"127.0.0.1:{port}",
                        "--median-ms", "30", "--p95-ms", "36"], stdout=subprocess.DEVNULL)
check(wait_port(port, llm), "mock provider listens")
client = f"""
import http.client, time, json
c = http.client.HTTPConnection("127.0.0.1", {port})
lat = []
for i in range(70):
    t = time.perf_counter()
    c.request("POST", "/v1/completions", body='{{"prompt": "p"}}')
    c.getresponse().read()
    lat.append((time.perf_counter() - t) * 1000)
lat.sort()
print(json.dumps({{"p50": lat[len(lat) // 2], "max": lat[-1]}}))
"""
d = segdir()
out = subprocess.run([PY, "-c", client], env=agent_env(d), capture_output=True, text=True)
llm.terminate()
llm.wait()
import json
mine = json.loads(out.stdout)
r = report(d)
up = [u for u in r["upstreams"] if u["protocol"] == "http"]
check(len(up) == 1 and up[0]["count"] == 70, f"70 calls seen ({up})")
if up:
    p50, mx = up[0]["p50_ms"], up[0]["max_ms"]
    check(abs(p50 - mine["p50"]) <= 0.05 * mine["p50"] + 0.5,
          f"agent P50 {p50:.2f} ms vs client {mine['p50']:.2f} ms")
    check(mx <= mine["max"] + 0.5 and mx >= 0.9 * mine["max"] - 1,
          f"agent max {mx:.2f} ms vs client {mine['max']:.2f} ms")
finish([d])
