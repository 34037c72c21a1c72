/*
 * cmd_export.c - `chimcollect export`: the metrics `serve` publishes, once,
 * for push-style pipelines (a cron job feeding a Pushgateway, an OTLP
 * collector's file receiver, a CI artifact). Same model and writers as
 * serve (metrics.h); the file is written under a temporary name and renamed,
 * so a reader never sees half of it.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "commands.h"
#include "metrics.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: chimcollect export [--format prometheus|openmetrics|otlp-json]\n"
               "                          [--out FILE] [--dir D] [--grace SECONDS]\n"
               "                          [--leak-top N] [--pid PID] [--check]\n"
               "  --check  verify buckets are cumulative, +Inf == _count and no series\n"
               "           repeats (text formats); exit 1 if not\n");
}

static int parse_format(const char *s, enum chim_metrics_format *f)
{
    if (!strcmp(s, "prometheus"))
        *f = CHIM_METRICS_PROMETHEUS;
    else if (!strcmp(s, "openmetrics"))
        *f = CHIM_METRICS_OPENMETRICS;
    else if (!strcmp(s, "otlp-json") || !strcmp(s, "otlp"))
        *f = CHIM_METRICS_OTLP_JSON;
    else
        return -EINVAL;
    return 0;
}

/* Writes buf to path via path.tmp + rename, or to stdout for NULL/"-". */
static int emit(const char *path, const char *buf, size_t len)
{
    if (!path || !strcmp(path, "-"))
        return fwrite(buf, 1, len, stdout) == len ? 0 : -EIO;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -errno;
    int rc = fwrite(buf, 1, len, f) == len ? 0 : -EIO;
    if (fclose(f) != 0 && !rc)
        rc = -errno;
    if (!rc && rename(tmp, path) != 0)
        rc = -errno;
    if (rc)
        unlink(tmp);
    return rc;
}

struct export_args {
    enum chim_metrics_format fmt;
    const char *out, *dir;
    int check;
    struct chim_metrics_opts mo;
};

static int parse(int argc, char **argv, struct export_args *a)
{
    static const struct option opts[] = {{"format", required_argument, 0, 'f'},
                                         {"out", required_argument, 0, 'o'},
                                         {"dir", required_argument, 0, 'd'},
                                         {"grace", required_argument, 0, 'g'},
                                         {"leak-top", required_argument, 0, 'l'},
                                         {"pid", required_argument, 0, 'p'},
                                         {"check", no_argument, 0, 'c'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "f:o:d:h", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            if (parse_format(optarg, &a->fmt)) {
                fprintf(stderr, "chimcollect export: unknown format '%s'\n", optarg);
                return 2;
            }
            break;
        case 'o':
            a->out = optarg;
            break;
        case 'd':
            a->dir = optarg;
            break;
        case 'g':
            a->mo.grace_s = atof(optarg);
            break;
        case 'l':
            if (chim_arg_int("chimcollect export", "leak-top", "a number of sites", optarg, 0,
                             100000, &a->mo.leak_top))
                return 2;
            break;
        case 'p':
            if (chim_arg_pid("chimcollect export", optarg, &a->mo.pid))
                return 2;
            break;
        case 'c':
            a->check = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return 2;
    }
    return -1;
}

int chim_cmd_export(int argc, char **argv)
{
    struct export_args a = {CHIM_METRICS_PROMETHEUS, NULL, NULL, 0, {0}};
    chim_metrics_opts_init(&a.mo);
    int rc = parse(argc, argv, &a);
    if (rc >= 0)
        return rc;
    struct chim_seg_set set;
    const char *dir = a.dir ? a.dir : chim_default_dir();
    size_t long_gone = 0;
    if ((rc = chim_metrics_load_dir(dir, &a.mo, &set, &long_gone, stderr)) != 0) {
        fprintf(stderr, "chimcollect export: cannot read %s: %s\n", dir, strerror(-rc));
        return 2;
    }
    struct chim_metrics *m = chim_metrics_build(&set, &a.mo);
    chim_seg_set_free(&set);
    if (m)
        m->expired += long_gone;
    char *buf = NULL;
    size_t len = 0;
    FILE *mf = m ? open_memstream(&buf, &len) : NULL;
    rc = mf ? chim_metrics_write(m, a.fmt, mf) : -ENOMEM;
    if (mf && fclose(mf) != 0 && !rc)
        rc = -EIO;
    chim_metrics_free(m);
    char why[512];
    int bad = !rc && a.check && a.fmt != CHIM_METRICS_OTLP_JSON &&
              chim_metrics_check_text(buf, why, sizeof why);
    if (!rc)
        rc = emit(a.out, buf, len);
    free(buf);
    if (rc) {
        fprintf(stderr, "chimcollect export: %s: %s\n", a.out ? a.out : "stdout", strerror(-rc));
        return 2;
    }
    if (bad)
        fprintf(stderr, "chimcollect export: check failed: %s\n", why);
    return bad ? 1 : 0;
}
