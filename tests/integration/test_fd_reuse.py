"""Descriptor numbers reused behind the agent's back, and reads of zero
bytes (found by a walkthrough; each case failed before its fix):

- a server that closes its sockets with syscall(SYS_close), as libuv
  (Node.js) does, then opens a file at the same number, reads request-like
  text from it and writes response-like text into another: the file's
  bytes were framed as requests on the old connection (invented requests
  and 5xx errors, bytes_in 40 times too large);
- a worker that gets its connections over a Unix socket (SCM_RIGHTS, as
  Node's cluster does) at a number last used by a pipe whose close the
  agent could not see (a raw system call): nothing was reported;
- a read of zero bytes, which returns 0, was taken for the peer's end.

Counts must be exact: requests, statuses, bytes in."""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import urllib.request
from chimtest import *

PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
CC = shutil.which("cc") or shutil.which("gcc")
work = tempfile.mkdtemp(prefix="chimfd-")
RESP = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"

SERVER = r'''
import ctypes, os, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
port, n, blob, log = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", port))
ls.listen(8)
print("ready", flush=True)
for i in range(n):
    c, _ = ls.accept()
    fd = c.detach()
    z = ctypes.create_string_buffer(1)
    libc.read(fd, z, 0)  # zero bytes asked, zero read: not the peer's end
    data = b""
    while b"\r\n\r\n" not in data:
        data += os.read(fd, 4096)
    os.write(fd, %r)
    libc.syscall(3, fd)  # SYS_close, as libuv closes
    f = os.open(blob, os.O_RDONLY)  # the same number, now a file
    assert f == fd, (f, fd)
    os.read(f, 65536)
    os.close(f)
    f = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    assert f == fd, (f, fd)
    os.write(f, b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n")
    libc.syscall(3, f)
''' % RESP

srv_py = os.path.join(work, "srv.py")
with open(srv_py, "w") as f:
    f.write(SERVER)
blob = os.path.join(work, "blob.txt")
with open(blob, "wb") as f:
    f.write(b"GET /phantom/route HTTP/1.1\r\nHost: x\r\n\r\n" * 100)
log = os.path.join(work, "log.txt")


def get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        return r.status, r.read()


d = segdir()
port = free_port()
p = subprocess.Popen([PY, srv_py, str(port), "5", blob, log], env=agent_env(d),
                     stdout=subprocess.PIPE, text=True)
p.stdout.readline()
codes = [get(port, f"/r{i}")[0] for i in range(5)]
p.wait(timeout=20)
check(p.returncode == 0 and codes == [200] * 5, f"the server answered 5 requests ({codes})")
r = report(d)
h = r["http_server"]
routes = sorted((x["route"], x["count"], x["errors"]) for x in h["routes"])
check(h["requests"] == 5 and h["errors"] == 0 and
      routes == [(f"/r{i}", 1, 0) for i in range(5)],
      f"syscall(SYS_close), then a file at that number: 5 requests, no 5xx ({h['requests']}, "
      f"{h['errors']}, {routes})")
nt = {k: v for k, v in r["network"]["not_tracked"].items() if v}
check(not nt, f"nothing untracked ({nt})")
check(r["network"]["bytes_in"] < 5 * 300, f"bytes in: the requests only ({r['network']['bytes_in']})")

# A client under the agent reads zero bytes between its request and the
# reply: its call is still one upstream call.
CLIENT = r'''
import ctypes, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
port = int(sys.argv[1])
for i in range(3):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /z HTTP/1.1\r\nHost: up\r\nConnection: close\r\n\r\n")
    z = ctypes.create_string_buffer(1)
    libc.read(s.fileno(), z, 0)
    data = b""
    while True:
        b = s.recv(4096)
        if not b:
            break
        data += b
    s.close()
    assert data.startswith(b"HTTP/1.1 200"), data
'''
cli_py = os.path.join(work, "cli.py")
with open(cli_py, "w") as f:
    f.write(CLIENT)
port3 = free_port()
p = subprocess.Popen([PY, srv_py, str(port3), "3", blob, log], stdout=subprocess.PIPE, text=True)
p.stdout.readline()
d3 = segdir()
subprocess.run([PY, cli_py, str(port3)], env=agent_env(d3), check=True, timeout=20)
p.wait(timeout=20)
ups = report(d3)["upstreams"]
check(len(ups) == 1 and ups[0]["count"] == 3 and ups[0]["errors"] == 0,
      f"a client's zero-byte read: 3 upstream calls ({[(u['peer'], u['count']) for u in ups]})")

# A worker under the agent gets each connection over a Unix socket
# (SCM_RIGHTS) at the number of a pipe it closed with a raw system call.
if CC:
    worker_c = os.path.join(work, "worker.c")
    with open(worker_c, "w") as f:
        f.write(r'''#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
static void raw_close(int fd) /* a close no library call sees */
{
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "0"(3L), "D"((long)fd) : "rcx", "r11", "memory");
}
int main(int argc, char **argv)
{
    int chan = atoi(argv[1]), n = atoi(argv[2]);
    for (int i = 0; i < n; i++) {
        int p[2];
        char z;
        if (pipe(p) || write(p[1], "z", 1) != 1 || read(p[0], &z, 1) != 1)
            return 1;
        raw_close(p[0]);
        raw_close(p[1]);
        char x, cbuf[CMSG_SPACE(sizeof(int))];
        struct iovec v = {&x, 1};
        struct msghdr m = {0};
        m.msg_iov = &v;
        m.msg_iovlen = 1;
        m.msg_control = cbuf;
        m.msg_controllen = sizeof cbuf;
        if (recvmsg(chan, &m, 0) != 1 || !CMSG_FIRSTHDR(&m))
            return 2;
        int fd;
        memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&m)), sizeof fd);
        if (fd != p[0] && fd != p[1])
            return 3; /* the test needs the pipe's number */
        char buf[4096];
        size_t got = 0;
        while (!memmem(buf, got, "\r\n\r\n", 4)) {
            ssize_t r = read(fd, buf + got, sizeof buf - got);
            if (r <= 0)
                return 4;
            got += (size_t)r;
        }
        static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n";
        if (write(fd, resp, sizeof resp - 1) < 0)
            return 5;
        close(fd);
    }
    return 0;
}
''')
    worker = os.path.join(work, "worker")
    subprocess.run([CC, "-O1", worker_c, "-o", worker], check=True)
    d2 = segdir()
    port2 = free_port()
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    w = subprocess.Popen([worker, str(b.fileno()), "3"], env=agent_env(d2), pass_fds=[b.fileno()])
    b.close()
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port2))
    ls.listen(8)
    cl = socket.create_connection  # noqa: F841
    import threading

    def serve():
        for _ in range(3):
            c, _ = ls.accept()
            socket.send_fds(a, [b"x"], [c.fileno()])
            c.close()

    t = threading.Thread(target=serve)
    t.start()
    codes = [get(port2, f"/w{i}")[0] for i in range(3)]
    t.join()
    w.wait(timeout=20)
    check(w.returncode == 0 and codes == [200] * 3,
          f"the worker answered 3 requests (rc {w.returncode}, {codes})")
    h = report(d2)["http_server"]
    if h["requests"] != 3:
        print(subprocess.run([COLLECT, "report", "--dir", d2], capture_output=True, text=True).stdout[-2500:])
    check(h["requests"] == 3 and h["errors"] == 0,
          f"connections received over SCM_RIGHTS at a stale number: 3 requests ({h['requests']})")
    a.close()
    ls.close()
    dirs = [d, d2, d3]
else:
    print("note: no C compiler: the SCM_RIGHTS case is not run")
    dirs = [d, d3]

# One connection on two descriptors: a request read on stdin and answered
# on stdout (inetd style: a plain parent accepts and execs the handler with
# the socket on 0 and 1), and a server that reads the socket and writes a
# dup() of it. Each descriptor had a parser of its own, so neither saw an
# exchange: nothing was reported.
PARENT = r'''
import os, socket, sys
port, n, child = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", port))
ls.listen(8)
print("ready", flush=True)
for i in range(n):
    c, _ = ls.accept()
    pid = os.fork()
    if pid == 0:
        os.dup2(c.fileno(), 0)
        os.dup2(c.fileno(), 1)
        c.close()
        ls.close()
        env = dict(os.environ, LD_PRELOAD=os.environ["CHIM_TEST_AGENT"])
        os.execve(sys.executable, [sys.executable, child], env)
    c.close()
    os.waitpid(pid, 0)
'''
CHILD = r'''
import os
buf = b""
while True:
    while b"\r\n\r\n" not in buf:
        d = os.read(0, 4096)
        if not d:
            os._exit(0)
        buf += d
    head, buf = buf.split(b"\r\n\r\n", 1)
    os.write(1, b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
'''
for name, text in (("parent.py", PARENT), ("child.py", CHILD)):
    with open(os.path.join(work, name), "w") as f:
        f.write(text)
d4 = segdir()
dirs.append(d4)
port4 = free_port()
env = agent_env(d4)
env["CHIM_TEST_AGENT"] = env.pop("LD_PRELOAD")
p = subprocess.Popen([sys.executable, os.path.join(work, "parent.py"), str(port4), "3",
                      os.path.join(work, "child.py")], env=env, stdout=subprocess.PIPE, text=True)
p.stdout.readline()
codes = [get(port4, f"/i{i}")[0] for i in range(3)]
p.wait(timeout=20)
h = report(d4)["http_server"]
check(codes == [200] * 3 and h["requests"] == 3,
      f"inetd style, read on stdin and written on stdout: 3 requests ({codes}, {h['requests']})")

if CC:
    dup_c = os.path.join(work, "dupsrv.c")
    with open(dup_c, "w") as f:
        f.write(r'''#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
int main(int argc, char **argv) {
    int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1]))};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (bind(ls, (void *)&a, sizeof a) || listen(ls, 16)) return 1;
    write(1, "ready\n", 6);
    for (int i = 0; i < atoi(argv[2]); i++) {
        int c = accept(ls, 0, 0), w = dup(c); /* read on c, answer on w */
        char buf[4096];
        size_t have = 0;
        ssize_t r;
        while (!memmem(buf, have, "\r\n\r\n", 4) && (r = recv(c, buf + have, sizeof buf - have, 0)) > 0)
            have += (size_t)r;
        static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n";
        if (write(w, resp, sizeof resp - 1) < 0) return 2;
        close(w);
        close(c);
    }
    return 0;
}
''')
    dupsrv = os.path.join(work, "dupsrv")
    subprocess.run([CC, "-D_GNU_SOURCE", "-O1", dup_c, "-o", dupsrv], check=True)
    d5 = segdir()
    dirs.append(d5)
    port5 = free_port()
    p = subprocess.Popen([dupsrv, str(port5), "3"], env=agent_env(d5), stdout=subprocess.PIPE,
                         text=True)
    p.stdout.readline()
    codes = [get(port5, f"/d{i}")[0] for i in range(3)]
    p.wait(timeout=20)
    h = report(d5)["http_server"]
    check(codes == [200] * 3 and h["requests"] == 3,
          f"read on a socket, answered on its dup(): 3 requests ({codes}, {h['requests']})")

# CPython's socket.dup() duplicates with fcntl(F_DUPFD_CLOEXEC): the dup
# shares the connection too (each had a parser of its own, and all four
# requests, answered, were counted as unanswered).
PYDUP = r'''
import socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", port))
ls.listen(8)
print("ready", flush=True)
for _ in range(n):
    c, _ = ls.accept()
    w = c.dup()
    buf = b""
    while True:
        d = c.recv(65536)
        if not d:
            break
        buf += d
        while b"\r\n\r\n" in buf:
            head, buf = buf.split(b"\r\n\r\n", 1)
            w.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
    w.close()
    c.close()
'''
pydup = os.path.join(work, "pydup.py")
with open(pydup, "w") as f:
    f.write(PYDUP)
d6 = segdir()
dirs.append(d6)
port6 = free_port()
p = subprocess.Popen([PY, pydup, str(port6), "1"], env=agent_env(d6), stdout=subprocess.PIPE,
                     text=True)
p.stdout.readline()
s6 = socket.create_connection(("127.0.0.1", port6))
for i in range(4):  # keep-alive: four requests on one connection
    s6.sendall(f"GET /k{i} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    got = b""
    while got.count(b"ok\n") < 1:
        got += s6.recv(4096)
s6.close()
p.wait(timeout=20)
h = report(d6)["http_server"]
check(h["requests"] == 4 and h["unanswered"] == 0,
      f"read on a socket, answered on socket.dup() (fcntl F_DUPFD_CLOEXEC): 4 requests, none "
      f"unanswered ({h['requests']}, {h['unanswered']})")

# A vfork child shares the parent's memory until it execs; its
# close_range (Python's subprocess closes every descriptor there) detached
# the parent's connections: 0 requests and 1 unanswered for one exchange.
# A fork child closing its copies counted the parent's pending request as
# unanswered too (found by a review).
if CC:
    vf_c = os.path.join(work, "vfork_closerange.c")
    with open(vf_c, "w") as f:
        f.write(r"""/* One HTTP exchange over loopback, server and client in one thread. With
 * argv[1] == "vfork": between the request and the response, a vfork child
 * closes its descriptors (close_range, as Python's subprocess does before
 * exec) and exits. The child's descriptors are its own; the parent's
 * connections are untouched by the kernel. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/close_range.h>

int main(int argc, char **argv) {
    int vf = argc > 1 && !strcmp(argv[1], "vfork");
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(ls, (void *)&a, sizeof a);
    socklen_t l = sizeof a;
    getsockname(ls, (void *)&a, &l);
    listen(ls, 4);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    connect(c, (void *)&a, sizeof a);
    int s = accept(ls, NULL, NULL);
    const char req[] = "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
    const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    char buf[256];
    write(c, req, sizeof req - 1);
    read(s, buf, sizeof buf);
    if (vf) {
        pid_t p = vfork();
        if (p == 0) {
            close_range(3, ~0U, 0);
            _exit(0);
        }
    }
    write(s, resp, sizeof resp - 1);
    ssize_t n = read(c, buf, sizeof buf);
    printf("client got %zd bytes\n", n);
    close(c);
    close(s);
    close(ls);
    return 0;
}
""")
    vf = os.path.join(work, "vfork_closerange")
    subprocess.run([CC, "-O1", vf_c, "-o", vf], check=True)
    for how in ("vfork", "none"):
        d8 = segdir()
        dirs.append(d8)
        subprocess.run([vf, how], env=agent_env(d8), check=True, capture_output=True)
        r = report(d8)
        h, ups = r["http_server"], r["upstreams"]
        check(h["requests"] == 1 and h["unanswered"] == 0 and len(ups) == 1 and
              ups[0]["count"] == 1 and ups[0]["failed"] == 0,
              f"{how}: one exchange, both sides ({h['requests']}, {h['unanswered']}, "
              f"{[(u['count'], u['failed']) for u in ups]})")

shutil.rmtree(work, ignore_errors=True)
finish(dirs)
