"""chimcollect serve and export: an instrumented server takes a known
number of requests; serve's /metrics passes `promtool check metrics` with no
problems, its counts equal the report's, buckets are cumulative with
le="+Inf" == _count and no series repeats; OpenMetrics when the Accept
header asks; OTLP/JSON export; a gone process stays for the grace period;
loopback unless named; SIGTERM stops it cleanly."""
import json
import shutil
import subprocess
import time
from fleettest import *  # noqa: F403

if not shutil.which("promtool"):
    skip("promtool not installed (Debian package prometheus; tools/deps.sh --test)")

d = segdir()
app, port = start_app(d)
N = 40
load(port, ["/ok", "/users/1", "/users/22", "/fail", "/hit", "/miss"], N)
time.sleep(0.3)
srv, sport = start_serve(d)

status, ctype, text = get(sport)
check(status == 200 and ctype.startswith("text/plain; version=0.0.4"), f"text format ({ctype})")
pc = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
check(pc.returncode == 0 and not (pc.stdout + pc.stderr).strip(),
      f"promtool check metrics: no problems ({(pc.stdout + pc.stderr).strip()[:300]})")
ex = subprocess.run([COLLECT, "export", "--dir", d, "--check"], capture_output=True, text=True)
check(ex.returncode == 0, f"export --check: buckets monotonic, +Inf == _count, no duplicates "
      f"({ex.stderr.strip()})")
lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
keys = [ln.rsplit(" ", 1)[0] for ln in lines]
check(len(keys) == len(set(keys)), f"no duplicate series ({len(keys)} samples)")
helps = [ln.split()[2] for ln in text.splitlines() if ln.startswith("# HELP ")]
check(len(helps) == len(set(helps)), "one HELP per family")

m = parse(text)
r = report(d)
pid = str(r["processes"][-1]["pid"])
want = {(x["method"], x["route"]): x["count"] for x in r["http_server"]["routes"]}


def count(method, route):
    return sum(v for (n, ls), v in m.items()
               if n == "chim_http_server_request_duration_seconds_count"
               and ("method", method) in ls and ("route", route) in ls)


check(want.get(("GET", "/users/{id}")) == 2 * N and count("GET", "/users/{id}") == 2 * N,
      f"GET /users/{{id}}: {count('GET', '/users/{id}')} == report {want.get(('GET', '/users/{id}'))}"
      f" == {2 * N}")
check(all(count(k[0], k[1]) == v for k, v in want.items()), "every route's _count == report")
reqs = sum(v for (n, ls), v in m.items() if n == "chim_http_server_requests_total")
check(reqs == r["http_server"]["requests"] == 6 * N, f"requests_total {reqs} == {6 * N}")
errs = sum(v for (n, ls), v in m.items() if n == "chim_http_server_request_duration_seconds_count"
           and ("status_class", "5xx") in ls)
check(errs == N, f"5xx series count {errs} == {N}")
xc = {(dict(ls)["route"], dict(ls)["result"]): v for (n, ls), v in m.items()
      if n == "chim_http_server_cache_requests_total"}
check(xc.get(("/hit", "hit")) == N and xc.get(("/miss", "miss")) == N
      and xc.get(("/hit", "miss")) == 0, f"X-Cache hits and misses per route ({xc})")
live = [v for (n, ls), v in m.items() if n == "chim_heap_live_bytes" and ("pid", pid) in ls]
check(len(live) == 1 and live[0] > 0, f"live heap of pid {pid}: {live}")

# The bucket that holds the report's P95 of /users/{id}: the first le whose
# cumulative count reaches 95 % of the requests.
p95 = [x for x in r["http_server"]["routes"] if x["route"] == "/users/{id}"][0]["p95_ms"] / 1e3
bk = sorted((float(dict(ls)["le"]), v) for (n, ls), v in m.items()
            if n == "chim_http_server_request_duration_seconds_bucket"
            and ("route", "/users/{id}") in ls)
le = next(b for b, v in bk if v >= 0.95 * bk[-1][1])
lo = max([b for b, v in bk if b < le] + [0])
check(lo <= p95 <= le, f"report P95 {p95 * 1e3:.3f} ms in bucket ({lo}, {le}]")

# OpenMetrics on request.
status, ctype, om = get(sport, accept=OM_ACCEPT)
check(ctype.startswith("application/openmetrics-text; version=1.0.0"), f"OpenMetrics ({ctype})")
check(om.endswith("# EOF\n") and "# TYPE chim_heap_allocations counter" in om
      and "chim_heap_allocations_total{" in om, "OpenMetrics: # EOF, counter family without _total")
status, ctype, plain = get(sport, accept="text/plain;version=0.0.4")
check(ctype.startswith("text/plain"), "text/plain when asked")

# Scrape latency.
t0 = time.time()
for _ in range(10):
    get(sport)
ms = (time.time() - t0) * 100
print(f"info: scrape latency {ms:.1f} ms for {len(r['processes'])} segment(s), "
      f"{len(text)} bytes")
check(ms < 500, f"scrape under 500 ms ({ms:.1f})")

# OTLP/JSON.
oj = json.loads(subprocess.run([COLLECT, "export", "--dir", d, "--format", "otlp-json"],
                               capture_output=True, text=True, check=True).stdout)
dps = [dp for rm in oj["resourceMetrics"] for sm in rm["scopeMetrics"] for mt in sm["metrics"]
       if mt["name"] == "http.server.request.duration"
       for dp in mt["histogram"]["dataPoints"]]
users = [dp for dp in dps if {"key": "http.route", "value": {"stringValue": "/users/{id}"}}
         in dp["attributes"]]
check(len(users) == 1 and users[0]["count"] == str(2 * N)
      and sum(int(c) for c in users[0]["bucketCounts"]) == 2 * N
      and len(users[0]["bucketCounts"]) == len(users[0]["explicitBounds"]) + 1,
      "OTLP/JSON http.server.request.duration: count, bucketCounts, explicitBounds")
out = os.path.join(d, "metrics.om")
subprocess.run([COLLECT, "export", "--dir", d, "--format", "openmetrics", "--out", out], check=True)
check(open(out).read().endswith("# EOF\n"), "export --out FILE (openmetrics)")

# The process goes: its final counts stay (running 0) within the grace period.
stop(app)
time.sleep(0.2)
m2 = parse(get(sport)[2])
gone = [v for (n, ls), v in m2.items() if n == "chim_process_running" and ("pid", pid) in ls]
check(gone == [0], f"gone process still exported with running 0 ({gone})")
check(sum(v for (n, ls), v in m2.items() if n == "chim_http_server_requests_total"
          and ("pid", pid) in ls) == 6 * N, "its final request count kept")
g0 = subprocess.run([COLLECT, "export", "--dir", d, "--grace", "0"], capture_output=True,
                    text=True).stdout
check(f'pid="{pid}"' not in g0, "--grace 0: gone process left out")

rc = stop(srv)
check(rc == 0, f"SIGTERM: serve exits 0 ({rc})")
bad = subprocess.run([COLLECT, "serve", "--listen", ":9464", "--dir", d], capture_output=True,
                     text=True, timeout=10)
check(bad.returncode == 2, "--listen :9464 refused (name the address explicitly)")
finish([d])
