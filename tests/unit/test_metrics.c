/*
 * test_metrics.c - the exporter model (collector/metrics.h): every bucket
 * bound is one of our histogram's bucket edges, folding is exact against a
 * brute-force count of the recorded values, buckets are monotonic with
 * +Inf == _count, label values are sanitized (UTF-8) and escaped, le values
 * print exactly, the Accept negotiation, and the text checker finds
 * decreasing buckets, a wrong _count and duplicate series.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "chim/hist.h"
#include "metrics.h"

static struct chim_hist H;

Test(metrics, bounds_are_bucket_edges)
{
    for (size_t b = 0; b < CHIM_METRICS_NBOUNDS; b++) {
        uint64_t us = chim_metrics_bounds_us[b];
        cr_assert_eq(chim_hist_lowest(chim_hist_index(us)), us, "bound %llu us is not an edge",
                     (unsigned long long)us);
        if (b)
            cr_assert_gt(us, chim_metrics_bounds_us[b - 1]);
    }
    cr_assert_lt(chim_metrics_bounds_us[CHIM_METRICS_NBOUNDS - 1], CHIM_HIST_MAX_US);
}

Test(metrics, fold_is_exact)
{
    static uint64_t vals[20000];
    memset(&H, 0, sizeof H);
    srand(7);
    for (size_t i = 0; i < 20000; i++) {
        int bits = 1 + rand() % 28;
        vals[i] = ((uint64_t)rand() * 2654435761u) & ((1ull << bits) - 1);
        if (i % 50 == 0) /* values right at and next to the bounds */
            vals[i] =
                chim_metrics_bounds_us[rand() % CHIM_METRICS_NBOUNDS] - (uint64_t)(rand() % 2);
        chim_hist_record(&H, vals[i]);
    }
    struct chim_metrics_hist m = {0};
    chim_metrics_fold(&m, &H);
    for (size_t b = 0; b < CHIM_METRICS_NBOUNDS; b++) {
        uint64_t want = 0;
        for (size_t i = 0; i < 20000; i++)
            want += vals[i] < chim_metrics_bounds_us[b];
        cr_assert_eq(m.cum[b], want, "bucket %zu: %llu, want %llu", b, (unsigned long long)m.cum[b],
                     (unsigned long long)want);
    }
    cr_assert_eq(m.cum[CHIM_METRICS_NBOUNDS], 20000);
    cr_assert_eq(m.sum_us, H.sum);
}

Test(metrics, fold_is_monotonic_and_adds)
{
    memset(&H, 0, sizeof H);
    for (uint64_t v = 1; v < (1ull << 30); v = v * 3 + 1)
        chim_hist_record(&H, v);
    chim_hist_record(&H, 1ull << 40); /* clamped: still in +Inf */
    struct chim_metrics_hist m = {0};
    chim_metrics_fold(&m, &H);
    chim_metrics_fold(&m, &H); /* two processes' worth */
    for (size_t b = 1; b <= CHIM_METRICS_NBOUNDS; b++)
        cr_assert_geq(m.cum[b], m.cum[b - 1]);
    cr_assert_eq(m.cum[CHIM_METRICS_NBOUNDS], 2 * chim_hist_total(&H));
}

Test(metrics, le_values)
{
    char b[32];
    cr_assert_str_eq(chim_metrics_le(0, b, sizeof b), "0.0001");
    cr_assert_str_eq(chim_metrics_le(1, b, sizeof b), "0.00025");
    cr_assert_str_eq(chim_metrics_le(3, b, sizeof b), "0.001");
    cr_assert_str_eq(chim_metrics_le(13, b, sizeof b), "1.024");
    cr_assert_str_eq(chim_metrics_le(CHIM_METRICS_NBOUNDS - 1, b, sizeof b), "65.536");
    cr_assert_str_eq(chim_metrics_le(CHIM_METRICS_NBOUNDS, b, sizeof b), "+Inf");
}

static char *escaped(const char *v)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    chim_metrics_escape(f, v);
    fclose(f);
    return buf;
}

Test(metrics, escaping)
{
    char *e = escaped("a\\b\"c\nd");
    cr_assert_str_eq(e, "a\\\\b\\\"c\\nd");
    free(e);
    e = escaped("/users/{id}");
    cr_assert_str_eq(e, "/users/{id}");
    free(e);
}

Test(metrics, sanitize_utf8)
{
    char out[64];
    const char bad[] = {'/',        'a',        (char)0xff, 'b',  (char)0xc3,
                        (char)0xa9, (char)0xe2, (char)0x82, '\t', (char)0xed,
                        (char)0xa0, (char)0x80, 0};
    chim_metrics_sanitize(out, sizeof out, bad, sizeof bad);
    cr_assert_str_eq(out, "/a?b\xc3\xa9??????");
    /* unterminated field: stops at the field's end */
    char field[4] = {'a', 'b', 'c', 'd'};
    chim_metrics_sanitize(out, sizeof out, field, sizeof field);
    cr_assert_str_eq(out, "abcd");
    /* a multi-byte character never split by the destination's end */
    chim_metrics_sanitize(out, 3, "a\xc3\xa9", 4);
    cr_assert_str_eq(out, "a?");
}

Test(metrics, negotiate)
{
    cr_assert_eq(chim_metrics_negotiate(NULL), CHIM_METRICS_PROMETHEUS);
    cr_assert_eq(chim_metrics_negotiate("*/*"), CHIM_METRICS_PROMETHEUS);
    cr_assert_eq(chim_metrics_negotiate("application/openmetrics-text;version=1.0.0,application/"
                                        "openmetrics-text;version=0.0.1;q=0.75,text/plain;"
                                        "version=0.0.4;q=0.5,*/*;q=0.1"),
                 CHIM_METRICS_OPENMETRICS);
    cr_assert_eq(chim_metrics_negotiate("text/plain;version=0.0.4;q=0.9, "
                                        "application/openmetrics-text;q=0.5"),
                 CHIM_METRICS_PROMETHEUS);
    cr_assert_eq(chim_metrics_negotiate("application/openmetrics-text; q=0"),
                 CHIM_METRICS_PROMETHEUS);
}

Test(metrics, checker)
{
    char why[256];
    const char *good = "# TYPE h histogram\n"
                       "h_bucket{pid=\"1\",le=\"0.1\"} 1\nh_bucket{pid=\"1\",le=\"+Inf\"} 3\n"
                       "h_sum{pid=\"1\"} 0.5\nh_count{pid=\"1\"} 3\n";
    cr_assert_eq(chim_metrics_check_text(good, why, sizeof why), 0, "%s", why);
    const char *down = "h_bucket{pid=\"1\",le=\"0.1\"} 4\nh_bucket{pid=\"1\",le=\"+Inf\"} 3\n"
                       "h_count{pid=\"1\"} 3\n";
    cr_assert_gt(chim_metrics_check_text(down, why, sizeof why), 0);
    cr_assert(strstr(why, "below"), "%s", why);
    const char *cnt = "h_bucket{pid=\"1\",le=\"+Inf\"} 3\nh_count{pid=\"1\"} 4\n";
    cr_assert_gt(chim_metrics_check_text(cnt, why, sizeof why), 0);
    const char *dup = "g{pid=\"1\"} 3\ng{pid=\"2\"} 3\ng{pid=\"1\"} 4\n";
    cr_assert_gt(chim_metrics_check_text(dup, why, sizeof why), 0);
    cr_assert(strstr(why, "twice"), "%s", why);
}
