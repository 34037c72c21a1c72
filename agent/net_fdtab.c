/*
 * net_fdtab.c - descriptor table and connection pool of the request tracker.
 *
 * fd -> {kind, connection} lives in chunks of agent-owned memory mapped on
 * demand (no malloc): a lookup is two loads. Connection states (protocol
 * parser state, timestamps) come from a fixed pool mapped once; when it is
 * exhausted a socket is ignored and counted. Each connection has a try-lock:
 * two threads on one connection at once (rare) make the second give up on
 * that connection rather than wait, so a hook never blocks.
 */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include "agent.h"
#include "net_conn.h"

#define FD_CHUNK  CHIM_FD_CHUNK
#define FD_CHUNKS CHIM_FD_CHUNKS

struct chim_fdent *chim__fd_chunks[CHIM_FD_CHUNKS];
#define chunks chim__fd_chunks
struct chim_conn *chim__conn_pool;
uint32_t chim__conn_pool_size;
uint32_t chim__conn_pool_hi; /* the highest id ever handed out (the rest were never used) */
#define pool      chim__conn_pool
#define pool_size chim__conn_pool_size
static uint64_t free_head; /* tag << 32 | (index + 1); 0 = empty */

static void *map_zero(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

struct chim_fdent *chim__fdent_slow(int fd)
{
    if (fd < 0 || (unsigned)fd >= FD_CHUNK * FD_CHUNKS)
        return NULL;
    unsigned c = (unsigned)fd >> CHIM_FD_CHUNK_BITS;
    struct chim_fdent *ch = __atomic_load_n(&chunks[c], __ATOMIC_ACQUIRE);
    if (!ch) {
        struct chim_fdent *fresh = map_zero(FD_CHUNK * sizeof *fresh);
        if (!fresh)
            return NULL;
        if (!__atomic_compare_exchange_n(&chunks[c], &ch, fresh, 0, __ATOMIC_ACQ_REL,
                                         __ATOMIC_ACQUIRE))
            munmap(fresh, FD_CHUNK * sizeof *fresh); /* another thread won */
        else
            ch = fresh;
    }
    return &ch[fd & (FD_CHUNK - 1)];
}

int chim__conn_pool_init(uint32_t n)
{
    pool = map_zero((size_t)n * sizeof *pool);
    if (!pool)
        return -ENOMEM;
    pool_size = n;
    for (uint32_t i = 0; i < n; i++)
        pool[i].next_free = i + 2 <= n ? i + 2 : 0;
    free_head = 1;
    return 0;
}

/* Pops a free connection (Treiber stack with an ABA tag). */
uint32_t chim__conn_alloc(void)
{
    uint64_t head = __atomic_load_n(&free_head, __ATOMIC_ACQUIRE), next;
    do {
        uint32_t idx = (uint32_t)head;
        if (!idx)
            return 0;
        uint32_t nf = __atomic_load_n(&pool[idx - 1].next_free, __ATOMIC_RELAXED);
        next = ((head >> 32) + 1) << 32 | nf;
    } while (!__atomic_compare_exchange_n(&free_head, &head, next, 1, __ATOMIC_ACQ_REL,
                                          __ATOMIC_ACQUIRE));
    uint32_t id = (uint32_t)head;
    memset(&pool[id - 1], 0, sizeof pool[0]);
    uint32_t hi = __atomic_load_n(&chim__conn_pool_hi, __ATOMIC_RELAXED);
    while (hi < id && !__atomic_compare_exchange_n(&chim__conn_pool_hi, &hi, id, 1,
                                                   __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
    return id;
}

void chim__conn_free(uint32_t id)
{
    if (!id || id > pool_size)
        return;
    uint64_t head = __atomic_load_n(&free_head, __ATOMIC_ACQUIRE), next;
    do {
        __atomic_store_n(&pool[id - 1].next_free, (uint32_t)head, __ATOMIC_RELAXED);
        next = ((head >> 32) + 1) << 32 | id;
    } while (!__atomic_compare_exchange_n(&free_head, &head, next, 1, __ATOMIC_ACQ_REL,
                                          __ATOMIC_ACQUIRE));
}

/* In a fork child only the forking thread exists: no lock can be held, and
 * bytes not yet flushed belong to the parent's counters. */
void chim__conn_pool_after_fork(void)
{
    for (uint32_t i = 0; pool && i < pool_size; i++) {
        pool[i].lock = 0;
        pool[i].pend_in = pool[i].pend_out = 0; /* the parent counts those */
        pool[i].inherited = 1;
    }
}

/* ---- classifying a socket seen first in mid-life ------------------------- */

static int sockopt_int(int fd, int opt, int *v)
{
    socklen_t l = sizeof *v;
    return getsockopt(fd, SOL_SOCKET, opt, v, &l);
}

static unsigned port_of(const struct sockaddr_storage *a)
{
    if (a->ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)a)->sin_port);
    if (a->ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)a)->sin6_port);
    return 0;
}

/* Linux's default ephemeral range; a peer on such a port called us. */
static int ephemeral(unsigned port)
{
    return port >= 32768 && port <= 60999;
}

int chim__classify(int fd, struct sockaddr_storage *peer, int first_dir)
{
    int type, domain, listening;
    if (sockopt_int(fd, SO_TYPE, &type) != 0 || type != SOCK_STREAM)
        return CHIM_FD_IGNORED; /* not a socket (ENOTSOCK), or not a stream */
    if (sockopt_int(fd, SO_DOMAIN, &domain) != 0 || (domain != AF_INET && domain != AF_INET6))
        return CHIM_FD_IGNORED;
    if (sockopt_int(fd, SO_ACCEPTCONN, &listening) != 0 || listening)
        return CHIM_FD_IGNORED;
    struct sockaddr_storage local;
    socklen_t ll = sizeof local, pl = sizeof *peer;
    if (getsockname(fd, (struct sockaddr *)&local, &ll) != 0 ||
        getpeername(fd, (struct sockaddr *)peer, &pl) != 0)
        return CHIM_FD_IGNORED;
    unsigned lp = port_of(&local), pp = port_of(peer);
    if (ephemeral(pp) && !ephemeral(lp))
        return CHIM_FD_IN;
    if (ephemeral(lp) && !ephemeral(pp))
        return CHIM_FD_OUT;
    /* Both ports ephemeral or neither (a server bound to port 0, a peer on
     * another fixed port): the first bytes' direction, as a server reads
     * the request first and a client writes it; else the lower port. */
    if (first_dir == CHIM_NET_IN || first_dir == CHIM_NET_OUT)
        return first_dir == CHIM_NET_IN ? CHIM_FD_IN : CHIM_FD_OUT;
    return lp < pp ? CHIM_FD_IN : CHIM_FD_OUT;
}
