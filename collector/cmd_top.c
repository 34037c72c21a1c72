/*
 * cmd_top.c - `chimcollect top`: a live view of the segment directory,
 * refreshed every second: processes (throughput, requests, errors, live
 * heap, RSS), routes merged across processes (throughput and P95 over the
 * last interval, P95 since start, errors) and the top leak sites when leak
 * tracking is on. Keys: r p e m sort by throughput, P95, errors, memory;
 * q quits. ncurses draws it (works in tmux and any terminfo terminal); when
 * stdout is not a terminal it prints one snapshot, taken over one second so
 * the rates mean the same, and exits.
 *
 * Data comes from the exporter model (metrics.h) built with the full
 * log-linear histograms, so interval percentiles are exact differences of
 * two snapshots' buckets, not averages of percentiles.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curses.h>

#include "commands.h"
#include "metrics.h"
#include "report.h"

enum sort_key { SORT_RPS, SORT_P95, SORT_ERRORS, SORT_MEM };

/* A route merged across processes and status classes. */
struct troute {
    char method[CHIM_METHOD_MAX], route[CHIM_ROUTE_MAX];
    uint64_t count, errors;
    struct chim_hist *hist; /* cumulative */
    double rps, p95_win_ms, p95_ms;
};

struct tproc {
    uint32_t pid;
    uint64_t start_ns, requests;
    double rps;
};

struct snap {
    struct chim_metrics *m;
    struct troute *routes;
    size_t nroutes;
    struct tproc *procs;
    uint64_t t_ns;
};

struct top {
    const char *dir;
    enum sort_key sort;
    struct snap prev, cur;
    char **lines;
    size_t nlines, cap;
};

/* ---- snapshots ------------------------------------------------------------ */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct troute *route_of(struct snap *s, size_t *cap, const struct chim_metrics_route *r)
{
    for (size_t i = 0; i < s->nroutes; i++)
        if (!strcmp(s->routes[i].route, r->route) && !strcmp(s->routes[i].method, r->method))
            return &s->routes[i];
    if (s->nroutes == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        struct troute *v = realloc(s->routes, ncap * sizeof *v);
        if (!v)
            return NULL;
        s->routes = v;
        *cap = ncap;
    }
    struct troute *x = memset(&s->routes[s->nroutes], 0, sizeof *x);
    if (!(x->hist = calloc(1, sizeof *x->hist)))
        return NULL;
    s->nroutes++;
    snprintf(x->method, sizeof x->method, "%s", r->method);
    snprintf(x->route, sizeof x->route, "%s", r->route);
    return x;
}

static void snap_free(struct snap *s)
{
    for (size_t i = 0; i < s->nroutes; i++)
        free(s->routes[i].hist);
    free(s->routes);
    free(s->procs);
    chim_metrics_free(s->m);
    memset(s, 0, sizeof *s);
}

static int take(struct snap *s, const char *dir)
{
    struct chim_metrics_opts o;
    struct chim_seg_set set;
    size_t long_gone = 0, cap = 0;
    chim_metrics_opts_init(&o);
    o.full_hist = 1;
    o.leak_top = 5;
    memset(s, 0, sizeof *s);
    if (chim_metrics_load_dir(dir, &o, &set, &long_gone, NULL) != 0)
        return -1;
    s->t_ns = now_ns();
    s->m = chim_metrics_build(&set, &o);
    chim_seg_set_free(&set);
    if (!s->m || !(s->procs = calloc(s->m->nprocs + 1, sizeof *s->procs)))
        return -1;
    for (size_t i = 0; i < s->m->nprocs; i++) {
        const struct chim_metrics_proc *p = &s->m->procs[i];
        s->procs[i] = (struct tproc){p->pid, p->start_time_ns, p->net.requests, 0};
        for (size_t k = 0; k < p->nroutes; k++) {
            struct troute *x = route_of(s, &cap, &p->routes[k]);
            if (!x)
                return -1;
            x->count += p->routes[k].count;
            x->errors += p->routes[k].errors;
            chim_hist_merge(x->hist, p->routes[k].lat.full);
        }
    }
    return 0;
}

/* P95 (ms) of the requests between two cumulative histograms. */
static double window_p95(const struct chim_hist *cur, const struct chim_hist *prev)
{
    struct chim_hist *d = calloc(1, sizeof *d);
    if (!d)
        return 0;
    for (uint32_t i = 0; i < CHIM_HIST_BUCKETS; i++)
        d->counts[i] =
            cur->counts[i] - (prev && prev->counts[i] <= cur->counts[i] ? prev->counts[i] : 0);
    double v = (double)chim_hist_percentile(d, 95) / 1000.0;
    free(d);
    return v;
}

/* Rates and percentiles of cur against prev (dt seconds apart). */
static void derive(struct snap *cur, const struct snap *prev)
{
    double dt = prev->m ? (double)(cur->t_ns - prev->t_ns) / 1e9 : 0;
    for (size_t i = 0; i < cur->nroutes; i++) {
        struct troute *x = &cur->routes[i];
        const struct troute *y = NULL;
        for (size_t j = 0; prev->m && j < prev->nroutes && !y; j++)
            if (!strcmp(prev->routes[j].route, x->route) &&
                !strcmp(prev->routes[j].method, x->method))
                y = &prev->routes[j];
        uint64_t before = y ? y->count : 0;
        x->rps = dt > 0 && x->count >= before ? (double)(x->count - before) / dt : 0;
        x->p95_ms = (double)chim_hist_percentile(x->hist, 95) / 1000.0;
        x->p95_win_ms = dt > 0 && x->count > before ? window_p95(x->hist, y ? y->hist : NULL) : 0;
    }
    for (size_t i = 0; cur->m && i < cur->m->nprocs; i++) {
        struct tproc *p = &cur->procs[i];
        for (size_t j = 0; prev->m && j < prev->m->nprocs; j++) {
            const struct tproc *q = &prev->procs[j];
            if (q->pid == p->pid && q->start_ns == p->start_ns && dt > 0 &&
                p->requests >= q->requests)
                p->rps = (double)(p->requests - q->requests) / dt;
        }
    }
}

/* ---- layout --------------------------------------------------------------- */

static void line(struct top *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void line(struct top *t, const char *fmt, ...)
{
    if (t->nlines == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        char **v = realloc(t->lines, cap * sizeof *v);
        if (!v)
            return;
        t->lines = v;
        t->cap = cap;
    }
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&t->lines[t->nlines], fmt, ap) >= 0)
        t->nlines++;
    va_end(ap);
}

static enum sort_key g_sort; /* for the qsort comparators */

static int cmp_route(const void *a, const void *b)
{
    const struct troute *x = a, *y = b;
    double u = g_sort == SORT_P95      ? x->p95_ms - y->p95_ms
               : g_sort == SORT_ERRORS ? (double)x->errors - (double)y->errors
               : g_sort == SORT_RPS    ? x->rps - y->rps
                                       : 0;
    if (u == 0)
        u = (double)x->count - (double)y->count;
    return u > 0 ? -1 : u < 0 ? 1 : strcmp(x->route, y->route);
}

static int cmp_proc(const void *a, const void *b)
{
    const struct chim_metrics_proc *x = a, *y = b;
    double u = 0;
    if (g_sort == SORT_MEM)
        u = (double)x->mem.live_bytes - (double)y->mem.live_bytes;
    else if (g_sort == SORT_ERRORS)
        u = (double)x->net.errors - (double)y->net.errors;
    else
        u = (double)x->net.requests - (double)y->net.requests;
    return u > 0 ? -1 : u < 0 ? 1 : (x->pid > y->pid) - (x->pid < y->pid);
}

static double proc_rps(const struct snap *s, const struct chim_metrics_proc *p)
{
    for (size_t i = 0; i < s->m->nprocs; i++)
        if (s->procs[i].pid == p->pid && s->procs[i].start_ns == p->start_time_ns)
            return s->procs[i].rps;
    return 0;
}

static void layout_procs(struct top *t, struct snap *s)
{
    char heap[32], rss[32];
    struct chim_metrics_proc *v = malloc((s->m->nprocs + 1) * sizeof *v);
    if (!v)
        return;
    memcpy(v, s->m->procs, s->m->nprocs * sizeof *v);
    g_sort = t->sort;
    qsort(v, s->m->nprocs, sizeof *v, cmp_proc);
    line(t, "%7s %-16s %-8s %8s %10s %7s %10s %10s", "PID", "EXE", "STATE", "RPS", "REQUESTS",
         "ERRORS", "HEAP", "RSS");
    for (size_t i = 0; i < s->m->nprocs; i++) {
        const struct chim_metrics_proc *p = &v[i];
        chim_fmt_bytes((double)p->mem.live_bytes, heap, sizeof heap);
        chim_fmt_bytes((double)(p->rss_bytes ? p->rss_bytes : p->mem.peak_rss_bytes), rss,
                       sizeof rss);
        line(t, "%7u %-16.16s %-8s %8.1f %10llu %7llu %10s %10s", p->pid, p->exe,
             chim_seg_state_name(p->state), proc_rps(s, p), (unsigned long long)p->net.requests,
             (unsigned long long)p->net.errors, heap, rss);
    }
    free(v);
}

static void layout(struct top *t, struct snap *s)
{
    char when[16], live[32];
    time_t now = (time_t)(s->t_ns / 1000000000ull);
    strftime(when, sizeof when, "%H:%M:%S", localtime(&now));
    static const char *sorts[] = {"rps", "p95", "errors", "memory"};
    for (size_t i = 0; i < t->nlines; i++)
        free(t->lines[i]);
    t->nlines = 0;
    line(t, "chimcollect top  %s  %s  %zu processes  sort: %s   [r]ps [p]95 [e]rrors [m]em [q]uit",
         when, t->dir, s->m->nprocs, sorts[t->sort]);
    line(t, "%s", "");
    layout_procs(t, s);
    line(t, "%s", "");
    g_sort = t->sort == SORT_MEM ? SORT_RPS : t->sort;
    qsort(s->routes, s->nroutes, sizeof *s->routes, cmp_route);
    line(t, "%-7s %-40s %8s %10s %10s %10s %7s", "METHOD", "ROUTE", "RPS", "P95ms(1s)",
         "P95ms(all)", "COUNT", "ERRORS");
    for (size_t i = 0; i < s->nroutes; i++) {
        const struct troute *x = &s->routes[i];
        line(t, "%-7.7s %-40.40s %8.1f %10.2f %10.2f %10llu %7llu", x->method, x->route, x->rps,
             x->p95_win_ms, x->p95_ms, (unsigned long long)x->count, (unsigned long long)x->errors);
    }
    if (s->m->leaks_present) {
        line(t, "%s", "");
        line(t, "%7s %-60s %10s %12s", "PID", "TOP LEAK SITES", "LIVE", "GROWTH/s");
        for (size_t i = 0; i < s->m->nsites; i++) {
            const struct chim_metrics_site *z = &s->m->sites[i];
            chim_fmt_bytes(z->live_bytes, live, sizeof live);
            line(t, "%7u %-60.60s %10s %12.0f", z->pid, z->site, live, z->growth_bytes_per_s);
        }
    }
}

/* ---- the loop ------------------------------------------------------------- */

static int update(struct top *t)
{
    snap_free(&t->prev);
    t->prev = t->cur;
    if (take(&t->cur, t->dir) != 0) {
        snap_free(&t->cur);
        return -1;
    }
    derive(&t->cur, &t->prev);
    layout(t, &t->cur);
    return 0;
}

static void draw(const struct top *t)
{
    erase();
    for (size_t i = 0; i < t->nlines && (int)i < LINES; i++) {
        if (i == 0 || (i > 0 && !t->lines[i - 1][0]))
            attron(A_BOLD);
        mvaddnstr((int)i, 0, t->lines[i], COLS);
        attroff(A_BOLD);
    }
    refresh();
}

static int key_sort(int ch, enum sort_key *s)
{
    switch (ch) {
    case 'r':
        *s = SORT_RPS;
        return 1;
    case 'p':
        *s = SORT_P95;
        return 1;
    case 'e':
        *s = SORT_ERRORS;
        return 1;
    case 'm':
        *s = SORT_MEM;
        return 1;
    }
    return 0;
}

static int live(struct top *t)
{
    initscr();
    cbreak();
    noecho();
    curs_set(0);
    keypad(stdscr, TRUE);
    timeout(100);
    uint64_t next = 0;
    int rc = 0;
    for (;;) {
        if (now_ns() >= next) {
            if (update(t) != 0) {
                rc = 2;
                break;
            }
            draw(t);
            next = now_ns() + 1000000000ull;
        }
        int ch = getch();
        if (ch == 'q' || ch == 'Q')
            break;
        if (key_sort(ch, &t->sort)) {
            layout(t, &t->cur);
            draw(t);
        }
    }
    endwin();
    return rc;
}

static int snapshot(struct top *t)
{
    if (update(t) != 0)
        return 2;
    sleep(1);
    if (update(t) != 0)
        return 2;
    for (size_t i = 0; i < t->nlines; i++)
        printf("%s\n", t->lines[i]);
    return 0;
}

int chim_cmd_top(int argc, char **argv)
{
    static const struct option opts[] = {{"dir", required_argument, 0, 'd'},
                                         {"sort", required_argument, 0, 's'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    struct top t = {0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "d:s:h", opts, NULL)) != -1) {
        if (c == 'd')
            t.dir = optarg;
        else if (c == 's' && key_sort(optarg[0], &t.sort))
            ;
        else {
            fprintf(c == 'h' ? stdout : stderr,
                    "usage: chimcollect top [--dir D] [--sort r|p|e|m]\n"
                    "  keys: r p e m sort by throughput, P95, errors, memory; q quits\n");
            return c == 'h' ? 0 : 2;
        }
    }
    if (!t.dir)
        t.dir = chim_default_dir();
    int rc = isatty(STDOUT_FILENO) ? live(&t) : snapshot(&t);
    if (rc)
        fprintf(stderr, "chimcollect top: cannot read %s\n", t.dir);
    snap_free(&t.prev);
    snap_free(&t.cur);
    for (size_t i = 0; i < t.nlines; i++)
        free(t.lines[i]);
    free(t.lines);
    return rc;
}
