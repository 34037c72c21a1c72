/*
 * clock.c - the request tracker's timestamp source: a monotonic clock in
 * nanoseconds that costs a TSC read where the kernel itself uses the TSC
 * (clocksource "tsc": constant, synchronised across CPUs), and
 * clock_gettime(CLOCK_MONOTONIC) elsewhere. Every socket call with data
 * takes a timestamp, and the TSC read is about 9 ns against 20 ns here.
 *
 * The TSC is scaled with factors measured against CLOCK_MONOTONIC: first
 * after 20 ms of process time, then once a second. Each recalibration
 * starts from the clock's current reading, so the clock never jumps; only
 * its slope is corrected. A seqlock guards the factors: a reader that
 * meets an update in progress (at most once a second) uses clock_gettime.
 */
#include <string.h>
#include <time.h>

#include "agent.h"

#if defined(__x86_64__)
#include <x86intrin.h>
#define HAVE_TSC 1
#endif

struct scale {
    uint64_t tsc0, ns0; /* anchor: a TSC reading and the clock's value then */
    uint64_t mult;      /* nanoseconds per tick, 32.32 fixed point */
};

static struct scale cur_scale;
static uint64_t seq;             /* seqlock: 0 nothing published, odd while updating */
static int tsc_ok;               /* the kernel's clocksource is the TSC */
static uint64_t cal_tsc, cal_ns; /* last calibration point (raw) */

static uint64_t mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void chim__clock_init(void)
{
#ifdef HAVE_TSC
    char buf[32];
    ssize_t n = chim__read_file("/sys/devices/system/clocksource/clocksource0/current_clocksource",
                                buf, sizeof buf - 1);
    tsc_ok = n >= 3 && !memcmp(buf, "tsc", 3) && (n == 3 || buf[3] == '\n');
    cal_tsc = __rdtsc();
    cal_ns = mono();
#endif
    seq = 0; /* no set published: callers use CLOCK_MONOTONIC */
}

static uint64_t scaled(const struct scale *s, uint64_t tsc)
{
    return s->ns0 + (uint64_t)(((unsigned __int128)(tsc - s->tsc0) * s->mult) >> 32);
}

uint64_t chim__clock_ns(void)
{
#ifdef HAVE_TSC
    uint64_t s1 = __atomic_load_n(&seq, __ATOMIC_ACQUIRE);
    if (CHIM_LIKELY(s1 != 0 && !(s1 & 1))) {
        struct scale s;
        s.tsc0 = __atomic_load_n(&cur_scale.tsc0, __ATOMIC_RELAXED);
        s.ns0 = __atomic_load_n(&cur_scale.ns0, __ATOMIC_RELAXED);
        s.mult = __atomic_load_n(&cur_scale.mult, __ATOMIC_RELAXED);
        uint64_t t = __rdtsc();
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (CHIM_LIKELY(__atomic_load_n(&seq, __ATOMIC_RELAXED) == s1))
            return scaled(&s, t);
    }
#endif
    return mono();
}

/* Measures the TSC rate over the time since the last calibration and
 * publishes a new set anchored at the clock's current value. Called by the
 * tracker's once-a-second tick (one thread at a time). */
void chim__clock_calibrate(void)
{
#ifdef HAVE_TSC
    if (!tsc_ok)
        return;
    uint64_t t = __rdtsc(), ns = mono();
    if (t <= cal_tsc || ns < cal_ns + 20000000ull)
        return; /* too short a baseline yet (20 ms) */
    struct scale next;
    next.mult = (uint64_t)(((unsigned __int128)(ns - cal_ns) << 32) / (t - cal_tsc));
    uint64_t cur = __atomic_load_n(&seq, __ATOMIC_RELAXED);
    next.tsc0 = t;
    next.ns0 = cur ? scaled(&cur_scale, t) : ns; /* continuous: no jump */
    if (cur && next.ns0 + 1000000ull < ns)
        next.ns0 = ns; /* fell behind by over 1 ms: catch up (forward only) */
    __atomic_store_n(&seq, cur + 1, __ATOMIC_RELAXED); /* odd: readers fall back */
    __atomic_thread_fence(__ATOMIC_RELEASE);
    __atomic_store_n(&cur_scale.tsc0, next.tsc0, __ATOMIC_RELAXED);
    __atomic_store_n(&cur_scale.ns0, next.ns0, __ATOMIC_RELAXED);
    __atomic_store_n(&cur_scale.mult, next.mult, __ATOMIC_RELAXED);
    __atomic_store_n(&seq, cur + 2, __ATOMIC_RELEASE);
    cal_tsc = t;
    cal_ns = ns;
#endif
}
