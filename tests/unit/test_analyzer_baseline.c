/*
 * test_analyzer_baseline.c - baselines on disk: the seed's file names, the
 * newest chosen by default (also within one second), several runs per
 * baseline, metrics recomputed under the current mapping, and every kind of
 * malformed or foreign baseline rejected with a one-line error, never a
 * crash.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chim_analyzer.h"

static char dir[64];
static struct chim_config cfg;

static void setup(void)
{
    strcpy(dir, "/tmp/chim-bl-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    chim_config_defaults(&cfg);
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(baseline, .init = setup, .fini = teardown);

static cJSON *report(double p95, double peak_mb)
{
    char text[512];
    snprintf(text, sizeof text,
             "{\"schema\":\"chim.report/1\",\"memory\":{\"peak_rss_bytes\":%.0f},"
             "\"http_server\":{\"requests\":100,\"errors\":0,\"rps\":200,\"routes\":["
             "{\"method\":\"GET\",\"route\":\"/a\",\"count\":50,\"p95_ms\":%g},"
             "{\"method\":\"GET\",\"route\":\"/transform\",\"count\":50,\"p95_ms\":%g}]},"
             "\"timeseries\":[{\"t\":1,\"requests\":5}],\"processes\":[]}",
             peak_mb * 1048576, p95, p95 / 2);
    return cJSON_Parse(text);
}

static void write_text(const char *name, const char *text)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

Test(baseline, save_list_newest_show)
{
    char err[256], path[512], newest[512];
    cJSON *b = chim_baseline_new(&cfg);
    for (int i = 0; i < 3; i++) {
        cJSON *r = report(100 + i, 500);
        cr_assert_eq(chim_baseline_add_run(b, r, &cfg, "r.json", err, sizeof err), 0, "%s", err);
        cJSON_Delete(r);
    }
    cr_assert_eq(chim_baseline_run_count(b), 3);
    char sub[128];
    snprintf(sub, sizeof sub, "%s/performance_baselines", dir);
    cr_assert_eq(chim_baseline_save(b, sub, path, sizeof path, err, sizeof err), 0, "%s", err);
    cr_assert(strstr(path, "/performance_baselines/performance_baseline_"), "%s", path);
    cr_assert(strstr(path, ".json"));
    cr_assert_eq(chim_baseline_newest(sub, newest, sizeof newest), 0);
    cr_assert_str_eq(newest, path);
    /* a second save within the same second gets a later name */
    char path2[512];
    cr_assert_eq(chim_baseline_save(b, sub, path2, sizeof path2, err, sizeof err), 0);
    cr_assert_str_neq(path2, path);
    cr_assert_eq(chim_baseline_newest(sub, newest, sizeof newest), 0);
    cr_assert_str_eq(newest, path2);
    cJSON *l = chim_baseline_load(newest, err, sizeof err);
    cr_assert_not_null(l, "%s", err);
    cr_assert_eq(chim_baseline_run_count(l), 3);
    /* stored reports are trimmed */
    const cJSON *run0 = cJSON_GetArrayItem(cJSON_GetObjectItem(l, "runs"), 0);
    cr_assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(run0, "report"), "timeseries"));
    cr_assert_not_null(cJSON_GetObjectItem(run0, "metrics"));
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    cr_assert_eq(chim_baseline_list(sub, out, err, sizeof err), 0);
    chim_baseline_show(l, &cfg, out);
    fclose(out);
    cr_assert(strstr(buf, "3 runs"), "%s", buf);
    cr_assert(strstr(buf, "(newest, default)"), "%s", buf);
    cr_assert(strstr(buf, "api_p95_ms"), "%s", buf);
    free(buf);
    cJSON_Delete(l);
    cJSON_Delete(b);
}

Test(baseline, newest_orders_sequence_numbers)
{
    const char *ok = "{\"schema\":\"chim.baseline/1\",\"runs\":[{\"metrics\":{}}]}";
    write_text("performance_baseline_20260101_000000.json", ok);
    write_text("performance_baseline_20260101_000000_2.json", ok);
    write_text("performance_baseline_20260101_000000_10.json", ok);
    write_text("performance_baseline_20250101_235959.json", ok);
    write_text("unrelated.json", ok);
    char p[512];
    cr_assert_eq(chim_baseline_newest(dir, p, sizeof p), 0);
    cr_assert(strstr(p, "performance_baseline_20260101_000000_10.json"), "%s", p);
}

Test(baseline, no_baseline_is_enoent)
{
    char p[512], sub[128];
    cr_assert_lt(chim_baseline_newest(dir, p, sizeof p), 0);
    snprintf(sub, sizeof sub, "%s/missing", dir);
    cr_assert_lt(chim_baseline_newest(sub, p, sizeof p), 0);
}

Test(baseline, metrics_recomputed_under_current_mapping)
{
    char err[256];
    cJSON *b = chim_baseline_new(&cfg), *r = report(100, 500);
    cr_assert_eq(chim_baseline_add_run(b, r, &cfg, "x", err, sizeof err), 0);
    struct chim_metrics m;
    cr_assert_eq(chim_baseline_run_metrics(b, 0, &cfg, &m), 0);
    cr_assert_float_eq(m.v[CHIM_M_API_P95], 100, 0);
    cr_assert_float_eq(m.v[CHIM_M_TRANSFORM_P95], 50, 0);
    cr_assert_float_eq(m.v[CHIM_M_PEAK_MEMORY], 500, 1e-9);
    strcpy(cfg.mapping.api_routes, "/transform");
    cr_assert_eq(chim_baseline_run_metrics(b, 0, &cfg, &m), 0);
    cr_assert_float_eq(m.v[CHIM_M_API_P95], 50, 0);
    cr_assert_lt(chim_baseline_run_metrics(b, 5, &cfg, &m), 0);
    cJSON_Delete(r);
    cJSON_Delete(b);
}

Test(baseline, metrics_only_runs_are_read)
{
    write_text("b.json", "{\"schema\":\"chim.baseline/1\",\"runs\":["
                         "{\"metrics\":{\"api_p95_ms\":120,\"throughput_rps\":300}}]}");
    char p[256], err[256];
    snprintf(p, sizeof p, "%s/b.json", dir);
    cJSON *b = chim_baseline_load(p, err, sizeof err);
    cr_assert_not_null(b, "%s", err);
    struct chim_metrics m;
    cr_assert_eq(chim_baseline_run_metrics(b, 0, &cfg, &m), 0);
    cr_assert(m.has[CHIM_M_API_P95] && m.has[CHIM_M_THROUGHPUT]);
    cr_assert(!m.has[CHIM_M_PEAK_MEMORY]);
    cJSON_Delete(b);
}

static void expect_bad(const char *text, const char *needle)
{
    char p[256], err[256] = "";
    write_text("bad.json", text);
    snprintf(p, sizeof p, "%s/bad.json", dir);
    cJSON *b = chim_baseline_load(p, err, sizeof err);
    cr_assert_null(b, "accepted: %s", text);
    cr_assert(strstr(err, p), "no path in: %s", err);
    cr_assert(strstr(err, needle), "'%s' not in: %s", needle, err);
    cr_assert_null(strchr(err, '\n'));
}

Test(baseline, malformed_baselines_are_rejected)
{
    expect_bad("{\"schema\":\"chim.baseline/2\",\"runs\":[]}", "schema 'chim.baseline/2' is not "
                                                               "supported");
    expect_bad("{\"schema\":\"chim.report/1\"}", "not supported");
    expect_bad("{\"runs\":[]}", "not a baseline");
    expect_bad("[1,2]", "must be a JSON object");
    expect_bad("{\"schema\":\"chim.baseline/1\"}", "\"runs\" must be an array");
    expect_bad("{\"schema\":\"chim.baseline/1\",\"runs\":{}}", "\"runs\" must be an array");
    expect_bad("{\"schema\":\"chim.baseline/1\",\"runs\":[]}", "no runs");
    expect_bad("{\"schema\":\"chim.baseline/1\",\"runs\":[7]}", "runs[0] must be an object");
    expect_bad("{\"schema\":\"chim.baseline/1\",\"runs\":[{}]}", "neither metrics nor report");
    expect_bad("{\"schema\":\"chim.baseline/1\",\"runs\":[{\"metrics\":{\"api_p95_ms\":\"x\"}}]}",
               "runs[0].metrics.api_p95_ms must be a number");
    expect_bad("{\"schema\":\"chim.baseline/1\",\"runs\":[{\"report\":{\"schema\":\"chim.report/"
               "9\"}}]}",
               "runs[0].report");
    expect_bad("{\"schema\":\"chim.baseline/1\",\"runs\":[{\"report\":{\"schema\":\"chim.report/"
               "1\",\"http_server\":{\"routes\":5}}}]}",
               "http_server.routes");
    expect_bad("{\"schema\":\"chim.baseline/1\",\"runs\":[{\"metr", "not valid JSON");
    expect_bad("", "not valid JSON");
    expect_bad("\x01\x02\xff garbage", "not valid JSON");
}

Test(baseline, corrupt_baseline_is_listed_and_gate_exits_2)
{
    write_text("performance_baseline_20260101_000000.json", "{\"schema\":");
    char *buf = NULL, err[256];
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    cr_assert_eq(chim_baseline_list(dir, out, err, sizeof err), 0);
    fclose(out);
    cr_assert(strstr(buf, "invalid: "), "%s", buf);
    free(buf);
    cJSON *r = report(100, 100);
    cJSON *b = cJSON_Parse("{\"schema\":\"chim.baseline/1\",\"runs\":[]}");
    FILE *devnull = fopen("/dev/null", "w");
    cr_assert_eq(chim_gate_run(r, &cfg, b, devnull, NULL), 2);
    fclose(devnull);
    cJSON_Delete(b);
    cJSON_Delete(r);
}

Test(baseline, add_run_rejects_bad_report)
{
    char err[256];
    cJSON *b = chim_baseline_new(&cfg), *r = cJSON_Parse("{\"schema\":\"other\"}");
    cr_assert_lt(chim_baseline_add_run(b, r, &cfg, "x.json", err, sizeof err), 0);
    cr_assert(strstr(err, "x.json"), "%s", err);
    cr_assert_eq(chim_baseline_run_count(b), 0);
    cJSON_Delete(r);
    cJSON_Delete(b);
}
