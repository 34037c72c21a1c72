/*
 * demo_work.c - what chim-demo's routes actually do: a CPU-bound text
 * transformation with malloc'd working buffers (so memory per request shows
 * up in the agent), its parallel batch form (the seed's parallel speedup),
 * and the call to the LLM provider over a real keep-alive TCP connection.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "demo.h"
#include "httpd.h"

/* One round: toggle ASCII case into dst, reversing, and hash the result. */
static uint64_t round_once(const char *src, char *dst, size_t n, uint64_t h)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)src[n - 1 - i];
        if (c >= 'a' && c <= 'z')
            c = (unsigned char)(c - 32);
        else if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c + 32);
        dst[i] = (char)c;
        h = (h ^ c) * 0x100000001b3ull;
    }
    return h;
}

uint64_t demo_transform(const char *in, size_t n, long rounds)
{
    uint64_t h = 0xcbf29ce484222325ull;
    char *a = malloc(n + 1), *b = malloc(n + 1);
    if (!a || !b) {
        free(a);
        free(b);
        return 0;
    }
    memcpy(a, in, n);
    for (long r = 0; r < rounds; r++) {
        h = round_once(a, b, n, h);
        char *t = a;
        a = b;
        b = t;
    }
    free(a);
    free(b);
    return h;
}

struct batch {
    const char **lines;
    size_t *lens;
    size_t n;
    long rounds;
    atomic_size_t next;
    atomic_ullong hash; /* xor of item hashes: order-independent */
};

static void *batch_worker(void *arg)
{
    struct batch *b = arg;
    size_t i;
    while ((i = atomic_fetch_add(&b->next, 1)) < b->n)
        atomic_fetch_xor(&b->hash, demo_transform(b->lines[i], b->lens[i], b->rounds));
    return NULL;
}

/* Splits body into non-empty lines; returns the count (arrays malloc'd). */
static size_t split_lines(const char *body, size_t n, const char ***lines, size_t **lens)
{
    size_t cap = 1;
    for (size_t i = 0; i < n; i++)
        cap += body[i] == '\n';
    *lines = malloc(cap * sizeof **lines);
    *lens = malloc(cap * sizeof **lens);
    if (!*lines || !*lens)
        return 0;
    size_t k = 0;
    for (size_t s = 0, i = 0; i <= n; i++) {
        if (i < n && body[i] != '\n')
            continue;
        if (i > s) {
            (*lines)[k] = body + s;
            (*lens)[k++] = i - s;
        }
        s = i + 1;
    }
    return k;
}

uint64_t demo_transform_batch(const char *body, size_t n, long rounds, int nthreads, size_t *items)
{
    struct batch b = {.rounds = rounds};
    b.n = split_lines(body, n, &b.lines, &b.lens);
    pthread_t tids[64];
    int started = 0;
    for (; started < nthreads - 1 && started < 64; started++)
        if (pthread_create(&tids[started], NULL, batch_worker, &b) != 0)
            break;
    batch_worker(&b); /* the request's own thread works too */
    for (int i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    free(b.lines);
    free(b.lens);
    *items = b.n;
    return atomic_load(&b.hash);
}

/* ---- the LLM provider call ---- */

static _Thread_local int llm_fd = -1;

static char *llm_request(struct demo *d, const char *prompt, size_t plen, size_t *len)
{
    char *esc = malloc(6 * plen + 1);
    if (!esc)
        return NULL;
    chim_json_escape(esc, prompt, plen);
    size_t cap = strlen(esc) + 512;
    char *req = malloc(cap);
    if (req) {
        char body[96];
        int bl = snprintf(body, sizeof body, "{\"model\":\"chim-mock\",\"max_tokens\":64,");
        int n = snprintf(req, cap,
                         "POST /v1/completions HTTP/1.1\r\nHost: %s:%d\r\n"
                         "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n"
                         "%s\"prompt\":\"%s\"}",
                         d->llm_host, d->llm_port, (size_t)bl + strlen(esc) + 12, body, esc);
        *len = (size_t)n;
    }
    free(esc);
    return req;
}

/* Sends req and reads the response, reconnecting once if a kept-alive
 * connection turns out to be closed. 0 or -1 (reason in err). */
static int llm_roundtrip(struct demo *d, const char *req, size_t len, struct chim_http_resp *r,
                         char *err, size_t errlen)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        int reused = llm_fd >= 0;
        if (llm_fd < 0)
            llm_fd = chim_tcp_connect(d->llm_host, d->llm_port);
        if (llm_fd < 0) {
            snprintf(err, errlen, "cannot connect to %s:%d: %s", d->llm_host, d->llm_port,
                     strerror(-llm_fd));
            return -1;
        }
        if (chim_write_all(llm_fd, req, len) == 0 && chim_http_client_read(llm_fd, r) == 0) {
            if (!r->keep_alive) {
                close(llm_fd);
                llm_fd = -1;
            }
            return 0;
        }
        close(llm_fd);
        llm_fd = -1;
        if (!reused)
            break;
    }
    snprintf(err, errlen, "no response from %s:%d", d->llm_host, d->llm_port);
    return -1;
}

char *demo_llm_complete(struct demo *d, const char *prompt, size_t plen, size_t *tlen, char *err,
                        size_t errlen)
{
    size_t len = 0;
    char *req = llm_request(d, prompt, plen, &len);
    struct chim_http_resp r = {0};
    char *text = NULL;
    atomic_fetch_add(&d->llm_calls, 1);
    if (!req) {
        snprintf(err, errlen, "out of memory");
    } else if (llm_roundtrip(d, req, len, &r, err, errlen) == 0) {
        if (r.status != 200)
            snprintf(err, errlen, "provider answered %d", r.status);
        else if (!(text = chim_json_get_string(r.body, r.body_len, "text", tlen)))
            snprintf(err, errlen, "provider answer has no text");
    }
    if (!text)
        atomic_fetch_add(&d->llm_errors, 1);
    free(r.body);
    free(req);
    return text;
}
