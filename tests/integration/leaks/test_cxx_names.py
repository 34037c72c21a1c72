"""C++ frames in leak reports, with a program compiled here (g++ -O0, frame
pointers): functions are named as valgrind and LeakSanitizer name them,
demangled and qualified (`app::Cache::fill(int)`), lambdas too
(`...::{lambda(int)#1}::operator()(int) const`, which used to show as the
raw `_ZZN3app5Cache4fillEiENKUliE_clEi`), and a method inlined into its
caller keeps its class (the plain DWARF name was only `fill`). JSON frames
carry the mangled name as `linkage_name`; the text report shows template
arguments as `<>` (`std::vector<>::push_back(...)`) but keeps `operator<<`;
a suppression written against a mangled name still applies."""
import json
import os
import shutil
import subprocess
import tempfile

from leaktest import *  # noqa: F401,F403

CXX = shutil.which("g++") or shutil.which("c++")
if not CXX:
    skip("no C++ compiler")
work = tempfile.mkdtemp(prefix="chimcxx-")
SRC = r"""
#include <cstdlib>
#include <string>
#include <vector>
namespace app {
struct Cache {
    std::vector<std::string *> v;
    void fill(int n) {
        auto f = [&](int i) { v.push_back(new std::string(100, 'a')); }; // lambda new
        for (int i = 0; i < n; i++)
            f(i);
    }
};
template <class T> struct Box { T *p; };
template <class T> Box<T> &operator<<(Box<T> &b, int n) {
    b.p = new T[n]; // operator<< new
    return b;
}
__attribute__((noinline)) void *raw(int n) { return malloc(n); } // raw malloc
} // namespace app
static app::Cache *cache;
int main() {
    cache = new app::Cache; // cache new
    cache->fill(20);
    cache = nullptr;
    app::Box<double> b;
    b << 8;
    b.p = nullptr;
    app::raw(300);
    return 0;
}
"""
src = os.path.join(work, "cxxleak.cc")
with open(src, "w") as f:
    f.write(SRC)
prog = os.path.join(work, "cxxleak")
subprocess.run([CXX, "-O0", "-g", "-fno-omit-frame-pointer", "-o", prog, src], check=True)


def line_of(marker):
    return next(n for n, text in enumerate(SRC.splitlines(), 1) if marker in text)


d = segdir()
subprocess.run([prog], env=agent_env(d, CHIM_MODE="full"), check=True)
r = subprocess.run([COLLECT, "leaks", "--dir", d, "--format", "json"], capture_output=True,
                   text=True, check=True)
sites = {s["line"]: s for s in json.loads(r.stdout)["sites"]}

lam = sites.get(line_of("lambda new"))
check(lam is not None and lam["function"] ==
      "app::Cache::fill(int)::{lambda(int)#1}::operator()(int) const" and lam["count"] == 20,
      f"lambda site demangled ({lam and lam['function']}, {lam and lam['count']} blocks)")
if lam:
    names = [f["function"] for f in lam["stack"]]
    check(names[:3] == ["app::Cache::fill(int)::{lambda(int)#1}::operator()(int) const",
                        "app::Cache::fill(int)", "main"],
          f"lambda's stack: lambda, the method by its class, main ({names})")
    check(lam["stack"][0].get("linkage_name") == "_ZZN3app5Cache4fillEiENKUliE_clEi",
          f"JSON keeps the mangled name ({lam['stack'][0].get('linkage_name')})")
    check("linkage_name" not in lam["stack"][-1], "main (not mangled) has no linkage_name")

op = sites.get(line_of("operator<< new"))
check(op is not None and op["function"] == "app::Box<double>& app::operator<< <double>("
      "app::Box<double>&, int)", f"template operator demangled ({op and op['function']})")
raw = sites.get(line_of("raw malloc"))
check(raw is not None and raw["function"] == "app::raw(int)" and raw["bytes"] == 300,
      f"plain function in a namespace ({raw and raw['function']})")

text = subprocess.run([COLLECT, "leaks", "--dir", d], capture_output=True, text=True,
                      check=True).stdout
check("app::Box<>& app::operator<< <>(app::Box<>&, int)" in text,
      "text: template arguments shown as <>, operator<< kept")
check("std::vector<>::push_back(" in text or "std::vector<>::_M_realloc_insert<>(" in text or
      "app::Cache::fill(int) (cxxleak.cc" in text, "text: std::vector<> shortened")
check("_ZZN3app" not in text, "text: no mangled name left")

# A suppression file written with the mangled name (as valgrind's are).
supp = os.path.join(work, "supp")
with open(supp, "w") as f:
    f.write("leak:_ZZN3app5Cache4fillEiENKUliE_clEi\n")
r = subprocess.run([COLLECT, "leaks", "--dir", d, "--format", "json", "--suppress", supp],
                   capture_output=True, text=True, check=True)
lines = [s["line"] for s in json.loads(r.stdout)["sites"]]
check(line_of("lambda new") not in lines and line_of("raw malloc") in lines,
      f"a mangled-name suppression hides the lambda's site only ({lines})")

shutil.rmtree(work, ignore_errors=True)
finish([d])
