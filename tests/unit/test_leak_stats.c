/*
 * test_leak_stats.c - the leak model's pure parts: sampling weights, the
 * least-squares slope with its confidence interval, the classification and
 * folded-stack lines (collector/leaks.c).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "leaks.h"

Test(leak_weights, unbiased_for_small_and_large_blocks)
{
    double r = 524288;
    /* A block much smaller than R stands for about R bytes. */
    cr_assert(fabs(chim_sample_weight_bytes(64, r) - (r + 32)) < 1.0);
    /* A block much larger than R is always sampled and stands for itself. */
    cr_assert(fabs(chim_sample_weight_bytes(64 << 20, r) - (64 << 20)) < 1e-6);
    cr_assert(fabs(chim_sample_weight_count(64 << 20, r) - 1.0) < 1e-9);
    /* Z = R: 1 / (1 - 1/e). */
    cr_assert(fabs(chim_sample_weight_count(r, r) - 1.0 / (1.0 - exp(-1.0))) < 1e-12);
}

Test(leak_weights, expectation_is_the_true_size)
{
    /* E[weight x sampled] = Z for any Z: P(sampled) x Z / P(sampled). */
    double r = 4096;
    for (double z = 1; z < 1e7; z *= 3.7) {
        double p = 1 - exp(-z / r);
        cr_assert(fabs(p * chim_sample_weight_bytes(z, r) - z) < 1e-6 * z);
    }
}

Test(leak_slope, exact_line)
{
    double t[] = {0, 1, 2, 3, 4}, y[] = {10, 12, 14, 16, 18};
    struct chim_slope s;
    cr_assert_eq(chim_slope_fit(t, y, 5, &s), 0);
    cr_assert(fabs(s.slope - 2) < 1e-12 && fabs(s.intercept - 10) < 1e-12);
    cr_assert(s.se < 1e-12 && s.lo > 1.99);
}

Test(leak_slope, noise_widens_the_interval)
{
    double t[] = {0, 1, 2, 3, 4, 5}, y[] = {0, 5, -5, 5, -5, 0};
    struct chim_slope s;
    cr_assert_eq(chim_slope_fit(t, y, 6, &s), 0);
    cr_assert(s.lo < 0 && s.hi > 0, "flat noise: the interval holds zero");
    cr_assert_eq(chim_slope_fit(t, y, 2, &s), -1, "two points are not a fit");
    double tc[] = {1, 1, 1};
    cr_assert_eq(chim_slope_fit(tc, y, 3, &s), -1, "no spread in time");
    cr_assert(fabs(chim_t975(1) - 12.706) < 1e-3 && fabs(chim_t975(1000) - 1.96) < 1e-9);
}

Test(leak_classify, scan_and_growth)
{
    struct chim_class_in in = {0};
    in.scanned = 1;
    in.leaked_bytes = 10;
    cr_assert_eq(chim_leak_classify(&in), CHIM_CLASS_LEAK);
    in.leaked_bytes = 0;
    in.reachable_bytes = 5;
    cr_assert_eq(chim_leak_classify(&in), CHIM_CLASS_RETAINED);
    in.reachable_bytes = 0;
    cr_assert_eq(chim_leak_classify(&in), CHIM_CLASS_CHURN);

    struct chim_class_in g = {0};
    g.have_growth = 1;
    g.growth = (struct chim_slope){.slope = 1e6, .lo = 5e5, .hi = 1.5e6, .n = 10};
    g.window_s = 10;
    g.live = 1e7;
    g.old_bytes = 1e6;
    cr_assert_eq(chim_leak_classify(&g), CHIM_CLASS_LEAK, "growing and old blocks stay");
    g.old_bytes = 0;
    cr_assert_eq(chim_leak_classify(&g), CHIM_CLASS_CHURN, "growing but all young: not yet");
    g.old_bytes = 1e6;
    g.growth.lo = -1;
    cr_assert_eq(chim_leak_classify(&g), CHIM_CLASS_RETAINED, "not surely growing: retained");
    g.have_recent = 1;
    g.growth = (struct chim_slope){.slope = 1e6, .lo = 5e5, .hi = 1.5e6, .n = 10};
    g.recent = (struct chim_slope){.slope = 0, .lo = -1e3, .hi = 1e3, .n = 5};
    cr_assert_eq(chim_leak_classify(&g), CHIM_CLASS_RETAINED,
                 "grew, then surely stopped: retained");
    g.recent = (struct chim_slope){.slope = 2e5, .lo = -5e5, .hi = 9e5, .n = 5};
    cr_assert_eq(chim_leak_classify(&g), CHIM_CLASS_LEAK, "a noisy later half may still grow");
    g.have_recent = 0;
    g.growth = (struct chim_slope){.slope = 10, .lo = 5, .hi = 15, .n = 10};
    cr_assert_eq(chim_leak_classify(&g), CHIM_CLASS_RETAINED, "100 B over the window is noise");
    g.live = 0;
    g.old_bytes = 0;
    cr_assert_eq(chim_leak_classify(&g), CHIM_CLASS_CHURN);
}

Test(leak_folded, root_first)
{
    const char *frames[] = {"leaf", "mid", "main"};
    char buf[128];
    int n = chim_folded_line(buf, sizeof buf, frames, 3, 4096);
    cr_assert_str_eq(buf, "main;mid;leaf 4096");
    cr_assert_eq(n, (int)strlen(buf));
    char tiny[8];
    n = chim_folded_line(tiny, sizeof tiny, frames, 3, 4096);
    cr_assert_eq(n, (int)strlen("main;mid;leaf 4096"), "returns the length it needed");
    cr_assert_eq(strlen(tiny), 7u);
}
