/*
 * demo_backend.c - chim-demo, the stand-in for the seed's Chimera backend
 * (port 8001): generate through a response cache to a mock LLM provider,
 * CPU-bound transformations (single and parallel batch), health, and an
 * optional leaking route for leak-hunting demos. It exists so that
 * `LD_PRELOAD=libchimagent.so chim-demo` gives the agent and the load
 * generator a realistic, reproducible backend with real sockets, real
 * malloc traffic and real downstream calls. GET /stats exposes its own
 * request counters so tests can compare them with the load generator's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "demo.h"
#include "httpd.h"

static void *volatile leak_sink; /* keeps the compiler from eliding leaks */

static int reply_json(struct demo *d, int fd, const struct chim_http_req *rq, int status,
                      const char *extra, const char *body)
{
    if (status >= 500)
        atomic_fetch_add(&d->errors_5xx, 1);
    return chim_http_reply(fd, status, NULL, extra, body, strlen(body), rq->keep_alive);
}

static int route_generate(struct demo *d, int fd, const struct chim_http_req *rq)
{
    size_t plen = 0, tlen = 0;
    char *prompt = chim_json_get_string(rq->body, rq->body_len, "prompt", &plen);
    if (!prompt)
        return reply_json(d, fd, rq, 400, NULL, "{\"error\":\"body must be JSON with a prompt\"}");
    char err[160] = "";
    char *text = demo_cache_get(d->cache, prompt, plen, &tlen);
    int hit = text != NULL;
    atomic_fetch_add(hit ? &d->cache_hits : &d->cache_misses, 1);
    if (!hit && (text = demo_llm_complete(d, prompt, plen, &tlen, err, sizeof err)) != NULL)
        demo_cache_put(d->cache, prompt, plen, text, tlen);
    free(prompt);
    if (!text) {
        char body[256];
        snprintf(body, sizeof body, "{\"error\":\"llm provider: %s\"}", err);
        return reply_json(d, fd, rq, 500, "X-Cache: MISS\r\n", body);
    }
    char *esc = malloc(6 * tlen + 1), *body = malloc(6 * tlen + 64);
    int rc = -1;
    if (esc && body) {
        chim_json_escape(esc, text, tlen);
        sprintf(body, "{\"completion\":\"%s\",\"cached\":%s}", esc, hit ? "true" : "false");
        rc = reply_json(d, fd, rq, 200, hit ? "X-Cache: HIT\r\n" : "X-Cache: MISS\r\n", body);
    }
    free(esc);
    free(body);
    free(text);
    return rc;
}

static int route_transform(struct demo *d, int fd, const struct chim_http_req *rq)
{
    uint64_t h = demo_transform(rq->body, rq->body_len, d->transform_cost);
    char body[160];
    snprintf(body, sizeof body, "{\"length\":%zu,\"rounds\":%ld,\"hash\":\"%016llx\"}",
             rq->body_len, d->transform_cost, (unsigned long long)h);
    return reply_json(d, fd, rq, 200, NULL, body);
}

/* The batch thread count: ?threads=N on the path, else --batch-threads. */
static int batch_threads(const struct demo *d, const char *path)
{
    const char *q = strstr(path, "threads=");
    long n = d->batch_threads;
    if (q)
        n = strtol(q + 8, NULL, 10);
    return n < 1 ? 1 : n > 64 ? 64 : (int)n;
}

static int route_batch(struct demo *d, int fd, const struct chim_http_req *rq)
{
    int nt = batch_threads(d, rq->path);
    size_t items = 0;
    uint64_t t0 = chim_now_ns();
    uint64_t h = demo_transform_batch(rq->body, rq->body_len, d->transform_cost, nt, &items);
    double ms = (double)(chim_now_ns() - t0) / 1e6;
    char body[192];
    snprintf(body, sizeof body,
             "{\"items\":%zu,\"threads\":%d,\"elapsed_ms\":%.3f,\"hash\":\"%016llx\"}", items, nt,
             ms, (unsigned long long)h);
    return reply_json(d, fd, rq, 200, NULL, body);
}

static int route_stats(struct demo *d, int fd, const struct chim_http_req *rq)
{
    char body[768];
    snprintf(body, sizeof body,
             "{\"requests\":%lu,\"health\":%lu,\"generate\":%lu,\"transform\":%lu,"
             "\"batch\":%lu,\"other\":%lu,\"errors_5xx\":%lu,\"cache_hits\":%lu,"
             "\"cache_misses\":%lu,\"cache_evictions\":%llu,\"llm_calls\":%lu,"
             "\"llm_errors\":%lu,\"leaked_bytes\":%lu}",
             atomic_load(&d->requests), atomic_load(&d->health), atomic_load(&d->generate),
             atomic_load(&d->transform), atomic_load(&d->batch), atomic_load(&d->other),
             atomic_load(&d->errors_5xx), atomic_load(&d->cache_hits),
             atomic_load(&d->cache_misses), (unsigned long long)demo_cache_evictions(d->cache),
             atomic_load(&d->llm_calls), atomic_load(&d->llm_errors), atomic_load(&d->leaked));
    return reply_json(d, fd, rq, 200, NULL, body);
}

/* Route path without its query string, into buf. */
static const char *route_path(const char *path, char *buf, size_t cap)
{
    size_t n = strcspn(path, "?");
    if (n >= cap)
        n = cap - 1;
    memcpy(buf, path, n);
    buf[n] = 0;
    return buf;
}

static void maybe_leak(struct demo *d, const char *path)
{
    if (!d->leak_bytes || strcmp(path, d->leak_route) != 0)
        return;
    char *p = malloc((size_t)d->leak_bytes);
    if (!p)
        return;
    memset(p, 0xab, (size_t)d->leak_bytes); /* touched, so RSS grows too */
    leak_sink = p;                          /* the previous one is now lost */
    atomic_fetch_add(&d->leaked, (unsigned long)d->leak_bytes);
}

static int dispatch(struct demo *d, int fd, const struct chim_http_req *rq, const char *p)
{
    int get = !strcmp(rq->method, "GET"), post = !strcmp(rq->method, "POST");
    if (!strcmp(p, "/health") && get) {
        atomic_fetch_add(&d->health, 1);
        return reply_json(d, fd, rq, 200, NULL, "{\"status\":\"ok\"}");
    }
    if (!strcmp(p, "/api/v1/generate") && post) {
        atomic_fetch_add(&d->generate, 1);
        return route_generate(d, fd, rq);
    }
    if (!strcmp(p, "/api/v1/transform") && post) {
        atomic_fetch_add(&d->transform, 1);
        return route_transform(d, fd, rq);
    }
    if (!strcmp(p, "/api/v1/transform/batch") && post) {
        atomic_fetch_add(&d->batch, 1);
        return route_batch(d, fd, rq);
    }
    atomic_fetch_add(&d->other, 1);
    if (!strcmp(p, "/health") || !strncmp(p, "/api/v1/", 8))
        return reply_json(d, fd, rq, 405, NULL, "{\"error\":\"method not allowed\"}");
    return reply_json(d, fd, rq, 404, NULL, "{\"error\":\"not found\"}");
}

static int handle(void *ctx, int fd, const struct chim_http_req *rq)
{
    struct demo *d = ctx;
    char buf[512];
    const char *p = route_path(rq->path, buf, sizeof buf);
    if (!strcmp(p, "/stats"))
        return route_stats(d, fd, rq);
    atomic_fetch_add(&d->requests, 1);
    maybe_leak(d, p);
    return dispatch(d, fd, rq, p);
}

/* ---- command line ---- */

struct cli {
    char host[64], redis[96];
    int port;
    long threads;
};

static void usage(FILE *out)
{
    fprintf(out, "usage: chim-demo [--listen HOST:PORT] [--threads N] [--llm HOST:PORT]\n"
                 "                 [--cache-size N] [--redis HOST:PORT] [--transform-cost N]\n"
                 "                 [--batch-threads N] [--leak-route PATH] [--leak-bytes N]\n"
                 "  Demo backend. Routes: POST /api/v1/generate, POST /api/v1/transform,\n"
                 "  POST /api/v1/transform/batch[?threads=N], GET /health, GET /stats.\n"
                 "  Defaults: 127.0.0.1:8001, 16 threads, LLM at 127.0.0.1:8002, LRU cache\n"
                 "  of 256 entries, 100 transform rounds, 4 batch threads, no leak\n"
                 "  (--leak-bytes alone leaks on /api/v1/transform; --leak-route alone\n"
                 "  leaks 4096 bytes per request).\n");
}

/* Parses the value of option a into d or c; 0 or -1. */
static int parse_value(struct cli *c, struct demo *d, const char *a, const char *v)
{
    if (!strcmp(a, "--listen"))
        return chim_parse_hostport(v, c->host, sizeof c->host, &c->port);
    if (!strcmp(a, "--llm"))
        return chim_parse_hostport(v, d->llm_host, sizeof d->llm_host, &d->llm_port);
    if (!strcmp(a, "--redis"))
        return snprintf(c->redis, sizeof c->redis, "%s", v) >= (int)sizeof c->redis ? -1 : 0;
    if (!strcmp(a, "--threads"))
        return chim_parse_long(v, 1, 1024, &c->threads);
    if (!strcmp(a, "--cache-size"))
        return chim_parse_long(v, 0, 10000000, &d->cache_size);
    if (!strcmp(a, "--transform-cost"))
        return chim_parse_long(v, 0, 100000000, &d->transform_cost);
    if (!strcmp(a, "--batch-threads"))
        return chim_parse_long(v, 1, 64, &d->batch_threads);
    if (!strcmp(a, "--leak-bytes"))
        return chim_parse_long(v, 0, 1l << 30, &d->leak_bytes);
    if (!strcmp(a, "--leak-route"))
        return v[0] != '/' || snprintf(d->leak_route, sizeof d->leak_route, "%s", v) >=
                                  (int)sizeof d->leak_route
                   ? -1
                   : 0;
    return -2;
}

/* Parses argv; 0 ok, 1 help printed, 2 usage error. */
static int parse_args(struct cli *c, struct demo *d, int argc, char **argv)
{
    for (int i = 1; i < argc; i += 2) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 1;
        }
        int rc = i + 1 < argc ? parse_value(c, d, argv[i], argv[i + 1]) : -2;
        if (rc == -2) {
            fprintf(stderr, "chim-demo: unknown option or missing value: '%s' (try --help)\n",
                    argv[i]);
            return 2;
        }
        if (rc < 0) {
            fprintf(stderr, "chim-demo: invalid value for %s: '%s'\n", argv[i], argv[i + 1]);
            return 2;
        }
    }
    if (d->leak_route[0] && !d->leak_bytes)
        d->leak_bytes = 4096;
    if (d->leak_bytes && !d->leak_route[0])
        snprintf(d->leak_route, sizeof d->leak_route, "/api/v1/transform");
    return 0;
}

static int make_cache(struct cli *c, struct demo *d)
{
    if (!c->redis[0]) {
        d->cache = demo_cache_lru((size_t)d->cache_size);
        return d->cache ? 0 : -1;
    }
    char host[64];
    int port;
    if (chim_parse_hostport(c->redis, host, sizeof host, &port) < 0) {
        fprintf(stderr, "chim-demo: invalid value for --redis: '%s'\n", c->redis);
        return -1;
    }
    d->cache = demo_cache_redis(host, port);
    return d->cache ? 0 : -1;
}

int main(int argc, char **argv)
{
    static struct demo d = {.llm_host = "127.0.0.1",
                            .llm_port = 8002,
                            .transform_cost = 100,
                            .batch_threads = 4,
                            .cache_size = 256};
    struct cli c = {.host = "127.0.0.1", .port = 8001, .threads = 16};
    int rc = parse_args(&c, &d, argc, argv);
    if (rc)
        return rc == 1 ? 0 : 2;
    if (make_cache(&c, &d) < 0)
        return 2;
    struct chim_httpd_opts o = {.name = "chim-demo",
                                .host = c.host,
                                .port = c.port,
                                .threads = (int)c.threads,
                                .handler = handle,
                                .ctx = &d};
    return chim_httpd_run(&o);
}
