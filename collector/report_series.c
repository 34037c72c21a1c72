/*
 * report_series.c - the per-second time series and resource totals of the
 * report, from the segments' series rings (cumulative values per second).
 * Each process contributes the deltas between its consecutive points; gauges
 * (live heap, RSS) carry forward, so seconds without a point still add the
 * process's last value.
 */
#include <stdlib.h>
#include <string.h>

#include "chim/shm_net.h"
#include "report.h"

#define SERIES_MAX_SPAN (7u * 86400u) /* seconds */

struct pts {
    struct chim_series_point *v;
    size_t n;
};

static int by_time(const void *a, const void *b)
{
    const struct chim_series_point *x = a, *y = b;
    return x->t_sec < y->t_sec ? -1 : x->t_sec > y->t_sec;
}

/* A process writes a second's point when its next second begins: an idle
 * server has not written its last one, nor has one killed by a signal (an
 * exit writes it). Its request and byte counters are current, so they make
 * a last point, in the second of its last tick (every socket event ticks);
 * gauges and CPU carried from the last real point, or unknown (0) when it
 * wrote none. */
static void add_tail(const struct chim_seg *s, struct pts *p)
{
    const struct chim_section *sec = chim_seg_section(s->hdr, CHIM_SEC_NET);
    if (!sec || sec->count < 1 || sec->elem_size != sizeof(struct chim_net_stats))
        return;
    struct chim_net_stats st;
    memcpy(&st, s->data + sec->offset, sizeof st);
    struct chim_series_point q = {0};
    if (p->n)
        q = p->v[p->n - 1];
    if (st.requests <= q.requests && st.bytes_in <= q.bytes_in && st.bytes_out <= q.bytes_out)
        return;
    /* Older agents leave last_tick_sec 0: the last inbound request's second,
     * or the one after the last point. */
    uint64_t last = st.last_tick_sec ? st.last_tick_sec : st.last_ns / 1000000000u;
    if (!last && !q.t_sec)
        return;
    q.t_sec = last > q.t_sec ? last : q.t_sec + 1;
    if (!q.sampled_sec || q.sampled_sec < q.t_sec)
        q.sampled_sec = q.t_sec;
    q.requests = st.requests > q.requests ? st.requests : q.requests;
    q.errors = st.errors > q.errors ? st.errors : q.errors;
    q.bytes_in = st.bytes_in > q.bytes_in ? st.bytes_in : q.bytes_in;
    q.bytes_out = st.bytes_out > q.bytes_out ? st.bytes_out : q.bytes_out;
    p->v[p->n++] = q;
}

/* Valid points of one segment, sorted by time. */
static struct pts points_of(const struct chim_seg *s)
{
    struct pts p = {0};
    const struct chim_section *sec = chim_seg_section(s->hdr, CHIM_SEC_SERIES);
    if (!sec || sec->elem_size != sizeof(struct chim_series_point) || sec->count > (1u << 20))
        return p;
    p.v = calloc(sec->count + 1, sizeof *p.v); /* + 1: add_tail */
    for (uint64_t i = 0; p.v && i < sec->count; i++) {
        struct chim_series_point q;
        memcpy(&q, s->data + sec->offset + i * sizeof q, sizeof q);
        if (q.t_sec)
            p.v[p.n++] = q;
    }
    if (p.n)
        qsort(p.v, p.n, sizeof *p.v, by_time);
    if (p.v)
        add_tail(s, &p);
    return p;
}

struct row {
    uint64_t t, requests, errors, bytes_in, bytes_out, cpu_user_us, cpu_sys_us;
    int64_t live;
    uint64_t rss;
};

static struct row *row_at(struct row *rows, size_t span, uint64_t t0, uint64_t t)
{
    return t >= t0 && t - t0 < span ? &rows[t - t0] : NULL;
}

/* The second a point's live, RSS and CPU were read in (older agents: its
 * label). */
static uint64_t sampled(const struct chim_series_point *q)
{
    return q->sampled_sec > q->t_sec && q->sampled_sec - q->t_sec < 86400 ? q->sampled_sec
                                                                          : q->t_sec;
}

/* Adds one process's deltas and carried gauges into rows[t - t0]: counts
 * in the second they happened in (the label), CPU and gauges in the second
 * they were read in. */
static void add_process(struct row *rows, size_t span, uint64_t t0, const struct pts *p)
{
    struct chim_series_point prev = {0};
    for (size_t i = 0; i < p->n; i++) {
        const struct chim_series_point *q = &p->v[i];
        struct row *r = row_at(rows, span, t0, q->t_sec);
        if (r) {
            r->requests += q->requests - prev.requests;
            r->errors += q->errors - prev.errors;
            r->bytes_in += q->bytes_in - prev.bytes_in;
            r->bytes_out += q->bytes_out - prev.bytes_out;
        }
        struct row *c = row_at(rows, span, t0, sampled(q));
        if (c && q->cpu_user_us >= prev.cpu_user_us && q->cpu_sys_us >= prev.cpu_sys_us) {
            c->cpu_user_us += q->cpu_user_us - prev.cpu_user_us;
            c->cpu_sys_us += q->cpu_sys_us - prev.cpu_sys_us;
        }
        /* Carried to the next point, within the rows (untrusted times may be
         * years apart). */
        uint64_t from = sampled(q) > t0 ? sampled(q) : t0;
        uint64_t until = i + 1 < p->n ? sampled(&p->v[i + 1]) : sampled(q) + 1;
        if (until > t0 + span)
            until = t0 + span;
        for (uint64_t t = from; t < until; t++) {
            struct row *g = row_at(rows, span, t0, t);
            if (g) {
                g->live += q->live_bytes;
                g->rss += q->rss_bytes;
            }
        }
        prev = *q;
    }
}

static cJSON *row_json(const struct row *r, uint64_t t0)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "t", (double)(r->t - t0));
    cJSON_AddNumberToObject(o, "time", (double)r->t);
    cJSON_AddNumberToObject(o, "requests", (double)r->requests);
    cJSON_AddNumberToObject(o, "errors", (double)r->errors);
    cJSON_AddNumberToObject(o, "live_bytes", (double)r->live);
    cJSON_AddNumberToObject(o, "rss_bytes", (double)r->rss);
    cJSON_AddNumberToObject(o, "cpu_user_s", (double)r->cpu_user_us / 1e6);
    cJSON_AddNumberToObject(o, "cpu_system_s", (double)r->cpu_sys_us / 1e6);
    cJSON_AddNumberToObject(o, "bytes_in", (double)r->bytes_in);
    cJSON_AddNumberToObject(o, "bytes_out", (double)r->bytes_out);
    return o;
}

/* CPU time per process: its last point (the agent writes one a second
 * while sockets are busy, and at exit), or for a running process what
 * /proc says now, when more (an idle server writes no point). */
static void add_resources(cJSON *o, const struct chim_seg *const *segs, const struct pts *all,
                          size_t n)
{
    uint64_t user = 0, sys = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t u = all[i].n ? all[i].v[all[i].n - 1].cpu_user_us : 0;
        uint64_t s = all[i].n ? all[i].v[all[i].n - 1].cpu_sys_us : 0, pu, ps;
        if (segs[i]->state == CHIM_SEG_RUNNING &&
            chim_seg_proc_cpu(segs[i]->hdr->pid, &pu, &ps) == 0 && pu + ps > u + s)
            u = pu, s = ps;
        user += u;
        sys += s;
    }
    cJSON *r = cJSON_AddObjectToObject(o, "resources");
    cJSON_AddNumberToObject(r, "cpu_seconds", (double)(user + sys) / 1e6);
    cJSON_AddNumberToObject(r, "cpu_user_s", (double)user / 1e6);
    cJSON_AddNumberToObject(r, "cpu_system_s", (double)sys / 1e6);
}

void chim__report_series(cJSON *o, const struct chim_seg *const *segs, size_t n)
{
    struct pts *all = calloc(n ? n : 1, sizeof *all);
    uint64_t t0 = UINT64_MAX, t1 = 0;
    for (size_t i = 0; all && i < n; i++) {
        all[i] = points_of(segs[i]);
        for (size_t k = 0; k < all[i].n; k++) {
            const struct chim_series_point *q = &all[i].v[k];
            t0 = q->t_sec < t0 ? q->t_sec : t0;
            t1 = sampled(q) > t1 ? sampled(q) : t1;
        }
    }
    if (t1 >= t0 && t1 - t0 >= SERIES_MAX_SPAN) /* untrusted times: a bounded series */
        t0 = t1 - (SERIES_MAX_SPAN - 1);
    cJSON *arr = cJSON_AddArrayToObject(o, "timeseries");
    size_t span = t1 >= t0 ? (size_t)(t1 - t0 + 1) : 0;
    struct row *rows = span ? calloc(span, sizeof *rows) : NULL;
    for (size_t i = 0; rows && i < n; i++)
        add_process(rows, span, t0, &all[i]);
    for (size_t t = 0; rows && t < span; t++) {
        rows[t].t = t0 + t;
        cJSON_AddItemToArray(arr, row_json(&rows[t], t0));
    }
    if (all)
        add_resources(o, segs, all, n);
    for (size_t i = 0; all && i < n; i++)
        free(all[i].v);
    free(all);
    free(rows);
}
