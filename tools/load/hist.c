/*
 * hist.c - the load generator's latency histogram: log-linear buckets of
 * microseconds (HdrHistogram's layout at roughly two significant digits),
 * fixed size and allocation-free so recording costs a few instructions on
 * the event loop's hot path.
 */
#include "load_int.h"

static int bucket_of(uint64_t us)
{
    if (us < 128)
        return (int)us;
    int e = 63 - __builtin_clzll(us);
    if (e > CHIM__LH_MAXEXP)
        return CHIM__LH_BUCKETS - 1;
    uint64_t top = us >> (e - 6); /* 64..127 */
    return 128 + (e - 7) * CHIM__LH_SUB + (int)(top - 64);
}

static uint64_t bucket_high(int idx)
{
    if (idx < 128)
        return (uint64_t)idx;
    int k = idx - 128, e = k / CHIM__LH_SUB + 7;
    uint64_t low = (uint64_t)(k % CHIM__LH_SUB + 64) << (e - 6);
    return low + (1ull << (e - 6)) - 1;
}

void chim__lhist_record(struct chim__lhist *h, uint64_t us)
{
    h->counts[bucket_of(us)]++;
    h->total++;
    h->sum += us;
    if (us > h->max)
        h->max = us;
}

uint64_t chim__lhist_quantile(const struct chim__lhist *h, double q)
{
    if (!h->total)
        return 0;
    uint64_t want = (uint64_t)(q * (double)h->total + 0.999999);
    if (want < 1)
        want = 1;
    uint64_t seen = 0;
    for (int i = 0; i < CHIM__LH_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= want) {
            uint64_t v = bucket_high(i);
            return v < h->max ? v : h->max;
        }
    }
    return h->max;
}
