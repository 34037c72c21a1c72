"""What could not be answered is counted, and deep pipelines are followed
(found by a walkthrough; each case failed before its fix):

- a threading Python server whose handler crashes on some requests (the
  connection ends without an answer) and cuts one response short:
  http_server.unanswered and .truncated, no status invented (they were
  counted nowhere);
- a client under the agent calling a server that drops or cuts some calls:
  the upstream's `failed` (its count and errors said nothing);
- Redis and memcached pipelines of 100 commands in one write: every
  command reported, hits and misses exact (16 were, the rest silently not).
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import urllib.request
from chimtest import *

PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
work = tempfile.mkdtemp(prefix="chiminc-")
dirs = []

SERVER = r'''
import sys
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        if self.path.startswith("/buggy"):
            raise RuntimeError("handler bug")  # the connection ends unanswered
        if self.path.startswith("/cut"):
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly-ten!!")
            self.close_connection = True
            return
        self.send_response(200)
        self.send_header("Content-Length", "3")
        self.end_headers()
        self.wfile.write(b"ok\n")
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
'''
srv_py = os.path.join(work, "srv.py")
with open(srv_py, "w") as f:
    f.write(SERVER)


def fetch(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
            r.read()
            return r.status
    except Exception as e:  # noqa: BLE001 - a dropped or cut call
        return type(e).__name__


# ---- the server side ----------------------------------------------------------
d = segdir()
dirs.append(d)
port = free_port()
srv = subprocess.Popen([PY, srv_py, str(port)], env=agent_env(d), stderr=subprocess.DEVNULL)
check(wait_port(port, srv), "the crashing server listens")
got = [fetch(port, p) for p in ("/ok", "/buggy1", "/ok2", "/buggy2", "/cut", "/buggy3")]
srv.terminate()
srv.wait(timeout=10)
check(got.count(200) == 2 and len([g for g in got if g != 200]) == 4, f"2 answered, 4 not ({got})")
h = report(d)["http_server"]
check(h["requests"] == 2 and h["errors"] == 0 and h["unanswered"] == 3 and h["truncated"] == 1,
      f"server: 2 requests, 3 unanswered, 1 cut short, no 5xx invented ({h['requests']}, "
      f"{h['unanswered']}, {h['truncated']}, {h['errors']})")
text = subprocess.run([COLLECT, "report", "--dir", d], capture_output=True, text=True,
                      check=True).stdout
check("3 requests the connection ended without an answer, 1 response cut short" in text,
      "the text report says so")

# ---- the client side: a plain server (not under the agent) drops and cuts ---
port2 = free_port()
srv2 = subprocess.Popen([PY, srv_py, str(port2)], stderr=subprocess.DEVNULL)
check(wait_port(port2, srv2), "the plain server listens")
CLIENT = r'''
import http.client, sys
port = int(sys.argv[1])
for path in ("/ok", "/buggy", "/cut", "/ok", "/buggy"):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("GET", path, headers={"Host": "api.test"})
        c.getresponse().read()
    except Exception:
        pass
    c.close()
'''
cli_py = os.path.join(work, "cli.py")
with open(cli_py, "w") as f:
    f.write(CLIENT)
d2 = segdir()
dirs.append(d2)
subprocess.run([PY, cli_py, str(port2)], env=agent_env(d2), check=True, timeout=30)
srv2.terminate()
srv2.wait(timeout=10)
ups = report(d2)["upstreams"]
check(len(ups) == 1 and ups[0]["count"] == 2 and ups[0]["failed"] == 3 and ups[0]["errors"] == 0
      and ups[0]["host"] == "api.test",
      f"client: 2 calls answered, 3 failed ({[(u['host'], u['count'], u['failed']) for u in ups]})")

# ---- deep pipelines: Redis and memcached, 100 commands in one write --------
if shutil.which("redis-server") and shutil.which("memcached"):
    rport, mport = free_port(), free_port()
    rs = subprocess.Popen(["redis-server", "--port", str(rport), "--bind", "127.0.0.1", "--save",
                           "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
    ms = subprocess.Popen(["memcached", "-l", "127.0.0.1", "-p", str(mport), "-U", "0"] +
                          (["-u", "root"] if os.geteuid() == 0 else []))
    check(wait_port(rport, rs) and wait_port(mport, ms), "redis-server and memcached listen")
    PIPE = r'''
import socket, sys
rport, mport = int(sys.argv[1]), int(sys.argv[2])
cmd = lambda *a: b"*%d\r\n" % len(a) + b"".join(b"$%d\r\n%s\r\n" % (len(x), x) for x in a)
s = socket.create_connection(("127.0.0.1", rport))
s.sendall(cmd(b"SET", b"pk", b"v"))
s.recv(100)
s.sendall(b"".join(cmd(b"GET", b"pk" if i % 2 == 0 else b"missing") for i in range(100)))
got = b""
while got.count(b"\r\n") < 150:
    got += s.recv(65536)
s.close()
m = socket.create_connection(("127.0.0.1", mport))
m.sendall(b"set pk 0 0 1\r\nv\r\n")
m.recv(100)
m.sendall(b"".join(b"get pk\r\n" if i % 2 == 0 else b"get missing\r\n" for i in range(100)))
got = b""
while got.count(b"END\r\n") < 100:
    got += m.recv(65536)
m.close()
'''
    pipe_py = os.path.join(work, "pipe.py")
    with open(pipe_py, "w") as f:
        f.write(PIPE)
    d3 = segdir()
    dirs.append(d3)
    subprocess.run([PY, pipe_py, str(rport), str(mport)], env=agent_env(d3), check=True,
                   timeout=30)
    rs.terminate()
    ms.terminate()
    r = report(d3)
    byp = {u["protocol"]: u for u in r["upstreams"]}
    for proto in ("redis", "memcached"):
        u = byp.get(proto, {})
        check(u.get("count") == 101 and u.get("hits") == 50 and u.get("misses") == 50,
              f"{proto}: a pipeline of 100 GETs and the SET: 101 calls, 50 hits, 50 misses "
              f"({u.get('count')}, {u.get('hits')}, {u.get('misses')})")
    check(r["network"]["not_tracked"]["pipeline_overflow"] == 0, "nothing past the FIFO")
else:
    print("note: redis-server or memcached missing: pipelines not checked")

shutil.rmtree(work, ignore_errors=True)
finish(dirs)
