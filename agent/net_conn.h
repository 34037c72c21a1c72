/*
 * net_conn.h - the request tracker's internal types: descriptor entries,
 * connection states (one protocol parser each), entry keys and settings.
 */
#ifndef CHIM_NET_CONN_H
#define CHIM_NET_CONN_H

#include <sys/socket.h>

#include "agent.h"
#include "net_track.h"
#include "proto_http.h"
#include "proto_memcache.h"
#include "proto_resp.h"

/* fd table entry: 8 bytes. */
struct chim_fdent {
    uint8_t kind; /* enum chim_fd_kind */
    uint8_t reserved[3];
    uint32_t conn; /* connection id (pool index + 1), 0 none */
};

/* Protocol of a connection, decided from its first bytes. */
/* CONN_LOST: HTTP whose framing was lost; taken up again at the next
 * request that starts a buffer on the request side. */
enum {
    CONN_UNDECIDED = 0,
    CONN_HTTP,
    CONN_REDIS,
    CONN_MEMCACHED,
    CONN_TURNS,
    CONN_OPAQUE,
    CONN_LOST
};

struct chim_conn {
    uint32_t next_free;  /* pool free list */
    uint32_t lock;       /* try-lock */
    uint8_t kind;        /* CHIM_FD_IN / CHIM_FD_OUT */
    uint8_t proto;       /* CONN_* */
    uint8_t turn_dir;    /* CONN_TURNS: direction of the current burst */
    uint8_t refs;        /* descriptors of this connection beyond the first (dup) */
    uint8_t inherited;   /* fork child: the parent's, untouched here since the fork */
    uint32_t alloc_tid;  /* inbound: thread that read the request */
    uint64_t alloc_mark; /* inbound: that thread's bytes_allocated then */
    uint64_t turn_first; /* CONN_TURNS: first byte of the request burst */
    uint64_t turn_resp_last;
    uint64_t sock_ino; /* adopted sockets: the socket's inode (another descriptor of it shares) */
    /* Bytes not yet added to the process counters: flushed once a second,
     * at 64 KiB, and at close (one atomic add instead of one per call). */
    uint64_t pend_in, pend_out, flush_sec;
    char peer[CHIM_PEER_MAX];
    /* The route entry of this connection's last request, reused while the
     * method, path, status class and cache state repeat (keep-alive clients
     * usually ask for the same route): valid for segment generation seg_gen. */
    struct chim_net_entry *last_entry;
    uint32_t last_gen;
    uint16_t last_sc;
    uint8_t last_cache;
    const char *last_method; /* a constant of the parser (proto_http.h) */
    char last_path[CHIM_HTTP_PATH_MAX];
    union {
        struct chim_http_conn http;
        struct chim_resp_conn resp;
        struct chim_mc_conn mc;
    } p;
};

/* Key of a route or peer entry (see shm_net.h). */
struct chim_net_key {
    const char *method, *name, *host;
    uint16_t status_class;
    uint8_t cache, proto;
};

#define CHIM_ROUTE_TEMPLATES_MAX 32

/* Settings read once at load (CHIM_NET, CHIM_ROUTES, CHIM_MAX_ROUTES, ...). */
struct chim_net_cfg {
    uint32_t route_entries; /* section size */
    uint32_t max_routes;    /* distinct route templates before {other} */
    uint32_t max_conns;     /* connection pool */
    char routes_spec[1024]; /* CHIM_ROUTES, parsed by route.c */
};

extern struct chim_net_cfg chim__net_cfg;

/* net_fdtab.c */
#define CHIM_FD_CHUNK_BITS 12
#define CHIM_FD_CHUNK      (1u << CHIM_FD_CHUNK_BITS)
#define CHIM_FD_CHUNKS     1024 /* up to 4 M descriptors */
extern struct chim_fdent *chim__fd_chunks[CHIM_FD_CHUNKS];
extern struct chim_conn *chim__conn_pool;
extern uint32_t chim__conn_pool_size;
extern uint32_t chim__conn_pool_hi;
/* Maps the chunk of fd on first use; NULL when fd is out of range. */
struct chim_fdent *chim__fdent_slow(int fd);
int chim__conn_pool_init(uint32_t n);
uint32_t chim__conn_alloc(void);
void chim__conn_free(uint32_t id);

/* Entry of fd (create: map its chunk if needed), inline for the hooks. */
static inline struct chim_fdent *chim__fdent(int fd, int create)
{
    if ((unsigned)fd < CHIM_FD_CHUNK * CHIM_FD_CHUNKS) {
        struct chim_fdent *ch =
            __atomic_load_n(&chim__fd_chunks[(unsigned)fd >> CHIM_FD_CHUNK_BITS], __ATOMIC_ACQUIRE);
        if (CHIM_LIKELY(ch != NULL))
            return &ch[fd & (CHIM_FD_CHUNK - 1)];
    }
    return create ? chim__fdent_slow(fd) : NULL;
}

static inline struct chim_conn *chim__conn_get(uint32_t id)
{
    return id && id <= chim__conn_pool_size ? &chim__conn_pool[id - 1] : NULL;
}

static inline int chim__conn_trylock(struct chim_conn *c)
{
    /* One thread: only a signal handler can interleave, and it runs to
     * completion, so a plain test-and-set is enough. */
    if (!__atomic_load_n(&chim__many_threads, __ATOMIC_RELAXED)) {
        if (__atomic_load_n(&c->lock, __ATOMIC_RELAXED))
            return 0;
        __atomic_store_n(&c->lock, 1, __ATOMIC_RELAXED);
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        return 1;
    }
    return !__atomic_exchange_n(&c->lock, 1, __ATOMIC_ACQUIRE);
}

static inline void chim__conn_unlock(struct chim_conn *c)
{
    __atomic_store_n(&c->lock, 0, __ATOMIC_RELEASE);
}
void chim__conn_pool_after_fork(void);
/* The role of a TCP socket first seen in mid-life (CHIM_FD_IN, CHIM_FD_OUT
 * or CHIM_FD_IGNORED); first_dir: the direction of its first bytes
 * (CHIM_NET_IN/OUT, -1 unknown), used when the ports do not tell. */
int chim__classify(int fd, struct sockaddr_storage *peer, int first_dir);

/* net_tables.c */
static inline struct chim_net_stats *chim__net_stats(void)
{
    return chim__sec_base[CHIM_SEC_NET];
}
struct chim_net_entry *chim__net_entry(uint32_t kind, const struct chim_net_key *k);
static inline void chim__net_count(uint64_t *field, uint64_t v)
{
    if (field)
        chim__shared_add(field, v);
}
void chim__net_final_tick(void);
extern uint64_t chim__net_sec;

#endif
