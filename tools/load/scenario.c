/*
 * scenario.c - the request mixes of the load generator, named as in the
 * seed suite: "api" (health, transform and generate), "llm" (generate, with
 * a share of prompts repeated from a small set so the response cache can
 * hit), plus "health" and "transform" alone for throughput comparisons.
 * Requests are built into a caller buffer: no allocation per request.
 */
#include <stdio.h>
#include <string.h>

#include "load_int.h"

static const struct chim__route health = {"GET", "/health", "GET /health"};
static const struct chim__route transform = {"POST", "/api/v1/transform", "POST /api/v1/transform"};
static const struct chim__route generate = {"POST", "/api/v1/generate", "POST /api/v1/generate"};

static const struct chim__scenario scenarios[] = {
    {"api", 3, {&health, &transform, &generate}, {20, 40, 40}},
    {"llm", 1, {&generate}, {100}},
    {"health", 1, {&health}, {100}},
    {"transform", 1, {&transform}, {100}},
};

/* Topics of the repeated prompts: a small set, so repeats hit the cache. */
#define REPEATED 16

const struct chim__scenario *chim__scenario_find(const char *name)
{
    for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++)
        if (!strcmp(scenarios[i].name, name))
            return &scenarios[i];
    return NULL;
}

uint64_t chim__rand(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1Dull;
}

int chim__scenario_pick(const struct chim__scenario *sc, uint64_t *rng)
{
    int x = (int)(chim__rand(rng) % 100);
    for (int i = 0; i < sc->nroutes; i++) {
        if (x < sc->weight[i])
            return i;
        x -= sc->weight[i];
    }
    return sc->nroutes - 1;
}

/* The prompt of a generate request: repeated with repeat_share, else unique. */
static int prompt_of(const struct chim_load_opts *o, uint64_t *rng, char *p, size_t cap)
{
    double u = (double)(chim__rand(rng) >> 11) / 9007199254740992.0;
    if (u < o->repeat_share)
        return snprintf(p, cap, "Summarize the quarterly performance report, section %d",
                        (int)(chim__rand(rng) % REPEATED));
    return snprintf(p, cap, "Explain request %016llx in one paragraph",
                    (unsigned long long)chim__rand(rng));
}

/* Fills body with payload_bytes of text (letters, spaces, a few digits). */
static size_t text_body(const struct chim_load_opts *o, uint64_t *rng, char *b, size_t cap)
{
    static const char alphabet[] = "the Quick brown FOX jumps over 13 lazy dogs ";
    size_t n = (size_t)o->payload_bytes < cap ? (size_t)o->payload_bytes : cap;
    size_t off = chim__rand(rng) % (sizeof alphabet - 1);
    for (size_t i = 0; i < n; i++)
        b[i] = alphabet[(off + i) % (sizeof alphabet - 1)];
    return n;
}

size_t chim__request_build(const struct chim__scenario *sc, int ri, const char *hostport,
                           const struct chim_load_opts *o, uint64_t *rng, char *buf, size_t cap)
{
    const struct chim__route *r = sc->routes[ri];
    char body[70000];
    size_t bl = 0;
    if (r == &generate) {
        char p[128];
        prompt_of(o, rng, p, sizeof p);
        bl = (size_t)snprintf(body, sizeof body, "{\"prompt\":\"%s\",\"max_tokens\":64}", p);
    } else if (r == &transform) {
        bl = text_body(o, rng, body, sizeof body);
    }
    int n = snprintf(buf, cap, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: chim-load\r\n", r->method,
                     r->path, hostport);
    if (n < 0 || (size_t)n >= cap)
        return 0;
    int m = bl || r != &health ? snprintf(buf + n, cap - (size_t)n,
                                          "Content-Type: %s\r\nContent-Length: %zu\r\n\r\n",
                                          r == &generate ? "application/json" : "text/plain", bl)
                               : snprintf(buf + n, cap - (size_t)n, "\r\n");
    if (m < 0 || (size_t)(n + m) + bl > cap)
        return 0;
    memcpy(buf + n + m, body, bl);
    return (size_t)(n + m) + bl;
}
