/*
 * metrics_otlp.c - writes the exporter model (metrics.h) as OTLP/JSON: one
 * ExportMetricsServiceRequest ({"resourceMetrics": [...]}) with a resource
 * per process (service.name = exe basename, process.pid) and OpenTelemetry
 * semantic-convention names where one exists: http.server.request.duration
 * (explicit-bucket histogram, unit s), http.client.request.duration and
 * db.client.operation.duration for upstream calls, process.cpu.time,
 * process.memory.usage, process.network.io, plus chim.* for the rest.
 * Encoding rules of OTLP/JSON: 64-bit integers as decimal strings, enums as
 * numbers, lowerCamelCase keys, bucketCounts per bucket (not cumulative),
 * cumulative temporality (2) from the process start.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "metrics.h"

#define TEMPORALITY_CUMULATIVE 2

static void u64str(cJSON *o, const char *key, uint64_t v)
{
    char b[32];
    snprintf(b, sizeof b, "%llu", (unsigned long long)v);
    cJSON_AddStringToObject(o, key, b);
}

static void attr(cJSON *arr, const char *key, const char *sval)
{
    cJSON *a = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "key", key);
    cJSON_AddStringToObject(cJSON_AddObjectToObject(a, "value"), "stringValue", sval);
    cJSON_AddItemToArray(arr, a);
}

static void attr_int(cJSON *arr, const char *key, uint64_t v)
{
    cJSON *a = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "key", key);
    u64str(cJSON_AddObjectToObject(a, "value"), "intValue", v);
    cJSON_AddItemToArray(arr, a);
}

/* A data point with start and time stamps and an (empty) attribute list. */
static cJSON *point(cJSON *points, const struct chim_metrics *m, const struct chim_metrics_proc *p)
{
    cJSON *d = cJSON_CreateObject();
    cJSON_AddArrayToObject(d, "attributes");
    u64str(d, "startTimeUnixNano", p->start_time_ns);
    u64str(d, "timeUnixNano", p->gone_ns ? p->gone_ns : m->now_ns);
    cJSON_AddItemToArray(points, d);
    return d;
}

/* A metric of kind "sum" (monotonic counter), "gauge" or "histogram";
 * returns its dataPoints array. */
static cJSON *metric(cJSON *metrics, const char *name, const char *unit, const char *desc,
                     const char *kind)
{
    cJSON *mt = cJSON_CreateObject();
    cJSON_AddStringToObject(mt, "name", name);
    cJSON_AddStringToObject(mt, "description", desc);
    cJSON_AddStringToObject(mt, "unit", unit);
    cJSON *body = cJSON_AddObjectToObject(mt, kind);
    if (strcmp(kind, "gauge")) {
        cJSON_AddNumberToObject(body, "aggregationTemporality", TEMPORALITY_CUMULATIVE);
        if (!strcmp(kind, "sum"))
            cJSON_AddBoolToObject(body, "isMonotonic", 1);
    }
    cJSON_AddItemToArray(metrics, mt);
    return cJSON_AddArrayToObject(body, "dataPoints");
}

static void int_point(cJSON *pts, const struct chim_metrics *m, const struct chim_metrics_proc *p,
                      uint64_t v, const char *k, const char *val)
{
    cJSON *d = point(pts, m, p);
    if (k)
        attr(cJSON_GetObjectItem(d, "attributes"), k, val);
    u64str(d, "asInt", v);
}

static void hist_point(cJSON *pts, const struct chim_metrics *m, const struct chim_metrics_proc *p,
                       const struct chim_metrics_hist *h, cJSON **attrs)
{
    cJSON *d = point(pts, m, p);
    *attrs = cJSON_GetObjectItem(d, "attributes");
    u64str(d, "count", h->cum[CHIM_METRICS_NBOUNDS]);
    cJSON_AddNumberToObject(d, "sum", (double)h->sum_us / 1e6);
    cJSON *counts = cJSON_AddArrayToObject(d, "bucketCounts");
    cJSON *bounds = cJSON_AddArrayToObject(d, "explicitBounds");
    char b[32];
    for (size_t i = 0; i <= CHIM_METRICS_NBOUNDS; i++) {
        uint64_t c = h->cum[i] - (i ? h->cum[i - 1] : 0);
        snprintf(b, sizeof b, "%llu", (unsigned long long)c);
        cJSON_AddItemToArray(counts, cJSON_CreateString(b));
        if (i < CHIM_METRICS_NBOUNDS)
            cJSON_AddItemToArray(bounds,
                                 cJSON_CreateNumber((double)chim_metrics_bounds_us[i] / 1e6));
    }
    if (h->cum[CHIM_METRICS_NBOUNDS])
        cJSON_AddNumberToObject(d, "max", (double)h->max_us / 1e6);
}

static void server_metrics(cJSON *ms, const struct chim_metrics *m,
                           const struct chim_metrics_proc *p)
{
    if (!p->nroutes)
        return;
    cJSON *pts = metric(ms, "http.server.request.duration", "s",
                        "Duration of inbound HTTP requests.", "histogram");
    for (size_t k = 0; k < p->nroutes; k++) {
        const struct chim_metrics_route *r = &p->routes[k];
        cJSON *a;
        hist_point(pts, m, p, &r->lat, &a);
        attr(a, "http.request.method", r->method);
        attr(a, "http.route", r->route);
        attr(a, "chim.http.response.status_class", r->status_class);
    }
}

/* Upstream calls: HTTP peers as http.client.*, Redis and memcached as
 * db.client.*, others as chim.upstream.*. */
static void peer_metrics(cJSON *ms, const struct chim_metrics *m, const struct chim_metrics_proc *p)
{
    static const struct {
        const char *name, *desc, *protos[2];
    } kinds[] = {
        {"http.client.request.duration", "Duration of outbound HTTP requests.", {"http", NULL}},
        {"db.client.operation.duration",
         "Duration of cache/database commands.",
         {"redis", "memcached"}},
        {"chim.upstream.call.duration", "Duration of request/response turns.", {"tcp", NULL}},
    };
    for (size_t t = 0; t < 3; t++) {
        cJSON *pts = NULL;
        for (size_t k = 0; k < p->npeers; k++) {
            const struct chim_metrics_peer *x = &p->peers[k];
            const char *pr = x->protocol;
            if (strcmp(pr, kinds[t].protos[0]) &&
                (!kinds[t].protos[1] || strcmp(pr, kinds[t].protos[1])))
                continue;
            if (!pts)
                pts = metric(ms, kinds[t].name, "s", kinds[t].desc, "histogram");
            cJSON *a;
            hist_point(pts, m, p, &x->lat, &a);
            attr(a, "server.address", x->peer);
            attr(a, t == 1 ? "db.system" : "network.protocol.name", pr);
        }
    }
}

static void cache_metrics(cJSON *ms, const struct chim_metrics *m,
                          const struct chim_metrics_proc *p)
{
    cJSON *pts = NULL;
    for (size_t k = 0; k < p->npeers; k++) {
        const struct chim_metrics_peer *x = &p->peers[k];
        if (!chim_metrics_peer_lookups(x))
            continue;
        if (!pts)
            pts = metric(ms, "chim.cache.requests", "{request}",
                         "Cache lookups seen on the wire, by result.", "sum");
        for (int hit = 1; hit >= 0; hit--) {
            cJSON *d = point(pts, m, p);
            cJSON *a = cJSON_GetObjectItem(d, "attributes");
            attr(a, "server.address", x->peer);
            attr(a, "db.system", x->protocol);
            attr(a, "chim.cache.result", hit ? "hit" : "miss");
            u64str(d, "asInt", hit ? x->hits : x->misses);
        }
    }
}

static void process_metrics(cJSON *ms, const struct chim_metrics *m,
                            const struct chim_metrics_proc *p)
{
    const struct chim_mem_summary *mem = &p->mem;
    cJSON *pts = metric(ms, "chim.heap.live", "By", "Live heap bytes.", "gauge");
    cJSON_AddNumberToObject(point(pts, m, p), "asDouble", (double)mem->live_bytes);
    pts = metric(ms, "chim.heap.allocations", "{allocation}", "Heap allocations.", "sum");
    int_point(pts, m, p, mem->allocs, NULL, NULL);
    pts = metric(ms, "chim.heap.frees", "{free}", "Heap blocks freed.", "sum");
    int_point(pts, m, p, mem->frees, NULL, NULL);
    pts = metric(ms, "chim.process.peak_rss", "By", "Peak resident set size.", "gauge");
    cJSON_AddNumberToObject(point(pts, m, p), "asDouble", (double)mem->peak_rss_bytes);
    if (p->have_series) {
        pts = metric(ms, "process.memory.usage", "By", "Resident set size.", "gauge");
        cJSON_AddNumberToObject(point(pts, m, p), "asDouble", (double)p->rss_bytes);
        pts = metric(ms, "process.cpu.time", "s", "CPU time by mode.", "sum");
        for (int user = 1; user >= 0; user--) {
            cJSON *d = point(pts, m, p);
            attr(cJSON_GetObjectItem(d, "attributes"), "cpu.mode", user ? "user" : "system");
            cJSON_AddNumberToObject(d, "asDouble",
                                    (double)(user ? p->cpu_user_us : p->cpu_sys_us) / 1e6);
        }
    }
    if (p->have_net) {
        pts = metric(ms, "process.network.io", "By", "Bytes on tracked TCP sockets.", "sum");
        int_point(pts, m, p, p->net.bytes_in, "network.io.direction", "receive");
        int_point(pts, m, p, p->net.bytes_out, "network.io.direction", "transmit");
        pts = metric(ms, "chim.http.server.errors", "{request}", "Inbound 5xx responses.", "sum");
        int_point(pts, m, p, p->net.errors, NULL, NULL);
    }
}

static void leak_metrics(cJSON *ms, const struct chim_metrics *m, const struct chim_metrics_proc *p)
{
    cJSON *pts = NULL;
    for (size_t i = 0; i < m->nsites; i++) {
        if (m->sites[i].pid != p->pid)
            continue;
        if (!pts)
            pts = metric(ms, "chim.leak.site.live", "By", "Live bytes of top leak sites.", "gauge");
        cJSON *d = point(pts, m, p);
        attr(cJSON_GetObjectItem(d, "attributes"), "chim.leak.site", m->sites[i].site);
        cJSON_AddNumberToObject(d, "asDouble", m->sites[i].live_bytes);
    }
}

static cJSON *resource(const struct chim_metrics *m, const struct chim_metrics_proc *p)
{
    cJSON *rm = cJSON_CreateObject();
    cJSON *attrs = cJSON_AddArrayToObject(cJSON_AddObjectToObject(rm, "resource"), "attributes");
    attr(attrs, "service.name", p->exe);
    attr(attrs, "process.executable.name", p->exe);
    attr_int(attrs, "process.pid", p->pid);
    cJSON *sm = cJSON_CreateObject();
    cJSON *scope = cJSON_AddObjectToObject(sm, "scope");
    cJSON_AddStringToObject(scope, "name", "chimera");
    cJSON_AddStringToObject(scope, "version", CHIM_VERSION);
    cJSON *ms = cJSON_AddArrayToObject(sm, "metrics");
    server_metrics(ms, m, p);
    peer_metrics(ms, m, p);
    cache_metrics(ms, m, p);
    process_metrics(ms, m, p);
    leak_metrics(ms, m, p);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(rm, "scopeMetrics"), sm);
    return rm;
}

int chim__metrics_write_otlp(const struct chim_metrics *m, FILE *out);

int chim__metrics_write_otlp(const struct chim_metrics *m, FILE *out)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *rms = cJSON_AddArrayToObject(root, "resourceMetrics");
    for (size_t i = 0; i < m->nprocs; i++)
        cJSON_AddItemToArray(rms, resource(m, &m->procs[i]));
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!s)
        return -ENOMEM;
    fputs(s, out);
    fputc('\n', out);
    free(s);
    return ferror(out) ? -EIO : 0;
}
