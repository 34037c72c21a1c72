/*
 * test_analyzer_stats.c - the one-sided Mann-Whitney U test against the
 * published critical values (one-tailed alpha = 0.05), exact p-values with
 * ties against brute-force enumeration, the regression classes at exactly
 * 10 %, 25 % and 50 %, and the DIFFERENT / SAME / UNKNOWN / UNCONFIRMED
 * verdicts.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "chim_analyzer.h"

/* Published table of critical U (reject H0 when U <= value), one-tailed
 * alpha = 0.05, n1 <= n2 (e.g. Siegel & Castellan, Table J; Zar, B.11). */
static const struct {
    int m, n, crit;
} table[] = {
    {3, 3, 0},    {3, 4, 0},     {3, 5, 1},  {3, 6, 2},  {3, 7, 2},   {3, 8, 3},  {3, 9, 4},
    {3, 10, 4},   {4, 4, 1},     {4, 5, 2},  {4, 6, 3},  {4, 7, 4},   {4, 8, 5},  {4, 9, 6},
    {4, 10, 7},   {5, 5, 4},     {5, 6, 5},  {5, 7, 6},  {5, 8, 8},   {5, 9, 9},  {5, 10, 11},
    {6, 6, 7},    {6, 7, 8},     {6, 8, 10}, {6, 9, 12}, {6, 10, 14}, {7, 7, 11}, {7, 8, 13},
    {7, 9, 15},   {7, 10, 17},   {8, 8, 15}, {8, 9, 18}, {8, 10, 20}, {9, 9, 21}, {9, 10, 24},
    {10, 10, 27}, {20, 20, 138},
};

Test(mwu, critical_values_match_published_table)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        int m = table[i].m, n = table[i].n, c = table[i].crit;
        double at = chim_mwu_cdf(m, n, c), above = chim_mwu_cdf(m, n, c + 1);
        cr_expect(at <= 0.05, "n1=%d n2=%d: P(U<=%d)=%g", m, n, c, at);
        cr_expect(above > 0.05, "n1=%d n2=%d: P(U<=%d)=%g", m, n, c + 1, above);
    }
}

Test(mwu, complete_separation_three_and_five_runs)
{
    double a[] = {1, 2, 3}, b[] = {4, 5, 6};
    struct chim_mwu r;
    cr_assert_eq(chim_mwu_greater(b, 3, a, 3, &r), 0);
    cr_assert_float_eq(r.u, 9, 1e-12);
    cr_assert_float_eq(r.p, 0.05, 1e-12); /* 1 / C(6,3) */
    cr_assert(r.exact);
    double c[] = {1, 2, 3, 4, 5}, d[] = {6, 7, 8, 9, 10};
    cr_assert_eq(chim_mwu_greater(d, 5, c, 5, &r), 0);
    cr_assert_float_eq(r.p, 1.0 / 252, 1e-12);
    cr_assert_eq(chim_mwu_greater(c, 5, d, 5, &r), 0);
    cr_assert_float_eq(r.p, 1.0, 1e-12);
    cr_assert_float_eq(r.u, 0, 1e-12);
}

/* Brute force: P(U >= u_obs) over all splits of the pooled sample. */
static double brute(const double *x, int nx, const double *y, int ny)
{
    double pool[16];
    int n = nx + ny;
    memcpy(pool, x, nx * sizeof *x);
    memcpy(pool + nx, y, ny * sizeof *y);
    double uobs = 0;
    for (int i = 0; i < nx; i++)
        for (int j = 0; j < ny; j++)
            uobs += x[i] > y[j] ? 1 : x[i] == y[j] ? 0.5 : 0;
    long hit = 0, all = 0;
    for (unsigned mask = 0; mask < (1u << n); mask++) {
        if (__builtin_popcount(mask) != nx)
            continue;
        double u = 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                if ((mask >> i & 1) && !(mask >> j & 1))
                    u += pool[i] > pool[j] ? 1 : pool[i] == pool[j] ? 0.5 : 0;
        all++;
        hit += u >= uobs - 1e-9;
    }
    return (double)hit / (double)all;
}

Test(mwu, exact_with_ties_matches_enumeration)
{
    double x1[] = {2, 2, 3, 5}, y1[] = {1, 2, 2, 3, 3};
    double x2[] = {7, 7, 7}, y2[] = {7, 7, 7, 7};
    double x3[] = {1.5, 4, 4, 9, 10, 10}, y3[] = {1, 1.5, 4, 4, 8, 9};
    struct chim_mwu r;
    cr_assert_eq(chim_mwu_greater(x1, 4, y1, 5, &r), 0);
    cr_assert_float_eq(r.p, brute(x1, 4, y1, 5), 1e-12);
    cr_assert_eq(chim_mwu_greater(x2, 3, y2, 4, &r), 0);
    cr_assert_float_eq(r.p, 1.0, 1e-12);
    cr_assert_eq(chim_mwu_greater(x3, 6, y3, 6, &r), 0);
    cr_assert_float_eq(r.p, brute(x3, 6, y3, 6), 1e-12);
}

Test(mwu, normal_approximation_for_large_samples)
{
    double x[40], y[40];
    struct chim_mwu r;
    for (int i = 0; i < 40; i++) {
        x[i] = 100 + i;
        y[i] = i;
    }
    cr_assert_eq(chim_mwu_greater(x, 40, y, 40, &r), 0);
    cr_assert(!r.exact);
    cr_assert(r.p < 1e-10, "p=%g", r.p);
    for (int i = 0; i < 40; i++)
        y[i] = x[i] + (i % 2 ? 0.5 : -0.5);
    cr_assert_eq(chim_mwu_greater(x, 40, y, 40, &r), 0);
    cr_assert(r.p > 0.3 && r.p < 0.7, "p=%g", r.p);
}

Test(mwu, rejects_empty_samples)
{
    double x[] = {1};
    struct chim_mwu r;
    cr_assert_lt(chim_mwu_greater(x, 1, x, 0, &r), 0);
}

/* ----------------------------------------------------------- classes */

Test(classes, edges_exactly)
{
    cr_assert_eq(chim_regression_class(9.999), CHIM_CLASS_NONE);
    cr_assert_eq(chim_regression_class(10), CHIM_CLASS_MINOR);
    cr_assert_eq(chim_regression_class(25), CHIM_CLASS_MINOR);
    cr_assert_eq(chim_regression_class(25.001), CHIM_CLASS_MAJOR);
    cr_assert_eq(chim_regression_class(50), CHIM_CLASS_MAJOR);
    cr_assert_eq(chim_regression_class(50.001), CHIM_CLASS_CRITICAL);
    cr_assert_eq(chim_regression_class(-10), CHIM_CLASS_IMPROVED);
    cr_assert_eq(chim_regression_class(-9.9), CHIM_CLASS_NONE);
    cr_assert_eq(chim_regression_class(INFINITY), CHIM_CLASS_CRITICAL);
}

static struct chim_config cfg;
static void setup(void)
{
    chim_config_defaults(&cfg);
}

static struct chim_regression cmp1(enum chim_metric_id id, double base, double cur)
{
    struct chim_regression r;
    chim_regression_compare(id, &base, 1, &cur, 1, &cfg, &r);
    return r;
}

Test(classes, edges_through_real_values, .init = setup)
{
    /* latency: higher is worse; 200 -> 220/250/300 are exactly 10/25/50 % */
    cr_assert_eq(cmp1(CHIM_M_API_P95, 200, 220).cls, CHIM_CLASS_MINOR);
    cr_assert_eq(cmp1(CHIM_M_API_P95, 200, 250).cls, CHIM_CLASS_MINOR);
    cr_assert_eq(cmp1(CHIM_M_API_P95, 200, 300).cls, CHIM_CLASS_MAJOR);
    cr_assert_eq(cmp1(CHIM_M_API_P95, 200, 300.02).cls, CHIM_CLASS_CRITICAL);
    cr_assert_eq(cmp1(CHIM_M_LLM_P95, 0.3, 0.33).cls, CHIM_CLASS_MINOR); /* 0.1 binary */
    cr_assert_eq(cmp1(CHIM_M_API_P95, 200, 219.98).cls, CHIM_CLASS_NONE);
    /* throughput: lower is worse; 100 -> 90/75/50 */
    cr_assert_eq(cmp1(CHIM_M_THROUGHPUT, 100, 90).cls, CHIM_CLASS_MINOR);
    cr_assert_eq(cmp1(CHIM_M_THROUGHPUT, 100, 75).cls, CHIM_CLASS_MINOR);
    cr_assert_eq(cmp1(CHIM_M_THROUGHPUT, 100, 50).cls, CHIM_CLASS_MAJOR);
    cr_assert_eq(cmp1(CHIM_M_THROUGHPUT, 100, 49.9).cls, CHIM_CLASS_CRITICAL);
    cr_assert_eq(cmp1(CHIM_M_THROUGHPUT, 100, 120).cls, CHIM_CLASS_IMPROVED);
    /* cache hit ratio: lower is worse */
    cr_assert_eq(cmp1(CHIM_M_CACHE_HIT, 0.8, 0.6).cls, CHIM_CLASS_MINOR);
    /* memory and error rate: higher is worse; error rate floor 0.1 % */
    cr_assert_eq(cmp1(CHIM_M_PEAK_MEMORY, 1000, 1500).cls, CHIM_CLASS_MAJOR);
    cr_assert_eq(cmp1(CHIM_M_ERROR_RATE, 0, 0).cls, CHIM_CLASS_NONE);
    cr_assert_eq(cmp1(CHIM_M_ERROR_RATE, 0, 0.0001).cls, CHIM_CLASS_MINOR);
    struct chim_regression r = cmp1(CHIM_M_API_P95, 200, 250);
    cr_assert_float_eq(r.change_percent, 25, 1e-12);
    cr_assert_float_eq(r.ratio, 1.25, 1e-12);
    cr_assert_eq(r.verdict, CHIM_UNCONFIRMED);
    cr_assert_float_eq(r.p, -1, 0);
}

Test(classes, max_regression_percent_is_exclusive, .init = setup)
{
    cr_assert(!cmp1(CHIM_M_API_P95, 200, 220).exceeds);
    cr_assert(cmp1(CHIM_M_API_P95, 200, 220.2).exceeds);
    cfg.gates.max_regression_percent = 30;
    cr_assert(!cmp1(CHIM_M_API_P95, 200, 250).exceeds);
}

/* ----------------------------------------------------------- verdicts */

static struct chim_regression cmpn(const double *b, size_t nb, const double *c, size_t nc)
{
    struct chim_regression r;
    chim_regression_compare(CHIM_M_API_P95, b, nb, c, nc, &cfg, &r);
    return r;
}

Test(verdicts, three_runs_need_complete_separation, .init = setup)
{
    double b[] = {100, 101, 102}, c[] = {130, 131, 132}, o[] = {101.5, 140, 141};
    struct chim_regression r = cmpn(b, 3, c, 3);
    cr_assert_eq(r.verdict, CHIM_DIFFERENT);
    cr_assert_float_eq(r.p, 0.05, 1e-12);
    cr_assert_eq(r.cls, CHIM_CLASS_MAJOR);
    cr_assert(r.fails);
    r = cmpn(b, 3, o, 3);
    cr_assert_eq(r.verdict, CHIM_UNKNOWN, "p=%g", r.p);
    cr_assert(r.exceeds);
    cr_assert(!r.fails);
}

Test(verdicts, two_runs_are_unknown, .init = setup)
{
    double b[] = {100, 101}, c[] = {200, 201};
    cr_assert_eq(cmpn(b, 2, c, 2).verdict, CHIM_UNKNOWN);
}

Test(verdicts, five_runs_same_and_small_changes, .init = setup)
{
    double b[] = {100, 104, 98, 101, 103}, same[] = {99, 102, 105, 100, 101};
    double small[] = {105, 106, 107, 108, 109};
    cr_assert_eq(cmpn(b, 5, same, 5).verdict, CHIM_SAME);
    struct chim_regression r = cmpn(b, 5, small, 5);
    cr_assert(r.p <= 0.05);
    cr_assert_eq(r.verdict, CHIM_SAME); /* significant but under 10 % */
    cr_assert(!r.exceeds);
}

Test(verdicts, improvement_is_not_a_regression, .init = setup)
{
    double b[] = {100, 101, 102, 103, 104}, c[] = {50, 51, 52, 53, 54};
    struct chim_regression r = cmpn(b, 5, c, 5);
    cr_assert_eq(r.verdict, CHIM_SAME);
    cr_assert_eq(r.cls, CHIM_CLASS_IMPROVED);
    cr_assert(!r.fails);
}

Test(verdicts, fail_rules, .init = setup)
{
    double b[] = {100, 101, 102, 103, 104}, minor[] = {120, 121, 122, 123, 124};
    double crit[] = {200, 201, 202, 203, 204};
    struct chim_regression r = cmpn(b, 5, minor, 5);
    cr_assert_eq(r.verdict, CHIM_DIFFERENT);
    cr_assert(r.exceeds && !r.fails); /* minor never fails */
    r = cmpn(b, 5, crit, 5);
    cr_assert(r.fails);
    cfg.test.fail_on_regression = false;
    cr_assert(!cmpn(b, 5, crit, 5).fails);
    cfg.test.fail_on_regression = true;
    cr_assert(!cmpn(b, 5, crit, 1).fails); /* unconfirmed */
    cfg.regression.fail_on_unconfirmed = true;
    cr_assert(cmpn(b, 5, crit, 1).fails);
}
