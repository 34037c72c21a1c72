/*
 * engine.c - the load generator's event loop (method in chim_load.h): one
 * thread, one epoll set, one non-blocking keep-alive connection per user.
 * Each pass sends every request that is due, waits (with nanosecond
 * timeouts, epoll_pwait2) until the next one is due or a socket is ready,
 * parses responses incrementally, and records latency from the request's
 * origin: its scheduled time in open loop, its actual send in closed loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include "load_int.h"

#define IN_MAX     (1u << 20)  /* largest response we accept */
#define BACKOFF_NS 10000000ull /* after a socket error, before reconnecting */

enum { ST_IDLE, ST_BUSY };

struct user {
    int fd, state, ri, connecting;
    uint64_t rng;
    uint64_t next_ns;   /* when the next request is due */
    uint64_t origin_ns; /* latency origin of the in-flight request */
    uint64_t sent_ns;   /* actual send time, for the timeout */
    char *out, *in;
    size_t out_len, out_off, out_cap, in_len, in_cap;
};

struct acc {
    struct chim__lhist h;
    uint64_t count, errors, hits, misses;
};

struct run {
    const struct chim_load_opts *o;
    const struct chim__scenario *sc;
    struct chim_load_result *r;
    struct sockaddr_in sa;
    char hostport[80];
    int ep;
    struct user *u;
    uint64_t t0, end, period_ns, timeout_ns, last_tick;
    struct acc *acc; /* [nroutes] then [nroutes] = all */
    int progress, progress_shown;
};

/* A parsed response head. */
struct resp {
    int status, close, xcache; /* xcache: 1 HIT, 2 MISS */
    size_t total;              /* bytes of the whole response */
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- response parsing ---- */

static const char *find_crlf(const char *p, const char *end)
{
    for (; p + 1 < end; p++)
        if (p[0] == '\r' && p[1] == '\n')
            return p;
    return NULL;
}

static void head_line(struct resp *rs, const char *h, size_t n, long *clen, int *chunked)
{
    if (n > 15 && !strncasecmp(h, "Content-Length:", 15))
        *clen = strtol(h + 15, NULL, 10);
    else if (n > 18 && !strncasecmp(h, "Transfer-Encoding:", 18))
        *chunked = memmem(h, n, "chunked", 7) != NULL;
    else if (n > 11 && !strncasecmp(h, "Connection:", 11))
        rs->close = memmem(h, n, "close", 5) != NULL;
    else if (n > 8 && !strncasecmp(h, "X-Cache:", 8))
        rs->xcache = memmem(h, n, "HIT", 3) ? 1 : 2;
}

/* Length of a complete chunked body starting at p, 0 if incomplete, -1 bad. */
static long chunked_len(const char *p, const char *end)
{
    const char *s = p;
    for (;;) {
        const char *e = find_crlf(s, end);
        if (!e)
            return 0;
        char *x;
        unsigned long sz = strtoul(s, &x, 16);
        if (x == s || sz > IN_MAX)
            return -1;
        s = e + 2;
        if ((size_t)(end - s) < sz + 2)
            return 0;
        s += sz + 2;
        if (sz == 0)
            return s - p;
    }
}

/* 1 complete (rs filled), 0 need more bytes, -1 malformed. */
static int parse_resp(const char *b, size_t n, struct resp *rs)
{
    const char *end = b + n, *e = find_crlf(b, end);
    if (!e)
        return n > 8192 ? -1 : 0;
    if (e - b < 12 || memcmp(b, "HTTP/1.", 7) != 0)
        return -1;
    memset(rs, 0, sizeof *rs);
    rs->status = atoi(b + 9);
    rs->close = b[7] == '0';
    long clen = -1;
    int chunked = 0;
    const char *p = e + 2;
    while ((e = find_crlf(p, end)) != NULL && e > p) {
        head_line(rs, p, (size_t)(e - p), &clen, &chunked);
        p = e + 2;
    }
    if (!e)
        return n > 65536 ? -1 : 0;
    p = e + 2;
    long body = chunked ? chunked_len(p, end) : clen;
    if (body < 0 && !chunked && (rs->status == 204 || rs->status == 304))
        body = 0;
    if (body < 0 || (chunked && body == 0))
        return body < 0 ? -1 : 0;
    if ((size_t)(end - p) < (size_t)body)
        return 0;
    rs->total = (size_t)(p - b) + (size_t)body;
    return 1;
}

/* ---- connections ---- */

static void conn_drop(struct run *R, struct user *u)
{
    if (u->fd >= 0)
        close(u->fd);
    u->fd = -1;
    u->in_len = 0;
    u->connecting = 0;
}

static int conn_open(struct run *R, struct user *u)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&R->sa, sizeof R->sa) < 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = u};
    if (epoll_ctl(R->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
        close(fd);
        return -1;
    }
    u->fd = fd;
    u->connecting = 1;
    return 0;
}

static void want_write(struct run *R, struct user *u, int on)
{
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = u};
    epoll_ctl(R->ep, EPOLL_CTL_MOD, u->fd, &ev);
}

/* ---- request lifecycle ---- */

static void count_error(struct run *R, struct user *u, uint64_t *kind)
{
    (*kind)++;
    R->r->errors++;
    R->acc[u->ri].errors++;
    R->acc[R->sc->nroutes].errors++;
}

/* The in-flight request failed without a response. */
static void fail(struct run *R, struct user *u, uint64_t *kind, uint64_t now)
{
    count_error(R, u, kind);
    conn_drop(R, u);
    u->state = ST_IDLE;
    if (R->o->closed)
        u->next_ns = now + BACKOFF_NS; /* do not spin on a dead target */
}

/* Writes what remains of the request; 0 done or pending, -1 failed. */
static int flush_out(struct run *R, struct user *u)
{
    while (u->out_off < u->out_len) {
        ssize_t n = write(u->fd, u->out + u->out_off, u->out_len - u->out_off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            want_write(R, u, 1);
            return 0;
        }
        if (n <= 0)
            return -1;
        u->out_off += (size_t)n;
    }
    want_write(R, u, 0);
    return 0;
}

static void start(struct run *R, struct user *u, uint64_t now)
{
    u->ri = chim__scenario_pick(R->sc, &u->rng);
    u->out_len = chim__request_build(R->sc, u->ri, R->hostport, R->o, &u->rng, u->out, u->out_cap);
    u->out_off = 0;
    u->origin_ns = R->o->closed ? now : u->next_ns;
    u->sent_ns = now;
    u->next_ns = R->o->closed ? now : u->next_ns + R->period_ns;
    u->state = ST_BUSY;
    R->r->sent++;
    if (u->fd < 0 && conn_open(R, u) < 0) {
        fail(R, u, &R->r->socket_errors, now);
        return;
    }
    if (!u->connecting && flush_out(R, u) < 0)
        fail(R, u, &R->r->socket_errors, now);
}

static void record(struct run *R, struct user *u, const struct resp *rs, uint64_t now)
{
    uint64_t us = (now - u->origin_ns) / 1000;
    struct acc *a[2] = {&R->acc[u->ri], &R->acc[R->sc->nroutes]};
    for (int i = 0; i < 2; i++) {
        chim__lhist_record(&a[i]->h, us);
        a[i]->count++;
        a[i]->hits += rs->xcache == 1;
        a[i]->misses += rs->xcache == 2;
    }
    R->r->completed++;
    if (rs->status < 200 || rs->status >= 400)
        count_error(R, u, &R->r->status_errors);
}

/* A full response arrived: record it and send the next request if due. */
static void done(struct run *R, struct user *u, const struct resp *rs, uint64_t now)
{
    record(R, u, rs, now);
    u->state = ST_IDLE;
    if (rs->close || u->in_len != rs->total)
        conn_drop(R, u); /* closing, or unexpected extra bytes */
    else
        u->in_len = 0;
    if (now < R->end && u->next_ns <= now && (R->o->closed || u->next_ns < R->end))
        start(R, u, now);
}

static int grow_in(struct user *u)
{
    if (u->in_cap - u->in_len >= 4096)
        return 0;
    size_t ncap = u->in_cap * 2;
    char *nb = ncap <= IN_MAX ? realloc(u->in, ncap) : NULL;
    if (!nb)
        return -1;
    u->in = nb;
    u->in_cap = ncap;
    return 0;
}

static void on_readable(struct run *R, struct user *u, uint64_t now)
{
    for (;;) {
        if (grow_in(u) < 0)
            break;
        ssize_t n = read(u->fd, u->in + u->in_len, u->in_cap - u->in_len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0)
            break;
        u->in_len += (size_t)n;
        struct resp rs;
        int st = u->state == ST_BUSY ? parse_resp(u->in, u->in_len, &rs) : -1;
        if (st < 0)
            break;
        if (st > 0) {
            done(R, u, &rs, now);
            return;
        }
    }
    /* EOF, error, overflow or a malformed/unsolicited response */
    if (u->state == ST_BUSY)
        fail(R, u, &R->r->socket_errors, now);
    else
        conn_drop(R, u);
}

static void on_writable(struct run *R, struct user *u, uint64_t now)
{
    if (u->connecting) {
        int err = 0;
        socklen_t l = sizeof err;
        getsockopt(u->fd, SOL_SOCKET, SO_ERROR, &err, &l);
        if (err) {
            fail(R, u, &R->r->socket_errors, now);
            return;
        }
        u->connecting = 0;
    }
    if (u->state == ST_BUSY && flush_out(R, u) < 0)
        fail(R, u, &R->r->socket_errors, now);
}

static void on_event(struct run *R, struct epoll_event *ev, uint64_t now)
{
    struct user *u = ev->data.ptr;
    if (u->fd < 0)
        return;
    if (ev->events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
        if (u->connecting && (ev->events & (EPOLLERR | EPOLLHUP)))
            on_writable(R, u, now);
        else
            on_readable(R, u, now);
    }
    if (u->fd >= 0 && (ev->events & EPOLLOUT))
        on_writable(R, u, now);
}

/* Sends everything due; returns the earliest future due time (or end). */
static uint64_t dispatch_due(struct run *R, uint64_t now)
{
    uint64_t next = R->end;
    for (int i = 0; i < R->o->users; i++) {
        struct user *u = &R->u[i];
        if (u->state == ST_BUSY) {
            uint64_t dl = u->sent_ns + R->timeout_ns;
            if (now >= dl)
                fail(R, u, &R->r->timeouts, now);
            else if (dl < next)
                next = dl;
            continue;
        }
        if (now < R->end && u->next_ns <= now && (R->o->closed || u->next_ns < R->end))
            start(R, u, now);
        uint64_t t = u->state == ST_BUSY ? u->sent_ns + R->timeout_ns : u->next_ns;
        if (t > now && t < next)
            next = t;
    }
    return next;
}

static int busy_users(const struct run *R)
{
    int n = 0;
    for (int i = 0; i < R->o->users; i++)
        n += R->u[i].state == ST_BUSY;
    return n;
}

static void wait_events(struct run *R, uint64_t until, uint64_t now)
{
    struct epoll_event evs[256];
    uint64_t d = until > now ? until - now : 0;
    struct timespec ts = {.tv_sec = (time_t)(d / 1000000000ull),
                          .tv_nsec = (long)(d % 1000000000ull)};
    int n = epoll_pwait2(R->ep, evs, 256, &ts, NULL);
    if (n < 0 && errno == ENOSYS)
        n = epoll_wait(R->ep, evs, 256, (int)((d + 999999) / 1000000));
    now = now_ns();
    for (int i = 0; i < n; i++)
        on_event(R, &evs[i], now);
}

static void progress(struct run *R, uint64_t now)
{
    if (!R->progress || now - R->last_tick < 1000000000ull)
        return;
    R->last_tick = now;
    double el = (double)(now - R->t0) / 1e9;
    const struct acc *all = &R->acc[R->sc->nroutes];
    fprintf(stderr, "\r%s: %5.1fs  %8.1f req/s  p95 %9.2f ms  errors %llu   ", R->o->prog, el,
            (double)R->r->completed / el, (double)chim__lhist_quantile(&all->h, 0.95) / 1000.0,
            (unsigned long long)R->r->errors);
    R->progress_shown = 1;
}

/* The event loop: until the end and the grace period for in-flight ones. */
static void loop(struct run *R)
{
    uint64_t grace = R->timeout_ns < 5000000000ull ? R->timeout_ns : 5000000000ull;
    for (;;) {
        uint64_t now = now_ns();
        uint64_t next = dispatch_due(R, now);
        if (now >= R->end && (busy_users(R) == 0 || now >= R->end + grace))
            break;
        if (next <= now || next > R->end + grace)
            next = now >= R->end ? R->end + grace : next;
        if (R->progress && next > R->last_tick + 1000000000ull)
            next = R->last_tick + 1000000000ull;
        wait_events(R, next, now);
        progress(R, now_ns());
    }
    if (R->progress_shown)
        fputc('\n', stderr);
}

/* ---- setup and results ---- */

static int parse_target(struct run *R, const char *t, char *err, size_t errlen)
{
    char host[64];
    long port = 80;
    const char *p = !strncmp(t, "http://", 7) ? t + 7 : t;
    size_t hl = strcspn(p, ":/");
    if (hl == 0 || hl >= sizeof host)
        goto bad;
    memcpy(host, p, hl);
    host[hl] = 0;
    if (p[hl] == ':') {
        char *e;
        port = strtol(p + hl + 1, &e, 10);
        if (e == p + hl + 1 || (*e && *e != '/') || port < 1 || port > 65535)
            goto bad;
    }
    if (!strcmp(host, "localhost"))
        strcpy(host, "127.0.0.1");
    R->sa.sin_family = AF_INET;
    R->sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &R->sa.sin_addr) != 1)
        goto bad;
    snprintf(R->hostport, sizeof R->hostport, "%s:%ld", host, port);
    return 0;
bad:
    snprintf(err, errlen, "invalid target '%s' (expected http://IPV4:PORT)", t);
    return -EINVAL;
}

/* One blocking-with-timeout connect, so an absent target fails clearly. */
static int probe(struct run *R, char *err, size_t errlen)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), e = 0;
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&R->sa, sizeof R->sa) < 0) {
        e = errno;
        struct pollfd pf = {.fd = fd, .events = POLLOUT};
        if (e == EINPROGRESS) {
            socklen_t l = sizeof e;
            e = poll(&pf, 1, 3000) == 1 ? 0 : ETIMEDOUT;
            if (!e)
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &l);
        }
    }
    close(fd);
    if (e)
        snprintf(err, errlen,
                 "cannot connect to %s: %s (ensure backend services are running on port %d)",
                 R->hostport, strerror(e), ntohs(R->sa.sin_port));
    return -e;
}

/* Raises the descriptor soft limit towards the hard one for many users. */
static void raise_nofile(int users)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)users + 64;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static int setup_users(struct run *R)
{
    raise_nofile(R->o->users);
    size_t cap = (size_t)R->o->payload_bytes + 1024;
    R->u = calloc((size_t)R->o->users, sizeof *R->u);
    if (!R->u)
        return -ENOMEM;
    for (int i = 0; i < R->o->users; i++) {
        struct user *u = &R->u[i];
        u->fd = -1;
        u->rng =
            (R->o->seed + 1) * 0x9E3779B97F4A7C15ull ^ (uint64_t)(i + 1) * 0xBF58476D1CE4E5B9ull;
        u->rng |= 1;
        u->out_cap = cap;
        u->in_cap = 16384;
        u->out = malloc(cap);
        u->in = malloc(u->in_cap);
        if (!u->out || !u->in)
            return -ENOMEM;
        u->next_ns =
            R->t0 + (R->o->closed ? 0 : R->period_ns * (uint64_t)i / (uint64_t)R->o->users);
    }
    return 0;
}

static void fill_stats(struct chim_load_stats *s, const struct acc *a, const char *name)
{
    snprintf(s->route, sizeof s->route, "%s", name);
    s->count = a->count;
    s->errors = a->errors;
    s->cache_hits = a->hits;
    s->cache_misses = a->misses;
    s->mean_ms = a->count ? (double)a->h.sum / (double)a->count / 1000.0 : 0;
    s->p50_ms = (double)chim__lhist_quantile(&a->h, 0.50) / 1000.0;
    s->p90_ms = (double)chim__lhist_quantile(&a->h, 0.90) / 1000.0;
    s->p95_ms = (double)chim__lhist_quantile(&a->h, 0.95) / 1000.0;
    s->p99_ms = (double)chim__lhist_quantile(&a->h, 0.99) / 1000.0;
    s->max_ms = (double)a->h.max / 1000.0;
}

static void results(struct run *R, uint64_t stop)
{
    struct chim_load_result *r = R->r;
    for (int i = 0; i < R->o->users && !R->o->closed; i++)
        if (R->u[i].next_ns < R->end)
            r->unsent += (R->end - R->u[i].next_ns + R->period_ns - 1) / R->period_ns;
    r->elapsed_s = (double)(stop - R->t0) / 1e9;
    r->rps = r->elapsed_s > 0 ? (double)r->completed / r->elapsed_s : 0;
    r->nroutes = R->sc->nroutes;
    for (int i = 0; i < R->sc->nroutes; i++)
        fill_stats(&r->routes[i], &R->acc[i], R->sc->routes[i]->name);
    fill_stats(&r->overall, &R->acc[R->sc->nroutes], "all");
}

static int check_opts(const struct chim_load_opts *o, char *err, size_t errlen)
{
    const char *bad = o->users < 1 || o->users > 100000                  ? "users"
                      : !(o->duration_s > 0)                             ? "duration"
                      : !o->closed && !(o->rate > 0 && o->rate <= 1e6)   ? "rate"
                      : !(o->timeout_s > 0)                              ? "timeout"
                      : o->payload_bytes < 0 || o->payload_bytes > 65536 ? "payload"
                      : !(o->repeat_share >= 0 && o->repeat_share <= 1)  ? "repeat-share"
                                                                         : NULL;
    if (bad)
        snprintf(err, errlen, "invalid %s", bad);
    return bad ? -EINVAL : 0;
}

static void echo_opts(const struct chim_load_opts *o, struct chim_load_result *r)
{
    memset(r, 0, sizeof *r);
    snprintf(r->target, sizeof r->target, "%s", o->target ? o->target : "");
    snprintf(r->scenario, sizeof r->scenario, "%s", o->scenario ? o->scenario : "");
    r->users = o->users;
    r->rate = o->rate;
    r->duration_s = o->duration_s;
    r->closed = o->closed;
}

static void cleanup(struct run *R)
{
    for (int i = 0; R->u && i < R->o->users; i++) {
        conn_drop(R, &R->u[i]);
        free(R->u[i].out);
        free(R->u[i].in);
    }
    free(R->u);
    free(R->acc);
    if (R->ep >= 0)
        close(R->ep);
}

int chim_load_run(const struct chim_load_opts *o, struct chim_load_result *r)
{
    struct run R = {.o = o, .r = r, .ep = -1};
    echo_opts(o, r);
    int rc = check_opts(o, r->error, sizeof r->error);
    if (!rc && !(R.sc = chim__scenario_find(o->scenario ? o->scenario : ""))) {
        snprintf(r->error, sizeof r->error, "unknown scenario '%s' (api, llm, health, transform)",
                 o->scenario ? o->scenario : "");
        rc = -EINVAL;
    }
    if (rc || (rc = parse_target(&R, o->target, r->error, sizeof r->error)) ||
        (rc = probe(&R, r->error, sizeof r->error)))
        return rc;
    R.acc = calloc((size_t)R.sc->nroutes + 1, sizeof *R.acc);
    R.ep = epoll_create1(EPOLL_CLOEXEC);
    R.period_ns = o->closed ? 0 : (uint64_t)(1e9 / o->rate);
    R.timeout_ns = (uint64_t)(o->timeout_s * 1e9);
    R.progress = o->progress < 0 ? isatty(STDERR_FILENO) : o->progress;
    R.t0 = R.last_tick = now_ns();
    R.end = R.t0 + (uint64_t)(o->duration_s * 1e9);
    if (!R.acc || R.ep < 0 || (rc = setup_users(&R)) < 0) {
        snprintf(r->error, sizeof r->error, "out of memory or descriptors");
        cleanup(&R);
        return rc ? rc : -ENOMEM;
    }
    loop(&R);
    results(&R, now_ns());
    cleanup(&R);
    return 0;
}
