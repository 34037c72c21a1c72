/*
 * test_analyzer_config.c - the configuration: the seed's defaults and keys,
 * precedence defaults < file < environment < --set, unknown keys warned
 * about, wrong types and impossible values rejected with file, key and
 * reason, malformed PERF_* values named, and the written form re-read.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chim_analyzer.h"

static const char *envs[] = {
    "PERF_API_RESPONSE_TARGET", "PERF_LLM_RESPONSE_TARGET", "PERF_TRANSFORMATION_TARGET",
    "PERF_THROUGHPUT_TARGET",   "PERF_MEMORY_TARGET",       "PERF_CACHE_TARGET",
    "PERF_TEST_DURATION",       "PERF_CONCURRENT_USERS",    "PERF_REQUEST_RATE",
    "PERF_FAIL_ON_REGRESSION",  "PERF_SKIP_SLOW_TESTS"};

static char path[64];

static void clean_env(void)
{
    for (size_t i = 0; i < sizeof envs / sizeof envs[0]; i++)
        unsetenv(envs[i]);
}

static const char *write_cfg(const char *text)
{
    strcpy(path, "/tmp/chim-cfg-XXXXXX");
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void teardown(void)
{
    if (path[0])
        unlink(path);
    path[0] = '\0';
    clean_env();
}

TestSuite(config, .init = clean_env, .fini = teardown);

Test(config, seed_defaults)
{
    struct chim_config c;
    chim_config_defaults(&c);
    cr_assert_float_eq(c.targets.api_response_p95_ms, 2000, 0);
    cr_assert_float_eq(c.targets.llm_provider_p95_ms, 10000, 0);
    cr_assert_float_eq(c.targets.transformation_p95_ms, 1000, 0);
    cr_assert_float_eq(c.targets.concurrent_requests_per_second, 150, 0);
    cr_assert_float_eq(c.targets.memory_optimization_percent, 30, 0);
    cr_assert_float_eq(c.targets.cache_hit_ratio_percent, 85, 0);
    cr_assert_float_eq(c.gates.max_response_time_ms, 2000, 0);
    cr_assert_float_eq(c.gates.min_throughput_rps, 150, 0);
    cr_assert_float_eq(c.gates.max_memory_mb, 1024, 0);
    cr_assert_float_eq(c.gates.min_cache_hit_ratio, 0.85, 0);
    cr_assert_float_eq(c.gates.max_error_rate, 0.01, 0);
    cr_assert_float_eq(c.gates.max_regression_percent, 10, 0);
    cr_assert_float_eq(c.test.test_duration_seconds, 60, 0);
    cr_assert_eq(c.test.concurrent_users, 50);
    cr_assert_float_eq(c.test.request_rate, 10, 0);
    cr_assert(c.test.fail_on_regression);
    cr_assert(!c.test.skip_slow_tests);
    cr_assert_str_eq(c.mapping.transformation_routes, "*transform*");
    cr_assert_str_eq(c.regression.baseline_dir, "performance_baselines");
    char err[256];
    cr_assert_eq(chim_config_validate(&c, err, sizeof err), 0, "%s", err);
}

Test(config, seed_file_is_read)
{
    const char *p = write_cfg("{\"performance_targets\": {\"api_response_p95_ms\": 1500.0,"
                              " \"cache_hit_ratio_percent\": 90.0},"
                              " \"performance_gates\": {\"max_memory_mb\": 2048,"
                              " \"min_cache_hit_ratio\": 0.9}}");
    struct chim_config c;
    char err[256];
    cr_assert_eq(chim_config_resolve(&c, p, NULL, 0, NULL, err, sizeof err), 0, "%s", err);
    cr_assert_float_eq(c.targets.api_response_p95_ms, 1500, 0);
    cr_assert_float_eq(c.targets.cache_hit_ratio_percent, 90, 0);
    cr_assert_float_eq(c.gates.max_memory_mb, 2048, 0);
    cr_assert_float_eq(c.gates.min_cache_hit_ratio, 0.9, 0);
    cr_assert_float_eq(c.gates.max_response_time_ms, 2000, 0); /* untouched */
}

Test(config, precedence_file_env_flags)
{
    const char *p = write_cfg("{\"performance_targets\": {\"api_response_p95_ms\": 1500,"
                              " \"llm_provider_p95_ms\": 9000, \"transformation_p95_ms\": 800}}");
    setenv("PERF_LLM_RESPONSE_TARGET", "8000", 1);
    setenv("PERF_TRANSFORMATION_TARGET", "700", 1);
    char *sets[] = {"performance_targets.transformation_p95_ms=600"};
    struct chim_config c;
    char err[256];
    cr_assert_eq(chim_config_resolve(&c, p, sets, 1, NULL, err, sizeof err), 0, "%s", err);
    cr_assert_float_eq(c.targets.api_response_p95_ms, 1500, 0);   /* file */
    cr_assert_float_eq(c.targets.llm_provider_p95_ms, 8000, 0);   /* env over file */
    cr_assert_float_eq(c.targets.transformation_p95_ms, 600, 0);  /* flag over env */
    cr_assert_float_eq(c.targets.cache_hit_ratio_percent, 85, 0); /* default */
}

Test(config, every_perf_variable)
{
    setenv("PERF_API_RESPONSE_TARGET", "1", 1);
    setenv("PERF_LLM_RESPONSE_TARGET", "2", 1);
    setenv("PERF_TRANSFORMATION_TARGET", "3", 1);
    setenv("PERF_THROUGHPUT_TARGET", "4", 1);
    setenv("PERF_MEMORY_TARGET", "5", 1);
    setenv("PERF_CACHE_TARGET", "6", 1);
    setenv("PERF_TEST_DURATION", "7", 1);
    setenv("PERF_CONCURRENT_USERS", "8", 1);
    setenv("PERF_REQUEST_RATE", "9.5", 1);
    setenv("PERF_FAIL_ON_REGRESSION", "false", 1);
    setenv("PERF_SKIP_SLOW_TESTS", "TRUE", 1);
    struct chim_config c;
    char err[256];
    cr_assert_eq(chim_config_resolve(&c, NULL, NULL, 0, NULL, err, sizeof err), 0, "%s", err);
    cr_assert_float_eq(c.targets.api_response_p95_ms, 1, 0);
    cr_assert_float_eq(c.targets.llm_provider_p95_ms, 2, 0);
    cr_assert_float_eq(c.targets.transformation_p95_ms, 3, 0);
    cr_assert_float_eq(c.targets.concurrent_requests_per_second, 4, 0);
    cr_assert_float_eq(c.targets.memory_optimization_percent, 5, 0);
    cr_assert_float_eq(c.targets.cache_hit_ratio_percent, 6, 0);
    cr_assert_float_eq(c.test.test_duration_seconds, 7, 0);
    cr_assert_eq(c.test.concurrent_users, 8);
    cr_assert_float_eq(c.test.request_rate, 9.5, 0);
    cr_assert(!c.test.fail_on_regression);
    cr_assert(c.test.skip_slow_tests);
}

static void expect_env_error(const char *var, const char *val, const char *needle)
{
    clean_env();
    setenv(var, val, 1);
    struct chim_config c;
    char err[256] = "";
    cr_assert_lt(chim_config_resolve(&c, NULL, NULL, 0, NULL, err, sizeof err), 0, "%s=%s", var,
                 val);
    cr_assert(strstr(err, var), "error does not name %s: %s", var, err);
    cr_assert(strstr(err, needle), "'%s' not in: %s", needle, err);
}

Test(config, malformed_env_values)
{
    expect_env_error("PERF_THROUGHPUT_TARGET", "fast", "not a number");
    expect_env_error("PERF_API_RESPONSE_TARGET", "2000ms", "not a number");
    expect_env_error("PERF_MEMORY_TARGET", "nan", "not a number");
    expect_env_error("PERF_CONCURRENT_USERS", "2.5", "not an integer");
    expect_env_error("PERF_CONCURRENT_USERS", "0", "concurrent_users");
    expect_env_error("PERF_FAIL_ON_REGRESSION", "maybe", "not a boolean");
    expect_env_error("PERF_SKIP_SLOW_TESTS", "2", "not a boolean");
    expect_env_error("PERF_CACHE_TARGET", "185", "out of range");
    expect_env_error("PERF_TEST_DURATION", "-1", "out of range");
}

Test(config, empty_env_is_unset)
{
    setenv("PERF_THROUGHPUT_TARGET", "", 1);
    struct chim_config c;
    char err[256];
    cr_assert_eq(chim_config_resolve(&c, NULL, NULL, 0, NULL, err, sizeof err), 0, "%s", err);
    cr_assert_float_eq(c.targets.concurrent_requests_per_second, 150, 0);
}

static void expect_file_error(const char *text, const char *needle)
{
    const char *p = write_cfg(text);
    struct chim_config c;
    char err[256] = "";
    cr_assert_lt(chim_config_resolve(&c, p, NULL, 0, NULL, err, sizeof err), 0, "%s", text);
    cr_assert(strstr(err, needle), "'%s' not in: %s", needle, err);
    unlink(path);
}

Test(config, malformed_files)
{
    expect_file_error("{\"performance_gates\": {\"max_memory_mb\": \"1024\"}}",
                      "'performance_gates.max_memory_mb' must be a number");
    expect_file_error("{\"performance_gates\": {\"max_memory_mb\": true}}", "must be a number");
    expect_file_error("{\"performance_gates\": {\"max_memory_mb\": -5}}",
                      "performance_gates.max_memory_mb = -5 is out of range");
    expect_file_error("{\"performance_gates\": {\"min_cache_hit_ratio\": 85}}", "a ratio 0..1");
    expect_file_error("{\"performance_gates\": {\"max_error_rate\": 1.5}}", "max_error_rate");
    expect_file_error("{\"performance_gates\": [1, 2]}", "'performance_gates' must be an object");
    expect_file_error("{\"test_configuration\": {\"concurrent_users\": 2.5}}",
                      "must be an integer");
    expect_file_error("{\"test_configuration\": {\"fail_on_regression\": \"yes\"}}",
                      "must be true or false");
    expect_file_error("{\"measurement_mapping\": {\"cache_source\": \"disk\"}}", "cache_source");
    expect_file_error("{\"performance_gates\": {", "not valid JSON");
    expect_file_error("[]", "top level must be an object");
    expect_file_error("", "not valid JSON");
    struct chim_config c;
    char err[256];
    cr_assert_lt(chim_config_resolve(&c, "/nonexistent/perf.json", NULL, 0, NULL, err, sizeof err),
                 0);
    cr_assert(strstr(err, "/nonexistent/perf.json"), "%s", err);
}

Test(config, error_names_the_file)
{
    const char *p = write_cfg("{\"performance_gates\": {\"max_memory_mb\": \"x\"}}");
    struct chim_config c;
    char err[256];
    cr_assert_lt(chim_config_resolve(&c, p, NULL, 0, NULL, err, sizeof err), 0);
    cr_assert(strstr(err, p), "%s", err);
}

Test(config, unknown_keys_are_warned_not_fatal)
{
    const char *p = write_cfg("{\"performance_gates\": {\"max_latency\": 5},"
                              " \"extras\": {}}");
    char *buf = NULL;
    size_t len = 0;
    FILE *w = open_memstream(&buf, &len);
    struct chim_config c;
    char err[256];
    cr_assert_eq(chim_config_resolve(&c, p, NULL, 0, w, err, sizeof err), 0, "%s", err);
    fclose(w);
    cr_assert(strstr(buf, "unknown key 'performance_gates.max_latency'"), "%s", buf);
    cr_assert(strstr(buf, "unknown key 'extras'"), "%s", buf);
    free(buf);
}

Test(config, set_flags)
{
    struct chim_config c;
    char err[256];
    chim_config_defaults(&c);
    cr_assert_eq(chim_config_set(&c, "max_memory_mb=4096", err, sizeof err), 0, "%s", err);
    cr_assert_float_eq(c.gates.max_memory_mb, 4096, 0);
    cr_assert_eq(chim_config_set(&c, "measurement_mapping.api_routes=/api/*", err, sizeof err), 0);
    cr_assert_str_eq(c.mapping.api_routes, "/api/*");
    cr_assert_lt(chim_config_set(&c, "nonsense=1", err, sizeof err), 0);
    cr_assert(strstr(err, "unknown key 'nonsense'"), "%s", err);
    cr_assert_lt(chim_config_set(&c, "max_memory_mb", err, sizeof err), 0);
    cr_assert_lt(chim_config_set(&c, "max_memory_mb=lots", err, sizeof err), 0);
    cr_assert(strstr(err, "performance_gates.max_memory_mb"), "%s", err);
}

Test(config, written_form_round_trips)
{
    struct chim_config a, b;
    char err[256];
    chim_config_defaults(&a);
    a.gates.max_memory_mb = 777;
    a.test.skip_slow_tests = true;
    strcpy(a.mapping.llm_upstreams, "llm.*");
    cJSON *j = chim_config_to_json(&a);
    cr_assert(cJSON_IsObject(cJSON_GetObjectItem(j, "performance_targets")));
    cr_assert(cJSON_IsObject(cJSON_GetObjectItem(j, "performance_gates")));
    char *text = cJSON_Print(j);
    const char *p = write_cfg(text);
    cr_assert_eq(chim_config_resolve(&b, p, NULL, 0, NULL, err, sizeof err), 0, "%s", err);
    cr_assert_eq(memcmp(&a, &b, sizeof a), 0);
    free(text);
    cJSON_Delete(j);
}
