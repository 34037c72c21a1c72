/*
 * test_analyzer_e2e.c - end to end through the real chimcollect binary: a
 * real program runs under the agent ('chimcollect run'), its report goes
 * through 'gate', 'baseline save|list|show' and 'config', and the exit
 * codes are checked: 0 all gates pass, 1 a gate fails or has no data,
 * 2 usage or input errors.
 */
#include <criterion/criterion.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char bin[PATH_MAX], dir[64];

static void setup(void)
{
    char exe[PATH_MAX] = {0};
    cr_assert_gt(readlink("/proc/self/exe", exe, sizeof exe - 1), 0);
    char *d = dirname(dirname(dirname(exe))); /* build/tests/bin/x -> build */
    snprintf(bin, sizeof bin, "%s/bin/chimcollect", d);
    strcpy(dir, "/tmp/chim-e2e-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    unsetenv("PERF_FAIL_ON_REGRESSION");
    unsetenv("PERF_THROUGHPUT_TARGET");
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(e2e, .init = setup, .fini = teardown, .timeout = 60);

/* Runs a shell command in the test directory; returns its exit code. */
static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[2048], full[2400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    snprintf(full, sizeof full, "cd '%s' && %s", dir, cmd);
    int st = system(full);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *slurp(const char *name)
{
    static char buf[1 << 16];
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "r");
    cr_assert_not_null(f, "%s", p);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void need_binary(void)
{
    if (access(bin, X_OK) != 0)
        cr_skip_test("chimcollect not built at %s", bin);
}

Test(e2e, real_instrumented_run_through_gate)
{
    need_binary();
    for (int i = 0; i < 3; i++)
        cr_assert_eq(sh("'%s' run --dir seg%d --format json --out run%d.json --quiet -- "
                        "sort /etc/services > /dev/null",
                        bin, i, i),
                     0);
    int rc = sh("'%s' gate --report run0.json --no-baseline --junit j.xml > out.txt", bin);
    const char *out = slurp("out.txt");
    cr_assert(strstr(out, "Gates Passed: "), "%s", out);
    cr_assert(strstr(out, "  \xe2\x9c\x85 memory: Peak memory: "), "%s", out);
    cr_assert(strstr(out, "regression_check: NO DATA"), "%s", out);
    cr_assert_eq(rc, 1, "%s", out);
    cr_assert(strstr(out, "Performance Gate: FAIL"));
    cr_assert(strstr(slurp("j.xml"), "<testsuites"));
    /* three real runs make a baseline; the same program gated again */
    cr_assert_eq(sh("'%s' baseline save --report run0.json --report run1.json --report "
                    "run2.json > save.txt",
                    bin),
                 0, "%s", slurp("save.txt"));
    cr_assert(strstr(slurp("save.txt"), "(3 runs)"));
    cr_assert_eq(sh("'%s' baseline list > list.txt", bin), 0);
    cr_assert(strstr(slurp("list.txt"), "3 runs"));
    cr_assert_eq(sh("'%s' baseline show > show.txt", bin), 0);
    cr_assert(strstr(slurp("show.txt"), "peak_memory_mb"));
    sh("'%s' gate --report run0.json --report run1.json --report run2.json > out2.txt", bin);
    out = slurp("out2.txt");
    cr_assert(strstr(out, "peak_memory_mb"), "%s", out);
    cr_assert_null(strstr(out, "regression_check: NO DATA"), "%s", out);
}

static const char *good =
    "{\"schema\":\"chim.report/1\",\"memory\":{\"peak_rss_bytes\":838860800},"
    "\"http_server\":{\"requests\":1000,\"errors\":5,\"rps\":160,\"routes\":[{\"method\":\"GET\","
    "\"route\":\"/a\",\"count\":1000,\"errors\":5,\"p95_ms\":1800}]},"
    "\"cache\":{\"hits\":870,\"misses\":130}}";

static void put(const char *name, const char *text)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
}

Test(e2e, exit_codes)
{
    need_binary();
    put("good.json", good);
    cr_assert_eq(sh("'%s' baseline save --report good.json >/dev/null", bin), 0);
    cr_assert_eq(sh("'%s' gate --report good.json > ok.txt", bin), 0, "%s", slurp("ok.txt"));
    cr_assert(strstr(slurp("ok.txt"), "Performance Gate: PASS\nGates Passed: 6/6\n"));
    cr_assert_eq(sh("'%s' gate --report good.json --set max_memory_mb=512 >/dev/null", bin), 1);
    cr_assert_eq(sh("PERF_FAIL_ON_REGRESSION=perhaps '%s' gate --report good.json 2>err.txt", bin),
                 2);
    cr_assert(strstr(slurp("err.txt"), "PERF_FAIL_ON_REGRESSION"));
    put("bad.json", "{\"schema\":\"chim.report/7\"}");
    cr_assert_eq(sh("'%s' gate --report bad.json 2>err.txt", bin), 2);
    cr_assert(strstr(slurp("err.txt"), "chim.report/7"));
    cr_assert_eq(sh("'%s' gate --report missing.json 2>/dev/null", bin), 2);
    cr_assert_eq(sh("'%s' gate --bogus 2>/dev/null", bin), 2);
    cr_assert_eq(sh("'%s' gate --report 2>/dev/null", bin), 2);
    put("cfg.json", "{\"performance_gates\":{\"max_memory_mb\":\"big\"}}");
    cr_assert_eq(sh("'%s' gate --config cfg.json --report good.json 2>err.txt", bin), 2);
    cr_assert(strstr(slurp("err.txt"), "performance_gates.max_memory_mb"));
    put("corrupt.json", "{\"schema\":\"chim.baseline/1\",\"runs\":[{\"metrics\":");
    cr_assert_eq(sh("'%s' gate --report good.json --baseline corrupt.json 2>/dev/null", bin), 2);
    cr_assert_eq(sh("'%s' gate --help >/dev/null", bin), 0);
    cr_assert_eq(sh("'%s' baseline --help >/dev/null", bin), 0);
    cr_assert_eq(sh("'%s' config --help >/dev/null", bin), 0);
    cr_assert_eq(sh("'%s' baseline frobnicate 2>/dev/null", bin), 2);
}

Test(e2e, config_output_round_trips)
{
    need_binary();
    cr_assert_eq(sh("PERF_THROUGHPUT_TARGET=175 '%s' config --set max_memory_mb=2048 --output "
                    "eff.json 2>/dev/null",
                    bin),
                 0);
    const char *t = slurp("eff.json");
    cr_assert(strstr(t, "\"concurrent_requests_per_second\":\t175"), "%s", t);
    cr_assert(strstr(t, "\"max_memory_mb\":\t2048"), "%s", t);
    cr_assert_eq(sh("'%s' config --config eff.json > again.json", bin), 0);
    cr_assert(strstr(slurp("again.json"), "\"max_memory_mb\":\t2048"));
}
