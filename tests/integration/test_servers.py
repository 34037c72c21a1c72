"""Servers under the agent: nginx (master and a www-data worker) serving
files to curl, and redis-server (linked with jemalloc) under redis-benchmark.
Both keep working, stop cleanly, and show in the report."""
import os
import shutil
import socket
import subprocess
import tempfile
import time
from chimtest import *






def nginx_test():
    if not shutil.which("nginx"):
        check(False, "nginx installed (tools/deps.sh --test)")
        return None
    d, root = segdir(), tempfile.mkdtemp(prefix="chimnginx-")
    os.chmod(root, 0o755)
    port = free_port()
    with open(os.path.join(root, "index.html"), "w") as f:
        f.write("hello from nginx\n")
    conf = os.path.join(root, "nginx.conf")
    user = "user www-data;" if os.getuid() == 0 else ""
    with open(conf, "w") as f:
        f.write(f"""{user}
worker_processes 1; daemon off; master_process on;
pid {root}/nginx.pid; error_log {root}/error.log;
events {{ worker_connections 64; }}
http {{ access_log off; client_body_temp_path {root}/body; proxy_temp_path {root}/proxy;
  fastcgi_temp_path {root}/fcgi; uwsgi_temp_path {root}/uwsgi; scgi_temp_path {root}/scgi;
  server {{ listen 127.0.0.1:{port}; root {root}; }} }}
""")
    p = subprocess.Popen(["nginx", "-c", conf, "-p", root], env=agent_env(d))
    up = wait_port(port, p)
    check(up, "nginx listens under the agent")
    bodies = [subprocess.run(["curl", "-s", f"http://127.0.0.1:{port}/index.html"],
                             capture_output=True, text=True).stdout for _ in range(20)]
    check(all(b == "hello from nginx\n" for b in bodies), "nginx serves the file 20 times")
    p.send_signal(3)  # SIGQUIT: graceful stop
    check(p.wait(timeout=20) == 0, "nginx stops cleanly")
    r = report(d)
    procs = r["processes"]
    master = [x for x in procs if not x["forked_child"] and "nginx" in x["exe"]]
    workers = [x for x in procs if x["forked_child"] and "nginx: worker" in x["cmdline"]]
    check(len(master) == 1 and len(workers) >= 1,
          f"master and worker segments ({[x['cmdline'] for x in procs]})")
    if master and workers:
        check(workers[0]["ppid"] == master[0]["pid"], "worker's parent is the master")
        check(workers[0]["memory"]["allocs"] > 0, "worker's allocations are counted")
    shutil.rmtree(root, ignore_errors=True)
    return d


def redis_test():
    if not shutil.which("redis-server"):
        check(False, "redis-server installed (tools/deps.sh --test)")
        return None
    d, port = segdir(), free_port()
    p = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                          "--save", "", "--appendonly", "no", "--daemonize", "no"],
                         env=agent_env(d), stdout=subprocess.DEVNULL)
    check(wait_port(port, p), "redis-server listens under the agent")
    b = subprocess.run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-q",
                        "-n", "20000", "-c", "20", "-t", "set,get,lpush,lpop", "-d", "100"],
                       capture_output=True, text=True, timeout=120)
    check(b.returncode == 0 and "requests per second" in b.stdout,
          "redis-benchmark completes: " + " | ".join(b.stdout.split("\n")[:4]).strip())
    ping = subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True)
    check(ping.stdout.strip() == "PONG", "redis answers PING after the load")
    subprocess.run(["redis-cli", "-p", str(port), "shutdown", "nosave"], capture_output=True)
    check(p.wait(timeout=20) == 0, "redis-server exits cleanly")
    r = report(d)
    srv = [x for x in r["processes"] if "redis-server" in x["cmdline"]]
    check(len(srv) == 1 and srv[0]["memory"]["allocs"] > 20000,
          f"redis-server's allocations through jemalloc are counted "
          f"({srv[0]['memory']['allocs'] if srv else 0})")
    return d


dirs = [nginx_test(), redis_test()]
finish([x for x in dirs if x])
