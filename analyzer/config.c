/*
 * config.c - the analyzer's configuration: the seed suite's JSON file
 * ("performance_targets", "performance_gates"), our extra sections, the
 * PERF_* variables and "section.key=value" flags. One table describes every
 * key (section, name, type, field, environment variable) so the file
 * reader, the environment, the flags and the writer cannot disagree.
 * Precedence: defaults < file < environment < command line.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "analyzer_internal.h"

enum ktype { K_NUM, K_INT, K_BOOL, K_STR };

struct key {
    const char *section, *name;
    enum ktype type;
    size_t off, size;
    const char *env;
};

#define F(field) offsetof(struct chim_config, field), sizeof(((struct chim_config *)0)->field)

static const struct key keys[] = {
    {"performance_targets", "api_response_p95_ms", K_NUM, F(targets.api_response_p95_ms),
     "PERF_API_RESPONSE_TARGET"},
    {"performance_targets", "llm_provider_p95_ms", K_NUM, F(targets.llm_provider_p95_ms),
     "PERF_LLM_RESPONSE_TARGET"},
    {"performance_targets", "transformation_p95_ms", K_NUM, F(targets.transformation_p95_ms),
     "PERF_TRANSFORMATION_TARGET"},
    {"performance_targets", "concurrent_requests_per_second", K_NUM,
     F(targets.concurrent_requests_per_second), "PERF_THROUGHPUT_TARGET"},
    {"performance_targets", "memory_optimization_percent", K_NUM,
     F(targets.memory_optimization_percent), "PERF_MEMORY_TARGET"},
    {"performance_targets", "cache_hit_ratio_percent", K_NUM, F(targets.cache_hit_ratio_percent),
     "PERF_CACHE_TARGET"},
    {"performance_gates", "max_response_time_ms", K_NUM, F(gates.max_response_time_ms), NULL},
    {"performance_gates", "min_throughput_rps", K_NUM, F(gates.min_throughput_rps), NULL},
    {"performance_gates", "max_memory_mb", K_NUM, F(gates.max_memory_mb), NULL},
    {"performance_gates", "min_cache_hit_ratio", K_NUM, F(gates.min_cache_hit_ratio), NULL},
    {"performance_gates", "max_error_rate", K_NUM, F(gates.max_error_rate), NULL},
    {"performance_gates", "max_regression_percent", K_NUM, F(gates.max_regression_percent), NULL},
    {"test_configuration", "test_duration_seconds", K_NUM, F(test.test_duration_seconds),
     "PERF_TEST_DURATION"},
    {"test_configuration", "concurrent_users", K_INT, F(test.concurrent_users),
     "PERF_CONCURRENT_USERS"},
    {"test_configuration", "request_rate", K_NUM, F(test.request_rate), "PERF_REQUEST_RATE"},
    {"test_configuration", "fail_on_regression", K_BOOL, F(test.fail_on_regression),
     "PERF_FAIL_ON_REGRESSION"},
    {"test_configuration", "skip_slow_tests", K_BOOL, F(test.skip_slow_tests),
     "PERF_SKIP_SLOW_TESTS"},
    {"measurement_mapping", "api_routes", K_STR, F(mapping.api_routes), NULL},
    {"measurement_mapping", "llm_upstreams", K_STR, F(mapping.llm_upstreams), NULL},
    {"measurement_mapping", "llm_routes", K_STR, F(mapping.llm_routes), NULL},
    {"measurement_mapping", "transformation_routes", K_STR, F(mapping.transformation_routes), NULL},
    {"measurement_mapping", "cache_source", K_STR, F(mapping.cache_source), NULL},
    {"regression_analysis", "alpha", K_NUM, F(regression.alpha), NULL},
    {"regression_analysis", "fail_on_unconfirmed", K_BOOL, F(regression.fail_on_unconfirmed), NULL},
    {"regression_analysis", "baseline_dir", K_STR, F(regression.baseline_dir), NULL},
};
#define NKEYS (sizeof keys / sizeof keys[0])

void chim_config_defaults(struct chim_config *c)
{
    memset(c, 0, sizeof *c);
    c->targets.api_response_p95_ms = 2000.0;
    c->targets.llm_provider_p95_ms = 10000.0;
    c->targets.transformation_p95_ms = 1000.0;
    c->targets.concurrent_requests_per_second = 150.0;
    c->targets.memory_optimization_percent = 30.0;
    c->targets.cache_hit_ratio_percent = 85.0;
    c->gates.max_response_time_ms = 2000;
    c->gates.min_throughput_rps = 150;
    c->gates.max_memory_mb = 1024;
    c->gates.min_cache_hit_ratio = 0.85;
    c->gates.max_error_rate = 0.01;
    c->gates.max_regression_percent = 10.0;
    c->test.test_duration_seconds = 60;
    c->test.concurrent_users = 50;
    c->test.request_rate = 10;
    c->test.fail_on_regression = true;
    c->test.skip_slow_tests = false;
    strcpy(c->mapping.api_routes, "*");
    strcpy(c->mapping.llm_upstreams, "*");
    strcpy(c->mapping.llm_routes, "");
    strcpy(c->mapping.transformation_routes, "*transform*");
    strcpy(c->mapping.cache_source, "wire");
    c->regression.alpha = 0.05;
    strcpy(c->regression.baseline_dir, "performance_baselines");
}

static bool known_section(const char *s)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (!strcmp(keys[i].section, s))
            return true;
    return false;
}

static const struct key *find_key(const char *section, const char *name)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (!strcmp(keys[i].section, section) && !strcmp(keys[i].name, name))
            return &keys[i];
    return NULL;
}

/* Parses text for key k into the config; who names the source in errors. */
static int set_text(struct chim_config *c, const struct key *k, const char *text, const char *who,
                    char *err, size_t errlen)
{
    char *p = (char *)c + k->off, *end = NULL;
    errno = 0;
    if (k->type == K_NUM) {
        double v = strtod(text, &end);
        if (!*text || *end || errno || !isfinite(v))
            return chim__err(err, errlen, -EINVAL, "%s='%s': not a number", who, text);
        *(double *)p = v;
    } else if (k->type == K_INT) {
        long v = strtol(text, &end, 10);
        if (!*text || *end || errno || v < -2147483647L || v > 2147483647L)
            return chim__err(err, errlen, -EINVAL, "%s='%s': not an integer", who, text);
        *(int *)p = (int)v;
    } else if (k->type == K_BOOL) {
        static const char *yes[] = {"true", "1", "yes", "on"}, *no[] = {"false", "0", "no", "off"};
        for (size_t i = 0; i < 4; i++) {
            if (!strcasecmp(text, yes[i]) || !strcasecmp(text, no[i])) {
                *(bool *)p = !strcasecmp(text, yes[i]);
                return 0;
            }
        }
        return chim__err(err, errlen, -EINVAL, "%s='%s': not a boolean (true or false)", who, text);
    } else {
        if (strlen(text) >= k->size)
            return chim__err(err, errlen, -EINVAL, "%s: longer than %zu characters", who,
                             k->size - 1);
        strcpy(p, text);
    }
    return 0;
}

/* Stores a JSON value for key k; wrong types are errors naming file and key. */
static int set_json(struct chim_config *c, const struct key *k, const cJSON *v, const char *path,
                    char *err, size_t errlen)
{
    char *p = (char *)c + k->off;
    static const char *tn[] = {"a number", "an integer", "true or false", "a string"};
    bool ok = (k->type == K_NUM || k->type == K_INT) ? cJSON_IsNumber(v)
              : k->type == K_BOOL                    ? cJSON_IsBool(v)
                                                     : cJSON_IsString(v);
    if (ok && k->type == K_INT)
        ok = v->valuedouble == floor(v->valuedouble) && fabs(v->valuedouble) < 2147483647.0;
    if (ok && k->type == K_NUM)
        ok = isfinite(v->valuedouble);
    if (!ok)
        return chim__err(err, errlen, -EINVAL, "config %s: key '%s.%s' must be %s", path,
                         k->section, k->name, tn[k->type]);
    if (k->type == K_NUM)
        *(double *)p = v->valuedouble;
    else if (k->type == K_INT)
        *(int *)p = (int)v->valuedouble;
    else if (k->type == K_BOOL)
        *(bool *)p = cJSON_IsTrue(v);
    else if (strlen(v->valuestring) >= k->size)
        return chim__err(err, errlen, -EINVAL, "config %s: key '%s.%s' is longer than %zu", path,
                         k->section, k->name, k->size - 1);
    else
        strcpy(p, v->valuestring);
    return 0;
}

static int load_section(struct chim_config *c, const cJSON *sec, const char *path, FILE *warn,
                        char *err, size_t errlen)
{
    if (!cJSON_IsObject(sec))
        return chim__err(err, errlen, -EINVAL, "config %s: '%s' must be an object", path,
                         sec->string);
    for (const cJSON *it = sec->child; it; it = it->next) {
        const struct key *k = find_key(sec->string, it->string);
        if (!k) {
            if (warn)
                fprintf(warn, "chimcollect: config %s: unknown key '%s.%s' ignored\n", path,
                        sec->string, it->string);
            continue;
        }
        int rc = set_json(c, k, it, path, err, errlen);
        if (rc)
            return rc;
    }
    return 0;
}

int chim_config_load_file(struct chim_config *c, const char *path, FILE *warn, char *err,
                          size_t errlen)
{
    char perr[512];
    cJSON *root = chim__parse_file(path, perr, sizeof perr);
    if (!root)
        return chim__err(err, errlen, -EINVAL, "config %s", perr);
    int rc = 0;
    if (!cJSON_IsObject(root))
        rc = chim__err(err, errlen, -EINVAL, "config %s: top level must be an object", path);
    for (const cJSON *sec = root->child; !rc && sec; sec = sec->next) {
        if (known_section(sec->string))
            rc = load_section(c, sec, path, warn, err, errlen);
        else if (warn && strcmp(sec->string, "schema") && strcmp(sec->string, "generator"))
            fprintf(warn, "chimcollect: config %s: unknown key '%s' ignored\n", path, sec->string);
    }
    cJSON_Delete(root);
    return rc ? rc : chim_config_validate(c, err, errlen);
}

/* Validates after one change so that the error names its source. */
static int named_validate(const struct chim_config *c, const char *who, const char *val, char *err,
                          size_t errlen)
{
    char why[400];
    int rc = chim_config_validate(c, why, sizeof why);
    if (rc)
        chim__err(err, errlen, rc, "%s='%s': %s", who, val, why);
    return rc;
}

int chim_config_apply_env(struct chim_config *c, char *err, size_t errlen)
{
    for (size_t i = 0; i < NKEYS; i++) {
        const char *v = keys[i].env ? getenv(keys[i].env) : NULL;
        if (!v || !*v)
            continue; /* an empty variable counts as unset */
        int rc = set_text(c, &keys[i], v, keys[i].env, err, errlen);
        if (rc)
            return rc;
        rc = named_validate(c, keys[i].env, v, err, errlen);
        if (rc)
            return rc;
    }
    return 0;
}

/* Finds "section.key" or a bare "key" that is unique across sections. */
static const struct key *lookup(const char *name, size_t n)
{
    const struct key *hit = NULL;
    for (size_t i = 0; i < NKEYS; i++) {
        char full[160];
        snprintf(full, sizeof full, "%s.%s", keys[i].section, keys[i].name);
        if (strlen(full) == n && !strncmp(full, name, n))
            return &keys[i];
        if (strlen(keys[i].name) == n && !strncmp(keys[i].name, name, n)) {
            if (hit)
                return NULL;
            hit = &keys[i];
        }
    }
    return hit;
}

int chim_config_set(struct chim_config *c, const char *assignment, char *err, size_t errlen)
{
    const char *eq = strchr(assignment, '=');
    if (!eq)
        return chim__err(err, errlen, -EINVAL, "--set '%s': expected KEY=VALUE", assignment);
    const struct key *k = lookup(assignment, (size_t)(eq - assignment));
    if (!k)
        return chim__err(err, errlen, -EINVAL, "--set '%s': unknown key '%.*s'", assignment,
                         (int)(eq - assignment), assignment);
    char who[200];
    snprintf(who, sizeof who, "--set %s.%s", k->section, k->name);
    int rc = set_text(c, k, eq + 1, who, err, errlen);
    return rc ? rc : named_validate(c, who, eq + 1, err, errlen);
}

struct range {
    size_t off;
    const char *name;
    double lo, hi;
    bool lo_open;
};

int chim_config_validate(const struct chim_config *c, char *err, size_t errlen)
{
    static const struct range r[] = {
        {offsetof(struct chim_config, targets.api_response_p95_ms),
         "performance_targets.api_response_p95_ms", 0, 1e12, true},
        {offsetof(struct chim_config, targets.llm_provider_p95_ms),
         "performance_targets.llm_provider_p95_ms", 0, 1e12, true},
        {offsetof(struct chim_config, targets.transformation_p95_ms),
         "performance_targets.transformation_p95_ms", 0, 1e12, true},
        {offsetof(struct chim_config, targets.concurrent_requests_per_second),
         "performance_targets.concurrent_requests_per_second", 0, 1e12, false},
        {offsetof(struct chim_config, targets.memory_optimization_percent),
         "performance_targets.memory_optimization_percent", -1e6, 100, false},
        {offsetof(struct chim_config, targets.cache_hit_ratio_percent),
         "performance_targets.cache_hit_ratio_percent", 0, 100, false},
        {offsetof(struct chim_config, gates.max_response_time_ms),
         "performance_gates.max_response_time_ms", 0, 1e12, true},
        {offsetof(struct chim_config, gates.min_throughput_rps),
         "performance_gates.min_throughput_rps", 0, 1e12, false},
        {offsetof(struct chim_config, gates.max_memory_mb), "performance_gates.max_memory_mb", 0,
         1e12, true},
        {offsetof(struct chim_config, gates.min_cache_hit_ratio),
         "performance_gates.min_cache_hit_ratio", 0, 1, false},
        {offsetof(struct chim_config, gates.max_error_rate), "performance_gates.max_error_rate", 0,
         1, false},
        {offsetof(struct chim_config, gates.max_regression_percent),
         "performance_gates.max_regression_percent", 0, 1e6, false},
        {offsetof(struct chim_config, test.test_duration_seconds),
         "test_configuration.test_duration_seconds", 0, 1e9, true},
        {offsetof(struct chim_config, test.request_rate), "test_configuration.request_rate", 0, 1e9,
         true},
        {offsetof(struct chim_config, regression.alpha), "regression_analysis.alpha", 0, 0.5, true},
    };
    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++) {
        double v = *(const double *)((const char *)c + r[i].off);
        bool bad = v > r[i].hi || (r[i].lo_open ? v <= r[i].lo : v < r[i].lo);
        if (!bad)
            continue;
        const char *hint = "";
        if ((strstr(r[i].name, "ratio") || strstr(r[i].name, "error_rate")) && v > 1 && v <= 100)
            hint = " (a ratio 0..1: 0.85 means 85%)";
        return chim__err(err, errlen, -EINVAL, "config: %s = %g is out of range %s%g..%g%s",
                         r[i].name, v, r[i].lo_open ? ">" : "", r[i].lo, r[i].hi, hint);
    }
    if (c->test.concurrent_users < 1)
        return chim__err(err, errlen, -EINVAL,
                         "config: test_configuration.concurrent_users = %d must be >= 1",
                         c->test.concurrent_users);
    if (strcmp(c->mapping.cache_source, "wire") && strcmp(c->mapping.cache_source, "routes"))
        return chim__err(err, errlen, -EINVAL,
                         "config: measurement_mapping.cache_source = '%s' must be "
                         "\"wire\" or \"routes\"",
                         c->mapping.cache_source);
    if (!c->regression.baseline_dir[0])
        return chim__err(err, errlen, -EINVAL, "config: regression_analysis.baseline_dir is empty");
    return 0;
}

int chim_config_resolve(struct chim_config *c, const char *path, char *const *sets, size_t nsets,
                        FILE *warn, char *err, size_t errlen)
{
    chim_config_defaults(c);
    int rc = path ? chim_config_load_file(c, path, warn, err, errlen) : 0;
    if (!rc)
        rc = chim_config_apply_env(c, err, errlen);
    for (size_t i = 0; !rc && i < nsets; i++)
        rc = chim_config_set(c, sets[i], err, errlen);
    return rc ? rc : chim_config_validate(c, err, errlen);
}

cJSON *chim_config_to_json(const struct chim_config *c)
{
    cJSON *root = cJSON_CreateObject();
    for (size_t i = 0; root && i < NKEYS; i++) {
        const struct key *k = &keys[i];
        cJSON *sec = cJSON_GetObjectItemCaseSensitive(root, k->section);
        if (!sec)
            sec = cJSON_AddObjectToObject(root, k->section);
        const char *p = (const char *)c + k->off;
        if (k->type == K_NUM)
            cJSON_AddNumberToObject(sec, k->name, *(const double *)p);
        else if (k->type == K_INT)
            cJSON_AddNumberToObject(sec, k->name, *(const int *)p);
        else if (k->type == K_BOOL)
            cJSON_AddBoolToObject(sec, k->name, *(const bool *)p);
        else
            cJSON_AddStringToObject(sec, k->name, p);
    }
    return root;
}
