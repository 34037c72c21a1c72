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
# A server that reads and writes its connections through stdio (fdopen,
# fgets, fputs): glibc's internal calls pass no hook, so nothing is seen;
# the report says why instead of showing an idle server.
src = r"""#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
int main(int argc, char **argv) {
    int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)atoi(argv[1]));
    a.sin_addr.s_addr = htonl(0x7f000001);
    if (bind(ls, (struct sockaddr *)&a, sizeof a) || listen(ls, 4)) return 1;
    for (;;) { /* the first connection may be a probe that sends nothing */
        int c = accept(ls, 0, 0);
        FILE *in = fdopen(c, "r"), *out = fdopen(dup(c), "w");
        char line[512];
        int got = 0;
        while (fgets(line, sizeof line, in) && strcmp(line, "\r\n") != 0)
            got = 1;
        if (got)
            fputs("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n", out);
        fclose(out);
        fclose(in);
        if (got)
            return 0;
    }
}
"""
stdio_srv = "/tmp/chim_stdio_srv"
if subprocess.run(["gcc", "-O1", "-o", stdio_srv, "-x", "c", "-"], input=src, text=True,
                  capture_output=True).returncode == 0:
    d3 = segdir()
    port = free_port()
    srv = subprocess.Popen([stdio_srv, str(port)], env=agent_env(d3))
    check(wait_port(port, srv), "stdio server listens")
    import urllib.request
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/x", timeout=10).read()
    srv.wait(timeout=10)
    spots = report(d3)["network"]["blind_spots"]
    check(body == b"ok\n" and any(s.startswith("stdio") for s in spots),
          f"a socket used through stdio is flagged: {spots}")
    os.unlink(stdio_srv)
    finish([d, d2, d3])
else:
    print("note: no C compiler: the stdio blind spot is not exercised")
    finish([d, d2])
