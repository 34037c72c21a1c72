"""Sample mode: every leak of a megabyte or more found, bytes within 10 %.
The estimate's relative standard error is about sqrt(R / leaked bytes) for
blocks much smaller than the mean gap R, so the accuracy check runs at
R = 512 B (1 MiB leaked: 2 % standard error); at the default R = 512 KiB
the leak made of 8 MiB blocks (each sampled with probability 1 - e^-16) is
checked too."""
from leaktest import *

dirs = []
exp = expectations("leak_big")
for r_bytes, lines in ((512, sorted(exp)), (None, [l for l in exp if exp[l][2] >= 16 << 20])):
    env = {"CHIM_SAMPLE_BYTES": r_bytes} if r_bytes else {}
    d = run_prog("leak_big", "sample", **env)
    dirs.append(d)
    rep = leaks(d)
    got = sites_of(rep, "leak_big")
    tag = f"R={r_bytes or 524288}"
    for line in lines:
        cls, blocks, nbytes = exp[line]
        s = got.get(line)
        check(bool(s), f"{tag}: leak_big.c:{line} found")
        if s:
            err = abs(s[0]["bytes"] - nbytes) / nbytes
            check(err <= 0.10, f"{tag}: leak_big.c:{line} {s[0]['bytes']} B vs {nbytes} B "
                               f"({100 * err:.1f} % off, reported stderr {s[0].get('bytes_stderr')})")
    churn = [s for s in rep["sites"] if s["function"] == "churn"]
    check(not churn, f"{tag}: the churn site is not reported ({churn[:1]})")
finish(dirs)
