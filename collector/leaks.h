/*
 * leaks.h - the leak model: per call site live bytes, growth and a class,
 * built from one or more snapshots of a segment's leak sections
 * (include/chim/shm_leak.h) and symbolized with symbolize.h. The pure
 * statistics (sampling weights, least-squares slope, classification,
 * folded-stack lines) are exposed for the unit tests.
 */
#ifndef CHIM_LEAKS_H
#define CHIM_LEAKS_H

#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "segment.h"

enum chim_leak_class {
    CHIM_CLASS_LEAK = 0,     /* unreachable at exit, or growing with old blocks staying */
    CHIM_CLASS_RETAINED = 1, /* reachable at exit, or old and not growing */
    CHIM_CLASS_CHURN = 2,    /* allocated and freed, not growing */
};
const char *chim_leak_class_name(enum chim_leak_class c);

/* Unbiasing weight of a sampled block of z bytes at mean gap r: the bytes
 * it stands for, z / (1 - exp(-z/r)), and the blocks, 1 / (1 - exp(-z/r)). */
double chim_sample_weight_bytes(double z, double r);
double chim_sample_weight_count(double z, double r);

/* Least-squares fit of y over t: slope with a two-sided 95 % confidence
 * interval [lo, hi] (Student t with n-2 degrees of freedom). Returns 0, or
 * -1 with fewer than 3 points or no spread in t. */
struct chim_slope {
    double slope, intercept, se, lo, hi;
    int n;
};
int chim_slope_fit(const double *t, const double *y, int n, struct chim_slope *out);
double chim_t975(int df);

/* The decision for one site. `scanned`: an exit scan ran (full mode);
 * leaked/reachable bytes are its results. Otherwise: `growth` is the slope
 * of live bytes over a window of `window_s` seconds, `recent` the slope
 * over the window's later half (when `have_recent`), `old_bytes` the live
 * bytes born before the window's middle, `live` the live bytes now. */
struct chim_class_in {
    int scanned;
    double leaked_bytes, reachable_bytes;
    int have_growth;
    struct chim_slope growth;
    double window_s, live, old_bytes;
    int have_recent;
    struct chim_slope recent;
};
enum chim_leak_class chim_leak_classify(const struct chim_class_in *in);

/* One folded-stack line: frames outermost first, joined by ';', then a
 * space and the value. Returns the length written (snprintf rules). */
int chim_folded_line(char *buf, size_t n, const char *const *frames_innermost_first, int nframes,
                     uint64_t value);

struct chim_leak_opts {
    int all; /* churn and runtime-suppressed sites too */
    uint64_t min_bytes;
    int top;                   /* 0: all */
    const char *suppress_file; /* user suppressions (leak:PATTERN lines) */
};

/* Snapshots taken over a window (--watch): per process, the live bytes of
 * every stack at each time. Compact: a segment is not kept. */
struct chim_leak_history;
struct chim_leak_history *chim_leak_history_new(void);
/* Adds the state of `set` at time t (CLOCK_REALTIME ns). 0 or -ENOMEM. */
int chim_leak_history_add(struct chim_leak_history *h, const struct chim_seg_set *set, uint64_t t);
void chim_leak_history_free(struct chim_leak_history *h);

/* A leak analysis of several processes; build with chim_leaks_build. */
struct chim_leaks;

/* Analyses `set` (the current state); with a history of at least two
 * points, growth comes from it, else from the agent's per-site rings.
 * pid > 0 keeps one process. Returns NULL on out-of-memory or a bad
 * suppression file (`err` says which, in one line). */
struct chim_leaks *chim_leaks_build(const struct chim_seg_set *set,
                                    const struct chim_leak_history *hist, long pid,
                                    const struct chim_leak_opts *opts, char *err, size_t errlen);
void chim_leaks_free(struct chim_leaks *l);
/* Processes that had leak sections (sample or full mode). */
int chim_leaks_nprocs(const struct chim_leaks *l);

cJSON *chim_leaks_json(const struct chim_leaks *l);
void chim_leaks_text(const struct chim_leaks *l, FILE *out);
/* Folded stacks (see leaks.c); -ENOMEM, or 0. */
int chim_leaks_folded(const struct chim_leaks *l, FILE *out);
/* Top sites for the report model: [{function, file, line, bytes, class}]. */
cJSON *chim_leaks_report_array(const struct chim_seg_set *set, long pid, int top);

#endif
