/*
 * demo.h - shared state of chim-demo, the stand-in for the seed's backend:
 * its configuration, its counters (served on GET /stats so tests can check
 * the load generator against what the server really served), and the work
 * the routes do (demo_work.c).
 */
#ifndef CHIM_TOOLS_DEMO_H
#define CHIM_TOOLS_DEMO_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "demo_cache.h"

struct demo {
    char llm_host[64];
    int llm_port;
    long transform_cost; /* rounds per transformation */
    long batch_threads;
    long cache_size;
    char leak_route[256];
    long leak_bytes;
    struct demo_cache *cache;
    /* counters: every request except GET /stats */
    atomic_ulong requests, health, generate, transform, batch, other;
    atomic_ulong cache_hits, cache_misses, llm_calls, llm_errors, errors_5xx, leaked;
};

/* Runs rounds of case-folding + reversing + hashing over in[0..n) using
 * malloc'd working buffers; returns the final hash. */
uint64_t demo_transform(const char *in, size_t n, long rounds);

/* Transforms each line of body on nthreads threads; sets *items and
 * returns the combined hash. */
uint64_t demo_transform_batch(const char *body, size_t n, long rounds, int nthreads, size_t *items);

/* Asks the LLM provider for a completion of prompt on this thread's
 * keep-alive connection. Returns the malloc'd completion text, or NULL with
 * a short reason in err. */
char *demo_llm_complete(struct demo *d, const char *prompt, size_t plen, size_t *tlen, char *err,
                        size_t errlen);

#endif
