/*
 * cmd_leaks.c - `chimcollect leaks`: call sites ranked by leaked, growing
 * and retained memory, from the leak sections of processes run with
 * CHIM_MODE=sample or full (the model is collector/leaks.c). With --watch
 * the segments are read repeatedly over the window and growth is fitted to
 * those snapshots; without it, to the agent's own per-site history.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "args.h"
#include "commands.h"
#include "leaks.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: chimcollect leaks [--dir D] [--pid P] [--format text|json] [--folded]\n"
            "                         [--min-bytes SIZE] [--top N] [--all] [--watch DURATION]\n"
            "                         [--suppress FILE]\n\n"
            "Ranks the call sites of processes run with CHIM_MODE=sample or full: leak\n"
            "(unreachable at exit, or growing while old blocks stay), retained (reachable\n"
            "at exit, or old and not growing), churn (freed again; only with --all).\n"
            "  --watch 60s   sample the segments over the window, rank by growth\n"
            "  --folded      folded stacks of live bytes (flamegraph.pl, speedscope)\n"
            "  --all         also churn and the C runtime's own allocations\n"
            "  --min-bytes   hide smaller sites: 4096, 64K, 1MiB (K/M/G: 1024s; KB/MB: 1000s)\n"
            "  --top N       the N first sites of each process (0: all, the default)\n"
            "  --suppress F  hide sites matching leak:PATTERN lines (function, file, module)\n");
}

/* "60s", "2m", "500ms", "1h", "30" (seconds). Negative if malformed. */
static double parse_duration(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || v < 0)
        return -1;
    if (!strcmp(end, "") || !strcmp(end, "s"))
        return v;
    if (!strcmp(end, "ms"))
        return v / 1000;
    if (!strcmp(end, "m"))
        return v * 60;
    if (!strcmp(end, "h"))
        return v * 3600;
    return -1;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int any_running(const struct chim_seg_set *set, long pid)
{
    for (size_t i = 0; i < set->n; i++)
        if ((pid <= 0 || set->segs[i].hdr->pid == (uint32_t)pid) &&
            set->segs[i].state == CHIM_SEG_RUNNING)
            return 1;
    return 0;
}

/* Loads the directory every `step` seconds for `window` seconds (stops
 * early when no watched process runs any more); leaves the last load in
 * *set. */
static int watch(const char *dir, long pid, double window, struct chim_leak_history *h,
                 struct chim_seg_set *set)
{
    double step = window <= 20 ? 0.5 : window <= 120 ? 1.0 : window / 120;
    uint64_t t0 = now_ns();
    for (int first = 1;; first = 0) {
        if (!first)
            chim_seg_set_free(set);
        int rc = chim_seg_load_dir(dir, set, first ? stderr : NULL);
        if (rc)
            return rc;
        uint64_t t = now_ns();
        if (chim_leak_history_add(h, set, t) != 0)
            return -ENOMEM;
        if ((double)(t - t0) / 1e9 >= window || !any_running(set, pid))
            return 0;
        struct timespec ts = {(time_t)step, (long)((step - (double)(time_t)step) * 1e9)};
        nanosleep(&ts, NULL);
    }
}

struct leaks_args {
    const char *dir, *format;
    long pid;
    int folded;
    double watch_s;
    struct chim_leak_opts opts;
};

static int parse(int argc, char **argv, struct leaks_args *a)
{
    static const struct option opts[] = {
        {"dir", 1, 0, 'd'},       {"pid", 1, 0, 'p'},  {"format", 1, 0, 'f'}, {"folded", 0, 0, 'F'},
        {"min-bytes", 1, 0, 'm'}, {"top", 1, 0, 't'},  {"all", 0, 0, 'a'},    {"watch", 1, 0, 'w'},
        {"suppress", 1, 0, 's'},  {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "d:p:f:Fm:t:aw:s:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            a->dir = optarg;
            break;
        case 'p':
            if (chim_arg_pid("chimcollect leaks", optarg, &a->pid))
                return 2;
            break;
        case 'f':
            a->format = optarg;
            break;
        case 'F':
            a->folded = 1;
            break;
        case 'm':
            if (chim_arg_bytes("chimcollect leaks", "min-bytes", optarg, &a->opts.min_bytes))
                return 2;
            break;
        case 't':
            if (chim_arg_int("chimcollect leaks", "top", "a number of sites (0: all)", optarg, 0,
                             1000000, &a->opts.top))
                return 2;
            break;
        case 'a':
            a->opts.all = 1;
            break;
        case 's':
            a->opts.suppress_file = optarg;
            break;
        case 'w':
            a->watch_s = parse_duration(optarg);
            if (a->watch_s < 0) {
                fprintf(stderr, "chimcollect leaks: bad duration '%s' (e.g. 60s, 2m)\n", optarg);
                return 2;
            }
            break;
        case 'h':
            usage(stdout);
            return 1;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "chimcollect leaks: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (strcmp(a->format, "text") && strcmp(a->format, "json")) {
        fprintf(stderr, "chimcollect leaks: unknown format '%s' (text or json)\n", a->format);
        return 2;
    }
    if (a->folded && !strcmp(a->format, "json")) {
        fprintf(stderr, "chimcollect leaks: --folded writes folded stacks, not json: use one\n");
        return 2;
    }
    return 0;
}

int chim_cmd_leaks(int argc, char **argv)
{
    struct leaks_args a = {.format = "text"};
    int rc = parse(argc, argv, &a);
    if (rc)
        return rc == 1 ? 0 : rc;
    if (!a.opts.suppress_file)
        a.opts.suppress_file = getenv("CHIM_SUPPRESS");
    const char *dir = a.dir ? a.dir : chim_default_dir();
    struct chim_seg_set set = {0};
    struct chim_leak_history *h = chim_leak_history_new();
    if (!h)
        return 2;
    rc = a.watch_s > 0 ? watch(dir, a.pid, a.watch_s, h, &set)
                       : chim_seg_load_dir(dir, &set, stderr);
    if (rc == -ENOENT && !a.dir) {
        memset(&set, 0, sizeof set); /* no default directory yet: nothing ran */
        rc = 0;
    }
    if (rc) {
        fprintf(stderr, "chimcollect leaks: cannot read %s: %s\n", dir, strerror(-rc));
        chim_leak_history_free(h);
        return 2;
    }
    char err[256] = "out of memory", why[512];
    if (!set.n && chim_dir_refused(dir, why, sizeof why)) /* as report says it */
        fprintf(stderr, "chimcollect leaks: the agent refuses this directory, as %s\n", why);
    if (!chim_seg_set_has_pid(&set, a.pid)) {
        fprintf(stderr, "chimcollect leaks: no segment of process %ld in %s\n", a.pid, dir);
        chim_leak_history_free(h);
        chim_seg_set_free(&set);
        return 1;
    }
    struct chim_leaks *l =
        chim_leaks_build(&set, a.watch_s > 0 ? h : NULL, a.pid, &a.opts, err, sizeof err);
    rc = 0;
    if (!l) {
        fprintf(stderr, "chimcollect leaks: %s\n", err);
        rc = 2;
    } else if (a.folded) {
        if (chim_leaks_folded(l, stdout) != 0) {
            fprintf(stderr, "chimcollect leaks: out of memory\n");
            rc = 2;
        }
    } else if (!strcmp(a.format, "json")) {
        cJSON *j = chim_leaks_json(l);
        char *s = cJSON_Print(j);
        if (s)
            puts(s);
        free(s);
        cJSON_Delete(j);
    } else {
        chim_leaks_text(l, stdout);
    }
    chim_leaks_free(l);
    chim_leak_history_free(h);
    chim_seg_set_free(&set);
    return rc;
}
