/*
 * leak_track.c - sample and full modes: which allocations are recorded,
 * where their stacks go, and how frees find them.
 *
 * sample: Poisson sampling by bytes. Each thread counts down a gap drawn
 *   from an exponential of mean R (CHIM_SAMPLE_BYTES); the hook subtracts
 *   the size and branches, nothing else. A block that crosses zero is
 *   recorded with its stack and carries the weight Z / (1 - exp(-Z/R)), so
 *   per-site live bytes are unbiased (jemalloc's and tcmalloc's estimator).
 * full: every block is recorded (the countdown is kept negative).
 *
 * Recorded blocks live in open-addressing tables of addresses in
 * agent-owned anonymous memory (never the host's heap, never the
 * allocator's chunk headers): in full mode one per thread, which only that
 * thread fills (plain stores), else one shared table whose slots are
 * claimed with one CAS. No locks, nothing a fork child can find held. A
 * counting filter in front of them lets a free of an unrecorded block leave
 * after one load. When the tables are full the block or stack is dropped
 * and counted (`dropped` in the header), never waited for.
 * Stacks are deduplicated into the segment's STACKS section; per-stack
 * counters go to SITES (same index), with a birth-time histogram and a
 * small history ring of live bytes per epoch.
 */
#include <errno.h>
#include <math.h>
#include <sched.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <linux/membarrier.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "leak.h"
#include "sample_math.h"
#include "unwind.h"

#define TAB_EMPTY 0u
#define TAB_GONE  1u
#define PROBE_MAX 128

struct chim_leak_settings chim__leakcfg;
struct chim_leak_filter_ref chim__leak_filt;
uint64_t chim__leak_start_ms;

/* An address table: its slots (tab_mask + 1) and one bit per chunk of
 * slots ever written (the exit scan skips the rest). */
struct table {
    struct chim_block *slot;
    uint64_t *used;
};
static struct table shared; /* sample mode, and threads without a shard */
static uint64_t tab_mask;
static unsigned home_shift; /* address bits below a table home (tab_home) */
static int inited;          /* the constructor has run (count mode included) */
static int active;          /* sample or full mode, tables ready */
static uint32_t mode;
static double inv_rate;
static CHIM_TLS uint64_t rng;

/* ---- settings ------------------------------------------------------------- */

static int bad_setting; /* a setting did not parse: recorded in the info record */

/* The multiplier of a size suffix: K, M, G (also Ki/KiB ...) are powers of
 * 1024, KB, MB, GB of 1000, none is 1; 0 for anything else. */
static uint64_t suffix_scale(const char *s)
{
    static const char units[] = "KMG";
    if (!*s)
        return 1;
    const char *u = strchr(units, s[0] & ~0x20);
    if (!u)
        return 0;
    uint64_t k1024 = 1ull << (10 * (u - units + 1)), k1000 = 1;
    for (const char *q = units; q <= u; q++)
        k1000 *= 1000;
    if (!s[1] || !strcmp(s + 1, "i") || !strcmp(s + 1, "iB"))
        return k1024;
    return !strcmp(s + 1, "B") ? k1000 : 0;
}

/* A CHIM_* number: digits and a size suffix, within [lo, hi]. Anything
 * else (a sign, a fraction, a typo, 0) keeps the default: "1G" and "abc"
 * used to become 1 byte (every allocation sampled), "-1" 1 TiB; with
 * CHIM_DEBUG=1 it is named, and the collector says a setting was ignored. */
static uint64_t env_u64(const char *name, uint64_t def, uint64_t lo, uint64_t hi)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return def;
    char *end = (char *)(uintptr_t)v;
    unsigned long long x = *v >= '0' && *v <= '9' ? strtoull(v, &end, 10) : 0;
    uint64_t scale = end != v ? suffix_scale(end) : 0;
    if (!scale || (x == 0 && lo > 0)) {
        bad_setting = 1;
        chim__debug3(name,
                     " does not parse (digits, then K, M, G, KB ...): the default is used: ", v);
        return def;
    }
    if (x > hi / scale)
        return hi;
    x *= scale;
    return x < lo ? lo : x;
}

static uint64_t pow2_at_least(uint64_t v)
{
    uint64_t p = 1;
    while (p < v)
        p <<= 1;
    return p;
}

void chim__leak_read_settings(void)
{
    struct chim_leak_settings *c = &chim__leakcfg;
    const char *u = getenv("CHIM_UNWIND");
    c->depth = (uint32_t)env_u64("CHIM_STACK_DEPTH", 32, 4, CHIM_STACK_DEPTH_MAX);
    c->sample_bytes = env_u64("CHIM_SAMPLE_BYTES", 512 * 1024, 1, 1ull << 40);
    c->max_stacks = pow2_at_least(env_u64("CHIM_MAX_STACKS", 16384, 64, 1u << 20));
    c->max_modules = env_u64("CHIM_MAX_MODULES", 512, 16, 4096);
    c->max_tracked = env_u64("CHIM_MAX_TRACKED", 2u << 20, 1024, 1ull << 30);
    c->epoch_ns = env_u64("CHIM_HISTORY_MS", 1000, 10, 3600000) * 1000000ull;
    c->scan = env_u64("CHIM_LEAK_SCAN", 1, 0, 1) != 0;
    c->bench = (int)env_u64("CHIM_UNWIND_BENCH", 0, 0, 10000000);
    /* Default: frame pointers for full mode (a stack per allocation);
     * libunwind for sample mode, where only sampled blocks are unwound. */
    c->unwinder = chim__cfg.mode == CHIM_MODE_FULL ? CHIM_UNWIND_AUTO : CHIM_UNWIND_LIBUNWIND;
    if (u && !strcmp(u, "fp"))
        c->unwinder = CHIM_UNWIND_FP;
    else if (u && !strcmp(u, "libunwind"))
        c->unwinder = CHIM_UNWIND_LIBUNWIND;
    else if (u && !strcmp(u, "auto"))
        c->unwinder = CHIM_UNWIND_AUTO;
    else if (u && *u) {
        bad_setting = 1;
        chim__debug("CHIM_UNWIND is not fp, libunwind or auto: the default is used: ", u);
    }
}

static int wanted(void)
{
    return !chim__cfg.disabled && chim__cfg.mode != CHIM_MODE_COUNT;
}

uint32_t chim__leak_sections(struct chim_section *rows, uint32_t room)
{
    const struct chim_leak_settings *c = &chim__leakcfg;
    if (!wanted() || room < 4)
        return 0;
    uint32_t n = 0;
    rows[n++] =
        (struct chim_section){CHIM_SEC_MODULES, sizeof(struct chim_module), 0, c->max_modules};
    rows[n++] = (struct chim_section){CHIM_SEC_STACKS, CHIM_STACK_ELEM(c->depth), 0, c->max_stacks};
    if (chim__cfg.mode == CHIM_MODE_FULL && room >= 5) /* before SITES: see shm_leak.h */
        rows[n++] = (struct chim_section){CHIM_SEC_DELTAS, sizeof(struct chim_delta_row), 0,
                                          CHIM_DELTA_ROWS};
    rows[n++] = (struct chim_section){CHIM_SEC_SITES, sizeof(struct chim_site), 0, c->max_stacks};
    rows[n++] = (struct chim_section){CHIM_SEC_LEAKS, sizeof(struct chim_leak_info), 0, 1};
    return n;
}

/* ---- small helpers -------------------------------------------------------- */

static struct chim_leak_info *info(void)
{
    return chim__sec_base[CHIM_SEC_LEAKS];
}

static struct chim_stack *stack_at(uint64_t i)
{
    return (struct chim_stack *)((char *)chim__sec_base[CHIM_SEC_STACKS] +
                                 i * CHIM_STACK_ELEM(chim__leakcfg.depth));
}

struct chim_site *chim__leak_site(uint32_t stack)
{
    struct chim_site *s = chim__sec_base[CHIM_SEC_SITES];
    return s && stack < chim__sec_count[CHIM_SEC_SITES] ? &s[stack] : NULL;
}

/* One bit per chunk of 2^CHUNK_SHIFT table slots ever claimed: the exit
 * scan skips the rest (untouched pages, which reading would fault in: a
 * table is 96 MiB by default). */
#define CHUNK_SHIFT 12

static inline void chunk_mark(const struct table *t, uint64_t idx)
{
    uint64_t c = idx >> CHUNK_SHIFT, bit = 1ull << (c & 63);
    uint64_t *w = &t->used[c >> 6];
    if (CHIM_UNLIKELY(!(__atomic_load_n(w, __ATOMIC_RELAXED) & bit)))
        __atomic_fetch_or(w, bit, __ATOMIC_RELAXED);
}

uint64_t chim__leak_table_skip(const uint64_t *used, uint64_t i, uint64_t cap)
{
    while (i < cap) {
        uint64_t c = i >> CHUNK_SHIFT;
        if ((__atomic_load_n(&used[c >> 6], __ATOMIC_ACQUIRE) >> (c & 63)) & 1)
            return i;
        i = (c + 1) << CHUNK_SHIFT;
    }
    return cap;
}

uint64_t chim__leak_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void count_drop(uint64_t *field)
{
    if (field)
        __atomic_fetch_add(field, 1, __ATOMIC_RELAXED);
    if (chim__seg)
        __atomic_fetch_add(&chim__seg->dropped, 1, __ATOMIC_RELAXED);
}

#define ADD(field, v) __atomic_fetch_add(&(field), (v), __ATOMIC_RELAXED)

/* ---- sampling ------------------------------------------------------------- */

static uint64_t next_rand(void)
{
    uint64_t x = rng;
    if (CHIM_UNLIKELY(!x))
        x = chim__now_ns(CLOCK_MONOTONIC) ^ ((uint64_t)syscall(SYS_gettid) << 32) ^
            (uint64_t)(uintptr_t)&rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    rng = x ? x : 0x9E3779B97F4A7C15ull;
    return rng;
}

/* An exponential gap with mean R bytes. */
static int64_t next_gap(void)
{
    double u = (double)((next_rand() >> 11) + 1) * (1.0 / 9007199254740992.0); /* (0, 1] */
    double g = chim_neg_log(u) * (double)chim__leakcfg.sample_bytes;
    return g < 9e18 ? (int64_t)g + 1 : INT64_MAX / 4;
}

/* Weights of one recorded block: blocks (in CHIM_LEAK_WUNIT) and bytes. */
static void weights(uint64_t z, uint64_t *wc, uint64_t *wb)
{
    if (mode == CHIM_MODE_FULL) {
        *wc = CHIM_LEAK_WUNIT;
        *wb = z;
        return;
    }
    double p = chim_one_minus_exp_neg((double)z * inv_rate); /* P(sampled) = 1 - exp(-Z/R) */
    if (p < 1e-9)
        p = 1e-9;
    *wc = chim_round_pos(CHIM_LEAK_WUNIT / p);
    *wb = chim_round_pos((double)z / p);
}

/* ---- stacks --------------------------------------------------------------- */

static uint64_t stack_hash(const uint64_t *ips, int d)
{
    uint64_t h = 0xcbf29ce484222325ull ^ (uint64_t)d;
    for (int i = 0; i < d; i++) {
        h ^= ips[i];
        h *= 0x9E3779B97F4A7C15ull;
        h ^= h >> 29;
    }
    return h ? h : 1;
}

static int same_ips(const uint64_t *a, const uint64_t *b, int d)
{
    int i = 0;
    while (i < d && a[i] == b[i])
        i++;
    return i == d;
}

/* The id of this stack, adding it if new; 0 when the table has no room. */
static uint32_t intern(const uint64_t *ips, int d)
{
    uint64_t h = stack_hash(ips, d), mask = chim__sec_count[CHIM_SEC_STACKS] - 1;
    for (uint64_t i = 0; i < PROBE_MAX; i++) {
        uint64_t idx = (h + i) & mask;
        if (idx == 0)
            continue;
        struct chim_stack *s = stack_at(idx);
        uint32_t st = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
        if (st == CHIM_LEAK_READY) {
            if (s->hash == h && s->depth == d && same_ips(s->ip, ips, d))
                return (uint32_t)idx;
            continue;
        }
        uint32_t empty = CHIM_LEAK_EMPTY;
        if (st == CHIM_LEAK_EMPTY &&
            __atomic_compare_exchange_n(&s->state, &empty, CHIM_LEAK_WRITING, 0, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED)) {
            s->hash = h;
            s->depth = (uint16_t)d;
            s->flags = d >= (int)chim__leakcfg.depth;
            memcpy(s->ip, ips, (size_t)d * sizeof *ips);
            __atomic_store_n(&s->state, CHIM_LEAK_READY, __ATOMIC_RELEASE);
            ADD(info()->stacks_used, 1);
            return (uint32_t)idx;
        }
        /* Being written by another thread: a duplicate entry is harmless
         * (the collector merges equal stacks). */
    }
    count_drop(&info()->stacks_dropped);
    return 0;
}

/* ---- per-site counters ---------------------------------------------------- */

/* Records live bytes at the end of the current epoch; epochs skipped since
 * the last write held the value from before this event. */
static void ring_note(struct chim_site *s, uint64_t now_ms, int64_t before, int64_t after)
{
    uint64_t e = (now_ms - chim__leak_start_ms) * 1000000ull / chim__leakcfg.epoch_ns;
    uint64_t last = __atomic_load_n(&s->hist_epoch, __ATOMIC_RELAXED);
    if (last < e + 1) {
        uint64_t k = last;
        if (e + 1 > CHIM_HIST_RING && k < e + 1 - CHIM_HIST_RING)
            k = e + 1 - CHIM_HIST_RING;
        for (; k < e; k++)
            __atomic_store_n(&s->hist[k % CHIM_HIST_RING], before, __ATOMIC_RELAXED);
        __atomic_store_n(&s->hist_epoch, e + 1, __ATOMIC_RELAXED);
    }
    __atomic_store_n(&s->hist[e % CHIM_HIST_RING], after, __ATOMIC_RELAXED);
}

enum { SITE_ALLOC, SITE_FREE, SITE_UNFREE, SITE_UNALLOC };

/* One event's or one batch's change to a site's counters. */
struct site_delta {
    uint32_t stack;  /* 0: slot unused */
    uint32_t bucket; /* birth bucket of the blocks counted here */
    /* alloc_w and free_w stay 0 in a shard (derived when folded) */
    int64_t allocs, frees, alloc_w, free_w, alloc_bytes, free_bytes;
    uint64_t reserved;
};

/* Adds a delta to the segment's site with atomics, and notes the site's
 * live bytes in its history ring at `now`. */
static void site_add(const struct site_delta *d, uint64_t now)
{
    struct chim_site *s = chim__leak_site(d->stack);
    if (!s)
        return;
    if (d->allocs | d->alloc_w | d->alloc_bytes) {
        ADD(s->allocs, (uint64_t)d->allocs);
        ADD(s->alloc_w, (uint64_t)d->alloc_w);
        ADD(s->alloc_bytes, (uint64_t)d->alloc_bytes);
    }
    if (d->frees | d->free_w | d->free_bytes) {
        ADD(s->frees, (uint64_t)d->frees);
        ADD(s->free_w, (uint64_t)d->free_w);
        ADD(s->free_bytes, (uint64_t)d->free_bytes);
    }
    int64_t delta = d->alloc_bytes - d->free_bytes;
    ADD(s->birth_bytes[d->bucket], delta);
    int64_t after = (int64_t)(__atomic_load_n(&s->alloc_bytes, __ATOMIC_RELAXED) -
                              __atomic_load_n(&s->free_bytes, __ATOMIC_RELAXED));
    ring_note(s, now, after - delta, after);
}

/* ---- per-thread site deltas (full mode) ----------------------------------- */

/* In full mode every allocation and free changes a site: six atomic adds
 * per event on lines that every thread allocating from the same place
 * writes. Instead each thread keeps a small direct-mapped table of deltas
 * keyed by (stack, birth bucket), its row of the segment's DELTAS section
 * (shard i owns row i; a private row when the segment has none), and folds
 * it into SITES when a way is needed by another key, every
 * CHIM_DELTA_BATCH events, when the thread sees a new history epoch, before
 * it blocks, at thread exit, fork and process exit. SITES therefore lag a
 * live thread by at most a batch or one epoch; the collector adds the
 * rows, so what it reports lags only a thread that is folding right then
 * (shm_leak.h). The owner updates its deltas with plain (relaxed) loads and
 * stores; folding by another thread (exit) takes them with atomic
 * exchanges. Sample mode adds directly: its events are rare. */
#define SHARD_WAYS  CHIM_DELTA_WAYS
#define SHARD_BATCH CHIM_DELTA_BATCH
#define SHARD_POOL  CHIM_DELTA_ROWS

/* A thread's recent stacks and their ids (full mode): a stack seen again
 * costs one or two comparisons instead of a hash, a probe and a comparison. Ids
 * stay valid for good (stacks are never removed); a fork child clears it
 * all the same. */
#define MEMO_SET_BITS 2 /* 4 sets of 2 */
#define MEMO_WAYS     (2 << MEMO_SET_BITS)
#define MEMO_DEPTH    32
struct stack_memo {
    uint32_t sid;   /* never 0 in a filled way */
    uint32_t depth; /* 0: empty */
    uint64_t ip[MEMO_DEPTH];
};

struct shard {
    uint32_t used;   /* claimed by a live thread */
    uint32_t events; /* since the last fold */
    uint64_t epoch_end_ms;
    uint64_t now_ms;            /* time of the owner's last allocation */
    struct chim_delta_row *row; /* the segment's row i, or `priv` */
    struct chim_block parked;   /* the owner's newest block, not yet in its table */
    uint64_t parked_home;       /* its tab_home (the owner's move reuses it) */
    uint32_t moving;            /* the owner is moving `parked` to its table */
    uint32_t snap;              /* `priv` holds a copy of `row` taken before fork */
    struct table own;           /* filled by the shard's owner only; kept when it exits */
    /* The row when the segment has no DELTAS; else, around fork, a private
     * copy of the row (chim__leak_fork_snapshot). */
    _Alignas(64) struct chim_delta_row priv;
    /* The owner's only; on lines of its own (other threads read `own` on
     * every free of this thread's blocks). */
    _Alignas(64) struct stack_memo memo[MEMO_WAYS];
    uint8_t memo_last[1 << MEMO_SET_BITS]; /* per set: the way filled last */
};

static struct shard *pool;
static uint32_t pool_hi; /* one past the highest shard ever claimed */
static CHIM_TLS struct shard *my_shard;
static CHIM_TLS int shard_state; /* 0 none yet, 1 own one, 2 none (pool full or thread exited) */
static int shards_closed;        /* process exit: every event adds directly */
static CHIM_TLS int closing;     /* this thread closed them: it still folds its own row */

#define LD(x)    __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define ST(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
#define XCHG(x)  __atomic_exchange_n(&(x), 0, __ATOMIC_RELAXED)

enum { BY_OWNER, BY_OTHER };

/* Moves one way's deltas to SITES. The owning thread takes them with plain
 * loads and stores; another thread (exit) exchanges them. */
static void delta_fold(struct chim_site_delta *e, uint64_t now, int how)
{
#define TAKE(f) (how == BY_OWNER ? (d.f = LD(e->f), ST(e->f, 0)) : (void)(d.f = XCHG(e->f)))
    struct site_delta d = {LD(e->stack), LD(e->bucket), 0, 0, 0, 0, 0, 0, 0};
    TAKE(allocs), TAKE(frees), TAKE(alloc_bytes), TAKE(free_bytes);
#undef TAKE
    if (d.bucket >= CHIM_AGE_BUCKETS)
        return;
    /* Full mode: every block weighs one block, so weights are not kept. */
    d.alloc_w = d.allocs * CHIM_LEAK_WUNIT;
    d.free_w = d.frees * CHIM_LEAK_WUNIT;
    if (d.allocs | d.frees | d.alloc_bytes | d.free_bytes) /* stack 0 is a site too */
        site_add(&d, now);
}

/* A way holds deltas. Not `stack != 0`: stack 0 is the site of blocks
 * whose stack found no room ([stack table full]). */
static inline int way_busy(const struct chim_site_delta *e)
{
    return (LD(e->allocs) | LD(e->frees) | LD(e->alloc_bytes) | LD(e->free_bytes)) != 0;
}

/* A fold is bracketed by two increments of the row's `seq` (odd inside):
 * the collector leaves out a row whose fold it may have seen half of. */
static inline void row_seq_bump(struct chim_delta_row *r)
{
    __atomic_fetch_add(&r->seq, 1, __ATOMIC_SEQ_CST);
}

/* An owner's fold begins (seq odd), unless the process is exiting: then
 * the row stays as it is, for the collector. Both sides are sequentially
 * consistent: either the exiting thread sees this fold's odd seq, and
 * waits for its end (exit_wait_folds), or this thread sees the exit and
 * folds nothing. A fold cut by the process's end would lose a way. */
static int fold_begin(struct chim_delta_row *r)
{
    row_seq_bump(r);
    if (CHIM_LIKELY(!__atomic_load_n(&shards_closed, __ATOMIC_SEQ_CST)) || closing)
        return 1;
    row_seq_bump(r);
    return 0;
}

static int row_fold(struct chim_delta_row *r, uint64_t now, int how)
{
    if (how == BY_OWNER && !fold_begin(r))
        return 0;
    if (how == BY_OTHER)
        row_seq_bump(r);
    for (int i = 0; i < SHARD_WAYS; i++)
        if (way_busy(&r->d[i]))
            delta_fold(&r->d[i], now, how);
    row_seq_bump(r);
    return 1;
}

static void shard_fold(struct shard *sh, uint64_t now, int how)
{
    if (row_fold(sh->row, now, how))
        ST(sh->events, 0);
}

/* Shard i's row: the segment's, or its private one. */
static struct chim_delta_row *row_of(uint32_t i)
{
    struct chim_delta_row *rows = chim__sec_base[CHIM_SEC_DELTAS];
    return rows && i < chim__sec_count[CHIM_SEC_DELTAS] ? &rows[i] : &pool[i].priv;
}

static uint64_t epoch_end(uint64_t now_ms)
{
    uint64_t ems = chim__leakcfg.epoch_ns / 1000000u;
    uint64_t rel = now_ms - chim__leak_start_ms;
    return chim__leak_start_ms + (rel / ems + 1) * ems;
}

static int table_new(struct table *t);

/* A free shard for this thread, with its table (the one it had before if
 * another thread used it: the records in it stay). */
static struct shard *shard_pick(void)
{
    shard_state = 2;
    for (uint32_t i = 0; pool && i < SHARD_POOL; i++) {
        uint32_t z = 0;
        if (!LD(pool[i].used) && __atomic_compare_exchange_n(&pool[i].used, &z, 1, 0,
                                                             __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
            if (!__atomic_load_n(&pool[i].own.slot, __ATOMIC_ACQUIRE) && !table_new(&pool[i].own)) {
                __atomic_store_n(&pool[i].used, 0, __ATOMIC_RELEASE);
                return NULL; /* no memory for a table: this thread adds directly */
            }
            shard_state = 1;
            my_shard = &pool[i];
            my_shard->row = row_of(i);
            ST(my_shard->row->tid, (uint32_t)syscall(SYS_gettid));
            uint32_t hi = LD(pool_hi);
            while (hi < i + 1 && !__atomic_compare_exchange_n(&pool_hi, &hi, i + 1, 1,
                                                              __ATOMIC_RELEASE, __ATOMIC_RELAXED))
                ;
            return my_shard;
        }
    }
    return NULL;
}

static struct shard *shard_claim(void)
{
    int saved = errno; /* mmap's */
    struct shard *sh = shard_pick();
    errno = saved;
    return sh;
}

static inline struct shard *shard_get(void)
{
    if (CHIM_LIKELY(shard_state == 1))
        return CHIM_LIKELY(!LD(shards_closed)) ? my_shard : NULL;
    if (shard_state == 0 && mode == CHIM_MODE_FULL)
        return shard_claim();
    return NULL;
}

/* An event added straight to the segment (sample mode, or no shard). */
static __attribute__((noinline)) void site_apply_direct(uint32_t stack, uint64_t size, unsigned b,
                                                        int what, uint64_t now)
{
    int saved = errno; /* libm may set it */
    uint64_t wc, wb;
    weights(size, &wc, &wb);
    int64_t sign = what == SITE_UNFREE ? -1 : 1;
    struct site_delta d = {stack, b, 0, 0, 0, 0, 0, 0, 0};
    if (what == SITE_ALLOC) {
        d.allocs = 1, d.alloc_w = (int64_t)wc, d.alloc_bytes = (int64_t)wb;
    } else if (what == SITE_UNALLOC) {
        d.allocs = -1, d.alloc_w = -(int64_t)wc, d.alloc_bytes = -(int64_t)wb;
    } else {
        d.frees = sign, d.free_w = sign * (int64_t)wc, d.free_bytes = sign * (int64_t)wb;
    }
    site_add(&d, now ? now : chim__leak_now_ms());
    errno = saved;
}

/* Where an event that found the way of another key goes while the
 * process exits: it was added directly, and this way is thrown away. */
static CHIM_TLS struct chim_site_delta exit_sink;

/* The way is needed for another key: its deltas go to the segment, and e
 * comes back for the event. While the process exits the way stays: the
 * event (what, size) is added directly, and the sink comes back. */
static __attribute__((noinline)) struct chim_site_delta *
delta_reuse(struct shard *sh, struct chim_site_delta *e, uint32_t stack, unsigned b, uint64_t now,
            uint64_t size, int what)
{
    if (!fold_begin(sh->row)) {
        site_apply_direct(stack, size, b, what, now);
        return &exit_sink;
    }
    if (way_busy(e))
        delta_fold(e, now ? now : chim__leak_now_ms(), BY_OWNER);
    ST(e->stack, stack);
    ST(e->bucket, b);
    row_seq_bump(sh->row);
    return e;
}

/* First allocation seen in a new epoch: the old epoch's events go first. */
static __attribute__((noinline)) void shard_new_epoch(struct shard *sh, uint64_t now)
{
    shard_fold(sh, LD(sh->now_ms) ? LD(sh->now_ms) : now, BY_OWNER);
    ST(sh->epoch_end_ms, epoch_end(now));
}

static __attribute__((noinline)) void shard_batch_done(struct shard *sh, uint64_t now)
{
    shard_fold(sh, now ? now : chim__leak_now_ms(), BY_OWNER);
}

/* Applies one event to sh, this thread's shard (shard_get), or straight to
 * the segment when it has none. `now` is 0 for a free (no clock read): a
 * batch folded by a free uses the clock once for the whole batch. Shards
 * exist in full mode only, where a block's weights are one block and its
 * size. */
static inline __attribute__((always_inline)) void site_apply_to(struct shard *sh, uint32_t stack,
                                                                uint64_t size, uint32_t birth_ms,
                                                                int what, uint64_t now)
{
    unsigned b = chim_birth_bucket(birth_ms / 1000u);
    if (!sh) {
        site_apply_direct(stack, size, b, what, now);
        return;
    }
    if (now) {
        if (CHIM_UNLIKELY(now >= LD(sh->epoch_end_ms)))
            shard_new_epoch(sh, now);
        ST(sh->now_ms, now);
    }
    struct chim_site_delta *e = &sh->row->d[(stack * 0x9E3779B1u + b * 0x85EBCA77u) >> (32 - 6)];
    if (CHIM_UNLIKELY(LD(e->stack) != stack || LD(e->bucket) != b))
        e = delta_reuse(sh, e, stack, b, now, size, what);
    if (what == SITE_ALLOC || what == SITE_UNALLOC) {
        int64_t sign = what == SITE_UNALLOC ? -1 : 1;
        ST(e->allocs, LD(e->allocs) + sign);
        ST(e->alloc_bytes, LD(e->alloc_bytes) + sign * (int64_t)size);
    } else {
        int64_t sign = what == SITE_UNFREE ? -1 : 1;
        ST(e->frees, LD(e->frees) + sign);
        ST(e->free_bytes, LD(e->free_bytes) + sign * (int64_t)size);
    }
    uint32_t ev = LD(sh->events) + 1;
    ST(sh->events, ev);
    if (CHIM_UNLIKELY(ev >= SHARD_BATCH))
        shard_batch_done(sh, now);
}

static void site_apply(uint32_t stack, uint64_t size, uint32_t birth_ms, int what, uint64_t now)
{
    site_apply_to(shard_get(), stack, size, birth_ms, what, now);
}

/* Folds the thread deltas that nobody else would see (process exit,
 * _exit): this thread's own row, and the private rows of threads beyond the
 * segment's DELTAS rows. Another thread's row in the segment is left as it
 * is: the collector adds it (its owner may be folding or counting into it
 * this very moment, and a fold from here raced that: an event counted
 * twice or not at all, often hundreds per exit under load). A private row
 * still has that race: its thread's events race the exit anyway. */
static void fold_all_shards(void)
{
    if (!pool)
        return;
    uint64_t now = chim__leak_now_ms();
    uint32_t hi = __atomic_load_n(&pool_hi, __ATOMIC_ACQUIRE);
    for (uint32_t i = 0; i < hi; i++) { /* shards above were never touched */
        struct shard *sh = &pool[i];
        if (sh == my_shard && shard_state == 1)
            shard_fold(sh, now, BY_OWNER);
        else if (LD(sh->used) && LD(sh->row) == &sh->priv)
            shard_fold(sh, now, BY_OTHER);
    }
}

/* Waits until no other thread is inside a fold (fold_begin), yielding,
 * for at most 50 ms: a thread stopped in one (a debugger) cannot hold the
 * exit; its row, left odd, is then added by the collector anyway. */
static void exit_wait_folds(void)
{
    uint32_t hi = __atomic_load_n(&pool_hi, __ATOMIC_ACQUIRE);
    uint64_t until = 0;
    for (uint32_t i = 0; i < hi; i++) {
        struct chim_delta_row *r = LD(pool[i].row);
        if (&pool[i] == my_shard || !r)
            continue;
        while (__atomic_load_n(&r->seq, __ATOMIC_SEQ_CST) & 1) {
            uint64_t now = chim__leak_now_ms();
            if (!until)
                until = now + 50;
            if (now >= until)
                return;
            sched_yield();
        }
    }
}

/* Process exit, _exit: from now on other threads fold nothing and add
 * their new events directly; the folds under way end first. */
static void close_shards(void)
{
    closing = 1;
    __atomic_store_n(&shards_closed, 1, __ATOMIC_SEQ_CST);
    if (pool)
        exit_wait_folds();
    fold_all_shards();
}

static inline __attribute__((always_inline)) void unpark(struct shard *sh);

void chim__leak_thread_exit(void)
{
    if (shard_state != 1)
        return;
    struct shard *sh = my_shard;
    int was = chim__tls.in_agent;
    chim__tls.in_agent = 1; /* a signal handler's malloc or free stays out */
    unpark(sh);
    shard_fold(sh, chim__leak_now_ms(), BY_OWNER);
    shard_state = 2; /* later events (TLS destructors) add directly */
    my_shard = NULL;
    __atomic_store_n(&sh->used, 0, __ATOMIC_RELEASE); /* last: then another thread may claim it */
    chim__tls.in_agent = was;
}

/* ---- address table -------------------------------------------------------- */

/* Neighbouring blocks get neighbouring slots: the table's working set
 * follows the heap's (a scattering hash made every access a cache and TLB
 * miss). */
static inline uint64_t tab_home(uint64_t a)
{
    /* glibc's thread arenas are 64 MiB-aligned heaps whose blocks sit at
     * the same offsets in each: without this term their blocks would share
     * table slots (long probes, cache lines bouncing between threads). Each
     * 64 MiB region is rotated to its own place, in steps of 4096 slots, so
     * neighbours inside a region stay neighbours. */
    uint64_t region = (a >> 26) * 0x9E3779B97F4A7C15ull;
    return (a >> home_shift) + ((region >> 44) << 12);
}

static void filter_inc(const void *p)
{
    unsigned char *f = &chim__leak_filter[chim__filter_slot(p)];
    unsigned char v = __atomic_load_n(f, __ATOMIC_RELAXED);
    while (v < 255 && !__atomic_compare_exchange_n(f, &v, (unsigned char)(v + 1), 1,
                                                   __ATOMIC_RELEASE, __ATOMIC_RELAXED))
        ;
}

static void filter_dec(const void *p)
{
    unsigned char *f = &chim__leak_filter[chim__filter_slot(p)];
    unsigned char v = __atomic_load_n(f, __ATOMIC_RELAXED);
    while (v > 0 && v < 255 && /* a saturated counter stays: it may cover more */
           !__atomic_compare_exchange_n(f, &v, (unsigned char)(v - 1), 1, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED))
        ;
}

static void *map_anon(uint64_t bytes)
{
    void *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    return m == MAP_FAILED ? NULL : m;
}

/* Maps a table of tab_mask + 1 slots and its chunk bitmap; 0 if it could
 * not. The slot array is published last (release): threads that scan other
 * threads' tables read it with acquire. */
static int table_new(struct table *t)
{
    /* One bit per chunk, at least one chunk: a table smaller than a chunk
     * (CHIM_MAX_TRACKED 1024) had no bitmap, and tracking was off. */
    uint64_t cap = tab_mask + 1, chunks = (cap + (1ull << CHUNK_SHIFT) - 1) >> CHUNK_SHIFT;
    uint64_t ubytes = (chunks + 63) / 64 * 8;
    struct chim_block *slot = map_anon(cap * sizeof *slot);
    uint64_t *used = map_anon(ubytes);
    if (!slot || !used) {
        if (slot)
            munmap(slot, cap * sizeof *slot);
        if (used)
            munmap(used, ubytes);
        return 0;
    }
    t->used = used;
    __atomic_store_n(&t->slot, slot, __ATOMIC_RELEASE);
    return 1;
}

/* Inserts into a table any thread may fill (the shared one): the slot is
 * claimed with a placeholder key (2, never an address), filled, then
 * published. */
static int tab_insert(struct table *t, const struct chim_block *b)
{
    uint64_t h = tab_home(b->addr);
    for (uint64_t i = 0; i < PROBE_MAX; i++) {
        struct chim_block *e = &t->slot[(h + i) & tab_mask];
        uint64_t k = __atomic_load_n(&e->addr, __ATOMIC_RELAXED);
        if (k > TAB_GONE)
            continue;
        chunk_mark(t, (h + i) & tab_mask);
        if (__atomic_compare_exchange_n(&e->addr, &k, TAB_GONE + 1, 0, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED)) {
            e->size = b->size;
            e->stack = b->stack;
            e->birth_ms = b->birth_ms;
            filter_inc((void *)(uintptr_t)b->addr);
            __atomic_store_n(&e->addr, b->addr, __ATOMIC_RELEASE);
            return 1;
        }
    }
    return 0;
}

/* Inserts into a thread's own table (full mode, its owner only). Other
 * threads only ever turn a live key into TAB_GONE (freeing that block), so
 * a slot read empty or deleted is the owner's: plain stores, key last. No
 * locked instruction: a CAS waits for the store buffer to drain, and was
 * 5 % of the benchmark's time. */
static inline __attribute__((always_inline)) int tab_put(struct table *t,
                                                         const struct chim_block *b, uint64_t h)
{
    for (uint64_t i = 0; i < PROBE_MAX; i++) {
        struct chim_block *e = &t->slot[(h + i) & tab_mask];
        if (__atomic_load_n(&e->addr, __ATOMIC_ACQUIRE) > TAB_GONE)
            continue;
        chunk_mark(t, (h + i) & tab_mask);
        ST(e->size, b->size);
        ST(e->stack, b->stack);
        ST(e->birth_ms, b->birth_ms);
        __atomic_store_n(&e->addr, b->addr, __ATOMIC_RELEASE);
        return 1;
    }
    return 0;
}

/* Removes p's record from t, copying it to *out. 0 if it is not there. */
static inline __attribute__((always_inline)) int tab_take(struct table *t, const void *p,
                                                          struct chim_block *out)
{
    uint64_t a = (uint64_t)(uintptr_t)p, h = tab_home(a);
    for (uint64_t i = 0; i < PROBE_MAX; i++) {
        struct chim_block *e = &t->slot[(h + i) & tab_mask];
        uint64_t k = __atomic_load_n(&e->addr, __ATOMIC_ACQUIRE);
        if (k == TAB_EMPTY)
            return 0;
        if (k != a)
            continue;
        *out = (struct chim_block){a, LD(e->size), LD(e->stack), LD(e->birth_ms)};
        /* A plain store: only the thread freeing p can remove its record
         * (p is not reused before the real free that follows), and the
         * slot is filled again only by whoever may fill that table after
         * reading this value. Two threads freeing the same block at once
         * (a double free in the host) may both count it. */
        __atomic_store_n(&e->addr, TAB_GONE, __ATOMIC_RELEASE);
        if (t == &shared) /* only its records are in the free filter */
            filter_dec(p);
        return 1;
    }
    return 0;
}

/* A thread's own table if it has one, else the shared one; h is b's
 * tab_home. */
static inline __attribute__((always_inline)) int tab_add_at(struct shard *sh,
                                                            const struct chim_block *b, uint64_t h)
{
    return (sh && tab_put(&sh->own, b, h)) || tab_insert(&shared, b);
}

static int tab_add(struct shard *sh, const struct chim_block *b)
{
    return tab_add_at(sh, b, tab_home(b->addr));
}

/* ---- parked records (full mode) ------------------------------------------- */

/* In full mode a new block's record goes into its thread's table at that
 * thread's next allocation, not at once: the table line is rarely cached
 * (the table is about three quarters of the heap's size), and a line
 * prefetched one allocation earlier has arrived by then. Until then the
 * record is parked in the thread's shard, where lookups also look: the
 * owner's frees first; another thread's after every table missed (a block
 * handed to another thread and freed there at once). Thread exit, fork and
 * process exit (before the scan) put every parked record in a table. The
 * site counts are not deferred.
 *
 * The owner moves its record with plain stores (a locked instruction per
 * allocation cost 2-3 % of the benchmark), raising `moving` around the
 * move. A thief takes a parked record with a CAS of its address to 0, then
 * makes sure the owner is not moving it behind its back: the owner may have
 * read the address before the CAS. A membarrier (private expedited: every
 * running thread of the process executes a full barrier) makes the owner's
 * `moving` visible, or else the owner's read comes after the CAS and sees 0
 * (asymmetric Dekker, as in userspace RCU). The thief waits for the move to
 * end and takes the record back out of the table. Without membarrier
 * (kernel < 4.14, a seccomp filter) records are not parked. */
static int asym; /* membarrier registered: records are parked */

static void asym_init(void)
{
    long q = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0);
    asym = q > 0 && (q & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
           syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0) == 0;
}

/* sh's parked record, with the address a (read from the claim word). */
static inline struct chim_block parked_at(const struct shard *sh, uint64_t a)
{
    return (struct chim_block){a, LD(sh->parked.size), LD(sh->parked.stack),
                               LD(sh->parked.birth_ms)};
}

/* Takes sh's parked record if its address is still a: the one CAS every
 * taker uses (the owner's own free, a thief, a thread that found the
 * record in a table as well, the owner's move that found no room). */
static int park_claim(struct shard *sh, uint64_t a)
{
    uint64_t k = a;
    return __atomic_compare_exchange_n(&sh->parked.addr, &k, 0, 0, __ATOMIC_ACQ_REL,
                                       __ATOMIC_ACQUIRE);
}

/* Takes a's record out of sh's table, or the shared one, where a move of
 * sh's parked record may have put it (a thief's steal, a fork child). */
static void untable(struct shard *sh, uint64_t a)
{
    struct chim_block dup;
    if (!tab_take(&sh->own, (const void *)(uintptr_t)a, &dup))
        tab_take(&shared, (const void *)(uintptr_t)a, &dup);
}

/* A block counted at its site when parked that found no room in a table:
 * taken back out of the counts, and counted as dropped. */
static void park_drop(const struct chim_block *b)
{
    count_drop(&info()->tracked_dropped);
    site_apply(b->stack, b->size, b->birth_ms, SITE_UNALLOC, 0);
}

/* The owner moves its parked record, if any, to its table. */
static inline __attribute__((always_inline)) void unpark(struct shard *sh)
{
    ST(sh->moving, 1);
    __atomic_signal_fence(__ATOMIC_SEQ_CST); /* the barrier is the thief's membarrier */
    uint64_t a = LD(sh->parked.addr);
    if (a) {
        struct chim_block b = parked_at(sh, a);
        /* No room: taken back out of the counts, unless a thief took the
         * record meanwhile (its free is counted, the pair nets out). */
        if (!tab_add_at(sh, &b, LD(sh->parked_home)) && park_claim(sh, a))
            park_drop(&b);
        __atomic_store_n(&sh->parked.addr, 0, __ATOMIC_RELEASE); /* after the key */
    }
    __atomic_store_n(&sh->moving, 0, __ATOMIC_RELEASE);
}

/* The owner parks b (h: its tab_home), its previous record going to its
 * table first. */
static void park(struct shard *sh, const struct chim_block *b, uint64_t h)
{
    if (LD(sh->parked.addr))
        unpark(sh);
    if (!asym) {
        if (!tab_add_at(sh, b, h))
            park_drop(b);
        return;
    }
    ST(sh->parked.size, b->size);
    ST(sh->parked.stack, b->stack);
    ST(sh->parked.birth_ms, b->birth_ms);
    ST(sh->parked_home, h);
    __atomic_store_n(&sh->parked.addr, b->addr, __ATOMIC_RELEASE);
}

/* The owner's free of its newest block. A CAS: process exit may be taking
 * the record at the same moment. */
static int park_take_own(struct shard *sh, uint64_t a, struct chim_block *out)
{
    if (LD(sh->parked.addr) != a)
        return 0;
    *out = parked_at(sh, a);
    return park_claim(sh, a);
}

/* Waits while sh's owner moves a record (a few instructions, unless it
 * was descheduled or is in a signal handler): yielding, and for at most a
 * second, so that a thread stopped for good (SIGSTOP, a debugger) cannot
 * hang this one. */
static void move_wait(const struct shard *sh)
{
    uint64_t until = 0;
    for (unsigned i = 1; __atomic_load_n(&sh->moving, __ATOMIC_ACQUIRE); i++) {
        if (i % 64)
            continue;
        sched_yield();
        if (i % 4096 == 0) {
            uint64_t now = chim__leak_now_ms();
            if (!until)
                until = now + 1000;
            else if (now >= until) {
                count_drop(NULL); /* the record may stay in the owner's table */
                return;
            }
        }
    }
}

/* A record found in a table may still be parked as well: its owner stores
 * the key before it clears the parking place, and may be stopped in
 * between. Cleared here (a is live until the caller's real free), or a
 * later block at the same address could take this record from there. */
static void park_clear(struct shard *sh, uint64_t a)
{
    if (__atomic_load_n(&sh->parked.addr, __ATOMIC_ACQUIRE) == a)
        park_claim(sh, a);
}

/* The same for a record found in the shared table (full mode: an owner
 * whose own table had no room moved it there). One look per shard. The
 * shared table holds few records in full mode: those of threads without a
 * shard (past their exit, or beyond SHARD_POOL at once, whose frees pay
 * this scan), of full tables, and realloc's put-backs. */
static void park_clear_all(uint64_t a)
{
    uint32_t hi = pool ? __atomic_load_n(&pool_hi, __ATOMIC_ACQUIRE) : 0;
    for (uint32_t i = 0; i < hi; i++)
        park_clear(&pool[i], a);
}

/* Takes a's record from another thread's parking place (see above): 1 if
 * taken (and in no table), 0 if it is not parked there. */
static int park_steal(struct shard *sh, uint64_t a, struct chim_block *out)
{
    if (__atomic_load_n(&sh->parked.addr, __ATOMIC_ACQUIRE) != a)
        return 0;
    struct chim_block b = parked_at(sh, a);
    if (!park_claim(sh, a))
        return 0; /* moved meanwhile: the key is in a table already */
    syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0);
    move_wait(sh);
    untable(sh, a);
    *out = b;
    return 1;
}

/* Another thread's table, if it has one, took a's record. */
static int take_foreign(struct shard *sh, const void *p, struct chim_block *out)
{
    if (sh == my_shard || !__atomic_load_n(&sh->own.slot, __ATOMIC_ACQUIRE) ||
        !tab_take(&sh->own, p, out))
        return 0;
    park_clear(sh, (uint64_t)(uintptr_t)p);
    return 1;
}

/* The shard where this thread last found another thread's block: blocks
 * handed over usually come from the same producer. */
static CHIM_TLS uint32_t foreign_hint;

/* a is in neither this thread's parking place nor its table nor the shared
 * one: another thread's table, or its parking place. The tables are looked
 * at again after the parking places: a record moved while they were read
 * is in its table by then (its key is stored before its parking place is
 * cleared). */
static int take_other(uint64_t a, struct chim_block *out)
{
    uint32_t hi = __atomic_load_n(&pool_hi, __ATOMIC_ACQUIRE);
    const void *p = (const void *)(uintptr_t)a;
    if (foreign_hint < hi && take_foreign(&pool[foreign_hint], p, out))
        return 1;
    for (int pass = 0; pass < 2; pass++) {
        for (uint32_t i = 0; i < hi; i++)
            if (take_foreign(&pool[i], p, out)) {
                foreign_hint = i;
                return 1;
            }
        for (uint32_t i = 0; pass == 0 && i < hi; i++)
            if (&pool[i] != my_shard && park_steal(&pool[i], a, out))
                return 1;
    }
    if (!tab_take(&shared, p, out))
        return 0;
    park_clear_all(a);
    return 1;
}

static __attribute__((noinline)) int take_elsewhere(uint64_t a, struct chim_block *out)
{
    int saved = errno; /* membarrier's and sched_yield's */
    int took = take_other(a, out);
    errno = saved;
    return took;
}

/* Removes p's record wherever it is (parked or in a table). */
static inline __attribute__((always_inline)) int take(const void *p, struct chim_block *out)
{
    uint64_t a = (uint64_t)(uintptr_t)p;
    if (shard_state == 1 && (park_take_own(my_shard, a, out) || tab_take(&my_shard->own, p, out)))
        return 1;
    if (tab_take(&shared, p, out)) {
        park_clear_all(a);
        return 1;
    }
    return pool && mode == CHIM_MODE_FULL && take_elsewhere(a, out);
}

/* Every shard's parked record to a table, at process exit (other threads
 * may still run: theirs are stolen, and go to the shared table). */
static void unpark_all(void)
{
    uint32_t hi = pool ? __atomic_load_n(&pool_hi, __ATOMIC_ACQUIRE) : 0;
    for (uint32_t i = 0; i < hi; i++) {
        struct shard *sh = &pool[i];
        uint64_t a = __atomic_load_n(&sh->parked.addr, __ATOMIC_ACQUIRE);
        struct chim_block b;
        if (sh == my_shard)
            unpark(sh);
        else if (a && park_steal(sh, a, &b) && !tab_insert(&shared, &b))
            park_drop(&b);
    }
}

/* A fork child: the other threads are gone, some perhaps in the middle of
 * a move (the record may be in the table as well). Every parked record
 * goes to its shard's table. */
static void unpark_child(void)
{
    uint32_t hi = pool ? LD(pool_hi) : 0;
    for (uint32_t i = 0; i < hi; i++) {
        struct shard *sh = &pool[i];
        uint64_t a = LD(sh->parked.addr);
        struct chim_block b = parked_at(sh, a);
        if (a) {
            untable(sh, a);
            if (!tab_add(sh, &b))
                park_drop(&b);
        }
        ST(sh->parked.addr, 0);
        ST(sh->moving, 0);
        memset(sh->memo, 0, sizeof sh->memo);
    }
}

/* The address tables, for the exit scan: 0 the shared one, then each
 * shard's (NULL where a shard has none). */
uint32_t chim__leak_ntables(void)
{
    return 1 + (pool ? __atomic_load_n(&pool_hi, __ATOMIC_ACQUIRE) : 0);
}

struct chim_block *chim__leak_table(uint32_t n, uint64_t *cap, const uint64_t **used)
{
    const struct table *t = n == 0 ? &shared : pool ? &pool[n - 1].own : NULL;
    struct chim_block *slot = t ? __atomic_load_n(&t->slot, __ATOMIC_ACQUIRE) : NULL;
    *cap = slot ? tab_mask + 1 : 0;
    *used = slot ? t->used : NULL;
    return slot;
}

/* ---- the call-outs -------------------------------------------------------- */

/* m holds this stack. */
static inline int memo_hit(const struct stack_memo *m, const uint64_t *ips, int d)
{
    return m->depth == (uint32_t)d && same_ips(m->ip, ips, d); /* empty: depth 0 */
}

/* The id of this stack: from sh's memo, else interned (and remembered). */
static uint32_t stack_id(struct shard *sh, const uint64_t *ips, int d)
{
    if (!sh || d > MEMO_DEPTH)
        return intern(ips, d);
    /* Two frames choose the set: behind a wrapper (operator new, xmalloc)
     * the innermost is the same for every allocation. */
    uint64_t key = ips[0] ^ (d > 1 ? ips[1] * 31 : 0);
    unsigned set = (unsigned)((key * 0x9E3779B97F4A7C15ull) >> (64 - MEMO_SET_BITS));
    struct stack_memo *m = &sh->memo[set * 2];
    if (memo_hit(&m[0], ips, d))
        return m[0].sid;
    if (memo_hit(&m[1], ips, d))
        return m[1].sid;
    uint32_t sid = intern(ips, d);
    if (sid) { /* replaces the way not filled last */
        m += sh->memo_last[set] ^= 1;
        m->sid = sid;
        m->depth = (uint32_t)d;
        memcpy(m->ip, ips, (size_t)d * sizeof *ips);
    }
    return sid;
}

static void record(struct shard *sh, void *p, size_t n, uintptr_t ra, uintptr_t fp)
{
    uint64_t ips[CHIM_STACK_DEPTH_MAX];
    /* The block's table line is rarely cached: fetch it now (in full mode
     * the record goes there at the next allocation). */
    const struct table *t = sh ? &sh->own : &shared;
    uint64_t h = tab_home((uint64_t)(uintptr_t)p);
    __builtin_prefetch(&t->slot[h & tab_mask], 1);
    int d = chim__unwind(ra, fp, ips, (int)chim__leakcfg.depth);
    uint32_t sid = stack_id(sh, ips, d);
    uint64_t now = chim__leak_now_ms();
    uint32_t carry = chim__tls.leak_carry; /* realloc: the block's first birth */
    struct chim_block b = {(uint64_t)(uintptr_t)p, n, sid,
                           carry ? carry - 1 : (uint32_t)(now - chim__leak_start_ms)};
    if (sh) { /* full mode: counted now, in the table at the next allocation */
        site_apply_to(sh, sid, n, b.birth_ms, SITE_ALLOC, now);
        park(sh, &b, h);
        return;
    }
    if (!tab_insert(&shared, &b)) {
        count_drop(&info()->tracked_dropped);
        return;
    }
    site_apply(sid, n, b.birth_ms, SITE_ALLOC, now);
}

/* Records p unless the agent itself is allocating (or has no segment). */
static inline __attribute__((always_inline)) void record_out(void *p, size_t n, uintptr_t ra,
                                                             uintptr_t fp)
{
    if (!chim__tls.in_agent && chim__seg) {
        chim__tls.in_agent = 1;
        record(shard_get(), p, n, ra, fp);
        chim__tls.in_agent = 0;
    }
}

/* Sample mode (and full mode without a shard). libm and the first random
 * seed may set errno: saved here. */
static __attribute__((noinline)) void alloc_other(void *p, size_t n, uintptr_t ra, uintptr_t fp)
{
    int saved = errno;
    if (mode == CHIM_MODE_FULL) {
        chim__tls.leak_left = -1;
    } else if (CHIM_UNLIKELY(!rng)) {
        /* The thread's first gap: this block is sampled only if it
         * reaches past it. */
        chim__tls.leak_left = next_gap() - (int64_t)n;
        if (chim__tls.leak_left >= 0) {
            errno = saved;
            return;
        }
        chim__tls.leak_left = next_gap();
    } else {
        chim__tls.leak_left = next_gap();
    }
    record_out(p, n, ra, fp);
    errno = saved;
}

/* errno is not saved on full mode's path: nothing on it sets errno (the
 * coarse clock and gettid cannot fail, short of a seccomp filter that makes
 * them fail with the vDSO off). The rare branches that may (a new shard's
 * mmap, libunwind, another thread's parked record: membarrier and
 * sched_yield; sample mode's libm) save it themselves. */
void chim__leak_alloc(void *p, size_t n, void *ra)
{
    if (CHIM_UNLIKELY(!active)) {
        /* Count mode: out of reach for good. Before the constructor: try
         * again next time. */
        chim__tls.leak_left = inited ? INT64_MAX / 4 : 0;
        return;
    }
    /* The hooks never touch rbp (-ffixed-rbp): the frame pointer this
     * function saved is the host's, where the walk starts. */
    uintptr_t fp = *(const uintptr_t *)__builtin_frame_address(0);
    if (CHIM_UNLIKELY(shard_state != 1 || mode != CHIM_MODE_FULL)) {
        alloc_other(p, n, (uintptr_t)ra, fp);
        return;
    }
    chim__tls.leak_left = -1;
    record_out(p, n, (uintptr_t)ra, fp);
}

void chim__leak_free(void *p)
{
    struct chim_block b;
    if (!active || chim__tls.in_agent)
        return;
    chim__tls.in_agent = 1; /* a signal handler's malloc or free stays out */
    if (take(p, &b))
        site_apply_to(shard_get(), b.stack, b.size, b.birth_ms, SITE_FREE, 0);
    chim__tls.in_agent = 0;
}

int chim__leak_take(void *p, struct chim_block *out)
{
    if (!active || chim__tls.in_agent)
        return 0;
    int saved = errno;
    chim__tls.in_agent = 1;
    int took = take(p, out);
    /* With the clock: the block comes back at once, so its free must not
     * fall in the previous epoch's batch (a buffer grown by realloc would
     * show as freed at the end of every epoch in the history ring). */
    if (took)
        site_apply(out->stack, out->size, out->birth_ms, SITE_FREE, chim__leak_now_ms());
    chim__tls.in_agent = 0;
    errno = saved;
    return took;
}

void chim__leak_put_back(const struct chim_block *b)
{
    int saved = errno, was = chim__tls.in_agent;
    chim__tls.in_agent = 1;
    if (tab_insert(&shared, b))
        site_apply(b->stack, b->size, b->birth_ms, SITE_UNFREE, 0);
    else
        count_drop(&info()->tracked_dropped);
    chim__tls.in_agent = was;
    errno = saved;
}

/* ---- life cycle ----------------------------------------------------------- */

static void fill_info(struct chim_leak_info *in, uint32_t unwinder)
{
    in->unwinder = unwinder;
    in->stack_depth = chim__leakcfg.depth;
    in->sample_bytes = mode == CHIM_MODE_SAMPLE ? chim__leakcfg.sample_bytes : 0;
    in->epoch_ns = chim__leakcfg.epoch_ns;
    in->tracked_max = tab_mask + 1; /* per table */
    in->origin_ns = chim__now_ns(CLOCK_REALTIME);
    if (bad_setting)
        in->flags |= CHIM_LEAK_BAD_SETTING;
}

/* CHIM_UNWIND_BENCH=N: ns per capture of each unwinder, on stderr. */
static __attribute__((noinline)) void unwind_bench(void)
{
    static const char *names[] = {"", "fp", "libunwind", "auto"};
    for (uint32_t k = CHIM_UNWIND_FP; k <= CHIM_UNWIND_LIBUNWIND; k++) {
        char num[32], line[96];
        uint64_t ns10 = (uint64_t)(chim__unwind_bench(k, chim__leakcfg.bench) * 10);
        char *e = line + chim__strlcpy(line, "chimagent: unwind ", sizeof line);
        e += chim__strlcpy(e, names[k], 16);
        e += chim__strlcpy(e, " ns/capture x10: ", 24);
        chim__utoa(ns10, num);
        e += chim__strlcpy(e, num, 24);
        *e++ = '\n';
        ssize_t r = write(2, line, (size_t)(e - line));
        (void)r;
    }
}

void chim__leak_init(void)
{
    mode = chim__cfg.mode;
    if (wanted() && chim__seg && chim__sec_base[CHIM_SEC_STACKS] &&
        chim__sec_base[CHIM_SEC_LEAKS]) {
        tab_mask = pow2_at_least(chim__leakcfg.max_tracked * 2) - 1;
        unsigned char *filter = map_anon(1u << CHIM_FILTER_BITS);
        if (mode == CHIM_MODE_FULL) {
            pool = map_anon(SHARD_POOL * sizeof(struct shard)); /* NULL: add directly */
            asym_init();
        }
        if (table_new(&shared) && filter) {
            /* Full mode: neighbouring blocks, neighbouring slots, one
             * home per 32 bytes for glibc (its chunks are at least 32
             * bytes apart), per 16 otherwise. Sample mode: the few sampled
             * blocks share few table pages (each new page is a fault). */
            home_shift = mode != CHIM_MODE_FULL ? 9 : chim__glibc_fast_usable ? 5 : 4;
            chim__leak_filt.mask = mode == CHIM_MODE_FULL ? 0 : (1u << CHIM_FILTER_BITS) - 1;
            if (mode == CHIM_MODE_FULL)
                filter[0] = 255; /* saturated: every free looks in the table */
            inv_rate = 1.0 / (double)chim__leakcfg.sample_bytes;
            chim__leak_start_ms = chim__leak_now_ms();
            stack_at(0)->state = CHIM_LEAK_READY; /* id 0: "no room" */
            chim__modules_init();
            fill_info(info(), chim__unwind_init(chim__leakcfg.unwinder));
            if (chim__leakcfg.bench)
                unwind_bench();
            chim__leak_filter = filter;
            active = 1;
        }
    }
    __atomic_store_n(&inited, 1, __ATOMIC_RELEASE);
}

void chim__leak_fini(void)
{
    if (!active)
        return;
    jmp_buf regs; /* the callee-saved registers, spilled where the scan starts */
    setjmp(regs);
    __builtin_unwind_init();
    chim__tls.in_agent = 1;
    close_shards();
    unpark_all();      /* the scan reads the tables only */
    fold_all_shards(); /* this thread's events of unpark_all */
    chim__modules_refresh();
    if (mode == CHIM_MODE_FULL && chim__leakcfg.scan)
        chim__leak_scan((uintptr_t)&regs);
    chim__tls.in_agent = 0;
}

/* The thread is about to block (sleep, poll, select, epoll_wait, pause):
 * its pending site deltas go to the segment first, so a thread that
 * allocated and then waits is seen by `leaks` while it waits. Nothing to
 * do (one load) unless this thread has full-mode deltas pending; skipped
 * inside the agent (a signal handler that sleeps mid-event). */
void chim__leak_idle(void)
{
    if (CHIM_LIKELY(shard_state != 1) || chim__tls.in_agent)
        return;
    struct shard *sh = my_shard;
    if (!LD(sh->events) || LD(shards_closed))
        return;
    int saved = errno;
    chim__tls.in_agent = 1;
    shard_fold(sh, chim__leak_now_ms(), BY_OWNER);
    chim__tls.in_agent = 0;
    errno = saved;
}

/* _exit, _Exit: no destructors and no exit scan, but the threads' pending
 * site deltas reach the segment, so blocks still live count as unfreed at
 * exit (a forked worker that leaves with _exit, a shell). */
void chim__leak_quick_exit(void)
{
    if (!active)
        return;
    chim__tls.in_agent = 1;
    close_shards();
    chim__tls.in_agent = 0;
}

/* ---- fork ----------------------------------------------------------------- */

/* The parent's segment, moved aside in the child so its sections can be
 * copied into the child's new segment. */
static void *held;
static size_t held_size;
static int held_fd = -1; /* its file, read-only, while the child copies from it */

void chim__leak_fork_prepare(void)
{
    held = NULL;
    if (!active || !chim__seg)
        return;
    size_t size = chim__seg->segment_size;
    void *dst = mmap(NULL, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (dst == MAP_FAILED)
        return;
    void *r = mremap(chim__seg, size, size, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
    if (r == MAP_FAILED) {
        munmap(dst, size);
        return;
    }
    held = r;
    held_size = size;
    held_fd = chim__seg_open_file();
}

static const struct chim_section *old_section(const struct chim_shm_header *old, uint32_t kind)
{
    const struct chim_section *s = NULL;
    for (uint32_t i = 0; i < old->nsections && i < CHIM_SECTIONS_MAX; i++)
        if (old->sections[i].kind == kind)
            s = &old->sections[i];
    return s;
}

/* Copies bytes [off, off + n) of the parent's segment (mapped at `base`)
 * to dst, a new segment (zero, sparse): only the extents its file holds
 * data in (SEEK_DATA / SEEK_HOLE; the file keeps what was never written as
 * holes). Copying whole sections, mostly empty, made both files fully
 * resident: 12.6 MiB and 10-26 ms per fork. Without the file or the
 * seek: everything, as before. */
static void copy_data(char *dst, const char *base, size_t off, size_t n)
{
    off_t pos = (off_t)off, end = (off_t)(off + n);
    if (held_fd < 0 || lseek(held_fd, pos, SEEK_DATA) < 0) {
        if (held_fd < 0 || errno != ENXIO) /* ENXIO: nothing but holes */
            memcpy(dst, base + off, n);
        return;
    }
    while (pos < end) {
        off_t data = lseek(held_fd, pos, SEEK_DATA), hole;
        if (data < 0 || data >= end)
            break;
        hole = lseek(held_fd, data, SEEK_HOLE);
        if (hole < 0 || hole > end)
            hole = end;
        memcpy(dst + (data - (off_t)off), base + data, (size_t)(hole - data));
        pos = hole;
    }
}

static void copy_section(const struct chim_shm_header *old, uint32_t kind)
{
    const struct chim_section *s = old_section(old, kind);
    if (!s || !chim__sec_base[kind] || s->count != chim__sec_count[kind])
        return;
    copy_data(chim__sec_base[kind], (const char *)old, s->offset, s->count * s->elem_size);
}

/* Parent, the forking thread, in the atfork prepare handler. The rows
 * are in the shared segment: after fork they go on changing with the
 * parent's events, which the child does not have. So each claimed row is
 * copied now into its shard's private `priv`, which the child inherits as
 * it is at fork; this thread's own row is folded first (exact: it is the
 * owner), so the parent's later folds add only post-fork events. Another
 * thread's events between this copy and the fork itself race the fork,
 * as its folds race the child's copy of SITES. */
void chim__leak_fork_snapshot(void)
{
    if (!active || !pool || !chim__sec_base[CHIM_SEC_DELTAS])
        return;
    if (shard_state == 1 && !chim__tls.in_agent && !LD(shards_closed)) {
        chim__tls.in_agent = 1;
        shard_fold(my_shard, chim__leak_now_ms(), BY_OWNER);
        chim__tls.in_agent = 0;
    }
    uint32_t hi = __atomic_load_n(&pool_hi, __ATOMIC_ACQUIRE);
    for (uint32_t i = 0; i < hi; i++) {
        struct shard *sh = &pool[i];
        struct chim_delta_row *r = sh->row;
        if (!LD(sh->used) || !r || r == &sh->priv)
            continue;
        for (int tries = 0; tries < 100; tries++) { /* not during one of its folds */
            uint64_t seq = __atomic_load_n(&r->seq, __ATOMIC_ACQUIRE);
            for (int k = 0; k < SHARD_WAYS; k++) {
                struct chim_site_delta *w = &r->d[k], *c = &sh->priv.d[k];
                c->stack = LD(w->stack), c->bucket = LD(w->bucket);
                c->allocs = LD(w->allocs), c->frees = LD(w->frees);
                c->alloc_bytes = LD(w->alloc_bytes), c->free_bytes = LD(w->free_bytes);
            }
            __atomic_thread_fence(__ATOMIC_ACQUIRE);
            if (!(seq & 1) && __atomic_load_n(&r->seq, __ATOMIC_RELAXED) == seq)
                break;
        }
        sh->snap = 1;
    }
}

/* Parent, after fork: the copies are not needed. */
void chim__leak_fork_parent(void)
{
    uint32_t hi = pool ? __atomic_load_n(&pool_hi, __ATOMIC_ACQUIRE) : 0;
    for (uint32_t i = 0; i < hi; i++)
        pool[i].snap = 0;
}

/* Child: the parent's threads' pending deltas at fork (private rows, or
 * the copies taken before fork) describe blocks the child inherits: they
 * are added to the child's copy of SITES when `fold` is set, else
 * dropped. The parent's rows in its segment are never read: they hold its
 * events after fork too. Then every shard points at its row of the
 * child's segment (a private one without it), and only this thread's
 * shard stays claimed. */
static void fork_fold_rows(int fold)
{
    uint64_t now = chim__leak_now_ms();
    for (uint32_t i = 0; pool && i < pool_hi; i++) {
        struct shard *sh = &pool[i];
        if (!sh->row)
            continue; /* never claimed */
        if (sh->row == &sh->priv || sh->snap) {
            if (fold)
                row_fold(&sh->priv, now, BY_OTHER);
            memset(&sh->priv, 0, sizeof sh->priv);
        }
        sh->snap = 0;
        sh->row = row_of(i);
        sh->events = 0;
        if (sh != my_shard)
            sh->used = 0;
    }
    if (shard_state == 1)
        ST(my_shard->row->tid, (uint32_t)syscall(SYS_gettid));
}

/* The child inherits the parent's live blocks (its address table is a copy
 * of the parent's, its heap holds them): its segment starts with the
 * parent's modules, stacks and site counters. */
void chim__leak_fork_child(void)
{
    chim__threads_reset_child();
    /* A new seed (this thread's id differs from the parent's) and a new gap:
     * forked workers must not repeat each other's samples, or their errors
     * would add up instead of averaging out. */
    rng = 0;
    if (mode == CHIM_MODE_SAMPLE)
        chim__tls.leak_left = next_gap();
    if (!held) {
        fork_fold_rows(0);
        return;
    }
    if (chim__seg && chim__sec_base[CHIM_SEC_LEAKS]) {
        const struct chim_shm_header *old = held;
        copy_section(old, CHIM_SEC_MODULES);
        copy_section(old, CHIM_SEC_STACKS);
        copy_section(old, CHIM_SEC_SITES);
        copy_section(old, CHIM_SEC_LEAKS);
        info()->flags |= CHIM_LEAK_INHERITED;
        info()->scan_state = CHIM_SCAN_NONE;
        unpark_child();
        fork_fold_rows(1);
        if (asym)
            asym_init(); /* a registration is the process's, not inherited */
    } else {
        active = 0; /* no segment: stop tracking rather than write nowhere */
        chim__leak_filter = NULL;
        fork_fold_rows(0);
    }
    munmap(held, held_size);
    held = NULL;
    if (held_fd >= 0)
        syscall(SYS_close, held_fd);
    held_fd = -1;
    chim__modules_init();
}
