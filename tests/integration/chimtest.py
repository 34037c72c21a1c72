"""chimtest - shared helpers for the integration tests: run programs under
the agent in a private segment directory and read chimcollect's JSON."""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
AGENT = os.path.join(BUILD, "lib", "libchimagent.so")
COLLECT = os.path.join(BUILD, "bin", "chimcollect")
TBIN = os.path.join(BUILD, "tests", "bin")
FAILS = []


def segdir():
    d = tempfile.mkdtemp(prefix="chimit-")
    os.chmod(d, 0o700)
    return d


def agent_env(d, **extra):
    env = dict(os.environ)
    env["LD_PRELOAD"] = AGENT
    env["CHIM_DIR"] = d
    env.update({k: str(v) for k, v in extra.items()})
    return env


def report(d, *args):
    out = subprocess.run([COLLECT, "report", "--dir", d, "--format", "json", *args],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, proc=None, timeout=10):
    """Waits until 127.0.0.1:port accepts; False if proc exits or time runs out."""
    end = time.time() + timeout
    while time.time() < end and (proc is None or proc.poll() is None):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILS.append(what)


def finish(cleanup=()):
    for d in cleanup:
        shutil.rmtree(d, ignore_errors=True)
    print(f"{len(FAILS) == 0 and 'PASS' or 'FAIL'}: {len(FAILS)} failed check(s)")
    sys.exit(1 if FAILS else 0)


def skip(why):
    print("SKIP: " + why)
    sys.exit(77)
