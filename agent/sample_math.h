/*
 * sample_math.h - the two transcendental functions of Poisson sampling by
 * bytes, without libm on the common path: -ln(u) for the exponential gaps
 * and 1 - exp(-x) for a sampled block's probability (its weight is the
 * inverse). libm's log, expm1 and llround were a quarter of a sampled
 * event's cost (perf, sample mode at 64 KiB); these are a few multiplies.
 * Accuracy: relative error below 1e-9 (gap) and 1e-9 (probability), far
 * below the sampling's own noise; tests/unit/test_sample_math.c checks
 * both against libm over their whole domains.
 */
#ifndef CHIM_SAMPLE_MATH_H
#define CHIM_SAMPLE_MATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* -ln(u) for u in (0, 1]. u = m * 2^e with m in [sqrt(1/2), sqrt(2)):
 * ln(m) = 2 atanh(t), t = (m - 1) / (m + 1) in (-0.172, 0.172), by its odd
 * series to t^11 (truncation below 2 * 0.172^13 / 13, 2e-11 absolute). */
static inline double chim_neg_log(double u)
{
    uint64_t bits;
    memcpy(&bits, &u, sizeof bits);
    int e = (int)((bits >> 52) & 0x7ff) - 1023;
    if (e < -1022)
        return -log(u); /* subnormal or 0: never from a 53-bit uniform */
    bits = (bits & 0x000fffffffffffffull) | 0x3ff0000000000000ull;
    double m;
    memcpy(&m, &bits, sizeof m);
    if (m > 1.41421356237309504880) {
        m *= 0.5;
        e++;
    }
    double t = (m - 1.0) / (m + 1.0), t2 = t * t;
    double s = 1.0 / 11;
    s = s * t2 + 1.0 / 9;
    s = s * t2 + 1.0 / 7;
    s = s * t2 + 1.0 / 5;
    s = s * t2 + 1.0 / 3;
    s = s * t2 + 1.0;
    return -((double)e * 0.69314718055994530942 + 2.0 * t * s);
}

/* 1 - exp(-x) for x >= 0: its Taylor series below 1/16 (error under
 * x^7 / 5040, relative 1e-10), libm above (blocks of R/16 bytes and more,
 * rare). */
static inline double chim_one_minus_exp_neg(double x)
{
    if (x >= 0.0625)
        return -expm1(-x);
    double s = 1.0 / 720;
    s = 1.0 / 120 - x * s;
    s = 1.0 / 24 - x * s;
    s = 1.0 / 6 - x * s;
    s = 0.5 - x * s;
    s = 1.0 - x * s;
    return x * s;
}

/* llround for v >= 0 below 2^63 (weights are positive and bounded). */
static inline uint64_t chim_round_pos(double v)
{
    return (uint64_t)(v + 0.5);
}

#endif
