/*
 * test_analyzer_gates.c - the six gates and six targets: pass, fail, the
 * exact limits, NO DATA for missing blocks and zero samples, the seed's
 * exact output lines, the score and the exit codes of chim_gate_run.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chim_analyzer.h"

/* A report with the given values; a negative value leaves the field out. */
static cJSON *mk(double p95, double rps, double reqs, double errs, double peak_mb, double hits,
                 double misses)
{
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "schema", CHIM_REPORT_SCHEMA);
    if (peak_mb >= 0)
        cJSON_AddNumberToObject(cJSON_AddObjectToObject(r, "memory"), "peak_rss_bytes",
                                peak_mb * 1048576.0);
    if (reqs >= 0) {
        cJSON *h = cJSON_AddObjectToObject(r, "http_server");
        cJSON_AddNumberToObject(h, "requests", reqs);
        cJSON_AddNumberToObject(h, "errors", errs);
        if (rps >= 0)
            cJSON_AddNumberToObject(h, "rps", rps);
        cJSON *routes = cJSON_AddArrayToObject(h, "routes");
        if (p95 >= 0 && reqs > 0) {
            cJSON *rt = cJSON_CreateObject();
            cJSON_AddStringToObject(rt, "method", "GET");
            cJSON_AddStringToObject(rt, "route", "/api/items/{id}");
            cJSON_AddNumberToObject(rt, "count", reqs);
            cJSON_AddNumberToObject(rt, "errors", errs);
            cJSON_AddNumberToObject(rt, "p95_ms", p95);
            cJSON_AddItemToArray(routes, rt);
        }
    }
    if (hits >= 0) {
        cJSON *c = cJSON_AddObjectToObject(r, "cache");
        cJSON_AddNumberToObject(c, "hits", hits);
        cJSON_AddNumberToObject(c, "misses", misses);
    }
    return r;
}

static cJSON *seed_report(void)
{
    return mk(1800, 160, 1000, 5, 800, 870, 130);
}

/* A baseline with one run equal to the given report. */
static cJSON *baseline_of(const cJSON *rep, const struct chim_config *cfg)
{
    cJSON *b = chim_baseline_new(cfg);
    char err[256];
    cr_assert_eq(chim_baseline_add_run(b, rep, cfg, "test", err, sizeof err), 0, "%s", err);
    return b;
}

static struct chim_analysis an;
static struct chim_config cfg;

static void analyze(const cJSON *rep, const cJSON *b)
{
    const cJSON *one[1] = {rep};
    cr_assert_eq(chim_analyze(one, 1, &cfg, b, "base", &an), 0);
}

static void setup(void)
{
    chim_config_defaults(&cfg);
}

TestSuite(gates, .init = setup);

Test(gates, seed_example_prints_exactly)
{
    cJSON *rep = seed_report();
    cJSON *b = baseline_of(rep, &cfg);
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    int rc = chim_gate_run(rep, &cfg, b, out, NULL);
    fclose(out);
    const char *want = "Performance Gate: PASS\n"
                       "Gates Passed: 6/6\n"
                       "  ✅ response_time: P95 response time: 1800.00ms (limit: 2000ms)\n"
                       "  ✅ throughput: Throughput: 160.0 rps (minimum: 150 rps)\n"
                       "  ✅ memory: Peak memory: 800.0MB (limit: 1024MB)\n"
                       "  ✅ cache: Cache hit ratio: 87% (minimum: 85%)\n"
                       "  ✅ error_rate: Error rate: 0.50% (maximum: 1.00%)\n"
                       "  ✅ regression_check: No significant regressions detected\n"
                       "Performance Score: 100.0%\n";
    cr_assert_eq(rc, 0);
    cr_assert_eq(strncmp(buf, want, strlen(want)), 0, "got:\n%s", buf);
    cr_assert(strstr(buf, "Performance Targets: 3/6 met"), "%s", buf);
    free(buf);
    cJSON_Delete(rep);
    cJSON_Delete(b);
}

Test(gates, response_time_limit_is_inclusive)
{
    cJSON *r = mk(2000, 160, 1000, 0, 800, 9, 1);
    analyze(r, NULL);
    cr_assert_eq(an.gates[0].status, CHIM_PASS);
    cJSON_Delete(r);
    r = mk(2000.01, 160, 1000, 0, 800, 9, 1);
    analyze(r, NULL);
    cr_assert_eq(an.gates[0].status, CHIM_FAIL);
    cr_assert_str_eq(an.gates[0].text, "P95 response time: 2000.01ms (limit: 2000ms)");
    cJSON_Delete(r);
}

Test(gates, throughput_minimum)
{
    cJSON *r = mk(100, 150, 1000, 0, 800, 9, 1);
    analyze(r, NULL);
    cr_assert_eq(an.gates[1].status, CHIM_PASS);
    cJSON_Delete(r);
    r = mk(100, 149.9, 1000, 0, 800, 9, 1);
    analyze(r, NULL);
    cr_assert_eq(an.gates[1].status, CHIM_FAIL);
    cr_assert_str_eq(an.gates[1].text, "Throughput: 149.9 rps (minimum: 150 rps)");
    cJSON_Delete(r);
}

Test(gates, throughput_from_duration_when_rps_missing)
{
    cJSON *r = mk(100, -1, 1000, 0, 800, 9, 1);
    cJSON_AddNumberToObject(cJSON_GetObjectItem(r, "http_server"), "duration_s", 5);
    analyze(r, NULL);
    cr_assert_eq(an.gates[1].status, CHIM_PASS);
    cr_assert_float_eq(an.gates[1].value, 200.0, 1e-9);
    cJSON_Delete(r);
}

Test(gates, memory_limit)
{
    cJSON *r = mk(100, 160, 1000, 0, 1024, 9, 1);
    analyze(r, NULL);
    cr_assert_eq(an.gates[2].status, CHIM_PASS);
    cJSON_Delete(r);
    r = mk(100, 160, 1000, 0, 1500, 9, 1);
    analyze(r, NULL);
    cr_assert_eq(an.gates[2].status, CHIM_FAIL);
    cr_assert_str_eq(an.gates[2].text, "Peak memory: 1500.0MB (limit: 1024MB)");
    cJSON_Delete(r);
}

Test(gates, cache_ratio)
{
    cJSON *r = mk(100, 160, 1000, 0, 100, 85, 15);
    analyze(r, NULL);
    cr_assert_eq(an.gates[3].status, CHIM_PASS);
    cJSON_Delete(r);
    r = mk(100, 160, 1000, 0, 100, 84, 16);
    analyze(r, NULL);
    cr_assert_eq(an.gates[3].status, CHIM_FAIL);
    cr_assert_str_eq(an.gates[3].text, "Cache hit ratio: 84% (minimum: 85%)");
    cJSON_Delete(r);
}

Test(gates, cache_falls_back_to_upstream_hits)
{
    cJSON *r = mk(100, 160, 1000, 0, 100, -1, -1);
    cJSON *ups = cJSON_AddArrayToObject(r, "upstreams"), *u = cJSON_CreateObject();
    cJSON_AddStringToObject(u, "peer", "127.0.0.1:6379");
    cJSON_AddStringToObject(u, "protocol", "redis");
    cJSON_AddNumberToObject(u, "hits", 90);
    cJSON_AddNumberToObject(u, "misses", 10);
    cJSON_AddItemToArray(ups, u);
    analyze(r, NULL);
    cr_assert_eq(an.gates[3].status, CHIM_PASS);
    cr_assert_float_eq(an.gates[3].value, 0.9, 1e-12);
    cJSON_Delete(r);
}

Test(gates, error_rate_maximum)
{
    cJSON *r = mk(100, 160, 1000, 10, 100, 9, 1);
    analyze(r, NULL);
    cr_assert_eq(an.gates[4].status, CHIM_PASS);
    cJSON_Delete(r);
    r = mk(100, 160, 1000, 11, 100, 9, 1);
    analyze(r, NULL);
    cr_assert_eq(an.gates[4].status, CHIM_FAIL);
    cr_assert_str_eq(an.gates[4].text, "Error rate: 1.10% (maximum: 1.00%)");
    cJSON_Delete(r);
}

Test(gates, no_data_never_passes)
{
    cJSON *r = mk(-1, -1, -1, 0, -1, -1, -1);
    analyze(r, NULL);
    for (int i = 0; i < CHIM_GATES; i++) {
        cr_assert_eq(an.gates[i].status, CHIM_NODATA, "gate %s", an.gates[i].name);
        cr_assert(strstr(an.gates[i].text, "NO DATA"), "%s", an.gates[i].text);
    }
    for (int i = 0; i < CHIM_TARGETS; i++)
        cr_assert_eq(an.targets[i].status, CHIM_NODATA, "target %s", an.targets[i].name);
    cr_assert_eq(an.gates_passed, 0);
    cr_assert_float_eq(an.score, 0.0, 1e-9);
    cJSON_Delete(r);
}

Test(gates, zero_requests_is_no_data)
{
    cJSON *r = mk(-1, 0, 0, 0, 100, 0, 0);
    analyze(r, NULL);
    cr_assert_eq(an.gates[0].status, CHIM_NODATA);
    cr_assert_eq(an.gates[1].status, CHIM_NODATA);
    cr_assert_eq(an.gates[3].status, CHIM_NODATA);
    cr_assert_eq(an.gates[4].status, CHIM_NODATA);
    cr_assert_eq(an.gates[2].status, CHIM_PASS);
    cr_assert_str_eq(an.gates[0].text, "NO DATA (no requests)");
    cJSON_Delete(r);
}

Test(gates, no_baseline_is_no_data_and_exit_1)
{
    cJSON *r = seed_report();
    FILE *devnull = fopen("/dev/null", "w");
    cr_assert_eq(chim_gate_run(r, &cfg, NULL, devnull, NULL), 1);
    fclose(devnull);
    analyze(r, NULL);
    cr_assert_eq(an.gates[5].status, CHIM_NODATA);
    cr_assert_eq(an.gates_passed, 5);
    cr_assert_float_eq(an.score, 500.0 / 6, 1e-9);
    cJSON_Delete(r);
}

Test(gates, bad_report_exits_2)
{
    cJSON *r = cJSON_Parse("{\"schema\":\"chim.report/2\"}");
    FILE *devnull = fopen("/dev/null", "w");
    cr_assert_eq(chim_gate_run(r, &cfg, NULL, devnull, NULL), 2);
    fclose(devnull);
    cJSON_Delete(r);
}

Test(gates, config_limits_are_used)
{
    cfg.gates.max_memory_mb = 512;
    cfg.gates.min_cache_hit_ratio = 0.9;
    cJSON *r = seed_report();
    analyze(r, NULL);
    cr_assert_eq(an.gates[2].status, CHIM_FAIL);
    cr_assert_str_eq(an.gates[2].text, "Peak memory: 800.0MB (limit: 512MB)");
    cr_assert_str_eq(an.gates[3].text, "Cache hit ratio: 87% (minimum: 90%)");
    cJSON_Delete(r);
}

/* ------------------------------------------------------------- targets */

static cJSON *route(const char *method, const char *path, double count, double p95)
{
    cJSON *rt = cJSON_CreateObject();
    cJSON_AddStringToObject(rt, "method", method);
    cJSON_AddStringToObject(rt, "route", path);
    cJSON_AddNumberToObject(rt, "count", count);
    cJSON_AddNumberToObject(rt, "errors", 0);
    cJSON_AddNumberToObject(rt, "p95_ms", p95);
    return rt;
}

static cJSON *mapped_report(void)
{
    cJSON *r = mk(-1, 160, 300, 0, 700, 90, 10);
    cJSON *routes = cJSON_GetObjectItem(cJSON_GetObjectItem(r, "http_server"), "routes");
    cJSON_AddItemToArray(routes, route("GET", "/api/users", 100, 300));
    cJSON_AddItemToArray(routes, route("POST", "/api/transform", 100, 900));
    cJSON_AddItemToArray(routes, route("POST", "/api/generate", 100, 4000));
    cJSON *ups = cJSON_AddArrayToObject(r, "upstreams"), *u = cJSON_CreateObject();
    cJSON_AddStringToObject(u, "peer", "10.0.0.1:8002");
    cJSON_AddStringToObject(u, "host", "llm.local");
    cJSON_AddStringToObject(u, "protocol", "http");
    cJSON_AddNumberToObject(u, "count", 50);
    cJSON_AddNumberToObject(u, "p95_ms", 8000);
    cJSON_AddItemToArray(ups, u);
    u = cJSON_CreateObject();
    cJSON_AddStringToObject(u, "peer", "10.0.0.2:6379");
    cJSON_AddStringToObject(u, "protocol", "redis");
    cJSON_AddNumberToObject(u, "count", 500);
    cJSON_AddNumberToObject(u, "p95_ms", 20000); /* a cache, never the LLM */
    cJSON_AddItemToArray(ups, u);
    return r;
}

Test(gates, targets_default_mapping)
{
    cJSON *r = mapped_report();
    analyze(r, NULL);
    cr_assert_float_eq(an.targets[0].value, 4000, 1e-9); /* worst API route */
    cr_assert_eq(an.targets[0].status, CHIM_FAIL);
    cr_assert_float_eq(an.targets[1].value, 8000, 1e-9); /* http upstream only */
    cr_assert_eq(an.targets[1].status, CHIM_PASS);
    cr_assert_float_eq(an.targets[2].value, 900, 1e-9); /* *transform* */
    cr_assert_eq(an.targets[2].status, CHIM_PASS);
    cr_assert_eq(an.targets[3].status, CHIM_PASS);
    cr_assert_eq(an.targets[4].status, CHIM_NODATA); /* no baseline */
    cr_assert_float_eq(an.targets[5].value, 90, 1e-9);
    cr_assert_eq(an.targets[5].status, CHIM_PASS);
    cJSON_Delete(r);
}

Test(gates, targets_custom_mapping)
{
    cJSON *r = mapped_report();
    strcpy(cfg.mapping.api_routes, "/api/users, POST /api/transform");
    strcpy(cfg.mapping.llm_upstreams, "nothing-matches");
    strcpy(cfg.mapping.llm_routes, "*/generate");
    strcpy(cfg.mapping.transformation_routes, "GET *");
    analyze(r, NULL);
    cr_assert_float_eq(an.targets[0].value, 900, 1e-9);
    cr_assert_float_eq(an.gates[0].value, 900, 1e-9);
    cr_assert_float_eq(an.targets[1].value, 4000, 1e-9);
    cr_assert_float_eq(an.targets[2].value, 300, 1e-9);
    cJSON_Delete(r);
}

Test(gates, target_thresholds_inclusive_and_failing)
{
    cJSON *r = mapped_report();
    cfg.targets.api_response_p95_ms = 4000;
    cfg.targets.llm_provider_p95_ms = 7999;
    cfg.targets.transformation_p95_ms = 899;
    cfg.targets.concurrent_requests_per_second = 161;
    cfg.targets.cache_hit_ratio_percent = 91;
    analyze(r, NULL);
    cr_assert_eq(an.targets[0].status, CHIM_PASS);
    cr_assert_eq(an.targets[1].status, CHIM_FAIL);
    cr_assert_eq(an.targets[2].status, CHIM_FAIL);
    cr_assert_eq(an.targets[3].status, CHIM_FAIL);
    cr_assert_eq(an.targets[5].status, CHIM_FAIL);
    cr_assert_eq(an.targets_met, 1);
    cJSON_Delete(r);
}

Test(gates, no_llm_or_transform_is_no_data)
{
    cJSON *r = seed_report();
    analyze(r, NULL);
    cr_assert_eq(an.targets[1].status, CHIM_NODATA);
    cr_assert_eq(an.targets[2].status, CHIM_NODATA);
    cJSON_Delete(r);
}

Test(gates, memory_optimization_against_baseline)
{
    cJSON *old = mk(100, 160, 1000, 0, 1000, 9, 1);
    cJSON *b = baseline_of(old, &cfg);
    cJSON *r = mk(100, 160, 1000, 0, 700, 9, 1); /* exactly 30 % less */
    analyze(r, b);
    cr_assert_eq(an.targets[4].status, CHIM_PASS, "%s", an.targets[4].text);
    cr_assert_float_eq(an.targets[4].value, 30, 1e-9);
    cJSON_Delete(r);
    r = mk(100, 160, 1000, 0, 800, 9, 1);
    analyze(r, b);
    cr_assert_eq(an.targets[4].status, CHIM_FAIL);
    cr_assert(strstr(an.targets[4].text, "20.0%"), "%s", an.targets[4].text);
    cJSON_Delete(r);
    cJSON_Delete(old);
    cJSON_Delete(b);
}

Test(gates, regression_check_fails_on_confirmed_major)
{
    cJSON *base_runs[5], *cur_runs[5];
    cJSON *b = chim_baseline_new(&cfg);
    char err[256];
    for (int i = 0; i < 5; i++) {
        base_runs[i] = mk(1000 + i * 10, 160, 1000, 0, 500, 9, 1);
        cur_runs[i] = mk(1400 + i * 10, 160, 1000, 0, 500, 9, 1); /* +40 % */
        cr_assert_eq(chim_baseline_add_run(b, base_runs[i], &cfg, "t", err, sizeof err), 0);
    }
    cr_assert_eq(chim_analyze((const cJSON *const *)cur_runs, 5, &cfg, b, "b", &an), 0);
    cr_assert_eq(an.gates[5].status, CHIM_FAIL, "%s", an.gates[5].text);
    cr_assert(strstr(an.gates[5].text, "api_p95_ms +39.2% (major, DIFFERENT)"), "%s",
              an.gates[5].text);
    cfg.test.fail_on_regression = false;
    cr_assert_eq(chim_analyze((const cJSON *const *)cur_runs, 5, &cfg, b, "b", &an), 0);
    cr_assert_eq(an.gates[5].status, CHIM_PASS, "%s", an.gates[5].text);
    /* a single current run: unconfirmed, does not fail unless asked to */
    cfg.test.fail_on_regression = true;
    cr_assert_eq(chim_analyze((const cJSON *const *)cur_runs, 1, &cfg, b, "b", &an), 0);
    cr_assert_eq(an.gates[5].status, CHIM_PASS, "%s", an.gates[5].text);
    cfg.regression.fail_on_unconfirmed = true;
    cr_assert_eq(chim_analyze((const cJSON *const *)cur_runs, 1, &cfg, b, "b", &an), 0);
    cr_assert_eq(an.gates[5].status, CHIM_FAIL, "%s", an.gates[5].text);
    for (int i = 0; i < 5; i++) {
        cJSON_Delete(base_runs[i]);
        cJSON_Delete(cur_runs[i]);
    }
    cJSON_Delete(b);
}

Test(gates, junit_written)
{
    cJSON *r = seed_report();
    char path[] = "/tmp/chim-junit-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    FILE *devnull = fopen("/dev/null", "w");
    cr_assert_eq(chim_gate_run(r, &cfg, NULL, devnull, path), 1);
    fclose(devnull);
    char err[256];
    FILE *f = fopen(path, "r");
    char buf[8192] = {0};
    fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    remove(path);
    (void)err;
    cr_assert(strstr(buf, "<testsuite name=\"performance_gates\" tests=\"6\" failures=\"1\""), "%s",
              buf);
    cr_assert(strstr(buf, "<failure type=\"nodata\""), "%s", buf);
    cr_assert(strstr(buf, "name=\"cache_hit_ratio_percent\""), "%s", buf);
    cJSON_Delete(r);
}

Test(gates, route_regression_not_hidden_by_aggregate)
{
    cJSON *base_runs[4], *cur_runs[4];
    cJSON *b = chim_baseline_new(&cfg);
    char err[256];
    for (int i = 0; i < 4; i++) {
        base_runs[i] = mk(1000 + i, 160, 1000, 0, 500, 9, 1);
        cur_runs[i] = mk(1000 + i, 160, 1000, 0, 500, 9, 1);
        cJSON *rb = cJSON_GetObjectItem(cJSON_GetObjectItem(base_runs[i], "http_server"), "routes");
        cJSON *rc = cJSON_GetObjectItem(cJSON_GetObjectItem(cur_runs[i], "http_server"), "routes");
        cJSON_AddItemToArray(rb, route("GET", "/small", 10, 100 + i));
        cJSON_AddItemToArray(rc, route("GET", "/small", 10, 200 + i)); /* +100 % */
        cr_assert_eq(chim_baseline_add_run(b, base_runs[i], &cfg, "t", err, sizeof err), 0);
    }
    cr_assert_eq(chim_analyze((const cJSON *const *)cur_runs, 4, &cfg, b, "b", &an), 0);
    cr_assert_float_eq(an.reg[CHIM_M_API_P95].change_percent, 0, 1e-9);
    const struct chim_regression *small = NULL;
    for (size_t i = 0; i < an.n_reg; i++)
        if (an.reg[i].per_route && !strcmp(an.reg[i].label, "p95 GET /small"))
            small = &an.reg[i];
    cr_assert_not_null(small);
    cr_assert_eq(small->cls, CHIM_CLASS_CRITICAL);
    cr_assert_eq(small->verdict, CHIM_DIFFERENT);
    cr_assert_float_eq(small->p, 1.0 / 70, 1e-12);
    cr_assert_eq(an.gates[5].status, CHIM_FAIL);
    cr_assert(strstr(an.gates[5].text, "p95 GET /small +"), "%s", an.gates[5].text);
    cJSON *j = chim_analysis_to_json(&an);
    char *t = cJSON_PrintUnformatted(j);
    cr_assert(strstr(t, "\"route\":\"GET /small\""), "%s", t);
    free(t);
    cJSON_Delete(j);
    for (int i = 0; i < 4; i++) {
        cJSON_Delete(base_runs[i]);
        cJSON_Delete(cur_runs[i]);
    }
    cJSON_Delete(b);
}
