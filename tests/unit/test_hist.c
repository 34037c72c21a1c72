/*
 * test_hist.c - the log-linear histogram: index/range round trips, the
 * percentile error bound (<= 1/256) over random values across the whole
 * range, exact merging, concurrent recording, clamping.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "chim/hist.h"

static struct chim_hist H, H2, M;

static uint64_t rnd64(void)
{
    return ((uint64_t)rand() << 32) ^ ((uint64_t)rand() << 16) ^ (uint64_t)rand();
}

/* Log-uniform value in [1, 2^30). */
static uint64_t rnd_val(void)
{
    int bits = 1 + rand() % 30;
    uint64_t v = rnd64() & ((1ull << bits) - 1);
    return v ? v : 1;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

Test(hist, index_round_trip)
{
    cr_assert_eq(sizeof(struct chim_hist), 24608);
    uint32_t prev = 0;
    for (uint64_t v = 0; v < (1u << 20); v++) {
        uint32_t i = chim_hist_index(v);
        cr_assert(i == prev || i == prev + 1);
        prev = i;
        cr_assert_leq(chim_hist_lowest(i), v);
        cr_assert_lt(v, chim_hist_lowest(i) + chim_hist_width(i));
    }
    for (uint32_t i = 0; i < CHIM_HIST_BUCKETS; i++) {
        cr_assert_eq(chim_hist_index(chim_hist_lowest(i)), i);
        uint64_t top = chim_hist_lowest(i) + chim_hist_width(i) - 1;
        cr_assert_eq(chim_hist_index(top), i);
        cr_assert_leq(chim_hist_width(i) * 128,
                      chim_hist_lowest(i) > 255 ? chim_hist_lowest(i) : 1u << 30);
    }
    cr_assert_eq(chim_hist_index(CHIM_HIST_MAX_US), CHIM_HIST_BUCKETS - 1);
    cr_assert_eq(chim_hist_index(UINT64_MAX), CHIM_HIST_BUCKETS - 1);
}

Test(hist, percentile_error_bound)
{
    static uint64_t vals[200000];
    srand(42);
    for (int round = 0; round < 5; round++) {
        memset(&H, 0, sizeof H);
        int n = 1000 + rand() % 199000;
        for (int i = 0; i < n; i++) {
            vals[i] = rnd_val();
            chim_hist_record(&H, vals[i]);
        }
        qsort(vals, (size_t)n, sizeof vals[0], cmp_u64);
        cr_assert_eq(chim_hist_total(&H), (uint64_t)n);
        cr_assert_eq(H.count, (uint64_t)n);
        cr_assert_eq(chim_hist_max(&H), vals[n - 1]);
        double worst = 0;
        for (double p = 0; p <= 100.0; p += 0.25) {
            uint64_t rank = (uint64_t)ceil(p / 100.0 * n);
            rank = rank < 1 ? 1 : rank;
            uint64_t exact = vals[rank - 1], got = chim_hist_percentile(&H, p);
            double err = fabs((double)got - (double)exact) / (double)exact;
            worst = err > worst ? err : worst;
        }
        cr_assert_leq(worst, 1.0 / 256 + 1e-12, "worst relative error %g", worst);
        cr_assert_leq(worst, 0.01);
        cr_assert_eq(chim_hist_percentile(&H, 100), vals[n - 1]);
    }
}

Test(hist, merge_is_exact)
{
    memset(&H, 0, sizeof H);
    memset(&H2, 0, sizeof H2);
    memset(&M, 0, sizeof M);
    struct chim_hist *all = calloc(1, sizeof *all);
    srand(3);
    for (int i = 0; i < 50000; i++) {
        uint64_t v = rnd_val();
        chim_hist_record(i & 1 ? &H : &H2, v);
        chim_hist_record(all, v);
    }
    chim_hist_merge(&M, &H);
    chim_hist_merge(&M, &H2);
    cr_assert_eq(memcmp(&M, all, sizeof M), 0);
    for (double p = 1; p < 100; p += 7)
        cr_assert_eq(chim_hist_percentile(&M, p), chim_hist_percentile(all, p));
    cr_assert_float_eq(chim_hist_mean(&M), chim_hist_mean(all), 1e-9);
    free(all);
}

Test(hist, empty_small_and_clamped)
{
    memset(&H, 0, sizeof H);
    cr_assert_eq(chim_hist_percentile(&H, 50), 0);
    cr_assert_eq(chim_hist_mean(&H), 0.0);
    for (uint64_t v = 1; v <= 100; v++)
        chim_hist_record(&H, v);
    cr_assert_eq(chim_hist_percentile(&H, 50), 50); /* exact below 256 us */
    cr_assert_eq(chim_hist_percentile(&H, 99), 99);
    cr_assert_eq(chim_hist_percentile(&H, 0), 1);
    cr_assert_eq(chim_hist_percentile(&H, -5), 1);
    cr_assert_eq(chim_hist_percentile(&H, 1e9), 100);
    cr_assert_eq(chim_hist_percentile(&H, NAN), 1);
    cr_assert_float_eq(chim_hist_mean(&H), 50.5, 1e-9);
    chim_hist_record(&H, 1ull << 40); /* far beyond 10 minutes */
    cr_assert_eq(H.over, 1);
    cr_assert_eq(chim_hist_max(&H), 1ull << 40);
    uint64_t top = chim_hist_percentile(&H, 100);
    cr_assert_geq(top, chim_hist_lowest(CHIM_HIST_BUCKETS - 1));
    cr_assert(600ull * 1000000 < CHIM_HIST_MAX_US, "covers 10 minutes");
}

static void *writer(void *arg)
{
    for (int i = 0; i < 100000; i++)
        chim_hist_record(&H2, (uint64_t)(i % 5000) + 1);
    return arg;
}

Test(hist, concurrent_record)
{
    memset(&H2, 0, sizeof H2);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, writer, NULL);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(chim_hist_total(&H2), 400000);
    cr_assert_eq(H2.count, 400000);
    cr_assert_eq(H2.max, 5000);
}
