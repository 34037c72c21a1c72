/*
 * report.c - reading the collector's report JSON (docs/REPORT_JSON.md) as
 * untrusted input: the schema must be chim.report/1, and every known field
 * that is present must have its documented type. Missing fields are fine
 * ("no data"); unknown fields are ignored, as the schema promises.
 */
#include <errno.h>
#include <string.h>

#include "analyzer_internal.h"

enum jt { J_NUM, J_STR, J_OBJ, J_ARR };

struct field {
    const char *name;
    enum jt type;
};

static const char *jt_name[] = {"a number", "a string", "an object", "an array"};

static bool is_type(const cJSON *v, enum jt t)
{
    switch (t) {
    case J_NUM:
        return cJSON_IsNumber(v);
    case J_STR:
        return cJSON_IsString(v);
    case J_OBJ:
        return cJSON_IsObject(v);
    default:
        return cJSON_IsArray(v);
    }
}

/* Checks the fields of obj listed in f[n]; where names the object. */
static int check_fields(const cJSON *obj, const struct field *f, size_t n, const char *name,
                        const char *where, char *err, size_t errlen)
{
    if (!cJSON_IsObject(obj))
        return chim__err(err, errlen, -EINVAL, "%s: '%s' must be an object", name, where);
    for (size_t i = 0; i < n; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, f[i].name);
        if (v && !cJSON_IsNull(v) && !is_type(v, f[i].type))
            return chim__err(err, errlen, -EINVAL, "%s: '%s.%s' must be %s", name, where, f[i].name,
                             jt_name[f[i].type]);
    }
    return 0;
}

static int check_array(const cJSON *arr, const struct field *f, size_t n, const char *name,
                       const char *where, char *err, size_t errlen)
{
    if (!arr || cJSON_IsNull(arr))
        return 0;
    size_t i = 0;
    for (const cJSON *it = arr->child; it; it = it->next, i++) {
        char w[128];
        snprintf(w, sizeof w, "%s[%zu]", where, i);
        int rc = check_fields(it, f, n, name, w, err, errlen);
        if (rc)
            return rc;
    }
    return 0;
}

#define N(a) (sizeof a / sizeof a[0])

static const struct field top[] = {
    {"schema", J_STR},     {"processes", J_ARR}, {"memory", J_OBJ},    {"http_server", J_OBJ},
    {"upstreams", J_ARR},  {"cache", J_OBJ},     {"resources", J_OBJ}, {"network", J_OBJ},
    {"timeseries", J_ARR}, {"leaks", J_ARR},     {"analysis", J_OBJ},
};
static const struct field memory[] = {
    {"peak_rss_bytes", J_NUM}, {"live_bytes", J_NUM}, {"peak_live_bytes", J_NUM},
    {"allocs", J_NUM},         {"frees", J_NUM},      {"size_classes", J_ARR},
};
static const struct field http[] = {
    {"requests", J_NUM},   {"errors", J_NUM}, {"rps", J_NUM},
    {"duration_s", J_NUM}, {"routes", J_ARR}, {"p95_ms", J_NUM},
};
static const struct field route[] = {
    {"method", J_STR}, {"route", J_STR},  {"count", J_NUM},  {"errors", J_NUM},
    {"p50_ms", J_NUM}, {"p90_ms", J_NUM}, {"p95_ms", J_NUM}, {"p99_ms", J_NUM},
    {"max_ms", J_NUM}, {"cache", J_OBJ},  {"status", J_OBJ},
};
static const struct field upstream[] = {
    {"peer", J_STR},   {"host", J_STR},   {"protocol", J_STR}, {"count", J_NUM},
    {"errors", J_NUM}, {"p95_ms", J_NUM}, {"hits", J_NUM},     {"misses", J_NUM},
};
static const struct field cache[] = {{"hits", J_NUM}, {"misses", J_NUM}, {"hit_ratio", J_NUM}};
static const struct field ts[] = {
    {"t", J_NUM}, {"requests", J_NUM}, {"rss_bytes", J_NUM}, {"live_bytes", J_NUM}};
static const struct field leak[] = {
    {"function", J_STR}, {"file", J_STR}, {"line", J_NUM}, {"bytes", J_NUM}};

static int check_schema(const cJSON *r, const char *name, char *err, size_t errlen)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(r, "schema");
    if (!cJSON_IsString(s))
        return chim__err(err, errlen, -EINVAL, "%s: no \"schema\" string: not a chimera report",
                         name);
    if (strcmp(s->valuestring, CHIM_REPORT_SCHEMA))
        return chim__err(err, errlen, -EPROTO,
                         "%s: schema '%s' is not supported (this build reads %s)", name,
                         s->valuestring, CHIM_REPORT_SCHEMA);
    return 0;
}

int chim_report_validate(const cJSON *r, const char *name, char *err, size_t errlen)
{
    if (!cJSON_IsObject(r))
        return chim__err(err, errlen, -EINVAL, "%s: a report must be a JSON object", name);
    int rc = check_schema(r, name, err, errlen);
    if (!rc)
        rc = check_fields(r, top, N(top), name, "report", err, errlen);
    const cJSON *v;
    if (!rc && (v = cJSON_GetObjectItemCaseSensitive(r, "memory")) && !cJSON_IsNull(v))
        rc = check_fields(v, memory, N(memory), name, "memory", err, errlen);
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(r, "http_server");
    if (!rc && h && !cJSON_IsNull(h))
        rc = check_fields(h, http, N(http), name, "http_server", err, errlen);
    if (!rc && h)
        rc = check_array(cJSON_GetObjectItemCaseSensitive(h, "routes"), route, N(route), name,
                         "http_server.routes", err, errlen);
    if (!rc)
        rc = check_array(cJSON_GetObjectItemCaseSensitive(r, "upstreams"), upstream, N(upstream),
                         name, "upstreams", err, errlen);
    if (!rc && (v = cJSON_GetObjectItemCaseSensitive(r, "cache")) && !cJSON_IsNull(v))
        rc = check_fields(v, cache, N(cache), name, "cache", err, errlen);
    if (!rc)
        rc = check_array(cJSON_GetObjectItemCaseSensitive(r, "timeseries"), ts, N(ts), name,
                         "timeseries", err, errlen);
    if (!rc)
        rc = check_array(cJSON_GetObjectItemCaseSensitive(r, "leaks"), leak, N(leak), name, "leaks",
                         err, errlen);
    return rc;
}

cJSON *chim_report_load(const char *path, char *err, size_t errlen)
{
    cJSON *r = chim__parse_file(path, err, errlen);
    if (r && chim_report_validate(r, path, err, errlen)) {
        cJSON_Delete(r);
        return NULL;
    }
    return r;
}
