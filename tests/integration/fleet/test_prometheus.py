"""A real Prometheus server (Debian's prometheus, on 127.0.0.1, its own
temporary directory, scrape interval 1 s) scrapes `chimcollect serve` while
an instrumented server takes a known number of requests. After two scrapes
past the load, Prometheus' HTTP API returns the request count equal to the
agent's, and histogram_quantile(0.95, ...) falls in the bucket that holds
the report's P95. Prometheus asks for OpenMetrics, so this also checks that
a real parser accepts our OpenMetrics."""
import json
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from fleettest import *  # noqa: F403

PROM = shutil.which("prometheus")
if not PROM:
    skip("prometheus not installed (Debian package prometheus; tools/deps.sh --test)")


def query(pport, q):
    url = f"http://127.0.0.1:{pport}/api/v1/query?" + urllib.parse.urlencode({"query": q})
    with urllib.request.urlopen(url, timeout=5) as r:
        res = json.loads(r.read())["data"]["result"]
    return [float(x["value"][1]) for x in res]


def wait_ready(pport, proc, timeout=30):
    end = time.time() + timeout
    while time.time() < end and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{pport}/-/ready", timeout=1) as r:
                if r.status == 200:
                    return True
        except OSError:
            time.sleep(0.2)
    return False


d = segdir()
tmp = tempfile.mkdtemp(prefix="chimprom-")
app, port = start_app(d)
srv, sport = start_serve(d)
pport = free_port()
cfg = os.path.join(tmp, "prometheus.yml")
with open(cfg, "w") as f:
    f.write(f"""global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: chim
    static_configs:
      - targets: ['127.0.0.1:{sport}']
""")
log = open(os.path.join(tmp, "prometheus.log"), "w")
prom = subprocess.Popen([PROM, f"--config.file={cfg}", f"--storage.tsdb.path={tmp}/data",
                         f"--web.listen-address=127.0.0.1:{pport}",
                         "--storage.tsdb.retention.time=1h"], stdout=log, stderr=log,
                        cwd=tmp)
try:
    check(wait_ready(pport, prom), "prometheus ready on 127.0.0.1")
    N = 60
    load(port, ["/users/1", "/users/2", "/ok", "/fail"], N)  # 4 N requests
    time.sleep(0.3)
    r = report(d)
    agent = [x for x in r["http_server"]["routes"] if x["route"] == "/users/{id}"][0]
    total = r["http_server"]["requests"]
    t_load = time.time()
    sel = 'chim_http_server_request_duration_seconds_count{route="/users/{id}"}'
    got, scrapes = [], 0
    while time.time() < t_load + 30:
        got = query(pport, f"sum({sel})")
        scrapes = (query(pport, 'count_over_time(up{job="chim"}[1m])') or [0])[0]
        if got and got[0] == agent["count"] and time.time() > t_load + 2.5:
            break
        time.sleep(0.5)
    check(got == [agent["count"]] and agent["count"] == 2 * N,
          f"Prometheus: {sel} = {got} == agent {agent['count']} == {2 * N}")
    req = query(pport, "sum(chim_http_server_requests_total)")
    check(req == [total] and total == 4 * N, f"chim_http_server_requests_total {req} == {total}")
    check(query(pport, 'up{job="chim"}') == [1.0], f"target up ({scrapes:.0f} scrapes so far)")
    q95 = query(pport, "histogram_quantile(0.95, sum by (le) (chim_http_server_request_"
                       'duration_seconds_bucket{route="/users/{id}"}))')
    p95 = agent["p95_ms"] / 1e3
    _, _, text = get(sport)
    bk = sorted((float(dict(ls)["le"]), v) for (n, ls), v in parse(text).items()
                if n == "chim_http_server_request_duration_seconds_bucket"
                and ("route", "/users/{id}") in ls)
    le = next(b for b, v in bk if v >= 0.95 * bk[-1][1])
    lo = max([b for b, v in bk if b < le] + [0])
    check(lo <= p95 <= le and q95 and lo <= q95[0] <= le,
          f"histogram_quantile(0.95) {q95} and report P95 {p95:.6f} s in bucket ({lo}, {le}]")
    errs = query(pport, 'sum(rate(chim_http_server_request_duration_seconds_count'
                        '{status_class="5xx"}[1m])) >= 0')
    check(len(errs) == 1, f"rate() over the 5xx series works ({errs})")
finally:
    stop(prom)
    stop(srv)
    stop(app)
    log.close()
    if FAILS:
        print(open(os.path.join(tmp, "prometheus.log")).read()[-2000:])
finish([d, tmp])
