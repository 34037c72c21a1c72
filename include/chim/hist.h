/*
 * hist.h - log-linear latency histogram in caller-owned memory.
 *
 * Why: the agent records latencies into histograms that live inside the
 * shared-memory segment, and the collector merges them exactly across
 * threads and processes. So the histogram is one fixed-size struct with no
 * pointers (HdrHistogram-style math, our own code): it can be placed in an
 * mmapped file, zero-filled to initialise, and added counter by counter.
 *
 * Layout: values are microseconds. Values below 2*S (S = 128 sub-buckets)
 * get one bucket each (exact). Above that, every power of two [2^k, 2^(k+1))
 * is split into S equal buckets of width 2^(k-7). The top bucket ends at
 * 2^30 us (about 17.9 minutes); larger values are clamped into the last
 * bucket and counted in `over` (`max` keeps the true value).
 *
 * Error bound: a percentile is reported as the midpoint of the bucket that
 * holds the sample of that rank, clamped to the recorded maximum (the
 * 100th percentile is the exact maximum). A bucket
 * is at most 1/128 of its lower bound wide, so the relative error of any
 * reported percentile is at most 1/256 (0.39 %) for values inside the range.
 *
 * Size: CHIM_HIST_BUCKETS = 3072 counters, sizeof(struct chim_hist) = 24608
 * bytes. Recording is lock-free (relaxed atomics), so many threads may
 * record into the same histogram; readers tolerate a concurrent writer (the
 * totals may lag the buckets by a few counts).
 */
#ifndef CHIM_HIST_H
#define CHIM_HIST_H

#include <stdint.h>

#define CHIM_HIST_SUB_BITS 7                          /* log2 of sub-buckets */
#define CHIM_HIST_SUB      (1u << CHIM_HIST_SUB_BITS) /* 128 per power of two */
#define CHIM_HIST_TOP_BITS 30                         /* range ends at 2^30 us */
#define CHIM_HIST_MAX_US   ((1ull << CHIM_HIST_TOP_BITS) - 1)
#define CHIM_HIST_BUCKETS  ((CHIM_HIST_TOP_BITS - CHIM_HIST_SUB_BITS + 1) * CHIM_HIST_SUB)

struct chim_hist {
    uint64_t count; /* values recorded */
    uint64_t sum;   /* sum of recorded values (us), for the mean */
    uint64_t max;   /* largest recorded value (us), unclamped */
    uint64_t over;  /* values above CHIM_HIST_MAX_US (clamped into the top bucket) */
    uint64_t counts[CHIM_HIST_BUCKETS];
};

_Static_assert(CHIM_HIST_BUCKETS == 3072, "histogram bucket count");
_Static_assert(sizeof(struct chim_hist) == 32 + 3072 * 8, "histogram size is ABI");

/* Bucket index of value v (us); values above the range map to the last bucket. */
static inline uint32_t chim_hist_index(uint64_t v)
{
    if (v > CHIM_HIST_MAX_US)
        v = CHIM_HIST_MAX_US;
    if (v < 2 * CHIM_HIST_SUB)
        return (uint32_t)v;
    uint32_t k = 63u - (uint32_t)__builtin_clzll(v); /* floor(log2 v) >= SUB_BITS + 1 */
    uint32_t shift = k - CHIM_HIST_SUB_BITS;
    return shift * CHIM_HIST_SUB + (uint32_t)(v >> shift);
}

/* Lowest value (us) held by bucket i. */
static inline uint64_t chim_hist_lowest(uint32_t i)
{
    if (i < 2 * CHIM_HIST_SUB)
        return i;
    uint32_t shift = i / CHIM_HIST_SUB - 1;
    return (uint64_t)(i - shift * CHIM_HIST_SUB) << shift;
}

/* Width (number of distinct us values) of bucket i. */
static inline uint64_t chim_hist_width(uint32_t i)
{
    if (i < 2 * CHIM_HIST_SUB)
        return 1;
    return 1ull << (i / CHIM_HIST_SUB - 1);
}

/* The value reported for bucket i: its midpoint. */
static inline uint64_t chim_hist_mid(uint32_t i)
{
    return chim_hist_lowest(i) + chim_hist_width(i) / 2;
}

/* Record one value (us). Thread-safe: relaxed atomic adds, CAS for max. */
static inline void chim_hist_record(struct chim_hist *h, uint64_t v)
{
    __atomic_fetch_add(&h->counts[chim_hist_index(v)], 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&h->count, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&h->sum, v, __ATOMIC_RELAXED);
    if (v > CHIM_HIST_MAX_US)
        __atomic_fetch_add(&h->over, 1, __ATOMIC_RELAXED);
    uint64_t m = __atomic_load_n(&h->max, __ATOMIC_RELAXED);
    while (v > m &&
           !__atomic_compare_exchange_n(&h->max, &m, v, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
}

/* Add src into dst exactly (dst may be recorded into concurrently). */
static inline void chim_hist_merge(struct chim_hist *dst, const struct chim_hist *src)
{
    for (uint32_t i = 0; i < CHIM_HIST_BUCKETS; i++) {
        uint64_t n = __atomic_load_n(&src->counts[i], __ATOMIC_RELAXED);
        if (n)
            __atomic_fetch_add(&dst->counts[i], n, __ATOMIC_RELAXED);
    }
    __atomic_fetch_add(&dst->count, __atomic_load_n(&src->count, __ATOMIC_RELAXED),
                       __ATOMIC_RELAXED);
    __atomic_fetch_add(&dst->sum, __atomic_load_n(&src->sum, __ATOMIC_RELAXED), __ATOMIC_RELAXED);
    __atomic_fetch_add(&dst->over, __atomic_load_n(&src->over, __ATOMIC_RELAXED), __ATOMIC_RELAXED);
    uint64_t v = __atomic_load_n(&src->max, __ATOMIC_RELAXED);
    uint64_t m = __atomic_load_n(&dst->max, __ATOMIC_RELAXED);
    while (v > m &&
           !__atomic_compare_exchange_n(&dst->max, &m, v, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
}

/* Number of values held by the buckets (authoritative for percentiles). */
static inline uint64_t chim_hist_total(const struct chim_hist *h)
{
    uint64_t n = 0;
    for (uint32_t i = 0; i < CHIM_HIST_BUCKETS; i++)
        n += __atomic_load_n(&h->counts[i], __ATOMIC_RELAXED);
    return n;
}

static inline uint64_t chim_hist_max(const struct chim_hist *h)
{
    return __atomic_load_n(&h->max, __ATOMIC_RELAXED);
}

/* Mean in us, 0 for an empty histogram. */
static inline double chim_hist_mean(const struct chim_hist *h)
{
    uint64_t n = __atomic_load_n(&h->count, __ATOMIC_RELAXED);
    return n ? (double)__atomic_load_n(&h->sum, __ATOMIC_RELAXED) / (double)n : 0.0;
}

/* Value (us) at percentile p (0..100, nearest rank: the sample of rank
 * ceil(p/100 * n), at least 1). Returns 0 for an empty histogram. The
 * result is within 1/256 of the true sample value (see the top comment). */
static inline uint64_t chim_hist_percentile(const struct chim_hist *h, double p)
{
    uint64_t n = chim_hist_total(h);
    if (n == 0)
        return 0;
    if (!(p > 0.0))
        p = 0.0; /* also catches NaN */
    if (p > 100.0)
        p = 100.0;
    double r = p / 100.0 * (double)n;
    uint64_t rank = (uint64_t)r;
    if ((double)rank < r)
        rank++;
    if (rank < 1)
        rank = 1;
    if (rank >= n && chim_hist_max(h))
        return chim_hist_max(h); /* the largest sample is known exactly */
    uint64_t cum = 0;
    uint32_t i = 0;
    for (; i < CHIM_HIST_BUCKETS; i++) {
        cum += __atomic_load_n(&h->counts[i], __ATOMIC_RELAXED);
        if (cum >= rank)
            break;
    }
    if (i == CHIM_HIST_BUCKETS)
        i = CHIM_HIST_BUCKETS - 1;
    uint64_t v = chim_hist_mid(i), m = chim_hist_max(h);
    if (m && v > m && m >= chim_hist_lowest(i))
        v = m;
    return v;
}

#endif /* CHIM_HIST_H */
