/*
 * report_net.c - the request blocks of the report (http_server, upstreams,
 * cache, network, resources, timeseries) from the segments' request
 * sections. Entries of the same route or peer, from any thread or process,
 * are merged bucket by bucket before percentiles are taken.
 */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chim/shm_net.h"
#include "report.h"

struct acc {
    char method[CHIM_METHOD_MAX], name[CHIM_ROUTE_MAX], host[CHIM_HOST_MAX];
    uint8_t proto;
    uint64_t count, errors, hits, misses, alloc_bytes, alloc_samples, ttfb_us, client_errors;
    uint64_t failed;
    uint64_t status[6];
    struct chim_hist all, hit, miss;
};

struct accs {
    struct acc *v;
    size_t n, cap;
};

struct net_totals {
    struct chim_net_stats st;
    uint64_t first_ns, last_ns;
    struct accs routes, peers;
};

static const struct chim_section *section(const struct chim_seg *s, uint32_t kind, uint32_t elem)
{
    const struct chim_section *sec = chim_seg_section(s->hdr, kind);
    return sec && sec->elem_size == elem ? sec : NULL;
}

static struct acc *find(struct accs *a, const struct chim_net_entry *e, int by_host)
{
    for (size_t i = 0; i < a->n; i++)
        if (!strcmp(a->v[i].method, e->method) && !strcmp(a->v[i].name, e->name) &&
            a->v[i].proto == e->proto && (!by_host || !strcmp(a->v[i].host, e->host)))
            return &a->v[i];
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 16;
        struct acc *v = realloc(a->v, cap * sizeof *v);
        if (!v)
            return NULL;
        a->v = v;
        a->cap = cap;
    }
    struct acc *x = memset(&a->v[a->n++], 0, sizeof *a->v);
    memcpy(x->method, e->method, sizeof x->method);
    memcpy(x->name, e->name, sizeof x->name);
    memcpy(x->host, e->host, sizeof x->host);
    x->method[CHIM_METHOD_MAX - 1] = x->name[CHIM_ROUTE_MAX - 1] = x->host[CHIM_HOST_MAX - 1] = 0;
    x->proto = e->proto;
    return x;
}

static void add_entry(struct acc *x, const struct chim_net_entry *e)
{
    x->count += e->count;
    x->errors += e->errors;
    x->hits += e->hits;
    x->misses += e->misses;
    x->alloc_bytes += e->alloc_bytes;
    x->alloc_samples += e->alloc_samples;
    x->ttfb_us += e->ttfb_us_sum;
    x->client_errors += e->client_errors;
    x->failed += e->failed;
    x->status[e->status_class < 6 ? e->status_class : 0] += e->count;
    chim_hist_merge(&x->all, &e->latency);
    if (e->cache == CHIM_CACHE_HIT)
        chim_hist_merge(&x->hit, &e->latency);
    else if (e->cache == CHIM_CACHE_MISS)
        chim_hist_merge(&x->miss, &e->latency);
}

static void add_entries(struct accs *a, const struct chim_seg *s, uint32_t kind, int by_host)
{
    const struct chim_section *sec = section(s, kind, sizeof(struct chim_net_entry));
    for (uint64_t i = 0; sec && i < sec->count; i++) {
        const struct chim_net_entry *e =
            (const void *)(s->data + sec->offset + i * sizeof(struct chim_net_entry));
        if (e->state != CHIM_ENTRY_READY || (e->count == 0 && e->failed == 0))
            continue;
        struct acc *x = find(a, e, by_host);
        if (x)
            add_entry(x, e);
    }
}

static void add_stats(struct net_totals *t, const struct chim_seg *s)
{
    const struct chim_section *sec = section(s, CHIM_SEC_NET, sizeof(struct chim_net_stats));
    if (!sec || sec->count < 1)
        return;
    struct chim_net_stats st;
    memcpy(&st, s->data + sec->offset, sizeof st);
    uint64_t *d = (uint64_t *)&t->st;
    const uint64_t *src = (const uint64_t *)&st;
    for (size_t i = 0; i < sizeof st / 8; i++)
        d[i] += src[i];
    if (st.first_ns && (!t->first_ns || st.first_ns < t->first_ns))
        t->first_ns = st.first_ns;
    if (st.last_ns > t->last_ns)
        t->last_ns = st.last_ns;
}

static double ms(uint64_t us)
{
    return (double)us / 1000.0;
}

/* prefix + p50_ms, p90_ms, p95_ms, p99_ms, max_ms, mean_ms of h; with
 * null_if_empty, nulls when h holds nothing (0 ms would read as measured). */
static void add_latencies(cJSON *o, const struct chim_hist *h, const char *prefix,
                          int null_if_empty)
{
    static const char *names[] = {"p50_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms", "mean_ms"};
    static const double ps[] = {50, 90, 95, 99};
    char key[32];
    for (int i = 0; i < 6; i++) {
        snprintf(key, sizeof key, "%s%s", prefix, names[i]);
        if (null_if_empty && !h->count)
            cJSON_AddNullToObject(o, key);
        else
            cJSON_AddNumberToObject(o, key,
                                    i < 4    ? ms(chim_hist_percentile(h, ps[i]))
                                    : i == 4 ? ms(chim_hist_max(h))
                                             : chim_hist_mean(h) / 1000.0);
    }
}

static void add_percentiles(cJSON *o, const struct chim_hist *h, const char *prefix)
{
    add_latencies(o, h, prefix, 0);
}

static cJSON *route_json(const struct acc *x)
{
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "method", x->method);
    cJSON_AddStringToObject(r, "route", x->name);
    cJSON_AddNumberToObject(r, "count", (double)x->count);
    cJSON_AddNumberToObject(r, "errors", (double)x->errors);
    cJSON *st = cJSON_AddObjectToObject(r, "status");
    static const char *cls[] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};
    for (int i = 1; i < 6; i++)
        cJSON_AddNumberToObject(st, cls[i], (double)x->status[i]);
    add_percentiles(r, &x->all, "");
    cJSON_AddNumberToObject(r, "ttfb_mean_ms", x->count ? ms(x->ttfb_us) / (double)x->count : 0);
    if (x->alloc_samples)
        cJSON_AddNumberToObject(r, "bytes_per_request",
                                round((double)x->alloc_bytes / (double)x->alloc_samples));
    else
        cJSON_AddNullToObject(r, "bytes_per_request");
    if (x->hits + x->misses) {
        cJSON *c = cJSON_AddObjectToObject(r, "cache");
        cJSON_AddNumberToObject(c, "hits", (double)x->hits);
        cJSON_AddNumberToObject(c, "misses", (double)x->misses);
        add_latencies(c, &x->hit, "hit_", 1); /* a side no request fell on: nulls */
        add_latencies(c, &x->miss, "miss_", 1);
    }
    return r;
}

static const char *proto_name(uint8_t p)
{
    static const char *n[] = {"tcp", "http", "redis", "memcached"};
    return p < 4 ? n[p] : "tcp";
}

static cJSON *peer_json(const struct acc *x)
{
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "peer", x->name);
    cJSON_AddStringToObject(r, "host", x->host);
    cJSON_AddStringToObject(r, "protocol", proto_name(x->proto));
    cJSON_AddNumberToObject(r, "count", (double)x->count);
    cJSON_AddNumberToObject(r, "errors", (double)x->errors);
    /* Calls whose reply never came whole (closed, reset): not in count. */
    cJSON_AddNumberToObject(r, "failed", (double)x->failed);
    if (x->proto == CHIM_PROTO_HTTP) /* 4xx replies: not errors of the upstream */
        cJSON_AddNumberToObject(r, "client_errors", (double)x->client_errors);
    add_percentiles(r, &x->all, "");
    cJSON_AddNumberToObject(r, "hits", (double)x->hits);
    cJSON_AddNumberToObject(r, "misses", (double)x->misses);
    return r;
}

static int by_count(const void *a, const void *b)
{
    const struct acc *x = a, *y = b;
    return x->count < y->count ? 1 : x->count > y->count ? -1 : strcmp(x->name, y->name);
}

static void add_http(cJSON *o, struct net_totals *t)
{
    cJSON *h = cJSON_AddObjectToObject(o, "http_server");
    double dur = t->last_ns > t->first_ns ? (double)(t->last_ns - t->first_ns) / 1e9 : 0;
    cJSON_AddNumberToObject(h, "requests", (double)t->st.requests);
    cJSON_AddNumberToObject(h, "errors", (double)t->st.errors);
    cJSON_AddNumberToObject(h, "error_rate",
                            t->st.requests ? (double)t->st.errors / (double)t->st.requests : 0);
    /* rps over the active window: first to last completed request */
    cJSON_AddNumberToObject(h, "rps",
                            dur > 0 ? (double)t->st.requests / dur : (double)t->st.requests);
    cJSON_AddNumberToObject(h, "duration_s", dur);
    /* 4xx: the client's errors (errors and error_rate are 5xx). Counted by
     * the agent, routes or not; an older agent's segments leave it 0: the
     * routes' sum then. */
    uint64_t c4 = 0;
    for (size_t i = 0; i < t->routes.n; i++)
        c4 += t->routes.v[i].status[4];
    cJSON_AddNumberToObject(h, "client_errors",
                            (double)(t->st.client_errors > c4 ? t->st.client_errors : c4));
    /* Requests the connection ended without answering (a handler that
     * crashed, a reset), responses cut short: no status is invented. */
    cJSON_AddNumberToObject(h, "unanswered", (double)t->st.unanswered);
    cJSON_AddNumberToObject(h, "truncated", (double)t->st.truncated);
    qsort(t->routes.v, t->routes.n, sizeof *t->routes.v, by_count);
    cJSON *routes = cJSON_AddArrayToObject(h, "routes");
    struct chim_hist *all = calloc(1, sizeof *all);
    for (size_t i = 0; i < t->routes.n; i++) {
        cJSON_AddItemToArray(routes, route_json(&t->routes.v[i]));
        if (all)
            chim_hist_merge(all, &t->routes.v[i].all);
    }
    if (all)
        add_percentiles(h, all, "");
    free(all);
}

static void add_cache(cJSON *o, const struct net_totals *t)
{
    uint64_t wh = 0, wm = 0, xh = 0, xm = 0;
    for (size_t i = 0; i < t->peers.n; i++) /* an HTTP upstream's X-Cache stays its own */
        if (t->peers.v[i].proto != CHIM_PROTO_HTTP)
            wh += t->peers.v[i].hits, wm += t->peers.v[i].misses;
    for (size_t i = 0; i < t->routes.n; i++)
        xh += t->routes.v[i].hits, xm += t->routes.v[i].misses;
    /* Wire-level replies (Redis, memcached) when there are any, else the
     * X-Cache headers of the responses; both are listed. */
    uint64_t h = wh + wm ? wh : xh, m = wh + wm ? wm : xm;
    cJSON *c = cJSON_AddObjectToObject(o, "cache");
    cJSON_AddNumberToObject(c, "hits", (double)h);
    cJSON_AddNumberToObject(c, "misses", (double)m);
    if (h + m)
        cJSON_AddNumberToObject(c, "hit_ratio", (double)h / (double)(h + m));
    else
        cJSON_AddNullToObject(c, "hit_ratio");
    cJSON_AddStringToObject(c, "source", wh + wm ? "wire" : xh + xm ? "x-cache" : "none");
    cJSON *w = cJSON_AddObjectToObject(c, "wire");
    cJSON_AddNumberToObject(w, "hits", (double)wh);
    cJSON_AddNumberToObject(w, "misses", (double)wm);
    cJSON *x = cJSON_AddObjectToObject(c, "x_cache");
    cJSON_AddNumberToObject(x, "hits", (double)xh);
    cJSON_AddNumberToObject(x, "misses", (double)xm);
}

/* A running process holding an io_uring instance (liburing issues its
 * syscalls inline, past any hook): anon_inode:[io_uring] among its fds. */
static int uses_io_uring(const struct chim_seg *const *segs, size_t n)
{
    char dir[64], path[320], target[64];
    for (size_t i = 0; i < n; i++) {
        if (segs[i]->state != CHIM_SEG_RUNNING)
            continue;
        snprintf(dir, sizeof dir, "/proc/%u/fd", segs[i]->hdr->pid);
        DIR *d = opendir(dir);
        struct dirent *e;
        int found = 0;
        while (d && !found && (e = readdir(d)) != NULL) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            ssize_t l = readlink(path, target, sizeof target - 1);
            found = l > 0 && (target[l] = 0, strstr(target, "io_uring") != NULL);
        }
        if (d)
            closedir(d);
        if (found)
            return 1;
    }
    return 0;
}

static void add_network(cJSON *o, const struct chim_net_stats *st, int io_uring)
{
    cJSON *n = cJSON_AddObjectToObject(o, "network");
    cJSON_AddNumberToObject(n, "bytes_in", (double)st->bytes_in);
    cJSON_AddNumberToObject(n, "bytes_out", (double)st->bytes_out);
    cJSON_AddNumberToObject(n, "connections_accepted", (double)st->accepted);
    cJSON_AddNumberToObject(n, "connections_opened", (double)st->connected);
    cJSON_AddNumberToObject(n, "sockets_adopted", (double)st->adopted);
    cJSON *d = cJSON_AddObjectToObject(n, "not_tracked");
    cJSON_AddNumberToObject(d, "framing_errors", (double)st->framing_errors);
    cJSON_AddNumberToObject(d, "connections_dropped", (double)st->dropped_conns);
    cJSON_AddNumberToObject(d, "routes_dropped", (double)st->dropped_routes);
    cJSON_AddNumberToObject(d, "peers_dropped", (double)st->dropped_peers);
    cJSON_AddNumberToObject(d, "contended", (double)st->contended);
    cJSON_AddNumberToObject(d, "route_overflow", (double)st->route_overflow);
    cJSON_AddNumberToObject(d, "upgraded", (double)st->upgraded);
    cJSON_AddNumberToObject(d, "pipeline_overflow", (double)st->pipeline_overflow);
    cJSON_AddNumberToObject(d, "orphan_responses", (double)st->orphans);
    cJSON *b = cJSON_AddArrayToObject(n, "blind_spots");
    if (st->tls_conns)
        cJSON_AddItemToArray(b, cJSON_CreateString("tls: encrypted connections seen, "
                                                   "their requests are not visible"));
    if (st->stdio_sockets)
        cJSON_AddItemToArray(b, cJSON_CreateString("stdio: sockets read or written through "
                                                   "fdopen streams, their bytes are not visible"));
    if (st->io_uring || io_uring)
        cJSON_AddItemToArray(b, cJSON_CreateString("io_uring: set up by the process, "
                                                   "I/O through it is not visible"));
}

void chim__report_net(cJSON *o, const struct chim_seg *const *segs, size_t n)
{
    struct net_totals *t = calloc(1, sizeof *t);
    if (!t)
        return;
    int any = 0;
    for (size_t i = 0; i < n; i++) {
        any |= section(segs[i], CHIM_SEC_NET, sizeof(struct chim_net_stats)) != NULL;
        add_stats(t, segs[i]);
        add_entries(&t->routes, segs[i], CHIM_SEC_ROUTES, 0);
        add_entries(&t->peers, segs[i], CHIM_SEC_PEERS, 1);
    }
    if (any) {
        add_http(o, t);
        qsort(t->peers.v, t->peers.n, sizeof *t->peers.v, by_count);
        cJSON *up = cJSON_AddArrayToObject(o, "upstreams");
        for (size_t i = 0; i < t->peers.n; i++)
            cJSON_AddItemToArray(up, peer_json(&t->peers.v[i]));
        add_cache(o, t);
        add_network(o, &t->st, uses_io_uring(segs, n));
        chim__report_series(o, segs, n);
    }
    free(t->routes.v);
    free(t->peers.v);
    free(t);
}
