/*
 * chim_load.h - Chimera's HTTP load generator as a library (chim_load), used
 * by the standalone `chim-load` program and by `chimcollect load`, and meant
 * to be driven in-process by `chimcollect quick` / `full`.
 *
 * Method. One thread, one epoll set, one HTTP/1.1 keep-alive connection per
 * simulated user. In the default OPEN-LOOP mode every user has a fixed
 * schedule (rate R per second, users staggered evenly over one period) and
 * each request's latency is measured from its *scheduled* send time, not
 * from when it could actually be sent: when the server stalls, the requests
 * that should have gone out during the stall are charged the waiting time,
 * as in wrk2. This corrects coordinated omission, which makes closed-loop
 * generators understate tail latency. The CLOSED-LOOP mode (closed = 1)
 * sends the next request as soon as the previous answer arrives and
 * measures from the actual send; use it to find maximum throughput.
 *
 * Latencies go into log-linear histograms (about 1.6 % precision, 1 us
 * resolution) per route and overall.
 */
#ifndef CHIM_LOAD_H
#define CHIM_LOAD_H

#include <stdint.h>
#include <stdio.h>

#define CHIM_LOAD_MAX_ROUTES 8

/* What to run. Initialise with chim_load_opts_init(), then override. */
struct chim_load_opts {
    const char *target;   /* "http://HOST:PORT" (numeric IPv4 or localhost) */
    const char *scenario; /* "api" (health+transform+generate), "llm" (generate),
                             "health", "transform" */
    int users;            /* concurrent connections (PERF_CONCURRENT_USERS, 50) */
    double rate;          /* requests/s per user, open loop (PERF_REQUEST_RATE, 10) */
    double duration_s;    /* sending time (PERF_TEST_DURATION, 60) */
    int closed;           /* 1: closed loop, rate ignored */
    double repeat_share;  /* share of generate prompts drawn from a small repeated
                             set, so the cache can hit (0.9) */
    double timeout_s;     /* per-request timeout; counts as an error (10) */
    uint64_t seed;        /* request-mix and prompt choices (1) */
    int payload_bytes;    /* transform body size (512) */
    int progress;         /* -1 auto (stderr is a TTY), 0 off, 1 on */
    const char *prog;     /* prefix of error messages ("chim-load") */
};

/* Results of one route, or of all routes together. */
struct chim_load_stats {
    char route[48];        /* "GET /health", ..., or "all" */
    uint64_t count;        /* responses received, any status */
    uint64_t errors;       /* non-2xx/3xx responses + socket errors + timeouts */
    uint64_t cache_hits;   /* responses with X-Cache: HIT */
    uint64_t cache_misses; /* responses with X-Cache: MISS */
    double mean_ms, p50_ms, p90_ms, p95_ms, p99_ms, max_ms;
};

struct chim_load_result {
    char target[128];
    char scenario[16];
    int users;
    double rate;
    double duration_s;
    int closed;
    uint64_t sent;          /* requests written */
    uint64_t completed;     /* responses received (any status) */
    uint64_t errors;        /* status_errors + socket_errors + timeouts */
    uint64_t status_errors; /* responses not 2xx/3xx */
    uint64_t socket_errors; /* connect/read/write failures, malformed responses */
    uint64_t timeouts;      /* requests not answered within timeout_s */
    uint64_t unsent;        /* open loop: scheduled sends never issued (saturation) */
    double elapsed_s;       /* wall time from first send to last answer */
    double rps;             /* completed / elapsed_s */
    struct chim_load_stats overall;
    int nroutes;
    struct chim_load_stats routes[CHIM_LOAD_MAX_ROUTES];
    char error[256]; /* the one-line reason when chim_load_run fails */
};

/* Sets the defaults listed above. */
void chim_load_opts_init(struct chim_load_opts *o);

/* Applies PERF_CONCURRENT_USERS, PERF_REQUEST_RATE and PERF_TEST_DURATION.
 * Returns 0, or -EINVAL with a line naming the variable in err. */
int chim_load_opts_env(struct chim_load_opts *o, char *err, size_t errlen);

/* Runs the load. Returns 0 when the run took place (whatever its error
 * counts), -EINVAL for invalid options, or -errno when the target cannot be
 * reached at all (-ECONNREFUSED ...); r->error then holds one line such as
 * "cannot connect to 127.0.0.1:8001: Connection refused (ensure backend
 * services are running on port 8001)". r is always initialised. */
int chim_load_run(const struct chim_load_opts *o, struct chim_load_result *r);

/* The human summary: counts, rps, P50/P90/P95/P99/max per route and overall. */
void chim_load_print_text(const struct chim_load_result *r, FILE *out);

/* The same as one JSON object (keys documented in docs/TOOLS.md). */
void chim_load_print_json(const struct chim_load_result *r, FILE *out);

/* The command line shared by chim-load and `chimcollect load`; prog prefixes
 * messages. Returns the exit code: 0 ran, 2 usage error or target absent. */
int chim_load_main(int argc, char **argv, const char *prog);

#endif
