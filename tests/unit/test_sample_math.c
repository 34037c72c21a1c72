/*
 * test_sample_math.c - the sampler's libm-free -ln(u) and 1 - exp(-x)
 * (agent/sample_math.h) against libm over their whole domains: the gaps
 * and weights of sample mode are only as unbiased as these are exact.
 */
#include <criterion/criterion.h>
#include <math.h>

#include "sample_math.h"

Test(sample_math, neg_log_matches_libm)
{
    /* Every binade a 53-bit uniform reaches, and points inside each. */
    double worst = 0;
    for (int e = 0; e <= 53; e++)
        for (int k = 0; k <= 4096; k++) {
            double u = ldexp(1.0 + k / 4096.0 * (1.0 - 0x1p-52), -e);
            if (u > 1.0)
                continue;
            double want = -log(u), got = chim_neg_log(u);
            double err = want > 0 ? fabs(got - want) / want : fabs(got);
            if (err > worst)
                worst = err;
            cr_assert(fabs(got - want) <= 1e-9 * (want > 1e-3 ? want : 1e-3),
                      "u=%a want %.17g got %.17g", u, want, got);
        }
    cr_assert_eq(chim_neg_log(1.0), 0.0);
    cr_assert(fabs(chim_neg_log(0x1p-53) - 53 * log(2.0)) < 1e-12);
    cr_log_info("worst relative error %.3g", worst);
}

Test(sample_math, one_minus_exp_matches_libm)
{
    for (int i = 0; i <= 200000; i++) {
        double x = i * 1e-6; /* 0 .. 0.2, across the series' limit */
        double want = -expm1(-x), got = chim_one_minus_exp_neg(x);
        cr_assert(fabs(got - want) <= 1e-9 * want + 1e-300, "x=%.17g want %.17g got %.17g", x, want,
                  got);
    }
    for (double x = 1e-12; x < 1e3; x *= 1.001) {
        double want = -expm1(-x), got = chim_one_minus_exp_neg(x);
        cr_assert(fabs(got - want) <= 1e-9 * want, "x=%.17g want %.17g got %.17g", x, want, got);
    }
    cr_assert_eq(chim_one_minus_exp_neg(0.0), 0.0);
}

Test(sample_math, round_pos)
{
    cr_assert_eq(chim_round_pos(0.0), 0u);
    cr_assert_eq(chim_round_pos(0.49), 0u);
    cr_assert_eq(chim_round_pos(0.5), 1u);
    cr_assert_eq(chim_round_pos(2.5), 3u); /* llround also rounds half away from zero */
    cr_assert_eq(chim_round_pos(1e15 + 0.4), 1000000000000000u);
}
