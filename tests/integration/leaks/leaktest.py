"""leaktest - helpers for the leak corpus tests: run a corpus program under
the agent, read `chimcollect leaks --format json`, and compare its sites
with the "expect" comments in the program's source."""
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from chimtest import *  # noqa: E402,F401

SRC = os.path.dirname(os.path.abspath(__file__))
EXPECT = re.compile(r"expect\s+(?:(parent|child|both)\s+)?(leak|retained|churn)(?:\s+(\d+)\s+(\d+))?")


def expectations(prog, role=None):
    """{line: (class, blocks, bytes)} from the program's expect comments."""
    out = {}
    with open(os.path.join(SRC, prog + ".c")) as f:
        for n, line in enumerate(f, 1):
            m = EXPECT.search(line)
            if not m:
                continue
            who, cls, blocks, nbytes = m.groups()
            if role and who not in (None, role, "both"):
                continue
            if not role and who is not None:
                continue
            out[n] = (cls, int(blocks) if blocks else None, int(nbytes) if nbytes else None)
    return out


def run_prog(prog, mode, args=(), **env):
    d = segdir()
    e = agent_env(d, CHIM_MODE=mode, **env)
    subprocess.run([os.path.join(TBIN, prog), *map(str, args)], env=e, check=True,
                   stdout=subprocess.DEVNULL)
    return d


def leaks(d, *args):
    out = subprocess.run([COLLECT, "leaks", "--dir", d, "--format", "json", *args],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def sites_of(report, prog, pid=None):
    """Sites in the program's own source, keyed by line."""
    got = {}
    for s in report["sites"]:
        if pid is not None and s["pid"] != pid:
            continue
        if os.path.basename(s["file"]) == prog + ".c":
            got.setdefault(s["line"], []).append(s)
    return got


def check_exact(report, prog, expect, what, pid=None):
    """Every expected site with its class, blocks and bytes; nothing else."""
    got = sites_of(report, prog, pid)
    for line, (cls, blocks, nbytes) in sorted(expect.items()):
        s = got.get(line)
        if not s:
            check(False, f"{what}: site {prog}.c:{line} ({cls}) reported")
            continue
        s = s[0]
        ok = s["class"] == cls and (blocks is None or s["count"] == blocks) and \
            (nbytes is None or s["bytes"] == nbytes)
        check(ok, f"{what}: {prog}.c:{line} {s['function']} {s['class']} {s['count']} blocks "
                  f"{s['bytes']} B == {cls} {blocks} {nbytes}")
    extra = [(s["function"], s.get("file"), s["line"], s["class"], s["bytes"])
             for s in (report["sites"] if pid is None else
                       [x for x in report["sites"] if x["pid"] == pid])
             if not (os.path.basename(s["file"]) == prog + ".c" and s["line"] in expect)]
    check(not extra, f"{what}: no other sites ({extra})")
