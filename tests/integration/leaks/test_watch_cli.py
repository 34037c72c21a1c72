"""test_watch_cli - `chimcollect leaks --watch DURATION` as a user drives it
(from an acceptance walkthrough): a window that is 0, not a number or
beyond 30 days is an error (exit 2, one line); one too short for a growth
fit is raised to 2 s with a note, and then finds the leak that plain
`leaks` finds; a watch notices within a second that the watched process
exited, whatever the window (points of a 720 h window are 6 h apart);
SIGINT or SIGTERM ends the window early and the ranking of what was seen
is printed (exit 0, one note naming the cut); a second signal ends the
collector at once."""
import json
import re
import signal
import time

from leaktest import *

exp = expectations("leak_grow")
leak_line = next(line for line, (cls, _, _) in exp.items() if cls == "leak")
GROW = os.path.join(TBIN, "leak_grow")


def watch(d, *args, timeout=30):
    return subprocess.run([COLLECT, "leaks", "--dir", d, "--format", "json", "--watch", *args],
                          capture_output=True, text=True, timeout=timeout)


def start_watch(d, window):
    return subprocess.Popen([COLLECT, "leaks", "--dir", d, "--format", "json", "--watch", window],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def grow_site(out):
    """(class, points, window_s) of leak_grow's growing site in a JSON report."""
    try:
        r = json.loads(out)
    except ValueError:
        return None
    s = sites_of(r, "leak_grow").get(leak_line)
    p = r["processes"][0] if r["processes"] else {}
    return s and (s[0]["class"], p.get("points"), round(p.get("window_s", 0), 1))


# ---- durations that are errors ------------------------------------------------
empty = segdir()
for bad, word in (("0", "above 0"), ("0s", "above 0"), ("99999999999h", "720h"), ("721h", "720h"),
                  ("inf", "720h"), ("1e999", "720h"), ("nan", "60s"), ("abc", "60s"),
                  ("-5s", "60s"), ("10x", "60s")):
    try:
        r = watch(empty, bad, timeout=5)
        err = r.stderr.strip().splitlines()
        ok = r.returncode == 2 and len(err) == 1 and "--watch" in err[0] and word in err[0] \
            and not r.stdout
        got = (r.returncode, r.stderr.strip()[:120])
    except subprocess.TimeoutExpired:
        ok, got = False, "still running after 5 s"
    check(ok, f"--watch {bad}: exit 2, one line naming --watch and '{word}' ({got})")

# ---- a process that exits early ends the longest window at once ---------------
d1 = segdir()
p = subprocess.Popen([GROW, "1.5"], env=agent_env(d1, CHIM_MODE="sample"),
                     stdout=subprocess.DEVNULL)
time.sleep(0.5)
t0 = time.monotonic()
try:
    r = watch(d1, "720h", timeout=20)
    took = time.monotonic() - t0
    check(r.returncode == 0 and took < 2.5 and grow_site(r.stdout) is not None,
          f"--watch 720h returns within 2.5 s once the process exits ~1 s in "
          f"(rc {r.returncode}, {took:.1f} s)")
except subprocess.TimeoutExpired:
    check(False, "--watch 720h returns once the process exits (still running after 20 s)")
p.wait()

# ---- a running process: short windows and signals ----------------------------
d2 = segdir()
p = subprocess.Popen([GROW, "14"], env=agent_env(d2, CHIM_MODE="full"), stdout=subprocess.DEVNULL)
time.sleep(1.0)

r = watch(d2, "1ms")
err = r.stderr.strip().splitlines()
got = grow_site(r.stdout)
check(r.returncode == 0 and len(err) == 1 and "raised to 2s" in err[0],
      f"--watch 1ms: one note that the window is raised to 2s ({r.returncode}, {err})")
check(got is not None and got[0] == "leak" and got[1] >= 5 and 1.9 <= got[2] <= 2.6,
      f"--watch 1ms: the growing site is a leak, fitted over 2 s, 5 points or more ({got})")

# SIGINT after 3 s of a 10 s window: the ranking over those 3 s, exit 0.
c = start_watch(d2, "10s")
time.sleep(3.0)
t0 = time.monotonic()
c.send_signal(signal.SIGINT)
out, err = c.communicate(timeout=10)
took = time.monotonic() - t0
err = err.strip().splitlines()
got = grow_site(out)
check(c.returncode == 0 and took < 1.5 and got is not None,
      f"SIGINT at 3 s of --watch 10s: exit 0 at once with the ranking "
      f"(rc {c.returncode}, {took:.1f} s, {out.strip()[:60]!r})")
cut = re.search(r"cut at ([0-9.]+) s", err[0]) if len(err) == 1 else None
check(cut is not None and "SIGINT" in err[0] and 2.5 <= float(cut.group(1)) <= 3.6,
      f"SIGINT: one note that the window was cut at 3 s ({err})")
check(got is not None and got[0] == "leak" and 5 <= got[1] <= 9 and 2.5 <= got[2] <= 3.6,
      f"SIGINT: the growing site is a leak, fitted over the 3 s seen ({got})")

# SIGTERM before the fit has its points: the agent's own history ranks.
c = start_watch(d2, "60s")
time.sleep(0.7)
c.send_signal(signal.SIGTERM)
out, err = c.communicate(timeout=10)
err = err.strip().splitlines()
got = grow_site(out)
check(c.returncode == 0 and got is not None and got[0] == "leak",
      f"SIGTERM at 0.7 s of --watch 60s: exit 0, the growing site a leak by the agent's history "
      f"(rc {c.returncode}, {got})")
check(len(err) == 1 and "SIGTERM" in err[0] and "too short" in err[0],
      f"SIGTERM: one note that the cut window was too short for a fit ({err})")

# A second signal while the first is being handled: the collector ends at once.
c = start_watch(d2, "60s")
time.sleep(1.0)
c.send_signal(signal.SIGINT)
c.send_signal(signal.SIGTERM)
out, err = c.communicate(timeout=10)
check(c.returncode == -signal.SIGTERM and not out,
      f"SIGINT then SIGTERM: killed by the second signal, nothing printed (rc {c.returncode})")

p.kill()
p.wait()
finish([empty, d1, d2])
