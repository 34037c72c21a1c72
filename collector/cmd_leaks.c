/*
 * cmd_leaks.c - `chimcollect leaks`: call sites ranked by leaked, growing
 * and retained memory, from the leak sections of processes run with
 * CHIM_MODE=sample or full (the model is collector/leaks.c). With --watch
 * the segments are read repeatedly over the window and growth is fitted to
 * those snapshots; without it, to the agent's own per-site history. A
 * watch checks twice a second whether a watched process still runs, and
 * SIGINT or SIGTERM ends it early with a ranking of what it saw.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "args.h"
#include "commands.h"
#include "leaks.h"

/* --watch's window: at least 5 points 0.5 s apart, so that the fit has 3
 * degrees of freedom and the window's later half (the test that growth
 * has not stopped) 3 points of its own; at most 30 days. */
#define WATCH_MIN_POINTS 5
#define WATCH_MIN_S      2.0
#define WATCH_MAX_S      (30 * 86400.0)
#define WATCH_POLL_S     0.5 /* liveness and signal checks between points */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: chimcollect leaks [--dir D] [--pid P] [--format text|json] [--folded]\n"
            "                         [--min-bytes SIZE] [--top N] [--all] [--watch DURATION]\n"
            "                         [--suppress FILE]\n\n"
            "Ranks the call sites of processes run with CHIM_MODE=sample or full: leak\n"
            "(unreachable at exit, or growing while old blocks stay), retained (reachable\n"
            "at exit, or old and not growing), churn (freed again; only with --all).\n"
            "  --watch 60s   sample the segments over the window (2s to 720h), rank by\n"
            "                growth; Ctrl-C ends the window early and ranks what was seen\n"
            "  --folded      folded stacks of live bytes (flamegraph.pl, speedscope)\n"
            "  --all         also churn and the C runtime's own allocations\n"
            "  --min-bytes   hide smaller sites: 4096, 64K, 1MiB (K/M/G: 1024s; KB/MB: 1000s)\n"
            "  --top N       the N first sites of each process (0: all, the default)\n"
            "  --suppress F  hide sites matching leak:PATTERN lines (function, file, module)\n");
}

/* "60s", "2m", "500ms", "1h", "30" (seconds). Negative if malformed or
 * "nan"; infinite for "inf" or beyond a double ("1e999"). */
static double parse_duration(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || isnan(v) || v < 0)
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

/* --watch's value into *out: a window over 0 and at most WATCH_MAX_S; one
 * under WATCH_MIN_S is raised to it with a note. 0, or -1 after one line. */
static int watch_arg(const char *s, double *out)
{
    double v = parse_duration(s);
    const char *who = "chimcollect leaks";
    if (v < 0) {
        fprintf(stderr, "%s: --watch wants a duration such as 60s, 5m or 1h, got '%s'\n", who, s);
        return -1;
    }
    if (v == 0) {
        fprintf(stderr, "%s: --watch wants a window above 0 (e.g. 60s), got '%s'\n", who, s);
        return -1;
    }
    if (!(v <= WATCH_MAX_S)) {
        fprintf(stderr, "%s: --watch wants at most 720h (30 days), got '%s'\n", who, s);
        return -1;
    }
    if (v < WATCH_MIN_S) {
        fprintf(stderr,
                "%s: note: --watch %s raised to 2s, the shortest window that gives the "
                "growth fit its %d points\n",
                who, s, WATCH_MIN_POINTS);
        v = WATCH_MIN_S;
    }
    *out = v;
    return 0;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Seconds on the monotonic clock: the window's schedule does not follow
 * changes of the wall clock. */
static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL); /* a signal ends it early: the caller looks again */
}

/* ---- stopping a watch ----------------------------------------------------- */

static volatile sig_atomic_t watch_stop; /* the signal that ended the window, 0 if none */

/* The first SIGINT or SIGTERM ends the window; a second one kills the
 * collector at once, as if it had no handler. Async-signal-safe. */
static void on_stop(int sig)
{
    if (watch_stop) {
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        sigaction(sig, &dfl, NULL);
        raise(sig); /* delivered when the handler returns */
        return;
    }
    watch_stop = sig;
}

/* Installs on_stop for SIGINT and SIGTERM; the old actions go to old[2]. */
static void catch_stop(struct sigaction old[2])
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop; /* no SA_RESTART: a sleep ends at the signal */
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGINT);
    sigaddset(&sa.sa_mask, SIGTERM);
    watch_stop = 0;
    sigaction(SIGINT, &sa, &old[0]);
    sigaction(SIGTERM, &sa, &old[1]);
}

/* Puts back the actions catch_stop replaced: once the window is over, a
 * signal stops the ranking as it would without --watch. */
static void release_stop(const struct sigaction old[2])
{
    sigaction(SIGINT, &old[0], NULL);
    sigaction(SIGTERM, &old[1], NULL);
}

/* ---- the watch ------------------------------------------------------------ */

static int watched(const struct chim_seg *g, long pid)
{
    return (pid <= 0 || g->hdr->pid == (uint32_t)pid) && g->state == CHIM_SEG_RUNNING;
}

/* A watched process runs, by the segments as loaded. */
static int any_running(const struct chim_seg_set *set, long pid)
{
    for (size_t i = 0; i < set->n; i++)
        if (watched(&set->segs[i], pid))
            return 1;
    return 0;
}

/* A process that ran at the last load still runs now (from /proc: cheap
 * enough to ask twice a second, unlike loading every segment again). */
static int still_running(const struct chim_seg_set *set, long pid)
{
    for (size_t i = 0; i < set->n; i++)
        if (watched(&set->segs[i], pid) && chim_seg_alive(set->segs[i].hdr))
            return 1;
    return 0;
}

/* Seconds between points: 0.5 s up to a 20 s window, 1 s up to 2 min, then
 * 120 intervals, whatever the window: the fit's cost and the history's
 * size stay bounded. */
static double watch_step(double window)
{
    return window <= 20 ? 0.5 : window <= 120 ? 1.0 : window / 120;
}

/* Sleeps until `due` (monotonic seconds), looking every WATCH_POLL_S
 * whether a watched process still runs and whether a signal came. 0 when
 * due, 1 when woken early: the next point is the last. */
static int wait_point(double due, const struct chim_seg_set *set, long pid)
{
    for (;;) {
        if (watch_stop || !still_running(set, pid))
            return 1;
        double left = due - mono_s();
        if (left <= 0)
            return 0;
        sleep_s(left < WATCH_POLL_S ? left : WATCH_POLL_S);
    }
}

/* One point: loads the directory into *set (freeing the previous load)
 * and adds it to h. 0 or a negative errno. */
static int take_point(const char *dir, struct chim_leak_history *h, struct chim_seg_set *set,
                      int first)
{
    if (!first)
        chim_seg_set_free(set);
    int rc = chim_seg_load_dir(dir, set, first ? stderr : NULL);
    if (rc)
        return rc;
    return chim_leak_history_add(h, set, now_ns()) != 0 ? -ENOMEM : 0;
}

struct watch_run {
    int points;
    double span_s; /* seconds from the first point to the last */
};

/* Loads the directory at the window's start, every watch_step() and at its
 * end (stops early when no watched process runs any more, or at a
 * signal); leaves the last load in *set. 0 or a negative errno. */
static int watch(const char *dir, long pid, double window, struct chim_leak_history *h,
                 struct chim_seg_set *set, struct watch_run *run)
{
    double step = watch_step(window), t0 = mono_s();
    int last = (int)ceil(window / step - 1e-9); /* the index of the window's end */
    for (int k = 0;; k++) {
        int rc = take_point(dir, h, set, k == 0);
        if (rc)
            return rc;
        run->points++;
        run->span_s = mono_s() - t0;
        if (k >= last || !any_running(set, pid) || watch_stop)
            return 0;
        double due = k + 1 == last ? t0 + window : t0 + (k + 1) * step;
        if (wait_point(due, set, pid))
            last = k + 1;
    }
}

/* The loads that --watch (or a single load) leaves: *set, and *fit set
 * when h has enough points for a growth fit (else the agent's per-site
 * history is used, as without --watch). Says on stderr when a signal cut
 * the window. */
static int gather(const char *dir, long pid, double window, struct chim_leak_history *h,
                  struct chim_seg_set *set, int *fit)
{
    *fit = 0;
    if (window <= 0)
        return chim_seg_load_dir(dir, set, stderr);
    struct sigaction old[2];
    struct watch_run run = {0, 0};
    catch_stop(old);
    int rc = watch(dir, pid, window, h, set, &run);
    int sig = watch_stop;
    release_stop(old);
    *fit = run.points >= WATCH_MIN_POINTS;
    if (sig && *fit)
        fprintf(stderr, "chimcollect leaks: %s: window cut at %.1f s of %g s (%d points)\n",
                sig == SIGINT ? "SIGINT" : "SIGTERM", run.span_s, window, run.points);
    else if (sig)
        fprintf(stderr,
                "chimcollect leaks: %s: window cut at %.1f s of %g s, too short for a growth "
                "fit: growth is the agent's own history\n",
                sig == SIGINT ? "SIGINT" : "SIGTERM", run.span_s, window);
    return rc;
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
            if (watch_arg(optarg, &a->watch_s))
                return 2;
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
    int fit;
    rc = gather(dir, a.pid, a.watch_s, h, &set, &fit);
    if (rc == -ENOENT && !a.dir && !getenv("CHIM_DIR")) {
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
    struct chim_leaks *l = chim_leaks_build(&set, fit ? h : NULL, a.pid, &a.opts, err, sizeof err);
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
