"""fleettest - helpers for the fleet tests: an instrumented HTTP server
under the agent, `chimcollect serve` on a free loopback port, and HTTP GETs
with a chosen Accept header."""
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from chimtest import *  # noqa: E402,F401,F403

IT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
OM_ACCEPT = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
             "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, proc, timeout=10):
    end = time.time() + timeout
    while time.time() < end and proc.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def start_app(d):
    """The test HTTP app (tests/integration/http_app.py) under the agent."""
    port = free_port()
    p = subprocess.Popen([PY, os.path.join(IT, "http_app.py"), str(port)], env=agent_env(d))
    if not wait_port(port, p):
        p.kill()
        raise RuntimeError("http_app did not start")
    return p, port


def load(port, paths, n):
    """n rounds of GETs over the paths on one keep-alive connection each."""
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", port)
    for _ in range(n):
        for path in paths:
            c.request("GET", path)
            c.getresponse().read()
    c.close()


def start_serve(d, *extra):
    """chimcollect serve on a free port; returns (process, port)."""
    p = subprocess.Popen([COLLECT, "serve", "--listen", "127.0.0.1:0", "--dir", d, *extra],
                         stderr=subprocess.PIPE, text=True)
    line = p.stderr.readline()
    m = re.search(r":(\d+)/metrics", line)
    if not m:
        p.kill()
        raise RuntimeError("serve did not start: " + line)
    return p, int(m.group(1))


def get(port, path="/metrics", accept=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if accept:
        req.add_header("Accept", accept)
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, r.headers.get("Content-Type"), r.read().decode()


def stop(p):
    if p and p.poll() is None:
        p.terminate()
        try:
            return p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            return p.wait()
    return p.returncode if p else None


def parse(text):
    """{(name, frozenset(labels)): value} of an exposition."""
    out = {}
    for ln in text.splitlines():
        if not ln or ln.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$', ln)
        if not m:
            out[("__bad__", ln)] = 0
            continue
        labels = frozenset(re.findall(r'([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out
