/*
 * shm_net.h - the request-capture sections of the segment: process-wide
 * network counters, inbound route entries, outbound peer entries and a
 * per-second time series. Part of the segment ABI (include/chim/shm.h):
 * fixed-width fields, no pointers, sizes asserted; docs/SHM_FORMAT.md.
 *
 * Route and peer entries are claimed once (CAS on `state`) and then updated
 * with relaxed atomics by any thread; the key fields are written before
 * `state` becomes READY, so a reader ignores entries that are not READY.
 */
#ifndef CHIM_SHM_NET_H
#define CHIM_SHM_NET_H

#include <stdint.h>

#include "chim/hist.h"

#define CHIM_ROUTE_MAX     96 /* bytes of a route template, NUL included */
#define CHIM_METHOD_MAX    16
#define CHIM_PEER_MAX      64 /* "address:port" */
#define CHIM_HOST_MAX      64
#define CHIM_SERIES_LEN    600 /* seconds kept in the ring */
#define CHIM_ROUTE_ENTRIES 256 /* default; CHIM_MAX_ROUTES caps distinct routes */
#define CHIM_PEER_ENTRIES  64

enum chim_entry_state { CHIM_ENTRY_FREE = 0, CHIM_ENTRY_CLAIMED = 1, CHIM_ENTRY_READY = 2 };

enum chim_cache_state { CHIM_CACHE_NONE = 0, CHIM_CACHE_HIT = 1, CHIM_CACHE_MISS = 2 };

enum chim_proto {
    CHIM_PROTO_TCP = 0, /* request/response turns of an unknown protocol */
    CHIM_PROTO_HTTP = 1,
    CHIM_PROTO_REDIS = 2,
    CHIM_PROTO_MEMCACHED = 3,
};

/* Process-wide counters (section CHIM_SEC_NET, one element). */
struct chim_net_stats {
    uint64_t bytes_in, bytes_out; /* on tracked TCP sockets */
    uint64_t accepted, connected; /* connections seen opened */
    uint64_t adopted;             /* sockets classified on first use */
    uint64_t requests, errors;    /* inbound HTTP exchanges, 5xx */
    uint64_t upstream_calls, upstream_errors;
    uint64_t framing_errors;    /* connections whose framing was lost */
    uint64_t dropped_conns;     /* no connection state left */
    uint64_t dropped_routes;    /* route table full */
    uint64_t dropped_peers;     /* peer table full */
    uint64_t contended;         /* two threads on one connection at once */
    uint64_t pipeline_overflow; /* requests beyond the pipeline depth */
    uint64_t tls_conns;         /* TLS seen on a socket: plaintext invisible */
    uint64_t io_uring;          /* io_uring_setup calls: I/O invisible */
    uint64_t upgraded;          /* 101 / CONNECT: tracking ended */
    uint64_t first_ns, last_ns; /* CLOCK_REALTIME of first and last request */
    uint64_t route_overflow;    /* requests counted under {other} */
    uint64_t client_errors;     /* inbound HTTP exchanges answered 4xx (0 from older agents) */
    uint64_t last_tick_sec;     /* CLOCK_REALTIME second of the last socket event's tick */
    /* Since the fourteenth session (0 from older agents): */
    uint64_t unanswered;      /* inbound requests the connection ended without answering */
    uint64_t truncated;       /* inbound responses cut short by the connection's end */
    uint64_t orphans;         /* responses or replies that no request was pending for */
    uint64_t upstream_failed; /* outbound calls whose reply never came whole (closed, reset) */
    uint64_t stdio_sockets;   /* TCP sockets wrapped in stdio streams (fdopen): not followed */
    uint64_t reserved[4];
};

/* One inbound (method, route, status class, cache state) or one outbound
 * (peer, protocol) entry (sections CHIM_SEC_ROUTES, CHIM_SEC_PEERS). */
struct chim_net_entry {
    uint32_t state;        /* enum chim_entry_state */
    uint32_t hash;         /* of the key, for lookup */
    uint16_t status_class; /* 1..5 (inbound), 0 outbound */
    uint8_t cache;         /* enum chim_cache_state (inbound) */
    uint8_t proto;         /* enum chim_proto */
    uint32_t reserved0;
    char method[CHIM_METHOD_MAX];
    char name[CHIM_ROUTE_MAX]; /* route template, or peer "addr:port" */
    char host[CHIM_HOST_MAX];  /* outbound HTTP: Host header */
    uint64_t count;
    uint64_t errors;        /* inbound: 5xx; outbound: error replies, 5xx */
    uint64_t hits, misses;  /* outbound cache replies; inbound X-Cache */
    uint64_t alloc_bytes;   /* inbound: bytes allocated while serving */
    uint64_t alloc_samples; /* requests whose allocations were charged */
    uint64_t ttfb_us_sum;   /* inbound: first response byte - first request byte */
    uint64_t client_errors; /* outbound HTTP: 4xx replies (inbound: in status_class 4) */
    uint64_t failed;        /* outbound: calls whose reply never came whole (0 before 14th) */
    uint64_t reserved[3];
    struct chim_hist latency; /* microseconds */
};

/* One second of the time series (section CHIM_SEC_SERIES, a ring): the
 * cumulative values at the end of that second; deltas are the reader's. */
struct chim_series_point {
    uint64_t t_sec; /* CLOCK_REALTIME seconds; 0 = empty */
    uint64_t requests, errors, bytes_in, bytes_out;
    int64_t live_bytes;
    uint64_t rss_bytes;
    uint64_t cpu_user_us, cpu_sys_us;
    uint64_t sampled_sec; /* second live, RSS and CPU were read (0: t_sec, older agents) */
    uint64_t reserved[2];
};

_Static_assert(sizeof(struct chim_net_stats) == 8 * 32, "net stats size");
_Static_assert(sizeof(struct chim_net_entry) % 8 == 0, "entry alignment");
_Static_assert(sizeof(struct chim_net_entry) == 288 + sizeof(struct chim_hist), "entry size");
_Static_assert(sizeof(struct chim_series_point) == 96, "series point size");

#endif
