/*
 * stats.c - the one-sided Mann-Whitney U test used for regression verdicts.
 * Values are one per run (a run's P95, its throughput), never pooled
 * requests. The exact law of the rank sum is counted by dynamic programming
 * over doubled mid-ranks, so ties are handled exactly; beyond CHIM_EXACT_N
 * values in all, the normal approximation with tie correction is used.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer_internal.h"

#define CHIM_EXACT_N 60

struct item {
    double v;
    int from_x;
};

static int cmp_item(const void *a, const void *b)
{
    double x = ((const struct item *)a)->v, y = ((const struct item *)b)->v;
    return (x > y) - (x < y);
}

/* Doubled mid-ranks of the pooled, sorted sample; returns sum(t^3 - t). */
static double midranks2(const struct item *s, size_t n, long *r2)
{
    double ties = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j + 1 < n && s[j + 1].v == s[i].v)
            j++;
        for (size_t k = i; k <= j; k++)
            r2[k] = (long)(i + j + 2); /* 2 x mean of ranks i+1..j+1 */
        double t = (double)(j - i + 1);
        ties += t * t * t - t;
        i = j + 1;
    }
    return ties;
}

/* P(S >= s_obs) where S is the doubled rank sum of a random m-subset of r2. */
static double exact_upper(const long *r2, size_t n, size_t m, long s_obs)
{
    long smax = 0;
    for (size_t i = 0; i < n; i++)
        smax += r2[i];
    size_t w = (size_t)smax + 1;
    double *dp = calloc((m + 1) * w, sizeof *dp);
    if (!dp)
        return NAN;
    dp[0] = 1;
    for (size_t i = 0; i < n; i++)
        for (size_t k = (i + 1 < m ? i + 1 : m); k >= 1; k--)
            for (long s = smax; s >= r2[i]; s--)
                dp[k * w + (size_t)s] += dp[(k - 1) * w + (size_t)(s - r2[i])];
    double hit = 0, all = 0;
    for (long s = 0; s <= smax; s++) {
        all += dp[m * w + (size_t)s];
        if (s >= s_obs)
            hit += dp[m * w + (size_t)s];
    }
    free(dp);
    return hit / all;
}

static double normal_upper(double u, size_t nx, size_t ny, double ties)
{
    double n = (double)(nx + ny), mean = (double)nx * (double)ny / 2;
    double var = (double)nx * (double)ny / 12.0 * ((n + 1) - ties / (n * (n - 1)));
    if (var <= 0)
        return 1.0;
    double z = (u - mean - 0.5) / sqrt(var);
    return 0.5 * erfc(z / sqrt(2.0));
}

int chim_mwu_greater(const double *x, size_t nx, const double *y, size_t ny, struct chim_mwu *out)
{
    size_t n = nx + ny;
    if (!nx || !ny || !out)
        return -EINVAL;
    struct item *s = malloc(n * sizeof *s);
    long *r2 = malloc(n * sizeof *r2);
    if (!s || !r2) {
        free(s);
        free(r2);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        s[i] = i < nx ? (struct item){x[i], 1} : (struct item){y[i - nx], 0};
    qsort(s, n, sizeof *s, cmp_item);
    double ties = midranks2(s, n, r2);
    long sx2 = 0;
    for (size_t i = 0; i < n; i++)
        sx2 += s[i].from_x ? r2[i] : 0;
    out->u = (double)sx2 / 2 - (double)nx * (double)(nx + 1) / 2;
    out->exact = n <= CHIM_EXACT_N;
    out->p = out->exact ? exact_upper(r2, n, nx, sx2) : normal_upper(out->u, nx, ny, ties);
    free(s);
    free(r2);
    return isnan(out->p) ? -ENOMEM : 0;
}

double chim_mwu_cdf(size_t m, size_t n, double u)
{
    /* P(U <= u) = P(U' >= m n - u) by symmetry, U' counted like U. */
    size_t N = m + n;
    if (!m || !n || N > 100)
        return NAN;
    long *r2 = malloc(N * sizeof *r2);
    if (!r2)
        return NAN;
    for (size_t i = 0; i < N; i++)
        r2[i] = 2 * (long)(i + 1);
    double uu = (double)m * (double)n - floor(u);
    long s_obs = (long)llround(2 * (uu + (double)m * (double)(m + 1) / 2));
    double p = exact_upper(r2, N, m, s_obs);
    free(r2);
    return p;
}
