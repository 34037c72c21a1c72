"""Blind spots are detected and flagged, not silently missed: io_uring set
up through syscall(), TLS on an accepted socket, and a static binary
started with `chimcollect run`."""
import os
import socket
import subprocess
import sys
import time
from chimtest import *

HERE = os.path.dirname(os.path.abspath(__file__))
PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable

d = segdir()
out = subprocess.run([os.path.join(TBIN, "uring_probe")], env=agent_env(d), capture_output=True,
                     text=True)
r = report(d)
spots = r.get("network", {}).get("blind_spots", [])
if out.stdout.strip() == "ring":
    check(any("io_uring" in s for s in spots), f"io_uring flagged: {spots}")
else:
    print("note: io_uring_setup refused here; only the hook path is exercised")

d2 = segdir()
s = socket.socket()
s.bind(("127.0.0.1", 0))
port = s.getsockname()[1]
s.close()
srv = subprocess.Popen([PY, os.path.join(HERE, "http_app.py"), str(port)], env=agent_env(d2))
for _ in range(100):
    try:
        c = socket.create_connection(("127.0.0.1", port), 0.2)
        break
    except OSError:
        time.sleep(0.05)
c.sendall(bytes([0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00]))
time.sleep(0.3)
c.close()
time.sleep(0.2)
srv.terminate()
srv.wait()
r = report(d2)
spots = r.get("network", {}).get("blind_spots", [])
check(any(s.startswith("tls") for s in spots), f"TLS flagged: {spots}")
check(r["http_server"]["requests"] == 0 and r["network"]["not_tracked"]["framing_errors"] == 0,
      "no request or status invented from TLS bytes")

st = "/tmp/chim_static_probe"
if subprocess.run(["gcc", "-static", "-o", st, "-x", "c", "-"], input="int main(void){return 0;}",
                  text=True, capture_output=True).returncode == 0:
    out = subprocess.run([COLLECT, "run", "--quiet", "--dir", segdir(), "--", st],
                         capture_output=True, text=True)
    check("statically linked" in out.stderr, f"static binary warned about: {out.stderr.strip()}")
    os.unlink(st)
else:
    print("note: no static libc here; static-binary warning not exercised")
finish([d, d2])
