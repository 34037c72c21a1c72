/*
 * cmd_run.c - `chimcollect run -- CMD ARGS`: runs CMD under the agent,
 * waits, prints the report of CMD and every process it started, and exits
 * with CMD's status.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commands.h"
#include "launch.h"
#include "leaks.h"
#include "report.h"
#include "report_out.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: chimcollect run [--dir D] [--mode count|sample|full]\n"
                 "                       [--allocator glibc|jemalloc] [--format text|json]\n"
                 "                       [--out FILE] [--quiet] -- CMD [ARGS...]\n\n"
                 "Runs CMD with the agent preloaded, waits for it, prints the report of CMD\n"
                 "and its descendants, and exits with CMD's exit status. --allocator jemalloc\n"
                 "preloads jemalloc underneath the agent.\n");
}

/* Keeps segments of `root` and its descendants started at or after t0. */
static void keep_tree(struct chim_seg_set *set, pid_t root, uint64_t t0)
{
    size_t n = 0;
    for (int changed = 1; changed;) {
        changed = 0;
        for (size_t i = n; i < set->n; i++) {
            const struct chim_shm_header *h = set->segs[i].hdr;
            int in = h->start_time_ns >= t0 && h->pid == (uint32_t)root;
            for (size_t j = 0; !in && j < n; j++)
                in = h->start_time_ns >= t0 && h->ppid == set->segs[j].hdr->pid;
            if (in) {
                struct chim_seg tmp = set->segs[n];
                set->segs[n++] = set->segs[i];
                set->segs[i] = tmp;
                changed = 1;
            }
        }
    }
    for (size_t i = n; i < set->n; i++)
        chim_seg_free(&set->segs[i]);
    set->n = n;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int report_tree(const char *dir, pid_t pid, uint64_t t0, const char *format, const char *out)
{
    struct chim_seg_set set;
    int rc = chim_seg_load_dir(dir, &set, stderr);
    if (rc) {
        fprintf(stderr, "chimcollect run: no segments in %s: %s\n", dir, strerror(-rc));
        return 2;
    }
    keep_tree(&set, pid, t0);
    cJSON *r = chim_report_build(&set, dir, 0);
    rc = chim_report_output(r, format, out, "chimcollect run");
    cJSON_Delete(r);
    /* Sample or full mode: the leak summary follows the report. */
    if (!out && !strcmp(format, "text")) {
        char err[256];
        struct chim_leak_opts lopts = {.top = 10, .suppress_file = getenv("CHIM_SUPPRESS")};
        struct chim_leaks *l = chim_leaks_build(&set, NULL, 0, &lopts, err, sizeof err);
        if (l && chim_leaks_nprocs(l)) {
            fprintf(stdout, "\nleaks (chimcollect leaks --dir %s for more):\n", dir);
            chim_leaks_text(l, stdout);
        }
        chim_leaks_free(l);
    }
    chim_seg_set_free(&set);
    return rc;
}

int chim_cmd_run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"dir", 1, 0, 'd'}, {"mode", 1, 0, 'm'},  {"allocator", 1, 0, 'a'}, {"format", 1, 0, 'f'},
        {"out", 1, 0, 'o'}, {"quiet", 0, 0, 'q'}, {"help", 0, 0, 'h'},      {0, 0, 0, 0}};
    struct chim_launch_opts lo = {0};
    const char *format = "text", *out = NULL;
    int quiet = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+d:m:a:f:o:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            lo.dir = optarg;
            break;
        case 'm':
            lo.mode = optarg;
            break;
        case 'a':
            lo.allocator = optarg;
            break;
        case 'f':
            format = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 'q':
            quiet = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "chimcollect run: no command given (chimcollect run -- CMD ARGS)\n");
        return 2;
    }
    const char *dir = lo.dir ? lo.dir : chim_default_dir();
    lo.dir = dir;
    char why[512];
    if (chim_dir_refused(dir, why, sizeof why)) /* the command runs; nothing is recorded */
        fprintf(stderr, "chimcollect run: warning: the agent will record nothing: %s\n", why);
    uint64_t t0 = now_ns();
    pid_t pid;
    /* Like system(): Ctrl-C goes to the command; we stay to report. */
    signal(SIGINT, SIG_IGN);
    signal(SIGQUIT, SIG_IGN);
    if (chim_launch(argv + optind, &lo, &pid, "chimcollect run") != 0)
        return 2;
    int status = chim_wait_status(pid);
    if (!quiet || out) {
        fflush(stdout);
        if (!out)
            fprintf(stdout, "\n");
        if (report_tree(dir, pid, t0, format, out) != 0 && status == 0)
            status = 2;
    }
    return status;
}
