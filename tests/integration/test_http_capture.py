"""Request capture, framing-exact: a threading Python server and nginx
under the agent, driven by real clients (a raw keep-alive/pipelining client,
curl, wrk). Counts per route and status class must be exact."""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from chimtest import *

HERE = os.path.dirname(os.path.abspath(__file__))
PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable






def recv_responses(sock, n):
    """Reads n complete responses (Content-Length or chunked or no body)."""
    buf, got = b"", 0
    while got < n:
        while b"\r\n\r\n" not in buf:
            buf += sock.recv(65536)
        head, buf = buf.split(b"\r\n\r\n", 1)
        status = int(head.split()[1])
        m = re.search(rb"content-length: *(\d+)", head, re.I)
        if b"chunked" in head.lower():
            while b"0\r\n\r\n" not in buf:
                buf += sock.recv(65536)
            buf = buf.split(b"0\r\n\r\n", 1)[1]
        elif m and status not in (204, 304) and not HEADREQ[got]:
            ln = int(m.group(1))
            while len(buf) < ln:
                buf += sock.recv(65536)
            buf = buf[ln:]
        got += 1


def routes_by_key(r):
    out = {}
    for x in r["http_server"]["routes"]:
        out[(x["method"], x["route"])] = x
    return out


# ---- Python threading server: keep-alive, pipelining, framings -------------
d = segdir()
port = free_port()
srv = subprocess.Popen([PY, os.path.join(HERE, "http_app.py"), str(port)], env=agent_env(d))
check(wait_port(port, srv), "python http.server (threading) listens under the agent")
reqs = [("GET", "/ok"), ("GET", "/users/42"), ("GET", "/users/7?x=1"), ("HEAD", "/ok"),
        ("GET", "/empty"), ("GET", "/cached"), ("GET", "/nope"), ("GET", "/fail"),
        ("GET", "/chunked"), ("GET", "/hit"), ("GET", "/hit"), ("GET", "/miss"),
        ("POST", "/submit")]
HEADREQ = [m == "HEAD" for m, _ in reqs]
s = socket.create_connection(("127.0.0.1", port))


def wire_of(batch):
    return b"".join((f"{m} {p} HTTP/1.1\r\nHost: t\r\n" +
                     ("Content-Length: 5\r\n\r\nhello" if m == "POST" else "\r\n")).encode()
                    for m, p in batch)


# Pipelined in batches of up to 7 requests per write (the tracker follows 8
# pending requests per connection; more are framed and counted as overflow).
for lo in range(0, len(reqs), 7):
    batch = reqs[lo:lo + 7]
    HEADREQ = [m == "HEAD" for m, _ in batch]
    s.sendall(wire_of(batch))
    recv_responses(s, len(batch))
# The same again, dribbled one byte at a time (short writes on our side,
# short reads on the server's), one request at a time.
for m, p in reqs:
    HEADREQ = [m == "HEAD"]
    for b in wire_of([(m, p)]):
        s.send(bytes([b]))
    recv_responses(s, 1)
s.close()
# curl under the agent, four requests on one connection: the X-Cache of an
# HTTP upstream's replies counts as that upstream's hits and misses.
dc = segdir()
subprocess.run(["curl", "-s", "-o", "/dev/null", "-o", "/dev/null", "-o", "/dev/null", "-o",
                "/dev/null"] + [f"http://127.0.0.1:{port}{p}" for p in ("/hit", "/hit", "/miss", "/ok")],
               env=agent_env(dc), check=True)
up = report(dc).get("upstreams", [])
check(len(up) == 1 and up[0]["count"] == 4 and up[0]["hits"] == 2 and up[0]["misses"] == 1,
      f"curl's upstream: 4 calls, X-Cache 2 hits and 1 miss ({up})")
prom = subprocess.run([COLLECT, "export", "--dir", dc], capture_output=True, text=True).stdout
check("chim_upstream_request_duration_seconds" in prom, "curl's upstream is exported")
check(not any(l.startswith("chim_cache_requests_total") and 'protocol="http"' in l
              for l in prom.splitlines()),
      "an HTTP upstream's X-Cache is not exported as a wire-level cache lookup")
# A 1.5 MiB head (30 headers of 50 KB; Python takes up to 100 lines of 64 KiB)
# on a keep-alive connection is framed, and the connection followed after.
s = socket.create_connection(("127.0.0.1", port))
HEADREQ = [False]
s.sendall(b"GET /ok HTTP/1.1\r\nHost: t\r\n" +
          b"".join(b"X-Big-%d: " % k + b"b" * 50000 + b"\r\n" for k in range(30)) + b"\r\n")
recv_responses(s, 1)
# 12 requests pipelined in one write: 8 are followed, 4 are framed past the
# FIFO and counted as overflow, which the text report explains.
HEADREQ = [False] * 12
s.sendall(wire_of([("GET", "/ok")] * 12))
recv_responses(s, 12)
s.close()
# A Content-Length that does not parse (the server ignores it on a GET)
# loses the framing; the connection is taken up again at the next request.
s = socket.create_connection(("127.0.0.1", port))
HEADREQ = [False]
s.sendall(b"GET /ok HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n")
recv_responses(s, 1)
for _ in range(3):
    s.sendall(wire_of([("GET", "/users/5")]))
    recv_responses(s, 1)
s.close()
time.sleep(0.3)
srv.terminate()
srv.wait()
r = report(d)
h = r["http_server"]
nt = r["network"]["not_tracked"]
# curl's four, the big head, 8 pipelined, 3 after the framing was lost
extra = {"/ok": 1 + 1 + 8, "/hit": 2, "/miss": 1, "/users/{id}": 3}
check(h["requests"] == 2 * len(reqs) + 16 and nt["pipeline_overflow"] == 4,
      f"big head then 12 pipelined on its connection: 9 reported, 4 overflow "
      f"({h['requests'] - 2 * len(reqs) - 7}, {nt})")
check(nt["framing_errors"] == 1,
      f"one framing error, the bad Content-Length; the 1.5 MiB head loses none ({nt})")
text = subprocess.run([COLLECT, "report", "--dir", d], capture_output=True, text=True).stdout
check("Not tracked: 1 connection whose bytes could not be framed" in text and
      "4 pipelined requests past the 8 kept per connection" in text,
      "the text report says why 4 requests are missing")
h["requests"] -= 16  # the checks below are of the two passes over reqs
check(h["requests"] == 2 * len(reqs), f"requests {h['requests']} == {2 * len(reqs)}")
check(h["errors"] == 2, f"errors (5xx) {h['errors']} == 2")
check(h["client_errors"] == 2, f"client errors (4xx) {h['client_errors']} == 2")
rt = routes_by_key(r)
want = {("GET", "/ok"): (2, "2xx"), ("GET", "/users/{id}"): (4, "2xx"),
        ("HEAD", "/ok"): (2, "2xx"), ("GET", "/empty"): (2, "2xx"),
        ("GET", "/cached"): (2, "3xx"), ("GET", "/nope"): (2, "4xx"),
        ("GET", "/fail"): (2, "5xx"), ("GET", "/chunked"): (2, "2xx"),
        ("GET", "/hit"): (4, "2xx"), ("GET", "/miss"): (2, "2xx"),
        ("POST", "/submit"): (2, "2xx")}
for key, (count, cls) in want.items():
    count += extra.get(key[1], 0) if key[0] == "GET" else 0
    x = rt.get(key)
    check(x is not None and x["count"] == count and x["status"][cls] == count,
          f"{key[0]} {key[1]}: {count} x {cls} ({x and x['count']}, {x and x['status']})")
hit = rt.get(("GET", "/hit"), {}).get("cache", {})
check(hit.get("hits") == 4 + 2 and r["cache"]["x_cache"]["misses"] == 2 + 1,
      f"X-Cache: 6 hits on /hit, 3 misses ({r['cache']})")
check(hit.get("miss_p95_ms", 0) is None and hit.get("hit_p95_ms", 0) > 0
      and "0 misses (p95 -)" in text, "a cache side with no request has no latency (null, '-')")
check(all(x["p50_ms"] > 0 for x in h["routes"]), "every route has a latency")
check(r["network"]["not_tracked"]["framing_errors"] == 1, "no other framing lost")

# ---- our C servers: chim-demo under the agent, calling chim-mockllm, which
# streams chunked responses; keep-alive client; X-Cache HIT/MISS ------------
d3 = segdir()
lport, dport = free_port(), free_port()
llm = subprocess.Popen([os.path.join(BUILD, "bin", "chim-mockllm"), "--listen",
                        f"127.0.0.1:{lport}", "--stream", "--median-ms", "5", "--p95-ms", "10"],
                       stdout=subprocess.DEVNULL)
demo = subprocess.Popen([os.path.join(BUILD, "bin", "chim-demo"), "--listen", f"127.0.0.1:{dport}",
                         "--llm", f"127.0.0.1:{lport}"], env=agent_env(d3),
                        stdout=subprocess.DEVNULL)
check(wait_port(lport, llm) and wait_port(dport, demo), "chim-demo and chim-mockllm listen")
s = socket.create_connection(("127.0.0.1", dport))
HEADREQ = [False]
for prompt in ("a", "b", "c", "a", "a"):  # 3 misses (streamed upstream calls), 2 hits
    body = ('{"prompt": "%s"}' % prompt).encode()
    s.sendall(b"POST /api/v1/generate HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n%s"
              % (len(body), body))
    recv_responses(s, 1)
s.close()
time.sleep(0.2)
demo.terminate()
demo.wait()
llm.terminate()
llm.wait()
r = report(d3)
g = routes_by_key(r).get(("POST", "/api/v1/generate"), {})
check(g.get("count") == 5 and g.get("cache", {}).get("hits") == 2 and g["cache"]["misses"] == 3,
      f"demo generate: 5 requests, 2 X-Cache hits, 3 misses ({g.get('count')}, {g.get('cache')})")
up = [u for u in r["upstreams"] if u["protocol"] == "http"]
check(len(up) == 1 and up[0]["count"] == 3 and up[0]["peer"] == f"127.0.0.1:{lport}",
      f"3 streamed (chunked) upstream calls to the mock LLM ({up})")

# ---- nginx + wrk: counts against the server's own access log and wrk --------
ng = None
if shutil.which("nginx") and shutil.which("wrk"):
    d2, root = segdir(), tempfile.mkdtemp(prefix="chimng-")
    os.chmod(root, 0o755)
    port = free_port()
    with open(os.path.join(root, "index.html"), "w") as f:
        f.write("hello\n")
    with open(os.path.join(root, "big.bin"), "wb") as f:
        f.write(os.urandom(300000))
    for n in ("index.html", "big.bin"):
        os.chmod(os.path.join(root, n), 0o644)
    user = "user www-data;" if os.getuid() == 0 else ""
    conf = os.path.join(root, "nginx.conf")
    open(os.path.join(root, "access.log"), "w").close()
    os.chmod(os.path.join(root, "access.log"), 0o666)
    with open(conf, "w") as f:
        f.write(f"""{user} worker_processes 2; daemon off; master_process on;
pid {root}/nginx.pid; error_log {root}/error.log;
events {{ worker_connections 256; }}
http {{ log_format done '$request_completion $status';
  access_log {root}/access.log done; sendfile on; client_body_temp_path {root}/b;
  proxy_temp_path {root}/p; fastcgi_temp_path {root}/f; uwsgi_temp_path {root}/u;
  scgi_temp_path {root}/s; server {{ listen 127.0.0.1:{port}; root {root}; }} }}
""")
    ng = subprocess.Popen(["nginx", "-c", conf, "-p", root], env=agent_env(d2))
    check(wait_port(port, ng), "nginx (master + 2 workers) listens under the agent")
    w = subprocess.run(["wrk", "-t1", "-c8", "-d2s", "--latency", f"http://127.0.0.1:{port}/index.html"],
                       capture_output=True, text=True).stdout
    done = int(re.search(r"(\d+) requests in", w).group(1))
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", w)
    wrk_p50_ms = float(p50.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[p50.group(2)]
    for _ in range(3):  # sendfile bodies
        subprocess.run(["curl", "-s", "-o", "/dev/null", f"http://127.0.0.1:{port}/big.bin"])
    subprocess.run(["curl", "-s", "-o", "/dev/null", f"http://127.0.0.1:{port}/missing"])
    # Header lines nginx rejects (400) or ignores (200): the agent frames
    # what the server answers and does not lose the connection.
    odd = {b"GET /odd HTTP/1.1\r\nHost: x\r\nBad Header: x\r\n\r\n": b"400",
           b"GET /index.html HTTP/1.1\r\nHost: x\r\nX@y: z\r\nNoColonLine\r\n"
           b"Connection: close\r\n\r\n": b"200"}
    for req, want in odd.items():
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(req)
            got = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
        check(got.split(b" ")[1:2] == [want], f"nginx answers {want.decode()} to an odd header line")
    ng.send_signal(3)
    ng.wait(timeout=20)
    # nginx logs every request it read, also those whose response never went
    # out (wrk stops with requests in flight): $request_completion says OK
    # only for responses sent in full, which is what the agent counts.
    log = open(os.path.join(root, "access.log")).read().split("\n")
    logged = sum(1 for line in log if line.startswith("OK "))
    r = report(d2)
    rt = routes_by_key(r)
    idx = rt.get(("GET", "/index.html"), {}).get("count", 0) - 1  # less the odd head's 200
    big = rt.get(("GET", "/big.bin"), {})
    check(r["http_server"]["requests"] == logged,
          f"agent's count {r['http_server']['requests']} == nginx's completed requests {logged} "
          f"(access log: {sum(1 for line in log if line)} lines)")
    check(done <= idx <= done + 8,
          f"index.html: agent {idx} vs wrk's completed {done} (+ at most 8 in flight at wrk's stop)")
    check(big.get("count") == 3 and big["status"]["2xx"] == 3, "sendfile bodies framed: 3 x 200")
    check(rt.get(("GET", "/missing"), {}).get("status", {}).get("4xx") == 1, "404 recorded")
    check(rt.get(("GET", "/odd"), {}).get("status", {}).get("4xx") == 1,
          "the 400 to a malformed header line is framed and recorded")
    check(r["network"]["not_tracked"]["framing_errors"] == 0, "odd header lines lose no framing")
    sp50 = rt[("GET", "/index.html")]["p50_ms"] if idx else 1e9
    check(sp50 <= wrk_p50_ms, f"server-side p50 {sp50:.3f} ms <= wrk's p50 {wrk_p50_ms:.3f} ms")
    workers = [p for p in r["processes"] if p["forked_child"]]
    check(len(workers) >= 2 and sum(p.get("http_server", {}).get("requests", 0) for p in workers)
          == r["http_server"]["requests"], "workers' counts add up to the total")
    shutil.rmtree(root, ignore_errors=True)
    dirs = [d, d2, d3, dc]
else:
    check(False, "nginx and wrk installed (tools/deps.sh --test)")
    dirs = [d, d3, dc]
finish(dirs)
