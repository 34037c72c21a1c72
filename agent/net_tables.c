/*
 * net_tables.c - the request tracker's sections of the segment: process
 * counters, the route and peer entry tables, and the per-second series.
 *
 * Entries are found by open addressing on a hash of their key; a new key
 * claims a FREE entry with one CAS, writes the key and publishes it READY.
 * A thread that meets a CLAIMED entry with its hash does not wait: it keeps
 * probing (a duplicate entry for the same key can result; the collector
 * merges entries by key). Updates are relaxed atomic adds.
 */
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "agent.h"
#include "net_conn.h"

uint32_t chim__net_sections(struct chim_section *rows, uint32_t room)
{
    if (!chim__net_on || room < 4)
        return 0;
    rows[0] = (struct chim_section){CHIM_SEC_NET, sizeof(struct chim_net_stats), 0, 1};
    rows[1] = (struct chim_section){CHIM_SEC_ROUTES, sizeof(struct chim_net_entry), 0,
                                    chim__net_cfg.route_entries};
    rows[2] =
        (struct chim_section){CHIM_SEC_PEERS, sizeof(struct chim_net_entry), 0, CHIM_PEER_ENTRIES};
    rows[3] = (struct chim_section){CHIM_SEC_SERIES, sizeof(struct chim_series_point), 0,
                                    CHIM_SERIES_LEN};
    return 4;
}

static uint32_t fnv(uint32_t h, const char *s)
{
    while (*s)
        h = (h ^ (unsigned char)*s++) * 16777619u;
    return h;
}

static int same_key(const struct chim_net_entry *e, const struct chim_net_key *k)
{
    return e->status_class == k->status_class && e->cache == k->cache && e->proto == k->proto &&
           !strcmp(e->method, k->method) && !strcmp(e->name, k->name) && !strcmp(e->host, k->host);
}

static void write_key(struct chim_net_entry *e, const struct chim_net_key *k, uint32_t h)
{
    e->hash = h;
    e->status_class = k->status_class;
    e->cache = k->cache;
    e->proto = k->proto;
    chim__strlcpy(e->method, k->method, sizeof e->method);
    chim__strlcpy(e->name, k->name, sizeof e->name);
    chim__strlcpy(e->host, k->host, sizeof e->host);
}

static uint32_t key_hash(const struct chim_net_key *k)
{
    uint32_t h = fnv(2166136261u, k->method);
    h = fnv(h, k->name);
    h = fnv(h, k->host);
    h ^= (uint32_t)k->status_class * 0x9e3779b9u ^ (uint32_t)k->cache << 8 ^ k->proto;
    return h ? h : 1;
}

/* Finds or creates the entry for a key in a section; NULL when full. */
struct chim_net_entry *chim__net_entry(uint32_t kind, const struct chim_net_key *k)
{
    struct chim_net_entry *tab = chim__sec_base[kind];
    uint64_t n = chim__sec_count[kind];
    if (!tab || !n)
        return NULL;
    uint32_t h = key_hash(k);
    for (uint64_t i = 0; i < n; i++) {
        struct chim_net_entry *e = &tab[(h + i) % n];
        uint32_t st = __atomic_load_n(&e->state, __ATOMIC_ACQUIRE);
        if (st == CHIM_ENTRY_READY && e->hash == h && same_key(e, k))
            return e;
        if (st != CHIM_ENTRY_FREE)
            continue;
        uint32_t expect = CHIM_ENTRY_FREE;
        if (__atomic_compare_exchange_n(&e->state, &expect, CHIM_ENTRY_CLAIMED, 0, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED)) {
            write_key(e, k, h);
            __atomic_store_n(&e->state, CHIM_ENTRY_READY, __ATOMIC_RELEASE);
            return e;
        }
        if (expect == CHIM_ENTRY_READY && e->hash == h && same_key(e, k))
            return e;
    }
    return NULL;
}

#define ADD(field, v) __atomic_fetch_add(&(field), (v), __ATOMIC_RELAXED)

/* ---- time series ---------------------------------------------------------- */

static uint64_t last_sec;
static uint64_t next_tick_ns; /* see chim__net_tick */
uint64_t chim__net_rt_off;    /* CLOCK_REALTIME - chim__clock_ns() at the last wall-clock read */
uint64_t chim__net_sec;       /* the wall-clock second the last tick saw */

static uint64_t current_rss(void)
{
    /* thread-self: /proc/self's statm reads 0 once the main thread left
     * with pthread_exit */
    uint64_t pages = chim__proc_u64("/proc/thread-self/statm", 2); /* resident */
    if (!pages)
        pages = chim__proc_u64("/proc/self/statm", 2);
    return pages * (chim__seg ? chim__seg->page_size : 4096);
}

/* Writes the point labelled sec (counters as of the end of that second);
 * live, RSS and CPU are read now, in second `now` (sampled_sec). */
static void write_point(uint64_t sec, uint64_t now)
{
    struct chim_series_point *ring = chim__sec_base[CHIM_SEC_SERIES];
    struct chim_net_stats *st = chim__net_stats();
    if (!ring || !st)
        return;
    struct chim_series_point p = {0};
    struct rusage ru;
    p.t_sec = sec;
    p.sampled_sec = now;
    p.requests = st->requests;
    p.errors = st->errors;
    p.bytes_in = st->bytes_in;
    p.bytes_out = st->bytes_out;
    p.live_bytes = chim__seg_live();
    p.rss_bytes = current_rss();
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        p.cpu_user_us = (uint64_t)ru.ru_utime.tv_sec * 1000000 + (uint64_t)ru.ru_utime.tv_usec;
        p.cpu_sys_us = (uint64_t)ru.ru_stime.tv_sec * 1000000 + (uint64_t)ru.ru_stime.tv_usec;
        /* A server killed by a signal keeps the peak seen here (one whose
         * heap is not malloc's, like V8's, seldom samples it otherwise). */
        chim__seg_note_maxrss((uint64_t)ru.ru_maxrss * 1024);
    }
    struct chim_series_point *slot = &ring[sec % CHIM_SERIES_LEN];
    __atomic_store_n(&slot->t_sec, 0, __ATOMIC_RELEASE); /* invalid while written */
    slot->requests = p.requests;
    slot->errors = p.errors;
    slot->bytes_in = p.bytes_in;
    slot->bytes_out = p.bytes_out;
    slot->live_bytes = p.live_bytes;
    slot->rss_bytes = p.rss_bytes;
    slot->cpu_user_us = p.cpu_user_us;
    slot->cpu_sys_us = p.cpu_sys_us;
    slot->sampled_sec = p.sampled_sec;
    __atomic_store_n(&slot->t_sec, sec, __ATOMIC_RELEASE);
}

/* At most one point per second, written by whichever thread first notices
 * the second changed; costs a coarse clock read otherwise. Every socket
 * event ticks, so the events since the last tick all happened in the second
 * that tick saw (prev): the point written now holds the totals at the end
 * of prev and is labelled prev, even after an idle gap (labelled with the
 * second that noticed it, a gap's first event would have carried the
 * previous burst's tail into an idle second). */
/* The first event at or past next_tick_ns (the monotonic time at which the
 * wall-clock second was due to change) reads the wall clock; every other
 * event costs one compare. */
static __attribute__((noinline)) void tick_slow(struct chim_conn *held, uint64_t now)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t rt = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    __atomic_store_n(&chim__net_rt_off, rt - now, __ATOMIC_RELAXED);
    __atomic_store_n(&next_tick_ns, now + 1000000000u - (uint64_t)ts.tv_nsec, __ATOMIC_RELAXED);
    if (!chim__sec_base[CHIM_SEC_SERIES])
        return;
    uint64_t sec = (uint64_t)ts.tv_sec, prev = __atomic_load_n(&last_sec, __ATOMIC_RELAXED);
    __atomic_store_n(&chim__net_sec, sec, __ATOMIC_RELAXED);
    if (sec == prev ||
        !__atomic_compare_exchange_n(&last_sec, &prev, sec, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        return;
    struct chim_net_stats *st = chim__net_stats();
    if (st) /* the collector labels a process's unwritten last second with it */
        __atomic_store_n(&st->last_tick_sec, sec, __ATOMIC_RELAXED);
    chim__clock_calibrate(); /* one thread a second: the CAS winner */
    if (prev) {
        /* Bytes still pending on connections were moved before this tick. */
        chim__net_flush_held(held);
        chim__net_flush_all();
        write_point(prev, sec);
    }
}

void chim__net_tick(struct chim_conn *held, uint64_t now)
{
    if (CHIM_LIKELY(now < __atomic_load_n(&next_tick_ns, __ATOMIC_RELAXED)))
        return;
    tick_slow(held, now);
}

void chim__net_series_fork(void)
{
    last_sec = 0;
    next_tick_ns = 0;
    __atomic_store_n(&chim__net_sec, 0, __ATOMIC_RELAXED);
}

/* The final point, at exit: the events since the last tick happened in its
 * second (the current one if nothing ticked). */
void chim__net_final_tick(void)
{
    struct timespec ts;
    if (!chim__sec_base[CHIM_SEC_SERIES])
        return;
    chim__net_finish_open();
    chim__net_flush_all();
    uint64_t last = __atomic_load_n(&last_sec, __ATOMIC_RELAXED);
    clock_gettime(CLOCK_REALTIME, &ts);
    write_point(last ? last : (uint64_t)ts.tv_sec, (uint64_t)ts.tv_sec);
}
