/*
 * metrics.h - the exporter model: what `chimcollect serve`, `export` and
 * `top` publish, built once from a set of segments and written out as
 * Prometheus text 0.0.4, OpenMetrics 1.0 or OTLP/JSON.
 *
 * Why a model of its own (and not the report's cJSON tree): metrics must be
 * exact and stable from scrape to scrape. Every series is identified by the
 * process (pid, exe basename) and a few bounded labels; entries that map to
 * the same series (two threads claiming one route, X-Cache variants, names
 * that sanitize to the same UTF-8 text) are merged before anything is
 * written, so a series never appears twice. Latency histograms are folded
 * from our log-linear buckets into a fixed set of classic cumulative buckets
 * whose bounds fall on our bucket edges, so every count is exact
 * (docs/FLEET.md lists the set). Segments are untrusted: strings are
 * terminated inside their fields and sanitized, counts are read as they are.
 */
#ifndef CHIM_METRICS_H
#define CHIM_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "chim/hist.h"
#include "chim/shm_net.h"
#include "segment.h"

/* Bucket upper bounds in microseconds (le = bound / 1e6 seconds); +Inf is
 * implicit. Each bound has at most 8 significant bits, hence is the lowest
 * value of one of our histogram's buckets. */
#define CHIM_METRICS_NBOUNDS 20
extern const uint64_t chim_metrics_bounds_us[CHIM_METRICS_NBOUNDS];

/* Default grace period: series of a gone process stay this long. */
#define CHIM_METRICS_GRACE_S  300
#define CHIM_METRICS_LEAK_TOP 10

/* A classic histogram: cumulative counts at each bound, then +Inf. */
struct chim_metrics_hist {
    uint64_t cum[CHIM_METRICS_NBOUNDS + 1]; /* cum[NBOUNDS] = count */
    uint64_t sum_us;
    uint64_t max_us;
    struct chim_hist *full; /* the merged log-linear histogram (opts.full_hist) */
};

/* One inbound series key: method, route, status class ("1xx".."5xx"). */
struct chim_metrics_route {
    char method[CHIM_METHOD_MAX];
    char route[CHIM_ROUTE_MAX]; /* sanitized */
    char status_class[8];
    uint64_t count, errors, hits, misses;
    struct chim_metrics_hist lat;
};

/* One outbound series key: peer ("addr:port") and protocol. */
struct chim_metrics_peer {
    char peer[CHIM_ROUTE_MAX];
    const char *protocol; /* "tcp", "http", "redis", "memcached" */
    uint64_t count, errors, hits, misses;
    struct chim_metrics_hist lat;
};

/* The peer's hits and misses are wire-level cache lookups (Redis,
 * memcached replies): an HTTP upstream's come from its X-Cache header and
 * are not exported as lookups. */
static inline int chim_metrics_peer_lookups(const struct chim_metrics_peer *x)
{
    return (x->hits || x->misses) && strcmp(x->protocol, "http") != 0;
}

/* A leak site among the top N (by live bytes) of the leak analysis. */
struct chim_metrics_site {
    uint32_t pid;
    char site[160]; /* "function (file:line)", sanitized */
    double live_bytes, growth_bytes_per_s;
};

struct chim_metrics_proc {
    uint32_t pid;
    char pid_s[16];
    char exe[CHIM_EXE_MAX]; /* basename, sanitized */
    enum chim_seg_state state;
    int running;
    uint64_t start_time_ns, gone_ns; /* gone_ns: 0 while running */
    struct chim_mem_summary mem;
    int have_net, have_series;
    struct chim_net_stats net;
    uint64_t cpu_user_us, cpu_sys_us, rss_bytes;
    uint64_t last_t_sec;               /* newest series point */
    uint64_t dropped;                  /* agent events lost */
    struct chim_metrics_route *routes; /* sorted by method, route, class */
    struct chim_metrics_peer *peers;   /* sorted by peer, protocol */
    size_t nroutes, npeers;
};

struct chim_metrics {
    uint64_t now_ns;
    struct chim_metrics_proc *procs; /* sorted by pid, then start time */
    size_t nprocs;
    size_t expired; /* segments of gone processes past the grace period */
    size_t skipped; /* segments that failed validation */
    int leaks_present;
    struct chim_metrics_site *sites;
    size_t nsites;
};

/* When a gone process was first known to be gone (serve remembers the
 * moment it noticed); returning 0 means "use the segment's own times". */
typedef uint64_t (*chim_metrics_gone_fn)(void *ctx, const struct chim_seg *seg);

struct chim_metrics_opts {
    uint64_t now_ns; /* 0: the current time */
    double grace_s;  /* < 0: CHIM_METRICS_GRACE_S */
    int leak_top;    /* leak sites exported; 0: none */
    int full_hist;   /* keep the merged log-linear histograms (top) */
    long pid;        /* > 0: this process only */
    chim_metrics_gone_fn gone_since;
    /* A segment the caller has exported before: load it even if its header
     * says it ended before the grace period (serve counts grace from the
     * moment it saw the process gone). */
    int (*known)(void *ctx, const char *path);
    void *gone_ctx; /* for gone_since and known */
};

/* Loads the segments of dir (NULL: the default) like chim_seg_load_dir,
 * copying only their data extents, and leaving out those whose process
 * ended before the grace period of `o` (NULL: none left out; counted in
 * *long_gone). 0 or a negative errno if the directory cannot be read. */
int chim_metrics_load_dir(const char *dir, const struct chim_metrics_opts *o,
                          struct chim_seg_set *set, size_t *long_gone, FILE *warn);
/* Fills `o` with the defaults above. */
void chim_metrics_opts_init(struct chim_metrics_opts *o);
/* Builds the model of a loaded set. Returns NULL only when out of memory. */
struct chim_metrics *chim_metrics_build(const struct chim_seg_set *set,
                                        const struct chim_metrics_opts *opts);
void chim_metrics_free(struct chim_metrics *m);

enum chim_metrics_format {
    CHIM_METRICS_PROMETHEUS = 0, /* text/plain; version=0.0.4 */
    CHIM_METRICS_OPENMETRICS = 1,
    CHIM_METRICS_OTLP_JSON = 2,
};
/* Content type of a format, for HTTP. */
const char *chim_metrics_content_type(enum chim_metrics_format f);
/* The format a scraper's Accept header asks for: OpenMetrics when it lists
 * application/openmetrics-text with a quality at least that of text/plain
 * (or of a wildcard); else Prometheus text. NULL: Prometheus text. */
enum chim_metrics_format chim_metrics_negotiate(const char *accept);
/* Writes the model. Returns 0 or a negative errno (write error). */
int chim_metrics_write(const struct chim_metrics *m, enum chim_metrics_format f, FILE *out);

/* ---- exposed for the unit tests and top ---------------------------------- */

/* Folds a log-linear histogram into the classic buckets (adds to `out`). */
void chim_metrics_fold(struct chim_metrics_hist *out, const struct chim_hist *h);
/* Copies `n` untrusted bytes (stopping at NUL) into dst as valid UTF-8:
 * invalid bytes and control characters become '?'. Always terminates. */
void chim_metrics_sanitize(char *dst, size_t dstlen, const char *src, size_t n);
/* Writes a label value with the exposition escapes (\\, \", \n). */
void chim_metrics_escape(FILE *out, const char *v);
/* le value of bound i ("0.0001", "1.024"; i == NBOUNDS: "+Inf") into buf. */
const char *chim_metrics_le(size_t i, char *buf, size_t n);
/* Checks exposition text: every histogram's buckets non-decreasing with
 * +Inf == _count, no series line twice, one TYPE per family. Returns the
 * number of problems and describes the first in `why`. */
int chim_metrics_check_text(const char *text, char *why, size_t whylen);

#endif
