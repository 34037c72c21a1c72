/*
 * metrics_text.c - writes the exporter model (metrics.h) as Prometheus text
 * format 0.0.4 or OpenMetrics 1.0. Both come from one table of families, so
 * each family has exactly one HELP and one TYPE line and all its samples
 * together; the formats differ only in counter family names (OpenMetrics
 * names the family without `_total`), UNIT lines and the closing `# EOF`.
 * Also the negotiation of the format from an Accept header, and a checker
 * for what promtool does not check (bucket monotonicity, duplicate series).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "metrics.h"

struct w {
    FILE *f;
    int om;
    const struct chim_metrics *m;
};

struct family {
    const char *name; /* sample name (counters end in _total) */
    const char *type; /* counter, gauge, histogram */
    const char *unit; /* OpenMetrics UNIT, or NULL */
    const char *help;
    void (*emit)(struct w *w, const struct family *fam);
};

/* ---- samples -------------------------------------------------------------- */

/* name{pid="..",exe="..",k="v",...} value; kv is a NULL-terminated list. */
static void sample(struct w *w, const char *name, const char *suffix,
                   const struct chim_metrics_proc *p, const char *const *kv, const char *value)
{
    FILE *f = w->f;
    fprintf(f, "%s%s{", name, suffix);
    int first = 1;
    if (p) {
        fprintf(f, "pid=\"%s\",exe=\"", p->pid_s);
        chim_metrics_escape(f, p->exe);
        fputc('"', f);
        first = 0;
    }
    for (; kv && kv[0]; kv += 2) {
        fprintf(f, "%s%s=\"", first ? "" : ",", kv[0]);
        chim_metrics_escape(f, kv[1] ? kv[1] : "");
        fputc('"', f);
        first = 0;
    }
    fprintf(f, "} %s\n", value);
}

static const char *u64s(uint64_t v, char *buf, size_t n)
{
    snprintf(buf, n, "%llu", (unsigned long long)v);
    return buf;
}

static const char *i64s(int64_t v, char *buf, size_t n)
{
    snprintf(buf, n, "%lld", (long long)v);
    return buf;
}

/* Exact decimal seconds of a microsecond count. */
static const char *secs(uint64_t us, char *buf, size_t n)
{
    snprintf(buf, n, "%llu.%06llu", (unsigned long long)(us / 1000000),
             (unsigned long long)(us % 1000000));
    return buf;
}

static const char *dbl(double v, char *buf, size_t n)
{
    snprintf(buf, n, "%.10g", v);
    return buf;
}

/* ---- process families ----------------------------------------------------- */

enum pfield {
    F_RUNNING,
    F_START,
    F_LIVE,
    F_PEAK_LIVE,
    F_ALLOCS,
    F_FREES,
    F_ALLOC_BYTES,
    F_FREED_BYTES,
    F_FAILED,
    F_PEAK_RSS,
    F_RSS,
    F_RX,
    F_TX,
    F_REQUESTS,
    F_ERRORS,
    F_DROPPED,
};

/* The value of a per-process field, or NULL if the process lacks it. */
static const char *pvalue(const struct chim_metrics_proc *p, enum pfield f, char *b, size_t n)
{
    const struct chim_mem_summary *m = &p->mem;
    switch (f) {
    case F_RUNNING:
        return u64s(p->running, b, n);
    case F_START:
        return secs(p->start_time_ns / 1000, b, n);
    case F_LIVE:
        return i64s(m->live_bytes, b, n);
    case F_PEAK_LIVE:
        return u64s(m->peak_live_bytes, b, n);
    case F_ALLOCS:
        return u64s(m->allocs, b, n);
    case F_FREES:
        return u64s(m->frees, b, n);
    case F_ALLOC_BYTES:
        return u64s(m->bytes_allocated, b, n);
    case F_FREED_BYTES:
        return u64s(m->bytes_freed, b, n);
    case F_FAILED:
        return u64s(m->failed, b, n);
    case F_PEAK_RSS:
        return u64s(m->peak_rss_bytes, b, n);
    case F_RSS:
        return p->have_series ? u64s(p->rss_bytes, b, n) : NULL;
    case F_RX:
        return p->have_net ? u64s(p->net.bytes_in, b, n) : NULL;
    case F_TX:
        return p->have_net ? u64s(p->net.bytes_out, b, n) : NULL;
    case F_REQUESTS:
        return p->have_net ? u64s(p->net.requests, b, n) : NULL;
    case F_ERRORS:
        return p->have_net ? u64s(p->net.errors, b, n) : NULL;
    case F_DROPPED:
        return u64s(p->dropped, b, n);
    }
    return NULL;
}

#define PFAM(fn, field)                                                                            \
    static void fn(struct w *w, const struct family *fam)                                          \
    {                                                                                              \
        char b[48];                                                                                \
        for (size_t i = 0; i < w->m->nprocs; i++) {                                                \
            const char *v = pvalue(&w->m->procs[i], field, b, sizeof b);                           \
            if (v)                                                                                 \
                sample(w, fam->name, "", &w->m->procs[i], NULL, v);                                \
        }                                                                                          \
    }
PFAM(e_running, F_RUNNING)
PFAM(e_start, F_START)
PFAM(e_live, F_LIVE)
PFAM(e_peak_live, F_PEAK_LIVE)
PFAM(e_allocs, F_ALLOCS)
PFAM(e_frees, F_FREES)
PFAM(e_alloc_bytes, F_ALLOC_BYTES)
PFAM(e_freed_bytes, F_FREED_BYTES)
PFAM(e_failed, F_FAILED)
PFAM(e_peak_rss, F_PEAK_RSS)
PFAM(e_rss, F_RSS)
PFAM(e_rx, F_RX)
PFAM(e_tx, F_TX)
PFAM(e_requests, F_REQUESTS)
PFAM(e_errors, F_ERRORS)
PFAM(e_dropped, F_DROPPED)

static void e_cpu(struct w *w, const struct family *fam)
{
    char b[48];
    for (size_t i = 0; i < w->m->nprocs; i++) {
        const struct chim_metrics_proc *p = &w->m->procs[i];
        if (!p->have_series)
            continue;
        const char *user[] = {"mode", "user", NULL}, *sys[] = {"mode", "system", NULL};
        sample(w, fam->name, "", p, user, secs(p->cpu_user_us, b, sizeof b));
        sample(w, fam->name, "", p, sys, secs(p->cpu_sys_us, b, sizeof b));
    }
}

static void e_conns(struct w *w, const struct family *fam)
{
    char b[48];
    for (size_t i = 0; i < w->m->nprocs; i++) {
        const struct chim_metrics_proc *p = &w->m->procs[i];
        if (!p->have_net)
            continue;
        const char *in[] = {"direction", "inbound", NULL}, *out[] = {"direction", "outbound", NULL};
        sample(w, fam->name, "", p, in, u64s(p->net.accepted, b, sizeof b));
        sample(w, fam->name, "", p, out, u64s(p->net.connected, b, sizeof b));
    }
}

/* ---- histograms ----------------------------------------------------------- */

/* _bucket{..., le}, _sum, _count of one series; kv has room for le. */
static void hist(struct w *w, const char *name, const struct chim_metrics_proc *p, const char **kv,
                 size_t nkv, const struct chim_metrics_hist *h)
{
    char le[32], b[48];
    kv[nkv] = "le";
    kv[nkv + 2] = NULL;
    for (size_t i = 0; i <= CHIM_METRICS_NBOUNDS; i++) {
        kv[nkv + 1] = chim_metrics_le(i, le, sizeof le);
        sample(w, name, "_bucket", p, kv, u64s(h->cum[i], b, sizeof b));
    }
    kv[nkv] = NULL;
    sample(w, name, "_sum", p, kv, secs(h->sum_us, b, sizeof b));
    sample(w, name, "_count", p, kv, u64s(h->cum[CHIM_METRICS_NBOUNDS], b, sizeof b));
}

static void e_server_hist(struct w *w, const struct family *fam)
{
    for (size_t i = 0; i < w->m->nprocs; i++) {
        const struct chim_metrics_proc *p = &w->m->procs[i];
        for (size_t k = 0; k < p->nroutes; k++) {
            const struct chim_metrics_route *r = &p->routes[k];
            const char *kv[10] = {"method", r->method,      "route",
                                  r->route, "status_class", r->status_class};
            hist(w, fam->name, p, kv, 6, &r->lat);
        }
    }
}

static void e_peer_hist(struct w *w, const struct family *fam)
{
    for (size_t i = 0; i < w->m->nprocs; i++) {
        const struct chim_metrics_proc *p = &w->m->procs[i];
        for (size_t k = 0; k < p->npeers; k++) {
            const char *kv[8] = {"peer", p->peers[k].peer, "protocol", p->peers[k].protocol};
            hist(w, fam->name, p, kv, 4, &p->peers[k].lat);
        }
    }
}

static void e_peer_errors(struct w *w, const struct family *fam)
{
    char b[48];
    for (size_t i = 0; i < w->m->nprocs; i++) {
        const struct chim_metrics_proc *p = &w->m->procs[i];
        for (size_t k = 0; k < p->npeers; k++) {
            const char *kv[] = {"peer", p->peers[k].peer, "protocol", p->peers[k].protocol, NULL};
            sample(w, fam->name, "", p, kv, u64s(p->peers[k].errors, b, sizeof b));
        }
    }
}

/* ---- cache ---------------------------------------------------------------- */

static void e_cache_wire(struct w *w, const struct family *fam)
{
    char b[48];
    for (size_t i = 0; i < w->m->nprocs; i++) {
        const struct chim_metrics_proc *p = &w->m->procs[i];
        for (size_t k = 0; k < p->npeers; k++) {
            const struct chim_metrics_peer *x = &p->peers[k];
            if (!chim_metrics_peer_lookups(x))
                continue;
            const char *hit[] = {"peer", x->peer, "protocol", x->protocol, "result", "hit", NULL};
            const char *miss[] = {"peer", x->peer, "protocol", x->protocol, "result", "miss", NULL};
            sample(w, fam->name, "", p, hit, u64s(x->hits, b, sizeof b));
            sample(w, fam->name, "", p, miss, u64s(x->misses, b, sizeof b));
        }
    }
}

/* X-Cache figures per (method, route): routes are sorted by route and method,
 * so the status classes of one route are adjacent and summed here. */
static void e_cache_route(struct w *w, const struct family *fam)
{
    char b[48];
    for (size_t i = 0; i < w->m->nprocs; i++) {
        const struct chim_metrics_proc *p = &w->m->procs[i];
        for (size_t k = 0; k < p->nroutes;) {
            const struct chim_metrics_route *r = &p->routes[k];
            uint64_t hits = 0, misses = 0;
            size_t j = k;
            for (; j < p->nroutes && !strcmp(p->routes[j].route, r->route) &&
                   !strcmp(p->routes[j].method, r->method);
                 j++)
                hits += p->routes[j].hits, misses += p->routes[j].misses;
            if (hits || misses) {
                const char *hit[] = {"method", r->method, "route", r->route, "result", "hit", NULL};
                const char *miss[] = {"method", r->method, "route", r->route,
                                      "result", "miss",    NULL};
                sample(w, fam->name, "", p, hit, u64s(hits, b, sizeof b));
                sample(w, fam->name, "", p, miss, u64s(misses, b, sizeof b));
            }
            k = j;
        }
    }
}

/* ---- leaks and the exporter itself ---------------------------------------- */

static const struct chim_metrics_proc *proc_of(const struct chim_metrics *m, uint32_t pid)
{
    for (size_t i = m->nprocs; i-- > 0;)
        if (m->procs[i].pid == pid)
            return &m->procs[i];
    return NULL;
}

static void leak_sites(struct w *w, const struct family *fam, int growth)
{
    char b[48];
    for (size_t i = 0; i < w->m->nsites; i++) {
        const struct chim_metrics_site *z = &w->m->sites[i];
        const struct chim_metrics_proc *p = proc_of(w->m, z->pid);
        const char *kv[] = {"site", z->site, NULL};
        if (p)
            sample(w, fam->name, "", p, kv,
                   dbl(growth ? z->growth_bytes_per_s : z->live_bytes, b, sizeof b));
    }
}

static void e_leak_live(struct w *w, const struct family *fam)
{
    leak_sites(w, fam, 0);
}

static void e_leak_growth(struct w *w, const struct family *fam)
{
    leak_sites(w, fam, 1);
}

static void e_segments(struct w *w, const struct family *fam)
{
    char b[48];
    size_t running = 0;
    for (size_t i = 0; i < w->m->nprocs; i++)
        running += w->m->procs[i].running;
    const char *kv[][3] = {{"state", "running", NULL},
                           {"state", "grace", NULL},
                           {"state", "expired", NULL},
                           {"state", "invalid", NULL}};
    size_t v[] = {running, w->m->nprocs - running, w->m->expired, w->m->skipped};
    for (int i = 0; i < 4; i++)
        sample(w, fam->name, "", NULL, kv[i], u64s(v[i], b, sizeof b));
}

static const struct family families[] = {
    {"chim_process_running", "gauge", NULL,
     "1 while the process runs, 0 during the grace period after it ended.", e_running},
    {"chim_process_start_time_seconds", "gauge", "seconds",
     "Start time of the process (agent start), seconds since the epoch.", e_start},
    {"chim_heap_live_bytes", "gauge", "bytes",
     "Heap bytes allocated and not yet freed (allocator usable sizes).", e_live},
    {"chim_heap_peak_live_bytes", "gauge", "bytes", "Highest live heap bytes seen.", e_peak_live},
    {"chim_heap_allocations_total", "counter", NULL, "Heap allocations (malloc family calls).",
     e_allocs},
    {"chim_heap_frees_total", "counter", NULL, "Heap blocks freed.", e_frees},
    {"chim_heap_allocated_bytes_total", "counter", "bytes",
     "Bytes handed out by the allocator (usable sizes).", e_alloc_bytes},
    {"chim_heap_freed_bytes_total", "counter", "bytes", "Bytes freed (usable sizes).",
     e_freed_bytes},
    {"chim_heap_failed_allocations_total", "counter", NULL, "Allocation calls that failed.",
     e_failed},
    {"chim_process_peak_rss_bytes", "gauge", "bytes", "Peak resident set size (high-water mark).",
     e_peak_rss},
    {"chim_process_resident_memory_bytes", "gauge", "bytes",
     "Resident set size at the newest time-series point.", e_rss},
    {"chim_process_cpu_seconds_total", "counter", "seconds",
     "CPU time of the process by mode (user, system).", e_cpu},
    {"chim_network_receive_bytes_total", "counter", "bytes", "Bytes read from tracked TCP sockets.",
     e_rx},
    {"chim_network_transmit_bytes_total", "counter", "bytes",
     "Bytes written to tracked TCP sockets.", e_tx},
    {"chim_network_connections_total", "counter", NULL,
     "TCP connections opened, by direction (inbound accepted, outbound connected).", e_conns},
    {"chim_http_server_requests_total", "counter", NULL, "Inbound HTTP requests completed.",
     e_requests},
    {"chim_http_server_errors_total", "counter", NULL,
     "Inbound HTTP requests answered with a 5xx status.", e_errors},
    {"chim_http_server_request_duration_seconds", "histogram", "seconds",
     "Inbound HTTP request duration, first request byte to last response byte.", e_server_hist},
    {"chim_http_server_cache_requests_total", "counter", NULL,
     "Inbound responses with an X-Cache header, by result (hit, miss).", e_cache_route},
    {"chim_upstream_request_duration_seconds", "histogram", "seconds",
     "Outbound call duration per peer and protocol, first request byte to last reply byte.",
     e_peer_hist},
    {"chim_upstream_errors_total", "counter", NULL,
     "Outbound calls answered with an error (5xx, error reply).", e_peer_errors},
    {"chim_cache_requests_total", "counter", NULL,
     "Cache lookups seen on the wire (Redis GET/MGET, memcached get), by result.", e_cache_wire},
    {"chim_leak_site_live_bytes", "gauge", "bytes",
     "Live heap bytes of the top leak-candidate allocation sites.", e_leak_live},
    {"chim_leak_site_growth_bytes_per_second", "gauge", NULL,
     "Growth of live bytes of the top leak-candidate allocation sites.", e_leak_growth},
    {"chim_agent_dropped_events_total", "counter", NULL,
     "Events the agent could not record (full tables, no thread slot).", e_dropped},
    {"chim_exporter_segments", "gauge", NULL,
     "Segments in the directory by state (running, grace, expired, invalid).", e_segments},
};

/* The family name: OpenMetrics names a counter without its _total. */
static void family_name(const struct w *w, const struct family *fam, char *buf, size_t n)
{
    size_t len = strlen(fam->name);
    if (w->om && !strcmp(fam->type, "counter") && len > 6 && !strcmp(fam->name + len - 6, "_total"))
        len -= 6;
    snprintf(buf, n, "%.*s", (int)len, fam->name);
}

static int write_text(const struct chim_metrics *m, int om, FILE *f)
{
    struct w w = {f, om, m};
    char name[96];
    for (size_t i = 0; i < sizeof families / sizeof *families; i++) {
        const struct family *fam = &families[i];
        family_name(&w, fam, name, sizeof name);
        fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, fam->help, name, fam->type);
        if (om && fam->unit)
            fprintf(f, "# UNIT %s %s\n", name, fam->unit);
        fam->emit(&w, fam);
    }
    if (om)
        fputs("# EOF\n", f);
    return ferror(f) ? -EIO : 0;
}

/* ---- formats -------------------------------------------------------------- */

const char *chim_metrics_content_type(enum chim_metrics_format f)
{
    switch (f) {
    case CHIM_METRICS_OPENMETRICS:
        return "application/openmetrics-text; version=1.0.0; charset=utf-8";
    case CHIM_METRICS_OTLP_JSON:
        return "application/json";
    default:
        return "text/plain; version=0.0.4; charset=utf-8";
    }
}

int chim__metrics_write_otlp(const struct chim_metrics *m, FILE *out);

int chim_metrics_write(const struct chim_metrics *m, enum chim_metrics_format f, FILE *out)
{
    if (f == CHIM_METRICS_OTLP_JSON)
        return chim__metrics_write_otlp(m, out);
    return write_text(m, f == CHIM_METRICS_OPENMETRICS, out);
}

/* q of one media range "type/sub;a=b;q=0.5" (1 when absent). */
static double range_q(const char *r, size_t n)
{
    for (size_t i = 0; i + 2 < n; i++)
        if (r[i] == ';') {
            size_t j = i + 1;
            while (j < n && r[j] == ' ')
                j++;
            if (j + 1 < n && (r[j] == 'q' || r[j] == 'Q') && r[j + 1] == '=')
                return strtod(r + j + 2, NULL);
        }
    return 1.0;
}

enum chim_metrics_format chim_metrics_negotiate(const char *accept)
{
    double q_om = -1, q_text = -1;
    while (accept && *accept) {
        while (*accept == ' ' || *accept == ',')
            accept++;
        size_t n = strcspn(accept, ",");
        double q = range_q(accept, n);
        if (n >= 28 && !strncasecmp(accept, "application/openmetrics-text", 28))
            q_om = q > q_om ? q : q_om;
        else if ((n >= 10 && !strncasecmp(accept, "text/plain", 10)) ||
                 (n >= 3 && !strncmp(accept, "*/*", 3)))
            q_text = q > q_text ? q : q_text;
        accept += n;
    }
    return q_om > 0 && q_om >= q_text ? CHIM_METRICS_OPENMETRICS : CHIM_METRICS_PROMETHEUS;
}
