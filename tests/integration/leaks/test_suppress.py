"""Suppressions and the C runtime's own allocations: a user suppression
file (--suppress or CHIM_SUPPRESS) hides the sites whose frames match its
patterns (function, file base or full name, module), and only those; a bad
file is one error line and exit 2; --all shows the runtime's allocations
(stdio's buffer) that are hidden by default."""
import os
import tempfile

from leaktest import *

d = run_prog("leak_basic", "full")
every = leaks(d)
lines = sorted(s["line"] for s in every["sites"])
check(len(lines) == 13, f"leak_basic: 13 sites before suppressing ({lines})")


def sup(*patterns):
    f = tempfile.NamedTemporaryFile("w", suffix=".sup", delete=False)
    f.write("# comment\n\n" + "".join(p + "\n" for p in patterns))
    f.close()
    return f.name


def remaining(*args, env=None):
    r = subprocess.run([COLLECT, "leaks", "--dir", d, "--format", "json", *args],
                       capture_output=True, text=True, env=env)
    return r, (sorted(s["line"] for s in json.loads(r.stdout)["sites"]) if r.returncode == 0
               else None)


files = []
# A function by name: many_small's one site goes, nothing else does.
files.append(sup("leak:many_small"))
_, got = remaining("--suppress", files[-1])
check(got == [x for x in lines if x != 27], f"leak:many_small hides line 27 only ({got})")
# A glob over functions, and a bare pattern (no "leak:").
files.append(sup("leak:aligne?", "realloc_*"))
_, got = remaining("--suppress", files[-1])
check(got == [x for x in lines if x not in (51, 57, 68, 70, 71)],
      f"globs hide the aligned and realloc_ sites ({got})")
# A frame below the site matches too: every stack goes through main.
files.append(sup("leak:main"))
_, got = remaining("--suppress", files[-1])
check(got == [], f"leak:main hides every site ({got})")
# The file, by base name.
files.append(sup("leak:leak_basic.c"))
_, got = remaining("--suppress", files[-1])
check(got == [], f"the source file's base name hides its sites ({got})")
# CHIM_SUPPRESS does the same as --suppress.
env = dict(os.environ, CHIM_SUPPRESS=files[0])
_, got = remaining(env=env)
check(got == [x for x in lines if x != 27], f"CHIM_SUPPRESS as --suppress ({got})")
# A bad file: one line, exit 2.
files.append(sup("frobnicate:x"))
r, _ = remaining("--suppress", files[-1])
err = r.stderr.strip().splitlines()
check(r.returncode == 2 and len(err) == 1 and "unknown suppression" in err[0],
      f"a bad suppression line is an error ({r.returncode}, {r.stderr.strip()})")
# A C++ qualified name is a pattern, not a type (no such site here: all stay).
files.append(sup("Foo::bar"))
r, got = remaining("--suppress", files[-1])
check(r.returncode == 0 and got == lines, f"'Foo::bar' is a pattern ({r.returncode}, {got})")
r, _ = remaining("--suppress", "/nonexistent.sup")
check(r.returncode == 2 and "/nonexistent.sup" in r.stderr, "a missing file is an error")
# The C runtime's own allocations: hidden, shown with --all.
_, got_all = remaining("--all")
check(len(got_all) > len(lines), f"--all also shows the runtime's allocations ({len(got_all)})")
check(109 in got_all and 109 not in lines,
      "stdio's buffer (allocated inside printf, called at line 109) is among them only")
r, _ = remaining("--suppress", os.path.dirname(files[0]))
check(r.returncode == 2 and "directory" in r.stderr, f"a directory is an error ({r.stderr.strip()})")
for f in files:
    os.unlink(f)

# One line that allocates and prints (stdio's buffer is made there too), a
# failed dlopen and dlerror (glibc's message buffers): the program's block is
# its own site, the runtime's stay hidden (a merged site used to show the
# 4 KiB buffer as the program's, and dlerror's buffers were not known).
import shutil
work = tempfile.mkdtemp(prefix="chimsup-")
src = os.path.join(work, "oneline.c")
with open(src, "w") as f:
    f.write("""#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
static void *keep;
int main(void) {
    keep = malloc(10); printf("hello\\n");
    void *h = dlopen("libnope-chim.so", RTLD_NOW);
    const char *e = dlerror();
    fprintf(stderr, "%d %d\\n", h == NULL, e != NULL);
    return 0;
}
""")
exe = os.path.join(work, "oneline")
subprocess.run(["cc", "-g", "-O0", "-fno-omit-frame-pointer", src, "-o", exe, "-ldl"], check=True)
d2 = segdir()
for mode in ("full", "sample"):
    shutil.rmtree(d2, ignore_errors=True)
    os.mkdir(d2, 0o700)
    subprocess.run([exe], env=agent_env(d2, CHIM_MODE=mode, CHIM_SAMPLE_BYTES="1"), check=True,
                   capture_output=True)
    shown = sorted((s["line"], s["live_bytes"]) for s in leaks(d2)["sites"])
    check(shown == [(6, 10)], f"{mode}: only the program's 10 bytes at line 6 ({shown})")
    hidden = sorted((s["line"], s["live_bytes"]) for s in leaks(d2, "--all")["sites"]
                    if s["suppressed"])
    check((6, 4096) in hidden and any(ln in (7, 8) for ln, _ in hidden),
          f"{mode}: stdio's buffer and dlerror's blocks are the runtime's ({hidden})")

# open_memstream's buffer is the caller's once the stream is closed: a
# leaked one is the program's leak (its last realloc, in _IO_mem_finish,
# made it look like stdio's own).
src = os.path.join(work, "ms.c")
with open(src, "w") as f:
    f.write("""#define _GNU_SOURCE
#include <stdio.h>
__attribute__((noinline)) char *render(int i) {
    char *buf; size_t len; FILE *ms = open_memstream(&buf, &len);
    fprintf(ms, "record %d %0200d", i, i);
    fclose(ms);
    return buf;
}
int main(void) { for (int i = 0; i < 100; i++) { char *volatile s = render(i); s = 0; } return 0; }
""")
exe = os.path.join(work, "ms")
subprocess.run(["cc", "-g", "-O0", "-fno-omit-frame-pointer", src, "-o", exe], check=True)
shutil.rmtree(d2, ignore_errors=True)
os.mkdir(d2, 0o700)
subprocess.run([exe], env=agent_env(d2, CHIM_MODE="full"), check=True)
got = [(s["function"], s["class"], s["count"]) for s in leaks(d2)["sites"]]
check(got == [("render", "leak", 100)], f"leaked open_memstream buffers are the program's ({got})")
shutil.rmtree(work, ignore_errors=True)
finish([d, d2])
