/*
 * test_analyzer_report.c - reading reports (schema and field types) and
 * writing the seed's report files: performance_report_<ts>.json with its
 * analysis, performance_summary_<ts>.csv (stable columns, RFC 4180) and a
 * self-contained performance_dashboard.html, which headless Chromium must
 * render (when Debian's chromium is installed).
 */
#include <criterion/criterion.h>
#include <glob.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chim_analyzer.h"

static char dir[64];

static void setup(void)
{
    strcpy(dir, "/tmp/chim-rep-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    setenv("PERF_TEST_DURATION", "", 1);
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(report, .init = setup, .fini = teardown);

static const char *full_report =
    "{\"schema\":\"chim.report/1\",\"generated_at\":\"2026-11-24T12:00:00Z\","
    "\"memory\":{\"peak_rss_bytes\":838860800,\"live_bytes\":1000,\"size_classes\":[]},"
    "\"http_server\":{\"requests\":1000,\"errors\":5,\"rps\":160,\"duration_s\":6.25,\"routes\":["
    "{\"method\":\"GET\",\"route\":\"/api/v1/users/{id}\",\"count\":600,\"errors\":0,"
    "\"p50_ms\":100,\"p90_ms\":900,\"p95_ms\":1800,\"p99_ms\":2500},"
    "{\"method\":\"POST\",\"route\":\"/api/\\\"odd\\\",route<x>\",\"count\":400,\"errors\":5,"
    "\"p50_ms\":50,\"p90_ms\":300,\"p95_ms\":700,\"p99_ms\":900}]},"
    "\"cache\":{\"hits\":870,\"misses\":130,\"hit_ratio\":0.87},"
    "\"timeseries\":[{\"t\":1,\"requests\":150,\"rss_bytes\":5e8,\"live_bytes\":1e8},"
    "{\"t\":2,\"requests\":170,\"rss_bytes\":7e8,\"live_bytes\":1.5e8},"
    "{\"t\":3,\"requests\":160,\"rss_bytes\":8e8,\"live_bytes\":1.6e8}],"
    "\"leaks\":[{\"function\":\"make_buf\",\"file\":\"app.c\",\"line\":42,\"bytes\":1048576}]}";

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void write_text(const char *name, const char *text, char *path, size_t len)
{
    snprintf(path, len, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

Test(report, load_valid_and_invalid)
{
    char p[256], err[256];
    write_text("r.json", full_report, p, sizeof p);
    cJSON *r = chim_report_load(p, err, sizeof err);
    cr_assert_not_null(r, "%s", err);
    cJSON_Delete(r);
    static const struct {
        const char *text, *needle;
    } bad[] = {
        {"{\"schema\":\"chim.report/2\"}", "schema 'chim.report/2' is not supported"},
        {"{\"generator\":\"x\"}", "not a chimera report"},
        {"{\"schema\":\"chim.report/1\",\"http_server\":[]}", "'report.http_server' must be"},
        {"{\"schema\":\"chim.report/1\",\"http_server\":{\"routes\":[{\"p95_ms\":\"1\"}]}}",
         "http_server.routes[0].p95_ms' must be a number"},
        {"{\"schema\":\"chim.report/1\",\"memory\":{\"peak_rss_bytes\":\"big\"}}",
         "memory.peak_rss_bytes"},
        {"{\"schema\":\"chim.report/1\",\"leaks\":[{\"line\":\"x\"}]}", "leaks[0].line"},
        {"{\"schema\":\"chim.report/1\",\"timeseries\":[3]}", "timeseries[0]"},
        {"{\"schema\":\"chim.report/1\"", "not valid JSON"},
        {"7", "must be a JSON object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_text("bad.json", bad[i].text, p, sizeof p);
        err[0] = '\0';
        r = chim_report_load(p, err, sizeof err);
        cr_expect_null(r, "accepted %s", bad[i].text);
        cr_expect(strstr(err, bad[i].needle), "'%s' not in: %s", bad[i].needle, err);
        cr_expect(strstr(err, p), "no path in: %s", err);
        cJSON_Delete(r);
    }
    cr_assert_null(chim_report_load("/nonexistent/r.json", err, sizeof err));
    cr_assert(strstr(err, "/nonexistent/r.json"));
}

Test(report, missing_blocks_are_no_data_not_zero)
{
    cJSON *r = cJSON_Parse("{\"schema\":\"chim.report/1\",\"extra_future_field\":{}}");
    struct chim_config cfg;
    chim_config_defaults(&cfg);
    struct chim_metrics m;
    chim_metrics_extract(r, &cfg, &m);
    for (int i = 0; i < CHIM_M_COUNT; i++)
        cr_assert(!m.has[i], "%s", chim_metric_name(i));
    char err[256];
    cr_assert_eq(chim_report_validate(r, "r", err, sizeof err), 0, "%s", err);
    cJSON_Delete(r);
}

static cJSON *parsed(void)
{
    return cJSON_Parse(full_report);
}

static const char *written(const char *fmt, const char *pattern)
{
    static char path[512];
    char err[256], g[256];
    cJSON *r = parsed();
    struct chim_config cfg;
    chim_config_defaults(&cfg);
    cr_assert_eq(
        chim_report_write_files(r, fmt, dir, &cfg, NULL, false, path, sizeof path, err, sizeof err),
        0, "%s", err);
    cJSON_Delete(r);
    snprintf(g, sizeof g, "%s/%s", dir, pattern);
    glob_t gl;
    cr_assert_eq(glob(g, 0, NULL, &gl), 0, "no %s", g);
    cr_assert_str_eq(gl.gl_pathv[0], path);
    globfree(&gl);
    return path;
}

Test(report, json_file)
{
    const char *p = written("json", "performance_report_[0-9]*_[0-9]*.json");
    char err[256];
    cJSON *r = chim_report_load(p, err, sizeof err);
    cr_assert_not_null(r, "%s", err);
    cJSON *a = cJSON_GetObjectItem(r, "analysis");
    cr_assert_str_eq(cJSON_GetObjectItem(a, "gate")->valuestring, "FAIL");
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(a, "gates")), 6);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(a, "targets")), 6);
    cr_assert_str_eq(
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(a, "gates"), 5), "status")
            ->valuestring,
        "NO DATA");
    cJSON_Delete(r);
}

Test(report, csv_file)
{
    const char *p = written("csv", "performance_summary_[0-9]*_[0-9]*.csv");
    const char *t = slurp(p);
    const char *header =
        "metric,scope,value,unit,limit,status,baseline,change_percent,class,verdict\r\n";
    cr_assert_eq(strncmp(t, header, strlen(header)), 0, "%s", t);
    cr_assert(strstr(t, "response_time,gate,1800,ms,2000,PASS,,,,\r\n"), "%s", t);
    cr_assert(strstr(t, "regression_check,gate,,count,,NO DATA,,,,\r\n"), "%s", t);
    cr_assert(strstr(t, "p95_ms,\"route POST /api/\"\"odd\"\",route<x>\",700,ms,"), "%s", t);
    /* every record has the header's 10 fields (quotes respected) */
    int fields = 1, quoted = 0, records = 0;
    for (const char *c = t; *c; c++) {
        if (*c == '"')
            quoted = !quoted;
        else if (!quoted && *c == ',')
            fields++;
        else if (!quoted && *c == '\n') {
            cr_assert_eq(fields, 10, "record %d has %d fields", records, fields);
            cr_assert_eq(c[-1], '\r');
            fields = 1;
            records++;
        }
    }
    cr_assert_gt(records, 20);
}

Test(report, html_is_self_contained)
{
    const char *p = written("html", "performance_dashboard.html");
    const char *t = slurp(p);
    cr_assert(strstr(t, "<!DOCTYPE html>"));
    cr_assert_null(strstr(t, "<script"));
    cr_assert_null(strstr(t, "src="));
    cr_assert_null(strstr(t, "href="));
    cr_assert_null(strstr(t, "@import"));
    cr_assert_null(strstr(t, "url("));
    static const char *ids[] = {"gates",  "targets", "latency",    "throughput",
                                "memory", "leaks",   "regressions"};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        char needle[64];
        snprintf(needle, sizeof needle, "<section id=\"%s\">", ids[i]);
        cr_assert(strstr(t, needle), "missing %s", needle);
    }
    int svgs = 0;
    for (const char *s = t; (s = strstr(s, "<svg")); s++)
        svgs++;
    cr_assert_eq(svgs, 4, "svg charts: %d", svgs); /* latency, throughput, memory, leaks */
    cr_assert(strstr(t, "/api/&quot;odd&quot;,route&lt;x&gt;"), "route not escaped");
    cr_assert(strstr(t, "make_buf (app.c:42)"));
}

Test(report, html_without_data_says_so)
{
    char path[512], err[256];
    cJSON *r = cJSON_Parse("{\"schema\":\"chim.report/1\"}");
    cr_assert_eq(chim_report_write_files(r, "html", dir, NULL, NULL, false, path, sizeof path, err,
                                         sizeof err),
                 0, "%s", err);
    const char *t = slurp(path);
    cr_assert(strstr(t, "No data: no HTTP requests were captured"));
    cr_assert(strstr(t, "No data: no baseline"));
    cr_assert_null(strstr(t, "<svg"));
    cJSON_Delete(r);
}

Test(report, unknown_format_is_an_error)
{
    char path[512], err[256];
    cJSON *r = parsed();
    cr_assert_lt(chim_report_write_files(r, "pdf", dir, NULL, NULL, false, path, sizeof path, err,
                                         sizeof err),
                 0);
    cr_assert(strstr(err, "pdf"), "%s", err);
    cJSON_Delete(r);
}

Test(report, chromium_renders_dashboard, .timeout = 90)
{
    const char *bin = access("/usr/bin/chromium", X_OK) == 0 ? "/usr/bin/chromium" : NULL;
    if (!bin)
        cr_skip_test("chromium is not installed");
    const char *p = written("html", "performance_dashboard.html");
    char cmd[1024], out[256];
    snprintf(out, sizeof out, "%s/dom.html", dir);
    snprintf(cmd, sizeof cmd,
             "%s --headless --no-sandbox --disable-gpu --dump-dom 'file://%s' > '%s' 2>/dev/null",
             bin, p, out);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    const char *dom = slurp(out);
    cr_assert(strstr(dom, "Performance Gate: FAIL"), "DOM: %.300s", dom);
    cr_assert(strstr(dom, "<svg"), "no SVG in the rendered DOM");
    cr_assert(strstr(dom, "<polyline"), "no line chart in the rendered DOM");
    snprintf(out, sizeof out, "%s/shot.png", dir);
    snprintf(cmd, sizeof cmd,
             "%s --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1000,2400 "
             "--screenshot='%s' 'file://%s' >/dev/null 2>&1",
             bin, out, p);
    cr_assert_eq(system(cmd), 0);
    cr_assert_eq(access(out, R_OK), 0, "no screenshot");
}

/* Mutated reports and baselines: whatever parses is validated, and whatever
 * validates is analyzed and rendered, without a crash (run under ASan). */
Test(report, mutated_inputs_never_crash, .timeout = 60)
{
    size_t n = strlen(full_report);
    char *buf = malloc(n + 1);
    static const char subst[] = "\"{}[]:,0-1e9x\\ ";
    unsigned seed = 12345;
    struct chim_config cfg;
    chim_config_defaults(&cfg);
    FILE *devnull = fopen("/dev/null", "w");
    int valid = 0;
    for (int it = 0; it < 3000; it++) {
        memcpy(buf, full_report, n + 1);
        for (int k = 0; k < 1 + it % 4; k++) {
            seed = seed * 1103515245u + 12345u;
            buf[(seed >> 8) % n] = subst[(seed >> 20) % (sizeof subst - 1)];
        }
        cJSON *r = cJSON_Parse(buf);
        char err[256];
        if (r && chim_report_validate(r, "m", err, sizeof err) == 0) {
            valid++;
            cJSON *b = chim_baseline_new(&cfg);
            chim_baseline_add_run(b, r, &cfg, "m", err, sizeof err);
            struct chim_analysis a;
            const cJSON *one[1] = {r};
            if (chim_analyze(one, 1, &cfg, b, "b", &a) == 0) {
                chim_report_write_html(r, &a, devnull);
                chim_report_write_csv(r, &a, devnull);
                chim_report_write_json(r, &a, devnull);
                chim_analysis_print(&a, devnull);
            }
            cJSON_Delete(b);
        }
        cJSON_Delete(r);
    }
    fclose(devnull);
    free(buf);
    cr_assert_gt(valid, 100);
}
