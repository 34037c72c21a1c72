"""test_cli_input - what a user gets when an option or setting is wrong:
chimcollect's numeric options are checked (exit 2 and one line, never read
as 0), a misspelt CHIM_MODE is reported instead of silently counting, a
segment directory the agent refuses is named with its reason, a wrong
--dir is an error, and images that ended in exec are not charged the
running image's peak RSS. Found by a new-user walkthrough."""
import json
import os
import subprocess
import time

from chimtest import COLLECT, TBIN, agent_env, check, finish, report, segdir


def collect(*args, env=None):
    return subprocess.run([COLLECT, *args], capture_output=True, text=True, env=env)


def one_line_error(r, words, what):
    err = r.stderr.strip().splitlines()
    check(r.returncode == 2 and len(err) >= 1 and all(w in err[0] for w in words),
          f"{what}: exit 2 and '{' '.join(words)}' (rc {r.returncode}, {r.stderr.strip()[:120]})")


d = segdir()
# A full-mode run of the leak corpus: sites from 16 bytes to 1 MiB.
subprocess.run([os.path.join(TBIN, "leak_basic")], env=agent_env(d, CHIM_MODE="full"),
               check=True, stdout=subprocess.DEVNULL)

# ---- numeric options ---------------------------------------------------------
one_line_error(collect("leaks", "--dir", d, "--top", "-3"), ["--top", "-3"], "leaks --top -3")
one_line_error(collect("leaks", "--dir", d, "--top", "abc"), ["--top", "abc"], "leaks --top abc")
one_line_error(collect("leaks", "--dir", d, "--pid", "abc"), ["--pid", "abc"], "leaks --pid abc")
one_line_error(collect("leaks", "--dir", d, "--min-bytes", "1x"), ["--min-bytes", "1x"],
               "leaks --min-bytes 1x")
one_line_error(collect("report", "--dir", d, "--pid", "12ab"), ["--pid", "12ab"],
               "report --pid 12ab")
one_line_error(collect("leaks", "--dir", d, "stray"), ["unexpected", "stray"], "leaks stray arg")
one_line_error(collect("leaks", "--dir", d, "--folded", "--format", "json"), ["--folded", "json"],
               "leaks --folded --format json (one output or the other)")
r = collect("leaks", "--dir", d, "--top", "0")
check(r.returncode == 0, "leaks --top 0 (all sites) is accepted")
def site_bytes(*args):
    r = collect("leaks", "--dir", d, "--format", "json", *args)
    return sorted(z["bytes"] for z in json.loads(r.stdout)["sites"]) if r.returncode == 0 else None


every = site_bytes()
check(every and min(every) < 1000 and max(every) >= 10000, "the corpus has small and large sites")
for size, floor in (("10K", 10240), ("10KiB", 10240), ("10240", 10240), ("10kb", 10000),
                    ("10KB", 10000)):
    got = site_bytes("--min-bytes", size)
    want = [b for b in every if b >= floor]
    check(got == want, f"leaks --min-bytes {size}: the sites of {floor} bytes or more ({got})")
r = collect("leaks", "--dir", d, "--min-bytes", "1G")
check(r.returncode == 0 and "no site reaches --min-bytes" in r.stdout and "--all" not in r.stdout,
      f"leaks --min-bytes above every site names the option, not --all ({r.stdout.strip()[-80:]})")

# ---- a wrong directory -------------------------------------------------------
one_line_error(collect("report", "--dir", "/nonexistent-chim-dir"),
               ["/nonexistent-chim-dir", "No such file"], "report --dir missing")
one_line_error(collect("leaks", "--dir", "/nonexistent-chim-dir"),
               ["/nonexistent-chim-dir", "No such file"], "leaks --dir missing")
pub = segdir()
os.chmod(pub, 0o777)
r = collect("run", "--dir", pub, "--", "/bin/true")
check(r.returncode == 0 and "will record nothing" in r.stderr and "chmod 700" in r.stderr,
      f"run into a 0777 directory warns, and still runs the command ({r.stderr.strip()[:100]})")
r = collect("run", "--dir", "/nonexistent-chim-dir/seg", "--quiet", "--", "/bin/true")
check(r.returncode == 0 and "cannot be created" in r.stderr,
      f"run into a directory whose parent is missing warns ({r.stderr.strip()[:100]})")
subprocess.run(["/bin/true"], env=agent_env(pub))
r = collect("report", "--dir", pub)
check(r.returncode == 0 and "refuses this directory" in r.stdout and "0777" in r.stdout,
      f"report on a 0777 directory says why it is empty ({r.stdout.strip()[-120:]})")
r = collect("leaks", "--dir", pub)
check(r.returncode == 0 and "refuses this directory" in r.stderr and "0777" in r.stderr,
      f"leaks on a 0777 directory says why it is empty ({r.stderr.strip()[-120:]})")
dbg = subprocess.run(["/bin/true"], env=agent_env(pub, CHIM_DEBUG=1), capture_output=True,
                     text=True)
check("open to group or others" in dbg.stderr, f"CHIM_DEBUG names the reason ({dbg.stderr.strip()})")
link = pub + ".link"
real = segdir()
os.symlink(real, link)
dbg = subprocess.run(["/bin/true"], env=agent_env(link, CHIM_DEBUG=1), capture_output=True,
                     text=True)
check("symlink" in dbg.stderr and os.listdir(real) == [],
      f"a symlinked directory is refused, and said so ({dbg.stderr.strip()})")
r = collect("report", "--dir", link)
check("is a symlink" in r.stdout, "report on it says why it is empty")
os.unlink(link)

# ---- CHIM_MODE -----------------------------------------------------------------
m = segdir()
subprocess.run(["/bin/true"], env=agent_env(m, CHIM_MODE="FULL"), check=True)
procs = report(m)["processes"]
check(len(procs) == 1 and procs[0]["mode"] == "full" and "mode_unrecognized" not in procs[0],
      f"CHIM_MODE=FULL is full mode ({[q['mode'] for q in procs]})")
b = segdir()
dbg = subprocess.run(["/bin/true"], env=agent_env(b, CHIM_MODE="bogus", CHIM_DEBUG=1),
                     capture_output=True, text=True)
check("CHIM_MODE" in dbg.stderr and "bogus" in dbg.stderr,
      f"CHIM_DEBUG reports a misspelt CHIM_MODE ({dbg.stderr.strip()})")
procs = report(b)["processes"]
check(len(procs) == 1 and procs[0]["mode"] == "count" and procs[0].get("mode_unrecognized"),
      "a misspelt CHIM_MODE runs in count mode, flagged in the report")
r = collect("report", "--dir", b)
check("CHIM_MODE was not count, sample or full" in r.stdout, "the text report says so")
r = collect("leaks", "--dir", b)
check("1 ran in count mode" in r.stdout and "not count, sample or full" in r.stdout,
      f"leaks says why it has nothing ({r.stdout.strip()})")
# --pid of a process with no segment here: one line naming it, exit 1
# (it used to print an empty list and exit 0, as if the process were clean).
for verb in ("leaks", "report"):
    r = collect(verb, "--dir", b, "--pid", "1")
    check(r.returncode == 1 and r.stderr.count("\n") == 1 and "process 1" in r.stderr and not r.stdout,
          f"{verb} --pid of no segment ({r.returncode}, {r.stderr.strip()})")

# ---- exec: the images before it are not the running image ---------------------
x = segdir()
p = subprocess.Popen(["/bin/sh", "-c", "exec /usr/bin/env /bin/sleep 3"], env=agent_env(x))
time.sleep(1.0)
procs = report(x)["processes"]
execed = [q for q in procs if q["state"] == "execed"]
running = [q for q in procs if q["state"] == "running"]
check(len(execed) == 2 and len(running) == 1,
      f"two images ended in exec, one runs ({[q['state'] for q in procs]})")
rss = running[0]["memory"]["peak_rss_bytes"] if running else 0
check(rss > 0 and all(q["memory"]["peak_rss_bytes"] < rss for q in execed),
      "the running image's peak RSS is not charged to the ones before the exec")
p.wait()

# ---- many small processes: the text report keeps its rows for the ones
# that matter and counts the rest; JSON lists every one --------------------
many = segdir()
for _ in range(20):
    subprocess.run(["/bin/sh", "-c", "/usr/bin/env /bin/true"], env=agent_env(many), check=True)
subprocess.run(["python3", "-c", "x = [bytearray(3000000)]"], env=agent_env(many), check=True)
procs = report(many)["processes"]
r = collect("report", "--dir", many)
rows = [ln for ln in r.stdout.splitlines() if ln[:1].isdigit()]
check(len(procs) >= 41 and len(rows) == 1 and "python3" in rows[0],
      f"text: one row (the 3 MB heap) of {len(procs)} processes ({rows})")
check(f"+ {len(procs) - 1} more" in r.stdout and "20 sh" in r.stdout.replace("dash", "sh"),
      "text: the others counted by executable")

finish([d, pub, real, m, b, x, many])
