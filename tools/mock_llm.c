/*
 * mock_llm.c - chim-mockllm, a stand-in LLM provider for the demo backend.
 * It answers any POST with a JSON text completion after a latency drawn from
 * a lognormal distribution (given as median and P95, the way provider SLOs
 * are quoted), fails a configurable share of calls with 500, and can stream
 * its answer as a chunked response. Latencies are real sleeps, so what the
 * demo and the agent measure downstream is a real wait on a real socket.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "httpd.h"

struct mock {
    double mu, sigma; /* of ln(latency in ms) */
    double error_rate;
    int stream;
    int chunks;
    uint64_t seed;
    atomic_ulong served;
};

static _Thread_local uint64_t rng_state;

/* xorshift64*: per-thread, seeded from the run seed and a thread counter. */
static uint64_t rng_next(const struct mock *m)
{
    static atomic_ulong threads;
    if (!rng_state)
        rng_state = (m->seed ^ (0x9E3779B97F4A7C15ull * (atomic_fetch_add(&threads, 1) + 1))) | 1;
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}

static double rng_unit(const struct mock *m)
{
    return ((double)(rng_next(m) >> 11) + 0.5) / 9007199254740992.0; /* (0,1) */
}

/* One lognormal latency in ms (Box-Muller), capped at 120 s. */
static double draw_latency_ms(const struct mock *m)
{
    double z = sqrt(-2.0 * log(rng_unit(m))) * cos(2.0 * M_PI * rng_unit(m));
    double v = exp(m->mu + m->sigma * z);
    return v > 120000.0 ? 120000.0 : v;
}

static void sleep_ms(double ms)
{
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000.0),
                          .tv_nsec = (long)(fmod(ms, 1000.0) * 1e6)};
    while (nanosleep(&ts, &ts) < 0)
        ;
}

/* Builds the completion JSON into a malloc'd buffer; returns its length. */
static size_t completion(const struct chim_http_req *rq, unsigned long id, char **out)
{
    size_t pl = 0;
    char *prompt = chim_json_get_string(rq->body, rq->body_len, "prompt", &pl);
    if (pl > 200)
        pl = 200;
    char *esc = malloc(6 * pl + 1);
    size_t el = esc ? chim_json_escape(esc, prompt ? prompt : "", pl) : 0;
    size_t cap = el + 512;
    *out = malloc(cap);
    int n = *out ? snprintf(*out, cap,
                            "{\"id\":\"cmpl-%lu\",\"object\":\"text_completion\","
                            "\"model\":\"chim-mock\",\"choices\":[{\"index\":0,\"text\":"
                            "\"Completion for: %s\",\"finish_reason\":\"stop\"}],"
                            "\"usage\":{\"prompt_tokens\":%zu,\"completion_tokens\":16}}",
                            id, esc ? esc : "", pl / 4 + 1)
                 : 0;
    free(esc);
    free(prompt);
    return n > 0 ? (size_t)n : 0;
}

/* Sends body as m->chunks chunks spread over ms milliseconds. */
static int send_stream(const struct mock *m, int fd, const char *body, size_t len, double ms,
                       int ka)
{
    char head[256];
    int hl = snprintf(head, sizeof head,
                      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                      "Transfer-Encoding: chunked\r\nConnection: %s\r\n\r\n",
                      ka ? "keep-alive" : "close");
    if (chim_write_all(fd, head, (size_t)hl) < 0)
        return -1;
    size_t step = len / (size_t)m->chunks + 1;
    for (size_t off = 0; off < len; off += step) {
        size_t n = len - off < step ? len - off : step;
        char sz[32];
        int sl = snprintf(sz, sizeof sz, "%zx\r\n", n);
        sleep_ms(ms / m->chunks);
        if (chim_write_all(fd, sz, (size_t)sl) < 0 || chim_write_all(fd, body + off, n) < 0 ||
            chim_write_all(fd, "\r\n", 2) < 0)
            return -1;
    }
    return chim_write_all(fd, "0\r\n\r\n", 5);
}

static int handle(void *ctx, int fd, const struct chim_http_req *rq)
{
    struct mock *m = ctx;
    if (!strcmp(rq->path, "/health"))
        return chim_http_reply(fd, 200, NULL, NULL, "{\"status\":\"ok\"}", 15, rq->keep_alive);
    if (strcmp(rq->method, "POST") != 0)
        return chim_http_reply(fd, 405, NULL, NULL, "{\"error\":\"POST only\"}", 21,
                               rq->keep_alive);
    unsigned long id = atomic_fetch_add(&m->served, 1) + 1;
    double ms = draw_latency_ms(m);
    if (rng_unit(m) < m->error_rate) {
        sleep_ms(ms);
        return chim_http_reply(fd, 500, NULL, NULL, "{\"error\":\"mock provider failure\"}", 34,
                               rq->keep_alive);
    }
    char *body = NULL;
    size_t len = completion(rq, id, &body);
    int rc;
    if (m->stream) {
        rc = send_stream(m, fd, body, len, ms, rq->keep_alive);
    } else {
        sleep_ms(ms);
        rc = chim_http_reply(fd, 200, NULL, NULL, body, len, rq->keep_alive);
    }
    free(body);
    return rc;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: chim-mockllm [--listen HOST:PORT] [--threads N] [--median-ms M]\n"
                 "                    [--p95-ms P] [--error-rate F] [--stream] [--chunks N]\n"
                 "                    [--seed N]\n"
                 "  A mock LLM provider: any POST gets a JSON completion after a lognormal\n"
                 "  latency (median M, P95 P). Defaults: 127.0.0.1:8002, 32 threads,\n"
                 "  median 40 ms, P95 120 ms, error rate 0, 4 chunks when streaming.\n");
}

struct cli {
    char host[64];
    int port;
    long threads;
    double median, p95;
};

/* Parses one option (and its value); 0, 1 for --help, or 2 on error. */
static int parse_opt(struct cli *c, struct mock *m, int argc, char **argv, int *i)
{
    const char *a = argv[*i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help"))
        return 1;
    if (!strcmp(a, "--stream")) {
        m->stream = 1;
        return 0;
    }
    if (*i + 1 >= argc) {
        fprintf(stderr, "chim-mockllm: unknown option or missing value: '%s'\n", a);
        return 2;
    }
    const char *v = argv[++*i];
    long l;
    int bad = 0;
    if (!strcmp(a, "--listen"))
        bad = chim_parse_hostport(v, c->host, sizeof c->host, &c->port);
    else if (!strcmp(a, "--threads"))
        bad = chim_parse_long(v, 1, 1024, &c->threads);
    else if (!strcmp(a, "--median-ms"))
        bad = chim_parse_double(v, 0.001, 600000, &c->median);
    else if (!strcmp(a, "--p95-ms"))
        bad = chim_parse_double(v, 0.001, 600000, &c->p95);
    else if (!strcmp(a, "--error-rate"))
        bad = chim_parse_double(v, 0, 1, &m->error_rate);
    else if (!strcmp(a, "--chunks"))
        bad = chim_parse_long(v, 1, 64, &l), m->chunks = (int)l;
    else if (!strcmp(a, "--seed"))
        bad = chim_parse_long(v, 0, 0x7fffffffl, &l), m->seed = (uint64_t)l;
    else {
        fprintf(stderr, "chim-mockllm: unknown option '%s' (try --help)\n", a);
        return 2;
    }
    if (bad)
        fprintf(stderr, "chim-mockllm: invalid value for %s: '%s'\n", a, v);
    return bad ? 2 : 0;
}

int main(int argc, char **argv)
{
    struct cli c = {.host = "127.0.0.1", .port = 8002, .threads = 32, .median = 40, .p95 = 120};
    static struct mock m = {.chunks = 4, .seed = 42};
    for (int i = 1; i < argc; i++) {
        int rc = parse_opt(&c, &m, argc, argv, &i);
        if (rc) {
            usage(rc == 1 ? stdout : stderr);
            return rc == 1 ? 0 : 2;
        }
    }
    if (c.p95 < c.median) {
        fprintf(stderr, "chim-mockllm: --p95-ms (%g) must be >= --median-ms (%g)\n", c.p95,
                c.median);
        return 2;
    }
    m.mu = log(c.median);
    m.sigma = log(c.p95 / c.median) / 1.645;
    struct chim_httpd_opts o = {.name = "chim-mockllm",
                                .host = c.host,
                                .port = c.port,
                                .threads = (int)c.threads,
                                .handler = handle,
                                .ctx = &m};
    return chim_httpd_run(&o);
}
