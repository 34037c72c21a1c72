/*
 * metrics.c - from a report to the seven numbers the gates, targets and
 * regressions speak about, under the configurable measurement mapping:
 * API = inbound routes matching api_routes; LLM = outbound HTTP upstreams
 * matching llm_upstreams (peer or host) and routes matching llm_routes;
 * transformation = routes matching transformation_routes; cache = wire
 * hits and misses (or the routes' own); memory = peak RSS.
 *
 * A P95 over several routes is the largest route P95: the report carries
 * per-route percentiles only, and the P95 of a union never exceeds the
 * largest P95 of its parts, so this bound never passes a gate wrongly.
 */
#include <string.h>

#include "analyzer_internal.h"

static const struct {
    const char *name, *unit;
    bool higher_worse;
} info[CHIM_M_COUNT] = {
    [CHIM_M_API_P95] = {"api_p95_ms", "ms", true},
    [CHIM_M_LLM_P95] = {"llm_p95_ms", "ms", true},
    [CHIM_M_TRANSFORM_P95] = {"transformation_p95_ms", "ms", true},
    [CHIM_M_THROUGHPUT] = {"throughput_rps", "rps", false},
    [CHIM_M_PEAK_MEMORY] = {"peak_memory_mb", "MB", true},
    [CHIM_M_CACHE_HIT] = {"cache_hit_ratio", "ratio", false},
    [CHIM_M_ERROR_RATE] = {"error_rate", "ratio", true},
};

const char *chim_metric_name(enum chim_metric_id id)
{
    return id < CHIM_M_COUNT ? info[id].name : "?";
}

const char *chim_metric_unit(enum chim_metric_id id)
{
    return id < CHIM_M_COUNT ? info[id].unit : "";
}

bool chim_metric_higher_is_worse(enum chim_metric_id id)
{
    return id < CHIM_M_COUNT && info[id].higher_worse;
}

static void set(struct chim_metrics *m, enum chim_metric_id id, double v)
{
    m->v[id] = v;
    m->has[id] = true;
    m->why[id] = NULL;
}

/* Matches a route against a pattern list, by "METHOD /path" or "/path". */
static bool route_matches(const cJSON *r, const char *list)
{
    const cJSON *path = cJSON_GetObjectItemCaseSensitive(r, "route");
    const cJSON *meth = cJSON_GetObjectItemCaseSensitive(r, "method");
    if (!cJSON_IsString(path))
        return false;
    if (chim__match_list(list, path->valuestring))
        return true;
    char full[600];
    snprintf(full, sizeof full, "%s %s", cJSON_IsString(meth) ? meth->valuestring : "",
             path->valuestring);
    return chim__match_list(list, full);
}

struct agg {
    double count, errors, p95, hits, misses;
    bool any_p95;
};

/* Accumulates one route or upstream entry into a. */
static void add_entry(struct agg *a, const cJSON *e)
{
    double c = 0, x;
    if (!chim__num(e, "count", &c) || c <= 0)
        return;
    a->count += c;
    if (chim__num(e, "errors", &x))
        a->errors += x;
    if (chim__num(e, "p95_ms", &x) && (!a->any_p95 || x > a->p95)) {
        a->p95 = x;
        a->any_p95 = true;
    }
}

static struct agg routes_agg(const cJSON *rep, const char *list)
{
    struct agg a = {0};
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(rep, "http_server");
    const cJSON *routes = cJSON_GetObjectItemCaseSensitive(h, "routes"), *r;
    cJSON_ArrayForEach(r, (cJSON_IsArray(routes) ? routes : NULL))
    {
        if (!route_matches(r, list))
            continue;
        add_entry(&a, r);
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(r, "cache");
        double x;
        if (chim__num(c, "hits", &x))
            a.hits += x;
        if (chim__num(c, "misses", &x))
            a.misses += x;
    }
    return a;
}

static bool is_http(const cJSON *u)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(u, "protocol");
    return !cJSON_IsString(p) || !strcmp(p->valuestring, "http") ||
           !strcmp(p->valuestring, "https");
}

static bool upstream_matches(const cJSON *u, const char *list)
{
    const cJSON *peer = cJSON_GetObjectItemCaseSensitive(u, "peer");
    const cJSON *host = cJSON_GetObjectItemCaseSensitive(u, "host");
    return (cJSON_IsString(peer) && chim__match_list(list, peer->valuestring)) ||
           (cJSON_IsString(host) && chim__match_list(list, host->valuestring));
}

static void api(const cJSON *rep, const struct chim_config *cfg, struct chim_metrics *m)
{
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(rep, "http_server");
    bool all = !strcmp(cfg->mapping.api_routes, "*");
    struct agg a = routes_agg(rep, cfg->mapping.api_routes);
    double req = a.count, errs = a.errors, dur = 0, rps, p95;
    if (all && chim__num(h, "requests", &req) && !chim__num(h, "errors", &errs))
        errs = 0;
    if (!h) {
        m->why[CHIM_M_API_P95] = m->why[CHIM_M_THROUGHPUT] = m->why[CHIM_M_ERROR_RATE] =
            "no request data in the report";
        return;
    }
    if (req <= 0) {
        m->why[CHIM_M_API_P95] = m->why[CHIM_M_THROUGHPUT] = m->why[CHIM_M_ERROR_RATE] =
            all ? "no requests" : "no requests on the API routes";
        return;
    }
    m->requests = req;
    m->errors = errs;
    set(m, CHIM_M_ERROR_RATE, errs / req);
    if (all && chim__num(h, "p95_ms", &p95))
        set(m, CHIM_M_API_P95, p95);
    else if (a.any_p95)
        set(m, CHIM_M_API_P95, a.p95);
    else
        m->why[CHIM_M_API_P95] = "no latency data";
    if (all && chim__num(h, "rps", &rps))
        set(m, CHIM_M_THROUGHPUT, rps);
    else if (chim__num(h, "duration_s", &dur) && dur > 0)
        set(m, CHIM_M_THROUGHPUT, req / dur);
    else
        m->why[CHIM_M_THROUGHPUT] = "no duration";
}

static void llm(const cJSON *rep, const struct chim_config *cfg, struct chim_metrics *m)
{
    struct agg a = routes_agg(rep, cfg->mapping.llm_routes);
    const cJSON *ups = cJSON_GetObjectItemCaseSensitive(rep, "upstreams"), *u;
    cJSON_ArrayForEach(u, (cJSON_IsArray(ups) ? ups : NULL))
    {
        if (is_http(u) && upstream_matches(u, cfg->mapping.llm_upstreams))
            add_entry(&a, u);
    }
    if (a.any_p95)
        set(m, CHIM_M_LLM_P95, a.p95);
    else
        m->why[CHIM_M_LLM_P95] = "no LLM provider calls: no matching HTTP upstream or route";
}

static void transform(const cJSON *rep, const struct chim_config *cfg, struct chim_metrics *m)
{
    struct agg a = routes_agg(rep, cfg->mapping.transformation_routes);
    if (a.any_p95)
        set(m, CHIM_M_TRANSFORM_P95, a.p95);
    else
        m->why[CHIM_M_TRANSFORM_P95] = "no requests on transformation routes";
}

static void cache(const cJSON *rep, const struct chim_config *cfg, struct chim_metrics *m)
{
    double hits = 0, misses = 0, ratio, x;
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(rep, "cache"), *u;
    if (!strcmp(cfg->mapping.cache_source, "routes")) {
        struct agg a = routes_agg(rep, cfg->mapping.api_routes);
        hits = a.hits;
        misses = a.misses;
    } else if (chim__num(c, "hits", &hits) && chim__num(c, "misses", &misses)) {
        /* the wire-level totals */
    } else if (chim__num(c, "hit_ratio", &ratio) && ratio >= 0 && ratio <= 1) {
        set(m, CHIM_M_CACHE_HIT, ratio);
        return;
    } else {
        hits = misses = 0;
        const cJSON *ups = cJSON_GetObjectItemCaseSensitive(rep, "upstreams");
        cJSON_ArrayForEach(u, (cJSON_IsArray(ups) ? ups : NULL))
        {
            hits += chim__num(u, "hits", &x) ? x : 0;
            misses += chim__num(u, "misses", &x) ? x : 0;
        }
    }
    if (hits >= 0 && misses >= 0 && hits + misses > 0)
        set(m, CHIM_M_CACHE_HIT, hits / (hits + misses));
    else
        m->why[CHIM_M_CACHE_HIT] = "no cache traffic";
}

static void memory(const cJSON *rep, struct chim_metrics *m)
{
    const cJSON *mem = cJSON_GetObjectItemCaseSensitive(rep, "memory");
    double peak;
    if (chim__num(mem, "peak_rss_bytes", &peak) && peak > 0)
        set(m, CHIM_M_PEAK_MEMORY, peak / (1024.0 * 1024.0));
    else
        m->why[CHIM_M_PEAK_MEMORY] = "no peak RSS in the report";
}

void chim_metrics_extract(const cJSON *rep, const struct chim_config *cfg, struct chim_metrics *m)
{
    memset(m, 0, sizeof *m);
    for (int i = 0; i < CHIM_M_COUNT; i++)
        m->why[i] = "no data";
    api(rep, cfg, m);
    llm(rep, cfg, m);
    transform(rep, cfg, m);
    cache(rep, cfg, m);
    memory(rep, m);
}
