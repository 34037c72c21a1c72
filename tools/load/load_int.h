/*
 * load_int.h - internals of chim_load shared between its files: the
 * log-linear latency histogram (hist.c), the scenario request builder
 * (scenario.c) and the engine (engine.c). Not installed, not public.
 */
#ifndef CHIM_LOAD_INT_H
#define CHIM_LOAD_INT_H

#include <stddef.h>
#include <stdint.h>

#include "chim_load.h"

/* Log-linear histogram of microseconds: values below 128 exact, then each
 * power of two split into 64 linear sub-buckets (<= 1.6 % error), up to
 * 2^36 us. Merging is adding counts. */
#define CHIM__LH_SUB     64
#define CHIM__LH_MAXEXP  36
#define CHIM__LH_BUCKETS (128 + (CHIM__LH_MAXEXP - 7 + 1) * CHIM__LH_SUB)

struct chim__lhist {
    uint64_t counts[CHIM__LH_BUCKETS];
    uint64_t total, max, sum;
};

void chim__lhist_record(struct chim__lhist *h, uint64_t us);
/* The highest value equivalent to the q-quantile (0 <= q <= 1), in us. */
uint64_t chim__lhist_quantile(const struct chim__lhist *h, double q);

/* One route a scenario can request. */
struct chim__route {
    const char *method, *path, *name;
};

/* A scenario: its routes and weights (summing to 100). */
struct chim__scenario {
    const char *name;
    int nroutes;
    const struct chim__route *routes[4];
    int weight[4];
};

const struct chim__scenario *chim__scenario_find(const char *name);

/* xorshift64* step. */
uint64_t chim__rand(uint64_t *s);

/* Picks the route index of the next request of scenario sc. */
int chim__scenario_pick(const struct chim__scenario *sc, uint64_t *rng);

/* Writes the next request for route ri into buf (cap bytes); returns its
 * length, or 0 if it does not fit. hostport is the Host header value. */
size_t chim__request_build(const struct chim__scenario *sc, int ri, const char *hostport,
                           const struct chim_load_opts *o, uint64_t *rng, char *buf, size_t cap);

#endif
