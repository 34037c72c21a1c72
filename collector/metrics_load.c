/*
 * metrics_load.c - loads a segment directory for serve, export and top,
 * cheaply enough to do once a second or on every scrape.
 *
 * The loader is chim_seg_load_dir's (which copies only the data extents of
 * the sparse segments); here it gets a filter: segments of processes that
 * ended before the grace period are not copied at all (their header says
 * so), unless the caller has exported them before.
 */
#include <time.h>

#include "metrics.h"

int chim_metrics_load_dir(const char *dir, const struct chim_metrics_opts *o,
                          struct chim_seg_set *set, size_t *long_gone, FILE *warn)
{
    struct chim_seg_filter f = {0};
    if (o) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t now =
            o->now_ns ? o->now_ns : (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
        double grace = o->grace_s < 0 ? CHIM_METRICS_GRACE_S : o->grace_s;
        uint64_t g = (uint64_t)(grace * 1e9);
        f.ended_before_ns = now > g ? now - g : 1;
        f.keep = o->known;
        f.ctx = o->gone_ctx;
    }
    return chim_seg_load_dir_filtered(dir, o ? &f : NULL, set, long_gone, warn);
}
