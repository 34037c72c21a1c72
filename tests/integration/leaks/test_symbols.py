"""Symbolization of leak stacks, with small programs compiled here.

Inlined frames: a malloc inside an always_inline function, itself inlined
into a noinline one (-O2), shows as the inline function at the malloc's
line, then the function it was inlined into at the call's line, then the
real caller; in JSON stack[] and in --folded, through one and two inline
levels, in a shared library and in the executable.

Build ids: an executable rebuilt after its process ran is not used to name
that process's frames (its symbols are another program's): they show as
module+0xOFFSET, one warning on stderr names the file, however many
processes used it; without a recorded build id the file is used as before;
the copy kept by build id under /usr/lib/debug/.build-id names them again
(checked in a private mount namespace, when the test may make one)."""
import json
import os
import shutil
import subprocess
import tempfile

from leaktest import *  # noqa: F401,F403

CC = shutil.which("cc") or shutil.which("gcc")
if not CC:
    skip("no C compiler")
work = tempfile.mkdtemp(prefix="chimsym-")
dirs = []


def write(name, src):
    path = os.path.join(work, name)
    with open(path, "w") as f:
        f.write(src)
    return path


def line_of(src, marker):
    return next(n for n, text in enumerate(src.splitlines(), 1) if marker in text)


def collect(d, *args):
    """chimcollect leaks --dir d ARGS: (stdout, stderr)."""
    r = subprocess.run([COLLECT, "leaks", "--dir", d, *args], capture_output=True, text=True,
                       check=True, cwd="/")
    return r.stdout, r.stderr


def run(prog, times=1, **env):
    d = segdir()
    dirs.append(d)
    for _ in range(times):
        subprocess.run([prog], env=agent_env(d, CHIM_MODE="full", **env), check=True,
                       stdout=subprocess.DEVNULL)
    return d


def frames(site):
    return [(f["function"], os.path.basename(f["file"]), f["line"]) for f in site["stack"]]


# ---- inlined frames ---------------------------------------------------------

LIB = """#include <stdlib.h>
static inline __attribute__((always_inline)) char *inner_alloc(size_t n)
{
    char *p = malloc(n); /* inner malloc */
    p[0] = 1;
    return p;
}
__attribute__((noinline)) char *lib_leak(size_t n)
{
    char *p = inner_alloc(n); /* lib call */
    p[1] = 2;
    return p;
}
"""
EXE = """#include <stdlib.h>
char *lib_leak(size_t n);
static inline __attribute__((always_inline)) char *leaf(int n)
{
    char *p = malloc(n); /* leaf malloc */
    p[0] = 3;
    return p;
}
static inline __attribute__((always_inline)) char *mid(int n)
{
    char *p = leaf(n); /* mid call */
    p[1] = 4;
    return p;
}
__attribute__((noinline)) char *outer(int n)
{
    char *p = mid(n); /* outer call */
    p[2] = 5;
    return p;
}
char *volatile sink;
int main(void)
{
    for (int i = 0; i < 3; i++)
        sink = lib_leak(1000); /* main lib */
    sink = outer(777); /* main outer */
    sink = 0;
    return 0;
}
"""
lib = os.path.join(work, "libinl.so")
subprocess.run([CC, "-O2", "-g", "-shared", "-fPIC", write("libinl.c", LIB), "-o", lib], check=True)
inl = os.path.join(work, "inl")
subprocess.run([CC, "-O2", "-g", write("inl.c", EXE), "-o", inl, "-L" + work, "-linl",
                "-Wl,-rpath," + work], check=True)
d = run(inl)
out, _ = collect(d, "--format", "json")
sites = {s["function"]: s for s in json.loads(out)["sites"]}
want_lib = [("inner_alloc", "libinl.c", line_of(LIB, "inner malloc")),
            ("lib_leak", "libinl.c", line_of(LIB, "lib call")),
            ("main", "inl.c", line_of(EXE, "main lib"))]
got = frames(sites["inner_alloc"]) if "inner_alloc" in sites else list(sites)
check(got == want_lib, f"library: inlined malloc, then the function it is inlined into at the "
                       f"call's line, then main ({got} == {want_lib})")
s = sites.get("inner_alloc", {})
check((s.get("line"), s.get("count")) == (want_lib[0][2], 3),
      f"library: the site is the innermost inline frame, 3 blocks ({s.get('line')}, "
      f"{s.get('count')})")
want_exe = [("leaf", "inl.c", line_of(EXE, "leaf malloc")),
            ("mid", "inl.c", line_of(EXE, "mid call")),
            ("outer", "inl.c", line_of(EXE, "outer call")),
            ("main", "inl.c", line_of(EXE, "main outer"))]
got = frames(sites["leaf"]) if "leaf" in sites else list(sites)
check(got == want_exe, f"executable: two inline levels expanded ({got} == {want_exe})")
folded, _ = collect(d, "--folded")
check("main;lib_leak;inner_alloc 3000" in folded.splitlines() and
      "main;outer;mid;leaf 777" in folded.splitlines(),
      f"--folded carries the inline frames ({folded.splitlines()})")

# ---- build ids --------------------------------------------------------------

PROG = """#include <stdlib.h>
char *volatile sink;
PADDING
__attribute__((noinline)) void leak_a(void) { sink = malloc(100); }
__attribute__((noinline)) void leak_b(void) { sink = malloc(200); }
int main(void)
{
    leak_a();
    leak_b();
    sink = 0;
    return 0;
}
"""
PAD = "__attribute__((noinline)) void padding_fn(void) { volatile int x[64]; " \
      "for (int i = 0; i < 64; i++) x[i] = i * i; }"


def build_prog(name, padding, build_id):
    src = write(name + ".c", PROG.replace("PADDING", padding))
    out = os.path.join(work, name)
    subprocess.run([CC, "-O0", "-g", "-fno-omit-frame-pointer", "-Wl,--build-id=" + build_id,
                    src, "-o", out], check=True)
    return out


def named(d):
    out, err = collect(d, "--format", "json")
    fns = sorted(s["function"] for s in json.loads(out)["sites"])
    return fns, err


rb = build_prog("rb", "", "sha1")
d = run(rb, times=2)  # two processes, one warning
fns, err = named(d)
check(fns == ["leak_a", "leak_a", "leak_b", "leak_b"] and not err,
      f"unchanged file: named, no warning ({fns}, {err!r})")
shutil.copy(rb, rb + ".orig")
subprocess.run(["objcopy", "--only-keep-debug", rb, rb + ".debug"], check=True)
old_id = subprocess.run(["readelf", "-n", rb], capture_output=True, text=True).stdout
old_id = old_id.split("Build ID:")[1].split()[0]
build_prog("rb", PAD, "sha1")
fns, err = named(d)
base = os.path.basename(rb) + "+0x"
check(len(fns) == 4 and all(f.startswith(base) for f in fns) and len(set(fns)) == 2,
      f"rebuilt file: frames as module+offset, two sites per process, not merged ({fns})")
out, _ = collect(d, "--format", "json")
stale = [f for s in json.loads(out)["sites"] for f in s["stack"] if f["module"] == rb]
check(stale and all(f["function"].startswith(base) and f["line"] == 0 for f in stale),
      f"rebuilt file: no frame of it named ({[(f['function'], f['line']) for f in stale]})")
lines = err.splitlines()
check(len(lines) == 1 and rb in lines[0] and "build id differs" in lines[0],
      f"rebuilt file: one warning naming it ({lines})")

nb = build_prog("nb", "", "none")
dn = run(nb)
build_prog("nb", "", "none")
fns, err = named(dn)
check(fns == ["leak_a", "leak_b"] and not err,
      f"no build id recorded: the file is used as before ({fns}, {err!r})")

# The copies kept by build id, in a private mount namespace over /usr/lib/debug.
if os.geteuid() == 0 and shutil.which("unshare") and os.path.isdir("/usr/lib/debug"):
    for kept, suffix in ((rb + ".debug", ".debug"), (rb + ".orig", "")):
        dest = f"/usr/lib/debug/.build-id/{old_id[:2]}/{old_id[2:]}{suffix}"
        script = (f"mount -t tmpfs none /usr/lib/debug && mkdir -p {os.path.dirname(dest)} && "
                  f"cp {kept} {dest} && exec {COLLECT} leaks --dir {d} --format json")
        r = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True,
                           text=True)
        if r.returncode != 0:
            print(f"note: no private mount namespace ({r.stderr.strip()}): "
                  f"/usr/lib/debug/.build-id not checked")
            break
        fns = sorted(s["function"] for s in json.loads(r.stdout)["sites"])
        check(fns == ["leak_a", "leak_a", "leak_b", "leak_b"] and not r.stderr,
              f"rebuilt file, .build-id/xx/yyyy{suffix} kept: named from it ({fns})")
else:
    print("note: not root or no unshare: /usr/lib/debug/.build-id not checked")

shutil.rmtree(work, ignore_errors=True)
finish(dirs)
