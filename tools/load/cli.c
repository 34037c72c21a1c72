/*
 * cli.c - defaults, environment and command line of the load generator,
 * shared by chim-load and `chimcollect load`. Precedence: flags beat the
 * seed's PERF_* environment variables, which beat the seed's defaults
 * (60 s, 50 users, 10 requests/s per user). A malformed value is an error
 * that names the flag or variable.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chim_load.h"

void chim_load_opts_init(struct chim_load_opts *o)
{
    memset(o, 0, sizeof *o);
    o->target = "http://127.0.0.1:8001";
    o->scenario = "api";
    o->users = 50;
    o->rate = 10;
    o->duration_s = 60;
    o->repeat_share = 0.9;
    o->timeout_s = 10;
    o->seed = 1;
    o->payload_bytes = 512;
    o->progress = -1;
    o->prog = "chim-load";
}

static int num(const char *s, double lo, double hi, int integer, double *out)
{
    char *e;
    errno = 0;
    double v = strtod(s, &e);
    if (errno || e == s || *e || !(v >= lo && v <= hi) || (integer && v != (double)(long)v))
        return -1;
    *out = v;
    return 0;
}

/* One PERF_* variable, if set; 0 or -EINVAL. */
static int env_num(const char *name, double lo, double hi, int integer, double *out, char *err,
                   size_t errlen)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return 0;
    if (num(v, lo, hi, integer, out) == 0)
        return 0;
    snprintf(err, errlen, "%s: invalid value '%s' (expected %s %g..%g)", name, v,
             integer ? "an integer" : "a number", lo, hi);
    return -EINVAL;
}

int chim_load_opts_env(struct chim_load_opts *o, char *err, size_t errlen)
{
    double users = o->users;
    if (env_num("PERF_CONCURRENT_USERS", 1, 100000, 1, &users, err, errlen) ||
        env_num("PERF_REQUEST_RATE", 0.001, 1e6, 0, &o->rate, err, errlen) ||
        env_num("PERF_TEST_DURATION", 0.001, 86400, 0, &o->duration_s, err, errlen))
        return -EINVAL;
    o->users = (int)users;
    return 0;
}

static void usage(FILE *out, const char *prog)
{
    fprintf(out,
            "usage: %s [--target URL] [--scenario api|llm|health|transform]\n"
            "       [--users N] [--rate R] [--duration S] [--closed] [--repeat-share F]\n"
            "       [--timeout S] [--payload BYTES] [--seed N] [--format text|json]\n"
            "       [--progress|--no-progress]\n"
            "  Open-loop HTTP/1.1 load at users x rate req/s; latency is measured from\n"
            "  each request's scheduled send time (coordinated omission corrected).\n"
            "  --closed sends back to back instead (maximum throughput).\n"
            "  Defaults: http://127.0.0.1:8001, api, 50 users (PERF_CONCURRENT_USERS),\n"
            "  10 req/s per user (PERF_REQUEST_RATE), 60 s (PERF_TEST_DURATION),\n"
            "  repeat share 0.9, timeout 10 s, payload 512. Exit 0 when the run took\n"
            "  place, 2 on a usage error or when the target cannot be reached.\n",
            prog);
}

struct cli {
    int json;
};

/* Applies flag a with value v; 0, -1 bad value, -2 unknown flag. */
static int apply(struct chim_load_opts *o, struct cli *c, const char *a, const char *v)
{
    double d;
    if (!strcmp(a, "--target"))
        return o->target = v, 0;
    if (!strcmp(a, "--scenario"))
        return o->scenario = v, 0;
    if (!strcmp(a, "--format"))
        return !strcmp(v, "json") ? (c->json = 1, 0) : !strcmp(v, "text") ? (c->json = 0, 0) : -1;
    if (!strcmp(a, "--users"))
        return num(v, 1, 100000, 1, &d) ? -1 : (o->users = (int)d, 0);
    if (!strcmp(a, "--rate"))
        return num(v, 0.001, 1e6, 0, &o->rate);
    if (!strcmp(a, "--duration"))
        return num(v, 0.001, 86400, 0, &o->duration_s);
    if (!strcmp(a, "--repeat-share"))
        return num(v, 0, 1, 0, &o->repeat_share);
    if (!strcmp(a, "--timeout"))
        return num(v, 0.001, 3600, 0, &o->timeout_s);
    if (!strcmp(a, "--payload"))
        return num(v, 0, 65536, 1, &d) ? -1 : (o->payload_bytes = (int)d, 0);
    if (!strcmp(a, "--seed"))
        return num(v, 0, 1e15, 1, &d) ? -1 : (o->seed = (uint64_t)d, 0);
    return -2;
}

/* Parses argv (argv[0] is the program or verb); 0 run, 1 help, 2 error. */
static int parse(struct chim_load_opts *o, struct cli *c, int argc, char **argv, const char *prog)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help"))
            return 1;
        if (!strcmp(a, "--closed") || !strcmp(a, "--progress") || !strcmp(a, "--no-progress")) {
            if (a[2] == 'c')
                o->closed = 1;
            else
                o->progress = a[2] == 'p';
            continue;
        }
        int rc = i + 1 < argc ? apply(o, c, a, argv[i + 1]) : -2;
        if (rc == -2) {
            fprintf(stderr, "%s: unknown option or missing value: '%s' (try --help)\n", prog, a);
            return 2;
        }
        if (rc < 0) {
            fprintf(stderr, "%s: invalid value for %s: '%s'\n", prog, a, argv[i + 1]);
            return 2;
        }
        i++;
    }
    return 0;
}

int chim_load_main(int argc, char **argv, const char *prog)
{
    struct chim_load_opts o;
    struct cli c = {0};
    char err[256];
    chim_load_opts_init(&o);
    o.prog = prog;
    if (chim_load_opts_env(&o, err, sizeof err) < 0) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return 2;
    }
    int rc = parse(&o, &c, argc, argv, prog);
    if (rc) {
        if (rc == 1)
            usage(stdout, prog);
        return rc == 1 ? 0 : 2;
    }
    struct chim_load_result *r = malloc(sizeof *r);
    if (!r) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return 2;
    }
    if (chim_load_run(&o, r) < 0) {
        fprintf(stderr, "%s: %s\n", prog, r->error);
        free(r);
        return 2;
    }
    if (c.json)
        chim_load_print_json(r, stdout);
    else
        chim_load_print_text(r, stdout);
    free(r);
    return 0;
}
