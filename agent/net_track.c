/*
 * net_track.c - turns what the socket hooks saw into requests: picks the
 * protocol of each connection from its first bytes, feeds the parsers
 * (proto_http.c, proto_resp.c, proto_memcache.c), and records completed
 * exchanges into the segment's route and peer entries.
 *
 * Inbound HTTP exchanges go to (method, route template, status class,
 * X-Cache state) entries; outbound calls to (peer, protocol) entries. A
 * connection whose protocol is not recognised is timed as request/response
 * turns (a write burst, then a read burst) per peer. What cannot be tracked
 * is counted, never guessed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "net_conn.h"
#include "route.h"

int chim__net_on;
struct chim_net_cfg chim__net_cfg;
static struct chim_route_table routes;
static uint32_t distinct_routes;

static uint64_t mono_ns(void)
{
    return chim__clock_ns();
}

#define STAT(field, v) chim__net_count(chim__net_stats() ? &chim__net_stats()->field : NULL, (v))

/* ---- peers --------------------------------------------------------------- */

static void format_peer(const struct sockaddr *a, char *out, size_t n)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (a && a->sa_family == AF_INET) {
        const struct sockaddr_in *s = (const void *)a;
        inet_ntop(AF_INET, &s->sin_addr, ip, sizeof ip);
        port = ntohs(s->sin_port);
    } else if (a && a->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s = (const void *)a;
        inet_ntop(AF_INET6, &s->sin6_addr, ip, sizeof ip);
        port = ntohs(s->sin6_port);
    }
    char num[12];
    chim__utoa(port, num);
    size_t len = 0;
    if (a && a->sa_family == AF_INET6 && n > 2) { /* [addr]:port, as in URLs */
        out[len++] = '[';
        len += chim__strlcpy(out + len, ip, n - len);
        if (len + 1 < n)
            out[len++] = ']';
        out[len < n ? len : n - 1] = 0;
    } else {
        len = chim__strlcpy(out, ip, n);
    }
    if (len + 1 < n) {
        out[len++] = ':';
        chim__strlcpy(out + len, num, n - len);
    }
}

static int tcp_family(const struct sockaddr *a)
{
    return a && (a->sa_family == AF_INET || a->sa_family == AF_INET6);
}

/* ---- opening and closing --------------------------------------------------- */

static void attach(struct chim_fdent *e, int kind, const struct sockaddr *peer)
{
    uint32_t id = chim__conn_alloc();
    if (!id) {
        e->kind = CHIM_FD_IGNORED;
        STAT(dropped_conns, 1);
        return;
    }
    struct chim_conn *c = chim__conn_get(id);
    c->kind = (uint8_t)kind;
    format_peer(peer, c->peer, sizeof c->peer);
    e->conn = id;
    __atomic_store_n(&e->kind, (uint8_t)kind, __ATOMIC_RELEASE);
}

static void detach(struct chim_fdent *e);

void chim__net_opened(int fd, int kind, const struct sockaddr *peer)
{
    struct chim_fdent *e = chim__fdent(fd, 1);
    if (!e)
        return;
    detach(e);
    struct sockaddr_storage ss;
    if (kind == CHIM_FD_IN) {
        socklen_t l = sizeof ss;
        if (getpeername(fd, (struct sockaddr *)&ss, &l) != 0 || !tcp_family((void *)&ss)) {
            e->kind = CHIM_FD_IGNORED;
            return;
        }
        peer = (const struct sockaddr *)&ss;
        STAT(accepted, 1);
    } else {
        if (!tcp_family(peer)) {
            e->kind = CHIM_FD_IGNORED;
            return;
        }
        STAT(connected, 1);
    }
    attach(e, kind, peer);
}

/* A vfork child runs in our memory until it execs (Python's subprocess
 * closes every descriptor there): its closes and dups must not end or
 * share the parent's connections. One getpid per tracked socket only. */
static int vfork_child(void)
{
    return chim__seg && chim__seg->pid != (uint32_t)getpid();
}

/* e joins connection id as one more descriptor of it, if it can. */
static int share(struct chim_fdent *e, uint32_t id)
{
    struct chim_conn *c = chim__conn_get(id);
    uint8_t r = c ? __atomic_load_n(&c->refs, __ATOMIC_RELAXED) : 255;
    do {
        if (r == 255)
            return 0;
    } while (!__atomic_compare_exchange_n(&c->refs, &r, (uint8_t)(r + 1), 1, __ATOMIC_ACQ_REL,
                                          __ATOMIC_RELAXED));
    e->conn = id;
    __atomic_store_n(&e->kind, c->kind, __ATOMIC_RELEASE);
    return 1;
}

/* The connection already followed for the socket of inode ino (another
 * descriptor adopted it: inetd's stdin and stdout), or 0. */
static uint32_t conn_of_inode(uint64_t ino)
{
    uint32_t hi = __atomic_load_n(&chim__conn_pool_hi, __ATOMIC_RELAXED);
    for (uint32_t id = 1; ino && id <= hi; id++) {
        struct chim_conn *c = chim__conn_get(id);
        if (c && __atomic_load_n(&c->sock_ino, __ATOMIC_RELAXED) == ino)
            return id;
    }
    return 0;
}

/* A socket first seen in mid-life (inherited, opened before load); a
 * second descriptor of a socket already followed shares its connection. */
static struct chim_fdent *adopt(int fd, int dir)
{
    struct chim_fdent *e = chim__fdent(fd, 1);
    if (!e || e->kind != CHIM_FD_UNKNOWN)
        return e;
    struct sockaddr_storage peer;
    int kind = chim__classify(fd, &peer, dir);
    if (kind == CHIM_FD_IGNORED) {
        e->kind = CHIM_FD_IGNORED;
        return e;
    }
    struct stat st;
    uint64_t ino = fstat(fd, &st) == 0 ? (uint64_t)st.st_ino : 0;
    uint32_t same = conn_of_inode(ino);
    if (same && share(e, same))
        return e;
    STAT(adopted, 1);
    attach(e, kind, (const struct sockaddr *)&peer);
    struct chim_conn *c = chim__conn_get(e->conn);
    if (c && e->kind != CHIM_FD_IGNORED)
        __atomic_store_n(&c->sock_ino, ino, __ATOMIC_RELAXED);
    return e;
}

void chim__net_dup(int from, int to)
{
    struct chim_fdent *f = chim__fdent(from, 0), *t = chim__fdent(to, 1);
    if (!t || vfork_child())
        return;
    detach(t);
    if (f && (f->kind == CHIM_FD_IN || f->kind == CHIM_FD_OUT) && share(t, f->conn))
        return;
}

static void finish_conn(struct chim_conn *c, uint64_t now);

static void flush_bytes(struct chim_conn *c)
{
    if (c->pend_in)
        STAT(bytes_in, c->pend_in);
    if (c->pend_out)
        STAT(bytes_out, c->pend_out);
    c->pend_in = c->pend_out = 0;
    c->flush_sec = chim__net_sec;
}

static void detach(struct chim_fdent *e)
{
    uint32_t id = e->conn;
    e->conn = 0;
    e->kind = CHIM_FD_UNKNOWN;
    struct chim_conn *c = chim__conn_get(id);
    if (!c)
        return;
    uint8_t r = __atomic_load_n(&c->refs, __ATOMIC_RELAXED);
    while (r && !__atomic_compare_exchange_n(&c->refs, &r, (uint8_t)(r - 1), 1, __ATOMIC_ACQ_REL,
                                             __ATOMIC_RELAXED))
        ;
    if (r) /* another descriptor still has it */
        return;
    __atomic_store_n(&c->sock_ino, 0, __ATOMIC_RELAXED);
    if (chim__conn_trylock(c)) {
        uint64_t now = mono_ns();
        chim__net_tick(c, now);
        if (!c->inherited) /* a fork child's untouched copy is the parent's */
            finish_conn(c, now);
        flush_bytes(c);
        c->kind = CHIM_FD_UNKNOWN; /* free: not an open connection at exit */
        chim__conn_unlock(c);
    } else {
        c->kind = CHIM_FD_UNKNOWN;
    }
    chim__conn_free(id);
}

void chim__net_closing(int fd)
{
    struct chim_fdent *e = chim__fdent(fd, 0);
    if (!e || e->kind == CHIM_FD_UNKNOWN)
        return;
    if ((e->kind == CHIM_FD_IN || e->kind == CHIM_FD_OUT) && vfork_child())
        return;
    detach(e);
}

void chim__net_reset(int fd)
{
    chim__net_closing(fd);
}

void chim__net_close_range(unsigned first, unsigned last)
{
    if (vfork_child())
        return;
    for (unsigned fd = first; fd <= last && fd < (1u << 22); fd++) {
        if ((fd & 4095) == 0 && !chim__fdent((int)fd, 0)) {
            fd += 4095; /* whole chunk never used */
            continue;
        }
        chim__net_closing((int)fd);
    }
}

void chim__net_stdio(int fd)
{
    struct sockaddr_storage peer;
    if (chim__classify(fd, &peer, -1) != CHIM_FD_IGNORED)
        STAT(stdio_sockets, 1);
}

void chim__net_io_uring(void)
{
    STAT(io_uring, 1);
}

/* ---- recording exchanges ----------------------------------------------------- */

static uint64_t thread_allocated(void)
{
    struct chim_thread_slot *s = chim__tls.slot;
    return s ? s->mem.bytes_allocated : 0;
}

/* Route template of a path, with the per-process cap. */
static void route_of(const char *path, char *out, size_t n)
{
    chim_route_template(path, strlen(path), &routes, out, n);
}

static struct chim_net_entry *route_entry(const struct chim_net_key *k)
{
    struct chim_net_entry *e = chim__net_entry(CHIM_SEC_ROUTES, k);
    if (!e)
        STAT(dropped_routes, 1);
    return e;
}

/* Admitted route templates (hashes of method + template), private to the
 * agent: once max_routes are admitted, new ones are counted as {other}. */
#define ADMIT_SLOTS 8192
static uint32_t admitted[ADMIT_SLOTS];

static int admit(const char *method, const char *route)
{
    uint32_t h = 2166136261u;
    for (const char *p = method; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    for (const char *p = route; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    h = h ? h : 1;
    for (uint32_t i = 0; i < ADMIT_SLOTS; i++) {
        uint32_t *slot = &admitted[(h + i) % ADMIT_SLOTS];
        uint32_t cur = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
        if (cur == h)
            return 1;
        if (cur)
            continue;
        if (__atomic_load_n(&distinct_routes, __ATOMIC_RELAXED) >= chim__net_cfg.max_routes)
            return 0;
        if (__atomic_compare_exchange_n(slot, &cur, h, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            __atomic_fetch_add(&distinct_routes, 1, __ATOMIC_RELAXED);
            return 1;
        }
        if (cur == h)
            return 1;
    }
    return 0;
}

static struct chim_net_entry *capped_entry(struct chim_net_key *k)
{
    if (!admit(k->method, k->name)) {
        k->name = "{other}";
        STAT(route_overflow, 1);
    }
    return route_entry(k);
}

/* The entry for an exchange: the connection's last one when the request
 * repeats, else template the path and look it up. */
static struct chim_net_entry *entry_for(struct chim_conn *c, const struct chim_http_exchange *x,
                                        uint16_t sc)
{
    uint32_t gen = chim__seg_generation();
    /* Methods are the parser's constant names: the same name, the same
     * pointer. */
    if (c->last_entry && c->last_gen == gen && c->last_sc == sc && c->last_cache == x->cache &&
        c->last_method == x->method && !strcmp(c->last_path, x->path))
        return c->last_entry;
    char route[CHIM_ROUTE_MAX];
    route_of(x->path, route, sizeof route);
    struct chim_net_key k = {x->method, route, "", sc, (uint8_t)x->cache, CHIM_PROTO_HTTP};
    struct chim_net_entry *e = capped_entry(&k);
    c->last_entry = e;
    c->last_gen = gen;
    c->last_sc = sc;
    c->last_cache = (uint8_t)x->cache;
    c->last_method = x->method;
    chim__strlcpy(c->last_path, x->path, sizeof c->last_path);
    return e;
}

/* The rps window: wall-clock times of the first and last request, from the
 * response's last byte (monotonic) and the tick's offset (no clock read). */
static void note_request_time(uint64_t t_mono)
{
    struct chim_net_stats *st = chim__net_stats();
    if (!st)
        return;
    uint64_t now = t_mono + __atomic_load_n(&chim__net_rt_off, __ATOMIC_RELAXED), zero = 0;
    if (!st->first_ns)
        __atomic_compare_exchange_n(&st->first_ns, &zero, now, 0, __ATOMIC_RELAXED,
                                    __ATOMIC_RELAXED);
    if (now != st->last_ns)
        __atomic_store_n(&st->last_ns, now, __ATOMIC_RELAXED);
}

#define ADD(field, v) chim__shared_add(&(field), (v))

/* chim_hist_record with chim__shared_add: no atomic read-modify-write while
 * the process has one thread. */
static void hist_add(struct chim_hist *h, uint64_t v)
{
    chim__shared_add(&h->counts[chim_hist_index(v)], 1);
    chim__shared_add(&h->count, 1);
    chim__shared_add(&h->sum, v);
    if (CHIM_UNLIKELY(v > CHIM_HIST_MAX_US))
        chim__shared_add(&h->over, 1);
    uint64_t m = __atomic_load_n(&h->max, __ATOMIC_RELAXED);
    while (v > m &&
           !__atomic_compare_exchange_n(&h->max, &m, v, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
}

static void on_http_server(void *ctx, const struct chim_http_exchange *x)
{
    struct chim_conn *c = ctx;
    uint16_t sc = (uint16_t)(x->status / 100);
    struct chim_net_entry *e = entry_for(c, x, sc >= 1 && sc <= 5 ? sc : 5);
    uint64_t us = (x->t_resp_last - x->t_req_first) / 1000;
    int error = x->status >= 500;
    STAT(requests, 1);
    if (error)
        STAT(errors, 1);
    else if (x->status >= 400)
        STAT(client_errors, 1);
    note_request_time(x->t_resp_last);
    if (!e)
        return;
    hist_add(&e->latency, us ? us : 1);
    ADD(e->count, 1);
    if (error)
        ADD(e->errors, 1);
    ADD(e->ttfb_us_sum, (x->t_resp_first - x->t_req_first) / 1000);
    if (x->cache == 1)
        ADD(e->hits, 1);
    else if (x->cache == 2)
        ADD(e->misses, 1);
    uint32_t tid = chim__tls.slot ? chim__tls.slot->tid : 0;
    if (c->alloc_tid && c->alloc_tid == tid) {
        ADD(e->alloc_bytes, thread_allocated() - c->alloc_mark);
        ADD(e->alloc_samples, 1);
    }
    c->alloc_tid = 0; /* the next request read sets a new mark */
}

/* error: a 5xx or an error reply (client_error: a 4xx, HTTP only). */
static void record_upstream(struct chim_conn *c, uint8_t proto, const char *host, uint64_t ns,
                            int error, uint64_t hits, uint64_t misses, int client_error)
{
    struct chim_net_key k = {"", c->peer, host ? host : "", 0, 0, proto};
    struct chim_net_entry *e = chim__net_entry(CHIM_SEC_PEERS, &k);
    STAT(upstream_calls, 1);
    STAT(upstream_errors, (uint64_t)(error != 0));
    if (!e) {
        STAT(dropped_peers, 1);
        return;
    }
    uint64_t us = ns / 1000;
    chim_hist_record(&e->latency, us ? us : 1);
    __atomic_fetch_add(&e->count, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&e->errors, (uint64_t)(error != 0), __ATOMIC_RELAXED);
    __atomic_fetch_add(&e->hits, hits, __ATOMIC_RELAXED);
    __atomic_fetch_add(&e->misses, misses, __ATOMIC_RELAXED);
    if (client_error)
        __atomic_fetch_add(&e->client_errors, 1, __ATOMIC_RELAXED);
}

/* Calls to c's peer whose reply never came whole (the connection ended or
 * its framing was lost first): counted per peer, with no latency. */
static void record_failed(struct chim_conn *c, uint8_t proto, const char *host, uint64_t n)
{
    struct chim_net_key k = {"", c->peer, host, 0, 0, proto};
    STAT(upstream_failed, n);
    struct chim_net_entry *e = chim__net_entry(CHIM_SEC_PEERS, &k);
    if (e)
        __atomic_fetch_add(&e->failed, n, __ATOMIC_RELAXED);
    else
        STAT(dropped_peers, 1);
}

/* What a parser counted but could not report, once, when it is done with
 * (closed, or framing lost): requests left unanswered and responses cut
 * short (failed calls, outbound), replies without a request, pipelined
 * requests past its FIFO. A parser that lost its framing (lost) counted
 * its pending requests as unanswered when it gave up: whether they were
 * answered cannot be told, and framing_errors says they were not
 * followed, so those are not counted. */
static void harvest(struct chim_conn *c, uint8_t proto, const char *host, int lost,
                    uint32_t unanswered, uint32_t truncated, uint32_t orphans, uint32_t overflow)
{
    STAT(pipeline_overflow, overflow);
    STAT(orphans, orphans);
    if (lost)
        unanswered = truncated = 0;
    /* A response cut short leaves its request pending too: counted once,
     * as cut short. */
    unanswered -= truncated < unanswered ? truncated : unanswered;
    if (c->kind == CHIM_FD_IN) {
        STAT(unanswered, unanswered);
        STAT(truncated, truncated);
    } else if (unanswered + truncated) {
        record_failed(c, proto, host, (uint64_t)unanswered + truncated);
    }
}

static void harvest_http(struct chim_conn *c)
{
    const struct chim_http_conn *h = &c->p.http;
    char host[CHIM_HTTP_HOST_MAX + 1];
    memcpy(host, h->host, CHIM_HTTP_HOST_MAX);
    host[h->host_len < CHIM_HTTP_HOST_MAX ? h->host_len : CHIM_HTTP_HOST_MAX] = 0;
    harvest(c, CHIM_PROTO_HTTP, host, h->errors != 0, h->unanswered, h->truncated, h->orphans,
            h->overflow);
}

static void on_http_client(void *ctx, const struct chim_http_exchange *x)
{
    record_upstream(ctx, CHIM_PROTO_HTTP, x->host, x->t_resp_last - x->t_req_first,
                    x->status >= 500, x->cache == 1, x->cache == 2,
                    x->status >= 400 && x->status < 500);
}

static void on_resp(void *ctx, const struct chim_resp_exchange *x)
{
    record_upstream(ctx, CHIM_PROTO_REDIS, "", x->t_last - x->t_first, x->is_error, x->hits,
                    x->misses, 0);
}

static void on_mc(void *ctx, const struct chim_mc_exchange *x)
{
    record_upstream(ctx, CHIM_PROTO_MEMCACHED, "", x->t_last - x->t_first, x->is_error, x->hits,
                    x->misses, 0);
}

/* ---- protocol choice ------------------------------------------------------ */

static int starts_with_method(const char *b, size_t n)
{
    static const char *m[] = {"GET ",   "POST ",    "PUT ",   "HEAD ",   "DELETE ",
                              "PATCH ", "OPTIONS ", "TRACE ", "CONNECT "};
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        size_t l = strlen(m[i]);
        if (n >= l ? !memcmp(b, m[i], l) : !memcmp(b, m[i], n))
            return 1;
    }
    return 0;
}

static int memcache_cmd(const char *b, size_t n)
{
    static const char *m[] = {"get ",     "gets ", "set ",    "add ",  "replace ", "append ",
                              "prepend ", "cas ",  "delete ", "incr ", "decr ",    "touch ",
                              "gat ",     "gats ", "mg ",     "ms ",   "md ",      "ma "};
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        size_t l = strlen(m[i]);
        if (n >= l && !memcmp(b, m[i], l))
            return 1;
    }
    return 0;
}

/* A whole "METHOD /" at the start of b: where a connection whose framing
 * was lost can be taken up again (a body is unlikely to start so). */
static int request_start(const char *b, size_t n)
{
    const char *sp = memchr(b, ' ', n < 9 ? n : 9); /* after the longest method */
    return sp && sp + 1 < b + n && sp[1] == '/' && starts_with_method(b, n);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !memcmp(s + a - b, suffix, b);
}

/* Decides from the first bytes (the request side's first write or read). */
static void choose(struct chim_conn *c, int dir, const char *b, size_t n)
{
    int request_side = (c->kind == CHIM_FD_IN) == (dir == CHIM_NET_IN);
    if (!request_side || !n) {
        c->proto = c->kind == CHIM_FD_OUT ? CONN_TURNS : CONN_OPAQUE;
        return;
    }
    if ((unsigned char)b[0] == 0x16) { /* TLS handshake record */
        STAT(tls_conns, 1);
        c->proto = CONN_OPAQUE;
        return;
    }
    if (starts_with_method(b, n)) {
        c->proto = CONN_HTTP;
        chim_http_init(&c->p.http, c->kind == CHIM_FD_IN ? CHIM_HTTP_SERVER : CHIM_HTTP_CLIENT);
    } else if (c->kind == CHIM_FD_OUT && (b[0] == '*' || ends_with(c->peer, ":6379"))) {
        c->proto = CONN_REDIS;
        chim_resp_init(&c->p.resp);
    } else if (c->kind == CHIM_FD_OUT && memcache_cmd(b, n)) {
        c->proto = CONN_MEMCACHED;
        chim_mc_init(&c->p.mc);
    } else {
        c->proto = c->kind == CHIM_FD_OUT ? CONN_TURNS : CONN_OPAQUE;
    }
}

/* Unknown protocol, client side: a write burst starts a call, the read
 * burst that follows ends it (timed at its last read). */
static void turns(struct chim_conn *c, int dir, uint64_t now)
{
    if (dir == CHIM_NET_OUT) {
        if (c->turn_dir == 2)
            record_upstream(c, CHIM_PROTO_TCP, "", c->turn_resp_last - c->turn_first, 0, 0, 0, 0);
        if (c->turn_dir != 1)
            c->turn_first = now;
        c->turn_dir = 1;
    } else if (c->turn_dir) {
        c->turn_dir = 2;
        c->turn_resp_last = now;
    }
}

static void feed(struct chim_conn *c, int dir, const char *b, size_t n, uint64_t now)
{
    switch (c->proto) {
    case CONN_HTTP:
        chim_http_feed(&c->p.http, dir == CHIM_NET_IN ? CHIM_DIR_IN : CHIM_DIR_OUT, b, n, now,
                       c->kind == CHIM_FD_IN ? on_http_server : on_http_client, c);
        if (c->p.http.state == CHIM_HTTP_ST_ERROR) {
            STAT(framing_errors, 1);
            harvest_http(c);
            c->proto = CONN_LOST;
        } else if (c->p.http.state == CHIM_HTTP_ST_PASSTHROUGH) {
            STAT(upgraded, 1);
            c->proto = CONN_OPAQUE;
        }
        break;
    case CONN_LOST: /* the request side starts a buffer with a request: frame again */
        if ((c->kind == CHIM_FD_IN) == (dir == CHIM_NET_IN) && request_start(b, n)) {
            chim_http_init(&c->p.http, c->kind == CHIM_FD_IN ? CHIM_HTTP_SERVER : CHIM_HTTP_CLIENT);
            c->proto = CONN_HTTP;
            feed(c, dir, b, n, now);
        }
        break;
    case CONN_REDIS:
        chim_resp_feed(&c->p.resp, dir == CHIM_NET_IN ? CHIM_DIR_IN : CHIM_DIR_OUT, b, n, now,
                       on_resp, c);
        break;
    case CONN_MEMCACHED:
        chim_mc_feed(&c->p.mc, dir == CHIM_NET_IN ? CHIM_DIR_IN : CHIM_DIR_OUT, b, n, now, on_mc,
                     c);
        break;
    default:
        break;
    }
}

static void finish_conn(struct chim_conn *c, uint64_t now)
{
    if (c->proto == CONN_HTTP) {
        chim_http_close(&c->p.http, now, c->kind == CHIM_FD_IN ? on_http_server : on_http_client,
                        c);
        harvest_http(c);
    } else if (c->proto == CONN_REDIS) {
        const struct chim_resp_conn *r = &c->p.resp;
        chim_resp_close(&c->p.resp, now, on_resp, c);
        STAT(framing_errors, r->errors);
        harvest(c, CHIM_PROTO_REDIS, "", r->errors != 0, r->unanswered, 0, r->orphans, r->overflow);
    } else if (c->proto == CONN_MEMCACHED) {
        const struct chim_mc_conn *m = &c->p.mc;
        chim_mc_close(&c->p.mc, now, on_mc, c);
        STAT(framing_errors, m->errors);
        harvest(c, CHIM_PROTO_MEMCACHED, "", m->errors != 0, m->unanswered, 0, m->orphans,
                m->overflow);
    } else if (c->proto == CONN_TURNS && c->turn_dir == 2)
        record_upstream(c, CHIM_PROTO_TCP, "", c->turn_resp_last - c->turn_first, 0, 0, 0, 0);
}

/* ---- the hooks' entry points ----------------------------------------------- */

static struct chim_conn *lock_conn(int fd, int dir)
{
    struct chim_fdent *e = chim__fdent(fd, 0);
    if (!e || e->kind == CHIM_FD_UNKNOWN)
        e = adopt(fd, dir);
    if (!e || e->kind == CHIM_FD_IGNORED)
        return NULL;
    struct chim_conn *c = chim__conn_get(e->conn);
    if (!c)
        return NULL;
    if (!chim__conn_trylock(c)) {
        STAT(contended, 1);
        return NULL;
    }
    return c;
}

void chim__net_io(int fd, int dir, const struct iovec *iov, int iovcnt, size_t n, uint64_t t)
{
    if (chim__tls.in_agent)
        return;
    struct chim_conn *c = lock_conn(fd, dir);
    if (!c)
        return;
    uint64_t now = t ? t : mono_ns();
    chim__net_tick(c, now);
    c->inherited = 0;
    if (dir == CHIM_NET_IN)
        c->pend_in += n;
    else
        c->pend_out += n;
    if (c->kind == CHIM_FD_IN && dir == CHIM_NET_IN && !c->alloc_tid && chim__tls.slot) {
        c->alloc_tid = chim__tls.slot->tid; /* memory per request starts here */
        c->alloc_mark = thread_allocated();
    }
    for (int i = 0; i < iovcnt && n > 0; i++) {
        size_t len = iov[i].iov_len < n ? iov[i].iov_len : n;
        if (c->proto == CONN_UNDECIDED)
            choose(c, dir, iov[i].iov_base, len);
        if (c->proto == CONN_TURNS)
            turns(c, dir, now);
        else
            feed(c, dir, iov[i].iov_base, len, now);
        n -= len;
    }
    if (c->pend_in + c->pend_out >= 65536 || c->flush_sec != chim__net_sec)
        flush_bytes(c);
    chim__conn_unlock(c);
}

void chim__net_opaque(int fd, int dir, size_t n, uint64_t t)
{
    static const char zeros[4096];
    struct chim_conn *c = lock_conn(fd, dir);
    if (!c)
        return;
    uint64_t now = t ? t : mono_ns();
    chim__net_tick(c, now);
    if (dir == CHIM_NET_IN)
        c->pend_in += n;
    else
        c->pend_out += n;
    /* Body bytes the agent cannot see: feed placeholders so the framing
     * (Content-Length) advances; a header in them would show as an error. */
    while (n > 0 && c->proto == CONN_HTTP) {
        size_t k = n < sizeof zeros ? n : sizeof zeros;
        feed(c, dir, zeros, k, now);
        n -= k;
    }
    flush_bytes(c);
    chim__conn_unlock(c);
}

void chim__net_eof(int fd)
{
    struct chim_fdent *e = chim__fdent(fd, 0);
    if (!e || e->kind < CHIM_FD_IN)
        return;
    struct chim_conn *c = chim__conn_get(e->conn);
    if (c && c->kind == CHIM_FD_OUT && chim__conn_trylock(c)) {
        finish_conn(c, mono_ns()); /* close-delimited responses end here */
        c->proto = CONN_OPAQUE;
        chim__conn_unlock(c);
    }
}

/* ---- settings and life cycle -------------------------------------------------- */

static uint32_t env_u32(const char *name, uint32_t def, uint32_t lo, uint32_t hi)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return def;
    char *end;
    unsigned long x = strtoul(v, &end, 10);
    return (*end || x < lo || x > hi) ? def : (uint32_t)x;
}

void chim__net_init(void)
{
    const char *v = getenv("CHIM_NET");
    chim__net_on = !(v && !strcmp(v, "0"));
    chim__net_cfg.max_routes = env_u32("CHIM_MAX_ROUTES", 200, 1, 4096);
    /* Entries are per (route, status class, cache state): room for about two
     * variants per route; the collector merges them per route. */
    chim__net_cfg.route_entries = chim__net_cfg.max_routes * 2 + 56;
    chim__net_cfg.max_conns = env_u32("CHIM_MAX_CONNS", 4096, 16, 1u << 20);
    v = getenv("CHIM_ROUTES");
    if (v)
        chim__strlcpy(chim__net_cfg.routes_spec, v, sizeof chim__net_cfg.routes_spec);
    chim_route_table_parse(&routes, chim__net_cfg.routes_spec);
    chim__clock_init();
    if (chim__net_on && chim__conn_pool_init(chim__net_cfg.max_conns) != 0)
        chim__net_on = 0;
}

/* At exit: bytes still pending on open connections reach the counters. */
void chim__net_flush_held(struct chim_conn *held)
{
    if (held)
        flush_bytes(held);
}

/* At exit: the connections still open are done with, as at close: a
 * server's requests not answered by then, a client's calls in flight, the
 * pipelined commands past the FIFO are counted (else they were lost with
 * the process). A fork child's copies of its parent's connections that it
 * never used are the parent's to count. */
void chim__net_finish_open(void)
{
    uint32_t hi = __atomic_load_n(&chim__conn_pool_hi, __ATOMIC_RELAXED);
    uint64_t now = mono_ns();
    if (vfork_child())
        return;
    for (uint32_t i = 1; i <= hi && i <= chim__conn_pool_size; i++) {
        struct chim_conn *c = chim__conn_get(i);
        if ((c->kind != CHIM_FD_IN && c->kind != CHIM_FD_OUT) || c->inherited ||
            !chim__conn_trylock(c))
            continue;
        if (c->kind != CHIM_FD_IN && c->kind != CHIM_FD_OUT) { /* closed meanwhile */
            chim__conn_unlock(c);
            continue;
        }
        finish_conn(c, now);
        c->proto = CONN_OPAQUE; /* counted once */
        chim__conn_unlock(c);
    }
}

void chim__net_flush_all(void)
{
    /* Ids are handed out from the bottom of the pool: the ones above the
     * highest ever used hold nothing (CHIM_MAX_CONNS may be large). */
    uint32_t hi = __atomic_load_n(&chim__conn_pool_hi, __ATOMIC_RELAXED);
    for (uint32_t i = 1; i <= hi && i <= chim__conn_pool_size; i++) {
        struct chim_conn *c = chim__conn_get(i);
        if ((c->pend_in || c->pend_out) && chim__conn_trylock(c)) {
            flush_bytes(c);
            chim__conn_unlock(c);
        }
    }
}

void chim__net_fork_child(void)
{
    chim__net_series_fork();
    chim__conn_pool_after_fork();
    distinct_routes = 0;
    memset(admitted, 0, sizeof admitted);
}
