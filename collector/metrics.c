/*
 * metrics.c - builds the exporter model (metrics.h) from a set of segments:
 * one entry per process that runs or ended within the grace period, its
 * routes and peers merged per series key, latency folded into the classic
 * bucket set, and the top leak sites when leak sections exist. The writers
 * live in metrics_text.c (Prometheus, OpenMetrics) and metrics_otlp.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "leaks.h"
#include "metrics.h"

/* 0.1, 0.25 and 0.5 ms, then 1 ms doubling to 65.536 s: every bound has at
 * most 8 significant bits, so it is the lowest value of one of our buckets
 * (values below 256 us have a bucket each; above, [2^k, 2^(k+1)) splits into
 * 128 buckets of 2^(k-7) us, and 1000 x 2^m = 250 x 2^(m+2)). */
const uint64_t chim_metrics_bounds_us[CHIM_METRICS_NBOUNDS] = {
    100,    250,    500,    1000,    2000,    4000,    8000,    16000,    32000,    64000,
    128000, 256000, 512000, 1024000, 2048000, 4096000, 8192000, 16384000, 32768000, 65536000,
};

void chim_metrics_opts_init(struct chim_metrics_opts *o)
{
    memset(o, 0, sizeof *o);
    o->grace_s = CHIM_METRICS_GRACE_S;
    o->leak_top = CHIM_METRICS_LEAK_TOP;
}

/* ---- histograms ----------------------------------------------------------- */

void chim_metrics_fold(struct chim_metrics_hist *out, const struct chim_hist *h)
{
    uint64_t cum = 0;
    size_t b = 0;
    for (uint32_t i = 0; i < CHIM_HIST_BUCKETS; i++) {
        /* Bucket i holds [lowest(i), lowest(i) + width(i)): it is below
         * bound b exactly when lowest(i) < bound, as bounds are edges. */
        while (b < CHIM_METRICS_NBOUNDS && chim_hist_lowest(i) >= chim_metrics_bounds_us[b])
            out->cum[b++] += cum;
        cum += h->counts[i];
    }
    while (b <= CHIM_METRICS_NBOUNDS)
        out->cum[b++] += cum;
    out->sum_us += h->sum;
    if (h->max > out->max_us)
        out->max_us = h->max;
    if (out->full)
        chim_hist_merge(out->full, h);
}

/* ---- strings -------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (n bytes available), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t len = s[0] >= 0xf0 && s[0] <= 0xf4   ? 4
                 : s[0] >= 0xe0                 ? 3
                 : s[0] >= 0xc2 && s[0] <= 0xdf ? 2
                                                : 0;
    if (!len || len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if (len == 3 && ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0)))
        return 0; /* overlong, or a surrogate */
    if (len == 4 && ((s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90)))
        return 0; /* overlong, or above U+10FFFF */
    return len;
}

void chim_metrics_sanitize(char *dst, size_t dstlen, const char *src, size_t n)
{
    const unsigned char *s = (const unsigned char *)src;
    size_t o = 0, i = 0, srclen = strnlen(src, n);
    if (!dstlen)
        return;
    while (i < srclen && o + 1 < dstlen) {
        size_t len = s[i] < 0x80 ? 1 : utf8_len(s + i, srclen - i);
        if (len <= 1 || o + len >= dstlen) {
            dst[o++] = (s[i] < 0x20 || s[i] >= 0x7f) ? '?' : (char)s[i];
            i++;
            continue;
        }
        memcpy(dst + o, s + i, len);
        o += len;
        i += len;
    }
    dst[o] = 0;
}

void chim_metrics_escape(FILE *out, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\')
            fputs("\\\\", out);
        else if (*v == '"')
            fputs("\\\"", out);
        else if (*v == '\n')
            fputs("\\n", out);
        else
            fputc(*v, out);
    }
}

const char *chim_metrics_le(size_t i, char *buf, size_t n)
{
    if (i >= CHIM_METRICS_NBOUNDS) {
        snprintf(buf, n, "+Inf");
        return buf;
    }
    uint64_t us = chim_metrics_bounds_us[i];
    int len = snprintf(buf, n, "%llu.%06llu", (unsigned long long)(us / 1000000),
                       (unsigned long long)(us % 1000000));
    while (len > 2 && buf[len - 1] == '0' && buf[len - 2] != '.')
        buf[--len] = 0; /* "0.000100" -> "0.0001", "65.536000" -> "65.536" */
    return buf;
}

/* ---- processes ------------------------------------------------------------ */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static const void *section(const struct chim_seg *s, uint32_t kind, size_t elem, uint64_t *count)
{
    const struct chim_section *sec = chim_seg_section(s->hdr, kind);
    if (!sec || sec->elem_size != elem || sec->count == 0)
        return NULL;
    *count = sec->count;
    return s->data + sec->offset; /* bounds checked by chim_seg_validate */
}

static const char *status_class(uint16_t c)
{
    static const char *names[] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};
    return c < 6 ? names[c] : names[0];
}

static const char *proto_name(uint8_t p)
{
    static const char *n[] = {"tcp", "http", "redis", "memcached"};
    return p < 4 ? n[p] : "tcp";
}

static int new_hist(struct chim_metrics_hist *h, int full)
{
    if (full && !(h->full = calloc(1, sizeof *h->full)))
        return -ENOMEM;
    return 0;
}

static struct chim_metrics_route *route_slot(struct chim_metrics_proc *p, size_t *cap,
                                             const struct chim_net_entry *e, int full)
{
    char method[CHIM_METHOD_MAX], route[CHIM_ROUTE_MAX];
    chim_metrics_sanitize(method, sizeof method, e->method, sizeof e->method);
    chim_metrics_sanitize(route, sizeof route, e->name, sizeof e->name);
    const char *cls = status_class(e->status_class);
    for (size_t i = 0; i < p->nroutes; i++) {
        struct chim_metrics_route *r = &p->routes[i];
        if (!strcmp(r->route, route) && !strcmp(r->method, method) && !strcmp(r->status_class, cls))
            return r;
    }
    if (p->nroutes == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        struct chim_metrics_route *v = realloc(p->routes, ncap * sizeof *v);
        if (!v)
            return NULL;
        p->routes = v;
        *cap = ncap;
    }
    struct chim_metrics_route *r = memset(&p->routes[p->nroutes], 0, sizeof *r);
    if (new_hist(&r->lat, full))
        return NULL;
    p->nroutes++;
    memcpy(r->method, method, sizeof method);
    memcpy(r->route, route, sizeof route);
    snprintf(r->status_class, sizeof r->status_class, "%s", cls);
    return r;
}

static struct chim_metrics_peer *peer_slot(struct chim_metrics_proc *p, size_t *cap,
                                           const struct chim_net_entry *e, int full)
{
    char peer[CHIM_ROUTE_MAX];
    chim_metrics_sanitize(peer, sizeof peer, e->name, sizeof e->name);
    const char *proto = proto_name(e->proto);
    for (size_t i = 0; i < p->npeers; i++)
        if (p->peers[i].protocol == proto && !strcmp(p->peers[i].peer, peer))
            return &p->peers[i];
    if (p->npeers == *cap) {
        size_t ncap = *cap ? *cap * 2 : 8;
        struct chim_metrics_peer *v = realloc(p->peers, ncap * sizeof *v);
        if (!v)
            return NULL;
        p->peers = v;
        *cap = ncap;
    }
    struct chim_metrics_peer *x = memset(&p->peers[p->npeers], 0, sizeof *x);
    if (new_hist(&x->lat, full))
        return NULL;
    p->npeers++;
    memcpy(x->peer, peer, sizeof peer);
    x->protocol = proto;
    return x;
}

/* Adds the counters of one entry to a series (routes and peers alike). */
#define ADD_ENTRY(x, e)                                                                            \
    do {                                                                                           \
        (x)->count += (e)->count;                                                                  \
        (x)->errors += (e)->errors;                                                                \
        (x)->hits += (e)->hits;                                                                    \
        (x)->misses += (e)->misses;                                                                \
        chim_metrics_fold(&(x)->lat, &(e)->latency);                                               \
    } while (0)

static int add_entries(struct chim_metrics_proc *p, const struct chim_seg *s, int full)
{
    uint64_t n = 0;
    size_t rcap = 0, pcap = 0;
    const struct chim_net_entry *v = section(s, CHIM_SEC_ROUTES, sizeof(struct chim_net_entry), &n);
    for (uint64_t i = 0; v && i < n; i++) {
        if (v[i].state != CHIM_ENTRY_READY || v[i].count == 0)
            continue;
        struct chim_metrics_route *r = route_slot(p, &rcap, &v[i], full);
        if (!r)
            return -ENOMEM;
        ADD_ENTRY(r, &v[i]);
    }
    v = section(s, CHIM_SEC_PEERS, sizeof(struct chim_net_entry), &n);
    for (uint64_t i = 0; v && i < n; i++) {
        if (v[i].state != CHIM_ENTRY_READY || v[i].count == 0)
            continue;
        struct chim_metrics_peer *x = peer_slot(p, &pcap, &v[i], full);
        if (!x)
            return -ENOMEM;
        ADD_ENTRY(x, &v[i]);
    }
    return 0;
}

static void add_series(struct chim_metrics_proc *p, const struct chim_seg *s)
{
    uint64_t n = 0;
    const struct chim_series_point *v =
        section(s, CHIM_SEC_SERIES, sizeof(struct chim_series_point), &n);
    const struct chim_series_point *last = NULL;
    for (uint64_t i = 0; v && i < n; i++)
        if (v[i].t_sec && (!last || v[i].t_sec > last->t_sec))
            last = &v[i];
    if (!last)
        return;
    p->have_series = 1;
    p->last_t_sec = last->t_sec;
    p->cpu_user_us = last->cpu_user_us;
    p->cpu_sys_us = last->cpu_sys_us;
    p->rss_bytes = last->rss_bytes;
}

static int cmp_route(const void *a, const void *b)
{
    const struct chim_metrics_route *x = a, *y = b;
    int c = strcmp(x->route, y->route);
    if (!c)
        c = strcmp(x->method, y->method);
    return c ? c : strcmp(x->status_class, y->status_class);
}

static int cmp_peer(const void *a, const void *b)
{
    const struct chim_metrics_peer *x = a, *y = b;
    int c = strcmp(x->peer, y->peer);
    return c ? c : strcmp(x->protocol, y->protocol);
}

/* Fills p from segment s. 0, or -ENOMEM. */
static int build_proc(struct chim_metrics_proc *p, const struct chim_seg *s, int full)
{
    const struct chim_shm_header *h = s->hdr;
    const char *base = strrchr(h->exe, '/');
    p->pid = h->pid;
    snprintf(p->pid_s, sizeof p->pid_s, "%u", h->pid);
    chim_metrics_sanitize(p->exe, sizeof p->exe, base ? base + 1 : h->exe, CHIM_EXE_MAX);
    if (!p->exe[0])
        snprintf(p->exe, sizeof p->exe, "unknown");
    p->state = s->state;
    p->running = s->state == CHIM_SEG_RUNNING;
    p->start_time_ns = h->start_time_ns;
    p->mem = s->mem;
    p->dropped = h->dropped + h->slot_overflow;
    uint64_t n = 0;
    const struct chim_net_stats *st = section(s, CHIM_SEC_NET, sizeof(struct chim_net_stats), &n);
    if (st) {
        p->have_net = 1;
        memcpy(&p->net, st, sizeof p->net);
    }
    add_series(p, s);
    int rc = add_entries(p, s, full);
    if (p->nroutes)
        qsort(p->routes, p->nroutes, sizeof *p->routes, cmp_route);
    if (p->npeers)
        qsort(p->peers, p->npeers, sizeof *p->peers, cmp_peer);
    return rc;
}

/* When the process of a segment was gone; 0 while it runs. */
static uint64_t gone_at(const struct chim_seg *s, const struct chim_metrics_opts *o)
{
    if (s->state == CHIM_SEG_RUNNING)
        return 0;
    const struct chim_shm_header *h = s->hdr;
    uint64_t t = h->end_time_ns ? h->end_time_ns : h->update_time_ns;
    uint64_t n = 0;
    const struct chim_series_point *v =
        section(s, CHIM_SEC_SERIES, sizeof(struct chim_series_point), &n);
    for (uint64_t i = 0; !h->end_time_ns && v && i < n; i++)
        if (v[i].t_sec < UINT64_MAX / 1000000000ull && v[i].t_sec * 1000000000ull > t)
            t = v[i].t_sec * 1000000000ull;
    if (o->gone_since) {
        uint64_t seen = o->gone_since(o->gone_ctx, s);
        if (seen > t)
            t = seen;
    }
    return t ? t : 1;
}

/* The basename of a segment's executable, as the exe label will read. */
static void exe_label(const struct chim_seg *s, char *buf, size_t n)
{
    const char *base = strrchr(s->hdr->exe, '/');
    chim_metrics_sanitize(buf, n, base ? base + 1 : s->hdr->exe, CHIM_EXE_MAX);
}

/* A later segment of the set has the same (pid, exe) labels: this one
 * would duplicate its series, so the newest image wins. */
static int shadowed(const struct chim_seg_set *set, size_t i)
{
    char a[CHIM_EXE_MAX], b[CHIM_EXE_MAX];
    exe_label(&set->segs[i], a, sizeof a);
    for (size_t j = i + 1; j < set->n && set->segs[j].hdr->pid == set->segs[i].hdr->pid; j++) {
        exe_label(&set->segs[j], b, sizeof b);
        if (!strcmp(a, b))
            return 1;
    }
    return 0;
}

static int keep_seg(const struct chim_seg_set *set, size_t i, const struct chim_metrics_opts *o,
                    uint64_t now, double grace, uint64_t *gone)
{
    const struct chim_seg *s = &set->segs[i];
    if (o->pid > 0 && s->hdr->pid != (uint32_t)o->pid)
        return 0;
    if (shadowed(set, i))
        return 0;
    *gone = gone_at(s, o);
    return !*gone || *gone >= now || (double)(now - *gone) / 1e9 <= grace;
}

/* ---- leak sites ------------------------------------------------------------ */

static int cmp_site(const void *a, const void *b)
{
    const struct chim_metrics_site *x = a, *y = b;
    if (x->live_bytes != y->live_bytes)
        return x->live_bytes > y->live_bytes ? -1 : 1;
    if (x->pid != y->pid)
        return x->pid < y->pid ? -1 : 1;
    return strcmp(x->site, y->site);
}

static int has_proc(const struct chim_metrics *m, uint32_t pid)
{
    for (size_t i = 0; i < m->nprocs; i++)
        if (m->procs[i].pid == pid)
            return 1;
    return 0;
}

/* Adds a site from the leak model's JSON, merging equal (pid, site) keys. */
static void add_site(struct chim_metrics *m, size_t cap, const cJSON *z)
{
    const cJSON *fn = cJSON_GetObjectItem(z, "function"), *file = cJSON_GetObjectItem(z, "file");
    double pid = cJSON_GetNumberValue(cJSON_GetObjectItem(z, "pid"));
    int line = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(z, "line"));
    char raw[512], site[160];
    const char *f = cJSON_IsString(fn) && fn->valuestring[0] ? fn->valuestring : "??";
    if (cJSON_IsString(file) && file->valuestring[0] && line > 0) {
        const char *slash = strrchr(file->valuestring, '/'); /* basename: shorter labels */
        snprintf(raw, sizeof raw, "%s (%s:%d)", f, slash ? slash + 1 : file->valuestring, line);
    } else
        snprintf(raw, sizeof raw, "%s", f);
    chim_metrics_sanitize(site, sizeof site, raw, sizeof raw);
    if (!(pid > 0) || !has_proc(m, (uint32_t)pid))
        return;
    double live = cJSON_GetNumberValue(cJSON_GetObjectItem(z, "live_bytes"));
    double growth = cJSON_GetNumberValue(cJSON_GetObjectItem(z, "growth_bytes_per_s"));
    for (size_t i = 0; i < m->nsites; i++)
        if (m->sites[i].pid == (uint32_t)pid && !strcmp(m->sites[i].site, site)) {
            m->sites[i].live_bytes += live == live ? live : 0;
            m->sites[i].growth_bytes_per_s += growth == growth ? growth : 0;
            return;
        }
    if (m->nsites == cap)
        return;
    struct chim_metrics_site *x = &m->sites[m->nsites++];
    x->pid = (uint32_t)pid;
    memcpy(x->site, site, sizeof site);
    x->live_bytes = live == live ? live : 0; /* NaN-safe */
    x->growth_bytes_per_s = growth == growth ? growth : 0;
}

/* Top leak sites of the kept processes through the leak model (leaks.h). */
static void add_leaks(struct chim_metrics *m, const struct chim_seg_set *set,
                      const struct chim_metrics_opts *o)
{
    struct chim_leak_opts lo = {0};
    char err[128];
    struct chim_leaks *l = chim_leaks_build(set, NULL, o->pid, &lo, err, sizeof err);
    if (!l)
        return;
    m->leaks_present = chim_leaks_nprocs(l) > 0;
    cJSON *j = m->leaks_present ? chim_leaks_json(l) : NULL;
    chim_leaks_free(l);
    const cJSON *sites = cJSON_GetObjectItem(j, "sites");
    size_t cap = (size_t)cJSON_GetArraySize(sites);
    m->sites = cap ? calloc(cap, sizeof *m->sites) : NULL;
    const cJSON *z;
    cJSON_ArrayForEach(z, sites)
    {
        if (m->sites)
            add_site(m, cap, z);
    }
    cJSON_Delete(j);
    if (m->nsites)
        qsort(m->sites, m->nsites, sizeof *m->sites, cmp_site);
    if (m->nsites > (size_t)o->leak_top)
        m->nsites = (size_t)o->leak_top;
}

/* ---- the model ------------------------------------------------------------ */

static int has_leak_sections(const struct chim_seg_set *set)
{
    for (size_t i = 0; i < set->n; i++)
        if (chim_seg_section(set->segs[i].hdr, CHIM_SEC_SITES))
            return 1;
    return 0;
}

struct chim_metrics *chim_metrics_build(const struct chim_seg_set *set,
                                        const struct chim_metrics_opts *opts)
{
    struct chim_metrics_opts o;
    if (opts)
        o = *opts;
    else
        chim_metrics_opts_init(&o);
    struct chim_metrics *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->now_ns = o.now_ns ? o.now_ns : now_ns();
    m->skipped = set->skipped;
    double grace = o.grace_s < 0 ? CHIM_METRICS_GRACE_S : o.grace_s;
    m->procs = calloc(set->n ? set->n : 1, sizeof *m->procs);
    if (!m->procs)
        goto oom;
    for (size_t i = 0; i < set->n; i++) {
        uint64_t gone = 0;
        if (!keep_seg(set, i, &o, m->now_ns, grace, &gone)) {
            m->expired += o.pid <= 0 || set->segs[i].hdr->pid == (uint32_t)o.pid;
            continue;
        }
        struct chim_metrics_proc *p = &m->procs[m->nprocs++];
        p->gone_ns = gone;
        if (build_proc(p, &set->segs[i], o.full_hist) != 0)
            goto oom;
    }
    if (o.leak_top > 0 && has_leak_sections(set))
        add_leaks(m, set, &o);
    return m;
oom:
    chim_metrics_free(m);
    return NULL;
}

void chim_metrics_free(struct chim_metrics *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nprocs; i++) {
        struct chim_metrics_proc *p = &m->procs[i];
        for (size_t k = 0; k < p->nroutes; k++)
            free(p->routes[k].lat.full);
        for (size_t k = 0; k < p->npeers; k++)
            free(p->peers[k].lat.full);
        free(p->routes);
        free(p->peers);
    }
    free(m->procs);
    free(m->sites);
    free(m);
}
